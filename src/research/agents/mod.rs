//! The research agents as plain async functions over the [`LlmRouter`]: each takes its
//! inputs and the relevant settings, asks one model tier for a schema-checked answer and
//! returns a typed, rule-enforced result. Agents emit no events; the engine does, with the
//! `to_event` builders on the results.
//!
//! - [`background::investigate`]: one quick search for context before planning (no model);
//! - [`coordinator::classify`]: answer mode, depth, ambiguity and clarifying questions;
//! - [`planner::plan`]: ordered steps within the depth's limits;
//! - [`reflector::reflect`]: continue, adjust or complete after a step;
//! - [`researcher::research_step`]: search, fetch and write one step's observation (classic
//!   mode), and [`react::research_step_react`]: the same with the model driving the searches
//!   and crawls (ReAct mode); [`run_step`] picks by the depth's mode. They are the exception
//!   to "no events": their tool calls happen while they run, so they emit `tool_call` /
//!   `tool_result` themselves;
//! - [`synthesizer::synthesize`]: the cited report, streamed, with citations enforced.

pub mod background;
pub mod coordinator;
pub mod planner;
mod private;
pub mod react;
pub mod reflector;
pub mod researcher;
pub mod synthesizer;

use std::fmt;

use crate::llm::{LlmError, LlmRouter};
use crate::research::config::ResearcherMode;
use crate::search::SearchError;

pub use crate::citations::sources::SnippetNote;
pub use coordinator::{classify, Classification, QueryMode};
pub use planner::{plan, plan_in_conversation, Plan, PlanStep, StepType};
pub use react::research_step_react;
pub use reflector::{reflect, CompletedStep, Decision, Reflection};
pub use researcher::{research_step, StepContext, StepOutcome};

/// Research one plan step in the mode the depth's profile names (`ctx.limits.mode`).
pub async fn run_step(ctx: &StepContext<'_>, step: &PlanStep) -> Result<StepOutcome, AgentError> {
    match ctx.limits.mode {
        ResearcherMode::Classic => research_step(ctx, step).await,
        ResearcherMode::React => research_step_react(ctx, step).await,
    }
}

/// Which agent a result or failure belongs to; its name is the one events use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Agent {
    /// The background investigator (a search, no model; named for events).
    Background,
    Coordinator,
    Planner,
    Reflector,
    Researcher,
    Synthesizer,
}

impl Agent {
    /// The name in `agent_started` / `agent_completed` events.
    pub fn as_str(self) -> &'static str {
        match self {
            Agent::Background => "background_investigator",
            Agent::Coordinator => "coordinator",
            Agent::Planner => "planner",
            Agent::Reflector => "reflector",
            Agent::Researcher => "researcher",
            Agent::Synthesizer => "synthesizer",
        }
    }

    /// The model tier the agent asks unless told otherwise.
    pub fn default_tier(self) -> &'static str {
        match self {
            Agent::Background | Agent::Coordinator | Agent::Reflector => "simple",
            Agent::Planner | Agent::Researcher => "analytical",
            Agent::Synthesizer => "complex",
        }
    }

    /// The agents that ask a model (the background investigator only searches).
    pub const WITH_MODEL: [Agent; 5] = [
        Agent::Coordinator,
        Agent::Planner,
        Agent::Researcher,
        Agent::Reflector,
        Agent::Synthesizer,
    ];

    /// The agent named `name` (its event name).
    pub fn from_name(name: &str) -> Option<Agent> {
        Self::WITH_MODEL
            .into_iter()
            .chain([Agent::Background])
            .find(|a| a.as_str() == name)
    }

    /// The tier to ask on `router`: a tier forced for this agent (`--model-tier`), else
    /// the agent's default tier when it is configured, else the router's default tier. A
    /// small setup with one tier still runs every agent, while the original's
    /// configuration (which defines `simple` and `analytical`) gets its intent.
    pub fn tier(self, router: &LlmRouter) -> Option<&str> {
        if let Some(forced) = router.caller_tier(self.as_str()) {
            return Some(forced);
        }
        let wanted = self.default_tier();
        router.tiers().contains(&wanted).then_some(wanted)
    }
}

impl fmt::Display for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an agent gave no result.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The model could not be reached, or answered with something that is not a valid
    /// result even after the structured-output re-ask (`LlmError::StructuredOutput`).
    #[error("{agent} agent: {source}")]
    Llm {
        agent: Agent,
        #[source]
        source: LlmError,
    },
    /// The answer parsed but cannot be used (for example, a plan whose steps are all blank).
    #[error("{agent} agent: unusable answer: {reason}")]
    Unusable { agent: Agent, reason: String },
    /// Every web search of a step failed, so there is nothing to research from; `source`
    /// is the last failure (the others are logged).
    #[error("{agent} agent: all {failed} web searches failed; the last: {source}")]
    Search {
        agent: Agent,
        failed: u32,
        #[source]
        source: SearchError,
    },
}

impl AgentError {
    /// The agent that failed.
    pub fn agent(&self) -> Agent {
        match self {
            AgentError::Llm { agent, .. }
            | AgentError::Unusable { agent, .. }
            | AgentError::Search { agent, .. } => *agent,
        }
    }

    pub(crate) fn llm(agent: Agent) -> impl FnOnce(LlmError) -> AgentError {
        move |source| AgentError::Llm { agent, source }
    }
}

/// Collapse whitespace runs and trim, so blank or padded model strings compare as empty.
fn clean(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
