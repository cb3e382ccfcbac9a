//! GitLab REST v4: issues of one project (path or numeric id). Pages via `x-next-page`; system
//! notes are dropped from comments.

use super::{
    Conn, CreateRequest, IssuePayload, Provider, TResult, TrackerError, UpdateRequest,
    few_at_a_time, wire,
};
use crate::domain::Comment;
use crate::domain::Timestamp;
use crate::domain::issues::{MAX_COMMENTS_PER_ISSUE, iso, parse_timestamp};
use reqwest::{Method, RequestBuilder, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const LABEL: &str = "GitLab";

pub struct GitLab {
    pub(super) c: Conn,
}

// ---- GitLab's JSON (see `wire` for the leniency rules) ----------------------------------------

/// A user (`author`, `assignee`, `GET /user`, `GET /users?username=`).
#[derive(Deserialize, Default)]
#[serde(default)]
struct User {
    #[serde(deserialize_with = "wire::u64")]
    id: Option<u64>,
    #[serde(deserialize_with = "wire::string")]
    name: Option<String>,
    #[serde(deserialize_with = "wire::string")]
    username: Option<String>,
}

impl User {
    /// The display name, else the username.
    fn shown(&self) -> Option<String> {
        self.name
            .clone()
            .filter(|n| !n.is_empty())
            .or_else(|| self.username.clone())
    }
}

/// An issue.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Issue {
    /// `Some` when the key is there; items without it are skipped by a sync, while one whose
    /// `iid` is not a number or string fails it.
    #[serde(deserialize_with = "wire::present_id")]
    iid: Option<Option<String>>,
    #[serde(deserialize_with = "wire::string")]
    title: Option<String>,
    #[serde(deserialize_with = "wire::string")]
    state: Option<String>,
    /// An object, or (some versions) a list whose first entry counts.
    #[serde(deserialize_with = "wire::one_or_first")]
    assignee: Option<User>,
    #[serde(deserialize_with = "wire::one_or_first")]
    assignees: Option<User>,
    #[serde(deserialize_with = "wire::string")]
    web_url: Option<String>,
    #[serde(deserialize_with = "wire::labels")]
    labels: Vec<String>,
    #[serde(deserialize_with = "wire::string")]
    updated_at: Option<String>,
    #[serde(deserialize_with = "wire::string")]
    description: Option<String>,
    /// Missing means "unknown", so the notes are fetched.
    #[serde(deserialize_with = "wire::u64")]
    user_notes_count: Option<u64>,
}

/// A note (comment) on an issue; system notes ("changed the label") are dropped.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Note {
    #[serde(deserialize_with = "wire::id")]
    id: Option<String>,
    #[serde(deserialize_with = "wire::one_or_first")]
    author: Option<User>,
    #[serde(deserialize_with = "wire::string")]
    body: Option<String>,
    #[serde(deserialize_with = "wire::string")]
    created_at: Option<String>,
    #[serde(deserialize_with = "wire::string")]
    web_url: Option<String>,
    #[serde(deserialize_with = "wire::bool")]
    system: Option<bool>,
}

/// A milestone (matched by title when an issue is created).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Milestone {
    #[serde(deserialize_with = "wire::string")]
    title: Option<String>,
    /// When the key is there it wins, even if it is not a number.
    #[serde(deserialize_with = "wire::present_u64")]
    id: Option<Option<u64>>,
    #[serde(deserialize_with = "wire::u64")]
    iid: Option<u64>,
}

fn note(n: Note) -> Comment {
    Comment {
        id: n.id,
        author: n.author.as_ref().and_then(User::shown).unwrap_or_default(),
        body: n.body.unwrap_or_default(),
        created_at: n
            .created_at
            .and_then(|t| parse_timestamp(&t))
            .map(|t| iso(&t)),
        url: n.web_url,
    }
}

fn payload(i: &Issue) -> TResult<IssuePayload> {
    let iid = i
        .iid
        .clone()
        .flatten()
        .ok_or_else(|| TrackerError::Failed("GitLab issue without an iid".into()))?;
    let username = |u: &Option<User>| u.as_ref().and_then(|u| u.username.clone());
    Ok(IssuePayload {
        external_id: iid,
        title: i.title.clone().unwrap_or_default(),
        status: i.state.clone(),
        assignee: (i.assignee.as_ref().and_then(User::shown))
            .or_else(|| i.assignees.as_ref().and_then(User::shown)),
        assignee_key: username(&i.assignee).or_else(|| username(&i.assignees)),
        url: i.web_url.clone(),
        labels: i.labels.clone(),
        updated_at: i.updated_at.as_deref().and_then(parse_timestamp),
        body: i.description.clone(),
        comments: None,
    })
}

impl GitLab {
    pub fn new(c: Conn) -> TResult<GitLab> {
        if c.identifier.trim().is_empty() {
            return Err(TrackerError::Invalid(
                "GitLab project integration requires an external project path.".into(),
            ));
        }
        Ok(GitLab { c })
    }

    /// `<base>/api/v4/projects/<url-encoded path or id><tail>`
    fn url(&self, tail: &[&str]) -> TResult<Url> {
        let mut u = Url::parse(&format!("{}/api/v4/projects", self.c.base_url))
            .map_err(|e| TrackerError::Invalid(format!("Invalid GitLab base URL: {e}")))?;
        {
            let mut seg = u
                .path_segments_mut()
                .map_err(|_| TrackerError::Invalid("Invalid GitLab base URL".into()))?;
            seg.push(self.c.identifier.trim().trim_matches('/'));
            seg.extend(tail);
        }
        Ok(u)
    }

    fn req(&self, method: Method, url: Url) -> RequestBuilder {
        self.c
            .http
            .client()
            .request(method, url)
            .header("PRIVATE-TOKEN", &self.c.token)
    }

    /// One call, the answer read as one object.
    async fn call<T: DeserializeOwned + Default>(
        &self,
        method: Method,
        tail: &[&str],
        body: Option<Value>,
    ) -> TResult<T> {
        let mut rb = self.req(method, self.url(tail)?);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        Ok(wire::obj(self.c.http.json(LABEL, rb).await?.0))
    }

    async fn pages<T: DeserializeOwned + Default>(
        &self,
        tail: &[&str],
        query: &[(&str, String)],
    ) -> TResult<Vec<T>> {
        let mut out = Vec::new();
        let mut page = "1".to_string();
        loop {
            let mut u = self.url(tail)?;
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in query {
                    q.append_pair(k, v);
                }
                q.append_pair("page", &page);
            }
            let (v, headers) = self.c.http.json(LABEL, self.req(Method::GET, u)).await?;
            match v {
                items @ Value::Array(_) => out.extend(wire::objs(items)),
                _ => {
                    return Err(TrackerError::Failed(
                        "GitLab answered a list with something else".into(),
                    ));
                }
            }
            match headers
                .get("x-next-page")
                .and_then(|h| h.to_str().ok())
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                Some(p) if p != page => page = p.to_string(),
                _ => return Ok(out),
            }
        }
    }

    async fn notes(&self, iid: &str) -> TResult<Vec<Comment>> {
        let items: Vec<Note> = self
            .pages(
                &["issues", iid, "notes"],
                &[
                    ("order_by", "created_at".into()),
                    ("sort", "desc".into()),
                    ("per_page", "100".into()),
                ],
            )
            .await?;
        Ok(items
            .into_iter()
            .filter(|n| !n.system.unwrap_or(false))
            .take(MAX_COMMENTS_PER_ISSUE)
            .map(note)
            .collect())
    }

    async fn with_notes(&self, i: &Issue) -> TResult<IssuePayload> {
        let mut p = payload(i)?;
        let count = i.user_notes_count.unwrap_or(1);
        p.comments = Some(if count > 0 {
            self.notes(&p.external_id).await?
        } else {
            Vec::new()
        });
        Ok(p)
    }

    async fn user_id(&self, username: &str) -> TResult<Option<u64>> {
        let mut u = Url::parse(&format!("{}/api/v4/users", self.c.base_url))
            .map_err(|e| TrackerError::Invalid(e.to_string()))?;
        u.query_pairs_mut().append_pair("username", username);
        let (v, _) = self.c.http.json(LABEL, self.req(Method::GET, u)).await?;
        Ok(wire::objs::<User>(v)
            .into_iter()
            .find(|x| x.username.as_deref() == Some(username))
            .and_then(|x| x.id))
    }

    async fn put(&self, iid: &str, body: Value) -> TResult<IssuePayload> {
        let i = self.call(Method::PUT, &["issues", iid], Some(body)).await?;
        payload(&i)
    }
}

impl Provider for GitLab {
    async fn test(&self) -> TResult<String> {
        let u = Url::parse(&format!("{}/api/v4/user", self.c.base_url))
            .map_err(|e| TrackerError::Invalid(e.to_string()))?;
        let me: User = wire::obj(self.c.http.json(LABEL, self.req(Method::GET, u)).await?.0);
        Ok(match me.username {
            Some(u) => format!("GitLab credentials verified for {u}."),
            None => "GitLab credentials verified.".into(),
        })
    }

    async fn list(&self, since: Option<Timestamp>) -> TResult<Vec<IssuePayload>> {
        let mut q = vec![
            ("order_by", "updated_at".to_string()),
            ("sort", "desc".into()),
            ("per_page", "100".into()),
        ];
        if let Some(t) = since {
            q.push(("updated_after", t.format("%Y-%m-%dT%H:%M:%SZ").to_string()));
        }
        let items: Vec<Issue> = self.pages(&["issues"], &q).await?;
        let with_iid: Vec<&Issue> = items.iter().filter(|i| i.iid.is_some()).collect();
        few_at_a_time(&with_iid, |v| self.with_notes(v)).await
    }

    async fn get(&self, iid: &str) -> TResult<IssuePayload> {
        let i = self.call(Method::GET, &["issues", iid], None).await?;
        self.with_notes(&i).await
    }

    async fn create(&self, req: &CreateRequest) -> TResult<IssuePayload> {
        let mut body = serde_json::Map::new();
        body.insert("title".into(), json!(req.title.trim()));
        if let Some(d) = req.description.as_deref().filter(|d| !d.trim().is_empty()) {
            body.insert("description".into(), json!(d));
        }
        if !req.labels.is_empty() {
            body.insert("labels".into(), json!(req.labels.join(",")));
        }
        if let Some(a) = req.assignee.as_deref().filter(|a| !a.is_empty())
            && let Ok(Some(id)) = self.user_id(a).await
        {
            body.insert("assignee_ids".into(), json!([id]));
        }
        if let Some(m) = req
            .milestone
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
        {
            if let Ok(n) = m.parse::<u64>() {
                body.insert("milestone_id".into(), json!(n));
            } else {
                let mut u = self.url(&["milestones"])?;
                u.query_pairs_mut()
                    .append_pair("search", m)
                    .append_pair("per_page", "100");
                if let Ok((list, _)) = self.c.http.json(LABEL, self.req(Method::GET, u)).await
                    && let Some(id) = wire::objs::<Milestone>(list).into_iter().find_map(|ms| {
                        (ms.title?.trim().to_lowercase() == m.to_lowercase())
                            .then_some(ms.id.unwrap_or(ms.iid))
                            .flatten()
                    })
                {
                    body.insert("milestone_id".into(), json!(id));
                }
            }
        }
        let i = self
            .call(Method::POST, &["issues"], Some(Value::Object(body)))
            .await?;
        let mut p = payload(&i)?;
        p.comments = Some(Vec::new());
        Ok(p)
    }

    async fn comment(&self, iid: &str, body: &str) -> TResult<Comment> {
        let n = self
            .call(
                Method::POST,
                &["issues", iid, "notes"],
                Some(json!({"body": body})),
            )
            .await?;
        Ok(note(n))
    }

    async fn edit_comment(&self, iid: &str, comment_id: &str, body: &str) -> TResult<Comment> {
        let n = self
            .call(
                Method::PUT,
                &["issues", iid, "notes", comment_id],
                Some(json!({"body": body})),
            )
            .await?;
        Ok(note(n))
    }

    async fn update(&self, iid: &str, req: &UpdateRequest) -> TResult<IssuePayload> {
        let mut body = serde_json::Map::new();
        if let Some(t) = req.title.as_deref().filter(|t| !t.trim().is_empty()) {
            body.insert("title".into(), json!(t.trim()));
        }
        if let Some(d) = &req.description {
            body.insert("description".into(), json!(d));
        }
        if let Some(l) = &req.labels {
            body.insert("labels".into(), json!(l.join(",")));
        }
        self.put(iid, Value::Object(body)).await
    }

    async fn assign(&self, iid: &str, assignee: &str) -> TResult<IssuePayload> {
        let id = self.user_id(assignee).await?.ok_or_else(|| {
            TrackerError::Refused(format!("GitLab user '{assignee}' not found"), 404)
        })?;
        self.put(iid, json!({"assignee_ids": [id]})).await
    }

    async fn close(&self, iid: &str) -> TResult<IssuePayload> {
        self.put(iid, json!({"state_event": "close"})).await
    }

    async fn reopen(&self, iid: &str) -> TResult<IssuePayload> {
        self.put(iid, json!({"state_event": "reopen"})).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignee_prefers_the_display_name() {
        let v = json!({"iid": 101, "title": "t", "state": "opened", "assignee": {"name": "Dev", "username": "dev"}, "labels": ["ci"]});
        let p = payload(&wire::obj(v)).unwrap();
        assert_eq!(p.external_id, "101");
        assert_eq!(p.assignee.as_deref(), Some("Dev"));
        let v = json!({"iid": 1, "assignees": [{"username": "u"}]});
        assert_eq!(
            payload(&wire::obj(v)).unwrap().assignee.as_deref(),
            Some("u")
        );
    }
}
