//! Small row helpers the area files share.

use crate::Tx;
use crate::q::{Query, id};
use kern::Result;
use sea_query::SimpleExpr;

/// A row's id, as `RETURNING id` or a selected column gives it.
#[derive(sqlx::FromRow)]
pub(crate) struct Id {
    pub id: i64,
}

/// One nullable number (`MAX(...) AS n`, `COUNT(*) AS n`).
#[derive(sqlx::FromRow)]
pub(crate) struct Num {
    pub n: Option<i64>,
}

/// Inserts one row of `values` into `cols` of `table` and answers its new id.
pub(crate) async fn insert(
    tx: &mut Tx,
    table: &'static str,
    cols: &[&'static str],
    values: Vec<SimpleExpr>,
) -> Result<i64> {
    let r: Id = tx
        .fetch_one(
            &Query::insert()
                .into_table(id(table))
                .columns(cols.iter().map(|c| id(c)))
                .values_panic(values)
                .returning_col(id("id"))
                .take(),
        )
        .await?;
    Ok(r.id)
}
