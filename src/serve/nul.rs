//! Text PostgreSQL cannot store: U+0000 is refused in a `text` column, so a NUL in a
//! request would fail only when saved, as a 500. Request bodies ([`super::body`]) and query
//! strings ([`refuse_in_query`]) holding one get FastAPI's 422 naming the field instead.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::HttpResponse;
use serde_json::{json, Value};

/// The 422 message for a field holding a NUL.
pub const MESSAGE: &str =
    "Value error, text cannot contain the NUL character (\\u0000); remove it and send again";

/// The path, inside `value`, to the first string (or key) that holds a NUL.
pub fn find(value: &Value) -> Option<Vec<Value>> {
    match value {
        Value::String(s) => s.contains('\0').then(Vec::new),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let mut loc = find(item)?;
            loc.insert(0, json!(i));
            Some(loc)
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                return Some(vec![json!(key)]);
            }
            let mut loc = find(item)?;
            loc.insert(0, json!(key));
            Some(loc)
        }),
        _ => None,
    }
}

/// The first query parameter whose name or value decodes to text with a NUL.
pub fn in_query(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        .map(|(name, _)| name.replace('\0', "\\u0000"))
}

/// Middleware: a query string holding a NUL gets 422 naming the parameter, on every
/// route (search, filters and cursors all end up in SQL).
pub async fn refuse_in_query(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Some(name) = in_query(req.query_string()) {
        let response = HttpResponse::UnprocessableEntity().json(json!({
            "detail": [{"type": "string_nul", "loc": ["query", name], "msg": MESSAGE}],
        }));
        return Ok(req.into_response(response));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_is_found_wherever_it_is_encoded() {
        assert_eq!(in_query("search=%00"), Some("search".into()));
        assert_eq!(in_query("limit=5&search=a%00b"), Some("search".into()));
        assert_eq!(in_query("a%00=1"), Some("a\\u0000".into()));
        assert_eq!(
            in_query("search=%2500&limit=5"),
            None,
            "an escaped percent sign"
        );
        assert_eq!(in_query(""), None);
        assert_eq!(
            find(&json!({"a": ["x", "y\u{0}"]})),
            Some(vec![json!("a"), json!(1)])
        );
        assert_eq!(find(&json!({"a": 1, "b": null})), None);
    }
}
