//! [`EventLog`]: an [`EventSink`] that stores every event of a run in `research_events`
//! without making the engine wait for the database.
//!
//! `emit` only queues the event on a bounded channel; one tokio task drains the channel and
//! inserts whatever has accumulated as one multi-row statement, so a slow database makes
//! batches larger rather than the research slower. The first failure is logged once and
//! reported by [`EventLog::close`]; after it the writer stops trying (a database that
//! refused one batch would only make every later batch wait for its timeout too).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::repo::events::{self, EventRow, MAX_BATCH};
use super::repo::SessionId;
use super::PgPool;
use crate::events::sink::EventSink;
use crate::events::EventEnvelope;

/// Events queued before `emit` starts counting them as lost: far more than a run emits
/// between two batch writes of a database that keeps up.
pub const DEFAULT_CAPACITY: usize = 8192;

/// Why some events of a run are not in the database.
#[derive(Debug, thiserror::Error)]
#[error("{unsaved} of {total} events were not saved: {cause}")]
pub struct EventLogError {
    pub total: u64,
    pub unsaved: u64,
    /// The first failure (later ones are usually its consequences).
    pub cause: String,
}

/// What the writer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLogStats {
    pub saved: u64,
    /// Insert statements; fewer than `saved` when events arrived faster than one round trip.
    pub batches: u64,
}

/// Stores a session's events. Create it inside a tokio runtime; call [`EventLog::close`]
/// when the run is over to wait for the last batch.
pub struct EventLog {
    session: SessionId,
    tx: Mutex<Option<mpsc::Sender<EventRow>>>,
    writer: Mutex<Option<JoinHandle<EventLogStats>>>,
    health: Arc<Health>,
}

impl EventLog {
    /// Start the writer task for `session`'s events.
    pub fn start(pool: PgPool, session: SessionId, capacity: usize) -> EventLog {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let health = Arc::new(Health::default());
        let writer = tokio::spawn(write_all(pool, rx, health.clone()));
        EventLog {
            session,
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            health,
        }
    }

    /// Stop accepting events, wait until every queued one is written, and say whether all
    /// of them were. Events emitted afterwards count as unsaved; a second call returns at
    /// once.
    pub async fn close(&self) -> Result<EventLogStats, EventLogError> {
        // Dropping the sender ends the writer's loop once the queue is drained.
        drop(self.tx.lock().ok().and_then(|mut tx| tx.take()));
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        let stats = match writer {
            Some(handle) => match handle.await {
                Ok(stats) => stats,
                Err(e) => {
                    self.health.fail(0, || format!("event writer stopped: {e}"));
                    EventLogStats {
                        saved: 0,
                        batches: 0,
                    }
                }
            },
            None => EventLogStats {
                saved: 0,
                batches: 0,
            },
        };
        let unsaved = self.health.unsaved.load(Ordering::SeqCst);
        match self.health.cause() {
            Some(cause) => Err(EventLogError {
                total: self.health.total.load(Ordering::SeqCst),
                unsaved,
                cause,
            }),
            None => Ok(stats),
        }
    }
}

impl EventSink for EventLog {
    fn emit(&self, envelope: &EventEnvelope) {
        self.health.total.fetch_add(1, Ordering::SeqCst);
        let row = match to_row(self.session, envelope) {
            Ok(row) => row,
            Err(cause) => return self.health.fail(1, || cause),
        };
        let Ok(tx) = self.tx.lock() else {
            return self.health.fail(1, || "event queue lock poisoned".into());
        };
        let Some(tx) = tx.as_ref() else {
            return self
                .health
                .fail(1, || "event emitted after the log was closed".into());
        };
        if let Err(e) = tx.try_send(row) {
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "the database fell behind (queue full)",
                mpsc::error::TrySendError::Closed(_) => "the event writer stopped",
            };
            self.health.fail(1, || why.into());
        }
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        // Without `close`, the writer still drains the queue in the background.
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
    }
}

/// Counts shared by `emit` and the writer.
#[derive(Debug, Default)]
struct Health {
    total: AtomicU64,
    unsaved: AtomicU64,
    first_cause: Mutex<Option<String>>,
}

impl Health {
    /// Count `n` unsaved events; the first cause is logged and kept.
    fn fail(&self, n: u64, cause: impl FnOnce() -> String) {
        self.unsaved.fetch_add(n, Ordering::SeqCst);
        let Ok(mut first) = self.first_cause.lock() else {
            return;
        };
        if first.is_none() {
            let cause = cause();
            tracing::warn!(error = %cause, "research events are not being saved");
            *first = Some(cause);
        }
    }

    fn cause(&self) -> Option<String> {
        self.first_cause.lock().ok().and_then(|c| c.clone())
    }
}

fn to_row(session: SessionId, envelope: &EventEnvelope) -> Result<EventRow, String> {
    let sequence = i32::try_from(envelope.sequence_number)
        .map_err(|_| format!("sequence number {} too large", envelope.sequence_number))?;
    let payload = serde_json::to_value(&envelope.payload)
        .map_err(|e| format!("cannot encode a {} event: {e}", envelope.event_type))?;
    Ok(EventRow {
        id: envelope.id,
        research_session_id: session.0,
        event_type: envelope.event_type.clone(),
        timestamp: envelope.timestamp,
        payload,
        sequence_number: Some(sequence),
    })
}

async fn write_all(
    pool: PgPool,
    mut rx: mpsc::Receiver<EventRow>,
    health: Arc<Health>,
) -> EventLogStats {
    let mut stats = EventLogStats {
        saved: 0,
        batches: 0,
    };
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut broken = false;
    loop {
        batch.clear();
        if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return stats;
        }
        if broken {
            health.fail(batch.len() as u64, String::new);
            continue;
        }
        // Concurrent emitters may enqueue out of order; rows go in by sequence number.
        batch.sort_by_key(|row| row.sequence_number);
        let written = match pool.get().await {
            Ok(mut conn) => events::insert_batch(&mut conn, &batch)
                .await
                .map_err(|e| format!("database query failed: {e}")),
            Err(e) => Err(e.to_string()),
        };
        match written {
            Ok(n) => {
                stats.saved += n as u64;
                stats.batches += 1;
            }
            Err(cause) => {
                broken = true;
                health.fail(batch.len() as u64, || cause);
            }
        }
    }
}
