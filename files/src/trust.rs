//! Whether a directory scrim writes into can be trusted: if anyone else
//! can write it, they can plant names in it (a symlink where scrim will
//! create a file, a directory of theirs where scrim will publish rows),
//! and no care in how scrim opens files makes up for a directory another
//! user controls.
use std::{
    collections::{BTreeSet, VecDeque},
    ffi::{CString, OsString},
    fs::Metadata,
    os::unix::{ffi::OsStrExt as _, fs::MetadataExt as _},
    path::{Component, Path, PathBuf},
};

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
        let Some(problem) = foreign_writer(&metadata, me) else {
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

/// Why another user could replace what a directory holds, if one could:
/// it is owned by someone other than root or scrim's user (`me`), or
/// others can write it and it is not sticky (in a sticky directory only a
/// name's owner can rename or remove it).
fn foreign_writer(metadata: &Metadata, me: u32) -> Option<String> {
    let mode = metadata.mode() & 0o7777;
    if metadata.uid() != me && metadata.uid() != 0 {
        Some(format!("is owned by uid {}", metadata.uid()))
    } else if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        Some(format!(
            "is writable by others without the sticky bit (mode {mode:04o})"
        ))
    } else {
        None
    }
}

/// Refuses a file that a user other than root or scrim's could change:
/// owned by another user, or writable by its group or by everyone. Such a
/// file steers scrim (a policy decides whose command lines are captured
/// and where they are written), so it is trusted only as far as the user
/// who can write it. `metadata` is the file's own, from the descriptor it
/// was read through ([`crate::read_bounded`]), so what is checked is what
/// was read.
pub fn check_trusted_file(path: &Path, metadata: &Metadata) -> Result<(), FilesError> {
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    let mode = metadata.mode() & 0o7777;
    let problem = if metadata.uid() != me && metadata.uid() != 0 {
        format!(
            "owned by uid {}, not by root or scrim's user (uid {me}): that user could change it, \
             and what scrim does with it; give it to root or scrim's user and take write access \
             from everyone else (chown {me} {1} && chmod go-w {1})",
            metadata.uid(),
            path.display()
        )
    } else if mode & 0o002 != 0 {
        format!(
            "writable by every user (mode {mode:04o}): anyone could change it, and what scrim \
             does with it; chmod go-w {}",
            path.display()
        )
    } else if mode & 0o020 != 0 {
        format!(
            "writable by group {} (mode {mode:04o}): its members could change it, and what scrim \
             does with it; chmod go-w {}",
            metadata.gid(),
            path.display()
        )
    } else {
        return Ok(());
    };
    Err(FilesError::Untrusted {
        path: path.to_path_buf(),
        problem,
    })
}

/// Symlinks followed on the way to a file before giving up, as the kernel
/// does (`ELOOP` past 40).
const MAX_SYMLINKS: usize = 40;

/// Refuses `path` (a file to read) unless nobody but root or scrim's user
/// could make the name lead elsewhere: every directory in which a name on
/// the way to the file is looked up (each ancestor, and the directory of
/// every symlink followed, resolved as the kernel does) must pass the rule
/// [`check_private`] applies to ancestors: owned by root or scrim's user,
/// and writable by nobody else unless sticky.
///
/// A directory on a read-only mount passes whatever its mode: nobody can
/// write through that mount. That is what a Kubernetes ConfigMap or Secret
/// volume is: the kubelet makes the volume's directory 0777 (1777 on
/// tmpfs), which no `defaultMode` changes, and mounts it read-only.
pub fn check_trusted_path(path: &Path) -> Result<(), FilesError> {
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(FilesError::io(path))?
            .join(path)
    };
    let mut pending: VecDeque<Step> = steps(&absolute).collect();
    let mut at = PathBuf::from("/");
    let mut checked = BTreeSet::new();
    let mut links = 0;
    while let Some(step) = pending.pop_front() {
        let name = match step {
            Step::Root => {
                at = PathBuf::from("/");
                continue;
            }
            Step::Up => {
                at.pop();
                continue;
            }
            Step::Name(name) => name,
        };
        if checked.insert(at.clone()) {
            check_on_the_way(path, &at, me)?;
        }
        let next = at.join(&name);
        let metadata = std::fs::symlink_metadata(&next).map_err(FilesError::io(&next))?;
        if !metadata.file_type().is_symlink() {
            at = next;
            continue;
        }
        links += 1;
        if links > MAX_SYMLINKS {
            return Err(FilesError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::from_raw_os_error(libc::ELOOP),
            });
        }
        let target = std::fs::read_link(&next).map_err(FilesError::io(&next))?;
        for step in steps(&target).collect::<Vec<_>>().into_iter().rev() {
            pending.push_front(step);
        }
    }
    Ok(())
}

/// One step of resolving a path.
enum Step {
    Root,
    Up,
    Name(OsString),
}

fn steps(path: &Path) -> impl Iterator<Item = Step> + '_ {
    path.components().filter_map(|component| match component {
        Component::RootDir => Some(Step::Root),
        Component::ParentDir => Some(Step::Up),
        Component::Normal(name) => Some(Step::Name(name.to_owned())),
        Component::CurDir | Component::Prefix(_) => None,
    })
}

/// Refuses `directory`, in which a name on the way to `path` is looked up,
/// if another user could replace what it holds.
fn check_on_the_way(path: &Path, directory: &Path, me: u32) -> Result<(), FilesError> {
    let metadata = std::fs::metadata(directory).map_err(FilesError::io(directory))?;
    let Some(problem) = foreign_writer(&metadata, me) else {
        return Ok(());
    };
    // Only a mode is forgiven on a read-only mount, never an owner.
    if (metadata.uid() == me || metadata.uid() == 0) && on_read_only_mount(directory) {
        return Ok(());
    }
    Err(FilesError::Untrusted {
        path: path.to_path_buf(),
        problem: format!(
            "the directory {} on the way to it {problem}: whoever can write there can put a \
             file or symlink of their own in its place; take write access from everyone but \
             root and scrim's user (chmod go-w {0}), or move the file under a directory only \
             they can write",
            directory.display()
        ),
    })
}

/// Whether `directory` is on a read-only mount (`ST_RDONLY`), so that
/// nobody can write it through this path whatever its mode.
fn on_read_only_mount(directory: &Path) -> bool {
    let Ok(name) = CString::new(directory.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statvfs is plain data; all-zero is a valid value.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a statvfs to fill.
    let status = unsafe { libc::statvfs(name.as_ptr(), &mut stats) };
    status == 0 && stats.f_flag & libc::ST_RDONLY != 0
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

    fn check_file(path: &Path) -> Result<(), FilesError> {
        check_trusted_file(path, &std::fs::metadata(path).expect("stat"))
    }

    #[test]
    fn a_file_only_root_or_scrims_user_can_change_is_trusted() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let file = scratch.path().join("policy.toml");
        std::fs::write(&file, "version = 1\n").expect("write");
        for mode in [0o600, 0o644, 0o444] {
            with_mode(&file, mode);
            check_file(&file).expect("trusted");
        }
        for (mode, says) in [
            (0o664, "writable by group"),
            (0o646, "writable by every user"),
        ] {
            with_mode(&file, mode);
            let error = check_file(&file).expect_err("trusted").to_string();
            assert!(
                error.contains(says) && error.contains("chmod go-w"),
                "{error}"
            );
        }
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            with_mode(&file, 0o644);
            std::os::unix::fs::chown(&file, Some(65534), None).expect("chown");
            let error = check_file(&file).expect_err("trusted").to_string();
            assert!(error.contains("owned by uid 65534"), "{error}");
        }
    }

    #[test]
    fn every_directory_on_the_way_to_a_file_counts_symlinks_included() {
        let scratch = tempfile::tempdir().expect("tempdir");
        // A ConfigMap's layout: policy.toml -> ..data/policy.toml,
        // ..data -> ..2024_01_01, where the file is.
        let volume = scratch.path().join("volume");
        let timestamped = volume.join("..2024_01_01");
        std::fs::create_dir_all(&timestamped).expect("dir");
        std::fs::write(timestamped.join("policy.toml"), "version = 1\n").expect("write");
        std::os::unix::fs::symlink("..2024_01_01", volume.join("..data")).expect("symlink");
        std::os::unix::fs::symlink("..data/policy.toml", volume.join("policy.toml"))
            .expect("symlink");
        let named = volume.join("policy.toml");
        check_trusted_path(&named).expect("trusted");

        // The directory of the symlink: writable by everyone, it lets
        // anyone point the name elsewhere (this one is not read-only).
        with_mode(&volume, 0o777);
        let error = check_trusted_path(&named).expect_err("trusted").to_string();
        assert!(
            error.contains(&format!("the directory {}", volume.display()))
                && error.contains("without the sticky bit"),
            "{error}"
        );
        with_mode(&volume, 0o1777);
        check_trusted_path(&named).expect("sticky: nobody else can replace a name");
        with_mode(&volume, 0o755);

        // The directory the file is in, reached only through symlinks.
        with_mode(&timestamped, 0o775);
        let error = check_trusted_path(&named).expect_err("trusted").to_string();
        assert!(error.contains("..2024_01_01"), "{error}");
        with_mode(&timestamped, 0o755);

        // A symlink whose target lies in a directory anyone can write.
        let open = scratch.path().join("open");
        std::fs::create_dir(&open).expect("dir");
        std::fs::write(open.join("policy.toml"), "version = 1\n").expect("write");
        with_mode(&open, 0o777);
        let link = scratch.path().join("link.toml");
        std::os::unix::fs::symlink("open/./../open/policy.toml", &link).expect("symlink");
        let error = check_trusted_path(&link).expect_err("trusted").to_string();
        assert!(
            error.contains(&format!("the directory {}", open.display())),
            "{error}"
        );

        // A loop ends in an error, not a hang.
        std::os::unix::fs::symlink("loop", scratch.path().join("loop")).expect("symlink");
        assert!(check_trusted_path(&scratch.path().join("loop")).is_err());
    }
}
