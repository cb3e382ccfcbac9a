//! The services' authorization, in process: Dana, a developer of tenant A, attacks tenant B's
//! tenants, projects, issues, keys and members (read, update, delete, list) and gets 404 (no
//! role: the same answer as a missing id) or 403 (a role too low), and nothing of B appears in
//! any list she gets. Each test is a table of attacks driven by one loop; an attack's control,
//! the same call made by B's own member or the admin, works (run after every attack, in the
//! table's order, so the attacks all see the world untouched).

use crate::harness::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    /// Developer of A: the outsider.
    Dana,
    /// Maintainer of B.
    Bert,
    /// Developer of B.
    Bo,
    Admin,
}
use Who::*;

struct World {
    s: Inproc,
    /// Tenant A and its project; tenant B and its project.
    a: u64,
    pa: u64,
    b: u64,
    pb: u64,
    dana: String,
    dana_id: u64,
    bert: String,
    bert_id: u64,
    bo: String,
    bo_id: u64,
    /// Issues of B's project.
    b_issues: Vec<u64>,
}

impl World {
    fn key(&self, who: Who) -> &str {
        match who {
            Dana => &self.dana,
            Bert => &self.bert,
            Bo => &self.bo,
            Admin => &self.s.admin_key,
        }
    }
}

const NOT_FOUND: &[StatusCode] = &[StatusCode::NOT_FOUND];
const FORBIDDEN: &[StatusCode] = &[StatusCode::FORBIDDEN];

/// One attack: `by` makes the call and is refused with one of `refused`; the control, when
/// there is one, is the same call made by someone entitled to it, answering its status.
struct Attack {
    what: &'static str,
    by: Who,
    method: Method,
    path: String,
    body: Option<Value>,
    refused: &'static [StatusCode],
    control: Option<(Who, StatusCode)>,
}

impl Attack {
    /// Dana's call, refused as "not found", with no control (yet).
    fn new(what: &'static str, method: Method, path: impl Into<String>) -> Attack {
        Attack {
            what,
            by: Dana,
            method,
            path: path.into(),
            body: None,
            refused: NOT_FOUND,
            control: None,
        }
    }
    fn by(self, by: Who) -> Attack {
        Attack { by, ..self }
    }
    fn body(self, body: Value) -> Attack {
        Attack {
            body: Some(body),
            ..self
        }
    }
    fn refused(self, refused: &'static [StatusCode]) -> Attack {
        Attack { refused, ..self }
    }
    fn control(self, who: Who, want: StatusCode) -> Attack {
        Attack {
            control: Some((who, want)),
            ..self
        }
    }
}

/// Every attack of the table, in order: refused with its status, with a JSON error, and (made
/// by an outsider) naming nothing of B.
async fn attacks(w: &World, table: &[Attack]) {
    for (i, a) in table.iter().enumerate() {
        assert!(
            table[..i].iter().all(|b| b.what != a.what),
            "two rows are named {:?}",
            a.what
        );
        let (st, v) =
            w.s.call(w.key(a.by), a.method.clone(), &a.path, a.body.clone())
                .await;
        let row = format!("attack {:?} ({:?}: {} {})", a.what, a.by, a.method, a.path);
        assert!(
            a.refused.contains(&st),
            "{row} answered {st}, not {:?}: {v}",
            a.refused
        );
        assert!(v["error"].is_string(), "{row}: no JSON error: {v}");
        if a.by == Dana {
            assert!(
                !v.to_string().contains("demo-tenant-001"),
                "{row}: the refusal leaks B: {v}"
            );
        }
    }
}

/// The controls of the table, in order: the same calls by their rightful callers answer as
/// they should. Their bodies, by row name.
async fn controls(w: &World, table: &[Attack]) -> HashMap<&'static str, Value> {
    let mut bodies = HashMap::new();
    for a in table {
        let Some((who, want)) = a.control else {
            continue;
        };
        let (st, v) =
            w.s.call(w.key(who), a.method.clone(), &a.path, a.body.clone())
                .await;
        assert_eq!(
            st, want,
            "control of {:?} ({who:?}: {} {}): {v}",
            a.what, a.method, a.path
        );
        bodies.insert(a.what, v);
    }
    bodies
}

/// The ids of a list's items (`{"id": …}` or `{"tenant": {"id": …}}`).
fn ids(list: &Value, field: &str) -> Vec<u64> {
    list[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field} in {list}"))
        .iter()
        .map(|x| {
            x["id"]
                .as_u64()
                .or(x["tenant"]["id"].as_u64())
                .unwrap_or_else(|| panic!("no id in {x}"))
        })
        .collect()
}

async fn world() -> World {
    let s = Inproc::start().await;
    s.app
        .accounts
        .seed_demo(ADMIN_EMAIL, 2, 1, 20)
        .expect("seed two tenants, a project each, 20 issues");
    let tenants = s
        .expect(
            StatusCode::OK,
            &s.admin_key,
            Method::GET,
            "/api/v1/tenants",
            None,
        )
        .await;
    let by_name = |n: &str| {
        tenants["tenants"]
            .as_array()
            .expect("tenants")
            .iter()
            .find(|t| t["tenant"]["name"] == n || t["name"] == n)
            .and_then(|t| t["tenant"]["id"].as_u64().or(t["id"].as_u64()))
            .unwrap_or_else(|| panic!("no tenant {n} in {tenants}"))
    };
    let (a, b) = (by_name("demo-tenant-000"), by_name("demo-tenant-001"));
    let project_of = |t: u64| {
        let s = &s;
        async move {
            let v = s
                .expect(
                    StatusCode::OK,
                    &s.admin_key,
                    Method::GET,
                    &format!("/api/v1/projects?tenant_id={t}"),
                    None,
                )
                .await;
            ids(&v, "projects")[0]
        }
    };
    let (pa, pb) = (project_of(a).await, project_of(b).await);
    let (dana_id, dana) = s.user("dana@a.test", false, &["read", "write"]);
    let (bert_id, bert) = s.user("bert@b.test", false, &["read", "write"]);
    let (bo_id, bo) = s.user("bo@b.test", false, &["read", "write"]);
    s.add_member("tenants", a, dana_id, "developer").await;
    s.add_member("tenants", b, bert_id, "maintainer").await;
    s.add_member("tenants", b, bo_id, "developer").await;
    let v = s
        .expect(
            StatusCode::OK,
            &s.admin_key,
            Method::GET,
            &format!("/api/v1/issues?project_id={pb}&limit=100"),
            None,
        )
        .await;
    let b_issues = ids(&v, "issues");
    assert!(!b_issues.is_empty(), "B has issues: {v}");
    World {
        s,
        a,
        pa,
        b,
        pb,
        dana,
        dana_id,
        bert,
        bert_id,
        bo,
        bo_id,
        b_issues,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_b_is_not_found_for_a_developer_of_a() {
    let w = world().await;
    let s = &w.s;
    let b = format!("/api/v1/tenants/{}", w.b);
    let a = format!("/api/v1/tenants/{}", w.a);
    // Changing a tenant is for admins only: refused before any lookup, for any id — and for
    // Dana's own tenant it is 403, not 404.
    let table = [
        Attack::new("read B", Method::GET, &b).control(Bert, StatusCode::OK),
        Attack::new("rename B", Method::PATCH, &b)
            .body(json!({"name": "taken"}))
            .refused(FORBIDDEN)
            .control(Admin, StatusCode::OK),
        Attack::new("rename her own tenant", Method::PATCH, &a)
            .body(json!({"name": "renamed-a"}))
            .refused(FORBIDDEN)
            .control(Admin, StatusCode::OK),
        Attack::new("delete B", Method::DELETE, &b)
            .refused(FORBIDDEN)
            .control(Admin, StatusCode::NO_CONTENT),
    ];
    attacks(&w, &table).await;
    // The same answer as for a tenant that does not exist.
    let (st, missing) = s.get(&w.dana, "/api/v1/tenants/999999").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, theirs) = s.get(&w.dana, &b).await;
    assert_eq!(
        theirs["error"]
            .as_str()
            .map(|e| e.replace(&w.b.to_string(), "N")),
        missing["error"].as_str().map(|e| e.replace("999999", "N")),
        "B is indistinguishable from a missing tenant"
    );
    let list = s
        .expect(
            StatusCode::OK,
            &w.dana,
            Method::GET,
            "/api/v1/tenants?include_projects=true",
            None,
        )
        .await;
    assert_eq!(ids(&list, "tenants"), vec![w.a], "{list}");
    assert!(!list.to_string().contains("demo-tenant-001"), "{list}");

    // Controls: B's maintainer lists only B, A is Dana's; then the table's (the admin renames
    // and deletes B).
    let list = s
        .expect(
            StatusCode::OK,
            &w.bert,
            Method::GET,
            "/api/v1/tenants",
            None,
        )
        .await;
    assert_eq!(ids(&list, "tenants"), vec![w.b], "{list}");
    s.expect(StatusCode::OK, &w.dana, Method::GET, &a, None)
        .await;
    controls(&w, &table).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn project_of_b_is_not_found_for_a_developer_of_a() {
    let w = world().await;
    let s = &w.s;
    let pb = format!("/api/v1/projects/{}", w.pb);
    let pa = format!("/api/v1/projects/{}", w.pa);
    let table = [
        Attack::new("read B's project", Method::GET, &pb).control(Bert, StatusCode::OK),
        Attack::new("update B's project", Method::PATCH, &pb)
            .body(json!({"description": "owned"}))
            .control(Bert, StatusCode::OK),
        // Moving her own tenant's project into B: she may not manage it (403, B not named). No
        // control: the seeded project is linked to A's trackers, so even the admin gets 409.
        Attack::new("move her project into B", Method::PATCH, &pa)
            .body(json!({"tenant_id": w.b}))
            .refused(FORBIDDEN),
        // Creating one in B: B is not found.
        Attack::new("create a project in B", Method::POST, "/api/v1/projects")
            .body(
                json!({"name": "sneaky", "repo_url": "https://example.com/o/r.git", "tenant_id": w.b}),
            )
            .control(Bert, StatusCode::CREATED),
        // A developer of A may read A's project but not delete it: 403.
        Attack::new("delete her tenant's project", Method::DELETE, &pa)
            .refused(FORBIDDEN)
            .control(Admin, StatusCode::NO_CONTENT),
        Attack::new("delete B's project", Method::DELETE, &pb)
            .control(Bert, StatusCode::NO_CONTENT),
    ];
    attacks(&w, &table).await;
    // Listing B's projects by its id: an empty list.
    let list = s
        .expect(
            StatusCode::OK,
            &w.dana,
            Method::GET,
            &format!("/api/v1/projects?tenant_id={}", w.b),
            None,
        )
        .await;
    assert_eq!(list["count"], 0, "{list}");
    let list = s
        .expect(
            StatusCode::OK,
            &w.dana,
            Method::GET,
            "/api/v1/projects",
            None,
        )
        .await;
    assert_eq!(ids(&list, "projects"), vec![w.pa], "{list}");

    // Controls: B's maintainer lists B's project, Dana reads A's; then the table's.
    let list = s
        .expect(
            StatusCode::OK,
            &w.bert,
            Method::GET,
            &format!("/api/v1/projects?tenant_id={}", w.b),
            None,
        )
        .await;
    assert_eq!(ids(&list, "projects"), vec![w.pb], "{list}");
    s.expect(StatusCode::OK, &w.dana, Method::GET, &pa, None)
        .await;
    let bodies = controls(&w, &table).await;
    let v = &bodies["update B's project"];
    assert_eq!(v["project"]["description"], "owned", "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn issues_of_b_are_not_found_for_a_developer_of_a() {
    let w = world().await;
    let s = &w.s;
    let issue = w.b_issues[0];
    let i = format!("/api/v1/issues/{issue}");
    let table = [
        Attack::new("read B's issue", Method::GET, &i).control(Bo, StatusCode::OK),
        // Editing, closing and commenting write through to B's tracker, which this world has
        // no fake of: those rows have no control here.
        Attack::new("edit B's issue", Method::PATCH, &i).body(json!({"title": "owned"})),
        Attack::new("set its status", Method::POST, format!("{i}/status"))
            .body(json!({"status": "in_progress"}))
            .control(Bo, StatusCode::OK),
        Attack::new("pin it", Method::POST, format!("{i}/pin")).control(Bo, StatusCode::OK),
        Attack::new("close it", Method::POST, format!("{i}/close")),
        Attack::new("comment on it", Method::POST, format!("{i}/comments"))
            .body(json!({"body": "hi"})),
        Attack::new(
            "list B's project",
            Method::GET,
            format!("/api/v1/issues?project_id={}", w.pb),
        )
        .control(Bo, StatusCode::OK),
    ];
    attacks(&w, &table).await;
    // Lists: everything Dana sees is A's; B's tenant filter finds nothing of B.
    for q in [
        "",
        "?status=all",
        "?limit=1000",
        &format!("?tenant_id={}", w.b),
    ] {
        let (st, v) = s.get(&w.dana, &format!("/api/v1/issues{q}")).await;
        if st == StatusCode::OK {
            let seen = ids(&v, "issues");
            assert!(
                seen.iter().all(|x| !w.b_issues.contains(x)),
                "/issues{q} shows B's issues: {v}"
            );
        } else {
            assert_eq!(st, StatusCode::NOT_FOUND, "/issues{q}: {v}");
        }
    }
    let (_, pinned) = s.get(&w.dana, "/api/v1/issues/pinned").await;
    assert!(
        !pinned.to_string().contains(&format!("\"id\":{issue},")),
        "{pinned}"
    );

    // Controls: the table's (B's developer reads it, sets its local status and pins it, lists
    // its project), B's whole list, and Dana's own tenant's issues, hers to read.
    let bodies = controls(&w, &table).await;
    let v = &bodies["read B's issue"];
    assert_eq!(v["issue"]["id"], issue, "{v}");
    let list = s
        .expect(
            StatusCode::OK,
            &w.bo,
            Method::GET,
            &format!("/api/v1/issues?project_id={}&limit=100", w.pb),
            None,
        )
        .await;
    assert_eq!(ids(&list, "issues"), w.b_issues, "{list}");
    let list = s
        .expect(
            StatusCode::OK,
            &w.dana,
            Method::GET,
            &format!("/api/v1/issues?project_id={}&limit=100", w.pa),
            None,
        )
        .await;
    assert!(!ids(&list, "issues").is_empty(), "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_of_another_user_are_not_found() {
    let w = world().await;
    let s = &w.s;
    let bo_keys = s
        .expect(
            StatusCode::OK,
            &w.bo,
            Method::GET,
            "/api/v1/auth/keys",
            None,
        )
        .await;
    let bo_key = ids(&bo_keys, "keys")[0];
    let k = format!("/api/v1/auth/keys/{bo_key}");
    let table = [
        Attack::new("rename Bo's key", Method::PATCH, &k)
            .body(json!({"name": "mine"}))
            .control(Bo, StatusCode::OK),
        // Her key cannot mint an admin key (no admin scope to give).
        Attack::new("mint an admin key", Method::POST, "/api/v1/auth/keys")
            .body(json!({"name": "up", "scopes": ["admin"]}))
            .refused(&[StatusCode::FORBIDDEN, StatusCode::BAD_REQUEST]),
        // Users are the admin's: listing them is refused.
        Attack::new("list the users", Method::GET, "/api/v1/users")
            .refused(FORBIDDEN)
            .control(Admin, StatusCode::OK),
        Attack::new("delete Bo's key", Method::DELETE, &k).control(Bo, StatusCode::NO_CONTENT),
    ];
    attacks(&w, &table).await;
    let dana_keys = s
        .expect(
            StatusCode::OK,
            &w.dana,
            Method::GET,
            "/api/v1/auth/keys",
            None,
        )
        .await;
    let mine = ids(&dana_keys, "keys");
    assert!(!mine.contains(&bo_key), "{dana_keys}");
    assert_eq!(mine.len(), 1, "only her own key: {dana_keys}");

    // Controls: Bo renames and deletes his own key; the key still works until deleted.
    let bodies = controls(&w, &table).await;
    let v = &bodies["rename Bo's key"];
    assert_eq!(v["key"]["name"], "mine", "{v}");
    let (st, _) = s.get(&w.bo, "/api/v1/auth/keys").await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "a deleted key no longer works"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn members_of_b_are_not_found_and_a_developer_manages_none() {
    let w = world().await;
    let s = &w.s;
    let tm = format!("/api/v1/tenants/{}/members", w.b);
    let pm = format!("/api/v1/projects/{}/members", w.pb);
    let am = format!("/api/v1/tenants/{}/members", w.a);
    let bo_in_b = format!("{tm}/{}", w.bo_id);
    let table = [
        Attack::new("read B's members", Method::GET, &tm).control(Bert, StatusCode::OK),
        Attack::new("read B's project's members", Method::GET, &pm).control(Bert, StatusCode::OK),
        Attack::new("join B as maintainer", Method::POST, &tm)
            .body(json!({"user_id": w.dana_id, "role": "maintainer"}))
            .control(Admin, StatusCode::CREATED),
        Attack::new("join B's project as maintainer", Method::POST, &pm)
            .body(json!({"user_id": w.dana_id, "role": "maintainer"}))
            .control(Admin, StatusCode::CREATED),
        Attack::new("demote B's developer", Method::PATCH, &bo_in_b)
            .body(json!({"role": "viewer"}))
            .control(Bert, StatusCode::OK),
        Attack::new(
            "remove B's maintainer",
            Method::DELETE,
            format!("{tm}/{}", w.bert_id),
        ),
        Attack::new("remove B's developer", Method::DELETE, &bo_in_b)
            .control(Bert, StatusCode::NO_CONTENT),
        Attack::new("add B's developer back", Method::POST, &tm)
            .body(json!({"user_id": w.bo_id, "role": "developer"}))
            .control(Bert, StatusCode::CREATED),
        // B's maintainer may not promote to maintainer: only acting admins grant it.
        Attack::new("promote to maintainer", Method::PATCH, &bo_in_b)
            .by(Bert)
            .body(json!({"role": "maintainer"}))
            .refused(FORBIDDEN)
            .control(Admin, StatusCode::OK),
        // In her own tenant a developer reads the members but manages none: 403.
        Attack::new("add a member to her own tenant", Method::POST, &am)
            .body(json!({"user_id": w.bo_id, "role": "viewer"}))
            .refused(FORBIDDEN)
            .control(Admin, StatusCode::CREATED),
    ];
    attacks(&w, &table).await;
    // Nothing changed in B, and Dana still sees only A (and reads her own tenant's members).
    let members = s
        .expect(StatusCode::OK, &w.bert, Method::GET, &tm, None)
        .await;
    assert!(!members.to_string().contains("dana@a.test"), "{members}");
    assert!(members.to_string().contains("bo@b.test"), "{members}");
    let (_, list) = s.get(&w.dana, "/api/v1/tenants").await;
    assert_eq!(ids(&list, "tenants"), vec![w.a], "{list}");
    s.expect(StatusCode::OK, &w.dana, Method::GET, &am, None)
        .await;

    // Controls: B's maintainer changes, removes and adds back B's developer; the admin grants
    // what the others may not.
    controls(&w, &table).await;
}
