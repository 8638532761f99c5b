//! JSON lines: one object per record, keys in column order, absent fields
//! left out, timestamps in RFC 3339. Meant for reading with `jq` while
//! debugging a policy, not for archives of any size.
use std::{
    fs::File,
    io::{BufWriter, Write as _},
    path::PathBuf,
};

use scrim_event::{FieldValue, record::Record, time::UtcDateTime};

use crate::{SinkError, archive::PartitionWriter};

pub(crate) struct JsonLinesFile {
    path: PathBuf,
    writer: BufWriter<File>,
    line: Vec<u8>,
    written: u64,
}

impl JsonLinesFile {
    pub(crate) fn new(path: PathBuf, file: File) -> Self {
        JsonLinesFile {
            path,
            writer: BufWriter::new(file),
            line: Vec::with_capacity(512),
            written: 0,
        }
    }

    fn io_error(&self, source: std::io::Error) -> SinkError {
        SinkError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

/// Appends `record` as one JSON object and a newline.
fn encode(record: &mut dyn Record, line: &mut Vec<u8>) -> serde_json::Result<()> {
    line.push(b'{');
    let schema = std::sync::Arc::clone(record.schema());
    let mut names = schema.columns.iter().map(|column| column.name);
    let mut first = true;
    let mut outcome = Ok(());
    record.visit_columns(&mut |value| {
        let Some(name) = names.next() else {
            return;
        };
        if outcome.is_err() || value == FieldValue::Null {
            return;
        }
        if !first {
            line.push(b',');
        }
        first = false;
        outcome = serde_json::to_writer(&mut *line, name).and_then(|()| {
            line.push(b':');
            match value {
                FieldValue::Null => Ok(()),
                FieldValue::Int(value) => serde_json::to_writer(&mut *line, &value),
                FieldValue::Bool(value) => serde_json::to_writer(&mut *line, &value),
                FieldValue::String(value) => serde_json::to_writer(&mut *line, value),
                FieldValue::StringList(values) => serde_json::to_writer(&mut *line, values),
                FieldValue::IntList(values) => serde_json::to_writer(&mut *line, values),
                FieldValue::Ip(address) => serde_json::to_writer(&mut *line, &address),
                FieldValue::Timestamp(value) => serde_json::to_writer(
                    &mut *line,
                    &UtcDateTime::from_unix_nanos(value).rfc3339(),
                ),
            }
        });
    });
    line.extend_from_slice(b"}\n");
    outcome
}

impl PartitionWriter for JsonLinesFile {
    fn append(&mut self, record: &mut dyn Record) -> Result<(), SinkError> {
        self.line.clear();
        encode(record, &mut self.line).map_err(|error| self.io_error(error.into()))?;
        self.written += self.line.len() as u64;
        self.writer
            .write_all(&self.line)
            .map_err(|error| self.io_error(error))
    }

    fn size(&self) -> u64 {
        self.written
    }

    fn finish(mut self: Box<Self>) -> Result<(), SinkError> {
        self.writer.flush().map_err(|error| self.io_error(error))?;
        self.writer
            .get_ref()
            .sync_all()
            .map_err(|error| self.io_error(error))
    }
}
