//! Stage 7, verification retrieval, against a fake model, fake Brave and the page server:
//! facts found in the pool or on the web are cited (new pages registered first), facts
//! nobody states are softened, numbers gate entailment, failures degrade, budgets hold.

use std::sync::Arc;
use std::time::Duration;

use crate::support::llm::{FakeLlm, Reply};
use crate::support::world::last_user_message;
use crate::support::{FakeSearch, PageServer};
use dra::citations::config::VerificationRetrieval;
use dra::citations::retrieval::{
    Origin, Outcome, Reconstruction, RetrievalError, Retriever, Web, UNVERIFIED_SUFFIX,
};
use dra::citations::sources::SourceRegistry;
use dra::config::AppConfig;
use dra::llm::LlmRouter;
use dra::search::{self, SearchProvider};
use dra::web::{FetchedPage, Fetcher, WebConfig};
use serde_json::{json, Value};
use url::Url;

/// The run's one source before stage 7: it states the turbine count, not the output.
const POOL: &str = "Wind power in Portugal.\n\nThe Helios wind farm in Portugal has 120 turbines along the coast near Sines. It was built by a consortium of local utilities and opened in 2019.";

/// A page only the web has: it states the farm's output.
const OUTPUT_PAGE: &str = r#"<!DOCTYPE html><html><head><meta charset="utf-8"><title>Helios output report</title></head>
<body><main><article><h1>Helios wind farm output</h1>
<p>The Helios wind farm produced 1.2 TWh of electricity in 2023, according to the national grid operator, which published its annual figures for every large plant in the country on Tuesday.</p>
<p>The operator said the farm's output rose steadily through the year as the last turbines were connected, and that the plant now supplies a sizeable share of the coastal region's demand in windy months.</p>
<p>Engineers at the site expect maintenance to take two turbines offline for a few weeks in the spring, which the operator said would not change the yearly total in any meaningful way.</p>
</article></main></body></html>"#;

const TWO_FACTS: &str = "The Helios wind farm in Portugal has 120 turbines and produced 1.2 TWh of electricity in 2023 [1].";
const TURBINES: &str = "The Helios wind farm in Portugal has 120 turbines.";
const OUTPUT: &str = "The Helios wind farm produced 1.2 TWh of electricity in 2023.";

/// Model tiers, one per stage-7 role, so each role's calls can be counted apart.
const TIERS: &[&str] = &[
    "simple",
    "analytical",
    "decompose",
    "entail",
    "rewrite",
    "soften",
];

struct Setup {
    llm: FakeLlm,
    search_fake: FakeSearch,
    pages: PageServer,
    config: AppConfig,
    search: Arc<dyn SearchProvider>,
    fetcher: Fetcher,
    router: LlmRouter,
    registry: SourceRegistry,
    settings: VerificationRetrieval,
}

impl Setup {
    /// The fakes, a registry holding [`POOL`] as source 1, and every stage-7 role on its
    /// own tier. Brave finds nothing until a test says otherwise.
    async fn start() -> Setup {
        let llm = FakeLlm::start().await;
        let search_fake = FakeSearch::start().await;
        let pages = PageServer::start().await;
        pages.set_page("/helios-output", OUTPUT_PAGE);
        search_fake.set_brave_body(no_hits());
        let (mut config, env) = search_fake.brave_config();
        crate::support::llm::add_tiers(&mut config, &llm, TIERS);
        let search = search::from_config(&config.search, &env).unwrap();
        let fetcher = Fetcher::new(&WebConfig {
            request_timeout: Duration::from_secs(5),
            retries: 0,
            allowed_hosts: crate::support::pages::loopback_hosts(),
            ..WebConfig::default()
        })
        .unwrap();
        let router = crate::support::llm::router(&config);
        let registry = SourceRegistry::default();
        registry.register(&page("https://pool.example/helios", POOL));
        let settings = VerificationRetrieval {
            decomposition_tier: "decompose".into(),
            entailment_tier: "entail".into(),
            reconstruction_tier: "rewrite".into(),
            softening_tier: "soften".into(),
            ..VerificationRetrieval::default()
        };
        Setup {
            llm,
            search_fake,
            pages,
            config,
            search,
            fetcher,
            router,
            registry,
            settings,
        }
    }

    fn web(&self) -> Web<'_> {
        Web {
            search: self.search.as_ref(),
            search_config: &self.config.search,
            fetcher: &self.fetcher,
        }
    }

    fn retriever(&self) -> Retriever<'_> {
        Retriever::new(&self.router, &self.registry, &self.settings).with_web(self.web())
    }

    /// The decomposer answers with `facts`.
    fn decompose_into(&self, facts: &[&str]) {
        self.llm
            .always("ep-decompose", say(json!({ "facts": facts })));
    }

    /// The entailment model says 1.0 for the first quote holding the fact's `key`, where a
    /// `(key, phrase)` pair names the fact, else 0.1.
    fn entail_when(&self, pairs: &'static [(&'static str, &'static str)]) {
        self.llm.respond("ep-entail", move |body| {
            let user = last_user_message(body);
            let fact = section(&user, "## Fact\n");
            let quotes = quotes(&user);
            let hit = pairs.iter().find_map(|(key, phrase)| {
                if !fact.contains(key) {
                    return None;
                }
                quotes
                    .iter()
                    .position(|q| q.contains(phrase))
                    .map(|i| i + 1)
            });
            say(match hit {
                Some(i) => json!({"reasoning": "stated", "score": 1.0, "evidence_index": i}),
                None => json!({"reasoning": "not stated", "score": 0.1}),
            })
        });
    }

    fn search_texts(&self) -> Vec<String> {
        self.search_fake
            .requests()
            .iter()
            .filter_map(|r| r.params.get("q").cloned())
            .collect()
    }
}

fn say(v: Value) -> Reply {
    Reply::Text(v.to_string())
}

fn no_hits() -> Value {
    json!({"type": "search", "web": {"type": "search", "results": []}})
}

fn page(url: &str, text: &str) -> FetchedPage {
    FetchedPage::from_text(Url::parse(url).unwrap(), Some("Pool".into()), text)
}

/// The first line after `heading` in a prompt.
fn section(user: &str, heading: &str) -> String {
    user.split(heading)
        .nth(1)
        .and_then(|r| r.lines().next())
        .unwrap_or_default()
        .to_string()
}

/// The quoted lines of an entailment prompt, in order.
fn quotes(user: &str) -> Vec<String> {
    user.lines()
        .filter(|l| l.starts_with('"'))
        .map(str::to_string)
        .collect()
}

/// Every fact's evidence quotes its registered source exactly, by bytes and by characters.
fn assert_offsets_exact(registry: &SourceRegistry, r: &Reconstruction) {
    for f in r.facts.iter().filter_map(|f| f.evidence.as_ref()) {
        let text = registry
            .text(f.source)
            .expect("evidence names a registered source");
        assert_eq!(&text[f.bytes.clone()], f.quote);
        let by_chars: String = text
            .chars()
            .skip(f.chars.start)
            .take(f.chars.len())
            .collect();
        assert_eq!(by_chars, f.quote);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fact_missing_from_the_pool_is_found_on_the_web_registered_and_cited() {
    let s = Setup::start().await;
    s.decompose_into(&[TURBINES, OUTPUT]);
    s.entail_when(&[("120 turbines", "120 turbines"), ("1.2 TWh", "1.2 TWh")]);
    s.search_fake.serve_pages(&s.pages, &["/helios-output"]);

    let r = s.retriever().reverify(TWO_FACTS, &[1]).await;

    assert_eq!(r.outcome, Outcome::AllVerified, "{r:#?}");
    assert_eq!(
        r.sentence,
        "The Helios wind farm in Portugal has 120 turbines and produced 1.2 TWh of electricity in 2023 [1][2]."
    );
    assert_eq!(r.cited, [1, 2]);
    assert_eq!(r.new_sources, [2]);
    let new = s.registry.get(2).expect("the found page is registered");
    assert!(new.url.ends_with("/helios-output"), "{}", new.url);
    assert_eq!(s.pages.hits("/helios-output"), 1);

    let turbines = &r.facts[0];
    let output = &r.facts[1];
    assert!(turbines.verified && output.verified);
    let pool_quote = turbines.evidence.as_ref().unwrap();
    assert_eq!((pool_quote.source, pool_quote.origin), (1, Origin::Pool));
    let web_quote = output.evidence.as_ref().unwrap();
    assert_eq!((web_quote.source, web_quote.origin), (2, Origin::External));
    assert!(web_quote.quote.contains("1.2 TWh"), "{}", web_quote.quote);
    assert_offsets_exact(&s.registry, &r);

    // Only the fact the pool lacks was searched, once; decomposition and one entailment
    // per fact were the model calls.
    assert_eq!(r.searches, 1);
    let searched = s.search_texts();
    assert_eq!(searched.len(), 1);
    assert!(searched[0].contains("1.2 TWh"), "{searched:?}");
    assert_eq!(s.llm.calls_to("ep-decompose").len(), 1);
    assert_eq!(s.llm.calls_to("ep-entail").len(), 2);
    assert_eq!(r.model_calls, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fact_no_source_states_is_softened_by_the_strategy_and_left_uncited() {
    let s = Setup::start().await;
    let mut s = s;
    s.settings.softening_strategy = "parenthetical".into();
    s.entail_when(&[]);
    // The web has a page about the farm, but not about its staff.
    s.search_fake.serve_pages(&s.pages, &["/helios-output"]);

    let claim = "The Helios farm employs 85 permanent staff [1].";
    let r = s.retriever().reverify(claim, &[1]).await;

    assert_eq!(r.outcome, Outcome::NoneVerified);
    assert_eq!(
        r.sentence,
        format!("The Helios farm employs 85 permanent staff{UNVERIFIED_SUFFIX}.")
    );
    assert!(r.cited.is_empty());
    assert!(!r.facts[0].verified);
    // The page that did not verify it was read but never registered.
    assert!(r.new_sources.is_empty());
    assert_eq!(s.registry.all().len(), 1);
    assert_eq!(s.pages.hits("/helios-output"), 1);
    assert_eq!(r.searches, 2, "both queries of the fact were tried");
    assert!(s.llm.calls_to("ep-soften").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn hedging_uses_the_models_wording_only_when_it_keeps_the_numbers() {
    let s = Setup::start().await;
    s.entail_when(&[]);
    s.llm.script(
        "ep-soften",
        vec![
            Reply::Text("The Helios farm reportedly employs 85 permanent staff.".into()),
            // Drops the figure: refused.
            Reply::Text("The Helios farm reportedly employs many people.".into()),
        ],
    );
    let claim = "The Helios farm employs 85 permanent staff [1].";
    let retriever = Retriever::new(&s.router, &s.registry, &s.settings);

    let first = retriever.reverify(claim, &[1]).await;
    assert_eq!(
        first.sentence,
        "The Helios farm reportedly employs 85 permanent staff."
    );
    assert!(first.problems.is_empty(), "{:?}", first.problems);

    let second = retriever.reverify(claim, &[1]).await;
    assert_eq!(
        second.sentence,
        "Reportedly, the Helios farm employs 85 permanent staff."
    );
    assert!(
        matches!(second.problems.as_slice(), [RetrievalError::Rewrite(why)] if why.contains("number")),
        "{:?}",
        second.problems
    );
    assert_eq!(s.llm.calls_to("ep-soften").len(), 2);
    // Without a web, nothing is searched.
    assert_eq!(first.searches + second.searches, 0);
    assert!(s.search_fake.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mixed_claim_keeps_the_verified_fact_cited_and_softens_the_rest() {
    let s = Setup::start().await;
    s.decompose_into(&[TURBINES, OUTPUT]);
    s.entail_when(&[("120 turbines", "120 turbines")]);
    let good = "The Helios wind farm in Portugal has 120 turbines [1] and reportedly produced 1.2 TWh of electricity in 2023.";
    s.llm.script(
        "ep-rewrite",
        vec![
            Reply::Text(good.into()),
            // Cites a source that verified nothing: refused.
            Reply::Text("The Helios wind farm in Portugal has 120 turbines [1] and produced 1.2 TWh of electricity in 2023 [3].".into()),
        ],
    );
    let retriever = Retriever::new(&s.router, &s.registry, &s.settings);

    let r = retriever.reverify(TWO_FACTS, &[1]).await;
    assert_eq!(r.outcome, Outcome::Mixed);
    assert_eq!(
        r.facts.iter().map(|f| f.verified).collect::<Vec<_>>(),
        [true, false]
    );
    assert_eq!(r.sentence, good);
    assert_eq!(r.cited, [1]);
    let prompt = last_user_message(&s.llm.calls_to("ep-rewrite")[0].body);
    assert!(prompt.contains("VERIFIED, cite as [1]"), "{prompt}");
    assert!(
        prompt.contains("UNVERIFIED: The Helios wind farm produced"),
        "{prompt}"
    );

    let fallback = retriever.reverify(TWO_FACTS, &[1]).await;
    assert_eq!(
        fallback.sentence,
        "The Helios wind farm in Portugal has 120 turbines [1]. Reportedly, the Helios wind farm produced 1.2 TWh of electricity in 2023."
    );
    assert_eq!(fallback.cited, [1]);
    assert!(matches!(
        fallback.problems.as_slice(),
        [RetrievalError::Rewrite(_)]
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_claim_is_its_own_fact_without_a_decomposition_call() {
    let s = Setup::start().await;
    s.decompose_into(&["Helios exists.", "Helios has turbines."]);
    s.entail_when(&[("120 turbines", "120 turbines")]);

    let r = s
        .retriever()
        .reverify("Helios has 120 turbines [1].", &[1])
        .await;

    assert!(s.llm.calls_to("ep-decompose").is_empty());
    assert_eq!(r.facts.len(), 1);
    assert_eq!(r.facts[0].text, "Helios has 120 turbines.");
    assert_eq!(r.outcome, Outcome::AllVerified);
    assert_eq!(r.sentence, "Helios has 120 turbines [1].");
    assert_eq!(r.searches, 0);
    assert!(s.search_fake.requests().is_empty());

    // A claim of eight words or more is decomposed.
    let long = s
        .retriever()
        .reverify(
            "The Helios wind farm in Portugal has 120 turbines [1].",
            &[1],
        )
        .await;
    assert_eq!(s.llm.calls_to("ep-decompose").len(), 1);
    assert_eq!(long.facts.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fact_whose_number_differs_from_the_evidence_is_never_verified() {
    let s = Setup::start().await;
    let mut s = s;
    // Every window of the pool is a candidate, and the model says 1.0 to everything.
    s.settings.internal_search_threshold = 0.0;
    s.llm.always(
        "ep-entail",
        say(json!({"reasoning": "clearly stated", "score": 1.0, "evidence_index": 1})),
    );
    s.pages.set_page(
        "/helios-turbines",
        OUTPUT_PAGE.replace(
            "produced 1.2 TWh of electricity in 2023",
            "has 120 turbines along the coast",
        ),
    );
    s.search_fake.serve_pages(&s.pages, &["/helios-turbines"]);

    let r = s
        .retriever()
        .reverify("Helios has 150 turbines [1].", &[1])
        .await;

    let fact = &r.facts[0];
    assert!(!fact.verified, "{fact:#?}");
    assert_eq!(fact.entailment, Some(1.0));
    assert!(fact.reasoning.contains("numeric"), "{}", fact.reasoning);
    assert_eq!(r.outcome, Outcome::NoneVerified);
    assert!(r.cited.is_empty(), "{}", r.sentence);
    assert!(r.sentence.contains("150"), "{}", r.sentence);
    // The pool and the web page were both judged, and the page was not registered.
    assert!(s.llm.calls_to("ep-entail").len() >= 2);
    assert_eq!(s.pages.hits("/helios-turbines"), 1);
    assert!(r.new_sources.is_empty());
    assert_eq!(s.registry.all().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_decomposition_checks_the_claim_as_one_fact() {
    let s = Setup::start().await;
    s.llm.always("ep-decompose", Reply::Status(500, None));
    s.entail_when(&[("120 turbines", "120 turbines")]);

    let claim = "The Helios wind farm in Portugal has 120 turbines along the coast [1].";
    let r = s.retriever().reverify(claim, &[1]).await;

    assert_eq!(s.llm.calls_to("ep-decompose").len(), 1);
    assert!(
        matches!(r.problems.first(), Some(RetrievalError::Decomposition(_))),
        "{:?}",
        r.problems
    );
    assert_eq!(r.facts.len(), 1);
    assert_eq!(r.outcome, Outcome::AllVerified);
    assert_eq!(
        r.sentence,
        "The Helios wind farm in Portugal has 120 turbines along the coast [1]."
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn when_every_model_call_fails_the_claim_is_softened_not_deleted() {
    let s = Setup::start().await;
    let mut s = s;
    s.settings.softening_strategy = "qualify".into();
    for model in ["ep-decompose", "ep-entail", "ep-soften"] {
        s.llm.always(model, Reply::Status(503, None));
    }

    let claim = "The Helios wind farm in Portugal has 120 turbines along the coast [1].";
    let r = s.retriever().reverify(claim, &[1]).await;

    assert_eq!(r.outcome, Outcome::NoneVerified);
    assert_eq!(
        r.sentence,
        "Some evidence suggests that the Helios wind farm in Portugal has 120 turbines along the coast."
    );
    let kinds: Vec<&str> = r
        .problems
        .iter()
        .map(|p| match p {
            RetrievalError::Decomposition(_) => "decomposition",
            RetrievalError::Entailment { .. } => "entailment",
            RetrievalError::Rewrite(_) => "rewrite",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["decomposition", "entailment", "rewrite"]);
    assert_eq!(r.model_calls, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn searches_stay_within_the_per_fact_and_per_run_budgets() {
    let s = Setup::start().await;
    let mut s = s;
    s.settings.max_searches_per_fact = 2;
    s.decompose_into(&[
        "The Helios wind farm employs 85 permanent staff.",
        "The Helios wind farm was sold to a pension fund in 2022.",
        "The Helios wind farm pays rent to the town of Sines.",
    ]);
    s.entail_when(&[]);
    let claim = "The Helios wind farm employs 85 staff, was sold to a pension fund in 2022 and pays rent to Sines [1].";

    // Per fact: the fact, then its key terms; never the same query twice.
    let wide = s.retriever().with_search_budget(100);
    let r = wide.reverify(claim, &[1]).await;
    assert_eq!(r.searches, 6);
    let texts = s.search_texts();
    assert_eq!(texts.len(), 6);
    let unique: std::collections::BTreeSet<&String> = texts.iter().collect();
    assert_eq!(unique.len(), 6, "{texts:?}");
    assert_eq!(wide.searches_left(), 94);

    // The run's budget is shared by claims and stops the search when spent.
    let tight = s.retriever().with_search_budget(3);
    let first = tight.reverify(claim, &[1]).await;
    let second = tight.reverify(claim, &[1]).await;
    assert_eq!(first.searches + second.searches, 3);
    assert_eq!(s.search_texts().len(), 9);
    assert_eq!(tight.searches_left(), 0);
    assert!(second.problems.iter().all(|p| matches!(
        p,
        RetrievalError::BudgetSpent { .. } | RetrievalError::Rewrite(_)
    )));
    assert!(second
        .problems
        .iter()
        .any(|p| matches!(p, RetrievalError::BudgetSpent { .. })));

    // No search at all when a fact may not search.
    s.settings.max_searches_per_fact = 0;
    let none = s.retriever().reverify(claim, &[1]).await;
    assert_eq!(none.searches, 0);
    assert_eq!(s.search_texts().len(), 9);
}

#[tokio::test(flavor = "multi_thread")]
async fn facts_are_searched_at_the_same_time() {
    let s = Setup::start().await;
    s.decompose_into(&[
        "The Helios wind farm employs 85 permanent staff.",
        "The Helios wind farm was sold to a pension fund in 2022.",
        "The Helios wind farm pays rent to the town of Sines.",
    ]);
    s.entail_when(&[]);
    s.search_fake.latency(Duration::from_millis(400));
    let mut settings = s.settings.clone();
    settings.max_searches_per_fact = 1;
    let retriever = Retriever::new(&s.router, &s.registry, &settings).with_web(s.web());

    let claim = "The Helios wind farm employs 85 staff, was sold to a pension fund in 2022 and pays rent to Sines [1].";
    let r = retriever.reverify(claim, &[1]).await;

    assert_eq!(r.searches, 3);
    let arrivals: Vec<_> = s.search_fake.requests().iter().map(|q| q.at).collect();
    let first = *arrivals.iter().min().unwrap();
    let last = *arrivals.iter().max().unwrap();
    // One after another, each would arrive at least 400 ms after the one before.
    assert!(
        last.duration_since(first) < Duration::from_millis(400),
        "searches were not concurrent: {:?}",
        last.duration_since(first)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_depths_limits_reach_the_retriever_through_for_depth() {
    use dra::citations::config::{CitationVerification, DepthOverride, RetrievalOverride};
    let s = Setup::start().await;
    s.decompose_into(&[TURBINES, OUTPUT, "The Helios wind farm is in Portugal."]);
    s.entail_when(&[("120 turbines", "120 turbines")]);
    let mut section = CitationVerification {
        verification_retrieval: s.settings.clone(),
        ..CitationVerification::default()
    };
    section.verification_retrieval.max_atomic_facts_per_claim = 2;

    // The section's own cap: the third fact is dropped.
    let capped = Retriever::new(&s.router, &s.registry, &section.verification_retrieval)
        .reverify(TWO_FACTS, &[1])
        .await;
    assert_eq!(capped.facts.len(), 2);

    // A depth allowing one fact per claim: no decomposition at all.
    let quick = section.for_depth(Some(&DepthOverride {
        verification_retrieval: Some(RetrievalOverride {
            max_atomic_facts_per_claim: Some(1),
            max_searches_per_fact: Some(0),
        }),
        ..DepthOverride::default()
    }));
    let decompositions = s.llm.calls_to("ep-decompose").len();
    let r = Retriever::new(&s.router, &s.registry, &quick.verification_retrieval)
        .with_web(s.web())
        .reverify(TWO_FACTS, &[1])
        .await;
    assert_eq!(s.llm.calls_to("ep-decompose").len(), decompositions);
    assert_eq!(r.facts.len(), 1);
    assert_eq!(r.searches, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_decomposition_times_out_into_one_fact() {
    let s = Setup::start().await;
    let mut s = s;
    s.settings.decomposition_timeout_seconds = 0.2;
    s.llm.always(
        "ep-decompose",
        Reply::Delayed(
            Duration::from_secs(5),
            Box::new(say(json!({ "facts": [TURBINES, OUTPUT] }))),
        ),
    );
    s.entail_when(&[("120 turbines", "120 turbines")]);

    let claim = "The Helios wind farm in Portugal has 120 turbines along the coast [1].";
    let r = s.retriever().reverify(claim, &[1]).await;

    assert_eq!(r.facts.len(), 1);
    assert!(
        matches!(r.problems.as_slice(), [RetrievalError::Decomposition(why)] if why.contains("timed out")),
        "{:?}",
        r.problems
    );
    assert_eq!(r.outcome, Outcome::AllVerified);
}

/// Stage 7 inside report verification: a claim its cited source only partly supports is
/// re-verified fact by fact; the page found for the missing fact is registered, the
/// sentence cites it, the verdict becomes supported and the References list names it.
#[tokio::test(flavor = "multi_thread")]
async fn verification_hands_partial_claims_to_stage_7_and_the_report_cites_the_new_page() {
    use dra::citations::config::CitationVerification;
    use dra::citations::provenance::Verdict;
    use dra::citations::verify::{Treatment, Verifier};

    let s = Setup::start().await;
    s.decompose_into(&[TURBINES, OUTPUT]);
    s.entail_when(&[("120 turbines", "120 turbines"), ("1.2 TWh", "1.2 TWh")]);
    s.search_fake.serve_pages(&s.pages, &["/helios-output"]);
    // Stage 4: the pool states the turbines, not the output.
    for tier in ["ep-simple", "ep-analytical"] {
        s.llm.always(
            tier,
            say(json!({"reasoning": "only the turbines are stated", "verdict": "partial", "evidence_index": 1})),
        );
    }
    let settings = CitationVerification {
        enable_verification_retrieval: true,
        verification_retrieval: s.settings.clone(),
        ..CitationVerification::default()
    };
    let retriever = s.retriever();
    let report = format!(
        "# Helios\n\n{TWO_FACTS}\n\n## References\n\n1. [Pool](https://pool.example/helios)\n"
    );
    let verified = Verifier::new(&s.router, &s.registry, &settings)
        .with_retriever(&retriever)
        .verify(&report)
        .await;

    let claim = &verified.claims[0];
    assert_eq!(claim.claim.verification_verdict, Some(Verdict::Supported));
    assert!(matches!(claim.treatment, Treatment::Rewritten(_)));
    assert_eq!(
        claim.claim.citation_keys,
        Some(vec!["1".into(), "2".into()])
    );
    // Each verified fact's quote is a citation, with exact offsets into its source.
    let quotes: Vec<&str> = claim
        .claim
        .citations
        .iter()
        .map(|c| c.evidence_span.quote_text.as_str())
        .collect();
    assert!(
        quotes.iter().any(|q| q.contains("120 turbines")),
        "{quotes:?}"
    );
    assert!(quotes.iter().any(|q| q.contains("1.2 TWh")), "{quotes:?}");
    for c in &claim.claim.citations {
        let url = c
            .evidence_span
            .source
            .as_ref()
            .and_then(|m| m.url.clone())
            .unwrap();
        let number = s.registry.number_of(&url).expect("a registered source");
        let text = s.registry.text(number).unwrap();
        let start = c.evidence_span.start_offset.unwrap() as usize;
        let end = c.evidence_span.end_offset.unwrap() as usize;
        let quoted: String = text.chars().skip(start).take(end - start).collect();
        assert_eq!(quoted, c.evidence_span.quote_text);
    }
    assert!(
        verified
            .markdown
            .contains("produced 1.2 TWh of electricity in 2023 [1][2]."),
        "{}",
        verified.markdown
    );
    assert!(
        verified.markdown.contains("/helios-output"),
        "the References list names the page stage 7 found: {}",
        verified.markdown
    );
    assert_eq!(verified.summary.supported_count, 1);
}
