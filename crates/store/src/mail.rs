//! The outbox of outgoing e-mail: a mail is a row written in the transaction that causes it and
//! delivered after commit by whichever replica claims it first.

use crate::migrations::{big, boolean, index, pk, sql, table, text, text_null, ts, ts_null};
use crate::q::{Cond, Expr, ExprTrait, Order, Query, id};
use crate::{Backend, Db, Tx};
use chrono::{DateTime, Duration, Utc};
use kern::Result;

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct OutboxMail {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub to_addr: String,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub claimed_until: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub failed: bool,
    pub last_error: Option<String>,
}

pub(crate) fn m0004_mail(b: Backend) -> Vec<String> {
    vec![
        sql(
            b,
            &table("mail_outbox")
                .col(pk("id"))
                .col(ts("created_at"))
                .col(text("to_addr"))
                .col(text("subject"))
                .col(text("body"))
                .col(big("attempts"))
                .col(ts("next_attempt_at"))
                .col(ts_null("claimed_until"))
                .col(ts_null("sent_at"))
                .col(boolean("failed", false))
                .col(text_null("last_error"))
                .take(),
        ),
        sql(
            b,
            &index(
                "mail_outbox_pending",
                "mail_outbox",
                &["sent_at", "next_attempt_at"],
                false,
            ),
        ),
    ]
}

pub async fn insert(
    tx: &mut Tx,
    to: &str,
    subject: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<i64> {
    #[derive(sqlx::FromRow)]
    struct Id {
        id: i64,
    }
    let r: Id = tx
        .fetch_one(
            &Query::insert()
                .into_table(id("mail_outbox"))
                .columns(
                    [
                        "created_at",
                        "to_addr",
                        "subject",
                        "body",
                        "attempts",
                        "next_attempt_at",
                        "failed",
                    ]
                    .map(id),
                )
                .values_panic([
                    now.into(),
                    to.into(),
                    subject.into(),
                    body.into(),
                    0i64.into(),
                    now.into(),
                    false.into(),
                ])
                .returning_col(id("id"))
                .take(),
        )
        .await?;
    Ok(r.id)
}

/// Every mail, oldest first (`limit` newest ones when given).
pub async fn list(db: &Db, limit: Option<u64>) -> Result<Vec<OutboxMail>> {
    let mut q = Query::select();
    q.column(sea_query::Asterisk)
        .from(id("mail_outbox"))
        .order_by(id("id"), Order::Desc);
    if let Some(l) = limit {
        q.limit(l);
    }
    let mut rows: Vec<OutboxMail> = db.fetch_all(&q).await?;
    rows.reverse();
    Ok(rows)
}

fn claimable(now: DateTime<Utc>) -> Cond {
    Cond::all()
        .add(Expr::col(id("sent_at")).is_null())
        .add(Expr::col(id("failed")).eq(false))
        .add(Expr::col(id("next_attempt_at")).lte(now))
        .add(
            Cond::any()
                .add(Expr::col(id("claimed_until")).is_null())
                .add(Expr::col(id("claimed_until")).lt(now)),
        )
}

/// Claims up to `limit` due mails for `lease`: a conditional update per row, so two replicas
/// never claim the same mail. Returns the claimed mails (their `attempts` already counted).
pub async fn claim(
    db: &Db,
    now: DateTime<Utc>,
    lease: Duration,
    limit: u64,
) -> Result<Vec<OutboxMail>> {
    #[derive(sqlx::FromRow)]
    struct Id {
        id: i64,
    }
    let due: Vec<Id> = db
        .fetch_all(
            &Query::select()
                .column(id("id"))
                .from(id("mail_outbox"))
                .cond_where(claimable(now))
                .order_by(id("id"), Order::Asc)
                .limit(limit)
                .take(),
        )
        .await?;
    let mut claimed = Vec::new();
    for Id { id: mail } in due {
        let won = db
            .execute(
                &Query::update()
                    .table(id("mail_outbox"))
                    .value(id("claimed_until"), now + lease)
                    .value(id("attempts"), Expr::col(id("attempts")).add(1))
                    .cond_where(claimable(now).add(Expr::col(id("id")).eq(mail)))
                    .take(),
            )
            .await?;
        if won == 1 {
            let row: OutboxMail = db
                .fetch_one(
                    &Query::select()
                        .column(sea_query::Asterisk)
                        .from(id("mail_outbox"))
                        .and_where(Expr::col(id("id")).eq(mail))
                        .take(),
                )
                .await?;
            claimed.push(row);
        }
    }
    Ok(claimed)
}

pub async fn mark_sent(db: &Db, mail: i64, now: DateTime<Utc>) -> Result<()> {
    db.execute(
        &Query::update()
            .table(id("mail_outbox"))
            .value(id("sent_at"), now)
            .value(id("claimed_until"), Option::<DateTime<Utc>>::None)
            .value(id("last_error"), Option::<String>::None)
            .and_where(Expr::col(id("id")).eq(mail))
            .take(),
    )
    .await?;
    Ok(())
}

/// Records a failed attempt: retried at `retry_at`, or given up when `give_up`.
pub async fn mark_failed(
    db: &Db,
    mail: i64,
    error: &str,
    retry_at: DateTime<Utc>,
    give_up: bool,
) -> Result<()> {
    db.execute(
        &Query::update()
            .table(id("mail_outbox"))
            .value(id("claimed_until"), Option::<DateTime<Utc>>::None)
            .value(id("next_attempt_at"), retry_at)
            .value(id("failed"), give_up)
            .value(id("last_error"), error)
            .and_where(Expr::col(id("id")).eq(mail))
            .take(),
    )
    .await?;
    Ok(())
}
