//! `dra logs`: a Databricks App's log lines from its `/logz/batch`, through the shared
//! workspace auth; filtered, followed, and a clear error for an unknown app.

use std::time::Duration;

use crate::support::{Dra, FakeWorkspace};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

fn lines() -> serde_json::Value {
    // Out of order, as the endpoint may return them.
    json!([
        {"timestamp": 1764115262.5, "source": "APP", "message": "ERROR cannot reach the model\n"},
        {"timestamp": 1764115261.0, "source": "SYSTEM", "message": "Starting app"},
        {"timestamp": 1764115263.0, "source": "APP", "message": "dra serve listening"},
    ])
}

async fn dra_logs(ws: &FakeWorkspace, args: &[&str]) -> crate::support::cli::Output {
    Dra::new(["logs"].iter().chain(args))
        .workspace(ws)
        .run()
        .await
}

#[tokio::test]
async fn logs_are_printed_in_order_and_filtered() {
    let ws = FakeWorkspace::start()
        .await
        .with_app_logs("deep-research-agent-dev", lines());
    let out = dra_logs(&ws, &["--app", "deep-research-agent-dev"]).await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(
        out.stdout,
        "[00:01:01] [SYSTEM] Starting app\n\
         [00:01:02] [APP   ] ERROR cannot reach the model\n\
         [00:01:03] [APP   ] dra serve listening\n"
    );

    let out = dra_logs(
        &ws,
        &["--app", "deep-research-agent-dev", "--search", "error"],
    )
    .await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(
        out.stdout,
        "[00:01:02] [APP   ] ERROR cannot reach the model\n"
    );

    let out = dra_logs(&ws, &["--app", "no-such-app"]).await;
    assert!(!out.ok());
    assert!(out.stderr.contains("no-such-app"), "{}", out.stderr);
}

#[tokio::test]
async fn follow_prints_only_new_lines_as_they_come() {
    let ws = FakeWorkspace::start()
        .await
        .with_app_logs("deep-research-agent-dev", lines());
    let (mut child, _home) = Dra::new([
        "logs",
        "--app",
        "deep-research-agent-dev",
        "--follow",
        "--interval",
        "100ms",
    ])
    .workspace(&ws)
    .spawn();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(20), stdout.next_line())
            .await
            .expect("a line within 20 s")
            .unwrap()
            .expect("dra logs is still running")
    };
    for _ in 0..3 {
        next().await;
    }
    let mut more = lines();
    more.as_array_mut().unwrap().push(
        json!({"timestamp": 1764115270.0, "source": "APP", "message": "research job claimed"}),
    );
    ws.set_app_logs("deep-research-agent-dev", more);
    assert_eq!(next().await, "[00:01:10] [APP   ] research job claimed");
    child.start_kill().unwrap();
}

/// `make logs` as the seed spells it: `SEARCH="--search ERROR"` (the original passed the
/// flag through), and a plain term.
#[tokio::test]
async fn make_logs_takes_a_term_or_the_originals_search_flag() {
    let ws = FakeWorkspace::start()
        .await
        .with_app_logs("deep-research-agent-dev", lines());
    let home = tempfile::tempdir().unwrap();
    for search in ["--search ERROR", "ERROR"] {
        let mut cmd = tokio::process::Command::new("make");
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["--no-print-directory", "logs", "TARGET=dev"])
            .arg(format!("SEARCH={search}"))
            .arg(format!("DRA={}", env!("CARGO_BIN_EXE_dra")));
        for v in crate::support::cli::SCRUBBED {
            cmd.env_remove(v);
        }
        let out = cmd
            .env_remove("PROFILE")
            .env_remove("MAKEFLAGS")
            .env("HOME", home.path())
            .env("DATABRICKS_HOST", &ws.url)
            .env("DATABRICKS_TOKEN", crate::support::workspace::PAT)
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "[00:01:02] [APP   ] ERROR cannot reach the model\n",
            "SEARCH={search}"
        );
    }
}
