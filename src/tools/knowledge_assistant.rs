//! `retrieve_<name>`: a question to a Databricks Knowledge Assistant (Agent Bricks) serving
//! endpoint, whose answer and own citations become passages attributed to it.
//!
//! Wire format. Knowledge Assistant endpoints are MLflow `ResponsesAgent`s: the request is
//! `{"input": [{"role": "user", "content": …}], "max_output_tokens": …}` on
//! `POST /serving-endpoints/{endpoint}/invocations`, the answer is `output[]` message items
//! whose `output_text` parts carry the text and `url_citation` annotations. The original
//! sent chat `messages` and read `choices[0].message` (with `citations`), wrapped in
//! `predictions` by the SDK's `dataframe_records`; those reply shapes are read too, so an
//! older chat-style agent endpoint that accepts `input` works as well.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::KnowledgeAssistant;
use super::vector_search::stable_hash;
use super::{
    query_arguments, query_parameters, Passage, ResearchTool, SourceKind, ToolError, ToolOutput,
};
use crate::databricks::{ApiError, WorkspaceClient};
use crate::llm::ToolSpec;

/// The line that introduces the citations the assistant gave without a quote.
pub const SOURCES_CITED: &str = "Sources cited by the assistant:";

/// How much of the question an answer's title shows, in characters.
const TITLE_QUESTION_CHARS: usize = 80;

/// One configured Knowledge Assistant endpoint as a research tool.
pub struct KnowledgeAssistantTool {
    spec: ToolSpec,
    endpoint: String,
    max_tokens: u32,
    timeout: Duration,
    client: WorkspaceClient,
}

/// The `ResponsesAgent` request.
#[derive(Debug, Serialize)]
struct Request<'a> {
    input: [InputMessage<'a>; 1],
    max_output_tokens: u32,
}

#[derive(Debug, Serialize)]
struct InputMessage<'a> {
    role: &'static str,
    content: &'a str,
}

/// Every reply shape read: `ResponsesAgent` (`output`), chat completions (`choices`), and
/// either wrapped in `predictions`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Reply {
    output: Vec<OutputItem>,
    choices: Vec<Choice>,
    predictions: Vec<Reply>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OutputItem {
    #[serde(rename = "type")]
    kind: String,
    /// Parts for a message item; other items (tool calls) have other shapes, hence `Value`.
    content: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Choice {
    message: ChatMessage,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChatMessage {
    content: Value,
    citations: Vec<Value>,
}

/// A source the assistant cited.
#[derive(Debug, Clone, PartialEq)]
struct Citation {
    uri: Option<String>,
    title: Option<String>,
    /// The quoted passage, when the citation carries one.
    text: Option<String>,
}

impl KnowledgeAssistantTool {
    /// The tool `retrieve_<name>` asking the endpoint `config` names through `client`.
    pub fn new(
        name: &str,
        config: &KnowledgeAssistant,
        client: WorkspaceClient,
    ) -> KnowledgeAssistantTool {
        let description = config.description.clone().unwrap_or_else(|| {
            format!(
                "Ask the Databricks Knowledge Assistant `{}` a question; it answers from its own private documents and cites them.",
                config.endpoint
            )
        });
        KnowledgeAssistantTool {
            spec: ToolSpec {
                name: format!("retrieve_{name}"),
                description,
                parameters: query_parameters(None),
            },
            endpoint: config.endpoint.trim().to_string(),
            max_tokens: config.max_tokens,
            timeout: config.timeout,
            client,
        }
    }

    fn unavailable(&self, message: String) -> ToolError {
        ToolError::unavailable(&self.spec.name, &message)
    }

    fn explain(&self, error: ApiError) -> ToolError {
        let endpoint = &self.endpoint;
        match error {
            ApiError::NotFound { message, .. } => self.unavailable(format!(
                "serving endpoint `{endpoint}` not found ({message}); check tools.knowledge_assistants endpoint names"
            )),
            ApiError::PermissionDenied { message, .. } => self.unavailable(format!(
                "no permission to query serving endpoint `{endpoint}` ({message}); the identity needs CAN QUERY on it"
            )),
            other => self.unavailable(format!("Knowledge Assistant `{endpoint}` failed: {other}")),
        }
    }

    /// The answer as one passage (with the citations that quote nothing listed under it),
    /// then one passage per cited source that carries a quote.
    fn passages(&self, question: &str, answer: &str, citations: &[Citation]) -> Vec<Passage> {
        let mut quoted: Vec<Passage> = Vec::new();
        let mut listed: Vec<String> = Vec::new();
        for c in citations {
            let Some(text) = &c.text else {
                let line = match (&c.title, &c.uri) {
                    (Some(t), Some(u)) => format!("- {t} ({u})"),
                    (Some(t), None) => format!("- {t}"),
                    (None, Some(u)) => format!("- {u}"),
                    (None, None) => continue,
                };
                if !listed.contains(&line) {
                    listed.push(line);
                }
                continue;
            };
            let uri = c.uri.clone().unwrap_or_else(|| {
                format!(
                    "knowledge-assistant://{}/{}",
                    self.endpoint,
                    stable_hash(text)
                )
            });
            // One URI is one source: a second quote of the same document joins the first.
            if let Some(p) = quoted.iter_mut().find(|p| p.uri == uri) {
                if !p.text.contains(text.as_str()) {
                    p.text.push_str("\n\n");
                    p.text.push_str(text);
                }
                continue;
            }
            quoted.push(Passage {
                title: c
                    .title
                    .clone()
                    .or_else(|| Some(format!("{}: cited source", self.endpoint))),
                uri,
                text: text.clone(),
                kind: SourceKind::KnowledgeAssistant,
                origin: self.endpoint.clone(),
                score: None,
            });
        }
        let mut text = answer.trim().to_string();
        if !listed.is_empty() {
            text.push_str("\n\n");
            text.push_str(SOURCES_CITED);
            text.push('\n');
            text.push_str(&listed.join("\n"));
        }
        let answer_passage = Passage {
            uri: format!(
                "knowledge-assistant://{}/{}",
                self.endpoint,
                stable_hash(&format!("{question}\n{answer}"))
            ),
            title: Some(format!(
                "{}: {}",
                self.endpoint,
                crate::text::clip(question, TITLE_QUESTION_CHARS)
            )),
            text,
            kind: SourceKind::KnowledgeAssistant,
            origin: self.endpoint.clone(),
            score: None,
        };
        std::iter::once(answer_passage).chain(quoted).collect()
    }
}

#[async_trait]
impl ResearchTool for KnowledgeAssistantTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn kind(&self) -> SourceKind {
        SourceKind::KnowledgeAssistant
    }

    async fn call(&self, arguments: &Value) -> Result<ToolOutput, ToolError> {
        // The original's tool took `question`; a model may still send it.
        let arguments = match (arguments.get("query"), arguments.get("question")) {
            (None, Some(q)) => serde_json::json!({ "query": q }),
            _ => arguments.clone(),
        };
        let (question, _) = query_arguments(&arguments)?;
        let body = Request {
            input: [InputMessage {
                role: "user",
                content: &question,
            }],
            max_output_tokens: self.max_tokens,
        };
        let path = format!(
            "/serving-endpoints/{}/invocations",
            percent_encoding::utf8_percent_encode(
                &self.endpoint,
                percent_encoding::NON_ALPHANUMERIC
            )
        );
        let what = format!("serving endpoint `{}`", self.endpoint);
        // The client retries 429 and 5xx; the configured limit bounds all attempts together,
        // so a dead endpoint costs the run at most that long.
        let call = self
            .client
            .post_with_timeout::<_, Reply>(&path, &body, &what, self.timeout);
        let reply = match tokio::time::timeout(self.timeout, call).await {
            Ok(reply) => reply.map_err(|e| self.explain(e))?,
            Err(_) => {
                return Err(self.unavailable(format!(
                    "Knowledge Assistant `{}` gave no answer within {}",
                    self.endpoint,
                    humantime::format_duration(self.timeout)
                )))
            }
        };
        let (answer, citations) = read_reply(&reply);
        if answer.trim().is_empty() {
            return Ok(ToolOutput {
                passages: Vec::new(),
                note: Some(format!(
                    "The Knowledge Assistant `{}` gave no answer to this question.",
                    self.endpoint
                )),
            });
        }
        Ok(ToolOutput {
            passages: self.passages(&question, &answer, &citations),
            note: None,
        })
    }
}

/// The answer text and the citations of a reply of any shape read.
fn read_reply(reply: &Reply) -> (String, Vec<Citation>) {
    let mut texts: Vec<String> = Vec::new();
    let mut citations: Vec<Citation> = Vec::new();
    for item in reply.output.iter().filter(|i| i.kind == "message") {
        match &item.content {
            Value::String(s) => texts.push(s.clone()),
            Value::Array(parts) => {
                for part in parts {
                    if part["type"] != "output_text" {
                        continue;
                    }
                    if let Some(t) = part["text"].as_str() {
                        texts.push(t.to_string());
                    }
                    let annotations = part["annotations"].as_array().into_iter().flatten();
                    citations.extend(annotations.filter_map(citation));
                }
            }
            _ => {}
        }
    }
    if let Some(choice) = reply.choices.first() {
        texts.push(content_text(&choice.message.content));
        citations.extend(choice.message.citations.iter().filter_map(citation));
    }
    if texts.iter().all(|t| t.trim().is_empty()) {
        if let Some(inner) = reply.predictions.first() {
            return read_reply(inner);
        }
    }
    let answer = texts
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    (answer, citations)
}

/// Chat content: a string, or parts whose `text` is read.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// A citation from a `url_citation` annotation or a chat `citations` entry; quoted text is
/// looked for under the names those shapes use for it.
fn citation(value: &Value) -> Option<Citation> {
    let field = |names: &[&str]| {
        names.iter().find_map(|n| {
            value[*n]
                .as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        })
    };
    let c = Citation {
        uri: field(&["url", "doc_uri", "uri", "source"]),
        title: field(&["title", "name"]),
        text: field(&["text", "snippet", "quote", "content"]),
    };
    (c.uri.is_some() || c.title.is_some() || c.text.is_some()).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn responses_output_text_and_url_citations_are_read() {
        let reply: Reply = serde_json::from_value(json!({
            "object": "response",
            "output": [
                {"type": "function_call", "name": "retrieve", "arguments": "{}"},
                {"type": "message", "role": "assistant", "content": [
                    {"type": "output_text", "text": "Refunds take 14 days.", "annotations": [
                        {"type": "url_citation", "url": "https://kb.example.com/refunds", "title": "Refunds", "start_index": 0, "end_index": 20},
                        {"type": "url_citation", "url": "https://kb.example.com/policy", "title": "Policy", "text": "within 14 days"}
                    ]}
                ]}
            ]
        }))
        .unwrap();
        let (answer, citations) = read_reply(&reply);
        assert_eq!(answer, "Refunds take 14 days.");
        assert_eq!(citations.len(), 2);
        assert_eq!(citations[0].text, None);
        assert_eq!(citations[1].text.as_deref(), Some("within 14 days"));
    }

    #[test]
    fn chat_shaped_replies_and_predictions_are_read() {
        let reply: Reply = serde_json::from_value(json!({
            "predictions": [{"choices": [{"message": {"role": "assistant", "content": "Yes.",
                "citations": [{"source": "doc.pdf", "title": "Doc", "url": null, "snippet": "It says yes."}]}}]}]
        }))
        .unwrap();
        let (answer, citations) = read_reply(&reply);
        assert_eq!(answer, "Yes.");
        assert_eq!(
            citations,
            [Citation {
                uri: Some("doc.pdf".into()),
                title: Some("Doc".into()),
                text: Some("It says yes.".into())
            }]
        );
    }
}
