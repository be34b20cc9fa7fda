//! Passages and their ranking: files split into passages of about `chunk_chars` characters
//! at paragraph bounds, ranked by BM25, and optionally fused with an embeddings ranking by
//! reciprocal rank fusion.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use bm25::{Embedder, EmbedderBuilder, Language, Scorer};

use super::load::Document;

/// RRF's damping constant: the value of the original paper, which keeps one list's top
/// rank from drowning out agreement between the lists.
const RRF_K: f64 = 60.0;

/// One passage of a file's text, by byte range (for slicing) and character range (for
/// the RFC 5147 `#char=` fragment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Chunk {
    pub bytes: Range<usize>,
    pub chars: Range<usize>,
}

/// Split `text` into passages of at most `target_chars` characters: whole paragraphs
/// (runs of non-blank lines) packed together while they fit, a longer paragraph cut at a
/// sentence end, a line end or a space in the second half of the window, else at a
/// character. Passages carry no leading or trailing whitespace, and together they hold
/// every other character of `text`, in order.
pub(super) fn chunk(text: &str, target_chars: usize) -> Vec<Chunk> {
    let target = target_chars.max(1);
    let mut raw: Vec<Range<usize>> = Vec::new();
    let mut current: Option<Range<usize>> = None;
    for para in paragraphs(text) {
        if let Some(cur) = current.take() {
            if fits(text, cur.start..para.end, target) {
                current = Some(cur.start..para.end);
                continue;
            }
            raw.push(cur);
        }
        if fits(text, para.clone(), target) {
            current = Some(para);
        } else {
            raw.extend(split_long(text, para, target));
        }
    }
    raw.extend(current);
    with_char_offsets(text, raw.into_iter().filter_map(|r| trimmed(text, r)))
}

/// The passages of the configured folders and their BM25 index.
pub(super) struct Index {
    pub documents: Vec<Document>,
    /// Every passage: its document (index into `documents`) and where in its text.
    pub passages: Vec<(usize, Chunk)>,
    embedder: Embedder<u32>,
    scorer: Scorer<usize, u32>,
}

impl Index {
    /// Split every document and index the passages.
    pub fn build(documents: Vec<Document>, chunk_chars: usize) -> Index {
        let passages: Vec<(usize, Chunk)> = documents
            .iter()
            .enumerate()
            .flat_map(|(d, doc)| {
                chunk(&doc.text, chunk_chars)
                    .into_iter()
                    .map(move |c| (d, c))
            })
            .collect();
        let texts = indexed_texts(&documents, &passages);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let embedder = EmbedderBuilder::<u32>::with_fit_to_corpus(Language::English, &refs).build();
        let mut scorer = Scorer::new();
        for (i, text) in refs.iter().enumerate() {
            scorer.upsert(&i, embedder.embed(text));
        }
        Index {
            documents,
            passages,
            embedder,
            scorer,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.passages.is_empty()
    }

    /// The exact text of passage `i`.
    pub fn text(&self, i: usize) -> &str {
        self.passages
            .get(i)
            .and_then(|(d, c)| self.documents.get(*d)?.text.get(c.bytes.clone()))
            .unwrap_or_default()
    }

    /// What is ranked for each passage: its file's title, then its text, so a query naming
    /// a document finds its passages.
    pub fn indexed_texts(&self) -> Vec<String> {
        indexed_texts(&self.documents, &self.passages)
    }

    /// Passages matching `query` by BM25, best first (ties: earlier passage first).
    pub fn keyword_ranking(&self, query: &str) -> Vec<(usize, f64)> {
        let mut q = self.embedder.embed(query);
        // A word repeated in a query is not more important for it.
        let mut seen = HashSet::new();
        q.0.retain(|t| seen.insert(t.index));
        let mut ranked: Vec<(usize, f64)> = self
            .scorer
            .matches(&q)
            .into_iter()
            .filter(|m| m.score > 0.0)
            .map(|m| (m.id, f64::from(m.score)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
    }
}

fn indexed_texts(documents: &[Document], passages: &[(usize, Chunk)]) -> Vec<String> {
    passages
        .iter()
        .map(|(d, c)| match documents.get(*d) {
            Some(doc) => format!(
                "{}\n\n{}",
                doc.title,
                doc.text.get(c.bytes.clone()).unwrap_or_default()
            ),
            None => String::new(),
        })
        .collect()
}

/// Passages by cosine similarity of their vectors to `query`, best first, at most `limit`.
pub(super) fn vector_ranking(
    query: &[f32],
    vectors: &[Vec<f32>],
    limit: usize,
) -> Vec<(usize, f64)> {
    let mut ranked: Vec<(usize, f64)> = vectors
        .iter()
        .enumerate()
        .filter_map(|(i, v)| cosine(query, v).map(|s| (i, s)))
        .filter(|(_, s)| *s > 0.0)
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(limit);
    ranked
}

/// Reciprocal rank fusion of best-first rankings: each passage scores the sum of
/// `1 / (RRF_K + rank)` over the lists it is in. Best first; ties by passage order.
pub(super) fn fuse(rankings: &[&[(usize, f64)]]) -> Vec<(usize, f64)> {
    let mut scores: HashMap<usize, f64> = HashMap::new();
    for ranking in rankings {
        for (rank, (id, _)) in ranking.iter().enumerate() {
            *scores.entry(*id).or_default() += 1.0 / (RRF_K + rank as f64 + 1.0);
        }
    }
    let mut fused: Vec<(usize, f64)> = scores.into_iter().collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    fused
}

fn cosine(a: &[f32], b: &[f32]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let (mut dot, mut na, mut nb) = (0.0_f64, 0.0_f64, 0.0_f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    (na > 0.0 && nb > 0.0).then(|| dot / (na.sqrt() * nb.sqrt()))
}

/// Runs of non-blank lines, as byte ranges (untrimmed).
fn paragraphs(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let (mut end, mut offset) = (0, 0);
    for line in text.split_inclusive('\n') {
        if line.trim().is_empty() {
            if let Some(s) = start.take() {
                out.push(s..end);
            }
        } else {
            start.get_or_insert(offset);
            end = offset + line.len();
        }
        offset += line.len();
    }
    out.extend(start.map(|s| s..end));
    out
}

/// Whether `range` of `text` holds at most `target` characters (counting no further).
fn fits(text: &str, range: Range<usize>, target: usize) -> bool {
    text.get(range)
        .is_some_and(|s| s.chars().take(target + 1).count() <= target)
}

/// Cut a paragraph longer than `target` characters into pieces of at most `target`.
fn split_long(text: &str, range: Range<usize>, target: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut s = range.start;
    while s < range.end {
        let rest = text.get(s..range.end).unwrap_or_default();
        let content = rest.trim_start();
        if content.is_empty() {
            break;
        }
        s += rest.len() - content.len();
        let Some((limit, _)) = content.char_indices().nth(target) else {
            out.push(s..range.end);
            break;
        };
        let window = content.get(..limit).unwrap_or_default();
        let half = window.char_indices().nth(target / 2).map_or(0, |(i, _)| i);
        let cut = best_cut(window, half).unwrap_or(limit);
        out.push(s..s + cut);
        s += cut;
    }
    out
}

/// Where to end a piece of `window`: after the last sentence end, else after the last line
/// end, else at the last space, at or past byte `min`; `None` when there is none.
fn best_cut(window: &str, min: usize) -> Option<usize> {
    let (mut sentence, mut newline, mut space) = (None, None, None);
    let mut prev: Option<char> = None;
    for (i, c) in window.char_indices() {
        if i >= min && i > 0 {
            if c == '\n' {
                newline = Some(i + 1);
            }
            if c.is_whitespace() {
                space = Some(i);
                if matches!(prev, Some('.' | '!' | '?' | ';' | ':')) {
                    sentence = Some(i);
                }
            }
            if matches!(c, '。' | '！' | '？') {
                sentence = Some(i + c.len_utf8());
            }
        }
        prev = Some(c);
    }
    sentence.or(newline).or(space).filter(|&cut| cut > 0)
}

/// `range` without leading and trailing whitespace; `None` when nothing else is left.
fn trimmed(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let s = text.get(range.clone())?;
    let t = s.trim_start();
    let start = range.start + (s.len() - t.len());
    let t = t.trim_end();
    (!t.is_empty()).then(|| start..start + t.len())
}

/// Character offsets for ordered, non-overlapping byte ranges, in one pass over `text`.
fn with_char_offsets(text: &str, ranges: impl Iterator<Item = Range<usize>>) -> Vec<Chunk> {
    let (mut chars, mut byte) = (0, 0);
    let mut out = Vec::new();
    for r in ranges {
        chars += text.get(byte..r.start).map_or(0, |s| s.chars().count());
        let start = chars;
        chars += text.get(r.clone()).map_or(0, |s| s.chars().count());
        byte = r.end;
        out.push(Chunk {
            bytes: r,
            chars: start..chars,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn texts<'a>(text: &'a str, chunks: &[Chunk]) -> Vec<&'a str> {
        chunks.iter().map(|c| &text[c.bytes.clone()]).collect()
    }

    /// Every property the passages promise, for `text` split at `target`.
    fn check(text: &str, target: usize) {
        let chunks = chunk(text, target);
        let chars: Vec<char> = text.chars().collect();
        let mut covered = String::new();
        let mut last_end = 0;
        for c in &chunks {
            let piece = text.get(c.bytes.clone()).expect("char boundaries");
            assert!(!piece.is_empty());
            assert_eq!(piece, piece.trim(), "passages are trimmed");
            assert!(
                piece.chars().count() <= target.max(1),
                "{piece:?} > {target}"
            );
            let by_chars: String = chars[c.chars.clone()].iter().collect();
            assert_eq!(by_chars, piece, "char offsets name the passage exactly");
            assert!(c.bytes.start >= last_end, "in order, not overlapping");
            let gap = &text[last_end..c.bytes.start];
            assert!(
                gap.trim().is_empty(),
                "only whitespace between passages: {gap:?}"
            );
            covered.push_str(piece);
            last_end = c.bytes.end;
        }
        assert!(text[last_end..].trim().is_empty());
        let without_space = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        assert_eq!(without_space(&covered), without_space(text));
    }

    #[test]
    fn paragraphs_are_packed_whole_and_never_split_a_character() {
        let text = "Ünïcödé première phrase.\nSuite de la ligne.\n\n日本語の文。二つ目の文。\n\n  \n🚗 cars 👩‍👩‍👧‍👦 grew.\r\n\r\nlast";
        let chunks = chunk(text, 50);
        assert_eq!(
            texts(text, &chunks),
            [
                "Ünïcödé première phrase.\nSuite de la ligne.",
                "日本語の文。二つ目の文。\n\n  \n🚗 cars 👩‍👩‍👧‍👦 grew.\r\n\r\nlast",
            ]
        );
        check(text, 50);
        for target in [1, 2, 3, 7, 20] {
            check(text, target);
        }
    }

    #[test]
    fn a_long_paragraph_is_cut_at_a_sentence_end() {
        let text = "First sentence is here. Second sentence follows it. Third one ends.";
        let chunks = chunk(text, 40);
        assert_eq!(
            texts(text, &chunks),
            [
                "First sentence is here.",
                "Second sentence follows it.",
                "Third one ends."
            ]
        );
        assert_eq!(chunks[1].chars, 24..51);
    }

    #[test]
    fn char_offsets_count_characters_not_bytes() {
        let text = "ééé\n\nàbc";
        let chunks = chunk(text, 3);
        assert_eq!(chunks[1].chars, 5..8);
        assert_eq!(chunks[1].bytes, 8..12);
    }

    fn doc(name: &str, title: &str, text: &str) -> Document {
        Document {
            url: url::Url::parse(&format!("file:///docs/{name}")).unwrap(),
            folder: "/docs".into(),
            title: title.into(),
            text: text.into(),
        }
    }

    #[test]
    fn bm25_ranks_the_file_about_the_query_first() {
        let index = Index::build(
            vec![
                doc(
                    "a.md",
                    "Gardening",
                    "Tomatoes need sun and water every day.",
                ),
                doc(
                    "b.md",
                    "Widgets",
                    "The widget plant in Leeds made 40,000 widgets in 2023.",
                ),
                doc(
                    "c.txt",
                    "c.txt",
                    "Widgets are sometimes mentioned here, once.",
                ),
            ],
            1500,
        );
        let ranked = index.keyword_ranking("how many widgets did the Leeds plant make");
        assert_eq!(index.passages[ranked[0].0].0, 1);
        assert!(ranked.iter().all(|(i, _)| index.passages[*i].0 != 0));
        assert!(index.keyword_ranking("zebra").is_empty());
    }

    #[test]
    fn fusion_favours_agreement_and_vectors_rank_by_cosine() {
        let fused = fuse(&[&[(1, 9.0), (2, 5.0)], &[(2, 0.9), (3, 0.8)]]);
        assert_eq!(fused.iter().map(|f| f.0).collect::<Vec<_>>(), [2, 1, 3]);
        let vectors = vec![vec![1.0, 0.0], vec![0.6, 0.8], vec![-1.0, 0.0]];
        let ranked = vector_ranking(&[0.0, 1.0], &vectors, 5);
        assert_eq!(ranked.iter().map(|r| r.0).collect::<Vec<_>>(), [1]);
    }

    proptest! {
        #[test]
        fn chunking_any_text_keeps_every_promise(text in any::<String>(), target in 1usize..60) {
            check(&text, target);
        }

        #[test]
        fn chunking_paragraphs_of_unicode_keeps_every_promise(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("\n\n".to_string()), Just("\n".to_string()), Just(" ".to_string()),
                    Just("。".to_string()), Just(". ".to_string()), Just("👩‍👩‍👧‍👦".to_string()),
                    Just("e\u{301}".to_string()), "[a-zé日本 ]{1,12}",
                ],
                0..80,
            ),
            target in 1usize..40,
        ) {
            check(&parts.concat(), target);
        }
    }
}
