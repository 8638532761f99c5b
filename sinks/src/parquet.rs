//! Parquet files: one column per catalogued field, named as in the catalogue.
use std::{fmt::Write as _, fs::File, path::PathBuf, sync::Arc};

use arrow::{
    array::{
        ArrayRef, BooleanBuilder, Int64Builder, ListBuilder, RecordBatch, StringBuilder,
        TimestampNanosecondBuilder,
    },
    datatypes::{DataType, Field as ArrowField, Schema, SchemaRef, TimeUnit},
};
use parquet::{
    arrow::ArrowWriter,
    basic::{Compression, ZstdLevel},
    file::properties::WriterProperties,
};
use scrim_event::{
    FieldValue,
    field::FieldType,
    record::{Record, RecordSchema},
};

use crate::{SinkError, archive::PartitionWriter};

/// Rows buffered in builders before they are encoded as one record batch.
const BATCH_ROWS: usize = 1024;
/// Rows per Parquet row group at most (the writer's default is a million).
const ROW_GROUP_ROWS: usize = 65_536;
/// Encoded bytes per row group at most: what each open file holds in memory.
const ROW_GROUP_BYTES: usize = 2 << 20;

/// The Arrow schema of records of one schema.
pub fn arrow_schema(schema: &RecordSchema) -> SchemaRef {
    let fields: Vec<ArrowField> = schema
        .columns
        .iter()
        .map(|column| ArrowField::new(column.name, arrow_type(column.field_type), column.nullable))
        .collect();
    Arc::new(Schema::new(fields))
}

fn arrow_type(field_type: FieldType) -> DataType {
    match field_type {
        FieldType::Int => DataType::Int64,
        FieldType::Bool => DataType::Boolean,
        FieldType::String | FieldType::IpAddress | FieldType::Path => DataType::Utf8,
        FieldType::StringList => {
            DataType::List(Arc::new(ArrowField::new("item", DataType::Utf8, true)))
        }
        FieldType::IntList => {
            DataType::List(Arc::new(ArrowField::new("item", DataType::Int64, true)))
        }
        FieldType::Timestamp => DataType::Timestamp(TimeUnit::Nanosecond, Some("+00:00".into())),
    }
}

/// A column being filled, typed by its field.
enum ColumnBuilder {
    Int(Int64Builder),
    Bool(BooleanBuilder),
    String(StringBuilder),
    StringList(ListBuilder<StringBuilder>),
    IntList(ListBuilder<Int64Builder>),
    Timestamp(TimestampNanosecondBuilder),
}

impl ColumnBuilder {
    fn new(field_type: FieldType) -> Self {
        match field_type {
            FieldType::Int => ColumnBuilder::Int(Int64Builder::new()),
            FieldType::Bool => ColumnBuilder::Bool(BooleanBuilder::new()),
            FieldType::String | FieldType::IpAddress | FieldType::Path => {
                ColumnBuilder::String(StringBuilder::new())
            }
            FieldType::StringList => {
                ColumnBuilder::StringList(ListBuilder::new(StringBuilder::new()))
            }
            FieldType::IntList => ColumnBuilder::IntList(ListBuilder::new(Int64Builder::new())),
            FieldType::Timestamp => {
                ColumnBuilder::Timestamp(TimestampNanosecondBuilder::new().with_timezone("+00:00"))
            }
        }
    }

    /// Appends `value`; a value of the wrong type (a catalogue bug) is
    /// written as null rather than misfiled.
    fn append(&mut self, value: FieldValue<'_>) {
        match (self, value) {
            (ColumnBuilder::Int(builder), FieldValue::Int(value)) => builder.append_value(value),
            (ColumnBuilder::Bool(builder), FieldValue::Bool(value)) => builder.append_value(value),
            (ColumnBuilder::String(builder), FieldValue::String(value)) => {
                builder.append_value(value)
            }
            (ColumnBuilder::String(builder), FieldValue::Ip(address)) => {
                // Formatted straight into the column's buffer: no String per
                // event. Writing cannot fail, and append_value("") closes it.
                let _ = write!(builder, "{address}");
                builder.append_value("");
            }
            (ColumnBuilder::IntList(builder), FieldValue::IntList(values)) => {
                builder.values().append_slice(values);
                builder.append(true);
            }
            (ColumnBuilder::StringList(builder), FieldValue::StringList(values)) => {
                for value in values {
                    builder.values().append_value(value);
                }
                builder.append(true);
            }
            (ColumnBuilder::Timestamp(builder), FieldValue::Timestamp(value)) => {
                builder.append_value(value)
            }
            (ColumnBuilder::Int(builder), _) => builder.append_null(),
            (ColumnBuilder::Bool(builder), _) => builder.append_null(),
            (ColumnBuilder::String(builder), _) => builder.append_null(),
            (ColumnBuilder::StringList(builder), _) => builder.append(false),
            (ColumnBuilder::IntList(builder), _) => builder.append(false),
            (ColumnBuilder::Timestamp(builder), _) => builder.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Int(builder) => Arc::new(builder.finish()),
            ColumnBuilder::Bool(builder) => Arc::new(builder.finish()),
            ColumnBuilder::String(builder) => Arc::new(builder.finish()),
            ColumnBuilder::StringList(builder) => Arc::new(builder.finish()),
            ColumnBuilder::IntList(builder) => Arc::new(builder.finish()),
            ColumnBuilder::Timestamp(builder) => Arc::new(builder.finish()),
        }
    }
}

/// One Parquet file of one event kind.
pub(crate) struct ParquetFile {
    path: PathBuf,
    schema: SchemaRef,
    columns: Vec<ColumnBuilder>,
    buffered_rows: usize,
    writer: ArrowWriter<File>,
}

/// How scrim writes Parquet: zstd, small row groups.
pub(crate) fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        // The writer holds a row group in memory until it is full: small
        // ones keep a collector with many open files within its budget.
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
        .set_created_by(format!("scrim {}", env!("CARGO_PKG_VERSION")))
        .build()
}

impl ParquetFile {
    pub(crate) fn create(
        path: PathBuf,
        file: File,
        record_schema: &RecordSchema,
    ) -> Result<Self, SinkError> {
        let schema = arrow_schema(record_schema);
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(writer_properties()))
            .map_err(|error| parquet_error(&path, error))?;
        let columns = record_schema
            .columns
            .iter()
            .map(|column| ColumnBuilder::new(column.field_type))
            .collect();
        Ok(ParquetFile {
            path,
            schema,
            columns,
            buffered_rows: 0,
            writer,
        })
    }

    fn encode_buffered_rows(&mut self) -> Result<(), SinkError> {
        if self.buffered_rows == 0 {
            return Ok(());
        }
        let arrays = self.columns.iter_mut().map(ColumnBuilder::finish).collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|error| parquet_error(&self.path, error))?;
        self.buffered_rows = 0;
        self.writer
            .write(&batch)
            .map_err(|error| parquet_error(&self.path, error))
    }
}

impl PartitionWriter for ParquetFile {
    fn size(&self) -> u64 {
        (self.writer.bytes_written() + self.writer.in_progress_size()) as u64
    }

    fn append(&mut self, record: &mut dyn Record) -> Result<(), SinkError> {
        let mut columns = self.columns.iter_mut();
        record.visit_columns(&mut |value| {
            if let Some(column) = columns.next() {
                column.append(value);
            }
        });
        self.buffered_rows += 1;
        if self.buffered_rows >= BATCH_ROWS {
            self.encode_buffered_rows()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), SinkError> {
        self.encode_buffered_rows()?;
        self.writer
            .finish()
            .map_err(|error| parquet_error(&self.path, error))?;
        self.writer
            .inner_mut()
            .sync_all()
            .map_err(|source| SinkError::Io {
                path: self.path.clone(),
                source,
            })
    }
}

fn parquet_error(path: &std::path::Path, error: impl std::fmt::Display) -> SinkError {
    SinkError::Parquet {
        path: path.to_path_buf(),
        detail: error.to_string(),
    }
}
