//! Where and how to connect: a plain PostgreSQL URL, or a Lakebase instance following the
//! Databricks Apps conventions (`PGHOST`, `PGPORT`, `PGDATABASE`, `PGUSER`).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use diesel_async::AsyncPgConnection;
use secrecy::{ExposeSecret, SecretString};

use super::token::TokenProvider;
use super::{tls, DbError};
use crate::config::{AppConfig, DatabaseUrl, Env, PgUser, SslMode};
use crate::databricks::WorkspaceClient;

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
    pub fn from_config(config: &AppConfig) -> Result<Backend, DbError> {
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
    pub sslmode: SslMode,
    pub root_cert: Option<PathBuf>,
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
    /// A target from a PostgreSQL URL. TLS: the URL's `sslmode`, else `database.sslmode`
    /// (`PGSSLMODE`), else `prefer`.
    pub fn from_url(url: &DatabaseUrl, config: &AppConfig) -> Result<ConnectionTarget, DbError> {
        let u = url.expose();
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let mut sslmode = config.database.sslmode.unwrap_or(SslMode::Prefer);
        let mut root_cert = config.database.ssl_root_cert.clone();
        for (k, v) in u.query_pairs() {
            match k.as_ref() {
                "sslmode" => {
                    sslmode = SslMode::parse(&v).ok_or_else(|| DbError::Connect {
                        target: url.redacted(),
                        message: format!("unknown sslmode `{v}` (use disable, prefer, require, verify-ca or verify-full)"),
                    })?
                }
                "sslrootcert" => root_cert = Some(PathBuf::from(v.as_ref())),
                _ => {}
            }
        }
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
            root_cert,
            connect_timeout: config.database.pool.connect_timeout,
            provider: Arc::new(TokenProvider::Static(
                u.password().map(|p| SecretString::from(decode(p))),
            )),
        })
    }

    /// A target for a Lakebase instance. Host: `PGHOST`, else the instance's
    /// `read_write_dns`; port: `PGPORT`, else `lakebase.port`; database: `PGDATABASE`, else
    /// `lakebase.database`; user per `lakebase.user`; TLS `require` unless configured.
    pub async fn lakebase(
        client: &WorkspaceClient,
        instance: &str,
        config: &AppConfig,
        env: &Env,
    ) -> Result<ConnectionTarget, DbError> {
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
        Ok(ConnectionTarget {
            host,
            port,
            database,
            user,
            sslmode: config.database.sslmode.unwrap_or(SslMode::Require),
            root_cert: config.database.ssl_root_cert.clone(),
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

    /// Open one connection with a password from the provider.
    pub async fn connect(&self) -> Result<AsyncPgConnection, DbError> {
        let password = self.provider.password().await?;
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.database)
            .application_name("dra")
            .connect_timeout(self.connect_timeout)
            .ssl_mode(match self.sslmode {
                SslMode::Disable => tokio_postgres::config::SslMode::Disable,
                SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                    tokio_postgres::config::SslMode::Require
                }
            });
        if let Some(p) = &password {
            cfg.password(p.expose_secret());
        }
        let fail = |message: String| DbError::Connect {
            target: self.to_string(),
            message,
        };
        let conn = if self.sslmode == SslMode::Disable {
            let (client, connection) = cfg
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(|e| fail(describe_pg_error(&e)))?;
            AsyncPgConnection::try_from_client_and_connection(client, connection).await
        } else {
            let (client, connection) = cfg
                .connect(tls::connector(self.root_cert.as_deref())?)
                .await
                .map_err(|e| fail(describe_pg_error(&e)))?;
            AsyncPgConnection::try_from_client_and_connection(client, connection).await
        };
        conn.map_err(|e| fail(e.to_string()))
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
        let t = ConnectionTarget::from_url(&url, &AppConfig::default()).unwrap();
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
