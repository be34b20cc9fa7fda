//! `dra wait-lakebase`: poll until the instance is AVAILABLE and accepts a connection.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use dra::db::wait::{self, WaitPolicy, WaitProgress};
use indicatif::{ProgressBar, ProgressStyle};

use super::Context;
use crate::cli::WaitLakebaseArgs;

pub async fn run(ctx: &Context, args: WaitLakebaseArgs) -> anyhow::Result<ExitCode> {
    let instance = ctx.instance(&args.target)?;
    let client = ctx.workspace()?;
    let policy = WaitPolicy {
        attempts: args.retries as usize,
        delay: args.delay,
    };
    let progress = Progress::new(&instance, policy.attempts);
    let result = wait::wait_for_lakebase(&client, &instance, &ctx.config, &ctx.env, policy, |p| {
        progress.retry(p, args.delay)
    })
    .await;
    progress.finish();
    let target = result?;
    println!(
        "Lakebase instance `{instance}` is ready: AVAILABLE, and SELECT 1 succeeded as {target}"
    );
    Ok(ExitCode::SUCCESS)
}

/// A spinner on a terminal; plain lines otherwise (CI logs, `make deploy`).
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(instance: &str, attempts: usize) -> Progress {
        if !std::io::stderr().is_terminal() {
            eprintln!("waiting for Lakebase instance `{instance}` (up to {attempts} attempts)");
            return Progress { bar: None };
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar.set_message(format!(
            "waiting for Lakebase instance `{instance}`: attempt 1/{attempts}"
        ));
        Progress { bar: Some(bar) }
    }

    fn retry(&self, p: &WaitProgress, delay: Duration) {
        let line = format!(
            "attempt {}/{}: state {}: {}; retrying in {}",
            p.attempt,
            p.of,
            p.state.as_deref().unwrap_or("unknown"),
            p.reason,
            humantime::format_duration(delay)
        );
        match &self.bar {
            Some(bar) => bar.set_message(line),
            None => eprintln!("{line}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
