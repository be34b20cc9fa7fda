//! Logging and tracing: tracing-subscriber to stderr (text or JSON, secrets scrubbed), and,
//! when an OTLP endpoint or MLflow is configured, the research spans exported over
//! OTLP/HTTP ([`mlflow`] for MLflow's variables, [`transport`] for how exports travel).

pub mod mlflow;
pub mod transport;

use std::collections::HashMap;
use std::io::{self, IsTerminal as _, Write};
use std::sync::Arc;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use serde::{Deserialize, Serialize};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::databricks::DatabricksAuth;
use crate::env::opt_string;
use mlflow::MlflowSettings;
use transport::Transport;

/// Span export over OTLP/HTTP. The `OTEL_EXPORTER_OTLP_*` variables take precedence.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct TracingSection {
    /// `false` ignores the `OTEL_EXPORTER_OTLP_*` variables and `otlp_endpoint`, for hosts
    /// whose environment is shared; `--otlp-endpoint` still exports.
    pub enabled: bool,
    /// OTLP/HTTP base URL; `/v1/traces` is appended (e.g. `http://localhost:4318`).
    #[serde(deserialize_with = "opt_string")]
    pub otlp_endpoint: Option<String>,
}

impl Default for TracingSection {
    fn default() -> Self {
        TracingSection {
            enabled: true,
            otlp_endpoint: None,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Invalid logging settings.
#[derive(Debug, thiserror::Error)]
#[error("invalid log level `{level}`: {message} (use error, warn, info, debug, trace, or a filter like `dra=debug,info`)")]
pub struct LogLevelError {
    level: String,
    message: String,
}

/// Why logging or span export could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(transparent)]
    LogLevel(#[from] LogLevelError),
    /// The URL is printed scrubbed: an endpoint may carry credentials in its user info.
    #[error("invalid OTLP endpoint `{endpoint}` (from {origin}): {message} (use an http:// or https:// URL such as http://localhost:4318)")]
    OtlpEndpoint {
        endpoint: String,
        origin: &'static str,
        message: String,
    },
    #[error("cannot set up the OTLP span exporter: {0}")]
    OtlpExporter(String),
}

/// Where spans go. Built by [`OtlpSettings::resolve`]; the default exports nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpSettings {
    /// The full traces URL (`…/v1/traces`); `None`: no exporter and no OpenTelemetry layer.
    pub traces_endpoint: Option<String>,
    /// Where the endpoint came from, for error messages.
    pub origin: &'static str,
    /// `service.name` of the exported resource.
    pub service_name: String,
    /// MLflow's variables, used when no OTLP endpoint is set.
    pub mlflow: Option<MlflowSettings>,
}

impl Default for OtlpSettings {
    fn default() -> Self {
        OtlpSettings {
            traces_endpoint: None,
            origin: "default",
            service_name: DEFAULT_SERVICE_NAME.into(),
            mlflow: None,
        }
    }
}

/// `service.name` unless `OTEL_SERVICE_NAME` says otherwise.
pub const DEFAULT_SERVICE_NAME: &str = "dra";

impl OtlpSettings {
    /// The export target from, highest first: `--otlp-endpoint`,
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is), `OTEL_EXPORTER_OTLP_ENDPOINT` and
    /// `tracing.otlp_endpoint` (both bases that get `/v1/traces`, as the OTLP spec says).
    /// Without any of them, MLflow's `MLFLOW_TRACKING_URI` (see [`mlflow`]).
    /// `tracing.enabled: false` silences the environment and the file, not the flag.
    pub fn resolve(
        flag: Option<&str>,
        env: &HashMap<String, String>,
        section: &TracingSection,
    ) -> OtlpSettings {
        let var = |k: &str| env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let service_name = var("OTEL_SERVICE_NAME")
            .unwrap_or(DEFAULT_SERVICE_NAME)
            .to_string();
        let from_config = section
            .otlp_endpoint
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty());
        let found = match flag.map(str::trim).filter(|v| !v.is_empty()) {
            Some(base) => Some((traces_url(base), "--otlp-endpoint")),
            None if !section.enabled => None,
            None => var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                .map(|url| (url.to_string(), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
                .or_else(|| {
                    var("OTEL_EXPORTER_OTLP_ENDPOINT")
                        .map(|base| (traces_url(base), "OTEL_EXPORTER_OTLP_ENDPOINT"))
                })
                .or_else(|| from_config.map(|base| (traces_url(base), "tracing.otlp_endpoint"))),
        };
        match found {
            Some((url, origin)) => OtlpSettings {
                traces_endpoint: Some(url),
                origin,
                service_name,
                mlflow: None,
            },
            None => OtlpSettings {
                service_name,
                mlflow: section
                    .enabled
                    .then(|| MlflowSettings::from_env(env))
                    .flatten(),
                ..OtlpSettings::default()
            },
        }
    }
}

/// What must outlive the command: the span exporter, flushed by [`Telemetry::shutdown`].
#[must_use = "call shutdown() before exiting, or buffered spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Export the spans still buffered and stop the exporter. A collector that cannot be
    /// reached costs a warning, never the command's result. Call it outside the async
    /// runtime: the exporter's HTTP client is a blocking one.
    pub fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // Shutdown alone swallows the last export's error; a flush reports it.
        if let Err(e) = provider.force_flush() {
            tracing::warn!(error = %e, "could not export trace spans to the OTLP endpoint");
        }
        if let Err(e) = provider.shutdown() {
            tracing::debug!(error = %e, "OTLP exporter shutdown");
        }
    }
}

/// Install the global subscriber. `level` is `--log-level`/`LOG_LEVEL`; when absent,
/// `RUST_LOG` is used, else `warn`. With an OTLP endpoint or MLflow, dra's spans are also
/// exported; the log level does not filter them. `databricks` gives the shared workspace
/// auth, asked for only when MLflow is `databricks`. Blocking (MLflow's experiment is
/// looked up): call it outside an async runtime. MLflow that cannot be reached is a
/// warning, never the command's failure.
pub fn init(
    level: Option<&str>,
    rust_log: Option<&str>,
    format: LogFormat,
    otlp: &OtlpSettings,
    databricks: impl FnOnce() -> Result<Arc<DatabricksAuth>, String>,
) -> Result<Telemetry, TelemetryError> {
    let filter = log_filter(level, rust_log)?;
    let mut unexported = None;
    let provider = match (&otlp.traces_endpoint, &otlp.mlflow) {
        (Some(url), _) => Some(exporter(url, otlp, Vec::new(), None)?),
        (None, Some(settings)) => match mlflow::resolve(settings, databricks) {
            Ok(target) => {
                let header = |name: &'static str, value: &str| {
                    http::HeaderValue::from_str(value)
                        .map(|v| (http::HeaderName::from_static(name), v))
                        .map_err(|e| TelemetryError::OtlpExporter(format!("{name}: {e}")))
                };
                let mut headers = vec![header("x-mlflow-experiment-id", &target.experiment_id)?];
                if let Some(table) = &target.uc_table {
                    headers.push(header("x-databricks-uc-table-name", table)?);
                }
                Some(exporter(
                    &target.traces_url,
                    otlp,
                    headers,
                    target.databricks,
                )?)
            }
            Err(e) => {
                unexported = Some(e);
                None
            }
        },
        (None, None) => None,
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(ScrubbingStderr)
        .with_ansi(colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        .with_target(true);
    let fmt = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
    };
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("dra"))
            .with_filter(filter_fn(is_exported))
    });
    let result = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel)
        .try_init();
    // A second init (tests) keeps the first subscriber; not an error worth failing on.
    drop(result);
    if let Some(e) = unexported {
        tracing::warn!("trace spans are not exported: {e}");
    }
    if format == LogFormat::Json {
        log_panics();
    }
    Ok(Telemetry { provider })
}

/// Panics as log lines: under `LOG_FORMAT=json` every stderr line must parse as JSON (log
/// shippers drop or mangle the rest), and a panic message can quote page text, so it goes
/// through the scrubbing writer like any log line. A panic caught inside a run (which ends
/// that run failed) is reported this way too.
fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = crate::research::run::panic_message(info.payload());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string();
        tracing::error!(target: "dra::panic", %location, %thread, "panicked: {message}");
    }));
}

/// Colour codes only for a person at a terminal: a log file or a pipe gets plain text, and
/// a non-empty `NO_COLOR` turns colour off everywhere (no-color.org).
fn colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Which callsites become exported spans: dra's own spans only. Events stay out, because
/// their fields are library text that only the log writer scrubs; other crates' spans
/// stay out to keep a trace readable.
pub fn is_exported(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_span() && (meta.target() == "dra" || meta.target().starts_with("dra::"))
}

fn log_filter(level: Option<&str>, rust_log: Option<&str>) -> Result<EnvFilter, LogLevelError> {
    let spec = level.or(rust_log).unwrap_or("warn");
    let normalized = if spec.chars().all(|c| c.is_ascii_alphabetic()) {
        // A bare level (the original's LOG_LEVEL values are upper case: INFO) is for dra's
        // own logs: libraries stay at warn, or one light run at debug writes hundreds of MB
        // of HTML-parser lines. A filter that names targets is taken as written.
        let level = spec.to_ascii_lowercase();
        match level.as_str() {
            "off" | "error" | "warn" => level,
            _ => format!("warn,dra={level}"),
        }
    } else {
        spec.to_string()
    };
    EnvFilter::try_new(&normalized).map_err(|e| LogLevelError {
        level: spec.to_string(),
        message: e.to_string(),
    })
}

/// A batch exporter to `url`. Headers (e.g. MLflow's experiment id and the Authorization
/// header) come from `OTEL_EXPORTER_OTLP_HEADERS` / `OTEL_EXPORTER_OTLP_TRACES_HEADERS`,
/// read by the exporter itself so their values never pass through dra's code or logs.
fn exporter(
    url: &str,
    otlp: &OtlpSettings,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    databricks: Option<Arc<DatabricksAuth>>,
) -> Result<SdkTracerProvider, TelemetryError> {
    let bad = |message: String| TelemetryError::OtlpEndpoint {
        endpoint: crate::redact::scrub(url).into_owned(),
        origin: otlp.origin,
        message,
    };
    let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(format!("unsupported scheme `{}`", parsed.scheme())));
    }
    let transport = Transport::new(&parsed, headers, databricks).map_err(bad)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(transport)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        .build()
        .map_err(|e| {
            TelemetryError::OtlpExporter(crate::redact::scrub(&e.to_string()).into_owned())
        })?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(otlp.service_name.clone())
                .build(),
        )
        .build())
}

/// `base` + `/v1/traces`, the OTLP/HTTP rule for a signal-less endpoint.
fn traces_url(base: &str) -> String {
    format!("{}/v1/traces", base.trim_end_matches('/'))
}

/// Writes log lines to stderr after scrubbing secrets.
#[derive(Clone, Copy)]
struct ScrubbingStderr;

struct ScrubbingWriter(io::Stderr);

impl Write for ScrubbingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(crate::redact::scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<'a> MakeWriter<'a> for ScrubbingStderr {
    type Writer = ScrubbingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbingWriter(io::stderr())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bare_level_is_for_dra_and_libraries_stay_at_warn() {
        let filter = |l: &str| super::log_filter(Some(l), None).unwrap().to_string();
        for (given, expected) in [
            ("debug", "warn,dra=debug"),
            ("INFO", "warn,dra=info"),
            ("trace", "warn,dra=trace"),
            ("error", "error"),
            ("warn", "warn"),
            ("dra=debug,selectors=trace", "dra=debug,selectors=trace"),
        ] {
            let got = filter(given);
            let mut want: Vec<&str> = expected.split(',').collect();
            let mut have: Vec<&str> = got.split(',').collect();
            want.sort_unstable();
            have.sort_unstable();
            assert_eq!(have, want, "{given}");
        }
    }

    #[test]
    fn colour_only_at_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(super::colour(true, None));
        assert!(super::colour(true, Some(OsStr::new(""))));
        assert!(!super::colour(true, Some(OsStr::new("1"))));
        assert!(!super::colour(false, None));
    }

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn section(enabled: bool, endpoint: Option<&str>) -> TracingSection {
        TracingSection {
            enabled,
            otlp_endpoint: endpoint.map(str::to_string),
        }
    }

    #[test]
    fn nothing_configured_means_no_exporter_and_the_default_service_name() {
        let s = OtlpSettings::resolve(None, &env(&[]), &TracingSection::default());
        assert_eq!(s, OtlpSettings::default());
        assert_eq!(s.service_name, "dra");
    }

    #[test]
    fn endpoints_resolve_flag_then_traces_var_then_base_var_then_file() {
        let file = section(true, Some("http://file:4318/"));
        let all = env(&[
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://traces:4318/custom",
            ),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"),
            ("OTEL_SERVICE_NAME", "research-app"),
        ]);
        let url = |flag, env: &HashMap<String, String>, file: &TracingSection| {
            OtlpSettings::resolve(flag, env, file).traces_endpoint
        };
        assert_eq!(
            url(Some("http://flag:4318"), &all, &file).as_deref(),
            Some("http://flag:4318/v1/traces")
        );
        assert_eq!(
            url(None, &all, &file).as_deref(),
            Some("http://traces:4318/custom"),
            "the per-signal variable is a full URL, used as is"
        );
        let base_only = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318/")]);
        assert_eq!(
            url(None, &base_only, &file).as_deref(),
            Some("http://base:4318/v1/traces")
        );
        assert_eq!(
            url(None, &env(&[]), &file).as_deref(),
            Some("http://file:4318/v1/traces")
        );
        assert_eq!(
            OtlpSettings::resolve(None, &all, &file).service_name,
            "research-app"
        );
    }

    #[test]
    fn disabled_in_the_file_ignores_the_environment_but_not_the_flag() {
        let off = section(false, Some("http://file:4318"));
        let vars = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318")]);
        assert_eq!(
            OtlpSettings::resolve(None, &vars, &off).traces_endpoint,
            None
        );
        assert_eq!(
            OtlpSettings::resolve(Some("http://flag:4318"), &vars, &off)
                .traces_endpoint
                .as_deref(),
            Some("http://flag:4318/v1/traces")
        );
    }

    #[test]
    fn a_malformed_endpoint_is_an_error_that_hides_credentials() {
        let settings = OtlpSettings {
            traces_endpoint: Some("ftp://user:hunter2@collector/v1/traces".into()),
            origin: "--otlp-endpoint",
            ..OtlpSettings::default()
        };
        let Err(e) = exporter(
            "ftp://user:hunter2@collector/v1/traces",
            &settings,
            Vec::new(),
            None,
        ) else {
            panic!("an ftp endpoint must be refused");
        };
        let text = e.to_string();
        assert!(text.contains("--otlp-endpoint"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
