//! The HTTP client every provider shares: timeouts, retries with backoff on 429/5xx (and
//! GitHub's 403 secondary rate limit), and upstream error messages extracted from the JSON.
//!
//! Writes that create something (POST: a new issue, a comment, a Jira transition) are retried
//! only when the tracker provably never got them (the connection could not be made) or when it
//! said so itself (429, GitHub's rate-limit 403). After a timeout or a 5xx the tracker may
//! have carried the request out, so resending could create a duplicate: the caller gets an
//! error saying so instead.
//!
//! TLS: rustls with the bundled Mozilla roots, the system's roots (`/etc/ssl/certs`,
//! `SSL_CERT_FILE`), and an optional extra PEM bundle (`ca_bundle`) for trackers behind a
//! private CA.

use super::{TResult, TrackerError, wire};
use crate::error::{AppError, AppResult};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one tracker request may take, unless configured (`tracker_timeout_secs`).
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;

#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    /// For messages: how long a request and a connection attempt may take.
    timeout: Duration,
    connect_timeout: Duration,
}

/// What the client is built from (see `Config::tracker_timeout_secs` and `Config::ca_bundle`).
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Extra trusted CA certificates (a PEM file), on top of the bundled and system roots.
    pub ca_bundle: Option<PathBuf>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            ca_bundle: None,
        }
    }
}

impl HttpOptions {
    pub fn from_config(c: &crate::config::Config) -> HttpOptions {
        HttpOptions {
            timeout: Duration::from_secs(c.tracker_timeout_secs),
            ca_bundle: c.ca_bundle.clone(),
        }
    }
}

/// The certificates of a PEM bundle; a clear error when the file cannot be read or holds none.
pub fn load_ca_bundle(path: &Path) -> AppResult<Vec<reqwest::Certificate>> {
    let what = |e: String| {
        AppError::BadRequest(format!(
            "ca_bundle {}: {e} (give a PEM file of CA certificates, e.g. /etc/ssl/certs/my-ca.pem, or unset ca_bundle / AIOPS_CA_BUNDLE)",
            path.display()
        ))
    };
    let pem = std::fs::read(path).map_err(|e| what(format!("cannot read it: {e}")))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| what(format!("not a valid PEM certificate bundle: {e}")))?;
    if certs.is_empty() {
        return Err(what(
            "holds no certificate (no -----BEGIN CERTIFICATE----- block)".into(),
        ));
    }
    Ok(certs)
}

impl Http {
    /// Default options: 30 s timeout, bundled and system roots.
    #[cfg(test)]
    pub fn new() -> AppResult<Http> {
        Http::with_options(&HttpOptions::default())
    }

    pub fn from_config(c: &crate::config::Config) -> AppResult<Http> {
        Http::with_options(&HttpOptions::from_config(c))
    }

    pub fn with_options(o: &HttpOptions) -> AppResult<Http> {
        let connect_timeout = Duration::from_secs(10).min(o.timeout);
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("aiops/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(connect_timeout)
            .timeout(o.timeout)
            .pool_max_idle_per_host(8);
        if let Some(p) = &o.ca_bundle {
            for cert in load_ca_bundle(p)? {
                b = b.add_root_certificate(cert);
            }
        }
        let client = b.build().map_err(|e| {
            let hint = if o.ca_bundle.is_some() {
                " (check the certificates in ca_bundle)"
            } else {
                ""
            };
            AppError::BadRequest(format!("cannot build the tracker HTTP client: {e}{hint}"))
        })?;
        Ok(Http {
            client,
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            timeout: o.timeout,
            connect_timeout,
        })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Send with retries; `Ok` only for 2xx. `label` names the tracker in messages ("GitHub").
    /// A POST is resent only when it provably never reached the tracker (see the module doc).
    pub async fn send(&self, label: &str, rb: RequestBuilder) -> TResult<Response> {
        let (client, request) = rb.build_split();
        let request = request.map_err(|e| {
            TrackerError::Invalid(format!(
                "{label}: cannot make the request: {}",
                without_url(&e)
            ))
        })?;
        // Whether this request may be sent twice.
        let idempotent = request.method() != Method::POST;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let req = request.try_clone().ok_or_else(|| {
                TrackerError::Failed(format!("{label}: request cannot be retried"))
            })?;
            let last = attempt >= self.max_attempts;
            match client.execute(req).await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let status = resp.status();
                    let refused_unprocessed = unprocessed(status, resp.headers());
                    let retry = retryable(status, resp.headers());
                    let wait = self.delay(attempt, resp.headers());
                    let path = resp.url().path().to_string();
                    let text = resp.text().await.unwrap_or_default();
                    let msg = upstream_message(label, status, &text);
                    if retry && !idempotent && !refused_unprocessed {
                        tracing::warn!(tracker = label, %path, status = status.as_u16(), "tracker failed a write; not resent (it may have been carried out)");
                        return Err(TrackerError::Failed(format!(
                            "{msg}. The request reached {label}, which may or may not have carried it out (an issue or comment may have been created): check {label} before trying again"
                        )));
                    }
                    if retry && !last {
                        tracing::warn!(tracker = label, %path, status = status.as_u16(), attempt, wait_ms = wait.as_millis() as u64, "tracker asked us to retry");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    if retry {
                        let next = if refused_unprocessed {
                            format!(
                                "{label} is rate-limiting this token; wait a few minutes and try again"
                            )
                        } else {
                            format!(
                                "{label} itself is failing; try again later, or check its status page"
                            )
                        };
                        return Err(TrackerError::Failed(format!(
                            "{msg} (gave up after {attempt} attempts) — {next}"
                        )));
                    }
                    return Err(TrackerError::Refused(msg, status.as_u16()));
                }
                Err(e) => {
                    // A connect error means nothing was sent; anything else may have arrived.
                    let cause = classify(e.is_connect(), e.is_timeout(), &error_chain(&e));
                    let limit = if e.is_connect() {
                        self.connect_timeout
                    } else {
                        self.timeout
                    };
                    let origin = e
                        .url()
                        .map(|u| u.origin().ascii_serialization())
                        .unwrap_or_else(|| "the tracker".into());
                    if !idempotent && !e.is_connect() {
                        tracing::warn!(
                            tracker = label,
                            ?cause,
                            "tracker failed on a write; not resent (it may have been carried out)"
                        );
                        return Err(TrackerError::Failed(format!(
                            "{}. The request was sent, so {label} may or may not have carried it out (an issue or comment may have been created): check {label} before trying again",
                            transport_message(label, &origin, &cause, limit, false)
                        )));
                    }
                    if !last {
                        let wait = self.delay(attempt, &HeaderMap::new());
                        tracing::warn!(
                            tracker = label,
                            attempt,
                            ?cause,
                            "tracker unreachable; retrying"
                        );
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    let tries = if attempt > 1 {
                        format!(" (tried {attempt} times)")
                    } else {
                        String::new()
                    };
                    return Err(TrackerError::Failed(format!(
                        "{}{tries}",
                        transport_message(label, &origin, &cause, limit, true)
                    )));
                }
            }
        }
    }

    /// Send and parse a JSON answer (an empty body gives `null`).
    pub async fn json(&self, label: &str, rb: RequestBuilder) -> TResult<(Value, HeaderMap)> {
        let resp = self.send(label, rb).await?;
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(|e| {
            TrackerError::Failed(format!(
                "{label}: cannot read the answer: {}",
                without_url(&e)
            ))
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok((Value::Null, headers));
        }
        let v = serde_json::from_slice(&bytes).map_err(|e| {
            TrackerError::Failed(format!("{label} answered with invalid JSON: {e}"))
        })?;
        Ok((v, headers))
    }

    fn delay(&self, attempt: u32, headers: &HeaderMap) -> Duration {
        let header_secs = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if let Some(secs) = header_secs("retry-after") {
            return Duration::from_secs(secs).min(self.max_delay);
        }
        if header_secs("x-ratelimit-remaining") == Some(0)
            && let Some(reset) = header_secs("x-ratelimit-reset")
        {
            let now = crate::domain::model::now().timestamp().max(0) as u64;
            return Duration::from_secs(reset.saturating_sub(now).max(1)).min(self.max_delay);
        }
        (self.base_delay * 2u32.saturating_pow(attempt - 1)).min(self.max_delay)
    }
}

fn retryable(status: StatusCode, headers: &HeaderMap) -> bool {
    status.is_server_error() || unprocessed(status, headers)
}

/// The tracker said it did not carry the request out (rate limited): safe to resend, even a
/// write.
fn unprocessed(status: StatusCode, headers: &HeaderMap) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN
            && (headers.contains_key("retry-after")
                || headers
                    .get("x-ratelimit-remaining")
                    .is_some_and(|v| v.as_bytes() == b"0")))
}

/// Why a request never got an HTTP answer, from reqwest's flags and the error's source chain
/// (hyper, rustls, io errors).
#[derive(Debug, Clone, PartialEq)]
pub enum TransportCause {
    /// The host name does not resolve.
    Dns,
    /// Nothing listens on that host and port.
    Refused,
    /// The connection was made, then closed or reset before an answer.
    Closed,
    /// The server's certificate is not trusted (or is for another name, or expired).
    Certificate(String),
    /// TLS failed otherwise (often: https against a plain-HTTP port).
    Tls(String),
    /// No answer in time; `connect`: the connection itself could not be made in time.
    Timeout { connect: bool },
    /// Anything else, in the library's words.
    Other(String),
}

/// The messages of an error and all its sources, outermost first.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            // The kind is more reliable than the OS's wording.
            out.push(format!("io kind: {:?}", io.kind()));
        }
        out.push(c.to_string());
        cause = c.source();
    }
    out
}

/// Sort an error into a cause someone can act on. A plain function of the facts, so that it is
/// tested without a network.
pub fn classify(is_connect: bool, is_timeout: bool, chain: &[String]) -> TransportCause {
    let all = chain.join(" | ").to_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| all.contains(n));
    // The innermost message is the most specific.
    let detail = chain
        .iter()
        .rev()
        .find(|m| !m.starts_with("io kind:"))
        .cloned()
        .unwrap_or_default();
    if is_timeout || has(&["io kind: timedout", "operation timed out"]) {
        return TransportCause::Timeout {
            connect: is_connect,
        };
    }
    if has(&[
        "dns error",
        "failed to lookup address",
        "name or service not known",
        "no address associated",
        "nodename nor servname",
        "temporary failure in name resolution",
    ]) {
        return TransportCause::Dns;
    }
    if has(&["io kind: connectionrefused", "connection refused"]) {
        return TransportCause::Refused;
    }
    if has(&[
        "certificate",
        "unknownissuer",
        "notvalidforname",
        "badsignature",
    ]) {
        return TransportCause::Certificate(detail);
    }
    if has(&[
        "tls",
        "handshake",
        "corrupt message",
        "invalidcontenttype",
        "alert",
    ]) {
        return TransportCause::Tls(detail);
    }
    if has(&[
        "io kind: connectionreset",
        "io kind: connectionaborted",
        "io kind: unexpectedeof",
        "io kind: brokenpipe",
        "connection reset",
        "connection closed",
        "incomplete message",
        "unexpected eof",
        "unexpected end of file",
    ]) {
        return TransportCause::Closed;
    }
    if is_connect && detail.is_empty() {
        return TransportCause::Other("the connection could not be made".into());
    }
    TransportCause::Other(detail)
}

fn secs(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// "GitLab could not reach https://gitlab.example.com: DNS lookup failed for
/// gitlab.example.com — check the integration's base URL …": the cause and the next step.
/// `advice`: add the next step (left out when the caller adds its own).
pub fn transport_message(
    label: &str,
    origin: &str,
    cause: &TransportCause,
    limit: Duration,
    advice: bool,
) -> String {
    let host = reqwest::Url::parse(origin)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| origin.to_string());
    let (what, next) = match cause {
        TransportCause::Timeout { connect: true } => {
            return format!(
                "{label} timed out: no connection to {origin} within {}{}",
                secs(limit),
                if advice {
                    " — check the integration's base URL, and that a firewall or proxy does not block this server"
                } else {
                    ""
                }
            );
        }
        TransportCause::Timeout { connect: false } => {
            return format!(
                "{label} timed out after {} waiting for {origin}{}",
                secs(limit),
                if advice {
                    " — the tracker or the network is slow; try again later, or raise tracker_timeout_secs (AIOPS_TRACKER_TIMEOUT_SECS)"
                } else {
                    ""
                }
            );
        }
        TransportCause::Dns => (
            format!("DNS lookup failed for {host}"),
            "check the integration's base URL, and this server's DNS or proxy settings".to_string(),
        ),
        TransportCause::Refused => (
            "connection refused".to_string(),
            "nothing listens there: check the host and port in the integration's base URL, and that the tracker is running".to_string(),
        ),
        TransportCause::Closed => (
            "the server closed the connection without an answer".to_string(),
            "check that the base URL points at the tracker (http or https, host and port), and any proxy or firewall in between".to_string(),
        ),
        TransportCause::Certificate(d) => (
            format!("TLS certificate not trusted ({d})"),
            "if the tracker uses a private CA, set ca_bundle (AIOPS_CA_BUNDLE) to that CA's PEM file; else check the host name in the base URL".to_string(),
        ),
        TransportCause::Tls(d) => (
            format!("TLS handshake failed ({d})"),
            "check http vs https and the port in the integration's base URL".to_string(),
        ),
        TransportCause::Other(d) => (
            d.clone(),
            "check the integration's base URL and this server's network".to_string(),
        ),
    };
    if advice {
        format!("{label} could not reach {origin}: {what} — {next}")
    } else {
        format!("{label} could not reach {origin}: {what}")
    }
}

/// reqwest errors include the URL; drop it (query strings may carry tokens in some setups).
/// The causes are kept ("invalid peer certificate: UnknownIssuer" says what to fix).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cause = c.source();
    }
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "");
    }
    s = s.replace(" for url ()", "").trim().to_string();
    if s.contains("certificate") {
        s.push_str(
            " (a tracker whose certificate comes from a private CA needs that CA in ca_bundle / AIOPS_CA_BUNDLE)",
        );
    }
    s
}

/// "GitHub API error 422 - Validation Failed: title missing", from whatever JSON shape the
/// tracker uses (`message`, `error`, `errorMessages`, `errors`).
pub fn upstream_message(label: &str, status: StatusCode, text: &str) -> String {
    let detail = serde_json::from_str::<Value>(text)
        .ok()
        .map(json_message)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| text.trim().chars().take(300).collect());
    let base = if detail.is_empty() {
        format!("{label} API error {}", status.as_u16())
    } else {
        format!("{label} API error {} - {detail}", status.as_u16())
    };
    format!("{base}{}", next_step(status))
}

/// What to do about a tracker's refusal, where the status says it clearly.
fn next_step(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => {
            " — the token is invalid or expired: update it on the integration (or your personal token under your credentials)"
        }
        403 => {
            " — the token lacks the permission this needs: give it access to the repository or project, or use another token"
        }
        _ => "",
    }
}

/// An error answer, in any of the trackers' shapes (see `wire` for the leniency rules).
#[derive(Deserialize, Default)]
#[serde(default)]
struct ErrorBody {
    /// GitHub, GitLab: a string; GitLab also `{"field": ["message"]}` or a list.
    message: Value,
    /// GitLab (OAuth): a string.
    #[serde(deserialize_with = "wire::string")]
    error: Option<String>,
    #[serde(deserialize_with = "wire::string")]
    error_description: Option<String>,
    /// Jira: a list of messages.
    #[serde(rename = "errorMessages", deserialize_with = "wire::values")]
    error_messages: Vec<Value>,
    /// Jira: `{"field": "message"}`; GitHub: a list of [`ErrorItem`]s (or of plain values).
    errors: Value,
}

/// One of GitHub's `errors`: a `message`, else a `field` and its `code`. Each is `Some` when its
/// key is there, whatever the value.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ErrorItem {
    #[serde(deserialize_with = "wire::present_value")]
    message: Option<Value>,
    #[serde(deserialize_with = "wire::present_value")]
    field: Option<Value>,
    #[serde(deserialize_with = "wire::present_value")]
    code: Option<Value>,
}

fn json_message(v: Value) -> String {
    let b: ErrorBody = wire::obj(v);
    let mut parts: Vec<String> = Vec::new();
    match b.message {
        Value::String(s) => parts.push(s),
        Value::Object(o) => {
            for (k, val) in &o {
                parts.push(format!("{k}: {}", flat(val)));
            }
        }
        Value::Array(a) => parts.extend(a.iter().map(flat)),
        _ => {}
    }
    parts.extend(b.error);
    parts.extend(b.error_description);
    parts.extend(b.error_messages.iter().map(flat).filter(|s| !s.is_empty()));
    match b.errors {
        Value::Object(o) => {
            for (k, val) in &o {
                parts.push(format!("{k}: {}", flat(val)));
            }
        }
        Value::Array(a) => {
            for e in a {
                let item: ErrorItem = wire::obj(e.clone());
                let m = item
                    .message
                    .as_ref()
                    .map(flat)
                    .or_else(|| {
                        let field = flat(item.field.as_ref()?);
                        let code = item.code.as_ref().map(flat).unwrap_or_default();
                        Some(format!("{field} {code}"))
                    })
                    .unwrap_or_else(|| flat(&e));
                parts.push(m);
            }
        }
        _ => {}
    }
    parts.join("; ")
}

fn flat(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(flat).collect::<Vec<_>>().join(", "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_messages_from_each_tracker_shape() {
        let gh = r#"{"message":"Validation Failed","errors":[{"resource":"Issue","field":"title","code":"missing_field"}]}"#;
        assert_eq!(
            upstream_message("GitHub", StatusCode::UNPROCESSABLE_ENTITY, gh),
            "GitHub API error 422 - Validation Failed; title missing_field"
        );
        let gl = r#"{"message":{"title":["can't be blank"]}}"#;
        assert_eq!(
            upstream_message("GitLab", StatusCode::BAD_REQUEST, gl),
            "GitLab API error 400 - title: can't be blank"
        );
        let jira = r#"{"errorMessages":[],"errors":{"summary":"You must specify a summary of the issue."}}"#;
        assert_eq!(
            upstream_message("Jira", StatusCode::BAD_REQUEST, jira),
            "Jira API error 400 - summary: You must specify a summary of the issue."
        );
        assert_eq!(
            upstream_message("Jira", StatusCode::UNAUTHORIZED, ""),
            "Jira API error 401 — the token is invalid or expired: update it on the integration (or your personal token under your credentials)"
        );
        assert!(
            upstream_message(
                "GitHub",
                StatusCode::FORBIDDEN,
                r#"{"message":"Resource not accessible"}"#
            )
            .starts_with("GitHub API error 403 - Resource not accessible — the token lacks")
        );
        assert_eq!(
            upstream_message("GitHub", StatusCode::BAD_GATEWAY, "<html>oops</html>"),
            "GitHub API error 502 - <html>oops</html>"
        );
    }

    #[test]
    fn retry_rules() {
        let h = HeaderMap::new();
        assert!(retryable(StatusCode::TOO_MANY_REQUESTS, &h));
        assert!(retryable(StatusCode::SERVICE_UNAVAILABLE, &h));
        assert!(!retryable(StatusCode::FORBIDDEN, &h));
        assert!(!retryable(StatusCode::NOT_FOUND, &h));
        let mut limited = HeaderMap::new();
        limited.insert("x-ratelimit-remaining", "0".parse().unwrap());
        assert!(retryable(StatusCode::FORBIDDEN, &limited));
        let http = Http::new().unwrap();
        let mut ra = HeaderMap::new();
        ra.insert("retry-after", "2".parse().unwrap());
        assert_eq!(http.delay(1, &ra), Duration::from_secs(2));
        assert_eq!(http.delay(3, &h), Duration::from_millis(1000));
        ra.insert("retry-after", "9999".parse().unwrap());
        assert_eq!(http.delay(1, &ra), Duration::from_secs(30));
    }

    // ---- writes are not resent when they may have been carried out ----------------------

    /// A one-route HTTP/1.1 server on loopback that counts requests and answers each after
    /// `stall` with `status`.
    async fn counting_server(
        status: u16,
        stall: Duration,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let h = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let h = h.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // Headers, then as much body as Content-Length says.
                    loop {
                        let Ok(n) = sock.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let len = text[..end]
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse::<usize>().ok())?
                                })
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + len {
                                break;
                            }
                        }
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(stall).await;
                    let body = r#"{"message":"Server Error"}"#;
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        (url, hits)
    }

    fn quick(timeout: Duration) -> Http {
        let mut http = Http::with_options(&HttpOptions {
            timeout,
            ca_bundle: None,
        })
        .unwrap();
        http.base_delay = Duration::from_millis(1);
        http
    }

    fn sent(hits: &std::sync::atomic::AtomicUsize) -> usize {
        hits.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_post_answered_5xx_is_sent_once_and_said_to_maybe_have_happened() {
        let (url, hits) = counting_server(502, Duration::ZERO).await;
        let http = quick(Duration::from_secs(5));
        let err = http
            .send(
                "GitHub",
                http.client()
                    .post(format!("{url}/repos/o/r/issues"))
                    .json(&serde_json::json!({"title": "x"})),
            )
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(sent(&hits), 1, "a POST answered 502 is not resent");
        assert!(
            err.starts_with("GitHub API error 502 - Server Error")
                && err.contains("may or may not have carried it out")
                && err.contains("check GitHub before trying again"),
            "{err}"
        );
        // Reads and updates are still retried.
        for m in [Method::GET, Method::PATCH, Method::PUT, Method::DELETE] {
            let (url, hits) = counting_server(503, Duration::ZERO).await;
            let err = http
                .send(
                    "GitLab",
                    http.client().request(m.clone(), format!("{url}/x")),
                )
                .await
                .unwrap_err()
                .to_string();
            assert_eq!(sent(&hits), 4, "{m} is retried");
            assert!(err.contains("gave up after 4 attempts"), "{err}");
        }
    }

    #[tokio::test]
    async fn a_post_that_times_out_is_sent_once() {
        let (url, hits) = counting_server(201, Duration::from_secs(3)).await;
        let http = quick(Duration::from_millis(500));
        let err = http
            .send(
                "Jira",
                http.client()
                    .post(format!("{url}/rest/api/3/issue/OPS-1/comment"))
                    .json(&serde_json::json!({"body": "hi"})),
            )
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(sent(&hits), 1, "a POST that timed out is not resent");
        assert!(
            err.starts_with("Jira timed out")
                && err.contains("may or may not have carried it out")
                && err.contains("check Jira before trying again"),
            "{err}"
        );
        // A GET that times out is retried.
        let (url, hits) = counting_server(200, Duration::from_secs(3)).await;
        let err = http
            .send("Jira", http.client().get(format!("{url}/x")))
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(sent(&hits), 4, "{err}");
    }

    #[tokio::test]
    async fn a_post_is_retried_when_it_provably_was_not_carried_out() {
        // 429: the tracker says it did nothing.
        let (url, hits) = counting_server(429, Duration::ZERO).await;
        let http = quick(Duration::from_secs(5));
        let err = http
            .send("GitHub", http.client().post(format!("{url}/x")).body("{}"))
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(sent(&hits), 4, "{err}");
        assert!(err.contains("gave up after 4 attempts"), "{err}");
        // Nothing listening: the connection was never made.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = http
            .send(
                "GitLab",
                http.client().post(format!("http://127.0.0.1:{port}/x")),
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "GitLab could not reach http://127.0.0.1:{port}: connection refused — "
            )) && err.contains("check the host and port")
                && err.ends_with("(tried 4 times)"),
            "{err}"
        );
    }

    // ---- what a transport failure is said to be ---------------------------------------------

    fn chain(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn transport_errors_are_sorted_by_cause() {
        use TransportCause::*;
        let dns = chain(&[
            "error sending request",
            "client error (Connect)",
            "dns error: failed to lookup address information: Name or service not known",
        ]);
        assert_eq!(classify(true, false, &dns), Dns);
        let refused = chain(&[
            "error sending request",
            "tcp connect error",
            "io kind: ConnectionRefused",
            "Connection refused (os error 111)",
        ]);
        assert_eq!(classify(true, false, &refused), Refused);
        let cert = chain(&[
            "error sending request",
            "invalid peer certificate: UnknownIssuer",
        ]);
        assert_eq!(
            classify(true, false, &cert),
            Certificate("invalid peer certificate: UnknownIssuer".into())
        );
        let tls = chain(&[
            "error sending request",
            "received corrupt message of type InvalidContentType",
        ]);
        assert!(matches!(classify(true, false, &tls), Tls(_)));
        let closed = chain(&[
            "error sending request",
            "client error (SendRequest)",
            "connection closed before message completed",
        ]);
        assert_eq!(classify(false, false, &closed), Closed);
        assert_eq!(
            classify(
                false,
                true,
                &chain(&["error sending request", "operation timed out"])
            ),
            Timeout { connect: false }
        );
        assert_eq!(
            classify(true, true, &chain(&["error sending request"])),
            Timeout { connect: true }
        );
        assert_eq!(
            classify(
                false,
                false,
                &chain(&["error sending request", "something odd"])
            ),
            Other("something odd".into())
        );
    }

    #[test]
    fn transport_messages_name_the_cause_and_the_next_step() {
        use TransportCause::*;
        let o = "https://gitlab.example.com";
        let t = Duration::from_secs(30);
        assert_eq!(
            transport_message("GitLab", o, &Dns, t, true),
            "GitLab could not reach https://gitlab.example.com: DNS lookup failed for gitlab.example.com — check the integration's base URL, and this server's DNS or proxy settings"
        );
        let m = transport_message(
            "GitHub",
            o,
            &Certificate("invalid peer certificate: UnknownIssuer".into()),
            t,
            true,
        );
        assert!(
            m.contains("TLS certificate not trusted") && m.contains("set ca_bundle"),
            "{m}"
        );
        let m = transport_message("Jira", o, &Refused, t, true);
        assert!(
            m.contains(": connection refused — nothing listens there"),
            "{m}"
        );
        assert_eq!(
            transport_message("Jira", o, &Timeout { connect: false }, t, false),
            "Jira timed out after 30 s waiting for https://gitlab.example.com"
        );
        let m = transport_message(
            "Jira",
            o,
            &Timeout { connect: false },
            Duration::from_millis(500),
            true,
        );
        assert!(
            m.starts_with("Jira timed out after 0.5 s") && m.contains("tracker_timeout_secs"),
            "{m}"
        );
        let m = transport_message("GitHub", o, &Closed, t, true);
        assert!(
            m.contains("closed the connection") && m.contains("http or https"),
            "{m}"
        );
    }

    #[tokio::test]
    async fn a_server_that_hangs_up_or_never_answers_is_named_so() {
        // Accepts, then closes at once.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                drop(sock);
            }
        });
        let http = quick(Duration::from_secs(5));
        let err = http
            .send("GitHub", http.client().get(format!("{url}/x")))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "GitHub could not reach {url}: the server closed the connection"
            )),
            "{err}"
        );
        // Accepts and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut keep = Vec::new();
            while let Ok((sock, _)) = listener.accept().await {
                keep.push(sock);
            }
        });
        let mut http = quick(Duration::from_millis(300));
        http.max_attempts = 1;
        let err = http
            .send("GitHub", http.client().get(format!("{url}/x")))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("GitHub timed out after 0.3 s waiting for {url}")),
            "{err}"
        );
    }

    // ---- extra CA certificates ------------------------------------------------------------

    /// A self-signed CA certificate (P-256), for loading only.
    const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBiDCCAS2gAwIBAgIUeHSCsq1EySN9Zq0DgjuwGqMYIKwwCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNYWlvcHMgdGVzdCBDQTAgFw0yNjEyMDExMDMwMDNaGA8yMTI2
MTEwNzEwMzAwM1owGDEWMBQGA1UEAwwNYWlvcHMgdGVzdCBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABMSbuDpmy5CM0BZOwgFKlXxQNZE5a2LyqSt+yTXK/Ct6
2y/aGKRY/KL9/vx9/0hvWAOlopaV3+DyfjRnFrP/1YqjUzBRMB0GA1UdDgQWBBSL
iSdylq2KhGwsmPSuLoLj/PLbjjAfBgNVHSMEGDAWgBSLiSdylq2KhGwsmPSuLoLj
/PLbjjAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQD5NNHf+nYz
uo46XdpfL64gOvJGRkBi3P5A9shc65HPSwIhAKbrNU9J0gwJq17s6EFiCL2c7VxB
eozxU/wbgK8naqGP
-----END CERTIFICATE-----
";

    #[test]
    fn a_ca_bundle_is_loaded_and_a_bad_one_refused_with_a_message() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, format!("# private CA\n{TEST_CA}{TEST_CA}")).unwrap();
        assert_eq!(load_ca_bundle(&good).unwrap().len(), 2);
        let opts = |p: &Path| HttpOptions {
            timeout: Duration::from_secs(1),
            ca_bundle: Some(p.to_path_buf()),
        };
        assert!(Http::with_options(&opts(&good)).is_ok());

        let err = |p: &Path| {
            Http::with_options(&opts(p))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let missing = dir.path().join("nope.pem");
        let e = err(&missing);
        assert!(
            e.starts_with(&format!("ca_bundle {}: cannot read it", missing.display()))
                && e.contains("give a PEM file of CA certificates"),
            "{e}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "just text\n").unwrap();
        assert!(
            err(&empty).contains("holds no certificate"),
            "{}",
            err(&empty)
        );
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(err(&broken).contains("ca_bundle"), "{}", err(&broken));
    }

    /// A real TLS server (openssl s_server) with a certificate from a private CA: reached with
    /// the CA in `ca_bundle`, refused without it.
    #[tokio::test]
    #[allow(
        clippy::disallowed_methods,
        reason = "test setup: openssl makes the certificates"
    )]
    async fn a_tracker_behind_a_private_ca_is_reached_with_ca_bundle() {
        use std::process::{Command, Stdio};
        if Command::new("openssl").arg("version").output().is_err() {
            eprintln!("openssl is not installed: skipping the TLS handshake test");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=aiops private CA",
        ]);
        run(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-cert", "srv.pem", "-key", "srv.key"])
            .current_dir(d)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "s_server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let url = format!("https://127.0.0.1:{port}/");
        // s_server serves one connection at a time: the refused handshake first.
        let mut without = Http::with_options(&HttpOptions {
            timeout: Duration::from_secs(5),
            ca_bundle: None,
        })
        .unwrap();
        without.max_attempts = 1;
        let refused = without.send("GitLab", without.client().get(&url)).await;
        drop(without);
        let with = Http::with_options(&HttpOptions {
            timeout: Duration::from_secs(5),
            ca_bundle: Some(d.join("ca.pem")),
        })
        .unwrap();
        let reached = with.send("GitLab", with.client().get(&url)).await;
        let _ = server.kill();
        let _ = server.wait();
        assert!(
            reached.is_ok(),
            "{:?}",
            reached.err().map(|e| e.to_string())
        );
        let e = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            e.starts_with("GitLab could not reach https://127.0.0.1:")
                && e.contains("TLS certificate not trusted")
                && e.contains("UnknownIssuer")
                && e.contains("set ca_bundle"),
            "{e}"
        );
    }
}
