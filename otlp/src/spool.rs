//! Batches a backend did not take wait here, on disk, oldest first, until
//! it takes them; they survive a restart. The spool is bounded in bytes:
//! past the bound the oldest batches are dropped, and counted.
//!
//! A data subject's erasure reaches the spool too ([`Spool::erase`]): each
//! batch holding their spans is rewritten without them, under the same
//! number (so the order holds) and its new count. The new file is renamed
//! into place before the old one goes, so a crash between the two leaves
//! both, and the next start keeps the smaller (an erasure only shrinks a
//! batch): nothing of the subject and nothing of anyone else is lost.
use std::{
    collections::{HashMap, VecDeque},
    fs,
    io::{BufRead as _, BufReader, Write as _},
    path::{Path, PathBuf},
};

use crate::{OtlpError, span::Span};

const SUFFIX: &str = "spans";

struct Batch {
    path: PathBuf,
    bytes: u64,
    spans: u64,
}

pub struct Spool {
    directory: PathBuf,
    max_bytes: u64,
    batches: VecDeque<Batch>,
    bytes: u64,
    next_number: u64,
    dropped_spans: u64,
    /// Files of the batches taken out to be sent, not answered yet.
    leased: Vec<PathBuf>,
    /// Leased batches an erasure rewrote while they were away, by the
    /// file they were taken from: what replaces them if they come back.
    replaced: HashMap<PathBuf, Replaced>,
    erased_spans: u64,
}

/// A leased batch rewritten without a subject's spans.
struct Replaced {
    /// The rewritten batch; `None` if no span was left.
    batch: Option<Batch>,
    /// Its spans the erasure removed: erased if it comes back, sent
    /// (the backend took them as they were) if it does not.
    erased: u64,
}

impl Spool {
    /// Opens the spool at `directory`, taking up what a previous run left
    /// (and removing half-written files it left).
    pub fn open(directory: &Path, max_bytes: u64) -> Result<Self, OtlpError> {
        let failed = |source| OtlpError::Spool {
            path: directory.to_path_buf(),
            source,
        };
        scrim_files::create_private_dir_all(directory).map_err(OtlpError::SpoolFile)?;
        let mut found = Vec::new();
        for entry in fs::read_dir(directory).map_err(failed)? {
            let path = entry.map_err(failed)?.path();
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or_default()
                .to_owned();
            if name.ends_with(".tmp") {
                fs::remove_file(&path).map_err(failed)?;
                continue;
            }
            // `<number>-<spans>.spans`
            let Some((number, spans)) = name_parts(&path) else {
                continue;
            };
            let bytes = fs::metadata(&path).map_err(failed)?.len();
            found.push((number, Batch { path, bytes, spans }));
        }
        // A crash in the middle of an erasure leaves a batch twice under
        // one number: the smaller one is the erased one.
        found.sort_by_key(|(number, batch)| (*number, batch.spans));
        let mut kept: Vec<(u64, Batch)> = Vec::with_capacity(found.len());
        for (number, batch) in found {
            if kept.last().is_some_and(|(last, _)| *last == number) {
                fs::remove_file(&batch.path).map_err(failed)?;
            } else {
                kept.push((number, batch));
            }
        }
        let found = kept;
        let next_number = found.last().map_or(0, |(number, _)| number + 1);
        let batches: VecDeque<Batch> = found.into_iter().map(|(_, batch)| batch).collect();
        let bytes = batches.iter().map(|batch| batch.bytes).sum();
        Ok(Spool {
            directory: directory.to_path_buf(),
            max_bytes,
            batches,
            bytes,
            next_number,
            dropped_spans: 0,
            leased: Vec::new(),
            replaced: HashMap::new(),
            erased_spans: 0,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Spans waiting.
    pub fn spans(&self) -> u64 {
        self.batches.iter().map(|batch| batch.spans).sum()
    }

    /// Spans dropped because the spool was full.
    pub fn dropped_spans(&self) -> u64 {
        self.dropped_spans
    }

    /// Spans a subject's erasure removed (from batches waiting, or from
    /// batches that came back unsent).
    pub fn erased_spans(&self) -> u64 {
        self.erased_spans
    }

    /// Every spooled span `matches` picks, batches being sent included:
    /// what a subject's access request finds here.
    pub fn matching(&self, matches: &dyn Fn(&Span) -> bool) -> Result<Vec<Span>, OtlpError> {
        let mut found = Vec::new();
        for path in self.files() {
            found.extend(read_batch(path)?.into_iter().filter(|span| matches(span)));
        }
        Ok(found)
    }

    /// Rewrites every batch holding a span `matches` picks without it,
    /// batches being sent included (if one comes back unsent, what comes
    /// back is the rewritten one). Returns the spans removed from batches
    /// waiting; those of batches away are counted when they come back.
    pub fn erase(&mut self, matches: &dyn Fn(&Span) -> bool) -> Result<u64, OtlpError> {
        let mut erased = 0;
        let mut waiting = VecDeque::with_capacity(self.batches.len());
        for batch in std::mem::take(&mut self.batches) {
            let (kept, removed) = match self.rewrite(&batch, matches) {
                Ok(rewritten) => rewritten,
                Err(error) => {
                    // Untouched: put back what is still to be looked at.
                    waiting.push_back(batch);
                    waiting.extend(std::mem::take(&mut self.batches));
                    self.batches = waiting;
                    self.erased_spans += erased;
                    return Err(error);
                }
            };
            erased += removed;
            self.bytes -= batch.bytes;
            if let Some(kept) = kept {
                self.bytes += kept.bytes;
                waiting.push_back(kept);
            }
        }
        self.batches = waiting;
        for path in self.leased.clone() {
            let batch = Batch {
                spans: spans_in_name(&path).unwrap_or_default(),
                bytes: 0,
                path: path.clone(),
            };
            let (kept, removed) = self.rewrite(&batch, matches)?;
            if removed > 0 {
                self.replaced.insert(
                    path,
                    Replaced {
                        batch: kept,
                        erased: removed,
                    },
                );
            }
        }
        self.erased_spans += erased;
        Ok(erased)
    }

    /// Appends a batch, then drops the oldest batches while the spool is
    /// over its bound.
    pub fn push(&mut self, spans: &[Span]) -> Result<(), OtlpError> {
        if spans.is_empty() {
            return Ok(());
        }
        let number = self.next_number;
        self.next_number += 1;
        let batch = self.write_batch(number, spans)?;
        self.bytes += batch.bytes;
        self.batches.push_back(batch);
        self.drop_past_bound()
    }

    /// Writes `spans` as batch `number`: a new file, synced, renamed into
    /// place; never through a name someone planted.
    fn write_batch(&self, number: u64, spans: &[Span]) -> Result<Batch, OtlpError> {
        let path = self
            .directory
            .join(format!("{number:020}-{}.{SUFFIX}", spans.len()));
        let temporary = path.with_extension("tmp");
        let failed = |source| OtlpError::Spool {
            path: temporary.clone(),
            source,
        };
        let mut text = Vec::new();
        for span in spans {
            serde_json::to_writer(&mut text, span)
                .map_err(|error| failed(std::io::Error::other(error)))?;
            text.push(b'\n');
        }
        let mut file = scrim_files::create_new(&temporary, scrim_files::FILE_MODE)
            .map_err(OtlpError::SpoolFile)?;
        file.write_all(&text).map_err(failed)?;
        file.sync_data().map_err(failed)?;
        fs::rename(&temporary, &path).map_err(failed)?;
        Ok(Batch {
            path,
            bytes: text.len() as u64,
            spans: spans.len() as u64,
        })
    }

    /// Takes the oldest batch out to be sent. Its file stays until
    /// [`Self::sent`], so a crash while it is away loses nothing; while it
    /// is away it no longer counts against the bound (which a batch in
    /// flight may so exceed by its own size). An unreadable batch is
    /// dropped, counted, and its error returned.
    pub fn take_oldest(&mut self) -> Result<Option<(Lease, Vec<Span>)>, OtlpError> {
        let Some(batch) = self.batches.pop_front() else {
            return Ok(None);
        };
        self.bytes -= batch.bytes;
        match read_batch(&batch.path) {
            Ok(spans) => {
                self.leased.push(batch.path.clone());
                Ok(Some((Lease(batch), spans)))
            }
            Err(unreadable) => {
                self.dropped_spans += batch.spans;
                remove(&batch.path)?;
                Err(unreadable)
            }
        }
    }

    /// A taken batch went through: its file goes (or what an erasure
    /// rewrote it to: the backend took it as it was).
    pub fn sent(&mut self, lease: Lease) -> Result<(), OtlpError> {
        self.leased.retain(|path| *path != lease.0.path);
        match self.replaced.remove(&lease.0.path) {
            Some(Replaced {
                batch: Some(batch), ..
            }) => remove(&batch.path),
            Some(Replaced { batch: None, .. }) => Ok(()),
            None => remove(&lease.0.path),
        }
    }

    /// A taken batch did not go through: it is the oldest again (as an
    /// erasure left it, if one rewrote it meanwhile).
    pub fn put_back(&mut self, lease: Lease) -> Result<(), OtlpError> {
        self.leased.retain(|path| *path != lease.0.path);
        let batch = match self.replaced.remove(&lease.0.path) {
            Some(replaced) => {
                self.erased_spans += replaced.erased;
                replaced.batch
            }
            None => Some(lease.0),
        };
        if let Some(batch) = batch {
            self.bytes += batch.bytes;
            self.batches.push_front(batch);
        }
        self.drop_past_bound()
    }

    /// The files of every batch, waiting or away.
    fn files(&self) -> Vec<&PathBuf> {
        let mut files: Vec<&PathBuf> = self.batches.iter().map(|batch| &batch.path).collect();
        for path in &self.leased {
            match self.replaced.get(path) {
                Some(replaced) => files.extend(replaced.batch.as_ref().map(|batch| &batch.path)),
                None => files.push(path),
            }
        }
        files
    }

    /// Writes `batch` again without the spans `matches` picks: the new
    /// file under the same number goes into place before the old one is
    /// removed. Returns the batch now (`None`: no span was left) and the
    /// spans removed; an untouched batch is returned as it was.
    fn rewrite(
        &mut self,
        batch: &Batch,
        matches: &dyn Fn(&Span) -> bool,
    ) -> Result<(Option<Batch>, u64), OtlpError> {
        let spans = read_batch(&batch.path)?;
        let before = spans.len() as u64;
        let kept: Vec<Span> = spans.into_iter().filter(|span| !matches(span)).collect();
        let removed = before - kept.len() as u64;
        if removed == 0 {
            let same = Batch {
                path: batch.path.clone(),
                bytes: batch.bytes,
                spans: batch.spans,
            };
            return Ok((Some(same), 0));
        }
        let rewritten = match number_in_name(&batch.path) {
            Some(number) if !kept.is_empty() => Some(self.write_batch(number, &kept)?),
            _ => None,
        };
        remove(&batch.path)?;
        Ok((rewritten, removed))
    }

    fn drop_past_bound(&mut self) -> Result<(), OtlpError> {
        while self.bytes > self.max_bytes {
            let Some(batch) = self.batches.pop_front() else {
                break;
            };
            self.bytes -= batch.bytes;
            self.dropped_spans += batch.spans;
            remove(&batch.path)?;
        }
        Ok(())
    }
}

/// A batch taken from the spool to be sent; see [`Spool::take_oldest`].
pub struct Lease(Batch);

/// `<number>-<spans>.spans`: the number.
fn number_in_name(path: &Path) -> Option<u64> {
    name_parts(path).map(|(number, _)| number)
}

/// `<number>-<spans>.spans`: the spans.
fn spans_in_name(path: &Path) -> Option<u64> {
    name_parts(path).map(|(_, spans)| spans)
}

fn name_parts(path: &Path) -> Option<(u64, u64)> {
    let (number, spans) = path
        .file_name()?
        .to_str()?
        .strip_suffix(&format!(".{SUFFIX}"))?
        .split_once('-')?;
    Some((number.parse().ok()?, spans.parse().ok()?))
}

fn read_batch(path: &Path) -> Result<Vec<Span>, OtlpError> {
    let failed = |source| OtlpError::Spool {
        path: path.to_path_buf(),
        source,
    };
    let file = fs::File::open(path).map_err(failed)?;
    BufReader::new(file)
        .lines()
        .map(|line| {
            let line = line.map_err(failed)?;
            serde_json::from_str(&line).map_err(|error| failed(std::io::Error::other(error)))
        })
        .collect()
}

fn remove(path: &Path) -> Result<(), OtlpError> {
    fs::remove_file(path).map_err(|source| OtlpError::Spool {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::SpanRole;

    fn span(number: u8) -> Span {
        Span {
            trace_id: [number; 16],
            span_id: [number; 8],
            parent_span_id: None,
            name: format!("span {number}"),
            role: SpanRole::Process,
            start: 1,
            end: 2,
            attributes: Vec::new(),
            events: Vec::new(),
            cgroup_id: 7,
        }
    }

    #[test]
    fn keeps_batches_in_order_across_a_restart() {
        let directory = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(directory.path(), 1 << 20).expect("open");
        spool.push(&[span(1), span(2)]).expect("push");
        spool.push(&[span(3)]).expect("push");
        std::fs::write(directory.path().join("00000000000000000009-1.tmp"), "half")
            .expect("a half-written file");
        drop(spool);

        let mut spool = Spool::open(directory.path(), 1 << 20).expect("reopen");
        assert_eq!(spool.spans(), 3);
        let (first, spans) = spool.take_oldest().expect("read").expect("a batch");
        assert_eq!(spans, [span(1), span(2)]);
        spool.sent(first).expect("sent");
        spool.push(&[span(4)]).expect("push after reopening");
        let (second, spans) = spool.take_oldest().expect("read").expect("a batch");
        assert_eq!(spans, [span(3)]);
        // Not sent: it is the oldest again, and survives another restart.
        spool.put_back(second).expect("put back");
        drop(spool);
        let mut spool = Spool::open(directory.path(), 1 << 20).expect("reopen");
        assert_eq!(oldest(&mut spool), [span(3)]);
        assert_eq!(oldest(&mut spool), [span(4)]);
        assert!(!directory.path().join("00000000000000000009-1.tmp").exists());
    }

    /// Takes the oldest batch and says it was sent.
    fn oldest(spool: &mut Spool) -> Vec<Span> {
        let (lease, spans) = spool.take_oldest().expect("read").expect("a batch");
        spool.sent(lease).expect("sent");
        spans
    }

    #[test]
    fn a_batch_taken_and_lost_in_a_crash_is_still_there_at_the_next_start() {
        let directory = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(directory.path(), 1 << 20).expect("open");
        spool.push(&[span(1)]).expect("push");
        let taken = spool.take_oldest().expect("read").expect("a batch");
        assert_eq!(spool.spans(), 0);
        std::mem::forget(taken);
        drop(spool);
        let mut spool = Spool::open(directory.path(), 1 << 20).expect("reopen");
        assert_eq!(oldest(&mut spool), [span(1)]);
        assert!(spool.take_oldest().expect("read").is_none());
    }

    #[test]
    fn an_unreadable_batch_is_dropped_counted_and_named() {
        let directory = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(directory.path(), 1 << 20).expect("open");
        spool.push(&[span(1), span(2)]).expect("push");
        spool.push(&[span(3)]).expect("push");
        let first = directory.path().join(format!("{:020}-2.{SUFFIX}", 0));
        std::fs::write(&first, "not a span\n").expect("spoil the first batch");
        let error = spool.take_oldest().err().expect("unreadable");
        assert!(
            error.to_string().contains(&first.display().to_string()),
            "{error}"
        );
        assert_eq!((spool.spans(), spool.dropped_spans()), (1, 2));
        assert!(!first.exists());
        assert_eq!(oldest(&mut spool), [span(3)]);
    }

    #[test]
    fn drops_the_oldest_batches_past_its_bound_and_counts_them() {
        let directory = tempfile::tempdir().expect("tempdir");
        let one_batch = {
            let mut spool = Spool::open(&directory.path().join("probe"), u64::MAX).expect("open");
            spool.push(&[span(1)]).expect("push");
            spool.bytes
        };
        let mut spool = Spool::open(&directory.path().join("spool"), 2 * one_batch).expect("open");
        for number in 1..=5 {
            spool.push(&[span(number)]).expect("push");
        }
        assert_eq!(spool.spans(), 2);
        assert_eq!(spool.dropped_spans(), 3);
        assert_eq!(oldest(&mut spool), [span(4)]);
    }

    /// The subject of the erasure tests: span 1.
    fn subject(span: &Span) -> bool {
        span.name == "span 1"
    }

    fn spool_files(directory: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(directory)
            .expect("list")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn an_erasure_rewrites_the_batches_waiting_under_their_numbers() {
        let directory = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(directory.path(), 1 << 20).expect("open");
        spool.push(&[span(1), span(2)]).expect("push");
        spool.push(&[span(1)]).expect("push");
        spool.push(&[span(3)]).expect("push");
        assert_eq!(spool.matching(&subject).expect("matching").len(), 2);
        assert_eq!(spool.erase(&subject).expect("erase"), 2);
        assert_eq!((spool.spans(), spool.erased_spans()), (2, 2));
        assert_eq!(
            spool_files(directory.path()),
            [
                format!("{:020}-1.{SUFFIX}", 0),
                format!("{:020}-1.{SUFFIX}", 2)
            ]
        );
        drop(spool);
        let mut spool = Spool::open(directory.path(), 1 << 20).expect("reopen");
        assert_eq!(oldest(&mut spool), [span(2)]);
        assert_eq!(oldest(&mut spool), [span(3)]);
        spool
            .push(&[span(4)])
            .expect("numbers go on after the last");
        assert_eq!(oldest(&mut spool), [span(4)]);
    }

    #[test]
    fn a_batch_away_comes_back_erased_and_counted_or_goes_as_it_was_sent() {
        let directory = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(directory.path(), 1 << 20).expect("open");
        spool.push(&[span(1), span(2)]).expect("push");
        spool.push(&[span(1), span(3)]).expect("push");
        let (first, _) = spool.take_oldest().expect("read").expect("a batch");
        let (second, _) = spool.take_oldest().expect("read").expect("a batch");
        // Away: found, rewritten, counted only once it is known whether
        // the backend took it.
        assert_eq!(spool.matching(&subject).expect("matching").len(), 2);
        assert_eq!(spool.erase(&subject).expect("erase"), 0);
        assert_eq!(spool.erased_spans(), 0);
        assert!(spool.matching(&subject).expect("matching").is_empty());
        // The first did not go through: what comes back is the rewrite.
        spool.put_back(first).expect("put back");
        assert_eq!((spool.spans(), spool.erased_spans()), (1, 1));
        // The second went as it was: nothing of it stays.
        spool.sent(second).expect("sent");
        assert_eq!(spool.erased_spans(), 1);
        assert_eq!(
            spool_files(directory.path()),
            [format!("{:020}-1.{SUFFIX}", 0)]
        );
        assert_eq!(oldest(&mut spool), [span(2)]);
    }

    #[test]
    fn a_crash_between_an_erasures_rename_and_removal_keeps_the_erased_batch() {
        let directory = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(directory.path(), 1 << 20).expect("open");
        spool.push(&[span(1), span(2)]).expect("push");
        // What the rewrite renamed into place before the crash.
        let rewritten = spool.write_batch(0, &[span(2)]).expect("rewrite");
        drop(spool);
        let mut spool = Spool::open(directory.path(), 1 << 20).expect("reopen");
        assert_eq!(spool.spans(), 1);
        assert_eq!(
            spool_files(directory.path()),
            [format!("{:020}-1.{SUFFIX}", 0)]
        );
        assert!(rewritten.path.exists());
        assert_eq!(oldest(&mut spool), [span(2)]);
    }
}
