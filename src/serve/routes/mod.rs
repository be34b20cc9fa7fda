//! The routes, one module per resource, and the handlers for malformed input.

mod agent;
mod agent_invocations;
mod chats;
mod export;
mod health;
mod messages;
mod preferences;
mod provenance;
mod research;

use std::sync::OnceLock;

use actix_web::dev::ResourceDef;
use actix_web::error::{PathError, QueryPayloadError};
use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, HttpRequest, HttpResponse, Responder};
use serde_json::json;

use super::ApiError;

pub(super) fn mount(cfg: &mut web::ServiceConfig) {
    let mut seen = Vec::new();
    each_route(Some(cfg), &mut seen);
}

/// Every route the server mounts, as (method, path pattern): what the OpenAPI document
/// must describe.
pub fn endpoints() -> Vec<(Method, String)> {
    let mut seen = Vec::new();
    each_route(None, &mut seen);
    seen
}

/// The methods served at `path` (a concrete path, parameters filled in), in the order
/// they are mounted; empty when no route's pattern matches it.
pub fn methods_at(path: &str) -> Vec<Method> {
    static PATTERNS: OnceLock<Vec<(ResourceDef, Method)>> = OnceLock::new();
    let patterns = PATTERNS.get_or_init(|| {
        endpoints()
            .into_iter()
            .map(|(method, pattern)| (ResourceDef::new(pattern), method))
            .collect()
    });
    let mut methods: Vec<Method> = Vec::new();
    for (pattern, method) in patterns {
        if pattern.is_match(path) && !methods.contains(method) {
            methods.push(method.clone());
        }
    }
    methods
}

fn each_route(mut cfg: Option<&mut web::ServiceConfig>, seen: &mut Vec<(Method, String)>) {
    let mut at = |prefix: &'static str, mount: &dyn Fn(&mut Routes)| {
        mount(&mut Routes {
            cfg: cfg.as_deref_mut(),
            prefix,
            seen: &mut *seen,
        })
    };
    at("", &|r| {
        health::mount(r);
        // MLflow's agent server paths, at the root as Model Serving calls them.
        agent_invocations::mount(r);
    });
    at("/api/v1", &|r| {
        health::mount_api(r);
        chats::mount(r);
        export::mount(r);
        messages::mount(r);
        preferences::mount(r);
        provenance::mount(r);
        research::mount(r);
        agent::mount(r);
        r.get("/openapi.json", openapi);
    });
    // The older surface of the original's docs/api.md, as thin aliases.
    at("/v1", &|r| {
        health::mount_v1(r);
        chats::mount_v1(r);
        messages::mount_v1(r);
        preferences::mount(r);
        provenance::mount_v1(r);
        agent::mount_v1(r);
    });
}

/// Mounts routes under a prefix and records each, so the served routes and the OpenAPI
/// document can be compared (`endpoints`). Without a `cfg` it only records.
pub(super) struct Routes<'a> {
    cfg: Option<&'a mut web::ServiceConfig>,
    prefix: &'static str,
    seen: &'a mut Vec<(Method, String)>,
}

impl Routes<'_> {
    fn add<F, Args>(&mut self, method: Method, path: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let full = format!("{}{path}", self.prefix);
        if let Some(cfg) = self.cfg.as_deref_mut() {
            cfg.route(&full, web::method(method.clone()).to(handler));
        }
        self.seen.push((method, full));
        self
    }

    pub(super) fn get<F, Args>(&mut self, path: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::GET, path, handler)
    }

    pub(super) fn post<F, Args>(&mut self, path: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::POST, path, handler)
    }

    pub(super) fn put<F, Args>(&mut self, path: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::PUT, path, handler)
    }

    pub(super) fn patch<F, Args>(&mut self, path: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::PATCH, path, handler)
    }

    pub(super) fn delete<F, Args>(&mut self, path: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::DELETE, path, handler)
    }
}

/// `GET /api/v1/openapi.json`: this server's OpenAPI document.
async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(crate::serve::openapi::document())
}

pub(super) fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let response = validation(&err.to_string(), "query");
    actix_web::error::InternalError::from_response(err, response).into()
}

pub(super) fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    let response = validation(&err.to_string(), "path");
    actix_web::error::InternalError::from_response(err, response).into()
}

/// FastAPI's 422 body: `{"detail": [{"loc", "msg", "type"}]}`.
fn validation(message: &str, location: &str) -> HttpResponse {
    HttpResponse::UnprocessableEntity().json(json!({
        "detail": [{"loc": [location], "msg": message, "type": "value_error"}],
    }))
}

/// `limit` (1–100, default 20) and `offset` (≥ 0, default 0) of a paginated list.
pub(super) fn page(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), ApiError> {
    Ok((
        in_range("limit", limit.unwrap_or(20), 1, 100)?,
        in_range("offset", offset.unwrap_or(0), 0, i64::MAX)?,
    ))
}

/// A query parameter within `min..=max`, else FastAPI's 422 naming it.
pub(super) fn in_range(
    name: &'static str,
    value: i64,
    min: i64,
    max: i64,
) -> Result<i64, ApiError> {
    if (min..=max).contains(&value) {
        return Ok(value);
    }
    let message = if max == i64::MAX {
        format!("must be {min} or more")
    } else {
        format!("must be between {min} and {max}")
    };
    Err(ApiError::Unprocessable {
        location: "query",
        name,
        message,
    })
}
