//! Positions in text: words, keywords, alphanumeric runs and spaces.

/// The end of `word` at `pos` when it stands alone (ASCII case-insensitive).
pub(super) fn keyword(text: &str, pos: usize, word: &str) -> Option<usize> {
    let (found, end) = word_at(text, pos)?;
    found.eq_ignore_ascii_case(word).then_some(end)
}

/// The alphabetic run starting at `pos` (`°C` counts, for temperatures).
pub(super) fn word_at(text: &str, pos: usize) -> Option<(&str, usize)> {
    let rest = text.get(pos..)?;
    let len: usize = rest
        .char_indices()
        .take_while(|&(i, c)| c.is_alphabetic() || (i == 0 && c == '°'))
        .map(|(_, c)| c.len_utf8())
        .sum();
    (len > 0).then(|| (&rest[..len], pos + len))
}

pub(super) fn alnum_run_end(text: &str, pos: usize) -> usize {
    pos + text[pos..]
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .map(char::len_utf8)
        .sum::<usize>()
}

pub(super) fn skip_spaces(text: &str, pos: usize) -> usize {
    skip_spaces_max(text, pos, usize::MAX)
}

/// Skips horizontal spaces (and at most one line break, as in wrapped text).
pub(super) fn skip_spaces_max(text: &str, pos: usize, max: usize) -> usize {
    let mut end = pos;
    let mut newlines = 0;
    for c in text[pos..].chars().take(max) {
        if c == '\n' {
            newlines += 1;
        }
        if !c.is_whitespace() || newlines > 1 {
            break;
        }
        end += c.len_utf8();
    }
    end
}
