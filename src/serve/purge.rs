//! The retention task: `dra serve` purges chats soft-deleted longer ago than
//! `retention.deleted_chats`, once at start and then every `retention.purge_interval`.
//!
//! It runs inside the server rather than as a cron job because the server is the one
//! process a Databricks App is sure to have; several replicas purging at once is harmless
//! (a DELETE of rows another replica already removed deletes nothing).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::db::repo::chats;
use crate::db::{DbError, PgPool};

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

/// The shortest pause between passes, whatever the configuration says.
const MIN_INTERVAL: Duration = Duration::from_secs(60);

/// Why one purge pass failed; the next pass tries again.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    #[error("retention.deleted_chats ({0:?}) is too long to compute a cutoff")]
    Age(Duration),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("purging deleted chats failed: {0}")]
    Query(#[from] diesel::result::Error),
}

/// One pass: removes the chats deleted longer than `older_than` ago; how many went.
pub async fn purge_once(pool: &PgPool, older_than: Duration) -> Result<usize, PurgeError> {
    let age = chrono::Duration::from_std(older_than).map_err(|_| PurgeError::Age(older_than))?;
    let mut conn = pool.get().await?;
    Ok(chats::purge_deleted(&mut conn, age).await?)
}

/// Starts the task on the current runtime: a pass now, then one per interval. A failed
/// pass is logged and the task carries on; it ends only with the runtime.
pub fn spawn(pool: PgPool, retention: RetentionSection) -> JoinHandle<()> {
    tokio::spawn(async move {
        // `interval` panics on zero; validation refuses less than a minute, and this keeps
        // a hand-built config from taking the server down.
        let mut ticks = tokio::time::interval(retention.purge_interval.max(MIN_INTERVAL));
        // After a long pause (a suspended host), one pass is enough, not a burst.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match purge_once(&pool, retention.deleted_chats).await {
                Ok(0) => tracing::debug!("no deleted chats to purge"),
                Ok(n) => tracing::info!(
                    purged = n,
                    older_than = %humantime::format_duration(retention.deleted_chats),
                    "purged deleted chats"
                ),
                Err(e) => tracing::warn!(
                    error = %crate::redact::scrub(&e.to_string()),
                    "purging deleted chats failed; trying again next interval"
                ),
            }
        }
    })
}
