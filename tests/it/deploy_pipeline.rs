//! `make deploy`'s pipeline (scripts/deploy.sh): the eight steps in order with the bundle
//! deployed first on database `postgres`, `DRY_RUN=1` printing without running, and a
//! failure stopping the pipeline with what to do next and the step's exit code.
//! A fake `databricks` on PATH records its arguments.

use std::path::{Path, PathBuf};
use std::process::Command;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/deploy.sh");

/// A fake Databricks CLI that appends its arguments to `calls` and exits with `code`.
fn fake_cli(dir: &Path, code: i32) -> PathBuf {
    let path = dir.join("databricks");
    let calls = dir.join("calls");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexit {code}\n",
            calls.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    path
}

fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn deploy(dir: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new("bash");
    cmd.arg(SCRIPT)
        .env("DATABRICKS", dir.join("databricks"))
        .env_remove("DRA")
        .env_remove("DRA_BINARY")
        .env_remove("CARGO_TARGET_DIR")
        .env("BUILD_CMD", "true")
        .env_remove("DRY_RUN")
        .env_remove("PROFILE")
        .env_remove("BRAVE_SCOPE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn a_dry_run_prints_the_eight_steps_in_order_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fake_cli(dir.path(), 0);
    let out = deploy(
        dir.path(),
        &[
            ("DRY_RUN", "1"),
            ("TARGET", "dev"),
            ("BRAVE_SCOPE", "team-secrets"),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let steps: Vec<&str> = text.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(steps.len(), 8, "{text}");
    for (i, name) in [
        "Build the app bundle",
        "Deploy the bundle (Lakebase instance; app on database postgres)",
        "Wait for Lakebase instance deep-research-lakebase",
        "Create database deep_research",
        "Deploy the bundle with database deep_research",
        "Apply migrations (your credentials)",
        "Grant the app's service principal",
        "Start or restart the app",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(steps[i], format!("[{}/8] {name}", i + 1));
    }
    let commands: Vec<&str> = text.lines().filter(|l| l.starts_with("      ")).collect();
    assert!(commands[1].contains("bundle deploy -t dev --var lakebase_database=postgres --var brave_secret_scope=team-secrets"), "{}", commands[1]);
    assert!(commands[2].contains("wait-lakebase --instance deep-research-lakebase"));
    assert!(
        commands[2]
            .trim_start()
            .starts_with("target/x86_64-unknown-linux-musl/release/dra "),
        "steps 3-7 run the static dra step 1 builds: {}",
        commands[2]
    );
    assert!(commands[4].contains("--var lakebase_database=deep_research"));
    assert!(commands[6].contains("grant-permissions --instance deep-research-lakebase --database deep_research --app deep-research-agent-dev"));
    assert!(commands[7].contains("bundle run -t dev"));
    assert!(text.contains("dry run: nothing was run"));
    assert!(calls(dir.path()).is_empty(), "a dry run runs nothing");
}

#[test]
fn a_failing_step_stops_the_pipeline_with_what_to_do_next() {
    let dir = tempfile::tempdir().unwrap();
    fake_cli(dir.path(), 3);
    let out = deploy(dir.path(), &[("TARGET", "prod")]);
    assert_eq!(out.status.code(), Some(12), "step 2's exit code");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("[1/8] Build the app bundle: ok"),
        "{stdout}"
    );
    assert!(
        stderr.contains("[2/8] Deploy the bundle (Lakebase instance; app on database postgres): FAILED (exit 3)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("next: check the Databricks CLI login"),
        "{stderr}"
    );
    assert!(
        stderr.contains("re-run: make deploy TARGET=prod"),
        "{stderr}"
    );
    assert!(
        !stdout.contains("[3/8]"),
        "nothing after the failure ran: {stdout}"
    );
    assert_eq!(
        calls(dir.path()),
        ["bundle deploy -t prod --var lakebase_database=postgres"]
    );
}

#[test]
fn a_missing_databricks_cli_is_reported_before_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let built = dir.path().join("built");
    let out = deploy(
        dir.path(),
        &[
            ("DATABRICKS", "databricks-not-installed-here"),
            ("BUILD_CMD", &format!("touch {}", built.display())),
        ],
    );
    assert_eq!(out.status.code(), Some(10), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the Databricks CLI (databricks-not-installed-here) is not installed"),
        "{stderr}"
    );
    assert!(stderr.contains("databricks auth login"), "{stderr}");
    assert!(!built.exists(), "nothing was built");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("[1/8]"));
}
