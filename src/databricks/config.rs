//! The `databricks:` section.

use serde::{Deserialize, Serialize};

use crate::env::opt_string;

/// Databricks workspace settings that take precedence over environment variables.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct DatabricksSection {
    /// Workspace URL; when set, it is the host for every auth method.
    #[serde(deserialize_with = "opt_string")]
    pub host: Option<String>,
    /// A profile in `~/.databrickscfg`, used before any environment credentials.
    #[serde(deserialize_with = "opt_string")]
    pub profile: Option<String>,
}
