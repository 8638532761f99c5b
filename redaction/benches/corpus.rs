//! The held-out corpus through scrim's scrubber and through detect-secrets:
//! recall, benign lines changed, lines per second; and the two fixed
//! 100-byte lines of the `redaction` bench. Prints one markdown table
//! (docs/secrets-measurement.md holds the one last measured).
//!
//! `cargo bench -p scrim-redaction --bench corpus`
//!
//! detect-secrets (installed by scripts/setup.sh) runs through
//! `corpus/detect_secrets_run.py`; without it the table has scrim's rows
//! only, and says why.
use std::{
    hint::black_box,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use scrim_redaction::Scrubber;
use serde::Deserialize;

/// A typical command line with nothing to scrub (100 bytes), as in the
/// `redaction` bench.
const CLEAN: &str = "/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory /srv/www/static/assets 8080 -v -v -v -q";
/// The same size, with a password in it.
const WITH_SECRET: &str = "/usr/bin/psql --host db.internal --username app --password=hunter2-Xq7 --dbname orders -c 'select 1'";
/// How long each throughput figure is measured for.
const MEASURE_FOR: Duration = Duration::from_secs(2);

#[derive(Deserialize)]
struct Entry {
    label: String,
    secrets: Vec<String>,
    line: String,
}

#[derive(Deserialize)]
struct DetectSecrets {
    available: bool,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    recall: f64,
    #[serde(default)]
    flagged_recall: f64,
    #[serde(default)]
    benign_changed: u64,
    #[serde(default)]
    benign_lines: u64,
    #[serde(default)]
    benign_changed_percent: f64,
    #[serde(default)]
    lines_per_s: f64,
}

/// Lines per second of `scrub` over `lines`, on this thread.
fn throughput(scrubber: &Scrubber, lines: &[&str]) -> f64 {
    let mut done = 0u64;
    let started = Instant::now();
    while started.elapsed() < MEASURE_FOR {
        for line in lines {
            black_box(scrubber.scrub(black_box(line)));
        }
        done += lines.len() as u64;
    }
    done as f64 / started.elapsed().as_secs_f64()
}

fn detect_secrets(corpus: &Path) -> DetectSecrets {
    let script = corpus.with_file_name("detect_secrets_run.py");
    let unavailable = |reason: String| DetectSecrets {
        available: false,
        reason,
        version: String::new(),
        recall: 0.0,
        flagged_recall: 0.0,
        benign_changed: 0,
        benign_lines: 0,
        benign_changed_percent: 0.0,
        lines_per_s: 0.0,
    };
    let output = match Command::new("python3").arg(&script).arg(corpus).output() {
        Ok(output) => output,
        Err(error) => return unavailable(format!("python3 could not be run: {error}")),
    };
    if !output.status.success() {
        return unavailable(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        unavailable(format!("{} printed no figures: {error}", script.display()))
    })
}

fn main() {
    assert_eq!(CLEAN.len(), 100);
    assert_eq!(WITH_SECRET.len(), 100);
    // `cargo bench` passes `--bench`; a plain `cargo test --benches` run
    // passes nothing and only checks that the bench builds and starts.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("corpus bench: run with `cargo bench -p scrim-redaction --bench corpus`");
        return;
    }
    let corpus: PathBuf = [env!("CARGO_MANIFEST_DIR"), "corpus", "heldout.jsonl"]
        .iter()
        .collect();
    let text = std::fs::read_to_string(&corpus)
        .unwrap_or_else(|error| panic!("corpus file {}: {error}", corpus.display()));
    let entries: Vec<Entry> = text
        .lines()
        .map(|row| serde_json::from_str(row).expect("held-out corpus row is JSON"))
        .collect();

    let scrubber = Scrubber::new();
    let (mut secret_lines, mut caught, mut benign_lines, mut benign_changed) =
        (0u64, 0u64, 0u64, 0u64);
    for entry in &entries {
        let out = scrubber.scrub(&entry.line);
        if entry.label == "secret" {
            secret_lines += 1;
            caught += u64::from(
                entry
                    .secrets
                    .iter()
                    .all(|secret| !out.contains(secret.as_str())),
            );
        } else {
            benign_lines += 1;
            benign_changed += u64::from(out != entry.line);
        }
    }
    let lines: Vec<&str> = entries.iter().map(|entry| entry.line.as_str()).collect();
    let corpus_rate = throughput(&scrubber, &lines);
    let clean_rate = throughput(&scrubber, &[CLEAN]);
    let secret_rate = throughput(&scrubber, &[WITH_SECRET]);
    let ds = detect_secrets(&corpus);

    let recall = 100.0 * caught as f64 / secret_lines.max(1) as f64;
    let changed = 100.0 * benign_changed as f64 / benign_lines.max(1) as f64;
    println!(
        "held-out corpus: {} lines ({secret_lines} with secrets, {benign_lines} benign)\n",
        entries.len()
    );
    println!(
        "| scanner | recall (secrets removed) | benign lines changed | lines/s (one thread) |"
    );
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| scrim scrubber (`scrub`, one string per line), held-out lines | {recall:.1}% | {changed:.2}% ({benign_changed} of {benign_lines}) | {corpus_rate:.0} |"
    );
    if ds.available {
        println!(
            "| detect-secrets {} (default plugins), held-out lines | {:.1}% (line flagged: {:.1}%) | {:.2}% ({} of {}) | {:.0} |",
            ds.version,
            ds.recall,
            ds.flagged_recall,
            ds.benign_changed_percent,
            ds.benign_changed,
            ds.benign_lines,
            ds.lines_per_s
        );
    } else {
        println!("| detect-secrets: not measured ({}) | | | |", ds.reason);
    }
    println!("| scrim, fixed 100-byte clean line | | | {clean_rate:.0} |");
    println!("| scrim, fixed 100-byte line with a password | | | {secret_rate:.0} |");
}
