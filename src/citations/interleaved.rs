//! Stage 2: interleaved generation. The synthesizer writes from an evidence pool of exact
//! quotes, each with an id (`[E4]`), and cites the quotes a sentence rests on; the ids are
//! then rendered as the numbered source markers readers see (`[3]`), and every claim keeps
//! the quotes its writer named, so verification judges it against exactly those.
//!
//! The pool is chosen by stage 1 ([`evidence::select`]) against the report outline: the
//! question, the plan steps' titles and the findings in the research notes. Ids the pool
//! does not hold are dropped from the text and counted, never rendered as a citation. A
//! plain `[n]` source marker the writer uses instead (a fact from the notes that no quote
//! states) passes through, and verification selects evidence for it as for any report.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use regex::Regex;

use super::claims;
use super::config::EvidencePreselection;
use super::evidence::{EvidenceSpan, Limits, Selector, SourceText};
use crate::citations::sources::SourceRegistry;
use crate::llm::{DeltaSink, StreamEvent};

/// Quotes offered to the writer over all sources: enough for a long report, few enough to
/// keep the prompt around 5,000 tokens.
pub const MAX_POOL_SPANS: usize = 48;

/// Quotes offered from one source, so one long page cannot crowd out the rest.
pub const MAX_POOL_SPANS_PER_SOURCE: usize = 6;

/// Outline lines used to select the pool; the notes of a long run are cut here.
const MAX_OUTLINE_QUERIES: usize = 120;

/// The quotes offered to the writer. The quote with id `E{n}` is `spans[n - 1]`.
#[derive(Debug, Clone, Default)]
pub struct EvidencePool {
    spans: Vec<EvidenceSpan>,
}

impl EvidencePool {
    /// The best quotes of `sources` for the outline (question, step titles, note lines),
    /// ranked by `selector`.
    pub async fn select(
        selector: &Selector,
        sources: &[SourceText],
        outline: &[&str],
        settings: &EvidencePreselection,
    ) -> EvidencePool {
        let limits = Limits {
            max_spans: MAX_POOL_SPANS,
            max_spans_per_source: MAX_POOL_SPANS_PER_SOURCE
                .min(usize::try_from(settings.max_spans_per_source).unwrap_or(usize::MAX))
                .max(1),
            max_span_chars: usize::try_from(settings.max_span_length).unwrap_or(500),
            min_span_chars: usize::try_from(settings.min_span_length).unwrap_or(30),
            ..Limits::default()
        };
        let queries: Vec<&str> = outline
            .iter()
            .map(|q| q.trim())
            .filter(|q| !q.is_empty())
            .take(MAX_OUTLINE_QUERIES)
            .collect();
        EvidencePool {
            spans: selector.select(sources, &queries, &limits).await,
        }
    }

    /// A pool of the given spans, `E1` first.
    pub fn from_spans(spans: Vec<EvidenceSpan>) -> EvidencePool {
        EvidencePool { spans }
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// The quote with id `E{id}`.
    pub fn get(&self, id: u32) -> Option<&EvidenceSpan> {
        let index = usize::try_from(id).ok()?.checked_sub(1)?;
        self.spans.get(index)
    }

    /// The pool as the writer sees it: per quote its id, source number and title.
    pub fn prompt(&self, registry: &SourceRegistry) -> String {
        let mut out = String::new();
        for (i, span) in self.spans.iter().enumerate() {
            let number = span.source_number();
            let title = registry
                .get(number)
                .and_then(|s| s.title)
                .unwrap_or_else(|| "untitled".into());
            out.push_str(&format!(
                "[E{}] from source [{number}] {title}\n\"{}\"\n\n",
                i + 1,
                one_line(span.text())
            ));
        }
        out
    }
}

/// The writer's text with evidence ids rendered as source markers.
#[derive(Debug, Clone, Default)]
pub struct Written {
    /// The text with `[n]` source markers only.
    pub body: String,
    /// The quotes each cited sentence was written from.
    pub evidence: ClaimEvidence,
    /// Evidence ids the pool does not hold, dropped from the text.
    pub unknown_ids: usize,
}

/// The quotes each claim's writer named, by the claim's text (its sentence without
/// markers, as [`claims::extract`] gives it), so the link survives text put before the
/// report, such as a partial-report notice.
#[derive(Debug, Clone, Default)]
pub struct ClaimEvidence {
    pool: Arc<EvidencePool>,
    by_claim: HashMap<String, Vec<u32>>,
}

impl ClaimEvidence {
    /// The quotes the writer named for the claim whose text is `claim_text`, in the order
    /// it named them.
    pub fn spans_for(&self, claim_text: &str) -> Vec<&EvidenceSpan> {
        self.by_claim
            .get(claim_text)
            .map(|ids| ids.iter().filter_map(|id| self.pool.get(*id)).collect())
            .unwrap_or_default()
    }

    /// Claims that carry named quotes.
    pub fn len(&self) -> usize {
        self.by_claim.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_claim.is_empty()
    }
}

/// A run of evidence markers, like `[E4]`, `[E4, E9]` or `[E4][E9]`, with the space
/// before it.
static EVIDENCE_RUN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[ \t]*(?:\[\s*E\d+(?:\s*[,;]\s*E\d+)*\s*\])+").expect("constant pattern")
});
static EVIDENCE_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"E(\d+)").expect("constant pattern"));

/// Renders `text`'s evidence ids as the source markers of their quotes (`[E4][E9]` → `[3]`
/// when both quote source 3; → `[3][5]` otherwise) and records, per cited sentence, the
/// quotes it named.
pub fn render(text: &str, pool: Arc<EvidencePool>) -> Written {
    // (byte offset in the body of the rendered run, the ids it named)
    let mut anchors: Vec<(usize, Vec<u32>)> = Vec::new();
    let (body, unknown_ids) = rewrite_runs(text, &pool, |at, ids| anchors.push((at, ids)));

    let mut by_claim: HashMap<String, Vec<u32>> = HashMap::new();
    for claim in claims::extract(&body) {
        let named: Vec<u32> = anchors
            .iter()
            .filter(|(offset, _)| claim.bytes.contains(offset))
            .flat_map(|(_, ids)| ids.iter().copied())
            .collect();
        if named.is_empty() {
            continue;
        }
        let entry = by_claim.entry(claim.text).or_default();
        for id in named {
            if !entry.contains(&id) {
                entry.push(id);
            }
        }
    }
    Written {
        body,
        evidence: ClaimEvidence { pool, by_claim },
        unknown_ids,
    }
}

/// `text` with every run of evidence ids replaced by the markers of their sources, and
/// the number of ids the pool does not hold (dropped). `anchor` gets each rendered run's
/// offset in the result and the ids it named.
fn rewrite_runs(
    text: &str,
    pool: &EvidencePool,
    mut anchor: impl FnMut(usize, Vec<u32>),
) -> (String, usize) {
    let mut body = String::with_capacity(text.len());
    let mut unknown_ids = 0;
    let mut at = 0;
    for run in EVIDENCE_RUN.find_iter(text) {
        body.push_str(&text[at..run.start()]);
        at = run.end();
        let mut ids: Vec<u32> = Vec::new();
        let mut numbers: Vec<u32> = Vec::new();
        for id in EVIDENCE_ID.captures_iter(run.as_str()) {
            let Some(span) = id[1].parse::<u32>().ok().and_then(|n| {
                let span = pool.get(n)?;
                Some((n, span))
            }) else {
                unknown_ids += 1;
                continue;
            };
            if !ids.contains(&span.0) {
                ids.push(span.0);
            }
            if !numbers.contains(&span.1.source_number()) {
                numbers.push(span.1.source_number());
            }
        }
        if numbers.is_empty() {
            continue;
        }
        anchor(body.len(), ids);
        body.push(' ');
        for n in numbers {
            body.push_str(&format!("[{n}]"));
        }
    }
    body.push_str(&text[at..]);
    (body, unknown_ids)
}

/// The longest evidence run held back while it may still be growing (`[E12, E4` waiting
/// for its `]`); an open bracket further back is not a marker.
const MAX_OPEN_RUN: usize = 64;

/// The writer's stream with its evidence ids shown as source markers as they arrive, so a
/// reader watching the draft sees `[3]`, the marker the report and its verified claims
/// use, never `[E4]`. A run that may continue in the next chunk (an unclosed `[`, a run
/// ending the text so far, the spaces before either) is held back until it is complete.
pub struct StreamRenderer {
    pool: Arc<EvidencePool>,
    out: DeltaSink,
    pending: Mutex<String>,
}

impl StreamRenderer {
    pub fn new(pool: Arc<EvidencePool>, out: DeltaSink) -> Arc<StreamRenderer> {
        Arc::new(StreamRenderer {
            pool,
            out,
            pending: Mutex::new(String::new()),
        })
    }

    /// The sink to hand the model call.
    pub fn sink(self: &Arc<Self>) -> DeltaSink {
        let me = Arc::clone(self);
        Arc::new(move |ev: StreamEvent<'_>| match ev {
            StreamEvent::Delta(chunk) => me.push(chunk),
            StreamEvent::Restart => {
                me.lock().clear();
                (me.out)(StreamEvent::Restart);
            }
        })
    }

    /// Sends what is still held back; call once the model's answer is complete.
    pub fn finish(&self) {
        let rest = std::mem::take(&mut *self.lock());
        self.emit(&rest);
    }

    fn push(&self, chunk: &str) {
        let ready = {
            let mut pending = self.lock();
            pending.push_str(chunk);
            let hold = held_from(&pending);
            let rest = pending.split_off(hold);
            std::mem::replace(&mut *pending, rest)
        };
        self.emit(&ready);
    }

    fn emit(&self, text: &str) {
        if text.is_empty() {
            return;
        }
        let (shown, _) = rewrite_runs(text, &self.pool, |_, _| {});
        if !shown.is_empty() {
            (self.out)(StreamEvent::Delta(&shown));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, String> {
        // The buffer is only text: one poisoned by a panicking sink is still usable.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where the part of `text` that may still grow into (or continue) an evidence run
/// starts: `text.len()` when all of it can be shown. Always a char boundary: it is the
/// position of an ASCII `[`, space or tab, or the end.
fn held_from(text: &str) -> usize {
    let mut hold = text.len();
    if let Some(open) = text.rfind('[') {
        if !text[open..].contains(']') && text.len() - open <= MAX_OPEN_RUN {
            hold = open;
        }
    }
    if let Some(last) = EVIDENCE_RUN.find_iter(&text[..hold]).last() {
        // A complete run at the end may be followed by `[E9]` in the next chunk.
        if last.end() == hold {
            hold = last.start();
        }
    }
    // The spaces before a held run (or at the end) belong to the run the regex matches.
    text[..hold].trim_end_matches([' ', '\t']).len()
}

/// The outline the pool is selected for: the question, each step's title and each line of
/// its findings, markers removed.
pub fn outline<'a>(query: &'a str, steps: &[(&'a str, &'a str)]) -> Vec<String> {
    let mut out = vec![query.to_string()];
    for (title, notes) in steps {
        out.push((*title).to_string());
        out.extend(
            notes
                .lines()
                .map(claims::strip_markers)
                .map(|l| l.trim_start_matches(['-', '*', '+', '#', ' ']).to_string())
                .filter(|l| l.split_whitespace().count() >= 3),
        );
    }
    out
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::citations::sources::SourceRegistry;
    use crate::web::FetchedPage;

    fn registry(pages: &[(&str, &str)]) -> SourceRegistry {
        let registry = SourceRegistry::default();
        for (url, text) in pages {
            registry.register(&FetchedPage::from_text(
                url::Url::parse(url).expect("url"),
                Some(format!("Title of {url}")),
                *text,
            ));
        }
        registry
    }

    async fn pool() -> (SourceRegistry, Arc<EvidencePool>) {
        let registry = registry(&[
            (
                "https://a.example/",
                "Rice paddies cover about 60 percent of the farmland in the delta. Sand mining removes sediment from the river.",
            ),
            (
                "https://b.example/",
                "Saltwater now reaches 60 kilometres inland during the dry season in the delta.",
            ),
        ]);
        let sources = SourceText::from_registry(&registry);
        let pool = EvidencePool::select(
            &Selector::keyword(),
            &sources,
            &["rice farmland share", "saltwater inland dry season"],
            &EvidencePreselection::default(),
        )
        .await;
        (registry, Arc::new(pool))
    }

    fn id_of(pool: &EvidencePool, needle: &str) -> u32 {
        (1..=u32::try_from(pool.len()).expect("small"))
            .find(|id| pool.get(*id).is_some_and(|s| s.text().contains(needle)))
            .expect("the pool quotes it")
    }

    #[tokio::test]
    async fn the_prompt_names_each_quote_with_its_source() {
        let (registry, pool) = pool().await;
        let prompt = pool.prompt(&registry);
        let rice = id_of(&pool, "Rice paddies");
        assert!(
            prompt.contains(&format!(
                "[E{rice}] from source [1] Title of https://a.example/"
            )),
            "{prompt}"
        );
        assert!(prompt.contains("\"Rice paddies cover about 60 percent"));
    }

    #[tokio::test]
    async fn ids_become_source_markers_and_claims_keep_their_quotes() {
        let (_, pool) = pool().await;
        let rice = id_of(&pool, "Rice paddies");
        let salt = id_of(&pool, "Saltwater");
        let text = format!(
            "# Delta\n\nRice covers 60 percent of farmland [E{rice}]. Salt reaches 60 km inland [E{salt}][E{rice}]. Uncited prose.\n"
        );
        let written = render(&text, Arc::clone(&pool));
        assert_eq!(
            written.body,
            "# Delta\n\nRice covers 60 percent of farmland [1]. Salt reaches 60 km inland [2][1]. Uncited prose.\n"
        );
        let named: Vec<&str> = written
            .evidence
            .spans_for("Rice covers 60 percent of farmland.")
            .iter()
            .map(|s| s.text())
            .collect();
        assert_eq!(named.len(), 1);
        assert!(named[0].starts_with("Rice paddies"));
        let salt_spans = written.evidence.spans_for("Salt reaches 60 km inland.");
        assert_eq!(salt_spans.len(), 2);
        assert_eq!(salt_spans[0].source_number(), 2);
        assert_eq!(written.unknown_ids, 0);
    }

    #[tokio::test]
    async fn unknown_ids_are_dropped_and_counted_and_plain_markers_pass() {
        let (_, pool) = pool().await;
        let rice = id_of(&pool, "Rice paddies");
        let text = format!("A made-up fact [E99]. Mixed [E{rice}, E0] and notes [2].");
        let written = render(&text, pool);
        assert_eq!(written.body, "A made-up fact. Mixed [1] and notes [2].");
        assert_eq!(written.unknown_ids, 2);
        assert!(written.evidence.spans_for("A made-up fact.").is_empty());
        assert_eq!(written.evidence.spans_for("Mixed and notes.").len(), 1);
    }

    #[test]
    fn two_quotes_of_one_source_render_one_marker() {
        let registry = registry(&[(
            "https://a.example/",
            "The first fact about rivers is here. The second fact about rivers is there.",
        )]);
        let sources = SourceText::from_registry(&registry);
        let spans = crate::citations::evidence::select(
            &sources,
            &["first fact rivers", "second fact rivers"],
            &Limits {
                max_sentences: 1,
                min_span_chars: 10,
                ..Limits::default()
            },
        );
        assert_eq!(spans.len(), 2);
        let written = render(
            "Both facts hold [E1][E2].",
            Arc::new(EvidencePool::from_spans(spans)),
        );
        assert_eq!(written.body, "Both facts hold [1].");
        assert_eq!(written.evidence.spans_for("Both facts hold.").len(), 2);
    }

    #[test]
    fn the_outline_takes_titles_and_finding_lines() {
        let outline = outline(
            "Why is the delta sinking?",
            &[("Causes", "- Groundwater pumping lowers land [2].\n- ok\n")],
        );
        assert_eq!(
            outline,
            vec![
                "Why is the delta sinking?".to_string(),
                "Causes".to_string(),
                "Groundwater pumping lowers land.".to_string()
            ]
        );
    }

    /// What a stream of `chunks` shows through a [`StreamRenderer`].
    fn streamed(pool: &Arc<EvidencePool>, chunks: &[&str]) -> String {
        let shown = Arc::new(Mutex::new(String::new()));
        let out: DeltaSink = {
            let shown = Arc::clone(&shown);
            Arc::new(move |ev: StreamEvent<'_>| match ev {
                StreamEvent::Delta(t) => shown.lock().unwrap().push_str(t),
                StreamEvent::Restart => shown.lock().unwrap().clear(),
            })
        };
        let renderer = StreamRenderer::new(Arc::clone(pool), out);
        let sink = renderer.sink();
        for c in chunks {
            sink(StreamEvent::Delta(c));
        }
        renderer.finish();
        let text = shown.lock().unwrap().clone();
        text
    }

    #[tokio::test]
    async fn a_streamed_draft_shows_source_markers_however_the_chunks_fall() {
        let (_, pool) = pool().await;
        let rice = id_of(&pool, "Rice paddies");
        let salt = id_of(&pool, "Saltwater");
        let text = format!(
            "Rice → 60 % [E{rice}][E{rice}]. Salt 60 km [E{salt}] [E{rice}], [E{salt}; E{rice}]. Made up [E999]. Notes [2] and [a link]. Brackets [ open →"
        );
        let whole = render(&text, Arc::clone(&pool)).body;
        assert!(!whole.contains("[E"), "{whole}");
        assert_eq!(streamed(&pool, &[&text]), whole);
        // Split in two at every char boundary, and one char at a time.
        for (at, _) in text.char_indices() {
            assert_eq!(
                streamed(&pool, &[&text[..at], &text[at..]]),
                whole,
                "split at {at}"
            );
        }
        let chars: Vec<String> = text.chars().map(String::from).collect();
        let chars: Vec<&str> = chars.iter().map(String::as_str).collect();
        assert_eq!(streamed(&pool, &chars), whole);
    }

    #[tokio::test]
    async fn a_restarted_stream_drops_what_it_held() {
        let (_, pool) = pool().await;
        let rice = id_of(&pool, "Rice paddies");
        let shown = Arc::new(Mutex::new(Vec::<String>::new()));
        let out: DeltaSink = {
            let shown = Arc::clone(&shown);
            Arc::new(move |ev: StreamEvent<'_>| {
                shown.lock().unwrap().push(match ev {
                    StreamEvent::Delta(t) => t.to_string(),
                    StreamEvent::Restart => "<restart>".into(),
                })
            })
        };
        let renderer = StreamRenderer::new(Arc::clone(&pool), out);
        let sink = renderer.sink();
        sink(StreamEvent::Delta("Broken [E"));
        sink(StreamEvent::Restart);
        sink(StreamEvent::Delta(&format!("Rice [E{rice}].")));
        renderer.finish();
        assert_eq!(*shown.lock().unwrap(), ["Broken", "<restart>", "Rice [1]."]);
    }
}
