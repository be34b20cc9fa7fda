//! The OpenAPI document `dra serve` publishes matches what it serves: the same routes,
//! every original `/api/v1` route among them, and every operation answering only statuses
//! the document lists (called with and without a user, with unknown ids and empty bodies).

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::support::serve::{app, migrated_pool, unlimited};
use crate::support::TestDb;
use actix_web::body::to_bytes;
use actix_web::http::{Method, StatusCode};
use actix_web::test::{self, TestRequest};
use dra::jobs::{Jobs, JobsConfig};
use dra::serve::{AppState, IdentityMode};
use serde_json::Value;

const ORIGINAL: &str = include_str!("../fixtures/original-openapi.json");

fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

#[test]
fn the_document_lists_exactly_the_served_routes_and_every_original_one() {
    let doc = dra::serve::openapi::document();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented = operations(doc);
    let served: BTreeSet<(String, String)> = dra::serve::endpoints()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );

    let original: Value = serde_json::from_str(ORIGINAL).unwrap();
    let missing: Vec<_> = operations(&original)
        .difference(&documented)
        .cloned()
        .collect();
    assert!(missing.is_empty(), "original routes missing: {missing:?}");
}

/// A concrete URI for a path pattern: unknown ids, and the query parameters it requires.
fn uri(path: &str, op: &Value) -> String {
    let mut uri = String::new();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        uri.push('/');
        if segment.starts_with('{') {
            uri.push_str(&uuid::Uuid::new_v4().to_string());
        } else {
            uri.push_str(segment);
        }
    }
    let required: Vec<String> = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "query" && p["required"] == true)
        .map(|p| format!("{}=markdown", p["name"].as_str().unwrap()))
        .collect();
    if !required.is_empty() {
        uri.push('?');
        uri.push_str(&required.join("&"));
    }
    uri
}

#[actix_web::test]
async fn every_operation_answers_only_statuses_it_documents() {
    let db = TestDb::new().await;
    let pool = migrated_pool(&db).await;
    // Jobs without a worker: submissions answer 503 rather than start research here.
    let jobs = Arc::new(Jobs::start(
        pool.clone(),
        JobsConfig::default(),
        None,
        "openapi-test".into(),
    ));
    let state = Arc::new(AppState {
        jobs: Some(jobs.clone()),
        ..unlimited(Some(pool), IdentityMode::Production)
    });
    let app = app(state).await;

    let doc = dra::serve::openapi::document();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let documented: BTreeSet<u16> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.parse().unwrap())
                .collect();
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            for user in [Some("alice@example.com"), None] {
                let mut req = TestRequest::default()
                    .method(method.clone())
                    .uri(&uri(path, op));
                if let Some(u) = user {
                    req = req.insert_header(("X-Forwarded-Email", u));
                }
                if op.get("requestBody").is_some() {
                    req = req.set_json(serde_json::json!({}));
                }
                let response = test::call_service(&app, req.to_request()).await;
                let status = response.status();
                let body = to_bytes(response.into_body()).await.unwrap_or_default();
                assert!(
                    documented.contains(&status.as_u16()),
                    "{method} {path} as {user:?} answered {status} ({}), documented: {documented:?}",
                    String::from_utf8_lossy(&body)
                );
                if user.is_none() && !path.ends_with("/health") && !path.ends_with("openapi.json") {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
                }
                checked += 1;
            }
        }
    }
    assert_eq!(
        checked,
        2 * dra::serve::endpoints().len(),
        "every operation, with and without a user"
    );
    jobs.shutdown().await;
}
