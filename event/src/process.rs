//! Process lifecycle events.
use crate::{
    FieldValue, ProcessContext, UnixNanos,
    field::{self, Field},
};

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
    /// For a fork, the new child.
    pub process: ProcessContext,
    /// Exec only: the path given to exec, which may be relative.
    pub executable_path: Option<String>,
    pub executable_path_truncated: bool,
    /// Exec only, and only when argument capture is on.
    pub command_args: Option<Vec<String>>,
    pub command_args_truncated: bool,
    /// Exit only.
    pub exit: Option<ExitStatus>,
}

impl ProcessEvent {
    pub(crate) fn visit_fields<'a>(
        &'a self,
        mut visit: impl FnMut(&'static Field, FieldValue<'a>),
    ) {
        use FieldValue::{Bool, Int, Null, String, StringList, Timestamp};
        let exec_only = |value| {
            if self.kind == ProcessEventKind::Exec {
                Bool(value)
            } else {
                Null
            }
        };
        visit(&field::TIME, Timestamp(self.time));
        visit(&field::EVENT_NAME, String(self.kind.event_name()));
        self.process.visit_fields(&mut visit);
        visit(
            &field::PROCESS_EXECUTABLE_PATH,
            self.executable_path.as_deref().map_or(Null, String),
        );
        visit(
            &field::PROCESS_EXECUTABLE_PATH_TRUNCATED,
            exec_only(self.executable_path_truncated),
        );
        visit(
            &field::PROCESS_COMMAND_ARGS,
            self.command_args.as_deref().map_or(Null, StringList),
        );
        visit(
            &field::PROCESS_COMMAND_ARGS_TRUNCATED,
            if self.command_args.is_some() {
                Bool(self.command_args_truncated)
            } else {
                Null
            },
        );
        visit(
            &field::PROCESS_EXIT_CODE,
            self.exit.map_or(Null, |exit| Int(exit.code.into())),
        );
        visit(
            &field::PROCESS_EXIT_SIGNAL,
            self.exit
                .and_then(|exit| exit.signal)
                .map_or(Null, |signal| Int(signal.into())),
        );
    }
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
    use crate::{Event, EventKind};

    #[test]
    fn visits_every_catalogued_field_in_order() {
        let event = Event::Process(ProcessEvent {
            kind: ProcessEventKind::Exit,
            time: 2,
            process: ProcessContext {
                pid: 10,
                parent_pid: 1,
                real_user_id: 1000,
                real_group_id: 100,
                cgroup_id: 77,
                executable_name: Some("sh".into()),
                creation_time: 1,
            },
            executable_path: None,
            executable_path_truncated: false,
            command_args: None,
            command_args_truncated: false,
            exit: Some(ExitStatus::from_wait_status(9)),
        });
        let mut visited = Vec::new();
        event.visit_fields(|field, value| visited.push((field.name, value)));
        let names: Vec<_> = visited.iter().map(|(name, _)| *name).collect();
        let catalogue: Vec<_> = field::of_kind(EventKind::Process).map(|f| f.name).collect();
        assert_eq!(names, catalogue);
        let value = |name| visited.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        assert_eq!(value("process.exit.code"), Some(FieldValue::Int(137)));
        assert_eq!(value("scrim.process.exit.signal"), Some(FieldValue::Int(9)));
        assert_eq!(value("process.executable.path"), Some(FieldValue::Null));
        assert_eq!(
            value("scrim.process.executable.path_truncated"),
            Some(FieldValue::Null)
        );
        assert_eq!(value("scrim.cgroup.id"), Some(FieldValue::Int(77)));
    }

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
