//! An OTLP trace receiver on loopback, built on the official protobuf
//! definitions (opentelemetry-proto): gRPC through tonic's generated
//! `TraceService`, and HTTP/protobuf (`POST /v1/traces`). It keeps every
//! request with its headers, and can stop and start again on the same
//! ports, as a backend in an outage does.
use std::{
    collections::BTreeMap,
    io::{self, BufReader, Write as _},
    net::{SocketAddr, TcpListener},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::{AnyValue, KeyValue, any_value},
    trace::v1::Span,
};
use prost::Message as _;

use crate::http::read_request;

/// One span as it arrived, with what came along.
#[derive(Clone, Debug)]
pub struct ReceivedSpan {
    pub span: Span,
    /// The resource's attributes, as text.
    pub resource: BTreeMap<String, String>,
    /// The request's headers (gRPC metadata or HTTP headers), lowercase.
    pub headers: BTreeMap<String, String>,
    /// `grpc` or `http`.
    pub transport: &'static str,
}

impl ReceivedSpan {
    /// The span's attributes, as text.
    pub fn attributes(&self) -> BTreeMap<String, String> {
        texts(&self.span.attributes)
    }
}

/// Attributes as text: arrays as JSON-like lists.
pub fn texts(attributes: &[KeyValue]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|attribute| {
            let value = attribute.value.as_ref().map_or(String::new(), text);
            (attribute.key.clone(), value)
        })
        .collect()
}

fn text(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        Some(any_value::Value::IntValue(number)) => number.to_string(),
        Some(any_value::Value::BoolValue(flag)) => flag.to_string(),
        Some(any_value::Value::DoubleValue(number)) => number.to_string(),
        Some(any_value::Value::ArrayValue(array)) => format!(
            "[{}]",
            array.values.iter().map(text).collect::<Vec<_>>().join(", ")
        ),
        _ => String::new(),
    }
}

type Received = Arc<Mutex<Vec<ReceivedSpan>>>;

/// The receiver: its ports stay its own while it is paused or stalled.
pub struct OtlpReceiver {
    grpc: SocketAddr,
    http: SocketAddr,
    received: Received,
    servers: Option<Servers>,
    /// While stalled: listeners that never accept.
    stalled: Vec<TcpListener>,
}

/// The listening servers.
struct Servers {
    stop_grpc: tokio::sync::oneshot::Sender<()>,
    stop_http: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl OtlpReceiver {
    pub fn start() -> io::Result<Self> {
        let mut receiver = OtlpReceiver {
            grpc: SocketAddr::from(([127, 0, 0, 1], 0)),
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            received: Arc::default(),
            servers: None,
            stalled: Vec::new(),
        };
        receiver.resume()?;
        Ok(receiver)
    }

    /// Stops listening: connections are refused, as by a backend that is
    /// down, until [`Self::resume`].
    pub fn pause(&mut self) {
        if let Some(servers) = self.servers.take() {
            let _ = servers.stop_grpc.send(());
            servers.stop_http.store(true, Ordering::Relaxed);
            for thread in servers.threads {
                let _ = thread.join();
            }
        }
    }

    /// Stops answering without refusing: the kernel still completes
    /// connections on the ports, and nothing ever reads or answers them,
    /// as with a backend that hangs. Until [`Self::resume`], which resets
    /// the connections left waiting.
    pub fn stall(&mut self) -> io::Result<()> {
        self.pause();
        if self.stalled.is_empty() {
            self.stalled = vec![TcpListener::bind(self.grpc)?, TcpListener::bind(self.http)?];
        }
        Ok(())
    }

    /// Listens again, on the same ports, keeping what it received.
    pub fn resume(&mut self) -> io::Result<()> {
        self.stalled.clear();
        if self.servers.is_some() {
            return Ok(());
        }
        let grpc_listener = TcpListener::bind(self.grpc)?;
        self.grpc = grpc_listener.local_addr()?;
        grpc_listener.set_nonblocking(true)?;
        let http_listener = TcpListener::bind(self.http)?;
        self.http = http_listener.local_addr()?;
        http_listener.set_nonblocking(true)?;
        let (stop_grpc, stopped) = tokio::sync::oneshot::channel();
        let service = Receiver {
            received: Arc::clone(&self.received),
        };
        let grpc_thread = thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(grpc_listener) else {
                    return;
                };
                // Without Nagle's algorithm, as gRPC servers run: else a
                // response written in pieces waits for the client's delayed
                // ACK (40 ms a request).
                let incoming = tokio_stream::StreamExt::map(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    |stream| stream.inspect(|stream| _ = stream.set_nodelay(true)),
                );
                let server = tonic::transport::Server::builder()
                    .add_service(TraceServiceServer::new(service))
                    .serve_with_incoming(incoming);
                // No graceful drain: a backend that goes down drops its
                // clients' connections (with the runtime, below).
                tokio::select! {
                    _ = server => {}
                    _ = stopped => {}
                }
            });
        });
        let stop_http = Arc::new(AtomicBool::new(false));
        let http_thread = {
            let (received, stop_http) = (Arc::clone(&self.received), Arc::clone(&stop_http));
            thread::spawn(move || serve_http(&http_listener, &received, &stop_http))
        };
        self.servers = Some(Servers {
            stop_grpc,
            stop_http,
            threads: vec![grpc_thread, http_thread],
        });
        Ok(())
    }

    /// `http://127.0.0.1:PORT` for gRPC.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// `http://127.0.0.1:PORT` for HTTP/protobuf (the traces path is added
    /// by the client).
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http)
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received
            .lock()
            .map(|spans| spans.clone())
            .unwrap_or_default()
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.pause();
    }
}

struct Receiver {
    received: Received,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let headers = request
            .metadata()
            .iter()
            .filter_map(|entry| match entry {
                tonic::metadata::KeyAndValueRef::Ascii(key, value) => {
                    Some((key.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                }
                tonic::metadata::KeyAndValueRef::Binary(..) => None,
            })
            .collect();
        keep(&self.received, request.into_inner(), headers, "grpc");
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn keep(
    received: &Received,
    request: ExportTraceServiceRequest,
    headers: BTreeMap<String, String>,
    transport: &'static str,
) {
    let Ok(mut spans) = received.lock() else {
        return;
    };
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|resource| texts(&resource.attributes))
            .unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                spans.push(ReceivedSpan {
                    span,
                    resource: resource.clone(),
                    headers: headers.clone(),
                    transport,
                });
            }
        }
    }
}

fn serve_http(listener: &TcpListener, received: &Received, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let received = Arc::clone(received);
                thread::spawn(move || {
                    let _ = answer_http(stream, &received);
                });
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(_) => return,
        }
    }
}

/// Answers `POST /v1/traces` requests on one connection (keep-alive).
fn answer_http(stream: std::net::TcpStream, received: &Received) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader)? {
        let status = if request.line.starts_with("POST /v1/traces ") {
            match ExportTraceServiceRequest::decode(request.body.as_slice()) {
                Ok(export) => {
                    keep(received, export, request.headers, "http");
                    "200 OK"
                }
                Err(_) => "400 Bad Request",
            }
        } else {
            "404 Not Found"
        };
        let response = ExportTraceServiceResponse::default().encode_to_vec();
        write!(
            writer,
            "HTTP/1.1 {status}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
            response.len()
        )?;
        writer.write_all(&response)?;
        writer.flush()?;
    }
    Ok(())
}
