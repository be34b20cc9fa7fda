//! Waiting for a Lakebase instance to become usable: the control plane says AVAILABLE and a
//! real `SELECT 1` with a fresh credential succeeds (permissions can lag the state).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use backon::{ConstantBuilder, Retryable};

use super::config::DbSettings;
use super::{admin, ConnectionTarget, DbError};
use crate::databricks::{ApiError, WorkspaceClient};
use crate::env::Env;

/// How long to keep trying.
#[derive(Debug, Clone, Copy)]
pub struct WaitPolicy {
    /// Total attempts, at least 1.
    pub attempts: usize,
    /// Pause between attempts.
    pub delay: Duration,
}

/// Progress of one attempt, for display.
#[derive(Debug, Clone)]
pub struct WaitProgress {
    pub attempt: usize,
    pub of: usize,
    /// The instance state, when known.
    pub state: Option<String>,
    /// Why this attempt did not succeed.
    pub reason: String,
}

/// Why waiting failed.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("no such Lakebase instance `{instance}`: {message}")]
    NoSuchInstance { instance: String, message: String },
    #[error("Lakebase instance `{instance}` not ready after {attempts} attempts; last state {}: {last}", state.as_deref().unwrap_or("unknown"))]
    GaveUp {
        instance: String,
        attempts: usize,
        state: Option<String>,
        last: String,
    },
    #[error(transparent)]
    Fatal(DbError),
}

enum AttemptError {
    NotReady {
        state: Option<String>,
        reason: String,
    },
    Fatal(WaitError),
}

/// Poll until the instance is usable. `on_retry` sees each failed attempt before the pause.
/// Returns the final instance state and the connection target that worked.
pub async fn wait_for_lakebase<'a>(
    client: &WorkspaceClient,
    instance: &str,
    config: impl Into<DbSettings<'a>>,
    env: &Env,
    policy: WaitPolicy,
    mut on_retry: impl FnMut(&WaitProgress),
) -> Result<ConnectionTarget, WaitError> {
    let config = config.into();
    let attempts = policy.attempts.max(1);
    let counter = AtomicUsize::new(0);
    let attempt = || async {
        counter.fetch_add(1, Ordering::Relaxed);
        try_once(client, instance, config, env).await
    };
    let result = attempt
        .retry(
            ConstantBuilder::default()
                .with_delay(policy.delay)
                .with_max_times(attempts - 1),
        )
        .when(|e| matches!(e, AttemptError::NotReady { .. }))
        .notify(|e, _| {
            if let AttemptError::NotReady { state, reason } = e {
                on_retry(&WaitProgress {
                    attempt: counter.load(Ordering::Relaxed),
                    of: attempts,
                    state: state.clone(),
                    reason: reason.clone(),
                });
            }
        })
        .await;
    match result {
        Ok(target) => Ok(target),
        Err(AttemptError::Fatal(e)) => Err(e),
        Err(AttemptError::NotReady { state, reason }) => Err(WaitError::GaveUp {
            instance: instance.to_string(),
            attempts: counter.load(Ordering::Relaxed),
            state,
            last: reason,
        }),
    }
}

async fn try_once(
    client: &WorkspaceClient,
    instance: &str,
    config: DbSettings<'_>,
    env: &Env,
) -> Result<ConnectionTarget, AttemptError> {
    let info = match client.database_instance(instance).await {
        Ok(i) => i,
        Err(ApiError::NotFound { message, .. }) => {
            return Err(AttemptError::Fatal(WaitError::NoSuchInstance {
                instance: instance.to_string(),
                message,
            }))
        }
        Err(e @ (ApiError::Auth(_) | ApiError::Unauthorized { .. })) => {
            return Err(AttemptError::Fatal(WaitError::Fatal(e.into())))
        }
        Err(e) => {
            return Err(AttemptError::NotReady {
                state: None,
                reason: e.to_string(),
            })
        }
    };
    if !info.is_available() {
        return Err(AttemptError::NotReady {
            reason: "instance is not AVAILABLE yet".into(),
            state: info.state,
        });
    }
    let not_ready = |e: DbError| AttemptError::NotReady {
        state: info.state.clone(),
        reason: e.to_string(),
    };
    // A fresh target means a fresh credential: permissions may appear after the state flips.
    let target = ConnectionTarget::lakebase(client, instance, config, env)
        .await
        .map_err(not_ready)?
        .with_database("postgres");
    let mut conn = target.connect().await.map_err(not_ready)?;
    admin::ping(&mut conn).await.map_err(not_ready)?;
    Ok(target)
}
