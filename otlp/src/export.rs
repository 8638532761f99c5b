//! Sending spans with opentelemetry-otlp, over gRPC (tonic) or
//! HTTP/protobuf (hyper, with rustls for `https`). The standard
//! `OTEL_EXPORTER_OTLP_*` variables apply where the policy is silent:
//! headers (merged with the policy's), timeout, compression and TLS
//! settings.
//!
//! Each request carries one resource: the spans of one workload (a
//! container, a pod, a cgroup) with its semantic-convention attributes, so
//! spans are grouped by resource and sent one group per request.
use std::{
    borrow::Cow,
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use opentelemetry::{
    InstrumentationScope, KeyValue, Value,
    trace::{
        Event as OtelEvent, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
    },
};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _};
use opentelemetry_sdk::{
    Resource,
    trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks},
};

use scrim_event::time::UtcDateTime;

use crate::{
    OtlpError,
    span::{Attribute, AttributeValue, Span, SpanRole},
};

/// How spans travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

impl Protocol {
    /// `grpc` or `http/protobuf`, as `OTEL_EXPORTER_OTLP_PROTOCOL` spells them.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "grpc" => Some(Protocol::Grpc),
            "http/protobuf" => Some(Protocol::HttpProtobuf),
            _ => None,
        }
    }

    /// The protocol the standard variables ask for, else gRPC.
    pub fn from_environment() -> Self {
        [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ]
        .into_iter()
        .find_map(|name| Protocol::parse(std::env::var(name).ok()?.trim()))
        .unwrap_or(Protocol::Grpc)
    }
}

/// Where one tenant's spans go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtlpTarget {
    pub endpoint: String,
    pub protocol: Protocol,
    /// Sent with every request, for example `X-Scope-OrgID` for Tempo.
    pub headers: BTreeMap<String, String>,
    /// How long a request may take before it counts as failed.
    pub timeout: Duration,
}

impl OtlpTarget {
    /// The request deadline the standard variables ask for
    /// (`OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT`, milliseconds), else ten
    /// seconds, as the specification says.
    pub fn timeout_from_environment() -> Duration {
        [
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ]
        .into_iter()
        .find_map(|name| std::env::var(name).ok()?.trim().parse().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis)
    }
}

/// Resource attributes of a span's workload, by cgroup id.
pub trait Resources {
    fn of(&self, cgroup_id: u64) -> Vec<KeyValue>;
}

pub struct Exporter {
    exporter: opentelemetry_otlp::SpanExporter,
    scope: InstrumentationScope,
    /// The exporter is async; its calls run on this runtime, on the
    /// calling (the sink's shipper) thread.
    runtime: tokio::runtime::Runtime,
}

impl Exporter {
    pub fn new(target: &OtlpTarget) -> Result<Self, OtlpError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| OtlpError::Runtime(error.to_string()))?;
        // tonic makes its channel on the current runtime.
        let _entered = runtime.enter();
        let exporter = match target.protocol {
            Protocol::Grpc => {
                let mut metadata = tonic::metadata::MetadataMap::new();
                for (name, value) in &target.headers {
                    let key = tonic::metadata::MetadataKey::from_bytes(name.as_bytes())
                        .map_err(|_| OtlpError::Header(name.clone()))?;
                    let value = value.parse().map_err(|_| OtlpError::Header(name.clone()))?;
                    metadata.insert(key, value);
                }
                opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(&target.endpoint)
                    .with_timeout(target.timeout)
                    .with_metadata(metadata)
                    .build()
            }
            Protocol::HttpProtobuf => {
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_webpki_roots()
                    .https_or_http()
                    .enable_http1()
                    .build();
                let client =
                    opentelemetry_http::hyper::HyperClient::new(connector, target.timeout, None);
                opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_endpoint(http_traces_endpoint(&target.endpoint))
                    .with_timeout(target.timeout)
                    .with_headers(target.headers.clone().into_iter().collect())
                    .with_http_client(client)
                    .build()
            }
        }
        .map_err(|error| OtlpError::Build(error.to_string()))?;
        drop(_entered);
        Ok(Exporter {
            exporter,
            scope: InstrumentationScope::builder("scrim")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
            runtime,
        })
    }

    /// Sends `spans`, one request per resource. Stops at the first failure:
    /// the caller keeps the batch (spools it) and sends it again later;
    /// the groups sent before the failure then arrive twice.
    pub fn export(&mut self, spans: &[Span], resources: &dyn Resources) -> Result<(), OtlpError> {
        let mut groups: BTreeMap<u64, Vec<SpanData>> = BTreeMap::new();
        for span in spans {
            groups
                .entry(span.cgroup_id)
                .or_default()
                .push(span_data(span, &self.scope));
        }
        for (cgroup_id, batch) in groups {
            let resource = Resource::builder_empty()
                .with_attributes(resources.of(cgroup_id))
                .build();
            self.exporter.set_resource(&resource);
            self.runtime
                .block_on(self.exporter.export(batch))
                .map_err(|error| OtlpError::Export(error.to_string()))?;
        }
        Ok(())
    }
}

/// An HTTP endpoint given as a base URL gets the traces path, as the
/// specification does for `OTEL_EXPORTER_OTLP_ENDPOINT`.
fn http_traces_endpoint(endpoint: &str) -> String {
    let after_scheme = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest);
    match after_scheme.split_once('/') {
        Some((_, path)) if !path.is_empty() => endpoint.to_owned(),
        _ => format!("{}/v1/traces", endpoint.trim_end_matches('/')),
    }
}

fn span_data(span: &Span, scope: &InstrumentationScope) -> SpanData {
    let mut events = SpanEvents::default();
    events.events = span
        .events
        .iter()
        .map(|event| {
            OtelEvent::new(
                event.name.clone(),
                system_time(event.time),
                key_values(&event.attributes),
                0,
            )
        })
        .collect();
    SpanData {
        span_context: SpanContext::new(
            TraceId::from_bytes(span.trace_id),
            SpanId::from_bytes(span.span_id),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: span
            .parent_span_id
            .map_or(SpanId::INVALID, SpanId::from_bytes),
        parent_span_is_remote: false,
        span_kind: match span.role {
            SpanRole::Process => SpanKind::Internal,
            SpanRole::OutboundConnection => SpanKind::Client,
            SpanRole::InboundConnection => SpanKind::Server,
        },
        name: Cow::Owned(span.name.clone()),
        start_time: system_time(span.start),
        end_time: system_time(span.end),
        attributes: key_values(&span.attributes),
        dropped_attributes_count: 0,
        events,
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: scope.clone(),
    }
}

fn key_values(attributes: &[Attribute]) -> Vec<KeyValue> {
    attributes
        .iter()
        .map(|attribute| {
            let value = match &attribute.value {
                AttributeValue::Int(number) => Value::I64(*number),
                AttributeValue::Bool(flag) => Value::Bool(*flag),
                AttributeValue::Text(text) => Value::String(Arc::clone(text).into()),
                AttributeValue::Ints(numbers) => Value::Array(numbers.clone().into()),
                AttributeValue::Texts(texts) => Value::Array(
                    texts
                        .iter()
                        .map(|text| Arc::clone(text).into())
                        .collect::<Vec<opentelemetry::StringValue>>()
                        .into(),
                ),
                AttributeValue::Time(time) => {
                    Value::String(UtcDateTime::from_unix_nanos(*time).rfc3339().into())
                }
            };
            KeyValue::new(attribute.key.clone(), value)
        })
        .collect()
}

fn system_time(unix_nanos: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(u64::try_from(unix_nanos).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_base_url_gets_the_traces_path_and_a_full_one_is_kept() {
        for (given, used) in [
            ("http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces"),
            ("http://127.0.0.1:4318/", "http://127.0.0.1:4318/v1/traces"),
            (
                "https://otel.example:4318/custom/path",
                "https://otel.example:4318/custom/path",
            ),
        ] {
            assert_eq!(http_traces_endpoint(given), used);
        }
    }
}
