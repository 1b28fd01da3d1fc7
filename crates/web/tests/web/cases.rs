//! Online application through the pages: apply with an attachment, errors in the summary, the
//! resident's case, online payment through the provider simulator, staff decide, the resident
//! sees the decision; resident B and staff of another org unit see nothing.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use kern::Role;
use platform::Actor;
use serde_json::json;
use web::testing::TestApp;

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";

fn multipart(fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--XB\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some((name, file_name, bytes)) = file {
        body.extend_from_slice(
            format!("--XB\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--XB--\r\n");
    body
}

async fn simulator() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = web::paysim::router(web::paysim::SimState::new(base.clone()));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    base
}

#[tokio::test]
async fn apply_pay_online_decide_and_see_it() {
    let sim = simulator().await;
    let sink = platform::mail::testing::SmtpSink::start().await;
    let app = TestApp::with_config(|c| {
        c.payment.provider_url = Some(sim.clone());
        c.mail.smtp_url = Some(sink.url.clone());
    })
    .await;
    let id = crate::demo_catalog(&app).await["99108001001000"];
    let def = json!({
        "schema": { "type": "object", "properties": { "anzahl": { "type": "integer", "minimum": 1, "maximum": 5 } }, "required": ["anzahl"] },
        "layout": { "groups": [{ "id": "hund", "title": { "de": "Ihr Hund", "en": "Your dog" },
            "fields": [{ "name": "anzahl", "label": { "de": "Anzahl der Hunde", "en": "Number of dogs" } }] }] },
        "attachments": [{ "name": "nachweis", "label": { "de": "Nachweis" }, "required": true, "types": ["application/pdf"], "max_bytes": 1048576 }],
        "fee": { "kind": "fixed", "cents": 9600 }
    });
    services::cases::set_form(&app.env, &Actor::system(), id, &def, 365)
        .await
        .unwrap();
    let ou = services::catalog::get(&app.env, id)
        .await
        .unwrap()
        .org_unit_id
        .unwrap();

    let erika = app.browser_as("erika", &[Role::Resident], &[]).await;
    let page = erika.get(&format!("/leistungen/{id}/antrag")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("for=\"f-anzahl\"") && page.body.contains("Anzahl der Hunde"));
    let csrf = erika.csrf().await;

    // Missing attachment and a number out of range: 400, error summary linking to the fields.
    let bad = multipart(
        &[
            ("csrf", &csrf),
            ("applicant_name", "Erika"),
            ("applicant_email", "erika@example.org"),
            ("anzahl", "9"),
            ("action", "submit"),
        ],
        None,
    );
    let r = erika
        .request(
            Method::POST,
            &format!("/leistungen/{id}/antrag"),
            Some("multipart/form-data; boundary=XB"),
            Body::from(bad),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.body.contains("error-summary") && r.body.contains("href=\"#f-anzahl\""),
        "{}",
        r.body
    );
    assert!(r.body.contains("value=\"9\""), "what was typed stays");

    let good = multipart(
        &[
            ("csrf", &csrf),
            ("applicant_name", "Erika"),
            ("applicant_email", "erika@example.org"),
            ("anzahl", "1"),
            ("action", "submit"),
        ],
        Some(("nachweis", "nachweis.pdf", PDF)),
    );
    let r = erika
        .request(
            Method::POST,
            &format!("/leistungen/{id}/antrag"),
            Some("multipart/form-data; boundary=XB"),
            Body::from(good),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.contains("A-") && r.body.contains("<svg"),
        "reference and GiroCode shown"
    );

    let user = store::accounts::user_by_username(&app.env.db, "erika")
        .await
        .unwrap()
        .unwrap();
    let case = store::cases::cases_of_user(&app.env.db, user.id)
        .await
        .unwrap()
        .remove(0);
    let invoice = store::cases::invoices_of_case(&app.env.db, case.id)
        .await
        .unwrap()
        .remove(0);
    // The confirmation goes out over SMTP (a local sink) with the reference.
    platform::mail::deliver_pending(&app.env, 50).await.unwrap();
    let mails = sink.received();
    assert!(
        mails
            .iter()
            .any(|m| m.to == vec!["<erika@example.org>".to_string()]
                && m.data.contains(&case.reference)),
        "{mails:?}"
    );
    assert!(erika.get("/antraege").await.body.contains(&case.reference));
    let mine = erika.get(&format!("/antraege/{}", case.id)).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);

    // Resident B and staff of another unit: not found.
    let other = app.browser_as("otto", &[Role::Resident], &[]).await;
    assert_eq!(
        other.get(&format!("/antraege/{}", case.id)).await.status,
        StatusCode::NOT_FOUND
    );
    let mut other_ou = 0;
    for o in platform::demo::org_units() {
        let u = store::city::org_unit_by_key(&app.env.db, &o.key)
            .await
            .unwrap()
            .unwrap();
        if u.id != ou {
            other_ou = u.id;
        }
    }
    let stranger = app.browser_as("fremd", &[Role::Staff], &[other_ou]).await;
    assert_eq!(
        stranger
            .get(&format!("/staff/vorgaenge/{}", case.id))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert!(
        !stranger
            .get("/staff/vorgaenge")
            .await
            .body
            .contains(&case.reference)
    );

    // Online payment: redirect to the provider, pay there, come back.
    let r = erika
        .post_form(
            &format!("/antraege/{}/bezahlen", case.id),
            &[("invoice_id", &invoice.id.to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let pay_page = r.location().unwrap();
    assert!(pay_page.starts_with(&sim));
    // A second click resumes the same transaction.
    let r2 = erika
        .post_form(
            &format!("/antraege/{}/bezahlen", case.id),
            &[("invoice_id", &invoice.id.to_string())],
        )
        .await;
    assert_eq!(r2.location().as_deref(), Some(pay_page.as_str()));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let back = client
        .post(&pay_page)
        .form(&[("action", "pay")])
        .send()
        .await
        .unwrap();
    assert_eq!(back.status().as_u16(), 303);
    let back = back.headers()["location"].to_str().unwrap().to_string();
    let path = &back[back.find("/antraege/zahlung").unwrap()..];
    let r = erika.get(path).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("96,00"), "{}", r.body);
    // Returning again books nothing twice.
    erika.get(path).await;
    let inv = store::cases::invoices_of_case(&app.env.db, case.id)
        .await
        .unwrap()
        .remove(0);
    assert_eq!((inv.status.as_str(), inv.paid_cents), ("paid", 9600));

    // Staff of the unit decide; the resident sees it.
    let clerk = app.browser_as("clerk", &[Role::Staff], &[ou]).await;
    assert!(
        clerk
            .get("/staff/vorgaenge")
            .await
            .body
            .contains(&case.reference)
    );
    clerk.get(&format!("/staff/vorgaenge/{}", case.id)).await;
    let r = clerk
        .post_form(
            &format!("/staff/vorgaenge/{}", case.id),
            &[
                ("action", "decide"),
                ("outcome", "approved"),
                ("reasons", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "reasons are required");
    let r = clerk
        .post_form(
            &format!("/staff/vorgaenge/{}", case.id),
            &[
                ("action", "decide"),
                ("outcome", "approved"),
                ("reasons", "Vollständig."),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let seen = erika.get(&format!("/antraege/{}", case.id)).await;
    assert!(
        seen.body.contains("bewilligt") && seen.body.contains("Bescheid"),
        "{}",
        seen.body
    );
    // And is told by e-mail.
    platform::mail::deliver_pending(&app.env, 50).await.unwrap();
    assert!(
        sink.received()
            .iter()
            .any(|m| m.data.contains("Bescheid") && m.data.contains(&case.reference)),
        "the decision mail reached the sink"
    );
}

#[tokio::test]
async fn the_json_api_follows_applications_behind_its_gates() {
    use axum::http::{Request, header};
    let app = TestApp::new().await;
    let ids = crate::demo_catalog(&app).await;
    let dog = ids["99108001001000"];
    let def = json!({
        "schema": { "type": "object", "properties": { "anzahl": { "type": "integer", "minimum": 1 } }, "required": ["anzahl"] },
        "layout": { "groups": [{ "id": "hund", "title": { "de": "Ihr Hund" },
            "fields": [{ "name": "anzahl", "label": { "de": "Anzahl der Hunde" } }] }] },
        "fee": { "kind": "fixed", "cents": 1500 },
        "workflow": { "labels": { "received": { "de": "Antrag liegt vor" } } }
    });
    services::cases::set_form(&app.env, &Actor::system(), dog, &def, 365)
        .await
        .unwrap();

    // The form definition is public; a service without a form answers 404 as a problem.
    let r = app.get(&format!("/api/v1/services/{dog}/form")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.json()["definition"]["schema"]["required"],
        json!(["anzahl"])
    );
    let other = ids["99102013001000"];
    let r = app.get(&format!("/api/v1/services/{other}/form")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/problem+json"))
    );

    let pw = app.user("erika", &[Role::Resident], &[]).await;
    let user = store::accounts::user_by_username(&app.env.db, "erika")
        .await
        .unwrap()
        .unwrap();
    let principal = platform::accounts::principal_of(&app.env, &user)
        .await
        .unwrap();
    let done = services::cases::submit(
        &app.env,
        &Actor::new(principal, "127.0.0.1"),
        services::cases::Application {
            service_id: dog,
            applicant_name: "Erika Mustermann".into(),
            applicant_email: "erika@example.org".into(),
            data: json!({ "anzahl": 1 }),
            attachments: Vec::new(),
        },
    )
    .await
    .unwrap();
    let status = |body: serde_json::Value| {
        Request::post("/api/v1/applications/status")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let r = app
        .send(status(
            json!({ "reference": done.case.reference, "code": done.secret }),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let a = r.json();
    assert_eq!(a["status"], "received");
    assert_eq!(a["status_label"]["de"], "Antrag liegt vor");
    assert_eq!(a["invoices"][0]["amount_cents"], 1500);
    assert!(
        a["invoices"][0]["reference"]
            .as_str()
            .unwrap()
            .starts_with("RF")
    );
    let r = app
        .send(status(
            json!({ "reference": done.case.reference, "code": "FALSCH" }),
        ))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .send(status(
            json!({ "reference": done.case.reference, "code": done.secret, "x": 1 }),
        ))
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "unknown fields are refused"
    );
    let r = app
        .send(status(json!({ "reference": done.case.reference })))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // The inbox and the case file: anonymous 401, residents 403 / only their own case, staff of
    // other units see nothing, admin tokens everything.
    let case_path = format!("/api/v1/cases/{}", done.case.id);
    assert_eq!(
        app.get("/api/v1/cases").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get(&case_path).await.status, StatusCode::UNAUTHORIZED);
    let erika = app.browser();
    erika.login("erika", &pw).await;
    assert_eq!(
        erika.get("/api/v1/cases").await.status,
        StatusCode::FORBIDDEN
    );
    let own = erika.get(&case_path).await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(
        own.json()["history"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["public"] == true)
    );
    assert_eq!(own.json()["deadline"], serde_json::Value::Null);
    let bodo = app.browser_as("bodo", &[Role::Resident], &[]).await;
    assert_eq!(bodo.get(&case_path).await.status, StatusCode::NOT_FOUND);
    let foreign = app.browser_as("fremd", &[Role::Staff], &[]).await;
    assert_eq!(foreign.get("/api/v1/cases").await.json(), json!([]));
    assert_eq!(foreign.get(&case_path).await.status, StatusCode::NOT_FOUND);
    let admin = app.token(&["admin"]).await;
    let r = app
        .with_token(Method::GET, "/api/v1/cases?status=received", &admin, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()[0]["reference"], done.case.reference.as_str());
    let r = app
        .with_token(Method::GET, "/api/v1/cases?status=erledigt", &admin, None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app.with_token(Method::GET, &case_path, &admin, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["answers"][0][1], "1");

    // The operations are described in the OpenAPI document.
    let spec = app.get("/api/openapi.json").await.json();
    for p in [
        "/api/v1/services/{id}/form",
        "/api/v1/applications/status",
        "/api/v1/cases",
        "/api/v1/cases/{id}",
    ] {
        assert!(
            spec["paths"][p].is_object(),
            "{p} missing from the OpenAPI document"
        );
    }
}
