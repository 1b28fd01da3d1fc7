//! SensorThings API 1.1 at /sta/v1.1, conformance-style per spec section (OGC 18-088):
//! service root, entity CRUD with deep insert and links, addressing, every query option,
//! the function families, nested expand, paging, visibility and bad input.

use axum::http::StatusCode;
use serde_json::{Value, json};
use web::testing::{HttpMethod as M, TestApp};

const B: &str = "/sta/v1.1";

async fn writer(app: &TestApp) -> String {
    app.token(&["sta:write"]).await
}

async fn post(app: &TestApp, tok: &str, path: &str, body: Value) -> Value {
    let r = app
        .with_token(M::POST, &format!("{B}{path}"), tok, Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.body);
    assert!(r.location().is_some());
    r.json()
}

async fn get(app: &TestApp, tok: &str, path: &str) -> Value {
    let r = app
        .with_token(M::GET, &format!("{B}{path}"), tok, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    r.json()
}

fn ids(v: &Value) -> Vec<i64> {
    v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["@iot.id"].as_i64().unwrap())
        .collect()
}

/// A Thing with a Location, one Datastream (with Sensor and ObservedProperty) and the given
/// numeric observations, one per hour from 2024-01-01T00:00Z. Returns (thing, datastream).
async fn station(app: &TestApp, tok: &str, name: &str, lon: f64, results: &[f64]) -> (i64, i64) {
    let obs: Vec<Value> = results
        .iter()
        .enumerate()
        .map(|(i, r)| json!({ "phenomenonTime": format!("2024-01-01T{i:02}:00:00Z"), "result": r }))
        .collect();
    let t = post(
        app,
        tok,
        "/Things",
        json!({
            "name": name, "description": "Messstation", "properties": { "owner": "Stadt", "floors": 3 },
            "Locations": [{ "name": format!("{name} Ort"), "description": "Standort", "encodingType": "application/geo+json",
                            "location": { "type": "Point", "coordinates": [lon, 51.5] } }],
            "Datastreams": [{
                "name": format!("{name} Temperatur"), "description": "Lufttemperatur",
                "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
                "unitOfMeasurement": { "name": "Grad Celsius", "symbol": "°C", "definition": "ucum:Cel" },
                "Sensor": { "name": "DHT22", "description": "Sensor", "encodingType": "application/pdf", "metadata": "https://example.org/dht22.pdf" },
                "ObservedProperty": { "name": "Temperatur", "definition": "https://example.org/temp", "description": "Lufttemperatur" },
                "Observations": obs
            }]
        }),
    )
    .await;
    let tid = t["@iot.id"].as_i64().unwrap();
    let ds = get(app, tok, &format!("/Things({tid})/Datastreams")).await;
    (tid, ids(&ds)[0])
}

#[tokio::test]
async fn sta_service_root_lists_entity_sets_and_conformance() {
    let app = TestApp::new().await;
    let r = app.get(B).await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    let names: Vec<&str> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for set in [
        "Things",
        "Locations",
        "HistoricalLocations",
        "Datastreams",
        "MultiDatastreams",
        "Sensors",
        "ObservedProperties",
        "Observations",
        "FeaturesOfInterest",
    ] {
        assert!(names.contains(&set), "{set} missing");
    }
    assert!(v["value"][0]["url"].as_str().unwrap().starts_with("http"));
    let conf = v["serverSettings"]["conformance"].as_array().unwrap();
    assert!(
        conf.iter()
            .any(|c| c.as_str().unwrap().ends_with("req/create-update-delete"))
    );
    assert!(!conf.iter().any(|c| c.as_str().unwrap().contains("mqtt")));
}

#[tokio::test]
async fn sta_deep_insert_links_history_and_generated_features() {
    let app = TestApp::new().await;
    let tok = writer(&app).await;
    let (tid, ds) = station(&app, &tok, "Wetter Nord", 7.46, &[1.0, 2.0]).await;
    let thing = get(&app, &tok, &format!("/Things({tid})")).await;
    assert_eq!(thing["name"], "Wetter Nord");
    assert_eq!(thing["properties"]["owner"], "Stadt");
    assert!(
        thing["@iot.selfLink"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/sta/v1.1/Things({tid})"))
    );
    assert!(
        thing["Datastreams@iot.navigationLink"]
            .as_str()
            .unwrap()
            .ends_with("/Datastreams")
    );
    // A HistoricalLocation was created with the Location.
    let hl = get(
        &app,
        &tok,
        &format!("/Things({tid})/HistoricalLocations?$expand=Locations"),
    )
    .await;
    assert_eq!(hl["value"].as_array().unwrap().len(), 1);
    assert_eq!(hl["value"][0]["Locations"][0]["name"], "Wetter Nord Ort");
    // Both observations share one FeatureOfInterest generated from the Location.
    let obs = get(
        &app,
        &tok,
        &format!("/Datastreams({ds})/Observations?$expand=FeatureOfInterest"),
    )
    .await;
    let fois: Vec<&Value> = obs["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["FeatureOfInterest"]["@iot.id"])
        .collect();
    assert_eq!(fois.len(), 2);
    assert_eq!(fois[0], fois[1]);
    assert_eq!(
        obs["value"][0]["FeatureOfInterest"]["feature"]["type"],
        "Point"
    );
    // The Datastream's phenomenonTime covers its observations.
    let d = get(&app, &tok, &format!("/Datastreams({ds})")).await;
    assert_eq!(
        d["phenomenonTime"],
        "2024-01-01T00:00:00Z/2024-01-01T01:00:00Z"
    );
    // Nested addressing, property, $value, wrong parent.
    let n = get(
        &app,
        &tok,
        &format!("/Things({tid})/Datastreams({ds})/Sensor/name"),
    )
    .await;
    assert_eq!(n, json!({ "name": "DHT22" }));
    let raw = app.get(&format!("{B}/Things({tid})/name/$value")).await;
    assert_eq!(raw.body, "Wetter Nord");
    let wrong = app
        .get(&format!("{B}/Things({})/Datastreams({ds})", tid + 100))
        .await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
    assert_eq!(wrong.json()["code"], 404);
    // Observation posted below the Datastream, with an instant and a result time.
    let o = post(&app, &tok, &format!("/Datastreams({ds})/Observations"), json!({
        "phenomenonTime": "2024-01-02T00:00:00Z/2024-01-02T01:00:00Z", "resultTime": "2024-01-02T01:00:05Z",
        "result": { "a": [1, 2] }, "parameters": { "quality": "ok" } })).await;
    assert_eq!(
        o["phenomenonTime"],
        "2024-01-02T00:00:00Z/2024-01-02T01:00:00Z"
    );
    assert_eq!(o["result"]["a"][1], 2);
    assert_eq!(o["parameters"]["quality"], "ok");
}

#[tokio::test]
async fn sta_filter_orderby_select_paging_and_count() {
    let app = TestApp::new().await;
    let tok = writer(&app).await;
    let vals: Vec<f64> = (1..=10).map(f64::from).collect();
    let (_, ds) = station(&app, &tok, "A", 7.0, &vals).await;
    station(&app, &tok, "B", 8.0, &[100.0]).await;
    let base = format!("/Datastreams({ds})/Observations");
    let v = get(
        &app,
        &tok,
        &format!("{base}?$filter=result%20gt%205&$orderby=result%20desc&$top=2&$count=true"),
    )
    .await;
    assert_eq!(v["@iot.count"], 5);
    let results: Vec<f64> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["result"].as_f64().unwrap())
        .collect();
    assert_eq!(results, vec![10.0, 9.0]);
    // Follow nextLink to the end.
    let mut seen = results.len();
    let mut next = v["@iot.nextLink"].as_str().map(str::to_string);
    while let Some(link) = next {
        let path = link.split_once("/sta/v1.1").unwrap().1.to_string();
        let page = get(&app, &tok, &path).await;
        seen += page["value"].as_array().unwrap().len();
        next = page["@iot.nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(seen, 5);
    // $select, time comparisons, arithmetic, across navigation, JSON properties.
    let v = get(&app, &tok, &format!("{base}?$select=result,phenomenonTime&$filter=phenomenonTime%20ge%202024-01-01T08:00:00Z")).await;
    assert_eq!(v["value"].as_array().unwrap().len(), 2);
    assert!(v["value"][0].get("@iot.id").is_none());
    assert!(v["value"][0].get("result").is_some());
    let v = get(
        &app,
        &tok,
        "/Observations?$filter=result%20mul%202%20eq%2020%20or%20result%20sub%201%20eq%2098",
    )
    .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    let v = get(
        &app,
        &tok,
        "/Observations?$filter=Datastream/Thing/name%20eq%20'B'",
    )
    .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    let v = get(&app, &tok, "/Things?$filter=properties/owner%20eq%20'Stadt'%20and%20properties/floors%20gt%202&$count=true").await;
    assert_eq!(v["@iot.count"], 2);
    let v = get(
        &app,
        &tok,
        "/Things?$filter=Datastreams/any(d:d/Observations/any(o:o/result%20gt%2050))",
    )
    .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    // Several order keys.
    let v = get(&app, &tok, "/Things?$orderby=properties/owner,name%20desc").await;
    let names: Vec<&str> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["B", "A"]);
}

#[tokio::test]
async fn sta_function_families() {
    let app = TestApp::new().await;
    let tok = writer(&app).await;
    let (_, ds) = station(&app, &tok, "Rathaus Süd", 7.0, &[2.4, 2.6, -1.5]).await;
    let count = |q: &str| {
        let q = q.replace(' ', "%20");
        let app = &app;
        let tok = &tok;
        async move {
            get(app, tok, &format!("/Things?$filter={q}")).await["value"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(count("substringof('haus', name)").await, 1);
    assert_eq!(count("contains(name, 'Süd')").await, 1);
    assert_eq!(
        count("startswith(name, 'Rat') and endswith(name, 'Süd')").await,
        1
    );
    assert_eq!(count("length(name) eq 11").await, 1);
    assert_eq!(count("indexof(name, 'haus') eq 3").await, 1);
    assert_eq!(count("substring(name, 1, 3) eq 'ath'").await, 1);
    assert_eq!(
        count("tolower(name) eq 'rathaus süd' and toupper(name) eq 'RATHAUS SÜD'").await,
        1
    );
    assert_eq!(count("trim(concat(' x', name)) eq 'xRathaus Süd'").await, 1);
    assert_eq!(count("not startswith(name, 'X')").await, 1);
    let obs = |q: &str| {
        let q = q.replace(' ', "%20");
        let app = &app;
        let tok = &tok;
        async move {
            get(
                app,
                tok,
                &format!("/Datastreams({ds})/Observations?$filter={q}"),
            )
            .await["value"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(obs("year(phenomenonTime) eq 2024 and month(phenomenonTime) eq 1 and day(phenomenonTime) eq 1").await, 3);
    assert_eq!(obs("hour(phenomenonTime) eq 1 and minute(phenomenonTime) eq 0 and second(phenomenonTime) eq 0").await, 1);
    assert_eq!(obs("date(phenomenonTime) eq 2024-01-01").await, 3);
    assert_eq!(
        obs("phenomenonTime lt now() and phenomenonTime gt mindatetime()").await,
        3
    );
    assert_eq!(
        obs("phenomenonTime add duration'PT1H' le 2024-01-01T01:00:00Z").await,
        1
    );
    assert_eq!(obs("round(result) eq 3").await, 1);
    assert_eq!(obs("floor(result) eq 2").await, 2);
    assert_eq!(obs("ceiling(result) eq -1").await, 1);
    assert_eq!(obs("result mod 2 eq 0 or result div 2 gt 1.2").await, 1);
    assert_eq!(obs("-result gt 1").await, 1);
}

#[tokio::test]
async fn sta_geo_functions_give_the_same_answers_on_both_backends() {
    let app = TestApp::new().await;
    let tok = writer(&app).await;
    station(&app, &tok, "West", 7.40, &[1.0]).await;
    station(&app, &tok, "Ost", 7.60, &[1.0]).await;
    let names = |q: &str| {
        let q = q.replace(' ', "%20");
        let app = &app;
        let tok = &tok;
        async move {
            let v = get(app, tok, &format!("/Locations?$filter={q}&$orderby=name")).await;
            v["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let poly = "geography'POLYGON((7.3 51.4, 7.5 51.4, 7.5 51.6, 7.3 51.6, 7.3 51.4))'";
    assert_eq!(
        names(&format!("st_within(location, {poly})")).await,
        vec!["West Ort"]
    );
    assert_eq!(
        names(&format!("st_intersects(location, {poly})")).await,
        vec!["West Ort"]
    );
    assert_eq!(
        names(&format!("geo.intersects(location, {poly})")).await,
        vec!["West Ort"]
    );
    assert_eq!(
        names(&format!("st_disjoint(location, {poly})")).await,
        vec!["Ost Ort"]
    );
    assert_eq!(
        names(&format!("st_contains({poly}, location)")).await,
        vec!["West Ort"]
    );
    assert_eq!(
        names("st_equals(location, geography'POINT(7.6 51.5)')").await,
        vec!["Ost Ort"]
    );
    assert_eq!(
        names(&format!("st_relate(location, {poly}, 'T*F**F***')")).await,
        vec!["West Ort"]
    );
    assert_eq!(
        names(&format!("st_touches(location, {poly})")).await,
        Vec::<String>::new()
    );
    assert_eq!(
        names("geo.distance(location, geography'POINT(7.5 51.5)') lt 0.11").await,
        vec!["Ost Ort", "West Ort"]
    );
    assert_eq!(
        names("geo.distance(location, geography'POINT(7.4 51.5)') lt 0.1").await,
        vec!["West Ort"]
    );
    assert_eq!(
        names("geo.length(geography'LINESTRING(0 0, 3 4)') eq 5").await,
        vec!["Ost Ort", "West Ort"]
    );
    let v = get(
        &app,
        &tok,
        &format!(
            "/Observations?$filter=st_within(FeatureOfInterest/feature,{})",
            poly.replace(' ', "%20")
        ),
    )
    .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn sta_expand_to_any_depth_with_nested_options() {
    let app = TestApp::new().await;
    let tok = writer(&app).await;
    station(&app, &tok, "A", 7.0, &[1.0, 2.0, 3.0]).await;
    station(&app, &tok, "B", 7.1, &[4.0, 5.0]).await;
    let v = get(&app, &tok, "/Things?$orderby=name&$expand=Datastreams($select=name;$expand=Observations($orderby=result%20desc;$top=2;$count=true),Sensor($select=name)),Locations").await;
    let a = &v["value"][0];
    assert_eq!(a["Locations"][0]["name"], "A Ort");
    let d = &a["Datastreams"][0];
    assert_eq!(d["Sensor"], json!({ "name": "DHT22" }));
    assert!(d.get("description").is_none());
    assert_eq!(d["Observations@iot.count"], 3);
    let r: Vec<f64> = d["Observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["result"].as_f64().unwrap())
        .collect();
    assert_eq!(r, vec![3.0, 2.0]);
    assert!(
        d["Observations@iot.nextLink"]
            .as_str()
            .unwrap()
            .contains("$skip=2")
    );
    let b = &v["value"][1]["Datastreams"][0];
    assert_eq!(b["Observations"].as_array().unwrap().len(), 2);
    assert!(b.get("Observations@iot.nextLink").is_none());
    // Expand upwards from observations, with a filter inside.
    let v = get(
        &app,
        &tok,
        "/Observations?$top=1&$expand=Datastream/Thing($filter=name%20eq%20'A')",
    )
    .await;
    assert_eq!(v["value"][0]["Datastream"]["Thing"]["name"], "A");
    // Unknown navigation in $expand.
    let r = app.get(&format!("{B}/Things?$expand=Nope")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn sta_update_replace_json_patch_and_delete_cascades() {
    let app = TestApp::new().await;
    let tok = writer(&app).await;
    let (tid, ds) = station(&app, &tok, "A", 7.0, &[1.0]).await;
    let r = app
        .with_token(
            M::PATCH,
            &format!("{B}/Things({tid})"),
            &tok,
            Some(json!({ "description": "neu" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["name"], "A");
    assert_eq!(r.json()["description"], "neu");
    // PUT needs every mandatory property.
    let r = app
        .with_token(
            M::PUT,
            &format!("{B}/Things({tid})"),
            &tok,
            Some(json!({ "name": "B" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("description")
    );
    let r = app
        .with_token(
            M::PUT,
            &format!("{B}/Things({tid})"),
            &tok,
            Some(json!({ "name": "B", "description": "d" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json().get("properties").is_none());
    // JSON PATCH
    let req = axum::http::Request::builder()
        .method("PATCH")
        .uri(format!("{B}/Things({tid})"))
        .header("authorization", format!("Bearer {tok}"))
        .header("content-type", "application/json-patch+json")
        .body(axum::body::Body::from(json!([{ "op": "add", "path": "/properties", "value": { "k": 1 } }, { "op": "replace", "path": "/name", "value": "C" }]).to_string()))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["name"], "C");
    assert_eq!(r.json()["properties"]["k"], 1);
    // Changing the Locations makes a new HistoricalLocation.
    let loc = post(&app, &tok, "/Locations", json!({ "name": "L2", "description": "d", "encodingType": "application/geo+json", "location": { "type": "Point", "coordinates": [1, 2] } })).await;
    let r = app
        .with_token(
            M::PATCH,
            &format!("{B}/Things({tid})"),
            &tok,
            Some(json!({ "Locations": [{ "@iot.id": loc["@iot.id"] }] })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let hl = get(&app, &tok, &format!("/Things({tid})/HistoricalLocations")).await;
    assert_eq!(hl["value"].as_array().unwrap().len(), 2);
    // Delete cascades: Thing -> Datastreams -> Observations.
    let r = app
        .with_token(M::DELETE, &format!("{B}/Things({tid})"), &tok, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        app.get(&format!("{B}/Datastreams({ds})")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, &tok, "/Observations?$count=true").await["@iot.count"],
        0
    );
}

#[tokio::test]
async fn sta_association_links() {
    let app = TestApp::new().await;
    let tok = writer(&app).await;
    let (tid, ds) = station(&app, &tok, "A", 7.0, &[1.0]).await;
    let refs = get(&app, &tok, &format!("/Things({tid})/Locations/$ref")).await;
    let link = refs["value"][0]["@iot.selfLink"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(link.contains("/Locations("));
    assert_eq!(refs["value"][0].as_object().unwrap().len(), 1);
    let loc = post(&app, &tok, "/Locations", json!({ "name": "L2", "description": "d", "encodingType": "application/geo+json", "location": { "type": "Point", "coordinates": [1, 2] } })).await;
    let lid = loc["@iot.id"].as_i64().unwrap();
    let r = app
        .with_token(
            M::POST,
            &format!("{B}/Things({tid})/Locations/$ref"),
            &tok,
            Some(json!({ "@iot.id": lid })),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        ids(&get(&app, &tok, &format!("/Things({tid})/Locations")).await).len(),
        2
    );
    let r = app
        .with_token(
            M::DELETE,
            &format!("{B}/Things({tid})/Locations({lid})/$ref"),
            &tok,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        ids(&get(&app, &tok, &format!("/Things({tid})/Locations")).await).len(),
        1
    );
    // To-one: point the Datastream to another Sensor.
    let s = post(
        &app,
        &tok,
        "/Sensors",
        json!({ "name": "S2", "description": "d", "encodingType": "text/html", "metadata": "x" }),
    )
    .await;
    let r = app
        .with_token(
            M::PUT,
            &format!("{B}/Datastreams({ds})/Sensor/$ref"),
            &tok,
            Some(json!({ "@iot.selfLink": s["@iot.selfLink"] })),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        get(&app, &tok, &format!("/Datastreams({ds})/Sensor")).await["name"],
        "S2"
    );
}

#[tokio::test]
async fn sta_visibility_hides_data_in_results_counts_expands_and_paths() {
    let app = TestApp::new().await;
    let tok = writer(&app).await;
    let (_, public_ds) = station(&app, &tok, "Öffentlich", 7.0, &[1.0]).await;
    let (internal, _) = station(&app, &tok, "Intern", 7.1, &[2.0]).await;
    let (restricted, rds) = station(&app, &tok, "Geheim", 7.2, &[3.0]).await;
    for (id, body) in [
        (internal, json!({ "visibility": "internal" })),
        (
            restricted,
            json!({ "visibility": "restricted", "groups": ["energie"] }),
        ),
    ] {
        let r = app
            .with_token(M::PATCH, &format!("{B}/Things({id})"), &tok, Some(body))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let anon = |p: &str| {
        let app = &app;
        let p = p.to_string();
        async move {
            let r = app.get(&format!("{B}{p}")).await;
            assert_eq!(r.status, StatusCode::OK, "{p}: {}", r.body);
            r.json()
        }
    };
    assert_eq!(anon("/Things?$count=true").await["@iot.count"], 1);
    assert_eq!(anon("/Observations?$count=true").await["@iot.count"], 1);
    assert_eq!(anon("/Datastreams?$count=true").await["@iot.count"], 1);
    assert_eq!(anon("/Locations?$count=true").await["@iot.count"], 1);
    assert_eq!(
        anon("/FeaturesOfInterest?$count=true").await["@iot.count"],
        1
    );
    let s = anon("/Sensors?$expand=Datastreams").await;
    let visible: usize = s["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["Datastreams"].as_array().unwrap().len())
        .sum();
    assert_eq!(visible, 1);
    assert_eq!(
        app.get(&format!("{B}/Things({internal})")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("{B}/Datastreams({rds})/Observations"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        anon("/Sensors?$filter=Datastreams/name%20eq%20'Geheim%20Temperatur'").await["value"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        anon(&format!("/Datastreams({public_ds})/Observations")).await["value"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Readers with sta:read see internal data; the group scope opens restricted data.
    let reader = app.token(&["sta:read"]).await;
    assert_eq!(
        get(&app, &reader, "/Things?$count=true").await["@iot.count"],
        2
    );
    let group = app.token(&["sta:read", "sta:group-energie"]).await;
    assert_eq!(
        get(&app, &group, "/Things?$count=true").await["@iot.count"],
        3
    );
    assert_eq!(
        get(
            &app,
            &group,
            "/Things?$filter=visibility%20eq%20'restricted'&$select=name,visibility,groups"
        )
        .await["value"][0]["groups"],
        json!(["energie"])
    );
    // Not exposed in the default representation (FROST clients see the standard document).
    assert!(
        get(&app, &group, &format!("/Things({restricted})"))
            .await
            .get("visibility")
            .is_none()
    );
    // Writes need sta:write; a thing-limited token only writes Observations of its Things.
    let r = app
        .with_token(
            M::POST,
            &format!("{B}/Things"),
            &reader,
            Some(json!({ "name": "x", "description": "y" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .send(
            axum::http::Request::post(format!("{B}/Things"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from("{}"))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["type"], "error");
    let sensor = app
        .token(&["sta:write", &format!("sta:thing-{restricted}")])
        .await;
    let r = app
        .with_token(
            M::POST,
            &format!("{B}/Datastreams({rds})/Observations"),
            &sensor,
            Some(json!({ "result": 1 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .with_token(
            M::POST,
            &format!("{B}/Datastreams({public_ds})/Observations"),
            &sensor,
            Some(json!({ "result": 1 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app
        .with_token(
            M::POST,
            &format!("{B}/Things"),
            &sensor,
            Some(json!({ "name": "x", "description": "y" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn sta_bad_inputs_answer_400_naming_the_field_and_write_nothing() {
    let app = TestApp::new().await;
    let tok = writer(&app).await;
    let cases = [
        ("/Things", json!({ "description": "no name" }), "name"),
        ("/Things", json!({ "name": 5, "description": "d" }), "name"),
        (
            "/Things",
            json!({ "name": "n", "description": "d", "properties": [1] }),
            "properties",
        ),
        (
            "/Things",
            json!({ "name": "n", "description": "d", "colour": "red" }),
            "colour",
        ),
        (
            "/Things",
            json!({ "name": "n", "description": "d", "Locations": [{ "name": "l", "description": "d", "encodingType": "application/geo+json", "location": { "type": "Nonsense" } }] }),
            "Locations[0].location",
        ),
        (
            "/Things",
            json!({ "name": "n", "description": "d", "Datastreams": [{ "name": "d", "description": "d", "observationType": "x", "unitOfMeasurement": {}, "Sensor": { "@iot.id": 999 }, "ObservedProperty": { "@iot.id": 998 } }] }),
            "Datastreams[0].Sensor.@iot.id",
        ),
        ("/Observations", json!({ "result": 1 }), "Datastream"),
        (
            "/Observations",
            json!({ "result": 1, "phenomenonTime": "gestern", "Datastream": { "@iot.id": 1 } }),
            "Datastream.@iot.id",
        ),
    ];
    for (path, body, field) in cases {
        let r = app
            .with_token(M::POST, &format!("{B}{path}"), &tok, Some(body.clone()))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        let v = r.json();
        assert_eq!(v["code"], 400);
        assert_eq!(v["type"], "error");
        assert!(
            v["message"].as_str().unwrap().contains(field),
            "{field}: {}",
            v["message"]
        );
    }
    // The failed deep insert left nothing behind.
    assert_eq!(
        get(&app, &tok, "/Things?$count=true").await["@iot.count"],
        0
    );
    assert_eq!(
        get(&app, &tok, "/Locations?$count=true").await["@iot.count"],
        0
    );
    // Parse errors name the option, column and expectation.
    let r = app.get(&format!("{B}/Things?$filter=name%20eq")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let m = r.json()["message"].as_str().unwrap().to_string();
    assert!(
        m.contains("$filter") && m.contains("column") && m.contains("expected"),
        "{m}"
    );
    let r = app
        .get(&format!("{B}/Things?$filter=nosuch%20eq%201"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["message"].as_str().unwrap().contains("nosuch"));
    assert_eq!(
        app.get(&format!("{B}/Gadgets")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn sta_multidatastream_extension() {
    let app = TestApp::new().await;
    let tok = writer(&app).await;
    let (tid, _) = station(&app, &tok, "A", 7.0, &[]).await;
    let md = post(&app, &tok, "/MultiDatastreams", json!({
        "name": "Wind", "description": "Wind", "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation",
        "multiObservationDataTypes": ["http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement", "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"],
        "unitOfMeasurements": [{ "name": "m/s", "symbol": "m/s", "definition": "x" }, { "name": "Grad", "symbol": "°", "definition": "y" }],
        "Thing": { "@iot.id": tid },
        "Sensor": { "name": "Anemometer", "description": "d", "encodingType": "text/html", "metadata": "m" },
        "ObservedProperties": [
            { "name": "Geschwindigkeit", "definition": "a", "description": "d" },
            { "name": "Richtung", "definition": "b", "description": "d" }
        ]
    })).await;
    let mid = md["@iot.id"].as_i64().unwrap();
    let o = post(
        &app,
        &tok,
        &format!("/MultiDatastreams({mid})/Observations"),
        json!({ "result": [3.5, 270] }),
    )
    .await;
    assert_eq!(o["result"], json!([3.5, 270]));
    let r = app
        .with_token(
            M::POST,
            &format!("{B}/MultiDatastreams({mid})/Observations"),
            &tok,
            Some(json!({ "result": [1] })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let ops = get(
        &app,
        &tok,
        &format!("/MultiDatastreams({mid})/ObservedProperties"),
    )
    .await;
    assert_eq!(ops["value"].as_array().unwrap().len(), 2);
}
