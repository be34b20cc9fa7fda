//! Scrubbing of secrets from text that leaves the process (logs, error output).
//!
//! Secrets are kept in `SecretString` and never formatted on purpose; this is the second
//! line of defence for text we do not control (server error bodies, library messages).

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

const MASK: &str = "[REDACTED]";

static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // Authorization headers.
        (r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+", "${1}[REDACTED]"),
        // JSON Web Tokens (Databricks OAuth and Lakebase credentials).
        (r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*", MASK),
        // Databricks personal access tokens.
        (r"dapi[0-9a-f]{32}(-\d+)?", MASK),
        // OpenAI-style API keys (`sk-…`, `sk-proj-…`), as a question or page may quote one.
        (r"\bsk-[A-Za-z0-9_-]{16,}", MASK),
        // key=value / "key": "value" for secret-looking keys. A key right after `/` or `\`
        // is a file name in a path (`/etc/passwd: blocked`), not a key: its "value" is the
        // next word of the message.
        (
            r#"(?i)((?:^|[^/\\])(?:password|passwd|pwd|token|secret|client_secret|access_token|api_key)["']?\s*[:=]\s*["']?)[^\s"',&}]+"#,
            "${1}[REDACTED]",
        ),
        // Passwords in URLs.
        (r"(://[^:/@\s]*):[^@\s/]+@", "${1}:****@"),
    ]
    .into_iter()
    .filter_map(|(p, r)| Regex::new(p).ok().map(|re| (re, r)))
    .collect()
});

/// `text` with every recognised secret replaced.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for (re, replacement) in PATTERNS.iter() {
        if re.is_match(&out) {
            out = Cow::Owned(re.replace_all(&out, *replacement).into_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_common_secret_shapes() {
        let s = scrub("Authorization: Bearer abc.def-123 and dapi0123456789abcdef0123456789abcdef");
        assert!(!s.contains("abc.def-123") && !s.contains("dapi0123"), "{s}");
        let s = scrub(r#"{"token": "s3cr3t", "password=hunter2"}"#);
        assert!(!s.contains("s3cr3t") && !s.contains("hunter2"), "{s}");
        let s = scrub("postgres://user:pa55@host/db");
        assert_eq!(s, "postgres://user:****@host/db");
        let s = scrub("cred eyJhbGciOi.eyJzdWIiOiJ4In0.sig here");
        assert_eq!(s, "cred [REDACTED] here");
        assert_eq!(scrub("nothing secret here"), "nothing secret here");
        let s = scrub("my key sk-test-9f8e7d6c5b4a3210 leaked; a task-based skill-set stays");
        assert_eq!(s, "my key [REDACTED] leaked; a task-based skill-set stays");
        for (text, gone) in [
            ("DATABRICKS_TOKEN=dapiX1", "dapiX1"),
            ("db.password: hunter2", "hunter2"),
            ("https://h/cb?code=1&access_token=abc123", "abc123"),
            ("PWD=s3cret", "s3cret"),
        ] {
            let s = scrub(text);
            assert!(!s.contains(gone), "{text} -> {s}");
        }
    }

    #[test]
    fn messages_about_files_named_like_keys_stay_readable() {
        // The message the fetcher gives for a redirect to a local file: "passwd" there is a
        // file name, and "blocked" is not a password.
        let message = "file:///etc/passwd: blocked: scheme `file` is not http or https";
        assert_eq!(scrub(message), message);
        for readable in [
            "cannot read /run/secrets/token: permission denied",
            r"C:\creds\secret=1 is a path",
            "open ./api_key: no such file",
        ] {
            assert_eq!(scrub(readable), readable);
        }
    }
}
