//! Databricks workspace access: unified authentication and the REST APIs dra needs
//! (SCIM `Me`, Lakebase instances and credentials, apps).

mod apps;
mod auth;
mod client;
mod config;
mod lakebase;
mod profile;
mod scim;

pub use apps::{new_lines, App, LogLine};
pub use auth::{AuthAttempt, AuthError, AuthOptions, DatabricksAuth};
pub use client::{ApiError, WorkspaceClient};
pub use config::DatabricksSection;
pub use lakebase::{DatabaseCredential, DatabaseInstance};
pub use profile::{ConfigFile, Profile};
pub use scim::CurrentUser;

/// Databricks hosts are often written without a scheme or with a trailing slash.
pub fn normalize_host(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    if host.contains("://") {
        host.to_string()
    } else {
        format!("https://{host}")
    }
}
