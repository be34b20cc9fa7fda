//! The report rewritten from its claims' treatments, its References list rebuilt for the
//! sources it still cites.

use super::context::markers;
use super::outcome::{Outcome, Treatment};
use super::{SOFTENED_SUFFIX, UNVERIFIED_MARK};
use crate::citations::claims::{self, ReportClaim};
use crate::citations::config::UnsupportedClaims;
use crate::citations::references;
use crate::citations::sources::SourceRegistry;

/// Applies each claim's treatment to its sentence, then rebuilds the References list for
/// the sources the rewritten body still cites.
pub(super) fn rewrite(
    report: &str,
    extracted: &[ReportClaim],
    outcomes: &[Outcome],
    registry: &SourceRegistry,
) -> String {
    let mut out = String::with_capacity(report.len());
    let mut at = 0;
    for (rc, outcome) in extracted.iter().zip(outcomes) {
        out.push_str(&report[at..rc.bytes.start]);
        let raw = &report[rc.bytes.clone()];
        at = rc.bytes.end;
        match &outcome.claim.treatment {
            Treatment::Kept => out.push_str(raw),
            Treatment::Recited { to, .. } => {
                out.push_str(&claims::before_stop(&rc.text, &format!(" [{to}]")))
            }
            Treatment::Disputed {
                supports,
                contradicts,
                dissent,
            } => {
                if supports.iter().all(|s| rc.cited.contains(s)) {
                    out.push_str(raw);
                } else {
                    // Re-pointed: cited to what supports it, the old source in the note.
                    out.push_str(&claims::before_stop(
                        &rc.text,
                        &format!(" {}", markers(supports)),
                    ));
                }
                out.push_str(&match dissent {
                    Some(said) => format!(
                        " (sources disagree: {} says \"{said}\")",
                        markers(&contradicts[..1])
                    ),
                    None => format!(
                        " (sources disagree: {} supports, {} contradicts)",
                        markers(supports),
                        markers(contradicts)
                    ),
                });
            }
            Treatment::Rewritten(sentence) => out.push_str(sentence),
            Treatment::Added { to } => {
                let mut cited = rc.cited.clone();
                cited.push(*to);
                out.push_str(&claims::before_stop(
                    &rc.text,
                    &format!(" {}", markers(&cited)),
                ))
            }
            Treatment::Abstained | Treatment::Unsupported(UnsupportedClaims::Mark) => {
                out.push_str(raw);
                out.push_str(UNVERIFIED_MARK);
            }
            Treatment::Unsupported(UnsupportedClaims::Soften) => {
                out.push_str(&claims::before_stop(&rc.text, SOFTENED_SUFFIX));
            }
            Treatment::Unsupported(UnsupportedClaims::Remove) => {
                // Take the space that separated it from the next sentence with it.
                if report[at..].starts_with(' ') {
                    at += 1;
                }
            }
        }
    }
    out.push_str(&report[at..]);
    let written = references::body(&out);
    let body: String = written
        .lines()
        .filter(|l| !is_bare_list_marker(l))
        .map(|l| l.trim_end().to_string() + "\n")
        .collect();
    let cited = registry.cited(&body);
    if written.len() == out.len() {
        return body;
    }
    format!("{}\n\n{}", body.trim_end(), registry.references(&cited))
}

/// A list item whose only sentence was removed.
fn is_bare_list_marker(line: &str) -> bool {
    let t = line.trim();
    matches!(t, "-" | "*" | "+")
        || t.strip_suffix(['.', ')'])
            .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_ending_in_a_multibyte_char_is_not_a_list_marker() {
        assert!(!is_bare_list_marker("Output rose from 4 to 9 →"));
        assert!(!is_bare_list_marker("→"));
        assert!(!is_bare_list_marker("1→"));
        assert!(is_bare_list_marker(" 12. "));
        assert!(is_bare_list_marker("3)"));
        assert!(is_bare_list_marker("-"));
        assert!(!is_bare_list_marker("."));
        assert!(!is_bare_list_marker("1.."));
        assert!(!is_bare_list_marker("١."));
    }

    #[test]
    fn a_marker_goes_before_the_final_stop() {
        assert_eq!(
            claims::before_stop("Sales grew.", " [2]"),
            "Sales grew [2]."
        );
        assert_eq!(claims::before_stop("Sales grew", " [2]"), "Sales grew [2]");
    }

    mod properties {
        use proptest::prelude::*;
        use url::Url;

        use super::*;
        use crate::citations::numeric::NumericQa;
        use crate::citations::provenance::{Claim, ClaimId};
        use crate::citations::verify::dispute::closest_sentence;
        use crate::citations::verify::VerifiedClaim;
        use crate::web::FetchedPage;
        use uuid::Uuid;

        /// Report material: stops of every width (the `→` line end among them), markers of
        /// fetched and unknown sources, list items, headings, and awkward characters.
        #[rustfmt::skip]
        const PIECES: &[&str] = &[
            "Widget", "output", "grew", "40%", " ", " ", " ", "  ", "\t", "\n", "\n\n", "\r\n",
            ".", ".", "!", "?", "…", "。", "→", " →\n", "→\n", "[1]", " [1]", "[2]", " [3]", "[9]",
            "[1-2]", "[E1]", "- ", "* ", "1. ", "12) ", "> ", "# ", "## References\n",
            "\n## References\n\n1. [A](https://s1.example/page)\n", "e\u{301}", "\u{301}",
            "👩‍👩‍👧‍👦", "🇫🇷", "مرحبا", "日本語の文", "\0", "\u{feff}", "\u{a0}", "\u{2028}",
        ];

        fn report() -> impl Strategy<Value = String> {
            prop::collection::vec(
                prop_oneof![
                    6 => prop::sample::select(PIECES).prop_map(str::to_string),
                    1 => any::<char>().prop_map(String::from),
                ],
                0..80,
            )
            .prop_map(|p| p.concat())
        }

        fn treatment() -> impl Strategy<Value = Treatment> {
            prop_oneof![
                Just(Treatment::Kept),
                (1u32..4).prop_map(|to| Treatment::Recited { from: vec![1], to }),
                (1u32..4).prop_map(|to| Treatment::Added { to }),
                (proptest::option::of("\\PC{0,30}")).prop_map(|dissent| Treatment::Disputed {
                    supports: vec![1],
                    contradicts: vec![2],
                    dissent,
                }),
                Just(Treatment::Unsupported(UnsupportedClaims::Remove)),
                Just(Treatment::Unsupported(UnsupportedClaims::Soften)),
                Just(Treatment::Unsupported(UnsupportedClaims::Mark)),
                "[^\n#]{0,40}".prop_map(Treatment::Rewritten),
                Just(Treatment::Abstained),
            ]
        }

        fn outcome(treatment: Treatment) -> Outcome {
            Outcome {
                claim: VerifiedClaim {
                    claim: Claim::new(ClaimId(Uuid::nil()), "", 0, 0),
                    numeric: NumericQa {
                        numbers: Vec::new(),
                        qa_verified: true,
                    },
                    treatment,
                },
                model_calls: 0,
                classified: None,
            }
        }

        fn registry() -> SourceRegistry {
            let registry = SourceRegistry::default();
            for n in 1..=2 {
                let url = Url::parse(&format!("https://s{n}.example/page")).expect("constant");
                registry.register(&FetchedPage::from_text(url, Some(format!("S{n}")), "text"));
            }
            registry
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Whatever the report and whatever happens to its claims, rewriting does not
            /// panic, a kept claim keeps its sentence and markers, and References list only
            /// fetched sources.
            #[test]
            fn rewriting_keeps_kept_claims_and_lists_only_fetched_sources(
                report in report(),
                treatments in prop::collection::vec(treatment(), 1..16),
            ) {
                let extracted = claims::extract(&report);
                let outcomes: Vec<Outcome> = treatments
                    .iter()
                    .cycle()
                    .take(extracted.len())
                    .cloned()
                    .map(outcome)
                    .collect();
                let out = rewrite(&report, &extracted, &outcomes, &registry());
                for (rc, o) in extracted.iter().zip(&outcomes) {
                    if o.claim.treatment == Treatment::Kept {
                        let raw = &report[rc.bytes.clone()];
                        prop_assert!(out.contains(raw), "{raw:?} lost from {out:?}");
                    }
                }
                let references = &out[crate::citations::references::section_start(&out)..];
                for line in references.lines().skip(1).filter(|l| !l.trim().is_empty()) {
                    prop_assert!(
                        line.ends_with("(https://s1.example/page)")
                            || line.ends_with("(https://s2.example/page)"),
                        "{line:?} in {out:?}"
                    );
                }
            }

            #[test]
            fn list_markers_and_stops_take_any_line(line in "\\PC{0,12}", insert in "\\PC{0,4}") {
                let _ = is_bare_list_marker(&line);
                let with = claims::before_stop(&line, &insert);
                prop_assert_eq!(with.chars().count(), line.chars().count() + insert.chars().count());
                let _ = closest_sentence(&line, &insert);
                let _ = crate::citations::references::section_start(&line);
            }
        }
    }
}
