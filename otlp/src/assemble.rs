//! Events become spans: a process's life (exec to exit) is a span whose
//! parent is its parent process's span; a TCP connection (connect or accept
//! to close) is a span under its process; syscalls, forks and re-execs are
//! events of the process's span.
//!
//! Spans carry the record's columns, never more: correlation uses the raw
//! event (pids, connection ends) inside scrim only, and span and trace ids
//! are keyed hashes with a key that lives for one run, so they link nothing
//! outside it. Times come from the record, so a coarsened `time` coarsens
//! the spans too.
use std::collections::HashMap;

use scrim_event::{
    Direction, Event, NetworkEventKind, ProcessContext, ProcessEventKind, SocketAddress, UnixNanos,
    record::Record,
};

use crate::span::{
    Attribute, AttributeValue, RecordAttributes, Span, SpanEvent, SpanRole, TextCache,
};

/// Open spans beyond this are completed early (oldest first): exits lost
/// in the kernel must not grow memory without bound.
const MAX_OPEN_SPANS: usize = 65_536;

/// The attribute marking a span exported before it ended (at shutdown) or
/// whose start was not seen.
pub const INCOMPLETE: &str = "scrim.span.incomplete";
pub const START_UNSEEN: &str = "scrim.span.start_unseen";

struct OpenProcess {
    span: Span,
    last_seen: UnixNanos,
}

#[derive(Clone, Copy, Hash, PartialEq, Eq)]
struct ConnectionKey {
    pid: u32,
    local: Option<SocketAddress>,
    peer: Option<SocketAddress>,
}

struct OpenConnection {
    span: Span,
}

pub struct SpanAssembler {
    ids: SpanIds,
    processes: HashMap<u32, OpenProcess>,
    connections: HashMap<ConnectionKey, OpenConnection>,
    texts: TextCache,
}

impl SpanAssembler {
    /// `id_key` keys span and trace ids; use a fresh random one per run.
    pub fn new(id_key: [u8; 32]) -> Self {
        SpanAssembler {
            ids: SpanIds { key: id_key },
            processes: HashMap::new(),
            connections: HashMap::new(),
            texts: TextCache::new(),
        }
    }

    /// Spans begun and not yet ended.
    pub fn open_spans(&self) -> usize {
        self.processes.len() + self.connections.len()
    }

    /// The open spans `matches` picks, as they stand.
    pub fn open_matching(&self, matches: &dyn Fn(&Span) -> bool) -> Vec<Span> {
        let processes = self.processes.values().map(|open| &open.span);
        let connections = self.connections.values().map(|open| &open.span);
        processes
            .chain(connections)
            .filter(|span| matches(span))
            .cloned()
            .collect()
    }

    /// Forgets the open spans `matches` picks (a subject's erasure): what
    /// their processes and connections do next begins a new span, marked
    /// [`START_UNSEEN`]. Returns how many were forgotten.
    pub fn forget(&mut self, matches: &dyn Fn(&Span) -> bool) -> u64 {
        let before = self.open_spans();
        self.processes.retain(|_, open| !matches(&open.span));
        self.connections.retain(|_, open| !matches(&open.span));
        (before - self.open_spans()) as u64
    }

    /// Takes one event and the record its tenant's policy made of it;
    /// pushes the spans it completes onto `done`. A record without `time`
    /// cannot be placed in time and is skipped (policies with OTLP sinks
    /// must keep or coarsen `time`).
    pub fn observe(&mut self, event: &Event, record: &mut dyn Record, done: &mut Vec<Span>) {
        let found = RecordAttributes::of(record, &mut self.texts);
        let Some(time) = found.time else {
            return;
        };
        let context = event.process();
        match event {
            Event::Process(process) => match process.kind {
                ProcessEventKind::Exec => self.exec(context, time, found),
                ProcessEventKind::Fork => {
                    if let Some(parent) = self.processes.get_mut(&context.parent_pid) {
                        parent.last_seen = time;
                        parent.span.events.push(SpanEvent {
                            name: "process.fork".into(),
                            time,
                            attributes: found.attributes,
                        });
                    }
                }
                ProcessEventKind::Exit => {
                    let mut open = match self.processes.remove(&context.pid) {
                        Some(open) => open,
                        None => {
                            let parent = self.parent_of(context);
                            unseen_process(&self.ids, parent, context, time, &found)
                        }
                    };
                    open.span.end = time.max(open.span.start);
                    merge(&mut open.span.attributes, found.attributes);
                    done.push(open.span);
                }
            },
            Event::Syscall(_) => {
                let process = self.process_span(context, time, &found);
                process.span.events.push(SpanEvent {
                    name: "syscall".into(),
                    time,
                    attributes: found.attributes,
                });
            }
            Event::Network(network) => {
                let key = ConnectionKey {
                    pid: context.pid,
                    local: network.local,
                    peer: network.peer,
                };
                let role = match network.direction {
                    Direction::Outbound => SpanRole::OutboundConnection,
                    Direction::Inbound => SpanRole::InboundConnection,
                };
                match network.kind {
                    NetworkEventKind::Connect | NetworkEventKind::Accept => {
                        let span = self.connection_span(context, role, time, time, &found);
                        self.connections.insert(key, OpenConnection { span });
                    }
                    NetworkEventKind::ConnectFailed => {
                        let process = self.process_span(context, time, &found);
                        process.span.events.push(SpanEvent {
                            name: "tcp.connect_failed".into(),
                            time,
                            attributes: found.attributes,
                        });
                    }
                    NetworkEventKind::Close => {
                        let mut span = match self.connections.remove(&key) {
                            Some(open) => open.span,
                            None => {
                                // Opened before capture began: its start is
                                // known only if the policy lets the
                                // duration out.
                                let start = found.duration.map_or(time, |nanos| time - nanos);
                                self.connection_span(context, role, start, time, &found)
                            }
                        };
                        span.end = time.max(span.start);
                        merge(&mut span.attributes, found.attributes);
                        done.push(span);
                    }
                }
            }
        }
        if self.open_spans() > MAX_OPEN_SPANS {
            self.complete_oldest(done);
        }
    }

    /// Completes every open span with what is known (its last event), as
    /// at shutdown; each is marked [`INCOMPLETE`].
    pub fn finish(&mut self, done: &mut Vec<Span>) {
        for (_, open) in self.connections.drain() {
            done.push(incomplete(open.span, None));
        }
        for (_, open) in self.processes.drain() {
            done.push(incomplete(open.span, Some(open.last_seen)));
        }
    }

    fn exec(&mut self, context: &ProcessContext, time: UnixNanos, found: RecordAttributes) {
        if let Some(open) = self.processes.get_mut(&context.pid) {
            // A second exec of the same process: one life, one span.
            open.last_seen = time;
            open.span.events.push(SpanEvent {
                name: "process.exec".into(),
                time,
                attributes: found.attributes,
            });
            return;
        }
        let parent = self.parent_of(context);
        let span = Span {
            trace_id: parent.map_or_else(|| self.ids.trace_id(context), |(trace, _)| trace),
            span_id: self.ids.span_id(context, SpanRole::Process, 0),
            parent_span_id: parent.map(|(_, span)| span),
            name: process_name(&found),
            role: SpanRole::Process,
            start: time,
            end: time,
            attributes: found.attributes,
            events: Vec::new(),
            cgroup_id: context.cgroup_id,
        };
        self.processes.insert(
            context.pid,
            OpenProcess {
                span,
                last_seen: time,
            },
        );
    }

    /// The trace and span ids of a process's parent, if its span is open.
    fn parent_of(&self, context: &ProcessContext) -> Option<([u8; 16], [u8; 8])> {
        self.processes
            .get(&context.parent_pid)
            .map(|parent| (parent.span.trace_id, parent.span.span_id))
    }

    /// The open span of the event's process, begun now if its exec was
    /// not seen.
    fn process_span(
        &mut self,
        context: &ProcessContext,
        time: UnixNanos,
        found: &RecordAttributes,
    ) -> &mut OpenProcess {
        let parent = self.parent_of(context);
        let ids = &self.ids;
        let open = self
            .processes
            .entry(context.pid)
            .or_insert_with(|| unseen_process(ids, parent, context, time, found));
        open.last_seen = time;
        open
    }

    fn connection_span(
        &mut self,
        context: &ProcessContext,
        role: SpanRole,
        start: UnixNanos,
        time: UnixNanos,
        found: &RecordAttributes,
    ) -> Span {
        let process = self.process_span(context, time, found);
        let (trace_id, parent) = (process.span.trace_id, process.span.span_id);
        Span {
            trace_id,
            span_id: self.ids.span_id(context, role, start),
            parent_span_id: Some(parent),
            name: match role {
                SpanRole::InboundConnection => "tcp.accept",
                _ => "tcp.connect",
            }
            .into(),
            role,
            start,
            end: time,
            attributes: found.attributes.clone(),
            events: Vec::new(),
            cgroup_id: context.cgroup_id,
        }
    }

    fn complete_oldest(&mut self, done: &mut Vec<Span>) {
        let mut by_age: Vec<(UnixNanos, u32)> = self
            .processes
            .iter()
            .map(|(pid, open)| (open.last_seen, *pid))
            .collect();
        by_age.sort_unstable();
        for (_, pid) in by_age.iter().take(by_age.len() / 2) {
            if let Some(open) = self.processes.remove(pid) {
                done.push(incomplete(open.span, Some(open.last_seen)));
            }
        }
    }
}

/// Span and trace ids: keyed hashes of the process's identity, with a key
/// that lives for one run.
struct SpanIds {
    key: [u8; 32],
}

impl SpanIds {
    fn trace_id(&self, context: &ProcessContext) -> [u8; 16] {
        let hash = self.keyed(b"trace", context, 0, 0);
        let mut id = [0; 16];
        id.copy_from_slice(&hash[..16]);
        id
    }

    fn span_id(&self, context: &ProcessContext, role: SpanRole, start: UnixNanos) -> [u8; 8] {
        let hash = self.keyed(b"span", context, role as u8, start);
        let mut id = [0; 8];
        id.copy_from_slice(&hash[..8]);
        id
    }

    fn keyed(&self, what: &[u8], context: &ProcessContext, role: u8, start: i64) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new_keyed(&self.key);
        hasher.update(what);
        hasher.update(&context.pid.to_le_bytes());
        hasher.update(&context.creation_time.to_le_bytes());
        hasher.update(&[role]);
        hasher.update(&start.to_le_bytes());
        *hasher.finalize().as_bytes()
    }
}

/// The span of a process whose exec was not seen (it started before
/// capture, or never exec'd): it starts at the process's creation if the
/// policy lets that out, else at this event.
fn unseen_process(
    ids: &SpanIds,
    parent: Option<([u8; 16], [u8; 8])>,
    context: &ProcessContext,
    time: UnixNanos,
    found: &RecordAttributes,
) -> OpenProcess {
    let start = found.creation_time.unwrap_or(time).min(time);
    OpenProcess {
        span: Span {
            trace_id: parent.map_or_else(|| ids.trace_id(context), |(trace, _)| trace),
            span_id: ids.span_id(context, SpanRole::Process, 0),
            parent_span_id: parent.map(|(_, span)| span),
            name: process_name(found),
            role: SpanRole::Process,
            start,
            end: time,
            attributes: vec![Attribute {
                key: START_UNSEEN.into(),
                value: AttributeValue::Bool(true),
            }],
            events: Vec::new(),
            cgroup_id: context.cgroup_id,
        },
        last_seen: time,
    }
}

/// A span without its end: ends at its last event, marked incomplete.
fn incomplete(mut span: Span, last_seen: Option<UnixNanos>) -> Span {
    span.end = last_seen.unwrap_or(span.end).max(span.start);
    span.attributes.push(Attribute {
        key: INCOMPLETE.into(),
        value: AttributeValue::Bool(true),
    });
    span
}

/// Adds the attributes the span does not have yet (an exit's code, a
/// close's byte counts).
fn merge(attributes: &mut Vec<Attribute>, more: Vec<Attribute>) {
    for attribute in more {
        if !attributes.iter().any(|known| known.key == attribute.key) {
            attributes.push(attribute);
        }
    }
}

/// A process span's name: the executable's name if the policy lets it
/// out, else a constant.
fn process_name(found: &RecordAttributes) -> String {
    found
        .executable_name
        .as_deref()
        .unwrap_or("process")
        .to_owned()
}
