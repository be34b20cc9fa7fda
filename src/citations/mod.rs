//! Citation verification: every factual claim of a report tied to an exact span of a
//! source the run fetched, with a verdict.

pub mod config;
