//! The embeddings client against the fake serving endpoint, the `embeddings` config
//! section, and the evidence [`Selector`] that ranks with it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::support::llm::{add_tiers, embedding, FakeLlm, Reply};
use dra::citations::config::RelevanceMethod;
use dra::citations::evidence::{chunk, select, Embedder, Limits, Selector, SourceText};
use dra::config::{AppConfig, Secret};
use dra::databricks::{AuthOptions, DatabricksAuth};
use dra::llm::{CallError, EmbeddingsClient, EmbeddingsError, LlmRouter};

/// Embeddings endpoint `gte` on `fake` (OpenAI-compatible path), fast retries.
fn config(fake: &FakeLlm) -> AppConfig {
    let mut c = AppConfig::default();
    add_tiers(&mut c, fake, &["simple"]);
    c.embeddings.endpoint_identifier = Some("gte".into());
    c.rate_limiting.base_delay_seconds = 0.01;
    c.rate_limiting.max_delay_seconds = 1.0;
    c.rate_limiting.jitter = false;
    c.llm.retries_per_endpoint = 2;
    c
}

fn client(c: &AppConfig) -> EmbeddingsClient {
    EmbeddingsClient::from_config(c, || {
        unreachable!("base_url is set; Databricks auth is not used")
    })
    .unwrap()
    .expect("an embeddings endpoint is configured")
}

fn databricks_env(fake: &FakeLlm, token: &str) -> HashMap<String, String> {
    [
        ("DATABRICKS_HOST", fake.url.as_str()),
        ("DATABRICKS_TOKEN", token),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn inputs(call: &crate::support::llm::Call) -> Vec<String> {
    call.body["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn texts_are_sent_in_batches_and_vectors_come_back_in_order() {
    let fake = FakeLlm::start().await;
    let mut c = config(&fake);
    c.embeddings.batch_size = 2;
    let texts = [
        "one apple",
        "two pears",
        "three plums",
        "four figs",
        "five limes",
    ];
    let vectors = client(&c).embed(&texts).await.unwrap();
    assert_eq!(vectors, texts.map(embedding));
    let mut sizes: Vec<usize> = fake
        .calls_to("gte")
        .iter()
        .map(|c| inputs(c).len())
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [1, 2, 2]);
    let call = &fake.calls_to("gte")[0];
    assert_eq!(call.path, "/v1/embeddings");
    assert_eq!(call.body["model"], "gte");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_is_retried_after_its_retry_after() {
    let fake = FakeLlm::start().await;
    fake.script("gte", vec![Reply::Status(429, Some(0))]);
    let vectors = client(&config(&fake))
        .embed(&["hello there"])
        .await
        .unwrap();
    assert_eq!(vectors, [embedding("hello there")]);
    assert_eq!(fake.calls_to("gte").len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persistent_500_is_a_typed_error_after_the_retries() {
    let fake = FakeLlm::start().await;
    fake.always("gte", Reply::Status(500, None));
    let err = client(&config(&fake)).embed(&["hello"]).await.unwrap_err();
    let EmbeddingsError::Call { endpoint, error } = &err else {
        panic!("wrong error: {err}");
    };
    assert_eq!(endpoint, "gte");
    assert!(
        matches!(error, CallError::Status { status: 500, .. }),
        "{error}"
    );
    assert_eq!(fake.calls_to("gte").len(), 3, "one call and two retries");
    assert!(
        err.to_string().contains("embeddings endpoint `gte`"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_request_is_not_retried_and_a_short_answer_is_an_error() {
    let fake = FakeLlm::start().await;
    fake.script("gte", vec![Reply::Status(400, None)]);
    let c = client(&config(&fake));
    assert!(c.embed(&["a text"]).await.is_err());
    assert_eq!(fake.calls_to("gte").len(), 1);

    fake.script(
        "gte",
        vec![Reply::Json(
            serde_json::json!({"data": [{"embedding": [1.0], "index": 0}]}),
        )],
    );
    let err = c.embed(&["one text", "two texts"]).await.unwrap_err();
    assert!(
        matches!(
            err,
            EmbeddingsError::Count {
                expected: 2,
                got: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn databricks_serving_gets_the_shared_token_on_the_invocations_path() {
    let fake = FakeLlm::start().await;
    let mut c = config(&fake);
    c.llm.base_url = None;
    let env = databricks_env(&fake, "dapi-embed-test");
    let auth = || DatabricksAuth::resolve(&AuthOptions::default(), &env).map(Arc::new);
    let client = EmbeddingsClient::from_config(&c, auth).unwrap().unwrap();
    client.embed(&["hello"]).await.unwrap();
    let call = &fake.calls_to("gte")[0];
    assert_eq!(call.path, "/serving-endpoints/gte/invocations");
    assert_eq!(
        call.authorization.as_deref(),
        Some("Bearer dapi-embed-test")
    );
    assert!(call.body.get("model").is_none(), "{}", call.body);

    fake.always("gte", Reply::Status(500, None));
    let err = client.embed(&["hello"]).await.unwrap_err().to_string();
    assert!(!err.contains("dapi-embed-test"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_compatible_servers_get_their_key() {
    let fake = FakeLlm::start().await;
    let mut c = config(&fake);
    c.llm.api_key = Some(Secret::new("sk-embed-123"));
    client(&c).embed(&["hello"]).await.unwrap();
    let call = &fake.calls_to("gte")[0];
    assert_eq!(call.authorization.as_deref(), Some("Bearer sk-embed-123"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_router_builds_the_client_on_its_own_server() {
    let fake = FakeLlm::start().await;
    let mut c = config(&fake);
    let router = crate::support::llm::router(&c);
    let from_router = router.embeddings().expect("configured");
    assert_eq!(from_router.endpoint(), "gte");
    from_router.embed(&["hello"]).await.unwrap();
    assert_eq!(fake.calls_to("gte").len(), 1);

    c.embeddings.endpoint_identifier = None;
    assert!(crate::support::llm::router(&c).embeddings().is_none());
    let unconfigured = EmbeddingsClient::from_config(&c, || {
        unreachable!("no embeddings endpoint: no credentials needed")
    });
    assert!(unconfigured.unwrap().is_none());
}

// --- configuration ----------------------------------------------------------------------

fn load(yaml: &str) -> Result<AppConfig, String> {
    dra::config::load_str(yaml, Path::new("app.yaml"), &HashMap::new())
        .map(|l| l.config)
        .map_err(|e| e.to_string())
}

#[test]
fn the_embeddings_section_reads_and_absent_means_keyword_only() {
    let c = load("embeddings:\n  endpoint_identifier: databricks-gte-large\n  batch_size: 16\n")
        .unwrap();
    assert_eq!(
        c.embeddings.endpoint_identifier.as_deref(),
        Some("databricks-gte-large")
    );
    assert_eq!(c.embeddings.batch_size, 16);
    assert_eq!(c.embeddings.max_concurrent_requests, 4);
    assert_eq!(load("").unwrap().embeddings.endpoint_identifier, None);
    assert_eq!(
        load("embeddings:\n  endpoint_identifier:\n")
            .unwrap()
            .embeddings
            .endpoint_identifier,
        None,
        "empty is unset"
    );
}

#[test]
fn a_malformed_embeddings_section_is_an_error_naming_the_key() {
    for (yaml, key) in [
        ("embeddings:\n  batch_size: 0\n", "embeddings.batch_size"),
        ("embeddings:\n  batch_size: many\n", "embeddings.batch_size"),
        (
            "embeddings:\n  endpoint_identifier: gte large/v1\n",
            "embeddings.endpoint_identifier",
        ),
        (
            "embeddings:\n  max_concurrent_requests: 0\n",
            "embeddings.max_concurrent_requests",
        ),
        (
            "embeddings:\n  request_timeout: soon\n",
            "embeddings.request_timeout",
        ),
    ] {
        let err = load(yaml).unwrap_err();
        assert!(err.contains(key), "{yaml:?} → {err}");
    }
}

#[test]
fn the_shipped_config_names_the_gte_endpoint() {
    let loaded = dra::config::load(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config/app.yaml")),
        dra::config::PathOrigin::Explicit,
        &HashMap::new(),
    )
    .unwrap();
    assert_eq!(
        loaded.config.embeddings.endpoint_identifier.as_deref(),
        Some("databricks-gte-large")
    );
    assert!(
        !loaded
            .unknown_keys
            .iter()
            .any(|k| k.0.starts_with("embeddings")),
        "{:?}",
        loaded.unknown_keys
    );
}

// --- the selector -----------------------------------------------------------------------

/// A source whose first window paraphrases [`PARAPHRASE`] with no word in common, after
/// multibyte text, with unrelated windows around it.
const TEXT: &str = "Überblick — 💡 Notizen zur Region.\n\n\
Car production rose sharply at the northern factories last year.\n\n\
The harbour ferry timetable changed again in spring.\n\n\
Local bakeries reported steady bread sales through winter.";

const PARAPHRASE: &str = "Automobile output climbed steeply";

fn sources() -> Vec<SourceText> {
    vec![SourceText {
        number: 1,
        text: Arc::from(TEXT),
    }]
}

fn selector(fake: &FakeLlm, method: RelevanceMethod) -> Selector {
    let c = config(fake);
    let embedder: Arc<dyn Embedder> = Arc::new(client(&c));
    Selector::new(method, Some(embedder))
}

fn assert_quoted(spans: &[dra::citations::evidence::EvidenceSpan]) {
    for span in spans {
        assert_eq!(&TEXT[span.bytes()], span.text());
        assert!(span.is_quoted_from(TEXT));
        let chars: String = TEXT
            .chars()
            .skip(span.char_range().start)
            .take(span.char_range().len())
            .collect();
        assert_eq!(chars, span.text());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paraphrase_is_found_by_hybrid_and_semantic_but_not_by_keywords() {
    let fake = FakeLlm::start().await;
    let limits = Limits::default();
    assert!(
        select(&sources(), &[PARAPHRASE], &limits).is_empty(),
        "no shared words"
    );
    let keyword = selector(&fake, RelevanceMethod::Keyword);
    assert!(keyword
        .select(&sources(), &[PARAPHRASE], &limits)
        .await
        .is_empty());
    assert!(
        fake.calls_to("gte").is_empty(),
        "keyword ranking embeds nothing"
    );

    for method in [RelevanceMethod::Hybrid, RelevanceMethod::Semantic] {
        let spans = selector(&fake, method)
            .select(&sources(), &[PARAPHRASE], &limits)
            .await;
        assert_eq!(
            spans.first().map(|s| s.text()),
            Some("Car production rose sharply at the northern factories last year."),
            "{method:?}"
        );
        assert_quoted(&spans);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keywords_still_count_in_hybrid_ranking() {
    let fake = FakeLlm::start().await;
    let spans = selector(&fake, RelevanceMethod::Hybrid)
        .select(&sources(), &["ferry timetable"], &Limits::default())
        .await;
    assert_eq!(
        spans[0].text(),
        "The harbour ferry timetable changed again in spring."
    );
    assert_quoted(&spans);
}

#[tokio::test(flavor = "multi_thread")]
async fn when_embeddings_fail_the_selector_ranks_by_keywords() {
    let fake = FakeLlm::start().await;
    fake.always("gte", Reply::Status(500, None));
    let hybrid = selector(&fake, RelevanceMethod::Hybrid);
    let limits = Limits::default();
    for query in ["ferry timetable", PARAPHRASE, "bread sales"] {
        let spans = hybrid.select(&sources(), &[query], &limits).await;
        assert_eq!(spans, select(&sources(), &[query], &limits), "{query}");
        assert_quoted(&spans);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn span_texts_are_embedded_once_per_selector() {
    let fake = FakeLlm::start().await;
    let hybrid = selector(&fake, RelevanceMethod::Hybrid);
    let limits = Limits::default();
    hybrid.select(&sources(), &[PARAPHRASE], &limits).await;
    hybrid
        .select(&sources(), &["bread sales", PARAPHRASE], &limits)
        .await;
    let calls = fake.calls_to("gte");
    assert_eq!(calls.len(), 2);
    let windows = chunk(TEXT, &limits).len();
    assert_eq!(
        inputs(&calls[0]).len(),
        1 + windows,
        "the query and every window"
    );
    assert_eq!(inputs(&calls[1]), ["bread sales"], "only the new query");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_configured_method_needs_an_embeddings_endpoint() {
    let fake = FakeLlm::start().await;
    let mut c = config(&fake);
    let router: LlmRouter = crate::support::llm::router(&c);
    assert_eq!(
        Selector::from_config(&c.citation_verification, &router).method(),
        RelevanceMethod::Hybrid
    );
    c.citation_verification
        .evidence_preselection
        .relevance_computation_method = RelevanceMethod::Keyword;
    assert_eq!(
        Selector::from_config(&c.citation_verification, &router).method(),
        RelevanceMethod::Keyword
    );
    c.citation_verification
        .evidence_preselection
        .relevance_computation_method = RelevanceMethod::Semantic;
    c.embeddings.endpoint_identifier = None;
    assert_eq!(
        Selector::from_config(&c.citation_verification, &crate::support::llm::router(&c)).method(),
        RelevanceMethod::Keyword,
        "no endpoint: keywords"
    );
    assert_eq!(Selector::keyword().method(), RelevanceMethod::Keyword);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_claims_over_the_same_sources_embed_each_window_once() {
    let fake = FakeLlm::start().await;
    let hybrid = Arc::new(selector(&fake, RelevanceMethod::Hybrid));
    let claims: [&'static str; 3] = [PARAPHRASE, "bread sales", "ferry timetable"];
    let tasks: Vec<_> = claims
        .iter()
        .map(|&claim| {
            let hybrid = Arc::clone(&hybrid);
            // Spawned, as the pipeline verifies claims: the future must be `Send`.
            tokio::spawn(async move {
                hybrid
                    .select(&sources(), &[claim], &Limits::default())
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert!(!task.await.unwrap().is_empty());
    }
    let mut embedded: Vec<String> = fake.calls_to("gte").iter().flat_map(inputs).collect();
    let total = embedded.len();
    embedded.sort();
    embedded.dedup();
    assert_eq!(total, embedded.len(), "no text embedded twice");
    assert_eq!(total, claims.len() + chunk(TEXT, &Limits::default()).len());
}

/// Log lines written while the guard lives on this thread.
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// Current-thread runtime: the subscriber is set for this thread only.
#[tokio::test]
async fn an_embeddings_outage_is_warned_once_and_the_token_never_logged() {
    let fake = FakeLlm::start().await;
    fake.always("gte", Reply::Status(503, None));
    let mut c = config(&fake);
    c.llm.base_url = None;
    c.llm.retries_per_endpoint = 0;
    let env = databricks_env(&fake, "dapi-never-logged");
    let auth = || DatabricksAuth::resolve(&AuthOptions::default(), &env).map(Arc::new);
    let embedder: Arc<dyn Embedder> =
        Arc::new(EmbeddingsClient::from_config(&c, auth).unwrap().unwrap());
    let hybrid = Selector::new(RelevanceMethod::Hybrid, Some(embedder));

    let log = LogBuffer::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    for query in ["ferry timetable", "bread sales"] {
        hybrid
            .select(&sources(), &[query], &Limits::default())
            .await;
    }
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let warnings = text.lines().filter(|l| l.contains("WARN")).count();
    assert_eq!(warnings, 1, "{text}");
    assert!(text.contains("ranking evidence by keywords"), "{text}");
    assert!(!text.contains("dapi-never-logged"), "{text}");
}
