//! Members on the web, in headless Chromium: an admin adds people to a tenant from its page,
//! and what each role then sees (developers get the write buttons, viewers none of them).
//! Screenshots of the tenant page at 390 px and 1366 px go to /tmp/shots/.

use crate::harness::*;
use crate::webdriver::Driver;

/// The write buttons of a project page.
const WRITE_BUTTONS: [&str; 6] = [
    "#agent-start",
    "form.agent-start",
    "#workspace-panel",
    "#project-edit",
    "#project-delete",
    "#member-form",
];

#[tokio::test(flavor = "multi_thread")]
async fn admin_adds_members_on_the_tenant_page_and_each_role_sees_its_buttons() {
    let s = Server::start();
    let tenant = s.create_tenant("Members Co").await;
    let project = s.create_project(&s.admin_key, "Members App", tenant).await;
    let dev = s
        .create_user("dev@example.com", "dev-password-1", false)
        .await;
    s.create_user("view@example.com", "view-password-1", false)
        .await;
    let tenant_url = s.url(&format!("/tenants/{tenant}"));

    // The admin adds both from the tenant page's Members form, at phone width.
    let d = Driver::start(true).await;
    d.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    d.goto(&tenant_url).await;
    d.find("#members-section #member-form").await;
    assert_eq!(d.script("return window.innerWidth").await, 390);
    d.type_into("#member-form input[name=email]", "dev@example.com")
        .await;
    d.select("#member-form select[name=role]", "developer")
        .await;
    d.click("#member-submit").await;
    d.wait_text("#member-outcome", "Added dev@example.com as developer")
        .await;
    d.wait_text("#member-list", "dev@example.com").await;
    d.type_into("#member-form input[name=email]", "view@example.com")
        .await;
    d.select("#member-form select[name=role]", "viewer").await;
    d.click("#member-submit").await;
    d.wait_text("#member-outcome", "Added view@example.com as viewer")
        .await;
    // Refusals show next to the form too: an unknown email (404) and a second add (409).
    d.type_into("#member-form input[name=email]", "nobody@example.com")
        .await;
    d.click("#member-submit").await;
    d.wait_text("#member-outcome", "No user with email nobody@example.com")
        .await;
    d.type_into("#member-form input[name=email]", "dev@example.com")
        .await;
    d.click("#member-submit").await;
    d.wait_text("#member-outcome", "already a member").await;
    // A role change from the member's card.
    d.select(&format!("#member-{dev} select[name=role]"), "maintainer")
        .await;
    d.click(&format!("#member-{dev} form.member-role button"))
        .await;
    d.wait_text("#member-outcome", "dev@example.com is now maintainer")
        .await;
    d.select(&format!("#member-{dev} select[name=role]"), "developer")
        .await;
    d.click(&format!("#member-{dev} form.member-role button"))
        .await;
    d.wait_text("#member-outcome", "dev@example.com is now developer")
        .await;
    // The API agrees.
    let (_, v) = s
        .get(&s.admin_key, &format!("/api/v1/tenants/{tenant}/members"))
        .await;
    let roles: Vec<(String, String)> = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["email"].as_str().unwrap_or_default().to_string(),
                m["role"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        roles.contains(&("dev@example.com".into(), "developer".into()))
            && roles.contains(&("view@example.com".into(), "viewer".into())),
        "{v}"
    );
    d.assert_fits("no sideways scrolling at 390 px").await;
    d.goto(&tenant_url).await;
    d.find("#member-list").await;
    d.screenshot("/tmp/shots/tenant-members-390.png").await;

    // The same page on a desktop.
    let wide = Driver::start(false).await;
    wide.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    wide.goto(&tenant_url).await;
    wide.find("#member-list").await;
    assert_eq!(wide.script("return window.innerWidth").await, 1366);
    wide.assert_fits("no sideways scrolling at 1366 px").await;
    wide.screenshot("/tmp/shots/tenant-members-1366.png").await;
    drop(wide);

    // The developer sees the tenant's project, opens it and gets the write buttons.
    d.login(&s, "dev@example.com", "dev-password-1").await;
    d.goto(&tenant_url).await;
    d.wait_text("#tenant-projects", "Members App").await;
    assert_eq!(
        d.count("#new-project").await,
        0,
        "developers create no projects"
    );
    assert_eq!(
        d.count("#member-form").await,
        0,
        "developers manage no members"
    );
    d.click(&format!("#tenant-projects a[href='/projects/{project}']"))
        .await;
    d.find("#agent-start").await;
    assert!(
        d.current_url()
            .await
            .ends_with(&format!("/projects/{project}"))
    );
    d.wait_text("#agent-start", "Start agent").await;
    d.wait_text("#workspace-panel", "My workspace").await;
    d.wait_text("#my-role", "developer").await;
    assert_eq!(d.count("#project-edit").await, 0, "only maintainers edit");
    d.assert_fits("project page fits at 390 px").await;

    // The viewer sees the project but none of the write buttons.
    d.login(&s, "view@example.com", "view-password-1").await;
    d.goto(&tenant_url).await;
    d.wait_text("#tenant-projects", "Members App").await;
    d.goto(&s.url(&format!("/projects/{project}"))).await;
    d.find("#read-only").await;
    d.wait_text("#my-role", "viewer").await;
    // The project's own members (the viewer reaches it through the tenant), read only.
    d.wait_text("#member-list", "admin@example.com").await;
    assert_eq!(d.count("#member-list form").await, 0);
    for css in WRITE_BUTTONS {
        assert_eq!(d.count(css).await, 0, "a viewer has no {css}");
    }
    let buttons = d
        .script(
            "return [...document.querySelectorAll('main button')].map(b => b.textContent.trim())",
        )
        .await;
    assert!(
        !buttons.to_string().contains("Start agent") && !buttons.to_string().contains("Clone"),
        "{buttons}"
    );
    d.screenshot("/tmp/shots/project-viewer-390.png").await;
    // Nor "New project" on the projects page.
    d.goto(&s.url("/projects")).await;
    d.wait_text("#project-list", "Members App").await;
    assert_eq!(d.count("#project-form").await, 0);
    d.find("#no-create").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_picks_a_project_owner_and_edits_a_user_in_one_form() {
    let s = Server::start();
    let tenant = s.create_tenant("Owners Co").await;
    let dev = s
        .create_user("owner@example.com", "owner-password-1", false)
        .await;
    let d = Driver::start(true).await;
    d.login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    // New project for another user: the owner select, the tenant preselected from its page.
    d.goto(&s.url(&format!("/tenants/{tenant}"))).await;
    d.click("#new-project").await;
    d.find("#project-form select[name=owner_id]").await;
    let tenant_sel = d
        .script("return document.querySelector('#project-form select[name=tenant_id]').value")
        .await;
    assert_eq!(tenant_sel, tenant.to_string());
    d.type_into("#project-form input[name=name]", "Owned App")
        .await;
    d.type_into(
        "#project-form input[name=repo_url]",
        "https://example.com/o/owned.git",
    )
    .await;
    d.select("#project-form select[name=owner_id]", &dev.to_string())
        .await;
    d.click("#project-submit").await;
    d.wait_text("#project-list", "Owned App").await;
    let (_, v) = s.get(&s.admin_key, "/api/v1/projects").await;
    let p = v["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Owned App")
        .cloned()
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(p["owner_id"], dev, "{p}");
    let (_, m) = s
        .get(
            &s.admin_key,
            &format!("/api/v1/projects/{}/members", p["id"]),
        )
        .await;
    assert!(
        m["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user_id"] == dev && m["role"] == "maintainer"),
        "{m}"
    );

    // One form edits name, Linux user and admin flag together.
    d.goto(&s.url("/users")).await;
    let card = format!("#user-{dev}");
    d.click(&format!("{card} details.user-edit summary")).await;
    d.type_into(&format!("{card} input[name=name]"), "Olivia Owner")
        .await;
    d.type_into(&format!("{card} input[name=linux_username]"), "olivia")
        .await;
    d.click(&format!("{card} button.user-save")).await;
    d.wait_text(&card, "Saved owner@example.com").await;
    d.wait_text(&card, "Olivia Owner").await;
    // A bad field saves nothing, and says so on the card.
    d.click(&format!("{card} details.user-edit summary")).await;
    d.type_into(&format!("{card} input[name=name]"), "Not Saved")
        .await;
    d.type_into(&format!("{card} input[name=email]"), ADMIN_EMAIL)
        .await;
    d.click(&format!("{card} button.user-save")).await;
    d.wait_text(&card, "Nothing was saved").await;
    let (_, u) = s.get(&s.admin_key, &format!("/api/v1/users/{dev}")).await;
    assert_eq!(u["user"]["name"], "Olivia Owner", "{u}");
    assert_eq!(u["user"]["email"], "owner@example.com", "{u}");
    assert_eq!(u["user"]["linux_username"], "olivia", "{u}");
    d.assert_fits("users page fits at 390 px").await;
    d.screenshot("/tmp/shots/users-edit-390.png").await;

    // A tenant maintainer (granted on the page: admins may grant maintainer) creates projects
    // in that tenant, for themselves only, and manages its integrations.
    let maint = s
        .create_user("maint@example.com", "maint-password-1", false)
        .await;
    d.goto(&s.url(&format!("/tenants/{tenant}"))).await;
    d.type_into("#member-form input[name=email]", "maint@example.com")
        .await;
    d.select("#member-form select[name=role]", "maintainer")
        .await;
    d.click("#member-submit").await;
    d.wait_text("#member-outcome", "Added maint@example.com as maintainer")
        .await;
    d.login(&s, "maint@example.com", "maint-password-1").await;
    d.goto(&s.url(&format!("/tenants/{tenant}"))).await;
    d.wait_text("#my-role", "maintainer").await;
    d.click("#new-project").await;
    d.find("#project-form").await;
    assert_eq!(d.count("#project-form select[name=owner_id]").await, 0);
    // Maintainers manage viewers and developers, not other maintainers.
    d.goto(&s.url(&format!("/tenants/{tenant}"))).await;
    let offered = d
        .script("return [...document.querySelectorAll('#member-form select[name=role] option')].map(o => o.value).join(',')")
        .await;
    assert_eq!(offered, "viewer,developer");
    assert_eq!(
        d.count(&format!("#member-{maint} form")).await,
        0,
        "a maintainer's own card has no controls"
    );
    d.goto(&s.url("/integrations")).await;
    d.find("#integration-form").await;
    d.wait_text("#integration-form", "Owners Co").await;
}
