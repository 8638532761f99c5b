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
        fs::create_dir_all(directory).map_err(failed)?;
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
        let mut file = fs::File::create(&temporary).map_err(failed)?;
        file.write_all(&text).map_err(failed)?;
        file.sync_data().map_err(failed)?;
        fs::rename(&temporary, &path).map_err(failed)?;
        self.bytes += text.len() as u64;
        self.batches.push_back(Batch {
            path,
            bytes: text.len() as u64,
            spans: spans.len() as u64,
        });
        while self.bytes > self.max_bytes {
            self.drop_oldest()?;
        }
        Ok(())
    }

    /// The oldest batch, read back.
    pub fn oldest(&self) -> Option<Result<Vec<Span>, OtlpError>> {
        let batch = self.batches.front()?;
        let failed = |source| OtlpError::Spool {
            path: batch.path.clone(),
            source,
        };
        let read = || -> Result<Vec<Span>, OtlpError> {
            let file = fs::File::open(&batch.path).map_err(failed)?;
            BufReader::new(file)
                .lines()
                .map(|line| {
                    let line = line.map_err(failed)?;
                    serde_json::from_str(&line)
                        .map_err(|error| failed(std::io::Error::other(error)))
                })
                .collect()
        };
        Some(read())
    }

    /// Removes the oldest batch: it was sent.
    pub fn remove_oldest(&mut self) -> Result<(), OtlpError> {
        if let Some(batch) = self.batches.pop_front() {
            self.bytes -= batch.bytes;
            fs::remove_file(&batch.path).map_err(|source| OtlpError::Spool {
                path: batch.path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// Drops the oldest batch unsent, counted (it was full, or unreadable).
    pub fn drop_oldest(&mut self) -> Result<(), OtlpError> {
        let spans = self.batches.front().map_or(0, |batch| batch.spans);
        self.remove_oldest()?;
        self.dropped_spans += spans;
        Ok(())
    }
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
        assert_eq!(
            spool.oldest().expect("a batch").expect("read"),
            [span(1), span(2)]
        );
        spool.remove_oldest().expect("remove");
        spool.push(&[span(4)]).expect("push after reopening");
        assert_eq!(spool.oldest().expect("a batch").expect("read"), [span(3)]);
        spool.remove_oldest().expect("remove");
        assert_eq!(spool.oldest().expect("a batch").expect("read"), [span(4)]);
        assert!(!directory.path().join("00000000000000000009-1.tmp").exists());
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
        assert_eq!(spool.oldest().expect("a batch").expect("read"), [span(4)]);
    }
}
