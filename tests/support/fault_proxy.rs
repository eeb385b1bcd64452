//! The fault proxy: an HTTP proxy on loopback in front of a real service (moto here) that
//! forwards every request unchanged, except those its [`Plan`] picks, which it answers itself
//! with an error (503 SlowDown, 500, …) — how tests get throttling storms and outages from a
//! service that never fails on its own. It also records every request it saw, so a test can
//! wait for, say, the first UploadPart. Runs on its own thread and runtime.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// Which requests fail, and how.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Fraction of eligible requests answered with the error instead of being forwarded.
    /// The failures are evenly spaced over the eligible requests (at 0.3, the 4th, 7th, 10th,
    /// 14th, …), not drawn at random, so how many a run gets follows from how many requests it
    /// made, never from luck: a test that asserts the storm happened cannot fail by chance.
    pub error_rate: f64,
    pub status: u16,
    pub body: String,
    pub content_type: &'static str,
    /// Eligible requests: `(method, path and query) -> bool`; `None`: all.
    pub only: Option<fn(&Method, &str) -> bool>,
    /// Rewrites the upstream's answer to eligible requests (e.g. partial bulk failures).
    pub rewrite: Option<fn(Bytes) -> Bytes>,
}

impl Plan {
    /// Forward everything.
    pub fn pass() -> Plan {
        Plan {
            error_rate: 0.0,
            status: 200,
            body: String::new(),
            content_type: "text/plain",
            only: None,
            rewrite: None,
        }
    }

    /// S3's throttling answer on `rate` of the requests.
    pub fn s3_slow_down(rate: f64) -> Plan {
        Plan {
            error_rate: rate,
            status: 503,
            body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>fault-proxy</RequestId></Error>".into(),
            content_type: "application/xml",
            only: None,
            rewrite: None,
        }
    }

    /// DynamoDB's throttling answer on `rate` of the requests.
    pub fn dynamodb_throttling(rate: f64) -> Plan {
        Plan {
            error_rate: rate,
            status: 400,
            body: r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#.into(),
            content_type: "application/x-amz-json-1.0",
            only: None,
            rewrite: None,
        }
    }
}

/// What the proxy saw.
#[derive(Default)]
pub struct ProxyStats {
    /// Requests the plan's `only` matched (whether or not they were failed).
    pub eligible: AtomicU64,
    pub forwarded: AtomicU64,
    pub injected: AtomicU64,
    /// `METHOD path?query` of every request, in arrival order.
    pub requests: Mutex<Vec<String>>,
}

pub struct FaultProxy {
    pub url: String,
    plan: Arc<Mutex<Plan>>,
    pub stats: Arc<ProxyStats>,
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
        let (thread_plan, thread_stats) = (plan.clone(), stats.clone());
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
                    let (client, upstream, plan, stats) = (client.clone(), upstream.clone(), thread_plan.clone(), thread_stats.clone());
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            handle(req, client.clone(), upstream.clone(), plan.clone(), stats.clone())
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
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Replaces the plan (takes effect for the next request).
    pub fn set_plan(&self, plan: Plan) {
        *self.plan.lock().unwrap() = plan;
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

async fn handle(
    req: Request<Incoming>,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    upstream: String,
    plan: Arc<Mutex<Plan>>,
    stats: Arc<ProxyStats>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
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
    let eligible = plan.only.is_none_or(|f| f(req.method(), &path));
    if eligible
        && fails(
            stats.eligible.fetch_add(1, Ordering::Relaxed),
            plan.error_rate,
        )
    {
        stats.injected.fetch_add(1, Ordering::Relaxed);
        // Drain the body so the client sees a clean answer, not a reset.
        let _ = req.into_body().collect().await;
        let mut response = Response::new(Full::new(Bytes::from(plan.body.clone())));
        *response.status_mut() =
            StatusCode::from_u16(plan.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        response
            .headers_mut()
            .insert("content-type", plan.content_type.parse().unwrap());
        return Ok(response);
    }
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
            if let (true, Some(rewrite)) = (eligible, plan.rewrite) {
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
