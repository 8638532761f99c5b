//! What the end-to-end tests of `scrim run` share: the running binary with
//! its stderr collected, and reading its summary lines.
//!
//! Each test binary uses part of this module.
#![allow(dead_code)]
use std::{
    ffi::OsStr,
    io::{BufRead as _, BufReader},
    path::Path,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use scrim_testkit::gate;

pub const SCRIM: &str = env!("CARGO_BIN_EXE_scrim");

/// A running `scrim run`, with its stderr lines collected.
pub struct Collector {
    pub child: Child,
    /// `--state-dir`, unless the test gave its own: spools and the audit log.
    pub state: tempfile::TempDir,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Collector {
    /// `output`, if given, holds every tenant's archive (`--output`).
    pub fn start(output: Option<&Path>, extra: &[&str], env: &[(&str, &OsStr)]) -> Self {
        Self::start_wrapped(&[], output, extra, env)
    }

    /// [`Collector::start`], with scrim run by `wrapper` (a command that
    /// runs its arguments: `unshare --pid --fork --mount-proc`, a shell
    /// that sets a umask).
    pub fn start_wrapped(
        wrapper: &[&str],
        output: Option<&Path>,
        extra: &[&str],
        env: &[(&str, &OsStr)],
    ) -> Self {
        let mut command = scrim_command(wrapper);
        command.envs(env.iter().copied());
        // Tests run side by side: each scrim serves metrics on a port of
        // its own.
        command.args([
            "run",
            "--summary-interval",
            "1s",
            "--metrics-address",
            "127.0.0.1:0",
        ]);
        if !extra.contains(&"--duration") {
            command.args(["--duration", "60s"]);
        }
        if let Some(output) = output {
            command.arg("--output").arg(output);
        }
        let state = tempfile::tempdir().expect("state directory");
        if !extra.contains(&"--state-dir") {
            command.arg("--state-dir").arg(state.path());
        }
        let mut child = command
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start scrim");
        let stderr = child.stderr.take().expect("piped stderr");
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("  | {line}");
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Collector {
            child,
            state,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stderr line containing `needle`; `Err` holds what was seen.
    pub fn wait_for(&mut self, needle: &str) -> Result<String, String> {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return Ok(line);
                    }
                }
                Err(_) => return Err(self.seen.join("\n")),
            }
        }
    }

    /// `GET /metrics` from the address scrim printed at start.
    pub fn scrape_metrics(&self) -> String {
        use std::io::{Read as _, Write as _};
        let address = self
            .seen
            .iter()
            .find_map(|line| {
                line.strip_prefix("scrim: metrics on http://")?
                    .strip_suffix("/metrics")
            })
            .unwrap_or_else(|| panic!("no metrics address in {:?}", self.seen));
        let mut stream = std::net::TcpStream::connect(address).expect("connect to metrics");
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: scrim\r\n\r\n")
            .expect("send request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read response");
        let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        body.to_owned()
    }

    /// SIGTERM, then the exit status and the final summary line.
    pub fn stop(self) -> (std::process::ExitStatus, String) {
        let (status, summary, _) = self.stop_with_tenants();
        (status, summary)
    }

    /// [`Collector::stop`], plus every line scrim wrote.
    pub fn stop_with_log(mut self) -> (std::process::ExitStatus, String, Vec<String>) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let summary = self
            .wait_for("(final)")
            .unwrap_or_else(|seen| panic!("no final summary after SIGTERM; stderr was:\n{seen}"));
        let status = self.child.wait().expect("wait for scrim");
        // The reader thread ends at scrim's exit, closing the channel.
        let mut lines = std::mem::take(&mut self.seen);
        lines.extend(self.lines.iter());
        (status, summary, lines)
    }

    /// [`Collector::stop`], plus each tenant's final accounting line as
    /// numbers: received, exported, dropped by policy, lost, over quota.
    pub fn stop_with_tenants(
        self,
    ) -> (
        std::process::ExitStatus,
        String,
        std::collections::BTreeMap<String, [u64; 5]>,
    ) {
        let (status, summary, tenants, _) = self.stop_with_everything();
        (status, summary, tenants)
    }

    /// [`Collector::stop_with_tenants`], plus every line scrim wrote.
    pub fn stop_with_everything(
        self,
    ) -> (
        std::process::ExitStatus,
        String,
        std::collections::BTreeMap<String, [u64; 5]>,
        Vec<String>,
    ) {
        let (status, summary, lines) = self.stop_with_log();
        let mut tenants = std::collections::BTreeMap::new();
        // The accounting lines follow the final summary.
        let after_summary = lines
            .iter()
            .position(|line| *line == summary)
            .map_or(&lines[..], |index| &lines[index + 1..]);
        for line in after_summary {
            if let Some(rest) = line.strip_prefix("scrim: tenant `")
                && let Some((name, counts)) = rest.split_once("`: ")
            {
                let numbers: Vec<u64> = counts
                    .split(|c: char| !c.is_ascii_digit())
                    .filter_map(|word| word.parse().ok())
                    .collect();
                let numbers: [u64; 5] = numbers.try_into().unwrap_or_else(|numbers| {
                    panic!("unexpected tenant line {line:?}: {numbers:?}")
                });
                tenants.insert(name.to_owned(), numbers);
            }
        }
        (status, summary, tenants, lines)
    }
}

/// The scrim binary, run by `wrapper` if it is not empty.
pub fn scrim_command(wrapper: &[&str]) -> Command {
    match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(SCRIM);
            command
        }
        None => Command::new(SCRIM),
    }
}

/// `scrim run --metrics-address off ARGS` to its end, with no stdin: its
/// exit status and its stderr.
pub fn run_to_end(wrapper: &[&str], args: &[&str]) -> (std::process::ExitStatus, String) {
    let output = scrim_command(wrapper)
        .args(["run", "--metrics-address", "off"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run scrim");
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Starts scrim, or decides the test cannot run here (see `gate`).
pub fn start_capturing(test: &str, output: Option<&Path>, extra: &[&str]) -> Option<Collector> {
    start_capturing_with_env(test, output, extra, &[])
}

/// [`start_capturing`], with more environment variables for scrim.
pub fn start_capturing_with_env(
    test: &str,
    output: Option<&Path>,
    extra: &[&str],
    env: &[(&str, &OsStr)],
) -> Option<Collector> {
    if !gate::root_or_skip(test) {
        return None;
    }
    let mut collector = Collector::start(output, extra, env);
    let started = collector.wait_for("capturing");
    if started.is_err() {
        let _ = collector.child.kill();
    }
    gate::or_skip(
        test,
        started.map_err(|seen| format!("scrim did not start:\n{seen}")),
    )?;
    Some(collector)
}

/// The numbers of a summary line that tests check.
#[derive(Debug)]
pub struct SummaryNumbers {
    pub events_in: u64,
    pub exported: u64,
    pub written: u64,
    pub spans_sent: u64,
    pub pending: u64,
    pub dropped_by_policy: u64,
    pub lost: u64,
    pub queue_full: u64,
    pub sink_errors: u64,
    pub opted_out: u64,
    pub unknown_cgroup: u64,
    pub failed_reloads: u64,
}

/// Reads a summary line, whose numbers are, in order: seconds, events in,
/// exported, rows written, files complete, spans sent, spans spooled,
/// pending, dropped by policy, lost, ring buffer full, queue full,
/// undecodable, sink errors, filtered in kernel and its five reasons,
/// strings truncated, failed policy reloads.
pub fn summary_numbers(line: &str) -> SummaryNumbers {
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|word| word.parse().ok())
        .collect();
    let numbers: [u64; 22] = numbers
        .try_into()
        .unwrap_or_else(|numbers| panic!("unexpected summary {line:?}: {numbers:?}"));
    SummaryNumbers {
        events_in: numbers[1],
        exported: numbers[2],
        written: numbers[3],
        spans_sent: numbers[5],
        pending: numbers[7],
        dropped_by_policy: numbers[8],
        lost: numbers[9],
        queue_full: numbers[11],
        sink_errors: numbers[13],
        opted_out: numbers[15],
        unknown_cgroup: numbers[16],
        failed_reloads: numbers[21],
    }
}

/// The names in a directory: an archive root's `tenant=` partitions.
pub fn entry_names(directory: &Path) -> Vec<String> {
    std::fs::read_dir(directory)
        .unwrap_or_else(|error| panic!("{}: {error}", directory.display()))
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// A policy file in a fresh directory, with a master key beside it.
pub fn policy_file(text: &str) -> tempfile::TempDir {
    let directory = scrim_testkit::keys::directory_with_master_key();
    std::fs::write(directory.path().join("policy.toml"), text).expect("write policy");
    directory
}

/// What `scrim run` stamps on every row of the TOML policy `text` in
/// `directory` (whose master key it reads): the hash of the text and, with
/// keys, of the key's fingerprint.
pub fn policy_hash(directory: &Path, text: &str) -> String {
    scrim_policies::compile_source(text, directory)
        .expect("a valid policy")
        .hash()
        .to_owned()
}

/// Two tenants' sink directories in a fresh temporary directory.
pub fn two_sinks(first: &str, second: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let sinks = tempfile::tempdir().expect("tempdir");
    let (first, second) = (sinks.path().join(first), sinks.path().join(second));
    (sinks, first, second)
}

/// Starts scrim on the `policy.toml` that [`policy_file`] wrote.
pub fn start_with_policy(test: &str, policy: &tempfile::TempDir) -> Option<Collector> {
    start_with_policy_and(test, policy, None, &[])
}

/// [`start_with_policy`], with `--output` and more arguments.
pub fn start_with_policy_and(
    test: &str,
    policy: &tempfile::TempDir,
    output: Option<&Path>,
    extra: &[&str],
) -> Option<Collector> {
    let policy_path = policy.path().join("policy.toml");
    let mut args = vec!["--policy", policy_path.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    start_capturing(test, output, &args)
}
