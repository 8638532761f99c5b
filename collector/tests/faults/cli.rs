//! No panic on ordinary events: a closed stderr while `scrim run`
//! captures, a reader that closes stdout after one line, a SIGHUP while
//! the probes load, a flag value that cannot work, and `scrim redact` on
//! bytes that are not UTF-8.
use std::{
    fs,
    io::{BufRead as _, BufReader, Read as _, Write as _},
    os::fd::{FromRawFd as _, OwnedFd},
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    thread,
    time::{Duration, Instant},
};

use scrim_testkit::{archive::parquet_rows, gate};

use crate::common::{Collector, SCRIM, summary_numbers};

/// What a shell reports for a filter whose reader went away (SIGPIPE).
const CLOSED_STDOUT_STATUS: i32 = 141;

fn sigterm(child: &Child) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
}

/// Waits for `child` at most `limit`; kills it past that.
fn wait_at_most(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().expect("wait for scrim") {
            return Some(status);
        }
        thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn scrape(address: &str) -> String {
    let mut stream = std::net::TcpStream::connect(address).expect("connect to metrics");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: scrim\r\n\r\n")
        .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    response
}

/// A metric's value in a Prometheus text body.
fn metric(body: &str, name: &str) -> Option<u64> {
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
}

#[test]
fn a_closed_stderr_neither_panics_nor_stops_capture_and_is_counted() {
    let test = "a_closed_stderr_neither_panics_nor_stops_capture_and_is_counted";
    if !gate::root_or_skip(test) {
        return;
    }
    let output = tempfile::tempdir().expect("output");
    let state = tempfile::tempdir().expect("state");
    let mut child = Command::new(SCRIM)
        .args([
            "run",
            "--summary-interval",
            "200ms",
            "--metrics-address",
            "127.0.0.1:0",
            "--duration",
            "60s",
        ])
        .arg("--output")
        .arg(output.path())
        .arg("--state-dir")
        .arg(state.path())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start scrim");
    let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
    let mut address = None;
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).expect("read stderr") == 0 {
            let status = child.wait().expect("wait");
            panic!(
                "scrim ended ({status}) before capturing:\n{}",
                seen.join("")
            );
        }
        if let Some(at) = line
            .trim_end()
            .strip_prefix("scrim: metrics on http://")
            .and_then(|rest| rest.strip_suffix("/metrics"))
        {
            address = Some(at.to_owned());
        }
        let capturing = line.contains("capturing");
        seen.push(line);
        if capturing {
            break;
        }
    }
    let address = address.expect("a metrics address before capturing");
    // The read end goes: every later log line meets EPIPE.
    drop(stderr);
    let mut pids = Vec::new();
    for _ in 0..5 {
        let mut workload = Command::new("/bin/true").spawn().expect("spawn /bin/true");
        pids.push(workload.id().to_string());
        workload.wait().expect("wait");
    }
    // Several summary lines fall on the closed pipe meanwhile.
    thread::sleep(Duration::from_millis(1500));
    let body = scrape(&address);
    let unwritten = metric(&body, "scrim_log_lines_unwritten_total")
        .unwrap_or_else(|| panic!("no count of unwritten lines in:\n{body}"));
    assert!(unwritten >= 2, "{unwritten} unwritten log lines");
    sigterm(&child);
    let status = wait_at_most(&mut child, Duration::from_secs(20)).expect("scrim stops");
    assert_eq!(status.code(), Some(0), "{status}");
    let rows = parquet_rows(output.path()).expect("read the archive");
    let captured = rows
        .iter()
        .filter(|row| row.get("process.pid").is_some_and(|pid| pids.contains(pid)))
        .count();
    assert!(
        captured >= pids.len(),
        "{captured} rows of the {} workloads",
        pids.len()
    );
}

/// A pipe whose buffer is one page, so that a writer of more than that
/// waits for its reader.
fn small_pipe() -> (fs::File, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2(2) fills two descriptors, which we then own.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fds[0] is our pipe's read end.
    unsafe { libc::fcntl(fds[0], libc::F_SETPIPE_SZ, 4096) };
    // SAFETY: both descriptors were just created and are owned once each.
    unsafe { (fs::File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Runs scrim with `args`, reads the first line it prints, closes the
/// pipe, and returns its exit status and stderr.
fn print_then_close(args: &[&str], stdin: Stdio) -> (ExitStatus, String, String) {
    let (mut reader, writer) = small_pipe();
    let mut child = Command::new(SCRIM)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .spawn()
        .expect("start scrim");
    let mut first = Vec::new();
    let mut byte = [0];
    while reader.read(&mut byte).expect("read stdout") == 1 && byte[0] != b'\n' {
        first.push(byte[0]);
    }
    drop(reader);
    let status = wait_at_most(&mut child, Duration::from_secs(20)).expect("scrim ends");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    (status, String::from_utf8_lossy(&first).into_owned(), stderr)
}

#[test]
fn printing_commands_end_quietly_when_the_reader_closes_after_one_line() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/examples/strict.toml");
    let example = example.to_str().expect("utf-8 path");
    let big_input = tempfile::NamedTempFile::new().expect("input");
    fs::write(
        big_input.path(),
        "export TOKEN=abc123 and more\n".repeat(10_000),
    )
    .expect("input");
    // Each command, with the file its stdin reads, if any.
    let cases: [(&[&str], Option<&Path>); 4] = [
        (&["policy", "schema"], None),
        (&["fields"], None),
        // (Its explanation is shorter than a pipe's page: the report.)
        (&["policy", "report", example], None),
        (&["redact"], Some(big_input.path())),
    ];
    for (args, input) in cases {
        let stdin = match input {
            Some(path) => Stdio::from(fs::File::open(path).expect("open input")),
            None => Stdio::null(),
        };
        let (status, first, stderr) = print_then_close(args, stdin);
        assert!(!first.is_empty(), "scrim {args:?} printed nothing");
        assert!(
            !stderr.contains("panicked") && status.code() != Some(101),
            "scrim {args:?} panicked ({status}):\n{stderr}"
        );
        assert_eq!(
            status.code(),
            Some(CLOSED_STDOUT_STATUS),
            "scrim {args:?}: {status}, stderr:\n{stderr}"
        );
        assert_eq!(stderr, "", "scrim {args:?} said something");
    }
}

/// Whether `pid` holds a BPF map: its probes are being loaded.
fn holds_bpf_map(pid: u32) -> bool {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        fs::read_link(entry.path()).is_ok_and(|target| target.to_string_lossy().contains("bpf-map"))
    })
}

#[test]
fn a_sighup_while_the_probes_load_is_held_and_applied_once_running() {
    let test = "a_sighup_while_the_probes_load_is_held_and_applied_once_running";
    if !gate::root_or_skip(test) {
        return;
    }
    let output = tempfile::tempdir().expect("output");
    let mut collector = Collector::start(Some(output.path()), &[], &[]);
    let pid = collector.child.id();
    let started = Instant::now();
    while !holds_bpf_map(pid) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "scrim loaded no probe"
        );
        thread::sleep(Duration::from_millis(1));
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(pid as i32, libc::SIGHUP) };
    if let Err(seen) = collector.wait_for("capturing") {
        let status = collector.child.wait().expect("wait");
        panic!("a SIGHUP during start-up stopped scrim ({status}):\n{seen}");
    }
    // The held SIGHUP is one reload once running: the policy, described
    // before "capturing", is described once more.
    collector
        .wait_for("(blake3 ")
        .unwrap_or_else(|seen| panic!("no reload after the held SIGHUP:\n{seen}"));
    let mut workload = Command::new("/bin/true").spawn().expect("spawn /bin/true");
    workload.wait().expect("wait");
    thread::sleep(Duration::from_millis(500));
    let (status, summary) = collector.stop();
    assert_eq!(status.code(), Some(0), "{status}");
    let numbers = summary_numbers(&summary);
    assert!(numbers.events_in > 0 && numbers.exported > 0, "{summary}");
    assert_eq!(numbers.failed_reloads, 0, "{summary}");
}

/// Each case: flag, value, part of the one-line error.
const BAD_FLAGS: &[(&str, &str, &str)] = &[
    ("--summary-interval", "0s", "must be at least 100ms"),
    ("--summary-interval", "1ns", "must be at least 100ms"),
    ("--summary-interval", "400days", "must be at most 1day"),
    ("--roll-interval", "0s", "must be at least 1s"),
    ("--retention-interval", "0s", "must be at least 1s"),
    ("--retention-interval", "1year", "must be at most 30days"),
    ("--duration", "0s", "must be at least 1ms"),
    ("--summary-interval", "soon", "not a duration"),
    ("--tenant-queue-mib", "0", "must be from 1 to 4096"),
    ("--tenant-queue-mib", "lots", "not a whole number"),
    ("--roll-size-mib", "0", "must be from 1 to 65536"),
    ("--ring-buffer-mib", "0", "must be from 1 to 512"),
    ("--ring-buffer-mib", "3", "must be a power of two"),
    ("--ring-buffer-mib", "1024", "must be from 1 to 512"),
    ("--spool-max-mib", "0", "must be from 1 to 1048576"),
    ("--output", "/proc", "/proc: /proc is on procfs"),
    (
        "--output",
        "/proc/scrim-output",
        "/proc/scrim-output: /proc is on procfs",
    ),
    (
        "--output",
        "/sys/kernel/scrim-output",
        "/sys/kernel/scrim-output: /sys/kernel is on sysfs",
    ),
    (
        "--output",
        "/etc/hostname",
        "/etc/hostname is not a directory",
    ),
    (
        "--output",
        "/etc/hostname/archive",
        "/etc/hostname is not a directory",
    ),
];

/// Runs `scrim run` with one bad value: it must fail within a second with
/// one error line, having created nothing.
fn refused(flag: &str, value: &str) -> Result<String, String> {
    let scratch = tempfile::tempdir().expect("scratch");
    let (output, state) = (scratch.path().join("out"), scratch.path().join("state"));
    let mut command = Command::new(SCRIM);
    command.args(["run", "--metrics-address", "off"]);
    if flag != "--output" {
        command.arg("--output").arg(&output);
    }
    let mut child = command
        .arg("--state-dir")
        .arg(&state)
        .args([flag, value])
        .current_dir(scratch.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start scrim");
    let started = Instant::now();
    let status = wait_at_most(&mut child, Duration::from_secs(1))
        .ok_or_else(|| format!("{flag} {value}: still running after a second"))?;
    let elapsed = started.elapsed();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("error:"))
        .collect();
    if status.success() || errors.len() != 1 || stderr.contains("panicked") {
        return Err(format!(
            "{flag} {value}: {status} after {elapsed:?}:\n{stderr}"
        ));
    }
    let created: Vec<String> = fs::read_dir(scratch.path())
        .expect("scratch")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    if !created.is_empty() {
        return Err(format!("{flag} {value}: created {created:?}"));
    }
    Ok(errors[0].to_owned())
}

#[test]
fn each_bad_run_flag_is_refused_at_once_with_one_line_and_nothing_created() {
    let mut problems = Vec::new();
    for (flag, value, expected) in BAD_FLAGS {
        match refused(flag, value) {
            Ok(error) if error.contains(expected) && error.contains(flag) => {}
            Ok(error) => problems.push(format!("{flag} {value}: {error:?} lacks {expected:?}")),
            Err(problem) => problems.push(problem),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The cgroup2 mount point, from this process's mount table.
fn cgroup2_root() -> String {
    let mounts = fs::read_to_string("/proc/self/mounts").expect("mounts");
    mounts
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            (fields.get(2) == Some(&"cgroup2")).then(|| fields[1].to_owned())
        })
        .expect("a cgroup2 mount")
}

#[test]
fn an_output_under_the_cgroup_filesystem_is_refused_and_no_cgroup_made() {
    let test = "an_output_under_the_cgroup_filesystem_is_refused_and_no_cgroup_made";
    // Root could make a cgroup there: the refusal is what prevents it.
    if !gate::root_or_skip(test) {
        return;
    }
    let cgroup2 = cgroup2_root();
    let name = format!("scrim-output-{}", std::process::id());
    let mut problems = Vec::new();
    let mut places = vec![(format!("{cgroup2}/{name}"), "is on cgroup2")];
    if cgroup2 != "/sys/fs/cgroup" {
        // A hybrid layout: /sys/fs/cgroup is a tmpfs holding the v1 and
        // v2 mounts.
        places.push((format!("/sys/fs/cgroup/{name}"), "is under /sys"));
    }
    for (place, expected) in &places {
        match refused("--output", place) {
            Ok(error) if error.contains(expected) => {}
            Ok(error) => problems.push(format!("{place}: {error:?} lacks {expected:?}")),
            Err(problem) => problems.push(problem),
        }
        if Path::new(place).exists() {
            problems.push(format!("{place} was created"));
            let _ = fs::remove_dir(place);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn redact_puts_out_a_line_for_each_line_in_with_its_ending_whatever_the_bytes() {
    const LINES: usize = 20_000;
    let secret = "AKIAIOSFODNN7EXAMPLE";
    let mut input = Vec::new();
    for index in 0..LINES {
        // Lines 2 and 3 of each five hold bytes that are not UTF-8: a
        // Latin-1 `é`, and the first byte of a two-byte sequence alone.
        let (head, tail): (&[u8], String) = match index % 5 {
            0 => (b"plain line ", format!("{index}")),
            1 => (b"windows line ", format!("{index}\r")),
            2 => (b"latin-1 caf\xe9 ", format!("{index} key {secret}")),
            3 => (b"cut \xc3 ", format!("{index}\r")),
            _ => (b"key ", format!("{secret} line {index}")),
        };
        input.extend_from_slice(head);
        input.extend_from_slice(tail.as_bytes());
        // The last line has no newline.
        if index + 1 < LINES {
            input.push(b'\n');
        }
    }
    let mut child = Command::new(SCRIM)
        .arg("redact")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start scrim redact");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = thread::spawn(move || stdin.write_all(&input));
    let result = child.wait_with_output().expect("scrim redact");
    writer.join().expect("writer").expect("write input");
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let output = result.stdout;
    let lines: Vec<&[u8]> = output.split(|&byte| byte == b'\n').collect();
    assert_eq!(lines.len(), LINES, "lines out");
    assert!(
        !output.ends_with(b"\n"),
        "a newline was added to the last line"
    );
    for (index, line) in lines.iter().enumerate() {
        let text = String::from_utf8(line.to_vec())
            .unwrap_or_else(|_| panic!("line {index} is not UTF-8: {line:?}"));
        assert!(
            !text.contains(secret),
            "line {index} kept the secret: {text:?}"
        );
        let expected_start = match index % 5 {
            0 => format!("plain line {index}"),
            1 => format!("windows line {index}\r"),
            2 => "latin-1 caf\u{fffd} ".to_owned(),
            3 => format!("cut \u{fffd} {index}\r"),
            _ => "key ".to_owned(),
        };
        assert!(text.starts_with(&expected_start), "line {index}: {text:?}");
        assert_eq!(
            text.ends_with('\r'),
            index % 5 == 1 || index % 5 == 3,
            "line {index}'s CR: {text:?}"
        );
    }
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains(&format!(
            "8000 of {LINES} lines held bytes that are not UTF-8"
        )),
        "{stderr}"
    );
}
