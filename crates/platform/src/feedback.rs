//! The accessibility feedback mechanism required by BITV: anyone can report a barrier;
//! admins see and close the reports.

use crate::{Actor, Env, accounts::valid_email, audit, require_role};
use kern::{Error, Invalid, Principal, Result, Role};
use serde_json::json;
pub use store::feedback::Feedback;

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct NewFeedback {
    #[serde(default)]
    pub page: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub contact: String,
}

pub async fn submit(env: &Env, actor: &Actor, f: NewFeedback) -> Result<i64> {
    let mut inv = Invalid::new();
    let message = f.message.trim();
    if message.chars().count() < 10 {
        inv.push(
            "message",
            "Bitte beschreiben Sie die Barriere (mindestens 10 Zeichen).",
        );
    }
    if message.chars().count() > 5000 {
        inv.push(
            "message",
            "Die Beschreibung darf höchstens 5000 Zeichen lang sein.",
        );
    }
    let contact = f.contact.trim();
    if !contact.is_empty() && !valid_email(contact) {
        inv.push(
            "contact",
            "Bitte geben Sie eine gültige E-Mail-Adresse an oder lassen Sie das Feld leer.",
        );
    }
    if f.page.chars().count() > 500 {
        inv.push(
            "page",
            "Die Angabe der Seite darf höchstens 500 Zeichen lang sein.",
        );
    }
    inv.into_result()?;
    let mut tx = env.db.begin().await?;
    let id = store::feedback::create(&mut tx, f.page.trim(), message, contact, env.now()).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "feedback.create",
        &format!("feedback:{id}"),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn list(env: &Env, who: &Principal) -> Result<Vec<Feedback>> {
    require_role(who, Role::Admin)?;
    store::feedback::list(&env.db).await
}

/// Closes a report (admins only). A person closes it, so the report names who handled it; an
/// admin token is refused.
pub async fn mark_done(env: &Env, actor: &Actor, id: i64) -> Result<()> {
    require_role(&actor.principal, Role::Admin)?;
    let Some(by) = actor.user_id() else {
        return Err(Error::forbidden(
            "Meldungen schließt eine angemeldete Person ab, kein API-Token.",
        ));
    };
    let mut tx = env.db.begin().await?;
    store::feedback::mark_done(&mut tx, id, by, env.now()).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "feedback.done",
        &format!("feedback:{id}"),
        json!({}),
    )
    .await?;
    tx.commit().await
}
