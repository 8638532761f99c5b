//! Creating below a directory scrim owns without ever following a symlink:
//! every component is opened with `openat(O_NOFOLLOW)` from the handle of
//! the one above, so a name another user planted (a symlink to
//! `/etc/shadow`, say) makes the open fail instead of redirecting a write.
use std::{
    ffi::CString,
    fs::{DirBuilder, File, OpenOptions},
    io,
    os::{
        fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
        unix::{
            ffi::OsStrExt as _,
            fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _},
        },
    },
    path::{Component, Path, PathBuf},
};

use crate::{DIRECTORY_MODE, FILE_MODE, FilesError};

/// A directory held open; what is below it is reached from this handle.
#[derive(Debug)]
pub struct Beneath {
    fd: OwnedFd,
    path: PathBuf,
}

impl Beneath {
    /// Opens `root`, creating it and its missing parents (mode 0750). The
    /// path up to and including `root` is the operator's choice, so a
    /// symlink in it (`/var/run`) is followed; below it, never.
    pub fn open_root(root: &Path) -> Result<Self, FilesError> {
        create_private_dir_all(root)?;
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(root)
            .map_err(FilesError::io(root))?;
        Ok(Beneath {
            fd: OwnedFd::from(file),
            path: root.to_path_buf(),
        })
    }

    /// Where this directory is, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory `relative` below this one, created (mode 0750, the
    /// group inherited where this one is set-group-ID) where missing. Fails
    /// on a symlink, a `..`, an absolute path or a non-directory anywhere
    /// on the way.
    pub fn dir(&self, relative: &Path) -> Result<Beneath, FilesError> {
        self.walk(relative, true)
    }

    /// The existing directory `relative` below this one, created nowhere.
    pub fn open_dir(&self, relative: &Path) -> Result<Beneath, FilesError> {
        self.walk(relative, false)
    }

    fn walk(&self, relative: &Path, create: bool) -> Result<Beneath, FilesError> {
        let mut current = Beneath {
            fd: self.fd.try_clone().map_err(FilesError::io(&self.path))?,
            path: self.path.clone(),
        };
        for component in relative.components() {
            let Component::Normal(name) = component else {
                return Err(FilesError::Untrusted {
                    path: self.path.join(relative),
                    problem: "only plain names may follow the archive root".into(),
                });
            };
            let path = current.path.join(name);
            let name = c_name(name.as_bytes(), &path)?;
            let created = create && {
                // SAFETY: a valid directory descriptor and a NUL-terminated name.
                let made = unsafe {
                    libc::mkdirat(
                        current.fd.as_raw_fd(),
                        name.as_ptr(),
                        DIRECTORY_MODE as libc::mode_t,
                    )
                };
                if made != 0 {
                    let error = io::Error::last_os_error();
                    if error.raw_os_error() != Some(libc::EEXIST) {
                        return Err(FilesError::io(&path)(error));
                    }
                }
                made == 0
            };
            // SAFETY: as above; the result is checked before use.
            let fd = unsafe {
                libc::openat(
                    current.fd.as_raw_fd(),
                    name.as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                )
            };
            if fd < 0 {
                let error = io::Error::last_os_error();
                // O_NOFOLLOW | O_DIRECTORY on a symlink says ENOTDIR or ELOOP.
                if matches!(error.raw_os_error(), Some(libc::ENOTDIR | libc::ELOOP))
                    && is_symlink_at(&current, &name)
                {
                    return Err(FilesError::Symlink { path });
                }
                return Err(FilesError::io(&path)(error));
            }
            // SAFETY: a descriptor just opened and owned by nobody else.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            if created {
                set_exact_mode(&fd, DIRECTORY_MODE, true).map_err(FilesError::io(&path))?;
            }
            current = Beneath { fd, path };
        }
        Ok(current)
    }

    /// Creates the file `name` in this directory: a new file only (an
    /// existing name, a planted symlink or FIFO included, fails), mode
    /// 0640, write-only. It carries an exclusive `flock` for as long as it
    /// is open, so that a collector cleaning up after a crash can tell a
    /// live writer's file from an abandoned one.
    pub fn create_locked(&self, name: &str) -> Result<File, FilesError> {
        let path = self.path.join(name);
        let c = c_name(name.as_bytes(), &path)?;
        // SAFETY: a valid directory descriptor and a NUL-terminated name.
        let fd = unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0o600 as libc::c_uint,
            )
        };
        if fd < 0 {
            return Err(FilesError::io(&path)(io::Error::last_os_error()));
        }
        // SAFETY: a descriptor just opened and owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        set_exact_mode(&fd, FILE_MODE, false).map_err(FilesError::io(&path))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(FilesError::io(&path)(io::Error::last_os_error()));
        }
        Ok(File::from(fd))
    }

    /// Opens the existing regular file `name` in this directory for
    /// reading: never through a symlink planted under the name, and
    /// without blocking on a FIFO planted there (`O_NONBLOCK`, which a
    /// regular file ignores).
    pub fn open_file(&self, name: &str) -> Result<File, FilesError> {
        let path = self.path.join(name);
        let c = c_name(name.as_bytes(), &path)?;
        // SAFETY: a valid directory descriptor and a NUL-terminated name.
        let fd = unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(FilesError::io(&path)(io::Error::last_os_error()));
        }
        // SAFETY: a descriptor just opened and owned by nobody else.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        if !file.metadata().map_err(FilesError::io(&path))?.is_file() {
            return Err(FilesError::Untrusted {
                path,
                problem: "not a regular file".into(),
            });
        }
        Ok(file)
    }

    /// Renames `from` to `to`, both in this directory (atomic, and no path
    /// is resolved again on the way).
    pub fn rename(&self, from: &str, to: &str) -> Result<(), FilesError> {
        let path = self.path.join(to);
        let (from, to) = (
            c_name(from.as_bytes(), &path)?,
            c_name(to.as_bytes(), &path)?,
        );
        let dir = self.fd.as_raw_fd();
        // SAFETY: valid descriptors and NUL-terminated names.
        if unsafe { libc::renameat(dir, from.as_ptr(), dir, to.as_ptr()) } != 0 {
            return Err(FilesError::io(&path)(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Removes the file `name` in this directory (a symlink is removed
    /// itself, never what it points to).
    pub fn remove_file(&self, name: &str) -> Result<(), FilesError> {
        let path = self.path.join(name);
        let c = c_name(name.as_bytes(), &path)?;
        // SAFETY: a valid directory descriptor and a NUL-terminated name.
        if unsafe { libc::unlinkat(self.fd.as_raw_fd(), c.as_ptr(), 0) } != 0 {
            return Err(FilesError::io(&path)(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Gives this directory to `group` with mode 02750: readable by the
    /// group, by nobody else; set-group-ID, so that what is created below
    /// keeps the group. Done on the open handle, so a symlink swapped in
    /// meanwhile cannot redirect the change. Changing the group needs
    /// CAP_CHOWN: what is already right is left alone.
    pub fn restrict_to_group(&self, group: u32) -> Result<(), FilesError> {
        const MODE: u32 = libc::S_ISGID | DIRECTORY_MODE;
        let failed = FilesError::io(&self.path);
        // SAFETY: fstat into a zeroed struct on a descriptor we own.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(self.fd.as_raw_fd(), &mut stat) } != 0 {
            return Err(failed(io::Error::last_os_error()));
        }
        // SAFETY: fchown and fchmod on a descriptor we own.
        if stat.st_gid != group
            && unsafe { libc::fchown(self.fd.as_raw_fd(), u32::MAX, group) } != 0
        {
            return Err(failed(io::Error::last_os_error()));
        }
        if stat.st_mode & 0o7777 != MODE
            && unsafe { libc::fchmod(self.fd.as_raw_fd(), MODE as libc::mode_t) } != 0
        {
            return Err(failed(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Lets everyone traverse this directory (the `x` bit for others), so a
    /// tenant's group reaches its own directory below: listing it stays
    /// scrim's, and each tenant's directory keeps everyone else out.
    pub fn allow_traversal(&self) -> Result<(), FilesError> {
        let failed = FilesError::io(&self.path);
        // SAFETY: fstat into a zeroed struct on a descriptor we own.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(self.fd.as_raw_fd(), &mut stat) } != 0 {
            return Err(failed(io::Error::last_os_error()));
        }
        let mode = stat.st_mode & 0o7777;
        // SAFETY: fchmod on a descriptor we own.
        if mode & 0o001 == 0
            && unsafe { libc::fchmod(self.fd.as_raw_fd(), (mode | 0o001) as libc::mode_t) } != 0
        {
            return Err(failed(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Makes the directory's data durable: its new and renamed names.
    pub fn sync(&self) -> Result<(), FilesError> {
        // SAFETY: fsync on a descriptor we own.
        if unsafe { libc::fsync(self.fd.as_raw_fd()) } != 0 {
            return Err(FilesError::io(&self.path)(io::Error::last_os_error()));
        }
        Ok(())
    }
}

/// Creates a new file at `path` for reading and writing, mode exactly
/// `mode`: never an existing file, never through a symlink at `path`
/// (`O_CREAT | O_EXCL | O_NOFOLLOW`). For temporary files next to what
/// they replace (erasure rewrites, exports, spools).
pub fn create_new(path: &Path, mode: u32) -> Result<File, FilesError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|source| {
            if source.kind() == io::ErrorKind::AlreadyExists && is_symlink(path) {
                FilesError::Symlink {
                    path: path.to_path_buf(),
                }
            } else {
                FilesError::io(path)(source)
            }
        })?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(FilesError::io(path))?;
    Ok(file)
}

/// Creates `path` and its missing parents, each mode 0750 whatever the
/// umask. What exists already is left as it is ([`crate::check_private`]
/// tells whether it can be trusted).
pub fn create_private_dir_all(path: &Path) -> Result<(), FilesError> {
    let missing: Vec<&Path> = path
        .ancestors()
        .take_while(|ancestor| !ancestor.as_os_str().is_empty() && !ancestor.exists())
        .collect();
    for directory in missing.into_iter().rev() {
        match DirBuilder::new().mode(0o700).create(directory) {
            Ok(()) => {
                let inherited = std::fs::metadata(directory)
                    .map_err(FilesError::io(directory))?
                    .permissions()
                    .mode()
                    & libc::S_ISGID;
                std::fs::set_permissions(
                    directory,
                    std::fs::Permissions::from_mode(DIRECTORY_MODE | inherited),
                )
                .map_err(FilesError::io(directory))?;
            }
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(FilesError::io(directory)(error)),
        }
    }
    Ok(())
}

/// Sets `mode` exactly (the umask narrowed it at creation); a directory
/// keeps the set-group-ID bit it inherited, so files below it keep the
/// group that may read them.
fn set_exact_mode(fd: &OwnedFd, mode: u32, keep_setgid: bool) -> io::Result<()> {
    let mut mode = mode;
    if keep_setgid {
        // SAFETY: fstat into a zeroed struct on a descriptor we own.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut stat) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // Already right (the usual umask): leave it, for a chmod by a
        // process outside the directory's group (scrim, once it dropped
        // CAP_FSETID) would clear the set-group-ID bit it inherited.
        if stat.st_mode & 0o777 == mode {
            return Ok(());
        }
        mode |= stat.st_mode & libc::S_ISGID;
    }
    // SAFETY: fchmod on a descriptor we own.
    if unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn c_name(name: &[u8], path: &Path) -> Result<CString, FilesError> {
    if name.is_empty() || name.contains(&b'/') {
        return Err(FilesError::Untrusted {
            path: path.to_path_buf(),
            problem: "not a plain file name".into(),
        });
    }
    CString::new(name).map_err(|_| FilesError::Untrusted {
        path: path.to_path_buf(),
        problem: "a name with a NUL byte".into(),
    })
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.file_type().is_symlink())
}

fn is_symlink_at(directory: &Beneath, name: &std::ffi::CStr) -> bool {
    // SAFETY: fstatat into a zeroed struct, without following the name.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    let found = unsafe {
        libc::fstatat(
            directory.fd.as_raw_fd(),
            name.as_ptr(),
            &mut stat,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    found == 0 && stat.st_mode & libc::S_IFMT == libc::S_IFLNK
}

#[cfg(test)]
mod tests {
    use std::{io::Write as _, os::unix::fs::MetadataExt as _};

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).expect("metadata").mode() & 0o7777
    }

    #[test]
    fn creates_below_the_root_with_exact_modes_and_publishes_by_rename() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let root = Beneath::open_root(&scratch.path().join("archive")).expect("root");
        assert_eq!(mode(root.path()), DIRECTORY_MODE);
        let hour = root
            .dir(Path::new(
                "tenant=acme/kind=process/date=2026-12-02/hour=07",
            ))
            .expect("partition");
        assert_eq!(mode(hour.path()), DIRECTORY_MODE);
        assert_eq!(mode(hour.path().parent().expect("date")), DIRECTORY_MODE);
        let mut file = hour.create_locked(".part-1.parquet.tmp").expect("create");
        file.write_all(b"rows").expect("write");
        assert_eq!(mode(&hour.path().join(".part-1.parquet.tmp")), FILE_MODE);
        // A second create of the same name fails: never an existing file.
        assert!(hour.create_locked(".part-1.parquet.tmp").is_err());
        hour.rename(".part-1.parquet.tmp", "part-1.parquet")
            .expect("rename");
        assert_eq!(
            std::fs::read(hour.path().join("part-1.parquet")).expect("read"),
            b"rows"
        );
        // The same directory again is found, not an error.
        root.dir(Path::new("tenant=acme/kind=process"))
            .expect("existing");
    }

    #[test]
    fn a_planted_symlink_is_never_followed() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let elsewhere = scratch.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).expect("elsewhere");
        let victim = scratch.path().join("victim");
        std::fs::write(&victim, b"precious").expect("victim");
        let root = Beneath::open_root(&scratch.path().join("archive")).expect("root");
        std::os::unix::fs::symlink(&elsewhere, root.path().join("tenant=acme")).expect("link");
        let error = root
            .dir(Path::new("tenant=acme/kind=process"))
            .expect_err("followed a symlinked directory");
        assert!(matches!(error, FilesError::Symlink { .. }), "{error}");
        assert!(
            std::fs::read_dir(&elsewhere)
                .expect("read")
                .next()
                .is_none()
        );

        let tenant = root.dir(Path::new("tenant=beta")).expect("tenant");
        std::os::unix::fs::symlink(&victim, tenant.path().join(".part-2.parquet.tmp"))
            .expect("link");
        assert!(tenant.create_locked(".part-2.parquet.tmp").is_err());
        let error = create_new(&tenant.path().join(".part-2.parquet.tmp"), FILE_MODE)
            .expect_err("created through a symlink");
        assert!(matches!(error, FilesError::Symlink { .. }), "{error}");
        let error = tenant
            .open_file(".part-2.parquet.tmp")
            .expect_err("read through a symlink");
        assert!(matches!(error, FilesError::Symlink { .. }), "{error}");
        assert!(matches!(
            tenant.open_file("."),
            Err(FilesError::Untrusted { .. })
        ));
        assert_eq!(std::fs::read(&victim).expect("victim"), b"precious");
        assert!(root.dir(Path::new("../escape")).is_err());
        assert!(root.dir(Path::new("/etc")).is_err());
    }

    #[test]
    fn modes_do_not_depend_on_the_umask() {
        let scratch = tempfile::tempdir().expect("tempdir");
        // SAFETY: umask is process-wide; this test restores it and no test
        // in this crate depends on the umask's value.
        let previous = unsafe { libc::umask(0) };
        let made = create_private_dir_all(&scratch.path().join("a/b"));
        let file = create_new(&scratch.path().join("f"), FILE_MODE);
        unsafe { libc::umask(0o077) };
        let narrow = create_new(&scratch.path().join("g"), FILE_MODE);
        unsafe { libc::umask(previous) };
        made.expect("dirs");
        file.expect("file");
        narrow.expect("file");
        assert_eq!(mode(&scratch.path().join("a")), DIRECTORY_MODE);
        assert_eq!(mode(&scratch.path().join("a/b")), DIRECTORY_MODE);
        assert_eq!(mode(&scratch.path().join("f")), FILE_MODE);
        assert_eq!(mode(&scratch.path().join("g")), FILE_MODE);
    }
}
