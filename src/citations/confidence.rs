//! Stage 3: confidence classification. A claim's wording and how closely it follows its
//! best quote decide how hard it is checked: attributed, quote-like claims go to quick
//! verification (the cheaper tier, the best quote only); neutral and hedged claims go to
//! full verification (the analytical tier, all their evidence).
//!
//! The scoring is the original's (HaluGate-style, no logprobs): start at 0.5, +0.15 per
//! attribution phrase, −`hedging_word_penalty` per hedge, +`quote_match_bonus` when over
//! half the claim's significant words are in its quote, clamped to 0..=1, then
//! `high_threshold` / `low_threshold`. Unlike the original, phrases match whole words, so
//! "mayor" is not the hedge "may".

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use super::config::ConfidenceClassification;
use super::provenance::ConfidenceLevel;

/// Attribution phrases: the claim says where it comes from.
const HIGH_PHRASES: &[&str] = &[
    "according to",
    "states that",
    "reports that",
    "shows that",
    "indicates that",
    "confirms that",
    "demonstrates that",
    "as stated in",
    "as reported by",
    "based on",
    "per the",
    "as per",
    "the report notes",
    "the study found",
    "data shows",
];

/// Hedges: the claim is unsure of itself.
const LOW_PHRASES: &[&str] = &[
    "may",
    "might",
    "could",
    "possibly",
    "perhaps",
    "likely",
    "probably",
    "appears to",
    "seems to",
    "suggests that",
    "approximately",
    "around",
    "about",
    "roughly",
    "estimated",
    "it is possible",
    "it is believed",
    "some say",
    "reportedly",
    "allegedly",
];

/// What each attribution phrase adds.
const HIGH_PHRASE_WEIGHT: f64 = 0.15;

/// Share of the claim's significant words found in the quote above which the quote
/// bonus applies.
const QUOTE_OVERLAP: f64 = 0.5;

/// How a claim is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The quick tier, against the best quote only; anything short of supported is
    /// checked again in full.
    Quick,
    /// The analytical tier, against all the claim's evidence.
    Full,
}

/// A claim's classification.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    pub score: f64,
    pub level: ConfidenceLevel,
    /// The phrases and signals that moved the score, e.g. `high: 'according to'`.
    pub indicators: Vec<String>,
}

impl Classification {
    /// High-confidence claims are checked quickly, the rest in full.
    pub fn route(&self) -> Route {
        match self.level {
            ConfidenceLevel::High => Route::Quick,
            ConfidenceLevel::Medium | ConfidenceLevel::Low => Route::Full,
        }
    }
}

static HIGH: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| phrases(HIGH_PHRASES));
static LOW: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| phrases(LOW_PHRASES));
static WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\w{4,}\b").expect("constant pattern"));

fn phrases(list: &[&'static str]) -> Vec<(&'static str, Regex)> {
    list.iter()
        .map(|p| {
            let pattern = format!(r"(?i)\b{}\b", regex::escape(p).replace(' ', r"\s+"));
            (*p, Regex::new(&pattern).expect("escaped constant phrase"))
        })
        .collect()
}

/// Classifies `claim`, with its best quote when it has one.
pub fn classify(
    claim: &str,
    quote: Option<&str>,
    settings: &ConfidenceClassification,
) -> Classification {
    let mut score = 0.5;
    let mut indicators = Vec::new();
    for (phrase, re) in HIGH.iter() {
        if re.is_match(claim) {
            score += HIGH_PHRASE_WEIGHT;
            indicators.push(format!("high: '{phrase}'"));
        }
    }
    for (phrase, re) in LOW.iter() {
        if re.is_match(claim) {
            score -= settings.hedging_word_penalty;
            indicators.push(format!("low: '{phrase}'"));
        }
    }
    if let Some(quote) = quote {
        let overlap = word_overlap(claim, quote);
        if overlap > QUOTE_OVERLAP {
            score += settings.quote_match_bonus;
            indicators.push(format!("quote_match: {overlap:.2}"));
        }
    }
    let score = score.clamp(0.0, 1.0);
    let level = if score >= settings.high_threshold {
        ConfidenceLevel::High
    } else if score <= settings.low_threshold {
        ConfidenceLevel::Low
    } else {
        ConfidenceLevel::Medium
    };
    Classification {
        score,
        level,
        indicators,
    }
}

/// Share of the claim's words of four letters or more that the quote also has.
fn word_overlap(claim: &str, quote: &str) -> f64 {
    let words = |t: &str| -> HashSet<String> {
        WORD.find_iter(t)
            .map(|m| m.as_str().to_lowercase())
            .collect()
    };
    let claim_words = words(claim);
    if claim_words.is_empty() {
        return 0.0;
    }
    let quote_words = words(quote);
    let shared = claim_words.intersection(&quote_words).count();
    shared as f64 / claim_words.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ConfidenceClassification {
        ConfidenceClassification::default()
    }

    #[test]
    fn a_neutral_claim_without_a_quote_is_low_and_fully_checked() {
        let c = classify("The delta lost land last year.", None, &settings());
        assert!((c.score - 0.5).abs() < 1e-9);
        // 0.5 is at the low threshold: the original counts it as low.
        assert_eq!(c.level, ConfidenceLevel::Low);
        assert_eq!(c.route(), Route::Full);
        assert!(c.indicators.is_empty());
    }

    #[test]
    fn a_claim_that_follows_its_quote_is_high_and_quick() {
        let c = classify(
            "Saltwater reaches 60 kilometres inland in the dry season.",
            Some("Saltwater now reaches 60 kilometres inland during the dry season."),
            &settings(),
        );
        assert_eq!(c.level, ConfidenceLevel::High);
        assert_eq!(c.route(), Route::Quick);
        assert!(c.indicators.iter().any(|i| i.starts_with("quote_match")));
    }

    #[test]
    fn attribution_raises_and_hedges_lower() {
        let attributed = classify(
            "According to the survey, the study found that farms shrank.",
            None,
            &settings(),
        );
        assert!((attributed.score - 0.8).abs() < 1e-9, "{attributed:?}");
        assert_eq!(attributed.level, ConfidenceLevel::High);

        let hedged = classify(
            "Farms may have shrunk, possibly by roughly a third.",
            Some("Farms may have shrunk, possibly by roughly a third."),
            &settings(),
        );
        // 0.5 − 3 × 0.2 + 0.3 = 0.2
        assert!((hedged.score - 0.2).abs() < 1e-9, "{hedged:?}");
        assert_eq!(hedged.level, ConfidenceLevel::Low);
        assert_eq!(hedged.route(), Route::Full);
    }

    #[test]
    fn phrases_match_whole_words_only() {
        let c = classify("The mayor attended the hearing.", None, &settings());
        assert!(c.indicators.is_empty(), "{:?}", c.indicators);
        let spaced = classify("It was  based\non data.", None, &settings());
        assert_eq!(spaced.indicators, vec!["high: 'based on'".to_string()]);
    }

    #[test]
    fn scores_stay_within_bounds() {
        let c = classify(
            "It may, might, could, possibly, perhaps, likely, probably be about around roughly so.",
            None,
            &settings(),
        );
        assert_eq!(c.score, 0.0);
    }
}
