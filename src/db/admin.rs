//! Administrative operations of the deploy pipeline: create a database, grant an app's
//! role access to the schema.

use diesel::sql_types::Text;
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::DbError;

/// What `create_database` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Created,
    AlreadyExists,
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    #[allow(dead_code)]
    found: i32,
}

/// Create database `name` unless it exists. `conn` must be to another database on the same
/// server (usually `postgres`).
pub async fn create_database(conn: &mut AsyncPgConnection, name: &str) -> Result<Created, DbError> {
    if database_exists(conn, name).await? {
        return Ok(Created::AlreadyExists);
    }
    // CREATE DATABASE takes no bind parameters, hence the quoted identifier.
    match diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(name)))
        .execute(conn)
        .await
    {
        Ok(_) => Ok(Created::Created),
        // Another process created it between our check and our CREATE.
        Err(diesel::result::Error::DatabaseError(_, info))
            if info.message().contains("already exists") =>
        {
            Ok(Created::AlreadyExists)
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether database `name` exists on the server.
pub async fn database_exists(conn: &mut AsyncPgConnection, name: &str) -> Result<bool, DbError> {
    let rows: Vec<Found> =
        diesel::sql_query("SELECT 1 AS found FROM pg_database WHERE datname = $1")
            .bind::<Text, _>(name)
            .load(conn)
            .await?;
    Ok(!rows.is_empty())
}

/// Whether role `name` exists.
pub async fn role_exists(conn: &mut AsyncPgConnection, name: &str) -> Result<bool, DbError> {
    let rows: Vec<Found> = diesel::sql_query("SELECT 1 AS found FROM pg_roles WHERE rolname = $1")
        .bind::<Text, _>(name)
        .load(conn)
        .await?;
    Ok(!rows.is_empty())
}

/// The statements `grant_schema_access` runs, in order.
pub fn grant_statements(role: &str) -> Vec<String> {
    let r = quote_ident(role);
    vec![
        format!("GRANT USAGE ON SCHEMA public TO {r}"),
        format!("GRANT ALL ON ALL TABLES IN SCHEMA public TO {r}"),
        format!("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {r}"),
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO {r}"),
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO {r}"),
    ]
}

/// Grant `role` full use of schema `public`: existing tables and sequences, and (through
/// default privileges of the connected user) those created later. One transaction;
/// idempotent. Returns the statements executed.
pub async fn grant_schema_access(
    conn: &mut AsyncPgConnection,
    role: &str,
) -> Result<Vec<String>, DbError> {
    if !role_exists(conn, role).await? {
        return Err(DbError::NoSuchRole(role.to_string()));
    }
    let statements = grant_statements(role);
    let run = statements.clone();
    conn.transaction::<_, DbError, _>(async |tx| {
        for sql in &run {
            diesel::sql_query(sql.as_str()).execute(tx).await?;
        }
        Ok(())
    })
    .await?;
    Ok(statements)
}

/// `SELECT 1`: proof that a connection really works.
pub async fn ping(conn: &mut AsyncPgConnection) -> Result<(), DbError> {
    let rows: Vec<Found> = diesel::sql_query("SELECT 1 AS found").load(conn).await?;
    if rows.is_empty() {
        return Err(DbError::Pool("SELECT 1 returned no row".into()));
    }
    Ok(())
}

/// Quote a PostgreSQL identifier: wrap in double quotes, double any inside.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("deep_research"), "\"deep_research\"");
        assert_eq!(quote_ident("a-b\"c"), "\"a-b\"\"c\"");
        assert_eq!(
            grant_statements("6f0e-4d")[1],
            "GRANT ALL ON ALL TABLES IN SCHEMA public TO \"6f0e-4d\""
        );
    }
}
