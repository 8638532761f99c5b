//! The master key every pseudonym key is derived from.
//!
//! It lives in a file of its own, apart from the data (GDPR Art. 4(5): the
//! extra information that re-identifies must be kept separately). scrim
//! refuses a key file that others can read or that another user owns, and
//! keeps the bytes out of `Debug` output and zeroes them when dropped.
use std::{
    fmt,
    fs::{self, OpenOptions},
    io::{Read as _, Write as _},
    os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
};

use zeroize::Zeroizing;

/// What a key's fingerprint is derived under: a context of its own, so
/// that publishing the fingerprint reveals nothing of any other key derived
/// from the master key.
const FINGERPRINT_CONTEXT: &str = "scrim master key fingerprint v1";

/// Bytes a master key needs at least (BLAKE3 keys are 32 bytes).
pub const MASTER_KEY_MIN_BYTES: usize = 32;

/// Bytes of a master key file scrim reads at most: far more than any key,
/// so that a file that is no key (a device, a log) is refused unread.
pub const MASTER_KEY_MAX_BYTES: u64 = 64 << 10;

/// Why a master key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not readable as a key file: not a regular file, too large, or
    /// owned by a user other than root or scrim's (the rule a policy file
    /// is held to as well).
    #[error("master key file {0}")]
    File(scrim_files::FilesError),
    #[error("master key file {path}: accessible to others (mode {mode:o}); run `chmod 600` on it")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error(
        "master key file {path}: holds {len} bytes; a key needs at least {MASTER_KEY_MIN_BYTES}"
    )]
    TooShort { path: PathBuf, len: usize },
    #[error("master key file {path}: cannot be created: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("master key: {len} bytes given; a key needs at least {MASTER_KEY_MIN_BYTES}")]
    ShortBytes { len: usize },
}

/// Secret bytes that pseudonym keys are derived from.
pub struct MasterKey(Zeroizing<Vec<u8>>);

impl MasterKey {
    /// Reads the key at `path`, which must be private to the running user
    /// (owned by it or by root, nobody else can read or write it) and hold
    /// at least [`MASTER_KEY_MIN_BYTES`] bytes and at most
    /// [`MASTER_KEY_MAX_BYTES`]. The file is read without blocking and
    /// checked on the descriptor it was read through.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let read = scrim_files::read_bounded(path, MASTER_KEY_MAX_BYTES).map_err(KeyError::File)?;
        let bytes = Zeroizing::new(read.bytes);
        let mode = read.metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::TooOpen {
                path: path.to_path_buf(),
                mode,
            });
        }
        scrim_files::check_trusted_file(path, &read.metadata).map_err(KeyError::File)?;
        if bytes.len() < MASTER_KEY_MIN_BYTES {
            return Err(KeyError::TooShort {
                path: path.to_path_buf(),
                len: bytes.len(),
            });
        }
        Ok(MasterKey(bytes))
    }

    /// A key from bytes already in memory (tests, benchmarks).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, KeyError> {
        let bytes = Zeroizing::new(bytes);
        if bytes.len() < MASTER_KEY_MIN_BYTES {
            return Err(KeyError::ShortBytes { len: bytes.len() });
        }
        Ok(MasterKey(bytes))
    }

    /// Writes 32 random bytes to a new file at `path`, mode 0600. An
    /// existing file is never overwritten: losing a key loses every
    /// pseudonym's link to its person.
    pub fn generate(path: &Path) -> Result<(), KeyError> {
        let create = |source| KeyError::Create {
            path: path.to_path_buf(),
            source,
        };
        let mut random = Zeroizing::new([0u8; MASTER_KEY_MIN_BYTES]);
        fs::File::open("/dev/urandom")
            .and_then(|mut urandom| urandom.read_exact(random.as_mut()))
            .map_err(create)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(create)?;
        file.write_all(random.as_ref())
            .and_then(|()| file.sync_all())
            .map_err(create)
    }

    /// A public name for this key (32 hex digits of a BLAKE3 key
    /// derivation from it, never the key): it goes into the policy hash, so
    /// replacing the key changes `scrim.policy.hash`, and into the audit
    /// log, so every key change is on record.
    pub fn fingerprint(&self) -> String {
        let derived = Zeroizing::new(blake3::derive_key(FINGERPRINT_CONTEXT, &self.0));
        derived[..16]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The key the audit log's entries are authenticated with
    /// (`scrim_audit::AuditKey`). Its context is its own, never a
    /// pseudonym key's: whoever verifies the log learns no pseudonym, and a
    /// pseudonym key cannot forge an entry.
    pub fn audit_key(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(blake3::derive_key(AUDIT_KEY_CONTEXT, self.bytes()))
    }
}

/// The context of [`MasterKey::audit_key`]'s derivation; pseudonym keys'
/// contexts start `scrim pseudonym key`.
const AUDIT_KEY_CONTEXT: &str = "scrim audit key v1";

impl fmt::Debug for MasterKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("MasterKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_key(dir: &Path, bytes: &[u8], mode: u32) -> PathBuf {
        let path = dir.join("master.key");
        fs::write(&path, bytes).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn loads_a_private_key_of_32_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_key(dir.path(), &[7; 32], 0o600);
        assert_eq!(MasterKey::load(&path).unwrap().bytes(), &[7; 32]);
    }

    #[test]
    fn refuses_keys_others_can_read_and_short_keys() {
        let dir = tempfile::tempdir().unwrap();
        let open = write_key(dir.path(), &[7; 32], 0o640);
        let error = MasterKey::load(&open).unwrap_err().to_string();
        assert!(error.contains("accessible to others (mode 640)"), "{error}");
        let short = write_key(dir.path(), &[7; 16], 0o600);
        let error = MasterKey::load(&short).unwrap_err().to_string();
        assert!(error.contains("holds 16 bytes"), "{error}");
    }

    #[test]
    fn refuses_a_key_another_user_owns_and_a_fifo_at_once() {
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            let theirs = write_key(dir.path(), &[7; 32], 0o600);
            std::os::unix::fs::chown(&theirs, Some(65534), None).unwrap();
            let error = MasterKey::load(&theirs).unwrap_err().to_string();
            assert!(error.contains("owned by uid 65534"), "{error}");
        }
        let fifo = dir.path().join("fifo.key");
        let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a NUL-terminated path we own.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let error = MasterKey::load(&fifo).unwrap_err().to_string();
        assert!(error.contains("is a FIFO"), "{error}");
    }

    #[test]
    fn generates_a_private_key_and_never_overwrites_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.key");
        MasterKey::generate(&path).unwrap();
        let metadata = fs::metadata(&path).unwrap();
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
        assert_eq!(metadata.len(), 32);
        let before = fs::read(&path).unwrap();
        assert!(MasterKey::generate(&path).is_err());
        assert_eq!(fs::read(&path).unwrap(), before);
    }

    #[test]
    fn the_audit_key_is_no_pseudonym_key() {
        let master = std::sync::Arc::new(MasterKey::from_bytes(vec![0x41; 32]).unwrap());
        let audit = master.audit_key();
        assert_ne!(audit.as_slice(), master.bytes());
        assert_ne!(
            *audit,
            *MasterKey::from_bytes(vec![0x42; 32]).unwrap().audit_key()
        );
        // A pseudonym is a keyed hash under the tenant's epoch key, which
        // is not the audit key: the same hash under the audit key differs.
        let mut pseudonymizer =
            crate::Pseudonymizer::new(master, "acme", std::time::Duration::from_secs(86_400));
        let pseudonym = pseudonymizer.pseudonymize("process.real_user.id", b"1000", 0);
        let under = |key: &[u8; 32]| {
            let mut hasher = blake3::Hasher::new_keyed(key);
            hasher.update(b"process.real_user.id\0");
            hasher.update(b"1000");
            hasher.finalize().to_hex()[..32].to_owned()
        };
        let epoch_key =
            blake3::derive_key("scrim pseudonym key v1; tenant acme; epoch 0", &[0x41; 32]);
        assert_eq!(&pseudonym.as_str()[3..], under(&epoch_key));
        assert_ne!(&pseudonym.as_str()[3..], under(&audit));
    }

    #[test]
    fn a_fingerprint_names_the_key_and_is_none_of_its_bytes() {
        let key = MasterKey::from_bytes(vec![0x41; 32]).unwrap();
        let fingerprint = key.fingerprint();
        assert_eq!(fingerprint.len(), 32);
        assert_eq!(fingerprint, key.fingerprint());
        assert_ne!(
            fingerprint,
            MasterKey::from_bytes(vec![0x42; 32]).unwrap().fingerprint()
        );
        assert!(!fingerprint.contains("4141"));
    }

    #[test]
    fn debug_never_shows_the_bytes() {
        let key = MasterKey::from_bytes(vec![0x41; 32]).unwrap();
        assert_eq!(format!("{key:?}"), "MasterKey(<redacted>)");
    }
}
