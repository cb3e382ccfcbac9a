//! The authorization matrix, driven by the OpenAPI document: every operation the server
//! describes is called by every kind of caller, and the answer must be the one the rules give.
//! An operation missing from `rule_of` fails the test, so a new route cannot ship unclassified.
//!
//! Callers: anonymous; viewer, developer and maintainer of tenant Acme; the maintainer's read
//! key; a maintainer of another tenant (Globex); a developer of one Acme project only; the
//! admin's read key; the admin.

use crate::fakes::{Fake, Kind};
use crate::harness::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    Anon,
    TenantViewer,
    TenantDev,
    TenantMaint,
    MaintReadKey,
    Outsider,
    ProjectDev,
    AdminReadKey,
    Admin,
}

const CALLERS: [Who; 9] = [
    Who::Anon,
    Who::TenantViewer,
    Who::TenantDev,
    Who::TenantMaint,
    Who::MaintReadKey,
    Who::Outsider,
    Who::ProjectDev,
    Who::AdminReadKey,
    Who::Admin,
];

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// No authentication at all.
    Public,
    /// Any authenticated caller (their own things, or lists filtered to what they see).
    Authed,
    /// Any authenticated caller with the write scope (their own things).
    AuthedWrite,
    /// Administrators with the admin scope.
    Admin,
    /// On project P1 of Acme: view / work (developer) / manage (maintainer).
    ProjectView,
    ProjectViewWrite,
    ProjectWork,
    ProjectManage,
    /// On tenant Acme: see it (any member of it or of its projects) / manage it (maintainer).
    TenantView,
    TenantViewWrite,
    TenantManage,
    /// Maintainers of any tenant, and admins.
    AnyTenantMaintainer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Allow,
    Deny(u16),
}

fn expected(rule: Rule, who: Who) -> Expect {
    use Expect::*;
    use Who::*;
    if who == Anon {
        return if rule == Rule::Public {
            Allow
        } else {
            Deny(401)
        };
    }
    let read_key = matches!(who, MaintReadKey | AdminReadKey);
    // The effective project role on P1, and the tenant role on Acme (0 none, 1 viewer, 2 dev, 3 maint).
    let (project, tenant, sees_tenant) = match who {
        TenantViewer => (1, 1, true),
        TenantDev => (2, 2, true),
        TenantMaint => (3, 3, true),
        MaintReadKey => (1, 1, true),
        Outsider => (0, 0, false),
        ProjectDev => (2, 0, true),
        AdminReadKey => (1, 1, true),
        Admin => (3, 3, true),
        Anon => unreachable!(),
    };
    let need = |have: u8, needs: u8, visible: bool| {
        if !visible {
            Deny(404)
        } else if have >= needs {
            Allow
        } else {
            Deny(403)
        }
    };
    match rule {
        Rule::Public | Rule::Authed => Allow,
        Rule::AuthedWrite => {
            if read_key {
                Deny(403)
            } else {
                Allow
            }
        }
        Rule::Admin => {
            if who == Admin {
                Allow
            } else {
                Deny(403)
            }
        }
        Rule::ProjectView => need(project, 1, project > 0),
        Rule::ProjectViewWrite => match need(project, 1, project > 0) {
            Allow if read_key => Deny(403),
            other => other,
        },
        Rule::ProjectWork => need(project, 2, project > 0),
        Rule::ProjectManage => need(project, 3, project > 0),
        Rule::TenantView => need(1, 1, sees_tenant),
        Rule::TenantViewWrite => match need(1, 1, sees_tenant) {
            Allow if read_key => Deny(403),
            other => other,
        },
        Rule::TenantManage => need(tenant, 3, sees_tenant),
        Rule::AnyTenantMaintainer => match who {
            TenantMaint | Outsider | Admin => Allow,
            _ => Deny(403),
        },
    }
}

/// The rule of every operation, by method and OpenAPI path. `None`: not classified (a failure).
fn rule_of(method: &str, path: &str) -> Option<Rule> {
    use Rule::*;
    Some(match (method, path) {
        ("GET", "/health") => Public,
        ("GET", "/auth/me") | ("GET", "/auth/keys") | ("GET", "/system/info") => Authed,
        ("POST", "/auth/keys") | ("PATCH", "/auth/keys/{id}") | ("DELETE", "/auth/keys/{id}") => {
            AuthedWrite
        }
        ("GET", "/tenants") | ("GET", "/projects") | ("GET", "/issues") => Authed,
        // Each user's own notification devices and preferences.
        ("GET", "/notifications/vapid-public-key")
        | ("GET", "/notifications/subscriptions")
        | ("GET", "/notifications/preferences") => Authed,
        ("POST", "/notifications/subscriptions")
        | ("DELETE", "/notifications/subscriptions")
        | ("DELETE", "/notifications/subscriptions/{id}")
        | ("PUT", "/notifications/preferences") => AuthedWrite,
        ("POST", "/tenants") | ("PATCH", "/tenants/{id}") | ("DELETE", "/tenants/{id}") => Admin,
        ("GET", "/tenants/{id}") | ("GET", "/tenants/{id}/integrations") => TenantView,
        ("POST", "/projects") => TenantManage,
        ("GET", "/projects/{id}") => ProjectView,
        ("PATCH", "/projects/{id}") | ("DELETE", "/projects/{id}") => ProjectManage,
        ("GET", "/users")
        | ("POST", "/users")
        | ("GET", "/users/{id}")
        | ("PATCH", "/users/{id}")
        | ("DELETE", "/users/{id}")
        | ("GET", "/users/{id}/identity")
        | ("PUT", "/users/{id}/identity")
        | ("GET", "/audit") => Admin,
        ("POST", "/issues") | ("POST", "/issues/sync") => ProjectWork,
        ("GET", "/issues/pinned") | ("GET", "/system/sync/history") => Authed,
        ("GET", "/issues/{id}") => ProjectView,
        ("PATCH", "/issues/{id}")
        | ("POST", "/issues/{id}/close")
        | ("POST", "/issues/{id}/reopen")
        | ("POST", "/issues/{id}/comments")
        | ("PATCH", "/issues/{id}/comments/{comment_id}")
        | ("POST", "/issues/{id}/assign")
        | ("POST", "/issues/{id}/refresh")
        | ("POST", "/issues/{id}/status")
        | ("POST", "/issues/{id}/agent-context") => ProjectWork,
        ("POST", "/issues/{id}/pin") | ("DELETE", "/issues/{id}/pin") => ProjectViewWrite,
        ("GET", "/integrations") => Authed,
        ("POST", "/integrations") => TenantManage,
        ("POST", "/integrations/test") => AnyTenantMaintainer,
        ("GET", "/integrations/{id}") | ("GET", "/integrations/{id}/projects") => TenantView,
        ("PATCH", "/integrations/{id}")
        | ("DELETE", "/integrations/{id}")
        | ("POST", "/integrations/{id}/test") => TenantManage,
        ("POST", "/integrations/{id}/projects") => ProjectManage,
        ("GET", "/projects/{id}/integrations") | ("GET", "/project-integrations/{id}") => {
            ProjectView
        }
        ("PATCH", "/project-integrations/{id}") | ("DELETE", "/project-integrations/{id}") => {
            ProjectManage
        }
        ("GET", "/auth/integration-credentials") | ("GET", "/auth/identity") => Authed,
        ("POST", "/auth/integration-credentials") => TenantViewWrite,
        ("DELETE", "/auth/integration-credentials/{id}") | ("PUT", "/auth/identity") => AuthedWrite,
        (_, p)
            if p.starts_with("/projects/{id}/workspace")
                || p.starts_with("/projects/{id}/git")
                || p.starts_with("/projects/{id}/files") =>
        {
            ProjectWork
        }
        (_, p) if p.starts_with("/admin/") => Admin,
        ("PUT", "/projects/{id}/ssh-key") => ProjectManage,
        ("GET", "/projects/{id}/ai/sessions") | ("POST", "/projects/{id}/ai/sessions") => {
            ProjectWork
        }
        // Sessions are their user's: another user's (or a missing) id is simply not found.
        ("POST", "/projects/{id}/ai/sessions/{sid}/input")
        | ("DELETE", "/projects/{id}/ai/sessions/{sid}")
        | ("POST", "/ai/sessions/{id}/respawn")
        | ("POST", "/ai/sessions/{id}/resume")
        | ("DELETE", "/ai/sessions/{id}")
        | ("POST", "/ai/sessions/{id}/pull-request") => AuthedWrite,
        // Pull requests use the project's tracker credentials: developers and up.
        ("POST", "/projects/{id}/pulls")
        | ("GET", "/projects/{id}/pulls")
        | ("POST", "/projects/{id}/pulls/{number}/merge") => ProjectWork,
        ("GET", "/issues/{id}/pulls") => ProjectView,
        ("GET", "/projects/{id}/agents/context") => ProjectView,
        ("PUT", "/projects/{id}/agents/context") => ProjectManage,
        ("GET", "/ai/sessions")
        | ("GET", "/ai/sessions/{id}/output")
        | ("GET", "/ai/sessions/{id}/validate") => Authed,
        (_, p) if p.starts_with("/workflows/") => ProjectWork,
        ("GET", "/agents/global") => Authed,
        ("PUT", "/agents/global") | ("DELETE", "/agents/global") => Admin,
        ("GET", "/system/update-channel") => Authed,
        (_, p) if p.starts_with("/system/") => Admin,
        ("GET", "/ansible/playbooks") | ("GET", "/ansible/inventories") => ProjectWork,
        ("POST", "/ansible/runs") => ProjectWork,
        ("GET", "/ansible/runs")
        | ("GET", "/ansible/runs/{id}")
        | ("GET", "/ansible/runs/{id}/output") => Authed,
        ("POST", "/ansible/runs/{id}/cancel") => AuthedWrite,
        (_, p) if p.starts_with("/ansible/schedules") => Admin,
        ("GET", "/tenants/{id}/members") => TenantView,
        ("POST", "/tenants/{id}/members")
        | ("PATCH", "/tenants/{id}/members/{user_id}")
        | ("DELETE", "/tenants/{id}/members/{user_id}") => TenantManage,
        ("GET", "/projects/{id}/members") => ProjectView,
        ("POST", "/projects/{id}/members")
        | ("PATCH", "/projects/{id}/members/{user_id}")
        | ("DELETE", "/projects/{id}/members/{user_id}") => ProjectManage,
        _ => return None,
    })
}

/// The ids the requests point at.
struct Fixture {
    acme: u64,
    throwaway_tenant: u64,
    p1: u64,
    issue: u64,
    integ: u64,
    link: u64,
    spare_user: u64,
    member_target: u64,
    keys: HashMap<Who, String>,
}

impl Fixture {
    /// The concrete path (with a query where the operation's access depends on it).
    fn path(&self, method: &str, path: &str) -> String {
        let id = if path.starts_with("/tenants/{id}") {
            if method == "GET" || path.contains("members") || path.contains("integrations") {
                self.acme
            } else {
                self.throwaway_tenant
            }
        } else if path.starts_with("/projects/{id}") {
            self.p1
        } else if path.starts_with("/issues/{id}") {
            self.issue
        } else if path.starts_with("/integrations/{id}") {
            self.integ
        } else if path.starts_with("/project-integrations/{id}") {
            self.link
        } else if path.starts_with("/users/{id}") {
            self.spare_user
        } else {
            // Personal or admin objects: a missing id (the answer is then "not found" for
            // whoever may ask at all).
            999_999
        };
        let mut p = path
            .replace("{id}", &id.to_string())
            .replace("{user_id}", &self.member_target.to_string())
            .replace("{comment_id}", "1")
            .replace("{sid}", "no-such-session")
            .replace("{path}", "README.md")
            .replace("{number}", "1");
        if method == "GET" && (p == "/ansible/playbooks" || p == "/ansible/inventories") {
            p.push_str(&format!("?project_id={}", self.p1));
        }
        if method == "DELETE" && p == "/notifications/subscriptions" {
            p.push_str("?id=999999");
        }
        p
    }

    /// A body that parses, so that only the access decision (or, for callers who pass it, a
    /// later validation) shapes the answer.
    fn body(&self, method: &str, path: &str, who: Who) -> Option<Value> {
        let tag = format!("{who:?}").to_lowercase();
        let (p1, acme, integ, issue) = (self.p1, self.acme, self.integ, self.issue);
        let b = match (method, path) {
            ("POST", "/auth/keys") => json!({"name": "k", "scopes": ["read"]}),
            ("PATCH", "/auth/keys/{id}") => json!({"name": "renamed"}),
            ("PUT", "/notifications/preferences") => json!({}),
            ("POST", "/notifications/subscriptions") => json!({
                "endpoint": format!("https://push.example/{tag}"),
                "keys": {"p256dh": "BAAA", "auth": "AAAA"}
            }),
            ("POST", "/tenants") => json!({"name": format!("t-{tag}")}),
            ("PATCH", "/tenants/{id}") => json!({"description": "d"}),
            ("POST", "/projects") => {
                json!({"name": format!("new-{tag}"), "repo_url": "https://example.com/o/n.git", "tenant_id": acme})
            }
            ("PATCH", "/projects/{id}") => json!({"description": "edited"}),
            ("POST", "/users") => {
                json!({"email": format!("{tag}@new.test"), "name": "n", "password": "long-enough-1"})
            }
            ("PATCH", "/users/{id}") => json!({"name": "Renamed"}),
            ("POST", "/issues") => json!({"project_id": p1, "integration_id": integ, "title": "t"}),
            ("POST", "/issues/sync") => json!({"project_id": p1}),
            ("PATCH", "/issues/{id}") => json!({"title": "retitled"}),
            ("POST", "/issues/{id}/comments") | ("PATCH", "/issues/{id}/comments/{comment_id}") => {
                json!({"body": "hello"})
            }
            ("POST", "/issues/{id}/assign") => json!({"assignee": "octocat"}),
            ("POST", "/issues/{id}/status") => json!({"status": "in review"}),
            ("POST", "/integrations") => {
                json!({"tenant_id": acme, "provider": "github", "name": format!("gh-{tag}"), "api_token": "t", "base_url": "http://127.0.0.1:9"})
            }
            ("POST", "/integrations/test") => {
                json!({"provider": "github", "api_token": "t", "base_url": "http://127.0.0.1:9"})
            }
            ("PATCH", "/integrations/{id}") => json!({"enabled": true}),
            ("POST", "/integrations/{id}/projects") => {
                json!({"project_id": p1, "external_identifier": "octo/other"})
            }
            ("PATCH", "/project-integrations/{id}") => json!({"config": {}}),
            ("POST", "/auth/integration-credentials") => {
                json!({"integration_id": integ, "api_token": "personal"})
            }
            ("PUT", "/auth/identity") | ("PUT", "/users/{id}/identity") => {
                json!({"github_username": "octocat"})
            }
            ("POST", "/projects/{id}/git/commit") => json!({"message": "m"}),
            ("POST", "/projects/{id}/git/branches") => json!({"name": format!("b-{tag}")}),
            ("POST", "/projects/{id}/git/checkout") => json!({"branch": "main"}),
            ("POST", "/admin/ssh-keys") => json!({"name": format!("k-{tag}")}),
            ("POST", "/admin/ssh-keys/{id}/migrate") => json!({"private_key_content": "x"}),
            ("PUT", "/projects/{id}/ssh-key") => json!({"ssh_key_id": null}),
            ("POST", "/admin/known-hosts") => {
                json!({"host": "h.example", "key": "ssh-ed25519 AAAA"})
            }
            ("POST", "/admin/known-hosts/scan") => json!({"host": "127.0.0.1", "port": 9}),
            ("PUT", "/admin/known-hosts/policy") => json!({"trust_on_first_use": true}),
            ("POST", "/projects/{id}/ai/sessions") => json!({"tool": "no-such-tool"}),
            ("POST", "/projects/{id}/ai/sessions/{sid}/input") => json!({"data": "x"}),
            ("POST", "/projects/{id}/pulls") => {
                json!({"title": format!("pr-{tag}"), "source_branch": format!("b-{tag}")})
            }
            ("POST", "/ai/sessions/{id}/pull-request") => json!({}),
            ("POST", "/workflows/claim-issue")
            | ("POST", "/workflows/request-approval")
            | ("POST", "/workflows/complete-issue") => json!({"issue_id": issue}),
            ("POST", "/workflows/update-progress") => {
                json!({"issue_id": issue, "status": "working"})
            }
            ("POST", "/workflows/submit-changes") => {
                json!({"issue_id": issue, "project_id": p1, "commit_message": "m", "push": false})
            }
            ("PUT", "/agents/global") | ("PUT", "/projects/{id}/agents/context") => {
                json!({"content": "be nice"})
            }
            ("POST", "/system/update") => json!({"source": "/nonexistent/aiops", "sha256": "00"}),
            ("POST", "/system/backups") => json!({"description": "matrix"}),
            ("POST", "/system/update-and-restart") => json!({"skip_migrations": true}),
            ("POST", "/system/ai-tools/{tool}/update") => json!({"source": "npm"}),
            ("PUT", "/system/backup-schedule") => json!({"cron": "off"}),
            ("POST", "/ansible/runs") => {
                json!({"playbook": "site.yml", "project_id": p1, "hosts": "localhost"})
            }
            ("POST", "/ansible/schedules") => {
                json!({"cron": "0 3 * * *", "playbook": "example.yml", "hosts": "localhost"})
            }
            ("POST", "/tenants/{id}/members") | ("POST", "/projects/{id}/members") => {
                json!({"user_id": self.member_target, "role": "viewer"})
            }
            ("PATCH", "/tenants/{id}/members/{user_id}")
            | ("PATCH", "/projects/{id}/members/{user_id}") => json!({"role": "developer"}),
            _ => return None,
        };
        Some(b)
    }

    /// The "not found" answers that mean the caller was told the guarded object does not exist.
    fn hidden_messages(&self) -> Vec<String> {
        vec![
            format!("Project {} not found", self.p1),
            format!("Tenant {} not found", self.acme),
            format!("Issue {} not found", self.issue),
            format!("Integration {} not found", self.integ),
            format!("Project integration {} not found", self.link),
        ]
    }
}

/// Operations whose allowed call would end the fixture or the server: checked for every caller
/// that must be refused, and once (last, in this order) for one caller that may.
const DESTRUCTIVE: &[(&str, &str)] = &[
    ("DELETE", "/tenants/{id}/members/{user_id}"),
    ("DELETE", "/projects/{id}/members/{user_id}"),
    ("DELETE", "/project-integrations/{id}"),
    ("DELETE", "/integrations/{id}"),
    ("DELETE", "/projects/{id}"),
    ("DELETE", "/tenants/{id}"),
    ("DELETE", "/users/{id}"),
];

/// Operations never called by an allowed caller here: restarting re-executes the server.
const DENY_ONLY: &[(&str, &str)] = &[
    ("POST", "/system/restart"),
    ("POST", "/system/update-and-restart"),
];

async fn setup(s: &Server, gh: &Fake, repo: &str) -> Fixture {
    let k = s.admin_key.clone();
    let acme = s.create_tenant("Acme").await;
    let globex = s.create_tenant("Globex").await;
    let throwaway_tenant = s.create_tenant("Throwaway").await;
    let mut ids = HashMap::new();
    for (who, email) in [
        (Who::TenantViewer, "viewer@acme.test"),
        (Who::TenantDev, "dev@acme.test"),
        (Who::TenantMaint, "maint@acme.test"),
        (Who::Outsider, "bob@globex.test"),
        (Who::ProjectDev, "contractor@acme.test"),
    ] {
        ids.insert(who, s.create_user(email, "password-123", false).await);
    }
    s.add_member("tenants", acme, ids[&Who::TenantViewer], "viewer")
        .await;
    s.add_member("tenants", acme, ids[&Who::TenantDev], "developer")
        .await;
    s.add_member("tenants", acme, ids[&Who::TenantMaint], "maintainer")
        .await;
    s.add_member("tenants", globex, ids[&Who::Outsider], "maintainer")
        .await;
    let (st, v) = s
        .post(
            &k,
            "/api/v1/projects",
            json!({"name": "acme-web", "repo_url": repo, "tenant_id": acme}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let p1 = v["project"]["id"].as_u64().unwrap();
    s.create_project(&k, "globex-api", globex).await;
    s.add_member("projects", p1, ids[&Who::ProjectDev], "developer")
        .await;
    let spare_user = s
        .create_user("spare@acme.test", "password-123", false)
        .await;
    let member_target = s
        .create_user("newcomer@acme.test", "password-123", false)
        .await;

    let v = ok(
        s,
        &k,
        Method::POST,
        "/api/v1/integrations",
        Some(
            json!({"tenant_id": acme, "provider": "github", "name": "gh",
                    "base_url": gh.url, "api_token": "gh-token"}),
        ),
    )
    .await;
    let integ = v["integration"]["id"].as_u64().unwrap();
    let v = ok(
        s,
        &k,
        Method::POST,
        &format!("/api/v1/integrations/{integ}/projects"),
        Some(json!({"project_id": p1, "external_identifier": "octo/repo"})),
    )
    .await;
    let link = v["project_integration"]["id"]
        .as_u64()
        .or_else(|| v["id"].as_u64())
        .or_else(|| v["link"]["id"].as_u64())
        .unwrap_or_else(|| panic!("link id in {v}"));
    ok(
        s,
        &k,
        Method::POST,
        "/api/v1/issues/sync",
        Some(json!({"project_id": p1})),
    )
    .await;
    let list = ok(
        s,
        &k,
        Method::GET,
        &format!("/api/v1/issues?project_id={p1}"),
        None,
    )
    .await;
    let issue = list["issues"][0]["id"].as_u64().expect("a synced issue");

    let mut keys = HashMap::new();
    keys.insert(Who::Anon, String::new());
    keys.insert(Who::Admin, k.clone());
    keys.insert(
        Who::AdminReadKey,
        s.user_key(ADMIN_EMAIL, ADMIN_PASSWORD, &["read"]).await,
    );
    for (who, email) in [
        (Who::TenantViewer, "viewer@acme.test"),
        (Who::TenantDev, "dev@acme.test"),
        (Who::TenantMaint, "maint@acme.test"),
        (Who::Outsider, "bob@globex.test"),
        (Who::ProjectDev, "contractor@acme.test"),
    ] {
        keys.insert(
            who,
            s.user_key(email, "password-123", &["read", "write"]).await,
        );
    }
    keys.insert(
        Who::MaintReadKey,
        s.user_key("maint@acme.test", "password-123", &["read"])
            .await,
    );
    Fixture {
        acme,
        throwaway_tenant,
        p1,
        issue,
        integ,
        link,
        spare_user,
        member_target,
        keys,
    }
}

async fn call(
    s: &Server,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let m = Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = s.client.request(m, s.url(&format!("/api/v1{path}")));
    if !key.is_empty() {
        req = req.bearer_auth(key);
    }
    if path.ends_with("/system/backups/upload") {
        // An archive upload is raw bytes (these are not an archive: nothing is restored).
        req = req
            .header("content-type", "application/octet-stream")
            .body("not an archive");
    } else if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let (st, v) = parse(resp).await;
    (st.as_u16(), v)
}

/// Did the answer match the expectation? `hidden` are the messages of a refused 404.
fn judge(expect: Expect, status: u16, body: &Value, hidden: &[String]) -> bool {
    let text = body["error"].as_str().unwrap_or_default();
    let is_hidden = status == 404 && hidden.iter().any(|h| text.starts_with(h.as_str()));
    match expect {
        Expect::Deny(want) => status == want,
        Expect::Allow => status != 401 && status != 403 && !is_hidden,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_answers_every_caller_as_the_rules_say() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = crate::git::seeded_bare(tmp.path());
    let gh = Fake::start(Kind::GitHub, "gh-token").await;
    gh.seed_github(2, 0);
    gh.add_github_comments(1, 1);
    let s = Server::start();
    let fx = setup(&s, &gh, bare.to_str().unwrap()).await;
    let hidden = fx.hidden_messages();

    let (_, doc) = s.get(&s.admin_key, "/api/v1/openapi.json").await;
    let mut ops: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.push((method.to_uppercase(), path.clone()));
        }
    }
    let unclassified: Vec<String> = ops
        .iter()
        .filter(|(m, p)| rule_of(m, p).is_none())
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        unclassified.is_empty(),
        "operations without an access rule in the matrix: {unclassified:?}"
    );
    assert!(
        ops.len() > 130,
        "the document lists {} operations",
        ops.len()
    );

    let destructive = |m: &str, p: &str| DESTRUCTIVE.iter().any(|(dm, dp)| *dm == m && *dp == p);
    let deny_only = |m: &str, p: &str| DENY_ONLY.iter().any(|(dm, dp)| *dm == m && *dp == p);
    let mut failures = Vec::new();
    let mut checked = 0;
    let run = async |m: &str, p: &str, who: Who, failures: &mut Vec<String>| {
        let rule = rule_of(m, p).unwrap();
        let want = expected(rule, who);
        let path = fx.path(m, p);
        let (st, body) = call(&s, &fx.keys[&who], m, &path, fx.body(m, p, who)).await;
        if !judge(want, st, &body, &hidden) {
            failures.push(format!(
                "{m} {p} as {who:?} ({rule:?}): expected {want:?}, got {st} {body}"
            ));
        }
    };
    // Everything but the destructive operations, every caller (refused callers first).
    for (m, p) in ops.iter().filter(|(m, p)| !destructive(m, p)) {
        let mut order: Vec<Who> = CALLERS.to_vec();
        order.sort_by_key(|w| expected(rule_of(m, p).unwrap(), *w) == Expect::Allow);
        for who in order {
            if deny_only(m, p) && expected(rule_of(m, p).unwrap(), who) == Expect::Allow {
                continue;
            }
            run(m, p, who, &mut failures).await;
            checked += 1;
        }
    }
    // The destructive ones: every refused caller, then the least privileged allowed one.
    for (m, p) in DESTRUCTIVE {
        assert!(
            ops.iter().any(|(om, op)| om == m && op == p),
            "{m} {p} is not in the document"
        );
        let rule = rule_of(m, p).unwrap();
        for who in CALLERS
            .iter()
            .filter(|w| expected(rule, **w) != Expect::Allow)
        {
            run(m, p, *who, &mut failures).await;
            checked += 1;
        }
        let first_allowed = CALLERS
            .iter()
            .find(|w| expected(rule, **w) == Expect::Allow)
            .copied()
            .unwrap();
        run(m, p, first_allowed, &mut failures).await;
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} calls answered against the rules:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The rules themselves: a spot check that the table means what the issue says.
#[test]
fn the_expectations_follow_the_roles() {
    use Expect::*;
    assert_eq!(expected(Rule::ProjectView, Who::Outsider), Deny(404));
    assert_eq!(expected(Rule::ProjectWork, Who::TenantViewer), Deny(403));
    assert_eq!(expected(Rule::ProjectWork, Who::ProjectDev), Allow);
    assert_eq!(expected(Rule::ProjectManage, Who::ProjectDev), Deny(403));
    assert_eq!(expected(Rule::TenantManage, Who::ProjectDev), Deny(403));
    assert_eq!(expected(Rule::AuthedWrite, Who::MaintReadKey), Deny(403));
    assert_eq!(expected(Rule::ProjectManage, Who::AdminReadKey), Deny(403));
    assert_eq!(expected(Rule::Admin, Who::AdminReadKey), Deny(403));
    assert_eq!(expected(Rule::Public, Who::Anon), Allow);
    assert_eq!(expected(Rule::ProjectView, Who::Anon), Deny(401));
}
