//! The resident's own account: overview, data export, deletion (with its refusals), and what
//! stays of their applications afterwards.

use axum::http::StatusCode;
use kern::Role;
use platform::Actor;
use serde_json::json;
use web::testing::TestApp;

async fn case_of(app: &TestApp, username: &str) -> services::cases::Submitted {
    let id = crate::demo_catalog(app).await["99108001001000"];
    let def = json!({
        "schema": { "type": "object", "properties": { "anzahl": { "type": "integer", "minimum": 1 } }, "required": ["anzahl"] },
        "layout": { "groups": [{ "id": "hund", "title": { "de": "Ihr Hund" },
            "fields": [{ "name": "anzahl", "label": { "de": "Anzahl der Hunde" } }] }] }
    });
    services::cases::set_form(&app.env, &Actor::system(), id, &def, 365)
        .await
        .unwrap();
    let user = store::accounts::user_by_username(&app.env.db, username)
        .await
        .unwrap()
        .unwrap();
    let principal = platform::accounts::principal_of(&app.env, &user)
        .await
        .unwrap();
    services::cases::submit(
        &app.env,
        &Actor::new(principal, "127.0.0.1"),
        services::cases::Application {
            service_id: id,
            applicant_name: "Erika Mustermann".into(),
            applicant_email: "erika@example.org".into(),
            data: json!({ "anzahl": 2 }),
            attachments: Vec::new(),
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_resident_sees_exports_and_deletes_their_account() {
    let app = TestApp::new().await;
    let r = app.browser().get("/konto").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location().as_deref(), Some("/login?next=%2Fkonto"));
    let r = app.browser().get("/konto/daten").await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "no export without a session"
    );

    let password = app.user("erika", &[Role::Resident], &[]).await;
    let erika = app.browser();
    assert_eq!(
        erika.login("erika", &password).await.status,
        StatusCode::SEE_OTHER
    );
    let done = case_of(&app, "erika").await;
    let reference = done.case.reference.clone();

    let page = erika.get("/konto").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&reference) && page.body.contains("href=\"/konto/daten\""));
    assert!(page.body.contains("aria-current=\"page\">Mein Konto"));

    let export = erika.get("/konto/daten").await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(
        export
            .header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment;"))
    );
    assert_eq!(export.header("cache-control").as_deref(), Some("no-store"));
    let data = export.json();
    assert_eq!(data["account"]["username"], "erika");
    assert_eq!(data["applications"][0]["reference"], reference.as_str());
    assert_eq!(data["applications"][0]["answers"]["anzahl"], 2);
    assert!(data["sessions"].as_array().is_some_and(|s| !s.is_empty()));
    assert!(!export.body.contains("argon2") && !export.body.contains("secret_hash"));

    // Another resident's export holds nothing of Erika's.
    let bodo = app.browser_as("bodo", &[Role::Resident], &[]).await;
    let other = bodo.get("/konto/daten").await;
    assert!(!other.body.contains(&reference));
    assert_eq!(other.json()["applications"], json!([]));

    // Deletion: not without CSRF, not without confirmation, not with a wrong password.
    let r = erika
        .post_form_raw(
            "/konto/loeschen",
            &[("confirm", "ja"), ("password", &password)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    erika.get("/konto").await;
    let r = erika
        .post_form("/konto/loeschen", &[("password", &password)])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("error-summary") && r.body.contains("href=\"#field-confirm\""));
    let r = erika
        .post_form(
            "/konto/loeschen",
            &[("confirm", "ja"), ("password", "falsch")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("href=\"#field-password\""));
    assert!(
        store::accounts::user_by_username(&app.env.db, "erika")
            .await
            .unwrap()
            .is_some(),
        "a refused deletion deletes nothing"
    );

    // Staff accounts are deleted by the administration only.
    let staff_pw = app.user("sachb", &[Role::Staff], &[]).await;
    let staff = app.browser();
    staff.login("sachb", &staff_pw).await;
    let page = staff.get("/konto").await;
    assert!(!page.body.contains("action=\"/konto/loeschen\""));
    let r = staff
        .post_form(
            "/konto/loeschen",
            &[("confirm", "ja"), ("password", &staff_pw)],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    let r = erika
        .post_form(
            "/konto/loeschen",
            &[("confirm", "ja"), ("password", &password)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location().as_deref(), Some("/"));
    assert!(
        store::accounts::user_by_username(&app.env.db, "erika")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(erika.get("/konto").await.status, StatusCode::SEE_OTHER);
    // The application stays with the administration, without the link to the account, and the
    // resident still reaches it with reference and access code.
    let c = store::cases::case(&app.env.db, done.case.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.user_id, None);
    let v = services::cases::view_with_secret(&app.env, &Actor::system(), &reference, &done.secret)
        .await
        .unwrap();
    assert_eq!(v.reference, reference);
}
