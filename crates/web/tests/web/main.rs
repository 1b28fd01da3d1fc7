//! The web crate's integration tests: one test binary, one module per area.

mod account;
mod admin;
mod api;
mod appointments;
mod cases;
mod cityops;
mod energy;
mod foundation;
mod lighting;
mod mqtt;
mod oidc;
mod services;
mod sta;
mod sta_conformance;
mod sta_extras;

/// The demo org units and the demo service catalog; answers each service's id by LeiKa key.
pub async fn demo_catalog(app: &web::testing::TestApp) -> std::collections::HashMap<String, i64> {
    let mut tx = app.env.db.begin().await.unwrap();
    for o in platform::demo::org_units() {
        store::city::upsert_org_unit(&mut tx, &o).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut ids = std::collections::HashMap::new();
    for s in ::services::demo::services() {
        let leika = s.leika.clone();
        let id = ::services::catalog::create(&app.env, &platform::Actor::system(), s)
            .await
            .unwrap();
        ids.insert(leika, id);
    }
    ids
}
