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
