//! Jira REST v3 (Cloud: ADF bodies, `nextPageToken` search) and v2 (Data Center: wiki strings,
//! `startAt` search). Every page is fetched. Close and reopen go through workflow transitions.

use super::{
    Conn, CreateRequest, IssuePayload, Provider, TResult, TrackerError, UpdateRequest,
    newest_first, wire,
};
use crate::domain::adf;
use crate::domain::issues::{iso, parse_timestamp, pick_transition};
use crate::domain::{Comment, Timestamp};
use reqwest::{Method, RequestBuilder, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
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

// ---- Jira's JSON (see `wire` for the leniency rules) ------------------------------------------

/// A user (`author`, `assignee`, `/myself`, `/user/search`).
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct User {
    #[serde(deserialize_with = "wire::string")]
    display_name: Option<String>,
    /// Data Center's user name (v2).
    #[serde(deserialize_with = "wire::string")]
    name: Option<String>,
    /// Cloud's account id (v3).
    #[serde(deserialize_with = "wire::string")]
    account_id: Option<String>,
}

/// An issue: `GET /issue/{key}`, the elements of a search, and the answer of a create.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Issue {
    /// `Some` when the key is there; a search skips issues without one, while one whose key is
    /// not a string fails the sync.
    #[serde(deserialize_with = "wire::present_string")]
    key: Option<Option<String>>,
    /// `Some` when the key is there (a create may answer with the fields or without).
    #[serde(deserialize_with = "wire::present_object")]
    fields: Option<Fields>,
}

/// The fields asked for ([`FIELDS`]).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Fields {
    #[serde(deserialize_with = "wire::string")]
    summary: Option<String>,
    #[serde(deserialize_with = "wire::object")]
    status: Option<Status>,
    #[serde(deserialize_with = "wire::object")]
    assignee: Option<User>,
    #[serde(deserialize_with = "wire::strings")]
    labels: Vec<String>,
    #[serde(deserialize_with = "wire::string")]
    updated: Option<String>,
    /// A wiki string (v2) or an ADF document (v3).
    description: Option<Value>,
    /// `Some` when the field is there, even null: then the stored comments are replaced.
    #[serde(deserialize_with = "wire::present_object")]
    comment: Option<CommentPage>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Status {
    #[serde(deserialize_with = "wire::string")]
    name: Option<String>,
}

/// `fields.comment`: the issue's comments, oldest first.
#[derive(Deserialize, Default)]
#[serde(default)]
struct CommentPage {
    #[serde(deserialize_with = "wire::objects")]
    comments: Vec<IssueComment>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct IssueComment {
    #[serde(deserialize_with = "wire::id")]
    id: Option<String>,
    #[serde(deserialize_with = "wire::object")]
    author: Option<User>,
    /// A wiki string (v2) or an ADF document (v3).
    body: Option<Value>,
    #[serde(deserialize_with = "wire::string")]
    created: Option<String>,
    #[serde(deserialize_with = "wire::string")]
    updated: Option<String>,
}

/// A page of `GET /search` (v2: `startAt`/`total`) or `GET /search/jql` (v3: `nextPageToken`).
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct SearchPage {
    /// `None` when the answer has no `issues` list (an error, not an empty page).
    #[serde(deserialize_with = "wire::array")]
    issues: Option<Vec<Issue>>,
    #[serde(deserialize_with = "wire::string")]
    next_page_token: Option<String>,
    #[serde(deserialize_with = "wire::bool")]
    is_last: Option<bool>,
    #[serde(deserialize_with = "wire::u64")]
    total: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Transitions {
    #[serde(deserialize_with = "wire::objects")]
    transitions: Vec<Transition>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Transition {
    #[serde(deserialize_with = "wire::id")]
    id: Option<String>,
    #[serde(deserialize_with = "wire::string")]
    name: Option<String>,
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

    /// `call`, the answer read as one object.
    async fn call_obj<T: DeserializeOwned + Default>(
        &self,
        method: Method,
        tail: &str,
        body: Option<Value>,
    ) -> TResult<T> {
        Ok(wire::obj(self.call(method, tail, body).await?))
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

    fn comment_from(c: IssueComment) -> Comment {
        Comment {
            id: c.id,
            author: c
                .author
                .and_then(|a| a.display_name.or(a.name))
                .unwrap_or_default(),
            body: Jira::text(c.body.as_ref()).unwrap_or_default(),
            created_at: c
                .updated
                .or(c.created)
                .and_then(|t| parse_timestamp(&t))
                .map(|t| iso(&t)),
            url: None,
        }
    }

    fn payload(&self, i: Issue) -> TResult<IssuePayload> {
        let key = i
            .key
            .flatten()
            .ok_or_else(|| TrackerError::Failed("Jira issue without a key".into()))?;
        let f = i.fields.unwrap_or_default();
        let assignee = f.assignee.as_ref();
        Ok(IssuePayload {
            url: Some(format!("{}/browse/{key}", self.c.base_url)),
            external_id: key,
            title: f.summary.unwrap_or_default(),
            status: f.status.and_then(|st| st.name),
            assignee: assignee.and_then(|a| a.display_name.clone().or_else(|| a.name.clone())),
            assignee_key: assignee.and_then(|a| a.account_id.clone().or_else(|| a.name.clone())),
            labels: f.labels,
            updated_at: f.updated.as_deref().and_then(parse_timestamp),
            body: Jira::text(f.description.as_ref()).filter(|d| !d.trim().is_empty()),
            comments: f
                .comment
                .map(|c| newest_first(c.comments.into_iter().map(Jira::comment_from).collect())),
        })
    }

    async fn fetch(&self, key: &str) -> TResult<IssuePayload> {
        let i = self
            .call_obj(Method::GET, &format!("/issue/{key}?fields={FIELDS}"), None)
            .await?;
        self.payload(i)
    }

    async fn transition(&self, external_id: &str, closing: bool) -> TResult<IssuePayload> {
        let key = self.key(external_id)?;
        let t: Transitions = self
            .call_obj(Method::GET, &format!("/issue/{key}/transitions"), None)
            .await?;
        let list: Vec<(String, String)> = t
            .transitions
            .into_iter()
            .filter_map(|t| Some((t.id?, t.name?)))
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
        let me: User = self.call_obj(Method::GET, "/myself", None).await?;
        Ok(match me.display_name {
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
            let page: SearchPage = wire::obj(v);
            let issues = page
                .issues
                .ok_or_else(|| TrackerError::Failed("Unexpected Jira response payload.".into()))?;
            let n = issues.len();
            for i in issues.into_iter().filter(|i| i.key.is_some()) {
                out.push(self.payload(i)?);
            }
            if self.version == "3" {
                token = page.next_page_token;
                let last = page.is_last.unwrap_or(token.is_none());
                if last || token.is_none() || n == 0 {
                    break;
                }
            } else {
                start += n;
                let total = page.total.map(|t| t as usize);
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
        let issue_type = req
            .issue_type
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .or(self.c.config_str("issue_type"))
            .unwrap_or("Task")
            .trim();
        let mut fields = serde_json::Map::new();
        fields.insert("project".into(), json!({"key": self.c.identifier.trim()}));
        fields.insert("summary".into(), json!(req.title.trim()));
        fields.insert("issuetype".into(), json!({"name": issue_type}));
        if let Some(d) = req.description.as_deref().filter(|d| !d.trim().is_empty()) {
            fields.insert("description".into(), self.body(d));
        }
        if !req.labels.is_empty() {
            fields.insert("labels".into(), json!(req.labels));
        }
        if let Some(p) = req
            .priority
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            fields.insert("priority".into(), json!({"name": p}));
        }
        if let Some(a) = req.assignee.as_deref().filter(|a| !a.is_empty()) {
            fields.insert("assignee".into(), json!({"accountId": a}));
        }
        for (k, v) in &req.custom_fields {
            if !v.is_null() {
                fields.insert(k.clone(), v.clone());
            }
        }
        let created: Issue = self
            .call_obj(Method::POST, "/issue", Some(json!({"fields": fields})))
            .await?;
        let Some(key) = created.key.clone().flatten() else {
            return Err(TrackerError::Failed(
                "Jira created the issue but returned no key".into(),
            ));
        };
        if created.fields.is_some() {
            return self.payload(created);
        }
        self.fetch(&key).await
    }

    async fn comment(&self, external_id: &str, body: &str) -> TResult<Comment> {
        let key = self.key(external_id)?;
        let c = self
            .call_obj(
                Method::POST,
                &format!("/issue/{key}/comment"),
                Some(json!({"body": self.body(body)})),
            )
            .await?;
        Ok(Jira::comment_from(c))
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
        let c = self
            .call_obj(
                Method::PUT,
                &format!("/issue/{key}/comment/{comment_id}"),
                Some(json!({"body": self.body(body)})),
            )
            .await?;
        Ok(Jira::comment_from(c))
    }

    async fn update(&self, external_id: &str, req: &UpdateRequest) -> TResult<IssuePayload> {
        let key = self.key(external_id)?;
        let mut fields = serde_json::Map::new();
        if let Some(t) = req.title.as_deref().filter(|t| !t.trim().is_empty()) {
            fields.insert("summary".into(), json!(t.trim()));
        }
        if let Some(d) = &req.description {
            fields.insert("description".into(), self.body(d));
        }
        if let Some(l) = &req.labels {
            fields.insert("labels".into(), json!(l));
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
        let users: Vec<User> = wire::objs(v);
        let exact = users.iter().find(|x| {
            x.display_name
                .as_ref()
                .is_some_and(|d| d.to_lowercase() == name.to_lowercase())
        });
        Ok(exact
            .or(if users.len() == 1 {
                users.first()
            } else {
                None
            })
            .and_then(|x| x.account_id.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::trackers::Http;
    use chrono::TimeZone;

    fn jira() -> Jira {
        Jira::new(Conn {
            base_url: "https://jira.example".into(),
            token: "t".into(),
            settings: json!({"username": "a@b.c"}),
            identifier: "OPS".into(),
            config: Value::Null,
            http: Http::new().unwrap(),
        })
        .unwrap()
    }

    #[test]
    fn issue_mapping_reads_every_field() {
        let doc = json!({"type": "doc", "version": 1, "content": [{"type": "paragraph",
            "content": [{"type": "text", "text": "Body"}]}]});
        let i: Issue = wire::obj(json!({"key": "OPS-1", "fields": {
            "summary": "S", "status": {"name": "In Progress"},
            "assignee": {"displayName": "Dev", "accountId": "acc-1"},
            "labels": ["x", 1], "updated": "2024-01-02T03:04:05.000+0000", "description": doc,
            "comment": {"comments": [
                {"id": "10", "author": {"name": "old"}, "body": "first", "created": "2024-01-01T00:00:00.000+0000"},
                {"id": 11, "author": {"displayName": "New"}, "body": "second"}]}}}));
        let p = jira().payload(i).unwrap();
        assert_eq!(p.external_id, "OPS-1");
        assert_eq!(p.url.as_deref(), Some("https://jira.example/browse/OPS-1"));
        assert_eq!(p.title, "S");
        assert_eq!(p.status.as_deref(), Some("In Progress"));
        assert_eq!(p.assignee.as_deref(), Some("Dev"));
        assert_eq!(p.assignee_key.as_deref(), Some("acc-1"));
        assert_eq!(p.labels, vec!["x"]);
        assert!(p.updated_at.is_some());
        assert_eq!(p.body.as_deref().map(str::trim), Some("Body"));
        let c = p.comments.unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].id.as_deref(), c[0].author.as_str()),
            (Some("11"), "New")
        );
        assert_eq!((c[1].author.as_str(), c[1].body.as_str()), ("old", "first"));
        assert!(c[1].created_at.is_some());
    }

    #[test]
    fn missing_and_odd_fields_are_tolerated() {
        let p = jira()
            .payload(wire::obj(json!({"key": "OPS-2", "fields": "none"})))
            .unwrap();
        assert_eq!((p.title.as_str(), p.status, p.comments), ("", None, None));
        // `comment: null` is there: the stored comments are replaced by none.
        let p = jira()
            .payload(wire::obj(
                json!({"key": "OPS-3", "fields": {"comment": null,
                "assignee": null, "description": "  "}}),
            ))
            .unwrap();
        assert_eq!(p.comments, Some(Vec::new()));
        assert_eq!((p.assignee, p.body), (None, None));
        assert!(jira().payload(wire::obj(json!({"key": 5}))).is_err());
        let page: SearchPage = wire::obj(json!({"issues": {}, "total": 3}));
        assert!(page.issues.is_none(), "issues must be a list");
        let page: SearchPage = wire::obj(json!({"issues": [{"key": "A-1"}, 7], "isLast": true,
            "nextPageToken": 9}));
        let issues = page.issues.unwrap();
        assert_eq!(issues.len(), 2);
        assert!(issues[0].key.is_some() && issues[1].key.is_none());
        assert_eq!((page.is_last, page.next_page_token), (Some(true), None));
    }

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
