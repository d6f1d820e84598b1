//! One connection to a store, SQLite or PostgreSQL, behind the few calls the store makes:
//! run a script, run a statement with parameters, read rows, and open and close a
//! transaction. Statements are written once, with `?` placeholders (SQLite's); for
//! PostgreSQL they become `$1, $2, ...`. Column types are the ones both databases share:
//! TEXT, BIGINT and DOUBLE PRECISION.

use crate::error::DetError;
use std::time::Duration;

/// A value bound to a statement or read from a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl Val {
    pub fn text(&self) -> Option<&str> {
        match self {
            Val::Text(s) => Some(s),
            _ => None,
        }
    }
    pub fn int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn real(&self) -> Option<f64> {
        match self {
            Val::Real(f) => Some(*f),
            Val::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
    /// Text, or "" for NULL.
    pub fn string(&self) -> String {
        self.text().unwrap_or_default().to_string()
    }
}

impl From<&str> for Val {
    fn from(s: &str) -> Val {
        Val::Text(s.to_string())
    }
}
impl From<String> for Val {
    fn from(s: String) -> Val {
        Val::Text(s)
    }
}
impl From<i64> for Val {
    fn from(i: i64) -> Val {
        Val::Int(i)
    }
}
impl From<bool> for Val {
    fn from(b: bool) -> Val {
        Val::Int(b as i64)
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(o: Option<T>) -> Val {
        o.map_or(Val::Null, Into::into)
    }
}
impl From<f64> for Val {
    fn from(f: f64) -> Val {
        Val::Real(f)
    }
}
impl From<u64> for Val {
    fn from(u: u64) -> Val {
        // Counts and sizes beyond i64 do not occur; saturate rather than wrap.
        Val::Int(i64::try_from(u).unwrap_or(i64::MAX))
    }
}

/// Which database a connection talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

pub enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Client>),
}

/// How long a writer waits for another writer's transaction before giving up.
const BUSY: Duration = Duration::from_secs(120);

fn db_err(what: &str, e: impl std::fmt::Display) -> DetError {
    DetError::input(format!("store: {what}: {e}"))
}

impl Conn {
    /// Opens `url`: `postgres://...` / `postgresql://...`, else a SQLite file path
    /// (created if missing; its folder must exist).
    pub fn open(url: &str) -> Result<Conn, DetError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let client = postgres::Client::connect(url, postgres::NoTls)
                .map_err(|e| db_err(&format!("cannot connect to {}", redact(url)), e))?;
            return Ok(Conn::Postgres(Box::new(client)));
        }
        let path = std::path::Path::new(url);
        if url.is_empty() {
            return Err(DetError::input(
                "store: empty URL (a SQLite file path or postgres://...)",
            ));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(DetError::input(format!(
                    "store: cannot open {url}: folder {} does not exist",
                    dir.display()
                )));
            }
        }
        if path.is_dir() {
            return Err(DetError::input(format!(
                "store: {url} is a folder, not a SQLite file"
            )));
        }
        let c = rusqlite::Connection::open(path)
            .map_err(|e| db_err(&format!("cannot open {url}"), e))?;
        c.busy_timeout(BUSY)
            .map_err(|e| db_err("cannot set the busy timeout", e))?;
        // WAL: readers never block the writer, and a killed writer's uncommitted pages are
        // discarded on the next open.
        let mode: String = c
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| db_err(&format!("{url} is not a SQLite database"), e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(DetError::input(format!(
                "store: {url}: cannot use write-ahead logging (journal mode {mode})"
            )));
        }
        c.execute_batch("PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL;")
            .map_err(|e| db_err("cannot set pragmas", e))?;
        Ok(Conn::Sqlite(c))
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs a script of statements without parameters.
    pub fn batch(&mut self, sql: &str) -> Result<(), DetError> {
        match self {
            Conn::Sqlite(c) => c.execute_batch(sql).map_err(|e| db_err("script", e)),
            Conn::Postgres(c) => c.batch_execute(sql).map_err(|e| db_err("script", e)),
        }
    }

    /// Opens a write transaction. SQLite takes the write lock at once (`BEGIN IMMEDIATE`,
    /// waiting up to [`BUSY`] for another writer), so two writers queue instead of failing
    /// halfway.
    pub fn begin(&mut self) -> Result<(), DetError> {
        match self {
            Conn::Sqlite(c) => c
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| db_err("cannot begin a transaction", e)),
            Conn::Postgres(c) => c
                .batch_execute("BEGIN")
                .map_err(|e| db_err("cannot begin a transaction", e)),
        }
    }

    pub fn commit(&mut self) -> Result<(), DetError> {
        self.batch("COMMIT")
    }

    /// Rolls back after an error (a failure here changes nothing: the transaction is gone
    /// with the connection anyway).
    pub fn rollback(&mut self) {
        let _ = self.batch("ROLLBACK");
    }

    /// Runs one statement; returns the rows it changed.
    pub fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, DetError> {
        match self {
            Conn::Sqlite(c) => c
                .execute(sql, rusqlite::params_from_iter(params.iter()))
                .map(|n| n as u64)
                .map_err(|e| db_err("statement", e)),
            Conn::Postgres(c) => {
                let p: Vec<&(dyn postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|v| v as &(dyn postgres::types::ToSql + Sync))
                    .collect();
                c.execute(&numbered(sql), &p)
                    .map_err(|e| db_err("statement", e))
            }
        }
    }

    /// Runs a query; every row as values in column order.
    pub fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>, DetError> {
        match self {
            Conn::Sqlite(c) => {
                let mut st = c.prepare(sql).map_err(|e| db_err("query", e))?;
                let n = st.column_count();
                let rows = st
                    .query_map(rusqlite::params_from_iter(params.iter()), |row| {
                        (0..n)
                            .map(|i| {
                                Ok(match row.get_ref(i)? {
                                    rusqlite::types::ValueRef::Null => Val::Null,
                                    rusqlite::types::ValueRef::Integer(i) => Val::Int(i),
                                    rusqlite::types::ValueRef::Real(f) => Val::Real(f),
                                    rusqlite::types::ValueRef::Text(t)
                                    | rusqlite::types::ValueRef::Blob(t) => {
                                        Val::Text(String::from_utf8_lossy(t).into_owned())
                                    }
                                })
                            })
                            .collect::<Result<Vec<Val>, rusqlite::Error>>()
                    })
                    .map_err(|e| db_err("query", e))?;
                rows.collect::<Result<Vec<_>, _>>()
                    .map_err(|e| db_err("query", e))
            }
            Conn::Postgres(c) => {
                let p: Vec<&(dyn postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|v| v as &(dyn postgres::types::ToSql + Sync))
                    .collect();
                let rows = c
                    .query(&numbered(sql), &p)
                    .map_err(|e| db_err("query", e))?;
                rows.iter().map(pg_row).collect()
            }
        }
    }
}

/// A PostgreSQL URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// `?` placeholders as PostgreSQL's `$1, $2, ...` (the store's statements hold no `?`
/// inside string literals).
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(ch);
        }
    }
    out
}

fn pg_row(row: &postgres::Row) -> Result<Vec<Val>, DetError> {
    use postgres::types::Type;
    (0..row.len())
        .map(|i| {
            let ty = row.columns()[i].type_();
            let bad = |e: postgres::Error| db_err("reading a row", e);
            Ok(if *ty == Type::INT8 {
                row.try_get::<_, Option<i64>>(i).map_err(bad)?.into()
            } else if *ty == Type::INT4 {
                row.try_get::<_, Option<i32>>(i)
                    .map_err(bad)?
                    .map(i64::from)
                    .into()
            } else if *ty == Type::FLOAT8 {
                row.try_get::<_, Option<f64>>(i).map_err(bad)?.into()
            } else if *ty == Type::VOID {
                Val::Null
            } else if *ty == Type::BOOL {
                row.try_get::<_, Option<bool>>(i).map_err(bad)?.into()
            } else {
                row.try_get::<_, Option<String>>(i).map_err(bad)?.into()
            })
        })
        .collect()
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match self {
            Val::Null => ToSqlOutput::Owned(Value::Null),
            Val::Int(i) => ToSqlOutput::Owned(Value::Integer(*i)),
            Val::Real(f) => ToSqlOutput::Owned(Value::Real(*f)),
            Val::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

impl postgres::types::ToSql for Val {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::{IsNull, Type};
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            Val::Int(i) if *ty == Type::FLOAT8 => (*i as f64).to_sql(ty, out),
            Val::Int(i) => i.to_sql(ty, out),
            Val::Real(f) => f.to_sql(ty, out),
            Val::Text(s) => s.to_sql(ty, out),
        }
    }

    fn accepts(ty: &postgres::types::Type) -> bool {
        use postgres::types::Type;
        [
            Type::INT8,
            Type::INT4,
            Type::FLOAT8,
            Type::TEXT,
            Type::VARCHAR,
        ]
        .contains(ty)
    }

    postgres::types::to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(
            numbered("INSERT INTO t VALUES (?, ?, ?)"),
            "INSERT INTO t VALUES ($1, $2, $3)"
        );
    }

    #[test]
    fn passwords_are_left_out_of_messages() {
        assert_eq!(
            redact("postgres://me:secret@db:5432/x"),
            "postgres://me:***@db:5432/x"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1:5/p"),
            "postgres://postgres@127.0.0.1:5/p"
        );
    }
}
