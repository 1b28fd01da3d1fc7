//! Stadtkern storage: the only crate that speaks SQL.
//!
//! One set of queries for both backends: statements are built with `sea-query` and rendered for
//! SQLite or PostgreSQL at run time; values are bound through sqlx ([`bind`]). Records derive
//! `sqlx::FromRow`, which works for rows of either backend as long as columns use the portable
//! types (BIGINT, DOUBLE, TEXT, BOOLEAN, TIMESTAMPTZ, JSON, BLOB).
//!
//! SQLite runs in WAL mode with one writer connection and a pool of readers, so concurrent
//! writers queue instead of failing with SQLITE_BUSY. PostgreSQL uses one pool.

mod bind;
pub mod cells;
pub mod migrations;
mod migrations_cityops;
mod migrations_energy;
mod migrations_lighting;
mod migrations_services;
mod migrations_sta;
pub mod migrations_sta_extras;
pub mod sqlite_geo;

pub mod accounts;
pub mod audit;
pub mod backup;
pub mod cases;
pub mod city;
pub mod cityops;
pub mod energy;
pub mod feedback;
pub mod lighting;
pub mod mail;
pub mod privacy;
mod rows;
pub mod services;
pub mod settings;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use kern::{Error, Result};
use sea_query::{PostgresQueryBuilder, QueryStatementWriter, SqliteQueryBuilder, Values};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, FromRow};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub use cells::{Cell, Cells};
pub use sea_query;
/// A JSON column value (read as `row.field.0`, written with `Json(value)`).
pub use sqlx::types::Json;

/// Which SQL dialect a database speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A row type readable from both backends.
pub trait Record:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}
impl<T> Record for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

#[derive(Clone)]
enum Pools {
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
        path: PathBuf,
    },
    Postgres {
        pool: PgPool,
    },
}

/// Options for opening a database.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub max_connections: u32,
    /// PostgreSQL schema to use instead of `public` (tests get one each).
    pub schema: Option<String>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            schema: None,
        }
    }
}

/// A handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pools: Arc<Pools>,
    schema: Option<String>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Db({})", self.backend().name())
    }
}

/// Maps a driver error to the domain error, without leaking SQL to clients.
pub(crate) fn db_err(e: sqlx::Error) -> Error {
    if let sqlx::Error::Database(d) = &e {
        if d.is_unique_violation() {
            return Error::Conflict("Ein Eintrag mit diesem Schlüssel existiert bereits.".into());
        }
        if d.is_foreign_key_violation() {
            return Error::Conflict(
                "Der Eintrag verweist auf etwas, das es nicht gibt, oder wird noch verwendet."
                    .into(),
            );
        }
    }
    tracing::error!(error = %e, "database error");
    Error::Internal(format!("database: {e}"))
}

impl Db {
    /// Opens (and for SQLite creates) the database at `url`. Does not migrate.
    pub async fn connect(url: &str, opts: &OpenOptions) -> Result<Db> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            if path.is_empty() || path == ":memory:" {
                return Err(Error::invalid(
                    "database",
                    "SQLite needs a file path: sqlite://PATH",
                ));
            }
            let path = PathBuf::from(path);
            if let Some(parent) = path.parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    Error::invalid(
                        "data_dir",
                        format!("cannot create {}: {e}", parent.display()),
                    )
                })?;
            }
            let base = SqliteConnectOptions::new()
                .filename(&path)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .pragma("temp_store", "memory")
                .pragma("cache_size", "-32000")
                .disable_statement_logging();
            let write = SqlitePoolOptions::new()
                .after_connect(|c, _| Box::pin(sqlite_geo::register(c)))
                .max_connections(1)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(base.clone().create_if_missing(true))
                .await
                .map_err(|e| {
                    Error::invalid(
                        "database",
                        format!("cannot open SQLite database {}: {e}", path.display()),
                    )
                })?;
            let read = SqlitePoolOptions::new()
                .after_connect(|c, _| Box::pin(sqlite_geo::register(c)))
                .max_connections(opts.max_connections.max(2))
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(base.read_only(true))
                .await
                .map_err(|e| {
                    Error::invalid(
                        "database",
                        format!("cannot open SQLite database {}: {e}", path.display()),
                    )
                })?;
            Ok(Db {
                pools: Arc::new(Pools::Sqlite { read, write, path }),
                schema: None,
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut options = PgConnectOptions::from_str(url).map_err(|e| {
                Error::invalid(
                    "database",
                    format!(
                        "invalid PostgreSQL URL {}: {e}",
                        kern::config::redact_url(url)
                    ),
                )
            })?;
            options = options.disable_statement_logging();
            if let Some(schema) = &opts.schema {
                if !schema
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    return Err(Error::invalid(
                        "schema",
                        "schema names are letters, digits and _",
                    ));
                }
                options = options.options([("search_path", format!("{schema},public"))]);
            }
            let pool = PgPoolOptions::new()
                .max_connections(opts.max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(|e| {
                    Error::invalid(
                        "database",
                        format!(
                            "cannot connect to PostgreSQL at {}: {e}",
                            kern::config::redact_url(url)
                        ),
                    )
                })?;
            Ok(Db {
                pools: Arc::new(Pools::Postgres { pool }),
                schema: opts.schema.clone(),
            })
        } else {
            Err(Error::invalid(
                "database",
                format!(
                    "unsupported database URL '{}': use postgres://USER@HOST/DB or sqlite://PATH",
                    kern::config::redact_url(url)
                ),
            ))
        }
    }

    pub fn backend(&self) -> Backend {
        match &*self.pools {
            Pools::Sqlite { .. } => Backend::Sqlite,
            Pools::Postgres { .. } => Backend::Postgres,
        }
    }

    /// The PostgreSQL schema in use, when not `public`.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The SQLite file, if this is SQLite.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match &*self.pools {
            Pools::Sqlite { path, .. } => Some(path),
            Pools::Postgres { .. } => None,
        }
    }

    /// Renders a statement for this database's dialect.
    pub fn render<S: QueryStatementWriter>(&self, stmt: &S) -> (String, Values) {
        render(self.backend(), stmt)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.raw_execute("SELECT 1").await.map(|_| ())
    }

    /// Connection pool figures: (connections open, idle).
    pub fn pool_stats(&self) -> (u32, u32) {
        match &*self.pools {
            Pools::Sqlite { read, write, .. } => (
                read.size() + write.size(),
                (read.num_idle() + write.num_idle()) as u32,
            ),
            Pools::Postgres { pool } => (pool.size(), pool.num_idle() as u32),
        }
    }

    pub async fn fetch_all<T: Record, S: QueryStatementWriter>(&self, stmt: &S) -> Result<Vec<T>> {
        let (sql, values) = self.render(stmt);
        match &*self.pools {
            Pools::Sqlite { read, .. } => bind::sqlite_as::<T>(&sql, values).fetch_all(read).await,
            Pools::Postgres { pool } => bind::pg_as::<T>(&sql, values).fetch_all(pool).await,
        }
        .map_err(db_err)
    }

    pub async fn fetch_optional<T: Record, S: QueryStatementWriter>(
        &self,
        stmt: &S,
    ) -> Result<Option<T>> {
        let (sql, values) = self.render(stmt);
        match &*self.pools {
            Pools::Sqlite { read, .. } => {
                bind::sqlite_as::<T>(&sql, values)
                    .fetch_optional(read)
                    .await
            }
            Pools::Postgres { pool } => bind::pg_as::<T>(&sql, values).fetch_optional(pool).await,
        }
        .map_err(db_err)
    }

    pub async fn fetch_one<T: Record, S: QueryStatementWriter>(&self, stmt: &S) -> Result<T> {
        self.fetch_optional(stmt)
            .await?
            .ok_or_else(|| Error::not_found("Eintrag nicht gefunden."))
    }

    /// Runs a statement that writes; returns the number of rows affected.
    pub async fn execute<S: QueryStatementWriter>(&self, stmt: &S) -> Result<u64> {
        let (sql, values) = self.render(stmt);
        match &*self.pools {
            Pools::Sqlite { write, .. } => bind::sqlite(&sql, values)
                .execute(write)
                .await
                .map(|r| r.rows_affected()),
            Pools::Postgres { pool } => bind::pg(&sql, values)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
        }
        .map_err(db_err)
    }

    /// Runs a writing statement that returns rows (`RETURNING`).
    pub async fn write_returning<T: Record, S: QueryStatementWriter>(&self, stmt: &S) -> Result<T> {
        let (sql, values) = self.render(stmt);
        match &*self.pools {
            Pools::Sqlite { write, .. } => {
                bind::sqlite_as::<T>(&sql, values).fetch_one(write).await
            }
            Pools::Postgres { pool } => bind::pg_as::<T>(&sql, values).fetch_one(pool).await,
        }
        .map_err(db_err)
    }

    /// Runs plain SQL without parameters (DDL, pragmas). Only for fixed strings of our own.
    pub async fn raw_execute(&self, sql: &str) -> Result<u64> {
        match &*self.pools {
            Pools::Sqlite { write, .. } => sqlx::query(sql)
                .execute(write)
                .await
                .map(|r| r.rows_affected()),
            Pools::Postgres { pool } => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
        }
        .map_err(db_err)
    }

    /// Starts a write transaction. On SQLite it runs on the single writer connection, so
    /// transactions are serialised; on PostgreSQL it is READ COMMITTED.
    ///
    /// SQLite transactions start IMMEDIATE: they take the write lock at once (waiting for it up
    /// to the busy timeout). A deferred transaction that reads first and writes later fails with
    /// SQLITE_BUSY(_SNAPSHOT) when another process (a second replica, the command line next to
    /// a running server) committed in between, and the busy timeout cannot help it.
    pub async fn begin(&self) -> Result<Tx> {
        match &*self.pools {
            Pools::Sqlite { write, .. } => Ok(Tx::Sqlite(
                write.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?,
            )),
            Pools::Postgres { pool } => Ok(Tx::Postgres(pool.begin().await.map_err(db_err)?)),
        }
    }

    /// Starts a read-only transaction that sees one consistent snapshot (for backups).
    pub async fn begin_snapshot(&self) -> Result<Tx> {
        match &*self.pools {
            Pools::Sqlite { read, .. } => Ok(Tx::Sqlite(read.begin().await.map_err(db_err)?)),
            Pools::Postgres { pool } => {
                let mut tx = pool.begin().await.map_err(db_err)?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                Ok(Tx::Postgres(tx))
            }
        }
    }

    /// Closes every connection (used before restoring and at shutdown).
    pub async fn close(&self) {
        match &*self.pools {
            Pools::Sqlite { read, write, .. } => {
                read.close().await;
                write.close().await;
            }
            Pools::Postgres { pool } => pool.close().await,
        }
    }
}

fn render<S: QueryStatementWriter>(backend: Backend, stmt: &S) -> (String, Values) {
    match backend {
        Backend::Sqlite => stmt.build(SqliteQueryBuilder),
        Backend::Postgres => stmt.build(PostgresQueryBuilder),
    }
}

/// A write transaction. Dropping it without [`Tx::commit`] rolls back.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
        .map_err(db_err)
    }

    pub async fn fetch_all<T: Record, S: QueryStatementWriter>(
        &mut self,
        stmt: &S,
    ) -> Result<Vec<T>> {
        let (sql, values) = render(self.backend(), stmt);
        match self {
            Tx::Sqlite(t) => bind::sqlite_as::<T>(&sql, values).fetch_all(&mut **t).await,
            Tx::Postgres(t) => bind::pg_as::<T>(&sql, values).fetch_all(&mut **t).await,
        }
        .map_err(db_err)
    }

    pub async fn fetch_optional<T: Record, S: QueryStatementWriter>(
        &mut self,
        stmt: &S,
    ) -> Result<Option<T>> {
        let (sql, values) = render(self.backend(), stmt);
        match self {
            Tx::Sqlite(t) => {
                bind::sqlite_as::<T>(&sql, values)
                    .fetch_optional(&mut **t)
                    .await
            }
            Tx::Postgres(t) => {
                bind::pg_as::<T>(&sql, values)
                    .fetch_optional(&mut **t)
                    .await
            }
        }
        .map_err(db_err)
    }

    pub async fn fetch_one<T: Record, S: QueryStatementWriter>(&mut self, stmt: &S) -> Result<T> {
        self.fetch_optional(stmt)
            .await?
            .ok_or_else(|| Error::not_found("Eintrag nicht gefunden."))
    }

    pub async fn execute<S: QueryStatementWriter>(&mut self, stmt: &S) -> Result<u64> {
        let (sql, values) = render(self.backend(), stmt);
        match self {
            Tx::Sqlite(t) => bind::sqlite(&sql, values)
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected()),
            Tx::Postgres(t) => bind::pg(&sql, values)
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected()),
        }
        .map_err(db_err)
    }

    /// Plain SQL without parameters, for fixed strings of our own (DDL, locks).
    pub async fn raw_execute(&mut self, sql: &str) -> Result<u64> {
        match self {
            Tx::Sqlite(t) => sqlx::query(sql)
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected()),
            Tx::Postgres(t) => sqlx::query(sql)
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected()),
        }
        .map_err(db_err)
    }

    /// Plain SQL with sea-query values already rendered for this backend.
    pub async fn execute_sql(&mut self, sql: &str, values: Values) -> Result<u64> {
        match self {
            Tx::Sqlite(t) => bind::sqlite(sql, values)
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected()),
            Tx::Postgres(t) => bind::pg(sql, values)
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected()),
        }
        .map_err(db_err)
    }

    /// Serialises this transaction against every other holder of the same lock key until commit
    /// (PostgreSQL advisory lock; SQLite transactions are serial already).
    pub async fn lock(&mut self, key: i64) -> Result<()> {
        if let Tx::Postgres(t) = self {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(key)
                .execute(&mut **t)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }
}

/// Small helpers for building statements.
pub mod q {
    pub use sea_query::{Alias, Asterisk, Cond, Expr, ExprTrait, Func, Iden, Order, Query};

    /// An identifier from a string (table or column name of our own).
    pub fn id(name: &'static str) -> Alias {
        Alias::new(name)
    }
}
