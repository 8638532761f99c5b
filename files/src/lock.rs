//! One collector per state directory. Two collectors sharing one would
//! write every row twice, and each would take the other's unfinished
//! files for a crash's leftovers. The lock is an `flock`, so it is the
//! kernel's to release when the holder dies, and it holds across PID
//! namespaces, where a pid written in a file means nothing.
use std::{
    fs::{File, OpenOptions},
    io::{Read as _, Seek as _, Write as _},
    os::{
        fd::AsRawFd as _,
        unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
    },
    path::{Path, PathBuf},
};

use crate::{FILE_MODE, FilesError, create_private_dir_all};

/// The exclusive lock on a state directory, held until dropped.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
    path: PathBuf,
}

impl StateLock {
    /// Takes `<state_dir>/lock` (creating the directory, mode 0750), or
    /// fails at once, naming the holder's pid, if another process has it.
    pub fn acquire(state_dir: &Path) -> Result<Self, FilesError> {
        create_private_dir_all(state_dir)?;
        let path = state_dir.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(FilesError::io(&path))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let error = std::io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(FilesError::Locked {
                    path: state_dir.to_path_buf(),
                    holder: if holder.is_empty() {
                        "unknown".into()
                    } else {
                        holder.to_owned()
                    },
                });
            }
            return Err(FilesError::io(&path)(error));
        }
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))
            .map_err(FilesError::io(&path))?;
        file.set_len(0).map_err(FilesError::io(&path))?;
        file.rewind().map_err(FilesError::io(&path))?;
        writeln!(file, "{}", std::process::id()).map_err(FilesError::io(&path))?;
        Ok(StateLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let state = scratch.path().join("state");
        let first = StateLock::acquire(&state).expect("first");
        // flock locks belong to open file descriptions: a second open in
        // this process conflicts as another process's would.
        let error = StateLock::acquire(&state).expect_err("two holders");
        let pid = std::process::id().to_string();
        assert!(
            matches!(&error, FilesError::Locked { holder, .. } if *holder == pid),
            "{error}"
        );
        assert!(error.to_string().contains("--state-dir"), "{error}");
        drop(first);
        StateLock::acquire(&state).expect("free again");
    }
}
