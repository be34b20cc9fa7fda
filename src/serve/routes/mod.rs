//! The routes, one module per resource, and the handlers for malformed input.

mod agent;
mod chats;
mod export;
mod health;
mod messages;
mod preferences;
mod provenance;
mod research;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, HttpRequest, HttpResponse, Responder, ResponseError};
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

fn each_route(mut cfg: Option<&mut web::ServiceConfig>, seen: &mut Vec<(Method, String)>) {
    let mut at = |prefix: &'static str, mount: &dyn Fn(&mut Routes)| {
        mount(&mut Routes {
            cfg: cfg.as_deref_mut(),
            prefix,
            seen: &mut *seen,
        })
    };
    at("", &health::mount);
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

/// A body that is not JSON (400), too large (413), or the wrong shape (422 naming the
/// field, as FastAPI's validation errors do).
pub(super) fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let response = match &err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            HttpResponse::PayloadTooLarge().json(json!({
                "code": "PAYLOAD_TOO_LARGE",
                "message": format!("the request body is larger than {} bytes", super::MAX_JSON_BODY),
            }))
        }
        JsonPayloadError::Deserialize(e) if e.is_data() => validation(&e.to_string(), "body"),
        JsonPayloadError::ContentType => ApiError::Invalid {
            message: "the request body must be JSON (Content-Type: application/json)".into(),
            field: None,
        }
        .error_response(),
        other => ApiError::Invalid {
            message: format!("malformed JSON: {other}"),
            field: None,
        }
        .error_response(),
    };
    actix_web::error::InternalError::from_response(err, response).into()
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

/// A JSON body read by hand (where the body is optional): malformed is 400, the wrong
/// shape 422, like the `Json` extractor's errors.
pub(super) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            ApiError::Unprocessable {
                location: "body",
                name: "body",
                message: e.to_string(),
            }
        } else {
            ApiError::Invalid {
                message: format!("malformed JSON: {e}"),
                field: None,
            }
        }
    })
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
