//! Claim verification over a fixed fake corpus: a report of labelled claims, faithful or
//! planted defects, verified against five registered sources with the verifier model at a
//! fixed latency. Results: `bench-results/verification.json`.
//!
//! The fake verifier is an oracle: it answers each request with the bench's ground truth for
//! the claim it is shown (and points at the quotes of the sources the label names). Model
//! quality is therefore not measured; what is measured is the pipeline around the model —
//! the deterministic checks (unknown citations, verbatim matches, numeric QA) that spare
//! calls, how many calls it makes per claim, whether each verdict ends in the right
//! treatment of the sentence, and how long it all takes at a realistic latency. A defect an
//! oracle cannot flag (say, evidence selection never shows it the contradicting quote) is a
//! pipeline defect, and shows up as lost recall.
//!
//! Goals are reported as PASS/FAIL; the process does not fail on a missed goal.

mod common;
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use chrono::Utc;
use dra::citations::config::CitationVerification;
use dra::citations::provenance::Verdict;
use dra::citations::sources::SourceRegistry;
use dra::citations::verify::{verify_report, Treatment, VerifiedReport};
use dra::config::AppConfig;
use dra::web::FetchedPage;
use serde_json::{json, Value};
use support::llm::{add_tiers, router, FakeLlm, Reply};
use support::world::last_user_message;
use url::Url;

const LLM_LATENCY: Duration = Duration::from_millis(300);
const SAMPLES: usize = 3;
/// `verify.rs`'s claims in flight at once, for `ideal_wall_ms`.
const VERIFY_CONCURRENCY: usize = dra::citations::verify::CONCURRENT_CLAIMS;
const GOAL_CALLS_PER_CLAIM: f64 = 1.0;
const GOAL_RECALL: f64 = 1.0;
const GOAL_PRECISION: f64 = 1.0;
const GOAL_SHARE: f64 = 0.25;
/// The research_run bench's medium parallel wall time at 300/200/150 ms latencies, used
/// when `bench-results/research_run.json` has not been written yet.
const ASSUMED_RESEARCH_WALL_MS: f64 = 2700.0;
const RESEARCH_RESULTS: &str = "bench-results/research_run.json";

/// A source: title, URL, paragraphs.
struct Source {
    title: &'static str,
    url: &'static str,
    paragraphs: &'static [&'static str],
}

static SOURCES: [Source; 5] = [
    Source {
        title: "Mekong delta field survey",
        url: "https://delta.example/mekong",
        paragraphs: &[
            "The Mekong delta loses about 500 hectares of land to erosion each year. Sand mining upstream removes sediment that would otherwise rebuild the river banks. Rice paddies cover about 60 percent of the farmland in the delta.",
            "Saltwater now reaches 60 kilometres inland during the dry season. Dams on the upper river trap most of the silt before it reaches the coast. Mangrove belts slow erosion where they are at least 100 metres wide.",
            "The delta is home to around 17 million people. Groundwater pumping lowers parts of the delta by 2 centimetres a year.",
        ],
    },
    Source {
        title: "Alpine glacier monitoring report",
        url: "https://ice.example/glaciers",
        paragraphs: &[
            "Swiss glaciers lost 4 percent of their remaining volume in 2023. Meltwater from glaciers feeds the Rhine during dry summers. The Rhone glacier has retreated by 1400 metres since 1850.",
            "Researchers cover parts of the Rhone glacier with white blankets to slow melting. About 1000 glaciers have disappeared from the Swiss Alps. Glacier collapses threaten villages in narrow valleys below them.",
            "Monitoring stations measure ice thickness at 20 sites every autumn.",
        ],
    },
    Source {
        title: "Great Barrier Reef health bulletin",
        url: "https://reef.example/bulletin",
        paragraphs: &[
            "Mass bleaching affected 73 percent of surveyed reefs in 2024. Coral cover recovers within a decade when bleaching events are rare. Crown-of-thorns starfish outbreaks destroy coral across large areas.",
            "Water temperatures peaked at 2 degrees above the summer average. Divers culled more than 50000 starfish last year. Runoff from farms carries fertiliser onto inshore reefs.",
            "The reef stretches for about 2300 kilometres along the coast. Heat-tolerant corals are being bred in laboratory tanks.",
        ],
    },
    Source {
        title: "Rooftop solar market note",
        url: "https://solar.example/rooftop",
        paragraphs: &[
            "Rooftop solar capacity in Germany reached 40 gigawatts in 2024. Falling panel prices made small installations profitable without subsidies. Panel prices fell by 50 percent between 2022 and 2024.",
            "Installers report waiting lists of several months in rural areas. Home batteries are sold with most new rooftop systems. Grid operators curtail solar output on sunny weekends.",
            "The average household system has a capacity of 10 kilowatts. Balcony panels need no permit for systems under 800 watts.",
        ],
    },
    Source {
        title: "Independent review of environmental claims",
        url: "https://review.example/claims",
        paragraphs: &[
            "The review checked claims from 12 recent reports. Its authors compared each claim with the original data.",
            "Satellite records show the Mekong delta gains land overall, with no net loss to erosion each year. Swiss glaciers did not lose remaining volume in 2023, as heavy snowfall offset the melt.",
            "Coral cover does not recover within a decade, even when bleaching events are rare. Panel prices rose between 2022 and 2024 because of supply shortages.",
        ],
    },
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Verbatim,
    Paraphrase,
    WrongNumber,
    UnrelatedSource,
    UnknownSource,
    Disputed,
}

impl Kind {
    fn is_defect(self) -> bool {
        !matches!(self, Kind::Verbatim | Kind::Paraphrase)
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Verbatim => "verbatim",
            Kind::Paraphrase => "paraphrase",
            Kind::WrongNumber => "wrong_number",
            Kind::UnrelatedSource => "unrelated_source",
            Kind::UnknownSource => "unknown_source",
            Kind::Disputed => "disputed",
        }
    }
}

/// One claim of the report and its ground truth. Sources are numbered from 1, as the
/// registry numbers them in registration order.
#[derive(Clone, Debug)]
struct Label {
    text: String,
    kind: Kind,
    cites: Vec<u32>,
    /// The source that states the claim (faithful and disputed claims).
    supports: Option<u32>,
    /// The cited source that states otherwise (disputed claims).
    contradicts: Option<u32>,
}

fn label(kind: Kind, text: &str, cites: &[u32], supports: Option<u32>) -> Label {
    Label {
        text: text.to_string(),
        kind,
        cites: cites.to_vec(),
        supports,
        contradicts: None,
    }
}

/// Sentences of the source, without their final stops.
fn sentences(source: &Source) -> Vec<&'static str> {
    source
        .paragraphs
        .iter()
        .flat_map(|p| p.split(". "))
        .map(|s| s.trim_end_matches('.'))
        .collect()
}

fn labels() -> Vec<Label> {
    let mut out = Vec::new();
    // Verbatim: sentences copied from their cited source, by index into `sentences`.
    let verbatim: [&[usize]; 5] = [
        &[0, 2, 3, 5, 6, 7],
        &[0, 1, 2, 4, 5, 6],
        &[0, 2, 3, 4, 6, 7],
        &[0, 2, 3, 4, 6, 7],
        &[0, 1],
    ];
    for (i, picks) in verbatim.iter().enumerate() {
        let n = i as u32 + 1;
        let all = sentences(&SOURCES[i]);
        for &p in *picks {
            out.push(label(Kind::Verbatim, all[p], &[n], Some(n)));
        }
    }
    let paraphrases: [(u32, &str); 9] = [
        (1, "Upstream sand extraction takes away sediment that would have rebuilt the banks of the river"),
        (1, "Most of the silt is held back by upstream dams before it can get to the coast"),
        (2, "During dry summers the Rhine is fed by glacial meltwater"),
        (2, "White blankets are spread over sections of the Rhone glacier by researchers to reduce melting"),
        (3, "Where bleaching events are infrequent, coral cover comes back within a decade"),
        (3, "Fertiliser from agricultural runoff reaches the reefs close to shore"),
        (4, "Small installations became profitable without subsidies as panels got cheaper"),
        (4, "On sunny weekends, grid operators cut back the output of solar plants"),
        (5, "Every claim was checked against the original data by the authors"),
    ];
    for (n, text) in paraphrases {
        out.push(label(Kind::Paraphrase, text, &[n], Some(n)));
    }
    let wrong_numbers: [(u32, &str); 5] = [
        (
            1,
            "Saltwater now reaches 90 kilometres inland during the dry season",
        ),
        (
            2,
            "Swiss glaciers lost 10 percent of their remaining volume in 2023",
        ),
        (
            3,
            "Mass bleaching affected 37 percent of surveyed reefs in 2024",
        ),
        (
            4,
            "The average household system has a capacity of 25 kilowatts",
        ),
        (5, "The review checked claims from 21 recent reports"),
    ];
    for (n, text) in wrong_numbers {
        out.push(label(Kind::WrongNumber, text, &[n], None));
    }
    // Stated by no source; each cites a source on another subject.
    let unrelated: [(u32, &str); 5] = [
        (
            1,
            "Alpine ski resorts have moved their lifts higher up the mountains",
        ),
        (
            2,
            "Coral spawning along the northern coast was delayed by a month",
        ),
        (
            3,
            "Glacier tourism brought record visitor numbers to the valleys",
        ),
        (
            4,
            "Mangrove planting has spread along the whole delta coast",
        ),
        (
            5,
            "Rooftop installers hired thousands of new electricians last year",
        ),
    ];
    for (n, text) in unrelated {
        out.push(label(Kind::UnrelatedSource, text, &[n], None));
    }
    let unknown = [
        "The delta exports 8 million tonnes of rice a year",
        "Ski resorts have moved their lifts 300 metres higher",
        "Reef tourism employs 64000 people",
        "Solar panels last 30 years on average",
        "The review was funded by 3 foundations",
    ];
    for text in unknown {
        out.push(label(Kind::UnknownSource, text, &[99], None));
    }
    // Reworded so no disputed claim shares its text with a verbatim one: the oracle knows a
    // claim only by its text.
    let disputed: [(u32, &str); 4] = [
        (
            1,
            "The Mekong delta loses about 500 hectares of land to erosion every year",
        ),
        (
            2,
            "In 2023 Swiss glaciers lost 4 percent of their remaining volume",
        ),
        (
            3,
            "Coral cover comes back within a decade if bleaching events are rare",
        ),
        (4, "Between 2022 and 2024 panel prices fell by 50 percent"),
    ];
    for (n, text) in disputed {
        out.push(Label {
            contradicts: Some(5),
            ..label(Kind::Disputed, text, &[n, 5], Some(n))
        });
    }
    interleave(out)
}

/// Spreads the kinds through the report, so the concurrent verifier sees a mix at any
/// moment rather than all verbatim claims first.
fn interleave(labels: Vec<Label>) -> Vec<Label> {
    let mut by_kind: Vec<Vec<Label>> = Vec::new();
    for l in labels {
        match by_kind.iter_mut().find(|v| v[0].kind == l.kind) {
            Some(v) => v.push(l),
            None => by_kind.push(vec![l]),
        }
    }
    let mut out = Vec::new();
    let longest = by_kind.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..longest {
        out.extend(by_kind.iter().filter_map(|v| v.get(i).cloned()));
    }
    out
}

/// Four claims a paragraph, a References list of the registered sources.
fn report(labels: &[Label]) -> String {
    let mut md = String::from("# Environmental change: a review\n\n");
    for chunk in labels.chunks(4) {
        let sentences: Vec<String> = chunk
            .iter()
            .map(|l| {
                let markers: String = l.cites.iter().map(|n| format!("[{n}]")).collect();
                format!("{} {markers}.", l.text)
            })
            .collect();
        md.push_str(&sentences.join(" "));
        md.push_str("\n\n");
    }
    md.push_str("## References\n\n");
    for (i, s) in SOURCES.iter().enumerate() {
        md.push_str(&format!("{}. [{}]({})\n", i + 1, s.title, s.url));
    }
    md
}

fn page(source: &Source) -> FetchedPage {
    let text = format!("{}\n\n{}", source.title, source.paragraphs.join("\n\n"));
    FetchedPage::from_text(
        Url::parse(source.url).unwrap(),
        Some(source.title.into()),
        text,
    )
}

fn registry() -> anyhow::Result<SourceRegistry> {
    let r = SourceRegistry::default();
    for (i, s) in SOURCES.iter().enumerate() {
        let n = r.register(&page(s));
        if n != i as u32 + 1 {
            bail!("{} registered as [{n}], expected [{}]", s.url, i + 1);
        }
    }
    Ok(r)
}

fn key(text: &str) -> String {
    text.trim().trim_end_matches('.').trim().to_string()
}

/// The quotes of a verification request by the source they come from: the prompt heads
/// each quote `[i] {title}`.
fn quote_sources(user: &str) -> Vec<(u32, u32)> {
    let evidence = user.split("## Evidence\n").nth(1).unwrap_or_default();
    evidence
        .lines()
        .filter_map(|line| {
            let (n, title) = line.strip_prefix('[')?.split_once("] ")?;
            let source = SOURCES.iter().position(|s| s.title == title.trim())?;
            Some((n.parse().ok()?, source as u32 + 1))
        })
        .collect()
}

/// The oracle: the ground truth for the claim shown, pointing at the shown quotes of the
/// sources its label names. A claim it does not know is counted and called unsupported.
fn oracle(
    truth: Arc<HashMap<String, Label>>,
    unknown: Arc<AtomicUsize>,
) -> impl Fn(&Value) -> Reply + Send + Sync + 'static {
    move |body| {
        let user = last_user_message(body);
        let claim = user
            .split("## Claim\n")
            .nth(1)
            .and_then(|r| r.lines().next())
            .unwrap_or_default();
        let quotes = quote_sources(&user);
        let quote_of = |source: Option<u32>| {
            quotes
                .iter()
                .find(|(_, s)| Some(*s) == source)
                .map(|(i, _)| *i)
        };
        let answer = match truth.get(&key(claim)) {
            None => {
                unknown.fetch_add(1, Ordering::Relaxed);
                json!({"reasoning": "unknown claim", "verdict": "unsupported"})
            }
            Some(l) => match l.kind {
                Kind::Verbatim | Kind::Paraphrase => match quote_of(l.supports) {
                    Some(i) => {
                        json!({"reasoning": "the quote states it", "verdict": "supported", "evidence_index": i})
                    }
                    None => {
                        json!({"reasoning": "its source is not quoted", "verdict": "unsupported"})
                    }
                },
                Kind::WrongNumber => {
                    json!({"reasoning": "the source gives another number", "verdict": "contradicted",
                           "contradicting_evidence": quotes.iter().map(|(i, _)| *i).collect::<Vec<_>>()})
                }
                Kind::UnrelatedSource | Kind::UnknownSource => {
                    json!({"reasoning": "the evidence does not address it", "verdict": "unsupported"})
                }
                Kind::Disputed => {
                    let against: Vec<u32> = quote_of(l.contradicts).into_iter().collect();
                    match quote_of(l.supports) {
                        Some(i) => {
                            json!({"reasoning": "one source states it, another the opposite",
                                          "verdict": "supported", "evidence_index": i,
                                          "contradicting_evidence": against})
                        }
                        None => json!({"reasoning": "the evidence states otherwise",
                                       "verdict": "contradicted", "contradicting_evidence": against}),
                    }
                }
            },
        };
        Reply::Text(answer.to_string())
    }
}

/// One verification, measured.
struct Sample {
    wall: Duration,
    verified: VerifiedReport,
    fake_calls: usize,
    unknown_claims: usize,
}

async fn sample(labels: &[Label], md: &str) -> anyhow::Result<Sample> {
    let fake = FakeLlm::start().await;
    let truth: HashMap<String, Label> = labels.iter().map(|l| (key(&l.text), l.clone())).collect();
    let unknown = Arc::new(AtomicUsize::new(0));
    for model in ["ep-simple", "ep-analytical"] {
        fake.latency(model, LLM_LATENCY);
        fake.respond(model, oracle(Arc::new(truth.clone()), unknown.clone()));
    }
    let mut config = AppConfig::default();
    add_tiers(&mut config, &fake, &["simple", "analytical"]);
    // The endpoints' token limiter would otherwise pace the calls; what is measured is the
    // pipeline at a fixed model latency.
    for endpoint in config.endpoints.values_mut() {
        endpoint.tokens_per_minute = u32::MAX;
    }
    let router = router(&config);
    let registry = registry()?;
    let settings = CitationVerification::default();

    let started = Instant::now();
    let verified = verify_report(&router, md, &registry, &settings).await;
    let wall = started.elapsed();
    Ok(Sample {
        wall,
        verified,
        fake_calls: fake.calls().len(),
        unknown_claims: unknown.load(Ordering::Relaxed),
    })
}

fn main() -> anyhow::Result<()> {
    common::block_on(bench())
}

fn flagged(c: &dra::citations::verify::VerifiedClaim) -> bool {
    c.claim.verification_verdict != Some(Verdict::Supported)
        && matches!(
            c.treatment,
            Treatment::Unsupported(_) | Treatment::Disputed { .. } | Treatment::Rewritten(_)
        )
}

fn treatment_name(t: &Treatment) -> &'static str {
    match t {
        Treatment::Kept => "kept",
        Treatment::Recited { .. } => "recited",
        Treatment::Added { .. } => "added",
        Treatment::Disputed { .. } => "disputed",
        Treatment::Unsupported(_) => "unsupported",
        Treatment::Abstained => "abstained",
        Treatment::Rewritten(_) => "rewritten",
    }
}

fn pass(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "FAIL"
    }
}

async fn bench() -> anyhow::Result<()> {
    let labels = labels();
    let distinct: HashSet<String> = labels.iter().map(|l| key(&l.text)).collect();
    if distinct.len() != labels.len() {
        bail!("claim texts repeat; the oracle could not tell them apart");
    }
    let md = report(&labels);

    let mut samples = Vec::new();
    for _ in 0..SAMPLES {
        samples.push(sample(&labels, &md).await?);
    }
    let mut walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
    walls.sort();
    let wall = walls[walls.len() / 2];
    let last = samples.last().expect("SAMPLES > 0");
    let v = &last.verified;

    if v.claims.len() != labels.len() {
        bail!(
            "the pipeline found {} claims in a report of {}",
            v.claims.len(),
            labels.len()
        );
    }
    for (c, l) in v.claims.iter().zip(&labels) {
        if key(&c.claim.claim_text) != key(&l.text) {
            bail!(
                "claim {:?} does not line up with label {:?}",
                c.claim.claim_text,
                l.text
            );
        }
    }

    let planted = labels.iter().filter(|l| l.kind.is_defect()).count();
    let faithful = labels.len() - planted;
    let mut defects_flagged = 0;
    let mut faithful_kept = 0;
    let mut faithful_flagged = 0;
    // Kind, claims, judged right.
    let mut per_kind: Vec<(Kind, usize, usize)> = Vec::new();
    let mut misjudged = Vec::new();
    for (c, l) in v.claims.iter().zip(&labels) {
        let is_flagged = flagged(c);
        let supported = c.claim.verification_verdict == Some(Verdict::Supported);
        if l.kind.is_defect() {
            defects_flagged += usize::from(is_flagged);
        } else {
            faithful_kept += usize::from(supported);
            faithful_flagged += usize::from(is_flagged);
        }
        let right = if l.kind.is_defect() {
            is_flagged
        } else {
            supported
        };
        if !right {
            misjudged.push(json!({
                "claim": l.text,
                "kind": l.kind.name(),
                "verdict": c.claim.verification_verdict.map(|v| v.as_str()),
                "treatment": treatment_name(&c.treatment),
            }));
        }
        let i = match per_kind.iter().position(|(k, _, _)| *k == l.kind) {
            Some(i) => i,
            None => {
                per_kind.push((l.kind, 0, 0));
                per_kind.len() - 1
            }
        };
        per_kind[i].1 += 1;
        per_kind[i].2 += usize::from(right);
    }

    let claims = labels.len();
    let model_calls = v.model_calls;
    let calls_per_claim = f64::from(model_calls) / claims as f64;
    let recall = defects_flagged as f64 / planted as f64;
    let precision = if defects_flagged + faithful_flagged == 0 {
        0.0
    } else {
        defects_flagged as f64 / (defects_flagged + faithful_flagged) as f64
    };
    let wall_ms = wall.as_secs_f64() * 1000.0;
    // A floor for comparison, not a goal: the calls spread evenly over the claims in flight,
    // as if none waited on another.
    let ideal_ms = (f64::from(model_calls) / VERIFY_CONCURRENCY as f64).ceil()
        * LLM_LATENCY.as_secs_f64()
        * 1000.0;

    let research = std::fs::read_to_string(RESEARCH_RESULTS)
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v["parallel"]["wall_ms"].as_f64());
    let (research_wall_ms, research_wall_source) = match research {
        Some(ms) => (ms, RESEARCH_RESULTS.to_string()),
        None => (
            ASSUMED_RESEARCH_WALL_MS,
            format!("assumed: {RESEARCH_RESULTS} not found"),
        ),
    };
    let share = wall_ms / (research_wall_ms + wall_ms);

    let calls_ok = calls_per_claim <= GOAL_CALLS_PER_CLAIM;
    let recall_ok = recall >= GOAL_RECALL;
    let precision_ok = precision >= GOAL_PRECISION;
    let share_ok = share <= GOAL_SHARE;

    let result = json!({
        "benchmark": "verification",
        "timestamp": Utc::now().to_rfc3339(),
        "latencies_ms": {"llm": LLM_LATENCY.as_millis() as u64},
        "sources": SOURCES.len(),
        "samples": SAMPLES,
        "claims": claims,
        "faithful": faithful,
        "planted_defects": planted,
        "model_calls": model_calls,
        "calls_per_claim": calls_per_claim,
        "wall_ms": wall_ms,
        "ideal_wall_ms": ideal_ms,
        "wall_ms_samples": samples.iter().map(|s| s.wall.as_secs_f64() * 1000.0).collect::<Vec<_>>(),
        "defects_flagged": defects_flagged,
        "faithful_kept": faithful_kept,
        "faithful_wrongly_flagged": faithful_flagged,
        "recall": recall,
        "precision": precision,
        "corrections": v.corrections,
        "per_kind": per_kind
            .iter()
            .map(|(k, n, right)| (k.name().to_string(), json!({"claims": n, "correct": right})))
            .collect::<serde_json::Map<_, _>>(),
        "misjudged": misjudged,
        "oracle_unknown_claims": last.unknown_claims,
        "fake_model_requests": last.fake_calls,
        "summary": v.summary,
        "share_of_medium_run": {
            "research_wall_ms": research_wall_ms,
            "research_wall_source": research_wall_source,
            "share": share,
        },
        "goals": {
            "calls_per_claim": {"goal": GOAL_CALLS_PER_CLAIM, "verdict": pass(calls_ok)},
            "recall": {"goal": GOAL_RECALL, "verdict": pass(recall_ok)},
            "precision": {"goal": GOAL_PRECISION, "verdict": pass(precision_ok)},
            "share_of_medium_run": {"goal": GOAL_SHARE, "verdict": pass(share_ok)},
        },
        "notes": [
            "the verifier model is an oracle answering with each claim's label: model quality is not measured, the pipeline around it is",
            "defects_flagged: planted defects whose verdict is not supported and whose sentence is treated as unsupported or disputed",
            "precision: defects_flagged / (defects_flagged + faithful claims so flagged)",
            format!("ideal_wall_ms: ceil(model_calls / {VERIFY_CONCURRENCY} claims in flight) x llm latency, ignoring that a correction or full check waits for its claim's first call"),
            "wall_ms: median over samples of verify_report alone; counts are from the last sample",
            "share_of_medium_run: wall_ms / (research_run's medium parallel wall_ms + wall_ms)",
            "endpoints' tokens_per_minute is raised to u32::MAX so the client-side limiter is not what is measured",
        ],
    });
    common::save("verification", &result)?;

    println!(
        "verification: {claims} claims, {model_calls} model calls ({calls_per_claim:.2}/claim, goal ≤ {GOAL_CALLS_PER_CLAIM:.1}: {}), {wall_ms:.0} ms; defects flagged {defects_flagged}/{planted} (recall {:.0}%: {}), precision {:.0}% ({}), faithful kept {faithful_kept}/{faithful}; share of a medium run {:.0}% (goal ≤ {:.0}%: {})",
        pass(calls_ok),
        recall * 100.0,
        pass(recall_ok),
        precision * 100.0,
        pass(precision_ok),
        share * 100.0,
        GOAL_SHARE * 100.0,
        pass(share_ok),
    );
    Ok(())
}
