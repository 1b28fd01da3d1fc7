//! CSRF protection for every state-changing request that a browser can send.
//!
//! Each browser gets a random seed in an HttpOnly, SameSite=Lax cookie. The token put into
//! forms is HMAC(instance secret, seed): a page of another site can neither read the cookie
//! nor compute the token. The middleware checks every POST/PUT/PATCH/DELETE that does not carry
//! a bearer token (machine clients are not exposed to CSRF) and is not under a machine-only
//! API prefix whose routers never read cookies. The token comes in the form field `csrf`
//! (URL-encoded or multipart forms) or in the `X-CSRF-Token` header.

use kern::secret;

pub const COOKIE: &str = "stk_csrf";
pub const FIELD: &str = "csrf";
pub const HEADER: &str = "x-csrf-token";

/// Path prefixes of standard machine APIs: they authenticate by token only, never by cookie.
pub const EXEMPT_PREFIXES: &[&str] = &[
    "/sta/",
    "/open311/",
    "/api/3/",
    "/api/action/",
    "/api/v1/",
    "/mqtt",
    // The payment-provider simulator (demo and tests only) stands in for an outside service.
    "/paysim/",
];

pub fn token_for(secret: &[u8], seed: &str) -> String {
    if seed.is_empty() {
        return String::new();
    }
    secret::hmac_hex(secret, seed.as_bytes())
}

pub fn valid(secret: &[u8], seed: &str, token: &str) -> bool {
    !seed.is_empty() && !token.is_empty() && secret::eq(&token_for(secret, seed), token)
}

pub fn exempt(path: &str) -> bool {
    EXEMPT_PREFIXES.iter().any(|p| path.starts_with(p))
}

/// Finds the `csrf` field in a URL-encoded body.
pub fn from_urlencoded(body: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == FIELD)
        .map(|(_, v)| v.into_owned())
}

/// Finds the `csrf` field in a multipart body (the forms put it first; we scan the parts'
/// headers for `name="csrf"` and take that part's content).
pub fn from_multipart(body: &[u8], boundary: &str) -> Option<String> {
    let delim = format!("--{boundary}");
    let text = String::from_utf8_lossy(body);
    for part in text.split(delim.as_str()) {
        let Some((head, content)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        if head.contains("name=\"csrf\"") {
            return Some(content.trim_end_matches("\r\n").trim().to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_depend_on_seed_and_secret() {
        let t = token_for(b"k", "seed");
        assert!(valid(b"k", "seed", &t));
        assert!(!valid(b"k", "other", &t));
        assert!(!valid(b"k2", "seed", &t));
        assert!(!valid(b"k", "", ""));
    }

    #[test]
    fn finds_the_field_in_bodies() {
        assert_eq!(from_urlencoded(b"a=1&csrf=abc&b=2").as_deref(), Some("abc"));
        let body = "--XY\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n--XY\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\ndata\r\n--XY--\r\n";
        assert_eq!(
            from_multipart(body.as_bytes(), "XY").as_deref(),
            Some("tok")
        );
    }
}
