//! The extraction corpus in `tests/fixtures/extraction/`: saved pages (`NN-name.html`)
//! with the article text a reader would call the page's content (`NN-name.txt`), and
//! word-level precision/recall scoring. Shared by the regression test and the benchmark.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One saved page and its expected article text.
pub struct Case {
    pub name: String,
    pub html: String,
    pub expected: String,
}

/// How well extracted text matches the expected article, by words (bag of words,
/// case-insensitive, punctuation ignored).
#[derive(Debug, Clone, Copy)]
pub struct Score {
    /// Share of extracted words that belong to the article.
    pub precision: f64,
    /// Share of article words that were extracted.
    pub recall: f64,
}

/// The corpus directory.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/extraction")
}

/// Every case, sorted by file name.
pub fn load() -> Vec<Case> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("read corpus dir")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".html").map(str::to_string)
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let read = |ext: &str| {
                std::fs::read_to_string(dir().join(format!("{name}.{ext}")))
                    .unwrap_or_else(|e| panic!("{name}.{ext}: {e}"))
            };
            Case {
                html: read("html"),
                expected: read("txt"),
                name,
            }
        })
        .collect()
}

/// Lowercased alphanumeric words.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Precision and recall of `extracted` against `expected`.
pub fn score(extracted: &str, expected: &str) -> Score {
    let mut want: HashMap<String, usize> = HashMap::new();
    for w in words(expected) {
        *want.entry(w).or_default() += 1;
    }
    let got = words(extracted);
    let expected_total: usize = want.values().sum();
    let mut common = 0usize;
    for w in &got {
        if let Some(n) = want.get_mut(w) {
            if *n > 0 {
                *n -= 1;
                common += 1;
            }
        }
    }
    let ratio = |num: usize, den: usize| {
        if den == 0 {
            0.0
        } else {
            num as f64 / den as f64
        }
    };
    Score {
        precision: ratio(common, got.len()),
        recall: ratio(common, expected_total),
    }
}
