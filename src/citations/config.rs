//! `citation_verification`: the original's switches and thresholds for the seven-stage
//! pipeline, with the same names and defaults, plus the per-depth overrides that
//! `research_types.<depth>.citation_verification` may carry.

use serde::{Deserialize, Serialize};

/// The whole section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct CitationVerification {
    /// Master switch (`--verify` / `--no-verify` override it per run).
    pub enabled: bool,
    pub synthesis_mode: SynthesisMode,
    pub generation_mode: GenerationMode,
    pub react_synthesis: ReactSynthesis,
    pub enable_evidence_preselection: bool,
    pub enable_interleaved_generation: bool,
    pub enable_confidence_classification: bool,
    pub enable_citation_correction: bool,
    pub enable_numeric_qa_verification: bool,
    pub enable_verification_retrieval: bool,
    pub evidence_preselection: EvidencePreselection,
    pub interleaved_generation: InterleavedGeneration,
    pub confidence_classification: ConfidenceClassification,
    pub isolated_verification: IsolatedVerification,
    pub citation_correction: CitationCorrection,
    pub numeric_qa_verification: NumericQaVerification,
    pub verification_retrieval: VerificationRetrieval,
    /// What the report does with a claim no evidence supports (beyond the original, which
    /// only softens in stage 7): never present it as supported.
    pub unsupported_claims: UnsupportedClaims,
    /// Share of unsupported claims above which the summary carries a warning.
    pub unsupported_claim_warning_threshold: f64,
}

impl Default for CitationVerification {
    fn default() -> Self {
        // The original's config/app.yaml.
        Self {
            enabled: true,
            synthesis_mode: SynthesisMode::Interleaved,
            generation_mode: GenerationMode::Natural,
            react_synthesis: ReactSynthesis::default(),
            enable_evidence_preselection: true,
            enable_interleaved_generation: true,
            enable_confidence_classification: true,
            enable_citation_correction: true,
            enable_numeric_qa_verification: true,
            enable_verification_retrieval: false,
            evidence_preselection: EvidencePreselection::default(),
            interleaved_generation: InterleavedGeneration::default(),
            confidence_classification: ConfidenceClassification::default(),
            isolated_verification: IsolatedVerification::default(),
            citation_correction: CitationCorrection::default(),
            numeric_qa_verification: NumericQaVerification::default(),
            verification_retrieval: VerificationRetrieval::default(),
            unsupported_claims: UnsupportedClaims::Soften,
            unsupported_claim_warning_threshold: 0.20,
        }
    }
}

/// How the synthesizer gathers evidence for its claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SynthesisMode {
    /// Evidence in the prompt, `[N]` markers in the text.
    #[default]
    Interleaved,
    /// The model retrieves evidence with tools before each claim.
    React,
}

/// The ReAct synthesizer's budget and grounding thresholds.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct ReactSynthesis {
    pub max_tool_calls: u32,
    pub tool_budget_per_section: u32,
    pub retrieval_window_size: u32,
    pub grounding_threshold: f64,
    pub embedding_high_threshold: f64,
    pub embedding_low_threshold: f64,
    pub use_llm_judge_for_borderline: bool,
    pub enable_post_processing: bool,
    pub use_sectioned_synthesis: bool,
}

impl Default for ReactSynthesis {
    fn default() -> Self {
        Self {
            max_tool_calls: 75,
            tool_budget_per_section: 15,
            retrieval_window_size: 3,
            grounding_threshold: 0.6,
            embedding_high_threshold: 0.7,
            embedding_low_threshold: 0.4,
            use_llm_judge_for_borderline: true,
            enable_post_processing: false,
            use_sectioned_synthesis: false,
        }
    }
}

/// Stage 2.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct InterleavedGeneration {
    pub max_claims_per_section: u32,
    pub min_evidence_similarity: f64,
    pub retry_on_entailment_failure: bool,
    pub max_retries: u32,
}

impl Default for InterleavedGeneration {
    fn default() -> Self {
        Self {
            max_claims_per_section: 50,
            min_evidence_similarity: 0.5,
            retry_on_entailment_failure: true,
            max_retries: 3,
        }
    }
}

/// How the report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GenerationMode {
    /// Free prose with inline links; stages 3–6 have no claim markers to check.
    Classical,
    /// Light-touch `[N]` citations, verified.
    #[default]
    Natural,
    /// Every claim must cite evidence.
    Strict,
}

/// A claim without supporting evidence is…
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnsupportedClaims {
    /// …taken out of the report.
    Remove,
    /// …rewritten with hedging and without its citation.
    #[default]
    Soften,
    /// …kept, visibly marked as unsupported.
    Mark,
}

/// Stage 1.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct EvidencePreselection {
    pub max_spans_per_source: u32,
    pub min_span_length: u32,
    pub max_span_length: u32,
    pub relevance_threshold: f64,
    pub numeric_content_boost: f64,
    pub relevance_computation_method: RelevanceMethod,
    pub chunk_size: u32,
    pub chunk_overlap: u32,
    pub max_chunks_per_source: u32,
}

impl Default for EvidencePreselection {
    fn default() -> Self {
        Self {
            max_spans_per_source: 15,
            min_span_length: 50,
            max_span_length: 500,
            relevance_threshold: 0.3,
            numeric_content_boost: 0.2,
            relevance_computation_method: RelevanceMethod::Hybrid,
            chunk_size: 8000,
            chunk_overlap: 1000,
            max_chunks_per_source: 5,
        }
    }
}

/// How evidence relevance is scored; `semantic` and `hybrid` fall back to keywords when no
/// embeddings endpoint is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RelevanceMethod {
    Semantic,
    Keyword,
    #[default]
    Hybrid,
}

/// Stage 3.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct ConfidenceClassification {
    pub high_threshold: f64,
    pub low_threshold: f64,
    pub quote_match_bonus: f64,
    pub hedging_word_penalty: f64,
    pub estimation_method: String,
}

impl Default for ConfidenceClassification {
    fn default() -> Self {
        Self {
            high_threshold: 0.6,
            low_threshold: 0.5,
            quote_match_bonus: 0.3,
            hedging_word_penalty: 0.2,
            estimation_method: "embedding_similarity".into(),
        }
    }
}

/// Stage 4.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct IsolatedVerification {
    pub enable_nei_verdict: bool,
    pub verification_model_tier: String,
    pub quick_verification_tier: String,
}

impl Default for IsolatedVerification {
    fn default() -> Self {
        Self {
            enable_nei_verdict: true,
            verification_model_tier: "analytical".into(),
            quick_verification_tier: "simple".into(),
        }
    }
}

/// Stage 5.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct CitationCorrection {
    pub correction_method: String,
    pub lambda_weight: f64,
    pub correction_threshold: f64,
    pub allow_alternate_citations: bool,
}

impl Default for CitationCorrection {
    fn default() -> Self {
        Self {
            correction_method: "keyword_semantic_hybrid".into(),
            lambda_weight: 0.8,
            correction_threshold: 0.6,
            allow_alternate_citations: true,
        }
    }
}

/// Stage 6.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct NumericQaVerification {
    /// Relative difference under which two numbers are the same rounded value.
    pub rounding_tolerance: f64,
    pub answer_comparison_method: String,
    pub require_unit_match: bool,
    pub require_entity_match: bool,
}

impl Default for NumericQaVerification {
    fn default() -> Self {
        Self {
            rounding_tolerance: 0.05,
            answer_comparison_method: "f1".into(),
            require_unit_match: true,
            require_entity_match: true,
        }
    }
}

/// Stage 7 (ARE-style retrieval for claims stage 4 could not support).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct VerificationRetrieval {
    pub trigger_on_verdicts: Vec<String>,
    pub max_atomic_facts_per_claim: u32,
    pub max_searches_per_fact: u32,
    pub max_external_urls_per_search: u32,
    pub entailment_threshold: f64,
    pub internal_search_threshold: f64,
    pub softening_strategy: String,
    pub decomposition_timeout_seconds: f64,
    pub search_timeout_seconds: f64,
    pub crawl_timeout_seconds: f64,
    pub decomposition_tier: String,
    pub entailment_tier: String,
    pub reconstruction_tier: String,
    pub softening_tier: String,
}

impl Default for VerificationRetrieval {
    fn default() -> Self {
        Self {
            trigger_on_verdicts: vec!["unsupported".into(), "partial".into()],
            max_atomic_facts_per_claim: 5,
            max_searches_per_fact: 2,
            max_external_urls_per_search: 3,
            entailment_threshold: 0.6,
            internal_search_threshold: 0.7,
            softening_strategy: "hedge".into(),
            decomposition_timeout_seconds: 10.0,
            search_timeout_seconds: 10.0,
            crawl_timeout_seconds: 15.0,
            decomposition_tier: "analytical".into(),
            entailment_tier: "analytical".into(),
            reconstruction_tier: "analytical".into(),
            softening_tier: "simple".into(),
        }
    }
}

/// `research_types.<depth>.citation_verification` (and `query_modes.<mode>.…`): what a
/// depth or mode changes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct DepthOverride {
    pub enabled: Option<bool>,
    pub generation_mode: Option<GenerationMode>,
    pub react_synthesis: Option<ReactSynthesisOverride>,
    pub enable_numeric_qa_verification: Option<bool>,
    pub enable_verification_retrieval: Option<bool>,
    pub verification_retrieval: Option<RetrievalOverride>,
}

/// The ReAct synthesis budget a depth may change.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct ReactSynthesisOverride {
    pub max_tool_calls: Option<u32>,
    pub tool_budget_per_section: Option<u32>,
}

/// The stage-7 budget a depth may change.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct RetrievalOverride {
    pub max_atomic_facts_per_claim: Option<u32>,
    pub max_searches_per_fact: Option<u32>,
}

impl CitationVerification {
    /// The settings for a run at a depth whose profile carries `over` (if any).
    pub fn for_depth(&self, over: Option<&DepthOverride>) -> CitationVerification {
        let mut out = self.clone();
        let Some(o) = over else {
            return out;
        };
        if let Some(b) = o.enabled {
            out.enabled = b;
        }
        if let Some(m) = o.generation_mode {
            out.generation_mode = m;
        }
        if let Some(b) = o.enable_numeric_qa_verification {
            out.enable_numeric_qa_verification = b;
        }
        if let Some(b) = o.enable_verification_retrieval {
            out.enable_verification_retrieval = b;
        }
        if let Some(r) = &o.react_synthesis {
            if let Some(n) = r.max_tool_calls {
                out.react_synthesis.max_tool_calls = n;
            }
            if let Some(n) = r.tool_budget_per_section {
                out.react_synthesis.tool_budget_per_section = n;
            }
        }
        if let Some(r) = &o.verification_retrieval {
            if let Some(n) = r.max_atomic_facts_per_claim {
                out.verification_retrieval.max_atomic_facts_per_claim = n;
            }
            if let Some(n) = r.max_searches_per_fact {
                out.verification_retrieval.max_searches_per_fact = n;
            }
        }
        out
    }

    /// Every `(key, value)` that must lie in 0..=1, for validation.
    pub fn fractions(&self) -> Vec<(&'static str, f64)> {
        vec![
            (
                "evidence_preselection.relevance_threshold",
                self.evidence_preselection.relevance_threshold,
            ),
            (
                "evidence_preselection.numeric_content_boost",
                self.evidence_preselection.numeric_content_boost,
            ),
            (
                "confidence_classification.high_threshold",
                self.confidence_classification.high_threshold,
            ),
            (
                "confidence_classification.low_threshold",
                self.confidence_classification.low_threshold,
            ),
            (
                "citation_correction.lambda_weight",
                self.citation_correction.lambda_weight,
            ),
            (
                "citation_correction.correction_threshold",
                self.citation_correction.correction_threshold,
            ),
            (
                "numeric_qa_verification.rounding_tolerance",
                self.numeric_qa_verification.rounding_tolerance,
            ),
            (
                "verification_retrieval.entailment_threshold",
                self.verification_retrieval.entailment_threshold,
            ),
            (
                "unsupported_claim_warning_threshold",
                self.unsupported_claim_warning_threshold,
            ),
        ]
    }

    /// Every `(key, tier)` naming a model tier. Not validated against `models`: like the
    /// agents' own tiers, a tier that is not configured falls back to the default tier, so
    /// a one-tier setup still verifies.
    pub fn tiers(&self) -> Vec<(&'static str, &str)> {
        let r = &self.verification_retrieval;
        vec![
            (
                "isolated_verification.verification_model_tier",
                &self.isolated_verification.verification_model_tier,
            ),
            (
                "isolated_verification.quick_verification_tier",
                &self.isolated_verification.quick_verification_tier,
            ),
            (
                "verification_retrieval.decomposition_tier",
                &r.decomposition_tier,
            ),
            ("verification_retrieval.entailment_tier", &r.entailment_tier),
            (
                "verification_retrieval.reconstruction_tier",
                &r.reconstruction_tier,
            ),
            ("verification_retrieval.softening_tier", &r.softening_tier),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_depth_changes_only_what_it_names() {
        let base = CitationVerification::default();
        let extended = DepthOverride {
            enable_verification_retrieval: Some(true),
            verification_retrieval: Some(RetrievalOverride {
                max_atomic_facts_per_claim: Some(7),
                max_searches_per_fact: None,
            }),
            ..DepthOverride::default()
        };
        let c = base.for_depth(Some(&extended));
        assert!(c.enable_verification_retrieval);
        assert_eq!(c.verification_retrieval.max_atomic_facts_per_claim, 7);
        assert_eq!(c.verification_retrieval.max_searches_per_fact, 2);
        assert_eq!(c.generation_mode, GenerationMode::Natural);
        assert_eq!(base.for_depth(None), base);
    }

    #[test]
    fn the_originals_yaml_reads_into_the_section() {
        let yaml = "enabled: true\nsynthesis_mode: react\ngeneration_mode: strict\n\
                    numeric_qa_verification:\n  rounding_tolerance: 0.1\n\
                    verification_retrieval:\n  trigger_on_verdicts: [unsupported]\n";
        let c: CitationVerification = yaml_serde::from_str(yaml).unwrap();
        assert_eq!(c.generation_mode, GenerationMode::Strict);
        assert_eq!(c.numeric_qa_verification.rounding_tolerance, 0.1);
        assert_eq!(
            c.verification_retrieval.trigger_on_verdicts,
            ["unsupported"]
        );
        assert_eq!(c.unsupported_claims, UnsupportedClaims::Soften);
    }
}
