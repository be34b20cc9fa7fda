//! `dra logs`: a Databricks App's log lines, as the original's download-app-logs script
//! prints them, over the shared workspace auth.

use std::process::ExitCode;

use dra::databricks::new_lines;

use super::Context;
use crate::cli::LogsArgs;

pub async fn run(ctx: &Context, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let client = ctx.workspace()?;
    let app = client.app(&args.app).await?;
    let mut last = 0.0_f64;
    loop {
        let lines = new_lines(client.app_logs(&app).await?, last, args.search.as_deref());
        for line in &lines {
            println!("{}", line.render());
        }
        last = lines.iter().map(|l| l.timestamp).fold(last, f64::max);
        if !args.follow {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            _ = tokio::time::sleep(args.interval) => {}
        }
    }
}
