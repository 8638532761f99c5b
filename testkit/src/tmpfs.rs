//! A real tmpfs of a fixed size, for tests that fill a disk: mounted on a
//! fresh directory, unmounted (lazily, so a file still open cannot keep it)
//! when dropped. Needs root.
use std::{io, path::Path, process::Command};

pub struct Tmpfs {
    directory: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `bytes` (rounded up to pages), mode 0700.
    pub fn mount(bytes: u64) -> io::Result<Self> {
        let directory = tempfile::tempdir()?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={bytes},mode=0700"))
            .arg("tmpfs")
            .arg(directory.path())
            .status()?;
        if !status.success() {
            return Err(io::Error::other(format!("mount tmpfs: {status}")));
        }
        Ok(Tmpfs { directory })
    }

    pub fn path(&self) -> &Path {
        self.directory.path()
    }

    /// Fills the filesystem but for about `leave` bytes, with one file
    /// whose removal frees the space again.
    pub fn fill_leaving(&self, leave: u64) -> io::Result<std::path::PathBuf> {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler)?;
        let chunk = vec![0xa5u8; 64 << 10];
        // Write until full, then give back what is to be left.
        loop {
            match io::Write::write(&mut file, &chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) if error.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(error) => return Err(error),
            }
        }
        let length = file.metadata()?.len();
        file.set_len(length.saturating_sub(leave))?;
        Ok(filler)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.directory.path())
            .status();
    }
}
