//! GitLab REST v4: issues of one project (path or numeric id). Pages via `x-next-page`; system
//! notes are dropped from comments.

use super::{
    Conn, CreateRequest, IssuePayload, Provider, TResult, TrackerError, UpdateRequest,
    few_at_a_time, id_string, s,
};
use crate::domain::Comment;
use crate::domain::Timestamp;
use crate::domain::issues::{MAX_COMMENTS_PER_ISSUE, iso, parse_timestamp};
use reqwest::{Method, RequestBuilder, Url};
use serde_json::{Value, json};

const LABEL: &str = "GitLab";

pub struct GitLab {
    c: Conn,
}

fn person(v: Option<&Value>) -> Option<String> {
    let v = match v? {
        Value::Array(a) => a.first()?,
        Value::Null => return None,
        other => other,
    };
    s(v, "name")
        .filter(|n| !n.is_empty())
        .or_else(|| s(v, "username"))
}

fn username(v: Option<&Value>) -> Option<String> {
    let v = match v? {
        Value::Array(a) => a.first()?,
        Value::Null => return None,
        other => other,
    };
    s(v, "username")
}

fn note(v: &Value) -> Comment {
    Comment {
        id: id_string(v, "id"),
        author: person(v.get("author")).unwrap_or_default(),
        body: s(v, "body").unwrap_or_default(),
        created_at: s(v, "created_at")
            .and_then(|t| parse_timestamp(&t))
            .map(|t| iso(&t)),
        url: s(v, "web_url"),
    }
}

fn payload(v: &Value) -> TResult<IssuePayload> {
    let iid = id_string(v, "iid")
        .ok_or_else(|| TrackerError::Failed("GitLab issue without an iid".into()))?;
    Ok(IssuePayload {
        external_id: iid,
        title: s(v, "title").unwrap_or_default(),
        status: s(v, "state"),
        assignee: person(v.get("assignee")).or_else(|| person(v.get("assignees"))),
        assignee_key: username(v.get("assignee")).or_else(|| username(v.get("assignees"))),
        url: s(v, "web_url"),
        labels: v
            .get("labels")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|l| l.as_str().map(String::from).or_else(|| s(l, "name")))
            .collect(),
        updated_at: s(v, "updated_at").and_then(|t| parse_timestamp(&t)),
        body: s(v, "description"),
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

    async fn call(&self, method: Method, tail: &[&str], body: Option<Value>) -> TResult<Value> {
        let mut rb = self.req(method, self.url(tail)?);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        Ok(self.c.http.json(LABEL, rb).await?.0)
    }

    async fn pages(&self, tail: &[&str], query: &[(&str, String)]) -> TResult<Vec<Value>> {
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
                Value::Array(items) => out.extend(items),
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
        let items = self
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
            .iter()
            .filter(|n| !n.get("system").and_then(Value::as_bool).unwrap_or(false))
            .take(MAX_COMMENTS_PER_ISSUE)
            .map(note)
            .collect())
    }

    async fn with_notes(&self, v: &Value) -> TResult<IssuePayload> {
        let mut p = payload(v)?;
        let count = v
            .get("user_notes_count")
            .and_then(Value::as_u64)
            .unwrap_or(1);
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
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .find(|x| s(x, "username").as_deref() == Some(username))
            .and_then(|x| x.get("id").and_then(Value::as_u64)))
    }

    async fn put(&self, iid: &str, body: Value) -> TResult<IssuePayload> {
        let v = self.call(Method::PUT, &["issues", iid], Some(body)).await?;
        payload(&v)
    }
}

impl Provider for GitLab {
    async fn test(&self) -> TResult<String> {
        let u = Url::parse(&format!("{}/api/v4/user", self.c.base_url))
            .map_err(|e| TrackerError::Invalid(e.to_string()))?;
        let (v, _) = self.c.http.json(LABEL, self.req(Method::GET, u)).await?;
        Ok(match s(&v, "username") {
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
        let items = self.pages(&["issues"], &q).await?;
        let with_iid: Vec<&Value> = items.iter().filter(|i| i.get("iid").is_some()).collect();
        few_at_a_time(&with_iid, |v| self.with_notes(v)).await
    }

    async fn get(&self, iid: &str) -> TResult<IssuePayload> {
        let v = self.call(Method::GET, &["issues", iid], None).await?;
        self.with_notes(&v).await
    }

    async fn create(&self, req: &CreateRequest) -> TResult<IssuePayload> {
        let mut body = json!({"title": req.title.trim()});
        if let Some(d) = req.description.as_deref().filter(|d| !d.trim().is_empty()) {
            body["description"] = json!(d);
        }
        if !req.labels.is_empty() {
            body["labels"] = json!(req.labels.join(","));
        }
        if let Some(a) = req.assignee.as_deref().filter(|a| !a.is_empty())
            && let Ok(Some(id)) = self.user_id(a).await
        {
            body["assignee_ids"] = json!([id]);
        }
        if let Some(m) = req
            .milestone
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
        {
            if let Ok(n) = m.parse::<u64>() {
                body["milestone_id"] = json!(n);
            } else {
                let mut u = self.url(&["milestones"])?;
                u.query_pairs_mut()
                    .append_pair("search", m)
                    .append_pair("per_page", "100");
                if let Ok((list, _)) = self.c.http.json(LABEL, self.req(Method::GET, u)).await
                    && let Some(id) = list.as_array().into_iter().flatten().find_map(|ms| {
                        (s(ms, "title")?.trim().to_lowercase() == m.to_lowercase())
                            .then(|| {
                                ms.get("id")
                                    .or_else(|| ms.get("iid"))
                                    .and_then(Value::as_u64)
                            })
                            .flatten()
                    })
                {
                    body["milestone_id"] = json!(id);
                }
            }
        }
        let v = self.call(Method::POST, &["issues"], Some(body)).await?;
        let mut p = payload(&v)?;
        p.comments = Some(Vec::new());
        Ok(p)
    }

    async fn comment(&self, iid: &str, body: &str) -> TResult<Comment> {
        let v = self
            .call(
                Method::POST,
                &["issues", iid, "notes"],
                Some(json!({"body": body})),
            )
            .await?;
        Ok(note(&v))
    }

    async fn edit_comment(&self, iid: &str, comment_id: &str, body: &str) -> TResult<Comment> {
        let v = self
            .call(
                Method::PUT,
                &["issues", iid, "notes", comment_id],
                Some(json!({"body": body})),
            )
            .await?;
        Ok(note(&v))
    }

    async fn update(&self, iid: &str, req: &UpdateRequest) -> TResult<IssuePayload> {
        let mut body = json!({});
        if let Some(t) = req.title.as_deref().filter(|t| !t.trim().is_empty()) {
            body["title"] = json!(t.trim());
        }
        if let Some(d) = &req.description {
            body["description"] = json!(d);
        }
        if let Some(l) = &req.labels {
            body["labels"] = json!(l.join(","));
        }
        self.put(iid, body).await
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
        let p = payload(&v).unwrap();
        assert_eq!(p.external_id, "101");
        assert_eq!(p.assignee.as_deref(), Some("Dev"));
        let v = json!({"iid": 1, "assignees": [{"username": "u"}]});
        assert_eq!(payload(&v).unwrap().assignee.as_deref(), Some("u"));
    }
}
