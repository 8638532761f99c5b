//! How scrim touches the filesystem; see the README for the rules and why.
mod beneath;
mod error;
mod lock;
mod trust;

pub use beneath::{Beneath, create_new, create_private_dir_all};
pub use error::FilesError;
pub use lock::StateLock;
pub use trust::check_private;

/// The mode of every file scrim creates: readable by the tenant's group
/// (`archive_group`), by nobody else.
pub const FILE_MODE: u32 = 0o640;
/// The mode of every directory scrim creates.
pub const DIRECTORY_MODE: u32 = 0o750;
