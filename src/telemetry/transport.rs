//! The span exporter's HTTP transport. Ours rather than the exporter's default client for
//! three reasons: a collector on loopback is never reached through `HTTP_PROXY` (other
//! hosts follow the proxy variables and `NO_PROXY`, as reqwest reads them); a Databricks
//! workspace gets a fresh token on every export (app tokens expire within the hour); and a
//! collector that keeps refusing is reported once, with its answer, not silently dropped.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response};
use opentelemetry_http::{HttpClient, HttpError};

use crate::databricks::DatabricksAuth;

/// How long one export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(30);

/// See the module documentation.
pub struct Transport {
    client: reqwest::blocking::Client,
    /// Sent with every export (MLflow's experiment id).
    headers: Vec<(HeaderName, HeaderValue)>,
    /// A Databricks workspace: `Authorization` comes from here on every export.
    databricks: Option<Arc<DatabricksAuth>>,
    /// For the token call only: the exporter runs on its own thread, outside any runtime.
    runtime: OnceLock<Option<tokio::runtime::Runtime>>,
    /// An export failed and was reported; the next failure is not, until one succeeds.
    failing: AtomicBool,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("databricks", &self.databricks.is_some())
            .finish()
    }
}

impl Transport {
    /// A transport for exports to `url`.
    pub fn new(
        url: &url::Url,
        headers: Vec<(HeaderName, HeaderValue)>,
        databricks: Option<Arc<DatabricksAuth>>,
    ) -> Result<Transport, String> {
        Ok(Transport {
            client: client_for(url)?,
            headers,
            databricks,
            runtime: OnceLock::new(),
            failing: AtomicBool::new(false),
        })
    }

    fn bearer(&self) -> Result<Option<String>, HttpError> {
        let Some(auth) = &self.databricks else {
            return Ok(None);
        };
        let runtime = self.runtime.get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()
        });
        let Some(runtime) = runtime else {
            return Err("cannot start the runtime for the Databricks token".into());
        };
        Ok(Some(bearer(auth, runtime)?))
    }

    fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let mut request: reqwest::blocking::Request = request.try_into()?;
        let headers = request.headers_mut();
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        if let Some(bearer) = self.bearer()? {
            let mut value = HeaderValue::from_str(&bearer)?;
            value.set_sensitive(true);
            headers.insert(http::header::AUTHORIZATION, value);
        }
        let response = self.client.execute(request)?;
        let status = response.status();
        let body = response.bytes()?;
        if !status.is_success() {
            let answer = String::from_utf8_lossy(&body);
            let answer = crate::text::clip(answer.trim(), 300);
            return Err(format!("the collector answered {status}: {answer}").into());
        }
        Ok(Response::builder().status(status).body(body)?)
    }
}

#[async_trait::async_trait]
impl HttpClient for Transport {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let url = crate::redact::scrub(&request.uri().to_string()).into_owned();
        match self.send(request) {
            Ok(response) => {
                self.failing.store(false, Ordering::Relaxed);
                Ok(response)
            }
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    let cause = crate::redact::scrub(&error_chain(e.as_ref())).into_owned();
                    tracing::warn!(
                        endpoint = %url,
                        "cannot export trace spans: {cause} (not repeated until an export succeeds)"
                    );
                }
                Err(e)
            }
        }
    }
}

/// `Bearer <token>` with the shared auth's current token, fetched on `runtime` (span
/// export and the experiment lookup run outside the command's runtime).
pub(super) fn bearer(
    auth: &DatabricksAuth,
    runtime: &tokio::runtime::Runtime,
) -> Result<String, crate::databricks::AuthError> {
    let token = runtime.block_on(auth.token())?;
    Ok(format!(
        "Bearer {}",
        secrecy::ExposeSecret::expose_secret(&token)
    ))
}

/// A blocking client that reaches a loopback collector directly, whatever the proxy
/// variables say (a proxy cannot reach this machine's own ports); other hosts follow them
/// (and `NO_PROXY`).
fn client_for(url: &url::Url) -> Result<reqwest::blocking::Client, String> {
    let mut builder = reqwest::blocking::Client::builder()
        .timeout(EXPORT_TIMEOUT)
        .user_agent(concat!("dra/", env!("CARGO_PKG_VERSION")));
    if crate::web::is_loopback(url) {
        builder = builder.no_proxy();
    }
    builder.build().map_err(|e| e.to_string())
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}
