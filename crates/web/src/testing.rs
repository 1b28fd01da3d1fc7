//! Test support: an application over a fresh database, a cookie-keeping browser that fills in
//! CSRF tokens like a real form would, and a real server on a loopback port for HTTP clients.

use crate::AppState;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use chrono::{DateTime, TimeZone, Utc};
use kern::{Config, ManualClock, Role, SeededRandom};
use platform::{Actor, Env};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use store::testing::TestDb;
use tower::ServiceExt;

/// The fixed start time of every test clock.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0)
        .single()
        .expect("valid date")
}

pub struct TestApp {
    pub tdb: TestDb,
    pub env: Env,
    pub state: AppState,
    pub router: Router,
    pub clock: Arc<ManualClock>,
}

/// A response with its body read.
#[derive(Debug, Clone)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl TestResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    pub fn location(&self) -> Option<String> {
        self.header("location")
    }
}

impl TestApp {
    pub async fn new() -> TestApp {
        Self::with_config(|_| {}).await
    }

    /// A test application whose configuration `adjust` may change first.
    pub async fn with_config(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let tdb = TestDb::new().await;
        let mut cfg = Config::default();
        cfg.city.name = "Teststadt".into();
        adjust(&mut cfg);
        let clock = Arc::new(ManualClock::new(t0()));
        let env = Env::new(
            cfg,
            tdb.db.clone(),
            clock.clone(),
            Arc::new(SeededRandom::new(rand_seed())),
        );
        Self::from_parts(tdb, env, clock).await
    }

    /// Builds the app around an existing database (for restart tests).
    pub async fn from_parts(tdb: TestDb, env: Env, clock: Arc<ManualClock>) -> TestApp {
        let state = AppState::new(env.clone()).await.expect("app state");
        let router = crate::app(state.clone());
        TestApp {
            tdb,
            env,
            state,
            router,
            clock,
        }
    }

    /// Sends one request through the whole stack (all layers, no network).
    pub async fn send(&self, req: Request<Body>) -> TestResponse {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = to_bytes(resp.into_body(), 64 * 1024 * 1024)
            .await
            .expect("body");
        TestResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Request::get(path).body(Body::empty()).expect("request"))
            .await
    }

    /// A request with a bearer token.
    pub async fn with_token(
        &self,
        method: Method,
        path: &str,
        token: &str,
        json: Option<serde_json::Value>,
    ) -> TestResponse {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        let body = match json {
            Some(j) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Body::from(j.to_string())
            }
            None => Body::empty(),
        };
        self.send(b.body(body).expect("request")).await
    }

    /// Creates an account directly (as the system) and returns its password.
    pub async fn user(&self, username: &str, roles: &[Role], org_units: &[i64]) -> String {
        // Never contains the user name (the policy refuses that).
        let password = "Grüne Laterne am Phoenixsee 7".to_string();
        platform::accounts::create(
            &self.env,
            &Actor::system(),
            platform::accounts::NewAccount {
                username: username.into(),
                display_name: format!("Test {username}"),
                email: format!("{username}@example.org"),
                password: Some(password.clone()),
                roles: roles.to_vec(),
                org_units: org_units.to_vec(),
            },
        )
        .await
        .expect("create user");
        password
    }

    /// Creates an API token with the given scopes.
    pub async fn token(&self, scopes: &[&str]) -> String {
        let scopes = platform::tokens::parse_scopes(scopes).expect("scopes");
        platform::tokens::create(&self.env, &Actor::system(), "test", &scopes)
            .await
            .expect("token")
            .token
    }

    /// A browser signed in as a new user with the given roles.
    pub async fn browser_as(
        &self,
        username: &str,
        roles: &[Role],
        org_units: &[i64],
    ) -> Browser<'_> {
        let pw = self.user(username, roles, org_units).await;
        let b = self.browser();
        let r = b.login(username, &pw).await;
        assert_eq!(
            r.status,
            StatusCode::SEE_OTHER,
            "login of {username} failed: {}",
            r.body
        );
        b
    }

    pub fn browser(&self) -> Browser<'_> {
        Browser {
            app: self,
            cookies: Mutex::new(BTreeMap::new()),
            csrf: Mutex::new(None),
        }
    }

    /// Serves the app on a free loopback port for real HTTP clients; returns the base URL.
    pub async fn spawn(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = self.state.clone();
        tokio::spawn(async move {
            let _ = crate::serve(listener, state, std::future::pending()).await;
        });
        format!("http://{addr}")
    }
}

// A fresh seed per test run; the seeded generator built from it is what tests use.
#[allow(clippy::disallowed_methods)]
fn rand_seed() -> u64 {
    use rand::Rng;
    rand::thread_rng().r#gen()
}

/// A cookie-keeping client that behaves like a browser submitting our forms.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    cookies: Mutex<BTreeMap<String, String>>,
    csrf: Mutex<Option<String>>,
}

impl Browser<'_> {
    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .expect("lock")
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn remember(&self, r: &TestResponse) {
        for v in r.headers.get_all(header::SET_COOKIE) {
            let Ok(s) = v.to_str() else { continue };
            let first = s.split(';').next().unwrap_or("");
            if let Some((k, val)) = first.split_once('=') {
                let expired = s.contains("Max-Age=0");
                let mut jar = self.cookies.lock().expect("lock");
                if expired || val.is_empty() {
                    jar.remove(k);
                } else {
                    jar.insert(k.to_string(), val.to_string());
                }
            }
        }
        if let Some(t) = extract_csrf(&r.body) {
            *self.csrf.lock().expect("lock") = Some(t);
        }
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Body,
    ) -> TestResponse {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(header::COOKIE, self.cookie_header());
        if let Some(ct) = content_type {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        let r = self.app.send(b.body(body).expect("request")).await;
        self.remember(&r);
        r
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.request(Method::GET, path, None, Body::empty()).await
    }

    /// The CSRF token of the last page seen (loads the front page first if none was seen).
    pub async fn csrf(&self) -> String {
        if self.csrf.lock().expect("lock").is_none() {
            self.get("/login").await;
        }
        self.csrf
            .lock()
            .expect("lock")
            .clone()
            .expect("a page with a form sets a CSRF token")
    }

    /// Posts a form with the CSRF token filled in, as the rendered form would.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        let token = self.csrf().await;
        let mut all: Vec<(&str, &str)> = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post_form_raw(path, &all).await
    }

    /// Posts a form exactly as given (no CSRF token added).
    pub async fn post_form_raw(&self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.request(
            Method::POST,
            path,
            Some("application/x-www-form-urlencoded"),
            Body::from(body),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> TestResponse {
        self.get("/login").await;
        self.post_form("/login", &[("username", username), ("password", password)])
            .await
    }

    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookies.lock().expect("lock").contains_key(name)
    }
}

/// Finds `name="csrf" value="..."` in a page.
pub fn extract_csrf(html: &str) -> Option<String> {
    let i = html.find("name=\"csrf\" value=\"")?;
    let rest = &html[i + 19..];
    let end = rest.find('"')?;
    Some(rest[..end].to_string()).filter(|s| !s.is_empty())
}

/// Makes a `TempDir` usable by callers that want files next to the test database.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Convenience: the roles slice for one role.
pub fn roles(r: Role) -> Vec<Role> {
    vec![r]
}

/// Default test database handle for crates that need only the store.
pub async fn test_db() -> TestDb {
    TestDb::new().await
}

/// The `Method` re-exported so tests need no direct `http` dependency.
pub use axum::http::Method as HttpMethod;
