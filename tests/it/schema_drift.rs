//! Schema drift check for `migrations/` and `src/db/schema.rs`.
//!
//! Every test that needs PostgreSQL creates its own throwaway database on the
//! server named by `DRA_TEST_PG_URL` (a libpq `key=value` string or a
//! `postgres://` URL for an admin connection; default
//! `host=127.0.0.1 port=5432 user=postgres`) and drops it again afterwards.
//! An unreachable server is a test failure, never a skip.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::{Client, Config, NoTls};

#[allow(dead_code)]
#[path = "../../src/db/schema.rs"]
mod schema;

/// The text of `src/db/schema.rs`, as parsed by [`parse_schema_rs`].
const SCHEMA_RS: &str = include_str!("../../src/db/schema.rs");

/// Default admin connection when `DRA_TEST_PG_URL` is not set.
const DEFAULT_ADMIN: &str = "host=127.0.0.1 port=5432 user=postgres";

/// Diesel's bookkeeping table; not part of the data model.
const DIESEL_MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

const MIGRATIONS: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("migrations");

// ---------------------------------------------------------------------------
// Schema model shared by both sides of the comparison
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    name: String,
    /// Diesel SQL type without `Nullable<>`, e.g. `Varchar` or `Array<Nullable<Text>>`.
    sql_type: String,
    nullable: bool,
    /// `character_maximum_length` / `#[max_length = N]`.
    max_length: Option<i32>,
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(len) = self.max_length {
            write!(f, "#[max_length = {len}] ")?;
        }
        if self.nullable {
            write!(f, "{} -> Nullable<{}>", self.name, self.sql_type)
        } else {
            write!(f, "{} -> {}", self.name, self.sql_type)
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Table {
    primary_key: Vec<String>,
    columns: Vec<Column>,
}

type Schema = BTreeMap<String, Table>;

// ---------------------------------------------------------------------------
// Parsing `diesel::table!` blocks
// ---------------------------------------------------------------------------

/// Parses the `table!` blocks of a diesel schema file: table names, primary
/// keys and columns (`name -> Type,`, with `Nullable<>`, `#[max_length]` and
/// `#[sql_name]`). Anything inside a block it does not understand is an
/// error, so a format change cannot silently hide columns.
fn parse_schema_rs(src: &str) -> Result<Schema, String> {
    let mut schema = Schema::new();
    let mut lines = src.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    while let Some((_, line)) = lines.next() {
        if !(line == "table! {" || line.ends_with("::table! {")) {
            continue;
        }
        let mut sql_name: Option<String> = None;
        let (table_no, header) = loop {
            let (no, line) = lines
                .next()
                .ok_or("unexpected end of file in a table! block")?;
            if line.is_empty() || line.starts_with("///") || line.starts_with("use ") {
                continue;
            }
            if let Some(attr) = parse_attribute(line) {
                if let Attribute::SqlName(name) = attr? {
                    sql_name = Some(name);
                }
                continue;
            }
            break (no, line);
        };
        let (rust_name, primary_key) = parse_table_header(header)
            .ok_or_else(|| format!("line {table_no}: cannot parse table header `{header}`"))?;
        let table_name = sql_name.unwrap_or(rust_name);

        let mut table = Table {
            primary_key,
            columns: Vec::new(),
        };
        let mut max_length = None;
        let mut sql_name = None;
        loop {
            let (no, line) = lines
                .next()
                .ok_or_else(|| format!("unexpected end of file in table `{table_name}`"))?;
            if line == "}" {
                break;
            }
            if line.is_empty() || line.starts_with("///") {
                continue;
            }
            if let Some(attr) = parse_attribute(line) {
                match attr.map_err(|e| format!("line {no}: {e}"))? {
                    Attribute::MaxLength(len) => max_length = Some(len),
                    Attribute::SqlName(name) => sql_name = Some(name),
                    Attribute::Other => {}
                }
                continue;
            }
            let (name, ty) = line
                .strip_suffix(',')
                .and_then(|l| l.split_once("->"))
                .ok_or_else(|| format!("line {no}: cannot parse column `{line}`"))?;
            let (sql_type, nullable) = split_nullable(ty);
            table.columns.push(Column {
                name: sql_name.take().unwrap_or_else(|| name.trim().to_owned()),
                sql_type,
                nullable,
                max_length: max_length.take(),
            });
        }
        match lines.next() {
            Some((_, "}")) => {}
            other => {
                return Err(format!(
                    "table `{table_name}`: expected `}}` closing table!, found {other:?}"
                ))
            }
        }
        if table.columns.is_empty() {
            return Err(format!("table `{table_name}` declares no columns"));
        }
        if schema.insert(table_name.clone(), table).is_some() {
            return Err(format!("table `{table_name}` is declared twice"));
        }
    }
    Ok(schema)
}

enum Attribute {
    MaxLength(i32),
    SqlName(String),
    Other,
}

/// `None` if `line` is not an attribute, otherwise the attribute or an error.
fn parse_attribute(line: &str) -> Option<Result<Attribute, String>> {
    let inner = line.strip_prefix("#[")?.strip_suffix(']')?;
    let attr = match inner.split_once('=') {
        Some((key, value)) if key.trim() == "max_length" => value
            .trim()
            .parse()
            .map(Attribute::MaxLength)
            .map_err(|e| format!("bad max_length in `{line}`: {e}")),
        Some((key, value)) if key.trim() == "sql_name" => Ok(Attribute::SqlName(
            value.trim().trim_matches('"').to_owned(),
        )),
        _ => Ok(Attribute::Other),
    };
    Some(attr)
}

/// `name (pk1, pk2) {` → (`name`, [`pk1`, `pk2`]); a `schema.` prefix is dropped.
fn parse_table_header(line: &str) -> Option<(String, Vec<String>)> {
    let (name, rest) = line.split_once('(')?;
    let (keys, rest) = rest.split_once(')')?;
    if rest.trim() != "{" {
        return None;
    }
    let name = name.trim();
    let name = name.rsplit_once('.').map_or(name, |(_, n)| n);
    let keys = keys.split(',').map(|k| k.trim().to_owned()).collect();
    Some((name.to_owned(), keys))
}

/// ` Nullable<Varchar>` → (`Varchar`, true); path prefixes of the outer type
/// (`diesel::sql_types::Uuid`) are dropped.
fn split_nullable(ty: &str) -> (String, bool) {
    let ty: String = ty.chars().filter(|c| !c.is_whitespace()).collect();
    let strip_path = |t: &str| -> String {
        let head = t.split('<').next().unwrap_or(t);
        match head.rfind("::") {
            Some(i) => t[i + 2..].to_owned(),
            None => t.to_owned(),
        }
    };
    let ty = strip_path(&ty);
    match ty
        .strip_prefix("Nullable<")
        .and_then(|t| t.strip_suffix('>'))
    {
        Some(inner) => (strip_path(inner), true),
        None => (ty, false),
    }
}

// ---------------------------------------------------------------------------
// Reading the live schema
// ---------------------------------------------------------------------------

/// Diesel type `diesel print-schema` emits for a PostgreSQL `udt_name`.
/// Unknown types come back verbatim so they show up as mismatches.
fn diesel_type(udt_name: &str) -> String {
    if let Some(element) = udt_name.strip_prefix('_') {
        return format!("Array<Nullable<{}>>", diesel_type(element));
    }
    let ty = match udt_name {
        "bool" => "Bool",
        "int2" => "Int2",
        "int4" => "Int4",
        "int8" => "Int8",
        "float4" => "Float4",
        "float8" => "Float8",
        "numeric" => "Numeric",
        "text" => "Text",
        "varchar" => "Varchar",
        "bpchar" => "Bpchar",
        "bytea" => "Bytea",
        "uuid" => "Uuid",
        "json" => "Json",
        "jsonb" => "Jsonb",
        "date" => "Date",
        "time" => "Time",
        "timestamp" => "Timestamp",
        "timestamptz" => "Timestamptz",
        "interval" => "Interval",
        "inet" => "Inet",
        "cidr" => "Cidr",
        "oid" => "Oid",
        other => other,
    };
    ty.to_owned()
}

/// Tables (not views) of schema `public`, minus diesel's bookkeeping table.
async fn live_schema(client: &Client) -> Schema {
    let rows = client
        .query(
            "SELECT c.table_name::text, c.column_name::text, c.udt_name::text,
                    c.is_nullable = 'YES', c.character_maximum_length::int4
               FROM information_schema.columns c
               JOIN information_schema.tables t
                 ON t.table_schema = c.table_schema AND t.table_name = c.table_name
              WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
                AND c.table_name <> $1
              ORDER BY c.table_name, c.ordinal_position",
            &[&DIESEL_MIGRATIONS_TABLE],
        )
        .await
        .expect("query information_schema.columns");
    let mut schema = Schema::new();
    for row in rows {
        let udt_name: String = row.get(2);
        schema.entry(row.get(0)).or_default().columns.push(Column {
            name: row.get(1),
            sql_type: diesel_type(&udt_name),
            nullable: row.get(3),
            max_length: row.get(4),
        });
    }
    let keys = client
        .query(
            "SELECT tc.table_name::text, kcu.column_name::text
               FROM information_schema.table_constraints tc
               JOIN information_schema.key_column_usage kcu
                 ON kcu.constraint_schema = tc.constraint_schema
                AND kcu.constraint_name = tc.constraint_name
                AND kcu.table_name = tc.table_name
              WHERE tc.table_schema = 'public' AND tc.constraint_type = 'PRIMARY KEY'
              ORDER BY tc.table_name, kcu.ordinal_position",
            &[],
        )
        .await
        .expect("query primary keys");
    for row in keys {
        let table: String = row.get(0);
        if let Some(t) = schema.get_mut(&table) {
            t.primary_key.push(row.get(1));
        }
    }
    schema
}

/// Everything left in schema `public` (relations, functions, types), for the
/// "down.sql removes what up.sql created" check.
async fn public_objects(client: &Client) -> Vec<String> {
    let rows = client
        .query(
            "SELECT 'relation ' || relname FROM pg_class
              WHERE relnamespace = 'public'::regnamespace AND relname <> $1
                AND relname NOT LIKE $1 || '_%'
             UNION ALL
             SELECT 'function ' || proname FROM pg_proc
              WHERE pronamespace = 'public'::regnamespace
             UNION ALL
             SELECT 'type ' || typname FROM pg_type
              WHERE typnamespace = 'public'::regnamespace
                AND typrelid = 0 AND typelem = 0
             ORDER BY 1",
            &[&DIESEL_MIGRATIONS_TABLE],
        )
        .await
        .expect("list objects in schema public");
    rows.iter().map(|r| r.get(0)).collect()
}

// ---------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------

/// Every difference between the migrated database (`live`) and the schema
/// declared in `src/db/schema.rs` (`declared`); empty if they match.
fn diff_schemas(live: &Schema, declared: &Schema) -> Vec<String> {
    let mut problems = Vec::new();
    let names: BTreeSet<&String> = live.keys().chain(declared.keys()).collect();
    for name in names {
        let (db, rs) = match (live.get(name), declared.get(name)) {
            (Some(db), Some(rs)) => (db, rs),
            (Some(_), None) => {
                problems.push(format!(
                    "table `{name}` is created by migrations/ but missing from schema.rs"
                ));
                continue;
            }
            (None, Some(_)) => {
                problems.push(format!(
                    "table `{name}` is declared in schema.rs but not created by migrations/"
                ));
                continue;
            }
            (None, None) => unreachable!("name comes from one of the maps"),
        };
        if db.primary_key != rs.primary_key {
            problems.push(format!(
                "`{name}`: primary key is ({}) in the database but ({}) in schema.rs",
                db.primary_key.join(", "),
                rs.primary_key.join(", ")
            ));
        }
        for col in &db.columns {
            match rs.columns.iter().find(|c| c.name == col.name) {
                None => problems.push(format!(
                    "`{name}.{}`: missing from schema.rs (database has `{col}`)",
                    col.name
                )),
                Some(decl) if decl != col => problems.push(format!(
                    "`{name}.{}`: database has `{col}` but schema.rs declares `{decl}`",
                    col.name
                )),
                Some(_) => {}
            }
        }
        for decl in &rs.columns {
            if !db.columns.iter().any(|c| c.name == decl.name) {
                problems.push(format!(
                    "`{name}.{}`: declared in schema.rs (`{decl}`) but not in the database",
                    decl.name
                ));
            }
        }
        let db_order: Vec<&str> = db.columns.iter().map(|c| c.name.as_str()).collect();
        let rs_order: Vec<&str> = rs.columns.iter().map(|c| c.name.as_str()).collect();
        let same_set =
            db_order.iter().collect::<BTreeSet<_>>() == rs_order.iter().collect::<BTreeSet<_>>();
        if same_set && db_order != rs_order {
            problems.push(format!(
                "`{name}`: column order is ({}) in the database but ({}) in schema.rs",
                db_order.join(", "),
                rs_order.join(", ")
            ));
        }
    }
    problems
}

fn assert_no_drift(live: &Schema, context: &str) {
    let declared = parse_schema_rs(SCHEMA_RS).expect("parse src/db/schema.rs");
    let problems = diff_schemas(live, &declared);
    assert!(
        problems.is_empty(),
        "src/db/schema.rs does not match migrations/ ({context}), {} mismatch(es):\n  - {}\n\
         Update src/db/schema.rs (what `diesel print-schema` prints) or the migration.",
        problems.len(),
        problems.join("\n  - ")
    );
}

// ---------------------------------------------------------------------------
// Migrations on disk
// ---------------------------------------------------------------------------

struct MigrationDir {
    name: String,
    up: String,
    down: String,
}

/// `migrations/<YYYY-MM-DD-HHMMSS>_<name>/{up,down}.sql`, oldest first.
fn migration_dirs() -> Vec<MigrationDir> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("read {}: {e}", root.display()))
        .map(|entry| entry.expect("read migrations/ entry"))
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no migrations in {}", root.display());
    names
        .into_iter()
        .map(|name| {
            assert!(
                is_migration_dir_name(&name),
                "migrations/{name}: expected <YYYY-MM-DD-HHMMSS>_<snake_case_name>"
            );
            let read = |file: &str| {
                let path = root.join(&name).join(file);
                std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
            };
            MigrationDir {
                up: read("up.sql"),
                down: read("down.sql"),
                name,
            }
        })
        .collect()
}

fn is_migration_dir_name(name: &str) -> bool {
    let Some((stamp, label)) = name.split_once('_') else {
        return false;
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = stamp.split('-').collect();
    parts.len() == 4
        && digits(parts[0], 4)
        && digits(parts[1], 2)
        && digits(parts[2], 2)
        && digits(parts[3], 6)
        && !label.is_empty()
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

async fn apply_up(client: &Client, migrations: &[MigrationDir]) {
    for m in migrations {
        client
            .batch_execute(&m.up)
            .await
            .unwrap_or_else(|e| panic!("migrations/{}/up.sql failed: {}", m.name, pg_error(&e)));
    }
}

async fn apply_down(client: &Client, migrations: &[MigrationDir]) {
    for m in migrations.iter().rev() {
        client
            .batch_execute(&m.down)
            .await
            .unwrap_or_else(|e| panic!("migrations/{}/down.sql failed: {}", m.name, pg_error(&e)));
    }
}

/// The server's message (with detail) rather than tokio-postgres' generic "db error".
fn pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{}: {}{}",
            db.code().code(),
            db.message(),
            db.detail().map(|d| format!(" ({d})")).unwrap_or_default()
        ),
        None => e.to_string(),
    }
}

// ---------------------------------------------------------------------------
// Throwaway databases
// ---------------------------------------------------------------------------

/// Admin connection settings from `DRA_TEST_PG_URL` or the local default.
fn admin_config() -> Config {
    let raw = std::env::var("DRA_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_ADMIN.to_owned());
    let mut config = Config::from_str(&raw).unwrap_or_else(|e| {
        panic!("DRA_TEST_PG_URL is not a libpq connection string or postgres:// URL: {e}")
    });
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    config
}

/// Host, port, user and database, without the password.
fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    format!(
        "host={} port={:?} user={} dbname={}",
        hosts.join(","),
        config.get_ports(),
        config.get_user().unwrap_or("?"),
        config.get_dbname().unwrap_or("(default)")
    )
}

async fn connect(config: &Config) -> Client {
    let (client, connection) = config.connect(NoTls).await.unwrap_or_else(|e| {
        panic!(
            "cannot connect to PostgreSQL ({}): {e}. The schema drift tests need a server: \
             start one or point DRA_TEST_PG_URL at one.",
            describe(config)
        )
    });
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("postgres connection error: {e}");
        }
    });
    client
}

/// A database created for one test and dropped when the guard goes away,
/// also when the test panics.
struct ScratchDb {
    admin: Config,
    name: String,
}

impl ScratchDb {
    async fn create() -> Self {
        let admin = admin_config();
        let name = format!("dra_schema_drift_{}", uuid::Uuid::new_v4().simple());
        connect(&admin)
            .await
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {}", pg_error(&e)));
        Self { admin, name }
    }

    fn config(&self) -> Config {
        let mut config = self.admin.clone();
        config.dbname(&self.name);
        config
    }

    async fn connect(&self) -> Client {
        connect(&self.config()).await
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on;
        // use a private runtime on a plain thread instead.
        let admin = self.admin.clone();
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let outcome = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let (client, connection) = admin.connect(NoTls).await.map_err(|e| e.to_string())?;
                tokio::spawn(connection);
                client.batch_execute(&sql).await.map_err(|e| pg_error(&e))
            })
        })
        .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop scratch database {}: {e}", self.name),
            Err(_) => eprintln!("dropping scratch database {} panicked", self.name),
        }
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// Applies every up.sql with plain SQL, compares the result with schema.rs,
/// reverts everything with the down.sql files (nothing may be left), and
/// applies and compares once more.
#[tokio::test(flavor = "multi_thread")]
async fn migrations_match_schema_rs_and_round_trip() {
    let migrations = migration_dirs();
    let db = ScratchDb::create().await;
    let client = db.connect().await;

    apply_up(&client, &migrations).await;
    let first = live_schema(&client).await;
    assert_no_drift(&first, "after applying every up.sql");

    apply_down(&client, &migrations).await;
    let leftovers = public_objects(&client).await;
    assert!(
        leftovers.is_empty(),
        "after every down.sql (newest first), schema public still contains:\n  - {}",
        leftovers.join("\n  - ")
    );

    apply_up(&client, &migrations).await;
    let second = live_schema(&client).await;
    assert_eq!(
        first, second,
        "up -> down -> up produced a different schema"
    );
    assert_no_drift(&second, "after up -> down -> up");
}

/// Runs the migrations the way the server does (diesel's migration harness
/// over diesel-async, one transaction per migration, recorded in
/// `__diesel_schema_migrations`), reverts and re-runs them, and uses
/// schema.rs for real queries against the result.
#[tokio::test(flavor = "multi_thread")]
async fn diesel_harness_runs_reverts_and_queries() {
    use chrono::{DateTime, Utc};
    use diesel::prelude::*;
    use diesel_async::{AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl};
    use diesel_migrations::MigrationHarness;
    use schema::{
        chats, citations, claims, evidence_spans, messages, research_jobs, research_sessions,
        sources,
    };
    use uuid::Uuid;

    let dirs = migration_dirs();
    let db = ScratchDb::create().await;
    let (client, connection) = db
        .config()
        .connect(NoTls)
        .await
        .expect("connect to scratch database");
    let conn = AsyncPgConnection::try_from_client_and_connection(client, connection)
        .await
        .expect("diesel-async connection");
    let mut harness = AsyncMigrationHarness::new(conn);

    let applied = harness
        .run_pending_migrations(MIGRATIONS)
        .expect("diesel runs every migration");
    let versions: Vec<String> = applied.iter().map(ToString::to_string).collect();
    let expected: Vec<String> = dirs
        .iter()
        .map(|d| {
            d.name
                .split('_')
                .next()
                .unwrap_or_default()
                .replace('-', "")
        })
        .collect();
    assert_eq!(
        versions, expected,
        "diesel saw other migrations than migrations/ holds"
    );

    harness
        .revert_all_migrations(MIGRATIONS)
        .expect("diesel reverts every migration");
    harness
        .run_pending_migrations(MIGRATIONS)
        .expect("diesel re-runs every migration");
    let mut conn = harness.into_inner();

    let inspect = db.connect().await;
    assert_no_drift(
        &live_schema(&inspect).await,
        "after diesel's migration harness",
    );

    // A chat with an agent answer backed by a research session, its sources,
    // evidence, claims and citations, all written through schema.rs.
    let chat_id: Uuid = diesel::insert_into(chats::table)
        .values(chats::user_id.eq("u1"))
        .returning(chats::id)
        .get_result(&mut conn)
        .await
        .expect("insert chat");
    let message_id: Uuid = diesel::insert_into(messages::table)
        .values((messages::chat_id.eq(chat_id), messages::role.eq("agent")))
        .returning(messages::id)
        .get_result(&mut conn)
        .await
        .expect("insert message");
    let session_id: Uuid = diesel::insert_into(research_sessions::table)
        .values((
            research_sessions::message_id.eq(message_id),
            research_sessions::query.eq("why"),
            research_sessions::user_id.eq("u1"),
            research_sessions::chat_id.eq(chat_id),
        ))
        .returning(research_sessions::id)
        .get_result(&mut conn)
        .await
        .expect("insert research session");
    let source_id: Uuid = diesel::insert_into(sources::table)
        .values((
            sources::research_session_id.eq(session_id),
            sources::chat_id.eq(Some(chat_id)),
            sources::url.eq("https://example.org/a"),
            sources::source_metadata.eq(Some(serde_json::json!({"rank": 1}))),
        ))
        .returning(sources::id)
        .get_result(&mut conn)
        .await
        .expect("insert source");
    let span_id: Uuid = diesel::insert_into(evidence_spans::table)
        .values((
            evidence_spans::source_id.eq(source_id),
            evidence_spans::quote_text.eq("water boils at 100 C"),
            evidence_spans::relevance_score.eq(Some(0.9)),
        ))
        .returning(evidence_spans::id)
        .get_result(&mut conn)
        .await
        .expect("insert evidence span");
    let claim_id: Uuid = diesel::insert_into(claims::table)
        .values((
            claims::research_session_id.eq(session_id),
            claims::message_id.eq(message_id),
            claims::claim_text.eq("Water boils at 100 C."),
            claims::position_start.eq(0),
            claims::position_end.eq(21),
            claims::verification_verdict.eq(Some("supported")),
            claims::citation_keys.eq(serde_json::json!(["Example"])),
        ))
        .returning(claims::id)
        .get_result(&mut conn)
        .await
        .expect("insert claim");
    diesel::insert_into(citations::table)
        .values((
            citations::claim_id.eq(claim_id),
            citations::evidence_span_id.eq(span_id),
        ))
        .execute(&mut conn)
        .await
        .expect("insert citation");

    let cited: Vec<(String, String, String, bool)> = claims::table
        .inner_join(citations::table.inner_join(evidence_spans::table.inner_join(sources::table)))
        .filter(claims::research_session_id.eq(session_id))
        .select((
            claims::claim_text,
            evidence_spans::quote_text,
            sources::url,
            citations::is_primary,
        ))
        .load(&mut conn)
        .await
        .expect("join claims -> citations -> evidence_spans -> sources");
    assert_eq!(
        cited,
        vec![(
            "Water boils at 100 C.".to_owned(),
            "water boils at 100 C".to_owned(),
            "https://example.org/a".to_owned(),
            true,
        )]
    );

    // A queued job, claimed the way a worker would.
    type JobRow = (
        Uuid,
        String,
        i32,
        bool,
        serde_json::Value,
        Option<DateTime<Utc>>,
        DateTime<Utc>,
    );
    let job_id: Uuid = diesel::insert_into(research_jobs::table)
        .values((
            research_jobs::research_session_id.eq(session_id),
            research_jobs::chat_id.eq(chat_id),
            research_jobs::user_id.eq("u1"),
            research_jobs::request.eq(serde_json::json!({"query": "why"})),
        ))
        .returning(research_jobs::id)
        .get_result(&mut conn)
        .await
        .expect("insert job");
    let claimed: JobRow = diesel::update(research_jobs::table.find(job_id))
        .filter(research_jobs::status.eq("queued"))
        .set((
            research_jobs::status.eq("running"),
            research_jobs::worker_id.eq(Some("worker-1")),
            research_jobs::attempts.eq(research_jobs::attempts + 1),
            research_jobs::started_at.eq(diesel::dsl::now),
            research_jobs::heartbeat_at.eq(diesel::dsl::now),
        ))
        .returning((
            research_jobs::id,
            research_jobs::status,
            research_jobs::attempts,
            research_jobs::cancel_requested,
            research_jobs::request,
            research_jobs::heartbeat_at,
            research_jobs::updated_at,
        ))
        .get_result(&mut conn)
        .await
        .expect("claim job");
    assert_eq!(
        (claimed.1.as_str(), claimed.2, claimed.3),
        ("running", 1, false)
    );
    assert_eq!(claimed.4["query"], "why");
    assert!(claimed.5.is_some());

    // Deleting the chat removes everything hanging off it.
    diesel::delete(chats::table.find(chat_id))
        .execute(&mut conn)
        .await
        .expect("delete chat");
    let remaining: i64 = inspect
        .query_one(
            "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM research_sessions)
                  + (SELECT count(*) FROM sources) + (SELECT count(*) FROM evidence_spans)
                  + (SELECT count(*) FROM claims) + (SELECT count(*) FROM citations)
                  + (SELECT count(*) FROM research_jobs)",
            &[],
        )
        .await
        .expect("count rows")
        .get(0);
    assert_eq!(remaining, 0, "ON DELETE CASCADE left rows behind");
}

/// The comparison must notice a removed column, a changed type, a changed
/// nullability, a changed length, a missing table and an extra table.
#[test]
fn drift_check_reports_altered_schema() {
    let reference = parse_schema_rs(SCHEMA_RS).expect("parse src/db/schema.rs");
    assert_eq!(
        reference.len(),
        SCHEMA_RS.matches("table! {").count(),
        "parser skipped a table! block"
    );
    assert_eq!(
        reference.values().map(|t| t.columns.len()).sum::<usize>(),
        SCHEMA_RS
            .lines()
            .filter(|l| l.contains(" -> ") && !l.contains("joinable!"))
            .count(),
        "parser skipped a column"
    );
    assert!(diff_schemas(&reference, &reference).is_empty());

    let edit = |text: &str, from: &str, to: &str| -> String {
        assert_eq!(text.matches(from).count(), 1, "`{from}` must occur once");
        text.replacen(from, to, 1)
    };
    let cases = [
        (
            edit(
                SCHEMA_RS,
                "        verification_data -> Nullable<Jsonb>,\n",
                "",
            ),
            "`research_sessions.verification_data`: missing from schema.rs",
        ),
        (
            edit(
                SCHEMA_RS,
                "cancel_requested -> Bool,",
                "cancel_requested -> Int4,",
            ),
            "`research_jobs.cancel_requested`: database has `cancel_requested -> Bool`",
        ),
        (
            edit(
                SCHEMA_RS,
                "heartbeat_at -> Nullable<Timestamptz>,",
                "heartbeat_at -> Timestamptz,",
            ),
            "`research_jobs.heartbeat_at`: database has `heartbeat_at -> Nullable<Timestamptz>`",
        ),
        (
            edit(SCHEMA_RS, "#[max_length = 45]", "#[max_length = 64]"),
            "`audit_logs.ip_address`: database has `#[max_length = 45] ip_address",
        ),
        (
            edit(
                SCHEMA_RS,
                "    numeric_claims (claim_id) {",
                "    numeric_claim (claim_id) {",
            ),
            "table `numeric_claims` is created by migrations/ but missing from schema.rs",
        ),
        (
            edit(
                SCHEMA_RS,
                "    audit_logs (id) {",
                "    audit_logs (id, user_id) {",
            ),
            "`audit_logs`: primary key is (id) in the database but (id, user_id) in schema.rs",
        ),
    ];
    for (altered, expected) in cases {
        let declared = parse_schema_rs(&altered).expect("parse altered schema");
        let problems = diff_schemas(&reference, &declared);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "expected a mismatch containing {expected:?}, got {problems:#?}"
        );
    }

    let mut extra = reference.clone();
    extra.remove("chats");
    let problems = diff_schemas(&extra, &reference);
    assert_eq!(
        problems,
        vec!["table `chats` is declared in schema.rs but not created by migrations/".to_owned()]
    );

    assert!(
        parse_schema_rs("diesel::table! {\n    t (id) {\n        id => Uuid,\n    }\n}\n").is_err()
    );
}
