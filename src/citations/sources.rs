//! The registry of sources this run actually fetched, and the rule that enforces it:
//! a citation may only point at a registered source. Model output that cites anything else
//! is re-pointed (a URL the run fetched becomes its number) or dropped, and counted.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use url::Url;

use crate::citations::links::{marker_numbers, MARKER};
use crate::tools::{Passage, SourceKind};
use crate::web::{normalize, parse_http_url, FetchedPage};

/// A fetched source and its citation number.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    /// 1-based, in order of registration: the `[n]` readers see.
    pub number: u32,
    /// The URL the content came from (after redirects).
    pub url: String,
    pub title: Option<String>,
    /// Where the text came from; a web page unless a tool gave it.
    #[serde(rename = "source_type", skip_serializing_if = "SourceKind::is_web")]
    pub kind: SourceKind,
    /// For a tool's passage: the index, endpoint, folder or server it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// For a tool's passage: the tool's relevance score, when it gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// Every source the run fetched, with the text that was read from it. Thread-safe;
/// registration is idempotent per URL.
#[derive(Debug, Default)]
pub struct SourceRegistry {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    sources: Vec<Source>,
    /// Parallel to `sources`. Kept apart from [`Source`] so `sources.json` and every other
    /// serialization of a source stay as small as they were: evidence spans quote this text
    /// by offset, it is not shipped with the list.
    texts: Vec<Arc<str>>,
    by_key: HashMap<String, u32>,
}

/// What enforcement changed in a text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CitationAudit {
    /// `[n]` markers that name a registered source.
    pub kept: usize,
    /// Links to fetched URLs turned into `[n]` markers.
    pub repointed: usize,
    /// Citations of unknown numbers or unfetched URLs, removed.
    pub dropped: usize,
}

impl SourceRegistry {
    /// Register a fetched page (its requested, final and canonical URLs all map to it) and
    /// keep its text; returns its number. A page already registered keeps the text it was
    /// first read with, so offsets into it stay valid.
    pub fn register(&self, page: &FetchedPage) -> u32 {
        let urls = std::iter::once(&page.final_url)
            .chain(std::iter::once(&page.url))
            .chain(page.canonical_url.as_ref());
        let keys: Vec<String> = urls.map(key).collect();
        let Ok(mut inner) = self.inner.lock() else {
            return 0;
        };
        if let Some(n) = keys.iter().find_map(|k| inner.by_key.get(k).copied()) {
            for k in keys {
                inner.by_key.entry(k).or_insert(n);
            }
            return n;
        }
        let number = inner.sources.len() as u32 + 1;
        inner.sources.push(Source {
            number,
            url: page.final_url.to_string(),
            title: page.title.clone(),
            kind: SourceKind::Web,
            origin: None,
            score: None,
        });
        inner.texts.push(Arc::from(page.text.as_str()));
        for k in keys {
            inner.by_key.entry(k).or_insert(number);
        }
        number
    }

    /// Register a passage a tool returned, keyed by its URI (an `http(s)` URI like a page's
    /// URL, any other exactly), and keep its text; returns its number. A URI already
    /// registered keeps its first text, so offsets into it stay valid.
    pub fn register_passage(&self, passage: &Passage) -> u32 {
        let key = uri_key(&passage.uri);
        let Ok(mut inner) = self.inner.lock() else {
            return 0;
        };
        if let Some(n) = inner.by_key.get(&key) {
            return *n;
        }
        let number = inner.sources.len() as u32 + 1;
        inner.sources.push(Source {
            number,
            url: passage.uri.trim().to_string(),
            title: passage.title.clone(),
            kind: passage.kind,
            origin: Some(passage.origin.clone()).filter(|o| !o.is_empty()),
            score: passage.score,
        });
        inner.texts.push(Arc::from(passage.text.as_str()));
        inner.by_key.insert(key, number);
        number
    }

    /// The number of a fetched URL or a registered passage's URI, if this run has it.
    pub fn number_of(&self, url: &str) -> Option<u32> {
        self.inner.lock().ok()?.by_key.get(&uri_key(url)).copied()
    }

    /// The source with this number.
    pub fn get(&self, number: u32) -> Option<Source> {
        let inner = self.inner.lock().ok()?;
        inner
            .sources
            .get((number as usize).checked_sub(1)?)
            .cloned()
    }

    /// The extracted text of the source with this number, exactly as it was fetched.
    pub fn text(&self, number: u32) -> Option<Arc<str>> {
        let inner = self.inner.lock().ok()?;
        inner.texts.get((number as usize).checked_sub(1)?).cloned()
    }

    /// Every source, in number order.
    pub fn all(&self) -> Vec<Source> {
        self.inner
            .lock()
            .map(|i| i.sources.clone())
            .unwrap_or_default()
    }

    /// Rewrite `markdown` so every citation points at a fetched source: `[n]` markers of
    /// registered numbers stay, links to fetched URLs in any form (inline, reference-style,
    /// autolink, bracketed or bare) become `[n]`, anything else is removed (a link keeps its
    /// text). Code spans and fenced blocks are left alone. See [`crate::citations::links`].
    pub fn enforce(&self, markdown: &str) -> (String, CitationAudit) {
        crate::citations::links::resolve(markdown, self)
    }

    /// The numbers cited in `markdown` (after enforcement), ascending.
    pub fn cited(&self, markdown: &str) -> BTreeSet<u32> {
        MARKER
            .captures_iter(markdown)
            .flat_map(|c| marker_numbers(&c[1]))
            .filter(|n| self.get(*n).is_some())
            .collect()
    }

    /// A `## References` list of the cited sources.
    pub fn references(&self, cited: &BTreeSet<u32>) -> String {
        let mut out = String::from("## References\n\n");
        for n in cited {
            if let Some(s) = self.get(*n) {
                let title = s
                    .title
                    .as_deref()
                    .filter(|t| !t.trim().is_empty())
                    .unwrap_or(&s.url);
                out.push_str(&format!(
                    "{n}. [{}]({})\n",
                    title.replace(['[', ']'], ""),
                    s.url
                ));
            }
        }
        out
    }
}

/// The registry key of any URI: a web URL's [`key`], any other URI as written (trimmed).
fn uri_key(uri: &str) -> String {
    match parse_http_url(uri) {
        Ok(url) => key(&url),
        Err(_) => uri.trim().to_string(),
    }
}

fn key(url: &Url) -> String {
    let mut u = normalize(url);
    // A trailing slash or `www.` does not make a different source for citation purposes.
    if let Some(host) = u
        .host_str()
        .and_then(|h| h.strip_prefix("www."))
        .map(str::to_string)
    {
        let _ = u.set_host(Some(&host));
    }
    u.to_string().trim_end_matches('/').to_string()
}

/// A search hit whose page could not be fetched: its snippet is all there is, so it has
/// no citation number.
#[derive(Debug, Clone, PartialEq)]
pub struct SnippetNote {
    pub url: String,
    pub title: String,
    pub snippet: String,
    /// Why the fetch failed.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::ContentKind;

    fn page(url: &str, final_url: &str, title: &str) -> FetchedPage {
        page_with_text(url, final_url, title, "some text")
    }

    fn page_with_text(url: &str, final_url: &str, title: &str, text: &str) -> FetchedPage {
        FetchedPage {
            url: Url::parse(url).unwrap(),
            final_url: Url::parse(final_url).unwrap(),
            canonical_url: None,
            title: Some(title.into()),
            published: None,
            content_type: "text/html".into(),
            kind: ContentKind::Html,
            charset: None,
            bytes: 10,
            word_count: 2,
            text: text.into(),
        }
    }

    fn registry() -> SourceRegistry {
        let r = SourceRegistry::default();
        assert_eq!(
            r.register(&page(
                "https://a.example/x?utm_source=t",
                "https://a.example/x",
                "A"
            )),
            1
        );
        assert_eq!(
            r.register(&page(
                "http://short.example/b",
                "https://www.b.example/post/",
                "B"
            )),
            2
        );
        // The same page again (via another URL that redirected to it) keeps its number.
        assert_eq!(
            r.register(&page(
                "https://b.example/post",
                "https://www.b.example/post/",
                "B"
            )),
            2
        );
        r
    }

    #[test]
    fn only_fetched_sources_survive() {
        let r = registry();
        let text = "Cells hold 1.5 million charges [1]. Plants open in 2027 [2, 7]. Made up [9]. \
                    See [the B post](https://b.example/post#intro) and [a rumour](https://nowhere.example/x).";
        let (out, audit) = r.enforce(text);
        assert_eq!(
            out,
            "Cells hold 1.5 million charges [1]. Plants open in 2027 [2]. Made up. \
             See the B post [2] and a rumour."
        );
        assert_eq!(
            audit,
            CitationAudit {
                kept: 2,
                repointed: 1,
                dropped: 3
            }
        );
        assert_eq!(r.cited(&out), BTreeSet::from([1, 2]));
    }

    #[test]
    fn ranges_and_code_are_handled() {
        let r = registry();
        let (out, audit) =
            r.enforce("Both agree [1-3].\n```\nlet x = a[9];\n```\nInline `v[4]` stays [1; 2].\n");
        assert_eq!(
            out,
            "Both agree [1][2].\n```\nlet x = a[9];\n```\nInline `v[4]` stays [1][2].\n"
        );
        assert_eq!(
            audit,
            CitationAudit {
                kept: 4,
                repointed: 0,
                dropped: 1
            }
        );
    }

    #[test]
    fn references_list_the_cited_sources_by_number() {
        let r = registry();
        assert_eq!(
            r.references(&BTreeSet::from([2])),
            "## References\n\n2. [B](https://www.b.example/post/)\n"
        );
        assert_eq!(r.number_of("https://B.example/post/?utm_medium=x"), Some(2));
        assert_eq!(r.number_of("https://c.example/"), None);
        assert_eq!(r.number_of("not a url"), None);
    }

    #[test]
    fn the_registry_keeps_each_sources_text_as_first_fetched() {
        let r = SourceRegistry::default();
        let n = r.register(&page_with_text(
            "https://a.example/x",
            "https://a.example/x",
            "A",
            "Zellen speichern 1,5 Mio. Ladungen — ünïcödé.",
        ));
        // A later fetch of the same page (other text) must not move the offsets of spans
        // already taken from the first.
        r.register(&page_with_text(
            "https://a.example/x?utm_source=t",
            "https://a.example/x",
            "A",
            "changed",
        ));
        assert_eq!(
            r.text(n).as_deref(),
            Some("Zellen speichern 1,5 Mio. Ladungen — ünïcödé.")
        );
        assert_eq!(r.text(0), None);
        assert_eq!(r.text(2), None);
    }

    #[test]
    fn serialized_sources_do_not_carry_the_text() {
        let r = SourceRegistry::default();
        r.register(&page_with_text(
            "https://a.example/x",
            "https://a.example/x",
            "A",
            "a long page body",
        ));
        assert_eq!(
            serde_json::to_value(r.all()).unwrap(),
            serde_json::json!([{"number": 1, "url": "https://a.example/x", "title": "A"}])
        );
    }
}
