//! Reading a file that steers scrim (a policy, a master key) without
//! trusting what its name leads to: a FIFO would block the open (and the
//! event loop with it), `/dev/zero` would be read until memory runs out, a
//! file that grows while it is read would never end. The file is opened
//! without blocking, checked on the descriptor, and read to a limit; its
//! owner and mode come from the same descriptor, so what is checked is
//! what was read.
use std::{
    fs::{Metadata, OpenOptions},
    io::Read as _,
    os::unix::fs::{FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _},
    path::Path,
};

use crate::FilesError;

/// A file's bytes and the metadata of the descriptor they were read from.
#[derive(Debug)]
pub struct BoundedRead {
    pub bytes: Vec<u8>,
    /// From `fstat` on that descriptor: owner, group, mode.
    pub metadata: Metadata,
}

/// Reads the regular file at `path` (symlinks followed), refusing anything
/// else (a FIFO, a device, a directory, a socket) and any file of more
/// than `limit` bytes, without reading more than `limit + 1` of it.
///
/// The open is `O_RDONLY | O_NONBLOCK | O_NOCTTY` (and `O_CLOEXEC`): a FIFO
/// with no writer opens at once instead of waiting for one, a terminal
/// never becomes scrim's.
pub fn read_bounded(path: &Path, limit: u64) -> Result<BoundedRead, FilesError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|source| {
            // A socket cannot be opened at all (ENXIO): name what it is
            // rather than the errno.
            match std::fs::metadata(path) {
                Ok(metadata) if !metadata.is_file() => FilesError::NotAFile {
                    path: path.to_path_buf(),
                    kind: kind_of(&metadata),
                },
                _ => FilesError::Io {
                    path: path.to_path_buf(),
                    source,
                },
            }
        })?;
    let metadata = file.metadata().map_err(FilesError::io(path))?;
    if !metadata.is_file() {
        return Err(FilesError::NotAFile {
            path: path.to_path_buf(),
            kind: kind_of(&metadata),
        });
    }
    let too_large = |size| FilesError::TooLarge {
        path: path.to_path_buf(),
        size,
        limit,
    };
    if metadata.size() > limit {
        return Err(too_large(metadata.size()));
    }
    // The size fstat gave, plus one byte to see a file that grew since
    // (or one that, like those in /proc, says 0 and holds more).
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.size()).map_or(0, |size| size + 1));
    (&file)
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(FilesError::io(path))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(BoundedRead { bytes, metadata })
}

/// What a file that is not a regular file is, in words.
fn kind_of(metadata: &Metadata) -> &'static str {
    let kind = metadata.file_type();
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use std::{
        ffi::CString,
        os::unix::ffi::OsStrExt as _,
        time::{Duration, Instant},
    };

    use super::*;

    const LIMIT: u64 = 4 << 20;

    fn refused(path: &Path, limit: u64) -> String {
        let started = Instant::now();
        let error = read_bounded(path, limit).expect_err("refused").to_string();
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{} took {:?}",
            path.display(),
            started.elapsed()
        );
        error
    }

    #[test]
    fn a_fifo_with_no_writer_is_refused_at_once() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let fifo = scratch.path().join("policy.toml");
        let name = CString::new(fifo.as_os_str().as_bytes()).expect("no NUL");
        // SAFETY: mkfifo on a NUL-terminated path we own.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let error = refused(&fifo, LIMIT);
        assert!(error.contains("is a FIFO"), "{error}");
    }

    #[test]
    fn dev_zero_is_refused_without_reading_it() {
        let error = refused(Path::new("/dev/zero"), LIMIT);
        assert!(error.contains("is a character device"), "{error}");
    }

    #[test]
    fn a_directory_is_refused() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let error = refused(scratch.path(), LIMIT);
        assert!(error.contains("is a directory"), "{error}");
    }

    #[test]
    fn a_file_over_the_limit_is_refused_and_one_at_it_is_read() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let large = scratch.path().join("large");
        std::fs::write(&large, vec![b'#'; 5 << 20]).expect("write");
        let error = refused(&large, LIMIT);
        assert!(
            error.contains("5242880 bytes") && error.contains("4194304"),
            "{error}"
        );

        let at_limit = scratch.path().join("at-limit");
        std::fs::write(&at_limit, vec![b'#'; LIMIT as usize]).expect("write");
        let read = read_bounded(&at_limit, LIMIT).expect("at the limit");
        assert_eq!(read.bytes.len() as u64, LIMIT);
        assert!(read.metadata.is_file());
    }

    #[test]
    fn a_file_holding_more_than_its_size_says_is_caught_by_the_read() {
        // /proc files stat as 0 bytes and hold more: only the read itself,
        // stopped one byte past the limit, can tell.
        let error = refused(Path::new("/proc/self/maps"), 16);
        assert!(error.contains("17 bytes"), "{error}");
    }

    #[test]
    fn owner_and_mode_come_with_the_bytes() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let file = scratch.path().join("policy.toml");
        std::fs::write(&file, "version = 1\n").expect("write");
        let expected = std::fs::metadata(&file).expect("stat");
        let read = read_bounded(&file, LIMIT).expect("read");
        assert_eq!(read.bytes, b"version = 1\n");
        assert_eq!(read.metadata.uid(), expected.uid());
        assert_eq!(read.metadata.gid(), expected.gid());
        assert_eq!(read.metadata.mode(), expected.mode());
    }
}
