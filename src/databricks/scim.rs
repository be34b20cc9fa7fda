//! SCIM `Me`: who the credentials belong to.

use serde::Deserialize;

use super::{ApiError, WorkspaceClient};

/// The fields of `GET /api/2.0/preview/scim/v2/Me` that dra uses.
#[derive(Debug, Clone, Deserialize)]
pub struct CurrentUser {
    #[serde(rename = "userName")]
    pub user_name: String,
    #[serde(default)]
    pub id: Option<String>,
}

impl WorkspaceClient {
    /// The user or service principal the credentials authenticate as.
    pub async fn current_user(&self) -> Result<CurrentUser, ApiError> {
        self.get("/api/2.0/preview/scim/v2/Me", "current user")
            .await
    }
}
