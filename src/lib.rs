//! `dra`: a deep-research agent. This library holds everything the binary does; the binary
//! only parses arguments and renders results.

pub mod citations;
pub mod config;
pub mod databricks;
pub mod db;
pub mod env;
pub mod events;
pub mod jobs;
pub mod llm;
pub mod mcp;
pub mod progress;
pub mod redact;
pub mod research;
pub mod search;
pub mod serve;
pub mod telemetry;
pub mod text;
pub mod tools;
pub mod web;
