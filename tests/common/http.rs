//! The HTTP client both test suites drive a server with (the in-process one of
//! `tests/inproc` and the real binary of `tests/e2e`): JSON calls with a key, the answer parsed,
//! and the admin's shortcuts. Each integration test is its own crate, so each suite's harness
//! includes this file (`#[path = "../common/http.rs"]`) and re-exports it.

#![allow(
    dead_code,
    async_fn_in_trait,
    reason = "shared by two test crates, each using a part; the futures are awaited, never spawned"
)]

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A server under test, reached over HTTP: its base URL, the client to use and the admin's key.
/// The calls are provided; a harness only says where the server is.
pub trait Http {
    fn base(&self) -> &str;
    fn client(&self) -> &reqwest::Client;
    fn admin_key(&self) -> &str;

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base(), path)
    }

    /// A JSON call with a key (Bearer): status and parsed body (Null when empty).
    async fn call(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client()
            .request(method, self.url(path))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: request failed: {e}"));
        parse_for(path, resp).await
    }

    async fn get(&self, key: &str, path: &str) -> (StatusCode, Value) {
        self.call(key, Method::GET, path, None).await
    }

    async fn post(&self, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(key, Method::POST, path, Some(body)).await
    }

    /// A call that must answer `want`; its body.
    async fn expect(
        &self,
        want: StatusCode,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let (st, v) = self.call(key, method.clone(), path, body).await;
        assert_eq!(st, want, "{method} {path}: {v}");
        v
    }

    /// Make a user a member of `of` (`tenants` or `projects`) `id` with `role` (as the admin).
    async fn add_member(&self, of: &str, id: u64, user_id: u64, role: &str) {
        self.expect(
            StatusCode::CREATED,
            self.admin_key(),
            Method::POST,
            &format!("/api/v1/{of}/{id}/members"),
            Some(serde_json::json!({"user_id": user_id, "role": role})),
        )
        .await;
    }
}

/// A response's status and its body parsed as JSON (Null when empty); a body that is not JSON
/// fails the test.
pub async fn parse(resp: reqwest::Response) -> (StatusCode, Value) {
    let what = resp.url().path().to_string();
    parse_for(&what, resp).await
}

/// `parse`, naming `what` (the path called) when the body is not JSON.
async fn parse_for(what: &str, resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if text.is_empty() {
        return (status, Value::Null);
    }
    let v = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{what}: body is not JSON ({e}): {text}"));
    (status, v)
}
