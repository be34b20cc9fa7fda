//! `make deploy` end to end on this machine: scripts/deploy.sh with a fake `databricks`
//! CLI first on PATH (it records its arguments and, like the real one, creates the
//! bundle's Lakebase instance and app through the workspace REST API), the real `dra` for
//! the Lakebase steps, the fake workspace, and the local PostgreSQL standing in for the
//! Lakebase instance. Then the app starts from the bundle step 1 built, as its service
//! principal, and stores a chat.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::workspace::{FakeWorkspace, PAT};
use crate::support::TestDb;
use serde_json::{json, Value};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Stands in for the Databricks CLI: `bundle deploy` creates the instance (once) and the
/// app (or updates its database resource) with the bundle's names, `bundle run` deploys
/// the app. Authenticates like the real CLI, from DATABRICKS_HOST and DATABRICKS_TOKEN.
const FAKE_CLI: &str = r#"#!/usr/bin/env bash
set -euo pipefail
echo "$*" >> "$FAKE_CLI_CALLS"
verb="$1 $2"; shift 2
target=dev; database=""; key=""
while [ $# -gt 0 ]; do
  case "$1" in
    -t|--target) target="$2"; shift 2 ;;
    -p|--profile) shift 2 ;;
    --var) case "$2" in lakebase_database=*) database="${2#*=}" ;; esac; shift 2 ;;
    *) key="$1"; shift ;;
  esac
done
api() { # METHOD PATH [BODY]: prints the status code; the body goes to $tmp
  curl -sS -o "$tmp" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $DATABRICKS_TOKEN" \
    -H 'Content-Type: application/json' "$DATABRICKS_HOST$2" ${3:+--data "$3"}
}
expect() { # WANT GOT
  if [ "$2" != "$1" ]; then echo "Error: $(cat "$tmp")" >&2; exit 1; fi
}
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
case "$verb" in
  "bundle deploy")
    database="${database:-$FAKE_BUNDLE_DATABASE}"
    echo "Uploading bundle files to /Workspace/Users/developer@example.com/.bundle/deep-research-agent/$target/files..."
    echo "Deploying resources..."
    if [ "$(api GET "/api/2.0/database/instances/$FAKE_BUNDLE_INSTANCE")" = 404 ]; then
      expect 200 "$(api POST /api/2.0/database/instances "{\"name\":\"$FAKE_BUNDLE_INSTANCE\",\"capacity\":\"CU_1\"}")"
    fi
    resources="[{\"name\":\"database\",\"database\":{\"instance_name\":\"$FAKE_BUNDLE_INSTANCE\",\"database_name\":\"$database\",\"permission\":\"CAN_CONNECT_AND_CREATE\"}}]"
    if [ "$(api GET "/api/2.0/apps/$FAKE_BUNDLE_APP")" = 404 ]; then
      expect 200 "$(api POST /api/2.0/apps "{\"name\":\"$FAKE_BUNDLE_APP\",\"resources\":$resources}")"
    else
      expect 200 "$(api PATCH "/api/2.0/apps/$FAKE_BUNDLE_APP" "{\"resources\":$resources}")"
    fi
    echo "Deployment complete!"
    ;;
  "bundle run")
    [ "$key" = deep_research_agent ] || { echo "Error: no resource $key" >&2; exit 1; }
    expect 200 "$(api POST "/api/2.0/apps/$FAKE_BUNDLE_APP/deployments" '{"source_code_path":"/Workspace/files/build/app","mode":"SNAPSHOT"}')"
    echo "✓ App started successfully"
    ;;
  *) echo "Error: unknown command $verb" >&2; exit 1 ;;
esac
"#;

/// The bundle's names for the dev target, read from databricks.yml as the CLI would.
struct BundleNames {
    app: String,
    instance: String,
}

fn bundle_names() -> BundleNames {
    let text = std::fs::read_to_string(Path::new(ROOT).join("databricks.yml")).unwrap();
    let b: yaml_serde::Value = yaml_serde::from_str(&text).unwrap();
    let default = |v: &str| b["variables"][v]["default"].as_str().unwrap().to_string();
    let suffix = b["targets"]["dev"]["variables"]["resource_suffix"]
        .as_str()
        .unwrap()
        .to_string();
    // Apps get no development-mode name prefix (the CLI applies no presets to apps).
    BundleNames {
        app: format!("{}-{suffix}", default("app_name")),
        instance: default("lakebase_instance_name"),
    }
}

/// One deployment's world: the fake workspace, the fake CLI, a unique database name and
/// service principal role on the local server.
struct World {
    dir: tempfile::TempDir,
    ws: FakeWorkspace,
    names: BundleNames,
    db: TestDb,
    role: String,
}

impl World {
    async fn new() -> World {
        let admin = crate::support::pg::admin_url();
        let role = format!("app-sp-{}", uuid::Uuid::new_v4());
        let ws = FakeWorkspace::start()
            .await
            .with_provisioning(
                admin.host_str().unwrap_or("127.0.0.1"),
                &role,
                admin.as_str(),
            )
            .with_m2m_client(&role, "sp-secret", Duration::from_secs(3600));
        // The developer: a superuser on the local server, as a workspace admin is on Lakebase.
        ws.set_credential_subject(admin.username());
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let cli = bin.join("databricks");
        std::fs::write(&cli, FAKE_CLI).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&cli, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let db = TestDb::adopt(&format!(
            "dra_deploy_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..10]
        ));
        World {
            dir,
            ws,
            names: bundle_names(),
            db,
            role,
        }
    }

    fn bundle_dir(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// `make deploy TARGET=dev`, step 1 packaging the test build of dra.
    async fn deploy(&self) -> crate::support::cli::Output {
        let mut cmd = tokio::process::Command::new("make");
        cmd.current_dir(ROOT)
            .args(["--no-print-directory", "deploy", "TARGET=dev"]);
        for v in crate::support::cli::SCRUBBED {
            cmd.env_remove(v);
        }
        for v in [
            "DATABRICKS",
            "DRY_RUN",
            "PROFILE",
            "BRAVE_SCOPE",
            "MAKEFLAGS",
            "MFLAGS",
        ] {
            cmd.env_remove(v);
        }
        let path = format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let home = self.dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        cmd.env("PATH", path)
            .env("HOME", home)
            .env("BUILD_CMD", format!("bash {ROOT}/scripts/build-bundle.sh"))
            .env("DRA_BINARY", env!("CARGO_BIN_EXE_dra"))
            .env("BUNDLE_DIR", self.bundle_dir())
            .env("GZIP_LEVEL", "1")
            .env("DATABASE", &self.db.name)
            .env("WAIT_DELAY", "50ms")
            .env("DATABRICKS_HOST", &self.ws.url)
            .env("DATABRICKS_TOKEN", PAT)
            .env("PGSSLMODE", "disable")
            .env("LAKEBASE_PORT", self.db.port().to_string())
            .env("FAKE_CLI_CALLS", self.dir.path().join("calls"))
            .env("FAKE_BUNDLE_APP", &self.names.app)
            .env("FAKE_BUNDLE_INSTANCE", &self.names.instance)
            .env("FAKE_BUNDLE_DATABASE", "deep_research")
            .kill_on_drop(true);
        cmd.output().await.expect("run make deploy").into()
    }

    fn count(&self, method: &str, path: &str) -> usize {
        self.ws
            .requests()
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }

    /// The database's schema, applied migrations and the privileges of the app's role: what
    /// a second deploy must leave exactly as it was.
    async fn state(&self) -> Value {
        let c = self.db.client().await;
        let rows = |sql: &'static str| {
            let c = &c;
            async move {
                c.query(sql, &[])
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get::<_, String>(0))
                    .collect::<Vec<_>>()
            }
        };
        json!({
            "migrations": rows("SELECT version || ' ' || run_on::text FROM __diesel_schema_migrations ORDER BY version").await,
            "tables": rows("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1").await,
            "grants": rows("SELECT grantee::text || ' ' || table_name::text || ' ' || privilege_type::text FROM information_schema.role_table_grants WHERE table_schema = 'public' ORDER BY 1").await,
            "default_acl": rows("SELECT coalesce(defaclacl::text, '') FROM pg_default_acl ORDER BY 1").await,
        })
    }

    async fn drop_roles(self, extra: &[&str]) {
        let World { db, role, .. } = self;
        drop(db);
        let admin = crate::support::pg::connect(crate::support::pg::admin_url().as_str()).await;
        for r in std::iter::once(role.as_str()).chain(extra.iter().copied()) {
            admin
                .batch_execute(&format!("DROP ROLE IF EXISTS \"{r}\""))
                .await
                .unwrap();
        }
    }
}

fn step_lines(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with('[')).collect()
}

fn migration_count() -> usize {
    std::fs::read_dir(Path::new(ROOT).join("migrations"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("up.sql").exists())
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn make_deploy_provisions_migrates_grants_and_starts_the_app_and_a_second_run_changes_nothing(
) {
    let w = World::new().await;
    let first = w.deploy().await;
    assert!(first.ok(), "{first:?}");

    // The eight steps, in order, each reported ok.
    let steps = step_lines(&first.stdout);
    let oks: Vec<&&str> = steps.iter().filter(|l| l.ends_with(": ok")).collect();
    assert_eq!(oks.len(), 8, "{}", first.stdout);
    for (i, line) in oks.iter().enumerate() {
        assert!(line.starts_with(&format!("[{}/8] ", i + 1)), "{line}");
    }
    assert!(first.stdout.contains(&format!("deployed: {}", w.names.app)));

    // Phase 1 deploys on `postgres`, phase 2 on the real database, then the app starts.
    let db = &w.db.name;
    assert_eq!(
        w.calls(),
        [
            "bundle deploy -t dev --var lakebase_database=postgres".to_string(),
            format!("bundle deploy -t dev --var lakebase_database={db}"),
            "bundle run -t dev deep_research_agent".to_string(),
        ]
    );
    let reqs = w.ws.requests();
    let created = reqs
        .iter()
        .find(|r| r.method == "POST" && r.path == "/api/2.0/apps")
        .expect("the app was created");
    assert_eq!(
        created.body["resources"][0]["database"]["database_name"],
        "postgres"
    );
    let app = w.ws.app(&w.names.app).expect("the app exists");
    assert_eq!(app["resources"][0]["database"]["database_name"], json!(db));
    assert_eq!(app["app_status"]["state"], "RUNNING");
    assert_eq!(app["deployments"], 1);

    // wait-lakebase polled the new instance through STARTING until AVAILABLE.
    let instance_path = format!("/api/2.0/database/instances/{}", w.names.instance);
    assert!(
        w.count("GET", &instance_path) >= 4,
        "the CLI's lookup and at least three polls: {reqs:#?}"
    );
    assert!(first.stderr.contains("state STARTING"), "{}", first.stderr);

    // The database exists on the server, with every migration applied.
    assert!(w.db.exists().await);
    let state = w.state().await;
    assert_eq!(
        state["migrations"].as_array().unwrap().len(),
        migration_count()
    );
    assert!(state["tables"]
        .as_array()
        .unwrap()
        .contains(&json!("chats")));

    // The app's role may use every table.
    let c = w.db.client().await;
    for table in state["tables"].as_array().unwrap() {
        let table = table.as_str().unwrap();
        let ok: bool = c
            .query_one(
                "SELECT has_table_privilege($1, $2, 'SELECT,INSERT,UPDATE,DELETE')",
                &[&w.role, &format!("public.\"{table}\"")],
            )
            .await
            .unwrap()
            .get(0);
        assert!(ok, "{} may not use {table}", w.role);
    }
    drop(c);

    // The app, started from the bundle as the platform starts it, works as its principal.
    app_stores_a_chat(&w).await;

    // A second run converges without change: nothing created, nothing migrated, same grants.
    let before = w.state().await;
    let apps_created = w.count("POST", "/api/2.0/apps");
    let instances_created = w.count("POST", "/api/2.0/database/instances");
    let second = w.deploy().await;
    assert!(second.ok(), "{second:?}");
    assert_eq!(
        step_lines(&second.stdout)
            .iter()
            .filter(|l| l.ends_with(": ok"))
            .count(),
        8
    );
    assert!(
        second.stdout.contains("already exists"),
        "{}",
        second.stdout
    );
    assert!(
        second.stdout.contains("schema is up to date"),
        "{}",
        second.stdout
    );
    assert!(!second.stdout.contains("applied 20"), "{}", second.stdout);
    assert_eq!(w.count("POST", "/api/2.0/apps"), apps_created);
    assert_eq!(
        w.count("POST", "/api/2.0/database/instances"),
        instances_created
    );
    assert_eq!(w.state().await, before);
    w.drop_roles(&[]).await;
}

/// `sh bin/start.sh serve` in the bundle, with app.yaml's environment and what the Apps
/// platform injects (port, PG* for the database resource, the principal's OAuth client);
/// a chat created through the API is stored.
async fn app_stores_a_chat(w: &World) {
    let app_yaml: yaml_serde::Value =
        yaml_serde::from_str(&std::fs::read_to_string(w.bundle_dir().join("app.yaml")).unwrap())
            .unwrap();
    let command: Vec<String> = app_yaml["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let mut cmd = tokio::process::Command::new(&command[0]);
    cmd.args(&command[1..]).current_dir(w.bundle_dir());
    for v in crate::support::cli::SCRUBBED {
        cmd.env_remove(v);
    }
    for e in app_yaml["env"].as_sequence().unwrap() {
        let name = e["name"].as_str().unwrap();
        match (e["value"].as_str(), e["valueFrom"].as_str()) {
            (Some(v), _) => cmd.env(name, v),
            (None, Some("brave-api-key")) => cmd.env(name, "test-brave-key"),
            other => panic!("app.yaml env {name}: {other:?}"),
        };
    }
    // The service principal logs in to Lakebase with its own credentials.
    w.ws.set_credential_subject(&w.role);
    let home = tempfile::tempdir().unwrap();
    cmd.env("HOME", home.path())
        .env("DRA_BIN_DIR", home.path())
        .env("DATABRICKS_APP_PORT", port.to_string())
        .env("DATABRICKS_HOST", &w.ws.url)
        .env("DATABRICKS_CLIENT_ID", &w.role)
        .env("DATABRICKS_CLIENT_SECRET", "sp-secret")
        .env("PGHOST", w.db.host())
        .env("PGPORT", w.db.port().to_string())
        .env("PGDATABASE", &w.db.name)
        .env("PGUSER", &w.role)
        .env("PGSSLMODE", "disable")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("start the app");
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let user = "alice@example.com";
    let mut created = None;
    for _ in 0..300 {
        if let Ok(r) = http
            .post(format!("{url}/api/v1/chats"))
            .header("X-Forwarded-Email", user)
            .json(&json!({"title": "deployed"}))
            .send()
            .await
        {
            created = Some((r.status(), r.text().await.unwrap_or_default()));
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let out = crate::support::cli::Output::of(child).await;
            panic!("the app exited ({status}): {out:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = created.expect("the app never listened");
    if !status.is_success() {
        let _ = child.start_kill();
        let out = crate::support::cli::Output::of(child).await;
        panic!("{status}: {body}\nthe app: {out:?}");
    }
    let c = w.db.client().await;
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM chats WHERE user_id = $1 AND title = 'deployed'",
            &[&user],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "the chat is stored in the deployed database");
    assert!(
        w.ws.oidc_calls() > 0,
        "the app logged in with its principal's OAuth client"
    );
    let _ = child.start_kill();
    let _ = child.wait().await;
    w.ws.set_credential_subject(crate::support::pg::admin_url().username());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_at_step_4_stops_make_deploy_with_what_to_do_and_a_rerun_finishes() {
    let w = World::new().await;
    // The developer's Lakebase role may log in but not create databases.
    let weak = format!(
        "dra_nocreatedb_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let admin = crate::support::pg::connect(crate::support::pg::admin_url().as_str()).await;
    admin
        .batch_execute(&format!("CREATE ROLE \"{weak}\" LOGIN NOCREATEDB"))
        .await
        .unwrap();
    w.ws.set_credential_subject(&weak);

    let failed = w.deploy().await;
    assert_ne!(failed.code, 0);
    for said in [
        format!("[4/8] Create database {}: FAILED (exit ", w.db.name),
        // dra's own reason, and what the role lacks
        "permission denied to create database".to_string(),
        "the role needs CREATEDB".to_string(),
        format!(
            "next: check that your user may create databases on {}",
            w.names.instance
        ),
        "re-run: make deploy TARGET=dev".to_string(),
    ] {
        assert!(failed.stderr.contains(&said), "no {said:?} in {failed:?}");
    }
    let stderr = &failed.stderr;
    // make reports the script's exit code 14 (10 + step) as its own failure.
    assert!(
        stderr.contains("Error 14"),
        "make deploy exits non-zero with step 4's code: {stderr}"
    );
    assert!(!failed.stdout.contains("[5/8]"), "{}", failed.stdout);
    assert_eq!(
        w.calls(),
        ["bundle deploy -t dev --var lakebase_database=postgres"]
    );
    assert!(!w.db.exists().await);

    // With the permission fixed, re-running finishes the deployment.
    w.ws.set_credential_subject(crate::support::pg::admin_url().username());
    let rerun = w.deploy().await;
    assert!(rerun.ok(), "{rerun:?}");
    assert!(w.db.exists().await);
    assert_eq!(w.calls().len(), 4, "{:?}", w.calls());
    assert_eq!(
        w.count("POST", "/api/2.0/database/instances"),
        1,
        "the instance was created once"
    );
    w.drop_roles(&[&weak]).await;
}
