//! The page fetcher against a loopback page server: extraction, redirects, statuses and
//! retries, limits, charsets, PDF, unreadable pages, the single-flight cache, `dra fetch`.

mod support;

use std::time::Duration;

use dra::web::{ContentKind, FetchError, Fetcher, WebConfig};
use support::pages::{self, PageServer};
use support::Dra;

/// Fast limits: short pauses between retries, generous timeouts unless a test shrinks them.
fn fast() -> WebConfig {
    WebConfig {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        max_redirects: 5,
        retries: 2,
        retry_min_delay: Duration::from_millis(5),
        retry_max_delay: Duration::from_millis(20),
        ..WebConfig::default()
    }
}

fn fetcher(cfg: WebConfig) -> Fetcher {
    Fetcher::new(&cfg).expect("fetcher")
}

#[tokio::test]
async fn article_text_is_kept_and_boilerplate_dropped() {
    let server = PageServer::start().await;
    let page = fetcher(fast())
        .fetch(&server.url("/article"))
        .await
        .expect("article");
    for kept in pages::ARTICLE_PARAGRAPHS {
        assert!(page.text.contains(kept), "lost {kept:?} in:\n{}", page.text);
    }
    for dropped in pages::ARTICLE_BOILERPLATE {
        assert!(
            !page.text.contains(dropped),
            "kept {dropped:?} in:\n{}",
            page.text
        );
    }
    assert_eq!(
        page.title.as_deref(),
        Some("Delta wetlands are shrinking faster than expected")
    );
    assert_eq!(page.published.as_deref(), Some("2024-03-18T09:30:00Z"));
    assert_eq!(
        page.canonical_url.as_ref().map(|u| u.as_str()),
        Some("https://news.example.com/science/delta-wetlands")
    );
    assert_eq!(page.kind, ContentKind::Html);
    assert_eq!(page.content_type, "text/html");
    assert_eq!(page.charset.as_deref(), Some("UTF-8"));
    assert!(page.word_count > 100, "{}", page.word_count);
}

#[tokio::test]
async fn redirect_chain_is_followed_to_the_final_url() {
    let server = PageServer::start().await;
    let page = fetcher(fast())
        .fetch(&server.url("/redirect/3"))
        .await
        .expect("redirected page");
    assert_eq!(page.final_url.as_str(), server.url("/article"));
    assert_eq!(page.url.as_str(), server.url("/redirect/3"));
    assert!(page.text.contains(pages::ARTICLE_PARAGRAPHS[0]));
}

#[tokio::test]
async fn too_many_redirects_is_refused() {
    let server = PageServer::start().await;
    let err = fetcher(fast())
        .fetch(&server.url("/redirect/10"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::TooManyRedirects { limit: 5, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn not_found_is_an_http_status_without_retries() {
    let server = PageServer::start().await;
    let err = fetcher(fast())
        .fetch(&server.url("/status/404"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::HttpStatus { status: 404, .. }),
        "{err:?}"
    );
    assert_eq!(server.hits("/status/404"), 1);
}

#[tokio::test]
async fn server_error_is_retried_then_reported() {
    let server = PageServer::start().await;
    let f = fetcher(fast());
    for status in [500u16, 503] {
        let path = format!("/status/{status}");
        let err = f.fetch(&server.url(&path)).await.unwrap_err();
        assert!(
            matches!(err, FetchError::HttpStatus { status: s, .. } if s == status),
            "{err:?}"
        );
        assert_eq!(
            server.hits(&path),
            3,
            "{status}: one attempt plus two retries"
        );
    }
    // 501 says the server will never do this: one attempt.
    let err = f.fetch(&server.url("/status/501")).await.unwrap_err();
    assert!(
        matches!(err, FetchError::HttpStatus { status: 501, .. }),
        "{err:?}"
    );
    assert_eq!(server.hits("/status/501"), 1);
}

#[tokio::test]
async fn unavailable_then_ok_succeeds_on_retry() {
    let server = PageServer::start().await;
    let page = fetcher(fast())
        .fetch(&server.url("/flaky/1"))
        .await
        .expect("second attempt succeeds");
    assert!(page.text.contains(pages::ARTICLE_PARAGRAPHS[1]));
    assert_eq!(server.hits("/flaky/1"), 2);
}

#[tokio::test]
async fn slow_page_times_out() {
    let server = PageServer::start().await;
    let cfg = WebConfig {
        read_timeout: Duration::from_millis(100),
        request_timeout: Duration::from_millis(100),
        retries: 0,
        ..fast()
    };
    let err = fetcher(cfg)
        .fetch(&server.url("/slow/300"))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn body_that_stalls_times_out() {
    let server = PageServer::start().await;
    let cfg = WebConfig {
        read_timeout: Duration::from_millis(100),
        retries: 0,
        ..fast()
    };
    let err = fetcher(cfg)
        .fetch(&server.url("/stall/300"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Timeout { after, .. } if after == Duration::from_millis(100)),
        "{err:?}"
    );
}

#[tokio::test]
async fn body_over_the_cap_is_too_large() {
    let server = PageServer::start().await;
    let cfg = WebConfig {
        max_body_bytes: 64 * 1024,
        ..fast()
    };
    let f = fetcher(cfg);
    // Declared by Content-Length: refused before reading.
    let err = f.fetch(&server.url("/big/200000")).await.unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { limit: 65536, .. }),
        "{err:?}"
    );
    // Streamed with no length: reading stops at the cap.
    let err = f.fetch(&server.url("/stream/1000000")).await.unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { limit: 65536, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn latin1_page_is_decoded() {
    let server = PageServer::start().await;
    let page = fetcher(fast())
        .fetch(&server.url("/latin1"))
        .await
        .expect("latin-1 page");
    assert!(
        page.text
            .contains("Le café de la place ouvre à sept heures."),
        "{}",
        page.text
    );
    assert_eq!(page.title.as_deref(), Some("Café"));
    assert_eq!(page.charset.as_deref(), Some("windows-1252"));
}

#[tokio::test]
async fn pdf_text_is_extracted() {
    let server = PageServer::start().await;
    let page = fetcher(fast())
        .fetch(&server.url("/report.pdf"))
        .await
        .expect("pdf");
    assert_eq!(page.kind, ContentKind::Pdf);
    assert!(page.text.contains(pages::PDF_TEXT), "{:?}", page.text);
}

#[tokio::test]
async fn plain_text_passes_through() {
    let server = PageServer::start().await;
    let page = fetcher(fast())
        .fetch(&server.url("/plain.txt"))
        .await
        .expect("text");
    assert_eq!(page.kind, ContentKind::PlainText);
    assert_eq!(page.text, "Plain notes: the survey covered 42 stations.");
}

#[tokio::test]
async fn javascript_only_page_is_empty_content() {
    let server = PageServer::start().await;
    let err = fetcher(fast())
        .fetch(&server.url("/js-only"))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::EmptyContent { .. }), "{err:?}");
}

#[tokio::test]
async fn binary_files_are_unsupported() {
    let server = PageServer::start().await;
    let f = fetcher(fast());
    for path in ["/image.png", "/download.bin"] {
        let err = f.fetch(&server.url(path)).await.unwrap_err();
        assert!(
            matches!(err, FetchError::UnsupportedType { .. }),
            "{path}: {err:?}"
        );
    }
}

#[tokio::test]
async fn invalid_url_is_refused_without_a_request() {
    let err = fetcher(fast())
        .fetch("ftp://example.com/x")
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::InvalidUrl { .. }), "{err:?}");
}

#[tokio::test]
async fn concurrent_fetches_of_one_page_hit_the_server_once() {
    let server = PageServer::start().await;
    let f = fetcher(fast());
    let plain = server.url("/counted?b=2&a=1");
    // Same page after normalization: tracking parameters, order, fragment, scheme case.
    let decorated = server
        .url("/counted?a=1&utm_source=news&b=2&fbclid=xyz#comments")
        .replace("http://", "HTTP://");
    let (a, b) = tokio::join!(f.fetch(&plain), f.fetch(&decorated));
    let (a, b) = (a.expect("first"), b.expect("second"));
    assert_eq!(a.text, b.text);
    assert_eq!(server.hits("/counted"), 1);
    // Later calls are served from the cache too.
    f.fetch(&plain).await.expect("cached");
    assert_eq!(server.hits("/counted"), 1);
}

#[tokio::test]
async fn one_host_gets_at_most_max_per_host_requests_at_once() {
    let server = PageServer::start().await;
    let f = fetcher(WebConfig {
        max_per_host: 1,
        ..fast()
    });
    let urls: Vec<String> = (0..4).map(|i| server.url(&format!("/gauge/{i}"))).collect();
    let results = futures::future::join_all(urls.iter().map(|u| f.fetch(u))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(server.max_in_flight(), 1);
}

#[tokio::test]
async fn all_hosts_together_get_at_most_max_concurrent_requests() {
    let server = PageServer::start().await;
    let f = fetcher(WebConfig {
        max_concurrent: 1,
        max_per_host: 1,
        ..fast()
    });
    // Two host names for the same server count as two hosts.
    let a = server.url("/gauge/a");
    let b = server.url("/gauge/b").replace("127.0.0.1", "localhost");
    let (ra, rb) = tokio::join!(f.fetch(&a), f.fetch(&b));
    assert!(ra.is_ok() && rb.is_ok(), "{ra:?} {rb:?}");
    assert_eq!(server.max_in_flight(), 1);
}

#[tokio::test]
async fn requests_go_through_the_proxy_from_the_environment() {
    let proxy = PageServer::start().await;
    // `.invalid` never resolves, so only a proxied request can succeed.
    let out = Dra::new(["fetch", "http://news.invalid/article", "--json"])
        .env("HTTP_PROXY", &proxy.base)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(proxy.hits("/article"), 1);
}

#[tokio::test]
async fn dra_fetch_prints_metadata_and_truncated_text() {
    let server = PageServer::start().await;
    let out = Dra::new(["fetch", &server.url("/article"), "--max-chars", "120"])
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    for expected in [
        "Title:        Delta wetlands are shrinking faster than expected",
        "Canonical:    https://news.example.com/science/delta-wetlands",
        "Published:    2024-03-18T09:30:00Z",
        "Content type: text/html; charset=UTF-8",
        "more characters; --max-chars 0 shows all",
    ] {
        assert!(
            out.stdout.contains(expected),
            "{expected:?} missing:\n{}",
            out.stdout
        );
    }
    assert!(
        !out.stdout.contains(pages::ARTICLE_PARAGRAPHS[2]),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn dra_fetch_json_is_the_whole_page() {
    let server = PageServer::start().await;
    let out = Dra::new(["fetch", &server.url("/redirect/2"), "--json"])
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["final_url"], server.url("/article"));
    assert_eq!(v["kind"], "html");
    assert_eq!(v["published"], "2024-03-18T09:30:00Z");
    assert!(v["text"]
        .as_str()
        .is_some_and(|t| t.contains(pages::ARTICLE_PARAGRAPHS[2])));
}

#[tokio::test]
async fn dra_fetch_failures_have_exit_code_8() {
    let server = PageServer::start().await;
    let out = Dra::new(["fetch", &server.url("/status/404")]).run().await;
    assert_eq!(out.code, 8, "{out:?}");
    assert!(out.stderr.contains("HTTP 404"), "{}", out.stderr);
    let out = Dra::new(["fetch", "not a url"]).run().await;
    assert_eq!(out.code, 2, "{out:?}");
}

#[tokio::test]
async fn dra_fetch_json_shape_is_stable() {
    let server = PageServer::start().await;
    let out = Dra::new(["fetch", &server.url("/plain.txt"), "--json"])
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    insta::with_settings!({filters => vec![(r"http://127\.0\.0\.1:\d+", "[server]")]}, {
        insta::assert_snapshot!("fetch_json_plain_text", out.stdout);
    });
}
