//! The one runner `dra research` and the job worker share: what it promises whatever the
//! record and heartbeat behind it do (they are the database and the job row in the
//! product; here they are test doubles that record the order of things or misbehave).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::llm::Reply;
use crate::support::world::{say, World};
use dra::events::sink::EventSink;
use dra::events::{EventEnvelope, ResearchEvent};
use dra::research::run::{Outcome, RunError, RunRequest, Services};
use dra::research::runner::{
    Beat, Closed, Ending, Heartbeat, Pending, Record, RecordError, Run, RunEnd, Runner, RunnerError,
};
use serde_json::json;

/// What happened to a record, in order.
#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Log {
    fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

struct Events(Arc<Log>);

impl EventSink for Events {
    fn emit(&self, e: &EventEnvelope) {
        self.0
            .push(format!("event {}", e.payload.event.event_type()));
    }
}

struct TestRecord {
    log: Arc<Log>,
    panic_on_store: bool,
}

impl Record for TestRecord {
    fn events(&self) -> Box<dyn EventSink> {
        Box::new(Events(self.log.clone()))
    }

    fn store<'r>(
        &'r mut self,
        _request: &'r RunRequest,
        outcome: &'r Result<Outcome, RunError>,
        ending: Ending,
    ) -> Pending<'r, Result<Option<ResearchEvent>, RecordError>> {
        Box::pin(async move {
            assert!(!self.panic_on_store, "the disk is on fire");
            self.log
                .push(format!("store {ending:?} ok={}", outcome.is_ok()));
            Ok(Some(ResearchEvent::PersistenceCompleted {
                chat_id: "c".into(),
                message_id: "m".into(),
                research_session_id: None,
                chat_title: "t".into(),
                was_draft: false,
                counts: Default::default(),
            }))
        })
    }

    fn close(self: Box<Self>, end: bool) -> Pending<'static, Closed> {
        Box::pin(async move {
            self.log.push(format!("close end={end}"));
            Closed {
                events: Ok(()),
                ended: end.then_some(Ok(())),
            }
        })
    }
}

/// Answers every beat with `answer`.
struct Beating {
    answer: Beat,
    beats: Arc<Mutex<u32>>,
}

impl Heartbeat for Beating {
    fn every(&self) -> Duration {
        Duration::from_millis(20)
    }
    fn beat(&self) -> Pending<'_, Beat> {
        *self.beats.lock().unwrap() += 1;
        let answer = self.answer;
        Box::pin(async move { answer })
    }
}

/// A world whose coordinator answers directly, after `delay`.
async fn simple_world(delay: Duration) -> World {
    let w = World::start().await;
    let answer = say(json!({
        "mode": "simple", "depth": "light", "direct_answer": "About a fifth.",
        "reasoning": "looks simple", "is_ambiguous": false
    }));
    w.llm
        .script("ep-simple", vec![Reply::Delayed(delay, Box::new(answer))]);
    w
}

fn request() -> RunRequest {
    RunRequest::new("How much wetland have deltas lost?")
}

async fn run_with(
    w: &World,
    record: Option<Box<dyn Record>>,
    heartbeat: Option<Arc<dyn Heartbeat>>,
    abandon: bool,
) -> Result<RunEnd, RunnerError> {
    let router = w.router();
    let config = w.config.research();
    let runner = Runner {
        services: Services {
            llm: &router,
            search: w.search.as_ref(),
            fetcher: &w.fetcher,
            tools: &w.tools,
            config: &config,
        },
    };
    let run = Run {
        record,
        heartbeat,
        ..Run::new(request())
    };
    if abandon {
        run.abandon.cancel();
    }
    runner.run(run).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_result_is_stored_and_announced_before_the_stream_closes_then_the_run_ends() {
    let w = simple_world(Duration::ZERO).await;
    let log = Arc::new(Log::default());
    let record = TestRecord {
        log: log.clone(),
        panic_on_store: false,
    };
    let ended = run_with(&w, Some(Box::new(record)), None, false)
        .await
        .expect("no panic");
    let RunEnd::Ended(ended) = ended else {
        panic!("the run ended");
    };
    assert_eq!(ended.ending, Ending::Completed);
    assert!(matches!(ended.outcome, Ok(Outcome::Answer { .. })));
    let kept = ended.kept.expect("kept");
    assert!(kept.stored.is_ok() && matches!(kept.closed.ended, Some(Ok(()))));
    let entries = log.entries();
    let tail: Vec<&str> = entries
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        [
            "store Completed ok=true",
            "event persistence_completed",
            "close end=true"
        ],
        "stored, announced on the stream, then closed: {entries:?}"
    );
    assert!(
        entries[0].starts_with("event research_started"),
        "{entries:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_while_storing_is_a_failed_run_not_an_unwind() {
    let w = simple_world(Duration::ZERO).await;
    let record = TestRecord {
        log: Arc::new(Log::default()),
        panic_on_store: true,
    };
    match run_with(&w, Some(Box::new(record)), None, false).await {
        Err(RunnerError::Panicked(message)) => {
            assert!(message.contains("the disk is on fire"), "{message}")
        }
        other => panic!("expected a panicked run, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_taken_over_is_abandoned_and_nothing_but_its_events_is_kept() {
    // The model answers only after the first beats: the beat says the run is lost first.
    let w = simple_world(Duration::from_secs(5)).await;
    let log = Arc::new(Log::default());
    let beats = Arc::new(Mutex::new(0));
    let heartbeat = Arc::new(Beating {
        answer: Beat::Lost,
        beats: beats.clone(),
    });
    let record = TestRecord {
        log: log.clone(),
        panic_on_store: false,
    };
    let ended = run_with(&w, Some(Box::new(record)), Some(heartbeat), false)
        .await
        .expect("no panic");
    assert!(
        matches!(ended, RunEnd::Abandoned { lost: true }),
        "{ended:?}"
    );
    let entries = log.entries();
    assert!(
        !entries.iter().any(|e| e.starts_with("store")),
        "{entries:?}"
    );
    assert_eq!(entries.last().map(String::as_str), Some("close end=false"));
    assert_eq!(*beats.lock().unwrap(), 1, "the first beat is at once");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_from_the_heartbeat_ends_the_run_cancelled_and_an_abandoned_run_stores_nothing() {
    let w = simple_world(Duration::from_millis(300)).await;
    let log = Arc::new(Log::default());
    let heartbeat = Arc::new(Beating {
        answer: Beat::Cancel,
        beats: Arc::new(Mutex::new(0)),
    });
    let record = TestRecord {
        log: log.clone(),
        panic_on_store: false,
    };
    let ended = run_with(&w, Some(Box::new(record)), Some(heartbeat), false)
        .await
        .expect("no panic");
    let RunEnd::Ended(ended) = ended else {
        panic!("a cancelled run still ends");
    };
    assert_eq!(ended.ending, Ending::Cancelled, "{:?}", ended.outcome);
    assert!(log
        .entries()
        .iter()
        .any(|e| e.starts_with("store Cancelled")));

    let w = simple_world(Duration::ZERO).await;
    let log = Arc::new(Log::default());
    let record = TestRecord {
        log: log.clone(),
        panic_on_store: false,
    };
    let ended = run_with(&w, Some(Box::new(record)), None, true)
        .await
        .expect("no panic");
    assert!(
        matches!(ended, RunEnd::Abandoned { lost: false }),
        "{ended:?}"
    );
    assert_eq!(
        log.entries().last().map(String::as_str),
        Some("close end=false")
    );
}
