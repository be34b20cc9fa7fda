//! Token usage, per tier and endpoint.

use std::collections::BTreeMap;
use std::sync::Mutex;

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
