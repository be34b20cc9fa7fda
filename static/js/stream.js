// A research job's event stream (Server-Sent Events) that survives dropped connections.
//
// The server numbers events (`id: <sequenceNumber>`), so EventSource's own reconnect sends
// `Last-Event-ID` and the stream resumes after the last event seen. When the browser gives
// up (readyState CLOSED, e.g. the server restarted and answered with an error), we open a
// new stream ourselves with `sinceSequence` = the last sequence number, backing off up to
// 10 s. Events at or below the last sequence number are dropped, so a replay never
// repeats one. The stream ends at `job_completed`.

import { api, urls } from "./api.js";

const FINISHED = ["completed", "failed", "cancelled"];

export class JobStream {
  /**
   * @param {string} sessionId
   * @param {{onEvent: (e: object) => void, onDone: (status: string) => void,
   *          onConnection?: (state: string) => void, since?: number}} handlers
   */
  constructor(sessionId, handlers) {
    this.sessionId = sessionId;
    this.handlers = handlers;
    this.lastSequence = handlers.since ?? 0;
    this.retries = 0;
    this.closed = false;
    this.source = null;
    this.timer = null;
    this.open();
  }

  open() {
    if (this.closed) return;
    const source = new EventSource(urls.jobStream(this.sessionId, this.lastSequence));
    this.source = source;
    source.onopen = () => {
      this.retries = 0;
      this.handlers.onConnection?.("live");
    };
    source.onmessage = (message) => this.receive(message);
    source.onerror = () => {
      if (this.closed) return;
      if (source.readyState === EventSource.CLOSED) {
        this.reconnectLater();
      } else {
        this.handlers.onConnection?.("reconnecting");
      }
    };
  }

  receive(message) {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    if (event.eventType === "job_completed") {
      this.close();
      this.handlers.onDone(event.status ?? "completed");
      return;
    }
    const seq = Number(event.sequenceNumber ?? message.lastEventId);
    if (Number.isFinite(seq)) {
      if (seq <= this.lastSequence) return;
      this.lastSequence = seq;
    }
    this.handlers.onEvent(event);
  }

  reconnectLater() {
    this.source?.close();
    this.handlers.onConnection?.("reconnecting");
    const delay = Math.min(10_000, 500 * 2 ** this.retries);
    this.retries += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.retry(), delay);
  }

  /** After a few failed attempts, ask whether the job still exists before trying again. */
  async retry() {
    if (this.closed) return;
    if (this.retries >= 3) {
      try {
        const job = await api.getJob(this.sessionId);
        const status = String(job?.status ?? "").toLowerCase();
        if (FINISHED.includes(status)) {
          // Its last events were missed; the caller reloads the messages.
          this.close();
          this.handlers.onDone(status);
          return;
        }
      } catch (e) {
        if (e.status === 404) {
          this.close();
          this.handlers.onDone("failed");
          return;
        }
      }
    }
    this.open();
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.source?.close();
    this.handlers.onConnection?.("closed");
  }
}
