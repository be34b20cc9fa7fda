//! The research engine. So far: its event vocabulary ([`event`]), shared by the terminal
//! progress, the SSE stream, the stored event log and `--events` JSONL, and the agents
//! ([`agents`]) with their prompts ([`prompts`]).

pub mod agents;
pub mod config;
pub mod event;
pub mod prompts;
pub mod sink;
pub mod sources;
