//! Application configuration: `config/app.yaml` with `${VAR}` interpolation, environment
//! overrides and validation.
//!
//! Loading happens in three passes over the YAML tree before anything is typed:
//! interpolation ([`interpolate`]), environment overrides ([`overrides`]), then serde
//! deserialisation that records unknown keys as warnings and type errors with their key path,
//! and finally semantic checks ([`validate`]).

mod interpolate;
mod overrides;
mod types;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use types::*;
// The sections' own types, where callers of the assembled file expect them.
pub use crate::databricks::DatabricksSection;
pub use crate::db::config::{
    DatabaseSection, DatabaseUrl, LakebaseSection, PgUser, PoolSection, SslMode,
};
pub use crate::env::{Env, Secret};
pub use crate::serve::RetentionSection;
pub use crate::telemetry::TracingSection;

/// The default location of the configuration file, relative to the working directory.
pub const DEFAULT_CONFIG_PATH: &str = "config/app.yaml";

/// Everything that can go wrong while loading configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read config file: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: invalid YAML{}: {message}", path.display(), location(*line, *column))]
    Syntax {
        path: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    #[error("{}: {} problem{} found:\n{}", path.display(), problems.len(), if problems.len() == 1 { "" } else { "s" }, render_problems(problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

/// One invalid setting: where it is and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `database.pool.max_size`.
    pub key: String,
    /// What is wrong and what is allowed.
    pub message: String,
    /// The environment variable the value came from, when it did not come from the file.
    pub from_env: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.key)?;
        if let Some(var) = &self.from_env {
            write!(f, " (set by environment variable {var})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A key present in the file that this version of dra does not use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey(pub String);

/// A loaded, validated configuration and what was noticed on the way.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: AppConfig,
    /// The file it came from; `None` when the default path did not exist and built-in
    /// defaults were used.
    pub source: Option<PathBuf>,
    /// Keys in the file that were ignored.
    pub unknown_keys: Vec<UnknownKey>,
}

/// Where the config path came from decides whether a missing file is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathOrigin {
    /// `--config` or `APP_CONFIG_PATH`: the file must exist.
    Explicit,
    /// The built-in default path: a missing file means the built-in copy of the shipped
    /// `config/app.yaml`.
    Default,
}

/// The shipped `config/app.yaml`, compiled in: what a binary installed outside the
/// repository runs with when there is no config file where it looks.
pub const BUILT_IN: &str = include_str!("../../config/app.yaml");

/// Config files larger than this are refused: a real one is a few KiB, and a path such as
/// `/dev/zero` must not be read until memory runs out.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Load, interpolate, override and validate the configuration at `path`. When the default
/// path does not exist, the built-in copy of the shipped file is used.
pub fn load(path: &Path, origin: PathOrigin, env: &Env) -> Result<LoadedConfig, ConfigError> {
    let text = match read_capped(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && origin == PathOrigin::Default => None,
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let source = text.as_ref().map(|_| path.to_path_buf());
    let loaded = load_str(text.as_deref().unwrap_or(BUILT_IN), path, env)?;
    Ok(LoadedConfig { source, ..loaded })
}

/// The file's text, refusing more than [`MAX_CONFIG_BYTES`] (checked while reading, as a
/// device or a pipe has no size).
fn read_capped(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "larger than {} KiB; a config file is a few KiB of YAML",
                MAX_CONFIG_BYTES / 1024
            ),
        ));
    }
    Ok(text)
}

/// Load configuration from YAML text; `path` is used in messages only.
pub fn load_str(text: &str, path: &Path, env: &Env) -> Result<LoadedConfig, ConfigError> {
    let mut tree: yaml_serde::Value = if text.trim().is_empty() {
        yaml_serde::Value::Mapping(Default::default())
    } else {
        yaml_serde::from_str(text).map_err(|e| syntax_error(path, &e))?
    };
    if tree.is_null() {
        tree = yaml_serde::Value::Mapping(Default::default());
    }
    if !tree.is_mapping() {
        return Err(invalid(
            path,
            vec![Problem {
                key: "(top level)".into(),
                message: "the file must be a mapping of sections (e.g. `database:`)".into(),
                from_env: None,
            }],
        ));
    }

    let mut problems = interpolate::interpolate(&mut tree, env);
    let env_keys = overrides::apply(&mut tree, env, &mut problems);
    if !problems.is_empty() {
        return Err(invalid(path, problems));
    }

    let (config, unknown_keys) =
        deserialize(tree, &env_keys).map_err(|p| invalid(path, vec![p]))?;
    let problems = validate::validate(&config)
        .into_iter()
        .map(|mut p| {
            p.from_env = env_keys.get(&p.key).cloned();
            p
        })
        .collect::<Vec<_>>();
    if !problems.is_empty() {
        return Err(invalid(path, problems));
    }
    Ok(LoadedConfig {
        config,
        source: Some(path.to_path_buf()),
        unknown_keys,
    })
}

fn deserialize(
    tree: yaml_serde::Value,
    env_keys: &BTreeMap<String, String>,
) -> Result<(AppConfig, Vec<UnknownKey>), Problem> {
    let mut unknown = Vec::new();
    let mut record = |p: serde_ignored::Path<'_>| unknown.push(UnknownKey(p.to_string()));
    let ignored = serde_ignored::Deserializer::new(tree, &mut record);
    let result = serde_path_to_error::deserialize::<_, AppConfig>(ignored);
    match result {
        Ok(config) => Ok((config, unknown)),
        Err(e) => {
            let key = e.path().to_string();
            Err(Problem {
                from_env: env_keys.get(&key).cloned(),
                message: describe_serde_error(&e.into_inner().to_string()),
                key,
            })
        }
    }
}

/// serde's messages say what was found and what was expected; make the expectation
/// readable and drop the location yaml_serde appends (the key path is more useful).
fn describe_serde_error(raw: &str) -> String {
    let msg = raw.split(" at line ").next().unwrap_or(raw);
    let msg = msg
        .replace("expected u16", "expected a whole number from 0 to 65535")
        .replace(
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        )
        .replace(
            "expected a duration",
            "expected a duration like 30s, 5m or 1h",
        );
    if [
        "invalid value",
        "invalid type",
        "unknown variant",
        "invalid length",
    ]
    .iter()
    .any(|p| msg.starts_with(p))
    {
        msg
    } else {
        format!("invalid value: {msg}")
    }
}

fn syntax_error(path: &Path, e: &yaml_serde::Error) -> ConfigError {
    let loc = e.location();
    ConfigError::Syntax {
        path: path.to_path_buf(),
        line: loc.as_ref().map(|l| l.line()),
        column: loc.as_ref().map(|l| l.column()),
        message: e
            .to_string()
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

fn invalid(path: &Path, problems: Vec<Problem>) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        problems,
    }
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    }
}

fn render_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}
