//! The OpenAI-compatible chat-completions wire format (what Databricks serving, vLLM,
//! Ollama and OpenAI speak).

use serde::{Deserialize, Serialize};

/// A chat message role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    /// The result of one tool call, answering the assistant message that asked for it.
    Tool,
}

/// One message of a conversation.
///
/// `tool_calls` (assistant messages) and `tool_call_id` (tool messages) are empty for plain
/// chat, and then neither is sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Message {
    pub role: Role,
    /// An assistant message that only calls tools arrives with `null` content; it reads as "".
    #[serde(default, deserialize_with = "null_as_empty")]
    pub content: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default)]
    pub tool_call_id: Option<String>,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Message {
        Message::plain(Role::System, content.into())
    }

    pub fn user(content: impl Into<String>) -> Message {
        Message::plain(Role::User, content.into())
    }

    pub fn assistant(content: impl Into<String>) -> Message {
        Message::plain(Role::Assistant, content.into())
    }

    /// An assistant turn that asked for tools, to replay in the conversation that follows.
    pub fn assistant_tool_calls(content: impl Into<String>, calls: Vec<ToolCall>) -> Message {
        Message {
            tool_calls: calls,
            ..Message::plain(Role::Assistant, content.into())
        }
    }

    /// The result of the tool call `call_id`.
    pub fn tool(call_id: impl Into<String>, content: impl Into<String>) -> Message {
        Message {
            tool_call_id: Some(call_id.into()),
            ..Message::plain(Role::Tool, content.into())
        }
    }

    fn plain(role: Role, content: String) -> Message {
        Message {
            role,
            content,
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            role: Role,
            content: Option<&'a str>,
            #[serde(skip_serializing_if = "<[ToolCall]>::is_empty")]
            tool_calls: &'a [ToolCall],
            #[serde(skip_serializing_if = "Option::is_none")]
            tool_call_id: Option<&'a str>,
        }
        // A tool-calling turn without text goes back as `null`: Anthropic-backed endpoints
        // reject an empty text block, and OpenAI documents `null` for this case.
        let only_calls = self.content.is_empty() && !self.tool_calls.is_empty();
        let content = (!only_calls).then_some(self.content.as_str());
        Wire {
            role: self.role,
            content,
            tool_calls: &self.tool_calls,
            tool_call_id: self.tool_call_id.as_deref(),
        }
        .serialize(serializer)
    }
}

/// A function the model may call: its name, what it does, and a JSON Schema of its
/// arguments. Sent as `{"type": "function", "function": {...}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

impl Serialize for ToolSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Function<'a> {
            name: &'a str,
            description: &'a str,
            parameters: &'a serde_json::Value,
        }
        #[derive(Serialize)]
        struct Wire<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            function: Function<'a>,
        }
        Wire {
            kind: "function",
            function: Function {
                name: &self.name,
                description: &self.description,
                parameters: &self.parameters,
            },
        }
        .serialize(serializer)
    }
}

/// A call the model asked for. `arguments` is the JSON text the model wrote, unparsed: it
/// may be malformed, and only the caller knows what to tell the model then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Pairs the call with its `tool` message. Servers that omit it get one assigned.
    #[serde(default)]
    pub id: String,
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    pub function: FunctionCall,
}

/// The function half of a [`ToolCall`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text. Some servers send an object rather than a string; it is kept as its text.
    #[serde(default, deserialize_with = "json_text")]
    pub arguments: String,
}

impl ToolCall {
    /// A function call with these JSON-text arguments.
    pub fn function(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> ToolCall {
        ToolCall {
            id: id.into(),
            kind: function_kind(),
            function: FunctionCall {
                name: name.into(),
                arguments: arguments.into(),
            },
        }
    }
}

fn function_kind() -> String {
    "function".into()
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn json_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// The request body.
#[derive(Debug, Clone, Serialize)]
pub struct ChatRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub messages: Vec<Message>,
    pub max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<super::ReasoningEffort>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
}

/// Token counts reported by the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
}

#[derive(Debug, Deserialize)]
pub(super) struct ChatResponse {
    #[serde(default)]
    pub choices: Vec<Choice>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Choice {
    #[serde(default)]
    pub message: Option<ResponseMessage>,
    #[serde(default)]
    pub delta: Option<ResponseMessage>,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ResponseMessage {
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tool_calls: Vec<ToolCall>,
}

/// Content is a string, or (Gemini, Claude with thinking) a list of typed parts.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
pub(super) struct Part {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
}

impl Content {
    /// The visible text: string content, or the concatenated `text` parts (reasoning parts
    /// are not part of the answer).
    /// U+0000 is dropped: PostgreSQL cannot store it, and a model emits it only by
    /// mistake.
    pub fn into_text(self) -> String {
        let text: String = match self {
            Content::Text(s) => s,
            Content::Parts(parts) => parts
                .into_iter()
                .filter(|p| p.kind.as_deref().is_none_or(|k| k == "text"))
                .filter_map(|p| p.text)
                .collect(),
        };
        crate::text::without_nul(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/llm/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("fixture exists");
        serde_json::from_str(&text).expect("fixture is JSON")
    }

    #[test]
    fn nul_characters_in_model_text_are_dropped() {
        let content: Content = serde_json::from_value(json!("a\u{0}b")).unwrap();
        assert_eq!(content.into_text(), "ab");
        let parts: Content =
            serde_json::from_value(json!([{"type": "text", "text": "c\u{0}"}, {"text": "d"}]))
                .unwrap();
        assert_eq!(parts.into_text(), "cd");
    }

    #[test]
    fn tool_calls_are_read_with_null_content_and_object_arguments() {
        let parsed: ChatResponse =
            serde_json::from_value(fixture("tool_calls_response.json")).unwrap();
        let message = parsed.choices.into_iter().next().unwrap().message.unwrap();
        assert!(message.content.is_none());
        assert_eq!(
            message.tool_calls,
            [
                ToolCall::function(
                    "toolu_01",
                    "web_search",
                    r#"{"query": "delta wetland loss"}"#
                ),
                ToolCall::function("", "web_crawl", r#"{"url":"https://example.org/a"}"#),
            ]
        );
    }

    #[test]
    fn a_tool_conversation_is_sent_in_the_openai_shape() {
        let request = ChatRequest {
            model: Some("ep".into()),
            messages: vec![
                Message::user("Find it."),
                Message::assistant_tool_calls(
                    "",
                    vec![ToolCall::function(
                        "call_1",
                        "web_search",
                        r#"{"query":"q"}"#,
                    )],
                ),
                Message::tool("call_1", "1. A result"),
            ],
            max_tokens: 100,
            temperature: None,
            reasoning_effort: None,
            response_format: None,
            stream: false,
            stream_options: None,
            tools: vec![ToolSpec {
                name: "web_search".into(),
                description: "Search the web.".into(),
                parameters: json!({"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}),
            }],
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            fixture("tool_conversation_request.json")
        );
    }

    #[test]
    fn plain_messages_keep_their_old_shape() {
        assert_eq!(
            serde_json::to_value(Message::assistant("")).unwrap(),
            json!({"role": "assistant", "content": ""})
        );
        let back: Message = serde_json::from_value(
            json!({"role": "assistant", "content": null, "tool_calls": null}),
        )
        .unwrap();
        assert_eq!(back, Message::assistant(""));
    }
}
