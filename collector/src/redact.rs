//! `scrim redact`: the secret scrubber on stdin, one output line per input
//! line, with exactly the detectors the pipeline uses, so users can see
//! what `scrub_secrets` does to their own command lines.
use std::io::{self, BufRead as _, Write as _};

use scrim_redaction::{Detector, Scrubber};

pub fn run(list: bool) -> anyhow::Result<()> {
    if list {
        for detector in Detector::ALL {
            println!("{:<18} {}", detector.name(), detector.description());
        }
        return Ok(());
    }
    let scrubber = Scrubber::new();
    let stdin = io::stdin().lock();
    let mut stdout = io::BufWriter::new(io::stdout().lock());
    for line in stdin.lines() {
        let line = line?;
        writeln!(stdout, "{}", scrubber.scrub(&line))?;
    }
    stdout.flush()?;
    Ok(())
}
