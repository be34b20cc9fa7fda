//! Finding a claim's quote in the stored text of its source.
//!
//! Models copy quotes imperfectly: line breaks become spaces, curly quotes become straight,
//! `…` becomes `...`, and extracted HTML carries non-breaking and soft hyphens the model never
//! saw. [`find`] compares *folded* copies of both texts and maps the match back through a
//! byte-offset table, so the returned [`Span`] always slices the original source on char
//! boundaries.
//!
//! Folding, applied identically to source and quote:
//! - Unicode compatibility decomposition (NFKD, via `unicode-normalization`), so NFC/NFD
//!   forms, ligatures, `…` and non-breaking spaces compare equal to their plain spellings.
//!   Decomposition (not NFKC) because it is local to a base character and its combining
//!   marks, which is what keeps the offset table exact.
//! - Any whitespace run (spaces, tabs, newlines, NBSP, U+2028…) becomes one space.
//! - Soft hyphens and zero-width characters disappear.
//! - Curly single quotes and apostrophes become `'`; curly double quotes and guillemets `"`.
//! - Hyphen and dash variants (U+2010–U+2015, minus sign) become `-`.
//! - Case: exact first, then (with [`CaseMatching::ExactThenInsensitive`]) lowercase.
//!
//! When a folded character came from a multi-character piece of the source (a ligature, a
//! base letter with its accents), a match touching it covers the whole piece.

use std::collections::HashMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::UnicodeNormalization;

/// A byte range of the original source; `&source[start..end]` is the matched text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// Whether a quote may differ from the source in letter case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaseMatching {
    /// Letter case must agree.
    Exact,
    /// Try exact case first; only if that fails, ignore case.
    #[default]
    ExactThenInsensitive,
}

/// The best place a quote was found, and how well it matched.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BestMatch {
    pub span: Span,
    /// 1.0 for a folded match; for a fuzzy one, the share of the quote's words found in
    /// order in the span.
    pub score: f64,
    pub method: MatchMethod,
}

/// How a [`BestMatch`] was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchMethod {
    /// The whole quote, after folding.
    Folded,
    /// A window of source words, most of them the quote's.
    Fuzzy,
}

/// The lowest fuzzy score [`find_best`] reports: a quote with one word in five changed or
/// missing still counts as found; anything looser is more likely a paraphrase.
pub const FUZZY_MIN_SCORE: f64 = 0.8;

impl Span {
    /// The span as a range for slicing.
    pub fn range(self) -> Range<usize> {
        self.start..self.end
    }
}

/// Finds `quote` in `source`, tolerating whitespace, Unicode, punctuation-style and case
/// differences (see the module documentation).
pub fn find(source: &str, quote: &str) -> Option<Span> {
    find_with(source, quote, CaseMatching::default())
}

/// [`find`] with explicit case handling.
pub fn find_with(source: &str, quote: &str, case: CaseMatching) -> Option<Span> {
    let exact = find_folded(source, quote, Case::Keep);
    match case {
        CaseMatching::Exact => exact,
        CaseMatching::ExactThenInsensitive => {
            exact.or_else(|| find_folded(source, quote, Case::Lower))
        }
    }
}

/// Finds `quote` in `source`, or failing that the window of source words that best matches
/// it.
///
/// The fuzzy method works on words (alphanumeric runs of the lowercased, folded text), in
/// linear time so 100 KB sources stay cheap: a window as many words long as the quote slides
/// over the source, counting how many of the quote's words (as a multiset) it holds; the
/// fullest window is then scored by the longest common subsequence of words with the quote,
/// divided by the quote's word count, so reordered words score lower than changed ones. The
/// span runs from the window's first to its last word that occurs in the quote. `None` when
/// the score is below [`FUZZY_MIN_SCORE`].
pub fn find_best(source: &str, quote: &str) -> Option<BestMatch> {
    if let Some(span) = find(source, quote) {
        return Some(BestMatch {
            span,
            score: 1.0,
            method: MatchMethod::Folded,
        });
    }
    let folded_source = Folded::new(source, Case::Lower);
    let folded_quote = Folded::new(quote, Case::Lower);
    let source_words = words(&folded_source.text);
    let quote_words = words(&folded_quote.text);
    if quote_words.is_empty() || source_words.is_empty() {
        return None;
    }

    let mut ids: HashMap<&str, usize> = HashMap::new();
    let quote_ids: Vec<usize> = quote_words
        .iter()
        .map(|w| {
            let next = ids.len();
            *ids.entry(&folded_quote.text[w.clone()]).or_insert(next)
        })
        .collect();
    let source_ids: Vec<Option<usize>> = source_words
        .iter()
        .map(|w| ids.get(&folded_source.text[w.clone()]).copied())
        .collect();

    let (window_start, window_len) = fullest_window(&source_ids, &quote_ids, ids.len());
    let window = &source_ids[window_start..window_start + window_len];
    let score = common_subsequence_len(window, &quote_ids) as f64 / quote_ids.len() as f64;
    if score < FUZZY_MIN_SCORE {
        return None;
    }
    let first = window.iter().position(Option::is_some)?;
    let last = window.iter().rposition(Option::is_some)?;
    let first_word = &source_words[window_start + first];
    let last_word = &source_words[window_start + last];
    Some(BestMatch {
        span: folded_source.span(first_word.start..last_word.end),
        score,
        method: MatchMethod::Fuzzy,
    })
}

#[derive(Clone, Copy)]
enum Case {
    Keep,
    Lower,
}

fn find_folded(source: &str, quote: &str, case: Case) -> Option<Span> {
    let quote = Folded::new(quote, case);
    let needle = quote.text.trim_matches(' ');
    if needle.is_empty() {
        return None;
    }
    let haystack = Folded::new(source, case);
    let at = haystack.text.find(needle)?;
    Some(haystack.span(at..at + needle.len()))
}

/// A folded copy of a text with, for each folded byte, the original byte range it came from.
struct Folded {
    text: String,
    origin: Vec<(usize, usize)>,
}

impl Folded {
    fn new(original: &str, case: Case) -> Folded {
        let mut folded = Folded {
            text: String::with_capacity(original.len()),
            origin: Vec::with_capacity(original.len()),
        };
        for piece in pieces(original) {
            let origin = (piece.start, piece.end);
            for c in original[piece].nfkd() {
                folded.push_folded(c, case, origin);
            }
        }
        folded
    }

    fn push_folded(&mut self, c: char, case: Case, origin: (usize, usize)) {
        if matches!(
            c,
            '\u{ad}' | '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}'
        ) {
            return;
        }
        if c.is_whitespace() {
            if !self.text.is_empty() && !self.text.ends_with(' ') {
                self.push(' ', origin);
            }
            return;
        }
        let c = match c {
            '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{201b}' | '`' | '\u{b4}' => '\'',
            '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{201f}' | '«' | '»' => '"',
            '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{fe58}' | '\u{fe63}' | '\u{ff0d}' => '-',
            c => c,
        };
        match case {
            Case::Keep => self.push(c, origin),
            Case::Lower => {
                for lower in c.to_lowercase() {
                    self.push(lower, origin);
                }
            }
        }
    }

    fn push(&mut self, c: char, origin: (usize, usize)) {
        self.text.push(c);
        self.origin
            .extend(std::iter::repeat_n(origin, c.len_utf8()));
    }

    /// The original span covering folded bytes `range` (non-empty, within the text).
    fn span(&self, range: Range<usize>) -> Span {
        Span {
            start: self.origin[range.start].0,
            end: self.origin[range.end - 1].1,
        }
    }
}

/// Splits text into a base character plus its combining marks: decomposition and the
/// reordering of marks never cross these boundaries, so each folded char has one origin.
fn pieces(text: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut starts = text
        .char_indices()
        .filter(|&(i, c)| i == 0 || canonical_combining_class(c) == 0)
        .map(|(i, _)| i)
        .peekable();
    std::iter::from_fn(move || {
        let start = starts.next()?;
        let end = starts.peek().copied().unwrap_or(text.len());
        Some(start..end)
    })
}

fn words(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(s..text.len());
    }
    out
}

/// The start and length of the window of `source` (quote-length, or all of a shorter source)
/// holding the most of the quote's words, counted as a multiset; the first such window wins.
fn fullest_window(source: &[Option<usize>], quote: &[usize], distinct: usize) -> (usize, usize) {
    let len = quote.len().min(source.len());
    let mut needed = vec![0usize; distinct];
    for &id in quote {
        needed[id] += 1;
    }
    let mut held = vec![0usize; distinct];
    let mut matched = 0usize;
    let (mut best, mut best_start) = (0usize, 0usize);
    for (i, word) in source.iter().enumerate() {
        if let Some(id) = *word {
            if held[id] < needed[id] {
                matched += 1;
            }
            held[id] += 1;
        }
        if i >= len {
            if let Some(id) = source[i - len] {
                held[id] -= 1;
                if held[id] < needed[id] {
                    matched -= 1;
                }
            }
        }
        if i + 1 >= len && matched > best {
            best = matched;
            best_start = i + 1 - len;
        }
    }
    (best_start, len)
}

fn common_subsequence_len(window: &[Option<usize>], quote: &[usize]) -> usize {
    let mut previous = vec![0usize; quote.len() + 1];
    let mut current = vec![0usize; quote.len() + 1];
    for word in window {
        for (j, &q) in quote.iter().enumerate() {
            current[j + 1] = if *word == Some(q) {
                previous[j] + 1
            } else {
                current[j].max(previous[j + 1])
            };
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[quote.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn found<'a>(source: &'a str, quote: &str) -> Option<&'a str> {
        find(source, quote).map(|s| &source[s.range()])
    }

    #[test]
    fn whitespace_runs_and_line_breaks_match_single_spaces() {
        let source = "The quick\n   brown\tfox jumps";
        assert_eq!(
            found(source, "quick brown fox"),
            Some("quick\n   brown\tfox")
        );
        assert_eq!(found(source, "  quick brown  "), Some("quick\n   brown"));
    }

    #[test]
    fn curly_and_straight_quotes_match() {
        let source = "He said “it’s fine” twice.";
        assert_eq!(
            found(source, "said \"it's fine\""),
            Some("said “it’s fine”")
        );
        let source = "He said \"it's fine\" twice.";
        assert_eq!(
            found(source, "said “it’s fine”"),
            Some("said \"it's fine\"")
        );
    }

    #[test]
    fn composed_and_decomposed_accents_match() {
        let nfd = "un cafe\u{301} noir";
        assert_eq!(found(nfd, "café noir"), Some("cafe\u{301} noir"));
        assert_eq!(found("un café noir", "cafe\u{301}"), Some("café"));
    }

    #[test]
    fn non_breaking_spaces_soft_hyphens_and_zero_width_spaces_are_ignored() {
        let source = "a\u{a0}co\u{ad}opera\u{200b}tive venture";
        assert_eq!(found(source, "a cooperative venture"), Some(source));
    }

    #[test]
    fn dashes_and_ellipses_match_their_ascii_spellings() {
        assert_eq!(found("from 2010–2020 only", "2010-2020"), Some("2010–2020"));
        assert_eq!(found("wait… what", "wait... what"), Some("wait… what"));
        assert_eq!(found("wait... what", "wait… what"), Some("wait... what"));
    }

    #[test]
    fn case_is_exact_first_then_insensitive_unless_exact_is_required() {
        let source = "the quick brown. The Quick Brown";
        assert_eq!(find(source, "The Quick Brown").map(|s| s.start), Some(17));
        assert_eq!(find(source, "THE QUICK brown").map(|s| s.start), Some(0));
        assert_eq!(
            find_with(source, "THE QUICK BROWN", CaseMatching::Exact),
            None
        );
    }

    #[test]
    fn a_match_inside_a_ligature_covers_the_whole_ligature() {
        assert_eq!(found("corporate ﬁnance team", "finance"), Some("ﬁnance"));
    }

    #[test]
    fn absent_or_empty_quotes_are_not_found() {
        assert_eq!(find("some text", "other text"), None);
        assert_eq!(find("some text", " \n\u{ad} "), None);
        assert_eq!(find("", "x"), None);
    }

    #[test]
    fn find_best_prefers_a_folded_match() {
        let best = find_best("a “quoted” line", "\"quoted\" line").expect("found");
        assert_eq!(best.method, MatchMethod::Folded);
        assert_eq!(best.score, 1.0);
    }

    #[test]
    fn find_best_finds_a_quote_with_one_changed_word() {
        let source = "Intro text. The committee approved the new budget on Tuesday after a long \
                      debate. Other matters followed.";
        let quote = "The committee approved the revised budget on Tuesday after a long debate";
        let best = find_best(source, quote).expect("found");
        assert_eq!(best.method, MatchMethod::Fuzzy);
        assert!(
            best.score >= FUZZY_MIN_SCORE && best.score < 1.0,
            "{best:?}"
        );
        assert_eq!(
            &source[best.span.range()],
            "The committee approved the new budget on Tuesday after a long \
                      debate"
        );
    }

    #[test]
    fn find_best_rejects_a_paraphrase() {
        let source = "The committee approved the new budget on Tuesday after a long debate.";
        assert_eq!(
            find_best(source, "Lawmakers passed spending plans this week"),
            None
        );
    }

    #[test]
    fn find_best_handles_a_large_source() {
        let filler = "lorem ipsum dolor sit amet consectetur adipiscing elit ".repeat(2000);
        let source = format!("{filler}The rate rose to 4.5 percent in March. {filler}");
        let best = find_best(&source, "the rate climbed to 4.5 percent in March").expect("found");
        assert_eq!(
            &source[best.span.range()],
            "The rate rose to 4.5 percent in March"
        );
    }

    /// A piece of the planted quote, rendered in one of several equivalent spellings.
    #[derive(Debug, Clone)]
    enum Piece {
        Word(usize),
        Space,
        Apostrophe,
        DoubleQuote,
        Dash,
        Ellipsis,
        Accent,
        SoftHyphen,
    }

    // Uppercase so the planted text never occurs in the lowercase filler.
    const WORDS: [&str; 5] = ["ALPHA", "BETA", "GAMMA", "DÉLTA", "Ω"];

    fn spelling(piece: &Piece, style: u8) -> &'static str {
        let pick = |options: &[&'static str]| options[usize::from(style) % options.len()];
        match piece {
            Piece::Word(i) => WORDS[*i],
            Piece::Space => pick(&[" ", "\n", "  ", "\t", "\u{a0}", " \r\n ", "\u{2009}"]),
            Piece::Apostrophe => pick(&["'", "’", "‘"]),
            Piece::DoubleQuote => pick(&["\"", "“", "”", "«"]),
            Piece::Dash => pick(&["-", "–", "—", "‐", "−"]),
            Piece::Ellipsis => pick(&["...", "…"]),
            Piece::Accent => pick(&["É", "E\u{301}"]),
            Piece::SoftHyphen => pick(&["", "\u{ad}"]),
        }
    }

    fn piece() -> impl Strategy<Value = Piece> {
        prop_oneof![
            (0..WORDS.len()).prop_map(Piece::Word),
            Just(Piece::Space),
            Just(Piece::Apostrophe),
            Just(Piece::DoubleQuote),
            Just(Piece::Dash),
            Just(Piece::Ellipsis),
            Just(Piece::Accent),
            Just(Piece::SoftHyphen),
        ]
    }

    fn render(pieces: &[Piece], styles: &[u8]) -> String {
        pieces
            .iter()
            .zip(styles.iter().cycle())
            .map(|(p, s)| spelling(p, *s))
            .collect()
    }

    proptest! {
        #[test]
        fn a_perturbed_quote_finds_exactly_the_planted_text(
            before in "[a-z \n\t.,中ß]{0,40}",
            after in "[a-z \n\t.,中ß]{0,40}",
            first in 0..WORDS.len(),
            middle in prop::collection::vec(piece(), 0..12),
            last in 0..WORDS.len(),
            source_styles in prop::collection::vec(any::<u8>(), 1..16),
            quote_styles in prop::collection::vec(any::<u8>(), 1..16),
        ) {
            let mut pieces = vec![Piece::Word(first)];
            pieces.extend(middle);
            pieces.push(Piece::Word(last));
            let planted = render(&pieces, &source_styles);
            let quote = render(&pieces, &quote_styles);
            let source = format!("{before}{planted}{after}");
            let span = find(&source, &quote);
            prop_assert_eq!(span.and_then(|s| source.get(s.range())), Some(planted.as_str()));
        }

        #[test]
        fn find_never_panics_and_spans_are_char_boundaries(
            source in any::<String>(),
            quote in any::<String>(),
        ) {
            if let Some(span) = find(&source, &quote) {
                prop_assert!(source.get(span.range()).is_some());
            }
            if let Some(best) = find_best(&source, &quote) {
                prop_assert!(source.get(best.span.range()).is_some());
            }
        }

        /// Cuts fall between base characters: a quote that starts or ends among one
        /// letter's accents is not a quote anyone would make.
        #[test]
        fn a_quote_taken_from_the_source_is_found(
            source in "\\PC{0,60}",
            start in 0usize..60,
            len in 1usize..20,
        ) {
            let cuts: Vec<usize> = source
                .char_indices()
                .filter(|&(_, c)| canonical_combining_class(c) == 0)
                .map(|(i, _)| i)
                .chain([source.len()])
                .collect();
            prop_assume!(start + 1 < cuts.len());
            let quote = &source[cuts[start]..cuts[(start + len).min(cuts.len() - 1)]];
            prop_assume!(!quote.trim().is_empty());
            prop_assert!(find(&source, quote).is_some(), "{:?} in {:?}", quote, source);
        }
    }
}
