//! `Bucket` against moto's S3 server on loopback: staged files go up (a
//! large one in parts) and leave staging, expired partitions are found
//! by their keys, and boto3, an independent client, sees the same bytes.
use std::fs;

use scrim_event::EventKind;
use scrim_sinks::Bucket;
use scrim_testkit::{archive::python_module_or_skip, s3_server::S3Server};

/// 2026-11-27T00:00Z.
const NOV_27: i64 = 1_795_737_600_000_000_000;
const HOUR: i64 = 3_600_000_000_000;

#[test]
fn uploads_staged_files_whole_and_finds_expired_partitions_by_key() {
    let test = "uploads_staged_files_whole_and_finds_expired_partitions_by_key";
    if !python_module_or_skip(test, "moto.server") {
        return;
    }
    let server = S3Server::start().expect("moto's S3 server");
    server.create_bucket("lake").expect("bucket");
    let staging = tempfile::tempdir().expect("staging");
    let process = staging.path().join("tenant=acme/kind=process");
    let small = process.join("date=2026-11-27/hour=05/part-1.parquet");
    // Larger than a part: uploaded in several, read from disk as it goes.
    let large = process.join("date=2026-11-27/hour=06/part-2.parquet");
    let being_written = process.join("date=2026-11-27/hour=06/.part-3.parquet.tmp");
    for (file, size) in [(&small, 1000), (&large, 20 << 20), (&being_written, 10)] {
        fs::create_dir_all(file.parent().expect("partition")).expect("partition");
        let bytes: Vec<u8> = (0..size).map(|index| (index % 251) as u8).collect();
        fs::write(file, bytes).expect("file");
    }
    // SAFETY: set before any thread of this test reads the environment.
    for (name, value) in server.environment() {
        unsafe { std::env::set_var(name, value) };
    }
    let bucket = Bucket::open("s3://lake/archive").expect("bucket");

    let (uploaded, outcome) = bucket.upload_staged(staging.path(), "acme");
    outcome.expect("upload");
    assert_eq!(uploaded.files, 2);
    assert_eq!(uploaded.bytes, 1000 + (20 << 20));
    assert!(
        !small.exists() && !large.exists(),
        "uploaded files leave staging"
    );
    assert!(being_written.exists(), "a file being written stays");
    assert_eq!(
        server.list("lake").expect("list"),
        [
            (
                "archive/tenant=acme/kind=process/date=2026-11-27/hour=05/part-1.parquet"
                    .to_owned(),
                1000
            ),
            (
                "archive/tenant=acme/kind=process/date=2026-11-27/hour=06/part-2.parquet"
                    .to_owned(),
                20 << 20
            ),
        ]
    );
    let fetched = tempfile::tempdir().expect("tempdir");
    server
        .download_all("lake", fetched.path())
        .expect("download");
    let large_copy = fs::read(
        fetched
            .path()
            .join("archive/tenant=acme/kind=process/date=2026-11-27/hour=06/part-2.parquet"),
    )
    .expect("the large object");
    assert!(
        large_copy
            .iter()
            .enumerate()
            .all(|(index, byte)| *byte == (index % 251) as u8),
        "the parts are put together in order"
    );

    // At 06:30 only hour 05 has ended.
    let expired = bucket
        .expired_partitions("acme", EventKind::Process, NOV_27 + 6 * HOUR + HOUR / 2)
        .expect("scan");
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(
        expired[0].location,
        "s3://lake/archive/tenant=acme/kind=process/date=2026-11-27/hour=05"
    );
    assert_eq!(expired[0].hour_start, NOV_27 + 5 * HOUR);
    assert_eq!(expired[0].bytes, 1000);
    bucket.remove_partition(&expired[0]).expect("remove");
    assert_eq!(server.list("lake").expect("list").len(), 1);
    assert!(
        bucket
            .expired_partitions("other", EventKind::Process, i64::MAX / 2)
            .expect("a tenant with nothing")
            .is_empty()
    );
}
