//! The sweep every server runs each `heartbeat_interval`: research whose process died is
//! ended or handed on. A job whose heartbeat went stale is queued again (or failed once
//! out of attempts); a `dra research` session with no job whose heartbeat went stale is
//! ended `failed`. Both leave a final `error` event, so open streams say why and close.

use tokio_util::sync::CancellationToken;

use super::JobsConfig;
use crate::db::repo::{jobs, sessions};
use crate::db::{DbError, PgPool};

/// Sweep until `stop` is cancelled.
pub async fn run(pool: PgPool, config: JobsConfig, stop: CancellationToken) {
    let mut tick = tokio::time::interval(config.heartbeat_interval());
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = once(&pool, &config).await {
            tracing::debug!(error = %e, "stale-research sweep failed");
        }
    }
}

/// One pass of both sweeps.
pub async fn once(pool: &PgPool, config: &JobsConfig) -> Result<(), DbError> {
    let mut conn = pool.get().await?;
    let max_attempts = i32::try_from(config.max_attempts.max(1)).unwrap_or(i32::MAX);
    for s in jobs::sweep_stale(&mut conn, config.zombie_threshold(), max_attempts).await? {
        tracing::warn!(job = %s.id, session = %s.research_session_id, now = %s.status,
            "research job's process stopped responding");
    }
    for session in sessions::sweep_abandoned(&mut conn, config.zombie_threshold()).await? {
        tracing::warn!(%session, "a dra research run stopped responding; its session is ended failed");
    }
    Ok(())
}
