//! A small REST client for the workspace APIs, with typed errors and retries on transient
//! failures (429, 5xx, connection errors).

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{AuthError, DatabricksAuth};

/// Failures of a workspace API call. Messages never include credentials.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{what} not found: {message}")]
    NotFound { what: String, message: String },
    #[error("{method} {path}: unauthorized (HTTP 401): {message}; check the credentials ({source_desc})")]
    Unauthorized {
        method: Method,
        path: String,
        message: String,
        source_desc: String,
    },
    #[error("{method} {path}: permission denied (HTTP 403): {message}")]
    PermissionDenied {
        method: Method,
        path: String,
        message: String,
    },
    #[error("{method} {path}: HTTP {status}{}: {message}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
    Status {
        method: Method,
        path: String,
        status: StatusCode,
        code: Option<String>,
        message: String,
    },
    #[error("{method} {path}: cannot reach the workspace: {message}")]
    Transport {
        method: Method,
        path: String,
        message: String,
    },
    #[error("{method} {path}: unexpected response: {message}")]
    Decode {
        method: Method,
        path: String,
        message: String,
    },
}

impl ApiError {
    /// Whether retrying the same request may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Transport { .. } => true,
            ApiError::Status { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
            }
            _ => false,
        }
    }
}

/// A client for one workspace, cheap to clone.
#[derive(Clone, Debug)]
pub struct WorkspaceClient {
    http: reqwest::Client,
    auth: Arc<DatabricksAuth>,
    retry: ExponentialBuilder,
}

/// Databricks REST error bodies.
#[derive(Deserialize, Default)]
struct ErrorBody {
    error_code: Option<String>,
    message: Option<String>,
    detail: Option<String>,
}

impl WorkspaceClient {
    /// A client that authenticates every request with `auth`.
    pub fn new(auth: Arc<DatabricksAuth>) -> WorkspaceClient {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("dra/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        WorkspaceClient {
            http,
            auth,
            retry: ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(10))
                .with_max_times(4)
                .with_jitter(),
        }
    }

    /// The credentials this client uses.
    pub fn auth(&self) -> &DatabricksAuth {
        &self.auth
    }

    /// `GET path`, decoded as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T, ApiError> {
        self.call::<(), T>(Method::GET, self.auth.host(), path, None, what, None)
            .await
    }

    /// `GET base + path` on another host of the workspace (an app's own URL), with the
    /// same credentials, retries and errors.
    pub async fn get_at<T: DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
        what: &str,
    ) -> Result<T, ApiError> {
        self.call::<(), T>(
            Method::GET,
            base.trim_end_matches('/'),
            path,
            None,
            what,
            None,
        )
        .await
    }

    /// `POST path` with a JSON body, decoded as `T`.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        what: &str,
    ) -> Result<T, ApiError> {
        self.call(Method::POST, self.auth.host(), path, Some(body), what, None)
            .await
    }

    /// `POST path` like [`WorkspaceClient::post`], each attempt limited to `timeout`
    /// instead of the client's 60 s: a model serving endpoint may think for longer, or
    /// should be given up on sooner.
    pub async fn post_with_timeout<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        what: &str,
        timeout: Duration,
    ) -> Result<T, ApiError> {
        let host = self.auth.host();
        self.call(Method::POST, host, path, Some(body), what, Some(timeout))
            .await
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        base: &str,
        path: &str,
        body: Option<&B>,
        what: &str,
        timeout: Option<Duration>,
    ) -> Result<T, ApiError> {
        (|| self.once(method.clone(), base, path, body, what, timeout))
            .retry(self.retry)
            .when(ApiError::is_transient)
            .notify(|e, after| tracing::warn!(error = %e, retry_in = ?after, "workspace API call failed; retrying"))
            .await
    }

    async fn once<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        base: &str,
        path: &str,
        body: Option<&B>,
        what: &str,
        timeout: Option<Duration>,
    ) -> Result<T, ApiError> {
        let token = self.auth.token().await?;
        let url = format!("{base}{path}");
        let mut req = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(token.expose_secret());
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        tracing::debug!(%method, path, "workspace API call");
        let resp = req.send().await.map_err(|e| ApiError::Transport {
            method: method.clone(),
            path: path.to_string(),
            message: e.without_url().to_string(),
        })?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| ApiError::Transport {
            method: method.clone(),
            path: path.to_string(),
            message: e.without_url().to_string(),
        })?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode {
                method,
                path: path.to_string(),
                message: e.to_string(),
            });
        }
        let err: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
        let message = err.message.or(err.detail).unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("no details")
                .to_string()
        });
        let path = path.to_string();
        Err(match status {
            StatusCode::NOT_FOUND => ApiError::NotFound {
                what: what.to_string(),
                message,
            },
            _ if err.error_code.as_deref() == Some("RESOURCE_DOES_NOT_EXIST") => {
                ApiError::NotFound {
                    what: what.to_string(),
                    message,
                }
            }
            StatusCode::UNAUTHORIZED => ApiError::Unauthorized {
                method,
                path,
                message,
                source_desc: self.auth.source().to_string(),
            },
            StatusCode::FORBIDDEN => ApiError::PermissionDenied {
                method,
                path,
                message,
            },
            _ => ApiError::Status {
                method,
                path,
                status,
                code: err.error_code,
                message,
            },
        })
    }
}
