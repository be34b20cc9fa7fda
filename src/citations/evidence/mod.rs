//! Stage 1 of citation verification: evidence pre-selection.
//!
//! The fetched text of every source is cut into short sentence windows ([`chunk`]), each
//! window is scored against the report outline or a claim (BM25, optionally blended with
//! an [`Embedder`]'s similarity), and the best windows become [`EvidenceSpan`]s: verbatim
//! slices of the stored text whose offsets point at them. Hits whose page could not be
//! fetched become [`SnippetEvidence`], a separate type with no source number, so a snippet
//! can never be cited as if its page had been read.
//!
//! Offsets follow the original (Python `str` indices): `start_offset`/`end_offset` count
//! Unicode scalar values. Each span also carries its byte range, for slicing in Rust.

mod ranking;
mod semantic;
mod windowing;

pub use ranking::{asks_for_quantity, has_numeric_content, select, select_snippets};
pub use semantic::{select_hybrid, EmbedError, Embedder, Selector};
pub use windowing::{chunk, Chunk};

use std::ops::Range;
use std::sync::Arc;

use serde::Serialize;

use crate::citations::sources::SourceRegistry;

/// Added to a window's relevance when it carries figures and the query asks for them: the
/// original's `numeric_content_boost`. Unlike the original, a query that neither contains
/// a number nor asks for a quantity gets no boost, so figures do not outrank prose on
/// questions that are not about figures; and scores are renormalised after the boost
/// instead of capped at 1.0, so boosted windows do not tie.
pub const NUMERIC_BOOST: f32 = 0.2;

/// Snippet evidence's relevance is its keyword relevance times this: the original gives
/// snippet-based evidence a flat 0.5, "lower confidence" than anything read from a page.
pub const SNIPPET_WEIGHT: f32 = 0.5;

/// The share of semantic similarity in hybrid scoring; the rest is keyword relevance. The
/// original's `alpha`: semantic matches are slightly preferred when an embedder is present.
pub const SEMANTIC_WEIGHT: f32 = 0.6;

/// How many windows to keep and how long they may be. The defaults are the original's
/// `evidence_preselection` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Spans kept over all sources.
    pub max_spans: usize,
    /// Spans kept from one source, so one long page cannot crowd out the others.
    pub max_spans_per_source: usize,
    /// Snippet items kept.
    pub max_snippets: usize,
    /// Sentences in one window.
    pub max_sentences: usize,
    /// Characters in one window; a longer sentence is cut between words.
    pub max_span_chars: usize,
    /// Windows shorter than this (in characters) are dropped: too little to support a claim.
    pub min_span_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_spans: 60,
            max_spans_per_source: 10,
            max_snippets: 10,
            max_sentences: 3,
            max_span_chars: 500,
            min_span_chars: 30,
        }
    }
}

/// The text of one fetched source, by its citation number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceText {
    /// The source's citation number in the run's [`SourceRegistry`].
    pub number: u32,
    /// The extracted text, as stored: offsets of spans point into it.
    pub text: Arc<str>,
}

impl SourceText {
    /// Every registered source that has text, in number order.
    pub fn from_registry(registry: &SourceRegistry) -> Vec<SourceText> {
        registry
            .all()
            .into_iter()
            .filter_map(|s| {
                registry.text(s.number).map(|text| SourceText {
                    number: s.number,
                    text,
                })
            })
            .collect()
    }
}

/// A verbatim quote from a fetched source, scored for relevance: the only kind of evidence
/// a citation may point at. Built only by [`select`], [`select_hybrid`] and
/// [`Selector::select`], so its text is always the slice of the source text its offsets
/// name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceSpan {
    source_number: u32,
    #[serde(skip)]
    bytes: Range<usize>,
    #[serde(rename = "startOffset")]
    char_start: usize,
    #[serde(rename = "endOffset")]
    char_end: usize,
    #[serde(rename = "quoteText")]
    text: String,
    section_heading: Option<String>,
    has_numeric_content: bool,
    #[serde(rename = "relevanceScore")]
    score: f32,
}

impl EvidenceSpan {
    /// The citation number of the source the quote comes from.
    pub fn source_number(&self) -> u32 {
        self.source_number
    }

    /// Byte range of the quote in the source text, for slicing.
    pub fn bytes(&self) -> Range<usize> {
        self.bytes.clone()
    }

    /// Character offsets of the quote (`start_offset`, `end_offset` in the original).
    pub fn char_range(&self) -> Range<usize> {
        self.char_start..self.char_end
    }

    /// The quote: exactly `&source_text[self.bytes()]`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The nearest heading before the quote, when the source text has headings.
    pub fn section_heading(&self) -> Option<&str> {
        self.section_heading.as_deref()
    }

    /// Whether the quote states figures.
    pub fn has_numeric_content(&self) -> bool {
        self.has_numeric_content
    }

    /// Relevance in 0.0..=1.0, numeric boost included.
    pub fn score(&self) -> f32 {
        self.score
    }

    /// Whether this span still quotes `source_text` at its offsets (e.g. after reloading
    /// a stored source).
    pub fn is_quoted_from(&self, source_text: &str) -> bool {
        source_text.get(self.bytes.clone()) == Some(self.text.as_str())
            && source_text
                .get(..self.bytes.start)
                .is_some_and(|before| before.chars().count() == self.char_start)
    }
}

/// Weak evidence from a search snippet whose page could not be fetched. It has no source
/// number and no offsets: it can inform, but never be cited as a fetched source.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnippetEvidence {
    url: String,
    title: String,
    #[serde(rename = "quoteText")]
    snippet: String,
    /// Why the page could not be fetched.
    reason: String,
    has_numeric_content: bool,
    #[serde(rename = "relevanceScore")]
    score: f32,
}

impl SnippetEvidence {
    /// The URL of the hit whose page could not be fetched.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The search hit's title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The search engine's snippet, as it gave it.
    pub fn snippet(&self) -> &str {
        &self.snippet
    }

    /// Why the page could not be fetched.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Whether the snippet states figures.
    pub fn has_numeric_content(&self) -> bool {
        self.has_numeric_content
    }

    /// Relevance in 0.0..=[`SNIPPET_WEIGHT`].
    pub fn score(&self) -> f32 {
        self.score
    }
}
