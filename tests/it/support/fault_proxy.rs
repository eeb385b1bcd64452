//! The fault proxy: an HTTP proxy on loopback in front of a real service (moto here) that
//! forwards every request unchanged, except those its [`Plan`] picks, which get a [`Fault`]:
//! an error answer (503 SlowDown, 500, …), a lost response (forwarded, then the connection is
//! closed unanswered), a hang (never answered) or a hold (forwarded only once the test
//! releases it: a request on the wire through a partition) — how tests get throttling storms, outages
//! and flaky networks from a service that never fails on its own. It can add latency to every
//! request, and records every request it saw, so a test can wait for, say, the first
//! UploadPart. Runs on its own thread and runtime.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// What happens to a request the plan fails.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answered with this error instead of being forwarded.
    Answer {
        status: u16,
        body: String,
        content_type: &'static str,
    },
    /// The connection is closed unanswered before anything is forwarded.
    Reset,
    /// Forwarded (the service does the work), then the connection is closed unanswered: the
    /// client sees a reset and cannot know whether the request took effect.
    LostResponse,
    /// Never answered: the client has to time out.
    Hang,
    /// Held unanswered until [`FaultProxy::release_held`], then forwarded and answered.
    Hold,
}

impl Fault {
    fn answer(status: u16, body: &str, content_type: &'static str) -> Fault {
        Fault::Answer {
            status,
            body: body.into(),
            content_type,
        }
    }

    /// S3's throttling answer.
    pub fn s3_slow_down() -> Fault {
        Fault::answer(503, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>fault-proxy</RequestId></Error>", "application/xml")
    }

    /// S3's answer to an internal failure.
    pub fn s3_internal_error() -> Fault {
        Fault::answer(500, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>fault-proxy</RequestId></Error>", "application/xml")
    }
}

/// Which requests fail, and how.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Fraction of eligible requests that get a fault instead of a plain forward.
    /// The failures are evenly spaced over the eligible requests (at 0.3, the 4th, 7th, 10th,
    /// 14th, …), not drawn at random, so how many a run gets follows from how many requests it
    /// made, never from luck: a test that asserts the storm happened cannot fail by chance.
    pub error_rate: f64,
    /// The faults, taken in turn by the failed requests.
    pub faults: Vec<Fault>,
    /// Added before every request is handled.
    pub latency: Duration,
    /// Eligible requests: `(method, path and query) -> bool`; `None`: all.
    pub only: Option<fn(&Method, &str) -> bool>,
    /// Rewrites the upstream's answer to eligible requests (e.g. partial bulk failures).
    pub rewrite: Option<fn(Bytes) -> Bytes>,
}

impl Plan {
    /// Forward everything.
    pub fn pass() -> Plan {
        Plan::failing(0.0, Vec::new())
    }

    /// `faults` in turn on `rate` of the requests.
    pub fn failing(rate: f64, faults: Vec<Fault>) -> Plan {
        Plan {
            error_rate: rate,
            faults,
            latency: Duration::ZERO,
            only: None,
            rewrite: None,
        }
    }

    /// S3's throttling answer on `rate` of the requests.
    pub fn s3_slow_down(rate: f64) -> Plan {
        Plan::failing(rate, vec![Fault::s3_slow_down()])
    }

    /// DynamoDB's throttling answer on `rate` of the requests.
    pub fn dynamodb_throttling(rate: f64) -> Plan {
        Plan::failing(
            rate,
            vec![Fault::answer(
                400,
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#,
                "application/x-amz-json-1.0",
            )],
        )
    }
}

/// What the proxy saw.
#[derive(Default)]
pub struct ProxyStats {
    /// Requests the plan's `only` matched (whether or not they were failed).
    pub eligible: AtomicU64,
    pub forwarded: AtomicU64,
    /// Faults injected (and answers rewritten).
    pub injected: AtomicU64,
    /// Of the injected faults: resets, responses lost after forwarding, and hangs.
    pub resets: AtomicU64,
    pub lost_responses: AtomicU64,
    pub hangs: AtomicU64,
    /// Requests held, and of them those since released (forwarded).
    pub holds: AtomicU64,
    pub released: AtomicU64,
    /// `METHOD path?query` of every request, in arrival order.
    pub requests: Mutex<Vec<String>>,
}

pub struct FaultProxy {
    pub url: String,
    plan: Arc<Mutex<Plan>>,
    pub stats: Arc<ProxyStats>,
    /// Bumped by `release_held`: held requests wait for it to change.
    held: Arc<tokio::sync::watch::Sender<u64>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (e.g. `http://127.0.0.1:5000`) on a free loopback port.
    pub fn start(upstream: &str, plan: Plan) -> FaultProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let plan = Arc::new(Mutex::new(plan));
        let stats = Arc::new(ProxyStats::default());
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let upstream = upstream.trim_end_matches('/').to_string();
        let held = Arc::new(tokio::sync::watch::channel(0u64).0);
        let (thread_plan, thread_stats, thread_held) = (plan.clone(), stats.clone(), held.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
                loop {
                    let (socket, _) = tokio::select! {
                        accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
                        _ = &mut stop_rx => break,
                    };
                    let (client, upstream, plan, stats, held) = (client.clone(), upstream.clone(), thread_plan.clone(), thread_stats.clone(), thread_held.clone());
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            handle(req, client.clone(), upstream.clone(), plan.clone(), stats.clone(), held.subscribe())
                        });
                        let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service).await;
                    });
                }
            });
        });
        FaultProxy {
            url: format!("http://{addr}"),
            plan,
            stats,
            held,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Replaces the plan (takes effect for the next request).
    pub fn set_plan(&self, plan: Plan) {
        *self.plan.lock().unwrap() = plan;
    }

    /// Lets every request held so far go on to the service.
    pub fn release_held(&self) {
        self.held.send_modify(|n| *n += 1);
    }

    /// Requests seen so far whose `METHOD path?query` satisfies `f`.
    pub fn count(&self, f: impl Fn(&str) -> bool) -> usize {
        self.stats
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| f(r))
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn handle(
    req: Request<Incoming>,
    client: HttpClient,
    upstream: String,
    plan: Arc<Mutex<Plan>>,
    stats: Arc<ProxyStats>,
    mut held: tokio::sync::watch::Receiver<u64>,
) -> Result<Response<Full<Bytes>>, BoxError> {
    let path = req
        .uri()
        .path_and_query()
        .map_or("/".to_string(), |p| p.to_string());
    stats
        .requests
        .lock()
        .unwrap()
        .push(format!("{} {path}", req.method()));
    let plan = plan.lock().unwrap().clone();
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    let eligible = plan.only.is_none_or(|f| f(req.method(), &path));
    let fault = (eligible
        && fails(
            stats.eligible.fetch_add(1, Ordering::Relaxed),
            plan.error_rate,
        ))
    .then(|| {
        let n = stats.injected.fetch_add(1, Ordering::Relaxed) as usize;
        plan.faults.get(n % plan.faults.len().max(1)).cloned()
    })
    .flatten();
    match fault {
        Some(Fault::Answer {
            status,
            body,
            content_type,
        }) => {
            // Drain the body so the client sees a clean answer, not a reset.
            let _ = req.into_body().collect().await;
            let mut response = Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() =
                StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            response
                .headers_mut()
                .insert("content-type", content_type.parse().unwrap());
            Ok(response)
        }
        Some(Fault::Reset) => {
            stats.resets.fetch_add(1, Ordering::Relaxed);
            Err("fault proxy: connection reset".into())
        }
        Some(Fault::Hang) => {
            stats.hangs.fetch_add(1, Ordering::Relaxed);
            std::future::pending().await
        }
        Some(Fault::Hold) => {
            stats.holds.fetch_add(1, Ordering::Relaxed);
            held.mark_unchanged();
            let _ = held.changed().await;
            stats.released.fetch_add(1, Ordering::Relaxed);
            forward(req, &client, &upstream, &path, &plan, false, &stats).await
        }
        Some(Fault::LostResponse) => {
            forward(req, &client, &upstream, &path, &plan, false, &stats).await?;
            stats.lost_responses.fetch_add(1, Ordering::Relaxed);
            // An error from the service closes the connection without an answer.
            Err("fault proxy: response dropped".into())
        }
        None => forward(req, &client, &upstream, &path, &plan, eligible, &stats).await,
    }
}

/// Forwards `req` upstream and returns its answer (rewritten when `rewrite` and planned).
async fn forward(
    req: Request<Incoming>,
    client: &HttpClient,
    upstream: &str,
    path: &str,
    plan: &Plan,
    rewrite: bool,
    stats: &ProxyStats,
) -> Result<Response<Full<Bytes>>, BoxError> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let mut forward = Request::builder()
        .method(parts.method)
        .uri(format!("{upstream}{path}"));
    for (name, value) in parts.headers.iter() {
        forward = forward.header(name, value);
    }
    let forward = forward.body(Full::new(body)).unwrap();
    stats.forwarded.fetch_add(1, Ordering::Relaxed);
    match client.request(forward).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            let mut body = body.collect().await?.to_bytes();
            if let (true, Some(rewrite)) = (rewrite, plan.rewrite) {
                body = rewrite(body);
                stats.injected.fetch_add(1, Ordering::Relaxed);
            }
            parts.headers.remove("transfer-encoding");
            parts.headers.remove("content-length");
            Ok(Response::from_parts(parts, Full::new(body)))
        }
        Err(e) => {
            let mut response = Response::new(Full::new(Bytes::from(format!(
                "fault proxy: upstream failed: {e}"
            ))));
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            Ok(response)
        }
    }
}

/// Whether the eligible request numbered `n` (from 0) fails at `rate`: it does when the
/// running count of failures owed, `floor((n + 1) × rate)`, goes up at `n`.
fn fails(n: u64, rate: f64) -> bool {
    ((n + 1) as f64 * rate).floor() > (n as f64 * rate).floor()
}
