//! scrim's OTLP sink: a tenant's records become spans (a process's life, a
//! TCP connection, with syscalls as span events), exported with
//! opentelemetry-otlp over gRPC or HTTP/protobuf; batches a backend does
//! not take wait in a bounded on-disk spool. Requests are made on a thread
//! of the sink's own, so an unreachable backend never holds up events.
mod assemble;
mod export;
mod sent;
mod shipper;
mod sink;
mod span;
mod spool;

use std::path::PathBuf;

pub use assemble::{INCOMPLETE, START_UNSEEN, SpanAssembler};
pub use export::{OtlpTarget, Protocol, Resources};
pub use sent::SentRecord;
pub use sink::{BackendNews, OtlpSink, OtlpStats};
pub use span::{Attribute, AttributeValue, Span, SpanEvent, SpanRole};
pub use spool::Spool;

/// Picks a subject's spans (see [`OtlpSink::erase`]).
pub type SpanMatch = dyn Fn(&Span) -> bool + Send + Sync;

#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("otlp: cannot start the exporter's runtime: {0}")]
    Runtime(String),

    #[error("otlp: cannot start the export thread: {0}")]
    Thread(String),

    #[error("otlp: the export thread has stopped")]
    ThreadStopped,

    #[error("otlp: header `{0}` is not a valid header name or value")]
    Header(String),

    #[error("otlp: cannot build the exporter: {0}")]
    Build(String),

    #[error("otlp: export failed: {0}")]
    Export(String),

    #[error("otlp: spool {path}: {source}")]
    Spool {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("otlp: no randomness for span ids: {0}")]
    Random(String),

    /// A spool file or directory that could not be made safely (a planted
    /// symlink, a full disk): the files error names the path.
    #[error("otlp: spool: {0}")]
    SpoolFile(scrim_files::FilesError),
}
