//! The claims of a report: its sentences that cite a source.
//!
//! A claim is a sentence of the report body carrying at least one `[n]` marker; an uncited
//! sentence makes no checkable promise, so it is left alone. The body ends at the
//! references heading ([`references::section_start`], in any language). Headings and
//! blockquotes (the partial-report notice) are never claims. Markers a model writes after
//! a sentence's full stop (`… 12 GWh. [3][4]`) belong to that sentence, so it stays one
//! claim; CJK full stops (`。！？`) end a sentence without a space after them. Positions count characters, as the original's `position_start`/`position_end`
//! do, so they match what a browser's JavaScript sees.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::references;

/// One cited sentence of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportClaim {
    /// Character offset of the sentence (markers included) in the report.
    pub start: usize,
    /// Character offset one past the sentence's end.
    pub end: usize,
    /// Byte range of the same sentence, for rewriting the report.
    pub bytes: Range<usize>,
    /// The sentence without its citation markers: what is verified.
    pub text: String,
    /// The source numbers it cites, in order of first appearance, without repeats.
    pub cited: Vec<u32>,
}

/// The cited sentences of `report`, in order.
pub fn extract(report: &str) -> Vec<ReportClaim> {
    let mut claims = Vec::new();
    let mut line_start = 0;
    for line in references::body(report).split_inclusive('\n') {
        let offset = line_start;
        line_start += line.len();
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.starts_with('>') || trimmed.starts_with('|') {
            continue;
        }
        let content_start = offset + (line.len() - trimmed.len()) + list_marker_len(trimmed);
        let content_end = offset + line.trim_end().len();
        if content_start >= content_end {
            continue;
        }
        for range in sentences(&report[content_start..content_end]) {
            let bytes = content_start + range.start..content_start + range.end;
            let raw = &report[bytes.clone()];
            let cited = cited_numbers(raw);
            if cited.is_empty() {
                continue;
            }
            claims.push(ReportClaim {
                start: report[..bytes.start].chars().count(),
                end: report[..bytes.end].chars().count(),
                text: strip_markers(raw),
                bytes,
                cited,
            });
        }
    }
    claims
}

/// `text` without its `[n]` markers, with the space a marker leaves before punctuation
/// closed up ("grew 40% [1]." → "grew 40%.").
pub fn strip_markers(text: &str) -> String {
    let removed = MARKER.replace_all(text, "");
    let spaced = SPACE_RUN.replace_all(&removed, " ");
    SPACE_BEFORE_PUNCT
        .replace_all(&spaced, "$1")
        .trim()
        .to_string()
}

/// The source numbers `text` cites, in order, without repeats; `[2-4]` cites 2, 3 and 4.
pub fn cited_numbers(text: &str) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for captures in MARKER.captures_iter(text) {
        for n in marker_numbers(&captures[1]) {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

/// `insert` put before the final punctuation of `text` (the whole run, so "Really?!" →
/// "Really (unverified)?!"), or after it when it has none.
pub fn before_stop(text: &str, insert: &str) -> String {
    let body = text.trim_end_matches(STOPS);
    format!("{body}{insert}{}", &text[body.len()..])
}

/// The punctuation that ends a sentence, ASCII and CJK (full-width).
pub const STOPS: &[char] = &['.', '!', '?', '。', '！', '？'];

/// CJK full stops end a sentence with no space after them.
const CJK_STOPS: &[char] = &['。', '！', '？'];

static TRAILING_MARKERS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[ \t]*\[\d+(?:\s*[,;–-]\s*\d+)*\])+").expect("constant pattern")
});
static MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\s*\[(\d+(?:\s*[,;–-]\s*\d+)*)\]").expect("constant pattern"));
static SPACE_RUN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s+").expect("constant"));
static SPACE_BEFORE_PUNCT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\s+([.,;:!?])").expect("constant pattern"));
static LIST_MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:[-*+]|\d+[.)])\s+").expect("constant pattern"));

/// A range like `2-4` is bounded so a model typo such as `[1-100000]` cannot blow up.
const MAX_RANGE: u32 = 50;

fn marker_numbers(inner: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let mut rest = inner;
    let mut previous: Option<u32> = None;
    let mut in_range = false;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            if let Ok(n) = rest[..digits].parse::<u32>() {
                match previous {
                    Some(p) if in_range && n > p && n - p <= MAX_RANGE => out.extend(p + 1..=n),
                    _ => out.push(n),
                }
                previous = Some(n);
            }
            in_range = false;
            rest = &rest[digits..];
            continue;
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            if c == '-' || c == '–' {
                in_range = true;
            }
        }
        rest = chars.as_str();
    }
    out
}

fn list_marker_len(line: &str) -> usize {
    LIST_MARKER.find(line).map_or(0, |m| m.end())
}

/// Sentence ranges of one line. A sentence ends at a run of [`STOPS`] followed by
/// whitespace or the line's end, or at a CJK full stop whatever follows; the markers
/// written right after its stop (with or without spaces) go with it ("… 40%. [1][2] Next"
/// → "… 40%. [1][2]").
fn sentences(line: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut iter = line.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if !STOPS.contains(&c) {
            continue;
        }
        let stops = line[i..]
            .char_indices()
            .find(|(_, n)| !STOPS.contains(n))
            .map_or(line.len() - i, |(j, _)| j);
        let run = &line[i..i + stops];
        let mut end = i + stops;
        end += TRAILING_MARKERS.find(&line[end..]).map_or(0, |m| m.end());
        let cjk = run.contains(CJK_STOPS);
        let next = line[end..].chars().next();
        if cjk || next.is_none_or(char::is_whitespace) {
            push_trimmed(line, start..end, &mut out);
            start = end;
        } else {
            end = i + stops;
        }
        while iter.peek().is_some_and(|(j, _)| *j < end) {
            iter.next();
        }
    }
    push_trimmed(line, start..line.len(), &mut out);
    out
}

fn push_trimmed(line: &str, range: Range<usize>, out: &mut Vec<Range<usize>>) {
    let piece = &line[range.clone()];
    let lead = piece.len() - piece.trim_start().len();
    let trail = piece.len() - piece.trim_end().len();
    if lead + trail < piece.len() {
        out.push(range.start + lead..range.end - trail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_a_cited_sentence_with_char_positions() {
        let report = "# Tëst\n\nCafé sales grew 40% [1]. Nobody knows why. Prices rose [2][3].\n\n## References\n1. [A](https://a) [1].\n";
        let claims = extract(report);
        assert_eq!(claims.len(), 2);
        assert_eq!(claims[0].text, "Café sales grew 40%.");
        assert_eq!(claims[0].cited, vec![1]);
        let chars: Vec<char> = report.chars().collect();
        let raw: String = chars[claims[0].start..claims[0].end].iter().collect();
        assert_eq!(raw, "Café sales grew 40% [1].");
        assert_eq!(&report[claims[0].bytes.clone()], raw);
        assert_eq!(claims[1].text, "Prices rose.");
        assert_eq!(claims[1].cited, vec![2, 3]);
    }

    #[test]
    fn headings_notices_and_list_markers_are_not_claim_text() {
        let report = "> **Partial report.** Stopped [1].\n\n## Growth [2]\n\n- Output doubled. [4]\n2. Exports fell [1-3].\n";
        let claims = extract(report);
        let texts: Vec<&str> = claims.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, vec!["Output doubled.", "Exports fell."]);
        assert_eq!(claims[0].cited, vec![4]);
        assert_eq!(claims[1].cited, vec![1, 2, 3]);
    }

    #[test]
    fn decimals_do_not_end_sentences() {
        let claims = extract("Revenue was $2.3 billion in 2024 [1]. Costs fell [2].");
        assert_eq!(claims[0].text, "Revenue was $2.3 billion in 2024.");
        assert_eq!(claims[1].text, "Costs fell.");
    }

    #[test]
    fn markers_after_the_full_stop_belong_to_its_sentence() {
        let report = "Storage reached 12 GWh. [3] Prices fell. [3][4] Then 40%.[5]\n\
                      Output grew? [1, 2]\n";
        let claims = extract(report);
        let raw: Vec<&str> = claims.iter().map(|c| &report[c.bytes.clone()]).collect();
        assert_eq!(
            raw,
            vec![
                "Storage reached 12 GWh. [3]",
                "Prices fell. [3][4]",
                "Then 40%.[5]",
                "Output grew? [1, 2]"
            ]
        );
        let texts: Vec<&str> = claims.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "Storage reached 12 GWh.",
                "Prices fell.",
                "Then 40%.",
                "Output grew?"
            ]
        );
        assert_eq!(claims[1].cited, vec![3, 4]);
    }

    #[test]
    fn cjk_full_stops_end_sentences_and_keep_their_markers() {
        let report = "电池能量密度提高了15%。[1][2]成本下降了！ [3]真的吗？[4]\n";
        let claims = extract(report);
        let raw: Vec<&str> = claims.iter().map(|c| &report[c.bytes.clone()]).collect();
        assert_eq!(
            raw,
            vec![
                "电池能量密度提高了15%。[1][2]",
                "成本下降了！ [3]",
                "真的吗？[4]"
            ]
        );
        assert_eq!(claims[0].text, "电池能量密度提高了15%。");
        assert_eq!(claims[0].cited, vec![1, 2]);
        assert_eq!(claims[1].text, "成本下降了！");
    }

    #[test]
    fn the_body_ends_at_a_references_heading_in_any_language() {
        let report =
            "## Sources of error\n\nNoise grew [1].\n\n## 参考文献\n\n1. Zhang, 电池 [2].\n";
        let texts: Vec<String> = extract(report).into_iter().map(|c| c.text).collect();
        assert_eq!(texts, vec!["Noise grew."]);
    }

    #[test]
    fn an_insert_goes_before_the_whole_final_punctuation() {
        assert_eq!(before_stop("Sales grew.", " [2]"), "Sales grew [2].");
        assert_eq!(
            before_stop("Really?!", " (unverified)"),
            "Really (unverified)?!"
        );
        assert_eq!(
            before_stop("涨了。", " (unverified)"),
            "涨了 (unverified)。"
        );
        assert_eq!(before_stop("Sales grew", " [2]"), "Sales grew [2]");
        assert_eq!(before_stop("", " [2]"), " [2]");
    }

    proptest::proptest! {
        #[test]
        fn every_sentence_with_markers_is_one_claim_whose_text_has_none(
            words in proptest::collection::vec("[a-zé电池]{1,6}", 1..6),
            stop in "[.!?。！？]",
            markers in "( ?\\[[1-9]\\]){1,3}",
        ) {
            let sentence = format!("{}{stop}", words.join(" "));
            let report = format!("{sentence}{markers} Next one [9].\n");
            let claims = extract(&report);
            proptest::prop_assert_eq!(claims.len(), 2, "{:?}", claims);
            proptest::prop_assert_eq!(&claims[0].text, &sentence);
            let softened = before_stop(&claims[0].text, " (unverified)");
            proptest::prop_assert_eq!(softened.matches("(unverified)").count(), 1);
            proptest::prop_assert!(softened.ends_with(&stop), "{}", softened);
        }
    }
}
