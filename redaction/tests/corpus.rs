//! The scrubber against a labelled corpus (`corpus.tsv` beside this file):
//! command lines with secrets of every kind the detectors name, and benign
//! look-alikes (hashes, commit ids, UUIDs, base64 images, long paths,
//! secret *files* and prompts rather than secrets). Prints precision and
//! recall per detector; fails below 99% recall or above 1% false positives
//! on benign lines.
use std::collections::BTreeMap;

use scrim_redaction::{Detector, Scrubber};

struct Labelled<'a> {
    label: &'a str,
    secret: &'a str,
    line: &'a str,
}

fn corpus() -> Vec<Labelled<'static>> {
    include_str!("corpus.tsv")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|row| {
            let mut columns = row.splitn(3, '\t');
            let (Some(label), Some(secret), Some(line)) =
                (columns.next(), columns.next(), columns.next())
            else {
                panic!("corpus row without three columns: {row:?}");
            };
            Labelled {
                label,
                secret,
                line,
            }
        })
        .collect()
}

#[derive(Default)]
struct Tally {
    /// Secret lines of this detector's label whose secret is gone.
    caught: u32,
    missed: u32,
    /// Lines where this detector fired: rightly (a secret line of its
    /// label) or not (a benign line).
    fired_rightly: u32,
    fired_wrongly: u32,
}

#[test]
fn scrubs_the_labelled_corpus_with_high_recall_and_few_false_positives() {
    let scrubber = Scrubber::new();
    let corpus = corpus();
    assert!(corpus.len() >= 300, "the corpus needs at least 300 lines");
    let labels: Vec<&str> = Detector::ALL
        .iter()
        .map(|detector| detector.name())
        .collect();
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut benign = 0u32;
    let mut benign_changed = Vec::new();
    let mut misses = Vec::new();
    for entry in &corpus {
        let scrubbed = scrubber.scrub(entry.line);
        let fired: Vec<&str> = labels
            .iter()
            .copied()
            .filter(|name| scrubbed.contains(&format!("[REDACTED:{name}]")))
            .collect();
        if entry.label == "benign" {
            benign += 1;
            if scrubbed != entry.line {
                benign_changed.push(format!("{}\n    -> {scrubbed}", entry.line));
            }
            for name in fired {
                tallies.entry(name).or_default().fired_wrongly += 1;
            }
            continue;
        }
        assert!(
            labels.contains(&entry.label),
            "unknown label {}",
            entry.label
        );
        let tally = tallies.entry(entry.label).or_default();
        if scrubbed.contains(entry.secret) {
            tally.missed += 1;
            misses.push(format!(
                "{}: {}\n    -> {scrubbed}",
                entry.label, entry.line
            ));
        } else {
            tally.caught += 1;
        }
        if fired.contains(&entry.label) {
            tally.fired_rightly += 1;
        }
    }

    println!("detector            lines  recall  precision");
    let (mut caught, mut secrets) = (0, 0);
    for name in &labels {
        let tally = tallies.entry(name).or_default();
        let lines = tally.caught + tally.missed;
        caught += tally.caught;
        secrets += lines;
        let recall = percent(tally.caught, lines);
        let precision = percent(
            tally.fired_rightly,
            tally.fired_rightly + tally.fired_wrongly,
        );
        println!("{name:<18} {lines:>6}  {recall:>5.1}%  {precision:>8.1}%");
    }
    let recall = percent(caught, secrets);
    let false_positives = percent(benign_changed.len() as u32, benign);
    println!(
        "all: {secrets} secret lines, recall {recall:.1}%; {benign} benign lines, {} changed ({false_positives:.1}%)",
        benign_changed.len()
    );
    assert!(
        recall >= 99.0,
        "recall {recall:.1}% < 99%; missed:\n{}",
        misses.join("\n")
    );
    assert!(
        false_positives <= 1.0,
        "false positives {false_positives:.1}% > 1%:\n{}",
        benign_changed.join("\n")
    );
}

fn percent(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        100.0
    } else {
        f64::from(part) * 100.0 / f64::from(whole)
    }
}
