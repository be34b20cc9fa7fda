//! The coordinator: decides whether a query gets a direct answer, a quick web search or
//! deep research, at which depth, and whether it must first be clarified.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{clean, Agent, AgentError};
use crate::events::ResearchEvent;
use crate::llm::{LlmRouter, Message, Role};
use crate::research::config::{CoordinatorAgent, Depth};
use crate::research::prompts::COORDINATOR_SYSTEM;

/// The most clarifying questions asked in one round, whatever the model proposes: more
/// than three reads as an interrogation and users answer none of them.
pub const MAX_QUESTIONS: usize = 3;

/// How many earlier conversation messages the coordinator sees (the original's five).
pub const HISTORY_MESSAGES: usize = 5;

/// How a query is answered (the original's `query_modes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueryMode {
    /// Answered directly by a model, no search.
    Simple,
    /// A few searches and one answer.
    WebSearch,
    /// Plan, research step by step, reflect, write a report.
    DeepResearch,
}

impl QueryMode {
    /// The name events and stored sessions use.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryMode::Simple => "simple",
            QueryMode::WebSearch => "web_search",
            QueryMode::DeepResearch => "deep_research",
        }
    }
}

/// The coordinator's verdict on a query, with the configuration's rules applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub mode: QueryMode,
    /// Never `Auto`: the coordinator always picks a concrete depth.
    pub depth: Depth,
    /// True exactly when `clarifying_questions` is not empty.
    pub is_ambiguous: bool,
    /// At most [`MAX_QUESTIONS`]; empty when clarification is disabled or used up.
    pub clarifying_questions: Vec<String>,
    /// The answer for `Simple` queries, when the model gave one; always `None` otherwise.
    pub direct_answer: Option<String>,
    pub reasoning: String,
}

impl Classification {
    /// The `clarification_needed` event for clarification round `round` (1-based), or
    /// `None` when there is nothing to ask.
    pub fn clarification_event(&self, round: u32) -> Option<ResearchEvent> {
        if self.clarifying_questions.is_empty() {
            return None;
        }
        Some(ResearchEvent::ClarificationNeeded {
            questions: self.clarifying_questions.clone(),
            round,
        })
    }
}

/// Classify `query` given the conversation so far (`history`, oldest first) and the
/// number of clarification rounds already held in it (`rounds_held`).
///
/// Rules enforced whatever the model says: no questions when `enable_clarification` is off
/// or `rounds_held` has reached `max_clarification_rounds`; at most [`MAX_QUESTIONS`]
/// non-blank, distinct questions; a direct answer only for simple queries.
pub async fn classify(
    router: &LlmRouter,
    query: &str,
    history: &[Message],
    rounds_held: u32,
    cfg: &CoordinatorAgent,
) -> Result<Classification, AgentError> {
    let agent = Agent::Coordinator;
    let may_ask = cfg.enable_clarification && rounds_held < cfg.max_clarification_rounds;
    let mut system = COORDINATOR_SYSTEM.to_string();
    if !may_ask {
        // Said up front so the model does not spend its answer on questions we would drop.
        system.push_str(
            "\n\nClarification is not available for this query: set `is_ambiguous` to false, \
leave `clarifying_questions` empty and proceed on the most likely reading.",
        );
    }
    let messages = vec![
        Message::system(system),
        Message::user(user_message(query, history)),
    ];
    let answer = router
        .complete_json::<Answer>(agent.tier(router), messages)
        .await
        .map_err(AgentError::llm(agent))?
        .value;
    Ok(answer.into_classification(may_ask))
}

/// What the model is asked for. Kept apart from [`Classification`] so that the schema
/// offers only concrete depths and the public type carries enforced values only.
#[derive(Debug, Deserialize, JsonSchema)]
struct Answer {
    mode: QueryMode,
    depth: ChosenDepth,
    #[serde(default)]
    is_ambiguous: bool,
    #[serde(default)]
    clarifying_questions: Vec<String>,
    #[serde(default)]
    direct_answer: Option<String>,
    #[serde(default)]
    reasoning: String,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum ChosenDepth {
    Light,
    Medium,
    Extended,
}

impl Answer {
    fn into_classification(self, may_ask: bool) -> Classification {
        let mut questions: Vec<String> = Vec::new();
        if may_ask && self.is_ambiguous {
            for q in self.clarifying_questions.iter().map(|q| clean(q)) {
                if !q.is_empty() && !questions.contains(&q) && questions.len() < MAX_QUESTIONS {
                    questions.push(q);
                }
            }
        }
        let direct_answer = match self.mode {
            QueryMode::Simple => self
                .direct_answer
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty()),
            QueryMode::WebSearch | QueryMode::DeepResearch => None,
        };
        Classification {
            mode: self.mode,
            depth: match self.depth {
                ChosenDepth::Light => Depth::Light,
                ChosenDepth::Medium => Depth::Medium,
                ChosenDepth::Extended => Depth::Extended,
            },
            is_ambiguous: !questions.is_empty(),
            clarifying_questions: questions,
            direct_answer,
            reasoning: self.reasoning.trim().to_string(),
        }
    }
}

fn user_message(query: &str, history: &[Message]) -> String {
    let recent = &history[history.len().saturating_sub(HISTORY_MESSAGES)..];
    let mut text = String::from("## Conversation so far\n");
    if recent.is_empty() {
        text.push_str("(none: this is the first message)\n");
    }
    for m in recent {
        let who = match m.role {
            Role::User => "User",
            Role::Assistant => "Assistant",
            Role::System | Role::Tool => continue,
        };
        text.push_str(&format!("{who}: {}\n", m.content.trim()));
    }
    text.push_str(&format!("\n## Query to classify\n{}", query.trim()));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(questions: &[&str]) -> Answer {
        Answer {
            mode: QueryMode::DeepResearch,
            depth: ChosenDepth::Extended,
            is_ambiguous: true,
            clarifying_questions: questions.iter().map(|q| q.to_string()).collect(),
            direct_answer: Some("not for deep research".into()),
            reasoning: " r ".into(),
        }
    }

    #[test]
    fn questions_are_cleaned_deduplicated_and_capped() {
        let c = answer(&["  Which  year? ", "", "Which year?", "a", "b", "c"])
            .into_classification(true);
        assert_eq!(c.clarifying_questions, ["Which year?", "a", "b"]);
        assert!(c.is_ambiguous);
        assert_eq!(c.direct_answer, None, "only simple queries keep an answer");
        assert_eq!((c.depth, c.reasoning.as_str()), (Depth::Extended, "r"));
    }

    #[test]
    fn ambiguity_without_questions_is_not_ambiguity() {
        let c = answer(&["   "]).into_classification(true);
        assert!(!c.is_ambiguous);
        assert_eq!(c.clarification_event(1), None);
    }

    #[test]
    fn only_the_last_messages_of_the_history_are_shown() {
        let history: Vec<Message> = (0..8).map(|i| Message::user(format!("m{i}"))).collect();
        let text = user_message("q", &history);
        assert!(!text.contains("m2") && text.contains("m3") && text.contains("m7"));
    }
}
