//! The `database:` and `lakebase:` sections: where PostgreSQL is and how the pool uses it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::env::{opt_string, string};

/// What the database layer reads of the configuration, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct DbSettings<'a> {
    pub database: &'a DatabaseSection,
    pub lakebase: &'a LakebaseSection,
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
