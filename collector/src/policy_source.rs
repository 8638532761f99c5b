//! Where `scrim run`'s policy comes from, and when it changed.
use std::{
    fs,
    path::{Path, PathBuf},
    time::SystemTime,
};

use scrim_policies::{CompiledPolicy, PolicyError};

/// A policy file (watched for changes), or the built-in default.
pub struct PolicySource {
    path: Option<PathBuf>,
    seen: Option<(SystemTime, u64)>,
}

impl PolicySource {
    pub fn new(path: Option<PathBuf>) -> Self {
        let seen = path.as_deref().and_then(stamp);
        PolicySource { path, seen }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Reads, checks and compiles the policy.
    pub fn load(&self) -> Result<CompiledPolicy, PolicyError> {
        match &self.path {
            Some(path) => scrim_policies::compile(path),
            None => scrim_policies::default_policy(),
        }
    }

    /// Whether the file's modification time or size changed since the last
    /// call (or since [`PolicySource::new`]).
    pub fn changed(&mut self) -> bool {
        let Some(path) = &self.path else {
            return false;
        };
        let now = stamp(path);
        if now == self.seen {
            return false;
        }
        self.seen = now;
        true
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let metadata = fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}
