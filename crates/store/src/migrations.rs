//! Versioned migrations, written once with sea-query's schema builder and rendered for each
//! backend. `migrate` is idempotent and safe when several replicas start at once (PostgreSQL
//! advisory lock; SQLite's single writer).
//!
//! Portable column types only: BIGINT for every integer (PostgreSQL's int4 does not decode into
//! i64), DOUBLE, TEXT, BOOLEAN, TIMESTAMPTZ, JSON, BLOB.

use crate::{Backend, Db, db_err};
use kern::Result;
use sea_query::{
    ColumnDef, ForeignKey, ForeignKeyAction, ForeignKeyCreateStatement, Index,
    IndexCreateStatement, PostgresQueryBuilder, SchemaStatementBuilder, SqliteQueryBuilder, Table,
    TableCreateStatement,
};

/// One schema change.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub steps: fn(Backend) -> Vec<String>,
}

/// Every migration, in order. Modules append theirs here.
pub fn all() -> Vec<Migration> {
    vec![
        Migration {
            version: 1,
            name: "foundation",
            steps: m0001_foundation,
        },
        Migration {
            version: 2,
            name: "sensorthings",
            steps: crate::migrations_sta::m0002_sensorthings,
        },
        Migration {
            version: 3,
            name: "sensorthings_extras",
            steps: crate::migrations_sta_extras::m0003_sensorthings_extras,
        },
        Migration {
            version: 4,
            name: "mail",
            steps: crate::mail::m0004_mail,
        },
        Migration {
            version: 5,
            name: "sensorthings_latest_values",
            steps: crate::migrations_sta_extras::m0005_sensorthings_latest_values,
        },
        Migration {
            version: 300,
            name: "cityops_roadworks",
            steps: crate::migrations_cityops::m0300_cityops_roadworks,
        },
        Migration {
            version: 301,
            name: "cityops_parking",
            steps: crate::migrations_cityops::m0301_cityops_parking,
        },
        Migration {
            version: 302,
            name: "cityops_traffic",
            steps: crate::migrations_cityops::m0302_cityops_traffic,
        },
        Migration {
            version: 310,
            name: "lighting",
            steps: crate::migrations_lighting::m0310_lighting,
        },
        Migration {
            version: 320,
            name: "energy",
            steps: crate::migrations_energy::m0320_energy,
        },
        Migration {
            version: 400,
            name: "services_catalog",
            steps: crate::migrations_services::m0400_catalog,
        },
        Migration {
            version: 410,
            name: "services_appointments",
            steps: crate::migrations_services::m0410_appointments,
        },
        Migration {
            version: 420,
            name: "services_cases",
            steps: crate::migrations_services::m0420_cases,
        },
    ]
}

/// Tables in an order in which every table comes after the tables it references. Backups insert
/// in this order and delete in reverse. A test checks it lists every table there is.
pub const TABLES: &[&str] = &[
    "settings",
    "org_units",
    "districts",
    "users",
    "user_roles",
    "user_org_units",
    "sessions",
    "api_tokens",
    "login_attempts",
    "oidc_logins",
    "audit_log",
    "barrier_feedback",
    // SensorThings (migration 2)
    "sta_things",
    "sta_locations",
    "sta_thing_locations",
    "sta_historical_locations",
    "sta_hist_locations",
    "sta_sensors",
    "sta_observed_properties",
    "sta_datastreams",
    "sta_multi_datastreams",
    // Derived counters (migration 3), before the Observations: a restore inserts them, the
    // Observations' triggers then add to them, and the restore rebuilds them at the end.
    "sta_latest",
    "sta_latest_multi",
    "sta_multi_datastream_props",
    "sta_features",
    "sta_observations",
    // Outgoing mail (migration 4)
    "mail_outbox",
    // City operations (migrations 300–399)
    "cityops_streets",
    "cityops_roadworks",
    "cityops_conflicts",
    "cityops_subscriptions",
    "cityops_notices",
    "cityops_parking",
    "cityops_counting_stations",
    "cityops_station_streams",
    // Street lighting (migration 310)
    "lighting_schedules",
    "lighting_overrides",
    "lighting_circuits",
    "lighting_poles",
    "lighting_luminaires",
    "lighting_orders",
    // Building energy (migration 320)
    "energy_buildings",
    "energy_meters",
    // Citizen services (migrations 400–499)
    "svc_services",
    "svc_offices",
    "svc_office_services",
    "svc_closed_days",
    "svc_appointments",
    "svc_slot_claims",
    "svc_tickets",
    // Online applications, case files and payments (migration 420)
    "svc_forms",
    "svc_drafts",
    "svc_cases",
    "svc_documents",
    "svc_case_events",
    "svc_invoices",
    "svc_payments",
    "svc_provider_tx",
];

/// Lock key for migrations on PostgreSQL ("stadtkern" on a phone keypad, roughly).
const MIGRATION_LOCK: i64 = 7_823_857_376;

pub(crate) fn sql<S: SchemaStatementBuilder>(backend: Backend, stmt: &S) -> String {
    match backend {
        Backend::Sqlite => stmt.to_string(SqliteQueryBuilder),
        Backend::Postgres => stmt.to_string(PostgresQueryBuilder),
    }
}

/// `BIGINT PRIMARY KEY` with automatic numbering on both backends.
pub fn pk(name: &'static str) -> ColumnDef {
    ColumnDef::new(crate::q::id(name))
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .take()
}
pub fn col(name: &'static str) -> ColumnDef {
    ColumnDef::new(crate::q::id(name))
}
pub fn text(name: &'static str) -> ColumnDef {
    col(name).text().not_null().take()
}
pub fn text_null(name: &'static str) -> ColumnDef {
    col(name).text().null().take()
}
pub fn big(name: &'static str) -> ColumnDef {
    col(name).big_integer().not_null().take()
}
pub fn big_null(name: &'static str) -> ColumnDef {
    col(name).big_integer().null().take()
}
pub fn ts(name: &'static str) -> ColumnDef {
    col(name).timestamp_with_time_zone().not_null().take()
}
pub fn ts_null(name: &'static str) -> ColumnDef {
    col(name).timestamp_with_time_zone().null().take()
}
pub fn boolean(name: &'static str, default: bool) -> ColumnDef {
    col(name).boolean().not_null().default(default).take()
}
pub fn double(name: &'static str) -> ColumnDef {
    col(name).double().not_null().take()
}
pub fn double_null(name: &'static str) -> ColumnDef {
    col(name).double().null().take()
}
pub fn json(name: &'static str) -> ColumnDef {
    col(name).json_binary().not_null().take()
}
pub fn blob(name: &'static str) -> ColumnDef {
    col(name).blob().not_null().take()
}

pub fn table(name: &'static str) -> TableCreateStatement {
    Table::create()
        .table(crate::q::id(name))
        .if_not_exists()
        .take()
}

/// A foreign key `from.column -> to.id`.
pub fn fk(
    from: &'static str,
    column: &'static str,
    to: &'static str,
    cascade: bool,
) -> ForeignKeyCreateStatement {
    let mut f = ForeignKey::create();
    f.from(crate::q::id(from), crate::q::id(column))
        .to(crate::q::id(to), crate::q::id("id"));
    if cascade {
        f.on_delete(ForeignKeyAction::Cascade);
    }
    f.take()
}

/// A link table between two entities: two BIGINT columns forming the primary key, each a
/// foreign key to the `id` of its table, deleted with either side.
pub fn link_table(
    name: &'static str,
    (a, a_table): (&'static str, &'static str),
    (b, b_table): (&'static str, &'static str),
) -> TableCreateStatement {
    table(name)
        .col(big(a))
        .col(big(b))
        .primary_key(Index::create().col(crate::q::id(a)).col(crate::q::id(b)))
        .foreign_key(&mut fk(name, a, a_table, true))
        .foreign_key(&mut fk(name, b, b_table, true))
        .take()
}

pub fn index(
    name: &'static str,
    on: &'static str,
    cols: &[&'static str],
    unique: bool,
) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(crate::q::id(on)).if_not_exists();
    for c in cols {
        i.col(crate::q::id(c));
    }
    if unique {
        i.unique();
    }
    i.take()
}

fn m0001_foundation(b: Backend) -> Vec<String> {
    let mut out = Vec::new();
    if b == Backend::Postgres {
        // PostGIS serves the geo functions of the modules; installed by the operator or here.
        out.push("CREATE EXTENSION IF NOT EXISTS postgis".to_string());
    }
    out.push(sql(
        b,
        &table("settings")
            .col(col("key").text().not_null().primary_key())
            .col(text("value"))
            .take(),
    ));
    out.push(sql(
        b,
        &table("org_units")
            .col(pk("id"))
            .col(col("key").text().not_null().unique_key())
            .col(text("name"))
            .col(big_null("parent_id"))
            .col(text("address"))
            .col(text("email"))
            .col(text("phone"))
            .col(text("opening_hours"))
            .col(text("accessibility"))
            .foreign_key(&mut fk("org_units", "parent_id", "org_units", false))
            .take(),
    ));
    out.push(sql(
        b,
        &table("districts")
            .col(pk("id"))
            .col(col("number").big_integer().not_null().unique_key())
            .col(text("name"))
            .col(big("population"))
            .col(json("geometry"))
            .take(),
    ));
    out.push(sql(
        b,
        &table("users")
            .col(pk("id"))
            .col(col("username").text().not_null().unique_key())
            .col(text("display_name"))
            .col(text("email"))
            .col(text_null("password_hash"))
            .col(col("oidc_subject").text().null().unique_key())
            .col(boolean("active", true))
            .col(ts("created_at"))
            .col(ts("updated_at"))
            .take(),
    ));
    out.push(sql(
        b,
        &table("user_roles")
            .col(big("user_id"))
            .col(text("role"))
            .primary_key(
                Index::create()
                    .col(crate::q::id("user_id"))
                    .col(crate::q::id("role")),
            )
            .foreign_key(&mut fk("user_roles", "user_id", "users", true))
            .take(),
    ));
    out.push(sql(
        b,
        &link_table(
            "user_org_units",
            ("user_id", "users"),
            ("org_unit_id", "org_units"),
        ),
    ));
    out.push(sql(
        b,
        &table("sessions")
            .col(col("id_hash").text().not_null().primary_key())
            .col(big("user_id"))
            .col(ts("created_at"))
            .col(ts("last_seen_at"))
            .col(ts("expires_at"))
            .col(text("address"))
            .col(text("user_agent"))
            .foreign_key(&mut fk("sessions", "user_id", "users", true))
            .take(),
    ));
    out.push(sql(
        b,
        &index("sessions_user", "sessions", &["user_id"], false),
    ));
    out.push(sql(
        b,
        &table("api_tokens")
            .col(pk("id"))
            .col(text("name"))
            .col(col("token_hash").text().not_null().unique_key())
            .col(text("scopes"))
            .col(big_null("created_by"))
            .col(ts("created_at"))
            .col(ts_null("last_used_at"))
            .col(ts_null("revoked_at"))
            .foreign_key(&mut fk("api_tokens", "created_by", "users", false))
            .take(),
    ));
    out.push(sql(
        b,
        &table("login_attempts")
            .col(pk("id"))
            .col(ts("at"))
            .col(text("username"))
            .col(text("address"))
            .col(boolean("success", false))
            .take(),
    ));
    out.push(sql(
        b,
        &index(
            "login_attempts_user",
            "login_attempts",
            &["username", "at"],
            false,
        ),
    ));
    out.push(sql(
        b,
        &index(
            "login_attempts_addr",
            "login_attempts",
            &["address", "at"],
            false,
        ),
    ));
    out.push(sql(
        b,
        &table("oidc_logins")
            .col(col("state").text().not_null().primary_key())
            .col(text("nonce"))
            .col(text("pkce_verifier"))
            .col(text("return_to"))
            .col(ts("created_at"))
            .take(),
    ));
    out.push(sql(
        b,
        &table("audit_log")
            .col(pk("id"))
            .col(col("seq").big_integer().not_null().unique_key())
            .col(ts("at"))
            .col(text("actor"))
            .col(text("action"))
            .col(text("object"))
            .col(text("address"))
            .col(text("details"))
            .col(text("prev_hash"))
            .col(text("hash"))
            .take(),
    ));
    out.push(sql(
        b,
        &table("barrier_feedback")
            .col(pk("id"))
            .col(ts("created_at"))
            .col(text("page"))
            .col(text("message"))
            .col(text("contact"))
            .col(text("status"))
            .col(big_null("handled_by"))
            .col(ts_null("handled_at"))
            .foreign_key(&mut fk("barrier_feedback", "handled_by", "users", false))
            .take(),
    ));
    out
}

#[derive(sqlx::FromRow)]
struct Version {
    version: i64,
}

/// Applies every pending migration; returns the versions applied now. Idempotent.
// The applied_at bookkeeping of schema_migrations is the one wall-clock read outside the Clock:
// migrations run before any Env (and its Clock) exists.
#[allow(clippy::disallowed_methods)]
pub async fn migrate(db: &Db) -> Result<Vec<i64>> {
    let backend = db.backend();
    let mut tx = db.begin().await?;
    tx.lock(MIGRATION_LOCK).await?;
    tx.raw_execute(&sql(
        backend,
        &table("schema_migrations")
            .col(col("version").big_integer().not_null().primary_key())
            .col(text("name"))
            .col(text("applied_at"))
            .take(),
    ))
    .await?;
    let applied: Vec<Version> = tx
        .fetch_all(
            &sea_query::Query::select()
                .column(crate::q::id("version"))
                .from(crate::q::id("schema_migrations"))
                .take(),
        )
        .await?;
    let mut done = Vec::new();
    for m in all() {
        if applied.iter().any(|v| v.version == m.version) {
            continue;
        }
        for step in (m.steps)(backend) {
            tx.raw_execute(&step).await.map_err(|e| {
                kern::Error::Internal(format!("migration {} ({}) failed: {e}", m.version, m.name))
            })?;
        }
        tx.execute(
            &sea_query::Query::insert()
                .into_table(crate::q::id("schema_migrations"))
                .columns([
                    crate::q::id("version"),
                    crate::q::id("name"),
                    crate::q::id("applied_at"),
                ])
                .values_panic([
                    m.version.into(),
                    m.name.into(),
                    chrono::Utc::now().to_rfc3339().into(),
                ])
                .take(),
        )
        .await?;
        done.push(m.version);
    }
    tx.commit().await?;
    Ok(done)
}

/// The highest applied migration version (0 for an empty database).
pub async fn current_version(db: &Db) -> Result<i64> {
    #[derive(sqlx::FromRow)]
    struct V {
        v: Option<i64>,
    }
    let q = sea_query::Query::select()
        .expr_as(
            sea_query::Func::max(sea_query::Expr::col(crate::q::id("version"))),
            crate::q::id("v"),
        )
        .from(crate::q::id("schema_migrations"))
        .take();
    match db.fetch_one::<V, _>(&q).await {
        Ok(v) => Ok(v.v.unwrap_or(0)),
        Err(_) => Ok(0),
    }
}

/// Names of the tables that exist in the database (our schema only).
pub async fn existing_tables(db: &Db) -> Result<Vec<String>> {
    #[derive(sqlx::FromRow)]
    struct Name {
        name: String,
    }
    let sql = match db.backend() {
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name".to_string(),
        Backend::Postgres => "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1".to_string(),
    };
    let rows: Vec<Name> = match &*db.pools {
        crate::Pools::Sqlite { read, .. } => sqlx::query_as(&sql).fetch_all(read).await,
        crate::Pools::Postgres { pool } => sqlx::query_as(&sql).fetch_all(pool).await,
    }
    .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .map(|n| n.name)
        .filter(|n| n != "spatial_ref_sys")
        .collect())
}
