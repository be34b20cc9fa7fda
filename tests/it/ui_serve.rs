//! How `dra serve` serves the browser UI: the built-in `static/` at `/` with content types,
//! revalidation and a CSP; client-side routes get `index.html`; API paths keep their
//! routes and their JSON 404s; `--static-dir` serves a directory instead;
//! `SERVE_STATIC=false` turns the UI off.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::Dra;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::test::TestRequest;
use dra::serve::{AppState, IdentityMode, RateLimits, RateLimitsConfig, StaticUi};
use serde_json::Value;

async fn app(
    ui: StaticUi,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    // Default rate limits on: the UI's files never count against them.
    let state = Arc::new(AppState {
        ui,
        ..AppState::new(
            None,
            IdentityMode::Development {
                local_user: "ui@example.com".into(),
            },
        )
    });
    crate::support::serve::app(state).await
}

struct Answer {
    status: StatusCode,
    headers: actix_web::http::header::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(&name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn call<S, B>(service: &S, req: TestRequest) -> Answer
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (status, headers, body) = crate::support::serve::send(service, req, None).await;
    Answer {
        status,
        headers,
        body,
    }
}

fn get(uri: &str) -> TestRequest {
    TestRequest::get().uri(uri)
}

#[actix_web::test]
async fn the_ui_is_served_at_the_root_with_types_revalidation_and_a_csp() {
    let s = app(StaticUi::Embedded).await;
    let index = call(&s, get("/")).await;
    assert_eq!(index.status, StatusCode::OK);
    assert_eq!(
        index.header(header::CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    assert!(index
        .body
        .contains(r#"<script type="module" src="/js/app.js">"#));
    assert!(index
        .header(header::CONTENT_SECURITY_POLICY)
        .contains("script-src 'self'"));
    assert_eq!(index.header(header::CACHE_CONTROL), "no-cache");
    assert_eq!(index.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    let etag = index.header(header::ETAG).to_string();
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");

    let again = call(
        &s,
        get("/").insert_header((header::IF_NONE_MATCH, etag.as_str())),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    let changed = call(
        &s,
        get("/").insert_header((header::IF_NONE_MATCH, "\"other\"")),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK);

    for (path, kind) in [
        ("/app.css", "text/css"),
        ("/js/app.js", "javascript"),
        ("/favicon.svg", "image/svg+xml"),
    ] {
        let a = call(&s, get(path)).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert!(a.header(header::CONTENT_TYPE).contains(kind), "{path}");
        assert!(!a.header(header::ETAG).is_empty(), "{path}");
    }

    let head = call(
        &s,
        TestRequest::default()
            .method(actix_web::http::Method::HEAD)
            .uri("/"),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    let post = call(&s, TestRequest::post().uri("/")).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
}

/// Every file index.html links and every module a module imports is served.
#[actix_web::test]
async fn every_asset_the_ui_references_is_served() {
    let s = app(StaticUi::Embedded).await;
    let static_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
    let index = std::fs::read_to_string(static_dir.join("index.html")).unwrap();
    let attr = regex::Regex::new(r#"(?:src|href)="(/[^"]*)""#).unwrap();
    let mut paths: Vec<String> = attr
        .captures_iter(&index)
        .map(|c| c[1].to_string())
        .collect();
    let import = regex::Regex::new(r#"from "\./([\w./-]+)""#).unwrap();
    for entry in std::fs::read_dir(static_dir.join("js")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        paths.extend(
            import
                .captures_iter(&text)
                .map(|c| format!("/js/{}", &c[1])),
        );
    }
    assert!(paths.len() >= 6, "{paths:?}");
    for path in paths {
        let a = call(&s, get(&path)).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert!(!a.body.is_empty(), "{path}");
    }
}

#[actix_web::test]
async fn client_routes_get_the_index_and_api_paths_keep_their_answers() {
    let s = app(StaticUi::Embedded).await;
    let route = call(&s, get("/c/0b7d8f5e-9a62-4c1e-8f55-2d7e1c3b4a90")).await;
    assert_eq!(route.status, StatusCode::OK);
    assert!(route.body.contains("<title>Deep Research</title>"));

    let missing = call(&s, get("/missing.js")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    for path in ["/api/v1/nope", "/api/nope", "/v1/nope", "/api"] {
        let a = call(&s, get(path)).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        let body: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
        assert_eq!(body["code"], "NOT_FOUND", "{path}: {}", a.body);
    }
    // Routes win over the UI: no database here, so the chats route says 503.
    let chats = call(&s, get("/api/v1/chats")).await;
    assert_eq!(chats.status, StatusCode::SERVICE_UNAVAILABLE);
    for path in [
        "/%2e%2e/Cargo.toml",
        "/js/..%2f..%2fCargo.toml",
        "/.git/config",
    ] {
        let a = call(&s, get(path)).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[actix_web::test]
async fn the_ui_files_are_not_rate_limited() {
    // A budget of 10 requests a minute per user.
    let limits = RateLimitsConfig {
        requests_per_minute: 10,
        ..RateLimitsConfig::default()
    };
    let state = Arc::new(AppState {
        ui: StaticUi::Embedded,
        limits: RateLimits::from_config(&limits).map(Arc::new),
        ..AppState::new(
            None,
            IdentityMode::Development {
                local_user: "ui@example.com".into(),
            },
        )
    });
    let s = crate::support::serve::app(state).await;
    for _ in 0..30 {
        assert_eq!(call(&s, get("/app.css")).await.status, StatusCode::OK);
    }
    let mut limited = false;
    for _ in 0..30 {
        limited |=
            call(&s, get("/api/v1/preferences")).await.status == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(limited, "the API is still limited");
}

#[actix_web::test]
async fn without_the_ui_only_the_api_answers() {
    let s = app(StaticUi::Off).await;
    assert_eq!(call(&s, get("/")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        call(&s, get("/app.css")).await.status,
        StatusCode::NOT_FOUND
    );
    // The API is unaffected (health without a database says so, with 200).
    assert_eq!(call(&s, get("/health")).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn a_directory_is_served_as_a_single_page_app() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<h1>React build</h1>").unwrap();
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/index-3f2a.js"), "export {};").unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        dir.path().join("leak.txt"),
    )
    .unwrap();

    let s = app(StaticUi::Dir(dir.path().to_path_buf())).await;
    let index = call(&s, get("/")).await;
    assert_eq!(index.status, StatusCode::OK);
    assert_eq!(index.body, "<h1>React build</h1>");
    assert!(index.header(header::CONTENT_TYPE).starts_with("text/html"));
    let js = call(&s, get("/assets/index-3f2a.js")).await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.header(header::CONTENT_TYPE).contains("javascript"));
    assert!(!js.header(header::ETAG).is_empty());
    let route = call(&s, get("/chat/123")).await;
    assert_eq!(route.body, "<h1>React build</h1>");
    assert_eq!(
        call(&s, get("/assets/missing.js")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&s, get("/leak.txt")).await.status,
        StatusCode::NOT_FOUND,
        "a symlink out of the directory"
    );
    assert_eq!(
        call(&s, get("/api/v1/nope")).await.status,
        StatusCode::NOT_FOUND
    );
}

/// Starts `dra serve` with `args` and `env`; returns it and its URL once it accepts.
async fn serve(args: &[&str], env: &[(&str, &str)]) -> (tokio::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let mut all = vec!["serve", "--host", "127.0.0.1", "--port", &port];
    all.extend_from_slice(args);
    let mut dra = Dra::new(all)
        .env("DRA_USER", "ui@example.com")
        .env_remove("SERVE_STATIC");
    for (k, v) in env {
        dra = dra.env(k, v);
    }
    let (child, _home) = dra.spawn();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while reqwest::get(format!("{url}/health")).await.is_err() {
        assert!(Instant::now() < deadline, "dra serve did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, url)
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_flags_choose_the_ui() {
    let (mut built_in, url) = serve(&[], &[]).await;
    let index = reqwest::get(&url).await.unwrap();
    assert_eq!(index.status(), 200);
    assert!(index.text().await.unwrap().contains("/js/app.js"));
    built_in.kill().await.unwrap();

    let (mut off, url) = serve(&[], &[("SERVE_STATIC", "false")]).await;
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 404);
    off.kill().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<p>dev build</p>").unwrap();
    let (mut from_dir, url) = serve(&["--static-dir", dir.path().to_str().unwrap()], &[]).await;
    let page = reqwest::get(format!("{url}/some/route")).await.unwrap();
    assert_eq!(page.text().await.unwrap(), "<p>dev build</p>");
    from_dir.kill().await.unwrap();

    let empty = tempfile::tempdir().unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        Dra::new([
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "1",
            "--static-dir",
            empty.path().to_str().unwrap(),
        ])
        .env("DRA_USER", "ui@example.com")
        .run(),
    )
    .await
    .expect("dra serve refuses a --static-dir without index.html at once");
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("no index.html"), "{}", out.stderr);
}

/// This machine's address on its default route, if it has one besides loopback.
fn non_loopback_address() -> Option<std::net::IpAddr> {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // Connecting a UDP socket sends nothing; it only picks the outgoing interface.
    probe.connect("10.255.255.255:9").ok()?;
    let ip = probe.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Starts `dra serve --port P` without `--host` and returns its first stderr line.
async fn serve_without_host(env: &[(&str, &str)]) -> (tokio::process::Child, u16, String) {
    use tokio::io::AsyncBufReadExt as _;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut dra =
        Dra::new(["serve", "--port", &port.to_string()]).env("DRA_USER", "ui@example.com");
    for (k, v) in env {
        dra = dra.env(k, v);
    }
    let (mut child, _home) = dra.spawn();
    let stderr = child.stderr.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match lines.next_line().await.unwrap() {
                Some(l) if l.starts_with("dra serve on") => return l,
                Some(_) => continue,
                None => panic!("dra serve ended without a startup line"),
            }
        }
    })
    .await
    .expect("a startup line");
    let url = format!("http://127.0.0.1:{port}/health");
    let deadline = Instant::now() + Duration::from_secs(15);
    while reqwest::get(&url).await.is_err() {
        assert!(Instant::now() < deadline, "dra serve did not start: {line}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, port, line)
}

#[tokio::test(flavor = "multi_thread")]
async fn in_development_serve_listens_on_this_machine_only_unless_told() {
    let (mut local, port, line) = serve_without_host(&[]).await;
    assert!(
        line.starts_with(&format!(
            "dra serve on http://127.0.0.1:{port} (this machine only"
        )) && line.contains("--host 0.0.0.0"),
        "{line}"
    );
    let other = non_loopback_address();
    if let Some(ip) = other {
        assert!(
            tokio::net::TcpStream::connect((ip, port)).await.is_err(),
            "reachable from the network at {ip}:{port}"
        );
    }
    local.kill().await.unwrap();

    // As a Databricks App, the platform's proxy must reach it.
    let (mut app, port, line) = serve_without_host(&[("APP_ENV", "production")]).await;
    assert!(
        line.starts_with(&format!(
            "dra serve on http://0.0.0.0:{port} (all interfaces, in production"
        )),
        "{line}"
    );
    if let Some(ip) = other {
        assert!(tokio::net::TcpStream::connect((ip, port)).await.is_ok());
    }
    app.kill().await.unwrap();
}
