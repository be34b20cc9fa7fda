//! Reading local folders: a recursive walk that skips hidden entries and symlink loops, and
//! each supported file turned into text (markdown and plain text as written, HTML through
//! the web extractor, PDF through the PDF reader). Blocking: run it off the async workers.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use url::Url;

use super::LocalDocsError;

/// One file's text, ready to be split into passages.
#[derive(Debug, Clone)]
pub(super) struct Document {
    /// `file://` and the file's canonical path, percent-encoded: passages' URIs add a
    /// `#char=` fragment.
    pub url: Url,
    /// The folder it was found under, as configured: the passages' origin.
    pub folder: String,
    /// The first markdown heading, the HTML title, or the file name.
    pub title: String,
    /// The extracted text, which passage offsets count into.
    pub text: String,
}

/// A file or folder that was left out, and why (already logged as a warning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// Everything read from the configured folders.
#[derive(Debug, Default)]
pub(super) struct Loaded {
    pub documents: Vec<Document>,
    pub skipped: Vec<Skipped>,
}

/// The kinds of file read, by extension (lowercased).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Markdown,
    Text,
    Html,
    Pdf,
}

impl Format {
    fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "md" | "markdown" => Some(Format::Markdown),
            "txt" | "text" | "rst" => Some(Format::Text),
            "html" | "htm" => Some(Format::Html),
            "pdf" => Some(Format::Pdf),
            _ => None,
        }
    }
}

/// Read every supported file under `folders` (recursively, in name order). A folder that
/// is missing or not a folder is an error naming it; anything wrong below it is skipped.
pub(super) fn load_folders(
    folders: &[PathBuf],
    max_file_bytes: u64,
) -> Result<Loaded, LocalDocsError> {
    let mut loaded = Loaded::default();
    // Shared across folders, so two configured folders that overlap are read once.
    let mut visited = HashSet::new();
    let mut seen_files = HashSet::new();
    for folder in folders {
        let root = fs::canonicalize(folder)
            .ok()
            .filter(|p| p.is_dir())
            .ok_or_else(|| LocalDocsError::NotAFolder {
                path: folder.clone(),
            })?;
        let origin = folder.display().to_string();
        let mut files = Vec::new();
        walk(&root, &mut visited, &mut files, &mut loaded.skipped);
        tracing::info!(folder = %origin, files = files.len(), "reading local documents");
        for file in files {
            if !seen_files.insert(file.clone()) {
                continue;
            }
            let Ok(url) = Url::from_file_path(&file) else {
                skip(
                    &mut loaded.skipped,
                    file,
                    "the path cannot be a file URL".into(),
                );
                continue;
            };
            match read_file(&file, max_file_bytes) {
                Ok(Some((title, text))) => loaded.documents.push(Document {
                    url,
                    folder: origin.clone(),
                    title,
                    text,
                }),
                Ok(None) => {}
                Err(reason) => skip(&mut loaded.skipped, file, reason),
            }
        }
    }
    Ok(loaded)
}

/// Collect the supported files under `dir` (canonical), depth first in name order.
fn walk(
    dir: &Path,
    visited: &mut HashSet<PathBuf>,
    files: &mut Vec<PathBuf>,
    skipped: &mut Vec<Skipped>,
) {
    if !visited.insert(dir.to_path_buf()) {
        // A symlink back into a folder already walked: following it would never end.
        skip(
            skipped,
            dir.to_path_buf(),
            "a folder reached twice (a symlink loop or overlapping folders)".into(),
        );
        return;
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            return skip(
                skipped,
                dir.to_path_buf(),
                format!("unreadable folder: {e}"),
            )
        }
    };
    let mut names: Vec<PathBuf> = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => {
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                if !hidden {
                    names.push(entry.path());
                }
            }
            Err(e) => skip(skipped, dir.to_path_buf(), format!("unreadable entry: {e}")),
        }
    }
    names.sort();
    for path in names {
        // `metadata` follows symlinks: a link to a file or folder counts as what it names.
        let meta = match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) => {
                skip(skipped, path, format!("unreadable: {e}"));
                continue;
            }
        };
        if meta.is_dir() {
            match fs::canonicalize(&path) {
                Ok(real) => walk(&real, visited, files, skipped),
                Err(e) => skip(skipped, path, format!("unreadable folder: {e}")),
            }
        } else if meta.is_file() && Format::of(&path).is_some() {
            match fs::canonicalize(&path) {
                Ok(real) => files.push(real),
                Err(e) => skip(skipped, path, format!("unreadable: {e}")),
            }
        }
    }
}

fn skip(skipped: &mut Vec<Skipped>, path: PathBuf, reason: String) {
    tracing::warn!(path = %path.display(), %reason, "skipped a local document");
    skipped.push(Skipped { path, reason });
}

/// The title and text of one file; `None` for a file with no text at all (an empty note),
/// which is not worth a warning; `Err` with the reason it was skipped.
fn read_file(path: &Path, max_file_bytes: u64) -> Result<Option<(String, String)>, String> {
    let format = Format::of(path).ok_or("not a supported file type")?;
    let size = fs::metadata(path).map_err(|e| e.to_string())?.len();
    if size > max_file_bytes {
        return Err(format!(
            "{size} bytes, over tools.local_docs.max_file_bytes ({max_file_bytes})"
        ));
    }
    let bytes = fs::read(path).map_err(|e| format!("unreadable: {e}"))?;
    // A parser that panics on one odd file must cost that file only.
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        extract(path, format, &bytes)
    }))
    .map_err(|_| "the parser failed on this file".to_string())??;
    let (title, text) = parsed;
    if text.trim().is_empty() {
        if format == Format::Pdf {
            return Err("no text in this PDF (scanned pages need OCR first)".into());
        }
        return Ok(None);
    }
    let title = title
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| file_name(path));
    Ok(Some((title, text)))
}

/// The title (if the file names one) and the text of `bytes`, read as `format`.
fn extract(path: &Path, format: Format, bytes: &[u8]) -> Result<(Option<String>, String), String> {
    match format {
        Format::Markdown => {
            let text = decode_utf8(path, bytes);
            Ok((markdown_title(&text), text))
        }
        Format::Text => Ok((None, decode_utf8(path, bytes))),
        Format::Html => {
            let html = crate::web::decode(bytes, Some("text/html")).text;
            let url = Url::from_file_path(path)
                .map_err(|()| "the path cannot be a file URL".to_string())?;
            let extracted = crate::web::extract_html(&html, &url);
            Ok((extracted.title, extracted.text))
        }
        Format::Pdf => crate::web::pdf_to_text(bytes)
            .map(|text| (None, text))
            .map_err(|e| format!("unreadable PDF: {e}")),
    }
}

/// UTF-8 text without a byte-order mark (RFC 5147 does not count one); other bytes are
/// replaced, with a warning, since guessing a legacy encoding for a note is unreliable.
fn decode_utf8(path: &Path, bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => {
            tracing::warn!(
                path = %path.display(),
                "not valid UTF-8: undecodable bytes are replaced with U+FFFD"
            );
            String::from_utf8_lossy(bytes).into_owned()
        }
    }
}

/// The text of the first ATX heading (`# Title`, any level) outside a code fence.
fn markdown_title(text: &str) -> Option<String> {
    let mut in_fence = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let hashes = trimmed.chars().take_while(|c| *c == '#').count();
        if !(1..=6).contains(&hashes) {
            continue;
        }
        let rest = trimmed.get(hashes..).unwrap_or_default();
        if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
            continue;
        }
        let title = rest.trim().trim_end_matches('#').trim();
        if !title.is_empty() {
            return Some(title.to_string());
        }
    }
    None
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_heading_outside_code_is_the_title() {
        let text = "intro\n```\n# not this\n```\n## Widget *output* ##\n# Later\n";
        assert_eq!(markdown_title(text).as_deref(), Some("Widget *output*"));
        assert_eq!(markdown_title("#hashtag\nplain"), None);
        assert_eq!(
            markdown_title("# Ünïcödé 标题"),
            Some("Ünïcödé 标题".into())
        );
    }

    #[test]
    fn invalid_utf8_is_read_lossily_and_a_bom_is_dropped() {
        let path = Path::new("/x/a.txt");
        assert_eq!(decode_utf8(path, b"\xEF\xBB\xBFhello"), "hello");
        assert_eq!(decode_utf8(path, b"caf\xE9 ok"), "caf\u{FFFD} ok");
    }

    #[test]
    fn hidden_entries_and_unsupported_files_are_left_out_and_loops_end() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("sub/deeper")).unwrap();
        fs::create_dir_all(root.join(".git")).unwrap();
        fs::write(root.join("a.md"), "# Alpha\n\nalpha text").unwrap();
        fs::write(root.join("sub/deeper/b.TXT"), "beta text").unwrap();
        fs::write(root.join(".hidden.md"), "secret").unwrap();
        fs::write(root.join(".git/c.md"), "git internals").unwrap();
        fs::write(root.join("image.png"), [0u8, 1, 2]).unwrap();
        fs::write(root.join("empty.md"), "  \n").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root, root.join("sub/loop")).unwrap();

        let loaded = load_folders(&[root.to_path_buf()], 1024).unwrap();
        let names: Vec<String> = loaded
            .documents
            .iter()
            .map(|d| file_name(&d.url.to_file_path().unwrap()))
            .collect();
        assert_eq!(names, ["a.md", "b.TXT"]);
        assert_eq!(loaded.documents[0].title, "Alpha");
        assert_eq!(loaded.documents[1].title, "b.TXT");
        assert!(loaded.documents.iter().all(|d| d.url.scheme() == "file"));
        #[cfg(unix)]
        assert_eq!(loaded.skipped.len(), 1, "{:?}", loaded.skipped);
    }

    #[test]
    fn a_large_file_or_a_broken_pdf_is_skipped_alone() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("big.txt"), "x".repeat(2000)).unwrap();
        fs::write(dir.path().join("broken.pdf"), b"%PDF-1.4\ngarbage").unwrap();
        fs::write(dir.path().join("ok.txt"), "fine").unwrap();
        let loaded = load_folders(&[dir.path().to_path_buf()], 1000).unwrap();
        assert_eq!(loaded.documents.len(), 1);
        assert_eq!(loaded.documents[0].text, "fine");
        let reasons: Vec<&str> = loaded.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons[0].contains("over tools.local_docs.max_file_bytes"));
        assert!(reasons[1].contains("PDF"), "{reasons:?}");
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_it() {
        let err = load_folders(&[PathBuf::from("/no/such/folder")], 1000).unwrap_err();
        assert!(err.to_string().contains("/no/such/folder"), "{err}");
    }

    #[test]
    fn html_gives_its_title_and_text() {
        let html = b"<html><head><title>Widget Guide</title></head><body><main><p>Widgets are made in three plants.</p></main></body></html>";
        let (title, text) = extract(Path::new("/tmp/g.html"), Format::Html, html).unwrap();
        assert_eq!(title.as_deref(), Some("Widget Guide"));
        assert!(text.contains("Widgets are made in three plants."), "{text}");
    }
}
