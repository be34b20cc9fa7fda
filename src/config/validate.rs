//! Semantic checks that serde cannot express: ranges and relations between settings.

use std::time::Duration;

use super::{AppConfig, Problem};
use crate::databricks::normalize_host;

/// Every problem found, in key order; empty when the configuration is usable.
pub fn validate(c: &AppConfig) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut bad = |key: &str, value: String, allowed: String| {
        problems.push(Problem {
            key: key.into(),
            message: format!("invalid value `{value}`: {allowed}"),
            from_env: None,
        })
    };

    let pool = &c.database.pool;
    if !(1..=1000).contains(&pool.max_size) {
        bad(
            "database.pool.max_size",
            pool.max_size.to_string(),
            "must be between 1 and 1000".into(),
        );
    }
    if pool.min_idle > pool.max_size {
        bad(
            "database.pool.min_idle",
            pool.min_idle.to_string(),
            format!("must not exceed database.pool.max_size ({})", pool.max_size),
        );
    }
    if pool.connect_timeout.is_zero() {
        bad(
            "database.pool.connect_timeout",
            "0s".into(),
            "must be longer than 0s, e.g. 10s".into(),
        );
    }
    if pool.max_lifetime.is_zero() || pool.max_lifetime >= c.lakebase.default_token_lifetime {
        bad(
            "database.pool.max_lifetime",
            human(pool.max_lifetime),
            format!(
                "must be longer than 0s and shorter than lakebase.default_token_lifetime ({}), so no pooled connection outlives its password",
                human(c.lakebase.default_token_lifetime)
            ),
        );
    }

    let lb = &c.lakebase;
    if lb.database.is_empty() || lb.database.len() > 63 {
        bad(
            "lakebase.database",
            lb.database.clone(),
            "must be a PostgreSQL database name of 1 to 63 bytes".into(),
        );
    }
    if lb.port == 0 {
        bad(
            "lakebase.port",
            "0".into(),
            "must be a TCP port between 1 and 65535".into(),
        );
    }
    if lb.default_token_lifetime < Duration::from_secs(1) {
        bad(
            "lakebase.default_token_lifetime",
            human(lb.default_token_lifetime),
            "must be at least 1s".into(),
        );
    }
    if lb.token_refresh_buffer >= lb.default_token_lifetime {
        bad(
            "lakebase.token_refresh_buffer",
            human(lb.token_refresh_buffer),
            format!(
                "must be shorter than lakebase.default_token_lifetime ({})",
                human(lb.default_token_lifetime)
            ),
        );
    }
    validate_web(&c.web, &mut bad);
    validate_models(c, &mut bad);
    validate_embeddings(&c.embeddings, &mut bad);
    validate_research(c, &mut bad);
    if let Some(host) = &c.databricks.host {
        if url::Url::parse(&normalize_host(host)).is_err() {
            bad(
                "databricks.host",
                host.clone(),
                "must be a workspace URL like https://my-workspace.cloud.databricks.com".into(),
            );
        }
    }

    let search = &c.search;
    if search.timeout.is_zero() {
        bad(
            "search.timeout",
            "0s".into(),
            "must be longer than 0s, e.g. 30s".into(),
        );
    }
    if search.retries > 10 {
        bad(
            "search.retries",
            search.retries.to_string(),
            "must be between 0 and 10".into(),
        );
    }
    if !is_http_url(&search.brave.base_url) {
        bad(
            "search.brave.base_url",
            search.brave.base_url.clone(),
            "must be an http(s) URL like https://api.search.brave.com".into(),
        );
    }
    // The original's bounds: Brave plans allow 1 to 20 requests per second at most.
    let rps = search.brave.requests_per_second;
    if !(rps > 0.0 && rps <= 10.0) {
        bad(
            "search.brave.requests_per_second",
            rps.to_string(),
            "must be greater than 0 and at most 10".into(),
        );
    }
    if !(1..=50).contains(&search.brave.default_result_count) {
        bad(
            "search.brave.default_result_count",
            search.brave.default_result_count.to_string(),
            "must be between 1 and 50 (Brave returns at most 20 per request)".into(),
        );
    }
    if let Some(country) = &search.brave.country {
        if !(country.len() == 2 && country.chars().all(|ch| ch.is_ascii_alphabetic())
            || country.eq_ignore_ascii_case("all"))
        {
            bad(
                "search.brave.country",
                country.clone(),
                "must be a two-letter country code like us or de, or ALL".into(),
            );
        }
    }
    if let Some(base) = &search.searxng.base_url {
        if !is_http_url(base) {
            bad(
                "search.searxng.base_url",
                base.clone(),
                "must be an http(s) URL like http://localhost:8888".into(),
            );
        }
    }
    let rps = search.searxng.requests_per_second;
    if !(rps > 0.0 && rps <= 100.0) {
        bad(
            "search.searxng.requests_per_second",
            rps.to_string(),
            "must be greater than 0 and at most 100".into(),
        );
    }
    validate_wikipedia(&search.wikipedia, &mut bad);
    let retention = &c.retention;
    if retention.deleted_chats < Duration::from_secs(60 * 60) {
        bad(
            "retention.deleted_chats",
            human(retention.deleted_chats),
            "must be at least 1h, so a deleted chat can still be restored, e.g. 30days".into(),
        );
    }
    if retention.purge_interval < Duration::from_secs(60) {
        bad(
            "retention.purge_interval",
            human(retention.purge_interval),
            "must be at least 1m, e.g. 1h".into(),
        );
    }
    for (key, value, allowed) in c.rate_limits.problems() {
        bad(&format!("rate_limits.{key}"), value, allowed);
    }
    for (key, value, allowed) in c.server.problems() {
        bad(&format!("server.{key}"), value, allowed);
    }
    if let Some(endpoint) = &c.tracing.otlp_endpoint {
        if !is_http_url(endpoint) {
            bad(
                "tracing.otlp_endpoint",
                crate::redact::scrub(endpoint).into_owned(),
                "must be an http(s) URL like http://localhost:4318".into(),
            );
        }
    }
    for p in c.tools.problems() {
        problems.push(Problem {
            key: p.key,
            message: p.message,
            from_env: None,
        });
    }
    problems
}

fn validate_web(w: &crate::web::WebConfig, bad: &mut impl FnMut(&str, String, String)) {
    for (key, value) in [
        ("web.connect_timeout", w.connect_timeout),
        ("web.read_timeout", w.read_timeout),
        ("web.request_timeout", w.request_timeout),
    ] {
        if value.is_zero() {
            bad(key, "0s".into(), "must be longer than 0s, e.g. 10s".into());
        }
    }
    if !(1024..=1024 * 1024 * 1024).contains(&w.max_body_bytes) {
        bad(
            "web.max_body_bytes",
            w.max_body_bytes.to_string(),
            "must be between 1024 and 1073741824 (1 KiB to 1 GiB)".into(),
        );
    }
    if w.max_redirects > 50 {
        bad(
            "web.max_redirects",
            w.max_redirects.to_string(),
            "must be between 0 and 50".into(),
        );
    }
    if !(1..=1000).contains(&w.max_concurrent) {
        bad(
            "web.max_concurrent",
            w.max_concurrent.to_string(),
            "must be between 1 and 1000".into(),
        );
    }
    if w.max_per_host == 0 || w.max_per_host > w.max_concurrent {
        bad(
            "web.max_per_host",
            w.max_per_host.to_string(),
            format!(
                "must be between 1 and web.max_concurrent ({})",
                w.max_concurrent
            ),
        );
    }
    if w.retries > 10 {
        bad(
            "web.retries",
            w.retries.to_string(),
            "must be between 0 and 10".into(),
        );
    }
    if w.retry_min_delay > w.retry_max_delay {
        bad(
            "web.retry_min_delay",
            human(w.retry_min_delay),
            format!(
                "must not exceed web.retry_max_delay ({})",
                human(w.retry_max_delay)
            ),
        );
    }
    if w.user_agent.trim().is_empty() || w.user_agent.chars().any(char::is_control) {
        bad(
            "web.user_agent",
            w.user_agent.clone(),
            "must be a non-empty single line".into(),
        );
    }
}

fn validate_wikipedia(
    w: &crate::search::WikipediaConfig,
    bad: &mut impl FnMut(&str, String, String),
) {
    // The language becomes a host name label: `en`, `de`, `simple`, `zh-yue`, `be-tarask`.
    let label_ok = (2..=20).contains(&w.language.len())
        && w.language
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
        && !w.language.starts_with('-')
        && !w.language.ends_with('-');
    if !label_ok {
        bad(
            "search.wikipedia.language",
            w.language.clone(),
            "must be a Wikipedia language code like en, de or simple (the subdomain of wikipedia.org)".into(),
        );
    }
    if let Some(base) = &w.base_url {
        if !is_http_url(base) {
            bad(
                "search.wikipedia.base_url",
                crate::redact::scrub(base).into_owned(),
                "must be an http(s) URL like https://en.wikipedia.org".into(),
            );
        }
    }
    let rps = w.requests_per_second;
    if !(rps > 0.0 && rps <= 50.0) {
        bad(
            "search.wikipedia.requests_per_second",
            rps.to_string(),
            "must be greater than 0 and at most 50".into(),
        );
    }
    let agent = w.user_agent.trim();
    if agent.is_empty() || !agent.chars().all(|ch| ch == ' ' || ch.is_ascii_graphic()) {
        bad(
            "search.wikipedia.user_agent",
            w.user_agent.clone(),
            "must name the tool in printable ASCII, e.g. \"dra/0.1 (you@example.com)\": Wikimedia refuses requests without one".into(),
        );
    }
}

fn is_http_url(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn validate_embeddings(
    e: &crate::llm::EmbeddingsSection,
    bad: &mut impl FnMut(&str, String, String),
) {
    if let Some(name) = &e.endpoint_identifier {
        // It becomes a URL path segment (`/serving-endpoints/{name}/invocations`).
        if name
            .chars()
            .any(|ch| ch.is_whitespace() || "/?#%".contains(ch))
        {
            bad(
                "embeddings.endpoint_identifier",
                name.clone(),
                "must be a serving endpoint or model name like databricks-gte-large (no spaces, /, ?, # or %), or empty for keyword-only evidence selection".into(),
            );
        }
    }
    // OpenAI's embeddings API takes at most 2048 inputs per request.
    if !(1..=2048).contains(&e.batch_size) {
        bad(
            "embeddings.batch_size",
            e.batch_size.to_string(),
            "must be between 1 and 2048 texts per request".into(),
        );
    }
    if !(1..=64).contains(&e.max_concurrent_requests) {
        bad(
            "embeddings.max_concurrent_requests",
            e.max_concurrent_requests.to_string(),
            "must be between 1 and 64".into(),
        );
    }
    if e.tokens_per_minute == 0 {
        bad(
            "embeddings.tokens_per_minute",
            "0".into(),
            "must be at least 1".into(),
        );
    }
    if e.request_timeout.is_zero() {
        bad(
            "embeddings.request_timeout",
            "0s".into(),
            "must be longer than 0s, e.g. 60s".into(),
        );
    }
}

fn validate_models(c: &AppConfig, bad: &mut impl FnMut(&str, String, String)) {
    for (id, ep) in &c.endpoints {
        if ep.endpoint_identifier.trim().is_empty() {
            bad(
                &format!("endpoints.{id}.endpoint_identifier"),
                String::new(),
                "must name the serving endpoint or model".into(),
            );
        }
        if ep.max_context_window < 1024 {
            bad(
                &format!("endpoints.{id}.max_context_window"),
                ep.max_context_window.to_string(),
                "must be at least 1024 tokens".into(),
            );
        }
        if ep.tokens_per_minute == 0 {
            bad(
                &format!("endpoints.{id}.tokens_per_minute"),
                "0".into(),
                "must be at least 1".into(),
            );
        }
    }
    for (role, m) in &c.models {
        if m.endpoints.is_empty() {
            bad(
                &format!("models.{role}.endpoints"),
                "[]".into(),
                "must list at least one endpoint id".into(),
            );
        }
        for ep in &m.endpoints {
            if !c.endpoints.contains_key(ep) {
                let known: Vec<&str> = c.endpoints.keys().map(String::as_str).collect();
                bad(
                    &format!("models.{role}.endpoints"),
                    ep.clone(),
                    format!(
                        "is not defined under `endpoints` (defined: {})",
                        known.join(", ")
                    ),
                );
            }
        }
        if m.max_tokens == 0 {
            bad(
                &format!("models.{role}.max_tokens"),
                "0".into(),
                "must be at least 1".into(),
            );
        }
    }
    if !c.models.is_empty() && !c.models.contains_key(&c.default_role) {
        let known: Vec<&str> = c.models.keys().map(String::as_str).collect();
        bad(
            "default_role",
            c.default_role.clone(),
            format!(
                "must be one of the tiers under `models`: {}",
                known.join(", ")
            ),
        );
    }
}

fn validate_research(c: &AppConfig, bad: &mut impl FnMut(&str, String, String)) {
    let types = &c.research_types;
    for (depth, p) in [
        ("light", &types.light),
        ("medium", &types.medium),
        ("extended", &types.extended),
    ] {
        if p.steps.min == 0 || p.steps.min > p.steps.max {
            bad(
                &format!("research_types.{depth}.steps"),
                format!("min {}, max {}", p.steps.min, p.steps.max),
                "needs 1 <= min <= max".into(),
            );
        }
        if p.report_limits.min_words > p.report_limits.max_words {
            bad(
                &format!("research_types.{depth}.report_limits"),
                format!(
                    "min_words {}, max_words {}",
                    p.report_limits.min_words, p.report_limits.max_words
                ),
                "needs min_words <= max_words".into(),
            );
        }
    }
    let cv = &c.citation_verification;
    for (key, value) in cv.fractions() {
        if !(0.0..=1.0).contains(&value) {
            bad(
                &format!("citation_verification.{key}"),
                value.to_string(),
                "must be between 0 and 1".into(),
            );
        }
    }
    if c.agents.researcher.fetch_deadline.is_zero() {
        bad(
            "agents.researcher.fetch_deadline",
            "0s".into(),
            "must be longer than 0s, e.g. 15s".into(),
        );
    }
    if c.agents.planner.max_plan_iterations == 0 {
        bad(
            "agents.planner.max_plan_iterations",
            "0".into(),
            "must be at least 1".into(),
        );
    }
    let modes = &c.query_modes;
    for (mode, m) in [
        ("simple", &modes.simple),
        ("web_search", &modes.web_search),
        ("deep_research", &modes.deep_research),
    ] {
        if let Some(role) = &m.model_role {
            if !c.models.is_empty() && !c.models.contains_key(role) {
                let known: Vec<&str> = c.models.keys().map(String::as_str).collect();
                bad(
                    &format!("query_modes.{mode}.model_role"),
                    role.clone(),
                    format!(
                        "must be one of the tiers under `models`: {}",
                        known.join(", ")
                    ),
                );
            }
        }
    }
}
