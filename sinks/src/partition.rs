//! Hive-style partitions: the directory an event's file lives in.
use std::path::PathBuf;

use scrim_event::{EventKind, UnixNanos, time::UtcDateTime};

use crate::SinkError;

/// `tenant=<t>/kind=<k>/date=<YYYY-MM-DD>/hour=<HH>`, from the event's own
/// time, so a late event lands in the hour it happened.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PartitionKey {
    tenant: String,
    kind: EventKind,
    date: String,
    hour: u32,
    /// Hours since the Unix epoch.
    hour_index: i64,
}

const NANOS_PER_HOUR: i64 = 3_600_000_000_000;

impl PartitionKey {
    pub(crate) fn new(tenant: &str, kind: EventKind, time: UnixNanos) -> Result<Self, SinkError> {
        validate_tenant(tenant)?;
        let civil = UtcDateTime::from_unix_nanos(time);
        Ok(PartitionKey {
            tenant: tenant.to_owned(),
            kind,
            date: civil.date(),
            hour: civil.hour,
            hour_index: Self::hour_of(time),
        })
    }

    /// The hour (since the Unix epoch) a time falls in: what tells two
    /// partitions of one tenant and kind apart.
    pub(crate) fn hour_of(time: UnixNanos) -> i64 {
        time.div_euclid(NANOS_PER_HOUR)
    }

    pub(crate) fn kind(&self) -> EventKind {
        self.kind
    }

    pub(crate) fn hour_index(&self) -> i64 {
        self.hour_index
    }

    /// The partition's directory, relative to the archive root.
    /// `tenant=<tenant>`, for a valid tenant name.
    pub(crate) fn tenant_directory(tenant: &str) -> Result<PathBuf, SinkError> {
        validate_tenant(tenant)?;
        Ok(PathBuf::from(format!("tenant={tenant}")))
    }

    pub(crate) fn directory(&self) -> PathBuf {
        PathBuf::from(format!("tenant={}", self.tenant))
            .join(format!("kind={}", self.kind.as_str()))
            .join(format!("date={}", self.date))
            .join(format!("hour={:02}", self.hour))
    }
}

/// Tenant names become directory names: no separators, no `..`, nothing a
/// Hive reader would mistake for a hidden file.
fn validate_tenant(tenant: &str) -> Result<(), SinkError> {
    let valid = !tenant.is_empty()
        && !tenant.starts_with('.')
        && tenant
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(SinkError::InvalidTenant {
            tenant: tenant.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lays_out_hive_directories_from_the_event_time() {
        // 2026-11-25T18:59:29Z
        let key = PartitionKey::new("acme", EventKind::Process, 1_795_633_169_000_000_000)
            .expect("valid tenant");
        assert_eq!(
            key.directory(),
            PathBuf::from("tenant=acme/kind=process/date=2026-11-25/hour=18")
        );
    }

    #[test]
    fn refuses_tenant_names_that_escape_the_archive() {
        for bad in ["", "..", "../etc", "a/b", ".hidden", "spaced name"] {
            assert!(
                PartitionKey::new(bad, EventKind::Process, 0).is_err(),
                "{bad:?} was accepted"
            );
        }
        assert!(PartitionKey::new("team-a.prod_1", EventKind::Process, 0).is_ok());
    }
}
