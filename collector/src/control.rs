//! The control socket: how `scrim archive export|erase` reach a collector
//! that runs on the same state directory.
//!
//! A running collector holds rows in files it has not completed, spans in
//! memory and in spools it alone may rewrite, and uploads under way; a
//! subject request that worked around it would find none of them and
//! report success. So the command asks first: the collector completes the
//! tenant's open files (rows read from the kernel before the question
//! included), removes (or gives) the subject's spans from its OTLP sinks,
//! and holds the tenant's uploads until the command's connection closes,
//! so no file is uploaded while it is rewritten. A command that finds the
//! state directory locked and nobody answering here refuses to work.
//!
//! The socket is `<state-dir>/control.sock`, mode 0600, in a directory
//! nobody else can write; the collector also checks each peer's uid
//! (`SO_PEERCRED`) and answers only its own user and root.
use std::{
    io::{BufRead as _, BufReader, Write as _},
    os::unix::{
        fs::{MetadataExt as _, PermissionsExt as _},
        net::UnixStream as StdUnixStream,
    },
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context as _;
use scrim_otlp::{AttributeValue, Span, SpanMatch};
use scrim_sinks::Subject;
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _},
    net::{UnixListener, UnixStream},
    sync::{mpsc, oneshot},
};

/// The socket's name in the state directory.
pub const SOCKET: &str = "control.sock";
/// The longest question read; a subject's values are a few hundred
/// pseudonyms at most.
const MAX_QUESTION_BYTES: u64 = 1 << 20;
/// How long a question may take to arrive.
const QUESTION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a command waits for the collector's answer: completing a
/// tenant's open files may take a while under load.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// Picks the spans that carry one of `subject`'s values in its column's
/// attribute, on the span or on any of its events.
pub fn span_match(subject: &Subject) -> Arc<SpanMatch> {
    let Subject { column, values } = subject.clone();
    Arc::new(move |span: &Span| {
        let events = span.events.iter().flat_map(|event| &event.attributes);
        span.attributes
            .iter()
            .chain(events)
            .filter(|attribute| attribute.key == column)
            .any(|attribute| match &attribute.value {
                AttributeValue::Int(value) => values.ints.contains(value),
                AttributeValue::Text(value) => values.texts.contains(&**value),
                _ => false,
            })
    })
}

/// What a command asks of the collector.
#[derive(Debug, Serialize, Deserialize)]
pub enum Question {
    Subject(SubjectQuestion),
    /// `scrim status`: the collector's placements and counts, as text or
    /// JSON.
    Status {
        json: bool,
    },
}

/// A data subject's request, the collector's part of it.
#[derive(Debug, Serialize, Deserialize)]
pub struct SubjectQuestion {
    pub tenant: String,
    pub subject: Subject,
    /// Erase the subject's spans (an erasure), or give them (an access
    /// request).
    pub erase: bool,
}

/// What the collector did for a question: its part is done, and the
/// tenant's uploads wait until the command's connection closes.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Held {
    /// Files the tenant had open, now completed (their rows are found).
    pub files_completed: u64,
    /// The subject's spans removed from the tenant's OTLP sinks.
    pub spans_erased: u64,
    /// The subject's spans the sinks hold (an access request).
    pub spans: Vec<Span>,
}

#[derive(Debug, Serialize, Deserialize)]
enum Answer {
    Held(Held),
    Status(String),
    Refused(String),
}

/// What a connection asks the collector's loop to do.
pub enum Request {
    Subject {
        question: SubjectQuestion,
        answer: oneshot::Sender<Result<Held, String>>,
    },
    Status {
        json: bool,
        answer: oneshot::Sender<String>,
    },
    /// The command is done: the tenant's uploads go on.
    Release { tenant: String },
}

/// The collector's end of the socket, removed when dropped.
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlServer {
    /// Binds `<state_dir>/control.sock`. Call with the state directory's
    /// lock held: a socket already there is a crashed collector's.
    pub fn bind(state_dir: &Path) -> anyhow::Result<Self> {
        let path = state_dir.join(SOCKET);
        match std::fs::symlink_metadata(&path) {
            Ok(_) => std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove the old {}", path.display()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error).with_context(|| format!("cannot look at {}", path.display()));
            }
        }
        let listener = UnixListener::bind(&path)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot make {} private", path.display()))?;
        Ok(ControlServer { listener, path })
    }

    pub async fn accept(&self) -> std::io::Result<UnixStream> {
        self.listener.accept().await.map(|(stream, _)| stream)
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Serves one connection: reads its question, has the loop answer it,
/// writes the answer, and releases the hold when the command is done
/// (its connection closes, however it ends).
pub async fn serve(mut stream: UnixStream, requests: mpsc::UnboundedSender<Request>) {
    // SAFETY: geteuid has no preconditions.
    let own = unsafe { libc::geteuid() };
    let allowed = stream
        .peer_cred()
        .is_ok_and(|peer| peer.uid() == own || peer.uid() == 0);
    if !allowed {
        let _ = reply(&mut stream, &Answer::Refused("not your collector".into())).await;
        return;
    }
    let question = match read_question(&mut stream).await {
        Ok(question) => question,
        Err(problem) => {
            let _ = reply(&mut stream, &Answer::Refused(problem)).await;
            return;
        }
    };
    let question = match question {
        Question::Subject(question) => question,
        Question::Status { json } => {
            let (answer, answered) = oneshot::channel();
            let answer = match requests.send(Request::Status { json, answer }) {
                Ok(()) => answered.await.ok(),
                Err(_) => None,
            };
            let answer = answer.map_or_else(
                || Answer::Refused("the collector is stopping".into()),
                Answer::Status,
            );
            let _ = reply(&mut stream, &answer).await;
            return;
        }
    };
    let tenant = question.tenant.clone();
    let (answer, answered) = oneshot::channel();
    if requests
        .send(Request::Subject { question, answer })
        .is_err()
    {
        let _ = reply(
            &mut stream,
            &Answer::Refused("the collector is stopping".into()),
        )
        .await;
        return;
    }
    let held = match answered.await {
        Ok(Ok(held)) => held,
        Ok(Err(problem)) => {
            let _ = reply(&mut stream, &Answer::Refused(problem)).await;
            return;
        }
        Err(_) => {
            let _ = reply(
                &mut stream,
                &Answer::Refused("the collector is stopping".into()),
            )
            .await;
            return;
        }
    };
    if reply(&mut stream, &Answer::Held(held)).await.is_ok() {
        // Whatever the command sends, or its end, ends the hold.
        let mut rest = [0u8; 64];
        while matches!(stream.read(&mut rest).await, Ok(read) if read > 0) {}
    }
    let _ = requests.send(Request::Release { tenant });
}

async fn read_question(stream: &mut UnixStream) -> Result<Question, String> {
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(stream).take(MAX_QUESTION_BYTES);
    match tokio::time::timeout(QUESTION_TIMEOUT, reader.read_line(&mut line)).await {
        Ok(Ok(read)) if read > 0 => {}
        Ok(Ok(_)) => return Err("no question".into()),
        Ok(Err(error)) => return Err(format!("cannot read the question: {error}")),
        Err(_) => return Err("no question within 10 s".into()),
    }
    serde_json::from_str(&line).map_err(|error| format!("not a question: {error}"))
}

async fn reply(stream: &mut UnixStream, answer: &Answer) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(answer).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line).await?;
    stream.flush().await
}

/// A command's hold on a running collector: dropping it (or the command
/// ending) lets the tenant's uploads go on.
pub struct Hold {
    _stream: StdUnixStream,
}

/// How a command finds the state directory's collector.
pub enum Reached {
    /// The collector answered and holds until the [`Hold`] is dropped.
    Running(Hold, Held),
    /// Nobody listens: no collector runs there (or one too old to answer).
    NotListening,
}

/// Asks the collector on `state_dir` to do its part of a subject request.
pub fn ask(state_dir: &Path, question: SubjectQuestion) -> anyhow::Result<Reached> {
    match exchange(state_dir, &Question::Subject(question))? {
        None => Ok(Reached::NotListening),
        Some((stream, Answer::Held(held))) => Ok(Reached::Running(Hold { _stream: stream }, held)),
        Some((_, answer)) => Err(unexpected(state_dir, answer)),
    }
}

/// The running collector's status, or `None` if none listens on
/// `state_dir`.
pub fn status(state_dir: &Path, json: bool) -> anyhow::Result<Option<String>> {
    match exchange(state_dir, &Question::Status { json })? {
        None => Ok(None),
        Some((_, Answer::Status(status))) => Ok(Some(status)),
        Some((_, answer)) => Err(unexpected(state_dir, answer)),
    }
}

fn unexpected(state_dir: &Path, answer: Answer) -> anyhow::Error {
    match answer {
        Answer::Refused(problem) => {
            anyhow::anyhow!(
                "the collector on {} refused: {problem}",
                state_dir.display()
            )
        }
        _ => anyhow::anyhow!(
            "the collector on {} answered another question",
            state_dir.display()
        ),
    }
}

/// Sends `question` and reads the answer; `None` if nobody listens.
fn exchange(
    state_dir: &Path,
    question: &Question,
) -> anyhow::Result<Option<(StdUnixStream, Answer)>> {
    let path = state_dir.join(SOCKET);
    // Only a socket of root's or this user's is a collector's to ask.
    if let Ok(metadata) = std::fs::symlink_metadata(&path) {
        // SAFETY: geteuid has no preconditions.
        let own = unsafe { libc::geteuid() };
        anyhow::ensure!(
            metadata.uid() == own || metadata.uid() == 0,
            "{} belongs to uid {}, not to root or this user: it is no collector's, and is not \
             asked",
            path.display(),
            metadata.uid()
        );
    }
    let stream = match StdUnixStream::connect(&path) {
        Ok(stream) => stream,
        Err(error)
            if matches!(
                error.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(error) => {
            return Err(error).with_context(|| format!("cannot connect to {}", path.display()));
        }
    };
    stream
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .context("control socket")?;
    let mut line = serde_json::to_vec(question).context("the question")?;
    line.push(b'\n');
    (&stream)
        .write_all(&line)
        .with_context(|| format!("cannot ask the collector on {}", path.display()))?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .with_context(|| {
            format!(
                "the collector on {} did not answer within {} s",
                path.display(),
                ANSWER_TIMEOUT.as_secs()
            )
        })?;
    let answer = serde_json::from_str(&answer).map_err(|_| {
        anyhow::anyhow!(
            "the collector on {} gave no answer (it may have stopped); run the command again",
            state_dir.display()
        )
    })?;
    Ok(Some((stream, answer)))
}
