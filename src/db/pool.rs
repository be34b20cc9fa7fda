//! The one diesel-async connection pool. Every NEW connection asks the token provider for
//! its password, so a long-running server keeps working across credential rotations, and
//! no connection outlives the credential it logged in with: each is retired a little
//! before that credential expires, and the pool's maximum lifetime is kept below the
//! credential's lifetime, so idle connections are closed too.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bb8::{ErrorSink, ManageConnection, Pool, PooledConnection};
use chrono::{DateTime, Utc};
use diesel::ConnectionError;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, PoolError};
use diesel_async::AsyncPgConnection;

use super::{ConnectionTarget, DbError};
use crate::db::config::PoolSection;

/// The shared pool. Cheap to clone.
#[derive(Clone)]
pub struct PgPool {
    inner: Pool<Manager>,
    target: Arc<ConnectionTarget>,
    last_error: LastError,
}

impl fmt::Debug for PgPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgPool({})", self.target)
    }
}

impl PgPool {
    /// Check out a connection. bb8 reports a failing server only as a checkout timeout, so
    /// the last connection error is attached to make the failure actionable.
    pub async fn get(&self) -> Result<PooledConn<'_>, DbError> {
        self.inner.get().await.map_err(|e| {
            let last = self.last_error.0.lock().ok().and_then(|g| g.clone());
            DbError::Pool(match last {
                Some(cause) => format!(
                    "no connection to {} ({e}); last error: {cause}",
                    self.target
                ),
                None => format!("no connection to {}: {e}", self.target),
            })
        })
    }

    /// Where the pool connects.
    pub fn target(&self) -> &ConnectionTarget {
        &self.target
    }
}

/// A connection checked out of the pool; it derefs to the diesel connection.
pub type PooledConn<'a> = PooledConnection<'a, Manager>;

/// A pooled connection and when it must be closed: shortly before the credential it logged
/// in with expires.
pub struct Leased {
    conn: AsyncPgConnection,
    retire_at: Option<Instant>,
}

impl Leased {
    fn retired(&self) -> bool {
        self.retire_at.is_some_and(|at| Instant::now() >= at)
    }
}

impl Deref for Leased {
    type Target = AsyncPgConnection;
    fn deref(&self) -> &AsyncPgConnection {
        &self.conn
    }
}

impl DerefMut for Leased {
    fn deref_mut(&mut self) -> &mut AsyncPgConnection {
        &mut self.conn
    }
}

/// Why a connection was closed by the pool rather than failing: not an error to report.
const RETIRED: &str = "retired before its credential expires";

/// Opens connections from a [`ConnectionTarget`] and retires them before their credential
/// expires; the checks of a live connection are diesel-async's.
pub struct Manager {
    target: Arc<ConnectionTarget>,
    checks: AsyncDieselConnectionManager<AsyncPgConnection>,
}

impl ManageConnection for Manager {
    type Connection = Leased;
    type Error = PoolError;

    async fn connect(&self) -> Result<Leased, PoolError> {
        let (conn, expires_at) = self.target.connect_with_expiry().await.map_err(|e| {
            PoolError::ConnectionError(ConnectionError::BadConnection(e.to_string()))
        })?;
        Ok(Leased {
            conn,
            retire_at: expires_at.map(|at| Instant::now() + usable_for(at, Utc::now())),
        })
    }

    async fn is_valid(&self, conn: &mut Leased) -> Result<(), PoolError> {
        if conn.retired() {
            return Err(PoolError::ConnectionError(ConnectionError::BadConnection(
                RETIRED.into(),
            )));
        }
        self.checks.is_valid(&mut conn.conn).await
    }

    fn has_broken(&self, conn: &mut Leased) -> bool {
        conn.retired() || self.checks.has_broken(&mut conn.conn)
    }
}

/// How long a connection made now may live on a credential expiring at `expires_at`: its
/// remaining life less a tenth (at most a minute), so the connection closes first.
fn usable_for(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    let remaining = (expires_at - now).to_std().unwrap_or_default();
    remaining.saturating_sub((remaining / 10).min(Duration::from_secs(60)))
}

/// Build a pool for `target`. Connections older than `max_lifetime` are closed (checked
/// when they are returned and by a reaper), and `max_lifetime` is lowered below the life of
/// the target's credential, so none outlives the token it logged in with even when idle.
pub async fn build_pool(target: ConnectionTarget, limits: &PoolSection) -> Result<PgPool, DbError> {
    let target = Arc::new(target);
    // The manager connects through the target; diesel-async's manager is kept for its
    // checks of a live connection, so its URL and setup are never used.
    let checks = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        "dra://pool",
        ManagerConfig::default(),
    );
    let manager = Manager {
        target: target.clone(),
        checks,
    };
    // Three quarters of the credential's life: the reaper runs every eighth of the
    // lifetime, so an idle connection is closed by at most 0.85 of it.
    let credential_life = credential_life(&target, limits.connect_timeout)
        .await
        .map(|life| life * 3 / 4);
    let max_lifetime = match credential_life {
        Some(life) if life < limits.max_lifetime => {
            tracing::info!(
                credential_life = %humantime::format_duration(life),
                "pooled connections live shorter than database.pool.max_lifetime: no longer than their credential"
            );
            life.max(Duration::from_millis(100))
        }
        _ => limits.max_lifetime,
    };
    let reaper = (max_lifetime / 8).clamp(Duration::from_millis(50), Duration::from_secs(30));
    let last_error = LastError::default();
    let inner = Pool::builder()
        .max_size(limits.max_size)
        .min_idle(Some(limits.min_idle).filter(|n| *n > 0))
        .max_lifetime(Some(max_lifetime))
        .idle_timeout(Some(limits.idle_timeout))
        .connection_timeout(limits.connect_timeout)
        .reaper_rate(reaper)
        .error_sink(Box::new(last_error.clone()))
        .build(manager)
        .await
        .map_err(|e| DbError::Pool(format!("cannot open connections to {target}: {e}")))?;
    Ok(PgPool {
        inner,
        target,
        last_error,
    })
}

/// How long a connection may live on the target's current credential, when it has one
/// that expires. Usually cached already (resolving a Lakebase target fetches one); a
/// workspace that does not answer within `wait` leaves the configured lifetime alone
/// rather than holding up the start.
async fn credential_life(target: &ConnectionTarget, wait: Duration) -> Option<Duration> {
    if !matches!(*target.provider, super::TokenProvider::Lakebase(_)) {
        return None;
    }
    match tokio::time::timeout(wait, target.provider.login()).await {
        Ok(Ok((_, Some(expires_at)))) => Some(usable_for(expires_at, Utc::now())),
        Ok(Ok((_, None))) => None,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "no credential yet; pooled connections keep database.pool.max_lifetime");
            None
        }
        Err(_) => None,
    }
}

/// Keeps the most recent connection error for [`PgPool::get`] and logs every one.
#[derive(Clone, Debug, Default)]
struct LastError(Arc<Mutex<Option<String>>>);

impl ErrorSink<PoolError> for LastError {
    fn sink(&self, error: PoolError) {
        let text = error.to_string();
        if text.contains(RETIRED) {
            tracing::debug!("pooled connection {RETIRED}");
            return;
        }
        tracing::warn!(error = %text, "database connection failed");
        if let Ok(mut g) = self.0.lock() {
            *g = Some(text);
        }
    }

    fn boxed_clone(&self) -> Box<dyn ErrorSink<PoolError>> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_retires_before_its_credential() {
        let now = Utc::now();
        let life = |secs: i64| usable_for(now + chrono::Duration::seconds(secs), now);
        assert_eq!(life(20), Duration::from_secs(18));
        assert_eq!(
            life(3600),
            Duration::from_secs(3540),
            "a minute early at most"
        );
        assert_eq!(life(-5), Duration::ZERO, "already expired");
    }
}
