//! Main-content extraction: from a whole HTML page to the article's text and metadata.
//!
//! The heavy lifting is `dom_smoothie`, a port of Mozilla's readability.js (what Firefox's
//! Reader View uses). Before it runs, elements that are never article text are removed:
//! scripts, navigation, asides, footers, and cookie/consent banners, which readability's
//! own "unlikely candidate" patterns miss because they rarely say "banner".

use dom_query::Document;
use dom_smoothie::{Config, Readability, TextMode};
use serde::{Deserialize, Serialize};
use url::Url;

/// What extraction found on one HTML page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Extracted {
    /// `og:title`, JSON-LD headline or `<title>`.
    pub title: Option<String>,
    /// Publication date as the page states it (ISO 8601 in practice).
    pub published: Option<String>,
    /// `<link rel="canonical">`, resolved against the page URL.
    pub canonical_url: Option<Url>,
    /// The article text: paragraphs separated by blank lines. Empty when the page has none.
    pub text: String,
}

/// Elements that are never part of the main content, whatever they hold.
/// JSON-LD scripts stay: readability reads `datePublished` and the headline from them.
const NEVER_CONTENT: &[&str] = &[
    "script:not([type=\"application/ld+json\" i])",
    "style",
    "noscript",
    "template",
    "iframe",
    "svg",
    "nav",
    "aside",
    "footer",
    "button",
    "[role=navigation]",
    "[role=contentinfo]",
    "[role=complementary]",
    "[role=dialog]",
    "[role=alertdialog]",
    "[aria-hidden=true]",
    "[hidden]",
];

/// Boilerplate recognised by its class or id: cookie/consent banners, newsletter boxes,
/// share bars, breadcrumbs, wiki navboxes. Matching is by substring, so a recipe page's
/// `class="cookie-recipe"` would match too; these are removed only when they are small
/// and hold no `<article>` or `<main>` (see [`BOILERPLATE_MAX_CHARS`]).
const NAMED_BOILERPLATE: &[&str] = &[
    "[id*=cookie i]",
    "[class*=cookie i]",
    "[id*=consent i]",
    "[class*=consent i]",
    "[id*=gdpr i]",
    "[class*=gdpr i]",
    "[class*=newsletter i]",
    "[class*=share-button i]",
    "[class*=share-bar i]",
    "[class*=social-share i]",
    "[class*=breadcrumb i]",
    "[class*=skip-link i]",
    "[class*=navbox i]",
    "[class*=catlinks i]",
    ".mw-editsection",
];

/// Banners and widgets are short; anything longer is more likely content named unluckily.
const BOILERPLATE_MAX_CHARS: usize = 1500;

/// Minimum words readability must return before its result is trusted; below it the page
/// is probably not an article (a docs stub, a short notice) and the cleaned body is used.
const MIN_ARTICLE_WORDS: usize = 25;

/// Extract the main text and metadata of `html`, fetched from `url`.
pub fn extract_html(html: &str, url: &Url) -> Extracted {
    let doc = Document::from(html);
    let canonical_url = canonical(&doc, url);
    let time_datetime = attr_of(&doc, "time[datetime]", "datetime");
    strip_boilerplate(&doc);
    let fallback_text = doc
        .try_select("main, [role=main], article")
        .or_else(|| doc.try_select("body"))
        .map(|s| tidy(&s.formatted_text()))
        .unwrap_or_default();

    let cfg = Config {
        text_mode: TextMode::Formatted,
        ..Config::default()
    };
    // Only http(s) URLs reach here, so `with_document` cannot reject the URL; should it
    // fail anyway, the cleaned body text is still a useful answer.
    let Ok(mut readability) = Readability::with_document(doc, Some(url.as_str()), Some(cfg)) else {
        return Extracted {
            canonical_url,
            published: time_datetime,
            text: fallback_text,
            ..Extracted::default()
        };
    };
    let metadata = readability.get_article_metadata(readability.parse_json_ld());
    let title = non_empty(metadata.title.clone());
    let published = metadata
        .published_time
        .clone()
        .and_then(non_empty)
        .or(time_datetime);
    let article_text = readability
        .parse()
        .map(|a| tidy(&a.text_content))
        .unwrap_or_default();
    let text = if word_count(&article_text) >= MIN_ARTICLE_WORDS
        || word_count(&article_text) >= word_count(&fallback_text)
    {
        article_text
    } else {
        fallback_text
    };
    Extracted {
        title,
        published,
        canonical_url,
        text,
    }
}

/// Remove [`NEVER_CONTENT`] elements, and [`NAMED_BOILERPLATE`] ones that are small.
fn strip_boilerplate(doc: &Document) {
    for sel in NEVER_CONTENT {
        if let Some(found) = doc.try_select(sel) {
            found.remove();
        }
    }
    for sel in NAMED_BOILERPLATE {
        let Some(found) = doc.try_select(sel) else {
            continue;
        };
        for node in found.iter() {
            let holds_content = node.try_select("article, main").is_some();
            if !holds_content && node.text().len() <= BOILERPLATE_MAX_CHARS {
                node.remove();
            }
        }
    }
}

/// Words in `text`, counted the way the benchmark and `dra fetch` count them.
pub fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

fn canonical(doc: &Document, base: &Url) -> Option<Url> {
    let href = attr_of(doc, "link[rel~=canonical i][href]", "href")?;
    let url = base.join(href.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

fn attr_of(doc: &Document, selector: &str, attr: &str) -> Option<String> {
    let found = doc.try_select(selector)?;
    found
        .iter()
        .find_map(|el| el.attr(attr))
        .map(|v| v.trim().to_string())
        .and_then(non_empty)
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// Trim each line, and collapse runs of blank lines into one paragraph break.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = false;
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if blank {
            out.push_str("\n\n");
        } else if !out.is_empty() {
            out.push('\n');
        }
        blank = false;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("https://news.example.com/2024/05/story?id=1").unwrap()
    }

    #[test]
    fn metadata_comes_from_meta_tags_and_links() {
        let html = r#"<html><head><title>Story | News</title>
            <meta property="og:title" content="The Story">
            <meta property="article:published_time" content="2024-05-01T10:00:00Z">
            <link rel="canonical" href="/2024/05/story"></head>
            <body><article><p>Short body.</p></article></body></html>"#;
        let e = extract_html(html, &url());
        assert_eq!(e.title.as_deref(), Some("The Story"));
        assert_eq!(e.published.as_deref(), Some("2024-05-01T10:00:00Z"));
        assert_eq!(
            e.canonical_url.map(String::from).as_deref(),
            Some("https://news.example.com/2024/05/story")
        );
        assert_eq!(e.text, "Short body.");
    }

    #[test]
    fn published_falls_back_to_json_ld_then_time_element() {
        let ld = r#"<html><head><script type="application/ld+json">
            {"@context":"https://schema.org","@type":"NewsArticle","headline":"H","datePublished":"2023-02-03"}
            </script></head><body><p>x</p></body></html>"#;
        assert_eq!(
            extract_html(ld, &url()).published.as_deref(),
            Some("2023-02-03")
        );
        let time = r#"<html><body><article><time datetime="2022-01-02">Jan 2</time><p>x</p></article></body></html>"#;
        assert_eq!(
            extract_html(time, &url()).published.as_deref(),
            Some("2022-01-02")
        );
    }

    #[test]
    fn script_only_page_has_no_text() {
        let html = r#"<html><head><title>App</title></head><body><div id="root"></div>
            <noscript>You need to enable JavaScript to run this app.</noscript>
            <script>window.__APP__ = {"a": 1}; render();</script></body></html>"#;
        assert_eq!(extract_html(html, &url()).text, "");
    }

    #[test]
    fn content_named_like_boilerplate_is_kept() {
        let long = "Cream the butter and sugar until pale, then beat in the eggs. ".repeat(40);
        let html = format!(
            r#"<html><body><div class="cookie-banner">We use cookies.</div>
            <div class="cookie-recipe"><p>{long}</p></div></body></html>"#
        );
        let text = extract_html(&html, &url()).text;
        assert!(text.contains("Cream the butter"), "{text}");
        assert!(!text.contains("We use cookies"), "{text}");
    }

    #[test]
    fn tidy_collapses_blank_lines() {
        assert_eq!(tidy("  a \n\n\n b\nc \n\n"), "a\n\nb\nc");
    }
}
