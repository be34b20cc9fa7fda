//! Durable research runs for `dra serve`: a request becomes rows (chat, question, answer
//! placeholder, session) and a queued job in one transaction; workers in any `dra serve`
//! process sharing the database claim jobs, run them and store every event; streams replay
//! a session's stored events and follow new ones. Nothing here knows HTTP.
//!
//! - [`submit`]: the rows and the job for a question, a regenerated answer or an edit;
//! - [`worker`]: claiming, running, heartbeats, cancellation, takeover of dead processes'
//!   jobs and handing jobs back on shutdown;
//! - [`hub`]: one LISTEN connection per process turning PostgreSQL notifications into
//!   wake-ups for workers and streams;
//! - [`stream`]: a session's events from a sequence number on, then live, then its end.

pub mod hub;
pub mod stream;
pub mod submit;
pub mod sweep;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use hub::Hub;
pub use stream::{follow, Frame};
pub use submit::{SubmitError, Submitted};
pub use worker::{Engine, Worker};

use crate::db::PgPool;

/// The `jobs:` section (the original's names, plus the per-process limits).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct JobsConfig {
    /// Queued or running jobs one user may have; more get 429.
    pub max_concurrent_per_user: u32,
    /// Runs one process executes at once; further jobs wait in the queue (for this or
    /// another process).
    pub max_concurrent_runs: u32,
    /// How often a running job's heartbeat is written and its cancel flag read.
    pub heartbeat_interval_seconds: u64,
    /// A running job whose heartbeat is older than this belongs to a dead process: it is
    /// taken over (or failed once out of attempts).
    pub zombie_threshold_seconds: u64,
    /// Runs of one job before a dead process's job is failed rather than taken over.
    pub max_attempts: u32,
    /// How often a worker looks for queued jobs when no notification woke it.
    pub poll_interval_seconds: u64,
    /// Comment lines on an idle event stream, so proxies keep it open.
    pub keep_alive_seconds: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            max_concurrent_per_user: 2,
            max_concurrent_runs: 4,
            heartbeat_interval_seconds: 10,
            zombie_threshold_seconds: 30,
            max_attempts: 2,
            poll_interval_seconds: 5,
            keep_alive_seconds: 15,
        }
    }
}

impl JobsConfig {
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_secs(self.heartbeat_interval_seconds.max(1))
    }

    pub fn zombie_threshold(&self) -> Duration {
        Duration::from_secs(self.zombie_threshold_seconds.max(1))
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.poll_interval_seconds.max(1))
    }

    pub fn keep_alive(&self) -> Duration {
        Duration::from_secs(self.keep_alive_seconds.max(1))
    }
}

/// What the server holds: the notification hub for streams and, when research can run
/// here, the worker.
pub struct Jobs {
    pub pool: PgPool,
    pub hub: Arc<Hub>,
    pub config: JobsConfig,
    /// `None` when no model is configured: this process streams and queues but does not
    /// run research.
    pub worker: Option<Arc<Worker>>,
    /// Cancelled when the process stops: open streams end, so their clients reconnect
    /// (with `Last-Event-ID`) to a process that stays.
    pub closing: tokio_util::sync::CancellationToken,
}

impl Jobs {
    /// Start the hub and, with an engine, a worker named `worker_id`. Call inside a tokio
    /// runtime.
    pub fn start(
        pool: PgPool,
        config: JobsConfig,
        engine: Option<Arc<Engine>>,
        worker_id: String,
    ) -> Jobs {
        let hub = Hub::start(pool.clone());
        let worker = engine.map(|engine| {
            Worker::start(pool.clone(), hub.clone(), engine, config.clone(), worker_id)
        });
        let closing = tokio_util::sync::CancellationToken::new();
        // Every server sweeps, model or not: a dead process's runs must end somewhere.
        tokio::spawn(sweep::run(pool.clone(), config.clone(), closing.clone()));
        Jobs {
            pool,
            hub,
            config,
            worker,
            closing,
        }
    }

    /// How this server's streams follow a session: keep-alives and polling from the
    /// config, ended when the server stops.
    pub fn follow_options(&self) -> stream::FollowOptions {
        stream::FollowOptions {
            keep_alive: self.config.keep_alive(),
            poll: self.config.keep_alive(),
            closing: Some(self.closing.clone()),
        }
    }

    /// Stop claiming, hand running jobs back to the queue, end open streams, stop
    /// listening.
    pub async fn shutdown(&self) {
        if let Some(worker) = &self.worker {
            worker.shutdown().await;
        }
        self.closing.cancel();
        self.hub.stop();
    }
}

/// A worker id unique to this process: host and pid, plus randomness for restarts that
/// reuse a pid (containers).
pub fn worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "dra".into());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &suffix[..8])
}
