//! The browser UI in a real headless Chromium against the real `dra serve` (fake model,
//! fake Brave, page server, a migrated throwaway database): chats in the sidebar,
//! preferences and themes, a phone-width layout, a verified report's citations, sources,
//! exports and feedback, sanitized rendering, and a research run from the question box
//! with live progress. Any error in the browser console fails the test; screenshots go to
//! `<target dir>/ui-artifacts/`.

use crate::support::browser;

use std::time::Duration;

use browser::{keys, until, Browser, CutProxy, UiServer};
use reqwest::Method;
use serde_json::{json, Value};

/// The title of every chat in the sidebar, in order.
const SIDEBAR_TITLES: &str =
    "return [...document.querySelectorAll('#chat-list .chat-open')].map(b => b.textContent)";

async fn sidebar(b: &Browser) -> Vec<String> {
    match b.js(SIDEBAR_TITLES).await {
        Value::Array(v) => v
            .into_iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        other => panic!("sidebar titles: {other}"),
    }
}

async fn wait_sidebar(b: &Browser, expected: &[&str]) {
    let want = serde_json::to_string(expected).unwrap();
    let script = format!(
        "return JSON.stringify([...document.querySelectorAll('#chat-list .chat-open')].map(b => b.textContent)) === {}",
        serde_json::to_string(&want).unwrap()
    );
    b.wait_js(&format!("the sidebar to list {want}"), &script)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chats_are_created_renamed_found_deleted_and_restored_from_the_sidebar() {
    let server = UiServer::start().await;
    let b = Browser::start("chats").await;
    b.open(&server.url).await;
    assert!(sidebar(&b).await.is_empty());
    assert!(b
        .find("#chat-list-empty")
        .await
        .is_displayed()
        .await
        .unwrap());

    b.click("#new-chat").await;
    wait_sidebar(&b, &["Untitled chat"]).await;
    let (_, chats) = server.api(Method::GET, "/api/v1/chats", None).await;
    let id = chats["items"][0]["id"].as_str().unwrap().to_string();
    b.wait_js(
        "the chat's address",
        &format!("return location.pathname === '/c/{id}'"),
    )
    .await;
    // The question box has the focus, ready to type.
    assert_eq!(b.js("return document.activeElement.id").await, "query");

    b.click(".chat-item .chat-rename").await;
    b.wait_js(
        "the title editor to have the focus",
        "return document.activeElement.classList.contains('chat-rename-input')",
    )
    .await;
    b.press(&format!("Delta wetlands{}", keys::ENTER)).await;
    wait_sidebar(&b, &["Delta wetlands"]).await;
    let (_, chat) = server
        .api(Method::GET, &format!("/api/v1/chats/{id}"), None)
        .await;
    assert_eq!(chat["title"], "Delta wetlands");

    // Escape leaves a title as it was.
    b.click(".chat-item .chat-rename").await;
    b.press(&format!("Not this{}", keys::ESCAPE)).await;
    wait_sidebar(&b, &["Delta wetlands"]).await;

    let (status, _) = server
        .api(
            Method::POST,
            "/api/v1/chats",
            Some(json!({"title": "Glacier melt"})),
        )
        .await;
    assert_eq!(status, 201);
    b.type_into("#chat-search", "glacier").await;
    wait_sidebar(&b, &["Glacier melt"]).await;
    let search = b.find("#chat-search").await;
    search.clear().await.unwrap();
    search.send_keys("DELTA").await.unwrap();
    wait_sidebar(&b, &["Delta wetlands"]).await;
    b.screenshot("search").await;

    b.click(".chat-item .chat-delete").await;
    wait_sidebar(&b, &[]).await;
    assert_eq!(b.text("#chat-list-empty").await, "No chats match.");
    let (status, _) = server
        .api(Method::GET, &format!("/api/v1/chats/{id}"), None)
        .await;
    assert_eq!(status, 404, "deleted on the server");
    assert_eq!(b.js("return location.pathname").await, "/");
    b.screenshot("deleted-undo-toast").await;
    b.click(".toast .toast-action").await;
    wait_sidebar(&b, &["Delta wetlands"]).await;
    let (status, chat) = server
        .api(Method::GET, &format!("/api/v1/chats/{id}"), None)
        .await;
    assert_eq!(status, 200, "restored: {chat}");
    assert_eq!(chat["status"], "active");

    b.assert_no_console_errors().await;
    b.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn theme_and_preferences_are_saved_and_the_ui_fits_a_phone() {
    let server = UiServer::start().await;
    let b = Browser::start("preferences").await;
    b.open(&server.url).await;
    assert_eq!(
        b.js("return document.documentElement.dataset.theme").await,
        "light"
    );
    b.screenshot("light").await;

    b.click("#theme-toggle").await;
    assert_eq!(
        b.js("return document.documentElement.dataset.theme").await,
        "dark"
    );
    let theme = || async {
        let (_, prefs) = server.api(Method::GET, "/api/v1/preferences", None).await;
        prefs["theme"].as_str().unwrap_or_default().to_string()
    };
    until("the dark theme to be saved", || async {
        theme().await == "dark"
    })
    .await;
    // The saved theme applies on the next visit.
    b.open(&server.url).await;
    assert_eq!(
        b.js("return document.documentElement.dataset.theme").await,
        "dark"
    );
    assert_eq!(
        b.find("#theme-toggle")
            .await
            .attr("aria-pressed")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    b.screenshot("dark").await;

    b.click("#prefs-open").await;
    b.wait_js(
        "the preferences dialog",
        "return document.getElementById('prefs').open",
    )
    .await;
    b.type_into("#pref-instructions", "Prefer peer-reviewed sources.")
        .await;
    b.click("#prefs-save").await;
    b.wait_js(
        "the dialog to close after saving",
        "return !document.getElementById('prefs').open",
    )
    .await;
    let (_, prefs) = server.api(Method::GET, "/api/v1/preferences", None).await;
    assert_eq!(prefs["systemInstructions"], "Prefer peer-reviewed sources.");
    assert_eq!(prefs["theme"], "dark");
    // Esc closes the dialog without saving.
    b.click("#prefs-open").await;
    b.type_into("#pref-instructions", " Unsaved.").await;
    b.press(keys::ESCAPE).await;
    b.wait_js(
        "Esc to close the dialog",
        "return !document.getElementById('prefs').open",
    )
    .await;
    let (_, prefs) = server.api(Method::GET, "/api/v1/preferences", None).await;
    assert_eq!(prefs["systemInstructions"], "Prefer peer-reviewed sources.");

    // A phone: nothing wider than the screen, the chats behind a menu button.
    server
        .api(
            Method::POST,
            "/api/v1/chats",
            Some(json!({"title": "A chat with a rather long title that must not widen the page"})),
        )
        .await;
    b.client.set_window_size(375, 812).await.unwrap();
    b.open(&server.url).await;
    let width = b.js("return window.innerWidth").await;
    assert!(width.as_u64().unwrap() <= 375, "viewport {width}");
    assert_eq!(
        b.js("return document.documentElement.scrollWidth <= window.innerWidth")
            .await,
        true,
        "no horizontal scrolling at phone width"
    );
    assert!(b.find("#menu-toggle").await.is_displayed().await.unwrap());
    b.screenshot("phone-375").await;
    b.click("#menu-toggle").await;
    b.wait_js(
        "the chats to slide in",
        "const r = document.getElementById('sidebar').getBoundingClientRect(); return r.left >= 0 && r.right <= window.innerWidth",
    )
    .await;
    assert_eq!(
        b.js("return document.activeElement.id").await,
        "chat-search",
        "the focus moves into the opened chats"
    );
    b.screenshot("phone-375-chats").await;
    b.press(keys::ESCAPE).await;
    b.wait_js(
        "Esc to close the chats",
        "return !document.getElementById('sidebar').classList.contains('open') && document.activeElement.id === 'menu-toggle'",
    )
    .await;
    assert_eq!(
        b.js("return document.documentElement.scrollWidth <= window.innerWidth")
            .await,
        true
    );

    b.assert_no_console_errors().await;
    b.close().await;
    server.stop().await;
}

/// A verified run saved by `dra research` into the UI user's chats; its chat id.
async fn saved_verified_run(server: &UiServer) -> String {
    server.fakes.script_one_step_run("Deltas");
    server.fakes.verifier_says_supported();
    let run = server
        .fakes
        .dra([
            "research",
            "-q",
            "--verify",
            "How fast are deltas losing wetlands?",
        ])
        .env("DATABASE_URL", server.db.url())
        .env("DRA_USER", &server.user)
        .run()
        .await;
    assert!(run.ok(), "{run:?}");
    let (_, chats) = server.api(Method::GET, "/api/v1/chats", None).await;
    chats["items"][0]["id"]
        .as_str()
        .expect("the run's chat")
        .to_string()
}

/// Waits for a file in the browser's download folder and returns its text.
async fn downloaded(b: &Browser, name: &str) -> String {
    let path = b.downloads.path().join(name);
    until(&format!("{name} to be downloaded"), || async {
        path.is_file()
    })
    .await;
    // Chromium writes `<name>.crdownload` and renames it when complete.
    std::fs::read_to_string(&path).expect("read the download")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_verified_report_shows_its_citations_evidence_sources_and_exports() {
    let server = UiServer::start().await;
    let chat = saved_verified_run(&server).await;
    let (_, messages) = server
        .api(Method::GET, &format!("/api/v1/chats/{chat}/messages"), None)
        .await;
    let agent = messages["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "agent")
        .expect("the report message")["id"]
        .as_str()
        .unwrap()
        .to_string();

    let b = Browser::start("report").await;
    b.open(&format!("{}/c/{chat}", server.url)).await;
    b.wait_js(
        "the report",
        "const h = document.querySelector('.message.agent .report h1'); return !!h && h.textContent === 'Deltas'",
    )
    .await;
    assert_eq!(
        b.text(".message.user").await,
        "How fast are deltas losing wetlands?"
    );
    b.wait_js(
        "the verification summary",
        "return [...document.querySelectorAll('.verification .badge')].some(x => /supported/.test(x.textContent))",
    )
    .await;
    b.screenshot("report").await;

    // A citation opens its evidence: verdict, the quote and the page it came from. (Which
    // number the source gets depends on which page was fetched first.)
    b.click(".message.agent .report .cite").await;
    b.wait_js(
        "the evidence panel",
        "const p = document.getElementById('citation-panel'); return !p.hidden && !!p.querySelector('.evidence')",
    )
    .await;
    let panel = b.text("#citation-panel").await;
    assert!(panel.contains("supported"), "{panel}");
    assert!(panel.contains("Deltas lost a fifth"), "the claim: {panel}");
    let quote = b.text("#citation-panel .evidence").await;
    assert!(!quote.trim().is_empty(), "an evidence quote");
    let links = b
        .js("return [...document.querySelectorAll('#citation-panel a')].map(a => a.href)")
        .await;
    assert!(
        links
            .to_string()
            .contains(&server.fakes.pages.url("/article")),
        "the source page: {links}"
    );
    b.screenshot("evidence").await;
    b.press(keys::ESCAPE).await;
    b.wait_js(
        "Esc to close the panel and give the focus back",
        "return document.getElementById('citation-panel').hidden && document.activeElement.classList.contains('cite')",
    )
    .await;

    b.click(".show-sources").await;
    b.wait_js(
        "the sources",
        "return document.querySelectorAll('#sources-body li').length > 0",
    )
    .await;
    let sources = b.text("#sources-body").await;
    assert!(sources.contains("Source:"), "{sources}");
    b.click("#sources-panel .panel-close").await;

    b.click(".export-report").await;
    let report = downloaded(&b, &format!("report-{agent}.md")).await;
    assert!(report.starts_with("# Deltas"), "{report}");
    b.click(".export-provenance-json").await;
    let provenance: Value =
        serde_json::from_str(&downloaded(&b, &format!("provenance-{agent}.json")).await).unwrap();
    assert_eq!(provenance["messageId"], agent.as_str());
    assert!(!provenance["claims"].as_array().unwrap().is_empty());

    b.click(".feedback-up").await;
    b.wait_js(
        "the feedback to be recorded",
        "return document.querySelector('.feedback-up').getAttribute('aria-pressed') === 'true'",
    )
    .await;
    let rows = server
        .db
        .client()
        .await
        .query("SELECT rating FROM message_feedback", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "positive");

    // The report at phone width: readable, nothing wider than the screen.
    b.client.set_window_size(375, 812).await.unwrap();
    b.wait_js(
        "the report to fit a phone",
        "return window.innerWidth <= 375 && document.documentElement.scrollWidth <= window.innerWidth",
    )
    .await;
    b.screenshot("phone-375-report").await;
    b.click(".message.agent .report .cite").await;
    b.wait_js(
        "the evidence panel over the report",
        "const r = document.getElementById('citation-panel').getBoundingClientRect(); return r.width > 0 && r.right <= window.innerWidth",
    )
    .await;
    b.screenshot("phone-375-evidence").await;
    b.press(keys::ESCAPE).await;
    b.client.set_window_size(1280, 900).await.unwrap();

    b.assert_no_console_errors().await;
    // A whole chat's export: downloaded where the server has it, else the button goes
    // away (its 404 is the one console error this step may cause).
    b.click(".export-chat").await;
    let chat_file = b.downloads.path().join(format!("chat-{chat}.md"));
    until("the chat export to download or hide", || async {
        chat_file.is_file()
            || b.js("return document.querySelector('.export-chat').hidden")
                .await
                == true
    })
    .await;
    b.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_report_is_shown_as_text_never_run() {
    let server = UiServer::start().await;
    let (_, chat) = server
        .api(
            Method::POST,
            "/api/v1/chats",
            Some(json!({"title": "Hostile"})),
        )
        .await;
    let chat = chat["id"].as_str().unwrap().to_string();
    let hostile = "# Report <script>window.pwned = 1</script>\n\n\
        <img src=x onerror=\"window.pwned = 2\"> and [click](javascript:window.pwned=3) \
        and [ok](https://example.com/a \"t\") [1].\n\n\
        | a | b |\n|---|---|\n| <b onmouseover=x>1</b> | **2** |\n";
    server
        .db
        .client()
        .await
        .execute(
            "INSERT INTO messages (chat_id, role, content) VALUES ($1::text::uuid, 'agent', $2)",
            &[&chat, &hostile],
        )
        .await
        .unwrap();

    let b = Browser::start("hostile").await;
    b.open(&format!("{}/c/{chat}", server.url)).await;
    b.wait_js(
        "the report",
        "return !!document.querySelector('.message.agent .report h1')",
    )
    .await;
    let report = ".message.agent .report";
    assert_eq!(
        b.js(&format!(
            "return document.querySelectorAll('{report} script, {report} img, {report} b, {report} [onerror], {report} [onmouseover]').length"
        ))
        .await,
        0
    );
    let hrefs = b
        .js(&format!(
            "return [...document.querySelectorAll('{report} a')].map(a => a.getAttribute('href'))"
        ))
        .await;
    assert_eq!(hrefs, json!(["https://example.com/a"]));
    let text = b.text(report).await;
    assert!(text.contains("<script>window.pwned = 1</script>"), "{text}");
    assert!(text.contains("<img src=x"), "{text}");
    assert_eq!(b.js("return window.pwned === undefined").await, true);
    assert_eq!(
        b.js(&format!(
            "return document.querySelectorAll('{report} table td strong').length"
        ))
        .await,
        1,
        "markdown still renders"
    );
    b.screenshot("hostile").await;
    b.assert_no_console_errors().await;
    b.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_research_runs_from_the_question_box_with_live_progress() {
    let server = UiServer::start().await;
    script_slow_run(&server);
    let b = Browser::start("research").await;
    b.open(&server.url).await;
    // The coordinator picks the depth (the script's first answer).
    ask(&b, "deep_research", "auto").await;
    wait_for_finished_plan(&b).await;
    b.screenshot("progress").await;
    let activity = b.text("#progress-activity").await;
    assert!(!activity.is_empty());
    assert_eq!(b.text("#search-list li").await, "", "collapsed");
    assert_eq!(
        b.js("return document.querySelector('#search-list li').textContent")
            .await,
        "delta wetland loss"
    );

    wait_for_report(&b).await;
    assert!(
        b.js("return document.getElementById('progress').hidden")
            .await
            == true
    );
    // Every claim_verified event was counted as it came.
    assert_eq!(
        b.js("return document.getElementById('stat-verified').textContent")
            .await,
        "1/1 supported"
    );
    assert_eq!(
        b.text(".message.user").await,
        "How fast are deltas losing wetlands?"
    );
    let (_, chats) = server.api(Method::GET, "/api/v1/chats", None).await;
    let chat = chats["items"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        b.js("return location.pathname").await,
        json!(format!("/c/{chat}"))
    );
    wait_sidebar(&b, &[chats["items"][0]["title"].as_str().unwrap()]).await;

    // Verification may re-point the citation to the source that supports it best.
    b.click(".message.agent .report .cite").await;
    b.wait_js(
        "the evidence panel",
        "const p = document.getElementById('citation-panel'); return !p.hidden && /supported/.test(p.textContent)",
    )
    .await;
    b.screenshot("done").await;
    b.press(keys::ESCAPE).await;
    let agent = b
        .js("return document.querySelector('.message.agent').dataset.messageId")
        .await;
    b.click(".export-report").await;
    let report = downloaded(&b, &format!("report-{}.md", agent.as_str().unwrap())).await;
    assert!(report.starts_with("# Deltas"), "{report}");

    b.assert_no_console_errors().await;
    b.close().await;
    server.stop().await;
}

/// Asks the question of the scripted runs from the question box (Enter sends).
async fn ask(b: &Browser, mode: &str, depth: &str) {
    b.find("#mode").await.select_by_value(mode).await.unwrap();
    b.find("#depth").await.select_by_value(depth).await.unwrap();
    b.type_into("#query", "How fast are deltas losing wetlands?")
        .await;
    b.press(keys::ENTER).await;
}

/// Waits until the progress card shows the plan's step done and one search made.
async fn wait_for_finished_plan(b: &Browser) {
    b.wait_js(
        "the plan's step to be done while the report is written",
        "const p = document.getElementById('progress'); \
         const step = p.querySelector('#plan-steps li[data-state=completed]'); \
         return !p.hidden && !!step && step.textContent.includes('Loss rates') \
           && document.getElementById('stat-searches').textContent === '1'",
    )
    .await;
}

async fn wait_for_report(b: &Browser) {
    b.wait_js(
        "the report",
        "const h = document.querySelector('.message.agent .report h1'); return !!h && h.textContent === 'Deltas'",
    )
    .await;
}

/// A scripted run (the coordinator choosing a light depth) whose report takes 3 s to
/// write, so the finished plan is on screen meanwhile; every claim is judged supported.
fn script_slow_run(server: &UiServer) {
    server.fakes.script_one_step_run("Deltas");
    server.fakes.verifier_says_supported();
    server
        .fakes
        .llm
        .latency("test-strong", Duration::from_millis(3000));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_stream_reconnects_and_resumes_after_the_last_event() {
    let server = UiServer::start().await;
    script_slow_run(&server);
    let proxy = CutProxy::start(&server.url).await;
    let b = Browser::start("reconnect").await;
    b.open(&proxy.url).await;
    ask(&b, "deep_research", "auto").await;
    wait_for_finished_plan(&b).await;

    proxy.cut();
    wait_for_report(&b).await;
    let resumed: Vec<u64> = proxy
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET /api/v1/research/jobs/") && r.contains("/stream"))
        .filter_map(|r| {
            r.lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                if name.eq_ignore_ascii_case("last-event-id") {
                    value.trim().parse().ok()
                } else {
                    None
                }
            })
        })
        .collect();
    assert!(
        resumed.iter().any(|&seq| seq > 0),
        "the browser reconnected with Last-Event-ID: {:#?}",
        proxy.requests()
    );
    // Resumed, not replayed: each event was applied once.
    assert_eq!(
        b.js("return document.querySelectorAll('#search-list li').length")
            .await,
        1
    );
    assert_eq!(
        b.js("return document.querySelectorAll('#plan-steps li').length")
            .await,
        1
    );
    assert_eq!(
        b.js("return document.getElementById('progress').dataset.state")
            .await,
        "completed"
    );

    // The cut itself shows as a failed load of the stream; nothing else may fail.
    let errors: Vec<Value> = b
        .console()
        .await
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .filter(|e| {
            let m = e["message"].as_str().unwrap_or_default();
            !(m.contains("/stream") && m.contains("net::ERR_"))
        })
        .collect();
    assert!(errors.is_empty(), "browser console errors: {errors:#?}");
    b.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reloaded_page_reattaches_to_the_running_research() {
    let server = UiServer::start().await;
    script_slow_run(&server);
    let b = Browser::start("reattach").await;
    b.open(&server.url).await;
    ask(&b, "deep_research", "auto").await;
    wait_for_finished_plan(&b).await;

    b.client.refresh().await.unwrap();
    b.wait_js(
        "the UI to be ready",
        "return document.body.dataset.ready === 'true'",
    )
    .await;
    // The run is still going: its progress is back, replayed from the first event.
    wait_for_finished_plan(&b).await;
    assert_eq!(
        b.js("return document.querySelectorAll('.message.agent').length")
            .await,
        0,
        "no empty answer while the report is being written"
    );
    b.screenshot("reattached").await;
    wait_for_report(&b).await;
    assert_eq!(
        b.js("return document.querySelectorAll('.message').length")
            .await,
        2
    );
    b.assert_no_console_errors().await;
    b.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_research_cancels_the_job() {
    let server = UiServer::start().await;
    // Light depth skips the coordinator; the reflection after the first step hangs.
    server.fakes.script_run_that_hangs_after_one_step();
    let b = Browser::start("cancel").await;
    b.open(&server.url).await;
    ask(&b, "deep_research", "light").await;
    b.wait_js(
        "the first step to be done",
        "return !!document.querySelector('#plan-steps li[data-state=completed]')",
    )
    .await;
    b.click("#cancel-job").await;
    b.wait_js(
        "the run to end as cancelled",
        "return document.getElementById('progress').dataset.state === 'cancelled'",
    )
    .await;
    // A cancel is not an error: the server sends none (as the original), the UI says so.
    let activity = b.text("#progress-activity").await;
    assert_eq!(activity, "The research was stopped.");
    let (_, jobs) = server.api(Method::GET, "/api/v1/research/jobs", None).await;
    assert_eq!(jobs["jobs"][0]["status"], "cancelled", "{jobs}");
    b.screenshot("cancelled").await;
    b.assert_no_console_errors().await;
    b.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ui_works_by_keyboard_with_visible_focus() {
    let server = UiServer::start().await;
    let b = Browser::start("keyboard").await;
    b.open(&server.url).await;
    // Tab order from the top: skip link, theme, preferences, new chat.
    let mut order = Vec::new();
    for _ in 0..4 {
        b.press(keys::TAB).await;
        order.push(
            b.js("const e = document.activeElement; return e.id || e.className")
                .await,
        );
    }
    assert_eq!(
        order,
        vec![
            json!("skip"),
            json!("theme-toggle"),
            json!("prefs-open"),
            json!("new-chat")
        ]
    );
    assert_ne!(
        b.js("return getComputedStyle(document.activeElement).outlineStyle")
            .await,
        "none",
        "the focused control shows it"
    );
    b.press(keys::ENTER).await;
    wait_sidebar(&b, &["Untitled chat"]).await;
    b.wait_js(
        "the question box to take the focus",
        "return document.activeElement.id === 'query'",
    )
    .await;
    b.screenshot("focus").await;
    b.assert_no_console_errors().await;
    b.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_begun_again_after_a_takeover_replaces_what_its_first_attempt_showed() {
    let server = UiServer::start().await;
    let b = Browser::start("restart").await;
    b.open(&server.url).await;
    // The events a client sees when another server takes a job over: the first attempt's
    // start, plan, progress and draft, then the second attempt from its start.
    let state = b
        .js(r#"return import("/js/progress.js").then(({ emptyProgress, applyEvent }) => {
            const events = [
              ["research_started", { messageId: "m1" }],
              ["plan_created", { iteration: 1, title: "Deltas", steps: [{ id: "s1", title: "Old step" }] }],
              ["step_completed", { stepId: "s1", sourcesFound: 4 }],
              ["synthesis_progress", { contentChunk: "Half a first draft" }],
              ["research_started", { messageId: "m1" }],
              ["plan_created", { iteration: 1, title: "Deltas", steps: [{ id: "s1", title: "New step" }] }],
            ];
            const state = emptyProgress();
            for (const [eventType, payload] of events) applyEvent(state, { eventType, payload });
            return state;
        })"#)
        .await;
    assert_eq!(state["messageId"], "m1");
    assert_eq!(
        state["draft"], "",
        "the first attempt's draft is gone: {state}"
    );
    assert_eq!(state["sources"], 0, "{state}");
    assert_eq!(
        state["steps"],
        json!([{"id": "s1", "title": "New step", "state": "pending"}]),
        "a step of the first attempt is not done in the second"
    );
    b.assert_no_console_errors().await;
    b.close().await;
    server.stop().await;
}
