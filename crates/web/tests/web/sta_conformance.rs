//! SensorThings API 1.1 conformance, one test per requirement class of OGC 18-088 (sensing
//! core, create-update-delete, request data / filtering): the requests a conformance client
//! sends and what the standard says the answers must be.

use axum::http::StatusCode;
use serde_json::{Value, json};
use web::testing::{HttpMethod as M, TestApp};

const B: &str = "/sta/v1.1";
const MEASUREMENT: &str = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement";

/// Creates an entity, checks 201 + Location and that the Location can be read; returns the id.
async fn create(app: &TestApp, tok: &str, path: &str, body: Value) -> i64 {
    let r = app
        .with_token(M::POST, &format!("{B}{path}"), tok, Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "POST {path}: {}", r.body);
    let loc = r.location().expect("Location header");
    assert!(loc.starts_with("http"), "absolute Location: {loc}");
    let id = r.json()["@iot.id"].as_i64().expect("@iot.id");
    assert!(loc.ends_with(&format!("({id})")), "{loc} names {id}");
    let rel = loc
        .split_once(B)
        .expect("Location below the service root")
        .1;
    let g = app.get(&format!("{B}{rel}")).await;
    assert_eq!(g.status, StatusCode::OK, "GET {loc}");
    id
}

async fn status_of(app: &TestApp, tok: &str, m: M, path: &str, body: Option<Value>) -> StatusCode {
    app.with_token(m, &format!("{B}{path}"), tok, body)
        .await
        .status
}

async fn get(app: &TestApp, path: &str) -> Value {
    let r = app.get(&format!("{B}{path}")).await;
    assert_eq!(r.status, StatusCode::OK, "GET {path}: {}", r.body);
    r.json()
}

fn value(v: &Value) -> &Vec<Value> {
    v["value"].as_array().expect("value array")
}

fn datastream(thing: i64, sensor: i64, op: i64) -> Value {
    json!({
        "name": "ds", "description": "ds", "observationType": MEASUREMENT,
        "unitOfMeasurement": { "name": "Celsius", "symbol": "degC", "definition": "http://qudt.org/vocab/unit#DegreeCelsius" },
        "Thing": { "@iot.id": thing }, "Sensor": { "@iot.id": sensor }, "ObservedProperty": { "@iot.id": op }
    })
}

/// A Thing with Location, Datastream (Sensor, ObservedProperty) and three Observations.
async fn fixture(app: &TestApp, tok: &str) -> (i64, i64) {
    let t = create(
        app,
        tok,
        "/Things",
        json!({
            "name": "thing 1", "description": "thing 1", "properties": { "reference": "first" },
            "Locations": [{ "name": "location 1", "description": "location 1", "encodingType": "application/geo+json",
                            "location": { "type": "Point", "coordinates": [-117.05, 51.05] } }],
            "Datastreams": [{
                "name": "datastream 1", "description": "datastream 1", "observationType": MEASUREMENT,
                "unitOfMeasurement": { "name": "Lumen", "symbol": "lm", "definition": "http://qudt.org/lumen" },
                "ObservedProperty": { "name": "Luminous Flux", "definition": "http://qudt.org/flux", "description": "op 1" },
                "Sensor": { "name": "sensor 1", "description": "sensor 1", "encodingType": "application/pdf", "metadata": "Light flux sensor" }
            }]
        }),
    )
    .await;
    let ds = value(&get(app, &format!("/Things({t})/Datastreams")).await)[0]["@iot.id"]
        .as_i64()
        .unwrap();
    for (i, r) in [1, 2, 3].iter().enumerate() {
        create(
            app,
            tok,
            &format!("/Datastreams({ds})/Observations"),
            json!({ "phenomenonTime": format!("2015-03-0{}T00:00:00Z", i + 1), "result": r }),
        )
        .await;
    }
    (t, ds)
}

/// A.1 sensing core: service root, entity control information, properties, `$value`,
/// association links, nested resource paths and 404 for what does not exist.
#[tokio::test]
async fn sta_conformance_sensing_core() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let (t, ds) = fixture(&app, &tok).await;

    // Service root: every entity set with its absolute URL, the core conformance classes.
    let root = get(&app, "").await;
    let base = format!("{}{B}", app.env.config.public_url());
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
        assert!(
            value(&root)
                .iter()
                .any(|e| e["name"] == set && e["url"] == format!("{base}/{set}")),
            "{set} in {root}"
        );
    }
    let conf = root["serverSettings"]["conformance"].as_array().unwrap();
    for c in [
        "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
        "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
        "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
        "http://www.opengis.net/spec/iot_sensing/1.1/req/create-update-delete",
    ] {
        assert!(conf.iter().any(|v| v == c), "{c}");
    }

    // Entity control information and navigation links, absolute.
    let thing = get(&app, &format!("/Things({t})")).await;
    assert_eq!(thing["@iot.id"], json!(t));
    assert_eq!(thing["@iot.selfLink"], json!(format!("{base}/Things({t})")));
    for nav in ["Locations", "HistoricalLocations", "Datastreams"] {
        assert_eq!(
            thing[format!("{nav}@iot.navigationLink")],
            json!(format!("{base}/Things({t})/{nav}"))
        );
    }
    // An Observation always shows resultTime (null when unknown) and its time in UTC.
    let page = get(
        &app,
        &format!("/Datastreams({ds})/Observations?$orderby=phenomenonTime"),
    )
    .await;
    let obs = &value(&page)[0];
    assert!(obs.as_object().unwrap().contains_key("resultTime"), "{obs}");
    assert_eq!(obs["resultTime"], Value::Null);
    assert_eq!(obs["phenomenonTime"], json!("2015-03-01T00:00:00Z"));
    assert_eq!(obs["result"], json!(1));

    // A property is an object with that one member; $value is the raw value.
    let name = get(&app, &format!("/Things({t})/name")).await;
    assert_eq!(name, json!({ "name": "thing 1" }));
    let raw = app.get(&format!("{B}/Things({t})/name/$value")).await;
    assert_eq!(raw.status, StatusCode::OK);
    assert_eq!(raw.body, "thing 1");
    assert!(
        raw.header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let loc_id = value(&get(&app, &format!("/Things({t})/Locations")).await)[0]["@iot.id"]
        .as_i64()
        .unwrap();
    let raw = app
        .get(&format!("{B}/Locations({loc_id})/location/$value"))
        .await;
    assert_eq!(raw.status, StatusCode::OK);
    assert!(raw.body.starts_with('{'), "{}", raw.body);

    // Association links: only self links.
    let refs = get(&app, &format!("/Things({t})/Datastreams/$ref")).await;
    for e in value(&refs) {
        assert_eq!(e.as_object().unwrap().len(), 1, "{e}");
        assert_eq!(
            e["@iot.selfLink"],
            json!(format!("{base}/Datastreams({ds})"))
        );
    }
    let one = get(&app, &format!("/Datastreams({ds})/Thing/$ref")).await;
    assert_eq!(
        one,
        json!({ "@iot.selfLink": format!("{base}/Things({t})") })
    );

    // Nested paths: to-one and to-many, two levels.
    let sensor = get(&app, &format!("/Datastreams({ds})/Sensor")).await;
    assert_eq!(sensor["name"], "sensor 1");
    let nested = get(
        &app,
        &format!("/Things({t})/Datastreams({ds})/Observations"),
    )
    .await;
    assert_eq!(value(&nested).len(), 3);
    let hl = get(&app, &format!("/Things({t})/HistoricalLocations")).await;
    assert_eq!(
        value(&hl).len(),
        1,
        "deep insert of a Location records a HistoricalLocation"
    );
    let hid = value(&hl)[0]["@iot.id"].as_i64().unwrap();
    let hl_locs = get(&app, &format!("/HistoricalLocations({hid})/Locations")).await;
    assert_eq!(value(&hl_locs)[0]["@iot.id"], json!(loc_id));

    // What does not exist answers 404.
    for p in [
        "/Things(9223372036854775807)".to_string(),
        format!("/Things({t})/Datastreams({})", ds + 1000),
        format!("/Things({t})/Nonsense"),
        "/Nonsense".to_string(),
        "/Observations(9223372036854775807)/FeatureOfInterest".to_string(),
    ] {
        let r = app.get(&format!("{B}{p}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{p}: {}", r.body);
    }
}

/// A.2 create-update-delete: 201 with Location, links by id, integrity errors, automatic
/// FeatureOfInterest, HistoricalLocations, PATCH, PATCH with inline entities refused, DELETE
/// and its cascades.
#[tokio::test]
async fn sta_conformance_create_update_delete() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let thing = create(
        &app,
        &tok,
        "/Things",
        json!({ "name": "Test Thing", "description": "d" }),
    )
    .await;
    let location = json!({ "type": "Point", "coordinates": [-114.05, 51.05] });
    let loc = create(
        &app,
        &tok,
        "/Locations",
        json!({ "name": "bow river", "description": "bow river", "encodingType": "application/vnd.geo+json", "location": location }),
    )
    .await;
    let sensor = create(
        &app,
        &tok,
        "/Sensors",
        json!({ "name": "Barometer", "description": "b", "encodingType": "application/pdf", "metadata": "Barometer" }),
    )
    .await;
    let op = create(
        &app,
        &tok,
        "/ObservedProperties",
        json!({ "name": "DewPoint", "definition": "http://dbpedia.org/page/Dew_point", "description": "d" }),
    )
    .await;
    let foi = create(
        &app,
        &tok,
        "/FeaturesOfInterest",
        json!({ "name": "station", "description": "station", "encodingType": "application/vnd.geo+json",
                "feature": { "type": "Point", "coordinates": [10, 10] } }),
    )
    .await;
    let ds = create(&app, &tok, "/Datastreams", datastream(thing, sensor, op)).await;

    // Missing required links: 400.
    for missing in ["Thing", "Sensor", "ObservedProperty"] {
        let mut body = datastream(thing, sensor, op);
        body.as_object_mut().unwrap().remove(missing);
        let s = status_of(&app, &tok, M::POST, "/Datastreams", Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "Datastream without {missing}");
    }
    let s = status_of(
        &app,
        &tok,
        M::POST,
        "/Observations",
        Some(json!({ "result": 8, "FeatureOfInterest": { "@iot.id": foi } })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "Observation without Datastream");
    // Without FeatureOfInterest and without a Location of the Thing: 400.
    let s = status_of(
        &app,
        &tok,
        M::POST,
        "/Observations",
        Some(json!({ "result": 8, "Datastream": { "@iot.id": ds } })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "no FeatureOfInterest to derive");

    let o1 = create(
        &app,
        &tok,
        "/Observations",
        json!({ "phenomenonTime": "2015-03-01T00:40:00.000Z", "result": 8,
                "Datastream": { "@iot.id": ds }, "FeatureOfInterest": { "@iot.id": foi } }),
    )
    .await;

    // Linking a Location by id in a PATCH of the Thing: 200, and a HistoricalLocation.
    let r = app
        .with_token(
            M::PATCH,
            &format!("{B}/Things({thing})"),
            &tok,
            Some(json!({ "Locations": [{ "@iot.id": loc }] })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let hls = get(
        &app,
        &format!("/Things({thing})/HistoricalLocations?$expand=Locations"),
    )
    .await;
    assert_eq!(value(&hls).len(), 1);
    assert_eq!(value(&hls)[0]["Locations"][0]["@iot.id"], json!(loc));

    // Automatic FeatureOfInterest from the Thing's Location, reused by the next Observation.
    let r = app
        .with_token(
            M::POST,
            &format!("{B}/Observations"),
            &tok,
            Some(json!({ "phenomenonTime": "2015-03-01T00:00:00.000Z", "resultTime": "2015-03-01T01:00:00.000Z",
                         "result": 100, "Datastream": { "@iot.id": ds } })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let o2 = r.json();
    assert_eq!(o2["resultTime"], json!("2015-03-01T01:00:00Z"));
    let o2 = o2["@iot.id"].as_i64().unwrap();
    let f2 = get(&app, &format!("/Observations({o2})/FeatureOfInterest")).await;
    assert_eq!(f2["feature"], location);
    let o3 = create(
        &app,
        &tok,
        "/Observations",
        json!({ "phenomenonTime": "2015-05-01T00:00:00.000Z", "result": 105, "Datastream": { "@iot.id": ds } }),
    )
    .await;
    let f3 = get(&app, &format!("/Observations({o3})/FeatureOfInterest")).await;
    assert_eq!(f3["@iot.id"], f2["@iot.id"]);
    assert_eq!(
        get(&app, &format!("/Observations({o3})")).await["resultTime"],
        Value::Null
    );

    // Datastream times follow its Observations.
    let d = get(&app, &format!("/Datastreams({ds})")).await;
    assert_eq!(
        d["phenomenonTime"],
        json!("2015-03-01T00:00:00Z/2015-05-01T00:00:00Z")
    );
    assert_eq!(
        d["resultTime"],
        json!("2015-03-01T01:00:00Z/2015-03-01T01:00:00Z")
    );

    // Moving the last Observation back shrinks the Datastream's phenomenonTime; deleting it
    // shrinks it to the Observations that are left.
    assert_eq!(
        status_of(
            &app,
            &tok,
            M::PATCH,
            &format!("/Observations({o3})"),
            Some(json!({ "phenomenonTime": "2015-04-01T00:00:00Z" }))
        )
        .await,
        StatusCode::OK
    );
    let moved = get(&app, &format!("/Datastreams({ds})")).await;
    assert_eq!(
        moved["phenomenonTime"],
        json!("2015-03-01T00:00:00Z/2015-04-01T00:00:00Z")
    );
    assert_eq!(
        status_of(&app, &tok, M::DELETE, &format!("/Observations({o3})"), None).await,
        StatusCode::OK
    );
    let latest = get(
        &app,
        &format!("/Datastreams({ds})/Observations?$orderby=phenomenonTime%20desc&$top=1"),
    )
    .await;
    let last = value(&latest)[0]["phenomenonTime"]
        .as_str()
        .unwrap()
        .to_string();
    let last_end = last.split('/').next_back().unwrap().to_string();
    let shrunk = get(&app, &format!("/Datastreams({ds})")).await;
    assert_eq!(
        shrunk["phenomenonTime"],
        json!(format!("2015-03-01T00:00:00Z/{last_end}")),
        "{shrunk}"
    );
    assert_eq!(
        shrunk["resultTime"],
        json!("2015-03-01T01:00:00Z/2015-03-01T01:00:00Z")
    );

    // observedArea: the bounding box of the Observations' FeaturesOfInterest.
    assert_eq!(
        d["observedArea"],
        json!({ "type": "Polygon", "coordinates": [[
            [-114.05, 10], [10, 10], [10, 51.05], [-114.05, 51.05], [-114.05, 10]
        ]] }),
        "{d}"
    );

    // HistoricalLocation created directly.
    let hl = create(
        &app,
        &tok,
        "/HistoricalLocations",
        json!({ "time": "2015-03-01T00:40:00.000Z", "Thing": { "@iot.id": thing }, "Locations": [{ "@iot.id": loc }] }),
    )
    .await;

    // PATCH: 200, only the given properties change.
    let before = get(&app, &format!("/Datastreams({ds})")).await;
    let r = app
        .with_token(
            M::PATCH,
            &format!("{B}/Datastreams({ds})"),
            &tok,
            Some(json!({ "description": "Patched Description" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let after = get(&app, &format!("/Datastreams({ds})")).await;
    assert_eq!(after["description"], "Patched Description");
    assert_eq!(after["name"], before["name"]);
    assert_eq!(after["unitOfMeasurement"], before["unitOfMeasurement"]);
    let r = app
        .with_token(
            M::PATCH,
            &format!("{B}/HistoricalLocations({hl})"),
            &tok,
            Some(json!({ "time": "2015-07-01T00:00:00.000Z" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["time"], json!("2015-07-01T00:00:00Z"));

    // PATCH with related entities inline (not links by id) is refused, nothing changes.
    let thing_count = value(&get(&app, "/Things").await).len();
    let sensor_count = value(&get(&app, "/Sensors").await).len();
    let invalid: Vec<(String, Value)> = vec![
        (
            format!("/Things({thing})"),
            json!({ "Locations": [{ "name": "West Roof", "description": "West Roof", "encodingType": "application/vnd.geo+json",
                                    "location": { "type": "Point", "coordinates": [-117.05, 51.05] } }] }),
        ),
        (
            format!("/Things({thing})"),
            json!({ "Datastreams": [{ "unitOfMeasurement": { "name": "Lumen", "symbol": "lm", "definition": "x" } }] }),
        ),
        (
            format!("/Sensors({sensor})"),
            json!({ "Datastreams": [{ "unitOfMeasurement": { "name": "Lumen", "symbol": "lm", "definition": "x" }, "Thing": { "@iot.id": thing } }] }),
        ),
        (
            format!("/Datastreams({ds})"),
            json!({ "ObservedProperty": { "name": "Count", "definition": "http://x", "description": "Count" } }),
        ),
        (
            format!("/Datastreams({ds})"),
            json!({ "Sensor": { "name": "Acme", "description": "Acme", "encodingType": "application/pdf", "metadata": "m" } }),
        ),
        (
            format!("/Datastreams({ds})"),
            json!({ "Thing": { "name": "test", "description": "test" } }),
        ),
        (
            format!("/Datastreams({ds})"),
            json!({ "Observations": [{ "phenomenonTime": "2015-03-01T00:00:00Z", "result": 92122 }] }),
        ),
    ];
    for (path, body) in invalid {
        let s = status_of(&app, &tok, M::PATCH, &path, Some(body.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "PATCH {path} {body}");
    }
    assert_eq!(value(&get(&app, "/Things").await).len(), thing_count);
    assert_eq!(value(&get(&app, "/Sensors").await).len(), sensor_count);

    // DELETE: 200, then 404; a missing entity: 404.
    for (set, id) in [("Observations", o1), ("HistoricalLocations", hl)] {
        let s = status_of(&app, &tok, M::DELETE, &format!("/{set}({id})"), None).await;
        assert_eq!(s, StatusCode::OK, "DELETE {set}({id})");
        let r = app.get(&format!("{B}/{set}({id})")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    for set in [
        "Things",
        "Locations",
        "HistoricalLocations",
        "Sensors",
        "ObservedProperties",
        "Datastreams",
        "Observations",
        "FeaturesOfInterest",
    ] {
        let s = status_of(
            &app,
            &tok,
            M::DELETE,
            &format!("/{set}(9223372036854775807)"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "DELETE missing {set}");
    }
}

/// The integrity constraints of DELETE: what goes with each entity type and what stays.
#[tokio::test]
async fn sta_conformance_delete_cascades() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    // (deleted, gone, kept)
    let cases: [(&str, &[&str], &[&str]); 6] = [
        (
            "Things",
            &["Datastreams", "HistoricalLocations", "Observations"],
            &[
                "Locations",
                "Sensors",
                "ObservedProperties",
                "FeaturesOfInterest",
            ],
        ),
        (
            "Datastreams",
            &["Observations"],
            &[
                "Things",
                "Sensors",
                "ObservedProperties",
                "FeaturesOfInterest",
                "Locations",
                "HistoricalLocations",
            ],
        ),
        (
            "Locations",
            &["HistoricalLocations"],
            &[
                "Things",
                "Sensors",
                "ObservedProperties",
                "FeaturesOfInterest",
                "Datastreams",
                "Observations",
            ],
        ),
        (
            "Sensors",
            &["Datastreams", "Observations"],
            &[
                "Things",
                "ObservedProperties",
                "FeaturesOfInterest",
                "Locations",
                "HistoricalLocations",
            ],
        ),
        (
            "ObservedProperties",
            &["Datastreams", "Observations"],
            &[
                "Things",
                "Sensors",
                "FeaturesOfInterest",
                "Locations",
                "HistoricalLocations",
            ],
        ),
        (
            "FeaturesOfInterest",
            &["Observations"],
            &[
                "Things",
                "Sensors",
                "ObservedProperties",
                "Locations",
                "HistoricalLocations",
                "Datastreams",
            ],
        ),
    ];
    for (del, gone, kept) in cases {
        let (t, ds) = fixture(&app, &tok).await;
        let obs =
            value(&get(&app, &format!("/Datastreams({ds})/Observations")).await)[0]["@iot.id"]
                .as_i64()
                .unwrap();
        let id_of = |v: Value| {
            v["@iot.id"]
                .as_i64()
                .unwrap_or_else(|| value(&v)[0]["@iot.id"].as_i64().unwrap())
        };
        let mut ids = std::collections::HashMap::new();
        ids.insert("Things", t);
        ids.insert("Datastreams", ds);
        ids.insert("Observations", obs);
        ids.insert(
            "Locations",
            id_of(get(&app, &format!("/Things({t})/Locations")).await),
        );
        ids.insert(
            "HistoricalLocations",
            id_of(get(&app, &format!("/Things({t})/HistoricalLocations")).await),
        );
        ids.insert(
            "Sensors",
            id_of(get(&app, &format!("/Datastreams({ds})/Sensor")).await),
        );
        ids.insert(
            "ObservedProperties",
            id_of(get(&app, &format!("/Datastreams({ds})/ObservedProperty")).await),
        );
        ids.insert(
            "FeaturesOfInterest",
            id_of(get(&app, &format!("/Observations({obs})/FeatureOfInterest")).await),
        );
        let s = status_of(
            &app,
            &tok,
            M::DELETE,
            &format!("/{del}({})", ids[del]),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "DELETE {del}");
        for g in gone.iter().chain([&del]) {
            let r = app.get(&format!("{B}/{g}({})", ids[g])).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{g} goes with {del}");
        }
        for k in kept {
            let r = app.get(&format!("{B}/{k}({})", ids[k])).await;
            assert_eq!(r.status, StatusCode::OK, "{k} stays when {del} is deleted");
        }
    }
}

/// A.3 request data: the order of evaluation of the query options, `$count` with `$top`,
/// `$skip` without nextLink past the end, `$orderby` on every property (geometries too),
/// `$select` and `$expand` with nested options.
#[tokio::test]
async fn sta_conformance_request_data() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let (t, ds) = fixture(&app, &tok).await;
    let (_, ds2) = fixture(&app, &tok).await;
    for (i, r) in (4..=12).enumerate() {
        let d = if i % 2 == 0 { ds } else { ds2 };
        create(
            &app,
            &tok,
            &format!("/Datastreams({d})/Observations"),
            json!({ "phenomenonTime": format!("2015-03-{:02}T00:00:00Z", r), "result": r }),
        )
        .await;
    }
    // Query options apply as $filter, $count, $orderby, $skip, $top. A number compared with a
    // string literal compares as text ('4' .. '9' are greater than '3').
    let v = get(
        &app,
        "/Observations?$count=true&$top=1&$skip=2&$orderby=phenomenonTime%20asc&$filter=result%20gt%20'3'",
    )
    .await;
    assert_eq!(v["@iot.count"], json!(6), "{v}");
    assert_eq!(value(&v).len(), 1);
    assert_eq!(value(&v)[0]["result"], json!(6));
    let v = get(
        &app,
        "/Observations?$count=true&$top=2&$filter=result%20gt%203",
    )
    .await;
    assert_eq!(v["@iot.count"], json!(9));
    assert!(v["@iot.nextLink"].as_str().unwrap().starts_with("http"));

    // $top=0: only the count, no page to follow.
    let v = get(&app, "/Observations?$count=true&$top=0").await;
    assert_eq!(v["@iot.count"], json!(15));
    assert!(
        value(&v).is_empty() && v.get("@iot.nextLink").is_none(),
        "{v}"
    );

    // $skip past the end: no nextLink.
    let v = get(&app, "/Things?$skip=1").await;
    assert_eq!(value(&v).len(), 1);
    assert!(v.get("@iot.nextLink").is_none());
    let v = get(&app, "/Things?$skip=2").await;
    assert!(value(&v).is_empty() && v.get("@iot.nextLink").is_none());

    // $orderby on every property, geometries and JSON included.
    for (set, props) in [
        ("Things", &["name", "description"][..]),
        (
            "Locations",
            &["name", "description", "encodingType", "location"][..],
        ),
        ("HistoricalLocations", &["time"][..]),
        (
            "Datastreams",
            &[
                "name",
                "description",
                "unitOfMeasurement",
                "observationType",
            ][..],
        ),
        (
            "Sensors",
            &["name", "description", "encodingType", "metadata"][..],
        ),
        (
            "ObservedProperties",
            &["name", "definition", "description"][..],
        ),
        (
            "Observations",
            &["phenomenonTime", "result", "resultTime"][..],
        ),
        (
            "FeaturesOfInterest",
            &["name", "description", "encodingType", "feature"][..],
        ),
    ] {
        let all = props.join(",");
        for q in props.iter().map(|p| format!("{p}%20desc")).chain([all]) {
            let r = app.get(&format!("{B}/{set}?$orderby={q}")).await;
            assert_eq!(r.status, StatusCode::OK, "{set} $orderby={q}: {}", r.body);
        }
    }
    let v = get(&app, "/Observations?$orderby=result%20desc&$top=3").await;
    let results: Vec<i64> = value(&v)
        .iter()
        .map(|o| o["result"].as_i64().unwrap())
        .collect();
    assert_eq!(results, vec![12, 11, 10]);

    // $select: only what was selected; navigation properties as links.
    let v = get(&app, &format!("/Things({t})?$select=name,Datastreams")).await;
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 2, "{v}");
    assert_eq!(v["name"], "thing 1");
    assert!(v["Datastreams@iot.navigationLink"].is_string());
    let v = get(&app, "/Things?$select=id,name").await;
    for e in value(&v) {
        assert!(e["@iot.id"].is_i64(), "{e}");
        assert!(e.get("description").is_none());
    }

    // $expand with nested options and counts, two levels, with "/" paths.
    let v = get(
        &app,
        &format!("/Things({t})?$expand=Datastreams($select=name;$expand=Observations($orderby=result%20desc;$top=2;$count=true)),Locations"),
    )
    .await;
    let d = &v["Datastreams"][0];
    assert_eq!(d["name"], "datastream 1");
    assert!(d.get("description").is_none());
    assert_eq!(d["Observations@iot.count"], json!(8));
    assert_eq!(d["Observations"].as_array().unwrap().len(), 2);
    assert_eq!(d["Observations"][0]["result"], json!(12));
    assert!(d["Observations@iot.nextLink"].is_string());
    assert!(v["Locations"][0]["location"].is_object());
    let v = get(
        &app,
        &format!("/Datastreams({ds})?$expand=Observations/FeatureOfInterest,Thing/Locations"),
    )
    .await;
    assert!(
        v["Observations"][0]["FeatureOfInterest"]["feature"].is_object(),
        "{v}"
    );
    assert!(v["Thing"]["Locations"][0]["@iot.id"].is_i64(), "{v}");

    // Unknown properties or options: 400 with an STA error document.
    for q in [
        "$orderby=nonsense",
        "$filter=nonsense%20eq%201",
        "$expand=Nonsense",
        "$top=-1",
        "$select=nonsense",
        "$expand=Datastreams($select=nonsense)",
    ] {
        let r = app.get(&format!("{B}/Things?{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(r.json()["code"], json!(400));
    }
}

/// A.3 filtering functions with their OData semantics.
#[tokio::test]
async fn sta_conformance_filter_functions() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let (t, ds) = fixture(&app, &tok).await;
    let n = |v: Value| value(&v).len();
    let things = |f: &str| format!("/Things?$filter={f}");
    assert_eq!(n(get(&app, &things("substringof('ing',name)")).await), 1);
    assert_eq!(n(get(&app, &things("substringof(name,'ing')")).await), 0);
    assert_eq!(
        n(get(&app, &things("indexof(name,'thing')%20eq%200")).await),
        1
    );
    assert_eq!(
        n(get(&app, &things("substring(name,1)%20eq%20'hing%201'")).await),
        1
    );
    assert_eq!(
        n(get(&app, &things("substring(name,1,3)%20eq%20'hin'")).await),
        1
    );
    assert_eq!(n(get(&app, &things("length(name)%20eq%207")).await), 1);
    assert_eq!(
        n(get(&app, &things("properties/reference%20eq%20'first'")).await),
        1
    );
    let obs = |f: &str| format!("/Datastreams({ds})/Observations?$filter={f}");
    assert_eq!(n(get(&app, &obs("day(phenomenonTime)%20eq%202")).await), 1);
    assert_eq!(
        n(get(&app, &obs("phenomenonTime%20ge%202015-03-02T00:00:00Z")).await),
        2
    );
    assert_eq!(n(get(&app, &obs("result%20mul%202%20eq%204")).await), 1);
    // geo.distance in the units of the geometry's CRS (degrees for WGS 84).
    let f = "geo.distance(location,geography'POINT(-117.05%2052.05)')%20lt%201.5";
    assert_eq!(n(get(&app, &format!("/Locations?$filter={f}")).await), 1);
    let f = "geo.distance(location,geography'POINT(-117.05%2052.05)')%20lt%200.5";
    assert_eq!(n(get(&app, &format!("/Locations?$filter={f}")).await), 0);
    // Datastream times as intervals.
    let v = get(
        &app,
        &format!("/Things({t})/Datastreams?$filter=year(phenomenonTime)%20eq%202015"),
    )
    .await;
    assert_eq!(value(&v).len(), 1);
}
