//! A resident's own data: the account overview, the export of everything held about the account
//! (GDPR Art. 15 and 20) and what deleting the account leaves (see `platform::accounts::delete_own`
//! and `store::privacy`).

use crate::cases::{self, CaseLine};
use chrono::{DateTime, Utc};
use kern::{Error, Result};
use platform::accounts::{self, Account};
use platform::{Actor, Env, audit};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// What the account page shows.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub account: Account,
    pub has_password: bool,
    pub may_delete: bool,
    pub cases: Vec<CaseLine>,
    pub appointments: Vec<AppointmentLine>,
    pub drafts: Vec<DraftLine>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppointmentLine {
    pub reference: String,
    pub service_name: String,
    pub office_name: String,
    pub starts_at: DateTime<Utc>,
    pub state: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DraftLine {
    pub service_id: i64,
    pub service_name: String,
    pub updated_at: DateTime<Utc>,
}

fn signed_in(actor: &Actor) -> Result<i64> {
    actor
        .user_id()
        .ok_or_else(|| Error::Unauthorized("Bitte melden Sie sich an.".into()))
}

async fn names(env: &Env) -> Result<(HashMap<i64, String>, HashMap<i64, String>)> {
    let services = store::services::services(&env.db)
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    let offices = store::services::offices(&env.db)
        .await?
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect();
    Ok((services, offices))
}

/// The signed-in user's account with their applications, appointments and drafts.
pub async fn overview(env: &Env, actor: &Actor) -> Result<Overview> {
    let me = signed_in(actor)?;
    let account = accounts::get(env, &actor.principal, me, false).await?;
    let (services, offices) = names(env).await?;
    let name = |m: &HashMap<i64, String>, id: i64| m.get(&id).cloned().unwrap_or_default();
    let appointments = store::services::appointments_of_user(&env.db, me)
        .await?
        .into_iter()
        .map(|a| AppointmentLine {
            service_name: name(&services, a.service_id),
            office_name: name(&offices, a.office_id),
            reference: a.reference,
            starts_at: a.starts_at,
            state: a.state,
        })
        .collect();
    let drafts = store::cases::drafts_of_user(&env.db, me)
        .await?
        .into_iter()
        .map(|d| DraftLine {
            service_name: name(&services, d.service_id),
            service_id: d.service_id,
            updated_at: d.updated_at,
        })
        .collect();
    Ok(Overview {
        has_password: account.user.password_hash.is_some(),
        may_delete: accounts::may_delete_itself(&account.roles),
        cases: cases::mine(env, actor).await?,
        appointments,
        drafts,
        account,
    })
}

/// Everything the platform holds about the signed-in account, as one JSON document: the
/// account, its sessions, its applications with what the resident sees of them (answers,
/// messages, documents, invoices), its appointments and its drafts. Internal notes of the
/// administration are not part of it. The export itself is audited.
pub async fn export(env: &Env, actor: &Actor) -> Result<Value> {
    let me = signed_in(actor)?;
    let account = accounts::get(env, &actor.principal, me, false).await?;
    let (services, offices) = names(env).await?;
    let name = |m: &HashMap<i64, String>, id: i64| m.get(&id).cloned().unwrap_or_default();
    let sessions: Vec<Value> = store::accounts::sessions_of(&env.db, me)
        .await?
        .into_iter()
        .map(|s| {
            json!({
                "created_at": s.created_at,
                "last_seen_at": s.last_seen_at,
                "expires_at": s.expires_at,
                "address": s.address,
                "user_agent": s.user_agent,
            })
        })
        .collect();
    let mut applications = Vec::new();
    for c in store::cases::cases_of_user(&env.db, me).await? {
        let events: Vec<Value> = store::cases::events(&env.db, c.id)
            .await?
            .into_iter()
            .filter(|e| e.public)
            .map(|e| json!({ "at": e.at, "kind": e.kind, "text": e.body }))
            .collect();
        let documents: Vec<Value> = store::cases::documents(&env.db, c.id)
            .await?
            .into_iter()
            .filter(|d| d.public)
            .map(|d| {
                json!({
                    "title": d.title,
                    "version": d.version,
                    "file_name": d.file_name,
                    "media_type": d.media_type,
                    "size": d.size,
                    "sha256": d.sha256,
                    "created_at": d.created_at,
                })
            })
            .collect();
        let invoices: Vec<Value> = store::cases::invoices_of_case(&env.db, c.id)
            .await?
            .into_iter()
            .map(|i| {
                json!({
                    "reference": i.reference,
                    "amount_cents": i.amount_cents,
                    "paid_cents": i.paid_cents,
                    "status": i.status,
                    "method": i.method,
                    "paid_at": i.paid_at,
                })
            })
            .collect();
        applications.push(json!({
            "reference": c.reference,
            "service": name(&services, c.service_id),
            "status": c.status,
            "applicant_name": c.applicant_name,
            "applicant_email": c.applicant_email,
            "answers": c.data.0,
            "decision": c.decision,
            "created_at": c.created_at,
            "decided_at": c.decided_at,
            "closed_at": c.closed_at,
            "delete_after": c.delete_after,
            "history": events,
            "documents": documents,
            "invoices": invoices,
        }));
    }
    let appointments: Vec<Value> = store::services::appointments_of_user(&env.db, me)
        .await?
        .into_iter()
        .map(|a| {
            json!({
                "reference": a.reference,
                "service": name(&services, a.service_id),
                "office": name(&offices, a.office_id),
                "starts_at": a.starts_at,
                "ends_at": a.ends_at,
                "state": a.state,
                "name": a.name,
                "email": a.email,
                "phone": a.phone,
                "created_at": a.created_at,
            })
        })
        .collect();
    let drafts: Vec<Value> = store::cases::drafts_of_user(&env.db, me)
        .await?
        .into_iter()
        .map(|d| {
            json!({
                "service": name(&services, d.service_id),
                "answers": d.data.0,
                "updated_at": d.updated_at,
            })
        })
        .collect();
    audit::record(
        env,
        actor,
        "account.exported",
        &format!("user:{me}"),
        json!({}),
    )
    .await?;
    Ok(json!({
        "exported_at": env.now(),
        "account": {
            "username": account.user.username,
            "display_name": account.user.display_name,
            "email": account.user.email,
            "sign_in": if account.user.oidc_subject.is_some() { "oidc" } else { "password" },
            "roles": account.roles,
            "org_units": account.org_units,
            "created_at": account.user.created_at,
            "updated_at": account.user.updated_at,
        },
        "sessions": sessions,
        "applications": applications,
        "appointments": appointments,
        "drafts": drafts,
    }))
}
