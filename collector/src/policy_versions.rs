//! Every policy version `scrim run` put in force, kept in the state
//! directory as `policies/<hash>.json`: each archived row names its
//! policy (`scrim.policy.hash`), and a data subject's rows are found by
//! the rules of the version that wrote them (a uid kept as a number then,
//! pseudonymised now, or not let out at all), so `scrim archive export`
//! and `erase` read every version kept here.
//!
//! A version holds the policy's text, syntax, base directory, overrides
//! and master key fingerprint, never key material (see
//! [`PolicyVersion`]). It is written under a temporary name, synced and
//! renamed, through a handle on `policies/` opened without following a
//! symlink, mode 0600: nothing planted in the state directory redirects
//! it, and a crash leaves the old set.
use std::{
    fs,
    io::{Read as _, Write as _},
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
};

use scrim_files::{Beneath, FilesError};
use scrim_policies::{CompiledPolicy, MAX_POLICY_BYTES, PolicyVersion, VersionError};

const DIRECTORY: &str = "policies";

/// The most a stored version may hold: its text (at most a policy file's
/// limit), escaped as JSON, and a few names.
const MAX_VERSION_BYTES: u64 = 2 * MAX_POLICY_BYTES + (64 << 10);

#[derive(Debug, thiserror::Error)]
pub enum VersionStoreError {
    #[error("policy versions in the state directory: {0}")]
    Files(#[from] FilesError),
    #[error("policy versions in the state directory: cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "policy version {path}: {problem}; every version that wrote the archive must be \
         readable for a subject request to be complete"
    )]
    Unreadable { path: PathBuf, problem: String },
    #[error(
        "a stored policy version cannot be rebuilt; every version that wrote the archive must \
         be for a subject request to be complete"
    )]
    Rebuild(#[source] VersionError),
}

/// Keeps `version` in `state_dir` (once per hash: the same hash is the
/// same text, overrides and key).
pub fn store(state_dir: &Path, version: &PolicyVersion) -> Result<(), VersionStoreError> {
    let directory = Beneath::open_root(state_dir)?.dir(Path::new(DIRECTORY))?;
    let name = file_name(&version.hash)?;
    if directory.open_file(&name).is_ok() {
        return Ok(());
    }
    let bytes = serde_json::to_vec_pretty(version).map_err(|error| VersionStoreError::Write {
        path: directory.path().join(&name),
        source: error.into(),
    })?;
    write_private(&directory, &name, &bytes).map_err(|source| VersionStoreError::Write {
        path: directory.path().join(&name),
        source,
    })
}

/// Every version kept in `state_dir`, rebuilt (rules only, no key); none
/// if nothing was ever kept. A version that cannot be read or rebuilt is
/// an error: a subject request must not leave its rows out unsaid.
pub fn load_all(state_dir: &Path) -> Result<Vec<CompiledPolicy>, VersionStoreError> {
    let path = state_dir.join(DIRECTORY);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let directory = Beneath::open_root(state_dir)?.open_dir(Path::new(DIRECTORY))?;
    let mut versions = Vec::new();
    for name in names(&path)? {
        let Some(hash) = name.strip_suffix(".json") else {
            continue;
        };
        let path = path.join(&name);
        let unreadable = |problem: String| VersionStoreError::Unreadable {
            path: path.clone(),
            problem,
        };
        let bytes = read_bounded(&directory, &name, MAX_VERSION_BYTES).map_err(unreadable)?;
        let version: PolicyVersion = serde_json::from_slice(&bytes)
            .map_err(|error| unreadable(format!("not a policy version: {error}")))?;
        if version.hash != hash {
            return Err(unreadable(format!(
                "holds the version {}, not the one its name says",
                version.hash
            )));
        }
        versions.push(version.rebuild().map_err(VersionStoreError::Rebuild)?);
    }
    Ok(versions)
}

/// A version's file name: its hash, which must be hex (so a plain name).
fn file_name(hash: &str) -> Result<String, VersionStoreError> {
    if hash.is_empty() || !hash.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(VersionStoreError::Unreadable {
            path: PathBuf::from(hash),
            problem: "not a policy hash".into(),
        });
    }
    Ok(format!("{hash}.json"))
}

/// The names in `directory` that are not hidden (temporary files are),
/// in order.
pub(crate) fn names(directory: &Path) -> Result<Vec<String>, FilesError> {
    let io = |source| FilesError::Io {
        path: directory.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(directory).map_err(io)? {
        let name = entry.map_err(io)?.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with('.') {
            names.push(name.into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// The bytes of the regular file `name` in `directory`, at most `limit`.
pub(crate) fn read_bounded(directory: &Beneath, name: &str, limit: u64) -> Result<Vec<u8>, String> {
    let file = directory
        .open_file(name)
        .map_err(|error| error.to_string())?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| error.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!("larger than {limit} bytes"));
    }
    Ok(bytes)
}

/// Writes `bytes` to `name` in `directory`, mode 0600, atomically: a new
/// hidden file (never an existing name), synced, renamed over `name`,
/// the directory synced. On error `name` is as it was.
pub(crate) fn write_private(directory: &Beneath, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = format!(
        ".{name}.{}-{}.tmp",
        std::process::id(),
        crate::tenant_pipeline::unix_now()
    );
    let written = directory
        .create_locked(&temporary)
        .map_err(std::io::Error::other)
        .and_then(|mut file| {
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| {
            directory
                .rename(&temporary, name)
                .map_err(std::io::Error::other)
        });
    if let Err(error) = written {
        let _ = directory.remove_file(&temporary);
        return Err(error);
    }
    directory.sync().map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt as _;

    use super::*;

    #[test]
    fn keeps_each_version_once_privately_and_rebuilds_it() {
        let state = tempfile::tempdir().unwrap();
        let policy = scrim_policies::default_policy().unwrap();
        store(state.path(), policy.version()).unwrap();
        store(state.path(), policy.version()).unwrap();
        let names = names(&state.path().join(DIRECTORY)).unwrap();
        assert_eq!(names, [format!("{}.json", policy.hash())]);
        let metadata = fs::metadata(state.path().join(DIRECTORY).join(&names[0])).unwrap();
        assert_eq!(metadata.mode() & 0o777, 0o600);
        let loaded = load_all(state.path()).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].hash(), policy.hash());
    }

    #[test]
    fn a_planted_symlink_is_replaced_never_written_through_and_a_changed_version_refused() {
        let state = tempfile::tempdir().unwrap();
        let policy = scrim_policies::default_policy().unwrap();
        let directory = state.path().join(DIRECTORY);
        fs::create_dir_all(&directory).unwrap();
        let victim = state.path().join("victim");
        fs::write(&victim, "untouched").unwrap();
        let stored = directory.join(format!("{}.json", policy.hash()));
        std::os::unix::fs::symlink(&victim, &stored).unwrap();
        store(state.path(), policy.version()).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched");
        assert!(fs::symlink_metadata(&stored).unwrap().is_file());

        let text = fs::read_to_string(&stored).unwrap();
        fs::write(&stored, text.replace("process", "network")).unwrap();
        let error = load_all(state.path()).unwrap_err();
        assert!(matches!(error, VersionStoreError::Rebuild(_)), "{error}");
    }
}
