//! The schema migrations in `migrations/`, embedded in the binary.
//!
//! Every operation holds a PostgreSQL advisory lock, so two deploys running `dra migrate`
//! at once apply each migration exactly once: the second waits, then finds nothing to do.

use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::DbError;

/// All migrations, in order.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Advisory lock key: "dra-migr" as a big-endian i64, unlikely to collide.
const LOCK_KEY: i64 = 0x6472_612d_6d69_6772;

/// One migration and whether it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// The folder name, e.g. `2026-11-25-000001_chats`.
    pub name: String,
    pub applied: bool,
}

/// Every embedded migration with its state.
pub async fn status(conn: AsyncPgConnection) -> Result<Vec<MigrationState>, DbError> {
    with_lock(conn, |h| {
        let applied: Vec<String> = h
            .applied_migrations()
            .map_err(|e| DbError::Migration(e.to_string()))?
            .into_iter()
            .map(|v| v.to_string())
            .collect();
        all_names().map(|names| {
            names
                .into_iter()
                .map(|(version, name)| MigrationState {
                    applied: applied.contains(&version),
                    name,
                })
                .collect()
        })
    })
    .await
}

/// Apply every pending migration; returns the names applied (empty when up to date).
pub async fn run_pending(conn: AsyncPgConnection) -> Result<Vec<String>, DbError> {
    with_lock(conn, |h| {
        let versions = h
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| DbError::Migration(e.to_string()))?;
        let names = all_names()?;
        Ok(versions
            .into_iter()
            .map(|v| name_of(&names, &v.to_string()))
            .collect())
    })
    .await
}

/// Revert the last `steps` applied migrations; returns the names reverted, newest first.
pub async fn revert(conn: AsyncPgConnection, steps: usize) -> Result<Vec<String>, DbError> {
    with_lock(conn, move |h| {
        let names = all_names()?;
        let mut reverted = Vec::new();
        for _ in 0..steps {
            if h.applied_migrations()
                .map_err(|e| DbError::Migration(e.to_string()))?
                .is_empty()
            {
                break;
            }
            let v = h
                .revert_last_migration(MIGRATIONS)
                .map_err(|e| DbError::Migration(e.to_string()))?;
            reverted.push(name_of(&names, &v.to_string()));
        }
        Ok(reverted)
    })
    .await
}

/// Run `f` on a migration harness while holding the advisory lock.
async fn with_lock<T>(
    mut conn: AsyncPgConnection,
    f: impl FnOnce(&mut AsyncMigrationHarness<AsyncPgConnection>) -> Result<T, DbError>,
) -> Result<T, DbError> {
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(LOCK_KEY)
        .execute(&mut conn)
        .await?;
    // The harness drives the async connection with block_in_place, which needs the
    // multi-threaded runtime (what `dra` and the tests use).
    let mut harness = AsyncMigrationHarness::new(conn);
    let result = f(&mut harness);
    let mut conn = harness.into_inner();
    // The lock is session-level; closing the connection would release it too, but the
    // caller may keep using the connection.
    let unlock = diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(LOCK_KEY)
        .execute(&mut conn)
        .await;
    let value = result?;
    unlock?;
    Ok(value)
}

/// (version, folder name) of every embedded migration.
fn all_names() -> Result<Vec<(String, String)>, DbError> {
    let migrations = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .map_err(|e| DbError::Migration(e.to_string()))?;
    Ok(migrations
        .iter()
        .map(|m| (m.name().version().to_string(), m.name().to_string()))
        .collect())
}

fn name_of(names: &[(String, String)], version: &str) -> String {
    names
        .iter()
        .find(|(v, _)| v == version)
        .map(|(_, n)| n.clone())
        .unwrap_or_else(|| version.to_string())
}
