//! This server's OpenAPI document (`GET /api/v1/openapi.json`): the Python original's
//! schema for `/api/v1` (so its clients keep working), with what we add (the `/v1` aliases,
//! SSE responses, the statuses every route can answer). `tests/it/serve_openapi.rs` checks
//! that it lists exactly the routes `routes::endpoints` mounts and that every operation
//! answers only statuses it documents.

use std::sync::OnceLock;

use serde_json::Value;

const DOCUMENT: &str = include_str!("openapi.json");

/// The document, parsed once.
pub fn document() -> &'static Value {
    static PARSED: OnceLock<Value> = OnceLock::new();
    PARSED.get_or_init(|| {
        let mut doc: Value = serde_json::from_str(DOCUMENT).unwrap_or_else(|e| {
            // The file is compiled in and checked by tests; this is unreachable in a build
            // that passed them, but never worth a panic in a server.
            tracing::error!(error = %e, "the embedded OpenAPI document is not JSON");
            Value::Null
        });
        if let Some(info) = doc.get_mut("info") {
            info["version"] = Value::String(env!("CARGO_PKG_VERSION").into());
        }
        doc
    })
}
