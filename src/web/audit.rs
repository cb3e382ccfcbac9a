//! The audit of web changes and the admin's audit page.
//!
//! `WebAudit` wraps the web routes: every state-changing request by an identified user (the
//! session cookie with a valid CSRF token, or an API key; a login or setup that starts a
//! session counts as its new user's) is recorded exactly like the API's writes
//! (`api::gate::RequestInfo::entry`, `services::audit::form_audit_body`), marked `web`. Forged
//! requests (CSRF failures), anonymous ones (failed logins) and unrouted ones change nothing and
//! are not recorded.

use super::extract::{WebUser, answered};
use super::layout::{error_box, fmt_time, page};
use super::prelude::*;
use super::session::{caller, csrf_ok};
use crate::api::gate::{BodyError, RequestInfo, SESSION_COOKIE, client_ip, read_body, too_large};
use crate::auth::{AuthMethod, Identity};
use crate::domain::AuditSource;
use crate::error::AppError;
use crate::services::App;
use crate::services::audit::{
    AuditFilter, AuditFilterInput, AuditPage, AuditRow, audit_body, form_audit_body, form_pairs,
};
use maud::{Markup, html};
use poem::http::{Method, StatusCode, header};
use poem::web::{Data, Query};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response, handler};
use std::sync::Arc;
use std::time::Instant;

// ---- the middleware ---------------------------------------------------------------------------

pub struct WebAudit {
    app: Arc<App>,
}

impl WebAudit {
    pub fn new(app: Arc<App>) -> WebAudit {
        WebAudit { app }
    }
}

impl<E: Endpoint> Middleware<E> for WebAudit {
    type Output = WebAuditEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        WebAuditEndpoint {
            inner: ep,
            app: self.app.clone(),
        }
    }
}

pub struct WebAuditEndpoint<E> {
    inner: E,
    app: Arc<App>,
}

fn is_form(req: &Request) -> bool {
    content_type(req.headers()).starts_with("application/x-www-form-urlencoded")
}

fn content_type(h: &poem::http::HeaderMap) -> String {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// What the log keeps of a web request body: a form as the JSON object the API would have
/// been sent, JSON as the API keeps it, anything else only as its size and type (never the
/// content: an upload may be a key).
fn web_body(form: bool, ct: &str, bytes: &[u8]) -> Option<serde_json::Value> {
    if bytes.is_empty() {
        return None;
    }
    if form {
        return Some(form_audit_body(bytes));
    }
    if ct.starts_with("application/json")
        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes)
    {
        return Some(audit_body(v));
    }
    let mut out = serde_json::Map::new();
    out.insert("_bytes".into(), bytes.len().into());
    out.insert("_content_type".into(), ct.into());
    if ct.starts_with("multipart/") {
        out.insert("_files".into(), multipart_file_names(bytes).into());
    }
    Some(serde_json::Value::Object(out))
}

/// The `filename="…"` of each part of a multipart body (its headers only; no content).
fn multipart_file_names(bytes: &[u8]) -> Vec<String> {
    const NEEDLE: &[u8] = b"filename=\"";
    let mut names = Vec::new();
    let mut rest = bytes;
    while let Some(i) = rest.windows(NEEDLE.len()).position(|w| w == NEEDLE) {
        rest = rest.get(i + NEEDLE.len()..).unwrap_or_default();
        let end = rest
            .iter()
            .position(|b| *b == b'"' || *b == b'\r' || *b == b'\n')
            .unwrap_or(rest.len())
            .min(200);
        let name = rest.get(..end).unwrap_or_default();
        names.push(String::from_utf8_lossy(name).into_owned());
        if names.len() >= 20 {
            break;
        }
    }
    names
}

/// The session a response starts (a login's or setup's `Set-Cookie: aiops_session=…`).
fn started_session(resp: &Response) -> Option<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next()?.trim().split_once('='))
        .find(|(k, v)| *k == SESSION_COOKIE && !v.is_empty())
        .map(|(_, v)| v.to_string())
}

/// The message an error page shows: its `role="alert"` line inside `<main>`, else the first
/// paragraph after its heading.
pub fn page_error(html: &str) -> Option<String> {
    let main = html.find("<main").map(|i| &html[i..]).unwrap_or(html);
    let text_after = |at: usize| -> Option<String> {
        let rest = &main[at..];
        let start = rest.find('>')? + 1;
        let end = rest[start..].find('<')? + start;
        let t = unescape(rest[start..end].trim());
        (!t.is_empty()).then_some(t)
    };
    if let Some(i) = main.find("role=\"alert\"") {
        return text_after(i);
    }
    let h1 = main.find("<h1")?;
    let p = main[h1..].find("<p")? + h1;
    text_after(p)
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

impl<E: Endpoint> WebAuditEndpoint<E> {
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        info: &RequestInfo,
        who: &Identity,
        status: StatusCode,
        started: Instant,
        body: Option<serde_json::Value>,
        client: &str,
        error: Option<&str>,
    ) {
        let entry = info.entry(AuditSource::Web, who, status, started, body, client, error);
        crate::store::run_blocking(|| self.app.audit.record_audit(entry));
    }
}

impl<E: Endpoint> Endpoint for WebAuditEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
            return self.inner.call(req).await.map(IntoResponse::into_response);
        }
        let started = Instant::now();
        let app = &self.app;
        // The body limit already held the body (gate::BodyLimit); read it once more, bounded.
        let bytes = match read_body(req.take_body(), app.config.max_body_bytes).await {
            Ok(b) => b,
            Err(BodyError::TooLarge) => return Ok(too_large(app.config.max_body_bytes, false)),
            Err(BodyError::Io(e)) => {
                return Ok((
                    StatusCode::BAD_REQUEST,
                    format!("Could not read the request body ({e}); send the form again"),
                )
                    .into_response());
            }
        };
        req.set_body(bytes.clone());
        let form = is_form(&req);
        let ct = content_type(req.headers());
        // A login (or setup) is its new session's, whoever was logged in before.
        let starts_session = matches!(req.uri().path(), "/login" | "/setup");
        let before = if starts_session {
            None
        } else {
            crate::store::run_blocking(|| caller(app, &req))
        };
        // A cookie-authenticated write without the session's CSRF token is refused by its
        // handler: nothing changes, nothing is recorded (a forged request must not write).
        let forged = before.as_ref().is_some_and(|id| {
            let token = form
                .then(|| {
                    form_pairs(&bytes)
                        .into_iter()
                        .find(|(k, _)| k == "csrf_token")
                        .map(|(_, v)| v)
                })
                .flatten();
            id.method == AuthMethod::Session && !csrf_ok(id, &req, token.as_deref())
        });
        let info = RequestInfo::of(&req);
        let client = client_ip(&req, &app.config.trusted_proxies);
        let ctx = req.extensions().get::<crate::server::RequestCtx>().cloned();
        let resp = match answered(self.inner.call(req).await.map(IntoResponse::into_response)) {
            Ok(r) => r.into_response(),
            Err(e) => {
                // No such page or method: nothing was done.
                let unrouted = e.is::<poem::error::NotFoundError>()
                    || e.status() == StatusCode::METHOD_NOT_ALLOWED;
                if let (Some(who), false, false) = (&before, unrouted, forged) {
                    let msg = e.to_string();
                    self.record(
                        &info,
                        who,
                        e.status(),
                        started,
                        web_body(form, &ct, &bytes),
                        &client,
                        Some(&msg),
                    );
                }
                return Err(e);
            }
        };
        if forged {
            return Ok(resp);
        }
        let who = match before {
            Some(who) => who,
            None => {
                match started_session(&resp)
                    .and_then(|t| app.accounts.session_identity(&t).ok().flatten())
                {
                    Some(who) => who,
                    // Anonymous (a failed login): like the API, only identified callers are
                    // recorded; failures are counted by the rate limiter.
                    None => return Ok(resp),
                }
            }
        };
        if let Some(ctx) = &ctx {
            let _ = ctx.user.set(who.user.id.get());
        }
        let status = resp.status();
        let is_html = content_type(resp.headers()).starts_with("text/html");
        let (resp, error) = if status.as_u16() >= 400 && is_html {
            let (parts, body) = resp.into_parts();
            let page = body.into_bytes().await.unwrap_or_default();
            let msg = page_error(&String::from_utf8_lossy(&page));
            (Response::from_parts(parts, Body::from(page)), msg)
        } else if status.as_u16() >= 400 {
            (resp, status.canonical_reason().map(str::to_string))
        } else {
            (resp, None)
        };
        self.record(
            &info,
            &who,
            status,
            started,
            web_body(form, &ct, &bytes),
            &client,
            error.as_deref(),
        );
        Ok(resp)
    }
}

// ---- the page ---------------------------------------------------------------------------------

const PAGE: usize = 50;

#[derive(serde::Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    user: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    offset: Option<usize>,
}

/// Suggestions for the action filter (any action, kind or verb is accepted).
const ACTION_HINTS: &[&str] = &[
    "tenant",
    "tenant.create",
    "tenant.update",
    "tenant.delete",
    "project",
    "project.create",
    "project.update",
    "project.delete",
    "member",
    "user",
    "user.create",
    "user.update",
    "user.delete",
    "key",
    "key.create",
    "key.revoke",
    "integration",
    "issue",
    "ssh_key",
    "known_host",
    "backup",
    "ansible_run",
    "session",
    "session.login",
    "git",
    "workspace",
    "create",
    "update",
    "delete",
];

#[handler]
pub fn audit_get(
    Data(app): AppData<'_>,
    Query(q): Query<AuditQuery>,
    WebUser(who): WebUser,
) -> Response {
    let offset = q.offset.unwrap_or(0);
    let input = AuditFilterInput {
        user: q.user,
        action: q.action,
        source: q.source,
        outcome: q.outcome,
        from: q.from,
        to: q.to,
    };
    let (filter, result) = match AuditFilter::parse(&input) {
        Ok(f) => {
            let res = crate::store::run_blocking(|| app.audit.audit_view(&who, &f, PAGE, offset));
            (f, res)
        }
        Err(e) => (AuditFilter::default(), Err(e)),
    };
    match result {
        Ok(view) => audit_page(&who, &input, &filter, &view, offset, None).into_response(),
        Err(
            e @ (AppError::NotFound(_) | AppError::Forbidden(_) | AppError::Unauthorized { .. }),
        ) => not_found(&who, &e),
        Err(e) => {
            let empty = AuditPage {
                rows: Vec::new(),
                total: 0,
                complete: true,
                users: Vec::new(),
            };
            let mut r =
                audit_page(&who, &input, &filter, &empty, 0, Some(&e.to_string())).into_response();
            r.set_status(error_status(&e));
            r
        }
    }
}

fn link(filter: &AuditFilter, offset: usize) -> String {
    let mut pairs = filter.query_pairs();
    if offset > 0 {
        pairs.push(("offset", offset.to_string()));
    }
    let q = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", super::session::urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    if q.is_empty() {
        "/audit".into()
    } else {
        format!("/audit?{q}")
    }
}

/// "N entries", true of what the filter selects.
pub fn count_text(total: u64, filtered: bool, complete: bool) -> String {
    let noun = if total == 1 { "entry" } else { "entries" };
    match (filtered, complete) {
        (false, _) => format!("{total} {noun} in the log"),
        (true, true) => format!("{total} matching {noun}"),
        (true, false) => format!(
            "At least {total} matching {noun} among the newest {}",
            crate::services::audit::AUDIT_SCAN_CAP
        ),
    }
}

fn audit_page(
    who: &Identity,
    input: &AuditFilterInput,
    filter: &AuditFilter,
    view: &AuditPage,
    offset: usize,
    error: Option<&str>,
) -> Markup {
    let sel = |have: &str, want: &str| have.trim() == want;
    let shown_to = offset + view.rows.len();
    page(
        "Audit log",
        Some(who),
        html! {
            h1 { "Audit log" }
            (error_box(error))
            form #audit-filters.filters method="get" action="/audit" {
                div.grid {
                    select name="user" aria-label="User" {
                        option value="" { "Any user" }
                        option value="system" selected[sel(&input.user, "system")] { "system" }
                        @for (id, email) in &view.users {
                            option value=(id) selected[sel(&input.user, &id.to_string())] { (email) }
                        }
                    }
                    input type="text" name="action" list="audit-actions" placeholder="Action" aria-label="Action (e.g. tenant.create, tenant or delete)" title="An action (tenant.create), a kind (tenant) or a verb (delete)" value=(input.action);
                    datalist #audit-actions { @for a in ACTION_HINTS { option value=(a) {} } }
                }
                div.grid {
                    select name="source" aria-label="Source" {
                        option value="" { "Web and API" }
                        option value="web" selected[sel(&input.source, "web")] { "Web" }
                        option value="api" selected[sel(&input.source, "api")] { "API" }
                    }
                    select name="outcome" aria-label="Outcome" {
                        option value="" { "Any outcome" }
                        option value="ok" selected[sel(&input.outcome, "ok")] { "Succeeded" }
                        option value="failed" selected[sel(&input.outcome, "failed")] { "Failed" }
                    }
                }
                div.grid {
                    label { "From" input type="date" name="from" value=(input.from); }
                    label { "To" input type="date" name="to" value=(input.to); }
                }
                div.toolbar {
                    button #audit-filter type="submit" { "Filter" }
                    @if !filter.is_empty() { a href="/audit" role="button" .secondary.outline { "Clear filters" } }
                }
            }
            p #audit-count {
                (count_text(view.total, !filter.is_empty(), view.complete))
                @if !view.rows.is_empty() { " · showing " (offset + 1) "–" (shown_to) ", newest first" }
                ". Secrets in request bodies are redacted."
                @if !view.complete { " Narrow the dates to search older entries." }
            }
            @if view.rows.is_empty() {
                p.muted { @if filter.is_empty() { "Nothing recorded yet." } @else { "No entry matches these filters." } }
            } @else {
                table #audit-list.striped {
                    thead { tr { th { "Time" } th { "User" } th { "Action" } th { "Target" } th { "Result" } } }
                    tbody { @for r in &view.rows { (audit_row(r)) } }
                }
            }
            nav.pager {
                @if offset > 0 { a href=(link(filter, offset.saturating_sub(PAGE))) { "← Newer" } }
                " "
                @if (shown_to as u64) < view.total { a href=(link(filter, shown_to)) { "Older →" } }
            }
        },
    )
}

fn audit_row(r: &AuditRow) -> Markup {
    let e = &r.entry;
    let body = e
        .request_body
        .as_ref()
        .and_then(|b| serde_json::to_string_pretty(b).ok());
    html! {
        tr.audit-row data-action=(r.action) data-source=(e.source.as_str()) {
            td.audit-time {
                @let t = fmt_time(&e.created_at);
                @let (day, time) = t.split_once(' ').unwrap_or((&t, ""));
                time datetime=(e.created_at.to_rfc3339()) { (day) br; (time) }
            }
            td.audit-user {
                (soft(&r.user, '@'))
                @if let Some(k) = &r.key { br; small { "key " (k) } }
            }
            td.audit-act {
                code.audit-action { (soft(&r.action, '.')) }
                (details(r, body.as_deref()))
            }
            td.wrap.audit-target {
                @for (i, t) in r.targets.iter().enumerate() { @if i > 0 { br; } (soft(t, '@')) }
            }
            td.audit-result {
                @if r.ok { span.badge.run-success { (e.status) } } @else { span.badge.run-failed { (e.status) } }
                " " span.audit-source { (e.source.as_str()) }
            }
        }
    }
}

/// `s` cut after each `at` (emails after `@`, actions after `.`) into pieces that wrap as
/// wholes, so a narrow column breaks there rather than mid-word (and a `nowrap` one not at all,
/// which `<wbr>` would not respect).
fn soft(s: &str, at: char) -> Markup {
    html! { @for p in s.split_inclusive(at) { span.nb { (p) } } }
}

/// The whole request, behind a summary (the row stays short on a phone).
fn details(r: &AuditRow, body: Option<&str>) -> Markup {
    let e = &r.entry;
    html! {
        details.audit-details {
            summary { "Request" }
            dl.details {
                dt { "Request" } dd { code { (e.method) " " (e.path) @if let Some(q) = &e.query { "?" (q) } } }
                @if let Some(m) = &e.error_message { dt { "Error" } dd { (m) } }
                dt { "IP" } dd { (e.ip_address.as_deref().unwrap_or("—")) }
                dt { "Duration" } dd { (format!("{:.1} ms", e.duration_ms)) }
                @if let Some(id) = &e.request_id { dt { "Request id" } dd { code { (id) } } }
                @if let Some(ua) = &e.user_agent { dt { "User agent" } dd { small { (ua) } } }
                @if let Some(b) = body { dt { "Body" } dd { pre.pre { (b) } } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_pages_give_their_message() {
        let page = r#"<html><body><nav><p role="alert" id="toast"></p></nav><main><h1>Tenants</h1><form></form><p class="error" role="alert">Name &quot;x&quot; is taken &amp; more</p></main>"#;
        assert_eq!(
            page_error(page).as_deref(),
            Some("Name \"x\" is taken & more")
        );
        let forbidden = "<main><h1>Forbidden</h1><p>Your form expired</p></main>";
        assert_eq!(page_error(forbidden).as_deref(), Some("Your form expired"));
        assert_eq!(page_error("<main><h1>x</h1></main>"), None);
    }

    #[test]
    fn a_new_session_is_found_in_the_answer() {
        let mut r = Response::builder()
            .header(
                header::SET_COOKIE,
                "aiops_login_csrf=; Path=/login; Max-Age=0",
            )
            .header(header::SET_COOKIE, "aiops_session=abc; Path=/; HttpOnly")
            .finish();
        assert_eq!(started_session(&r).as_deref(), Some("abc"));
        r.headers_mut().remove(header::SET_COOKIE);
        r.headers_mut().append(
            header::SET_COOKIE,
            poem::http::HeaderValue::from_static("aiops_session=; Path=/; Max-Age=0"),
        );
        assert_eq!(started_session(&r), None, "a cleared cookie is no session");
    }

    #[test]
    fn web_bodies_never_keep_secrets_or_uploads() {
        let b = web_body(
            true,
            "application/x-www-form-urlencoded",
            b"csrf_token=abc&name=Acme&password=hunter22&current=old&new=n1&confirm=n1",
        )
        .unwrap_or_default();
        let s = b.to_string();
        for secret in ["abc", "hunter22", "old", "n1"] {
            assert!(!s.contains(&format!("\"{secret}\"")), "{secret} in {s}");
        }
        assert_eq!(b["name"], "Acme");
        let up = web_body(false, "multipart/form-data; boundary=x", b"--x\r\nsecret")
            .unwrap_or_default();
        assert!(!up.to_string().contains("secret"));
        assert_eq!(up["_bytes"], 11);
        let body = b"--x\r\nContent-Disposition: form-data; name=\"archive\"; filename=\"b.tar.gz\"\r\n\r\nPRIVATE\r\n--x--";
        let up = web_body(false, "multipart/form-data; boundary=x", body).unwrap_or_default();
        assert_eq!(up["_files"], serde_json::json!(["b.tar.gz"]));
        assert!(!up.to_string().contains("PRIVATE"));
        assert_eq!(web_body(true, "", b""), None);
    }

    #[test]
    fn the_count_says_what_it_counts() {
        assert_eq!(count_text(1, false, true), "1 entry in the log");
        assert_eq!(count_text(3, true, true), "3 matching entries");
        assert!(count_text(7, true, false).starts_with("At least 7 matching entries"));
    }
}
