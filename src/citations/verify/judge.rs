//! Step 4's model call: the claim and its quoted evidence alone, and the verdict given.

use schemars::JsonSchema;
use serde::Deserialize;

use super::context::{Context, Quote};
use crate::citations::provenance::Verdict;
use crate::llm::Message;

const VERIFIER_SYSTEM: &str = "You check one claim against quoted evidence, and nothing else: \
you do not know the report it came from or the question behind it.

Verdicts:
- supported: everything the claim states is in the evidence; numbers equal or correctly rounded.
- partial: some of it is in the evidence, the rest is not addressed.
- unsupported: the evidence does not address the claim.
- contradicted: the evidence states otherwise (a different number, the opposite fact).

Judge by the evidence alone, not by what you know. Give your reasoning first, then the \
verdict. `evidence_index` is the number of the quote that best supports the claim, when \
one does. `contradicting_evidence` lists the numbers of quotes that state otherwise.";

/// What the verifier answers.
#[derive(Debug, Deserialize, JsonSchema)]
struct Answer {
    #[serde(default)]
    reasoning: String,
    verdict: AnswerVerdict,
    #[serde(default)]
    evidence_index: Option<u32>,
    #[serde(default)]
    contradicting_evidence: Option<Vec<u32>>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum AnswerVerdict {
    Supported,
    Partial,
    Unsupported,
    Contradicted,
}

impl From<AnswerVerdict> for Verdict {
    fn from(v: AnswerVerdict) -> Verdict {
        match v {
            AnswerVerdict::Supported => Verdict::Supported,
            AnswerVerdict::Partial => Verdict::Partial,
            AnswerVerdict::Unsupported => Verdict::Unsupported,
            AnswerVerdict::Contradicted => Verdict::Contradicted,
        }
    }
}

/// A model judgement, or why there is none.
pub(super) enum Judgement {
    Given {
        verdict: Verdict,
        reasoning: String,
        primary: Option<usize>,
        contradicting: Vec<usize>,
    },
    Failed(String),
}

impl Context<'_> {
    pub(super) async fn judge(
        &self,
        claim: &str,
        quotes: &[Quote],
        tier: Option<&str>,
    ) -> Judgement {
        let mut user = format!("## Claim\n{claim}\n\n## Evidence\n");
        for (i, q) in quotes.iter().enumerate() {
            let title = self
                .registry
                .get(q.source)
                .and_then(|s| s.title)
                .unwrap_or_default();
            user.push_str(&format!("[{}] {title}\n\"{}\"\n\n", i + 1, q.text.trim()));
        }
        let messages = vec![Message::system(VERIFIER_SYSTEM), Message::user(user)];
        match self.router.complete_json::<Answer>(tier, messages).await {
            // The prompt numbers quotes from 1; a 0 or out-of-range index names no quote.
            Ok(answer) => {
                let index = |i: u32| {
                    usize::try_from(i)
                        .ok()
                        .and_then(|i| i.checked_sub(1))
                        .filter(|i| *i < quotes.len())
                };
                let answer = answer.value;
                Judgement::Given {
                    verdict: answer.verdict.into(),
                    reasoning: answer.reasoning.trim().to_string(),
                    primary: answer.evidence_index.and_then(index),
                    contradicting: answer
                        .contradicting_evidence
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(index)
                        .collect(),
                }
            }
            Err(e) => Judgement::Failed(e.to_string()),
        }
    }
}
