//! Keyword selection: windows scored by BM25 per query, figures boosted for quantity
//! questions, ranked within the per-source and total limits; snippets scored the same way.

use std::collections::HashSet;
use std::sync::LazyLock;

use bm25::{EmbedderBuilder, Language, Scorer};
use regex::Regex;

use super::{
    chunk, Chunk, EvidenceSpan, Limits, SnippetEvidence, SourceText, NUMERIC_BOOST, SNIPPET_WEIGHT,
};
use crate::citations::sources::SnippetNote;

/// The best windows of `sources` for `queries` (the outline's sections, or claims), by
/// keyword relevance: best first, at most [`Limits::max_spans`] in all and
/// [`Limits::max_spans_per_source`] per source. A window's relevance is its best over
/// the queries, so every query can bring its own evidence. Ties go to the lower source
/// number, then the earlier window.
pub fn select(sources: &[SourceText], queries: &[&str], limits: &Limits) -> Vec<EvidenceSpan> {
    let candidates = candidates(sources, limits);
    let texts: Vec<&str> = candidates.iter().map(|c| c.text(sources)).collect();
    let base = keyword_relevance(&texts, queries);
    rank(sources, &candidates, queries, &base, limits)
}

/// Snippets of hits whose page could not be fetched, scored like windows (title and
/// snippet against the queries) and weighted down by [`SNIPPET_WEIGHT`]: best first, at
/// most [`Limits::max_snippets`], irrelevant ones dropped.
pub fn select_snippets(
    notes: &[SnippetNote],
    queries: &[&str],
    limits: &Limits,
) -> Vec<SnippetEvidence> {
    let notes: Vec<&SnippetNote> = notes
        .iter()
        .filter(|n| !n.snippet.trim().is_empty())
        .collect();
    let texts: Vec<String> = notes
        .iter()
        .map(|n| format!("{}\n{}", n.title, n.snippet))
        .collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let numeric: Vec<bool> = notes
        .iter()
        .map(|n| has_numeric_content(&n.snippet))
        .collect();
    let relevance = boosted(&keyword_relevance(&texts, queries), &numeric, queries);
    let mut scored: Vec<SnippetEvidence> = notes
        .iter()
        .zip(numeric)
        .zip(relevance)
        .filter(|(_, r)| *r > 0.0)
        .map(|((n, has_numeric_content), r)| SnippetEvidence {
            url: n.url.clone(),
            title: n.title.clone(),
            snippet: n.snippet.clone(),
            reason: n.reason.clone(),
            has_numeric_content,
            score: r * SNIPPET_WEIGHT,
        })
        .collect();
    scored.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.url.cmp(&b.url)));
    scored.truncate(limits.max_snippets);
    scored
}

/// Whether `text` states figures: currency amounts, percentages, years, decimals, numbers
/// with thousands separators or with a magnitude word. A bare small count ("3 cells") does
/// not count; it is rarely the fact a claim hinges on.
pub fn has_numeric_content(text: &str) -> bool {
    NUMERIC.is_match(text)
}

/// Whether a query contains a number or asks for a quantity, which is when windows with
/// figures get [`NUMERIC_BOOST`].
pub fn asks_for_quantity(query: &str) -> bool {
    query.chars().any(|c| c.is_ascii_digit()) || QUANTITY_QUESTION.is_match(query)
}

static NUMERIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)
        [$€£¥]\s?\d
        | \d(?:[.,]\d+)?\s?%
        | \b\d{4}\b
        | \d{1,3}(?:,\d{3})+
        | \d\.\d
        | \d\s*(?:trillion|billion|million|thousand|bn|mn|[kmbt])\b
        | \bpercent\b",
    )
    .expect("constant pattern")
});

static QUANTITY_QUESTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:how\s+(?:many|much|often|long|large|big|fast|far)|number\s+of|amount|percent(?:age)?|share|rate|ratio|cost|price|revenue|growth|statistics?|figures?|market\s+size|total|capacity|volume)\b",
    )
    .expect("constant pattern")
});

/// A window awaiting a score: which source (index into the slice) and where.
pub(super) struct Candidate {
    source: usize,
    chunk: Chunk,
}

impl Candidate {
    pub(super) fn text<'a>(&self, sources: &'a [SourceText]) -> &'a str {
        sources
            .get(self.source)
            .and_then(|s| s.text.get(self.chunk.bytes.clone()))
            .unwrap_or_default()
    }
}

pub(super) fn candidates(sources: &[SourceText], limits: &Limits) -> Vec<Candidate> {
    sources
        .iter()
        .enumerate()
        .flat_map(|(source, s)| {
            chunk(&s.text, limits)
                .into_iter()
                .map(move |chunk| Candidate { source, chunk })
        })
        .collect()
}

/// `relevance[q][d]`: BM25 of document `d` for query `q`, divided by the query's best
/// score so it lies in 0.0..=1.0 and every query's best window scores 1.0.
pub(super) fn keyword_relevance(docs: &[&str], queries: &[&str]) -> Vec<Vec<f32>> {
    if docs.is_empty() {
        return vec![Vec::new(); queries.len()];
    }
    let embedder = EmbedderBuilder::<u32>::with_fit_to_corpus(Language::English, docs).build();
    let mut scorer = Scorer::<usize, u32>::new();
    for (i, doc) in docs.iter().enumerate() {
        scorer.upsert(&i, embedder.embed(doc));
    }
    queries
        .iter()
        .map(|query| {
            let mut q = embedder.embed(query);
            // A word repeated in an outline is not more important for it.
            let mut seen = HashSet::new();
            q.0.retain(|t| seen.insert(t.index));
            let mut scores = vec![0.0; docs.len()];
            for m in scorer.matches(&q) {
                if let Some(s) = scores.get_mut(m.id) {
                    *s = m.score;
                }
            }
            let best = scores.iter().copied().fold(0.0_f32, f32::max);
            if best > 0.0 {
                scores.iter_mut().for_each(|s| *s /= best);
            }
            scores
        })
        .collect()
}

/// Each document's relevance: its best over the queries. For a query that asks for a
/// quantity, documents with figures get [`NUMERIC_BOOST`] added, and the query's scores
/// are then divided by their new best, so they stay in 0.0..=1.0 without the ties a cap at
/// 1.0 would make. A document no query matches stays at 0.0: figures alone do not make a
/// window evidence.
fn boosted(base: &[Vec<f32>], numeric: &[bool], queries: &[&str]) -> Vec<f32> {
    let mut best = vec![0.0_f32; numeric.len()];
    for (scores, query) in base.iter().zip(queries) {
        let quantitative = asks_for_quantity(query);
        let scores: Vec<f32> = scores
            .iter()
            .zip(numeric)
            .map(|(&score, &numeric)| {
                if quantitative && numeric && score > 0.0 {
                    score + NUMERIC_BOOST
                } else {
                    score
                }
            })
            .collect();
        let top = scores.iter().copied().fold(0.0_f32, f32::max);
        if top <= 0.0 {
            continue;
        }
        for (best, score) in best.iter_mut().zip(scores) {
            *best = best.max(score / top);
        }
    }
    best
}

pub(super) fn rank(
    sources: &[SourceText],
    candidates: &[Candidate],
    queries: &[&str],
    base: &[Vec<f32>],
    limits: &Limits,
) -> Vec<EvidenceSpan> {
    let numeric: Vec<bool> = candidates
        .iter()
        .map(|c| c.chunk.has_numeric_content)
        .collect();
    let relevance = boosted(base, &numeric, queries);
    let mut order: Vec<usize> = (0..candidates.len())
        .filter(|&i| relevance[i] > 0.0)
        .collect();
    // Candidates are in (source, position) order, so the index breaks ties deterministically.
    order.sort_by(|&a, &b| relevance[b].total_cmp(&relevance[a]).then(a.cmp(&b)));

    let mut per_source = vec![0_usize; sources.len()];
    let mut out = Vec::new();
    for i in order {
        if out.len() >= limits.max_spans {
            break;
        }
        let c = &candidates[i];
        let Some(count) = per_source.get_mut(c.source) else {
            continue;
        };
        if *count >= limits.max_spans_per_source {
            continue;
        }
        *count += 1;
        out.push(EvidenceSpan {
            source_number: sources[c.source].number,
            bytes: c.chunk.bytes.clone(),
            char_start: c.chunk.char_start,
            char_end: c.chunk.char_end,
            text: c.text(sources).to_string(),
            section_heading: c.chunk.section_heading.clone(),
            has_numeric_content: c.chunk.has_numeric_content,
            score: relevance[i],
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_recognised_and_quantity_questions_too() {
        for figure in [
            "$3.2B",
            "25%",
            "in 2027",
            "1,500,000",
            "1.5 million",
            "40 bn",
        ] {
            assert!(has_numeric_content(figure), "{figure}");
        }
        for prose in ["3 cells", "chapter 12", "no figures"] {
            assert!(!has_numeric_content(prose), "{prose}");
        }
        assert!(asks_for_quantity("How many plants open?"));
        assert!(asks_for_quantity("Battery costs in 2027"));
        assert!(!asks_for_quantity("Who builds sodium batteries?"));
    }
}
