//! The Databricks agent endpoint: `POST /invocations` and `POST /responses`, MLflow's
//! `ResponsesAgent` protocol (see `serve::responses_agent`), so the app can be registered
//! as an agent. A request queues an ordinary job for the user the proxy headers name, so
//! the run is durable and its chat, report, sources and claims are theirs on every other
//! route.
//!
//! Invoke (`"stream"` absent or false) answers once the run has ended. Stream
//! (`"stream": true`) sends the run's milestones as `reasoning` items while it works, then
//! the final report, verified, as `response.output_text.delta` events and one
//! `response.output_item.done` with the whole message and the custom outputs, then
//! `[DONE]`. The report's text is only sent once verification has finished, so a client
//! never receives a claim that verification later removed, and the deltas always add up to
//! the final text. A run that fails ends the stream with an `error` event and `[DONE]`.

use std::sync::Arc;

use actix_web::web::Bytes;
use actix_web::{web, HttpResponse, ResponseError};
use futures::StreamExt;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::agent::{seed_conversation, wait_for_end, with_ids, ContextMessage};
use super::Routes;
use crate::citations::provenance::Provenance;
use crate::db::repo::{claims, messages, sessions, sources, ChatId, SessionId};
use crate::db::PgPool;
use crate::jobs::{follow, submit, Frame, Jobs, Submitted};
use crate::serve::body::{Body, BodyError};
use crate::serve::responses_agent::{
    self as wire, AgentRequest, AgentResponse, CustomOutputs, OutputMessage, Speaker,
};
use crate::serve::{audit, sse, ApiError, AppState, User};

/// Deltas carry whole lines, at least this many bytes each.
const DELTA_BYTES: usize = 256;

pub(super) fn mount(r: &mut Routes) {
    for path in wire::PATHS {
        r.post(path, invocations);
    }
}

async fn invocations(
    state: web::Data<AppState>,
    user: User,
    body: Result<Body<AgentRequest>, BodyError>,
) -> Result<HttpResponse, ApiError> {
    let body = match body {
        Ok(body) => body.into_inner(),
        // Not about what was sent: the body's own status (413, 408, 400).
        Err(
            e @ (BodyError::TooLarge { .. } | BodyError::TimedOut(_) | BodyError::Unreadable(_)),
        ) => return Ok(e.error_response()),
        Err(e) => return Err(refused(e)),
    };
    let invalid = |e: wire::InputError| ApiError::invalid(e.field, e.message);
    let asked = wire::conversation(&body).map_err(invalid)?;
    let options = wire::options(body.custom_inputs.as_ref()).map_err(invalid)?;
    let chat = wire::chat_of(body.context.as_ref(), &user.id).map_err(invalid)?;
    let jobs = state.research()?;
    let request = super::research::job_request(
        asked.question,
        options.query_mode,
        options.research_depth,
        options.verify_sources,
        [
            "input",
            "custom_inputs.query_mode",
            "custom_inputs.research_depth",
        ],
    )?;
    let chat = ChatId(chat.unwrap_or_else(Uuid::new_v4));
    if !asked.history.is_empty() {
        let context: Vec<ContextMessage> = asked
            .history
            .into_iter()
            .map(|t| ContextMessage {
                role: match t.speaker {
                    Speaker::User => "user".into(),
                    Speaker::Assistant => "agent".into(),
                },
                content: t.text,
            })
            .collect();
        seed_conversation(&state, &user, chat, &request.query, &context).await?;
    }
    let submitted = submit::question(&jobs.pool, &jobs.config, &user.id, chat, &request).await?;
    if body.stream == Some(true) {
        let response = stream(Arc::clone(jobs), user.id, submitted);
        return Ok(audit::created(
            with_ids(response, &submitted),
            submitted.session_id,
        ));
    }
    let status = wait_for_end(jobs, submitted.session_id).await;
    if status.as_deref() != Some("completed") {
        let why = why_not_completed(&jobs.pool, submitted.session_id, status.as_deref()).await?;
        return Err(ApiError::ResearchFailed(why));
    }
    let finished = finished(&jobs.pool, &user.id, &submitted).await?;
    let response = AgentResponse {
        id: submitted.session_id.to_string(),
        object: "response",
        created_at: finished.created_at,
        status: "completed",
        output: vec![finished.message],
        custom_outputs: finished.custom_outputs,
    };
    Ok(audit::created(
        with_ids(HttpResponse::Ok().json(response), &submitted),
        submitted.session_id,
    ))
}

/// A body that is not a request, as the 400 the rest of the API gives bad input.
fn refused(e: BodyError) -> ApiError {
    match e {
        BodyError::Missing => ApiError::invalid(
            "input",
            "no request body: send {\"input\": [{\"role\": \"user\", \"content\": \"...\"}]}",
        ),
        BodyError::Field { loc, message, .. } => {
            let path: Vec<String> = loc
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect();
            ApiError::invalid("body", format!("{}: {message}", path.join(".")))
        }
        other => ApiError::invalid("body", format!("invalid JSON in request body: {other}")),
    }
}

/// A completed run, read back: the report as the assistant's message, and the custom
/// outputs.
struct Finished {
    message: OutputMessage,
    custom_outputs: CustomOutputs,
    created_at: i64,
}

/// The completed run `s` of `user`: its report with a `url_citation` per cited source,
/// its fetched sources by number, and its claims with their verdicts.
async fn finished(pool: &PgPool, user: &str, s: &Submitted) -> Result<Finished, ApiError> {
    let mut conn = pool.get().await?;
    let session = sessions::get(&mut conn, s.session_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Research session", s.session_id))?;
    let text = messages::find_for_user(&mut conn, s.agent_message_id, user)
        .await?
        .and_then(|m| m.content)
        .unwrap_or_default();
    let mut found: Vec<wire::SourceRef> = sources::for_session(&mut conn, s.session_id)
        .await?
        .into_iter()
        .filter_map(|row| {
            let number = row
                .source_metadata
                .as_ref()
                .and_then(|m| m.get("citationNumber"))
                .and_then(serde_json::Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())?;
            Some(wire::SourceRef {
                number,
                url: row.url,
                title: row.title,
                source_type: row.source_type,
                cited: row.is_cited,
            })
        })
        .collect();
    found.sort_by_key(|s| s.number);
    let provenance = Provenance::new(
        s.agent_message_id.0,
        claims::load(&mut conn, s.agent_message_id).await?,
    );
    let annotations = wire::url_citations(&text, &found);
    Ok(Finished {
        message: OutputMessage::new(s.agent_message_id.to_string(), text, annotations),
        custom_outputs: CustomOutputs {
            conversation_id: s.chat_id.0,
            session_id: s.session_id.0,
            message_id: s.agent_message_id.0,
            status: session.status,
            sources: found,
            claims: provenance.claims.iter().map(Into::into).collect(),
            verification: (&provenance.summary()).into(),
        },
        created_at: session.started_at.timestamp(),
    })
}

/// Why run `session` did not complete, for the client: the run's own error message, or
/// how it ended.
async fn why_not_completed(
    pool: &PgPool,
    session: SessionId,
    status: Option<&str>,
) -> Result<String, ApiError> {
    let mut conn = pool.get().await?;
    let stored = sessions::get(&mut conn, session)
        .await?
        .and_then(|s| s.error_message);
    Ok(match (stored, status) {
        (Some(why), _) => why,
        (None, Some(status)) => format!("the run ended {status}"),
        (None, None) => format!(
            "the run's events could not be followed; it may still finish: \
             GET /api/v1/research/jobs/{session} shows how it ends"
        ),
    })
}

/// The SSE response of run `s`: a task follows the run's stored events and sends the
/// protocol's events; it stops when the client goes away (the run goes on).
fn stream(jobs: Arc<Jobs>, user: String, s: Submitted) -> HttpResponse {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(relay(jobs, user, s, tx));
    sse::event_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }))
}

async fn relay(jobs: Arc<Jobs>, user: String, s: Submitted, tx: mpsc::Sender<Bytes>) {
    let frames = follow(
        jobs.pool.clone(),
        jobs.hub.clone(),
        s.session_id,
        0,
        jobs.follow_options(),
    );
    let mut frames = std::pin::pin!(frames);
    let mut ending = None;
    while let Some(frame) = frames.next().await {
        let chunks = match frame {
            Frame::Event(row) => wire::progress_line(&row.event_type, &row.payload)
                .map(|line| wire::reasoning_done(&row.id.to_string(), &line))
                .into_iter()
                .collect(),
            Frame::KeepAlive => vec![": keep-alive\n\n".to_string()],
            Frame::End(status) => {
                ending = Some(ends(&jobs.pool, &user, &s, Some(&status)).await);
                break;
            }
            Frame::Broken(_) => {
                ending = Some(ends(&jobs.pool, &user, &s, None).await);
                break;
            }
        };
        if !send(&tx, chunks).await {
            return;
        }
    }
    // No end frame: the server is stopping before the run ended.
    let ending = ending.unwrap_or_else(|| {
        vec![
            wire::error_event(
                "STREAM_CLOSED",
                &format!(
                    "the server is stopping; the run goes on: GET /api/v1/research/jobs/{}/stream follows it",
                    s.session_id
                ),
            ),
            wire::DONE.to_string(),
        ]
    });
    send(&tx, ending).await;
}

/// Sends `chunks` in order; `false` once the client has gone.
async fn send(tx: &mpsc::Sender<Bytes>, chunks: Vec<String>) -> bool {
    for chunk in chunks {
        if tx.send(Bytes::from(chunk)).await.is_err() {
            return false;
        }
    }
    true
}

/// The last events of a stream whose run ended with `status` (`None`: it could not be
/// followed): the report's deltas and its done item, or an error; then `[DONE]`.
async fn ends(pool: &PgPool, user: &str, s: &Submitted, status: Option<&str>) -> Vec<String> {
    let events = match status {
        Some("completed") => finished(pool, user, s).await.map(|f| {
            let text = f.message.content.first().map_or("", |c| c.text.as_str());
            let mut out: Vec<String> = wire::pieces(text, DELTA_BYTES)
                .into_iter()
                .map(|piece| wire::text_delta(&f.message.id, piece))
                .collect();
            out.push(wire::message_done(&f.message, &f.custom_outputs));
            out
        }),
        _ => why_not_completed(pool, s.session_id, status)
            .await
            .map(|why| {
                vec![wire::error_event(
                    "RESEARCH_FAILED",
                    &format!("research failed: {why}"),
                )]
            }),
    };
    let mut out = events.unwrap_or_else(|e| {
        tracing::error!(
            error = %crate::redact::scrub(&format!("{e:?}")),
            session = %s.session_id,
            "the agent stream could not read its run"
        );
        vec![wire::error_event("INTERNAL_ERROR", &e.to_string())]
    });
    out.push(wire::DONE.to_string());
    out
}
