//! What sinks write: records of a known schema.
//!
//! An [`Event`] holds everything the kernel delivered; a record is what
//! leaves for one tenant after its policy is applied, so its schema depends
//! on the policy (a pseudonymised uid is text, a field no rule keeps has no
//! column). Sinks write any [`Record`] through its [`RecordSchema`], and
//! never see fields the schema lacks.
use std::sync::{Arc, OnceLock};

use crate::{
    Event, EventKind, FieldValue, UnixNanos,
    field::{self, FieldType},
};

/// One column of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub field_type: FieldType,
    pub nullable: bool,
}

/// The columns of one kind of record, in the order records visit them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordSchema {
    pub kind: EventKind,
    pub columns: Vec<Column>,
}

impl RecordSchema {
    /// Every catalogued field of `kind`, as the kernel delivers it.
    pub fn catalogue(kind: EventKind) -> Self {
        RecordSchema {
            kind,
            columns: field::of_kind(kind)
                .map(|field| Column {
                    name: field.name,
                    field_type: field.field_type,
                    nullable: !field.always_present,
                })
                .collect(),
        }
    }
}

/// A row for a sink.
pub trait Record {
    fn schema(&self) -> &Arc<RecordSchema>;
    /// The time that places it in an hourly partition (and so decides when
    /// retention removes it).
    fn partition_time(&self) -> UnixNanos;
    /// Calls `column` once per column of [`Record::schema`], in order.
    /// Values may borrow from the record or from the call itself.
    fn visit_columns(&mut self, column: &mut dyn FnMut(FieldValue<'_>));
}

/// An event written as it is: every catalogued field. For tests and tools
/// that look at raw captures; the collector only writes policy records.
pub struct UnfilteredEvent<'a>(pub &'a Event);

impl Record for UnfilteredEvent<'_> {
    fn schema(&self) -> &Arc<RecordSchema> {
        static SCHEMAS: OnceLock<[Arc<RecordSchema>; 3]> = OnceLock::new();
        let schemas = SCHEMAS
            .get_or_init(|| EventKind::ALL.map(|kind| Arc::new(RecordSchema::catalogue(kind))));
        &schemas[self.0.kind() as usize]
    }

    fn partition_time(&self) -> UnixNanos {
        self.0.time()
    }

    fn visit_columns(&mut self, column: &mut dyn FnMut(FieldValue<'_>)) {
        self.0.visit_fields(|_, value| column(value));
    }
}
