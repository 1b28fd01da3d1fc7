//! Accounts, roles, sessions, API tokens, login attempts and pending OIDC logins.
//! Plain persistence: the rules (password policy, throttling limits) live in `kern` and the
//! services that combine them.

use crate::q::{Expr, ExprTrait, Order, Query, id};
use crate::{Db, Tx};
use chrono::{DateTime, Utc};
use kern::{Error, Result, Role};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: String,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub oidc_subject: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub password_hash: Option<String>,
    pub oidc_subject: Option<String>,
}

pub async fn create_user(tx: &mut Tx, u: &NewUser, now: DateTime<Utc>) -> Result<i64> {
    #[derive(sqlx::FromRow)]
    struct Id {
        id: i64,
    }
    let q = Query::insert()
        .into_table(id("users"))
        .columns(
            [
                "username",
                "display_name",
                "email",
                "password_hash",
                "oidc_subject",
                "active",
                "created_at",
                "updated_at",
            ]
            .map(id),
        )
        .values_panic([
            u.username.clone().into(),
            u.display_name.clone().into(),
            u.email.clone().into(),
            u.password_hash.clone().into(),
            u.oidc_subject.clone().into(),
            true.into(),
            now.into(),
            now.into(),
        ])
        .returning_col(id("id"))
        .take();
    let r: Id = tx.fetch_one(&q).await.map_err(|e| match e {
        Error::Conflict(_) => Error::Conflict(format!(
            "Der Benutzername '{}' ist bereits vergeben.",
            u.username
        )),
        other => other,
    })?;
    Ok(r.id)
}

fn user_select() -> sea_query::SelectStatement {
    Query::select()
        .column(sea_query::Asterisk)
        .from(id("users"))
        .take()
}

pub async fn user_by_id(db: &Db, user_id: i64) -> Result<Option<User>> {
    db.fetch_optional(
        &user_select()
            .and_where(Expr::col(id("id")).eq(user_id))
            .take(),
    )
    .await
}

pub async fn user_by_username(db: &Db, username: &str) -> Result<Option<User>> {
    db.fetch_optional(
        &user_select()
            .and_where(Expr::col(id("username")).eq(username))
            .take(),
    )
    .await
}

pub async fn user_by_oidc_subject(db: &Db, subject: &str) -> Result<Option<User>> {
    db.fetch_optional(
        &user_select()
            .and_where(Expr::col(id("oidc_subject")).eq(subject))
            .take(),
    )
    .await
}

pub async fn list_users(db: &Db) -> Result<Vec<User>> {
    db.fetch_all(&user_select().order_by(id("username"), Order::Asc).take())
        .await
}

pub async fn set_password_hash(
    tx: &mut Tx,
    user_id: i64,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let n = tx
        .execute(
            &Query::update()
                .table(id("users"))
                .values([
                    (id("password_hash"), hash.into()),
                    (id("updated_at"), now.into()),
                ])
                .and_where(Expr::col(id("id")).eq(user_id))
                .take(),
        )
        .await?;
    if n == 0 {
        Err(Error::not_found("Benutzer nicht gefunden."))
    } else {
        Ok(())
    }
}

pub async fn update_profile(
    tx: &mut Tx,
    user_id: i64,
    display_name: &str,
    email: &str,
    active: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    let n = tx
        .execute(
            &Query::update()
                .table(id("users"))
                .values([
                    (id("display_name"), display_name.into()),
                    (id("email"), email.into()),
                    (id("active"), active.into()),
                    (id("updated_at"), now.into()),
                ])
                .and_where(Expr::col(id("id")).eq(user_id))
                .take(),
        )
        .await?;
    if n == 0 {
        Err(Error::not_found("Benutzer nicht gefunden."))
    } else {
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct RoleRow {
    role: String,
}

pub async fn roles_of(db: &Db, user_id: i64) -> Result<Vec<Role>> {
    let rows: Vec<RoleRow> = db
        .fetch_all(
            &Query::select()
                .column(id("role"))
                .from(id("user_roles"))
                .and_where(Expr::col(id("user_id")).eq(user_id))
                .take(),
        )
        .await?;
    let mut roles: Vec<Role> = rows
        .into_iter()
        .filter_map(|r| r.role.parse().ok())
        .collect();
    roles.sort();
    Ok(roles)
}

/// Replaces the roles of a user.
pub async fn set_roles(tx: &mut Tx, user_id: i64, roles: &[Role]) -> Result<()> {
    tx.execute(
        &Query::delete()
            .from_table(id("user_roles"))
            .and_where(Expr::col(id("user_id")).eq(user_id))
            .take(),
    )
    .await?;
    for r in roles {
        tx.execute(
            &Query::insert()
                .into_table(id("user_roles"))
                .columns([id("user_id"), id("role")])
                .values_panic([user_id.into(), r.as_str().into()])
                .take(),
        )
        .await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct OrgRow {
    org_unit_id: i64,
}

pub async fn org_units_of(db: &Db, user_id: i64) -> Result<Vec<i64>> {
    let rows: Vec<OrgRow> = db
        .fetch_all(
            &Query::select()
                .column(id("org_unit_id"))
                .from(id("user_org_units"))
                .and_where(Expr::col(id("user_id")).eq(user_id))
                .order_by(id("org_unit_id"), Order::Asc)
                .take(),
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.org_unit_id).collect())
}

pub async fn set_org_units(tx: &mut Tx, user_id: i64, units: &[i64]) -> Result<()> {
    tx.execute(
        &Query::delete()
            .from_table(id("user_org_units"))
            .and_where(Expr::col(id("user_id")).eq(user_id))
            .take(),
    )
    .await?;
    for u in units {
        tx.execute(
            &Query::insert()
                .into_table(id("user_org_units"))
                .columns([id("user_id"), id("org_unit_id")])
                .values_panic([user_id.into(), (*u).into()])
                .take(),
        )
        .await?;
    }
    Ok(())
}

// ---- sessions ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    pub id_hash: String,
    pub user_id: i64,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub address: String,
    pub user_agent: String,
}

pub async fn create_session(tx: &mut Tx, s: &Session) -> Result<()> {
    tx.execute(
        &Query::insert()
            .into_table(id("sessions"))
            .columns(
                [
                    "id_hash",
                    "user_id",
                    "created_at",
                    "last_seen_at",
                    "expires_at",
                    "address",
                    "user_agent",
                ]
                .map(id),
            )
            .values_panic([
                s.id_hash.clone().into(),
                s.user_id.into(),
                s.created_at.into(),
                s.last_seen_at.into(),
                s.expires_at.into(),
                s.address.clone().into(),
                s.user_agent.clone().into(),
            ])
            .take(),
    )
    .await
    .map(|_| ())
}

/// A live (unexpired) session by the digest of its cookie value.
pub async fn session(db: &Db, id_hash: &str, now: DateTime<Utc>) -> Result<Option<Session>> {
    db.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("sessions"))
            .and_where(Expr::col(id("id_hash")).eq(id_hash))
            .and_where(Expr::col(id("expires_at")).gt(now))
            .take(),
    )
    .await
}

/// Slides a session's expiry forward.
pub async fn touch_session(
    db: &Db,
    id_hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    db.execute(
        &Query::update()
            .table(id("sessions"))
            .values([
                (id("last_seen_at"), now.into()),
                (id("expires_at"), expires_at.into()),
            ])
            .and_where(Expr::col(id("id_hash")).eq(id_hash))
            .take(),
    )
    .await
    .map(|_| ())
}

pub async fn delete_session(db: &Db, id_hash: &str) -> Result<()> {
    db.execute(
        &Query::delete()
            .from_table(id("sessions"))
            .and_where(Expr::col(id("id_hash")).eq(id_hash))
            .take(),
    )
    .await
    .map(|_| ())
}

/// The sessions of a user, newest first (for the data export of the account).
pub async fn sessions_of(db: &Db, user_id: i64) -> Result<Vec<Session>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("sessions"))
            .and_where(Expr::col(id("user_id")).eq(user_id))
            .order_by(id("created_at"), Order::Desc)
            .take(),
    )
    .await
}

/// Ends every session of a user (password change, deactivation).
pub async fn delete_sessions_of(tx: &mut Tx, user_id: i64) -> Result<u64> {
    tx.execute(
        &Query::delete()
            .from_table(id("sessions"))
            .and_where(Expr::col(id("user_id")).eq(user_id))
            .take(),
    )
    .await
}

pub async fn purge_expired_sessions(db: &Db, now: DateTime<Utc>) -> Result<u64> {
    db.execute(
        &Query::delete()
            .from_table(id("sessions"))
            .and_where(Expr::col(id("expires_at")).lte(now))
            .take(),
    )
    .await
}

// ---- API tokens ----

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    #[serde(skip)]
    pub token_hash: String,
    pub scopes: String,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    pub fn scope_list(&self) -> Vec<kern::Scope> {
        self.scopes
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect()
    }
}

pub async fn create_token(
    tx: &mut Tx,
    name: &str,
    token_hash: &str,
    scopes: &[kern::Scope],
    created_by: Option<i64>,
    now: DateTime<Utc>,
) -> Result<i64> {
    #[derive(sqlx::FromRow)]
    struct Id {
        id: i64,
    }
    let scopes = scopes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    let r: Id = tx
        .fetch_one(
            &Query::insert()
                .into_table(id("api_tokens"))
                .columns(["name", "token_hash", "scopes", "created_by", "created_at"].map(id))
                .values_panic([
                    name.into(),
                    token_hash.into(),
                    scopes.into(),
                    created_by.into(),
                    now.into(),
                ])
                .returning_col(id("id"))
                .take(),
        )
        .await?;
    Ok(r.id)
}

pub async fn token_by_hash(db: &Db, token_hash: &str) -> Result<Option<ApiToken>> {
    db.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("api_tokens"))
            .and_where(Expr::col(id("token_hash")).eq(token_hash))
            .take(),
    )
    .await
}

pub async fn token_by_id(db: &Db, token_id: i64) -> Result<Option<ApiToken>> {
    db.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("api_tokens"))
            .and_where(Expr::col(id("id")).eq(token_id))
            .take(),
    )
    .await
}

pub async fn list_tokens(db: &Db) -> Result<Vec<ApiToken>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("api_tokens"))
            .order_by(id("id"), Order::Asc)
            .take(),
    )
    .await
}

/// Marks a token used, at most once a minute per token to keep reads cheap.
pub async fn touch_token(db: &Db, token_id: i64, now: DateTime<Utc>) -> Result<()> {
    db.execute(
        &Query::update()
            .table(id("api_tokens"))
            .value(id("last_used_at"), now)
            .and_where(Expr::col(id("id")).eq(token_id))
            .and_where(
                Expr::col(id("last_used_at"))
                    .is_null()
                    .or(Expr::col(id("last_used_at")).lt(now - chrono::Duration::seconds(60))),
            )
            .take(),
    )
    .await
    .map(|_| ())
}

pub async fn revoke_token(tx: &mut Tx, token_id: i64, now: DateTime<Utc>) -> Result<bool> {
    let n = tx
        .execute(
            &Query::update()
                .table(id("api_tokens"))
                .value(id("revoked_at"), now)
                .and_where(Expr::col(id("id")).eq(token_id))
                .and_where(Expr::col(id("revoked_at")).is_null())
                .take(),
        )
        .await?;
    Ok(n > 0)
}

// ---- login attempts (throttling) ----

pub async fn record_login_attempt(
    db: &Db,
    username: &str,
    address: &str,
    success: bool,
    at: DateTime<Utc>,
) -> Result<()> {
    db.execute(
        &Query::insert()
            .into_table(id("login_attempts"))
            .columns([id("at"), id("username"), id("address"), id("success")])
            .values_panic([at.into(), username.into(), address.into(), success.into()])
            .take(),
    )
    .await
    .map(|_| ())
}

/// Records an attempt that counts as failed until [`login_attempt_succeeded`] says otherwise,
/// and returns its id. Recording before the password is checked is what makes the throttle hold
/// against parallel guesses: every attempt in flight is already counted.
pub async fn begin_login_attempt(
    db: &Db,
    username: &str,
    address: &str,
    at: DateTime<Utc>,
) -> Result<i64> {
    #[derive(sqlx::FromRow)]
    struct Id {
        id: i64,
    }
    let r: Id = db
        .write_returning(
            &Query::insert()
                .into_table(id("login_attempts"))
                .columns([id("at"), id("username"), id("address"), id("success")])
                .values_panic([at.into(), username.into(), address.into(), false.into()])
                .returning_col(id("id"))
                .take(),
        )
        .await?;
    Ok(r.id)
}

/// Marks an attempt begun with [`begin_login_attempt`] as successful.
pub async fn login_attempt_succeeded(db: &Db, attempt_id: i64) -> Result<()> {
    db.execute(
        &Query::update()
            .table(id("login_attempts"))
            .value(id("success"), true)
            .and_where(Expr::col(id("id")).eq(attempt_id))
            .take(),
    )
    .await
    .map(|_| ())
}

/// Forgets an attempt that was refused before its password was checked (throttled), so that
/// waiting out the window is enough.
pub async fn forget_login_attempt(db: &Db, attempt_id: i64) -> Result<()> {
    db.execute(
        &Query::delete()
            .from_table(id("login_attempts"))
            .and_where(Expr::col(id("id")).eq(attempt_id))
            .take(),
    )
    .await
    .map(|_| ())
}

#[derive(sqlx::FromRow)]
struct Count {
    n: i64,
}

/// Failed attempts for the account and from the address since `since`.
pub async fn recent_failures(
    db: &Db,
    username: &str,
    address: &str,
    since: DateTime<Utc>,
) -> Result<(i64, i64)> {
    let count = |col: &'static str, v: &str| {
        Query::select()
            .expr_as(Expr::col(sea_query::Asterisk).count(), id("n"))
            .from(id("login_attempts"))
            .and_where(Expr::col(id(col)).eq(v))
            .and_where(Expr::col(id("success")).eq(false))
            .and_where(Expr::col(id("at")).gt(since))
            .take()
    };
    let by_user: Count = db.fetch_one(&count("username", username)).await?;
    let by_addr: Count = db.fetch_one(&count("address", address)).await?;
    Ok((by_user.n, by_addr.n))
}

/// Forgets attempts older than `before` (personal data only as long as needed).
pub async fn purge_login_attempts(db: &Db, before: DateTime<Utc>) -> Result<u64> {
    db.execute(
        &Query::delete()
            .from_table(id("login_attempts"))
            .and_where(Expr::col(id("at")).lt(before))
            .take(),
    )
    .await
}

// ---- pending OIDC logins (state stored server-side, so any replica can finish the login) ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OidcLogin {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: String,
    pub created_at: DateTime<Utc>,
}

pub async fn save_oidc_login(db: &Db, l: &OidcLogin) -> Result<()> {
    db.execute(
        &Query::insert()
            .into_table(id("oidc_logins"))
            .columns(["state", "nonce", "pkce_verifier", "return_to", "created_at"].map(id))
            .values_panic([
                l.state.clone().into(),
                l.nonce.clone().into(),
                l.pkce_verifier.clone().into(),
                l.return_to.clone().into(),
                l.created_at.into(),
            ])
            .take(),
    )
    .await
    .map(|_| ())
}

/// Takes (reads and deletes) a pending login; each state can be used once.
pub async fn take_oidc_login(db: &Db, state: &str) -> Result<Option<OidcLogin>> {
    let mut tx = db.begin().await?;
    let l: Option<OidcLogin> = tx
        .fetch_optional(
            &Query::select()
                .column(sea_query::Asterisk)
                .from(id("oidc_logins"))
                .and_where(Expr::col(id("state")).eq(state))
                .take(),
        )
        .await?;
    if l.is_some() {
        let n = tx
            .execute(
                &Query::delete()
                    .from_table(id("oidc_logins"))
                    .and_where(Expr::col(id("state")).eq(state))
                    .take(),
            )
            .await?;
        // A concurrent taker that deleted the row first wins; this one gets nothing (on
        // PostgreSQL both can read the row, but only one delete affects it).
        if n == 0 {
            tx.commit().await?;
            return Ok(None);
        }
    }
    tx.commit().await?;
    Ok(l)
}

// ---- OIDC login housekeeping ----

/// Forgets pending OIDC logins started before `before` (abandoned at the provider).
pub async fn purge_oidc_logins(db: &Db, before: DateTime<Utc>) -> Result<u64> {
    db.execute(
        &Query::delete()
            .from_table(id("oidc_logins"))
            .and_where(Expr::col(id("created_at")).lt(before))
            .take(),
    )
    .await
}

/// How many OIDC logins are pending (for tests and the admin overview).
pub async fn count_oidc_logins(db: &Db) -> Result<i64> {
    let c: Count = db
        .fetch_one(
            &Query::select()
                .expr_as(Expr::col(sea_query::Asterisk).count(), id("n"))
                .from(id("oidc_logins"))
                .take(),
        )
        .await?;
    Ok(c.n)
}
