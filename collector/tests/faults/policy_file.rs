//! The policy file is trusted only as much as the master key: a file, a
//! directory or a symlink another user can write is refused by `scrim run`
//! (at start, and at every reload, the running policy staying in force),
//! and no policy file (a FIFO, `/dev/zero`, a huge file) makes scrim wait
//! or fill its memory: reloads are read off the event loop.
use std::{
    ffi::CString,
    os::unix::{ffi::OsStrExt as _, fs::PermissionsExt as _, process::ExitStatusExt as _},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    thread,
    time::{Duration, Instant},
};

use scrim_testkit::{archive::json_lines, cgroup::TestCgroup, gate};

use crate::common::{SCRIM, policy_file, start_with_policy_and, summary_numbers};

fn mkfifo(path: &Path) {
    let name = CString::new(path.as_os_str().as_bytes()).expect("no NUL");
    // SAFETY: mkfifo on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0, "mkfifo");
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// How a command ended, within a deadline: its status (killed if it had
/// not ended by then), how long it took, the most memory it held and its
/// stderr.
struct Ended {
    status: ExitStatus,
    took: Duration,
    max_rss_kib: i64,
    stderr: String,
}

#[expect(
    clippy::zombie_processes,
    reason = "reaped by waitpid, without blocking, until the deadline"
)]
fn run_within(command: &mut Command, deadline: Duration) -> Ended {
    // GNU time forks the command and reports its peak memory alone. A
    // child forked from here, or from a shell forked from here, would
    // start with this (multi-threaded, busy) process's peak memory as its
    // own, and wait4 would report that.
    let measured = tempfile::NamedTempFile::new().expect("time's output file");
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped
        .args(["-f", "%M", "-o"])
        .arg(measured.path())
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(directory) = command.get_current_dir() {
        wrapped.current_dir(directory);
    }
    std::os::unix::process::CommandExt::process_group(&mut wrapped, 0);
    let started = Instant::now();
    let mut child: Child = wrapped
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start scrim");
    let stderr = child.stderr.take().expect("piped stderr");
    let reader = thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    loop {
        // SAFETY: waitpid on our own child, with a status to fill.
        let waited = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(waited >= 0, "waitpid: {}", std::io::Error::last_os_error());
        if waited == pid {
            break;
        }
        if started.elapsed() > deadline {
            // SAFETY: kill(2) on our own child's process group (the shell
            // and the command), the child not yet reaped.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            // SAFETY: as above, now blocking.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    Ended {
        status: ExitStatus::from_raw(status),
        took: started.elapsed(),
        // Its last line: before it, time says how the command ended. A
        // command killed at the deadline leaves no figure: 0.
        max_rss_kib: std::fs::read_to_string(measured.path())
            .unwrap_or_default()
            .lines()
            .last()
            .and_then(|line| line.trim().parse().ok())
            .unwrap_or(0),
        stderr: reader.join().expect("stderr reader"),
    }
}

#[test]
fn policy_commands_refuse_a_fifo_a_device_and_a_huge_file_at_once() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let fifo = scratch.path().join("policy.toml");
    mkfifo(&fifo);
    let huge = scratch.path().join("huge.toml");
    std::fs::write(&huge, vec![b'#'; 5 << 20]).expect("write");
    let cases = scratch.path().join("cases");
    std::fs::create_dir(&cases).expect("cases directory");
    let cases = cases.to_str().expect("utf-8 path");
    for (file, says) in [
        (Path::new("/dev/zero"), "is a character device"),
        (fifo.as_path(), "is a FIFO"),
        (huge.as_path(), "5242880 bytes, the limit is 4194304"),
    ] {
        for command in [
            &["policy", "check"][..],
            &["policy", "explain"],
            &["policy", "report"],
            &["policy", "test", "--cases", cases],
        ] {
            let ended = run_within(
                Command::new(SCRIM).args(command).arg(file),
                Duration::from_secs(1),
            );
            let what = format!("scrim {} {}", command.join(" "), file.display());
            assert_eq!(ended.status.code(), Some(1), "{what}: {:?}", ended.status);
            assert!(
                ended.took < Duration::from_secs(1),
                "{what}: {:?}",
                ended.took
            );
            assert!(
                ended.max_rss_kib < 64 << 10,
                "{what} held {} KiB",
                ended.max_rss_kib
            );
            assert!(
                ended.stderr.contains(says) && ended.stderr.contains("cannot read the policy"),
                "{what}: {}",
                ended.stderr
            );
        }
    }
}

/// A policy that captures the test's cgroup's processes, command lines
/// included, as JSON lines into `archive`.
fn policy_into(glob: &str, archive: &Path) -> String {
    format!(
        r#"version = 1
[defaults]
unknown_tenant = "drop"
[[tenant]]
name = "e2e"
purpose = "testing scrim"
legal_basis = "legitimate_interests"
special_categories = "test data only"
match = {{ cgroup_path = ["{glob}"] }}
capture = ["process"]
retention = {{ process = "1d" }}
sinks = [{{ jsonl = {{ path = "{}" }} }}]
[tenant.fields]
"event.name" = "keep"
"process.pid" = "keep"
"process.command_args" = "keep"
"#,
        archive.display()
    )
}

#[test]
fn run_refuses_a_policy_file_or_directory_others_can_write() {
    let test = "run_refuses_a_policy_file_or_directory_others_can_write";
    if !gate::root_or_skip(test) {
        return;
    }
    let archive = tempfile::tempdir().expect("tempdir");
    let text = policy_into("/scrim-test-never-*", &archive.path().join("archive"));
    let start = |policy: &Path| {
        let state = tempfile::tempdir().expect("state directory");
        let ended = run_within(
            Command::new(SCRIM)
                .args(["run", "--duration", "3s", "--metrics-address", "off"])
                .arg("--state-dir")
                .arg(state.path())
                .arg("--policy")
                .arg(policy),
            Duration::from_secs(10),
        );
        assert!(
            !ended.stderr.contains("capturing"),
            "{} started capturing:\n{}",
            policy.display(),
            ended.stderr
        );
        assert_eq!(ended.status.code(), Some(1), "{}", ended.stderr);
        assert!(
            ended.stderr.contains("refusing the policy"),
            "{}",
            ended.stderr
        );
        ended.stderr
    };

    let policy = policy_file(&text);
    let path = policy.path().join("policy.toml");
    chmod(&path, 0o664);
    let said = start(&path);
    assert!(said.contains("writable by group"), "{said}");
    assert!(
        said.contains(&format!("chmod go-w {}", path.display())),
        "{said}"
    );
    chmod(&path, 0o646);
    let said = start(&path);
    assert!(said.contains("writable by every user"), "{said}");

    chmod(&path, 0o644);
    std::os::unix::fs::chown(&path, Some(65534), None).expect("chown to nobody");
    let said = start(&path);
    assert!(said.contains("owned by uid 65534"), "{said}");
    std::os::unix::fs::chown(&path, Some(0), None).expect("chown to root");

    // A trusted file in a directory anyone can write (not sticky): anyone
    // could put a file or symlink of their own in its place.
    chmod(policy.path(), 0o777);
    let said = start(&path);
    assert!(
        said.contains(&format!("the directory {}", policy.path().display()))
            && said.contains("without the sticky bit"),
        "{said}"
    );
    chmod(policy.path(), 0o700);

    // A symlink to the trusted file, from a directory anyone can write.
    let open = tempfile::tempdir().expect("tempdir");
    chmod(open.path(), 0o777);
    let link = open.path().join("policy.toml");
    std::os::unix::fs::symlink(&path, &link).expect("symlink");
    let said = start(&link);
    assert!(
        said.contains(&format!("the directory {}", open.path().display())),
        "{said}"
    );

    // `scrim policy check` (run in CI, by ordinary users) warns, and passes.
    chmod(&path, 0o666);
    let checked = run_within(
        Command::new(SCRIM).args(["policy", "check"]).arg(&path),
        Duration::from_secs(5),
    );
    assert!(checked.status.success(), "{}", checked.stderr);
    assert!(
        checked.stderr.contains("warning") && checked.stderr.contains("writable by every user"),
        "{}",
        checked.stderr
    );
}

/// Kills a collector left running by a failed assertion, which would
/// otherwise outlive the test (for instance blocked on a FIFO).
struct KillOnPanic(u32);

impl Drop for KillOnPanic {
    fn drop(&mut self) {
        if thread::panicking() {
            // SAFETY: kill(2) on our own child's pid, not yet reaped.
            unsafe { libc::kill(self.0 as i32, libc::SIGKILL) };
        }
    }
}

/// Writes `text` to a new file beside `path`, owned by `uid`, and renames
/// it over `path`: a whole new file, as an editor or a ConfigMap update
/// writes one.
fn replace(path: &Path, text: &str, uid: u32) {
    let new: PathBuf = path.with_extension("new");
    std::fs::write(&new, text).expect("write");
    chmod(&new, 0o644);
    std::os::unix::fs::chown(&new, Some(uid), None).expect("chown");
    std::fs::rename(&new, path).expect("rename");
}

#[test]
fn a_policy_file_an_attacker_changed_is_not_reloaded() {
    let test = "a_policy_file_an_attacker_changed_is_not_reloaded";
    let sinks = tempfile::tempdir().expect("tempdir");
    let (mine, theirs) = (sinks.path().join("mine"), sinks.path().join("theirs"));
    let glob = format!("/scrim-test-policy-swap-{}-*", std::process::id());
    let policy = policy_file(&policy_into(&glob, &mine));
    let path = policy.path().join("policy.toml");
    let Some(mut collector) = start_with_policy_and(test, &policy, None, &[]) else {
        return;
    };
    let guard = KillOnPanic(collector.child.id());
    // The attacker's policy: every cgroup, command lines, into their
    // directory.
    let attack = policy_into("/**", &theirs);

    // Made writable by everyone, then edited.
    chmod(&path, 0o646);
    std::fs::write(&path, &attack).expect("edit");
    collector
        .wait_for("policy reload failed")
        .unwrap_or_else(|seen| panic!("the edited file was not refused:\n{seen}"));
    collector
        .wait_for("writable by every user")
        .unwrap_or_else(|seen| panic!("no reason given:\n{seen}"));

    // Replaced by a file of another user's (uid 65534, nobody).
    replace(&path, &attack, 65534);
    collector
        .wait_for("owned by uid 65534")
        .unwrap_or_else(|seen| panic!("the replaced file was not refused:\n{seen}"));

    // The running policy is still in force: the test's cgroup is captured
    // into its archive, and nothing goes to the attacker's.
    let tenant = TestCgroup::create("policy-swap").expect("create a cgroup");
    thread::sleep(Duration::from_millis(200));
    let (pid, _) = tenant.run(&["/bin/true", "still-mine"]).expect("run");
    thread::sleep(Duration::from_millis(1500));
    let (status, summary) = collector.stop();
    drop(guard);
    assert!(status.success(), "{summary}");
    // Two at least: a poll may also catch the edit half-written.
    assert!(
        summary_numbers(&summary).failed_reloads >= 2,
        "two refused reloads: {summary}"
    );
    assert!(
        !theirs.exists(),
        "the attacker's directory was written: {theirs:?}"
    );
    let rows = json_lines(&mine).expect("read the archive");
    assert!(
        rows.iter().any(|row| {
            let value = &row["process.pid"];
            value.as_u64() == Some(u64::from(pid)) || value.as_str() == Some(&pid.to_string())
        }),
        "no row of pid {pid} under the running policy: {rows:#?}"
    );
}

#[test]
fn a_reload_onto_a_fifo_never_stalls_summaries_or_the_duration() {
    let test = "a_reload_onto_a_fifo_never_stalls_summaries_or_the_duration";
    let output = tempfile::tempdir().expect("tempdir");
    let policy = policy_file(&policy_into(
        "/scrim-test-never-*",
        &output.path().join("archive"),
    ));
    let path = policy.path().join("policy.toml");
    let Some(mut collector) = start_with_policy_and(test, &policy, None, &["--duration", "6s"])
    else {
        return;
    };
    // The duration runs from just before "capturing".
    let started = Instant::now();
    let guard = KillOnPanic(collector.child.id());
    std::fs::remove_file(&path).expect("remove the policy");
    mkfifo(&path);
    collector
        .wait_for("is a FIFO")
        .unwrap_or_else(|seen| panic!("the FIFO was not refused:\n{seen}"));
    // Summaries go on, every second (`--summary-interval 1s`).
    let mut last = Instant::now();
    for _ in 0..2 {
        collector
            .wait_for("events in")
            .unwrap_or_else(|seen| panic!("no summary:\n{seen}"));
        assert!(
            last.elapsed() < Duration::from_millis(2500),
            "a summary came {:?} after the one before",
            last.elapsed()
        );
        last = Instant::now();
    }
    // And the run ends when it should.
    let summary = collector
        .wait_for("(final)")
        .unwrap_or_else(|seen| panic!("no final summary:\n{seen}"));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "--duration 6s ended after {:?}",
        started.elapsed()
    );
    assert!(
        summary_numbers(&summary).failed_reloads >= 1,
        "the FIFO counts as a failed reload: {summary}"
    );
    let status = collector.child.wait().expect("wait for scrim");
    drop(guard);
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_configmap_volume_as_the_kubelet_mounts_it_is_trusted_and_only_read_only() {
    let test = "a_configmap_volume_as_the_kubelet_mounts_it_is_trusted_and_only_read_only";
    if !gate::root_or_skip(test) {
        return;
    }
    // The kubelet's layout: a 0777 volume directory, the files in a
    // timestamped 0755 directory, reached through `..data` and a symlink
    // per key.
    let scratch = tempfile::tempdir().expect("tempdir");
    let volume = scratch.path().join("policy");
    let timestamped = volume.join("..2026_01_01_00_00_00.000000001");
    std::fs::create_dir_all(&timestamped).expect("volume");
    let text = policy_into("/scrim-test-never-*", &scratch.path().join("archive"));
    std::fs::write(timestamped.join("policy.toml"), text).expect("policy");
    chmod(&timestamped.join("policy.toml"), 0o644);
    chmod(&timestamped, 0o755);
    std::os::unix::fs::symlink(
        timestamped.file_name().expect("name"),
        volume.join("..data"),
    )
    .expect("..data");
    std::os::unix::fs::symlink("..data/policy.toml", volume.join("policy.toml"))
        .expect("policy.toml");
    chmod(&volume, 0o777);
    let state = tempfile::tempdir().expect("state directory");
    let run = format!(
        "{SCRIM} run --policy {}/policy.toml --duration 1s --metrics-address off --state-dir {}",
        volume.display(),
        state.path().display()
    );

    // Mounted read-only, as the kubelet mounts it: nobody can write the
    // 0777 directory, and scrim captures.
    let read_only = run_within(
        Command::new("unshare").args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &format!(
                "mount --bind {0} {0} && mount -o remount,bind,ro {0} && exec {run}",
                volume.display()
            ),
        ]),
        Duration::from_secs(20),
    );
    assert!(
        read_only.status.success() && read_only.stderr.contains("capturing"),
        "{:?}: {}",
        read_only.status,
        read_only.stderr
    );

    // The same layout, writable: anyone could relink policy.toml.
    let writable = run_within(
        Command::new("sh").args(["-c", &run]),
        Duration::from_secs(20),
    );
    assert_eq!(writable.status.code(), Some(1), "{}", writable.stderr);
    assert!(
        writable
            .stderr
            .contains(&format!("the directory {}", volume.display()))
            && !writable.stderr.contains("capturing"),
        "{}",
        writable.stderr
    );
}
