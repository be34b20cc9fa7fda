//! A research run kept as a chat's session: the research runner's [`Record`] (events,
//! result, final state) and a session [`Heartbeat`] for runs that no job owns
//! (`dra research`), so servers sharing the database know the run is alive.

use std::sync::Arc;
use std::time::Duration;

use super::event_log::{EventLog, DEFAULT_CAPACITY};
use super::repo::sessions::{self, SessionStatus};
use super::repo::SessionId;
use super::runs::{self, Announce, Finish, SavedRun};
use super::{DbError, PgPool};
use crate::events::sink::EventSink;
use crate::events::ResearchEvent;
use crate::research::run::{Outcome, RunError, RunRequest};
use crate::research::runner::{Beat, Closed, Ending, Heartbeat, Pending, Record, RecordError};

/// How long closing waits for the last events to be stored.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

impl From<Ending> for SessionStatus {
    fn from(e: Ending) -> SessionStatus {
        match e {
            Ending::Completed => SessionStatus::Completed,
            Ending::Cancelled => SessionStatus::Cancelled,
            Ending::Failed => SessionStatus::Failed,
        }
    }
}

impl From<DbError> for RecordError {
    fn from(e: DbError) -> RecordError {
        RecordError(Box::new(e))
    }
}

/// See the module documentation.
pub struct SessionRecord {
    pool: PgPool,
    run: SavedRun,
    events: Arc<EventLog>,
    /// The run started its chat (the announcement tells a frontend to leave its draft).
    created_chat: bool,
    finish: Option<Finish>,
}

impl SessionRecord {
    /// Keep a run in the rows [`runs::start`] wrote (or a job's).
    pub fn new(pool: PgPool, run: SavedRun, created_chat: bool) -> SessionRecord {
        SessionRecord {
            events: Arc::new(EventLog::start(
                pool.clone(),
                run.session_id,
                DEFAULT_CAPACITY,
            )),
            pool,
            run,
            created_chat,
            finish: None,
        }
    }
}

impl Record for SessionRecord {
    fn events(&self) -> Box<dyn EventSink> {
        Box::new(self.events.clone())
    }

    fn store<'r>(
        &'r mut self,
        request: &'r RunRequest,
        outcome: &'r Result<Outcome, RunError>,
        ending: Ending,
    ) -> Pending<'r, Result<Option<ResearchEvent>, RecordError>> {
        Box::pin(async move {
            let mut finish = Finish::from_outcome(outcome);
            finish.session.status = ending.into();
            let stored = runs::store(&self.pool, &self.run, &finish).await?;
            // The original's announcement of a saved answer (its frontend's cue to leave a
            // draft chat and reload the messages).
            let about = Announce {
                query: &request.query,
                requested_mode: request.mode,
                created_chat: self.created_chat,
            };
            let event = finish.persisted_event(&self.run, stored, about);
            self.finish = Some(finish);
            Ok(event)
        })
    }

    fn close(self: Box<Self>, end: bool) -> Pending<'static, Closed> {
        Box::pin(async move {
            let events = match tokio::time::timeout(CLOSE_TIMEOUT, self.events.close()).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(RecordError(Box::new(e))),
                Err(_) => Err(RecordError("timed out writing the last events".into())),
            };
            let ended = match (&self.finish, end) {
                (Some(finish), true) => Some(
                    runs::end(&self.pool, &self.run, finish)
                        .await
                        .map_err(RecordError::from),
                ),
                _ => None,
            };
            Closed { events, ended }
        })
    }
}

/// Beats a session's heartbeat (see the module documentation).
pub struct SessionHeartbeat {
    pub pool: PgPool,
    pub session: SessionId,
    /// Who beats, as stored (`dra-research:<host>:<pid>`).
    pub holder: String,
    pub every: Duration,
}

impl Heartbeat for SessionHeartbeat {
    fn every(&self) -> Duration {
        self.every
    }

    fn beat(&self) -> Pending<'_, Beat> {
        Box::pin(async move {
            let beat = match self.pool.get().await {
                Ok(mut conn) => sessions::heartbeat(&mut conn, self.session, &self.holder)
                    .await
                    .map_err(DbError::from),
                Err(e) => Err(e),
            };
            match beat {
                Ok(true) => Beat::Alive,
                // The session ended elsewhere (swept): nothing to keep alive.
                Ok(false) => Beat::Done,
                Err(e) => {
                    tracing::warn!(session = %self.session, error = %e, "research heartbeat failed");
                    Beat::Alive
                }
            }
        })
    }
}
