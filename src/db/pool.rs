//! The one diesel-async connection pool. Every NEW connection asks the token provider for
//! its password, so a long-running server keeps working across credential rotations.

use std::fmt;
use std::sync::{Arc, Mutex};

use bb8::ErrorSink;
use diesel::ConnectionError;
use diesel_async::pooled_connection::bb8::{Pool, PooledConnection};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, PoolError};
use diesel_async::AsyncPgConnection;
use futures::FutureExt;

use super::{ConnectionTarget, DbError};
use crate::config::PoolSection;

/// The shared pool. Cheap to clone.
#[derive(Clone)]
pub struct PgPool {
    inner: Pool<AsyncPgConnection>,
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
    pub async fn get(&self) -> Result<PooledConnection<'_, AsyncPgConnection>, DbError> {
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

/// Build a pool for `target`. Connections older than `max_lifetime` are closed (checked when
/// they are returned and by a reaper), so none outlives the token it logged in with.
pub async fn build_pool(target: ConnectionTarget, limits: &PoolSection) -> Result<PgPool, DbError> {
    let target = Arc::new(target);
    let mut manager_config = ManagerConfig::default();
    let setup_target = target.clone();
    manager_config.custom_setup = Box::new(move |_url| {
        let target = setup_target.clone();
        async move {
            target
                .connect()
                .await
                .map_err(|e| ConnectionError::BadConnection(e.to_string()))
        }
        .boxed()
    });
    // The URL is unused: custom_setup builds every connection from the target.
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        "dra://pool",
        manager_config,
    );
    let reaper = (limits.max_lifetime / 4).clamp(
        std::time::Duration::from_millis(100),
        std::time::Duration::from_secs(30),
    );
    let last_error = LastError::default();
    let inner = Pool::builder()
        .max_size(limits.max_size)
        .min_idle(Some(limits.min_idle).filter(|n| *n > 0))
        .max_lifetime(Some(limits.max_lifetime))
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

/// Keeps the most recent connection error for [`PgPool::get`] and logs every one.
#[derive(Clone, Debug, Default)]
struct LastError(Arc<Mutex<Option<String>>>);

impl ErrorSink<PoolError> for LastError {
    fn sink(&self, error: PoolError) {
        let text = error.to_string();
        tracing::warn!(error = %text, "database connection failed");
        if let Ok(mut g) = self.0.lock() {
            *g = Some(text);
        }
    }

    fn boxed_clone(&self) -> Box<dyn ErrorSink<PoolError>> {
        Box::new(self.clone())
    }
}
