//! A fake MLflow tracking server, as strict as MLflow 3's: its REST experiments API
//! (`get-by-name` answers 404 `RESOURCE_DOES_NOT_EXIST` for an unknown name, `create`
//! returns a new id) and OTLP at `/v1/traces`, which answers 422 without an
//! `x-mlflow-experiment-id` header or with an id it does not know. The same server plays a
//! Databricks workspace's OTLP ingestion (`/api/2.0/otel/v1/traces`, bearer token required).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::otlp::{decode, Export, ExportedSpan};

#[derive(Default)]
struct Store {
    /// Experiments by name, with their ids.
    experiments: BTreeMap<String, String>,
    /// REST calls as `METHOD path`, in order.
    calls: Vec<String>,
    exports: Vec<Export>,
    refused: Vec<(StatusCode, HeaderMap)>,
    /// Answer every export with this status (an overloaded or misconfigured server).
    refuse_exports: Option<StatusCode>,
    /// The bearer token the workspace endpoints require.
    token: Option<String>,
}

/// The running fake. Dropping it stops the server.
pub struct FakeMlflow {
    pub url: String,
    store: Arc<Mutex<Store>>,
    _server: super::server::Served,
}

impl FakeMlflow {
    pub async fn start() -> FakeMlflow {
        let store = Arc::new(Mutex::new(Store::default()));
        store
            .lock()
            .unwrap()
            .experiments
            .insert("Default".into(), "0".into());
        let app = Router::new()
            .route("/api/2.0/mlflow/experiments/get-by-name", get(get_by_name))
            .route("/api/2.0/mlflow/experiments/create", post(create))
            .route("/v1/traces", post(traces))
            .route("/api/2.0/otel/v1/traces", post(workspace_traces))
            .with_state(store.clone());
        let server = super::server::serve(app).await;
        FakeMlflow {
            url: server.url.clone(),
            store,
            _server: server,
        }
    }

    /// Play a workspace whose endpoints require `Authorization: Bearer <token>`.
    pub fn require_token(&self, token: &str) {
        self.store.lock().unwrap().token = Some(token.into());
    }

    /// Answer every export with `status`.
    pub fn refuse_exports(&self, status: StatusCode) {
        self.store.lock().unwrap().refuse_exports = Some(status);
    }

    pub fn experiment_id(&self, name: &str) -> Option<String> {
        self.store.lock().unwrap().experiments.get(name).cloned()
    }

    pub fn calls(&self) -> Vec<String> {
        self.store.lock().unwrap().calls.clone()
    }

    pub fn exports(&self) -> Vec<Export> {
        self.store.lock().unwrap().exports.clone()
    }

    /// Exports answered with an error, with their status.
    pub fn refused(&self) -> Vec<(StatusCode, HeaderMap)> {
        self.store.lock().unwrap().refused.clone()
    }

    pub fn spans(&self) -> Vec<ExportedSpan> {
        decode(&self.exports())
    }
}

type Shared = State<Arc<Mutex<Store>>>;

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error_code": code, "message": message})),
    )
        .into_response()
}

/// `None` when the request may go on; the 401 otherwise.
fn unauthorized(store: &Store, headers: &HeaderMap) -> Option<Response> {
    let token = store.token.as_deref()?;
    let sent = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    (sent != format!("Bearer {token}")).then(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Invalid access token.",
        )
    })
}

async fn get_by_name(
    State(store): Shared,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let mut store = store.lock().unwrap();
    store.calls.push("GET get-by-name".into());
    if let Some(refusal) = unauthorized(&store, &headers) {
        return refusal;
    }
    let name = q.get("experiment_name").cloned().unwrap_or_default();
    match store.experiments.get(&name) {
        Some(id) => Json(json!({"experiment": {
            "experiment_id": id, "name": name, "lifecycle_stage": "active"
        }}))
        .into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
            &format!("Could not find experiment with name '{name}'"),
        ),
    }
}

async fn create(State(store): Shared, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut store = store.lock().unwrap();
    store.calls.push("POST create".into());
    if let Some(refusal) = unauthorized(&store, &headers) {
        return refusal;
    }
    let Some(name) = body["name"].as_str().map(str::to_string) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "Missing value for required parameter 'name'.",
        );
    };
    if store.experiments.contains_key(&name) {
        return error(
            StatusCode::BAD_REQUEST,
            "RESOURCE_ALREADY_EXISTS",
            &format!("Experiment '{name}' already exists."),
        );
    }
    let id = (store.experiments.len() + 100).to_string();
    store.experiments.insert(name, id.clone());
    Json(json!({"experiment_id": id})).into_response()
}

fn accept(store: &mut Store, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(status) = store.refuse_exports {
        store.refused.push((status, headers));
        return error(status, "INTERNAL_ERROR", "The tracking store is read-only.");
    }
    let id = headers
        .get("x-mlflow-experiment-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let known = id
        .as_ref()
        .is_some_and(|id| store.experiments.values().any(|v| v == id));
    if !known {
        store
            .refused
            .push((StatusCode::UNPROCESSABLE_ENTITY, headers));
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_PARAMETER_VALUE",
            "Missing or unknown x-mlflow-experiment-id header",
        );
    }
    store.exports.push(Export { headers, body });
    // An empty ExportTraceServiceResponse.
    (StatusCode::OK, Vec::<u8>::new()).into_response()
}

async fn traces(State(store): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let mut store = store.lock().unwrap();
    accept(&mut store, headers, body)
}

async fn workspace_traces(State(store): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let mut store = store.lock().unwrap();
    if store.token.is_none() {
        return error(
            StatusCode::NOT_FOUND,
            "ENDPOINT_NOT_FOUND",
            "not a workspace",
        );
    }
    if let Some(refusal) = unauthorized(&store, &headers) {
        store.refused.push((StatusCode::UNAUTHORIZED, headers));
        return refusal;
    }
    accept(&mut store, headers, body)
}
