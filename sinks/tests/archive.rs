//! The archive, read back by the `parquet` crate and by DuckDB.
use std::{path::Path, time::Instant};

use scrim_event::{
    Event, ExitStatus, ProcessContext, ProcessEvent, ProcessEventKind, record::UnfilteredEvent,
};
use scrim_sinks::{Archive, ArchiveOptions, ArchiveStats, Format};
use scrim_testkit::archive::{
    duckdb_or_skip, duckdb_query, files_with_suffix, json_lines, parquet_rows,
};

/// 2026-11-25T18:59:29Z
const NOV_25_18H: i64 = 1_795_633_169_000_000_000;
const ONE_HOUR: i64 = 3_600_000_000_000;

fn process_event(kind: ProcessEventKind, pid: u32, time: i64) -> Event {
    Event::Process(ProcessEvent {
        kind,
        time,
        process: ProcessContext {
            pid,
            parent_pid: 1,
            real_user_id: 1000,
            real_group_id: 1000,
            cgroup_id: 4242,
            executable_name: Some("curl".into()),
            creation_time: time - 5,
        },
        executable_path: (kind == ProcessEventKind::Exec).then(|| "/usr/bin/curl".into()),
        executable_path_truncated: false,
        command_args: (kind == ProcessEventKind::Exec)
            .then(|| vec!["curl".into(), "-s".into(), "http://[::1]/\"quoted\"".into()]),
        command_args_truncated: false,
        exit: (kind == ProcessEventKind::Exit).then(|| ExitStatus::from_wait_status(2 << 8)),
    })
}

fn sample_events() -> Vec<Event> {
    vec![
        process_event(ProcessEventKind::Fork, 100, NOV_25_18H),
        process_event(ProcessEventKind::Exec, 100, NOV_25_18H + 1),
        process_event(ProcessEventKind::Exit, 100, NOV_25_18H + ONE_HOUR),
    ]
}

fn write_all(root: &Path, format: Format, tenant: &str) -> ArchiveStats {
    let mut archive = Archive::create(ArchiveOptions::new(root, format)).expect("create archive");
    for event in sample_events() {
        archive
            .write(tenant, &mut UnfilteredEvent(&event))
            .expect("write");
    }
    let (stats, outcome) = archive.close();
    outcome.expect("close");
    stats
}

#[test]
fn writes_hive_partitioned_zstd_parquet_published_by_rename() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut archive =
        Archive::create(ArchiveOptions::new(root.path(), Format::Parquet)).expect("create");
    for event in sample_events() {
        archive
            .write("acme", &mut UnfilteredEvent(&event))
            .expect("write");
    }
    // Nothing is visible until files complete: only hidden temporaries exist.
    assert!(
        files_with_suffix(root.path(), ".parquet")
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        files_with_suffix(root.path(), ".tmp").expect("list").len(),
        2
    );
    assert_eq!(archive.stats().rows_pending, 3);

    let (stats, outcome) = archive.close();
    outcome.expect("close");
    assert_eq!(
        stats,
        ArchiveStats {
            rows_committed: 3,
            rows_pending: 0,
            rows_failed: 0,
            files_committed: 2
        }
    );
    assert!(
        files_with_suffix(root.path(), ".tmp")
            .expect("list")
            .is_empty()
    );
    let files = files_with_suffix(root.path(), ".parquet").expect("list");
    let directories: Vec<String> = files
        .iter()
        .map(|file| {
            file.parent()
                .and_then(|dir| dir.strip_prefix(root.path()).ok())
                .map(|dir| dir.display().to_string())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        directories,
        [
            "tenant=acme/kind=process/date=2026-11-25/hour=18",
            "tenant=acme/kind=process/date=2026-11-25/hour=19"
        ]
    );
    let metadata = parquet::file::reader::SerializedFileReader::new(
        std::fs::File::open(&files[0]).expect("open"),
    )
    .expect("parquet footer");
    use parquet::file::reader::FileReader as _;
    let column = metadata.metadata().row_group(0).column(0);
    assert_eq!(column.compression().to_string(), "ZSTD(ZstdLevel(1))");

    let rows = parquet_rows(root.path()).expect("read back");
    assert_eq!(rows.len(), 3);
    let exec = &rows[1];
    assert_eq!(exec["event.name"], "process.exec");
    assert_eq!(exec["process.pid"], "100");
    assert_eq!(exec["process.executable.path"], "/usr/bin/curl");
    assert_eq!(exec["time"], "2026-11-25T18:59:29.000000001Z");
    assert_eq!(
        exec["process.command_args"],
        "[curl, -s, http://[::1]/\"quoted\"]"
    );
    assert_eq!(exec["process.exit.code"], "");
    let exit = &rows[2];
    assert_eq!(exit["event.name"], "process.exit");
    assert_eq!(exit["process.exit.code"], "2");
    assert_eq!(exit["process.executable.path"], "");
}

#[test]
fn rolls_files_after_the_roll_interval() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut options = ArchiveOptions::new(root.path(), Format::Parquet);
    options.roll_interval = std::time::Duration::ZERO;
    let mut archive = Archive::create(options).expect("create");
    archive
        .write("acme", &mut UnfilteredEvent(&sample_events()[0]))
        .expect("write");
    archive.roll_expired(Instant::now()).expect("roll");
    assert_eq!(
        files_with_suffix(root.path(), ".parquet")
            .expect("list")
            .len(),
        1
    );
    assert_eq!(archive.stats().rows_committed, 1);
}

#[test]
fn counts_rows_it_cannot_write() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut archive =
        Archive::create(ArchiveOptions::new(root.path(), Format::Parquet)).expect("create");
    let error = archive
        .write("../escape", &mut UnfilteredEvent(&sample_events()[0]))
        .expect_err("bad tenant refused");
    assert!(error.to_string().contains("../escape"), "{error}");
    assert_eq!(archive.stats().rows_failed, 1);
}

#[test]
fn writes_json_lines_with_catalogue_names() {
    let root = tempfile::tempdir().expect("tempdir");
    let stats = write_all(root.path(), Format::JsonLines, "default");
    assert_eq!(stats.rows_committed, 3);
    let lines = json_lines(root.path()).expect("one JSON object per line");
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["event.name"], "process.exec");
    assert_eq!(
        lines[1]["process.command_args"][2],
        "http://[::1]/\"quoted\""
    );
    assert_eq!(lines[1]["time"], "2026-11-25T18:59:29.000000001Z");
    assert_eq!(lines[2]["process.exit.code"], 2);
    assert!(
        lines[0].get("process.exit.code").is_none(),
        "absent fields are left out"
    );
}

#[test]
fn duckdb_reads_the_archive_with_hive_partitions() {
    let test = "duckdb_reads_the_archive_with_hive_partitions";
    if !duckdb_or_skip(test) {
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    write_all(root.path(), Format::Parquet, "acme");
    let rows = duckdb_query(&format!(
        "SELECT tenant, kind, date::VARCHAR, hour, \"event.name\", \"process.pid\", \
         \"process.exit.code\", \"process.command_args\" \
         FROM read_parquet('{}/**/*.parquet', hive_partitioning = true) ORDER BY time",
        root.path().display()
    ))
    .expect("DuckDB query");
    let as_text: Vec<String> = rows
        .iter()
        .map(|row| serde_json::to_string(row).unwrap_or_default())
        .collect();
    assert_eq!(
        as_text,
        [
            r#"["acme","process","2026-11-25",18,"process.fork",100,null,null]"#,
            r#"["acme","process","2026-11-25",18,"process.exec",100,null,["curl","-s","http://[::1]/\"quoted\""]]"#,
            r#"["acme","process","2026-11-25",19,"process.exit",100,2,null]"#,
        ]
    );
}

/// An event seen through a narrower schema: its first two columns.
struct FirstTwoColumns<'a> {
    event: &'a Event,
    schema: std::sync::Arc<scrim_event::record::RecordSchema>,
}

impl scrim_event::record::Record for FirstTwoColumns<'_> {
    fn schema(&self) -> &std::sync::Arc<scrim_event::record::RecordSchema> {
        &self.schema
    }

    fn partition_time(&self) -> i64 {
        self.event.time()
    }

    fn visit_columns(&mut self, column: &mut dyn FnMut(scrim_event::FieldValue<'_>)) {
        let mut left = 2;
        self.event.visit_fields(|_, value| {
            if left > 0 {
                left -= 1;
                column(value);
            }
        });
    }
}

#[test]
fn a_record_of_another_schema_completes_the_file_and_starts_a_new_one() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut archive =
        Archive::create(ArchiveOptions::new(root.path(), Format::Parquet)).expect("archive");
    let events = sample_events();
    archive
        .write("acme", &mut UnfilteredEvent(&events[0]))
        .expect("write");
    let mut narrow = scrim_event::record::RecordSchema::catalogue(scrim_event::EventKind::Process);
    narrow.columns.truncate(2);
    archive
        .write(
            "acme",
            &mut FirstTwoColumns {
                event: &events[1],
                schema: std::sync::Arc::new(narrow),
            },
        )
        .expect("write");
    assert_eq!(
        archive.stats().files_committed,
        1,
        "the first file is complete"
    );
    let (stats, outcome) = archive.close();
    outcome.expect("close");
    assert_eq!((stats.files_committed, stats.rows_committed), (2, 2));
    let rows = parquet_rows(root.path()).expect("read back");
    let widths: Vec<usize> = rows.iter().map(|row| row.len()).collect();
    assert!(widths.contains(&2), "{widths:?}");
}

#[test]
fn rolls_files_by_size_and_every_piece_reads() {
    for (format, suffix) in [(Format::Parquet, ".parquet"), (Format::JsonLines, ".jsonl")] {
        let root = tempfile::tempdir().expect("tempdir");
        let mut options = ArchiveOptions::new(root.path(), format);
        options.max_bytes_per_file = 64 << 10;
        let mut archive = Archive::create(options).expect("archive");
        for pid in 0..20_000 {
            let event = process_event(ProcessEventKind::Exec, pid, NOV_25_18H + i64::from(pid));
            archive
                .write("acme", &mut UnfilteredEvent(&event))
                .expect("write");
        }
        let (stats, closed) = archive.close();
        closed.expect("close");
        assert_eq!(stats.rows_committed, 20_000);
        let files = files_with_suffix(root.path(), suffix).expect("list");
        assert!(files.len() > 1, "{format:?}: one file of 20,000 rows");
        assert_eq!(stats.files_committed, files.len() as u64);
        let rows = match format {
            Format::Parquet => parquet_rows(root.path()).expect("every file reads").len(),
            Format::JsonLines => json_lines(root.path()).expect("every file reads").len(),
        };
        assert_eq!(rows, 20_000, "{format:?}");
        for file in files {
            let size = std::fs::metadata(&file).expect("size").len();
            assert!(size <= 2 * (64 << 10), "{}: {size} bytes", file.display());
        }
    }
}
