//! Unified Databricks authentication, resolved like the Databricks SDKs do.
//!
//! Order: an explicit profile (`--profile` or `databricks.profile`) → `DATABRICKS_HOST` +
//! `DATABRICKS_TOKEN` → `DATABRICKS_HOST` + `DATABRICKS_CLIENT_ID` + `DATABRICKS_CLIENT_SECRET`
//! (OAuth M2M, what a Databricks App receives) → the profile named by
//! `DATABRICKS_CONFIG_PROFILE` (else `DEFAULT`) in `~/.databrickscfg`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::normalize_host;
use super::profile::{ConfigFile, Profile};
use crate::env::Env;

/// What the caller knows explicitly (flags and config), before environment variables.
#[derive(Debug, Clone, Default)]
pub struct AuthOptions {
    /// Workspace URL that overrides any other source of the host.
    pub host: Option<String>,
    /// A profile to use before environment credentials.
    pub profile: Option<String>,
}

/// One method tried during resolution and why it did not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthAttempt {
    pub method: &'static str,
    pub needs: &'static str,
    pub outcome: String,
}

/// Authentication failures. None of them carries a token or secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "no Databricks credentials found. Tried, in order:\n{}",
        render_attempts(attempts)
    )]
    NoCredentials { attempts: Vec<AuthAttempt> },
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
    ConfigFile {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("profile `{profile}` not found in {}{}", path.display(), available_list(available))]
    ProfileNotFound {
        profile: String,
        path: PathBuf,
        available: Vec<String>,
    },
    #[error("profile `{profile}` in {}: {message}", path.display())]
    ProfileIncomplete {
        profile: String,
        path: PathBuf,
        message: String,
    },
    #[error("invalid Databricks host `{host}`: {reason}")]
    InvalidHost { host: String, reason: String },
    #[error("OAuth token request to {host}/oidc/v1/token failed: {message}")]
    TokenEndpoint { host: String, message: String },
    #[error("`databricks auth token --profile {profile}` failed: {message}")]
    Cli { profile: String, message: String },
}

/// Resolved credentials for one workspace, shared by every client in the process.
pub struct DatabricksAuth {
    host: url::Url,
    source: String,
    credential: Credential,
}

enum Credential {
    Pat(SecretString),
    M2m {
        client_id: String,
        client_secret: SecretString,
        http: reqwest::Client,
        cache: Mutex<Option<CachedToken>>,
    },
    Cli {
        profile: String,
        /// PATH to find `databricks` on (from the environment snapshot).
        path: Option<String>,
        cache: Mutex<Option<CachedToken>>,
    },
}

#[derive(Clone)]
struct CachedToken {
    token: SecretString,
    refresh_at: DateTime<Utc>,
}

impl fmt::Debug for DatabricksAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabricksAuth")
            .field("host", &self.host.as_str())
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

const M2M_SCOPE: &str = "all-apis";
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

impl DatabricksAuth {
    /// Resolve credentials from options, the environment and the config file.
    pub fn resolve(opts: &AuthOptions, env: &Env) -> Result<DatabricksAuth, AuthError> {
        let var = |k: &str| {
            env.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut attempts = Vec::new();
        let env_host = opts.host.clone().or_else(|| var("DATABRICKS_HOST"));

        if let Some(name) = &opts.profile {
            return from_profile(name, opts.host.as_deref(), env, "--profile");
        }
        attempts.push(AuthAttempt {
            method: "explicit profile",
            needs: "--profile or databricks.profile in the config file",
            outcome: "not given".into(),
        });

        match (&env_host, var("DATABRICKS_TOKEN")) {
            (Some(host), Some(token)) => {
                return DatabricksAuth::new(
                    host,
                    "DATABRICKS_TOKEN (personal access token)",
                    Credential::Pat(token.into()),
                )
            }
            (h, t) => attempts.push(AuthAttempt {
                method: "personal access token",
                needs: "DATABRICKS_HOST and DATABRICKS_TOKEN",
                outcome: missing(&[
                    ("DATABRICKS_HOST", h.is_some()),
                    ("DATABRICKS_TOKEN", t.is_some()),
                ]),
            }),
        }

        match (
            &env_host,
            var("DATABRICKS_CLIENT_ID"),
            var("DATABRICKS_CLIENT_SECRET"),
        ) {
            (Some(host), Some(id), Some(secret)) => {
                return DatabricksAuth::new(
                    host,
                    "DATABRICKS_CLIENT_ID/SECRET (OAuth M2M)",
                    m2m(id, secret.into()),
                )
            }
            (h, i, s) => attempts.push(AuthAttempt {
                method: "OAuth M2M (service principal)",
                needs: "DATABRICKS_HOST, DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET",
                outcome: missing(&[
                    ("DATABRICKS_HOST", h.is_some()),
                    ("DATABRICKS_CLIENT_ID", i.is_some()),
                    ("DATABRICKS_CLIENT_SECRET", s.is_some()),
                ]),
            }),
        }

        let profile_name = var("DATABRICKS_CONFIG_PROFILE").unwrap_or_else(|| "DEFAULT".into());
        let needs =
            "a profile in ~/.databrickscfg (DATABRICKS_CONFIG_FILE, DATABRICKS_CONFIG_PROFILE)";
        match ConfigFile::default_path(env) {
            None => attempts.push(AuthAttempt {
                method: "config file profile",
                needs,
                outcome: "HOME and DATABRICKS_CONFIG_FILE are not set".into(),
            }),
            Some(path) => match ConfigFile::read(&path)? {
                None => attempts.push(AuthAttempt {
                    method: "config file profile",
                    needs,
                    outcome: format!("{} does not exist", path.display()),
                }),
                Some(file) => match file.profile(&profile_name) {
                    Some(p) => return from_profile_entry(p, &file, opts.host.as_deref(), env),
                    None if var("DATABRICKS_CONFIG_PROFILE").is_some() => {
                        return Err(AuthError::ProfileNotFound {
                            profile: profile_name,
                            path,
                            available: file.profile_names(),
                        })
                    }
                    None => attempts.push(AuthAttempt {
                        method: "config file profile",
                        needs,
                        outcome: format!(
                            "{} has no [DEFAULT] profile and DATABRICKS_CONFIG_PROFILE is not set",
                            path.display()
                        ),
                    }),
                },
            },
        }
        Err(AuthError::NoCredentials { attempts })
    }

    fn new(host: &str, source: &str, credential: Credential) -> Result<DatabricksAuth, AuthError> {
        let normalized = normalize_host(host);
        let host_url = url::Url::parse(&normalized).map_err(|e| AuthError::InvalidHost {
            host: host.to_string(),
            reason: e.to_string(),
        })?;
        Ok(DatabricksAuth {
            host: host_url,
            source: source.to_string(),
            credential,
        })
    }

    /// The workspace URL, without a trailing slash.
    pub fn host(&self) -> &str {
        self.host.as_str().trim_end_matches('/')
    }

    /// A human description of where the credentials came from (never the secret itself).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// A bearer token for the workspace APIs, fetched or refreshed as needed.
    pub async fn token(&self) -> Result<SecretString, AuthError> {
        match &self.credential {
            Credential::Pat(t) => Ok(t.clone()),
            Credential::M2m {
                client_id,
                client_secret,
                http,
                cache,
            } => {
                // Holding the lock while fetching makes refreshes single-flight.
                let mut guard = cache.lock().await;
                if let Some(c) = guard.as_ref().filter(|c| Utc::now() < c.refresh_at) {
                    return Ok(c.token.clone());
                }
                let fresh = fetch_m2m(self.host(), http, client_id, client_secret).await?;
                let token = fresh.token.clone();
                *guard = Some(fresh);
                Ok(token)
            }
            Credential::Cli {
                profile,
                path,
                cache,
            } => {
                let mut guard = cache.lock().await;
                if let Some(c) = guard.as_ref().filter(|c| Utc::now() < c.refresh_at) {
                    return Ok(c.token.clone());
                }
                let fresh = fetch_cli(profile, path.as_deref()).await?;
                let token = fresh.token.clone();
                *guard = Some(fresh);
                Ok(token)
            }
        }
    }
}

fn m2m(client_id: String, client_secret: SecretString) -> Credential {
    Credential::M2m {
        client_id,
        client_secret,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default(),
        cache: Mutex::new(None),
    }
}

fn from_profile(
    name: &str,
    host_override: Option<&str>,
    env: &Env,
    via: &str,
) -> Result<DatabricksAuth, AuthError> {
    let Some(path) = ConfigFile::default_path(env) else {
        return Err(AuthError::ProfileIncomplete {
            profile: name.into(),
            path: PathBuf::from("~/.databrickscfg"),
            message: format!(
                "{via} names a profile, but HOME and DATABRICKS_CONFIG_FILE are not set"
            ),
        });
    };
    let Some(file) = ConfigFile::read(&path)? else {
        return Err(AuthError::ProfileNotFound {
            profile: name.into(),
            path,
            available: vec![],
        });
    };
    match file.profile(name) {
        Some(p) => from_profile_entry(p, &file, host_override, env),
        None => Err(AuthError::ProfileNotFound {
            profile: name.into(),
            available: file.profile_names(),
            path,
        }),
    }
}

fn from_profile_entry(
    p: Profile,
    file: &ConfigFile,
    host_override: Option<&str>,
    env: &Env,
) -> Result<DatabricksAuth, AuthError> {
    let cli = |profile: &str| Credential::Cli {
        profile: profile.to_string(),
        path: env.get("PATH").cloned(),
        cache: Mutex::new(None),
    };
    let Some(host) = host_override.map(str::to_string).or(p.host.clone()) else {
        return Err(AuthError::ProfileIncomplete {
            profile: p.name,
            path: file.path.clone(),
            message: "no `host =` line".into(),
        });
    };
    let source = |kind: &str| format!("profile `{}` in {} ({kind})", p.name, file.path.display());
    if p.auth_type.as_deref() == Some("databricks-cli") {
        return DatabricksAuth::new(&host, &source("databricks-cli"), cli(&p.name));
    }
    if let Some(token) = p.token.clone() {
        return DatabricksAuth::new(
            &host,
            &source("personal access token"),
            Credential::Pat(token),
        );
    }
    match (p.client_id.clone(), p.client_secret.clone()) {
        (Some(id), Some(secret)) => {
            DatabricksAuth::new(&host, &source("OAuth M2M"), m2m(id, secret))
        }
        (Some(_), None) | (None, Some(_)) => Err(AuthError::ProfileIncomplete {
            profile: p.name,
            path: file.path.clone(),
            message: "OAuth M2M needs both `client_id` and `client_secret`".into(),
        }),
        // A host-only profile is what `databricks auth login` writes for U2M: ask the CLI.
        (None, None) => DatabricksAuth::new(&host, &source("databricks-cli"), cli(&p.name)),
    }
}

#[derive(Deserialize)]
struct OidcTokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

async fn fetch_m2m(
    host: &str,
    http: &reqwest::Client,
    client_id: &str,
    client_secret: &SecretString,
) -> Result<CachedToken, AuthError> {
    let fail = |message: String| AuthError::TokenEndpoint {
        host: host.to_string(),
        message,
    };
    tracing::debug!(host, "requesting OAuth M2M token");
    let resp = http
        .post(format!("{host}/oidc/v1/token"))
        .basic_auth(client_id, Some(client_secret.expose_secret()))
        .form(&[("grant_type", "client_credentials"), ("scope", M2M_SCOPE)])
        .send()
        .await
        .map_err(|e| fail(format!("cannot reach the workspace: {}", e.without_url())))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(fail(format!("HTTP {status}: {}", oauth_error_text(&body))));
    }
    let body: OidcTokenResponse = resp
        .json()
        .await
        .map_err(|e| fail(format!("unexpected response: {}", e.without_url())))?;
    let lifetime = Duration::from_secs(body.expires_in.unwrap_or(3600));
    Ok(CachedToken {
        token: body.access_token.into(),
        refresh_at: refresh_time(Utc::now(), lifetime),
    })
}

/// OAuth errors are `{"error": "...", "error_description": "..."}`; keep only those fields
/// so nothing else the server echoes ends up in our messages.
fn oauth_error_text(body: &str) -> String {
    #[derive(Deserialize)]
    struct OAuthErr {
        error: Option<String>,
        error_description: Option<String>,
    }
    match serde_json::from_str::<OAuthErr>(body) {
        Ok(OAuthErr {
            error,
            error_description,
        }) => [error, error_description]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": "),
        Err(_) => "no error details in the response".into(),
    }
}

#[derive(Deserialize)]
struct CliToken {
    access_token: String,
    #[serde(default)]
    expiry: Option<String>,
}

async fn fetch_cli(profile: &str, path: Option<&str>) -> Result<CachedToken, AuthError> {
    let fail = |message: String| AuthError::Cli {
        profile: profile.to_string(),
        message,
    };
    let mut cmd = tokio::process::Command::new("databricks");
    // With PATH set explicitly, std looks the program up on that PATH.
    if let Some(p) = path {
        cmd.env("PATH", p);
    }
    let out = cmd
        .args(["auth", "token", "--profile", profile])
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => fail(
                "the Databricks CLI (`databricks`) is not on PATH; install it or use a token or OAuth M2M profile".into(),
            ),
            _ => fail(e.to_string()),
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output");
        return Err(fail(format!(
            "exit status {}: {first} (try `databricks auth login --profile {profile}`)",
            out.status.code().unwrap_or(-1)
        )));
    }
    let token: CliToken = serde_json::from_slice(&out.stdout)
        .map_err(|e| fail(format!("cannot read its JSON output: {e}")))?;
    let now = Utc::now();
    let lifetime = token
        .expiry
        .as_deref()
        .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
        .map(|e| e.with_timezone(&Utc))
        .and_then(|e| (e - now).to_std().ok())
        .unwrap_or(Duration::from_secs(10 * 60));
    Ok(CachedToken {
        token: token.access_token.into(),
        refresh_at: refresh_time(now, lifetime),
    })
}

/// Refresh a token 5 minutes before expiry, or at half-life for short-lived tokens.
fn refresh_time(now: DateTime<Utc>, lifetime: Duration) -> DateTime<Utc> {
    let margin = MAX_REFRESH_MARGIN.min(lifetime / 2);
    now + chrono::Duration::from_std(lifetime - margin).unwrap_or_default()
}

fn missing(vars: &[(&str, bool)]) -> String {
    let unset: Vec<&str> = vars
        .iter()
        .filter(|(_, set)| !set)
        .map(|(v, _)| *v)
        .collect();
    format!("{} not set", unset.join(", "))
}

fn render_attempts(attempts: &[AuthAttempt]) -> String {
    let mut out = attempts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            format!(
                "  {}. {} (needs {}): {}",
                i + 1,
                a.method,
                a.needs,
                a.outcome
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    out.push_str(
        "\nSet DATABRICKS_HOST and DATABRICKS_TOKEN, or DATABRICKS_CONFIG_PROFILE, or run `databricks auth login`.",
    );
    out
}

fn available_list(available: &[String]) -> String {
    if available.is_empty() {
        String::new()
    } else {
        format!(" (profiles there: {})", available.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_happens_before_expiry() {
        let now = Utc::now();
        assert_eq!(
            refresh_time(now, Duration::from_secs(3600)),
            now + chrono::Duration::seconds(3300)
        );
        assert_eq!(
            refresh_time(now, Duration::from_secs(4)),
            now + chrono::Duration::seconds(2)
        );
    }

    #[test]
    fn oauth_errors_keep_only_error_fields() {
        let body = r#"{"error":"invalid_client","error_description":"bad secret","echo":"s3cr3t"}"#;
        assert_eq!(oauth_error_text(body), "invalid_client: bad secret");
        assert_eq!(
            oauth_error_text("<html>s3cr3t</html>"),
            "no error details in the response"
        );
    }
}
