//! Master keys replaced while scrim ran, kept in the state directory as
//! `keys/<fingerprint>` until no row they pseudonymised can still be in an
//! archive: a data subject's rows written before a key change carry the
//! old key's pseudonyms, and only that key finds them.
//!
//! Each is wrapped under the master key in force (see
//! [`scrim_redaction::WrappedKey`]) and re-wrapped at every key change, so
//! the current key opens them all and the state directory alone opens
//! none. What an operator must keep is therefore the current key only:
//! lose it and every kept key is lost with it (as is every pseudonym's
//! link to its person). A kept key goes once the longest retention of the
//! policies it served, or of the one now in force, has passed since it was
//! retired, with [`SLACK`] for the hour partition a row lands in and the
//! wait for the next retention pass; each removal is audited.
use std::{path::Path, sync::Arc, time::Duration};

use scrim_files::{Beneath, FilesError};
use scrim_redaction::{MasterKey, WrapError, WrappedKey};
use serde::{Deserialize, Serialize};

use crate::policy_versions::{names, read_bounded, write_private};

const DIRECTORY: &str = "keys";

/// The fingerprint of the key last put in force, so that a key replaced
/// while scrim was stopped is noticed at the next start.
const IN_FORCE: &str = "in-force";

/// How long past its retention a row can still be on disk: the rest of its
/// hour partition, and an hour until the next retention pass (the
/// default `--retention-interval`).
pub const SLACK: Duration = Duration::from_secs(2 * 3600);

/// A kept key file: public facts, and the key wrapped.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeptFile {
    fingerprint: String,
    /// The fingerprint of the key it is wrapped under.
    wrapped_by: String,
    /// When it stopped being in force (Unix nanoseconds).
    retired: i64,
    /// The longest retention of the policies it was in force under, in
    /// seconds.
    retention_seconds: u64,
    nonce: String,
    ciphertext: String,
}

impl KeptFile {
    /// What the wrapping is bound to: every fact of the file, so none can
    /// be changed (a later removal, another name) without the key failing
    /// to open.
    fn label(&self) -> Vec<u8> {
        format!(
            "scrim kept master key v1\nfingerprint={}\nwrapped_by={}\nretired={}\nretention={}\n",
            self.fingerprint, self.wrapped_by, self.retired, self.retention_seconds
        )
        .into_bytes()
    }

    fn open(&self, with: &MasterKey) -> Result<MasterKey, KeptKeyError> {
        let failed = |problem: String| KeptKeyError::Unreadable {
            fingerprint: self.fingerprint.clone(),
            problem,
        };
        let nonce = hex_decode(&self.nonce)
            .and_then(|nonce| <[u8; 24]>::try_from(nonce).ok())
            .ok_or_else(|| failed("its nonce is not 24 bytes of hex".into()))?;
        let ciphertext =
            hex_decode(&self.ciphertext).ok_or_else(|| failed("its key is not hex".into()))?;
        let key = MasterKey::unwrap(&WrappedKey { nonce, ciphertext }, with, &self.label())
            .map_err(|error| failed(error.to_string()))?;
        if key.fingerprint() != self.fingerprint {
            return Err(failed("holds another key than its name says".into()));
        }
        Ok(key)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeptKeyError {
    #[error("kept master keys in the state directory: {0}")]
    Files(#[from] FilesError),
    #[error("kept master key {fingerprint}: {problem}")]
    Unreadable {
        fingerprint: String,
        problem: String,
    },
    #[error("kept master key {fingerprint}: cannot be wrapped")]
    Wrap {
        fingerprint: String,
        #[source]
        source: WrapError,
    },
    #[error("kept master key {fingerprint}: cannot be written")]
    Write {
        fingerprint: String,
        #[source]
        source: std::io::Error,
    },
}

/// The keys kept in a state directory that the key in force opens, and
/// the fingerprints of those it does not (wrapped under a key that is
/// gone, or changed).
#[derive(Default)]
pub struct Opened {
    pub keys: Vec<Arc<MasterKey>>,
    pub unopened: Vec<String>,
}

/// Every kept key `current` opens.
pub fn open_all(state_dir: &Path, current: &MasterKey) -> Result<Opened, KeptKeyError> {
    let mut opened = Opened::default();
    for kept in read_all(state_dir)? {
        match kept.open(current) {
            Ok(key) => opened.keys.push(Arc::new(key)),
            Err(_) => opened.unopened.push(kept.fingerprint),
        }
    }
    Ok(opened)
}

/// Keeps `retired` (in force until `now` under policies whose longest
/// retention was `retention`) wrapped under `current`, and re-wraps under
/// `current` every key kept so far (they were wrapped under `retired`).
/// Returns the fingerprints of kept keys `retired` could not open, which
/// stay as they are. A kept file of `current` itself (a key put back in
/// force) goes: it is the key in force again.
pub fn retire(
    state_dir: &Path,
    retired: &MasterKey,
    current: &MasterKey,
    retention: Duration,
    now: i64,
) -> Result<Vec<String>, KeptKeyError> {
    let directory = Beneath::open_root(state_dir)?.dir(Path::new(DIRECTORY))?;
    let current_fingerprint = current.fingerprint();
    let mut unopened = Vec::new();
    for kept in read_all(state_dir)? {
        if kept.fingerprint == current_fingerprint {
            directory.remove_file(&kept.fingerprint)?;
            continue;
        }
        match kept.open(retired) {
            Ok(key) => write(
                &directory,
                &key,
                current,
                kept.retired,
                kept.retention_seconds,
            )?,
            Err(_) => unopened.push(kept.fingerprint),
        }
    }
    if retired.fingerprint() != current_fingerprint {
        write(&directory, retired, current, now, retention.as_secs())?;
    }
    directory.sync()?;
    Ok(unopened)
}

/// A kept key whose rows are all past retention, removed.
pub struct Expired {
    pub fingerprint: String,
    pub retired: i64,
}

/// Removes every kept key retired longer ago than the longest retention it
/// served under, or `retention` (the policy now in force), whichever is
/// longer, plus [`SLACK`].
pub fn expire(
    state_dir: &Path,
    retention: Duration,
    now: i64,
) -> Result<Vec<Expired>, KeptKeyError> {
    let kept = read_all(state_dir)?;
    if kept.is_empty() {
        return Ok(Vec::new());
    }
    let directory = Beneath::open_root(state_dir)?.open_dir(Path::new(DIRECTORY))?;
    let mut expired = Vec::new();
    for kept in kept {
        let served = Duration::from_secs(kept.retention_seconds).max(retention) + SLACK;
        let until = kept
            .retired
            .saturating_add(i64::try_from(served.as_nanos()).unwrap_or(i64::MAX));
        if now > until {
            directory.remove_file(&kept.fingerprint)?;
            expired.push(Expired {
                fingerprint: kept.fingerprint,
                retired: kept.retired,
            });
        }
    }
    if !expired.is_empty() {
        directory.sync()?;
    }
    Ok(expired)
}

/// The fingerprint recorded as last in force, if any, and records
/// `fingerprint` (or that no key is) in its place.
pub fn swap_in_force(
    state_dir: &Path,
    fingerprint: Option<&str>,
) -> Result<Option<String>, KeptKeyError> {
    let directory = Beneath::open_root(state_dir)?.dir(Path::new(DIRECTORY))?;
    let before = read_bounded(&directory, IN_FORCE, 128)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty());
    write_private(&directory, IN_FORCE, fingerprint.unwrap_or("").as_bytes()).map_err(
        |source| KeptKeyError::Write {
            fingerprint: IN_FORCE.into(),
            source,
        },
    )?;
    Ok(before)
}

/// Whether a key with `fingerprint` is kept.
pub fn is_kept(state_dir: &Path, fingerprint: &str) -> bool {
    is_fingerprint(fingerprint) && state_dir.join(DIRECTORY).join(fingerprint).is_file()
}

fn write(
    directory: &Beneath,
    key: &MasterKey,
    under: &MasterKey,
    retired: i64,
    retention_seconds: u64,
) -> Result<(), KeptKeyError> {
    let fingerprint = key.fingerprint();
    let mut kept = KeptFile {
        fingerprint: fingerprint.clone(),
        wrapped_by: under.fingerprint(),
        retired,
        retention_seconds,
        nonce: String::new(),
        ciphertext: String::new(),
    };
    let wrapped = key
        .wrap(under, &kept.label())
        .map_err(|source| KeptKeyError::Wrap {
            fingerprint: fingerprint.clone(),
            source,
        })?;
    kept.nonce = hex_encode(&wrapped.nonce);
    kept.ciphertext = hex_encode(&wrapped.ciphertext);
    let bytes = serde_json::to_vec_pretty(&kept).map_err(|error| KeptKeyError::Write {
        fingerprint: fingerprint.clone(),
        source: error.into(),
    })?;
    write_private(directory, &fingerprint, &bytes).map_err(|source| KeptKeyError::Write {
        fingerprint,
        source,
    })
}

/// Every kept key file; none without the directory. A file that is not
/// one (another name, unreadable) is an error: a key must not be lost
/// unsaid.
fn read_all(state_dir: &Path) -> Result<Vec<KeptFile>, KeptKeyError> {
    let path = state_dir.join(DIRECTORY);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let directory = Beneath::open_root(state_dir)?.open_dir(Path::new(DIRECTORY))?;
    let mut kept = Vec::new();
    for name in names(&path)? {
        if name == IN_FORCE {
            continue;
        }
        let unreadable = |problem: String| KeptKeyError::Unreadable {
            fingerprint: name.clone(),
            problem,
        };
        if !is_fingerprint(&name) {
            return Err(unreadable("not the name of a kept key".into()));
        }
        let bytes = read_bounded(&directory, &name, 4096).map_err(unreadable)?;
        let file: KeptFile = serde_json::from_slice(&bytes)
            .map_err(|error| unreadable(format!("not a kept key file: {error}")))?;
        if file.fingerprint != name {
            return Err(unreadable("names another key inside".into()));
        }
        kept.push(file);
    }
    Ok(kept)
}

fn is_fingerprint(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|byte| byte.is_ascii_hexdigit())
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt as _;

    use super::*;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_bytes(vec![byte; 32]).unwrap()
    }

    const HOUR: i64 = 3_600_000_000_000;

    #[test]
    fn every_replaced_key_opens_with_the_current_one_until_its_rows_are_past_retention() {
        let state = tempfile::tempdir().unwrap();
        let (first, second, third) = (key(1), key(2), key(3));
        let day = Duration::from_secs(86_400);
        assert!(
            retire(state.path(), &first, &second, day, 0)
                .unwrap()
                .is_empty()
        );
        assert!(
            retire(state.path(), &second, &third, day, 10 * HOUR)
                .unwrap()
                .is_empty()
        );
        let opened = open_all(state.path(), &third).unwrap();
        let mut fingerprints: Vec<String> =
            opened.keys.iter().map(|key| key.fingerprint()).collect();
        fingerprints.sort();
        let mut expected = vec![first.fingerprint(), second.fingerprint()];
        expected.sort();
        assert_eq!(fingerprints, expected);
        // The state directory alone opens nothing; no key byte is in it.
        assert_eq!(open_all(state.path(), &first).unwrap().unopened.len(), 2);
        for name in [first.fingerprint(), second.fingerprint()] {
            let path = state.path().join(DIRECTORY).join(&name);
            assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(!text.contains(&"01".repeat(32)) && !text.contains(&"02".repeat(32)));
        }
        // The first key's rows are past a day and the slack at 27 hours:
        // the second's (retired at 10 hours) not yet.
        let expired = expire(state.path(), Duration::ZERO, 27 * HOUR).unwrap();
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].fingerprint, first.fingerprint());
        // A longer retention now in force keeps the second longer.
        assert!(expire(state.path(), 2 * day, 37 * HOUR).unwrap().is_empty());
        assert_eq!(expire(state.path(), day, 37 * HOUR).unwrap().len(), 1);
    }

    #[test]
    fn a_changed_kept_file_does_not_open() {
        let state = tempfile::tempdir().unwrap();
        let (old, new) = (key(1), key(2));
        retire(state.path(), &old, &new, Duration::ZERO, 0).unwrap();
        let path = state.path().join(DIRECTORY).join(old.fingerprint());
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace(
                "\"retention_seconds\": 0",
                "\"retention_seconds\": 99999999",
            ),
        )
        .unwrap();
        let opened = open_all(state.path(), &new).unwrap();
        assert!(opened.keys.is_empty());
        assert_eq!(opened.unopened, [old.fingerprint()]);
    }
}
