//! Backup and restore of a whole instance as a portable logical dump.
//!
//! The same format serves both backends (and moves an instance from SQLite to PostgreSQL): a
//! gzip-compressed file of JSON lines: a header, then per table a line naming its columns and
//! their kinds followed by one JSON array per row, then a trailer with counts. A backup reads one
//! consistent snapshot (SQLite read transaction in WAL mode; PostgreSQL REPEATABLE READ), so it
//! runs while the server serves. Restore replaces all data in one transaction: it either
//! completes or leaves the target unchanged.

use crate::{Backend, Db, Pools, Tx, db_err, migrations};
use base64_like::{decode_b64, encode_b64};
use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use futures::TryStreamExt;
use kern::{Error, Result};
use sea_query::{Value, Values};
use serde_json::{Value as J, json};
use sqlx::Row;
use std::io::{BufRead, BufReader, Read, Write};

pub const FORMAT: &str = "stadtkern-backup";
pub const FORMAT_VERSION: i64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Int,
    Float,
    Bool,
    Text,
    Time,
    Json,
    Bytes,
    /// A PostgreSQL type of an extension (PostGIS geometry): carried as its text form.
    Custom,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
    /// For `Custom`, the SQL type to cast the text form back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_type: Option<String>,
}

/// What a backup or restore did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub tables: u64,
    pub rows: u64,
}

fn kind_of(declared: &str) -> Kind {
    let t = declared.to_ascii_lowercase();
    if t.contains("timestamp") {
        Kind::Time
    } else if t.contains("int") {
        Kind::Int
    } else if t.contains("bool") {
        Kind::Bool
    } else if t.contains("double")
        || t.contains("real")
        || t.contains("float")
        || t.contains("numeric")
    {
        Kind::Float
    } else if t.contains("json") {
        Kind::Json
    } else if t.contains("blob") || t.contains("bytea") {
        Kind::Bytes
    } else {
        Kind::Text
    }
}

/// The columns of a table, in table order.
pub async fn columns(db: &Db, table: &str) -> Result<Vec<Column>> {
    #[derive(sqlx::FromRow)]
    struct PgCol {
        name: String,
        data_type: String,
        udt_name: String,
    }
    match &*db.pools {
        Pools::Sqlite { read, .. } => {
            let rows = sqlx::query(&format!("PRAGMA table_info(\"{table}\")"))
                .fetch_all(read)
                .await
                .map_err(db_err)?;
            Ok(rows
                .iter()
                .map(|r| {
                    let name: String = r.get("name");
                    let ty: String = r.get("type");
                    Column {
                        name,
                        kind: kind_of(&ty),
                        sql_type: None,
                    }
                })
                .collect())
        }
        Pools::Postgres { pool } => {
            let rows: Vec<PgCol> = sqlx::query_as(
                "SELECT column_name::text AS name, data_type::text AS data_type, udt_name::text AS udt_name \
                 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 \
                 ORDER BY ordinal_position",
            )
            .bind(table)
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            Ok(rows
                .into_iter()
                // SensorThings keeps a PostGIS copy of its GeoJSON: derived, so it is not
                // carried but rebuilt after a restore (also when moving from SQLite).
                .filter(|c| !(table.starts_with("sta_") && c.name == "geom"))
                .map(|c| {
                    if c.data_type == "USER-DEFINED" {
                        Column {
                            name: c.name,
                            kind: Kind::Custom,
                            sql_type: Some(c.udt_name),
                        }
                    } else {
                        Column {
                            name: c.name,
                            kind: kind_of(&c.data_type),
                            sql_type: None,
                        }
                    }
                })
                .collect())
        }
    }
}

fn select_sql(backend: Backend, table: &str, cols: &[Column]) -> String {
    let list: Vec<String> = cols
        .iter()
        .map(|c| match (backend, c.kind) {
            (Backend::Postgres, Kind::Custom) => format!("\"{0}\"::text AS \"{0}\"", c.name),
            (Backend::Postgres, Kind::Json) => format!("\"{0}\"::text AS \"{0}\"", c.name),
            _ => format!("\"{}\"", c.name),
        })
        .collect();
    let order = if cols.iter().any(|c| c.name == "id") {
        " ORDER BY \"id\""
    } else {
        ""
    };
    format!("SELECT {} FROM \"{table}\"{order}", list.join(", "))
}

fn cell<R: Row>(row: &R, i: usize, kind: Kind) -> Result<J>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let e = |e: sqlx::Error| Error::Internal(format!("backup: column {i}: {e}"));
    Ok(match kind {
        Kind::Int => row
            .try_get::<Option<i64>, _>(i)
            .map_err(e)?
            .map(J::from)
            .unwrap_or(J::Null),
        Kind::Float => match row.try_get::<Option<f64>, _>(i).map_err(e)? {
            None => J::Null,
            Some(f) if f.is_finite() => json!(f),
            Some(f) => json!({ "float": f.to_string() }),
        },
        Kind::Bool => row
            .try_get::<Option<bool>, _>(i)
            .map_err(e)?
            .map(J::from)
            .unwrap_or(J::Null),
        Kind::Text | Kind::Custom => row
            .try_get::<Option<String>, _>(i)
            .map_err(e)?
            .map(J::from)
            .unwrap_or(J::Null),
        Kind::Json => match row.try_get::<Option<String>, _>(i).map_err(e)? {
            None => J::Null,
            Some(s) => json!({ "json": s }),
        },
        Kind::Bytes => row
            .try_get::<Option<Vec<u8>>, _>(i)
            .map_err(e)?
            .map(|b| J::from(encode_b64(&b)))
            .unwrap_or(J::Null),
        Kind::Time => row
            .try_get::<Option<DateTime<Utc>>, _>(i)
            .map_err(e)?
            .map(|t| J::from(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))
            .unwrap_or(J::Null),
    })
}

fn io(e: std::io::Error) -> Error {
    Error::Internal(format!("backup file: {e}"))
}

/// Writes a backup of every table to `out`. Returns what it wrote.
pub async fn backup<W: Write>(db: &Db, out: W, now: DateTime<Utc>) -> Result<Summary> {
    let version = migrations::current_version(db).await?;
    let mut gz = GzEncoder::new(out, Compression::fast());
    let header = json!({
        "format": FORMAT, "version": FORMAT_VERSION, "schema_version": version,
        "created_at": now.to_rfc3339(), "source": db.backend().name(),
    });
    writeln!(gz, "{header}").map_err(io)?;
    let mut summary = Summary::default();
    let tables = migrations::existing_tables(db).await?;
    let mut tx = db.begin_snapshot().await?;
    for table in migrations::TABLES
        .iter()
        .copied()
        .chain(["schema_migrations"])
    {
        if !tables.iter().any(|t| t == table) {
            continue;
        }
        let cols = columns(db, table).await?;
        writeln!(gz, "{}", json!({ "table": table, "columns": cols })).map_err(io)?;
        let sql = select_sql(db.backend(), table, &cols);
        match &mut tx {
            Tx::Sqlite(t) => {
                let mut rows = sqlx::query(&sql).fetch(&mut **t);
                while let Some(row) = rows.try_next().await.map_err(db_err)? {
                    let vals = cols
                        .iter()
                        .enumerate()
                        .map(|(i, c)| cell(&row, i, c.kind))
                        .collect::<Result<Vec<_>>>()?;
                    writeln!(gz, "{}", J::Array(vals)).map_err(io)?;
                    summary.rows += 1;
                }
            }
            Tx::Postgres(t) => {
                let mut rows = sqlx::query(&sql).fetch(&mut **t);
                while let Some(row) = rows.try_next().await.map_err(db_err)? {
                    let vals = cols
                        .iter()
                        .enumerate()
                        .map(|(i, c)| cell(&row, i, c.kind))
                        .collect::<Result<Vec<_>>>()?;
                    writeln!(gz, "{}", J::Array(vals)).map_err(io)?;
                    summary.rows += 1;
                }
            }
        }
        summary.tables += 1;
    }
    drop(tx);
    writeln!(
        gz,
        "{}",
        json!({ "end": true, "tables": summary.tables, "rows": summary.rows })
    )
    .map_err(io)?;
    gz.finish().map_err(io)?.flush().map_err(io)?;
    Ok(summary)
}

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid("backup", msg)
}

fn to_value(j: &J, c: &Column) -> Result<Value> {
    let wrong = || {
        bad(format!(
            "column {}: value {j} does not fit kind {:?}",
            c.name, c.kind
        ))
    };
    Ok(match (c.kind, j) {
        (Kind::Int, J::Null) => Value::BigInt(None),
        (Kind::Int, J::Number(n)) => Value::BigInt(Some(n.as_i64().ok_or_else(wrong)?)),
        (Kind::Float, J::Null) => Value::Double(None),
        (Kind::Float, J::Number(n)) => Value::Double(Some(n.as_f64().ok_or_else(wrong)?)),
        (Kind::Float, J::Object(o)) => Value::Double(Some(
            o.get("float")
                .and_then(J::as_str)
                .and_then(|s| s.parse().ok())
                .ok_or_else(wrong)?,
        )),
        (Kind::Bool, J::Null) => Value::Bool(None),
        (Kind::Bool, J::Bool(b)) => Value::Bool(Some(*b)),
        (Kind::Text | Kind::Custom, J::Null) => Value::String(None),
        (Kind::Text | Kind::Custom, J::String(s)) => Value::String(Some(s.clone())),
        (Kind::Json, J::Null) => Value::Json(None),
        (Kind::Json, J::Object(o)) => {
            let s = o.get("json").and_then(J::as_str).ok_or_else(wrong)?;
            Value::Json(Some(Box::new(
                serde_json::from_str(s).map_err(|_| wrong())?,
            )))
        }
        (Kind::Bytes, J::Null) => Value::Bytes(None),
        (Kind::Bytes, J::String(s)) => Value::Bytes(Some(decode_b64(s).ok_or_else(wrong)?)),
        (Kind::Time, J::Null) => Value::ChronoDateTimeUtc(None),
        (Kind::Time, J::String(s)) => Value::ChronoDateTimeUtc(Some(
            DateTime::parse_from_rfc3339(s)
                .map_err(|_| wrong())?
                .with_timezone(&Utc),
        )),
        _ => return Err(wrong()),
    })
}

fn insert_sql(
    backend: Backend,
    table: &str,
    cols: &[Column],
    target: &[Column],
    rows: usize,
) -> String {
    let names: Vec<String> = cols.iter().map(|c| format!("\"{}\"", c.name)).collect();
    let mut n = 0;
    let tuples: Vec<String> = (0..rows)
        .map(|_| {
            let ps: Vec<String> = cols
                .iter()
                .map(|c| {
                    n += 1;
                    let p = match backend {
                        Backend::Sqlite => "?".to_string(),
                        Backend::Postgres => format!("${n}"),
                    };
                    let t = target.iter().find(|t| t.name == c.name);
                    match (
                        backend,
                        t.map(|t| t.kind),
                        t.and_then(|t| t.sql_type.as_deref()),
                    ) {
                        (Backend::Postgres, Some(Kind::Custom), Some(ty)) => {
                            format!("CAST({p} AS {ty})")
                        }
                        _ => p,
                    }
                })
                .collect();
            format!("({})", ps.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO \"{table}\" ({}) VALUES {}",
        names.join(", "),
        tuples.join(", ")
    )
}

/// Replaces every table's content with the backup read from `input`. The target is migrated
/// first; a backup from a newer Stadtkern (higher schema version) is refused.
pub async fn restore<R: Read>(db: &Db, input: R) -> Result<Summary> {
    migrations::migrate(db).await?;
    let ours = migrations::current_version(db).await?;
    let mut lines = BufReader::new(GzDecoder::new(input)).lines();
    let header: J = match lines.next() {
        Some(Ok(l)) => serde_json::from_str(&l)
            .map_err(|_| bad("not a Stadtkern backup (unreadable header)"))?,
        _ => {
            return Err(bad(
                "not a Stadtkern backup (not a gzip file of JSON lines, or empty)",
            ));
        }
    };
    if header.get("format").and_then(J::as_str) != Some(FORMAT) {
        return Err(bad("not a Stadtkern backup (wrong format marker)"));
    }
    let theirs = header
        .get("schema_version")
        .and_then(J::as_i64)
        .unwrap_or(i64::MAX);
    if theirs > ours {
        return Err(bad(format!(
            "the backup has schema version {theirs}, this Stadtkern only knows {ours}: upgrade first"
        )));
    }
    let backend = db.backend();
    let existing = migrations::existing_tables(db).await?;
    let mut tx = db.begin().await?;
    if backend == Backend::Sqlite {
        tx.raw_execute("PRAGMA defer_foreign_keys = ON").await?;
    }
    for table in migrations::TABLES.iter().rev() {
        if existing.iter().any(|t| t == table) {
            tx.raw_execute(&format!("DELETE FROM \"{table}\"")).await?;
        }
    }
    tx.raw_execute("DELETE FROM \"schema_migrations\"").await?;

    let mut summary = Summary::default();
    let mut current: Option<(String, Vec<Column>, Vec<Column>)> = None;
    let mut batch: Vec<Vec<J>> = Vec::new();
    let mut ended = false;
    async fn flush(
        tx: &mut Tx,
        backend: Backend,
        cur: &(String, Vec<Column>, Vec<Column>),
        batch: &mut Vec<Vec<J>>,
    ) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let (table, cols, target) = cur;
        let mut values = Vec::with_capacity(batch.len() * cols.len());
        for row in batch.iter() {
            if row.len() != cols.len() {
                return Err(bad(format!(
                    "table {table}: a row has {} values for {} columns",
                    row.len(),
                    cols.len()
                )));
            }
            for (j, c) in row.iter().zip(cols) {
                values.push(to_value(j, c)?);
            }
        }
        let sql = insert_sql(backend, table, cols, target, batch.len());
        tx.execute_sql(&sql, Values(values)).await?;
        batch.clear();
        Ok(())
    }
    for line in lines {
        let line = line.map_err(|e| bad(format!("the backup is damaged: {e}")))?;
        let j: J =
            serde_json::from_str(&line).map_err(|e| bad(format!("the backup is damaged: {e}")))?;
        match j {
            J::Array(row) => {
                let Some(cur) = &current else {
                    return Err(bad("row before any table"));
                };
                batch.push(row);
                summary.rows += 1;
                if batch.len() * cur.1.len().max(1) >= 3000 {
                    flush(&mut tx, backend, cur, &mut batch).await?;
                }
            }
            J::Object(o) if o.contains_key("table") => {
                if let Some(cur) = &current {
                    flush(&mut tx, backend, cur, &mut batch).await?;
                }
                let table = o
                    .get("table")
                    .and_then(J::as_str)
                    .ok_or_else(|| bad("table line without a name"))?
                    .to_string();
                if !existing.contains(&table) && table != "schema_migrations" {
                    return Err(bad(format!(
                        "the backup has a table '{table}' that this Stadtkern does not know"
                    )));
                }
                let cols: Vec<Column> =
                    serde_json::from_value(o.get("columns").cloned().unwrap_or(J::Null))
                        .map_err(|e| bad(format!("table {table}: bad column list: {e}")))?;
                let target = if table == "schema_migrations" {
                    cols.clone()
                } else {
                    columns(db, &table).await?
                };
                for c in &cols {
                    if !target.iter().any(|t| t.name == c.name) {
                        return Err(bad(format!(
                            "table {table}: column {} does not exist here",
                            c.name
                        )));
                    }
                }
                summary.tables += 1;
                current = Some((table, cols, target));
            }
            J::Object(o) if o.get("end") == Some(&J::Bool(true)) => {
                if let Some(cur) = &current {
                    flush(&mut tx, backend, cur, &mut batch).await?;
                }
                let rows = o.get("rows").and_then(J::as_u64).unwrap_or(u64::MAX);
                if rows != summary.rows {
                    return Err(bad(format!(
                        "the backup is incomplete: trailer says {rows} rows, found {}",
                        summary.rows
                    )));
                }
                ended = true;
                break;
            }
            _ => return Err(bad("the backup is damaged: unexpected line")),
        }
    }
    if !ended {
        return Err(bad(
            "the backup is incomplete (no end marker): nothing was restored",
        ));
    }
    // Derived SensorThings counters: recomputed, whatever the triggers added during the restore.
    for sql in crate::migrations_sta_extras::rebuild_stats() {
        tx.raw_execute(&sql).await?;
    }
    if backend == Backend::Postgres {
        for sql in crate::migrations_sta::REBUILD_GEOMETRY {
            tx.raw_execute(sql).await?;
        }
        for table in migrations::TABLES {
            let cols = columns(db, table).await?;
            if cols.iter().any(|c| c.name == "id" && c.kind == Kind::Int) {
                tx.raw_execute(&format!(
                    "SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), COALESCE((SELECT MAX(id) FROM \"{table}\"), 0) + 1, false) \
                     WHERE pg_get_serial_sequence('\"{table}\"', 'id') IS NOT NULL"
                ))
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(summary)
}

/// Reads every table into memory as JSON rows (for tests that compare two instances).
pub async fn snapshot(db: &Db) -> Result<Vec<(String, Vec<J>)>> {
    let mut buf = Vec::new();
    backup(db, &mut buf, DateTime::UNIX_EPOCH).await?;
    let mut out: Vec<(String, Vec<J>)> = Vec::new();
    for line in BufReader::new(GzDecoder::new(&buf[..])).lines().skip(1) {
        let j: J = serde_json::from_str(&line.map_err(io)?).map_err(Error::internal)?;
        match j {
            J::Object(o) if o.contains_key("table") => {
                out.push((o["table"].as_str().unwrap_or_default().to_string(), vec![]))
            }
            J::Array(cells) => {
                if let Some(last) = out.last_mut() {
                    // JSON columns carry their text; compare what it means, not how a backend
                    // spells it (PostgreSQL's jsonb reorders keys and adds spaces).
                    let cells = cells
                        .into_iter()
                        .map(|c| match c {
                            J::Object(mut o) if o.len() == 1 && o.contains_key("json") => {
                                if let Some(J::String(s)) = o.get("json")
                                    && let Ok(parsed) = serde_json::from_str::<J>(s)
                                {
                                    o.insert("json".into(), parsed);
                                }
                                J::Object(o)
                            }
                            other => other,
                        })
                        .collect();
                    last.1.push(J::Array(cells))
                }
            }
            _ => {}
        }
    }
    // The applied_at times of migrations differ between instances by nature.
    out.retain(|(t, _)| t != "schema_migrations");
    // Rows in a canonical order: tables without an `id` come out in physical order, which
    // differs between backends and after updates.
    for (_, rows) in &mut out {
        rows.sort_by_cached_key(|r| r.to_string());
    }
    Ok(out)
}

mod base64_like {
    //! Hex would double the size; standard base64 is in every toolbox. Implemented on the
    //! engine the workspace already depends on through `kern`.
    pub fn encode_b64(b: &[u8]) -> String {
        kern::secret::b64_encode(b)
    }
    pub fn decode_b64(s: &str) -> Option<Vec<u8>> {
        kern::secret::b64_decode(s)
    }
}
