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

    /// A refused directory, a planted symlink, a create or rename that
    /// failed: the files error names the path and the problem.
    #[error("archive: {0}")]
    Files(scrim_files::FilesError),

    #[error("archive: retention removed {removed} of the {files} files of {location}")]
    PartitionRemoval {
        location: String,
        removed: usize,
        files: usize,
        #[source]
        source: scrim_files::FilesError,
    },
}

impl From<scrim_files::FilesError> for SinkError {
    fn from(error: scrim_files::FilesError) -> Self {
        SinkError::Files(error)
    }
}
