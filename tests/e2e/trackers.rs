//! Trackers end to end: the real server syncs from and writes to in-process fake GitHub, GitLab
//! and Jira servers; the tests check what the fakes received and what the API then shows.

use crate::fakes::{Fake, Kind};
use crate::harness::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[allow(dead_code)]
pub struct Linked {
    pub tenant: u64,
    pub project: u64,
    pub integration: u64,
    pub link: u64,
}

/// Tenant + project + integration (pointing at the fake) + link.
pub async fn link(
    s: &Server,
    fake: &Fake,
    token: &str,
    identifier: &str,
    extra: Value,
    tenant_name: &str,
) -> Linked {
    let tenant = s.create_tenant(tenant_name).await;
    let project = s
        .create_project(&s.admin_key, &format!("{tenant_name}-proj"), tenant)
        .await;
    let provider = match fake.kind {
        Kind::GitHub => "github",
        Kind::GitLab => "gitlab",
        Kind::Jira => "jira",
    };
    let mut body = json!({"tenant_id": tenant, "provider": provider, "name": format!("{provider} main"),
        "base_url": fake.url, "api_token": token});
    if fake.kind == Kind::Jira {
        body["jira_email"] = json!("bot@example.com");
    }
    if let Some(o) = extra.as_object() {
        for (k, v) in o {
            body[k] = v.clone();
        }
    }
    let (st, v) = s.post(&s.admin_key, "/api/v1/integrations", body).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let integration = v["integration"]["id"].as_u64().unwrap();
    let (st, v) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/integrations/{integration}/projects"),
            json!({"project_id": project, "external_identifier": identifier}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    Linked {
        tenant,
        project,
        integration,
        link: v["link"]["id"].as_u64().unwrap(),
    }
}

pub async fn sync(s: &Server, key: &str, body: Value) -> Value {
    let (st, v) = s.post(key, "/api/v1/issues/sync", body).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v
}

async fn all_issues(s: &Server, query: &str) -> Value {
    let (st, v) = s
        .get(&s.admin_key, &format!("/api/v1/issues?limit=500&{query}"))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v
}

fn find<'a>(list: &'a Value, external_id: &str) -> &'a Value {
    list["issues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["external_id"] == external_id)
        .unwrap_or_else(|| panic!("issue {external_id} in {list}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn github_sync_all_pages_without_prs_then_every_write() {
    let fake = Fake::start(Kind::GitHub, "gh-tenant-token").await;
    fake.seed_github(250, 7);
    fake.add_github_comments(3, 25);
    let s = Server::start();
    let l = link(&s, &fake, "gh-tenant-token", "octo/repo", json!({}), "gh").await;

    let v = sync(&s, &s.admin_key, json!({})).await;
    assert_eq!(v["synced"], 250, "{v}");
    assert_eq!(v["projects"][0]["provider"], "github");
    assert_eq!(v["failure_count"], 0);
    let reqs = fake.requests();
    let pages: Vec<_> = reqs
        .iter()
        .filter(|r| r.path() == "/repos/octo/repo/issues")
        .collect();
    assert_eq!(
        pages.len(),
        3,
        "257 items at 100 per page: {:?}",
        pages.iter().map(|r| &r.uri).collect::<Vec<_>>()
    );
    assert!(pages[0].uri.contains("state=all") && pages[0].uri.contains("per_page=100"));
    assert!(
        reqs.iter()
            .all(|r| r.header("authorization") == "token gh-tenant-token")
    );
    // Comments are fetched only where the issue has some.
    let comment_reqs: Vec<_> = reqs
        .iter()
        .filter(|r| r.path().ends_with("/comments"))
        .collect();
    assert_eq!(comment_reqs.len(), 1, "only issue 3 has comments");

    let list = all_issues(&s, &format!("project_id={}", l.project)).await;
    assert_eq!(list["total"], 250, "no pull requests stored");
    let i3 = find(&list, "3");
    assert_eq!(i3["assignee"], "dev");
    assert_eq!(i3["labels"], json!(["feature"]));
    assert_eq!(i3["provider_key"], "github");
    assert_eq!(i3["project_name"], "gh-proj");
    assert_eq!(i3["tenant_name"], "gh");
    assert_eq!(i3["integration_name"], "github main");
    assert!(
        i3.get("description").is_none(),
        "lists leave the description out"
    );
    let one = s
        .get(&s.admin_key, &format!("/api/v1/issues/{}", i3["id"]))
        .await
        .1;
    assert_eq!(one["issue"]["description"], "Body of issue 3");
    let comments = i3["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 20, "newest 20 kept");
    assert_eq!(comments[0]["body"], "comment 24", "newest first");
    assert!(comments[0]["id"].is_string());
    let i4 = find(&list, "4");
    assert_eq!(
        (
            i4["status"].as_str(),
            i4["status_key"].as_str(),
            i4["status_label"].as_str()
        ),
        (Some("closed"), Some("closed"), Some("Closed"))
    );
    let open = all_issues(&s, "status=open").await;
    assert_eq!(open["total"], 250 - 62, "every 4th is closed");
    assert!(
        open["issues"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status_key"] == "open")
    );
    let (_, bugs) = s
        .get(
            &s.admin_key,
            "/api/v1/issues?labels=bug&provider=github&limit=5",
        )
        .await;
    assert_eq!(bugs["total"], 125);
    assert_eq!(bugs["count"], 5);

    // Second sync is incremental (`since`) and changes nothing that did not change.
    fake.clear_requests();
    let v = sync(&s, &s.admin_key, json!({"project_id": l.project})).await;
    let first = &fake.requests()[0];
    assert!(first.uri.contains("since="), "incremental: {}", first.uri);
    assert_eq!(
        all_issues(&s, "").await["total"],
        250,
        "nothing duplicated: {v}"
    );

    // ---- writes, checked on the wire and in the stored copy ----
    let id3 = i3["id"].as_u64().unwrap();
    fake.clear_requests();
    let (st, c) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/issues/{id3}/comments"),
            json!({"body": "  Working on it  "}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{c}");
    assert_eq!(c["message"], "Comment added successfully");
    let r = &fake.requests()[0];
    assert_eq!(
        (r.method.as_str(), r.path()),
        ("POST", "/repos/octo/repo/issues/3/comments")
    );
    assert_eq!(r.body, json!({"body": "Working on it"}));
    let cid = c["comment"]["id"].as_str().unwrap().to_string();
    let (_, got) = s.get(&s.admin_key, &format!("/api/v1/issues/{id3}")).await;
    assert_eq!(got["issue"]["comments"][0]["body"], "Working on it");

    fake.clear_requests();
    let (st, c) = s
        .call(
            &s.admin_key,
            Method::PATCH,
            &format!("/api/v1/issues/{id3}/comments/{cid}"),
            Some(json!({"body": "Done with it"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    let r = &fake.requests()[0];
    assert_eq!(
        (r.method.as_str(), r.path().to_string()),
        ("PATCH", format!("/repos/octo/repo/issues/comments/{cid}"))
    );
    let (_, got) = s.get(&s.admin_key, &format!("/api/v1/issues/{id3}")).await;
    assert_eq!(got["issue"]["comments"][0]["body"], "Done with it");

    fake.clear_requests();
    let (st, u) = s
        .call(
            &s.admin_key,
            Method::PATCH,
            &format!("/api/v1/issues/{id3}"),
            Some(json!({"title": "Renamed", "labels": ["a", "b"]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(
        fake.requests()[0].body,
        json!({"title": "Renamed", "labels": ["a", "b"]})
    );
    assert_eq!(u["issue"]["title"], "Renamed");
    assert_eq!(u["issue"]["labels"], json!(["a", "b"]));

    fake.clear_requests();
    let (st, a) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/issues/{id3}/assign"),
            json!({"assignee": "octocat"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{a}");
    assert_eq!(fake.requests()[0].body, json!({"assignees": ["octocat"]}));
    assert_eq!(a["issue"]["assignee"], "octocat");

    let (st, cl) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/issues/{id3}/close"),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{cl}");
    assert_eq!(cl["issue"]["status_key"], "closed");
    let (_, closed) = s
        .get(&s.admin_key, "/api/v1/issues?status=closed&limit=500")
        .await;
    assert!(
        closed["issues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == id3),
        "status index moved"
    );
    let (st, ro) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/issues/{id3}/reopen"),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{ro}");
    assert_eq!(ro["issue"]["status"], "open");

    fake.clear_requests();
    let (st, cr) = s
        .post(
            &s.admin_key,
            "/api/v1/issues",
            json!({"project_id": l.project, "integration_id": l.integration,
            "title": "Add feature", "description": "Details", "labels": ["enhancement"]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{cr}");
    let r = &fake.requests()[0];
    assert_eq!(
        (r.method.as_str(), r.path()),
        ("POST", "/repos/octo/repo/issues")
    );
    assert_eq!(
        r.body,
        json!({"title": "Add feature", "body": "Details", "labels": ["enhancement"]}),
        "no milestone, no nulls"
    );
    assert_eq!(cr["issue"]["external_id"], "258");
    assert!(cr["issue"]["id"].as_u64().unwrap() > 0);
    assert_eq!(all_issues(&s, "").await["total"], 251);

    // The tracker refuses: its message comes back as JSON, nothing stored.
    fake.fail(
        "/repos/octo/repo/issues",
        "",
        422,
        json!({"message": "Validation Failed", "errors": [{"field": "labels", "code": "invalid"}]}),
        None,
        1,
    );
    let (st, e) = s
        .post(
            &s.admin_key,
            "/api/v1/issues",
            json!({"project_id": l.project, "integration_id": l.integration, "title": "x"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        err_text(&e).contains("GitHub API error 422 - Validation Failed"),
        "{e}"
    );
    let (st, e) = s
        .post(
            &s.admin_key,
            "/api/v1/issues",
            json!({"project_id": l.project, "integration_id": l.integration, "title": "  "}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "Issue title is required");
    assert_eq!(all_issues(&s, "").await["total"], 251);

    // Pins.
    let (st, p) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/issues/{id3}/pin"),
            json!({}),
        )
        .await;
    assert_eq!(
        (st, p["message"].as_str()),
        (StatusCode::OK, Some("Issue pinned successfully"))
    );
    let (_, p) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/issues/{id3}/pin"),
            json!({}),
        )
        .await;
    assert_eq!(p["message"], "Issue is already pinned");
    let (_, pinned) = s.get(&s.admin_key, "/api/v1/issues/pinned").await;
    assert_eq!(pinned["count"], 1);
    assert_eq!(pinned["issues"][0]["id"], id3);
    assert!(pinned["issues"][0]["pinned_at"].is_string());
    let (st, _) = s
        .call(
            &s.admin_key,
            Method::DELETE,
            &format!("/api/v1/issues/{id3}/pin"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, e) = s
        .call(
            &s.admin_key,
            Method::DELETE,
            &format!("/api/v1/issues/{id3}/pin"),
            None,
        )
        .await;
    assert_eq!(
        (st, e["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("Issue is not pinned"))
    );

    // Tokens: encrypted at rest, never returned.
    let (_, integ) = s.get(&s.admin_key, "/api/v1/integrations").await;
    let text = integ.to_string();
    assert!(!text.contains("gh-tenant-token"), "{text}");
    assert_eq!(integ["integrations"][0]["token_hint"], "••••oken");
    let db = std::fs::read(s.dir.join("aiops.redb")).unwrap();
    assert!(
        !db.windows(15).any(|w| w == b"gh-tenant-token"),
        "token stored in clear"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gitlab_sync_drops_system_notes_and_writes_go_through() {
    let fake = Fake::start(Kind::GitLab, "gl-token").await;
    fake.seed_gitlab(130);
    let s = Server::start();
    let l = link(&s, &fake, "gl-token", "group/sub/project", json!({}), "gl").await;
    let v = sync(&s, &s.admin_key, json!({"integration_id": l.integration})).await;
    assert_eq!(v["synced"], 130, "{v}");
    let reqs = fake.requests();
    let pages: Vec<_> = reqs
        .iter()
        .filter(|r| r.path() == "/api/v4/projects/group%2Fsub%2Fproject/issues")
        .collect();
    assert_eq!(
        pages.len(),
        2,
        "per_page=100 and x-next-page: {:?}",
        reqs.iter().map(|r| &r.uri).collect::<Vec<_>>()
    );
    assert!(reqs.iter().all(|r| r.header("private-token") == "gl-token"));
    let list = all_issues(&s, "provider=gitlab").await;
    let i1 = find(&list, "1");
    assert_eq!(i1["assignee"], "Dev", "display name first");
    assert_eq!(i1["status_key"], "open");
    let bodies: Vec<&str> = i1["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        vec!["second human note", "first human note"],
        "system note dropped, newest first"
    );
    assert_eq!(find(&list, "5")["status_key"], "closed");

    let id1 = i1["id"].as_u64().unwrap();
    fake.clear_requests();
    let (st, a) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/issues/{id1}/assign"),
            json!({"assignee": "dev"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{a}");
    let reqs = fake.requests();
    assert!(
        reqs.iter()
            .any(|r| r.uri.contains("/api/v4/users?username=dev"))
    );
    let put = reqs.iter().find(|r| r.method == "PUT").unwrap();
    assert_eq!(put.body, json!({"assignee_ids": [77]}));
    let (st, e) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/issues/{id1}/assign"),
            json!({"assignee": "ghost"}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(
        err_text(&e).contains("GitLab user 'ghost' not found"),
        "{e}"
    );

    fake.clear_requests();
    let (st, c) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/issues/{id1}/close"),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!(fake.requests()[0].body, json!({"state_event": "close"}));
    assert_eq!(c["issue"]["status"], "closed");
    let (st, c) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/issues/{id1}/reopen"),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(c["issue"]["status"], "opened");

    let (st, c) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/issues/{id1}/comments"),
            json!({"body": "note from aiops"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{c}");
    let cid = c["comment"]["id"].as_str().unwrap();
    let (st, e) = s
        .call(
            &s.admin_key,
            Method::PATCH,
            &format!("/api/v1/issues/{id1}/comments/{cid}"),
            Some(json!({"body": "edited note"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{e}");
    let (st, e) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/issues/{id1}/comments"),
            json!({"body": "   "}),
        )
        .await;
    assert_eq!(
        (st, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Comment body is required"))
    );

    fake.clear_requests();
    let (st, cr) = s
        .post(&s.admin_key, "/api/v1/issues", json!({"project_id": l.project, "integration_id": l.integration, "title": "Add pipeline", "labels": ["ci", "infra"]}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{cr}");
    assert_eq!(
        fake.requests()[0].body,
        json!({"title": "Add pipeline", "labels": "ci,infra"})
    );
    assert_eq!(cr["issue"]["labels"], json!(["ci", "infra"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn jira_every_page_adf_transitions_and_mentions() {
    let fake = Fake::start(Kind::Jira, "jira-token").await;
    fake.seed_jira("DEVOPS", 120);
    let s = Server::start();
    let l = link(
        &s,
        &fake,
        "jira-token",
        "DEVOPS",
        json!({"settings": {"api_version": "3"}}),
        "jr",
    )
    .await;
    let v = sync(&s, &s.admin_key, json!({})).await;
    assert_eq!(v["synced"], 120, "all pages, not just the first: {v}");
    let reqs = fake.requests();
    let pages: Vec<_> = reqs
        .iter()
        .filter(|r| r.path() == "/rest/api/3/search/jql")
        .collect();
    assert_eq!(pages.len(), 3, "50 per page, nextPageToken");
    assert!(pages[1].uri.contains("nextPageToken=tok-50"));
    assert!(
        pages[0].uri.contains("jql=project+%3D+%22DEVOPS%22"),
        "{}",
        pages[0].uri
    );
    assert!(
        pages[0].uri.contains(
            "fields=summary%2Cstatus%2Cassignee%2Cupdated%2Clabels%2Cdescription%2Ccomment"
        )
    );
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("bot@example.com:jira-token");
    assert!(
        reqs.iter()
            .all(|r| r.header("authorization") == format!("Basic {basic}"))
    );

    let list = all_issues(&s, "provider=jira").await;
    let i1 = find(&list, "DEVOPS-1");
    assert_eq!(i1["assignee"], "Example User");
    assert_eq!(i1["status"], "To Do");
    assert_eq!(i1["status_key"], "open");
    assert_eq!(i1["url"], format!("{}/browse/DEVOPS-1", fake.url));
    let one = s
        .get(&s.admin_key, &format!("/api/v1/issues/{}", i1["id"]))
        .await
        .1;
    let d = one["issue"]["description"].as_str().unwrap().to_string();
    assert!(
        d.contains("Steps for 1") && d.contains("- Collect logs\n- Add tests"),
        "{d}"
    );
    assert_eq!(i1["comments"][0]["body"], "Newer", "newest first");
    assert_eq!(
        i1["comments"][1]["body"], "Looks **good**",
        "ADF rendered to Markdown"
    );
    assert_eq!(find(&list, "DEVOPS-3")["status_key"], "closed");

    // @mentions: aiops users through the identity map, others through Jira's user search.
    let (st, _) = s
        .call(
            &s.admin_key,
            Method::PUT,
            "/api/v1/auth/identity",
            Some(json!({"jira_account_id": "acc-admin"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let id1 = i1["id"].as_u64().unwrap();
    fake.clear_requests();
    let (st, c) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/issues/{id1}/comments"),
            json!({"body": "Hi @admin and @\"Jane Doe\", see **this**"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{c}");
    let post = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert_eq!(post.path(), "/rest/api/3/issue/DEVOPS-1/comment");
    let para = &post.body["body"]["content"][0]["content"];
    let nodes = para.as_array().unwrap();
    assert!(
        nodes.contains(&json!({"type": "mention", "attrs": {"id": "acc-admin"}})),
        "{para}"
    );
    assert!(
        nodes.contains(&json!({"type": "mention", "attrs": {"id": "acc-jane"}})),
        "{para}"
    );
    assert!(
        nodes.contains(&json!({"type": "text", "text": "this", "marks": [{"type": "strong"}]})),
        "{para}"
    );

    // Close and reopen through workflow transitions.
    fake.clear_requests();
    let (st, c) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/issues/{id1}/close"),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    let t = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert_eq!(t.body, json!({"transition": {"id": "31"}}));
    assert_eq!(c["issue"]["status"], "Done");
    assert_eq!(c["issue"]["status_key"], "closed");
    fake.clear_requests();
    let (st, c) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/issues/{id1}/reopen"),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!(
        fake.requests()
            .into_iter()
            .find(|r| r.method == "POST")
            .unwrap()
            .body,
        json!({"transition": {"id": "11"}})
    );
    assert_eq!(c["issue"]["status"], "To Do");

    // Assign by aiops user through the identity map.
    let me = s.get(&s.admin_key, "/api/v1/auth/me").await.1["user"]["id"]
        .as_u64()
        .unwrap();
    fake.clear_requests();
    let (st, a) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/issues/{id1}/assign"),
            json!({"user_id": me}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{a}");
    assert_eq!(fake.requests()[0].body, json!({"accountId": "acc-admin"}));
    // "My issues": matched on the tracker identity, not the display name.
    let (_, mine) = s.get(&s.admin_key, "/api/v1/issues?assignee=me").await;
    assert_eq!(mine["total"], 1, "{mine}");
    assert_eq!(mine["issues"][0]["id"], id1);

    // Create with type and priority; the description goes as ADF.
    fake.clear_requests();
    let (st, cr) = s
        .post(&s.admin_key, "/api/v1/issues", json!({"project_id": l.project, "integration_id": l.integration,
            "title": "Automate", "description": "- one\n- two", "labels": ["automation"], "priority": "High", "issue_type": "Bug"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{cr}");
    let f = &fake.requests()[0].body["fields"];
    assert_eq!(f["project"], json!({"key": "DEVOPS"}));
    assert_eq!(f["issuetype"], json!({"name": "Bug"}));
    assert_eq!(f["priority"], json!({"name": "High"}));
    assert_eq!(f["description"]["content"][0]["type"], "bulletList");
    assert_eq!(cr["issue"]["external_id"], "DEVOPS-121");

    // A Data Center integration (REST v2) pages with startAt.
    let fake2 = Fake::start(Kind::Jira, "dc-token").await;
    fake2.seed_jira("OPS", 75);
    let l2 = link(
        &s,
        &fake2,
        "dc-token",
        "OPS",
        json!({"settings": {"api_version": "2"}}),
        "dc",
    )
    .await;
    let v = sync(&s, &s.admin_key, json!({"project_id": l2.project})).await;
    assert_eq!(v["synced"], 75, "{v}");
    let starts: Vec<String> = fake2
        .requests()
        .iter()
        .filter(|r| r.path() == "/rest/api/2/search")
        .map(|r| r.uri.clone())
        .collect();
    assert_eq!(starts.len(), 2);
    assert!(starts[1].contains("startAt=50"), "{starts:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_retried_isolated_and_reported() {
    let gh = Fake::start(Kind::GitHub, "gh-token").await;
    gh.seed_github(300, 0);
    let gl = Fake::start(Kind::GitLab, "gl-token").await;
    gl.seed_gitlab(10);
    let s = Server::start();
    let a = link(&s, &gh, "gh-token", "octo/repo", json!({}), "ta").await;
    let b = link(&s, &gl, "gl-token", "g/p", json!({}), "tb").await;

    // A 429 with Retry-After and a 503 are retried, then the sync succeeds.
    gh.fail(
        "/repos/octo/repo/issues",
        "page=2",
        429,
        json!({"message": "API rate limit exceeded"}),
        Some(1),
        1,
    );
    gh.fail(
        "/repos/octo/repo/issues",
        "page=3",
        503,
        json!({"message": "unavailable"}),
        None,
        1,
    );
    let v = sync(&s, &s.admin_key, json!({})).await;
    assert_eq!(v["synced"], 310, "{v}");
    assert_eq!(v["failure_count"], 0);
    let page2 = gh
        .requests()
        .iter()
        .filter(|r| r.uri.contains("page=2"))
        .count();
    assert_eq!(page2, 2, "429 retried once");

    // GitHub fails mid-way for good (page 2 keeps answering 502): GitLab still syncs, the
    // GitHub link keeps exactly what it had, and the run is recorded with the error.
    let before = all_issues(&s, &format!("project_id={}", a.project)).await["total"].clone();
    gh.fail(
        "/repos/octo/repo/issues",
        "page=2",
        502,
        json!({"message": "Server Error"}),
        None,
        4,
    );
    let v = sync(&s, &s.admin_key, json!({"force_full": true})).await;
    assert_eq!(v["failure_count"], 1, "{v}");
    assert_eq!(v["success_count"], 1);
    assert_eq!(v["synced"], 10);
    let failed = &v["failed_projects"][0];
    assert_eq!(failed["project_id"], a.project);
    let msg = failed["error"].as_str().unwrap();
    assert!(
        msg.contains("GitHub API error 502 - Server Error")
            && msg.contains("gave up after 4 attempts"),
        "{msg}"
    );
    assert_eq!(
        all_issues(&s, &format!("project_id={}", a.project)).await["total"],
        before
    );
    assert_eq!(
        all_issues(&s, &format!("project_id={}", b.project)).await["total"],
        10
    );
    let (_, hist) = s
        .get(
            &s.admin_key,
            &format!(
                "/api/v1/system/sync/history?project_integration_id={}",
                a.link
            ),
        )
        .await;
    assert_eq!(hist["runs"][0]["status"], "failed", "{hist}");
    assert!(hist["runs"][0]["error"].as_str().unwrap().contains("502"));
    assert_eq!(hist["runs"][1]["status"], "success");
    assert_eq!(hist["runs"][1]["issues_fetched"], 300);

    // Issues gone upstream are marked on the next full sync, not deleted.
    gh.state.lock().unwrap().issues.retain(|i| i["number"] != 7);
    let v = sync(
        &s,
        &s.admin_key,
        json!({"project_id": a.project, "force_full": true}),
    )
    .await;
    assert_eq!(v["projects"][0]["issues_missing"], 1, "{v}");
    let list = all_issues(&s, &format!("project_id={}", a.project)).await;
    assert_eq!(list["total"], 300);
    assert_eq!(find(&list, "7")["missing_upstream"], true);
    assert_eq!(find(&list, "8")["missing_upstream"], false);

    // Bad credentials: the tracker's message, as JSON.
    let (st, t) = s
        .post(
            &s.admin_key,
            "/api/v1/integrations/test",
            json!({"provider": "github", "api_token": "wrong", "base_url": gh.url}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(t["ok"], false);
    assert!(
        t["message"]
            .as_str()
            .unwrap()
            .contains("401 - Bad credentials"),
        "{t}"
    );
    let (_, t) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/integrations/{}/test", a.integration),
            json!({}),
        )
        .await;
    assert_eq!(
        t,
        json!({"ok": true, "message": "GitHub credentials verified for octocat."})
    );
    let (st, e) = s
        .call(
            &s.admin_key,
            Method::PATCH,
            &format!("/api/v1/integrations/{}", a.integration),
            Some(json!({"api_token": "revoked"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{e}");
    let v = sync(&s, &s.admin_key, json!({"project_id": a.project})).await;
    assert!(
        v["failed_projects"][0]["error"]
            .as_str()
            .unwrap()
            .contains("Bad credentials"),
        "{v}"
    );

    // A write refused by the tracker: JSON 400 with the tracker's own message.
    let (st, e) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/issues/{}/close", find(&list, "8")["id"]),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let msg = e["error"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("GitHub API error 401 - Bad credentials — the token is invalid or expired"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_sync_fires_and_restart_mid_sync_loses_and_duplicates_nothing() {
    let gh = Fake::start(Kind::GitHub, "gh-token").await;
    gh.seed_github(150, 0);
    let s = Server::start();
    // Every 2 seconds (6-field cron).
    let l = link(
        &s,
        &gh,
        "gh-token",
        "octo/repo",
        json!({"sync_cron": "*/2 * * * * *"}),
        "sched",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, h) = s.get(&s.admin_key, "/api/v1/system/sync/history").await;
        if h["runs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["trigger"] == "scheduled" && r["status"] == "success")
        {
            break;
        }
        assert!(Instant::now() < deadline, "no scheduled run: {h}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(all_issues(&s, "").await["total"], 150);
    // Turn the schedule off, then sync manually while the tracker stalls, and kill the server.
    let (st, _) = s
        .call(
            &s.admin_key,
            Method::PATCH,
            &format!("/api/v1/integrations/{}", l.integration),
            Some(json!({"sync_cron": "off"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    // A scheduled run in flight when the schedule went off ends first: the job leaves the
    // scheduler's board only then, and no run is left running.
    let job = format!("sync:{}", l.integration);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, jobs) = s.get(&s.admin_key, "/api/v1/system/scheduler").await;
        if !jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["key"] == job.as_str())
        {
            break;
        }
        assert!(Instant::now() < deadline, "{job} stays scheduled: {jobs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, h) = s.get(&s.admin_key, "/api/v1/system/sync/history").await;
    assert!(
        h["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] != "running"),
        "{h}"
    );
    gh.seed_github(0, 0);
    {
        let mut st = gh.state.lock().unwrap();
        for i in 151..=170 {
            st.issues.push(json!({"id": i, "number": i, "title": format!("New {i}"), "state": "open", "labels": [],
                "assignee": null, "comments": 0, "updated_at": "2030-01-01T00:00:00Z", "html_url": "x"}));
        }
    }
    gh.stall("page=2", Duration::from_secs(30));
    gh.clear_requests();
    let base = s.base.clone();
    let key = s.admin_key.clone();
    let pending = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{base}/api/v1/issues/sync"))
            .bearer_auth(key)
            .json(&json!({"force_full": true}))
            .send()
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gh.requests().iter().any(|r| r.uri.contains("page=2")) {
        assert!(Instant::now() < deadline, "sync never reached page 2");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = s.restart();
    let _ = pending.await;
    gh.state.lock().unwrap().stall = None;
    let (_, h) = s.get(&s.admin_key, "/api/v1/system/sync/history").await;
    assert_eq!(h["runs"][0]["status"], "interrupted", "{h}");
    assert_eq!(
        all_issues(&s, "").await["total"],
        150,
        "the cut sync wrote nothing"
    );
    let v = sync(&s, &s.admin_key, json!({})).await;
    assert_eq!(v["failure_count"], 0, "{v}");
    let list = all_issues(&s, "").await;
    assert_eq!(list["total"], 170, "nothing lost");
    let mut ext: Vec<&str> = list["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["external_id"].as_str().unwrap())
        .collect();
    ext.sort();
    ext.dedup();
    assert_eq!(ext.len(), 170, "nothing duplicated");
}

#[tokio::test(flavor = "multi_thread")]
async fn access_is_per_project_and_personal_credentials_are_used() {
    let gh = Fake::start(Kind::GitHub, "tenant-token").await;
    gh.add_token("alice-token");
    gh.seed_github(5, 0);
    let s = Server::start();
    let l = link(&s, &gh, "tenant-token", "octo/repo", json!({}), "acl").await;
    sync(&s, &s.admin_key, json!({})).await;
    let issue_id = all_issues(&s, "").await["issues"][0]["id"]
        .as_u64()
        .unwrap();

    // Alice owns no project: she sees nothing and cannot touch the admin's issues.
    s.create_user("alice@example.com", "alice-password-1", false)
        .await;
    let alice = s
        .user_key("alice@example.com", "alice-password-1", &["read", "write"])
        .await;
    let (st, v) = s.get(&alice, "/api/v1/issues").await;
    assert_eq!((st, v["total"].as_u64()), (StatusCode::OK, Some(0)));
    let (st, e) = s.get(&alice, &format!("/api/v1/issues/{issue_id}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(e["error"].is_string());
    let (st, _) = s
        .post(
            &alice,
            &format!("/api/v1/issues/{issue_id}/comments"),
            json!({"body": "x"}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s
        .get(&alice, &format!("/api/v1/issues?project_id={}", l.project))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, e) = s
        .post(
            &alice,
            "/api/v1/integrations",
            json!({"tenant_id": l.tenant, "provider": "github", "name": "x", "api_token": "t"}),
        )
        .await;
    // Not a member of the tenant: it does not exist for her.
    assert_eq!(st, StatusCode::NOT_FOUND, "{e}");

    // Give Alice the project: now she sees its issues, and her personal token is used.
    let alice_id = s.get(&alice, "/api/v1/auth/me").await.1["user"]["id"]
        .as_u64()
        .unwrap();
    let (st, _) = s
        .call(
            &s.admin_key,
            Method::PATCH,
            &format!("/api/v1/projects/{}", l.project),
            Some(json!({"owner_id": alice_id})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, v) = s.get(&alice, "/api/v1/issues").await;
    assert_eq!(v["total"], 5);
    let (st, c) = s
        .post(
            &alice,
            "/api/v1/auth/integration-credentials",
            json!({"integration_id": l.integration, "api_token": "alice-token"}),
        )
        .await;
    assert_eq!(
        (st, c["message"].as_str()),
        (StatusCode::CREATED, Some("Credential created successfully"))
    );
    let (st, _) = s
        .post(
            &alice,
            "/api/v1/auth/integration-credentials",
            json!({"integration_id": l.integration, "api_token": "alice-token"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "upsert");
    let (_, creds) = s.get(&alice, "/api/v1/auth/integration-credentials").await;
    assert_eq!(creds["credentials"][0]["integration_name"], "github main");
    assert!(!creds.to_string().contains("alice-token"));
    gh.clear_requests();
    let (st, _) = s
        .post(
            &alice,
            &format!("/api/v1/issues/{issue_id}/comments"),
            json!({"body": "mine"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(
        gh.requests()[0].header("authorization"),
        "token alice-token"
    );
    gh.clear_requests();
    let (st, _) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/issues/{issue_id}/comments"),
            json!({"body": "admin"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(
        gh.requests()[0].header("authorization"),
        "token tenant-token"
    );
    // Sync uses the integration's own token, whoever asks.
    gh.clear_requests();
    sync(&s, &alice, json!({})).await;
    assert!(
        gh.requests()
            .iter()
            .all(|r| r.header("authorization") == "token tenant-token")
    );
    // A read-only key cannot write.
    let ro = s
        .user_key("alice@example.com", "alice-password-1", &["read"])
        .await;
    let (st, _) = s
        .post(&ro, &format!("/api/v1/issues/{issue_id}/pin"), json!({}))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

/// POSTs of `path` the fake received.
fn posts(fake: &Fake, path: &str) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path() == path)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_that_may_have_reached_the_tracker_are_sent_once() {
    let gh = Fake::start(Kind::GitHub, "gh-token").await;
    gh.seed_github(3, 0);
    let s = Server::start_with(&[("AIOPS_TRACKER_TIMEOUT_SECS", "2")]);
    let l = link(&s, &gh, "gh-token", "octo/repo", json!({}), "once").await;
    sync(&s, &s.admin_key, json!({})).await;

    // Creating an issue: GitHub answers after the client gave up (but does create it).
    gh.clear_requests();
    gh.stall("/repos/octo/repo/issues", Duration::from_secs(4));
    let started = Instant::now();
    let (st, e) = s
        .post(
            &s.admin_key,
            "/api/v1/issues",
            json!({"project_id": l.project, "integration_id": l.integration, "title": "Slow one"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_GATEWAY, "{e}");
    let msg = err_text(&e);
    assert!(
        msg.starts_with("GitHub timed out")
            && msg.contains("may or may not have carried it out")
            && msg.contains("check GitHub before trying again"),
        "{msg}"
    );
    assert!(started.elapsed() < Duration::from_secs(4), "not retried");
    // Let the stalled answer finish (the fake makes the issue once its stall is over):
    // upstream made exactly one issue.
    let deadline = Instant::now() + Duration::from_secs(15);
    while gh.state.lock().unwrap().issues.len() < 4 {
        assert!(
            Instant::now() < deadline,
            "the stalled create never finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gh.state.lock().unwrap().stall = None;
    assert_eq!(
        posts(&gh, "/repos/octo/repo/issues"),
        1,
        "sent exactly once"
    );
    assert_eq!(
        gh.state.lock().unwrap().issues.len(),
        4,
        "one issue upstream"
    );

    // A comment answered 502 (a proxy in front of the tracker, say): sent once, not resent.
    let list = all_issues(&s, &format!("project_id={}", l.project)).await;
    let id = find(&list, "1")["id"].as_u64().unwrap();
    gh.fail(
        "/repos/octo/repo/issues/1/comments",
        "",
        502,
        json!({"message": "Bad Gateway"}),
        None,
        1,
    );
    let (st, e) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/issues/{id}/comments"),
            json!({"body": "only once please"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_GATEWAY, "{e}");
    let msg = err_text(&e);
    assert!(
        msg.starts_with("GitHub API error 502 - Bad Gateway")
            && msg.contains("may or may not have carried it out"),
        "{msg}"
    );
    assert_eq!(
        posts(&gh, "/repos/octo/repo/issues/1/comments"),
        1,
        "the comment was sent exactly once"
    );

    // Rate limited (429): the tracker did nothing, so the write is retried and goes through.
    gh.fail(
        "/repos/octo/repo/issues/1/comments",
        "",
        429,
        json!({"message": "API rate limit exceeded"}),
        Some(1),
        1,
    );
    let (st, e) = s
        .post(
            &s.admin_key,
            &format!("/api/v1/issues/{id}/comments"),
            json!({"body": "after the limit"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{e}");
    assert_eq!(posts(&gh, "/repos/octo/repo/issues/1/comments"), 3);
    assert_eq!(gh.state.lock().unwrap().comments["1"].len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn github_next_links_to_a_look_alike_host_are_not_followed() {
    let gh = Fake::start(Kind::GitHub, "gh-secret-token").await;
    gh.seed_github(150, 0);
    // Another server that would gladly take the token.
    let evil = Fake::start(Kind::GitHub, "gh-secret-token").await;
    evil.seed_github(1, 0);
    let s = Server::start();
    let l = link(
        &s,
        &gh,
        "gh-secret-token",
        "octo/repo",
        json!({}),
        "lookalike",
    )
    .await;

    // "http://127.0.0.1:<gh>@127.0.0.1:<evil>/…" starts with the base URL but goes to `evil`
    // (like https://api.github.com.evil.example/… for https://api.github.com).
    let evil_host = evil.url.trim_start_matches("http://");
    gh.state.lock().unwrap().link_base = Some(format!("{}@{evil_host}", gh.url));
    let v = sync(&s, &s.admin_key, json!({"project_id": l.project})).await;
    assert_eq!(v["failure_count"], 1, "{v}");
    let msg = v["failed_projects"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        msg.contains(&format!("next-page link points to {}", evil.url))
            && msg.contains("not followed"),
        "{msg}"
    );
    assert!(!msg.contains("gh-secret-token"), "{msg}");
    assert!(
        evil.requests().is_empty(),
        "the look-alike got nothing: {:?}",
        evil.requests().iter().map(|r| &r.uri).collect::<Vec<_>>()
    );
    let pages = gh
        .requests()
        .iter()
        .filter(|r| r.path() == "/repos/octo/repo/issues")
        .count();
    assert_eq!(pages, 1, "stopped at the first page");
    assert_eq!(
        all_issues(&s, &format!("project_id={}", l.project)).await["total"],
        0,
        "a partial list is not stored as if complete"
    );

    // Links on the same origin are followed as before.
    gh.state.lock().unwrap().link_base = None;
    let v = sync(&s, &s.admin_key, json!({"project_id": l.project})).await;
    assert_eq!(
        (v["failure_count"].as_u64(), v["synced"].as_u64()),
        (Some(0), Some(150)),
        "{v}"
    );
    assert!(evil.requests().is_empty());
}

#[test]
fn a_bad_ca_bundle_stops_the_server_at_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not-a-bundle.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    for (bundle, want) in [
        (dir.path().join("missing.pem"), "cannot read it"),
        (not_pem, "holds no certificate"),
    ] {
        let out = std::process::Command::new(BIN)
            .arg("serve")
            .env("AIOPS_DATA_DIR", dir.path().join("data"))
            .env("AIOPS_BIND", "127.0.0.1:0")
            .env("AIOPS_SANDBOX", "off")
            .env("AIOPS_CA_BUNDLE", &bundle)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "started with {}: {err}",
            bundle.display()
        );
        assert!(
            err.contains(&format!("ca_bundle {}: {want}", bundle.display()))
                && err.contains("give a PEM file of CA certificates"),
            "{err}"
        );
    }
}
