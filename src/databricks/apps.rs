//! Databricks Apps.

use serde::Deserialize;

use super::{ApiError, WorkspaceClient};

/// `GET /api/2.0/apps/{name}` (the fields dra uses).
#[derive(Debug, Clone, Deserialize)]
pub struct App {
    pub name: String,
    /// Numeric workspace id of the app's service principal.
    #[serde(default)]
    pub service_principal_id: Option<serde_json::Value>,
    /// The service principal's application id: its PostgreSQL role name on Lakebase.
    #[serde(default)]
    pub service_principal_client_id: Option<String>,
    #[serde(default)]
    pub service_principal_name: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

impl WorkspaceClient {
    /// Look up an app by its exact name.
    pub async fn app(&self, name: &str) -> Result<App, ApiError> {
        let path = format!(
            "/api/2.0/apps/{}",
            percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
        );
        self.get(&path, &format!("app `{name}`")).await
    }
}
