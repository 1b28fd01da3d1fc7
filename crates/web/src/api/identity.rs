//! Who is calling, accounts and API tokens.

use super::{ApiJson, ProblemDoc, path_id};
use crate::AppState;
use crate::ctx::Ctx;
use crate::error::{WebError, WebResult};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use chrono::{DateTime, Utc};
use kern::{Error, Invalid, Principal, Role};
use platform::accounts::{Account, NewAccount};
use platform::tokens::ApiToken;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me", get(me))
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{id}", get(get_user))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
}

/// The caller: a person (signed in with a session) or a machine (API token).
#[derive(Serialize, ToSchema)]
pub struct Me {
    /// `user` or `token`.
    #[schema(example = "token")]
    pub kind: String,
    pub id: i64,
    /// User name, or the token's name.
    pub name: String,
    pub display_name: Option<String>,
    /// Roles of a person (empty for tokens).
    pub roles: Vec<String>,
    /// Scopes of a token (empty for people).
    pub scopes: Vec<String>,
    /// Org units a person works for (ids).
    pub org_units: Vec<i64>,
}

/// An account.
#[derive(Serialize, ToSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub active: bool,
    #[schema(example = json!(["staff"]))]
    pub roles: Vec<String>,
    pub org_units: Vec<i64>,
    /// Whether the account can sign in with a password.
    pub has_password: bool,
    /// Whether the account is linked to an OIDC login.
    pub oidc: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Account> for User {
    fn from(a: Account) -> User {
        User {
            id: a.user.id,
            username: a.user.username,
            display_name: a.user.display_name,
            email: a.user.email,
            active: a.user.active,
            roles: a.roles.iter().map(|r| r.as_str().to_string()).collect(),
            org_units: a.org_units,
            has_password: a.user.password_hash.is_some(),
            oidc: a.user.oidc_subject.is_some(),
            created_at: a.user.created_at,
            updated_at: a.user.updated_at,
        }
    }
}

/// A new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    #[schema(example = "m.muster")]
    pub username: String,
    #[schema(example = "Maria Muster")]
    pub display_name: String,
    #[serde(default)]
    pub email: String,
    /// Leave out for accounts that sign in only through OIDC. At least 12 characters, not a
    /// common password, not containing the user name.
    #[serde(default)]
    pub password: Option<String>,
    /// Role names: admin, staff, data_steward, moderator, council_reader, resident.
    #[serde(default)]
    #[schema(example = json!(["staff"]))]
    pub roles: Vec<String>,
    /// Ids of the org units a staff member works for.
    #[serde(default)]
    pub org_units: Vec<i64>,
}

/// An API token as listed: never the token itself, which is shown only once.
#[derive(Serialize, ToSchema)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    #[schema(example = json!(["sta:write"]))]
    pub scopes: Vec<String>,
    /// Id of the account that created it (none when created on the command line).
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub active: bool,
}

impl From<ApiToken> for TokenInfo {
    fn from(t: ApiToken) -> TokenInfo {
        TokenInfo {
            id: t.id,
            scopes: t.scope_list().iter().map(ToString::to_string).collect(),
            name: t.name,
            created_by: t.created_by,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            active: t.revoked_at.is_none(),
            revoked_at: t.revoked_at,
        }
    }
}

/// A token to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    #[schema(example = "Parkhaus-Sensoren Nord")]
    pub name: String,
    /// Scope names `module:right`, or `admin` for everything.
    #[schema(example = json!(["sta:write"]))]
    pub scopes: Vec<String>,
}

/// A token just created. `token` is shown only in this answer: store it now.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<String>,
    #[schema(example = "stk_…")]
    pub token: String,
}

#[utoipa::path(
    get, path = "/api/v1/me", tag = "identity",
    summary = "Who am I",
    description = "The principal the request acts as: a person with roles or a token with scopes.",
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "No or an invalid token", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn me(ctx: Ctx) -> WebResult<axum::Json<Me>> {
    let me = match ctx.principal {
        Principal::User(u) => Me {
            kind: "user".into(),
            id: u.id,
            name: u.username,
            display_name: Some(u.display_name),
            roles: u.roles.iter().map(|r| r.as_str().to_string()).collect(),
            scopes: Vec::new(),
            org_units: u.org_units,
        },
        Principal::Token(t) => Me {
            kind: "token".into(),
            id: t.id,
            name: t.name,
            display_name: None,
            roles: Vec::new(),
            scopes: t.scopes.iter().map(ToString::to_string).collect(),
            org_units: Vec::new(),
        },
        Principal::Anonymous => {
            return Err(WebError(Error::Unauthorized(
                "Anmeldung oder API-Token erforderlich.".into(),
            )));
        }
    };
    Ok(axum::Json(me))
}

#[utoipa::path(
    get, path = "/api/v1/users", tag = "identity",
    summary = "List accounts",
    responses(
        (status = 200, description = "All accounts, by user name", body = Vec<User>),
        (status = 401, description = "Not authenticated", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "Scope `admin` missing", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn list_users(
    State(state): State<AppState>,
    ctx: Ctx,
) -> WebResult<axum::Json<Vec<User>>> {
    let accounts = platform::accounts::list(&state.env, &ctx.principal).await?;
    Ok(axum::Json(accounts.into_iter().map(User::from).collect()))
}

#[utoipa::path(
    post, path = "/api/v1/users", tag = "identity",
    summary = "Create an account",
    request_body = NewUser,
    responses(
        (status = 201, description = "Created; `Location` names the new account", body = User),
        (status = 400, description = "Invalid input; `errors` lists the fields", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "Scope `admin` missing", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The user name is taken", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn create_user(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(body): ApiJson<NewUser>,
) -> WebResult<Response> {
    let mut inv = Invalid::new();
    let mut roles = Vec::new();
    for name in &body.roles {
        match name.parse::<Role>() {
            Ok(r) if !roles.contains(&r) => roles.push(r),
            Ok(_) => {}
            Err(e) => inv.push("roles", e),
        }
    }
    inv.into_result()?;
    let account = platform::accounts::create(
        &state.env,
        &ctx.actor(),
        NewAccount {
            username: body.username.trim().to_string(),
            display_name: body.display_name,
            email: body.email.trim().to_string(),
            password: body.password,
            roles,
            org_units: body.org_units,
        },
    )
    .await?;
    let location = format!("/api/v1/users/{}", account.user.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(User::from(account)),
    )
        .into_response())
}

#[utoipa::path(
    get, path = "/api/v1/users/{id}", tag = "identity",
    summary = "One account",
    description = "Admins read every account; a signed-in person reads their own.",
    params(("id" = i64, Path, description = "Account id")),
    responses(
        (status = 200, description = "The account", body = User),
        (status = 401, description = "Not authenticated", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "Neither admin nor the account itself", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn get_user(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> WebResult<axum::Json<User>> {
    let id = path_id(&id, "Benutzer")?;
    let account = platform::accounts::get(&state.env, &ctx.principal, id, false).await?;
    Ok(axum::Json(User::from(account)))
}

#[utoipa::path(
    get, path = "/api/v1/tokens", tag = "identity",
    summary = "List API tokens",
    description = "Every token with its scopes and use; never the token values.",
    responses(
        (status = 200, description = "All tokens, oldest first", body = Vec<TokenInfo>),
        (status = 401, description = "Not authenticated", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "Scope `admin` missing", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn list_tokens(
    State(state): State<AppState>,
    ctx: Ctx,
) -> WebResult<axum::Json<Vec<TokenInfo>>> {
    let tokens = platform::tokens::list(&state.env, &ctx.principal).await?;
    Ok(axum::Json(
        tokens.into_iter().map(TokenInfo::from).collect(),
    ))
}

#[utoipa::path(
    post, path = "/api/v1/tokens", tag = "identity",
    summary = "Create an API token",
    description = "The answer carries the token once; only its digest is stored.",
    request_body = NewToken,
    responses(
        (status = 201, description = "Created", body = CreatedToken),
        (status = 400, description = "Invalid name or scopes", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "Scope `admin` missing", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn create_token(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(body): ApiJson<NewToken>,
) -> WebResult<Response> {
    let created =
        platform::tokens::create_from_names(&state.env, &ctx.actor(), &body.name, &body.scopes)
            .await?;
    let scopes = platform::tokens::parse_scopes(&body.scopes)?
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok((
        StatusCode::CREATED,
        [
            (header::LOCATION, format!("/api/v1/tokens/{}", created.id)),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        axum::Json(CreatedToken {
            id: created.id,
            name: body.name.trim().to_string(),
            scopes,
            token: created.token,
        }),
    )
        .into_response())
}

#[utoipa::path(
    delete, path = "/api/v1/tokens/{id}", tag = "identity",
    summary = "Revoke an API token",
    description = "The token stops authenticating at once. Revoking is final.",
    params(("id" = i64, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not authenticated", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "Scope `admin` missing", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Already revoked", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn revoke_token(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> WebResult<StatusCode> {
    let id = path_id(&id, "Token")?;
    platform::tokens::revoke(&state.env, &ctx.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
