//! The audit log: one JSON object per line, each carrying the hash of the
//! one before, so that an edited, inserted or removed entry breaks the
//! chain at that line. It records what scrim did to the data it keeps
//! (retention deletions, erasures, subject exports) and which policies it
//! ran. Appends from several processes (`scrim run` and `scrim archive`)
//! take an exclusive lock on the file, so the chain never forks.
//!
//! A chain shows edits and deletions in its middle; to show that entries
//! were cut off its end, keep the last hash `scrim audit verify` prints
//! somewhere else (`scrim audit verify --expect-head HASH` checks it).
//!
//! A chain alone does not stop whoever can write the file from rebuilding
//! it: every hash can be recomputed. So each entry is also authenticated
//! by a MAC (keyed BLAKE3 of its hash) under an [`AuditKey`], derived from
//! the policy's master key for the audit log alone, and names that key by
//! a public id. Verifying needs the key: a rebuilt or edited entry fails
//! at its line. A policy without a master key writes entries with no MAC
//! (plainly hashed, as every entry was before keying), and verify says
//! they are unauthenticated. Once an entry is keyed, every later one must
//! be: appending without a key is refused, and an unkeyed entry after a
//! keyed one fails verification, so nobody can downgrade a keyed tail by
//! rewriting it without MACs. Only unkeyed entries at the start of a log
//! (a log from before keying, or written under policies without keys)
//! verify unauthenticated; a kept head is what shows a log rebuilt
//! entirely without MACs.
//!
//! An append cut short (a full disk, a crash) leaves a torn last line.
//! Rather than refuse every later append until someone edits the file, the
//! next append moves the torn bytes into a file beside the log, cuts them
//! off, and chains an `audit.recovered` entry naming that file and the byte
//! count before its own: nothing is lost, and the log says what happened.
//! Only the last line can be torn that way; anything else that is not an
//! entry is a broken log, refused.
use std::{
    ffi::OsString,
    fs::{File, OpenOptions},
    io::{self, BufRead as _, BufReader, Write as _},
    os::{
        fd::AsRawFd as _,
        unix::{
            ffi::OsStrExt as _,
            fs::{FileExt as _, OpenOptionsExt as _, PermissionsExt as _},
        },
    },
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
};

use scrim_event::time::UtcDateTime;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// The `prev` of the first entry.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The action of the entry that records a torn tail moved aside.
pub const RECOVERED: &str = "audit.recovered";
/// The log's mode, and that of a torn tail kept beside it: what it says
/// about the archives is for whoever runs scrim alone.
const LOG_MODE: u32 = 0o600;
/// How much is read at a time when looking for the start of a line from
/// the end of the file.
const CHUNK: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("audit log {path}: cannot create its directory")]
    Directory {
        path: PathBuf,
        #[source]
        source: scrim_files::FilesError,
    },

    #[error(
        "audit log {path} is a symbolic link: scrim does not write its audit trail through one \
         (replace the link with the file it points to, or give --state-dir the real directory)"
    )]
    Symlink { path: PathBuf },

    #[error("audit log {path} is not a regular file")]
    NotAFile { path: PathBuf },

    #[error("audit log {path}: cannot keep its torn last entry in {kept}")]
    KeepTorn {
        path: PathBuf,
        kept: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("audit log {path}, line {line}: {problem}")]
    Broken {
        path: PathBuf,
        /// From 1.
        line: u64,
        problem: String,
    },

    #[error(
        "audit log {path}, line {line}: authenticated by audit key {key}, which is not among the \
         keys given ({given}); give the policy that wrote it (--policy) or its master key file \
         (--key)"
    )]
    UnknownKey {
        path: PathBuf,
        /// From 1.
        line: u64,
        /// The entry's key id.
        key: String,
        /// The ids of the keys that were given, for the message.
        given: String,
    },

    #[error(
        "audit log {path} is keyed (its last entry is authenticated by audit key {key}): an \
         entry without a MAC would break it; use a policy with [keys] (its master key) to append"
    )]
    KeyNeeded { path: PathBuf, key: String },
}

/// One entry, as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    /// RFC 3339, UTC.
    pub time: String,
    /// What was done: `policy.load`, `retention.delete`, `archive.erase`,
    /// `archive.export`, `audit.recovered`.
    pub action: String,
    pub details: Value,
    /// The id of the [`AuditKey`] whose MAC authenticates the entry;
    /// `None` in a plainly hashed entry (before keying, or a policy without
    /// a master key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The previous entry's hash.
    pub prev: String,
    /// BLAKE3 of `prev` and this entry's other fields but `mac`.
    pub hash: String,
    /// Keyed BLAKE3 of `hash` under the key `key` names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
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
        // After the details' JSON, which never holds a NUL: an entry from
        // before keying hashes as it always did.
        if let Some(key) = &self.key {
            hasher.update(b"\0key ");
            hasher.update(key.as_bytes());
        }
        hasher.finalize().to_hex().to_string()
    }
}

/// The key audit entries are authenticated with: derived from a policy's
/// master key for the audit log alone (`MasterKey::audit_key`), so it is
/// never a pseudonym key and reveals none.
#[derive(Clone)]
pub struct AuditKey {
    key: Zeroizing<[u8; 32]>,
    id: String,
}

/// The context of a key id's derivation.
const KEY_ID_CONTEXT: &str = "scrim audit key id v1";

impl AuditKey {
    pub fn new(key: Zeroizing<[u8; 32]>) -> Self {
        // A one-way fingerprint: it names the key in every entry, and
        // tells nobody anything about the key.
        let id = blake3::derive_key(KEY_ID_CONTEXT, key.as_ref());
        let id = blake3::Hash::from(id).to_hex()[..16].to_owned();
        AuditKey { key, id }
    }

    /// The public id entries name the key by: 16 hex digits.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn mac(&self, hash: &str) -> blake3::Hash {
        blake3::keyed_hash(&self.key, hash.as_bytes())
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "AuditKey({})", self.id)
    }
}

/// A torn last entry (an append cut short by a full disk or a crash)
/// that was moved out of the log so that the chain could go on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// The line it was on, from 1: the recovery entry's line now.
    pub line: u64,
    /// How many bytes were moved.
    pub bytes: u64,
    /// The file beside the log that holds them, as they were.
    pub kept: PathBuf,
}

impl std::fmt::Display for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes of a torn entry were recovered at line {} and kept in {}",
            self.bytes,
            self.line,
            self.kept.display()
        )
    }
}

/// What [`AuditLog::append`] wrote.
#[derive(Clone, Debug)]
pub struct Appended {
    pub entry: Entry,
    /// The torn tail this append moved aside first, if there was one:
    /// for the caller to report (it happens once; the log records it).
    pub recovered: Option<Recovery>,
}

/// What a verified log holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub entries: u64,
    /// The last entry's hash: keep it elsewhere to detect a cut-off tail.
    pub last_hash: String,
    /// The torn entries that appends moved aside, in the order of the log.
    pub recoveries: Vec<Recovery>,
    /// How many entries have no MAC: lines 1 to this, all before the first
    /// keyed entry (from before keying, or a policy without a master key).
    pub unauthenticated: u64,
    /// The ids of the keys the other entries were authenticated with, in
    /// the order they were first used.
    pub keys: Vec<String>,
    /// Where the head [`verify`] was asked to look for is: `Some(n)`, the
    /// hash of the entry `n` entries before the end (0: the last); `None`:
    /// no entry has it, or no head was asked for.
    pub entries_after_head: Option<u64>,
}

/// An audit log file, appended to.
#[derive(Clone, Debug)]
pub struct AuditLog {
    path: PathBuf,
    /// Shared by every clone: a collector's reload switches the key its
    /// retention passes append with too.
    key: Arc<Mutex<Option<AuditKey>>>,
}

impl AuditLog {
    /// The log at `path`, created (mode 0600) on the first append; its
    /// entries are plainly hashed until [`AuditLog::set_key`] gives a key.
    pub fn at(path: &Path) -> Self {
        AuditLog {
            path: path.to_path_buf(),
            key: Arc::default(),
        }
    }

    /// Authenticates this log's (and its clones') later entries with `key`,
    /// or with none: checks first, as [`AuditLog::check_appendable`] does,
    /// that entries can be appended with it, and refuses `None` if the log
    /// is keyed already (that would downgrade it).
    pub fn set_key(&self, key: Option<AuditKey>) -> Result<(), AuditError> {
        self.check_appendable_with(key.as_ref())?;
        *self.key.lock().unwrap_or_else(PoisonError::into_inner) = key;
        Ok(())
    }

    fn key(&self) -> Option<AuditKey> {
        self.key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks that an append would succeed, without writing one: opens
    /// (creating the log and its directory if needed), locks, and reads the
    /// tail. Commands call it before they act, so that nothing is done
    /// that could not be recorded.
    pub fn check_appendable(&self) -> Result<(), AuditError> {
        self.check_appendable_with(self.key().as_ref())
    }

    fn check_appendable_with(&self, key: Option<&AuditKey>) -> Result<(), AuditError> {
        let file = self.open()?;
        let _lock = Lock::exclusive(&file).map_err(self.io())?;
        let tail = self.tail(&file)?;
        self.check_key(&tail, key)?;
        if let Tail::Torn { .. } = tail {
            // The append would keep the torn bytes beside the log.
            let directory = self.directory();
            let denied = |source: io::Error| AuditError::KeepTorn {
                path: self.path.clone(),
                kept: directory.clone(),
                source: source.into(),
            };
            let name = std::ffi::CString::new(directory.as_os_str().as_bytes())
                .map_err(|error| denied(io::Error::other(error)))?;
            // SAFETY: a NUL-terminated path; faccessat only reads it.
            let allowed = unsafe {
                libc::faccessat(libc::AT_FDCWD, name.as_ptr(), libc::W_OK, libc::AT_EACCESS)
            };
            if allowed != 0 {
                return Err(denied(io::Error::last_os_error()));
            }
        }
        Ok(())
    }

    /// Appends an entry chained to the last one, durably, with a MAC under
    /// the log's key if it has one (without one, refused after a keyed
    /// entry). A torn last line (no newline, or not an entry) is moved
    /// aside first into a file beside the log, and a recovery entry saying
    /// so is chained in before this one.
    pub fn append(&self, action: &str, details: Value, now: i64) -> Result<Appended, AuditError> {
        let key = self.key();
        let file = self.open()?;
        let _lock = Lock::exclusive(&file).map_err(self.io())?;
        let tail = self.tail(&file)?;
        self.check_key(&tail, key.as_ref())?;
        let (last, recovered) = match tail {
            Tail::Last(last) => (last, None),
            Tail::Torn { previous, start } => {
                let recovery = self.move_aside(&file, previous.as_ref(), start, now)?;
                let name = recovery
                    .kept
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let entry = self.write(
                    &file,
                    previous,
                    key.as_ref(),
                    RECOVERED,
                    json!({ "file": name, "bytes": recovery.bytes }),
                    now,
                )?;
                (Some(entry), Some(recovery))
            }
        };
        let entry = self.write(&file, last, key.as_ref(), action, details, now)?;
        Ok(Appended { entry, recovered })
    }

    /// Refuses an entry without a MAC after a keyed one: the log would no
    /// longer verify.
    fn check_key(&self, tail: &Tail, key: Option<&AuditKey>) -> Result<(), AuditError> {
        let last = match tail {
            Tail::Last(last) => last.as_ref(),
            Tail::Torn { previous, .. } => previous.as_ref(),
        };
        match (last.and_then(|last| last.key.as_ref()), key) {
            (Some(keyed), None) => Err(AuditError::KeyNeeded {
                path: self.path.clone(),
                key: keyed.clone(),
            }),
            _ => Ok(()),
        }
    }

    fn io(&self) -> impl FnOnce(io::Error) -> AuditError + '_ {
        |source| AuditError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn directory(&self) -> PathBuf {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Opens the log for reading and appending, never through a symlink
    /// (`O_NOFOLLOW`); a new log is created mode 0600 whatever the umask.
    fn open(&self) -> Result<File, AuditError> {
        scrim_files::create_private_dir_all(&self.directory()).map_err(|source| {
            AuditError::Directory {
                path: self.path.clone(),
                source,
            }
        })?;
        let open = |create: bool| {
            let mut options = OpenOptions::new();
            options
                .read(true)
                .append(true)
                .custom_flags(libc::O_NOFOLLOW);
            if create {
                options.create_new(true).mode(LOG_MODE);
            }
            options.open(&self.path)
        };
        let opened = match open(true) {
            Ok(file) => file
                .set_permissions(std::fs::Permissions::from_mode(LOG_MODE))
                .map(|()| file),
            // O_EXCL fails on any existing name, a symlink included; the
            // open without it refuses the symlink.
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => open(false),
            Err(error) => Err(error),
        };
        let file = opened.map_err(|source| {
            if source.raw_os_error() == Some(libc::ELOOP) {
                AuditError::Symlink {
                    path: self.path.clone(),
                }
            } else {
                self.io()(source)
            }
        })?;
        if !file.metadata().map_err(self.io())?.is_file() {
            return Err(AuditError::NotAFile {
                path: self.path.clone(),
            });
        }
        Ok(file)
    }

    /// Where the chain goes on: the last entry, or a torn last line and
    /// the entry before it. A line before the last that is not an entry is
    /// not a torn append but a broken log, for `scrim audit verify`.
    fn tail(&self, file: &File) -> Result<Tail, AuditError> {
        let length = file.metadata().map_err(self.io())?.len();
        if length == 0 {
            return Ok(Tail::Last(None));
        }
        let ends_in_newline = read_range(file, length - 1, length).map_err(self.io())? == b"\n";
        let start = line_start(file, if ends_in_newline { length - 1 } else { length })
            .map_err(self.io())?;
        if ends_in_newline {
            let line = read_range(file, start, length - 1).map_err(self.io())?;
            if let Ok(entry) = serde_json::from_slice::<Entry>(&line) {
                return Ok(Tail::Last(Some(entry)));
            }
        }
        if start == 0 {
            return Ok(Tail::Torn {
                previous: None,
                start,
            });
        }
        let previous_start = line_start(file, start - 1).map_err(self.io())?;
        let line = read_range(file, previous_start, start - 1).map_err(self.io())?;
        match serde_json::from_slice::<Entry>(&line) {
            Ok(entry) => Ok(Tail::Torn {
                previous: Some(entry),
                start,
            }),
            Err(_) => Err(AuditError::Broken {
                path: self.path.clone(),
                line: lines_before(file, previous_start).map_err(self.io())? + 1,
                problem: "not an audit entry, and not the last line (which an interrupted \
                          append could have torn); run `scrim audit verify`"
                    .into(),
            }),
        }
    }

    /// Copies the torn bytes from `start` to the end into a new file beside
    /// the log (`<log>.torn-<seq>-<unix nanos>`), durably, then cuts them
    /// off the log.
    fn move_aside(
        &self,
        file: &File,
        previous: Option<&Entry>,
        start: u64,
        now: i64,
    ) -> Result<Recovery, AuditError> {
        let seq = previous.map_or(0, |previous| previous.seq + 1);
        let mut name = self
            .path
            .file_name()
            .map_or_else(|| OsString::from("audit.jsonl"), ToOwned::to_owned);
        name.push(format!(".torn-{seq}-{now}"));
        let kept = self.directory().join(name);
        let failed = |source: io::Error| AuditError::KeepTorn {
            path: self.path.clone(),
            kept: kept.clone(),
            source: source.into(),
        };
        let length = file.metadata().map_err(self.io())?.len();
        let mut copy = scrim_files::create_new(&kept, LOG_MODE).map_err(|error| match error {
            // The message names the kept file already.
            scrim_files::FilesError::Io { source, .. } => failed(source),
            other => AuditError::KeepTorn {
                path: self.path.clone(),
                kept: kept.clone(),
                source: other.into(),
            },
        })?;
        let mut at = start;
        while at < length {
            let chunk = read_range(file, at, length.min(at + CHUNK)).map_err(self.io())?;
            copy.write_all(&chunk).map_err(failed)?;
            at += chunk.len() as u64;
        }
        copy.sync_all().map_err(failed)?;
        File::open(self.directory())
            .and_then(|directory| directory.sync_all())
            .map_err(failed)?;
        let line = lines_before(file, start).map_err(self.io())? + 1;
        file.set_len(start).map_err(self.io())?;
        file.sync_data().map_err(self.io())?;
        Ok(Recovery {
            line,
            bytes: length - start,
            kept,
        })
    }

    /// Writes one entry after `last`, durably, authenticated with `key`.
    fn write(
        &self,
        mut file: &File,
        last: Option<Entry>,
        key: Option<&AuditKey>,
        action: &str,
        details: Value,
        now: i64,
    ) -> Result<Entry, AuditError> {
        let mut entry = Entry {
            seq: last.as_ref().map_or(0, |last| last.seq + 1),
            time: UtcDateTime::from_unix_nanos(now).rfc3339(),
            action: action.to_owned(),
            details,
            key: key.map(|key| key.id().to_owned()),
            prev: last.map_or_else(|| GENESIS.to_owned(), |last| last.hash),
            hash: String::new(),
            mac: None,
        };
        entry.hash = entry.computed_hash();
        entry.mac = key.map(|key| key.mac(&entry.hash).to_hex().to_string());
        let mut line = serde_json::to_vec(&entry).map_err(|error| self.io()(error.into()))?;
        line.push(b'\n');
        file.write_all(&line).map_err(self.io())?;
        file.sync_data().map_err(self.io())?;
        Ok(entry)
    }
}

/// Checks every entry's hash and its link to the one before, and every
/// keyed entry's MAC with the one of `keys` it names. Names the first line
/// where the chain breaks and why (an entry changed, removed, inserted,
/// rebuilt without the key, or made with a key not given); lists the torn
/// entries that appends recovered; counts the unauthenticated entries at
/// the start. `head`, a hash kept from an earlier verification, is looked
/// for: [`Verified::entries_after_head`].
pub fn verify(path: &Path, keys: &[AuditKey], head: Option<&str>) -> Result<Verified, AuditError> {
    let broken = |line: u64, problem: String| AuditError::Broken {
        path: path.to_path_buf(),
        line,
        problem,
    };
    let io = |source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    let directory = path.parent().unwrap_or(Path::new("."));
    let mut verified = Verified {
        entries: 0,
        last_hash: GENESIS.to_owned(),
        recoveries: Vec::new(),
        unauthenticated: 0,
        keys: Vec::new(),
        entries_after_head: None,
    };
    // The entry count at the head asked for (0: before the first entry).
    let mut head_at = head.filter(|&head| head == GENESIS).map(|_| 0);
    // The line of the first keyed entry.
    let mut first_keyed = None;
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(io)? == 0 {
            break;
        }
        number += 1;
        let complete = line.last() == Some(&b'\n');
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let parsed = serde_json::from_slice::<Entry>(text);
        let last = !complete || reader.fill_buf().map_err(io)?.is_empty();
        let entry = match parsed {
            Ok(entry) if complete => entry,
            // Only the last line can lack its newline.
            Err(error) if !last => {
                return Err(broken(number, format!("not an audit entry: {error}")));
            }
            _ => {
                return Err(broken(
                    number,
                    format!(
                        "a torn last entry ({} bytes{}), as an append cut short leaves; the next \
                         append moves it aside and records that in the log",
                        line.len(),
                        if complete { "" } else { ", no newline" }
                    ),
                ));
            }
        };
        if entry.seq != verified.entries {
            return Err(broken(
                number,
                format!(
                    "entry {} where entry {} should be: entries were removed or inserted",
                    entry.seq, verified.entries
                ),
            ));
        }
        if entry.prev != verified.last_hash {
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
        match (&entry.key, &entry.mac) {
            (None, None) => match first_keyed {
                Some(keyed) => {
                    return Err(broken(
                        number,
                        format!(
                            "has no MAC, yet line {keyed} was authenticated and every entry \
                             after a keyed one is keyed: this entry was rebuilt by someone \
                             without the key"
                        ),
                    ));
                }
                None => verified.unauthenticated += 1,
            },
            (Some(id), Some(mac)) => {
                let Some(key) = keys.iter().find(|key| key.id() == id) else {
                    return Err(AuditError::UnknownKey {
                        path: path.to_path_buf(),
                        line: number,
                        key: id.clone(),
                        given: if keys.is_empty() {
                            "none".to_owned()
                        } else {
                            let ids: Vec<&str> = keys.iter().map(AuditKey::id).collect();
                            ids.join(", ")
                        },
                    });
                };
                // blake3::Hash compares in constant time.
                if blake3::Hash::from_hex(mac).ok() != Some(key.mac(&entry.hash)) {
                    return Err(broken(
                        number,
                        format!(
                            "its MAC does not match under audit key {id}: the entry was \
                             changed, or the log rebuilt, by someone without the key"
                        ),
                    ));
                }
                first_keyed.get_or_insert(number);
                if !verified.keys.contains(id) {
                    verified.keys.push(id.clone());
                }
            }
            _ => {
                return Err(broken(
                    number,
                    "a key id without a MAC or a MAC without a key id: not an entry scrim \
                     writes"
                        .into(),
                ));
            }
        }
        if entry.action == RECOVERED {
            let (Some(file), Some(bytes)) = (
                entry.details["file"].as_str(),
                entry.details["bytes"].as_u64(),
            ) else {
                return Err(broken(
                    number,
                    "a recovery entry that names no kept file or byte count".into(),
                ));
            };
            verified.recoveries.push(Recovery {
                line: number,
                bytes,
                kept: directory.join(file),
            });
        }
        verified.entries += 1;
        if head == Some(entry.hash.as_str()) {
            head_at = Some(verified.entries);
        }
        verified.last_hash = entry.hash;
    }
    verified.entries_after_head = head_at.map(|at| verified.entries - at);
    Ok(verified)
}

/// The end of the log, as an append finds it.
enum Tail {
    /// The last line is a complete entry (`None`: the log is empty).
    Last(Option<Entry>),
    /// The last line, from `start`, is not a complete entry; `previous` is
    /// the one before it (`None`: it is the first line).
    Torn { previous: Option<Entry>, start: u64 },
}

/// Where the line holding the byte before `end` starts: just after the
/// last newline before `end`, or 0.
fn line_start(file: &File, end: u64) -> io::Result<u64> {
    let mut chunk_end = end;
    while chunk_end > 0 {
        let chunk_start = chunk_end.saturating_sub(CHUNK);
        let chunk = read_range(file, chunk_start, chunk_end)?;
        if let Some(at) = chunk.iter().rposition(|&byte| byte == b'\n') {
            return Ok(chunk_start + at as u64 + 1);
        }
        chunk_end = chunk_start;
    }
    Ok(0)
}

/// How many lines end before `offset`.
fn lines_before(file: &File, offset: u64) -> io::Result<u64> {
    let (mut count, mut at) = (0, 0);
    while at < offset {
        let chunk = read_range(file, at, offset.min(at + CHUNK))?;
        count += chunk.iter().filter(|&&byte| byte == b'\n').count() as u64;
        at += chunk.len() as u64;
    }
    Ok(count)
}

/// The bytes from `start` to `end`, read at their offset (the append
/// offset of the file is left alone).
fn read_range(file: &File, start: u64, end: u64) -> io::Result<Vec<u8>> {
    let length = usize::try_from(end.saturating_sub(start)).map_err(io::Error::other)?;
    let mut bytes = vec![0; length];
    file.read_exact_at(&mut bytes, start)?;
    Ok(bytes)
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
        let verified = verify(&path, &[], None).expect("verifies");
        assert_eq!(verified.entries, 5);
        assert_eq!(verified.last_hash.len(), 64);
        // Appends carry on the chain, across opens.
        AuditLog::at(&path)
            .append("policy.load", json!({ "hash": "abc" }), 0)
            .expect("append");
        assert_eq!(verify(&path, &[], None).expect("verifies").entries, 6);
    }

    #[test]
    fn an_edited_entry_is_named_by_its_line() {
        let (_directory, path) = written(5);
        let mut edited = lines(&path);
        edited[2] = edited[2].replace("\"partition\":2", "\"partition\":7");
        rewrite(&path, &edited);
        let error = verify(&path, &[], None).expect_err("an edit went unnoticed");
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
        let error = verify(&path, &[], None).expect_err("a removal went unnoticed");
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
        let error = verify(&path, &[], None).expect_err("a rehashed edit went unnoticed");
        assert!(
            matches!(error, AuditError::Broken { line: 2, .. }),
            "{error}"
        );
    }

    /// The log's bytes, with `torn` appended as an interrupted append would
    /// have left it.
    fn torn(entries: usize, torn: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let (directory, path) = written(entries);
        let mut file = OpenOptions::new().append(true).open(&path).expect("open");
        file.write_all(torn).expect("tear");
        (directory, path)
    }

    fn half_an_entry() -> Vec<u8> {
        let (_directory, path) = written(1);
        let line = std::fs::read(&path).expect("read");
        line[..line.len() / 2].to_vec()
    }

    #[test]
    fn a_torn_tail_is_kept_aside_recorded_and_the_chain_goes_on() {
        // A whole entry but its newline.
        let (_one, one) = written(1);
        let mut whole_entry = std::fs::read(&one).expect("read");
        whole_entry.pop();
        let cases: [(&str, Vec<u8>); 4] = [
            ("no newline", whole_entry),
            ("garbage", b"\0\0\xff not json at all\n".to_vec()),
            ("half a JSON object", half_an_entry()),
            ("an empty line", b"\n".to_vec()),
        ];
        for (case, bytes) in cases {
            let (_directory, path) = torn(3, &bytes);
            let log = AuditLog::at(&path);
            let before = std::fs::read(&path).expect("read");
            log.check_appendable()
                .unwrap_or_else(|error| panic!("{case}: {error}"));
            assert_eq!(std::fs::read(&path).expect("read"), before, "{case}");
            let appended = log
                .append("archive.erase", json!({ "tenant": "acme" }), 7)
                .unwrap_or_else(|error| panic!("{case}: {error}"));
            let recovery = appended.recovered.expect("a recovery reported");
            assert_eq!(recovery.line, 4, "{case}");
            assert_eq!(recovery.bytes, bytes.len() as u64, "{case}");
            assert_eq!(
                recovery.kept,
                path.with_file_name("audit.jsonl.torn-3-7"),
                "{case}"
            );
            assert_eq!(
                std::fs::read(&recovery.kept).expect("kept"),
                bytes,
                "{case}"
            );
            assert_eq!(appended.entry.seq, 4, "{case}");
            let verified =
                verify(&path, &[], None).unwrap_or_else(|error| panic!("{case}: {error}"));
            assert_eq!(verified.entries, 5, "{case}");
            assert_eq!(
                verified.recoveries,
                std::slice::from_ref(&recovery),
                "{case}"
            );
            assert_eq!(
                recovery.to_string(),
                format!(
                    "{} bytes of a torn entry were recovered at line 4 and kept in {}",
                    bytes.len(),
                    recovery.kept.display()
                )
            );
            // Reported once: the next append finds a clean tail and chains on.
            let next = log
                .append("archive.export", json!({ "tenant": "acme" }), 8)
                .expect("append");
            assert!(next.recovered.is_none(), "{case}");
            assert_eq!(
                verify(&path, &[], None).expect("verifies").entries,
                6,
                "{case}"
            );
            let lines = lines(&path);
            let recorded: Entry = serde_json::from_str(&lines[3]).expect("entry");
            assert_eq!(recorded.action, RECOVERED);
            assert_eq!(
                recorded.details,
                json!({ "file": "audit.jsonl.torn-3-7", "bytes": bytes.len() })
            );
        }
    }

    #[test]
    fn a_torn_first_line_chains_from_the_start() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("audit.jsonl");
        let half = half_an_entry();
        std::fs::write(&path, &half).expect("tear");
        let appended = AuditLog::at(&path)
            .append("policy.load", json!({}), 1)
            .expect("append");
        assert_eq!(appended.recovered.expect("recovered").line, 1);
        let verified = verify(&path, &[], None).expect("verifies");
        assert_eq!(verified.entries, 2);
        assert_eq!(verified.recoveries[0].line, 1);
    }

    #[test]
    fn verify_names_an_unrecovered_torn_tail_by_its_line() {
        let (_directory, path) = torn(2, &half_an_entry());
        let error = verify(&path, &[], None).expect_err("a torn tail verified");
        assert!(
            matches!(&error, AuditError::Broken { line: 3, problem, .. } if problem.contains("torn last entry")),
            "{error}"
        );
    }

    #[test]
    fn a_torn_line_in_the_middle_stays_an_error_with_its_line() {
        // Garbage on line 2 of 3: not something an append leaves.
        let (_directory, path) = written(3);
        let mut broken = lines(&path);
        broken[1] = "{\"seq\":1,".into();
        rewrite(&path, &broken);
        let error = verify(&path, &[], None).expect_err("a broken middle verified");
        assert!(
            matches!(&error, AuditError::Broken { line: 2, problem, .. } if problem.contains("not an audit entry")),
            "{error}"
        );

        // Garbage on line 3, then a torn line 4: only the last line may be
        // moved aside, so appends refuse, naming line 3.
        let (_directory, path) = torn(2, b"garbage\n{\"seq\"");
        let before = std::fs::read(&path).expect("read");
        let log = AuditLog::at(&path);
        for error in [
            log.check_appendable().expect_err("appendable"),
            log.append("policy.load", json!({}), 0)
                .expect_err("appended to a broken log"),
        ] {
            assert!(
                matches!(&error, AuditError::Broken { line: 3, .. }),
                "{error}"
            );
        }
        assert_eq!(std::fs::read(&path).expect("read"), before);
        assert_eq!(
            std::fs::read_dir(path.parent().expect("directory"))
                .expect("list")
                .count(),
            1,
            "nothing kept aside"
        );
    }

    #[test]
    fn a_symlinked_log_is_refused_and_its_target_untouched() {
        let directory = tempfile::tempdir().expect("tempdir");
        let victim = directory.path().join("victim");
        std::fs::write(&victim, b"precious").expect("victim");
        let path = directory.path().join("audit.jsonl");
        std::os::unix::fs::symlink(&victim, &path).expect("link");
        let dangling = directory.path().join("dangling.jsonl");
        std::os::unix::fs::symlink(directory.path().join("nowhere"), &dangling).expect("link");
        for path in [&path, &dangling] {
            let log = AuditLog::at(path);
            for error in [
                log.check_appendable()
                    .expect_err("appendable through a symlink"),
                log.append("policy.load", json!({}), 0)
                    .expect_err("appended through a symlink"),
            ] {
                assert!(matches!(error, AuditError::Symlink { .. }), "{error}");
                assert!(error.to_string().contains("symbolic link"), "{error}");
            }
        }
        assert_eq!(std::fs::read(&victim).expect("victim"), b"precious");
        assert!(!directory.path().join("nowhere").exists());
    }

    #[test]
    fn check_appendable_creates_the_log_private_and_writes_no_entry() {
        use std::os::unix::fs::MetadataExt as _;
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("state/audit.jsonl");
        AuditLog::at(&path).check_appendable().expect("appendable");
        let metadata = std::fs::symlink_metadata(&path).expect("created");
        assert_eq!(metadata.mode() & 0o7777, 0o600);
        assert_eq!(metadata.len(), 0);

        // A state directory that cannot be one.
        let file = directory.path().join("a-file");
        std::fs::write(&file, b"").expect("file");
        let error = AuditLog::at(&file.join("audit.jsonl"))
            .check_appendable()
            .expect_err("a log under a file");
        assert!(
            matches!(&error, AuditError::Io { source, .. } if source.raw_os_error() == Some(libc::ENOTDIR)),
            "{error}"
        );
    }

    fn key(byte: u8) -> AuditKey {
        AuditKey::new(Zeroizing::new([byte; 32]))
    }

    /// `entries` retention entries, keyed with `key`.
    fn written_keyed(entries: usize, key: &AuditKey) -> (tempfile::TempDir, PathBuf) {
        let (directory, path) = written(0);
        let log = AuditLog::at(&path);
        log.set_key(Some(key.clone())).expect("set key");
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

    /// Lines from `from` on rewritten as whoever can write the file but
    /// lacks the key would: the details changed, every hash recomputed so
    /// the chain holds, and the MAC made by `forge` (`None`: dropped).
    fn rebuild(path: &Path, from: usize, forge: Option<&AuditKey>) {
        let mut lines = lines(path);
        let mut prev = match from {
            0 => GENESIS.to_owned(),
            _ => {
                serde_json::from_str::<Entry>(&lines[from - 1])
                    .expect("entry")
                    .hash
            }
        };
        for line in &mut lines[from..] {
            let mut entry: Entry = serde_json::from_str(line).expect("entry");
            entry.details["partition"] = json!(99);
            entry.prev = prev;
            if forge.is_none() {
                entry.key = None;
            }
            entry.hash = entry.computed_hash();
            entry.mac = forge.map(|forged| forged.mac(&entry.hash).to_hex().to_string());
            prev = entry.hash.clone();
            *line = serde_json::to_string(&entry).expect("json");
        }
        rewrite(path, &lines);
    }

    #[test]
    fn a_keyed_log_verifies_with_its_key_and_only_with_it() {
        let acme = key(1);
        let (_directory, path) = written_keyed(4, &acme);
        let entry: Entry = serde_json::from_str(&lines(&path)[0]).expect("entry");
        assert_eq!(entry.key.as_deref(), Some(acme.id()));
        assert_eq!(entry.mac.as_ref().map(String::len), Some(64));
        let verified = verify(&path, std::slice::from_ref(&acme), None).expect("verifies");
        assert_eq!(verified.entries, 4);
        assert_eq!(verified.unauthenticated, 0);
        assert_eq!(verified.keys, [acme.id()]);

        for keys in [vec![], vec![key(2)]] {
            let error = verify(&path, &keys, None).expect_err("verified without its key");
            assert!(
                matches!(&error, AuditError::UnknownKey { line: 1, key, .. } if key == acme.id()),
                "{error}"
            );
            assert!(error.to_string().contains("--key"), "{error}");
        }
    }

    #[test]
    fn a_log_rebuilt_without_the_key_fails_at_the_first_rebuilt_line() {
        let acme = key(1);
        // MACs forged under a key of the rebuilder's own, the id copied.
        let (_directory, path) = written_keyed(5, &acme);
        rebuild(&path, 2, Some(&key(9)));
        assert!(verify(&path, &[], None).is_err());
        let error = verify(&path, std::slice::from_ref(&acme), None).expect_err("rebuilt");
        assert!(
            matches!(&error, AuditError::Broken { line: 3, problem, .. } if problem.contains("MAC does not match")),
            "{error}"
        );

        // The rebuilt tail downgraded to plainly hashed entries.
        let (_directory, path) = written_keyed(5, &acme);
        rebuild(&path, 2, None);
        let error = verify(&path, std::slice::from_ref(&acme), None).expect_err("downgraded");
        assert!(
            matches!(&error, AuditError::Broken { line: 3, problem, .. } if problem.contains("has no MAC, yet line 1")),
            "{error}"
        );
    }

    #[test]
    fn an_edited_keyed_entry_fails_at_its_line() {
        let acme = key(1);
        let (_directory, path) = written_keyed(5, &acme);
        // Its hash recomputed, but not its MAC (that needs the key).
        let mut edited = lines(&path);
        let mut entry: Entry = serde_json::from_str(&edited[2]).expect("entry");
        entry.details["partition"] = json!(7);
        entry.hash = entry.computed_hash();
        edited[2] = serde_json::to_string(&entry).expect("json");
        rewrite(&path, &edited);
        let error = verify(&path, std::slice::from_ref(&acme), None).expect_err("edited");
        assert!(
            matches!(&error, AuditError::Broken { line: 3, problem, .. } if problem.contains("MAC")),
            "{error}"
        );
        // A key id swapped for another's breaks the hash.
        let mut swapped = lines(&path);
        swapped[2] = swapped[2].replace(acme.id(), key(2).id());
        rewrite(&path, &swapped);
        let error =
            verify(&path, &[acme.clone(), key(2)], None).expect_err("a swapped key id verified");
        assert!(
            matches!(&error, AuditError::Broken { line: 3, problem, .. } if problem.contains("changed")),
            "{error}"
        );
    }

    #[test]
    fn a_log_from_before_keying_verifies_unauthenticated_and_goes_on_keyed() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("audit.jsonl");
        // Written by scrim before entries had MACs.
        std::fs::write(&path, include_str!("../testdata/before-keying.jsonl")).expect("write");
        let verified = verify(&path, &[], None).expect("an old log verifies");
        assert_eq!((verified.entries, verified.unauthenticated), (3, 3));
        assert!(verified.keys.is_empty());

        // A keyed policy carries the chain on; what came before stays
        // unauthenticated, and the log stays keyed.
        let acme = key(1);
        let log = AuditLog::at(&path);
        log.set_key(Some(acme.clone())).expect("set key");
        log.append("policy.load", json!({ "hash": "abc" }), 9)
            .expect("append");
        let verified = verify(&path, std::slice::from_ref(&acme), None).expect("verifies");
        assert_eq!((verified.entries, verified.unauthenticated), (4, 3));
        assert_eq!(verified.keys, [acme.id()]);
        for error in [
            log.set_key(None).expect_err("downgraded"),
            AuditLog::at(&path)
                .append("policy.load", json!({}), 10)
                .expect_err("appended without a MAC after a keyed entry"),
            AuditLog::at(&path)
                .check_appendable()
                .expect_err("appendable without a key"),
        ] {
            assert!(
                matches!(&error, AuditError::KeyNeeded { key, .. } if key == acme.id()),
                "{error}"
            );
        }
        assert_eq!(lines(&path).len(), 4);
        // A key rotated: both verify, each its own entries.
        let rotated = key(2);
        log.set_key(Some(rotated.clone())).expect("rotate");
        log.append("policy.load", json!({ "hash": "def" }), 11)
            .expect("append");
        let both = [acme.clone(), rotated.clone()];
        let verified = verify(&path, &both, None).expect("verifies");
        assert_eq!(verified.keys, [acme.id(), rotated.id()]);
        let error = verify(&path, std::slice::from_ref(&rotated), None).expect_err("old key");
        assert!(
            matches!(error, AuditError::UnknownKey { line: 4, .. }),
            "{error}"
        );
    }

    #[test]
    fn a_torn_tail_of_a_keyed_log_is_recovered_under_the_key() {
        let acme = key(1);
        let (_directory, path) = written_keyed(2, &acme);
        let mut file = OpenOptions::new().append(true).open(&path).expect("open");
        file.write_all(b"{\"seq\":2,").expect("tear");
        let log = AuditLog::at(&path);
        log.set_key(Some(acme.clone())).expect("set key");
        let appended = log.append("archive.erase", json!({}), 3).expect("append");
        assert!(appended.recovered.is_some());
        let verified = verify(&path, std::slice::from_ref(&acme), None).expect("verifies");
        assert_eq!((verified.entries, verified.unauthenticated), (4, 0));
    }

    #[test]
    fn a_kept_head_is_found_with_the_entries_after_it() {
        let acme = key(1);
        let (_directory, path) = written_keyed(5, &acme);
        let hashes: Vec<String> = lines(&path)
            .iter()
            .map(|line| serde_json::from_str::<Entry>(line).expect("entry").hash)
            .collect();
        let keys = std::slice::from_ref(&acme);
        let at = |head: &str| {
            verify(&path, keys, Some(head))
                .expect("verifies")
                .entries_after_head
        };
        assert_eq!(at(&hashes[4]), Some(0));
        assert_eq!(at(&hashes[1]), Some(3));
        assert_eq!(at(GENESIS), Some(5));
        assert_eq!(at(&"f".repeat(64)), None);
        // The tail cut off after the kept head: the head is not there.
        let mut cut = lines(&path);
        cut.truncate(3);
        rewrite(&path, &cut);
        assert_eq!(at(&hashes[4]), None);
        assert_eq!(at(&hashes[2]), Some(0));
    }

    #[test]
    fn a_key_id_is_a_fingerprint_apart_from_the_key() {
        let acme = key(1);
        assert_eq!(acme.id().len(), 16);
        assert_eq!(acme.id(), key(1).id());
        assert_ne!(acme.id(), key(2).id());
        assert!(!hex(&[1; 32]).contains(acme.id()));
        assert_eq!(format!("{acme:?}"), format!("AuditKey({})", acme.id()));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}
