//! `scrim redact`: the secret scrubber on stdin, one output line per input
//! line, with exactly the detectors the pipeline uses, so users can see
//! what `scrub_secrets` does to their own command lines.
//!
//! Input is read as bytes, whatever it holds: a log with one stray Latin-1
//! byte or a Windows line ending is still scrubbed line for line, never cut
//! short at the first surprise.
use std::io::{self, BufRead as _};

use anyhow::Context as _;
use scrim_redaction::{Detector, Scrubber};

use crate::stdio::{self, Stdout};

pub fn run(list: bool) -> anyhow::Result<()> {
    let mut stdout = Stdout::lock();
    if list {
        for detector in Detector::ALL {
            stdout.line(format_args!(
                "{:<18} {}",
                detector.name(),
                detector.description()
            ))?;
        }
        return Ok(stdout.finish()?);
    }
    let scrubber = Scrubber::new();
    let mut stdin = io::stdin().lock();
    let mut line = Vec::new();
    let (mut lines, mut not_utf8) = (0u64, NotUtf8::default());
    loop {
        line.clear();
        let read = stdin
            .read_until(b'\n', &mut line)
            .context("cannot read standard input")?;
        if read == 0 {
            break;
        }
        lines += 1;
        let (text, ending) = split_ending(&line);
        match std::str::from_utf8(text) {
            Ok(text) => stdout.write(scrubber.scrub(text).as_bytes())?,
            Err(_) => {
                let decoded = not_utf8.decode(text);
                stdout.write(scrubber.scrub(&decoded).as_bytes())?;
            }
        }
        stdout.write(ending)?;
    }
    stdout.finish()?;
    if not_utf8.lines > 0 {
        stdio::say(format_args!(
            "scrim redact: {} of {lines} lines held bytes that are not UTF-8 ({} sequences); \
             each such sequence became U+FFFD before the line was scrubbed",
            not_utf8.lines, not_utf8.sequences
        ));
    }
    Ok(())
}

/// A line's text and its ending, `\n`, `\r\n` or nothing (a last line
/// without newline), so that the ending goes out as it came in and a `\r`
/// is never taken for part of a secret.
fn split_ending(line: &[u8]) -> (&[u8], &[u8]) {
    let text = line.strip_suffix(b"\n").unwrap_or(line);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    line.split_at(text.len())
}

/// Lines that were not UTF-8, and how many invalid byte sequences they
/// held: what the user is told was changed beyond scrubbing.
#[derive(Default)]
struct NotUtf8 {
    lines: u64,
    sequences: u64,
}

impl NotUtf8 {
    /// `text` with each invalid sequence replaced by U+FFFD and every
    /// valid character kept, counted. The scrubber's detectors work on
    /// characters; a secret with a stray byte inside is still one run of
    /// non-space characters, and is scrubbed whole.
    fn decode(&mut self, text: &[u8]) -> String {
        self.lines += 1;
        let mut decoded = String::with_capacity(text.len() + 2);
        for chunk in text.utf8_chunks() {
            decoded.push_str(chunk.valid());
            if !chunk.invalid().is_empty() {
                self.sequences += 1;
                decoded.push(char::REPLACEMENT_CHARACTER);
            }
        }
        decoded
    }
}
