//! GitHub REST v3: issues of one repository. Pull requests (items with `pull_request`) are
//! excluded; pages are followed through the `Link` header (same origin only, so the token never
//! leaves for another host).

use super::{
    Conn, CreateRequest, IssuePayload, Provider, TResult, TrackerError, UpdateRequest,
    few_at_a_time, newest_first, wire,
};
use crate::domain::Comment;
use crate::domain::Timestamp;
use crate::domain::issues::{github_number, github_repo, iso, parse_timestamp};
use reqwest::{Method, RequestBuilder};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const LABEL: &str = "GitHub";

pub struct GitHub {
    pub(super) c: Conn,
    owner: String,
    repo: String,
}

fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, rest) = part.split_once(';')?;
        rest.contains("rel=\"next\"").then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

/// Same scheme, host and port (userinfo, path and query do not matter).
fn same_origin(base: &str, link: &str) -> bool {
    match (reqwest::Url::parse(base), reqwest::Url::parse(link)) {
        (Ok(b), Ok(l)) => {
            let o = l.origin();
            o.is_tuple() && o == b.origin() && l.username().is_empty() && l.password().is_none()
        }
        _ => false,
    }
}

/// `scheme://host:port` of a URL for messages (never its path, query or credentials).
fn origin_text(u: &str) -> String {
    reqwest::Url::parse(u)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| "an unparseable URL".into())
}

// ---- GitHub's JSON (see `wire` for the leniency rules) ----------------------------------------

/// A user (`user`, `assignee`, `GET /user`).
#[derive(Deserialize, Default)]
#[serde(default)]
struct User {
    #[serde(deserialize_with = "wire::string")]
    login: Option<String>,
    #[serde(deserialize_with = "wire::string")]
    name: Option<String>,
}

impl User {
    /// The login, else the display name.
    fn shown(&self) -> Option<String> {
        self.login.clone().or_else(|| self.name.clone())
    }
}

/// An issue (or a pull request: the list endpoint returns both).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Issue {
    #[serde(deserialize_with = "wire::id")]
    number: Option<String>,
    #[serde(deserialize_with = "wire::string")]
    title: Option<String>,
    #[serde(deserialize_with = "wire::string")]
    state: Option<String>,
    #[serde(deserialize_with = "wire::object")]
    assignee: Option<User>,
    #[serde(deserialize_with = "wire::string")]
    html_url: Option<String>,
    #[serde(deserialize_with = "wire::labels")]
    labels: Vec<String>,
    #[serde(deserialize_with = "wire::string")]
    updated_at: Option<String>,
    #[serde(deserialize_with = "wire::string")]
    body: Option<String>,
    /// The comment count; missing means "unknown", so they are fetched.
    #[serde(deserialize_with = "wire::u64")]
    comments: Option<u64>,
    /// There (any value, even null) on pull requests only.
    #[serde(deserialize_with = "wire::present")]
    pull_request: bool,
}

/// A comment on an issue.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct IssueComment {
    #[serde(deserialize_with = "wire::id")]
    id: Option<String>,
    #[serde(deserialize_with = "wire::object")]
    user: Option<User>,
    #[serde(deserialize_with = "wire::string")]
    body: Option<String>,
    #[serde(deserialize_with = "wire::string")]
    created_at: Option<String>,
    #[serde(deserialize_with = "wire::string")]
    html_url: Option<String>,
}

/// A milestone (matched by title when an issue is created).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Milestone {
    #[serde(deserialize_with = "wire::string")]
    title: Option<String>,
    #[serde(deserialize_with = "wire::u64")]
    number: Option<u64>,
}

pub(super) fn comment_from(c: IssueComment) -> Comment {
    Comment {
        id: c.id,
        author: c.user.and_then(|u| u.shown()).unwrap_or_default(),
        body: c.body.unwrap_or_default(),
        created_at: c
            .created_at
            .and_then(|t| parse_timestamp(&t))
            .map(|t| iso(&t)),
        url: c.html_url,
    }
}

fn payload(i: &Issue) -> TResult<IssuePayload> {
    let number = i
        .number
        .clone()
        .ok_or_else(|| TrackerError::Failed("GitHub issue without a number".into()))?;
    Ok(IssuePayload {
        external_id: number,
        title: i.title.clone().unwrap_or_default(),
        status: i.state.clone(),
        assignee: i.assignee.as_ref().and_then(User::shown),
        assignee_key: i.assignee.as_ref().and_then(|a| a.login.clone()),
        url: i.html_url.clone(),
        labels: i.labels.clone(),
        updated_at: i.updated_at.as_deref().and_then(parse_timestamp),
        body: i.body.clone(),
        comments: None,
    })
}

impl GitHub {
    pub fn new(c: Conn) -> TResult<GitHub> {
        let (owner, repo) = github_repo(&c.identifier).map_err(TrackerError::Invalid)?;
        Ok(GitHub { c, owner, repo })
    }

    fn req(&self, method: Method, url: &str) -> RequestBuilder {
        self.c
            .http
            .client()
            .request(method, url)
            .header("Authorization", format!("token {}", self.c.token))
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
    }

    fn repo_url(&self, tail: &str) -> String {
        format!(
            "{}/repos/{}/{}{tail}",
            self.c.base_url, self.owner, self.repo
        )
    }

    async fn call(&self, method: Method, tail: &str, body: Option<Value>) -> TResult<Value> {
        let mut rb = self.req(method, &self.repo_url(tail));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        Ok(self.c.http.json(LABEL, rb).await?.0)
    }

    /// `call`, the answer read as one object.
    async fn call_obj<T: DeserializeOwned + Default>(
        &self,
        method: Method,
        tail: &str,
        body: Option<Value>,
    ) -> TResult<T> {
        Ok(wire::obj(self.call(method, tail, body).await?))
    }

    /// Every page of a list, following `Link: rel="next"` on the same origin.
    async fn pages<T: DeserializeOwned + Default>(&self, first: String) -> TResult<Vec<T>> {
        let mut out = Vec::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            let (v, headers) = self.c.http.json(LABEL, self.req(Method::GET, &url)).await?;
            match v {
                items @ Value::Array(_) => out.extend(wire::objs(items)),
                _ => {
                    return Err(TrackerError::Failed(
                        "GitHub answered a list with something else".into(),
                    ));
                }
            }
            next = match next_link(&headers) {
                Some(n) if same_origin(&self.c.base_url, &n) => Some(n),
                // Following it would send the token to another host (a look-alike such as
                // api.github.com.evil.example passes a prefix check). Stopping quietly would
                // make a partial list look complete, so the sync fails instead.
                Some(n) => {
                    return Err(TrackerError::Failed(format!(
                        "GitHub's next-page link points to {}, not to the integration's base URL {}: not followed, so the token stays with {}. Check the base URL (or a proxy rewriting Link headers).",
                        origin_text(&n),
                        self.c.base_url,
                        origin_text(&self.c.base_url)
                    )));
                }
                None => None,
            };
        }
        Ok(out)
    }

    async fn comments(&self, number: &str) -> TResult<Vec<Comment>> {
        let items: Vec<IssueComment> = self
            .pages(self.repo_url(&format!("/issues/{number}/comments?per_page=100")))
            .await?;
        Ok(newest_first(items.into_iter().map(comment_from).collect()))
    }

    async fn with_comments(&self, i: &Issue) -> TResult<IssuePayload> {
        let mut p = payload(i)?;
        if i.comments.unwrap_or(1) > 0 {
            p.comments = Some(self.comments(&p.external_id).await?);
        } else {
            p.comments = Some(Vec::new());
        }
        Ok(p)
    }

    async fn patch(&self, external_id: &str, body: Value) -> TResult<IssuePayload> {
        let n = github_number(external_id).map_err(TrackerError::Invalid)?;
        let i = self
            .call_obj(Method::PATCH, &format!("/issues/{n}"), Some(body))
            .await?;
        payload(&i)
    }
}

impl Provider for GitHub {
    async fn test(&self) -> TResult<String> {
        let rb = self.req(Method::GET, &format!("{}/user", self.c.base_url));
        let me: User = wire::obj(self.c.http.json(LABEL, rb).await?.0);
        Ok(format!(
            "GitHub credentials verified for {}.",
            me.login.unwrap_or_else(|| "this token".into())
        ))
    }

    async fn list(&self, since: Option<Timestamp>) -> TResult<Vec<IssuePayload>> {
        let mut url = self.repo_url("/issues?state=all&sort=updated&direction=desc&per_page=100");
        if let Some(t) = since {
            url.push_str(&format!("&since={}", t.format("%Y-%m-%dT%H:%M:%SZ")));
        }
        let items: Vec<Issue> = self.pages(url).await?;
        let issues: Vec<&Issue> = items.iter().filter(|i| !i.pull_request).collect();
        // Comments only for issues that have some, a few requests at a time.
        few_at_a_time(&issues, |v| self.with_comments(v)).await
    }

    async fn get(&self, external_id: &str) -> TResult<IssuePayload> {
        let n = github_number(external_id).map_err(TrackerError::Invalid)?;
        let i: Issue = self
            .call_obj(Method::GET, &format!("/issues/{n}"), None)
            .await?;
        if i.pull_request {
            return Err(TrackerError::Refused(
                format!("GitHub #{n} is a pull request, not an issue"),
                404,
            ));
        }
        self.with_comments(&i).await
    }

    async fn create(&self, req: &CreateRequest) -> TResult<IssuePayload> {
        let mut body = serde_json::Map::new();
        body.insert("title".into(), json!(req.title.trim()));
        if let Some(d) = req.description.as_deref().filter(|d| !d.trim().is_empty()) {
            body.insert("body".into(), json!(d));
        }
        if !req.labels.is_empty() {
            body.insert("labels".into(), json!(req.labels));
        }
        if let Some(a) = req.assignee.as_deref().filter(|a| !a.is_empty()) {
            body.insert("assignees".into(), json!([a]));
        }
        if let Some(m) = req
            .milestone
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
        {
            if let Ok(n) = m.parse::<u64>() {
                body.insert("milestone".into(), json!(n));
            } else if let Ok(list) = self
                .call(Method::GET, "/milestones?state=all&per_page=100", None)
                .await
                && let Some(n) = wire::objs::<Milestone>(list).into_iter().find_map(|ms| {
                    (ms.title?.trim().to_lowercase() == m.to_lowercase())
                        .then_some(ms.number)
                        .flatten()
                })
            {
                body.insert("milestone".into(), json!(n));
            }
        }
        let i = self
            .call_obj(Method::POST, "/issues", Some(Value::Object(body)))
            .await?;
        let mut p = payload(&i)?;
        p.comments = Some(Vec::new());
        Ok(p)
    }

    async fn comment(&self, external_id: &str, body: &str) -> TResult<Comment> {
        let n = github_number(external_id).map_err(TrackerError::Invalid)?;
        let c = self
            .call_obj(
                Method::POST,
                &format!("/issues/{n}/comments"),
                Some(json!({"body": body})),
            )
            .await?;
        Ok(comment_from(c))
    }

    async fn edit_comment(
        &self,
        external_id: &str,
        comment_id: &str,
        body: &str,
    ) -> TResult<Comment> {
        github_number(external_id).map_err(TrackerError::Invalid)?;
        let cid: u64 = comment_id
            .parse()
            .map_err(|_| TrackerError::Invalid("GitHub comment id must be a number.".into()))?;
        let c = self
            .call_obj(
                Method::PATCH,
                &format!("/issues/comments/{cid}"),
                Some(json!({"body": body})),
            )
            .await?;
        Ok(comment_from(c))
    }

    async fn update(&self, external_id: &str, req: &UpdateRequest) -> TResult<IssuePayload> {
        let mut body = serde_json::Map::new();
        if let Some(t) = req.title.as_deref().filter(|t| !t.trim().is_empty()) {
            body.insert("title".into(), json!(t.trim()));
        }
        if let Some(d) = &req.description {
            body.insert("body".into(), json!(d));
        }
        if let Some(l) = &req.labels {
            body.insert("labels".into(), json!(l));
        }
        self.patch(external_id, Value::Object(body)).await
    }

    async fn assign(&self, external_id: &str, assignee: &str) -> TResult<IssuePayload> {
        self.patch(external_id, json!({"assignees": [assignee]}))
            .await
    }

    async fn close(&self, external_id: &str) -> TResult<IssuePayload> {
        self.patch(external_id, json!({"state": "closed"})).await
    }

    async fn reopen(&self, external_id: &str) -> TResult<IssuePayload> {
        self.patch(external_id, json!({"state": "open"})).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            "link",
            r#"<https://api.github.com/repos/o/r/issues?page=2>; rel="next", <https://api.github.com/repos/o/r/issues?page=5>; rel="last""#
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.github.com/repos/o/r/issues?page=2")
        );
        h.insert(
            "link",
            r#"<https://x/?page=1>; rel="prev""#.parse().unwrap(),
        );
        assert_eq!(next_link(&h), None);
    }

    #[test]
    fn next_links_must_stay_on_the_base_origin() {
        let gh = "https://api.github.com";
        assert!(same_origin(
            gh,
            "https://api.github.com/repos/o/r/issues?page=2"
        ));
        assert!(
            same_origin(gh, "https://API.github.com:443/x"),
            "default port, any case"
        );
        let ghe = "https://ghe.example/api/v3";
        assert!(same_origin(
            ghe,
            "https://ghe.example/api/v3/repos/o/r/issues?page=2"
        ));
        for evil in [
            "https://api.github.com.evil.example/repos/o/r/issues?page=2",
            "https://api.github.com@evil.example/repos/o/r/issues",
            "https://api.github.com:8443/repos",
            "http://api.github.com/repos",
            "https://evil.example/?https://api.github.com",
            "/relative?page=2",
            "not a url",
        ] {
            assert!(!same_origin(gh, evil), "{evil}");
        }
        assert!(!same_origin(
            "http://127.0.0.1:4000",
            "http://127.0.0.1:40001/x"
        ));
        assert_eq!(
            origin_text("https://user:pw@api.github.com.evil.example/x?token=1"),
            "https://api.github.com.evil.example"
        );
    }

    #[test]
    fn issue_mapping_matches_the_original() {
        let v = json!({"number": 5, "title": "T", "state": "open", "html_url": "https://gh/5",
            "labels": [{"name": "bug"}], "assignee": {"login": "dev"}, "updated_at": "2024-01-02T03:04:05Z", "body": "B"});
        let p = payload(&wire::obj(v)).unwrap();
        assert_eq!(p.external_id, "5");
        assert_eq!(p.assignee.as_deref(), Some("dev"));
        assert_eq!(p.labels, vec!["bug"]);
        assert_eq!(p.body.as_deref(), Some("B"));
        assert!(payload(&wire::obj(json!({"title": "x"}))).is_err());
    }

    #[test]
    fn odd_types_read_as_absent_not_as_errors() {
        let i: Issue = wire::obj(json!({"number": "7", "title": 5, "state": null,
            "assignee": "bob", "labels": ["a", {"name": "b"}, {"name": 1}, 2],
            "comments": "many", "updated_at": "yesterday", "extra": {"x": [1]}}));
        let p = payload(&i).unwrap();
        assert_eq!(p.external_id, "7");
        assert_eq!((p.title.as_str(), p.status, p.assignee), ("", None, None));
        assert_eq!(p.labels, vec!["a", "b"]);
        assert_eq!((i.comments, p.updated_at), (None, None));
        assert!(!i.pull_request);
        let pr: Issue = wire::obj(json!({"number": 8, "pull_request": null}));
        assert!(
            pr.pull_request,
            "a pull_request key marks a pull request, even null"
        );
        let c = comment_from(wire::obj(
            json!({"id": 12, "user": {"name": "Al"}, "body": 3}),
        ));
        assert_eq!(
            (c.id.as_deref(), c.author.as_str(), c.body.as_str()),
            (Some("12"), "Al", "")
        );
    }
}
