//! The layers around every route: request ids, client address, security headers, CSRF,
//! rate limiting of public writes, error pages, metrics, compression, limits, timeouts.

use crate::ctx::{ClientAddr, CsrfSeed, RequestId, Tls};
use crate::error::{ErrorMarker, problem_json};
use crate::{AppState, csrf};
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, SameSite};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter as Gov};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

/// The Content-Security-Policy: no inline script or style, nothing from other origins.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
font-src 'self'; connect-src 'self' ws: wss:; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; \
form-action 'self'; frame-ancestors 'none'";

/// The CSP of this instance. With OIDC login, `form-action` also names the provider's origin:
/// the login button posts to `/auth/oidc/start`, which redirects there, and browsers check
/// redirects after a form submission against `form-action`.
pub fn csp(config: &kern::Config) -> std::borrow::Cow<'static, str> {
    let origin = config
        .oidc
        .as_ref()
        .and_then(|o| url::Url::parse(&o.issuer).ok())
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null");
    match origin {
        Some(o) => CSP
            .replace("form-action 'self'", &format!("form-action 'self' {o}"))
            .into(),
        None => CSP.into(),
    }
}

/// Per-address limits on public write endpoints (anonymous POSTs), kept in memory per replica.
pub struct RateLimiter {
    inner: DefaultKeyedRateLimiter<String>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        let per_minute = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        RateLimiter {
            inner: Gov::keyed(Quota::per_minute(per_minute)),
        }
    }
    /// Whether the address may send one more request now.
    pub fn check(&self, key: &str) -> bool {
        self.inner.check_key(&key.to_string()).is_ok()
    }
}

/// Applies every layer to the routes.
pub fn wrap(routes: Router<AppState>, state: AppState) -> Router {
    let timeout = Duration::from_secs(state.env.config.http.request_timeout_secs.max(1));
    // Multipart uploads may be larger; the CSRF check below holds every other body to
    // `body_limit_bytes`.
    let body_limit = state.env.config.http.upload_limit();
    routes
        .fallback(not_found)
        // A panicking handler becomes an internal error like any other: logged with the
        // request id, answered with the error page (headers, request id, nothing leaked).
        .layer(CatchPanicLayer::custom(handler_panicked))
        .layer(from_fn_with_state(state.clone(), csrf_and_rate_limit))
        .layer(from_fn_with_state(state.clone(), metrics_layer))
        .layer(from_fn_with_state(state.clone(), body_limit_by_kind))
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(CompressionLayer::new())
        .layer(from_fn_with_state(state.clone(), render_errors))
        .layer(from_fn_with_state(state.clone(), request_basics))
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Ein interner Fehler ist aufgetreten.",
                )
                    .into_response()
            },
        ))
        .with_state(state)
}

fn handler_panicked(panic: Box<dyn std::any::Any + Send>) -> Response {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    crate::WebError(kern::Error::Internal(format!("handler panicked: {what}"))).into_response()
}

async fn not_found() -> crate::WebError {
    crate::WebError(kern::Error::not_found("Die Seite wurde nicht gefunden."))
}

fn new_request_id(state: &AppState) -> String {
    hex::encode(state.env.rng.bytes(8))
}

/// An X-Forwarded-For entry as an IP address (proxies may add a port).
fn forwarded_ip(entry: &str) -> Option<String> {
    entry
        .parse::<std::net::IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_string())
}

/// Whether the request carries an `Authorization: Bearer ...` header. Other schemes (Basic,
/// which browsers attach on their own) do not make a request a machine client's.
fn has_bearer(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_start().split_once(' '))
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
}

fn peer_is_trusted(state: &AppState, peer: &str) -> bool {
    state
        .env
        .config
        .http
        .trusted_proxies
        .iter()
        .any(|p| p == peer)
}

/// Request id, client address, TLS flag, CSRF seed cookie, security headers, access log.
async fn request_basics(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map(str::to_string)
        .unwrap_or_else(|| new_request_id(&state));
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "127.0.0.1".into());
    let trusted = peer_is_trusted(&state, &peer);
    let address = if trusted {
        req.headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.split(',')
                    .map(str::trim)
                    .rfind(|a| !a.is_empty() && !peer_is_trusted(&state, a))
            })
            // Only an address counts: anything else in the header is not from a proxy that
            // appends the peer it saw, and words such as "system" must never become an actor's
            // address.
            .and_then(forwarded_ip)
            .unwrap_or(peer.clone())
    } else {
        peer.clone()
    };
    let forwarded_tls = trusted
        && req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let tls = state.env.config.tls() || forwarded_tls;
    let jar = axum_extra::extract::CookieJar::from_headers(req.headers());
    let (seed, new_seed) = match jar
        .get(csrf::COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() >= 20)
    {
        Some(s) => (s, false),
        None => (kern::secret::new_secret(state.env.rng.as_ref()), true),
    };
    req.extensions_mut().insert(RequestId(request_id.clone()));
    req.extensions_mut().insert(ClientAddr(address.clone()));
    req.extensions_mut().insert(Tls(tls));
    req.extensions_mut().insert(CsrfSeed(seed.clone()));
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let had_flash = jar.get(crate::pages::FLASH_COOKIE).is_some();

    let mut resp = next.run(req).await;

    let redirect = resp.status().is_redirection();
    let h = resp.headers_mut();
    set(h, "x-request-id", &request_id);
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "strict-origin-when-cross-origin");
    set(h, "x-frame-options", "DENY");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(
        h,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(self)",
    );
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        set(h, "content-security-policy", &csp(&state.env.config));
    }
    if tls {
        set(
            h,
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        );
    }
    if had_flash && !redirect {
        let gone = Cookie::build((crate::pages::FLASH_COOKIE, ""))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .max_age(cookie::time::Duration::ZERO)
            .build();
        if let Ok(v) = HeaderValue::from_str(&gone.to_string()) {
            h.append(header::SET_COOKIE, v);
        }
    }
    if new_seed {
        let cookie = Cookie::build((csrf::COOKIE, seed))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(tls)
            .build();
        if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
            h.append(header::SET_COOKIE, v);
        }
    }
    tracing::info!(
        request_id = %request_id, method = %method, path = %path, status = resp.status().as_u16(),
        address = %address, elapsed_ms = started.elapsed().as_secs_f64() * 1000.0, "request"
    );
    resp
}

fn set(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// CSRF check for browser writes, and a per-address budget for anonymous writes.
/// Bodies other than multipart uploads are held to `body_limit_bytes`: a declared length above it
/// is answered at once (bodies without a length are checked by whatever reads them).
async fn body_limit_by_kind(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"));
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if !multipart && declared.is_some_and(|n| n > state.env.config.http.body_limit_bytes) {
        return (StatusCode::PAYLOAD_TOO_LARGE, "length limit exceeded").into_response();
    }
    next.run(req).await
}

async fn csrf_and_rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !unsafe_method {
        return next.run(req).await;
    }
    let has_bearer = has_bearer(req.headers());
    let session_cookie = axum_extra::extract::CookieJar::from_headers(req.headers())
        .get(crate::ctx::SESSION_COOKIE)
        .map(|c| c.value().to_string());
    // Only a live session lifts the budget of anonymous writes: any client can send a cookie.
    let has_session = match (&session_cookie, has_bearer) {
        (Some(token), false) => matches!(
            platform::sessions::resolve(&state.env, token).await,
            Ok(Some(_))
        ),
        _ => false,
    };
    let address = req
        .extensions()
        .get::<ClientAddr>()
        .map(|a| a.0.clone())
        .unwrap_or_default();
    if !has_bearer && !has_session && !state.limiter.check(&address) {
        return crate::WebError(kern::Error::TooManyRequests {
            message: "Zu viele Anfragen von Ihrer Adresse. Bitte warten Sie eine Minute.".into(),
            retry_after_secs: 60,
        })
        .into_response();
    }
    if has_bearer || csrf::exempt(req.uri().path()) {
        return next.run(req).await;
    }
    let seed = req
        .extensions()
        .get::<CsrfSeed>()
        .map(|s| s.0.clone())
        .unwrap_or_default();
    // A fresh seed (no cookie came with the request) can never match a token.
    let cookie_seed = axum_extra::extract::CookieJar::from_headers(req.headers())
        .get(csrf::COOKIE)
        .map(|c| c.value().to_string());
    let header_token = req
        .headers()
        .get(csrf::HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (parts, body) = req.into_parts();
    let limit = if content_type.starts_with("multipart/form-data") {
        state.env.config.http.upload_limit()
    } else {
        state.env.config.http.body_limit_bytes
    };
    let bytes = match to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return crate::WebError(kern::Error::TooLarge(format!(
                "Die Anfrage ist zu groß (höchstens {} KiB).",
                limit / 1024
            )))
            .into_response();
        }
    };
    let token = header_token.or_else(|| {
        if content_type.starts_with("application/x-www-form-urlencoded") {
            csrf::from_urlencoded(&bytes)
        } else if let Some(b) = content_type
            .split("boundary=")
            .nth(1)
            .filter(|_| content_type.starts_with("multipart/form-data"))
        {
            csrf::from_multipart(&bytes, b.trim_matches('"'))
        } else {
            None
        }
    });
    let ok = cookie_seed.as_deref() == Some(seed.as_str())
        && token.is_some_and(|t| csrf::valid(&state.secret, &seed, &t));
    if !ok {
        return csrf_failure(&state, &parts);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn csrf_failure(state: &AppState, parts: &axum::http::request::Parts) -> Response {
    let request_id = parts
        .extensions
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let lang = crate::ctx::lang_of(
        parts,
        &axum_extra::extract::CookieJar::from_headers(&parts.headers),
    );
    let msg = state.i18n.t(lang, "error-csrf");
    if wants_json(&parts.headers, parts.uri.path()) {
        return problem_json(&kern::Error::forbidden(msg), &request_id);
    }
    let html = crate::templates::error_page(state, lang, StatusCode::FORBIDDEN, &msg, &request_id);
    (StatusCode::FORBIDDEN, html).into_response()
}

/// Whether the client prefers JSON (API paths, or an Accept header asking for JSON).
pub fn wants_json(headers: &HeaderMap, path: &str) -> bool {
    if path.starts_with("/api/") {
        return true;
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accept.contains("application/json") && !accept.contains("text/html")
}

/// Turns [`ErrorMarker`] responses into an HTML page or a problem-details document.
async fn render_errors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let json = wants_json(req.headers(), req.uri().path());
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let (parts, body) = req.into_parts();
    let lang = crate::ctx::lang_of(
        &parts,
        &axum_extra::extract::CookieJar::from_headers(&parts.headers),
    );
    let resp = next.run(Request::from_parts(parts, body)).await;
    let Some(ErrorMarker(err)) = resp.extensions().get::<ErrorMarker>().cloned() else {
        // The body limit layer and axum's extractors answer 413 in plain text.
        if resp.status() == StatusCode::PAYLOAD_TOO_LARGE
            && resp
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_none_or(|ct| ct.starts_with("text/plain"))
        {
            let e = kern::Error::TooLarge(format!(
                "Die Anfrage ist zu groß (höchstens {} KiB).",
                state.env.config.http.body_limit_bytes / 1024
            ));
            return if json {
                problem_json(&e, &request_id)
            } else {
                html_error(&state, lang, &e, &request_id)
            };
        }
        return resp;
    };
    let mut out = if json {
        problem_json(&err, &request_id)
    } else {
        html_error(&state, lang, &err, &request_id)
    };
    // Keep cookies a handler set (for example a cleared session) on the error response.
    for v in resp.headers().get_all(header::SET_COOKIE) {
        out.headers_mut().append(header::SET_COOKIE, v.clone());
    }
    if let Some(loc) = resp.headers().get(header::LOCATION) {
        out.headers_mut().insert(header::LOCATION, loc.clone());
    }
    out
}

fn html_error(
    state: &AppState,
    lang: kern::i18n::Lang,
    e: &kern::Error,
    request_id: &str,
) -> Response {
    let status = crate::error::status_of(e);
    let msg = match e {
        kern::Error::Internal(_) => state.i18n.t_args(
            lang,
            "error-internal",
            &[("request_id", request_id.to_string())],
        ),
        kern::Error::NotFound(_) => state.i18n.t(lang, "error-not-found"),
        other => crate::error::public_message(other),
    };
    let mut r = (
        status,
        crate::templates::error_page(state, lang, status, &msg, request_id),
    )
        .into_response();
    if let kern::Error::TooManyRequests {
        retry_after_secs, ..
    } = e
        && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Counts requests and latencies per matched route.
async fn metrics_layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    state
        .metrics
        .observe(&method, &route, resp.status().as_u16(), started.elapsed());
    resp
}
