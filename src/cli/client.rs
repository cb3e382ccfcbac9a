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

    /// A GET on a server path (not under /api/v1), for streams (server-sent events).
    pub async fn stream(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}{}", self.base, path);
        let resp = self
            .http
            .get(&url)
            .bearer_auth(&self.key)
            .timeout(Duration::from_secs(24 * 3600))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach {url}: {}", root_cause(&e)))?;
        if !resp.status().is_success() {
            let status = resp.status();
            anyhow::bail!(
                "{url} answered {status}: {}",
                resp.text().await.unwrap_or_default()
            );
        }
        Ok(resp)
    }

    /// Stream a GET response body into `dest` (written to `<dest>.part`, then renamed).
    pub async fn download(&self, path: &str, dest: &std::path::Path) -> anyhow::Result<u64> {
        use tokio::io::AsyncWriteExt;
        let url = format!("{}/api/v1/{}", self.base, path.trim_start_matches('/'));
        let mut resp = self
            .http
            .get(&url)
            .bearer_auth(&self.key)
            .timeout(Duration::from_secs(3600))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach {url}: {}", root_cause(&e)))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            let msg = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_else(|| format!("HTTP {status}"));
            anyhow::bail!("Download failed: {msg}");
        }
        let part = dest.with_extension("part");
        let mut f = tokio::fs::File::create(&part)
            .await
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", part.display()))?;
        let mut total = 0u64;
        while let Some(chunk) = resp.chunk().await? {
            total += chunk.len() as u64;
            f.write_all(&chunk).await?;
        }
        f.flush().await?;
        drop(f);
        tokio::fs::rename(&part, dest).await?;
        Ok(total)
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

    pub async fn patch(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        Ok(self
            .request(Method::PATCH, path, Some(body))
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
