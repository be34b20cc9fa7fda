//! Domain allow/deny lists with the original's wildcard patterns.
//!
//! A pattern matches a host (lowercased, without a trailing dot) when it is equal to it, or:
//! `*.gov` matches `gov`'s subdomains and `gov` itself (`cdc.gov`, `www.nasa.gov`);
//! `news.*` matches `news` under any suffix (`news.com`, `news.co.uk`);
//! anything else with `*` or `?` is a shell-style glob over the whole host
//! (`*.example.*` matches `www.example.org`), `*` spanning dots as in Python's `fnmatch`.

use url::Url;

use super::{DomainFilterConfig, DomainFilterMode, SearchHit};

/// The configured filter, patterns lowercased once.
#[derive(Debug, Clone)]
pub struct DomainFilter {
    mode: DomainFilterMode,
    include: Vec<String>,
    exclude: Vec<String>,
    log_filtered: bool,
}

/// Why a URL passed or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed; by this include pattern when the include list decided.
    Allowed(Option<String>),
    /// Dropped because it matched this exclude pattern.
    Excluded(String),
    /// Dropped because the include list is in force and nothing in it matched.
    NotIncluded,
    /// Dropped because the URL has no host to judge.
    NoHost,
}

impl Decision {
    /// Whether the URL may be used.
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allowed(_))
    }
}

impl DomainFilter {
    /// A filter for `config`.
    pub fn new(config: &DomainFilterConfig) -> DomainFilter {
        let clean = |v: &[String]| {
            v.iter()
                .map(|p| p.trim().to_ascii_lowercase())
                .filter(|p| !p.is_empty())
                .collect()
        };
        DomainFilter {
            mode: config.mode,
            include: clean(&config.include_domains),
            exclude: clean(&config.exclude_domains),
            log_filtered: config.log_filtered,
        }
    }

    /// Whether any list is in force for the mode (an inactive filter passes everything).
    pub fn is_active(&self) -> bool {
        match self.mode {
            DomainFilterMode::Include => !self.include.is_empty(),
            DomainFilterMode::Exclude => !self.exclude.is_empty(),
            DomainFilterMode::Both => !self.include.is_empty() || !self.exclude.is_empty(),
        }
    }

    /// Judge one URL: excludes first (they always win), then includes.
    pub fn check(&self, url: &Url) -> Decision {
        let Some(host) = url.host_str() else {
            return Decision::NoHost;
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if matches!(
            self.mode,
            DomainFilterMode::Exclude | DomainFilterMode::Both
        ) {
            if let Some(p) = self.exclude.iter().find(|p| matches(&host, p)) {
                return Decision::Excluded(p.clone());
            }
        }
        if matches!(
            self.mode,
            DomainFilterMode::Include | DomainFilterMode::Both
        ) && !self.include.is_empty()
        {
            return match self.include.iter().find(|p| matches(&host, p)) {
                Some(p) => Decision::Allowed(Some(p.clone())),
                None => Decision::NotIncluded,
            };
        }
        Decision::Allowed(None)
    }

    /// The hits whose URL is allowed, order kept.
    pub fn apply(&self, hits: Vec<SearchHit>) -> Vec<SearchHit> {
        if !self.is_active() {
            return hits;
        }
        hits.into_iter()
            .filter(|h| {
                let decision = self.check(&h.url);
                if !decision.allowed() {
                    if self.log_filtered {
                        tracing::info!(url = %h.url, ?decision, "search result dropped by domain filter");
                    } else {
                        tracing::debug!(url = %h.url, ?decision, "search result dropped by domain filter");
                    }
                }
                decision.allowed()
            })
            .collect()
    }
}

/// Whether `host` matches `pattern` (both lowercase); see the module docs.
pub fn matches(host: &str, pattern: &str) -> bool {
    if host == pattern {
        return true;
    }
    if let Some(suffix) = pattern.strip_prefix("*.") {
        if host == suffix || host.ends_with(&format!(".{suffix}")) {
            return true;
        }
    }
    if let Some(prefix) = pattern.strip_suffix(".*") {
        if host == prefix || host.starts_with(&format!("{prefix}.")) {
            return true;
        }
    }
    glob(host.as_bytes(), pattern.as_bytes())
}

/// Shell-style `*` / `?` matching over the whole string: the classic linear-time
/// backtracking over the last `*` seen.
fn glob(text: &[u8], pattern: &[u8]) -> bool {
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                // Let the last `*` swallow one more character and retry from there.
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_originals_pattern_shapes() {
        assert!(matches("cdc.gov", "*.gov"));
        assert!(matches("www.nasa.gov", "*.gov"));
        assert!(matches("gov", "*.gov"));
        assert!(!matches("govt.nz", "*.gov"));
        assert!(!matches("notgov", "*.gov"));
        assert!(matches("news.com", "news.*"));
        assert!(matches("news.co.uk", "news.*"));
        assert!(!matches("newsweek.com", "news.*"));
        assert!(!matches("bbc.news.com", "news.*"));
        assert!(matches("www.example.org", "*.example.*"));
        assert!(matches("a.b.example.co.uk", "*.example.*"));
        assert!(!matches("example.org", "*.example.*"));
        assert!(matches("reuters.com", "reuters.com"));
        assert!(!matches("www.reuters.com", "reuters.com"));
        assert!(matches("en.wikipedia.org", "*.wikipedia.org"));
        assert!(matches("ab.com", "a?.com"));
    }
}
