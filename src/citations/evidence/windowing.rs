//! Fetched text cut into windows: paragraphs, headings that name the windows after them,
//! whole sentences up to the limits, over-long sentences cut between words.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

use super::{has_numeric_content, Limits};

/// A window of a source's text: where it is, and what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Byte range in the source text; both ends are on `char` boundaries.
    pub bytes: Range<usize>,
    /// Index of the first character (Unicode scalar value) in the source text.
    pub char_start: usize,
    /// Index one past the last character.
    pub char_end: usize,
    /// The nearest heading line before the window, when the text has one.
    pub section_heading: Option<String>,
    /// Whether the window states figures (amounts, percentages, years, large numbers).
    pub has_numeric_content: bool,
}

/// Cut `text` into windows of up to [`Limits::max_sentences`] sentences and
/// [`Limits::max_span_chars`] characters, never across a paragraph break, trimmed of
/// surrounding whitespace. Heading lines are not windows; they name the windows after them.
pub fn chunk(text: &str, limits: &Limits) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut heading: Option<String> = None;
    let mut cursor = CharCursor::default();
    for block in blocks(text) {
        let block_text = &text[block.clone()];
        if let Some(h) = heading_of(block_text) {
            heading = Some(h);
            continue;
        }
        for window in windows(text, block, limits) {
            let window_text = &text[window.clone()];
            if window_text.chars().count() < limits.min_span_chars {
                continue;
            }
            out.push(Chunk {
                char_start: cursor.chars_before(text, window.start),
                char_end: cursor.chars_before(text, window.end),
                section_heading: heading.clone(),
                has_numeric_content: has_numeric_content(window_text),
                bytes: window,
            });
        }
    }
    out
}

/// Converts increasing byte offsets to character offsets in one pass over the text.
#[derive(Default)]
struct CharCursor {
    byte: usize,
    chars: usize,
}

impl CharCursor {
    fn chars_before(&mut self, text: &str, byte: usize) -> usize {
        if byte < self.byte {
            *self = Self::default();
        }
        self.chars += text.get(self.byte..byte).map_or(0, |s| s.chars().count());
        self.byte = byte;
        self.chars
    }
}

/// Paragraphs: runs of non-blank lines, trimmed. A markdown heading line is a paragraph of
/// its own even without blank lines around it.
fn blocks(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut current: Option<Range<usize>> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let range = offset..offset + line.len();
        offset += line.len();
        let trimmed = line.trim();
        if trimmed.is_empty() {
            out.extend(current.take());
            continue;
        }
        if markdown_heading(trimmed).is_some() {
            out.extend(current.take());
            out.push(range);
            continue;
        }
        current = Some(match current {
            Some(c) => c.start..range.end,
            None => range,
        });
    }
    out.extend(current);
    out.into_iter()
        .map(|r| trim(text, r))
        .filter(|r| !r.is_empty())
        .collect()
}

/// The heading a paragraph states: a markdown `#` line, or a short single line that does
/// not end like a sentence (extracted HTML keeps `<h2>` text as such a line).
fn heading_of(block: &str) -> Option<String> {
    if let Some(title) = markdown_heading(block) {
        return Some(title.to_string());
    }
    let looks_like_heading = !block.contains('\n')
        && block.chars().count() <= 100
        && block.split_whitespace().count() <= 12
        && !block.ends_with(['.', '!', '?', ',', ';', ':', '"', '…', ')', '”'])
        && block.chars().next().is_some_and(|c| !c.is_lowercase())
        && block.chars().any(char::is_alphabetic);
    looks_like_heading.then(|| block.to_string())
}

/// The title of an ATX heading line (`## Costs`); `#hashtag` is not one.
fn markdown_heading(line: &str) -> Option<&str> {
    let rest = line.trim_start_matches('#');
    let level = line.len() - rest.len();
    let title = rest.trim();
    ((1..=6).contains(&level) && rest.starts_with(char::is_whitespace) && !title.is_empty())
        .then_some(title)
}

/// Windows of whole sentences inside `block`, each trimmed.
fn windows(text: &str, block: Range<usize>, limits: &Limits) -> Vec<Range<usize>> {
    let max_chars = limits.max_span_chars.max(1);
    let max_sentences = limits.max_sentences.max(1);
    let mut sentences = Vec::new();
    for (at, sentence) in text[block.clone()].split_sentence_bound_indices() {
        let start = block.start + at;
        let range = trim(text, start..start + sentence.len());
        if range.is_empty() {
            continue;
        }
        if text[range.clone()].chars().count() > max_chars {
            sentences.extend(cut_long(text, range, max_chars));
        } else {
            sentences.push(range);
        }
    }

    let mut out = Vec::new();
    let mut current: Option<(Range<usize>, usize)> = None;
    for sentence in sentences {
        current = match current {
            Some((window, count))
                if count < max_sentences
                    && text[window.start..sentence.end].chars().count() <= max_chars =>
            {
                Some((window.start..sentence.end, count + 1))
            }
            Some((window, _)) => {
                out.push(window);
                Some((sentence, 1))
            }
            None => Some((sentence, 1)),
        };
    }
    out.extend(current.map(|(window, _)| window));
    out
}

/// A sentence longer than `max_chars`, cut between words (inside a word only when the
/// word alone is too long, e.g. a pasted URL).
fn cut_long(text: &str, sentence: Range<usize>, max_chars: usize) -> Vec<Range<usize>> {
    let mut pieces = Vec::new();
    let mut start = sentence.start;
    let mut chars = 0;
    let mut end = start;
    for (at, word) in text[sentence.clone()].split_word_bound_indices() {
        let word_start = sentence.start + at;
        let word_chars = word.chars().count();
        if chars + word_chars > max_chars && chars > 0 {
            pieces.push(start..end);
            start = word_start;
            chars = 0;
        }
        if word_chars > max_chars {
            for (i, (offset, _)) in word.char_indices().enumerate() {
                if i > 0 && i % max_chars == 0 {
                    pieces.push(start..word_start + offset);
                    start = word_start + offset;
                }
            }
            // What is left of the word after its full `max_chars` pieces: 1..=max_chars.
            chars = (word_chars - 1) % max_chars + 1;
        } else {
            chars += word_chars;
        }
        end = word_start + word.len();
    }
    pieces.push(start..end);
    pieces
        .into_iter()
        .map(|r| trim(text, r))
        .filter(|r| !r.is_empty())
        .collect()
}

/// `range` without surrounding whitespace, by moving its ends (never copying).
fn trim(text: &str, range: Range<usize>) -> Range<usize> {
    let slice = &text[range.clone()];
    let start = range.start + (slice.len() - slice.trim_start().len());
    let end = range.end - (slice.len() - slice.trim_end().len());
    start..end.max(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            min_span_chars: 1,
            ..Limits::default()
        }
    }

    #[test]
    fn windows_group_up_to_three_sentences_within_a_paragraph() {
        let text = "One a. Two b. Three c. Four d.\n\nFive e.";
        let chunks = chunk(text, &limits());
        let quotes: Vec<&str> = chunks.iter().map(|c| &text[c.bytes.clone()]).collect();
        assert_eq!(quotes, ["One a. Two b. Three c.", "Four d.", "Five e."]);
    }

    #[test]
    fn a_long_sentence_is_cut_between_words_and_a_long_word_inside_it() {
        let limits = Limits {
            max_span_chars: 10,
            ..limits()
        };
        let text = "alpha beta gamma delta abcdefghijklmnopqrstuvwxyz";
        let chunks = chunk(text, &limits);
        let quotes: Vec<&str> = chunks.iter().map(|c| &text[c.bytes.clone()]).collect();
        assert_eq!(
            quotes,
            [
                "alpha beta",
                "gamma",
                "delta",
                "abcdefghij",
                "klmnopqrst",
                "uvwxyz"
            ]
        );
    }

    #[test]
    fn headings_name_the_windows_after_them_and_are_not_evidence() {
        let text = "Intro sentence here.\n\n## Results 2024\nRevenue rose.\n#hashtag is a sentence.\n\nKey Findings\n\nCells last long.";
        let chunks = chunk(text, &limits());
        let named: Vec<(&str, Option<&str>)> = chunks
            .iter()
            .map(|c| (&text[c.bytes.clone()], c.section_heading.as_deref()))
            .collect();
        assert_eq!(
            named,
            [
                ("Intro sentence here.", None),
                (
                    "Revenue rose.\n#hashtag is a sentence.",
                    Some("Results 2024")
                ),
                ("Cells last long.", Some("Key Findings")),
            ]
        );
    }

    #[test]
    fn char_offsets_count_scalar_values_like_the_original() {
        let text = "Ünïcødé — 💡 first.\n\nZweiter Satz hier.";
        let chunks = chunk(text, &limits());
        let second = &chunks[1];
        assert_eq!(&text[second.bytes.clone()], "Zweiter Satz hier.");
        let chars: Vec<char> = text.chars().collect();
        let quoted: String = chars[second.char_start..second.char_end].iter().collect();
        assert_eq!(quoted, "Zweiter Satz hier.");
        assert!(
            second.bytes.start > second.char_start,
            "multibyte text before it"
        );
    }
}
