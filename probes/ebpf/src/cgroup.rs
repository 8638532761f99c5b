//! New cgroups, reported as soon as they exist so userspace can assign them a
//! tenant before their first events. Events in the gap get the default action
//! for unknown cgroups.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use scrim_abi::{
    CGROUP_PATH_CAPACITY, CgroupCreatedRecord, CgroupRemovedRecord, KernelCounter, RecordKind,
};

use crate::{
    output::{count, reserve, submit_now},
    process::header,
    settings::layout,
};

#[tracepoint(category = "cgroup", name = "cgroup_mkdir")]
pub fn scrim_cgroup_mkdir(ctx: TracePointContext) -> u32 {
    let layout = layout();
    // Only the v2 hierarchy (id 0) names the cgroups events carry.
    if unsafe { ctx.read_at::<i32>(layout.cgroup_mkdir_root as usize) } != Ok(0) {
        return 0;
    }
    let Ok(cgroup_id) = (unsafe { ctx.read_at::<u64>(layout.cgroup_mkdir_id as usize) }) else {
        return 0;
    };
    let Some(mut entry) = reserve::<CgroupCreatedRecord>() else {
        return 0;
    };
    let record = unsafe { &mut *entry.as_mut_ptr() };
    record.header = header(RecordKind::CgroupCreated, 0);
    record.cgroup_id = cgroup_id;
    record.reserved = [0; 3];
    let (path_len, truncated) =
        crate::strings::read_data_loc(&ctx, layout.cgroup_mkdir_path_loc, &mut record.path);
    if truncated {
        count(KernelCounter::StringTruncated);
    }
    record.path_len = path_len;
    submit_now(entry);
    0
}

/// A removed cgroup leaves the tenant map here, at once and whatever the
/// ring buffer's state (a map of stale ids would fill on a node with pod
/// churn), and is announced so userspace forgets it too. `cgroup_rmdir`
/// shares `cgroup_mkdir`'s event class, so the same field offsets apply.
#[tracepoint(category = "cgroup", name = "cgroup_rmdir")]
pub fn scrim_cgroup_rmdir(ctx: TracePointContext) -> u32 {
    let layout = layout();
    if unsafe { ctx.read_at::<i32>(layout.cgroup_mkdir_root as usize) } != Ok(0) {
        return 0;
    }
    let Ok(cgroup_id) = (unsafe { ctx.read_at::<u64>(layout.cgroup_mkdir_id as usize) }) else {
        return 0;
    };
    crate::filter::forget_cgroup(cgroup_id);
    let Some(mut entry) = reserve::<CgroupRemovedRecord>() else {
        return 0;
    };
    let record = unsafe { &mut *entry.as_mut_ptr() };
    record.header = header(RecordKind::CgroupRemoved, 0);
    record.cgroup_id = cgroup_id;
    submit_now(entry);
    0
}

const _: () = assert!(CGROUP_PATH_CAPACITY <= u16::MAX as usize);
