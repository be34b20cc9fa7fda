//! API errors in the original's shape: `{"code", "message", "details"}` with its status
//! codes. Nothing internal (SQL, connection strings, tokens) reaches the body; the cause
//! is logged instead.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Value};

use crate::db::DbError;

/// What a route can answer instead of its result.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Unknown, deleted or another user's: the body never says which.
    #[error("{resource} not found: {id}")]
    NotFound { resource: &'static str, id: String },
    #[error("Authentication required")]
    Unauthenticated,
    #[error("{message}")]
    Invalid {
        message: String,
        field: Option<&'static str>,
    },
    /// A parameter out of range: FastAPI's 422 with `detail: [{loc, msg, type}]`.
    #[error("{location}.{name}: {message}")]
    Unprocessable {
        location: &'static str,
        name: &'static str,
        message: String,
    },
    /// The request conflicts with the resource's state (research already running).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// A per-user quota (running research jobs) is used up.
    #[error("{0}")]
    TooMany(String),
    /// The research itself failed (a model or search outage); the message says why.
    #[error("research failed: {0}")]
    ResearchFailed(String),
    /// No database configured, or it cannot be reached.
    #[error("the database is unavailable")]
    Unavailable(String),
    /// No model endpoint: chats can be read, research cannot run. The message is the
    /// operator's fix, and holds no secret.
    #[error("{0}")]
    NoModel(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn not_found(resource: &'static str, id: impl ToString) -> ApiError {
        ApiError::NotFound {
            resource,
            id: id.to_string(),
        }
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            message: message.into(),
            field: Some(field),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } => "NOT_FOUND",
            ApiError::Unauthenticated => "AUTHENTICATION_ERROR",
            ApiError::Invalid { .. } | ApiError::Unprocessable { .. } => "VALIDATION_ERROR",
            ApiError::Conflict { code, .. } => code,
            ApiError::TooMany(_) => "RATE_LIMITED",
            ApiError::ResearchFailed(_) => "RESEARCH_FAILED",
            ApiError::Unavailable(_) | ApiError::NoModel(_) => "SERVICE_UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL_ERROR",
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            ApiError::NotFound { resource, id } => Some(json!({"resource": resource, "id": id})),
            ApiError::Unavailable(_) => Some(json!({"dependency": "database"})),
            ApiError::NoModel(_) => Some(json!({"dependency": "model"})),
            ApiError::Invalid {
                field: Some(field), ..
            } => Some(json!({"field": field})),
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Invalid { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ResearchFailed(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) | ApiError::NoModel(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Unavailable(cause) | ApiError::Internal(cause) = self {
            tracing::error!(error = %crate::redact::scrub(cause), code = self.code(), "request failed");
        }
        if let ApiError::Unprocessable {
            location,
            name,
            message,
        } = self
        {
            return HttpResponse::UnprocessableEntity().json(json!({
                "detail": [{"loc": [location, name], "msg": message, "type": "value_error"}],
            }));
        }
        let mut body = json!({"code": self.code(), "message": self.to_string()});
        if let Some(details) = self.details() {
            body["details"] = details;
        }
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unauthenticated) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.json(body)
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> ApiError {
        match e {
            DbError::Query(q) => ApiError::Internal(q.to_string()),
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> ApiError {
        ApiError::Internal(e.to_string())
    }
}

impl From<crate::jobs::SubmitError> for ApiError {
    fn from(e: crate::jobs::SubmitError) -> ApiError {
        use crate::jobs::SubmitError;
        match e {
            SubmitError::NotFound => ApiError::not_found("Chat", "requested"),
            SubmitError::TooManyJobs { .. } => ApiError::TooMany(e.to_string()),
            SubmitError::InProgress(_) => ApiError::Conflict {
                code: "research_in_progress",
                message: e.to_string(),
            },
            SubmitError::NotAQuestion => ApiError::invalid("message_id", e.to_string()),
            SubmitError::Db(db) => db.into(),
        }
    }
}
