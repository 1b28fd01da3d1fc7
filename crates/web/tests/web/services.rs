//! The service catalog over HTTP: the JSON API with authorisation and problem documents for bad
//! input, imports that write nothing when they fail, the public search and service pages, and
//! the staff pages with their forms and the upload.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use kern::Role;
use serde_json::json;
use web::testing::TestApp;

const XZUFI: &[u8] = include_bytes!("../../../services/tests/fixtures/xzufi-sample.xml");

async fn app() -> TestApp {
    let app = TestApp::new().await;
    let mut tx = app.env.db.begin().await.unwrap();
    for o in platform::demo::org_units() {
        store::city::upsert_org_unit(&mut tx, &o).await.unwrap();
    }
    tx.commit().await.unwrap();
    app
}

async fn unit(app: &TestApp, key: &str) -> i64 {
    store::city::org_unit_by_key(&app.env.db, key)
        .await
        .unwrap()
        .unwrap()
        .id
}

fn dog_tax() -> serde_json::Value {
    json!({ "leika": "99108001001000", "name": "Hundesteuer an- und abmelden",
            "description": "Wer einen Hund hält, zahlt Hundesteuer.",
            "documents": ["Nachweis über die Abgabe"], "fee_text": "156,00 Euro je Jahr",
            "legal_basis": ["Hundesteuersatzung"], "processing_time": "2 Wochen",
            "online": true, "in_person": true, "org_unit": "stadtkaemmerei",
            "keywords": "Hund Hundemarke" })
}

fn raw(method: Method, path: &str, ct: &str, token: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", ct);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn api_authorisation_validation_search_and_import() {
    let app = app().await;
    let writer = app.token(&["services:write"]).await;
    let other = app.token(&["sta:write"]).await;
    let body = dog_tax().to_string().into_bytes();
    let post = |t: Option<&str>| {
        raw(
            Method::POST,
            "/api/v1/services",
            "application/json",
            t,
            body.clone(),
        )
    };
    assert_eq!(app.send(post(None)).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.send(post(Some(&other))).await.status,
        StatusCode::FORBIDDEN
    );
    // Bad input: a problem document naming the fields; nothing written.
    let bad = app
        .with_token(
            Method::POST,
            "/api/v1/services",
            &writer,
            Some(json!({ "leika": "123", "name": "", "in_person": false })),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.header("content-type")
            .unwrap()
            .starts_with("application/problem+json")
    );
    assert!(bad.body.contains("leika"), "{}", bad.body);
    let unknown = app
        .with_token(
            Method::POST,
            "/api/v1/services",
            &writer,
            Some(json!({ "leika": "99108001001000", "name": "X", "colour": 1 })),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.get("/api/v1/services").await.json(), json!([]));

    let created = app.send(post(Some(&writer))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.json()["id"].as_i64().unwrap();
    let one = app.get(&format!("/api/v1/services/{id}")).await.json();
    assert_eq!(one["org_unit"]["key"], "stadtkaemmerei");
    assert!(
        one["org_unit"]["address"]
            .as_str()
            .unwrap()
            .contains("Friedensplatz")
    );
    assert_eq!(
        app.get("/api/v1/services/999999").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/services/abc").await.status,
        StatusCode::NOT_FOUND
    );
    let hits = app.get("/api/v1/services?q=hundesteur").await.json();
    assert_eq!(hits[0]["id"], id);
    assert!(hits[0]["score"].as_f64().unwrap() > 0.0);
    assert_eq!(
        app.get("/api/v1/services?limit=0").await.status,
        StatusCode::BAD_REQUEST
    );

    // Change and delete: not for other tokens.
    let mut changed = dog_tax();
    changed["fee_text"] = json!("160,00 Euro je Jahr");
    let path = format!("/api/v1/services/{id}");
    assert_eq!(
        app.with_token(Method::PUT, &path, &other, Some(changed.clone()))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.with_token(Method::DELETE, &path, &other, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.with_token(Method::PUT, &path, &writer, Some(changed))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&path).await.json()["fee_text"],
        "160,00 Euro je Jahr"
    );

    // Imports: XZuFi and JSON, all or nothing, only for the scope.
    let import = |ct: &str, t: Option<&str>, b: Vec<u8>| {
        raw(Method::POST, "/api/v1/services/import", ct, t, b)
    };
    assert_eq!(
        app.send(import("application/xml", None, XZUFI.to_vec()))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.send(import("application/xml", Some(&other), XZUFI.to_vec()))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let broken = &XZUFI[..XZUFI.len() / 2];
    let r = app
        .send(import("application/xml", Some(&writer), broken.to_vec()))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("file"), "{}", r.body);
    assert_eq!(
        app.get("/api/v1/services")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = app
        .send(import("text/plain", Some(&writer), XZUFI.to_vec()))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .send(import("application/xml", Some(&writer), XZUFI.to_vec()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.json()["created"].as_u64().unwrap() >= 2);
    let export = app.get("/api/v1/services/export").await.json();
    assert_eq!(export["format"], "stadtkern-services/1");
    let n = export["services"].as_array().unwrap().len();
    let r = app
        .send(import(
            "application/json",
            Some(&writer),
            export.to_string().into_bytes(),
        ))
        .await;
    assert_eq!(r.json()["updated"].as_u64().unwrap() as usize, n);
    let spec = app.get("/api/openapi.json").await.json();
    assert!(spec["paths"]["/api/v1/services/import"]["post"].is_object());
}

#[tokio::test]
async fn public_pages_search_and_show_the_office() {
    let app = app().await;
    for s in services::demo::services() {
        services::catalog::create(&app.env, &platform::Actor::system(), s)
            .await
            .unwrap();
    }
    let page = app.get("/leistungen?q=Anwohnerparken").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Bewohnerparkausweis beantragen"));
    assert!(page.body.contains("<label for=\"field-q\""));
    let list = app.get("/leistungen").await;
    assert!(list.body.contains("Sperrmüllabholung anmelden"));
    assert!(list.body.contains("id=\"letter-H\""));
    let long = "x".repeat(300);
    let bad = app.get(&format!("/leistungen?q={long}")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("error-summary"));
    let id = services::catalog::search(&app.env, "Hundesteuer", 1)
        .await
        .unwrap()[0]
        .service
        .id;
    let one = app.get(&format!("/leistungen/{id}")).await;
    assert_eq!(one.status, StatusCode::OK);
    assert!(one.body.contains("Stadtkämmerei und Stadtkasse"));
    assert!(one.body.contains("Friedensplatz 5"));
    assert!(one.body.contains("Hundesteuersatzung der Stadt"));
    assert!(!one.body.contains("/staff/leistungen/"));
    assert_eq!(
        app.get("/leistungen/424242").await.status,
        StatusCode::NOT_FOUND
    );
    let en = app
        .send(
            Request::get(format!("/leistungen/{id}"))
                .header("accept-language", "en")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(en.body.contains("Responsible office"));
}

#[tokio::test]
async fn staff_pages_edit_only_their_org_units_and_import_uploads() {
    let app = app().await;
    for s in services::demo::services() {
        services::catalog::create(&app.env, &platform::Actor::system(), s)
            .await
            .unwrap();
    }
    let id = services::catalog::search(&app.env, "Hundesteuer", 1)
        .await
        .unwrap()[0]
        .service
        .id;
    let r = app.get("/staff/leistungen").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let resident = app.browser_as("buerger", &[Role::Resident], &[]).await;
    assert_eq!(
        resident.get("/staff/leistungen").await.status,
        StatusCode::FORBIDDEN
    );
    let kasse = unit(&app, "stadtkaemmerei").await;
    let ordnung = unit(&app, "ordnungsamt").await;
    let foreign = app.browser_as("ordnung", &[Role::Staff], &[ordnung]).await;
    assert_eq!(
        foreign.get(&format!("/staff/leistungen/{id}")).await.status,
        StatusCode::FORBIDDEN
    );
    foreign.get("/staff/leistungen").await;
    let r = foreign
        .post_form(&format!("/staff/leistungen/{id}/loeschen"), &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let b = app.browser_as("kasse", &[Role::Staff], &[kasse]).await;
    let form = b.get(&format!("/staff/leistungen/{id}")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("99108001001000"));
    let fields = |fee: &'static str, leika: &'static str| {
        vec![
            ("leika", leika),
            ("name", "Hundesteuer an- und abmelden"),
            ("description", "Wer einen Hund hält, zahlt Hundesteuer."),
            ("documents", "Nachweis über die Abgabe\n\nErlaubnis"),
            ("fee_text", ""),
            ("fee_euro", fee),
            ("legal_basis", "Hundesteuersatzung"),
            ("processing_time", "2 Wochen"),
            ("online", "1"),
            ("in_person", "1"),
            ("org_unit", "stadtkaemmerei"),
            ("keywords", "Hund"),
            ("duration_min", "10"),
        ]
    };
    let bad = b
        .post_form(&format!("/staff/leistungen/{id}"), &fields("12,345", "12"))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("error-summary"));
    assert!(bad.body.contains("href=\"#field-leika\""));
    assert!(bad.body.contains("href=\"#field-fee_cents\"") || bad.body.contains("Gebühr"));
    let unchanged = services::catalog::get(&app.env, id).await.unwrap();
    assert_eq!(unchanged.leika, "99108001001000");
    let ok = b
        .post_form(
            &format!("/staff/leistungen/{id}"),
            &fields("156,00", "99108001001000"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let s = services::catalog::get(&app.env, id).await.unwrap();
    assert_eq!(s.fee_cents, Some(15600));
    assert_eq!(s.documents, vec!["Nachweis über die Abgabe", "Erlaubnis"]);
    // A staff member cannot import (admins or the scope only); an admin can, as an upload.
    let admin = app.browser_as("admin", &[Role::Admin], &[]).await;
    admin.get("/staff/leistungen").await;
    let upload = |csrf: &str, data: &[u8]| {
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--XB\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--XB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"leistungen.xml\"\r\nContent-Type: application/xml\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n--XB--\r\n");
        body
    };
    let before = services::catalog::list(&app.env).await.unwrap().len();
    let snapshot = services::catalog::export(&app.env).await.unwrap();
    let token = admin.csrf().await;
    let r = admin
        .request(
            Method::POST,
            "/staff/leistungen/import",
            Some("multipart/form-data; boundary=XB"),
            Body::from(upload(&token, b"<kaputt")),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("error-summary"));
    assert_eq!(services::catalog::export(&app.env).await.unwrap(), snapshot);
    let token = admin.csrf().await;
    let r = admin
        .request(
            Method::POST,
            "/staff/leistungen/import",
            Some("multipart/form-data; boundary=XB"),
            Body::from(upload(&token, XZUFI)),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // The sample's LeiKa keys are in the demo catalog: they were updated, none added.
    assert_eq!(
        services::catalog::list(&app.env).await.unwrap().len(),
        before
    );
    assert_ne!(services::catalog::export(&app.env).await.unwrap(), snapshot);
    // Without the CSRF token the upload is refused.
    let r = admin
        .request(
            Method::POST,
            "/staff/leistungen/import",
            Some("multipart/form-data; boundary=XB"),
            Body::from(upload("falsch", XZUFI)),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let staff_upload = b.csrf().await;
    let r = b
        .request(
            Method::POST,
            "/staff/leistungen/import",
            Some("multipart/form-data; boundary=XB"),
            Body::from(upload(&staff_upload, XZUFI)),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
