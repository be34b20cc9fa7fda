//! `dra config check` and `dra config show`.

use std::path::Path;
use std::process::ExitCode;

use dra::config::{self as cfg, Env, PathOrigin};

use crate::cli::ConfigCommand;

pub fn run(cmd: &ConfigCommand, path: &Path, origin: PathOrigin, env: &Env) -> ExitCode {
    let loaded = match cfg::load(path, origin, env) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {}", dra::redact::scrub(&e.to_string()));
            return match cmd {
                ConfigCommand::Check => ExitCode::FAILURE,
                ConfigCommand::Show => ExitCode::from(3),
            };
        }
    };
    let shown = loaded
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| {
            format!(
                "{} (not found; the built-in copy of the shipped config/app.yaml)",
                path.display()
            )
        });
    match cmd {
        ConfigCommand::Check => {
            for key in &loaded.unknown_keys {
                eprintln!(
                    "warning: {shown}: unknown key `{}` ignored (not used by this version of dra)",
                    key.0
                );
            }
            println!("{shown}: OK");
            ExitCode::SUCCESS
        }
        ConfigCommand::Show => {
            match yaml_serde::to_string(&loaded.config) {
                Ok(yaml) => {
                    println!("# effective configuration from {shown}, environment applied, secrets redacted");
                    print!("{yaml}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: cannot render the configuration: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
