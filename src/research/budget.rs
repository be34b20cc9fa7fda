//! When a run must stop early: the caller cancels it (Ctrl-C, a cancel endpoint), or one of
//! its budgets (model tokens, wall time) runs out. The engine asks a [`Watch`] between and
//! during phases and, once stopped, writes the report from what was gathered, marked partial.

use std::fmt;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::llm::UsageScope;

/// Limits a caller puts on one run (beyond the depth's own step and call limits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    /// Prompt plus completion tokens of this run's own calls, across every tier and
    /// endpoint (other runs on the same router are not counted).
    pub max_tokens: Option<u64>,
    /// Wall time from the start of the run to the finished report.
    pub timeout: Option<Duration>,
}

/// Why a run stopped before its plan was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The caller cancelled the run.
    Cancelled,
    /// The token budget is (nearly) spent.
    Tokens { used: u64, limit: u64 },
    /// The time budget is (nearly) spent.
    Time { limit: Duration },
}

impl StopReason {
    /// The `error.errorCode` of the event that announces the stop.
    pub fn code(self) -> &'static str {
        match self {
            StopReason::Cancelled => "RESEARCH_CANCELLED",
            StopReason::Tokens { .. } => "TOKEN_BUDGET_REACHED",
            StopReason::Time { .. } => "TIME_BUDGET_REACHED",
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Cancelled => f.write_str("the research was cancelled"),
            StopReason::Tokens { used, limit } => write!(
                f,
                "the token budget was reached ({used} of {limit} tokens used)"
            ),
            StopReason::Time { limit } => write!(
                f,
                "the time budget of {} was reached",
                humantime::format_duration(*limit)
            ),
        }
    }
}

/// Share of the time budget kept for writing the report: research stops when only this
/// much is left, so the synthesizer can still finish inside the budget.
const REPORT_TIME_SHARE: u32 = 5;
/// Tokens kept for the report when the depth names no report size.
const MIN_REPORT_TOKENS: u64 = 1_000;
/// How often token use is compared with the budget while a phase runs.
const TOKEN_POLL: Duration = Duration::from_millis(200);

/// Watches one run's cancellation token and budgets.
#[derive(Debug, Clone)]
pub struct Watch {
    cancel: CancellationToken,
    budget: Budget,
    started: Instant,
    /// The run's own usage: other runs in the process spend from the same router.
    usage: UsageScope,
    /// Tokens kept back for the report.
    report_tokens: u64,
}

impl Watch {
    /// Start watching now, counting the tokens of `usage` (the scope the run is entered
    /// in). `report_tokens` is the report's token allowance, kept back from the token
    /// budget so the synthesizer can still write.
    pub fn start(
        cancel: CancellationToken,
        budget: Budget,
        usage: UsageScope,
        report_tokens: u64,
    ) -> Watch {
        Watch {
            cancel,
            budget,
            started: Instant::now(),
            usage,
            report_tokens: report_tokens.max(MIN_REPORT_TOKENS),
        }
    }

    /// Keep back `tokens` for the report (once the depth, and so the report size, is known).
    pub fn reserve_for_report(&mut self, tokens: u64) {
        self.report_tokens = tokens.max(MIN_REPORT_TOKENS);
    }

    /// Tokens this run has used so far.
    pub fn tokens(&self) -> u64 {
        self.usage.tokens()
    }

    /// Whether research must stop now (cancellation, or a budget down to its reserve).
    pub fn research_stop(&self) -> Option<StopReason> {
        if self.cancel.is_cancelled() {
            return Some(StopReason::Cancelled);
        }
        if let Some(limit) = self.budget.max_tokens {
            let used = self.tokens();
            if used.saturating_add(self.report_tokens) >= limit {
                return Some(StopReason::Tokens { used, limit });
            }
        }
        match (self.budget.timeout, self.research_deadline()) {
            (Some(limit), Some(deadline)) if Instant::now() >= deadline => {
                Some(StopReason::Time { limit })
            }
            _ => None,
        }
    }

    /// Resolves when research must stop; polls token use while waiting.
    pub async fn research_stopped(&self) -> StopReason {
        let deadline = self.research_deadline();
        loop {
            if let Some(reason) = self.research_stop() {
                return reason;
            }
            let tick = tokio::time::sleep(TOKEN_POLL);
            tokio::select! {
                _ = self.cancel.cancelled() => return StopReason::Cancelled,
                _ = until(deadline) => {}
                _ = tick => {}
            }
        }
    }

    /// Resolves when even the report must stop: cancellation, or the whole time budget
    /// spent. (Tokens do not stop a report being written: its allowance was kept back.)
    pub async fn report_stopped(&self) -> StopReason {
        let deadline = self.budget.timeout.map(|t| self.started + t);
        tokio::select! {
            _ = self.cancel.cancelled() => StopReason::Cancelled,
            _ = until(deadline) => StopReason::Time {
                limit: self.budget.timeout.unwrap_or_default(),
            },
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    fn research_deadline(&self) -> Option<Instant> {
        self.budget
            .timeout
            .map(|t| self.started + t - t / REPORT_TIME_SHARE)
    }
}

/// Sleep until `deadline`, or forever without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_say_what_happened() {
        assert_eq!(
            StopReason::Tokens {
                used: 9_100,
                limit: 10_000
            }
            .to_string(),
            "the token budget was reached (9100 of 10000 tokens used)"
        );
        assert_eq!(
            StopReason::Time {
                limit: Duration::from_secs(90)
            }
            .to_string(),
            "the time budget of 1m 30s was reached"
        );
        assert_eq!(StopReason::Cancelled.code(), "RESEARCH_CANCELLED");
    }
}
