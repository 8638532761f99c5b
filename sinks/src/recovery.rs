//! After a crash: a writer killed mid-file leaves its file under the hidden
//! temporary name (`.part-<ms>-<pid>-<n>.<ext>.tmp`), which no reader
//! sees. The next start removes such files when the process that wrote
//! them is gone; files of a live writer (another collector sharing the
//! directory) are left alone.
use std::{
    fs, io,
    path::{Path, PathBuf},
};

/// Removes, under `directory`, the temporary files of writers that are no
/// longer running; returns what it removed. A missing directory has none.
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
        if entry.file_type()?.is_dir() {
            removed.extend(remove_interrupted(&path)?);
        } else if let Some(pid) = writer_of(&entry.file_name().to_string_lossy())
            && pid != std::process::id()
            && !Path::new("/proc").join(pid.to_string()).exists()
        {
            fs::remove_file(&path)?;
            removed.push(path);
        }
    }
    Ok(removed)
}

/// The pid in a temporary file's name.
fn writer_of(name: &str) -> Option<u32> {
    let stem = name.strip_prefix(".part-")?.strip_suffix(".tmp")?;
    stem.split('-').nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_what_dead_writers_left() {
        let root = tempfile::tempdir().expect("tempdir");
        let hour = root
            .path()
            .join("tenant=acme/kind=process/date=2026-11-28/hour=15");
        fs::create_dir_all(&hour).expect("partition");
        // pid_max is at most 4194304: this pid never runs.
        let dead = hour.join(".part-1764341000000-4194999-3.parquet.tmp");
        let mine = hour.join(format!(
            ".part-1764341000000-{}-4.parquet.tmp",
            std::process::id()
        ));
        let published = hour.join("part-1764341000000-4194999-2.parquet");
        for file in [&dead, &mine, &published] {
            fs::write(file, b"rows").expect("file");
        }
        assert_eq!(
            remove_interrupted(root.path()).expect("recover"),
            std::slice::from_ref(&dead)
        );
        assert!(!dead.exists() && mine.exists() && published.exists());
        assert!(
            remove_interrupted(&root.path().join("absent"))
                .expect("none")
                .is_empty()
        );
    }
}
