//! Agents on the web: starting them from the issue and project pages, the dashboard's agents
//! panel (one card per agent, live over SSE, with Stop / Restart / Close), the controls'
//! handler, the session history (with "Start again"), and the global agent instructions page.

use super::layout::{csrf_field, error_box, fmt_time, notice_box, page};
use super::prelude::*;
use crate::auth::Identity;
use crate::domain::Scope;
use crate::domain::agent_state::AgentState;
use crate::error::AppError;
use crate::services::App;
use crate::services::sessions::{Control, LiveSession, StartRequest};
use maud::{Markup, html};
use poem::web::{Path, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;

/// The "Start agent" form: the tool (blank: the default one) and an optional prompt.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StartForm {
    pub tool: String,
    pub prompt: String,
}

/// The global agent instructions form: `action=clear` clears them, else `content` is saved.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct GlobalForm {
    action: String,
    content: String,
}

/// A session control's form: where it was sent from (`from`: "terminal", "history",
/// "project:ID", "issue:ID", else the dashboard) and, on the dashboard, `agents=all`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ControlForm {
    from: String,
    agents: String,
}

/// The "Start agent" form (a tool picker and an optional prompt). A plain form post: the
/// answer is a redirect to the new session's terminal.
pub fn start_form(app: &App, who: &Identity, action: &str, for_issue: bool) -> Markup {
    if !who.has(Scope::Write) {
        return html! {};
    }
    let all = app.sessions.agent_tools();
    let tools: Vec<&String> = all.iter().filter(|(_, ok)| *ok).map(|(t, _)| t).collect();
    let missing: Vec<&str> = all
        .iter()
        .filter(|(_, ok)| !*ok)
        .map(|(t, _)| t.as_str())
        .collect();
    if tools.is_empty() {
        return html! {
            p.notice.agent-start #no-agent-tools role="status" {
                "No agent tool is installed on this server (" (missing.join(", ")) "). "
                @if who.user.is_admin { a href="/admin/system" { "Install one from System" } "." }
                @else { "Ask an administrator to install one." }
            }
        };
    }
    // `tools` is not empty here (the empty case returned above).
    let default = if tools.iter().any(|t| t.as_str() == "claude") {
        "claude"
    } else {
        tools.first().map_or("claude", |t| t.as_str())
    };
    html! {
        form.agent-start method="post" action=(action) {
            (csrf_field(who))
            fieldset role="group" {
                select name="tool" aria-label="Agent tool" {
                    @for t in &tools {
                        option value=(t) selected[t.as_str() == default] { (t) }
                    }
                }
                button.small type="submit" { @if for_issue { "Work on it with an agent" } @else { "Start agent" } }
            }
            @if !missing.is_empty() {
                small.muted.not-installed { "Not installed here: " (missing.join(", ")) }
            }
            details {
                summary { "Prompt (optional)" }
                textarea name="prompt" rows="3" placeholder=(if for_issue { "Default: work on the issue, reading AGENTS.override.md first" } else { "Typed into the agent once it starts" }) {}
            }
        }
    }
}

async fn start(
    app: &App,
    who: &Identity,
    project_id: u64,
    issue_id: Option<u64>,
    f: &StartForm,
) -> Result<u64, AppError> {
    let prompt = Some(f.prompt.trim().to_string())
        .filter(|p| !p.is_empty())
        .or_else(|| issue_id.map(|i| format!("Work on issue {i}. Read AGENTS.override.md first.")));
    let s = app
        .sessions
        .start_session(
            who,
            project_id.into(),
            StartRequest {
                tool: Some(f.tool.clone()).filter(|t| !t.is_empty()),
                prompt,
                issue_id: issue_id.map(Into::into),
                ..Default::default()
            },
        )
        .await?;
    Ok(s.session.id.get())
}

fn failed(who: &Identity, title: &str, back: &str, e: &AppError) -> Response {
    shown_error(
        error_status(e),
        page(
            title,
            Some(who),
            html! {
                h1 { (title) }
                (error_box(Some(&e.to_string())))
                p { a href=(back) { "Back" } }
            },
        ),
    )
}

/// `POST /issues/{id}/agent`: start (or reuse) an agent on the issue, then open its terminal.
pub async fn issue_agent(app: &App, who: &Identity, id: u64, f: &StartForm) -> Response {
    let issue = match app.trackers.get_issue(who, id.into()) {
        Ok(v) => v,
        Err(e) => return not_found(who, &e),
    };
    match start(app, who, issue.issue.project_id.get(), Some(id), f).await {
        Ok(sid) => redirect(&format!("/sessions/{sid}/terminal")),
        Err(e) => failed(who, "Agent not started", &format!("/issues/{id}"), &e),
    }
}

#[handler]
pub async fn project_agent(
    poem::web::Data(app): AppData<'_>,
    Path(id): Path<u64>,
    CsrfForm(who, f): CsrfForm<StartForm>,
) -> Response {
    match start(app, &who, id, None, &f).await {
        Ok(sid) => redirect(&format!("/sessions/{sid}/terminal")),
        Err(e) => failed(&who, "Agent not started", &format!("/projects/{id}"), &e),
    }
}

fn global_page(app: &App, who: &Identity, error: Option<&str>, notice: Option<&str>) -> Markup {
    let current = app.sessions.global_context(who).ok().flatten();
    let admin = who.user.is_admin;
    page(
        "Agent instructions",
        Some(who),
        html! {
            h1 { "Agent instructions" }
            p.muted {
                "Every agent's AGENTS.override.md starts with these instructions. "
                "When none are set, the repository's own AGENTS.md is used."
            }
            (error_box(error))
            (notice_box(notice))
            @if let Some((g, by)) = &current {
                p.muted {
                    "Updated " (fmt_time(&g.updated_at))
                    @if let Some(u) = by { " by " (u.name) }
                }
            } @else {
                p #no-global { em { "No global instructions set: agents get the repository's AGENTS.md." } }
            }
            @if admin {
                form #global-form method="post" action="/settings/agents" {
                    (csrf_field(who))
                    textarea name="content" rows="16" aria-label="Instructions" {
                        @if let Some((g, _)) = &current { (g.content) }
                    }
                    div.toolbar {
                        button type="submit" name="action" value="save" { "Save" }
                        @if current.is_some() {
                            button.secondary.outline type="submit" name="action" value="clear" { "Clear" }
                        }
                    }
                }
            } @else if let Some((g, _)) = &current {
                pre #global-content { (g.content) }
            }
        },
    )
}

#[handler]
pub fn global_get(poem::web::Data(app): AppData<'_>, WebUser(who): WebUser) -> Response {
    global_page(app, &who, None, None).into_response()
}

#[handler]
pub fn global_post(
    poem::web::Data(app): AppData<'_>,
    CsrfForm(who, f): CsrfForm<GlobalForm>,
) -> Response {
    let res = if f.action == "clear" {
        app.sessions
            .clear_global_context(&who)
            .map(|_| "Cleared: agents get the repository's AGENTS.md.".to_string())
    } else {
        app.sessions
            .set_global_context(&who, &f.content)
            .map(|_| "Saved. New agent sessions start with these instructions.".to_string())
    };
    match res {
        Ok(msg) => global_page(app, &who, None, Some(&msg)).into_response(),
        Err(e) => shown_error(
            error_status(&e),
            global_page(app, &who, Some(&e.to_string()), None),
        ),
    }
}

/// One poller per user: it renders the user's agents panel every 2 s while at least one of
/// their dashboards listens, and every listener gets the same rendering (tmux is asked once per
/// user, however many dashboards are open).
type Panels = std::sync::Mutex<
    std::collections::HashMap<(crate::domain::UserId, bool), tokio::sync::watch::Receiver<String>>,
>;

fn panels() -> &'static Panels {
    static P: std::sync::OnceLock<Panels> = std::sync::OnceLock::new();
    P.get_or_init(Default::default)
}

fn panel_feed(
    app: &std::sync::Arc<App>,
    who: &Identity,
    all: bool,
) -> tokio::sync::watch::Receiver<String> {
    let feed = (who.user.id, all);
    let mut map = panels().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(rx) = map.get(&feed)
        && rx.has_changed().is_ok()
    {
        return rx.clone();
    }
    let (tx, rx) = tokio::sync::watch::channel(String::new());
    map.insert(feed, rx.clone());
    let (app, who) = (app.clone(), who.clone());
    tokio::spawn(async move {
        // Sent only when an agent's state changes (not when "for 3 min" becomes "for 4 min":
        // the browser ticks that itself, assets/agents.js), so a card is not replaced under a
        // finger about to tap it.
        let mut last_sig = None;
        loop {
            let live = app.sessions.live_sessions(&who, None, all).await;
            let sig = panel_signature(&live);
            if last_sig.as_ref() != Some(&sig) {
                let html = agents_list_from(&who, all, live).into_string();
                tx.send_replace(html);
                last_sig = Some(sig);
            }
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            // Only the map's own receiver left: nobody is watching; stop.
            if tx.receiver_count() <= 1 {
                let mut map = panels().lock().unwrap_or_else(|p| p.into_inner());
                if tx.receiver_count() <= 1 {
                    map.remove(&feed);
                    return;
                }
            }
        }
    });
    rx
}

/// `GET /agents/events`: server-sent events carrying the agents panel whenever it changes
/// (from the user's one poller; nothing is sent while nothing changes, apart from keep-alive
/// comments).
#[handler]
pub async fn agents_events(
    poem::web::Data(app): AppData<'_>,
    Query(q): Query<ScopeQuery>,
    WebUser(who): WebUser,
) -> Response {
    use poem::web::sse::{Event, SSE};
    let mut rx = panel_feed(app, &who, q.all_users(&who));
    rx.mark_changed();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            rx.changed().await.ok()?;
            let html = rx.borrow_and_update().clone();
            if !html.is_empty() {
                let ev = Event::message(html).event_type("agents");
                return Some((ev, rx));
            }
        }
    });
    SSE::new(stream)
        .keep_alive(std::time::Duration::from_secs(15))
        .into_response()
}

// ---- the agents panel ------------------------------------------------------------------------

/// `?agents=all` (an admin's switch to every user's agents).
#[derive(serde::Deserialize, Default)]
pub struct ScopeQuery {
    agents: Option<String>,
}

impl ScopeQuery {
    /// Asked for all users' agents (only admins get them; the service refuses others).
    pub fn all_users(&self, who: &Identity) -> bool {
        self.agents.as_deref() == Some("all") && who.user.is_admin
    }
}

/// The words (and CSS class) of an agent's state.
/// The class is the coarse state (`waiting`, `running`, `exited`, `gone`: the colours), the
/// words the detected one ("waiting for approval — needs you", "idle", "failed").
fn state_words(state: Option<AgentState>) -> (&'static str, &'static str) {
    match state {
        Some(AgentState::WaitingForApproval) => ("waiting", "waiting for approval — needs you"),
        Some(AgentState::WaitingForInput) => ("waiting", "waiting for input — needs you"),
        Some(AgentState::RateLimited) => ("waiting", "rate-limited — needs you"),
        Some(AgentState::Working) => ("running", "working"),
        Some(AgentState::Idle) => ("running", "idle"),
        Some(AgentState::Exited) => ("exited", "exited"),
        Some(AgentState::Failed) => ("exited", "failed"),
        None => ("gone", "gone"),
    }
}

/// "for 3 min" from a start time.
fn for_how_long(since: &crate::domain::Timestamp) -> String {
    let secs = (chrono::Utc::now() - *since).num_seconds().max(0);
    match secs {
        0..=59 => "for less than a minute".to_string(),
        60..=3599 => format!("for {} min", secs / 60),
        3600..=86_399 => format!("for {} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("for {} days", secs / 86_400),
    }
}

/// Where agent controls sit: the page they come from, the panel's scope (all users'), and
/// what htmx swaps with the answer.
struct Place<'a> {
    from: &'a str,
    all: bool,
    target: &'a str,
}

/// One agent control: a form (works without JavaScript; htmx posts it and swaps the target).
fn control_form(
    who: &Identity,
    id: u64,
    action: &str,
    label: &str,
    confirm: Option<String>,
    at: &Place,
) -> Markup {
    let class = format!("agent-{action}");
    html! {
        form.agent-control method="post" action={ "/sessions/" (id) "/" (action) }
            hx-post={ "/sessions/" (id) "/" (action) } hx-target=(at.target) hx-swap="innerHTML"
            hx-confirm=[confirm] {
            (csrf_field(who))
            input type="hidden" name="from" value=(at.from);
            @if at.all { input type="hidden" name="agents" value="all"; }
            button.(class) type="submit"
                .secondary[action != "restart"] .outline[action == "close"] { (label) }
        }
    }
}

/// The Stop / Restart / Close controls of a session, for its state (an exited agent has no
/// Stop, and restarting it needs no confirm).
fn controls(who: &Identity, id: u64, exited: bool, at: &Place) -> Markup {
    html! {
        @if who.has(Scope::Write) {
            div.agent-actions {
                @if !exited {
                    (control_form(who, id, "stop", "Stop", Some(format!("Stop the agent of session {id}? It is killed; the session stays so you can restart or close it.")), at))
                }
                (control_form(who, id, "restart", "Restart", (!exited).then(|| format!("Restart the agent of session {id}? Its program is killed and started again.")), at))
                (control_form(who, id, "close", "Close", Some(format!("Close session {id}? The agent is stopped and the session moves to the history.")), at))
                (review_link(id))
            }
        }
    }
}

/// Close a worktree session and remove its worktree (its branch merged or abandoned); the plain
/// Close keeps it. Never silent: the confirm names the branch, and uncommitted changes refuse.
fn worktree_close(who: &Identity, id: u64, branch: &str, at: &Place) -> Markup {
    html! {
        @if who.has(Scope::Write) {
            div.agent-actions.agent-worktree {
                small { "Branch " code { (branch) } " (Close keeps its worktree)" }
                (control_form(who, id, "close-remove", "Close + remove worktree", Some(format!("Branch {branch} merged or abandoned? Close session {id} and remove its worktree. The branch stays; uncommitted changes refuse the removal.")), at))
            }
        }
    }
}

/// The link to a session's review page (its branch's diff, line comments, Approve).
fn review_link(id: u64) -> Markup {
    html! { a.agent-review role="button" .secondary.outline href={ "/sessions/" (id) "/review" } { "Review" } }
}

fn agent_card(who: &Identity, l: &LiveSession, all: bool) -> Markup {
    agent_card_at(
        who,
        l,
        all,
        &Place {
            from: "dashboard",
            all,
            target: "#agents-panel",
        },
    )
}

fn agent_card_at(who: &Identity, l: &LiveSession, all: bool, at: &Place) -> Markup {
    let s = &l.session;
    let (class, words) = state_words(l.state);
    let project = l
        .project_name
        .clone()
        .unwrap_or_else(|| format!("Project {}", s.project_id));
    html! {
        li.agent-card.{ "state-" (class) } id={ "agent-" (s.id) } data-state=(class) {
            div.agent-top {
                mark.agent-state.{ "agent-" (class) } { (words) }
                @if let Some(since) = &l.state_since { " " small.agent-since data-since=(since.timestamp()) { (for_how_long(since)) } }
            }
            h3.agent-project { a href={ "/projects/" (s.project_id) } { (project) } }
            @if let Some(i) = s.issue_id {
                p.agent-issue {
                    a href={ "/issues/" (i) } {
                        (l.issue_title.clone().unwrap_or_else(|| format!("Issue {i}")))
                    }
                }
            }
            p.agent-meta.muted {
                (s.tool) " · session " (s.id) " · " code { (s.tmux_target.as_deref().unwrap_or("")) }
                @if all && s.user_id != who.id() { " · user " (s.user_id) }
            }
            @if l.state == Some(AgentState::Exited) {
                p.agent-exited { "The agent exited — restart it or close the session." }
            }
            @if l.state == Some(AgentState::Failed) {
                p.agent-exited { "The agent failed — restart it or close the session." }
            }
            a.terminal-link.agent-open role="button" href={ "/sessions/" (s.id) "/terminal" } { "Open terminal" }
            (controls(who, s.id.get(), l.state.is_some_and(|st| st.is_final()), at))
            @if let Some(b) = &s.branch { (worktree_close(who, s.id.get(), b, at)) }
        }
    }
}

/// The inside of the agents panel (also what `/streams/agents` sends): agents waiting for
/// approval first, then those waiting for input or rate-limited, then exited or failed ones
/// (they need a restart or a close), then idle ones, then working ones.
pub(super) async fn agents_list(app: &App, who: &Identity, all: bool) -> Markup {
    let live = app.sessions.live_sessions(who, None, all).await;
    agents_list_from(who, all, live)
}

/// What the panel shows, without the clock: which agents, in which state since when, under
/// which names.
fn panel_signature(live: &Result<Vec<LiveSession>, AppError>) -> String {
    match live {
        Err(e) => format!("error: {e}"),
        Ok(list) => list
            .iter()
            .filter(|l| l.alive)
            .map(|l| {
                format!(
                    "{}|{:?}|{:?}|{:?}|{:?}\n",
                    l.session.id, l.state, l.state_since, l.project_name, l.issue_title
                )
            })
            .collect(),
    }
}

fn agents_list_from(who: &Identity, all: bool, live: Result<Vec<LiveSession>, AppError>) -> Markup {
    let rank = |l: &LiveSession| match l.state {
        Some(AgentState::WaitingForApproval) => 0,
        Some(st) if st.needs_user() => 1,
        Some(st) if st.is_final() => 2,
        Some(AgentState::Idle) => 3,
        _ => 4,
    };
    html! {
        div.agents-head {
            h2 { @if all { "All users' agents" } @else { "My agents" } }
            div.agents-links {
                @if who.user.is_admin {
                    @if all { a #agents-scope role="button" .secondary.outline href="/" { "Only mine" } }
                    @else { a #agents-scope role="button" .secondary.outline href="/?agents=all" { "All users" } }
                }
                a #agents-history role="button" .secondary.outline href="/agents/history" { "History" }
            }
        }
        @match live {
            Err(e) => p.error role="alert" { (e.to_string()) },
            Ok(live) => {
                @let mut live: Vec<LiveSession> = live.into_iter().filter(|l| l.alive).collect();
                @if live.is_empty() {
                    p.muted #no-agents { "No agent is running. Start one from a project or an issue." }
                } @else {
                    ({ live.sort_by_key(|l| (rank(l), std::cmp::Reverse(l.session.id))); "" })
                    ul #agent-list.agent-cards {
                        @for l in &live { (agent_card(who, l, all)) }
                    }
                }
            }
        }
    }
}

/// Where a scoped agents list sits: a project's page or an issue's.
#[derive(Clone, Copy)]
pub(super) enum AgentsOf {
    Project(u64),
    Issue(u64),
}

impl AgentsOf {
    fn from_field(from: &str) -> Option<AgentsOf> {
        let (kind, id) = from.split_once(':')?;
        let id = id.parse().ok()?;
        match kind {
            "project" => Some(AgentsOf::Project(id)),
            "issue" => Some(AgentsOf::Issue(id)),
            _ => None,
        }
    }

    fn field(self) -> String {
        match self {
            AgentsOf::Project(id) => format!("project:{id}"),
            AgentsOf::Issue(id) => format!("issue:{id}"),
        }
    }

    fn page(self) -> String {
        match self {
            AgentsOf::Project(id) => format!("/projects/{id}"),
            AgentsOf::Issue(id) => format!("/issues/{id}"),
        }
    }
}

/// The caller's live agents of one project or one issue, with their controls: a section the
/// project and issue pages load after they render (`GET /projects/{id}/agents`,
/// `/issues/{id}/agents`), swapped in place after a control.
pub(super) fn scoped_agents_placeholder(of: AgentsOf) -> Markup {
    let url = format!("{}/agents", of.page());
    html! {
        link rel="stylesheet" href=(super::pwa::asset_url("agents.css"));
        section #scoped-agents hx-get=(url) hx-trigger="load" hx-swap="innerHTML" {}
    }
}

async fn scoped_agents_inner(app: &App, who: &Identity, of: AgentsOf) -> Markup {
    let project = match of {
        AgentsOf::Project(id) => Some(id),
        AgentsOf::Issue(_) => None,
    };
    let live = app
        .sessions
        .live_sessions(who, project.map(Into::into), false)
        .await;
    let from = of.field();
    let at = Place {
        from: &from,
        all: false,
        target: "#scoped-agents",
    };
    html! {
        @match live {
            Err(e) => p.error role="alert" { (e.to_string()) },
            Ok(live) => {
                @let live: Vec<&LiveSession> = live.iter().filter(|l| l.alive && match of {
                    AgentsOf::Issue(i) => l.session.issue_id == Some(i.into()),
                    AgentsOf::Project(_) => true,
                }).collect();
                @if !live.is_empty() {
                    h2 { "Agents" }
                    ul.agent-cards.scoped-agent-list {
                        @for l in live { (agent_card_at(who, l, false, &at)) }
                    }
                }
            }
        }
    }
}

/// The whole panel: rendered on the dashboard at once, then kept live by server-sent events.
pub(super) async fn agents_panel(app: &App, who: &Identity, all: bool) -> Markup {
    let inner = agents_list(app, who, all).await;
    let feed = if all {
        "/streams/agents?agents=all"
    } else {
        "/streams/agents"
    };
    html! {
        link rel="stylesheet" href=(super::pwa::asset_url("agents.css"));
        script src=(super::pwa::asset_url("agents.js")) defer {}
        section #agents-panel hx-ext="sse" sse-connect=(feed) sse-swap="agents" hx-swap="innerHTML" {
            (inner)
        }
    }
}

/// `GET /agents`: the agents panel as a fragment.
#[handler]
pub async fn agents_fragment(
    poem::web::Data(app): AppData<'_>,
    Query(q): Query<ScopeQuery>,
    WebUser(who): WebUser,
) -> Response {
    agents_panel(app, &who, q.all_users(&who))
        .await
        .into_response()
}

// ---- controls ------------------------------------------------------------------------------------

fn control_message(id: u64, done: &Control) -> String {
    match done {
        Control::Stopped => format!("Stopped the agent of session {id}. Restart or close it."),
        Control::AlreadyExited => {
            format!("The agent of session {id} had already exited. Restart or close it.")
        }
        Control::Restarted => format!("Restarted the agent of session {id}."),
        Control::Closed => format!("Closed session {id}; it is in the session history."),
    }
}

/// A refused control: for htmx the real status with the message (assets/app.js shows it
/// next to the control); for a plain form a page with it.
fn control_failed(req: &Request, who: &Identity, back: &str, e: &AppError) -> Response {
    if is_htmx(req) {
        html_status(
            e.status(),
            html! { p.error role="alert" { (e.to_string()) } },
        )
    } else {
        failed(who, "Agent control failed", back, e)
    }
}

/// `POST /sessions/{key}/{stop|restart|close|again}` (CSRF like every web form): the outcome
/// as a toast, and for htmx the refreshed panel (dashboard) or controls (terminal page);
/// `again` starts a new session like the ended one and opens its terminal.
#[handler]
pub async fn session_action(
    req: &Request,
    poem::web::Data(app): AppData<'_>,
    Path((key, action)): Path<(String, String)>,
    CsrfForm(who, f): CsrfForm<ControlForm>,
) -> Response {
    let all = f.agents == "all" && who.user.is_admin;
    let from = f.from.as_str();
    let scoped = AgentsOf::from_field(from);
    let back = match from {
        "terminal" => format!("/sessions/{key}/terminal"),
        "history" => "/agents/history".to_string(),
        _ if scoped.is_some() => scoped.map(AgentsOf::page).unwrap_or_default(),
        _ if all => "/?agents=all".to_string(),
        _ => "/".to_string(),
    };
    if action == "again" {
        return match app.sessions.start_again(&who, &key).await {
            Ok(s) => done(
                req,
                &format!("/sessions/{}/terminal", s.session.id),
                &if s.existing {
                    format!(
                        "Session {} already works on this issue: opened it.",
                        s.session.id
                    )
                } else {
                    format!("Started session {} like session {key}.", s.session.id)
                },
            ),
            Err(e) => control_failed(req, &who, &back, &e),
        };
    }
    if action == "resume" {
        return match app.sessions.resume_session(&who, &key).await {
            Ok((s, project)) => done(
                req,
                &format!("/sessions/{}/terminal", s.session.id),
                &if s.existing {
                    format!(
                        "Session {} already works on this issue: opened it.",
                        s.session.id
                    )
                } else {
                    format!(
                        "Resumed {} session {key} in {project} as session {}.",
                        s.session.tool, s.session.id
                    )
                },
            ),
            Err(e) => control_failed(req, &who, &back, &e),
        };
    }
    let (s, outcome) = match app.sessions.control_session(&who, &key, &action).await {
        Ok(v) => v,
        Err(e) => return control_failed(req, &who, &back, &e),
    };
    let msg = control_message(s.id.get(), &outcome);
    if !is_htmx(req) {
        return done(req, &back, &msg);
    }
    let body = match from {
        "terminal" if matches!(outcome, Control::Closed) => return done(req, "/", &msg),
        "terminal" => {
            let exited = !matches!(outcome, Control::Restarted);
            terminal_controls(&who, s.id.get(), exited)
        }
        _ => match scoped {
            Some(of) => scoped_agents_inner(app, &who, of).await,
            None => agents_list(app, &who, all).await,
        },
    };
    with_cookie(body, &super::layout::flash_cookie(&msg))
}

/// The terminal page's controls (swapped after each use; terminal.js keeps the page's
/// `data-state` up to date from the WebSocket).
pub(super) fn terminal_controls(who: &Identity, id: u64, exited: bool) -> Markup {
    let at = Place {
        from: "terminal",
        all: false,
        target: "#term-actions",
    };
    controls(who, id, exited, &at)
}

// ---- history -----------------------------------------------------------------------------------

/// The workspace (worktree) an ended session worked in, for its history card.
fn history_workspace(s: &crate::domain::AiSession) -> Markup {
    html! {
        @if let Some(w) = &s.workspace_path {
            br; small.agent-workspace { "in " code { (w) } }
        }
        @if let Some(b) = &s.branch {
            br; small.agent-branch { "on branch " code { (b) } }
        }
    }
}

/// `GET /agents/history`: the caller's ended sessions, newest first, with "Start again"
/// (admins: `?agents=all` for everyone's).
#[handler]
pub async fn history_get(
    poem::web::Data(app): AppData<'_>,
    Query(q): Query<ScopeQuery>,
    WebUser(who): WebUser,
) -> Response {
    let all = q.all_users(&who);
    let rows = app.sessions.session_history(&who, all, 100).await;
    page(
        "Session history",
        Some(&who),
        html! {
            link rel="stylesheet" href=(super::pwa::asset_url("agents.css"));
            div.agents-head {
                h1 { "Session history" }
                div.agents-links {
                    @if who.user.is_admin {
                        @if all { a role="button" .secondary.outline href="/agents/history" { "Only mine" } }
                        @else { a role="button" .secondary.outline href="/agents/history?agents=all" { "All users" } }
                    }
                    a role="button" .secondary.outline href="/" { "Active agents" }
                }
            }
            p.muted { "Ended agent sessions, newest first. “Resume” continues the conversation of a claude or codex agent; “Start again” starts a new agent with the same tool, project and issue." }
            @match rows {
                Err(e) => p.error role="alert" { (e.to_string()) },
                Ok(rows) if rows.is_empty() => p.muted #no-history { "No ended sessions yet." },
                Ok(rows) => ul #session-history.agent-cards {
                    @for l in &rows {
                        @let s = &l.session;
                        li.agent-card.state-ended id={ "history-" (s.id) } {
                            div.agent-top {
                                mark.agent-state.agent-ended { "ended" }
                                " " small.agent-since { (s.end_reason.as_deref().unwrap_or("ended")) }
                            }
                            h3.agent-project {
                                a href={ "/projects/" (s.project_id) } {
                                    (l.project_name.clone().unwrap_or_else(|| format!("Project {}", s.project_id)))
                                }
                            }
                            @if let Some(i) = s.issue_id {
                                p.agent-issue { a href={ "/issues/" (i) } { (l.issue_title.clone().unwrap_or_else(|| format!("Issue {i}"))) } }
                            }
                            p.agent-meta.muted {
                                (s.tool) " · session " (s.id)
                                @if all && s.user_id != who.id() { " · user " (s.user_id) }
                                br;
                                "Started " (fmt_time(&s.started_at))
                                @if let Some(e) = &s.ended_at { " · ended " (fmt_time(e)) }
                                (history_workspace(s))
                            }
                            @if who.has(Scope::Write) && l.project_name.is_some() {
                                div.agent-actions {
                                    @if crate::domain::sessions::can_resume(&s.tool) {
                                        form.agent-control method="post" action={ "/sessions/" (s.id) "/resume" } {
                                            (csrf_field(&who))
                                            input type="hidden" name="from" value="history";
                                            button.agent-resume type="submit"
                                                title=(if s.tool_session_id.is_some() { "Continue this conversation" } else { "Continue the tool's latest conversation in this workspace" }) {
                                                "Resume"
                                            }
                                        }
                                    }
                                    form.agent-control method="post" action={ "/sessions/" (s.id) "/again" } {
                                        (csrf_field(&who))
                                        input type="hidden" name="from" value="history";
                                        button.agent-again.secondary[crate::domain::sessions::can_resume(&s.tool)] type="submit" { "Start again" }
                                    }
                                    (review_link(s.id.get()))
                                }
                            }
                        }
                    }
                },
            }
        },
    )
    .into_response()
}

/// `GET /projects/{id}/agents`: the inside of a project page's agents section.
#[handler]
pub async fn project_agents_get(
    poem::web::Data(app): AppData<'_>,
    Path(id): Path<u64>,
    WebUser(who): WebUser,
) -> Response {
    scoped_agents_inner(app, &who, AgentsOf::Project(id))
        .await
        .into_response()
}

/// `GET /issues/{id}/agents`: the inside of an issue page's agents section.
#[handler]
pub async fn issue_agents_get(
    poem::web::Data(app): AppData<'_>,
    Path(id): Path<u64>,
    WebUser(who): WebUser,
) -> Response {
    scoped_agents_inner(app, &who, AgentsOf::Issue(id))
        .await
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AiSession, ProjectId, UserId};

    fn live(id: u64, state: AgentState, since_secs: i64) -> LiveSession {
        let now = crate::domain::model::now();
        LiveSession {
            session: AiSession {
                id: id.into(),
                project_id: ProjectId(1),
                user_id: UserId(1),
                issue_id: None,
                tool: "codex".into(),
                session_id: "x".into(),
                command: None,
                description: None,
                tmux_target: None,
                started_at: now,
                ended_at: None,
                is_active: true,
                api_key_id: None,
                tmux_socket: None,
                workspace_path: None,
                run_as: None,
                end_reason: None,
                tool_session_id: None,
                branch: None,
                base: None,
                pull_request: None,
            },
            alive: true,
            state: Some(state),
            project_name: Some("p".into()),
            issue_title: None,
            state_since: Some(now - chrono::Duration::seconds(since_secs)),
        }
    }

    #[test]
    fn the_panel_is_resent_for_a_state_change_not_for_the_clock() {
        let a = vec![live(1, AgentState::Working, 60)];
        let sig = panel_signature(&Ok(a.clone()));
        // The same agents in the same states: the same signature, however long ago rendered.
        assert_eq!(sig, panel_signature(&Ok(a.clone())));
        // A state change, a new agent, an ended one: a new signature.
        let mut waiting = a.clone();
        waiting[0].state = Some(AgentState::WaitingForApproval);
        assert_ne!(sig, panel_signature(&Ok(waiting)));
        let mut two = a.clone();
        two.push(live(2, AgentState::Working, 5));
        assert_ne!(sig, panel_signature(&Ok(two)));
        let mut gone = a;
        gone[0].alive = false;
        assert_ne!(sig, panel_signature(&Ok(gone)));
    }
}
