//! The review page of an agent session (`/sessions/{key}/review`): the branch's diff against
//! its base, per file with hunks, line numbers and highlighting, readable on a phone (code
//! scrolls inside its block); tapping a line number opens a comment form (htmx) whose comment
//! is kept, shown under the line and typed into the agent's session; and Approve.

use super::prelude::*;
use crate::domain::review::{DiffLine, FileDiff, LineKind, ReviewNote, highlight, lang_of};
use crate::services::review::ReviewView;
use maud::{Markup, PreEscaped, html};
use poem::web::{Path, Query};
use poem::{IntoResponse, Response, handler};
use serde::Deserialize;

/// The most diff lines the page renders (the rest: "shortened").
const MAX_LINES: usize = 5000;

const STYLE: &str = r#"
.rv-file{margin:0 0 1.2rem;border:1px solid var(--pico-muted-border-color,#ccc);border-radius:6px;overflow:hidden}
.rv-file>header{padding:.4rem .6rem;margin:0;font-size:.85rem;overflow-wrap:anywhere;background:var(--pico-card-sectioning-background-color,#f6f6f6)}
.rv-code{overflow-x:auto;font-family:var(--pico-font-family-monospace,monospace);font-size:12px;line-height:1.45}
.rv-lines{min-width:max-content}
.rv-hunk{color:#57606a;background:rgba(84,174,255,.12);padding:0 .5rem;white-space:pre}
.dl{display:flex;align-items:stretch;line-height:1.5}
.dl.add{background:rgba(46,160,67,.15)}
.dl.del{background:rgba(248,81,73,.15)}
.dl .ln{flex:0 0 auto;width:3.4em;text-align:right;padding:0 .4em;margin:0;line-height:inherit;color:#6e7781;text-decoration:none;position:sticky;left:0;background:var(--pico-background-color,#fff);border-right:1px solid var(--pico-muted-border-color,#ddd);user-select:none}
.dl .sg{flex:0 0 auto;width:1.2em;text-align:center;color:#6e7781}
.dl code{display:block;white-space:pre;padding:0 .5em 0 0;margin:0;border-radius:0;background:none;font-size:inherit;line-height:inherit;color:inherit}
.dl .sg{line-height:inherit}
main .dl a.ln{display:block;min-height:0;padding-block:0;max-width:none;vertical-align:top}
.rv-slot:empty{display:none}
.rv-slot,.rv-note{position:sticky;left:0;width:min(100%,calc(100vw - 2.5rem));white-space:normal;font-family:var(--pico-font-family,sans-serif);font-size:.85rem;padding:.3rem .5rem}
.rv-note{border-left:3px solid #d29922;background:rgba(210,153,34,.1);margin:.1rem 0}
.rv-slot form{margin:0}.rv-slot textarea{min-height:4rem;margin-bottom:.4rem}
.hl-k{color:#8250df}.hl-s{color:#0a7a3b}.hl-c{color:#6e7781;font-style:italic}.hl-n{color:#0550ae}
.rv-meta{overflow-wrap:anywhere}
@media (min-width:768px){#review-approve{display:flex;align-items:center;gap:1rem;flex-wrap:wrap;margin-bottom:1rem}#review-approve form{margin:0}#review-approve-button{width:auto;min-width:10rem;margin:0}.rv-code{font-size:13px}}
"#;

fn line_no(l: &DiffLine) -> Option<u32> {
    l.new.or(l.old)
}

/// One more line of the page's line budget; false once it is spent.
fn take(budget: &mut usize) -> bool {
    let left = *budget > 0;
    *budget = budget.saturating_sub(1);
    left
}

fn slot_id(f: usize, i: usize) -> String {
    format!("slot-{f}-{i}")
}

fn note_view(n: &ReviewNote) -> Markup {
    html! {
        div.rv-note data-note=(n.id) {
            strong { (n.author) } " · " small { (fmt_time(&n.created_at)) } br;
            (n.text)
        }
    }
}

fn code_line(path: &str, l: &DiffLine) -> Markup {
    let lang = lang_of(path);
    html! {
        code {
            @for (t, s) in highlight(lang, &l.text) {
                @match t.class() {
                    Some(c) => span class=(c) { (s) },
                    None => (s),
                }
            }
        }
    }
}

fn file_view(
    key: &str,
    fi: usize,
    f: &FileDiff,
    notes: &[ReviewNote],
    can_comment: bool,
    budget: &mut usize,
) -> Markup {
    let (added, removed) = f.added_removed();
    html! {
        section.rv-file id={ "file-" (fi) } data-path=(f.path) {
            header {
                strong { (f.path) }
                @if let Some(from) = &f.renamed_from { " (from " (from) ")" }
                " " small.muted { (f.status) " · +" (added) " −" (removed) }
            }
            @if f.binary {
                p.muted style="padding:.4rem .6rem;margin:0" { "Binary file; not shown." }
            } @else {
                div.rv-code { div.rv-lines {
                    @for (hi, h) in f.hunks.iter().enumerate() {
                        div.rv-hunk { (h.header) }
                        @for (li, l) in h.lines.iter().enumerate() {
                            @if take(budget) {
                                @let i = hi * 100_000 + li;
                                @let n = line_no(l);
                                @let (cls, sign) = match l.kind { LineKind::Added => ("dl add", "+"), LineKind::Removed => ("dl del", "−"), LineKind::Context => ("dl", " ") };
                                div class=(cls) data-line=[n] {
                                    @match (n, can_comment) {
                                        (Some(n), true) => a.ln href="#" title="Comment on this line"
                                            hx-get={ "/sessions/" (key) "/review/form?path=" (urlencode(&f.path)) "&line=" (n) "&slot=" (slot_id(fi, i)) }
                                            hx-target={ "#" (slot_id(fi, i)) } hx-swap="innerHTML" { (n) },
                                        (n, _) => span.ln { @if let Some(n) = n { (n) } },
                                    }
                                    span.sg { (sign) }
                                    (code_line(&f.path, l))
                                }
                                @if let Some(n) = n {
                                    @for note in notes.iter().filter(|x| x.path.as_deref() == Some(f.path.as_str()) && x.line == Some(n)) {
                                        (note_view(note))
                                    }
                                }
                                div.rv-slot id=(slot_id(fi, i)) {}
                            }
                        }
                    }
                } }
            }
        }
    }
}

/// Percent-encode a path for a query string.
fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn review_page(who: &crate::auth::Identity, key: &str, v: &ReviewView) -> Markup {
    let s = &v.session;
    let mut budget = MAX_LINES;
    let general: Vec<&ReviewNote> = v.notes.iter().filter(|n| n.kind == "approval").collect();
    page(
        "Review",
        Some(who),
        html! {
            style { (PreEscaped(STYLE)) }
            h1 { "Review session " (s.id) }
            p.rv-meta.muted {
                a href={ "/projects/" (s.project_id) } { (v.project.name) }
                @if let Some(i) = s.issue_id { " · " a href={ "/issues/" (i) } { "issue " (i) } }
                " · " (s.tool)
                @if let Ok(d) = &v.diff {
                    " · " code #review-branch { (d.branch.as_deref().unwrap_or("detached HEAD")) }
                    " against " code #review-base { (d.base) }
                }
                " · " a href={ "/sessions/" (s.id) "/terminal" } { "Terminal" }
            }
            @if v.can_comment {
                div #review-approve {
                    form method="post" action={ "/sessions/" (key) "/review/approve" }
                        hx-post={ "/sessions/" (key) "/review/approve" } hx-target="#review-approve-result" hx-swap="innerHTML" hx-disabled-elt="find button" {
                        (csrf_field(who))
                        button #review-approve-button type="submit" { "Approve" }
                    }
                    @if s.branch.is_some() {
                        form method="post" action={ "/sessions/" (key) "/review/pull-request" }
                            hx-post={ "/sessions/" (key) "/review/pull-request" } hx-target="#review-approve-result" hx-swap="innerHTML" hx-disabled-elt="find button" {
                            (csrf_field(who))
                            button.secondary #review-pr-button type="submit" { "Open pull request" }
                        }
                    }
                    div #review-approve-result role="status" {}
                }
                p.muted { small { "Tap a line number to comment; the comment is sent to the agent." } }
            }
            @for n in &general { (note_view(n)) }
            @match &v.diff {
                Err(e) => p.error role="alert" #review-error { (e) },
                Ok(d) => {
                    @if v.files.is_empty() {
                        p.muted #review-empty { "No changes against " (d.base) "." }
                    }
                    @if d.truncated || v.files.iter().map(|f| f.hunks.iter().map(|h| h.lines.len()).sum::<usize>()).sum::<usize>() > MAX_LINES {
                        p.muted { "The diff is long; it is shortened here." }
                    }
                    div #review-files {
                        @for (fi, f) in v.files.iter().enumerate() {
                            (file_view(key, fi, f, &v.notes, v.can_comment, &mut budget))
                        }
                    }
                }
            }
        },
    )
}

/// `GET /sessions/{key}/review`
#[handler]
pub async fn review_get(
    poem::web::Data(app): AppData<'_>,
    Path(key): Path<String>,
    WebUser(who): WebUser,
) -> Response {
    match app.sessions.review(&who, &key).await {
        Ok(v) => review_page(&who, &key, &v).into_response(),
        Err(e) => not_found(&who, &e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LineQuery {
    path: String,
    line: u32,
    slot: String,
}

/// `GET /sessions/{key}/review/form?path=&line=&slot=`: the comment form for one line (htmx).
#[handler]
pub fn review_form(
    Path(key): Path<String>,
    Query(q): Query<LineQuery>,
    WebUser(who): WebUser,
) -> Response {
    let action = format!("/sessions/{key}/review/comment");
    let slot = if q.slot.starts_with("slot-")
        && q.slot
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        q.slot
    } else {
        String::new()
    };
    html! {
        form.rv-comment method="post" action=(action) hx-post=(action) hx-target={ "#" (slot) } hx-swap="innerHTML" hx-disabled-elt="find button" {
            (csrf_field(&who))
            input type="hidden" name="path" value=(q.path);
            input type="hidden" name="line" value=(q.line);
            input type="hidden" name="slot" value=(slot);
            label { small { "Comment on " (q.path) ":" (q.line) }
                textarea name="text" required maxlength=(crate::domain::review::MAX_COMMENT_CHARS) {}
            }
            button type="submit" { "Send to agent" }
        }
    }
    .into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CommentForm {
    path: String,
    line: u32,
    text: String,
}

/// `POST /sessions/{key}/review/comment`: keep the comment, type it into the agent's session;
/// for htmx the comment and what became of it, in place of the form.
#[handler]
pub async fn review_comment(
    req: &poem::Request,
    poem::web::Data(app): AppData<'_>,
    Path(key): Path<String>,
    CsrfForm(who, f): CsrfForm<CommentForm>,
) -> Response {
    let back = format!("/sessions/{key}/review");
    match app
        .sessions
        .review_comment(&who, &key, &f.path, f.line, &f.text)
        .await
    {
        Ok(c) => {
            let msg = match &c.delivered {
                Ok(()) => "Comment kept and sent to the agent.".to_string(),
                Err(why) => format!("Comment kept, but not sent to the agent: {why}."),
            };
            if !is_htmx(req) {
                return done(req, &back, &msg);
            }
            html! {
                (note_view(&c.note))
                @match &c.delivered {
                    Ok(()) => p.notice role="status" .rv-sent { small { (msg) } },
                    Err(_) => p.error role="alert" { small { (msg) } },
                }
            }
            .into_response()
        }
        Err(e) if is_htmx(req) => shown_error(
            e.status(),
            html! { p.error role="alert" { small { "Not kept: " (e.to_string()) } } },
        ),
        Err(e) => not_found(&who, &e),
    }
}

/// `POST /sessions/{key}/review/approve`: record the approval and hand it on; the outcome.
#[handler]
pub async fn review_approve(
    req: &poem::Request,
    poem::web::Data(app): AppData<'_>,
    Path(key): Path<String>,
    CsrfForm(who, _f): CsrfForm<NoFields>,
) -> Response {
    let back = format!("/sessions/{key}/review");
    match app.sessions.review_approve(&who, &key).await {
        Ok(a) if is_htmx(req) => html! {
            p.notice role="status" #review-approved { (a.outcome) }
        }
        .into_response(),
        Ok(a) => done(req, &back, &a.outcome),
        Err(e) if is_htmx(req) => shown_error(
            e.status(),
            html! { p.error role="alert" { "Not approved: " (e.to_string()) } },
        ),
        Err(e) => not_found(&who, &e),
    }
}

/// `POST /sessions/{key}/review/pull-request`: push the session's branch and open its pull
/// request (not merged); the outcome.
#[handler]
pub async fn review_pull_request(
    req: &poem::Request,
    poem::web::Data(app): AppData<'_>,
    Path(key): Path<String>,
    CsrfForm(who, _f): CsrfForm<NoFields>,
) -> Response {
    let back = format!("/sessions/{key}/review");
    match app.sessions.review_open_pull(&who, &key).await {
        Ok(pr) => {
            let msg = format!("Pull request #{} is {} ({}).", pr.number, pr.state, pr.url);
            if is_htmx(req) {
                html! { p.notice role="status" #review-pr-opened { (msg) } }.into_response()
            } else {
                done(req, &back, &msg)
            }
        }
        Err(e) if is_htmx(req) => shown_error(
            e.status(),
            html! { p.error role="alert" { "No pull request: " (e.to_string()) } },
        ),
        Err(e) => not_found(&who, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded_for_the_query() {
        assert_eq!(urlencode("src/a b&c.rs"), "src/a%20b%26c.rs");
    }
}
