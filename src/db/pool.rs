//! The one diesel-async connection pool. Every NEW connection asks the token provider for
//! its password, so a long-running server keeps working across credential rotations.

use std::sync::Arc;

use diesel::ConnectionError;
use diesel_async::pooled_connection::bb8::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::AsyncPgConnection;
use futures::FutureExt;

use super::{ConnectionTarget, DbError};
use crate::config::PoolSection;

/// The shared pool type.
pub type PgPool = Pool<AsyncPgConnection>;

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
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config("dra://pool", manager_config);
    let reaper = (limits.max_lifetime / 4).clamp(std::time::Duration::from_millis(100), std::time::Duration::from_secs(30));
    Pool::builder()
        .max_size(limits.max_size)
        .min_idle(Some(limits.min_idle).filter(|n| *n > 0))
        .max_lifetime(Some(limits.max_lifetime))
        .idle_timeout(Some(limits.idle_timeout))
        .connection_timeout(limits.connect_timeout)
        .reaper_rate(reaper)
        // Surface the real connection error instead of retrying until the checkout times out.
        .retry_connection(false)
        .build(manager)
        .await
        .map_err(|e| DbError::Pool(format!("cannot open connections to {target}: {e}")))
}
