//! In-process tests of the issue service's access rules on a real redb file: what a member of
//! one project sees in lists, single reads and pins, and what a read-only key may not do.

use crate::auth::Identity;
use crate::config::{Config, ServeArgs};
use crate::domain::Role;
use crate::domain::issues::{IssueFilter, IssueSort};
use crate::error::AppError;
use crate::services::App;
use crate::services::access::{MemberChange, MemberOf};
use crate::services::accounts::NewUser;
use crate::store::Store;

fn app(dir: &std::path::Path) -> App {
    let mut args = ServeArgs::default();
    args.store.data_dir = Some(dir.to_path_buf());
    let config = Config::resolve(&args).unwrap();
    App::new(Store::open(dir).unwrap(), config).unwrap()
}

fn user(app: &App, email: &str, is_admin: bool, scopes: &[&str]) -> Identity {
    let u = app
        .accounts
        .create_user(
            &Identity::system(),
            NewUser {
                email,
                name: email,
                password: "password-1",
                is_admin,
            },
        )
        .unwrap();
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    let (k, _) = app
        .accounts
        .create_key_offline(email, "k", &scopes, None)
        .unwrap();
    Identity::from_key(u, k)
}

#[test]
fn a_project_member_sees_only_that_projects_issues() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let admin = user(&app, "a@example.com", true, &["admin"]);
    // 2 tenants x 2 projects, 40 issues spread round-robin over the 4 projects.
    app.accounts.seed_demo("a@example.com", 2, 2, 40).unwrap();
    let all = app
        .trackers
        .list_issues(&admin, &IssueFilter::default())
        .unwrap();
    assert_eq!((all.total, all.issues.len()), (40, 40));
    let project = all.issues[0].issue.project_id;
    let other = all
        .issues
        .iter()
        .find(|v| v.issue.project_id != project)
        .unwrap()
        .issue
        .id;

    let member = user(&app, "d@example.com", false, &["read", "write"]);
    app.tenancy
        .change_member(
            &admin,
            MemberOf::Project(project),
            member.id(),
            MemberChange::Add(Role::Developer),
        )
        .unwrap();
    let page = app
        .trackers
        .list_issues(
            &member,
            &IssueFilter {
                limit: Some(3),
                sort: IssueSort::IdDesc,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(page.total, 10);
    assert_eq!(page.issues.len(), 3);
    assert!(page.issues.iter().all(|v| v.issue.project_id == project));
    assert!(page.issues[0].issue.id > page.issues[1].issue.id);
    // Another project's issue is "not found", in a list filter and read alone.
    let other_project = app
        .trackers
        .get_issue(&admin, other)
        .unwrap()
        .issue
        .project_id;
    let err = app
        .trackers
        .plan_issues(
            &member,
            &IssueFilter {
                project_id: Some(other_project),
                ..Default::default()
            },
        )
        .err()
        .unwrap();
    assert!(matches!(err, AppError::NotFound(_)), "{err}");
    assert!(matches!(
        app.trackers.get_issue(&member, other),
        Err(AppError::NotFound(_))
    ));
    assert!(matches!(
        app.trackers.pin_issue(&member, other),
        Err(AppError::NotFound(_))
    ));
    // Its own issues: read, pin once, list pins, unpin.
    let mine = page.issues[0].issue.id;
    assert_eq!(
        app.trackers.get_issue(&member, mine).unwrap().issue.id,
        mine
    );
    assert!(app.trackers.pin_issue(&member, mine).unwrap().is_some());
    assert!(app.trackers.pin_issue(&member, mine).unwrap().is_none());
    assert!(app.trackers.is_pinned(&member, mine).unwrap());
    let pins = app.trackers.pinned_issues(&member).unwrap();
    assert_eq!(pins.len(), 1);
    assert!(pins[0].pinned_at.is_some());
    app.trackers.unpin_issue(&member, mine).unwrap();
    assert!(matches!(
        app.trackers.unpin_issue(&member, mine),
        Err(AppError::NotFound(_))
    ));
    // Nobody's member: an empty list, not an error.
    let stranger = user(&app, "s@example.com", false, &["read"]);
    let none = app
        .trackers
        .list_issues(&stranger, &IssueFilter::default())
        .unwrap();
    assert_eq!((none.total, none.issues.len()), (0, 0));
}

#[test]
fn a_read_only_key_cannot_pin_or_edit() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    user(&app, "a@example.com", true, &["admin"]);
    app.accounts.seed_demo("a@example.com", 1, 1, 3).unwrap();
    let reader = user(&app, "r@example.com", true, &["read"]);
    let id = app
        .trackers
        .list_issues(&reader, &IssueFilter::default())
        .unwrap()
        .issues[0]
        .issue
        .id;
    assert!(app.trackers.get_issue(&reader, id).is_ok());
    assert!(matches!(
        app.trackers.pin_issue(&reader, id),
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        app.trackers.set_local_status(&reader, id, "triage"),
        Err(AppError::Forbidden(_))
    ));
}
