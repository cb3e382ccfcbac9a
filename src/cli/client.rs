//! The HTTP client of the CLI: `<url>/api/v1/<path>` with `Authorization: Bearer <key>`.

use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

pub struct Client {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(url: &str, key: &str) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("aiops-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client {
            base: url.trim_end_matches('/').to_string(),
            key: key.trim().to_string(),
            http,
        })
    }

    /// The server's base URL (as configured).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Send a request; 2xx gives the JSON body (None for 204 / empty), anything else an error
    /// carrying the server's `error` (and `message`) text.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Option<Value>> {
        let url = format!("{}/api/v1/{}", self.base, path.trim_start_matches('/'));
        let mut req = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach {url}: {}; is the server running? check `aiops config get url`",
                root_cause(&e)
            )
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if status.is_success() {
            if text.trim().is_empty() {
                return Ok(None);
            }
            return serde_json::from_str(&text).map(Some).map_err(|e| {
                anyhow::anyhow!("{method} {url} answered {status} with invalid JSON: {e}")
            });
        }
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        let msg = parsed
            .as_ref()
            .and_then(|v| v.get("error"))
            .and_then(Value::as_str)
            .map(|error| {
                match parsed
                    .as_ref()
                    .and_then(|v| v.get("message"))
                    .and_then(Value::as_str)
                {
                    Some(m) => format!("{error}: {m}"),
                    None => error.to_string(),
                }
            });
        Err(anyhow::anyhow!(
            msg.unwrap_or_else(|| format!("HTTP {status} from {url}"))
        ))
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self
            .request(Method::GET, path, None)
            .await?
            .unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        Ok(self
            .request(Method::POST, path, Some(body))
            .await?
            .unwrap_or(Value::Null))
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<()> {
        self.request(Method::DELETE, path, None).await.map(|_| ())
    }
}

fn root_cause(e: &reqwest::Error) -> String {
    let mut src: &dyn std::error::Error = e;
    while let Some(next) = src.source() {
        src = next;
    }
    src.to_string()
}
