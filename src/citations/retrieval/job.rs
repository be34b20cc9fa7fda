//! One claim's re-verification in progress: its counters and problems, model calls with
//! their timeouts, and 7a, the claim split into atomic facts.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::prompts::{clean_facts, decomposition_prompt, DecompositionAnswer, DECOMPOSE_SYSTEM};
use super::{RetrievalError, Retriever, Softening, SHORT_CLAIM_WORDS};
use crate::citations::config::VerificationRetrieval;
use crate::citations::evidence::SourceText;
use crate::llm::{LlmRequest, Message};

/// Used when a configured timeout is not a usable number of seconds.
const FALLBACK_TIMEOUT: Duration = Duration::from_secs(15);

/// One claim's re-verification in progress.
pub(super) struct Job<'j> {
    pub(super) r: &'j Retriever<'j>,
    pub(super) pool: Vec<SourceText>,
    pub(super) cited: &'j [u32],
    pub(super) softening: Softening,
    pub(super) model_calls: AtomicU32,
    pub(super) searches: AtomicU32,
    pub(super) problems: Mutex<Vec<RetrievalError>>,
    pub(super) new_sources: Mutex<BTreeSet<u32>>,
}

impl Job<'_> {
    pub(super) fn settings(&self) -> &VerificationRetrieval {
        self.r.settings
    }

    pub(super) fn problem(&self, p: RetrievalError) {
        tracing::debug!(problem = %p, "verification retrieval fell back");
        if let Ok(mut all) = self.problems.lock() {
            all.push(p);
        }
    }

    /// A model call, counted, with a timeout when one is configured for the step.
    pub(super) async fn model<T>(
        &self,
        step: &str,
        limit: Option<Duration>,
        call: impl Future<Output = Result<T, crate::llm::LlmError>>,
    ) -> Result<T, String> {
        self.model_calls.fetch_add(1, Ordering::SeqCst);
        match limit {
            Some(after) => match tokio::time::timeout(after, call).await {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(_) => Err(RetrievalError::Timeout {
                    step: step.into(),
                    after,
                }
                .to_string()),
            },
            None => call.await.map_err(|e| e.to_string()),
        }
    }

    /// A free-text rewriting call (softening or reconstruction) on `tier_name`, counted.
    pub(super) async fn rewrite_call(
        &self,
        step: &str,
        tier_name: &str,
        messages: Vec<Message>,
    ) -> Result<crate::llm::LlmResponse, String> {
        let tier = self.r.tier(tier_name);
        let request = LlmRequest {
            messages,
            ..LlmRequest::default()
        };
        self.model(step, None, self.r.router.complete(tier, request))
            .await
    }

    /// 7a: the claim's atomic facts; the claim itself when it is short, when one fact is
    /// all the settings allow, or when the model gave nothing usable.
    pub(super) async fn decompose(&self, claim: &str) -> Vec<String> {
        let max = self.settings().max_atomic_facts_per_claim.max(1) as usize;
        if claim.split_whitespace().count() < SHORT_CLAIM_WORDS || max == 1 {
            return vec![claim.to_string()];
        }
        let messages = vec![
            Message::system(DECOMPOSE_SYSTEM),
            Message::user(decomposition_prompt(claim, max)),
        ];
        let tier = self.r.tier(&self.settings().decomposition_tier);
        let limit = seconds(self.settings().decomposition_timeout_seconds);
        let answer = self
            .model(
                "decomposition",
                Some(limit),
                self.r
                    .router
                    .complete_json::<DecompositionAnswer>(tier, messages),
            )
            .await;
        match answer {
            Ok(a) => {
                let facts = clean_facts(&a.value.facts, max);
                if facts.is_empty() {
                    self.problem(RetrievalError::Decomposition(
                        "no facts in the answer".into(),
                    ));
                    return vec![claim.to_string()];
                }
                facts
            }
            Err(e) => {
                self.problem(RetrievalError::Decomposition(e));
                vec![claim.to_string()]
            }
        }
    }
}

pub(super) fn take<T: Default>(m: &Mutex<T>) -> T {
    m.lock()
        .map(|mut v| std::mem::take(&mut *v))
        .unwrap_or_default()
}

/// A configured number of seconds as a duration; nonsense becomes [`FALLBACK_TIMEOUT`].
pub(super) fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s)
        .ok()
        .filter(|d| !d.is_zero())
        .unwrap_or(FALLBACK_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_fall_back_on_nonsense() {
        assert_eq!(seconds(2.5), Duration::from_millis(2500));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(seconds(bad), FALLBACK_TIMEOUT);
        }
    }
}
