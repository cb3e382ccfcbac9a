//! Release channels: the manifest `{"version", "url", "sha256"}` that `system update` (the
//! server) and `aiops update` (the CLI) read, and how versions compare. Plain rules, no I/O.

use serde_json::Value;
use std::cmp::Ordering;
use std::path::Path;

/// A release channel's manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub version: String,
    /// The binary: an http(s) URL or a file path, already resolved against the manifest.
    pub url: String,
    pub sha256: String,
}

/// Whether `s` names an http(s) location (anything else is a file path).
pub fn is_http(s: &str) -> bool {
    let l = s.trim_start().to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://")
}

/// A manifest location as a file path (`file://` stripped).
pub fn file_path(s: &str) -> &str {
    s.strip_prefix("file://").unwrap_or(s)
}

/// `url` of a manifest found at `base`, resolved: absolute URLs and absolute paths stay;
/// relative ones resolve against the manifest's location (its URL, or its directory).
pub fn resolve_release_url(base: &str, url: &str) -> Result<String, String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("its \"url\" is empty".into());
    }
    if is_http(url) {
        return Ok(url.to_string());
    }
    if is_http(base) {
        let b = reqwest::Url::parse(base).map_err(|e| format!("its location is not a URL: {e}"))?;
        return b
            .join(url)
            .map(|u| u.to_string())
            .map_err(|e| format!("its \"url\" {url} does not resolve against {base}: {e}"));
    }
    let u = Path::new(file_path(url));
    if u.is_absolute() {
        return Ok(u.display().to_string());
    }
    let dir = Path::new(file_path(base))
        .parent()
        .unwrap_or_else(|| Path::new("."));
    Ok(dir.join(u).display().to_string())
}

/// Parse a release manifest `{"version": "<semver>", "url": "…", "sha256": "<64 hex>"}` found at
/// `base`. The error says what is wrong (the caller names the manifest).
pub fn parse_manifest(text: &str, base: &str) -> Result<Manifest, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("it is not JSON ({e})"))?;
    let field = |k: &str| -> Result<String, String> {
        v.get(k)
            .and_then(Value::as_str)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                format!("it has no \"{k}\" string (expected {{\"version\", \"url\", \"sha256\"}})")
            })
    };
    let version = field("version")?;
    let core = version.trim_start_matches('v');
    let core = core.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(format!(
            "its \"version\" '{version}' is not a semantic version (like 1.2.3)"
        ));
    }
    let sha256 = field("sha256")?.to_lowercase();
    if sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("its \"sha256\" is not 64 hex characters".into());
    }
    let url = resolve_release_url(base, &field("url")?)?;
    Ok(Manifest {
        version,
        url,
        sha256,
    })
}

/// Compare two versions (semver-ish: numeric dot parts, a pre-release sorts before its
/// release; a leading `v` and build metadata are ignored).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (Vec<u64>, Option<String>) {
        let v = v.trim().trim_start_matches('v');
        let v = v.split('+').next().unwrap_or(v);
        let (core, pre) = match v.split_once('-') {
            Some((c, p)) => (c, Some(p.to_string())),
            None => (v, None),
        };
        let nums = core
            .split('.')
            .map(|p| p.trim().parse::<u64>().unwrap_or(0))
            .collect();
        (nums, pre)
    }
    let (na, pa) = split(a);
    let (nb, pb) = split(b);
    let len = na.len().max(nb.len());
    for i in 0..len {
        let (x, y) = (
            na.get(i).copied().unwrap_or(0),
            nb.get(i).copied().unwrap_or(0),
        );
        match x.cmp(&y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    match (pa, pb) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.cmp(&y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SHA: &str = "ab0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd";

    #[test]
    fn a_manifest_resolves_its_url_against_where_it_was_found() {
        let m = |url: &str, base: &str| {
            parse_manifest(
                &json!({"version": "1.2.3", "url": url, "sha256": SHA}).to_string(),
                base,
            )
        };
        assert_eq!(
            m("aiops", "/srv/rel/manifest.json").unwrap().url,
            "/srv/rel/aiops"
        );
        assert_eq!(
            m("/opt/aiops", "/srv/rel/manifest.json").unwrap().url,
            "/opt/aiops"
        );
        assert_eq!(
            m("bin/aiops", "https://rel.example/v1/manifest.json")
                .unwrap()
                .url,
            "https://rel.example/v1/bin/aiops"
        );
        assert_eq!(
            m("https://cdn.example/a", "/srv/m.json").unwrap().url,
            "https://cdn.example/a"
        );
        assert_eq!(m("aiops", "file:///srv/m.json").unwrap().url, "/srv/aiops");
        let ok = m("aiops", "/m.json").unwrap();
        assert_eq!((ok.version.as_str(), ok.sha256.as_str()), ("1.2.3", SHA));
    }

    #[test]
    fn an_invalid_manifest_says_what_is_wrong() {
        let e = |text: &str| parse_manifest(text, "/m.json").unwrap_err();
        assert!(e("not json").contains("not JSON"));
        assert!(e(r#"{"url":"a","sha256":"x"}"#).contains("\"version\""));
        assert!(
            e(&json!({"version":"1.2","url":"a","sha256":SHA}).to_string()).contains("semantic")
        );
        assert!(
            e(&json!({"version":"1.2.3","url":"a","sha256":"abc"}).to_string()).contains("64 hex")
        );
        assert!(e(&json!({"version":"1.2.3","sha256":SHA}).to_string()).contains("\"url\""));
        assert!(
            parse_manifest(
                &json!({"version":"v2.0.0-rc.1","url":"a","sha256":SHA}).to_string(),
                "/m"
            )
            .is_ok()
        );
    }

    #[test]
    fn versions_compare_as_semver() {
        assert_eq!(compare_versions("1.2.10", "1.2.9"), Ordering::Greater);
        assert_eq!(compare_versions("v1.2.0", "1.2"), Ordering::Equal);
        assert_eq!(compare_versions("1.2.0-rc.1", "1.2.0"), Ordering::Less);
        assert_eq!(compare_versions("0.9.0", "0.10.0"), Ordering::Less);
        assert_eq!(compare_versions("1.0.0+build5", "1.0.0"), Ordering::Equal);
    }
}
