//! Test backends: a SQLite file in a temporary folder, and a fresh PostgreSQL database per test
//! on the server named by `DATABASE_URL` (with `CI=true` a missing server fails the test;
//! otherwise the PostgreSQL half is skipped LOUDLY).

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use super::{Location, Store};

/// Whether this is a CI run (`CI=true`): then PostgreSQL is mandatory.
pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// A database created for one test, dropped by [`TestDb::drop_db`].
pub(crate) struct TestDb {
    /// Connection URL of the new database.
    pub url: String,
    admin_url: String,
    name: String,
}

/// `url` with its database name replaced by `db`.
pub(crate) fn with_database(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (authority, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let query = tail
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{scheme}://{authority}/{db}{query}")
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// A new empty database, or `None` (after a loud message) when PostgreSQL is not
    /// available outside CI.
    pub(crate) async fn create() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var("DATABASE_URL") else {
            return skip("DATABASE_URL is not set");
        };
        let mut conn = match PgConnection::connect(&admin_url).await {
            Ok(c) => c,
            Err(e) => return skip(&format!("cannot connect to DATABASE_URL: {e}")),
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "chop_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos
        );
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
        Some(TestDb {
            url: with_database(&admin_url, &name),
            admin_url,
            name,
        })
    }

    /// Drops the database (closing every other connection to it).
    pub(crate) async fn drop_db(self) {
        if let Ok(mut conn) = PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut conn)
            .await;
            let _ = conn.close().await;
        }
    }
}

fn skip(why: &str) -> Option<TestDb> {
    assert!(!in_ci(), "CI=true and PostgreSQL is not available: {why}");
    eprintln!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !! PostgreSQL SKIPPED: {why}.\n\
         !! Set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test (it FAILS in CI).\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
    None
}

/// Runs `test` against a fresh SQLite store and a fresh PostgreSQL store (when available).
pub(crate) async fn for_each_backend<F, Fut>(test: F)
where
    F: Fn(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(&Location::Sqlite(dir.path().join("chop.db")))
        .await
        .unwrap();
    test(sqlite.clone()).await;
    sqlite.close().await;
    if let Some(db) = TestDb::create().await {
        let pg = Store::open(&Location::Postgres(db.url.clone()))
            .await
            .unwrap();
        test(pg.clone()).await;
        pg.close().await;
        db.drop_db().await;
    }
}

#[test]
fn database_names_are_replaced_in_urls() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/test?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgresql://h", "x"), "postgresql://h/x");
}
