//! Web search: Brave, SearXNG and Wikipedia against loopback fakes, retries and rate
//! limits, de-duplication, the domain filter, and `dra search` through the binary.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::support::search::{fixture, Fault, BRAVE_KEY};
use crate::support::wikipedia::{Article, WikiFault};
use crate::support::{Dra, FakeSearch, FakeWikipedia};
use dra::config::{load_str, AppConfig, Env};
use dra::search::{
    self, brave, dedup, filter, searxng, DomainFilter, DomainFilterConfig, DomainFilterMode,
    Freshness, ProviderKind, SearchError, SearchProvider, SearchQuery, WikipediaSearch,
};

/// Configuration as `dra` would load it: `yaml` plus the fake's URL and key in the
/// environment, as a deployment would set them.
fn config(fake: &FakeSearch, key: &str, yaml: &str) -> (AppConfig, Env) {
    let env: Env = [
        ("BRAVE_BASE_URL", fake.url.clone()),
        ("BRAVE_API_KEY", key.to_string()),
        ("SEARXNG_URL", fake.url.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let base =
        "search:\n  retries: 2\n  retry_delay: 10ms\n  brave:\n    requests_per_second: 10\n";
    let text = if yaml.is_empty() { base } else { yaml };
    let loaded = load_str(text, Path::new("test.yaml"), &env).expect("config loads");
    (loaded.config, env)
}

fn brave_provider(fake: &FakeSearch, yaml: &str) -> Arc<dyn SearchProvider> {
    let (c, env) = config(fake, BRAVE_KEY, yaml);
    search::from_config(&c.search, &env).expect("provider")
}

fn query(text: &str) -> SearchQuery {
    SearchQuery::new(text, &Default::default())
}

#[test]
fn brave_response_fixture_parses() {
    let response: brave::Response = serde_json::from_value(fixture("brave-web.json")).unwrap();
    let hits = brave::hits(response, &query("lakebase"));
    // Six results, one with an unparseable URL.
    assert_eq!(hits.len(), 5);
    let first = &hits[0];
    assert_eq!(first.rank, 1);
    assert_eq!(first.title, "What is Lakebase? | Databricks Documentation");
    assert_eq!(
        first.url.as_str(),
        "https://docs.databricks.com/aws/en/oltp/"
    );
    assert_eq!(
        first.snippet,
        "Lakebase is a fully managed Postgres OLTP engine & it lives inside the Databricks platform."
    );
    assert_eq!(first.age.as_deref(), Some("June 12, 2025"));
    assert_eq!(first.published.as_deref(), Some("2025-06-12T00:00:00"));
    assert_eq!(first.provider, ProviderKind::Brave);
    assert_eq!(hits[2].age, None);
    assert_eq!(hits[4].rank, 5);
}

#[test]
fn searxng_response_fixture_parses() {
    let response: searxng::Response = serde_json::from_value(fixture("searxng.json")).unwrap();
    let hits = searxng::hits(response, &query("lakebase"));
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0].engine.as_deref(), Some("duckduckgo"));
    assert_eq!(hits[0].published, None);
    assert_eq!(hits[1].published.as_deref(), Some("2025-06-11T16:00:00"));
    assert_eq!(hits[2].snippet, "");
    assert_eq!(hits[2].provider, ProviderKind::Searxng);

    let mut two = query("lakebase");
    two.count = 2;
    two.offset = 1;
    let response: searxng::Response = serde_json::from_value(fixture("searxng.json")).unwrap();
    let hits = searxng::hits(response, &two);
    assert_eq!(hits.iter().map(|h| h.rank).collect::<Vec<_>>(), [3, 4]);
}

#[tokio::test]
async fn brave_request_carries_the_token_and_parameters() {
    let fake = FakeSearch::start().await;
    let yaml =
        "search:\n  brave:\n    country: de\n    freshness: pw\n    default_result_count: 7\n";
    let provider = brave_provider(&fake, yaml);
    let mut q = SearchQuery::new("rust async", &config(&fake, BRAVE_KEY, yaml).0.search);
    q.offset = 2;
    provider.search(&q).await.unwrap();

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.path, "/res/v1/web/search");
    assert_eq!(r.token.as_deref(), Some(BRAVE_KEY));
    assert_eq!(r.accept.as_deref(), Some("application/json"));
    let p = |k: &str| r.params.get(k).map(String::as_str);
    assert_eq!(p("q"), Some("rust async"));
    assert_eq!(p("count"), Some("7"));
    assert_eq!(p("offset"), Some("2"));
    assert_eq!(p("freshness"), Some("pw"));
    assert_eq!(p("country"), Some("de"));
}

#[tokio::test]
async fn brave_count_is_clamped_to_its_maximum_of_20() {
    let fake = FakeSearch::start().await;
    let provider = brave_provider(&fake, "");
    let mut q = query("x");
    q.count = 50;
    provider.search(&q).await.unwrap();
    assert_eq!(
        fake.requests()[0].params.get("count").map(String::as_str),
        Some("20")
    );
}

#[tokio::test]
async fn a_refused_key_is_unauthorized_at_once_naming_the_variable_not_the_key() {
    let fake = FakeSearch::start().await;
    let (c, env) = config(&fake, "BSA-wrong-key-s3cr3t", "");
    let provider = search::from_config(&c.search, &env).unwrap();
    let err = provider.search(&query("x")).await.unwrap_err();
    assert!(matches!(err, SearchError::Unauthorized { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("BRAVE_API_KEY"), "{msg}");
    assert!(!msg.contains("s3cr3t"), "{msg}");
    assert!(!format!("{err:?}").contains("s3cr3t"));
    assert_eq!(fake.requests().len(), 1, "401 must not be retried");
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_then_succeeds() {
    let fake = FakeSearch::start().await;
    fake.fail_next(Fault::RateLimited(Some("1".into())));
    let provider = brave_provider(&fake, "");
    let hits = provider.search(&query("x")).await.unwrap();
    assert!(!hits.is_empty());
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    // The retry came after the server's Retry-After, not after the 10ms backoff.
    let gap = reqs[1].at - reqs[0].at;
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
}

#[tokio::test]
async fn persistent_429_is_rate_limited_after_bounded_retries() {
    let fake = FakeSearch::start().await;
    fake.fail_always(Fault::RateLimited(Some("0".into())));
    let provider = brave_provider(&fake, "");
    let err = provider.search(&query("x")).await.unwrap_err();
    assert!(matches!(err, SearchError::RateLimited { .. }), "{err:?}");
    assert!(err.to_string().contains("requests_per_second"), "{err}");
    // One try plus `search.retries: 2`.
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn a_retry_after_longer_than_max_retry_after_fails_at_once() {
    let fake = FakeSearch::start().await;
    fake.fail_always(Fault::RateLimited(Some("3600".into())));
    let provider = brave_provider(
        &fake,
        "search:\n  retries: 3\n  retry_delay: 10ms\n  max_retry_after: 5s\n",
    );
    let err = provider.search(&query("x")).await.unwrap_err();
    assert!(err.to_string().contains("retry after 1h"), "{err}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times() {
    let fake = FakeSearch::start().await;
    fake.fail_next(Fault::Status(503));
    let provider = brave_provider(&fake, "");
    assert!(provider.search(&query("x")).await.is_ok());
    assert_eq!(fake.requests().len(), 2);

    let fake = FakeSearch::start().await;
    fake.fail_always(Fault::Status(500));
    let provider = brave_provider(&fake, "");
    let err = provider.search(&query("x")).await.unwrap_err();
    assert!(matches!(err, SearchError::Status { .. }), "{err:?}");
    assert!(err.to_string().contains("Something went wrong"), "{err}");
    assert_eq!(fake.requests().len(), 3);

    // A client error other than 401/403/429 is final.
    let fake = FakeSearch::start().await;
    fake.fail_always(Fault::Status(422));
    let provider = brave_provider(&fake, "");
    assert!(provider.search(&query("x")).await.is_err());
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn an_unreachable_provider_is_a_network_error() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env: Env = [
        (
            "BRAVE_BASE_URL".to_string(),
            format!("http://127.0.0.1:{port}"),
        ),
        ("BRAVE_API_KEY".to_string(), BRAVE_KEY.to_string()),
    ]
    .into();
    let c = load_str(
        "search:\n  retries: 1\n  retry_delay: 1ms\n",
        Path::new("t.yaml"),
        &env,
    )
    .unwrap()
    .config;
    let err = search::from_config(&c.search, &env)
        .unwrap()
        .search(&query("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, SearchError::Network { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot reach brave"), "{err}");
}

#[tokio::test]
async fn duplicates_collapse_to_the_best_ranked_hit() {
    let fake = FakeSearch::start().await;
    let hits = brave_provider(&fake, "").search(&query("x")).await.unwrap();
    // The announcement appears with utm params (rank 2) and as a www-less URL with a
    // trailing slash and a fragment (rank 3): one survives, the better ranked.
    let announcements: Vec<_> = hits
        .iter()
        .filter(|h| h.url.path().starts_with("/blog/announcing-lakebase"))
        .collect();
    assert_eq!(announcements.len(), 1, "{hits:#?}");
    assert_eq!(announcements[0].rank, 2);
    assert_eq!(
        hits.iter().map(|h| h.rank).collect::<Vec<_>>(),
        [1, 2, 4, 5]
    );

    let unique = dedup::dedup(hits.clone());
    assert_eq!(unique, hits, "dedup is idempotent");
}

#[tokio::test]
async fn searxng_duplicates_collapse_too() {
    let fake = FakeSearch::start().await;
    let (c, env) = config(&fake, BRAVE_KEY, "");
    let provider = search::provider(ProviderKind::Searxng, &c.search, &env).unwrap();
    let hits = provider.search(&query("x")).await.unwrap();
    assert_eq!(hits.iter().map(|h| h.rank).collect::<Vec<_>>(), [1, 2]);
}

#[test]
fn domain_filter_modes_with_wildcards() {
    let f = |mode, include: &[&str], exclude: &[&str]| {
        DomainFilter::new(&DomainFilterConfig {
            mode,
            include_domains: include.iter().map(|s| s.to_string()).collect(),
            exclude_domains: exclude.iter().map(|s| s.to_string()).collect(),
            log_filtered: false,
        })
    };
    let ok = |f: &DomainFilter, url: &str| f.check(&url::Url::parse(url).unwrap()).allowed();

    let exclude = f(
        DomainFilterMode::Exclude,
        &["*.gov"],
        &["news.*", "*.example.*"],
    );
    assert!(!ok(&exclude, "https://news.com/a"));
    assert!(!ok(&exclude, "https://www.example.org/a"));
    assert!(
        ok(&exclude, "https://www.cdc.gov/a"),
        "include list ignored in exclude mode"
    );
    assert!(ok(&exclude, "https://reuters.com/a"));

    let include = f(
        DomainFilterMode::Include,
        &["*.gov", "reuters.com"],
        &["*.cdc.gov"],
    );
    assert!(
        ok(&include, "https://www.cdc.gov/a"),
        "exclude list ignored in include mode"
    );
    assert!(ok(&include, "https://REUTERS.com/a"));
    assert!(
        !ok(&include, "https://www.reuters.com/a"),
        "exact patterns are exact"
    );
    assert!(!ok(&include, "https://bbc.co.uk/a"));

    let both = f(DomainFilterMode::Both, &["*.gov", "*.edu"], &["*.cdc.gov"]);
    assert!(ok(&both, "https://nasa.gov/a"));
    assert!(
        !ok(&both, "https://www.cdc.gov/a"),
        "exclude wins over include"
    );
    assert!(!ok(&both, "https://example.com/a"));

    let empty_include = f(DomainFilterMode::Include, &[], &[]);
    assert!(!empty_include.is_active());
    assert!(ok(&empty_include, "https://anything.example/a"));

    assert_eq!(
        exclude.check(&url::Url::parse("https://news.co.uk/").unwrap()),
        filter::Decision::Excluded("news.*".into())
    );
}

#[tokio::test]
async fn the_configured_domain_filter_applies_to_provider_hits() {
    let fake = FakeSearch::start().await;
    let yaml = "search:\n  retry_delay: 10ms\n  brave:\n    requests_per_second: 10\n  domain_filter:\n    mode: both\n    include_domains: ['*.databricks.com', '*.gov', '*.example.*']\n    exclude_domains: ['news.*']\n";
    let hits = brave_provider(&fake, yaml)
        .search(&query("x"))
        .await
        .unwrap();
    let hosts: Vec<_> = hits.iter().filter_map(|h| h.url.host_str()).collect();
    assert_eq!(
        hosts,
        ["docs.databricks.com", "www.databricks.com", "www.cdc.gov"]
    );
}

#[tokio::test]
async fn requests_per_second_spaces_calls() {
    let fake = FakeSearch::start().await;
    let provider = brave_provider(&fake, "search:\n  brave:\n    requests_per_second: 5\n");
    // Concurrent callers share one limiter: they queue rather than burst.
    let q = query("x");
    let calls = (0..4).map(|_| provider.search(&q));
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    let mut at: Vec<_> = fake.requests().iter().map(|r| r.at).collect();
    at.sort();
    assert_eq!(at.len(), 4);
    for pair in at.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(190), "calls {gap:?} apart");
    }
}

#[tokio::test]
async fn searxng_request_parameters() {
    let fake = FakeSearch::start().await;
    let (c, env) = config(
        &fake,
        BRAVE_KEY,
        "search:\n  provider: searxng\n  searxng:\n    language: en\n    categories: general\n",
    );
    let provider = search::from_config(&c.search, &env).unwrap();
    assert_eq!(provider.kind(), ProviderKind::Searxng);
    let mut q = query("lakebase");
    q.freshness = Some(Freshness::PastYear);
    q.offset = 1;
    provider.search(&q).await.unwrap();
    let r = &fake.requests()[0];
    let p = |k: &str| r.params.get(k).map(String::as_str);
    assert_eq!(r.path, "/search");
    assert_eq!(p("q"), Some("lakebase"));
    assert_eq!(p("format"), Some("json"));
    assert_eq!(p("pageno"), Some("2"));
    assert_eq!(p("time_range"), Some("year"));
    assert_eq!(p("language"), Some("en"));
    assert_eq!(p("categories"), Some("general"));
    assert_eq!(r.token, None, "no Brave key goes to SearXNG");
}

#[test]
fn missing_key_or_url_says_what_to_set_and_names_real_flags() {
    let c = AppConfig::default();
    let err = search::provider(ProviderKind::Brave, &c.search, &Env::new()).unwrap_err();
    assert!(matches!(err, SearchError::NotConfigured { .. }));
    let msg = err.to_string();
    assert!(msg.contains("set BRAVE_API_KEY"), "{msg}");
    assert!(
        msg.contains("--search-provider") && msg.contains("wikipedia needs no key"),
        "{msg}"
    );
    let err = search::provider(ProviderKind::Searxng, &c.search, &Env::new()).unwrap_err();
    assert!(err.to_string().contains("set SEARXNG_URL"), "{err}");
    // Nothing set up and nothing named: Wikipedia, which needs nothing.
    let provider = search::from_config(&c.search, &Env::new()).unwrap();
    assert_eq!(provider.kind(), ProviderKind::Wikipedia);
}

#[test]
fn search_settings_are_validated() {
    let err = load_str(
        "search:\n  brave:\n    requests_per_second: 0\n    default_result_count: 80\n    freshness: pz\n",
        Path::new("app.yaml"),
        &Env::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("search.brave.freshness"), "{err}");
    let err = load_str(
        "search:\n  brave:\n    requests_per_second: 0\n    default_result_count: 80\n    country: germany\n",
        Path::new("app.yaml"),
        &Env::new(),
    )
    .unwrap_err()
    .to_string();
    insta::assert_snapshot!("search_ranges", err);
    let err = load_str(
        "",
        Path::new("app.yaml"),
        &[("BRAVE_BASE_URL".to_string(), "ftp://x".to_string())].into(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("search.brave.base_url (set by environment variable BRAVE_BASE_URL)"),
        "{err}"
    );
}

#[tokio::test]
async fn dra_search_prints_hits_as_text_and_json() {
    let fake = FakeSearch::start().await;
    let out = Dra::new(["search", "lakebase postgres", "--count", "5"])
        .env("BRAVE_BASE_URL", &fake.url)
        .env("BRAVE_API_KEY", BRAVE_KEY)
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    insta::assert_snapshot!("dra_search_text", out.stdout);
    assert_eq!(
        fake.requests()[0].params.get("count").map(String::as_str),
        Some("5")
    );

    let out = Dra::new(["search", "lakebase postgres", "--json", "--any-time"])
        .env("BRAVE_BASE_URL", &fake.url)
        .env("BRAVE_API_KEY", BRAVE_KEY)
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["provider"], "brave");
    assert_eq!(v["hits"].as_array().unwrap().len(), 4);
    insta::assert_snapshot!("dra_search_json", out.stdout);
    assert_eq!(fake.requests()[1].params.get("freshness"), None);
}

#[tokio::test]
async fn dra_search_with_brave_but_no_key_fails_with_exit_9_and_says_what_to_set() {
    let out = Dra::new(["search", "--provider", "brave", "anything"])
        .run()
        .await;
    assert_eq!(out.code, 9, "{out:?}");
    assert!(out.stderr.contains("set BRAVE_API_KEY"), "{}", out.stderr);
    assert!(out.stderr.contains("--search-provider"), "{}", out.stderr);
}

#[tokio::test]
async fn dra_search_with_a_refused_key_exits_9_without_printing_it() {
    let fake = FakeSearch::start().await;
    // Every library at debug too (a filter, not a bare level): none may print the key.
    let out = Dra::new(["--log-level", "debug,dra=debug", "search", "anything"])
        .env("BRAVE_BASE_URL", &fake.url)
        .env("BRAVE_API_KEY", "BSA-wrong-s3cr3t")
        .run()
        .await;
    assert_eq!(out.code, 9, "{out:?}");
    assert!(out.stderr.contains("BRAVE_API_KEY"), "{}", out.stderr);
    assert!(!out.stderr.contains("s3cr3t") && !out.stdout.contains("s3cr3t"));
}

#[tokio::test]
async fn config_show_redacts_the_brave_key() {
    let out = Dra::new(["config", "show"])
        .env("BRAVE_API_KEY", "BSA-very-s3cr3t-key")
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(
        out.stdout.contains("api_key: '[REDACTED]'"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("s3cr3t"), "{}", out.stdout);
}

// --- Wikipedia ---------------------------------------------------------------------------

fn wikipedia(fake: &FakeWikipedia, yaml: &str) -> Arc<dyn SearchProvider> {
    let (c, env) = fake.config(yaml);
    let provider = search::from_config(&c.search, &env).expect("provider");
    assert_eq!(
        provider.kind(),
        ProviderKind::Wikipedia,
        "auto, with no key"
    );
    provider
}

#[tokio::test]
async fn wikipedia_request_asks_for_json_articles_and_names_dra() {
    let fake = FakeWikipedia::start().await;
    let provider = wikipedia(&fake, "");
    let mut q = query("river delta wetlands");
    q.count = 2;
    q.offset = 1;
    provider.search(&q).await.unwrap();

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    let p = |k: &str| r.params.get(k).map(String::as_str);
    assert_eq!(p("action"), Some("query"));
    assert_eq!(p("list"), Some("search"));
    assert_eq!(p("srsearch"), Some("river delta wetlands"));
    assert_eq!(p("srlimit"), Some("2"));
    assert_eq!(p("sroffset"), Some("2"), "page 1 of 2 starts at result 2");
    assert_eq!(p("srnamespace"), Some("0"));
    assert_eq!(p("format"), Some("json"));
    assert_eq!(p("formatversion"), Some("2"));
    assert_eq!(p("utf8"), Some("1"));
    assert!(
        !r.params.contains_key("freshness") && !r.params.contains_key("country"),
        "Wikipedia has no such filters: {:?}",
        r.params
    );
    let agent = r.user_agent.as_deref().unwrap_or_default();
    assert!(agent.starts_with("dra/") && agent.contains('('), "{agent}");
}

#[tokio::test]
async fn wikipedia_hits_are_plain_text_at_the_article_urls() {
    let fake = FakeWikipedia::start().await;
    let hits = wikipedia(&fake, "")
        .search(&query("delta wetlands"))
        .await
        .unwrap();
    let titles: Vec<&str> = hits.iter().map(|h| h.title.as_str()).collect();
    assert_eq!(titles, ["River delta", "Mekong Delta", "Wetland"]);
    assert_eq!(hits.iter().map(|h| h.rank).collect::<Vec<_>>(), [1, 2, 3]);
    let first = &hits[0];
    assert_eq!(first.provider, ProviderKind::Wikipedia);
    assert_eq!(first.url.as_str(), fake.article_url("River delta"));
    assert!(
        first.snippet.starts_with(
            "A river delta is a landform shaped like a triangle, the \"Δ\" of its name"
        ),
        "{}",
        first.snippet
    );
    assert!(
        first.snippet.contains("a river's sediment & silt"),
        "{}",
        first.snippet
    );
    for h in &hits {
        assert!(
            !h.snippet.contains('<')
                && !h.snippet.contains("&quot;")
                && !h.snippet.contains("&#039;"),
            "{}",
            h.snippet
        );
    }

    // A title with characters a URL must escape links where the wiki has it, and the
    // article is there.
    let hits = wikipedia(&fake, "")
        .search(&query("programming language"))
        .await
        .unwrap();
    assert_eq!(hits[0].url.as_str(), format!("{}/wiki/C%2B%2B", fake.url));
    let page = reqwest::get(hits[0].url.clone()).await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(fake.fetches("C++"), 1);
}

#[test]
fn wikipedia_language_picks_the_wiki() {
    let c = load_str(
        "search:\n  provider: wikipedia\n  wikipedia:\n    language: de\n",
        Path::new("app.yaml"),
        &Env::new(),
    )
    .unwrap()
    .config;
    let wiki = WikipediaSearch::new(&c.search).unwrap();
    assert_eq!(
        wiki.article_url("Flussdelta").unwrap().as_str(),
        "https://de.wikipedia.org/wiki/Flussdelta"
    );
    let provider = search::from_config(&c.search, &Env::new()).unwrap();
    assert_eq!(provider.kind(), ProviderKind::Wikipedia);
}

#[tokio::test]
async fn wikipedia_429_with_retry_after_is_waited_out_then_succeeds() {
    let fake = FakeWikipedia::start().await;
    fake.fail_next(WikiFault::RateLimited("1".into()));
    let hits = wikipedia(&fake, "").search(&query("delta")).await.unwrap();
    assert!(!hits.is_empty());
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    let gap = reqs[1].at - reqs[0].at;
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
}

#[tokio::test]
async fn wikipedia_with_no_matching_article_is_empty_not_an_error() {
    let fake = FakeWikipedia::start().await;
    let hits = wikipedia(&fake, "").search(&query("zxqvbj")).await.unwrap();
    assert!(hits.is_empty(), "{hits:?}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn wikipedia_follows_continue_when_the_wiki_returns_fewer_than_asked() {
    let fake = FakeWikipedia::start().await;
    fake.max_results_per_request(2);
    let mut q = query("delta wetlands");
    q.count = 3;
    let hits = wikipedia(&fake, "").search(&q).await.unwrap();
    assert_eq!(hits.iter().map(|h| h.rank).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(hits[2].title, "Wetland");
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    let p = |i: usize, k: &str| reqs[i].params.get(k).cloned();
    assert_eq!(p(1, "sroffset").as_deref(), Some("2"));
    assert_eq!(
        p(1, "continue").as_deref(),
        Some("-||"),
        "continue sent back"
    );
    assert_eq!(
        p(1, "srlimit").as_deref(),
        Some("1"),
        "only what is missing"
    );
}

#[tokio::test]
async fn wikipedia_malformed_json_and_api_errors_are_clear_errors() {
    let fake = FakeWikipedia::start().await;
    let provider = wikipedia(&fake, "");
    fake.fail_next(WikiFault::Truncated);
    let err = provider.search(&query("delta")).await.unwrap_err();
    assert!(matches!(err, SearchError::Decode { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("wikipedia sent a response dra cannot read")
            && msg.contains("application/json"),
        "{msg}"
    );
    assert_eq!(fake.requests().len(), 1, "a bad body is not retried");

    let err = provider.search(&query("   ")).await.unwrap_err();
    assert!(
        matches!(&err, SearchError::Rejected { code, .. } if code == "missingparam"),
        "{err:?}"
    );
    assert!(err.to_string().contains("srsearch"), "{err}");
}

#[tokio::test]
async fn wikipedia_refuses_a_library_user_agent_and_the_error_says_what_to_set() {
    let fake = FakeWikipedia::start().await;
    let provider = wikipedia(
        &fake,
        "search:\n  retries: 2\n  wikipedia:\n    user_agent: reqwest/0.12\n",
    );
    let err = provider.search(&query("delta")).await.unwrap_err();
    assert!(matches!(err, SearchError::Unauthorized { .. }), "{err:?}");
    assert!(
        err.to_string().contains("search.wikipedia.user_agent"),
        "{err}"
    );
    assert_eq!(fake.requests().len(), 1, "403 is not retried");
}

#[test]
fn wikipedia_settings_are_validated() {
    let err = load_str(
        "search:\n  wikipedia:\n    language: 'en.evil.com/'\n    base_url: ftp://x\n    requests_per_second: 0\n    user_agent: ''\n",
        Path::new("app.yaml"),
        &Env::new(),
    )
    .unwrap_err()
    .to_string();
    for key in [
        "search.wikipedia.language",
        "search.wikipedia.base_url",
        "search.wikipedia.requests_per_second",
        "search.wikipedia.user_agent",
    ] {
        assert!(err.contains(key), "{key}: {err}");
    }
    let err = load_str(
        "search:\n  provider: duckduckgo\n",
        Path::new("app.yaml"),
        &Env::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("search.provider") && err.contains("wikipedia") && err.contains("auto"),
        "{err}"
    );
}

#[tokio::test]
async fn dra_search_without_any_setup_searches_wikipedia_and_says_so() {
    let fake = FakeWikipedia::start().await;
    let out = Dra::new(["search", "delta wetlands", "--json"])
        .env("WIKIPEDIA_BASE_URL", &fake.url)
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(
        out.stderr
            .contains("no BRAVE_API_KEY or SEARXNG_URL: searching Wikipedia (keyless"),
        "{}",
        out.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["provider"], "wikipedia");
    assert_eq!(v["hits"][0]["url"], fake.article_url("River delta"));

    // Named outright, even next to a Brave key: no notice.
    let out = Dra::new(["search", "--search-provider", "wikipedia", "delta"])
        .env("WIKIPEDIA_BASE_URL", &fake.url)
        .env("BRAVE_API_KEY", BRAVE_KEY)
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(!out.stderr.contains("keyless"), "{}", out.stderr);
    assert!(out.stdout.contains("River delta"), "{}", out.stdout);
}

#[tokio::test]
async fn a_hyphenated_title_links_as_the_wiki_writes_it() {
    let fake = FakeWikipedia::start().await;
    fake.set_articles(vec![Article::new(
        "Sodium-ion battery",
        &["A sodium-ion battery uses sodium ions as charge carriers."],
    )]);
    let hits = wikipedia(&fake, "")
        .search(&query("sodium battery"))
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(
        hits[0].url.as_str(),
        format!("{}/wiki/Sodium-ion_battery", fake.url)
    );
}
