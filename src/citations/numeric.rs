//! Numbers in claims and evidence: extraction, normalisation and matching.
//!
//! This is the deterministic half of numeric QA: before a model is asked whether a claim is
//! supported, every number the claim states must appear, after normalisation, in the evidence
//! cited for it. A [`NumericMention`] carries what the `numeric_claims` table stores
//! (`raw_value`, `normalized_value`, `unit`) plus the byte range it came from.
//!
//! # What is recognised (and the decisions behind it)
//!
//! - **Digits**: `1500000`, `1,500,000` (English grouping), `1,23,456` (Indian grouping),
//!   `1 500 000` with non-breaking or thin spaces only (ordinary spaces separate numbers),
//!   decimals `2.3`. **European** `1.234,5` and `1.234.567` are read as European because no
//!   English reading exists; `1.234` alone is ambiguous and read as the English decimal 1.234;
//!   `3,5` (a comma followed by other than three digits) is a decimal comma, since English
//!   grouping always has three digits after a comma.
//! - **Magnitudes** after a number: words `hundred`, `thousand`, `million`, `billion`,
//!   `trillion`, `lakh`, `crore` and `mn`/`bn`/`tn`; attached suffixes `k`/`K`, `M`, `bn`, `B`,
//!   `tn`, `T`. Lowercase `m`/`b` mean million/billion only after a currency (`$5m`), since
//!   `5m` otherwise reads as metres.
//! - **Word numbers** `zero`..`nineteen`, the tens `twenty`..`ninety` and hyphenated compounds
//!   (`forty-five`), but only when a magnitude, a percent word, a currency word or a vocabulary
//!   unit follows (`forty percent`, `two million`, `three people`): a bare `one` is far more
//!   often a pronoun than a quantity.
//! - **Percent** (`40%`, `40 %`, `40 percent`, `40 per cent`) is stored as a fraction, so
//!   `40%` = `0.40`. `percentage points`/`pp` is a plain quantity with unit `pp`.
//! - **Currency**: symbols `$`, `US$`, `€`, `£`, `¥`, `₹`, `A$`, `C$`, ISO codes before the
//!   number, and currency words or codes after it (`2.3 billion dollars`). `$` and "dollars"
//!   are assumed to be US dollars.
//! - **Ranges** `10–20%`, `10-20 million`, `10 to 20 percent`, `between 10 and 20`: a
//!   magnitude, percent sign or unit written once applies to both ends.
//! - **Dates**: `2024-03-01`, `March 2024`, `1 March 2024`, `March 1, 2024`, `03/01/2024`
//!   (slash dates keep only the year: US and European order can't be told apart), and bare
//!   years: a four-digit integer from 1000 to 2199 with no separator, currency, percent or
//!   magnitude. So `2024 units` is a year; `2,024 units` is a quantity.
//! - **Negative** numbers with `-` or `−` (U+2212) at the start of a token, and fractions `½`,
//!   `¼`, `¾`, `⅓`, `⅔`, `⅕`, `⅛` and proper slash fractions such as `3/4`.
//! - **Approximation** markers (`about`, `around`, `approximately`, `roughly`, `nearly`,
//!   `almost`, `circa`, `some`, `~`, `≈`) are recorded in [`NumericMention::approximate`] and
//!   never change the value.
//!
//! Not extracted: ordinals (`3rd`), numbers inside names (`GPT-4`, `COVID-19`, `A100`, `5G`),
//! version-like tokens (`1.2.3`), citation markers (`[3]`, `[1, 2]`) and improper slash
//! fractions (`24/7`).
//!
//! # Units
//!
//! A small vocabulary maps spellings to one unit (`kilometres` → `km`, `persons` → `people`);
//! see `UNITS` in the source. Any other word after a number (that is not a function word such
//! as `of` or `in`) is kept, lowercased, as the unit.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// A number found in text, with its normalised value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericMention {
    /// Byte range in the text; `&text[range]` is [`raw`](Self::raw).
    pub range: Range<usize>,
    /// The number as written, including currency, magnitude and unit.
    pub raw: String,
    /// The value after magnitudes are applied; percentages are fractions (40% is 0.4).
    pub value: Value,
    pub kind: Kind,
    /// `%` for percentages, the ISO code for money, else a vocabulary unit or the next word.
    pub unit: Option<String>,
    /// An approximation marker such as "about" or "~" precedes the number.
    pub approximate: bool,
    /// The value of one step in the last written digit, in the units of `value`: `40%` has
    /// 0.01, `1.5 million` has 100,000. Half of it is the rounding slack when matching.
    pub resolution: f64,
}

/// A normalised value: one number, a range, or a calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    Single(f64),
    Range { lo: f64, hi: f64 },
    Date(PartialDate),
}

/// What a number measures; matching only compares compatible kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Plain,
    Percent,
    Currency(Currency),
    Date,
}

/// Currencies the extractor recognises by symbol, code or word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    Usd,
    Eur,
    Gbp,
    Jpy,
    Cny,
    Inr,
    Chf,
    Cad,
    Aud,
}

/// A date as precise as the text gave it: a year, a month of a year, or a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialDate {
    pub year: i32,
    pub month: Option<u8>,
    pub day: Option<u8>,
}

/// How one claim number fared against evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum NumericMatch {
    /// The evidence states the same value (after normalisation) with a compatible unit.
    Exact { evidence: NumericMention },
    /// The claim is the evidence value rounded to the claim's precision, or within
    /// [`APPROXIMATE_RELATIVE_SLACK`] of it when the claim says "about".
    WithinTolerance {
        evidence: NumericMention,
        relative_error: f64,
    },
    /// The evidence has a comparable number, but not this one.
    Mismatch {
        closest: NumericMention,
        reason: MismatchReason,
    },
    /// The evidence has no comparable number at all.
    NotFound,
}

/// Why the closest evidence number does not support the claim number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MismatchReason {
    /// Same kind and unit, different value (`40%` vs `14%`).
    DifferentValue,
    /// Same digits, different kind, currency or unit (`40 km` vs `40%`, `$2.3bn` vs `€2.3bn`).
    IncompatibleUnit,
}

/// The numeric QA of one claim: each number with its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericQa {
    pub numbers: Vec<CheckedNumber>,
    /// Every number was found exactly or within tolerance; true for a claim without numbers.
    pub qa_verified: bool,
}

/// One claim number, its verdict, and which evidence text the verdict refers to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckedNumber {
    pub mention: NumericMention,
    pub verdict: NumericMatch,
    /// Index into the evidence texts given to [`check_claim`]; `None` for `NotFound`.
    pub evidence_index: Option<usize>,
}

/// How far an approximate claim ("about 40%") may be from the evidence, relative to the
/// claim's value: writers round "about" figures more loosely than their last digit says.
pub const APPROXIMATE_RELATIVE_SLACK: f64 = 0.05;

impl NumericMention {
    /// The single normalised number, for the `normalized_value` column; `None` for ranges
    /// and dates.
    pub fn normalized_value(&self) -> Option<f64> {
        match self.value {
            Value::Single(v) => Some(v),
            Value::Range { .. } | Value::Date(_) => None,
        }
    }
}

impl Currency {
    /// The ISO 4217 code.
    pub fn code(self) -> &'static str {
        match self {
            Currency::Usd => "USD",
            Currency::Eur => "EUR",
            Currency::Gbp => "GBP",
            Currency::Jpy => "JPY",
            Currency::Cny => "CNY",
            Currency::Inr => "INR",
            Currency::Chf => "CHF",
            Currency::Cad => "CAD",
            Currency::Aud => "AUD",
        }
    }
}

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

/// Looks for `claim` among the numbers of `evidence`.
pub fn match_in_evidence(claim: &NumericMention, evidence: &str) -> NumericMatch {
    let mentions = extract(evidence);
    best_match(claim, mentions.iter().map(|m| (0, m))).0
}

/// Checks every number of `claim_text` against all `evidence_texts`; a number is verified
/// if any evidence text supports it.
pub fn check_claim<S: AsRef<str>>(claim_text: &str, evidence_texts: &[S]) -> NumericQa {
    let evidence: Vec<(usize, NumericMention)> = evidence_texts
        .iter()
        .enumerate()
        .flat_map(|(i, t)| extract(t.as_ref()).into_iter().map(move |m| (i, m)))
        .collect();
    let numbers: Vec<CheckedNumber> = extract(claim_text)
        .into_iter()
        .map(|mention| {
            let (verdict, evidence_index) =
                best_match(&mention, evidence.iter().map(|(i, m)| (*i, m)));
            CheckedNumber {
                mention,
                verdict,
                evidence_index,
            }
        })
        .collect();
    let qa_verified = numbers.iter().all(|n| {
        matches!(
            n.verdict,
            NumericMatch::Exact { .. } | NumericMatch::WithinTolerance { .. }
        )
    });
    NumericQa {
        numbers,
        qa_verified,
    }
}

// ---------------------------------------------------------------------------------------------
// Matching

enum Closeness {
    Exact,
    Within(f64),
    Off(f64),
}

impl Closeness {
    fn error(&self) -> f64 {
        match self {
            Closeness::Exact => 0.0,
            Closeness::Within(e) | Closeness::Off(e) => *e,
        }
    }
}

fn best_match<'a>(
    claim: &NumericMention,
    evidence: impl Iterator<Item = (usize, &'a NumericMention)>,
) -> (NumericMatch, Option<usize>) {
    let mut within: Option<(f64, usize, &NumericMention)> = None;
    let mut off: Option<(f64, usize, &NumericMention)> = None;
    let mut incompatible: Option<(usize, &NumericMention)> = None;
    for (i, m) in evidence {
        if !compatible(claim, m) {
            if incompatible.is_none() && same_digits(claim, m) {
                incompatible = Some((i, m));
            }
            continue;
        }
        match closeness(claim, m) {
            Closeness::Exact => {
                return (
                    NumericMatch::Exact {
                        evidence: m.clone(),
                    },
                    Some(i),
                );
            }
            Closeness::Within(err) => {
                if within.is_none_or(|(best, _, _)| err < best) {
                    within = Some((err, i, m));
                }
            }
            Closeness::Off(dist) => {
                if off.is_none_or(|(best, _, _)| dist < best) {
                    off = Some((dist, i, m));
                }
            }
        }
    }
    if let Some((relative_error, i, m)) = within {
        let verdict = NumericMatch::WithinTolerance {
            evidence: m.clone(),
            relative_error,
        };
        return (verdict, Some(i));
    }
    if let Some((_, i, m)) = off {
        let verdict = NumericMatch::Mismatch {
            closest: m.clone(),
            reason: MismatchReason::DifferentValue,
        };
        return (verdict, Some(i));
    }
    if let Some((i, m)) = incompatible {
        let verdict = NumericMatch::Mismatch {
            closest: m.clone(),
            reason: MismatchReason::IncompatibleUnit,
        };
        return (verdict, Some(i));
    }
    (NumericMatch::NotFound, None)
}

/// A claim may be less specific than its evidence (a bare "1.5 million" is supported by
/// "$1.5 million"), never more: a currency or unit in the claim must be in the evidence. The
/// one exception is the percent/fraction equivalence (40% and 0.4) that statistics tables use.
fn compatible(claim: &NumericMention, evidence: &NumericMention) -> bool {
    match (claim.kind, evidence.kind) {
        (Kind::Date, Kind::Date) => true,
        (Kind::Date, _) | (_, Kind::Date) => false,
        (Kind::Percent, Kind::Percent) => true,
        (Kind::Percent, Kind::Plain) => evidence.unit.is_none(),
        (Kind::Plain, Kind::Percent | Kind::Currency(_)) => claim.unit.is_none(),
        (Kind::Currency(a), Kind::Currency(b)) => a == b,
        (Kind::Currency(_) | Kind::Percent, _) => false,
        (Kind::Plain, Kind::Plain) => match (&claim.unit, &evidence.unit) {
            (Some(a), Some(b)) => a == b || !is_vocabulary_unit(a) || !is_vocabulary_unit(b),
            _ => true,
        },
    }
}

/// The digits as a reader sees them (40 for 40%, the year for a date), for telling the
/// author "the evidence says 40, but in km".
fn same_digits(claim: &NumericMention, evidence: &NumericMention) -> bool {
    fn shown(m: &NumericMention) -> Option<f64> {
        match (m.value, m.kind) {
            (Value::Single(v), Kind::Percent) => Some(v * 100.0),
            (Value::Single(v), _) => Some(v),
            (Value::Date(d), _) => Some(f64::from(d.year)),
            (Value::Range { .. }, _) => None,
        }
    }
    match (shown(claim), shown(evidence)) {
        (Some(a), Some(b)) => relative_difference(a, b) <= 1e-9,
        _ => false,
    }
}

fn closeness(claim: &NumericMention, evidence: &NumericMention) -> Closeness {
    let slack = |c: f64| {
        let rounding = claim.resolution / 2.0;
        let approximate = if claim.approximate {
            APPROXIMATE_RELATIVE_SLACK * c.abs()
        } else {
            0.0
        };
        rounding.max(approximate)
    };
    match (claim.value, evidence.value) {
        (Value::Date(c), Value::Date(e)) => date_closeness(c, e),
        (Value::Single(c), Value::Single(e)) => value_closeness(c, e, slack(c)),
        (Value::Range { lo: cl, hi: ch }, Value::Range { lo: el, hi: eh }) => {
            let lo = value_closeness(cl, el, slack(cl));
            let hi = value_closeness(ch, eh, slack(ch));
            match (lo, hi) {
                (Closeness::Exact, Closeness::Exact) => Closeness::Exact,
                (Closeness::Off(a), b) | (b, Closeness::Off(a)) => Closeness::Off(a.max(b.error())),
                (a, b) => Closeness::Within(a.error().max(b.error())),
            }
        }
        // A single number is never supported by a range or the reverse; the distance to the
        // nearer end only ranks the mismatch.
        (Value::Single(c), Value::Range { lo, hi })
        | (Value::Range { lo, hi }, Value::Single(c)) => {
            Closeness::Off(relative_difference(c, lo).min(relative_difference(c, hi)))
        }
        (Value::Date(_), _) | (_, Value::Date(_)) => Closeness::Off(f64::INFINITY),
    }
}

fn value_closeness(claim: f64, evidence: f64, slack: f64) -> Closeness {
    let difference = relative_difference(claim, evidence);
    if difference <= 1e-9 {
        return Closeness::Exact;
    }
    // The epsilon keeps "39.5% rounds to 40%" from failing on binary floating point.
    let scale = claim.abs().max(evidence.abs());
    if (claim - evidence).abs() <= slack + scale * 1e-9 {
        Closeness::Within(difference)
    } else {
        Closeness::Off(difference)
    }
}

fn date_closeness(claim: PartialDate, evidence: PartialDate) -> Closeness {
    let part_agrees = |c: Option<u8>, e: Option<u8>| c.is_none() || c == e;
    if claim.year == evidence.year
        && part_agrees(claim.month, evidence.month)
        && part_agrees(claim.day, evidence.day)
    {
        return Closeness::Exact;
    }
    let months = |d: PartialDate| f64::from(d.year) * 12.0 + f64::from(d.month.unwrap_or(1));
    Closeness::Off((months(claim) - months(evidence)).abs() + 0.5)
}

fn relative_difference(a: f64, b: f64) -> f64 {
    let scale = a.abs().max(b.abs());
    if scale == 0.0 {
        0.0
    } else {
        (a - b).abs() / scale
    }
}

// ---------------------------------------------------------------------------------------------
// Whole-text patterns: dates and citation markers

enum Reserved {
    Date(NumericMention),
    Skip(Range<usize>),
}

impl Reserved {
    fn range(&self) -> Range<usize> {
        match self {
            Reserved::Date(m) => m.range.clone(),
            Reserved::Skip(r) => r.clone(),
        }
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn date_mentions(text: &str) -> Vec<Reserved> {
    static DATE: LazyLock<Regex> = LazyLock::new(|| {
        // Full month names come before abbreviations so "March" is not read as "Mar" + "ch".
        let month = "January|February|March|April|May|June|July|August|September|October|\
                     November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec";
        Regex::new(&format!(
            r"\b(?:(?P<iy>\d{{4}})-(?P<im>\d{{2}})-(?P<id>\d{{2}})|(?:(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?\s+)?(?P<mon>{month})\.?(?:\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?)?,?\s+(?P<y>\d{{4}})|\d{{1,2}}/\d{{1,2}}/(?P<sy>\d{{4}}))\b"
        ))
        .expect("constant pattern")
    });
    let number = |caps: &regex::Captures, name: &str| -> Option<u32> {
        caps.name(name).and_then(|m| m.as_str().parse().ok())
    };
    let mut out = Vec::new();
    for caps in DATE.captures_iter(text) {
        let Some(whole) = caps.get(0) else { continue };
        let date = if let Some(year) = number(&caps, "iy") {
            let (month, day) = (number(&caps, "im"), number(&caps, "id"));
            calendar_date(year, month, day)
        } else if let Some(year) = number(&caps, "y") {
            let month = caps.name("mon").and_then(|m| month_number(m.as_str()));
            let day = number(&caps, "d1").or_else(|| number(&caps, "d2"));
            calendar_date(year, month, day)
        } else {
            number(&caps, "sy").and_then(|year| calendar_date(year, None, None))
        };
        let Some(date) = date else { continue };
        out.push(Reserved::Date(NumericMention {
            range: whole.range(),
            raw: whole.as_str().to_string(),
            value: Value::Date(date),
            kind: Kind::Date,
            unit: None,
            approximate: false,
            resolution: 0.0,
        }));
    }
    out
}

fn month_number(name: &str) -> Option<u32> {
    let position = MONTHS
        .iter()
        .position(|m| m.starts_with(&name[..3.min(name.len())]))?;
    u32::try_from(position + 1).ok()
}

/// `None` for an impossible month or day, so "2024-13-45" is not taken for a date.
fn calendar_date(year: u32, month: Option<u32>, day: Option<u32>) -> Option<PartialDate> {
    let part = |p: Option<u32>, max: u32| -> Option<Option<u8>> {
        match p {
            None => Some(None),
            Some(v) if (1..=max).contains(&v) => u8::try_from(v).ok().map(Some),
            Some(_) => None,
        }
    };
    Some(PartialDate {
        year: i32::try_from(year).ok()?,
        month: part(month, 12)?,
        day: part(day, 31)?,
    })
}

fn citation_markers(text: &str) -> Vec<Range<usize>> {
    static MARKER: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\[\d+(?:\s*[,;–-]\s*\d+)*\]").expect("constant pattern"));
    MARKER.find_iter(text).map(|m| m.range()).collect()
}

fn preceded_by_approximation(text: &str, start: usize) -> bool {
    const WORDS: [&str; 9] = [
        "about",
        "around",
        "approximately",
        "roughly",
        "nearly",
        "almost",
        "circa",
        "some",
        "approx.",
    ];
    let before = text[..start].trim_end();
    if before.ends_with(['~', '≈']) {
        return true;
    }
    WORDS.iter().any(|w| {
        before.len() >= w.len()
            && before.is_char_boundary(before.len() - w.len())
            && before[before.len() - w.len()..].eq_ignore_ascii_case(w)
            && before[..before.len() - w.len()]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric())
    })
}

// ---------------------------------------------------------------------------------------------
// The scanner: one mention (or a year range) starting at a position

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

#[derive(Clone, Copy, PartialEq)]
enum Form {
    /// Only digits, no sign, separator or fraction: a candidate year.
    BareInteger {
        digits: usize,
    },
    Digits,
    Words,
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

struct Literal {
    value: f64,
    resolution: f64,
    form: Form,
    end: usize,
}

enum LiteralParse {
    Found(Literal),
    Skip(usize),
}

fn parse_literal(text: &str, pos: usize) -> Option<LiteralParse> {
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

fn attached_magnitude(suffix: &str, after_currency: bool) -> Option<f64> {
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

fn magnitude_word(word: &str) -> Option<f64> {
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

fn currency_prefix(text: &str, pos: usize) -> Option<(Currency, usize)> {
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

enum Trailer {
    Currency(Currency, usize),
    Unit(String, usize),
    None,
}

fn trailer(text: &str, pos: usize) -> Trailer {
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

fn unit_for(word: &str) -> Option<&'static str> {
    UNITS
        .iter()
        .find(|(alias, _)| *alias == word || (alias.len() > 3 && alias.eq_ignore_ascii_case(word)))
        .map(|(_, canonical)| *canonical)
}

fn is_vocabulary_unit(unit: &str) -> bool {
    UNITS.iter().any(|(_, canonical)| *canonical == unit)
}

/// Words that follow numbers without being their unit.
const STOPWORDS: [&str; 48] = [
    "a", "an", "and", "are", "as", "at", "be", "between", "but", "by", "for", "from", "has", "had",
    "have", "in", "into", "is", "it", "its", "of", "on", "or", "over", "per", "than", "that",
    "the", "their", "then", "there", "these", "this", "those", "to", "under", "up", "was", "were",
    "which", "while", "who", "will", "with", "would", "after", "before", "since",
];

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

/// The end of `word` at `pos` when it stands alone (ASCII case-insensitive).
fn keyword(text: &str, pos: usize, word: &str) -> Option<usize> {
    let (found, end) = word_at(text, pos)?;
    found.eq_ignore_ascii_case(word).then_some(end)
}

/// The alphabetic run starting at `pos` (`°C` counts, for temperatures).
fn word_at(text: &str, pos: usize) -> Option<(&str, usize)> {
    let rest = text.get(pos..)?;
    let len: usize = rest
        .char_indices()
        .take_while(|&(i, c)| c.is_alphabetic() || (i == 0 && c == '°'))
        .map(|(_, c)| c.len_utf8())
        .sum();
    (len > 0).then(|| (&rest[..len], pos + len))
}

fn alnum_run_end(text: &str, pos: usize) -> usize {
    pos + text[pos..]
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .map(char::len_utf8)
        .sum::<usize>()
}

fn skip_spaces(text: &str, pos: usize) -> usize {
    skip_spaces_max(text, pos, usize::MAX)
}

/// Skips horizontal spaces (and at most one line break, as in wrapped text).
fn skip_spaces_max(text: &str, pos: usize, max: usize) -> usize {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn only(text: &str) -> NumericMention {
        let mentions = extract(text);
        assert_eq!(mentions.len(), 1, "{text:?} gave {mentions:#?}");
        mentions.into_iter().next().expect("one mention")
    }

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
    fn dates_and_years_are_dates_not_quantities() {
        let date = |year, month, day| Value::Date(PartialDate { year, month, day });
        let rows = [
            ("in 2024 the", date(2024, None, None), "2024"),
            ("March 2024", date(2024, Some(3), None), "March 2024"),
            ("Sept. 2023", date(2023, Some(9), None), "Sept. 2023"),
            ("2024-03-01", date(2024, Some(3), Some(1)), "2024-03-01"),
            ("1 March 2024", date(2024, Some(3), Some(1)), "1 March 2024"),
            (
                "March 15, 2024",
                date(2024, Some(3), Some(15)),
                "March 15, 2024",
            ),
            ("on 03/01/2024", date(2024, None, None), "03/01/2024"),
            ("2024 units", date(2024, None, None), "2024"),
        ];
        for (text, value, raw) in rows {
            let m = only(text);
            assert_eq!(m.kind, Kind::Date, "{text:?}");
            assert_eq!(m.value, value, "{text:?}");
            assert_eq!(m.raw, raw, "{text:?}");
        }
        let years: Vec<Value> = extract("from 2023–24 and 2019-2020")
            .into_iter()
            .map(|m| m.value)
            .collect();
        assert_eq!(years, [2023, 2024, 2019, 2020].map(|y| date(y, None, None)));
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
    fn approximation_markers_are_recorded_without_changing_the_value() {
        for text in [
            "about 40%",
            "~40%",
            "nearly 40%",
            "roughly 40 percent",
            "≈ 40%",
        ] {
            let m = only(text);
            assert!(m.approximate, "{text:?}");
            assert_eq!(m.value, Value::Single(0.4), "{text:?}");
        }
        assert!(!only("40%").approximate);
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

    fn verdict(claim: &str, evidence: &str) -> NumericMatch {
        match_in_evidence(&only(claim), evidence)
    }

    #[test]
    fn spellings_of_one_value_support_each_other() {
        let groups: &[&[&str]] = &[
            &["1.5 million", "1,500,000", "1.5M", "1500000"],
            &["40%", "0.40", "40 percent", "forty percent"],
            &[
                "$2.3bn",
                "2.3 billion dollars",
                "USD 2,300,000,000",
                "US$2.3 billion",
            ],
            &["10–20%", "10 to 20 percent", "between 10% and 20%"],
        ];
        for group in groups {
            for claim in group.iter() {
                for evidence in group.iter() {
                    let v = verdict(claim, evidence);
                    assert!(
                        matches!(v, NumericMatch::Exact { .. }),
                        "{claim:?} vs {evidence:?}: {v:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_date_is_supported_by_an_equal_or_more_precise_date() {
        let exact =
            |claim, evidence| matches!(verdict(claim, evidence), NumericMatch::Exact { .. });
        assert!(exact("March 2024", "2024-03-01"));
        assert!(exact("2024-03-01", "March 1, 2024"));
        assert!(exact("2024", "on 15 March 2024"));
        assert!(!exact("2024-03-01", "March 2024"));
        assert!(!exact("2023", "March 2024"));
    }

    #[test]
    fn planted_mismatches_are_caught() {
        let different_value = [
            ("40%", "a share of 14% in the survey", "14%"),
            (
                "1.5 million",
                "about 15 million people",
                "15 million people",
            ),
            ("March 2024", "it launched in April 2024", "April 2024"),
            ("40%", "between 30% and 50%", "between 30% and 50%"),
        ];
        for (claim, evidence, closest) in different_value {
            match verdict(claim, evidence) {
                NumericMatch::Mismatch {
                    closest: c,
                    reason: MismatchReason::DifferentValue,
                } => assert_eq!(c.raw, closest, "{claim:?}"),
                other => panic!("{claim:?} vs {evidence:?}: {other:?}"),
            }
        }
        let incompatible = [
            ("$2.3bn", "sales of €2.3bn", "€2.3bn"),
            ("40 km", "a 40% rise", "40%"),
            ("in 2024", "2,024 units were sold", "2,024 units"),
            ("2,024 units", "founded in 2024", "2024"),
            (
                "1.5 million people",
                "1.5 million users",
                "1.5 million users",
            ),
        ];
        for (claim, evidence, closest) in incompatible {
            match verdict(claim, evidence) {
                NumericMatch::Mismatch {
                    closest: c,
                    reason: MismatchReason::IncompatibleUnit,
                } => assert_eq!(c.raw, closest, "{claim:?}"),
                other => panic!("{claim:?} vs {evidence:?}: {other:?}"),
            }
        }
        assert_eq!(verdict("40%", "no figures here"), NumericMatch::NotFound);
    }

    #[test]
    fn rounding_to_the_claims_precision_is_within_tolerance() {
        let within = [
            ("40%", "39.6%"),
            ("40%", "39.5%"),
            ("about 40%", "39.6%"),
            ("about 40%", "38.5%"),
            ("1.5 million", "1,523,000"),
            ("40%", "0.396"),
            ("$2.3bn", "$2,340,000,000"),
        ];
        for (claim, evidence) in within {
            let v = verdict(claim, evidence);
            assert!(
                matches!(v, NumericMatch::WithinTolerance { .. }),
                "{claim:?} vs {evidence:?}: {v:?}"
            );
        }
        let outside = [
            ("40%", "38.5%"),
            ("1.5 million", "1,560,000"),
            ("39.6%", "40%"),
        ];
        for (claim, evidence) in outside {
            let v = verdict(claim, evidence);
            assert!(
                matches!(v, NumericMatch::Mismatch { .. }),
                "{claim:?} vs {evidence:?}: {v:?}"
            );
        }
    }

    #[test]
    fn a_bare_claim_number_is_supported_by_a_more_specific_one_but_not_the_reverse() {
        assert!(matches!(
            verdict("1.5 million", "$1.5 million"),
            NumericMatch::Exact { .. }
        ));
        assert!(matches!(
            verdict("1.5 million", "1.5 million people"),
            NumericMatch::Exact { .. }
        ));
        assert!(!matches!(
            verdict("$1.5 million", "1.5 million"),
            NumericMatch::Exact { .. }
        ));
    }

    #[test]
    fn check_claim_verifies_only_when_every_number_is_found() {
        let evidence = ["Revenue was $2.3bn in 2024.", "Margins reached 39.6%."];
        let qa = check_claim(
            "In 2024 revenue hit $2.3bn at a 40% margin [1][2].",
            &evidence,
        );
        assert!(qa.qa_verified, "{qa:#?}");
        let indices: Vec<Option<usize>> = qa.numbers.iter().map(|n| n.evidence_index).collect();
        assert_eq!(indices, [Some(0), Some(0), Some(1)]);

        let qa = check_claim("Revenue hit $2.3bn at a 14% margin.", &evidence);
        assert!(!qa.qa_verified);
        assert!(matches!(
            qa.numbers[1].verdict,
            NumericMatch::Mismatch { .. }
        ));

        assert!(check_claim("No numbers at all.", &evidence).qa_verified);
    }

    #[test]
    fn a_figure_too_long_for_a_float_is_not_a_number() {
        for text in [
            format!("Output was {} units.", "9".repeat(400)),
            format!("Costs of ${} trillion.", "9".repeat(300)),
        ] {
            assert!(extract(&text).is_empty(), "{:?}", extract(&text));
            assert!(check_claim(&text, &[&text]).qa_verified);
        }
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
