//! The web prelude every page module imports: the shared types, the answers (status pages,
//! shown errors, redirects with a flash message, the CSRF failure page, 404), and re-exports of
//! the session helpers, the layout's building blocks and the extractors.

pub(super) use super::extract::{CsrfForm, NoFields, WebForm, WebUser};
pub(super) use super::layout::{csrf_field, error_box, fmt_time, notice_box, page, swatch};
pub(super) use super::session::*;
use crate::auth::Identity;
use crate::error::AppError;
use crate::services::App;
use maud::{Markup, html};
use poem::http::{HeaderValue, StatusCode};
use poem::web::Data;
use poem::{IntoResponse, Request, Response};
use std::sync::Arc;

pub(super) type AppData<'a> = Data<&'a Arc<App>>;
pub(super) fn html_status(status: StatusCode, m: Markup) -> Response {
    m.into_response().with_status(status).into_response()
}

pub(super) fn forbidden_page(who: Option<&Identity>, msg: &str) -> Response {
    html_status(
        StatusCode::FORBIDDEN,
        page(
            "Forbidden",
            who,
            html! { h1 { "Forbidden" } p { (msg) } p { a href="/" { "Back to the dashboard" } } },
        ),
    )
}

/// An error shown inside the re-rendered page: the real status, plus a header that tells
/// assets/app.js to let htmx swap it in like a success (htmx drops 4xx answers otherwise), so
/// the message appears next to the form that was sent.
pub(super) fn shown_error(status: StatusCode, m: Markup) -> Response {
    let mut r = html_status(status, m);
    r.headers_mut()
        .insert(SHOWN_ERROR_HEADER, HeaderValue::from_static("1"));
    r
}

pub(super) const SHOWN_ERROR_HEADER: &str = "x-aiops-swap";

/// Whether htmx sent the request (it then wants a fragment, not a navigation).
pub(super) fn is_htmx(req: &Request) -> bool {
    req.headers()
        .get("hx-request")
        .is_some_and(|v| v.as_bytes() == b"true")
}

/// A success that moves elsewhere: redirect (303; for htmx, `HX-Redirect`, so the browser
/// loads the whole new page instead of cutting a fragment out of it) with a flash message
/// that assets/app.js shows as a toast there.
pub(super) fn done(req: &Request, to: &str, msg: &str) -> Response {
    let r = if is_htmx(req) {
        let mut r = StatusCode::OK.into_response();
        if let Ok(v) = HeaderValue::from_str(to) {
            r.headers_mut().insert("hx-redirect", v);
        }
        r
    } else {
        redirect(to)
    };
    with_cookie(r, &super::layout::flash_cookie(msg))
}

/// Like `done`, for forms whose htmx target is on the page redirected to: a plain 303 (htmx
/// follows it and swaps its part of that page), with the flash message.
pub(super) fn done_here(to: &str, msg: &str) -> Response {
    with_cookie(redirect(to), &super::layout::flash_cookie(msg))
}

pub(super) fn csrf_failed(who: &Identity) -> Response {
    forbidden_page(
        Some(who),
        "Your form expired or did not come from this site; reload the page and try again.",
    )
}

/// The status of a failed web action: the error's own (400 bad input, 409 conflict, 502 the
/// tracker failed …). Pages re-rendered with the error use `shown_error`, so htmx swaps them in.
pub(super) fn error_status(e: &AppError) -> StatusCode {
    e.status()
}

pub(super) fn not_found(who: &Identity, e: &AppError) -> Response {
    html_status(
        e.status(),
        page(
            "Not available",
            Some(who),
            html! { h1 { "Not available" } p { (e.to_string()) } p { a href="/" { "Dashboard" } } },
        ),
    )
}
/// 404 for unknown pages, with the shell when logged in.
pub fn not_found_page(who: Option<&Identity>) -> Response {
    html_status(
        StatusCode::NOT_FOUND,
        page(
            "Not found",
            who,
            html! { h1 { "Not found" } p { a href="/" { "Dashboard" } } },
        ),
    )
}

/// A GET of an address that only takes a form post (`/issues/5/close` reloaded after the
/// post): back to the page the form was on (the address without its action).
pub fn form_address_get(path: &str) -> Response {
    redirect(&form_parent(path))
}

/// `/issues/5/close` → `/issues/5`; `/logout` → `/`.
pub(super) fn form_parent(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => trimmed[..i].to_string(),
    }
}

#[cfg(test)]
mod form_parent_tests {
    #[test]
    fn a_form_address_leads_back_to_its_page() {
        assert_eq!(super::form_parent("/issues/5/close"), "/issues/5");
        assert_eq!(super::form_parent("/sessions/3/stop/"), "/sessions/3");
        assert_eq!(super::form_parent("/logout"), "/");
        assert_eq!(super::form_parent("/"), "/");
    }
}
