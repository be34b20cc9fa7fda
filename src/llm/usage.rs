//! Token usage, per tier and endpoint: the router's process-wide ledger, and
//! [`UsageScope`]s counting one run's (or one phase's) calls on their own.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::wire::Usage;

/// Totals for one (tier, endpoint) pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    pub tier: String,
    pub endpoint: String,
    pub calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Calls whose counts were estimated locally because the server sent none.
    pub estimated_calls: u64,
}

/// Thread-safe usage accumulator.
#[derive(Debug, Default)]
pub struct UsageLedger(Mutex<BTreeMap<(String, String), UsageRow>>);

impl UsageLedger {
    /// Add one call's usage.
    pub fn record(&self, tier: &str, endpoint: &str, usage: Usage, estimated: bool) {
        let Ok(mut rows) = self.0.lock() else {
            return;
        };
        let row = rows
            .entry((tier.to_string(), endpoint.to_string()))
            .or_insert_with(|| UsageRow {
                tier: tier.to_string(),
                endpoint: endpoint.to_string(),
                ..UsageRow::default()
            });
        row.calls += 1;
        row.prompt_tokens += usage.prompt_tokens;
        row.completion_tokens += usage.completion_tokens;
        row.estimated_calls += u64::from(estimated);
    }

    /// Every row, ordered by tier then endpoint.
    pub fn snapshot(&self) -> Vec<UsageRow> {
        self.0
            .lock()
            .map(|rows| rows.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// One run's (or one phase's) own token usage: every LLM call made while a future runs
/// inside [`UsageScope::enter`] is added here, to every scope it is nested in, and to the
/// router's process-wide ledger.
///
/// Scopes live in a `tokio::task_local!` rather than in a handle carried by each
/// [`LlmRequest`](super::LlmRequest): every agent, the verifier and the retriever reach
/// the router through their own helpers, and a parameter threaded through all of them
/// would touch every call site for something only the run's owner reads. A task-local
/// follows the run's future wherever it is polled, which covers the engine's concurrency:
/// `join_all`, `FuturesUnordered` and `buffer_unordered` poll their futures inside the
/// run's task. A future handed to `tokio::spawn` does not inherit task-locals, so wrap it
/// in [`UsageScope::carry`] first (the engine spawns none today).
#[derive(Debug, Clone, Default)]
pub struct UsageScope(Arc<UsageLedger>);

/// Prompt and completion tokens and calls, summed over tiers and endpoints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageTotals {
    pub calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl UsageTotals {
    /// Prompt plus completion tokens.
    pub fn tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    fn of(rows: &[UsageRow]) -> UsageTotals {
        rows.iter()
            .fold(UsageTotals::default(), |t, r| UsageTotals {
                calls: t.calls + r.calls,
                prompt_tokens: t.prompt_tokens + r.prompt_tokens,
                completion_tokens: t.completion_tokens + r.completion_tokens,
            })
    }
}

tokio::task_local! {
    /// The scopes in effect, outermost first.
    static SCOPES: Arc<[UsageScope]>;
}

impl UsageScope {
    /// An empty scope, not yet entered.
    pub fn new() -> UsageScope {
        UsageScope::default()
    }

    /// Run `fut` with this scope added to the scopes in effect where `fut` is polled, so
    /// its calls count here and in every enclosing scope. Entering a scope that is already
    /// in effect changes nothing (calls are never counted twice in one scope).
    pub async fn enter<F: Future>(&self, fut: F) -> F::Output {
        // Read when first polled, not when called, so `outer.enter(inner.enter(f))` nests.
        let mut scopes = current();
        if !scopes.iter().any(|s| Arc::ptr_eq(&s.0, &self.0)) {
            scopes.push(self.clone());
        }
        SCOPES.scope(scopes.into(), fut).await
    }

    /// Wrap `fut` so that it counts in the scopes in effect here, wherever it is polled:
    /// for `tokio::spawn`, whose tasks do not inherit the spawner's scopes.
    pub fn carry<F: Future>(fut: F) -> impl Future<Output = F::Output> {
        SCOPES.scope(current().into(), fut)
    }

    /// This scope's usage so far, per tier and endpoint.
    pub fn usage(&self) -> Vec<UsageRow> {
        self.0.snapshot()
    }

    /// This scope's calls and tokens so far, all tiers and endpoints.
    pub fn totals(&self) -> UsageTotals {
        UsageTotals::of(&self.usage())
    }

    /// Prompt plus completion tokens this scope has counted so far.
    pub fn tokens(&self) -> u64 {
        self.totals().tokens()
    }
}

/// Add one call's usage to every scope in effect (none outside any scope).
pub(super) fn record_in_scopes(tier: &str, endpoint: &str, usage: Usage, estimated: bool) {
    let _ = SCOPES.try_with(|scopes| {
        for scope in scopes.iter() {
            scope.0.record(tier, endpoint, usage, estimated);
        }
    });
}

/// The scopes in effect in the current task, outermost first.
fn current() -> Vec<UsageScope> {
    SCOPES
        .try_with(|scopes| scopes.to_vec())
        .unwrap_or_default()
}
