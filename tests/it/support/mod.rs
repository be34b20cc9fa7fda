//! The test world: a fake Databricks workspace, fake search providers (Brave, SearXNG,
//! Wikipedia) and a web-page server on loopback, throwaway PostgreSQL databases, private
//! password-checking clusters, and a runner for the `dra` binary.
#![allow(dead_code, unused_imports)]

pub mod browser;
pub mod cli;
pub mod corpus;
pub mod llm;
pub mod mcp;
pub mod mlflow;
pub mod otlp;
pub mod pages;
pub mod pg;
pub mod research;
pub mod schema_llm;
pub mod search;
pub mod serve;
pub mod server;
pub mod wikipedia;
pub mod workspace;
pub mod world;

pub use cli::Dra;
pub use pages::PageServer;
pub use pg::{PrivateCluster, ServerCert, TestDb};
pub use search::FakeSearch;
pub use wikipedia::FakeWikipedia;
pub use workspace::FakeWorkspace;
