//! The SensorThings extensions without HTTP: the per-stream counters and latest values stay
//! exact through cascades and a backup/restore, CreateObservations reports its changes, and a
//! batch reports only what it committed. On the test database of `STADTKERN_TEST_DATABASE`
//! (SQLite by default, or PostgreSQL).

use kern::auth::TokenPrincipal;
use kern::{Config, ManualClock, Principal, SeededRandom};
use platform::{Actor, Env};
use sensorthings::service::{self, Reply};
use sensorthings::{ChangeOp, Kind, batch};
use serde_json::{Value, json};
use std::sync::Arc;
use store::testing::TestDb;

fn admin() -> Actor {
    Actor::new(
        Principal::Token(TokenPrincipal {
            id: 1,
            name: "t".into(),
            scopes: vec!["admin".parse().unwrap()],
        }),
        "127.0.0.1",
    )
}

fn env_on(tdb: &TestDb) -> Env {
    let clock = Arc::new(ManualClock::new(chrono::DateTime::UNIX_EPOCH));
    Env::new(
        Config::default(),
        tdb.db.clone(),
        clock,
        Arc::new(SeededRandom::new(7)),
    )
}

fn body(r: &Reply) -> Value {
    match r {
        Reply::Json { body, .. } => body.clone(),
        other => panic!("not JSON: {other:?}"),
    }
}

async fn get(env: &Env, path: &str, q: &str) -> Value {
    body(&service::get(env, &admin(), path, q).await.unwrap())
}

/// Two Things with one Datastream each; returns the Datastream ids.
async fn two_streams(env: &Env) -> (i64, i64) {
    let mut ids = Vec::new();
    for name in ["A", "B"] {
        let t = json!({
            "name": name, "description": "d",
            "Locations": [{ "name": "L", "description": "l", "encodingType": "application/geo+json",
                            "location": { "type": "Point", "coordinates": [7.4, 51.5] } }],
            "Datastreams": [{ "name": name, "description": "d", "observationType": "OM_Measurement",
                "unitOfMeasurement": { "name": "u", "symbol": "u", "definition": "u" },
                "Sensor": { "name": "S", "description": "s", "encodingType": "text/html", "metadata": "m" },
                "ObservedProperty": { "name": "P", "description": "p", "definition": "p" } }]
        });
        let w = service::post(env, &admin(), "/Things", t.to_string().as_bytes())
            .await
            .unwrap();
        let thing = body(&w.reply)["@iot.id"].as_i64().unwrap();
        let ds = get(env, &format!("/Things({thing})/Datastreams"), "").await;
        ids.push(ds["value"][0]["@iot.id"].as_i64().unwrap());
    }
    (ids[0], ids[1])
}

fn count(v: &Value) -> i64 {
    v["@iot.count"].as_i64().unwrap()
}

#[tokio::test]
async fn counters_follow_cascades_and_survive_backup_and_restore() {
    let tdb = TestDb::new().await;
    let env = env_on(&tdb);
    let (a, b) = two_streams(&env).await;
    // A shared FeatureOfInterest in both streams, plus the generated ones.
    let foi = body(
        &service::post(
            &env,
            &admin(),
            "/FeaturesOfInterest",
            json!({ "name": "F", "description": "f", "encodingType": "application/geo+json",
                    "feature": { "type": "Point", "coordinates": [7.0, 51.0] } })
            .to_string()
            .as_bytes(),
        )
        .await
        .unwrap()
        .reply,
    )["@iot.id"]
        .as_i64()
        .unwrap();
    let req = json!([
        { "Datastream": { "@iot.id": a }, "components": ["phenomenonTime", "result", "FeatureOfInterest/id"],
          "dataArray": [["2024-01-01T00:00:00Z", 1, foi], ["2024-01-01T01:00:00Z", 2, foi]] },
        { "Datastream": { "@iot.id": a }, "components": ["phenomenonTime", "result"],
          "dataArray": [["2024-01-01T02:00:00Z", 3]] },
        { "Datastream": { "@iot.id": b }, "components": ["phenomenonTime", "result", "FeatureOfInterest/id"],
          "dataArray": [["2024-01-01T05:00:00Z", 5, foi], ["2024-01-01T00:30:00Z", 4]] }
    ]);
    let w = service::post(
        &env,
        &admin(),
        "/CreateObservations",
        req.to_string().as_bytes(),
    )
    .await
    .unwrap();
    let created = w
        .changes
        .iter()
        .filter(|c| c.kind == Kind::Observation && c.op == ChangeOp::Created)
        .count();
    assert_eq!(created, 4, "{:?}", w.changes);
    assert_eq!(body(&w.reply)[4], json!("error"));
    assert_eq!(
        count(&get(&env, "/Observations", "$count=true&$top=1").await),
        4
    );

    // Deleting the FeatureOfInterest cascades to Observations of both streams.
    service::delete(&env, &admin(), &format!("/FeaturesOfInterest({foi})"))
        .await
        .unwrap();
    assert_eq!(
        count(&get(&env, "/Observations", "$count=true&$top=1").await),
        1
    );
    assert_eq!(
        count(
            &get(
                &env,
                &format!("/Datastreams({b})/Observations"),
                "$count=true"
            )
            .await
        ),
        0
    );
    let latest = get(&env, "/LatestObservations", "$select=result").await;
    assert_eq!(
        latest["value"],
        json!([{ "result": 3, "Datastream": latest["value"][0]["Datastream"].clone() }])
    );

    // Backup and restore into another database: the counters are rebuilt, not doubled.
    let mut buf = Vec::new();
    store::backup::backup(&tdb.db, &mut buf, chrono::DateTime::UNIX_EPOCH)
        .await
        .unwrap();
    let other = TestDb::new().await;
    store::backup::restore(&other.db, &buf[..]).await.unwrap();
    let env2 = env_on(&other);
    assert_eq!(
        count(&get(&env2, "/Observations", "$count=true&$top=1").await),
        1
    );
    assert_eq!(
        count(
            &get(
                &env2,
                &format!("/Datastreams({a})/Observations"),
                "$count=true"
            )
            .await
        ),
        1
    );
    let l2 = get(&env2, "/LatestObservations", "$select=result").await;
    assert_eq!(l2["value"].as_array().unwrap().len(), 1);
    assert_eq!(l2["value"][0]["result"], json!(3));
}

#[tokio::test]
async fn a_batch_reports_only_committed_changes() {
    let tdb = TestDb::new().await;
    let env = env_on(&tdb);
    let req = json!({ "requests": [
        { "id": "1", "method": "post", "url": "Things", "body": { "name": "ok", "description": "d" } },
        { "id": "2", "method": "post", "url": "Things", "body": { "name": "rolled back", "description": "d" }, "atomicityGroup": "g" },
        { "id": "3", "method": "post", "url": "Things", "body": { "name": "bad" }, "atomicityGroup": "g" }
    ]});
    let out = batch::handle(
        &env,
        &admin(),
        "application/json",
        req.to_string().as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(out.content_type, "application/json");
    let things: Vec<i64> = out
        .changes
        .iter()
        .filter(|c| c.kind == Kind::Thing)
        .map(|c| c.id)
        .collect();
    assert_eq!(things.len(), 1);
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    let statuses: Vec<i64> = v["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, vec![201, 424, 400]);
    assert_eq!(count(&get(&env, "/Things", "$count=true").await), 1);
}
