//! Service-level tests on a real redb file: cascades leave nothing behind.

use super::App;
use super::accounts::NewUser;
use crate::auth::Identity;
use crate::config::{Config, ServeArgs};
use crate::domain::Scope;
use crate::store::Store;
use crate::store::accounts::AccountReads;

fn app(dir: &std::path::Path) -> App {
    let mut args = ServeArgs::default();
    args.store.data_dir = Some(dir.to_path_buf());
    let config = Config::resolve(&args).unwrap();
    App::new(Store::open(dir).unwrap(), config).unwrap()
}

fn admin(app: &App) -> Identity {
    let u = app
        .accounts
        .create_user(
            &crate::auth::Identity::system(),
            NewUser {
                email: "a@example.com",
                name: "A",
                password: "password-1",
                is_admin: true,
            },
        )
        .unwrap();
    let (k, _) = app
        .accounts
        .create_key_offline(&u.email, "k", &["admin".into()], None)
        .unwrap();
    Identity::from_key(u, k)
}

/// How many entries the table named `t` holds (rows, or each value of an index).
fn rows(app: &App, t: &str) -> u64 {
    app.store.read().unwrap().entries_of(t).unwrap()
}

#[test]
fn deleting_a_tenant_leaves_no_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let me = admin(&app);
    app.accounts.seed_demo("a@example.com", 2, 3, 60).unwrap();
    // Pin a few issues.
    {
        let w = app.store.write().unwrap();
        for issue_id in [1u64, 2, 3] {
            w.add_pin(me.id(), issue_id.into(), crate::domain::model::now())
                .unwrap();
        }
        w.commit().unwrap();
    }
    assert_eq!(rows(&app, "issues"), 60);
    for t in app.tenancy.list_tenants(&me).unwrap() {
        app.tenancy.delete_tenant(&me, t.tenant.id).unwrap();
    }
    for t in [
        "tenants",
        "projects",
        "integrations",
        "project_integrations",
        "issues",
        "pins",
        "projects_by_tenant",
        "projects_by_owner",
        "integrations_by_tenant",
        "project_integrations_by_project",
        "project_integrations_by_integration",
        "issues_by_project_integration",
        "issues_by_project",
        "issues_by_tenant",
        "pins_by_user",
        "pins_by_issue",
        "tenants_by_name",
        "issues_by_external",
        "issues_by_status",
    ] {
        assert_eq!(rows(&app, t), 0, "{t}");
    }
}

#[test]
fn deleting_a_project_keeps_its_siblings() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let me = admin(&app);
    app.accounts.seed_demo("a@example.com", 1, 2, 10).unwrap();
    let projects = app.tenancy.list_projects(&me, None).unwrap();
    app.tenancy
        .delete_project(&me, projects[0].project.id)
        .unwrap();
    assert_eq!(app.tenancy.list_projects(&me, None).unwrap().len(), 1);
    assert_eq!(rows(&app, "issues"), 5);
    assert_eq!(rows(&app, "issues_by_project"), 5);
    assert_eq!(rows(&app, "project_integrations"), 1);
}

#[test]
fn demoting_an_admin_strips_admin_scope_from_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let me = admin(&app);
    let other = app
        .accounts
        .create_user(
            &crate::auth::Identity::system(),
            NewUser {
                email: "b@example.com",
                name: "B",
                password: "password-1",
                is_admin: true,
            },
        )
        .unwrap();
    app.accounts
        .create_key_offline("b@example.com", "k", &["admin".into()], None)
        .unwrap();
    app.accounts
        .update_user(
            &me,
            other.id,
            super::accounts::UserUpdate {
                is_admin: Some(false),
                ..Default::default()
            },
        )
        .unwrap();
    let r = app.store.read().unwrap();
    let keys = r.api_keys_of_user(other.id).unwrap();
    let theirs = keys.iter().find(|k| k.user_id == other.id).unwrap();
    assert_eq!(theirs.scopes, vec![Scope::Read]);
}
