//! Parsers for `scrim run`'s flag values. Every duration and size is
//! checked where clap parses it, so a value that cannot work is a one-line
//! error and a non-zero exit before anything starts (no probe loaded,
//! nothing created), rather than a panic once capture began (a zero
//! summary interval), a file per event (a zero roll size) or every event
//! lost with exit 0 (a zero tenant queue, an archive on /proc).
use std::{
    ffi::CString,
    os::unix::ffi::OsStrExt as _,
    path::{Path, PathBuf},
    time::Duration,
};

const SECOND: Duration = Duration::from_secs(1);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Why a flag's value is refused; clap names the flag and the value.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    #[error("not a duration ({0}); write it like \"5s\", \"10m\" or \"1h\"")]
    NotADuration(humantime::DurationError),
    #[error("must be at least {}", humantime::format_duration(*.0))]
    TooShort(Duration),
    #[error("must be at most {}", humantime::format_duration(*.0))]
    TooLong(Duration),
    #[error("not a whole number ({0})")]
    NotANumber(std::num::ParseIntError),
    #[error("must be from {min} to {max}")]
    OutOfRange { min: u64, max: u64 },
    #[error("must be a power of two from 1 to {max}, as the kernel's ring buffer is")]
    NotAPowerOfTwo { max: u64 },
    #[error(
        "{path}: {existing} is on {filesystem}, a filesystem of the kernel's own objects, \
         not a place for archives"
    )]
    SpecialFilesystem {
        path: String,
        existing: String,
        filesystem: &'static str,
    },
    #[error(
        "{path}: {existing} is under {root}, where the kernel's own files are, not a place \
         for archives"
    )]
    KernelDirectory {
        path: String,
        existing: String,
        root: &'static str,
    },
    #[error("{0} is not a directory")]
    NotADirectory(String),
    #[error("{path} cannot be written ({error})")]
    NotWritable { path: String, error: std::io::Error },
    #[error("{path} cannot be examined ({error})")]
    Unreadable { path: String, error: std::io::Error },
}

/// `--summary-interval`: a line more often than 10 a second floods the
/// log and the event loop; less often than daily is never seen.
pub fn summary_interval(text: &str) -> Result<Duration, ValueError> {
    duration_within(text, Duration::from_millis(100), DAY)
}

/// `--roll-interval`: files are checked for their age once a second, so a
/// shorter interval is that second; a file open for more than a day holds
/// a day of events nobody can read.
pub fn roll_interval(text: &str) -> Result<Duration, ValueError> {
    duration_within(text, SECOND, DAY)
}

/// `--retention-interval`: each pass lists every tenant's archive; more
/// than once a second is a busy loop, and removals later than 30 days keep
/// data past most retention periods.
pub fn retention_interval(text: &str) -> Result<Duration, ValueError> {
    duration_within(text, SECOND, 30 * DAY)
}

/// `--duration`: zero would stop before capturing anything.
pub fn run_duration(text: &str) -> Result<Duration, ValueError> {
    duration_within(text, Duration::from_millis(1), Duration::MAX)
}

/// `--tenant-queue-mib`: zero holds nothing, so every event is lost; past
/// 4 GiB of records a stalled tenant could take the node's memory.
pub fn tenant_queue_mib(text: &str) -> Result<u32, ValueError> {
    let mib = number_within(text, 1, 4096)?;
    u32::try_from(mib).map_err(|_| ValueError::OutOfRange { min: 1, max: 4096 })
}

/// `--roll-size-mib`: zero completes a file per event; past 64 GiB a file
/// is never complete before its interval.
pub fn roll_size_mib(text: &str) -> Result<u64, ValueError> {
    number_within(text, 1, 64 << 10)
}

/// `--spool-max-mib`: zero spools nothing, dropping every span a backend
/// is slow to take; the upper bound (1 TiB) only catches typos.
pub fn spool_max_mib(text: &str) -> Result<u64, ValueError> {
    number_within(text, 1, 1 << 20)
}

/// `--ring-buffer-mib`: the kernel takes a power of two of pages, smaller
/// than 1 GiB (`RINGBUF_MAX_RECORD_SZ`), so 1 to 512 MiB.
pub fn ring_buffer_mib(text: &str) -> Result<u32, ValueError> {
    const MAX: u64 = 512;
    let mib = number_within(text, 1, MAX)?;
    if !mib.is_power_of_two() {
        return Err(ValueError::NotAPowerOfTwo { max: MAX });
    }
    u32::try_from(mib).map_err(|_| ValueError::OutOfRange { min: 1, max: MAX })
}

/// `--output`: a directory that is, or can be created as, a writable one
/// on an ordinary filesystem. Nothing is created here: a missing directory
/// is judged by its nearest existing ancestor. Under /proc or /sys every
/// write fails or means something else (a directory made under the cgroup
/// filesystem is a new cgroup), so those are refused, by place and by
/// filesystem type (a cgroup or BPF filesystem can be mounted anywhere).
pub fn output_directory(text: &str) -> Result<PathBuf, ValueError> {
    let path = PathBuf::from(text);
    let existing = nearest_existing(&path)?;
    let shown = existing.display().to_string();
    if let Some(filesystem) = special_filesystem(existing)? {
        return Err(ValueError::SpecialFilesystem {
            path: text.to_owned(),
            existing: shown,
            filesystem,
        });
    }
    // By place too: on a hybrid cgroup layout /sys/fs/cgroup is a tmpfs
    // that only holds the cgroup mounts.
    let canonical = existing
        .canonicalize()
        .map_err(|error| ValueError::Unreadable {
            path: shown.clone(),
            error,
        })?;
    if let Some(root) = ["/proc", "/sys"]
        .into_iter()
        .find(|root| canonical.starts_with(root))
    {
        return Err(ValueError::KernelDirectory {
            path: text.to_owned(),
            existing: shown,
            root,
        });
    }
    if !existing.is_dir() {
        return Err(ValueError::NotADirectory(shown));
    }
    writable(existing).map_err(|error| ValueError::NotWritable { path: shown, error })?;
    Ok(path)
}

fn duration_within(text: &str, min: Duration, max: Duration) -> Result<Duration, ValueError> {
    let duration = humantime::parse_duration(text).map_err(ValueError::NotADuration)?;
    if duration < min {
        return Err(ValueError::TooShort(min));
    }
    if duration > max {
        return Err(ValueError::TooLong(max));
    }
    Ok(duration)
}

fn number_within(text: &str, min: u64, max: u64) -> Result<u64, ValueError> {
    let number: u64 = text.trim().parse().map_err(ValueError::NotANumber)?;
    if !(min..=max).contains(&number) {
        return Err(ValueError::OutOfRange { min, max });
    }
    Ok(number)
}

/// `path` itself if it exists, else its nearest ancestor that does (`.`
/// for a relative path with none).
fn nearest_existing(path: &Path) -> Result<&Path, ValueError> {
    for candidate in path.ancestors() {
        let candidate = if candidate.as_os_str().is_empty() {
            Path::new(".")
        } else {
            candidate
        };
        match candidate.try_exists() {
            Ok(true) => return Ok(candidate),
            // Under a file (ENOTDIR): the file is what is judged.
            Ok(false) => {}
            Err(error) if error.raw_os_error() == Some(libc::ENOTDIR) => {}
            Err(error) => {
                return Err(ValueError::Unreadable {
                    path: candidate.display().to_string(),
                    error,
                });
            }
        }
    }
    Ok(Path::new("."))
}

/// Filesystems of the kernel's own objects, by `statfs` type
/// (`linux/magic.h`).
const SPECIAL_FILESYSTEMS: &[(u32, &str)] = &[
    (0x9fa0, "procfs"),
    (0x6265_6572, "sysfs"),
    (0x6367_7270, "cgroup2"),
    (0x0027_e0eb, "cgroup (v1)"),
    (0x6462_6720, "debugfs"),
    (0x7472_6163, "tracefs"),
    (0xcafe_4a11, "bpffs"),
    (0x7363_6673, "securityfs"),
    (0xf97c_ff8c, "selinuxfs"),
    (0x4341_5d53, "smackfs"),
    (0x1cd1, "devpts"),
    (0x6165_676c, "pstore"),
    (0xde5e_81e4, "efivarfs"),
    (0x6265_6570, "configfs"),
    (0x6e73_6673, "nsfs"),
    (0x4249_4e4d, "binfmt_misc"),
    (0x6573_5543, "fusectl"),
];

fn special_filesystem(path: &Path) -> Result<Option<&'static str>, ValueError> {
    let unreadable = |error| ValueError::Unreadable {
        path: path.display().to_string(),
        error,
    };
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| unreadable(std::io::Error::from(std::io::ErrorKind::InvalidInput)))?;
    // SAFETY: `statfs` is plain integers, for which all zeroes is a value.
    let mut stats: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: statfs(2) reads the NUL-terminated path and fills `stats`.
    if unsafe { libc::statfs(c_path.as_ptr(), &mut stats) } != 0 {
        return Err(unreadable(std::io::Error::last_os_error()));
    }
    // Magic numbers are 32 bits; `f_type`'s width differs by architecture.
    let magic = stats.f_type as u32;
    Ok(SPECIAL_FILESYSTEMS
        .iter()
        .find(|(known, _)| *known == magic)
        .map(|(_, name)| *name))
}

/// Whether scrim could create entries in `directory`: access(2) with
/// W_OK|X_OK, which also says EROFS for a read-only mount (root passes
/// mode bits, not a read-only filesystem).
fn writable(directory: &Path) -> std::io::Result<()> {
    let c_path = CString::new(directory.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: access(2) only reads the NUL-terminated path.
    if unsafe { libc::access(c_path.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
