//! The citation rule applied to every form a link can take in a report's markdown: a
//! link is either a source the run fetched, written as its `[n]` marker, or it goes.
//!
//! Forms handled, outside code spans and code blocks (raw HTML counts as prose):
//! - `[n]` markers (`[3]`, `[2, 7]`, `[1-3]`, `[1; 2]`): numbers of registered sources stay,
//!   others are removed;
//! - inline `[text](url)` and reference-style `[text][ref]`, `[ref][]`, `[ref]` links with
//!   their `[ref]: url` definitions (the definitions are always removed): the text stays,
//!   followed by `[n]` when the URL was fetched;
//! - links whose text is itself a marker or a URL (`[3](url)`, `[url](url)`), autolinks
//!   `<url>`, bracketed URLs `[url]` and bare `http(s)://…` URLs: the whole link becomes `[n]`
//!   when the URL was fetched, else it is removed with any brackets it leaves empty.
//!
//! URLs are matched by the registry's key (normalised, `www.` and a trailing slash ignored,
//! the requested, final and canonical URL of a page all count). Removing a link takes the
//! space before it when punctuation or a space follows, so no "word ." is left behind.
//! Markdown is parsed with pulldown-cmark (offsets into the source), bare URLs found with
//! linkify; every edit is a byte range those give, so multi-byte text is never split.

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::LazyLock;

use linkify::{LinkFinder, LinkKind};
use pulldown_cmark::{BrokenLink, CowStr, Event, LinkType, Options, Parser, Tag, TagEnd};
use regex::Regex;

use super::references;
use crate::citations::sources::{CitationAudit, SourceRegistry};
use crate::web::parse_http_url;

/// A report after the final links pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finalized {
    /// The body with every link resolved, then a `## References` list of exactly the
    /// sources the body cites (none when it cites none).
    pub markdown: String,
    /// The numbers the body cites, ascending.
    pub cited: BTreeSet<u32>,
    /// What the pass changed.
    pub audit: CitationAudit,
}

/// The final pass over a finished report: any references section it has is dropped, every
/// link of the body resolved (see the module documentation) and the references list
/// rebuilt for the sources the body then cites.
pub fn finalize(report: &str, registry: &SourceRegistry) -> Finalized {
    let body = references::body(report);
    let resolved = resolve_body(body.trim_end(), registry);
    let body = resolved.text.trim_end();
    let markdown = if resolved.cited.is_empty() {
        format!("{body}\n")
    } else {
        format!("{body}\n\n{}", registry.references(&resolved.cited))
    };
    Finalized {
        markdown,
        cited: resolved.cited,
        audit: resolved.audit,
    }
}

/// Every link of `markdown` resolved against `registry` (see the module documentation);
/// the text is otherwise left as it was.
pub fn resolve(markdown: &str, registry: &SourceRegistry) -> (String, CitationAudit) {
    let resolved = resolve_body(markdown, registry);
    (resolved.text, resolved.audit)
}

/// `[3]`, `[3, 5]`, `[3-5]`, `[3; 7]`.
pub(crate) static MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[(\d+(?:\s*[,;–-]\s*\d+)*)\]").expect("constant pattern"));

/// Numbers of a marker body; `3-5` expands to 3, 4, 5 (at most 50 to stay sane).
pub(crate) fn marker_numbers(body: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in body.split([',', ';']) {
        let part = part.trim();
        match part.split_once(['-', '–']) {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
                    if a <= b && b - a <= 50 {
                        out.extend(a..=b);
                    }
                }
            }
            None => out.extend(part.parse::<u32>().ok()),
        }
    }
    out
}

struct Resolved {
    text: String,
    cited: BTreeSet<u32>,
    audit: CitationAudit,
}

/// What a citation names before it is looked up.
#[derive(Debug, Clone)]
enum Target {
    Numbers(Vec<u32>),
    Url(String),
    /// A link to something that is not a web page (`#anchor`, `mailto:`, a relative path).
    Nothing,
}

/// A piece of the source that is a citation and nothing else: it is replaced whole by the
/// markers of what it names, or removed.
#[derive(Debug, Clone)]
struct Item {
    range: Range<usize>,
    target: Target,
}

/// A fixed replacement of a byte range.
#[derive(Debug, Clone)]
struct Edit {
    range: Range<usize>,
    with: String,
}

/// An open link or image while its events stream by.
struct Frame {
    range: Range<usize>,
    link_type: LinkType,
    dest: String,
    /// The span of its content (text, emphasis, nested links), if any.
    inner: Option<Range<usize>>,
    /// How many prose ranges had been collected when it opened: its own start there.
    prose_at_open: usize,
}

fn resolve_body(markdown: &str, registry: &SourceRegistry) -> Resolved {
    let scan = scan(markdown);
    let mut audit = CitationAudit::default();
    let mut cited = BTreeSet::new();
    let mut look_up = |target: &Target, audit: &mut CitationAudit| -> Vec<u32> {
        let found: Vec<u32> = match target {
            Target::Numbers(numbers) => numbers
                .iter()
                .copied()
                .filter(|n| {
                    let known = registry.get(*n).is_some();
                    if known {
                        audit.kept += 1;
                    } else {
                        audit.dropped += 1;
                    }
                    known
                })
                .collect(),
            Target::Url(url) => match registry.number_of(url) {
                Some(n) => {
                    audit.repointed += 1;
                    vec![n]
                }
                None => {
                    audit.dropped += 1;
                    Vec::new()
                }
            },
            Target::Nothing => {
                audit.dropped += 1;
                Vec::new()
            }
        };
        cited.extend(found.iter().copied());
        found
    };

    let mut edits = scan.fixed;
    for (close, target) in scan.link_ends {
        let numbers = look_up(&target, &mut audit);
        edits.push(Edit {
            range: close,
            with: numbers.iter().map(|n| format!(" [{n}]")).collect(),
        });
    }
    for group in groups(markdown, scan.items) {
        let mut numbers: Vec<u32> = Vec::new();
        for item in &group.items {
            for n in look_up(&item.target, &mut audit) {
                if !numbers.contains(&n) {
                    numbers.push(n);
                }
            }
        }
        let range = enclosing_brackets(markdown, group.range);
        let with: String = numbers.iter().map(|n| format!("[{n}]")).collect();
        let range = if with.is_empty() {
            removal(markdown, range)
        } else {
            range
        };
        edits.push(Edit { range, with });
    }
    Resolved {
        text: apply(markdown, edits),
        cited,
        audit,
    }
}

/// What the markdown's structure says: fixed edits (link brackets, definitions), the ends
/// of text links with what they point at, and the citation items.
struct Scan {
    fixed: Vec<Edit>,
    link_ends: Vec<(Range<usize>, Target)>,
    items: Vec<Item>,
}

fn scan(markdown: &str) -> Scan {
    // `[http://…]` names no definition; reading it as a link to itself lets the parser
    // give its exact span, brackets included.
    let bracketed_url = |link: BrokenLink<'_>| {
        let reference = link.reference.trim();
        is_http_url(reference).then(|| {
            (
                CowStr::from(reference.to_string()),
                CowStr::from(String::new()),
            )
        })
    };
    let parser = Parser::new_with_broken_link_callback(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
        Some(bracketed_url),
    );
    let mut events = parser.into_offset_iter();
    let mut out = Scan {
        fixed: Vec::new(),
        link_ends: Vec::new(),
        items: Vec::new(),
    };
    let mut prose: Vec<Range<usize>> = Vec::new();
    let mut frames: Vec<Frame> = Vec::new();
    let mut in_code_block = 0usize;
    for (event, range) in &mut events {
        if let Some(top) = frames.last_mut() {
            let opens_or_closes_top = range == top.range;
            if !opens_or_closes_top {
                top.inner = Some(match top.inner.take() {
                    Some(inner) => inner.start.min(range.start)..inner.end.max(range.end),
                    None => range.clone(),
                });
            }
        }
        match event {
            Event::Start(Tag::CodeBlock(_)) => in_code_block += 1,
            Event::End(TagEnd::CodeBlock) => in_code_block = in_code_block.saturating_sub(1),
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                ..
            })
            | Event::Start(Tag::Image {
                link_type,
                dest_url,
                ..
            }) => frames.push(Frame {
                range,
                link_type,
                dest: dest_url.to_string(),
                inner: None,
                prose_at_open: prose.len(),
            }),
            Event::End(TagEnd::Link) | Event::End(TagEnd::Image) => {
                if let Some(frame) = frames.pop() {
                    close_link(markdown, frame, &mut prose, &mut out);
                }
            }
            // Raw HTML is shown as text by the UI's escape-first renderer: a URL in it is
            // as visible as one in prose.
            Event::Text(_) | Event::Html(_) | Event::InlineHtml(_) if in_code_block == 0 => {
                // The parser splits text at brackets and entities; a marker or URL can
                // straddle those splits, so contiguous pieces are scanned as one (but a
                // link's text is never joined to what came before the link).
                let floor = frames.last().map_or(0, |f| f.prose_at_open);
                let may_join = prose.len() > floor;
                match prose.last_mut() {
                    Some(last) if may_join && last.end == range.start => last.end = range.end,
                    _ => prose.push(range),
                }
            }
            _ => {}
        }
    }
    for (_, def) in events.reference_definitions().iter() {
        out.fixed.push(Edit {
            range: whole_lines(markdown, def.span.clone()),
            with: String::new(),
        });
    }
    for range in prose {
        out.items.extend(prose_items(markdown, range));
    }
    out
}

/// Decides what a finished link is: a citation replaced whole, or text kept with its
/// brackets and destination replaced by the marker of what it points at.
fn close_link(markdown: &str, frame: Frame, prose: &mut Vec<Range<usize>>, out: &mut Scan) {
    if frame.link_type == LinkType::Email {
        return;
    }
    let inner_text = frame
        .inner
        .as_ref()
        .and_then(|r| markdown.get(r.clone()))
        .map(str::trim)
        .unwrap_or_default();
    let dest = frame.dest.trim();
    // A link to a tool's passage (`file://…`, `vector-search://…`) resolves like a web URL.
    let url = (is_http_url(dest) || is_source_uri(dest)).then(|| Target::Url(dest.to_string()));
    let marker = MARKER
        .captures(inner_text)
        .filter(|c| c.get(0).is_some_and(|m| m.as_str() == inner_text))
        .map(|c| Target::Numbers(marker_numbers(&c[1])));
    let bare_marker = inner_text
        .split([',', ';', '-', '–'])
        .all(|p| !p.trim().is_empty() && p.trim().chars().all(|c| c.is_ascii_digit()))
        .then(|| Target::Numbers(marker_numbers(inner_text)));
    let is_citation = frame.link_type == LinkType::Autolink
        || inner_text.is_empty()
        || is_http_url(inner_text)
        || marker.is_some()
        || bare_marker.is_some();
    if is_citation {
        // Its text was the citation itself: not prose to keep.
        prose.truncate(frame.prose_at_open);
        let target = url.or(marker).or(bare_marker).unwrap_or(Target::Nothing);
        out.items.push(Item {
            range: frame.range,
            target,
        });
        return;
    }
    let Some(inner) = frame.inner else {
        return;
    };
    out.fixed.push(Edit {
        range: frame.range.start..inner.start,
        with: String::new(),
    });
    out.link_ends
        .push((inner.end..frame.range.end, url.unwrap_or(Target::Nothing)));
}

/// The markers and bare URLs of a stretch of prose.
fn prose_items(markdown: &str, range: Range<usize>) -> Vec<Item> {
    static FINDER: LazyLock<LinkFinder> = LazyLock::new(|| {
        let mut finder = LinkFinder::new();
        finder.kinds(&[LinkKind::Url]);
        finder
    });
    let Some(text) = markdown.get(range.clone()) else {
        return Vec::new();
    };
    let at = |r: Range<usize>| range.start + r.start..range.start + r.end;
    // URLs first: a `[1]` inside a URL is part of the URL.
    // linkify leaves ASCII trailing punctuation out of a URL, not "。" or "»".
    let mut items: Vec<Item> = FINDER
        .links(text)
        .filter_map(|link| {
            // linkify ends a URL at ASCII whitespace only; U+2000 and its kin end it too.
            let raw = link.as_str();
            let raw = raw.find(char::is_whitespace).map_or(raw, |cut| &raw[..cut]);
            let url = raw.trim_end_matches(|c| CLOSING_PUNCTUATION.contains(c));
            is_http_url(url).then(|| Item {
                range: at(link.start()..link.start() + url.len()),
                target: Target::Url(url.to_string()),
            })
        })
        .collect();
    for c in MARKER.captures_iter(text) {
        let Some(whole) = c.get(0) else { continue };
        let r = at(whole.range());
        if items
            .iter()
            .any(|i| i.range.start < r.end && r.start < i.range.end)
        {
            continue;
        }
        items.push(Item {
            range: r,
            target: Target::Numbers(marker_numbers(&c[1])),
        });
    }
    items
}

/// Citation items next to each other, separated only by spaces, commas or semicolons:
/// one citation in the output (`[1], [2]` → `[1][2]`).
struct Group {
    range: Range<usize>,
    items: Vec<Item>,
}

fn groups(markdown: &str, mut items: Vec<Item>) -> Vec<Group> {
    items.sort_by_key(|i| i.range.start);
    let mut out: Vec<Group> = Vec::new();
    for item in items {
        if let Some(last) = out.last_mut() {
            let joined = last.range.end <= item.range.start
                && markdown
                    .get(last.range.end..item.range.start)
                    .is_some_and(|between| between.chars().all(is_separator));
            if joined {
                last.range.end = item.range.end;
                last.items.push(item);
                continue;
            }
        }
        out.push(Group {
            range: item.range.clone(),
            items: vec![item],
        });
    }
    out
}

fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | ',' | ';')
}

/// `range` widened to the brackets around it when nothing but separators is between:
/// `(https://x)` and `[https://x, https://y]` are citations as a whole.
fn enclosing_brackets(markdown: &str, range: Range<usize>) -> Range<usize> {
    let before = &markdown[..range.start];
    let after = &markdown[range.end..];
    let left = before.trim_end_matches(is_separator);
    let right = after.trim_start_matches(is_separator);
    let pair = matches!(
        (left.chars().next_back(), right.chars().next()),
        (Some('('), Some(')')) | (Some('['), Some(']'))
    );
    if !pair {
        return range;
    }
    // One byte each: `(`, `)`, `[` and `]` are ASCII.
    (left.len() - 1)..(markdown.len() - right.len() + 1)
}

/// The range to delete for a removed citation: with the spaces before it when the next
/// character is a space, punctuation or the line's end ("2027 [x]." → "2027."), else with
/// the spaces after it at a line's start ("[x] Plants" → "Plants").
fn removal(markdown: &str, range: Range<usize>) -> Range<usize> {
    let before = &markdown[..range.start];
    let after = &markdown[range.end..];
    let spaces_before = before.len() - before.trim_end_matches([' ', '\t']).len();
    let next = after.chars().next();
    let ends_phrase = next.is_none_or(|c| c.is_whitespace() || CLOSING_PUNCTUATION.contains(c));
    if spaces_before > 0 && ends_phrase {
        return (range.start - spaces_before)..range.end;
    }
    let line_start = before.is_empty() || before.ends_with('\n');
    if line_start {
        let spaces_after = after.len() - after.trim_start_matches([' ', '\t']).len();
        return range.start..(range.end + spaces_after);
    }
    range
}

/// Punctuation that ends a phrase, ASCII and CJK/typographic: a removed citation before
/// it takes its leading space along, and a bare URL does not swallow it.
const CLOSING_PUNCTUATION: &str = ".,;:!?)]。、，．！？；：）」』】〉》»”’…";

/// A definition's span grown to its whole lines, newline included.
fn whole_lines(markdown: &str, span: Range<usize>) -> Range<usize> {
    let start = markdown[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let rest = &markdown[span.end..];
    let end = match rest.find('\n') {
        Some(i) if rest[..i].trim().is_empty() => span.end + i + 1,
        _ => span.end,
    };
    start..end
}

/// The edits applied in order; one that overlaps an earlier one is skipped (the earlier,
/// wider one already covers it).
fn apply(markdown: &str, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| (e.range.start, e.range.end));
    let mut out = String::with_capacity(markdown.len());
    let mut at = 0;
    for edit in edits {
        if edit.range.start < at {
            continue;
        }
        let (Some(keep), Some(_)) = (
            markdown.get(at..edit.range.start),
            markdown.get(edit.range.clone()),
        ) else {
            continue;
        };
        out.push_str(keep);
        out.push_str(&edit.with);
        at = edit.range.end;
    }
    out.push_str(markdown.get(at..).unwrap_or_default());
    out
}

/// A URI with a scheme other than http(s), as tools name their passages.
fn is_source_uri(text: &str) -> bool {
    text.split_once("://").is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && !text.contains(char::is_whitespace)
            && scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

fn is_http_url(text: &str) -> bool {
    let scheme = text.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    !text.contains(char::is_whitespace)
        && matches!(scheme.as_deref(), Some("http" | "https"))
        && parse_http_url(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::FetchedPage;
    use url::Url;

    /// [1] a.example/x (also reached as a.example/x?utm_source=t), [2] www.b.example/post/
    /// (requested as short.example/b).
    fn registry() -> SourceRegistry {
        let r = SourceRegistry::default();
        let page = |url: &str, final_url: &str, title: &str| {
            let mut p = FetchedPage::from_text(Url::parse(url).unwrap(), Some(title.into()), "t");
            p.final_url = Url::parse(final_url).unwrap();
            p
        };
        r.register(&page(
            "https://a.example/x?utm_source=t",
            "https://a.example/x",
            "A",
        ));
        r.register(&page(
            "http://short.example/b",
            "https://www.b.example/post/",
            "B",
        ));
        r
    }

    fn run(text: &str) -> (String, CitationAudit) {
        resolve(text, &registry())
    }

    fn audit(kept: usize, repointed: usize, dropped: usize) -> CitationAudit {
        CitationAudit {
            kept,
            repointed,
            dropped,
        }
    }

    #[test]
    fn markers_of_registered_sources_stay_and_others_go() {
        assert_eq!(
            run("Cells [1]. Plants [2, 7]. Made up [9]. Both [1-3]."),
            (
                "Cells [1]. Plants [2]. Made up. Both [1][2].".into(),
                audit(4, 0, 3)
            )
        );
    }

    #[test]
    fn inline_links_keep_their_text_and_gain_the_marker_of_a_fetched_url() {
        assert_eq!(
            run("See [the B post](https://b.example/post#intro \"B\") and [a rumour](https://nowhere.example/x)."),
            ("See the B post [2] and a rumour.".into(), audit(0, 1, 1))
        );
        // Emphasis inside the text is kept; an image is a link too.
        assert_eq!(
            run("[**Bold** claim](https://a.example/x) ![chart](https://nowhere.example/c.png)"),
            ("**Bold** claim [1] chart".into(), audit(0, 1, 1))
        );
    }

    #[test]
    fn bracketed_urls_become_markers_or_vanish_with_their_brackets() {
        assert_eq!(
            run("Plants open in 2027 [http://lab.halvorsen-institute.example/articles/svc-07]. Cells hold more [https://a.example/x?utm_source=t]."),
            (
                "Plants open in 2027. Cells hold more [1].".into(),
                audit(0, 1, 1)
            )
        );
        assert_eq!(
            run("Two at once [https://nowhere.example/a, https://www.b.example/post/] here."),
            ("Two at once [2] here.".into(), audit(0, 1, 1))
        );
    }

    #[test]
    fn autolinks_and_bare_urls_become_markers_or_vanish() {
        assert_eq!(
            run("Read <https://a.example/x> and <https://nowhere.example/y>, then https://b.example/post and https://nowhere.example/z."),
            ("Read [1] and, then [2] and.".into(), audit(0, 2, 2))
        );
        assert_eq!(
            run("Growth was fast (https://nowhere.example/q). Slow (see https://a.example/x)."),
            ("Growth was fast. Slow (see [1]).".into(), audit(0, 1, 1))
        );
        // An e-mail address is not a page.
        assert_eq!(
            run("Write to <desk@paper.example>."),
            ("Write to <desk@paper.example>.".into(), audit(0, 0, 0))
        );
    }

    #[test]
    fn links_whose_text_is_a_marker_or_a_url_are_citations_as_a_whole() {
        assert_eq!(
            run("Up 3% [1](https://www.b.example/post/). Down [4](https://nowhere.example/). See [https://a.example/x](https://a.example/x)."),
            ("Up 3% [2]. Down. See [1].".into(), audit(0, 2, 1))
        );
    }

    #[test]
    fn reference_style_links_resolve_through_their_definitions_which_go() {
        let text = "A claim [one][a]. Another [b]. Shortcut [1] of a definition. A number [2].\n\n[a]: https://a.example/x\n[b]: https://nowhere.example/b \"t\"\n[1]: https://nowhere.example/one\n";
        assert_eq!(
            run(text),
            (
                "A claim one [1]. Another b. Shortcut of a definition. A number [2].\n\n".into(),
                audit(1, 1, 2)
            )
        );
    }

    #[test]
    fn links_to_a_registered_passage_uri_become_its_marker_and_others_go() {
        let r = registry();
        let n = r.register_passage(&crate::tools::Passage {
            uri: "file:///srv/docs/guide.md#chars=0-120".into(),
            title: Some("guide.md".into()),
            text: "The guide.".into(),
            kind: crate::tools::SourceKind::Local,
            origin: "/srv/docs".into(),
            score: None,
        });
        assert_eq!(n, 3);
        let (text, audit) = resolve(
            "See [the guide](file:///srv/docs/guide.md#chars=0-120) and [notes](file:///etc/passwd).",
            &r,
        );
        assert_eq!(text, "See the guide [3] and notes.");
        assert_eq!(audit.repointed, 1);
        assert_eq!(audit.dropped, 1);
    }

    #[test]
    fn code_is_left_alone_and_raw_html_is_prose() {
        let text = "Fetch `https://nowhere.example/api[9]` like this [9]:\n\n```\ncurl https://nowhere.example/x [9]\n```\n";
        assert_eq!(
            run(text),
            (
                "Fetch `https://nowhere.example/api[9]` like this:\n\n```\ncurl https://nowhere.example/x [9]\n```\n".into(),
                audit(0, 0, 1)
            )
        );
        assert_eq!(
            run("Per <a href=\"https://nowhere.example/h\">the agency</a>.\n"),
            ("Per <a href=\"\">the agency</a>.\n".into(), audit(0, 0, 1))
        );
    }

    #[test]
    fn multi_byte_neighbours_are_never_split() {
        assert_eq!(
            run("Zellen → 212 Wh/kg [http://x.example/é]→ weiter [1]→ 東京 https://nowhere.example/東京。 🚀<https://a.example/x>🚀 «[2]»"),
            (
                "Zellen → 212 Wh/kg → weiter [1]→ 東京。 🚀[1]🚀 «[2]»".into(),
                audit(2, 1, 2)
            )
        );
        assert_eq!(
            run("[9] Nur ein Marker am Zeilenanfang — ünïcödé [9]"),
            (
                "Nur ein Marker am Zeilenanfang — ünïcödé".into(),
                audit(0, 0, 2)
            )
        );
    }

    #[test]
    fn finalize_rebuilds_references_for_exactly_the_cited_sources() {
        let report = "# T\n\nA [2]. B [https://a.example/x]. C [7].\n\n## References\n\n1. [Made up](https://nowhere.example/)\n7. [Also made up](https://nowhere.example/7)\n";
        let done = finalize(report, &registry());
        assert_eq!(
            done.markdown,
            "# T\n\nA [2]. B [1]. C.\n\n## References\n\n1. [A](https://a.example/x)\n2. [B](https://www.b.example/post/)\n"
        );
        assert_eq!(done.cited, BTreeSet::from([1, 2]));
        assert_eq!(done.audit, audit(1, 1, 1));
        // Idempotent: a finished report passes through unchanged.
        let again = finalize(&done.markdown, &registry());
        assert_eq!(again.markdown, done.markdown);
        assert_eq!(again.audit, audit(2, 0, 0));
        // Nothing cited: no References heading at all; a section named otherwise is body.
        let none = finalize(
            "## Sources of error\n\nMade up [9].\n\n## Sources\n\n- x\n",
            &registry(),
        );
        assert_eq!(none.markdown, "## Sources of error\n\nMade up.\n");
        assert!(none.cited.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn any_text_resolves_without_panic_and_leaves_no_unfetched_url(
            text in "(\\PC|\\[|\\]|\\(|\\)|<|>|[ (\\[<]https://nowhere\\.example/[a-zé東]{1,3}|\\[[0-9]\\]| |\n){0,40}"
        ) {
            let (out, _) = run(&text);
            let done = finalize(&out, &registry());
            // Code (backticks, tildes, an indented block) keeps what it says.
            let has_code = text.contains('`') || text.contains('~') || text.contains("    ");
            proptest::prop_assert!(has_code || !done.markdown.contains("nowhere.example"), "{done:?}");
        }
    }
}
