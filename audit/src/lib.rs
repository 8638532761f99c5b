//! The audit log: one JSON object per line, each carrying the hash of the
//! one before, so that an edited, inserted or removed entry breaks the
//! chain at that line. It records what scrim did to the data it keeps
//! (retention deletions, erasures, subject exports) and which policies it
//! ran. Appends from several processes (`scrim run` and `scrim archive`)
//! take an exclusive lock on the file, so the chain never forks.
//!
//! A chain shows edits and deletions in its middle; to show that entries
//! were cut off its end, keep the last hash `scrim audit verify` prints
//! somewhere else.
use std::{
    fs::{File, OpenOptions},
    io::{self, BufRead as _, BufReader, Read as _, Seek as _, SeekFrom, Write as _},
    os::{fd::AsRawFd as _, unix::fs::OpenOptionsExt as _},
    path::{Path, PathBuf},
};

use scrim_event::time::UtcDateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `prev` of the first entry.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// How much of the file's end is read to find the last entry.
const TAIL_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    Io { path: PathBuf, source: io::Error },

    #[error("audit log {path}, line {line}: {problem}")]
    Broken {
        path: PathBuf,
        line: usize,
        problem: String,
    },
}

/// One entry, as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    /// RFC 3339, UTC.
    pub time: String,
    /// What was done: `policy.load`, `retention.delete`, `archive.erase`,
    /// `archive.export`.
    pub action: String,
    pub details: Value,
    /// The previous entry's hash.
    pub prev: String,
    /// BLAKE3 of `prev` and this entry's other fields.
    pub hash: String,
}

impl Entry {
    fn computed_hash(&self) -> String {
        let mut hasher = blake3::Hasher::new();
        hasher.update(self.prev.as_bytes());
        hasher.update(&self.seq.to_le_bytes());
        hasher.update(self.time.as_bytes());
        hasher.update(&[0]);
        hasher.update(self.action.as_bytes());
        hasher.update(&[0]);
        // serde_json's maps are ordered: the same details, the same text.
        hasher.update(self.details.to_string().as_bytes());
        hasher.finalize().to_hex().to_string()
    }
}

/// What a verified log holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub entries: u64,
    /// The last entry's hash: keep it elsewhere to detect a cut-off tail.
    pub last_hash: String,
}

/// An audit log file, appended to.
#[derive(Clone, Debug)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    /// The log at `path`, created (mode 0600) on the first append.
    pub fn at(path: &Path) -> Self {
        AuditLog {
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends an entry chained to the last one, durably.
    pub fn append(&self, action: &str, details: Value, now: i64) -> Result<Entry, AuditError> {
        let failed = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(failed)?;
        let _lock = Lock::exclusive(&file).map_err(failed)?;
        let last = last_entry(&file).map_err(|source| match source {
            TailError::Io(source) => failed(source),
            TailError::Unparsable => AuditError::Broken {
                path: self.path.clone(),
                line: 0,
                problem: "the last entry is not a JSON entry; run `scrim audit verify`".into(),
            },
        })?;
        let mut entry = Entry {
            seq: last.as_ref().map_or(0, |last| last.seq + 1),
            time: UtcDateTime::from_unix_nanos(now).rfc3339(),
            action: action.to_owned(),
            details,
            prev: last.map_or_else(|| GENESIS.to_owned(), |last| last.hash),
            hash: String::new(),
        };
        entry.hash = entry.computed_hash();
        let mut line =
            serde_json::to_vec(&entry).map_err(|error| failed(io::Error::other(error)))?;
        line.push(b'\n');
        (&file).write_all(&line).map_err(failed)?;
        file.sync_data().map_err(failed)?;
        Ok(entry)
    }
}

/// Checks every entry's hash and its link to the one before. Names the
/// first line where the chain breaks and why.
pub fn verify(path: &Path) -> Result<Verified, AuditError> {
    let broken = |line: usize, problem: String| AuditError::Broken {
        path: path.to_path_buf(),
        line,
        problem,
    };
    let file = File::open(path).map_err(|source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut previous = GENESIS.to_owned();
    let mut entries = 0;
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|source| AuditError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let entry: Entry = serde_json::from_str(&line)
            .map_err(|error| broken(number, format!("not an audit entry: {error}")))?;
        if entry.seq != entries {
            return Err(broken(
                number,
                format!(
                    "entry {} where entry {entries} should be: entries were removed or inserted",
                    entry.seq
                ),
            ));
        }
        if entry.prev != previous {
            return Err(broken(
                number,
                "does not follow the entry before it: an entry before it was changed or removed"
                    .into(),
            ));
        }
        if entry.computed_hash() != entry.hash {
            return Err(broken(
                number,
                "this entry was changed after it was written".into(),
            ));
        }
        previous = entry.hash;
        entries += 1;
    }
    Ok(Verified {
        entries,
        last_hash: previous,
    })
}

enum TailError {
    Io(io::Error),
    Unparsable,
}

/// The last entry of the file, read from its end.
fn last_entry(mut file: &File) -> Result<Option<Entry>, TailError> {
    let length = file.metadata().map_err(TailError::Io)?.len();
    let start = length.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start)).map_err(TailError::Io)?;
    let mut tail = String::new();
    file.read_to_string(&mut tail).map_err(TailError::Io)?;
    match tail.lines().rev().find(|line| !line.trim().is_empty()) {
        None => Ok(None),
        Some(line) => serde_json::from_str(line)
            .map(Some)
            .map_err(|_| TailError::Unparsable),
    }
}

/// An exclusive `flock` on the log, released when dropped.
struct Lock<'a>(&'a File);

impl<'a> Lock<'a> {
    fn exclusive(file: &'a File) -> io::Result<Self> {
        // SAFETY: flock on a descriptor we own for the lock's lifetime.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Lock(file))
    }
}

impl Drop for Lock<'_> {
    fn drop(&mut self) {
        // SAFETY: as above; unlocking cannot fail in a way we could handle.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn written(entries: usize) -> (tempfile::TempDir, PathBuf) {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("audit.jsonl");
        let log = AuditLog::at(&path);
        for number in 0..entries {
            log.append(
                "retention.delete",
                json!({ "tenant": "acme", "partition": number }),
                1_795_633_169_000_000_000 + number as i64,
            )
            .expect("append");
        }
        (directory, path)
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .expect("read")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn rewrite(path: &Path, lines: &[String]) {
        std::fs::write(path, lines.join("\n") + "\n").expect("write");
    }

    #[test]
    fn an_untouched_log_verifies() {
        let (_directory, path) = written(5);
        let verified = verify(&path).expect("verifies");
        assert_eq!(verified.entries, 5);
        assert_eq!(verified.last_hash.len(), 64);
        // Appends carry on the chain, across opens.
        AuditLog::at(&path)
            .append("policy.load", json!({ "hash": "abc" }), 0)
            .expect("append");
        assert_eq!(verify(&path).expect("verifies").entries, 6);
    }

    #[test]
    fn an_edited_entry_is_named_by_its_line() {
        let (_directory, path) = written(5);
        let mut edited = lines(&path);
        edited[2] = edited[2].replace("\"partition\":2", "\"partition\":7");
        rewrite(&path, &edited);
        let error = verify(&path).expect_err("an edit went unnoticed");
        assert!(
            matches!(&error, AuditError::Broken { line: 3, problem, .. } if problem.contains("changed")),
            "{error}"
        );
    }

    #[test]
    fn a_removed_entry_is_named_by_the_line_after_it() {
        let (_directory, path) = written(5);
        let mut shortened = lines(&path);
        shortened.remove(1);
        rewrite(&path, &shortened);
        let error = verify(&path).expect_err("a removal went unnoticed");
        assert!(
            matches!(&error, AuditError::Broken { line: 2, problem, .. } if problem.contains("removed")),
            "{error}"
        );
    }

    #[test]
    fn a_recomputed_hash_does_not_hide_an_edit() {
        // Whoever edits an entry and recomputes its hash breaks the next link.
        let (_directory, path) = written(3);
        let mut edited = lines(&path);
        let mut entry: Entry = serde_json::from_str(&edited[0]).expect("entry");
        entry.details = json!({ "tenant": "acme", "partition": 99 });
        entry.hash = entry.computed_hash();
        edited[0] = serde_json::to_string(&entry).expect("json");
        rewrite(&path, &edited);
        let error = verify(&path).expect_err("a rehashed edit went unnoticed");
        assert!(
            matches!(error, AuditError::Broken { line: 2, .. }),
            "{error}"
        );
    }
}
