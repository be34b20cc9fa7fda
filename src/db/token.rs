//! Passwords for new database connections: a static password, or Lakebase OAuth
//! credentials refreshed before they expire.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use tokio::sync::Mutex;

use crate::databricks::{ApiError, WorkspaceClient};

/// Failure to obtain a database password.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot get a Lakebase credential for instance `{instance}`: {source}")]
    Credential {
        instance: String,
        #[source]
        source: Box<ApiError>,
    },
}

/// A password and the moment it stops working.
#[derive(Clone, Debug)]
pub struct Credential {
    pub token: SecretString,
    pub expires_at: DateTime<Utc>,
}

/// Supplies the password for each new connection.
#[derive(Debug)]
pub enum TokenProvider {
    /// A fixed password (or none) from `DATABASE_URL`.
    Static(Option<SecretString>),
    /// Lakebase credentials from the workspace API.
    Lakebase(Box<LakebaseTokens>),
}

/// Cached, single-flight Lakebase credentials.
#[derive(Debug)]
pub struct LakebaseTokens {
    client: WorkspaceClient,
    instance: String,
    refresh_buffer: Duration,
    default_lifetime: Duration,
    cache: Mutex<Option<Credential>>,
}

impl TokenProvider {
    /// A Lakebase provider for `instance`.
    pub fn lakebase(
        client: WorkspaceClient,
        instance: impl Into<String>,
        refresh_buffer: Duration,
        default_lifetime: Duration,
    ) -> Arc<TokenProvider> {
        Arc::new(TokenProvider::Lakebase(Box::new(LakebaseTokens {
            client,
            instance: instance.into(),
            refresh_buffer,
            default_lifetime,
            cache: Mutex::new(None),
        })))
    }

    /// The password to log in with now; `None` for password-less local servers.
    pub async fn password(&self) -> Result<Option<SecretString>, TokenError> {
        Ok(self.login().await?.0)
    }

    /// The password to log in with now and when it stops being valid (`None`: never, for
    /// a fixed password).
    pub async fn login(&self) -> Result<(Option<SecretString>, Option<DateTime<Utc>>), TokenError> {
        match self {
            TokenProvider::Static(p) => Ok((p.clone(), None)),
            TokenProvider::Lakebase(l) => {
                let credential = l.credential().await?;
                Ok((Some(credential.token), Some(credential.expires_at)))
            }
        }
    }
}

impl LakebaseTokens {
    /// A valid credential, fetched when none is cached or the cached one is within the
    /// refresh buffer of expiring.
    pub async fn credential(&self) -> Result<Credential, TokenError> {
        // Callers queue on the lock while one of them fetches, so N concurrent callers
        // cause one API call.
        let mut cached = self.cache.lock().await;
        if let Some(c) = cached.as_ref() {
            if Utc::now() + to_chrono(self.refresh_buffer) < c.expires_at {
                return Ok(c.clone());
            }
        }
        let fresh = self
            .client
            .generate_database_credential(std::slice::from_ref(&self.instance))
            .await
            .map_err(|source| TokenError::Credential {
                instance: self.instance.clone(),
                source: Box::new(source),
            })?;
        let now = Utc::now();
        let expires_at = expiry(fresh.expiration_time.as_deref(), now, self.default_lifetime);
        tracing::info!(instance = %self.instance, %expires_at, "obtained Lakebase credential");
        let credential = Credential {
            token: fresh.token,
            expires_at,
        };
        *cached = Some(credential.clone());
        Ok(credential)
    }
}

/// Parse the API's `expiration_time`; a missing, unparsable or past value means the
/// default lifetime.
pub fn expiry(raw: Option<&str>, now: DateTime<Utc>, default_lifetime: Duration) -> DateTime<Utc> {
    let fallback = now + to_chrono(default_lifetime);
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        tracing::debug!("credential has no expiration_time; assuming the default lifetime");
        return fallback;
    };
    match DateTime::parse_from_rfc3339(raw) {
        Ok(t) if t.with_timezone(&Utc) > now => t.with_timezone(&Utc),
        Ok(_) => {
            tracing::warn!(
                expiration_time = raw,
                "credential expiration_time is in the past; assuming the default lifetime"
            );
            fallback
        }
        Err(e) => {
            tracing::warn!(expiration_time = raw, error = %e, "unparsable credential expiration_time; assuming the default lifetime");
            fallback
        }
    }
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_falls_back_to_default_lifetime() {
        let now = Utc::now();
        let hour = Duration::from_secs(3600);
        let later = now + chrono::Duration::seconds(600);
        assert_eq!(expiry(Some(&later.to_rfc3339()), now, hour), later);
        assert_eq!(
            expiry(None, now, hour),
            now + chrono::Duration::seconds(3600)
        );
        assert_eq!(
            expiry(Some("not a date"), now, hour),
            now + chrono::Duration::seconds(3600)
        );
        let past = (now - chrono::Duration::seconds(5)).to_rfc3339();
        assert_eq!(
            expiry(Some(&past), now, hour),
            now + chrono::Duration::seconds(3600)
        );
    }
}
