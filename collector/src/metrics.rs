//! The Prometheus endpoint: every counter of the summary line, by tenant
//! and reason, the sink queue's depth, how long the sink takes per batch,
//! and the active policy's hash. Loopback by default; plain HTTP/1.1 text
//! exposition, one response per connection, so a scrape never holds up the
//! capture loop for long.
use std::{collections::BTreeMap, fmt::Write as _, net::SocketAddr, time::Duration};

use scrim_probes::KernelCounter;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

use crate::{dispatch::DispatchReport, summary::Summary, tenancy::PlacementCounts};

/// Upper bounds (seconds) of the sink-latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 9] = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0];

/// How long a tenant's pipeline took per batch (plan applied, rows written).
#[derive(Clone, Debug, Default)]
pub struct LatencyHistogram {
    /// Cumulative counts per bucket of [`LATENCY_BUCKETS`].
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

impl LatencyHistogram {
    pub fn observe(&mut self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        for (bucket, bound) in self.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum_seconds += seconds;
    }

    /// Adds another histogram's observations (the tenants' into one).
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (bucket, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            *bucket += theirs;
        }
        self.count += other.count;
        self.sum_seconds += other.sum_seconds;
    }
}

/// Everything one scrape shows.
pub struct Scrape<'a> {
    pub summary: &'a Summary,
    /// The tenants' pipelines: counts, queue depths, batch latencies.
    pub pipelines: &'a DispatchReport,
    pub over_quota: &'a BTreeMap<String, u64>,
    pub policy_hash: &'a str,
    pub failed_placements: u64,
    pub cgroups: PlacementCounts,
    /// Pods of this node the Kubernetes API told of.
    pub pods_known: usize,
    pub pod_watch_failures: u64,
    /// Events each tenant's queue holds.
    pub queue_capacity: usize,
}

/// The metrics in Prometheus's text exposition format.
pub fn render(scrape: &Scrape<'_>) -> String {
    let mut out = String::with_capacity(4096);
    let summary = scrape.summary;
    let kernel = |counter| summary.kernel.get(counter);
    counter(
        &mut out,
        "scrim_events_received_total",
        "Records decoded from the kernel's ring buffer.",
        &[("", summary.received)],
    );
    counter(
        &mut out,
        "scrim_events_exported_total",
        "Events every sink of their tenant took.",
        &[("", summary.outputs.exported)],
    );
    counter(
        &mut out,
        "scrim_rows_written_total",
        "Rows the archives accepted.",
        &[("", summary.written())],
    );
    counter(
        &mut out,
        "scrim_archive_files_committed_total",
        "Archive files completed and published.",
        &[("", summary.outputs.archive.files_committed)],
    );
    counter(
        &mut out,
        "scrim_events_dropped_by_policy_total",
        "Events of a kind their tenant does not export.",
        &[("", summary.outputs.dropped_by_policy)],
    );
    let lost = [
        (
            "reason=\"ring_buffer_full\"",
            kernel(KernelCounter::RingBufferFull),
        ),
        ("reason=\"queue_full\"", summary.outputs.queue_full),
        ("reason=\"undecodable\"", summary.undecodable),
        ("reason=\"sink_error\"", summary.outputs.sink_errors),
    ];
    counter(
        &mut out,
        "scrim_events_lost_total",
        "Events lost, by reason.",
        &lost,
    );
    let filtered = [
        (
            "reason=\"opted_out\"",
            kernel(KernelCounter::OptedOutCgroup),
        ),
        (
            "reason=\"unknown_cgroup\"",
            kernel(KernelCounter::UnknownCgroup),
        ),
        ("reason=\"kind\"", kernel(KernelCounter::FilteredKind)),
        ("reason=\"syscall\"", kernel(KernelCounter::FilteredSyscall)),
        ("reason=\"rate_limit\"", kernel(KernelCounter::RateLimited)),
    ];
    counter(
        &mut out,
        "scrim_kernel_filtered_total",
        "Records the in-kernel filter dropped on purpose, by reason.",
        &filtered,
    );
    counter(
        &mut out,
        "scrim_strings_truncated_total",
        "Strings cut at their kernel capture limit.",
        &[("", kernel(KernelCounter::StringTruncated))],
    );
    counter(
        &mut out,
        "scrim_log_lines_unwritten_total",
        "Log lines stderr did not take (closed or broken); capture went on.",
        &[("", crate::logging::unwritten_lines())],
    );
    counter(
        &mut out,
        "scrim_policy_reloads_failed_total",
        "Policy reloads refused (the running policy stayed).",
        &[("", summary.failed_reloads)],
    );
    counter(
        &mut out,
        "scrim_cgroup_placements_failed_total",
        "New cgroups that could not be placed in their tenant (they get the unknown-cgroup action).",
        &[("", scrape.failed_placements)],
    );
    counter(
        &mut out,
        "scrim_kubernetes_watch_failures_total",
        "Failed requests of the watch of this node's pods (each retried with backoff).",
        &[("", scrape.pod_watch_failures)],
    );
    let cgroups = scrape.cgroups;
    gauge(
        &mut out,
        "scrim_cgroups",
        "Cgroups of the hierarchy by placement; awaiting_pod: pods' cgroups placed by path \
         until the API tells their pod's metadata.",
        &[
            ("placement=\"tenant\"", cgroups.tenant as f64),
            ("placement=\"opted_out\"", cgroups.opted_out as f64),
            ("placement=\"unclaimed\"", cgroups.unclaimed as f64),
            ("placement=\"awaiting_pod\"", cgroups.awaiting_pod as f64),
        ],
    );
    gauge(
        &mut out,
        "scrim_kubernetes_pods",
        "Pods of this node whose metadata the Kubernetes API told.",
        &[("", scrape.pods_known as f64)],
    );

    let mut by_tenant: Vec<(String, u64)> = Vec::new();
    for (tenant, counts) in &scrape.pipelines.tenants {
        let tenant = escape(tenant);
        for (outcome, value) in [
            ("received", counts.received),
            ("exported", counts.exported),
            ("dropped_by_policy", counts.dropped_by_policy),
            ("lost", counts.lost),
        ] {
            by_tenant.push((format!("tenant=\"{tenant}\",outcome=\"{outcome}\""), value));
        }
    }
    for (tenant, value) in scrape.over_quota {
        by_tenant.push((
            format!("tenant=\"{}\",outcome=\"over_quota\"", escape(tenant)),
            *value,
        ));
    }
    counter(
        &mut out,
        "scrim_tenant_events_total",
        "Each tenant's events by outcome; over_quota were dropped in the kernel.",
        &labelled(&by_tenant),
    );

    let mut spans: Vec<(String, u64)> = Vec::new();
    let mut spooled: Vec<(String, f64)> = Vec::new();
    let mut failed_requests: Vec<(String, u64)> = Vec::new();
    for (tenant, otlp) in &scrape.pipelines.otlp {
        let tenant = escape(tenant);
        spans.push((
            format!("tenant=\"{tenant}\",outcome=\"exported\""),
            otlp.exported,
        ));
        spans.push((
            format!("tenant=\"{tenant}\",outcome=\"dropped\""),
            otlp.dropped,
        ));
        spooled.push((format!("tenant=\"{tenant}\""), otlp.spooled as f64));
        failed_requests.push((format!("tenant=\"{tenant}\""), otlp.failed_requests));
    }
    counter(
        &mut out,
        "scrim_otlp_spans_total",
        "Spans each tenant's OTLP sinks sent, or dropped when their spool was full.",
        &labelled(&spans),
    );
    gauge(
        &mut out,
        "scrim_otlp_spool_spans",
        "Spans waiting in each tenant's OTLP spools for their backend.",
        &labelled(&spooled),
    );
    counter(
        &mut out,
        "scrim_otlp_failed_requests_total",
        "OTLP export requests that failed (their spans were spooled).",
        &labelled(&failed_requests),
    );
    let mut uploaded_files: Vec<(String, u64)> = Vec::new();
    let mut uploaded_bytes: Vec<(String, u64)> = Vec::new();
    let mut failed_uploads: Vec<(String, u64)> = Vec::new();
    for (tenant, uploads) in &scrape.pipelines.uploads {
        let label = format!("tenant=\"{}\"", escape(tenant));
        uploaded_files.push((label.clone(), uploads.files));
        uploaded_bytes.push((label.clone(), uploads.bytes));
        failed_uploads.push((label, uploads.failed_attempts));
    }
    counter(
        &mut out,
        "scrim_archive_uploaded_files_total",
        "Archive files each tenant uploaded to object storage.",
        &labelled(&uploaded_files),
    );
    counter(
        &mut out,
        "scrim_archive_uploaded_bytes_total",
        "Bytes of archive files each tenant uploaded to object storage.",
        &labelled(&uploaded_bytes),
    );
    counter(
        &mut out,
        "scrim_archive_upload_failures_total",
        "Upload passes that failed (their files wait in staging and are retried).",
        &labelled(&failed_uploads),
    );
    let depths: Vec<(String, f64)> = scrape
        .pipelines
        .queued
        .iter()
        .map(|(tenant, depth)| (format!("tenant=\"{}\"", escape(tenant)), *depth as f64))
        .collect();
    gauge(
        &mut out,
        "scrim_tenant_queue_bytes",
        "What the events waiting in each tenant's queue took in the kernel's ring buffer.",
        &labelled(&depths),
    );
    gauge(
        &mut out,
        "scrim_tenant_queue_capacity_bytes",
        "Ring-buffer bytes each tenant's queue holds; beyond, events are lost as queue_full.",
        &[("", scrape.queue_capacity as f64)],
    );
    let _ = writeln!(
        out,
        "# HELP scrim_policy_info The active policy: its BLAKE3 hash."
    );
    let _ = writeln!(out, "# TYPE scrim_policy_info gauge");
    let _ = writeln!(
        out,
        "scrim_policy_info{{hash=\"{}\"}} 1",
        escape(scrape.policy_hash)
    );

    let histogram = &scrape.pipelines.latency;
    let name = "scrim_sink_batch_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time a tenant's pipeline took per batch: plan applied, rows written."
    );
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (bound, count) in LATENCY_BUCKETS.iter().zip(histogram.buckets) {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", histogram.count);
    let _ = writeln!(out, "{name}_sum {}", histogram.sum_seconds);
    let _ = writeln!(out, "{name}_count {}", histogram.count);
    out
}

fn counter(out: &mut String, name: &str, help: &str, values: &[(&str, u64)]) {
    series(out, name, "counter", help, values);
}

fn gauge(out: &mut String, name: &str, help: &str, values: &[(&str, f64)]) {
    series(out, name, "gauge", help, values);
}

/// One metric family: its help, its type, a line per label set.
fn series(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    values: &[(&str, impl std::fmt::Display)],
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in values {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// Label sets and values, borrowed as the writers take them.
fn labelled<T: Copy>(values: &[(String, T)]) -> Vec<(&str, T)> {
    values
        .iter()
        .map(|(labels, value)| (labels.as_str(), *value))
        .collect()
}

/// A label value as the exposition format quotes it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The listening socket.
pub struct MetricsServer {
    listener: TcpListener,
}

impl MetricsServer {
    pub async fn bind(address: SocketAddr) -> std::io::Result<Self> {
        Ok(MetricsServer {
            listener: TcpListener::bind(address).await?,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn accept(&self) -> std::io::Result<TcpStream> {
        self.listener.accept().await.map(|(stream, _)| stream)
    }
}

/// Answers one request on `stream`: the metrics for `GET /metrics`, 404
/// for anything else. Runs as its own task, so a slow client waits alone.
pub async fn respond(mut stream: TcpStream, metrics: String) {
    let mut request = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut request)).await;
    let Ok(Ok(length)) = read else {
        return;
    };
    let request_line = String::from_utf8_lossy(&request[..length]);
    let wanted = request_line.starts_with("GET /metrics ") || request_line.starts_with("GET / ");
    let (status, body) = if wanted {
        ("200 OK", metrics)
    } else {
        ("404 Not Found", "scrim serves GET /metrics\n".to_owned())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::TenantCounts;

    #[test]
    fn renders_counters_by_reason_and_tenant_and_the_policy_hash() {
        let summary = Summary {
            received: 7,
            ..Summary::default()
        };
        let mut pipelines = DispatchReport {
            tenants: BTreeMap::from([(
                "a\"b".to_owned(),
                TenantCounts {
                    received: 7,
                    exported: 6,
                    dropped_by_policy: 1,
                    lost: 0,
                    pending: 0,
                },
            )]),
            queued: BTreeMap::from([("a\"b".to_owned(), 2)]),
            ..DispatchReport::default()
        };
        pipelines.latency.observe(Duration::from_micros(300));
        let text = render(&Scrape {
            summary: &summary,
            pipelines: &pipelines,
            over_quota: &BTreeMap::from([("a\"b".to_owned(), 3)]),
            policy_hash: "abc",
            failed_placements: 0,
            cgroups: PlacementCounts::default(),
            pods_known: 0,
            pod_watch_failures: 0,
            queue_capacity: 64,
        });
        for line in [
            "scrim_events_received_total 7",
            r#"scrim_events_lost_total{reason="ring_buffer_full"} 0"#,
            r#"scrim_tenant_events_total{tenant="a\"b",outcome="exported"} 6"#,
            r#"scrim_tenant_events_total{tenant="a\"b",outcome="over_quota"} 3"#,
            r#"scrim_tenant_queue_bytes{tenant="a\"b"} 2"#,
            "scrim_tenant_queue_capacity_bytes 64",
            r#"scrim_policy_info{hash="abc"} 1"#,
            r#"scrim_sink_batch_seconds_bucket{le="0.0001"} 0"#,
            r#"scrim_sink_batch_seconds_bucket{le="0.0005"} 1"#,
            "scrim_sink_batch_seconds_count 1",
        ] {
            assert!(
                text.lines().any(|candidate| candidate == line),
                "{line}\n{text}"
            );
        }
    }

    #[test]
    fn the_dashboard_and_the_alerts_only_query_metrics_scrim_serves() {
        let served = render(&Scrape {
            summary: &Summary::default(),
            pipelines: &DispatchReport::default(),
            over_quota: &BTreeMap::new(),
            policy_hash: "",
            failed_placements: 0,
            cgroups: PlacementCounts::default(),
            pods_known: 0,
            pod_watch_failures: 0,
            queue_capacity: 0,
        });
        for (file, text) in [
            (
                "grafana/scrim.json",
                include_str!("../../deploy/grafana/scrim.json"),
            ),
            (
                "prometheus/alerts.yaml",
                include_str!("../../deploy/prometheus/alerts.yaml"),
            ),
        ] {
            let mut queried = 0;
            for (start, _) in text.match_indices("scrim_") {
                let name: String = text[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if name == "scrim_" {
                    continue; // the dashboard's tags and uid
                }
                queried += 1;
                assert!(
                    served.contains(&format!("# TYPE {name} "))
                        || served.contains(&format!("\n{name}{{")),
                    "{file} queries {name}, which scrim does not serve"
                );
            }
            assert!(queried >= 9, "{file}: {queried} queries");
        }
    }
}
