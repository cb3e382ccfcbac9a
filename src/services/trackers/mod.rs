//! Issue trackers: one `Provider` trait, three implementations over HTTP (reqwest + rustls).
//!
//! Every call goes through [`Http`], which retries 429/5xx answers with backoff (honouring
//! `Retry-After`) and turns refusals into errors that carry the upstream's own message. Answers
//! are decoded into each provider's `Deserialize` structs through `wire`'s lenient helpers (a
//! field of an unexpected type reads as absent).

mod github;
mod gitlab;
mod http;
mod jira;
pub mod pulls;
mod wire;

pub use http::{DEFAULT_TIMEOUT_SECS, Http, load_ca_bundle};

use crate::domain::issues::ensure_base_url;
use crate::domain::{Comment, Timestamp};
use crate::error::AppError;
use serde_json::Value;

/// A tracker issue in normalised form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IssuePayload {
    pub external_id: String,
    pub title: String,
    /// The upstream status, verbatim (normalised only when read).
    pub status: Option<String>,
    pub assignee: Option<String>,
    /// The assignee's tracker identity (GitHub login, GitLab username, Jira account id), for
    /// matching against users' identity mappings ("my issues").
    pub assignee_key: Option<String>,
    pub url: Option<String>,
    pub labels: Vec<String>,
    pub updated_at: Option<Timestamp>,
    /// The description as Markdown (Jira ADF rendered).
    pub body: Option<String>,
    /// Newest first, at most 20. `None` when the provider was not asked for them (keep stored).
    pub comments: Option<Vec<Comment>>,
}

#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub title: String,
    pub description: Option<String>,
    pub labels: Vec<String>,
    /// Provider identity: GitHub login, GitLab username, Jira account id.
    pub assignee: Option<String>,
    pub issue_type: Option<String>,
    pub priority: Option<String>,
    pub milestone: Option<String>,
    pub custom_fields: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Default)]
pub struct UpdateRequest {
    pub title: Option<String>,
    pub description: Option<String>,
    pub labels: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    /// The tracker answered and refused (4xx), with its message.
    #[error("{0}")]
    Refused(String, u16),
    /// The tracker failed or could not be reached, after retries.
    #[error("{0}")]
    Failed(String),
    /// Bad input or configuration, found before any call.
    #[error("{0}")]
    Invalid(String),
}

impl From<TrackerError> for AppError {
    fn from(e: TrackerError) -> AppError {
        match e {
            TrackerError::Refused(m, 404) => AppError::NotFound(m),
            TrackerError::Refused(m, _) | TrackerError::Invalid(m) => AppError::BadRequest(m),
            TrackerError::Failed(m) => AppError::Upstream(m),
        }
    }
}

pub type TResult<T> = Result<T, TrackerError>;

/// Everything a provider needs to talk to one tracker project.
#[derive(Clone)]
pub struct Conn {
    pub base_url: String,
    pub token: String,
    pub settings: Value,
    /// owner/repo, GitLab path or id, Jira project key.
    pub identifier: String,
    /// Per-link config: jql, issue_type, close_transition, reopen_transition.
    pub config: Value,
    pub http: Http,
}

impl Conn {
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    }

    pub fn config_str(&self, key: &str) -> Option<&str> {
        self.config
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    }
}

/// The operations every tracker supports.
#[allow(async_fn_in_trait)] // used through the concrete `AnyProvider`, never as `dyn`
pub trait Provider {
    /// Check the credentials; a human message on success.
    async fn test(&self) -> TResult<String>;
    /// Every issue (all pages), or only those updated since `since`, with their comments.
    async fn list(&self, since: Option<Timestamp>) -> TResult<Vec<IssuePayload>>;
    async fn get(&self, external_id: &str) -> TResult<IssuePayload>;
    async fn create(&self, req: &CreateRequest) -> TResult<IssuePayload>;
    async fn comment(&self, external_id: &str, body: &str) -> TResult<Comment>;
    async fn edit_comment(
        &self,
        external_id: &str,
        comment_id: &str,
        body: &str,
    ) -> TResult<Comment>;
    async fn update(&self, external_id: &str, req: &UpdateRequest) -> TResult<IssuePayload>;
    async fn assign(&self, external_id: &str, assignee: &str) -> TResult<IssuePayload>;
    async fn close(&self, external_id: &str) -> TResult<IssuePayload>;
    async fn reopen(&self, external_id: &str) -> TResult<IssuePayload>;
    /// Find a tracker account id for a display name (Jira mentions); `None` when not unique.
    async fn find_user(&self, _name: &str) -> TResult<Option<String>> {
        Ok(None)
    }
}

/// Static dispatch over the three providers.
pub enum AnyProvider {
    GitHub(github::GitHub),
    GitLab(gitlab::GitLab),
    Jira(jira::Jira),
}

impl AnyProvider {
    /// Build the provider for `provider` with a normalised base URL.
    pub fn new(provider: &str, mut conn: Conn) -> TResult<AnyProvider> {
        conn.base_url =
            ensure_base_url(provider, Some(&conn.base_url)).map_err(TrackerError::Invalid)?;
        match provider {
            "github" => Ok(AnyProvider::GitHub(github::GitHub::new(conn)?)),
            "gitlab" => Ok(AnyProvider::GitLab(gitlab::GitLab::new(conn)?)),
            "jira" => Ok(AnyProvider::Jira(jira::Jira::new(conn)?)),
            other => Err(TrackerError::Invalid(format!(
                "Unsupported issue provider '{other}'."
            ))),
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $p:ident => $e:expr) => {
        match $self {
            AnyProvider::GitHub($p) => $e,
            AnyProvider::GitLab($p) => $e,
            AnyProvider::Jira($p) => $e,
        }
    };
}

impl Provider for AnyProvider {
    async fn test(&self) -> TResult<String> {
        dispatch!(self, p => p.test().await)
    }
    async fn list(&self, since: Option<Timestamp>) -> TResult<Vec<IssuePayload>> {
        dispatch!(self, p => p.list(since).await)
    }
    async fn get(&self, id: &str) -> TResult<IssuePayload> {
        dispatch!(self, p => p.get(id).await)
    }
    async fn create(&self, req: &CreateRequest) -> TResult<IssuePayload> {
        if req.title.trim().is_empty() {
            return Err(TrackerError::Invalid("Issue title is required".into()));
        }
        dispatch!(self, p => p.create(req).await)
    }
    async fn comment(&self, id: &str, body: &str) -> TResult<Comment> {
        if body.trim().is_empty() {
            return Err(TrackerError::Invalid("Comment body is required".into()));
        }
        dispatch!(self, p => p.comment(id, body.trim()).await)
    }
    async fn edit_comment(&self, id: &str, cid: &str, body: &str) -> TResult<Comment> {
        if body.trim().is_empty() {
            return Err(TrackerError::Invalid("Comment body is required".into()));
        }
        if cid.trim().is_empty() {
            return Err(TrackerError::Invalid("Comment id is required".into()));
        }
        dispatch!(self, p => p.edit_comment(id, cid.trim(), body.trim()).await)
    }
    async fn update(&self, id: &str, req: &UpdateRequest) -> TResult<IssuePayload> {
        dispatch!(self, p => p.update(id, req).await)
    }
    async fn assign(&self, id: &str, assignee: &str) -> TResult<IssuePayload> {
        if assignee.trim().is_empty() {
            return Err(TrackerError::Invalid(
                "At least one assignee is required.".into(),
            ));
        }
        dispatch!(self, p => p.assign(id, assignee.trim()).await)
    }
    async fn close(&self, id: &str) -> TResult<IssuePayload> {
        dispatch!(self, p => p.close(id).await)
    }
    async fn reopen(&self, id: &str) -> TResult<IssuePayload> {
        dispatch!(self, p => p.reopen(id).await)
    }
    async fn find_user(&self, name: &str) -> TResult<Option<String>> {
        dispatch!(self, p => p.find_user(name).await)
    }
}

// ---- helpers shared by the providers -------------------------------------------------------

/// Run `f` over `items` a few at a time (bounded concurrency), in order, stopping at the first error.
pub(crate) async fn few_at_a_time<'a, T, Fut>(
    items: &[&'a T],
    f: impl Fn(&'a T) -> Fut,
) -> TResult<Vec<IssuePayload>>
where
    Fut: std::future::Future<Output = TResult<IssuePayload>>,
{
    let mut out = Vec::with_capacity(items.len());
    for chunk in items.chunks(8) {
        for p in futures_util::future::join_all(chunk.iter().map(|v| f(v))).await {
            out.push(p?);
        }
    }
    Ok(out)
}

/// Keep at most 20 comments, newest first, given them oldest first.
pub(crate) fn newest_first(mut oldest_first: Vec<Comment>) -> Vec<Comment> {
    let cap = crate::domain::issues::MAX_COMMENTS_PER_ISSUE;
    if oldest_first.len() > cap {
        oldest_first.drain(..oldest_first.len() - cap);
    }
    oldest_first.reverse();
    oldest_first
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conn(identifier: &str, settings: Value) -> Conn {
        Conn {
            base_url: "http://127.0.0.1:9".into(),
            token: "t".into(),
            settings,
            identifier: identifier.into(),
            config: Value::Null,
            http: Http::new().unwrap(),
        }
    }

    #[test]
    fn configuration_errors_are_caught_before_any_call() {
        let err = |r: TResult<AnyProvider>| r.err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            err(AnyProvider::new("github", conn("norepo", json!({})))),
            "GitHub project integration requires an owner/repo identifier."
        );
        assert_eq!(
            err(AnyProvider::new("gitlab", conn(" ", json!({})))),
            "GitLab project integration requires an external project path."
        );
        assert_eq!(
            err(AnyProvider::new("jira", conn("OPS", json!({})))),
            "Jira integration requires an account email."
        );
        assert!(
            err(AnyProvider::new("bitbucket", conn("x/y", json!({}))))
                .contains("Unsupported issue provider")
        );
        let mut no_base = conn("OPS", json!({"username": "a@b.c"}));
        no_base.base_url = String::new();
        assert_eq!(
            err(AnyProvider::new("jira", no_base)),
            "Jira integration requires a base URL."
        );
    }

    #[tokio::test]
    async fn empty_inputs_are_refused_without_a_network_call() {
        // Port 9 on loopback: any call would fail with "could not connect", not these messages.
        let p = AnyProvider::new("github", conn("o/r", json!({}))).unwrap();
        let e = p
            .create(&CreateRequest {
                title: "  ".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "Issue title is required");
        assert_eq!(
            p.comment("1", "   ").await.unwrap_err().to_string(),
            "Comment body is required"
        );
        assert_eq!(
            p.assign("1", " ").await.unwrap_err().to_string(),
            "At least one assignee is required."
        );
        assert_eq!(
            p.close("abc").await.unwrap_err().to_string(),
            "GitHub issue identifier must be a number."
        );
    }

    #[test]
    fn stored_comments_have_the_original_shape() {
        // {"id", "author", "body", "url", "created_at"} with id present even when null,
        // created_at in ISO-8601 UTC with +00:00.
        let c = github::comment_from(wire::obj(
            json!({"user": {"login": "alice"}, "body": "Initial context.",
            "created_at": "2024-01-01T10:00:00Z", "html_url": "https://x/#note_1"}),
        ));
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            json!({"id": null, "author": "alice", "body": "Initial context.",
            "created_at": "2024-01-01T10:00:00+00:00", "url": "https://x/#note_1"})
        );
        let many: Vec<Comment> = (0..25)
            .map(|i| Comment {
                id: Some(i.to_string()),
                author: "a".into(),
                body: i.to_string(),
                created_at: None,
                url: None,
            })
            .collect();
        let kept = newest_first(many);
        assert_eq!(kept.len(), 20);
        assert_eq!(kept[0].body, "24");
        assert_eq!(kept[19].body, "5");
    }
}
