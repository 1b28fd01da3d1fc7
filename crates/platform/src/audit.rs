//! Recording and checking the audit trail.

use crate::{Actor, Env, require_role};
use kern::{Principal, Result, Role};
use store::Tx;
pub use store::audit::{Entry, Filter, Verdict};

/// Records an action inside the caller's transaction (the change and its audit entry commit
/// together).
pub async fn record_tx(
    env: &Env,
    tx: &mut Tx,
    actor: &Actor,
    action: &str,
    object: &str,
    details: serde_json::Value,
) -> Result<i64> {
    store::audit::append(
        tx,
        store::audit::NewEntry {
            at: None,
            actor: actor.label(),
            action: action.into(),
            object: object.into(),
            address: actor.address.clone(),
            details,
        },
        env.now(),
    )
    .await
}

/// Records an action in a transaction of its own (for events that change nothing else, such as
/// a failed login).
pub async fn record(
    env: &Env,
    actor: &Actor,
    action: &str,
    object: &str,
    details: serde_json::Value,
) -> Result<i64> {
    let mut tx = env.db.begin().await?;
    let seq = record_tx(env, &mut tx, actor, action, object, details).await?;
    tx.commit().await?;
    Ok(seq)
}

/// Lists entries (admins only).
pub async fn list(env: &Env, who: &Principal, filter: &Filter) -> Result<Vec<Entry>> {
    require_role(who, Role::Admin)?;
    store::audit::list(&env.db, filter).await
}

/// Checks the whole chain.
pub async fn verify(env: &Env) -> Result<Verdict> {
    store::audit::verify(&env.db).await
}

/// Checks the whole chain on behalf of a principal (admins only), for the admin page and API.
pub async fn verify_as(env: &Env, who: &Principal) -> Result<Verdict> {
    require_role(who, Role::Admin)?;
    verify(env).await
}

/// One entry by its sequence number (admins only); `None` when it does not exist (for example
/// because it was deleted, which `verify` reports).
pub async fn entry(env: &Env, who: &Principal, seq: i64) -> Result<Option<Entry>> {
    let found = list(
        env,
        who,
        &Filter {
            before_seq: Some(seq.saturating_add(1)),
            limit: 1,
            ..Filter::default()
        },
    )
    .await?;
    Ok(found.into_iter().find(|e| e.seq == seq))
}
