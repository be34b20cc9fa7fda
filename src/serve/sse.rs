//! Server-Sent Events responses over a session's [`Frame`]s, in the two wire formats the
//! original has:
//!
//! - jobs (`/api/v1/research/jobs/{id}/stream`, the agent query endpoint): `id: <seq>` and
//!   `data: <envelope>` per event, the id letting `EventSource` resume with
//!   `Last-Event-ID`; the last frame is `data: {"eventType":"job_completed","status":…}`;
//! - the docs' `/v1/research`: `event: <type>` and `data: <payload>`.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use futures::{Stream, StreamExt};

use super::ApiError;
use crate::db::repo::SessionId;
use crate::events::StreamEnd;
use crate::jobs::{follow, Frame, Jobs};

/// How frames are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jobs,
    V1,
}

/// The sequence number to resume after: `Last-Event-ID` (sent by a reconnecting
/// `EventSource`) wins over the `sinceSequence` the page was opened with.
pub fn resume_after(req: &HttpRequest, since_sequence: Option<i64>) -> Result<i32, ApiError> {
    let header = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let after = match header {
        Some(v) => v.parse::<i64>().map_err(|_| ApiError::Unprocessable {
            location: "header",
            name: "Last-Event-ID",
            message: "must be the sequence number of the last event received".into(),
        })?,
        None => since_sequence.unwrap_or(0),
    };
    if after < 0 {
        return Err(ApiError::Unprocessable {
            location: "query",
            name: "sinceSequence",
            message: "must be 0 or more".into(),
        });
    }
    Ok(i32::try_from(after).unwrap_or(i32::MAX))
}

/// The stream of `session` after `after`, as an SSE response.
pub fn respond(jobs: &Arc<Jobs>, session: SessionId, after: i32, format: Format) -> HttpResponse {
    let frames = follow(
        jobs.pool.clone(),
        jobs.hub.clone(),
        session,
        after,
        jobs.follow_options(),
    );
    stream_response(frames, format)
}

/// Frames as an SSE response (also used with a prefix frame by the agent endpoint).
pub fn stream_response(
    frames: impl Stream<Item = Frame> + 'static,
    format: Format,
) -> HttpResponse {
    event_stream(frames.map(move |frame| Bytes::from(encode(&frame, format))))
}

/// An SSE response sending `body`'s chunks as they come, through proxies and the gzip
/// middleware unbuffered.
pub fn event_stream(body: impl Stream<Item = Bytes> + 'static) -> HttpResponse {
    let body = body.map(Ok::<_, actix_web::Error>);
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Proxies (nginx, the Databricks Apps front end) must pass each frame on at once.
        .insert_header(("X-Accel-Buffering", "no"))
        // Keeps the gzip middleware from buffering frames.
        .insert_header((
            header::CONTENT_ENCODING,
            HeaderValue::from_static("identity"),
        ))
        .streaming(body)
}

/// One frame's bytes.
pub fn encode(frame: &Frame, format: Format) -> String {
    match (frame, format) {
        (Frame::Event(row), Format::Jobs) => format!(
            "id: {}\ndata: {}\n\n",
            row.sequence_number.unwrap_or(0),
            row.envelope()
        ),
        (Frame::Event(row), Format::V1) => format!(
            "id: {}\nevent: {}\ndata: {}\n\n",
            row.sequence_number.unwrap_or(0),
            row.event_type,
            row.payload
        ),
        (Frame::KeepAlive, _) => ": keep-alive\n\n".into(),
        (Frame::End(status), Format::Jobs) => format!(
            "data: {}\n\n",
            serde_json::to_string(&StreamEnd::new(status)).unwrap_or_default()
        ),
        (Frame::End(status), Format::V1) => format!(
            "event: job_completed\ndata: {}\n\n",
            serde_json::to_string(&StreamEnd::new(status)).unwrap_or_default()
        ),
        // The client reconnects (with `Last-Event-ID`) and resumes where it was.
        (Frame::Broken(_), _) => ": stream interrupted; reconnect to resume\n\n".into(),
    }
}
