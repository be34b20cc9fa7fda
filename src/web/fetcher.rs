//! The fetcher: one shared HTTP client with limits, retries, concurrency caps and a
//! single-flight per-run cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{HeaderMap, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::redirect::Policy;
use serde_json::json;
use tokio::sync::{OnceCell, Semaphore};
use tracing::field::Empty;
use tracing::Instrument as _;
use url::Url;

use super::charset;
use super::extract::{extract_html, word_count};
use super::guard::{without_credentials, AddressGuard, GuardedResolver, Refused};
use super::pdf::{looks_like_pdf, pdf_to_text};
use super::url_norm::{normalize, parse_http_url};
use super::{ClientError, ContentKind, FetchError, FetchedPage, WebConfig};

use crate::redact::scrub;
use crate::text::{clip, json_preview, without_nul, PREVIEW_CHARS};

/// One fetch's shared outcome: every task asking for the same page gets this value.
type Outcome = Result<Arc<FetchedPage>, FetchError>;

/// Fetches pages within the limits of a [`WebConfig`]. Cheap to clone; clones share the
/// client, the concurrency limits and the cache.
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: WebConfig,
    guard: Arc<AddressGuard>,
    global: Semaphore,
    per_host: Mutex<HashMap<String, Arc<Semaphore>>>,
    cache: Mutex<HashMap<Url, Arc<OnceCell<Outcome>>>>,
}

/// A downloaded body before it is read.
struct Download {
    final_url: Url,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// A failed attempt, with the server's `Retry-After` when it sent one.
struct AttemptError {
    error: FetchError,
    retry_after: Option<Duration>,
}

impl From<FetchError> for AttemptError {
    fn from(error: FetchError) -> Self {
        AttemptError {
            error,
            retry_after: None,
        }
    }
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// A fetcher with `config`'s limits and address guard. Proxies come from `HTTP_PROXY`,
    /// `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY`, as reqwest reads them by default; through
    /// a proxy, the proxy resolves host names, so only literal addresses are checked.
    pub fn new(config: &WebConfig) -> Result<Fetcher, ClientError> {
        let guard = Arc::new(AddressGuard::new(config));
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .timeout(config.request_timeout)
            .redirect(redirect_policy(guard.clone(), config.max_redirects))
            // Host names are checked as they resolve, on the addresses then connected to.
            .dns_resolver(Arc::new(GuardedResolver {
                guard: guard.clone(),
            }))
            .user_agent(config.user_agent.clone())
            .build()
            .map_err(|e| ClientError(error_text(&e)))?;
        Ok(Fetcher {
            inner: Arc::new(Inner {
                http,
                config: config.clone(),
                guard,
                global: Semaphore::new(config.max_concurrent.max(1) as usize),
                per_host: Mutex::new(HashMap::new()),
                cache: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The limits this fetcher applies.
    pub fn config(&self) -> &WebConfig {
        &self.inner.config
    }

    /// Fetch `url` and extract its text. The first call for a normalized URL downloads it;
    /// concurrent and later calls for the same page share that one outcome, success or
    /// failure, for the life of this fetcher (so the shared page's `url` is the spelling
    /// the first caller used).
    ///
    /// Each call is a `fetch_page` span (MLflow `TOOL`): the URL in, the page's title, final
    /// URL and word count out, an `ERROR` status when it failed.
    pub async fn fetch(&self, url: &str) -> Result<Arc<FetchedPage>, FetchError> {
        let span = tracing::info_span!(
            "fetch_page",
            otel.status_code = Empty,
            otel.status_description = Empty,
            "mlflow.spanType" = "TOOL",
            "mlflow.spanInputs" = json_preview(json!({ "url": scrub(url) })).as_str(),
            "mlflow.spanOutputs" = Empty,
        );
        let result = self.fetch_shared(url).instrument(span.clone()).await;
        match &result {
            Ok(page) => {
                let out = json!({
                    "title": page.title.as_deref().map(scrub),
                    "url": scrub(page.final_url.as_str()),
                    "words": page.word_count,
                });
                span.record("mlflow.spanOutputs", json_preview(out).as_str());
            }
            Err(e) => {
                let message = clip(&scrub(&e.to_string()), PREVIEW_CHARS);
                span.record("otel.status_code", "ERROR");
                span.record("otel.status_description", message.as_str());
            }
        }
        result
    }

    async fn fetch_shared(&self, url: &str) -> Result<Arc<FetchedPage>, FetchError> {
        let url = parse_http_url(url)?;
        if let Err(reason) = self.inner.guard.check_url(&url) {
            return Err(FetchError::Blocked {
                url: without_credentials(&url),
                reason: Box::new(reason),
            });
        }
        let key = normalize(&url);
        let cell = {
            let mut cache = lock(&self.inner.cache);
            cache.entry(key).or_default().clone()
        };
        cell.get_or_init(|| self.fetch_uncached(url)).await.clone()
    }

    async fn fetch_uncached(&self, url: Url) -> Outcome {
        let download = self.download_with_retries(&url).await?;
        let requested = url.clone();
        let page = tokio::task::spawn_blocking(move || read_body(url, download))
            .await
            .map_err(|e| FetchError::Decode {
                url: requested,
                message: format!("reading the page stopped: {e}"),
            })??;
        Ok(Arc::new(page))
    }

    async fn download_with_retries(&self, url: &Url) -> Result<Download, FetchError> {
        let cfg = &self.inner.config;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(cfg.retry_min_delay)
            .with_max_delay(cfg.retry_max_delay)
            .with_max_times(cfg.retries as usize)
            .with_jitter();
        let cap = cfg.retry_max_delay;
        (|| self.download(url))
            .retry(backoff)
            .when(|e: &AttemptError| worth_retrying(&e.error))
            .adjust(move |e: &AttemptError, pause| next_pause(pause, e.retry_after, cap))
            .notify(|e: &AttemptError, after| {
                tracing::info!(error = %e.error, retry_in = ?after, "fetch failed; retrying");
            })
            .await
            .map_err(|e| e.error)
    }

    /// One attempt, holding a per-host and a global permit while it runs.
    async fn download(&self, url: &Url) -> Result<Download, AttemptError> {
        let host_limit = self.host_semaphore(url);
        let closed = || FetchError::Network {
            url: url.clone(),
            message: "the fetcher is shutting down".into(),
        };
        let _host = host_limit.acquire().await.map_err(|_| closed())?;
        let _global = self.inner.global.acquire().await.map_err(|_| closed())?;
        let cfg = &self.inner.config;

        tracing::debug!(%url, "fetching");
        let mut resp = self
            .inner
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| classify(url, &e, cfg))?;
        let status = resp.status();
        if let Some(refused) = unfollowed_redirect(&resp, &self.inner.guard) {
            return Err(refused.into());
        }
        if !status.is_success() {
            return Err(AttemptError {
                error: FetchError::HttpStatus {
                    url: resp.url().clone(),
                    status: status.as_u16(),
                },
                retry_after: retry_after(resp.headers()),
            });
        }
        let final_url = resp.url().clone();
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if let Some(ct) = &content_type {
            if !may_be_readable(&media_type(ct)) {
                return Err(FetchError::UnsupportedType {
                    url: final_url,
                    content_type: media_type(ct),
                }
                .into());
            }
        }
        let limit = cfg.max_body_bytes;
        let too_large = |u: &Url| FetchError::TooLarge {
            url: u.clone(),
            limit,
        };
        let declared = resp
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large(&final_url).into());
        }
        // Streamed so a lying or absent Content-Length cannot make us hold more than the cap.
        let mut body = Vec::with_capacity(declared.unwrap_or(0).min(limit) as usize);
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| classify(&final_url, &e, cfg))?
        {
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(too_large(&final_url).into());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Download {
            final_url,
            content_type,
            body,
        })
    }

    fn host_semaphore(&self, url: &Url) -> Arc<Semaphore> {
        let host = format!(
            "{}:{}",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or(0)
        );
        let per_host = self.inner.config.max_per_host.max(1) as usize;
        lock(&self.inner.per_host)
            .entry(host)
            .or_insert_with(|| Arc::new(Semaphore::new(per_host)))
            .clone()
    }
}

/// A redirect the client did not follow because its target is not an http(s) URL (the
/// client hands such responses back instead of asking the redirect policy), as the
/// refusal it is rather than a bare "HTTP 302".
fn unfollowed_redirect(resp: &reqwest::Response, guard: &AddressGuard) -> Option<FetchError> {
    if !resp.status().is_redirection() {
        return None;
    }
    let location = resp.headers().get(LOCATION)?.to_str().ok()?;
    let target = resp.url().join(location).ok()?;
    let reason = guard.check_url(&target).err()?;
    Some(FetchError::Blocked {
        url: without_credentials(&target),
        reason: Box::new(reason),
    })
}

/// Follow at most `max` redirects, each to a URL the guard allows.
fn redirect_policy(guard: Arc<AddressGuard>, max: u32) -> Policy {
    Policy::custom(move |attempt| {
        // `previous` starts with the requested URL, which is not a redirect.
        if attempt.previous().len() > max as usize {
            return attempt.error(RedirectLimit);
        }
        match guard.check_url(attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(reason) => {
                let url = Some(without_credentials(attempt.url()));
                attempt.error(Refused { url, reason })
            }
        }
    })
}

/// The redirect limit was hit; `classify` reports it as `TooManyRedirects`.
#[derive(Debug, thiserror::Error)]
#[error("too many redirects")]
struct RedirectLimit;

/// Decide what the body is and turn it into a page. CPU-bound: runs on a blocking thread.
fn read_body(url: Url, d: Download) -> Result<FetchedPage, FetchError> {
    let declared = d.content_type.as_deref().map(media_type);
    let Some((kind, content_type)) = kind_of(declared.as_deref(), &d.body) else {
        return Err(FetchError::UnsupportedType {
            url: d.final_url,
            content_type: declared.unwrap_or_else(|| "unknown (no Content-Type)".into()),
        });
    };
    let bytes = d.body.len() as u64;
    let (text, title, published, canonical_url, charset) = match kind {
        ContentKind::Pdf => {
            let text = pdf_to_text(&d.body).map_err(|message| FetchError::Decode {
                url: d.final_url.clone(),
                message,
            })?;
            (tidy_pdf(&text), None, None, None, None)
        }
        ContentKind::PlainText => {
            let decoded = charset::decode(&d.body, d.content_type.as_deref());
            let text = decoded.text.trim().to_string();
            (text, None, None, None, Some(decoded.encoding.name()))
        }
        ContentKind::Html => {
            let decoded = charset::decode(&d.body, d.content_type.as_deref());
            let e = extract_html(&decoded.text, &d.final_url);
            let enc = Some(decoded.encoding.name());
            (e.text, e.title, e.published, e.canonical_url, enc)
        }
    };
    // U+0000 cannot be stored in PostgreSQL text, and no reader needs it: dropped here,
    // before any quote offset is taken from the text.
    let text = without_nul(text);
    let title = title.map(without_nul);
    let published = published.map(without_nul);
    if word_count(&text) == 0 {
        return Err(FetchError::EmptyContent { url: d.final_url });
    }
    Ok(FetchedPage {
        url,
        final_url: d.final_url,
        canonical_url,
        title,
        published,
        content_type,
        kind,
        charset: charset.map(str::to_string),
        bytes,
        word_count: word_count(&text),
        text,
    })
}

/// The kind of a body from its declared media type, sniffing when the server sent none
/// or a generic binary type. `None` when dra cannot read it.
fn kind_of(declared: Option<&str>, body: &[u8]) -> Option<(ContentKind, String)> {
    let sniffed = || {
        if looks_like_pdf(body) {
            return Some((ContentKind::Pdf, "application/pdf".to_string()));
        }
        let head = String::from_utf8_lossy(&body[..body.len().min(512)]).to_ascii_lowercase();
        if head.contains("<html") || head.contains("<!doctype html") {
            return Some((ContentKind::Html, "text/html".to_string()));
        }
        None
    };
    match declared {
        Some("text/html" | "application/xhtml+xml") => {
            Some((ContentKind::Html, declared?.to_string()))
        }
        Some("application/pdf" | "application/x-pdf") => {
            Some((ContentKind::Pdf, declared?.to_string()))
        }
        Some(t) if t.starts_with("text/") || t == "application/json" => {
            Some((ContentKind::PlainText, t.to_string()))
        }
        Some("application/octet-stream" | "binary/octet-stream") => {
            sniffed().filter(|(k, _)| *k == ContentKind::Pdf)
        }
        Some(_) => None,
        None => sniffed().or_else(|| {
            // No type at all: text if it has no NUL bytes (binary formats nearly all do).
            (!body.contains(&0)).then(|| (ContentKind::PlainText, "text/plain".to_string()))
        }),
    }
}

/// Whether a declared media type could be something dra reads, so the body is worth
/// downloading (generic binary types are sniffed after download).
fn may_be_readable(media: &str) -> bool {
    kind_of(Some(media), b"%PDF-").is_some()
}

/// `text/html; charset=utf-8` → `text/html`.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// PDF text comes with hard line breaks and runs of blank lines; keep paragraphs only.
fn tidy_pdf(text: &str) -> String {
    let mut out = String::new();
    for para in text.split("\n\n") {
        let joined = para.split_whitespace().collect::<Vec<_>>().join(" ");
        if joined.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(&joined);
    }
    out
}

/// Transient failures but timeouts: a page that took `read_timeout` to say nothing
/// usually does so again, and retrying it in turn would hold its caller for several
/// timeouts where one is already long.
fn worth_retrying(e: &FetchError) -> bool {
    e.is_transient() && !matches!(e, FetchError::Timeout { .. })
}

/// The pause before the next attempt: the server's `Retry-After` (capped) when it sent
/// one, else the backoff's. `None` (backon gave up) stays `None`: Retry-After never adds an
/// attempt.
fn next_pause(
    computed: Option<Duration>,
    retry_after: Option<Duration>,
    cap: Duration,
) -> Option<Duration> {
    computed.map(|p| retry_after.map_or(p, |ra| ra.min(cap)))
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (when.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

fn classify(url: &Url, e: &reqwest::Error, cfg: &WebConfig) -> AttemptError {
    if let Some(refused) = find_cause::<Refused>(e) {
        // A resolver refusal names the host; reqwest reports it against the requested URL
        // even when it happened on a redirect hop.
        let at = refused.url.clone().or_else(|| e.url().cloned());
        return FetchError::Blocked {
            url: without_credentials(at.as_ref().unwrap_or(url)),
            reason: Box::new(refused.reason.clone()),
        }
        .into();
    }
    let error = if e.is_redirect() {
        FetchError::TooManyRedirects {
            url: url.clone(),
            limit: cfg.max_redirects,
        }
    } else if e.is_timeout() {
        FetchError::Timeout {
            url: url.clone(),
            after: if e.is_connect() {
                cfg.connect_timeout
            } else {
                cfg.read_timeout.min(cfg.request_timeout)
            },
        }
    } else {
        // reqwest's own top line ("error sending request for url (..)") repeats the URL
        // that FetchError already shows; its causes say what went wrong.
        let message = match std::error::Error::source(e) {
            Some(cause) => error_text(cause),
            None => e.to_string(),
        };
        FetchError::Network {
            url: url.clone(),
            message,
        }
    };
    error.into()
}

/// The first cause of type `T` in `e`'s chain.
fn find_cause<T: std::error::Error + 'static>(e: &reqwest::Error) -> Option<&T> {
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(t) = c.downcast_ref::<T>() {
            return Some(t);
        }
        cause = c.source();
    }
    None
}

/// reqwest's message plus its causes ("error sending request" alone says little).
fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cause = c.source();
    }
    text
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the maps inconsistent (each update is
    // one insert), so a poisoned lock is still safe to use.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    #[test]
    fn nul_characters_never_reach_the_page_text() {
        let d = super::Download {
            final_url: url::Url::parse("https://example.com/a.txt").unwrap(),
            content_type: Some("text/plain; charset=utf-8".into()),
            body: b"River\0 deltas\0 are sinking.".to_vec(),
        };
        let page = super::read_body(d.final_url.clone(), d).unwrap();
        assert_eq!(page.text, "River deltas are sinking.");
        let html = super::Download {
            final_url: url::Url::parse("https://example.com/a").unwrap(),
            content_type: Some("text/html".into()),
            body: b"<html><head><title>T\0itle</title></head><body><p>Wet\0lands &#0; shrink.</p></body></html>".to_vec(),
        };
        let page = super::read_body(html.final_url.clone(), html).unwrap();
        assert!(!page.text.contains('\0'), "{:?}", page.text);
        assert!(!page.title.unwrap_or_default().contains('\0'));
    }

    use super::*;

    #[test]
    fn declared_types_map_to_kinds_and_binaries_are_refused() {
        let kind = |t: &str, body: &[u8]| kind_of(Some(t), body).map(|(k, _)| k);
        assert_eq!(kind("text/html", b""), Some(ContentKind::Html));
        assert_eq!(kind("text/markdown", b"# x"), Some(ContentKind::PlainText));
        assert_eq!(kind("application/pdf", b""), Some(ContentKind::Pdf));
        assert_eq!(kind("image/png", b"\x89PNG"), None);
        assert_eq!(kind("application/octet-stream", b"\x00\x01"), None);
        assert_eq!(
            kind("application/octet-stream", b"%PDF-1.4"),
            Some(ContentKind::Pdf)
        );
        assert_eq!(
            kind_of(None, b"<!DOCTYPE html><html>").map(|(k, _)| k),
            Some(ContentKind::Html)
        );
        assert!(!may_be_readable("image/png"));
        assert!(may_be_readable("application/octet-stream"));
    }

    #[test]
    fn retry_after_replaces_the_backoff_pause_up_to_the_cap() {
        let ms = Duration::from_millis;
        let cap = ms(500);
        assert_eq!(next_pause(Some(ms(100)), None, cap), Some(ms(100)));
        assert_eq!(next_pause(Some(ms(100)), Some(ms(300)), cap), Some(ms(300)));
        assert_eq!(next_pause(Some(ms(100)), Some(ms(9000)), cap), Some(cap));
        assert_eq!(next_pause(None, Some(ms(300)), cap), None);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None, "a date in the past means no wait");
    }
}
