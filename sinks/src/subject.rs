//! A data subject's rows in a tenant's Parquet archive: found by the
//! values (or pseudonyms) they carry in one column, exported as JSON
//! lines, or erased by rewriting each affected file without them.
//!
//! A rewrite is atomic: the new file is written under a hidden temporary
//! name, synced and renamed over the old one, so a reader sees the old file
//! or the new one, never a mix, and a crash leaves the old one.
use std::{
    collections::HashSet,
    fs::{self, File},
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
};

use arrow::{
    array::{Array, BooleanArray, Int64Array, RecordBatch, StringArray},
    compute::filter_record_batch,
    datatypes::DataType,
};
use parquet::arrow::{ArrowWriter, arrow_reader::ParquetRecordBatchReaderBuilder};

use crate::{SinkError, parquet::writer_properties};

/// What a subject's rows hold in one column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubjectValues {
    /// The column holds the value as captured.
    Ints(HashSet<i64>),
    /// The column holds text: the value, or its pseudonyms (one per key
    /// epoch).
    Texts(HashSet<String>),
}

/// How to tell a subject's rows.
#[derive(Clone, Debug)]
pub struct Subject {
    pub column: String,
    pub values: SubjectValues,
}

/// What erasing did to one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Erased {
    pub rows_removed: u64,
    pub rows_kept: u64,
    /// The file was rewritten without the rows (or removed, when none was
    /// left).
    pub rewritten: bool,
    pub removed: bool,
    /// The size of the file before.
    pub bytes: u64,
    /// The size of its rows decoded (Arrow buffers): what was filtered and
    /// encoded again.
    pub decoded_bytes: u64,
}

impl Subject {
    /// Which rows of `batch` are the subject's: none if the batch lacks the
    /// column (its policy did not let the field out then).
    fn mask(&self, batch: &RecordBatch) -> Result<BooleanArray, String> {
        let Some(column) = batch.column_by_name(&self.column) else {
            return Ok(BooleanArray::from(vec![false; batch.num_rows()]));
        };
        match (&self.values, column.data_type()) {
            (SubjectValues::Ints(values), DataType::Int64) => {
                let column = column
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .ok_or("an Int64 column that is not one")?;
                Ok(column
                    .iter()
                    .map(|value| Some(value.is_some_and(|value| values.contains(&value))))
                    .collect())
            }
            (SubjectValues::Texts(values), DataType::Utf8) => {
                let column = column
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or("a text column that is not one")?;
                Ok(column
                    .iter()
                    .map(|value| Some(value.is_some_and(|value| values.contains(value))))
                    .collect())
            }
            (_, other) => Err(format!(
                "column `{}` holds {other}, which this subject's values cannot match",
                self.column
            )),
        }
    }
}

/// Every Parquet file under `directory` (a tenant's part of an archive),
/// in name order. JSON-lines files are refused: they are for debugging,
/// and a subject request must not skip anything.
pub fn parquet_files(directory: &Path) -> Result<Vec<PathBuf>, SinkError> {
    let mut found = Vec::new();
    for path in published_files(directory)? {
        let name = path.to_string_lossy();
        if name.ends_with(".parquet") {
            found.push(path);
        } else if name.ends_with(".jsonl") {
            return Err(json_lines_refused(path));
        }
    }
    Ok(found)
}

/// Why a subject request stops at a JSON-lines file: they are for
/// debugging, and a subject request must not skip anything.
pub(crate) fn json_lines_refused(path: PathBuf) -> SinkError {
    SinkError::Subject {
        path,
        problem: "JSON-lines archives are for debugging; subject requests cover Parquet \
                  archives only"
            .into(),
    }
}

/// Every completed file under `directory`, in path order: files being
/// written (hidden names) are not. A missing directory has none.
pub(crate) fn published_files(directory: &Path) -> Result<Vec<PathBuf>, SinkError> {
    let mut found = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = match fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(SinkError::Io {
                    path: current,
                    source,
                });
            }
        };
        for entry in entries {
            let entry = entry.map_err(|source| SinkError::Io {
                path: current.clone(),
                source,
            })?;
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if !entry.file_name().to_string_lossy().starts_with('.') {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Writes the subject's rows of `file` to `out` as JSON lines; returns how
/// many.
pub fn export_rows(file: &Path, subject: &Subject, out: &mut dyn Write) -> Result<u64, SinkError> {
    let failed = |problem: String| SinkError::Subject {
        path: file.to_path_buf(),
        problem,
    };
    let mut rows = 0;
    let mut writer = arrow::json::LineDelimitedWriter::new(out);
    for batch in read_batches(file)? {
        let mask = subject.mask(&batch).map_err(failed)?;
        let theirs =
            filter_record_batch(&batch, &mask).map_err(|error| failed(error.to_string()))?;
        rows += theirs.num_rows() as u64;
        writer
            .write(&theirs)
            .map_err(|error| failed(error.to_string()))?;
    }
    writer.finish().map_err(|error| failed(error.to_string()))?;
    Ok(rows)
}

/// Rewrites `file` without the subject's rows, atomically; a file with
/// none is left as it is, a file with nothing else is removed.
pub fn erase_rows(file: &Path, subject: &Subject) -> Result<Erased, SinkError> {
    let failed = |problem: String| SinkError::Subject {
        path: file.to_path_buf(),
        problem,
    };
    let io = |source| SinkError::Io {
        path: file.to_path_buf(),
        source,
    };
    let bytes = fs::metadata(file).map_err(io)?.len();
    let batches = read_batches(file)?;
    let mut kept = Vec::with_capacity(batches.len());
    let mut erased = Erased {
        bytes,
        ..Erased::default()
    };
    for batch in &batches {
        erased.decoded_bytes += batch.get_array_memory_size() as u64;
        let theirs = subject.mask(batch).map_err(failed)?;
        let others: BooleanArray = theirs
            .iter()
            .map(|theirs| theirs.map(|theirs| !theirs))
            .collect();
        let others =
            filter_record_batch(batch, &others).map_err(|error| failed(error.to_string()))?;
        erased.rows_removed += (batch.num_rows() - others.num_rows()) as u64;
        erased.rows_kept += others.num_rows() as u64;
        kept.push(others);
    }
    if erased.rows_removed == 0 {
        return Ok(erased);
    }
    if erased.rows_kept == 0 {
        fs::remove_file(file).map_err(io)?;
        erased.removed = true;
        return Ok(erased);
    }
    let name = file
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = file.with_file_name(format!(".{name}.erasing.tmp"));
    let schema = Arc::clone(batches[0].schema_ref());
    let output = File::create(&temporary).map_err(|source| SinkError::Io {
        path: temporary.clone(),
        source,
    })?;
    let mut writer = ArrowWriter::try_new(output, schema, Some(writer_properties()))
        .map_err(|error| failed(error.to_string()))?;
    for batch in &kept {
        writer
            .write(batch)
            .map_err(|error| failed(error.to_string()))?;
    }
    let output = writer
        .into_inner()
        .map_err(|error| failed(error.to_string()))?;
    output.sync_all().map_err(|source| SinkError::Io {
        path: temporary.clone(),
        source,
    })?;
    fs::rename(&temporary, file).map_err(io)?;
    erased.rewritten = true;
    Ok(erased)
}

fn read_batches(file: &Path) -> Result<Vec<RecordBatch>, SinkError> {
    let failed = |problem: String| SinkError::Subject {
        path: file.to_path_buf(),
        problem,
    };
    let opened = File::open(file).map_err(|source| SinkError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    ParquetRecordBatchReaderBuilder::try_new(opened)
        .and_then(|builder| builder.build())
        .map_err(|error| failed(error.to_string()))?
        .map(|batch| batch.map_err(|error| failed(error.to_string())))
        .collect()
}
