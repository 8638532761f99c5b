//! Batches a backend did not take wait here, on disk, oldest first, until
//! it takes them; they survive a restart. The spool is bounded in bytes:
//! past the bound the oldest batches are dropped, and counted.
use std::{
    collections::VecDeque,
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
            let Some((number, spans)): Option<(u64, u64)> = name
                .strip_suffix(&format!(".{SUFFIX}"))
                .and_then(|stem| stem.split_once('-'))
                .and_then(|(number, spans)| Some((number.parse().ok()?, spans.parse().ok()?)))
            else {
                continue;
            };
            let bytes = fs::metadata(&path).map_err(failed)?.len();
            found.push((number, Batch { path, bytes, spans }));
        }
        found.sort_by_key(|(number, _)| *number);
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

    /// Appends a batch, then drops the oldest batches while the spool is
    /// over its bound.
    pub fn push(&mut self, spans: &[Span]) -> Result<(), OtlpError> {
        if spans.is_empty() {
            return Ok(());
        }
        let number = self.next_number;
        self.next_number += 1;
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
        // A new file only, never through a name someone planted.
        let mut file = scrim_files::create_new(&temporary, scrim_files::FILE_MODE)
            .map_err(OtlpError::SpoolFile)?;
        file.write_all(&text).map_err(failed)?;
        file.sync_data().map_err(failed)?;
        fs::rename(&temporary, &path).map_err(failed)?;
        self.bytes += text.len() as u64;
        self.batches.push_back(Batch {
            path,
            bytes: text.len() as u64,
            spans: spans.len() as u64,
        });
        self.drop_past_bound()
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
            Ok(spans) => Ok(Some((Lease(batch), spans))),
            Err(unreadable) => {
                self.dropped_spans += batch.spans;
                remove(&batch.path)?;
                Err(unreadable)
            }
        }
    }

    /// A taken batch went through: its file goes.
    pub fn sent(&mut self, lease: Lease) -> Result<(), OtlpError> {
        remove(&lease.0.path)
    }

    /// A taken batch did not go through: it is the oldest again.
    pub fn put_back(&mut self, lease: Lease) -> Result<(), OtlpError> {
        self.bytes += lease.0.bytes;
        self.batches.push_front(lease.0);
        self.drop_past_bound()
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
}
