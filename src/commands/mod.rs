//! One module per subcommand. Each builds services from the configuration, calls the
//! library and renders the result; nothing else.

mod completions;
mod config;
mod create_database;
mod fetch;
mod grant_permissions;
mod identity;
mod logs;
mod mcp;
mod migrate;
mod models;
mod research;
mod search;
mod serve;
mod tools;
mod wait_lakebase;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use dra::config::{self as cfg, AppConfig, ConfigError, Env, PathOrigin};
use dra::databricks::{ApiError, AuthError, AuthOptions, DatabricksAuth, WorkspaceClient};
use dra::db::target::Backend;
use dra::db::wait::WaitError;
use dra::db::{ConnectionTarget, DbError, TokenError};
use dra::search::SearchError;
use dra::web::{ClientError, FetchError};

use crate::cli::{Cli, Command, DatabaseTarget};

/// Run the parsed command line.
pub async fn run(mut cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Research(args) = &mut cli.command {
        research::read_query(args)?;
    }
    if let Command::Completions { shell } = cli.command {
        completions::run(shell);
        return Ok(ExitCode::SUCCESS);
    }
    let (path, origin) = config_location(&cli);
    let env: Env = std::env::vars().collect();
    if let Command::Config(sub) = &cli.command {
        return Ok(config::run(sub, &path, origin, &env));
    }
    let mut loaded = cfg::load(&path, origin, &env)?;
    warn_unknown_keys(&loaded);
    if let Command::Research(args) = &cli.command {
        if let Some(model) = &args.model {
            loaded.config.llm.model = Some(model.clone());
        }
        research::add_docs(&mut loaded.config.tools.local_docs, &args.docs)?;
    }
    if let Command::Tools(args) = &cli.command {
        research::add_docs(&mut loaded.config.tools.local_docs, &args.docs)?;
    }
    let auth = AuthOptions {
        host: loaded.config.databricks.host.clone(),
        profile: cli
            .profile
            .clone()
            .or(loaded.config.databricks.profile.clone()),
    };
    if matches!(
        cli.command,
        Command::Research(_) | Command::Serve(_) | Command::Models(_) | Command::Mcp(_)
    ) {
        let config = &mut loaded.config;
        let databricks = DatabricksAuth::resolve(&auth, &env)
            .map(|_| ())
            .map_err(|e| e.to_string());
        let ollama = dra::llm::local::ollama_base_url(env.get("OLLAMA_HOST").map(String::as_str));
        match dra::llm::local::prepare(&mut config.llm, &mut config.endpoints, databricks, &ollama)
            .await
        {
            Ok(notice) => {
                if let Some(notice) = notice {
                    eprintln!("{notice}");
                }
            }
            // The server starts without a model (its health check says so); the UI and the
            // stored chats still work.
            Err(e) if matches!(cli.command, Command::Serve(_) | Command::Mcp(_)) => {
                eprintln!("warning: {e}");
            }
            Err(e) => return Err(e.into()),
        }
    }
    let ctx = Context {
        auth,
        config: loaded.config,
        env,
    };
    match cli.command {
        Command::Migrate(args) => migrate::run(&ctx, args).await,
        Command::CreateDatabase(args) => create_database::run(&ctx, args).await,
        Command::WaitLakebase(args) => wait_lakebase::run(&ctx, args).await,
        Command::GrantPermissions(args) => grant_permissions::run(&ctx, args).await,
        Command::Logs(args) => logs::run(&ctx, &args).await,
        Command::Fetch(args) => fetch::run(&ctx, args).await,
        Command::Search(args) => search::run(&ctx, args).await,
        Command::Tools(args) => tools::run(&ctx, args).await,
        Command::Mcp(args) => mcp::run(&ctx, args).await,
        Command::Models(args) => models::run(&ctx, args).await,
        Command::Research(args) => research::run(&ctx, args).await,
        Command::Serve(args) => serve::run(&ctx, &args).await,
        Command::Config(_) | Command::Completions { .. } => Ok(ExitCode::SUCCESS),
    }
}

/// The configuration file's `tracing` section and Databricks auth options, for setting up
/// span export before logging starts (so before [`run`] loads the file for the command).
/// A file that does not load gives the defaults here; `run` reports its problems.
pub fn tracing_setup(cli: &Cli, env: &Env) -> (cfg::TracingSection, AuthOptions) {
    let none = || AuthOptions {
        host: None,
        profile: cli.profile.clone(),
    };
    if matches!(cli.command, Command::Completions { .. }) {
        return (cfg::TracingSection::default(), none());
    }
    let (path, origin) = config_location(cli);
    match cfg::load(&path, origin, env) {
        Ok(loaded) => (
            loaded.config.tracing,
            AuthOptions {
                host: loaded.config.databricks.host.clone(),
                profile: cli.profile.clone().or(loaded.config.databricks.profile),
            },
        ),
        Err(_) => (cfg::TracingSection::default(), none()),
    }
}

fn config_location(cli: &Cli) -> (PathBuf, PathOrigin) {
    match &cli.config {
        Some(p) => (p.clone(), PathOrigin::Explicit),
        None => (PathBuf::from(cfg::DEFAULT_CONFIG_PATH), PathOrigin::Default),
    }
}

/// What every command gets: configuration, environment and how to authenticate.
pub struct Context {
    pub config: AppConfig,
    pub env: Env,
    pub auth: AuthOptions,
}

/// The configured private sources and MCP tools, built (folders indexed, servers
/// connected) before any run; one line per source on stderr unless `quiet`.
pub async fn build_tools(
    ctx: &Context,
    embeddings: Option<dra::llm::EmbeddingsClient>,
    quiet: bool,
) -> anyhow::Result<dra::tools::Toolset> {
    let built = dra::tools::build::build(
        &ctx.config.tools,
        dra::tools::build::BuildDeps {
            workspace: || ctx.workspace(),
            embeddings,
        },
    )
    .await?;
    if !quiet {
        for line in &built.summary {
            eprintln!("tools: {line}");
        }
    }
    Ok(built.toolset)
}

impl Context {
    /// A workspace client with credentials resolved now.
    pub fn workspace(&self) -> Result<WorkspaceClient, AuthError> {
        let auth = DatabricksAuth::resolve(&self.auth, &self.env)?;
        tracing::info!(
            host = auth.host(),
            source = auth.source(),
            "Databricks credentials resolved"
        );
        Ok(WorkspaceClient::new(std::sync::Arc::new(auth)))
    }

    /// The Lakebase instance named by `--instance` or the configuration.
    pub fn instance(&self, flag: &DatabaseTarget) -> anyhow::Result<String> {
        flag.instance
            .clone()
            .or_else(|| self.config.lakebase.instance_name.clone())
            .context("no Lakebase instance: pass --instance NAME or set LAKEBASE_INSTANCE_NAME")
    }

    /// Where to connect: `--instance` forces Lakebase; else the configured backend.
    pub async fn target(&self, flag: &DatabaseTarget) -> anyhow::Result<ConnectionTarget> {
        let backend = match &flag.instance {
            Some(instance) => Backend::Lakebase {
                instance: instance.clone(),
            },
            None => Backend::from_config(&self.config)?,
        };
        Ok(match backend {
            Backend::Url(url) => ConnectionTarget::from_url(&url, &self.config, &self.env)?,
            Backend::Lakebase { instance } => {
                let client = self.workspace()?;
                ConnectionTarget::lakebase(&client, &instance, &self.config, &self.env).await?
            }
        })
    }

    /// The application database name: the flag; else, with `--instance`,
    /// `LAKEBASE_DATABASE` / `lakebase.database` (the deploy pipeline names the database it
    /// made); else the target's own: the URL's database, or for the configured Lakebase
    /// the `PGDATABASE` a Databricks App's database resource injects, falling back to
    /// `lakebase.database`. In an app the resource is the truth: app.yaml's
    /// `LAKEBASE_DATABASE` can go stale when the bundle deploys another database.
    pub fn database_name(
        &self,
        flag: Option<&str>,
        target: &ConnectionTarget,
        via_instance: bool,
    ) -> String {
        if let Some(name) = flag {
            return name.to_string();
        }
        if via_instance {
            return self.config.lakebase.database.clone();
        }
        target.database.clone()
    }
}

fn warn_unknown_keys(loaded: &cfg::LoadedConfig) {
    if loaded.unknown_keys.is_empty() {
        return;
    }
    let keys: Vec<&str> = loaded.unknown_keys.iter().map(|k| k.0.as_str()).collect();
    let path = loaded
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    eprintln!(
        "warning: {path}: ignoring keys this version of dra does not use: {} (run `dra config check` for details)",
        keys.join(", ")
    );
}

/// A command line that parsed but cannot be run as given (exit code 2, as clap's own
/// usage errors).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Map an error to the documented exit code (see `dra --help`).
pub fn exit_code(e: &anyhow::Error) -> ExitCode {
    for cause in e.chain() {
        if cause.downcast_ref::<UsageError>().is_some() {
            return ExitCode::from(2);
        }
        if cause.downcast_ref::<ConfigError>().is_some() {
            return ExitCode::from(3);
        }
        if let Some(f) = cause.downcast_ref::<FetchError>() {
            return ExitCode::from(match f {
                FetchError::InvalidUrl { .. } => 2,
                _ => 8,
            });
        }
        if cause.downcast_ref::<ClientError>().is_some() {
            return ExitCode::from(8);
        }
        if cause.downcast_ref::<SearchError>().is_some() {
            return ExitCode::from(9);
        }
        if let Some(w) = cause.downcast_ref::<WaitError>() {
            return ExitCode::from(match w {
                WaitError::NoSuchInstance { .. } => 7,
                WaitError::GaveUp { .. } => 6,
                WaitError::Fatal(d) => db_code(d),
            });
        }
        if let Some(d) = cause.downcast_ref::<DbError>() {
            return ExitCode::from(db_code(d));
        }
        if let Some(a) = cause.downcast_ref::<ApiError>() {
            return ExitCode::from(api_code(a));
        }
        if cause.downcast_ref::<AuthError>().is_some() {
            return ExitCode::from(4);
        }
        if let Some(l) = cause.downcast_ref::<dra::llm::LlmError>() {
            return ExitCode::from(match l {
                dra::llm::LlmError::NotConfigured(_) | dra::llm::LlmError::UnknownTier { .. } => 3,
                dra::llm::LlmError::Credentials(_) => 4,
                _ => 10,
            });
        }
        if let Some(TokenError::Credential { source, .. }) = cause.downcast_ref::<TokenError>() {
            return ExitCode::from(api_code(source));
        }
    }
    ExitCode::FAILURE
}

fn db_code(e: &DbError) -> u8 {
    match e {
        DbError::Api(a) => api_code(a),
        DbError::Token(TokenError::Credential { source, .. }) => api_code(source),
        DbError::NoSuchRole(_) | DbError::ChatNotFound(_) => 7,
        _ => 5,
    }
}

fn api_code(e: &ApiError) -> u8 {
    match e {
        ApiError::NotFound { .. } => 7,
        _ => 4,
    }
}
