//! SensorThings extensions at /sta/v1.1: the Data Array extension (`$resultFormat=dataArray`,
//! `CreateObservations`), `$batch` (multipart changesets and JSON batch), and what goes beyond
//! FROST: time-bucketed aggregation, `LatestObservations`, counters behind `$count`, and the
//! demo city's sensors. Runs on SQLite and (with STADTKERN_TEST_DATABASE) on PostgreSQL.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use web::testing::{HttpMethod as M, TestApp, TestResponse};

const B: &str = "/sta/v1.1";

async fn post(app: &TestApp, tok: &str, path: &str, body: Value) -> TestResponse {
    app.with_token(M::POST, &format!("{B}{path}"), tok, Some(body))
        .await
}

/// Spaces and quotes of readable test URLs, encoded.
fn enc(path: &str) -> String {
    path.replace(' ', "%20").replace('\'', "%27")
}

async fn get(app: &TestApp, tok: &str, path: &str) -> Value {
    let r = app
        .with_token(M::GET, &format!("{B}{}", enc(path)), tok, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    r.json()
}

fn assert_sta_error(r: &TestResponse, status: StatusCode, needle: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let v = r.json();
    assert_eq!(v["code"], json!(status.as_u16()), "{v}");
    assert_eq!(v["type"], json!("error"));
    let msg = v["message"].as_str().unwrap_or("");
    assert!(msg.contains(needle), "'{needle}' not in '{msg}'");
}

/// A Thing with a Location and two Datastreams (temperature, humidity), with the given
/// visibility; returns (thing, [datastreams]).
async fn station(app: &TestApp, tok: &str, name: &str, visibility: &str) -> (i64, Vec<i64>) {
    let ds = |n: &str| {
        json!({
            "name": format!("{name} {n}"), "description": n,
            "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
            "unitOfMeasurement": { "name": "u", "symbol": "u", "definition": "u" },
            "visibility": visibility,
            "Sensor": { "name": "S", "description": "s", "encodingType": "text/html", "metadata": "m" },
            "ObservedProperty": { "name": n, "description": n, "definition": format!("def:{n}") }
        })
    };
    let r = post(
        app,
        tok,
        "/Things",
        json!({
            "name": name, "description": "Station", "visibility": visibility,
            "Locations": [{ "name": "Ort", "description": "d", "encodingType": "application/geo+json",
                            "location": { "type": "Point", "coordinates": [7.46, 51.51] } }],
            "Datastreams": [ds("Temperatur"), ds("Feuchte")]
        }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let thing = r.json()["@iot.id"].as_i64().unwrap();
    let list = get(
        app,
        tok,
        &format!("/Things({thing})/Datastreams?$orderby=id&$select=id"),
    )
    .await;
    let ids = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["@iot.id"].as_i64().unwrap())
        .collect();
    (thing, ids)
}

/// Observations through CreateObservations: `rows` are (ISO time, result).
async fn create(app: &TestApp, tok: &str, ds: i64, rows: &[(&str, f64)]) -> Vec<Value> {
    let data: Vec<Value> = rows.iter().map(|(t, v)| json!([t, v])).collect();
    let r = post(
        app,
        tok,
        "/CreateObservations",
        json!([{ "Datastream": { "@iot.id": ds }, "components": ["phenomenonTime", "result"],
                 "dataArray@iot.count": data.len(), "dataArray": data }]),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.json().as_array().unwrap().clone()
}

fn id_of(link: &Value) -> i64 {
    let s = link.as_str().unwrap();
    s[s.rfind('(').unwrap() + 1..s.len() - 1].parse().unwrap()
}

#[tokio::test]
async fn sta_extras_create_observations_answers_links_or_error_per_row() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let (_, ds) = station(&app, &tok, "A", "public").await;
    // A FeatureOfInterest to name per row.
    let foi = post(
        &app,
        &tok,
        "/FeaturesOfInterest",
        json!({ "name": "F", "description": "f", "encodingType": "application/geo+json",
                "feature": { "type": "Point", "coordinates": [7.0, 51.0] } }),
    )
    .await
    .json()["@iot.id"]
        .as_i64()
        .unwrap();
    let r = post(
        &app,
        &tok,
        "/CreateObservations",
        json!([
            { "Datastream": { "@iot.id": ds[0] },
              "components": ["phenomenonTime", "result", "FeatureOfInterest/id"],
              "dataArray@iot.count": 4,
              "dataArray": [
                ["2010-12-23T10:20:00-0700", 20, foi],
                ["2010-12-23T10:21:00-0700", 30],            // wrong component count
                ["2010-12-23T10:22:00-0700", 40, 987654],    // unknown FeatureOfInterest
                ["not a time", 50, foi]
              ] },
            { "Datastream": { "@iot.id": ds[1] },
              "components": ["result", "phenomenonTime", "resultTime", "parameters"],
              "dataArray": [[55.5, "2010-12-24T00:00:00Z/2010-12-24T01:00:00Z", "2010-12-24T01:00:05Z", { "q": 1 }]] }
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let links = r.json();
    let links = links.as_array().unwrap();
    assert_eq!(links.len(), 5);
    assert!(
        links[0]
            .as_str()
            .unwrap()
            .contains("/sta/v1.1/Observations(")
    );
    assert_eq!(
        &links[1..4],
        &[json!("error"), json!("error"), json!("error")]
    );
    let o1 = get(
        &app,
        &tok,
        &format!(
            "/Observations({})?$expand=FeatureOfInterest($select=id)",
            id_of(&links[0])
        ),
    )
    .await;
    assert_eq!(o1["phenomenonTime"], json!("2010-12-23T17:20:00Z"));
    assert_eq!(o1["result"], json!(20));
    assert_eq!(o1["FeatureOfInterest"]["@iot.id"], json!(foi));
    let o2 = get(&app, &tok, &format!("/Observations({})", id_of(&links[4]))).await;
    assert_eq!(
        o2["phenomenonTime"],
        json!("2010-12-24T00:00:00Z/2010-12-24T01:00:00Z")
    );
    assert_eq!(o2["resultTime"], json!("2010-12-24T01:00:05Z"));
    assert_eq!(o2["parameters"], json!({ "q": 1 }));
    // The Datastream's observedArea covers the FeaturesOfInterest of the bulk rows.
    let d0 = get(&app, &tok, &format!("/Datastreams({})", ds[0])).await;
    assert_eq!(
        d0["observedArea"],
        json!({ "type": "Point", "coordinates": [7, 51] }),
        "{d0}"
    );
    let d1 = get(&app, &tok, &format!("/Datastreams({})", ds[1])).await;
    assert_eq!(
        d1["observedArea"],
        json!({ "type": "Point", "coordinates": [7.46, 51.51] }),
        "{d1}"
    );
    // Rows without FeatureOfInterest get the one generated from the Thing's Location.
    let f2 = get(
        &app,
        &tok,
        &format!("/Observations({})/FeatureOfInterest", id_of(&links[4])),
    )
    .await;
    assert_eq!(f2["feature"]["coordinates"], json!([7.46, 51.51]));
    // The Datastream's phenomenonTime covers the batch.
    let d = get(&app, &tok, &format!("/Datastreams({})", ds[1])).await;
    assert_eq!(
        d["phenomenonTime"],
        json!("2010-12-24T00:00:00Z/2010-12-24T01:00:00Z")
    );
    assert_eq!(
        d["resultTime"],
        json!("2010-12-24T01:00:05Z/2010-12-24T01:00:05Z")
    );
}

#[tokio::test]
async fn sta_extras_create_observations_refuses_bad_requests_whole() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let (_, ds) = station(&app, &tok, "A", "public").await;
    let r = post(
        &app,
        &tok,
        "/CreateObservations",
        json!({ "not": "a list" }),
    )
    .await;
    assert_sta_error(&r, StatusCode::BAD_REQUEST, "list");
    let r = post(
        &app,
        &tok,
        "/CreateObservations",
        json!([{ "components": ["result"], "dataArray": [[1]] }]),
    )
    .await;
    assert_sta_error(&r, StatusCode::BAD_REQUEST, "Datastream");
    let r = post(
        &app,
        &tok,
        "/CreateObservations",
        json!([{ "Datastream": { "@iot.id": ds[0] }, "components": ["result", "colour"], "dataArray": [[1, 2]] }]),
    )
    .await;
    assert_sta_error(&r, StatusCode::BAD_REQUEST, "colour");
    let r = post(
        &app,
        &tok,
        "/CreateObservations",
        json!([{ "Datastream": { "@iot.id": ds[0] }, "components": ["result"], "dataArray@iot.count": 3, "dataArray": [[1]] }]),
    )
    .await;
    assert_sta_error(&r, StatusCode::BAD_REQUEST, "dataArray@iot.count");
    let r = post(
        &app,
        &tok,
        "/CreateObservations",
        json!([{ "Datastream": { "@iot.id": 999_999 }, "components": ["result"], "dataArray": [[1]] }]),
    )
    .await;
    assert_sta_error(&r, StatusCode::BAD_REQUEST, "999999");
    // Nothing of the above was written; anonymous may not write at all.
    let n = get(&app, &tok, "/Observations?$count=true&$top=1").await;
    assert_eq!(n["@iot.count"], json!(0));
    let r = app
        .send(
            Request::post(format!("{B}/CreateObservations"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    json!([{ "Datastream": { "@iot.id": ds[0] }, "components": ["result"], "dataArray": [[1]] }]).to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert!(
        r.status == StatusCode::UNAUTHORIZED || r.status == StatusCode::FORBIDDEN,
        "{}",
        r.status
    );
}

#[tokio::test]
async fn sta_extras_create_observations_for_multi_datastreams_checks_arity() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let (thing, _) = station(&app, &tok, "M", "public").await;
    let op = |n: &str| json!({ "name": n, "description": n, "definition": format!("def:{n}") });
    let r = post(
        &app,
        &tok,
        "/MultiDatastreams",
        json!({ "name": "Wind", "description": "w",
                "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation",
                "multiObservationDataTypes": ["OM_Measurement", "OM_Measurement"],
                "unitOfMeasurements": [{ "name": "m/s", "symbol": "m/s", "definition": "d" }, { "name": "deg", "symbol": "°", "definition": "d" }],
                "Thing": { "@iot.id": thing },
                "Sensor": { "name": "S", "description": "s", "encodingType": "text/html", "metadata": "m" },
                "ObservedProperties": [op("speed"), op("direction")] }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let md = r.json()["@iot.id"].as_i64().unwrap();
    let r = post(
        &app,
        &tok,
        "/CreateObservations",
        json!([{ "MultiDatastream": { "@iot.id": md }, "components": ["phenomenonTime", "result"],
                 "dataArray": [["2024-01-01T00:00:00Z", [3.5, 270]], ["2024-01-01T00:10:00Z", [4.0]]] }]),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let links = r.json();
    assert_eq!(links[1], json!("error"));
    let o = get(&app, &tok, &format!("/Observations({})", id_of(&links[0]))).await;
    assert_eq!(o["result"], json!([3.5, 270]));
    let page = get(
        &app,
        &tok,
        &format!("/MultiDatastreams({md})/Observations?$resultFormat=dataArray&$select=result"),
    )
    .await;
    assert!(
        page["value"][0]["MultiDatastream@iot.navigationLink"]
            .as_str()
            .unwrap()
            .ends_with(&format!("MultiDatastreams({md})"))
    );
    assert_eq!(page["value"][0]["dataArray"], json!([[[3.5, 270]]]));
}

#[tokio::test]
async fn sta_extras_data_array_groups_observations_per_datastream() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let (_, ds) = station(&app, &tok, "A", "public").await;
    create(
        &app,
        &tok,
        ds[0],
        &[("2024-01-01T00:00:00Z", 1.0), ("2024-01-01T01:00:00Z", 2.5)],
    )
    .await;
    create(&app, &tok, ds[1], &[("2024-01-01T00:00:00Z", 80.0)]).await;
    let v = get(&app, &tok, "/Observations?$resultFormat=dataArray&$select=phenomenonTime,result&$orderby=id&$count=true").await;
    assert_eq!(v["@iot.count"], json!(3));
    let groups = v["value"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert!(
        groups[0]["Datastream@iot.navigationLink"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/Datastreams({})", ds[0]))
    );
    assert_eq!(groups[0]["components"], json!(["phenomenonTime", "result"]));
    assert_eq!(groups[0]["dataArray@iot.count"], json!(2));
    assert_eq!(
        groups[0]["dataArray"],
        json!([["2024-01-01T00:00:00Z", 1], ["2024-01-01T01:00:00Z", 2.5]])
    );
    assert_eq!(
        groups[1]["dataArray"],
        json!([["2024-01-01T00:00:00Z", 80]])
    );
    // Default components; nested path; paging keeps the format.
    let v = get(
        &app,
        &tok,
        &format!(
            "/Datastreams({})/Observations?$resultFormat=dataArray&$top=1",
            ds[0]
        ),
    )
    .await;
    assert_eq!(
        v["value"][0]["components"],
        json!([
            "id",
            "phenomenonTime",
            "resultTime",
            "result",
            "resultQuality",
            "validTime",
            "parameters"
        ])
    );
    assert_eq!(v["value"][0]["dataArray"].as_array().unwrap().len(), 1);
    assert!(
        v["@iot.nextLink"]
            .as_str()
            .unwrap()
            .contains("$resultFormat=dataArray")
    );
    // Expanded Observations of Datastreams become one data array per Datastream.
    let v = get(&app, &tok, &format!("/Datastreams({})?$expand=Observations($select=result;$orderby=phenomenonTime)&$resultFormat=dataArray", ds[0])).await;
    assert_eq!(
        v["Observations"],
        json!({ "components": ["result"], "dataArray@iot.count": 2, "dataArray": [[1], [2.5]] })
    );
    let v = get(
        &app,
        &tok,
        "/Datastreams?$expand=Observations($select=result)&$resultFormat=dataArray&$orderby=id",
    )
    .await;
    assert_eq!(v["value"][1]["Observations"]["dataArray"], json!([[80]]));
    // Bad uses.
    let r = app
        .with_token(
            M::GET,
            &format!("{B}/Things?$resultFormat=dataArray"),
            &tok,
            None,
        )
        .await;
    assert_sta_error(&r, StatusCode::BAD_REQUEST, "dataArray");
    let r = app
        .with_token(
            M::GET,
            &format!("{B}/Observations?$resultFormat=dataArray&$select=Datastream"),
            &tok,
            None,
        )
        .await;
    assert_sta_error(&r, StatusCode::BAD_REQUEST, "component");
    let r = app
        .with_token(
            M::GET,
            &format!("{B}/Observations?$resultFormat=csv"),
            &tok,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

fn multipart(boundary: &str, parts: &[String]) -> String {
    let mut s = String::new();
    for p in parts {
        s.push_str(&format!("--{boundary}\r\n{p}\r\n"));
    }
    s.push_str(&format!("--{boundary}--\r\n"));
    s
}

fn http_part(method: &str, url: &str, content_id: Option<&str>, body: Option<Value>) -> String {
    let mut s =
        String::from("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    if let Some(id) = content_id {
        s.push_str(&format!("Content-ID: {id}\r\n"));
    }
    s.push_str(&format!(
        "\r\n{method} {url} HTTP/1.1\r\nHost: example.org\r\n"
    ));
    match body {
        Some(b) => s.push_str(&format!("Content-Type: application/json\r\n\r\n{b}")),
        None => s.push_str("\r\n"),
    }
    s
}

fn changeset(boundary: &str, parts: &[String]) -> String {
    format!(
        "Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n{}",
        multipart(boundary, parts)
    )
}

async fn batch(app: &TestApp, tok: &str, content_type: &str, body: String) -> TestResponse {
    app.send(
        Request::post(format!("{B}/$batch"))
            .header(header::AUTHORIZATION, format!("Bearer {tok}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

/// The status lines of a multipart batch answer, in order.
fn statuses(body: &str) -> Vec<u16> {
    body.lines()
        .filter_map(|l| l.strip_prefix("HTTP/1.1 "))
        .map(|l| l[..3].parse().unwrap())
        .collect()
}

fn thing(name: &str) -> Value {
    json!({ "name": name, "description": "batch" })
}

async fn things(app: &TestApp, tok: &str) -> i64 {
    get(app, tok, "/Things?$count=true&$top=1").await["@iot.count"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn sta_extras_batch_multipart_changeset_with_references_and_gets() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let (t0, _) = station(&app, &tok, "Alt", "public").await;
    let body = multipart(
        "batch_1",
        &[
            http_part("GET", &format!("Things({t0})?$select=name"), None, None),
            changeset(
                "changeset_1",
                &[
                    http_part("POST", "/sta/v1.1/Things", Some("1"), Some(thing("Neu"))),
                    http_part(
                        "POST",
                        "$1/Datastreams",
                        Some("2"),
                        Some(
                            json!({ "name": "D", "description": "d", "observationType": "OM_Measurement",
                                     "unitOfMeasurement": { "name": "u", "symbol": "u", "definition": "u" },
                                     "Sensor": { "name": "S", "description": "s", "encodingType": "text/html", "metadata": "m" },
                                     "ObservedProperty": { "name": "P", "description": "p", "definition": "p" } }),
                        ),
                    ),
                    http_part(
                        "PATCH",
                        "$1",
                        Some("3"),
                        Some(json!({ "description": "geändert" })),
                    ),
                ],
            ),
            http_part(
                "GET",
                "Things?$count=true&$select=name&$orderby=id",
                None,
                None,
            ),
        ],
    );
    let r = batch(&app, &tok, "multipart/mixed; boundary=batch_1", body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let ct = r.header("content-type").unwrap();
    assert!(ct.starts_with("multipart/mixed; boundary="), "{ct}");
    assert_eq!(
        statuses(&r.body),
        vec![200, 201, 201, 200, 200],
        "{}",
        r.body
    );
    assert!(r.body.contains("Content-ID: 2"));
    assert!(r.body.contains("\"name\":\"Alt\""));
    assert!(r.body.contains("\"@iot.count\":2"));
    let created = get(
        &app,
        &tok,
        "/Things?$filter=name eq 'Neu'&$expand=Datastreams($select=name)",
    )
    .await;
    assert_eq!(created["value"][0]["description"], json!("geändert"));
    assert_eq!(created["value"][0]["Datastreams"][0]["name"], json!("D"));
}

#[tokio::test]
async fn sta_extras_batch_failing_request_rolls_back_the_changeset() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let before = things(&app, &tok).await;
    let body = multipart(
        "b",
        &[
            changeset(
                "c1",
                &[
                    http_part("POST", "Things", Some("1"), Some(thing("Eins"))),
                    http_part(
                        "POST",
                        "Things",
                        Some("2"),
                        Some(json!({ "name": "ohne Beschreibung", "colour": 1 })),
                    ),
                ],
            ),
            changeset(
                "c2",
                &[
                    http_part("POST", "Things", Some("1"), Some(thing("Zwei"))),
                    http_part("POST", "$9/Locations", Some("2"), Some(json!({}))),
                ],
            ),
            changeset(
                "c3",
                &[http_part("POST", "Things", Some("1"), Some(thing("Drei")))],
            ),
        ],
    );
    let r = batch(&app, &tok, "multipart/mixed;boundary=\"b\"", body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // One error answer per failed changeset, then the third changeset's success.
    assert_eq!(statuses(&r.body), vec![400, 400, 201], "{}", r.body);
    assert!(r.body.contains("colour"), "{}", r.body);
    assert!(r.body.contains("$9"), "{}", r.body);
    assert_eq!(things(&app, &tok).await, before + 1);
    let names = get(&app, &tok, "/Things?$select=name").await;
    assert_eq!(names["value"], json!([{ "name": "Drei" }]));
}

#[tokio::test]
async fn sta_extras_batch_refuses_malformed_multipart() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let unclosed = format!("--b\r\n{}\r\n", http_part("GET", "Things", None, None));
    let r = batch(&app, &tok, "multipart/mixed; boundary=b", unclosed).await;
    assert_sta_error(&r, StatusCode::BAD_REQUEST, "closing delimiter");
    let r = batch(&app, &tok, "multipart/mixed", "--b\r\n\r\n--b--".into()).await;
    assert_sta_error(&r, StatusCode::BAD_REQUEST, "boundary");
    let r = batch(
        &app,
        &tok,
        "multipart/mixed; boundary=b",
        "no parts at all".into(),
    )
    .await;
    assert_sta_error(&r, StatusCode::BAD_REQUEST, "delimiter");
    let bad_line = multipart(
        "b",
        &["Content-Type: application/http\r\n\r\nGARBAGE".into()],
    );
    let r = batch(&app, &tok, "multipart/mixed; boundary=b", bad_line).await;
    assert_sta_error(&r, StatusCode::BAD_REQUEST, "request line");
    let r = batch(&app, &tok, "text/plain", "x".into()).await;
    assert_sta_error(&r, StatusCode::BAD_REQUEST, "text/plain");
    let get_in_changeset = multipart(
        "b",
        &[changeset("c", &[http_part("GET", "Things", None, None)])],
    );
    let r = batch(&app, &tok, "multipart/mixed; boundary=b", get_in_changeset).await;
    assert_sta_error(&r, StatusCode::BAD_REQUEST, "changeset");
}

#[tokio::test]
async fn sta_extras_batch_json_groups_references_and_dependencies() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let body = json!({ "requests": [
        { "id": "t", "method": "post", "url": "Things", "body": thing("JSON"), "atomicityGroup": "g1" },
        { "id": "l", "method": "post", "url": "$t/Locations", "atomicityGroup": "g1",
          "body": { "name": "L", "description": "l", "encodingType": "application/geo+json",
                    "location": { "type": "Point", "coordinates": [7.4, 51.5] } } },
        { "id": "r", "method": "get", "url": "$t/Locations?$select=name", "dependsOn": ["g1"] },
        { "id": "x1", "method": "post", "url": "Things", "body": thing("Rollback"), "atomicityGroup": "g2" },
        { "id": "x2", "method": "patch", "url": "Things(999999)", "body": { "name": "?" }, "atomicityGroup": "g2" },
        { "id": "after", "method": "get", "url": "Things", "dependsOn": ["g2"] },
        { "id": "alone", "method": "delete", "url": "Things(999998)" }
    ]});
    let r = batch(&app, &tok, "application/json", body.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v = r.json();
    let resp: Vec<(String, i64)> = v["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["id"].as_str().unwrap().to_string(),
                x["status"].as_i64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, i64)> = [
        ("t", 201),
        ("l", 201),
        ("r", 200),
        ("x1", 424),
        ("x2", 404),
        ("after", 424),
        ("alone", 404),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), *b))
    .collect();
    assert_eq!(resp, want, "{v}");
    assert!(
        v["responses"][0]["headers"]["location"]
            .as_str()
            .unwrap()
            .contains("/Things(")
    );
    assert_eq!(v["responses"][2]["body"]["value"][0]["name"], json!("L"));
    assert_eq!(v["responses"][4]["body"]["type"], json!("error"));
    let names = get(&app, &tok, "/Things?$select=name").await;
    assert_eq!(names["value"], json!([{ "name": "JSON" }]));
    // Structural problems refuse the whole batch.
    let r = batch(&app, &tok, "application/json", json!({ "requests": [{ "id": "a", "method": "get", "url": "Things", "dependsOn": ["zz"] }] }).to_string()).await;
    assert_sta_error(&r, StatusCode::BAD_REQUEST, "zz");
    let r = batch(&app, &tok, "application/json", "{".into()).await;
    assert_sta_error(&r, StatusCode::BAD_REQUEST, "JSON");
}

#[tokio::test]
async fn sta_extras_batch_references_in_request_bodies() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let body = json!({ "requests": [
        { "id": "thing", "method": "post", "url": "Things", "body": thing("Ref"), "atomicityGroup": "g" },
        { "id": "sensor", "method": "post", "url": "Sensors", "atomicityGroup": "g",
          "body": { "name": "S", "description": "s", "encodingType": "text/html", "metadata": "m" } },
        { "id": "ds", "method": "post", "url": "Datastreams", "atomicityGroup": "g",
          "body": { "name": "Über Referenzen", "description": "d", "observationType": "OM_Measurement",
                    "unitOfMeasurement": { "name": "u", "symbol": "u", "definition": "u" },
                    "Thing": { "@iot.id": "$thing" }, "Sensor": { "@iot.id": "$sensor" },
                    "ObservedProperty": { "name": "P", "description": "p", "definition": "p" } } },
        { "id": "bad", "method": "post", "url": "Datastreams", "atomicityGroup": "h",
          "body": { "name": "x", "description": "d", "observationType": "OM_Measurement",
                    "unitOfMeasurement": {}, "Thing": { "@iot.id": "$nowhere" } } }
    ]});
    let r = batch(&app, &tok, "application/json", body.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v = r.json();
    let statuses: Vec<i64> = v["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, vec![201, 201, 201, 400], "{v}");
    assert!(
        v["responses"][3]["body"]["message"]
            .as_str()
            .unwrap()
            .contains("$nowhere"),
        "{v}"
    );
    let linked = get(
        &app,
        &tok,
        "/Things?$filter=name eq 'Ref'&$expand=Datastreams($expand=Sensor($select=name);$select=name)",
    )
    .await;
    let ds = &linked["value"][0]["Datastreams"][0];
    assert_eq!(ds["name"], json!("Über Referenzen"), "{linked}");
    assert_eq!(ds["Sensor"]["name"], json!("S"), "{linked}");
}

#[tokio::test]
async fn sta_extras_aggregate_calendar_months_and_years() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let (_, ds) = station(&app, &tok, "Monate", "public").await;
    create(
        &app,
        &tok,
        ds[0],
        &[
            // 31 January 23:30 local (+01:00) is still January, though February in UTC+2.
            ("2026-01-31T22:30:00Z", 2.0),
            ("2026-01-05T10:00:00Z", 4.0),
            // 1 February 00:30 local is February although 31 January in UTC.
            ("2026-01-31T23:30:00Z", 10.0),
            ("2026-03-15T12:00:00Z", 1.0),
            ("2026-03-16T12:00:00Z", 2.0),
            ("2026-03-17T12:00:00Z", 6.0),
            ("2027-02-01T12:00:00Z", 5.0),
        ],
    )
    .await;
    let v = get(
        &app,
        &tok,
        &format!(
            "/Datastreams({})/Observations/$aggregate?interval=P1M&fn=avg,min,max,sum,count&origin=2026-01-01T00:00:00%2B01:00",
            ds[0]
        ),
    )
    .await;
    assert_eq!(
        v["value"],
        json!([
            { "phenomenonTime": "2025-12-31T23:00:00Z/2026-01-31T23:00:00Z", "avg": 3, "min": 2, "max": 4, "sum": 6, "count": 2 },
            { "phenomenonTime": "2026-01-31T23:00:00Z/2026-02-28T23:00:00Z", "avg": 10, "min": 10, "max": 10, "sum": 10, "count": 1 },
            { "phenomenonTime": "2026-02-28T23:00:00Z/2026-03-31T23:00:00Z", "avg": 3, "min": 1, "max": 6, "sum": 9, "count": 3 },
            { "phenomenonTime": "2027-01-31T23:00:00Z/2027-02-28T23:00:00Z", "avg": 5, "min": 5, "max": 5, "sum": 5, "count": 1 }
        ]),
        "{v}"
    );
    let url = format!(
        "/Aggregates?datastreams={}&interval=P1Y&fn=count,avg&origin=2026-01-01T00:00:00%2B01:00",
        ds[0]
    );
    let v = get(&app, &tok, &url).await;
    assert_eq!(
        v["value"][0]["buckets"],
        json!([
            { "phenomenonTime": "2025-12-31T23:00:00Z/2026-12-31T23:00:00Z", "count": 6, "avg": 4.166666666666667 },
            { "phenomenonTime": "2026-12-31T23:00:00Z/2027-12-31T23:00:00Z", "count": 1, "avg": 5 }
        ]),
        "{v}"
    );
    for bad in ["interval=P1M2D", "interval=P1M&origin=2026-01-30T00:00:00Z"] {
        let r = app
            .get(&format!(
                "{B}/Datastreams({})/Observations/$aggregate?{bad}",
                ds[0]
            ))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
    }
}

#[tokio::test]
async fn sta_extras_aggregate_buckets_in_sql_with_visibility() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let (_, pubds) = station(&app, &tok, "P", "public").await;
    let (_, intds) = station(&app, &tok, "I", "internal").await;
    create(
        &app,
        &tok,
        pubds[0],
        &[
            ("2024-01-01T00:00:00Z", 1.0),
            ("2024-01-01T00:10:00Z", 3.0),
            ("2024-01-01T00:20:00Z", 10.0),
            ("2024-01-01T01:05:00Z", -4.0),
            ("2023-12-31T23:59:00Z", 100.0),
        ],
    )
    .await;
    create(&app, &tok, intds[0], &[("2024-01-01T00:00:00Z", 7.0)]).await;
    let v = app
        .get(&format!(
            "{B}/Datastreams({})/Observations/$aggregate?interval=PT15M&fn=avg,min,max,sum,count&$filter=phenomenonTime%20ge%202024-01-01T00:00:00Z",
            pubds[0]
        ))
        .await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.body);
    let v = v.json();
    assert_eq!(v["interval"], json!("PT15M"));
    assert_eq!(
        v["value"],
        json!([
            { "phenomenonTime": "2024-01-01T00:00:00Z/2024-01-01T00:15:00Z", "avg": 2, "min": 1, "max": 3, "sum": 4, "count": 2 },
            { "phenomenonTime": "2024-01-01T00:15:00Z/2024-01-01T00:30:00Z", "avg": 10, "min": 10, "max": 10, "sum": 10, "count": 1 },
            { "phenomenonTime": "2024-01-01T01:00:00Z/2024-01-01T01:15:00Z", "avg": -4, "min": -4, "max": -4, "sum": -4, "count": 1 }
        ])
    );
    // Origin shifts the buckets; times before the origin floor correctly.
    let v = get(&app, &tok, &format!("/Datastreams({})/Observations/$aggregate?interval=PT1H&fn=count&origin=2024-01-01T00:30:00Z", pubds[0])).await;
    let counts: Vec<(String, i64)> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["phenomenonTime"].as_str().unwrap().to_string(),
                b["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            ("2023-12-31T23:30:00Z/2024-01-01T00:30:00Z".to_string(), 4),
            ("2024-01-01T00:30:00Z/2024-01-01T01:30:00Z".to_string(), 1),
        ]
    );
    // Several Datastreams: the internal one only for readers that may see it.
    let url = format!(
        "{B}/Aggregates?datastreams={},{}&interval=P1D&fn=sum",
        pubds[0], intds[0]
    );
    let r = app.get(&url).await;
    assert_sta_error(
        &r,
        StatusCode::NOT_FOUND,
        &format!("Datastream({})", intds[0]),
    );
    let r = app.with_token(M::GET, &url, &tok, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v = r.json();
    assert_eq!(
        v["value"][0]["buckets"],
        json!([
            { "phenomenonTime": "2023-12-31T00:00:00Z/2024-01-01T00:00:00Z", "sum": 100 },
            { "phenomenonTime": "2024-01-01T00:00:00Z/2024-01-02T00:00:00Z", "sum": 10 }
        ])
    );
    assert_eq!(v["value"][1]["buckets"][0]["sum"], json!(7));
    let r = app
        .get(&format!(
            "{B}/Datastreams({})/Observations/$aggregate?interval=PT1H",
            intds[0]
        ))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Bad input names the problem.
    for (q, needle) in [
        ("interval=15M", "interval"),
        ("interval=P1M2D", "interval"),
        ("interval=PT0S", "second"),
        ("fn=avg", "interval"),
        ("interval=PT1H&fn=median", "median"),
        ("interval=PT1H&origin=yesterday", "origin"),
        ("interval=PT1H&$filter=result%20gt", "$filter"),
    ] {
        let r = app
            .get(&format!(
                "{B}/Datastreams({})/Observations/$aggregate?{q}",
                pubds[0]
            ))
            .await;
        assert_sta_error(&r, StatusCode::BAD_REQUEST, needle);
    }
    let r = app
        .get(&format!("{B}/Aggregates?datastreams=1,x&interval=PT1H"))
        .await;
    assert_sta_error(&r, StatusCode::BAD_REQUEST, "datastreams");
    let r = app
        .get(&format!("{B}/Things(1)/$aggregate?interval=PT1H"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // Too many buckets for the server's limit.
    let small = TestApp::with_config(|c| c.sta.max_top = 2).await;
    let t2 = small.token(&["sta:write"]).await;
    let (_, d2) = station(&small, &t2, "S", "public").await;
    create(
        &small,
        &t2,
        d2[0],
        &[
            ("2024-01-01T00:00:00Z", 1.0),
            ("2024-01-02T00:00:00Z", 1.0),
            ("2024-01-03T00:00:00Z", 1.0),
        ],
    )
    .await;
    let r = small
        .get(&format!(
            "{B}/Datastreams({})/Observations/$aggregate?interval=PT1H",
            d2[0]
        ))
        .await;
    assert_sta_error(&r, StatusCode::BAD_REQUEST, "buckets");
}

#[tokio::test]
async fn sta_extras_latest_observations_and_counters_stay_exact() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let (t_pub, pubds) = station(&app, &tok, "P", "public").await;
    let (_, intds) = station(&app, &tok, "I", "internal").await;
    let l1 = create(
        &app,
        &tok,
        pubds[0],
        &[
            ("2024-01-01T02:00:00Z", 2.0),
            ("2024-01-01T03:00:00Z", 3.0),
            ("2024-01-01T01:00:00Z", 1.0),
        ],
    )
    .await;
    // A tie on the time: the smaller id is the latest, as with $orderby=phenomenonTime desc.
    create(
        &app,
        &tok,
        pubds[1],
        &[
            ("2024-01-01T00:00:00Z", 50.0),
            ("2024-01-01T00:00:00Z", 51.0),
        ],
    )
    .await;
    create(&app, &tok, intds[0], &[("2024-01-01T00:00:00Z", 9.0)]).await;
    let expand = "/Datastreams?$orderby=id&$select=id&$expand=Observations($orderby=phenomenonTime desc;$top=1;$select=result)";
    let latest_results = |v: &Value| -> Vec<Value> {
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["Observations"][0]["result"].clone())
            .collect()
    };
    let v = get(&app, &tok, expand).await;
    assert_eq!(
        latest_results(&v),
        vec![json!(3), json!(50), json!(9), Value::Null]
    );
    // The fast path answers like the general one (here forced by a harmless $skip=0 → $filter).
    let general = get(&app, &tok, "/Datastreams?$orderby=id&$select=id&$expand=Observations($orderby=phenomenonTime desc;$top=1;$select=result;$filter=true)").await;
    assert_eq!(latest_results(&general), latest_results(&v));
    assert_eq!(
        v["value"][0]["Observations@iot.nextLink"].is_string(),
        general["value"][0]["Observations@iot.nextLink"].is_string()
    );
    // LatestObservations: anonymous sees public streams only.
    let anon = app
        .get(&format!("{B}/LatestObservations?$select=result"))
        .await
        .json();
    let got: Vec<(i64, Value)> = anon["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["Datastream"]["@iot.id"].as_i64().unwrap(),
                o["result"].clone(),
            )
        })
        .collect();
    assert_eq!(got, vec![(pubds[0], json!(3)), (pubds[1], json!(50))]);
    let all = get(
        &app,
        &tok,
        &format!("/LatestObservations?thing={t_pub}&$count=true"),
    )
    .await;
    assert_eq!(all["@iot.count"], json!(2));
    let filtered = get(
        &app,
        &tok,
        "/LatestObservations?$filter=ObservedProperty/name eq 'Feuchte'&$select=result",
    )
    .await;
    // Only the public station's humidity has Observations.
    assert_eq!(filtered["value"].as_array().unwrap().len(), 1);
    assert_eq!(
        filtered["value"][0]["Datastream"]["@iot.id"],
        json!(pubds[1])
    );
    // Counts: totals and per stream, for anonymous (public only) and for the writer.
    let count = |v: Value| v["@iot.count"].as_i64().unwrap();
    assert_eq!(
        count(
            app.get(&format!("{B}/Observations?$count=true&$top=1"))
                .await
                .json()
        ),
        5
    );
    assert_eq!(
        count(get(&app, &tok, "/Observations?$count=true&$top=1").await),
        6
    );
    assert_eq!(
        count(
            get(
                &app,
                &tok,
                &format!("/Datastreams({})/Observations?$count=true&$top=1", pubds[0])
            )
            .await
        ),
        3
    );
    // Deleting the latest Observation moves the latest back; counters follow.
    let r = app
        .with_token(
            M::DELETE,
            &format!("{B}/Observations({})", id_of(&l1[1])),
            &tok,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v = get(&app, &tok, expand).await;
    assert_eq!(latest_results(&v)[0], json!(2));
    assert_eq!(
        count(
            get(
                &app,
                &tok,
                &format!("/Datastreams({})/Observations?$count=true&$top=1", pubds[0])
            )
            .await
        ),
        2
    );
    // Moving an Observation in time updates the latest.
    let r = app
        .with_token(
            M::PATCH,
            &format!("{B}/Observations({})", id_of(&l1[2])),
            &tok,
            Some(json!({ "phenomenonTime": "2025-01-01T00:00:00Z" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(latest_results(&get(&app, &tok, expand).await)[0], json!(1));
    // A filter falls back to COUNT(*) and agrees.
    assert_eq!(
        count(
            get(
                &app,
                &tok,
                &format!(
                    "/Datastreams({})/Observations?$count=true&$filter=result ge 2",
                    pubds[0]
                )
            )
            .await
        ),
        1
    );
    // Deleting the Thing cascades to its Observations, and so do the counters.
    let r = app
        .with_token(M::DELETE, &format!("{B}/Things({t_pub})"), &tok, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        count(get(&app, &tok, "/Observations?$count=true&$top=1").await),
        1
    );
    assert_eq!(
        get(&app, &tok, "/LatestObservations").await["value"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Bad options are named.
    let r = app.get(&format!("{B}/LatestObservations?thing=abc")).await;
    assert_sta_error(&r, StatusCode::BAD_REQUEST, "thing");
    let r = app
        .get(&format!("{B}/LatestObservations?$expand=Datastream"))
        .await;
    assert_sta_error(&r, StatusCode::BAD_REQUEST, "LatestObservations");
}

#[tokio::test]
async fn sta_extras_demo_seeder_fills_the_districts_with_sensors_and_history() {
    let app = TestApp::new().await;
    let ran = platform::demo::seed(&app.env, &[sensorthings::demo::SEEDER])
        .await
        .unwrap();
    assert!(ran.contains(&"sensorthings"));
    let tok = app.token(&["sta:read"]).await;
    let v = get(
        &app,
        &tok,
        "/Things?$count=true&$top=200&$select=name,properties&$expand=Locations($select=location)",
    )
    .await;
    let things = v["value"].as_array().unwrap();
    for prefix in [
        "Verkehrszählstelle",
        "Parkhaus",
        "Leuchtensteuerung",
        "Energiezähler",
        "Klimastation",
    ] {
        assert!(
            things
                .iter()
                .any(|t| t["name"].as_str().unwrap().starts_with(prefix)),
            "{prefix}"
        );
    }
    let traffic = things
        .iter()
        .filter(|t| {
            t["name"]
                .as_str()
                .unwrap()
                .starts_with("Verkehrszählstelle")
        })
        .count();
    assert_eq!(traffic, 12);
    for t in things {
        let c = &t["Locations"][0]["location"]["coordinates"];
        let (lon, lat) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        assert!(
            (7.30..7.65).contains(&lon) && (51.41..51.61).contains(&lat),
            "{t}"
        );
    }
    // A few weeks of 15-minute history in every Datastream, ending now.
    let ds = get(&app, &tok, "/Datastreams?$count=true&$top=1").await["@iot.count"]
        .as_i64()
        .unwrap();
    let obs = get(&app, &tok, "/Observations?$count=true&$top=1").await["@iot.count"]
        .as_i64()
        .unwrap();
    assert_eq!(obs, ds * sensorthings::demo::HISTORY_DAYS * 96);
    let latest = get(&app, &tok, "/LatestObservations?$top=500").await;
    assert_eq!(latest["value"].as_array().unwrap().len() as i64, ds);
    // Energy meters are internal: anonymous readers do not see them.
    let anon = app
        .get(&format!(
            "{B}/Things?$filter=startswith(name,%27Energiez%C3%A4hler%27)&$count=true"
        ))
        .await
        .json();
    assert_eq!(anon["@iot.count"], json!(0));
    // Seeding twice does nothing.
    assert!(
        platform::demo::seed(&app.env, &[sensorthings::demo::SEEDER])
            .await
            .unwrap()
            .is_empty()
    );
}
