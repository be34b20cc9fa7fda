//! Running the `dra` binary with a clean environment.

use std::path::{Path, PathBuf};

/// Captured result of one `dra` run.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.code == 0
    }

    /// The output of a spawned `dra` once it exits.
    pub async fn of(child: tokio::process::Child) -> Output {
        child.wait_with_output().await.expect("wait for dra").into()
    }
}

impl From<std::process::Output> for Output {
    fn from(out: std::process::Output) -> Output {
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// A `dra` invocation with no ambient Databricks/PostgreSQL settings, HOME in a temp dir
/// and the fast test config.
pub struct Dra {
    cmd: tokio::process::Command,
    pub home: tempfile::TempDir,
}

/// Ambient settings no test run may inherit from the developer's shell.
pub const SCRUBBED: &[&str] = &[
    "DATABRICKS_HOST",
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_ID",
    "DATABRICKS_CLIENT_SECRET",
    "DATABRICKS_CONFIG_PROFILE",
    "DATABRICKS_CONFIG_FILE",
    "DATABASE_URL",
    "LAKEBASE_INSTANCE_NAME",
    "LAKEBASE_DATABASE",
    "LAKEBASE_PORT",
    "LAKEBASE_USER",
    "PGHOST",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGPASSWORD",
    "PGSSLMODE",
    "PGSSLROOTCERT",
    "APP_CONFIG_PATH",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "RUST_LOG",
    "BRAVE_API_KEY",
    "BRAVE_BASE_URL",
    "SEARXNG_URL",
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
    "OLLAMA_HOST",
    "OPENAI_API_KEY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_SERVICE_NAME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
];

impl Dra {
    pub fn new<I, S>(args: I) -> Dra
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let home = tempfile::tempdir().expect("home tempdir");
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_dra"));
        for v in SCRUBBED {
            cmd.env_remove(v);
        }
        cmd.env("HOME", home.path())
            .env("APP_CONFIG_PATH", config_path("app.test.yaml"))
            // No Ollama: nothing listens on port 1, whatever this machine runs on 11434.
            .env("OLLAMA_HOST", "127.0.0.1:1")
            .args(args)
            .kill_on_drop(true);
        Dra { cmd, home }
    }

    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Dra {
        self.cmd.env(k, v);
        self
    }

    /// Run in `dir` (the default config path is relative to it).
    pub fn current_dir(mut self, dir: &std::path::Path) -> Dra {
        self.cmd.current_dir(dir);
        self
    }

    pub fn env_remove(mut self, k: &str) -> Dra {
        self.cmd.env_remove(k);
        self
    }

    /// Point Databricks auth at a fake workspace with its PAT, Lakebase TLS off.
    pub fn workspace(self, ws: &super::FakeWorkspace) -> Dra {
        self.env("DATABRICKS_HOST", &ws.url)
            .env("DATABRICKS_TOKEN", super::workspace::PAT)
            .env("PGSSLMODE", "disable")
    }

    /// The command as configured (and the HOME it must outlive), for a caller that wires
    /// its standard streams itself, such as an MCP client transport.
    pub fn into_command(self) -> (tokio::process::Command, tempfile::TempDir) {
        (self.cmd, self.home)
    }

    /// Start `dra` with stdout and stderr piped, to signal it while it runs.
    pub fn spawn(mut self) -> (tokio::process::Child, tempfile::TempDir) {
        self.cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        (self.cmd.spawn().expect("spawn dra"), self.home)
    }

    /// Run `dra` on a pseudo-terminal (util-linux `script`), typing `input`; stdout and
    /// stderr both come back as `stdout`, as a terminal shows them.
    pub async fn run_in_terminal(self, input: &str) -> Output {
        use tokio::io::AsyncWriteExt;
        let std = self.cmd.as_std();
        let quote =
            |a: &std::ffi::OsStr| format!("'{}'", a.to_string_lossy().replace('\'', "'\\''"));
        let line = std::iter::once(quote(std.get_program()))
            .chain(std.get_args().map(quote))
            .collect::<Vec<_>>()
            .join(" ");
        let mut script = tokio::process::Command::new("script");
        script.args(["-qec", &line, "/dev/null"]);
        for (k, v) in std.get_envs() {
            match v {
                Some(v) => script.env(k, v),
                None => script.env_remove(k),
            };
        }
        script
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = script.spawn().expect("run script(1)");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).await.expect("type input");
        drop(stdin);
        Output::of(child).await
    }

    pub async fn run(mut self) -> Output {
        self.cmd.output().await.expect("run dra").into()
    }
}

pub fn config_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name)
}

/// Write a fake `databricks` executable into `dir/bin` that answers `auth token` with
/// `token` and records its arguments in `dir/cli-args.log`. Returns a PATH value with it
/// first.
pub fn fake_databricks_cli(dir: &Path, token: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir bin");
    let log = dir.join("cli-args.log");
    let script = format!(
        "#!/bin/sh\necho \"$@\" >> '{log}'\nif [ \"$1 $2\" = \"auth token\" ]; then\n  printf '{{\"access_token\":\"{token}\",\"token_type\":\"Bearer\",\"expiry\":\"2099-01-01T00:00:00Z\"}}\\n'\n  exit 0\nfi\necho \"Error: unknown command $1\" >&2\nexit 1\n",
        log = log.display()
    );
    let path = bin.join("databricks");
    std::fs::write(&path, script).expect("write fake cli");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}
