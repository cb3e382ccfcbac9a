//! Jira REST v3 (Cloud: ADF bodies, `nextPageToken` search) and v2 (Data Center: wiki strings,
//! `startAt` search). Every page is fetched. Close and reopen go through workflow transitions.

use super::{
    Conn, CreateRequest, IssuePayload, Provider, TResult, TrackerError, UpdateRequest, id_string,
    newest_first, s,
};
use crate::domain::adf;
use crate::domain::issues::{iso, parse_timestamp, pick_transition};
use crate::domain::{Comment, Timestamp};
use reqwest::{Method, RequestBuilder, Url};
use serde_json::{Value, json};

const LABEL: &str = "Jira";
pub const FIELDS: &str = "summary,status,assignee,updated,labels,description,comment";
const PAGE: usize = 100;

pub struct Jira {
    c: Conn,
    email: String,
    /// "2" or "3"
    version: &'static str,
}

/// The JQL for a sync: the custom JQL or the project filter, plus the `since` clause placed
/// before any ORDER BY, ordered by update time.
pub fn build_jql(custom: Option<&str>, key: &str, since: Option<Timestamp>) -> String {
    let base = custom
        .map(str::trim)
        .filter(|j| !j.is_empty())
        .map(String::from)
        .unwrap_or_else(|| format!("project = \"{}\"", key.replace('"', "")));
    let lower = base.to_lowercase();
    let (filter, order) = match lower.rfind("order by") {
        Some(i) => (base[..i].trim().to_string(), base[i..].trim().to_string()),
        None => (base.clone(), "ORDER BY updated DESC".to_string()),
    };
    let filter = match since {
        Some(t) if filter.is_empty() => format!("updated >= \"{}\"", t.format("%Y-%m-%d %H:%M")),
        Some(t) => format!(
            "({filter}) AND updated >= \"{}\"",
            t.format("%Y-%m-%d %H:%M")
        ),
        None => filter,
    };
    format!("{filter} {order}").trim().to_string()
}

impl Jira {
    pub fn new(c: Conn) -> TResult<Jira> {
        let email = c
            .setting("username")
            .or_else(|| c.setting("email"))
            .ok_or_else(|| {
                TrackerError::Invalid("Jira integration requires an account email.".into())
            })?
            .to_string();
        let version = match c.setting("api_version") {
            Some("2") => "2",
            Some("3") => "3",
            _ if c.base_url.contains(".atlassian.net") => "3",
            _ => "2",
        };
        Ok(Jira { c, email, version })
    }

    fn api(&self, tail: &str) -> String {
        format!("{}/rest/api/{}{tail}", self.c.base_url, self.version)
    }

    fn req(&self, method: Method, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.c
            .http
            .client()
            .request(method, url)
            .basic_auth(&self.email, Some(&self.c.token))
            .header("Accept", "application/json")
    }

    async fn call(&self, method: Method, tail: &str, body: Option<Value>) -> TResult<Value> {
        let mut rb = self.req(method, self.api(tail));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        Ok(self.c.http.json(LABEL, rb).await?.0)
    }

    fn key(&self, external_id: &str) -> TResult<String> {
        let k = external_id.trim();
        if k.is_empty() || k.contains('/') || k.contains(char::is_whitespace) {
            return Err(TrackerError::Invalid(format!(
                "'{external_id}' is not a Jira issue key"
            )));
        }
        Ok(k.to_string())
    }

    /// A body for Jira: ADF from Markdown on v3, the text itself on v2.
    fn body(&self, markdown: &str) -> Value {
        if self.version == "3" {
            adf::from_markdown(markdown)
        } else {
            json!(markdown)
        }
    }

    fn text(v: Option<&Value>) -> Option<String> {
        match v? {
            Value::String(s) => Some(s.clone()),
            d if adf::is_doc(d) => Some(adf::to_markdown(d)),
            _ => None,
        }
    }

    fn comment_from(v: &Value) -> Comment {
        Comment {
            id: id_string(v, "id"),
            author: v
                .get("author")
                .and_then(|a| s(a, "displayName").or_else(|| s(a, "name")))
                .unwrap_or_default(),
            body: Jira::text(v.get("body")).unwrap_or_default(),
            created_at: s(v, "updated")
                .or_else(|| s(v, "created"))
                .and_then(|t| parse_timestamp(&t))
                .map(|t| iso(&t)),
            url: None,
        }
    }

    fn payload(&self, v: &Value) -> TResult<IssuePayload> {
        let key =
            s(v, "key").ok_or_else(|| TrackerError::Failed("Jira issue without a key".into()))?;
        let f = v.get("fields").cloned().unwrap_or(Value::Null);
        let comments: Vec<Comment> = f
            .get("comment")
            .and_then(|c| c.get("comments"))
            .and_then(Value::as_array)
            .map(|a| a.iter().map(Jira::comment_from).collect())
            .unwrap_or_default();
        Ok(IssuePayload {
            url: Some(format!("{}/browse/{key}", self.c.base_url)),
            external_id: key,
            title: s(&f, "summary").unwrap_or_default(),
            status: f.get("status").and_then(|st| s(st, "name")),
            assignee: f
                .get("assignee")
                .filter(|a| !a.is_null())
                .and_then(|a| s(a, "displayName").or_else(|| s(a, "name"))),
            assignee_key: f
                .get("assignee")
                .filter(|a| !a.is_null())
                .and_then(|a| s(a, "accountId").or_else(|| s(a, "name"))),
            labels: f
                .get("labels")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(String::from))
                .collect(),
            updated_at: s(&f, "updated").and_then(|t| parse_timestamp(&t)),
            body: Jira::text(f.get("description")).filter(|d| !d.trim().is_empty()),
            comments: f.get("comment").map(|_| newest_first(comments)),
        })
    }

    async fn fetch(&self, key: &str) -> TResult<IssuePayload> {
        let v = self
            .call(Method::GET, &format!("/issue/{key}?fields={FIELDS}"), None)
            .await?;
        self.payload(&v)
    }

    async fn transition(&self, external_id: &str, closing: bool) -> TResult<IssuePayload> {
        let key = self.key(external_id)?;
        let v = self
            .call(Method::GET, &format!("/issue/{key}/transitions"), None)
            .await?;
        let list: Vec<(String, String)> = v
            .get("transitions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| Some((id_string(t, "id")?, s(t, "name")?)))
            .collect();
        let preferred = self.c.config_str(if closing {
            "close_transition"
        } else {
            "reopen_transition"
        });
        let id = pick_transition(&list, preferred, closing).ok_or_else(|| {
            let names: Vec<&str> = list.iter().map(|(_, n)| n.as_str()).collect();
            TrackerError::Invalid(format!(
                "Jira project configuration lacks a suitable transition to {} issues (available: {}). Set {} in the project link's config.",
                if closing { "close" } else { "reopen" },
                if names.is_empty() { "none".to_string() } else { names.join(", ") },
                if closing { "close_transition" } else { "reopen_transition" },
            ))
        })?;
        self.call(
            Method::POST,
            &format!("/issue/{key}/transitions"),
            Some(json!({"transition": {"id": id}})),
        )
        .await?;
        self.fetch(&key).await
    }
}

impl Provider for Jira {
    async fn test(&self) -> TResult<String> {
        let v = self.call(Method::GET, "/myself", None).await?;
        Ok(match s(&v, "displayName") {
            Some(n) => format!("Jira credentials verified for {n}."),
            None => "Jira credentials verified.".into(),
        })
    }

    async fn list(&self, since: Option<Timestamp>) -> TResult<Vec<IssuePayload>> {
        let jql = build_jql(self.c.config_str("jql"), &self.c.identifier, since);
        let mut out = Vec::new();
        let mut start = 0usize;
        let mut token: Option<String> = None;
        loop {
            let mut u = Url::parse(&self.api(if self.version == "3" {
                "/search/jql"
            } else {
                "/search"
            }))
            .map_err(|e| TrackerError::Invalid(format!("Invalid Jira base URL: {e}")))?;
            {
                let mut q = u.query_pairs_mut();
                q.append_pair("jql", &jql)
                    .append_pair("maxResults", &PAGE.to_string())
                    .append_pair("fields", FIELDS);
                if self.version == "3" {
                    if let Some(t) = &token {
                        q.append_pair("nextPageToken", t);
                    }
                } else {
                    q.append_pair("startAt", &start.to_string());
                }
            }
            let (v, _) = self.c.http.json(LABEL, self.req(Method::GET, u)).await?;
            let issues = v
                .get("issues")
                .and_then(Value::as_array)
                .ok_or_else(|| TrackerError::Failed("Unexpected Jira response payload.".into()))?;
            let n = issues.len();
            for i in issues.iter().filter(|i| i.get("key").is_some()) {
                out.push(self.payload(i)?);
            }
            if self.version == "3" {
                token = s(&v, "nextPageToken");
                let last = v
                    .get("isLast")
                    .and_then(Value::as_bool)
                    .unwrap_or(token.is_none());
                if last || token.is_none() || n == 0 {
                    break;
                }
            } else {
                start += n;
                let total = v.get("total").and_then(Value::as_u64).map(|t| t as usize);
                if n == 0 || total.is_none_or(|t| start >= t) {
                    break;
                }
            }
        }
        Ok(out)
    }

    async fn get(&self, external_id: &str) -> TResult<IssuePayload> {
        let key = self.key(external_id)?;
        self.fetch(&key).await
    }

    async fn create(&self, req: &CreateRequest) -> TResult<IssuePayload> {
        let mut fields = json!({
            "project": {"key": self.c.identifier.trim()},
            "summary": req.title.trim(),
            "issuetype": {"name": req.issue_type.as_deref().filter(|t| !t.trim().is_empty())
                .or(self.c.config_str("issue_type")).unwrap_or("Task").trim()},
        });
        if let Some(d) = req.description.as_deref().filter(|d| !d.trim().is_empty()) {
            fields["description"] = self.body(d);
        }
        if !req.labels.is_empty() {
            fields["labels"] = json!(req.labels);
        }
        if let Some(p) = req
            .priority
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            fields["priority"] = json!({"name": p});
        }
        if let Some(a) = req.assignee.as_deref().filter(|a| !a.is_empty()) {
            fields["assignee"] = json!({"accountId": a});
        }
        for (k, v) in &req.custom_fields {
            if !v.is_null() {
                fields[k] = v.clone();
            }
        }
        let created = self
            .call(Method::POST, "/issue", Some(json!({"fields": fields})))
            .await?;
        let key = s(&created, "key").ok_or_else(|| {
            TrackerError::Failed("Jira created the issue but returned no key".into())
        })?;
        if created.get("fields").is_some() {
            return self.payload(&created);
        }
        self.fetch(&key).await
    }

    async fn comment(&self, external_id: &str, body: &str) -> TResult<Comment> {
        let key = self.key(external_id)?;
        let v = self
            .call(
                Method::POST,
                &format!("/issue/{key}/comment"),
                Some(json!({"body": self.body(body)})),
            )
            .await?;
        Ok(Jira::comment_from(&v))
    }

    async fn edit_comment(
        &self,
        external_id: &str,
        comment_id: &str,
        body: &str,
    ) -> TResult<Comment> {
        let key = self.key(external_id)?;
        if !comment_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(TrackerError::Invalid(
                "Jira comment id must be alphanumeric.".into(),
            ));
        }
        let v = self
            .call(
                Method::PUT,
                &format!("/issue/{key}/comment/{comment_id}"),
                Some(json!({"body": self.body(body)})),
            )
            .await?;
        Ok(Jira::comment_from(&v))
    }

    async fn update(&self, external_id: &str, req: &UpdateRequest) -> TResult<IssuePayload> {
        let key = self.key(external_id)?;
        let mut fields = json!({});
        if let Some(t) = req.title.as_deref().filter(|t| !t.trim().is_empty()) {
            fields["summary"] = json!(t.trim());
        }
        if let Some(d) = &req.description {
            fields["description"] = self.body(d);
        }
        if let Some(l) = &req.labels {
            fields["labels"] = json!(l);
        }
        self.call(
            Method::PUT,
            &format!("/issue/{key}"),
            Some(json!({"fields": fields})),
        )
        .await?;
        self.fetch(&key).await
    }

    async fn assign(&self, external_id: &str, assignee: &str) -> TResult<IssuePayload> {
        let key = self.key(external_id)?;
        let body = if self.version == "3" || !assignee.contains('@') {
            json!({"accountId": assignee})
        } else {
            json!({"name": assignee})
        };
        self.call(Method::PUT, &format!("/issue/{key}/assignee"), Some(body))
            .await?;
        self.fetch(&key).await
    }

    async fn close(&self, external_id: &str) -> TResult<IssuePayload> {
        self.transition(external_id, true).await
    }

    async fn reopen(&self, external_id: &str) -> TResult<IssuePayload> {
        self.transition(external_id, false).await
    }

    async fn find_user(&self, name: &str) -> TResult<Option<String>> {
        let mut u = Url::parse(&self.api("/user/search"))
            .map_err(|e| TrackerError::Invalid(e.to_string()))?;
        u.query_pairs_mut().append_pair("query", name);
        let (v, _) = self.c.http.json(LABEL, self.req(Method::GET, u)).await?;
        let users: Vec<&Value> = v.as_array().into_iter().flatten().collect();
        let exact = users
            .iter()
            .find(|x| s(x, "displayName").is_some_and(|d| d.to_lowercase() == name.to_lowercase()));
        Ok(exact
            .or(if users.len() == 1 {
                users.first()
            } else {
                None
            })
            .and_then(|x| s(x, "accountId")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn jql_like_the_original_plus_order_and_since() {
        assert_eq!(
            build_jql(None, "DEVOPS", None),
            "project = \"DEVOPS\" ORDER BY updated DESC"
        );
        let since = chrono::Utc.with_ymd_and_hms(2024, 9, 1, 15, 30, 0).unwrap();
        let j = build_jql(None, "DEVOPS", Some(since));
        assert!(j.contains("updated >= \"2024-09-01 15:30\""), "{j}");
        // A custom JQL with ORDER BY stays valid once the since clause is added.
        let j = build_jql(
            Some("assignee = currentUser() ORDER BY priority"),
            "X",
            Some(since),
        );
        assert_eq!(
            j,
            "(assignee = currentUser()) AND updated >= \"2024-09-01 15:30\" ORDER BY priority"
        );
    }
}
