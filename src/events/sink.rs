//! Where events go. The engine only emits; sinks render (terminal, JSONL, SSE, database).

use std::io::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use super::{EventEnvelope, EventPayload, ResearchEvent};

/// Receives every event of a run, in order. Implementations must not block for long: the
/// engine calls them inline.
pub trait EventSink: Send + Sync {
    fn emit(&self, envelope: &EventEnvelope);
}

/// Numbers events 1, 2, 3, … and hands them to every sink.
pub struct EventBus {
    next: AtomicI64,
    sinks: Vec<Box<dyn EventSink>>,
}

impl EventBus {
    pub fn new(sinks: Vec<Box<dyn EventSink>>) -> EventBus {
        EventBus::starting_at(1, sinks)
    }

    /// Numbering from `first`: a run taken over from a dead process continues after the
    /// events its first attempt stored.
    pub fn starting_at(first: i64, sinks: Vec<Box<dyn EventSink>>) -> EventBus {
        EventBus {
            next: AtomicI64::new(first),
            sinks,
        }
    }

    /// Stamp, number and deliver an event; returns its envelope.
    pub fn emit(&self, event: ResearchEvent) -> EventEnvelope {
        let envelope = EventEnvelope::new(
            self.next.fetch_add(1, Ordering::SeqCst),
            EventPayload::now(event),
        );
        for sink in &self.sinks {
            sink.emit(&envelope);
        }
        envelope
    }
}

/// Writes one envelope per line (`--events FILE.jsonl`).
pub struct JsonlSink<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> JsonlSink<W> {
    pub fn new(out: W) -> JsonlSink<W> {
        JsonlSink {
            out: Mutex::new(out),
        }
    }

    /// The writer back, flushed.
    pub fn into_inner(self) -> W {
        let mut w = self
            .out
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = w.flush();
        w
    }
}

impl<W: Write + Send> EventSink for JsonlSink<W> {
    fn emit(&self, envelope: &EventEnvelope) {
        let Ok(line) = serde_json::to_string(envelope) else {
            return;
        };
        if let Ok(mut out) = self.out.lock() {
            // A full disk must not stop the research; the report is the product. Each line
            // is flushed so `tail -f` and a reader after a crash see every event so far.
            if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
                tracing::warn!(error = %e, "cannot write event log line");
            }
        }
    }
}

impl<T: EventSink + ?Sized> EventSink for std::sync::Arc<T> {
    fn emit(&self, envelope: &EventEnvelope) {
        (**self).emit(envelope)
    }
}
