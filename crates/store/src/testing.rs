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

fn unique_name() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().r#gen();
    format!("t_{n:016x}")
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
