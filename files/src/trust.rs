//! Whether a directory scrim writes into can be trusted: if anyone else
//! can write it, they can plant names in it (a symlink where scrim will
//! create a file, a directory of theirs where scrim will publish rows),
//! and no care in how scrim opens files makes up for a directory another
//! user controls.
use std::{os::unix::fs::MetadataExt as _, path::Path};

use crate::FilesError;

/// Refuses `path` (an existing directory) unless only scrim's user, or
/// members of `group` where given (a tenant's `archive_group`), can write
/// it. Its ancestors must be owned by root or scrim's user and be writable
/// by nobody else unless sticky (in a sticky directory such as `/tmp`
/// others cannot rename or remove what scrim made).
pub fn check_private(path: &Path, group: Option<u32>) -> Result<(), FilesError> {
    let resolved = path.canonicalize().map_err(FilesError::io(path))?;
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    let untrusted = |problem: String| FilesError::Untrusted {
        path: path.to_path_buf(),
        problem,
    };
    let metadata = std::fs::metadata(&resolved).map_err(FilesError::io(path))?;
    if !metadata.is_dir() {
        return Err(untrusted("not a directory".into()));
    }
    let mode = metadata.mode() & 0o7777;
    let fix = format!(
        "give it to scrim's user and take write access from everyone else \
         (chown {me} {0} && chmod 0750 {0})",
        resolved.display()
    );
    if metadata.uid() != me && metadata.uid() != 0 {
        return Err(untrusted(format!(
            "owned by uid {}, not by scrim's user (uid {me}): that user can plant files and \
             symlinks in it; {fix}",
            metadata.uid()
        )));
    }
    if mode & 0o002 != 0 {
        return Err(untrusted(format!(
            "writable by every user (mode {mode:04o}){}: anyone can plant files and symlinks \
             in it; {fix}",
            if mode & 0o1000 != 0 {
                ", sticky or not"
            } else {
                ""
            }
        )));
    }
    if mode & 0o020 != 0 && Some(metadata.gid()) != group {
        return Err(untrusted(format!(
            "writable by group {} (mode {mode:04o}): its members can plant files and symlinks \
             in it; {fix}",
            metadata.gid()
        )));
    }
    for ancestor in resolved.ancestors().skip(1) {
        let metadata = std::fs::metadata(ancestor).map_err(FilesError::io(ancestor))?;
        let mode = metadata.mode() & 0o7777;
        let problem = if metadata.uid() != me && metadata.uid() != 0 {
            format!("is owned by uid {}", metadata.uid())
        } else if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            format!("is writable by others without the sticky bit (mode {mode:04o})")
        } else {
            continue;
        };
        return Err(untrusted(format!(
            "its parent {} {problem}: whoever can write there can replace {} with a directory \
             or symlink of their own; move it under a directory only root or scrim's user can \
             write",
            ancestor.display(),
            resolved.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn with_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn only_directories_nobody_else_can_write_are_trusted() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let directory = scratch.path().join("archive");
        std::fs::create_dir(&directory).expect("dir");
        with_mode(&directory, 0o750);
        check_private(&directory, None).expect("private");
        with_mode(&directory, 0o755);
        check_private(&directory, None).expect("readable is fine");
        for (mode, says) in [(0o777, "every user"), (0o1777, "sticky or not")] {
            with_mode(&directory, mode);
            let error = check_private(&directory, None).expect_err("trusted");
            assert!(error.to_string().contains(says), "{error}");
            assert!(error.to_string().contains("chmod 0750"), "{error}");
        }
        with_mode(&directory, 0o770);
        let gid = std::fs::metadata(&directory).expect("meta").gid();
        assert!(check_private(&directory, None).is_err());
        check_private(&directory, Some(gid)).expect("the tenant's group may write");

        // An ancestor anyone can write, without the sticky bit.
        with_mode(&directory, 0o750);
        with_mode(scratch.path(), 0o777);
        let error = check_private(&directory, None).expect_err("trusted");
        assert!(error.to_string().contains("its parent"), "{error}");
        with_mode(scratch.path(), 0o1777);
        check_private(&directory, None).expect("a sticky parent is fine");
        with_mode(scratch.path(), 0o700);
    }
}
