//! A web-page server on loopback for fetcher tests: articles wrapped in boilerplate,
//! redirect chains (also to other hosts), error statuses, flaky and slow pages, oversize
//! bodies, pages held until the test releases them, legacy charsets, a PDF, a
//! JavaScript-only app and binary files. Every request is counted by path.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::StreamExt;

use super::server::{serve, Served};

/// Sentences that must survive extraction of [`ARTICLE`].
pub const ARTICLE_PARAGRAPHS: &[&str] = &[
    "The river delta has lost nearly a fifth of its wetlands since 1990",
    "Researchers at the coastal institute mapped sediment flows for six years",
    "Local fishers say the changes arrived faster than any model predicted",
];

/// Boilerplate that must not survive extraction of [`ARTICLE`].
pub const ARTICLE_BOILERPLATE: &[&str] = &[
    "We use cookies to improve your experience",
    "Subscribe to our newsletter",
    "Most read this week",
    "All rights reserved",
    "Home Politics Science Sport",
];

/// A news article inside navigation, a cookie banner, a sidebar and a footer.
pub const ARTICLE: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Delta wetlands shrink | The Daily Example</title>
<meta property="og:title" content="Delta wetlands are shrinking faster than expected">
<meta property="article:published_time" content="2024-03-18T09:30:00Z">
<link rel="canonical" href="https://news.example.com/science/delta-wetlands">
</head><body>
<div id="cookie-banner" class="cookie-consent">We use cookies to improve your experience. <a href="/privacy">Privacy policy</a> <button>Accept all</button></div>
<header class="site-header"><a href="/" class="logo">The Daily Example</a>
<nav class="main-nav"><ul><li><a href="/">Home</a></li><li><a href="/politics">Politics</a></li><li><a href="/science">Science</a></li><li><a href="/sport">Sport</a></li></ul></nav></header>
<main>
<article class="story">
<h1>Delta wetlands are shrinking faster than expected</h1>
<p class="byline">By Ana Ruiz</p>
<p>The river delta has lost nearly a fifth of its wetlands since 1990, according to a study published on Monday, and the pace of loss has doubled over the past decade as upstream dams trap the sediment that once rebuilt the marshes each spring.</p>
<p>Researchers at the coastal institute mapped sediment flows for six years using buoys, drones and satellite images, and found that the delta now receives less than half of the silt it did a generation ago, while sea level at the river mouth keeps rising.</p>
<p>Local fishers say the changes arrived faster than any model predicted. Channels that were navigable a decade ago are now open water, and the shrimp nurseries that sustained whole villages have moved miles inland or disappeared entirely.</p>
<p>The authors recommend releasing sediment from the reservoirs during floods and restoring abandoned rice fields as tidal marsh, measures they estimate could halve the rate of loss within twenty years if they start soon.</p>
</article>
<aside class="sidebar"><h3>Most read this week</h3><ul><li><a href="/a">Election results in full</a></li><li><a href="/b">Ten recipes for spring</a></li><li><a href="/c">Transfer window rumours</a></li></ul></aside>
</main>
<div class="newsletter-box"><h3>Subscribe to our newsletter</h3><p>Get the best stories every morning, free.</p></div>
<footer class="site-footer"><p>© 2024 The Daily Example. All rights reserved.</p><a href="/terms">Terms</a> <a href="/contact">Contact</a></footer>
</body></html>"#;

/// A single-page app: nothing to read without running its script.
pub const JS_ONLY: &str = r#"<!DOCTYPE html><html><head><title>Dashboard</title>
<script src="/static/app.js" defer></script></head>
<body><div id="root"></div>
<noscript>You need to enable JavaScript to run this app.</noscript>
<script>window.__INITIAL_STATE__ = {"user": null, "items": []};</script>
</body></html>"#;

/// `web.allowed_hosts` entries that let a fetcher reach page servers on loopback, which
/// the default address guard refuses. Tests that fetch from a [`PageServer`] add these.
pub fn loopback_hosts() -> Vec<dra::web::AllowedHost> {
    ["127.0.0.1", "::1", "localhost"]
        .iter()
        .map(|h| h.parse().expect("allowed host"))
        .collect()
}

/// Text in the generated PDF.
pub const PDF_TEXT: &str = "Quarterly sediment report for the delta basin";

struct Inner {
    hits: Mutex<HashMap<String, usize>>,
    /// Requests to `/gauge/..` being answered right now, and the most there ever were.
    in_flight: Mutex<(usize, usize)>,
    /// Pages set by a test: path → HTML.
    custom: Mutex<HashMap<String, String>>,
    /// `true` once [`PageServer::release_held`] lets `/held/..` pages answer.
    released: tokio::sync::watch::Sender<bool>,
}

/// A running page server. Dropping it stops the server.
pub struct PageServer {
    pub base: String,
    inner: Arc<Inner>,
    _served: Served,
}

impl PageServer {
    /// Start on a free loopback port.
    pub async fn start() -> PageServer {
        let inner = Arc::new(Inner {
            hits: Mutex::new(HashMap::new()),
            in_flight: Mutex::new((0, 0)),
            custom: Mutex::new(HashMap::new()),
            released: tokio::sync::watch::Sender::new(false),
        });
        let served = serve(Router::new().fallback(page).with_state(inner.clone())).await;
        PageServer {
            base: served.url.clone(),
            inner,
            _served: served,
        }
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Serve `html` at `path` (which starts with `/`), before any built-in page.
    pub fn set_page(&self, path: &str, html: impl Into<String>) {
        self.inner
            .custom
            .lock()
            .unwrap()
            .insert(path.to_string(), html.into());
    }

    /// Let every `/held/NAME` request answer, those waiting and those to come.
    pub fn release_held(&self) {
        self.inner.released.send_replace(true);
    }

    /// The most `/gauge/..` requests that were ever being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.inner.in_flight.lock().unwrap().1
    }

    /// How many requests reached `path` (query excluded).
    pub fn hits(&self, path: &str) -> usize {
        self.inner
            .hits
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

async fn page(State(inner): State<Arc<Inner>>, uri: Uri) -> Response {
    let path = uri.path().to_string();
    let hit = {
        let mut hits = inner.hits.lock().unwrap();
        let n = hits.entry(path.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let html = |body: &'static str| {
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
    };
    let custom = inner.custom.lock().unwrap().get(&path).cloned();
    if let Some(body) = custom {
        return ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["article"] => html(ARTICLE),
        ["js-only"] => html(JS_ONLY),
        ["plain.txt"] => (
            [(header::CONTENT_TYPE, "text/plain")],
            "Plain notes: the survey covered 42 stations.\n",
        )
            .into_response(),
        // /redirect/N redirects N more times, then lands on the article.
        ["redirect", n] => {
            let n: u32 = n.parse().unwrap_or(0);
            let to = if n <= 1 {
                "/article".to_string()
            } else {
                format!("/redirect/{}", n - 1)
            };
            (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
        }
        // /redirect-to?url=U redirects to U (any host), for the address guard's tests.
        ["redirect-to"] => {
            let to = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                .find(|(k, _)| k == "url")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| "/article".into());
            (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
        }
        ["status", code] => {
            let code = code.parse().ok().and_then(|c| StatusCode::from_u16(c).ok());
            (code.unwrap_or(StatusCode::IM_A_TEAPOT), "error page").into_response()
        }
        // Fails with 503 (Retry-After: 0) the first `n` times, then serves the article.
        ["flaky", n] => {
            let n: usize = n.parse().unwrap_or(1);
            if hit <= n {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "0")],
                    "try later",
                )
                    .into_response()
            } else {
                html(ARTICLE)
            }
        }
        // Waits this many milliseconds before answering.
        ["slow", ms] => {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(300))).await;
            html(ARTICLE)
        }
        // `/slow/MS/NAME`: distinct pages with the same wait. Each names itself as its
        // canonical URL, since the shared one would make the source registry count them
        // as one page.
        ["slow", ms, name] => {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(300))).await;
            let own = ARTICLE.replace(
                "https://news.example.com/science/delta-wetlands",
                &format!("https://news.example.com/science/{name}"),
            );
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], own).into_response()
        }
        // `/held/NAME`: no answer until the test calls `release_held` (a page as slow as
        // the test needs, with no clock involved), then an article naming itself canonical.
        ["held", name] => {
            let mut released = inner.released.subscribe();
            // The sender lives in `inner`, so this ends only with a release.
            let _ = released.wait_for(|r| *r).await;
            let own = ARTICLE.replace(
                "https://news.example.com/science/delta-wetlands",
                &format!("https://news.example.com/science/held-{name}"),
            );
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], own).into_response()
        }
        // A body of `n` bytes with Content-Length.
        ["big", n] => {
            let n: usize = n.parse().unwrap_or(0);
            let body = format!("<html><body><p>{}</p></body></html>", "a ".repeat(n / 2));
            ([(header::CONTENT_TYPE, "text/html")], body).into_response()
        }
        // `n` bytes streamed in 64 KiB chunks with no Content-Length.
        ["stream", n] => {
            let n: usize = n.parse().unwrap_or(0);
            let chunks =
                (0..n.div_ceil(65536)).map(|_| Ok::<_, Infallible>(Bytes::from(vec![b'a'; 65536])));
            let body = Body::from_stream(futures::stream::iter(chunks));
            ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
        }
        // Sends the start of the page at once, then stalls this many milliseconds.
        ["stall", ms] => {
            let ms = ms.parse().unwrap_or(300);
            let head = futures::stream::once(async {
                Ok::<_, Infallible>(Bytes::from_static(b"<html><body><p>The start of"))
            });
            let tail = futures::stream::once(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok::<_, Infallible>(Bytes::from_static(b" the page.</p></body></html>"))
            });
            let body = Body::from_stream(head.chain(tail));
            ([(header::CONTENT_TYPE, "text/html")], body).into_response()
        }
        ["latin1"] => {
            let body = b"<html><head><title>Caf\xe9</title></head><body><article><p>Le caf\xe9 de la place ouvre \xe0 sept heures.</p></article></body></html>".to_vec();
            (
                [(header::CONTENT_TYPE, "text/html; charset=ISO-8859-1")],
                body,
            )
                .into_response()
        }
        ["report.pdf"] => (
            [(header::CONTENT_TYPE, "application/pdf")],
            tiny_pdf(PDF_TEXT),
        )
            .into_response(),
        ["image.png"] => (
            [(header::CONTENT_TYPE, "image/png")],
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".to_vec(),
        )
            .into_response(),
        ["download.bin"] => (
            [(header::CONTENT_TYPE, "application/octet-stream")],
            b"\x00\x01\x02\x03binary\x00".to_vec(),
        )
            .into_response(),
        // Holds each request open for 50 ms while counting how many overlap.
        ["gauge", _] => {
            {
                let mut g = inner.in_flight.lock().unwrap();
                g.0 += 1;
                g.1 = g.1.max(g.0);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            inner.in_flight.lock().unwrap().0 -= 1;
            html(ARTICLE)
        }
        // Slow enough that concurrent requests overlap.
        ["counted"] => {
            tokio::time::sleep(Duration::from_millis(100)).await;
            html(ARTICLE)
        }
        _ => (StatusCode::NOT_FOUND, "no such page").into_response(),
    }
}

/// A minimal valid one-page PDF showing `text` in Helvetica, with a correct xref table.
pub fn tiny_pdf(text: &str) -> Vec<u8> {
    let content = format!("BT /F1 18 Tf 72 720 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_string(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, obj) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{obj}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}
