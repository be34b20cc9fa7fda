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

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use async_trait::async_trait;
use bm25::{EmbedderBuilder, Language, Scorer};
use regex::Regex;
use serde::Serialize;
use unicode_segmentation::UnicodeSegmentation;

use super::config::{CitationVerification, RelevanceMethod};
use super::sources::SnippetNote;
use crate::citations::sources::SourceRegistry;
use crate::llm::{EmbeddingsClient, EmbeddingsError, LlmRouter};

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

/// Why an embeddings endpoint gave no usable vectors.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("embeddings endpoint failed: {0}")]
    /// The endpoint could not be reached or answered with an error.
    Endpoint(String),
    /// The serving endpoint client failed (after its retries, or while cooling down).
    #[error(transparent)]
    Client(#[from] EmbeddingsError),
    #[error("embeddings endpoint returned {got} vectors for {expected} texts")]
    /// The endpoint answered with the wrong number of vectors.
    Count { expected: usize, got: usize },
}

/// Semantic similarity for hybrid scoring, where an embeddings endpoint is configured.
/// Without one, [`select`] scores by keywords alone.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// One vector per text, in order.
    async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

#[async_trait]
impl Embedder for EmbeddingsClient {
    async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(EmbeddingsClient::embed(self, texts).await?)
    }
}

/// Stage 1 as the pipeline runs it: evidence windows ranked by the configured
/// [`RelevanceMethod`], with embeddings cached per text for the selector's lifetime (one
/// run), so the windows of a source are embedded once however many claims cite it.
///
/// - `keyword`, or no embedder: BM25, exactly [`select`].
/// - `hybrid`: `SEMANTIC_WEIGHT · cosine + (1 − SEMANTIC_WEIGHT) · keyword`, i.e. 0.6 ·
///   semantic + 0.4 · keyword (the original's `alpha`), where keyword is BM25 normalised
///   so each query's best window scores 1.0 and cosine is clamped to 0.0..=1.0.
/// - `semantic`: cosine alone.
///
/// The numeric boost and per-source limits apply after either. When the embeddings
/// endpoint fails, the selector warns once (later failures are logged at debug) and
/// ranks by keywords: verification never fails because embeddings did.
pub struct Selector {
    method: RelevanceMethod,
    embedder: Option<Arc<dyn Embedder>>,
    /// Vectors by text: span windows and queries alike.
    cache: Mutex<HashMap<Arc<str>, Arc<[f32]>>>,
    /// Held while missing texts are embedded, so concurrent claims over the same sources
    /// wait for one request instead of sending the same texts twice.
    filling: tokio::sync::Mutex<()>,
    warned: AtomicBool,
}

impl std::fmt::Debug for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selector")
            .field("method", &self.method)
            .field("embedder", &self.embedder.is_some())
            .finish()
    }
}

impl Selector {
    /// A selector scoring by `method`, with `embedder` for `semantic` and `hybrid`.
    pub fn new(method: RelevanceMethod, embedder: Option<Arc<dyn Embedder>>) -> Selector {
        Selector {
            method,
            embedder,
            cache: Mutex::new(HashMap::new()),
            filling: tokio::sync::Mutex::new(()),
            warned: AtomicBool::new(false),
        }
    }

    /// A selector that ranks by keywords only.
    pub fn keyword() -> Selector {
        Selector::new(RelevanceMethod::Keyword, None)
    }

    /// The selector the configuration asks for:
    /// `citation_verification.evidence_preselection.relevance_computation_method`, with
    /// the `embeddings` endpoint on `router`'s server and credentials when one is set.
    pub fn from_config(config: &CitationVerification, router: &LlmRouter) -> Selector {
        let method = config.evidence_preselection.relevance_computation_method;
        let embedder = match method {
            RelevanceMethod::Keyword => None,
            RelevanceMethod::Semantic | RelevanceMethod::Hybrid => router
                .embeddings()
                .map(|c| Arc::new(c) as Arc<dyn Embedder>),
        };
        Selector::new(method, embedder)
    }

    /// How windows are actually scored: `keyword` when no embedder is configured.
    pub fn method(&self) -> RelevanceMethod {
        match self.embedder {
            Some(_) => self.method,
            None => RelevanceMethod::Keyword,
        }
    }

    /// The best windows of `sources` for `queries`, as [`select`] ranks them but scored by
    /// [`Selector::method`]: best first, at most [`Limits::max_spans`] in all and
    /// [`Limits::max_spans_per_source`] per source, offsets exact.
    pub async fn select(
        &self,
        sources: &[SourceText],
        queries: &[&str],
        limits: &Limits,
    ) -> Vec<EvidenceSpan> {
        let candidates = candidates(sources, limits);
        let texts: Vec<&str> = candidates.iter().map(|c| c.text(sources)).collect();
        let keyword = keyword_relevance(&texts, queries);
        let method = self.method();
        let base = match (method, &self.embedder) {
            (RelevanceMethod::Keyword, _) | (_, None) => keyword,
            (_, Some(embedder)) => {
                match self.similarity(embedder.as_ref(), &texts, queries).await {
                    Ok(semantic) if method == RelevanceMethod::Semantic => semantic,
                    Ok(semantic) => blend(&keyword, &semantic),
                    Err(e) => {
                        self.embeddings_failed(&e);
                        keyword
                    }
                }
            }
        };
        rank(sources, &candidates, queries, &base, limits)
    }

    /// `similarity[q][d]` like [`semantic_relevance`], embedding only texts not cached.
    async fn similarity(
        &self,
        embedder: &dyn Embedder,
        docs: &[&str],
        queries: &[&str],
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        if docs.is_empty() {
            return Ok(vec![Vec::new(); queries.len()]);
        }
        let vectors = self
            .vectors(embedder, queries.iter().chain(docs).copied())
            .await?;
        Ok(similarities(&vectors, queries.len()))
    }

    /// One vector per text, in order, from the cache or the embedder.
    async fn vectors<'a>(
        &self,
        embedder: &dyn Embedder,
        texts: impl Iterator<Item = &'a str> + Clone,
    ) -> Result<Vec<Arc<[f32]>>, EmbedError> {
        let _filling = self.filling.lock().await;
        let missing: Vec<&str> = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            let mut seen = HashSet::new();
            texts
                .clone()
                .filter(|t| !cache.contains_key(*t) && seen.insert(*t))
                .collect()
        };
        if !missing.is_empty() {
            let fresh = embedder.embed(&missing).await?;
            if fresh.len() != missing.len() {
                return Err(EmbedError::Count {
                    expected: missing.len(),
                    got: fresh.len(),
                });
            }
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            for (text, vector) in missing.into_iter().zip(fresh) {
                cache.insert(Arc::from(text), Arc::from(vector));
            }
        }
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        Ok(texts
            .map(|t| {
                cache
                    .get(t)
                    .cloned()
                    .unwrap_or_else(|| Arc::from(Vec::new()))
            })
            .collect())
    }

    fn embeddings_failed(&self, e: &EmbedError) {
        if self.warned.swap(true, Ordering::Relaxed) {
            tracing::debug!(error = %e, "embeddings failed again; ranking evidence by keywords");
        } else {
            tracing::warn!(error = %e, "embeddings unavailable; ranking evidence by keywords (warned once per run)");
        }
    }
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

/// [`select`] with semantic similarity blended in, without a cache (the pipeline uses a
/// [`Selector`], which embeds each window once per run): `SEMANTIC_WEIGHT · cosine + (1 −
/// SEMANTIC_WEIGHT) · keyword`. When the embedder fails, it logs why and scores by
/// keywords alone, as [`select`] does.
pub async fn select_hybrid(
    sources: &[SourceText],
    queries: &[&str],
    limits: &Limits,
    embedder: &dyn Embedder,
) -> Vec<EvidenceSpan> {
    let candidates = candidates(sources, limits);
    let texts: Vec<&str> = candidates.iter().map(|c| c.text(sources)).collect();
    let keyword = keyword_relevance(&texts, queries);
    let base = match semantic_relevance(embedder, &texts, queries).await {
        Ok(semantic) => blend(&keyword, &semantic),
        Err(e) => {
            tracing::warn!(error = %e, "semantic scoring unavailable; ranking evidence by keywords");
            keyword
        }
    };
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
struct Candidate {
    source: usize,
    chunk: Chunk,
}

impl Candidate {
    fn text<'a>(&self, sources: &'a [SourceText]) -> &'a str {
        sources
            .get(self.source)
            .and_then(|s| s.text.get(self.chunk.bytes.clone()))
            .unwrap_or_default()
    }
}

fn candidates(sources: &[SourceText], limits: &Limits) -> Vec<Candidate> {
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
fn keyword_relevance(docs: &[&str], queries: &[&str]) -> Vec<Vec<f32>> {
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

/// `similarity[q][d]`: cosine of query and document vectors, clamped to 0.0..=1.0.
async fn semantic_relevance(
    embedder: &dyn Embedder,
    docs: &[&str],
    queries: &[&str],
) -> Result<Vec<Vec<f32>>, EmbedError> {
    let texts: Vec<&str> = queries.iter().chain(docs).copied().collect();
    let vectors = embedder.embed(&texts).await?;
    if vectors.len() != texts.len() {
        return Err(EmbedError::Count {
            expected: texts.len(),
            got: vectors.len(),
        });
    }
    Ok(similarities(&vectors, queries.len()))
}

/// `out[q][d]`: cosine similarity of query `q` and document `d`, clamped to 0.0..=1.0,
/// where `vectors` holds the query vectors first, then the documents'.
fn similarities<V: AsRef<[f32]>>(vectors: &[V], queries: usize) -> Vec<Vec<f32>> {
    let (query_vectors, doc_vectors) = vectors.split_at(queries.min(vectors.len()));
    query_vectors
        .iter()
        .map(|q| {
            doc_vectors
                .iter()
                .map(|d| cosine(q.as_ref(), d.as_ref()).clamp(0.0, 1.0))
                .collect()
        })
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let denominator = norm(a) * norm(b);
    if denominator > 0.0 {
        dot / denominator
    } else {
        0.0
    }
}

fn blend(keyword: &[Vec<f32>], semantic: &[Vec<f32>]) -> Vec<Vec<f32>> {
    keyword
        .iter()
        .zip(semantic)
        .map(|(k, s)| {
            k.iter()
                .zip(s)
                .map(|(k, s)| SEMANTIC_WEIGHT * s + (1.0 - SEMANTIC_WEIGHT) * k)
                .collect()
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

fn rank(
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
