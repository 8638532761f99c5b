//! `scrim bench erase`: an archive written by the pipeline benchmark (one
//! tenant, uids pseudonymised), then one subject (one uid in fifty, so in
//! every file) erased from it: the rate at which erasure reads and
//! rewrites the archive.
use std::time::Instant;

use scrim_sinks::{erase_rows, parquet_files};

use crate::{archive::subject, pipeline_bench::write_synthetic};

pub fn run(events: u64) -> anyhow::Result<()> {
    println!("scrim bench erase: {events} synthetic events of one tenant, then uid 1000 erased");
    let written = write_synthetic(events, 1)?;
    let field = scrim_event::field::named("process.real_user.id")
        .ok_or_else(|| anyhow::anyhow!("no uid field in the catalogue"))?;
    let keys: Vec<_> = written
        .policy
        .keys()
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    let subject = subject(&[&written.policy], &keys, "tenant-0", field, "1000")?
        .ok_or_else(|| anyhow::anyhow!("the benchmark policy does not let uids out"))?;
    let files = parquet_files(&written.root(), "tenant-0")?.files;
    let started = Instant::now();
    let (mut bytes, mut decoded, mut removed, mut kept, mut rewritten) = (0, 0, 0, 0, 0);
    for file in &files {
        let erased = erase_rows(file, &subject)?;
        bytes += erased.bytes;
        decoded += erased.decoded_bytes;
        kept += erased.rows_kept;
        removed += erased.rows_removed;
        rewritten += usize::from(erased.rewritten);
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "  erase  {seconds:>7.2} s  {:>6.2} M rows/s, {:>6.1} MB/s of decoded rows \
         ({:.1} MB), {:.1} MB/s of files ({:.1} MB zstd); {removed} rows removed, {rewritten} \
         of {} files rewritten",
        (removed + kept) as f64 / seconds / 1e6,
        decoded as f64 / seconds / 1e6,
        decoded as f64 / 1e6,
        bytes as f64 / seconds / 1e6,
        bytes as f64 / 1e6,
        files.len(),
    );
    written.remove()
}
