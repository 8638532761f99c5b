//! The scrubber against the labelled corpus in `redaction/corpus/`
//! (written by `generate.py` there; see docs/secrets-measurement.md).
//!
//! Every line is scrubbed twice, as the collector sees command lines: as
//! one string (`scrub`) and as the argv a shell would have made of it
//! (`scrub_args`). A secret line is caught when none of its listed secrets
//! is left in the output; a benign line must come back unchanged. The two
//! views must agree line by line.
//!
//! Train is the part rules are written against, so its misses and changed
//! lines are printed in full. Held-out is for measurement only: it prints
//! figures per family and per detector, never a line, so whoever writes
//! the rules cannot tune them to it. `SCRIM_CORPUS=train` skips held-out.
use std::{collections::BTreeMap, fmt::Write as _, path::PathBuf};

use scrim_redaction::Scrubber;
use serde::Deserialize;

/// Share of train's secret lines that must be caught, in percent.
const TRAIN_MIN_RECALL: f64 = 99.0;
/// Share of train's benign lines that may be changed, in percent.
const TRAIN_MAX_BENIGN_CHANGED: f64 = 1.0;
/// The same two figures on lines the rules were not written against: a
/// floor under what the rules reach (99.0% recall, 0.45% changed on
/// 2026-12-08; 96.3% the day before), so that a change that loses ground
/// fails. The target is 97%: the report prints how far off it is.
const HELDOUT_MIN_RECALL: f64 = 98.5;
const HELDOUT_TARGET_RECALL: f64 = 97.0;
const HELDOUT_MAX_BENIGN_CHANGED: f64 = 1.0;
/// Lines whose line and argv views may disagree, per thousand: none on
/// train; held-out has a few that no rule was written against.
const HELDOUT_MAX_DISAGREEING_PER_MILLE: u32 = 2;

#[derive(Deserialize)]
struct Entry {
    family: String,
    label: Label,
    secrets: Vec<String>,
    line: String,
    argv: Vec<String>,
}

#[derive(Deserialize, PartialEq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Label {
    Secret,
    Benign,
}

fn load(name: &str) -> Vec<Entry> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(format!("{name}.jsonl"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("corpus file {}: {error}", path.display()));
    text.lines()
        .enumerate()
        .map(|(number, row)| {
            serde_json::from_str(row).unwrap_or_else(|error| {
                panic!(
                    "corpus file {} line {}: {error}",
                    path.display(),
                    number + 1
                )
            })
        })
        .collect()
}

/// What one view (the line or the argv) made of one corpus line.
struct Verdict {
    /// Secret line: every secret gone. Benign line: nothing changed.
    ok: bool,
    /// Detector names in the `[REDACTED:<name>]` markers of the output.
    fired: Vec<String>,
    /// The output, for train's report.
    shown: String,
}

fn detectors_in(text: &str, into: &mut Vec<String>) {
    const MARK: &str = "[REDACTED:";
    let mut rest = text;
    while let Some(start) = rest.find(MARK) {
        rest = &rest[start + MARK.len()..];
        let Some(end) = rest.find(']') else { break };
        let name = &rest[..end];
        if !into.iter().any(|seen| seen == name) {
            into.push(name.to_owned());
        }
        rest = &rest[end..];
    }
}

fn line_view(scrubber: &Scrubber, entry: &Entry) -> Verdict {
    let out = scrubber.scrub(&entry.line);
    let ok = match entry.label {
        Label::Secret => entry.secrets.iter().all(|secret| !out.contains(secret)),
        Label::Benign => out == entry.line,
    };
    let mut fired = Vec::new();
    detectors_in(&out, &mut fired);
    Verdict {
        ok,
        fired,
        shown: out.into_owned(),
    }
}

fn argv_view(scrubber: &Scrubber, entry: &Entry) -> Verdict {
    let changed = scrubber.scrub_args(&entry.argv);
    let out = changed.as_deref().unwrap_or(&entry.argv);
    // Joined as well as one by one: a few legacy secrets (card numbers
    // with spaces, a key with its header) span several arguments.
    let joined = out.join(" ");
    let ok = match entry.label {
        Label::Secret => entry.secrets.iter().all(|secret| {
            !joined.contains(secret.as_str())
                && out.iter().all(|arg| !arg.contains(secret.as_str()))
        }),
        Label::Benign => out == entry.argv.as_slice(),
    };
    let mut fired = Vec::new();
    for arg in out {
        detectors_in(arg, &mut fired);
    }
    Verdict {
        ok,
        fired,
        shown: format!("{out:?}"),
    }
}

#[derive(Default)]
struct FamilyTally {
    label: Option<bool>,
    lines: u32,
    /// Secret: caught in both views. Benign: unchanged in both views.
    ok: u32,
    line_ok: u32,
    argv_ok: u32,
    disagreements: u32,
}

#[derive(Default)]
struct DetectorTally {
    /// Secret lines it fired on that were caught.
    on_caught: u32,
    /// Secret lines it fired on that still leaked a secret.
    on_missed: u32,
    /// Benign lines it fired on.
    on_benign: u32,
}

struct Report {
    secret_lines: u32,
    caught: u32,
    benign_lines: u32,
    benign_changed: u32,
    disagreements: u32,
    text: String,
}

impl Report {
    fn recall(&self) -> f64 {
        percent(self.caught, self.secret_lines)
    }

    fn benign_changed_percent(&self) -> f64 {
        percent(self.benign_changed, self.benign_lines)
    }
}

/// Scores one part. `show_lines` is false for held-out: then only figures
/// go into the report.
fn evaluate(name: &str, entries: &[Entry], show_lines: bool) -> Report {
    let scrubber = Scrubber::new();
    let mut families: BTreeMap<&str, FamilyTally> = BTreeMap::new();
    let mut detectors: BTreeMap<String, DetectorTally> = BTreeMap::new();
    let mut misses = String::new();
    let mut changed = String::new();
    let mut disagreeing = String::new();
    let mut report = Report {
        secret_lines: 0,
        caught: 0,
        benign_lines: 0,
        benign_changed: 0,
        disagreements: 0,
        text: String::new(),
    };
    for entry in entries {
        let line = line_view(&scrubber, entry);
        let argv = argv_view(&scrubber, entry);
        let ok = line.ok && argv.ok;
        let secret = entry.label == Label::Secret;
        let family = families.entry(&entry.family).or_default();
        family.label = Some(secret);
        family.lines += 1;
        family.ok += u32::from(ok);
        family.line_ok += u32::from(line.ok);
        family.argv_ok += u32::from(argv.ok);
        let mut fired = line.fired.clone();
        for name in &argv.fired {
            if !fired.contains(name) {
                fired.push(name.clone());
            }
        }
        for detector in fired {
            let tally = detectors.entry(detector).or_default();
            match (secret, ok) {
                (true, true) => tally.on_caught += 1,
                (true, false) => tally.on_missed += 1,
                (false, _) => tally.on_benign += 1,
            }
        }
        if line.ok != argv.ok {
            family.disagreements += 1;
            report.disagreements += 1;
            if show_lines {
                let _ = writeln!(
                    disagreeing,
                    "  [{}] {}\n    line -> {}\n    argv -> {}",
                    entry.family, entry.line, line.shown, argv.shown
                );
            }
        }
        if secret {
            report.secret_lines += 1;
            report.caught += u32::from(ok);
            if !ok && show_lines {
                let _ = writeln!(
                    misses,
                    "  [{}] {}\n    secrets {:?}\n    line -> {}\n    argv -> {}",
                    entry.family, entry.line, entry.secrets, line.shown, argv.shown
                );
            }
        } else {
            report.benign_lines += 1;
            report.benign_changed += u32::from(!ok);
            if !ok && show_lines {
                let _ = writeln!(
                    changed,
                    "  [{}] {}\n    line -> {}\n    argv -> {}",
                    entry.family, entry.line, line.shown, argv.shown
                );
            }
        }
    }

    let mut text = String::new();
    let text = &mut text;
    let _ = writeln!(text, "== {name}: {} lines ==", entries.len());
    let _ = writeln!(
        text,
        "{:<34} {:>6} {:>8} {:>8} {:>8} {:>9}",
        "family", "lines", "ok%", "line ok%", "argv ok%", "disagree"
    );
    for (family, tally) in &families {
        let kind = if tally.label == Some(true) {
            "recall"
        } else {
            "unchanged"
        };
        let _ = writeln!(
            text,
            "{:<34} {:>6} {:>7.1}% {:>7.1}% {:>7.1}% {:>9}  ({kind})",
            family,
            tally.lines,
            percent(tally.ok, tally.lines),
            percent(tally.line_ok, tally.lines),
            percent(tally.argv_ok, tally.lines),
            tally.disagreements
        );
    }
    let _ = writeln!(
        text,
        "{:<22} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "detector", "on caught", "on missed", "on benign", "precision", "share"
    );
    for (detector, tally) in &detectors {
        let right = tally.on_caught + tally.on_missed;
        let _ = writeln!(
            text,
            "{:<22} {:>10} {:>10} {:>10} {:>9.1}% {:>7.1}%",
            detector,
            tally.on_caught,
            tally.on_missed,
            tally.on_benign,
            percent(right, right + tally.on_benign),
            percent(tally.on_caught, report.caught),
        );
    }
    let _ = writeln!(
        text,
        "{name}: {} secret lines, {} caught (recall {:.2}%); {} benign lines, {} changed ({:.2}%); {} line/argv disagreements",
        report.secret_lines,
        report.caught,
        report.recall(),
        report.benign_lines,
        report.benign_changed,
        report.benign_changed_percent(),
        report.disagreements
    );
    if show_lines {
        for (title, body) in [
            ("missed secrets", &misses),
            ("benign lines changed", &changed),
            ("line and argv views disagree", &disagreeing),
        ] {
            if !body.is_empty() {
                let _ = writeln!(text, "-- {name}: {title}:\n{body}");
            }
        }
    }
    report.text = std::mem::take(text);
    report
}

fn check(name: &str, report: &Report, min_recall: f64, max_changed: f64, max_disagreeing: u32) {
    println!("{}", report.text);
    let mut failures = Vec::new();
    if report.recall() < min_recall {
        failures.push(format!("recall {:.2}% < {min_recall}%", report.recall()));
    }
    if report.benign_changed_percent() > max_changed {
        failures.push(format!(
            "benign lines changed {:.2}% > {max_changed}%",
            report.benign_changed_percent()
        ));
    }
    if report.disagreements > max_disagreeing {
        failures.push(format!(
            "{} lines where the line and argv views disagree",
            report.disagreements
        ));
    }
    assert!(
        failures.is_empty(),
        "{name} corpus: {} (the report above has the figures)",
        failures.join("; ")
    );
}

fn percent(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        100.0
    } else {
        f64::from(part) * 100.0 / f64::from(whole)
    }
}

#[test]
fn train_corpus_meets_the_targets() {
    let entries = load("train");
    assert!(entries.len() >= 1000, "train needs at least 1000 lines");
    let report = evaluate("train", &entries, true);
    check(
        "train",
        &report,
        TRAIN_MIN_RECALL,
        TRAIN_MAX_BENIGN_CHANGED,
        0,
    );
}

#[test]
fn heldout_corpus_holds_its_floor() {
    if std::env::var("SCRIM_CORPUS").as_deref() == Ok("train") {
        println!("SCRIM_CORPUS=train: held-out not evaluated");
        return;
    }
    let entries = load("heldout");
    assert!(entries.len() >= 1000, "held-out needs at least 1000 lines");
    let report = evaluate("heldout", &entries, false);
    println!(
        "heldout: recall {:.2}% against the target {HELDOUT_TARGET_RECALL}%",
        report.recall()
    );
    let lines = u32::try_from(entries.len()).unwrap_or(u32::MAX);
    check(
        "heldout",
        &report,
        HELDOUT_MIN_RECALL,
        HELDOUT_MAX_BENIGN_CHANGED,
        lines * HELDOUT_MAX_DISAGREEING_PER_MILLE / 1000,
    );
}

#[test]
fn corpus_is_large_and_balanced() {
    let train = load("train");
    let heldout = load("heldout");
    let all = train.len() + heldout.len();
    let secrets = train
        .iter()
        .chain(&heldout)
        .filter(|entry| entry.label == Label::Secret)
        .count();
    assert!(all >= 3000, "the corpus has {all} lines, fewer than 3000");
    assert!(
        all - secrets >= secrets,
        "fewer benign lines ({}) than secret ones ({secrets})",
        all - secrets
    );
    for entry in train.iter().chain(&heldout) {
        assert_eq!(
            entry.label == Label::Secret,
            !entry.secrets.is_empty(),
            "family {}: a secret line lists its secrets, a benign one none",
            entry.family
        );
        // Otherwise a secret would count as removed without ever having
        // been there.
        assert!(
            entry
                .secrets
                .iter()
                .all(|secret| entry.line.contains(secret.as_str())),
            "family {}: a listed secret is not verbatim in its line",
            entry.family
        );
    }
}
