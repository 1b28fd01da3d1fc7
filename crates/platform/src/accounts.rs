//! Local accounts: creation, passwords, roles, org units.

use crate::{Actor, Env, audit, require_role};
use kern::auth::UserPrincipal;
use kern::{Error, Invalid, Principal, Result, Role, password};
use serde_json::json;
pub use store::accounts::User;
use store::accounts::{self as db, NewUser};

/// What an admin (or the command line) fills in for a new account.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct NewAccount {
    pub username: String,
    pub display_name: String,
    pub email: String,
    /// `None` for accounts that only sign in through OIDC.
    pub password: Option<String>,
    pub roles: Vec<Role>,
    pub org_units: Vec<i64>,
}

/// A user with roles and org units, as shown in the admin area.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Account {
    #[serde(flatten)]
    pub user: User,
    pub roles: Vec<Role>,
    pub org_units: Vec<i64>,
}

fn check_username(name: &str, inv: &mut Invalid) {
    let ok = (3..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if !ok {
        inv.push("username", "Der Benutzername muss 3 bis 64 Zeichen lang sein und darf nur Buchstaben, Ziffern und . - _ @ enthalten.");
    }
}

fn check_email(email: &str, inv: &mut Invalid) {
    if !email.is_empty() && !valid_email(email) {
        inv.push("email", "Die E-Mail-Adresse ist ungültig.");
    }
}

/// A plausibility check, not a full RFC 5322 parser: one @, a dot in the domain, no spaces.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.contains(char::is_whitespace)
        && !domain.contains('@')
        && email.len() <= 254
}

async fn hash_password(env: &Env, pw: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    env.rng.fill(&mut salt);
    let pw = pw.to_string();
    tokio::task::spawn_blocking(move || password::hash(&pw, &salt))
        .await
        .map_err(Error::internal)?
}

/// Verifies a password off the async threads (argon2 is deliberately slow).
pub async fn verify_password(pw: &str, hash: Option<&str>) -> bool {
    let pw = pw.to_string();
    let hash = hash.unwrap_or(password::dummy_hash()).to_string();
    tokio::task::spawn_blocking(move || password::verify(&pw, &hash))
        .await
        .unwrap_or(false)
}

/// Creates an account. Only admins may, except for the system itself (command line, demo).
pub async fn create(env: &Env, actor: &Actor, new: NewAccount) -> Result<Account> {
    if !actor.is_system() {
        require_role(&actor.principal, Role::Admin)?;
    }
    let mut inv = Invalid::new();
    check_username(&new.username, &mut inv);
    check_email(&new.email, &mut inv);
    if new.display_name.trim().is_empty() {
        inv.push("display_name", "Bitte geben Sie einen Anzeigenamen an.");
    }
    if let Some(pw) = &new.password
        && let Err(Error::Invalid(i)) =
            password::check_policy(pw, &[&new.username, &new.display_name, &new.email])
    {
        inv.problems.extend(i.problems);
    }
    inv.into_result()?;
    for ou in &new.org_units {
        if store::city::org_unit(&env.db, *ou).await?.is_none() {
            return Err(Error::invalid(
                "org_units",
                format!("Organisationseinheit {ou} gibt es nicht."),
            ));
        }
    }
    let hash = match &new.password {
        Some(pw) => Some(hash_password(env, pw).await?),
        None => None,
    };
    let now = env.now();
    let mut tx = env.db.begin().await?;
    let id = db::create_user(
        &mut tx,
        &NewUser {
            username: new.username.clone(),
            display_name: new.display_name.trim().to_string(),
            email: new.email.clone(),
            password_hash: hash,
            oidc_subject: None,
        },
        now,
    )
    .await?;
    db::set_roles(&mut tx, id, &new.roles).await?;
    db::set_org_units(&mut tx, id, &new.org_units).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "user.create",
        &format!("user:{id}"),
        json!({ "username": new.username, "roles": new.roles, "org_units": new.org_units }),
    )
    .await?;
    tx.commit().await?;
    get(env, &Principal::Anonymous, id, true).await
}

/// Reads one account. Admins read all; a user reads only themself.
pub async fn get(env: &Env, who: &Principal, user_id: i64, system: bool) -> Result<Account> {
    let own = who.user().is_some_and(|u| u.id == user_id);
    if !system && !own {
        require_role(who, Role::Admin)?;
    }
    let user = db::user_by_id(&env.db, user_id)
        .await?
        .ok_or_else(|| Error::not_found("Benutzer nicht gefunden."))?;
    let roles = db::roles_of(&env.db, user_id).await?;
    let org_units = db::org_units_of(&env.db, user_id).await?;
    Ok(Account {
        user,
        roles,
        org_units,
    })
}

pub async fn list(env: &Env, who: &Principal) -> Result<Vec<Account>> {
    require_role(who, Role::Admin)?;
    let mut out = Vec::new();
    for user in db::list_users(&env.db).await? {
        let roles = db::roles_of(&env.db, user.id).await?;
        let org_units = db::org_units_of(&env.db, user.id).await?;
        out.push(Account {
            user,
            roles,
            org_units,
        });
    }
    Ok(out)
}

pub async fn find_by_username(env: &Env, username: &str) -> Result<Option<User>> {
    db::user_by_username(&env.db, username).await
}

/// Sets a new password (admins for anyone, users for themselves). Ends the user's sessions.
pub async fn set_password(
    env: &Env,
    actor: &Actor,
    user_id: i64,
    new_password: &str,
) -> Result<()> {
    let own = actor.user_id() == Some(user_id);
    if !actor.is_system() && !own {
        require_role(&actor.principal, Role::Admin)?;
    }
    let user = db::user_by_id(&env.db, user_id)
        .await?
        .ok_or_else(|| Error::not_found("Benutzer nicht gefunden."))?;
    password::check_policy(
        new_password,
        &[&user.username, &user.display_name, &user.email],
    )?;
    let hash = hash_password(env, new_password).await?;
    let mut tx = env.db.begin().await?;
    db::set_password_hash(&mut tx, user_id, &hash, env.now()).await?;
    db::delete_sessions_of(&mut tx, user_id).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "user.password",
        &format!("user:{user_id}"),
        json!({}),
    )
    .await?;
    tx.commit().await
}

/// Replaces roles and org units (admins only).
pub async fn set_roles(
    env: &Env,
    actor: &Actor,
    user_id: i64,
    roles: &[Role],
    org_units: &[i64],
) -> Result<()> {
    if !actor.is_system() {
        require_role(&actor.principal, Role::Admin)?;
    }
    if db::user_by_id(&env.db, user_id).await?.is_none() {
        return Err(Error::not_found("Benutzer nicht gefunden."));
    }
    for ou in org_units {
        if store::city::org_unit(&env.db, *ou).await?.is_none() {
            return Err(Error::invalid(
                "org_units",
                format!("Organisationseinheit {ou} gibt es nicht."),
            ));
        }
    }
    if actor.user_id() == Some(user_id) && !roles.contains(&Role::Admin) {
        return Err(Error::invalid(
            "roles",
            "Sie können sich die Administrationsrolle nicht selbst entziehen.",
        ));
    }
    let mut tx = env.db.begin().await?;
    db::set_roles(&mut tx, user_id, roles).await?;
    db::set_org_units(&mut tx, user_id, org_units).await?;
    db::delete_sessions_of(&mut tx, user_id).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "user.roles",
        &format!("user:{user_id}"),
        json!({ "roles": roles, "org_units": org_units }),
    )
    .await?;
    tx.commit().await
}

/// Activates or deactivates an account and edits its profile (admins only).
pub async fn update(
    env: &Env,
    actor: &Actor,
    user_id: i64,
    display_name: &str,
    email: &str,
    active: bool,
) -> Result<()> {
    if !actor.is_system() {
        require_role(&actor.principal, Role::Admin)?;
    }
    let mut inv = Invalid::new();
    check_email(email, &mut inv);
    if display_name.trim().is_empty() {
        inv.push("display_name", "Bitte geben Sie einen Anzeigenamen an.");
    }
    inv.into_result()?;
    if actor.user_id() == Some(user_id) && !active {
        return Err(Error::invalid(
            "active",
            "Sie können Ihr eigenes Konto nicht deaktivieren.",
        ));
    }
    let mut tx = env.db.begin().await?;
    db::update_profile(
        &mut tx,
        user_id,
        display_name.trim(),
        email,
        active,
        env.now(),
    )
    .await?;
    if !active {
        db::delete_sessions_of(&mut tx, user_id).await?;
    }
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "user.update",
        &format!("user:{user_id}"),
        json!({ "active": active }),
    )
    .await?;
    tx.commit().await
}

/// The principal a user acts as.
pub async fn principal_of(env: &Env, user: &User) -> Result<Principal> {
    Ok(Principal::User(UserPrincipal {
        id: user.id,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        roles: db::roles_of(&env.db, user.id).await?,
        org_units: db::org_units_of(&env.db, user.id).await?,
    }))
}

/// Whether an account may delete itself: residents may; an account holding any other role is
/// part of the administration and is removed by an admin (its actions stay attributable).
pub fn may_delete_itself(roles: &[Role]) -> bool {
    roles.iter().all(|r| *r == Role::Resident)
}

/// Deletes the signed-in resident's own account after they confirmed it: with their password,
/// or, for accounts without one (OIDC), with the confirmation box. Case files and appointments
/// stay (they are records of the administration, kept for their retention period) but lose the
/// link to the account; drafts, sessions and roles are deleted (see `store::privacy`). The audit
/// entry names only the account's id.
pub async fn delete_own(env: &Env, actor: &Actor, password: &str, confirmed: bool) -> Result<()> {
    let me = actor
        .principal
        .user()
        .ok_or_else(|| Error::Unauthorized("Bitte melden Sie sich an.".into()))?;
    let user = db::user_by_id(&env.db, me.id)
        .await?
        .ok_or_else(|| Error::not_found("Benutzer nicht gefunden."))?;
    let roles = db::roles_of(&env.db, me.id).await?;
    if !may_delete_itself(&roles) {
        return Err(Error::Conflict(
            "Konten mit Dienstrollen kann nur die Administration löschen.".into(),
        ));
    }
    if !confirmed {
        return Err(Error::invalid(
            "confirm",
            "Bitte bestätigen Sie, dass Sie Ihr Konto löschen möchten.",
        ));
    }
    if user.password_hash.is_some()
        && !verify_password(password, user.password_hash.as_deref()).await
    {
        return Err(Error::invalid(
            "password",
            "Das Passwort ist nicht richtig.",
        ));
    }
    let mut tx = env.db.begin().await?;
    store::privacy::delete_account(&mut tx, me.id, &user.username).await?;
    audit::record_tx(
        env,
        &mut tx,
        &Actor::new(Principal::Anonymous, actor.address.clone()),
        "account.deleted_by_owner",
        &format!("user:{}", me.id),
        json!({}),
    )
    .await?;
    tx.commit().await
}
