//! The markdown "Verification Report", line for line the original's
//! `ExportService.export_provenance_markdown`.
//!
//! The original has two versions of it: the current one reads a single embedded evidence
//! per claim, the earlier one walks every citation of the normalised tables. This renders
//! the earlier loop, which our claim tables match and which prints exactly what the current
//! one prints when a claim has one primary citation.

use chrono::{DateTime, Utc};

use super::{Claim, Provenance};

/// Quotes longer than this many characters are cut and end in `...`.
const QUOTE_CHARS: usize = 200;

pub(super) fn render(provenance: &Provenance, generated_at: DateTime<Utc>) -> String {
    let mut lines: Vec<String> = vec![
        "# Verification Report".into(),
        String::new(),
        format!(
            "*Generated on {} UTC*",
            generated_at.format("%Y-%m-%d %H:%M:%S")
        ),
        String::new(),
    ];

    // The original stores no verification data for a message without claims, and then
    // prints the notice straight under the header, without a summary table.
    if provenance.claims.is_empty() {
        lines.push("*No claims found for this message.*".into());
        lines.push(String::new());
        return lines.join("\n");
    }

    let summary = provenance.summary();
    let total = summary.total_claims.max(1);
    let share = |n: u32| format!("{n} ({}%)", u64::from(n) * 100 / u64::from(total));
    lines.extend([
        "| Metric | Count |".into(),
        "|--------|-------|".into(),
        format!("| Total Claims | {} |", summary.total_claims),
        format!("| Supported | {} |", share(summary.supported_count)),
        format!("| Partial | {} |", share(summary.partial_count)),
        format!("| Unsupported | {} |", share(summary.unsupported_count)),
        format!("| Contradicted | {} |", share(summary.contradicted_count)),
        String::new(),
    ]);

    if summary.warning {
        lines.push(
            "> **Warning**: High rate of unsupported or contradicted claims detected.".into(),
        );
        lines.push(String::new());
    }

    lines.push("---".into());
    lines.push(String::new());
    lines.push("## Claims".into());
    lines.push(String::new());

    for (i, claim) in provenance.claims.iter().enumerate() {
        render_claim(&mut lines, i + 1, claim);
    }

    lines.join("\n")
}

fn render_claim(lines: &mut Vec<String>, number: usize, claim: &Claim) {
    let verdict = claim
        .verification_verdict
        .map_or_else(|| "PENDING".to_owned(), |v| v.as_str().to_uppercase());
    lines.extend([
        format!("### {number}. {verdict}"),
        String::new(),
        format!("> \"{}\"", claim.claim_text),
        String::new(),
    ]);

    if !claim.citations.is_empty() {
        lines.push("**Evidence:**".into());
        for citation in &claim.citations {
            // The original skips a citation whose span has no source metadata.
            let Some(source) = &citation.evidence_span.source else {
                continue;
            };
            let url = source.url.as_deref().unwrap_or_default();
            // Python's `title or url`: an empty title falls back too.
            let title = source
                .title
                .as_deref()
                .filter(|t| !t.is_empty())
                .unwrap_or(url);
            let primary = if citation.is_primary {
                " (Primary)"
            } else {
                ""
            };
            lines.push(format!("- [{title}]({url}){primary}"));
            let quote = &citation.evidence_span.quote_text;
            if !quote.is_empty() {
                lines.push(format!("  > \"{}\"", truncate_quote(quote)));
            }
        }
        lines.push(String::new());
    }

    lines.push("---".into());
    lines.push(String::new());
}

/// Python's `text[:200] + "..."`: cut on characters, not bytes.
fn truncate_quote(quote: &str) -> String {
    match quote.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{}...", &quote[..cut]),
        None => quote.to_owned(),
    }
}
