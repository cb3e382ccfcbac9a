//! `GET /api/v1/issues`, the original's contract: no `limit` = every matching issue (streamed),
//! ascending id by default, `sort=-id`, paging with `next`/`Link`, case-insensitive status and
//! provider filters, and tenancy in the streamed answer. The store is an `aiops import-sqlite`
//! of a database in the original's schema with 1,200 issues (ids 17..=1216: 17, 18 and the odd
//! ids on project 5 "Shop" (GitHub), the even ids from 20 on project 6 "Api" (GitLab), both in
//! tenant 1 "Acme").

use crate::harness::*;
use crate::import::{ADMIN_KEY, FIRST_ISSUE, build_db_sized};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::process::Command;

const N: usize = 1200;
const LAST: u64 = FIRST_ISSUE + N as u64 - 1;

/// A server on an imported store with `N` issues; its `admin_key` is the imported admin's key.
fn imported() -> (tempfile::TempDir, Server) {
    let tmp = tempfile::tempdir().unwrap();
    let db = build_db_sized(tmp.path(), N);
    let data = tmp.path().join("data");
    let out = Command::new(BIN)
        .arg("import-sqlite")
        .arg("--data-dir")
        .arg(&data)
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "import failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut s = Server::spawn(&data, &[]);
    s.admin_key = ADMIN_KEY.to_string();
    (tmp, s)
}

/// GET with a key: status, headers and the body parsed as JSON (the whole body must parse).
async fn get_full(s: &Server, key: &str, path: &str) -> (StatusCode, HeaderMap, Value) {
    let resp = s
        .client
        .get(s.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let (st, headers) = (resp.status(), resp.headers().clone());
    let text = resp.text().await.unwrap();
    let v = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{path}: body is not JSON ({e}): {text:.300}"));
    (st, headers, v)
}

async fn list(s: &Server, key: &str, path: &str) -> Value {
    let (st, _, v) = get_full(s, key, path).await;
    assert_eq!(st, StatusCode::OK, "{path}: {v:.300}");
    v
}

fn ids(v: &Value) -> Vec<u64> {
    v["issues"]
        .as_array()
        .unwrap_or_else(|| panic!("no issues array: {v:.300}"))
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect()
}

/// Follow `next` from `first`, checking that `Link` says the same; every page's ids in order.
async fn follow(s: &Server, key: &str, first: &str) -> (Vec<u64>, usize) {
    let mut path = first.to_string();
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let (st, headers, v) = get_full(s, key, &path).await;
        assert_eq!(st, StatusCode::OK, "{path}: {v:.300}");
        pages += 1;
        all.extend(ids(&v));
        let link = headers.get("link").map(|l| l.to_str().unwrap().to_string());
        match v["next"].as_str() {
            Some(next) => {
                assert_eq!(
                    link.as_deref(),
                    Some(format!("<{next}>; rel=\"next\"").as_str()),
                    "{path}"
                );
                path = next.to_string();
            }
            None => {
                assert!(v["next"].is_null(), "{v:.300}");
                assert_eq!(link, None, "a Link header on the last page: {path}");
                return (all, pages);
            }
        }
        assert!(pages <= N, "paging never ends: {path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_issue_in_id_order_without_limit_and_paging_that_follows_next() {
    let (_tmp, s) = imported();
    let key = s.admin_key.clone();
    let every: Vec<u64> = (FIRST_ISSUE..=LAST).collect();

    // No limit: every issue (the old server stopped at 50, and refused more than 500), oldest
    // first, as a stream (no Content-Length).
    let resp = s
        .client
        .get(s.url("/api/v1/issues"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{:?}",
        resp.headers()
    );
    assert_eq!(
        resp.content_length(),
        None,
        "the unlimited list is streamed"
    );
    assert!(resp.headers().get("link").is_none());
    let v: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(ids(&v), every);
    assert_eq!(v["count"], N);
    assert_eq!(v["total"], N);
    assert_eq!(v["offset"], 0);
    assert!(v["limit"].is_null() && v["next"].is_null(), "{:.300}", v);
    let first = &v["issues"][0];
    assert_eq!(first["id"], FIRST_ISSUE);
    assert_eq!(first["title"], "Checkout fails");
    assert_eq!(first["project_name"], "Shop");
    assert_eq!(first["provider_key"], "github");
    assert!(first.get("description").is_none(), "{first}");

    // Newest first on request; anything else is refused with the allowed values.
    let v = list(&s, &key, "/api/v1/issues?sort=-id").await;
    assert_eq!(ids(&v), every.iter().rev().copied().collect::<Vec<_>>());
    assert_eq!(ids(&list(&s, &key, "/api/v1/issues?sort=id").await), every);
    let (st, _, v) = get_full(&s, &key, "/api/v1/issues?sort=bogus").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let e = err_text(&v);
    assert!(
        e.contains("bogus") && e.contains("id") && e.contains("-id"),
        "{e}"
    );

    // limit: the lowest ids, any positive size; a next link when more follow.
    let (st, headers, v) = get_full(&s, &key, "/api/v1/issues?limit=5").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(ids(&v), every[..5]);
    assert_eq!(
        (v["count"].as_u64(), v["total"].as_u64()),
        (Some(5), Some(N as u64))
    );
    assert_eq!(v["limit"], 5);
    assert_eq!(v["next"], "/api/v1/issues?offset=5&limit=5");
    assert_eq!(
        headers["link"].to_str().unwrap(),
        "</api/v1/issues?offset=5&limit=5>; rel=\"next\""
    );
    let v = list(&s, &key, "/api/v1/issues?limit=1000").await;
    assert_eq!(ids(&v), every[..1000]);
    assert_eq!(v["total"], N);
    let v = list(&s, &key, "/api/v1/issues?limit=5000").await;
    assert_eq!(ids(&v), every);
    assert!(v["next"].is_null(), "{:.300}", v);
    for bad in ["0", "-3"] {
        let (st, _, v) = get_full(&s, &key, &format!("/api/v1/issues?limit={bad}")).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "limit={bad}: {v}");
        assert!(err_text(&v).contains("positive"), "{v}");
    }
    // offset without limit: the rest.
    let v = list(&s, &key, "/api/v1/issues?offset=1190").await;
    assert_eq!(ids(&v), every[1190..]);
    assert_eq!(
        (v["count"].as_u64(), v["total"].as_u64()),
        (Some(10), Some(N as u64))
    );
    assert_eq!(v["offset"], 1190);

    // Following next (and Link) from limit=100 collects every issue exactly once.
    let (paged, pages) = follow(&s, &key, "/api/v1/issues?limit=100").await;
    assert_eq!(pages, N.div_ceil(100));
    assert_eq!(paged, every);

    // Status and provider filters ignore case; other parameters are kept in the next link.
    let open = list(&s, &key, "/api/v1/issues?status=open").await;
    let open_ids = ids(&open);
    assert!(
        open_ids.len() > 500 && open_ids.len() < N,
        "{}",
        open_ids.len()
    );
    assert!(open_ids.windows(2).all(|w| w[0] < w[1]));
    assert!(
        open["issues"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status_key"] == "open"),
        "GitLab's `opened` is open too"
    );
    assert_eq!(open["total"], open_ids.len());
    for variant in ["OPEN", "Open", "opened", "To%20Do"] {
        let v = list(&s, &key, &format!("/api/v1/issues?status={variant}")).await;
        assert_eq!(ids(&v), open_ids, "status={variant}");
    }
    let closed = ids(&list(&s, &key, "/api/v1/issues?status=Closed").await);
    assert_eq!(closed.len() + open_ids.len(), N);
    let github = ids(&list(&s, &key, "/api/v1/issues?provider=github").await);
    assert_eq!(github.len(), N / 2 + 1);
    assert_eq!(
        ids(&list(&s, &key, "/api/v1/issues?provider=GitHub").await),
        github
    );
    assert_eq!(
        ids(&list(&s, &key, "/api/v1/issues?source=GITHUB").await),
        github
    );
    let newest_open: Vec<u64> = open_ids.iter().rev().copied().collect();
    let start = "/api/v1/issues?status=OPEN&sort=-id&limit=100";
    let (st, _, v) = get_full(&s, &key, start).await;
    assert_eq!(st, StatusCode::OK);
    let next = v["next"].as_str().unwrap();
    assert_eq!(
        next,
        "/api/v1/issues?status=OPEN&sort=-id&offset=100&limit=100"
    );
    let (paged, _) = follow(&s, &key, start).await;
    assert_eq!(paged, newest_open);
    // The residual-filter path (assignee is checked per issue) pages the same way.
    let alice_all = ids(&list(&s, &key, "/api/v1/issues?assignee=ALICE&sort=-id").await);
    assert!(!alice_all.is_empty());
    let (paged, _) = follow(&s, &key, "/api/v1/issues?assignee=alice&sort=-id&limit=7").await;
    assert_eq!(paged, alice_all);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_streamed_list_keeps_to_the_callers_tenants() {
    let (_tmp, s) = imported();
    let admin = s.admin_key.clone();
    let every: Vec<u64> = (FIRST_ISSUE..=LAST).collect();
    // Alice owns project 5 (and is its maintainer): the GitHub issues only.
    let alice = s
        .user_key("alice@example.com", "alice-pass-1", &["read"])
        .await;
    let shop: Vec<u64> = every
        .iter()
        .copied()
        .filter(|id| *id == FIRST_ISSUE + 1 || id % 2 == 1)
        .collect();
    // Mallory is a member of another tenant only.
    let mallory_id = s
        .create_user("mallory@example.com", "mallory-pass-1", false)
        .await;
    let beta = s.create_tenant("Beta").await;
    s.project_for(mallory_id, "Beta app", beta).await;
    s.add_member("tenants", beta, mallory_id, "viewer").await;
    let mallory = s
        .user_key("mallory@example.com", "mallory-pass-1", &["read"])
        .await;

    // Attack: every way of asking for the unlimited list gives none of Acme's issues.
    for path in [
        "/api/v1/issues",
        "/api/v1/issues?sort=-id",
        "/api/v1/issues?tenant_id=1",
        "/api/v1/issues?status=open",
        "/api/v1/issues?provider=github",
        "/api/v1/issues?integration_id=3",
        "/api/v1/issues?assignee=alice",
        "/api/v1/issues?offset=0",
    ] {
        let v = list(&s, &mallory, path).await;
        assert_eq!(ids(&v), Vec::<u64>::new(), "{path}: {v:.300}");
        assert_eq!(v["total"], 0, "{path}");
    }
    // Alice sees her project's issues and nothing of project 6, streamed or paged.
    let v = list(&s, &alice, "/api/v1/issues").await;
    assert_eq!(ids(&v), shop);
    assert_eq!(v["total"], shop.len());
    assert!(
        v["issues"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["project_id"] == 5)
    );
    assert_eq!(
        ids(&list(&s, &alice, "/api/v1/issues?provider=gitlab").await),
        Vec::<u64>::new()
    );
    let (paged, _) = follow(&s, &alice, "/api/v1/issues?limit=250").await;
    assert_eq!(paged, shop);

    // A project the caller cannot see: 404 before any body (an error, not an empty stream).
    for (key, project) in [(&mallory, 5), (&mallory, 6), (&alice, 6)] {
        for extra in ["", "&limit=10"] {
            let path = format!("/api/v1/issues?project_id={project}{extra}");
            let (st, _, v) = get_full(&s, key, &path).await;
            assert_eq!(st, StatusCode::NOT_FOUND, "{path}: {v:.300}");
            assert!(v.get("issues").is_none(), "{v}");
            assert!(
                err_text(&v).contains(&format!("Project {project} not found")),
                "{v}"
            );
        }
    }
    // The same answer for a project that does not exist at all, even for an admin.
    let (st, _, v) = get_full(&s, &admin, "/api/v1/issues?project_id=999").await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");

    // Control: the admin gets everything; with a membership in Acme, Mallory's same key and
    // requests get Acme's issues, so the boundary above is the membership.
    assert_eq!(ids(&list(&s, &admin, "/api/v1/issues").await), every);
    s.add_member("tenants", 1, mallory_id, "viewer").await;
    assert_eq!(ids(&list(&s, &mallory, "/api/v1/issues").await), every);
    assert_eq!(
        ids(&list(&s, &mallory, "/api/v1/issues?project_id=6").await),
        every
            .iter()
            .copied()
            .filter(|id| *id != FIRST_ISSUE + 1 && id % 2 == 0)
            .collect::<Vec<_>>()
    );
}
