//! The HTTP client every provider shares: timeouts, retries with backoff on 429/5xx (and
//! GitHub's 403 secondary rate limit), and upstream error messages extracted from the JSON.

use super::{TResult, TrackerError};
use crate::error::{AppError, AppResult};
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::Value;
use std::time::Duration;

#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
}

impl Http {
    pub fn new() -> AppResult<Http> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("aiops/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(8)
            .build()
            .map_err(|e| AppError::Internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(Http {
            client,
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Send with retries; `Ok` only for 2xx. `label` names the tracker in messages ("GitHub").
    pub async fn send(&self, label: &str, rb: RequestBuilder) -> TResult<Response> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let req = rb.try_clone().ok_or_else(|| {
                TrackerError::Failed(format!("{label}: request cannot be retried"))
            })?;
            let last = attempt >= self.max_attempts;
            match req.send().await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let status = resp.status();
                    let retry = retryable(status, resp.headers());
                    let wait = self.delay(attempt, resp.headers());
                    let path = resp.url().path().to_string();
                    let text = resp.text().await.unwrap_or_default();
                    let msg = upstream_message(label, status, &text);
                    if retry && !last {
                        tracing::warn!(tracker = label, %path, status = status.as_u16(), attempt, wait_ms = wait.as_millis() as u64, "tracker asked us to retry");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    if retry {
                        return Err(TrackerError::Failed(format!(
                            "{msg} (gave up after {attempt} attempts)"
                        )));
                    }
                    return Err(TrackerError::Refused(msg, status.as_u16()));
                }
                Err(e) => {
                    let what = if e.is_timeout() {
                        "timed out"
                    } else if e.is_connect() {
                        "could not connect"
                    } else {
                        "request failed"
                    };
                    if !last {
                        let wait = self.delay(attempt, &HeaderMap::new());
                        tracing::warn!(tracker = label, attempt, "tracker {what}; retrying");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(TrackerError::Failed(format!(
                        "{label} {what}: {} (gave up after {attempt} attempts)",
                        without_url(&e)
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
            let now = chrono::Utc::now().timestamp().max(0) as u64;
            return Duration::from_secs(reset.saturating_sub(now).max(1)).min(self.max_delay);
        }
        (self.base_delay * 2u32.saturating_pow(attempt - 1)).min(self.max_delay)
    }
}

fn retryable(status: StatusCode, headers: &HeaderMap) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
        || (status == StatusCode::FORBIDDEN
            && (headers.contains_key("retry-after")
                || headers
                    .get("x-ratelimit-remaining")
                    .is_some_and(|v| v.as_bytes() == b"0")))
}

/// reqwest errors include the URL; drop it (query strings may carry tokens in some setups).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "");
    }
    s.replace(" for url ()", "").trim().to_string()
}

/// "GitHub API error 422 - Validation Failed: title missing", from whatever JSON shape the
/// tracker uses (`message`, `error`, `errorMessages`, `errors`).
pub fn upstream_message(label: &str, status: StatusCode, text: &str) -> String {
    let detail = serde_json::from_str::<Value>(text)
        .ok()
        .map(|v| json_message(&v))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| text.trim().chars().take(300).collect());
    if detail.is_empty() {
        format!("{label} API error {}", status.as_u16())
    } else {
        format!("{label} API error {} - {detail}", status.as_u16())
    }
}

fn json_message(v: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    match v.get("message") {
        Some(Value::String(s)) => parts.push(s.clone()),
        Some(Value::Object(o)) => {
            for (k, val) in o {
                parts.push(format!("{k}: {}", flat(val)));
            }
        }
        Some(Value::Array(a)) => parts.extend(a.iter().map(flat)),
        _ => {}
    }
    if let Some(Value::String(s)) = v.get("error") {
        parts.push(s.clone());
    }
    if let Some(Value::String(s)) = v.get("error_description") {
        parts.push(s.clone());
    }
    if let Some(Value::Array(a)) = v.get("errorMessages") {
        parts.extend(a.iter().map(flat).filter(|s| !s.is_empty()));
    }
    match v.get("errors") {
        Some(Value::Object(o)) => {
            for (k, val) in o {
                parts.push(format!("{k}: {}", flat(val)));
            }
        }
        Some(Value::Array(a)) => {
            for e in a {
                let m = e
                    .get("message")
                    .map(flat)
                    .or_else(|| {
                        let field = e.get("field").map(flat)?;
                        let code = e.get("code").map(flat).unwrap_or_default();
                        Some(format!("{field} {code}"))
                    })
                    .unwrap_or_else(|| flat(e));
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
            "Jira API error 401"
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
}
