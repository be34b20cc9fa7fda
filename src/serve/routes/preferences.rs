//! `/api/v1/preferences`: the user's defaults (depth, mode, theme, system instructions).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::Routes;
use crate::db::repo::preferences::{self, Preferences, PreferencesUpdate};
use crate::serve::body::{Body, Keys, RequestBody};
use crate::serve::{ApiError, AppState, User};

const DEPTHS: [&str; 4] = ["auto", "light", "medium", "extended"];
const MODES: [&str; 3] = ["simple", "web_search", "deep_research"];
/// The themes a UI can show (dra's UI offers these three; the original's frontend sends
/// none). The original stores any 20 characters; a theme no UI knows is refused instead
/// of stored.
const THEMES: [&str; 3] = ["light", "dark", "system"];

pub(super) fn mount(r: &mut Routes) {
    r.get("/preferences", get).put("/preferences", put);
}

/// `UpdatePreferencesRequest` (the original's frontend sends it in snake_case, dra's UI in
/// camelCase).
#[derive(Debug, Deserialize)]
struct Update {
    system_instructions: Option<String>,
    default_research_depth: Option<String>,
    default_query_mode: Option<String>,
    theme: Option<String>,
    #[serde(default, deserialize_with = "crate::serve::body::lax_bool_opt")]
    notifications_enabled: Option<bool>,
}

impl RequestBody for Update {
    const KEYS: Keys = Keys::NameOrCamelAlias;
}

fn response(p: Preferences) -> serde_json::Value {
    json!({
        "systemInstructions": p.system_instructions,
        "defaultResearchDepth": p.default_research_depth,
        "defaultQueryMode": p.default_query_mode,
        "theme": p.theme,
        "notificationsEnabled": p.notifications_enabled,
        "updatedAt": p.updated_at,
    })
}

async fn get(state: web::Data<AppState>, user: User) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let prefs = preferences::get_or_create(&mut conn, &user.id).await?;
    Ok(HttpResponse::Ok().json(response(prefs)))
}

async fn put(
    state: web::Data<AppState>,
    user: User,
    body: Body<Update>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    one_of(
        "defaultResearchDepth",
        body.default_research_depth.as_deref(),
        &DEPTHS,
    )?;
    one_of(
        "defaultQueryMode",
        body.default_query_mode.as_deref(),
        &MODES,
    )?;
    one_of("theme", body.theme.as_deref(), &THEMES)?;
    at_most(
        "systemInstructions",
        body.system_instructions.as_deref(),
        10_000,
    )?;
    let update = PreferencesUpdate {
        system_instructions: body.system_instructions.as_deref(),
        default_research_depth: body.default_research_depth.as_deref(),
        default_query_mode: body.default_query_mode.as_deref(),
        theme: body.theme.as_deref(),
        notifications_enabled: body.notifications_enabled,
    };
    let mut conn = state.conn().await?;
    let prefs = preferences::update(&mut conn, &user.id, &update).await?;
    Ok(HttpResponse::Ok().json(response(prefs)))
}

fn one_of(name: &'static str, value: Option<&str>, allowed: &[&str]) -> Result<(), ApiError> {
    match value {
        Some(v) if !allowed.contains(&v) => Err(ApiError::Unprocessable {
            location: "body",
            name,
            message: format!("Input should be {}", pydantic_choices(allowed)),
        }),
        _ => Ok(()),
    }
}

/// pydantic's list of allowed values: `'a', 'b' or 'c'`.
fn pydantic_choices(allowed: &[&str]) -> String {
    let quoted: Vec<String> = allowed.iter().map(|v| format!("'{v}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

pub(super) fn at_most(
    name: &'static str,
    value: Option<&str>,
    chars: usize,
) -> Result<(), ApiError> {
    match value {
        Some(v) if v.chars().count() > chars => Err(ApiError::Unprocessable {
            location: "body",
            name,
            message: format!("must be at most {chars} characters"),
        }),
        _ => Ok(()),
    }
}
