//! The command line: every subcommand and flag, with help text and examples.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use dra::search::{Freshness, ProviderKind};
use dra::telemetry::LogFormat;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  failure (including `dra config check` finding problems)
  2  usage error (unknown flag, bad argument)
  3  invalid configuration file
  4  Databricks authentication or workspace API error
  5  database error (cannot connect, query or migration failed)
  6  gave up waiting (`dra wait-lakebase`)
  7  not found (Lakebase instance, app, role, chat)
  8  fetching a page failed (network, HTTP status, timeout, too large, unreadable,
     blocked private address)
  9  search provider error (no key or URL, key refused, rate limited, unreachable)
  10 LLM endpoint error (`dra models --check`, every endpoint of a tier failed)
  11 the question needs clarification (`dra research`; questions printed)
  130 interrupted with Ctrl-C (`dra research` still prints and writes the partial report)";

/// dra: a deep-research agent for Databricks, and the tools that deploy it.
#[derive(Debug, Parser)]
#[command(name = "dra", version, about, after_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    /// Configuration file [default: config/app.yaml; the built-in copy of the shipped one if it is missing].
    #[arg(long, global = true, env = "APP_CONFIG_PATH", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Databricks CLI profile in ~/.databrickscfg, used before any environment credentials.
    /// (DATABRICKS_CONFIG_PROFILE is honoured too, after DATABRICKS_HOST/TOKEN and
    /// DATABRICKS_CLIENT_ID/SECRET.)
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// Log level or filter: error, warn, info, debug, trace, or e.g. `dra=debug,info`
    /// [default: RUST_LOG, else warn].
    #[arg(long, global = true, env = "LOG_LEVEL", value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Log line format (logs go to stderr).
    #[arg(
        long,
        global = true,
        env = "LOG_FORMAT",
        value_enum,
        default_value = "text",
        value_name = "FORMAT"
    )]
    pub log_format: LogFormat,

    /// Export research spans over OTLP/HTTP to this base URL (`/v1/traces` is appended),
    /// e.g. http://localhost:4318 [default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    /// OTEL_EXPORTER_OTLP_ENDPOINT, else `tracing.otlp_endpoint`; off when none is set].
    #[arg(long, global = true, value_name = "URL")]
    pub otlp_endpoint: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply, list or revert database schema migrations.
    #[command(
        after_help = "Examples:\n  dra migrate\n  dra migrate --status\n  dra migrate revert --steps 1\n  DATABASE_URL=postgres://postgres@localhost/deep_research dra migrate"
    )]
    Migrate(MigrateArgs),

    /// Create the application database on the server if it does not exist.
    #[command(
        after_help = "Examples:\n  dra create-database --instance deep-research-lakebase\n  dra create-database --database deep_research"
    )]
    CreateDatabase(CreateDatabaseArgs),

    /// Wait until a Lakebase instance is AVAILABLE and accepts a real connection.
    #[command(
        after_help = "Examples:\n  dra wait-lakebase --instance deep-research-lakebase\n  dra wait-lakebase --retries 30 --delay 5s"
    )]
    WaitLakebase(WaitLakebaseArgs),

    /// Grant an app's service principal (or any role) full use of the schema.
    #[command(
        after_help = "Examples:\n  dra grant-permissions --app deep-research-agent-dev\n  dra grant-permissions --principal 6f0e2c1a-0000-4d2e-9b1c-3a5d7e9f0a1b --database deep_research"
    )]
    GrantPermissions(GrantPermissionsArgs),

    /// Print a Databricks App's logs (its /logz/batch), optionally following them.
    #[command(
        after_help = "Examples:\n  dra logs --app deep-research-agent-dev\n  dra logs --app deep-research-agent-dev --follow --search ERROR\n\nUses the same Databricks credentials as the other commands (DATABRICKS_HOST and a token,\nOAuth M2M, or a profile in ~/.databrickscfg)."
    )]
    Logs(LogsArgs),

    /// Research a question: plan, search, read, reflect and write a cited report.
    #[command(
        after_help = "Examples:\n  dra research \"How fast are river deltas losing wetlands?\"\n  dra research --depth extended --out report/ \"State of sodium-ion batteries in 2026\"\n  echo \"question\" | dra research - --no-clarify --format json > run.json\n  dra research --timeout 10m --max-tokens 400000 --model-tier synthesizer=complex \"…\"\n  dra research --chat 1b4e28ba-2fa1-11d2-883f-0016d3cca427 \"And in Asia?\"\n  dra research --search-provider wikipedia \"History of the printing press\"\n  dra research --mode simple \"What is a river delta?\"   # no search, so no search setup needed\n\nSearch: Brave when BRAVE_API_KEY is set, else SearXNG when SEARXNG_URL is set, else Wikipedia\n(no key; search.wikipedia.language picks the wiki, e.g. de). --search-provider or\nsearch.provider chooses outright. --mode simple answers from the model alone.\n\nSaving: with DATABASE_URL or a Lakebase instance configured, each run is stored as a chat\n(`saved as chat <id>` on stderr) that `dra serve` shows; --no-save skips it.\n\nOn a terminal, clarifying questions are asked interactively (--yes or --no-clarify skips them);\notherwise exit code 11 means the question needs clarification (the questions are printed).\nCtrl-C stops the run, prints and writes what was gathered as a partial report and exits 130;\na second Ctrl-C quits at once. Exit code 7: the --chat is not one of yours."
    )]
    Research(ResearchArgs),

    /// Serve the browser UI and the REST API (`/api/v1`, as the original's frontend
    /// expects) as a Databricks App or locally.
    #[command(
        after_help = "Examples:\n  dra serve\n  DATABASE_URL=postgres://postgres@localhost/deep_research dra serve --port 8080\n  APP_ENV=production dra serve\n\nIdentity: behind the Databricks Apps proxy, each request's user comes from its\nX-Forwarded-Email (or X-Forwarded-Preferred-Username, X-Forwarded-User) header. In\nproduction (APP_ENV=production or --production) a request without one gets 401; in\ndevelopment it acts as --local-user (default: the CLI's user).\n\nUI: the browser UI built into the binary is served at / (SERVE_STATIC=false turns it off);\n--static-dir serves another one, e.g. a built React app, from disk.\n\nSIGTERM or Ctrl-C stops accepting connections and lets requests in flight finish (30 s)."
    )]
    Serve(ServeArgs),

    /// Search the web and print the hits the research engine would see.
    #[command(
        after_help = "Examples:\n  dra search \"lakebase pricing\"\n  dra search \"rust async runtimes\" --count 5 --freshness pw --json\n  SEARXNG_URL=http://localhost:8888 dra search --provider searxng \"databricks apps\"\n  dra search --provider wikipedia \"river delta\"   # no key needed"
    )]
    Search(SearchArgs),
    /// List the private sources and MCP tools under `tools:` (folders indexed, servers
    /// connected, as a run would); `--query` asks each of them once.
    #[command(
        after_help = "Examples:\n  dra tools\n  dra tools --docs ./handbook --query \"remote work policy\"\n  dra tools --query \"spark 4 defaults\" --json | jq '.results[].passages[].uri'"
    )]
    Tools(ToolsArgs),
    /// List the model tiers and endpoints; `--check` sends each endpoint a one-word prompt.
    #[command(
        after_help = "Examples:\n  dra models\n  dra models --check\n  OPENAI_BASE_URL=http://localhost:11434/v1 dra models --check --json"
    )]
    Models(ModelsArgs),

    /// Check or show the configuration.
    #[command(
        subcommand,
        after_help = "Examples:\n  dra config check\n  dra --config config/app.test.yaml config show"
    )]
    Config(ConfigCommand),

    /// Fetch one web page and print the text the research engine would read from it.
    #[command(
        after_help = "Examples:\n  dra fetch https://en.wikipedia.org/wiki/Rust_(programming_language)\n  dra fetch https://example.com/report.pdf --max-chars 0\n  dra fetch https://example.com/post --json | jq .published"
    )]
    Fetch(FetchArgs),

    /// Offer dra to other agents as an MCP server on stdin/stdout: the tools `research`
    /// (a cited report), `search` (web hits) and `fetch` (a page's text).
    #[command(
        after_help = "Examples:\n  dra mcp\n  dra --config /etc/dra/app.yaml mcp --user alice@example.com\n\nAn MCP client starts it and speaks JSON-RPC on its stdin and stdout; logs go to stderr.\nIn Claude Desktop's claude_desktop_config.json:\n  {\"mcpServers\": {\"dra\": {\"command\": \"dra\", \"args\": [\"mcp\"],\n    \"env\": {\"DATABRICKS_HOST\": \"https://…\", \"DATABRICKS_TOKEN\": \"…\"}}}}\n\nIt uses the same configuration as `dra research` (model endpoints, search provider, web\nlimits, tools:). `research` sends MCP progress notifications when the client asks for\nthem and stops with a partial report when the client cancels the call. Runs are not saved. See docs/mcp.md."
    )]
    Mcp(McpArgs),

    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  dra completions bash > ~/.local/share/bash-completion/completions/dra\n  dra completions zsh > ~/.zfunc/_dra"
    )]
    Completions {
        /// The shell to generate completions for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Where the database commands connect.
#[derive(Debug, Args)]
pub struct DatabaseTarget {
    /// Lakebase instance (overrides LAKEBASE_INSTANCE_NAME and DATABASE_URL).
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub target: DatabaseTarget,

    /// Database to migrate [default: LAKEBASE_DATABASE / lakebase.database, or DATABASE_URL's].
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,

    /// List every migration and whether it is applied; change nothing.
    #[arg(long)]
    pub status: bool,

    #[command(subcommand)]
    pub action: Option<MigrateAction>,
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Revert the most recently applied migrations.
    #[command(after_help = "Example:\n  dra migrate revert --steps 2")]
    Revert {
        /// How many migrations to revert.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        steps: u32,
    },
}

#[derive(Debug, Args)]
pub struct CreateDatabaseArgs {
    #[command(flatten)]
    pub target: DatabaseTarget,

    /// Database to create [default: LAKEBASE_DATABASE / lakebase.database, or DATABASE_URL's].
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
}

#[derive(Debug, Args)]
pub struct WaitLakebaseArgs {
    #[command(flatten)]
    pub target: DatabaseTarget,

    /// Attempts before giving up.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub retries: u32,

    /// Pause between attempts, e.g. 10s, 500ms, 1m.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub delay: Duration,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("grantee").required(true).args(["app", "principal"])))]
pub struct GrantPermissionsArgs {
    #[command(flatten)]
    pub target: DatabaseTarget,

    /// Databricks App whose service principal gets access (exact name).
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,

    /// PostgreSQL role to grant to, e.g. a service principal's application id.
    #[arg(long, value_name = "ROLE")]
    pub principal: Option<String>,

    /// Database to grant on [default: LAKEBASE_DATABASE / lakebase.database, or DATABASE_URL's].
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The app whose logs to print (exact name, as `databricks apps list` shows it).
    #[arg(long, value_name = "NAME")]
    pub app: String,

    /// Keep printing new lines until interrupted.
    #[arg(long, short = 'f')]
    pub follow: bool,

    /// Only lines containing TERM (case-insensitive).
    #[arg(long, value_name = "TERM")]
    pub search: Option<String>,

    /// How often --follow asks for new lines.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = humantime::parse_duration)]
    pub interval: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Whom the runs are for, in traces [default: $USER].
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The page to fetch (http or https).
    #[arg(value_name = "URL")]
    pub url: String,

    /// Print the whole page (metadata and full text) as JSON instead.
    #[arg(long)]
    pub json: bool,

    /// Show at most this many characters of the text; 0 shows all of it.
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub max_chars: usize,
}

#[derive(Debug, Args)]
pub struct ToolsArgs {
    /// Ask every tool that takes a query this, once, and print what it returns.
    #[arg(long, value_name = "TEXT")]
    pub query: Option<String>,

    /// Also index this folder, as `dra research --docs` does (repeatable).
    #[arg(long, value_name = "DIR")]
    pub docs: Vec<std::path::PathBuf>,

    /// Print JSON instead.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to search for.
    pub query: String,

    /// Number of hits [default: search.brave.default_result_count]; Brave returns at most 20.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=20))]
    pub count: Option<u32>,

    /// Zero-based page of results to return (page size = --count); Brave allows 0 to 9.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub offset: u32,

    /// Only results from the past day, week, month or year [default: search.brave.freshness].
    #[arg(long, value_enum, value_name = "WHEN", conflicts_with = "any_time")]
    pub freshness: Option<Freshness>,

    /// No recency filter, whatever search.brave.freshness says.
    #[arg(long)]
    pub any_time: bool,

    /// Search provider [default: search.provider; auto: Brave with BRAVE_API_KEY, else
    /// SearXNG with SEARXNG_URL, else Wikipedia, which needs no key].
    #[arg(
        long,
        visible_alias = "search-provider",
        value_enum,
        value_name = "NAME"
    )]
    pub provider: Option<ProviderKind>,

    /// Print the hits as JSON (for scripts) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1, this machine only; 0.0.0.0 as a
    /// Databricks App (DATABRICKS_APP_PORT set) or in production].
    #[arg(long)]
    pub host: Option<String>,

    /// Port to listen on (Databricks Apps set DATABRICKS_APP_PORT).
    #[arg(long, env = "DATABRICKS_APP_PORT", default_value_t = 8000)]
    pub port: u16,

    /// Refuse requests without the proxy's identity headers (also APP_ENV=production).
    #[arg(long)]
    pub production: bool,

    /// In development, who requests without identity headers act as.
    #[arg(long, env = "DRA_USER", value_name = "EMAIL")]
    pub local_user: Option<String>,

    /// Serve the browser UI from this directory instead of the one built in (unknown
    /// paths outside /api get its index.html).
    #[arg(long, value_name = "DIR")]
    pub static_dir: Option<std::path::PathBuf>,
}

/// A question that is not blank; `-` (stdin) is checked once it is read.
fn question(raw: &str) -> Result<String, String> {
    if raw.trim().is_empty() {
        return Err(EMPTY_QUESTION.into());
    }
    Ok(raw.to_string())
}

/// Why a blank question is refused, and what to do instead.
pub const EMPTY_QUESTION: &str =
    "the question is empty: give it as an argument, or `-` to read it from stdin";

#[derive(Debug, Args)]
pub struct ResearchArgs {
    /// The question, or `-` to read it from stdin.
    #[arg(value_parser = question)]
    pub query: String,

    /// Set when the question was read from stdin (`-`), before the command runs.
    #[arg(skip)]
    pub query_from_stdin: bool,

    /// How to answer [default: the coordinator decides].
    #[arg(long, value_enum)]
    pub mode: Option<ResearchMode>,

    /// How deep to research.
    #[arg(long, value_enum, default_value = "auto")]
    pub depth: ResearchDepth,

    /// Where to search [default: search.provider; auto: Brave with BRAVE_API_KEY, else
    /// SearXNG with SEARXNG_URL, else Wikipedia, which needs no key].
    #[arg(long, value_enum, value_name = "NAME")]
    pub search_provider: Option<ProviderKind>,

    /// Also search the markdown, text, HTML and PDF files in this folder (recursively),
    /// cited as `file://` sources; adds to `tools.local_docs.paths`. Repeatable.
    #[arg(long, value_name = "DIR")]
    pub docs: Vec<std::path::PathBuf>,

    /// Write report.md, sources.json, usage.json and events.jsonl into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<std::path::PathBuf>,

    /// What to print on stdout.
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: OutputFormat,

    /// Also write every event, one JSON envelope per line, to this file.
    #[arg(long, value_name = "FILE.jsonl")]
    pub events: Option<std::path::PathBuf>,

    /// Never ask clarifying questions; research the question as written.
    #[arg(long)]
    pub no_clarify: bool,

    /// No progress output at all (errors still go to stderr).
    #[arg(short, long)]
    pub quiet: bool,

    /// Don't store this run, even though a database is configured (DATABASE_URL or
    /// Lakebase). Without a database nothing is stored anyway.
    #[arg(long)]
    pub no_save: bool,

    /// Ask a follow-up in this saved chat: its earlier messages are the context, and the
    /// new question and answer are added to it. Needs the database.
    #[arg(long, value_name = "ID")]
    pub chat: Option<dra::db::repo::ChatId>,

    /// Whose chat this is [default: the Databricks user when Databricks credentials are
    /// configured, else $USER@localhost].
    #[arg(long, env = "DRA_USER", value_name = "EMAIL")]
    pub user: Option<String>,

    /// Never prompt: research the question as written instead of asking its clarifying
    /// questions, and overwrite an --out directory that already holds a report.
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// The model to ask an OpenAI-compatible server (OPENAI_BASE_URL, or an Ollama found
    /// on 127.0.0.1:11434) for, in every tier [env: OPENAI_MODEL]. Without it: the one
    /// model the server lists.
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,

    /// Use a model tier for one agent (`planner=complex`) or for every agent (`complex`).
    /// Agents: coordinator, planner, researcher, reflector, synthesizer. Repeatable.
    #[arg(long, value_name = "[AGENT=]TIER", value_parser = parse_tier_override)]
    pub model_tier: Vec<TierOverride>,

    /// Stop researching when the run has used this many model tokens (prompt plus
    /// completion); the report is then written from what was gathered, marked partial.
    #[arg(long, value_name = "TOKENS")]
    pub max_tokens: Option<u64>,

    /// Verify every cited claim against its sources (the default when
    /// `citation_verification.enabled`): unsupported claims are softened, removed or marked
    /// per `citation_verification.unsupported_claims`.
    #[arg(long, overrides_with = "no_verify")]
    pub verify: bool,

    /// Skip claim verification: citations are only checked to point at fetched sources.
    #[arg(long, overrides_with = "verify")]
    pub no_verify: bool,

    /// Finish within this wall time (e.g. `10m`, `90s`): research stops in time for the
    /// report to be written, marked partial.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
}

/// `--model-tier [AGENT=]TIER`: `agent` is `None` for every agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierOverride {
    pub agent: Option<dra::research::agents::Agent>,
    pub tier: String,
}

fn parse_tier_override(spec: &str) -> Result<TierOverride, String> {
    use dra::research::agents::Agent;
    let (agent, tier) = match spec.split_once('=') {
        Some((agent, tier)) => {
            let names: Vec<&str> = Agent::WITH_MODEL.iter().map(|a| a.as_str()).collect();
            let agent = Agent::from_name(agent.trim())
                .filter(|a| Agent::WITH_MODEL.contains(a))
                .ok_or_else(|| {
                    format!(
                        "unknown agent `{}` (agents that use a model: {})",
                        agent.trim(),
                        names.join(", ")
                    )
                })?;
            (Some(agent), tier.trim())
        }
        None => (None, spec.trim()),
    };
    if tier.is_empty() {
        return Err("the tier is empty (e.g. `planner=complex` or `complex`)".into());
    }
    Ok(TierOverride {
        agent,
        tier: tier.to_string(),
    })
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ResearchMode {
    Simple,
    WebSearch,
    DeepResearch,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ResearchDepth {
    Auto,
    Light,
    Medium,
    Extended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Call every endpoint once and report latency or the error.
    #[arg(long)]
    pub check: bool,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration; exit 0 when usable, 1 when not.
    #[command(
        after_help = "Examples:\n  dra config check\n  APP_CONFIG_PATH=config/app.test.yaml dra config check"
    )]
    Check,
    /// Print the effective configuration (file + environment), secrets redacted.
    #[command(
        after_help = "Examples:\n  dra config show\n  DATABASE_URL=postgres://u:p@db/x dra config show   # password shown as ****"
    )]
    Show,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_has_an_example() {
        let cmd = Cli::command();
        for sub in cmd.get_subcommands() {
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(
                help.contains("Example"),
                "`dra {}` has no example in its help",
                sub.get_name()
            );
        }
    }
}
