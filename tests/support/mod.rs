//! The test world: a fake Databricks workspace on loopback, throwaway PostgreSQL databases,
//! private password-checking clusters, fake search providers, and a runner for the `dra` binary.
#![allow(dead_code, unused_imports)]

pub mod cli;
pub mod llm;
pub mod pg;
pub mod search;
pub mod server;
pub mod workspace;

pub use cli::Dra;
pub use pg::{PrivateCluster, TestDb};
pub use search::FakeSearch;
pub use workspace::FakeWorkspace;
