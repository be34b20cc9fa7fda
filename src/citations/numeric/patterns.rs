//! Whole-text patterns found before the scanner runs: dates, citation markers, and the
//! approximation words before a number.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::{Kind, NumericMention, PartialDate, Value};

pub(super) enum Reserved {
    Date(NumericMention),
    Skip(Range<usize>),
}

impl Reserved {
    pub(super) fn range(&self) -> Range<usize> {
        match self {
            Reserved::Date(m) => m.range.clone(),
            Reserved::Skip(r) => r.clone(),
        }
    }
}

pub(super) const MONTHS: [&str; 12] = [
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

pub(super) fn date_mentions(text: &str) -> Vec<Reserved> {
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
        .position(|m| m.starts_with(name.get(..3).unwrap_or(name)))?;
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

pub(super) fn citation_markers(text: &str) -> Vec<Range<usize>> {
    static MARKER: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\[\d+(?:\s*[,;–-]\s*\d+)*\]").expect("constant pattern"));
    MARKER.find_iter(text).map(|m| m.range()).collect()
}

pub(super) fn preceded_by_approximation(text: &str, start: usize) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::citations::numeric::extract;
    use crate::citations::numeric::test_support::only;

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
}
