//! Time coarsening: an event's minute (or hour, or day) instead of its
//! nanosecond, which is often enough to single a person out.

/// `unix_nanos` rounded down to a multiple of `granularity_nanos` (counted
/// from the Unix epoch, so a day starts at midnight UTC). A granularity of
/// zero or less leaves the time as it is.
pub fn coarsen(unix_nanos: i64, granularity_nanos: i64) -> i64 {
    if granularity_nanos <= 0 {
        return unix_nanos;
    }
    unix_nanos - unix_nanos.rem_euclid(granularity_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000_000_000;

    #[test]
    fn rounds_down_to_the_granularity() {
        assert_eq!(coarsen(MINUTE * 5 + 123, MINUTE), MINUTE * 5);
        assert_eq!(coarsen(MINUTE * 5, MINUTE), MINUTE * 5);
        assert_eq!(coarsen(-1, MINUTE), -MINUTE);
        assert_eq!(coarsen(42, 0), 42);
    }
}
