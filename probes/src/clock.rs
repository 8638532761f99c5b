//! Converts the kernel's boot clock (what `bpf_ktime_get_boot_ns` reads) to
//! Unix time. The boot clock keeps counting through suspend, so an offset
//! taken once stays right until the wall clock itself is stepped.
use scrim_event::UnixNanos;

/// `CLOCK_REALTIME - CLOCK_BOOTTIME`, measured once.
#[derive(Clone, Copy, Debug)]
pub struct BootClock {
    boot_to_unix_ns: i64,
}

impl BootClock {
    pub fn now() -> Self {
        let boot_before = read_clock(libc::CLOCK_BOOTTIME);
        let unix = read_clock(libc::CLOCK_REALTIME);
        let boot_after = read_clock(libc::CLOCK_BOOTTIME);
        // Midpoint of the two boot readings brackets the realtime one.
        let boot = boot_before + (boot_after - boot_before) / 2;
        BootClock {
            boot_to_unix_ns: unix - boot,
        }
    }

    pub fn to_unix(self, boot_time_ns: u64) -> UnixNanos {
        self.boot_to_unix_ns.saturating_add(boot_time_ns as i64)
    }
}

fn read_clock(clock: libc::clockid_t) -> i64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; both clocks exist on every
    // Linux kernel scrim supports, so the call cannot fail.
    unsafe { libc::clock_gettime(clock, &mut now) };
    now.tv_sec * 1_000_000_000 + now.tv_nsec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_the_current_boot_time_to_about_now() {
        let clock = BootClock::now();
        let unix_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_nanos() as i64;
        let converted = clock.to_unix(read_clock(libc::CLOCK_BOOTTIME) as u64);
        assert!(
            (converted - unix_now).abs() < 1_000_000_000,
            "{converted} vs {unix_now}"
        );
    }
}
