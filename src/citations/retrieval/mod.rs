//! Stage 7, ARE-style verification retrieval: a claim that stage 4 judged unsupported or
//! partial is split into atomic facts, each fact is looked for in the fetched sources and,
//! failing that, on the web, and the sentence is rebuilt from what could be verified.
//!
//! 1. **Decomposition** (FActScore): one model call turns the claim into at most
//!    `max_atomic_facts_per_claim` simple facts. A claim under [`SHORT_CLAIM_WORDS`] words
//!    is its own single fact, without a call; so is a claim whose decomposition failed.
//! 2. **Per fact**, concurrently ([`FACT_CONCURRENCY`] at a time):
//!    - *internal search*: BM25 windows of every registered source ([`evidence::select`]);
//!      a window is a candidate when it holds at least `internal_search_threshold` of the
//!      fact's content words. BM25 scores are normalised per query (the best window always
//!      scores 1.0), so they rank but cannot gate; word coverage is absolute. The best
//!      [`INTERNAL_TOP_K`] candidates go to one entailment call.
//!    - *external search*, when the pool did not verify the fact and a [`Web`] is given: up
//!      to `max_searches_per_fact` queries (the fact, then its key terms), each taken from
//!      the retriever's run-wide budget; up to `max_external_urls_per_search` unregistered
//!      hits fetched at once; their best windows judged in one entailment call. Only the page
//!      whose quote verified the fact is registered, so no unread page ever gets a number.
//!    - *entailment*: the model scores 0.0–1.0; the fact is verified at
//!      `entailment_threshold` or above, and only if every number it states is in the quote
//!      ([`numeric::check_claim`]), whatever the model says.
//! 3. **Reconstruction**: all verified → the claim as written, citing the sources that
//!    verified its facts; none verified → the claim softened per `softening_strategy`,
//!    uncited; mixed → a model rewrite citing the verified facts and softening the rest,
//!    accepted only if it keeps every number and cites nothing else, else the facts
//!    themselves, each cited or softened.
//!
//! Nothing here fails: a model call, search or fetch that errs or times out is recorded in
//! [`Reconstruction::problems`] and the claim falls back (one fact, unverified, softened
//! without the model), so text is softened, never deleted.
//!
//! [`evidence::select`]: super::evidence::select
//! [`numeric::check_claim`]: super::numeric::check_claim

mod fact;
mod job;
mod prompts;
mod reconstruct;
mod search;
mod text;

pub use reconstruct::Softening;

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures::stream::{self, StreamExt};

use self::job::{take, Job};
use self::text::{markers_in, strip_markers};
use super::config::VerificationRetrieval;
use super::evidence::SourceText;
use super::provenance::Verdict;
use crate::citations::sources::SourceRegistry;
use crate::llm::LlmRouter;
use crate::search::{SearchConfig, SearchProvider};
use crate::web::Fetcher;

/// Claims with fewer words than this are already atomic: no decomposition call.
pub const SHORT_CLAIM_WORDS: usize = 8;

/// Pool windows judged per fact.
pub const INTERNAL_TOP_K: usize = 3;

/// Facts of one claim verified at once (each may search and fetch).
pub const FACT_CONCURRENCY: usize = 4;

/// External searches one [`Retriever`] may make over all the claims it re-verifies, unless
/// [`Retriever::with_search_budget`] says otherwise.
pub const DEFAULT_RUN_SEARCHES: u32 = 20;

/// What `parenthetical` softening puts before a sentence's final punctuation.
pub const UNVERIFIED_SUFFIX: &str = " (unverified)";

/// Whether stage 7 runs for a claim with this stage-4 verdict (`trigger_on_verdicts`).
pub fn triggered_by(settings: &VerificationRetrieval, verdict: Verdict) -> bool {
    settings
        .trigger_on_verdicts
        .iter()
        .any(|v| v.trim().eq_ignore_ascii_case(verdict.as_str()))
}

/// The web services external search needs; without them the retriever searches the pool
/// only.
#[derive(Clone, Copy)]
pub struct Web<'a> {
    pub search: &'a dyn SearchProvider,
    /// Query defaults (freshness, country).
    pub search_config: &'a SearchConfig,
    pub fetcher: &'a Fetcher,
}

/// Re-verifies claims against the run's sources and, with a [`Web`], against new pages.
/// One per run: its external-search budget is shared by every claim it re-verifies, which
/// may run concurrently.
pub struct Retriever<'a> {
    router: &'a LlmRouter,
    web: Option<Web<'a>>,
    registry: &'a SourceRegistry,
    settings: &'a VerificationRetrieval,
    budget: SearchBudget,
}

/// A claim after stage 7.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconstruction {
    /// The rewritten sentence; its `[n]` markers name registered sources only.
    pub sentence: String,
    /// The sources `sentence` cites, ascending.
    pub cited: Vec<u32>,
    /// Each atomic fact and what was found for it, in claim order.
    pub facts: Vec<FactOutcome>,
    pub outcome: Outcome,
    /// Sources registered by external search for this claim, ascending.
    pub new_sources: Vec<u32>,
    /// Model calls made (decomposition, entailment, rewriting), failed ones included.
    pub model_calls: u32,
    /// External searches made (each one taken from the run's budget).
    pub searches: u32,
    /// What went wrong along the way and what was done instead.
    pub problems: Vec<RetrievalError>,
}

/// How many of a claim's facts were verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    AllVerified,
    Mixed,
    NoneVerified,
}

/// One atomic fact and its verification.
#[derive(Debug, Clone, PartialEq)]
pub struct FactOutcome {
    pub text: String,
    pub verified: bool,
    /// The model's entailment score for the best evidence; `None` when nothing was judged.
    pub entailment: Option<f64>,
    /// The quote that verified the fact; for an unverified fact, the best pool quote that
    /// was judged (never a citation). Always a registered source.
    pub evidence: Option<FactEvidence>,
    /// The model's reasoning, or why the fact could not be verified.
    pub reasoning: String,
}

/// A quote of a registered source, with exact offsets into that source's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactEvidence {
    /// The registered source's number.
    pub source: u32,
    /// Character (Unicode scalar) range in the source's text.
    pub chars: Range<usize>,
    /// Byte range: `&registry.text(source)[bytes] == quote`.
    pub bytes: Range<usize>,
    pub quote: String,
    pub origin: Origin,
}

/// Where a fact's evidence was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A source the run had already fetched.
    Pool,
    /// A page found and fetched by stage 7's external search.
    External,
}

/// Why part of a re-verification fell back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RetrievalError {
    #[error("decomposition failed ({0}); the claim was checked as one fact")]
    Decomposition(String),
    #[error("entailment check of {fact:?} failed: {error}")]
    Entailment { fact: String, error: String },
    #[error("search {query:?} failed: {error}")]
    Search { query: String, error: String },
    #[error("fetching {url} failed: {error}")]
    Fetch { url: String, error: String },
    #[error("{step} timed out after {after:?}")]
    Timeout { step: String, after: Duration },
    #[error("the run's external-search budget is spent; {fact:?} was not searched")]
    BudgetSpent { fact: String },
    #[error(
        "{url} was registered as [{source_number}] with a text that lacks the quote; not cited"
    )]
    QuoteLost { url: String, source_number: u32 },
    #[error("the model's rewrite was not used ({0}); softened without it")]
    Rewrite(String),
}

impl<'a> Retriever<'a> {
    /// A retriever over the run's fetched sources, without external search, with a budget
    /// of [`DEFAULT_RUN_SEARCHES`]. `settings` are the depth's (see
    /// [`super::config::CitationVerification::for_depth`]).
    pub fn new(
        router: &'a LlmRouter,
        registry: &'a SourceRegistry,
        settings: &'a VerificationRetrieval,
    ) -> Retriever<'a> {
        Retriever {
            router,
            web: None,
            registry,
            settings,
            budget: SearchBudget(AtomicU32::new(DEFAULT_RUN_SEARCHES)),
        }
    }

    /// Search the web (and fetch and register pages) for facts the pool does not verify.
    pub fn with_web(mut self, web: Web<'a>) -> Retriever<'a> {
        self.web = Some(web);
        self
    }

    /// At most `searches` external searches over every claim this retriever handles.
    pub fn with_search_budget(mut self, searches: u32) -> Retriever<'a> {
        self.budget = SearchBudget(AtomicU32::new(searches));
        self
    }

    /// External searches still allowed.
    pub fn searches_left(&self) -> u32 {
        self.budget.0.load(Ordering::SeqCst)
    }
}

impl Retriever<'_> {
    /// Re-verifies one claim that stage 4 judged unsupported or partial; `cited` are the
    /// sources it cited (preferred when pool evidence ties). Never fails: see
    /// [`Reconstruction::problems`].
    pub async fn reverify(&self, claim_text: &str, cited: &[u32]) -> Reconstruction {
        let claim = strip_markers(claim_text);
        let job = Job {
            r: self,
            pool: SourceText::from_registry(self.registry),
            cited,
            softening: Softening::from_setting(&self.settings.softening_strategy),
            model_calls: AtomicU32::new(0),
            searches: AtomicU32::new(0),
            problems: Mutex::new(Vec::new()),
            new_sources: Mutex::new(BTreeSet::new()),
        };
        let facts = job.decompose(&claim).await;
        let facts: Vec<FactOutcome> = stream::iter(facts)
            .map(|f| job.verify_fact(f))
            .buffered(FACT_CONCURRENCY)
            .collect()
            .await;
        let verified = facts.iter().filter(|f| f.verified).count();
        let outcome = match verified {
            0 => Outcome::NoneVerified,
            n if n == facts.len() => Outcome::AllVerified,
            _ => Outcome::Mixed,
        };
        let sentence = job.reconstruct(&claim, &facts, outcome).await;
        let cited: Vec<u32> = markers_in(&sentence).into_iter().collect();
        Reconstruction {
            sentence,
            cited,
            facts,
            outcome,
            new_sources: take(&job.new_sources).into_iter().collect(),
            model_calls: job.model_calls.load(Ordering::SeqCst),
            searches: job.searches.load(Ordering::SeqCst),
            problems: take(&job.problems),
        }
    }

    fn tier<'t>(&self, name: &'t str) -> Option<&'t str> {
        self.router.tiers().contains(&name).then_some(name)
    }
}

/// The run-wide count of external searches left.
#[derive(Debug)]
struct SearchBudget(AtomicU32);

impl SearchBudget {
    fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_follow_the_settings() {
        let mut s = VerificationRetrieval::default();
        assert!(triggered_by(&s, Verdict::Unsupported));
        assert!(triggered_by(&s, Verdict::Partial));
        assert!(!triggered_by(&s, Verdict::Supported));
        s.trigger_on_verdicts = vec!["Contradicted".into()];
        assert!(triggered_by(&s, Verdict::Contradicted));
        assert!(!triggered_by(&s, Verdict::Unsupported));
    }

    #[test]
    fn the_search_budget_never_goes_below_zero() {
        let b = SearchBudget(AtomicU32::new(2));
        assert!(b.take() && b.take());
        assert!(!b.take());
        assert_eq!(b.0.load(Ordering::SeqCst), 0);
    }
}
