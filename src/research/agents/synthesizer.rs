//! The synthesizer: writes the report from the research notes, streaming it as it goes,
//! then enforces the citation rule (only sources the run fetched) and appends the
//! references list itself, so the model can neither invent a source nor mislabel one.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{Agent, AgentError};
use crate::citations::interleaved::{self, ClaimEvidence, EvidencePool};
use crate::citations::references;
use crate::citations::sources::{CitationAudit, SourceRegistry};
use crate::llm::{DeltaSink, LlmRequest, LlmRouter, Message, Usage};
use crate::research::config::ReportLimits;
use crate::research::prompts::{SYNTHESIZER_EVIDENCE_RULES, SYNTHESIZER_SYSTEM};

/// One step's findings, as the researcher wrote them (with `[n]` markers).
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub step_title: &'a str,
    pub text: &'a str,
}

/// The finished report.
#[derive(Debug, Clone)]
pub struct Report {
    /// Body plus the references list.
    pub markdown: String,
    /// Source numbers the body cites.
    pub cited: BTreeSet<u32>,
    /// What citation enforcement changed in the model's text.
    pub audit: CitationAudit,
    pub usage: Usage,
    /// The endpoint that wrote it.
    pub endpoint: String,
    /// When it was written from an evidence pool: the quotes each claim was written from.
    pub evidence: Option<ClaimEvidence>,
}

/// Write the report. `stream` receives the model's text as it arrives (before citation
/// enforcement, which needs the whole text). With an evidence `pool` (stage 2,
/// interleaved generation) the model also sees the pool's quotes and cites them by id;
/// the ids become source markers and [`Report::evidence`] keeps the quotes per claim.
pub async fn synthesize(
    router: &LlmRouter,
    query: &str,
    observations: &[Observation<'_>],
    sources: &SourceRegistry,
    limits: &ReportLimits,
    stream: Option<DeltaSink>,
    pool: Option<Arc<EvidencePool>>,
) -> Result<Report, AgentError> {
    let agent = Agent::Synthesizer;
    let pool = pool.filter(|p| !p.is_empty());
    let mut system = SYNTHESIZER_SYSTEM
        .replace("{min_words}", &limits.min_words.to_string())
        .replace("{max_words}", &limits.max_words.to_string());
    if pool.is_some() {
        system.push_str(SYNTHESIZER_EVIDENCE_RULES);
    }
    let source_list = sources
        .all()
        .iter()
        .map(|s| {
            format!(
                "[{}] {} — {}",
                s.number,
                s.title.as_deref().unwrap_or("untitled"),
                s.url
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let notes = observations
        .iter()
        .map(|o| format!("## {}\n\n{}", o.step_title, o.text.trim()))
        .collect::<Vec<_>>()
        .join("\n\n");
    let mut user =
        format!("Question: {query}\n\nSources:\n{source_list}\n\nResearch notes:\n\n{notes}");
    if let Some(pool) = &pool {
        user.push_str("\n\nEvidence:\n\n");
        user.push_str(&pool.prompt(sources));
    }
    // A reader watching the draft sees the source markers the report will have.
    let renderer = pool
        .as_ref()
        .zip(stream.as_ref())
        .map(|(pool, out)| interleaved::StreamRenderer::new(Arc::clone(pool), Arc::clone(out)));
    let stream = match &renderer {
        Some(r) => Some(r.sink()),
        None => stream,
    };
    let response = router
        .complete(
            agent.tier(router),
            LlmRequest {
                messages: vec![Message::system(system), Message::user(user)],
                max_tokens: Some(limits.max_tokens),
                stream,
                ..LlmRequest::default()
            },
        )
        .await
        .map_err(AgentError::llm(agent))?;
    if let Some(r) = &renderer {
        r.finish();
    }
    let body = strip_model_references(&response.content);
    if body.trim().is_empty() {
        return Err(AgentError::Unusable {
            agent,
            reason: "the report is empty".into(),
        });
    }
    let (body, mut audit) = sources.enforce(body.trim_end());
    let (body, evidence) = match pool {
        Some(pool) => {
            let written = interleaved::render(&body, pool);
            audit.dropped += written.unknown_ids;
            (written.body, Some(written.evidence))
        }
        None => (body, None),
    };
    let cited = sources.cited(&body);
    let markdown = if cited.is_empty() {
        format!("{body}\n")
    } else {
        format!("{body}\n\n{}", sources.references(&cited))
    };
    Ok(Report {
        markdown,
        cited,
        audit,
        usage: response.usage,
        endpoint: response.endpoint,
        evidence,
    })
}

/// A trailing references section the model wrote despite the instructions, in whatever
/// language (see [`references`]): ours replaces it.
fn strip_model_references(text: &str) -> &str {
    references::body(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_reference_sections_are_cut() {
        assert_eq!(
            strip_model_references("Body [1].\n\n## References\n1. x\n"),
            "Body [1].\n\n"
        );
        assert_eq!(strip_model_references("Body.\n**Sources**\n- y"), "Body.\n");
        assert_eq!(
            strip_model_references("On sources of error [2]."),
            "On sources of error [2]."
        );
        assert_eq!(
            strip_model_references("Body [1].\n\n## 参考文献\n1. x\n"),
            "Body [1].\n\n"
        );
        assert_eq!(
            strip_model_references("## Sources of error\n\nNoise [2].\n"),
            "## Sources of error\n\nNoise [2].\n"
        );
    }
}
