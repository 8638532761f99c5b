//! A torn audit log (an append cut short by a full disk or a crash) does
//! not stop scrim: the next command that appends keeps the torn bytes
//! beside the log, records the recovery in the chain and goes on, and
//! `scrim audit verify` says what happened. A broken line anywhere but
//! the end is still an error, by its line counted from 1.
use std::io::Write as _;

use crate::archive_commands::{Fixture, scrim};

#[test]
fn a_torn_audit_log_is_recovered_by_the_next_command_and_verify_reports_it() {
    // Two partitions past retention, two of the subject's rows within it.
    let fixture = Fixture::new(&[45 * 24, 2], 2);
    let log = fixture.audit_log();
    let to = fixture.directory.path().join("subject.jsonl");
    let (ok, said) = fixture.archive("export", &["--to", to.to_str().expect("utf-8")]);
    assert!(ok, "{said}");
    // An entry cut short mid-write: half of a real one, no newline.
    let line = std::fs::read(&log).expect("log");
    let torn = &line[..line.len() / 2];
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open")
        .write_all(torn)
        .expect("tear");

    // Before any append, verify names the torn tail, on line 2.
    let (ok, said) = scrim(&["audit", "verify", log.to_str().expect("utf-8")]);
    assert!(!ok, "{said}");
    assert!(said.contains("line 2: a torn last entry"), "{said}");

    // Retention appends: it recovers the tail, says so once, and acts.
    let (ok, said) = fixture.archive("retention", &[]);
    assert!(ok, "{said}");
    assert_eq!(said.matches("removed ").count(), 1, "{said}");
    assert_eq!(said.matches("torn entry").count(), 1, "{said}");
    let kept: Vec<_> = std::fs::read_dir(&fixture.state)
        .expect("state")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.to_string_lossy().contains("audit.jsonl.torn-1-"))
        .collect();
    assert_eq!(kept.len(), 1, "{said}");
    assert_eq!(std::fs::read(&kept[0]).expect("kept"), torn);

    // Erase carries the chain on, with nothing more to recover.
    let (ok, said) = fixture.archive("erase", &[]);
    assert!(ok && !said.contains("torn"), "{said}");

    let (ok, said) = scrim(&["audit", "verify", log.to_str().expect("utf-8")]);
    assert!(ok, "{said}");
    assert!(said.contains("4 entries, chain intact"), "{said}");
    assert!(
        said.contains(&format!(
            "{} bytes of a torn entry were recovered at line 2 and kept in {}",
            torn.len(),
            kept[0].display()
        )),
        "{said}"
    );

    // A broken line in the middle is not a torn tail: verify names it, and
    // appends refuse rather than move anything.
    let text = std::fs::read_to_string(&log).expect("log");
    let mut lines: Vec<&str> = text.lines().collect();
    lines[2] = "{\"seq\":2,";
    std::fs::write(&log, lines.join("\n") + "\n").expect("break");
    let (ok, said) = scrim(&["audit", "verify", log.to_str().expect("utf-8")]);
    assert!(!ok && said.contains("line 3: not an audit entry"), "{said}");
    std::fs::write(&log, lines[..3].join("\n") + "\n{\"seq").expect("break the end too");
    let (ok, said) = fixture.archive("erase", &[]);
    assert!(!ok && said.contains("line 3:"), "{said}");
}
