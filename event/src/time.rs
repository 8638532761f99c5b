//! UTC calendar arithmetic for [`UnixNanos`]: archive partitions and JSON
//! timestamps need dates, and this is all of the calendar scrim needs.
use crate::UnixNanos;

/// A UTC date and time of day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcDateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanosecond: u32,
}

impl UtcDateTime {
    pub fn from_unix_nanos(time: UnixNanos) -> Self {
        let seconds = time.div_euclid(1_000_000_000);
        let nanosecond = time.rem_euclid(1_000_000_000) as u32;
        let days = seconds.div_euclid(86_400);
        let second_of_day = seconds.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        UtcDateTime {
            year,
            month,
            day,
            hour: second_of_day / 3600,
            minute: second_of_day / 60 % 60,
            second: second_of_day % 60,
            nanosecond,
        }
    }

    /// `2026-11-25`
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `2026-11-25T18:59:29.123456789Z`. Written digit by digit into one
    /// exact allocation: every JSON row and every span attribute of a
    /// timestamp goes through here.
    pub fn rfc3339(&self) -> String {
        let Ok(year) = u32::try_from(self.year) else {
            return self.rfc3339_formatted();
        };
        if year > 9999 {
            return self.rfc3339_formatted();
        }
        let mut text = *b"0000-00-00T00:00:00.000000000Z";
        for (at, width, value) in [
            (0, 4, year),
            (5, 2, self.month),
            (8, 2, self.day),
            (11, 2, self.hour),
            (14, 2, self.minute),
            (17, 2, self.second),
            (20, 9, self.nanosecond),
        ] {
            let mut value = value;
            for digit in text[at..at + width].iter_mut().rev() {
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        text.iter().map(|&byte| char::from(byte)).collect()
    }

    /// [`Self::rfc3339`] for years outside 0..=9999.
    fn rfc3339_formatted(&self) -> String {
        format!(
            "{}T{:02}:{:02}:{:02}.{:09}Z",
            self.date(),
            self.hour,
            self.minute,
            self.second,
            self.nanosecond
        )
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after
/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // epoch moved to 0000-03-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // March = 0
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(
            UtcDateTime::from_unix_nanos(0).rfc3339(),
            "1970-01-01T00:00:00.000000000Z"
        );
        // 2024-02-29T23:59:59.5Z, a leap day.
        let leap = UtcDateTime::from_unix_nanos(1_709_251_199_500_000_000);
        assert_eq!(leap.rfc3339(), "2024-02-29T23:59:59.500000000Z");
        // 2026-11-25T18:59:29Z
        let now = UtcDateTime::from_unix_nanos(1_795_633_169_000_000_000);
        assert_eq!((now.date().as_str(), now.hour), ("2026-11-25", 18));
        // Before the epoch.
        assert_eq!(
            UtcDateTime::from_unix_nanos(-1).rfc3339(),
            "1969-12-31T23:59:59.999999999Z"
        );
    }

    #[test]
    fn writes_digits_as_formatting_would() {
        // Every field at several values, and years outside four digits.
        let mut time: i64 = -5_000_000_000_000_000_000;
        while time < 9_000_000_000_000_000_000 {
            let civil = UtcDateTime::from_unix_nanos(time);
            assert_eq!(civil.rfc3339(), civil.rfc3339_formatted(), "{time}");
            time = time.saturating_add(98_765_432_123_456_789);
        }
        let far = UtcDateTime {
            year: 12_345,
            ..UtcDateTime::from_unix_nanos(0)
        };
        assert_eq!(far.rfc3339(), "12345-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn agrees_with_day_by_day_counting_for_sixty_years() {
        let mut expected = (1970i64, 1u32, 1u32);
        for days in 0..(60 * 366) {
            assert_eq!(civil_from_days(days), expected, "day {days}");
            let (year, month, day) = expected;
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            let month_length = match month {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            expected = if day < month_length {
                (year, month, day + 1)
            } else if month < 12 {
                (year, month + 1, 1)
            } else {
                (year + 1, 1, 1)
            };
        }
    }
}
