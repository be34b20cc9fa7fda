//! Environment variables that override settings from the file.

use std::collections::BTreeMap;

use yaml_serde::{Mapping, Value};

use super::interpolate::rescalar;
use super::{Env, Problem};

/// Each variable and the key it sets. Documented in docs/reference.md ("Configuration").
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("DATABASE_URL", "database.url"),
    ("PGSSLMODE", "database.sslmode"),
    ("PGSSLROOTCERT", "database.ssl_root_cert"),
    ("LAKEBASE_INSTANCE_NAME", "lakebase.instance_name"),
    ("LAKEBASE_DATABASE", "lakebase.database"),
    ("LAKEBASE_PORT", "lakebase.port"),
    ("LAKEBASE_USER", "lakebase.user"),
    ("BRAVE_BASE_URL", "search.brave.base_url"),
    // A secret: the typed value (`ApiKey`) never prints, and problems name only the variable.
    ("BRAVE_API_KEY", "search.brave.api_key"),
    ("SEARXNG_URL", "search.searxng.base_url"),
    ("WIKIPEDIA_BASE_URL", "search.wikipedia.base_url"),
    ("OPENAI_BASE_URL", "llm.base_url"),
    ("OPENAI_MODEL", "llm.model"),
    ("OPENAI_API_KEY", "llm.api_key"),
];

/// Variables taken verbatim as strings: a key or URL that happens to look like a number
/// (`0123`) must not be re-read as one.
const VERBATIM: &[&str] = &[
    "BRAVE_BASE_URL",
    "BRAVE_API_KEY",
    "SEARXNG_URL",
    "OPENAI_MODEL",
    "WIKIPEDIA_BASE_URL",
];

/// Apply every set (non-empty) override variable to the tree.
///
/// Returns the keys that were overridden and by which variable, so later errors can say
/// where a bad value came from.
pub fn apply(tree: &mut Value, env: &Env, problems: &mut Vec<Problem>) -> BTreeMap<String, String> {
    let mut applied = BTreeMap::new();
    for (var, key) in ENV_OVERRIDES {
        let Some(raw) = env.get(*var).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        let value = if VERBATIM.contains(var) {
            Value::String(raw.trim().to_string())
        } else {
            rescalar(raw.clone())
        };
        if let Err(message) = set(tree, key, value) {
            problems.push(Problem {
                key: key.to_string(),
                message,
                from_env: Some(var.to_string()),
            });
            continue;
        }
        applied.insert(key.to_string(), var.to_string());
    }
    applied
}

fn set(tree: &mut Value, dotted: &str, value: Value) -> Result<(), String> {
    let parts: Vec<&str> = dotted.split('.').collect();
    let mut node = tree;
    for (i, part) in parts.iter().enumerate() {
        if node.is_null() {
            *node = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(map) = node else {
            return Err(format!(
                "cannot override: `{}` in the file is not a mapping",
                parts[..i].join(".")
            ));
        };
        let key = Value::String(part.to_string());
        if i == parts.len() - 1 {
            map.insert(key, value);
            return Ok(());
        }
        node = map.entry(key).or_insert(Value::Null);
    }
    Ok(())
}
