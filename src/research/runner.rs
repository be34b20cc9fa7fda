//! [`Runner`]: one research run from start to final state, the same for `dra research` and
//! for the `dra serve` job worker. It owns what both need:
//!
//! - the event bus over the caller's sinks and the record's event log;
//! - a heartbeat while the run goes ([`Heartbeat`]): it may ask to cancel, or say the run
//!   was taken over, which abandons it without writing anything;
//! - the coordinator's clarifying questions, asked through the caller ([`Ask`]);
//! - the result stored ([`Record`]) while the stream is still open, so the event that
//!   announces it is stored and streamed before the stream ends; then the final state;
//! - panic isolation: a bug anywhere in a run (storage included) ends it with
//!   [`RunnerError::Panicked`], never unwinding into the caller.
//!
//! The callers keep only what is theirs: the CLI its terminal board and output files, the
//! worker its job claiming and job rows. Storage and heartbeat are traits, implemented by
//! `db` (a chat session) and `jobs` (a job), so the engine knows no database.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use tokio_util::sync::CancellationToken;

use super::budget::StopReason;
use super::run::{panic_message, run, Outcome, RunError, RunRequest, Services};
use crate::events::sink::{EventBus, EventSink};
use crate::events::ResearchEvent;
use crate::llm::Message;

/// A boxed future, as the traits below return (object-safe async).
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How a run ended, as its session and job record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Completed,
    Cancelled,
    Failed,
}

impl Ending {
    /// The final state of `outcome`. `cancel_asked`: its user asked to stop it, which ends
    /// it cancelled whatever it got to (keeping what it wrote), as the cancel request was
    /// told.
    pub fn of(outcome: &Result<Outcome, RunError>, cancel_asked: bool) -> Ending {
        let stopped = Some(StopReason::Cancelled);
        match outcome {
            _ if cancel_asked => Ending::Cancelled,
            Err(RunError::Stopped(StopReason::Cancelled)) => Ending::Cancelled,
            Err(_) => Ending::Failed,
            Ok(Outcome::Report(r)) if r.partial == stopped => Ending::Cancelled,
            Ok(_) => Ending::Completed,
        }
    }
}

/// Why storing a run failed, at which stage.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RecordError(pub Box<dyn std::error::Error + Send + Sync>);

/// Where a run is kept (a chat's session in the database).
pub trait Record: Send + Sync {
    /// The sink that stores the run's events; taken once, at start.
    fn events(&self) -> Box<dyn EventSink>;
    /// Store the result. The event returned (the announcement of what was stored) goes
    /// out before the stream closes.
    fn store<'r>(
        &'r mut self,
        request: &'r RunRequest,
        outcome: &'r Result<Outcome, RunError>,
        ending: Ending,
    ) -> Pending<'r, Result<Option<ResearchEvent>, RecordError>>;
    /// After the last event: wait until the events are stored, then, when `end` (the
    /// result was stored), write the final state, which ends the session's streams.
    fn close(self: Box<Self>, end: bool) -> Pending<'static, Closed>;
}

/// What closing a record did.
#[derive(Debug)]
pub struct Closed {
    /// Some events were not stored (a warning: the result is).
    pub events: Result<(), RecordError>,
    /// Writing the final state; `None` when it was not tried (nothing was stored).
    pub ended: Option<Result<(), RecordError>>,
}

/// One heartbeat's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// Beat again later.
    Alive,
    /// Its user asked to stop the run (a flag the beat read).
    Cancel,
    /// Another process owns the run now: stop it and write nothing.
    Lost,
    /// Nothing more to beat for (the session ended elsewhere); the run goes on.
    Done,
}

/// Keeps a running run alive for the processes that share its database.
pub trait Heartbeat: Send + Sync {
    fn every(&self) -> Duration;
    /// One beat. Failures are the implementation's to report; a beat that failed is
    /// [`Beat::Alive`] (the next one tries again).
    fn beat(&self) -> Pending<'_, Beat>;
    /// After the run: whether a cancel was asked for that the run's token did not see.
    fn cancel_asked(&self) -> Pending<'_, bool> {
        Box::pin(async { false })
    }
}

/// Answers the coordinator's clarifying questions, one answer per question (blank: no
/// answer); `None` when nobody can answer, which makes the questions the outcome.
pub type Ask<'a> = &'a (dyn Fn(&[String]) -> Option<Vec<String>> + Send + Sync);

/// One run to set going.
pub struct Run<'a> {
    pub request: RunRequest,
    /// The caller's sinks (terminal, JSONL, progress trackers).
    pub sinks: Vec<Box<dyn EventSink>>,
    /// The first event's sequence number (a retried job numbers after its stored events).
    pub first_sequence: i64,
    pub record: Option<Box<dyn Record + 'a>>,
    pub heartbeat: Option<Arc<dyn Heartbeat>>,
    /// Cancelled: abandon the run and store nothing (a server shutting down hands it back).
    pub abandon: CancellationToken,
    pub ask: Option<Ask<'a>>,
}

impl<'a> Run<'a> {
    /// A run of `request` with no sinks, record, heartbeat or questions.
    pub fn new(request: RunRequest) -> Run<'a> {
        Run {
            request,
            sinks: Vec::new(),
            first_sequence: 1,
            record: None,
            heartbeat: None,
            abandon: CancellationToken::new(),
            ask: None,
        }
    }
}

/// How a run ended.
#[derive(Debug)]
pub enum RunEnd {
    /// The run came to its end; its result was stored where there is a record.
    Ended(Box<Ended>),
    /// Abandoned before its end: `lost` when another process took it over, else told to
    /// stop. Its events so far are stored; nothing else is.
    Abandoned { lost: bool },
}

/// A run that came to its end.
#[derive(Debug)]
pub struct Ended {
    /// The request as run (with the clarifications folded in).
    pub request: RunRequest,
    pub outcome: Result<Outcome, RunError>,
    pub ending: Ending,
    /// `None` without a record.
    pub kept: Option<Kept>,
}

/// What storing the run did.
#[derive(Debug)]
pub struct Kept {
    pub stored: Result<(), RecordError>,
    pub closed: Closed,
}

/// A run that stopped at a bug outside the engine (the engine reports its own).
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("internal error: the research run stopped at a bug ({0}); please report it")]
    Panicked(String),
}

/// Runs research with one set of services.
pub struct Runner<'a> {
    pub services: Services<'a>,
}

impl Runner<'_> {
    /// Run to the end (see the module documentation).
    pub async fn run(&self, run: Run<'_>) -> Result<RunEnd, RunnerError> {
        // Unwind safety: after a panic nothing of the run is used again.
        std::panic::AssertUnwindSafe(self.run_inner(run))
            .catch_unwind()
            .await
            .map_err(|payload| {
                let e = RunnerError::Panicked(panic_message(payload.as_ref()));
                tracing::error!(error = %e, "research run panicked");
                e
            })
    }

    async fn run_inner(&self, run: Run<'_>) -> RunEnd {
        let Run {
            mut request,
            mut sinks,
            first_sequence,
            mut record,
            heartbeat,
            abandon,
            ask,
        } = run;
        if let Some(record) = &record {
            sinks.push(record.events());
        }
        let bus = Arc::new(EventBus::starting_at(first_sequence, sinks));
        let lost = CancellationToken::new();
        // Aborted however this ends (a panic included): a dead run keeps no live heartbeat.
        let beating = heartbeat.clone().map(|h| {
            tokio_util::task::AbortOnDropHandle::new(tokio::spawn(beat(
                h,
                request.cancel.clone(),
                lost.clone(),
            )))
        });
        let researched = tokio::select! {
            outcome = self.research(&mut request, &bus, ask) => Some(outcome),
            _ = lost.cancelled() => None,
            _ = abandon.cancelled() => None,
        };
        drop(beating);
        let Some(outcome) = researched else {
            drop(bus);
            if let Some(record) = record {
                record.close(false).await;
            }
            return RunEnd::Abandoned {
                lost: lost.is_cancelled(),
            };
        };
        let cancel_asked = request.cancel.is_cancelled()
            || match &heartbeat {
                Some(h) => h.cancel_asked().await,
                None => false,
            };
        let ending = Ending::of(&outcome, cancel_asked);
        let stored = match record.as_mut() {
            Some(record) => Some(record.store(&request, &outcome, ending).await),
            None => None,
        };
        let stored = stored.map(|s| s.map(|announce| announce.map(|e| bus.emit(e))));
        drop(bus);
        let kept = match (record, stored) {
            (Some(record), Some(stored)) => {
                let closed = record.close(stored.is_ok()).await;
                Some(Kept {
                    stored: stored.map(|_| ()),
                    closed,
                })
            }
            _ => None,
        };
        RunEnd::Ended(Box::new(Ended {
            request,
            outcome,
            ending,
            kept,
        }))
    }

    /// The engine, again after each round of answered questions.
    async fn research(
        &self,
        request: &mut RunRequest,
        bus: &Arc<EventBus>,
        ask: Option<Ask<'_>>,
    ) -> Result<Outcome, RunError> {
        loop {
            // Boxed so the run's future is checked for `Send` with concrete lifetimes
            // (the worker spawns it).
            let engine: futures::future::BoxFuture<'_, _> =
                Box::pin(run(request, &self.services, bus));
            let outcome = engine.await;
            let (Ok(Outcome::Clarify { questions }), Some(ask)) = (&outcome, ask) else {
                return outcome;
            };
            match ask(questions) {
                Some(answers) => clarify(request, questions, &answers),
                None => return outcome,
            }
        }
    }
}

/// Beat at once (it stamps the run as this process's), then every `every`, until the run
/// ends or is lost.
async fn beat(heartbeat: Arc<dyn Heartbeat>, cancel: CancellationToken, lost: CancellationToken) {
    let mut tick = tokio::time::interval(heartbeat.every());
    loop {
        tick.tick().await;
        match heartbeat.beat().await {
            Beat::Alive => {}
            Beat::Cancel => cancel.cancel(),
            Beat::Lost => {
                lost.cancel();
                return;
            }
            Beat::Done => return,
        }
    }
}

/// Fold one round of questions and answers into the request: the coordinator sees the
/// exchange, every later agent sees the answers in the question itself.
pub fn clarify(request: &mut RunRequest, questions: &[String], answers: &[String]) {
    let answered: Vec<(&String, &String)> = questions
        .iter()
        .zip(answers)
        .filter(|(_, a)| !a.is_empty())
        .collect();
    let round = request.clarification_rounds.unwrap_or(0) + 1;
    if answered.is_empty() {
        // Nothing to add: research the question as written, without asking again.
        request.clarification_rounds = None;
        return;
    }
    request.history.push(Message::user(request.query.clone()));
    request
        .history
        .push(Message::assistant(questions.join("\n")));
    let text: Vec<String> = answered.iter().map(|(q, a)| format!("- {q} {a}")).collect();
    request.history.push(Message::user(text.join("\n")));
    request.query = format!("{}\n\nClarifications:\n{}", request.query, text.join("\n"));
    request.clarification_rounds = Some(round);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_reach_the_coordinator_and_the_question() {
        let mut req = RunRequest::new("deltas?");
        let questions = vec!["Which delta?".to_string(), "Which years?".to_string()];
        clarify(&mut req, &questions, &["The Mekong.".into(), String::new()]);
        assert_eq!(
            req.query,
            "deltas?\n\nClarifications:\n- Which delta? The Mekong."
        );
        assert_eq!(req.clarification_rounds, Some(1));
        assert_eq!(req.history.len(), 3);
        assert_eq!(req.history[0].content, "deltas?");

        let mut req = RunRequest::new("deltas?");
        clarify(&mut req, &questions, &[String::new()]);
        assert_eq!(req.query, "deltas?", "no answers: as written");
        assert_eq!(req.clarification_rounds, None, "and not asked again");
    }

    #[test]
    fn a_cancel_asked_for_ends_the_run_cancelled_whatever_it_got_to() {
        let answer = Ok(Outcome::Answer { text: "4".into() });
        assert_eq!(Ending::of(&answer, false), Ending::Completed);
        assert_eq!(Ending::of(&answer, true), Ending::Cancelled);
        let stopped = Err(RunError::Stopped(StopReason::Cancelled));
        assert_eq!(Ending::of(&stopped, false), Ending::Cancelled);
        let failed = Err(RunError::NothingFound { failed: 2 });
        assert_eq!(Ending::of(&failed, false), Ending::Failed);
        assert_eq!(Ending::of(&failed, true), Ending::Cancelled);
    }
}
