//! Who caused an event: the fields every kind of event carries.
use crate::{
    FieldValue, UnixNanos,
    field::{self, Field},
};

/// The process an event belongs to. Field meanings are in [`crate::field`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessContext {
    /// The kernel's thread-group id.
    pub pid: u32,
    pub parent_pid: u32,
    pub real_user_id: u32,
    pub real_group_id: u32,
    /// cgroup v2 id: what tenants are resolved from.
    pub cgroup_id: u64,
    /// The kernel's task name (`comm`), at most 15 bytes; absent when the
    /// tenant's filter masks it.
    pub executable_name: Option<String>,
    pub creation_time: UnixNanos,
}

impl ProcessContext {
    /// Visits the context's fields, in catalogue order (they follow `time`
    /// and `event.name` for every kind).
    pub(crate) fn visit_fields<'a>(
        &'a self,
        visit: &mut impl FnMut(&'static Field, FieldValue<'a>),
    ) {
        use FieldValue::{Int, Null, String, Timestamp};
        visit(&field::PROCESS_PID, Int(self.pid.into()));
        visit(&field::PROCESS_PARENT_PID, Int(self.parent_pid.into()));
        visit(&field::PROCESS_REAL_USER_ID, Int(self.real_user_id.into()));
        visit(
            &field::PROCESS_REAL_GROUP_ID,
            Int(self.real_group_id.into()),
        );
        // cgroup ids are inode numbers: they fit in i64 on every filesystem.
        visit(&field::CGROUP_ID, Int(self.cgroup_id as i64));
        visit(
            &field::PROCESS_EXECUTABLE_NAME,
            self.executable_name.as_deref().map_or(Null, String),
        );
        visit(&field::PROCESS_CREATION_TIME, Timestamp(self.creation_time));
    }
}
