//! API tokens for machines and sensors: shown once, stored as a digest, scoped, revocable.

use crate::{Actor, Env, audit, require_role};
use kern::auth::TokenPrincipal;
use kern::{Error, Invalid, Principal, Result, Role, Scope, secret};
use serde_json::json;
use store::accounts as db;
pub use store::accounts::ApiToken;

/// A token as just created: its plaintext is never stored and never shown again.
#[derive(Debug, Clone)]
pub struct CreatedToken {
    pub id: i64,
    pub token: String,
}

/// Parses scope names, with a message naming the bad one.
pub fn parse_scopes<S: AsRef<str>>(items: &[S]) -> Result<Vec<Scope>> {
    let mut inv = Invalid::new();
    let mut out = Vec::new();
    for s in items.iter().flat_map(|s| {
        s.as_ref()
            .split([' ', ','])
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    }) {
        match s.parse::<Scope>() {
            Ok(sc) if !out.contains(&sc) => out.push(sc),
            Ok(_) => {}
            Err(e) => inv.push("scopes", e),
        }
    }
    if out.is_empty() && inv.is_empty() {
        inv.push(
            "scopes",
            "Mindestens eine Berechtigung ist nötig, z. B. sta:write oder admin.",
        );
    }
    inv.into_result()?;
    Ok(out)
}

fn check_name(name: &str, inv: &mut Invalid) {
    if name.is_empty() || name.chars().count() > 100 {
        inv.push("name", "Der Name muss 1 bis 100 Zeichen lang sein.");
    }
}

/// Creates a token from scope names as a person typed them (admin page, JSON API): the name and
/// every scope are checked together, so one answer lists every problem.
pub async fn create_from_names<S: AsRef<str>>(
    env: &Env,
    actor: &Actor,
    name: &str,
    scope_names: &[S],
) -> Result<CreatedToken> {
    if !actor.is_system() {
        require_role(&actor.principal, Role::Admin)?;
    }
    match parse_scopes(scope_names) {
        Ok(scopes) => create(env, actor, name, &scopes).await,
        Err(Error::Invalid(mut inv)) => {
            let mut name_problems = Invalid::new();
            check_name(name.trim(), &mut name_problems);
            name_problems.problems.append(&mut inv.problems);
            Err(Error::Invalid(name_problems))
        }
        Err(other) => Err(other),
    }
}

/// Creates a token (admins, or the system through the command line).
pub async fn create(
    env: &Env,
    actor: &Actor,
    name: &str,
    scopes: &[Scope],
) -> Result<CreatedToken> {
    if !actor.is_system() {
        require_role(&actor.principal, Role::Admin)?;
    }
    let name = name.trim();
    let mut inv = Invalid::new();
    check_name(name, &mut inv);
    if scopes.is_empty() {
        inv.push("scopes", "Mindestens eine Berechtigung ist nötig.");
    }
    inv.into_result()?;
    let token = secret::new_api_token(env.rng.as_ref());
    let mut tx = env.db.begin().await?;
    let id = db::create_token(
        &mut tx,
        name,
        &secret::digest(&token),
        scopes,
        actor.user_id(),
        env.now(),
    )
    .await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "token.create",
        &format!("token:{id}"),
        json!({ "name": name, "scopes": scopes.iter().map(ToString::to_string).collect::<Vec<_>>() }),
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedToken { id, token })
}

/// The principal behind a bearer token; an unknown or revoked token is refused.
pub async fn authenticate(env: &Env, bearer: &str) -> Result<Principal> {
    let invalid = || Error::Unauthorized("Das API-Token ist ungültig oder widerrufen.".into());
    if !bearer.starts_with(secret::TOKEN_PREFIX) || bearer.len() > 200 {
        return Err(invalid());
    }
    let t = db::token_by_hash(&env.db, &secret::digest(bearer))
        .await?
        .ok_or_else(invalid)?;
    if t.revoked_at.is_some() {
        return Err(invalid());
    }
    db::touch_token(&env.db, t.id, env.now()).await?;
    Ok(Principal::Token(TokenPrincipal {
        id: t.id,
        name: t.name.clone(),
        scopes: t.scope_list(),
    }))
}

pub async fn list(env: &Env, who: &Principal) -> Result<Vec<ApiToken>> {
    require_role(who, Role::Admin)?;
    db::list_tokens(&env.db).await
}

/// Lists tokens for the command line (no principal check: whoever runs the CLI owns the data).
pub async fn list_system(env: &Env) -> Result<Vec<ApiToken>> {
    db::list_tokens(&env.db).await
}

/// Revokes a token.
pub async fn revoke(env: &Env, actor: &Actor, token_id: i64) -> Result<ApiToken> {
    if !actor.is_system() {
        require_role(&actor.principal, Role::Admin)?;
    }
    let t = db::token_by_id(&env.db, token_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("Token {token_id} gibt es nicht.")))?;
    let mut tx = env.db.begin().await?;
    if !db::revoke_token(&mut tx, token_id, env.now()).await? {
        return Err(Error::Conflict(format!(
            "Token {token_id} ist bereits widerrufen."
        )));
    }
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "token.revoke",
        &format!("token:{token_id}"),
        json!({ "name": t.name }),
    )
    .await?;
    tx.commit().await?;
    Ok(t)
}
