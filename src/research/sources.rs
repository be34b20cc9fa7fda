//! The registry of sources this run actually fetched, and the rule that enforces it:
//! a citation may only point at a registered source. Model output that cites anything else
//! is re-pointed (a URL the run fetched becomes its number) or dropped, and counted.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex};

use regex::Regex;
use serde::Serialize;
use url::Url;

use crate::web::{normalize, parse_http_url, FetchedPage};

/// A fetched source and its citation number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// 1-based, in order of registration: the `[n]` readers see.
    pub number: u32,
    /// The URL the content came from (after redirects).
    pub url: String,
    pub title: Option<String>,
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
        });
        inner.texts.push(Arc::from(page.text.as_str()));
        for k in keys {
            inner.by_key.entry(k).or_insert(number);
        }
        number
    }

    /// The number of a fetched URL, if this run fetched it.
    pub fn number_of(&self, url: &str) -> Option<u32> {
        let parsed = parse_http_url(url).ok()?;
        self.inner.lock().ok()?.by_key.get(&key(&parsed)).copied()
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
    /// registered numbers stay, links to fetched URLs become `text [n]`, anything else is
    /// removed (a link keeps its text). Code spans and fenced blocks are left alone.
    pub fn enforce(&self, markdown: &str) -> (String, CitationAudit) {
        let mut audit = CitationAudit::default();
        let mut out = String::with_capacity(markdown.len());
        let mut in_fence = false;
        for line in markdown.split_inclusive('\n') {
            if line.trim_start().starts_with("```") {
                in_fence = !in_fence;
                out.push_str(line);
                continue;
            }
            if in_fence {
                out.push_str(line);
                continue;
            }
            // Odd segments between backticks are inline code.
            for (i, segment) in line.split('`').enumerate() {
                if i > 0 {
                    out.push('`');
                }
                if i % 2 == 1 {
                    out.push_str(segment);
                } else {
                    out.push_str(&self.enforce_segment(segment, &mut audit));
                }
            }
        }
        (out, audit)
    }

    /// The numbers cited in `markdown` (after enforcement), ascending.
    pub fn cited(&self, markdown: &str) -> BTreeSet<u32> {
        MARKER
            .captures_iter(markdown)
            .flat_map(|c| numbers(&c[1]))
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

    fn enforce_segment(&self, text: &str, audit: &mut CitationAudit) -> String {
        let linked = LINK.replace_all(text, |c: &regex::Captures<'_>| {
            match self.number_of(&c[2]) {
                Some(n) => {
                    audit.repointed += 1;
                    // A placeholder, so the marker pass below does not count it again.
                    format!("{} \u{0}{n}\u{0}", &c[1])
                }
                None => {
                    audit.dropped += 1;
                    c[1].to_string()
                }
            }
        });
        let replaced = MARKER.replace_all(&linked, |c: &regex::Captures<'_>| {
            let all = numbers(&c[1]);
            let known: Vec<u32> = all
                .iter()
                .copied()
                .filter(|n| self.get(*n).is_some())
                .collect();
            audit.kept += known.len();
            audit.dropped += all.len() - known.len();
            known.iter().map(|n| format!("[{n}]")).collect::<String>()
        });
        let restored = PLACEHOLDER.replace_all(&replaced, "[$1]");
        // Removing a marker can leave "word ." behind.
        SPACE_BEFORE_PUNCT.replace_all(&restored, "$1").into_owned()
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

/// `[text](http…)` links.
static LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[([^\]\[]+)\]\((https?://[^)\s]+)\)").expect("constant pattern")
});
/// `[3]`, `[3, 5]`, `[3-5]`, `[3; 7]` (not followed by `(`, which is a link).
static MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[(\d+(?:\s*[,;–-]\s*\d+)*)\]").expect("constant pattern"));
static PLACEHOLDER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("\u{0}(\\d+)\u{0}").expect("constant pattern"));
static SPACE_BEFORE_PUNCT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[ \t]+([.,;:!?])").expect("constant pattern"));

/// Numbers of a marker body; `3-5` expands to 3, 4, 5 (at most 50 to stay sane).
fn numbers(body: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in body.split([',', ';']) {
        let part = part.trim();
        match part.split_once(['-', '–']) {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
                    if a <= b && b - a <= 50 {
                        out.extend(a..=b);
                    }
                }
            }
            None => out.extend(part.parse::<u32>().ok()),
        }
    }
    out
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
