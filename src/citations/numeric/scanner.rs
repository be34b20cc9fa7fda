//! The scanner: every number of a text read left to right, one mention (or a pair of
//! years) starting at a position.

use super::lex::{alnum_run_end, keyword, skip_spaces, skip_spaces_max, word_at};
use super::normalise::{
    attached_magnitude, magnitude_word, parse_literal, Form, Literal, LiteralParse,
};
use super::patterns::{citation_markers, date_mentions, preceded_by_approximation, Reserved};
use super::vocabulary::{currency_prefix, is_vocabulary_unit, trailer, unit_for, Trailer};
use super::{Currency, Kind, NumericMention, PartialDate, Value};

/// Finds every number in `text`, in order of position.
pub fn extract(text: &str) -> Vec<NumericMention> {
    let mut reserved = date_mentions(text);
    reserved.extend(citation_markers(text).into_iter().map(Reserved::Skip));
    reserved.sort_by_key(|r| r.range().start);
    let mut reserved = reserved.into_iter().peekable();

    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(c) = text[pos..].chars().next() {
        // Reserved spans were found by whole-text patterns; they win over the scanner.
        while reserved.peek().is_some_and(|r| r.range().end <= pos) {
            reserved.next();
        }
        if let Some(r) = reserved.next_if(|r| r.range().start <= pos) {
            pos = pos.max(r.range().end);
            if let Reserved::Date(m) = r {
                out.push(m);
            }
            continue;
        }
        let boundary = reserved.peek().map_or(text.len(), |r| r.range().start);
        let visible = &text[..boundary];
        let end = match parse_at(visible, pos) {
            Parse::Mentions(ms, end) => {
                out.extend(ms);
                end
            }
            Parse::Skip(end) => end,
            Parse::Nothing if c.is_alphanumeric() => alnum_run_end(visible, pos),
            Parse::Nothing => pos,
        };
        // Every branch must make progress; a parser that consumed nothing moves one char on.
        pos = end.max(pos + c.len_utf8());
    }
    for m in &mut out {
        m.approximate = preceded_by_approximation(text, m.range.start);
    }
    out
}

enum Parse {
    Mentions(Vec<NumericMention>, usize),
    /// Not a quantity (an ordinal, an identifier such as `5G`): resume after it.
    Skip(usize),
    Nothing,
}

/// One side of a (possible) range: a number with what is attached to it.
struct Operand {
    currency: Option<Currency>,
    value: f64,
    resolution: f64,
    multiplier: Option<f64>,
    percent: bool,
    unit: Option<&'static str>,
    form: Form,
    end: usize,
}

enum OperandParse {
    Found(Operand),
    Skip(usize),
    Nothing,
}

fn parse_at(text: &str, pos: usize) -> Parse {
    let prev = text[..pos].chars().next_back();
    if prev.is_some_and(char::is_alphanumeric) {
        return Parse::Nothing;
    }
    // "GPT-4", "COVID-19": a number hyphenated to a word is part of a name.
    if prev == Some('-')
        && text[..pos - 1]
            .chars()
            .next_back()
            .is_some_and(char::is_alphabetic)
    {
        return Parse::Skip(alnum_run_end(text, pos));
    }
    if let Some(after) = keyword(text, pos, "between") {
        return parse_between(text, pos, after);
    }
    let first = match parse_operand(text, pos) {
        OperandParse::Found(o) => o,
        OperandParse::Skip(end) => return Parse::Skip(end),
        OperandParse::Nothing => return Parse::Nothing,
    };
    let second = range_connector(text, first.end)
        .and_then(|p| match parse_operand(text, p) {
            OperandParse::Found(o) => Some(o),
            OperandParse::Skip(_) | OperandParse::Nothing => None,
        })
        .filter(|second| same_measure(&first, second));
    finish(text, pos, first, second)
}

/// "rose 40% to $2.3bn" is two numbers, not a range: the ends of a range may leave a marker
/// unsaid but must not contradict each other.
fn same_measure(first: &Operand, second: &Operand) -> bool {
    let currencies_agree = match (first.currency, second.currency) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    let percent_vs_money = (first.percent && second.currency.is_some())
        || (second.percent && first.currency.is_some());
    currencies_agree && !percent_vs_money
}

fn parse_between(text: &str, start: usize, after: usize) -> Parse {
    let p = skip_spaces(text, after);
    let OperandParse::Found(first) = parse_operand(text, p) else {
        return Parse::Nothing;
    };
    let p = skip_spaces(text, first.end);
    let Some(p) = keyword(text, p, "and") else {
        return Parse::Nothing;
    };
    let OperandParse::Found(second) = parse_operand(text, skip_spaces(text, p)) else {
        return Parse::Nothing;
    };
    finish(text, start, first, Some(second))
}

fn finish(text: &str, start: usize, first: Operand, second: Option<Operand>) -> Parse {
    // "2000 employees" is a head count, "in 2024 the" a year.
    let counts_something = second.is_none()
        && matches!(trailer(text, first.end), Trailer::Unit(u, _) if is_vocabulary_unit(&u));
    if let Some(year) = as_year(&first).filter(|_| !counts_something) {
        let mut out = vec![year_mention(text, start, first.end, year)];
        // "2023–2024" and "2023–24" are two years, not a quantity range.
        let mut end = first.end;
        if let Some(second) = &second {
            let tail_start = second.end - digits_before(text, second.end);
            if let Some(y) = as_year(second) {
                out.push(year_mention(text, tail_start, second.end, y));
                end = second.end;
            } else if second.form == (Form::BareInteger { digits: 2 }) && is_bare(second) {
                let y = year / 100 * 100 + second.value as i32;
                out.push(year_mention(text, tail_start, second.end, y));
                end = second.end;
            }
        }
        return Parse::Mentions(out, end);
    }
    let last_end = second.as_ref().map_or(first.end, |s| s.end);
    let attached_unit = first.unit.or(second.as_ref().and_then(|s| s.unit));
    let currency_or_percent = first.currency.is_some()
        || first.percent
        || second
            .as_ref()
            .is_some_and(|s| s.currency.is_some() || s.percent);
    // The word after "40%" or "$5" ("growth", "revenue") says what is measured, not the unit.
    let trailer = if attached_unit.is_some() || currency_or_percent {
        Trailer::None
    } else {
        trailer(text, last_end)
    };
    let currency = first
        .currency
        .or(second.as_ref().and_then(|s| s.currency))
        .or(match trailer {
            Trailer::Currency(c, _) => Some(c),
            _ => None,
        });
    let percent = first.percent || second.as_ref().is_some_and(|s| s.percent);
    let unit: Option<String> = match (&trailer, attached_unit) {
        (_, Some(u)) => Some(u.to_string()),
        (Trailer::Unit(u, _), None) => Some(u.clone()),
        _ => None,
    };
    let from_words =
        first.form == Form::Words || second.as_ref().is_some_and(|s| s.form == Form::Words);
    let has_anchor = first.multiplier.is_some()
        || second.as_ref().is_some_and(|s| s.multiplier.is_some())
        || percent
        || currency.is_some()
        || unit.as_deref().is_some_and(is_vocabulary_unit);
    if from_words && !has_anchor {
        return Parse::Nothing;
    }
    let end = match trailer {
        Trailer::Currency(_, end) | Trailer::Unit(_, end) => end,
        Trailer::None => last_end,
    };
    let kind = match (currency, percent) {
        (Some(c), _) => Kind::Currency(c),
        (None, true) => Kind::Percent,
        (None, false) => Kind::Plain,
    };
    let unit = match kind {
        Kind::Percent => Some("%".to_string()),
        Kind::Currency(c) => Some(c.code().to_string()),
        Kind::Plain | Kind::Date => unit,
    };
    let percent_scale = if percent { 0.01 } else { 1.0 };
    let shared_multiplier = second.as_ref().and_then(|s| s.multiplier);
    let scaled = |o: &Operand, fallback: Option<f64>| {
        let m = o.multiplier.or(fallback).unwrap_or(1.0) * percent_scale;
        (o.value * m, o.resolution * m)
    };
    let (v1, r1) = scaled(&first, shared_multiplier);
    let (value, resolution) = match &second {
        None => (Value::Single(v1), r1),
        Some(s) => {
            let (v2, r2) = scaled(s, None);
            (
                Value::Range {
                    lo: v1.min(v2),
                    hi: v1.max(v2),
                },
                r1.max(r2),
            )
        }
    };
    // A figure too long for an f64 ("9" written 400 times) would be infinite, and infinity
    // matches nothing, not even itself: it is not read as a number.
    let finite = match value {
        Value::Single(v) => v.is_finite(),
        Value::Range { lo, hi } => lo.is_finite() && hi.is_finite(),
        Value::Date(_) => true,
    };
    if !finite {
        return Parse::Skip(end);
    }
    let mention = NumericMention {
        range: start..end,
        raw: text[start..end].to_string(),
        value,
        kind,
        unit,
        approximate: false,
        resolution,
    };
    Parse::Mentions(vec![mention], end)
}

fn is_bare(o: &Operand) -> bool {
    o.currency.is_none() && o.multiplier.is_none() && !o.percent && o.unit.is_none()
}

fn as_year(o: &Operand) -> Option<i32> {
    let year = o.value as i32;
    (is_bare(o) && o.form == (Form::BareInteger { digits: 4 }) && (1000..=2199).contains(&year))
        .then_some(year)
}

fn year_mention(text: &str, start: usize, end: usize, year: i32) -> NumericMention {
    NumericMention {
        range: start..end,
        raw: text[start..end].to_string(),
        value: Value::Date(PartialDate {
            year,
            month: None,
            day: None,
        }),
        kind: Kind::Date,
        unit: None,
        approximate: false,
        resolution: 0.0,
    }
}

fn digits_before(text: &str, end: usize) -> usize {
    text[..end]
        .bytes()
        .rev()
        .take_while(u8::is_ascii_digit)
        .count()
}

fn parse_operand(text: &str, pos: usize) -> OperandParse {
    let (currency, p) = match currency_prefix(text, pos) {
        Some((c, end)) => (Some(c), skip_spaces_max(text, end, 1)),
        None => (None, pos),
    };
    let Some(literal) = parse_literal(text, p) else {
        return OperandParse::Nothing;
    };
    let Literal {
        value,
        resolution,
        form,
        end,
    } = match literal {
        LiteralParse::Found(l) => l,
        LiteralParse::Skip(end) => return OperandParse::Skip(end),
    };
    let mut operand = Operand {
        currency,
        value,
        resolution,
        multiplier: None,
        percent: false,
        unit: None,
        form,
        end,
    };
    let mut p = end;
    if text[p..].starts_with('%') {
        operand.percent = true;
        p += 1;
    } else if let Some((word, word_end)) = word_at(text, p) {
        if let Some(m) = attached_magnitude(word, currency.is_some()) {
            operand.multiplier = Some(m);
        } else if ["st", "nd", "rd", "th"].contains(&word) {
            return OperandParse::Skip(word_end);
        } else if let Some(u) = unit_for(word) {
            operand.unit = Some(u);
        } else {
            return OperandParse::Skip(word_end);
        }
        p = word_end;
    } else if text[p..]
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '_')
    {
        return OperandParse::Skip(alnum_run_end(text, p));
    }
    // Spelled magnitudes may stack: "two hundred thousand".
    loop {
        let q = skip_spaces(text, p);
        let Some((word, word_end)) = word_at(text, q) else {
            break;
        };
        let Some(m) = magnitude_word(word) else { break };
        operand.multiplier = Some(operand.multiplier.unwrap_or(1.0) * m);
        p = word_end;
    }
    if !operand.percent {
        let q = skip_spaces(text, p);
        if text[q..].starts_with('%') {
            operand.percent = true;
            p = q + 1;
        } else if let Some(after) = keyword(text, q, "percent").or_else(|| {
            keyword(text, q, "per").and_then(|a| keyword(text, skip_spaces_max(text, a, 1), "cent"))
        }) {
            operand.percent = true;
            p = after;
        }
    }
    operand.end = p;
    OperandParse::Found(operand)
}

fn range_connector(text: &str, pos: usize) -> Option<usize> {
    let q = skip_spaces_max(text, pos, 1);
    let c = text[q..].chars().next()?;
    let after = if matches!(c, '–' | '-' | '‒' | '—') {
        q + c.len_utf8()
    } else if q > pos {
        keyword(text, q, "to")?
    } else {
        return None;
    };
    Some(skip_spaces_max(text, after, 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::citations::numeric::test_support::only;
    use proptest::prelude::*;

    fn assert_close(actual: f64, expected: f64, text: &str) {
        assert!(
            (actual - expected).abs() <= expected.abs() * 1e-9,
            "{text:?}: {actual} != {expected}"
        );
    }

    #[test]
    fn normalisation_table() {
        use Kind::*;
        let usd = Currency(super::Currency::Usd);
        let rows: &[(&str, f64, Kind, Option<&str>)] = &[
            ("1.5 million", 1.5e6, Plain, None),
            ("1,500,000", 1.5e6, Plain, None),
            ("1.5M", 1.5e6, Plain, None),
            ("1500000", 1.5e6, Plain, None),
            ("1.5 mn", 1.5e6, Plain, None),
            ("10k", 1e4, Plain, None),
            ("two million", 2e6, Plain, None),
            ("three hundred thousand", 3e5, Plain, None),
            ("40%", 0.4, Percent, Some("%")),
            ("40 %", 0.4, Percent, Some("%")),
            ("0.40", 0.4, Plain, None),
            ("40 percent", 0.4, Percent, Some("%")),
            ("40 per cent", 0.4, Percent, Some("%")),
            ("forty percent", 0.4, Percent, Some("%")),
            ("forty-five percent", 0.45, Percent, Some("%")),
            ("$2.3bn", 2.3e9, usd, Some("USD")),
            ("2.3 billion dollars", 2.3e9, usd, Some("USD")),
            ("USD 2,300,000,000", 2.3e9, usd, Some("USD")),
            ("US$2.3 billion", 2.3e9, usd, Some("USD")),
            ("$5m", 5e6, usd, Some("USD")),
            ("€2.3bn", 2.3e9, Currency(super::Currency::Eur), Some("EUR")),
            ("£40", 40.0, Currency(super::Currency::Gbp), Some("GBP")),
            ("1.234,5", 1234.5, Plain, None),
            ("1.234.567", 1_234_567.0, Plain, None),
            ("1.234", 1.234, Plain, None),
            ("3,5 million", 3.5e6, Plain, None),
            ("1,23,456", 123_456.0, Plain, None),
            ("1\u{a0}234\u{a0}567", 1_234_567.0, Plain, None),
            ("-5", -5.0, Plain, None),
            ("\u{2212}3.5", -3.5, Plain, None),
            ("½", 0.5, Plain, None),
            ("2½", 2.5, Plain, None),
            ("3/4", 0.75, Plain, None),
            ("12 km", 12.0, Plain, Some("km")),
            ("12 kilometres", 12.0, Plain, Some("km")),
            ("12km", 12.0, Plain, Some("km")),
            ("3 people", 3.0, Plain, Some("people")),
            ("three people", 3.0, Plain, Some("people")),
            ("1.5 million residents", 1.5e6, Plain, Some("residents")),
            ("2000 employees", 2000.0, Plain, Some("employees")),
            ("5 percentage points", 5.0, Plain, Some("pp")),
        ];
        for &(text, value, kind, unit) in rows {
            let m = only(text);
            let Value::Single(actual) = m.value else {
                panic!("{text:?}: not a single value: {m:?}");
            };
            assert_close(actual, value, text);
            assert_eq!(m.kind, kind, "{text:?}");
            assert_eq!(m.unit.as_deref(), unit, "{text:?}");
            assert_eq!(m.raw, text, "{text:?}");
        }
    }

    #[test]
    fn ranges_apply_a_shared_magnitude_percent_or_unit_to_both_ends() {
        let rows: &[(&str, f64, f64, Kind)] = &[
            ("10–20%", 0.1, 0.2, Kind::Percent),
            ("10%-20%", 0.1, 0.2, Kind::Percent),
            ("10 to 20 percent", 0.1, 0.2, Kind::Percent),
            ("between 10 and 20", 10.0, 20.0, Kind::Plain),
            ("10-20 million", 1e7, 2e7, Kind::Plain),
            ("$1–2bn", 1e9, 2e9, Kind::Currency(Currency::Usd)),
        ];
        for &(text, lo, hi, kind) in rows {
            let m = only(text);
            let Value::Range { lo: l, hi: h } = m.value else {
                panic!("{text:?}: not a range: {m:?}");
            };
            assert_close(l, lo, text);
            assert_close(h, hi, text);
            assert_eq!(m.kind, kind, "{text:?}");
            assert_eq!(m.raw, text);
        }
    }

    #[test]
    fn names_ordinals_versions_and_citation_markers_are_not_numbers() {
        for text in [
            "GPT-4 and COVID-19",
            "the 3rd quarter",
            "5G networks on A100 chips",
            "as shown [3] and [1, 2]",
            "version 1.2.3",
            "open 24/7",
            "one of the best",
        ] {
            assert!(extract(text).is_empty(), "{text:?}: {:?}", extract(text));
        }
    }

    #[test]
    fn mentions_in_a_sentence_keep_their_byte_ranges() {
        let text = "Revenue rose 40% to $2.3bn in 2024, serving 1.5 million users.";
        let raws: Vec<&str> = extract(text)
            .iter()
            .map(|m| &text[m.range.clone()])
            .collect();
        assert_eq!(raws, ["40%", "$2.3bn", "2024", "1.5 million users"]);
    }

    proptest! {
        #[test]
        fn extract_never_panics_and_ranges_slice_to_raw(
            text in "[0-9a-zA-Z ,.%$€£½/\\[\\]~\u{a0}\u{2212}\u{2013}\u{301}é-]{0,80}"
        ) {
            let mentions = extract(&text);
            let mut previous_end = 0;
            for m in &mentions {
                prop_assert_eq!(text.get(m.range.clone()), Some(m.raw.as_str()));
                prop_assert!(m.range.start >= previous_end, "overlap in {:?}", mentions);
                previous_end = m.range.end;
            }
        }

        #[test]
        fn extract_never_panics_on_any_string(text in any::<String>()) {
            for m in extract(&text) {
                prop_assert_eq!(text.get(m.range.clone()), Some(m.raw.as_str()));
            }
        }
    }
}
