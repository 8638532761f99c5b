use std::{io, path::PathBuf};

/// What can go wrong; each names the path, and says what to do where the
/// fix is the operator's.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },

    #[error(
        "{path} is a symbolic link where scrim expects a directory or file of its own; \
         nothing is written through it (remove it, or point scrim at the real path)"
    )]
    Symlink { path: PathBuf },

    #[error("{path} is {kind}, not a regular file; give the path of a file")]
    NotAFile { path: PathBuf, kind: &'static str },

    #[error(
        "{path} is larger than scrim reads of such a file ({size} bytes, the limit is {limit}); \
         nothing of it was used"
    )]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },

    #[error("{path}: {problem}")]
    Untrusted { path: PathBuf, problem: String },

    #[error(
        "state directory {path} is in use by another scrim (pid {holder}, as its PID namespace \
         sees it); give each collector a --state-dir of its own"
    )]
    Locked { path: PathBuf, holder: String },
}

impl FilesError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> FilesError {
        let path = path.into();
        move |source| {
            if source.raw_os_error() == Some(libc::ELOOP) {
                FilesError::Symlink { path }
            } else {
                FilesError::Io { path, source }
            }
        }
    }
}
