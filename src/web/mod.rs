//! The htmx web UI (maud templates, Pico CSS) and the embedded assets.

mod account;
mod agents;
mod ansible;
mod audit;
mod context;
mod dashboard;
mod extract;
mod git;
mod identities;
mod issues;
mod keys;
mod layout;
mod login;
mod members;
mod notify;
mod prelude;
mod projects;
pub mod pwa;
mod review;
mod session;
mod ssh;
mod system;
mod tenants;
mod terminal;
mod users;

use crate::services::App;
use account::*;
use dashboard::*;
use git::*;
use issues::*;
use keys::*;
use login::*;
use poem::endpoint::EmbeddedFilesEndpoint;
use poem::{Endpoint, EndpointExt, IntoResponse, Route, get, post};
use prelude::{form_address_get, not_found_page};
use projects::*;
use rust_embed::RustEmbed;
use ssh::*;
use std::sync::Arc;
use tenants::*;
use users::*;

#[derive(RustEmbed)]
#[folder = "assets/"]
pub struct Assets;

/// Headers on every web response (pages, fragments, assets, streams, and their errors, hence
/// `to_response` before it): no framing by other sites (clickjacking), no MIME sniffing.
fn security_headers() -> poem::middleware::SetHeader {
    poem::middleware::SetHeader::new()
        .overriding("x-frame-options", "DENY")
        .overriding("content-security-policy", "frame-ancestors 'none'")
        .overriding("x-content-type-options", "nosniff")
}

/// The embedded files. URLs the pages emit carry `?v=<content hash>` (`pwa::asset_url`), so
/// those answers are cached for a year; unversioned ones for an hour, revalidated by ETag.
pub fn assets() -> impl Endpoint {
    EmbeddedFilesEndpoint::<Assets>::new()
        .around(|ep, req| async move {
            let versioned = req
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("v=")));
            let mut resp = ep.call(req).await?.into_response();
            if resp.status().is_success() || resp.status() == poem::http::StatusCode::NOT_MODIFIED {
                let cc = if versioned {
                    "public, max-age=31536000, immutable"
                } else {
                    "public, max-age=3600"
                };
                resp.headers_mut().insert(
                    poem::http::header::CACHE_CONTROL,
                    poem::http::HeaderValue::from_static(cc),
                );
            }
            Ok(resp)
        })
        .to_response()
        .with(security_headers())
}

/// The root-level files of the installable app (`/favicon.ico`, `/manifest.webmanifest`,
/// `/sw.js`): public, outside the session pages.
pub fn pwa_routes() -> impl Endpoint {
    Route::new()
        .at("/favicon.ico", get(pwa::favicon))
        .at("/manifest.webmanifest", get(pwa::manifest))
        .at("/sw.js", get(pwa::service_worker))
        .to_response()
        .with(security_headers())
}

/// Long-lived streams (server-sent events), mounted outside the compression layer so that
/// each event reaches the browser at once.
pub fn stream_routes(app: Arc<App>) -> impl Endpoint {
    Route::new()
        .at("/agents", get(agents::agents_events))
        .at("/sessions/:key/terminal", get(terminal::terminal_ws))
        .at("/ansible/runs/:id", get(ansible::ansible_events))
        // Outside the body limit: the archive is streamed to a file (services::backup).
        .at("/admin/backups/upload", post(system::backup_upload))
        .data(app)
        .to_response()
        .with(security_headers())
}

/// Every page request runs with its `layout::RequestView` (path, fragment or whole page), so
/// `layout::page` marks the current page and answers htmx with the main content only; an
/// unknown path gets the 404 page with the caller's navigation.
async fn shell<E: Endpoint>(
    app: Arc<App>,
    ep: Arc<E>,
    req: poem::Request,
) -> poem::Result<poem::Response> {
    let view = layout::RequestView::of(req.uri().path(), |name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    let token = crate::api::gate::cookie_value(&req, crate::api::gate::SESSION_COOKIE);
    let get_path = (req.method() == poem::http::Method::GET).then(|| req.uri().path().to_string());
    layout::with_view(view, async move {
        match extract::answered(ep.call(req).await.map(IntoResponse::into_response)) {
            Ok(r) => {
                let r = r.into_response();
                match &get_path {
                    Some(path) if r.status() == poem::http::StatusCode::METHOD_NOT_ALLOWED => {
                        Ok(form_address_get(path))
                    }
                    _ => Ok(r),
                }
            }
            // A GET of a form's address (a reload or a bookmark after a post): to its page.
            Err(e) if e.is::<poem::error::MethodNotAllowedError>() && get_path.is_some() => {
                Ok(form_address_get(get_path.as_deref().unwrap_or("/")))
            }
            Err(e) if e.is::<poem::error::NotFoundError>() => {
                let who = token.and_then(|t| app.accounts.session_identity(&t).ok().flatten());
                Ok(not_found_page(who.as_ref()))
            }
            Err(e) => Err(e),
        }
    })
    .await
}

pub fn routes(app: Arc<App>) -> impl Endpoint {
    let shell_app = app.clone();
    Route::new()
        .at("/", get(dashboard))
        .at("/login", get(login_get).post(login_post))
        .at("/setup", get(setup_get).post(setup_post))
        .at("/logout", post(logout))
        .at("/tenants", get(tenants_get).post(tenants_post))
        .at("/tenants/:id", get(tenant_show))
        .at(
            "/tenants/:id/members",
            get(members::tenant_members_get).post(members::tenant_members_post),
        )
        .at(
            "/tenants/:id/members/:user_id",
            get(members::tenant_member_get).post(members::tenant_member_post),
        )
        .at(
            "/tenants/:id/edit",
            get(tenant_edit_get).post(tenant_edit_post),
        )
        .at(
            "/tenants/:id/delete",
            get(tenant_delete_get).post(tenant_delete_post),
        )
        .at("/projects", get(projects_get).post(projects_post))
        .at("/projects/:id", get(project_show))
        .at(
            "/projects/:id/members",
            get(members::project_members_get).post(members::project_members_post),
        )
        .at(
            "/projects/:id/members/:user_id",
            get(members::project_member_get).post(members::project_member_post),
        )
        .at("/projects/:id/agents", get(agents::project_agents_get))
        .at("/projects/:id/workspace", get(workspace_get))
        .at("/projects/:id/workspace/diff", get(workspace_diff))
        .at("/projects/:id/workspace/:action", post(workspace_post))
        .at(
            "/projects/:id/edit",
            get(project_edit_get).post(project_edit_post),
        )
        .at(
            "/projects/:id/delete",
            get(project_delete_get).post(project_delete_post),
        )
        .at("/keys", get(keys_get).post(keys_post))
        .at("/keys/:id/revoke", post(key_revoke))
        .at("/users", get(users_get).post(users_post))
        .at("/users/:id", post(user_edit))
        .at("/users/:id/delete", post(user_delete))
        .at("/audit", get(audit::audit_get))
        .at("/agents", get(agents::agents_fragment))
        .at("/agents/history", get(agents::history_get))
        .at("/sessions/:key/terminal", get(terminal::terminal_page))
        .at("/sessions/:key/review", get(review::review_get))
        .at("/sessions/:key/review/form", get(review::review_form))
        .at(
            "/sessions/:key/review/comment",
            post(review::review_comment),
        )
        .at(
            "/sessions/:key/review/approve",
            post(review::review_approve),
        )
        .at(
            "/sessions/:key/review/pull-request",
            post(review::review_pull_request),
        )
        .at("/sessions/:key/:action", post(agents::session_action))
        .at(
            "/ansible",
            get(ansible::ansible_get).post(ansible::ansible_post),
        )
        .at("/ansible/runs/:id", get(ansible::run_get))
        .at("/ansible/runs/:id/cancel", post(ansible::run_cancel))
        .at("/admin/system", get(system::status_get))
        .at(
            "/admin/system/tools/:name/update",
            post(system::tool_update),
        )
        .at("/admin/system/tools/jobs/:id", get(system::tool_job_get))
        .at(
            "/admin/backups",
            get(system::backups_get).post(system::backups_post),
        )
        .at(
            "/admin/backups/restore-upload",
            post(system::backup_upload_confirm),
        )
        .at("/admin/backups/:id/:action", post(system::backup_action))
        .at("/admin/logs", get(system::logs_get))
        .at(
            "/settings/agents",
            get(agents::global_get).post(agents::global_post),
        )
        .at("/projects/:id/agent", post(agents::project_agent))
        .at(
            "/projects/:id/agents-md",
            get(context::agents_md_get).post(context::agents_md_post),
        )
        .at("/admin/identities", get(identities::identities_get))
        .at("/admin/identities/:id", post(identities::identity_post))
        .at("/ssh-keys", get(ssh_keys_get).post(ssh_keys_post))
        .at("/ssh-keys/assign", post(ssh_key_assign))
        .at("/ssh-keys/:id/delete", post(ssh_key_delete))
        .at("/known-hosts/:id/delete", post(known_host_delete))
        .at("/known-hosts/:action", post(known_hosts_post))
        .at("/issues", get(issues_get))
        .at("/issues/sync", post(issues_sync))
        .at("/issues/new", get(issue_new_get).post(issue_new_post))
        .at("/issues/:id", get(issue_show))
        .at("/issues/:id/agents", get(agents::issue_agents_get))
        .at("/issues/:id/:action", post(issue_action))
        .at(
            "/integrations",
            get(integrations_get).post(integrations_post),
        )
        .at("/integrations/:id", get(integration_show))
        .at("/integrations/:id/:action", post(integration_action))
        .at("/integrations/:id/links/:link/:action", post(link_action))
        .at("/account", get(account_get).post(account_post))
        .at(
            "/account/notifications",
            get(notify::notify_get).post(notify::notify_post),
        )
        .at("/account/trackers", get(trackers_account_get))
        .at("/account/trackers/:action", post(trackers_account_post))
        .at(
            "/account/trackers/credentials/:id/delete",
            post(credential_delete),
        )
        .with(audit::WebAudit::new(app.clone()))
        .data(app)
        .around(move |ep, req| shell(shell_app.clone(), ep, req))
        .to_response()
        .with(security_headers())
}
