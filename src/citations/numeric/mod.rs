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
//! see `UNITS` in `vocabulary.rs`. Any other word after a number (that is not a function word
//! such as `of` or `in`) is kept, lowercased, as the unit.

mod compare;
mod lex;
mod normalise;
mod patterns;
mod scanner;
mod vocabulary;

pub use compare::{
    check_claim, match_in_evidence, CheckedNumber, MismatchReason, NumericMatch, NumericQa,
    APPROXIMATE_RELATIVE_SLACK,
};
pub use scanner::extract;

use std::ops::Range;

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

#[cfg(test)]
mod test_support {
    use super::{extract, NumericMention};

    pub(super) fn only(text: &str) -> NumericMention {
        let mentions = extract(text);
        assert_eq!(mentions.len(), 1, "{text:?} gave {mentions:#?}");
        mentions.into_iter().next().expect("one mention")
    }
}
