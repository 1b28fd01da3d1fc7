//! The admin area: users, roles and org units, API tokens, the audit log and the accessibility
//! reports.
//!
//! Only admins get in: an anonymous visitor is sent to the login page (and back afterwards), a
//! signed-in person without the admin role gets 403. The platform functions check the role
//! again, so the rule holds even if a route forgot the gate. Every change is a POST form with
//! the CSRF field (checked by the middleware) and is audited by the platform layer.

use super::parse_id;
use super::redirect_with_flash;
use crate::ctx::Ctx;
use crate::error::WebResult;
use crate::{AppState, WebError};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use kern::error::Problem;
use kern::i18n::Lang;
use kern::{Error, Role};
use minijinja::{Value, context};
use platform::accounts::{Account, NewAccount};
use platform::audit::{Filter, Verdict};
use platform::city::OrgUnit;
use serde::Deserialize;

/// Entries per page of the audit log.
const AUDIT_PAGE: u64 = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(index))
        .route("/admin/users", get(users).post(user_create))
        .route("/admin/users/new", get(user_new))
        .route("/admin/users/{id}", get(user_detail))
        .route("/admin/users/{id}/profile", post(user_profile))
        .route("/admin/users/{id}/roles", post(user_roles))
        .route("/admin/users/{id}/password", post(user_password))
        .route("/admin/tokens", get(tokens).post(token_create))
        .route("/admin/tokens/{id}/revoke", post(token_revoke))
        .route("/admin/audit", get(audit))
        .route("/admin/audit/verify", get(audit_verify))
        .route("/admin/feedback", get(feedback))
        .route("/admin/feedback/{id}/done", post(feedback_done))
}

// ---- the gate ----

/// The request context of an admin. Extracting it sends anonymous visitors to the login page
/// and refuses everyone else who is not an admin.
pub struct Admin(pub Ctx);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if ctx.principal.is_anonymous() {
            // After login the browser comes back with GET: for a form target that would be the
            // wrong page, so those return to the admin start page.
            let back = if parts.method == Method::GET {
                ctx.path.as_str()
            } else {
                "/admin"
            };
            let next: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
            return Err(Redirect::to(&format!("/login?next={next}")).into_response());
        }
        if !ctx.principal.is_admin() {
            let msg = state.i18n.t(ctx.lang, "admin-forbidden");
            return Err(WebError(Error::forbidden(msg)).into_response());
        }
        Ok(Admin(ctx))
    }
}

// ---- form helpers (shared with the legal pages) ----

/// The fields of a URL-encoded form, keeping repeated names (checkbox groups).
#[derive(Debug, Default)]
pub struct FormFields(Vec<(String, String)>);

impl FormFields {
    pub fn parse(body: &[u8]) -> FormFields {
        FormFields(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of a field, or "" when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Every value of a field, in form order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

/// Turns a validation error (or a conflict, attached to `conflict_field`) into the problems an
/// error summary lists; any other error passes on to the error page.
///
/// The platform words its messages in German, the first language: German pages show them as
/// they are. Other languages show the translation that `keys` names for the field (or for the
/// conflict), so an English page never mixes languages.
pub fn problems_of(
    state: &AppState,
    lang: Lang,
    error: Error,
    keys: &[(&str, &str)],
    conflict: Option<(&str, &str)>,
) -> WebResult<Vec<Problem>> {
    let translate = |field: Option<String>, message: String, key: Option<&str>| Problem {
        message: match key {
            Some(k) if lang != Lang::De => state.i18n.t(lang, k),
            _ => message,
        },
        field,
    };
    match error {
        Error::Invalid(inv) => Ok(inv
            .problems
            .into_iter()
            .map(|p| {
                let key = keys
                    .iter()
                    .find(|(f, _)| p.field.as_deref() == Some(*f))
                    .map(|(_, k)| *k);
                translate(p.field, p.message, key)
            })
            .collect()),
        Error::Conflict(message) if conflict.is_some() => {
            let (field, key) = conflict.unwrap_or_default();
            Ok(vec![translate(Some(field.to_string()), message, Some(key))])
        }
        other => Err(WebError(other)),
    }
}

fn problem(state: &AppState, lang: Lang, field: &str, key: &str) -> Problem {
    Problem {
        field: Some(field.to_string()),
        message: state.i18n.t(lang, key),
    }
}

fn parse_roles(
    state: &AppState,
    lang: Lang,
    f: &FormFields,
    errors: &mut Vec<Problem>,
) -> Vec<Role> {
    let mut roles = Vec::new();
    for v in f.all("roles") {
        match v.parse::<Role>() {
            Ok(r) if !roles.contains(&r) => roles.push(r),
            Ok(_) => {}
            Err(_) => errors.push(problem(state, lang, "roles", "admin-error-roles-unknown")),
        }
    }
    roles
}

fn parse_units(
    state: &AppState,
    lang: Lang,
    f: &FormFields,
    errors: &mut Vec<Problem>,
) -> Vec<i64> {
    let mut units = Vec::new();
    for v in f.all("org_units") {
        match v.parse::<i64>() {
            Ok(u) if !units.contains(&u) => units.push(u),
            Ok(_) => {}
            Err(_) => errors.push(problem(state, lang, "org_units", "admin-error-org-units")),
        }
    }
    units
}

const USER_KEYS: &[(&str, &str)] = &[
    ("username", "admin-error-username"),
    ("display_name", "admin-error-display-name"),
    ("email", "admin-error-email"),
    ("password", "admin-error-password"),
    ("roles", "admin-error-roles"),
    ("org_units", "admin-error-org-units"),
    ("active", "admin-error-active"),
];
const USERNAME_TAKEN: (&str, &str) = ("username", "admin-error-username-taken");

fn role_options(state: &AppState, lang: Lang, selected: &[Role]) -> Vec<Value> {
    Role::ALL
        .iter()
        .map(|r| {
            context! {
                value => r.as_str(),
                label => state.i18n.t(lang, r.label_key()),
                checked => selected.contains(r),
            }
        })
        .collect()
}

fn unit_options(units: &[OrgUnit], selected: &[i64]) -> Vec<Value> {
    units
        .iter()
        .map(|u| context! { value => u.id, label => u.name, checked => selected.contains(&u.id) })
        .collect()
}

fn unit_names(units: &[OrgUnit], ids: &[i64]) -> String {
    ids.iter()
        .map(|id| {
            units
                .iter()
                .find(|u| u.id == *id)
                .map(|u| u.name.clone())
                .unwrap_or_else(|| id.to_string())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn bad_request(html: Html<String>) -> Response {
    (StatusCode::BAD_REQUEST, html).into_response()
}

// ---- start page ----

async fn index(State(state): State<AppState>, Admin(ctx): Admin) -> WebResult<Html<String>> {
    let who = &ctx.principal;
    let users = platform::accounts::list(&state.env, who).await?;
    let tokens = platform::tokens::list(&state.env, who).await?;
    let reports = platform::feedback::list(&state.env, who).await?;
    state.page(
        &ctx,
        "admin/index.html",
        context! {
            section => "index",
            user_count => users.len(),
            active_user_count => users.iter().filter(|a| a.user.active).count(),
            token_count => tokens.iter().filter(|t| t.revoked_at.is_none()).count(),
            open_feedback_count => reports.iter().filter(|f| f.status == "open").count(),
        },
    )
}

// ---- users ----

async fn users(State(state): State<AppState>, Admin(ctx): Admin) -> WebResult<Html<String>> {
    let accounts = platform::accounts::list(&state.env, &ctx.principal).await?;
    let units = platform::city::org_units(&state.env).await?;
    let rows: Vec<Value> = accounts
        .iter()
        .map(|a| {
            context! {
                id => a.user.id,
                username => a.user.username,
                display_name => a.user.display_name,
                email => a.user.email,
                roles => state.role_labels(ctx.lang, &a.roles),
                org_units => unit_names(&units, &a.org_units),
                active => a.user.active,
                created_at => a.user.created_at,
            }
        })
        .collect();
    state.page(
        &ctx,
        "admin/users.html",
        context! { section => "users", accounts => rows },
    )
}

async fn new_user_page(
    state: &AppState,
    ctx: &Ctx,
    form: Value,
    roles: &[Role],
    org_units: &[i64],
    errors: Vec<Problem>,
) -> WebResult<Html<String>> {
    let units = platform::city::org_units(&state.env).await?;
    state.page(
        ctx,
        "admin/user_new.html",
        context! {
            section => "users",
            form => form,
            role_options => role_options(state, ctx.lang, roles),
            unit_options => unit_options(&units, org_units),
            errors => errors,
        },
    )
}

async fn user_new(State(state): State<AppState>, Admin(ctx): Admin) -> WebResult<Html<String>> {
    let form = context! { username => "", display_name => "", email => "" };
    new_user_page(&state, &ctx, form, &[Role::Resident], &[], Vec::new()).await
}

async fn user_create(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let mut errors = Vec::new();
    let roles = parse_roles(&state, ctx.lang, &f, &mut errors);
    let org_units = parse_units(&state, ctx.lang, &f, &mut errors);
    let password = f.get("password");
    let new = NewAccount {
        username: f.get("username").trim().to_string(),
        display_name: f.get("display_name").to_string(),
        email: f.get("email").trim().to_string(),
        // An empty password makes an account that signs in only through OIDC.
        password: (!password.is_empty()).then(|| password.to_string()),
        roles: roles.clone(),
        org_units: org_units.clone(),
    };
    if errors.is_empty() {
        match platform::accounts::create(&state.env, &ctx.actor(), new.clone()).await {
            Ok(account) => {
                let to = format!("/admin/users/{}", account.user.id);
                return Ok(redirect_with_flash(&ctx, &to, "admin-flash-user-created"));
            }
            Err(e) => errors = problems_of(&state, ctx.lang, e, USER_KEYS, Some(USERNAME_TAKEN))?,
        }
    }
    let form = context! {
        username => new.username,
        display_name => new.display_name,
        email => new.email,
    };
    let html = new_user_page(&state, &ctx, form, &roles, &org_units, errors).await?;
    Ok(bad_request(html))
}

/// What the detail page shows besides the account: which form the errors belong to and the
/// values that form was submitted with.
#[derive(Default)]
struct Submitted {
    form: &'static str,
    values: Option<Value>,
    roles: Option<Vec<Role>>,
    org_units: Option<Vec<i64>>,
    errors: Vec<Problem>,
}

async fn user_page(
    state: &AppState,
    ctx: &Ctx,
    account: &Account,
    submitted: Submitted,
) -> WebResult<Html<String>> {
    let units = platform::city::org_units(&state.env).await?;
    let roles = submitted.roles.as_deref().unwrap_or(&account.roles);
    let org_units = submitted.org_units.as_deref().unwrap_or(&account.org_units);
    let profile = match (submitted.form, submitted.values) {
        ("profile", Some(v)) => v,
        _ => context! {
            display_name => account.user.display_name,
            email => account.user.email,
            active => account.user.active,
        },
    };
    state.page(
        ctx,
        "admin/user.html",
        context! {
            section => "users",
            account => context! {
                id => account.user.id,
                username => account.user.username,
                display_name => account.user.display_name,
                email => account.user.email,
                active => account.user.active,
                has_password => account.user.password_hash.is_some(),
                oidc => account.user.oidc_subject.is_some(),
                created_at => account.user.created_at,
                updated_at => account.user.updated_at,
                roles => state.role_labels(ctx.lang, &account.roles),
                org_units => unit_names(&units, &account.org_units),
            },
            profile => profile,
            role_options => role_options(state, ctx.lang, roles),
            unit_options => unit_options(&units, org_units),
            form => submitted.form,
            errors => submitted.errors,
        },
    )
}

async fn load_account(state: &AppState, ctx: &Ctx, raw_id: &str) -> WebResult<Account> {
    let id = parse_id(raw_id)?;
    Ok(platform::accounts::get(&state.env, &ctx.principal, id, false).await?)
}

async fn user_detail(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
) -> WebResult<Html<String>> {
    let account = load_account(&state, &ctx, &id).await?;
    user_page(&state, &ctx, &account, Submitted::default()).await
}

async fn user_profile(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
    body: Bytes,
) -> WebResult<Response> {
    let account = load_account(&state, &ctx, &id).await?;
    let f = FormFields::parse(&body);
    let display_name = f.get("display_name");
    let email = f.get("email").trim();
    let active = f.has("active");
    let result = platform::accounts::update(
        &state.env,
        &ctx.actor(),
        account.user.id,
        display_name,
        email,
        active,
    )
    .await;
    match result {
        Ok(()) => Ok(redirect_with_flash(
            &ctx,
            &format!("/admin/users/{}", account.user.id),
            "admin-flash-user-updated",
        )),
        Err(e) => {
            let submitted = Submitted {
                form: "profile",
                values: Some(context! { display_name, email, active }),
                errors: problems_of(&state, ctx.lang, e, USER_KEYS, None)?,
                ..Submitted::default()
            };
            Ok(bad_request(
                user_page(&state, &ctx, &account, submitted).await?,
            ))
        }
    }
}

async fn user_roles(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
    body: Bytes,
) -> WebResult<Response> {
    let account = load_account(&state, &ctx, &id).await?;
    let f = FormFields::parse(&body);
    let mut errors = Vec::new();
    let roles = parse_roles(&state, ctx.lang, &f, &mut errors);
    let org_units = parse_units(&state, ctx.lang, &f, &mut errors);
    if errors.is_empty() {
        let result = platform::accounts::set_roles(
            &state.env,
            &ctx.actor(),
            account.user.id,
            &roles,
            &org_units,
        )
        .await;
        match result {
            Ok(()) => {
                return Ok(redirect_with_flash(
                    &ctx,
                    &format!("/admin/users/{}", account.user.id),
                    "admin-flash-roles-saved",
                ));
            }
            Err(e) => errors = problems_of(&state, ctx.lang, e, USER_KEYS, None)?,
        }
    }
    let submitted = Submitted {
        form: "roles",
        roles: Some(roles),
        org_units: Some(org_units),
        errors,
        ..Submitted::default()
    };
    Ok(bad_request(
        user_page(&state, &ctx, &account, submitted).await?,
    ))
}

async fn user_password(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
    body: Bytes,
) -> WebResult<Response> {
    let account = load_account(&state, &ctx, &id).await?;
    let f = FormFields::parse(&body);
    let result = platform::accounts::set_password(
        &state.env,
        &ctx.actor(),
        account.user.id,
        f.get("password"),
    )
    .await;
    match result {
        Ok(()) => Ok(redirect_with_flash(
            &ctx,
            &format!("/admin/users/{}", account.user.id),
            "admin-flash-password-set",
        )),
        Err(e) => {
            let submitted = Submitted {
                form: "password",
                errors: problems_of(&state, ctx.lang, e, USER_KEYS, None)?,
                ..Submitted::default()
            };
            Ok(bad_request(
                user_page(&state, &ctx, &account, submitted).await?,
            ))
        }
    }
}

// ---- API tokens ----

const TOKEN_KEYS: &[(&str, &str)] = &[
    ("name", "admin-error-token-name"),
    ("scopes", "admin-error-token-scopes"),
];

async fn tokens_page(
    state: &AppState,
    ctx: &Ctx,
    form: Value,
    errors: Vec<Problem>,
) -> WebResult<Html<String>> {
    let list = platform::tokens::list(&state.env, &ctx.principal).await?;
    let accounts = platform::accounts::list(&state.env, &ctx.principal).await?;
    let rows: Vec<Value> = list
        .iter()
        .rev()
        .map(|t| {
            let creator = t.created_by.and_then(|id| {
                accounts
                    .iter()
                    .find(|a| a.user.id == id)
                    .map(|a| a.user.username.clone())
            });
            context! {
                id => t.id,
                name => t.name,
                scopes => t.scope_list().iter().map(ToString::to_string).collect::<Vec<_>>(),
                created_at => t.created_at,
                created_by => creator,
                last_used_at => t.last_used_at,
                revoked_at => t.revoked_at,
            }
        })
        .collect();
    state.page(
        ctx,
        "admin/tokens.html",
        context! { section => "tokens", tokens => rows, form => form, errors => errors },
    )
}

async fn tokens(State(state): State<AppState>, Admin(ctx): Admin) -> WebResult<Html<String>> {
    let form = context! { name => "", scopes => "" };
    tokens_page(&state, &ctx, form, Vec::new()).await
}

async fn token_create(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let (name, scopes) = (f.get("name"), f.get("scopes"));
    match platform::tokens::create_from_names(&state.env, &ctx.actor(), name, &[scopes]).await {
        Ok(created) => {
            let scope_list = platform::tokens::parse_scopes(&[scopes])?
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>();
            let html = state.page(
                &ctx,
                "admin/token_created.html",
                context! {
                    section => "tokens",
                    name => name.trim(),
                    scopes => scope_list,
                    id => created.id,
                    token => created.token,
                },
            )?;
            // Shown once: no cache may keep the page.
            Ok((
                [
                    (header::CACHE_CONTROL, "no-store"),
                    (header::PRAGMA, "no-cache"),
                ],
                html,
            )
                .into_response())
        }
        Err(e) => {
            let errors = problems_of(&state, ctx.lang, e, TOKEN_KEYS, None)?;
            let form = context! { name, scopes };
            Ok(bad_request(tokens_page(&state, &ctx, form, errors).await?))
        }
    }
}

async fn token_revoke(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let id = parse_id(&id)?;
    platform::tokens::revoke(&state.env, &ctx.actor(), id).await?;
    Ok(redirect_with_flash(
        &ctx,
        "/admin/tokens",
        "admin-flash-token-revoked",
    ))
}

// ---- audit log ----

#[derive(Deserialize, Default)]
struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    before: Option<String>,
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

async fn audit_page(
    state: &AppState,
    ctx: &Ctx,
    q: &AuditQuery,
    verdict: Option<Value>,
) -> WebResult<Html<String>> {
    let mut errors = Vec::new();
    let before = match nonempty(&q.before) {
        None => None,
        Some(b) => match b.parse::<i64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                errors.push(problem(
                    state,
                    ctx.lang,
                    "before",
                    "admin-audit-before-invalid",
                ));
                None
            }
        },
    };
    let filter = Filter {
        actor: nonempty(&q.actor),
        action_prefix: nonempty(&q.action),
        object: None,
        before_seq: before,
        limit: AUDIT_PAGE,
    };
    let entries = platform::audit::list(&state.env, &ctx.principal, &filter).await?;
    let older = (entries.len() as u64 == AUDIT_PAGE)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    // Query strings of the paging links (the template puts them after `/admin/audit?`).
    let paging = |before: Option<i64>| -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if let Some(a) = &filter.actor {
            s.append_pair("actor", a);
        }
        if let Some(a) = &filter.action_prefix {
            s.append_pair("action", a);
        }
        if let Some(b) = before {
            s.append_pair("before", &b.to_string());
        }
        s.finish()
    };
    state.page(
        ctx,
        "admin/audit.html",
        context! {
            section => "audit",
            entries => entries,
            actor => filter.actor.clone().unwrap_or_default(),
            action => filter.action_prefix.clone().unwrap_or_default(),
            paged => before.is_some(),
            older_query => older.map(|seq| paging(Some(seq))),
            newest_query => paging(None),
            verdict => verdict,
            errors => errors,
        },
    )
}

async fn audit(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Query(q): Query<AuditQuery>,
) -> WebResult<Html<String>> {
    audit_page(&state, &ctx, &q, None).await
}

async fn audit_verify(State(state): State<AppState>, Admin(ctx): Admin) -> WebResult<Html<String>> {
    let verdict = match platform::audit::verify_as(&state.env, &ctx.principal).await? {
        Verdict::Intact { entries } => context! { intact => true, count => entries },
        Verdict::Broken { seq, reason } => {
            let entry = platform::audit::entry(&state.env, &ctx.principal, seq).await?;
            context! { intact => false, seq => seq, reason => reason, entry => entry }
        }
    };
    audit_page(&state, &ctx, &AuditQuery::default(), Some(verdict)).await
}

// ---- accessibility reports ----

async fn feedback(State(state): State<AppState>, Admin(ctx): Admin) -> WebResult<Html<String>> {
    let reports = platform::feedback::list(&state.env, &ctx.principal).await?;
    let open = reports.iter().filter(|f| f.status == "open").count();
    state.page(
        &ctx,
        "admin/feedback.html",
        context! { section => "feedback", reports => reports, open_count => open },
    )
}

async fn feedback_done(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let id = parse_id(&id)?;
    platform::feedback::mark_done(&state.env, &ctx.actor(), id).await?;
    Ok(redirect_with_flash(
        &ctx,
        "/admin/feedback",
        "admin-flash-feedback-done",
    ))
}
