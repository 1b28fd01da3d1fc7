//! The city's own structure: districts (Stadtbezirke) and org units (Ämter).

use crate::q::{Expr, ExprTrait, Order, Query, id};
use crate::{Db, Tx};
use kern::Result;
use sea_query::OnConflict;

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct District {
    pub id: i64,
    pub number: i64,
    pub name: String,
    pub population: i64,
    /// GeoJSON geometry (Polygon or MultiPolygon, WGS 84).
    pub geometry: sqlx::types::Json<serde_json::Value>,
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct OrgUnit {
    pub id: i64,
    pub key: String,
    pub name: String,
    pub parent_id: Option<i64>,
    pub address: String,
    pub email: String,
    pub phone: String,
    pub opening_hours: String,
    pub accessibility: String,
}

/// Inserts or updates a district by its number.
pub async fn upsert_district(
    tx: &mut Tx,
    number: i64,
    name: &str,
    population: i64,
    geometry: &serde_json::Value,
) -> Result<()> {
    tx.execute(
        &Query::insert()
            .into_table(id("districts"))
            .columns([id("number"), id("name"), id("population"), id("geometry")])
            .values_panic([
                number.into(),
                name.into(),
                population.into(),
                geometry.clone().into(),
            ])
            .on_conflict(
                OnConflict::column(id("number"))
                    .update_columns([id("name"), id("population"), id("geometry")])
                    .to_owned(),
            )
            .take(),
    )
    .await
    .map(|_| ())
}

pub async fn districts(db: &Db) -> Result<Vec<District>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("districts"))
            .order_by(id("number"), Order::Asc)
            .take(),
    )
    .await
}

/// Inserts or updates an org unit by its key; returns its id.
pub async fn upsert_org_unit(tx: &mut Tx, o: &OrgUnit) -> Result<i64> {
    #[derive(sqlx::FromRow)]
    struct Id {
        id: i64,
    }
    let r: Id = tx
        .fetch_one(
            &Query::insert()
                .into_table(id("org_units"))
                .columns(
                    [
                        "key",
                        "name",
                        "parent_id",
                        "address",
                        "email",
                        "phone",
                        "opening_hours",
                        "accessibility",
                    ]
                    .map(id),
                )
                .values_panic([
                    o.key.clone().into(),
                    o.name.clone().into(),
                    o.parent_id.into(),
                    o.address.clone().into(),
                    o.email.clone().into(),
                    o.phone.clone().into(),
                    o.opening_hours.clone().into(),
                    o.accessibility.clone().into(),
                ])
                .on_conflict(
                    OnConflict::column(id("key"))
                        .update_columns(
                            [
                                "name",
                                "parent_id",
                                "address",
                                "email",
                                "phone",
                                "opening_hours",
                                "accessibility",
                            ]
                            .map(id),
                        )
                        .to_owned(),
                )
                .returning_col(id("id"))
                .take(),
        )
        .await?;
    Ok(r.id)
}

pub async fn org_units(db: &Db) -> Result<Vec<OrgUnit>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("org_units"))
            .order_by(id("name"), Order::Asc)
            .to_owned(),
    )
    .await
}

pub async fn org_unit(db: &Db, org_id: i64) -> Result<Option<OrgUnit>> {
    db.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("org_units"))
            .and_where(Expr::col(id("id")).eq(org_id))
            .take(),
    )
    .await
}

pub async fn org_unit_by_key(db: &Db, key: &str) -> Result<Option<OrgUnit>> {
    db.fetch_optional(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("org_units"))
            .and_where(Expr::col(id("key")).eq(key))
            .take(),
    )
    .await
}
