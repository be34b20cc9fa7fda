//! The reflector: after each research step, decides whether the plan goes on, is revised,
//! or is done.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{clean, Agent, AgentError};
use crate::events::ResearchEvent;
use crate::llm::{LlmRouter, Message};
use crate::research::prompts::REFLECTOR_SYSTEM;

use super::planner::{Plan, PlanStep};

/// What happens after a step; lowercase on the wire, as in `reflection_decision` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Run the next step.
    Continue,
    /// Ask the planner for a revised plan.
    Adjust,
    /// Skip the remaining steps and write the report.
    Complete,
}

impl Decision {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Continue => "continue",
            Decision::Adjust => "adjust",
            Decision::Complete => "complete",
        }
    }
}

/// The reflector's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reflection {
    pub decision: Decision,
    pub reasoning: String,
    /// For the planner when the decision is `Adjust`; may be empty.
    pub suggested_changes: Vec<String>,
}

impl Reflection {
    /// The `reflection_decision` event; no suggestions are sent as `null`, as the original does.
    pub fn to_event(&self) -> ResearchEvent {
        ResearchEvent::ReflectionDecision {
            decision: self.decision.as_str().into(),
            reasoning: self.reasoning.clone(),
            suggested_changes: Some(self.suggested_changes.clone()).filter(|c| !c.is_empty()),
        }
    }
}

/// A step already run, with what it found (an observation or its summary).
#[derive(Debug, Clone, Copy)]
pub struct CompletedStep<'a> {
    pub step: &'a PlanStep,
    pub summary: &'a str,
}

/// Decide what follows the steps completed so far (`completed`, in order) given those
/// still to run (`remaining`).
///
/// Rules enforced whatever the model says: `complete` before `min_steps` steps have run
/// becomes `continue` when steps remain (the depth promises that much research);
/// `continue` with no step left becomes `complete`, since there is nothing to continue to.
pub async fn reflect(
    router: &LlmRouter,
    query: &str,
    plan: &Plan,
    completed: &[CompletedStep<'_>],
    remaining: &[PlanStep],
    min_steps: u32,
) -> Result<Reflection, AgentError> {
    let agent = Agent::Reflector;
    let messages = vec![
        Message::system(REFLECTOR_SYSTEM),
        Message::user(user_message(query, plan, completed, remaining, min_steps)),
    ];
    let answer = router
        .complete_json::<Answer>(agent.tier(router), messages)
        .await
        .map_err(AgentError::llm(agent))?
        .value;
    Ok(answer.into_reflection(completed.len(), remaining.len(), min_steps))
}

/// What the model is asked for: the verdict, reasoning first so the decision follows it.
#[derive(Debug, Deserialize, JsonSchema)]
struct Answer {
    #[serde(default)]
    reasoning: String,
    decision: Decision,
    #[serde(default)]
    suggested_changes: Option<Vec<String>>,
}

impl Answer {
    fn into_reflection(self, done: usize, remaining: usize, min_steps: u32) -> Reflection {
        let mut reasoning = self.reasoning.trim().to_string();
        let decision = match self.decision {
            Decision::Complete if done < min_steps as usize && remaining > 0 => {
                reasoning.push_str(&format!(
                    " [continuing: {done} of the depth's minimum {min_steps} steps have run]"
                ));
                Decision::Continue
            }
            Decision::Continue if remaining == 0 => Decision::Complete,
            d => d,
        };
        let suggested_changes = self
            .suggested_changes
            .unwrap_or_default()
            .iter()
            .map(|c| clean(c))
            .filter(|c| !c.is_empty())
            .collect();
        Reflection {
            decision,
            reasoning: reasoning.trim().to_string(),
            suggested_changes,
        }
    }
}

fn user_message(
    query: &str,
    plan: &Plan,
    completed: &[CompletedStep<'_>],
    remaining: &[PlanStep],
    min_steps: u32,
) -> String {
    let total = completed.len() + remaining.len();
    let mut text = format!(
        "## Query\n{}\n\n## Plan (iteration {}): {}\n{}\n\n## Completed steps ({} of {total}; the depth asks for at least {min_steps})\n",
        query.trim(),
        plan.iteration,
        plan.title,
        plan.thought,
        completed.len(),
    );
    if completed.is_empty() {
        text.push_str("(none)\n");
    }
    for c in completed {
        text.push_str(&format!(
            "### {}: {}\n{}\n\n",
            c.step.id,
            c.step.title,
            c.summary.trim()
        ));
    }
    text.push_str("\n## Remaining steps (not yet run)\n");
    if remaining.is_empty() {
        text.push_str("(none)\n");
    }
    for s in remaining {
        text.push_str(&format!("- {}: {}: {}\n", s.id, s.title, s.description));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(decision: Decision) -> Answer {
        Answer {
            reasoning: "r".into(),
            decision,
            suggested_changes: Some(vec![" ".into(), " add  X ".into()]),
        }
    }

    #[test]
    fn completing_before_the_minimum_continues() {
        let r = answer(Decision::Complete).into_reflection(1, 2, 3);
        assert_eq!(r.decision, Decision::Continue);
        assert!(r.reasoning.contains("minimum 3"));
        assert_eq!(r.suggested_changes, ["add X"]);
    }

    #[test]
    fn completing_early_is_allowed_when_nothing_remains_or_the_minimum_is_met() {
        assert_eq!(
            answer(Decision::Complete).into_reflection(1, 0, 3).decision,
            Decision::Complete
        );
        assert_eq!(
            answer(Decision::Complete).into_reflection(3, 2, 3).decision,
            Decision::Complete
        );
    }

    #[test]
    fn continuing_with_nothing_left_completes() {
        assert_eq!(
            answer(Decision::Continue).into_reflection(2, 0, 1).decision,
            Decision::Complete
        );
        assert_eq!(
            answer(Decision::Adjust).into_reflection(2, 0, 1).decision,
            Decision::Adjust
        );
    }
}
