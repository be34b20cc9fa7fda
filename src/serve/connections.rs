//! How long the server waits for a client and how many it holds at once (the `server:`
//! section). A client that opens connections and sends its bodies slowly, or never
//! finishes them, would otherwise hold a connection (and a file descriptor) each for as
//! long as it likes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The `server:` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Time a client has to send a request body, from the end of its headers; after it
    /// the request gets 408 and the connection is closed.
    #[serde(with = "humantime_serde")]
    pub body_timeout: Duration,
    /// Time a client has to send a request's headers (actix's client request timeout).
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// Open connections the server holds at once, event streams included; further clients
    /// wait in the listen backlog until one closes.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            body_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(5),
            // Room for the 1,000 concurrent event streams `make bench` (sse) holds open,
            // while bounding what slow or idle clients can take: each connection is a
            // file descriptor.
            max_connections: 4096,
        }
    }
}

impl ServerConfig {
    /// Values out of range, as (key under `server`, value, what is allowed).
    pub fn problems(&self) -> Vec<(&'static str, String, String)> {
        let mut problems = Vec::new();
        for (key, value) in [
            ("body_timeout", self.body_timeout),
            ("header_timeout", self.header_timeout),
        ] {
            if value < Duration::from_millis(100) || value > Duration::from_secs(3600) {
                problems.push((
                    key,
                    humantime::format_duration(value).to_string(),
                    "must be between 100ms and 1h, e.g. 30s".into(),
                ));
            }
        }
        if self.max_connections == 0 || self.max_connections > 1_000_000 {
            problems.push((
                "max_connections",
                self.max_connections.to_string(),
                "must be between 1 and 1000000".into(),
            ));
        }
        problems
    }

    /// The connection cap of each of `workers` worker threads (actix counts per worker),
    /// so that together they hold at most `max_connections`, and at least one each.
    pub fn per_worker(&self, workers: usize) -> usize {
        (self.max_connections / workers.max(1)).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_shared_between_workers() {
        let c = ServerConfig {
            max_connections: 10,
            ..ServerConfig::default()
        };
        assert_eq!(c.per_worker(2), 5);
        assert_eq!(c.per_worker(3), 3, "never more than the total");
        assert_eq!(c.per_worker(20), 1, "every worker can serve");
        assert!(ServerConfig::default().problems().is_empty());
        let bad = ServerConfig {
            body_timeout: Duration::ZERO,
            max_connections: 0,
            ..ServerConfig::default()
        };
        let keys: Vec<_> = bad.problems().into_iter().map(|p| p.0).collect();
        assert_eq!(keys, ["body_timeout", "max_connections"]);
    }
}
