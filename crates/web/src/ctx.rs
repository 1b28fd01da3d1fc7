//! The request context every handler gets: who is asking, in which language, from where.

use crate::AppState;
use crate::error::WebError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use kern::Principal;
use kern::i18n::Lang;

pub const SESSION_COOKIE: &str = "stk_session";
pub const LANG_COOKIE: &str = "stk_lang";

/// Set by the middleware on every request.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The client's address (the peer, or the first untrusted hop behind trusted proxies).
#[derive(Clone, Debug)]
pub struct ClientAddr(pub String);

/// The per-browser random value the CSRF token is derived from (see [`crate::csrf`]).
#[derive(Clone, Debug)]
pub struct CsrfSeed(pub String);

/// Whether the request reached us over TLS (directly or through a trusted proxy).
#[derive(Clone, Copy, Debug)]
pub struct Tls(pub bool);

#[derive(Clone, Debug)]
pub struct Ctx {
    pub principal: Principal,
    pub lang: Lang,
    pub address: String,
    pub request_id: String,
    /// The CSRF token to put into forms rendered for this request.
    pub csrf_token: String,
    /// The session cookie value, if signed in with a session.
    pub session_token: Option<String>,
    /// The path (and query) of this request, for "back to" links and the language switch.
    pub path: String,
    pub tls: bool,
    /// A one-time message left by the previous request (translated).
    pub flash: Option<String>,
}

impl Ctx {
    pub fn actor(&self) -> platform::Actor {
        platform::Actor::new(self.principal.clone(), self.address.clone())
    }
}

/// Picks the language: explicit cookie first, then the browser's Accept-Language.
pub fn lang_of(parts: &Parts, jar: &CookieJar) -> Lang {
    if let Some(l) = jar
        .get(LANG_COOKIE)
        .and_then(|c| Lang::from_code(c.value()))
    {
        return l;
    }
    parts
        .headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Lang::negotiate)
        .unwrap_or(Lang::De)
}

/// The bearer token of the request, if any.
///
/// On machine-API paths (see [`crate::csrf::EXEMPT_PREFIXES`]) a session cookie counts only for
/// safe methods, so those paths need no CSRF token.
pub fn bearer(parts: &Parts) -> Option<String> {
    let v = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(ctx) = parts.extensions.get::<Ctx>() {
            return Ok(ctx.clone());
        }
        let jar = CookieJar::from_headers(&parts.headers);
        let lang = lang_of(parts, &jar);
        let address = parts
            .extensions
            .get::<ClientAddr>()
            .map(|a| a.0.clone())
            .unwrap_or_else(|| "unknown".into());
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let seed = parts
            .extensions
            .get::<CsrfSeed>()
            .map(|s| s.0.clone())
            .unwrap_or_default();
        let tls = parts.extensions.get::<Tls>().map(|t| t.0).unwrap_or(false);
        let mut session_token = None;
        let principal = if let Some(token) = bearer(parts) {
            platform::tokens::authenticate(&state.env, &token).await?
        } else if let Some(c) = jar
            .get(SESSION_COOKIE)
            .filter(|_| parts.method.is_safe() || !crate::csrf::exempt(parts.uri.path()))
        {
            match platform::sessions::resolve(&state.env, c.value()).await? {
                Some(p) => {
                    session_token = Some(c.value().to_string());
                    p
                }
                None => Principal::Anonymous,
            }
        } else {
            Principal::Anonymous
        };
        let ctx = Ctx {
            principal,
            lang,
            address,
            request_id,
            csrf_token: crate::csrf::token_for(&state.secret, &seed),
            session_token,
            path: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into()),
            tls,
            flash: jar
                .get(crate::pages::FLASH_COOKIE)
                .map(|c| c.value().to_string())
                .filter(|k| state.i18n.has(lang, k))
                .map(|k| state.i18n.t(lang, &k)),
        };
        parts.extensions.insert(ctx.clone());
        Ok(ctx)
    }
}
