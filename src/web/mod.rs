//! Reading the web: fetch a page within limits (timeouts, size cap, redirects, concurrency,
//! retries), decode its charset, and extract the main text from HTML, plain text or PDF.
//! Every URL, redirect hop and resolved address passes the [`AddressGuard`] first, so
//! model-chosen URLs cannot reach loopback, private networks or cloud metadata.
//!
//! [`Fetcher`] is the entry point; build one per research run so its cache (keyed by the
//! [normalized](normalize) URL) makes every page a single download.

mod charset;
mod config;
mod error;
mod extract;
mod fetcher;
mod guard;
mod pdf;
mod url_norm;

use serde::{Deserialize, Serialize};
use url::Url;

pub use charset::{decode, Decoded};
pub use config::{WebConfig, DEFAULT_USER_AGENT};
pub use error::{ClientError, FetchError};
pub use extract::{extract_html, word_count, Extracted};
pub use fetcher::Fetcher;
pub use guard::{address_class, AddressClass, AddressGuard, AllowedHost, BlockReason};
pub use pdf::pdf_to_text;
pub use url_norm::{is_loopback, normalize, parse_http_url, strip_tracking};

/// The kinds of document dra can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentKind {
    /// HTML or XHTML; the main content is extracted.
    Html,
    /// Any `text/*` type (and JSON): passed through as it is.
    PlainText,
    /// PDF; the text of every page.
    Pdf,
}

/// A fetched page as the research engine sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FetchedPage {
    /// The URL that was asked for.
    pub url: Url,
    /// Where the last redirect led.
    pub final_url: Url,
    /// The page's own `<link rel="canonical">`, when it names one.
    pub canonical_url: Option<Url>,
    /// The document title, when it has one.
    pub title: Option<String>,
    /// Publication date as the page states it (meta tags, JSON-LD, `<time datetime>`).
    pub published: Option<String>,
    /// The media type from `Content-Type` without parameters, e.g. `text/html`, or the
    /// sniffed type when the server sent none.
    pub content_type: String,
    /// How the body was read.
    pub kind: ContentKind,
    /// The character encoding the text was decoded from (not set for PDF).
    pub charset: Option<String>,
    /// Body size in bytes, as received.
    pub bytes: u64,
    /// Words in `text`.
    pub word_count: usize,
    /// The main text: paragraphs separated by blank lines.
    pub text: String,
}

impl FetchedPage {
    /// A page whose text is already known: fetched from `url` without a redirect, read as
    /// plain text. For documents handed over whole and for fixtures.
    pub fn from_text(url: Url, title: Option<String>, text: impl Into<String>) -> FetchedPage {
        let text = text.into();
        FetchedPage {
            final_url: url.clone(),
            url,
            canonical_url: None,
            title,
            published: None,
            content_type: "text/plain".into(),
            kind: ContentKind::PlainText,
            charset: None,
            bytes: text.len() as u64,
            word_count: text.split_whitespace().count(),
            text,
        }
    }
}
