//! Where a report's references section starts: the one heading finder the synthesizer
//! (which drops a list the model wrote itself), claim extraction (whose body ends there),
//! verification and the final links pass (which rebuild the list) all use.
//!
//! A line is a references heading when it is a markdown heading (`#`…`######`) or a line
//! that is wholly bold (`**…**`, `__…__`) whose text is exactly one of [`TITLES`], compared
//! case-insensitively after Unicode normalisation (NFC) and with runs of spaces collapsed.
//! Around that text it may have a section number (`5.`, `5)`, `2.1`), emphasis, a trailing
//! colon (`:` or `：`, with the space French puts before it) and ATX closing `#`s. Nothing
//! else: "## Sources of error" is a body section, not a references list. Lines inside fenced
//! code blocks are never headings.

use std::sync::LazyLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

/// The section titles of a references list, lower-case and NFC, in the languages a report
/// is most often written in. A title that commonly names a body section too ("Literature"
/// in English, a literature review) is left out of that language.
pub const TITLES: &[&str] = &[
    // English
    "references",
    "reference list",
    "sources",
    "sources cited",
    "source list",
    "bibliography",
    "works cited",
    "citations",
    // German
    "quellen",
    "quellenangaben",
    "quellenverzeichnis",
    "literatur",
    "literaturverzeichnis",
    "referenzen",
    "einzelnachweise",
    // French
    "références",
    "bibliographie",
    "références bibliographiques",
    // Spanish
    "referencias",
    "fuentes",
    "bibliografía",
    "referencias bibliográficas",
    // Portuguese
    "referências",
    "fontes",
    "bibliografia",
    "referências bibliográficas",
    // Italian
    "riferimenti",
    "fonti",
    "riferimenti bibliografici",
    // Dutch
    "bronnen",
    "referenties",
    "literatuur",
    "literatuurlijst",
    "bronvermelding",
    // Scandinavian
    "källor",
    "referenser",
    "kilder",
    "referencer",
    "referanser",
    "litteratur",
    "litteraturliste",
    // Polish, Czech
    "źródła",
    "przypisy",
    "literatura",
    "zdroje",
    "reference",
    // Turkish
    "kaynaklar",
    "kaynakça",
    // Russian, Ukrainian
    "литература",
    "список литературы",
    "источники",
    "библиография",
    "ссылки",
    "джерела",
    "література",
    "список джерел",
    // Greek
    "βιβλιογραφία",
    "πηγές",
    "αναφορές",
    // Chinese (simplified and traditional), Japanese
    "参考文献",
    "參考文獻",
    "参考资料",
    "參考資料",
    "参考来源",
    "參考來源",
    "资料来源",
    "資料來源",
    "来源",
    "來源",
    "出典",
    "引用文献",
    "参考資料",
    // Korean
    "참고 문헌",
    "참고문헌",
    "출처",
    "참고 자료",
    // Arabic, Persian, Hebrew
    "المراجع",
    "المصادر",
    "مراجع",
    "مصادر",
    "المصادر والمراجع",
    "منابع",
    "מקורות",
    "הפניות",
    "ביבליוגרפיה",
    // Hindi
    "संदर्भ",
    "स्रोत",
    "संदर्भ सूची",
    // Indonesian, Malay, Vietnamese
    "referensi",
    "daftar pustaka",
    "sumber",
    "rujukan",
    "tài liệu tham khảo",
    "nguồn",
];

/// Byte offset of the line of the last references heading of `markdown`, or its length
/// when it has none: everything from there on is the references section.
pub fn section_start(markdown: &str) -> usize {
    let mut offset = 0;
    let mut found = None;
    let mut fence: Option<&str> = None;
    for line in markdown.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_start();
        if let Some(open) = fence {
            if trimmed.starts_with(open) {
                fence = None;
            }
            continue;
        }
        if let Some(open) = ["```", "~~~"].into_iter().find(|f| trimmed.starts_with(f)) {
            fence = Some(open);
            continue;
        }
        if is_heading(line) {
            found = Some(start);
        }
    }
    found.unwrap_or(markdown.len())
}

/// `markdown` up to its references section (all of it when it has none).
pub fn body(markdown: &str) -> &str {
    markdown.get(..section_start(markdown)).unwrap_or(markdown)
}

/// Whether `line` is a references heading (see the module documentation).
pub fn is_heading(line: &str) -> bool {
    title_of(line).is_some_and(|title| {
        let normal: String = title.nfc().collect::<String>().to_lowercase();
        let words = normal.split_whitespace().collect::<Vec<_>>().join(" ");
        TITLES.contains(&words.as_str())
    })
}

/// The text of a heading line, or of a wholly bold line, without its markup.
fn title_of(line: &str) -> Option<&str> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let line = line.trim();
    let title = if let Some(rest) = line.strip_prefix('#') {
        let rest = rest.trim_start_matches('#');
        if line.len() - rest.len() > 6 {
            return None;
        }
        // An ATX heading may close with `#`s.
        rest.trim().trim_end_matches('#')
    } else {
        let inner = without_colon(line);
        ["**", "__"]
            .into_iter()
            .find_map(|m| inner.strip_prefix(m)?.strip_suffix(m))?
    };
    let title = without_colon(unemphasised(title));
    let title = NUMBERING.find(title).map_or(title, |m| &title[m.end()..]);
    let title = without_colon(unemphasised(title));
    (!title.is_empty()).then_some(title)
}

/// A section number before a title: `5.`, `5)`, `2.1`, `2.1.`.
static NUMBERING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d+(?:\.\d+)*[.)]?\s+").expect("constant pattern"));

fn without_colon(text: &str) -> &str {
    text.trim().trim_end_matches([':', '：']).trim_end()
}

/// `text` without emphasis markers around it (`**x**`, `*x*`, `__x__`, `_x_`).
fn unemphasised(text: &str) -> &str {
    let mut t = text.trim();
    for m in ["**", "__", "*", "_"] {
        if let Some(inner) = t.strip_prefix(m).and_then(|r| r.strip_suffix(m)) {
            t = inner.trim();
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_headings_in_many_languages_and_forms_are_found() {
        for line in [
            "## References",
            "# Sources",
            "### bibliography ###",
            "## 5. References",
            "## 5) References:",
            "**References**",
            "**References:**",
            "**References**:",
            "__Sources__",
            "## **Works  Cited**",
            "  ## Quellen\r\n",
            "## 参考文献",
            "## 参考文献：",
            "## Références :",
            "## Re\u{301}fe\u{301}rences",
            "## Referencias",
            "## Bibliografía",
            "## Fuentes",
            "## Литература",
            "## СПИСОК ЛИТЕРАТУРЫ",
            "## المراجع",
            "## 참고 문헌",
            "## ΠΗΓΈΣ",
        ] {
            assert!(is_heading(line), "{line:?}");
        }
    }

    #[test]
    fn only_a_heading_that_is_exactly_the_title_counts() {
        for line in [
            "## Sources of error",
            "## Sources of uncertainty",
            "## References and further reading",
            "## Referencias cruzadas",
            "References",
            "On sources of error [2].",
            "- Sources",
            "    ## References",
            "####### References",
            "**Sources** say otherwise.",
            "## 参考文献の読み方",
        ] {
            assert!(!is_heading(line), "{line:?}");
        }
    }

    #[test]
    fn the_section_starts_at_the_last_heading_outside_code() {
        let text = "Body [1].\n\n## Sources of error\n\nNoise [2].\n\n## Sources\n- x\n\n## 参考文献\n1. y\n";
        assert_eq!(&text[section_start(text)..], "## 参考文献\n1. y\n");
        let fenced = "Body.\n\n```\n## References\n```\n";
        assert_eq!(section_start(fenced), fenced.len());
        assert_eq!(section_start(""), 0);
    }
}
