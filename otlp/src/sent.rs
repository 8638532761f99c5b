//! What scrim cannot erase: spans a backend took. Each sink keeps, beside
//! its spool, when it first and last saw its backend take a batch, so that
//! a subject request can say "sent to <backend> between <t1> and <t2>:
//! erase it there" instead of reporting an erasure complete.
use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use scrim_event::UnixNanos;

use crate::OtlpError;

/// The file's name, in the sink's spool directory.
pub const SENT_FILE: &str = "sent.json";

/// When a backend took spans from this sink (over every run that used the
/// same spool).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentRecord {
    pub endpoint: String,
    pub first: UnixNanos,
    pub last: UnixNanos,
}

impl SentRecord {
    /// The record in `spool`, if a backend ever took anything from it.
    pub fn read(spool: &Path) -> Result<Option<SentRecord>, OtlpError> {
        let path = spool.join(SENT_FILE);
        let failed = |source| OtlpError::Spool {
            path: path.clone(),
            source,
        };
        if !path.exists() {
            return Ok(None);
        }
        let text = scrim_files::read_bounded(&path, 1 << 16).map_err(OtlpError::SpoolFile)?;
        serde_json::from_slice(&text.bytes)
            .map(Some)
            .map_err(|error| failed(std::io::Error::other(error)))
    }

    /// Every record under `spools` (one directory per backend).
    pub fn read_all(spools: &Path) -> Result<Vec<SentRecord>, OtlpError> {
        let entries = match fs::read_dir(spools) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(OtlpError::Spool {
                    path: spools.to_path_buf(),
                    source,
                });
            }
        };
        let mut records = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| OtlpError::Spool {
                path: spools.to_path_buf(),
                source,
            })?;
            if entry.file_type().is_ok_and(|kind| kind.is_dir())
                && let Some(record) = SentRecord::read(&entry.path())?
            {
                records.push(record);
            }
        }
        records.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        Ok(records)
    }

    /// Replaces the record in `spool`: a new file renamed over the old.
    pub fn write(&self, spool: &Path) -> Result<(), OtlpError> {
        let path = spool.join(SENT_FILE);
        let temporary: PathBuf = spool.join(format!("{SENT_FILE}.new"));
        let failed = |source| OtlpError::Spool {
            path: temporary.clone(),
            source,
        };
        let text =
            serde_json::to_vec(self).map_err(|error| failed(std::io::Error::other(error)))?;
        // Left by a write cut short: only ever a file of ours.
        let _ = fs::remove_file(&temporary);
        let mut file = scrim_files::create_new(&temporary, scrim_files::FILE_MODE)
            .map_err(OtlpError::SpoolFile)?;
        file.write_all(&text).map_err(failed)?;
        file.sync_data().map_err(failed)?;
        fs::rename(&temporary, &path).map_err(failed)
    }
}
