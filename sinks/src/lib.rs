//! Where scrim's events go.
//!
//! [`Archive`] writes a Hive-partitioned archive
//! (`tenant=<t>/kind=<k>/date=<YYYY-MM-DD>/hour=<HH>/`) of Parquet files (zstd)
//! or JSON lines. Each file is written under a hidden temporary name and
//! renamed when complete, so readers (DuckDB, Spark, Trino, pyarrow) only ever
//! see whole files. An archive in object storage ([`Bucket`]) is staged
//! locally the same way and uploaded file by file.
mod archive;
mod bucket;
mod error;
mod jsonl;
mod parquet;
mod partition;
mod recovery;
mod retention;
mod subject;

pub use archive::{Archive, ArchiveOptions, ArchiveStats, Format};
pub use bucket::{Bucket, Uploaded, is_bucket_url};
pub use error::SinkError;
pub use parquet::arrow_schema;
pub use recovery::remove_interrupted;
pub use retention::{Expired, ExpiredPartition, expired_partitions, remove_partition};
pub use subject::{
    ArchivePath, Erased, Skipped, Subject, SubjectValues, TenantFiles, erase_rows, export_rows,
    parquet_files,
};
