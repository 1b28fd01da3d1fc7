//! The city's structure: districts and org units (public information).

use crate::Env;
use kern::Result;
pub use store::city::{District, OrgUnit};

pub async fn districts(env: &Env) -> Result<Vec<District>> {
    store::city::districts(&env.db).await
}

pub async fn org_units(env: &Env) -> Result<Vec<OrgUnit>> {
    store::city::org_units(&env.db).await
}

pub async fn org_unit(env: &Env, id: i64) -> Result<Option<OrgUnit>> {
    store::city::org_unit(&env.db, id).await
}
