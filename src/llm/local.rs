//! Which server and model answer when dra is not sent to Databricks serving: `llm.base_url`
//! (`OPENAI_BASE_URL`) with `llm.model` (`OPENAI_MODEL`, `dra research --model`), else the
//! one model that server lists, else an Ollama on its default port.
//!
//! The shipped tiers name Databricks endpoints (`databricks-claude-haiku-4-5`, …), which a
//! local server does not know; sending them gets "model not found" on every call. So the
//! names are checked against the server's `GET /models` before the router is built.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use secrecy::ExposeSecret as _;
use serde::Deserialize;

use super::{EndpointConfig, LlmError, LlmSection};

/// Ollama's OpenAI-compatible API on its default port.
pub const OLLAMA_BASE_URL: &str = "http://127.0.0.1:11434/v1";

/// Where Ollama listens: `OLLAMA_HOST` as Ollama's own CLI reads it (`host`, `host:port`,
/// `:port` or a URL; `0.0.0.0` means this machine), else its default port.
pub fn ollama_base_url(ollama_host: Option<&str>) -> String {
    let Some(raw) = ollama_host.map(str::trim).filter(|h| !h.is_empty()) else {
        return OLLAMA_BASE_URL.to_string();
    };
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let Ok(mut url) = url::Url::parse(&with_scheme) else {
        return OLLAMA_BASE_URL.to_string();
    };
    if matches!(url.host_str(), None | Some("") | Some("0.0.0.0")) {
        let _ = url.set_host(Some("127.0.0.1"));
    }
    if url.port().is_none() && !raw.contains("://") {
        let _ = url.set_port(Some(11434));
    }
    format!("{}/v1", url.as_str().trim_end_matches('/'))
}

/// What was decided, for a one-line notice on stderr; `None` when the configuration was
/// used as it is.
pub type Notice = Option<String>;

/// Point the configuration at a server and a model that exist.
///
/// `databricks` is whether Databricks credentials resolve (the reason when not): with no
/// `llm.base_url` and no credentials, an Ollama at `ollama` ([`ollama_base_url`]) is used
/// when it answers.
pub async fn prepare(
    llm: &mut LlmSection,
    endpoints: &mut BTreeMap<String, EndpointConfig>,
    databricks: Result<(), String>,
    ollama: &str,
) -> Result<Notice, LlmError> {
    let mut notices = Vec::new();
    let base = match llm.base_url.clone() {
        Some(base) => base,
        None => {
            let why_not_databricks = match databricks {
                Ok(()) => return Ok(None),
                Err(why) => why,
            };
            match list_models(ollama, None, Duration::from_secs(2)).await {
                Ok(_) => {
                    notices.push(format!(
                        "no OPENAI_BASE_URL and no Databricks credentials: using Ollama at {ollama}"
                    ));
                    llm.base_url = Some(ollama.to_string());
                    ollama.to_string()
                }
                Err(why) => {
                    return Err(LlmError::Credentials(no_server_found(
                        &why_not_databricks,
                        ollama,
                        &why,
                    )))
                }
            }
        }
    };

    if let Some(model) = llm.model.clone().filter(|m| !m.trim().is_empty()) {
        set_every_endpoint(endpoints, model.trim());
        return Ok(join(notices));
    }
    let key = llm
        .api_key
        .as_ref()
        .map(|k| k.0.expose_secret().to_string());
    let served = match list_models(&base, key.as_deref(), Duration::from_secs(15)).await {
        Ok(served) => served,
        Err(e) if e.ends_with("answered 404 Not Found") => {
            // This server has no model list; the configured names may still be right.
            tracing::debug!("{base}/models: {e}; sending the configured endpoint names");
            return Ok(join(notices));
        }
        Err(e) => {
            tracing::warn!(
                "cannot list the models at {base}/models ({e}); sending the configured endpoint \
                 names (set OPENAI_MODEL or pass --model to name the model)"
            );
            return Ok(join(notices));
        }
    };
    let configured: BTreeSet<&str> = endpoints
        .values()
        .map(|ep| ep.endpoint_identifier.as_str())
        .collect();
    if configured.iter().all(|name| served.contains(*name)) {
        return Ok(join(notices));
    }
    match served.iter().collect::<Vec<_>>().as_slice() {
        [] => Err(LlmError::NotConfigured(format!(
            "the server at {base} lists no models (GET {base}/models): load or pull one \
             (Ollama: `ollama pull qwen3`), or set OPENAI_MODEL"
        ))),
        [only] => {
            notices.push(format!(
                "using model {only}, the one model {base} serves (OPENAI_MODEL or --model picks another)"
            ));
            set_every_endpoint(endpoints, only);
            Ok(join(notices))
        }
        several => Err(LlmError::NotConfigured(format!(
            "the server at {base} serves {} models and none is chosen: set OPENAI_MODEL or \
             pass --model with one of: {}",
            several.len(),
            several
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn set_every_endpoint(endpoints: &mut BTreeMap<String, EndpointConfig>, model: &str) {
    for ep in endpoints.values_mut() {
        ep.endpoint_identifier = model.to_string();
    }
}

fn join(notices: Vec<String>) -> Notice {
    (!notices.is_empty()).then(|| notices.join("\n"))
}

/// The error when no model server is configured or found: every option tried, in order,
/// with what to set.
fn no_server_found(databricks: &str, ollama: &str, why_not_ollama: &str) -> String {
    // The Databricks reason is a list of its own; indent it under its item.
    let databricks = databricks.replace('\n', "\n     ");
    format!(
        "no model server found. Tried, in order:\n  \
         1. an OpenAI-compatible server (Ollama, vLLM, OpenAI): OPENAI_BASE_URL is not set\n  \
         2. Databricks serving: {databricks}\n  \
         3. Ollama at {ollama} (OLLAMA_HOST): {why_not_ollama}\n\
         Set OPENAI_BASE_URL (and OPENAI_MODEL), or DATABRICKS_HOST and DATABRICKS_TOKEN, or \
         start Ollama (`ollama serve`)."
    )
}

#[derive(Deserialize)]
struct ModelList {
    data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ModelEntry {
    id: String,
}

/// The model ids `GET {base}/models` lists.
async fn list_models(
    base: &str,
    api_key: Option<&str>,
    timeout: Duration,
) -> Result<BTreeSet<String>, String> {
    let mut client = reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .user_agent(concat!("dra/", env!("CARGO_PKG_VERSION")));
    if is_loopback(base) {
        // A proxy cannot reach this machine's own ports.
        client = client.no_proxy();
    }
    let client = client.build().map_err(|e| e.to_string())?;
    let url = format!("{}/models", base.trim_end_matches('/'));
    let mut request = client.get(&url);
    if let Some(key) = api_key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.map_err(|e| {
        if e.is_connect() {
            "nothing answers there".to_string()
        } else {
            e.without_url().to_string()
        }
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("GET {url} answered {status}"));
    }
    let list: ModelList = response
        .json()
        .await
        .map_err(|e| format!("GET {url} gave no model list: {}", e.without_url()))?;
    Ok(list.data.into_iter().map(|m| m.id).collect())
}

fn is_loopback(base: &str) -> bool {
    url::Url::parse(base).is_ok_and(|u| crate::web::is_loopback(&u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_host_is_read_as_ollama_reads_it() {
        assert_eq!(ollama_base_url(None), "http://127.0.0.1:11434/v1");
        assert_eq!(ollama_base_url(Some("  ")), "http://127.0.0.1:11434/v1");
        assert_eq!(
            ollama_base_url(Some("0.0.0.0")),
            "http://127.0.0.1:11434/v1"
        );
        assert_eq!(ollama_base_url(Some("gpu-box")), "http://gpu-box:11434/v1");
        assert_eq!(
            ollama_base_url(Some("127.0.0.1:9999")),
            "http://127.0.0.1:9999/v1"
        );
        assert_eq!(
            ollama_base_url(Some("0.0.0.0:9999")),
            "http://127.0.0.1:9999/v1"
        );
        assert_eq!(
            ollama_base_url(Some("https://ollama.example.com")),
            "https://ollama.example.com/v1"
        );
    }

    #[test]
    fn loopback_bases_skip_the_proxy() {
        assert!(is_loopback("http://127.0.0.1:11434/v1"));
        assert!(is_loopback("http://localhost:8000/v1"));
        assert!(is_loopback("http://[::1]:8000/v1"));
        assert!(!is_loopback("https://api.openai.com/v1"));
        assert!(!is_loopback("not a url"));
    }

    #[test]
    fn the_no_server_error_lists_every_option_in_order() {
        let msg = no_server_found(
            "DATABRICKS_HOST is not set",
            OLLAMA_BASE_URL,
            "nothing answers there",
        );
        let at = |s: &str| msg.find(s).unwrap_or_else(|| panic!("{s} missing: {msg}"));
        assert!(at("OPENAI_BASE_URL is not set") < at("Databricks serving"));
        assert!(at("Databricks serving") < at("Ollama at"));
        assert!(msg.contains("OPENAI_MODEL") && msg.contains("DATABRICKS_TOKEN"));
    }
}
