//! Fault injection for tests of panic isolation: in debug builds, `DRA_FAULT_PANIC=<stage>`
//! (`coordinator`, `planner`, `researcher`, `synthesizer`, `verification`) makes that stage
//! of every run panic, so tests can check that a bug inside a run ends that run `failed`
//! with an `error` event instead of taking down a CLI or wedging a server's job. Release
//! builds compile it to nothing.

/// The environment variable naming the stage to fail.
pub const VAR: &str = "DRA_FAULT_PANIC";

/// Panic here when `DRA_FAULT_PANIC` names `stage` (debug builds only).
pub fn point(stage: &str) {
    #[cfg(debug_assertions)]
    if std::env::var(VAR).is_ok_and(|s| s == stage) {
        panic!("fault injected at the {stage} stage ({VAR})");
    }
    #[cfg(not(debug_assertions))]
    let _ = stage;
}
