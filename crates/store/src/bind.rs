//! Binds sea-query values to sqlx queries, per backend.

use sea_query::{Value, Values};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::{Query, QueryAs};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{FromRow, Postgres, Sqlite};

macro_rules! bind_all {
    ($q:expr, $values:expr) => {{
        let mut q = $q;
        for v in $values.0 {
            q = match v {
                Value::Bool(v) => q.bind(v),
                Value::TinyInt(v) => q.bind(v.map(i64::from)),
                Value::SmallInt(v) => q.bind(v.map(i64::from)),
                Value::Int(v) => q.bind(v.map(i64::from)),
                Value::BigInt(v) => q.bind(v),
                Value::TinyUnsigned(v) => q.bind(v.map(i64::from)),
                Value::SmallUnsigned(v) => q.bind(v.map(i64::from)),
                Value::Unsigned(v) => q.bind(v.map(i64::from)),
                Value::BigUnsigned(v) => q.bind(v.map(|x| i64::try_from(x).unwrap_or(i64::MAX))),
                Value::Float(v) => q.bind(v.map(f64::from)),
                Value::Double(v) => q.bind(v),
                Value::String(v) => q.bind(v),
                Value::Char(v) => q.bind(v.map(|c| c.to_string())),
                Value::Bytes(v) => q.bind(v),
                Value::Json(v) => q.bind(v.map(|j| sqlx::types::Json(*j))),
                Value::ChronoDateTimeUtc(v) => q.bind(v.map(micros)),
                Value::ChronoDate(v) => q.bind(v.map(|d| d.to_string())),
                Value::ChronoTime(v) => q.bind(v.map(|d| d.to_string())),
                Value::ChronoDateTime(v) => q.bind(v.map(|d| micros(d.and_utc()))),
                Value::ChronoDateTimeLocal(v) => {
                    q.bind(v.map(|d| micros(d.with_timezone(&chrono::Utc))))
                }
                Value::ChronoDateTimeWithTimeZone(v) => {
                    q.bind(v.map(|d| micros(d.with_timezone(&chrono::Utc))))
                }
                other => panic!("unsupported SQL value type: {other:?}"),
            };
        }
        q
    }};
}

/// Times are stored to the microsecond on both backends: PostgreSQL keeps no more, so SQLite
/// must not either, or an instance would change when it moves between them (backup/restore)
/// and comparisons would differ by backend.
fn micros(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

pub(crate) fn sqlite(sql: &str, values: Values) -> Query<'_, Sqlite, SqliteArguments<'_>> {
    bind_all!(sqlx::query(sql), values)
}

pub(crate) fn sqlite_as<'q, T>(
    sql: &'q str,
    values: Values,
) -> QueryAs<'q, Sqlite, T, SqliteArguments<'q>>
where
    T: for<'r> FromRow<'r, SqliteRow>,
{
    bind_all!(sqlx::query_as::<Sqlite, T>(sql), values)
}

pub(crate) fn pg(sql: &str, values: Values) -> Query<'_, Postgres, PgArguments> {
    bind_all!(sqlx::query(sql), values)
}

pub(crate) fn pg_as<'q, T>(sql: &'q str, values: Values) -> QueryAs<'q, Postgres, T, PgArguments>
where
    T: for<'r> FromRow<'r, PgRow>,
{
    bind_all!(sqlx::query_as::<Postgres, T>(sql), values)
}
