//! Number literals read to values: digit groupings (English, Indian, European, spaced),
//! decimal commas, signs, fractions, number words and magnitudes.

use std::sync::LazyLock;

use regex::Regex;

use super::lex::{alnum_run_end, word_at};

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Form {
    /// Only digits, no sign, separator or fraction: a candidate year.
    BareInteger {
        digits: usize,
    },
    Digits,
    Words,
}

pub(super) struct Literal {
    pub(super) value: f64,
    pub(super) resolution: f64,
    pub(super) form: Form,
    pub(super) end: usize,
}

pub(super) enum LiteralParse {
    Found(Literal),
    Skip(usize),
}

pub(super) fn parse_literal(text: &str, pos: usize) -> Option<LiteralParse> {
    let mut chars = text[pos..].chars();
    let first = chars.next()?;
    let negative =
        matches!(first, '-' | '\u{2212}') && chars.next().is_some_and(|c| c.is_ascii_digit());
    let p = if negative {
        pos + first.len_utf8()
    } else {
        pos
    };
    let sign = if negative { -1.0 } else { 1.0 };
    let c = text[p..].chars().next()?;
    if let Some(f) = vulgar_fraction(c) {
        return Some(LiteralParse::Found(Literal {
            value: sign * f,
            resolution: 0.01,
            form: Form::Digits,
            end: p + c.len_utf8(),
        }));
    }
    if !c.is_ascii_digit() {
        if negative {
            return None;
        }
        return word_number(text, p).map(LiteralParse::Found);
    }
    let token_end = digit_token_end(text, p);
    let token = &text[p..token_end];
    let Some((value, decimals)) = interpret_digits(token) else {
        return Some(LiteralParse::Skip(token_end));
    };
    let bare = token.bytes().all(|b| b.is_ascii_digit()) && !negative;
    let resolution = 10f64.powi(-i32::try_from(decimals).unwrap_or(i32::MAX));
    let mut literal = Literal {
        value: sign * value,
        resolution,
        form: if bare {
            Form::BareInteger {
                digits: token.len(),
            }
        } else {
            Form::Digits
        },
        end: token_end,
    };
    let next = text[token_end..].chars().next();
    if let Some(f) = next.and_then(vulgar_fraction) {
        literal.value += sign * f;
        literal.resolution = 0.01;
        literal.form = Form::Digits;
        literal.end += next.map_or(0, char::len_utf8);
    } else if next == Some('/')
        && bare
        && text[token_end + 1..].starts_with(|c: char| c.is_ascii_digit())
    {
        let denominator_end = digit_token_end(text, token_end + 1);
        let denominator: Option<f64> = text[token_end + 1..denominator_end].parse().ok();
        let after = text[denominator_end..].chars().next();
        let whole_end = alnum_run_end(text, denominator_end);
        return Some(match denominator {
            Some(d) if d > value && after != Some('/') => LiteralParse::Found(Literal {
                value: sign * value / d,
                resolution: 0.01,
                form: Form::Digits,
                end: denominator_end,
            }),
            _ => LiteralParse::Skip(whole_end.max(denominator_end)),
        });
    }
    Some(LiteralParse::Found(literal))
}

/// The end of a run of digits joined by separators that are directly followed by a digit,
/// so a sentence's final "." or a list's ", " is not swallowed.
fn digit_token_end(text: &str, pos: usize) -> usize {
    let mut end = pos;
    let mut chars = text[pos..].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let separator = matches!(c, ',' | '.' | '\u{a0}' | '\u{202f}' | '\u{2009}');
        let joins = separator && chars.peek().is_some_and(|(_, n)| n.is_ascii_digit());
        if !(c.is_ascii_digit() || joins) {
            break;
        }
        end = pos + i + c.len_utf8();
    }
    end
}

/// Reads a digit token by the rules in the module documentation; `None` for tokens that are
/// not one number (versions, lists).
fn interpret_digits(token: &str) -> Option<(f64, usize)> {
    static ENGLISH: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:\d{1,3}(?:,\d{3})+|\d{1,2}(?:,\d{2})+,\d{3}|\d+)(?:\.(\d+))?$")
            .expect("constant pattern")
    });
    static SPACED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^\d{1,3}(?:[\x{a0}\x{202f}\x{2009}]\d{3})+(?:[.,](\d+))?$")
            .expect("constant pattern")
    });
    static EUROPEAN: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:\d{1,3}(?:\.\d{3})+,(\d+)|\d{1,3}(?:\.\d{3}){2,}|\d+,(\d{1,2}|\d{4,}))$")
            .expect("constant pattern")
    });
    let (cleaned, decimals) = if let Some(caps) = ENGLISH.captures(token) {
        (token.replace(',', ""), caps.get(1).map_or(0, |m| m.len()))
    } else if let Some(caps) = SPACED.captures(token) {
        let cleaned: String = token
            .chars()
            .filter(|c| c.is_ascii_digit() || matches!(c, '.' | ','))
            .map(|c| if c == ',' { '.' } else { c })
            .collect();
        (cleaned, caps.get(1).map_or(0, |m| m.len()))
    } else if let Some(caps) = EUROPEAN.captures(token) {
        let decimals = caps.get(1).or(caps.get(2)).map_or(0, |m| m.len());
        (token.replace('.', "").replace(',', "."), decimals)
    } else {
        return None;
    };
    cleaned.parse().ok().map(|v| (v, decimals))
}

fn vulgar_fraction(c: char) -> Option<f64> {
    Some(match c {
        '½' => 0.5,
        '¼' => 0.25,
        '¾' => 0.75,
        '⅓' => 1.0 / 3.0,
        '⅔' => 2.0 / 3.0,
        '⅕' => 0.2,
        '⅛' => 0.125,
        _ => return None,
    })
}

fn word_number(text: &str, pos: usize) -> Option<Literal> {
    const ONES: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 8] = [
        "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    let index_of = |list: &[&str], w: &str| list.iter().position(|x| x.eq_ignore_ascii_case(w));
    let (word, end) = word_at(text, pos)?;
    let literal = |value: usize, end: usize| Literal {
        value: value as f64,
        resolution: 1.0,
        form: Form::Words,
        end,
    };
    if let Some(n) = index_of(&ONES, word) {
        return Some(literal(n, end));
    }
    let tens = (index_of(&TENS, word)? + 2) * 10;
    if text[end..].starts_with('-') {
        if let Some((unit, unit_end)) = word_at(text, end + 1) {
            if let Some(n) = index_of(&ONES[1..10], unit) {
                return Some(literal(tens + n + 1, unit_end));
            }
        }
    }
    Some(literal(tens, end))
}

pub(super) fn attached_magnitude(suffix: &str, after_currency: bool) -> Option<f64> {
    match suffix {
        "k" | "K" => Some(1e3),
        "M" | "mn" | "MM" | "mln" => Some(1e6),
        "B" | "bn" | "Bn" | "bln" => Some(1e9),
        "T" | "tn" | "Tn" | "trn" => Some(1e12),
        "m" if after_currency => Some(1e6),
        "b" if after_currency => Some(1e9),
        _ => None,
    }
}

pub(super) fn magnitude_word(word: &str) -> Option<f64> {
    const WORDS: [(&str, f64); 13] = [
        ("hundred", 1e2),
        ("thousand", 1e3),
        ("lakh", 1e5),
        ("million", 1e6),
        ("crore", 1e7),
        ("billion", 1e9),
        ("trillion", 1e12),
        ("mn", 1e6),
        ("mln", 1e6),
        ("bn", 1e9),
        ("bln", 1e9),
        ("tn", 1e12),
        ("trn", 1e12),
    ];
    WORDS
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(word))
        .map(|(_, m)| *m)
}
