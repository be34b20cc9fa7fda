//! Citation verification: deterministic checks that run before any model is asked.

pub mod numeric;
pub mod quote;
