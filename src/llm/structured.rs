//! Structured output: a JSON schema derived from the Rust type, sent as `response_format`
//! where the endpoint supports it (else as an instruction), then parse → repair → validate,
//! and one re-ask with the validation error before giving up with a typed error.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use super::router::{JsonSchemaSpec, LlmRequest, LlmResponse, LlmRouter};
use super::wire::Message;
use super::LlmError;

/// A parsed answer and the response it came from.
#[derive(Debug, Clone)]
pub struct Structured<T> {
    pub value: T,
    pub response: LlmResponse,
    /// Whether the first answer was invalid and a re-ask was needed.
    pub reasked: bool,
}

impl LlmRouter {
    /// Ask `tier` for a `T`.
    pub async fn complete_json<T: JsonSchema + DeserializeOwned>(
        &self,
        tier: Option<&str>,
        messages: Vec<Message>,
    ) -> Result<Structured<T>, LlmError> {
        let schema = serde_json::to_value(schemars::schema_for!(T)).unwrap_or_default();
        let name: String = T::schema_name()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let spec = JsonSchemaSpec {
            name: name.clone(),
            schema: schema.clone(),
        };
        let request = |messages: Vec<Message>| LlmRequest {
            messages,
            json_schema: Some(spec.clone()),
            ..LlmRequest::default()
        };

        let first = self.complete(tier, request(messages.clone())).await?;
        let error = match parse::<T>(&first.content, &schema) {
            Ok(value) => {
                return Ok(Structured {
                    value,
                    response: first,
                    reasked: false,
                })
            }
            Err(e) => e,
        };
        tracing::warn!(tier = %first.tier, endpoint = %first.endpoint, %error, "invalid structured output; asking again");
        let mut retry = messages;
        retry.push(Message::assistant(first.content.clone()));
        retry.push(Message::user(format!(
            "That answer is not valid: {error}. Reply again with only the corrected JSON object."
        )));
        let second = self.complete(tier, request(retry)).await?;
        match parse::<T>(&second.content, &schema) {
            Ok(value) => Ok(Structured {
                value,
                response: second,
                reasked: true,
            }),
            Err(error) => Err(LlmError::StructuredOutput {
                tier: second.tier,
                endpoint: second.endpoint,
                type_name: name,
                error,
                excerpt: second.content.chars().take(200).collect(),
            }),
        }
    }
}

/// Parse an answer as `T`: strict JSON first, then the JSON inside fences or prose, then a
/// repaired version; validate against the schema; deserialize. Errors are for the re-ask.
pub fn parse<T: DeserializeOwned>(content: &str, schema: &serde_json::Value) -> Result<T, String> {
    let value = to_value(content)?;
    if let Ok(validator) = jsonschema::validator_for(schema) {
        let problems: Vec<String> = validator
            .iter_errors(&value)
            .take(5)
            .map(|e| {
                let at = e.instance_path.to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("at {at}: {e}")
                }
            })
            .collect();
        if !problems.is_empty() {
            return Err(format!(
                "it does not match the schema: {}",
                problems.join("; ")
            ));
        }
    }
    serde_path_to_error::deserialize(value).map_err(|e| format!("at {}: {}", e.path(), e.inner()))
}

fn to_value(content: &str) -> Result<serde_json::Value, String> {
    let trimmed = content.trim();
    if let Ok(v) = serde_json::from_str(trimmed) {
        return Ok(v);
    }
    let inner = extract_json(trimmed);
    if let Ok(v) = serde_json::from_str(inner) {
        return Ok(v);
    }
    match llm_json::loads(inner, &llm_json::RepairOptions::default()) {
        Ok(v) if v.is_object() || v.is_array() => Ok(v),
        _ => Err("it is not JSON".into()),
    }
}

/// The JSON inside a ```json fence, or from the first `{`/`[` to the end.
fn extract_json(text: &str) -> &str {
    if let Some(start) = text.find("```") {
        let after = &text[start + 3..];
        let body_start = after.find('\n').map(|i| i + 1).unwrap_or(0);
        let body = &after[body_start..];
        return body
            .find("```")
            .map(|end| &body[..end])
            .unwrap_or(body)
            .trim();
    }
    match text.find(['{', '[']) {
        Some(i) => &text[i..],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, JsonSchema, PartialEq)]
    struct Plan {
        title: String,
        steps: Vec<String>,
    }

    fn schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Plan)).unwrap()
    }

    #[test]
    fn accepts_valid_fenced_truncated_and_trailing_comma_answers() {
        let want = Plan {
            title: "t".into(),
            steps: vec!["a".into(), "b".into()],
        };
        for answer in [
            r#"{"title":"t","steps":["a","b"]}"#,
            "Here you go:\n```json\n{\"title\":\"t\",\"steps\":[\"a\",\"b\"]}\n```\nHope it helps",
            r#"{"title":"t","steps":["a","b"],}"#,
            r#"{"title":"t","steps":["a","b""#,
        ] {
            assert_eq!(
                parse::<Plan>(answer, &schema()).as_ref(),
                Ok(&want),
                "{answer}"
            );
        }
    }

    #[test]
    fn wrong_types_and_garbage_are_errors_not_panics() {
        let e = parse::<Plan>(r#"{"title": 3, "steps": "x"}"#, &schema()).unwrap_err();
        assert!(e.contains("schema") && e.contains("/title"), "{e}");
        assert!(parse::<Plan>("I cannot help with that.", &schema()).is_err());
        assert!(parse::<Plan>("", &schema()).is_err());
        assert!(parse::<Plan>("\u{0}\u{ffff}{{{{", &schema()).is_err());
    }
}
