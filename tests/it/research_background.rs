//! The background investigator against the fake Brave.

use std::path::Path;

use crate::support::search::Fault;
use crate::support::FakeSearch;
use dra::config::{load_str, Env};
use dra::research::agents::background::investigate;
use dra::research::config::BackgroundAgent;

async fn provider(
    fake: &FakeSearch,
) -> (
    std::sync::Arc<dyn dra::search::SearchProvider>,
    dra::config::AppConfig,
) {
    let env: Env = [
        ("BRAVE_BASE_URL", fake.url.as_str()),
        ("BRAVE_API_KEY", crate::support::search::BRAVE_KEY),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let loaded = load_str(
        "search:\n  retries: 0\n  retry_delay: 10ms\n",
        Path::new("t.yaml"),
        &env,
    )
    .unwrap();
    (
        dra::search::from_config(&loaded.config.search, &env).unwrap(),
        loaded.config,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn context_lists_the_top_hits_of_one_search() {
    let fake = FakeSearch::start().await;
    let (search, config) = provider(&fake).await;
    let limits = BackgroundAgent {
        max_search_queries: 1,
        max_results_per_query: 5,
        max_total_results: 2,
    };
    let bg = investigate(
        search.as_ref(),
        "sodium-vanadyl energy density",
        &limits,
        &config.search,
    )
    .await
    .unwrap();
    assert_eq!(bg.hits.len(), 2);
    assert_eq!(bg.context.lines().count(), 2);
    assert!(bg.context.contains(bg.hits[0].url.as_str()));
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].params.get("q").map(String::as_str),
        Some("sodium-vanadyl energy density")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_search_is_a_typed_error() {
    let fake = FakeSearch::start().await;
    fake.fail_always(Fault::Status(401));
    let (search, config) = provider(&fake).await;
    let err = investigate(
        search.as_ref(),
        "q",
        &BackgroundAgent::default(),
        &config.search,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, dra::search::SearchError::Unauthorized { .. }),
        "{err}"
    );
}
