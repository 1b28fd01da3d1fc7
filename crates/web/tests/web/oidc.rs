//! OIDC login against a small OpenID provider that runs inside each test.
//!
//! The provider serves discovery, its key set, an authorization endpoint that sends the browser
//! straight back (insisting on PKCE with S256), a token endpoint that checks client secret and
//! PKCE verifier and returns an RS256-signed ID token, and a userinfo endpoint. Its keys are
//! test-only fixtures (`fixtures/oidc-provider-key*.pem`, made once with `openssl genrsa`).
//! Tokens carry times from the application's own (manual) clock, so expiry follows it.

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kern::{Clock, ManualClock, Role};
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};
use openidconnect::{
    AccessToken, AdditionalClaims, Audience, EndUserEmail, EndUserName, EndUserUsername, IdToken,
    IdTokenClaims, IssuerUrl, JsonWebKeyId, LocalizedClaim, Nonce, PrivateSigningKey,
    StandardClaims, SubjectIdentifier,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use web::testing::{Browser, TestApp, TestResponse};

const KEY: &str = include_str!("fixtures/oidc-provider-key.pem");
const ROTATED_KEY: &str = include_str!("fixtures/oidc-provider-key-rotated.pem");
const CLIENT_ID: &str = "stadtkern";
const CLIENT_SECRET: &str = "geheim-nur-fuer-tests";
const PUBLIC_URL: &str = "http://stadt.test";

// ---- the provider ----

#[derive(Clone)]
struct Person {
    sub: String,
    preferred_username: String,
    name: String,
    email: String,
    roles: Vec<String>,
}

fn erika(roles: &[&str]) -> Person {
    Person {
        sub: "8f1c2d3e-0000-4000-8000-000000000001".into(),
        preferred_username: "erika".into(),
        name: "Erika Mustermann".into(),
        email: "erika@example.org".into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    }
}

/// What the provider does wrong (or differently) from now on.
#[derive(Clone, Default)]
struct Behaviour {
    /// `aud` of the ID token instead of our client id.
    audience: Option<String>,
    /// `nonce` of the ID token instead of the one the login asked for.
    nonce: Option<String>,
    /// Changes the payload after signing (grants `stadt-admin`).
    tamper: bool,
    /// The person cancels at the provider.
    deny: bool,
    /// The role claim is only in the userinfo answer, not in the ID token.
    roles_in_userinfo: bool,
    /// Signs with a new key (published next to the old one).
    rotated: bool,
    /// Seconds the ID token is valid (default 300).
    lifetime_secs: Option<i64>,
    /// Discovery answers 503.
    down: bool,
}

struct Grant {
    challenge: String,
    nonce: String,
    redirect_uri: String,
}

struct ProviderState {
    issuer: String,
    clock: Arc<ManualClock>,
    person: Person,
    behaviour: Behaviour,
    grants: HashMap<String, Grant>,
    access_tokens: HashMap<String, Person>,
    seq: u64,
    discoveries: u32,
    pkce_failures: u32,
    secret_failures: u32,
}

#[derive(Clone)]
struct Provider {
    issuer: String,
    state: Arc<Mutex<ProviderState>>,
}

/// Extra claims of the test provider's tokens (the role claim, Keycloak style).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Extra(serde_json::Map<String, Value>);
impl AdditionalClaims for Extra {}

type TestIdToken =
    IdToken<Extra, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

fn signing_key(rotated: bool) -> CoreRsaPrivateSigningKey {
    let (pem, kid) = if rotated {
        (ROTATED_KEY, "k2")
    } else {
        (KEY, "k1")
    };
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.into())))
        .expect("fixture key parses")
}

impl Provider {
    fn with<R>(&self, f: impl FnOnce(&mut ProviderState) -> R) -> R {
        f(&mut self.state.lock().expect("provider lock"))
    }
    fn behave(&self, b: Behaviour) {
        self.with(|s| s.behaviour = b);
    }
    fn set_roles(&self, roles: &[&str]) {
        self.with(|s| s.person.roles = roles.iter().map(|r| r.to_string()).collect());
    }
}

async fn discovery(State(p): State<Provider>) -> Response {
    let mut s = p.state.lock().expect("lock");
    s.discoveries += 1;
    if s.behaviour.down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let i = &s.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/auth"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    }))
    .into_response()
}

async fn jwks(State(p): State<Provider>) -> Response {
    let rotated = p.with(|s| s.behaviour.rotated);
    let mut keys = vec![signing_key(false).as_verification_key()];
    if rotated {
        keys.push(signing_key(true).as_verification_key());
    }
    Json(CoreJsonWebKeySet::new(keys)).into_response()
}

fn redirect_to(base: &str, params: &[(&str, &str)]) -> Response {
    let mut url = url::Url::parse(base).expect("redirect_uri is a URL");
    url.query_pairs_mut().extend_pairs(params);
    (
        StatusCode::FOUND,
        [(header::LOCATION, url.to_string())],
        String::new(),
    )
        .into_response()
}

async fn authorize(
    State(p): State<Provider>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let arg = |k: &str| q.get(k).cloned().unwrap_or_default();
    if arg("response_type") != "code"
        || arg("client_id") != CLIENT_ID
        || !arg("scope").split(' ').any(|s| s == "openid")
        || arg("code_challenge_method") != "S256"
        || arg("code_challenge").len() < 43
        || arg("nonce").is_empty()
        || arg("state").is_empty()
    {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let redirect_uri = arg("redirect_uri");
    if p.with(|s| s.behaviour.deny) {
        return redirect_to(
            &redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "Rufen Sie jetzt 0900-123456 an"),
                ("state", &arg("state")),
            ],
        );
    }
    let code = p.with(|s| {
        s.seq += 1;
        let code = format!("code-{}", s.seq);
        s.grants.insert(
            code.clone(),
            Grant {
                challenge: arg("code_challenge"),
                nonce: arg("nonce"),
                redirect_uri: redirect_uri.clone(),
            },
        );
        code
    });
    redirect_to(&redirect_uri, &[("code", &code), ("state", &arg("state"))])
}

fn token_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

async fn token(
    State(p): State<Provider>,
    headers: HeaderMap,
    Form(f): Form<BTreeMap<String, String>>,
) -> Response {
    let arg = |k: &str| f.get(k).cloned().unwrap_or_default();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let mut s = p.state.lock().expect("lock");
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(basic.as_str())
    {
        s.secret_failures += 1;
        return token_error("invalid_client", "client authentication failed");
    }
    if arg("grant_type") != "authorization_code" {
        return token_error("unsupported_grant_type", "only authorization_code");
    }
    // A code is good for one exchange.
    let Some(grant) = s.grants.remove(&arg("code")) else {
        return token_error("invalid_grant", "unknown or used code");
    };
    if grant.redirect_uri != arg("redirect_uri") {
        return token_error("invalid_grant", "redirect_uri differs");
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(arg("code_verifier").as_bytes()));
    if computed != grant.challenge {
        s.pkce_failures += 1;
        return token_error("invalid_grant", "PKCE verification failed");
    }
    let b = s.behaviour.clone();
    let person = s.person.clone();
    s.seq += 1;
    let access = AccessToken::new(format!("at-{}", s.seq));
    s.access_tokens
        .insert(access.secret().clone(), person.clone());
    let now = s.clock.now();
    let issuer = s.issuer.clone();
    drop(s);

    let mut name = LocalizedClaim::new();
    name.insert(None, EndUserName::new(person.name.clone()));
    let standard = StandardClaims::new(SubjectIdentifier::new(person.sub.clone()))
        .set_preferred_username(Some(EndUserUsername::new(
            person.preferred_username.clone(),
        )))
        .set_name(Some(name))
        .set_email(Some(EndUserEmail::new(person.email.clone())));
    let mut extra = serde_json::Map::new();
    if !b.roles_in_userinfo {
        extra.insert("realm_access".into(), json!({ "roles": person.roles }));
    }
    let claims = IdTokenClaims::new(
        IssuerUrl::new(issuer).expect("issuer URL"),
        vec![Audience::new(
            b.audience.clone().unwrap_or_else(|| CLIENT_ID.into()),
        )],
        now + chrono::Duration::seconds(b.lifetime_secs.unwrap_or(300)),
        now,
        standard,
        Extra(extra),
    )
    .set_nonce(Some(Nonce::new(b.nonce.clone().unwrap_or(grant.nonce))));
    let id_token = TestIdToken::new(
        claims,
        &signing_key(b.rotated),
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        Some(&access),
        None,
    )
    .expect("signing works");
    let mut jwt = id_token.to_string();
    if b.tamper {
        let parts: Vec<&str> = jwt.split('.').collect();
        let mut payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
        payload["realm_access"] = json!({ "roles": ["stadt-admin"] });
        let forged = URL_SAFE_NO_PAD.encode(payload.to_string());
        jwt = format!("{}.{}.{}", parts[0], forged, parts[2]);
    }
    Json(json!({
        "access_token": access.secret(),
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": jwt,
    }))
    .into_response()
}

async fn userinfo(State(p): State<Provider>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    match p.with(|s| s.access_tokens.get(token).cloned()) {
        Some(person) => Json(json!({
            "sub": person.sub,
            "preferred_username": person.preferred_username,
            "realm_access": { "roles": person.roles },
        }))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// A provider on a free loopback port and an application configured to use it.
async fn setup(role_map: &[(&str, &str)]) -> (Provider, TestApp) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("addr"));
    let app = TestApp::with_config(|cfg| {
        cfg.public_url = PUBLIC_URL.into();
        cfg.oidc = Some(kern::config::OidcConfig {
            issuer: issuer.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            label: "Mit Servicekonto anmelden".into(),
            scopes: vec!["profile".into(), "email".into()],
            role_claim: "realm_access.roles".into(),
            role_map: role_map
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
    })
    .await;
    let provider = Provider {
        issuer: issuer.clone(),
        state: Arc::new(Mutex::new(ProviderState {
            issuer,
            clock: app.clock.clone(),
            person: erika(&["stadt-admin"]),
            behaviour: Behaviour::default(),
            grants: HashMap::new(),
            access_tokens: HashMap::new(),
            seq: 0,
            discoveries: 0,
            pkce_failures: 0,
            secret_failures: 0,
        })),
    };
    let router = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/auth", get(authorize))
        .route("/token", post(token))
        .route("/userinfo", get(userinfo))
        .with_state(provider.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (provider, app)
}

const ROLE_MAP: &[(&str, &str)] = &[("stadt-admin", "admin"), ("tiefbau", "staff")];

// ---- the browser's side ----

/// Posts the login page's OIDC form; returns the provider's authorization URL.
async fn begin(b: &Browser<'_>, next: &str) -> String {
    b.get("/login").await;
    let r = b.post_form("/auth/oidc/start", &[("next", next)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    r.location().expect("redirect to the provider")
}

/// What the browser does at the provider: returns the callback path (with query) it is sent to.
async fn at_provider(authorization_url: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = client
        .get(authorization_url)
        .send()
        .await
        .expect("provider answers");
    assert_eq!(
        r.status(),
        reqwest::StatusCode::FOUND,
        "{authorization_url}"
    );
    let location = r.headers()[reqwest::header::LOCATION]
        .to_str()
        .expect("ascii")
        .to_string();
    let prefix = format!("{PUBLIC_URL}/auth/oidc/callback?");
    assert!(location.starts_with(&prefix), "{location}");
    location[PUBLIC_URL.len()..].to_string()
}

async fn login(b: &Browser<'_>, next: &str) -> TestResponse {
    let url = begin(b, next).await;
    let callback = at_provider(&url).await;
    b.get(&callback).await
}

fn query_param(path_or_url: &str, name: &str) -> String {
    let url = url::Url::parse(&format!("http://x{path_or_url}"))
        .or_else(|_| url::Url::parse(path_or_url))
        .expect("URL");
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn replace_param(path: &str, name: &str, value: &str) -> String {
    let url = url::Url::parse(&format!("http://x{path}")).expect("URL");
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{}?{q}", url.path())
}

fn session_cookie(r: &TestResponse) -> Option<String> {
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.strip_prefix("stk_session="))
        .find(|v| !v.is_empty())
        .map(str::to_string)
}

/// Audit entries with exactly this action, newest first.
async fn audit_actions(app: &TestApp, action: &str) -> Vec<store::audit::Entry> {
    // The store's prefix filter drops `_` (a LIKE wildcard), so ask for the part before it.
    let prefix = action.split('_').next().unwrap_or(action);
    store::audit::list(
        &app.env.db,
        &store::audit::Filter {
            action_prefix: Some(prefix.into()),
            limit: 1000,
            ..Default::default()
        },
    )
    .await
    .expect("audit list")
    .into_iter()
    .filter(|e| e.action == action)
    .collect()
}

async fn oidc_user(app: &TestApp) -> Option<store::accounts::User> {
    store::accounts::user_by_oidc_subject(&app.env.db, &erika(&[]).sub)
        .await
        .expect("lookup")
}

/// A refused callback: the status, the reason in the login page's error summary, no session.
fn assert_refused(r: &TestResponse, status: StatusCode, message: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert!(r.body.contains("error-summary"), "{}", r.body);
    assert!(
        r.body.contains(message),
        "expected '{message}' in {}",
        r.body
    );
    assert!(session_cookie(r).is_none());
}

// ---- tests ----

#[tokio::test]
async fn full_login_creates_a_user_with_mapped_roles() {
    let (provider, app) = setup(ROLE_MAP).await;
    provider.set_roles(&["stadt-admin", "offline_access"]);
    let b = app.browser();
    let url = begin(&b, "/staff").await;
    assert!(
        url.starts_with(&format!("{}/auth?", provider.issuer)),
        "{url}"
    );
    assert_eq!(query_param(&url, "code_challenge_method"), "S256");
    assert_eq!(query_param(&url, "scope"), "openid profile email");
    assert_eq!(
        query_param(&url, "redirect_uri"),
        "http://stadt.test/auth/oidc/callback"
    );
    assert_eq!(
        store::accounts::count_oidc_logins(&app.env.db)
            .await
            .unwrap(),
        1
    );

    let callback = at_provider(&url).await;
    let r = b.get(&callback).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location().as_deref(), Some("/staff"));
    let token = session_cookie(&r).expect("session cookie");
    assert_eq!(provider.with(|s| s.pkce_failures + s.secret_failures), 0);

    let user = oidc_user(&app).await.expect("user created");
    assert_eq!(user.username, "erika");
    assert_eq!(user.display_name, "Erika Mustermann");
    assert_eq!(user.email, "erika@example.org");
    assert!(user.password_hash.is_none());
    let principal = platform::sessions::resolve(&app.env, &token)
        .await
        .unwrap()
        .expect("session resolves");
    assert_eq!(principal.user().unwrap().id, user.id);
    assert_eq!(principal.user().unwrap().roles, vec![Role::Admin]);
    assert!(principal.is_admin());

    assert_eq!(b.get("/staff").await.status, StatusCode::OK);
    assert_eq!(b.get("/admin").await.status, StatusCode::OK);
    assert!(!b.has_cookie("stk_oidc_state"));
    assert_eq!(
        store::accounts::count_oidc_logins(&app.env.db)
            .await
            .unwrap(),
        0
    );

    let created = audit_actions(&app, "oidc.user_created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].object, format!("user:{}", user.id));
    assert!(
        created[0].details.contains("admin"),
        "{}",
        created[0].details
    );
    let logins = audit_actions(&app, "session.login").await;
    assert_eq!(logins.len(), 1, "one login, no failures");
    assert!(
        logins[0].details.contains("\"oidc\""),
        "{}",
        logins[0].details
    );
    assert_eq!(logins[0].actor, "user:erika");
}

#[tokio::test]
async fn later_logins_reuse_the_account_and_follow_the_provider_roles() {
    let (provider, app) = setup(ROLE_MAP).await;
    let r = login(&app.browser(), "/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let first = oidc_user(&app).await.unwrap();

    provider.set_roles(&["tiefbau", "unbekannt"]);
    let b = app.browser();
    let r = login(&b, "/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let again = oidc_user(&app).await.unwrap();
    assert_eq!(again.id, first.id);
    let p = platform::sessions::resolve(&app.env, &session_cookie(&r).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.user().unwrap().roles, vec![Role::Staff]);
    assert_eq!(b.get("/staff").await.status, StatusCode::OK);
    assert_eq!(b.get("/admin").await.status, StatusCode::FORBIDDEN);

    provider.set_roles(&[]);
    let r = login(&app.browser(), "/").await;
    let p = platform::sessions::resolve(&app.env, &session_cookie(&r).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.user().unwrap().roles, vec![Role::Resident]);

    let changes = audit_actions(&app, "oidc.roles_changed").await;
    assert_eq!(changes.len(), 2);
    assert!(
        changes[1].details.contains("staff"),
        "{}",
        changes[1].details
    );
    assert!(
        changes[0].details.contains("resident"),
        "{}",
        changes[0].details
    );
    assert_eq!(audit_actions(&app, "oidc.user_created").await.len(), 1);
    assert_eq!(
        store::accounts::list_users(&app.env.db)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_taken_user_name_gets_a_suffix_and_the_local_account_stays_apart() {
    let (_provider, app) = setup(ROLE_MAP).await;
    let password = "Laterne-am-Hafen-2026";
    platform::accounts::create(
        &app.env,
        &platform::Actor::system(),
        platform::accounts::NewAccount {
            username: "erika".into(),
            display_name: "Erika aus dem Rathaus".into(),
            email: String::new(),
            password: Some(password.into()),
            roles: vec![Role::Staff],
            org_units: vec![],
        },
    )
    .await
    .unwrap();
    let r = login(&app.browser(), "/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let oidc = oidc_user(&app).await.unwrap();
    assert_eq!(oidc.username, "erika-2");
    let local = store::accounts::user_by_username(&app.env.db, "erika")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(local.id, oidc.id);
    assert!(local.oidc_subject.is_none());
    assert_eq!(
        store::accounts::roles_of(&app.env.db, local.id)
            .await
            .unwrap(),
        vec![Role::Staff]
    );
    assert_eq!(
        app.browser().login("erika", password).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn the_next_page_must_be_on_this_site() {
    let (_provider, app) = setup(ROLE_MAP).await;
    let r = login(&app.browser(), "https://evil.example/phish").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location().as_deref(), Some("/"));
    let r = login(&app.browser(), "//evil.example/").await;
    assert_eq!(r.location().as_deref(), Some("/"));
}

#[tokio::test]
async fn a_wrong_state_is_refused_and_opens_no_session() {
    let (_provider, app) = setup(ROLE_MAP).await;
    let b = app.browser();
    let callback = at_provider(&begin(&b, "/").await).await;
    let forged = replace_param(&callback, "state", "erfunden");
    let r = b.get(&forged).await;
    assert_refused(&r, StatusCode::BAD_REQUEST, "Diese Anmeldung ist ungültig");
    assert!(oidc_user(&app).await.is_none());
    let r = b.get(&replace_param(&callback, "state", "")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // The browser's own login is still intact.
    let r = b.get(&callback).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}

#[tokio::test]
async fn a_state_is_good_for_one_login_only() {
    let (_provider, app) = setup(ROLE_MAP).await;
    let b = app.browser();
    let callback = at_provider(&begin(&b, "/").await).await;
    let state = query_param(&callback, "state");
    let r = b.get(&callback).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    // Replayed by the same browser, and replayed with the binding cookie put back.
    let r = b.get(&callback).await;
    assert_refused(&r, StatusCode::BAD_REQUEST, "bereits abgeschlossen");
    let r = app
        .send(
            Request::get(callback.as_str())
                .header(header::COOKIE, format!("stk_oidc_state={state}"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_refused(&r, StatusCode::BAD_REQUEST, "bereits abgeschlossen");
    assert_eq!(audit_actions(&app, "session.login").await.len(), 1);
}

#[tokio::test]
async fn a_callback_from_another_browser_is_refused() {
    let (_provider, app) = setup(ROLE_MAP).await;
    let victim = app.browser();
    let attacker = app.browser();
    // The attacker starts a login and hands the callback URL to the victim (login CSRF).
    let callback = at_provider(&begin(&attacker, "/").await).await;
    victim.get("/").await;
    let r = victim.get(&callback).await;
    assert_refused(&r, StatusCode::BAD_REQUEST, "anderen Browser");
    assert!(!victim.has_cookie("stk_session"));
    assert!(oidc_user(&app).await.is_none());
}

/// A login whose ID token the application must refuse; `why` is part of the audited detail.
async fn refused_token(behaviour: Behaviour, why: &str) {
    let (provider, app) = setup(ROLE_MAP).await;
    provider.set_roles(&["tiefbau"]);
    provider.behave(behaviour);
    let b = app.browser();
    let r = login(&b, "/").await;
    assert_refused(&r, StatusCode::UNAUTHORIZED, "nicht gültig");
    assert!(!b.has_cookie("stk_session"));
    assert!(oidc_user(&app).await.is_none());
    let failed = audit_actions(&app, "session.login_failed").await;
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].details.contains("token_invalid"),
        "{}",
        failed[0].details
    );
    assert!(failed[0].details.contains(why), "{}", failed[0].details);
    assert_eq!(audit_actions(&app, "session.login").await.len(), 0);
}

#[tokio::test]
async fn a_tampered_id_token_is_refused() {
    refused_token(
        Behaviour {
            tamper: true,
            ..Default::default()
        },
        "Signature verification failed",
    )
    .await;
}

#[tokio::test]
async fn an_id_token_for_another_client_is_refused() {
    refused_token(
        Behaviour {
            audience: Some("other-app".into()),
            ..Default::default()
        },
        "Invalid audiences",
    )
    .await;
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused() {
    refused_token(
        Behaviour {
            nonce: Some("replayed-nonce".into()),
            ..Default::default()
        },
        "Invalid nonce",
    )
    .await;
}

#[tokio::test]
async fn an_expired_id_token_is_refused_by_the_application_clock() {
    // Expired a minute before the application's clock time; the wall clock plays no part (the
    // test clock stands at a fixed date).
    refused_token(
        Behaviour {
            lifetime_secs: Some(-60),
            ..Default::default()
        },
        "Expired",
    )
    .await;
}

#[tokio::test]
async fn the_provider_checks_the_pkce_verifier() {
    let (provider, app) = setup(ROLE_MAP).await;
    let victim = app.browser();
    let attacker = app.browser();
    let victim_callback = at_provider(&begin(&victim, "/").await).await;
    let attacker_callback = at_provider(&begin(&attacker, "/").await).await;
    // The attacker injects the victim's stolen code into the attacker's own login: the
    // application sends the attacker's verifier, which does not match the victim's challenge.
    let injected = replace_param(
        &attacker_callback,
        "code",
        &query_param(&victim_callback, "code"),
    );
    let r = attacker.get(&injected).await;
    assert_refused(&r, StatusCode::UNAUTHORIZED, "nicht bestätigt");
    assert_eq!(provider.with(|s| s.pkce_failures), 1);
    assert!(oidc_user(&app).await.is_none());
    let failed = audit_actions(&app, "session.login_failed").await;
    assert!(
        failed[0].details.contains("code_rejected"),
        "{}",
        failed[0].details
    );
}

#[tokio::test]
async fn access_denied_at_the_provider_gives_a_friendly_message() {
    let (provider, app) = setup(ROLE_MAP).await;
    provider.behave(Behaviour {
        deny: true,
        ..Default::default()
    });
    let b = app.browser();
    let r = login(&b, "/").await;
    assert_refused(&r, StatusCode::UNAUTHORIZED, "abgebrochen oder abgelehnt");
    // The provider's free text is attacker-controllable on this URL and never shown.
    assert!(!r.body.contains("Rufen Sie jetzt"), "{}", r.body);
    assert_eq!(
        store::accounts::count_oidc_logins(&app.env.db)
            .await
            .unwrap(),
        0
    );
    let failed = audit_actions(&app, "session.login_failed").await;
    assert!(
        failed[0].details.contains("access_denied"),
        "{}",
        failed[0].details
    );

    // In English for an English-speaking browser.
    b.get("/lang/en?next=/").await;
    let r = login(&b, "/").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("was cancelled or refused"), "{}", r.body);
}

#[tokio::test]
async fn a_login_that_took_too_long_is_refused() {
    let (_provider, app) = setup(ROLE_MAP).await;
    let b = app.browser();
    let callback = at_provider(&begin(&b, "/").await).await;
    app.clock.advance(chrono::Duration::minutes(11));
    let r = b.get(&callback).await;
    assert_refused(&r, StatusCode::BAD_REQUEST, "abgelaufen");
    assert!(oidc_user(&app).await.is_none());
}

#[tokio::test]
async fn start_without_csrf_token_is_forbidden() {
    let (provider, app) = setup(ROLE_MAP).await;
    let b = app.browser();
    b.get("/login").await;
    let r = b.post_form_raw("/auth/oidc/start", &[("next", "/")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        store::accounts::count_oidc_logins(&app.env.db)
            .await
            .unwrap(),
        0
    );
    assert_eq!(provider.with(|s| s.discoveries), 0);
}

#[tokio::test]
async fn without_oidc_configuration_the_routes_do_not_exist() {
    let app = TestApp::new().await;
    let b = app.browser();
    let page = b.get("/login").await;
    assert!(!page.body.contains("/auth/oidc/start"));
    let r = b.post_form("/auth/oidc/start", &[("next", "/")]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = b.get("/auth/oidc/callback?code=x&state=y").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unreachable_provider_gives_a_message_and_is_asked_again_later() {
    let (provider, app) = setup(ROLE_MAP).await;
    provider.behave(Behaviour {
        down: true,
        ..Default::default()
    });
    let b = app.browser();
    b.get("/login").await;
    let r = b.post_form("/auth/oidc/start", &[("next", "/")]).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.body);
    assert!(r.body.contains("nicht erreichbar"), "{}", r.body);
    assert_eq!(
        store::accounts::count_oidc_logins(&app.env.db)
            .await
            .unwrap(),
        0
    );
    // A failure is not cached: once the provider is back, the next login discovers it.
    provider.behave(Behaviour::default());
    let r = login(&b, "/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(provider.with(|s| s.discoveries), 2);
}

#[tokio::test]
async fn metadata_is_cached_and_fetched_again_when_the_provider_rotates_its_key() {
    let (provider, app) = setup(ROLE_MAP).await;
    let r = login(&app.browser(), "/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = login(&app.browser(), "/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(provider.with(|s| s.discoveries), 1);

    provider.behave(Behaviour {
        rotated: true,
        ..Default::default()
    });
    let r = login(&app.browser(), "/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(provider.with(|s| s.discoveries), 2);
}

#[tokio::test]
async fn roles_come_from_userinfo_when_the_id_token_lacks_the_claim() {
    let (provider, app) = setup(ROLE_MAP).await;
    provider.set_roles(&["tiefbau"]);
    provider.behave(Behaviour {
        roles_in_userinfo: true,
        ..Default::default()
    });
    let r = login(&app.browser(), "/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let p = platform::sessions::resolve(&app.env, &session_cookie(&r).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.user().unwrap().roles, vec![Role::Staff]);
}

#[tokio::test]
async fn a_deactivated_account_cannot_sign_in_through_the_provider() {
    let (_provider, app) = setup(ROLE_MAP).await;
    let r = login(&app.browser(), "/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let user = oidc_user(&app).await.unwrap();
    platform::accounts::update(
        &app.env,
        &platform::Actor::system(),
        user.id,
        &user.display_name,
        &user.email,
        false,
    )
    .await
    .unwrap();
    let b = app.browser();
    let r = login(&b, "/").await;
    assert_refused(&r, StatusCode::UNAUTHORIZED, "gesperrt");
    assert!(!b.has_cookie("stk_session"));
}

#[tokio::test]
async fn the_login_page_lets_its_form_lead_to_the_provider() {
    let (provider, app) = setup(ROLE_MAP).await;
    let r = app.browser().get("/login").await;
    assert!(r.body.contains("action=\"/auth/oidc/start\""));
    assert!(r.body.contains("Mit Servicekonto anmelden"));
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.contains(&format!("form-action 'self' {};", provider.issuer)),
        "{csp}"
    );
}
