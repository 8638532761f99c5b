//! The userspace half of a tenant's policy: what each exported record holds.
//!
//! A plan is compiled once per tenant and event kind into one step per
//! catalogued field, in the order events visit their fields, so applying it
//! walks two lists side by side: no lookup by name, and no allocation for
//! fixed-size values (integers, times, addresses, pseudonyms). Fields with no
//! step (no rule, or `drop`) have no column at all: privacy by default.
use std::{net::IpAddr, sync::Arc};

use scrim_event::{
    Event, EventKind, FieldValue, UnixNanos,
    field::{self, Field, FieldType},
    record::{Column, Record, RecordSchema},
};
use scrim_redaction::{PathGeneralizer, Pseudonymizer, Scrubber, coarsen, truncate_ip};

/// The column every exported record ends with: the BLAKE3 hash of the
/// policy file that produced it, in hex (what `b3sum FILE` prints).
pub const POLICY_HASH_COLUMN: Column = Column {
    name: "scrim.policy.hash",
    field_type: FieldType::String,
    nullable: false,
};

/// What happens to one field, compiled from its rule.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Step {
    Keep,
    Pseudonymize,
    Truncate { ipv4: u8, ipv6: u8 },
    Coarsen { granularity_nanos: i64 },
    Generalize(PathGeneralizer),
    ScrubSecrets,
}

impl Step {
    /// The type of the field's column once the step is applied:
    /// pseudonyms are text, whatever they replace.
    fn output_type(&self, input: FieldType) -> FieldType {
        match (self, input) {
            (Step::Pseudonymize, FieldType::IntList | FieldType::StringList) => {
                FieldType::StringList
            }
            (Step::Pseudonymize, _) => FieldType::String,
            _ => input,
        }
    }
}

/// One event kind's plan: the schema of its records and a step (or none)
/// per catalogued field of the kind.
#[derive(Debug)]
pub(crate) struct KindPlan {
    schema: Arc<RecordSchema>,
    steps: Vec<Option<Step>>,
    /// The coarsening of `time`, which partitions follow too.
    time_granularity_nanos: i64,
}

impl KindPlan {
    pub(crate) fn new(kind: EventKind, rules: &[(&'static Field, Step)]) -> Self {
        let mut columns = Vec::new();
        let steps = field::of_kind(kind)
            .map(|field| {
                let step = rules
                    .iter()
                    .find(|(ruled, _)| ruled.name == field.name)
                    .map(|(_, step)| step.clone());
                if let Some(step) = &step {
                    columns.push(Column {
                        name: field.name,
                        field_type: step.output_type(field.field_type),
                        nullable: !field.always_present,
                    });
                }
                step
            })
            .collect();
        columns.push(POLICY_HASH_COLUMN);
        let time_granularity_nanos = rules
            .iter()
            .find_map(|(field, step)| match step {
                Step::Coarsen { granularity_nanos } if field.name == field::TIME.name => {
                    Some(*granularity_nanos)
                }
                _ => None,
            })
            .unwrap_or(0);
        KindPlan {
            schema: Arc::new(RecordSchema { kind, columns }),
            steps,
            time_granularity_nanos,
        }
    }
}

/// One tenant's plans, ready to apply. Each collector thread that applies
/// plans has its own (pseudonymisers keep a per-epoch key cache).
pub struct RecordPlan {
    kinds: [Option<Arc<KindPlan>>; 3],
    pseudonymizer: Option<Pseudonymizer>,
    scrubber: Arc<Scrubber>,
    policy_hash: Arc<str>,
}

impl RecordPlan {
    pub(crate) fn new(
        kinds: [Option<Arc<KindPlan>>; 3],
        pseudonymizer: Option<Pseudonymizer>,
        scrubber: Arc<Scrubber>,
        policy_hash: Arc<str>,
    ) -> Self {
        RecordPlan {
            kinds,
            pseudonymizer,
            scrubber,
            policy_hash,
        }
    }

    /// The schema of this tenant's records of `kind`, if it captures the kind.
    pub fn schema(&self, kind: EventKind) -> Option<&Arc<RecordSchema>> {
        self.kinds[kind as usize].as_ref().map(|plan| &plan.schema)
    }

    /// The record `event` becomes for this tenant, or `None` when the tenant
    /// does not capture its kind (the policy drops it).
    pub fn apply<'a>(&'a mut self, event: &'a Event) -> Option<PlannedRecord<'a>> {
        let plan = self.kinds[event.kind() as usize].as_deref()?;
        Some(PlannedRecord {
            plan,
            event,
            pseudonymizer: self.pseudonymizer.as_mut(),
            scrubber: &self.scrubber,
            policy_hash: &self.policy_hash,
        })
    }
}

/// An event seen through its tenant's plan.
pub struct PlannedRecord<'a> {
    plan: &'a KindPlan,
    event: &'a Event,
    pseudonymizer: Option<&'a mut Pseudonymizer>,
    scrubber: &'a Scrubber,
    policy_hash: &'a str,
}

impl Record for PlannedRecord<'_> {
    fn schema(&self) -> &Arc<RecordSchema> {
        &self.plan.schema
    }

    fn partition_time(&self) -> UnixNanos {
        coarsen(self.event.time(), self.plan.time_granularity_nanos)
    }

    fn visit_columns(&mut self, column: &mut dyn FnMut(FieldValue<'_>)) {
        let mut steps = self.plan.steps.iter();
        let time = self.event.time();
        let scrubber = self.scrubber;
        let mut pseudonymizer = self.pseudonymizer.as_deref_mut();
        self.event.visit_fields(|field, value| {
            let Some(Some(step)) = steps.next() else {
                return;
            };
            match step {
                Step::Keep => column(value),
                Step::Pseudonymize => match pseudonymizer.as_deref_mut() {
                    Some(pseudonymizer) => pseudonymize(pseudonymizer, field, value, time, column),
                    // Compilation refuses pseudonymize without keys; if it
                    // ever got here, nothing leaves rather than the value.
                    None => column(FieldValue::Null),
                },
                Step::Truncate { ipv4, ipv6 } => column(match value {
                    FieldValue::Ip(address) => FieldValue::Ip(truncate_ip(address, *ipv4, *ipv6)),
                    _ => FieldValue::Null,
                }),
                Step::Coarsen { granularity_nanos } => column(match value {
                    FieldValue::Timestamp(at) => {
                        FieldValue::Timestamp(coarsen(at, *granularity_nanos))
                    }
                    _ => FieldValue::Null,
                }),
                Step::Generalize(generalizer) => match value {
                    FieldValue::String(path) => {
                        column(FieldValue::String(&generalizer.generalize(path)))
                    }
                    _ => column(FieldValue::Null),
                },
                Step::ScrubSecrets => match value {
                    FieldValue::String(text) => column(FieldValue::String(&scrubber.scrub(text))),
                    FieldValue::StringList(args) => match scrubber.scrub_args(args) {
                        Some(scrubbed) => column(FieldValue::StringList(&scrubbed)),
                        None => column(value),
                    },
                    _ => column(FieldValue::Null),
                },
            }
        });
        column(FieldValue::String(self.policy_hash));
    }
}

/// Writes the pseudonym of `value`: one for a scalar, one per element for
/// a list. Scalars hash their text form without allocating.
fn pseudonymize(
    pseudonymizer: &mut Pseudonymizer,
    field: &Field,
    value: FieldValue<'_>,
    at: UnixNanos,
    column: &mut dyn FnMut(FieldValue<'_>),
) {
    let name = field.name;
    match value {
        FieldValue::Int(number) => {
            column(FieldValue::String(
                pseudonymizer.pseudonymize_int(name, number, at).as_str(),
            ));
        }
        FieldValue::String(text) => column(FieldValue::String(
            pseudonymizer
                .pseudonymize(name, text.as_bytes(), at)
                .as_str(),
        )),
        FieldValue::Ip(address) => {
            let mut text = [0u8; 64];
            let len = ip_text(address, &mut text);
            column(FieldValue::String(
                pseudonymizer.pseudonymize(name, &text[..len], at).as_str(),
            ));
        }
        FieldValue::IntList(numbers) => {
            let pseudonyms: Vec<String> = numbers
                .iter()
                .map(|number| {
                    pseudonymizer
                        .pseudonymize_int(name, *number, at)
                        .to_string()
                })
                .collect();
            column(FieldValue::StringList(&pseudonyms));
        }
        FieldValue::StringList(texts) => {
            let pseudonyms: Vec<String> = texts
                .iter()
                .map(|text| {
                    pseudonymizer
                        .pseudonymize(name, text.as_bytes(), at)
                        .to_string()
                })
                .collect();
            column(FieldValue::StringList(&pseudonyms));
        }
        FieldValue::Null | FieldValue::Bool(_) | FieldValue::Timestamp(_) => {
            column(FieldValue::Null)
        }
    }
}

/// Formats an address into `buffer` (its usual text, as `scrim keys
/// pseudonym --value` takes it), returning the length.
fn ip_text(address: IpAddr, buffer: &mut [u8; 64]) -> usize {
    use std::io::Write as _;
    let mut cursor = std::io::Cursor::new(&mut buffer[..]);
    // 64 bytes hold any IPv6 text (at most 45).
    let _ = write!(cursor, "{address}");
    usize::try_from(cursor.position()).unwrap_or(0)
}
