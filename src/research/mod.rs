//! The research engine. So far: its event vocabulary ([`event`]), shared by the terminal
//! progress, the SSE stream, the stored event log and `--events` JSONL.

pub mod config;
pub mod event;
pub mod sink;
pub mod sources;
