//! A real Chromium for UI tests: Debian's `chromium` driven through `chromedriver` with
//! fantoccini, the browser's console collected (any error fails the test), screenshots
//! saved as artifacts, and `dra serve` started on the fakes and a migrated database.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;

use crate::support::world::Fakes;
use crate::support::{Dra, TestDb};

/// How long to wait for anything the UI does.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// The chromedriver binary, installed on first use by `scripts/test-chromium.sh` (apt-get
/// as root or with sudo). Panics with the script's reason when it cannot be installed:
/// the browser tests never skip silently.
pub fn chromedriver() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-chromium.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .stderr(Stdio::piped())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "Chromium and chromedriver are needed for the UI tests and could not be installed \
             ({} exited with {}):\n{stderr}\nInstall them with: apt-get install chromium chromium-driver",
            script.display(),
            out.status
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}

/// Where screenshots go: `<target dir>/ui-artifacts/`.
pub fn artifacts_dir() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_dra"));
    let target = bin
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| Path::new("target"));
    let dir = target.join("ui-artifacts");
    std::fs::create_dir_all(&dir).expect("create ui-artifacts");
    dir
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// Polls `probe` until it is true or `PATIENCE` runs out.
pub async fn until<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !probe().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `dra serve` on a free port, against the fakes and a migrated throwaway database.
pub struct UiServer {
    pub url: String,
    pub db: TestDb,
    pub fakes: Fakes,
    pub user: String,
    child: tokio::process::Child,
    _home: tempfile::TempDir,
    log: Arc<Mutex<String>>,
}

impl UiServer {
    pub async fn start() -> UiServer {
        Self::start_with(&[], &[]).await
    }

    /// With extra `dra serve` arguments and environment.
    pub async fn start_with(args: &[&str], env: &[(&str, &str)]) -> UiServer {
        let server = Self::launch(Fakes::start().await, args, env).await;
        let index = reqwest::get(&server.url)
            .await
            .expect("GET /")
            .text()
            .await
            .unwrap_or_default();
        assert!(
            index.contains("/js/app.js"),
            "{} does not serve this UI at / (another checkout building into the same \
             CARGO_TARGET_DIR may have replaced it): {index}",
            env!("CARGO_BIN_EXE_dra")
        );
        server
    }

    /// `dra serve` on `fakes` with extra arguments and environment, once `/health` answers;
    /// whatever UI it serves.
    pub async fn launch(fakes: Fakes, args: &[&str], env: &[(&str, &str)]) -> UiServer {
        let db = TestDb::new().await;
        let migrated = Dra::new(["migrate"])
            .env("DATABASE_URL", db.url())
            .run()
            .await;
        assert!(migrated.ok(), "{migrated:?}");
        let user = "ui@example.com".to_string();
        let port = free_port();
        let port_arg = port.to_string();
        let mut all = vec!["serve", "--host", "127.0.0.1", "--port", &port_arg];
        all.extend_from_slice(args);
        let mut dra = fakes
            .dra(all)
            .env("DATABASE_URL", db.url())
            .env("DRA_USER", &user);
        for (k, v) in env {
            dra = dra.env(k, v);
        }
        let (mut child, home) = dra.spawn();
        // Drain the output (a full pipe would stall the server) and keep it for failures.
        let log = Arc::new(Mutex::new(String::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut l) = log.lock() {
                        l.push_str(&line);
                        l.push('\n');
                    }
                }
            });
        }
        let url = format!("http://127.0.0.1:{port}");
        let server = UiServer {
            url,
            db,
            fakes,
            user,
            child,
            _home: home,
            log,
        };
        let health = format!("{}/health", server.url);
        let http = reqwest::Client::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(r) = http.get(&health).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "dra serve did not answer {health}:\n{}",
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// What the server printed so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Calls the API as the UI's user; returns status and JSON (or text) body.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = reqwest::Client::new().request(method, format!("{}{path}", self.url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("call dra serve");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A headless Chromium session with its chromedriver.
pub struct Browser {
    pub client: Client,
    driver: tokio::process::Child,
    pub downloads: tempfile::TempDir,
    name: String,
}

impl Browser {
    /// Starts chromedriver and a 1280×900 headless Chromium; `name` prefixes screenshots.
    pub async fn start(name: &str) -> Browser {
        let driver_path = chromedriver();
        let port = free_port();
        let driver = tokio::process::Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_path.display()));
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        until("chromedriver to start", || async {
            match http.get(format!("{base}/status")).send().await {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            }
        })
        .await;
        // This test's screenshots from an earlier run would mislead.
        if let Ok(entries) = std::fs::read_dir(artifacts_dir()) {
            let prefix = format!("{name}-");
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let downloads = tempfile::tempdir().expect("downloads dir");
        let caps = json!({
            "goog:chromeOptions": {
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,900", "--no-first-run", "--disable-extensions",
                    "--disable-background-networking", "--disable-sync",
                ],
                "prefs": {
                    "download.default_directory": downloads.path().to_string_lossy(),
                    "download.prompt_for_download": false,
                },
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&base)
            .await
            .unwrap_or_else(|e| panic!("cannot open a Chromium session through chromedriver: {e}"));
        let browser = Browser {
            client,
            driver,
            downloads,
            name: name.to_string(),
        };
        // Headless Chromium saves downloads only when told where.
        let _ = browser
            .client
            .issue_cmd(ChromiumCommand::new(
                "Browser.setDownloadBehavior",
                json!({"behavior": "allow", "downloadPath": browser.downloads.path()}),
            ))
            .await;
        browser
    }

    /// Opens `url` and waits for the UI to have loaded its chats and preferences.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("open the UI");
        self.wait_js(
            "the UI to be ready",
            "return document.body.dataset.ready === 'true'",
        )
        .await;
    }

    /// Waits until `script` (a function body returning a boolean) is true.
    pub async fn wait_js(&self, what: &str, script: &str) {
        self.wait_js_for(what, script, PATIENCE).await
    }

    /// [`Browser::wait_js`] with its own patience, for work that takes a research run.
    pub async fn wait_js_for(&self, what: &str, script: &str, patience: Duration) {
        let deadline = Instant::now() + patience;
        loop {
            match self.client.execute(script, vec![]).await {
                Ok(Value::Bool(true)) => return,
                Ok(_) => {}
                Err(e) => panic!("{what}: the script failed: {e}"),
            }
            if Instant::now() >= deadline {
                let logs = self.console().await;
                self.screenshot(&format!("timeout-{}", slug(what))).await;
                panic!("timed out waiting for {what}; console: {logs:#?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `script` and returns its value.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// The element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                let shot = self.screenshot(&format!("missing-{}", slug(css))).await;
                let html = self
                    .client
                    .execute("return document.querySelector('main').innerHTML", vec![])
                    .await
                    .unwrap_or_default();
                panic!(
                    "no element {css} ({e}); screenshot {}; main: {html}",
                    shot.display()
                )
            }
        }
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// Types `text` into the element matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.find(css)
            .await
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
    }

    /// Presses a key on the focused element (`keys::ENTER`, `keys::ESCAPE`).
    pub async fn press(&self, key: &str) {
        let focused = self
            .client
            .active_element()
            .await
            .expect("a focused element");
        focused.send_keys(key).await.expect("press a key");
    }

    /// The text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap_or_default()
    }

    /// Saves a PNG screenshot as `<artifacts>/<test>-<label>.png`.
    pub async fn screenshot(&self, label: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = artifacts_dir().join(format!("{}-{label}.png", self.name));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Console entries since the last call (chromedriver's browser log).
    pub async fn console(&self) -> Vec<Value> {
        match self.client.issue_cmd(BrowserLog).await {
            Ok(Value::Array(entries)) => entries,
            Ok(other) => panic!("unexpected browser log answer: {other}"),
            Err(e) => panic!("cannot read the browser's console log: {e}"),
        }
    }

    /// Fails if the console has any error (SEVERE: console.error, uncaught exceptions,
    /// failed requests, CSP violations) since the last call.
    pub async fn assert_no_console_errors(&self) {
        let errors: Vec<Value> = self
            .console()
            .await
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .collect();
        assert!(errors.is_empty(), "browser console errors: {errors:#?}");
    }

    /// Ends the session and the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}

/// WebDriver keys.
pub mod keys {
    pub const ENTER: &str = "\u{E007}";
    pub const ESCAPE: &str = "\u{E00C}";
    pub const TAB: &str = "\u{E004}";
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .chars()
        .take(60)
        .collect()
}

/// chromedriver's browser log (`POST /session/{id}/se/log`).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

/// A DevTools command through chromedriver (`POST /session/{id}/chromium/send_command`).
#[derive(Debug)]
struct ChromiumCommand(String);

impl ChromiumCommand {
    fn new(cmd: &str, params: Value) -> ChromiumCommand {
        ChromiumCommand(json!({"cmd": cmd, "params": params}).to_string())
    }
}

impl WebDriverCompatibleCommand for ChromiumCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/chromium/send_command",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.0.clone()))
    }
}

/// A TCP proxy in front of `dra serve` whose connections the test can cut, to drop the
/// browser's event stream the way a flaky network does. It keeps every request head the
/// browser sent.
pub struct CutProxy {
    pub url: String,
    generation: tokio::sync::watch::Sender<u64>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl CutProxy {
    /// Listens on a free port and forwards to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> CutProxy {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy addr"));
        let (generation, _) = tokio::sync::watch::channel(0u64);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (gen_tx, seen) = (generation.clone(), Arc::clone(&requests));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    continue;
                };
                let mut cut = gen_tx.subscribe();
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        while let Ok(n) = cr.read(&mut buf).await {
                            if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                            if let Ok(mut s) = seen.lock() {
                                s.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                            }
                        }
                    };
                    let down = async {
                        let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    };
                    tokio::select! {
                        _ = async { tokio::join!(up, down) } => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        CutProxy {
            url,
            generation,
            requests,
        }
    }

    /// Drops every open connection (new ones are still accepted).
    pub fn cut(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    /// The request heads (and bodies) the browser sent so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}
