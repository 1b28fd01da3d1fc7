//! The foundation's HTTP behaviour: security headers, CSRF, login throttling, cookies, proxies,
//! limits, health and metrics, languages, error pages, redirects and restarts.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::Duration;
use kern::{Role, SeededRandom};
use platform::Env;
use std::sync::Arc;
use store::city::OrgUnit;
use web::testing::{Browser, TestApp, TestResponse, extract_csrf};

const PASSWORD: &str = "Grüne Laterne am Phoenixsee 7";

/// Creates an account that passes the password policy.
async fn person(app: &TestApp, name: &str, roles: &[Role], org_units: &[i64]) {
    platform::accounts::create(
        &app.env,
        &platform::Actor::system(),
        platform::accounts::NewAccount {
            username: name.into(),
            display_name: format!("Person {}", name.len()),
            email: String::new(),
            password: Some(PASSWORD.into()),
            roles: roles.to_vec(),
            org_units: org_units.to_vec(),
        },
    )
    .await
    .expect("create account");
}

async fn signed_in<'a>(
    app: &'a TestApp,
    name: &str,
    roles: &[Role],
    org_units: &[i64],
) -> Browser<'a> {
    person(app, name, roles, org_units).await;
    let b = app.browser();
    let r = b.login(name, PASSWORD).await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "login of {name}: {}",
        r.body
    );
    b
}

async fn org_unit(app: &TestApp, key: &str, name: &str) -> i64 {
    let mut tx = app.env.db.begin().await.unwrap();
    let id = store::city::upsert_org_unit(
        &mut tx,
        &OrgUnit {
            id: 0,
            key: key.into(),
            name: name.into(),
            parent_id: None,
            address: "Friedensplatz 1".into(),
            email: String::new(),
            phone: String::new(),
            opening_hours: String::new(),
            accessibility: String::new(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn audit_actions(app: &TestApp) -> Vec<store::audit::Entry> {
    store::audit::list(&app.env.db, &Default::default())
        .await
        .unwrap()
}

/// The value of a cookie set by a response, with its attributes.
fn set_cookie(r: &TestResponse, name: &str) -> Option<String> {
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

/// A hand-made form client, for requests a browser would send with extra headers.
struct Raw {
    cookies: Vec<String>,
    csrf: String,
}

impl Raw {
    /// Loads the login page like a browser and keeps its CSRF cookie and token.
    async fn new(app: &TestApp) -> Raw {
        let r = app.get("/login").await;
        let seed = set_cookie(&r, "stk_csrf").expect("a CSRF cookie");
        Raw {
            cookies: vec![format!("stk_csrf={}", cookie_value(&seed))],
            csrf: extract_csrf(&r.body).expect("a CSRF token in the form"),
        }
    }

    fn with_cookie(mut self, c: &str) -> Raw {
        self.cookies.push(c.to_string());
        self
    }

    fn post(&self, path: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> Request<Body> {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&all)
            .finish();
        let mut b = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, self.cookies.join("; "));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::from(body)).unwrap()
    }
}

fn get_with(path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut b = Request::builder().uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::empty()).unwrap()
}

async fn sessions_of(app: &TestApp, name: &str) -> usize {
    // Counted by ending them all in a transaction that is then rolled back.
    let user = store::accounts::user_by_username(&app.env.db, name)
        .await
        .unwrap()
        .unwrap();
    let mut tx = app.env.db.begin().await.unwrap();
    let n = store::accounts::delete_sessions_of(&mut tx, user.id)
        .await
        .unwrap();
    drop(tx);
    n as usize
}

// ---------------------------------------------------------------- the shell

#[tokio::test]
async fn front_page_renders_in_german_with_security_headers() {
    let app = TestApp::new().await;
    let r = app.get("/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("<html lang=\"de\">"));
    assert!(r.body.contains("Zum Inhalt springen"));
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert!(r.header("x-request-id").is_some());
    assert!(r.header("referrer-policy").is_some());
    // No HSTS over plain HTTP.
    assert!(r.header("strict-transport-security").is_none());
}

// ---------------------------------------------------------------- CSRF

#[tokio::test]
async fn login_without_a_valid_csrf_token_is_refused_and_opens_no_session() {
    let app = TestApp::new().await;
    person(&app, "erika", &[Role::Staff], &[]).await;
    let b = app.browser();
    b.get("/login").await;
    let other = app.browser();
    let foreign_token = other.csrf().await;
    for fields in [
        vec![("username", "erika"), ("password", PASSWORD)],
        vec![
            (
                "csrf",
                "0000000000000000000000000000000000000000000000000000000000000000",
            ),
            ("username", "erika"),
            ("password", PASSWORD),
        ],
        vec![("csrf", ""), ("username", "erika"), ("password", PASSWORD)],
        // A token that is valid, but for another browser.
        vec![
            ("csrf", foreign_token.as_str()),
            ("username", "erika"),
            ("password", PASSWORD),
        ],
    ] {
        let r = b.post_form_raw("/login", &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{fields:?}");
        assert!(r.body.contains("Das Formular ist abgelaufen"), "{}", r.body);
        assert!(set_cookie(&r, "stk_session").is_none());
        assert!(!b.has_cookie("stk_session"));
    }
    // Without any cookie at all (a cross-site form post from a fresh context).
    let r = app
        .send(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "csrf={foreign_token}&username=erika&password=x"
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Nothing happened: no session, no login attempt, no audit entry.
    assert_eq!(sessions_of(&app, "erika").await, 0);
    assert!(
        audit_actions(&app)
            .await
            .iter()
            .all(|e| e.action == "user.create")
    );
    // With the token it works.
    let r = b
        .post_form("/login", &[("username", "erika"), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(b.has_cookie("stk_session"));
    assert_eq!(b.get("/staff").await.status, StatusCode::OK);
}

#[tokio::test]
async fn logout_without_a_valid_csrf_token_is_refused_and_the_session_stays() {
    let app = TestApp::new().await;
    let b = signed_in(&app, "erika", &[Role::Staff], &[]).await;
    assert_eq!(b.get("/staff").await.status, StatusCode::OK);
    let r = b.post_form_raw("/logout", &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = b.post_form_raw("/logout", &[("csrf", "falsch")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        b.get("/staff").await.status,
        StatusCode::OK,
        "still signed in"
    );
    assert_eq!(sessions_of(&app, "erika").await, 1);

    let r = b.post_form("/logout", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location().as_deref(), Some("/"));
    let cleared = set_cookie(&r, "stk_session").unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(b.get("/staff").await.status, StatusCode::SEE_OTHER);
    assert_eq!(sessions_of(&app, "erika").await, 0);
    assert_eq!(
        audit_actions(&app).await[0].action,
        "session.logout",
        "the logout is audited"
    );
}

#[tokio::test]
async fn an_authorization_header_that_is_not_a_bearer_token_does_not_skip_csrf() {
    // Browsers attach Basic credentials on their own (for example behind a password-protected
    // staging proxy), so such a header must not count as a machine client.
    let app = TestApp::new().await;
    person(&app, "erika", &[Role::Staff], &[]).await;
    let b = app.browser();
    let login = b.login("erika", PASSWORD).await;
    let session = cookie_value(&set_cookie(&login, "stk_session").unwrap());
    let r = app
        .send(
            Request::post("/logout")
                .header(header::AUTHORIZATION, "Basic ZXJpa2E6c3RhZ2luZw==")
                .header(header::COOKIE, format!("stk_session={session}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(sessions_of(&app, "erika").await, 1);
}

// ---------------------------------------------------------------- login over HTTP

#[tokio::test]
async fn login_throttling_trips_over_http_with_retry_after() {
    let app = TestApp::with_config(|c| {
        c.security.max_failures_per_account = 3;
        c.security.throttle_window_minutes = 15;
    })
    .await;
    person(&app, "erika", &[Role::Resident], &[]).await;
    let b = app.browser();
    for _ in 0..3 {
        let r = b.login("erika", "Falsches Passwort 123").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("Benutzername oder Passwort ist falsch."));
        // The form keeps the user name and names the problem.
        assert!(r.body.contains("value=\"erika\""), "{}", r.body);
    }
    let r = b.login("erika", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.header("retry-after").as_deref(), Some("900"));
    assert!(r.body.contains("Zu viele fehlgeschlagene Anmeldeversuche"));
    assert!(!b.has_cookie("stk_session"));
    // An unknown user gets the same answer as a wrong password.
    let r = b.login("niemand", PASSWORD).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("Benutzername oder Passwort ist falsch."));

    app.clock
        .advance(Duration::minutes(15) + Duration::seconds(1));
    let r = b.login("erika", PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(b.has_cookie("stk_session"));
}

#[tokio::test]
async fn session_cookies_are_httponly_lax_and_secure_only_behind_tls() {
    let app = TestApp::new().await;
    person(&app, "erika", &[Role::Resident], &[]).await;
    let r = app.browser().login("erika", PASSWORD).await;
    let c = set_cookie(&r, "stk_session").unwrap();
    assert!(c.contains("HttpOnly"), "{c}");
    assert!(c.contains("SameSite=Lax"), "{c}");
    assert!(c.contains("Path=/"), "{c}");
    assert!(!c.contains("Secure"), "{c}");
    assert!(r.header("strict-transport-security").is_none());

    let tls = TestApp::with_config(|c| c.security.behind_tls_proxy = true).await;
    person(&tls, "erika", &[Role::Resident], &[]).await;
    let b = tls.browser();
    let page = b.get("/login").await;
    let seed = set_cookie(&page, "stk_csrf").unwrap();
    assert!(
        seed.contains("Secure") && seed.contains("HttpOnly"),
        "{seed}"
    );
    let r = b
        .post_form("/login", &[("username", "erika"), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let c = set_cookie(&r, "stk_session").unwrap();
    assert!(
        c.contains("Secure") && c.contains("HttpOnly") && c.contains("SameSite=Lax"),
        "{c}"
    );
    let hsts = r.header("strict-transport-security").unwrap();
    assert!(hsts.contains("max-age="), "{hsts}");
    assert!(
        tls.get("/")
            .await
            .header("strict-transport-security")
            .is_some()
    );
}

// ---------------------------------------------------------------- proxies

/// The address the audit trail recorded for a failed login sent with the given headers.
async fn recorded_address(app: &TestApp, headers: &[(&str, &str)]) -> String {
    let raw = Raw::new(app).await;
    // A new name each time, so that the per-account throttle does not answer.
    let name = format!("niemand{}", audit_actions(app).await.len());
    let r = app
        .send(raw.post(
            "/login",
            &[("username", name.as_str()), ("password", "x")],
            headers,
        ))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let entries = audit_actions(app).await;
    assert_eq!(entries[0].action, "session.login_failed");
    entries[0].address.clone()
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    // Requests in these tests come from 127.0.0.1.
    let direct = TestApp::new().await;
    assert_eq!(
        recorded_address(&direct, &[("x-forwarded-for", "203.0.113.9")]).await,
        "127.0.0.1"
    );
    let r = direct
        .send(get_with("/", &[("x-forwarded-proto", "https")]))
        .await;
    assert!(r.header("strict-transport-security").is_none());

    let proxied = TestApp::with_config(|c| {
        c.http.trusted_proxies = vec!["127.0.0.1".into(), "10.0.0.2".into()];
    })
    .await;
    for (xff, expected) in [
        ("203.0.113.9", "203.0.113.9"),
        ("203.0.113.9, 10.0.0.2", "203.0.113.9"),
        // A client's own X-Forwarded-For is never believed: the proxy appends the real peer.
        ("198.51.100.66, 203.0.113.9", "203.0.113.9"),
        // Not an address: the proxy's own address is used.
        ("system", "127.0.0.1"),
        // The entry the proxy appended is garbage: the proxy's own address is used.
        ("203.0.113.9, system", "127.0.0.1"),
        // Proxies that add the port.
        ("203.0.113.9:4711", "203.0.113.9"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("<script>", "127.0.0.1"),
    ] {
        assert_eq!(
            recorded_address(&proxied, &[("x-forwarded-for", xff)]).await,
            expected,
            "X-Forwarded-For: {xff}"
        );
    }
    let r = proxied
        .send(get_with("/", &[("x-forwarded-proto", "https")]))
        .await;
    assert!(r.header("strict-transport-security").is_some());
}

// ---------------------------------------------------------------- limits

#[tokio::test]
async fn oversized_bodies_get_413_with_a_clear_message() {
    let app = TestApp::with_config(|c| c.http.body_limit_bytes = 4096).await;
    let big = "x".repeat(10_000);

    // A form post read by the CSRF check (no Content-Length, as with chunked uploads).
    let b = app.browser();
    let r = b
        .post_form("/login", &[("username", big.as_str()), ("password", "x")])
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        r.header("content-type").unwrap().starts_with("text/html"),
        "{:?}",
        r.headers
    );
    assert!(
        r.body.contains("zu groß") && r.body.contains("4 KiB"),
        "{}",
        r.body
    );

    // With a Content-Length the limit answers before anything reads the body.
    let raw = Raw::new(&app).await;
    let mut req = raw.post("/login", &[("username", big.as_str())], &[]);
    let len = big.len() + 100;
    req.headers_mut()
        .insert(header::CONTENT_LENGTH, len.to_string().parse().unwrap());
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.body.contains("zu groß"), "{}", r.body);
    assert!(r.body.contains("<html"), "{}", r.body);
    assert!(r.header("x-request-id").is_some());

    // API paths answer with problem details: with a Content-Length the limit answers first;
    // without one, whatever reads the body first (here the CSRF check of a path that is not a
    // machine API) notices.
    for (path, with_length) in [("/api/v1/feedback", true), ("/api/form-probe", false)] {
        let mut b = Request::post(path).header(header::CONTENT_TYPE, "application/json");
        if with_length {
            b = b.header(header::CONTENT_LENGTH, big.len() + 14);
        }
        let r = app
            .send(
                b.body(Body::from(format!("{{\"message\":\"{big}\"}}")))
                    .unwrap(),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{path}: {}",
            r.body
        );
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/problem+json"),
            "{path}: {}",
            r.body
        );
        let j = r.json();
        assert_eq!(j["status"], 413);
        assert!(j["detail"].as_str().unwrap().contains("zu groß"), "{j}");
    }
    // Nothing was written.
    assert!(audit_actions(&app).await.is_empty());
}

#[tokio::test]
async fn oversized_bodies_over_real_http_get_413() {
    let app = TestApp::with_config(|c| c.http.body_limit_bytes = 4096).await;
    let base = app.spawn().await;
    let r = reqwest::Client::new()
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=".to_string() + &"x".repeat(20_000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let body = r.text().await.unwrap();
    assert!(body.contains("zu groß"), "{body}");
}

#[tokio::test]
async fn anonymous_writes_are_rate_limited_even_with_a_made_up_session_cookie() {
    let app = TestApp::with_config(|c| c.http.public_writes_per_minute = 3).await;
    let raw = Raw::new(&app).await;
    for _ in 0..3 {
        let r = app
            .send(raw.post("/login", &[("username", "a"), ("password", "b")], &[]))
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = app
        .send(raw.post("/login", &[("username", "a"), ("password", "b")], &[]))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.header("retry-after").is_some());
    // A cookie that looks like a session but is none does not lift the limit.
    let forged = Raw::new(&app)
        .await
        .with_cookie("stk_session=made-up-session-value");
    let r = app
        .send(forged.post("/login", &[("username", "a"), ("password", "b")], &[]))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // A signed-in person is not limited as an anonymous client.
    let app2 = TestApp::with_config(|c| c.http.public_writes_per_minute = 2).await;
    let b = signed_in(&app2, "erika", &[Role::Resident], &[]).await;
    for _ in 0..4 {
        let r = b
            .post_form("/login", &[("username", "x"), ("password", "y")])
            .await;
        assert_ne!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    }
}

// ---------------------------------------------------------------- tokens

#[tokio::test]
async fn a_bad_bearer_token_gets_401_problem_json() {
    let app = TestApp::new().await;
    for token in [
        "stk_doesnotexist",
        "nonsense",
        "",
        "stk_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ] {
        let r = app.with_token(Method::GET, "/api/v1/me", token, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{token}: {}", r.body);
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/problem+json")
        );
        let j = r.json();
        assert_eq!(j["status"], 401);
        assert!(j["detail"].as_str().unwrap().contains("API-Token"), "{j}");
        assert!(j["request_id"].as_str().is_some_and(|s| !s.is_empty()));
    }
    // A revoked token is refused the same way; a good one works.
    let good = app.token(&["admin"]).await;
    assert_eq!(
        app.with_token(Method::GET, "/api/v1/me", &good, None)
            .await
            .status,
        StatusCode::OK
    );
    let id = platform::tokens::list_system(&app.env).await.unwrap()[0].id;
    platform::tokens::revoke(&app.env, &platform::Actor::system(), id)
        .await
        .unwrap();
    let r = app.with_token(Method::GET, "/api/v1/me", &good, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // HTML pages asked with a bad token and a JSON Accept header answer in JSON too.
    let r = app
        .send(get_with(
            "/",
            &[
                ("authorization", "Bearer stk_nope"),
                ("accept", "application/json"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["status"], 401);
}

// ---------------------------------------------------------------- staff area

#[tokio::test]
async fn the_staff_area_is_for_staff_and_shows_only_their_org_units() {
    let app = TestApp::new().await;
    let tiefbau = org_unit(&app, "tiefbauamt", "Tiefbauamt").await;
    let buerger = org_unit(&app, "buergerdienste", "Bürgerdienste").await;
    org_unit(&app, "ordnungsamt", "Ordnungsamt").await;

    let r = app.get("/staff").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location().as_deref(), Some("/login?next=%2Fstaff"));

    let resident = signed_in(&app, "resi", &[Role::Resident], &[]).await;
    let r = resident.get("/staff").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!r.body.contains("Tiefbauamt"));

    let staff = signed_in(&app, "sam", &[Role::Staff], &[tiefbau, buerger]).await;
    let r = staff.get("/staff").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Tiefbauamt") && r.body.contains("Bürgerdienste"));
    assert!(!r.body.contains("Ordnungsamt"), "{}", r.body);

    let other = signed_in(&app, "olga", &[Role::Staff], &[]).await;
    let r = other.get("/staff").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("keiner Organisationseinheit zugeordnet"));
    assert!(!r.body.contains("Tiefbauamt"));
}

// ---------------------------------------------------------------- health and metrics

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::new().await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "ok");
    let r = app.get("/readyz").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["database"], "ok");

    app.get("/").await;
    app.get("/").await;
    app.get("/login").await;
    app.get("/no/such/page").await;
    let r = app.get("/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    let m = &r.body;
    assert!(
        m.contains(r#"stadtkern_http_requests_total{method="GET",route="/",status="200"} 2"#),
        "{m}"
    );
    assert!(
        m.contains(r#"stadtkern_http_requests_total{method="GET",route="/login",status="200"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(
            r#"stadtkern_http_requests_total{method="GET",route="unmatched",status="404"} 1"#
        ),
        "{m}"
    );
    assert!(
        m.contains("stadtkern_http_request_duration_seconds_bucket{"),
        "{m}"
    );
    assert!(
        m.contains(r#"stadtkern_http_request_duration_seconds_count{method="GET",route="/"} 2"#),
        "{m}"
    );
    assert!(m.contains("stadtkern_db_pool_connections"), "{m}");
    // The raw path of an unknown page never becomes a label.
    assert!(!m.contains("/no/such/page"));

    app.env.db.close().await;
    let r = app.get("/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json()["database"], "unreachable");
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}

// ---------------------------------------------------------------- languages

#[tokio::test]
async fn the_language_switch_sets_a_cookie_and_english_renders() {
    let app = TestApp::new().await;
    let b = app.browser();
    let r = b.get("/lang/en?next=/login").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location().as_deref(), Some("/login"));
    let c = set_cookie(&r, "stk_lang").unwrap();
    assert!(
        c.starts_with("stk_lang=en") && c.contains("Max-Age="),
        "{c}"
    );
    let r = b.get("/").await;
    assert!(r.body.contains("<html lang=\"en\">"));
    assert!(r.body.contains("Skip to content"));
    let r = b.get("/nowhere").await;
    assert!(r.body.contains("The page was not found."), "{}", r.body);
    // And back.
    b.get("/lang/de?next=/").await;
    assert!(b.get("/").await.body.contains("<html lang=\"de\">"));
    // An unknown language is a 404, and sets nothing.
    let r = b.get("/lang/xx").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(set_cookie(&r, "stk_lang").is_none());
}

#[tokio::test]
async fn accept_language_picks_the_language() {
    let app = TestApp::new().await;
    for (accept, lang) in [
        ("en", "en"),
        ("en-GB,en;q=0.9,de;q=0.8", "en"),
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("fr-FR,fr;q=0.9", "de"),
        ("fr, en;q=0.5", "en"),
        ("", "de"),
    ] {
        let r = app
            .send(get_with("/", &[("accept-language", accept)]))
            .await;
        assert!(
            r.body.contains(&format!("<html lang=\"{lang}\">")),
            "Accept-Language: {accept}"
        );
    }
    // The cookie wins over the header.
    let r = app
        .send(get_with(
            "/",
            &[("accept-language", "en"), ("cookie", "stk_lang=de")],
        ))
        .await;
    assert!(r.body.contains("<html lang=\"de\">"));
}

// ---------------------------------------------------------------- error pages

#[tokio::test]
async fn unknown_routes_get_a_404_page_with_the_request_id() {
    let app = TestApp::new().await;
    let r = app.get("/gibt/es/nicht").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let id = r.header("x-request-id").unwrap();
    assert!(!id.is_empty());
    assert!(r.body.contains(&id), "the page shows the request id");
    assert!(r.body.contains("Die Seite wurde nicht gefunden."));
    assert!(
        r.body.contains("Zum Inhalt springen"),
        "the error page is a full page"
    );
    assert!(r.header("content-security-policy").is_some());

    // A request id from a proxy is kept when it is plain, replaced when it is not.
    let r = app
        .send(get_with(
            "/gibt/es/nicht",
            &[("x-request-id", "lb-4711-abc")],
        ))
        .await;
    assert_eq!(r.header("x-request-id").as_deref(), Some("lb-4711-abc"));
    assert!(r.body.contains("lb-4711-abc"));
    let r = app
        .send(get_with(
            "/x",
            &[("x-request-id", "<script>alert(1)</script>")],
        ))
        .await;
    let id = r.header("x-request-id").unwrap();
    assert!(!id.contains('<'));
    assert!(!r.body.contains("<script>alert"));

    // API clients get problem details.
    let r = app.get("/api/v1/nothing-here").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(r.json()["status"], 404);
}

#[tokio::test]
async fn error_pages_never_leak_internals() {
    let app = TestApp::new().await;
    app.env.db.close().await;
    let r = app.get("/").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    let id = r.header("x-request-id").unwrap();
    assert!(r.body.contains(&id), "the page names the request id");
    assert!(r.body.contains("Ein interner Fehler ist aufgetreten"));
    for secret in [
        "database", "sqlx", "pool", "closed", "panicked", "src/", "SELECT",
    ] {
        assert!(!r.body.contains(secret), "leaks '{secret}': {}", r.body);
    }
    let r = app
        .send(get_with("/", &[("accept", "application/json")]))
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    let j = r.json();
    assert_eq!(j["detail"], "Ein interner Fehler ist aufgetreten.");
    for secret in ["database", "sqlx", "pool", "closed"] {
        assert!(!r.body.contains(secret), "leaks '{secret}': {}", r.body);
    }
}

// ---------------------------------------------------------------- redirects

#[tokio::test]
async fn next_parameters_never_redirect_to_another_site() {
    let app = TestApp::new().await;
    person(&app, "erika", &[Role::Staff], &[]).await;
    for (next, expected) in [
        ("//evil.example", "/"),
        ("//evil.example/path", "/"),
        ("https://evil.example", "/"),
        ("/\\evil.example", "/"),
        ("\\\\evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("/\u{0}/evil.example", "/"),
        ("evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/staff", "/staff"),
        ("/staff?tab=1", "/staff?tab=1"),
    ] {
        let b = app.browser();
        b.get("/login").await;
        let r = b
            .post_form(
                "/login",
                &[
                    ("username", "erika"),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(r.location().as_deref(), Some(expected), "next={next:?}");
        let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        let r = b.get(&format!("/lang/en?next={encoded}")).await;
        assert_eq!(
            r.location().as_deref(),
            Some(expected),
            "lang next={next:?}"
        );
        // A signed-in visitor of the login page is sent on, to the same safe place.
        let r = b.get(&format!("/login?next={encoded}")).await;
        assert_eq!(
            r.location().as_deref(),
            Some(expected),
            "login page next={next:?}"
        );
    }
}

// ---------------------------------------------------------------- restart

#[tokio::test]
async fn data_written_through_the_app_survives_a_restart() {
    let app = TestApp::new().await;
    let unit = org_unit(&app, "tiefbauamt", "Tiefbauamt").await;
    person(&app, "erika", &[Role::Staff], &[unit]).await;
    let login = app.browser().login("erika", PASSWORD).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    let session = cookie_value(&set_cookie(&login, "stk_session").unwrap());
    let secret_before = app.state.secret.clone();
    let entries_before = audit_actions(&app).await.len();

    let TestApp {
        mut tdb,
        env,
        clock,
        ..
    } = app;
    tdb.reopen().await;
    let env = Env::new(
        (*env.config).clone(),
        tdb.db.clone(),
        clock.clone(),
        Arc::new(SeededRandom::new(4242)),
    );
    let app = TestApp::from_parts(tdb, env, clock).await;

    // The session is stored server-side: the browser is still signed in.
    let r = app
        .send(get_with(
            "/staff",
            &[("cookie", &format!("stk_session={session}"))],
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Tiefbauamt"));
    // The instance secret survives, so forms rendered before the restart still submit.
    assert_eq!(app.state.secret, secret_before);
    assert_eq!(audit_actions(&app).await.len(), entries_before);
    assert!(matches!(
        store::audit::verify(&app.env.db).await.unwrap(),
        store::audit::Verdict::Intact { .. }
    ));
    let b = app.browser();
    assert_eq!(
        b.login("erika", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_panicking_handler_gets_the_error_page_not_the_panic() {
    use tower::ServiceExt;
    let app = TestApp::new().await;
    async fn boom() -> &'static str {
        panic!("sqlx::pool internal detail")
    }
    let routes = axum::Router::new().route("/boom", axum::routing::get(boom));
    let router = web::middleware::wrap(routes, app.state.clone());
    for accept in ["text/html", "application/json"] {
        let resp = router
            .clone()
            .oneshot(get_with("/boom", &[("accept", accept)]))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(
            !body.contains("sqlx") && !body.contains("internal detail"),
            "{body}"
        );
        let id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("a request id on the panic response")
            .to_string();
        assert!(body.contains(&id), "{body}");
        assert!(headers.get("content-security-policy").is_some());
        assert!(headers.get("x-content-type-options").is_some());
    }
}
