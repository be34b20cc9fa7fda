//! Prompt measurement (tiktoken's cl100k_base, bundled in the crate, so it works offline)
//! and the trimming rule for prompts that would overflow a context window.

use tiktoken_rs::cl100k_base_singleton;

use super::wire::{Message, ToolCall, ToolSpec};

/// Per-message overhead of the chat format (role markers), as OpenAI documents it.
const MESSAGE_OVERHEAD: usize = 4;
/// Tokens a trimmed message keeps at least; below this the prompt is hopeless.
const MIN_KEEP: usize = 64;

/// Tokens in `text`. Other models' tokenizers differ; cl100k is a close, slightly
/// pessimistic estimate for the Claude, GPT and Gemini families.
pub fn count(text: &str) -> usize {
    cl100k_base_singleton()
        .encode_with_special_tokens(text)
        .len()
}

/// Tokens a conversation occupies, tool calls and tool-call ids included.
pub fn count_messages(messages: &[Message]) -> usize {
    messages
        .iter()
        .map(|m| {
            count(&m.content)
                + count_calls(&m.tool_calls)
                + m.tool_call_id.as_deref().map_or(0, count)
                + MESSAGE_OVERHEAD
        })
        .sum::<usize>()
        + 2
}

/// Tokens of an answer: its text and the tool calls it asked for.
pub fn count_answer(content: &str, calls: &[ToolCall]) -> usize {
    count(content) + count_calls(calls)
}

/// Tokens the tool definitions add to a prompt. Servers render them into the prompt in
/// their own template; their JSON text is a close estimate.
pub fn count_tools(tools: &[ToolSpec]) -> usize {
    if tools.is_empty() {
        return 0;
    }
    serde_json::to_string(tools).map_or(0, |json| count(&json))
}

/// Each call is rendered as its name and argument text, plus the chat format's markers.
fn count_calls(calls: &[ToolCall]) -> usize {
    calls
        .iter()
        .map(|c| count(&c.function.name) + count(&c.function.arguments) + MESSAGE_OVERHEAD)
        .sum()
}

/// The prompt does not fit even after trimming.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "prompt of {prompt_tokens} tokens cannot fit a {budget}-token input budget even after trimming"
)]
pub struct Overflow {
    pub prompt_tokens: usize,
    pub budget: usize,
}

/// Trim `messages` to at most `budget` tokens.
///
/// The rule: while over budget, take the longest message and cut text out of its middle,
/// keeping its beginning and end (instructions and questions live there) and leaving a
/// `[… N tokens trimmed …]` marker; no message is cut below 64 tokens. Returns how many
/// tokens were removed.
pub fn trim_to_fit(messages: &mut [Message], budget: usize) -> Result<usize, Overflow> {
    let original = count_messages(messages);
    let mut total = original;
    while total > budget {
        let over = total - budget;
        let Some((idx, tokens)) = messages
            .iter()
            .enumerate()
            .map(|(i, m)| (i, count(&m.content)))
            .filter(|(_, t)| *t > MIN_KEEP)
            .max_by_key(|(_, t)| *t)
        else {
            return Err(Overflow {
                prompt_tokens: total,
                budget,
            });
        };
        // Marker tokens plus a little slack so the loop converges in a step or two.
        let cut = (over + 16 + over / 50).min(tokens - MIN_KEEP);
        messages[idx].content = cut_middle(&messages[idx].content, tokens, cut);
        let next = count_messages(messages);
        if next >= total {
            return Err(Overflow {
                prompt_tokens: total,
                budget,
            });
        }
        total = next;
    }
    Ok(original - total)
}

/// Remove roughly `cut` of `tokens` tokens from the middle of `text`, on char boundaries.
fn cut_middle(text: &str, tokens: usize, cut: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let ratio = chars.len() as f64 / tokens.max(1) as f64;
    let remove = ((cut as f64 * ratio).ceil() as usize).min(chars.len());
    let keep = chars.len() - remove;
    let head = keep / 2;
    let tail = keep - head;
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&format!("\n[… {cut} tokens trimmed …]\n"));
    out.extend(&chars[chars.len() - tail..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_keeps_head_and_tail_and_fits() {
        let long = format!("BEGIN {} END", "lorem ipsum dolor sit amet ".repeat(2000));
        let mut msgs = vec![Message::system("Be brief."), Message::user(long)];
        let before = count_messages(&msgs);
        let removed = trim_to_fit(&mut msgs, 1000).unwrap();
        assert!(count_messages(&msgs) <= 1000);
        assert!(removed > 0 && removed < before);
        assert_eq!(msgs[0].content, "Be brief.");
        assert!(msgs[1].content.starts_with("BEGIN") && msgs[1].content.ends_with("END"));
        assert!(msgs[1].content.contains("tokens trimmed"));
    }

    #[test]
    fn impossible_budgets_are_an_error_not_a_loop() {
        let mut msgs = vec![Message::user("short"), Message::user("also short")];
        assert!(trim_to_fit(&mut msgs, 3).is_err());
    }
}
