//! Claim numbers matched against evidence numbers: exact, within the claim's rounding or
//! approximation slack, or a mismatch and why.

use serde::{Deserialize, Serialize};

use super::vocabulary::is_vocabulary_unit;
use super::{extract, Kind, NumericMention, PartialDate, Value};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::citations::numeric::test_support::only;

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
}
