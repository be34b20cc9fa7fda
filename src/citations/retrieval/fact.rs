//! 7b for one fact: pool windows that cover it judged first, then pages found by search;
//! a quote that entails it, numbers included, is cited.

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::job::Job;
use super::prompts::{entailment_prompt, judged, EntailmentAnswer, Judged, ENTAIL_SYSTEM};
use super::search::{external_candidates, search_query};
use super::text::{char_range, coverage};
use super::{FactEvidence, FactOutcome, Origin, RetrievalError, INTERNAL_TOP_K};
use crate::citations::evidence::{self, Limits};
use crate::citations::numeric;
use crate::llm::Message;
use crate::web::FetchedPage;

/// Where a candidate quote lives: a registered source, or a page fetched for this fact
/// and not registered (yet).
#[derive(Clone)]
pub(super) enum Holder {
    Registered(u32),
    Fetched(Arc<FetchedPage>),
}

/// A quote to judge, with exact offsets into its holder's text.
#[derive(Clone)]
pub(super) struct Candidate {
    pub(super) holder: Holder,
    pub(super) bytes: Range<usize>,
    pub(super) chars: Range<usize>,
    pub(super) quote: String,
}

impl Job<'_> {
    /// 7b: the pool first, then the web within the budgets.
    pub(super) async fn verify_fact(&self, fact: String) -> FactOutcome {
        let mut outcome = FactOutcome {
            text: fact.clone(),
            verified: false,
            entailment: None,
            evidence: None,
            reasoning: "no fetched source states it".into(),
        };
        let internal = self.internal_candidates(&fact);
        if !internal.is_empty() {
            if let Some(judged) = self.entail(&fact, &internal).await {
                if let Some(done) = self.settle(&mut outcome, &internal, judged) {
                    return done;
                }
            }
        }
        let Some(web) = self.r.web else {
            return outcome;
        };
        let mut asked: Vec<String> = Vec::new();
        for attempt in 0..self.settings().max_searches_per_fact {
            let Some(query) = search_query(&fact, attempt as usize) else {
                break;
            };
            if asked.contains(&query) {
                break;
            }
            asked.push(query.clone());
            if !self.r.budget.take() {
                self.problem(RetrievalError::BudgetSpent { fact: fact.clone() });
                break;
            }
            self.searches.fetch_add(1, Ordering::SeqCst);
            let pages = self.search_and_fetch(web, &query).await;
            let external = external_candidates(&pages, &fact);
            if external.is_empty() {
                continue;
            }
            if let Some(judged) = self.entail(&fact, &external).await {
                if let Some(done) = self.settle(&mut outcome, &external, judged) {
                    return done;
                }
            }
        }
        outcome
    }

    /// Records a judgement in `outcome`; returns the finished outcome when it verifies
    /// the fact (registering an external page first).
    fn settle(
        &self,
        outcome: &mut FactOutcome,
        candidates: &[Candidate],
        judged: Judged,
    ) -> Option<FactOutcome> {
        let candidate = candidates.get(judged.best)?;
        let threshold = self.settings().entailment_threshold;
        let numbers = numeric::check_claim(&outcome.text, &[candidate.quote.as_str()]);
        let better = outcome.entailment.is_none_or(|s| judged.score > s);
        if judged.score >= threshold && !numbers.qa_verified {
            if better {
                outcome.entailment = Some(judged.score);
                outcome.reasoning = format!(
                    "{} [numeric QA: a number of the fact is not in the quote]",
                    judged.reasoning
                );
                outcome.evidence = self.evidence_if_registered(candidate);
            }
            return None;
        }
        if judged.score < threshold {
            if better {
                outcome.entailment = Some(judged.score);
                outcome.reasoning = judged.reasoning;
                outcome.evidence = self.evidence_if_registered(candidate);
            }
            return None;
        }
        let evidence = self.cite(candidate)?;
        let mut done = outcome.clone();
        done.verified = true;
        done.entailment = Some(judged.score);
        done.reasoning = judged.reasoning;
        done.evidence = Some(evidence);
        Some(done)
    }

    fn evidence_if_registered(&self, c: &Candidate) -> Option<FactEvidence> {
        match c.holder {
            Holder::Registered(source) => Some(FactEvidence {
                source,
                chars: c.chars.clone(),
                bytes: c.bytes.clone(),
                quote: c.quote.clone(),
                origin: Origin::Pool,
            }),
            Holder::Fetched(_) => None,
        }
    }

    /// Evidence that may be cited: a pool quote as it is; an external page registered now,
    /// its quote located in the text the registry keeps (which is the fetched text, unless
    /// the URL had been registered already with another).
    fn cite(&self, c: &Candidate) -> Option<FactEvidence> {
        let page = match &c.holder {
            Holder::Registered(_) => return self.evidence_if_registered(c),
            Holder::Fetched(page) => page,
        };
        let known = self.r.registry.number_of(page.final_url.as_str());
        let source = self.r.registry.register(page);
        let text = self
            .r
            .registry
            .text(source)
            .unwrap_or_else(|| Arc::from(""));
        let bytes = if text.get(c.bytes.clone()) == Some(c.quote.as_str()) {
            c.bytes.clone()
        } else {
            match text.find(&c.quote) {
                Some(start) => start..start + c.quote.len(),
                None => {
                    self.problem(RetrievalError::QuoteLost {
                        url: page.final_url.to_string(),
                        source_number: source,
                    });
                    return None;
                }
            }
        };
        if known.is_none() && source > 0 {
            if let Ok(mut new) = self.new_sources.lock() {
                new.insert(source);
            }
        }
        Some(FactEvidence {
            source,
            chars: char_range(&text, &bytes),
            bytes,
            quote: c.quote.clone(),
            origin: Origin::External,
        })
    }

    /// Pool windows that hold enough of the fact's content words, best first, the claim's
    /// own sources first among equals.
    fn internal_candidates(&self, fact: &str) -> Vec<Candidate> {
        let limits = Limits {
            max_spans: INTERNAL_TOP_K * 4,
            max_spans_per_source: INTERNAL_TOP_K,
            ..Limits::default()
        };
        let threshold = self.settings().internal_search_threshold;
        let mut scored: Vec<(f64, bool, Candidate)> =
            evidence::select(&self.pool, &[fact], &limits)
                .into_iter()
                .map(|span| {
                    let c = Candidate {
                        holder: Holder::Registered(span.source_number()),
                        bytes: span.bytes(),
                        chars: span.char_range(),
                        quote: span.text().to_string(),
                    };
                    let cited = self.cited.contains(&span.source_number());
                    (coverage(fact, &c.quote), cited, c)
                })
                .filter(|(cov, _, _)| *cov >= threshold)
                .collect();
        // Stable: BM25 order stays the tie-breaker after coverage and citation.
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
        scored
            .into_iter()
            .take(INTERNAL_TOP_K)
            .map(|(_, _, c)| c)
            .collect()
    }

    /// One entailment call over `candidates`; `None` (recorded) when it failed.
    async fn entail(&self, fact: &str, candidates: &[Candidate]) -> Option<Judged> {
        let messages = vec![
            Message::system(ENTAIL_SYSTEM),
            Message::user(entailment_prompt(fact, candidates, self.r.registry)),
        ];
        let tier = self.r.tier(&self.settings().entailment_tier);
        let answer = self
            .model(
                "entailment",
                None,
                self.r
                    .router
                    .complete_json::<EntailmentAnswer>(tier, messages),
            )
            .await;
        match answer {
            Ok(a) => Some(judged(a.value, candidates.len())),
            Err(error) => {
                self.problem(RetrievalError::Entailment {
                    fact: fact.into(),
                    error,
                });
                None
            }
        }
    }
}
