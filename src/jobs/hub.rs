//! [`Hub`]: one LISTEN connection per process. PostgreSQL triggers (migration 5) notify
//! `dra_events` when a session's events are stored or its status changes, and `dra_jobs`
//! when a job is queued or its cancellation is requested. The hub turns them into wake-ups
//! for the streams and workers of this process, whichever process wrote the rows.
//!
//! Notifications only say where to look; readers always read the rows. A notification
//! lost while the connection was down is covered by a `Resync` wake-up to every stream
//! after reconnecting, and by the streams' and workers' own slow polling.

use std::collections::HashMap;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::PgPool;

/// Why a stream should look at the database again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Events up to this sequence number are stored.
    Events(i32),
    /// The session's status changed.
    Status,
    /// Notifications may have been missed: read everything again.
    Resync,
}

/// Wake-ups of one session, for as long as the subscription lives.
pub struct Subscription {
    pub receiver: broadcast::Receiver<Wake>,
    session: Uuid,
    hub: Arc<Hub>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.forget_if_unused(self.session);
    }
}

/// See the module documentation.
pub struct Hub {
    sessions: Mutex<HashMap<Uuid, broadcast::Sender<Wake>>>,
    jobs: Notify,
    cancels: broadcast::Sender<Uuid>,
    listening: AtomicBool,
    stop: CancellationToken,
}

/// How long the listener waits without a notification before checking its connection
/// (a silently dropped TCP connection never reports an error by itself).
const LIVENESS_CHECK: Duration = Duration::from_secs(30);

impl Hub {
    /// Start listening on a connection of its own to `pool`'s database.
    pub fn start(pool: PgPool) -> Arc<Hub> {
        let hub = Arc::new(Hub::idle());
        tokio::spawn(listen(pool, hub.clone()));
        hub
    }

    /// A hub that receives nothing (no database): waiters fall back to polling.
    pub fn idle() -> Hub {
        Hub {
            sessions: Mutex::new(HashMap::new()),
            jobs: Notify::new(),
            cancels: broadcast::channel(256).0,
            listening: AtomicBool::new(false),
            stop: CancellationToken::new(),
        }
    }

    /// Wake-ups for `session` from now on.
    pub fn subscribe(self: &Arc<Hub>, session: Uuid) -> Subscription {
        let receiver = match self.sessions.lock() {
            Ok(mut sessions) => sessions
                .entry(session)
                .or_insert_with(|| broadcast::channel(64).0)
                .subscribe(),
            // A poisoned map only loses wake-ups; the subscriber still polls.
            Err(_) => broadcast::channel(1).1,
        };
        Subscription {
            receiver,
            session,
            hub: self.clone(),
        }
    }

    /// Whether notifications are arriving (else waiters should poll more often).
    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }

    /// Resolves when a job may have been queued.
    pub async fn job_queued(&self) {
        self.jobs.notified().await
    }

    /// Session ids whose cancellation was requested (from any process).
    pub fn cancels(&self) -> broadcast::Receiver<Uuid> {
        self.cancels.subscribe()
    }

    /// Stop listening.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    fn forget_if_unused(&self, session: Uuid) {
        if let Ok(mut sessions) = self.sessions.lock() {
            if sessions
                .get(&session)
                .is_some_and(|tx| tx.receiver_count() <= 1)
            {
                sessions.remove(&session);
            }
        }
    }

    fn wake(&self, session: Uuid, wake: Wake) {
        if let Ok(sessions) = self.sessions.lock() {
            if let Some(tx) = sessions.get(&session) {
                let _ = tx.send(wake);
            }
        }
    }

    fn wake_all(&self) {
        if let Ok(sessions) = self.sessions.lock() {
            for tx in sessions.values() {
                let _ = tx.send(Wake::Resync);
            }
        }
        self.jobs.notify_waiters();
    }

    /// Act on one notification.
    fn dispatch(&self, channel: &str, payload: &str) {
        match channel {
            "dra_events" => {
                let Some((session, what)) = payload.split_once(':') else {
                    return;
                };
                let Ok(session) = Uuid::parse_str(session) else {
                    return;
                };
                let wake = match what {
                    "status" => Wake::Status,
                    seq => match seq.parse() {
                        Ok(seq) => Wake::Events(seq),
                        Err(_) => Wake::Resync,
                    },
                };
                self.wake(session, wake);
            }
            "dra_jobs" => match payload.split_once(':') {
                Some(("queued", _)) => {
                    // One waiting worker is enough: it claims, and claims again.
                    self.jobs.notify_one();
                }
                Some(("cancel", session)) => {
                    if let Ok(session) = Uuid::parse_str(session) {
                        let _ = self.cancels.send(session);
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
}

/// Keep a LISTEN connection open until the hub is stopped, reconnecting with backoff.
async fn listen(pool: PgPool, hub: Arc<Hub>) {
    let mut backoff = Duration::from_millis(250);
    loop {
        if hub.stop.is_cancelled() {
            return;
        }
        match listen_once(&pool, &hub).await {
            Ok(()) => return,
            Err(e) => {
                if hub.listening.swap(false, Ordering::SeqCst) {
                    tracing::warn!(error = %e, "lost the notification connection; streams poll until it is back");
                } else {
                    tracing::debug!(error = %e, "notification connection failed");
                }
            }
        }
        tokio::select! {
            _ = hub.stop.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// One connection's life: `Ok` when stopped, `Err` when the connection failed.
async fn listen_once(pool: &PgPool, hub: &Arc<Hub>) -> Result<(), String> {
    use diesel_async::RunQueryDsl;
    let mut conn = pool.target().connect().await.map_err(|e| e.to_string())?;
    diesel::sql_query("LISTEN dra_events")
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    diesel::sql_query("LISTEN dra_jobs")
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    hub.listening.store(true, Ordering::SeqCst);
    // Anything written while we were not listening is found by reading again.
    hub.wake_all();
    loop {
        {
            let mut notifications = pin!(conn.notifications_stream());
            loop {
                tokio::select! {
                    _ = hub.stop.cancelled() => return Ok(()),
                    next = tokio::time::timeout(LIVENESS_CHECK, notifications.next()) => match next {
                        Ok(Some(Ok(n))) => hub.dispatch(&n.channel, &n.payload),
                        Ok(Some(Err(e))) => return Err(e.to_string()),
                        Ok(None) => return Err("the connection closed".into()),
                        Err(_) => break,
                    },
                }
            }
        }
        // Quiet for a while: make sure the connection is still there.
        tokio::time::timeout(
            Duration::from_secs(10),
            diesel::sql_query("SELECT 1").execute(&mut conn),
        )
        .await
        .map_err(|_| "the connection stopped answering".to_string())?
        .map_err(|e| e.to_string())?;
    }
}
