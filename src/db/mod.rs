//! PostgreSQL access: the token provider, connection targets (plain URL or Lakebase), the
//! diesel-async pool, embedded migrations and the administrative operations the deploy
//! pipeline needs.

pub mod admin;
pub mod config;
pub mod event_log;
pub mod migrations;
pub mod pool;
pub mod record;
pub mod repo;
pub mod runs;
pub mod schema;
pub mod target;
pub mod tls;
pub mod token;
pub mod wait;

pub use pool::{build_pool, PgPool, PooledConn};
pub use target::ConnectionTarget;
pub use token::{Credential, TokenError, TokenProvider};

use crate::databricks::ApiError;

/// Database-layer failures. None carries a password or token.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "no database configured: set DATABASE_URL (or database.url) for plain PostgreSQL, \
         or LAKEBASE_INSTANCE_NAME (or lakebase.instance_name) with Databricks credentials for Lakebase"
    )]
    NotConfigured,
    #[error("Lakebase: {0}")]
    Api(Box<ApiError>),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("Lakebase instance `{instance}` has no read_write_dns yet (state {state}); wait until it is AVAILABLE (`dra wait-lakebase`)")]
    NoDns { instance: String, state: String },
    #[error("cannot connect to {target}: {message}")]
    Connect { target: String, message: String },
    /// A TLS setting that cannot work, or a server certificate that was rejected.
    #[error("cannot connect to {target}: {error}")]
    Tls {
        target: String,
        error: tls::TlsError,
    },
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("connection pool: {0}")]
    Pool(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("role `{0}` does not exist in this database")]
    NoSuchRole(String),
    /// Unknown, deleted, or another user's: the message does not say which.
    #[error("chat {0} not found")]
    ChatNotFound(repo::ChatId),
}

impl From<ApiError> for DbError {
    fn from(e: ApiError) -> Self {
        DbError::Api(Box::new(e))
    }
}
