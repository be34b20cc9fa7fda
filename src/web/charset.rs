//! Turning body bytes into text: which character encoding a page uses.
//!
//! Order of evidence, as browsers do it: a byte-order mark, the HTTP `charset` parameter,
//! a `<meta charset>` or `http-equiv` declaration in the first 1024 bytes, then valid UTF-8,
//! then `chardetng`'s statistical guess for legacy pages. Labels resolve through the WHATWG
//! Encoding Standard (`encoding_rs`), so `latin-1` and `iso-8859-1` mean windows-1252.

use std::sync::LazyLock;

use encoding_rs::Encoding;
use regex::bytes::Regex;

/// Decoded text and the encoding that was used.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The body as text; malformed sequences are U+FFFD.
    pub text: String,
    /// The encoding actually used (a byte-order mark overrides every declaration).
    pub encoding: &'static Encoding,
}

/// Decode `body`, given the `Content-Type` header value if any. Malformed sequences become
/// U+FFFD rather than an error: a page with one bad byte is still worth reading.
pub fn decode(body: &[u8], content_type: Option<&str>) -> Decoded {
    let encoding = detect(body, content_type);
    // `decode` strips a BOM and lets it override `encoding`, as the standard requires.
    let (text, used, _had_errors) = encoding.decode(body);
    Decoded {
        text: text.into_owned(),
        encoding: used,
    }
}

/// The encoding `body` is most likely in.
pub fn detect(body: &[u8], content_type: Option<&str>) -> &'static Encoding {
    if let Some((enc, _)) = Encoding::for_bom(body) {
        return enc;
    }
    if let Some(enc) = content_type.and_then(header_charset) {
        return enc;
    }
    if let Some(enc) = meta_charset(body) {
        return enc;
    }
    if std::str::from_utf8(body).is_ok() {
        return encoding_rs::UTF_8;
    }
    // We are not a browser running scripts, so neither UTF-8 (already ruled out above) nor
    // ISO-2022-JP guessing is a security concern; passing no TLD avoids its panic rules.
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(body, true);
    detector.guess(None, chardetng::Utf8Detection::Deny)
}

/// The `charset` parameter of a `Content-Type` value, if it names a known encoding.
pub fn header_charset(content_type: &str) -> Option<&'static Encoding> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        Encoding::for_label(value.as_bytes())
    })
}

/// A `<meta charset=..>` or `<meta http-equiv="Content-Type" content="..; charset=..">` in
/// the first 1024 bytes (the HTML prescan window).
fn meta_charset(body: &[u8]) -> Option<&'static Encoding> {
    // A constant pattern: `ok()` only to avoid a panic path; the tests prove it compiles.
    static META: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r#"(?i)<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)"#).ok()
    });
    let head = &body[..body.len().min(1024)];
    let caps = META.as_ref()?.captures(head)?;
    let enc = Encoding::for_label(caps.get(1)?.as_bytes())?;
    // A page that declares UTF-16 in ASCII-compatible bytes cannot be UTF-16; the standard
    // says to read it as UTF-8.
    if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
        return Some(encoding_rs::UTF_8);
    }
    Some(enc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_charset_wins_over_meta() {
        let body = b"<meta charset=utf-8><p>caf\xe9</p>";
        let d = decode(body, Some("text/html; charset=ISO-8859-1"));
        assert_eq!(d.encoding, encoding_rs::WINDOWS_1252);
        assert!(d.text.contains("café"));
    }

    #[test]
    fn meta_charset_and_http_equiv_are_read() {
        let d = decode(
            b"<html><head><meta charset=\"latin1\"></head><p>caf\xe9",
            None,
        );
        assert!(d.text.contains("café"), "{}", d.text);
        let d = decode(
            b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1252\"><p>\x93hi\x94",
            Some("text/html"),
        );
        assert!(d.text.contains("\u{201c}hi\u{201d}"), "{}", d.text);
    }

    #[test]
    fn undeclared_legacy_bytes_are_guessed_and_utf8_is_kept() {
        let d = decode("<p>naïve café</p>".as_bytes(), None);
        assert_eq!(d.encoding, encoding_rs::UTF_8);
        let d = decode(
            b"<p>Le caf\xe9 est tr\xe8s bon et la cr\xe8me br\xfbl\xe9e aussi, d\xe9j\xe0 vu.</p>",
            None,
        );
        assert!(d.text.contains("café"), "{}", d.text);
    }

    #[test]
    fn bom_overrides_everything() {
        let d = decode(
            b"\xef\xbb\xbfcaf\xc3\xa9",
            Some("text/plain; charset=latin1"),
        );
        assert_eq!(d.text, "café");
    }
}
