//! dra as an MCP server: `research`, `search` and `fetch` for other agents, over stdio
//! (`dra mcp`); the same handler can sit behind rmcp's streamable HTTP service. rmcp speaks the protocol;
//! this module maps each tool onto the engine exactly as `dra research`, `dra search` and
//! `dra fetch` use it, and research events onto MCP progress notifications.

use std::sync::{Arc, Mutex};

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, ProgressNotificationParam, ProgressToken,
    ServerCapabilities, ServerConfig, TextContent,
};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_handler, tool_router, ErrorData, RoleServer, ServerHandler};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use crate::events::sink::{EventBus, EventSink};
use crate::events::{EventEnvelope, ResearchEvent};
use crate::llm::LlmRouter;
use crate::research::agents::QueryMode;
use crate::research::config::{Depth, ResearchConfig};
use crate::research::run::{Outcome, ResearchReport, RunRequest, Services};
use crate::search::{SearchConfig, SearchProvider, SearchQuery};
use crate::tools::Toolset;
use crate::web::Fetcher;

/// What the tools run with: the services `dra research` builds from the configuration.
pub struct McpServices {
    pub llm: Arc<LlmRouter>,
    pub search: Arc<dyn SearchProvider>,
    pub search_config: SearchConfig,
    pub fetcher: Arc<Fetcher>,
    pub tools: Toolset,
    pub research: ResearchConfig,
}

/// One MCP session's handler. `user` is whom its runs are for (the signed-in user under
/// `dra serve`, the CLI's identity under `dra mcp`).
#[derive(Clone)]
pub struct DraMcp {
    services: Arc<McpServices>,
    user: Option<String>,
}

/// The signed-in user of an HTTP request, put into the request's extensions by whoever
/// mounts the streamable HTTP service (`/mcp` under `dra serve`); rmcp hands the request's
/// parts to each tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpUser(pub String);

/// The [`McpUser`] of the HTTP request behind a call, if there is one.
fn request_user(context: &RequestContext<RoleServer>) -> Option<String> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<McpUser>())
        .map(|user| user.0.clone())
}

/// `research` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ResearchArgs {
    /// The question to research.
    pub question: String,
    /// simple: the model answers alone; web_search: a few searches and an answer;
    /// deep_research: plan, research, reflect, a cited report. Chosen by dra when unset.
    pub mode: Option<Mode>,
    /// How much research a deep run does. `auto` when unset.
    pub depth: Option<DepthArg>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Simple,
    WebSearch,
    DeepResearch,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DepthArg {
    Auto,
    Light,
    Medium,
    Extended,
}

/// `search` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchArgs {
    /// The web search query.
    pub query: String,
    /// How many hits (1 to 20); the configured count when unset.
    pub count: Option<u32>,
}

/// `fetch` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FetchArgs {
    /// An http(s) URL.
    pub url: String,
}

impl DraMcp {
    pub fn new(services: Arc<McpServices>, user: Option<String>) -> DraMcp {
        DraMcp { services, user }
    }
}

#[tool_router]
impl DraMcp {
    /// Research a question and return a cited report.
    #[tool(
        description = "Research a question on the web (and dra's configured private sources): plan, search, read, verify citations, and return a markdown report with numbered sources and a verification summary. Deep research takes minutes; progress is reported while it runs and the call can be cancelled (the partial report is returned)."
    )]
    async fn research(
        &self,
        Parameters(args): Parameters<ResearchArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let question = args.question.trim();
        if question.is_empty() {
            return Err(ErrorData::invalid_params("`question` is empty", None));
        }
        let request = RunRequest {
            mode: args.mode.map(|m| match m {
                Mode::Simple => QueryMode::Simple,
                Mode::WebSearch => QueryMode::WebSearch,
                Mode::DeepResearch => QueryMode::DeepResearch,
            }),
            depth: match args.depth.unwrap_or(DepthArg::Auto) {
                DepthArg::Auto => Depth::Auto,
                DepthArg::Light => Depth::Light,
                DepthArg::Medium => Depth::Medium,
                DepthArg::Extended => Depth::Extended,
            },
            // Nobody can answer clarifying questions in a tool call.
            clarification_rounds: None,
            // The client's notifications/cancelled (or a dropped HTTP stream) stops the run;
            // what was gathered becomes a partial report.
            cancel: context.ct.clone(),
            user: request_user(&context).or_else(|| self.user.clone()),
            ..RunRequest::new(question)
        };
        let progress = Progress::start(context.meta.get_progress_token(), context.peer.clone());
        let bus = Arc::new(EventBus::new(vec![Box::new(progress.sink())]));
        let s = &self.services;
        let services = Services {
            llm: s.llm.as_ref(),
            search: s.search.as_ref(),
            fetcher: s.fetcher.as_ref(),
            tools: &s.tools,
            config: &s.research,
        };
        let outcome = crate::research::run::run(&request, &services, &bus).await;
        // The bus holds the sink's sender: the forwarder ends only once both are gone.
        drop(bus);
        let verification = progress.finish().await;
        match outcome {
            Err(e) => Ok(error_result(format!("research failed: {e}"))),
            Ok(Outcome::Answer { text }) => Ok(CallToolResult::success(vec![text_block(text)])),
            Ok(Outcome::Clarify { questions }) => Ok(error_result(format!(
                "the question needs clarification; ask again with these answered:\n- {}",
                questions.join("\n- ")
            ))),
            Ok(Outcome::Report(report)) => Ok(report_result(&report, verification)),
        }
    }

    /// Search the web.
    #[tool(
        description = "Search the web with dra's configured provider; returns ranked hits (title, url, snippet) as JSON."
    )]
    async fn search(
        &self,
        Parameters(args): Parameters<SearchArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let text = args.query.trim();
        if text.is_empty() {
            return Err(ErrorData::invalid_params("`query` is empty", None));
        }
        let mut query = SearchQuery::new(text, &self.services.search_config);
        if let Some(count) = args.count {
            query.count = count.clamp(1, 20);
        }
        match self.services.search.search(&query).await {
            Ok(hits) => {
                let value = json!({"query": text, "hits": hits});
                Ok(json_result(value))
            }
            Err(e) => Ok(error_result(format!("search failed: {e}"))),
        }
    }

    /// Fetch a page and return its readable text.
    #[tool(
        description = "Fetch a web page (or PDF) and return its extracted readable text with its title, as dra reads pages during research."
    )]
    async fn fetch(
        &self,
        Parameters(args): Parameters<FetchArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        match self.services.fetcher.fetch(args.url.trim()).await {
            Ok(page) => {
                let title = page.title.clone().unwrap_or_default();
                let header = format!("# {title}\n\nURL: {}\n\n", page.final_url);
                let mut result =
                    CallToolResult::success(vec![text_block(format!("{header}{}", page.text))]);
                result.structured_content = Some(json!({
                    "url": page.final_url.to_string(),
                    "title": page.title,
                    "text": page.text,
                }));
                Ok(result)
            }
            Err(e) => Ok(error_result(format!("fetch failed: {e}"))),
        }
    }
}

#[tool_handler]
impl ServerHandler for DraMcp {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build());
        info.server_info = Implementation::new("dra", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(
            "dra is a deep-research agent. `research` answers a question with a cited report; \
             `search` and `fetch` give raw web hits and page text."
                .into(),
        );
        info
    }
}

fn text_block(text: impl Into<String>) -> ContentBlock {
    ContentBlock::Text(TextContent::new(text))
}

fn error_result(message: String) -> CallToolResult {
    CallToolResult::error(vec![text_block(crate::redact::scrub(&message))])
}

fn json_result(value: serde_json::Value) -> CallToolResult {
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    let mut result = CallToolResult::success(vec![text_block(text)]);
    result.structured_content = Some(value);
    result
}

/// The report as the first text item; sources and verification as JSON in a second one
/// and as structured content.
fn report_result(
    report: &ResearchReport,
    verification: Option<serde_json::Value>,
) -> CallToolResult {
    let sources: Vec<serde_json::Value> = report
        .sources
        .iter()
        .map(|s| {
            json!({
                "number": s.number,
                "url": s.url,
                "title": s.title,
                "source_type": s.kind.as_str(),
            })
        })
        .collect();
    let details = json!({
        "sources": sources,
        "verification": verification,
        "partial": report.partial.map(|r| r.to_string()),
    });
    let mut result = CallToolResult::success(vec![
        text_block(report.markdown.clone()),
        text_block(serde_json::to_string_pretty(&details).unwrap_or_default()),
    ]);
    let mut structured = details;
    structured["report"] = json!(report.markdown);
    result.structured_content = Some(structured);
    result
}

/// Research events as MCP progress notifications (when the client sent a progress token),
/// and the verification summary kept for the result.
struct Progress {
    sender: mpsc::UnboundedSender<String>,
    forward: tokio::task::JoinHandle<()>,
    verification: Arc<Mutex<Option<serde_json::Value>>>,
}

struct ProgressSink {
    sender: mpsc::UnboundedSender<String>,
    verification: Arc<Mutex<Option<serde_json::Value>>>,
}

impl Progress {
    fn start(token: Option<ProgressToken>, peer: rmcp::Peer<RoleServer>) -> Progress {
        let (sender, mut receiver) = mpsc::unbounded_channel::<String>();
        let forward = tokio::spawn(async move {
            let mut step = 0.0;
            while let Some(message) = receiver.recv().await {
                let Some(token) = &token else { continue };
                step += 1.0;
                let param =
                    ProgressNotificationParam::new(token.clone(), step).with_message(message);
                if let Err(e) = peer.notify_progress(param).await {
                    tracing::debug!(error = %e, "an MCP progress notification was not sent");
                }
            }
        });
        Progress {
            sender,
            forward,
            verification: Arc::default(),
        }
    }

    fn sink(&self) -> ProgressSink {
        ProgressSink {
            sender: self.sender.clone(),
            verification: self.verification.clone(),
        }
    }

    /// Wait until every progress message is out, so none trails the result.
    async fn finish(self) -> Option<serde_json::Value> {
        let Progress {
            sender,
            forward,
            verification,
        } = self;
        drop(sender);
        let _ = forward.await;
        let summary = verification.lock().ok().and_then(|v| v.clone());
        summary
    }
}

impl EventSink for ProgressSink {
    fn emit(&self, envelope: &EventEnvelope) {
        let event = &envelope.payload.event;
        if let ResearchEvent::VerificationSummary { .. } = event {
            if let (Ok(mut slot), Ok(value)) =
                (self.verification.lock(), serde_json::to_value(event))
            {
                *slot = Some(value);
            }
        }
        if let Some(message) = progress_message(event) {
            let _ = self.sender.send(message);
        }
    }
}

/// The events worth a progress line, in the words `dra research` prints.
fn progress_message(event: &ResearchEvent) -> Option<String> {
    Some(match event {
        ResearchEvent::ResearchStarted { .. } => "research started".into(),
        ResearchEvent::PlanCreated { title, steps, .. } => {
            format!("plan: {title} ({} steps)", steps.len())
        }
        ResearchEvent::StepStarted {
            step_index,
            step_title,
            ..
        } => format!("step {} started: {step_title}", step_index + 1),
        ResearchEvent::StepCompleted {
            step_index,
            sources_found,
            ..
        } => format!("step {} done: {sources_found} sources", step_index + 1),
        ResearchEvent::ReflectionDecision { decision, .. } => format!("reflection: {decision}"),
        ResearchEvent::SynthesisStarted { total_sources, .. } => {
            format!("writing the report from {total_sources} sources")
        }
        ResearchEvent::VerificationSummary {
            total_claims,
            supported,
            ..
        } => format!("verified: {supported} of {total_claims} claims supported"),
        ResearchEvent::ResearchCompleted { .. } => "research completed".into(),
        _ => return None,
    })
}
