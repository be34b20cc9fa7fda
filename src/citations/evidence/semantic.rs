//! Semantic and hybrid scoring: an embeddings endpoint's cosine similarity blended with
//! keyword relevance, and the pipeline's [`Selector`] that caches vectors for a run.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::ranking::{candidates, keyword_relevance, rank};
use super::{EvidenceSpan, Limits, SourceText, SEMANTIC_WEIGHT};
use crate::citations::config::{CitationVerification, RelevanceMethod};
use crate::llm::{EmbeddingsClient, EmbeddingsError, LlmRouter};

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
///
/// [`select`]: super::select
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
///
/// [`select`]: super::select
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
    ///
    /// [`select`]: super::select
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

/// [`select`] with semantic similarity blended in, without a cache (the pipeline uses a
/// [`Selector`], which embeds each window once per run): `SEMANTIC_WEIGHT · cosine + (1 −
/// SEMANTIC_WEIGHT) · keyword`. When the embedder fails, it logs why and scores by
/// keywords alone, as [`select`] does.
///
/// [`select`]: super::select
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
