//! The spans scrim exports, in a form of its own: small, owned, and
//! serialisable, so that a batch a backend refused can wait in the spool
//! and be sent as it was.
use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use scrim_event::{FieldValue, UnixNanos, record::Record, time::UtcDateTime};

/// One attribute of a span or span event: a record's column. Keys are
/// catalogue names, borrowed; only a spooled batch read back owns them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub key: Cow<'static, str>,
    pub value: AttributeValue,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AttributeValue {
    Int(i64),
    Bool(bool),
    Text(String),
    Ints(Vec<i64>),
    Texts(Vec<String>),
}

/// What a span stands for; decides its OTLP kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpanRole {
    /// A process's life, exec to exit.
    Process,
    /// A TCP connection this node opened.
    OutboundConnection,
    /// A TCP connection this node accepted.
    InboundConnection,
}

/// Something that happened during a span: a syscall, a fork, a re-exec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpanEvent {
    pub name: String,
    pub time: UnixNanos,
    pub attributes: Vec<Attribute>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    pub name: String,
    pub role: SpanRole,
    pub start: UnixNanos,
    pub end: UnixNanos,
    pub attributes: Vec<Attribute>,
    pub events: Vec<SpanEvent>,
    /// The cgroup whose workload the span belongs to: its resource.
    pub cgroup_id: u64,
}

/// A record's columns, as attributes, and the values spans are timed by.
pub(crate) struct RecordAttributes {
    pub attributes: Vec<Attribute>,
    /// The record's `time`, as the policy left it (coarsened, perhaps).
    pub time: Option<UnixNanos>,
    /// `scrim.network.duration`, if the policy lets it out.
    pub duration: Option<i64>,
    /// `process.creation.time`, if the policy lets it out.
    pub creation_time: Option<UnixNanos>,
    /// `process.executable.name`, if the policy lets it out.
    pub executable_name: Option<String>,
}

impl RecordAttributes {
    /// Every column with a value. Spans carry exactly what the record
    /// carries, so an OTLP backend sees no more than the archive does.
    pub fn of(record: &mut dyn Record) -> Self {
        let schema = std::sync::Arc::clone(record.schema());
        let mut columns = schema.columns.iter();
        let mut found = RecordAttributes {
            attributes: Vec::with_capacity(schema.columns.len()),
            time: None,
            duration: None,
            creation_time: None,
            executable_name: None,
        };
        record.visit_columns(&mut |value| {
            let Some(column) = columns.next() else {
                return;
            };
            match (column.name, value) {
                ("time", FieldValue::Timestamp(time)) => found.time = Some(time),
                ("scrim.network.duration", FieldValue::Int(nanos)) => found.duration = Some(nanos),
                ("process.creation.time", FieldValue::Timestamp(time)) => {
                    found.creation_time = Some(time)
                }
                ("process.executable.name", FieldValue::String(name)) => {
                    found.executable_name = Some(name.to_owned())
                }
                _ => {}
            }
            let value = match value {
                FieldValue::Null => return,
                FieldValue::Int(number) => AttributeValue::Int(number),
                FieldValue::Bool(flag) => AttributeValue::Bool(flag),
                FieldValue::String(text) => AttributeValue::Text(text.to_owned()),
                FieldValue::StringList(texts) => AttributeValue::Texts(texts.to_vec()),
                FieldValue::IntList(numbers) => AttributeValue::Ints(numbers.to_vec()),
                FieldValue::Ip(address) => AttributeValue::Text(address.to_string()),
                FieldValue::Timestamp(time) => {
                    AttributeValue::Text(UtcDateTime::from_unix_nanos(time).rfc3339())
                }
            };
            found.attributes.push(Attribute {
                key: Cow::Borrowed(column.name),
                value,
            });
        });
        found
    }
}
