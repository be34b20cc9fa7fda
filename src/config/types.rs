//! The whole configuration file, assembled from the sections each module owns. Every field
//! has a default, so an empty file is valid.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::databricks::DatabricksSection;
use crate::db::config::{DatabaseSection, LakebaseSection};
use crate::serve::RetentionSection;
use crate::telemetry::TracingSection;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct AppConfig {
    pub databricks: DatabricksSection,
    pub database: DatabaseSection,
    pub lakebase: LakebaseSection,
    /// Limits for fetching web pages.
    pub web: crate::web::WebConfig,
    /// Per-agent limits (the original's `agents`).
    pub agents: crate::research::config::AgentsConfig,
    /// One profile per research depth (the original's `research_types`).
    pub research_types: crate::research::config::ResearchTypes,
    /// simple / web_search / deep_research settings (the original's `query_modes`).
    pub query_modes: crate::research::config::QueryModes,
    /// Preview lengths (the original's `truncation`).
    pub truncation: crate::research::config::Truncation,
    pub search: crate::search::SearchConfig,
    /// Private sources and MCP servers the researcher may call (ours; the original's
    /// `vector_search` and `knowledge_assistants` sections live here).
    pub tools: crate::tools::ToolsSection,
    /// The tier used when a caller names none (the original's `default_role`).
    pub default_role: String,
    /// Serving endpoints by id (the original's `endpoints`).
    pub endpoints: BTreeMap<String, crate::llm::EndpointConfig>,
    /// Model tiers by name (the original's `models`).
    pub models: BTreeMap<String, crate::llm::ModelRole>,
    /// Retry backoff (the original's `rate_limiting`).
    pub rate_limiting: crate::llm::RateLimiting,
    /// Where LLM requests go and how hard to try.
    pub llm: crate::llm::LlmSection,
    /// The embeddings endpoint for semantic evidence selection; unset = keywords only.
    pub embeddings: crate::llm::EmbeddingsSection,
    /// Span export over OTLP.
    pub tracing: TracingSection,
    /// How long `dra serve` keeps soft-deleted chats before purging them.
    pub retention: RetentionSection,
    /// The seven-stage citation verification (the original's `citation_verification`).
    pub citation_verification: crate::citations::config::CitationVerification,
    /// Durable research jobs of `dra serve` (the original's `jobs`).
    pub jobs: crate::jobs::JobsConfig,
    /// Per-user request limits of `dra serve` (ours; not the original's `rate_limiting`,
    /// which is the model calls' backoff).
    pub rate_limits: crate::serve::RateLimitsConfig,
    /// Client timeouts and the connection cap of `dra serve`.
    pub server: crate::serve::ServerConfig,
}

impl AppConfig {
    /// The model settings, borrowed.
    pub fn llm_settings(&self) -> crate::llm::LlmSettings<'_> {
        crate::llm::LlmSettings {
            default_role: &self.default_role,
            endpoints: &self.endpoints,
            models: &self.models,
            rate_limiting: &self.rate_limiting,
            llm: &self.llm,
            embeddings: &self.embeddings,
        }
    }
}

impl AppConfig {
    /// The research engine's settings.
    pub fn research(&self) -> crate::research::config::ResearchConfig {
        crate::research::config::ResearchConfig {
            agents: self.agents.clone(),
            research_types: self.research_types.clone(),
            query_modes: self.query_modes.clone(),
            search: self.search.clone(),
            citation_verification: self.citation_verification.clone(),
        }
    }
}

impl<'a> From<&'a AppConfig> for crate::db::config::DbSettings<'a> {
    fn from(c: &'a AppConfig) -> Self {
        crate::db::config::DbSettings {
            database: &c.database,
            lakebase: &c.lakebase,
        }
    }
}

impl<'a> From<&'a AppConfig> for crate::llm::LlmSettings<'a> {
    fn from(c: &'a AppConfig) -> Self {
        c.llm_settings()
    }
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            databricks: DatabricksSection::default(),
            database: DatabaseSection::default(),
            lakebase: LakebaseSection::default(),
            default_role: "analytical".into(),
            endpoints: BTreeMap::new(),
            models: BTreeMap::new(),
            rate_limiting: crate::llm::RateLimiting::default(),
            llm: crate::llm::LlmSection::default(),
            embeddings: crate::llm::EmbeddingsSection::default(),
            search: crate::search::SearchConfig::default(),
            tools: Default::default(),
            web: crate::web::WebConfig::default(),
            agents: crate::research::config::AgentsConfig::default(),
            research_types: crate::research::config::ResearchTypes::default(),
            query_modes: crate::research::config::QueryModes::default(),
            truncation: crate::research::config::Truncation::default(),
            tracing: TracingSection::default(),
            retention: RetentionSection::default(),
            citation_verification: Default::default(),
            jobs: Default::default(),
            rate_limits: Default::default(),
            server: Default::default(),
        }
    }
}
