//! A local Lambda Runtime API for one invocation: the part of it a Rust function's runtime
//! (`lambda_runtime`) speaks. It hands out one event on the first `GET .../invocation/next`, with
//! the headers Lambda sends, and records when that poll came (the end of the function's init) and
//! when the answer (`.../response`, `.../error` or `init/error`) arrived.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{oneshot, watch};

pub const PREFIX: &str = "/2018-06-01/runtime";

/// The one event of a run.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub function: String,
    pub request_id: String,
    pub event: Vec<u8>,
    /// The function's timeout: the deadline is the poll's time plus this, as Lambda sets it.
    pub timeout: Duration,
}

impl Invocation {
    pub fn new(function: &str, event: Vec<u8>, timeout: Duration) -> Self {
        Invocation { function: function.to_owned(), request_id: uuid::Uuid::new_v4().to_string(), event, timeout }
    }

    /// The headers of the `next` answer, `now` being the time since the epoch when it is handed out.
    pub fn headers(&self, now: Duration) -> [(HeaderName, String); 5] {
        let deadline_ms = (now + self.timeout).as_millis();
        [
            (HeaderName::from_static("content-type"), "application/json".to_owned()),
            (HeaderName::from_static("lambda-runtime-aws-request-id"), self.request_id.clone()),
            (HeaderName::from_static("lambda-runtime-deadline-ms"), deadline_ms.to_string()),
            (
                HeaderName::from_static("lambda-runtime-invoked-function-arn"),
                format!("arn:aws:lambda:us-east-1:000000000000:function:{}", self.function),
            ),
            (
                HeaderName::from_static("lambda-runtime-trace-id"),
                format!("Root=1-{:08x}-{};Sampled=0", now.as_secs(), &self.request_id.replace('-', "")[..24]),
            ),
        ]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerKind {
    Response,
    Error,
    InitError,
}

/// What the function answered, and when.
#[derive(Debug)]
pub struct Answer {
    pub kind: AnswerKind,
    pub body: Bytes,
    pub at: Instant,
    /// When the function first asked for an event (None: it failed before asking).
    pub polled_at: Option<Instant>,
}

struct Shared {
    invocation: Invocation,
    polled_at: Mutex<Option<Instant>>,
    answer: Mutex<Option<oneshot::Sender<Answer>>>,
    stopped: watch::Receiver<bool>,
}

/// A function process started on a Runtime API of its own, serving it one invocation.
pub struct Running {
    pub api: RuntimeApi,
    pub child: tokio::process::Child,
    pub spawned: Instant,
}

impl Running {
    /// Starts `binary` with exactly `env` (and the API's address), its output into `log`.
    pub async fn spawn(
        binary: &std::path::Path,
        env: &[(String, String)],
        invocation: Invocation,
        log: &std::path::Path,
    ) -> Result<Running, String> {
        let api = RuntimeApi::start(invocation).await.map_err(|e| format!("runtime API: {e}"))?;
        let log = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut command = tokio::process::Command::new(binary);
        command
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .kill_on_drop(true);
        let spawned = Instant::now();
        let child = command.spawn().map_err(|e| format!("{}: {e}", binary.display()))?;
        Ok(Running { api, child, spawned })
    }

    /// The answer within `within`; an exit or the time running out first is an `Err` saying so.
    /// The process is killed either way (one invocation per process).
    pub async fn answer(&mut self, within: Duration) -> Result<Answer, String> {
        let answer = tokio::select! {
            answer = self.api.answer() => answer.ok_or_else(|| "the runtime API stopped without an answer".to_owned()),
            status = self.child.wait() => Err(format!("the function exited ({}) without answering", status.map_or_else(|e| e.to_string(), |s| s.to_string()))),
            _ = tokio::time::sleep(within) => Err(format!("no answer within {} s", within.as_secs())),
        };
        let _ = self.child.kill().await;
        answer
    }
}

/// The Runtime API for one invocation, serving on a port of its own until dropped.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    answer: oneshot::Receiver<Answer>,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start(invocation: Invocation) -> std::io::Result<RuntimeApi> {
        let (app, answer, stop) = router(invocation);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(RuntimeApi { addr, answer, stop, server })
    }

    /// The answer (None: the server went away without one).
    pub async fn answer(&mut self) -> Option<Answer> {
        (&mut self.answer).await.ok()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        // Releases the function's second `next` poll, then the listener.
        let _ = self.stop.send(true);
        self.server.abort();
    }
}

/// The routes, the receiver of the answer, and the switch that ends waiting polls.
pub fn router(invocation: Invocation) -> (Router, oneshot::Receiver<Answer>, watch::Sender<bool>) {
    let (answer_tx, answer_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared { invocation, polled_at: Mutex::new(None), answer: Mutex::new(Some(answer_tx)), stopped: stop_rx });
    let app = Router::new()
        .route(&format!("{PREFIX}/invocation/next"), get(next))
        .route(&format!("{PREFIX}/invocation/{{id}}/response"), post(response))
        .route(&format!("{PREFIX}/invocation/{{id}}/error"), post(error))
        .route(&format!("{PREFIX}/init/error"), post(init_error))
        .with_state(shared);
    (app, answer_rx, stop_tx)
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let first = {
        let mut polled = shared.polled_at.lock().expect("poll time");
        let first = polled.is_none();
        polled.get_or_insert_with(Instant::now);
        first
    };
    if !first {
        // One invocation per process: later polls wait until the run is over.
        let mut stopped = shared.stopped.clone();
        let _ = stopped.wait_for(|s| *s).await;
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut response = Response::new(axum::body::Body::from(shared.invocation.event.clone()));
    for (name, value) in shared.invocation.headers(now) {
        response.headers_mut().insert(name, HeaderValue::from_str(&value).expect("header value"));
    }
    response
}

async fn response(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answered(&shared, Some(&id), AnswerKind::Response, body)
}

async fn error(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answered(&shared, Some(&id), AnswerKind::Error, body)
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    answered(&shared, None, AnswerKind::InitError, body)
}

fn answered(shared: &Shared, id: Option<&str>, kind: AnswerKind, body: Bytes) -> StatusCode {
    let at = Instant::now();
    if id.is_some_and(|id| id != shared.invocation.request_id) {
        return StatusCode::BAD_REQUEST;
    }
    let polled_at = *shared.polled_at.lock().expect("poll time");
    if let Some(tx) = shared.answer.lock().expect("answer").take() {
        let _ = tx.send(Answer { kind, body, at, polled_at });
    }
    StatusCode::ACCEPTED
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    fn invocation() -> Invocation {
        Invocation::new("ghl-webhook", br#"{"k":1}"#.to_vec(), Duration::from_secs(10))
    }

    #[test]
    fn next_carries_the_headers_lambda_runtime_requires() {
        let inv = invocation();
        let headers = inv.headers(Duration::from_millis(1_795_510_800_123));
        let get = |name: &str| headers.iter().find(|(n, _)| n.as_str() == name).map(|(_, v)| v.as_str());
        assert_eq!(get("lambda-runtime-aws-request-id"), Some(inv.request_id.as_str()));
        // The deadline is absolute, in milliseconds: now plus the function's timeout.
        assert_eq!(get("lambda-runtime-deadline-ms"), Some("1795510810123"));
        assert_eq!(get("lambda-runtime-invoked-function-arn"), Some("arn:aws:lambda:us-east-1:000000000000:function:ghl-webhook"));
        let trace = get("lambda-runtime-trace-id").unwrap();
        assert!(trace.starts_with("Root=1-6b055210-"), "{trace}");
        assert!(headers.iter().all(|(_, v)| HeaderValue::from_str(v).is_ok()));
    }

    #[tokio::test]
    async fn one_event_then_its_answer_and_nothing_for_another_request_id() {
        let inv = invocation();
        let id = inv.request_id.clone();
        let (app, answer, stop) = router(inv);
        let call = |method: &str, path: String, body: &'static str| {
            app.clone().oneshot(Request::builder().method(method).uri(path).body(Body::from(body)).unwrap())
        };

        let next = call("GET", format!("{PREFIX}/invocation/next"), "").await.unwrap();
        assert_eq!(next.status(), StatusCode::OK);
        assert_eq!(next.headers()["lambda-runtime-aws-request-id"], id.as_str());
        let deadline: u128 = next.headers()["lambda-runtime-deadline-ms"].to_str().unwrap().parse().unwrap();
        assert!(deadline > SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis());
        assert_eq!(&axum::body::to_bytes(next.into_body(), 1024).await.unwrap()[..], br#"{"k":1}"#);

        // A second poll waits for the end of the run.
        let second = tokio::spawn(call("GET", format!("{PREFIX}/invocation/next"), ""));
        let wrong = call("POST", format!("{PREFIX}/invocation/another-id/response"), "{}").await.unwrap();
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        let right = call("POST", format!("{PREFIX}/invocation/{id}/error"), r#"{"errorType":"InvalidInput"}"#).await.unwrap();
        assert_eq!(right.status(), StatusCode::ACCEPTED);

        let answer = answer.await.expect("answered");
        assert_eq!(answer.kind, AnswerKind::Error);
        assert_eq!(&answer.body[..], br#"{"errorType":"InvalidInput"}"#);
        assert!(answer.polled_at.is_some_and(|polled| polled <= answer.at));
        assert!(!second.is_finished());
        stop.send(true).unwrap();
        assert_eq!(second.await.unwrap().unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
