//! Where a request's statements run: on the pools (every request on its own), or inside one
//! shared transaction (an atomic `$batch` changeset, whose later requests must see what the
//! earlier ones wrote, and whose failure leaves nothing written).

use kern::{Error, Result};
use store::sea_query::Values;
use store::{Backend, Cells, Db, Tx};
use tokio::sync::Mutex;

/// One open transaction shared by several requests. The requests run one after the other;
/// a write takes the transaction out for its duration and puts it back.
pub struct Shared {
    backend: Backend,
    tx: Mutex<Option<Tx>>,
}

impl Shared {
    pub fn new(tx: Tx) -> Shared {
        Shared {
            backend: tx.backend(),
            tx: Mutex::new(Some(tx)),
        }
    }

    /// Takes the transaction out (for a [`crate::write::Writer`]).
    pub async fn take(&self) -> Result<Tx> {
        self.tx
            .lock()
            .await
            .take()
            .ok_or_else(|| Error::internal("shared transaction is in use"))
    }

    /// Puts it back after a write.
    pub async fn put(&self, tx: Tx) {
        *self.tx.lock().await = Some(tx);
    }

    /// The transaction, for commit (or drop = rollback).
    pub fn into_inner(self) -> Option<Tx> {
        self.tx.into_inner()
    }
}

/// Pools or a shared transaction.
#[derive(Clone, Copy)]
pub enum Conn<'a> {
    Pool(&'a Db),
    Tx(&'a Shared),
}

impl<'a> From<&'a Db> for Conn<'a> {
    fn from(db: &'a Db) -> Self {
        Conn::Pool(db)
    }
}

impl Conn<'_> {
    pub fn backend(&self) -> Backend {
        match self {
            Conn::Pool(db) => db.backend(),
            Conn::Tx(s) => s.backend,
        }
    }

    /// Runs SQL text of our own with bound values and returns untyped rows.
    pub async fn fetch_cells_sql(&self, sql: &str, values: Values) -> Result<Vec<Cells>> {
        match self {
            Conn::Pool(db) => db.fetch_cells_many(sql, values).await,
            Conn::Tx(s) => {
                let mut guard = s.tx.lock().await;
                let tx = guard
                    .as_mut()
                    .ok_or_else(|| Error::internal("shared transaction is in use"))?;
                tx.fetch_cells_sql(sql, values).await
            }
        }
    }
}
