//! The SensorThings service without HTTP: writes, reads, visibility and change reports, on the
//! test database of `STADTKERN_TEST_DATABASE` (SQLite by default, or PostgreSQL).

use kern::auth::TokenPrincipal;
use kern::{Config, ManualClock, Principal, SeededRandom};
use platform::{Actor, Env};
use sensorthings::service::{self, Reply};
use sensorthings::{Access, ChangeOp, Kind};
use serde_json::json;
use std::sync::Arc;
use store::testing::TestDb;

fn token(scopes: &[&str]) -> Actor {
    Actor::new(
        Principal::Token(TokenPrincipal {
            id: 1,
            name: "t".into(),
            scopes: scopes.iter().map(|s| s.parse().unwrap()).collect(),
        }),
        "127.0.0.1",
    )
}

async fn env() -> (TestDb, Env) {
    let tdb = TestDb::new().await;
    let clock = Arc::new(ManualClock::new(chrono::DateTime::UNIX_EPOCH));
    let env = Env::new(
        Config::default(),
        tdb.db.clone(),
        clock,
        Arc::new(SeededRandom::new(7)),
    );
    (tdb, env)
}

fn body(r: &Reply) -> serde_json::Value {
    match r {
        Reply::Json { body, .. } => body.clone(),
        other => panic!("not JSON: {other:?}"),
    }
}

#[tokio::test]
async fn create_reports_changes_and_reads_back_with_visibility() {
    let (_tdb, env) = env().await;
    let w = token(&["sta:write"]);
    let thing = json!({
        "name": "Ampel 7", "description": "Lichtsignalanlage", "visibility": "internal",
        "Locations": [{ "name": "Kreuzung", "description": "d", "encodingType": "application/geo+json",
                        "location": { "type": "Feature", "properties": {}, "geometry": { "type": "Point", "coordinates": [7.4, 51.5] } } }]
    });
    let written = service::post(&env, &w, "/Things", thing.to_string().as_bytes())
        .await
        .unwrap();
    let kinds: Vec<(Kind, ChangeOp)> = written.changes.iter().map(|c| (c.kind, c.op)).collect();
    assert!(kinds.contains(&(Kind::Thing, ChangeOp::Created)));
    assert!(kinds.contains(&(Kind::Location, ChangeOp::Created)));
    assert!(kinds.contains(&(Kind::HistoricalLocation, ChangeOp::Created)));
    let Reply::Json {
        status, location, ..
    } = &written.reply
    else {
        panic!()
    };
    assert_eq!(*status, 201);
    assert!(
        location
            .as_deref()
            .unwrap()
            .ends_with("/sta/v1.1/Things(1)")
    );

    let anon = Actor::new(Principal::Anonymous, "x");
    let r = service::get(&env, &anon, "/Things", "$count=true")
        .await
        .unwrap();
    assert_eq!(body(&r)["@iot.count"], 0);
    let r = service::get(&env, &anon, "/Locations", "").await.unwrap();
    assert_eq!(body(&r)["value"].as_array().unwrap().len(), 0);
    let r = service::get(
        &env,
        &token(&["sta:read"]),
        "/Things",
        "$filter=st_within(Locations/location,geography'POLYGON((7 51,8 51,8 52,7 52,7 51))')",
    )
    .await
    .unwrap();
    assert_eq!(body(&r)["value"].as_array().unwrap().len(), 1);
    assert!(service::get(&env, &anon, "/Things(1)", "").await.is_err());
}

#[test]
fn access_follows_scopes() {
    let a = Access::of(&token(&["sta:read", "sta:group-verkehr"]).principal);
    assert!(a.internal && !a.write && !a.all);
    assert_eq!(a.groups, vec!["verkehr".to_string()]);
    let s = Access::of(&token(&["sta:write", "sta:thing-4"]).principal);
    assert!(s.write);
    assert_eq!(s.things, Some(vec![4]));
    assert!(Access::of(&token(&["admin"]).principal).all);
    assert_eq!(Access::of(&Principal::Anonymous), Access::default());
}

#[test]
fn times_are_iso_8601_instants_and_intervals() {
    use sensorthings::time::{format_time, parse_time};
    let (a, b) = parse_time("2024-03-01T10:00:00+01:00/2024-03-01T10:30:00.25+01:00").unwrap();
    assert_eq!(
        format_time(a, b),
        "2024-03-01T09:00:00Z/2024-03-01T09:30:00.250Z"
    );
    assert_eq!(parse_time("2024-03-01T09:00:00Z").unwrap().1, None);
}
