//! Logging: tracing-subscriber to stderr, text or JSON, with secrets scrubbed.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Invalid logging settings.
#[derive(Debug, thiserror::Error)]
#[error("invalid log level `{level}`: {message} (use error, warn, info, debug, trace, or a filter like `dra=debug,info`)")]
pub struct LogLevelError {
    level: String,
    message: String,
}

/// Install the global subscriber. `level` is `--log-level`/`LOG_LEVEL`; when absent,
/// `RUST_LOG` is used, else `warn`.
pub fn init(
    level: Option<&str>,
    rust_log: Option<&str>,
    format: LogFormat,
) -> Result<(), LogLevelError> {
    let spec = level.or(rust_log).unwrap_or("warn");
    // The original's LOG_LEVEL values are upper case (INFO); EnvFilter wants lower case.
    let normalized = if spec.chars().all(|c| c.is_ascii_alphabetic()) {
        spec.to_ascii_lowercase()
    } else {
        spec.to_string()
    };
    let filter = EnvFilter::try_new(&normalized).map_err(|e| LogLevelError {
        level: spec.to_string(),
        message: e.to_string(),
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(ScrubbingStderr)
        .with_target(true);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    // A second init (tests) keeps the first subscriber; not an error worth failing on.
    drop(result);
    Ok(())
}

/// Writes log lines to stderr after scrubbing secrets.
#[derive(Clone, Copy)]
struct ScrubbingStderr;

struct ScrubbingWriter(io::Stderr);

impl Write for ScrubbingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(crate::redact::scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<'a> MakeWriter<'a> for ScrubbingStderr {
    type Writer = ScrubbingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbingWriter(io::stderr())
    }
}
