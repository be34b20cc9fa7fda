//! The audit log: every successful change made through the API (a 2xx answer to POST,
//! PUT, PATCH or DELETE under `/api/v1` or `/v1`) leaves one `audit_logs` row naming the
//! user, the action, the resource and where the request came from.
//!
//! It is one middleware rather than a call in each handler, so a new route is audited
//! without anyone remembering to: the action comes from the matched route pattern. The
//! row is written after the answer is ready, on a task of its own, so a slow or failing
//! insert never delays or fails the user's request; a failure is logged.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::{AppState, User};
use crate::db::repo::audit::{self, NewAuditEntry};
use crate::db::PgPool;

/// The API prefixes whose mutations are audited (and the agent endpoint's paths); health
/// and static files are not.
const AUDITED_PREFIXES: [&str; 2] = ["/api/v1", "/v1"];

/// Middleware: after the handler, record a successful mutation (see the module docs).
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if !is_mutation(req.method()) {
        return next.call(req).await;
    }
    // What identifies the caller is read before the handler consumes the request.
    let ip_address = super::access_log::client_ip(&req);
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let response = next.call(req).await?;
    if response.status().is_success() {
        if let Some((pool, entry)) = entry_for(&response, ip_address, user_agent) {
            actix_web::rt::spawn(write(pool, entry));
        }
    }
    Ok(response)
}

/// The id of what a create handler made, put in its response's extensions: the route
/// has no path parameter naming it, so the audit row learns it from here.
#[derive(Debug, Clone)]
pub struct Created(pub String);

/// Marks `response` as having created the resource `id` (see [`Created`]).
pub fn created(mut response: HttpResponse, id: impl ToString) -> HttpResponse {
    response.extensions_mut().insert(Created(id.to_string()));
    response
}

/// What an audited request did: `<resource>.<verb>` and the resource it touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
}

/// The action of a `method` request to route `pattern` (as actix-web spells it, e.g.
/// `/api/v1/chats/{chat_id}`), with `param` giving the request's path parameters.
/// `None` for anything that is not an audited API mutation.
pub fn classify(
    method: &Method,
    pattern: &str,
    param: impl Fn(&str) -> Option<String>,
) -> Option<Action> {
    if !is_mutation(method) {
        return None;
    }
    // The agent endpoint runs research from the root, as Model Serving calls it.
    if super::responses_agent::PATHS.contains(&pattern) {
        return Some(Action {
            action: "research.query".into(),
            resource_type: "research_session".into(),
            resource_id: None,
        });
    }
    let route = AUDITED_PREFIXES
        .iter()
        .find_map(|prefix| pattern.strip_prefix(prefix))
        .filter(|rest| rest.starts_with('/'))?;
    let action = |action: &str, resource_type: &str, id: Option<&str>| Action {
        action: action.into(),
        resource_type: resource_type.into(),
        resource_id: id.and_then(&param),
    };
    let m = method.as_str();
    Some(match (m, route) {
        ("POST", "/chats") => action("chat.create", "chat", None),
        ("PATCH", "/chats/{chat_id}") => action("chat.update", "chat", Some("chat_id")),
        ("DELETE", "/chats/{chat_id}") => action("chat.delete", "chat", Some("chat_id")),
        ("POST", "/chats/{chat_id}/restore") => action("chat.restore", "chat", Some("chat_id")),
        // Sending a message is what starts a research run in the original.
        ("POST", "/chats/{chat_id}/messages") => action("research.submit", "chat", Some("chat_id")),
        // Editing a question reruns its research.
        ("PATCH", "/chats/{chat_id}/messages/{message_id}") => {
            action("message.update", "message", Some("message_id"))
        }
        ("POST", "/chats/{chat_id}/messages/{message_id}/regenerate") => {
            action("research.regenerate", "message", Some("message_id"))
        }
        ("POST", "/chats/{chat_id}/messages/{message_id}/feedback")
        | ("POST", "/messages/{message_id}/feedback") => {
            action("message.feedback", "message", Some("message_id"))
        }
        ("PUT", "/preferences") => action("preferences.update", "preferences", None),
        ("POST", "/research/jobs") | ("POST", "/research") => {
            action("research.submit", "research_session", None)
        }
        ("DELETE", "/research/jobs/{session_id}") | ("POST", "/chats/{session_id}/cancel") => {
            action("research.cancel", "research_session", Some("session_id"))
        }
        ("POST", "/agent/query") => action("research.query", "research_session", None),
        _ => generic(method, route, &param),
    })
}

/// A route the table above does not know (added later): its last literal segment names
/// the resource and the method the verb, so it is still audited, if less precisely.
fn generic(method: &Method, route: &str, param: &impl Fn(&str) -> Option<String>) -> Action {
    let segments: Vec<&str> = route.split('/').filter(|s| !s.is_empty()).collect();
    let resource = segments
        .iter()
        .rev()
        .find(|s| !s.starts_with('{'))
        .map(|s| s.trim_end_matches('s').replace('-', "_"))
        .unwrap_or_else(|| "api".into());
    let verb = match *method {
        Method::POST => "create",
        Method::DELETE => "delete",
        _ => "update",
    };
    let resource_id = segments
        .iter()
        .rev()
        .find_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .and_then(|name| param(name.split(':').next().unwrap_or(name)));
    Action {
        action: format!("{resource}.{verb}"),
        resource_type: resource,
        resource_id,
    }
}

fn is_mutation(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The row for a finished request, with the pool to write it with; `None` when the
/// request is not audited or there is no database or user.
fn entry_for<B>(
    response: &ServiceResponse<B>,
    ip_address: Option<String>,
    user_agent: Option<String>,
) -> Option<(PgPool, NewAuditEntry)> {
    let req = response.request();
    let pattern = req.match_pattern()?;
    let mut action = classify(req.method(), &pattern, |name| {
        req.match_info().get(name).map(str::to_string)
    })?;
    if action.resource_id.is_none() {
        action.resource_id = response
            .response()
            .extensions()
            .get::<Created>()
            .map(|c| c.0.clone());
    }
    let state = req.app_data::<web::Data<AppState>>()?;
    let pool = state.pool.clone()?;
    // The handler already accepted this identity; it cannot fail differently here.
    let user = User::of(req, &state.identity).ok()?;
    let entry = NewAuditEntry {
        user_id: user.id,
        action: action.action,
        resource_type: action.resource_type,
        resource_id: action.resource_id,
        details: Some(json!({
            "method": req.method().as_str(),
            "path": req.path(),
            "status": response.status().as_u16(),
        })),
        ip_address,
        user_agent,
    };
    Some((pool, entry))
}

async fn write(pool: PgPool, entry: NewAuditEntry) {
    let result = match pool.get().await {
        Ok(mut conn) => audit::insert(&mut conn, &entry)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(error) = result {
        tracing::warn!(
            error = %crate::redact::scrub(&error),
            action = %entry.action,
            "could not write the audit log row"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(name: &str) -> Option<String> {
        Some(format!("<{name}>"))
    }

    #[test]
    fn known_routes_get_their_action_and_resource() {
        let a = classify(&Method::DELETE, "/api/v1/chats/{chat_id}", params).unwrap();
        assert_eq!(a.action, "chat.delete");
        assert_eq!(a.resource_type, "chat");
        assert_eq!(a.resource_id.as_deref(), Some("<chat_id>"));
        let v1 = classify(&Method::POST, "/v1/messages/{message_id}/feedback", params).unwrap();
        assert_eq!(v1.action, "message.feedback");
        assert_eq!(v1.resource_id.as_deref(), Some("<message_id>"));
        let cancel = classify(&Method::POST, "/api/v1/chats/{session_id}/cancel", params).unwrap();
        assert_eq!(cancel.action, "research.cancel");
        assert_eq!(cancel.resource_type, "research_session");
        assert_eq!(cancel.resource_id.as_deref(), Some("<session_id>"));
        let submit = classify(&Method::POST, "/v1/research", params).unwrap();
        assert_eq!(submit.action, "research.submit");
        let prefs = classify(&Method::PUT, "/api/v1/preferences", params).unwrap();
        assert_eq!(prefs.action, "preferences.update");
        assert_eq!(prefs.resource_id, None);
        for path in ["/invocations", "/responses"] {
            let agent = classify(&Method::POST, path, params).unwrap();
            assert_eq!(agent.action, "research.query", "{path}");
        }
    }

    #[test]
    fn reads_and_routes_outside_the_api_are_not_audited() {
        assert_eq!(classify(&Method::GET, "/api/v1/chats", params), None);
        assert_eq!(classify(&Method::POST, "/health", params), None);
        assert_eq!(classify(&Method::POST, "/v1x/chats", params), None);
    }

    #[test]
    fn an_unknown_route_is_still_audited_by_its_shape() {
        let a = classify(
            &Method::POST,
            "/api/v1/chats/{chat_id}/messages/{message_id}/pins",
            params,
        )
        .unwrap();
        assert_eq!(a.action, "pin.create");
        assert_eq!(a.resource_id.as_deref(), Some("<message_id>"));
        let d = classify(&Method::DELETE, "/api/v1/exports/{export_id}", params).unwrap();
        assert_eq!(d.action, "export.delete");
        assert_eq!(d.resource_type, "export");
    }
}
