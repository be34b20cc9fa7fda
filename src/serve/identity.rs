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
    ///
    /// The first identity header present names the user. One that is repeated, not UTF-8,
    /// holds a control character or is longer than a stored user id is refused (400):
    /// falling through to the next header would act for a different user. A blank header
    /// counts as absent, as the proxy sends the ones it has no value for empty.
    pub fn of(req: &HttpRequest, mode: &IdentityMode) -> Result<User, ApiError> {
        let mut from_proxy = None;
        for name in IDENTITY_HEADERS {
            let mut values = req.headers().get_all(name);
            let Some(value) = values.next() else {
                continue;
            };
            if values.next().is_some() {
                return Err(refused(name, "is sent more than once"));
            }
            let text = std::str::from_utf8(value.as_bytes())
                .map_err(|_| refused(name, "is not UTF-8"))?
                .trim();
            if text.is_empty() {
                continue;
            }
            if text.chars().any(char::is_control) {
                return Err(refused(name, "holds a control character"));
            }
            if text.chars().count() > MAX_USER_ID {
                return Err(refused(
                    name,
                    &format!("is longer than {MAX_USER_ID} characters"),
                ));
            }
            from_proxy = Some(text);
            break;
        }
        match (from_proxy, mode) {
            (Some(id), _) => Ok(User { id: id.to_string() }),
            (None, IdentityMode::Development { local_user }) => Ok(User {
                id: local_user.clone(),
            }),
            (None, IdentityMode::Production) => Err(ApiError::Unauthenticated),
        }
    }
}

/// A 400 naming the identity header and what is wrong with it (never its value).
fn refused(header: &'static str, problem: &str) -> ApiError {
    ApiError::Invalid {
        message: format!("the {header} header {problem}; it cannot identify a user"),
        field: Some(header),
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
    fn an_invalid_or_repeated_identity_header_is_refused_not_passed_over() {
        use actix_web::http::header::{HeaderName, HeaderValue};
        let email = HeaderName::from_static("x-forwarded-email");
        let with = |values: &[&[u8]]| {
            let mut req =
                TestRequest::default().insert_header(("X-Forwarded-User", "someone-else"));
            for v in values {
                req = req.append_header((email.clone(), HeaderValue::from_bytes(v).unwrap()));
            }
            User::of(&req.to_http_request(), &IdentityMode::Production)
        };
        let long = "a".repeat(256);
        for (values, says) in [
            (vec![b"\xff\xfe@example.com".as_slice()], "not UTF-8"),
            (vec![long.as_bytes()], "longer than 255"),
            (
                vec![b"ada@example.com".as_slice(), b"eve@example.com".as_slice()],
                "more than once",
            ),
            (vec![b"ada\t@example.com".as_slice()], "control character"),
        ] {
            match with(&values) {
                Err(e @ ApiError::Invalid { .. }) => {
                    assert!(e.to_string().contains(says), "{e}");
                    assert!(e.to_string().contains("X-Forwarded-Email"), "{e}");
                }
                other => panic!("{values:?}: {other:?}"),
            }
        }
        // Non-ASCII UTF-8 is a valid name; 255 characters is the limit, not 255 bytes.
        let name = "é".repeat(255);
        assert_eq!(with(&[name.as_bytes()]).unwrap().id, name);
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
