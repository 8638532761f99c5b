//! Where `scrim run`'s policy comes from, and when it changed.
use std::{
    fs,
    path::{Path, PathBuf},
    time::SystemTime,
};

use anyhow::Context as _;
use scrim_policies::{CompiledPolicy, KeyUse, PolicyText};
use tokio::sync::oneshot;

/// A policy file (watched for changes), or the built-in default.
pub struct PolicySource {
    path: Option<PathBuf>,
    seen: Option<Stamp>,
}

/// A policy being read, checked and compiled off the capture loop (see
/// [`PolicySource::load_elsewhere`]); an error on receiving means the
/// loading thread died without an answer.
pub type Loading = oneshot::Receiver<anyhow::Result<CompiledPolicy>>;

impl PolicySource {
    pub fn new(path: Option<PathBuf>) -> Self {
        let seen = path.as_deref().and_then(stamp);
        PolicySource { path, seen }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Reads, checks and compiles the policy. A file that anyone but root
    /// or scrim's user could change is refused (see
    /// [`PolicyText::check_trusted`]): whoever can write the policy
    /// decides whose command lines are captured and where they go.
    pub fn load(&self) -> anyhow::Result<CompiledPolicy> {
        load(self.path.as_deref())
    }

    /// [`PolicySource::load`] on a thread of its own, so that the capture
    /// loop (summaries, the duration, capture itself) never waits on the
    /// file or its master key: the outcome arrives on the receiver. A
    /// plain thread rather than the runtime's blocking pool, whose threads
    /// the runtime waits for on exit: a read stuck on a hung mount must
    /// not hold up scrim's end either.
    pub fn load_elsewhere(&self) -> Loading {
        let (sender, receiver) = oneshot::channel();
        let path = self.path.clone();
        let spawned = std::thread::Builder::new()
            .name("scrim-policy".into())
            .spawn(move || {
                // The loop may have stopped waiting (scrim is ending).
                let _ = sender.send(load(path.as_deref()));
            });
        match spawned {
            Ok(_) => receiver,
            Err(error) => {
                let (sender, receiver) = oneshot::channel();
                let _ = sender.send(Err(anyhow::Error::new(error)
                    .context("cannot start the thread that reads the policy")));
                receiver
            }
        }
    }

    /// Whether the file's modification time or size changed since the last
    /// call (or since [`PolicySource::new`]). A `stat` of the path, which
    /// never waits on what is there (a FIFO included).
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

fn load(path: Option<&Path>) -> anyhow::Result<CompiledPolicy> {
    let Some(path) = path else {
        return Ok(scrim_policies::default_policy()?);
    };
    let text = PolicyText::read(path)?;
    text.check_trusted().context(
        "refusing the policy: scrim run takes only a policy file that root or its own user \
         alone can change",
    )?;
    // Only the collector needs the real key: its presence, size and mode
    // are checked here, and by `scrim policy check --with-keys`.
    Ok(text.compile(KeyUse::Read)?)
}

/// What tells a change: the content's time and size, and the file itself
/// (a file renamed over it, or its owner or mode changed, is a change too).
fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt as _;
    let metadata = fs::metadata(path).ok()?;
    Some((
        metadata.modified().ok()?,
        metadata.len(),
        metadata.ino(),
        metadata.uid(),
        metadata.mode(),
    ))
}

type Stamp = (SystemTime, u64, u64, u32, u32);
