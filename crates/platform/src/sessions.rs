//! Password login with throttling, server-side sessions, logout.
//!
//! Sessions live in the database (so any replica serves any request); the cookie carries a
//! random secret of which only the SHA-256 digest is stored. Failed logins are counted per
//! account and per client address over a sliding window; past the limit, even a correct password
//! is refused until the window has passed.

use crate::{Actor, Env, accounts, audit};
use chrono::Duration;
use kern::{Error, Principal, Result, secret};
use serde_json::json;
use store::accounts::{self as db, Session};

/// A successful login: the cookie value (shown to the browser only) and who signed in.
#[derive(Debug, Clone)]
pub struct LoginOk {
    pub session_token: String,
    pub principal: Principal,
}

/// How a refused attempt is audited and answered: the audit action and object, the name of the
/// count of failures for the key in the audit details, and the start of the message.
struct Refusal<'a> {
    action: &'a str,
    object: &'a str,
    failures_of_key: &'a str,
    message: &'a str,
}

/// Counts an attempt for `key` from the actor's address and answers its id, or refuses with 429
/// past the limits (more than `max_failures_per_account` failures for the key or
/// `max_failures_per_address` from the address within the window). The attempt counts as
/// failed until [`db::login_attempt_succeeded`] says otherwise; it is recorded before the
/// limits are checked, so that parallel guesses cannot all pass the check before any of them
/// is recorded, and the limits therefore compare with `>` (this attempt is among the ones
/// counted). A refused attempt is forgotten again, so that waiting out the window is enough.
async fn count_attempt(env: &Env, actor: &Actor, key: &str, refusal: Refusal<'_>) -> Result<i64> {
    let now = env.now();
    let sec = &env.config.security;
    let window_start = now - Duration::minutes(sec.throttle_window_minutes);
    let attempt = db::begin_login_attempt(&env.db, key, &actor.address, now).await?;
    let (by_key, by_addr) = db::recent_failures(&env.db, key, &actor.address, window_start).await?;
    if by_key > sec.max_failures_per_account || by_addr > sec.max_failures_per_address {
        db::forget_login_attempt(&env.db, attempt).await?;
        let mut details = serde_json::Map::new();
        details.insert(refusal.failures_of_key.into(), json!(by_key - 1));
        details.insert("failures_address".into(), json!(by_addr - 1));
        audit::record(env, actor, refusal.action, refusal.object, details.into()).await?;
        return Err(Error::TooManyRequests {
            message: format!(
                "{} Bitte warten Sie {} Minuten.",
                refusal.message, sec.throttle_window_minutes
            ),
            retry_after_secs: (sec.throttle_window_minutes * 60) as u64,
        });
    }
    Ok(attempt)
}

/// Checks user name and password and opens a session.
pub async fn login(
    env: &Env,
    username: &str,
    password: &str,
    address: &str,
    user_agent: &str,
) -> Result<LoginOk> {
    let username = username.trim();
    let attempt = count_attempt(
        env,
        &Actor::new(Principal::Anonymous, address),
        username,
        Refusal {
            action: "session.throttled",
            object: &format!("username:{username}"),
            failures_of_key: "failures_account",
            message: "Zu viele fehlgeschlagene Anmeldeversuche.",
        },
    )
    .await?;
    let user = db::user_by_username(&env.db, username).await?;
    let ok = accounts::verify_password(
        password,
        user.as_ref().and_then(|u| u.password_hash.as_deref()),
    )
    .await;
    let user = match user {
        Some(u) if ok && u.active => u,
        _ => {
            audit::record(
                env,
                &Actor::new(Principal::Anonymous, address),
                "session.login_failed",
                &format!("username:{username}"),
                json!({}),
            )
            .await?;
            return Err(Error::Unauthorized(
                "Benutzername oder Passwort ist falsch.".into(),
            ));
        }
    };
    db::login_attempt_succeeded(&env.db, attempt).await?;
    open(env, &user, address, user_agent, "password").await
}

/// Opens a session for a user who has been authenticated (by password or by OIDC).
pub async fn open(
    env: &Env,
    user: &db::User,
    address: &str,
    user_agent: &str,
    method: &str,
) -> Result<LoginOk> {
    let now = env.now();
    let token = secret::new_secret(env.rng.as_ref());
    let principal = accounts::principal_of(env, user).await?;
    let mut tx = env.db.begin().await?;
    db::create_session(
        &mut tx,
        &Session {
            id_hash: secret::digest(&token),
            user_id: user.id,
            created_at: now,
            last_seen_at: now,
            expires_at: now + Duration::hours(env.config.security.session_idle_hours),
            address: address.to_string(),
            user_agent: user_agent.chars().take(200).collect(),
        },
    )
    .await?;
    audit::record_tx(
        env,
        &mut tx,
        &Actor::new(principal.clone(), address),
        "session.login",
        &format!("user:{}", user.id),
        json!({ "method": method }),
    )
    .await?;
    tx.commit().await?;
    Ok(LoginOk {
        session_token: token,
        principal,
    })
}

/// The principal behind a session cookie, or `None` if the session is unknown, expired or the
/// account inactive. Slides the expiry forward (at most once a minute).
pub async fn resolve(env: &Env, session_token: &str) -> Result<Option<Principal>> {
    let now = env.now();
    let hash = secret::digest(session_token);
    let Some(s) = db::session(&env.db, &hash, now).await? else {
        return Ok(None);
    };
    let Some(user) = db::user_by_id(&env.db, s.user_id).await? else {
        return Ok(None);
    };
    if !user.active {
        return Ok(None);
    }
    if now - s.last_seen_at > Duration::minutes(1) {
        db::touch_session(
            &env.db,
            &hash,
            now,
            now + Duration::hours(env.config.security.session_idle_hours),
        )
        .await?;
    }
    Ok(Some(accounts::principal_of(env, &user).await?))
}

/// Ends a session.
pub async fn logout(env: &Env, session_token: &str, actor: &Actor) -> Result<()> {
    db::delete_session(&env.db, &secret::digest(session_token)).await?;
    if !actor.principal.is_anonymous() {
        let object = actor
            .user_id()
            .map(|i| format!("user:{i}"))
            .unwrap_or_default();
        audit::record(env, actor, "session.logout", &object, json!({})).await?;
    }
    Ok(())
}

/// Housekeeping: drops expired sessions and login attempts older than a day.
pub async fn purge(env: &Env) -> Result<(u64, u64)> {
    let now = env.now();
    let s = db::purge_expired_sessions(&env.db, now).await?;
    let a = db::purge_login_attempts(&env.db, now - Duration::hours(24)).await?;
    Ok((s, a))
}

/// A check of a reference and its access code (a case, an appointment) in flight. Such codes
/// are throttled like passwords: failed checks count per reference and per client address over
/// the same window, so that nobody can try codes for one reference, or references from one
/// address, without limit.
#[derive(Debug)]
#[must_use = "a code check counts as failed unless it is marked as passed"]
pub struct CodeCheck {
    attempt: i64,
}

/// Counts a code check for `subject` (a kind and a reference, such as `case:A-1234ABCD`) from
/// the actor's address before the code is compared, and refuses with 429 past the limits.
pub async fn begin_code_check(env: &Env, actor: &Actor, subject: &str) -> Result<CodeCheck> {
    let attempt = count_attempt(
        env,
        actor,
        &format!("code:{subject}"),
        Refusal {
            action: "session.code_throttled",
            object: subject,
            failures_of_key: "failures_subject",
            message: "Zu viele falsche Zugangscodes.",
        },
    )
    .await?;
    Ok(CodeCheck { attempt })
}

/// Marks a code check as passed, so that it does not count against the limits.
pub async fn code_check_passed(env: &Env, check: CodeCheck) -> Result<()> {
    db::login_attempt_succeeded(&env.db, check.attempt).await
}
