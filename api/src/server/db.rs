//! Database access for the server's own tables (`api_keys`, `jobs`), on the archive's
//! connection pools. Queries are written once with PostgreSQL `$N` placeholders; on SQLite they
//! become `?N` (same numbering).

use std::borrow::Cow;

/// SQL text for the backend: `$N` → `?N` on SQLite.
pub fn sqlite_sql(sql: &'static str) -> Cow<'static, str> {
    if sql.contains('$') {
        Cow::Owned(sql.replace('$', "?"))
    } else {
        Cow::Borrowed(sql)
    }
}

/// Runs `$body` with `$pool` bound to the backend's pool and `$sql` to the query text for it
/// (wrapped for sqlx), so one statement serves SQLite and PostgreSQL.
macro_rules! on_db {
    ($store:expr, $text:expr, |$pool:ident, $sql:ident| $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(s) => {
                let $pool = s.pool();
                let $sql = sqlx::AssertSqlSafe($crate::server::db::sqlite_sql($text).into_owned());
                $body
            }
            $crate::store::Store::Postgres(p) => {
                let $pool = p.pool();
                let $sql = sqlx::AssertSqlSafe($text);
                $body
            }
        }
    };
}
pub(crate) use on_db;

/// Whether a database error is a foreign-key violation (e.g. an unknown organisation id).
pub fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_sqlite_numbered_parameters() {
        assert_eq!(
            sqlite_sql("SELECT a FROM t WHERE b = $1 AND c = $2"),
            "SELECT a FROM t WHERE b = ?1 AND c = ?2"
        );
        assert_eq!(sqlite_sql("SELECT 1"), "SELECT 1");
    }
}
