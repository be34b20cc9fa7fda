//! Storing one research run the way the original does, in two phases: [`start`] writes
//! the chat (new or the follow-up's), the question, an empty agent message and an
//! `in_progress` session, so events can reference the session while the run streams;
//! at the end [`store`] writes the answer, the sources and the claims, the caller emits
//! the `persistence_completed` event [`Finish::persisted_event`] builds (so it is stored
//! and streamed before the stream ends), and [`end`] writes the session's final state.
//!
//! Shared by `dra research` and (later) `dra serve`: it takes the pool and engine types,
//! nothing from the terminal or HTTP.

use std::collections::HashMap;

use diesel_async::AsyncConnection;
use serde::Serialize;

use super::repo::messages::{self, NewMessage, Role};
use super::repo::sessions::{self, NewSession, SessionEnd, SessionStatus};
use super::repo::sources::{self, NewSource};
use super::repo::{chats, claims, ChatId, MessageId, SessionId};
use super::{DbError, PgPool};
use crate::events::ResearchEvent;
use crate::llm::Message;
use crate::research::agents::QueryMode;
use crate::research::run::{Outcome, RunError};
use crate::research::runner::Ending;

/// How many earlier messages of a chat a follow-up sees (the original loads ten).
pub const HISTORY_LIMIT: i64 = 10;

/// What [`start`] stores.
#[derive(Debug, Clone)]
pub struct RunStart<'a> {
    pub user_id: &'a str,
    /// The chat a follow-up continues; `None` starts a chat titled by the question.
    pub chat: Option<ChatId>,
    pub query: &'a str,
    /// As requested: simple, web_search or deep_research (deep_research when the
    /// coordinator decides, as the original defaults).
    pub query_mode: &'a str,
    /// As requested: auto, light, medium or extended.
    pub research_depth: &'a str,
    /// The engine's ids (`RunRequest::message_id` / `session_id`), so its events name rows
    /// that exist.
    pub agent_message_id: MessageId,
    pub session_id: SessionId,
    /// Stored with the session (the CLI's `--no-verify` / the API's `verify_sources`).
    pub verify_sources: bool,
    /// The question's message when it is already stored (regenerating an answer, or
    /// re-running an edited question); `None` stores `query` as a new user message.
    pub user_message: Option<MessageId>,
}

/// The rows a run is stored under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedRun {
    pub chat_id: ChatId,
    pub user_message_id: MessageId,
    pub agent_message_id: MessageId,
    pub session_id: SessionId,
}

/// Write the chat, both messages and the `in_progress` session in one transaction.
/// A `chat` that is unknown, deleted or another user's is [`DbError::ChatNotFound`] and
/// writes nothing.
pub async fn start(pool: &PgPool, run: &RunStart<'_>) -> Result<SavedRun, DbError> {
    let mut conn = pool.get().await?;
    conn.transaction::<_, DbError, _>(async |conn| start_in(conn, run).await)
        .await
}

/// [`start`] on a connection the caller holds (in its own transaction, with the job that
/// will run it, say).
pub async fn start_in(
    conn: &mut diesel_async::AsyncPgConnection,
    run: &RunStart<'_>,
) -> Result<SavedRun, DbError> {
    let saved = SavedRun {
        chat_id: run.chat.unwrap_or_default(),
        user_message_id: run.user_message.unwrap_or_default(),
        agent_message_id: run.agent_message_id,
        session_id: run.session_id,
    };
    let asked_at = chrono::Utc::now();
    {
        match run.chat {
            Some(id) => {
                if chats::find_for_user(conn, id, run.user_id).await?.is_none() {
                    return Err(DbError::ChatNotFound(id));
                }
                chats::touch(conn, id).await?;
            }
            None => {
                let title = chats::title_for(run.query);
                chats::create(conn, saved.chat_id, run.user_id, Some(&title)).await?;
            }
        }
        if run.user_message.is_none() {
            messages::insert(
                conn,
                &NewMessage {
                    id: saved.user_message_id,
                    chat_id: saved.chat_id,
                    role: Role::User,
                    content: Some(run.query),
                    created_at: asked_at,
                },
            )
            .await?;
        }
        messages::insert(
            conn,
            &NewMessage {
                id: saved.agent_message_id,
                chat_id: saved.chat_id,
                role: Role::Agent,
                content: None,
                created_at: asked_at + chrono::Duration::microseconds(1),
            },
        )
        .await?;
        sessions::insert(
            conn,
            &NewSession {
                id: saved.session_id,
                message_id: saved.agent_message_id,
                chat_id: saved.chat_id,
                user_id: run.user_id,
                query: run.query,
                query_mode: run.query_mode,
                research_depth: run.research_depth,
                verify_sources: run.verify_sources,
            },
        )
        .await?;
        messages::link_session(conn, saved.agent_message_id, saved.session_id).await?;
    }
    Ok(saved)
}

/// How a run ended, in rows: built from the engine's result by [`Finish::from_outcome`],
/// with the status the run ended in.
#[derive(Debug, Clone)]
pub struct Finish {
    pub session: SessionEnd,
    /// The agent message's text; `None` leaves it empty (a failed or cancelled run).
    pub answer: Option<String>,
    /// What kind of answer that is.
    pub answered: Answered,
    pub message_metadata: serde_json::Value,
    pub sources: Vec<FinishedSource>,
    /// The verified report's claims, with their evidence in the sources above.
    pub claims: Vec<crate::citations::provenance::Claim>,
}

/// What a finished run answered with: it decides what `persistence_completed` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    /// No answer (a failed run).
    Nothing,
    /// A direct answer without research (simple mode), or clarifying questions.
    Directly,
    /// A researched report with sources.
    Report,
}

/// What [`store`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stored {
    /// Source rows written (every fetched source, cited or not).
    pub sources: usize,
    /// Claims written (none unless the report was verified).
    pub claims: usize,
}

/// What `persistence_completed` says beyond the rows: the question and how it was asked.
#[derive(Debug, Clone, Copy)]
pub struct Announce<'a> {
    pub query: &'a str,
    /// The mode the run was asked for (`None`: the coordinator chose).
    pub requested_mode: Option<QueryMode>,
    /// Whether this run created its chat. The original says `false` for every job (the
    /// job's submission stores the chat before the run), `true` for a run that saved a
    /// chat the user had only drafted.
    pub created_chat: bool,
}

/// `source_metadata` of a source row: its citation number and, for a tool's passage, where
/// it came from and its score.
fn source_metadata(s: &FinishedSource) -> serde_json::Value {
    let mut meta = serde_json::json!({"citationNumber": s.number});
    if let Some(origin) = &s.origin {
        meta["origin"] = serde_json::json!(origin);
    }
    if let Some(score) = s.score {
        meta["score"] = serde_json::json!(score);
    }
    meta
}

/// A fetched source of a finished run.
#[derive(Debug, Clone)]
pub struct FinishedSource {
    pub number: u32,
    pub url: String,
    pub title: Option<String>,
    /// `source_type`: a web page, or which kind of tool gave the passage.
    pub kind: crate::tools::SourceKind,
    /// The index, endpoint, folder or server a tool's passage came from.
    pub origin: Option<String>,
    pub score: Option<f64>,
    pub cited: bool,
    /// The page text the run read (evidence offsets point into it).
    pub content: Option<std::sync::Arc<str>>,
}

impl Finish {
    /// The rows for the engine's result.
    pub fn from_outcome(outcome: &Result<Outcome, RunError>) -> Finish {
        let mut end = SessionEnd::new(Ending::of(outcome, false).into());
        match outcome {
            Err(e) => {
                end.error_message = Some(e.to_string());
                Finish::bare(end, None)
            }
            Ok(Outcome::Clarify { questions }) => {
                // The questions are the agent's answer: a follow-up in the same chat
                // carries them to the coordinator with the user's replies.
                let text = questions
                    .iter()
                    .map(|q| format!("- {q}"))
                    .collect::<Vec<_>>()
                    .join("\n");
                let mut f = Finish::bare(end, Some(text));
                f.answered = Answered::Directly;
                f.message_metadata = serde_json::json!({"clarification": true});
                f
            }
            Ok(Outcome::Answer { text }) => {
                end.query_mode = Some("simple".into());
                Finish {
                    answered: Answered::Directly,
                    ..Finish::bare(end, Some(text.clone()))
                }
            }
            Ok(Outcome::Report(report)) => {
                // The mode stays as started: a report does not say whether the coordinator
                // chose web_search or deep_research.
                end.research_depth = Some(report.depth.as_str().into());
                end.plan = serde_json::to_value(&report.plan).ok();
                end.plan_iterations = i32::try_from(report.plan_iterations).ok();
                end.current_step_index = i32::try_from(report.steps_executed).ok();
                end.execution_state = Some(serde_json::json!({
                    "stepsExecuted": report.steps_executed,
                    "stepsSkipped": report.steps_skipped,
                    "citationsDropped": report.citations_dropped,
                    "citationsRepointed": report.citations_repointed,
                    "partial": report.partial.map(|r| r.to_string()),
                    "tokensUsed": report.tokens_used,
                }));
                let sources = report
                    .sources
                    .iter()
                    .map(|s| FinishedSource {
                        number: s.number,
                        url: s.url.clone(),
                        title: s.title.clone(),
                        kind: s.kind,
                        origin: s.origin.clone(),
                        score: s.score,
                        cited: report.cited.contains(&s.number),
                        content: report.source_texts.get(&s.number).cloned(),
                    })
                    .collect();
                Finish {
                    answered: Answered::Report,
                    sources,
                    claims: report
                        .verification
                        .as_ref()
                        .map(|v| v.claims.clone())
                        .unwrap_or_default(),
                    ..Finish::bare(end, Some(report.markdown.clone()))
                }
            }
        }
    }

    /// End the run `cancelled` (its user asked to stop it), keeping the answer it stored.
    pub fn mark_cancelled(&mut self) {
        self.session.status = SessionStatus::Cancelled;
    }

    /// The `persistence_completed` event for these rows once [`store`] wrote them, with
    /// the original's payload (its orchestrator's, after it saved a run); `None` for a run
    /// that did not complete with an answer, which the original ends without one.
    pub fn persisted_event(
        &self,
        run: &SavedRun,
        stored: Stored,
        about: Announce<'_>,
    ) -> Option<ResearchEvent> {
        if self.session.status != SessionStatus::Completed || self.answer.is_none() {
            return None;
        }
        let (research_session_id, counts) = match self.answered {
            Answered::Nothing => return None,
            // Simple mode stores no research session in the original: it sends none, and
            // counts the one message it updated.
            Answered::Directly => (None, [("messages_updated".to_string(), 1)].into()),
            Answered::Report => (
                Some(run.session_id.to_string()),
                [
                    ("sources".to_string(), count(stored.sources)),
                    ("claims".to_string(), count(stored.claims)),
                ]
                .into(),
            ),
        };
        Some(ResearchEvent::PersistenceCompleted {
            chat_id: run.chat_id.to_string(),
            message_id: run.agent_message_id.to_string(),
            research_session_id,
            chat_title: announced_title(about.query, about.requested_mode),
            was_draft: about.created_chat,
            counts,
        })
    }

    fn bare(session: SessionEnd, answer: Option<String>) -> Finish {
        Finish {
            session,
            answer,
            answered: Answered::Nothing,
            message_metadata: serde_json::json!({}),
            sources: Vec::new(),
            claims: Vec::new(),
        }
    }
}

/// The `chatTitle` of `persistence_completed`: the question, cut after 47 characters
/// plus "..." when longer than 50 (the chat title's rule), but after 50 in web_search
/// mode, as the original's orchestrator cuts it there. Characters, as Python counts.
fn announced_title(query: &str, mode: Option<QueryMode>) -> String {
    let keep = if mode == Some(QueryMode::WebSearch) {
        50
    } else {
        47
    };
    match query.char_indices().nth(50) {
        Some(_) => {
            let head: String = query.chars().take(keep).collect();
            format!("{head}...")
        }
        None => query.to_string(),
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Write the answer, its sources and claims in one transaction; the session stays in
/// progress until [`end`], so a stream of it stays open for the events that announce
/// this (`persistence_completed`).
pub async fn store(pool: &PgPool, run: &SavedRun, f: &Finish) -> Result<Stored, DbError> {
    let mut conn = pool.get().await?;
    conn.transaction::<_, DbError, _>(async |conn| {
        if let Some(answer) = &f.answer {
            messages::set_content(conn, run.agent_message_id, answer, &f.message_metadata).await?;
        }
        let rows: Vec<NewSource<'_>> = f
            .sources
            .iter()
            .map(|s| NewSource {
                research_session_id: run.session_id,
                chat_id: run.chat_id,
                url: &s.url,
                title: s.title.as_deref().map(|t| truncate(t, 500)),
                snippet: None,
                content: s.content.as_deref(),
                is_cited: s.cited,
                step_index: None,
                step_title: None,
                crawl_status: "success",
                source_type: s.kind.as_str(),
                source_metadata: Some(source_metadata(s)),
            })
            .collect();
        let written = sources::upsert(conn, &rows).await?;
        let source_ids: HashMap<String, uuid::Uuid> =
            written.iter().map(|(id, url)| (url.clone(), *id)).collect();
        claims::insert(
            conn,
            run.session_id,
            run.agent_message_id,
            &f.claims,
            &source_ids,
        )
        .await?;
        chats::touch(conn, run.chat_id).await?;
        Ok(Stored {
            sources: written.len(),
            claims: f.claims.len(),
        })
    })
    .await
}

/// Write the session's final state (its status last, which ends its streams: call it
/// once the run's last events are stored).
pub async fn end(pool: &PgPool, run: &SavedRun, f: &Finish) -> Result<(), DbError> {
    let mut conn = pool.get().await?;
    sessions::finish(&mut conn, run.session_id, &f.session).await?;
    Ok(())
}

/// The conversation so far in `chat`, oldest first, as model messages: the context of a
/// follow-up question. [`DbError::ChatNotFound`] unless the chat is `user_id`'s.
pub async fn history(pool: &PgPool, chat: ChatId, user_id: &str) -> Result<Vec<Message>, DbError> {
    let mut conn = pool.get().await?;
    if chats::find_for_user(&mut conn, chat, user_id)
        .await?
        .is_none()
    {
        return Err(DbError::ChatNotFound(chat));
    }
    let rows = messages::history(&mut conn, chat, HISTORY_LIMIT).await?;
    Ok(conversation(rows))
}

/// Stored messages as model messages, oldest first.
pub fn conversation(rows: Vec<messages::Message>) -> Vec<Message> {
    rows.into_iter()
        .filter_map(|m| {
            let content = m.content?;
            match Role::parse(&m.role)? {
                Role::User => Some(Message::user(content)),
                Role::Agent | Role::Assistant => Some(Message::assistant(content)),
                // Instructions stored in a chat are not the user's conversation.
                Role::System => None,
            }
        })
        .collect()
}

/// At most `max` characters (varchar limits count characters).
fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved() -> SavedRun {
        SavedRun {
            chat_id: ChatId::default(),
            user_message_id: MessageId::default(),
            agent_message_id: MessageId::default(),
            session_id: SessionId::default(),
        }
    }

    fn about(query: &str, mode: Option<QueryMode>) -> Announce<'_> {
        Announce {
            query,
            requested_mode: mode,
            created_chat: false,
        }
    }

    #[test]
    fn titles_are_cut_by_characters_as_the_original_cuts_them() {
        let fifty = "é".repeat(50);
        assert_eq!(announced_title(&fifty, None), fifty, "50 is not cut");
        let long = format!("{fifty}日本");
        assert_eq!(
            announced_title(&long, None),
            format!("{}...", "é".repeat(47))
        );
        assert_eq!(
            announced_title(&long, Some(QueryMode::WebSearch)),
            format!("{fifty}...")
        );
        assert_eq!(announced_title("", None), "");
    }

    #[test]
    fn only_a_completed_answer_is_announced() {
        let run = saved();
        let stored = Stored {
            sources: 3,
            claims: 2,
        };
        let answer = Finish::from_outcome(&Ok(Outcome::Answer {
            text: "Paris.".into(),
        }));
        let Some(ResearchEvent::PersistenceCompleted {
            research_session_id,
            counts,
            ..
        }) = answer.persisted_event(&run, stored, about("q", None))
        else {
            panic!("a direct answer is announced");
        };
        assert_eq!(research_session_id, None);
        assert_eq!(counts, [("messages_updated".to_string(), 1)].into());

        let mut cancelled = answer.clone();
        cancelled.mark_cancelled();
        assert_eq!(
            cancelled.persisted_event(&run, stored, about("q", None)),
            None
        );
        let failed = Finish::from_outcome(&Err(RunError::NothingFound { failed: 1 }));
        assert_eq!(failed.persisted_event(&run, stored, about("q", None)), None);
    }
}
