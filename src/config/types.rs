//! The typed configuration sections. Every field has a default, so an empty file is valid.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct AppConfig {
    pub databricks: DatabricksSection,
    pub database: DatabaseSection,
    pub lakebase: LakebaseSection,
    /// Limits for fetching web pages.
    pub web: crate::web::WebConfig,
    /// Per-agent limits (the original's `agents`).
    pub agents: crate::research::config::AgentsConfig,
    /// One profile per research depth (the original's `research_types`).
    pub research_types: crate::research::config::ResearchTypes,
    /// simple / web_search / deep_research settings (the original's `query_modes`).
    pub query_modes: crate::research::config::QueryModes,
    /// Preview lengths (the original's `truncation`).
    pub truncation: crate::research::config::Truncation,
    pub search: crate::search::SearchConfig,
    /// The tier used when a caller names none (the original's `default_role`).
    pub default_role: String,
    /// Serving endpoints by id (the original's `endpoints`).
    pub endpoints: BTreeMap<String, crate::llm::EndpointConfig>,
    /// Model tiers by name (the original's `models`).
    pub models: BTreeMap<String, crate::llm::ModelRole>,
    /// Retry backoff (the original's `rate_limiting`).
    pub rate_limiting: crate::llm::RateLimiting,
    /// Where LLM requests go and how hard to try.
    pub llm: crate::llm::LlmSection,
    /// The embeddings endpoint for semantic evidence selection; unset = keywords only.
    pub embeddings: crate::llm::EmbeddingsSection,
    /// Span export over OTLP.
    pub tracing: TracingSection,
    /// How long `dra serve` keeps soft-deleted chats before purging them.
    pub retention: RetentionSection,
    /// The seven-stage citation verification (the original's `citation_verification`).
    pub citation_verification: crate::citations::config::CitationVerification,
    /// Durable research jobs of `dra serve` (the original's `jobs`).
    pub jobs: crate::jobs::JobsConfig,
    /// Per-user request limits of `dra serve` (ours; not the original's `rate_limiting`,
    /// which is the model calls' backoff).
    pub rate_limits: crate::serve::RateLimitsConfig,
    /// Client timeouts and the connection cap of `dra serve`.
    pub server: crate::serve::ServerConfig,
}

impl AppConfig {
    /// The model settings, borrowed.
    pub fn llm_settings(&self) -> crate::llm::LlmSettings<'_> {
        crate::llm::LlmSettings {
            default_role: &self.default_role,
            endpoints: &self.endpoints,
            models: &self.models,
            rate_limiting: &self.rate_limiting,
            llm: &self.llm,
        }
    }
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            databricks: DatabricksSection::default(),
            database: DatabaseSection::default(),
            lakebase: LakebaseSection::default(),
            default_role: "analytical".into(),
            endpoints: BTreeMap::new(),
            models: BTreeMap::new(),
            rate_limiting: crate::llm::RateLimiting::default(),
            llm: crate::llm::LlmSection::default(),
            embeddings: crate::llm::EmbeddingsSection::default(),
            search: crate::search::SearchConfig::default(),
            web: crate::web::WebConfig::default(),
            agents: crate::research::config::AgentsConfig::default(),
            research_types: crate::research::config::ResearchTypes::default(),
            query_modes: crate::research::config::QueryModes::default(),
            truncation: crate::research::config::Truncation::default(),
            tracing: TracingSection::default(),
            retention: RetentionSection::default(),
            citation_verification: Default::default(),
            jobs: Default::default(),
            rate_limits: Default::default(),
            server: Default::default(),
        }
    }
}

/// A secret from the configuration (an API key). It never prints: `Debug` and
/// serialisation (`dra config show`) show `[REDACTED]`, like the log scrubber.
#[derive(Clone)]
pub struct Secret(pub secrecy::SecretString);

impl Secret {
    /// Wrap a secret.
    pub fn new(value: &str) -> Secret {
        Secret(secrecy::SecretString::from(value.to_string()))
    }

    /// The secret itself, for a request header only.
    pub fn expose(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.0)
    }

    /// `None` for an empty secret (`api_key: ${KEY:-}` with the variable unset).
    pub fn non_empty(self) -> Option<Secret> {
        (!self.expose().trim().is_empty()).then_some(self)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Interpolation re-reads values as YAML scalars, so an all-digit key is a number.
        Ok(Secret::new(&StringLike::deserialize(d)?.0))
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[REDACTED]")
    }
}

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

/// Retention of soft-deleted data. A deleted chat can be restored until it is purged.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RetentionSection {
    /// A chat deleted longer ago than this is removed for good, with its messages.
    #[serde(with = "humantime_serde")]
    pub deleted_chats: Duration,
    /// How often `dra serve` looks for chats to purge (also once at start).
    #[serde(with = "humantime_serde")]
    pub purge_interval: Duration,
}

impl Default for RetentionSection {
    fn default() -> Self {
        RetentionSection {
            deleted_chats: Duration::from_secs(30 * 24 * 60 * 60),
            purge_interval: Duration::from_secs(60 * 60),
        }
    }
}

/// Databricks workspace settings that take precedence over environment variables.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct DatabricksSection {
    /// Workspace URL; when set, it is the host for every auth method.
    #[serde(deserialize_with = "opt_string")]
    pub host: Option<String>,
    /// A profile in `~/.databrickscfg`, used before any environment credentials.
    #[serde(deserialize_with = "opt_string")]
    pub profile: Option<String>,
}

/// How dra reaches PostgreSQL.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct DatabaseSection {
    /// Plain PostgreSQL URL (`postgres://`, `postgresql://` or `postgresql+asyncpg://`).
    /// When set, Lakebase is not used.
    pub url: Option<DatabaseUrl>,
    /// TLS mode for `database.url` when the URL has no `sslmode` (default `prefer`).
    /// Lakebase is always `verify-full` unless this is `disable`.
    pub sslmode: Option<SslMode>,
    /// PEM root certificate(s) to verify the server against (libpq's `sslrootcert`; the
    /// URL's `sslrootcert` wins; `system` means the web PKI roots). For Lakebase, extra
    /// roots beside the web PKI ones.
    pub ssl_root_cert: Option<PathBuf>,
    pub pool: PoolSection,
}

/// Connection pool limits.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct PoolSection {
    pub max_size: u32,
    pub min_idle: u32,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Connections are closed after this long, so none outlives the token it logged in with.
    #[serde(with = "humantime_serde")]
    pub max_lifetime: Duration,
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
}

impl Default for PoolSection {
    fn default() -> Self {
        Self {
            max_size: 10,
            min_idle: 0,
            connect_timeout: Duration::from_secs(10),
            max_lifetime: Duration::from_secs(45 * 60),
            idle_timeout: Duration::from_secs(10 * 60),
        }
    }
}

/// Lakebase (Databricks-managed PostgreSQL) settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct LakebaseSection {
    #[serde(deserialize_with = "opt_string")]
    pub instance_name: Option<String>,
    #[serde(deserialize_with = "string")]
    pub database: String,
    pub port: u16,
    /// Which PostgreSQL user name to log in as.
    pub user: PgUser,
    /// Refresh a credential this long before it expires.
    #[serde(with = "humantime_serde")]
    pub token_refresh_buffer: Duration,
    /// Assumed lifetime when the credentials API gives no usable `expiration_time`.
    #[serde(with = "humantime_serde")]
    pub default_token_lifetime: Duration,
}

impl Default for LakebaseSection {
    fn default() -> Self {
        Self {
            instance_name: None,
            database: "deep_research".into(),
            port: 5432,
            user: PgUser::Auto,
            token_refresh_buffer: Duration::from_secs(5 * 60),
            default_token_lifetime: Duration::from_secs(60 * 60),
        }
    }
}

/// The PostgreSQL role name used with a Lakebase credential.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PgUser {
    /// `PGUSER` if set, else the credential's JWT `sub`, else the SCIM `Me` user name
    /// (what the original's code does).
    #[default]
    Auto,
    /// The literal user `token` (what the original's deployment guide says).
    Token,
    /// A fixed role name.
    Named(String),
}

impl<'de> Deserialize<'de> for PgUser {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "auto" | "" => PgUser::Auto,
            "token" => PgUser::Token,
            _ => PgUser::Named(s),
        })
    }
}

impl Serialize for PgUser {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PgUser::Auto => s.serialize_str("auto"),
            PgUser::Token => s.serialize_str("token"),
            PgUser::Named(n) => s.serialize_str(n),
        }
    }
}

/// libpq's `sslmode` values, with libpq's meaning (see `db::tls` for how each is applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// Plain first; TLS only if the server refuses a plain connection.
    Allow,
    /// TLS when the server offers it, else plain; the certificate is not verified unless a
    /// root certificate is configured (then as `verify-ca`).
    Prefer,
    /// TLS or nothing; the certificate is not verified unless a root certificate is
    /// configured (then as `verify-ca`).
    Require,
    /// TLS with the certificate chain verified against the root certificate; any host name.
    VerifyCa,
    /// TLS with the certificate chain and the host name verified.
    VerifyFull,
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        })
    }
}

impl SslMode {
    /// Parse a libpq `sslmode` value.
    pub fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// A PostgreSQL URL. It can carry a password, so it prints with the password masked.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(url::Url);

impl DatabaseUrl {
    /// Parse a URL, accepting the original's `postgresql+asyncpg://` spelling.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let normalized = match raw.split_once("://") {
            Some(("postgres" | "postgresql" | "postgresql+asyncpg" | "postgres+asyncpg", rest)) => {
                format!("postgres://{rest}")
            }
            Some((scheme, _)) => {
                return Err(format!(
                    "unsupported scheme `{scheme}`: expected postgres://, postgresql:// or postgresql+asyncpg://"
                ))
            }
            None => return Err("expected a URL like postgres://user:pass@host:5432/dbname".into()),
        };
        let url = url::Url::parse(&normalized).map_err(|e| format!("not a valid URL: {e}"))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err("the URL has no host".into());
        }
        Ok(Self(url))
    }

    /// The parsed URL, password included: never log it.
    pub fn expose(&self) -> &url::Url {
        &self.0
    }

    /// The URL with its password replaced by `****`, for messages.
    pub fn redacted(&self) -> String {
        let mut u = self.0.clone();
        if u.password().is_some() {
            let _ = u.set_password(Some("****"));
        }
        u.to_string()
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        DatabaseUrl::parse(&raw).map_err(|e| {
            // The URL may hold a password: show it masked, never verbatim.
            let shown = crate::redact::scrub(&raw);
            serde::de::Error::custom(format!("`{shown}`: {e}"))
        })
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

/// Strings that YAML (or interpolation) may have typed as numbers or booleans, e.g. a
/// database called `2024`.
fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(StringLike::deserialize(d)?.0)
}

/// Optional strings that YAML may have typed as scalars; empty means absent.
pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<StringLike>::deserialize(d)?
        .map(|s| s.0)
        .filter(|s| !s.is_empty()))
}

struct StringLike(String);

impl<'de> Deserialize<'de> for StringLike {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            I(i64),
            F(f64),
            B(bool),
        }
        Raw::deserialize(d)
            .map(|r| {
                StringLike(match r {
                    Raw::S(s) => s,
                    Raw::I(i) => i.to_string(),
                    Raw::F(f) => f.to_string(),
                    Raw::B(b) => b.to_string(),
                })
            })
            .map_err(|_| serde::de::Error::custom("expected a string"))
    }
}
