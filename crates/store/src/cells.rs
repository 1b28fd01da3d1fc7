//! Untyped result rows for domain crates that build their own statements (sea-query) but must
//! not depend on the database driver: each value comes back as a [`Cell`].

use crate::{Db, Pools, Tx, db_err};
use kern::Result;
use sea_query::QueryStatementWriter;
use sqlx::{Column, Row, TypeInfo, ValueRef};

/// One value of a result row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
}

impl Cell {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Cell::Int(i) => Some(*i),
            Cell::Float(f) => Some(*f as i64),
            Cell::Bool(b) => Some(*b as i64),
            Cell::Text(s) => s.parse().ok(),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(*i as f64),
            Cell::Float(f) => Some(*f),
            Cell::Text(s) => s.parse().ok(),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Cell::Bool(b) => Some(*b),
            Cell::Int(i) => Some(*i != 0),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }
    /// JSON columns arrive as text on SQLite and as JSON text on PostgreSQL (selected as text).
    pub fn as_json(&self) -> Option<serde_json::Value> {
        match self {
            Cell::Text(s) => serde_json::from_str(s).ok(),
            _ => None,
        }
    }
}

/// A result row: column names and values.
#[derive(Debug, Clone, PartialEq)]
pub struct Cells {
    pub columns: std::sync::Arc<Vec<String>>,
    pub values: Vec<Cell>,
}

impl Cells {
    pub fn get(&self, name: &str) -> &Cell {
        static NULL: Cell = Cell::Null;
        self.columns
            .iter()
            .position(|c| c == name)
            .map(|i| &self.values[i])
            .unwrap_or(&NULL)
    }
}

/// A type name in upper case, without allocating when it already is (the usual case): this
/// runs for every cell of every row read.
fn upper(name: &str) -> std::borrow::Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_lowercase()) {
        name.to_ascii_uppercase().into()
    } else {
        name.into()
    }
}

fn decode_sqlite(row: &sqlx::sqlite::SqliteRow, i: usize) -> Result<Cell> {
    let raw = row.try_get_raw(i).map_err(db_err)?;
    if raw.is_null() {
        return Ok(Cell::Null);
    }
    let info = raw.type_info();
    let ty = upper(info.name());
    Ok(match ty.as_ref() {
        "INTEGER" | "INT" | "BIGINT" | "INT8" => {
            Cell::Int(row.try_get::<i64, _>(i).map_err(db_err)?)
        }
        "BOOLEAN" | "BOOL" => Cell::Bool(row.try_get::<bool, _>(i).map_err(db_err)?),
        "REAL" | "DOUBLE" | "FLOAT" | "NUMERIC" => {
            Cell::Float(row.try_get::<f64, _>(i).map_err(db_err)?)
        }
        "BLOB" => Cell::Bytes(row.try_get::<Vec<u8>, _>(i).map_err(db_err)?),
        _ => Cell::Text(row.try_get::<String, _>(i).map_err(db_err)?),
    })
}

/// How the values of one PostgreSQL result column become cells, found once per result from
/// the column's type (rather than once per value).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum PgCol {
    Int8,
    Int4,
    Int2,
    Bool,
    Float8,
    Float4,
    Numeric,
    Bytea,
    Json,
    Jsonb,
    Timestamptz,
    /// text, varchar, char and name: decoded as a string without further checks.
    Text,
    /// Anything else: read as a string through sqlx's checked path (an error for types that
    /// have no string form).
    Other,
}

fn pg_col(info: &sqlx::postgres::PgTypeInfo) -> PgCol {
    match upper(info.name()).as_ref() {
        "INT8" => PgCol::Int8,
        "INT4" => PgCol::Int4,
        "INT2" => PgCol::Int2,
        "BOOL" => PgCol::Bool,
        "FLOAT8" => PgCol::Float8,
        "FLOAT4" => PgCol::Float4,
        "NUMERIC" => PgCol::Numeric,
        "BYTEA" => PgCol::Bytea,
        "JSON" => PgCol::Json,
        "JSONB" => PgCol::Jsonb,
        "TIMESTAMPTZ" => PgCol::Timestamptz,
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => PgCol::Text,
        _ => PgCol::Other,
    }
}

fn decode_err(e: sqlx::error::BoxDynError) -> kern::Error {
    db_err(sqlx::Error::Decode(e))
}

/// One PostgreSQL value as `T`, without sqlx's per-value type check (the column's type was
/// checked once, in [`pg_col`]).
fn pg_value<'r, T: sqlx::Decode<'r, sqlx::Postgres>>(
    raw: sqlx::postgres::PgValueRef<'r>,
) -> Result<T> {
    T::decode(raw).map_err(decode_err)
}

/// One value of a PostgreSQL row. `json_text`: JSON values come as the database's own JSON
/// text (for readers that parse it anyway), instead of text re-serialised by `serde_json`.
fn decode_pg(row: &sqlx::postgres::PgRow, i: usize, col: PgCol, json_text: bool) -> Result<Cell> {
    use sqlx::postgres::PgValueFormat;
    let raw = row.try_get_raw(i).map_err(db_err)?;
    if raw.is_null() {
        return Ok(Cell::Null);
    }
    Ok(match col {
        PgCol::Int8 => Cell::Int(pg_value::<i64>(raw)?),
        PgCol::Int4 => Cell::Int(pg_value::<i32>(raw)?.into()),
        PgCol::Int2 => Cell::Int(pg_value::<i16>(raw)?.into()),
        PgCol::Bool => Cell::Bool(pg_value::<bool>(raw)?),
        PgCol::Float8 => Cell::Float(pg_value::<f64>(raw)?),
        PgCol::Float4 => Cell::Float(pg_value::<f32>(raw)?.into()),
        PgCol::Numeric => Cell::Float(
            row.try_get::<String, _>(i)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN),
        ),
        PgCol::Bytea => Cell::Bytes(pg_value::<Vec<u8>>(raw)?),
        PgCol::Json | PgCol::Jsonb if json_text => {
            let binary = raw.format() == PgValueFormat::Binary;
            let mut bytes = raw.as_bytes().map_err(decode_err)?;
            // Binary jsonb starts with its format version (1), then the JSON text.
            if binary && col == PgCol::Jsonb {
                match bytes.split_first() {
                    Some((1, rest)) => bytes = rest,
                    _ => {
                        return Err(decode_err("jsonb in an unknown binary format".into()));
                    }
                }
            }
            Cell::Text(
                std::str::from_utf8(bytes)
                    .map_err(|e| decode_err(Box::new(e)))?
                    .to_string(),
            )
        }
        PgCol::Json | PgCol::Jsonb => Cell::Text(
            row.try_get::<serde_json::Value, _>(i)
                .map_err(db_err)?
                .to_string(),
        ),
        PgCol::Timestamptz => Cell::Text(
            row.try_get::<chrono::DateTime<chrono::Utc>, _>(i)
                .map_err(db_err)?
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        ),
        PgCol::Text => Cell::Text(pg_value::<String>(raw)?),
        PgCol::Other => Cell::Text(row.try_get::<String, _>(i).map_err(db_err)?),
    })
}

fn names<R: Row>(row: &R) -> std::sync::Arc<Vec<String>> {
    std::sync::Arc::new(row.columns().iter().map(|c| c.name().to_string()).collect())
}

/// Rows as [`Cells`]: the column names once, each value through `decode(row, column)`.
fn convert<R: Row>(rows: &[R], decode: impl Fn(&R, usize) -> Result<Cell>) -> Result<Vec<Cells>> {
    let Some(first) = rows.first() else {
        return Ok(vec![]);
    };
    let cols = names(first);
    rows.iter()
        .map(|r| {
            Ok(Cells {
                columns: cols.clone(),
                values: (0..cols.len())
                    .map(|i| decode(r, i))
                    .collect::<Result<_>>()?,
            })
        })
        .collect()
}

fn convert_sqlite(rows: Vec<sqlx::sqlite::SqliteRow>) -> Result<Vec<Cells>> {
    convert(&rows, decode_sqlite)
}

fn convert_pg(rows: Vec<sqlx::postgres::PgRow>) -> Result<Vec<Cells>> {
    convert_pg_as(rows, false)
}

/// PostgreSQL rows as [`Cells`], each column's decoding found once from the first row's types.
fn convert_pg_as(rows: Vec<sqlx::postgres::PgRow>, json_text: bool) -> Result<Vec<Cells>> {
    let cols: Vec<PgCol> = rows.first().map_or_else(Vec::new, |first| {
        first
            .columns()
            .iter()
            .map(|c| pg_col(c.type_info()))
            .collect()
    });
    convert(&rows, |r, i| decode_pg(r, i, cols[i], json_text))
}

impl Db {
    /// Runs a query and returns untyped rows (reads go to the reader pool on SQLite).
    pub async fn fetch_cells<S: QueryStatementWriter>(&self, stmt: &S) -> Result<Vec<Cells>> {
        let (sql, values) = self.render(stmt);
        self.fetch_cells_sql(&sql, values).await
    }

    /// Runs SQL text with sea-query values rendered for this backend (for statements sea-query
    /// cannot express); the text must come from our own code, never from user input.
    pub async fn fetch_cells_sql(
        &self,
        sql: &str,
        values: sea_query::Values,
    ) -> Result<Vec<Cells>> {
        self.fetch_sql_as(sql, values, false).await
    }

    /// The sqlx path of the reads above; `json_text` as in [`decode_pg`].
    async fn fetch_sql_as(
        &self,
        sql: &str,
        values: sea_query::Values,
        json_text: bool,
    ) -> Result<Vec<Cells>> {
        match &*self.pools {
            Pools::Sqlite { read, .. } => convert_sqlite(
                crate::bind::sqlite(sql, values)
                    .fetch_all(read)
                    .await
                    .map_err(db_err)?,
            ),
            Pools::Postgres { pool } => convert_pg_as(
                crate::bind::pg(sql, values)
                    .fetch_all(pool)
                    .await
                    .map_err(db_err)?,
                json_text,
            ),
        }
    }
}

/// A sea-query value as a plain SQLite value, for the types the direct read path binds the
/// way sqlx does (`None` for the others, which keep to sqlx).
fn plain_sqlite_value(v: &sea_query::Value) -> Option<rusqlite::types::Value> {
    use rusqlite::types::Value as R;
    use sea_query::Value as V;
    let int = |i: Option<i64>| i.map_or(R::Null, R::Integer);
    Some(match v {
        V::Bool(b) => int(b.map(i64::from)),
        V::TinyInt(i) => int(i.map(i64::from)),
        V::SmallInt(i) => int(i.map(i64::from)),
        V::Int(i) => int(i.map(i64::from)),
        V::BigInt(i) => int(*i),
        V::TinyUnsigned(i) => int(i.map(i64::from)),
        V::SmallUnsigned(i) => int(i.map(i64::from)),
        V::Unsigned(i) => int(i.map(i64::from)),
        V::BigUnsigned(i) => int(i.map(|x| i64::try_from(x).unwrap_or(i64::MAX))),
        V::Float(f) => f.map_or(R::Null, |f| R::Real(f64::from(f))),
        V::Double(f) => f.map_or(R::Null, R::Real),
        V::String(s) => s.as_ref().map_or(R::Null, |s| R::Text(s.to_string())),
        V::Bytes(b) => b.as_ref().map_or(R::Null, |b| R::Blob(b.to_vec())),
        _ => return None,
    })
}

/// Runs a read on one connection of the SQLite reader pool through its raw handle, in a
/// blocking task: every row goes straight into [`Cells`], with no message between threads per
/// row and no intermediate copy of each value (what sqlx's worker thread does). Values decode
/// exactly as [`decode_sqlite`] decodes them: by the value's storage class.
///
/// The second place in the workspace with `unsafe` (the first is `sqlite_geo::register`): the
/// connection, sqlx's lock on its handle and the rusqlite wrapper all live inside the blocking
/// task, so the handle is used by nobody else while the statement runs, even when the caller
/// stops waiting; `from_handle` does not take ownership (nothing is closed when it drops).
#[allow(unsafe_code)]
async fn fetch_sqlite_direct(
    read: &sqlx::SqlitePool,
    sql: &str,
    params: Vec<rusqlite::types::Value>,
) -> Result<Vec<Cells>> {
    let mut conn = read.acquire().await.map_err(db_err)?;
    let sql = sql.to_string();
    let rt = tokio::runtime::Handle::current();
    let internal = |e: rusqlite::Error| {
        tracing::error!(error = %e, "database error");
        kern::Error::internal(format!("database: {e}"))
    };
    tokio::task::spawn_blocking(move || -> Result<Vec<Cells>> {
        let mut handle = rt.block_on(conn.lock_handle()).map_err(db_err)?;
        let raw = handle.as_raw_handle().as_ptr();
        // SAFETY: `raw` is a valid, open connection while `handle` lives (until the end of
        // this closure), and sqlx's worker does not touch it meanwhile (see above).
        let c = unsafe { rusqlite::Connection::from_handle(raw) }.map_err(internal)?;
        let out = (|| -> rusqlite::Result<Vec<Cells>> {
            let mut stmt = c.prepare(&sql)?;
            // `$3`/`?3` name the value's position (the SQL may use them out of order, as in
            // `$3 … $1`); a bare `?` takes the next one.
            for idx in 1..=stmt.parameter_count() {
                let at = stmt
                    .parameter_name(idx)
                    .and_then(|n| n[1..].parse::<usize>().ok())
                    .unwrap_or(idx);
                let v = params
                    .get(at.wrapping_sub(1))
                    .ok_or(rusqlite::Error::InvalidParameterCount(at, params.len()))?;
                stmt.raw_bind_parameter(idx, v)?;
            }
            let names: Vec<String> = stmt.column_names().iter().map(|n| n.to_string()).collect();
            let names = std::sync::Arc::new(names);
            let width = names.len();
            let mut rows = stmt.raw_query();
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let mut values = Vec::with_capacity(width);
                for i in 0..width {
                    use rusqlite::types::ValueRef;
                    values.push(match r.get_ref(i)? {
                        ValueRef::Null => Cell::Null,
                        ValueRef::Integer(n) => Cell::Int(n),
                        ValueRef::Real(f) => Cell::Float(f),
                        ValueRef::Text(t) => Cell::Text(
                            std::str::from_utf8(t)
                                .map_err(rusqlite::Error::Utf8Error)?
                                .to_string(),
                        ),
                        ValueRef::Blob(b) => Cell::Bytes(b.to_vec()),
                    });
                }
                out.push(Cells {
                    columns: names.clone(),
                    values,
                });
            }
            Ok(out)
        })();
        drop(c);
        drop(handle);
        out.map_err(internal)
    })
    .await
    .map_err(|e| kern::Error::internal(format!("database read stopped: {e}")))?
}

impl Db {
    /// [`Db::fetch_cells_sql`] for reads that may return many rows: on SQLite they are read
    /// through the connection's handle in one blocking task ([`fetch_sqlite_direct`]), and
    /// parameter types the direct path does not bind go through sqlx. On PostgreSQL JSON
    /// values come as the database's own JSON text (`{"a": 1}`, which parses to the same value
    /// as the re-serialised text of [`Db::fetch_cells_sql`]): for readers that parse it.
    pub async fn fetch_cells_many(
        &self,
        sql: &str,
        values: sea_query::Values,
    ) -> Result<Vec<Cells>> {
        if let Pools::Sqlite { read, .. } = &*self.pools
            && let Some(params) = values
                .0
                .iter()
                .map(plain_sqlite_value)
                .collect::<Option<Vec<_>>>()
        {
            return fetch_sqlite_direct(read, sql, params).await;
        }
        self.fetch_sql_as(sql, values, true).await
    }
}

impl Tx {
    pub async fn fetch_cells<S: QueryStatementWriter>(&mut self, stmt: &S) -> Result<Vec<Cells>> {
        let (sql, values) = crate::render(self.backend(), stmt);
        self.fetch_cells_sql(&sql, values).await
    }

    pub async fn fetch_cells_sql(
        &mut self,
        sql: &str,
        values: sea_query::Values,
    ) -> Result<Vec<Cells>> {
        match self {
            Tx::Sqlite(t) => convert_sqlite(
                crate::bind::sqlite(sql, values)
                    .fetch_all(&mut **t)
                    .await
                    .map_err(db_err)?,
            ),
            Tx::Postgres(t) => convert_pg(
                crate::bind::pg(sql, values)
                    .fetch_all(&mut **t)
                    .await
                    .map_err(db_err)?,
            ),
        }
    }
}
