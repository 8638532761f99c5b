//! Faults and attacks, for real, against the scrim binary and the real
//! kernel: a filled tmpfs, an unprivileged user planting symlinks, a
//! second collector in a new PID namespace, closed pipes, torn logs,
//! hostile policy files. Each module holds one class of the promises in
//! the README's "Guarantees"; every test here failed before its fix.
#[path = "../common/mod.rs"]
mod common;

mod archive_commands;
mod audit_log;
mod burst;
mod cli;
mod collectors;
mod disk;
mod hostile_user;
mod policy_file;
