use std::process::ExitCode;

use clap::Parser;

mod cli;
mod commands;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let env: dra::config::Env = std::env::vars().collect();
    let (tracing, auth) = commands::tracing_setup(&cli, &env);
    let otlp = dra::telemetry::OtlpSettings::resolve(cli.otlp_endpoint.as_deref(), &env, &tracing);
    // Spans to MLflow in a Databricks workspace use the same auth as every other call.
    let databricks = || {
        dra::databricks::DatabricksAuth::resolve(&auth, &env)
            .map(std::sync::Arc::new)
            .map_err(|e| e.to_string())
    };
    let telemetry = match dra::telemetry::init(
        cli.log_level.as_deref(),
        env.get("RUST_LOG").map(String::as_str),
        cli.log_format,
        &otlp,
        databricks,
    ) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let code = run(cli);
    // After the runtime is gone: the exporter's blocking client must not run inside it.
    telemetry.shutdown();
    code
}

fn run(cli: cli::Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", dra::redact::scrub(&render(&e)));
            commands::exit_code(&e)
        }
    }
}

/// The error and its causes, skipping causes whose text the message already includes.
fn render(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
