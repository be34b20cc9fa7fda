//! Where and how to connect: a plain PostgreSQL URL, or a Lakebase instance following the
//! Databricks Apps conventions (`PGHOST`, `PGPORT`, `PGDATABASE`, `PGUSER`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use diesel_async::AsyncPgConnection;
use secrecy::{ExposeSecret, SecretString};

use super::config::{DatabaseUrl, DbSettings, PgUser, SslMode};
use super::tls::{self, TlsError, Verify};
use super::token::TokenProvider;
use super::DbError;
use crate::databricks::WorkspaceClient;
use crate::env::Env;

/// Which kind of database the configuration points at.
#[derive(Debug, Clone)]
pub enum Backend {
    /// `DATABASE_URL` / `database.url`.
    Url(DatabaseUrl),
    /// `LAKEBASE_INSTANCE_NAME` / `lakebase.instance_name`.
    Lakebase { instance: String },
}

impl Backend {
    /// The configured backend; a URL wins over Lakebase.
    pub fn from_config<'a>(config: impl Into<DbSettings<'a>>) -> Result<Backend, DbError> {
        let config = config.into();
        if let Some(url) = &config.database.url {
            return Ok(Backend::Url(url.clone()));
        }
        match &config.lakebase.instance_name {
            Some(instance) => Ok(Backend::Lakebase {
                instance: instance.clone(),
            }),
            None => Err(DbError::NotConfigured),
        }
    }
}

/// Everything needed to open a connection; the password comes from the provider each time.
#[derive(Clone)]
pub struct ConnectionTarget {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    /// The `sslmode` in effect: how TLS is negotiated.
    pub sslmode: SslMode,
    /// Which server certificates TLS accepts, resolved with libpq's rules.
    pub verify: Verify,
    pub connect_timeout: Duration,
    pub provider: Arc<TokenProvider>,
}

impl fmt::Debug for ConnectionTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionTarget({self})")
    }
}

impl fmt::Display for ConnectionTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{}:{}/{} (sslmode {})",
            self.user, self.host, self.port, self.database, self.sslmode
        )
    }
}

impl ConnectionTarget {
    /// A target from a PostgreSQL URL. TLS as libpq does it: the URL's `sslmode`, else
    /// `database.sslmode` (`PGSSLMODE`), else `prefer`; the URL's `sslrootcert`, else
    /// `database.ssl_root_cert` (`PGSSLROOTCERT`), else `$HOME/.postgresql/root.crt` from
    /// `env` when it exists.
    pub fn from_url<'a>(
        url: &DatabaseUrl,
        config: impl Into<DbSettings<'a>>,
        env: &Env,
    ) -> Result<ConnectionTarget, DbError> {
        let config = config.into();
        let u = url.expose();
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let mut sslmode = config.database.sslmode;
        let mut root_cert = config.database.ssl_root_cert.clone();
        for (k, v) in u.query_pairs() {
            match k.as_ref() {
                "sslmode" => {
                    sslmode = Some(SslMode::parse(&v).ok_or_else(|| DbError::Connect {
                        target: url.redacted(),
                        message: format!("unknown sslmode `{v}` (use disable, allow, prefer, require, verify-ca or verify-full)"),
                    })?)
                }
                "sslrootcert" => root_cert = Some(PathBuf::from(v.as_ref())),
                _ => {}
            }
        }
        let home = env.get("HOME").filter(|h| !h.is_empty()).map(Path::new);
        let (sslmode, verify) = tls::libpq_verification(sslmode, root_cert.as_deref(), home)
            .map_err(|error| DbError::Tls {
                target: url.redacted(),
                error,
            })?;
        let database = decode(u.path().trim_start_matches('/'));
        Ok(ConnectionTarget {
            host: u
                .host_str()
                .unwrap_or("localhost")
                .trim_matches(['[', ']'])
                .to_string(),
            port: u.port().unwrap_or(5432),
            database: if database.is_empty() {
                "postgres".into()
            } else {
                database
            },
            user: if u.username().is_empty() {
                "postgres".into()
            } else {
                decode(u.username())
            },
            sslmode,
            verify,
            connect_timeout: config.database.pool.connect_timeout,
            provider: Arc::new(TokenProvider::Static(
                u.password().map(|p| SecretString::from(decode(p))),
            )),
        })
    }

    /// A target for a Lakebase instance. Host: `PGHOST`, else the instance's
    /// `read_write_dns`; port: `PGPORT`, else `lakebase.port`; database: `PGDATABASE`, else
    /// `lakebase.database`; user per `lakebase.user`; TLS `verify-full` against the web PKI
    /// roots whatever `sslmode` says (see [`tls::lakebase_verification`]).
    pub async fn lakebase<'a>(
        client: &WorkspaceClient,
        instance: &str,
        config: impl Into<DbSettings<'a>>,
        env: &Env,
    ) -> Result<ConnectionTarget, DbError> {
        let config = config.into();
        let var = |k: &str| {
            env.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let lb = &config.lakebase;
        let provider = TokenProvider::lakebase(
            client.clone(),
            instance,
            lb.token_refresh_buffer,
            lb.default_token_lifetime,
        );
        let host = match var("PGHOST") {
            Some(h) => h,
            None => {
                let inst = client.database_instance(instance).await?;
                inst.read_write_dns
                    .clone()
                    .filter(|d| !d.is_empty())
                    .ok_or_else(|| DbError::NoDns {
                        instance: instance.to_string(),
                        state: inst.state.clone().unwrap_or_else(|| "unknown".into()),
                    })?
            }
        };
        let port = match var("PGPORT") {
            Some(p) => p.parse().map_err(|_| DbError::Connect {
                target: host.clone(),
                message: format!("PGPORT `{p}` is not a port number"),
            })?,
            None => lb.port,
        };
        let user = match &lb.user {
            PgUser::Token => "token".to_string(),
            PgUser::Named(n) => n.clone(),
            PgUser::Auto => match var("PGUSER") {
                Some(u) => u,
                None => auto_user(client, &provider).await?,
            },
        };
        let database = match var("PGDATABASE") {
            Some(injected) => {
                if injected != lb.database {
                    tracing::warn!(
                        pgdatabase = %injected,
                        lakebase_database = %lb.database,
                        "PGDATABASE (the app's database resource) differs from lakebase.database / LAKEBASE_DATABASE; using PGDATABASE"
                    );
                }
                injected
            }
            None => lb.database.clone(),
        };
        let (sslmode, verify) = tls::lakebase_verification(
            config.database.sslmode,
            config.database.ssl_root_cert.as_deref(),
        );
        Ok(ConnectionTarget {
            host,
            port,
            database,
            user,
            sslmode,
            verify,
            connect_timeout: config.database.pool.connect_timeout,
            provider,
        })
    }

    /// The same server and credentials, another database.
    pub fn with_database(&self, database: &str) -> ConnectionTarget {
        ConnectionTarget {
            database: database.to_string(),
            ..self.clone()
        }
    }

    /// Open one connection with a password from the provider, negotiating TLS as libpq does
    /// for `sslmode`.
    pub async fn connect(&self) -> Result<AsyncPgConnection, DbError> {
        Ok(self.connect_with_expiry().await?.0)
    }

    /// [`connect`](Self::connect), and when the credential it logged in with expires
    /// (`None` for a fixed password).
    pub async fn connect_with_expiry(
        &self,
    ) -> Result<(AsyncPgConnection, Option<chrono::DateTime<chrono::Utc>>), DbError> {
        let (password, expires_at) = self.provider.login().await?;
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.database)
            .application_name("dra")
            .connect_timeout(self.connect_timeout);
        if let Some(p) = &password {
            cfg.password(p.expose_secret());
        }
        let opened = match self.sslmode {
            SslMode::Disable => self.open(&cfg, Encryption::Off).await,
            // libpq retries with TLS when the server answers a plain start-up with an error;
            // only a pg_hba.conf refusal can depend on encryption, so only that is retried.
            SslMode::Allow => match self.open(&cfg, Encryption::Off).await {
                Err(Failure::Pg(e)) if refused_by_pg_hba(&e) => {
                    self.open(&cfg, Encryption::Required).await
                }
                other => other,
            },
            // A server without TLS is handled in the negotiation; libpq also retries without
            // TLS when the TLS attempt itself fails (a certificate rejected under a
            // configured root certificate, a handshake error) or pg_hba.conf refuses it.
            SslMode::Prefer => match self.open(&cfg, Encryption::IfOffered).await {
                Err(tls_failure) if tls_failure.plain_may_work() => {
                    let tls_failure = self.describe(tls_failure);
                    tracing::warn!(
                        target_db = %self,
                        error = %tls_failure,
                        "TLS connection failed; trying without TLS, as sslmode=prefer allows"
                    );
                    self.open(&cfg, Encryption::Off)
                        .await
                        .map_err(|plain| Failure::PlainAfterTls {
                            tls: tls_failure,
                            plain: Box::new(self.describe(plain)),
                        })
                }
                other => other,
            },
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                self.open(&cfg, Encryption::Required).await
            }
        };
        opened
            .map(|conn| (conn, expires_at))
            .map_err(|f| self.describe(f))
    }

    /// One connection attempt.
    async fn open(
        &self,
        cfg: &tokio_postgres::Config,
        encryption: Encryption,
    ) -> Result<AsyncPgConnection, Failure> {
        let mut cfg = cfg.clone();
        let mode = match encryption {
            Encryption::Off => {
                cfg.ssl_mode(tokio_postgres::config::SslMode::Disable);
                let (client, connection) = cfg
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(Failure::Pg)?;
                return AsyncPgConnection::try_from_client_and_connection(client, connection)
                    .await
                    .map_err(Failure::Setup);
            }
            Encryption::IfOffered => tokio_postgres::config::SslMode::Prefer,
            Encryption::Required => tokio_postgres::config::SslMode::Require,
        };
        cfg.ssl_mode(mode);
        let tls = tls::connector(&self.verify).map_err(Failure::Tls)?;
        let (client, connection) = cfg.connect(tls).await.map_err(Failure::Pg)?;
        AsyncPgConnection::try_from_client_and_connection(client, connection)
            .await
            .map_err(Failure::Setup)
    }

    /// The user-facing error for a failed attempt.
    fn describe(&self, failure: Failure) -> DbError {
        let target = self.to_string();
        match failure {
            Failure::Tls(error) => DbError::Tls { target, error },
            Failure::Pg(e) => match rustls_error(&e) {
                Some(rustls::Error::InvalidCertificate(cert_error)) => DbError::Tls {
                    target,
                    error: tls::rejected(self.sslmode, &self.verify, &self.host, cert_error),
                },
                _ => DbError::Connect {
                    target,
                    message: describe_pg_error(&e),
                },
            },
            Failure::Setup(e) => DbError::Connect {
                target,
                message: e.to_string(),
            },
            Failure::PlainAfterTls { tls, plain } => DbError::Connect {
                target,
                message: format!(
                    "with TLS: {}; then without TLS (sslmode=prefer): {}",
                    strip_target(&tls),
                    strip_target(&plain)
                ),
            },
        }
    }
}

/// How one connection attempt encrypts.
#[derive(Debug, Clone, Copy)]
enum Encryption {
    Off,
    /// TLS if the server agrees, else plain (the protocol's SSLRequest answered `N`).
    IfOffered,
    Required,
}

/// Why one attempt failed, kept typed until the retry decisions are made.
enum Failure {
    Tls(TlsError),
    Pg(tokio_postgres::Error),
    Setup(diesel::ConnectionError),
    /// `prefer`'s TLS attempt failed and so did the plain one.
    PlainAfterTls {
        tls: DbError,
        plain: Box<DbError>,
    },
}

impl Failure {
    /// Whether `prefer` should try again without TLS, as libpq does.
    fn plain_may_work(&self) -> bool {
        match self {
            Failure::Pg(e) => rustls_error(e).is_some() || refused_by_pg_hba(e),
            _ => false,
        }
    }
}

/// A pg_hba.conf refusal (`no pg_hba.conf entry …`, a `hostssl`/`hostnossl` mismatch among
/// them); a wrong password has its own code.
fn refused_by_pg_hba(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
}

/// The rustls error behind a failed TLS handshake. tokio-rustls wraps it in an
/// `io::Error`, whose `source()` skips it, so the I/O error's payload is looked into.
fn rustls_error(e: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(r) = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(r);
        }
        source = s.source();
    }
    None
}

/// An error's text without its "cannot connect to …:" prefix, to nest it in another.
fn strip_target(e: &DbError) -> String {
    match e {
        DbError::Connect { message, .. } => message.clone(),
        DbError::Tls { error, .. } => error.to_string(),
        other => other.to_string(),
    }
}

/// tokio-postgres puts the server's message in the source chain.
fn describe_pg_error(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    // tokio-postgres's wording when sslmode demands TLS of a server without it.
    if msg.contains("server does not support TLS") {
        msg.push_str(
            " (the server has ssl=off; use sslmode=prefer or disable to connect without TLS)",
        );
    }
    msg
}

/// The JWT `sub` of a fresh credential, else the SCIM `Me` user name.
async fn auto_user(client: &WorkspaceClient, provider: &TokenProvider) -> Result<String, DbError> {
    if let Some(token) = provider.password().await? {
        if let Some(sub) = jwt_subject(token.expose_secret()) {
            return Ok(sub);
        }
    }
    Ok(client.current_user().await?.user_name)
}

/// The `sub` claim of a JWT, without verifying it (we only need the name to log in with).
pub fn jwt_subject(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims
        .get("sub")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_subject_reads_sub_claim() {
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"sub":"me@example.com"}"#);
        assert_eq!(
            jwt_subject(&format!("h.{payload}.s")).as_deref(),
            Some("me@example.com")
        );
        assert_eq!(jwt_subject("not-a-jwt"), None);
        assert_eq!(jwt_subject("a.!!!.c"), None);
    }

    #[test]
    fn url_target_reads_parts_and_sslmode() {
        let url = DatabaseUrl::parse(
            "postgresql+asyncpg://u%40x:p%3Aw@db.example:6543/deep_research?sslmode=disable",
        )
        .unwrap();
        let t = ConnectionTarget::from_url(&url, &crate::config::AppConfig::default(), &Env::new())
            .unwrap();
        assert_eq!(
            (
                t.host.as_str(),
                t.port,
                t.database.as_str(),
                t.user.as_str()
            ),
            ("db.example", 6543, "deep_research", "u@x")
        );
        assert_eq!(t.sslmode, SslMode::Disable);
        assert!(!t.to_string().contains("p:w"));
    }
}
