//! In-process fake GitHub, GitLab and Jira servers on loopback. They answer with the documented
//! upstream JSON (pagination headers, PRs among GitHub issues, GitLab system notes, Jira ADF and
//! transitions, GitHub pull requests and GitLab merge requests with their merge), record every
//! request, and can be told to fail (401/404/422/429/5xx) or stall.

use poem::http::{HeaderMap, Method, StatusCode};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Body, EndpointExt, Request, Response, handler};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Kind {
    GitHub,
    GitLab,
    Jira,
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent (not decoded).
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or_default()
    }
}

/// A scripted failure: requests whose path contains `path_part` get `status` (with optional
/// Retry-After) `times` times.
pub struct Failure {
    pub path_part: String,
    pub query_part: String,
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<u64>,
    pub times: usize,
}

#[derive(Default)]
pub struct State {
    pub requests: Vec<Recorded>,
    /// Provider-native issue JSON, in creation order.
    pub issues: Vec<Value>,
    /// Comments per issue number/iid/key (provider-native JSON, oldest first).
    pub comments: std::collections::HashMap<String, Vec<Value>>,
    pub tokens: Vec<String>,
    pub failures: VecDeque<Failure>,
    /// Requests whose URI contains this wait this long first.
    pub stall: Option<(String, Duration)>,
    pub next_comment_id: u64,
    pub users: Vec<Value>,
    /// GitHub next-page links start with this instead of the fake's own address (look-alike
    /// host tests).
    pub link_base: Option<String>,
    /// GitHub pull requests / GitLab merge requests (provider-native JSON, oldest first).
    pub pulls: Vec<Value>,
}

pub struct Fake {
    pub url: String,
    pub kind: Kind,
    pub state: Arc<Mutex<State>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self._task.abort();
    }
}

impl Fake {
    pub async fn start(kind: Kind, token: &str) -> Fake {
        let state = Arc::new(Mutex::new(State {
            tokens: vec![token.to_string()],
            next_comment_id: 1000,
            ..Default::default()
        }));
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("bind fake");
        let addr = acceptor.local_addr()[0]
            .as_socket_addr()
            .copied()
            .expect("addr");
        let st = state.clone();
        let app = poem::Route::new()
            .at("/*path", handler_fn)
            .data(FakeData { kind, state: st });
        let task = tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        });
        Fake {
            url: format!("http://{addr}"),
            kind,
            state,
            _task: task,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.state.lock().unwrap().requests.clear();
    }

    pub fn add_token(&self, t: &str) {
        self.state.lock().unwrap().tokens.push(t.to_string());
    }

    pub fn fail(
        &self,
        path_part: &str,
        query_part: &str,
        status: u16,
        body: Value,
        retry_after: Option<u64>,
        times: usize,
    ) {
        self.state.lock().unwrap().failures.push_back(Failure {
            path_part: path_part.into(),
            query_part: query_part.into(),
            status,
            body,
            retry_after,
            times,
        });
    }

    pub fn stall(&self, part: &str, d: Duration) {
        self.state.lock().unwrap().stall = Some((part.into(), d));
    }

    // ---- seeding in each tracker's own JSON ----

    pub fn seed_github(&self, n: usize, prs: usize) {
        let mut s = self.state.lock().unwrap();
        for i in 1..=n + prs {
            let is_pr = i > n;
            let mut v = json!({
                "id": 10_000 + i, "number": i, "title": format!("Issue {i}"),
                "state": if i % 4 == 0 { "closed" } else { "open" },
                "html_url": format!("https://github.com/octo/repo/issues/{i}"),
                "labels": [{"name": if i % 2 == 0 { "bug" } else { "feature" }}],
                "assignee": if i % 3 == 0 { json!({"login": "dev"}) } else { Value::Null },
                "body": format!("Body of issue {i}"),
                "comments": 0,
                "updated_at": format!("2024-01-01T00:{:02}:{:02}Z", (i / 60) % 60, i % 60),
                "user": {"login": "reporter"}
            });
            if is_pr {
                v["pull_request"] = json!({"url": "https://api.github.com/pulls/1"});
            }
            s.issues.push(v);
        }
    }

    pub fn add_github_comments(&self, number: u64, count: usize) {
        let mut s = self.state.lock().unwrap();
        let mut list = Vec::new();
        for c in 0..count {
            s.next_comment_id += 1;
            list.push(json!({"id": s.next_comment_id, "user": {"login": format!("user{c}")},
                "body": format!("comment {c}"), "created_at": format!("2024-02-01T00:00:{:02}Z", c % 60),
                "html_url": format!("https://github.com/octo/repo/issues/{number}#c{c}")}));
        }
        if let Some(i) = s.issues.iter_mut().find(|i| i["number"] == number) {
            i["comments"] = json!(count);
        }
        s.comments.insert(number.to_string(), list);
    }

    pub fn seed_gitlab(&self, n: usize) {
        let mut s = self.state.lock().unwrap();
        for i in 1..=n {
            s.issues.push(json!({
                "id": 5000 + i, "iid": i, "title": format!("GL issue {i}"),
                "state": if i % 5 == 0 { "closed" } else { "opened" },
                "web_url": format!("https://gitlab.example/g/p/-/issues/{i}"),
                "labels": ["ci"], "description": format!("GL description {i}"),
                "assignee": if i == 1 { json!({"name": "Dev", "username": "dev"}) } else { Value::Null },
                "user_notes_count": if i == 1 { 3 } else { 0 },
                "updated_at": format!("2024-01-01T10:00:{:02}.000Z", i % 60)
            }));
        }
        s.comments.insert("1".into(), vec![
            json!({"id": 1, "body": "first human note", "system": false, "author": {"name": "Alice", "username": "alice"}, "created_at": "2024-01-01T10:00:00Z"}),
            json!({"id": 2, "body": "changed the description", "system": true, "author": {"name": "Alice", "username": "alice"}, "created_at": "2024-01-01T11:00:00Z"}),
            json!({"id": 3, "body": "second human note", "system": false, "author": {"name": "Bob", "username": "bob"}, "created_at": "2024-01-01T12:00:00Z"}),
        ]);
        s.users
            .push(json!({"id": 77, "username": "dev", "name": "Dev"}));
    }

    pub fn seed_jira(&self, key: &str, n: usize) {
        let mut s = self.state.lock().unwrap();
        for i in 1..=n {
            s.issues.push(json!({
                "id": (20000 + i).to_string(), "key": format!("{key}-{i}"),
                "fields": {
                    "summary": format!("Jira issue {i}"),
                    "status": {"name": if i % 3 == 0 { "Done" } else { "To Do" }},
                    "assignee": if i == 1 { json!({"displayName": "Example User", "accountId": "acc-example"}) } else { Value::Null },
                    "labels": ["infra"],
                    "updated": format!("2024-10-01T12:{:02}:00.000+0000", i % 60),
                    "description": {"type": "doc", "version": 1, "content": [
                        {"type": "paragraph", "content": [{"type": "text", "text": format!("Steps for {i}")}]},
                        {"type": "bulletList", "content": [
                            {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Collect logs"}]}]},
                            {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Add tests"}]}]}
                        ]}
                    ]},
                    "comment": {"comments": if i == 1 { json!([
                        {"id": "100", "author": {"displayName": "Jane Doe"}, "created": "2024-10-01T10:00:00.000+0000",
                         "body": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
                            {"type": "text", "text": "Looks "}, {"type": "text", "text": "good", "marks": [{"type": "strong"}]}]}]}},
                        {"id": "101", "author": {"displayName": "John Roe"}, "created": "2024-10-02T10:00:00.000+0000",
                         "body": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Newer"}]}]}}
                    ]) } else { json!([]) }, "total": if i == 1 { 2 } else { 0 }}
                }
            }));
        }
        s.users
            .push(json!({"accountId": "acc-jane", "displayName": "Jane Doe"}));
    }
}

#[derive(Clone)]
struct FakeData {
    kind: Kind,
    state: Arc<Mutex<State>>,
}

fn query_param(q: &str, key: &str) -> Option<String> {
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// A JSON number or string equal to a path segment.
fn same(v: &Value, seg: &str) -> bool {
    v.as_u64().is_some_and(|n| seg.parse() == Ok(n)) || v.as_str() == Some(seg)
}

fn json_resp(status: u16, body: Value) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .content_type("application/json")
        .body(body.to_string())
}

#[handler]
async fn handler_fn(
    req: &Request,
    body: Body,
    poem::web::Data(d): poem::web::Data<&FakeData>,
) -> Response {
    let uri = req.uri().to_string();
    let bytes = body.into_vec().await.unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let rec = Recorded {
        method: req.method().to_string(),
        uri: uri.clone(),
        headers: req.headers().clone(),
        body: body.clone(),
    };
    let stall = {
        let mut s = d.state.lock().unwrap();
        s.requests.push(rec.clone());
        s.stall.clone()
    };
    if let Some((part, dur)) = stall
        && uri.contains(&part)
    {
        tokio::time::sleep(dur).await;
    }
    let mut s = d.state.lock().unwrap();
    // Scripted failures first.
    let (path, query) = uri.split_once('?').unwrap_or((uri.as_str(), ""));
    if let Some(pos) = s
        .failures
        .iter()
        .position(|f| path.contains(&f.path_part) && query.contains(&f.query_part))
    {
        let f = &mut s.failures[pos];
        f.times -= 1;
        let (status, fbody, ra) = (f.status, f.body.clone(), f.retry_after);
        if f.times == 0 {
            s.failures.remove(pos);
        }
        let mut r = json_resp(status, fbody);
        if let Some(secs) = ra {
            r.headers_mut()
                .insert("retry-after", secs.to_string().parse().unwrap());
        }
        return r;
    }
    // Authentication.
    let authed = match d.kind {
        Kind::GitHub => rec
            .header("authorization")
            .strip_prefix("token ")
            .is_some_and(|t| s.tokens.iter().any(|k| k == t)),
        Kind::GitLab => s.tokens.contains(&rec.header("private-token")),
        Kind::Jira => {
            use base64::Engine;
            rec.header("authorization")
                .strip_prefix("Basic ")
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|up| up.split_once(':').map(|(_, t)| t.to_string()))
                .is_some_and(|t| s.tokens.contains(&t))
        }
    };
    if !authed {
        return match d.kind {
            Kind::GitHub => json_resp(
                401,
                json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
            ),
            Kind::GitLab => json_resp(401, json!({"message": "401 Unauthorized"})),
            Kind::Jira => json_resp(
                401,
                json!({"errorMessages": ["You are not authenticated. Authentication required to perform this operation."], "errors": {}}),
            ),
        };
    }
    let method = req.method().clone();
    match d.kind {
        Kind::GitHub => {
            let host = s
                .link_base
                .clone()
                .unwrap_or_else(|| format!("http://{}", rec.header("host")));
            github(&mut s, &method, path, query, body, &host)
        }
        Kind::GitLab => gitlab(&mut s, &method, path, query, body),
        Kind::Jira => jira(&mut s, &method, path, query, body),
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn github(s: &mut State, m: &Method, path: &str, query: &str, body: Value, host: &str) -> Response {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (m.as_str(), parts.as_slice()) {
        ("GET", ["user"]) => json_resp(200, json!({"login": "octocat"})),
        ("GET", ["repos", _, _, "issues"]) => {
            let per_page: usize = query_param(query, "per_page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(30);
            let page: usize = query_param(query, "page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1);
            let since = query_param(query, "since");
            let mut items: Vec<&Value> = s
                .issues
                .iter()
                .filter(|i| {
                    since
                        .as_ref()
                        .is_none_or(|t| i["updated_at"].as_str().unwrap_or("") >= t.as_str())
                })
                .collect();
            items.sort_by(|a, b| b["updated_at"].as_str().cmp(&a["updated_at"].as_str()));
            let total = items.len();
            let chunk: Vec<Value> = items
                .into_iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .cloned()
                .collect();
            let mut r = json_resp(200, Value::Array(chunk));
            if page * per_page < total {
                let base =
                    format!("{path}?state=all&sort=updated&direction=desc&per_page={per_page}");
                let since_q = since.map(|t| format!("&since={t}")).unwrap_or_default();
                let link = format!(
                    "<{host}{base}{since_q}&page={}>; rel=\"next\", <{host}{base}&page={}>; rel=\"last\"",
                    page + 1,
                    total.div_ceil(per_page)
                );
                r.headers_mut().insert("link", link.parse().unwrap());
            }
            r
        }
        ("GET", ["repos", _, _, "issues", n, "comments"]) => {
            json_resp(200, json!(s.comments.get(*n).cloned().unwrap_or_default()))
        }
        ("GET", ["repos", _, _, "issues", n]) => {
            match s.issues.iter().find(|i| same(&i["number"], n)) {
                Some(i) => json_resp(200, i.clone()),
                None => json_resp(404, json!({"message": "Not Found"})),
            }
        }
        ("POST", ["repos", o, r, "issues"]) => {
            if body["title"].as_str().unwrap_or("").is_empty() {
                return json_resp(
                    422,
                    json!({"message": "Validation Failed", "errors": [{"resource": "Issue", "field": "title", "code": "missing_field"}]}),
                );
            }
            let n = s.issues.len() + 1;
            let v = json!({"id": 90000 + n, "number": n, "title": body["title"], "state": "open",
                "html_url": format!("https://github.com/{o}/{r}/issues/{n}"),
                "labels": body["labels"].as_array().cloned().unwrap_or_default().iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
                "assignee": body["assignees"].get(0).map(|a| json!({"login": a})).unwrap_or(Value::Null),
                "body": body["body"], "comments": 0, "updated_at": now()});
            s.issues.push(v.clone());
            json_resp(201, v)
        }
        ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
            for list in s.comments.values_mut() {
                if let Some(c) = list.iter_mut().find(|c| same(&c["id"], id)) {
                    c["body"] = body["body"].clone();
                    return json_resp(200, c.clone());
                }
            }
            json_resp(404, json!({"message": "Not Found"}))
        }
        ("PATCH", ["repos", _, _, "issues", n]) => {
            let Some(i) = s.issues.iter_mut().find(|i| same(&i["number"], n)) else {
                return json_resp(404, json!({"message": "Not Found"}));
            };
            if let Some(st) = body.get("state") {
                i["state"] = st.clone();
            }
            if let Some(t) = body.get("title") {
                i["title"] = t.clone();
            }
            if let Some(b) = body.get("body") {
                i["body"] = b.clone();
            }
            if let Some(l) = body.get("labels").and_then(Value::as_array) {
                i["labels"] = json!(l.iter().map(|l| json!({"name": l})).collect::<Vec<_>>());
            }
            if let Some(a) = body.get("assignees").and_then(Value::as_array) {
                i["assignee"] = a
                    .first()
                    .map(|a| json!({"login": a}))
                    .unwrap_or(Value::Null);
            }
            i["updated_at"] = json!(now());
            json_resp(200, i.clone())
        }
        ("POST", ["repos", o, r, "issues", n, "comments"]) => {
            s.next_comment_id += 1;
            let c = json!({"id": s.next_comment_id, "user": {"login": "octocat"}, "body": body["body"],
                "created_at": now(), "html_url": format!("https://github.com/{o}/{r}/issues/{n}#issuecomment-{}", s.next_comment_id)});
            s.comments.entry(n.to_string()).or_default().push(c.clone());
            json_resp(201, c)
        }
        ("POST", ["repos", o, r, "pulls"]) => {
            let (title, head, base) = (&body["title"], &body["head"], &body["base"]);
            if !title.is_string() || !head.is_string() || !base.is_string() {
                return json_resp(
                    422,
                    json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "missing_field"}]}),
                );
            }
            if s.pulls
                .iter()
                .any(|p| p["head"]["ref"] == *head && p["state"] == "open")
            {
                return json_resp(
                    422,
                    json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom",
                        "message": format!("A pull request already exists for {o}:{}.", head.as_str().unwrap_or(""))}]}),
                );
            }
            let n = s.issues.len() + s.pulls.len() + 1;
            let p = json!({"id": 50_000 + n, "number": n, "state": "open", "title": title, "body": body["body"],
                "html_url": format!("https://github.com/{o}/{r}/pull/{n}"), "merged": false, "merged_at": null,
                "head": {"ref": head}, "base": {"ref": base}, "created_at": now(), "updated_at": now()});
            s.pulls.push(p.clone());
            json_resp(201, p)
        }
        ("GET", ["repos", _, _, "pulls"]) => {
            let state = query_param(query, "state").unwrap_or_else(|| "open".into());
            let v: Vec<Value> = s
                .pulls
                .iter()
                .filter(|p| state == "all" || p["state"] == state.as_str())
                .cloned()
                .collect();
            json_resp(200, json!(v))
        }
        ("GET", ["repos", _, _, "pulls", n]) => {
            match s.pulls.iter().find(|p| same(&p["number"], n)) {
                Some(p) => json_resp(200, p.clone()),
                None => json_resp(404, json!({"message": "Not Found"})),
            }
        }
        ("PUT", ["repos", _, _, "pulls", n, "merge"]) => {
            let Some(p) = s.pulls.iter_mut().find(|p| same(&p["number"], n)) else {
                return json_resp(404, json!({"message": "Not Found"}));
            };
            if p["state"] != "open" {
                return json_resp(405, json!({"message": "Pull Request is not mergeable"}));
            }
            p["state"] = json!("closed");
            p["merged"] = json!(true);
            p["merged_at"] = json!(now());
            json_resp(
                200,
                json!({"sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e", "merged": true, "message": "Pull Request successfully merged"}),
            )
        }
        _ => json_resp(404, json!({"message": "Not Found"})),
    }
}

fn gitlab(s: &mut State, m: &Method, path: &str, query: &str, body: Value) -> Response {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (m.as_str(), parts.as_slice()) {
        ("GET", ["api", "v4", "user"]) => json_resp(200, json!({"id": 1, "username": "root"})),
        ("GET", ["api", "v4", "users"]) => {
            let u = query_param(query, "username").unwrap_or_default();
            json_resp(
                200,
                json!(
                    s.users
                        .iter()
                        .filter(|x| x["username"] == u.as_str())
                        .cloned()
                        .collect::<Vec<_>>()
                ),
            )
        }
        ("GET", ["api", "v4", "projects", _, "issues"]) => {
            let per_page: usize = query_param(query, "per_page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(20);
            let page: usize = query_param(query, "page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1);
            let after = query_param(query, "updated_after");
            let mut items: Vec<&Value> = s
                .issues
                .iter()
                .filter(|i| {
                    after
                        .as_ref()
                        .is_none_or(|t| i["updated_at"].as_str().unwrap_or("") >= t.as_str())
                })
                .collect();
            items.sort_by(|a, b| b["updated_at"].as_str().cmp(&a["updated_at"].as_str()));
            let total = items.len();
            let chunk: Vec<Value> = items
                .into_iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .cloned()
                .collect();
            let mut r = json_resp(200, Value::Array(chunk));
            let next = if page * per_page < total {
                (page + 1).to_string()
            } else {
                String::new()
            };
            r.headers_mut().insert("x-next-page", next.parse().unwrap());
            r.headers_mut()
                .insert("x-total", total.to_string().parse().unwrap());
            r
        }
        ("GET", ["api", "v4", "projects", _, "issues", iid, "notes"]) => {
            let mut list = s.comments.get(*iid).cloned().unwrap_or_default();
            list.reverse(); // sort=desc
            json_resp(200, json!(list))
        }
        ("GET", ["api", "v4", "projects", _, "issues", iid]) => {
            match s.issues.iter().find(|i| same(&i["iid"], iid)) {
                Some(i) => json_resp(200, i.clone()),
                None => json_resp(404, json!({"message": "404 Not found"})),
            }
        }
        ("POST", ["api", "v4", "projects", _, "issues"]) => {
            let n = s.issues.len() + 1;
            let v = json!({"id": 9000 + n, "iid": n, "title": body["title"], "state": "opened",
                "web_url": format!("https://gitlab.example/g/p/-/issues/{n}"),
                "labels": body["labels"].as_str().map(|l| l.split(',').map(String::from).collect::<Vec<_>>()).unwrap_or_default(),
                "description": body["description"], "assignee": Value::Null, "user_notes_count": 0, "updated_at": now()});
            s.issues.push(v.clone());
            json_resp(201, v)
        }
        ("PUT", ["api", "v4", "projects", _, "issues", iid, "notes", id]) => {
            let list = s.comments.entry(iid.to_string()).or_default();
            match list.iter_mut().find(|c| same(&c["id"], id)) {
                Some(c) => {
                    c["body"] = body["body"].clone();
                    json_resp(200, c.clone())
                }
                None => json_resp(404, json!({"message": "404 Note Not Found"})),
            }
        }
        ("PUT", ["api", "v4", "projects", _, "issues", iid]) => {
            let users = s.users.clone();
            let Some(i) = s.issues.iter_mut().find(|i| same(&i["iid"], iid)) else {
                return json_resp(404, json!({"message": "404 Not found"}));
            };
            match body["state_event"].as_str() {
                Some("close") => i["state"] = json!("closed"),
                Some("reopen") => i["state"] = json!("opened"),
                _ => {}
            }
            if let Some(t) = body.get("title") {
                i["title"] = t.clone();
            }
            if let Some(l) = body["labels"].as_str() {
                i["labels"] = json!(l.split(',').collect::<Vec<_>>());
            }
            if let Some(ids) = body["assignee_ids"].as_array() {
                i["assignee"] = users
                    .iter()
                    .find(|u| Some(&u["id"]) == ids.first())
                    .cloned()
                    .unwrap_or(Value::Null);
            }
            i["updated_at"] = json!(now());
            json_resp(200, i.clone())
        }
        ("POST", ["api", "v4", "projects", _, "issues", iid, "notes"]) => {
            s.next_comment_id += 1;
            let c = json!({"id": s.next_comment_id, "body": body["body"], "system": false,
                "author": {"name": "Root", "username": "root"}, "created_at": now()});
            s.comments
                .entry(iid.to_string())
                .or_default()
                .push(c.clone());
            json_resp(201, c)
        }
        ("POST", ["api", "v4", "projects", proj, "merge_requests"]) => {
            let (title, src, dst) = (
                &body["title"],
                &body["source_branch"],
                &body["target_branch"],
            );
            if !title.is_string() || !src.is_string() || !dst.is_string() {
                return json_resp(
                    400,
                    json!({"message": "400 Bad request - title, source_branch, target_branch are missing"}),
                );
            }
            if let Some(o) = s
                .pulls
                .iter()
                .find(|p| p["source_branch"] == *src && p["state"] == "opened")
            {
                return json_resp(
                    409,
                    json!({"message": [format!("Another open merge request already exists for this source branch: !{}", o["iid"])]}),
                );
            }
            let iid = s.pulls.len() + 1;
            let path = proj.replace("%2F", "/");
            let p = json!({"id": 70_000 + iid, "iid": iid, "state": "opened", "title": title,
                "description": body["description"], "source_branch": src, "target_branch": dst,
                "web_url": format!("https://gitlab.example.com/{path}/-/merge_requests/{iid}"),
                "merged_at": null, "created_at": now(), "updated_at": now()});
            s.pulls.push(p.clone());
            json_resp(201, p)
        }
        ("GET", ["api", "v4", "projects", _, "merge_requests"]) => {
            let state = query_param(query, "state").unwrap_or_else(|| "all".into());
            let v: Vec<Value> = s
                .pulls
                .iter()
                .filter(|p| state == "all" || p["state"] == state.as_str())
                .cloned()
                .collect();
            json_resp(200, json!(v))
        }
        ("PUT", ["api", "v4", "projects", _, "merge_requests", iid, "merge"]) => {
            let Some(p) = s.pulls.iter_mut().find(|p| same(&p["iid"], iid)) else {
                return json_resp(404, json!({"message": "404 Not found"}));
            };
            if p["state"] != "opened" {
                return json_resp(405, json!({"message": "405 Method Not Allowed"}));
            }
            p["state"] = json!("merged");
            p["merged_at"] = json!(now());
            json_resp(200, p.clone())
        }
        _ => json_resp(404, json!({"message": "404 Not found"})),
    }
}

fn jira_issue_key(i: &Value) -> &str {
    i["key"].as_str().unwrap_or_default()
}

fn jira(s: &mut State, m: &Method, path: &str, query: &str, body: Value) -> Response {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let page_size = |q: &str| {
        query_param(q, "maxResults")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(50)
            .min(50)
    };
    match (m.as_str(), parts.as_slice()) {
        ("GET", ["rest", "api", _, "myself"]) => json_resp(
            200,
            json!({"accountId": "acc-me", "displayName": "Me Myself"}),
        ),
        ("GET", ["rest", "api", _, "user", "search"]) => {
            let q = query_param(query, "query")
                .unwrap_or_default()
                .to_lowercase();
            json_resp(
                200,
                json!(
                    s.users
                        .iter()
                        .filter(|u| u["displayName"]
                            .as_str()
                            .unwrap_or("")
                            .to_lowercase()
                            .contains(&q))
                        .cloned()
                        .collect::<Vec<_>>()
                ),
            )
        }
        // v3 enhanced search: nextPageToken (Jira caps pages at 50 here, like Cloud often does).
        ("GET", ["rest", "api", "3", "search", "jql"]) => {
            let start: usize = query_param(query, "nextPageToken")
                .and_then(|t| t.strip_prefix("tok-").and_then(|n| n.parse().ok()))
                .unwrap_or(0);
            let size = page_size(query);
            let chunk: Vec<Value> = s.issues.iter().skip(start).take(size).cloned().collect();
            let more = start + size < s.issues.len();
            let mut v = json!({"issues": chunk, "isLast": !more});
            if more {
                v["nextPageToken"] = json!(format!("tok-{}", start + size));
            }
            json_resp(200, v)
        }
        ("GET", ["rest", "api", "2", "search"]) => {
            let start: usize = query_param(query, "startAt")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let size = page_size(query);
            let chunk: Vec<Value> = s.issues.iter().skip(start).take(size).cloned().collect();
            json_resp(
                200,
                json!({"startAt": start, "maxResults": size, "total": s.issues.len(), "issues": chunk}),
            )
        }
        ("GET", ["rest", "api", _, "issue", key, "transitions"]) => {
            let _ = key;
            json_resp(
                200,
                json!({"transitions": [
                    {"id": "11", "name": "To Do", "to": {"name": "To Do"}},
                    {"id": "21", "name": "In Progress", "to": {"name": "In Progress"}},
                    {"id": "31", "name": "Done", "to": {"name": "Done"}}
                ]}),
            )
        }
        ("POST", ["rest", "api", _, "issue", key, "transitions"]) => {
            let to = match body["transition"]["id"].as_str() {
                Some("11") => "To Do",
                Some("21") => "In Progress",
                Some("31") => "Done",
                _ => {
                    return json_resp(
                        400,
                        json!({"errorMessages": ["Transition id is not valid"], "errors": {}}),
                    );
                }
            };
            match s.issues.iter_mut().find(|i| jira_issue_key(i) == *key) {
                Some(i) => {
                    i["fields"]["status"] = json!({"name": to});
                    Response::builder().status(StatusCode::NO_CONTENT).finish()
                }
                None => json_resp(
                    404,
                    json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}),
                ),
            }
        }
        ("GET", ["rest", "api", _, "issue", key]) => {
            match s.issues.iter().find(|i| jira_issue_key(i) == *key) {
                Some(i) => json_resp(200, i.clone()),
                None => json_resp(
                    404,
                    json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}),
                ),
            }
        }
        ("POST", ["rest", "api", _, "issue"]) => {
            let f = &body["fields"];
            if f["summary"].as_str().unwrap_or("").is_empty() {
                return json_resp(
                    400,
                    json!({"errorMessages": [], "errors": {"summary": "You must specify a summary of the issue."}}),
                );
            }
            let key = format!(
                "{}-{}",
                f["project"]["key"].as_str().unwrap_or("X"),
                s.issues.len() + 1
            );
            let v = json!({"id": (30000 + s.issues.len()).to_string(), "key": key, "fields": {
                "summary": f["summary"], "status": {"name": "To Do"}, "assignee": Value::Null,
                "labels": f["labels"].as_array().cloned().unwrap_or_default(), "updated": "2024-11-01T00:00:00.000+0000",
                "description": f["description"], "comment": {"comments": [], "total": 0}}});
            s.issues.push(v);
            json_resp(201, json!({"id": "1", "key": key, "self": "x"}))
        }
        ("PUT", ["rest", "api", _, "issue", key, "assignee"]) => {
            match s.issues.iter_mut().find(|i| jira_issue_key(i) == *key) {
                Some(i) => {
                    i["fields"]["assignee"] = json!({"accountId": body["accountId"], "displayName": format!("User {}", body["accountId"].as_str().unwrap_or(""))});
                    Response::builder().status(StatusCode::NO_CONTENT).finish()
                }
                None => json_resp(
                    404,
                    json!({"errorMessages": ["Issue does not exist"], "errors": {}}),
                ),
            }
        }
        ("PUT", ["rest", "api", _, "issue", key, "comment", id]) => {
            let list = s.comments.entry(key.to_string()).or_default();
            let c = json!({"id": id, "author": {"displayName": "Me Myself"}, "body": body["body"], "created": "2024-10-03T10:00:00.000+0000", "updated": "2024-10-04T10:00:00.000+0000"});
            list.push(c.clone());
            json_resp(200, c)
        }
        ("PUT", ["rest", "api", _, "issue", key]) => {
            match s.issues.iter_mut().find(|i| jira_issue_key(i) == *key) {
                Some(i) => {
                    if let Some(obj) = body["fields"].as_object() {
                        for (k, v) in obj {
                            i["fields"][k] = v.clone();
                        }
                    }
                    Response::builder().status(StatusCode::NO_CONTENT).finish()
                }
                None => json_resp(
                    404,
                    json!({"errorMessages": ["Issue does not exist"], "errors": {}}),
                ),
            }
        }
        ("POST", ["rest", "api", _, "issue", key, "comment"]) => {
            s.next_comment_id += 1;
            let c = json!({"id": s.next_comment_id.to_string(), "author": {"displayName": "Me Myself"}, "body": body["body"], "created": "2024-10-03T10:00:00.000+0000"});
            s.comments
                .entry(key.to_string())
                .or_default()
                .push(c.clone());
            json_resp(201, c)
        }
        _ => json_resp(404, json!({"errorMessages": ["Not found"], "errors": {}})),
    }
}
