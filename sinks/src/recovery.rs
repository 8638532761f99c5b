//! After a crash: a writer killed mid-file leaves its file under the hidden
//! temporary name (`.part-<ms>-<pid>-<n>.<ext>.tmp`), which no reader
//! sees. The next start removes such files, except those a live writer
//! holds: every writer keeps an exclusive `flock` on its temporary file
//! while it is open (see `scrim_files::Beneath::create_locked`), and the
//! kernel drops it when the writer dies. A pid in the name would not do:
//! a collector in another PID namespace sees other pids, and pids are
//! reused.
use std::{
    fs::{self, OpenOptions},
    io,
    os::{fd::AsRawFd as _, unix::fs::OpenOptionsExt as _},
    path::{Path, PathBuf},
};

/// Removes, under `directory`, the temporary files no live writer holds;
/// returns what it removed. A missing directory has none; symlinks are
/// neither followed nor removed.
pub fn remove_interrupted(directory: &Path) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let entries = match fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(error) => return Err(error),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        // The entry's own type: a symlink is neither a directory nor a file here.
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            removed.extend(remove_interrupted(&path)?);
        } else if file_type.is_file()
            && is_temporary(&entry.file_name().to_string_lossy())
            && !held_by_a_writer(&path)?
        {
            fs::remove_file(&path)?;
            removed.push(path);
        }
    }
    Ok(removed)
}

fn is_temporary(name: &str) -> bool {
    name.starts_with(".part-") && name.ends_with(".tmp")
}

/// Whether a live writer holds the file's lock. The probe's own lock goes
/// with its descriptor, before the file is removed.
fn held_by_a_writer(path: &Path) -> io::Result<bool> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        // Gone already: a writer published it meanwhile.
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(error) => return Err(error),
    };
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(false);
    }
    let error = io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(true)
    } else {
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use scrim_files::Beneath;

    use super::*;

    #[test]
    fn removes_only_what_no_live_writer_holds() {
        let root = tempfile::tempdir().expect("tempdir");
        let archive = Beneath::open_root(root.path()).expect("root");
        let hour = archive
            .dir(Path::new(
                "tenant=acme/kind=process/date=2026-11-28/hour=15",
            ))
            .expect("partition");
        // Left by a writer that died: no lock on it.
        let dead = hour
            .path()
            .join(".part-1764341000000-4194999-3.parquet.tmp");
        fs::write(&dead, b"rows").expect("file");
        // A live writer's file, whatever pid its name carries (another PID
        // namespace's pid may be a dead one's here).
        let live = hour
            .create_locked(".part-1764341000000-4194999-4.parquet.tmp")
            .expect("live");
        let published = hour.path().join("part-1764341000000-4194999-2.parquet");
        fs::write(&published, b"rows").expect("file");
        let planted = hour.path().join(".part-1-1-1.parquet.tmp");
        std::os::unix::fs::symlink(&published, &planted).expect("link");
        assert_eq!(
            remove_interrupted(root.path()).expect("recover"),
            std::slice::from_ref(&dead)
        );
        assert!(!dead.exists() && published.exists());
        assert!(
            hour.path()
                .join(".part-1764341000000-4194999-4.parquet.tmp")
                .exists()
        );
        drop(live);
        assert_eq!(remove_interrupted(root.path()).expect("recover").len(), 1);
        assert!(
            remove_interrupted(&root.path().join("absent"))
                .expect("none")
                .is_empty()
        );
    }
}
