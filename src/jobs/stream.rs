//! A session's events as a stream of [`Frame`]s: every stored event after a sequence
//! number, in order, then new ones as they are stored (woken by the [`Hub`], with polling
//! as the safety net), keep-alives while nothing happens, and an end frame with the
//! session's final status once it has ended and its last event was delivered.
//!
//! Events come from the database only, so any process can stream any run, and a client
//! that reconnects with the last sequence number it saw gets exactly the rest.

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::sync::{broadcast, mpsc};

use super::hub::{Hub, Wake};
use crate::db::repo::events::{self, EventRow};
use crate::db::repo::sessions;
use crate::db::repo::SessionId;
use crate::db::{DbError, PgPool};

/// One thing to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Event(EventRow),
    /// Nothing new for a while.
    KeepAlive,
    /// The session ended with this status (completed, failed, cancelled); nothing follows.
    End(String),
    /// The stream could not go on (the database failed); the client should reconnect.
    Broken(String),
}

/// How a stream follows a session.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// A keep-alive after this long without a frame.
    pub keep_alive: Duration,
    /// How often to read the database when no wake-up came, while the hub is listening
    /// (and about every second when it is not).
    pub poll: Duration,
    /// Ends the stream early (the server is stopping); the client resumes elsewhere.
    pub closing: Option<tokio_util::sync::CancellationToken>,
}

/// Frames of `session` after sequence number `after` (0: from the start). Reading stops
/// when the returned stream is dropped (the client went away).
pub fn follow(
    pool: PgPool,
    hub: Arc<Hub>,
    session: SessionId,
    after: i32,
    options: FollowOptions,
) -> impl Stream<Item = Frame> + Send + 'static {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        if let Err(e) = pump(&pool, &hub, session, after, options, &tx).await {
            let _ = tx.send(Frame::Broken(e.to_string())).await;
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) })
}

/// Rows read per query; a longer backlog is read in several.
const PAGE: i64 = 500;

async fn pump(
    pool: &PgPool,
    hub: &Arc<Hub>,
    session: SessionId,
    mut last: i32,
    options: FollowOptions,
    tx: &mpsc::Sender<Frame>,
) -> Result<(), DbError> {
    // Subscribe before the first read, so nothing stored in between is missed.
    let mut subscription = hub.subscribe(session.0);
    let mut check_status = true;
    let mut read = true;
    let mut idle = Duration::ZERO;
    loop {
        // Everything stored after `last`.
        while read {
            let rows = {
                let mut conn = pool.get().await?;
                events::page_after(&mut conn, session, last, PAGE).await?
            };
            let full = rows.len() as i64 == PAGE;
            for row in rows {
                last = row.sequence_number.unwrap_or(last);
                if tx.send(Frame::Event(row)).await.is_err() {
                    return Ok(());
                }
                idle = Duration::ZERO;
            }
            read = full;
        }
        read = true;
        if check_status {
            let status = {
                let mut conn = pool.get().await?;
                sessions::get(&mut conn, session).await?.map(|s| s.status)
            };
            match status {
                // Gone (its chat was purged): nothing more will come.
                None => {
                    let _ = tx.send(Frame::End("deleted".into())).await;
                    return Ok(());
                }
                Some(status) if !matches!(status.as_str(), "pending" | "in_progress") => {
                    // Events are stored before the status changes: read the last ones.
                    let rows = {
                        let mut conn = pool.get().await?;
                        events::page_after(&mut conn, session, last, i64::from(i32::MAX)).await?
                    };
                    for row in rows {
                        if tx.send(Frame::Event(row)).await.is_err() {
                            return Ok(());
                        }
                    }
                    let _ = tx.send(Frame::End(status)).await;
                    return Ok(());
                }
                Some(_) => {}
            }
            check_status = false;
        }
        let poll = if hub.listening() {
            options.poll
        } else {
            Duration::from_secs(1)
        };
        let wait = poll
            .min(options.keep_alive.saturating_sub(idle))
            .max(Duration::from_millis(50));
        let closing = options.closing.clone().unwrap_or_default();
        tokio::select! {
            _ = tx.closed() => return Ok(()),
            _ = closing.cancelled() => return Ok(()),
            woke = subscription.receiver.recv() => match woke {
                // Already delivered (a notification of rows read in the last query).
                Ok(Wake::Events(seq)) if seq <= last => read = false,
                Ok(Wake::Events(_)) => {}
                Ok(Wake::Status) | Ok(Wake::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    check_status = true;
                }
                // The hub is gone: poll.
                Err(broadcast::error::RecvError::Closed) => {
                    check_status = true;
                    tokio::time::sleep(poll).await;
                }
            },
            _ = tokio::time::sleep(wait) => {
                idle += wait;
                check_status = true;
                if idle >= options.keep_alive {
                    idle = Duration::ZERO;
                    if tx.send(Frame::KeepAlive).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
}
