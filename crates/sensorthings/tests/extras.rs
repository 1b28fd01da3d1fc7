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

fn token(scopes: &[String]) -> Actor {
    Actor::new(
        Principal::Token(TokenPrincipal {
            id: 2,
            name: "sensor".into(),
            scopes: scopes.iter().map(|s| s.parse().unwrap()).collect(),
        }),
        "127.0.0.1",
    )
}

/// The MQTT bulk path: rows of several Datastreams in one call, with the checks and effects of
/// CreateObservations (FeatureOfInterest from the Thing's Location, counters, latest values,
/// phenomenonTime and observedArea of the streams); a bad row, an unknown Datastream or a
/// missing write right fails the whole call and stores nothing.
#[tokio::test]
async fn create_rows_stores_rows_of_many_datastreams() {
    use sensorthings::conn::Conn;
    use sensorthings::data_array::create_rows;
    const COMPS: [&str; 2] = ["phenomenonTime", "result"];
    let tdb = TestDb::new().await;
    let env = env_on(&tdb);
    let (a, b) = two_streams(&env).await;
    let row = |s: i64, t: &str, r: Value| (s, vec![json!(t), r]);
    let rows = vec![
        row(a, "2024-01-01T00:00:00Z", json!(1)),
        row(b, "2024-01-01T05:00:00Z", json!("fünf")),
        row(a, "2024-01-01T02:00:00Z", json!(3.5)),
        row(a, "2024-01-01T01:00:00Z", json!({ "v": 2 })),
    ];
    let (ids, changes) = create_rows(&env, &admin(), Conn::Pool(&env.db), &COMPS, &rows)
        .await
        .unwrap();
    assert_eq!(ids.len(), 4);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids in row order: {ids:?}"
    );
    let created = |kind: Kind| -> Vec<i64> {
        changes
            .iter()
            .filter(|c| c.kind == kind && c.op == ChangeOp::Created)
            .map(|c| c.id)
            .collect()
    };
    assert_eq!(created(Kind::Observation), ids);
    // Neither Thing had a FeatureOfInterest yet: one each is generated from its Location.
    let features = created(Kind::FeatureOfInterest);
    assert_eq!(features.len(), 2, "{changes:?}");

    // Each row reads back in its Datastream, with the feature of its Thing.
    let mut foi_of = std::collections::HashMap::new();
    for ((s, vals), id) in rows.iter().zip(&ids) {
        let o = get(
            &env,
            &format!("/Observations({id})"),
            "$expand=Datastream($select=id),FeatureOfInterest($select=id)",
        )
        .await;
        assert_eq!(o["result"], vals[1]);
        assert_eq!(o["Datastream"]["@iot.id"], json!(s));
        let f = o["FeatureOfInterest"]["@iot.id"].as_i64().unwrap();
        assert!(features.contains(&f));
        assert_eq!(*foi_of.entry(*s).or_insert(f), f);
    }
    assert_ne!(foi_of[&a], foi_of[&b]);
    let n = |s: i64| {
        let env = env.clone();
        async move {
            count(
                &get(
                    &env,
                    &format!("/Datastreams({s})/Observations"),
                    "$count=true&$top=1",
                )
                .await,
            )
        }
    };
    assert_eq!((n(a).await, n(b).await), (3, 1));
    let latest = get(&env, "/LatestObservations", "$select=result").await;
    let mut got: Vec<(i64, Value)> = latest["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["Datastream"]["@iot.id"].as_i64().unwrap(),
                v["result"].clone(),
            )
        })
        .collect();
    got.sort_by_key(|g| g.0);
    assert_eq!(got, vec![(a, json!(3.5)), (b, json!("fünf"))]);
    let ds = get(&env, &format!("/Datastreams({a})"), "").await;
    let span = ds["phenomenonTime"].as_str().unwrap();
    let (start, end) = span.split_once('/').unwrap();
    assert!(start.starts_with("2024-01-01T00:00:00"), "{span}");
    assert!(end.starts_with("2024-01-01T02:00:00"), "{span}");
    assert_eq!(ds["observedArea"]["type"], json!("Point"));

    // A second call reuses the generated features.
    let (more, changes) = create_rows(
        &env,
        &admin(),
        Conn::Pool(&env.db),
        &COMPS,
        &[row(b, "2024-01-02T00:00:00Z", json!(6))],
    )
    .await
    .unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].id, more[0]);
    assert_eq!(n(b).await, 2);

    // Failures store nothing: an unknown Datastream, a bad row, no right for the Thing.
    let thing_a = get(&env, &format!("/Datastreams({a})/Thing"), "").await["@iot.id"]
        .as_i64()
        .unwrap();
    let limited = token(&["sta:write".into(), format!("sta:thing-{thing_a}")]);
    let reader = token(&["sta:read".into()]);
    for (actor, rows) in [
        (
            admin(),
            vec![
                row(a, "2024-02-01T00:00:00Z", json!(7)),
                row(a + b + 100, "2024-02-01T00:00:00Z", json!(7)),
            ],
        ),
        (
            admin(),
            vec![
                row(a, "2024-02-01T00:00:00Z", json!(7)),
                row(b, "gestern", json!(7)),
            ],
        ),
        (
            limited.clone(),
            vec![
                row(a, "2024-02-01T00:00:00Z", json!(7)),
                row(b, "2024-02-01T00:00:00Z", json!(7)),
            ],
        ),
        (reader, vec![row(a, "2024-02-01T00:00:00Z", json!(7))]),
    ] {
        assert!(
            create_rows(&env, &actor, Conn::Pool(&env.db), &COMPS, &rows)
                .await
                .is_err()
        );
    }
    assert_eq!((n(a).await, n(b).await), (3, 2));
    // The limited token may write into its own Thing.
    let (own, _) = create_rows(
        &env,
        &limited,
        Conn::Pool(&env.db),
        &COMPS,
        &[row(a, "2024-02-01T00:00:00Z", json!(8))],
    )
    .await
    .unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(n(a).await, 4);
    let latest = get(
        &env,
        &format!("/Datastreams({a})/Observations"),
        "$orderby=phenomenonTime desc&$top=1",
    )
    .await;
    assert_eq!(latest["value"][0]["@iot.id"], json!(own[0]));
}

/// Several bulk calls at once (the MQTT committers on PostgreSQL) writing the same Datastreams,
/// in opposite row orders: none waits for another in a cycle, and the counters stay exact.
#[tokio::test]
async fn concurrent_create_rows_on_the_same_datastreams_all_succeed() {
    use sensorthings::conn::Conn;
    use sensorthings::data_array::create_rows;
    const COMPS: [&str; 2] = ["phenomenonTime", "result"];
    let tdb = TestDb::new().await;
    let env = env_on(&tdb);
    let (a, b) = two_streams(&env).await;
    let mut tasks = Vec::new();
    for k in 0..4i64 {
        let env = env.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10i64 {
                let t = format!("2024-03-01T00:{:02}:{:02}Z", k, i);
                let mut rows = vec![
                    (a, vec![json!(t), json!(k * 100 + i)]),
                    (b, vec![json!(t), json!(k * 100 + i)]),
                ];
                if k % 2 == 1 {
                    rows.reverse();
                }
                create_rows(&env, &admin(), Conn::Pool(&env.db), &COMPS, &rows)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for s in [a, b] {
        let all = get(
            &env,
            &format!("/Datastreams({s})/Observations"),
            "$count=true&$top=1&$orderby=phenomenonTime desc",
        )
        .await;
        assert_eq!(count(&all), 40);
        assert_eq!(all["value"][0]["result"], json!(309));
    }
    let latest = get(&env, "/LatestObservations", "$select=result").await;
    let results: Vec<&Value> = latest["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["result"])
        .collect();
    assert_eq!(results, vec![&json!(309), &json!(309)]);
}

/// LatestObservations and the fast `$expand` of the latest Observation read a copy of it kept
/// in the stream tables; after every kind of change it must equal the Observation itself, as
/// the general query (`$orderby=phenomenonTime desc&$top=1`) finds it.
async fn assert_latest_copies_exact(env: &Env, streams: &[i64]) {
    let latest = get(env, "/LatestObservations", "").await;
    let mut by_stream = std::collections::HashMap::new();
    for v in latest["value"].as_array().unwrap() {
        let mut v = v.as_object().unwrap().clone();
        let ds = v.remove("Datastream").unwrap()["@iot.id"].as_i64().unwrap();
        assert!(by_stream.insert(ds, Value::Object(v)).is_none());
    }
    for ds in streams {
        let general = get(
            env,
            &format!("/Datastreams({ds})/Observations"),
            "$orderby=phenomenonTime desc&$top=1",
        )
        .await;
        assert_eq!(
            by_stream.get(ds),
            general["value"].get(0),
            "LatestObservations of Datastream {ds}"
        );
    }
    let expand = |extra: &'static str| {
        let env = env.clone();
        async move {
            let v = get(
                &env,
                "/Datastreams",
                &format!("$orderby=id&$select=id&$expand=Observations($orderby=phenomenonTime desc;$top=1{extra})"),
            )
            .await;
            v["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["Observations"].clone())
                .collect::<Vec<_>>()
        }
    };
    // `$filter=true` takes the general path.
    assert_eq!(expand("").await, expand(";$filter=true").await);
}

#[tokio::test]
async fn the_latest_copy_follows_every_change_of_an_observation() {
    let tdb = TestDb::new().await;
    let env = env_on(&tdb);
    let (a, b) = two_streams(&env).await;
    let streams = [a, b];
    let post = |o: Value| {
        let env = env.clone();
        async move {
            let w = service::post(&env, &admin(), "/Observations", o.to_string().as_bytes())
                .await
                .unwrap();
            body(&w.reply)["@iot.id"].as_i64().unwrap()
        }
    };
    let patch = |id: i64, o: Value, mode: service::UpdateMode| {
        let env = env.clone();
        async move {
            service::update(
                &env,
                &admin(),
                &format!("/Observations({id})"),
                o.to_string().as_bytes(),
                mode,
            )
            .await
            .unwrap();
        }
    };
    use service::UpdateMode::{JsonPatch, Merge, Replace};
    assert_latest_copies_exact(&env, &streams).await;
    let o1 = post(
        json!({ "phenomenonTime": "2024-01-01T01:00:00Z", "result": 1,
                          "Datastream": { "@iot.id": a } }),
    )
    .await;
    let o2 = post(
        json!({ "phenomenonTime": "2024-01-01T02:00:00Z", "result": "zwei",
                          "resultTime": "2024-01-01T02:00:05Z",
                          "validTime": "2024-01-01T00:00:00Z/2024-01-02T00:00:00Z",
                          "resultQuality": { "q": "gut" }, "parameters": { "p": 1 },
                          "Datastream": { "@iot.id": a } }),
    )
    .await;
    let o3 = post(
        json!({ "phenomenonTime": "2024-01-01T03:00:00Z/2024-01-01T03:15:00Z",
                          "result": { "v": [3, 4] }, "Datastream": { "@iot.id": b } }),
    )
    .await;
    assert_latest_copies_exact(&env, &streams).await;

    // New values of the latest Observation, of another one, a later time, another stream.
    patch(
        o2,
        json!({ "result": 20.5, "parameters": { "k": "neu" } }),
        Merge,
    )
    .await;
    assert_latest_copies_exact(&env, &streams).await;
    let latest = get(&env, "/LatestObservations", "$select=result").await;
    assert_eq!(latest["value"][0]["result"], json!(20.5));
    patch(o1, json!({ "result": 10 }), Merge).await;
    assert_latest_copies_exact(&env, &streams).await;
    patch(
        o1,
        json!({ "phenomenonTime": "2024-01-01T04:00:00Z" }),
        Merge,
    )
    .await;
    assert_latest_copies_exact(&env, &streams).await;
    patch(o1, json!({ "Datastream": { "@iot.id": b } }), Merge).await;
    assert_latest_copies_exact(&env, &streams).await;
    patch(
        o1,
        json!([{ "op": "replace", "path": "/result", "value": "ersetzt" }]),
        JsonPatch,
    )
    .await;
    assert_latest_copies_exact(&env, &streams).await;
    patch(
        o3,
        json!({ "phenomenonTime": "2024-01-01T05:00:00Z", "result": false,
                "Datastream": { "@iot.id": b } }),
        Replace,
    )
    .await;
    assert_latest_copies_exact(&env, &streams).await;
    let latest = get(&env, "/LatestObservations", "$select=id").await;
    let ids: Vec<i64> = latest["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["@iot.id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![o2, o3]);

    // Deletes move the latest back, and a stream without Observations has none.
    for id in [o3, o2] {
        service::delete(&env, &admin(), &format!("/Observations({id})"))
            .await
            .unwrap();
        assert_latest_copies_exact(&env, &streams).await;
    }
    let latest = get(&env, "/LatestObservations", "$select=id").await;
    assert_eq!(
        latest["value"],
        json!([{ "@iot.id": o1, "Datastream": latest["value"][0]["Datastream"].clone() }])
    );
}
