//! What ships in `deploy/` for running scrim elsewhere, checked by the
//! tools that run it.
use std::process::Command;

use scrim_testkit::archive::program_or_skip;

const SCRIM: &str = env!("CARGO_BIN_EXE_scrim");
const UNIT: &str = include_str!("../../deploy/systemd/scrim.service");

#[test]
fn the_systemd_unit_verifies_and_bounds_scrims_capabilities() {
    let test = "the_systemd_unit_verifies_and_bounds_scrims_capabilities";
    // What scrim keeps after start must be within the unit's bounding set.
    let bounding = UNIT
        .lines()
        .find_map(|line| line.strip_prefix("CapabilityBoundingSet="))
        .expect("a capability bounding set");
    for kept in ["CAP_BPF", "CAP_PERFMON", "CAP_CHOWN"] {
        assert!(bounding.split_whitespace().any(|cap| cap == kept), "{kept}");
    }
    assert!(UNIT.contains("\nProtectSystem=strict\n"));
    // Every flag the unit gives `scrim run` is one it takes.
    let exec = UNIT
        .lines()
        .find_map(|line| line.strip_prefix("ExecStart=/usr/local/bin/scrim run "))
        .expect("ExecStart runs scrim run");
    let help = Command::new(SCRIM)
        .args(["run", "--help"])
        .output()
        .expect("scrim run --help");
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in exec
        .split_whitespace()
        .filter(|word| word.starts_with("--"))
    {
        assert!(help.contains(flag), "scrim run has no {flag}");
    }
    if !program_or_skip(test, "systemd-analyze") {
        return;
    }
    // systemd-analyze checks that the command exists: point it at this build.
    let directory = tempfile::tempdir().expect("tempdir");
    let unit = directory.path().join("scrim.service");
    std::fs::write(&unit, UNIT.replace("/usr/local/bin/scrim", SCRIM)).expect("unit");
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("run systemd-analyze");
    let said = String::from_utf8_lossy(&verified.stderr);
    assert!(verified.status.success(), "{said}");
    assert!(said.trim().is_empty(), "warnings: {said}");
}
