//! Research settings in the Python original's shape: `agents`, `research_types` (one
//! profile per depth), `query_modes` and `truncation`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::citations::config::CitationVerification;
use crate::search::SearchConfig;

/// What the research engine reads of the configuration: its own sections, and those of
/// the search and citation stages it drives.
#[derive(Debug, Clone, Default)]
pub struct ResearchConfig {
    pub agents: AgentsConfig,
    pub research_types: ResearchTypes,
    pub query_modes: QueryModes,
    pub search: SearchConfig,
    pub citation_verification: CitationVerification,
}

/// `agents`: limits per agent.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct AgentsConfig {
    pub researcher: ResearcherAgent,
    pub planner: PlannerAgent,
    pub coordinator: CoordinatorAgent,
    pub synthesizer: SynthesizerAgent,
    pub background: BackgroundAgent,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ResearcherAgent {
    pub max_search_queries: u32,
    pub max_search_results: u32,
    pub max_urls_to_crawl: u32,
    pub content_preview_length: u32,
    pub content_storage_length: u32,
    pub max_previous_observations: u32,
    pub page_contents_limit: u32,
    pub max_generated_queries: u32,
    /// At most this many independent plan steps run at once, where the depth allows it.
    pub max_parallel_steps: u32,
    /// The longest a step waits for the pages it fetches at once (classic mode's pages, a
    /// ReAct turn's crawls). Pages still loading then are dropped as failed fetches and
    /// the step goes on with the pages it has.
    #[serde(with = "humantime_serde")]
    pub fetch_deadline: Duration,
    /// Once at least half of a step's pages have arrived, how much longer the others are
    /// waited for (never past `fetch_deadline`): one slow site should not hold a step that
    /// already has most of its sources.
    #[serde(with = "humantime_serde")]
    pub straggler_wait: Duration,
}

impl Default for ResearcherAgent {
    fn default() -> Self {
        Self {
            max_search_queries: 4,
            max_search_results: 15,
            max_urls_to_crawl: 10,
            content_preview_length: 3000,
            content_storage_length: 15000,
            max_previous_observations: 10,
            page_contents_limit: 8000,
            max_generated_queries: 3,
            max_parallel_steps: 3,
            fetch_deadline: Duration::from_secs(15),
            straggler_wait: Duration::from_secs(3),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct PlannerAgent {
    pub max_plan_iterations: u32,
}

impl Default for PlannerAgent {
    fn default() -> Self {
        Self {
            max_plan_iterations: 3,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct CoordinatorAgent {
    pub max_clarification_rounds: u32,
    pub enable_clarification: bool,
}

impl Default for CoordinatorAgent {
    fn default() -> Self {
        Self {
            max_clarification_rounds: 3,
            enable_clarification: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct SynthesizerAgent {
    pub max_report_length: u32,
}

impl Default for SynthesizerAgent {
    fn default() -> Self {
        Self {
            max_report_length: 50_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct BackgroundAgent {
    pub max_search_queries: u32,
    pub max_results_per_query: u32,
    pub max_total_results: u32,
}

impl Default for BackgroundAgent {
    fn default() -> Self {
        Self {
            max_search_queries: 4,
            max_results_per_query: 5,
            max_total_results: 8,
        }
    }
}

/// How deep a deep-research run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Depth {
    /// The coordinator picks light, medium or extended.
    #[default]
    Auto,
    Light,
    Medium,
    Extended,
}

impl Depth {
    /// The name configuration, events and stored sessions use.
    pub fn as_str(self) -> &'static str {
        match self {
            Depth::Auto => "auto",
            Depth::Light => "light",
            Depth::Medium => "medium",
            Depth::Extended => "extended",
        }
    }
}

/// `research_types`: one profile per depth.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ResearchTypes {
    pub light: ResearchProfile,
    pub medium: ResearchProfile,
    pub extended: ResearchProfile,
}

impl Default for ResearchTypes {
    fn default() -> Self {
        let profile =
            |min, max, guidance: &str, words: (u32, u32, u32), mode, queries, urls, tools| {
                ResearchProfile {
                    steps: StepLimits {
                        min,
                        max,
                        prompt_guidance: guidance.into(),
                    },
                    report_limits: ReportLimits {
                        min_words: words.0,
                        max_words: words.1,
                        max_tokens: words.2,
                    },
                    researcher: ProfileResearcher {
                        mode,
                        max_search_queries: queries,
                        max_urls_to_crawl: urls,
                        max_tool_calls: tools,
                    },
                    parallel_steps: None,
                    citation_verification: None,
                }
            };
        // The original's defaults (its config/app.yaml).
        Self {
            light: profile(1, 3, "Quick overview with 1-3 focused steps. Prioritize speed over depth.", (800, 2000, 4000), ResearcherMode::Classic, 2, 3, 8),
            medium: profile(3, 6, "Balanced research covering key aspects thoroughly. Aim for comprehensive coverage.", (1200, 2000, 4000), ResearcherMode::React, 3, 5, 12),
            extended: profile(5, 10, "Comprehensive deep research. Multiple perspectives, thorough verification, detailed analysis.", (1500, 3200, 8000), ResearcherMode::React, 4, 8, 40),
        }
    }
}

impl ResearchTypes {
    /// The profile for a concrete depth; `Auto` means medium until the coordinator decides.
    pub fn profile(&self, depth: Depth) -> &ResearchProfile {
        match depth {
            Depth::Light => &self.light,
            Depth::Medium | Depth::Auto => &self.medium,
            Depth::Extended => &self.extended,
        }
    }
}

/// Everything one depth allows.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ResearchProfile {
    pub steps: StepLimits,
    pub report_limits: ReportLimits,
    pub researcher: ProfileResearcher,
    /// Run plan steps that do not depend on each other at the same time. Unset: on for
    /// medium and extended, off for light (a quick run has few steps and values order).
    pub parallel_steps: Option<bool>,
    /// What this depth changes in `citation_verification`.
    pub citation_verification: Option<crate::citations::config::DepthOverride>,
}

impl ResearchProfile {
    /// Whether this profile, used at `depth`, runs independent steps in parallel.
    pub fn parallel_steps(&self, depth: Depth) -> bool {
        self.parallel_steps.unwrap_or(matches!(
            depth,
            Depth::Medium | Depth::Extended | Depth::Auto
        ))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct StepLimits {
    pub min: u32,
    pub max: u32,
    pub prompt_guidance: String,
}

impl Default for StepLimits {
    fn default() -> Self {
        Self {
            min: 1,
            max: 5,
            prompt_guidance: String::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ReportLimits {
    pub min_words: u32,
    pub max_words: u32,
    pub max_tokens: u32,
}

impl Default for ReportLimits {
    fn default() -> Self {
        Self {
            min_words: 800,
            max_words: 2000,
            max_tokens: 4000,
        }
    }
}

/// `classic`: fixed searches and crawls per step; `react`: the model drives a tool loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResearcherMode {
    #[default]
    Classic,
    React,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ProfileResearcher {
    pub mode: ResearcherMode,
    pub max_search_queries: u32,
    pub max_urls_to_crawl: u32,
    /// The ReAct loop's budget of tool calls per step.
    pub max_tool_calls: u32,
}

impl Default for ProfileResearcher {
    fn default() -> Self {
        Self {
            mode: ResearcherMode::Classic,
            max_search_queries: 2,
            max_urls_to_crawl: 3,
            max_tool_calls: 8,
        }
    }
}

/// `query_modes`: simple answer, quick web search, or deep research.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct QueryModes {
    pub simple: QueryModeSettings,
    pub web_search: QueryModeSettings,
    pub deep_research: QueryModeSettings,
}

/// One query mode's settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct QueryModeSettings {
    /// The model tier that answers.
    pub model_role: Option<String>,
    pub emit_events: bool,
    pub create_session: bool,
    pub timeout_seconds: Option<u32>,
    pub max_retries: Option<u32>,
    /// Researcher limits for this mode (web_search).
    pub researcher: Option<ProfileResearcher>,
    /// deep_research: take limits from `research_types`.
    pub use_research_types: bool,
    /// What this mode changes in `citation_verification`.
    pub citation_verification: Option<crate::citations::config::DepthOverride>,
}

impl Default for QueryModeSettings {
    fn default() -> Self {
        Self {
            model_role: None,
            emit_events: true,
            create_session: true,
            timeout_seconds: None,
            max_retries: None,
            researcher: None,
            use_research_types: false,
            citation_verification: None,
        }
    }
}

/// `truncation`: preview lengths in characters.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Truncation {
    pub log_preview: u32,
    pub error_message: u32,
    pub query_display: u32,
    pub source_snippet: u32,
}

impl Default for Truncation {
    fn default() -> Self {
        Self {
            log_preview: 200,
            error_message: 500,
            query_display: 100,
            source_snippet: 300,
        }
    }
}
