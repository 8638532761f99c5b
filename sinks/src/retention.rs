//! Retention: the hour partitions of a tenant's kind that are older than
//! the policy allows, found and removed. A partition goes when its whole
//! hour lies before the cutoff; only published files are removed (a file
//! still being written keeps its hidden temporary name and stays), then
//! the directories left empty.
//!
//! No symlink in the archive tree is followed: the scan skips and reports
//! them, with directories whose names are not partitions, and a removal
//! reaches its partition from the root through directory handles opened
//! with `O_NOFOLLOW`, so a directory swapped for a symlink after the scan
//! cannot point the removal at files elsewhere.
use std::{
    fs, io,
    path::{Path, PathBuf},
};

use scrim_event::{EventKind, UnixNanos};
use scrim_files::{Beneath, FilesError};

use crate::{SinkError, subject::Skipped};

const NANOS_PER_HOUR: i64 = 3_600_000_000_000;
const NANOS_PER_DAY: i64 = 24 * NANOS_PER_HOUR;

/// An hour partition past its retention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiredPartition {
    /// Where it is: `<root>/tenant=<t>/kind=<k>/date=<d>/hour=<h>`, a
    /// directory or an object-store URL.
    pub location: String,
    /// When its hour began.
    pub hour_start: UnixNanos,
    /// Its published files: paths, or object keys in a bucket.
    pub files: Vec<String>,
    pub bytes: u64,
}

/// What a scan for partitions past retention found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expired {
    /// Oldest first.
    pub partitions: Vec<ExpiredPartition>,
    /// What the scan left alone: symlinks, directories whose names are not
    /// partitions, directories inside an hour partition.
    pub skipped: Vec<Skipped>,
}

/// The partitions of `tenant`'s `kind` under `root` whose hour ended at or
/// before `cutoff`, and what the scan skipped. A missing directory has
/// none; a directory it cannot read is skipped, not the end of the scan.
pub fn expired_partitions(
    root: &Path,
    tenant: &str,
    kind: EventKind,
    cutoff: UnixNanos,
) -> Result<Expired, SinkError> {
    let mut scan = Expired::default();
    let kind_directory = root.join(kind_prefix(tenant, kind));
    for directory in [kind_directory.parent().unwrap_or(root), &kind_directory] {
        match fs::symlink_metadata(directory) {
            Ok(metadata) if metadata.is_dir() => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(scan),
            Ok(_) => {
                scan.skipped.push(Skipped {
                    path: directory.to_path_buf(),
                    reason: "a symbolic link or not a directory: never followed".into(),
                });
                return Ok(scan);
            }
            Err(error) => {
                scan.skipped.push(Skipped {
                    path: directory.to_path_buf(),
                    reason: error.to_string(),
                });
                return Ok(scan);
            }
        }
    }
    for date in subdirectories(
        &kind_directory,
        "date=<YYYY-MM-DD>",
        &mut scan.skipped,
        |name| day_start(name.strip_prefix("date=").unwrap_or_default()).is_some(),
    ) {
        let hours = subdirectories(&date, "hour=<HH>", &mut scan.skipped, |name| {
            hour_start("date=1970-01-01", name).is_some()
        });
        for hour in hours {
            let Some(hour_start) = hour_start(name_of(&date), name_of(&hour)) else {
                continue;
            };
            if !expired(hour_start, cutoff) {
                continue;
            }
            if let Some(partition) = published(&hour, hour_start, &mut scan.skipped) {
                scan.partitions.push(partition);
            }
        }
    }
    scan.partitions
        .sort_by_key(|partition| partition.hour_start);
    Ok(scan)
}

/// The published files of the hour partition `hour`; `None`, with the
/// reason in `skipped`, if it cannot be read.
fn published(
    hour: &Path,
    hour_start: UnixNanos,
    skipped: &mut Vec<Skipped>,
) -> Option<ExpiredPartition> {
    let mut files = Vec::new();
    let mut bytes = 0;
    let listed = fs::read_dir(hour).and_then(|entries| {
        for entry in entries {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue; // being written
            }
            // Not followed: a symlink is a name to remove like a file.
            let metadata = entry.metadata()?;
            if metadata.is_dir() {
                skipped.push(Skipped {
                    path: entry.path(),
                    reason: "a directory inside an hour partition: left alone".into(),
                });
                continue;
            }
            bytes += metadata.len();
            files.push(entry.path().display().to_string());
        }
        Ok(())
    });
    if let Err(error) = listed {
        skipped.push(Skipped {
            path: hour.to_path_buf(),
            reason: error.to_string(),
        });
        return None;
    }
    files.sort();
    Some(ExpiredPartition {
        location: hour.display().to_string(),
        hour_start,
        files,
        bytes,
    })
}

/// Removes a partition (found under `root`) published files, then its hour
/// and date directories if nothing else is left in them. The partition is
/// reached from `root` without following a symlink; if a file cannot be
/// removed, the error says how many were.
pub fn remove_partition(root: &Path, partition: &ExpiredPartition) -> Result<(), SinkError> {
    let hour = Path::new(&partition.location);
    let failed = |removed, source| SinkError::PartitionRemoval {
        location: partition.location.clone(),
        removed,
        files: partition.files.len(),
        source,
    };
    let relative = hour.strip_prefix(root).map_err(|_| {
        failed(
            0,
            FilesError::Untrusted {
                path: hour.to_path_buf(),
                problem: format!("not under the archive root {}", root.display()),
            },
        )
    })?;
    let directory = Beneath::open_root(root)
        .and_then(|root| root.open_dir(relative))
        .map_err(|error| failed(0, error))?;
    let mut removed = 0;
    for file in &partition.files {
        let name = Path::new(file)
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default();
        match directory.remove_file(name) {
            Ok(()) => removed += 1,
            Err(FilesError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(failed(removed, error)),
        }
    }
    for directory in [Some(hour), hour.parent()].into_iter().flatten() {
        // Not empty (a file still being written): it stays. rmdir never
        // follows the last component.
        let _ = fs::remove_dir(directory);
    }
    Ok(())
}

/// `tenant=<t>/kind=<k>`: where a tenant's kind starts in any archive.
pub(crate) fn kind_prefix(tenant: &str, kind: EventKind) -> String {
    format!("tenant={tenant}/kind={}", kind.as_str())
}

/// When the hour of a `date=<YYYY-MM-DD>` and `hour=<HH>` pair of
/// partition names began; `None` for names no partition has.
pub(crate) fn hour_start(date: &str, hour: &str) -> Option<UnixNanos> {
    let day_start = day_start(date.strip_prefix("date=")?)?;
    let hour: i64 = hour.strip_prefix("hour=")?.parse().ok()?;
    (0..24)
        .contains(&hour)
        .then_some(day_start + hour * NANOS_PER_HOUR)
}

/// Whether a partition whose hour began at `hour_start` lies wholly before
/// `cutoff`.
pub(crate) fn expired(hour_start: UnixNanos, cutoff: UnixNanos) -> bool {
    hour_start + NANOS_PER_HOUR <= cutoff
}

fn name_of(path: &Path) -> &str {
    path.file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default()
}

/// The subdirectories of `directory` whose names `fits`; symlinks and
/// other directories are skipped and reported (`expected` says what a name
/// should be), other files ignored.
fn subdirectories(
    directory: &Path,
    expected: &str,
    skipped: &mut Vec<Skipped>,
    fits: impl Fn(&str) -> bool,
) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let listed = fs::read_dir(directory).and_then(|entries| {
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let kind = entry.file_type()?;
            let reason = if kind.is_symlink() {
                "a symbolic link: never followed".to_owned()
            } else if !kind.is_dir() {
                continue;
            } else if fits(&name) {
                found.push(entry.path());
                continue;
            } else {
                format!("not a partition directory ({expected})")
            };
            skipped.push(Skipped {
                path: entry.path(),
                reason,
            });
        }
        Ok(())
    });
    if let Err(error) = listed {
        skipped.push(Skipped {
            path: directory.to_path_buf(),
            reason: error.to_string(),
        });
    }
    found
}

/// The Unix time of `YYYY-MM-DD` at 00:00 UTC.
fn day_start(date: &str) -> Option<UnixNanos> {
    let mut parts = date.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day) * NANOS_PER_DAY)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dates_as_the_partitions_write_them() {
        assert_eq!(day_start("1970-01-01"), Some(0));
        assert_eq!(day_start("2000-03-01"), Some(11_017 * NANOS_PER_DAY));
        assert_eq!(day_start("2026-11-28"), Some(20_785 * NANOS_PER_DAY));
        assert_eq!(day_start("2026-13-01"), None);
        assert_eq!(day_start("yesterday"), None);
    }

    #[test]
    fn finds_whole_hours_before_the_cutoff_and_removes_only_published_files() {
        let root = tempfile::tempdir().expect("tempdir");
        let kind = root.path().join("tenant=acme/kind=process");
        for hour in [
            "date=2026-11-27/hour=22",
            "date=2026-11-27/hour=23",
            "date=2026-11-28/hour=00",
        ] {
            fs::create_dir_all(kind.join(hour)).expect("partition");
            fs::write(kind.join(hour).join("part-1.parquet"), b"rows").expect("file");
        }
        fs::write(
            kind.join("date=2026-11-27/hour=23/.part-2.parquet.tmp"),
            b"open",
        )
        .expect("tmp");
        // 2026-11-28T00:30Z: hours 22 and 23 of the 27th have ended.
        let cutoff = day_start("2026-11-28").expect("date") + NANOS_PER_HOUR / 2;
        let scan =
            expired_partitions(root.path(), "acme", EventKind::Process, cutoff).expect("scan");
        assert!(scan.skipped.is_empty(), "{:?}", scan.skipped);
        let expired = scan.partitions;
        let hours: Vec<String> = expired
            .iter()
            .map(|partition| {
                Path::new(&partition.location)
                    .strip_prefix(&kind)
                    .expect("below")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            hours,
            ["date=2026-11-27/hour=22", "date=2026-11-27/hour=23"]
        );
        assert!(
            expired
                .iter()
                .all(|partition| partition.files.len() == 1 && partition.bytes == 4)
        );
        for partition in &expired {
            remove_partition(root.path(), partition).expect("remove");
        }
        assert!(!kind.join("date=2026-11-27/hour=22").exists());
        // The file still being written keeps its partition.
        assert!(
            kind.join("date=2026-11-27/hour=23/.part-2.parquet.tmp")
                .exists()
        );
        assert!(kind.join("date=2026-11-28/hour=00/part-1.parquet").exists());
        assert!(
            expired_partitions(root.path(), "other", EventKind::Process, cutoff)
                .expect("a tenant without an archive")
                .partitions
                .is_empty()
        );
    }
}
