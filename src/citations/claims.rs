//! The claims of a report: its sentences that cite a source.
//!
//! A claim is a sentence of the report body carrying at least one `[n]` marker; an uncited
//! sentence makes no checkable promise, so it is left alone. The body ends at the
//! `## References` heading. Headings and blockquotes (the partial-report notice) are never
//! claims. Positions count characters, as the original's `position_start`/`position_end`
//! do, so they match what a browser's JavaScript sees.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

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
    for line in report.split_inclusive('\n') {
        let offset = line_start;
        line_start += line.len();
        let trimmed = line.trim_start();
        if is_references_heading(trimmed) {
            break;
        }
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

fn is_references_heading(line: &str) -> bool {
    let Some(rest) = line.strip_prefix('#') else {
        return false;
    };
    let title = rest.trim_start_matches('#').trim();
    ["references", "sources", "bibliography"]
        .iter()
        .any(|t| title.eq_ignore_ascii_case(t))
}

fn list_marker_len(line: &str) -> usize {
    LIST_MARKER.find(line).map_or(0, |m| m.end())
}

/// Sentence ranges of one line: a sentence ends at `.`, `!` or `?` followed by whitespace
/// or the line's end, and takes any markers written right after its full stop with it
/// ("… 40%. [1] Next" → "… 40%. [1]").
fn sentences(line: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut iter = line.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if !matches!(c, '.' | '!' | '?') {
            continue;
        }
        let after = i + c.len_utf8();
        let next = line[after..].chars().next();
        if next.is_some_and(|n| !n.is_whitespace()) {
            continue;
        }
        let mut end = after;
        // Markers after the stop belong to this sentence.
        if let Some(m) = MARKER.find(&line[end..]) {
            if m.start() == 0 {
                end += m.end();
            }
        }
        push_trimmed(line, start..end, &mut out);
        start = end;
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
}
