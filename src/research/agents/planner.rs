//! The planner: turns a query, the background findings and (when re-planning) the previous
//! plan with the reflector's feedback into ordered research steps within the depth's limits.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{clean, Agent, AgentError};
use crate::events::{PlanStepSummary, ResearchEvent};
use crate::llm::{LlmRouter, Message, Role};
use crate::research::config::ResearchProfile;
use crate::research::prompts::PLANNER_SYSTEM;

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StepType {
    /// Gathers sources from the web.
    Research,
    /// Reasons over findings already gathered.
    Analysis,
}

impl StepType {
    /// The name events and prompts use.
    pub fn as_str(self) -> &'static str {
        match self {
            StepType::Research => "research",
            StepType::Analysis => "analysis",
        }
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanStep {
    /// `step-1`, `step-2`, … in plan order, unique within the plan.
    pub id: String,
    pub title: String,
    pub description: String,
    pub step_type: StepType,
    pub needs_search: bool,
    /// Ids of earlier steps of the same plan only.
    pub depends_on: Vec<String>,
}

/// A research plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// New for every plan, revisions included: each `plan_created` event names its own plan.
    pub id: Uuid,
    pub title: String,
    /// Why these steps answer the query.
    pub thought: String,
    /// Never empty.
    pub steps: Vec<PlanStep>,
    /// 1 for the first plan, one more for each revision.
    pub iteration: u32,
}

impl Plan {
    /// A one-step plan that researches the query as asked, for an engine that would rather
    /// degrade than fail when the planner errs. Nothing calls it implicitly: a planner
    /// failure is an [`AgentError`], and the engine decides (and can say so in its events).
    pub fn fallback(query: &str, iteration: u32) -> Plan {
        let query = clean(query);
        Plan {
            id: Uuid::new_v4(),
            title: query.clone(),
            thought: "Single-step plan: the query is researched as asked.".into(),
            steps: vec![PlanStep {
                id: step_id(0),
                title: query.clone(),
                description: format!("Find authoritative, current sources that answer: {query}"),
                step_type: StepType::Research,
                needs_search: true,
                depends_on: Vec::new(),
            }],
            iteration,
        }
    }

    /// The steps as `plan_created` shows them.
    pub fn to_event_steps(&self) -> Vec<PlanStepSummary> {
        self.steps
            .iter()
            .map(|s| PlanStepSummary {
                id: s.id.clone(),
                title: s.title.clone(),
                step_type: s.step_type.as_str().into(),
                needs_search: s.needs_search,
            })
            .collect()
    }

    /// The `plan_created` event for this plan (its own `iteration`).
    pub fn to_event(&self) -> ResearchEvent {
        ResearchEvent::PlanCreated {
            plan_id: self.id,
            title: self.title.clone(),
            thought: self.thought.clone(),
            steps: self.to_event_steps(),
            iteration: self.iteration,
        }
    }
}

/// Plan research on `query` for a depth (`profile`), given the background investigation's
/// findings (may be empty) and, when re-planning, the previous plan with the feedback that
/// asked for a revision.
///
/// The step count rule: more than `profile.steps.max` steps are cut to the first `max`
/// (steps come foundational first, so the tail is the least essential); fewer than
/// `profile.steps.min` are accepted as they are, because padding with invented steps would
/// spend searches on nothing and a narrow query may honestly need fewer. Zero steps breaks
/// the schema, so the router re-asks once before this fails.
pub async fn plan(
    router: &LlmRouter,
    query: &str,
    background_context: &str,
    profile: &ResearchProfile,
    previous: Option<(&Plan, &str)>,
) -> Result<Plan, AgentError> {
    plan_in_conversation(router, query, &[], background_context, profile, previous).await
}

/// [`plan`] for a follow-up question: the last messages of the conversation (`history`,
/// oldest first) are shown to the planner, so "and in Asia?" is planned as a continuation
/// of the earlier report rather than from nothing.
pub async fn plan_in_conversation(
    router: &LlmRouter,
    query: &str,
    history: &[Message],
    background_context: &str,
    profile: &ResearchProfile,
    previous: Option<(&Plan, &str)>,
) -> Result<Plan, AgentError> {
    let agent = Agent::Planner;
    let limits = &profile.steps;
    let max = limits.max.max(1) as usize;
    let mut system = format!(
        "{PLANNER_SYSTEM}\n\n## Step limits for this depth\nWrite between {} and {} steps. {}",
        limits.min.min(limits.max),
        max,
        limits.prompt_guidance.trim()
    );
    system.truncate(system.trim_end().len());
    let messages = vec![
        Message::system(system),
        Message::user(user_message(query, history, background_context, previous)),
    ];
    let answer = router
        .complete_json::<Answer>(agent.tier(router), messages)
        .await
        .map_err(AgentError::llm(agent))?
        .value;

    let steps = normalize_steps(answer.steps, max);
    if steps.is_empty() {
        return Err(AgentError::Unusable {
            agent,
            reason: "every step of the plan is blank".into(),
        });
    }
    if steps.len() < limits.min as usize {
        tracing::info!(
            steps = steps.len(),
            min = limits.min,
            "plan has fewer steps than the depth's minimum; kept as is"
        );
    }
    let title = Some(clean(&answer.title))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| clean(query));
    Ok(Plan {
        id: Uuid::new_v4(),
        title,
        thought: answer.thought.trim().to_string(),
        steps,
        iteration: previous.map_or(1, |(p, _)| p.iteration + 1),
    })
}

/// What the model is asked for.
#[derive(Debug, Deserialize, JsonSchema)]
struct Answer {
    title: String,
    #[serde(default)]
    thought: String,
    #[schemars(length(min = 1))]
    steps: Vec<AnswerStep>,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct AnswerStep {
    #[serde(default)]
    id: String,
    title: String,
    #[serde(default)]
    description: String,
    step_type: StepType,
    needs_search: bool,
    #[serde(default)]
    depends_on: Vec<String>,
}

fn step_id(index: usize) -> String {
    format!("step-{}", index + 1)
}

/// Drop blank steps, keep the first `max`, renumber ids `step-1…` and rewrite `depends_on`
/// through the renumbering, keeping only references to earlier steps (no self, forward,
/// unknown or repeated references: the engine runs steps in order, so only earlier
/// findings can exist).
fn normalize_steps(raw: Vec<AnswerStep>, max: usize) -> Vec<PlanStep> {
    let kept: Vec<AnswerStep> = raw
        .into_iter()
        .filter(|s| !clean(&s.title).is_empty() || !clean(&s.description).is_empty())
        .take(max)
        .collect();
    // The model's ids → positions; on duplicates the first step keeps the id.
    let mut position: HashMap<String, usize> = HashMap::new();
    for (i, s) in kept.iter().enumerate() {
        position.entry(clean(&s.id)).or_insert(i);
    }
    kept.into_iter()
        .enumerate()
        .map(|(i, s)| {
            let mut depends_on: Vec<String> = Vec::new();
            for target in s.depends_on.iter().filter_map(|d| position.get(&clean(d))) {
                let id = step_id(*target);
                if *target < i && !depends_on.contains(&id) {
                    depends_on.push(id);
                }
            }
            let title = Some(clean(&s.title))
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| clean(&s.description));
            PlanStep {
                id: step_id(i),
                title,
                description: s.description.trim().to_string(),
                step_type: s.step_type,
                needs_search: s.needs_search,
                depends_on,
            }
        })
        .collect()
}

/// What the planner is told of the configured private sources, to append to the background
/// context: steps can then be planned around them (empty without tools).
pub fn private_sources_note(tools: &crate::tools::Toolset) -> String {
    if tools.is_empty() {
        return String::new();
    }
    let mut text = String::from(
        "\n\n## Private sources the researcher can search\nBesides the web, the researcher has these tools; plan steps that need the organisation's own documents or data around them.\n",
    );
    for spec in tools.specs() {
        text.push_str(&format!("- {}: {}\n", spec.name, spec.description.trim()));
    }
    text
}

fn user_message(
    query: &str,
    history: &[Message],
    background: &str,
    previous: Option<(&Plan, &str)>,
) -> String {
    let mut text = conversation(history);
    text.push_str(&format!(
        "## Query\n{}\n\n## Background investigation\n",
        query.trim()
    ));
    let background = background.trim();
    text.push_str(if background.is_empty() {
        "(none)"
    } else {
        background
    });
    if let Some((plan, feedback)) = previous {
        text.push_str(&format!(
            "\n\n## Previous plan (iteration {}): {}\n",
            plan.iteration, plan.title
        ));
        for s in &plan.steps {
            text.push_str(&format!(
                "- {} [{}] {}: {}\n",
                s.id,
                s.step_type.as_str(),
                s.title,
                s.description
            ));
        }
        text.push_str(&format!(
            "\n## Why it must be revised\n{}\n\nWrite the revised plan in full.",
            feedback.trim()
        ));
    }
    text
}

/// How many earlier messages the planner sees, and how much of each: the latest exchange
/// (question and report) is what a follow-up refers to, and whole older reports would crowd
/// the prompt.
const HISTORY_MESSAGES: usize = 4;
const HISTORY_MESSAGE_CHARS: usize = 8000;

fn conversation(history: &[Message]) -> String {
    let recent = &history[history.len().saturating_sub(HISTORY_MESSAGES)..];
    let mut text = String::new();
    for m in recent {
        let who = match m.role {
            Role::User => "User",
            Role::Assistant => "Assistant",
            Role::System | Role::Tool => continue,
        };
        let content = m.content.trim();
        let shown: String = content.chars().take(HISTORY_MESSAGE_CHARS).collect();
        let cut = if shown.len() < content.len() {
            " […]"
        } else {
            ""
        };
        text.push_str(&format!("{who}: {shown}{cut}\n\n"));
    }
    if text.is_empty() {
        return text;
    }
    format!("## Conversation so far (the query is a follow-up)\n{text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str, title: &str, depends_on: &[&str]) -> AnswerStep {
        AnswerStep {
            id: id.into(),
            title: title.into(),
            description: format!("about {title}"),
            step_type: StepType::Research,
            needs_search: true,
            depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn ids_are_renumbered_and_references_follow_them() {
        let steps = normalize_steps(
            vec![
                step("a", " ", &[]),
                step("b", "B", &["b", "c"]),
                step("c", "C", &["b", "b", "a", "zzz"]),
            ],
            5,
        );
        // "a" has a description, so it stays, titled by it.
        let ids: Vec<_> = steps
            .iter()
            .map(|s| (s.id.as_str(), s.title.as_str()))
            .collect();
        assert_eq!(ids, [("step-1", "about"), ("step-2", "B"), ("step-3", "C")]);
        assert!(steps[1].depends_on.is_empty(), "self and forward refs drop");
        assert_eq!(steps[2].depends_on, ["step-2", "step-1"]);
    }

    #[test]
    fn duplicate_ids_resolve_to_the_first_step() {
        let steps = normalize_steps(
            vec![
                step("s", "1", &[]),
                step("s", "2", &[]),
                step("t", "3", &["s"]),
            ],
            5,
        );
        assert_eq!(steps[2].depends_on, ["step-1"]);
    }

    #[test]
    fn a_follow_up_plan_sees_the_latest_exchange() {
        let history = vec![
            Message::user("old question"),
            Message::assistant("old report"),
            Message::user("q1"),
            Message::assistant("# Report one"),
            Message::user("q2"),
            Message::assistant("# Report two"),
        ];
        let text = user_message("and in Asia?", &history, "", None);
        assert!(
            text.contains("# Report two") && text.contains("q1"),
            "{text}"
        );
        assert!(!text.contains("old report"), "{text}");
        assert!(text.find("# Report two") < text.find("## Query"), "{text}");
        assert!(!user_message("q", &[], "", None).contains("Conversation"));
    }

    #[test]
    fn fallback_is_one_searching_step() {
        let p = Plan::fallback("  why is  the sky blue ", 2);
        assert_eq!((p.steps.len(), p.iteration), (1, 2));
        assert!(p.steps[0].needs_search);
        assert_eq!(p.title, "why is the sky blue");
    }
}
