//! Street lighting over HTTP: the JSON API with authorisation on every object route, bad input
//! as problem documents that write nothing, the public page with map, list and report form,
//! the energy page, and the staff pages behind their gate with their forms.

use axum::http::{Method, StatusCode};
use kern::Role;
use serde_json::json;
use web::testing::TestApp;

async fn app() -> TestApp {
    let app = TestApp::new().await;
    let mut tx = app.env.db.begin().await.unwrap();
    for ((number, name, population, _, _), geometry) in platform::demo::DISTRICTS
        .iter()
        .zip(platform::demo::district_polygons())
    {
        store::city::upsert_district(&mut tx, *number, name, *population, &geometry)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    app
}

async fn anonymous_post(
    app: &TestApp,
    path: &str,
    body: serde_json::Value,
) -> web::testing::TestResponse {
    app.send(
        axum::http::Request::post(path)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

/// A schedule, a circuit and a pole with a luminaire through the API; returns the ids.
async fn inventory(app: &TestApp, token: &str) -> (i64, i64, i64) {
    let r = app
        .with_token(
            Method::POST,
            "/api/v1/lighting/schedules",
            token,
            Some(
                json!({ "name": "Standard", "on_event": "civil_dusk", "off_event": "civil_dawn",
                         "dim_start": "23:00", "dim_end": "05:00", "dim_percent": 60 }),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let s = r.json()["id"].as_i64().unwrap();
    let r = app
        .with_token(
            Method::POST,
            "/api/v1/lighting/circuits",
            token,
            Some(
                json!({ "name": "Hohe Straße Nord", "district_number": 1, "cabinet": "HS-3",
                         "latitude": 51.507, "longitude": 7.459, "schedule_id": s }),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let c = r.json()["id"].as_i64().unwrap();
    let r = app
        .with_token(
            Method::POST,
            "/api/v1/lighting/poles",
            token,
            Some(
                json!({ "number": "HS-001", "circuit_id": c, "street": "Hohe Straße",
                         "latitude": 51.5071, "longitude": 7.4591, "height_m": 8.0 }),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let p = r.json()["id"].as_i64().unwrap();
    let r = app
        .with_token(
            Method::POST,
            "/api/v1/lighting/luminaires",
            token,
            Some(json!({ "pole_id": p, "lamp_type": "led", "wattage": 45.0 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    (s, c, p)
}

#[tokio::test]
async fn api_authorisation_on_every_write_and_staff_route() {
    let app = app().await;
    let staff = app.token(&["cityops:write"]).await;
    let other = app.token(&["sta:write"]).await;
    let circuit = json!({ "name": "Kampstraße", "latitude": 51.514, "longitude": 7.462 });
    let writes = [
        ("/api/v1/lighting/circuits", circuit.clone()),
        (
            "/api/v1/lighting/poles",
            json!({ "number": "K-1", "circuit_id": 1, "street": "Kampstraße", "latitude": 51.514, "longitude": 7.462 }),
        ),
        (
            "/api/v1/lighting/luminaires",
            json!({ "pole_id": 1, "lamp_type": "led", "wattage": 40.0 }),
        ),
        (
            "/api/v1/lighting/schedules",
            json!({ "name": "S", "on_event": "sunset", "off_event": "sunrise" }),
        ),
        (
            "/api/v1/lighting/schedules/1/overrides",
            json!({ "day": "2026-12-24", "label": "Heiligabend", "kind": "holiday" }),
        ),
        (
            "/api/v1/lighting/orders",
            json!({ "circuit_id": 1, "description": "Mast prüfen" }),
        ),
        (
            "/api/v1/lighting/orders/1/steps",
            json!({ "state": "done" }),
        ),
        ("/api/v1/lighting/faults/detect", json!({})),
    ];
    for (path, body) in &writes {
        let r = anonymous_post(&app, path, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}: {}", r.body);
        let r = app
            .with_token(Method::POST, path, &other, Some(body.clone()))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
    }
    for path in ["/api/v1/lighting/orders", "/api/v1/lighting/faults"] {
        assert_eq!(
            app.get(path).await.status,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_eq!(
            app.with_token(Method::GET, path, &other, None).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
        assert_eq!(
            app.with_token(Method::GET, path, &staff, None).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    let r = app
        .with_token(Method::DELETE, "/api/v1/lighting/overrides/1", &other, None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Nothing was written by the refused requests.
    assert_eq!(app.get("/api/v1/lighting/circuits").await.json(), json!([]));
    assert_eq!(
        app.get("/api/v1/lighting/schedules").await.json(),
        json!([])
    );
    // Unknown objects: 404 in the problem format.
    let r = app
        .with_token(
            Method::DELETE,
            "/api/v1/lighting/overrides/77",
            &staff,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    let r = app
        .with_token(
            Method::POST,
            "/api/v1/lighting/orders/abc/steps",
            &staff,
            Some(json!({ "state": "done" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn api_inventory_plans_reports_and_orders() {
    let app = app().await;
    let staff = app.token(&["cityops:write"]).await;
    // Bad input: 400 naming the fields, nothing stored.
    let r = app
        .with_token(
            Method::POST,
            "/api/v1/lighting/circuits",
            &staff,
            Some(json!({ "name": "X", "latitude": 40.0, "longitude": 7.46, "power_datastream_id": 12345 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let fields: Vec<String> = r.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fields, ["name", "latitude", "power_datastream_id"]);
    let r = app
        .with_token(
            Method::POST,
            "/api/v1/lighting/luminaires",
            &staff,
            Some(json!({ "pole_id": 1, "lamp_type": "led", "wattage": 45.0, "colour": "warm" })),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "unknown fields are refused"
    );
    let (s, c, _) = inventory(&app, &staff).await;

    let list = app.get("/api/v1/lighting/circuits").await.json();
    assert_eq!(list[0]["name"], "Hohe Straße Nord");
    assert_eq!(list[0]["rated_w"], 45.0);
    assert_eq!(list[0]["poles"], 1);
    assert!(list[0]["switch_on"].is_string());
    let poles = app.get("/api/v1/lighting/poles").await.json();
    assert_eq!(poles[0]["number"], "HS-001");
    assert_eq!(poles[0]["lamp_types"], json!(["led"]));

    let plan = app
        .get(&format!(
            "/api/v1/lighting/schedules/{s}/plan?from=2026-12-21&days=3"
        ))
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
    let plan = plan.json();
    assert_eq!(plan.as_array().unwrap().len(), 3);
    assert!(
        plan[0]["switch_on"]
            .as_str()
            .unwrap()
            .starts_with("2026-12-21T16:0")
    );
    assert_eq!(plan[0]["dim_from"], "2026-12-21T22:00:00Z");
    assert_eq!(
        app.get(&format!(
            "/api/v1/lighting/schedules/{s}/plan?from=21.12.2026"
        ))
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get(&format!("/api/v1/lighting/schedules/{s}/plan?days=400"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/api/v1/lighting/schedules/99/plan").await.status,
        StatusCode::NOT_FOUND
    );
    let sun = app
        .get("/api/v1/lighting/sun?from=2026-06-21&days=2")
        .await
        .json();
    assert_eq!(sun.as_array().unwrap().len(), 2);
    assert!(
        sun[0]["sunrise"]
            .as_str()
            .unwrap()
            .starts_with("2026-06-21T03:1")
    );

    // An override for Christmas Eve shows in the plan; a second one for the night is a conflict.
    let path = format!("/api/v1/lighting/schedules/{s}/overrides");
    let o = json!({ "day": "2026-12-24", "label": "Heiligabend", "kind": "holiday" });
    let r = app
        .with_token(Method::POST, &path, &staff, Some(o.clone()))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let oid = r.json()["id"].as_i64().unwrap();
    assert_eq!(
        app.with_token(Method::POST, &path, &staff, Some(o))
            .await
            .status,
        StatusCode::CONFLICT
    );
    let plan = app
        .get(&format!(
            "/api/v1/lighting/schedules/{s}/plan?from=2026-12-24&days=1"
        ))
        .await
        .json();
    assert_eq!(plan[0]["override_label"], "Heiligabend");
    assert!(plan[0]["dim_from"].is_null());
    let r = app
        .with_token(
            Method::DELETE,
            &format!("/api/v1/lighting/overrides/{oid}"),
            &staff,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    // A resident reports anonymously; staff see the order, without the e-mail address.
    let r = anonymous_post(
        &app,
        "/api/v1/lighting/reports",
        json!({ "pole_number": "HS-001", "email": "a@example.org" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = anonymous_post(
        &app,
        "/api/v1/lighting/reports",
        json!({ "pole_number": "NO-1" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let orders = app
        .with_token(Method::GET, "/api/v1/lighting/orders", &staff, None)
        .await;
    assert!(!orders.body.contains("a@example.org"));
    let orders = orders.json();
    assert_eq!(orders.as_array().unwrap().len(), 1);
    assert_eq!(orders[0]["feedback_requested"], true);
    assert_eq!(orders[0]["circuit_id"], c);
    let id = orders[0]["id"].as_i64().unwrap();
    let step = format!("/api/v1/lighting/orders/{id}/steps");
    let r = app
        .with_token(
            Method::POST,
            &step,
            &staff,
            Some(json!({ "state": "assigned" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "assigning needs a name");
    let r = app
        .with_token(
            Method::POST,
            &step,
            &staff,
            Some(json!({ "state": "done", "assignee": "Team Nord" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["feedback_requested"], false);
    let r = app
        .with_token(
            Method::POST,
            &step,
            &staff,
            Some(json!({ "state": "in_progress" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    let e = app.get("/api/v1/lighting/energy?month=2026-11").await;
    assert_eq!(e.status, StatusCode::OK);
    assert_eq!(e.json()[0]["rated_w"], 45.0);
    assert_eq!(
        app.get("/api/v1/lighting/energy?month=11-2026")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let r = app
        .with_token(Method::POST, "/api/v1/lighting/faults/detect", &staff, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn public_pages_have_a_map_a_list_and_a_report_form() {
    let app = app().await;
    let staff = app.token(&["cityops:write"]).await;
    inventory(&app, &staff).await;
    let page = app.get("/licht").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body.matches("<h1").count(), 1);
    assert!(page.body.contains("<svg class=\"map\"") && page.body.contains("role=\"img\""));
    assert!(page.body.contains("<table") && page.body.contains("Hohe Straße Nord"));
    assert!(page.body.contains("HS-001"));
    let b = app.browser();
    b.get("/licht").await;
    let r = b
        .post_form(
            "/licht/melden",
            &[("pole_number", "ZZ-9"), ("email", "nope")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("error-summary"));
    assert!(
        r.body.contains("href=\"#field-pole_number\"") && r.body.contains("href=\"#field-email\"")
    );
    assert!(
        r.body.contains("value=\"ZZ-9\""),
        "the form keeps the input"
    );
    let r = b
        .post_form(
            "/licht/melden",
            &[("location", "Hohe Straße 12, vor der Apotheke")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // Without the CSRF token the form is refused.
    let r = b
        .post_form_raw("/licht/melden", &[("location", "Hohe Straße 14")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let orders = app
        .with_token(Method::GET, "/api/v1/lighting/orders", &staff, None)
        .await
        .json();
    assert_eq!(orders.as_array().unwrap().len(), 1);

    let e = app.get("/licht/energie?month=2026-11").await;
    assert_eq!(e.status, StatusCode::OK);
    assert!(e.body.contains("Hohe Straße Nord"));
    assert_eq!(
        app.get("/licht/energie?month=Nov").await.status,
        StatusCode::BAD_REQUEST
    );
    let en = app.browser();
    en.get("/lang/en").await;
    assert!(
        en.get("/licht")
            .await
            .body
            .contains("Report a faulty street light")
    );
}

#[tokio::test]
async fn staff_pages_are_gated_and_their_forms_validate() {
    let app = app().await;
    for path in [
        "/staff/licht",
        "/staff/licht/inventar",
        "/staff/licht/schaltplaene",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert!(r.location().unwrap().starts_with("/login?next="));
    }
    let resident = app.browser_as("anwohner", &[Role::Resident], &[]).await;
    assert_eq!(
        resident.get("/staff/licht").await.status,
        StatusCode::FORBIDDEN
    );
    let r = resident
        .post_form("/staff/licht/schaltplaene", &[("name", "Nacht")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let b = app.browser_as("licht", &[Role::Staff], &[]).await;
    for path in [
        "/staff/licht",
        "/staff/licht/inventar",
        "/staff/licht/inventar?neu=pole",
        "/staff/licht/inventar?neu=luminaire",
        "/staff/licht/schaltplaene",
        "/staff/licht/schaltplaene?neu=override",
    ] {
        let r = b.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.body.matches("<h1").count(), 1, "{path}");
    }
    let r = b
        .post_form(
            "/staff/licht/schaltplaene",
            &[
                ("name", "Nacht"),
                ("on_event", "civil_dusk"),
                ("off_event", "civil_dawn"),
                ("dim_start", "23:00"),
                ("dim_end", ""),
                ("dim_percent", "60"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("href=\"#field-dim_start\""));
    let r = b
        .post_form(
            "/staff/licht/schaltplaene",
            &[
                ("name", "Nacht"),
                ("on_event", "civil_dusk"),
                ("off_event", "civil_dawn"),
                ("dim_start", "23:00"),
                ("dim_end", "05:00"),
                ("dim_percent", "60"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = b
        .post_form(
            "/staff/licht/schaltkreise",
            &[
                ("name", "Westenhellweg"),
                ("latitude", "51.514"),
                ("longitude", "7.46"),
                ("schedule_id", "1"),
                ("power_datastream_id", "abc"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("href=\"#field-power_datastream_id\""));
    assert!(r.body.contains("value=\"Westenhellweg\""));
    let r = b
        .post_form(
            "/staff/licht/schaltkreise",
            &[
                ("name", "Westenhellweg"),
                ("latitude", "51.514"),
                ("longitude", "7.46"),
                ("schedule_id", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = b
        .post_form(
            "/staff/licht/masten",
            &[
                ("number", "W-1"),
                ("circuit_id", "1"),
                ("street", "Westenhellweg"),
                ("latitude", "51.514"),
                ("longitude", "7.4601"),
                ("installed_on", "2020-05-01"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = b
        .post_form(
            "/staff/licht/leuchten",
            &[("pole_id", "1"), ("lamp_type", "led"), ("wattage", "0")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = b
        .post_form(
            "/staff/licht/leuchten",
            &[("pole_id", "1"), ("lamp_type", "led"), ("wattage", "38,5")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = b
        .post_form(
            "/staff/licht/auftraege",
            &[("circuit_id", "1"), ("description", "Mast W-1 neigt sich")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = b
        .post_form(
            "/staff/licht/auftraege/1",
            &[("state", "in_progress"), ("assignee", "Team West")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = b.get("/staff/licht").await.body;
    assert!(page.contains("Team West") && page.contains("Mast W-1 neigt sich"));
    let r = b.post_form("/staff/licht/pruefen", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = b
        .post_form(
            "/staff/licht/ausnahmen",
            &[
                ("schedule_id", "1"),
                ("day", "2026-12-31"),
                ("label", "Silvester"),
                ("kind", "holiday"),
                ("dim_percent", "100"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(
        b.get("/staff/licht/schaltplaene")
            .await
            .body
            .contains("Silvester")
    );
    let r = b.post_form("/staff/licht/ausnahmen/1/loeschen", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let inv = b.get("/staff/licht/inventar").await.body;
    assert!(inv.contains("Westenhellweg") && inv.contains("W-1"));
}

#[tokio::test]
async fn the_demo_city_has_lit_circuits_linked_to_its_controllers() {
    let app = TestApp::new().await;
    let ran = platform::demo::seed(
        &app.env,
        &[sensorthings::demo::SEEDER, cityops::lighting::demo::SEEDER],
    )
    .await
    .unwrap();
    assert!(ran.contains(&"lighting"));
    let circuits = app.get("/api/v1/lighting/circuits").await.json();
    let circuits = circuits.as_array().unwrap();
    assert_eq!(circuits.len(), 12, "one per district controller");
    for c in circuits {
        assert_eq!(c["poles"], 20);
        assert!(c["rated_w"].as_f64().unwrap() >= 900.0);
        assert!(
            c["power_w"].is_number(),
            "live readings from the controller: {c}"
        );
        assert!(c["switch_on"].is_string());
    }
    let schedules = app.get("/api/v1/lighting/schedules").await.json();
    assert_eq!(schedules.as_array().unwrap().len(), 2);
    // The measured energy of the current month comes from the simulated power readings.
    let e = app.get("/api/v1/lighting/energy").await.json();
    assert!(e[0]["measured_kwh"].as_f64().unwrap() > 0.0, "{}", e[0]);
    let staff = app.token(&["cityops:write"]).await;
    let orders = app
        .with_token(Method::GET, "/api/v1/lighting/orders", &staff, None)
        .await
        .json();
    assert_eq!(orders.as_array().unwrap().len(), 2);
    let page = app.get("/licht").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Innenstadt-West, Schaltkreis 1"));
    assert_eq!(page.body.matches("map-marker ").count(), 12);
}
