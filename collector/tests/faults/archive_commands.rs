//! `scrim archive export`, `erase` and `retention` are all or nothing per
//! file and tolerant per tenant: a corrupt or empty file, a symlink or a
//! directory that is not a partition is skipped and named, the rest is
//! done, and the command exits non-zero; `export --to` never leaves a
//! partial file; an unprivileged user who can write a partition cannot
//! make root's erase write or read outside it; nothing is done that the
//! audit log cannot record.
use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Command,
};

use scrim_event::fixture::{FixtureValue, event_from_fields};
use scrim_sinks::{Archive, ArchiveOptions, Format};
use scrim_testkit::archive::{files_with_suffix, parquet_rows};

use crate::common::SCRIM;

const HOUR: i64 = 3_600_000_000_000;
/// The uid whose rows are asked for, and the one whose rows stay.
pub const SUBJECT: i64 = 1000;
const OTHER: i64 = 1001;

/// A policy, `acme`'s Parquet archive and a state directory, in a fresh
/// directory.
pub struct Fixture {
    pub directory: tempfile::TempDir,
    pub policy: PathBuf,
    pub archive: PathBuf,
    pub state: PathBuf,
}

impl Fixture {
    /// `rows` exits of uid 1000 and `rows` of uid 1001 at each age (in
    /// hours), written through `acme`'s record plan as `scrim run` writes
    /// them: one file per hour partition. Retention is 30 days.
    pub fn new(ages_in_hours: &[i64], rows: usize) -> Self {
        let directory = tempfile::tempdir().expect("tempdir");
        let archive = directory.path().join("archive");
        let policy = directory.path().join("policy.toml");
        std::fs::write(
            &policy,
            format!(
                r#"version = 1
[[tenant]]
name = "acme"
purpose = "testing archive commands under faults"
legal_basis = "legitimate_interests"
match = {{ cgroup_path = ["/acme/**"] }}
capture = ["process"]
retention = {{ process = "30d" }}
sinks = [{{ parquet = {{ path = "{}" }} }}]
[tenant.fields]
"time" = "keep"
"event.name" = "keep"
"process.pid" = "keep"
"process.real_user.id" = "keep"
"#,
                archive.display()
            ),
        )
        .expect("policy");
        let fixture = Fixture {
            state: directory.path().join("state"),
            directory,
            policy,
            archive,
        };
        fixture.write(&fixture.archive, ages_in_hours, rows);
        fixture
    }

    /// Writes rows as [`Fixture::new`] does, under `root`.
    pub fn write(&self, root: &Path, ages_in_hours: &[i64], rows: usize) {
        let compiled = scrim_policies::compile(&self.policy).expect("valid policy");
        let mut plan = compiled.record_plans().remove(0);
        let mut sink = Archive::create(ArchiveOptions::new(root, Format::Parquet)).expect("sink");
        for age in ages_in_hours {
            for row in 0..rows {
                for uid in [SUBJECT, OTHER] {
                    let event = event_from_fields(
                        "process.exit",
                        [
                            ("time", FixtureValue::Int(now() - age * HOUR)),
                            ("process.pid", FixtureValue::Int(10_000 + row as i64)),
                            ("process.real_user.id", FixtureValue::Int(uid)),
                        ],
                    )
                    .expect("event");
                    let mut record = plan.apply(&event).expect("a record");
                    sink.write("acme", &mut record).expect("write");
                }
            }
        }
        let (_, closed) = sink.close();
        closed.expect("close");
    }

    /// The archive's Parquet files, in path order (so in time order).
    pub fn files(&self) -> Vec<PathBuf> {
        files_with_suffix(&self.archive, ".parquet").expect("list")
    }

    /// `scrim archive <command>` on this fixture, with `extra` arguments.
    pub fn archive(&self, command: &str, extra: &[&str]) -> (bool, String) {
        let mut args = vec![
            "archive",
            command,
            "--policy",
            self.policy.to_str().expect("utf-8"),
            "--state-dir",
            self.state.to_str().expect("utf-8"),
        ];
        if command != "retention" {
            args.extend([
                "--tenant",
                "acme",
                "--subject",
                "uid=1000",
                "--reference",
                "DSR-2026-0042",
            ]);
        }
        args.extend(extra);
        scrim(&args)
    }

    pub fn audit_log(&self) -> PathBuf {
        self.state.join("audit.jsonl")
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as i64
}

/// Runs scrim; whether it succeeded, and its stdout and stderr.
pub fn scrim(args: &[&str]) -> (bool, String) {
    let output = Command::new(SCRIM).args(args).output().expect("run scrim");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// The uids of every row of `root`'s Parquet files.
fn uids(root: &Path) -> Vec<String> {
    parquet_rows(root)
        .expect("rows")
        .into_iter()
        .map(|row| row["process.real_user.id"].clone())
        .collect()
}

/// The bytes of each of `files`.
fn contents_of(files: &[PathBuf]) -> Vec<Vec<u8>> {
    files
        .iter()
        .map(|file| std::fs::read(file).expect("read"))
        .collect()
}

/// Lines of a JSON-lines export.
fn exported_rows(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("export")
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect()
}

#[test]
fn a_corrupt_or_empty_file_is_named_and_skipped_and_the_rest_of_the_tenant_is_done() {
    // Three hour partitions, two rows of each uid in each.
    let fixture = Fixture::new(&[50, 26, 2], 2);
    let files = fixture.files();
    assert_eq!(files.len(), 3);
    // The middle file corrupt; an empty file in the last partition; a
    // directory named like a Parquet file; a directory that is no hour.
    let corrupt = &files[1];
    std::fs::write(corrupt, b"PAR1 this is not Parquet PAR1").expect("corrupt");
    let empty = files[2].with_file_name("part-empty.parquet");
    std::fs::write(&empty, b"").expect("empty");
    let directory = files[2].with_file_name("part-dir.parquet");
    std::fs::create_dir(&directory).expect("directory");
    let no_hour = files[2]
        .parent()
        .and_then(Path::parent)
        .expect("date")
        .join("hour=99");
    std::fs::create_dir(&no_hour).expect("bad hour");

    // Export: the rows of the two good files, the bad ones named, exit 1.
    let to = fixture.directory.path().join("subject.jsonl");
    let (ok, said) = fixture.archive("export", &["--to", to.to_str().expect("utf-8")]);
    assert!(!ok, "an export that skipped files exited 0: {said}");
    for named in [corrupt, &empty, &directory, &no_hour] {
        assert!(
            said.contains(&format!("skipped {}", named.display())),
            "{} not named: {said}",
            named.display()
        );
    }
    let rows = exported_rows(&to);
    assert_eq!(rows.len(), 4, "{said}");
    assert!(
        rows.iter()
            .all(|row| row["process.real_user.id"] == SUBJECT)
    );

    // Erase: the subject's rows go from both good files; the corrupt one is
    // left as it was.
    let corrupt_before = std::fs::read(corrupt).expect("read");
    let (ok, said) = fixture.archive("erase", &[]);
    assert!(!ok, "an erase that skipped files exited 0: {said}");
    assert!(said.contains("erased 4 rows"), "{said}");
    assert!(
        said.contains(&format!("skipped {}", corrupt.display())),
        "{said}"
    );
    assert_eq!(std::fs::read(corrupt).expect("read"), corrupt_before);
    std::fs::remove_file(corrupt).expect("the corrupt file, before reading the rest");
    std::fs::remove_file(&empty).expect("the empty file");
    std::fs::remove_dir(&directory).expect("the directory");
    assert_eq!(uids(&fixture.archive), vec![OTHER.to_string(); 4]);

    // Both are in the audit log, with what they skipped.
    let (ok, said) = scrim(&[
        "audit",
        "verify",
        fixture.audit_log().to_str().expect("utf-8"),
    ]);
    assert!(ok && said.contains("2 entries, chain intact"), "{said}");
}

#[test]
fn retention_skips_and_names_what_is_not_a_partition_and_removes_the_rest() {
    let fixture = Fixture::new(&[45 * 24, 40 * 24, 2], 1);
    let files = fixture.files();
    let kind = fixture.archive.join("tenant=acme/kind=process");
    // A date that is none, an hour that is none, a partition that is a
    // symlink (to a directory of old-looking files elsewhere).
    let elsewhere = fixture.directory.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("elsewhere");
    std::fs::write(elsewhere.join("keep-me.parquet"), b"not the archive's").expect("file");
    let bad_date = kind.join("date=2020-13-45/hour=00");
    std::fs::create_dir_all(&bad_date).expect("bad date");
    let bad_hour = kind.join("date=2020-01-01/hour=24");
    std::fs::create_dir_all(&bad_hour).expect("bad hour");
    let linked = kind.join("date=2020-01-01/hour=03");
    std::os::unix::fs::symlink(&elsewhere, &linked).expect("link");

    let (ok, said) = fixture.archive("retention", &[]);
    assert!(!ok, "a retention that skipped partitions exited 0: {said}");
    assert_eq!(said.matches("removed ").count(), 2, "{said}");
    for named in [bad_date.parent().expect("date"), &bad_hour, &linked] {
        assert!(
            said.contains(&format!("skipped {}", named.display())),
            "{} not named: {said}",
            named.display()
        );
    }
    assert!(!files[0].exists() && !files[1].exists());
    assert!(files[2].exists(), "within retention");
    assert_eq!(
        std::fs::read(elsewhere.join("keep-me.parquet")).expect("elsewhere"),
        b"not the archive's"
    );
    let (ok, said) = scrim(&[
        "audit",
        "verify",
        fixture.audit_log().to_str().expect("utf-8"),
    ]);
    assert!(ok && said.contains("2 entries, chain intact"), "{said}");
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped.
struct SmallDisk {
    directory: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let directory = tempfile::tempdir().expect("tempdir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(directory.path())
            .status()
            .is_ok_and(|status| status.success());
        mounted.then_some(SmallDisk { directory })
    }

    fn path(&self) -> &Path {
        self.directory.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.directory.path()).status();
    }
}

#[test]
fn an_export_cut_short_by_a_full_disk_leaves_no_partial_file_and_the_old_one_whole() {
    let test = "an_export_cut_short_by_a_full_disk_leaves_no_partial_file_and_the_old_one_whole";
    if !scrim_testkit::gate::root_or_skip(test) {
        return;
    }
    let Some(disk) = SmallDisk::mount("64k") else {
        eprintln!("{test}: skipped: cannot mount a tmpfs here");
        return;
    };
    // About 300 KB of the subject's rows as JSON: more than the disk holds.
    let fixture = Fixture::new(&[3, 2, 1], 1000);
    let to = disk.path().join("subject.jsonl");
    std::fs::write(&to, b"the previous export\n").expect("previous export");
    let (ok, said) = fixture.archive("export", &["--to", to.to_str().expect("utf-8")]);
    assert!(!ok, "an export to a full disk exited 0: {said}");
    assert_eq!(
        std::fs::read(&to).expect("the previous export"),
        b"the previous export\n",
        "{said}"
    );
    let left: Vec<String> = std::fs::read_dir(disk.path())
        .expect("list")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(left, ["subject.jsonl"], "a temporary file was left: {said}");
    // What did not happen is not recorded.
    let (ok, said) = scrim(&[
        "audit",
        "verify",
        fixture.audit_log().to_str().expect("utf-8"),
    ]);
    assert!(ok && said.contains("0 entries"), "{said}");
}

/// Runs `argv` as `nobody`.
fn as_nobody(argv: &[&str]) {
    let status = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(argv)
        .status()
        .expect("setpriv");
    assert!(status.success(), "as nobody: {argv:?}");
}

fn private_copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).expect("copy");
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

#[test]
fn an_unprivileged_user_who_can_write_a_partition_cannot_make_erase_touch_other_files() {
    let test = "an_unprivileged_user_who_can_write_a_partition_cannot_make_erase_touch_other_files";
    if !scrim_testkit::gate::root_or_skip(test) {
        return;
    }
    let fixture = Fixture::new(&[50, 26, 2], 2);
    let files = fixture.files();
    // Root's private files: a text file, a Parquet file holding the
    // subject's rows, and a directory of such files.
    let private = fixture.directory.path().join("private");
    std::fs::create_dir(&private).expect("private");
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let victim = private.join("victim");
    std::fs::write(&victim, b"precious").expect("victim");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let victim_parquet = private.join("victim.parquet");
    private_copy(&files[2], &victim_parquet);
    let victim_directory = private.join("hour");
    std::fs::create_dir(&victim_directory).expect("victim directory");
    let victim_in_directory = victim_directory.join("part-9.parquet");
    private_copy(&files[2], &victim_in_directory);
    let before = |path: &Path| std::fs::read(path).expect("read");
    let (parquet_before, in_directory_before) =
        (before(&victim_parquet), before(&victim_in_directory));

    // nobody may write every partition directory of the tenant (as a
    // careless group or mode would let them), and reach them.
    let mut open = fixture.directory.path().to_path_buf();
    for part in ["archive", "tenant=acme", "kind=process"] {
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        open.push(part);
    }
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for file in &files {
        let hour = file.parent().expect("hour");
        let date = hour.parent().expect("date");
        for directory in [date, hour] {
            std::fs::set_permissions(directory, std::fs::Permissions::from_mode(0o777))
                .expect("chmod");
        }
    }

    // Partition 1: a symlink at every name erase ever used for its
    // temporary file (the old, predictable one; the new ones are random).
    let name = files[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let planted = files[0].with_file_name(format!(".{name}.erasing.tmp"));
    as_nobody(&[
        "ln",
        "-s",
        victim.to_str().expect("utf-8"),
        planted.to_str().expect("utf-8"),
    ]);
    // Partition 2: the Parquet file itself replaced by a symlink to root's.
    as_nobody(&["rm", "-f", files[1].to_str().expect("utf-8")]);
    as_nobody(&[
        "ln",
        "-s",
        victim_parquet.to_str().expect("utf-8"),
        files[1].to_str().expect("utf-8"),
    ]);
    // A partition directory that is a symlink to root's directory.
    let hour = files[2].parent().expect("hour");
    let other_hour = if hour.ends_with("hour=23") {
        "hour=22"
    } else {
        "hour=23"
    };
    let linked_hour = hour.parent().expect("date").join(other_hour);
    as_nobody(&[
        "ln",
        "-s",
        victim_directory.to_str().expect("utf-8"),
        linked_hour.to_str().expect("utf-8"),
    ]);

    let (ok, said) = fixture.archive("erase", &[]);
    assert_eq!(
        std::fs::read(&victim).expect("victim"),
        b"precious",
        "{said}"
    );
    assert_eq!(before(&victim_parquet), parquet_before, "{said}");
    assert_eq!(before(&victim_in_directory), in_directory_before, "{said}");
    assert!(!ok, "an erase that skipped symlinks exited 0: {said}");
    assert!(
        said.contains(&format!("skipped {}", files[1].display())),
        "{said}"
    );
    assert!(
        said.contains(&format!("skipped {}", linked_hour.display())),
        "{said}"
    );
    // The symlinks are still symlinks: nothing read through them was
    // written into the partition.
    for link in [&planted, &files[1], &linked_hour] {
        assert!(
            std::fs::symlink_metadata(link)
                .expect("link")
                .file_type()
                .is_symlink(),
            "{} replaced: {said}",
            link.display()
        );
    }
    // The real files were erased, and their rewrites are root's, 0640.
    for file in [&files[0], &files[2]] {
        assert_eq!(
            uids(file.parent().expect("hour")),
            vec![OTHER.to_string(); 2]
        );
        let mode = std::fs::metadata(file).expect("file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "{}", file.display());
    }
}

#[test]
fn an_audit_log_that_cannot_be_appended_stops_export_erase_and_retention_before_they_act() {
    let fixture = Fixture::new(&[45 * 24, 2], 2);
    let files = fixture.files();
    let contents = |files: &[PathBuf]| -> Vec<Vec<u8>> {
        files
            .iter()
            .map(|file| std::fs::read(file).expect("read"))
            .collect()
    };
    let before = contents(&files);
    let victim = fixture.directory.path().join("victim");
    std::fs::write(&victim, b"precious").expect("victim");
    let to = fixture.directory.path().join("subject.jsonl");

    // The log a symlink (to a file of root's); then a state directory that
    // is a file, so the log's directory cannot be made.
    std::fs::create_dir(&fixture.state).expect("state");
    std::os::unix::fs::symlink(&victim, fixture.audit_log()).expect("link");
    for case in ["a symlinked log", "a state directory that is a file"] {
        if case == "a state directory that is a file" {
            std::fs::remove_file(fixture.audit_log()).expect("unlink");
            std::fs::remove_dir(&fixture.state).expect("rmdir");
            std::fs::write(&fixture.state, b"").expect("a file");
        }
        for (command, extra) in [
            ("export", vec!["--to", to.to_str().expect("utf-8")]),
            ("erase", vec![]),
            ("retention", vec![]),
        ] {
            let (ok, said) = fixture.archive(command, &extra);
            assert_eq!(contents(&files), before, "{case}: {command} acted: {said}");
            assert!(!to.exists(), "{case}: {command} exported: {said}");
            assert_eq!(
                std::fs::read(&victim).expect("victim"),
                b"precious",
                "{case}: {command} wrote through the symlink: {said}"
            );
            assert!(!ok, "{case}: {command} exited 0: {said}");
            assert!(said.contains("audit log"), "{case}: {command}: {said}");
        }
    }
}

#[test]
fn a_collector_that_holds_the_state_directory_and_does_not_answer_makes_export_and_erase_refuse() {
    let fixture = Fixture::new(&[2], 2);
    let files = fixture.files();
    let before = contents_of(&files);
    std::fs::create_dir(&fixture.state).expect("state");
    std::fs::set_permissions(&fixture.state, std::fs::Permissions::from_mode(0o700))
        .expect("private");
    // A collector of its own (an older scrim, or one that hangs): it holds
    // the lock, and what listened on the socket is gone.
    let lock = fixture.state.join("lock");
    std::fs::write(&lock, "4242\n").expect("lock file");
    // --close: the lock is flock's own, not its child's, and goes with it.
    let mut holder = Command::new("flock")
        .args(["--exclusive", "--close"])
        .arg(&lock)
        .args(["sleep", "30"])
        .spawn()
        .expect("flock");
    let socket = fixture.state.join("control.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("a socket nobody serves"));
    // Until flock holds the lock, scrim would take it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while Command::new("flock")
        .args(["--exclusive", "--nonblock"])
        .arg(&lock)
        .arg("true")
        .status()
        .expect("flock")
        .success()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "flock never held the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let to = fixture.directory.path().join("subject.jsonl");
    for (command, extra) in [
        ("erase", vec![]),
        ("export", vec!["--to", to.to_str().expect("utf-8")]),
    ] {
        let (ok, said) = fixture.archive(command, &extra);
        assert!(!ok, "{command}: {said}");
        assert!(
            said.contains("a collector (pid 4242) runs on")
                && said.contains("does not answer on its control socket"),
            "{command}: {said}"
        );
        assert!(!to.exists(), "{command}");
    }
    let after = contents_of(&files);
    assert_eq!(after, before, "nothing erased");
    let log = std::fs::read_to_string(fixture.audit_log()).unwrap_or_default();
    assert!(!log.contains("archive."), "nothing recorded as done: {log}");

    // Once it is gone, the erasure goes ahead.
    holder.kill().expect("kill");
    holder.wait().expect("wait");
    let (ok, said) = fixture.archive("erase", &[]);
    assert!(ok, "{said}");
    assert!(said.contains("erased 2 rows"), "{said}");
}

#[test]
fn with_no_collector_running_an_erasure_rewrites_the_spools_and_names_the_backends_it_cannot_reach()
{
    use scrim_otlp::{Attribute, AttributeValue, SentRecord, Span, SpanRole, Spool};
    let fixture = Fixture::new(&[2], 1);
    let span = |number: u8, uid: i64| Span {
        trace_id: [number; 16],
        span_id: [number; 8],
        parent_span_id: None,
        name: format!("process {number}"),
        role: SpanRole::Process,
        start: 1_795_000_000_000_000_000,
        end: 1_795_000_001_000_000_000,
        attributes: vec![Attribute {
            key: "process.real_user.id".into(),
            value: AttributeValue::Int(uid),
        }],
        events: Vec::new(),
        cgroup_id: 7,
    };
    let backend = fixture.state.join("spool/tenant=acme/127.0.0.1_4317");
    let mut spool = Spool::open(&backend, u64::MAX).expect("spool");
    spool
        .push(&[span(1, SUBJECT), span(2, OTHER)])
        .expect("a batch of both");
    spool.push(&[span(3, SUBJECT)]).expect("a batch of theirs");
    drop(spool);
    SentRecord {
        endpoint: "http://127.0.0.1:4317".into(),
        first: 1_795_000_000_000_000_000,
        last: 1_795_003_600_000_000_000,
    }
    .write(&backend)
    .expect("sent record");

    let (ok, said) = fixture.archive("erase", &[]);
    assert!(ok, "{said}");
    assert!(said.contains("erased 2 spans of tenant `acme`"), "{said}");
    assert!(
        said.contains(
            "were sent to http://127.0.0.1:4317 between 2026-11-18T11:06:40Z and \
             2026-11-18T12:06:40Z: erase it there"
        ),
        "{said}"
    );
    let mut spool = Spool::open(&backend, u64::MAX).expect("spool");
    let (lease, spans) = spool.take_oldest().expect("read").expect("a batch");
    assert_eq!(spans, [span(2, OTHER)]);
    spool.sent(lease).expect("sent");
    assert!(
        spool.take_oldest().expect("read").is_none(),
        "the subject's batch is gone"
    );
    let log = std::fs::read_to_string(fixture.audit_log()).expect("audit log");
    assert!(
        log.contains(r#""not_reached":[{"backend":"http://127.0.0.1:4317""#),
        "{log}"
    );
    assert!(log.contains(r#""spans_erased":2"#), "{log}");
}

#[test]
fn a_state_directory_others_can_write_is_refused_before_anything_is_asked_or_erased() {
    let fixture = Fixture::new(&[2], 1);
    let files = fixture.files();
    let before = contents_of(&files);
    // Anyone could plant a lock and a socket there, pose as the collector,
    // and be sent the subject's pseudonyms.
    std::fs::create_dir(&fixture.state).expect("state");
    std::fs::set_permissions(&fixture.state, std::fs::Permissions::from_mode(0o777))
        .expect("world-writable");
    for command in ["erase", "export"] {
        let (ok, said) = fixture.archive(command, &[]);
        assert!(!ok, "{command}: {said}");
        assert!(
            said.contains("the state directory (--state-dir)"),
            "{command}: {said}"
        );
    }
    let after = contents_of(&files);
    assert_eq!(after, before, "nothing erased");
}
