//! The JSON API under /api/v1 and its OpenAPI description.

use super::admin::{person, signed_in};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use kern::Role;
use platform::Actor;
use serde_json::{Value, json};
use web::testing::{Browser, TestApp, TestResponse};

const STRONG: &str = "Blaue Brücke über der Emscher 19";

/// Every path of the foundation's JSON API, as the OpenAPI document must list it.
const V1_PATHS: &[&str] = &[
    "/api/v1/me",
    "/api/v1/users",
    "/api/v1/users/{id}",
    "/api/v1/tokens",
    "/api/v1/tokens/{id}",
    "/api/v1/audit",
    "/api/v1/audit/verify",
    "/api/v1/districts",
    "/api/v1/org-units",
    "/api/v1/feedback",
    // City operations (crate cityops)
    "/api/v1/cityops/roadworks",
    "/api/v1/cityops/roadworks.geojson",
    "/api/v1/cityops/roadworks.ics",
    "/api/v1/cityops/roadworks.datex.xml",
    "/api/v1/cityops/roadworks/{id}",
    "/api/v1/cityops/roadworks/{id}/steps",
    "/api/v1/cityops/conflicts",
    "/api/v1/cityops/streets",
    "/api/v1/cityops/rules",
    "/api/v1/cityops/parking",
    "/api/v1/cityops/parking/alerts",
    "/api/v1/cityops/parking/table.datex.xml",
    "/api/v1/cityops/parking/status.datex.xml",
    "/api/v1/cityops/parking/{id}/forecast",
    "/api/v1/cityops/traffic/stations",
    "/api/v1/cityops/traffic/stations/{id}/flows",
    "/api/v1/cityops/traffic/modal-split",
    "/api/v1/cityops/traffic/measured.datex.xml",
    // Street lighting (cityops::lighting)
    "/api/v1/lighting/circuits",
    "/api/v1/lighting/poles",
    "/api/v1/lighting/luminaires",
    "/api/v1/lighting/schedules",
    "/api/v1/lighting/schedules/{id}/plan",
    "/api/v1/lighting/schedules/{id}/overrides",
    "/api/v1/lighting/overrides/{id}",
    "/api/v1/lighting/sun",
    "/api/v1/services",
    "/api/v1/services/{id}",
    "/api/v1/services/export",
    "/api/v1/services/import",
    "/api/v1/services/{id}/form",
    "/api/v1/applications/status",
    "/api/v1/cases",
    "/api/v1/cases/{id}",
    "/api/v1/lighting/energy",
    "/api/v1/lighting/reports",
    "/api/v1/lighting/faults",
    "/api/v1/lighting/faults/detect",
    "/api/v1/lighting/orders",
    "/api/v1/lighting/orders/{id}/steps",
    // Building energy (cityops::energy)
    "/api/v1/energy/buildings",
    "/api/v1/energy/meters",
    "/api/v1/energy/anomalies",
    "/api/v1/energy/factors",
    "/api/v1/energy/city",
];

async fn anonymous(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> TestResponse {
    let mut b = Request::builder().method(method).uri(path);
    let body = match body {
        Some(j) => {
            b = b.header(header::CONTENT_TYPE, "application/json");
            Body::from(j.to_string())
        }
        None => Body::empty(),
    };
    app.send(b.body(body).unwrap()).await
}

/// A JSON request from a signed-in browser (its session cookie rides along).
async fn as_browser(
    b: &Browser<'_>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> TestResponse {
    match body {
        Some(j) => {
            b.request(
                method,
                path,
                Some("application/json"),
                Body::from(j.to_string()),
            )
            .await
        }
        None => b.request(method, path, None, Body::empty()).await,
    }
}

fn assert_problem(r: &TestResponse, status: StatusCode, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.body);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/problem+json"),
        "{what}"
    );
    let p = r.json();
    assert_eq!(p["status"], status.as_u16(), "{what}");
    assert!(
        p["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{what}"
    );
}

async fn user_id(app: &TestApp, name: &str) -> i64 {
    platform::accounts::find_by_username(&app.env, name)
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn snapshot(app: &TestApp) -> String {
    let db = &app.env.db;
    let mut out = String::new();
    for u in store::accounts::list_users(db).await.unwrap() {
        let roles = store::accounts::roles_of(db, u.id).await.unwrap();
        out += &format!("{} {} {:?}\n", u.username, u.active, roles);
    }
    for t in store::accounts::list_tokens(db).await.unwrap() {
        out += &format!("token {} {:?}\n", t.id, t.revoked_at);
    }
    out
}

#[tokio::test]
async fn openapi_document_describes_every_v1_path() {
    let app = TestApp::new().await;
    let r = app.get("/api/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Stadtkern API");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let paths = doc["paths"].as_object().expect("paths");
    for p in V1_PATHS {
        assert!(paths.contains_key(*p), "OpenAPI lacks {p}");
    }
    let v1: Vec<&String> = paths.keys().filter(|k| k.starts_with("/api/v1/")).collect();
    assert_eq!(v1.len(), V1_PATHS.len(), "unexpected paths: {v1:?}");
    // Methods sit on the right paths, and schemas the operations refer to exist.
    assert!(doc["paths"]["/api/v1/users"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/users"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/tokens/{id}"]["delete"].is_object());
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for s in [
        "Me",
        "User",
        "NewUser",
        "TokenInfo",
        "CreatedToken",
        "AuditPage",
        "Problem",
    ] {
        assert!(schemas.contains_key(s), "schema {s} missing");
    }
    // Every `$ref` in the document resolves.
    let text = r.body.clone();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = piece.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "dangling $ref {name}");
    }
    // Later modules add their part: merging keeps the frame and adds the paths.
    let extra = utoipa::openapi::OpenApiBuilder::new()
        .paths(utoipa::openapi::PathsBuilder::new().path(
            "/sta/v1.1/Things",
            utoipa::openapi::PathItem::new(
                utoipa::openapi::HttpMethod::Get,
                utoipa::openapi::path::OperationBuilder::new().build(),
            ),
        ))
        .build();
    let merged = web::api::openapi_with(
        web::api::PARTS
            .iter()
            .map(|p| p())
            .chain(std::iter::once(extra)),
    );
    assert_eq!(merged.info.title, "Stadtkern API");
    assert!(merged.paths.paths.contains_key("/sta/v1.1/Things"));
    assert!(merged.paths.paths.contains_key("/api/v1/me"));
}

/// One admin endpoint with a body that would change something if it were accepted.
fn admin_endpoints(target: i64, token_id: i64) -> Vec<(Method, String, Option<Value>, StatusCode)> {
    vec![
        (Method::GET, "/api/v1/users".into(), None, StatusCode::OK),
        (
            Method::POST,
            "/api/v1/users".into(),
            Some(
                json!({ "username": "eindringling", "display_name": "E", "password": STRONG, "roles": ["admin"] }),
            ),
            StatusCode::CREATED,
        ),
        (
            Method::GET,
            format!("/api/v1/users/{target}"),
            None,
            StatusCode::OK,
        ),
        (Method::GET, "/api/v1/tokens".into(), None, StatusCode::OK),
        (
            Method::POST,
            "/api/v1/tokens".into(),
            Some(json!({ "name": "hintertür", "scopes": ["admin"] })),
            StatusCode::CREATED,
        ),
        (
            Method::DELETE,
            format!("/api/v1/tokens/{token_id}"),
            None,
            StatusCode::NO_CONTENT,
        ),
        (
            Method::GET,
            "/api/v1/audit?limit=5".into(),
            None,
            StatusCode::OK,
        ),
        (
            Method::GET,
            "/api/v1/audit/verify".into(),
            None,
            StatusCode::OK,
        ),
    ]
}

#[tokio::test]
async fn admin_endpoints_refuse_everyone_without_the_admin_scope() {
    let app = TestApp::new().await;
    let resident = signed_in(&app, "resi", &[Role::Resident], &[]).await;
    let staff = signed_in(&app, "sachb", &[Role::Staff], &[]).await;
    let admin_browser = signed_in(&app, "chefin", &[Role::Admin], &[]).await;
    person(&app, "target", &[Role::Staff], &[]).await;
    let target = user_id(&app, "target").await;
    let sensor = app.token(&["sta:write", "open311:submit"]).await;
    let admin = app.token(&["admin"]).await;
    let victim = platform::tokens::create(
        &app.env,
        &Actor::system(),
        "victim",
        &platform::tokens::parse_scopes(&["sta:read"]).unwrap(),
    )
    .await
    .unwrap()
    .id;
    let before = snapshot(&app).await;
    for (method, path, body, _) in admin_endpoints(target, victim) {
        let what = format!("{method} {path}");
        let r = anonymous(&app, method.clone(), &path, body.clone()).await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, &format!("anonymous {what}"));
        let r = app
            .with_token(method.clone(), &path, "stk_not-a-real-token", body.clone())
            .await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, &format!("bad token {what}"));
        let r = app
            .with_token(method.clone(), &path, &sensor, body.clone())
            .await;
        assert_problem(
            &r,
            StatusCode::FORBIDDEN,
            &format!("token without admin {what}"),
        );
        for (who, b) in [("resident", &resident), ("staff", &staff)] {
            let r = as_browser(b, method.clone(), &path, body.clone()).await;
            // A session counts for reads only; a write with just a cookie is anonymous.
            let expected = if method == Method::GET {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNAUTHORIZED
            };
            assert_problem(&r, expected, &format!("{who} {what}"));
        }
        // An admin's session does not make a cross-site write possible either.
        if method != Method::GET {
            let r = as_browser(&admin_browser, method.clone(), &path, body.clone()).await;
            assert_problem(
                &r,
                StatusCode::UNAUTHORIZED,
                &format!("admin cookie {what}"),
            );
        }
    }
    assert_eq!(
        snapshot(&app).await,
        before,
        "a refused request changed something"
    );

    for (method, path, body, ok) in admin_endpoints(target, victim) {
        let r = app.with_token(method.clone(), &path, &admin, body).await;
        assert_eq!(r.status, ok, "admin {method} {path}: {}", r.body);
    }
    // Signed-in admins may read through their session.
    let r = as_browser(&admin_browser, Method::GET, "/api/v1/users", None).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn a_person_may_read_their_own_account_only() {
    let app = TestApp::new().await;
    let resident = signed_in(&app, "resi", &[Role::Resident], &[]).await;
    person(&app, "other", &[Role::Resident], &[]).await;
    let own = user_id(&app, "resi").await;
    let other = user_id(&app, "other").await;
    let r = as_browser(
        &resident,
        Method::GET,
        &format!("/api/v1/users/{own}"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["username"], "resi");
    assert!(r.json().get("password_hash").is_none());
    let r = as_browser(
        &resident,
        Method::GET,
        &format!("/api/v1/users/{other}"),
        None,
    )
    .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "someone else's account");
    let admin = app.token(&["admin"]).await;
    let r = app
        .with_token(Method::GET, "/api/v1/users/987654", &admin, None)
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "unknown account");
    let r = app
        .with_token(Method::GET, "/api/v1/users/zwei", &admin, None)
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not a number");
}

#[tokio::test]
async fn me_tells_who_is_calling() {
    let app = TestApp::new().await;
    let r = app.get("/api/v1/me").await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "anonymous");
    let token = app.token(&["sta:write", "opendata:publish"]).await;
    let r = app
        .with_token(Method::GET, "/api/v1/me", &token, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let me = r.json();
    assert_eq!(me["kind"], "token");
    assert_eq!(me["name"], "test");
    assert_eq!(me["scopes"], json!(["sta:write", "opendata:publish"]));
    assert_eq!(me["roles"], json!([]));
    let b = signed_in(&app, "sachb", &[Role::Staff], &[]).await;
    let r = b.get("/api/v1/me").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["kind"], "user");
    assert_eq!(r.json()["name"], "sachb");
    assert_eq!(r.json()["roles"], json!(["staff"]));
    let r = app
        .with_token(Method::GET, "/api/v1/me", "garbage", None)
        .await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "garbage token");
}

#[tokio::test]
async fn tokens_are_shown_once_and_revoked_tokens_stop_working() {
    let app = TestApp::new().await;
    let admin = app.token(&["admin"]).await;
    let r = app
        .with_token(
            Method::POST,
            "/api/v1/tokens",
            &admin,
            Some(json!({ "name": "Parkhaus Nord", "scopes": ["sta:write"] })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let created = r.json();
    let token = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["scopes"], json!(["sta:write"]));

    let list = app
        .with_token(Method::GET, "/api/v1/tokens", &admin, None)
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        !list.body.contains(&token),
        "the list never carries a token"
    );
    let entry = list
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .cloned()
        .unwrap();
    assert_eq!(entry["active"], true);
    assert!(entry.get("token").is_none() && entry.get("token_hash").is_none());

    let me = app
        .with_token(Method::GET, "/api/v1/me", &token, None)
        .await;
    assert_eq!(me.status, StatusCode::OK);
    let r = app
        .with_token(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let me = app
        .with_token(Method::GET, "/api/v1/me", &token, None)
        .await;
    assert_problem(&me, StatusCode::UNAUTHORIZED, "revoked token");
    let r = app
        .with_token(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            &admin,
            None,
        )
        .await;
    assert_problem(&r, StatusCode::CONFLICT, "revoked twice");
    let r = app
        .with_token(Method::DELETE, "/api/v1/tokens/424242", &admin, None)
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "unknown token");

    let r = app
        .with_token(
            Method::POST,
            "/api/v1/tokens",
            &admin,
            Some(json!({ "name": "", "scopes": ["Nicht Gültig"] })),
        )
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "bad token request");
    let problem = r.json();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert!(
        fields.contains(&"name") && fields.contains(&"scopes"),
        "{fields:?}"
    );
}

#[tokio::test]
async fn users_api_creates_accounts_and_names_bad_fields() {
    let app = TestApp::new().await;
    let admin = app.token(&["admin"]).await;
    let r = app
        .with_token(
            Method::POST,
            "/api/v1/users",
            &admin,
            Some(json!({
                "username": "m.muster", "display_name": "Maria Muster",
                "email": "maria@example.org", "password": STRONG, "roles": ["staff"]
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let user = r.json();
    let id = user["id"].as_i64().unwrap();
    assert_eq!(r.location(), Some(format!("/api/v1/users/{id}")));
    assert_eq!(user["roles"], json!(["staff"]));
    assert_eq!(user["has_password"], true);
    let got = app
        .with_token(Method::GET, &format!("/api/v1/users/{id}"), &admin, None)
        .await;
    assert_eq!(got.json()["display_name"], "Maria Muster");
    let all = app
        .with_token(Method::GET, "/api/v1/users", &admin, None)
        .await;
    assert!(all.json().as_array().unwrap().iter().any(|u| u["id"] == id));

    let before = snapshot(&app).await;
    let cases = [
        (
            json!({ "username": "x y", "display_name": "", "email": "nope", "password": "kurz" }),
            StatusCode::BAD_REQUEST,
            vec!["username", "display_name", "email", "password"],
        ),
        (
            json!({ "username": "neu", "display_name": "Neu", "password": "password1234" }),
            StatusCode::BAD_REQUEST,
            vec!["password"],
        ),
        (
            json!({ "username": "neu", "display_name": "Neu", "roles": ["kaiser"] }),
            StatusCode::BAD_REQUEST,
            vec!["roles"],
        ),
        (
            json!({ "username": "neu", "display_name": "Neu", "org_units": [999] }),
            StatusCode::BAD_REQUEST,
            vec!["org_units"],
        ),
        (
            json!({ "username": "neu", "display_name": "Neu", "is_admin": true }),
            StatusCode::BAD_REQUEST,
            vec!["body"],
        ),
        (
            json!({ "username": "m.muster", "display_name": "Doppelt", "password": STRONG }),
            StatusCode::CONFLICT,
            vec![],
        ),
    ];
    for (body, status, fields) in cases {
        let r = app
            .with_token(Method::POST, "/api/v1/users", &admin, Some(body.clone()))
            .await;
        assert_problem(&r, status, &body.to_string());
        let got: Vec<String> = r.json()["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for f in fields {
            assert!(got.iter().any(|g| g == f), "{body}: {f} not in {got:?}");
        }
    }
    // Not JSON at all.
    let r = app
        .send(
            Request::post("/api/v1/users")
                .header("authorization", format!("Bearer {admin}"))
                .header("content-type", "application/json")
                .body(Body::from("{not json"))
                .unwrap(),
        )
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "malformed JSON");
    assert_eq!(
        snapshot(&app).await,
        before,
        "a refused request changed something"
    );
}

#[tokio::test]
async fn audit_api_pages_and_verifies() {
    let app = TestApp::new().await;
    let admin = app.token(&["admin"]).await;
    for i in 0..7 {
        platform::audit::record(
            &app.env,
            &Actor::system(),
            "test.event",
            &format!("thing:{i}"),
            json!({ "n": i }),
        )
        .await
        .unwrap();
    }
    let r = app
        .with_token(
            Method::GET,
            "/api/v1/audit?limit=3&action=test.",
            &admin,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let page = r.json();
    let objects: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["object"].as_str().unwrap())
        .collect();
    assert_eq!(objects, ["thing:6", "thing:5", "thing:4"]);
    assert_eq!(page["entries"][0]["details"], json!({ "n": 6 }));
    let next = page["next_before"].as_i64().expect("more pages");
    let r = app
        .with_token(
            Method::GET,
            &format!("/api/v1/audit?limit=3&action=test.&before={next}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(r.json()["entries"][0]["object"], "thing:3");
    for bad in ["limit=0", "limit=5000", "limit=abc", "before=-3"] {
        let r = app
            .with_token(Method::GET, &format!("/api/v1/audit?{bad}"), &admin, None)
            .await;
        assert_problem(&r, StatusCode::BAD_REQUEST, bad);
    }
    let v = app
        .with_token(Method::GET, "/api/v1/audit/verify", &admin, None)
        .await;
    assert_eq!(v.json()["intact"], true);
    assert!(v.json()["entries"].as_u64().unwrap() >= 7);
    app.env
        .db
        .raw_execute("UPDATE audit_log SET object = 'thing:x' WHERE seq = 3")
        .await
        .unwrap();
    let v = app
        .with_token(Method::GET, "/api/v1/audit/verify", &admin, None)
        .await;
    assert_eq!(v.json()["intact"], false);
    assert_eq!(v.json()["broken_at"], 3);
}

#[tokio::test]
async fn districts_and_org_units_are_public() {
    let app = TestApp::new().await;
    let mut tx = app.env.db.begin().await.unwrap();
    let square = json!({ "type": "Polygon", "coordinates": [[[7.4, 51.5], [7.5, 51.5], [7.5, 51.6], [7.4, 51.5]]] });
    store::city::upsert_district(&mut tx, 1, "Innenstadt-West", 53_000, &square)
        .await
        .unwrap();
    store::city::upsert_org_unit(
        &mut tx,
        &store::city::OrgUnit {
            id: 0,
            key: "tiefbauamt".into(),
            name: "Tiefbauamt".into(),
            parent_id: None,
            address: "Burgwall 14".into(),
            email: "tiefbau@example.org".into(),
            phone: String::new(),
            opening_hours: String::new(),
            accessibility: "stufenlos".into(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let r = app.get("/api/v1/districts").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/geo+json")
    );
    let fc = r.json();
    assert_eq!(fc["type"], "FeatureCollection");
    assert_eq!(fc["features"][0]["type"], "Feature");
    assert_eq!(fc["features"][0]["properties"]["name"], "Innenstadt-West");
    assert_eq!(fc["features"][0]["geometry"], square);
    let r = app.get("/api/v1/org-units").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()[0]["key"], "tiefbauamt");
    assert_eq!(r.json()[0]["accessibility"], "stufenlos");
}

#[tokio::test]
async fn feedback_api_stores_validates_and_is_rate_limited() {
    let app = TestApp::with_config(|c| c.http.public_writes_per_minute = 3).await;
    let good = json!({ "page": "/karte", "message": "Die Karte ist ohne Maus nicht bedienbar." });
    let r = anonymous(&app, Method::POST, "/api/v1/feedback", Some(good.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["status"], "open");
    let r = anonymous(
        &app,
        Method::POST,
        "/api/v1/feedback",
        Some(json!({ "message": "kurz", "contact": "kein-at" })),
    )
    .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "bad feedback");
    let problem = r.json();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["message", "contact"]);
    assert_eq!(store::feedback::list(&app.env.db).await.unwrap().len(), 1);
    let r = anonymous(&app, Method::POST, "/api/v1/feedback", Some(good.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = anonymous(&app, Method::POST, "/api/v1/feedback", Some(good)).await;
    assert_problem(
        &r,
        StatusCode::TOO_MANY_REQUESTS,
        "fourth write within a minute",
    );
    assert!(r.header("retry-after").is_some());
    assert_eq!(store::feedback::list(&app.env.db).await.unwrap().len(), 2);
}
