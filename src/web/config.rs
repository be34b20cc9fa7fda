//! The `web` configuration section: limits for fetching pages.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::AllowedHost;

/// A realistic browser-like User-Agent that still names dra, so sites that block unknown
/// clients serve the page and site owners can tell who fetched it.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) ",
    "Chrome/131.0 Safari/537.36 dra/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/mshtelma/databricks-deep-research-agent)"
);

/// Limits and identity for fetching web pages. Every field has a default.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct WebConfig {
    /// Time allowed to establish a TCP/TLS connection.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Longest wait for the next piece of data (headers or body).
    #[serde(with = "humantime_serde")]
    pub read_timeout: Duration,
    /// Upper bound on one request, from connecting to the last body byte.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Reading stops, and the fetch fails, past this many body bytes.
    pub max_body_bytes: u64,
    /// Redirects followed before giving up.
    pub max_redirects: u32,
    /// Fetches in flight at once, across all hosts.
    pub max_concurrent: u32,
    /// Fetches in flight at once to one host.
    pub max_per_host: u32,
    /// Extra attempts after a transient failure (connection error, timeout, HTTP 429/500/502/503/504).
    pub retries: u32,
    /// First pause between attempts; it doubles each time, with jitter.
    #[serde(with = "humantime_serde")]
    pub retry_min_delay: Duration,
    /// Longest pause between attempts, also the cap on a server's `Retry-After`.
    #[serde(with = "humantime_serde")]
    pub retry_max_delay: Duration,
    /// The User-Agent header sent with every request.
    pub user_agent: String,
    /// Connect to loopback, private, link-local and other non-public addresses. Off by
    /// default: URLs come from the model and from redirects. Cloud metadata addresses still
    /// need an `allowed_hosts` entry.
    pub allow_private_addresses: bool,
    /// Hosts, addresses (`127.0.0.1:8080` for one port) and networks (`10.0.0.0/8`) the
    /// fetcher may reach even though they are not public.
    pub allowed_hosts: Vec<AllowedHost>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(60),
            max_body_bytes: 10 * 1024 * 1024,
            max_redirects: 10,
            max_concurrent: 16,
            max_per_host: 4,
            retries: 2,
            retry_min_delay: Duration::from_millis(500),
            retry_max_delay: Duration::from_secs(10),
            user_agent: DEFAULT_USER_AGENT.to_string(),
            allow_private_addresses: false,
            allowed_hosts: Vec::new(),
        }
    }
}
