//! The append-only, hash-chained audit log.
//!
//! Each entry carries a gapless sequence number, the hash of the previous entry and its own
//! hash over all its fields. Appends are serialised (one writer on SQLite, an advisory lock on
//! PostgreSQL), so the chain is a line even with several replicas. The newest sequence number
//! and hash are also kept in `settings` as the chain's head, so deleting the newest entries is
//! detected too. `verify` walks the chain and names the first entry that does not fit.

use crate::q::{Expr, ExprTrait, Order, Query, id};
use crate::{Db, Tx, settings};
use chrono::{DateTime, SecondsFormat, Utc};
use kern::Result;
use sha2::{Digest, Sha256};

const LOCK: i64 = 7_823_857_377;
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const HEAD_KEY: &str = "audit.head";

/// What to record.
#[derive(Debug, Clone, Default)]
pub struct NewEntry {
    pub at: Option<DateTime<Utc>>,
    /// Who: `user:NAME`, `token:NAME`, `anonymous`, `system`.
    pub actor: String,
    /// What, as `module.verb`: `user.create`, `session.login`, `token.revoke`...
    pub action: String,
    /// On what: `user:17`, `token:3`...
    pub object: String,
    /// From where: the client address.
    pub address: String,
    /// Details as JSON text (never secrets).
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Entry {
    pub id: i64,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub object: String,
    pub address: String,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

fn entry_hash(seq: i64, at: &DateTime<Utc>, e: &NewEntryRef<'_>, prev: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        seq.to_string().as_str(),
        &at.to_rfc3339_opts(SecondsFormat::Micros, true),
        e.actor,
        e.action,
        e.object,
        e.address,
        e.details,
        prev,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

struct NewEntryRef<'a> {
    actor: &'a str,
    action: &'a str,
    object: &'a str,
    address: &'a str,
    details: &'a str,
}

#[derive(sqlx::FromRow)]
struct Head {
    seq: i64,
    hash: String,
}

/// Appends an entry inside the caller's transaction, so the audit entry and the change it
/// records commit together or not at all.
pub async fn append(tx: &mut Tx, entry: NewEntry, now: DateTime<Utc>) -> Result<i64> {
    tx.lock(LOCK).await?;
    let last: Option<Head> = tx
        .fetch_optional(
            &Query::select()
                .columns([id("seq"), id("hash")])
                .from(id("audit_log"))
                .order_by(id("seq"), Order::Desc)
                .limit(1)
                .take(),
        )
        .await?;
    let (seq, prev) = match last {
        Some(h) => (h.seq + 1, h.hash),
        None => (1, GENESIS.to_string()),
    };
    // Microsecond precision survives both backends unchanged.
    let at = entry.at.unwrap_or(now);
    let at = DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at);
    let details = entry.details.to_string();
    let r = NewEntryRef {
        actor: &entry.actor,
        action: &entry.action,
        object: &entry.object,
        address: &entry.address,
        details: &details,
    };
    let hash = entry_hash(seq, &at, &r, &prev);
    tx.execute(
        &Query::insert()
            .into_table(id("audit_log"))
            .columns(
                [
                    "seq",
                    "at",
                    "actor",
                    "action",
                    "object",
                    "address",
                    "details",
                    "prev_hash",
                    "hash",
                ]
                .map(id),
            )
            .values_panic([
                seq.into(),
                at.into(),
                entry.actor.clone().into(),
                entry.action.clone().into(),
                entry.object.clone().into(),
                entry.address.clone().into(),
                details.into(),
                prev.into(),
                hash.clone().into(),
            ])
            .take(),
    )
    .await?;
    settings::set_tx(tx, HEAD_KEY, &format!("{seq}:{hash}")).await?;
    Ok(seq)
}

/// Appends an entry in a transaction of its own.
pub async fn record(db: &Db, entry: NewEntry, now: DateTime<Utc>) -> Result<i64> {
    let mut tx = db.begin().await?;
    let seq = append(&mut tx, entry, now).await?;
    tx.commit().await?;
    Ok(seq)
}

/// A filter for listing entries.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: Option<String>,
    pub action_prefix: Option<String>,
    pub object: Option<String>,
    pub before_seq: Option<i64>,
    pub limit: u64,
}

/// Newest first.
pub async fn list(db: &Db, f: &Filter) -> Result<Vec<Entry>> {
    let mut q = Query::select();
    q.column(sea_query::Asterisk)
        .from(id("audit_log"))
        .order_by(id("seq"), Order::Desc);
    if let Some(a) = &f.actor {
        q.and_where(Expr::col(id("actor")).eq(a.as_str()));
    }
    if let Some(a) = &f.action_prefix {
        let escaped = a
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        q.and_where(
            Expr::col(id("action"))
                .like(sea_query::LikeExpr::new(format!("{escaped}%")).escape('\\')),
        );
    }
    if let Some(o) = &f.object {
        q.and_where(Expr::col(id("object")).eq(o.as_str()));
    }
    if let Some(b) = f.before_seq {
        q.and_where(Expr::col(id("seq")).lt(b));
    }
    q.limit(if f.limit == 0 {
        100
    } else {
        Ord::min(f.limit, 1000)
    });
    db.fetch_all(&q).await
}

/// The outcome of a chain check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Intact { entries: u64 },
    Broken { seq: i64, reason: String },
}

/// Walks the whole chain in order and checks every link.
pub async fn verify(db: &Db) -> Result<Verdict> {
    let mut expected_prev = GENESIS.to_string();
    let mut expected_seq = 1i64;
    let mut count = 0u64;
    let page = 5000u64;
    let mut after = 0i64;
    loop {
        let rows: Vec<Entry> = db
            .fetch_all(
                &Query::select()
                    .column(sea_query::Asterisk)
                    .from(id("audit_log"))
                    .and_where(Expr::col(id("seq")).gt(after))
                    .order_by(id("seq"), Order::Asc)
                    .limit(page)
                    .take(),
            )
            .await?;
        if rows.is_empty() {
            break;
        }
        for e in &rows {
            if e.seq != expected_seq {
                return Ok(Verdict::Broken {
                    seq: expected_seq,
                    reason: format!(
                        "entry {expected_seq} is missing (next present entry is {})",
                        e.seq
                    ),
                });
            }
            if e.prev_hash != expected_prev {
                return Ok(Verdict::Broken {
                    seq: e.seq,
                    reason: "its link to the previous entry does not match (an entry before it was changed or deleted)".into(),
                });
            }
            let r = NewEntryRef {
                actor: &e.actor,
                action: &e.action,
                object: &e.object,
                address: &e.address,
                details: &e.details,
            };
            if entry_hash(e.seq, &e.at, &r, &e.prev_hash) != e.hash {
                return Ok(Verdict::Broken {
                    seq: e.seq,
                    reason: "its content was changed after it was written".into(),
                });
            }
            expected_prev = e.hash.clone();
            expected_seq += 1;
            count += 1;
            after = e.seq;
        }
    }
    let head = settings::get(db, HEAD_KEY).await?;
    let actual = if count == 0 {
        None
    } else {
        Some(format!("{}:{}", expected_seq - 1, expected_prev))
    };
    if head != actual {
        let recorded = head
            .as_deref()
            .and_then(|h| h.split(':').next())
            .unwrap_or("none");
        return Ok(Verdict::Broken {
            seq: expected_seq,
            reason: format!(
                "the chain ends at entry {} but its recorded head is entry {recorded}: newest entries were deleted",
                expected_seq - 1
            ),
        });
    }
    Ok(Verdict::Intact { entries: count })
}
