//! Environment variables that override settings from the file.

use std::collections::BTreeMap;

use serde_norway::{Mapping, Value};

use super::interpolate::rescalar;
use super::{Env, Problem};

/// Each variable and the key it sets. Documented in README ("Configuration").
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("DATABASE_URL", "database.url"),
    ("PGSSLMODE", "database.sslmode"),
    ("PGSSLROOTCERT", "database.ssl_root_cert"),
    ("LAKEBASE_INSTANCE_NAME", "lakebase.instance_name"),
    ("LAKEBASE_DATABASE", "lakebase.database"),
    ("LAKEBASE_PORT", "lakebase.port"),
    ("LAKEBASE_USER", "lakebase.user"),
    ("OPENAI_BASE_URL", "llm.base_url"),
    ("OPENAI_API_KEY", "llm.api_key"),
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
        if let Err(message) = set(tree, key, rescalar(raw.clone())) {
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
