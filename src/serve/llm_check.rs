//! Whether a model endpoint answers, for `GET /v1/health`'s `llm` field: checked (a
//! one-word prompt to each endpoint, at once, each within a few seconds) rather than
//! assumed, and cached briefly so health polling does not become model traffic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::llm::LlmRouter;

/// How long a check's answer is reused.
pub const CACHE_FOR: Duration = Duration::from_secs(30);

/// How long one endpoint may take to answer the probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The router's endpoints, checked on demand.
pub struct LlmCheck {
    router: Arc<LlmRouter>,
    last: Mutex<Option<(Instant, bool)>>,
}

impl std::fmt::Debug for LlmCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LlmCheck")
    }
}

impl LlmCheck {
    pub fn new(router: Arc<LlmRouter>) -> LlmCheck {
        LlmCheck {
            router,
            last: Mutex::new(None),
        }
    }

    /// `available` when at least one endpoint answered (now or within [`CACHE_FOR`]),
    /// else `unavailable`.
    pub async fn status(&self) -> &'static str {
        let mut last = self.last.lock().await;
        let fresh = last.filter(|(at, _)| at.elapsed() < CACHE_FOR);
        let ok = match fresh {
            Some((_, ok)) => ok,
            None => {
                let ok = self.probe().await;
                *last = Some((Instant::now(), ok));
                ok
            }
        };
        if ok {
            "available"
        } else {
            "unavailable"
        }
    }

    async fn probe(&self) -> bool {
        let mut endpoints: Vec<&str> = self
            .router
            .tier_endpoints()
            .into_iter()
            .flat_map(|(_, e)| e)
            .collect();
        endpoints.sort_unstable();
        endpoints.dedup();
        let probes = endpoints.iter().map(|id| async move {
            matches!(
                tokio::time::timeout(PROBE_TIMEOUT, self.router.probe(id)).await,
                Ok(Ok(_))
            )
        });
        futures::future::join_all(probes)
            .await
            .into_iter()
            .any(|ok| ok)
    }
}
