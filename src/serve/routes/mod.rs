//! The routes, one module per resource, and the handlers for malformed input.

mod chats;
mod health;
mod messages;
mod preferences;
mod provenance;
mod research;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

use super::ApiError;

pub(super) fn mount(cfg: &mut web::ServiceConfig) {
    health::mount(cfg);
    cfg.service(
        web::scope("/api/v1")
            .configure(health::mount_api)
            .configure(chats::mount)
            .configure(messages::mount)
            .configure(preferences::mount)
            .configure(provenance::mount)
            .configure(research::mount),
    );
    // The older surface of the original's docs/api.md, as thin aliases.
    cfg.service(
        web::scope("/v1")
            .configure(health::mount_v1)
            .configure(chats::mount_v1)
            .configure(messages::mount_v1)
            .configure(preferences::mount)
            .configure(provenance::mount_v1),
    );
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
    let limit = limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::Unprocessable {
            location: "query",
            name: "limit",
            message: "must be between 1 and 100".into(),
        });
    }
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::Unprocessable {
            location: "query",
            name: "offset",
            message: "must be 0 or more".into(),
        });
    }
    Ok((limit, offset))
}
