//! Validation and naming rules shared by the API, the web UI and the CLI.

/// The tenant colour palette; the first entry is the default.
pub const PALETTE: [(&str, &str); 10] = [
    ("#2563eb", "Indigo"),
    ("#7c3aed", "Violet"),
    ("#db2777", "Magenta"),
    ("#ec4899", "Pink"),
    ("#f97316", "Orange"),
    ("#f59e0b", "Amber"),
    ("#10b981", "Emerald"),
    ("#0d9488", "Teal"),
    ("#14b8a6", "Aqua"),
    ("#06b6d4", "Cyan"),
];
pub const DEFAULT_COLOR: &str = "#2563eb";

pub const MAX_NAME_LEN: usize = 255;
pub const MAX_TEXT_LEN: usize = 10_000;
pub const MAX_URL_LEN: usize = 512;

/// Trim, lower-case and add `#`. Unlike the original (which silently replaced unknown colours with
/// the default) an unknown colour is an error, so the caller learns the palette.
pub fn sanitize_color(input: &str) -> Result<String, String> {
    let mut c = input.trim().to_ascii_lowercase();
    if c.is_empty() {
        return Ok(DEFAULT_COLOR.to_string());
    }
    if !c.starts_with('#') {
        c.insert(0, '#');
    }
    if PALETTE.iter().any(|(hex, _)| *hex == c) {
        Ok(c)
    } else {
        let allowed: Vec<&str> = PALETTE.iter().map(|(h, _)| *h).collect();
        Err(format!(
            "Unknown colour '{}'. Choose one of: {}",
            input.trim(),
            allowed.join(", ")
        ))
    }
}

/// Tenant slug (also used for workspace directories): lower-case; each of space . / \ : @ becomes
/// `-`; repeated `-` collapse; `-` trimmed at both ends. Empty gives `tenant-<id>`.
pub fn tenant_slug(name: &str, id: u64) -> String {
    let mapped: String = name
        .to_lowercase()
        .chars()
        .map(|c| match c {
            ' ' | '.' | '/' | '\\' | ':' | '@' => '-',
            other => other,
        })
        .collect();
    let s = collapse_dashes(&mapped);
    if s.is_empty() {
        format!("tenant-{id}")
    } else {
        s
    }
}

/// Slug for a project's managed checkout directory: every non-alphanumeric character becomes `-`.
pub fn project_path_slug(name: &str) -> String {
    let mapped: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let s = collapse_dashes(&mapped);
    if s.is_empty() {
        "project".to_string()
    } else {
        s
    }
}

fn collapse_dashes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    out.trim_matches('-').to_string()
}

/// A display name for a tenant, project, key or user: trimmed, non-empty, at most 255 characters,
/// no control characters, and nothing that could walk a path (`/`, `\`, `..`), because names become
/// directory names for workspaces and checkouts.
pub fn validate_name(field: &str, value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(format!("{field} is required"));
    }
    if v.chars().count() > MAX_NAME_LEN {
        return Err(format!("{field} must be at most {MAX_NAME_LEN} characters"));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(format!("{field} must not contain control characters"));
    }
    if let Some(c) = v.chars().find(|&c| is_bidi_control(c)) {
        return Err(format!(
            "{field} must not contain bidirectional override or isolate characters (found U+{:04X}): they make text display in a different order than it is stored",
            c as u32
        ));
    }
    if v.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
        return Err(format!(
            "{field} must contain visible characters, not only zero-width or invisible ones"
        ));
    }
    if v.contains('/') || v.contains('\\') || v.contains("..") {
        return Err(format!("{field} must not contain '/', '\\' or '..'"));
    }
    Ok(v.to_string())
}

/// Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): they reorder
/// how the text around them is shown ("Trojan Source").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that render as nothing: zero-width space/joiners (U+200B–U+200D), direction marks
/// (U+200E, U+200F, U+061C), word joiner and invisible operators (U+2060–U+2064), the byte-order
/// mark (U+FEFF), soft hyphen (U+00AD) and the Mongolian vowel separator (U+180E).
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{2060}'..='\u{2064}'
            | '\u{FEFF}'
            | '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
    )
}

/// Free text (descriptions): blank becomes `None`; bounded length; no NUL.
pub fn validate_text(field: &str, value: Option<&str>) -> Result<Option<String>, String> {
    let Some(v) = value else { return Ok(None) };
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.chars().count() > MAX_TEXT_LEN {
        return Err(format!("{field} must be at most {MAX_TEXT_LEN} characters"));
    }
    if v.contains('\0') {
        return Err(format!("{field} must not contain NUL characters"));
    }
    Ok(Some(v.to_string()))
}

/// A git remote: https://, http://, ssh://, git://, file:// or scp-like `user@host:path`, or an
/// absolute local path. No whitespace or control characters, bounded length.
pub fn validate_repo_url(value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() {
        return Err("repo_url is required".into());
    }
    if v.len() > MAX_URL_LEN {
        return Err(format!("repo_url must be at most {MAX_URL_LEN} characters"));
    }
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("repo_url must not contain spaces or control characters".into());
    }
    let schemes = ["https://", "http://", "ssh://", "git://", "file://"];
    let scp_like = {
        // user@host:path (no scheme)
        match (v.find('@'), v.find(':')) {
            (Some(at), Some(colon)) => at > 0 && colon > at + 1 && colon + 1 < v.len(),
            _ => false,
        }
    };
    if schemes
        .iter()
        .any(|s| v.starts_with(s) && v.len() > s.len())
        || scp_like
        || v.starts_with('/')
    {
        Ok(v.to_string())
    } else {
        Err(format!(
            "repo_url '{v}' is not a git URL: use https://host/owner/repo.git, ssh://…, git@host:owner/repo.git or an absolute path"
        ))
    }
}

/// A git branch name, following the main rules of `git check-ref-format --branch`.
pub fn validate_branch(value: &str) -> Result<String, String> {
    let v = value.trim();
    let bad = v.is_empty()
        || v.len() > 200
        || v.starts_with('-')
        || v.starts_with('/')
        || v.ends_with('/')
        || v.ends_with('.')
        || v.ends_with(".lock")
        || v.contains("..")
        || v.contains("//")
        || v.contains("@{")
        || v.chars().any(|c| {
            c.is_control()
                || c.is_whitespace()
                || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\')
        });
    if bad {
        Err(format!("'{v}' is not a valid branch name"))
    } else {
        Ok(v.to_string())
    }
}

/// Emails: one `@`, something on both sides, a dot in the domain; stored lower-case.
pub fn normalize_email(value: &str) -> Result<String, String> {
    let v = value.trim().to_lowercase();
    let ok = v.len() <= MAX_NAME_LEN
        && !v.chars().any(|c| c.is_whitespace() || c.is_control())
        && match v.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if ok {
        Ok(v)
    } else {
        Err(format!("'{}' is not a valid email address", value.trim()))
    }
}

pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 255;

pub fn validate_password(value: &str) -> Result<(), String> {
    let n = value.chars().count();
    if n < MIN_PASSWORD_LEN {
        Err(format!(
            "Password must be at least {MIN_PASSWORD_LEN} characters"
        ))
    } else if n > MAX_PASSWORD_LEN {
        Err(format!(
            "Password must be at most {MAX_PASSWORD_LEN} characters"
        ))
    } else {
        Ok(())
    }
}

const SECRET_WORDS: [&str; 6] = [
    "password",
    "token",
    "secret",
    "api_key",
    "private_key",
    "key",
];

/// Replace secret-looking values (at any depth) with `***REDACTED***` before a body is audited.
pub fn redact(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let lk = k.to_ascii_lowercase();
                if SECRET_WORDS.iter().any(|w| {
                    lk == *w
                        || lk.ends_with(&format!("_{w}"))
                        || lk.contains("password")
                        || lk.contains("token")
                        || lk.contains("secret")
                        || lk.contains("private_key")
                }) || matches!(lk.as_str(), "extra_vars" | "prompt" | "command" | "data")
                {
                    *v = serde_json::Value::String("***REDACTED***".into());
                } else {
                    redact(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// The client behind trusted reverse proxies: walking the forwarding chain from the nearest
/// hop, the first address that is not a trusted proxy (the left-most when all are). Reads
/// `Forwarded` (RFC 7239 `for=`) first, then `X-Forwarded-For`. `peer` must itself be trusted
/// for the headers to count at all (the caller checks that).
pub fn forwarded_client(
    forwarded: Option<&str>,
    x_forwarded_for: Option<&str>,
    peer: std::net::IpAddr,
    trusted: &[std::net::IpAddr],
) -> std::net::IpAddr {
    fn parse_for(v: &str) -> Option<std::net::IpAddr> {
        let v = v.trim().trim_matches('"');
        let v = if let Some(rest) = v.strip_prefix('[') {
            rest.split(']').next().unwrap_or("")
        } else if v.matches(':').count() == 1 {
            v.split(':').next().unwrap_or("")
        } else {
            v
        };
        v.parse().ok()
    }
    let chain: Vec<std::net::IpAddr> = match forwarded.filter(|f| !f.trim().is_empty()) {
        Some(f) => f
            .split(',')
            .filter_map(|elem| {
                elem.split(';').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim().eq_ignore_ascii_case("for").then(|| parse_for(v))?
                })
            })
            .collect(),
        None => x_forwarded_for
            .unwrap_or("")
            .split(',')
            .filter_map(parse_for)
            .collect(),
    };
    chain
        .iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .or(chain.first())
        .copied()
        .unwrap_or(peer)
}

/// Index key for the issue status index: the normalised status key (`__none__` for blank).
/// The full normalisation table arrives with the trackers; until then: lower-case slug.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_behind_trusted_proxies() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let proxy = ip("10.0.0.1");
        let trusted = [proxy, ip("10.0.0.2")];
        // The nearest untrusted hop wins; a client cannot push a fake address past it.
        assert_eq!(
            forwarded_client(None, Some("6.6.6.6, 203.0.113.7"), proxy, &trusted),
            ip("203.0.113.7")
        );
        assert_eq!(
            forwarded_client(None, Some("203.0.113.7, 10.0.0.2"), proxy, &trusted),
            ip("203.0.113.7")
        );
        assert_eq!(
            forwarded_client(
                Some("for=192.0.2.60;proto=http, for=\"[2001:db8::1]:4711\""),
                Some("1.1.1.1"),
                proxy,
                &trusted
            ),
            ip("2001:db8::1")
        );
        assert_eq!(
            forwarded_client(Some("for=192.0.2.60:8080"), None, proxy, &trusted),
            ip("192.0.2.60")
        );
        // Garbage or nothing: the proxy itself.
        assert_eq!(forwarded_client(None, Some("junk"), proxy, &trusted), proxy);
        assert_eq!(forwarded_client(None, None, proxy, &trusted), proxy);
    }

    #[test]
    fn colours_are_sanitised_against_the_palette() {
        assert_eq!(sanitize_color("10b981").unwrap(), "#10b981");
        assert_eq!(sanitize_color("  #DB2777 ").unwrap(), "#db2777");
        assert_eq!(sanitize_color("").unwrap(), DEFAULT_COLOR);
        let err = sanitize_color("#123456").unwrap_err();
        assert!(err.contains("#2563eb"), "{err}");
    }

    #[test]
    fn tenant_slug_follows_the_original_rule() {
        assert_eq!(tenant_slug("Acme Corp", 1), "acme-corp");
        assert_eq!(tenant_slug("a.b/c\\d:e@f", 1), "a-b-c-d-e-f");
        assert_eq!(tenant_slug("  --x  y--", 1), "x-y");
        assert_eq!(tenant_slug("My_App v2", 1), "my_app-v2");
        assert_eq!(tenant_slug("R&D", 1), "r&d");
        assert_eq!(tenant_slug("...", 7), "tenant-7");
    }

    #[test]
    fn project_path_slug_replaces_all_punctuation() {
        assert_eq!(project_path_slug("My_App v2"), "my-app-v2");
        assert_eq!(project_path_slug("!!!"), "project");
    }

    #[test]
    fn names_refuse_traversal_control_and_length() {
        assert_eq!(validate_name("Name", "  ok name ").unwrap(), "ok name");
        assert!(
            validate_name("Name", "   ")
                .unwrap_err()
                .contains("required")
        );
        assert!(validate_name("Name", "../etc").is_err());
        assert!(validate_name("Name", "a/b").is_err());
        assert!(validate_name("Name", "a\\b").is_err());
        assert!(validate_name("Name", "bad\u{7}bell").is_err());
        assert!(
            validate_name("Name", &"x".repeat(256))
                .unwrap_err()
                .contains("255")
        );
        assert!(validate_name("Name", &"é".repeat(255)).is_ok());
        assert!(validate_name("Name", "acme.io").is_ok());
    }

    #[test]
    fn names_refuse_bidi_overrides_and_invisible_only_text() {
        for c in ['\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}'] {
            let e = validate_name("Name", &format!("acme{c}gpj.exe")).unwrap_err();
            assert!(e.contains("bidirectional"), "{e}");
            assert!(e.contains(&format!("U+{:04X}", c as u32)), "{e}");
        }
        for c in ['\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}'] {
            assert!(validate_name("Name", &format!("{c}acme")).is_err(), "{c:?}");
        }
        for only in [
            "\u{200B}",
            "\u{200C}\u{200D}",
            "\u{2060}",
            "\u{FEFF}",
            " \u{200B} \u{FEFF} ",
            "\u{200E}",
        ] {
            let e = validate_name("Tenant name", only).unwrap_err();
            assert!(e.contains("visible characters"), "{only:?}: {e}");
            assert!(e.starts_with("Tenant name"), "{e}");
        }
        // Joiners inside real text stay allowed (emoji sequences, Indic scripts, Persian).
        assert!(validate_name("Name", "team 👩\u{200D}💻").is_ok());
        assert!(validate_name("Name", "می\u{200C}خواهم").is_ok());
        assert!(validate_name("Name", "שלום").is_ok());
    }

    #[test]
    fn repo_urls() {
        for ok in [
            "https://github.com/o/r.git",
            "git@github.com:o/r.git",
            "ssh://git@host:22/o/r",
            "/srv/git/r.git",
            "file:///tmp/r",
        ] {
            assert!(validate_repo_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "not a url",
            "ftp://x",
            "github.com/o/r",
            "https://",
            "a b@c:d",
        ] {
            assert!(validate_repo_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn branches() {
        assert!(validate_branch("main").is_ok());
        assert!(validate_branch("feature/x-1").is_ok());
        for bad in ["", "-x", "a..b", "a b", "x.lock", "a~b", "x/"] {
            assert!(validate_branch(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(
            normalize_email(" Admin@Example.COM ").unwrap(),
            "admin@example.com"
        );
        for bad in ["", "a", "a@b", "@b.c", "a@@b.c", "a b@c.d", "a@.c"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_have_bounds() {
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough").is_ok());
        assert!(validate_password(&"x".repeat(256)).is_err());
    }

    #[test]
    fn redaction_reaches_nested_secrets() {
        let mut v = serde_json::json!({
            "name": "n", "password": "p", "api_token": "t",
            "nested": {"secret": "s", "ok": 1, "list": [{"token": "x"}]}
        });
        redact(&mut v);
        assert_eq!(v["name"], "n");
        assert_eq!(v["password"], "***REDACTED***");
        assert_eq!(v["api_token"], "***REDACTED***");
        let mut k = serde_json::json!({"name": "deploy", "private_key_content": "-----BEGIN"});
        redact(&mut k);
        assert_eq!(k["private_key_content"], "***REDACTED***");
        assert_eq!(k["name"], "deploy");
        assert_eq!(v["nested"]["secret"], "***REDACTED***");
        assert_eq!(v["nested"]["ok"], 1);
        assert_eq!(v["nested"]["list"][0]["token"], "***REDACTED***");
    }
}
