//! Sentence text: content words and how much of a fact a quote covers; citation markers
//! read, stripped and written; a final stop; byte ranges as character ranges.

use std::collections::{BTreeSet, HashSet};
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use crate::citations::claims;

/// Share of the fact's content words (lowercased; stopwords and one- or two-letter words
/// left out unless they hold a digit) that occur in `quote`.
pub(super) fn coverage(fact: &str, quote: &str) -> f64 {
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

pub(super) const STOPWORDS: &[&str] = &[
    "the", "and", "for", "with", "that", "this", "these", "those", "from", "into", "its", "was",
    "were", "are", "has", "have", "had", "been", "being", "than", "then", "their", "there", "they",
    "which", "who", "whom", "whose", "also", "but", "not", "all", "any", "per", "over", "under",
    "about", "after", "before", "during", "while", "such", "some", "more", "most", "other", "our",
    "out", "can", "could", "would", "should", "will", "may", "might", "a", "an", "of", "in", "on",
    "at", "by", "to", "is", "it", "as", "or", "be",
];

/// `[3]`, `[3, 5]`, `[3-5]` with the space before them.
static MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\s*\[(\d+(?:\s*[,;–-]\s*\d+)*)\]").expect("constant pattern"));

static SPACE_BEFORE_PUNCT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[ \t]+([.,;:!?])").expect("constant pattern"));

/// `text` without citation markers, trimmed.
pub(super) fn strip_markers(text: &str) -> String {
    let stripped = MARKER.replace_all(text, "");
    SPACE_BEFORE_PUNCT
        .replace_all(&stripped, "$1")
        .trim()
        .to_string()
}

/// The source numbers of `text`'s markers.
pub(super) fn markers_in(text: &str) -> BTreeSet<u32> {
    MARKER
        .captures_iter(text)
        .flat_map(|c| {
            c[1].split([',', ';', '–', '-'])
                .filter_map(|n| n.trim().parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

pub(super) fn markers(sources: &BTreeSet<u32>) -> String {
    if sources.is_empty() {
        return String::new();
    }
    let list: String = sources.iter().map(|n| format!("[{n}]")).collect();
    format!(" {list}")
}

pub(super) fn marker_list(sources: &BTreeSet<u32>) -> String {
    if sources.is_empty() {
        return "nothing".into();
    }
    sources.iter().map(|n| format!("[{n}]")).collect()
}

/// `text` ending in sentence punctuation.
pub(super) fn with_stop(text: &str) -> String {
    let t = text.trim();
    if t.ends_with(claims::STOPS) {
        t.to_string()
    } else {
        format!("{t}.")
    }
}

pub(super) fn char_range(text: &str, bytes: &Range<usize>) -> Range<usize> {
    let start = text.get(..bytes.start).map_or(0, |s| s.chars().count());
    let len = text.get(bytes.clone()).map_or(0, |s| s.chars().count());
    start..start + len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::citations::claims::before_stop;

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
}
