//! URL normalization: two spellings of the same page get one cache key.

use url::Url;

use super::FetchError;

/// Parse `raw` as an absolute http(s) URL.
pub fn parse_http_url(raw: &str) -> Result<Url, FetchError> {
    let invalid = |reason: String| FetchError::InvalidUrl {
        url: raw.to_string(),
        reason,
    };
    let url = Url::parse(raw.trim()).map_err(|e| invalid(e.to_string()))?;
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(invalid(format!("scheme `{other}` is not http or https"))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host".into()));
    }
    Ok(url)
}

/// The canonical form of `url` used as a cache key: scheme and host lowercased and a
/// default port dropped (both done by `Url` parsing), fragment dropped, tracking parameters
/// (`utm_*`, `fbclid`, `gclid`, ...; the same list search de-duplication uses) removed,
/// remaining query parameters sorted by name.
///
/// Stricter than search's de-duplication key on purpose: `www.` and a trailing slash are
/// kept, because a cache hit returns one URL's content for another, and those can differ.
pub fn normalize(url: &Url) -> Url {
    let mut out = url.clone();
    out.set_fragment(None);
    strip_tracking(&mut out);
    let mut pairs: Vec<(String, String)> = out
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if !pairs.is_empty() {
        // A stable sort keeps repeated keys (`a=2&a=1`) in their original relative order,
        // which some servers rely on.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        out.query_pairs_mut().clear().extend_pairs(pairs);
    }
    out
}

/// Query parameters that only track the click and never change the page.
const TRACKING_PARAMS: &[&str] = &[
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "mc_cid", "mc_eid", "yclid", "_ga",
    "igshid",
];

/// Remove `utm_*`, `fbclid`, `gclid` and the like from `url`, keeping other parameters in
/// their order.
pub fn strip_tracking(url: &mut Url) {
    if !url.query_pairs().any(|(k, _)| is_tracking(&k)) {
        return;
    }
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !is_tracking(k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
}

fn is_tracking(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.starts_with("utm_") || TRACKING_PARAMS.contains(&key.as_str())
}

/// `localhost` (and its subdomains), 127.0.0.0/8 and ::1.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => std::net::IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => std::net::IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        normalize(&parse_http_url(s).unwrap()).to_string()
    }

    #[test]
    fn scheme_and_host_are_lowercased_and_default_port_dropped() {
        assert_eq!(
            norm("HTTPS://Example.COM:443/Path"),
            "https://example.com/Path"
        );
        assert_eq!(norm("http://example.com:80"), "http://example.com/");
        assert_eq!(norm("http://example.com:8080/"), "http://example.com:8080/");
    }

    #[test]
    fn fragment_and_tracking_parameters_are_dropped() {
        assert_eq!(
            norm("https://example.com/a?utm_source=x&UTM_Medium=y&id=7&fbclid=z&gclid=q#top"),
            "https://example.com/a?id=7"
        );
        assert_eq!(
            norm("https://example.com/a?utm_campaign=x#frag"),
            "https://example.com/a"
        );
    }

    #[test]
    fn query_is_sorted_so_order_does_not_matter() {
        assert_eq!(
            norm("https://example.com/s?q=rust&page=2&a=1"),
            norm("https://example.com/s?a=1&q=rust&page=2")
        );
        assert_eq!(
            norm("https://example.com/s?b=1&a=2&a=1"),
            "https://example.com/s?a=2&a=1&b=1"
        );
    }

    #[test]
    fn non_http_and_relative_urls_are_invalid() {
        for bad in [
            "ftp://example.com/x",
            "/relative/path",
            "not a url",
            "file:///etc/passwd",
        ] {
            assert!(
                matches!(parse_http_url(bad), Err(FetchError::InvalidUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn loopback_is_named_or_numbered() {
        for u in [
            "http://127.0.0.1:5000",
            "http://127.9.9.9/",
            "http://[::1]:4318",
            "http://localhost:5000",
            "http://LOCALHOST.:5000",
            "http://mlflow.localhost/",
        ] {
            assert!(is_loopback(&Url::parse(u).unwrap()), "{u}");
        }
        for u in [
            "http://10.0.0.1:5000",
            "https://adb-1.azuredatabricks.net",
            "http://localhost.example.com",
        ] {
            assert!(!is_loopback(&Url::parse(u).unwrap()), "{u}");
        }
    }
}
