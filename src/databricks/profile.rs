//! `~/.databrickscfg`: the INI file the Databricks CLI and SDKs share.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::AuthError;

/// One `[section]` of the config file.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub host: Option<String>,
    pub token: Option<SecretString>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub auth_type: Option<String>,
}

/// A parsed config file.
#[derive(Debug)]
pub struct ConfigFile {
    pub path: PathBuf,
    ini: ini::Ini,
}

impl ConfigFile {
    /// The file's path: `DATABRICKS_CONFIG_FILE`, else `~/.databrickscfg`.
    pub fn default_path(env: &crate::env::Env) -> Option<PathBuf> {
        if let Some(p) = env.get("DATABRICKS_CONFIG_FILE").filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p));
        }
        env.get("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| Path::new(h).join(".databrickscfg"))
    }

    /// Read and parse the file; `Ok(None)` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<ConfigFile>, AuthError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(AuthError::ConfigFile {
                    path: path.to_path_buf(),
                    line: None,
                    message: format!("cannot read: {e}"),
                })
            }
        };
        if let Some((line, message)) = first_malformed_line(&text) {
            return Err(AuthError::ConfigFile {
                path: path.to_path_buf(),
                line: Some(line),
                message,
            });
        }
        let ini = ini::Ini::load_from_str(&text).map_err(|e| AuthError::ConfigFile {
            path: path.to_path_buf(),
            line: Some(e.line),
            message: e.msg.to_string(),
        })?;
        Ok(Some(ConfigFile {
            path: path.to_path_buf(),
            ini,
        }))
    }

    /// Names of every profile in the file.
    pub fn profile_names(&self) -> Vec<String> {
        self.ini.sections().flatten().map(str::to_string).collect()
    }

    /// The named profile, if present.
    pub fn profile(&self, name: &str) -> Option<Profile> {
        let section = self.ini.section(Some(name))?;
        let get = |k: &str| {
            section
                .get(k)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        Some(Profile {
            name: name.to_string(),
            host: get("host"),
            token: get("token").map(SecretString::from),
            client_id: get("client_id"),
            client_secret: get("client_secret").map(SecretString::from),
            auth_type: get("auth_type"),
        })
    }
}

/// rust-ini reports an unclosed `[section` at end of file; point at the line instead.
fn first_malformed_line(text: &str) -> Option<(usize, String)> {
    text.lines().enumerate().find_map(|(i, raw)| {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            return None;
        }
        if line.starts_with('[') && !line.ends_with(']') {
            return Some((
                i + 1,
                format!("section header `{line}` is missing its closing `]`"),
            ));
        }
        if !line.starts_with('[') && !line.contains('=') {
            return Some((
                i + 1,
                "expected `key = value` or a `[profile]` header".to_string(),
            ));
        }
        None
    })
}
