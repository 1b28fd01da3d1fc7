//! The citizen-services rules without HTTP, on the test database of `STADTKERN_TEST_DATABASE`
//! (SQLite by default, or PostgreSQL).

mod appointments;
mod cases;
mod catalog;
mod robustness;

use chrono::{DateTime, TimeZone, Utc};
use kern::auth::{TokenPrincipal, UserPrincipal};
use kern::{Config, ManualClock, Principal, Role, SeededRandom};
use platform::{Actor, Env};
use std::sync::Arc;
use store::testing::TestDb;

pub struct T {
    pub _tdb: TestDb,
    pub env: Env,
    pub clock: Arc<ManualClock>,
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap()
}

/// A token with the scope `services:write`.
pub fn writer() -> Actor {
    Actor::new(
        Principal::Token(TokenPrincipal {
            id: 1,
            name: "t".into(),
            scopes: vec!["services:write".parse().unwrap()],
        }),
        "127.0.0.1",
    )
}

/// A staff member of the given org units.
pub fn staff(id: i64, org_units: Vec<i64>) -> Actor {
    Actor::new(
        Principal::User(UserPrincipal {
            id,
            username: format!("staff{id}"),
            display_name: format!("Staff {id}"),
            roles: vec![Role::Staff],
            org_units,
        }),
        "127.0.0.1",
    )
}

pub fn resident(id: i64) -> Actor {
    Actor::new(
        Principal::User(UserPrincipal {
            id,
            username: format!("resident{id}"),
            display_name: format!("Resident {id}"),
            roles: vec![Role::Resident],
            org_units: vec![],
        }),
        "127.0.0.1",
    )
}

pub fn anonymous() -> Actor {
    Actor::new(Principal::Anonymous, "127.0.0.1")
}

/// A fresh database with the demo city's org units.
pub async fn setup() -> T {
    let tdb = TestDb::new().await;
    let clock = Arc::new(ManualClock::new(t0()));
    let env = Env::new(
        Config::default(),
        tdb.db.clone(),
        clock.clone(),
        Arc::new(SeededRandom::new(5)),
    );
    let mut tx = env.db.begin().await.unwrap();
    for o in platform::demo::org_units() {
        store::city::upsert_org_unit(&mut tx, &o).await.unwrap();
    }
    tx.commit().await.unwrap();
    T {
        _tdb: tdb,
        env,
        clock,
    }
}

pub async fn unit_id(t: &T, key: &str) -> i64 {
    store::city::org_unit_by_key(&t.env.db, key)
        .await
        .unwrap()
        .unwrap()
        .id
}
