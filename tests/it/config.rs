//! Configuration loading: every error names the file, the key, the value and what is allowed.

use std::path::Path;

use crate::support::Dra;
use dra::config::{load_str, Env, PgUser, SslMode};

fn env(pairs: &[(&str, &str)]) -> Env {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn error(yaml: &str, e: &Env) -> String {
    load_str(yaml, Path::new("config/app.yaml"), e)
        .unwrap_err()
        .to_string()
}

#[test]
fn type_errors_name_key_value_and_expectation() {
    insta::assert_snapshot!(
        "max_size_not_a_number",
        error("database:\n  pool:\n    max_size: lots\n", &Env::new())
    );
    insta::assert_snapshot!(
        "bad_sslmode",
        error("database:\n  sslmode: sometimes\n", &Env::new())
    );
    insta::assert_snapshot!(
        "bad_duration",
        error("lakebase:\n  token_refresh_buffer: soon\n", &Env::new())
    );
}

#[test]
fn range_and_relation_errors_are_all_reported() {
    let yaml = "database:\n  pool:\n    max_size: 0\n    max_lifetime: 2h\nlakebase:\n  token_refresh_buffer: 2h\n";
    insta::assert_snapshot!("ranges", error(yaml, &Env::new()));
}

#[test]
fn web_limits_are_checked() {
    let yaml = "web:\n  read_timeout: 0s\n  max_body_bytes: 10\n  max_concurrent: 2\n  max_per_host: 3\n  retries: 99\n";
    insta::assert_snapshot!("web_ranges", error(yaml, &Env::new()));
    let loaded = load_str(
        "web:\n  request_timeout: 90s\n  user_agent: test-agent\n",
        Path::new("app.yaml"),
        &Env::new(),
    )
    .unwrap();
    assert_eq!(loaded.config.web.request_timeout.as_secs(), 90);
    assert_eq!(loaded.config.web.user_agent, "test-agent");
    assert_eq!(
        loaded.config.web.max_redirects, 10,
        "unset keys keep defaults"
    );
}

#[test]
fn web_address_guard_keys_parse_and_bad_entries_name_the_key() {
    let defaults = load_str("", Path::new("app.yaml"), &Env::new()).unwrap();
    assert!(!defaults.config.web.allow_private_addresses);
    assert!(defaults.config.web.allowed_hosts.is_empty());
    let loaded = load_str(
        "web:\n  allow_private_addresses: true\n  allowed_hosts: [wiki.corp, \"127.0.0.1:8080\", 10.0.0.0/8]\n",
        Path::new("app.yaml"),
        &Env::new(),
    )
    .unwrap();
    assert!(loaded.config.web.allow_private_addresses);
    let hosts: Vec<String> = loaded
        .config
        .web
        .allowed_hosts
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(hosts, ["wiki.corp", "127.0.0.1:8080", "10.0.0.0/8"]);
    let msg = error("web:\n  allowed_hosts: [\"wiki.corp:8080\"]\n", &Env::new());
    assert!(
        msg.contains("web.allowed_hosts") && msg.contains("only an IP address takes a port"),
        "{msg}"
    );
}

#[test]
fn database_url_errors_mask_the_password() {
    let msg = error("database:\n  url: mysql://root:hunter2@db/x\n", &Env::new());
    assert!(
        msg.contains("database.url") && msg.contains("unsupported scheme `mysql`"),
        "{msg}"
    );
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[test]
fn environment_overrides_apply_and_bad_ones_name_the_variable() {
    let loaded = load_str(
        "lakebase:\n  database: from_file\n",
        Path::new("app.yaml"),
        &env(&[
            ("LAKEBASE_DATABASE", "from_env"),
            ("LAKEBASE_USER", "token"),
            ("PGSSLMODE", "verify-full"),
        ]),
    )
    .unwrap();
    assert_eq!(loaded.config.lakebase.database, "from_env");
    assert_eq!(loaded.config.lakebase.user, PgUser::Token);
    assert_eq!(loaded.config.database.sslmode, Some(SslMode::VerifyFull));

    insta::assert_snapshot!("bad_env_port", error("", &env(&[("LAKEBASE_PORT", "abc")])));
}

#[test]
fn interpolation_defaults_and_missing_variables() {
    let yaml = "lakebase:\n  instance_name: ${INSTANCE:-fallback}\n  port: ${PORT:-6543}\n";
    let loaded = load_str(yaml, Path::new("app.yaml"), &Env::new()).unwrap();
    assert_eq!(
        loaded.config.lakebase.instance_name.as_deref(),
        Some("fallback")
    );
    assert_eq!(loaded.config.lakebase.port, 6543);
    let loaded = load_str(
        yaml,
        Path::new("app.yaml"),
        &env(&[("INSTANCE", "real"), ("PORT", "7000")]),
    )
    .unwrap();
    assert_eq!(
        loaded.config.lakebase.instance_name.as_deref(),
        Some("real")
    );
    assert_eq!(loaded.config.lakebase.port, 7000);

    insta::assert_snapshot!(
        "missing_variable",
        error(
            "lakebase:\n  instance_name: ${NOT_SET_ANYWHERE}\n",
            &Env::new()
        )
    );
}

#[test]
fn yaml_syntax_errors_have_a_location() {
    insta::assert_snapshot!("syntax", error("lakebase:\n  port: [1, 2\n", &Env::new()));
    insta::assert_snapshot!("not_a_mapping", error("- just\n- a list\n", &Env::new()));
}

#[test]
fn the_originals_config_loads_with_unknown_sections_as_warnings() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/original-app.yaml"
    ))
    .unwrap();
    let loaded = load_str(&text, Path::new("original.yaml"), &Env::new()).unwrap();
    let keys: Vec<&str> = loaded.unknown_keys.iter().map(|k| k.0.as_str()).collect();
    assert_eq!(
        keys,
        ["prompt_caching"],
        "only what dra has no use for is reported"
    );
    // The original's `jobs` section is ours too.
    assert_eq!(loaded.config.jobs.max_concurrent_per_user, 2);
    assert_eq!(loaded.config.jobs.heartbeat_interval_seconds, 10);
    assert_eq!(loaded.config.jobs.zombie_threshold_seconds, 30);
    assert!(
        !keys.iter().any(|k| k.contains("citation_verification")),
        "citation_verification is understood, every key of it: {keys:?}"
    );
    let cv = &loaded.config.citation_verification;
    assert_eq!(
        cv.synthesis_mode,
        dra::citations::config::SynthesisMode::React
    );
    let extended = cv.for_depth(
        loaded
            .config
            .research_types
            .extended
            .citation_verification
            .as_ref(),
    );
    assert_eq!(
        extended.verification_retrieval.max_atomic_facts_per_claim,
        7
    );
    assert_eq!(extended.react_synthesis.max_tool_calls, 200);
    for known in ["default_role", "endpoints", "models", "rate_limiting"] {
        assert!(
            !keys.iter().any(|k| k.starts_with(known)),
            "{known} is implemented: {keys:?}"
        );
    }
    assert_eq!(
        loaded.config.models["complex"].endpoints,
        ["opus", "sonnet", "gpt5"]
    );
    assert_eq!(
        loaded.config.endpoints["gemini3pro"].max_context_window,
        1_000_000
    );
    // The `search` section is understood now, every key of it.
    assert!(
        !keys.iter().any(|k| k.starts_with("search")),
        "search keys reported as unknown: {keys:?}"
    );
    let search = &loaded.config.search;
    assert_eq!(search.brave.requests_per_second, 1.0);
    assert_eq!(search.brave.default_result_count, 10);
    assert_eq!(
        search.brave.freshness,
        Some(dra::search::Freshness::PastMonth)
    );
    assert_eq!(
        search.domain_filter.mode,
        dra::search::DomainFilterMode::Exclude
    );
    assert!(!search.domain_filter.log_filtered);
}

#[test]
fn unknown_nested_keys_are_reported_with_their_path() {
    let loaded = load_str(
        "database:\n  pool:\n    max_sise: 3\n",
        Path::new("app.yaml"),
        &Env::new(),
    )
    .unwrap();
    assert_eq!(loaded.unknown_keys[0].0, "database.pool.max_sise");
}

#[tokio::test]
async fn config_check_exits_0_or_1() {
    let ok = Dra::new(["config", "check"]).run().await;
    assert_eq!(ok.code, 0, "{ok:?}");
    assert!(ok.stdout.contains("app.test.yaml: OK"), "{}", ok.stdout);

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "database:\n  pool:\n    max_size: -1\n").unwrap();
    let out = Dra::new(["config", "check"])
        .env("APP_CONFIG_PATH", &bad)
        .run()
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("database.pool.max_size"),
        "{}",
        out.stderr
    );

    // Other commands refuse an invalid file with exit code 3.
    let out = Dra::new(["migrate"])
        .env("APP_CONFIG_PATH", &bad)
        .run()
        .await;
    assert_eq!(out.code, 3, "{out:?}");

    let out = Dra::new(["--config", "/nonexistent/app.yaml", "config", "check"])
        .run()
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("/nonexistent/app.yaml: cannot read config file"),
        "{}",
        out.stderr
    );

    let original = Dra::new(["config", "check"])
        .env(
            "APP_CONFIG_PATH",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/original-app.yaml"
            ),
        )
        .run()
        .await;
    assert_eq!(original.code, 0, "{original:?}");
    assert!(
        original
            .stderr
            .contains("unknown key `prompt_caching` ignored"),
        "{}",
        original.stderr
    );
}

#[tokio::test]
async fn config_show_redacts_secrets() {
    let out = Dra::new(["config", "show"])
        .env(
            "DATABASE_URL",
            "postgres://app:s3cr3t-pass@db.example:5432/deep_research",
        )
        .env("OPENAI_API_KEY", "sk-very-secret")
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(
        out.stdout
            .contains("postgres://app:****@db.example:5432/deep_research"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("s3cr3t"), "{}", out.stdout);
    assert!(
        out.stdout.contains("api_key: '[REDACTED]'"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("sk-very-secret"), "{}", out.stdout);
}

#[test]
fn model_tiers_must_reference_defined_endpoints() {
    let yaml = "default_role: smart\nendpoints:\n  a:\n    endpoint_identifier: ep-a\nmodels:\n  simple:\n    endpoints: [a, ghost]\n";
    insta::assert_snapshot!("model_references", error(yaml, &Env::new()));
}

#[test]
fn research_profiles_are_checked() {
    let yaml = "research_types:\n  light:\n    steps: {min: 4, max: 2}\nquery_modes:\n  simple:\n    model_role: nope\nmodels:\n  simple:\n    endpoints: [a]\nendpoints:\n  a:\n    endpoint_identifier: ep-a\ndefault_role: simple\n";
    insta::assert_snapshot!("research_profiles", error(yaml, &Env::new()));
}

#[test]
fn the_tracing_section_checks_its_endpoint_and_reports_unknown_keys() {
    let msg = error(
        "tracing:\n  otlp_endpoint: grpc://user:hunter2@collector:4317\n",
        &Env::new(),
    );
    assert!(msg.contains("tracing.otlp_endpoint"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");

    let loaded = load_str(
        "tracing:\n  enabled: false\n  otlp_endpont: http://localhost:4318\n",
        Path::new("app.yaml"),
        &Env::new(),
    )
    .unwrap();
    assert!(!loaded.config.tracing.enabled);
    assert_eq!(loaded.unknown_keys[0].0, "tracing.otlp_endpont");
}

/// The shipped config switches stage 7 on per depth as the original does, with a lighter
/// budget for light and medium research.
#[test]
fn the_shipped_config_runs_stage_7_at_every_depth_with_its_budget() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/app.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let loaded = load_str(&text, Path::new(path), &Env::new()).unwrap();
    let cv = &loaded.config.citation_verification;
    assert!(
        !cv.enable_verification_retrieval,
        "off unless a depth says so"
    );
    let types = &loaded.config.research_types;
    let at = |over: Option<&dra::citations::config::DepthOverride>| cv.for_depth(over);
    let light = at(types.light.citation_verification.as_ref());
    let medium = at(types.medium.citation_verification.as_ref());
    let extended = at(types.extended.citation_verification.as_ref());
    for (depth, s) in [
        ("light", &light),
        ("medium", &medium),
        ("extended", &extended),
    ] {
        assert!(s.enable_verification_retrieval, "{depth}");
    }
    assert_eq!(light.verification_retrieval.max_atomic_facts_per_claim, 3);
    assert_eq!(light.verification_retrieval.max_searches_per_fact, 1);
    assert_eq!(medium.verification_retrieval.max_searches_per_fact, 1);
    assert_eq!(
        extended.verification_retrieval.max_atomic_facts_per_claim,
        7
    );
    assert_eq!(extended.verification_retrieval.max_searches_per_fact, 2);
}

#[test]
fn retention_defaults_to_thirty_days_and_refuses_a_window_too_short_to_restore() {
    let defaults = load_str("", Path::new("app.yaml"), &Env::new()).unwrap();
    assert_eq!(
        defaults.config.retention.deleted_chats.as_secs(),
        30 * 24 * 3600
    );
    assert_eq!(defaults.config.retention.purge_interval.as_secs(), 3600);
    let loaded = load_str(
        "retention:\n  deleted_chats: 7days\n  purge_interval: 15m\n",
        Path::new("app.yaml"),
        &Env::new(),
    )
    .unwrap();
    assert_eq!(
        loaded.config.retention.deleted_chats.as_secs(),
        7 * 24 * 3600
    );
    assert_eq!(loaded.config.retention.purge_interval.as_secs(), 15 * 60);

    let msg = error(
        "retention:\n  deleted_chats: 0s\n  purge_interval: 1s\n",
        &Env::new(),
    );
    assert!(msg.contains("retention.deleted_chats"), "{msg}");
    assert!(msg.contains("retention.purge_interval"), "{msg}");
}

#[test]
fn rate_limits_default_to_on_and_sized_for_the_frontend_and_refuse_zero_naming_the_key() {
    let defaults = load_str("", Path::new("app.yaml"), &Env::new()).unwrap();
    let limits = &defaults.config.rate_limits;
    assert!(limits.enabled);
    assert_eq!(limits.requests_per_minute, 1200);
    assert_eq!(limits.research_per_minute, 30);
    let loaded = load_str(
        "rate_limits:\n  enabled: false\n  requests_per_minute: 90\n",
        Path::new("app.yaml"),
        &Env::new(),
    )
    .unwrap();
    assert!(!loaded.config.rate_limits.enabled);
    assert_eq!(loaded.config.rate_limits.requests_per_minute, 90);
    assert_eq!(loaded.config.rate_limits.research_per_minute, 30);

    let msg = error(
        "rate_limits:\n  requests_per_minute: 0\n  research_per_minute: 0\n",
        &Env::new(),
    );
    assert!(msg.contains("rate_limits.requests_per_minute"), "{msg}");
    assert!(msg.contains("rate_limits.research_per_minute"), "{msg}");
    assert!(msg.contains("rate_limits.enabled: false"), "{msg}");
    let msg = error("rate_limits:\n  requests_per_minute: lots\n", &Env::new());
    assert!(msg.contains("rate_limits.requests_per_minute"), "{msg}");
    let loaded = load_str(
        "rate_limits:\n  per_hour: 5\n",
        Path::new("app.yaml"),
        &Env::new(),
    )
    .unwrap();
    assert_eq!(loaded.unknown_keys[0].0, "rate_limits.per_hour");
}

#[tokio::test]
async fn config_check_names_a_bad_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "rate_limits:\n  research_per_minute: 0\n").unwrap();
    let out = Dra::new(["config", "check"])
        .env("APP_CONFIG_PATH", &bad)
        .run()
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("rate_limits.research_per_minute"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn outside_the_repository_the_built_in_copy_of_the_shipped_config_is_used() {
    // As after `make install`: no config/app.yaml where dra runs, no APP_CONFIG_PATH.
    let elsewhere = tempfile::tempdir().unwrap();
    let llm = crate::support::llm::FakeLlm::start().await;
    let out = Dra::new(["models", "--json"])
        .env_remove("APP_CONFIG_PATH")
        .current_dir(elsewhere.path())
        .env("OPENAI_BASE_URL", format!("{}/v1", llm.url))
        .run()
        .await;
    assert!(out.ok(), "no 'no model tiers configured': {out:?}");
    let shipped = dra::config::load_str(
        dra::config::BUILT_IN,
        Path::new("config/app.yaml"),
        &Env::new(),
    )
    .unwrap();
    for tier in shipped.config.models.keys() {
        assert!(
            out.stdout.contains(tier.as_str()),
            "tier {tier}: {}",
            out.stdout
        );
    }
    assert_eq!(
        dra::config::BUILT_IN,
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/app.yaml")).unwrap(),
        "the binary carries the file as shipped"
    );

    let check = Dra::new(["config", "check"])
        .env_remove("APP_CONFIG_PATH")
        .current_dir(elsewhere.path())
        .run()
        .await;
    assert_eq!(check.code, 0, "{check:?}");
    assert!(
        format!("{}{}", check.stdout, check.stderr).contains("built-in copy of the shipped"),
        "{check:?}"
    );
}

#[tokio::test]
async fn a_config_file_without_end_is_refused_not_read_until_memory_runs_out() {
    let out = Dra::new(["--config", "/dev/zero", "config", "check"])
        .run()
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("/dev/zero: cannot read config file")
            && out.stderr.contains("larger than 1024 KiB"),
        "{}",
        out.stderr
    );
    let out = Dra::new(["--config", "/dev/zero", "migrate"]).run().await;
    assert_eq!(out.code, 3, "{out:?}");
}

#[tokio::test]
async fn bad_tool_entries_are_named_by_config_check_and_refused_by_research_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "tools:\n  vector_search:\n    docs: {endpoint: vs, index: docs_index}\n  knowledge_assistants:\n    hr: {endpoint: ''}\n  mcp_servers:\n    github: {}\n  local_docs:\n    paths: [/no/such/handbook]\n",
    )
    .unwrap();
    let out = Dra::new(["config", "check"])
        .env("APP_CONFIG_PATH", &bad)
        .run()
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    for line in [
        "tools.vector_search.docs.index: `docs_index` is not a full index name `catalog.schema.index`",
        "tools.knowledge_assistants.hr.endpoint: is required",
        "tools.mcp_servers.github: needs `command` (stdio) or `url` (streamable HTTP)",
        "tools.local_docs.paths[0]: `/no/such/handbook` is not a readable folder",
    ] {
        assert!(out.stderr.contains(line), "missing {line:?} in:\n{}", out.stderr);
    }
    for command in [&["research", "q"][..], &["serve"][..]] {
        let out = Dra::new(command.iter().copied())
            .env("APP_CONFIG_PATH", &bad)
            .run()
            .await;
        assert_eq!(out.code, 3, "{command:?}: {out:?}");
        assert!(
            out.stderr.contains("tools.vector_search.docs.index"),
            "{}",
            out.stderr
        );
    }
}
