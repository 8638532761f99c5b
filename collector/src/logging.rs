//! What `scrim run` says while it runs, through `tracing`: one plain line
//! per event for a terminal (`scrim: ...`), or one JSON object per event
//! for a cluster's log pipeline, with the counts as fields.
//!
//! A log line that cannot be written (stderr closed, a log pipe or
//! journald's socket gone) is counted and dropped: capture goes on, and
//! the count is in the metrics (`scrim_log_lines_unwritten_total`).
use std::{
    fmt, io,
    sync::atomic::{AtomicU64, Ordering},
};

use clap::ValueEnum;
use tracing::{Event, Level, Subscriber, field::Field};
use tracing_subscriber::{
    filter::Targets,
    fmt::MakeWriter,
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    layer::SubscriberExt as _,
    registry::LookupSpan,
    util::SubscriberInitExt as _,
};

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum LogFormat {
    /// `scrim: message`, for a terminal.
    #[default]
    Text,
    /// One JSON object per line, with a timestamp, level and fields.
    Json,
}

/// How much scrim says.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum LogLevel {
    /// Start, reloads, summaries, problems.
    #[default]
    Info,
    /// Also each cgroup's placement (tenant, rule) and each pod change.
    Debug,
}

/// Installs the logger for the rest of the process. `Debug` is scrim's
/// own: the libraries it uses (the Kubernetes client, HTTP) stay at info,
/// or their request-by-request lines would drown the placements.
pub fn init(format: LogFormat, level: LogLevel) -> anyhow::Result<()> {
    let scrim_level = match level {
        LogLevel::Info => Level::INFO,
        LogLevel::Debug => Level::DEBUG,
    };
    let targets = Targets::new()
        .with_default(Level::INFO)
        .with_target(env!("CARGO_CRATE_NAME"), scrim_level);
    let builder = tracing_subscriber::fmt()
        .with_writer(Stderr)
        // Its report of a failed write goes by `eprintln!`, which panics
        // on the very stderr that failed; `Stderr` never fails anyway.
        .log_internal_errors(false)
        .with_max_level(scrim_level);
    let installed = match format {
        LogFormat::Text => builder
            .event_format(PlainLines)
            .finish()
            .with(targets)
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .finish()
            .with(targets)
            .try_init(),
    };
    installed.map_err(|error| anyhow::anyhow!("cannot set up logging: {error}"))
}

/// Log lines stderr did not take, since the start.
static UNWRITTEN: AtomicU64 = AtomicU64::new(0);

/// How many log lines could not be written to stderr.
pub fn unwritten_lines() -> u64 {
    UNWRITTEN.load(Ordering::Relaxed)
}

/// Standard error as the logger's writer: each event arrives formatted in
/// one `write`, which always succeeds; what stderr refused is counted in
/// [`UNWRITTEN`].
struct Stderr;

impl MakeWriter<'_> for Stderr {
    type Writer = Stderr;

    fn make_writer(&self) -> Stderr {
        Stderr
    }
}

impl io::Write for Stderr {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        if io::stderr().lock().write_all(line).is_err() {
            UNWRITTEN.fetch_add(1, Ordering::Relaxed);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `scrim: ` and the message; fields go to JSON only, where they are
/// data rather than noise.
struct PlainLines;

impl<S, N> FormatEvent<S, N> for PlainLines
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    N: for<'writer> FormatFields<'writer> + 'static,
{
    fn format_event(
        &self,
        _context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut message = MessageOnly(String::new());
        event.record(&mut message);
        let level = match *event.metadata().level() {
            Level::ERROR => "error: ",
            Level::WARN => "warning: ",
            _ => "",
        };
        writeln!(writer, "scrim: {level}{}", message.0)
    }
}

struct MessageOnly(String);

impl tracing::field::Visit for MessageOnly {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_owned();
        }
    }
}
