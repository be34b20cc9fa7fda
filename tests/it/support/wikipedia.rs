//! A fake Wikipedia on loopback: the MediaWiki Action API's full-text search at
//! `/w/api.php` and the articles at `/wiki/Title`, as strict and as messy as the real ones.
//!
//! Like Wikimedia it refuses clients without a descriptive User-Agent (403), answers JSON
//! only for `format=json` (an HTML page otherwise), reports bad parameters as a
//! `{"error": {"code", "info"}}` body with status 200, highlights matches with
//! `<span class="searchmatch">` in entity-escaped snippets, caps `srlimit` at its own
//! maximum with a warning and a `continue` block, and can be told to answer 429 with
//! `Retry-After` or a cut-off JSON body. Every API request is recorded, every article
//! fetch counted.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

/// One article: its title and paragraphs of plain text.
#[derive(Clone, Debug)]
pub struct Article {
    pub title: String,
    pub paragraphs: Vec<String>,
}

impl Article {
    pub fn new(title: &str, paragraphs: &[&str]) -> Article {
        Article {
            title: title.into(),
            paragraphs: paragraphs.iter().map(|p| p.to_string()).collect(),
        }
    }
}

/// The articles the fake starts with: deltas and wetlands, with quotes, apostrophes and
/// ampersands in the text so snippets carry entities.
pub fn default_articles() -> Vec<Article> {
    vec![
        Article::new(
            "River delta",
            &[
                "A river delta is a landform shaped like a triangle, the \"Δ\" of its name, built where a river's sediment & silt settle as it meets slower water. Deltas hold some of the world's richest wetlands.",
                "Many deltas are losing wetlands: dams upstream trap the sediment that once rebuilt the marshes, while sea level at the river mouth keeps rising. Studies estimate that deltas have lost about a fifth of their wetlands since 1990.",
                "Restoring sediment flows during floods and returning abandoned fields to tidal marsh are the measures most often proposed to slow the loss of delta wetlands.",
            ],
        ),
        Article::new(
            "Mekong Delta",
            &[
                "The Mekong Delta is the region in southwestern Vietnam where the Mekong River approaches and empties into the sea through a network of distributaries. It's known as the \"rice bowl\" of Vietnam & is home to extensive wetlands.",
                "Sand mining and upstream dams have reduced the sediment reaching the delta, and parts of its coast retreat by tens of metres a year as wetlands and mangroves are lost.",
            ],
        ),
        Article::new(
            "Wetland",
            &[
                "A wetland is a distinct ecosystem flooded or saturated by water, either permanently or seasonally. Coastal wetlands in river deltas are among the most productive ecosystems on Earth.",
                "Wetlands are being lost worldwide to drainage, agriculture and sediment starvation; the loss is fastest in deltas whose rivers are dammed.",
            ],
        ),
        Article::new(
            "C++",
            &[
                "C++ is a high-level, general-purpose programming language created by Bjarne Stroustrup as an extension of the C programming language, or \"C with Classes\".",
                "The language has expanded significantly over time, and modern C++ has object-oriented, generic and functional features in addition to facilities for low-level memory manipulation.",
            ],
        ),
    ]
}

/// A recorded API request.
#[derive(Clone, Debug)]
pub struct WikiRequest {
    pub at: Instant,
    pub params: HashMap<String, String>,
    pub user_agent: Option<String>,
}

/// A fault served instead of the normal answer.
#[derive(Clone, Debug)]
pub enum WikiFault {
    /// HTTP 429 with this `Retry-After` (Wikimedia's edge sends one, with an HTML body).
    RateLimited(String),
    /// Status 200, `application/json`, and a body that stops mid-object.
    Truncated,
}

struct Inner {
    articles: Mutex<Vec<Article>>,
    /// The most results one request returns (MediaWiki's `$wgAPIMaxResultsLimit`).
    max_limit: Mutex<usize>,
    faults: Mutex<VecDeque<WikiFault>>,
    requests: Mutex<Vec<WikiRequest>>,
    /// Article fetches by title.
    fetched: Mutex<HashMap<String, usize>>,
    url: Mutex<String>,
    /// Set by [`FakeWikipedia::fuzzy`]: a query no article matches finds them all.
    fuzzy: Mutex<bool>,
}

/// A running fake; dropping it stops the server.
pub struct FakeWikipedia {
    pub url: String,
    inner: Arc<Inner>,
    _server: super::server::Served,
}

impl FakeWikipedia {
    /// Start on a free loopback port with [`default_articles`].
    pub async fn start() -> FakeWikipedia {
        let inner = Arc::new(Inner {
            articles: Mutex::new(default_articles()),
            max_limit: Mutex::new(500),
            faults: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
            fetched: Mutex::new(HashMap::new()),
            url: Mutex::new(String::new()),
            fuzzy: Mutex::new(false),
        });
        let app = Router::new()
            .route("/w/api.php", get(api))
            .fallback(article)
            .with_state(inner.clone());
        let server = super::server::serve(app).await;
        *inner.url.lock().unwrap() = server.url.clone();
        FakeWikipedia {
            url: server.url.clone(),
            inner,
            _server: server,
        }
    }

    /// Serve `fault` to the next API request (faults queue up in order).
    pub fn fail_next(&self, fault: WikiFault) {
        self.inner.faults.lock().unwrap().push_back(fault);
    }

    /// Return at most `n` results per request, whatever `srlimit` asks.
    pub fn max_results_per_request(&self, n: usize) {
        *self.inner.max_limit.lock().unwrap() = n;
    }

    /// Find every article for a query that matches none, as Wikipedia's fuzzy search
    /// finds something for almost any text (for runs whose queries a schema-driven fake
    /// makes up).
    pub fn fuzzy(&self) {
        *self.inner.fuzzy.lock().unwrap() = true;
    }

    /// Replace the articles.
    pub fn set_articles(&self, articles: Vec<Article>) {
        *self.inner.articles.lock().unwrap() = articles;
    }

    pub fn requests(&self) -> Vec<WikiRequest> {
        self.inner.requests.lock().unwrap().clone()
    }

    /// How often the article `title` was fetched.
    pub fn fetches(&self, title: &str) -> usize {
        self.inner
            .fetched
            .lock()
            .unwrap()
            .get(title)
            .copied()
            .unwrap_or(0)
    }

    /// The article URL the real wiki would give `title` (`/wiki/` + underscores).
    pub fn article_url(&self, title: &str) -> String {
        format!("{}/wiki/{}", self.url, title.replace(' ', "_"))
    }

    /// Configuration and environment as `dra` would load them with `yaml` as the file and
    /// `WIKIPEDIA_BASE_URL` pointing at this fake (no Brave key, no SearXNG URL).
    pub fn config(&self, yaml: &str) -> (dra::config::AppConfig, dra::config::Env) {
        let env: dra::config::Env = [("WIKIPEDIA_BASE_URL".to_string(), self.url.clone())].into();
        let yaml = if yaml.is_empty() {
            "search:\n  retries: 2\n  retry_delay: 10ms\n  wikipedia:\n    requests_per_second: 50\n"
        } else {
            yaml
        };
        let config = dra::config::load_str(yaml, std::path::Path::new("test.yaml"), &env)
            .expect("config loads")
            .config;
        (config, env)
    }
}

/// Wikimedia's answer to a client that does not say who it is.
const NO_AGENT: &str = "Please set a user-agent and respect our robot policy https://w.wiki/4wJS. See https://phabricator.wikimedia.org/T400119.\n";

/// Libraries' default agents, which Wikimedia treats as no agent at all.
const GENERIC_AGENTS: &[&str] = &["reqwest/", "python-requests/", "curl/", "Go-http-client/"];

async fn api(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    s.requests.lock().unwrap().push(WikiRequest {
        at: Instant::now(),
        params: params.clone(),
        user_agent: agent.clone(),
    });
    let descriptive = agent
        .as_deref()
        .is_some_and(|a| !a.trim().is_empty() && !GENERIC_AGENTS.iter().any(|g| a.starts_with(g)));
    if !descriptive {
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            NO_AGENT,
        )
            .into_response();
    }
    let fault = s.faults.lock().unwrap().pop_front();
    match fault {
        Some(WikiFault::RateLimited(after)) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    (header::RETRY_AFTER, after),
                    (header::CONTENT_TYPE, "text/html; charset=utf-8".into()),
                ],
                "<!DOCTYPE html><html><head><title>Wikimedia Error</title></head><body><p>Too many requests. Please wait and retry.</p></body></html>",
            )
                .into_response();
        }
        Some(WikiFault::Truncated) => {
            return json_response(
                r#"{"batchcomplete":true,"query":{"search":[{"ns":0,"title":"River del"#.into(),
            );
        }
        None => {}
    }
    let p = |k: &str| params.get(k).map(String::as_str);
    // Without format=json the API answers with its pretty-printed HTML result page.
    if p("format") != Some("json") {
        return (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!DOCTYPE html>\n<html><head><title>MediaWiki API result - Wikipedia</title></head><body><div class=\"api-pretty-header\">This is the HTML representation of the JSON format. HTML is good for debugging, but is unsuitable for application use.</div><pre>{}</pre></body></html>",
        )
            .into_response();
    }
    let v2 = p("formatversion") == Some("2");
    if p("action") != Some("query") {
        return api_error(
            "badvalue",
            &format!(
                "Unrecognized value for parameter \"action\": {}.",
                p("action").unwrap_or_default()
            ),
        );
    }
    if p("list") != Some("search") {
        return json_response(json!({"batchcomplete": batchcomplete(v2)}).to_string());
    }
    let Some(text) = p("srsearch").filter(|t| !t.trim().is_empty()) else {
        return api_error("missingparam", "The \"srsearch\" parameter must be set.");
    };
    let max = *s.max_limit.lock().unwrap();
    let mut warnings = None;
    let limit = match p("srlimit") {
        None => 10,
        Some("max") => max,
        Some(n) => match n.parse::<usize>() {
            Ok(n) if n > max => {
                warnings = Some(
                    json!({"search": {"warnings": format!("\"srlimit\" may not be over {max} (set to {n}) for users.")}}),
                );
                max
            }
            Ok(n) => n.max(1),
            Err(_) => {
                return api_error(
                    "badinteger",
                    &format!("Invalid value \"{n}\" for integer parameter \"srlimit\"."),
                )
            }
        },
    };
    let offset = match p("sroffset").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return api_error(
                "badinteger",
                "Invalid value for integer parameter \"sroffset\".",
            )
        }
    };
    let terms = terms(text);
    let articles = s.articles.lock().unwrap().clone();
    let mut matching: Vec<&Article> = articles
        .iter()
        .filter(|a| {
            let words = terms_of(&format!("{} {}", a.title, a.paragraphs.join(" ")));
            terms.iter().any(|t| words.contains(t))
        })
        .collect();
    if matching.is_empty() && *s.fuzzy.lock().unwrap() {
        matching = articles.iter().collect();
    }
    let page: Vec<Value> = matching
        .iter()
        .enumerate()
        .skip(offset)
        .take(limit)
        .map(|(i, a)| {
            let words = a.paragraphs.join(" ").split_whitespace().count();
            json!({
                "ns": 0,
                "title": a.title,
                "pageid": 1000 + i,
                "size": words * 6,
                "wordcount": words,
                "snippet": snippet(a, &terms),
                "timestamp": "2025-05-01T12:00:00Z",
            })
        })
        .collect();
    let mut body = json!({
        "batchcomplete": batchcomplete(v2),
        "query": {
            "searchinfo": {"totalhits": matching.len()},
            "search": page,
        },
    });
    if offset + limit < matching.len() {
        body["continue"] = json!({"sroffset": offset + limit, "continue": "-||"});
    }
    if let Some(w) = warnings {
        body["warnings"] = w;
    }
    json_response(body.to_string())
}

fn batchcomplete(v2: bool) -> Value {
    if v2 {
        Value::Bool(true)
    } else {
        Value::String(String::new())
    }
}

fn json_response(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

/// MediaWiki reports a bad request in a successful response.
fn api_error(code: &str, info: &str) -> Response {
    json_response(
        json!({
            "error": {"code": code, "info": info, "docref": "See https://en.wikipedia.org/w/api.php for API usage."},
            "servedby": "mw-api-ext.fake",
        })
        .to_string(),
    )
}

/// The lower-cased words of a query that can match.
fn terms(text: &str) -> Vec<String> {
    terms_of(text)
        .into_iter()
        .filter(|t| t.chars().count() >= 3)
        .collect()
}

fn terms_of(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '+')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The first paragraph's opening, HTML-escaped as MediaWiki does (`&#039;` for `'`), with
/// matching words in `<span class="searchmatch">`.
fn snippet(a: &Article, terms: &[String]) -> String {
    let first = a.paragraphs.first().map(String::as_str).unwrap_or_default();
    first
        .split_whitespace()
        .take(30)
        .map(|word| {
            let escaped = escape(word);
            let bare: String = word
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == '+')
                .collect::<String>()
                .to_lowercase();
            if terms.contains(&bare) {
                format!("<span class=\"searchmatch\">{escaped}</span>")
            } else {
                escaped
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#039;")
}

/// An article page shaped like Wikipedia's: navigation, the article, a footer.
async fn article(State(s): State<Arc<Inner>>, uri: Uri) -> Response {
    let Some(encoded) = uri.path().strip_prefix("/wiki/") else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let title = percent_encoding::percent_decode_str(encoded)
        .decode_utf8_lossy()
        .replace('_', " ");
    let found = s
        .articles
        .lock()
        .unwrap()
        .iter()
        .find(|a| a.title == title)
        .cloned();
    let Some(a) = found else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!DOCTYPE html><html><head><title>Not found</title></head><body><p>Wikipedia does not have an article with this exact name.</p></body></html>",
        )
            .into_response();
    };
    *s.fetched
        .lock()
        .unwrap()
        .entry(a.title.clone())
        .or_insert(0) += 1;
    let base = s.url.lock().unwrap().clone();
    let paragraphs: String = a
        .paragraphs
        .iter()
        .map(|p| format!("<p>{}</p>\n", escape(p)))
        .collect();
    let html = format!(
        r#"<!DOCTYPE html>
<html class="client-nojs" lang="en" dir="ltr"><head><meta charset="UTF-8">
<title>{title} - Wikipedia</title>
<link rel="canonical" href="{base}/wiki/{path}">
</head><body>
<div id="mw-navigation"><nav id="p-navigation"><ul><li><a href="/wiki/Main_Page">Main page</a></li><li><a href="/wiki/Special:Random">Random article</a></li></ul></nav></div>
<main id="content" class="mw-body">
<h1 id="firstHeading" class="firstHeading"><span class="mw-page-title-main">{title}</span></h1>
<div id="bodyContent"><div id="siteSub">From Wikipedia, the free encyclopedia</div>
<div id="mw-content-text" class="mw-body-content"><div class="mw-parser-output">
{paragraphs}</div></div></div>
</main>
<footer id="footer"><ul id="footer-info"><li>This page was last edited on 1 May 2025.</li><li>Text is available under the Creative Commons Attribution-ShareAlike 4.0 License.</li></ul></footer>
</body></html>"#,
        title = escape(&a.title),
        path = encoded,
    );
    ([(header::CONTENT_TYPE, "text/html; charset=UTF-8")], html).into_response()
}
