//! The partitioned archive: routes each record to its partition's open file,
//! rolls files, and publishes them by rename.
use std::{
    collections::HashMap,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use scrim_event::record::{Record, RecordSchema};
use scrim_files::{Beneath, check_private};

use crate::{SinkError, jsonl::JsonLinesFile, parquet::ParquetFile, partition::PartitionKey};

/// How files are encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    #[default]
    Parquet,
    JsonLines,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::JsonLines => "jsonl",
        }
    }
}

#[derive(Clone, Debug)]
pub struct ArchiveOptions {
    pub root: PathBuf,
    pub format: Format,
    /// A file is completed (and becomes visible) at most this long after it
    /// was opened, so readers see data without waiting for shutdown.
    pub roll_interval: Duration,
    /// A file is completed once it holds this many rows.
    pub max_rows_per_file: u64,
    /// A file is completed once it is about this large.
    pub max_bytes_per_file: u64,
    /// Besides scrim's user, the group that may write the root (a tenant's
    /// `archive_group`); anyone else who can is refused at [`Archive::create`].
    pub writers_group: Option<u32>,
}

impl ArchiveOptions {
    /// Files are completed at 128 MiB unless told otherwise.
    pub const DEFAULT_MAX_BYTES_PER_FILE: u64 = 128 << 20;

    pub fn new(root: impl Into<PathBuf>, format: Format) -> Self {
        ArchiveOptions {
            root: root.into(),
            format,
            roll_interval: Duration::from_secs(60),
            max_rows_per_file: 1_000_000,
            max_bytes_per_file: Self::DEFAULT_MAX_BYTES_PER_FILE,
            writers_group: None,
        }
    }
}

/// Where every row handed to the archive stands. `accepted = committed +
/// pending + failed` at every moment: a row counts as committed only once
/// the file holding it is synced and renamed to its final name, and every
/// row of a file that fails to encode, sync or publish moves to failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArchiveStats {
    /// Rows in completed, renamed files: what readers can see.
    pub rows_committed: u64,
    /// Rows in files still open.
    pub rows_pending: u64,
    /// Rows lost to write errors (a full disk, a removed directory): the
    /// row that met the error and every row of its file.
    pub rows_failed: u64,
    pub files_committed: u64,
}

/// One file of one format; [`Archive`] owns where it lives.
pub(crate) trait PartitionWriter {
    fn append(&mut self, record: &mut dyn Record) -> Result<(), SinkError>;
    /// About how large the file is so far: what is written, and what is
    /// buffered to be (encoded, not yet compressed, for Parquet).
    fn size(&self) -> u64;
    /// Flushes, closes and syncs the file; it is renamed only if this succeeds.
    fn finish(self: Box<Self>) -> Result<(), SinkError>;
}

struct OpenFile {
    key: PartitionKey,
    writer: Box<dyn PartitionWriter + Send>,
    /// Every row of a file has this schema; a record of another (after a
    /// policy reload) completes the file and starts a new one.
    schema: Arc<RecordSchema>,
    /// The partition's directory, held open: the file is created, renamed
    /// and removed relative to it, never through a path resolved again.
    directory: Beneath,
    temporary_name: String,
    final_name: String,
    opened_at: Instant,
    rows: u64,
}

/// A Hive-partitioned archive of Parquet or JSON-lines files.
pub struct Archive {
    options: ArchiveOptions,
    root: Beneath,
    /// By tenant, then a handful per tenant (a kind and an hour each):
    /// finding a record's file allocates nothing.
    open_files: HashMap<String, Vec<OpenFile>>,
    stats: ArchiveStats,
    next_file_number: u64,
}

impl Archive {
    /// Creates the root directory (mode 0750) if needed, and refuses one
    /// that another user could write (see [`check_private`]); fails now
    /// rather than on the first event.
    pub fn create(options: ArchiveOptions) -> Result<Self, SinkError> {
        let root = Beneath::open_root(&options.root)?;
        check_private(&options.root, options.writers_group)?;
        Ok(Archive {
            options,
            root,
            open_files: HashMap::new(),
            stats: ArchiveStats::default(),
            next_file_number: 0,
        })
    }

    /// Makes `tenant`'s directory its `group`'s alone (see
    /// [`Beneath::restrict_to_group`]): everyone else cannot even list it.
    pub fn restrict_tenant(&self, tenant: &str, group: u32) -> Result<(), SinkError> {
        let directory = self.root.dir(&PartitionKey::tenant_directory(tenant)?)?;
        directory.restrict_to_group(group)?;
        self.root.allow_traversal()?;
        Ok(())
    }

    pub fn stats(&self) -> ArchiveStats {
        self.stats
    }

    /// Appends `record` to `tenant`'s archive. On error the row is counted in
    /// [`ArchiveStats::rows_failed`] and the error returned for reporting.
    pub fn write(&mut self, tenant: &str, record: &mut dyn Record) -> Result<(), SinkError> {
        match self.try_write(tenant, record) {
            Ok(full) => {
                self.stats.rows_pending += 1;
                // A full file is completed once its last row is counted in.
                match full {
                    Some(index) => self.complete(tenant, index),
                    None => Ok(()),
                }
            }
            Err(error) => {
                self.stats.rows_failed += 1;
                Err(error)
            }
        }
    }

    /// Appends the record to its file; returns the file's index if it is
    /// now full.
    fn try_write(
        &mut self,
        tenant: &str,
        record: &mut dyn Record,
    ) -> Result<Option<usize>, SinkError> {
        let schema = record.schema();
        let kind = schema.kind;
        let time = record.partition_time();
        let hour = PartitionKey::hour_of(time);
        let mut found = self.open_files.get(tenant).and_then(|files| {
            files
                .iter()
                .position(|file| file.key.kind() == kind && file.key.hour_index() == hour)
        });
        if let Some(index) = found {
            let file = &self.open_files[tenant][index];
            if !Arc::ptr_eq(&file.schema, schema) && file.schema != *schema {
                self.complete(tenant, index)?;
                found = None;
            }
        }
        let index = match found {
            Some(index) => index,
            None => {
                let key = PartitionKey::new(tenant, kind, time)?;
                self.next_file_number += 1;
                let file = open_file(
                    &self.root,
                    &self.options,
                    key,
                    Arc::clone(schema),
                    self.next_file_number,
                )?;
                let files = self.open_files.entry(tenant.to_owned()).or_default();
                files.push(file);
                files.len() - 1
            }
        };
        let Some(file) = self
            .open_files
            .get_mut(tenant)
            .and_then(|files| files.get_mut(index))
        else {
            return Ok(None);
        };
        let max_rows = self.options.max_rows_per_file;
        let max_bytes = self.options.max_bytes_per_file;
        let appended = file.writer.append(record).map(|()| {
            file.rows += 1;
            file.rows >= max_rows || file.writer.size() >= max_bytes
        });
        match appended {
            Ok(full) => Ok(full.then_some(index)),
            Err(error) => {
                // What the writer holds is no longer a file that can be
                // completed: its rows are lost with it, and counted.
                if let Some(file) = self
                    .open_files
                    .get_mut(tenant)
                    .map(|files| files.swap_remove(index))
                {
                    self.abandon(file);
                }
                Err(error)
            }
        }
    }

    /// Completes every file opened at least a roll interval before `now`.
    /// Returns the first error; the other files are still completed.
    pub fn roll_expired(&mut self, now: Instant) -> Result<(), SinkError> {
        let roll_interval = self.options.roll_interval;
        let mut expired = Vec::new();
        for files in self.open_files.values_mut() {
            let mut index = 0;
            while index < files.len() {
                if now.duration_since(files[index].opened_at) >= roll_interval {
                    expired.push(files.swap_remove(index));
                } else {
                    index += 1;
                }
            }
        }
        self.complete_all(expired)
    }

    /// Completes every open file now: a data subject's request finds rows
    /// in completed files only, so a running collector completes its files
    /// before one is answered.
    pub fn complete_open(&mut self) -> Result<(), SinkError> {
        let files: Vec<OpenFile> = self
            .open_files
            .drain()
            .flat_map(|(_, files)| files)
            .collect();
        self.complete_all(files)
    }

    /// Completes every open file: call before exiting.
    pub fn close(mut self) -> (ArchiveStats, Result<(), SinkError>) {
        let outcome = self.complete_open();
        (self.stats, outcome)
    }

    fn complete_all(&mut self, files: Vec<OpenFile>) -> Result<(), SinkError> {
        let mut first_error = Ok(());
        for file in files {
            if let Err(error) = self.finish(file)
                && first_error.is_ok()
            {
                first_error = Err(error);
            }
        }
        first_error
    }

    fn complete(&mut self, tenant: &str, index: usize) -> Result<(), SinkError> {
        let Some(files) = self.open_files.get_mut(tenant) else {
            return Ok(());
        };
        if index >= files.len() {
            return Ok(());
        }
        let file = files.swap_remove(index);
        self.finish(file)
    }

    /// Completes one file and publishes it: synced, renamed, and the
    /// rename made durable. Only then are its rows committed.
    fn finish(&mut self, file: OpenFile) -> Result<(), SinkError> {
        let OpenFile {
            writer,
            directory,
            temporary_name,
            final_name,
            rows,
            ..
        } = file;
        self.stats.rows_pending -= rows;
        let outcome = writer.finish().and_then(|()| {
            directory.rename(&temporary_name, &final_name)?;
            directory.sync()?;
            Ok(())
        });
        match outcome {
            Ok(()) => {
                self.stats.rows_committed += rows;
                self.stats.files_committed += 1;
            }
            Err(_) => {
                self.stats.rows_failed += rows;
                // A full disk gets its space back for the next file.
                let _ = directory.remove_file(&temporary_name);
            }
        }
        outcome
    }

    /// Gives up a file that failed mid-write: its rows are lost, its
    /// temporary name removed.
    fn abandon(&mut self, file: OpenFile) {
        self.stats.rows_pending -= file.rows;
        self.stats.rows_failed += file.rows;
        let _ = file.directory.remove_file(&file.temporary_name);
    }
}

fn open_file(
    root: &Beneath,
    options: &ArchiveOptions,
    key: PartitionKey,
    schema: Arc<RecordSchema>,
    file_number: u64,
) -> Result<OpenFile, SinkError> {
    let directory = root.dir(&key.directory())?;
    let final_name = file_name(options.format, file_number);
    // Hidden and suffixed: Hive-style readers skip dot files, and no
    // `*.parquet` glob matches `.tmp`.
    let temporary_name = format!(".{final_name}.tmp");
    let file = directory.create_locked(&temporary_name)?;
    let temporary_path = directory.path().join(&temporary_name);
    let writer: Box<dyn PartitionWriter + Send> = match options.format {
        Format::Parquet => Box::new(ParquetFile::create(temporary_path, file, &schema)?),
        Format::JsonLines => Box::new(JsonLinesFile::new(temporary_path, file)),
    };
    Ok(OpenFile {
        key,
        writer,
        schema,
        directory,
        temporary_name,
        final_name,
        opened_at: Instant::now(),
        rows: 0,
    })
}

/// `part-<unix ms>-<pid>-<n>.<ext>`: unique across restarts and across
/// collectors writing to one shared directory.
fn file_name(format: Format, file_number: u64) -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis());
    format!(
        "part-{millis}-{}-{file_number}.{}",
        std::process::id(),
        format.extension()
    )
}
