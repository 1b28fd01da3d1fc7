//! Appointments over HTTP: choosing a time and booking without JavaScript, managing with
//! reference and code in the POST body only, the call display without names, and the staff day
//! view behind its org-unit gate.

use axum::http::StatusCode;
use kern::Role;
use platform::Actor;
use services::appointments::{self, NewOffice, Opening};
use web::testing::TestApp;

/// The demo org units, the demo catalog and one office of the Bürgerdienste (one counter)
/// offering the registration certificate (10 minutes). Returns (office, service).
async fn app() -> (TestApp, i64, i64) {
    let app = TestApp::new().await;
    let cert = crate::demo_catalog(&app).await["99115005001000"];
    let o = appointments::create_office(
        &app.env,
        &Actor::system(),
        NewOffice {
            org_unit: "buergerdienste".into(),
            name: "Bürgerbüro Mitte".into(),
            address: String::new(),
            counters: 1,
            slot_min: 10,
            opening: (1..=7)
                .map(|d| Opening {
                    weekday: d,
                    open: "08:00".into(),
                    close: "16:00".into(),
                })
                .collect(),
        },
    )
    .await
    .unwrap();
    appointments::offer(&app.env, &Actor::system(), o, cert, 10)
        .await
        .unwrap();
    (app, o, cert)
}

fn between<'a>(body: &'a str, after: &str, before: &str) -> &'a str {
    let i = body.find(after).map(|i| i + after.len()).unwrap_or(0);
    let rest = &body[i..];
    &rest[..rest.find(before).unwrap_or(rest.len())]
}

#[tokio::test]
async fn residents_book_move_and_cancel_without_secrets_in_urls() {
    let (app, o, cert) = app().await;
    let b = app.browser();
    let wahl = format!("{o}:{cert}");
    let page = b.get(&format!("/termine?wahl={wahl}&tag=")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("name=\"start\""), "{}", page.body);
    let start = between(&page.body, "name=\"start\" value=\"", "\"").to_string();
    // Missing name and e-mail: error summary, nothing booked.
    let bad = b
        .post_form(
            "/termine/buchen",
            &[
                ("wahl", &wahl),
                ("start", &start),
                ("name", ""),
                ("email", "x"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("error-summary"));
    assert!(bad.body.contains("href=\"#field-email\""));
    let ok = b
        .post_form(
            "/termine/buchen",
            &[
                ("wahl", &wahl),
                ("start", &start),
                ("name", "Ilse Weber"),
                ("email", "ilse@example.org"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let reference = between(&ok.body, "<dd><strong>", "</strong>").to_string();
    assert!(reference.starts_with("T-"));
    let code = between(
        &ok.body[ok.body.find(&reference).unwrap()..],
        "<dd><strong>",
        "</strong>",
    )
    .to_string();
    assert_eq!(code.len(), 8);
    // The same time again: 409 with the error on the time.
    let again = b
        .post_form(
            "/termine/buchen",
            &[
                ("wahl", &wahl),
                ("start", &start),
                ("name", "Karl Otto"),
                ("email", "karl@example.org"),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("href=\"#field-start\""));
    // Managing: wrong code is a 404 page; the right one shows the appointment.
    let wrong = b
        .post_form(
            "/termine/verwalten",
            &[("reference", &reference), ("code", "ZZZZZZZZ")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
    let shown = b
        .post_form(
            "/termine/verwalten",
            &[("reference", &reference), ("code", &code)],
        )
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.contains("action=\"/termine/verschieben\""));
    // No form sends the code in a URL: every form carrying it is a POST.
    for form in shown.body.split("<form").skip(1) {
        if form.contains(&code) {
            assert!(form.contains("method=\"post\""), "{form}");
        }
    }
    let new_start = between(
        &shown.body[shown.body.find("/termine/verschieben").unwrap()..],
        "name=\"start\" value=\"",
        "\"",
    )
    .to_string();
    let moved = b
        .post_form(
            "/termine/verschieben",
            &[
                ("reference", &reference),
                ("code", &code),
                ("start", &new_start),
            ],
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let a = appointments::find(&app.env, &platform::Actor::system(), &reference, &code)
        .await
        .unwrap();
    assert_eq!(a.starts_at.to_rfc3339(), new_start);
    let cancelled = b
        .post_form(
            "/termine/absagen",
            &[("reference", &reference), ("code", &code)],
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::SEE_OTHER);
    assert_eq!(
        appointments::find(&app.env, &platform::Actor::system(), &reference, &code)
            .await
            .unwrap()
            .state,
        "cancelled"
    );
    // Without the CSRF token nothing happens.
    let forged = b
        .post_form_raw(
            "/termine/absagen",
            &[("reference", &reference), ("code", &code)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn staff_day_view_tickets_and_display() {
    let (app, o, cert) = app().await;
    let bd = store::city::org_unit_by_key(&app.env.db, "buergerdienste")
        .await
        .unwrap()
        .unwrap()
        .id;
    let om = store::city::org_unit_by_key(&app.env.db, "ordnungsamt")
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(
        app.get("/staff/termine").await.status,
        StatusCode::SEE_OTHER
    );
    let resident = app.browser_as("bewohner", &[Role::Resident], &[]).await;
    assert_eq!(
        resident.get("/staff/termine").await.status,
        StatusCode::FORBIDDEN
    );
    let foreign = app.browser_as("ordnung", &[Role::Staff], &[om]).await;
    assert_eq!(
        foreign
            .get(&format!("/staff/termine?standort={o}"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    foreign.get("/staff/termine").await;
    let r = foreign
        .post_form(
            "/staff/termine/wartenummer",
            &[("standort", &o.to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let staff = app.browser_as("buergerbuero", &[Role::Staff], &[bd]).await;
    // Assisted booking through the public form: no e-mail needed, recorded as such.
    let wahl = format!("{o}:{cert}");
    let page = staff.get(&format!("/termine?wahl={wahl}")).await;
    let start = between(&page.body, "name=\"start\" value=\"", "\"").to_string();
    let booked = staff
        .post_form(
            "/termine/buchen",
            &[
                ("wahl", &wahl),
                ("start", &start),
                ("name", "Max Anrufer"),
                ("email", ""),
            ],
        )
        .await;
    assert_eq!(booked.status, StatusCode::OK, "{}", booked.body);
    assert!(
        booked
            .body
            .contains("für eine Bürgerin oder einen Bürger vermerkt")
    );
    let day = services::appointments::local_day(
        chrono::DateTime::parse_from_rfc3339(&start).unwrap().into(),
    );
    let view = staff
        .get(&format!("/staff/termine?standort={o}&tag={day}"))
        .await;
    assert_eq!(view.status, StatusCode::OK);
    assert!(view.body.contains("Max Anrufer"));
    let r = staff
        .post_form(
            "/staff/termine/wartenummer",
            &[("standort", &o.to_string()), ("tag", &day)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = staff
        .post_form(
            "/staff/termine/aufrufen",
            &[("standort", &o.to_string()), ("counter", "1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let display = app.get(&format!("/termine/aufruf/{o}")).await;
    assert_eq!(display.status, StatusCode::OK);
    assert!(display.body.contains("A001"));
    assert!(!display.body.contains("Max Anrufer"));
    assert!(display.body.contains("/static/aufruf.js"));
    assert_eq!(app.get("/static/aufruf.js").await.status, StatusCode::OK);
    assert_eq!(
        app.get("/termine/aufruf/999").await.status,
        StatusCode::NOT_FOUND
    );
    let bad = staff
        .get(&format!("/staff/termine?standort={o}&tag=gestern"))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}
