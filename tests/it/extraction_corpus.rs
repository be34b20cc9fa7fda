//! Extraction regression check over the saved-page corpus: every page keeps most of its
//! article. (Quality numbers and speed are measured by `benches/extraction.rs`.)

use crate::support::corpus;
use dra::web::extract_html;

#[test]
fn every_corpus_page_keeps_its_article() {
    let cases = corpus::load();
    assert!(cases.len() >= 20, "corpus has {} pages", cases.len());
    let url = url::Url::parse("https://example.com/article").unwrap();
    let mut failures = Vec::new();
    for case in &cases {
        let got = extract_html(&case.html, &url);
        let s = corpus::score(&got.text, &case.expected);
        eprintln!(
            "{:<28} precision {:.3} recall {:.3}",
            case.name, s.precision, s.recall
        );
        if s.recall < 0.8 {
            failures.push(format!(
                "{}: recall {:.3}\n{}",
                case.name, s.recall, got.text
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
