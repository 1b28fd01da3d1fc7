//! Building energy over HTTP: the JSON API with authorisation, bad input as problem documents
//! that write nothing, the public page with map, list and city view, the staff page behind its
//! gate with its forms, and the demo.

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

fn building() -> serde_json::Value {
    json!({ "name": "Rathaus", "district_number": 1, "address": "Friedensplatz 1",
            "latitude": 51.5136, "longitude": 7.4653, "floor_area_m2": 5000.0, "use_type": "administration" })
}

#[tokio::test]
async fn api_authorisation_validation_and_views() {
    let app = app().await;
    let staff = app.token(&["cityops:write"]).await;
    let other = app.token(&["sta:write"]).await;
    let anon = |path: &str, body: serde_json::Value| {
        axum::http::Request::post(path)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap()
    };
    for (path, body) in [
        ("/api/v1/energy/buildings", building()),
        (
            "/api/v1/energy/meters",
            json!({ "building_id": 1, "name": "Strom", "medium": "electricity" }),
        ),
    ] {
        assert_eq!(
            app.send(anon(path, body.clone())).await.status,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_eq!(
            app.with_token(Method::POST, path, &other, Some(body))
                .await
                .status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let factors = json!({ "electricity": 0.4, "heat": 0.2, "gas": 0.2, "water": 0.3 });
    assert_eq!(
        app.with_token(
            Method::PUT,
            "/api/v1/energy/factors",
            &other,
            Some(factors.clone())
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    for path in ["/api/v1/energy/meters", "/api/v1/energy/anomalies"] {
        assert_eq!(
            app.get(path).await.status,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_eq!(
            app.with_token(Method::GET, path, &other, None).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.with_token(Method::GET, path, &staff, None).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(app.get("/api/v1/energy/buildings").await.json(), json!([]));

    let mut bad = building();
    bad["floor_area_m2"] = json!(-5.0);
    bad["latitude"] = json!(48.1);
    let r = app
        .with_token(Method::POST, "/api/v1/energy/buildings", &staff, Some(bad))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    let fields: Vec<_> = r.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].clone())
        .collect();
    assert_eq!(fields, [json!("latitude"), json!("floor_area_m2")]);
    assert_eq!(app.get("/api/v1/energy/buildings").await.json(), json!([]));

    let r = app
        .with_token(
            Method::POST,
            "/api/v1/energy/buildings",
            &staff,
            Some(building()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    assert_eq!(
        app.with_token(
            Method::POST,
            "/api/v1/energy/buildings",
            &staff,
            Some(building())
        )
        .await
        .status,
        StatusCode::CONFLICT
    );
    let r = app
        .with_token(
            Method::POST,
            "/api/v1/energy/meters",
            &staff,
            Some(json!({ "building_id": id, "name": "Wärme", "medium": "heat", "flexible_kw": 10.0 })),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "flexible load only for electricity"
    );
    let r = app
        .with_token(
            Method::POST,
            "/api/v1/energy/meters",
            &staff,
            Some(json!({ "building_id": id, "name": "Strom", "medium": "electricity", "flexible_kw": 30.0 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let list = app.get("/api/v1/energy/buildings?year=2026").await.json();
    assert_eq!(list[0]["name"], "Rathaus");
    assert_eq!(list[0]["co2_kg"], 0.0);
    assert_eq!(
        app.get("/api/v1/energy/buildings?year=1800").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/api/v1/energy/buildings?year=x").await.status,
        StatusCode::BAD_REQUEST
    );
    let city = app.get("/api/v1/energy/city").await.json();
    assert_eq!(city["flexible_kw"], 30.0);
    assert_eq!(city["hours"].as_array().unwrap().len(), 24);
    let r = app
        .with_token(
            Method::PUT,
            "/api/v1/energy/factors",
            &staff,
            Some(json!({ "electricity": 9.0, "heat": 0.2, "gas": 0.2, "water": 0.3 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .with_token(
            Method::PUT,
            "/api/v1/energy/factors",
            &staff,
            Some(factors.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/energy/factors").await.json(), factors);
}

#[tokio::test]
async fn pages_gate_forms_and_the_demo() {
    let app = app().await;
    let ran = platform::demo::seed(
        &app.env,
        &[sensorthings::demo::SEEDER, cityops::energy_demo::SEEDER],
    )
    .await
    .unwrap();
    assert!(ran.contains(&"energy"));
    let list = app.get("/api/v1/energy/buildings").await.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 12, "one building per demo meter");
    assert!(
        list.iter()
            .all(|b| b["totals"]["electricity"].as_f64().unwrap() > 0.0)
    );
    assert_eq!(
        list.iter()
            .filter(|b| b["totals"].get("pv").is_some())
            .count(),
        6
    );
    let city = app.get("/api/v1/energy/city").await.json();
    assert!(city["flexible_kw"].as_f64().unwrap() > 0.0);
    assert!(city["consumption_kw"].as_f64().unwrap() > 0.0);

    let page = app.get("/energie").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body.matches("<h1").count(), 1);
    assert!(page.body.contains("<svg class=\"map\"") && page.body.contains("<table"));
    assert_eq!(page.body.matches("map-marker ").count(), 12);
    assert_eq!(
        app.get("/energie?year=abc").await.status,
        StatusCode::BAD_REQUEST
    );

    let r = app.get("/staff/energie").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let resident = app.browser_as("anwohner", &[Role::Resident], &[]).await;
    assert_eq!(
        resident.get("/staff/energie").await.status,
        StatusCode::FORBIDDEN
    );
    let b = app.browser_as("energie", &[Role::Staff], &[]).await;
    for path in [
        "/staff/energie",
        "/staff/energie?neu=meter",
        "/staff/energie?neu=factors",
    ] {
        let r = b.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.body.matches("<h1").count(), 1);
    }
    let r = b
        .post_form(
            "/staff/energie/gebaeude",
            &[
                ("name", "Hallenbad Nord"),
                ("latitude", "51.53"),
                ("longitude", "7.46"),
                ("floor_area_m2", "0"),
                ("use_type", "pool"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body.contains("href=\"#field-floor_area_m2\"")
            && r.body.contains("value=\"Hallenbad Nord\"")
    );
    let r = b
        .post_form(
            "/staff/energie/gebaeude",
            &[
                ("name", "Hallenbad Nord"),
                ("latitude", "51.53"),
                ("longitude", "7.46"),
                ("floor_area_m2", "3200"),
                ("use_type", "pool"),
                ("district", "2"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = b
        .post_form(
            "/staff/energie/zaehler",
            &[("building_id", "13"), ("name", "Gas"), ("medium", "gas")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = b
        .post_form(
            "/staff/energie/faktoren",
            &[
                ("electricity", "0,35"),
                ("heat", "0.2"),
                ("gas", "0.2"),
                ("water", "x"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = b
        .post_form(
            "/staff/energie/faktoren",
            &[
                ("electricity", "0,35"),
                ("heat", "0.2"),
                ("gas", "0.2"),
                ("water", "0.3"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get("/api/v1/energy/factors").await.json()["electricity"],
        0.35
    );
    let page = b.get("/staff/energie").await.body;
    assert!(page.contains("Hallenbad Nord") || page.contains("Gas"));
}
