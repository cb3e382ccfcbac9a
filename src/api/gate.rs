//! Request gate for `/api`: resolves the caller (key or session), bounds the body, audits every
//! write, and renders every error — ours, poem's, unknown routes, 405, 415, 413, 429 — as JSON.

use crate::auth::{AuthMethod, Identity};
use crate::domain::{AuditEntry, AuditSource};
use crate::error::AppError;
use crate::services::App;
use poem::http::{Method, StatusCode, header};
use poem::web::RemoteAddr;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use poem_openapi::SecurityScheme;
use poem_openapi::auth::{ApiKey, Bearer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub const SESSION_COOKIE: &str = "aiops_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The outcome of authentication, stored in the request for the security-scheme checkers.
#[derive(Clone)]
struct AuthState(Result<Identity, AppError>);

async fn checker(req: &Request) -> poem::Result<Identity> {
    match req.extensions().get::<AuthState>() {
        Some(AuthState(Ok(id))) => Ok(id.clone()),
        Some(AuthState(Err(e))) => Err(e.clone().into()),
        None => Err(AppError::unauthorized("Authentication required").into()),
    }
}

/// The caller of a request that passed through the gate (for plain poem handlers).
pub fn request_identity(req: &Request) -> Result<Identity, AppError> {
    match req.extensions().get::<AuthState>() {
        Some(AuthState(Ok(id))) => Ok(id.clone()),
        Some(AuthState(Err(e))) => Err(e.clone()),
        None => Err(AppError::unauthorized("Authentication required")),
    }
}

async fn bearer_checker(req: &Request, _: Bearer) -> poem::Result<Identity> {
    checker(req).await
}

async fn key_checker(req: &Request, _: ApiKey) -> poem::Result<Identity> {
    checker(req).await
}

/// `Authorization: Bearer aiops_…`
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    bearer_format = "aiops_<64 hex>",
    checker = "bearer_checker"
)]
pub struct BearerAuth(pub Identity);

/// `X-API-Key: aiops_…`
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "X-API-Key",
    key_in = "header",
    checker = "key_checker"
)]
pub struct KeyHeaderAuth(pub Identity);

/// The web session cookie (state-changing calls must also send `X-CSRF-Token`).
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "aiops_session",
    key_in = "cookie",
    checker = "key_checker"
)]
pub struct SessionAuth(pub Identity);

#[derive(SecurityScheme)]
pub enum Auth {
    Bearer(BearerAuth),
    ApiKey(KeyHeaderAuth),
    Session(SessionAuth),
}

impl Auth {
    pub fn identity(&self) -> &Identity {
        match self {
            Auth::Bearer(a) => &a.0,
            Auth::ApiKey(a) => &a.0,
            Auth::Session(a) => &a.0,
        }
    }
}

/// The client's address: the peer, or (when the peer is one of `trusted` reverse proxies) the
/// client its `Forwarded` / `X-Forwarded-For` header names.
pub fn client_ip(req: &Request, trusted: &[std::net::IpAddr]) -> String {
    let addr = req
        .extensions()
        .get::<RemoteAddr>()
        .unwrap_or(req.remote_addr());
    let Some(peer) = addr.as_socket_addr().map(|a| a.ip()) else {
        return addr.to_string();
    };
    if !trusted.contains(&peer) {
        return peer.to_string();
    }
    let h = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
    crate::domain::rules::forwarded_client(h("forwarded"), h("x-forwarded-for"), peer, trusted)
        .to_string()
}

pub fn cookie_value(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn is_write(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// API keys (by digest) whose `last_used_at` was recorded less than `FRESH_SECS` ago, as the
/// gate last saw it. Authenticating such a key only reads the store (the services write
/// `last_used_at` at most once a minute), so it runs on the async worker; any other key —
/// unknown here, stale, or imported with bcrypt — may write or hash slowly, so it goes through
/// `store::run_blocking`.
#[derive(Default)]
struct FreshKeys(Mutex<HashMap<String, crate::domain::Timestamp>>);

/// How far below the services' `last_used_at` resolution the gate stays: the gate and the
/// service each read the clock, and a step between the two readings must not make the gate
/// call a key fresh that the service then writes.
const FRESH_MARGIN_SECS: i64 = 10;
/// Derived from the services' resolution (not a number of its own), so a key the gate calls
/// fresh is one the service will not write: changing the resolution moves this with it.
const FRESH_SECS: i64 = crate::services::accounts::LAST_USED_RESOLUTION_SECS - FRESH_MARGIN_SECS;
const _: () = assert!(FRESH_SECS > 0, "the margin must stay below the resolution");
/// The map is cleared past this many keys (only keys that authenticated get in).
const FRESH_MAX: usize = 10_000;

impl FreshKeys {
    fn is_fresh(&self, digest: &str, now: crate::domain::Timestamp) -> bool {
        self.0
            .lock()
            .ok()
            .and_then(|m| m.get(digest).copied())
            .is_some_and(|t| (now - t).num_seconds() < FRESH_SECS)
    }

    fn note(&self, digest: String, last_used: crate::domain::Timestamp) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= FRESH_MAX && !m.contains_key(&digest) {
                m.clear();
            }
            m.insert(digest, last_used);
        }
    }
}

/// Authenticate an API key; store work that may write (or run bcrypt) leaves the async worker.
fn key_identity(app: &App, fresh: &FreshKeys, key: &str, slow: bool) -> Result<Identity, AppError> {
    let digest = crate::domain::keys::digest(key.trim());
    let res = if fresh.is_fresh(&digest, crate::domain::model::now()) {
        app.accounts.authenticate_key_with(key, slow)
    } else {
        crate::store::run_blocking(|| app.accounts.authenticate_key_with(key, slow))
    };
    if let Some(t) = res
        .as_ref()
        .ok()
        .and_then(|id| id.key.as_ref())
        .and_then(|k| k.last_used_at)
    {
        fresh.note(digest, t);
    }
    res
}

fn resolve(
    app: &App,
    fresh: &FreshKeys,
    req: &Request,
    client: &str,
) -> Result<Identity, AppError> {
    let headers = req.headers();
    let presented_key = if let Some(h) = headers.get(header::AUTHORIZATION) {
        let h = h.to_str().unwrap_or("");
        match h.strip_prefix("Bearer ") {
            Some(k) => Some(k.trim().to_string()),
            None => {
                return Err(AppError::unauthorized(
                    "Unsupported Authorization header: send 'Authorization: Bearer aiops_…' or 'X-API-Key: aiops_…'",
                ));
            }
        }
    } else {
        headers
            .get("x-api-key")
            .map(|v| v.to_str().unwrap_or("").trim().to_string())
    };
    if let Some(key) = presented_key {
        // A valid key always works, whoever else failed from the same address (every agent on
        // a host shares 127.0.0.1); only failing credentials are slowed down.
        let blocked = app.accounts.api_limiter.blocked_for(client);
        let res = key_identity(app, fresh, &key, blocked.is_none());
        if matches!(res, Err(AppError::Unauthorized { .. })) {
            if let Some(wait) = blocked {
                return Err(AppError::TooManyRequests(format!(
                    "Too many failed authentication attempts from {client}. Try again in {wait} seconds."
                )));
            }
            app.accounts.api_limiter.record_failure(client);
        }
        return res;
    }
    if let Some(token) = cookie_value(req, SESSION_COOKIE) {
        let id = app
            .accounts
            .session_identity(&token)?
            .ok_or_else(|| AppError::unauthorized("Your session has expired; log in again"))?;
        if is_write(req.method()) {
            let sent = headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let expected = id.csrf_token.as_deref().unwrap_or("");
            let ok: bool =
                subtle::ConstantTimeEq::ct_eq(sent.as_bytes(), expected.as_bytes()).into();
            if !ok || sent.is_empty() {
                return Err(AppError::Forbidden(
                    "Missing or invalid CSRF token: cookie-authenticated writes must send X-CSRF-Token".into(),
                ));
            }
        }
        return Ok(id);
    }
    Err(AppError::unauthorized(
        "Provide a valid API key in the Authorization header (Bearer) or X-API-Key",
    ))
}

/// Render any error as `{"error": …}` with the right status.
pub fn json_error(err: poem::Error) -> Response {
    if let Some(e) = err.downcast_ref::<AppError>() {
        return poem::error::ResponseError::as_response(e);
    }
    let status = err.status();
    let message = match status {
        StatusCode::NOT_FOUND => "Not found: no such API route or resource".to_string(),
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed for this route".to_string(),
        StatusCode::UNAUTHORIZED => {
            let e = AppError::unauthorized(
                "Provide a valid API key in the Authorization header (Bearer) or X-API-Key",
            );
            return poem::error::ResponseError::as_response(&e);
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            format!(
                "Unsupported content type: send JSON with Content-Type: application/json ({err})"
            )
        }
        StatusCode::PAYLOAD_TOO_LARGE => "Request body too large".to_string(),
        s if s.is_server_error() => {
            tracing::error!(error = %err, "request failed");
            "Internal server error; see the server log".to_string()
        }
        _ => format!("Invalid request: {err}"),
    };
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(serde_json::json!({ "error": message }).to_string())
}

pub(crate) enum BodyError {
    TooLarge,
    Io(std::io::Error),
}

/// Read at most `limit` bytes. A larger body is drained (up to 64 MiB more, then the connection
/// is dropped) so the client reads our 413 instead of a reset connection.
pub(crate) async fn read_body(body: poem::Body, limit: usize) -> Result<bytes::Bytes, BodyError> {
    use futures_util::StreamExt;
    const DRAIN_CAP: usize = 64 << 20;
    let mut stream = std::pin::pin!(body.into_bytes_stream());
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(BodyError::Io)?;
        seen += chunk.len();
        if seen > limit {
            if seen > limit + DRAIN_CAP {
                return Err(BodyError::TooLarge);
            }
            continue;
        }
        buf.extend_from_slice(&chunk);
    }
    if seen > limit {
        Err(BodyError::TooLarge)
    } else {
        Ok(buf.freeze())
    }
}

/// The 413 every route answers for a body over the limit (JSON under /api, a line of text
/// elsewhere, where browsers show it).
pub fn too_large(limit: usize, json: bool) -> Response {
    let msg = format!("Request body too large: the limit is {limit} bytes");
    if json {
        Response::builder()
            .status(StatusCode::PAYLOAD_TOO_LARGE)
            .content_type("application/json")
            .body(serde_json::json!({ "error": msg }).to_string())
    } else {
        Response::builder()
            .status(StatusCode::PAYLOAD_TOO_LARGE)
            .content_type("text/plain; charset=utf-8")
            .body(msg)
    }
}

/// One body limit for every route, applied to what is read after decompression (it sits
/// inside the compression layer): a small gzip body that inflates past the limit is refused
/// with 413 without ever being held whole.
pub struct BodyLimit {
    pub max: usize,
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        BodyLimitEndpoint {
            inner: ep,
            max: self.max,
        }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
    max: usize,
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        if is_write(req.method()) {
            let json = req.uri().path().starts_with("/api");
            match read_body(req.take_body(), self.max).await {
                Ok(bytes) => req.set_body(bytes),
                Err(BodyError::TooLarge) => return Ok(too_large(self.max, json)),
                Err(BodyError::Io(e)) => {
                    return Ok(json_error(poem::Error::from_string(
                        format!("could not read request body: {e}"),
                        StatusCode::BAD_REQUEST,
                    )));
                }
            }
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}

pub use crate::services::audit::audit_body;

pub struct ApiGate {
    app: Arc<App>,
    fresh: Arc<FreshKeys>,
}

impl ApiGate {
    pub fn new(app: Arc<App>) -> ApiGate {
        ApiGate {
            app,
            fresh: Arc::default(),
        }
    }
}

impl<E: Endpoint> Middleware<E> for ApiGate {
    type Output = ApiGateEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        ApiGateEndpoint {
            inner: ep,
            app: self.app.clone(),
            fresh: self.fresh.clone(),
        }
    }
}

pub struct ApiGateEndpoint<E> {
    inner: E,
    app: Arc<App>,
    fresh: Arc<FreshKeys>,
}

impl<E: Endpoint> Endpoint for ApiGateEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let started = Instant::now();
        let write = is_write(req.method());
        let client = client_ip(&req, &self.app.config.trusted_proxies);
        let mut body_json = None;
        if write {
            match read_body(req.take_body(), self.app.config.max_body_bytes).await {
                Ok(bytes) => {
                    body_json = serde_json::from_slice::<serde_json::Value>(&bytes).ok();
                    req.set_body(bytes);
                }
                Err(BodyError::TooLarge) => {
                    // Not audited: nobody has been identified yet.
                    return Ok(too_large(self.app.config.max_body_bytes, true));
                }
                Err(BodyError::Io(e)) => {
                    return Ok(json_error(poem::Error::from_string(
                        format!("could not read request body: {e}"),
                        StatusCode::BAD_REQUEST,
                    )));
                }
            }
        }
        let auth = resolve(&self.app, &self.fresh, &req, &client);
        let identity = auth.as_ref().ok().cloned();
        if let (Some(id), Some(ctx)) = (
            &identity,
            req.extensions().get::<crate::server::RequestCtx>(),
        ) {
            let _ = ctx.user.set(id.user.id.get());
        }
        let auth_error = auth.as_ref().err().cloned();
        req.extensions_mut().insert(AuthState(auth));
        let info = RequestInfo::of(&req);
        let mut unrouted = false;
        let (resp, error_message) = match self.inner.call(req).await {
            Ok(r) => {
                let r = r.into_response();
                let is_json = r
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("application/json"));
                if r.status().as_u16() >= 400 && !is_json {
                    (json_error(poem::Error::from_status(r.status())), None)
                } else {
                    (r, None)
                }
            }
            Err(e) => {
                // The security-scheme enum reports the last scheme's generic failure; the gate
                // knows the real reason (bad key, expired session, rate limit, CSRF).
                let e = match (&auth_error, e.is::<AppError>()) {
                    (Some(real), false) if e.status() == StatusCode::UNAUTHORIZED => {
                        real.clone().into()
                    }
                    _ => e,
                };
                // No such route (or method): nothing was done, so nothing is audited.
                unrouted = !e.is::<AppError>()
                    && matches!(
                        e.status(),
                        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
                    );
                let msg = e.to_string();
                (json_error(e), Some(msg))
            }
        };
        // Only identified callers' writes to real operations are audited: anonymous junk must
        // not grow the store.
        if write && identity.is_some() && !unrouted {
            self.audit(
                &info,
                identity.as_ref(),
                resp.status(),
                started,
                body_json,
                &client,
                error_message.as_deref(),
            );
        }
        Ok(resp)
    }
}

/// What an audit entry keeps of the request itself (the API's and the web's alike).
pub(crate) struct RequestInfo {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl RequestInfo {
    pub(crate) fn of(req: &Request) -> RequestInfo {
        RequestInfo {
            method: req.method().to_string(),
            path: req.original_uri().path().to_string(),
            query: req.original_uri().query().map(str::to_string),
            user_agent: req
                .headers()
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(512).collect()),
            request_id: req
                .extensions()
                .get::<crate::server::RequestCtx>()
                .map(|c| c.id.clone()),
        }
    }

    /// The audit entry of this request (`body` already redacted by `audit_body`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn entry(
        &self,
        source: AuditSource,
        who: &Identity,
        status: StatusCode,
        started: Instant,
        body: Option<serde_json::Value>,
        client: &str,
        error: Option<&str>,
    ) -> AuditEntry {
        AuditEntry {
            id: 0,
            user_id: Some(who.user.id),
            api_key_id: (who.method == AuthMethod::ApiKey)
                .then(|| who.key.as_ref().map(|k| k.id))
                .flatten(),
            method: self.method.clone(),
            path: self.path.clone(),
            query: self.query.clone(),
            request_body: body,
            status: status.as_u16(),
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            ip_address: Some(client.to_string()),
            user_agent: self.user_agent.clone(),
            error_message: error.map(|s| s.chars().take(1000).collect()),
            created_at: crate::domain::model::now(),
            source,
            request_id: self.request_id.clone(),
        }
    }
}

impl<E> ApiGateEndpoint<E> {
    #[allow(clippy::too_many_arguments)]
    fn audit(
        &self,
        req: &RequestInfo,
        who: Option<&Identity>,
        status: StatusCode,
        started: Instant,
        body: Option<serde_json::Value>,
        client: &str,
        error: Option<&str>,
    ) {
        let Some(who) = who else { return };
        let entry = req.entry(
            AuditSource::Api,
            who,
            status,
            started,
            body.map(audit_body),
            client,
            error,
        );
        crate::store::run_blocking(|| self.app.audit.record_audit(entry));
    }
}

#[cfg(test)]
mod fresh_tests {
    use super::*;

    #[test]
    fn only_keys_recorded_within_the_window_stay_on_the_worker() {
        let f = FreshKeys::default();
        let now = crate::domain::model::now();
        assert!(!f.is_fresh("d", now));
        f.note("d".into(), now - chrono::Duration::seconds(10));
        assert!(f.is_fresh("d", now));
        // Past the window the next authentication may write: it goes to run_blocking.
        assert!(!f.is_fresh("d", now + chrono::Duration::seconds(FRESH_SECS)));
        assert!(!f.is_fresh("other", now));
    }
}
