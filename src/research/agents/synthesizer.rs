//! The synthesizer: writes the report from the research notes, streaming it as it goes,
//! then enforces the citation rule (only sources the run fetched) and appends the
//! references list itself, so the model can neither invent a source nor mislabel one.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

use super::{Agent, AgentError};
use crate::llm::{DeltaSink, LlmRequest, LlmRouter, Message, Usage};
use crate::research::config::ReportLimits;
use crate::research::prompts::SYNTHESIZER_SYSTEM;
use crate::research::sources::{CitationAudit, SourceRegistry};

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
}

/// Write the report. `stream` receives the model's text as it arrives (before citation
/// enforcement, which needs the whole text).
pub async fn synthesize(
    router: &LlmRouter,
    query: &str,
    observations: &[Observation<'_>],
    sources: &SourceRegistry,
    limits: &ReportLimits,
    stream: Option<DeltaSink>,
) -> Result<Report, AgentError> {
    let agent = Agent::Synthesizer;
    let system = SYNTHESIZER_SYSTEM
        .replace("{min_words}", &limits.min_words.to_string())
        .replace("{max_words}", &limits.max_words.to_string());
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
    let user =
        format!("Question: {query}\n\nSources:\n{source_list}\n\nResearch notes:\n\n{notes}");
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
    let body = strip_model_references(&response.content);
    if body.trim().is_empty() {
        return Err(AgentError::Unusable {
            agent,
            reason: "the report is empty".into(),
        });
    }
    let (body, audit) = sources.enforce(body.trim_end());
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
    })
}

/// A trailing "References"/"Sources"/"Bibliography" section the model wrote despite the
/// instructions: ours replaces it.
fn strip_model_references(text: &str) -> &str {
    static HEADING: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?im)^[ \t]{0,3}(#{1,6}[ \t]*|\*\*)(references|sources|bibliography|works cited)\b.*$",
        )
        .expect("constant pattern")
    });
    match HEADING.find_iter(text).last() {
        Some(m) => &text[..m.start()],
        None => text,
    }
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
    }
}
