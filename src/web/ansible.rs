//! Ansible pages: run a playbook (the server's, or a project's), recent runs, and a run's
//! output followed live (server-sent events from `/streams/ansible/runs/{id}`).

use super::layout::{csrf_field, error_box, fmt_time, page};
use super::prelude::*;
use crate::auth::Identity;
use crate::services::App;
use crate::services::ansible::RunRequest;
use maud::{Markup, html};
use poem::http::StatusCode;
use poem::web::{Path, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;

use crate::domain::RunStatus;

#[derive(Deserialize)]
pub struct ProjectQuery {
    project_id: Option<u64>,
}

/// How a run's state looks: its CSS class, icon and word (never the colour alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Badge {
    pub class: &'static str,
    pub icon: &'static str,
    pub word: &'static str,
}

/// The badge of a run state (assets/ansible.js has the same table for live updates).
pub fn run_badge(status: RunStatus) -> Badge {
    let (class, icon) = match status {
        RunStatus::Queued => ("run-queued", "◷"),
        RunStatus::Running => ("run-running", "↻"),
        RunStatus::Succeeded => ("run-succeeded", "✓"),
        RunStatus::Failed => ("run-failed", "✗"),
        RunStatus::Cancelled => ("run-cancelled", "⊘"),
    };
    Badge {
        class,
        icon,
        word: status.as_str(),
    }
}

fn badge(status: RunStatus, id: Option<&str>) -> Markup {
    let b = run_badge(status);
    html! {
        mark.run-badge.(b.class) id=[id] data-status=(status.as_str()) {
            // The icon is drawn from data-icon by CSS: the badge's text is its word.
            span.run-icon aria-hidden="true" data-icon=(b.icon) {} span.run-word { (b.word) }
        }
    }
}

/// A duration as people read it: "0.8 s", "42 s", "3 min 4 s", "1 h 2 min".
pub fn fmt_duration(ms: i64) -> String {
    let ms = ms.max(0);
    let s = ms / 1000;
    match s {
        0..10 => format!("{:.1} s", ms as f64 / 1000.0),
        10..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// How long a run took (or has been running); None before it started.
fn run_ms(r: &crate::domain::AnsibleRun) -> Option<i64> {
    let start = r.started_at?;
    let end = r.finished_at.unwrap_or_else(crate::domain::model::now);
    Some((end - start).num_milliseconds())
}

fn ansible_page(app: &App, who: &Identity, project_id: Option<u64>, error: Option<&str>) -> Markup {
    let playbooks = app.ansible.list_playbooks(who, project_id.map(Into::into));
    let inventories = app
        .ansible
        .list_inventories(who, project_id.map(Into::into))
        .unwrap_or_default();
    let runs = app
        .ansible
        .list_run_views(who, project_id.map(Into::into), 20)
        .unwrap_or_default();
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
            h2 { @if project_id.is_some() { "This project's recent runs" } @else { "Recent runs" } }
            @if runs.is_empty() { p.muted { "No runs yet." } } @else {
                div.overflow-auto {
                    table #run-list.striped.stack {
                        thead { tr { th { "#" } th { "Playbook" } th { "Status" } th { "Exit code" } th { "Duration" } th { "Started by" } th { "When" } } }
                        tbody {
                            @for v in &runs {
                                @let r = &v.run;
                                tr data-run=(r.id) {
                                    td data-label="Run" { a href={ "/ansible/runs/" (r.id) } { "#" (r.id) } }
                                    td.wrap data-label="Playbook" { (r.playbook) @if r.check { " (check)" } " on " code { (r.inventory) } }
                                    td data-label="Status" { (badge(r.status, None)) }
                                    td.run-exit data-label="Exit code" { (r.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "—".into())) }
                                    td.run-duration data-label="Duration" { (run_ms(r).map(fmt_duration).unwrap_or_else(|| "—".into())) }
                                    td.wrap.run-actor data-label="Started by" {
                                        (v.actor.as_deref().unwrap_or("(deleted user)"))
                                        @if r.schedule_id.is_some() { " (scheduled)" }
                                    }
                                    td data-label="When" { (fmt_time(&r.created_at)) }
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
    poem::web::Data(app): AppData<'_>,
    Query(q): Query<ProjectQuery>,
    WebUser(who): WebUser,
) -> Response {
    ansible_page(app, &who, q.project_id, None).into_response()
}

/// The "Run a playbook" form (`check=1`: a dry run).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PlaybookForm {
    project_id: String,
    playbook: String,
    inventory: String,
    hosts: String,
    extra_vars: String,
    check: String,
}

#[handler]
pub fn ansible_post(
    poem::web::Data(app): AppData<'_>,
    CsrfForm(who, f): CsrfForm<PlaybookForm>,
) -> Response {
    let project_id = f.project_id.parse::<u64>().ok();
    let text = |v: &str| Some(v.trim().to_string()).filter(|s| !s.is_empty());
    let res = app.ansible.start_playbook(
        &who,
        RunRequest {
            playbook: f.playbook.clone(),
            project_id: project_id.map(Into::into),
            inventory: text(&f.inventory),
            hosts: text(&f.hosts),
            extra_vars: text(&f.extra_vars)
                .map(serde_json::Value::String)
                .unwrap_or_default(),
            check: f.check == "1",
            limit: None,
            tags: None,
        },
    );
    match res {
        Ok(run) => redirect(&format!("/ansible/runs/{}", run.id)),
        Err(e) => shown_error(
            error_status(&e),
            ansible_page(app, &who, project_id, Some(&e.to_string())),
        ),
    }
}

#[handler]
pub fn run_get(
    poem::web::Data(app): AppData<'_>,
    Path(id): Path<u64>,
    WebUser(who): WebUser,
) -> Response {
    let (r, actor) = match app.ansible.get_run_view(&who, id.into()) {
        Ok(v) => (v.run, v.actor),
        Err(e) => return not_found(&who, &e),
    };
    let live = r.status.is_live();
    let back = match r.project_id {
        Some(p) => format!("/ansible?project_id={p}"),
        None => "/ansible".to_string(),
    };
    page(
        &format!("Run {id}"),
        Some(&who),
        html! {
            h1 { "Run " (id) ": " (r.playbook) }
            p #run-head {
                (badge(r.status, Some("run-status")))
                " on " code { (r.inventory) } @if r.check { " · check mode" }
            }
            p #run-meta.wrap {
                "Started by " strong #run-actor { (actor.as_deref().unwrap_or("(deleted user)")) }
                @if r.schedule_id.is_some() { " (scheduled)" }
                " · exit code " strong #run-exit { (r.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "—".into())) }
                " · duration " strong #run-duration { @if live { "—" } @else { (run_ms(&r).map(fmt_duration).unwrap_or_else(|| "—".into())) } }
            }
            p.muted { code { "ansible-playbook " (r.args.join(" ")) } }
            @if live {
                form #cancel-form method="post" action={ "/ansible/runs/" (id) "/cancel" } {
                    (csrf_field(&who)) button.secondary type="submit" { "Cancel" }
                }
            }
            pre #run-output data-stream=[live.then(|| format!("/streams/ansible/runs/{id}"))] { (r.output) }
            p { a href=(back) { @if r.project_id.is_some() { "The project's runs" } @else { "All runs" } } }
            script src=(super::pwa::asset_url("ansible.js")) {}
        },
    )
    .into_response()
}

#[handler]
pub fn run_cancel(
    poem::web::Data(app): AppData<'_>,
    Path(id): Path<u64>,
    CsrfForm(who, NoFields {}): CsrfForm<NoFields>,
) -> Response {
    match app.ansible.cancel_run(&who, id.into()) {
        Ok(_) => redirect(&format!("/ansible/runs/{id}")),
        Err(e) => shown_error(
            error_status(&e),
            page("Run", Some(&who), error_box(Some(&e.to_string()))),
        ),
    }
}

/// `GET /streams/ansible/runs/{id}`: the run's output as server-sent events — `output` events
/// (lines so far, then each new line), a `state` event (`running`) when it starts, and a final
/// `done` event `{"status","exit_code","duration_ms","duration"}`.
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
    let (run, rx) = match app.ansible.follow_run(&who, id.into()) {
        Ok(x) => x,
        Err(e) => return (e.status(), e.to_string()).into_response(),
    };
    let done = |status: &str, code: Option<i32>, ms: Option<i64>| {
        Event::message(
            serde_json::json!({"status": status, "exit_code": code, "duration_ms": ms,
                               "duration": ms.map(fmt_duration)})
            .to_string(),
        )
        .event_type("done")
    };
    let mut first: Vec<Event> = Vec::new();
    if !run.output.is_empty() {
        first.push(Event::message(run.output.trim_end_matches('\n')).event_type("output"));
    }
    let head = futures_util::stream::iter(first);
    let Some(rx) = rx else {
        let tail = futures_util::stream::iter(vec![done(
            run.status.as_str(),
            run.exit_code,
            run_ms(&run),
        )]);
        return SSE::new(head.chain(tail)).into_response();
    };
    let tail = futures_util::stream::unfold(Some(rx), move |rx| async move {
        let mut rx = rx?;
        loop {
            match rx.recv().await {
                Ok(line) => {
                    if let Some(state) = line.strip_prefix("\u{0}state:") {
                        return Some((Event::message(state).event_type("state"), Some(rx)));
                    }
                    if let Some(rest) = line.strip_prefix("\u{0}done:") {
                        let mut parts = rest.splitn(3, ':');
                        let status = parts.next().unwrap_or("failed").to_string();
                        let code = parts
                            .next()
                            .and_then(|c| c.parse::<i32>().ok())
                            .filter(|c| *c >= 0);
                        let ms = parts
                            .next()
                            .and_then(|c| c.parse::<i64>().ok())
                            .filter(|c| *c >= 0);
                        return Some((done(&status, code, ms), None));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_state_has_its_own_class_icon_and_word() {
        let states = RunStatus::ALL;
        let badges: Vec<Badge> = states.iter().map(|s| run_badge(*s)).collect();
        for (s, b) in states.iter().zip(&badges) {
            assert_eq!(b.class, format!("run-{s}"));
            assert_eq!(b.word, s.as_str());
        }
        let mut icons: Vec<&str> = badges.iter().map(|b| b.icon).collect();
        icons.sort();
        icons.dedup();
        assert_eq!(icons.len(), states.len(), "one icon per state");
        assert_eq!(run_badge(RunStatus::Succeeded).icon, "✓");
        assert_eq!(run_badge(RunStatus::Failed).icon, "✗");
    }

    #[test]
    fn durations_read_like_people_say_them() {
        assert_eq!(fmt_duration(800), "0.8 s");
        assert_eq!(fmt_duration(42_000), "42 s");
        assert_eq!(fmt_duration(184_000), "3 min 4 s");
        assert_eq!(fmt_duration(3_720_000), "1 h 2 min");
        assert_eq!(fmt_duration(-5), "0.0 s");
    }
}
