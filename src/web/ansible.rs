//! Ansible pages: run a playbook (the server's, or a project's), recent runs, and a run's
//! output followed live (server-sent events from `/streams/ansible/runs/{id}`).

use super::layout::{csrf_field, error_box, fmt_time, page};
use super::pages::{AppData, Fields, csrf_failed, error_status, field, html_status, not_found};
use super::session::*;
use crate::auth::Identity;
use crate::services::App;
use crate::services::ansible::RunRequest;
use maud::{Markup, html};
use poem::http::StatusCode;
use poem::web::{Path, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct ProjectQuery {
    project_id: Option<u64>,
}

fn ansible_page(app: &App, who: &Identity, project_id: Option<u64>, error: Option<&str>) -> Markup {
    let playbooks = app.list_playbooks(who, project_id);
    let inventories = app.list_inventories(who, project_id).unwrap_or_default();
    let runs = app.list_runs(who, 20).unwrap_or_default();
    page(
        "Ansible",
        Some(who),
        html! {
            h1 { "Ansible" @if let Some(p) = project_id { " · project " a href={ "/projects/" (p) } { (p) } } }
            (error_box(error))
            @match &playbooks {
                Err(e) => p.muted { (e.to_string()) },
                Ok(list) if list.is_empty() => p.muted { "No playbooks here yet." },
                Ok(list) => {
                    form #run-form method="post" action="/ansible" {
                        (csrf_field(who))
                        @if let Some(p) = project_id { input type="hidden" name="project_id" value=(p); }
                        label { "Playbook"
                            select name="playbook" {
                                @for pb in list { option value=(pb.name) { (pb.name) } }
                            }
                        }
                        div.grid {
                            label { "Inventory"
                                select name="inventory" {
                                    option value="" { "— hosts below —" }
                                    @for i in &inventories { option value=(i) { (i) } }
                                }
                            }
                            label { "or hosts" input type="text" name="hosts" placeholder="localhost, web1"; }
                        }
                        label { "Extra vars (key=value … or JSON)" input type="text" name="extra_vars"; }
                        label { input type="checkbox" name="check" value="1"; " Check mode (change nothing)" }
                        button type="submit" { "Run" }
                    }
                }
            }
            h2 { "Recent runs" }
            @if runs.is_empty() { p.muted { "No runs yet." } } @else {
                div.overflow-auto {
                    table #run-list.striped {
                        thead { tr { th { "#" } th { "Playbook" } th { "Inventory" } th { "Status" } th { "When" } } }
                        tbody {
                            @for r in &runs {
                                tr {
                                    td { a href={ "/ansible/runs/" (r.id) } { (r.id) } }
                                    td { (r.playbook) @if r.check { " (check)" } }
                                    td { (r.inventory) }
                                    td { mark.{ "run-" (r.status) } { (r.status) } }
                                    td { (fmt_time(&r.created_at)) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

#[handler]
pub fn ansible_get(
    req: &Request,
    poem::web::Data(app): AppData<'_>,
    Query(q): Query<ProjectQuery>,
) -> Response {
    let who = who_or_login!(app, req);
    ansible_page(app, &who, q.project_id, None).into_response()
}

#[handler]
pub fn ansible_post(
    req: &Request,
    poem::web::Data(app): AppData<'_>,
    poem::web::Form(f): Fields,
) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    let project_id = field(&f, "project_id").parse::<u64>().ok();
    let text = |k: &str| Some(field(&f, k).trim().to_string()).filter(|s| !s.is_empty());
    let res = app.start_playbook(
        &who,
        RunRequest {
            playbook: field(&f, "playbook").to_string(),
            project_id,
            inventory: text("inventory"),
            hosts: text("hosts"),
            extra_vars: text("extra_vars")
                .map(serde_json::Value::String)
                .unwrap_or_default(),
            check: field(&f, "check") == "1",
            limit: None,
            tags: None,
        },
    );
    match res {
        Ok(run) => redirect(&format!("/ansible/runs/{}", run.id)),
        Err(e) => html_status(
            error_status(&e),
            ansible_page(app, &who, project_id, Some(&e.to_string())),
        ),
    }
}

#[handler]
pub fn run_get(req: &Request, poem::web::Data(app): AppData<'_>, Path(id): Path<u64>) -> Response {
    let who = who_or_login!(app, req);
    let r = match app.get_run(&who, id) {
        Ok(r) => r,
        Err(e) => return not_found(&who, &e),
    };
    let live = matches!(r.status.as_str(), "queued" | "running");
    page(
        &format!("Run {id}"),
        Some(&who),
        html! {
            h1 { "Run " (id) ": " (r.playbook) }
            p {
                "on " code { (r.inventory) } @if r.check { " · check mode" }
                " · " mark #run-status.{ "run-" (r.status) } { (r.status) }
                @if let Some(c) = r.exit_code { " · exit " span #run-exit { (c) } }
            }
            p.muted { code { "ansible-playbook " (r.args.join(" ")) } }
            @if live {
                form #cancel-form method="post" action={ "/ansible/runs/" (id) "/cancel" } {
                    (csrf_field(&who)) button.secondary type="submit" { "Cancel" }
                }
            }
            pre #run-output data-stream=[live.then(|| format!("/streams/ansible/runs/{id}"))] { (r.output) }
            p { a href="/ansible" { "All runs" } }
            script src=(super::pwa::asset_url("ansible.js")) {}
        },
    )
    .into_response()
}

#[handler]
pub fn run_cancel(
    req: &Request,
    poem::web::Data(app): AppData<'_>,
    Path(id): Path<u64>,
    poem::web::Form(f): Fields,
) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    match app.cancel_run(&who, id) {
        Ok(_) => redirect(&format!("/ansible/runs/{id}")),
        Err(e) => html_status(
            error_status(&e),
            page("Run", Some(&who), error_box(Some(&e.to_string()))),
        ),
    }
}

/// `GET /streams/ansible/runs/{id}`: the run's output as server-sent events — `output` events
/// (lines so far, then each new line) and a final `done` event `{"status","exit_code"}`.
#[handler]
pub async fn ansible_events(
    req: &Request,
    poem::web::Data(app): AppData<'_>,
    Path(id): Path<u64>,
) -> Response {
    use futures_util::StreamExt;
    use poem::web::sse::{Event, SSE};
    let Some(who) = caller(app, req) else {
        return (
            StatusCode::UNAUTHORIZED,
            "Log in (or send an API key) to follow runs",
        )
            .into_response();
    };
    let (run, rx) = match app.follow_run(&who, id) {
        Ok(x) => x,
        Err(e) => return (e.status(), e.to_string()).into_response(),
    };
    let done = |status: &str, code: Option<i32>| {
        Event::message(serde_json::json!({"status": status, "exit_code": code}).to_string())
            .event_type("done")
    };
    let mut first: Vec<Event> = Vec::new();
    if !run.output.is_empty() {
        first.push(Event::message(run.output.trim_end_matches('\n')).event_type("output"));
    }
    let head = futures_util::stream::iter(first);
    let Some(rx) = rx else {
        let tail = futures_util::stream::iter(vec![done(&run.status, run.exit_code)]);
        return SSE::new(head.chain(tail)).into_response();
    };
    let tail = futures_util::stream::unfold(Some(rx), move |rx| async move {
        let mut rx = rx?;
        loop {
            match rx.recv().await {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("\u{0}done:") {
                        let mut parts = rest.splitn(2, ':');
                        let status = parts.next().unwrap_or("failed").to_string();
                        let code = parts
                            .next()
                            .and_then(|c| c.parse::<i32>().ok())
                            .filter(|c| *c >= 0);
                        return Some((done(&status, code), None));
                    }
                    return Some((Event::message(line).event_type("output"), Some(rx)));
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return None,
            }
        }
    });
    SSE::new(head.chain(tail))
        .keep_alive(std::time::Duration::from_secs(15))
        .into_response()
}
