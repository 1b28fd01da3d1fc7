//! The city-operations rules without HTTP, on the test database of `STADTKERN_TEST_DATABASE`
//! (SQLite by default, or PostgreSQL): conflict detection, states, bad inputs, feeds and area
//! subscriptions.

mod energy;
mod feeds;
mod lighting;
mod parking;
mod roadworks;
mod subscriptions;
mod traffic;

use chrono::{DateTime, Duration, TimeZone, Utc};
use cityops::roadworks::{Application, Conflict};
use kern::auth::TokenPrincipal;
use kern::{Config, ManualClock, Principal, SeededRandom};
use platform::{Actor, Env};
use std::sync::Arc;
use store::testing::TestDb;

pub struct T {
    pub _tdb: TestDb,
    pub env: Env,
    pub clock: Arc<ManualClock>,
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

/// A staff token (scope `cityops:write`).
pub fn staff() -> Actor {
    Actor::new(
        Principal::Token(TokenPrincipal {
            id: 1,
            name: "t".into(),
            scopes: vec!["cityops:write".parse().unwrap()],
        }),
        "127.0.0.1",
    )
}

pub fn anonymous() -> Actor {
    Actor::new(Principal::Anonymous, "127.0.0.1")
}

/// A fresh database with the demo city's districts and a few streets.
pub async fn setup() -> T {
    let tdb = TestDb::new().await;
    let clock = Arc::new(ManualClock::new(t0()));
    let env = Env::new(
        Config::default(),
        tdb.db.clone(),
        clock.clone(),
        Arc::new(SeededRandom::new(11)),
    );
    let mut tx = env.db.begin().await.unwrap();
    for ((number, name, population, _, _), geometry) in platform::demo::DISTRICTS
        .iter()
        .zip(platform::demo::district_polygons())
    {
        store::city::upsert_district(&mut tx, *number, name, *population, &geometry)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    for (name, d) in [
        ("Hohe Straße", 1),
        ("Kampstraße", 1),
        ("Münsterstraße", 2),
        ("Kaiserstraße", 3),
    ] {
        cityops::roadworks::add_street(&env, &staff(), name, Some(d))
            .await
            .unwrap();
    }
    T {
        _tdb: tdb,
        env,
        clock,
    }
}

/// A GeoJSON LineString through (longitude, latitude) points.
pub fn line(points: &[(f64, f64)]) -> String {
    let c: Vec<String> = points.iter().map(|(x, y)| format!("[{x},{y}]")).collect();
    format!(r#"{{"type":"LineString","coordinates":[{}]}}"#, c.join(","))
}

pub fn day(t: &T, offset: i64) -> String {
    (t.env.now() + Duration::days(offset))
        .format("%Y-%m-%d")
        .to_string()
}

/// A valid application on Hohe Straße (Innenstadt-West) from day `from` to day `to`.
pub fn application(t: &T, site: String, from: i64, to: i64) -> Application {
    Application {
        title: "Fernwärme".into(),
        description: "Leitung erneuern".into(),
        street: "Hohe Straße".into(),
        geometry: site,
        detour: String::new(),
        period_start: day(t, from),
        period_end: day(t, to),
        working_hours: "Mo–Fr 7–18 Uhr".into(),
        closure: "lane".into(),
        applicant_org: "DEW21".into(),
        contact_name: "Sabine Kortmann".into(),
        contact_email: "s.kortmann@dew21.example".into(),
        contact_phone: "0231 5440".into(),
    }
}

/// The site used by most tests: about 200 m of Hohe Straße.
pub fn hohe() -> String {
    line(&[(7.4590, 51.5070), (7.4592, 51.5052)])
}

pub fn kinds(c: &[Conflict]) -> Vec<(String, i64, i64)> {
    let mut v: Vec<_> = c
        .iter()
        .map(|c| (c.kind.clone(), c.works_id, c.other_id))
        .collect();
    v.sort();
    v
}
