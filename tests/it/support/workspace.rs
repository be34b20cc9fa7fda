//! A fake Databricks workspace: OIDC token endpoint, SCIM Me, Lakebase instances and
//! credentials, apps, MLflow, Vector Search queries and serving endpoint invocations
//! ([`ai`]). Every request is recorded; bearer tokens are checked.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use futures::future::BoxFuture;
use serde_json::{json, Value};

mod ai;
pub use ai::{invocations_of, queries_of, FakeIndex, Serving};

/// The PAT the fake accepts by default.
pub const PAT: &str = "dapi0123456789abcdef0123456789abcdef";
/// The user SCIM `Me` reports.
pub const ME: &str = "developer@example.com";

/// What the credentials endpoint puts in `expiration_time`.
#[derive(Clone, Debug)]
pub enum Expiry {
    /// now + this lifetime, RFC 3339.
    In(Duration),
    /// No field at all.
    Missing,
    /// A value that is not a timestamp.
    Garbage,
}

/// Produces the token (password) for each credential request; lets a test rotate a real
/// role's password.
pub type CredentialHook = Arc<dyn Fn() -> BoxFuture<'static, String> + Send + Sync>;

/// A recorded request.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct Instance {
    /// States reported by successive GETs; the last one repeats.
    states: VecDeque<String>,
    read_write_dns: String,
}

struct Inner {
    bearers: Mutex<HashSet<String>>,
    m2m_clients: Mutex<HashMap<String, String>>,
    m2m_lifetime: Mutex<Duration>,
    oidc_calls: AtomicUsize,
    instances: Mutex<HashMap<String, Instance>>,
    credential_calls: AtomicUsize,
    credential_expiry: Mutex<Expiry>,
    credential_delay: Mutex<Duration>,
    credential_sub: Mutex<String>,
    credential_hook: Mutex<Option<CredentialHook>>,
    apps: Mutex<HashMap<String, Value>>,
    /// What creating instances and apps does (`bundle deploy` through a fake CLI).
    provisioning: Mutex<Option<Provisioning>>,
    /// What each app's `/logz/batch` answers (the apps' URLs point back at this server).
    app_logs: Mutex<HashMap<String, Value>>,
    requests: Mutex<Vec<Recorded>>,
    /// MLflow experiments by name, with their ids.
    experiments: Mutex<HashMap<String, String>>,
    /// What the workspace's OTLP ingestion (`/api/2.0/otel/v1/traces`) accepted.
    otlp_exports: Mutex<Vec<super::otlp::Export>>,
    /// Vector Search indexes by full name.
    vector_indexes: Mutex<HashMap<String, FakeIndex>>,
    /// Model serving endpoints by name.
    serving_endpoints: Mutex<HashMap<String, Serving>>,
}

/// A running fake workspace. Dropping it stops the server.
pub struct FakeWorkspace {
    pub url: String,
    inner: Arc<Inner>,
    _server: super::server::Served,
}

impl FakeWorkspace {
    /// Start on a free loopback port. Accepts [`PAT`].
    pub async fn start() -> FakeWorkspace {
        let inner = Arc::new(Inner {
            bearers: Mutex::new(HashSet::from([PAT.to_string()])),
            m2m_clients: Mutex::new(HashMap::new()),
            m2m_lifetime: Mutex::new(Duration::from_secs(3600)),
            oidc_calls: AtomicUsize::new(0),
            instances: Mutex::new(HashMap::new()),
            credential_calls: AtomicUsize::new(0),
            credential_expiry: Mutex::new(Expiry::In(Duration::from_secs(3600))),
            credential_delay: Mutex::new(Duration::ZERO),
            credential_sub: Mutex::new(ME.to_string()),
            credential_hook: Mutex::new(None),
            apps: Mutex::new(HashMap::new()),
            provisioning: Mutex::new(None),
            app_logs: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            experiments: Mutex::new(HashMap::new()),
            otlp_exports: Mutex::new(Vec::new()),
            vector_indexes: Mutex::new(HashMap::new()),
            serving_endpoints: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/oidc/v1/token", post(oidc_token))
            .route("/api/2.0/preview/scim/v2/Me", get(me))
            .route("/api/2.0/database/instances/{name}", get(instance))
            .route("/api/2.0/database/credentials", post(credentials))
            .route("/api/2.0/database/instances", post(instance_create))
            .route("/api/2.0/apps", post(app_create))
            .route("/api/2.0/apps/{name}", get(app_get).patch(app_update))
            .route("/api/2.0/apps/{name}/deployments", post(app_deploy))
            .route("/apps/{name}/logz/batch", get(app_logz))
            .route(
                "/api/2.0/mlflow/experiments/get-by-name",
                get(experiment_by_name),
            )
            .route(
                "/api/2.0/mlflow/experiments/create",
                post(experiment_create),
            )
            .route("/api/2.0/otel/v1/traces", post(otlp_traces))
            .route(
                "/api/2.0/vector-search/indexes/{name}/query",
                post(ai::vector_query),
            )
            .route(
                "/serving-endpoints/{name}/invocations",
                post(ai::invocations),
            )
            .with_state(inner.clone());
        let server = super::server::serve(app).await;
        FakeWorkspace {
            url: server.url.clone(),
            inner,
            _server: server,
        }
    }

    /// Accept OAuth M2M logins for this client; issued tokens live `lifetime`.
    pub fn with_m2m_client(self, id: &str, secret: &str, lifetime: Duration) -> Self {
        self.inner
            .m2m_clients
            .lock()
            .unwrap()
            .insert(id.into(), secret.into());
        *self.inner.m2m_lifetime.lock().unwrap() = lifetime;
        self
    }

    /// Accept an extra bearer token (e.g. what a fake CLI prints).
    pub fn accept_bearer(&self, token: &str) {
        self.inner.bearers.lock().unwrap().insert(token.into());
    }

    /// Add a Lakebase instance reporting `states` in turn (the last repeats).
    pub fn with_instance(self, name: &str, states: &[&str], read_write_dns: &str) -> Self {
        self.inner.instances.lock().unwrap().insert(
            name.into(),
            Instance {
                states: states.iter().map(|s| s.to_string()).collect(),
                read_write_dns: read_write_dns.into(),
            },
        );
        self
    }

    /// An app served by this fake (its URL is `{url}/apps/{name}`) whose `/logz/batch`
    /// answers `logs`; set them again to make new lines appear.
    pub fn with_app_logs(self, name: &str, logs: Value) -> Self {
        self.inner.apps.lock().unwrap().insert(
            name.into(),
            json!({"name": name, "url": format!("{}/apps/{name}", self.url)}),
        );
        self.set_app_logs(name, logs);
        self
    }

    pub fn set_app_logs(&self, name: &str, logs: Value) {
        self.inner
            .app_logs
            .lock()
            .unwrap()
            .insert(name.into(), logs);
    }

    /// Add an app whose service principal has this client id.
    pub fn with_app(self, name: &str, sp_client_id: &str) -> Self {
        self.inner.apps.lock().unwrap().insert(
            name.into(),
            json!({
                "name": name,
                "service_principal_id": 4242,
                "service_principal_client_id": sp_client_id,
                "service_principal_name": format!("app-{name}"),
                "url": format!("https://{name}.example.databricksapps.com"),
            }),
        );
        self
    }

    /// Let clients create instances and apps the way `databricks bundle deploy` does:
    /// a new instance starts (two STARTING reads, then AVAILABLE at `read_write_dns`); a
    /// new app gets a service principal with client id `sp_client_id`, whose PostgreSQL
    /// role is created (LOGIN) on the server at `role_admin_url` once the app has a
    /// database resource, as the platform does for Lakebase.
    pub fn with_provisioning(
        self,
        read_write_dns: &str,
        sp_client_id: &str,
        role_admin_url: &str,
    ) -> Self {
        *self.inner.provisioning.lock().unwrap() = Some(Provisioning {
            read_write_dns: read_write_dns.into(),
            sp_client_id: sp_client_id.into(),
            role_admin_url: role_admin_url.into(),
        });
        self
    }

    /// An app as the workspace stores it.
    pub fn app(&self, name: &str) -> Option<Value> {
        self.inner.apps.lock().unwrap().get(name).cloned()
    }

    pub fn set_credential_expiry(&self, e: Expiry) {
        *self.inner.credential_expiry.lock().unwrap() = e;
    }

    /// Slow the credentials endpoint down (to make concurrent callers overlap).
    pub fn set_credential_delay(&self, d: Duration) {
        *self.inner.credential_delay.lock().unwrap() = d;
    }

    /// The JWT subject of issued credentials.
    pub fn set_credential_subject(&self, sub: &str) {
        *self.inner.credential_sub.lock().unwrap() = sub.into();
    }

    /// Let the test decide each credential's token (and rotate a real password).
    pub fn set_credential_hook(&self, hook: CredentialHook) {
        *self.inner.credential_hook.lock().unwrap() = Some(hook);
    }

    pub fn oidc_calls(&self) -> usize {
        self.inner.oidc_calls.load(Ordering::SeqCst)
    }

    pub fn credential_calls(&self) -> usize {
        self.inner.credential_calls.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.requests.lock().unwrap().clone()
    }

    /// Span exports the workspace's OTLP ingestion accepted.
    pub fn otlp_exports(&self) -> Vec<super::otlp::Export> {
        self.inner.otlp_exports.lock().unwrap().clone()
    }

    pub fn experiment_id(&self, name: &str) -> Option<String> {
        self.inner.experiments.lock().unwrap().get(name).cloned()
    }
}

async fn experiment_by_name(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let path = "/api/2.0/mlflow/experiments/get-by-name";
    if let Err(r) = authorized(&s, "GET", path, &headers, json!(q)) {
        return r;
    }
    let name = q.get("experiment_name").cloned().unwrap_or_default();
    match s.experiments.lock().unwrap().get(&name) {
        Some(id) => {
            Json(json!({"experiment": {"experiment_id": id, "name": name}})).into_response()
        }
        None => not_found(format!("Node named '{name}' does not exist.")),
    }
}

async fn experiment_create(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let path = "/api/2.0/mlflow/experiments/create";
    if let Err(r) = authorized(&s, "POST", path, &headers, body.clone()) {
        return r;
    }
    let name = body["name"].as_str().unwrap_or_default().to_string();
    let mut experiments = s.experiments.lock().unwrap();
    let id = format!("{}", 1_000_000 + experiments.len());
    experiments.insert(name, id.clone());
    Json(json!({"experiment_id": id})).into_response()
}

async fn otlp_traces(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = authorized(&s, "POST", "/api/2.0/otel/v1/traces", &headers, Value::Null) {
        return r;
    }
    let known = headers
        .get("x-mlflow-experiment-id")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|id| s.experiments.lock().unwrap().values().any(|v| v == id));
    if !known {
        return api_error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "Missing or unknown x-mlflow-experiment-id header",
        );
    }
    s.otlp_exports
        .lock()
        .unwrap()
        .push(super::otlp::Export { headers, body });
    (StatusCode::OK, Vec::<u8>::new()).into_response()
}

#[derive(Clone)]
struct Provisioning {
    read_write_dns: String,
    sp_client_id: String,
    role_admin_url: String,
}

/// A JWT-shaped token (unsigned) with the given subject.
pub fn jwt(sub: &str, nonce: &str) -> String {
    let enc = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        enc(json!({"alg": "none", "typ": "JWT"})),
        enc(json!({"sub": sub, "nonce": nonce})),
        "c2ln"
    )
}

fn record(s: &Inner, method: &str, path: &str, headers: &HeaderMap, body: Value) {
    s.requests.lock().unwrap().push(Recorded {
        method: method.into(),
        path: path.into(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body,
    });
}

/// Record the request, then check its bearer token.
#[allow(clippy::result_large_err)] // a test double; the response is the error
fn authorized(
    s: &Inner,
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: Value,
) -> Result<(), Response> {
    record(s, method, path, headers, body);
    check_bearer(s, headers)
}

/// An error in the workspace API's shape.
fn api_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error_code": code, "message": message.into()})),
    )
        .into_response()
}

fn not_found(message: String) -> Response {
    api_error(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", message)
}

#[allow(clippy::result_large_err)] // a test double; the response is the error
fn check_bearer(s: &Inner, headers: &HeaderMap) -> Result<(), Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if s.bearers.lock().unwrap().contains(token) {
        Ok(())
    } else {
        Err((
            StatusCode::UNAUTHORIZED,
            Json(json!({"error_code": "UNAUTHENTICATED", "message": "Invalid access token."})),
        )
            .into_response())
    }
}

async fn oidc_token(State(s): State<Arc<Inner>>, headers: HeaderMap, body: String) -> Response {
    record(
        &s,
        "POST",
        "/oidc/v1/token",
        &headers,
        Value::String(body.clone()),
    );
    let creds = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let ok = creds
        .as_deref()
        .and_then(|c| c.split_once(':'))
        .is_some_and(|(id, secret)| {
            s.m2m_clients
                .lock()
                .unwrap()
                .get(id)
                .is_some_and(|x| x == secret)
        });
    if !ok || !body.contains("grant_type=client_credentials") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client", "error_description": "Client authentication failed"})),
        )
            .into_response();
    }
    let n = s.oidc_calls.fetch_add(1, Ordering::SeqCst) + 1;
    let token = format!("m2m-token-{n}");
    s.bearers.lock().unwrap().insert(token.clone());
    let lifetime = *s.m2m_lifetime.lock().unwrap();
    Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": lifetime.as_secs()}))
        .into_response()
}

async fn me(State(s): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(
        &s,
        "GET",
        "/api/2.0/preview/scim/v2/Me",
        &headers,
        Value::Null,
    ) {
        return r;
    }
    Json(json!({"userName": ME, "id": "1234"})).into_response()
}

async fn instance(
    State(s): State<Arc<Inner>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorized(
        &s,
        "GET",
        &format!("/api/2.0/database/instances/{name}"),
        &headers,
        Value::Null,
    ) {
        return r;
    }
    let mut instances = s.instances.lock().unwrap();
    let Some(inst) = instances.get_mut(&name) else {
        return not_found(format!("Database instance '{name}' does not exist."));
    };
    let state = if inst.states.len() > 1 {
        inst.states.pop_front().unwrap_or_default()
    } else {
        inst.states
            .front()
            .cloned()
            .unwrap_or_else(|| "AVAILABLE".into())
    };
    let dns = if state == "AVAILABLE" {
        json!(inst.read_write_dns)
    } else {
        Value::Null
    };
    Json(json!({
        "name": name,
        "state": state,
        "capacity": "CU_1",
        "uid": "6f0e2c1a-aaaa-bbbb-cccc-3a5d7e9f0a1b",
        "read_write_dns": dns,
    }))
    .into_response()
}

async fn credentials(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Err(r) = authorized(
        &s,
        "POST",
        "/api/2.0/database/credentials",
        &headers,
        body.clone(),
    ) {
        return r;
    }
    let names = body["instance_names"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if names.is_empty() || body["request_id"].as_str().is_none_or(str::is_empty) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error_code": "INVALID_PARAMETER_VALUE", "message": "instance_names and request_id are required"})),
        )
            .into_response();
    }
    for n in &names {
        let n = n.as_str().unwrap_or_default();
        if !s.instances.lock().unwrap().contains_key(n) {
            return not_found(format!("Database instance '{n}' does not exist."));
        }
    }
    let delay = *s.credential_delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let n = s.credential_calls.fetch_add(1, Ordering::SeqCst) + 1;
    let hook = s.credential_hook.lock().unwrap().clone();
    let token = match hook {
        Some(h) => h().await,
        None => jwt(&s.credential_sub.lock().unwrap(), &n.to_string()),
    };
    let expiry = s.credential_expiry.lock().unwrap().clone();
    let mut out = json!({"token": token});
    match expiry {
        Expiry::In(d) => {
            out["expiration_time"] = json!((chrono::Utc::now()
                + chrono::Duration::from_std(d).unwrap())
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        }
        Expiry::Missing => {}
        Expiry::Garbage => out["expiration_time"] = json!("next tuesday"),
    }
    Json(out).into_response()
}

async fn app_get(
    State(s): State<Arc<Inner>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let found = s.apps.lock().unwrap().get(&name).cloned();
    authorized_get(
        &s,
        &format!("/api/2.0/apps/{name}"),
        &headers,
        found,
        || format!("App with name {name} does not exist or is deleted."),
    )
}

async fn app_logz(
    State(s): State<Arc<Inner>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let found = s.app_logs.lock().unwrap().get(&name).cloned();
    authorized_get(
        &s,
        &format!("/apps/{name}/logz/batch"),
        &headers,
        found,
        || format!("no app {name}"),
    )
}

/// A GET of a stored value: 401 without a valid bearer, else the value or a 404.
fn authorized_get(
    s: &Inner,
    path: &str,
    headers: &HeaderMap,
    found: Option<Value>,
    missing: impl FnOnce() -> String,
) -> Response {
    if let Err(r) = authorized(s, "GET", path, headers, Value::Null) {
        return r;
    }
    match found {
        Some(v) => Json(v).into_response(),
        None => not_found(missing()),
    }
}

fn conflict(message: String) -> Response {
    api_error(StatusCode::CONFLICT, "RESOURCE_ALREADY_EXISTS", message)
}

fn missing_name() -> Response {
    api_error(
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "name is required",
    )
}

/// Record and authorize a provisioning request; what provisioning does.
#[allow(clippy::result_large_err)] // a test double; the response is the error
fn provisioning(
    s: &Inner,
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: &Value,
) -> Result<Provisioning, Response> {
    authorized(s, method, path, headers, body.clone())?;
    s.provisioning.lock().unwrap().clone().ok_or_else(|| {
        api_error(
            StatusCode::NOT_IMPLEMENTED,
            "NOT_IMPLEMENTED",
            "this fake workspace provisions nothing (with_provisioning)",
        )
    })
}

async fn instance_create(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let p = match provisioning(&s, "POST", "/api/2.0/database/instances", &headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(name) = body["name"].as_str().filter(|n| !n.is_empty()) else {
        return missing_name();
    };
    let mut instances = s.instances.lock().unwrap();
    if instances.contains_key(name) {
        return conflict(format!("Database instance '{name}' already exists."));
    }
    instances.insert(
        name.into(),
        Instance {
            states: ["STARTING", "STARTING", "AVAILABLE"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            read_write_dns: p.read_write_dns,
        },
    );
    Json(json!({"name": name, "state": "STARTING", "capacity": body["capacity"]})).into_response()
}

async fn app_create(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let p = match provisioning(&s, "POST", "/api/2.0/apps", &headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let name = body["name"].as_str().unwrap_or_default().to_string();
    if name.is_empty() {
        return missing_name();
    }
    let app = {
        let mut apps = s.apps.lock().unwrap();
        if apps.contains_key(&name) {
            return conflict(format!("An app with name {name} already exists."));
        }
        let app = json!({
            "name": name,
            "service_principal_id": 4242,
            "service_principal_client_id": p.sp_client_id,
            "service_principal_name": format!("app-{name}"),
            "url": format!("https://{name}.example.databricksapps.com"),
            "resources": body["resources"],
            "compute_status": {"state": "ACTIVE"},
            "app_status": {"state": "UNAVAILABLE", "message": "App has not been deployed yet."},
        });
        apps.insert(name, app.clone());
        app
    };
    if let Err(r) = ensure_app_role(&p, &app).await {
        return r;
    }
    Json(app).into_response()
}

async fn app_update(
    State(s): State<Arc<Inner>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let path = format!("/api/2.0/apps/{name}");
    let p = match provisioning(&s, "PATCH", &path, &headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let app = {
        let mut apps = s.apps.lock().unwrap();
        let Some(app) = apps.get_mut(&name) else {
            return not_found(format!(
                "App with name {name} does not exist or is deleted."
            ));
        };
        if !body["resources"].is_null() {
            app["resources"] = body["resources"].clone();
        }
        app.clone()
    };
    if let Err(r) = ensure_app_role(&p, &app).await {
        return r;
    }
    Json(app).into_response()
}

async fn app_deploy(
    State(s): State<Arc<Inner>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let path = format!("/api/2.0/apps/{name}/deployments");
    if let Err(r) = authorized(&s, "POST", &path, &headers, body.clone()) {
        return r;
    }
    let mut apps = s.apps.lock().unwrap();
    let Some(app) = apps.get_mut(&name) else {
        return not_found(format!(
            "App with name {name} does not exist or is deleted."
        ));
    };
    let n = app["deployments"].as_u64().unwrap_or(0) + 1;
    app["deployments"] = json!(n);
    app["app_status"] = json!({"state": "RUNNING", "message": "App is running"});
    app["active_deployment"] = json!({
        "deployment_id": format!("dep-{n}"),
        "source_code_path": body["source_code_path"],
        "status": {"state": "SUCCEEDED"},
    });
    Json(app["active_deployment"].clone()).into_response()
}

/// The platform creates a Lakebase role for the app's service principal once the app has
/// a database resource.
#[allow(clippy::result_large_err)] // a test double; the response is the error
async fn ensure_app_role(p: &Provisioning, app: &Value) -> Result<(), Response> {
    let has_database = app["resources"]
        .as_array()
        .is_some_and(|rs| rs.iter().any(|r| r["database"].is_object()));
    if !has_database {
        return Ok(());
    }
    let client = super::pg::connect(&p.role_admin_url).await;
    let role = p.sp_client_id.replace('"', "\"\"");
    let exists = client
        .query_opt(
            "SELECT 1 FROM pg_roles WHERE rolname = $1",
            &[&p.sp_client_id],
        )
        .await
        .map_err(|e| server_error(e.to_string()))?
        .is_some();
    if !exists {
        client
            .batch_execute(&format!("CREATE ROLE \"{role}\" LOGIN"))
            .await
            .map_err(|e| server_error(e.to_string()))?;
    }
    Ok(())
}

fn server_error(message: String) -> Response {
    api_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", message)
}
