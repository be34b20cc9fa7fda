//! Text helpers every layer uses on text from models, pages and users: they count
//! characters, never bytes, so no text is cut inside a character.

/// At most `max` characters, with an ellipsis when cut.
pub fn clip(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

/// The longest a span's input or output preview may be, in characters (MLflow shows
/// `mlflow.spanInputs` / `mlflow.spanOutputs` as they are; a preview is not a copy).
pub const PREVIEW_CHARS: usize = 1_000;

/// `value` as a JSON string of at most [`PREVIEW_CHARS`] characters: while it is longer,
/// its longest string is [`clip`]ped by what is over. Still too long with every string cut
/// (it never is with short keys), the serialized text is clipped, no longer valid JSON.
/// The caller scrubs secrets first: a clip could cut one in half, out of a pattern's reach.
pub fn json_preview(mut value: serde_json::Value) -> String {
    loop {
        let text = value.to_string();
        let over = text.chars().count().saturating_sub(PREVIEW_CHARS);
        if over == 0 {
            return text;
        }
        match longest_string(&mut value) {
            Some(s) if s.chars().count() > 1 => {
                // The ellipsis takes one character; escapes only make the cut count more.
                let keep = s.chars().count().saturating_sub(over + 1);
                *s = clip(s, keep);
            }
            _ => return clip(&text, PREVIEW_CHARS - 1),
        }
    }
}

fn longest_string(value: &mut serde_json::Value) -> Option<&mut String> {
    let mut best: Option<&mut String> = None;
    let mut visit = vec![value];
    while let Some(v) = visit.pop() {
        match v {
            serde_json::Value::String(s)
                if best
                    .as_ref()
                    .is_none_or(|b| b.chars().count() < s.chars().count()) =>
            {
                best = Some(s);
            }
            serde_json::Value::Array(items) => visit.extend(items.iter_mut()),
            serde_json::Value::Object(fields) => visit.extend(fields.values_mut()),
            _ => {}
        }
    }
    best
}

/// `text` without NUL characters: PostgreSQL cannot store them in text columns, and no
/// reader of a report or a page needs them.
pub fn without_nul(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_previews_fit_and_stay_json() {
        let short = json_preview(serde_json::json!({"q": "hi"}));
        assert_eq!(short, r#"{"q":"hi"}"#);
        let long = "→\n".repeat(2_000);
        let cut = json_preview(serde_json::json!({"a": long, "b": "kept", "n": 3}));
        assert!(
            cut.chars().count() <= PREVIEW_CHARS,
            "{}",
            cut.chars().count()
        );
        let back: serde_json::Value = serde_json::from_str(&cut).unwrap();
        assert_eq!(back["b"], "kept");
        assert_eq!(back["n"], 3);
        assert!(back["a"].as_str().unwrap().ends_with('…'));
        let many: Vec<String> = (0..600).map(|i| i.to_string()).collect();
        assert!(json_preview(serde_json::json!(many)).chars().count() <= PREVIEW_CHARS);
    }

    #[test]
    fn clips_by_characters() {
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("→→→", 3), "→→→");
        assert_eq!(clip("→→→→", 2), "→→…");
    }

    #[test]
    fn drops_nul_and_keeps_the_rest() {
        assert_eq!(without_nul("a\0b\0".into()), "ab");
        assert_eq!(without_nul("→ ok".into()), "→ ok");
    }
}
