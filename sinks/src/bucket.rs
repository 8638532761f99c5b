//! An archive in S3-compatible object storage (`s3://bucket/prefix`).
//!
//! Files are written and completed locally, in a staging directory laid
//! out as the archive is, then uploaded to the same keys under the prefix
//! and removed locally. An object becomes visible only once its upload
//! completes (one PUT, or a multipart upload's final request), so readers
//! never see a partial file; a file whose upload fails stays staged and is
//! uploaded on the next pass, or the next start, so an unreachable bucket
//! costs nothing but local disk.
//!
//! Credentials, region and endpoint come from the standard `AWS_*`
//! variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL` for MinIO, Ceph or moto, `AWS_ALLOW_HTTP`), as every
//! S3 client reads them.
use std::{
    collections::BTreeMap,
    fs,
    io::Read as _,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use futures_util::StreamExt as _;
use object_store::{
    ClientConfigKey, ObjectStore, ObjectStoreExt as _, PutPayload, RetryConfig, WriteMultipart,
    aws::{AmazonS3Builder, AmazonS3ConfigKey},
    path::Path as ObjectPath,
};
use scrim_event::{EventKind, UnixNanos};

use crate::{
    ExpiredPartition, SinkError,
    retention::{expired, hour_start, kind_prefix},
    subject::{json_lines_refused, published_files},
};

/// Files at least this large go up in parts of this size, read from disk
/// as they go rather than held whole in memory.
const PART_BYTES: usize = 8 << 20;

/// One S3-compatible bucket and prefix, with the runtime its client needs:
/// scrim's callers are plain threads, so each call blocks until done.
pub struct Bucket {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    runtime: tokio::runtime::Runtime,
}

/// What one upload pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Uploaded {
    pub files: u64,
    pub bytes: u64,
}

/// Whether a sink path names object storage rather than a directory.
pub fn is_bucket_url(path: &str) -> bool {
    path.starts_with("s3://")
}

impl Bucket {
    /// Connects to `url` (`s3://bucket/prefix`) with the `AWS_*`
    /// environment. Requests are retried briefly: a bucket that stays
    /// down fails the pass, and the next pass tries again.
    pub fn open(url: &str) -> Result<Self, SinkError> {
        let failed = |problem: String| SinkError::Bucket {
            url: url.to_owned(),
            problem,
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| failed("only s3:// URLs name object storage".into()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(failed("the URL names no bucket".into()));
        }
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(RetryConfig {
                max_retries: 2,
                retry_timeout: Duration::from_secs(10),
                ..RetryConfig::default()
            })
            // Set key by key: client options as a whole would replace what
            // the environment set (`AWS_ALLOW_HTTP` among them).
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                "5 seconds",
            )
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                "60 seconds",
            )
            .build()
            .map_err(|error| failed(error.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| failed(format!("cannot start its I/O runtime: {error}")))?;
        Ok(Bucket {
            url: url.trim_end_matches('/').to_owned(),
            store: Arc::new(store),
            prefix: ObjectPath::from(prefix),
            runtime,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Uploads every completed file under `staging/tenant=<tenant>` to the
    /// same key under the prefix, removing each once it is up. Stops at
    /// the first failure (the rest wait for the next pass) and says how
    /// much went up before it.
    pub fn upload_staged(&self, staging: &Path, tenant: &str) -> (Uploaded, Result<(), SinkError>) {
        let mut uploaded = Uploaded::default();
        let files = match staged_files(staging, tenant) {
            Ok(files) => files,
            Err(error) => return (uploaded, Err(error)),
        };
        for (path, key) in files {
            match self.upload_file(&path, &key) {
                Ok(bytes) => {
                    if let Err(source) = fs::remove_file(&path) {
                        return (uploaded, Err(SinkError::Io { path, source }));
                    }
                    uploaded.files += 1;
                    uploaded.bytes += bytes;
                }
                Err(error) => return (uploaded, Err(error)),
            }
        }
        (uploaded, Ok(()))
    }

    /// Puts the file at `path` as the object `key` (relative to the
    /// prefix), replacing any object there; returns its size.
    pub fn upload_file(&self, path: &Path, key: &str) -> Result<u64, SinkError> {
        let location = self.location(key);
        let io = |source| SinkError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = fs::File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        let failed = |error| self.failed(key, error);
        if size < PART_BYTES as u64 {
            let mut contents = Vec::with_capacity(size as usize);
            file.read_to_end(&mut contents).map_err(io)?;
            self.runtime
                .block_on(self.store.put(&location, PutPayload::from(contents)))
                .map_err(failed)?;
            return Ok(size);
        }
        self.runtime.block_on(async {
            let upload = self.store.put_multipart(&location).await.map_err(failed)?;
            let mut parts = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
            let mut chunk = vec![0; PART_BYTES];
            loop {
                let read = match file.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(read) => read,
                    Err(error) => {
                        let _ = parts.abort().await;
                        return Err(io(error));
                    }
                };
                parts.wait_for_capacity(2).await.map_err(failed)?;
                parts.write(&chunk[..read]);
            }
            parts.finish().await.map_err(failed).map(drop)
        })?;
        Ok(size)
    }

    /// Downloads the object `key` to `path`.
    pub fn download(&self, key: &str, path: &Path) -> Result<(), SinkError> {
        let bytes = self
            .runtime
            .block_on(async { self.store.get(&self.location(key)).await?.bytes().await })
            .map_err(|error| self.failed(key, error))?;
        fs::write(path, &bytes).map_err(|source| SinkError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Removes the object `key`; one already gone is no error.
    pub fn delete(&self, key: &str) -> Result<(), SinkError> {
        match self
            .runtime
            .block_on(self.store.delete(&self.location(key)))
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(self.failed(key, error)),
        }
    }

    /// The keys (relative to the prefix) and sizes of every object under
    /// `relative`, in key order.
    pub fn list(&self, relative: &str) -> Result<Vec<(String, u64)>, SinkError> {
        let under = self.location(relative);
        let found = self.runtime.block_on(async {
            let mut listing = self.store.list(Some(&under));
            let mut found = Vec::new();
            while let Some(object) = listing.next().await {
                let object = object?;
                let key = object
                    .location
                    .prefix_match(&self.prefix)
                    .map(|parts| {
                        parts
                            .map(|part| part.as_ref().to_owned())
                            .collect::<Vec<_>>()
                            .join("/")
                    })
                    .unwrap_or_else(|| object.location.to_string());
                found.push((key, object.size));
            }
            Ok::<_, object_store::Error>(found)
        });
        let mut found = found.map_err(|error| self.failed(relative, error))?;
        found.sort();
        Ok(found)
    }

    /// The Parquet objects of `tenant`, as keys and sizes; JSON lines are
    /// refused as [`crate::parquet_files`] refuses them.
    pub fn parquet_objects(&self, tenant: &str) -> Result<Vec<(String, u64)>, SinkError> {
        let mut keys = Vec::new();
        for (key, size) in self.list(&format!("tenant={tenant}"))? {
            if key.ends_with(".jsonl") {
                return Err(json_lines_refused(PathBuf::from(format!(
                    "{}/{key}",
                    self.url
                ))));
            }
            if key.ends_with(".parquet") {
                keys.push((key, size));
            }
        }
        Ok(keys)
    }

    /// The partitions of `tenant`'s `kind` whose hour ended at or before
    /// `cutoff`, oldest first; their files are keys.
    pub fn expired_partitions(
        &self,
        tenant: &str,
        kind: EventKind,
        cutoff: UnixNanos,
    ) -> Result<Vec<ExpiredPartition>, SinkError> {
        let prefix = kind_prefix(tenant, kind);
        let mut partitions: BTreeMap<(UnixNanos, String), ExpiredPartition> = BTreeMap::new();
        for (key, size) in self.list(&prefix)? {
            let Some(rest) = key.strip_prefix(&prefix) else {
                continue;
            };
            let mut parts = rest.trim_start_matches('/').splitn(3, '/');
            let (Some(date), Some(hour), Some(_name)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Some(start) = hour_start(date, hour) else {
                continue;
            };
            if !expired(start, cutoff) {
                continue;
            }
            let location = format!("{}/{prefix}/{date}/{hour}", self.url);
            let partition = partitions
                .entry((start, location.clone()))
                .or_insert_with(|| ExpiredPartition {
                    location,
                    hour_start: start,
                    files: Vec::new(),
                    bytes: 0,
                });
            partition.files.push(key);
            partition.bytes += size;
        }
        Ok(partitions.into_values().collect())
    }

    /// Removes an expired partition's objects.
    pub fn remove_partition(&self, partition: &ExpiredPartition) -> Result<(), SinkError> {
        partition.files.iter().try_for_each(|key| self.delete(key))
    }

    fn location(&self, key: &str) -> ObjectPath {
        key.split('/')
            .filter(|part| !part.is_empty())
            .fold(self.prefix.clone(), |path, part| path.join(part))
    }

    fn failed(&self, key: &str, error: object_store::Error) -> SinkError {
        SinkError::Bucket {
            url: format!("{}/{key}", self.url),
            problem: error.to_string(),
        }
    }
}

/// Completed files of `tenant` in `staging`, with their keys (paths
/// relative to `staging`), in key order.
fn staged_files(staging: &Path, tenant: &str) -> Result<Vec<(PathBuf, String)>, SinkError> {
    let files = published_files(&staging.join(format!("tenant={tenant}")))?;
    Ok(files
        .into_iter()
        .filter_map(|path| {
            let key = path
                .strip_prefix(staging)
                .ok()?
                .to_string_lossy()
                .into_owned();
            Some((path, key))
        })
        .collect())
}
