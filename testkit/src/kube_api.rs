//! A Kubernetes API server on loopback that answers what scrim asks of a
//! real one: the list and the watch of pods (`GET /api/v1/pods`, metadata
//! only), filtered by the `spec.nodeName` field selector. Tests add,
//! change and delete pods; watchers receive `ADDED`, `MODIFIED` and
//! `DELETED` events as a real API server streams them (chunked JSON lines),
//! resumed from the resource version the client gives.
use std::{
    collections::BTreeMap,
    io::{self, BufReader, Write as _},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    sync::{Arc, Condvar, Mutex},
    thread,
    time::Duration,
};

use serde_json::{Value, json};

use crate::http::read_request;

/// A pod as the fake API serves it.
#[derive(Clone, Debug)]
pub struct FakePod {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub node: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Default)]
struct State {
    pods: BTreeMap<String, (FakePod, u64)>,
    /// Every change, with its resource version: (version, type, pod).
    log: Vec<(u64, &'static str, FakePod)>,
    version: u64,
    /// Request line and `Accept` header of every request.
    requests: Vec<String>,
    stopped: bool,
}

/// The running server; stops when dropped.
pub struct FakeKubeApi {
    state: Arc<(Mutex<State>, Condvar)>,
    directory: tempfile::TempDir,
}

impl FakeKubeApi {
    pub fn start() -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?.to_string();
        let state = Arc::new((Mutex::new(State::default()), Condvar::new()));
        {
            let state = Arc::clone(&state);
            thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    let state = Arc::clone(&state);
                    thread::spawn(move || {
                        // A client that hangs up mid-answer is not our concern.
                        let _ = serve(stream, &state);
                    });
                }
            });
        }
        let directory = tempfile::tempdir()?;
        std::fs::write(
            directory.path().join("kubeconfig"),
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    \
                 server: http://{address}\ncontexts:\n- name: fake\n  context:\n    \
                 cluster: fake\n    user: fake\ncurrent-context: fake\nusers:\n- name: fake\n  \
                 user: {{}}\n"
            ),
        )?;
        Ok(FakeKubeApi { state, directory })
    }

    /// A kubeconfig pointing at this server, for `KUBECONFIG`.
    pub fn kubeconfig(&self) -> PathBuf {
        self.directory.path().join("kubeconfig")
    }

    /// Adds a pod, or replaces the one with its UID.
    pub fn apply_pod(&self, pod: FakePod) {
        self.change(|state| {
            let kind = if state.pods.contains_key(&pod.uid) {
                "MODIFIED"
            } else {
                "ADDED"
            };
            state.version += 1;
            let version = state.version;
            state.pods.insert(pod.uid.clone(), (pod.clone(), version));
            state.log.push((version, kind, pod));
        });
    }

    pub fn delete_pod(&self, uid: &str) {
        self.change(|state| {
            if let Some((pod, _)) = state.pods.remove(uid) {
                state.version += 1;
                let version = state.version;
                state.log.push((version, "DELETED", pod));
            }
        });
    }

    /// Request line and `Accept` header of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.state
            .0
            .lock()
            .map(|state| state.requests.clone())
            .unwrap_or_default()
    }

    fn change(&self, change: impl FnOnce(&mut State)) {
        let (lock, changed) = &*self.state;
        if let Ok(mut state) = lock.lock() {
            change(&mut state);
        }
        changed.notify_all();
    }
}

impl Drop for FakeKubeApi {
    fn drop(&mut self) {
        self.change(|state| state.stopped = true);
    }
}

fn serve(stream: TcpStream, state: &(Mutex<State>, Condvar)) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader)? {
        let accept = request.headers.get("accept").cloned().unwrap_or_default();
        let target = request.target().to_owned();
        let request_line = request.line;
        if let Ok(mut state) = state.0.lock() {
            state
                .requests
                .push(format!("{request_line} accept={accept}"));
        }
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let query = parse_query(query);
        if path != "/api/v1/pods" {
            write_json(
                &mut writer,
                "404 Not Found",
                &json!({"kind": "Status", "code": 404}),
            )?;
            continue;
        }
        let node = query
            .get("fieldSelector")
            .and_then(|selector| selector.strip_prefix("spec.nodeName="))
            .map(str::to_owned);
        if query
            .get("watch")
            .is_some_and(|watch| watch == "true" || watch == "1")
        {
            let since = query
                .get("resourceVersion")
                .and_then(|version| version.parse().ok())
                .unwrap_or(0);
            return watch(&mut writer, state, node.as_deref(), since);
        }
        let body = {
            let state = state.0.lock().map_err(|_| io::Error::other("poisoned"))?;
            let items: Vec<Value> = state
                .pods
                .values()
                .filter(|(pod, _)| node.as_deref().is_none_or(|node| pod.node == node))
                .map(|(pod, version)| object(pod, *version))
                .collect();
            json!({
                "apiVersion": "meta.k8s.io/v1",
                "kind": "PartialObjectMetadataList",
                "metadata": {"resourceVersion": state.version.to_string()},
                "items": items,
            })
        };
        write_json(&mut writer, "200 OK", &body)?;
    }
    Ok(())
}

/// Streams the changes after `since` until the server stops or the client
/// hangs up.
fn watch(
    writer: &mut TcpStream,
    state: &(Mutex<State>, Condvar),
    node: Option<&str>,
    mut since: u64,
) -> io::Result<()> {
    write!(
        writer,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )?;
    writer.flush()?;
    let (lock, changed) = state;
    loop {
        let events: Vec<String> = {
            let state = lock.lock().map_err(|_| io::Error::other("poisoned"))?;
            let (state, _) = changed
                .wait_timeout_while(state, Duration::from_millis(500), |state| {
                    !state.stopped && state.version <= since
                })
                .map_err(|_| io::Error::other("poisoned"))?;
            if state.stopped {
                return Ok(());
            }
            let events = state
                .log
                .iter()
                .filter(|(version, _, pod)| {
                    *version > since && node.is_none_or(|node| pod.node == node)
                })
                .map(|(version, kind, pod)| {
                    json!({"type": kind, "object": object(pod, *version)}).to_string() + "\n"
                })
                .collect();
            since = state.version;
            events
        };
        for event in events {
            write!(writer, "{:x}\r\n{event}\r\n", event.len())?;
        }
        writer.flush()?;
    }
}

fn object(pod: &FakePod, version: u64) -> Value {
    json!({
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadata",
        "metadata": {
            "name": pod.name,
            "namespace": pod.namespace,
            "uid": pod.uid,
            "resourceVersion": version.to_string(),
            "labels": pod.labels,
        },
    })
}

fn write_json(writer: &mut TcpStream, status: &str, body: &Value) -> io::Result<()> {
    let body = body.to_string();
    write!(
        writer,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    writer.flush()
}

/// `a=b&c=d`, percent-decoded.
fn parse_query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (decode(key), decode(value)))
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        index += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
