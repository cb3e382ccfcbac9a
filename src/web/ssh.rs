//! SSH keys and known hosts (admins): generate or upload keys, see the public half to paste
//! into GitHub/GitLab, assign keys to projects, trust or forget host keys.

use super::layout::{csrf_field, error_box, fmt_time, notice_box, page};
use super::prelude::*;
use crate::auth::Identity;
use crate::services::App;
use crate::services::ssh::SshKeyInput;
use maud::{Markup, html};
use poem::web::{Data, Path};
use poem::{IntoResponse, Response, handler};
use serde::Deserialize;

use crate::domain::ssh::HostKeyState;

/// The page's forms (add a key, assign a key, trust on first use, scan a host): every field
/// as sent, blank when missing; on an error the page shows the add and scan fields again.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct SshForm {
    name: String,
    tenant_id: String,
    private_key_content: String,
    public_key_content: String,
    project_id: String,
    ssh_key_id: String,
    state: String,
    host: String,
    port: String,
    pin: String,
}

fn ssh_page(
    app: &App,
    who: &Identity,
    f: &SshForm,
    error: Option<&str>,
    notice: Option<&str>,
    created: Option<(&str, &str)>,
    scan: Option<Result<&str, &str>>,
) -> Result<Markup, crate::error::AppError> {
    // The services decide who may see the keys (administrators).
    let keys = app.git.list_ssh_keys(who, None)?;
    let hosts = app.git.list_known_hosts(who)?;
    let tofu = app.git.trust_on_first_use().unwrap_or(true);
    let tenants = app.tenancy.list_tenants(who).unwrap_or_default();
    let projects = app.tenancy.list_projects(who, None).unwrap_or_default();
    Ok(html! {
        section #ssh-section {
            h1 { "SSH keys" }
            p.muted { "Keys git uses to reach your repositories over SSH. Private halves are stored encrypted and never shown again; add the public key to GitHub/GitLab as a deploy key." }
            (notice_box(notice))
            (error_box(error))
            @if let Some((fp, public)) = created {
                article #ssh-created {
                    p { "Key stored. Fingerprint " code { (fp) } ". Public key:" }
                    pre { code #ssh-created-public { (public) } }
                }
            }
            div.overflow-auto {
                table #ssh-key-list.striped {
                    thead { tr { th { "Name" } th { "Fingerprint" } th { "Tenant" } th { "Projects" } th { "Public key" } th {} } }
                    tbody {
                        @for v in &keys {
                            tr {
                                td { (v.key.name) }
                                td { code { (v.key.fingerprint) } }
                                td { (v.tenant_name.as_deref().unwrap_or("all tenants")) }
                                td { @for (i, (_, name)) in v.projects.iter().enumerate() { @if i > 0 { ", " } (name) } }
                                td { details { summary { "show" } pre { code { (v.key.public_key) } } } }
                                td {
                                    form.inline method="post" action={ "/ssh-keys/" (v.key.id) "/delete" } hx-post={ "/ssh-keys/" (v.key.id) "/delete" } hx-target="#ssh-section" hx-select="#ssh-section" hx-swap="outerHTML" hx-confirm="Delete this key? Projects using it fall back to their tenant's keys." {
                                        (csrf_field(who)) button.secondary.outline type="submit" { "Delete" }
                                    }
                                }
                            }
                        }
                        @if keys.is_empty() { tr { td colspan="6" { "No SSH keys yet." } } }
                    }
                }
            }
            details open[error.is_some() || keys.is_empty()] {
                summary role="button" class="outline" { "Generate or upload a key" }
                form #ssh-key-form method="post" action="/ssh-keys" hx-post="/ssh-keys" hx-target="#ssh-section" hx-select="#ssh-section" hx-swap="outerHTML" {
                    (csrf_field(who))
                    div.grid {
                        label { "Name" input type="text" name="name" value=(f.name) required maxlength="255"; }
                        label { "Tenant" select name="tenant_id" {
                            option value="" { "All tenants" }
                            @for t in &tenants { option value=(t.tenant.id) selected[f.tenant_id == t.tenant.id.to_string()] { (t.tenant.name) } }
                        } }
                    }
                    label { "Private key (leave empty to generate a new ed25519 key)" textarea name="private_key_content" rows="4" autocomplete="off" placeholder="Paste an OpenSSH or PEM private key (no passphrase)" {} }
                    label { "Public key (optional)" input type="text" name="public_key_content" value=(f.public_key_content); }
                    button #ssh-key-submit type="submit" { "Save key" }
                }
            }
            h2 { "Project keys" }
            p.muted { "A project uses its own key when one is set, else its tenant's oldest key, else a key for all tenants." }
            form #ssh-assign-form method="post" action="/ssh-keys/assign" hx-post="/ssh-keys/assign" hx-target="#ssh-section" hx-select="#ssh-section" hx-swap="outerHTML" {
                (csrf_field(who))
                div.grid {
                    label { "Project" select name="project_id" required {
                        @for p in &projects {
                            option value=(p.project.id) { (p.project.name) " (" (p.tenant_name) ")" @if let Some(k) = p.project.ssh_key_id { " — key " (k) } }
                        }
                    } }
                    label { "Key" select name="ssh_key_id" {
                        option value="" { "Tenant default" }
                        @for v in &keys { option value=(v.key.id) { (v.key.name) " " (v.key.fingerprint) } }
                    } }
                }
                button.secondary type="submit" { "Assign" }
            }
            h2 { "Known hosts" }
            p {
                "Trust on first use is " strong #tofu-state { @if tofu { "on" } @else { "off" } } ". "
                @if tofu { "An unknown server's key is recorded at the first connection; a changed key is always refused." }
                @else { "Unknown servers are refused until their key is pinned here." }
            }
            form.inline method="post" action="/known-hosts/tofu" hx-post="/known-hosts/tofu" hx-target="#ssh-section" hx-select="#ssh-section" hx-swap="outerHTML" {
                (csrf_field(who))
                input type="hidden" name="state" value=(if tofu { "off" } else { "on" });
                button.secondary.outline type="submit" { @if tofu { "Require pinning" } @else { "Allow trust on first use" } }
            }
            div.overflow-auto {
                table #known-host-list.striped {
                    thead { tr { th { "Host" } th { "Fingerprint" } th { "How" } th { "Since" } th {} } }
                    tbody {
                        @for h in &hosts {
                            tr {
                                td { code { (crate::domain::ssh::host_label(&h.host, h.port)) } }
                                td { code { (h.fingerprint) } }
                                td { (h.source) }
                                td { (fmt_time(&h.created_at)) }
                                td {
                                    form.inline method="post" action={ "/known-hosts/" (h.id) "/delete" } hx-post={ "/known-hosts/" (h.id) "/delete" } hx-target="#ssh-section" hx-select="#ssh-section" hx-swap="outerHTML" hx-confirm="Forget this host key?" {
                                        (csrf_field(who)) button.secondary.outline type="submit" { "Forget" }
                                    }
                                }
                            }
                        }
                        @if hosts.is_empty() { tr { td colspan="5" { "No known hosts yet." } } }
                    }
                }
            }
            form #known-host-form method="post" action="/known-hosts/scan" hx-post="/known-hosts/scan" hx-target="#ssh-section" hx-select="#ssh-section" hx-swap="outerHTML" hx-disabled-elt="find button" {
                (csrf_field(who))
                div.grid {
                    label { "Host" input type="text" name="host" value=(f.host) required placeholder="github.com"; }
                    label { "Port" input type="number" name="port" value=(if f.port.is_empty() { "22" } else { f.port.as_str() }) min="1" max="65535"; }
                }
                label { input type="checkbox" name="pin" value="1"; " Trust the key now (check the fingerprint first)" }
                button.secondary type="submit" { "Check host key" } span.htmx-indicator { " Connecting…" }
                // The result sits by the button that asked for it (and is scrolled to).
                @match scan {
                    Some(Ok(m)) => p #scan-result.scan-result.notice role="status" data-scroll { (m) },
                    Some(Err(m)) => p #scan-result.scan-result.error role="alert" data-scroll { (m) },
                    None => {},
                }
            }
        }
    })
}

/// A notice, and the fingerprint and public key of a key just stored.
type Outcome = Result<(Option<String>, Option<(String, String)>), crate::error::AppError>;

fn full(who: &Identity, body: Markup) -> Markup {
    page("SSH keys", Some(who), body)
}

fn respond(app: &App, who: &Identity, f: &SshForm, res: Outcome) -> Response {
    let shown = match &res {
        Ok((notice, created)) => ssh_page(
            app,
            who,
            &SshForm::default(),
            None,
            notice.as_deref(),
            created.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
            None,
        ),
        Err(e) => ssh_page(app, who, f, Some(&e.to_string()), None, None, None),
    };
    match (shown, res) {
        // Not an administrator: the reason, not an empty page.
        (Err(e), _) => not_found(who, &e),
        (Ok(m), Ok(_)) => full(who, m).into_response(),
        (Ok(m), Err(e)) => shown_error(error_status(&e), full(who, m)),
    }
}

#[handler]
pub fn ssh_keys_get(Data(app): AppData<'_>, WebUser(who): WebUser) -> Response {
    match ssh_page(app, &who, &SshForm::default(), None, None, None, None) {
        Ok(m) => full(&who, m).into_response(),
        Err(e) => not_found(&who, &e),
    }
}

/// A field trimmed, `None` when blank.
fn opt(v: &str) -> Option<String> {
    Some(v.trim().to_string()).filter(|s| !s.is_empty())
}

#[handler]
pub fn ssh_keys_post(Data(app): AppData<'_>, CsrfForm(who, f): CsrfForm<SshForm>) -> Response {
    let input = SshKeyInput {
        name: opt(&f.name).unwrap_or_default(),
        tenant_id: opt(&f.tenant_id).and_then(|t| t.parse().ok()),
        private_key: opt(&f.private_key_content),
        public_key: opt(&f.public_key_content),
    };
    let res = crate::store::run_blocking(|| app.git.add_ssh_key(&who, input)).map(|v| {
        (
            None,
            Some((v.key.fingerprint.clone(), v.key.public_key.clone())),
        )
    });
    respond(app, &who, &f, res)
}

#[handler]
pub fn ssh_key_delete(
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    CsrfForm(who, NoFields {}): CsrfForm<NoFields>,
) -> Response {
    let res = crate::store::run_blocking(|| app.git.delete_ssh_key(&who, id.into()))
        .map(|_| (Some(format!("SSH key {id} deleted.")), None));
    respond(app, &who, &SshForm::default(), res)
}

#[handler]
pub fn ssh_key_assign(Data(app): AppData<'_>, CsrfForm(who, f): CsrfForm<SshForm>) -> Response {
    let project = opt(&f.project_id).and_then(|p| p.parse::<u64>().ok());
    let key = opt(&f.ssh_key_id).and_then(|k| k.parse::<u64>().ok());
    let res = match project {
        None => Err(crate::error::AppError::BadRequest(
            "Choose a project".into(),
        )),
        Some(p) => crate::store::run_blocking(|| {
            app.git
                .set_project_ssh_key(&who, p.into(), key.map(Into::into))
        })
        .map(|_| {
            (
                Some(match key {
                    Some(k) => format!("Project {p} now uses SSH key {k}."),
                    None => format!("Project {p} now uses its tenant's SSH keys."),
                }),
                None,
            )
        }),
    };
    respond(app, &who, &f, res)
}

#[handler]
pub async fn known_hosts_post(
    Data(app): AppData<'_>,
    Path(action): Path<String>,
    CsrfForm(who, f): CsrfForm<SshForm>,
) -> Response {
    let res = match action.as_str() {
        "tofu" => {
            let on = f.state == "on";
            app.git.set_trust_on_first_use(&who, on).map(|_| {
                (
                    Some(format!(
                        "Trust on first use is {}.",
                        if on { "on" } else { "off" }
                    )),
                    None,
                )
            })
        }
        "scan" => {
            let host = f.host.clone();
            let port = f.port.parse::<u16>().unwrap_or(22);
            let res = app
                .git.scan_host(&who, &host, port, !f.pin.is_empty())
                .await
                .map(|(_, fp, state)| {
                    let advice = match state {
                        HostKeyState::Unknown => " Not trusted yet: compare the fingerprint with the host's owner, then tick \"Trust the key now\".",
                        HostKeyState::Changed => " THE HOST KEY CHANGED: connections are refused until the old entry is forgotten.",
                        HostKeyState::Trusted => "",
                    };
                    format!("{host}:{port} offers {fp}: {state}.{advice}")
                });
            return scan_response(app, &who, &f, res);
        }
        _ => Err(crate::error::AppError::NotFound("Unknown action".into())),
    };
    respond(app, &who, &f, res)
}

/// The scan's answer next to its form, with the real status (400 bad input, 502 unreachable)
/// for a failure, swapped in all the same (see `shown_error`).
fn scan_response(
    app: &App,
    who: &Identity,
    f: &SshForm,
    res: Result<String, crate::error::AppError>,
) -> Response {
    let (kept, scan) = match &res {
        Ok(m) => (SshForm::default(), Ok(m.clone())),
        Err(e) => (f.clone(), Err(e.to_string())),
    };
    let scan = scan.as_ref().map(String::as_str).map_err(String::as_str);
    match (ssh_page(app, who, &kept, None, None, None, Some(scan)), res) {
        (Err(e), _) => not_found(who, &e),
        (Ok(m), Ok(_)) => full(who, m).into_response(),
        (Ok(m), Err(e)) => shown_error(e.status(), full(who, m)),
    }
}

#[handler]
pub fn known_host_delete(
    Data(app): AppData<'_>,
    Path(id): Path<u64>,
    CsrfForm(who, NoFields {}): CsrfForm<NoFields>,
) -> Response {
    let res = crate::store::run_blocking(|| app.git.delete_known_host(&who, id.into()))
        .map(|_| (Some(format!("Known host {id} forgotten.")), None));
    respond(app, &who, &SshForm::default(), res)
}
