//! Sources that disagree about a claim: which side states the claim's numbers, and what the
//! dissenting source says, short enough to quote inline.

use unicode_segmentation::UnicodeSegmentation;

use super::context::{Context, Quote};
use crate::citations::claims::ReportClaim;
use crate::citations::evidence::SourceText;
use crate::citations::numeric::{MismatchReason, NumericMatch, NumericQa};

impl Context<'_> {
    /// The model's supporting and contradicting sources of a claim with numbers, put right
    /// by them: a supporting source that does not state the claim's numbers changes sides
    /// with the contradicting sources that do.
    pub(super) fn by_numbers(
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
    pub(super) fn other_figure(
        &self,
        rc: &ReportClaim,
        checked: &NumericQa,
    ) -> Option<(u32, String)> {
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
}

/// What the dissenting side says: its quote's sentence closest to the claim.
pub(super) fn dissent(
    quotes: &[Quote],
    contradicting: &[usize],
    against: &[u32],
    claim: &str,
) -> Option<String> {
    // After `by_numbers` the contradicting quotes may be the supporting
    // side's: then any quote of the dissenting source.
    contradicting
        .iter()
        .filter_map(|i| quotes.get(*i))
        .find(|q| against.contains(&q.source))
        .or_else(|| quotes.iter().find(|q| against.contains(&q.source)))
        .map(|q| closest_sentence(&q.text, claim))
}

/// The sentence of `quote` that shares the most words with `claim`, clipped at a word to
/// [`DISSENT_CHARS`]: what a disagreeing source says, short enough to quote inline.
pub(super) fn closest_sentence(quote: &str, claim: &str) -> String {
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
}
