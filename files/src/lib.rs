//! How scrim touches the filesystem; see the README for the rules and why.
mod beneath;
mod error;
mod lock;
mod read;
mod trust;

pub use beneath::{Beneath, create_new, create_private_dir_all};
pub use error::FilesError;
pub use lock::StateLock;
pub use read::{BoundedRead, read_bounded};
pub use trust::{check_private, check_trusted_file, check_trusted_path};

/// The mode of every file scrim creates: readable by the tenant's group
/// (`archive_group`), by nobody else.
pub const FILE_MODE: u32 = 0o640;
/// The mode of every directory scrim creates.
pub const DIRECTORY_MODE: u32 = 0o750;
