//! The research engine: [`run::run`] drives the agents ([`agents`], prompts in
//! [`prompts`]) through one run, registering fetched sources ([`sources`]) and emitting the
//! event vocabulary ([`event`]) to sinks ([`sink`]) — terminal progress, SSE, the stored event
//! log and `--events` JSONL all render the same values.

pub mod agents;
pub mod budget;
pub mod config;
pub mod fault;
pub mod prompts;
pub mod run;
pub mod runner;
pub mod spans;
