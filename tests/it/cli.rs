//! The command line itself: version, help, completions, usage errors.

use crate::support::Dra;

#[tokio::test]
async fn version_and_help() {
    let v = Dra::new(["--version"]).run().await;
    assert_eq!(
        v.stdout.trim(),
        format!("dra {}", env!("CARGO_PKG_VERSION"))
    );
    // Without APP_CONFIG_PATH: clap would print its (machine-specific) value.
    let help = Dra::new(["--help"])
        .env_remove("APP_CONFIG_PATH")
        .run()
        .await;
    assert!(help.ok());
    insta::assert_snapshot!("help", help.stdout);
    for sub in [
        "migrate",
        "create-database",
        "wait-lakebase",
        "grant-permissions",
        "config",
        "fetch",
        "completions",
        "search",
    ] {
        let h = Dra::new([sub, "--help"]).run().await;
        assert!(
            h.ok() && h.stdout.contains("Example"),
            "`dra {sub} --help` lacks an example: {}",
            h.stdout
        );
    }
}

#[tokio::test]
async fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = Dra::new(["completions", shell]).run().await;
        assert!(
            out.ok() && out.stdout.contains("wait-lakebase"),
            "{shell}: {out:?}"
        );
    }
    let out = Dra::new(["completions", "tcsh"]).run().await;
    assert_eq!(out.code, 2);
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let out = Dra::new(["migrate", "--frobnicate"]).run().await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--frobnicate"), "{}", out.stderr);
    let out = Dra::new(["wait-lakebase", "--delay", "soonish"])
        .run()
        .await;
    assert_eq!(out.code, 2, "{out:?}");
    let out = Dra::new(["--log-level", "loud=[", "config", "check"])
        .run()
        .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("invalid log level"), "{}", out.stderr);
}

#[tokio::test]
async fn logs_are_json_when_asked_and_never_carry_the_token() {
    let ws = crate::support::FakeWorkspace::start().await.with_instance(
        "lb",
        &["STARTING"],
        "127.0.0.1",
    );
    let out = Dra::new([
        "--log-level",
        "debug",
        "--log-format",
        "json",
        "wait-lakebase",
        "--instance",
        "lb",
        "--retries",
        "1",
    ])
    .workspace(&ws)
    .run()
    .await;
    assert_eq!(out.code, 6, "{out:?}");
    let json_lines: Vec<serde_json::Value> = out
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        !json_lines.is_empty(),
        "expected JSON log lines: {}",
        out.stderr
    );
    assert!(
        !out.stderr.contains(crate::support::workspace::PAT),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn logs_to_a_pipe_carry_no_colour_codes() {
    // A warning through the log writer: the model server's list cannot be read.
    let out = Dra::new(["models"])
        .env("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
        .env("LOG_LEVEL", "warn")
        .run()
        .await;
    assert!(
        out.stderr.contains("WARN") && out.stderr.contains("cannot list the models"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains('\x1b'),
        "ANSI codes in a pipe: {:?}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn under_json_logs_a_panic_is_a_json_log_line_not_plain_text() {
    let fakes = crate::support::world::Fakes::start().await;
    fakes.script_one_step_run("Deltas");
    let out = fakes
        .dra([
            "--log-format",
            "json",
            "research",
            "--quiet",
            "--no-clarify",
            "How fast are deltas losing wetlands?",
        ])
        .env(dra::research::fault::VAR, "synthesizer")
        .run()
        .await;
    assert_eq!(out.code, 1, "a failed run, not a crash: {out:?}");
    assert!(
        !out.stderr.contains("panicked at"),
        "no plain-text panic report: {}",
        out.stderr
    );
    let panic_line = out
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["target"] == "dra::panic")
        .unwrap_or_else(|| panic!("a JSON panic line: {}", out.stderr));
    assert_eq!(panic_line["level"], "ERROR");
    assert!(
        panic_line["message"]
            .as_str()
            .is_some_and(|m| m.contains("fault injected at the synthesizer stage")),
        "{panic_line}"
    );
    assert!(panic_line["location"]
        .as_str()
        .is_some_and(|l| l.contains("fault.rs")));
}
