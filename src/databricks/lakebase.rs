//! Lakebase database instances and database credentials.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{ApiError, WorkspaceClient};

/// `GET /api/2.0/database/instances/{name}`.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseInstance {
    pub name: String,
    /// e.g. `STARTING`, `AVAILABLE`, `STOPPED`, `UPDATING`, `FAILING_OVER`, `DELETING`.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub read_write_dns: Option<String>,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub capacity: Option<String>,
}

impl DatabaseInstance {
    /// Whether the control plane reports the instance ready for connections.
    pub fn is_available(&self) -> bool {
        self.state.as_deref() == Some("AVAILABLE")
    }
}

/// `POST /api/2.0/database/credentials`: a short-lived PostgreSQL password.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseCredential {
    pub token: SecretString,
    /// RFC 3339; sometimes missing.
    #[serde(default)]
    pub expiration_time: Option<String>,
}

#[derive(Serialize)]
struct CredentialRequest<'a> {
    instance_names: &'a [String],
    request_id: String,
}

impl WorkspaceClient {
    /// Look up a Lakebase instance by name.
    pub async fn database_instance(&self, name: &str) -> Result<DatabaseInstance, ApiError> {
        let path = format!(
            "/api/2.0/database/instances/{}",
            percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
        );
        self.get(&path, &format!("Lakebase instance `{name}`"))
            .await
    }

    /// Generate a database credential valid for the given instances.
    pub async fn generate_database_credential(
        &self,
        instance_names: &[String],
    ) -> Result<DatabaseCredential, ApiError> {
        let body = CredentialRequest {
            instance_names,
            request_id: uuid::Uuid::new_v4().to_string(),
        };
        self.post(
            "/api/2.0/database/credentials",
            &body,
            &format!("Lakebase instance `{}`", instance_names.join(", ")),
        )
        .await
    }
}
