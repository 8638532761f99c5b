//! Master keys for tests: policies that pseudonymise need one beside them.
use std::{fs, os::unix::fs::PermissionsExt as _};

/// A fresh directory holding a usable master key, `master.key` (32 bytes,
/// mode 0600), as policies with `master_key_file = "master.key"` expect.
pub fn directory_with_master_key() -> tempfile::TempDir {
    let directory = tempfile::tempdir().expect("create a temporary directory");
    let key = directory.path().join("master.key");
    fs::write(&key, [7u8; 32]).expect("write the master key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod the master key");
    directory
}
