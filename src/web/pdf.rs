//! PDF → text with `pdf-extract` (built on `lopdf`, pure Rust, so it builds offline and
//! needs no system libraries).

/// The text of every page of the PDF in `bytes`, or why it cannot be read.
///
/// `pdf-extract` can panic on malformed documents; `catch_unwind` turns that into an error
/// in builds that unwind. The release profile sets `panic = "abort"`, where a parser panic
/// still ends the process; inputs are size-capped before they get here.
pub fn pdf_to_text(bytes: &[u8]) -> Result<String, String> {
    let result = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem(bytes));
    match result {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the PDF parser failed on this document".into()),
    }
}

/// Whether `bytes` start like a PDF file.
pub fn looks_like_pdf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"%PDF-")
}
