//! The cgroup v2 hierarchy as the probes see it: a cgroup's id is the inode
//! number of its directory, and its path is relative to the v2 root (what
//! `cgroup_mkdir` announces too).
use std::{
    fs, io,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

use crate::NewCgroup;

/// Where cgroup v2 is mounted: `/sys/fs/cgroup` on unified hosts,
/// `/sys/fs/cgroup/unified` on hybrid ones.
pub fn cgroup2_root() -> io::Result<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
    mountinfo
        .lines()
        .find_map(|line| {
            let (mount, filesystem) = line.split_once(" - ")?;
            let mount_point = mount.split(' ').nth(4)?;
            (filesystem.split(' ').next()? == "cgroup2").then(|| PathBuf::from(mount_point))
        })
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no cgroup2 mount"))
}

/// Every cgroup under `root`, the root itself first (its path is `/`).
/// Groups that vanish while the walk runs are skipped.
pub fn list_cgroups(root: &Path) -> io::Result<Vec<NewCgroup>> {
    let mut found = vec![NewCgroup {
        id: fs::metadata(root)?.ino(),
        path: "/".to_owned(),
    }];
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((directory, relative)) = pending.pop() {
        let Ok(entries) = fs::read_dir(&directory) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            if !metadata.is_dir() {
                continue;
            }
            let path = format!("{relative}/{}", entry.file_name().to_string_lossy());
            found.push(NewCgroup {
                id: metadata.ino(),
                path: path.clone(),
            });
            pending.push((entry.path(), path));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_nested_directories_with_their_inodes_and_paths() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("a/b")).unwrap();
        fs::write(root.path().join("a/cgroup.procs"), "").unwrap();
        let listed = list_cgroups(root.path()).unwrap();
        let paths: Vec<&str> = listed.iter().map(|group| group.path.as_str()).collect();
        assert_eq!(paths, ["/", "/a", "/a/b"]);
        let b = fs::metadata(root.path().join("a/b")).unwrap().ino();
        assert_eq!(listed[2].id, b);
    }
}
