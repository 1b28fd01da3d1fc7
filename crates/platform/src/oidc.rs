//! Login through an OpenID Connect provider (authorization code flow with PKCE).
//!
//! # Configuring Keycloak
//!
//! ```toml
//! public_url = "https://stadt.example.de"           # redirect URI: {public_url}/auth/oidc/callback
//!
//! [oidc]
//! issuer = "https://login.stadt.example.de/realms/stadt"   # the realm URL, no trailing slash
//! client_id = "stadtkern"
//! client_secret = "..."                             # confidential client
//! label = "Mit Servicekonto anmelden"
//! scopes = ["profile", "email"]                     # `openid` is always requested
//! role_claim = "realm_access.roles"                 # dotted path into the claims
//! role_map = { "stadt-admin" = "admin", "stadt-mitarbeitende" = "staff" }
//! ```
//!
//! In the realm, create an OpenID Connect client `stadtkern` with *Client authentication* on
//! (confidential), only the *Standard flow*, the valid redirect URI above and, under *Advanced*,
//! the PKCE method `S256`. Keycloak writes realm roles to `realm_access.roles`, by default only
//! into the access token: in *Client scopes → roles → Mappers → realm roles* switch on *Add to ID
//! token* (or *Add to userinfo*; Stadtkern asks the userinfo endpoint when the ID token lacks
//! the claim). Claim values without an entry in `role_map` are ignored; a person with no mapped
//! value becomes a `resident`. The identity provider is the source of truth: roles are replaced
//! on every login (org units stay as an admin set them in Stadtkern). The login button posts to
//! our server, which answers with a redirect to the provider; browsers check that redirect
//! against the page's CSP `form-action`, which therefore names the issuer's origin: the
//! authorization endpoint must live there (as it does in Keycloak).
//!
//! # BundID through Keycloak
//!
//! Stadtkern does not speak SAML. Add BundID in the same realm as a *SAML v2.0 identity
//! provider* (import BundID's metadata, register Keycloak's SP metadata with BundID), take the
//! persistent pseudonym BundID delivers as the principal so that a person keeps one account,
//! map name and e-mail attributes to the user profile, and give brokered users no staff roles.
//! Residents then choose BundID on Keycloak's login page (or go there directly when BundID is
//! the default provider of the *Identity Provider Redirector* step in the realm's browser
//! flow); Stadtkern sees an ordinary OIDC login whose subject is Keycloak's user id.
//!
//! # Flow
//!
//! [`start`] creates state, nonce and PKCE verifier from the environment's randomness and keeps
//! them in the database (so any replica can finish the login); the state also goes into a
//! browser cookie, which binds the login to the browser that began it. [`finish`] takes the
//! pending login (once, and only within [`PENDING_MINUTES`]), exchanges the code with the PKCE
//! verifier, verifies the ID token (signature against the provider's keys, issuer, audience,
//! nonce, expiry by the environment's clock, access-token hash), maps the role claim and opens
//! a session. Provider metadata and keys are fetched on first use, cached for a day, and fetched
//! again after a failure or when a token is signed with a key we do not know yet.

use crate::{Actor, Env, accounts, audit, sessions};
use chrono::{DateTime, Duration, Utc};
use kern::auth::UserPrincipal;
use kern::config::OidcConfig;
use kern::{Principal, Role, secret};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AuthorizationCode, ClaimsVerificationError, ClientId,
    ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IdTokenFields, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RequestTokenError, Scope, SignatureVerificationError, StandardErrorResponse,
    StandardTokenResponse, TokenResponse as _,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use store::accounts::{self as db, NewUser, OidcLogin, User};

/// Minutes a started login may take at the provider before it is refused.
pub const PENDING_MINUTES: i64 = 10;

/// Hours provider metadata and keys are reused before they are fetched again.
const METADATA_HOURS: i64 = 24;

/// Why an OIDC login did not happen. Each has a translation key for the page and is logged
/// with its detail; the detail never reaches the browser.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("OIDC login is not configured")]
    NotConfigured,
    /// Discovery, key set, token or userinfo endpoint could not be reached or answered nonsense.
    #[error("identity provider unreachable: {0}")]
    Unreachable(String),
    /// The state is missing, unknown, already used, or belongs to another browser.
    #[error("unknown or foreign login state")]
    UnknownState,
    /// The login was started more than [`PENDING_MINUTES`] ago.
    #[error("login started too long ago")]
    Expired,
    /// The provider sent the person back with an error (`access_denied` when they cancelled).
    #[error("provider returned error {0}")]
    Denied(String),
    /// The token endpoint refused the code (reused code, PKCE verifier does not match, ...).
    #[error("provider refused the code: {0}")]
    Rejected(String),
    /// The ID token failed verification (signature, issuer, audience, nonce, expiry).
    #[error("ID token invalid: {0}")]
    InvalidToken(String),
    /// The account exists but an admin has deactivated it.
    #[error("account deactivated")]
    AccountDisabled,
    #[error(transparent)]
    Internal(#[from] kern::Error),
}

impl OidcError {
    /// The translation key of the message shown to the person.
    pub fn message_key(&self) -> &'static str {
        match self {
            OidcError::NotConfigured => "oidc-error-not-configured",
            OidcError::Unreachable(_) => "oidc-error-unreachable",
            OidcError::UnknownState => "oidc-error-state",
            OidcError::Expired => "oidc-error-expired",
            OidcError::Denied(_) => "oidc-error-denied",
            OidcError::Rejected(_) => "oidc-error-rejected",
            OidcError::InvalidToken(_) => "oidc-error-token",
            OidcError::AccountDisabled => "oidc-error-disabled",
            OidcError::Internal(_) => "error-internal",
        }
    }

    /// A short word for the audit trail and logs.
    fn reason(&self) -> &'static str {
        match self {
            OidcError::NotConfigured => "not_configured",
            OidcError::Unreachable(_) => "provider_unreachable",
            OidcError::UnknownState => "unknown_state",
            OidcError::Expired => "expired",
            OidcError::Denied(_) => "provider_error",
            OidcError::Rejected(_) => "code_rejected",
            OidcError::InvalidToken(_) => "token_invalid",
            OidcError::AccountDisabled => "account_disabled",
            OidcError::Internal(_) => "internal",
        }
    }
}

pub type OidcResult<T> = Result<T, OidcError>;

/// Every claim of a token that is not a standard OIDC claim (where the role claim lives).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct OtherClaims(pub BTreeMap<String, Value>);

impl AdditionalClaims for OtherClaims {}

type IdFields = IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type TokenResponse = StandardTokenResponse<IdFields, CoreTokenType>;
type Client = openidconnect::Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Provider metadata with its key set, as last fetched.
struct Discovered {
    metadata: CoreProviderMetadata,
    fetched_at: DateTime<Utc>,
}

/// Per-environment cache of the provider's metadata and the HTTP client that talks to it.
#[derive(Default)]
pub struct Cache {
    discovered: Mutex<Option<Arc<Discovered>>>,
    http: Mutex<Option<reqwest::Client>>,
}

impl Cache {
    fn http(&self) -> OidcResult<reqwest::Client> {
        let mut slot = self.http.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        // No redirects: a provider that redirects its endpoints could otherwise steer our
        // requests anywhere (the openidconnect crate's advice against SSRF).
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .map_err(|e| kern::Error::internal(format!("HTTP client for OIDC: {e}")))?;
        *slot = Some(client.clone());
        Ok(client)
    }

    fn get(&self, now: DateTime<Utc>) -> Option<Arc<Discovered>> {
        self.discovered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .filter(|d| now - d.fetched_at < Duration::hours(METADATA_HOURS))
    }

    fn put(&self, d: Option<Arc<Discovered>>) {
        *self.discovered.lock().unwrap_or_else(|e| e.into_inner()) = d;
    }
}

fn config(env: &Env) -> OidcResult<&OidcConfig> {
    env.config.oidc.as_ref().ok_or(OidcError::NotConfigured)
}

/// The provider metadata and keys: cached, or fetched now (`fresh` forces a fetch).
async fn discover(env: &Env, fresh: bool) -> OidcResult<Arc<Discovered>> {
    let now = env.now();
    if !fresh && let Some(d) = env.oidc.get(now) {
        return Ok(d);
    }
    let cfg = config(env)?;
    let issuer = IssuerUrl::new(cfg.issuer.clone())
        .map_err(|e| OidcError::Unreachable(format!("issuer URL {}: {e}", cfg.issuer)))?;
    let http = env.oidc.http()?;
    match CoreProviderMetadata::discover_async(issuer, &http).await {
        Ok(metadata) => {
            let d = Arc::new(Discovered {
                metadata,
                fetched_at: now,
            });
            env.oidc.put(Some(d.clone()));
            Ok(d)
        }
        Err(e) => {
            env.oidc.put(None);
            Err(OidcError::Unreachable(format!(
                "discovery at {}: {}",
                cfg.issuer,
                error_chain(&e)
            )))
        }
    }
}

/// The error and its sources in one line (the crates' top-level messages are terse).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

/// Where the provider sends the browser back to.
pub fn redirect_uri(env: &Env) -> String {
    format!("{}/auth/oidc/callback", env.config.public_url())
}

fn build_client(env: &Env, cfg: &OidcConfig, d: &Discovered) -> OidcResult<Client> {
    let redirect = RedirectUrl::new(redirect_uri(env))
        .map_err(|e| kern::Error::invalid("public_url", format!("not a URL: {e}")))?;
    Ok(Client::from_provider_metadata(
        d.metadata.clone(),
        ClientId::new(cfg.client_id.clone()),
        cfg.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(redirect))
}

/// A started login: where to send the browser, and the state to bind to it (a cookie).
#[derive(Debug, Clone)]
pub struct Started {
    pub authorization_url: String,
    pub state: String,
}

/// Begins a login: remembers state, nonce and PKCE verifier server-side and returns the
/// provider's authorization URL. `return_to` must already be a same-site path.
pub async fn start(env: &Env, return_to: &str) -> OidcResult<Started> {
    let cfg = config(env)?;
    let now = env.now();
    db::purge_oidc_logins(&env.db, now - Duration::minutes(PENDING_MINUTES)).await?;
    let d = discover(env, false).await?;
    let client = build_client(env, cfg, &d)?;
    let state = secret::new_secret(env.rng.as_ref());
    let nonce = secret::new_secret(env.rng.as_ref());
    let verifier = secret::new_secret(env.rng.as_ref());
    let challenge =
        PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.clone()));
    let (state_for_url, nonce_for_url) = (state.clone(), nonce.clone());
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            move || CsrfToken::new(state_for_url),
            move || Nonce::new(nonce_for_url),
        )
        .set_pkce_challenge(challenge);
    for s in cfg.scopes.iter().filter(|s| s.as_str() != "openid") {
        request = request.add_scope(Scope::new(s.clone()));
    }
    let (url, _, _) = request.url();
    db::save_oidc_login(
        &env.db,
        &OidcLogin {
            state: secret::digest(&state),
            nonce,
            pkce_verifier: verifier,
            return_to: return_to.to_string(),
            created_at: now,
        },
    )
    .await?;
    Ok(Started {
        authorization_url: url.to_string(),
        state,
    })
}

/// What the provider put on the callback URL.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A finished login: the session, and the path the person wanted to reach.
#[derive(Debug, Clone)]
pub struct Finished {
    pub login: sessions::LoginOk,
    pub return_to: String,
}

/// Finishes a login on the callback. `bound_state` is the state the browser kept since
/// [`start`]; a callback whose state differs was not started by this browser (login CSRF).
pub async fn finish(
    env: &Env,
    cb: &Callback,
    bound_state: Option<&str>,
    address: &str,
    user_agent: &str,
) -> OidcResult<Finished> {
    config(env)?;
    let state = cb.state.as_deref().filter(|s| !s.is_empty());
    let bound = match (state, bound_state) {
        (Some(s), Some(b)) => secret::eq(s, b),
        _ => false,
    };
    if !bound {
        // Nothing is written for callbacks that do not belong to a login of this browser.
        tracing::warn!(
            address,
            has_state = state.is_some(),
            has_cookie = bound_state.is_some(),
            provider_error = cb.error.as_deref().unwrap_or(""),
            "OIDC callback with foreign state"
        );
        return Err(match &cb.error {
            Some(err) => OidcError::Denied(err.clone()),
            None => OidcError::UnknownState,
        });
    }
    let state = state.unwrap_or_default();
    let Some(pending) = db::take_oidc_login(&env.db, &secret::digest(state)).await? else {
        tracing::warn!(address, "OIDC callback with unknown or used state");
        return Err(OidcError::UnknownState);
    };
    match complete(env, cb, &pending, address, user_agent).await {
        Ok(login) => Ok(Finished {
            login,
            return_to: pending.return_to,
        }),
        Err(e) => {
            if let OidcError::Internal(_) = e {
                return Err(e);
            }
            tracing::warn!(address, error = %e, "OIDC login refused");
            audit::record(
                env,
                &Actor::new(Principal::Anonymous, address),
                "session.login_failed",
                "oidc",
                json!({
                    "method": "oidc",
                    "reason": e.reason(),
                    "detail": e.to_string().chars().take(300).collect::<String>(),
                }),
            )
            .await?;
            Err(e)
        }
    }
}

/// The claims Stadtkern takes from a verified login.
#[derive(Debug, Clone, PartialEq)]
struct Identity {
    subject: String,
    preferred_username: Option<String>,
    name: Option<String>,
    email: Option<String>,
    roles: Vec<Role>,
}

async fn complete(
    env: &Env,
    cb: &Callback,
    pending: &OidcLogin,
    address: &str,
    user_agent: &str,
) -> OidcResult<sessions::LoginOk> {
    if let Some(err) = &cb.error {
        tracing::info!(error = %err, description = cb.error_description.as_deref().unwrap_or(""),
            "OIDC provider returned an error");
        return Err(OidcError::Denied(err.clone()));
    }
    if env.now() - pending.created_at > Duration::minutes(PENDING_MINUTES) {
        return Err(OidcError::Expired);
    }
    let code = cb
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| OidcError::Rejected("callback without code".into()))?;
    let identity = verify(env, code, pending).await?;
    let user = sync_user(env, &identity, address).await?;
    Ok(sessions::open(env, &user, address, user_agent, "oidc").await?)
}

/// Exchanges the code and verifies the ID token; reads identity and roles.
async fn verify(env: &Env, code: &str, pending: &OidcLogin) -> OidcResult<Identity> {
    let cfg = config(env)?;
    let mut d = discover(env, false).await?;
    let http = env.oidc.http()?;
    let client = build_client(env, cfg, &d)?;
    let response: TokenResponse = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| OidcError::Unreachable(format!("provider has no token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
        .request_async(&http)
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => OidcError::Rejected(format!(
                "{}{}",
                r.error(),
                r.error_description()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            )),
            RequestTokenError::Request(e) => {
                env.oidc.put(None);
                OidcError::Unreachable(format!("token endpoint: {}", error_chain(&e)))
            }
            other => OidcError::Rejected(format!("token response: {}", error_chain(&other))),
        })?;
    let id_token = response
        .id_token()
        .ok_or_else(|| OidcError::InvalidToken("the token response has no ID token".into()))?;
    let nonce = Nonce::new(pending.nonce.clone());
    let clock = env.clock.clone();
    let mut retried = false;
    let claims = loop {
        let client = build_client(env, cfg, &d)?;
        let clock = clock.clone();
        let verifier = client.id_token_verifier().set_time_fn(move || clock.now());
        match id_token.claims(&verifier, &nonce) {
            Ok(c) => {
                if let Some(expected) = c.access_token_hash() {
                    let alg = id_token
                        .signing_alg()
                        .map_err(|e| OidcError::InvalidToken(e.to_string()))?;
                    let key = id_token
                        .signing_key(&verifier)
                        .map_err(|e| OidcError::InvalidToken(e.to_string()))?;
                    let actual = AccessTokenHash::from_token(response.access_token(), alg, key)
                        .map_err(|e| OidcError::InvalidToken(e.to_string()))?;
                    if actual != *expected {
                        return Err(OidcError::InvalidToken(
                            "access token hash does not match".into(),
                        ));
                    }
                }
                break c;
            }
            // Signed with a key we have not seen: the provider may have rotated its keys.
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) if !retried => {
                retried = true;
                d = discover(env, true).await?;
            }
            Err(e) => return Err(OidcError::InvalidToken(error_chain(&e))),
        }
    };
    let subject = claims.subject().as_str().to_string();
    let mut role_values = claim_values(&claims.additional_claims().0, &cfg.role_claim);
    if role_values.is_none() && d.metadata.userinfo_endpoint().is_some() {
        let client = build_client(env, cfg, &d)?;
        let info: openidconnect::UserInfoClaims<OtherClaims, CoreGenderClaim> = client
            .user_info(
                response.access_token().clone(),
                Some(claims.subject().clone()),
            )
            .map_err(|e| OidcError::Unreachable(format!("userinfo: {e}")))?
            .request_async(&http)
            .await
            .map_err(|e| match e {
                openidconnect::UserInfoError::ClaimsVerification(v) => {
                    OidcError::InvalidToken(format!("userinfo: {}", error_chain(&v)))
                }
                other => OidcError::Unreachable(format!("userinfo: {}", error_chain(&other))),
            })?;
        role_values = claim_values(&info.additional_claims().0, &cfg.role_claim);
    }
    Ok(Identity {
        subject,
        preferred_username: claims.preferred_username().map(|u| u.as_str().to_string()),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_string()),
        email: claims.email().map(|e| e.as_str().to_string()),
        roles: map_roles(cfg, role_values.as_deref().unwrap_or_default()),
    })
}

/// The string values at a dotted path (`realm_access.roles`): an array of strings or a single
/// string. `None` when the path does not exist.
fn claim_values(claims: &BTreeMap<String, Value>, path: &str) -> Option<Vec<String>> {
    let mut parts = path.split('.');
    let mut v = claims.get(parts.next()?)?;
    for p in parts {
        v = v.get(p)?;
    }
    match v {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
        ),
        _ => Some(Vec::new()),
    }
}

/// Maps claim values through the configured table; unmapped values are ignored, and someone
/// with no mapped value is a resident.
fn map_roles(cfg: &OidcConfig, values: &[String]) -> Vec<Role> {
    let mut roles: Vec<Role> = values
        .iter()
        .filter_map(|v| cfg.role_map.get(v))
        .filter_map(|r| r.parse().ok())
        .collect();
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        roles.push(Role::Resident);
    }
    roles
}

fn allowed_username_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@')
}

/// A user name from the provider's `preferred_username` in our alphabet, or one derived from
/// the subject when that gives nothing usable.
fn username_base(identity: &Identity) -> String {
    let cleaned: String = identity
        .preferred_username
        .as_deref()
        .unwrap_or("")
        .trim()
        .chars()
        .filter(|c| allowed_username_char(*c))
        .take(56)
        .collect();
    if cleaned.chars().count() >= 3 {
        cleaned
    } else {
        format!("oidc-{}", &secret::digest(&identity.subject)[..10])
    }
}

/// The first of `base`, `base-2`, `base-3`, ... that nobody uses yet.
async fn free_username(env: &Env, base: &str) -> OidcResult<String> {
    for n in 1..=50u32 {
        let candidate = if n == 1 {
            base.to_string()
        } else {
            format!("{base}-{n}")
        };
        if db::user_by_username(&env.db, &candidate).await?.is_none() {
            return Ok(candidate);
        }
    }
    Ok(format!("{base}-{}", hex_suffix(env)))
}

fn hex_suffix(env: &Env) -> String {
    env.rng
        .bytes(4)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn display_name(identity: &Identity, username: &str) -> String {
    identity
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .or(identity.preferred_username.as_deref().map(str::trim))
        .filter(|n| !n.is_empty())
        .unwrap_or(username)
        .chars()
        .take(200)
        .collect()
}

fn email(identity: &Identity) -> String {
    identity
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| accounts::valid_email(e))
        .unwrap_or("")
        .to_string()
}

fn actor_for(
    user_id: i64,
    username: &str,
    display_name: &str,
    roles: &[Role],
    address: &str,
) -> Actor {
    Actor::new(
        Principal::User(UserPrincipal {
            id: user_id,
            username: username.to_string(),
            display_name: display_name.to_string(),
            roles: roles.to_vec(),
            org_units: Vec::new(),
        }),
        address,
    )
}

/// Finds the account of the subject or creates it; brings roles and profile in line with the
/// provider.
async fn sync_user(env: &Env, identity: &Identity, address: &str) -> OidcResult<User> {
    for _ in 0..3 {
        if let Some(user) = db::user_by_oidc_subject(&env.db, &identity.subject).await? {
            if !user.active {
                return Err(OidcError::AccountDisabled);
            }
            return update_user(env, user, identity, address).await;
        }
        match create_user(env, identity, address).await {
            Ok(user) => return Ok(user),
            // Someone took the name, or a parallel first login created the account: look again.
            Err(OidcError::Internal(kern::Error::Conflict(_))) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(
        kern::Error::Conflict("OIDC account could not be created after three attempts".into())
            .into(),
    )
}

async fn create_user(env: &Env, identity: &Identity, address: &str) -> OidcResult<User> {
    let username = free_username(env, &username_base(identity)).await?;
    let display_name = display_name(identity, &username);
    let now = env.now();
    let mut tx = env.db.begin().await?;
    let user_id = db::create_user(
        &mut tx,
        &NewUser {
            username: username.clone(),
            display_name: display_name.clone(),
            email: email(identity),
            password_hash: None,
            oidc_subject: Some(identity.subject.clone()),
        },
        now,
    )
    .await?;
    db::set_roles(&mut tx, user_id, &identity.roles).await?;
    audit::record_tx(
        env,
        &mut tx,
        &actor_for(user_id, &username, &display_name, &identity.roles, address),
        "oidc.user_created",
        &format!("user:{user_id}"),
        json!({ "username": username, "subject": identity.subject, "roles": identity.roles }),
    )
    .await?;
    tx.commit().await?;
    db::user_by_id(&env.db, user_id)
        .await?
        .ok_or_else(|| kern::Error::internal("OIDC user vanished after creation").into())
}

async fn update_user(
    env: &Env,
    user: User,
    identity: &Identity,
    address: &str,
) -> OidcResult<User> {
    let before = db::roles_of(&env.db, user.id).await?;
    let display_name = display_name(identity, &user.username);
    let email = email(identity);
    let roles_changed = before != identity.roles;
    let profile_changed = display_name != user.display_name || email != user.email;
    if !roles_changed && !profile_changed {
        return Ok(user);
    }
    let actor = actor_for(
        user.id,
        &user.username,
        &display_name,
        &identity.roles,
        address,
    );
    let mut tx = env.db.begin().await?;
    if roles_changed {
        db::set_roles(&mut tx, user.id, &identity.roles).await?;
        audit::record_tx(
            env,
            &mut tx,
            &actor,
            "oidc.roles_changed",
            &format!("user:{}", user.id),
            json!({ "from": before, "to": identity.roles }),
        )
        .await?;
    }
    if profile_changed {
        db::update_profile(
            &mut tx,
            user.id,
            &display_name,
            &email,
            user.active,
            env.now(),
        )
        .await?;
        audit::record_tx(
            env,
            &mut tx,
            &actor,
            "oidc.profile_updated",
            &format!("user:{}", user.id),
            json!({
                "display_name": display_name != user.display_name,
                "email": email != user.email,
            }),
        )
        .await?;
    }
    tx.commit().await?;
    db::user_by_id(&env.db, user.id)
        .await?
        .ok_or_else(|| kern::Error::internal("OIDC user vanished during login").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(map: &[(&str, &str)]) -> OidcConfig {
        OidcConfig {
            issuer: "https://kc.example/realms/stadt".into(),
            client_id: "stadtkern".into(),
            client_secret: None,
            label: "x".into(),
            scopes: vec![],
            role_claim: "realm_access.roles".into(),
            role_map: map
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn claim_paths_find_arrays_strings_and_nothing() {
        let claims: BTreeMap<String, Value> = serde_json::from_value(json!({
            "realm_access": { "roles": ["stadt-admin", "offline_access", 7] },
            "group": "/stadt/tiefbau",
        }))
        .unwrap();
        assert_eq!(
            claim_values(&claims, "realm_access.roles"),
            Some(vec![
                "stadt-admin".to_string(),
                "offline_access".to_string()
            ])
        );
        assert_eq!(
            claim_values(&claims, "group"),
            Some(vec!["/stadt/tiefbau".to_string()])
        );
        assert_eq!(claim_values(&claims, "realm_access.groups"), None);
        assert_eq!(claim_values(&claims, "roles"), None);
    }

    #[test]
    fn roles_map_ignore_unknown_values_and_default_to_resident() {
        let c = cfg(&[
            ("stadt-admin", "admin"),
            ("tiefbau", "staff"),
            ("also-admin", "admin"),
        ]);
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            map_roles(&c, &v(&["tiefbau", "stadt-admin", "also-admin", "x"])),
            vec![Role::Admin, Role::Staff]
        );
        assert_eq!(map_roles(&c, &v(&["offline_access"])), vec![Role::Resident]);
        assert_eq!(map_roles(&c, &[]), vec![Role::Resident]);
    }

    #[test]
    fn usernames_keep_our_alphabet_or_fall_back_to_the_subject() {
        let mut id = Identity {
            subject: "f81d4fae-7dec".into(),
            preferred_username: Some("Erika Mustermann!".into()),
            name: None,
            email: None,
            roles: vec![],
        };
        assert_eq!(username_base(&id), "ErikaMustermann");
        id.preferred_username = Some("ü".into());
        assert!(username_base(&id).starts_with("oidc-"));
        assert_eq!(username_base(&id).len(), 15);
        id.preferred_username = Some("a".repeat(100));
        assert_eq!(username_base(&id).len(), 56);
    }

    #[test]
    fn every_error_has_a_message_key_and_a_reason() {
        for e in [
            OidcError::NotConfigured,
            OidcError::Unreachable("x".into()),
            OidcError::UnknownState,
            OidcError::Expired,
            OidcError::Denied("access_denied".into()),
            OidcError::Rejected("invalid_grant".into()),
            OidcError::InvalidToken("nonce".into()),
            OidcError::AccountDisabled,
        ] {
            assert!(e.message_key().starts_with("oidc-error-"), "{e:?}");
            assert!(!e.reason().is_empty());
        }
    }
}
