//! Service-level tests on a real redb file: cascades leave nothing behind.

use super::App;
use super::accounts::NewUser;
use crate::auth::Identity;
use crate::config::{Config, ServeArgs};
use crate::domain::{PinnedIssue, Scope};
use crate::store::tables::*;
use crate::store::*;

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

fn rows(app: &App, t: RowTable) -> u64 {
    table_len(&app.store.read().unwrap(), t).unwrap()
}

fn multi_rows(app: &App, t: MultiIndex) -> u64 {
    AnyTable::MultiU64(t)
        .entries(&app.store.read().unwrap())
        .unwrap()
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
            let pin = PinnedIssue {
                id: next_id(&w, "pins").unwrap(),
                user_id: me.id(),
                issue_id,
                pinned_at: crate::domain::model::now(),
            };
            put_row(&w, PINS, pin.id, &pin).unwrap();
            multi_add(&w, PINS_BY_USER, me.id(), pin.id).unwrap();
            multi_add(&w, PINS_BY_ISSUE, issue_id, pin.id).unwrap();
        }
        w.commit().unwrap();
    }
    assert_eq!(rows(&app, ISSUES), 60);
    for t in app.tenancy.list_tenants(&me).unwrap() {
        app.tenancy.delete_tenant(&me, t.tenant.id).unwrap();
    }
    for t in [
        TENANTS,
        PROJECTS,
        INTEGRATIONS,
        PROJECT_INTEGRATIONS,
        ISSUES,
        PINS,
    ] {
        assert_eq!(rows(&app, t), 0);
    }
    for t in [
        PROJECTS_BY_TENANT,
        PROJECTS_BY_OWNER,
        INTEGRATIONS_BY_TENANT,
        PROJECT_INTEGRATIONS_BY_PROJECT,
        PROJECT_INTEGRATIONS_BY_INTEGRATION,
        ISSUES_BY_PROJECT_INTEGRATION,
        ISSUES_BY_PROJECT,
        ISSUES_BY_TENANT,
        PINS_BY_USER,
        PINS_BY_ISSUE,
    ] {
        assert_eq!(multi_rows(&app, t), 0);
    }
    let r = app.store.read().unwrap();
    assert_eq!(AnyTable::IdxStr(TENANTS_BY_NAME).entries(&r).unwrap(), 0);
    assert_eq!(AnyTable::IdxStr(ISSUES_BY_EXTERNAL).entries(&r).unwrap(), 0);
    assert_eq!(AnyTable::MultiStr(ISSUES_BY_STATUS).entries(&r).unwrap(), 0);
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
    assert_eq!(rows(&app, ISSUES), 5);
    assert_eq!(multi_rows(&app, ISSUES_BY_PROJECT), 5);
    assert_eq!(rows(&app, PROJECT_INTEGRATIONS), 1);
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
    let keys: Vec<crate::domain::ApiKey> = all_rows(&r, API_KEYS).unwrap();
    let theirs = keys.iter().find(|k| k.user_id == other.id).unwrap();
    assert_eq!(theirs.scopes, vec![Scope::Read]);
}
