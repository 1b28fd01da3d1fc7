//! Roadworks over HTTP: the public page and feeds, the staff area with its gate, the JSON API
//! with authorisation, and the subscription links.

use axum::http::{Method, StatusCode};
use kern::Role;
use platform::Actor;
use serde_json::{Value, json};
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
    cityops::roadworks::add_street(&app.env, &Actor::system(), "Hohe Straße", Some(1))
        .await
        .unwrap();
    app
}

const SITE: &str = r#"{"type":"LineString","coordinates":[[7.459,51.507],[7.4592,51.5052]]}"#;

fn body(start: &str, end: &str) -> Value {
    json!({
        "title": "Fernwärme",
        "street": "Hohe Straße",
        "geometry": serde_json::from_str::<Value>(SITE).unwrap(),
        "period_start": start,
        "period_end": end,
        "working_hours": "Mo–Fr 7–18 Uhr",
        "closure": "lane",
        "applicant_org": "DEW21",
        "contact_name": "Sabine Kortmann",
        "contact_email": "s.kortmann@dew21.example",
        "contact_phone": "0231 5440",
    })
}

async fn approved(app: &TestApp, token: &str) -> i64 {
    let r = app
        .with_token(
            Method::POST,
            "/api/v1/cityops/roadworks",
            token,
            Some(body("2026-11-20", "2026-12-20")),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    let r = app
        .with_token(
            Method::POST,
            &format!("/api/v1/cityops/roadworks/{id}/steps"),
            token,
            Some(json!({ "action": "approve" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["status"], "approved");
    id
}

#[tokio::test]
async fn api_authorisation_and_conflicts() {
    let app = app().await;
    let staff = app.token(&["cityops:write"]).await;
    let other = app.token(&["sta:write"]).await;
    // Without credentials, with the wrong scope: refused, nothing stored.
    let r = app
        .send(
            axum::http::Request::post("/api/v1/cityops/roadworks")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(
                    body("2026-11-20", "2026-12-20").to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let r = app
        .with_token(
            Method::POST,
            "/api/v1/cityops/roadworks",
            &other,
            Some(body("2026-11-20", "2026-12-20")),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let id = approved(&app, &staff).await;
    // A second application on the same site conflicts with the first.
    let r = app
        .with_token(
            Method::POST,
            "/api/v1/cityops/roadworks",
            &staff,
            Some(body("2026-12-01", "2026-12-05")),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let c = &r.json()["conflicts"];
    assert_eq!(c[0]["kind"], "overlap");
    assert_eq!(c[0]["other_id"], id);
    // The permit with contact data: staff only.
    let path = format!("/api/v1/cityops/roadworks/{id}");
    assert_eq!(app.get(&path).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.with_token(Method::GET, &path, &other, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let r = app.with_token(Method::GET, &path, &staff, None).await;
    assert_eq!(r.json()["contact_email"], "s.kortmann@dew21.example");
    assert_eq!(
        app.with_token(Method::GET, "/api/v1/cityops/roadworks/999", &staff, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // The board: staff only.
    assert_eq!(
        app.get("/api/v1/cityops/conflicts").await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .with_token(
            Method::GET,
            "/api/v1/cityops/conflicts?district=1",
            &staff,
            None,
        )
        .await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    // Steps the state does not allow, unknown steps, bad bodies.
    let steps = format!("/api/v1/cityops/roadworks/{id}/steps");
    let r = app
        .with_token(
            Method::POST,
            &steps,
            &staff,
            Some(json!({"action":"approve"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = app
        .with_token(
            Method::POST,
            &steps,
            &other,
            Some(json!({"action":"close"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .with_token(Method::POST, &steps, &staff, Some(json!({"action":"fly"})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Bad input: clear field errors, nothing written.
    let before = app.get("/api/v1/cityops/roadworks").await.body;
    let mut bad = body("2026-12-10", "2026-12-01");
    bad["street"] = json!("Nirgendwo");
    let r = app
        .with_token(Method::POST, "/api/v1/cityops/roadworks", &staff, Some(bad))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let fields: Vec<String> = r.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        fields.contains(&"street".to_string()) && fields.contains(&"period_end".to_string()),
        "{fields:?}"
    );
    let r = app
        .with_token(Method::GET, "/api/v1/cityops/conflicts", &staff, None)
        .await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    assert_eq!(app.get("/api/v1/cityops/roadworks").await.body, before);
    // The OpenAPI description lists the module.
    assert!(
        app.get("/api/openapi.json")
            .await
            .body
            .contains("/api/v1/cityops/roadworks.datex.xml")
    );
}

#[tokio::test]
async fn public_page_and_feeds_without_personal_data() {
    let app = app().await;
    let staff = app.token(&["cityops:write"]).await;
    approved(&app, &staff).await;
    let page = app.get("/baustellen").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Fernwärme") && page.body.contains("Hohe Straße"));
    assert_eq!(page.body.matches("<h1").count(), 1);
    // A map with the site drawn, and the same works in the table.
    assert!(page.body.contains("<svg class=\"map\"") && page.body.contains("map-shape-"));
    assert!(page.body.contains("<table"));
    for (path, ctype) in [
        ("/api/v1/cityops/roadworks", "application/json"),
        ("/api/v1/cityops/roadworks.geojson", "application/geo+json"),
        ("/api/v1/cityops/roadworks.ics", "text/calendar"),
        ("/api/v1/cityops/roadworks.datex.xml", "application/xml"),
        ("/baustellen", "text/html"),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(
            r.header("content-type").unwrap().starts_with(ctype),
            "{path}"
        );
        for secret in ["Kortmann", "dew21.example", "5440"] {
            assert!(!r.body.contains(secret), "{secret} in {path}");
        }
    }
    let ics = app.get("/api/v1/cityops/roadworks.ics").await.body;
    assert!(
        ics.contains("\r\nBEGIN:VEVENT\r\nUID:roadworks-1@127.0.0.1\r\n"),
        "{ics}"
    );
    let xml = app.get("/api/v1/cityops/roadworks.datex.xml").await.body;
    assert!(xml.contains(r#"xsi:type="sit:SituationPublication""#));
    let gj = app.get("/api/v1/cityops/roadworks.geojson").await.json();
    assert_eq!(gj["features"][0]["properties"]["street"], "Hohe Straße");
}

#[tokio::test]
async fn staff_area_gate_and_forms() {
    let app = app().await;
    // Anonymous: to the login page; a resident: 403.
    let r = app.get("/staff/baustellen").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().unwrap().starts_with("/login?next="));
    let resident = app.browser_as("anwohner", &[Role::Resident], &[]).await;
    for p in [
        "/staff/baustellen",
        "/staff/baustellen/neu",
        "/staff/baustellen/koordination",
        "/staff/baustellen/strassen",
        "/staff/baustellen/1",
    ] {
        assert_eq!(resident.get(p).await.status, StatusCode::FORBIDDEN, "{p}");
    }
    let r = resident
        .post_form("/staff/baustellen/strassen", &[("name", "Westenhellweg")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let staff = app.browser_as("tiefbau", &[Role::Staff], &[]).await;
    assert_eq!(
        staff.get("/staff/baustellen/neu").await.status,
        StatusCode::OK
    );
    // A bad form: 400 with the error summary, nothing stored.
    let fields = [
        ("title", "Fernwärme"),
        ("street", "Nirgendwo"),
        ("geometry", SITE),
        ("period_start", "2026-12-10"),
        ("period_end", "2026-12-01"),
        ("closure", "lane"),
        ("applicant_org", "DEW21"),
        ("contact_name", "Sabine Kortmann"),
        ("contact_email", "s.kortmann@dew21.example"),
    ];
    let r = staff.post_form("/staff/baustellen", &fields).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("error-summary") && r.body.contains("href=\"#field-street\""));
    assert!(r.body.contains("Nirgendwo"), "the form keeps the input");
    let list = staff.get("/staff/baustellen").await;
    assert!(!list.body.contains("/staff/baustellen/1\""));
    // A good one: stored, the detail page shows the contact.
    let mut good = fields.to_vec();
    good[1] = ("street", "Hohe Straße");
    good[4] = ("period_end", "2026-12-20");
    let r = staff.post_form("/staff/baustellen", &good).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let to = r.location().unwrap();
    assert_eq!(to, "/staff/baustellen/1");
    let detail = staff.get(&to).await;
    assert!(detail.body.contains("s.kortmann@dew21.example"));
    // Approve through the form; a rejection without a reason is refused.
    let r = staff
        .post_form("/staff/baustellen/1/schritt", &[("action", "reject")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = staff
        .post_form("/staff/baustellen/1/schritt", &[("action", "approve")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        staff
            .get("/staff/baustellen")
            .await
            .body
            .contains("genehmigt")
    );
    // Board, streets.
    assert_eq!(
        staff
            .get("/staff/baustellen/koordination?district=1&from=2026-12-01")
            .await
            .status,
        StatusCode::OK
    );
    let r = staff
        .post_form("/staff/baustellen/strassen", &[("name", "Hohe Straße")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = staff
        .post_form(
            "/staff/baustellen/strassen",
            &[("name", "Westenhellweg"), ("district", "1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        staff
            .get("/staff/baustellen/strassen")
            .await
            .body
            .contains("Westenhellweg")
    );
    assert_eq!(
        staff.get("/staff/baustellen/999").await.status,
        StatusCode::NOT_FOUND
    );
    // The English page speaks English.
    assert_eq!(staff.get("/lang/en").await.status, StatusCode::SEE_OTHER);
    assert!(
        staff
            .get("/staff/baustellen")
            .await
            .body
            .contains("Roadworks permits")
    );
}

#[tokio::test]
async fn subscription_through_the_public_form() {
    let app = app().await;
    let b = app.browser();
    b.get("/baustellen").await;
    let r = b
        .post_form(
            "/baustellen/abo",
            &[("email", "x"), ("area", "district"), ("district", "1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("href=\"#field-email\""));
    assert!(platform::mail::outbox(&app.env).await.unwrap().is_empty());
    let r = b
        .post_form(
            "/baustellen/abo",
            &[
                ("email", "anwohnerin@example.org"),
                ("area", "district"),
                ("district", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let mail = platform::mail::outbox(&app.env)
        .await
        .unwrap()
        .pop()
        .unwrap();
    let link = mail
        .body
        .lines()
        .find(|l| l.contains("/bestaetigen/"))
        .unwrap()
        .trim()
        .to_string();
    let path = &link[link.find("/baustellen").unwrap()..];
    assert_eq!(app.get(path).await.status, StatusCode::OK);
    assert_eq!(
        app.get("/baustellen/abo/bestaetigen/falsch").await.status,
        StatusCode::NOT_FOUND
    );
    let staff = app.token(&["cityops:write"]).await;
    approved(&app, &staff).await;
    let notice = platform::mail::outbox(&app.env)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert!(notice.subject.contains("Fernwärme"));
    let unsub = notice
        .body
        .lines()
        .find(|l| l.contains("/abmelden/"))
        .unwrap();
    let path = unsub[unsub.find("/baustellen").unwrap()..]
        .trim()
        .to_string();
    assert_eq!(b.get(&path).await.status, StatusCode::OK);
    assert_eq!(b.post_form(&path, &[]).await.status, StatusCode::OK);
    assert_eq!(b.post_form(&path, &[]).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn parking_pages_api_and_authorisation() {
    let app = app().await;
    let staff = app.token(&["cityops:write"]).await;
    let other = app.token(&["sta:write"]).await;
    let site = json!({
        "name": "Parkhaus Hohe Straße", "kind": "car_park", "district_number": 1,
        "latitude": 51.506, "longitude": 7.459, "capacity": 300,
        "tariffs": "2 € je Stunde", "opening_hours": "täglich 6–24 Uhr"
    });
    let mut negative = site.clone();
    negative["capacity"] = json!(-5);
    let r = app
        .with_token(
            Method::POST,
            "/api/v1/cityops/parking",
            &staff,
            Some(negative),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["errors"][0]["field"], "capacity");
    assert_eq!(
        app.with_token(
            Method::POST,
            "/api/v1/cityops/parking",
            &other,
            Some(site.clone())
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert!(
        app.get("/api/v1/cityops/parking")
            .await
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
    let r = app
        .with_token(Method::POST, "/api/v1/cityops/parking", &staff, Some(site))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    let list = app.get("/api/v1/cityops/parking").await.json();
    assert_eq!(list[0]["capacity"], 300);
    assert!(list[0]["free"].is_null(), "no sensor, no free count");
    let f = app
        .get(&format!("/api/v1/cityops/parking/{id}/forecast"))
        .await
        .json();
    assert_eq!(f["occupied"].as_array().unwrap().len(), 7);
    assert_eq!(
        app.get("/api/v1/cityops/parking/999/forecast").await.status,
        StatusCode::NOT_FOUND
    );
    for path in [
        "/api/v1/cityops/parking/table.datex.xml",
        "/api/v1/cityops/parking/status.datex.xml",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains("http://datex2.eu/schema/3/parking"));
    }
    // Alerts and the staff page: staff only.
    assert_eq!(
        app.get("/api/v1/cityops/parking/alerts").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.with_token(Method::GET, "/api/v1/cityops/parking/alerts", &other, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.with_token(Method::GET, "/api/v1/cityops/parking/alerts", &staff, None)
            .await
            .status,
        StatusCode::OK
    );
    let page = app.get("/parken").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Parkhaus Hohe Straße"));
    assert!(page.body.contains("<svg class=\"map\"") && page.body.contains("map-marker "));
    assert_eq!(app.get("/staff/parken").await.status, StatusCode::SEE_OTHER);
    let resident = app.browser_as("anwohner", &[Role::Resident], &[]).await;
    assert_eq!(
        resident.get("/staff/parken").await.status,
        StatusCode::FORBIDDEN
    );
    let b = app.browser_as("verkehr", &[Role::Staff], &[]).await;
    assert_eq!(b.get("/staff/parken").await.status, StatusCode::OK);
    let r = b
        .post_form(
            "/staff/parken",
            &[
                ("name", "Parkzone Kampstraße"),
                ("kind", "on_street"),
                ("latitude", "51.514"),
                ("longitude", "7.462"),
                ("capacity", "-1"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("href=\"#field-capacity\""));
    let r = b
        .post_form(
            "/staff/parken",
            &[
                ("name", "Parkzone Kampstraße"),
                ("kind", "on_street"),
                ("latitude", "51.514"),
                ("longitude", "7.462"),
                ("capacity", "30"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get("/api/v1/cityops/parking")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn rules_are_staff_only_and_validated() {
    let app = app().await;
    let staff = app.token(&["cityops:write"]).await;
    let other = app.token(&["sta:write"]).await;
    assert_eq!(
        app.get("/api/v1/cityops/rules").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.with_token(Method::GET, "/api/v1/cityops/rules", &other, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .with_token(Method::GET, "/api/v1/cityops/rules", &staff, None)
        .await;
    assert_eq!(r.json()["protection_days"], 1095);
    let bad = json!({ "buffer_m": -1.0, "protection_days": 10, "min_shared_detour_m": 50.0 });
    let r = app
        .with_token(Method::PUT, "/api/v1/cityops/rules", &staff, Some(bad))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let good = json!({ "buffer_m": 25.0, "protection_days": 730, "min_shared_detour_m": 80.0 });
    let r = app
        .with_token(
            Method::PUT,
            "/api/v1/cityops/rules",
            &other,
            Some(good.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .with_token(Method::PUT, "/api/v1/cityops/rules", &staff, Some(good))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .with_token(Method::GET, "/api/v1/cityops/rules", &staff, None)
        .await;
    assert_eq!(r.json()["buffer_m"], 25.0);
}

#[tokio::test]
async fn traffic_api_page_and_authorisation() {
    let app = app().await;
    let admin = app.token(&["admin"]).await;
    let staff = app.token(&["cityops:write"]).await;
    let other = app.token(&["sta:write"]).await;
    let thing = json!({
        "name": "Zählstelle", "description": "d",
        "Locations": [{ "name": "L", "description": "l", "encodingType": "application/geo+json",
                        "location": { "type": "Point", "coordinates": [7.459, 51.506] } }],
        "Datastreams": [{ "name": "Kfz stadteinwärts", "description": "d", "observationType": "OM_Measurement",
            "unitOfMeasurement": { "name": "Fahrzeuge", "symbol": "{vehicles}", "definition": "u" },
            "Sensor": { "name": "S", "description": "s", "encodingType": "text/html", "metadata": "m" },
            "ObservedProperty": { "name": "Kfz", "description": "p", "definition": "p" } }]
    });
    let r = app
        .with_token(Method::POST, "/sta/v1.1/Things", &admin, Some(thing))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let ds = app
        .with_token(Method::GET, "/sta/v1.1/Datastreams", &admin, None)
        .await
        .json()["value"][0]["@iot.id"]
        .as_i64()
        .unwrap();
    let r = app
        .with_token(
            Method::POST,
            &format!("/sta/v1.1/Datastreams({ds})/Observations"),
            &admin,
            Some(json!({ "phenomenonTime": "2026-11-22T09:50:00Z", "result": 150 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let station = json!({
        "name": "Zählstelle Hohe Straße", "district_number": 1, "segment": "Hohe Straße",
        "free_flow_kmh": 50.0, "capacity_veh_h": 1000.0,
        "streams": [{ "mode": "car", "direction": "inbound", "datastream_id": ds }]
    });
    let path = "/api/v1/cityops/traffic/stations";
    assert_eq!(
        app.with_token(Method::POST, path, &other, Some(station.clone()))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let mut bad = station.clone();
    bad["capacity_veh_h"] = json!(0.0);
    let r = app.with_token(Method::POST, path, &staff, Some(bad)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(app.get(path).await.json().as_array().unwrap().is_empty());
    let r = app
        .with_token(Method::POST, path, &staff, Some(station))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    let list = app.get(path).await.json();
    // 4 × 150 = 600 veh/h of 1000: A.
    assert_eq!(list[0]["directions"][0]["car_flow_veh_h"], 600.0);
    assert_eq!(list[0]["directions"][0]["los"], "A");
    let flows = app.get(&format!("{path}/{id}/flows")).await.json();
    assert_eq!(flows[0]["count"], 150.0);
    assert_eq!(
        app.get(&format!("{path}/999/flows")).await.status,
        StatusCode::NOT_FOUND
    );
    let split = app.get("/api/v1/cityops/traffic/modal-split").await.json();
    assert_eq!(split[0]["car_share"], 100.0);
    let xml = app
        .get("/api/v1/cityops/traffic/measured.datex.xml")
        .await
        .body;
    assert!(
        xml.contains(r#"xsi:type="rtd:MeasuredDataPublication""#)
            && xml.contains("<rtd:vehicleFlowRate>600</rtd:vehicleFlowRate>")
    );
    let page = app.get("/verkehr").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Zählstelle Hohe Straße") && page.body.contains("stadteinwärts"));
    assert!(page.body.contains("<svg class=\"map\""));
}
