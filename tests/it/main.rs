//! The integration tests, as one test binary: each file here is a module, `support/` the
//! shared test world (fakes, databases, the `dra` runner). One binary links the crate once
//! instead of once per file.

mod support;

mod app_logs;
mod architecture;
mod citations_evidence;
mod citations_provenance;
mod citations_retrieval;
mod citations_verify;
mod cli;
mod config;
mod databricks_auth;
mod deploy_bundle;
mod deploy_e2e;
mod deploy_pipeline;
mod embeddings;
mod extraction_corpus;
mod lakebase_commands;
mod lakebase_target;
mod live;
mod llm;
mod mcp;
mod migrate;
mod mlflow;
mod original_frontend;
mod pool;
mod research_agents;
mod research_background;
mod research_command;
mod research_control;
mod research_depths;
mod research_events;
mod research_persist;
mod research_react;
mod research_researcher;
mod research_run;
mod research_runner;
mod research_seeds;
mod research_synthesizer;
mod schema_drift;
mod search;
mod serve_api;
mod serve_jobs;
mod serve_openapi;
mod serve_ops;
mod serve_processes;
mod text_properties;
mod tls;
mod token_rotation;
mod tracing;
mod ui_browser;
mod ui_serve;
mod web_fetch;
