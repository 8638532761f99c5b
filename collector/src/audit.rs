//! `scrim audit verify`: checks the audit log's hash chain and, with the
//! keys that wrote it, authenticates every entry; and who asks for what the
//! archive commands record.
use std::{
    ffi::CStr,
    path::{Path, PathBuf},
};

use clap::{Args, Subcommand};
use scrim_audit::AuditKey;
use scrim_policies::CompiledPolicy;
use scrim_redaction::MasterKey;
use serde_json::Value;

use crate::{
    capture::{audit_log_path, default_state_dir},
    policy_source::PolicySource,
};

#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Check that no entry was changed, inserted, removed or rebuilt; print
    /// the number of entries, which are authenticated, the torn entries
    /// that appends recovered, and the last hash (keep it elsewhere, and
    /// give it to --expect-head later, to detect a cut-off tail).
    Verify {
        /// The log; default: the state directory's.
        file: Option<PathBuf>,
        /// The state directory (the same default as `scrim run`).
        #[arg(long, env = "SCRIM_STATE_DIR", default_value_os_t = default_state_dir())]
        state_dir: PathBuf,
        /// The policy whose master key authenticates the entries (the one
        /// `scrim run` and `scrim archive` ran with).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// A master key file whose entries to authenticate: a key the
        /// policy had before it was replaced. Repeat for several.
        #[arg(long = "key", value_name = "FILE")]
        keys: Vec<PathBuf>,
        /// A last hash printed by an earlier verify: fail unless the log
        /// still holds it (as its last entry, or with entries after it).
        #[arg(long, value_name = "HASH", value_parser = parse_hash)]
        expect_head: Option<String>,
    },
}

pub fn run(args: AuditArgs) -> anyhow::Result<()> {
    match args.command {
        AuditCommand::Verify {
            file,
            state_dir,
            policy,
            keys,
            expect_head,
        } => verify(
            &file.unwrap_or_else(|| audit_log_path(&state_dir)),
            policy,
            &keys,
            expect_head.as_deref(),
        ),
    }
}

fn verify(
    path: &Path,
    policy: Option<PathBuf>,
    key_files: &[PathBuf],
    expect_head: Option<&str>,
) -> anyhow::Result<()> {
    let mut keys = Vec::new();
    if let Some(policy) = policy {
        let compiled = PolicySource::new(Some(policy)).load()?;
        keys.extend(key_of(&compiled));
    }
    for file in key_files {
        let master = MasterKey::load(file)?;
        keys.push(AuditKey::new(master.audit_key()));
    }
    let verified = scrim_audit::verify(path, &keys, expect_head)?;
    let name = path.display();
    println!(
        "{name}: {} entries, chain intact; last hash {}",
        verified.entries, verified.last_hash
    );
    let authenticated = verified.entries - verified.unauthenticated;
    if authenticated > 0 {
        println!(
            "{name}: {} authenticated ({}) by audit key {}",
            entries(authenticated),
            lines(verified.unauthenticated + 1, verified.entries),
            verified.keys.join(", ")
        );
    }
    if verified.unauthenticated > 0 {
        println!(
            "{name}: {} not authenticated ({}): written before the log was keyed, by a scrim \
             from before keyed logs or under a policy without [keys]; whoever can write the file \
             could have rebuilt them (--expect-head with a kept hash shows it)",
            entries(verified.unauthenticated),
            lines(1, verified.unauthenticated)
        );
    }
    for recovery in &verified.recoveries {
        println!("{name}: {recovery}");
    }
    if let Some(head) = expect_head {
        match verified.entries_after_head {
            Some(0) => println!("{name}: the kept head {head} is the last entry"),
            Some(after) => println!(
                "{name}: the kept head {head} is in the log, with {} appended after it",
                entries(after)
            ),
            None => anyhow::bail!(
                "audit log {name}: the kept head {head} is not in the log: entries were cut off \
                 its end, or the log was rebuilt"
            ),
        }
    }
    Ok(())
}

fn entries(count: u64) -> String {
    match count {
        1 => "1 entry".to_owned(),
        _ => format!("{count} entries"),
    }
}

fn lines(first: u64, last: u64) -> String {
    if first == last {
        format!("line {first}")
    } else {
        format!("lines {first} to {last}")
    }
}

/// A kept head: 64 hex digits, as verify prints them.
fn parse_hash(text: &str) -> Result<String, String> {
    if text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err("a hash is 64 hex digits, as `scrim audit verify` prints it".into())
    }
}

/// The key a policy's audit entries are authenticated with: derived from
/// its master key; `None` for a policy without `[keys]`.
pub fn key_of(policy: &CompiledPolicy) -> Option<AuditKey> {
    policy
        .keys()
        .map(|(master, _)| AuditKey::new(master.audit_key()))
}

/// Who asks for an archive command: its audit entries name them, so that
/// an export or erasure can be traced to a person and not just a host.
#[derive(Args, Debug)]
pub struct Operator {
    /// Who asked for this (recorded in the audit log); default: the user
    /// who invoked scrim ($SUDO_USER, else the name of the user scrim runs
    /// as).
    #[arg(long, value_name = "NAME", value_parser = non_empty)]
    requested_by: Option<String>,
}

impl Operator {
    /// Adds `requested_by` (never empty) and `reference` (if any) to an
    /// entry's details.
    pub fn record(&self, reference: Option<&str>, details: &mut Value) {
        let name = self.requested_by.clone().unwrap_or_else(invoking_user);
        details["requested_by"] = name.into();
        if let Some(reference) = reference {
            details["reference"] = reference.into();
        }
    }
}

/// An argument that must say something.
pub fn non_empty(text: &str) -> Result<String, String> {
    match text.trim() {
        "" => Err("must not be empty".into()),
        trimmed => Ok(trimmed.to_owned()),
    }
}

/// Whoever invoked scrim: the user `sudo` ran it for, else the name of the
/// user it runs as, else that user's number.
fn invoking_user() -> String {
    if let Some(user) = std::env::var("SUDO_USER")
        .ok()
        .filter(|user| !user.trim().is_empty())
    {
        return user;
    }
    // SAFETY: geteuid(2) cannot fail.
    let uid = unsafe { libc::geteuid() };
    user_name(uid).unwrap_or_else(|| format!("uid {uid}"))
}

/// The name of user `uid` in the password database.
fn user_name(uid: libc::uid_t) -> Option<String> {
    let mut buffer = vec![0; 16 << 10];
    // SAFETY: a zeroed passwd is a valid out-parameter.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found = std::ptr::null_mut();
    // SAFETY: every pointer is to memory we own for the call's length;
    // getpwuid_r writes strings only into `buffer`.
    let status = unsafe {
        libc::getpwuid_r(
            uid,
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if status != 0 || found.is_null() || entry.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded: pw_name is a NUL-terminated string in
    // `buffer`, which is still alive.
    let name = unsafe { CStr::from_ptr(entry.pw_name) };
    Some(name.to_string_lossy().into_owned()).filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_user_has_a_name() {
        // SAFETY: geteuid(2) cannot fail.
        let uid = unsafe { libc::geteuid() };
        let expected = std::process::Command::new("id")
            .arg("-un")
            .output()
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .unwrap_or_default();
        assert_eq!(user_name(uid).unwrap_or_default(), expected);
    }

    #[test]
    fn a_kept_head_is_64_hex_digits() {
        assert_eq!(parse_hash(&"AB".repeat(32)), Ok("ab".repeat(32)));
        assert!(parse_hash("abc").is_err());
        assert!(parse_hash(&"g".repeat(64)).is_err());
    }
}
