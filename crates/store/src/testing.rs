//! A fresh, migrated database per test, so tests run in parallel.
//!
//! Without `STADTKERN_TEST_DATABASE` each test gets its own SQLite file in a temporary
//! directory. With `STADTKERN_TEST_DATABASE=postgres://...` each test gets its own schema in that
//! database (PostGIS is installed once into `public`, which stays on the search path).

use crate::{Db, OpenOptions, migrations};
use std::path::PathBuf;

pub const ENV: &str = "STADTKERN_TEST_DATABASE";

/// A test database. Keep it alive for the test's duration.
pub struct TestDb {
    pub db: Db,
    /// The URL and options that open this same database again (restart tests).
    pub url: String,
    pub opts: OpenOptions,
    _dir: Option<tempfile::TempDir>,
    pub dir: PathBuf,
}

impl std::ops::Deref for TestDb {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.db
    }
}

/// Test schemas older than this are left over from earlier runs (a test does not drop its
/// schema when it ends) and are removed when the next test database is made, so that the
/// catalog, and with it every `information_schema` query, does not grow without end.
const STALE_AFTER_SECS: u64 = 6 * 3600;

// Test schemas are named by the wall clock so that stale ones can be recognised.
#[allow(clippy::disallowed_methods)]
fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

// Schema names only need to be unique, not reproducible: no Random parameter here.
#[allow(clippy::disallowed_methods)]
fn unique_name() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().r#gen();
    format!("t_{}_{n:016x}", unix_secs())
}

/// Drops test schemas of earlier runs (best effort: a failure only leaves them for later).
async fn drop_stale_schemas(admin: &Db) {
    let crate::Pools::Postgres { pool } = &*admin.pools else {
        return;
    };
    let Ok(names) = sqlx::query_scalar::<_, String>(
        "SELECT nspname::text FROM pg_namespace WHERE nspname ~ '^t_[0-9]+_[0-9a-f]{16}$'",
    )
    .fetch_all(pool)
    .await
    else {
        return;
    };
    let cutoff = unix_secs().saturating_sub(STALE_AFTER_SECS);
    let _ = admin.raw_execute("SET lock_timeout = '2s'").await;
    for name in names {
        let created = name
            .split('_')
            .nth(1)
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        if created < cutoff {
            let _ = admin
                .raw_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .await;
        }
    }
}

impl TestDb {
    /// A new empty, migrated database.
    pub async fn new() -> TestDb {
        let t = Self::unmigrated().await;
        migrations::migrate(&t.db).await.expect("migrations apply");
        t
    }

    /// A new database without our schema.
    pub async fn unmigrated() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().to_path_buf();
        match std::env::var(ENV).ok().filter(|u| !u.is_empty()) {
            Some(url) if url.starts_with("postgres") => {
                let schema = unique_name();
                let admin = Db::connect(
                    &url,
                    &OpenOptions {
                        max_connections: 1,
                        schema: None,
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("{ENV} does not connect: {e}"));
                let mut tx = admin.begin().await.expect("begin");
                tx.lock(424_242).await.expect("lock");
                tx.raw_execute("CREATE EXTENSION IF NOT EXISTS postgis")
                    .await
                    .expect("PostGIS is installed");
                tx.raw_execute(&format!("CREATE SCHEMA {schema}"))
                    .await
                    .expect("create schema");
                tx.commit().await.expect("commit");
                drop_stale_schemas(&admin).await;
                admin.close().await;
                let opts = OpenOptions {
                    max_connections: 8,
                    schema: Some(schema),
                };
                let db = Db::connect(&url, &opts).await.expect("connect test schema");
                TestDb {
                    db,
                    url,
                    opts,
                    _dir: Some(dir),
                    dir: path,
                }
            }
            _ => {
                let url = format!("sqlite://{}", path.join("test.db").display());
                let opts = OpenOptions {
                    max_connections: 4,
                    schema: None,
                };
                let db = Db::connect(&url, &opts).await.expect("open SQLite");
                TestDb {
                    db,
                    url,
                    opts,
                    _dir: Some(dir),
                    dir: path,
                }
            }
        }
    }

    /// Closes and reopens the same database, as a restarted server would.
    pub async fn reopen(&mut self) {
        self.db.close().await;
        self.db = Db::connect(&self.url, &self.opts).await.expect("reopen");
    }

    /// Another, independent connection set to the same database (a second replica).
    pub async fn another_handle(&self) -> Db {
        Db::connect(&self.url, &self.opts)
            .await
            .expect("second handle")
    }
}
