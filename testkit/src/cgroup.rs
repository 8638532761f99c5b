//! Real cgroup v2 groups for test workloads: what the kernel reports as an
//! event's cgroup id is the inode number of the group's directory.
pub use scrim_probes::cgroup2_root;
use std::{
    fs,
    io::{self, Write as _},
    os::unix::{fs::MetadataExt as _, process::CommandExt as _},
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

/// A cgroup made for one test, removed when dropped (with the groups made
/// above it).
#[derive(Debug)]
pub struct TestCgroup {
    path: PathBuf,
    id: u64,
    /// Groups made for it, outermost first, removed after it.
    parents: Vec<PathBuf>,
}

impl TestCgroup {
    /// Makes a fresh group under the cgroup v2 root.
    pub fn create(label: &str) -> io::Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "scrim-test-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = cgroup2_root()?.join(name);
        fs::create_dir(&path)?;
        let id = fs::metadata(&path)?.ino();
        Ok(TestCgroup {
            path,
            id,
            parents: Vec::new(),
        })
    }

    /// Makes the group at `relative` (and the groups above it) under a
    /// fresh group of its own, as a container runtime lays them out: for
    /// `kubepods/burstable/pod<uid>/<id>`, the kernel reports the path
    /// `/scrim-test-<label>-…/kubepods/burstable/pod<uid>/<id>`.
    pub fn create_nested(label: &str, relative: &str) -> io::Result<Self> {
        let mut group = TestCgroup::create(label)?;
        for component in relative.split('/').filter(|part| !part.is_empty()) {
            let child = group.path.join(component);
            // On failure, dropping `group` removes what was made so far.
            fs::create_dir(&child)?;
            group
                .parents
                .push(std::mem::replace(&mut group.path, child));
        }
        group.id = fs::metadata(&group.path)?.ino();
        Ok(group)
    }

    /// The group's path relative to the cgroup v2 root, as scrim sees it.
    pub fn relative_path(&self) -> io::Result<String> {
        let root = cgroup2_root()?;
        let relative = self
            .path
            .strip_prefix(&root)
            .map_err(|_| io::Error::other("a test cgroup outside the cgroup root"))?;
        Ok(format!("/{}", relative.display()))
    }

    /// The id the kernel reports for tasks in this group.
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `argv` inside this group to completion; returns its pid and
    /// exit code.
    pub fn run(&self, argv: &[&str]) -> io::Result<(u32, Option<i32>)> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty argv"))?;
        let mut child = self.command(program)?.args(args).spawn()?;
        let pid = child.id();
        Ok((pid, child.wait()?.code()))
    }

    /// A command whose process joins this group between fork and exec, so
    /// its exec and exit happen inside it (its fork, in the parent's group).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> io::Result<Command> {
        let mut procs = fs::OpenOptions::new()
            .write(true)
            .open(self.path.join("cgroup.procs"))?;
        let mut command = Command::new(program);
        // SAFETY: the hook only calls write(2) on an fd opened before fork,
        // which is async-signal-safe; "0" means "the writing process".
        unsafe {
            command.pre_exec(move || procs.write_all(b"0"));
        }
        Ok(command)
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        remove_group(&self.path);
        for parent in self.parents.iter().rev() {
            remove_group(parent);
        }
    }
}

fn remove_group(path: &Path) {
    // A process that just exited may hold the group for a moment.
    for _ in 0..50 {
        if fs::remove_dir(path).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("warning: could not remove test cgroup {}", path.display());
}

/// The cgroup v2 id of the calling process.
pub fn current_cgroup_id() -> io::Result<u64> {
    let membership = fs::read_to_string("/proc/self/cgroup")?;
    let relative = membership
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no cgroup v2 membership"))?;
    let path = cgroup2_root()?.join(relative.trim_start_matches('/'));
    Ok(fs::metadata(path)?.ino())
}
