//! Verifying a finished report: every cited sentence checked against the sources it cites,
//! its citation re-pointed when another fetched source supports it instead, and the report
//! rewritten so no unsupported claim reads as supported.
//!
//! Per claim, cheapest check first:
//! 1. A citation of a number the registry does not hold makes the claim unsupported.
//! 2. **Verbatim**: a single-source claim found in its source by [`quote::find_best`]
//!    (score ≥ [`VERBATIM_MIN_SCORE`]) whose numbers pass numeric QA is supported with that
//!    exact span, without a model call. Multi-source claims always go to the model, so a
//!    disagreement among their sources can surface.
//! 3. **Numeric QA**: a claim whose numbers are not found in its cited sources is never
//!    supported, whatever the model says: its citation moves to a fetched source that
//!    states them (step 5; the source it cited is named too when it gives another figure),
//!    else the report policy applies. Of several cited sources, only one stating the
//!    numbers can be the supporting side of a disagreement.
//! 4. **Isolated verification**: one model call with only the claim and its evidence: the
//!    quotes its writer named (stage 2, [`ClaimEvidence`]) and the best spans of the
//!    sources it cites. Stage 3 ([`confidence`]) routes high-confidence single-source
//!    claims to the quick tier with their best quote; a quick verdict short of supported
//!    is checked again in full before it counts.
//! 5. **Correction**: an unsupported or contradicted claim, or one failing numeric QA, is
//!    looked for in the sources it does not cite (for a claim with numbers, only those
//!    stating them); a span that supports it (verbatim, or by a second model call)
//!    replaces the citation.
//!
//! What the report then says (see [`UnsupportedClaims`]): `remove` deletes the sentence;
//! `soften` drops its markers and adds " (unverified)" before its final punctuation (a
//! suffix, not a "Reportedly, " prefix, so the sentence's first word keeps its case);
//! `mark` keeps it and appends " ⚠ unverified". A claim one cited source supports and
//! another contradicts stays, followed by "(sources disagree: [a] supports, [b]
//! contradicts)". A claim the model could not judge (the call failed) is abstained and
//! always marked, never removed: a transient error should not delete text.
//!
//! [`quote::find_best`]: super::quote::find_best
//! [`confidence`]: super::confidence
//! [`UnsupportedClaims`]: super::config::UnsupportedClaims

mod check;
mod context;
mod correction;
mod dispute;
mod judge;
mod outcome;
mod rewrite;

pub use outcome::{Treatment, VerifiedClaim, VerifiedReport};

use futures::stream::{self, StreamExt};
use uuid::Uuid;

use self::context::Context;
use self::outcome::Outcome;
use self::rewrite::rewrite;
use super::claims;
use super::config::CitationVerification;
use super::evidence::{Selector, SourceText};
use super::interleaved::ClaimEvidence;
use super::provenance::{Claim, CorrectionType, VerificationSummary};
use super::retrieval::Retriever;
use crate::citations::sources::SourceRegistry;
use crate::llm::LlmRouter;

/// The lowest [`quote::find_best`] score at which a claim counts as quoted from its source:
/// above the fuzzy floor, so only a near-verbatim sentence skips the model.
///
/// [`quote::find_best`]: super::quote::find_best
pub const VERBATIM_MIN_SCORE: f64 = 0.9;

/// Claims verified at once unless the caller says otherwise: enough that a long report's
/// claims are all in flight in one or two model round trips. The router's per-endpoint
/// rate limits and circuit breaker still apply underneath.
pub const CONCURRENT_CLAIMS: usize = 32;

/// The marker `mark` appends after an unsupported sentence.
pub const UNVERIFIED_MARK: &str = " ⚠ unverified";

/// The suffix `soften` puts before an unsupported sentence's final punctuation.
pub const SOFTENED_SUFFIX: &str = " (unverified)";

/// Verifies every cited sentence of `report` against the fetched sources in `registry`
/// and rewrites the report per `settings` (see the module documentation). The defaults of
/// [`Verifier`]; use it to link claims to their writer's quotes or to follow progress.
pub async fn verify_report(
    router: &LlmRouter,
    report: &str,
    registry: &SourceRegistry,
    settings: &CitationVerification,
) -> VerifiedReport {
    Verifier::new(router, registry, settings)
        .verify(report)
        .await
}

/// Called with each claim as its verification ends (in completion order).
pub type ClaimCallback<'a> = &'a (dyn Fn(&VerifiedClaim) + Send + Sync);

/// A report verifier: what [`verify_report`] does, with the options a run sets.
pub struct Verifier<'a> {
    router: &'a LlmRouter,
    registry: &'a SourceRegistry,
    settings: &'a CitationVerification,
    written: Option<&'a ClaimEvidence>,
    message_id: Option<Uuid>,
    concurrency: usize,
    on_claim: Option<ClaimCallback<'a>>,
    retriever: Option<&'a Retriever<'a>>,
    selector: Option<&'a Selector>,
}

impl<'a> Verifier<'a> {
    pub fn new(
        router: &'a LlmRouter,
        registry: &'a SourceRegistry,
        settings: &'a CitationVerification,
    ) -> Verifier<'a> {
        Verifier {
            router,
            registry,
            settings,
            written: None,
            message_id: None,
            concurrency: CONCURRENT_CLAIMS,
            on_claim: None,
            retriever: None,
            selector: None,
        }
    }

    /// How evidence is ranked (keyword, hybrid or semantic with an embeddings endpoint);
    /// keywords alone by default.
    pub fn with_selector(mut self, selector: &'a Selector) -> Self {
        self.selector = Some(selector);
        self
    }

    /// Stage 7: claims still unsupported or partial (per `trigger_on_verdicts`) after
    /// correction are split into facts, looked for again (in the run's sources and, if
    /// the retriever has the web, by new searches) and rewritten from what was found.
    pub fn with_retriever(mut self, retriever: &'a Retriever<'a>) -> Self {
        self.retriever = Some(retriever);
        self
    }

    /// The quotes the report's writer named for its claims (stage 2): each such claim is
    /// judged against them first.
    pub fn with_claim_evidence(mut self, written: &'a ClaimEvidence) -> Self {
        self.written = Some(written);
        self
    }

    /// The message the report belongs to: claim ids are then derived from it and each
    /// claim's position, so verifying the same report again gives the same ids.
    pub fn for_message(mut self, message_id: Uuid) -> Self {
        self.message_id = Some(message_id);
        self
    }

    /// Claims verified at once (at least one).
    pub fn concurrency(mut self, claims: usize) -> Self {
        self.concurrency = claims.max(1);
        self
    }

    /// Called as each claim's verification ends, for live progress.
    pub fn on_claim(mut self, callback: ClaimCallback<'a>) -> Self {
        self.on_claim = Some(callback);
        self
    }

    pub async fn verify(&self, report: &str) -> VerifiedReport {
        let sources = SourceText::from_registry(self.registry);
        let keyword = Selector::keyword();
        let router = self.router;
        let available = |tier: &'a str| router.tiers().contains(&tier).then_some(tier);
        let isolated = &self.settings.isolated_verification;
        let full_tier = available(isolated.verification_model_tier.as_str());
        let ctx = Context {
            router,
            registry: self.registry,
            settings: self.settings,
            sources: &sources,
            // Source ids are derived from the run and the source number, so a source
            // stage 7 registers mid-verification has one too.
            source_namespace: self.message_id.unwrap_or_else(Uuid::new_v4),
            retriever: self.retriever,
            selector: self.selector.unwrap_or(&keyword),
            written: self.written,
            message_id: self.message_id,
            full_tier,
            quick_tier: available(isolated.quick_verification_tier.as_str()).or(full_tier),
        };
        let extracted = claims::extract(report);
        // Indices rather than `&ReportClaim` items: a closure over borrowed items made the
        // future unprovably `Send` (a higher-ranked lifetime limitation of rustc).
        let mut indexed: Vec<(usize, Outcome)> = stream::iter(0..extracted.len())
            .map(|i| {
                let ctx = &ctx;
                let c = &extracted[i];
                async move {
                    let outcome = ctx.verify(c).await;
                    if let Some(callback) = self.on_claim {
                        callback(&outcome.claim);
                    }
                    (i, outcome)
                }
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        indexed.sort_by_key(|(i, _)| *i);
        let outcomes: Vec<Outcome> = indexed.into_iter().map(|(_, o)| o).collect();

        let markdown = rewrite(report, &extracted, &outcomes, self.registry);
        let model_calls = outcomes.iter().map(|o| o.model_calls).sum();
        let corrections = outcomes
            .iter()
            .filter(|o| {
                o.claim.claim.corrections.iter().any(|c| {
                    matches!(
                        c.correction_type,
                        CorrectionType::Replace | CorrectionType::AddAlternate
                    )
                })
            })
            .count();
        let claims: Vec<VerifiedClaim> = outcomes.into_iter().map(|o| o.claim).collect();
        let provenance: Vec<Claim> = claims.iter().map(|c| c.claim.clone()).collect();
        VerifiedReport {
            markdown,
            summary: VerificationSummary::from_claims(&provenance),
            claims,
            model_calls,
            corrections: u32::try_from(corrections).unwrap_or(u32::MAX),
        }
    }
}
