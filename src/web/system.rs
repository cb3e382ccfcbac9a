//! Admin pages: system status (with scheduled jobs), backups, and the log viewer.

use super::layout::{csrf_field, error_box, fmt_time, notice_box, page};
use super::pages::{AppData, Fields, csrf_failed, error_status, field, html_status, not_found};
use super::session::*;
use crate::auth::Identity;
use crate::services::App;
use crate::services::backup::BackupSchedule;
use maud::{Markup, html};
use poem::web::{Path, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;

fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.2} MB", bytes as f64 / 1048576.0)
    } else {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    }
}

#[handler]
pub async fn status_get(req: &Request, poem::web::Data(app): AppData<'_>) -> Response {
    let who = who_or_login!(app, req);
    let s = match app.system_status(&who).await {
        Ok(s) => s,
        Err(e) => return not_found(&who, &e),
    };
    let jobs = app.scheduled_jobs(&who).unwrap_or_default();
    page(
        "System",
        Some(&who),
        html! {
            h1 { "System" }
            p {
                "aiops " (env!("CARGO_PKG_VERSION")) " · up " (s.uptime_seconds / 60) " min · data "
                code { (s.data_dir.display()) } " (" (size(s.data_dir_bytes)) ")"
            }
            @if let Some(why) = app.sandbox_broken.get().filter(|_| app.sandbox_on()) {
                p #sandbox-broken.error role="alert" {
                    strong { "The agent sandbox cannot be built, so agents, git and project playbooks are disabled. " }
                    (why)
                }
            }
            @if !app.sandbox_on() {
                p #sandbox-off.error role="alert" {
                    strong { "The agent sandbox is off. " }
                    "Agents, shells and project playbooks run with this server's own powers: any of them can read the data directory, the master key and other users' sessions. Set "
                    code { "sandbox = \"on\"" } " (or " code { "AIOPS_SANDBOX=on" } ") and restart."
                }
            }
            p { mark #overall.{ @if s.healthy { "ok" } @else { "bad" } } { @if s.healthy { "All parts healthy" } @else { "Something needs attention" } } }
            div.grid-cards #components {
                @for (name, c) in &s.components {
                    article.component.{ @if c.healthy { "healthy" } @else { "unhealthy" } } {
                        header { strong { (name) } " " @if c.healthy { "✓" } @else { "✗" } }
                        p { (c.message) }
                    }
                }
            }
            h2 { "Scheduled jobs" }
            @if jobs.is_empty() {
                p.muted { "Nothing is scheduled." }
            } @else {
                div.overflow-auto {
                    table #jobs.striped {
                        thead { tr { th { "Job" } th { "Cron" } th { "Next run" } th { "Last run" } th { "Last result" } } }
                        tbody {
                            @for j in &jobs {
                                tr {
                                    td { (j.key) @if j.running { " (running)" } }
                                    td { code { (j.cron) } }
                                    td { (j.next_run.as_ref().map(fmt_time).unwrap_or_default()) }
                                    td { (j.last_run.as_ref().map(fmt_time).unwrap_or_default()) }
                                    td.wrap { (j.last_result.as_deref().unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
            }
            p { a href="/admin/backups" { "Backups" } " · " a href="/admin/logs" { "Logs" } }
        },
    )
    .into_response()
}

fn backups_page(
    app: &App,
    who: &Identity,
    error: Option<&str>,
    notice: Option<&str>,
) -> Result<Markup, crate::error::AppError> {
    // The services decide who may see the backups (administrators).
    let list = app.list_backups(who)?;
    let sched = app.backup_schedule(who)?;
    Ok(page(
        "Backups",
        Some(who),
        html! {
            h1 { "Backups" }
            (error_box(error))
            (notice_box(notice))
            form #backup-create method="post" action="/admin/backups" {
                (csrf_field(who))
                input type="hidden" name="action" value="create";
                fieldset role="group" {
                    input type="text" name="description" placeholder="Description (optional)" aria-label="Description";
                    button type="submit" { "Back up now" }
                }
            }
            div.overflow-auto {
                table #backup-list.striped {
                    thead { tr { th { "#" } th { "When" } th { "Kind" } th { "Size" } th { "Description" } th {} } }
                    tbody {
                        @for v in &list {
                            @let b = &v.backup;
                            tr {
                                td { (b.id) }
                                td { (fmt_time(&b.created_at)) }
                                td { (b.kind.as_deref().unwrap_or("manual")) }
                                td { (size(b.size_bytes)) }
                                td.wrap { (b.description.as_deref().unwrap_or("")) }
                                td.actions {
                                    a href={ "/api/v1/system/backups/" (b.id) "/download" } download { "Download" }
                                    " "
                                    form.inline method="post" action={ "/admin/backups/" (b.id) "/restore" }
                                        onsubmit="return confirm('Replace ALL current data with this backup? A safety backup is taken first.')" {
                                        (csrf_field(who)) button.small.outline type="submit" { "Restore" }
                                    }
                                    " "
                                    form.inline method="post" action={ "/admin/backups/" (b.id) "/delete" }
                                        onsubmit="return confirm('Delete this backup file?')" {
                                        (csrf_field(who)) button.small.outline.secondary type="submit" { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if list.is_empty() { p.muted { "No backups yet." } }
            h2 { "Schedule" }
            form #backup-schedule method="post" action="/admin/backups" {
                (csrf_field(who))
                input type="hidden" name="action" value="schedule";
                label { "Cron (5 fields, or 6 with seconds; empty: off)"
                    input type="text" name="cron" value=(sched.cron.clone().unwrap_or_default()) placeholder="0 3 * * *";
                }
                div.grid {
                    label { "Keep the newest" input type="number" min="1" name="keep_last" value=(sched.keep_last.map(|n| n.to_string()).unwrap_or_default()); }
                    label { "Remove after (days)" input type="number" min="0" name="keep_days" value=(sched.keep_days.map(|n| n.to_string()).unwrap_or_default()); }
                }
                button type="submit" { "Save schedule" }
            }
        },
    ))
}

#[handler]
pub fn backups_get(req: &Request, poem::web::Data(app): AppData<'_>) -> Response {
    let who = who_or_login!(app, req);
    match backups_page(app, &who, None, None) {
        Ok(m) => m.into_response(),
        Err(e) => not_found(&who, &e),
    }
}

fn outcome(app: &App, who: &Identity, res: Result<String, crate::error::AppError>) -> Response {
    let shown = match &res {
        Ok(m) => backups_page(app, who, None, Some(m)),
        Err(e) => backups_page(app, who, Some(&e.to_string()), None),
    };
    match (shown, res) {
        (Err(e), _) => not_found(who, &e),
        (Ok(m), Ok(_)) => m.into_response(),
        (Ok(m), Err(e)) => html_status(error_status(&e), m),
    }
}

#[handler]
pub async fn backups_post(
    req: &Request,
    poem::web::Data(app): AppData<'_>,
    poem::web::Form(f): Fields,
) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    let res = match field(&f, "action") {
        "schedule" => {
            let num = |k: &str| field(&f, k).trim().parse::<u64>().ok();
            app.set_backup_schedule(
                &who,
                BackupSchedule {
                    cron: Some(field(&f, "cron").trim().to_string()).filter(|c| !c.is_empty()),
                    keep_last: num("keep_last").map(|n| n as usize),
                    keep_days: num("keep_days").map(|n| n as u32),
                },
            )
            .map(|s| match s.cron {
                Some(c) => format!("Scheduled backups: {c}."),
                None => "Scheduled backups are off.".to_string(),
            })
        }
        _ => {
            let d = field(&f, "description").trim().to_string();
            app.create_backup(&who, Some(&d).filter(|d| !d.is_empty()).map(|d| d.as_str()))
                .await
                .map(|b| format!("Backup #{} created ({}).", b.id, size(b.size_bytes)))
        }
    };
    outcome(app, &who, res)
}

#[handler]
pub async fn backup_action(
    req: &Request,
    poem::web::Data(app): AppData<'_>,
    Path((id, action)): Path<(u64, String)>,
    poem::web::Form(f): Fields,
) -> Response {
    let who = who_or_login!(app, req);
    check_csrf!(who, req, f);
    let res = match action.as_str() {
        "restore" => app.restore_backup(&who, id).await.map(|r| {
            format!(
                "Restored backup #{}. The data from just before is in safety backup #{}.",
                r.backup.id, r.safety_backup.id
            )
        }),
        "delete" => app
            .delete_backup(&who, id)
            .map(|_| format!("Backup #{id} deleted.")),
        _ => Err(crate::error::AppError::NotFound("No such action".into())),
    };
    outcome(app, &who, res)
}

#[derive(Deserialize)]
pub struct LogQuery {
    lines: Option<usize>,
    filter: Option<String>,
    level: Option<String>,
}

#[handler]
pub fn logs_get(
    req: &Request,
    poem::web::Data(app): AppData<'_>,
    Query(q): Query<LogQuery>,
) -> Response {
    let who = who_or_login!(app, req);
    let lines = q.lines.unwrap_or(200).clamp(10, 2000);
    let level = q.level.clone().filter(|l| !l.is_empty());
    let filter = q.filter.clone().filter(|l| !l.is_empty());
    let tail = app.recent_logs(&who, lines, filter.as_deref(), level.as_deref());
    // The service decides who may read the log (administrators).
    if let Err(e @ crate::error::AppError::Forbidden(_)) = &tail {
        return not_found(&who, e);
    }
    page(
        "Logs",
        Some(&who),
        html! {
            h1 { "Logs" }
            form method="get" action="/admin/logs" {
                div.grid {
                    select name="level" aria-label="Minimum level" {
                        @for l in ["", "error", "warn", "info", "debug"] {
                            option value=(l) selected[level.as_deref().unwrap_or("") == l] { @if l.is_empty() { "Any level" } @else { (l) } }
                        }
                    }
                    input type="text" name="filter" value=(filter.clone().unwrap_or_default()) placeholder="Text to look for";
                    input type="number" name="lines" value=(lines) min="10" max="2000";
                    button type="submit" { "Show" }
                }
            }
            @match &tail {
                Err(e) => (error_box(Some(&e.to_string()))),
                Ok(t) => {
                    p.muted { code { (t.path.display()) } @if t.truncated { " (older lines left out)" } }
                    div.overflow-auto {
                        table #log-lines.striped {
                            thead { tr { th { "Time" } th { "Level" } th { "Message" } th { "Fields" } } }
                            tbody {
                                @for l in &t.lines {
                                    @let j: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
                                    tr.{ "log-" (j["level"].as_str().unwrap_or("").to_lowercase()) } {
                                        td { (j["timestamp"].as_str().unwrap_or("")) }
                                        td { (j["level"].as_str().unwrap_or("")) }
                                        td.wrap { (j["fields"]["message"].as_str().unwrap_or(l)) }
                                        td.wrap { code { @if let Some(o) = j["fields"].as_object() {
                                            @for (k, v) in o { @if k != "message" { (k) "=" (v) " " } }
                                        } } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}
