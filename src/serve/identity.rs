//! Who is asking. Behind the Databricks Apps proxy every request carries the signed-in
//! user in `X-Forwarded-Email` (or `X-Forwarded-Preferred-Username`, `X-Forwarded-User`);
//! in development a configured local identity stands in; in production a request without
//! one is refused with 401.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};

use super::error::ApiError;
use super::AppState;

/// The proxy headers that name the user, most specific first.
pub const IDENTITY_HEADERS: [&str; 3] = [
    "X-Forwarded-Email",
    "X-Forwarded-Preferred-Username",
    "X-Forwarded-User",
];

/// Longest user id the schema stores (`chats.user_id` is varchar(255)).
const MAX_USER_ID: usize = 255;

/// How requests are identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityMode {
    /// Only the proxy headers count; without them, 401.
    Production,
    /// Without proxy headers, requests act as this user.
    Development { local_user: String },
}

/// The user a request acts for: every chat, message and run it touches must be theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
}

impl User {
    /// The user named by `req`'s proxy headers, or the development identity.
    pub fn of(req: &HttpRequest, mode: &IdentityMode) -> Result<User, ApiError> {
        let from_proxy = IDENTITY_HEADERS.iter().find_map(|name| {
            req.headers()
                .get(*name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.len() <= MAX_USER_ID)
        });
        match (from_proxy, mode) {
            (Some(id), _) => Ok(User { id: id.to_string() }),
            (None, IdentityMode::Development { local_user }) => Ok(User {
                id: local_user.clone(),
            }),
            (None, IdentityMode::Production) => Err(ApiError::Unauthenticated),
        }
    }
}

impl FromRequest for User {
    type Error = ApiError;
    type Future = Ready<Result<User, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = match req.app_data::<web::Data<AppState>>() {
            Some(state) => User::of(req, &state.identity),
            None => Err(ApiError::Internal("the app state is not registered".into())),
        };
        ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_email_header_wins_and_blank_headers_do_not_count() {
        let req = TestRequest::default()
            .insert_header(("X-Forwarded-User", "1234@567"))
            .insert_header(("X-Forwarded-Email", "ada@example.com"))
            .to_http_request();
        assert_eq!(
            User::of(&req, &IdentityMode::Production).unwrap().id,
            "ada@example.com"
        );
        let blank = TestRequest::default()
            .insert_header(("X-Forwarded-Email", "  "))
            .insert_header(("X-Forwarded-User", "1234@567"))
            .to_http_request();
        assert_eq!(
            User::of(&blank, &IdentityMode::Production).unwrap().id,
            "1234@567"
        );
    }

    #[test]
    fn without_headers_production_refuses_and_development_uses_the_local_user() {
        let req = TestRequest::default().to_http_request();
        assert!(matches!(
            User::of(&req, &IdentityMode::Production),
            Err(ApiError::Unauthenticated)
        ));
        let dev = IdentityMode::Development {
            local_user: "dev@localhost".into(),
        };
        assert_eq!(User::of(&req, &dev).unwrap().id, "dev@localhost");
    }
}
