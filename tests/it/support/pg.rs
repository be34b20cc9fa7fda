//! Real PostgreSQL for tests: throwaway databases on the shared local server, and private
//! clusters with password (scram) authentication for token-rotation tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use tokio_postgres::{Client, NoTls};

/// The admin URL of the shared server: `DRA_TEST_PG_URL`, else the local default.
pub fn admin_url() -> url::Url {
    let raw = std::env::var("DRA_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    url::Url::parse(&raw).expect("DRA_TEST_PG_URL must be a postgres:// URL")
}

/// Connect with tokio-postgres and drive the connection in the background.
pub async fn connect(conn_str: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(conn_str, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to test PostgreSQL ({conn_str}): {e}. Is it running? (`make test` starts one)"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// A database created for one test and dropped afterwards.
pub struct TestDb {
    pub name: String,
    base: url::Url,
}

impl TestDb {
    /// Create a fresh, empty database.
    pub async fn new() -> TestDb {
        Self::named(&format!("dra_test_{}", uuid::Uuid::new_v4().simple())).await
    }

    /// Create a database with a specific name (dropped first if it exists).
    pub async fn named(name: &str) -> TestDb {
        let base = admin_url();
        let admin = connect(base.as_str()).await;
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        // One statement per call: multi-statement strings run in an implicit transaction.
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
            .await
            .expect("drop old test database");
        admin
            .batch_execute(&format!("CREATE DATABASE {quoted}"))
            .await
            .expect("create test database");
        TestDb {
            name: name.into(),
            base,
        }
    }

    /// A handle for a database some other code will create; dropped afterwards.
    pub fn adopt(name: &str) -> TestDb {
        TestDb {
            name: name.into(),
            base: admin_url(),
        }
    }

    pub fn host(&self) -> String {
        self.base.host_str().unwrap_or("127.0.0.1").to_string()
    }

    pub fn port(&self) -> u16 {
        self.base.port().unwrap_or(5432)
    }

    /// `postgres://…/<name>?sslmode=disable`, the form users put in DATABASE_URL.
    pub fn url(&self) -> String {
        let mut u = self.base.clone();
        u.set_path(&format!("/{}", utf8_percent(&self.name)));
        u.set_query(Some("sslmode=disable"));
        u.to_string()
    }

    /// The same server's `postgres` database URL.
    pub fn server_url(&self) -> String {
        let mut u = self.base.clone();
        u.set_path("/postgres");
        u.set_query(Some("sslmode=disable"));
        u.to_string()
    }

    /// A superuser client connected to this database.
    pub async fn client(&self) -> Client {
        let mut u = self.base.clone();
        u.set_path(&format!("/{}", utf8_percent(&self.name)));
        connect(u.as_str()).await
    }

    /// Whether the database exists now.
    pub async fn exists(&self) -> bool {
        let admin = connect(self.base.as_str()).await;
        let rows = admin
            .query(
                "SELECT 1 FROM pg_database WHERE datname = $1",
                &[&self.name],
            )
            .await
            .expect("query pg_database");
        !rows.is_empty()
    }
}

fn utf8_percent(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'_')
        .remove(b'-')
        .remove(b'.');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let base = self.base.clone();
        let name = self.name.clone();
        // Drop can't await; a private runtime on its own thread can.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                let (client, conn) = tokio_postgres::connect(base.as_str(), NoTls).await.ok()?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                let quoted = format!("\"{}\"", name.replace('"', "\"\""));
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// A private PostgreSQL cluster on a free port with scram-sha-256 password authentication
/// over TCP (the unix socket stays trust, for the test's own superuser connection).
pub struct PrivateCluster {
    dir: tempfile::TempDir,
    data: PathBuf,
    pub port: u16,
}

impl PrivateCluster {
    pub fn start() -> PrivateCluster {
        let dir = tempfile::Builder::new()
            .prefix("dra-pg-")
            .tempdir()
            .expect("tempdir");
        set_mode(dir.path(), 0o777);
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, "superpw\n").expect("write pwfile");
        set_mode(&pwfile, 0o644);
        let status = as_pg_user(&pg_bin("initdb"))
            .args([
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("run initdb");
        assert!(
            status.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        let port = free_port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.path().display()
        );
        let out = as_pg_user(&pg_bin("pg_ctl"))
            .args(["-D", &data.to_string_lossy(), "-w", "-t", "60", "-l"])
            .arg(dir.path().join("log"))
            .args(["-o", &opts, "start"])
            .output()
            .expect("run pg_ctl");
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(dir.path().join("log")).unwrap_or_default()
        );
        PrivateCluster { dir, data, port }
    }

    /// Superuser client over the unix socket (trust).
    pub async fn superuser(&self) -> Client {
        connect(&format!(
            "host={} port={} user=postgres dbname=postgres",
            self.dir.path().display(),
            self.port
        ))
        .await
    }

    /// Try a TCP password login; `Err` carries the server's message.
    pub async fn login(&self, user: &str, password: &str) -> Result<(), String> {
        let conn = format!("host=127.0.0.1 port={} user={user} password='{password}' dbname=postgres connect_timeout=5", self.port);
        match tokio_postgres::connect(&conn, NoTls).await {
            Ok((client, c)) => {
                tokio::spawn(async move {
                    let _ = c.await;
                });
                client
                    .simple_query("SELECT 1")
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e
                .as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_else(|| e.to_string())),
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = as_pg_user(&pg_bin("pg_ctl"))
            .args([
                "-D",
                &self.data.to_string_lossy(),
                "-m",
                "immediate",
                "stop",
            ])
            .output();
    }
}

/// A PostgreSQL server binary: `$PG_BIN/<name>`, else the newest /usr/lib/postgresql/*/bin,
/// else PATH.
pub fn pg_bin(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return Path::new(&dir).join(name);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin").join(name))
                .filter(|p| p.exists())
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions.pop().unwrap_or_else(|| PathBuf::from(name))
}

/// initdb refuses to run as root: run server tools as `postgres` when we are root.
fn as_pg_user(program: &Path) -> Command {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if is_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The certificate a private cluster presents when TLS is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerCert {
    /// Signed by a fresh test CA, for `127.0.0.1` and `localhost`.
    CaSigned,
    /// Self-signed for `localhost` only (subjectAltName, `CA:FALSE`), like the "snakeoil"
    /// certificate Debian's PostgreSQL package installs (`make-ssl-cert`).
    Snakeoil,
    /// Self-signed with only a Common Name of `localhost` and openssl's default `CA:TRUE`:
    /// the recipe in PostgreSQL's documentation (`openssl req -new -x509 … -subj /CN=…`).
    DocsRecipe,
}

impl PrivateCluster {
    /// Turn on TLS with a fresh certificate of the given kind; returns the PEM certificate
    /// a client must trust to verify it (the CA, or the self-signed certificate itself).
    pub async fn enable_tls(&self, kind: ServerCert) -> PathBuf {
        let d = self.dir.path();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .expect("run openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let self_signed = |extra: &[&str]| {
            let mut args = vec![
                "req",
                "-new",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
                "-keyout",
                "server.key",
                "-out",
                "server.pem",
            ];
            args.extend_from_slice(extra);
            run(&args);
        };
        let trusted = match kind {
            ServerCert::CaSigned => {
                run(&[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=dra test CA",
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                ]);
                std::fs::write(
                    d.join("san.ext"),
                    "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
                )
                .unwrap();
                run(&[
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-subj",
                    "/CN=127.0.0.1",
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                ]);
                run(&[
                    "x509",
                    "-req",
                    "-in",
                    "server.csr",
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-extfile",
                    "san.ext",
                    "-out",
                    "server.pem",
                ]);
                d.join("ca.pem")
            }
            ServerCert::Snakeoil => {
                self_signed(&[
                    "-addext",
                    "subjectAltName=DNS:localhost",
                    "-addext",
                    "basicConstraints=CA:FALSE",
                ]);
                d.join("server.pem")
            }
            ServerCert::DocsRecipe => {
                self_signed(&[]);
                d.join("server.pem")
            }
        };
        // PostgreSQL insists its key is private to the server's user.
        let _ = Command::new("chown")
            .args(["postgres", "server.key", "server.pem"])
            .current_dir(d)
            .status();
        set_mode(&d.join("server.key"), 0o600);
        set_mode(&d.join("server.pem"), 0o644);
        let su = self.superuser().await;
        for sql in [
            format!(
                "ALTER SYSTEM SET ssl_cert_file = '{}'",
                d.join("server.pem").display()
            ),
            format!(
                "ALTER SYSTEM SET ssl_key_file = '{}'",
                d.join("server.key").display()
            ),
            "ALTER SYSTEM SET ssl = on".to_string(),
        ] {
            su.batch_execute(&sql).await.expect("configure ssl");
        }
        self.reload().await;
        // The postmaster reloads asynchronously; a new backend sees the new settings once
        // it has, and by then the TLS context is loaded too.
        self.wait_until("ssl on", || async move {
            let su = self.superuser().await;
            let row = su.query_one("SHOW ssl", &[]).await.expect("show ssl");
            row.get::<_, String>(0) == "on"
        })
        .await;
        trusted
    }

    /// Accept TCP logins only over TLS (`hostssl` lines in pg_hba.conf).
    pub async fn require_tls_in_hba(&self) {
        let path = self.data.join("pg_hba.conf");
        let hba = std::fs::read_to_string(&path).expect("read pg_hba.conf");
        let hba: String = hba
            .lines()
            .map(|l| match l.strip_prefix("host ") {
                Some(rest) => format!("hostssl {rest}\n"),
                None => format!("{l}\n"),
            })
            .collect();
        std::fs::write(&path, hba).expect("write pg_hba.conf");
        self.reload().await;
        self.wait_until("plain TCP refused", || async move {
            self.login("postgres", "superpw")
                .await
                .is_err_and(|e| e.contains("pg_hba.conf"))
        })
        .await;
    }

    async fn reload(&self) {
        self.superuser()
            .await
            .query("SELECT pg_reload_conf()", &[])
            .await
            .expect("reload");
    }

    /// Poll `ready` for up to ten seconds.
    async fn wait_until<F, Fut>(&self, what: &str, ready: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !ready().await {
            assert!(
                std::time::Instant::now() < deadline,
                "cluster not ready after 10s: {what}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
