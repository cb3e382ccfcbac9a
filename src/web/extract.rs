//! poem extractors for the page handlers: `WebUser` (the signed-in web identity, else the
//! redirect to log in), `CsrfForm<T>` (a urlencoded form checked against the session's CSRF
//! token, decoded into `T`) and `WebForm<T>` (the same form without the check, for the login
//! and setup forms, which have no session yet).
//!
//! A refusal is a `poem::Error` carrying the finished answer (the login redirect or the
//! "form expired" page) and marked `Rejected`; `answered` turns it back into that response,
//! so the middlewares around the handlers (`audit::WebAudit`, the shell) see it as the
//! handler's own answer, exactly as when the handlers returned it themselves.

use super::prelude::csrf_failed;
use super::session::{csrf_ok, current, to_login};
use crate::auth::Identity;
use crate::services::App;
use poem::web::{Form, RequestBody};
use poem::{Body, FromRequest, Request, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::Arc;

/// Marks an error that is a finished answer (see `answered`).
#[derive(Clone, Copy)]
struct Rejected;

fn rejected(resp: Response) -> poem::Error {
    let mut e = poem::Error::from_response(resp);
    e.set_data(Rejected);
    e
}

/// An extractor's refusal as the response it carries (`Ok`); every other outcome unchanged.
pub fn answered(r: poem::Result<Response>) -> poem::Result<Response> {
    match r {
        Err(e) if e.data::<Rejected>().is_some() => Ok(e.into_response()),
        other => other,
    }
}

fn app_of(req: &Request) -> poem::Result<&Arc<App>> {
    req.data::<Arc<App>>().ok_or_else(|| {
        poem::Error::from_string(
            "the web routes are mounted without the application state; this is a bug",
            poem::http::StatusCode::INTERNAL_SERVER_ERROR,
        )
    })
}

/// The signed-in web user (the session cookie). Nobody signed in: a redirect to the login
/// page that comes back here afterwards (`session::to_login`), for htmx requests too.
pub struct WebUser(pub Identity);

impl<'a> FromRequest<'a> for WebUser {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let app = app_of(req)?;
        match current(app, req) {
            Some(who) => Ok(WebUser(who)),
            None => Err(rejected(to_login(req))),
        }
    }
}

/// The form's fields as poem's `Form` reads them (same errors for a wrong content type or a
/// bad encoding); a name sent twice keeps its last value.
async fn fields(req: &Request, body: &mut RequestBody) -> poem::Result<HashMap<String, String>> {
    let Form(f) = Form::<HashMap<String, String>>::from_request(req, body).await?;
    Ok(f)
}

/// The fields decoded into `T`. `T`'s fields are all optional (`Option` or `#[serde(default)]`),
/// so a missing field is the handler's to explain, never a bare 400.
async fn typed<T: DeserializeOwned>(req: &Request, f: &HashMap<String, String>) -> poem::Result<T> {
    let encoded = f
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let Form(t) = Form::<T>::from_request(req, &mut RequestBody::new(Body::from(encoded))).await?;
    Ok(t)
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A state-changing form of the signed-in user: the body read as `Form` reads it, then the
/// caller (else the login redirect), then its `csrf_token` field (or `X-CSRF-Token` header)
/// checked against the session's (`session::csrf_ok`; else the "form expired" page, 403),
/// then the fields decoded into `T`.
pub struct CsrfForm<T>(pub Identity, pub T);

impl<'a, T: DeserializeOwned> FromRequest<'a> for CsrfForm<T> {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let f = fields(req, body).await?;
        let app = app_of(req)?;
        let Some(who) = current(app, req) else {
            return Err(rejected(to_login(req)));
        };
        if !csrf_ok(&who, req, f.get("csrf_token").map(String::as_str)) {
            return Err(rejected(csrf_failed(&who)));
        }
        let t = typed(req, &f).await?;
        Ok(CsrfForm(who, t))
    }
}

/// A form without a session check (login, setup: they check their own tokens).
pub struct WebForm<T>(pub T);

impl<'a, T: DeserializeOwned> FromRequest<'a> for WebForm<T> {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let f = fields(req, body).await?;
        Ok(WebForm(typed(req, &f).await?))
    }
}

/// A form with no fields of its own (a button: delete, revoke, log out).
#[derive(Deserialize)]
pub struct NoFields {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Sample {
        name: Option<String>,
        admin: Option<String>,
        #[serde(default)]
        note: String,
    }

    fn post(body: &str) -> (Request, RequestBody) {
        let req = Request::builder()
            .method(poem::http::Method::POST)
            .content_type("application/x-www-form-urlencoded")
            .finish();
        (req, RequestBody::new(Body::from(body.to_string())))
    }

    #[tokio::test]
    async fn typed_forms_keep_values_and_tell_missing_from_blank_fields() {
        let (req, mut body) = post("name=a+b%26c&admin=true&note=x%3Dy&name=last%20one");
        let f = fields(&req, &mut body).await.expect("fields");
        let s: Sample = typed(&req, &f).await.expect("typed");
        assert_eq!(s.name.as_deref(), Some("last one"));
        assert_eq!(s.admin.as_deref(), Some("true"));
        assert_eq!(s.note, "x=y");

        let (req, mut body) = post("admin=on");
        let f = fields(&req, &mut body).await.expect("fields");
        let s: Sample = typed(&req, &f).await.expect("typed");
        assert_eq!(s.name, None);
        assert_eq!(s.admin.as_deref(), Some("on"));
        assert_eq!(s.note, "");

        // A field sent blank is there (`Some("")`), unlike one not sent (`None`).
        let (req, mut body) = post("name=&note=");
        let f = fields(&req, &mut body).await.expect("fields");
        let s: Sample = typed(&req, &f).await.expect("typed");
        assert_eq!(s.name.as_deref(), Some(""));
        assert_eq!(s.admin, None);
        assert_eq!(s.note, "");
    }

    #[tokio::test]
    async fn a_refusal_is_answered_with_its_response() {
        let r =
            answered(Err(rejected(super::super::session::redirect("/login")))).expect("answered");
        assert_eq!(r.status(), poem::http::StatusCode::SEE_OTHER);
        let other = answered(Err(poem::Error::from_status(
            poem::http::StatusCode::BAD_REQUEST,
        )));
        assert!(other.is_err());
    }
}
