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

use std::sync::Arc;

use futures::stream::{self, StreamExt};
use schemars::JsonSchema;
use serde::Deserialize;
use unicode_segmentation::UnicodeSegmentation;
use uuid::Uuid;

use super::claims::{self, ReportClaim};
use super::confidence::{self, Route};
use super::config::{CitationVerification, UnsupportedClaims};
use super::evidence::{self, Limits, Selector, SourceText};
use super::interleaved::ClaimEvidence;
use super::numeric::{self, MismatchReason, NumericMatch, NumericQa};
use super::provenance::{
    Citation, CitationCorrection, Claim, ClaimId, ClaimType, ConfidenceLevel, CorrectionId,
    CorrectionType, DerivationType, EvidenceSpan, EvidenceSpanId, NumericClaimDetail, SourceId,
    SourceMetadata, Verdict, VerificationSummary,
};
use super::quote;
use super::references;
use super::retrieval::{self, Outcome as RetrievalOutcome, Retriever};
use crate::citations::sources::SourceRegistry;
use crate::events::ResearchEvent;
use crate::llm::{LlmRouter, Message};

/// The lowest [`quote::find_best`] score at which a claim counts as quoted from its source:
/// above the fuzzy floor, so only a near-verbatim sentence skips the model.
pub const VERBATIM_MIN_SCORE: f64 = 0.9;

/// Claims verified at once unless the caller says otherwise: enough that a long report's
/// claims are all in flight in one or two model round trips. The router's per-endpoint
/// rate limits and circuit breaker still apply underneath.
pub const CONCURRENT_CLAIMS: usize = 32;

/// Evidence spans shown to the model per cited source.
const SPANS_PER_SOURCE: usize = 2;

/// The marker `mark` appends after an unsupported sentence.
pub const UNVERIFIED_MARK: &str = " ⚠ unverified";

/// The suffix `soften` puts before an unsupported sentence's final punctuation.
pub const SOFTENED_SUFFIX: &str = " (unverified)";

/// A report after verification.
#[derive(Debug, Clone)]
pub struct VerifiedReport {
    /// The report rewritten per the settings, its References list rebuilt for the sources
    /// still cited.
    pub markdown: String,
    /// Each claim in report order; positions refer to the report as it was given.
    pub claims: Vec<VerifiedClaim>,
    pub summary: VerificationSummary,
    /// Verification calls made to the model.
    pub model_calls: u32,
    /// Citations re-pointed to a better source or joined by one that supports the whole
    /// claim.
    pub corrections: u32,
}

/// One claim's result.
#[derive(Debug, Clone)]
pub struct VerifiedClaim {
    /// The provenance record: verdict, citations with exact evidence spans, corrections.
    pub claim: Claim,
    /// Every number of the claim against its cited sources.
    pub numeric: NumericQa,
    /// What the report does with the sentence.
    pub treatment: Treatment,
}

/// What happened to a claim's sentence in the rewritten report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Treatment {
    /// Left as written.
    Kept,
    /// Its citation now points at `to` instead of `from`.
    Recited { from: Vec<u32>, to: u32 },
    /// Partly supported by its own citations, it also cites `to`, which supports all of it.
    Added { to: u32 },
    /// Kept with a note naming the sources that support and contradict it.
    Disputed {
        supports: Vec<u32>,
        contradicts: Vec<u32>,
        /// What the first contradicting source says: its sentence closest to the claim.
        dissent: Option<String>,
    },
    /// Handled per [`UnsupportedClaims`].
    Unsupported(UnsupportedClaims),
    /// Replaced by stage 7's reconstruction: verified facts cited, the rest softened.
    Rewritten(String),
    /// The model could not judge it; kept and marked.
    Abstained,
}

impl VerifiedReport {
    /// The provenance claims, for [`super::provenance::Provenance::new`].
    pub fn provenance_claims(&self) -> Vec<Claim> {
        self.claims.iter().map(|c| c.claim.clone()).collect()
    }

    /// The verification events in order: per claim its [`VerifiedClaim::events`], then
    /// the summary.
    pub fn events(&self, message_id: Uuid) -> Vec<ResearchEvent> {
        let mut events: Vec<ResearchEvent> =
            self.claims.iter().flat_map(VerifiedClaim::events).collect();
        events.push(self.summary_event(message_id));
        events
    }

    /// `verification_summary`.
    pub fn summary_event(&self, message_id: Uuid) -> ResearchEvent {
        ResearchEvent::VerificationSummary {
            message_id,
            total_claims: self.summary.total_claims,
            supported: self.summary.supported_count,
            partial: self.summary.partial_count,
            unsupported: self.summary.unsupported_count,
            contradicted: self.summary.contradicted_count,
            abstained_count: self.summary.abstained_count,
            citation_corrections: self.corrections,
            warning: self.summary.warning,
        }
    }
}

impl VerifiedClaim {
    /// The claim's events: its `numeric_claim_detected` events, its `citation_corrected`
    /// event, its `claim_verified` event.
    pub fn events(&self) -> Vec<ResearchEvent> {
        let mut events = Vec::new();
        let vc = self;
        {
            let claim = &vc.claim;
            for n in &vc.numeric.numbers {
                events.push(ResearchEvent::NumericClaimDetected {
                    claim_id: claim.id.0,
                    raw_value: n.mention.raw.clone(),
                    normalized_value: n.mention.normalized_value().map(|v| v.to_string()),
                    unit: n.mention.unit.clone(),
                    derivation_type: "direct".into(),
                    qa_verified: matches!(
                        n.verdict,
                        NumericMatch::Exact { .. } | NumericMatch::WithinTolerance { .. }
                    ),
                });
            }
            for c in &claim.corrections {
                events.push(ResearchEvent::CitationCorrected {
                    claim_id: claim.id.0,
                    correction_type: c.correction_type.as_str().into(),
                    reasoning: c.reasoning.clone(),
                });
            }
            events.push(ResearchEvent::ClaimVerified {
                claim_id: claim.id.0,
                claim_text: claim.claim_text.clone(),
                position_start: u32::try_from(claim.position_start).unwrap_or(0),
                position_end: u32::try_from(claim.position_end).unwrap_or(0),
                verdict: claim
                    .verification_verdict
                    .unwrap_or(Verdict::Unsupported)
                    .as_str()
                    .into(),
                confidence_level: claim
                    .confidence_level
                    .unwrap_or(ConfidenceLevel::Medium)
                    .as_str()
                    .into(),
                evidence_preview: claim
                    .citations
                    .iter()
                    .find(|c| c.is_primary)
                    .map(|c| c.evidence_span.quote_text.chars().take(200).collect())
                    .unwrap_or_default(),
                reasoning: claim.verification_reasoning.clone(),
                citation_key: claim.citation_key.clone(),
                citation_keys: claim.citation_keys.clone(),
            });
        }
        events
    }
}

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

const VERIFIER_SYSTEM: &str = "You check one claim against quoted evidence, and nothing else: \
you do not know the report it came from or the question behind it.

Verdicts:
- supported: everything the claim states is in the evidence; numbers equal or correctly rounded.
- partial: some of it is in the evidence, the rest is not addressed.
- unsupported: the evidence does not address the claim.
- contradicted: the evidence states otherwise (a different number, the opposite fact).

Judge by the evidence alone, not by what you know. Give your reasoning first, then the \
verdict. `evidence_index` is the number of the quote that best supports the claim, when \
one does. `contradicting_evidence` lists the numbers of quotes that state otherwise.";

/// What the verifier answers.
#[derive(Debug, Deserialize, JsonSchema)]
struct Answer {
    #[serde(default)]
    reasoning: String,
    verdict: AnswerVerdict,
    #[serde(default)]
    evidence_index: Option<u32>,
    #[serde(default)]
    contradicting_evidence: Option<Vec<u32>>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum AnswerVerdict {
    Supported,
    Partial,
    Unsupported,
    Contradicted,
}

impl From<AnswerVerdict> for Verdict {
    fn from(v: AnswerVerdict) -> Verdict {
        match v {
            AnswerVerdict::Supported => Verdict::Supported,
            AnswerVerdict::Partial => Verdict::Partial,
            AnswerVerdict::Unsupported => Verdict::Unsupported,
            AnswerVerdict::Contradicted => Verdict::Contradicted,
        }
    }
}

struct Context<'a> {
    router: &'a LlmRouter,
    registry: &'a SourceRegistry,
    settings: &'a CitationVerification,
    sources: &'a [SourceText],
    source_namespace: Uuid,
    retriever: Option<&'a Retriever<'a>>,
    selector: &'a Selector,
    written: Option<&'a ClaimEvidence>,
    message_id: Option<Uuid>,
    /// Full verification's tier; `None` is the router's default.
    full_tier: Option<&'a str>,
    /// Quick verification's tier, the full tier when the router has no such tier.
    quick_tier: Option<&'a str>,
}

struct Outcome {
    claim: VerifiedClaim,
    model_calls: u32,
    /// Stage 3's level, when the claim was classified: it becomes the claim's
    /// `confidence_level` whatever path the claim then took.
    classified: Option<ConfidenceLevel>,
}

/// What the search for a better citation found, and what it cost.
#[derive(Default)]
struct Alternative {
    /// A quote of another source that supports the claim, why, and the claim's numbers
    /// against that source.
    supported: Option<(Quote, String, NumericQa)>,
    model_calls: u32,
}

/// A model judgement, or why there is none.
enum Judgement {
    Given {
        verdict: Verdict,
        reasoning: String,
        primary: Option<usize>,
        contradicting: Vec<usize>,
    },
    Failed(String),
}

/// A quote located in a source: an evidence span from [`evidence::select`] or a verbatim
/// match, both with exact offsets.
#[derive(Debug, Clone)]
struct Quote {
    source: u32,
    char_start: usize,
    char_end: usize,
    text: String,
    section_heading: Option<String>,
    score: f64,
}

impl Quote {
    fn from_span(span: &evidence::EvidenceSpan) -> Quote {
        let chars = span.char_range();
        Quote {
            source: span.source_number(),
            char_start: chars.start,
            char_end: chars.end,
            text: span.text().to_string(),
            section_heading: span.section_heading().map(str::to_string),
            score: f64::from(span.score()),
        }
    }

    fn overlaps(&self, other: &Quote) -> bool {
        self.source == other.source
            && self.char_start < other.char_end
            && other.char_start < self.char_end
    }

    fn verbatim(source: &SourceText, found: &quote::BestMatch) -> Quote {
        let text = &source.text;
        Quote {
            source: source.number,
            char_start: text[..found.span.start].chars().count(),
            char_end: text[..found.span.end].chars().count(),
            text: text[found.span.range()].to_string(),
            section_heading: None,
            score: found.score,
        }
    }
}

impl Context<'_> {
    async fn verify(&self, rc: &ReportClaim) -> Outcome {
        let mut outcome = self.check(rc).await;
        if let Some(retriever) = self.retriever {
            if self.needs_retrieval(&outcome) {
                outcome = self.retrieve(retriever, rc, outcome).await;
            }
        }
        if matches!(
            outcome.claim.treatment,
            Treatment::Unsupported(UnsupportedClaims::Soften | UnsupportedClaims::Remove)
        ) {
            let claim = &mut outcome.claim.claim;
            let original = primary_span(claim);
            claim.corrections.push(CitationCorrection {
                id: CorrectionId(Uuid::new_v4()),
                correction_type: CorrectionType::Remove,
                original_evidence: original,
                corrected_evidence: None,
                reasoning: Some(format!(
                    "no fetched source supports the claim; {} dropped",
                    markers(&rc.cited)
                )),
            });
        }
        if let Some(level) = outcome.classified {
            outcome.claim.claim.confidence_level = Some(level);
        }
        outcome
    }

    /// Whether stage 7 should look again: the verdict is one `trigger_on_verdicts` names
    /// and neither a correction nor a disagreement between sources settled the claim.
    fn needs_retrieval(&self, outcome: &Outcome) -> bool {
        let settings = &self.settings.verification_retrieval;
        let triggered = outcome
            .claim
            .claim
            .verification_verdict
            .is_some_and(|v| retrieval::triggered_by(settings, v));
        triggered
            && matches!(
                outcome.claim.treatment,
                Treatment::Kept | Treatment::Unsupported(_)
            )
    }

    /// Stage 7 for one claim: what its facts' re-verification found replaces the verdict,
    /// the evidence and the sentence.
    async fn retrieve(
        &self,
        retriever: &Retriever<'_>,
        rc: &ReportClaim,
        mut outcome: Outcome,
    ) -> Outcome {
        let found = retriever.reverify(&rc.text, &rc.cited).await;
        outcome.model_calls += found.model_calls;
        let quotes: Vec<Quote> = found
            .facts
            .iter()
            .filter(|f| f.verified)
            .filter_map(|f| {
                let e = f.evidence.as_ref()?;
                Some(Quote {
                    source: e.source,
                    char_start: e.chars.start,
                    char_end: e.chars.end,
                    text: e.quote.clone(),
                    section_heading: None,
                    score: f.entailment.unwrap_or(0.0),
                })
            })
            .collect();
        let verified = found.facts.iter().filter(|f| f.verified).count();
        let mut note = format!(
            "re-verified fact by fact: {verified} of {} facts found in the sources",
            found.facts.len()
        );
        if !found.new_sources.is_empty() {
            note.push_str(&format!(
                " ({} found by a new search)",
                markers(&found.new_sources)
            ));
        }
        let claim = &mut outcome.claim.claim;
        let previous = claim.verification_reasoning.take().unwrap_or_default();
        claim.verification_reasoning = Some(format!("{previous} [{note}]").trim().to_string());
        match found.outcome {
            RetrievalOutcome::AllVerified | RetrievalOutcome::Mixed => {
                let all = found.outcome == RetrievalOutcome::AllVerified;
                claim.verification_verdict = Some(if all {
                    Verdict::Supported
                } else {
                    Verdict::Partial
                });
                let keys: Vec<String> = found.cited.iter().map(u32::to_string).collect();
                claim.citation_key = keys.first().cloned();
                claim.citation_keys = Some(keys);
                self.set_evidence(claim, &quotes, Some(0));
                outcome.claim.treatment = Treatment::Rewritten(found.sentence);
            }
            // Nothing verified: the claim stays unsupported; the sentence is softened the
            // way stage 7 softens unless the policy is to remove or mark it.
            RetrievalOutcome::NoneVerified => {
                if self.settings.unsupported_claims == UnsupportedClaims::Soften
                    || outcome.claim.treatment == Treatment::Kept
                {
                    outcome.claim.treatment = Treatment::Rewritten(found.sentence);
                }
            }
        }
        outcome
    }

    fn source_id(&self, number: u32) -> SourceId {
        SourceId(Uuid::new_v5(
            &self.source_namespace,
            format!("source:{number}").as_bytes(),
        ))
    }

    /// A claim's id: derived from the message and the claim's position when the message
    /// is known, so the same report verified again keeps its ids.
    fn claim_id(&self, rc: &ReportClaim) -> ClaimId {
        ClaimId(match self.message_id {
            Some(message) => Uuid::new_v5(
                &message,
                format!("claim:{}:{}", rc.start, rc.end).as_bytes(),
            ),
            None => Uuid::new_v4(),
        })
    }

    async fn check(&self, rc: &ReportClaim) -> Outcome {
        let mut claim = Claim::new(
            self.claim_id(rc),
            rc.text.clone(),
            i32::try_from(rc.start).unwrap_or(i32::MAX),
            i32::try_from(rc.end).unwrap_or(i32::MAX),
        );
        let keys: Vec<String> = rc.cited.iter().map(u32::to_string).collect();
        claim.citation_key = keys.first().cloned();
        claim.citation_keys = Some(keys);
        let cited: Vec<SourceText> = self
            .sources
            .iter()
            .filter(|s| rc.cited.contains(&s.number))
            .cloned()
            .collect();
        let numeric = if self.settings.enable_numeric_qa_verification {
            let texts: Vec<&str> = cited.iter().map(|s| &*s.text).collect();
            numeric::check_claim(&rc.text, &texts)
        } else {
            numeric::check_claim(&rc.text, &[] as &[&str])
        };
        let numeric_ok = !self.settings.enable_numeric_qa_verification || numeric.qa_verified;
        if let Some(first) = numeric.numbers.first() {
            claim.claim_type = ClaimType::Numeric;
            claim.numeric_detail = Some(NumericClaimDetail {
                raw_value: first.mention.raw.clone(),
                normalized_value: first.mention.normalized_value(),
                unit: first.mention.unit.clone(),
                entity_reference: None,
                derivation_type: DerivationType::Direct,
                computation_details: None,
                assumptions: None,
                qa_verification: None,
            });
        }
        let mut outcome = Outcome {
            claim: VerifiedClaim {
                claim,
                numeric,
                treatment: Treatment::Kept,
            },
            model_calls: 0,
            classified: None,
        };

        let unknown: Vec<u32> = rc
            .cited
            .iter()
            .copied()
            .filter(|n| self.registry.get(*n).is_none())
            .collect();
        if !unknown.is_empty() {
            let reasoning = format!("cites {}, which the run never fetched", markers(&unknown));
            self.settle(&mut outcome, Verdict::Unsupported, reasoning);
            return outcome;
        }

        if rc.cited.len() == 1 && numeric_ok {
            if let Some(quote) = cited.iter().find_map(|s| verbatim(s, &rc.text)) {
                self.set_evidence(&mut outcome.claim.claim, &[quote], Some(0));
                outcome.claim.claim.verification_verdict = Some(Verdict::Supported);
                outcome.claim.claim.confidence_level = Some(ConfidenceLevel::High);
                outcome.claim.claim.verification_reasoning =
                    Some("the claim is quoted from its source".into());
                return outcome;
            }
        }

        let quotes = self.evidence_for(rc, &cited).await;
        if quotes.is_empty() {
            self.settle(
                &mut outcome,
                Verdict::Unsupported,
                "its sources hold no text that addresses the claim".into(),
            );
            return self.correct(rc, outcome).await;
        }
        let classification = self.settings.enable_confidence_classification.then(|| {
            confidence::classify(
                &rc.text,
                quotes.first().map(|q| q.text.as_str()),
                &self.settings.confidence_classification,
            )
        });
        outcome.classified = classification.as_ref().map(|c| c.level);
        // A claim citing several sources is always checked in full: only then can a
        // disagreement between them surface.
        let route = match &classification {
            Some(c) if rc.cited.len() == 1 => c.route(),
            _ => Route::Full,
        };
        let mut judgement = None;
        if route == Route::Quick {
            outcome.model_calls += 1;
            let quick = self.judge(&rc.text, &quotes[..1], self.quick_tier).await;
            if matches!(
                quick,
                Judgement::Given {
                    verdict: Verdict::Supported,
                    ..
                }
            ) {
                judgement = Some(quick);
            }
        }
        // After a doubtful quick check the full check decides, and the search for a better
        // citation runs alongside it rather than after: a claim the quick tier doubted is
        // the likeliest to need one, and waiting would add a third model round trip.
        let mut speculative = None;
        let judgement = match judgement {
            Some(j) => j,
            None => {
                outcome.model_calls += 1;
                let full = self.judge(&rc.text, &quotes, self.full_tier);
                if route == Route::Quick {
                    let (j, mut alternative) = tokio::join!(full, self.find_alternative(rc));
                    // Spent whether or not the claim ends up needing it.
                    outcome.model_calls += std::mem::take(&mut alternative.model_calls);
                    speculative = Some(alternative);
                    j
                } else {
                    full.await
                }
            }
        };
        match judgement {
            Judgement::Failed(error) => {
                self.set_evidence(&mut outcome.claim.claim, &quotes, None);
                let claim = &mut outcome.claim.claim;
                claim.abstained = true;
                claim.verification_reasoning = Some(format!("verification failed: {error}"));
                outcome.claim.treatment = Treatment::Abstained;
                outcome
            }
            Judgement::Given {
                verdict,
                reasoning,
                primary,
                contradicting,
            } => {
                self.set_evidence(&mut outcome.claim.claim, &quotes, primary);
                let supports: Vec<u32> = primary
                    .and_then(|i| quotes.get(i))
                    .map(|q| q.source)
                    .into_iter()
                    .collect();
                let mut against: Vec<u32> = contradicting
                    .iter()
                    .filter_map(|i| quotes.get(*i))
                    .map(|q| q.source)
                    .filter(|s| !supports.contains(s))
                    .collect();
                against.dedup();
                let supported = matches!(verdict, Verdict::Supported | Verdict::Partial);
                let (supports, against) = self.by_numbers(rc, supports, against);
                let primary_source = primary.and_then(|i| quotes.get(i)).map(|q| q.source);
                if !supports.is_empty() && supports.first() != primary_source.as_ref() {
                    let primary = quotes
                        .iter()
                        .position(|q| supports.first() == Some(&q.source));
                    self.set_evidence(&mut outcome.claim.claim, &quotes, primary);
                }
                if supported && !supports.is_empty() && !against.is_empty() {
                    let claim = &mut outcome.claim.claim;
                    claim.verification_verdict = Some(Verdict::Contradicted);
                    claim.verification_reasoning = Some(reasoning);
                    claim.confidence_level = Some(ConfidenceLevel::Low);
                    // After `by_numbers` the contradicting quotes may be the supporting
                    // side's: then any quote of the dissenting source.
                    let dissent = contradicting
                        .iter()
                        .filter_map(|i| quotes.get(*i))
                        .find(|q| against.contains(&q.source))
                        .or_else(|| quotes.iter().find(|q| against.contains(&q.source)))
                        .map(|q| closest_sentence(&q.text, &rc.text));
                    outcome.claim.treatment = Treatment::Disputed {
                        supports,
                        contradicts: against,
                        dissent,
                    };
                    return outcome;
                }
                let verdict = match verdict {
                    Verdict::Supported if !numeric_ok => Verdict::Partial,
                    v => v,
                };
                let reasoning = if numeric_ok {
                    reasoning
                } else {
                    format!("{reasoning} [numeric QA: a number of the claim is not in its sources]")
                };
                if matches!(verdict, Verdict::Unsupported | Verdict::Contradicted) {
                    self.settle(&mut outcome, verdict, reasoning);
                    return match speculative {
                        Some(found) => self.recite(rc, outcome, found),
                        None => self.correct(rc, outcome).await,
                    };
                }
                let claim = &mut outcome.claim.claim;
                claim.verification_verdict = Some(verdict);
                claim.verification_reasoning = Some(reasoning);
                claim.confidence_level = Some(if verdict == Verdict::Supported {
                    ConfidenceLevel::High
                } else {
                    ConfidenceLevel::Medium
                });
                if !numeric_ok {
                    // A number its sources do not state: whatever the model said, the
                    // citation is wrong. A fetched source stating it takes over; else the
                    // report policy applies.
                    outcome.claim.treatment =
                        Treatment::Unsupported(self.settings.unsupported_claims);
                    return match speculative {
                        Some(found) => self.recite(rc, outcome, found),
                        None => self.correct(rc, outcome).await,
                    };
                } else if verdict == Verdict::Partial {
                    return self.add_alternate(rc, outcome).await;
                }
                outcome
            }
        }
    }

    /// A partly supported claim keeps its citation and gains one to another fetched
    /// source that supports all of it, when there is one.
    async fn add_alternate(&self, rc: &ReportClaim, mut outcome: Outcome) -> Outcome {
        let found = self.find_alternative(rc).await;
        outcome.model_calls += found.model_calls;
        let Some((quote, reasoning, numeric)) = found.supported else {
            return outcome;
        };
        let original = primary_span(&outcome.claim.claim);
        let alternate = self.span(&quote);
        let claim = &mut outcome.claim.claim;
        claim.corrections.push(CitationCorrection {
            id: CorrectionId(Uuid::new_v4()),
            correction_type: CorrectionType::AddAlternate,
            original_evidence: original,
            corrected_evidence: Some(alternate.clone()),
            reasoning: Some(format!(
                "{} supports part of the claim; [{}] supports all of it: {reasoning}",
                markers(&rc.cited),
                quote.source
            )),
        });
        for c in &mut claim.citations {
            c.is_primary = false;
        }
        claim.citations.insert(
            0,
            Citation {
                evidence_span: alternate,
                confidence_score: Some(quote.score.clamp(0.0, 1.0)),
                is_primary: true,
            },
        );
        claim.verification_verdict = Some(Verdict::Supported);
        claim.verification_reasoning = Some(reasoning);
        let mut keys = claim.citation_keys.take().unwrap_or_default();
        keys.push(quote.source.to_string());
        claim.citation_keys = Some(keys);
        outcome.claim.numeric = numeric;
        outcome.claim.treatment = Treatment::Added { to: quote.source };
        outcome
    }

    /// Looks for the claim in the sources it does not cite; re-points the citation when
    /// one supports it.
    async fn correct(&self, rc: &ReportClaim, outcome: Outcome) -> Outcome {
        let found = self.find_alternative(rc).await;
        self.recite(rc, outcome, found)
    }

    /// A quote of a source the claim does not cite that supports it (verbatim, or by a
    /// model call), with the calls spent looking.
    async fn find_alternative(&self, rc: &ReportClaim) -> Alternative {
        let mut found = Alternative::default();
        if !self.settings.enable_citation_correction
            || !self.settings.citation_correction.allow_alternate_citations
        {
            return found;
        }
        // A claim with numbers can only move to a source that states them: judging by
        // wording alone, the closest source is often one with another figure or none.
        let others: Vec<SourceText> = self
            .sources
            .iter()
            .filter(|s| !rc.cited.contains(&s.number))
            .filter(|s| self.states_numbers(rc, s.number))
            .cloned()
            .collect();
        let verbatim_quote = others.iter().find_map(|s| verbatim(s, &rc.text));
        let (quote, reasoning) = match verbatim_quote {
            Some(q) => (q, "the claim is quoted from this source".to_string()),
            None => {
                let spans = self
                    .selector
                    .select(&others, &[&rc.text], &self.limits(1))
                    .await;
                let threshold = self.settings.citation_correction.correction_threshold;
                let Some(best) = spans
                    .iter()
                    .map(Quote::from_span)
                    .find(|q| q.score >= threshold)
                else {
                    return found;
                };
                found.model_calls += 1;
                match self
                    .judge(&rc.text, std::slice::from_ref(&best), self.full_tier)
                    .await
                {
                    Judgement::Given {
                        verdict: Verdict::Supported,
                        reasoning,
                        ..
                    } => (best, reasoning),
                    _ => return found,
                }
            }
        };
        let numeric = numeric::check_claim(&rc.text, &[self.text_of(quote.source)]);
        if self.settings.enable_numeric_qa_verification && !numeric.qa_verified {
            return found;
        }
        found.supported = Some((quote, reasoning, numeric));
        found
    }

    /// Re-points the claim's citation to the alternative found, if any.
    fn recite(&self, rc: &ReportClaim, mut outcome: Outcome, found: Alternative) -> Outcome {
        outcome.model_calls += found.model_calls;
        let Some((quote, reasoning, numeric)) = found.supported else {
            return outcome;
        };
        let original = primary_span(&outcome.claim.claim);
        let corrected = self.span(&quote);
        let claim = &mut outcome.claim.claim;
        claim.corrections.push(CitationCorrection {
            id: CorrectionId(Uuid::new_v4()),
            correction_type: CorrectionType::Replace,
            original_evidence: original,
            corrected_evidence: Some(corrected),
            reasoning: Some(format!(
                "{} did not support the claim; [{}] does: {reasoning}",
                markers(&rc.cited),
                quote.source
            )),
        });
        self.set_evidence(claim, std::slice::from_ref(&quote), Some(0));
        claim.verification_verdict = Some(Verdict::Supported);
        claim.verification_reasoning = Some(reasoning);
        claim.confidence_level = Some(ConfidenceLevel::Medium);
        claim.citation_key = Some(quote.source.to_string());
        claim.citation_keys = Some(vec![quote.source.to_string()]);
        let disagreeing = self.other_figure(rc, &outcome.claim.numeric);
        outcome.claim.numeric = numeric;
        outcome.claim.treatment = match disagreeing {
            // The source it cited gives another figure: both are named.
            Some((source, said)) => Treatment::Disputed {
                supports: vec![quote.source],
                contradicts: vec![source],
                dissent: Some(said),
            },
            None => Treatment::Recited {
                from: rc.cited.clone(),
                to: quote.source,
            },
        };
        outcome
    }

    /// Whether source `number` states every number of the claim (always, with numeric QA
    /// off or a claim without numbers).
    fn states_numbers(&self, rc: &ReportClaim, number: u32) -> bool {
        // Checked first so a claim without numbers does not scan every page for them.
        !self.settings.enable_numeric_qa_verification
            || numeric::extract(&rc.text).is_empty()
            || numeric::check_claim(&rc.text, &[self.text_of(number)]).qa_verified
    }

    /// The model's supporting and contradicting sources of a claim with numbers, put right
    /// by them: a supporting source that does not state the claim's numbers changes sides
    /// with the contradicting sources that do.
    fn by_numbers(
        &self,
        rc: &ReportClaim,
        supports: Vec<u32>,
        against: Vec<u32>,
    ) -> (Vec<u32>, Vec<u32>) {
        if supports.iter().all(|s| self.states_numbers(rc, *s)) {
            return (supports, against);
        }
        let (stating, not_stating): (Vec<u32>, Vec<u32>) =
            against.iter().partition(|s| self.states_numbers(rc, **s));
        if stating.is_empty() {
            return (supports, against);
        }
        let mut new_against: Vec<u32> = supports;
        new_against.extend(not_stating);
        (stating, new_against)
    }

    /// A cited source that states a different value for one of the claim's numbers, and
    /// its sentence saying so.
    fn other_figure(&self, rc: &ReportClaim, checked: &NumericQa) -> Option<(u32, String)> {
        let cited: Vec<&SourceText> = self
            .sources
            .iter()
            .filter(|s| rc.cited.contains(&s.number))
            .collect();
        checked.numbers.iter().find_map(|n| {
            let NumericMatch::Mismatch {
                closest,
                reason: MismatchReason::DifferentValue,
            } = &n.verdict
            else {
                return None;
            };
            let source = cited.get(n.evidence_index?)?;
            let sentence = sentence_at(&source.text, closest.range.start)?;
            Some((source.number, closest_sentence(sentence, &rc.text)))
        })
    }

    /// The claim's evidence: the quotes its writer named, then the best spans of the
    /// sources it cites that do not overlap them.
    async fn evidence_for(&self, rc: &ReportClaim, cited: &[SourceText]) -> Vec<Quote> {
        let mut quotes: Vec<Quote> = self
            .written
            .map(|w| {
                w.spans_for(&rc.text)
                    .into_iter()
                    .filter(|s| rc.cited.contains(&s.source_number()))
                    .map(Quote::from_span)
                    .collect()
            })
            .unwrap_or_default();
        let selected = self
            .selector
            .select(cited, &[&rc.text], &self.limits(cited.len()))
            .await;
        for span in &selected {
            let q = Quote::from_span(span);
            if !quotes.iter().any(|n| n.overlaps(&q)) {
                quotes.push(q);
            }
        }
        quotes
    }

    async fn judge(&self, claim: &str, quotes: &[Quote], tier: Option<&str>) -> Judgement {
        let mut user = format!("## Claim\n{claim}\n\n## Evidence\n");
        for (i, q) in quotes.iter().enumerate() {
            let title = self
                .registry
                .get(q.source)
                .and_then(|s| s.title)
                .unwrap_or_default();
            user.push_str(&format!("[{}] {title}\n\"{}\"\n\n", i + 1, q.text.trim()));
        }
        let messages = vec![Message::system(VERIFIER_SYSTEM), Message::user(user)];
        match self.router.complete_json::<Answer>(tier, messages).await {
            // The prompt numbers quotes from 1; a 0 or out-of-range index names no quote.
            Ok(answer) => {
                let index = |i: u32| {
                    usize::try_from(i)
                        .ok()
                        .and_then(|i| i.checked_sub(1))
                        .filter(|i| *i < quotes.len())
                };
                let answer = answer.value;
                Judgement::Given {
                    verdict: answer.verdict.into(),
                    reasoning: answer.reasoning.trim().to_string(),
                    primary: answer.evidence_index.and_then(index),
                    contradicting: answer
                        .contradicting_evidence
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(index)
                        .collect(),
                }
            }
            Err(e) => Judgement::Failed(e.to_string()),
        }
    }

    /// Records an unsupported or contradicted verdict and the report policy for it.
    fn settle(&self, outcome: &mut Outcome, verdict: Verdict, reasoning: String) {
        let claim = &mut outcome.claim.claim;
        claim.verification_verdict = Some(verdict);
        claim.verification_reasoning = Some(reasoning);
        claim.confidence_level = Some(ConfidenceLevel::Low);
        outcome.claim.treatment = Treatment::Unsupported(self.settings.unsupported_claims);
    }

    fn set_evidence(&self, claim: &mut Claim, quotes: &[Quote], primary: Option<usize>) {
        let primary = primary.unwrap_or(0);
        claim.citations = quotes
            .iter()
            .enumerate()
            .map(|(i, q)| Citation {
                evidence_span: self.span(q),
                confidence_score: Some(q.score.clamp(0.0, 1.0)),
                is_primary: i == primary,
            })
            .collect();
    }

    fn span(&self, q: &Quote) -> EvidenceSpan {
        let source_id = self.source_id(q.source);
        let meta = self.registry.get(q.source);
        EvidenceSpan {
            id: EvidenceSpanId(Uuid::new_v4()),
            source_id,
            quote_text: q.text.clone(),
            start_offset: i32::try_from(q.char_start).ok(),
            end_offset: i32::try_from(q.char_end).ok(),
            section_heading: q.section_heading.clone(),
            relevance_score: Some(q.score),
            has_numeric_content: evidence::has_numeric_content(&q.text),
            source: meta.map(|s| SourceMetadata::web(source_id, s.title, s.url)),
        }
    }

    fn text_of(&self, number: u32) -> Arc<str> {
        self.sources
            .iter()
            .find(|s| s.number == number)
            .map(|s| s.text.clone())
            .unwrap_or_else(|| Arc::from(""))
    }

    fn limits(&self, sources: usize) -> Limits {
        Limits {
            max_spans: SPANS_PER_SOURCE * sources.max(1),
            max_spans_per_source: SPANS_PER_SOURCE,
            ..Limits::default()
        }
    }
}

fn verbatim(source: &SourceText, claim: &str) -> Option<Quote> {
    // The claim's final full stop is the report's punctuation, not necessarily the source's.
    let quote = claim.trim_end_matches(claims::STOPS);
    quote::find_best(&source.text, quote)
        .filter(|m| m.score >= VERBATIM_MIN_SCORE)
        .map(|m| Quote::verbatim(source, &m))
}

/// The sentence of `quote` that shares the most words with `claim`, clipped at a word to
/// [`DISSENT_CHARS`]: what a disagreeing source says, short enough to quote inline.
fn closest_sentence(quote: &str, claim: &str) -> String {
    let words = |t: &str| -> Vec<String> {
        t.unicode_words()
            .filter(|w| w.chars().count() >= 4)
            .map(str::to_lowercase)
            .collect()
    };
    let claim_words = words(claim);
    let best = quote
        .split_sentence_bounds()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .max_by_key(|s| words(s).iter().filter(|w| claim_words.contains(w)).count())
        .unwrap_or(quote.trim());
    let one_line = best.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= DISSENT_CHARS {
        return one_line;
    }
    let mut clipped = String::new();
    for word in one_line.split(' ') {
        if clipped.chars().count() + word.chars().count() + 1 > DISSENT_CHARS {
            break;
        }
        if !clipped.is_empty() {
            clipped.push(' ');
        }
        clipped.push_str(word);
    }
    clipped.push('…');
    clipped
}

/// The sentence of `text` that holds byte `at`.
fn sentence_at(text: &str, at: usize) -> Option<&str> {
    text.split_sentence_bound_indices()
        .find(|(start, s)| (*start..start + s.len()).contains(&at))
        .map(|(_, s)| s)
}

/// The longest quotation of a disagreeing source put into the report.
const DISSENT_CHARS: usize = 200;

/// The evidence of a claim's primary citation.
fn primary_span(claim: &Claim) -> Option<EvidenceSpan> {
    claim
        .citations
        .iter()
        .find(|c| c.is_primary)
        .map(|c| c.evidence_span.clone())
}

fn markers(numbers: &[u32]) -> String {
    numbers.iter().map(|n| format!("[{n}]")).collect()
}

/// Applies each claim's treatment to its sentence, then rebuilds the References list for
/// the sources the rewritten body still cites.
fn rewrite(
    report: &str,
    extracted: &[ReportClaim],
    outcomes: &[Outcome],
    registry: &SourceRegistry,
) -> String {
    let mut out = String::with_capacity(report.len());
    let mut at = 0;
    for (rc, outcome) in extracted.iter().zip(outcomes) {
        out.push_str(&report[at..rc.bytes.start]);
        let raw = &report[rc.bytes.clone()];
        at = rc.bytes.end;
        match &outcome.claim.treatment {
            Treatment::Kept => out.push_str(raw),
            Treatment::Recited { to, .. } => {
                out.push_str(&claims::before_stop(&rc.text, &format!(" [{to}]")))
            }
            Treatment::Disputed {
                supports,
                contradicts,
                dissent,
            } => {
                if supports.iter().all(|s| rc.cited.contains(s)) {
                    out.push_str(raw);
                } else {
                    // Re-pointed: cited to what supports it, the old source in the note.
                    out.push_str(&claims::before_stop(
                        &rc.text,
                        &format!(" {}", markers(supports)),
                    ));
                }
                out.push_str(&match dissent {
                    Some(said) => format!(
                        " (sources disagree: {} says \"{said}\")",
                        markers(&contradicts[..1])
                    ),
                    None => format!(
                        " (sources disagree: {} supports, {} contradicts)",
                        markers(supports),
                        markers(contradicts)
                    ),
                });
            }
            Treatment::Rewritten(sentence) => out.push_str(sentence),
            Treatment::Added { to } => {
                let mut cited = rc.cited.clone();
                cited.push(*to);
                out.push_str(&claims::before_stop(
                    &rc.text,
                    &format!(" {}", markers(&cited)),
                ))
            }
            Treatment::Abstained | Treatment::Unsupported(UnsupportedClaims::Mark) => {
                out.push_str(raw);
                out.push_str(UNVERIFIED_MARK);
            }
            Treatment::Unsupported(UnsupportedClaims::Soften) => {
                out.push_str(&claims::before_stop(&rc.text, SOFTENED_SUFFIX));
            }
            Treatment::Unsupported(UnsupportedClaims::Remove) => {
                // Take the space that separated it from the next sentence with it.
                if report[at..].starts_with(' ') {
                    at += 1;
                }
            }
        }
    }
    out.push_str(&report[at..]);
    let written = references::body(&out);
    let body: String = written
        .lines()
        .filter(|l| !is_bare_list_marker(l))
        .map(|l| l.trim_end().to_string() + "\n")
        .collect();
    let cited = registry.cited(&body);
    if written.len() == out.len() {
        return body;
    }
    format!("{}\n\n{}", body.trim_end(), registry.references(&cited))
}

/// A list item whose only sentence was removed.
fn is_bare_list_marker(line: &str) -> bool {
    let t = line.trim();
    matches!(t, "-" | "*" | "+")
        || t.strip_suffix(['.', ')'])
            .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dissent_is_the_quote_sentence_closest_to_the_claim() {
        let quote = "Survey results. Factories in Vietnam cut their output of widgets by half. \
                     The ministry published it.";
        assert_eq!(
            closest_sentence(quote, "Factories in Vietnam doubled their widget output."),
            "Factories in Vietnam cut their output of widgets by half."
        );
    }

    #[test]
    fn a_long_dissent_is_clipped_at_a_word() {
        let long = format!("Widgets {}", "abundant ".repeat(60));
        let said = closest_sentence(&long, "widgets");
        assert!(said.chars().count() <= DISSENT_CHARS + 1, "{said}");
        assert!(said.ends_with("abundant…"), "{said}");
    }

    #[test]
    fn a_line_ending_in_a_multibyte_char_is_not_a_list_marker() {
        assert!(!is_bare_list_marker("Output rose from 4 to 9 →"));
        assert!(!is_bare_list_marker("→"));
        assert!(!is_bare_list_marker("1→"));
        assert!(is_bare_list_marker(" 12. "));
        assert!(is_bare_list_marker("3)"));
        assert!(is_bare_list_marker("-"));
        assert!(!is_bare_list_marker("."));
        assert!(!is_bare_list_marker("1.."));
        assert!(!is_bare_list_marker("١."));
    }

    #[test]
    fn a_marker_goes_before_the_final_stop() {
        assert_eq!(
            claims::before_stop("Sales grew.", " [2]"),
            "Sales grew [2]."
        );
        assert_eq!(claims::before_stop("Sales grew", " [2]"), "Sales grew [2]");
    }

    mod properties {
        use proptest::prelude::*;
        use url::Url;

        use super::*;
        use crate::citations::provenance::ClaimId;
        use crate::web::FetchedPage;

        /// Report material: stops of every width (the `→` line end among them), markers of
        /// fetched and unknown sources, list items, headings, and awkward characters.
        #[rustfmt::skip]
        const PIECES: &[&str] = &[
            "Widget", "output", "grew", "40%", " ", " ", " ", "  ", "\t", "\n", "\n\n", "\r\n",
            ".", ".", "!", "?", "…", "。", "→", " →\n", "→\n", "[1]", " [1]", "[2]", " [3]", "[9]",
            "[1-2]", "[E1]", "- ", "* ", "1. ", "12) ", "> ", "# ", "## References\n",
            "\n## References\n\n1. [A](https://s1.example/page)\n", "e\u{301}", "\u{301}",
            "👩‍👩‍👧‍👦", "🇫🇷", "مرحبا", "日本語の文", "\0", "\u{feff}", "\u{a0}", "\u{2028}",
        ];

        fn report() -> impl Strategy<Value = String> {
            prop::collection::vec(
                prop_oneof![
                    6 => prop::sample::select(PIECES).prop_map(str::to_string),
                    1 => any::<char>().prop_map(String::from),
                ],
                0..80,
            )
            .prop_map(|p| p.concat())
        }

        fn treatment() -> impl Strategy<Value = Treatment> {
            prop_oneof![
                Just(Treatment::Kept),
                (1u32..4).prop_map(|to| Treatment::Recited { from: vec![1], to }),
                (1u32..4).prop_map(|to| Treatment::Added { to }),
                (proptest::option::of("\\PC{0,30}")).prop_map(|dissent| Treatment::Disputed {
                    supports: vec![1],
                    contradicts: vec![2],
                    dissent,
                }),
                Just(Treatment::Unsupported(UnsupportedClaims::Remove)),
                Just(Treatment::Unsupported(UnsupportedClaims::Soften)),
                Just(Treatment::Unsupported(UnsupportedClaims::Mark)),
                "[^\n#]{0,40}".prop_map(Treatment::Rewritten),
                Just(Treatment::Abstained),
            ]
        }

        fn outcome(treatment: Treatment) -> Outcome {
            Outcome {
                claim: VerifiedClaim {
                    claim: Claim::new(ClaimId(Uuid::nil()), "", 0, 0),
                    numeric: NumericQa {
                        numbers: Vec::new(),
                        qa_verified: true,
                    },
                    treatment,
                },
                model_calls: 0,
                classified: None,
            }
        }

        fn registry() -> SourceRegistry {
            let registry = SourceRegistry::default();
            for n in 1..=2 {
                let url = Url::parse(&format!("https://s{n}.example/page")).expect("constant");
                registry.register(&FetchedPage::from_text(url, Some(format!("S{n}")), "text"));
            }
            registry
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Whatever the report and whatever happens to its claims, rewriting does not
            /// panic, a kept claim keeps its sentence and markers, and References list only
            /// fetched sources.
            #[test]
            fn rewriting_keeps_kept_claims_and_lists_only_fetched_sources(
                report in report(),
                treatments in prop::collection::vec(treatment(), 1..16),
            ) {
                let extracted = claims::extract(&report);
                let outcomes: Vec<Outcome> = treatments
                    .iter()
                    .cycle()
                    .take(extracted.len())
                    .cloned()
                    .map(outcome)
                    .collect();
                let out = rewrite(&report, &extracted, &outcomes, &registry());
                for (rc, o) in extracted.iter().zip(&outcomes) {
                    if o.claim.treatment == Treatment::Kept {
                        let raw = &report[rc.bytes.clone()];
                        prop_assert!(out.contains(raw), "{raw:?} lost from {out:?}");
                    }
                }
                let references = &out[crate::citations::references::section_start(&out)..];
                for line in references.lines().skip(1).filter(|l| !l.trim().is_empty()) {
                    prop_assert!(
                        line.ends_with("(https://s1.example/page)")
                            || line.ends_with("(https://s2.example/page)"),
                        "{line:?} in {out:?}"
                    );
                }
            }

            #[test]
            fn list_markers_and_stops_take_any_line(line in "\\PC{0,12}", insert in "\\PC{0,4}") {
                let _ = is_bare_list_marker(&line);
                let with = claims::before_stop(&line, &insert);
                prop_assert_eq!(with.chars().count(), line.chars().count() + insert.chars().count());
                let _ = closest_sentence(&line, &insert);
                let _ = crate::citations::references::section_start(&line);
            }
        }
    }
}
