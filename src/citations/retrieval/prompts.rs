//! What stage 7 asks the model and how its answers are read: the system and user prompts,
//! the answer schemas, and answers cleaned and mapped onto the candidates.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;

use super::fact::{Candidate, Holder};
use super::{FactOutcome, Softening};
use crate::citations::sources::SourceRegistry;

/// The model's entailment answer, mapped onto the candidates.
pub(super) struct Judged {
    pub(super) score: f64,
    /// Index into the candidates.
    pub(super) best: usize,
    pub(super) reasoning: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct DecompositionAnswer {
    /// The atomic facts, in the claim's order.
    pub(super) facts: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct EntailmentAnswer {
    #[serde(default)]
    pub(super) reasoning: String,
    /// 0.0 (contradicts) to 1.0 (states it explicitly).
    pub(super) score: f64,
    /// The number of the quote the score is for.
    #[serde(default)]
    pub(super) evidence_index: Option<u32>,
}

pub(super) const DECOMPOSE_SYSTEM: &str = "You split a claim into atomic facts.

Rules:
1. Each fact is one simple statement.
2. Each fact is verifiable on its own and makes sense without the claim.
3. Replace pronouns with the names they stand for.
4. Add nothing the claim does not say; keep every number, date and name as written.
5. No duplicates.

Example: \"OpenAI released GPT-4 in March 2023, which scored 90% on the bar exam.\" →
[\"OpenAI released GPT-4.\", \"GPT-4 was released in March 2023.\", \"GPT-4 scored 90% on the bar exam.\"]

Answer with the facts in the claim's order.";

pub(super) const ENTAIL_SYSTEM: &str =
    "You check whether quoted evidence entails one fact. Judge by the \
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

pub(super) const RECONSTRUCT_SYSTEM: &str =
    "You rewrite one sentence of a report after its facts were \
checked. Keep every verified fact, with the citation marker given for it, placed right \
after the words it supports. Keep every unverified fact too, but worded so a reader can \
see it is not established (the instruction says how). Add no information, no other \
citation marker and no number that the sentence does not have. Answer with the rewritten \
sentence only.";

pub(super) const SOFTEN_SYSTEM: &str =
    "You rewrite one sentence of a report whose claim no source \
could confirm, so that it no longer reads as established. Keep its information, every \
number and name as written, and its length about the same. Do not invent sources and do \
not add citation markers. Answer with the rewritten sentence only.";

pub(super) fn decomposition_prompt(claim: &str, max: usize) -> String {
    format!("## Claim\n{claim}\n\n## Limit\nAt most {max} facts.")
}

pub(super) fn entailment_prompt(
    fact: &str,
    candidates: &[Candidate],
    registry: &SourceRegistry,
) -> String {
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

pub(super) fn reconstruction_prompt(
    claim: &str,
    facts: &[FactOutcome],
    softening: Softening,
) -> String {
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
pub(super) fn clean_facts(facts: &[String], max: usize) -> Vec<String> {
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
pub(super) fn judged(answer: EntailmentAnswer, n: usize) -> Judged {
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

static LIST_PREFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:\d+[.)]|[-*•])\s+").expect("constant pattern"));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::citations::retrieval::reconstruct::facts_sentence;
    use crate::citations::retrieval::{FactEvidence, Origin};

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
}
