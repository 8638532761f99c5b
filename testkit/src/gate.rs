//! Tests that need eBPF run for real when [`REQUIRE_EBPF`] is set (CI sets
//! it): there, a probe that fails to load fails the test. Without it (a
//! laptop without root), such tests skip and say why.
use std::fmt::Display;

/// Set to `1` to make every eBPF test mandatory.
pub const REQUIRE_EBPF: &str = "SCRIM_REQUIRE_EBPF";

pub fn ebpf_required() -> bool {
    std::env::var(REQUIRE_EBPF).is_ok_and(|value| value == "1" || value == "true")
}

/// Unwraps `result`, or decides the test cannot run here: that is a failure
/// when eBPF is required and a printed skip otherwise.
pub fn or_skip<T, E: Display>(test: &str, result: Result<T, E>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) if ebpf_required() => {
            panic!("{test}: {REQUIRE_EBPF} is set, so this must run, but: {error}")
        }
        Err(error) => {
            eprintln!("skipping {test}: {error} (set {REQUIRE_EBPF}=1 to make this a failure)");
            None
        }
    }
}

/// Whether the test may go on: root is needed for probes and cgroups.
pub fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let is_root = unsafe { libc::geteuid() } == 0;
    or_skip(
        test,
        if is_root {
            Ok(())
        } else {
            Err("not running as root")
        },
    )
    .is_some()
}
