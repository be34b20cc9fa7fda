//! The page fetcher against a loopback page server: extraction, redirects, statuses and
//! retries, limits, charsets, PDF, unreadable pages, the single-flight cache, `dra fetch`,
//! the address guard.

use std::time::Duration;

use crate::support::pages::{self, PageServer};
use crate::support::Dra;
use dra::web::{AddressClass, BlockReason, ContentKind, FetchError, Fetcher, WebConfig};

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
        allowed_hosts: pages::loopback_hosts(),
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
async fn a_timed_out_page_is_not_retried() {
    let server = PageServer::start().await;
    let cfg = WebConfig {
        read_timeout: Duration::from_millis(100),
        request_timeout: Duration::from_millis(100),
        retries: 2,
        ..fast()
    };
    let err = fetcher(cfg)
        .fetch(&server.url("/held/never"))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Timeout { .. }), "{err:?}");
    assert_eq!(
        server.hits("/held/never"),
        1,
        "a timeout is not retried: each retry would wait out the timeout again"
    );
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

// The address guard: URLs, redirect hops and resolved names that reach loopback, private
// networks or cloud metadata are refused unless `web.allowed_hosts` lists them.

/// `fast()` without the loopback allowance the page servers need.
fn guarded(allowed: &[String]) -> WebConfig {
    WebConfig {
        allowed_hosts: allowed
            .iter()
            .map(|h| h.parse().expect("allowed host"))
            .collect(),
        ..fast()
    }
}

/// `127.0.0.1:PORT` of a page server: an allowlist entry for exactly that server.
fn host_port(server: &PageServer) -> String {
    server.base.trim_start_matches("http://").to_string()
}

fn port(server: &PageServer) -> String {
    host_port(server)
        .rsplit_once(':')
        .expect("port")
        .1
        .to_string()
}

#[tokio::test]
async fn literal_non_public_addresses_are_blocked_by_default() {
    let server = PageServer::start().await;
    let f = fetcher(guarded(&[]));
    let err = f.fetch(&server.url("/article")).await.unwrap_err();
    assert!(
        matches!(
            err.block_reason(),
            Some(BlockReason::Address {
                class: AddressClass::Loopback,
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(server.hits("/article"), 0);
    let p = port(&server);
    for (url, class) in [
        (format!("http://[::1]:{p}/article"), AddressClass::Loopback),
        (
            format!("http://[::ffff:127.0.0.1]:{p}/article"),
            AddressClass::Loopback,
        ),
        (
            format!("http://2130706433:{p}/article"),
            AddressClass::Loopback,
        ),
        ("http://10.0.0.5/".into(), AddressClass::Private),
        ("http://192.168.1.1/".into(), AddressClass::Private),
        ("http://[fd00::1]/".into(), AddressClass::Private),
        ("http://100.64.0.1/".into(), AddressClass::SharedCgnat),
        ("http://[fe80::1]/".into(), AddressClass::LinkLocal),
        (
            "http://169.254.169.254/latest/meta-data/".into(),
            AddressClass::CloudMetadata,
        ),
        (
            "http://[2002:a9fe:a9fe::]/".into(),
            AddressClass::CloudMetadata,
        ),
        ("http://0.0.0.0/".into(), AddressClass::Unspecified),
        ("http://224.0.0.1/".into(), AddressClass::Multicast),
        ("http://255.255.255.255/".into(), AddressClass::Broadcast),
    ] {
        let err = f.fetch(&url).await.unwrap_err();
        assert!(
            matches!(err.block_reason(), Some(BlockReason::Address { class: c, .. }) if *c == class),
            "{url}: {err:?}"
        );
        assert!(!err.is_transient());
    }
    assert_eq!(server.hits("/article"), 0);
}

#[tokio::test]
async fn a_loopback_name_is_blocked_by_default() {
    // Names that resolve to loopback are refused by the resolver (unit tests in
    // web::guard); `localhost` is refused before it is looked up.
    let server = PageServer::start().await;
    let url = format!("http://localhost:{}/article", port(&server));
    let err = fetcher(guarded(&[])).fetch(&url).await.unwrap_err();
    let Some(BlockReason::LoopbackName { host }) = err.block_reason() else {
        panic!("{err:?}");
    };
    assert_eq!(host, "localhost");
    assert!(
        err.to_string().contains("localhost is a loopback name"),
        "{err}"
    );
    assert_eq!(server.hits("/article"), 0);
}

#[tokio::test]
async fn allowed_hosts_let_exactly_the_listed_hosts_through() {
    let server = PageServer::start().await;
    let url = format!("http://localhost:{}/article", port(&server));
    fetcher(guarded(&["localhost".into()]))
        .fetch(&url)
        .await
        .expect("listed name");
    fetcher(guarded(&[host_port(&server)]))
        .fetch(&server.url("/plain.txt"))
        .await
        .expect("listed address and port");
    fetcher(guarded(&["127.0.0.0/8".into()]))
        .fetch(&server.url("/js-only"))
        .await
        .expect_err("empty page, but fetched");
    assert_eq!(server.hits("/js-only"), 1);
    let other_port = format!("127.0.0.1:{}", port(&server).parse::<u16>().unwrap() ^ 1);
    let err = fetcher(guarded(&[other_port]))
        .fetch(&server.url("/latin1"))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Blocked { .. }), "{err:?}");
    assert_eq!(server.hits("/latin1"), 0);
}

#[tokio::test]
async fn allow_private_addresses_reaches_loopback_but_not_metadata() {
    let server = PageServer::start().await;
    let f = fetcher(WebConfig {
        allow_private_addresses: true,
        ..guarded(&[])
    });
    f.fetch(&server.url("/article")).await.expect("loopback");
    let err = f
        .fetch("http://169.254.169.254/latest/meta-data/")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.block_reason(),
            Some(BlockReason::Address {
                class: AddressClass::CloudMetadata,
                ..
            })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_redirect_to_a_host_not_allowed_is_blocked() {
    let allowed = PageServer::start().await;
    let other = PageServer::start().await;
    let f = fetcher(guarded(&[host_port(&allowed)]));
    f.fetch(&allowed.url("/article"))
        .await
        .expect("the allowed server");

    let target = other.url("/article");
    let via = allowed.url(&format!("/redirect-to?url={target}"));
    let err = f.fetch(&via).await.unwrap_err();
    let FetchError::Blocked { url, reason } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(url.as_str(), target, "the hop that was refused");
    assert!(
        matches!(
            **reason,
            BlockReason::Address {
                class: AddressClass::Loopback,
                ..
            }
        ),
        "{reason:?}"
    );

    // The same server by a name that is loopback by definition: refused before any lookup.
    let by_name = format!("http://localhost:{}/article", port(&other));
    let via = allowed.url(&format!("/redirect-to?url={by_name}"));
    let err = f.fetch(&via).await.unwrap_err();
    assert!(
        matches!(err.block_reason(), Some(BlockReason::LoopbackName { host }) if host == "localhost"),
        "{err:?}"
    );
    assert!(!err.is_transient(), "not retried");
    assert_eq!(allowed.hits("/redirect-to"), 2, "one attempt each");
    assert_eq!(other.hits("/article"), 0);
}

#[tokio::test]
async fn redirects_to_other_schemes_or_with_credentials_are_blocked() {
    let server = PageServer::start().await;
    let f = fetcher(fast());
    let err = f
        .fetch(&server.url("/redirect-to?url=file:///etc/passwd"))
        .await
        .unwrap_err();
    assert!(
        matches!(err.block_reason(), Some(BlockReason::Scheme(s)) if s == "file"),
        "{err:?}"
    );
    let with_password = server
        .url("/article")
        .replace("http://", "http://me:s3cret@");
    let err = f
        .fetch(&server.url(&format!("/redirect-to?url={with_password}")))
        .await
        .unwrap_err();
    assert!(
        matches!(err.block_reason(), Some(BlockReason::Credentials)),
        "{err:?}"
    );
    assert!(!err.to_string().contains("s3cret"), "{err}");
    assert_eq!(server.hits("/article"), 0);
}

#[tokio::test]
async fn urls_with_credentials_or_other_schemes_are_refused_without_a_request() {
    let server = PageServer::start().await;
    let f = fetcher(fast());
    let with_password = server
        .url("/article")
        .replace("http://", "http://me:s3cret@");
    let err = f.fetch(&with_password).await.unwrap_err();
    assert!(
        matches!(err.block_reason(), Some(BlockReason::Credentials)),
        "{err:?}"
    );
    assert!(!err.to_string().contains("s3cret"), "{err}");
    let err = f.fetch("file:///etc/passwd").await.unwrap_err();
    assert!(matches!(err, FetchError::InvalidUrl { .. }), "{err:?}");
    assert_eq!(server.hits("/article"), 0);
}

#[tokio::test]
async fn dra_fetch_reports_a_blocked_address_with_exit_code_8() {
    for (url, expected) in [
        (
            "http://169.254.169.254/latest/meta-data/",
            "blocked: 169.254.169.254 is a cloud metadata address",
        ),
        (
            "http://10.0.0.5/admin",
            "blocked: 10.0.0.5 is a private address (to allow it, list it in web.allowed_hosts)",
        ),
    ] {
        let out = Dra::new(["fetch", url]).run().await;
        assert_eq!(out.code, 8, "{out:?}");
        assert!(out.stderr.contains(expected), "{}", out.stderr);
    }
}

#[tokio::test]
async fn a_redirect_to_a_local_file_is_reported_readably_not_redacted() {
    // Issue 19 #13: the scrubber took `passwd: blocked` for a password and printed
    // "[REDACTED] scheme …".
    let server = PageServer::start().await;
    let out = Dra::new(["fetch", &server.url("/redirect-to?url=file:///etc/passwd")])
        .run()
        .await;
    assert_eq!(out.code, 8, "{out:?}");
    assert!(
        out.stderr
            .contains("file:///etc/passwd: blocked: scheme `file` is not http or https"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("REDACTED"), "{}", out.stderr);
}

#[tokio::test]
async fn loopback_names_are_refused_even_through_a_proxy() {
    // Issue 19 #8: behind HTTP_PROXY the resolver never sees the name, so `localhost` was
    // handed to the proxy, which reaches its own loopback.
    let proxy = PageServer::start().await;
    let shipped = |url: &str| {
        Dra::new(["fetch", url])
            .env(
                "APP_CONFIG_PATH",
                crate::support::cli::config_path("app.yaml"),
            )
            .env("HTTP_PROXY", &proxy.base)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
    };
    for url in [
        "http://localhost/article",
        "http://localhost./article",
        "http://LocalHost.LocalDomain/article",
        "http://ip6-localhost/article",
        "http://ip6-loopback:8080/article",
        "http://admin.localhost/article",
        // A redirect, by the proxy's answer, to a loopback name.
        "http://news.invalid/redirect-to?url=http://localhost/article",
    ] {
        let out = shipped(url).run().await;
        assert_eq!(out.code, 8, "{url}: {out:?}");
        assert!(
            out.stderr.contains("is a loopback name"),
            "{url}: {}",
            out.stderr
        );
    }
    assert_eq!(
        proxy.hits("/article"),
        0,
        "nothing loopback reached the proxy"
    );
    assert_eq!(
        proxy.hits("/redirect-to"),
        1,
        "the public hop went through it"
    );
    // A public name still goes through the proxy.
    let out = shipped("http://news.invalid/article").run().await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(proxy.hits("/article"), 1);
}
