//! Citation verification: every factual claim of a report tied to an exact span of a
//! source the run fetched, with a verdict.
//!
//! - [`claims`]: the cited sentences of a report, with their positions;
//! - [`config`]: the `citation_verification` section;
//! - [`confidence`]: stage 3, how hard each claim is checked;
//! - [`evidence`]: stage 1, evidence spans chosen from the fetched text, offsets exact;
//! - [`interleaved`]: stage 2, the report written from quotes with ids, each claim
//!   keeping the quotes it was written from;
//! - [`links`]: the final pass: every link form in a report is a fetched source's `[n]`
//!   or removed, and the References list rebuilt;
//! - [`numeric`]: stage 6, numbers in a claim found (or not) in its evidence;
//! - [`quote`]: a claim's quote found in a source despite whitespace and Unicode variants;
//! - [`references`]: where a report's references section starts, whatever its language;
//! - [`retrieval`]: stage 7, unsupported claims split into facts, looked for in the pool
//!   and on the web, and rebuilt from what was verified;
//! - [`provenance`]: the original's provenance, claims and summary shapes and its
//!   markdown Verification Report;
//! - [`verify`]: a report's claims checked against their sources, the report rewritten.

pub mod claims;
pub mod confidence;
pub mod config;
pub mod evidence;
pub mod interleaved;
pub mod links;
pub mod numeric;
pub mod provenance;
pub mod quote;
pub mod references;
pub mod retrieval;
pub mod sources;
pub mod verify;
