//! `scrim archive`: what compliance teams do to the archives scrim keeps.
//!
//! - `retention`: remove what the policy no longer allows to keep, now
//!   rather than at `scrim run`'s next pass (`--dry-run` lists it);
//! - `export` and `erase`: answer a data subject's access (GDPR Art. 15)
//!   and erasure (Art. 17) requests over a tenant's archive. The subject is
//!   named by a value (`uid=1000`), looked for as every version of the
//!   policy that `scrim run` kept in the state directory wrote it: as
//!   captured, or, where a version pseudonymised the field, as its
//!   pseudonyms under every key (in force or kept) and every key epoch the
//!   retention window spans.
//!
//! Each checks that the audit log can be appended before it acts, so that
//! nothing is done without its record. A file that cannot be read (corrupt,
//! empty, a symlink, a directory) or a directory that is not a partition is
//! skipped, named, and makes the command exit non-zero at the end; the rest
//! of the tenant's archive is still worked on. Each file is all or nothing:
//! an export adds its rows only once the whole file was read, and `export
//! --to` writes a temporary file that replaces FILE only on success.
use std::{
    collections::HashSet,
    io::{self, Write as _},
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use scrim_audit::AuditLog;
use scrim_event::{field::FieldType, time::UtcDateTime};
use scrim_policies::{CompiledPolicy, TenantPolicy, model::Action};
use scrim_redaction::{MasterKey, Pseudonymizer};
use scrim_sinks::{
    ArchivePath, Bucket, Skipped, Subject, SubjectValues, erase_rows, export_rows, parquet_files,
};
use serde_json::{Value, json};

use crate::{
    audit::{Operator, non_empty},
    capture::{audit_log_path, default_state_dir},
    outputs::{PolicyOutputs, SinkSettings},
    policy_source::PolicySource,
    reach::{self, Reach},
    retention::{ArchiveAt, TenantRetention},
    tenant_pipeline::unix_now,
};

#[derive(Args, Debug)]
pub struct ArchiveArgs {
    #[command(subcommand)]
    command: ArchiveCommand,
}

#[derive(Subcommand, Debug)]
enum ArchiveCommand {
    /// Remove the hour partitions each tenant's retention no longer allows,
    /// recording each removal in the audit log.
    Retention {
        #[command(flatten)]
        archives: ArchiveLocation,
        /// List what would be removed; remove nothing, record nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        operator: Operator,
        /// The change or ticket this pass is run under, if any (recorded).
        #[arg(long, value_name = "REF", value_parser = non_empty)]
        reference: Option<String>,
    },
    /// Write a data subject's rows in a tenant's archive as JSON lines
    /// (an access request); the export is recorded in the audit log.
    Export {
        #[command(flatten)]
        archives: ArchiveLocation,
        #[command(flatten)]
        subject: SubjectArgs,
        /// Write here instead of to standard output.
        #[arg(long)]
        to: Option<PathBuf>,
    },
    /// Remove a data subject's rows from a tenant's archive, rewriting each
    /// affected file atomically (an erasure request); recorded in the audit
    /// log.
    Erase {
        #[command(flatten)]
        archives: ArchiveLocation,
        #[command(flatten)]
        subject: SubjectArgs,
    },
}

/// Whose rows, in which tenant.
#[derive(Args, Debug)]
struct SubjectArgs {
    #[arg(long)]
    tenant: String,
    /// `uid=1000`, `gid=1000`, `pid=4242`, or any catalogue field:
    /// `process.real_user.id=1000`.
    #[arg(long)]
    subject: String,
    #[command(flatten)]
    operator: Operator,
    /// The data subject request this answers (its ticket or case number):
    /// recorded, so that every export and erasure can be traced to the
    /// request that asked for it (GDPR Art. 5(2), 12(3)).
    #[arg(long, value_name = "REF", value_parser = non_empty)]
    reference: String,
}

/// Which archives: the policy's, or one directory for every tenant (as
/// `scrim run --output` wrote them).
#[derive(Args, Debug)]
struct ArchiveLocation {
    /// The policy whose tenants, sinks and retention apply; default: the
    /// built-in one.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Every tenant's archive is under this directory instead of its
    /// policy's paths.
    #[arg(long)]
    output: Option<PathBuf>,
    /// The state directory whose audit log records what is done: the
    /// collectors' (the same default as `scrim run`).
    #[arg(long, env = "SCRIM_STATE_DIR", default_value_os_t = default_state_dir())]
    state_dir: PathBuf,
}

pub fn run(args: ArchiveArgs) -> anyhow::Result<()> {
    match args.command {
        ArchiveCommand::Retention {
            archives,
            dry_run,
            operator,
            reference,
        } => {
            let mut requested = json!({});
            operator.record(reference.as_deref(), &mut requested);
            retention(&archives, dry_run, &requested)
        }
        ArchiveCommand::Export {
            archives,
            subject,
            to,
        } => export(&archives, &subject, to.as_deref()),
        ArchiveCommand::Erase { archives, subject } => erase(&archives, &subject),
    }
}

/// A tenant's archives and how to tell the subject's rows.
struct SubjectRequest {
    tenant: String,
    field: &'static str,
    /// `None`: the tenant's policy never lets the field out, so no row can
    /// be the subject's by it.
    subject: Option<Subject>,
    /// The tenant's directories, each with the bucket it is staging for.
    archives: Vec<(PathBuf, Option<Bucket>)>,
    audit: AuditLog,
}

/// One Parquet file of a subject request: on disk, or an object (worked
/// on through a local copy).
enum ArchiveFile<'a> {
    Local(ArchivePath),
    Object {
        bucket: &'a Bucket,
        key: String,
        size: u64,
    },
}

impl ArchiveFile<'_> {
    /// Where the file can be read now: the file itself, or a fresh copy
    /// of the object in `scratch`.
    fn local(&self, scratch: &Path) -> anyhow::Result<ArchivePath> {
        match self {
            ArchiveFile::Local(path) => Ok(path.clone()),
            ArchiveFile::Object { bucket, key, .. } => {
                let name = Path::new("object.parquet");
                bucket.download(key, &scratch.join(name))?;
                Ok(ArchivePath::new(scratch, name))
            }
        }
    }

    /// Where it is, for messages.
    fn name(&self) -> PathBuf {
        match self {
            ArchiveFile::Local(path) => path.path(),
            ArchiveFile::Object { bucket, key, .. } => {
                PathBuf::from(format!("{}/{key}", bucket.url()))
            }
        }
    }

    /// Puts back what erasing did to the local copy: the rewritten file
    /// replaces the object (one atomic PUT), or the object goes.
    fn store(&self, copy: &ArchivePath, erased: &scrim_sinks::Erased) -> anyhow::Result<()> {
        if let ArchiveFile::Object { bucket, key, .. } = self {
            if erased.removed {
                bucket.delete(key)?;
            } else if erased.rewritten {
                bucket.upload_file(&copy.path(), key)?;
            }
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        match self {
            ArchiveFile::Local(path) => {
                std::fs::symlink_metadata(path.path()).map_or(0, |m| m.len())
            }
            ArchiveFile::Object { size, .. } => *size,
        }
    }
}

impl SubjectRequest {
    fn new(location: &ArchiveLocation, args: &SubjectArgs) -> anyhow::Result<Self> {
        let policy = PolicySource::new(location.policy.clone()).load()?;
        let outputs = PolicyOutputs::new(&policy, Vec::new(), &settings(location));
        let tenant = outputs
            .tenants
            .iter()
            .find(|tenant| tenant.name == args.tenant)
            .with_context(|| format!("the policy has no tenant `{}`", args.tenant))?;
        let (name, value) = args
            .subject
            .split_once('=')
            .context("give the subject as FIELD=VALUE, for example uid=1000")?;
        let field_name = match name {
            "uid" => "process.real_user.id",
            "gid" => "scrim.process.real_group.id",
            "pid" => "process.pid",
            other => other,
        };
        let field = scrim_event::field::named(field_name).with_context(|| {
            format!("`{field_name}` is not a catalogue field (see scrim fields)")
        })?;
        let (stored, keys) =
            versions_and_keys(&policy, &location.state_dir, &args.tenant, field.name)?;
        let versions: Vec<&CompiledPolicy> = std::iter::once(&policy).chain(&stored).collect();
        let subject = subject(&versions, &keys, &args.tenant, field, value)?;
        let audit = AuditLog::at(&audit_log_path(&location.state_dir));
        audit.set_key(crate::audit::key_of(&policy))?;
        Ok(SubjectRequest {
            tenant: args.tenant.clone(),
            field: field.name,
            subject,
            archives: tenant
                .archives
                .iter()
                .map(|target| Ok((target.root.clone(), target.open_bucket()?)))
                .collect::<anyhow::Result<_>>()?,
            audit,
        })
    }

    /// Reaches the state directory's collector and the tenant's spools
    /// (see [`crate::reach`]); nothing to reach when no row can be the
    /// subject's.
    fn reach(&self, state_dir: &Path, erase: bool) -> anyhow::Result<Option<Reach>> {
        self.subject
            .as_ref()
            .map(|subject| reach::reach(state_dir, &self.tenant, subject, erase))
            .transpose()
    }

    /// Every Parquet file of the tenant: on disk, in buckets, and staged
    /// for a bucket but not up yet; and what the walk skipped.
    fn files(&self) -> anyhow::Result<(Vec<ArchiveFile<'_>>, Vec<Skipped>)> {
        let (mut files, mut skipped) = (Vec::new(), Vec::new());
        for (root, bucket) in &self.archives {
            let found = parquet_files(root, &self.tenant)?;
            files.extend(found.files.into_iter().map(ArchiveFile::Local));
            skipped.extend(found.skipped);
            if let Some(bucket) = bucket {
                files.extend(
                    bucket
                        .parquet_objects(&self.tenant)?
                        .into_iter()
                        .map(|(key, size)| ArchiveFile::Object { bucket, key, size }),
                );
            }
        }
        Ok((files, skipped))
    }
}

/// The values that mark the subject's rows in `field`'s column, under
/// every version of the policy that can have written the tenant's archive
/// (`versions`: the policy given and those `scrim run` kept) and every
/// master key that can have pseudonymised them (`keys`): a uid kept as a
/// number under one version and pseudonymised under another is looked for
/// as both, each file matched by its column's type. `None` when no version
/// lets the field out, so no row can be the subject's by it.
pub fn subject(
    versions: &[&CompiledPolicy],
    keys: &[Arc<MasterKey>],
    tenant: &str,
    field: &'static scrim_event::field::Field,
    value: &str,
) -> anyhow::Result<Option<Subject>> {
    let integer = || -> anyhow::Result<i64> {
        value
            .parse()
            .with_context(|| format!("`{}` holds integers, not {value:?}", field.name))
    };
    let ruled: Vec<(&CompiledPolicy, &TenantPolicy)> = versions
        .iter()
        .filter_map(|policy| {
            let rules = policy.tenants().iter().find(|rules| rules.name == tenant)?;
            Some((*policy, rules))
        })
        .collect();
    anyhow::ensure!(!ruled.is_empty(), "the policy has no tenant `{tenant}`");
    // Every epoch a row still in the archive can come from: the longest
    // retention any version gave the tenant.
    let longest = ruled
        .iter()
        .flat_map(|(_, rules)| rules.retention.values())
        .max()
        .copied()
        .unwrap_or_default();
    let mut values = SubjectValues::default();
    let mut held = false;
    for (policy, rules) in ruled {
        match (rules.field_actions.get(field.name), field.field_type) {
            (None | Some(Action::Drop), _) => continue,
            (Some(Action::Keep), FieldType::Int) => {
                values.ints.insert(integer()?);
            }
            (Some(Action::Keep), FieldType::String | FieldType::Path | FieldType::IpAddress) => {
                values.texts.insert(value.to_owned());
            }
            (Some(Action::Pseudonymize), field_type) => {
                let rotation = policy
                    .key_rotation()
                    .context("the policy pseudonymises without keys")?;
                anyhow::ensure!(
                    !keys.is_empty(),
                    "tenant `{tenant}` pseudonymises `{}`, but no master key is at hand to find \
                     the pseudonyms with",
                    field.name
                );
                let number = match field_type {
                    FieldType::Int => Some(integer()?),
                    _ => None,
                };
                for key in keys {
                    pseudonyms(
                        Pseudonymizer::new(Arc::clone(key), tenant, rotation),
                        longest + rotation,
                        rotation,
                        field,
                        (number, value),
                        &mut values.texts,
                    );
                }
            }
            (Some(action), _) => anyhow::bail!(
                "tenant `{tenant}` keeps `{}` as {action:?} under policy {}: rows cannot be told \
                 apart by it; name the subject by a field the policy keeps or pseudonymises",
                field.name,
                policy.hash()
            ),
        }
        held = true;
    }
    Ok(held.then(|| Subject {
        column: field.name.to_owned(),
        values,
    }))
}

/// The pseudonyms of the subject's value under every epoch of `window`
/// back from now.
fn pseudonyms(
    mut pseudonymizer: Pseudonymizer,
    window: Duration,
    rotation: Duration,
    field: &scrim_event::field::Field,
    (number, value): (Option<i64>, &str),
    into: &mut HashSet<String>,
) {
    let now = unix_now();
    let step = i64::try_from(rotation.as_nanos())
        .unwrap_or(i64::MAX)
        .max(1);
    let oldest = now.saturating_sub(i64::try_from(window.as_nanos()).unwrap_or(i64::MAX));
    let mut at = now;
    loop {
        let pseudonym = match number {
            Some(number) => pseudonymizer.pseudonymize_int(field.name, number, at),
            _ => pseudonymizer.pseudonymize(field.name, value.as_bytes(), at),
        };
        into.insert(pseudonym.as_str().to_owned());
        if at <= oldest {
            break;
        }
        at = at.saturating_sub(step).max(oldest);
    }
}

/// The policy versions `scrim run` kept in `state_dir` besides `policy`,
/// and every master key at hand: `policy`'s and those kept wrapped under
/// it. Says which stored versions pseudonymised `field` with a key that is
/// at hand no more, whose rows a request cannot find.
fn versions_and_keys(
    policy: &CompiledPolicy,
    state_dir: &Path,
    tenant: &str,
    field: &str,
) -> anyhow::Result<(Vec<CompiledPolicy>, Vec<Arc<MasterKey>>)> {
    let stored: Vec<CompiledPolicy> = crate::policy_versions::load_all(state_dir)?
        .into_iter()
        .filter(|version| version.hash() != policy.hash())
        .collect();
    let mut keys = Vec::new();
    if let Some((current, _)) = policy.keys() {
        let kept = crate::kept_keys::open_all(state_dir, &current)?;
        keys.push(current);
        keys.extend(kept.keys);
        for fingerprint in kept.unopened {
            eprintln!(
                "scrim: kept master key {fingerprint} does not open with the key in force; rows \
                 it pseudonymised cannot be found"
            );
        }
    }
    let at_hand: HashSet<String> = keys.iter().map(|key| key.fingerprint()).collect();
    for version in &stored {
        let pseudonymised = version.tenants().iter().any(|rules| {
            rules.name == tenant && rules.field_actions.get(field) == Some(&Action::Pseudonymize)
        });
        if let Some(fingerprint) = version
            .key_fingerprint()
            .filter(|fingerprint| pseudonymised && !at_hand.contains(*fingerprint))
        {
            eprintln!(
                "scrim: rows written under policy {} pseudonymised `{field}` with master key \
                 {fingerprint}, which is neither in force nor kept: they cannot be found by \
                 the subject's pseudonyms",
                version.hash()
            );
        }
    }
    Ok((stored, keys))
}

fn export(location: &ArchiveLocation, args: &SubjectArgs, to: Option<&Path>) -> anyhow::Result<()> {
    let request = SubjectRequest::new(location, args)?;
    request.audit.check_appendable()?;
    // First: a running collector completes the tenant's open files.
    let reach = request.reach(&location.state_dir, false)?;
    let (files, mut skipped) = match &request.subject {
        Some(_) => request.files()?,
        None => Default::default(),
    };
    let mut out = ExportOut::new(to)?;
    let (mut rows, mut exported) = (0, 0);
    let scratch = scratch_directory()?;
    if let Some(subject) = &request.subject {
        for file in &files {
            // The file's rows go out only once it was read whole.
            let mut buffer = Vec::new();
            let found = file
                .local(scratch.path())
                .and_then(|local| Ok(export_rows(&local, subject, &mut buffer)?));
            match found {
                Ok(found) => {
                    out.write(&buffer)?;
                    rows += found;
                    exported += usize::from(found > 0);
                }
                Err(error) => skipped.push(unreadable(file, &error)),
            }
        }
    }
    // The spans scrim still holds: one line each, apart from the rows.
    for span in reach.iter().flat_map(|reach| &reach.spans) {
        let mut line = serde_json::to_vec(&json!({ "otlp.span": span }))
            .context("cannot write a span of the export")?;
        line.push(b'\n');
        out.write(&line)?;
    }
    let written = out.finish()?;
    let mut details = json!({
        "tenant": request.tenant,
        "field": request.field,
        "rows": rows,
        "files": exported,
        "skipped": skipped_names(&skipped),
        "collector_running": reach.as_ref().is_some_and(|reach| reach.collector_running),
        "spans": reach.as_ref().map_or(0, |reach| reach.spans.len()),
        "not_reached": reach.as_ref().map(Reach::unreached_record),
    });
    args.operator
        .record(Some(args.reference.as_str()), &mut details);
    let recorded = request.audit.append("archive.export", details, unix_now());
    let recorded = match recorded {
        Ok(recorded) => recorded,
        Err(error) => {
            // No export without its record.
            if let Some(written) = written {
                let _ = std::fs::remove_file(written);
            }
            return Err(error.into());
        }
    };
    report_recovery(&recorded);
    eprintln!(
        "scrim: exported {rows} rows of tenant `{}` from {exported} files{}",
        request.tenant,
        never_held(&request)
    );
    report_reach(&request.tenant, reach.as_ref(), "exported");
    fail_on_skipped("export", &skipped)
}

/// Where an export goes: standard output, or a temporary file beside
/// `--to` that replaces it once everything is written.
enum ExportOut {
    Stdout(io::BufWriter<io::StdoutLock<'static>>),
    File {
        temporary: io::BufWriter<tempfile::NamedTempFile<std::fs::File>>,
        to: PathBuf,
    },
}

impl ExportOut {
    fn new(to: Option<&Path>) -> anyhow::Result<Self> {
        let Some(to) = to else {
            return Ok(ExportOut::Stdout(io::BufWriter::new(io::stdout().lock())));
        };
        let directory = match to.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let name = to
            .file_name()
            .with_context(|| format!("--to {}: not a file name", to.display()))?;
        // The export replaces FILE by a rename: a device or FIFO there
        // (`/dev/stdout`) would be replaced, not written to.
        if let Ok(metadata) = std::fs::symlink_metadata(to)
            && !metadata.is_file()
            && !metadata.file_type().is_symlink()
        {
            anyhow::bail!(
                "--to {}: not a regular file; leave --to out to write to standard output",
                to.display()
            );
        }
        // A random name, created O_EXCL | O_NOFOLLOW mode 0640: nothing
        // planted beside FILE is written through. A name taken is retried.
        let temporary = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.to_string_lossy()))
            .suffix(".tmp")
            .make_in(directory, |path| {
                scrim_files::create_new(path, scrim_files::FILE_MODE).map_err(|error| match error {
                    scrim_files::FilesError::Io { source, .. } => source,
                    other => io::Error::new(io::ErrorKind::AlreadyExists, other.to_string()),
                })
            })
            .with_context(|| format!("cannot create a temporary file beside {}", to.display()))?;
        Ok(ExportOut::File {
            temporary: io::BufWriter::new(temporary),
            to: to.to_path_buf(),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        match self {
            ExportOut::Stdout(out) => out.write_all(bytes),
            ExportOut::File { temporary, .. } => temporary.write_all(bytes),
        }
        .context("cannot write the export")
    }

    /// Flushes; a file is synced and renamed over `--to`, whose path is
    /// returned. On error the temporary file is removed and `--to` is as
    /// it was.
    fn finish(self) -> anyhow::Result<Option<PathBuf>> {
        match self {
            ExportOut::Stdout(mut out) => {
                out.flush().context("cannot write the export")?;
                Ok(None)
            }
            ExportOut::File { temporary, to } => {
                let temporary = temporary
                    .into_inner()
                    .map_err(|error| error.into_error())
                    .context("cannot write the export")?;
                temporary
                    .as_file()
                    .sync_all()
                    .context("cannot write the export")?;
                temporary
                    .persist(&to)
                    .map_err(|error| error.error)
                    .with_context(|| format!("cannot rename the export to {}", to.display()))?;
                Ok(Some(to))
            }
        }
    }
}

/// What a file that could not be worked on is reported as.
fn unreadable(file: &ArchiveFile<'_>, error: &anyhow::Error) -> Skipped {
    Skipped {
        path: file.name(),
        reason: format!("{error:#}"),
    }
}

fn skipped_names(skipped: &[Skipped]) -> Vec<String> {
    skipped
        .iter()
        .map(|skipped| skipped.path.display().to_string())
        .collect()
}

/// Says what an audit append recovered: once, as it happens.
fn report_recovery(appended: &scrim_audit::Appended) {
    if let Some(recovery) = &appended.recovered {
        eprintln!("scrim: audit log: {recovery}");
    }
}

/// The command's end: an error naming what was skipped, if anything was.
fn fail_on_skipped(command: &str, skipped: &[Skipped]) -> anyhow::Result<()> {
    if skipped.is_empty() {
        return Ok(());
    }
    for skipped in skipped {
        eprintln!("scrim: {command}: skipped {skipped}");
    }
    anyhow::bail!(
        "{command}: {} skipped, the rest done: {}",
        skipped.len(),
        skipped_names(skipped).join(", ")
    )
}

fn erase(location: &ArchiveLocation, args: &SubjectArgs) -> anyhow::Result<()> {
    let request = SubjectRequest::new(location, args)?;
    request.audit.check_appendable()?;
    // First: a running collector completes the tenant's open files.
    let reach = request.reach(&location.state_dir, true)?;
    let (files, mut skipped) = match &request.subject {
        Some(_) => request.files()?,
        None => Default::default(),
    };
    let scratch = scratch_directory()?;
    let total_bytes: u64 = files.iter().map(ArchiveFile::size).sum();
    let started = Instant::now();
    let mut progress = Progress::new(files.len(), total_bytes);
    let (mut rows, mut rewritten, mut removed, mut read) = (0, 0, 0, 0);
    if let Some(subject) = &request.subject {
        for file in &files {
            let erased = file.local(scratch.path()).and_then(|local| {
                let erased = erase_rows(&local, subject)?;
                file.store(&local, &erased)?;
                Ok(erased)
            });
            match erased {
                Ok(erased) => {
                    rows += erased.rows_removed;
                    rewritten += usize::from(erased.rewritten);
                    removed += usize::from(erased.removed);
                    read += erased.bytes;
                    progress.advance(erased.bytes);
                }
                Err(error) => {
                    skipped.push(unreadable(file, &error));
                    progress.advance(0);
                }
            }
        }
    }
    progress.finish();
    let mut details = json!({
        "tenant": request.tenant,
        "field": request.field,
        "rows_removed": rows,
        "files_rewritten": rewritten,
        "files_removed": removed,
        "files_read": files.len(),
        "skipped": skipped_names(&skipped),
        "collector_running": reach.as_ref().is_some_and(|reach| reach.collector_running),
        "files_completed_first": reach.as_ref().map_or(0, |reach| reach.files_completed),
        "spans_erased": reach.as_ref().map_or(0, |reach| reach.spans_erased),
        "not_reached": reach.as_ref().map(Reach::unreached_record),
    });
    args.operator
        .record(Some(args.reference.as_str()), &mut details);
    let recorded = request.audit.append("archive.erase", details, unix_now())?;
    report_recovery(&recorded);
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    eprintln!(
        "scrim: erased {rows} rows of tenant `{}`: {rewritten} files rewritten, {removed} \
         removed, {} read ({:.0} MB/s){}",
        request.tenant,
        files.len(),
        read as f64 / seconds / 1e6,
        never_held(&request)
    );
    report_reach(&request.tenant, reach.as_ref(), "erased");
    fail_on_skipped("erase", &skipped)
}

/// Says what the request did beyond the archive files, and what scrim
/// cannot reach.
fn report_reach(tenant: &str, reach: Option<&Reach>, done: &str) {
    let Some(reach) = reach else {
        return;
    };
    if reach.collector_running {
        eprintln!(
            "scrim: the running collector completed {} open files of tenant `{tenant}` first",
            reach.files_completed
        );
    }
    let spans = if done == "erased" {
        reach.spans_erased
    } else {
        reach.spans.len() as u64
    };
    eprintln!(
        "scrim: {done} {spans} spans of tenant `{tenant}` held by scrim (spooled or not yet sent)"
    );
    for line in reach.unreached_lines() {
        eprintln!("scrim: tenant `{tenant}`'s spans were {line}");
    }
}

fn never_held(request: &SubjectRequest) -> String {
    match request.subject {
        Some(_) => String::new(),
        None => format!(
            " (no version of tenant `{}`'s policy ever let `{}` out, so no row is the \
             subject's by it)",
            request.tenant, request.field
        ),
    }
}

/// A progress bar on standard error, redrawn at most ten times a second.
struct Progress {
    files: usize,
    done: usize,
    total_bytes: u64,
    bytes: u64,
    drawn: Instant,
}

impl Progress {
    fn new(files: usize, total_bytes: u64) -> Self {
        Progress {
            files,
            done: 0,
            total_bytes,
            bytes: 0,
            drawn: Instant::now(),
        }
    }

    fn advance(&mut self, bytes: u64) {
        self.done += 1;
        self.bytes += bytes;
        if self.drawn.elapsed() >= Duration::from_millis(100) || self.done == self.files {
            self.draw();
        }
    }

    fn draw(&mut self) {
        const WIDTH: usize = 30;
        let filled = (self.bytes * WIDTH as u64)
            .checked_div(self.total_bytes)
            .map_or(WIDTH, |filled| filled as usize)
            .min(WIDTH);
        eprint!(
            "\rerasing [{}{}] {}/{} files, {:.1}/{:.1} MB",
            "#".repeat(filled),
            " ".repeat(WIDTH - filled),
            self.done,
            self.files,
            self.bytes as f64 / 1e6,
            self.total_bytes as f64 / 1e6
        );
        self.drawn = Instant::now();
    }

    fn finish(&mut self) {
        self.draw();
        eprintln!();
    }
}

/// Where objects are worked on: removed with everything in it at the end.
fn scratch_directory() -> anyhow::Result<tempfile::TempDir> {
    tempfile::tempdir().context("cannot make a scratch directory for objects")
}

fn settings(location: &ArchiveLocation) -> SinkSettings {
    SinkSettings {
        root_override: location.output.clone(),
        format_override: None,
        roll_interval: Duration::from_secs(60),
        roll_bytes: scrim_sinks::ArchiveOptions::DEFAULT_MAX_BYTES_PER_FILE,
        spool_root: location.state_dir.join("spool"),
        staging_root: location.state_dir.join("uploads"),
        spool_max_bytes: 0,
    }
}

/// `requested`: who asked, added to each entry.
fn retention(location: &ArchiveLocation, dry_run: bool, requested: &Value) -> anyhow::Result<()> {
    let policy = PolicySource::new(location.policy.clone()).load()?;
    let outputs = PolicyOutputs::new(&policy, Vec::new(), &settings(location));
    let audit = AuditLog::at(&audit_log_path(&location.state_dir));
    if !dry_run {
        audit.set_key(crate::audit::key_of(&policy))?;
    }
    let now = unix_now();
    let (mut partitions, mut files, mut bytes) = (0, 0, 0);
    let mut skipped = Vec::new();
    for tenant in &outputs.tenants {
        let buckets: Vec<(PathBuf, Option<Bucket>)> = tenant
            .archives
            .iter()
            .map(|target| Ok((target.root.clone(), target.open_bucket()?)))
            .collect::<anyhow::Result<_>>()?;
        let enforced = TenantRetention {
            tenant: &tenant.name,
            // A bucket's staging directory too (files waiting for upload).
            archives: buckets
                .iter()
                .flat_map(|(root, bucket)| {
                    std::iter::once(ArchiveAt::Directory(root))
                        .chain(bucket.as_ref().map(ArchiveAt::Bucket))
                })
                .collect(),
            periods: &tenant.retention,
        }
        .enforce_all(now, dry_run, (!dry_run).then_some((&audit, requested)))?;
        if let Some(recovery) = &enforced.recovered {
            eprintln!("scrim: audit log: {recovery}");
        }
        skipped.extend(enforced.skipped);
        for removal in enforced.removals {
            let partition = &removal.partition;
            println!(
                "{} {} (tenant {}, kind {}, hour {}, {} files, {} bytes)",
                if dry_run { "would remove" } else { "removed" },
                partition.location,
                tenant.name,
                removal.kind.as_str(),
                UtcDateTime::from_unix_nanos(partition.hour_start).rfc3339(),
                partition.files.len(),
                partition.bytes,
            );
            partitions += 1;
            files += partition.files.len();
            bytes += partition.bytes;
        }
    }
    println!(
        "retention: {partitions} hour partitions past retention, {files} files, {bytes} bytes{}",
        if dry_run {
            " (dry run: nothing removed)".to_owned()
        } else if partitions > 0 {
            format!("; recorded in {}", audit.path().display())
        } else {
            String::new()
        }
    );
    fail_on_skipped("retention", &skipped)
}
