//! Web session plumbing: who is logged in, CSRF checks, cookies, redirects.

use crate::api::gate::{SESSION_COOKIE, cookie_value};
use crate::auth::Identity;
use crate::services::App;
use poem::http::{StatusCode, header};
use poem::{IntoResponse, Request, Response};

pub const LOGIN_CSRF_COOKIE: &str = "aiops_login_csrf";

pub fn current(app: &App, req: &Request) -> Option<Identity> {
    let token = cookie_value(req, SESSION_COOKIE)?;
    app.accounts.session_identity(&token).ok().flatten()
}

pub fn redirect(to: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, to)
        .finish()
}

/// Send an anonymous visitor to the login page, remembering where they wanted to go.
pub fn to_login(req: &Request) -> Response {
    let path = req
        .original_uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    redirect(&format!("/login?next={}", urlencode(path)))
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Only local paths: `/x`, never `//host` or `/\host` or a scheme. Control characters and
/// backslashes are refused anywhere: browsers drop tabs and newlines and read `\` as `/`, so
/// `/<TAB>/host` becomes `//host` and leaves the site.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control)
                && !n.contains("://") =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

pub fn ct_eq(a: &str, b: &str) -> bool {
    !a.is_empty() && subtle::ConstantTimeEq::ct_eq(a.as_bytes(), b.as_bytes()).into()
}

/// A state-changing request must carry the session's CSRF token as a form field or header.
pub fn csrf_ok(id: &Identity, req: &Request, form_token: Option<&str>) -> bool {
    let expected = id.csrf_token.as_deref().unwrap_or("");
    let header_token = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok());
    [form_token, header_token]
        .into_iter()
        .flatten()
        .any(|t| ct_eq(t, expected))
}

pub fn session_cookie(token: &str, secure: bool, max_age_secs: u64) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

pub fn clear_cookie(name: &str) -> String {
    format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// The login form's CSRF cookie: only sent back to `/login`.
pub fn login_csrf_cookie(token: &str) -> String {
    format!("{LOGIN_CSRF_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict")
}

/// Clears the login CSRF cookie: same name and path as it was set with, or the browser keeps it.
pub fn clear_login_csrf_cookie() -> String {
    format!("{LOGIN_CSRF_COOKIE}=; Path=/login; HttpOnly; SameSite=Strict; Max-Age=0")
}

pub fn with_cookie(resp: impl IntoResponse, cookie: &str) -> Response {
    let mut r = resp.into_response();
    if let Ok(v) = cookie.parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// The caller from the web cookie, or from an API key (`Authorization: Bearer` / `X-API-Key`).
pub fn caller(app: &App, req: &Request) -> Option<Identity> {
    if let Some(who) = current(app, req) {
        return Some(who);
    }
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| req.headers().get("x-api-key").and_then(|v| v.to_str().ok()))?;
    app.accounts.authenticate_key(header).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_stay_local() {
        assert_eq!(safe_next(Some("/projects?x=1")), "/projects?x=1");
        for bad in [
            "//evil.com",
            "https://evil.com",
            "/\\evil.com",
            "evil",
            "/x://y",
            "/\t/evil.com",
            "/\n/evil.com",
            "/\r/evil.com",
            "/\u{0}/evil.com",
            "/\u{7f}/evil.com",
            "/\u{85}/evil.com",
            "/a\\b",
            "/x/\\evil.com",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some("/issues/7?q=a%09b")), "/issues/7?q=a%09b");
    }

    #[test]
    fn the_login_csrf_cookie_is_cleared_on_the_path_it_was_set_on() {
        let path = |c: &str| {
            c.split(';')
                .map(str::trim)
                .find_map(|p| p.strip_prefix("Path="))
                .map(str::to_string)
        };
        let set = login_csrf_cookie("t");
        let clear = clear_login_csrf_cookie();
        assert!(set.starts_with("aiops_login_csrf=t;"), "{set}");
        assert!(clear.starts_with("aiops_login_csrf=;"), "{clear}");
        assert!(clear.contains("Max-Age=0"), "{clear}");
        assert_eq!(path(&set), path(&clear));
        assert_eq!(path(&set).as_deref(), Some("/login"));
    }

    #[test]
    fn constant_time_compare() {
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd"));
        assert!(!ct_eq("", ""));
    }

    #[test]
    fn encoding_next() {
        assert_eq!(urlencode("/a b?c=d&e"), "/a%20b%3Fc%3Dd%26e");
    }
}
