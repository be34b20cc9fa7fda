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

/// One line of an app's log, as `{app_url}/logz/batch` returns them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LogLine {
    /// Seconds since the epoch (fractional); 0 when absent.
    #[serde(default)]
    pub timestamp: f64,
    /// APP (the process's output) or SYSTEM (the platform's).
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub message: String,
}

impl LogLine {
    /// `[HH:MM:SS] [SOURCE] message`, as the original's log script prints it (UTC).
    pub fn render(&self) -> String {
        let time = chrono::DateTime::from_timestamp(self.timestamp as i64, 0)
            .filter(|_| self.timestamp > 0.0)
            .map(|t| t.format("%H:%M:%S").to_string())
            .unwrap_or_else(|| " ".repeat(8));
        let source: String = self.source.chars().take(6).collect();
        format!("[{time}] [{source:<6}] {}", self.message.trim_end())
    }
}

/// The lines of `lines` newer than `after` (a timestamp) that contain `search`
/// (case-insensitive), oldest first.
pub fn new_lines(mut lines: Vec<LogLine>, after: f64, search: Option<&str>) -> Vec<LogLine> {
    let search = search.map(str::to_lowercase);
    lines.retain(|l| {
        l.timestamp > after
            && search
                .as_deref()
                .is_none_or(|s| l.message.to_lowercase().contains(s))
    });
    lines.sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
    lines
}

impl WorkspaceClient {
    /// The app's recent log lines (its `/logz/batch` endpoint, with the workspace's
    /// credentials).
    pub async fn app_logs(&self, app: &App) -> Result<Vec<LogLine>, ApiError> {
        let Some(url) = app.url.as_deref().filter(|u| !u.is_empty()) else {
            return Err(ApiError::NotFound {
                what: format!("the URL of app `{}`", app.name),
                message: "the app has no URL yet; deploy and start it first".into(),
            });
        };
        self.get_at(url, "/logz/batch", &format!("logs of app `{}`", app.name))
            .await
    }
}
