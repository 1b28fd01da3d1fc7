//! Instance-wide settings (key/value), for example the server secret shared by all replicas.

use crate::q::{Expr, ExprTrait, Query, id};
use crate::{Db, Tx};
use kern::Result;
use sea_query::OnConflict;

#[derive(sqlx::FromRow)]
struct Row {
    value: String,
}

pub async fn get(db: &Db, key: &str) -> Result<Option<String>> {
    let q = Query::select()
        .column(id("value"))
        .from(id("settings"))
        .and_where(Expr::col(id("key")).eq(key))
        .take();
    Ok(db.fetch_optional::<Row, _>(&q).await?.map(|r| r.value))
}

pub async fn get_tx(tx: &mut Tx, key: &str) -> Result<Option<String>> {
    let q = Query::select()
        .column(id("value"))
        .from(id("settings"))
        .and_where(Expr::col(id("key")).eq(key))
        .take();
    Ok(tx.fetch_optional::<Row, _>(&q).await?.map(|r| r.value))
}

pub async fn set_tx(tx: &mut Tx, key: &str, value: &str) -> Result<()> {
    let q = Query::insert()
        .into_table(id("settings"))
        .columns([id("key"), id("value")])
        .values_panic([key.into(), value.into()])
        .on_conflict(
            OnConflict::column(id("key"))
                .update_column(id("value"))
                .to_owned(),
        )
        .take();
    tx.execute(&q).await.map(|_| ())
}

pub async fn set(db: &Db, key: &str, value: &str) -> Result<()> {
    let mut tx = db.begin().await?;
    set_tx(&mut tx, key, value).await?;
    tx.commit().await
}

/// Returns the value under `key`, creating it with `make()` first if absent. Safe when several
/// replicas race: the first writer wins and everyone reads its value.
pub async fn get_or_create(db: &Db, key: &str, make: impl FnOnce() -> String) -> Result<String> {
    if let Some(v) = get(db, key).await? {
        return Ok(v);
    }
    let q = Query::insert()
        .into_table(id("settings"))
        .columns([id("key"), id("value")])
        .values_panic([key.into(), make().into()])
        .on_conflict(OnConflict::column(id("key")).do_nothing().to_owned())
        .take();
    db.execute(&q).await?;
    get(db, key)
        .await?
        .ok_or_else(|| kern::Error::internal("setting vanished"))
}
