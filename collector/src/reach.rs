//! What a data subject's request reaches besides the archive files: the
//! collector of the state directory (running or not), the tenant's OTLP
//! spools, and the backends that took spans, which scrim cannot erase.
//!
//! With no collector running, the command takes the state directory's
//! lock for as long as it works (so none starts meanwhile) and rewrites
//! the spools itself. With one running, it asks the collector over the
//! control socket (see [`crate::control`]), which completes the tenant's
//! open files and does the spools; a collector that holds the lock and
//! does not answer makes the command refuse, rather than report success
//! over files it cannot see.
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use scrim_event::time::UtcDateTime;
use scrim_files::{FilesError, StateLock};
use scrim_otlp::{SentRecord, Span, Spool};
use scrim_sinks::Subject;
use serde_json::{Value, json};

use crate::control::{self, Hold, Reached, SubjectQuestion};

/// A subject request's hold on the state directory, and what the spools
/// gave: kept until the command's work on the files is done.
pub struct Reach {
    /// This command's lock on the state directory (no collector runs), or
    /// its hold on the collector that does: kept until dropped.
    _lock: Option<StateLock>,
    _hold: Option<Hold>,
    /// Whether a collector was running, for the record.
    pub collector_running: bool,
    /// Files the running collector completed for the request.
    pub files_completed: u64,
    pub spans_erased: u64,
    /// The subject's spans (an access request).
    pub spans: Vec<Span>,
    /// Backends that took the tenant's spans: erasure is theirs to do.
    pub sent: Vec<SentRecord>,
}

/// Reaches the state directory's collector and the tenant's spools for a
/// request on `subject`; `erase` removes the subject's spans, otherwise they
/// are gathered.
pub fn reach(
    state_dir: &Path,
    tenant: &str,
    subject: &Subject,
    erase: bool,
) -> anyhow::Result<Reach> {
    // Whoever else can write the state directory could pose as its
    // collector (a lock and a socket of theirs) and be told the subject's
    // pseudonyms: it must be scrim's alone, as `scrim run` demands.
    scrim_files::create_private_dir_all(state_dir)
        .and_then(|()| scrim_files::check_private(state_dir, None))
        .context("the state directory (--state-dir)")?;
    let spools = tenant_spools(state_dir, tenant);
    let mut reach = match StateLock::acquire(state_dir) {
        Ok(lock) => {
            let (spans_erased, spans) = spools_here(&spools, subject, erase)?;
            Reach {
                _lock: Some(lock),
                _hold: None,
                collector_running: false,
                files_completed: 0,
                spans_erased,
                spans,
                sent: Vec::new(),
            }
        }
        Err(FilesError::Locked { holder, .. }) => {
            let question = SubjectQuestion {
                tenant: tenant.to_owned(),
                subject: subject.clone(),
                erase,
            };
            match control::ask(state_dir, question)? {
                Reached::Running(hold, held) => Reach {
                    _lock: None,
                    _hold: Some(hold),
                    collector_running: true,
                    files_completed: held.files_completed,
                    spans_erased: held.spans_erased,
                    spans: held.spans,
                    sent: Vec::new(),
                },
                Reached::NotListening => anyhow::bail!(
                    "a collector (pid {holder}) runs on {} and does not answer on its control \
                     socket: the rows in its open files and its spooled spans would be missed. \
                     Stop it (it completes its files as it stops) and run this command again",
                    state_dir.display()
                ),
            }
        }
        Err(error) => return Err(error).context("the state directory (--state-dir)"),
    };
    reach.sent = SentRecord::read_all(&spools)
        .context("cannot read which backends took the tenant's spans")?;
    Ok(reach)
}

impl Reach {
    /// What scrim cannot reach, one line each: "sent to <backend> between
    /// <t1> and <t2>: erase it there".
    pub fn unreached_lines(&self) -> Vec<String> {
        self.sent
            .iter()
            .map(|sent| {
                let (from, to) = interval(sent);
                format!(
                    "sent to {} between {from} and {to}: erase it there",
                    sent.endpoint
                )
            })
            .collect()
    }

    /// The same, for the audit log.
    pub fn unreached_record(&self) -> Value {
        self.sent
            .iter()
            .map(|sent| {
                let (from, to) = interval(sent);
                json!({ "backend": sent.endpoint, "from": from, "to": to })
            })
            .collect()
    }
}

/// When a backend took spans, to the second, widened to whole seconds so
/// that it holds every span sent.
fn interval(sent: &SentRecord) -> (String, String) {
    const SECOND: i64 = 1_000_000_000;
    let second = |nanos: i64| {
        let at = UtcDateTime::from_unix_nanos(nanos);
        format!(
            "{}T{:02}:{:02}:{:02}Z",
            at.date(),
            at.hour,
            at.minute,
            at.second
        )
    };
    let last = sent.last.saturating_add(SECOND - 1);
    (second(sent.first), second(last))
}

/// `<state-dir>/spool/tenant=<name>`: one directory per backend below.
fn tenant_spools(state_dir: &Path, tenant: &str) -> PathBuf {
    state_dir.join("spool").join(format!("tenant={tenant}"))
}

/// Works on the spools directly (no collector runs: this command holds
/// the lock).
fn spools_here(spools: &Path, subject: &Subject, erase: bool) -> anyhow::Result<(u64, Vec<Span>)> {
    let matches = control::span_match(subject);
    let (mut erased, mut spans) = (0, Vec::new());
    let entries = match std::fs::read_dir(spools) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok((0, spans)),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot list {}", spools.display()));
        }
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", spools.display()))?;
        // A backend's spool is a directory of ours; anything else (a
        // symlink someone planted) is not followed.
        if !entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            continue;
        }
        let mut spool = Spool::open(&entry.path(), u64::MAX)?;
        if erase {
            erased += spool.erase(&*matches)?;
        } else {
            spans.extend(spool.matching(&*matches)?);
        }
    }
    Ok((erased, spans))
}
