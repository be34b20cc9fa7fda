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

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use futures::future::join_all;
use futures::stream::{self, StreamExt};
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;

use super::claims::{self, before_stop};
use super::config::VerificationRetrieval;
use super::evidence::{self, Limits, SourceText};
use super::numeric;
use super::provenance::Verdict;
use crate::citations::sources::SourceRegistry;
use crate::llm::{LlmRequest, LlmRouter, Message};
use crate::search::{SearchConfig, SearchProvider, SearchQuery};
use crate::web::{FetchedPage, Fetcher};

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

/// Windows of fetched pages judged per external search.
const EXTERNAL_TOP_K: usize = 3;

/// Used when a configured timeout is not a usable number of seconds.
const FALLBACK_TIMEOUT: Duration = Duration::from_secs(15);

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

/// How an unverified claim or fact is softened (`softening_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Softening {
    /// "Reportedly, …" (or the model's hedged wording).
    Hedge,
    /// "Some evidence suggests that …" (or the model's qualified wording).
    Qualify,
    /// "… (unverified)."
    Parenthetical,
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

impl Softening {
    /// The strategy a setting names; an unknown name is `hedge`, the original's default.
    pub fn from_setting(name: &str) -> Softening {
        match name.trim().to_ascii_lowercase().as_str() {
            "qualify" => Softening::Qualify,
            "parenthetical" => Softening::Parenthetical,
            "hedge" => Softening::Hedge,
            other => {
                tracing::warn!(strategy = other, "unknown softening_strategy; hedging");
                Softening::Hedge
            }
        }
    }

    /// `sentence` softened without a model: a prefix, or a suffix before its final
    /// punctuation. Citation markers are removed: softened text cites nothing.
    pub fn apply(self, sentence: &str) -> String {
        let plain = strip_markers(sentence);
        match self {
            Softening::Hedge => format!("Reportedly, {}", decapitalized(&plain)),
            Softening::Qualify => format!("Some evidence suggests that {}", decapitalized(&plain)),
            Softening::Parenthetical => before_stop(&plain, UNVERIFIED_SUFFIX),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Softening::Hedge => "hedge",
            Softening::Qualify => "qualify",
            Softening::Parenthetical => "parenthetical",
        }
    }

    fn guidance(self) -> &'static str {
        match self {
            Softening::Hedge => {
                "hedge it: \"reportedly\", \"according to some sources\", \"may have\", \"appears to\""
            }
            Softening::Qualify => {
                "qualify it: open with \"Some evidence suggests that\", \"Early reports indicate that\" or similar"
            }
            Softening::Parenthetical => "add \"(unverified)\" after it",
        }
    }
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

/// One claim's re-verification in progress.
struct Job<'j> {
    r: &'j Retriever<'j>,
    pool: Vec<SourceText>,
    cited: &'j [u32],
    softening: Softening,
    model_calls: AtomicU32,
    searches: AtomicU32,
    problems: Mutex<Vec<RetrievalError>>,
    new_sources: Mutex<BTreeSet<u32>>,
}

/// Where a candidate quote lives: a registered source, or a page fetched for this fact
/// and not registered (yet).
#[derive(Clone)]
enum Holder {
    Registered(u32),
    Fetched(Arc<FetchedPage>),
}

/// A quote to judge, with exact offsets into its holder's text.
#[derive(Clone)]
struct Candidate {
    holder: Holder,
    bytes: Range<usize>,
    chars: Range<usize>,
    quote: String,
}

/// The model's entailment answer, mapped onto the candidates.
struct Judged {
    score: f64,
    /// Index into the candidates.
    best: usize,
    reasoning: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct DecompositionAnswer {
    /// The atomic facts, in the claim's order.
    facts: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct EntailmentAnswer {
    #[serde(default)]
    reasoning: String,
    /// 0.0 (contradicts) to 1.0 (states it explicitly).
    score: f64,
    /// The number of the quote the score is for.
    #[serde(default)]
    evidence_index: Option<u32>,
}

const DECOMPOSE_SYSTEM: &str = "You split a claim into atomic facts.

Rules:
1. Each fact is one simple statement.
2. Each fact is verifiable on its own and makes sense without the claim.
3. Replace pronouns with the names they stand for.
4. Add nothing the claim does not say; keep every number, date and name as written.
5. No duplicates.

Example: \"OpenAI released GPT-4 in March 2023, which scored 90% on the bar exam.\" →
[\"OpenAI released GPT-4.\", \"GPT-4 was released in March 2023.\", \"GPT-4 scored 90% on the bar exam.\"]

Answer with the facts in the claim's order.";

const ENTAIL_SYSTEM: &str = "You check whether quoted evidence entails one fact. Judge by the \
evidence alone, not by what you know.

Score:
- 1.0: a quote states the fact explicitly
- 0.8: a quote strongly implies it
- 0.6: a quote supports part of it
- 0.4: related, but does not confirm it
- 0.2: same topic, does not support it
- 0.0: a quote contradicts it

Numbers must match (or be a correct rounding), and so must names and time periods. Give \
your reasoning first, then the score, and `evidence_index`: the number of the quote your \
score is for.";

const RECONSTRUCT_SYSTEM: &str = "You rewrite one sentence of a report after its facts were \
checked. Keep every verified fact, with the citation marker given for it, placed right \
after the words it supports. Keep every unverified fact too, but worded so a reader can \
see it is not established (the instruction says how). Add no information, no other \
citation marker and no number that the sentence does not have. Answer with the rewritten \
sentence only.";

const SOFTEN_SYSTEM: &str = "You rewrite one sentence of a report whose claim no source \
could confirm, so that it no longer reads as established. Keep its information, every \
number and name as written, and its length about the same. Do not invent sources and do \
not add citation markers. Answer with the rewritten sentence only.";

impl Job<'_> {
    fn settings(&self) -> &VerificationRetrieval {
        self.r.settings
    }

    fn problem(&self, p: RetrievalError) {
        tracing::debug!(problem = %p, "verification retrieval fell back");
        if let Ok(mut all) = self.problems.lock() {
            all.push(p);
        }
    }

    /// A model call, counted, with a timeout when one is configured for the step.
    async fn model<T>(
        &self,
        step: &str,
        limit: Option<Duration>,
        call: impl Future<Output = Result<T, crate::llm::LlmError>>,
    ) -> Result<T, String> {
        self.model_calls.fetch_add(1, Ordering::SeqCst);
        match limit {
            Some(after) => match tokio::time::timeout(after, call).await {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(_) => Err(RetrievalError::Timeout {
                    step: step.into(),
                    after,
                }
                .to_string()),
            },
            None => call.await.map_err(|e| e.to_string()),
        }
    }

    /// A free-text rewriting call (softening or reconstruction) on `tier_name`, counted.
    async fn rewrite_call(
        &self,
        step: &str,
        tier_name: &str,
        messages: Vec<Message>,
    ) -> Result<crate::llm::LlmResponse, String> {
        let tier = self.r.tier(tier_name);
        let request = LlmRequest {
            messages,
            ..LlmRequest::default()
        };
        self.model(step, None, self.r.router.complete(tier, request))
            .await
    }

    /// 7a: the claim's atomic facts; the claim itself when it is short, when one fact is
    /// all the settings allow, or when the model gave nothing usable.
    async fn decompose(&self, claim: &str) -> Vec<String> {
        let max = self.settings().max_atomic_facts_per_claim.max(1) as usize;
        if claim.split_whitespace().count() < SHORT_CLAIM_WORDS || max == 1 {
            return vec![claim.to_string()];
        }
        let messages = vec![
            Message::system(DECOMPOSE_SYSTEM),
            Message::user(decomposition_prompt(claim, max)),
        ];
        let tier = self.r.tier(&self.settings().decomposition_tier);
        let limit = seconds(self.settings().decomposition_timeout_seconds);
        let answer = self
            .model(
                "decomposition",
                Some(limit),
                self.r
                    .router
                    .complete_json::<DecompositionAnswer>(tier, messages),
            )
            .await;
        match answer {
            Ok(a) => {
                let facts = clean_facts(&a.value.facts, max);
                if facts.is_empty() {
                    self.problem(RetrievalError::Decomposition(
                        "no facts in the answer".into(),
                    ));
                    return vec![claim.to_string()];
                }
                facts
            }
            Err(e) => {
                self.problem(RetrievalError::Decomposition(e));
                vec![claim.to_string()]
            }
        }
    }

    /// 7b: the pool first, then the web within the budgets.
    async fn verify_fact(&self, fact: String) -> FactOutcome {
        let mut outcome = FactOutcome {
            text: fact.clone(),
            verified: false,
            entailment: None,
            evidence: None,
            reasoning: "no fetched source states it".into(),
        };
        let internal = self.internal_candidates(&fact);
        if !internal.is_empty() {
            if let Some(judged) = self.entail(&fact, &internal).await {
                if let Some(done) = self.settle(&mut outcome, &internal, judged) {
                    return done;
                }
            }
        }
        let Some(web) = self.r.web else {
            return outcome;
        };
        let mut asked: Vec<String> = Vec::new();
        for attempt in 0..self.settings().max_searches_per_fact {
            let Some(query) = search_query(&fact, attempt as usize) else {
                break;
            };
            if asked.contains(&query) {
                break;
            }
            asked.push(query.clone());
            if !self.r.budget.take() {
                self.problem(RetrievalError::BudgetSpent { fact: fact.clone() });
                break;
            }
            self.searches.fetch_add(1, Ordering::SeqCst);
            let pages = self.search_and_fetch(web, &query).await;
            let external = external_candidates(&pages, &fact);
            if external.is_empty() {
                continue;
            }
            if let Some(judged) = self.entail(&fact, &external).await {
                if let Some(done) = self.settle(&mut outcome, &external, judged) {
                    return done;
                }
            }
        }
        outcome
    }

    /// Records a judgement in `outcome`; returns the finished outcome when it verifies
    /// the fact (registering an external page first).
    fn settle(
        &self,
        outcome: &mut FactOutcome,
        candidates: &[Candidate],
        judged: Judged,
    ) -> Option<FactOutcome> {
        let candidate = candidates.get(judged.best)?;
        let threshold = self.settings().entailment_threshold;
        let numbers = numeric::check_claim(&outcome.text, &[candidate.quote.as_str()]);
        let better = outcome.entailment.is_none_or(|s| judged.score > s);
        if judged.score >= threshold && !numbers.qa_verified {
            if better {
                outcome.entailment = Some(judged.score);
                outcome.reasoning = format!(
                    "{} [numeric QA: a number of the fact is not in the quote]",
                    judged.reasoning
                );
                outcome.evidence = self.evidence_if_registered(candidate);
            }
            return None;
        }
        if judged.score < threshold {
            if better {
                outcome.entailment = Some(judged.score);
                outcome.reasoning = judged.reasoning;
                outcome.evidence = self.evidence_if_registered(candidate);
            }
            return None;
        }
        let evidence = self.cite(candidate)?;
        let mut done = outcome.clone();
        done.verified = true;
        done.entailment = Some(judged.score);
        done.reasoning = judged.reasoning;
        done.evidence = Some(evidence);
        Some(done)
    }

    fn evidence_if_registered(&self, c: &Candidate) -> Option<FactEvidence> {
        match c.holder {
            Holder::Registered(source) => Some(FactEvidence {
                source,
                chars: c.chars.clone(),
                bytes: c.bytes.clone(),
                quote: c.quote.clone(),
                origin: Origin::Pool,
            }),
            Holder::Fetched(_) => None,
        }
    }

    /// Evidence that may be cited: a pool quote as it is; an external page registered now,
    /// its quote located in the text the registry keeps (which is the fetched text, unless
    /// the URL had been registered already with another).
    fn cite(&self, c: &Candidate) -> Option<FactEvidence> {
        let page = match &c.holder {
            Holder::Registered(_) => return self.evidence_if_registered(c),
            Holder::Fetched(page) => page,
        };
        let known = self.r.registry.number_of(page.final_url.as_str());
        let source = self.r.registry.register(page);
        let text = self
            .r
            .registry
            .text(source)
            .unwrap_or_else(|| Arc::from(""));
        let bytes = if text.get(c.bytes.clone()) == Some(c.quote.as_str()) {
            c.bytes.clone()
        } else {
            match text.find(&c.quote) {
                Some(start) => start..start + c.quote.len(),
                None => {
                    self.problem(RetrievalError::QuoteLost {
                        url: page.final_url.to_string(),
                        source_number: source,
                    });
                    return None;
                }
            }
        };
        if known.is_none() && source > 0 {
            if let Ok(mut new) = self.new_sources.lock() {
                new.insert(source);
            }
        }
        Some(FactEvidence {
            source,
            chars: char_range(&text, &bytes),
            bytes,
            quote: c.quote.clone(),
            origin: Origin::External,
        })
    }

    /// Pool windows that hold enough of the fact's content words, best first, the claim's
    /// own sources first among equals.
    fn internal_candidates(&self, fact: &str) -> Vec<Candidate> {
        let limits = Limits {
            max_spans: INTERNAL_TOP_K * 4,
            max_spans_per_source: INTERNAL_TOP_K,
            ..Limits::default()
        };
        let threshold = self.settings().internal_search_threshold;
        let mut scored: Vec<(f64, bool, Candidate)> =
            evidence::select(&self.pool, &[fact], &limits)
                .into_iter()
                .map(|span| {
                    let c = Candidate {
                        holder: Holder::Registered(span.source_number()),
                        bytes: span.bytes(),
                        chars: span.char_range(),
                        quote: span.text().to_string(),
                    };
                    let cited = self.cited.contains(&span.source_number());
                    (coverage(fact, &c.quote), cited, c)
                })
                .filter(|(cov, _, _)| *cov >= threshold)
                .collect();
        // Stable: BM25 order stays the tie-breaker after coverage and citation.
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
        scored
            .into_iter()
            .take(INTERNAL_TOP_K)
            .map(|(_, _, c)| c)
            .collect()
    }

    /// One search and the fetches of its unregistered hits, at once. Failures are recorded
    /// and skipped.
    async fn search_and_fetch(&self, web: Web<'_>, text: &str) -> Vec<Arc<FetchedPage>> {
        let settings = self.settings();
        let urls = settings.max_external_urls_per_search.max(1);
        let mut query = SearchQuery::new(text, web.search_config);
        // Hits the run already fetched are skipped, so ask for a few more than are fetched.
        query.count = urls.saturating_mul(2).clamp(1, 20);
        let limit = seconds(settings.search_timeout_seconds);
        let hits = match tokio::time::timeout(limit, web.search.search(&query)).await {
            Ok(Ok(hits)) => hits,
            Ok(Err(e)) => {
                self.problem(RetrievalError::Search {
                    query: text.into(),
                    error: e.to_string(),
                });
                return Vec::new();
            }
            Err(_) => {
                self.problem(RetrievalError::Timeout {
                    step: format!("search {text:?}"),
                    after: limit,
                });
                return Vec::new();
            }
        };
        let chosen: Vec<String> = hits
            .into_iter()
            .map(|h| h.url.to_string())
            .filter(|u| self.r.registry.number_of(u).is_none())
            .take(urls as usize)
            .collect();
        let crawl = seconds(settings.crawl_timeout_seconds);
        let fetched = join_all(
            chosen
                .iter()
                .map(|u| tokio::time::timeout(crawl, web.fetcher.fetch(u))),
        )
        .await;
        let mut pages: Vec<Arc<FetchedPage>> = Vec::new();
        for (url, result) in chosen.iter().zip(fetched) {
            match result {
                Ok(Ok(page)) if page.text.trim().is_empty() => {}
                Ok(Ok(page)) if pages.iter().any(|p| p.final_url == page.final_url) => {}
                Ok(Ok(page)) => pages.push(page),
                Ok(Err(e)) => self.problem(RetrievalError::Fetch {
                    url: url.clone(),
                    error: e.to_string(),
                }),
                Err(_) => self.problem(RetrievalError::Timeout {
                    step: format!("fetching {url}"),
                    after: crawl,
                }),
            }
        }
        pages
    }

    /// One entailment call over `candidates`; `None` (recorded) when it failed.
    async fn entail(&self, fact: &str, candidates: &[Candidate]) -> Option<Judged> {
        let messages = vec![
            Message::system(ENTAIL_SYSTEM),
            Message::user(entailment_prompt(fact, candidates, self.r.registry)),
        ];
        let tier = self.r.tier(&self.settings().entailment_tier);
        let answer = self
            .model(
                "entailment",
                None,
                self.r
                    .router
                    .complete_json::<EntailmentAnswer>(tier, messages),
            )
            .await;
        match answer {
            Ok(a) => Some(judged(a.value, candidates.len())),
            Err(error) => {
                self.problem(RetrievalError::Entailment {
                    fact: fact.into(),
                    error,
                });
                None
            }
        }
    }

    /// 7c: the sentence for the outcome.
    async fn reconstruct(&self, claim: &str, facts: &[FactOutcome], outcome: Outcome) -> String {
        match outcome {
            Outcome::AllVerified => {
                let sources: BTreeSet<u32> = facts
                    .iter()
                    .filter_map(|f| f.evidence.as_ref().map(|e| e.source))
                    .collect();
                before_stop(claim, &markers(&sources))
            }
            Outcome::NoneVerified => self.soften(claim).await,
            Outcome::Mixed => self.rewrite_mixed(claim, facts).await,
        }
    }

    /// The whole claim softened: by the model for `hedge` and `qualify` (its answer checked),
    /// by rule for `parenthetical` and whenever the model's answer is not usable.
    async fn soften(&self, claim: &str) -> String {
        if self.softening == Softening::Parenthetical {
            return self.softening.apply(claim);
        }
        let user = format!(
            "## Sentence\n{claim}\n\n## How\n{} ({}).",
            self.softening.guidance(),
            self.softening.name()
        );
        let messages = vec![Message::system(SOFTEN_SYSTEM), Message::user(user)];
        let answer = self
            .rewrite_call("softening", &self.settings().softening_tier, messages)
            .await;
        let checked = answer.and_then(|a| accept_rewrite(claim, &a.content, &BTreeSet::new()));
        match checked {
            Ok(s) => s,
            Err(e) => {
                self.problem(RetrievalError::Rewrite(e));
                self.softening.apply(claim)
            }
        }
    }

    /// Verified facts cited, the rest softened: the model's rewrite when it passes
    /// [`accept_rewrite`], else the facts one by one.
    async fn rewrite_mixed(&self, claim: &str, facts: &[FactOutcome]) -> String {
        let required: BTreeSet<u32> = facts
            .iter()
            .filter(|f| f.verified)
            .filter_map(|f| f.evidence.as_ref().map(|e| e.source))
            .collect();
        let messages = vec![
            Message::system(RECONSTRUCT_SYSTEM),
            Message::user(reconstruction_prompt(claim, facts, self.softening)),
        ];
        let answer = self
            .rewrite_call(
                "reconstruction",
                &self.settings().reconstruction_tier,
                messages,
            )
            .await;
        match answer.and_then(|a| accept_rewrite(claim, &a.content, &required)) {
            Ok(s) => s,
            Err(e) => {
                self.problem(RetrievalError::Rewrite(e));
                facts_sentence(facts, self.softening)
            }
        }
    }
}

fn take<T: Default>(m: &Mutex<T>) -> T {
    m.lock()
        .map(|mut v| std::mem::take(&mut *v))
        .unwrap_or_default()
}

/// A configured number of seconds as a duration; nonsense becomes [`FALLBACK_TIMEOUT`].
fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s)
        .ok()
        .filter(|d| !d.is_zero())
        .unwrap_or(FALLBACK_TIMEOUT)
}

fn decomposition_prompt(claim: &str, max: usize) -> String {
    format!("## Claim\n{claim}\n\n## Limit\nAt most {max} facts.")
}

fn entailment_prompt(fact: &str, candidates: &[Candidate], registry: &SourceRegistry) -> String {
    let mut user = format!("## Fact\n{fact}\n\n## Evidence\n");
    for (i, c) in candidates.iter().enumerate() {
        let title = match &c.holder {
            Holder::Registered(n) => registry.get(*n).and_then(|s| s.title),
            Holder::Fetched(page) => page.title.clone(),
        }
        .unwrap_or_default();
        user.push_str(&format!("[{}] {title}\n\"{}\"\n\n", i + 1, c.quote.trim()));
    }
    user
}

fn reconstruction_prompt(claim: &str, facts: &[FactOutcome], softening: Softening) -> String {
    let mut user = format!("## Sentence\n{claim}\n\n## Facts\n");
    for (i, f) in facts.iter().enumerate() {
        match (&f.evidence, f.verified) {
            (Some(e), true) => user.push_str(&format!(
                "{}. VERIFIED, cite as [{}]: {}\n",
                i + 1,
                e.source,
                f.text
            )),
            _ => user.push_str(&format!("{}. UNVERIFIED: {}\n", i + 1, f.text)),
        }
    }
    user.push_str(&format!(
        "\n## Unverified facts\nKeep them, but {}.",
        softening.guidance()
    ));
    user
}

/// The answer's facts, trimmed of quotes and list numbering, without empties and repeats,
/// at most `max`.
fn clean_facts(facts: &[String], max: usize) -> Vec<String> {
    let mut seen = HashSet::new();
    facts
        .iter()
        .map(|f| {
            let f = LIST_PREFIX.replace(f.trim(), "");
            f.trim()
                .trim_matches(|c| matches!(c, '"' | '“' | '”'))
                .trim()
                .to_string()
        })
        .filter(|f| !f.is_empty() && seen.insert(f.to_lowercase()))
        .take(max)
        .collect()
}

/// An entailment answer mapped onto `n` candidates: the score clamped to 0.0..=1.0, the
/// 1-based `evidence_index` to an index (the first candidate when it names none).
fn judged(answer: EntailmentAnswer, n: usize) -> Judged {
    let score = if answer.score.is_finite() {
        answer.score.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let best = answer
        .evidence_index
        .and_then(|i| usize::try_from(i).ok())
        .and_then(|i| i.checked_sub(1))
        .filter(|i| *i < n)
        .unwrap_or(0);
    Judged {
        score,
        best,
        reasoning: answer.reasoning.trim().to_string(),
    }
}

/// The `attempt`-th query for a fact: the fact itself, then its key terms (numbers,
/// capitalised words and the longest other words); `None` when there is no such query.
fn search_query(fact: &str, attempt: usize) -> Option<String> {
    let plain = strip_markers(fact);
    let plain = plain.trim_end_matches(claims::STOPS).trim();
    if plain.is_empty() {
        return None;
    }
    match attempt {
        0 => Some(plain.to_string()),
        1 => {
            let mut words: Vec<(usize, &str)> = plain
                .split_whitespace()
                .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '%'))
                .filter(|w| !w.is_empty() && !STOPWORDS.contains(&w.to_lowercase().as_str()))
                .enumerate()
                .collect();
            let key = |w: &str| {
                let strong = w.chars().any(|c| c.is_ascii_digit())
                    || w.chars().next().is_some_and(char::is_uppercase);
                (strong, w.chars().count())
            };
            words.sort_by_key(|w| std::cmp::Reverse(key(w.1)));
            words.truncate(6);
            words.sort_by_key(|(i, _)| *i);
            let q: Vec<&str> = words.into_iter().map(|(_, w)| w).collect();
            (!q.is_empty()).then(|| q.join(" "))
        }
        _ => None,
    }
}

/// The best windows of freshly fetched pages for the fact, their offsets into each page's
/// own text.
fn external_candidates(pages: &[Arc<FetchedPage>], fact: &str) -> Vec<Candidate> {
    let texts: Vec<SourceText> = pages
        .iter()
        .enumerate()
        .map(|(i, p)| SourceText {
            number: u32::try_from(i).unwrap_or(u32::MAX),
            text: Arc::from(p.text.as_str()),
        })
        .collect();
    let limits = Limits {
        max_spans: EXTERNAL_TOP_K,
        max_spans_per_source: 2,
        ..Limits::default()
    };
    evidence::select(&texts, &[fact], &limits)
        .into_iter()
        .filter_map(|span| {
            let page = pages.get(span.source_number() as usize)?;
            Some(Candidate {
                holder: Holder::Fetched(page.clone()),
                bytes: span.bytes(),
                chars: span.char_range(),
                quote: span.text().to_string(),
            })
        })
        .collect()
}

/// The model's rewrite if it can stand in for `original`: one non-empty sentence-sized
/// text, different from the original, citing exactly the `required` sources, keeping every
/// number of the original and adding none.
fn accept_rewrite(
    original: &str,
    answer: &str,
    required: &BTreeSet<u32>,
) -> Result<String, String> {
    let text = answer
        .trim()
        .trim_matches(|c| matches!(c, '"' | '“' | '”'))
        .trim();
    if text.is_empty() {
        return Err("the answer is empty".into());
    }
    if text.lines().filter(|l| !l.trim().is_empty()).count() > 1 {
        return Err("the answer is more than one line".into());
    }
    if text.chars().count() > original.chars().count() * 3 + 100 {
        return Err("the answer is far longer than the sentence".into());
    }
    let cited = markers_in(text);
    if &cited != required {
        return Err(format!(
            "it cites {} where {} was expected",
            marker_list(&cited),
            marker_list(required)
        ));
    }
    let plain = strip_markers(text);
    let original = strip_markers(original);
    if plain.eq_ignore_ascii_case(&original) {
        return Err("the answer repeats the sentence unsoftened".into());
    }
    if !numeric::check_claim(&original, &[plain.as_str()]).qa_verified {
        return Err("it drops or changes a number".into());
    }
    if !numeric::check_claim(&plain, &[original.as_str()]).qa_verified {
        return Err("it adds a number".into());
    }
    Ok(text.to_string())
}

/// The mixed-outcome fallback: each fact as a sentence, cited when verified, softened when
/// not.
fn facts_sentence(facts: &[FactOutcome], softening: Softening) -> String {
    facts
        .iter()
        .map(|f| match (&f.evidence, f.verified) {
            (Some(e), true) => before_stop(&with_stop(&f.text), &format!(" [{}]", e.source)),
            _ => softening.apply(&with_stop(&f.text)),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Share of the fact's content words (lowercased; stopwords and one- or two-letter words
/// left out unless they hold a digit) that occur in `quote`.
fn coverage(fact: &str, quote: &str) -> f64 {
    let wanted = content_words(fact);
    if wanted.is_empty() {
        return 0.0;
    }
    let have = content_words(quote);
    let found = wanted.iter().filter(|w| have.contains(*w)).count();
    found as f64 / wanted.len() as f64
}

fn content_words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| {
            let digit = w.chars().any(|c| c.is_ascii_digit());
            (digit || w.chars().count() > 2) && !STOPWORDS.contains(&w.as_str())
        })
        .collect()
}

const STOPWORDS: &[&str] = &[
    "the", "and", "for", "with", "that", "this", "these", "those", "from", "into", "its", "was",
    "were", "are", "has", "have", "had", "been", "being", "than", "then", "their", "there", "they",
    "which", "who", "whom", "whose", "also", "but", "not", "all", "any", "per", "over", "under",
    "about", "after", "before", "during", "while", "such", "some", "more", "most", "other", "our",
    "out", "can", "could", "would", "should", "will", "may", "might", "a", "an", "of", "in", "on",
    "at", "by", "to", "is", "it", "as", "or", "be",
];

/// Words that open a sentence without being a name, so lowercasing them after a softening
/// prefix is safe; anything else keeps its capital.
const LOWERABLE_OPENERS: &[&str] = &[
    "the", "a", "an", "this", "that", "these", "those", "in", "on", "at", "by", "for", "from",
    "its", "their", "our", "his", "her", "it", "there", "most", "many", "some", "several", "all",
    "each", "every", "one", "two", "three", "since", "between", "during", "after", "before",
    "over", "under", "about", "nearly", "almost", "more", "less", "fewer", "global", "annual",
    "average",
];

fn decapitalized(sentence: &str) -> String {
    let first = sentence.split_whitespace().next().unwrap_or_default();
    let word = first.trim_matches(|c: char| !c.is_alphanumeric());
    if !LOWERABLE_OPENERS.contains(&word.to_lowercase().as_str())
        || word.len() > 1 && word == word.to_uppercase()
    {
        return sentence.to_string();
    }
    let mut chars = sentence.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `[3]`, `[3, 5]`, `[3-5]` with the space before them.
static MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\s*\[(\d+(?:\s*[,;–-]\s*\d+)*)\]").expect("constant pattern"));
static LIST_PREFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:\d+[.)]|[-*•])\s+").expect("constant pattern"));
static SPACE_BEFORE_PUNCT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[ \t]+([.,;:!?])").expect("constant pattern"));

/// `text` without citation markers, trimmed.
fn strip_markers(text: &str) -> String {
    let stripped = MARKER.replace_all(text, "");
    SPACE_BEFORE_PUNCT
        .replace_all(&stripped, "$1")
        .trim()
        .to_string()
}

/// The source numbers of `text`'s markers.
fn markers_in(text: &str) -> BTreeSet<u32> {
    MARKER
        .captures_iter(text)
        .flat_map(|c| {
            c[1].split([',', ';', '–', '-'])
                .filter_map(|n| n.trim().parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn markers(sources: &BTreeSet<u32>) -> String {
    if sources.is_empty() {
        return String::new();
    }
    let list: String = sources.iter().map(|n| format!("[{n}]")).collect();
    format!(" {list}")
}

fn marker_list(sources: &BTreeSet<u32>) -> String {
    if sources.is_empty() {
        return "nothing".into();
    }
    sources.iter().map(|n| format!("[{n}]")).collect()
}

/// `text` ending in sentence punctuation.
fn with_stop(text: &str) -> String {
    let t = text.trim();
    if t.ends_with(claims::STOPS) {
        t.to_string()
    } else {
        format!("{t}.")
    }
}

fn char_range(text: &str, bytes: &Range<usize>) -> Range<usize> {
    let start = text.get(..bytes.start).map_or(0, |s| s.chars().count());
    let len = text.get(bytes.clone()).map_or(0, |s| s.chars().count());
    start..start + len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softening_strategies_rewrite_by_rule_and_drop_markers() {
        let claim = "The delta lost a fifth of its wetlands since 1990 [2].";
        assert_eq!(
            Softening::Hedge.apply(claim),
            "Reportedly, the delta lost a fifth of its wetlands since 1990."
        );
        assert_eq!(
            Softening::Qualify.apply(claim),
            "Some evidence suggests that the delta lost a fifth of its wetlands since 1990."
        );
        assert_eq!(
            Softening::Parenthetical.apply(claim),
            "The delta lost a fifth of its wetlands since 1990 (unverified)."
        );
        // A name keeps its capital; a sentence without a stop (a list item) gets none.
        assert_eq!(
            Softening::Hedge.apply("Tesla sold 500,000 cars"),
            "Reportedly, Tesla sold 500,000 cars"
        );
        assert_eq!(
            Softening::Parenthetical.apply("Tesla sold 500,000 cars [3]"),
            "Tesla sold 500,000 cars (unverified)"
        );
        assert_eq!(
            Softening::Qualify.apply("NASA delayed the launch."),
            "Some evidence suggests that NASA delayed the launch."
        );
    }

    #[test]
    fn strategies_are_read_from_the_setting() {
        assert_eq!(Softening::from_setting("hedge"), Softening::Hedge);
        assert_eq!(Softening::from_setting(" Qualify "), Softening::Qualify);
        assert_eq!(
            Softening::from_setting("parenthetical"),
            Softening::Parenthetical
        );
        assert_eq!(Softening::from_setting("shout"), Softening::Hedge);
    }

    #[test]
    fn decomposed_facts_are_cleaned_deduplicated_and_capped() {
        let raw: Vec<String> = [
            "1. \"OpenAI released GPT-4.\"",
            "  ",
            "- GPT-4 was released in March 2023.",
            "openai released gpt-4.",
            "GPT-4 scored 90% on the bar exam.",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            clean_facts(&raw, 5),
            [
                "OpenAI released GPT-4.",
                "GPT-4 was released in March 2023.",
                "GPT-4 scored 90% on the bar exam."
            ]
        );
        assert_eq!(clean_facts(&raw, 2).len(), 2);
    }

    #[test]
    fn decomposition_and_entailment_answers_parse() {
        let a: DecompositionAnswer =
            serde_json::from_str(r#"{"facts": ["A grew.", "B fell."]}"#).unwrap();
        assert_eq!(a.facts, ["A grew.", "B fell."]);
        assert!(serde_json::from_str::<DecompositionAnswer>(r#"{"facts": 3}"#).is_err());
        let e: EntailmentAnswer = serde_json::from_str(r#"{"score": 0.8}"#).unwrap();
        assert_eq!((e.score, e.evidence_index), (0.8, None));
        assert!(serde_json::from_str::<EntailmentAnswer>(r#"{"reasoning": "x"}"#).is_err());
    }

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
    fn entailment_answers_map_onto_candidates() {
        let answer = |score: f64, index: Option<u32>| EntailmentAnswer {
            reasoning: " because ".into(),
            score,
            evidence_index: index,
        };
        let j = judged(answer(0.8, Some(2)), 3);
        assert_eq!((j.score, j.best, j.reasoning.as_str()), (0.8, 1, "because"));
        assert_eq!(judged(answer(1.7, Some(0)), 3).score, 1.0);
        assert_eq!(judged(answer(1.7, Some(0)), 3).best, 0);
        assert_eq!(judged(answer(-2.0, Some(9)), 3).best, 0);
        assert_eq!(judged(answer(-2.0, None), 3).score, 0.0);
        assert_eq!(judged(answer(f64::NAN, None), 3).score, 0.0);
    }

    #[test]
    fn prompts_carry_the_claim_the_limit_and_numbered_quotes() {
        assert_eq!(
            decomposition_prompt("A grew and B fell.", 4),
            "## Claim\nA grew and B fell.\n\n## Limit\nAt most 4 facts."
        );
        let registry = SourceRegistry::default();
        let c = Candidate {
            holder: Holder::Registered(7),
            bytes: 0..3,
            chars: 0..3,
            quote: " abc ".into(),
        };
        let p = entailment_prompt("A grew.", &[c.clone(), c], &registry);
        assert!(
            p.starts_with("## Fact\nA grew.\n\n## Evidence\n[1] \n\"abc\""),
            "{p}"
        );
        assert!(p.contains("[2] \n\"abc\""), "{p}");
    }

    #[test]
    fn reconstruction_prompt_gives_markers_for_verified_facts_only() {
        let fact = |text: &str, source: Option<u32>| FactOutcome {
            text: text.into(),
            verified: source.is_some(),
            entailment: None,
            evidence: source.map(|source| FactEvidence {
                source,
                chars: 0..1,
                bytes: 0..1,
                quote: "x".into(),
                origin: Origin::Pool,
            }),
            reasoning: String::new(),
        };
        let facts = [fact("A grew.", Some(3)), fact("B fell.", None)];
        let p = reconstruction_prompt("A grew and B fell.", &facts, Softening::Qualify);
        assert!(p.contains("1. VERIFIED, cite as [3]: A grew."), "{p}");
        assert!(p.contains("2. UNVERIFIED: B fell."), "{p}");
        assert!(p.contains("Some evidence suggests"), "{p}");
        assert_eq!(
            facts_sentence(&facts, Softening::Parenthetical),
            "A grew [3]. B fell (unverified)."
        );
    }

    #[test]
    fn rewrites_that_drop_numbers_or_cite_wrongly_are_refused() {
        let claim = "Sales rose 40% in 2024 and profits fell.";
        let need: BTreeSet<u32> = [2].into();
        assert_eq!(
            accept_rewrite(
                claim,
                "Sales rose 40% in 2024 [2], though profits reportedly fell.",
                &need
            ),
            Ok("Sales rose 40% in 2024 [2], though profits reportedly fell.".into())
        );
        for bad in [
            "",
            "Sales rose in 2024 [2], though profits reportedly fell.",
            "Sales rose 45% in 2024 [2], though profits reportedly fell.",
            "Sales rose 40% in 2024 [2][5], though profits reportedly fell.",
            "Sales rose 40% in 2024, though profits reportedly fell.",
            "Sales rose 40% in 2024 [2], though profits reportedly fell 3%.",
            "Sales rose 40% in 2024 [2].\nProfits fell.",
        ] {
            assert!(accept_rewrite(claim, bad, &need).is_err(), "{bad:?}");
        }
        // Markers added but nothing softened.
        assert!(
            accept_rewrite(claim, "Sales rose 40% in 2024 [2] and profits fell.", &need).is_err()
        );
        let none = BTreeSet::new();
        assert!(accept_rewrite(claim, claim, &none).is_err());
        assert!(accept_rewrite(
            claim,
            "\"Sales reportedly rose 40% in 2024 and profits fell.\"",
            &none
        )
        .is_ok());
    }

    #[test]
    fn queries_are_the_fact_then_its_key_terms() {
        let fact = "The Helios wind farm in Portugal produced 1.2 TWh in 2023 [4].";
        assert_eq!(
            search_query(fact, 0).as_deref(),
            Some("The Helios wind farm in Portugal produced 1.2 TWh in 2023")
        );
        let second = search_query(fact, 1).unwrap();
        assert!(
            second.contains("Helios") && second.contains("2023") && second.contains("1.2"),
            "{second}"
        );
        assert!(
            !second.contains("The ") && !second.contains(" in "),
            "{second}"
        );
        assert_eq!(search_query(fact, 2), None);
        assert_eq!(search_query(" [3]", 0), None);
    }

    #[test]
    fn coverage_counts_content_words_only() {
        let fact = "The delta lost a fifth of its wetlands since 1990.";
        assert_eq!(
            coverage(
                fact,
                "The river delta has lost nearly a fifth of its wetlands since 1990"
            ),
            1.0
        );
        assert!(coverage(fact, "The ferry timetable changes on Monday.") < 0.1);
        assert_eq!(coverage("the of a", "the of a"), 0.0);
    }

    #[test]
    fn markers_are_read_and_stripped() {
        assert_eq!(
            strip_markers("A grew [1][2, 3]. B [4-5] fell ."),
            "A grew. B fell."
        );
        assert_eq!(markers_in("A [1][2, 3] b [5-6]"), [1, 2, 3, 5, 6].into());
        assert_eq!(before_stop("A grew.", " [2]"), "A grew [2].");
        assert_eq!(char_range("héllo wörld", &(7..13)), 6..11);
    }

    #[test]
    fn the_search_budget_never_goes_below_zero() {
        let b = SearchBudget(AtomicU32::new(2));
        assert!(b.take() && b.take());
        assert!(!b.take());
        assert_eq!(b.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn timeouts_fall_back_on_nonsense() {
        assert_eq!(seconds(2.5), Duration::from_millis(2500));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(seconds(bad), FALLBACK_TIMEOUT);
        }
    }
}
