//! A data subject's rows in a tenant's Parquet archive: found by the
//! values (or pseudonyms) they carry in one column, exported as JSON
//! lines, or erased by rewriting each affected file without them.
//!
//! A rewrite is atomic: the new file is written under a hidden temporary
//! name, synced and renamed over the old one, so a reader sees the old file
//! or the new one, never a mix, and a crash leaves the old one.
//!
//! Whoever can write a partition directory can plant names in it, and a
//! subject request runs as root: so no symlink in the archive tree is ever
//! followed. The walk skips (and reports) symlinks and names that are not
//! partitions; each file is then reached from the archive root through
//! directory handles opened with `O_NOFOLLOW`, and the temporary file of a
//! rewrite is created beside it under a random name, `O_EXCL |
//! O_NOFOLLOW`, so a planted name can neither redirect a read nor a write.
use std::{
    collections::HashSet,
    fmt,
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

use scrim_files::Beneath;

use crate::{SinkError, parquet::writer_properties, retention::hour_start};

/// What a subject's rows hold in one column, in each shape a version of
/// the policy may have written it: a file's column type says which
/// applies (a uid kept as a number under one version, pseudonymised text
/// under another).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubjectValues {
    /// The value as captured, where the column holds integers.
    pub ints: HashSet<i64>,
    /// The value as text, or its pseudonyms (one per key and key epoch),
    /// where the column holds text.
    pub texts: HashSet<String>,
}

/// How to tell a subject's rows (and, by the same column's attribute,
/// their spans); sent as is to a running collector.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
        match column.data_type() {
            DataType::Int64 => {
                let values = &self.values.ints;
                let column = column
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .ok_or("an Int64 column that is not one")?;
                Ok(column
                    .iter()
                    .map(|value| Some(value.is_some_and(|value| values.contains(&value))))
                    .collect())
            }
            DataType::Utf8 => {
                let values = &self.values.texts;
                let column = column
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or("a text column that is not one")?;
                Ok(column
                    .iter()
                    .map(|value| Some(value.is_some_and(|value| values.contains(value))))
                    .collect())
            }
            other => Err(format!(
                "column `{}` holds {other}, which this subject's values cannot match",
                self.column
            )),
        }
    }
}

/// A file in an archive: the root the operator chose (followed as given,
/// like any path of theirs) and the path below it, where no symlink is
/// followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivePath {
    root: PathBuf,
    relative: PathBuf,
}

impl ArchivePath {
    pub fn new(root: &Path, relative: &Path) -> Self {
        ArchivePath {
            root: root.to_path_buf(),
            relative: relative.to_path_buf(),
        }
    }

    /// The whole path, for messages.
    pub fn path(&self) -> PathBuf {
        self.root.join(&self.relative)
    }

    /// The directory that holds the file, reached from the root without
    /// following a symlink, and the file's name in it.
    fn parent(&self) -> Result<(Beneath, &str), SinkError> {
        let name = self
            .relative
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or_else(|| SinkError::Subject {
                path: self.path(),
                problem: "not the name of a file scrim wrote".into(),
            })?;
        let below = self.relative.parent().unwrap_or(Path::new(""));
        let root = Beneath::open_root(&self.root)?;
        let directory = if below.as_os_str().is_empty() {
            root
        } else {
            root.open_dir(below)?
        };
        Ok((directory, name))
    }
}

/// Something a walk of an archive met and left alone, and why: the
/// command reports it and exits non-zero, but goes on with the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// What a walk of a tenant's archive found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TenantFiles {
    /// Its Parquet files, in path order.
    pub files: Vec<ArchivePath>,
    pub skipped: Vec<Skipped>,
}

/// Whether a directory's name fits a level of the archive.
type Fits = fn(&str) -> bool;

/// The levels of a tenant's archive below `tenant=<t>`: what a name looks
/// like, and whether one fits.
const LEVELS: [(&str, Fits); 3] = [
    ("kind=<kind>", |name| {
        name.strip_prefix("kind=")
            .is_some_and(|kind| !kind.is_empty())
    }),
    ("date=<YYYY-MM-DD>", |name| {
        hour_start(name, "hour=00").is_some()
    }),
    ("hour=<HH>", |name| {
        hour_start("date=1970-01-01", name).is_some()
    }),
];

/// Every Parquet file of `tenant` under `root`
/// (`tenant=<t>/kind=<k>/date=<d>/hour=<h>/*.parquet`), in path order,
/// and what the walk skipped: symlinks, directories whose names are not
/// partitions, a `*.parquet` that is not a regular file. Nothing is
/// followed or read there. JSON-lines files are refused: they are for
/// debugging, and a subject request must not skip anything. A missing
/// directory has none.
pub fn parquet_files(root: &Path, tenant: &str) -> Result<TenantFiles, SinkError> {
    let mut found = TenantFiles::default();
    let tenant = PathBuf::from(format!("tenant={tenant}"));
    match fs::symlink_metadata(root.join(&tenant)) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(error) => found.skipped.push(Skipped {
            path: root.join(&tenant),
            reason: error.to_string(),
        }),
        Ok(metadata) if metadata.is_dir() => walk(root, &tenant, 0, &mut found)?,
        Ok(_) => found.skipped.push(Skipped {
            path: root.join(&tenant),
            reason: not_followed(),
        }),
    }
    found.files.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(found)
}

fn not_followed() -> String {
    "a symbolic link or not a directory: never followed".into()
}

/// Walks `relative` (a directory at `LEVELS[level]`'s parent level).
fn walk(
    root: &Path,
    relative: &Path,
    level: usize,
    found: &mut TenantFiles,
) -> Result<(), SinkError> {
    let directory = root.join(relative);
    let entries = match fs::read_dir(&directory) {
        Ok(entries) => entries,
        Err(error) => {
            found.skipped.push(Skipped {
                path: directory,
                reason: error.to_string(),
            });
            return Ok(());
        }
    };
    for entry in entries {
        let entry = entry.map_err(|source| SinkError::Io {
            path: directory.clone(),
            source,
        })?;
        let name = entry.file_name();
        let text = name.to_string_lossy();
        if text.starts_with('.') {
            continue; // being written
        }
        let path = entry.path();
        let kind = entry.file_type().map_err(|source| SinkError::Io {
            path: path.clone(),
            source,
        })?;
        let skip = |reason: String| Skipped {
            path: path.clone(),
            reason,
        };
        if text.ends_with(".jsonl") {
            return Err(json_lines_refused(path));
        }
        match LEVELS.get(level) {
            Some((expected, fits)) => {
                if kind.is_dir() && fits(&text) {
                    walk(root, &relative.join(&name), level + 1, found)?;
                } else if kind.is_dir() {
                    found
                        .skipped
                        .push(skip(format!("not a partition directory ({expected})")));
                } else if kind.is_symlink() {
                    found.skipped.push(skip(not_followed()));
                } else if text.ends_with(".parquet") {
                    found
                        .skipped
                        .push(skip("a Parquet file outside any hour partition".into()));
                }
            }
            None if !text.ends_with(".parquet") => {}
            None if kind.is_file() => found
                .files
                .push(ArchivePath::new(root, &relative.join(&name))),
            None if kind.is_symlink() => found
                .skipped
                .push(skip("a symbolic link: never followed".into())),
            None => found.skipped.push(skip("not a regular file".into())),
        }
    }
    Ok(())
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
/// written (hidden names) are not, nor is anything behind a symlink. A
/// missing directory has none.
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
            let kind = entry.file_type().map_err(|source| SinkError::Io {
                path: path.clone(),
                source,
            })?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() && !entry.file_name().to_string_lossy().starts_with('.') {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Writes the subject's rows of `file` to `out` as JSON lines; returns how
/// many. A file that cannot be read whole writes nothing: give `out` a
/// buffer per file, so that a corrupt file adds no rows.
pub fn export_rows(
    file: &ArchivePath,
    subject: &Subject,
    out: &mut dyn Write,
) -> Result<u64, SinkError> {
    let path = file.path();
    let failed = |problem: String| SinkError::Subject {
        path: path.clone(),
        problem,
    };
    let (directory, name) = file.parent()?;
    let batches = read_batches(directory.open_file(name)?, &path)?;
    let mut rows = 0;
    let mut writer = arrow::json::LineDelimitedWriter::new(out);
    for batch in batches {
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
pub fn erase_rows(file: &ArchivePath, subject: &Subject) -> Result<Erased, SinkError> {
    let path = file.path();
    let failed = |problem: String| SinkError::Subject {
        path: path.clone(),
        problem,
    };
    let (directory, name) = file.parent()?;
    let source = directory.open_file(name)?;
    let bytes = source
        .metadata()
        .map_err(|source| SinkError::Io {
            path: path.clone(),
            source,
        })?
        .len();
    let batches = read_batches(source, &path)?;
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
        directory.remove_file(name)?;
        directory.sync()?;
        erased.removed = true;
        return Ok(erased);
    }
    // Dropped on any error below: the temporary goes, the file stays.
    let temporary = Temporary::create(&directory)?;
    let mut writer = ArrowWriter::try_new(
        &temporary.file,
        Arc::clone(batches[0].schema_ref()),
        Some(writer_properties()),
    )
    .map_err(|error| failed(error.to_string()))?;
    for batch in &kept {
        writer
            .write(batch)
            .map_err(|error| failed(error.to_string()))?;
    }
    writer.close().map_err(|error| failed(error.to_string()))?;
    temporary.file.sync_all().map_err(|source| SinkError::Io {
        path: directory.path().join(&temporary.name),
        source,
    })?;
    temporary.replace(name)?;
    erased.rewritten = true;
    Ok(erased)
}

/// A rewrite's temporary file, beside the file it replaces: a random name
/// (nobody can plant a symlink under it in advance, and the create fails
/// on any existing name), removed unless it replaced the file.
struct Temporary<'a> {
    directory: &'a Beneath,
    name: String,
    file: File,
    done: bool,
}

impl<'a> Temporary<'a> {
    fn create(directory: &'a Beneath) -> Result<Self, SinkError> {
        let mut random = [0; 8];
        getrandom::fill(&mut random).map_err(|error| SinkError::Io {
            path: directory.path().to_path_buf(),
            source: std::io::Error::other(error),
        })?;
        let name = format!(".erasing-{:016x}.parquet.tmp", u64::from_le_bytes(random));
        let file = directory.create_locked(&name)?;
        Ok(Temporary {
            directory,
            name,
            file,
            done: false,
        })
    }

    /// Renames it over `name`, durably.
    fn replace(mut self, name: &str) -> Result<(), SinkError> {
        self.directory.rename(&self.name, name)?;
        self.done = true;
        self.directory.sync()?;
        Ok(())
    }
}

impl Drop for Temporary<'_> {
    fn drop(&mut self) {
        if !self.done {
            // If even this fails, the name is hidden: no reader sees it.
            let _ = self.directory.remove_file(&self.name);
        }
    }
}

/// Every batch of the Parquet file `opened` (at `path`); an empty or
/// corrupt file is an error naming it.
fn read_batches(opened: File, path: &Path) -> Result<Vec<RecordBatch>, SinkError> {
    let failed = |problem: String| SinkError::Subject {
        path: path.to_path_buf(),
        problem: format!("not a readable Parquet file: {problem}"),
    };
    ParquetRecordBatchReaderBuilder::try_new(opened)
        .and_then(|builder| builder.build())
        .map_err(|error| failed(error.to_string()))?
        .map(|batch| batch.map_err(|error| failed(error.to_string())))
        .collect()
}
