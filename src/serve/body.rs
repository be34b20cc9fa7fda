//! Request bodies read the way the original's FastAPI reads them into its pydantic models,
//! so its React frontend and scripts work unchanged:
//!
//! - a body sent with no `Content-Type`, or with `application/json` or `application/*+json`,
//!   is JSON; any other type is refused with 422 (FastAPI does not parse it, and the model
//!   then fails to validate). [`json_only`] refuses it on every write route, body or not:
//!   `text/plain`, form and multipart bodies are what a cross-site page can send without a
//!   CORS preflight, so no write accepts them;
//! - an empty or `null` body is the model's default where the original's route takes an
//!   optional body (`POST /chats`), else 422 `Field required`;
//! - keys are accepted as the original's model spells them ([`Keys`]): the snake_case name
//!   or its camelCase alias for the `BaseSchema` models, the name only for plain
//!   `BaseModel`s; unknown keys are ignored, as pydantic's default `extra="ignore"` does;
//! - malformed JSON and a field of the wrong type or missing are FastAPI's 422
//!   `{"detail": [{"type", "loc", "msg"}]}`, the field named in `loc`.

use std::future::Future;
use std::pin::Pin;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{HeaderMap, CONTENT_TYPE};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::MAX_JSON_BODY;

/// How the original's pydantic model spells the keys it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// `BaseSchema` (`alias_generator=to_camel, populate_by_name=True`): a field's
    /// snake_case name or its camelCase alias; when both are sent the alias wins, as
    /// pydantic looks the alias up first.
    NameOrCamelAlias,
    /// A plain `BaseModel` (`SubmitJobRequest`): the snake_case names only; a camelCase
    /// key is just an unknown key.
    Name,
}

/// A request body type: a serde struct with the original's snake_case field names and no
/// `deny_unknown_fields`, plus how its keys may be spelled.
pub trait RequestBody: DeserializeOwned {
    /// The spellings accepted, as the original's model declares them.
    const KEYS: Keys;

    /// The value of an empty or `null` body, for a route whose body is optional;
    /// `None` (the default) makes it 422 `Field required`.
    fn when_absent() -> Option<Self> {
        None
    }
}

/// A JSON request body read into `T` (see the module docs).
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T> Body<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// Why a body was refused; each is one entry of FastAPI's 422 `detail` (or a 413/400).
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Sent with a content type FastAPI does not read as JSON.
    #[error("Input should be a JSON object, sent with Content-Type: application/json")]
    NotJson,
    /// Not JSON: `position` counts characters, as Python's decoder does.
    #[error("JSON decode error: {message}")]
    Malformed { position: usize, message: String },
    /// The route needs a body and got none (or `null`).
    #[error("Field required")]
    Missing,
    /// A field is missing or has the wrong type; `loc` is the path to it after `body`.
    #[error("{message}")]
    Field {
        loc: Vec<Value>,
        kind: &'static str,
        message: String,
    },
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The client did not finish sending the body in time (`server.body_timeout`).
    #[error("the request body was not received within {}", humantime::format_duration(*.0))]
    TimedOut(std::time::Duration),
    /// The connection failed while the body was being read.
    #[error("the request body could not be read: {0}")]
    Unreadable(String),
}

impl BodyError {
    /// The HTTP status: 422 for what FastAPI's validation refuses.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            BodyError::Unreadable(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// The response body: FastAPI's `{"detail": [...]}` for a 422, the original's
    /// `{"code", "message"}` otherwise.
    pub fn body(&self) -> Value {
        let (kind, loc, ctx) = match self {
            BodyError::TooLarge { .. } => {
                return json!({"code": "PAYLOAD_TOO_LARGE", "message": self.to_string()})
            }
            BodyError::Unreadable(_) => {
                return json!({"code": "VALIDATION_ERROR", "message": self.to_string()})
            }
            BodyError::TimedOut(_) => {
                return json!({"code": "REQUEST_TIMEOUT", "message": self.to_string()})
            }
            BodyError::NotJson => ("model_attributes_type", vec![json!("body")], None),
            BodyError::Malformed { position, message } => (
                "json_invalid",
                vec![json!("body"), json!(position)],
                Some(json!({"error": message})),
            ),
            BodyError::Missing => ("missing", vec![json!("body")], None),
            BodyError::Field { loc, kind, .. } => {
                let mut full = vec![json!("body")];
                full.extend(loc.iter().cloned());
                (*kind, full, None)
            }
        };
        let msg = match self {
            BodyError::Malformed { .. } => "JSON decode error".to_string(),
            other => other.to_string(),
        };
        let mut entry = json!({"type": kind, "loc": loc, "msg": msg});
        if let Some(ctx) = ctx {
            entry["ctx"] = ctx;
        }
        json!({"detail": [entry]})
    }
}

impl ResponseError for BodyError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        HttpResponse::build(self.status()).json(self.body())
    }
}

impl<T: RequestBody + 'static> FromRequest for Body<T> {
    type Error = BodyError;
    type Future = Pin<Box<dyn Future<Output = Result<Body<T>, BodyError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req.headers());
        let deadline = req
            .app_data::<web::Data<super::AppState>>()
            .map_or(super::ServerConfig::default().body_timeout, |s| {
                s.body_timeout
            });
        // `web::Bytes` honours the app's `PayloadConfig` (the size limit) and decodes a
        // compressed body.
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            // A body that never finishes would hold the connection for ever; the 408 goes
            // out with the body unread, so the connection is closed after it.
            let bytes = tokio::time::timeout(deadline, bytes)
                .await
                .map_err(|_| BodyError::TimedOut(deadline))?
                .map_err(|e| match e.as_error::<PayloadError>() {
                    Some(PayloadError::Overflow) => BodyError::TooLarge {
                        limit: MAX_JSON_BODY,
                    },
                    _ => BodyError::Unreadable(e.to_string()),
                })?;
            parse(json, &bytes).map(Body)
        })
    }
}

/// `bytes` read as a `T` the way FastAPI reads a body; `json` says whether the content
/// type is one it parses as JSON.
pub fn parse<T: RequestBody>(json: bool, bytes: &[u8]) -> Result<T, BodyError> {
    // FastAPI leaves an empty body unparsed, whatever its type: the model's default.
    if bytes.is_empty() {
        return T::when_absent().ok_or(BodyError::Missing);
    }
    if !json {
        return Err(BodyError::NotJson);
    }
    let mut value: Value = serde_json::from_slice(bytes).map_err(|e| malformed(bytes, &e))?;
    if value.is_null() {
        return T::when_absent().ok_or(BodyError::Missing);
    }
    if let (Keys::NameOrCamelAlias, Value::Object(map)) = (T::KEYS, &mut value) {
        accept_aliases(map, field_names::<T>());
    }
    if let Some(loc) = nul_in_fields(&value, field_names::<T>(), T::KEYS) {
        return Err(BodyError::Field {
            loc,
            kind: "string_nul",
            message: super::nul::MESSAGE.into(),
        });
    }
    serde_path_to_error::deserialize(value).map_err(|e| field_error(e, T::KEYS))
}

/// The `loc` of the first string holding a NUL in a field the model reads (unknown keys
/// are ignored, as they are everywhere else), keys spelled as the model's aliases.
fn nul_in_fields(value: &Value, fields: &[&str], keys: Keys) -> Option<Vec<Value>> {
    let Value::Object(map) = value else {
        return None;
    };
    fields.iter().find_map(|field| {
        let mut loc = super::nul::find(map.get(*field)?)?;
        let key = match keys {
            Keys::NameOrCamelAlias => camel_alias(field),
            Keys::Name => (*field).to_string(),
        };
        loc.insert(0, json!(key));
        Some(loc)
    })
}

/// Whether FastAPI parses a body with these headers as JSON: no (or an empty)
/// `Content-Type`, `application/json` or `application/<anything>+json`, parameters and
/// case aside.
pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let mime = value.split(';').next().unwrap_or_default().trim();
    if mime.is_empty() {
        return value.trim().is_empty();
    }
    let mime = mime.to_ascii_lowercase();
    match mime.split_once('/') {
        Some(("application", subtype)) => subtype == "json" || subtype.ends_with("+json"),
        _ => false,
    }
}

/// Middleware: a request to a write route (POST, PUT, PATCH, DELETE) whose `Content-Type`
/// is not JSON gets 422, whether the route reads a body or not. Those are the bodies a
/// page on another site can send with the user's cookies and no CORS preflight
/// (`text/plain`, forms, multipart), so refusing them everywhere keeps every write
/// same-origin. A method the path does not serve is left to its 405.
pub async fn json_only(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let writes = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if writes && !is_json(req.headers()) && super::methods_at(req.path()).contains(req.method()) {
        let response = BodyError::NotJson.error_response();
        return Ok(req.into_response(response));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

/// A boolean as pydantic reads one in its default lax mode: `true`/`false`, `0`/`1`, or
/// one of its words in any case (`"yes"`, `"off"`, `"t"`…); `deserialize_with` on a `bool`.
pub fn lax_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let value = Value::deserialize(d)?;
    let parsed = match &value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(0.0) => Some(false),
            Some(1.0) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
            "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
            _ => None,
        },
        _ => None,
    };
    parsed.ok_or_else(|| de::Error::custom("Input should be a valid boolean"))
}

/// [`lax_bool`] for an optional field (`null` is `None`); with `#[serde(default)]`.
pub fn lax_bool_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let value = Value::deserialize(d)?;
    if value.is_null() {
        return Ok(None);
    }
    lax_bool(value).map(Some).map_err(de::Error::custom)
}

/// pydantic's `to_camel` for a snake_case field name: `feedback_text` → `feedbackText`.
pub fn camel_alias(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for ch in name.chars() {
        if ch == '_' && !out.is_empty() {
            upper = true;
        } else if upper {
            out.extend(ch.to_uppercase());
            upper = false;
        } else {
            out.push(ch);
        }
    }
    out
}

/// Moves each field's camelCase alias to its snake_case name, so serde sees the names
/// only; the alias wins over a name sent too. Top-level keys only: the original's nested
/// request models (`ContextMessage`) have one-word fields, whose alias is the name.
fn accept_aliases(map: &mut Map<String, Value>, fields: &[&str]) {
    for field in fields {
        let alias = camel_alias(field);
        if alias == *field {
            continue;
        }
        if let Some(value) = map.remove(&alias) {
            map.insert((*field).to_string(), value);
        }
    }
}

/// The field names of a derived struct, from the list serde's derive hands to
/// `deserialize_struct` (the only way serde exposes them).
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Fields<'a>(&'a mut &'static [&'static str]);

    impl<'de> Deserializer<'de> for Fields<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("only the field names were wanted"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            enum identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    // The error is the point: the deserializer stops once it has the names.
    let _ = T::deserialize(Fields(&mut fields));
    fields
}

/// serde_json's line and column as the character offset Python's decoder reports.
fn malformed(bytes: &[u8], e: &serde_json::Error) -> BodyError {
    let text = String::from_utf8_lossy(bytes);
    let mut position = 0;
    for (n, line) in text.split('\n').enumerate() {
        if n + 1 == e.line() {
            position += line.chars().take(e.column().saturating_sub(1)).count();
            break;
        }
        position += line.chars().count() + 1;
    }
    let message = e.to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_string();
    BodyError::Malformed { position, message }
}

/// A serde error with its path as FastAPI's `loc`, keys spelled as the model's aliases.
fn field_error(e: serde_path_to_error::Error<serde_json::Error>, keys: Keys) -> BodyError {
    let spell = |key: &str| match keys {
        Keys::NameOrCamelAlias => camel_alias(key),
        Keys::Name => key.to_string(),
    };
    let mut loc: Vec<Value> = e
        .path()
        .iter()
        .filter_map(|segment| match segment {
            serde_path_to_error::Segment::Seq { index } => Some(json!(index)),
            serde_path_to_error::Segment::Map { key } => Some(json!(spell(key))),
            serde_path_to_error::Segment::Enum { variant } => Some(json!(variant)),
            serde_path_to_error::Segment::Unknown => None,
        })
        .collect();
    let message = e.into_inner().to_string();
    let message = message.split(" at line ").next().unwrap_or(&message);
    // serde reports a missing field on the struct, naming it in the message.
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        loc.push(json!(spell(name)));
        return BodyError::Field {
            loc,
            kind: "missing",
            message: "Field required".into(),
        };
    }
    BodyError::Field {
        loc,
        kind: "value_error",
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    struct Prefs {
        default_query_mode: Option<String>,
        theme: Option<String>,
    }

    impl RequestBody for Prefs {
        const KEYS: Keys = Keys::NameOrCamelAlias;
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Job {
        chat_id: String,
        #[serde(default)]
        query_mode: Option<String>,
    }

    impl RequestBody for Job {
        const KEYS: Keys = Keys::Name;
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    struct Optional {
        title: Option<String>,
    }

    impl RequestBody for Optional {
        const KEYS: Keys = Keys::NameOrCamelAlias;
        fn when_absent() -> Option<Self> {
            Some(Optional::default())
        }
    }

    fn prefs(body: &str) -> Result<Prefs, BodyError> {
        parse(true, body.as_bytes())
    }

    #[test]
    fn aliases_follow_pydantics_to_camel() {
        assert_eq!(camel_alias("feedback_text"), "feedbackText");
        assert_eq!(
            camel_alias("default_research_depth"),
            "defaultResearchDepth"
        );
        assert_eq!(camel_alias("theme"), "theme");
        assert_eq!(
            field_names::<Prefs>(),
            ["default_query_mode", "theme"].as_slice()
        );
    }

    #[test]
    fn a_base_schema_body_takes_either_spelling_and_ignores_unknown_keys() {
        let want = Prefs {
            default_query_mode: Some("simple".into()),
            theme: Some("dark".into()),
        };
        assert_eq!(
            prefs(r#"{"default_query_mode": "simple", "theme": "dark"}"#).unwrap(),
            want
        );
        assert_eq!(
            prefs(r#"{"defaultQueryMode": "simple", "theme": "dark", "extra": 1}"#).unwrap(),
            want
        );
        // Both spellings: the alias wins, as pydantic looks it up first.
        let both =
            prefs(r#"{"default_query_mode": "web_search", "defaultQueryMode": "simple"}"#).unwrap();
        assert_eq!(both.default_query_mode.as_deref(), Some("simple"));
        // A spelling that is neither the name nor its alias is an unknown key.
        let neither = prefs(r#"{"default_queryMode": "simple"}"#).unwrap();
        assert_eq!(neither.default_query_mode, None);
    }

    #[test]
    fn a_plain_model_takes_its_names_only() {
        let job: Job = parse(true, br#"{"chat_id": "c", "queryMode": "simple"}"#).unwrap();
        assert_eq!(job.query_mode, None, "a camelCase key is an unknown key");
        let err = parse::<Job>(true, br#"{"chatId": "c"}"#).unwrap_err();
        assert_eq!(
            err.body()["detail"][0],
            json!({"type": "missing", "loc": ["body", "chat_id"], "msg": "Field required"})
        );
    }

    #[test]
    fn empty_and_null_bodies_are_the_default_only_where_the_body_is_optional() {
        assert_eq!(parse::<Optional>(true, b"").unwrap(), Optional::default());
        assert_eq!(
            parse::<Optional>(true, b"null").unwrap(),
            Optional::default()
        );
        // Whatever its type: FastAPI does not parse an empty body.
        assert_eq!(parse::<Optional>(false, b"").unwrap(), Optional::default());
        assert!(matches!(prefs(""), Err(BodyError::Missing)));
        assert!(matches!(prefs("null"), Err(BodyError::Missing)));
    }

    #[test]
    fn refusals_are_fastapis_422_entries() {
        let err = prefs(r#"{"theme": "#).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let entry = &err.body()["detail"][0];
        assert_eq!(entry["type"], "json_invalid");
        assert_eq!(entry["loc"][0], "body");
        assert!(entry["loc"][1].is_u64(), "the character offset: {entry}");
        assert_eq!(entry["msg"], "JSON decode error");

        let err = prefs(r#"{"defaultQueryMode": 5}"#).unwrap_err();
        assert_eq!(
            err.body()["detail"][0]["loc"],
            json!(["body", "defaultQueryMode"])
        );

        let err = parse::<Prefs>(false, br#"{"theme": "dark"}"#).unwrap_err();
        assert_eq!(
            err.body()["detail"][0]["type"],
            "model_attributes_type",
            "a body FastAPI does not parse fails the model"
        );
        assert!(matches!(prefs("[]"), Err(BodyError::Field { .. })));
    }

    #[test]
    fn a_nul_in_a_field_is_refused_naming_it_and_ignored_in_unknown_keys() {
        let err = prefs(r#"{"defaultQueryMode": "a\u0000b"}"#).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let entry = &err.body()["detail"][0];
        assert_eq!(entry["loc"], json!(["body", "defaultQueryMode"]));
        assert_eq!(entry["type"], "string_nul");
        let err = parse::<Job>(true, br#"{"chat_id": "c\u0000"}"#).unwrap_err();
        assert_eq!(err.body()["detail"][0]["loc"], json!(["body", "chat_id"]));
        // Nested: the path to the string.
        #[derive(Debug, Deserialize)]
        struct Nested {
            #[allow(dead_code)]
            history: Vec<Value>,
        }
        impl RequestBody for Nested {
            const KEYS: Keys = Keys::Name;
        }
        let err = parse::<Nested>(
            true,
            br#"{"history": [{"role": "user"}, {"content": "x\u0000"}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.body()["detail"][0]["loc"],
            json!(["body", "history", 1, "content"])
        );
        assert!(prefs(r#"{"theme": "dark", "extra": "\u0000"}"#).is_ok());
    }

    #[test]
    fn booleans_are_read_as_pydantic_reads_them() {
        #[derive(Debug, Deserialize)]
        struct Flags {
            #[serde(deserialize_with = "lax_bool")]
            on: bool,
            #[serde(default, deserialize_with = "lax_bool_opt")]
            maybe: Option<bool>,
        }
        impl RequestBody for Flags {
            const KEYS: Keys = Keys::Name;
        }
        for (body, on, maybe) in [
            (r#"{"on": true, "maybe": false}"#, true, Some(false)),
            (r#"{"on": "YES", "maybe": null}"#, true, None),
            (r#"{"on": 0}"#, false, None),
            (r#"{"on": "off", "maybe": "1"}"#, false, Some(true)),
        ] {
            let flags: Flags = parse(true, body.as_bytes()).unwrap();
            assert_eq!((flags.on, flags.maybe), (on, maybe), "{body}");
        }
        let err = parse::<Flags>(true, br#"{"on": "maybe"}"#).unwrap_err();
        assert_eq!(err.body()["detail"][0]["loc"], json!(["body", "on"]));
        assert!(parse::<Flags>(true, br#"{"on": 2}"#).is_err());
    }

    #[test]
    fn json_content_types_are_fastapis() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, value.parse().unwrap());
            is_json(&headers)
        };
        assert!(
            is_json(&HeaderMap::new()),
            "no Content-Type is read as JSON"
        );
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(with(""));
        for other in [
            "text/plain",
            "text/plain;charset=UTF-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/json",
            "json",
            "application/jsonp",
        ] {
            assert!(!with(other), "{other}");
        }
    }
}
