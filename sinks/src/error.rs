use std::{io, path::PathBuf};

/// What can go wrong writing an archive; each names the sink and the file.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("archive: cannot create directory {path}: {source}")]
    CreateDirectory { path: PathBuf, source: io::Error },

    #[error("archive: writing {path} failed: {source}")]
    Io { path: PathBuf, source: io::Error },

    #[error("archive: encoding Parquet for {path} failed: {detail}")]
    Parquet { path: PathBuf, detail: String },

    #[error(
        "archive: tenant name {tenant:?} cannot name a directory: use letters, digits, `.`, `_` \
         and `-`, not starting with `.`"
    )]
    InvalidTenant { tenant: String },

    #[error("archive: object storage {url}: {problem}")]
    Bucket { url: String, problem: String },

    #[error("archive: subject request on {path}: {problem}")]
    Subject { path: PathBuf, problem: String },

    /// Opening or creating below an archive root without following a
    /// symlink; the message names the path.
    #[error(transparent)]
    Files(#[from] scrim_files::FilesError),

    #[error("archive: retention removed {removed} of the {files} files of {location}")]
    PartitionRemoval {
        location: String,
        removed: usize,
        files: usize,
        #[source]
        source: scrim_files::FilesError,
    },
}
