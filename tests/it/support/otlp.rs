//! A fake OTLP/HTTP collector: records every `POST /v1/traces` and decodes its spans.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message as _;

/// One export request as it arrived.
#[derive(Clone, Debug)]
pub struct Export {
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A span from an export, flattened for assertions.
#[derive(Clone, Debug)]
pub struct ExportedSpan {
    pub name: String,
    pub trace_id: Vec<u8>,
    /// OTLP's status code: 0 unset, 1 ok, 2 error.
    pub status_code: i32,
    pub span_id: Vec<u8>,
    pub parent_span_id: Vec<u8>,
    pub attributes: Vec<(String, String)>,
    pub service_name: Option<String>,
}

impl ExportedSpan {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The running collector. Dropping it stops the server.
pub struct FakeCollector {
    /// Base URL, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub url: String,
    exports: Arc<Mutex<Vec<Export>>>,
    _server: super::server::Served,
}

impl FakeCollector {
    pub async fn start() -> FakeCollector {
        let exports = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/v1/traces", post(record))
            .with_state(exports.clone());
        let server = super::server::serve(app).await;
        FakeCollector {
            url: server.url.clone(),
            exports,
            _server: server,
        }
    }

    pub fn exports(&self) -> Vec<Export> {
        self.exports.lock().unwrap().clone()
    }

    /// Every span of every export, decoded.
    pub fn spans(&self) -> Vec<ExportedSpan> {
        decode(&self.exports())
    }
}

/// Every span of `exports`, decoded from OTLP protobuf.
pub fn decode(exports: &[Export]) -> Vec<ExportedSpan> {
    let mut out = Vec::new();
    for export in exports {
        let req =
            ExportTraceServiceRequest::decode(export.body.as_ref()).expect("an OTLP protobuf body");
        for rs in req.resource_spans {
            let service_name = rs.resource.as_ref().and_then(|r| {
                r.attributes
                    .iter()
                    .find(|kv| kv.key == "service.name")
                    .map(|kv| text(kv.value.as_ref().and_then(|v| v.value.as_ref())))
            });
            for ss in rs.scope_spans {
                for span in ss.spans {
                    out.push(ExportedSpan {
                        trace_id: span.trace_id,
                        status_code: span.status.as_ref().map(|s| s.code).unwrap_or(0),
                        name: span.name,
                        span_id: span.span_id,
                        parent_span_id: span.parent_span_id,
                        attributes: span
                            .attributes
                            .iter()
                            .map(|kv| {
                                (
                                    kv.key.clone(),
                                    text(kv.value.as_ref().and_then(|v| v.value.as_ref())),
                                )
                            })
                            .collect(),
                        service_name: service_name.clone(),
                    });
                }
            }
        }
    }
    out
}

async fn record(
    State(exports): State<Arc<Mutex<Vec<Export>>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Vec<u8> {
    exports.lock().unwrap().push(Export { headers, body });
    // An empty ExportTraceServiceResponse.
    Vec::new()
}

fn text(v: Option<&AnyValue>) -> String {
    match v {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}
