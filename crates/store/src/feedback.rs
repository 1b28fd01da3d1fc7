//! Reports about accessibility barriers (BITV feedback mechanism).

use crate::q::{Expr, ExprTrait, Order, Query, id};
use crate::{Db, Tx};
use chrono::{DateTime, Utc};
use kern::{Error, Result};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Feedback {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub page: String,
    pub message: String,
    pub contact: String,
    pub status: String,
    pub handled_by: Option<i64>,
    pub handled_at: Option<DateTime<Utc>>,
}

pub async fn create(
    tx: &mut Tx,
    page: &str,
    message: &str,
    contact: &str,
    now: DateTime<Utc>,
) -> Result<i64> {
    #[derive(sqlx::FromRow)]
    struct Id {
        id: i64,
    }
    let r: Id = tx
        .fetch_one(
            &Query::insert()
                .into_table(id("barrier_feedback"))
                .columns(["created_at", "page", "message", "contact", "status"].map(id))
                .values_panic([
                    now.into(),
                    page.into(),
                    message.into(),
                    contact.into(),
                    "open".into(),
                ])
                .returning_col(id("id"))
                .take(),
        )
        .await?;
    Ok(r.id)
}

pub async fn list(db: &Db) -> Result<Vec<Feedback>> {
    db.fetch_all(
        &Query::select()
            .column(sea_query::Asterisk)
            .from(id("barrier_feedback"))
            .order_by(id("id"), Order::Desc)
            .take(),
    )
    .await
}

pub async fn mark_done(tx: &mut Tx, feedback_id: i64, by: i64, now: DateTime<Utc>) -> Result<()> {
    let n = tx
        .execute(
            &Query::update()
                .table(id("barrier_feedback"))
                .values([
                    (id("status"), "done".into()),
                    (id("handled_by"), by.into()),
                    (id("handled_at"), now.into()),
                ])
                .and_where(Expr::col(id("id")).eq(feedback_id))
                .take(),
        )
        .await?;
    if n == 0 {
        Err(Error::not_found("Meldung nicht gefunden."))
    } else {
        Ok(())
    }
}
