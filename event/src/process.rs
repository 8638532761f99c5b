//! Process lifecycle events.
use crate::UnixNanos;

/// What happened to the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessEventKind {
    /// A new process (not a thread) was created by fork, vfork or clone.
    Fork,
    /// The process replaced its image with `execve` or `execveat`.
    Exec,
    /// The process's last thread exited.
    Exit,
}

impl ProcessEventKind {
    /// The `event.name` value.
    pub fn event_name(self) -> &'static str {
        match self {
            ProcessEventKind::Fork => "process.fork",
            ProcessEventKind::Exec => "process.exec",
            ProcessEventKind::Exit => "process.exit",
        }
    }
}

/// A process lifecycle event. Field meanings are in [`crate::field`].
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessEvent {
    pub kind: ProcessEventKind,
    pub time: UnixNanos,
    pub pid: u32,
    pub thread_id: u32,
    pub parent_pid: u32,
    pub real_user_id: u32,
    pub real_group_id: u32,
    pub cgroup_id: u64,
    /// The kernel's task name (`comm`), at most 15 bytes.
    pub executable_name: String,
    pub creation_time: UnixNanos,
    /// Exec only: the path given to exec, which may be relative.
    pub executable_path: Option<String>,
    pub executable_path_truncated: bool,
    /// Exec only, and only when argument capture is on.
    pub command_args: Option<Vec<String>>,
    pub command_args_truncated: bool,
    /// Exit only.
    pub exit: Option<ExitStatus>,
}

/// How a process ended, decoded from a `wait(2)` status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code passed to `exit`, or 128 + the signal for a process
    /// killed by a signal (the shell convention).
    pub code: i32,
    /// The signal that killed the process, if one did.
    pub signal: Option<i32>,
    pub core_dumped: bool,
}

impl ExitStatus {
    pub fn from_wait_status(status: i32) -> Self {
        let signal = status & 0x7f;
        if signal == 0 {
            ExitStatus {
                code: (status >> 8) & 0xff,
                signal: None,
                core_dumped: false,
            }
        } else {
            ExitStatus {
                code: 128 + signal,
                signal: Some(signal),
                core_dumped: status & 0x80 != 0,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_normal_exit() {
        let status = ExitStatus::from_wait_status(7 << 8);
        assert_eq!(
            status,
            ExitStatus {
                code: 7,
                signal: None,
                core_dumped: false
            }
        );
    }

    #[test]
    fn decodes_death_by_signal_with_core() {
        let status = ExitStatus::from_wait_status(11 | 0x80);
        assert_eq!(
            status,
            ExitStatus {
                code: 139,
                signal: Some(11),
                core_dumped: true
            }
        );
    }
}
