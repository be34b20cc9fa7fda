//! URL normalization and de-duplication of hits.
//!
//! Two URLs are the same page when their normalized forms are equal:
//! scheme and host lowercased (the `url` crate does this while parsing), a leading `www.`
//! dropped (sites serve the same page on both names far more often than not, and a
//! duplicate costs a fetch and a citation slot), default port dropped, fragment dropped,
//! trailing slash dropped (except the root), tracking parameters (`utm_*`, `fbclid`,
//! `gclid`, …) removed, remaining query parameters sorted. The scheme is kept: an `http`
//! and an `https` URL stay distinct, since they may really differ.

use std::collections::HashSet;

use url::Url;

use super::SearchHit;
use crate::web::strip_tracking;

/// The comparison key for `url`.
pub fn normalize(url: &Url) -> String {
    let mut u = url.clone();
    u.set_fragment(None);
    if let Some(host) = u.host_str() {
        let host = host.to_ascii_lowercase();
        if let Some(bare) = host.strip_prefix("www.") {
            // Only fails for hosts a URL of this scheme cannot carry; keep the original then.
            let _ = u.set_host(Some(bare));
        }
    }
    if u.port().is_some() && u.port() == default_port(u.scheme()) {
        let _ = u.set_port(None);
    }
    strip_tracking(&mut u);
    let mut pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort();
    if pairs.is_empty() {
        u.set_query(None);
    } else {
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    let path = u.path().to_string();
    if path.len() > 1 && path.ends_with('/') {
        u.set_path(path.trim_end_matches('/'));
    }
    u.to_string()
}

/// `hits` without duplicates (by [`normalize`]), keeping the best-ranked of each, in rank
/// order. Survivors lose their tracking parameters (they would end up in citations) but
/// otherwise keep the URL the provider gave.
pub fn dedup(mut hits: Vec<SearchHit>) -> Vec<SearchHit> {
    hits.sort_by_key(|h| h.rank);
    let mut seen = HashSet::new();
    hits.retain(|h| seen.insert(normalize(&h.url)));
    for hit in &mut hits {
        strip_tracking(&mut hit.url);
    }
    hits
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize(&Url::parse(s).unwrap())
    }

    #[test]
    fn equivalent_urls_normalize_alike() {
        let base = n("https://example.com/a/b");
        for same in [
            "HTTPS://Example.COM/a/b",
            "https://www.example.com/a/b",
            "https://example.com:443/a/b",
            "https://example.com/a/b/",
            "https://example.com/a/b#section",
            "https://example.com/a/b?utm_source=x&utm_medium=y",
            "https://example.com/a/b?fbclid=abc&gclid=def",
        ] {
            assert_eq!(n(same), base, "{same}");
        }
        assert_eq!(n("https://e.com/?b=2&a=1"), n("https://e.com/?a=1&b=2"));
        assert_eq!(n("https://e.com/"), "https://e.com/");
    }

    #[test]
    fn tracking_parameters_are_stripped_and_others_kept() {
        let mut u = Url::parse("https://e.com/a?utm_source=x&id=3&fbclid=y&b=1#top").unwrap();
        strip_tracking(&mut u);
        assert_eq!(u.as_str(), "https://e.com/a?id=3&b=1#top");
        let mut u = Url::parse("https://e.com/a?utm_source=x").unwrap();
        strip_tracking(&mut u);
        assert_eq!(u.as_str(), "https://e.com/a");
    }

    #[test]
    fn different_pages_stay_different() {
        assert_ne!(n("https://e.com/a"), n("https://e.com/b"));
        assert_ne!(n("https://e.com/a?id=1"), n("https://e.com/a?id=2"));
        assert_ne!(n("http://e.com/a"), n("https://e.com/a"));
        assert_ne!(n("https://e.com:8443/a"), n("https://e.com/a"));
        assert_ne!(n("https://news.e.com/a"), n("https://e.com/a"));
    }
}
