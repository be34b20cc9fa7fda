//! The world of one research step: the fake model, the fake Brave and the page server, with
//! the engine's services (router, search provider, fetcher, source registry, event bus)
//! pointed at them, and a recorder of every event.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dra::citations::sources::SourceRegistry;
use dra::config::AppConfig;
use dra::events::sink::{EventBus, EventSink};
use dra::events::{EventEnvelope, ResearchEvent};
use dra::llm::LlmRouter;
use dra::research::agents::{PlanStep, StepContext, StepType};
use dra::research::config::{ProfileResearcher, ResearcherAgent};
use dra::search::{self, SearchProvider};
use dra::web::{Fetcher, WebConfig};
use serde_json::Value;

use super::llm::FakeLlm;
use super::{FakeSearch, PageServer};

/// The research query every step world researches.
pub const QUERY: &str = "How fast are river deltas losing wetlands?";

/// Records every envelope an [`EventBus`] emits.
#[derive(Default)]
pub struct Recorder(Mutex<Vec<EventEnvelope>>);

impl EventSink for Recorder {
    fn emit(&self, envelope: &EventEnvelope) {
        self.0.lock().unwrap().push(envelope.clone());
    }
}

impl Recorder {
    pub fn events(&self) -> Vec<ResearchEvent> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.payload.event.clone())
            .collect()
    }

    /// Every envelope as the JSON a client receives.
    pub fn json(&self) -> Vec<Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect()
    }

    /// The `payload` of every envelope.
    pub fn payloads(&self) -> Vec<Value> {
        self.json()
            .into_iter()
            .map(|mut e| e["payload"].take())
            .collect()
    }
}

/// The fakes and the services of one step. The model's tiers are `simple` and
/// `analytical` (model `ep-analytical`, the researcher's).
pub struct StepWorld {
    pub llm: FakeLlm,
    pub search_fake: FakeSearch,
    pub pages: PageServer,
    pub config: AppConfig,
    pub router: LlmRouter,
    pub search: Arc<dyn SearchProvider>,
    pub fetcher: Fetcher,
    pub tools: dra::tools::Toolset,
    pub sources: SourceRegistry,
    pub recorder: Arc<Recorder>,
    pub events: EventBus,
    pub limits: ProfileResearcher,
    pub settings: ResearcherAgent,
}

impl StepWorld {
    pub async fn start(limits: ProfileResearcher) -> StepWorld {
        let llm = FakeLlm::start().await;
        let search_fake = FakeSearch::start().await;
        let pages = PageServer::start().await;
        let (mut config, env) = search_fake.brave_config();
        super::llm::add_tiers(&mut config, &llm, &["simple", "analytical"]);
        let router = super::llm::router(&config);
        let search = search::from_config(&config.search, &env).expect("provider");
        let fetcher = Fetcher::new(&WebConfig {
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            retries: 0,
            allowed_hosts: super::pages::loopback_hosts(),
            ..WebConfig::default()
        })
        .expect("fetcher");
        let recorder = Arc::new(Recorder::default());
        let events = EventBus::new(vec![Box::new(recorder.clone())]);
        StepWorld {
            llm,
            search_fake,
            pages,
            config,
            router,
            search,
            fetcher,
            tools: dra::tools::Toolset::default(),
            sources: SourceRegistry::default(),
            recorder,
            events,
            limits,
            settings: ResearcherAgent::default(),
        }
    }

    /// The context a step of [`QUERY`] runs in, with no previous observations.
    pub fn ctx(&self) -> StepContext<'_> {
        StepContext {
            router: &self.router,
            search: self.search.as_ref(),
            search_config: &self.config.search,
            fetcher: &self.fetcher,
            tools: &self.tools,
            sources: &self.sources,
            events: &self.events,
            query: QUERY,
            limits: &self.limits,
            settings: &self.settings,
            previous_observations: &[],
        }
    }

    /// A fetcher that waits a minute for a page and retries, as a real one waits
    /// `read_timeout`: long enough that a step waiting for a held page would be seen to.
    pub fn patient_fetcher(&mut self) {
        self.fetcher = Fetcher::new(&WebConfig {
            read_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(60),
            retries: 2,
            allowed_hosts: super::pages::loopback_hosts(),
            ..WebConfig::default()
        })
        .expect("fetcher");
    }

    /// Brave answers every query with results at these page-server paths.
    pub fn serve_hits(&self, paths: &[&str]) {
        self.search_fake.serve_pages(&self.pages, paths);
    }
}

/// The plan step every step world researches.
pub fn step() -> PlanStep {
    PlanStep {
        id: "step-1".into(),
        title: "Delta wetland loss".into(),
        description: "Find measured rates of wetland loss in river deltas since 1990.".into(),
        step_type: StepType::Research,
        needs_search: true,
        depends_on: Vec::new(),
    }
}
