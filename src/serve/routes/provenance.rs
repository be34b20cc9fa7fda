//! A verified report's provenance, read back from the claim tables: its claims, one
//! claim with its evidence, the verification summary, and the export as JSON or as the
//! markdown Verification Report. Only the owner of the message's chat sees any of it.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use uuid::Uuid;

use super::Routes;
use crate::citations::provenance::{ClaimId, Corrections, Provenance};
use crate::db::repo::{claims, messages, MessageId};
use crate::serve::{ApiError, AppState, User};

pub(super) fn mount(r: &mut Routes) {
    r.get("/messages/{message_id}/claims", message_claims)
        .get("/messages/{message_id}/verification-summary", summary)
        .get("/messages/{message_id}/provenance", export)
        .get("/messages/{message_id}/report", report)
        .get("/claims/{claim_id}", claim)
        .get("/claims/{claim_id}/evidence", evidence);
}

/// The docs' older `/v1` routes: the provenance export and the report download.
pub(super) fn mount_v1(r: &mut Routes) {
    r.get("/messages/{message_id}/provenance", export)
        .get("/messages/{message_id}/report", report);
}

#[derive(Debug, Deserialize)]
struct ClaimsParams {
    #[serde(default)]
    include_corrections: bool,
}

#[derive(Debug, Deserialize)]
struct ExportParams {
    format: Option<String>,
}

/// The provenance of `message`, if it is in one of the user's chats.
async fn provenance_of(
    state: &AppState,
    user: &User,
    message: MessageId,
) -> Result<Provenance, ApiError> {
    let mut conn = state.conn().await?;
    messages::find_for_user(&mut conn, message, &user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("Message", message))?;
    let claims = claims::load(&mut conn, message).await?;
    Ok(Provenance::new(message.0, claims))
}

/// The provenance of the message claim `claim` belongs to, if it is the user's.
async fn provenance_of_claim(
    state: &AppState,
    user: &User,
    claim: Uuid,
) -> Result<Provenance, ApiError> {
    let message = {
        let mut conn = state.conn().await?;
        claims::message_of(&mut conn, claim).await?
    };
    let message = message.ok_or_else(|| ApiError::not_found("Claim", claim))?;
    provenance_of(state, user, message)
        .await
        .map_err(|e| match e {
            ApiError::NotFound { .. } => ApiError::not_found("Claim", claim),
            other => other,
        })
}

async fn message_claims(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
    params: web::Query<ClaimsParams>,
) -> Result<HttpResponse, ApiError> {
    let provenance = provenance_of(&state, &user, MessageId(path.into_inner())).await?;
    let corrections = if params.include_corrections {
        Corrections::Include
    } else {
        Corrections::Omit
    };
    Ok(HttpResponse::Ok().json(provenance.message_claims(corrections)))
}

async fn summary(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let provenance = provenance_of(&state, &user, MessageId(path.into_inner())).await?;
    Ok(HttpResponse::Ok().json(provenance.summary()))
}

async fn export(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
    params: web::Query<ExportParams>,
) -> Result<HttpResponse, ApiError> {
    let markdown = match params.format.as_deref() {
        None | Some("json") => false,
        Some("markdown") => true,
        Some(_) => {
            return Err(ApiError::Unprocessable {
                location: "query",
                name: "format",
                message: "must be json or markdown".into(),
            })
        }
    };
    let provenance = provenance_of(&state, &user, MessageId(path.into_inner())).await?;
    let now = chrono::Utc::now();
    Ok(if markdown {
        HttpResponse::Ok()
            .content_type("text/markdown; charset=utf-8")
            .insert_header((
                "Content-Disposition",
                format!(
                    "attachment; filename=\"verification-{}.md\"",
                    provenance.message_id
                ),
            ))
            .body(provenance.verification_report(now))
    } else {
        HttpResponse::Ok().json(provenance.export(now))
    })
}

async fn claim(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let provenance = provenance_of_claim(&state, &user, id).await?;
    let claim = provenance
        .claim(ClaimId(id))
        .map_err(|_| ApiError::not_found("Claim", id))?;
    Ok(HttpResponse::Ok().json(claim))
}

async fn evidence(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let provenance = provenance_of_claim(&state, &user, id).await?;
    let evidence = provenance
        .claim_evidence(ClaimId(id))
        .map_err(|_| ApiError::not_found("Claim", id))?;
    Ok(HttpResponse::Ok().json(evidence))
}

/// `GET /messages/{id}/report`: the report as a markdown download, its References list
/// included, as the run stored it.
async fn report(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = MessageId(path.into_inner());
    let mut conn = state.conn().await?;
    let message = messages::find_for_user(&mut conn, id, &user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("Message", id))?;
    // A question, or an answer still being written, is no report.
    let content = message
        .content
        .filter(|c| message.role != "user" && !c.trim().is_empty())
        .ok_or_else(|| ApiError::not_found("Message", id))?;
    Ok(HttpResponse::Ok()
        .content_type("text/markdown; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"report-{id}.md\""),
        ))
        .body(content))
}
