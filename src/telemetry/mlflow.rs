//! MLflow as the span destination, set the way MLflow's own clients are:
//! `MLFLOW_TRACKING_URI` (an MLflow server's URL, or `databricks` for the workspace the app
//! runs in) and `MLFLOW_EXPERIMENT_ID` or `MLFLOW_EXPERIMENT_NAME`.
//!
//! An MLflow server takes OTLP at `{uri}/v1/traces` and files the spans under the
//! experiment named by the `x-mlflow-experiment-id` header (without it, 422). A name is
//! looked up through the REST API (`experiments/get-by-name`) and created when missing,
//! as `mlflow.set_experiment` does. A Databricks workspace takes OTLP at
//! `/api/2.0/otel/v1/traces` with a bearer token, fetched fresh for every export.

use std::sync::Arc;

use serde_json::Value;

use crate::databricks::DatabricksAuth;
use crate::env::Env;

/// The tracking server's path for OTLP.
const SERVER_TRACES_PATH: &str = "/v1/traces";
/// A Databricks workspace's path for OTLP.
const WORKSPACE_TRACES_PATH: &str = "/api/2.0/otel/v1/traces";
/// The experiment MLflow files runs under when none is named.
const DEFAULT_EXPERIMENT_ID: &str = "0";
/// The spans table MLflow creates in a Unity Catalog trace destination (its
/// `UCSchemaLocation` default), named to the workspace in `X-Databricks-UC-Table-Name`.
const UC_SPANS_TABLE: &str = "mlflow_experiment_trace_otel_spans";

/// Where MLflow is, as the environment says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlflowSettings {
    pub tracking: Tracking,
    pub experiment: Experiment,
    /// `MLFLOW_TRACING_DESTINATION=<catalog>.<schema>`: a Unity Catalog trace location,
    /// where a workspace's OTLP ingestion writes the spans.
    pub uc_schema: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tracking {
    /// An MLflow tracking server (`http(s)://…`).
    Server(String),
    /// `databricks` (or `databricks://profile`): the workspace of the shared Databricks auth.
    Databricks,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Experiment {
    Id(String),
    Name(String),
    /// Neither variable: MLflow's Default experiment.
    Default,
}

impl MlflowSettings {
    /// `None` unless `MLFLOW_TRACKING_URI` names a server or `databricks`; local file
    /// stores (`file:`, `sqlite:`, a path) take no spans over HTTP.
    pub fn from_env(env: &Env) -> Option<MlflowSettings> {
        let var = |k: &str| env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let uri = var("MLFLOW_TRACKING_URI")?;
        let tracking = if uri == "databricks" || uri.starts_with("databricks://") {
            Tracking::Databricks
        } else if uri.starts_with("http://") || uri.starts_with("https://") {
            Tracking::Server(uri.trim_end_matches('/').to_string())
        } else {
            return None;
        };
        // As MLflow reads it: an experiment id, or `<catalog>.<schema>`.
        let destination = var("MLFLOW_TRACING_DESTINATION");
        let uc_schema = destination
            .filter(|d| d.split('.').count() == 2 && !d.split('.').any(str::is_empty))
            .map(str::to_string);
        let destined_id = destination.filter(|d| d.chars().all(|c| c.is_ascii_digit()));
        let experiment = match (
            destined_id.or(var("MLFLOW_EXPERIMENT_ID")),
            var("MLFLOW_EXPERIMENT_NAME"),
        ) {
            (Some(id), _) => Experiment::Id(id.to_string()),
            (None, Some(name)) => Experiment::Name(name.to_string()),
            (None, None) => Experiment::Default,
        };
        Some(MlflowSettings {
            tracking,
            experiment,
            uc_schema,
        })
    }

    /// Where the variables come from, for messages.
    pub fn origin(&self) -> &'static str {
        "MLFLOW_TRACKING_URI"
    }
}

/// An export target resolved over the network: the traces URL, the experiment's id and,
/// for a workspace, its auth.
pub struct Resolved {
    pub traces_url: String,
    pub experiment_id: String,
    /// The Unity Catalog spans table a workspace writes to (`X-Databricks-UC-Table-Name`).
    pub uc_table: Option<String>,
    pub databricks: Option<Arc<DatabricksAuth>>,
}

/// Why MLflow cannot take spans.
#[derive(Debug, thiserror::Error)]
pub enum MlflowError {
    #[error("MLFLOW_TRACKING_URI=databricks needs Databricks credentials: {0}")]
    Auth(String),
    #[error("cannot reach MLflow at {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("MLflow refused {what}: {message}")]
    Refused { what: String, message: String },
}

/// Resolve `settings` into an export target. Blocking: call it outside an async runtime.
/// `databricks` is asked for the shared auth only for `databricks`.
pub fn resolve(
    settings: &MlflowSettings,
    databricks: impl FnOnce() -> Result<Arc<DatabricksAuth>, String>,
) -> Result<Resolved, MlflowError> {
    let (base, auth, traces_path) = match &settings.tracking {
        Tracking::Server(url) => (url.clone(), None, SERVER_TRACES_PATH),
        Tracking::Databricks => {
            let auth = databricks().map_err(MlflowError::Auth)?;
            let host = auth.host().trim_end_matches('/').to_string();
            (host, Some(auth), WORKSPACE_TRACES_PATH)
        }
    };
    let experiment_id = match &settings.experiment {
        Experiment::Id(id) => id.clone(),
        Experiment::Default => DEFAULT_EXPERIMENT_ID.into(),
        Experiment::Name(name) => Api::new(&base, auth.clone())?.experiment_id(name)?,
    };
    let uc_table = match (&settings.tracking, &settings.uc_schema) {
        (Tracking::Databricks, Some(schema)) => Some(format!("{schema}.{UC_SPANS_TABLE}")),
        _ => None,
    };
    Ok(Resolved {
        traces_url: format!("{base}{traces_path}"),
        experiment_id,
        uc_table,
        databricks: auth,
    })
}

/// MLflow's REST API, as much as finding an experiment takes.
struct Api {
    base: String,
    client: reqwest::blocking::Client,
    bearer: Option<String>,
}

impl Api {
    fn new(base: &str, auth: Option<Arc<DatabricksAuth>>) -> Result<Api, MlflowError> {
        let unreachable = |message: String| MlflowError::Unreachable {
            url: crate::redact::scrub(base).into_owned(),
            message,
        };
        let url = url::Url::parse(base).map_err(|e| unreachable(e.to_string()))?;
        // Short: the lookup runs before the command starts (a server's health check waits).
        let mut builder = reqwest::blocking::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(3))
            .timeout(std::time::Duration::from_secs(8))
            .user_agent(concat!("dra/", env!("CARGO_PKG_VERSION")));
        if crate::web::is_loopback(&url) {
            builder = builder.no_proxy();
        }
        let client = builder.build().map_err(|e| unreachable(e.to_string()))?;
        let bearer = match auth {
            Some(auth) => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| unreachable(e.to_string()))?;
                Some(
                    super::transport::bearer(&auth, &runtime)
                        .map_err(|e| MlflowError::Auth(e.to_string()))?,
                )
            }
            None => None,
        };
        Ok(Api {
            base: base.to_string(),
            client,
            bearer,
        })
    }

    /// The id of the experiment called `name`, created when there is none.
    fn experiment_id(&self, name: &str) -> Result<String, MlflowError> {
        let found = self.call(
            self.client
                .get(format!(
                    "{}/api/2.0/mlflow/experiments/get-by-name",
                    self.base
                ))
                .query(&[("experiment_name", name)]),
            &format!("looking up experiment `{name}`"),
        );
        match found {
            Ok(body) => id_in(&body["experiment"]["experiment_id"], name),
            Err(Call::Refused(status, body))
                if status == reqwest::StatusCode::NOT_FOUND
                    || body["error_code"] == "RESOURCE_DOES_NOT_EXIST" =>
            {
                let created = self
                    .call(
                        self.client
                            .post(format!("{}/api/2.0/mlflow/experiments/create", self.base))
                            .json(&serde_json::json!({"name": name})),
                        &format!("creating experiment `{name}`"),
                    )
                    .map_err(|c| {
                        c.into_error(&self.base, &format!("creating experiment `{name}`"))
                    })?;
                id_in(&created["experiment_id"], name)
            }
            Err(c) => Err(c.into_error(&self.base, &format!("looking up experiment `{name}`"))),
        }
    }

    fn call(&self, request: reqwest::blocking::RequestBuilder, _what: &str) -> Result<Value, Call> {
        let request = match &self.bearer {
            Some(b) => request.header(reqwest::header::AUTHORIZATION, b),
            None => request,
        };
        let response = request
            .send()
            .map_err(|e| Call::Unreachable(e.to_string()))?;
        let status = response.status();
        let body: Value = response.json().unwrap_or(Value::Null);
        if status.is_success() {
            Ok(body)
        } else {
            Err(Call::Refused(status, body))
        }
    }
}

enum Call {
    Unreachable(String),
    Refused(reqwest::StatusCode, Value),
}

impl Call {
    fn into_error(self, base: &str, what: &str) -> MlflowError {
        match self {
            Call::Unreachable(message) => MlflowError::Unreachable {
                url: crate::redact::scrub(base).into_owned(),
                message: crate::redact::scrub(&message).into_owned(),
            },
            Call::Refused(status, body) => MlflowError::Refused {
                what: what.to_string(),
                message: match body["message"].as_str() {
                    Some(m) => format!("{status}: {}", crate::text::clip(m, 300)),
                    None => status.to_string(),
                },
            },
        }
    }
}

fn id_in(v: &Value, name: &str) -> Result<String, MlflowError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| MlflowError::Refused {
            what: format!("experiment `{name}`"),
            message: "the answer holds no experiment_id".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_tracking_uri_and_experiment_come_from_mlflows_own_variables() {
        assert_eq!(MlflowSettings::from_env(&env(&[])), None);
        assert_eq!(
            MlflowSettings::from_env(&env(&[("MLFLOW_TRACKING_URI", "file:///tmp/mlruns")])),
            None,
            "a local store takes no spans over HTTP"
        );
        assert_eq!(
            MlflowSettings::from_env(&env(&[
                ("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000/"),
                ("MLFLOW_EXPERIMENT_NAME", "dra"),
            ])),
            Some(MlflowSettings {
                tracking: Tracking::Server("http://127.0.0.1:5000".into()),
                experiment: Experiment::Name("dra".into()),
                uc_schema: None,
            })
        );
        assert_eq!(
            MlflowSettings::from_env(&env(&[
                ("MLFLOW_TRACKING_URI", "databricks"),
                ("MLFLOW_EXPERIMENT_ID", "123"),
                ("MLFLOW_EXPERIMENT_NAME", "/Shared/x"),
            ])),
            Some(MlflowSettings {
                tracking: Tracking::Databricks,
                experiment: Experiment::Id("123".into()),
                uc_schema: None,
            }),
            "an id wins over a name"
        );
        let destined = |d: &str| {
            MlflowSettings::from_env(&env(&[
                ("MLFLOW_TRACKING_URI", "databricks"),
                ("MLFLOW_EXPERIMENT_NAME", "/Shared/x"),
                ("MLFLOW_TRACING_DESTINATION", d),
            ]))
            .unwrap()
        };
        assert_eq!(
            destined("main.traces").uc_schema.as_deref(),
            Some("main.traces")
        );
        assert_eq!(
            destined("main.traces").experiment,
            Experiment::Name("/Shared/x".into())
        );
        assert_eq!(destined("42").experiment, Experiment::Id("42".into()));
        assert_eq!(destined("42").uc_schema, None);
        assert_eq!(
            destined("a.b.c").uc_schema,
            None,
            "a schema is catalog.schema"
        );
    }
}
