//! The words around a number: currency symbols and codes before it; after it a currency
//! word, a unit of a small vocabulary, or a word that is neither.

use super::lex::{skip_spaces, skip_spaces_max, word_at};
use super::normalise::magnitude_word;
use super::patterns::MONTHS;
use super::Currency;

pub(super) fn currency_prefix(text: &str, pos: usize) -> Option<(Currency, usize)> {
    const PREFIXES: [(&str, Currency); 17] = [
        ("US$", Currency::Usd),
        ("A$", Currency::Aud),
        ("C$", Currency::Cad),
        ("$", Currency::Usd),
        ("€", Currency::Eur),
        ("£", Currency::Gbp),
        ("¥", Currency::Jpy),
        ("₹", Currency::Inr),
        ("USD", Currency::Usd),
        ("EUR", Currency::Eur),
        ("GBP", Currency::Gbp),
        ("JPY", Currency::Jpy),
        ("CNY", Currency::Cny),
        ("INR", Currency::Inr),
        ("CHF", Currency::Chf),
        ("CAD", Currency::Cad),
        ("AUD", Currency::Aud),
    ];
    let rest = &text[pos..];
    let (prefix, currency) = PREFIXES.iter().find(|(p, _)| rest.starts_with(p))?;
    let end = pos + prefix.len();
    // A code glued to letters ("USDT") is another word.
    if text[end..].chars().next().is_some_and(char::is_alphabetic) {
        return None;
    }
    Some((*currency, end))
}

pub(super) enum Trailer {
    Currency(Currency, usize),
    Unit(String, usize),
    None,
}

pub(super) fn trailer(text: &str, pos: usize) -> Trailer {
    const CURRENCY_WORDS: [(&str, Currency); 20] = [
        ("dollars", Currency::Usd),
        ("dollar", Currency::Usd),
        ("USD", Currency::Usd),
        ("euros", Currency::Eur),
        ("euro", Currency::Eur),
        ("EUR", Currency::Eur),
        ("GBP", Currency::Gbp),
        ("yen", Currency::Jpy),
        ("JPY", Currency::Jpy),
        ("yuan", Currency::Cny),
        ("renminbi", Currency::Cny),
        ("RMB", Currency::Cny),
        ("CNY", Currency::Cny),
        ("rupees", Currency::Inr),
        ("rupee", Currency::Inr),
        ("INR", Currency::Inr),
        ("CHF", Currency::Chf),
        ("francs", Currency::Chf),
        ("CAD", Currency::Cad),
        ("AUD", Currency::Aud),
    ];
    let q = skip_spaces(text, pos);
    if q == pos {
        return Trailer::None;
    }
    let Some((word, end)) = word_at(text, q) else {
        return Trailer::None;
    };
    if let Some((_, c)) = CURRENCY_WORDS.iter().find(|(w, _)| *w == word) {
        return Trailer::Currency(*c, end);
    }
    if word.eq_ignore_ascii_case("pp") {
        return Trailer::Unit("pp".to_string(), end);
    }
    if word.eq_ignore_ascii_case("percentage") {
        let p = skip_spaces_max(text, end, 1);
        if let Some((next, next_end)) = word_at(text, p) {
            if next.eq_ignore_ascii_case("points") || next.eq_ignore_ascii_case("point") {
                return Trailer::Unit("pp".to_string(), next_end);
            }
        }
        return Trailer::None;
    }
    if let Some(u) = unit_for(word) {
        return Trailer::Unit(u.to_string(), end);
    }
    let lower = word.to_lowercase();
    if STOPWORDS.contains(&lower.as_str())
        || magnitude_word(word).is_some()
        || MONTHS.iter().any(|m| m.eq_ignore_ascii_case(word))
    {
        return Trailer::None;
    }
    Trailer::Unit(lower, end)
}

/// Canonical unit for vocabulary spellings. Short abbreviations are case-sensitive (`5G` is
/// a network generation, not five grams); words are not.
const UNITS: [(&str, &str); 52] = [
    ("km", "km"),
    ("kilometre", "km"),
    ("kilometres", "km"),
    ("kilometer", "km"),
    ("kilometers", "km"),
    ("m", "m"),
    ("metre", "m"),
    ("metres", "m"),
    ("meter", "m"),
    ("meters", "m"),
    ("mi", "mi"),
    ("mile", "mi"),
    ("miles", "mi"),
    ("kg", "kg"),
    ("kilogram", "kg"),
    ("kilograms", "kg"),
    ("g", "g"),
    ("gram", "g"),
    ("grams", "g"),
    ("t", "t"),
    ("tonne", "t"),
    ("tonnes", "t"),
    ("tons", "t"),
    ("kWh", "kWh"),
    ("MWh", "MWh"),
    ("GWh", "GWh"),
    ("TWh", "TWh"),
    ("kW", "kW"),
    ("MW", "MW"),
    ("GW", "GW"),
    ("people", "people"),
    ("persons", "people"),
    ("users", "users"),
    ("customers", "customers"),
    ("employees", "employees"),
    ("years", "years"),
    ("year", "years"),
    ("yrs", "years"),
    ("months", "months"),
    ("month", "months"),
    ("weeks", "weeks"),
    ("week", "weeks"),
    ("days", "days"),
    ("day", "days"),
    ("hours", "hours"),
    ("hour", "hours"),
    ("h", "hours"),
    ("hrs", "hours"),
    ("minutes", "minutes"),
    ("min", "minutes"),
    ("seconds", "seconds"),
    ("°C", "°C"),
];

pub(super) fn unit_for(word: &str) -> Option<&'static str> {
    UNITS
        .iter()
        .find(|(alias, _)| *alias == word || (alias.len() > 3 && alias.eq_ignore_ascii_case(word)))
        .map(|(_, canonical)| *canonical)
}

pub(super) fn is_vocabulary_unit(unit: &str) -> bool {
    UNITS.iter().any(|(_, canonical)| *canonical == unit)
}

/// Words that follow numbers without being their unit.
const STOPWORDS: [&str; 48] = [
    "a", "an", "and", "are", "as", "at", "be", "between", "but", "by", "for", "from", "has", "had",
    "have", "in", "into", "is", "it", "its", "of", "on", "or", "over", "per", "than", "that",
    "the", "their", "then", "there", "these", "this", "those", "to", "under", "up", "was", "were",
    "which", "while", "who", "will", "with", "would", "after", "before", "since",
];
