//! Standard output and error for the commands that print, written so that
//! a closed or broken stream never panics (`print!` and `eprintln!` do).
//!
//! A reader that closes its end early (`scrim policy schema | head -1`)
//! ends the command quietly: [`StdoutError::Closed`] carries no message,
//! and `main` turns it into [`CLOSED_STDOUT_STATUS`].
use std::{
    fmt,
    io::{self, Write as _},
};

/// The exit status when the reader of standard output went away: 141, what
/// a shell reports for `cat`, `grep` or `sed` stopped by SIGPIPE in the
/// same place. Not 0, because not everything was written (for `scrim
/// redact`, the rest of the input was never scrubbed), and a script under
/// `set -o pipefail` should see that as it sees it for any other filter;
/// and not a signal death, so scrim still ends as it chose (files closed,
/// nothing half-done) rather than wherever the signal landed.
pub const CLOSED_STDOUT_STATUS: u8 = 128 + libc::SIGPIPE as u8;

#[derive(Debug, thiserror::Error)]
pub enum StdoutError {
    /// The reader closed its end (EPIPE): not a failure of scrim's, so
    /// nothing is said about it.
    #[error("standard output: the reader closed it")]
    Closed,
    #[error("cannot write to standard output")]
    Failed(#[source] io::Error),
}

impl From<io::Error> for StdoutError {
    fn from(error: io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::BrokenPipe => StdoutError::Closed,
            _ => StdoutError::Failed(error),
        }
    }
}

/// Buffered standard output whose every write says whether it went out.
pub struct Stdout(io::BufWriter<io::StdoutLock<'static>>);

impl Stdout {
    pub fn lock() -> Self {
        Stdout(io::BufWriter::new(io::stdout().lock()))
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<(), StdoutError> {
        Ok(self.0.write_all(bytes)?)
    }

    pub fn line(&mut self, text: fmt::Arguments<'_>) -> Result<(), StdoutError> {
        Ok(writeln!(self.0, "{text}")?)
    }

    /// Flushes what is buffered: a write error of the last bytes shows
    /// here, not in a drop that would swallow it.
    pub fn finish(mut self) -> Result<(), StdoutError> {
        Ok(self.0.flush()?)
    }
}

/// Writes `text` to standard output in full.
pub fn print(text: &str) -> Result<(), StdoutError> {
    let mut stdout = Stdout::lock();
    stdout.write(text.as_bytes())?;
    stdout.finish()
}

/// Writes one line to standard error, or nothing if it is closed or
/// broken: what a command has to say then has nowhere to go, and is no
/// reason to panic or to change the command's outcome.
pub fn say(text: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}
