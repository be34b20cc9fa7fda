//! Claim-level citations: what each claim of a report rests on, and how well.

pub mod provenance;
