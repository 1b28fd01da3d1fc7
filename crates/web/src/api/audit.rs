//! The audit log: newest entries first, paged by sequence number, and the chain check.

use super::{ApiQuery, ProblemDoc};
use crate::AppState;
use crate::ctx::Ctx;
use crate::error::WebResult;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chrono::{DateTime, Utc};
use kern::Invalid;
use platform::audit::{Filter, Verdict};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Largest page the API hands out.
const MAX_LIMIT: u64 = 1000;
const DEFAULT_LIMIT: u64 = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audit", get(list))
        .route("/api/v1/audit/verify", get(verify))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Entries per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// Only entries with a sequence number below this one (the `next_before` of the previous
    /// page).
    before: Option<i64>,
    /// Only entries of this actor, for example `user:admin` or `token:probe`.
    actor: Option<String>,
    /// Only actions starting with this, for example `user.` or `token.revoke`.
    action: Option<String>,
}

/// One audit entry.
#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    #[schema(example = "user:admin")]
    pub actor: String,
    #[schema(example = "token.create")]
    pub action: String,
    #[schema(example = "token:3")]
    pub object: String,
    /// The client address the action came from.
    pub address: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// A page of audit entries, newest first.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

/// The outcome of checking the hash chain.
#[derive(Serialize, ToSchema)]
pub struct AuditVerdict {
    pub intact: bool,
    /// Number of entries checked (when intact).
    pub entries: Option<u64>,
    /// The first entry that does not fit (when broken).
    pub broken_at: Option<i64>,
    /// Why it does not fit (when broken).
    pub reason: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit",
    summary = "Audit entries, newest first",
    params(AuditParams),
    responses(
        (status = 200, description = "A page of entries", body = AuditPage),
        (status = 400, description = "Invalid parameters", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "Scope `admin` missing", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> WebResult<axum::Json<AuditPage>> {
    let mut inv = Invalid::new();
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        inv.push(
            "limit",
            format!("limit muss zwischen 1 und {MAX_LIMIT} liegen."),
        );
    }
    if p.before.is_some_and(|b| b < 1) {
        inv.push("before", "before muss eine positive Zahl sein.");
    }
    inv.into_result()?;
    let filter = Filter {
        actor: p.actor.filter(|s| !s.is_empty()),
        action_prefix: p.action.filter(|s| !s.is_empty()),
        object: None,
        before_seq: p.before,
        limit,
    };
    let entries = platform::audit::list(&state.env, &ctx.principal, &filter).await?;
    let next_before = (entries.len() as u64 == limit)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    let entries = entries
        .into_iter()
        .map(|e| AuditEntry {
            details: serde_json::from_str(&e.details)
                .unwrap_or(serde_json::Value::String(e.details)),
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            action: e.action,
            object: e.object,
            address: e.address,
            prev_hash: e.prev_hash,
            hash: e.hash,
        })
        .collect();
    Ok(axum::Json(AuditPage {
        entries,
        next_before,
    }))
}

#[utoipa::path(
    get, path = "/api/v1/audit/verify", tag = "audit",
    summary = "Check the audit chain",
    description = "Walks the whole hash chain and names the first entry that was changed or deleted.",
    responses(
        (status = 200, description = "The verdict (also when the chain is broken)", body = AuditVerdict),
        (status = 401, description = "Not authenticated", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "Scope `admin` missing", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn verify(
    State(state): State<AppState>,
    ctx: Ctx,
) -> WebResult<axum::Json<AuditVerdict>> {
    let verdict = match platform::audit::verify_as(&state.env, &ctx.principal).await? {
        Verdict::Intact { entries } => AuditVerdict {
            intact: true,
            entries: Some(entries),
            broken_at: None,
            reason: None,
        },
        Verdict::Broken { seq, reason } => AuditVerdict {
            intact: false,
            entries: None,
            broken_at: Some(seq),
            reason: Some(reason),
        },
    };
    Ok(axum::Json(verdict))
}
