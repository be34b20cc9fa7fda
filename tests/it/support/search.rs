//! Fake search providers on loopback: Brave's `/res/v1/web/search` (checks the subscription
//! token) and SearXNG's `/search`. Answers come from the recorded fixtures in
//! `tests/fixtures/search/`; faults (429 with `Retry-After`, 5xx) can be queued in front of
//! them. Every request is recorded with its arrival time.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

/// The subscription token the fake Brave accepts.
pub const BRAVE_KEY: &str = "BSA-test-key-0123456789abcdef";

/// A recorded request.
#[derive(Clone, Debug)]
pub struct SearchRequest {
    /// When the fake received it (the rate-limit test compares these).
    pub at: Instant,
    pub path: String,
    pub params: HashMap<String, String>,
    pub token: Option<String>,
    pub accept: Option<String>,
}

/// A fault served instead of the normal answer.
#[derive(Clone, Debug)]
pub enum Fault {
    /// HTTP 429, with this `Retry-After` value when given.
    RateLimited(Option<String>),
    /// Any status with a Brave-style error body.
    Status(u16),
}

struct Inner {
    brave_body: Mutex<Value>,
    searxng_body: Mutex<Value>,
    faults: Mutex<VecDeque<Fault>>,
    /// Served once the queue is empty, forever (a persistent fault).
    persistent: Mutex<Option<Fault>>,
    requests: Mutex<Vec<SearchRequest>>,
    /// Every Brave answer waits this long (a fixed provider latency).
    latency: Mutex<Duration>,
    /// Computes Brave's answer from the query text, instead of `brave_body`.
    brave_answer: Mutex<Option<BraveAnswer>>,
}

/// Computes a Brave answer body from the query text.
pub type BraveAnswer = Arc<dyn Fn(&str) -> Value + Send + Sync>;

/// A running fake; dropping it stops the server.
pub struct FakeSearch {
    pub url: String,
    inner: Arc<Inner>,
    _server: super::server::Served,
}

/// A fixture from `tests/fixtures/search/`.
pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/search/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("read search fixture");
    serde_json::from_str(&text).expect("search fixture is JSON")
}

impl FakeSearch {
    /// Start on a free loopback port, answering with the recorded fixtures.
    pub async fn start() -> FakeSearch {
        let inner = Arc::new(Inner {
            brave_body: Mutex::new(fixture("brave-web.json")),
            searxng_body: Mutex::new(fixture("searxng.json")),
            faults: Mutex::new(VecDeque::new()),
            persistent: Mutex::new(None),
            requests: Mutex::new(Vec::new()),
            latency: Mutex::new(Duration::ZERO),
            brave_answer: Mutex::new(None),
        });
        let app = Router::new()
            .route("/res/v1/web/search", get(brave))
            .route("/search", get(searxng))
            .with_state(inner.clone());
        let server = super::server::serve(app).await;
        FakeSearch {
            url: server.url.clone(),
            inner,
            _server: server,
        }
    }

    /// Serve `fault` to the next request (faults queue up in order).
    pub fn fail_next(&self, fault: Fault) {
        self.inner.faults.lock().unwrap().push_back(fault);
    }

    /// Serve `fault` to every request after the queued ones.
    pub fn fail_always(&self, fault: Fault) {
        *self.inner.persistent.lock().unwrap() = Some(fault);
    }

    /// Replace Brave's answer.
    pub fn set_brave_body(&self, body: Value) {
        *self.inner.brave_body.lock().unwrap() = body;
    }

    /// Answer every Brave request after `d`.
    pub fn latency(&self, d: Duration) {
        *self.inner.latency.lock().unwrap() = d;
    }

    /// Answer each Brave query with `f(query text)` (distinct hits per query).
    pub fn answer_with(&self, f: impl Fn(&str) -> Value + Send + Sync + 'static) {
        *self.inner.brave_answer.lock().unwrap() = Some(Arc::new(f));
    }

    pub fn requests(&self) -> Vec<SearchRequest> {
        self.inner.requests.lock().unwrap().clone()
    }
}

fn record(s: &Inner, path: &str, headers: &HeaderMap, params: HashMap<String, String>) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    s.requests.lock().unwrap().push(SearchRequest {
        at: Instant::now(),
        path: path.into(),
        params,
        token: header("x-subscription-token"),
        accept: header("accept"),
    });
}

fn next_fault(s: &Inner) -> Option<Fault> {
    let queued = s.faults.lock().unwrap().pop_front();
    queued.or_else(|| s.persistent.lock().unwrap().clone())
}

fn fault_response(f: Fault) -> Response {
    match f {
        Fault::RateLimited(retry_after) => {
            let body = Json(
                json!({"type": "ErrorResponse", "error": {"code": "RATE_LIMITED", "detail": "Request rate limit exceeded for plan.", "status": 429}}),
            );
            match retry_after {
                Some(v) => {
                    (StatusCode::TOO_MANY_REQUESTS, [("retry-after", v)], body).into_response()
                }
                None => (StatusCode::TOO_MANY_REQUESTS, body).into_response(),
            }
        }
        Fault::Status(code) => {
            let status = StatusCode::from_u16(code).expect("valid status");
            (
                status,
                Json(json!({"type": "ErrorResponse", "error": {"code": "SERVER_ERROR", "detail": "Something went wrong upstream.", "status": code}})),
            )
                .into_response()
        }
    }
}

async fn brave(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let query = params.get("q").cloned().unwrap_or_default();
    record(&s, "/res/v1/web/search", &headers, params);
    let latency = *s.latency.lock().unwrap();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let token = headers
        .get("x-subscription-token")
        .and_then(|v| v.to_str().ok());
    if token != Some(BRAVE_KEY) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"type": "ErrorResponse", "error": {"code": "SUBSCRIPTION_TOKEN_INVALID", "detail": "The provided subscription token is invalid.", "status": 401}})),
        )
            .into_response();
    }
    if let Some(f) = next_fault(&s) {
        return fault_response(f);
    }
    let answer = s.brave_answer.lock().unwrap().clone();
    match answer {
        Some(f) => Json(f(&query)).into_response(),
        None => Json(s.brave_body.lock().unwrap().clone()).into_response(),
    }
}

async fn searxng(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let json_format = params.get("format").map(String::as_str) == Some("json");
    record(&s, "/search", &headers, params);
    // What a real instance does when JSON output is not enabled or not asked for.
    if !json_format {
        return (StatusCode::FORBIDDEN, "403 Forbidden").into_response();
    }
    if let Some(f) = next_fault(&s) {
        return fault_response(f);
    }
    Json(s.searxng_body.lock().unwrap().clone()).into_response()
}

impl FakeSearch {
    /// Brave answers every query with hits at these page-server paths.
    pub fn serve_pages(&self, pages: &super::PageServer, paths: &[&str]) {
        self.set_brave_body(brave_hits(pages, paths));
    }

    /// Configuration and environment that point Brave at this fake: no retries, 10 requests/s.
    pub fn brave_config(&self) -> (dra::config::AppConfig, dra::config::Env) {
        let env: dra::config::Env = [
            ("BRAVE_BASE_URL", self.url.clone()),
            ("BRAVE_API_KEY", BRAVE_KEY.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let yaml =
            "search:\n  retries: 0\n  retry_delay: 10ms\n  brave:\n    requests_per_second: 10\n";
        let config = dra::config::load_str(yaml, std::path::Path::new("test.yaml"), &env)
            .expect("config loads")
            .config;
        (config, env)
    }
}

/// A Brave answer whose hits are these page-server paths.
pub fn brave_hits(pages: &super::PageServer, paths: &[&str]) -> Value {
    let results: Vec<Value> = paths
        .iter()
        .map(|p| {
            json!({
                "title": format!("Page {p}"),
                "url": pages.url(p),
                "description": format!("Snippet of {p}"),
            })
        })
        .collect();
    json!({"type": "search", "web": {"type": "search", "results": results}})
}

/// A search provider with a bug: every query panics, as a stage hitting an unexpected
/// input would. For tests of panic isolation.
#[derive(Debug)]
pub struct PanickingSearch;

#[async_trait::async_trait]
impl dra::search::SearchProvider for PanickingSearch {
    fn kind(&self) -> dra::search::ProviderKind {
        dra::search::ProviderKind::Brave
    }

    async fn search(
        &self,
        _query: &dra::search::SearchQuery,
    ) -> Result<Vec<dra::search::SearchHit>, dra::search::SearchError> {
        panic!("search provider bug: end byte index 113 is not a char boundary")
    }
}
