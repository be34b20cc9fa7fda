//! 7c: the sentence rebuilt from what its facts' verification found, and the softening of
//! what could not be verified.

use std::collections::BTreeSet;

use super::job::Job;
use super::prompts::{reconstruction_prompt, RECONSTRUCT_SYSTEM, SOFTEN_SYSTEM};
use super::text::{marker_list, markers, markers_in, strip_markers, with_stop};
use super::{FactOutcome, Outcome, RetrievalError, UNVERIFIED_SUFFIX};
use crate::citations::claims::before_stop;
use crate::citations::numeric;
use crate::llm::Message;

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

    pub(super) fn guidance(self) -> &'static str {
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

impl Job<'_> {
    /// 7c: the sentence for the outcome.
    pub(super) async fn reconstruct(
        &self,
        claim: &str,
        facts: &[FactOutcome],
        outcome: Outcome,
    ) -> String {
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
pub(super) fn facts_sentence(facts: &[FactOutcome], softening: Softening) -> String {
    facts
        .iter()
        .map(|f| match (&f.evidence, f.verified) {
            (Some(e), true) => before_stop(&with_stop(&f.text), &format!(" [{}]", e.source)),
            _ => softening.apply(&with_stop(&f.text)),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

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
}
