//! The spans scrim exports, in a form of its own: small, owned, and
//! serialisable, so that a batch a backend refused can wait in the spool
//! and be sent as it was.
use std::{borrow::Cow, sync::Arc};

use serde::{Deserialize, Serialize};

use scrim_event::{FieldValue, UnixNanos, record::Record};

/// One attribute of a span or span event: a record's column. Keys are
/// catalogue names, borrowed; only a spooled batch read back owns them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub key: Cow<'static, str>,
    pub value: AttributeValue,
}

/// Texts are shared (`Arc<str>`): a span's attributes go to the exporter
/// without being copied, and a text seen recently (an executable's path,
/// an event name) is not allocated again ([`TextCache`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AttributeValue {
    Int(i64),
    Bool(bool),
    Text(Arc<str>),
    Ints(Vec<i64>),
    Texts(Vec<Arc<str>>),
    /// A timestamp column, in Unix nanoseconds; sent as RFC 3339 text,
    /// formatted only for what is exported.
    Time(UnixNanos),
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
    pub executable_name: Option<Arc<str>>,
}

impl RecordAttributes {
    /// Every column with a value. Spans carry exactly what the record
    /// carries, so an OTLP backend sees no more than the archive does.
    pub fn of(record: &mut dyn Record, texts: &mut TextCache) -> Self {
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
                _ => {}
            }
            let value = match value {
                FieldValue::Null => return,
                FieldValue::Int(number) => AttributeValue::Int(number),
                FieldValue::Bool(flag) => AttributeValue::Bool(flag),
                FieldValue::String(text) => {
                    let text = texts.get(text);
                    if column.name == "process.executable.name" {
                        found.executable_name = Some(Arc::clone(&text));
                    }
                    AttributeValue::Text(text)
                }
                FieldValue::StringList(list) => {
                    AttributeValue::Texts(list.iter().map(|text| texts.get(text)).collect())
                }
                FieldValue::IntList(numbers) => AttributeValue::Ints(numbers.to_vec()),
                FieldValue::Ip(address) => AttributeValue::Text(address.to_string().into()),
                FieldValue::Timestamp(time) => AttributeValue::Time(time),
            };
            found.attributes.push(Attribute {
                key: Cow::Borrowed(column.name),
                value,
            });
        });
        found
    }
}

/// Texts seen recently, shared rather than allocated again: most text
/// values repeat (the same executables, paths and event names), and each
/// becomes an attribute of a span. Direct-mapped by hash; a collision
/// replaces the older text.
pub struct TextCache {
    slots: Vec<Option<Arc<str>>>,
}

impl TextCache {
    const SLOTS: usize = 1024;
    /// Longer texts (command lines, long paths) rarely repeat exactly.
    const LONGEST: usize = 256;

    pub fn new() -> Self {
        TextCache {
            slots: vec![None; Self::SLOTS],
        }
    }

    /// `text`, shared with the last one like it if it is still cached.
    pub fn get(&mut self, text: &str) -> Arc<str> {
        if text.len() > Self::LONGEST {
            return Arc::from(text);
        }
        // FNV-1a: short texts, no need for a keyed hash.
        let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        let slot = &mut self.slots[(hash as usize) & (Self::SLOTS - 1)];
        match slot {
            Some(cached) if **cached == *text => Arc::clone(cached),
            _ => {
                let shared: Arc<str> = Arc::from(text);
                *slot = Some(Arc::clone(&shared));
                shared
            }
        }
    }
}

impl Default for TextCache {
    fn default() -> Self {
        Self::new()
    }
}
