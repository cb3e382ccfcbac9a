//! Ansible: playbooks from the server's playbook directory (admins) and from a project's
//! repository (its owner, in their workspace checkout), run with `ansible-playbook` as a child
//! process. A run never blocks a request: it is queued, started when a slot is free (at most
//! `ansible_max_concurrent` at once), its output streamed to followers as it comes and stored
//! with the exit code. Cancelling kills the whole process group.

use super::access::{Grants, project_for};
use crate::auth::Identity;
use crate::config::Config;
use crate::domain::ProjectId;
use crate::domain::access::Action;
use crate::domain::ansible::{self as dom, Inventory, RunArgs};
use crate::domain::{AnsibleRun, AnsibleSchedule, Project, RunId, ScheduleId, Scope, User, UserId};
use crate::error::{AppError, AppResult};
use crate::services::git::Git;
use crate::store::Store;
use crate::store::accounts::AccountReads;
use crate::store::ops::ANSIBLE_LAST_CHUNK;
use crate::store::tenancy::TenancyReads;
use rust_embed::RustEmbed;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

use crate::domain::RunStatus;

/// The shipped example playbook and inventory.
#[derive(RustEmbed)]
#[folder = "ansible/"]
struct Shipped;

const OUTPUT_CAP: usize = 5 << 20;

/// What a live run shares with its followers.
pub struct Live {
    pub output: Mutex<String>,
    pub tx: tokio::sync::broadcast::Sender<String>,
    pub pid: Mutex<Option<u32>>,
    pub cancel: tokio::sync::Notify,
}

pub struct AnsibleState {
    slots: Arc<tokio::sync::Semaphore>,
    live: Mutex<HashMap<RunId, Arc<Live>>>,
}

impl AnsibleState {
    pub fn new(max: usize) -> AnsibleState {
        AnsibleState {
            slots: Arc::new(tokio::sync::Semaphore::new(max.max(1))),
            live: Mutex::new(HashMap::new()),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub playbook: String,
    pub project_id: Option<ProjectId>,
    pub inventory: Option<String>,
    pub hosts: Option<String>,
    pub extra_vars: Value,
    pub check: bool,
    pub limit: Option<String>,
    pub tags: Option<String>,
}

/// A run and the email of the user who started it (None: that user is gone).
#[derive(Debug, Clone)]
pub struct RunView {
    pub run: AnsibleRun,
    pub actor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PlaybookView {
    /// `system` or `project`
    pub source: String,
    pub project_id: Option<ProjectId>,
    pub name: String,
}

/// Playbooks under `dir`, relative to `base`. Directory links are not followed (a committed
/// `playbooks/loop -> ..` must not recurse forever), the depth is bounded, and so is the count.
fn yaml_files(dir: &Path, base: &Path, out: &mut Vec<String>) {
    yaml_files_at(dir, base, out, 0)
}

const MAX_PLAYBOOK_DEPTH: usize = 8;
const MAX_PLAYBOOKS: usize = 2000;

fn yaml_files_at(dir: &Path, base: &Path, out: &mut Vec<String>, depth: usize) {
    if depth > MAX_PLAYBOOK_DEPTH || out.len() >= MAX_PLAYBOOKS {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let is_link = e.file_type().map(|t| t.is_symlink()).unwrap_or(true);
        if p.is_dir() {
            if !is_link {
                yaml_files_at(&p, base, out, depth + 1);
            }
        } else if out.len() < MAX_PLAYBOOKS
            && matches!(p.extension().and_then(|x| x.to_str()), Some("yml" | "yaml"))
            && let Ok(rel) = p.strip_prefix(base)
        {
            out.push(rel.display().to_string());
        }
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Playbooks, inventories, runs and schedules.
pub struct Ansible {
    pub(crate) store: Arc<Store>,
    pub(crate) config: Arc<Config>,
    /// Concurrency slots and the live runs.
    pub(crate) state: AnsibleState,
    /// Project playbooks run in the project's workspace.
    pub(crate) git: Arc<Git>,
    /// Where a run's end is told (the notifier listens).
    pub(crate) events: Arc<super::events::Events>,
}

impl Ansible {
    fn playbook_dir(&self) -> PathBuf {
        self.config.ansible_dir.join("playbooks")
    }
    fn inventory_dir(&self) -> PathBuf {
        self.config.ansible_dir.join("inventories")
    }

    /// At start: install the example when there are no playbooks yet, and end runs a
    /// previous process left unfinished.
    pub fn ansible_startup(&self) -> AppResult<()> {
        let pb = self.playbook_dir();
        let mut existing = Vec::new();
        yaml_files(&pb, &pb, &mut existing);
        if existing.is_empty() {
            for name in Shipped::iter().filter(|n| n.ends_with(".yml") || n.ends_with(".ini")) {
                let target = self.config.ansible_dir.join(name.as_ref());
                if target.exists() {
                    continue;
                }
                if let Some(f) = Shipped::get(&name) {
                    if let Some(parent) = target.parent() {
                        let _ = std::fs::create_dir_all(parent);
                    }
                    let _ = std::fs::write(&target, f.data.as_ref());
                }
            }
        }
        let w = self.store.write()?;
        let runs = w.ansible_runs()?.into_iter().filter(|r| r.status.is_live());
        for mut r in runs {
            r.status = RunStatus::Failed;
            r.finished_at = Some(crate::domain::model::now());
            w.put_ansible_run(&r)?;
            w.append_ansible_output(
                r.id,
                ANSIBLE_LAST_CHUNK,
                "\n[aiops] the server stopped while this run was going on\n",
            )?;
        }
        w.commit()?;
        Ok(())
    }

    fn project_checkout(&self, caller: &Identity, project_id: ProjectId) -> AppResult<PathBuf> {
        Ok(self.project_workspace(caller, project_id)?.path)
    }

    fn project_workspace(
        &self,
        caller: &Identity,
        project_id: ProjectId,
    ) -> AppResult<super::git::Workspace> {
        let ws = self.git.workspace(caller, project_id)?;
        if !ws.path.join(".git").exists() {
            return Err(AppError::NotFound(format!(
                "Your workspace of project {project_id} is not cloned yet: aiops workspace init {project_id}"
            )));
        }
        Ok(ws)
    }

    /// Playbooks the caller may run: the server's (admins) and a project's (its owner).
    pub fn list_playbooks(
        &self,
        caller: &Identity,
        project_id: Option<ProjectId>,
    ) -> AppResult<Vec<PlaybookView>> {
        caller.require(Scope::Read)?;
        let mut out = Vec::new();
        match project_id {
            Some(p) => {
                let dir = self.project_checkout(caller, p)?;
                for sub in ["ansible/playbooks", "playbooks"] {
                    let mut v = Vec::new();
                    yaml_files(&dir.join(sub), &dir, &mut v);
                    out.extend(v.into_iter().map(|name| PlaybookView {
                        source: "project".into(),
                        project_id: Some(p),
                        name,
                    }));
                }
            }
            None => {
                caller.require_admin()?;
                let dir = self.playbook_dir();
                let mut v = Vec::new();
                yaml_files(&dir, &dir, &mut v);
                out.extend(v.into_iter().map(|name| PlaybookView {
                    source: "system".into(),
                    project_id: None,
                    name,
                }));
            }
        }
        Ok(out)
    }

    pub fn list_inventories(
        &self,
        caller: &Identity,
        project_id: Option<ProjectId>,
    ) -> AppResult<Vec<String>> {
        caller.require(Scope::Read)?;
        Ok(match project_id {
            Some(p) => {
                let dir = self.project_checkout(caller, p)?;
                let mut v: Vec<String> = files(&dir.join("ansible/inventories"))
                    .into_iter()
                    .map(|f| format!("ansible/inventories/{f}"))
                    .collect();
                for f in ["inventory", "hosts", "inventory.ini"] {
                    if dir.join(f).is_file() {
                        v.push(f.into());
                    }
                }
                v
            }
            None => {
                caller.require_admin()?;
                files(&self.inventory_dir())
            }
        })
    }

    /// Queue a run; it starts as soon as a slot is free. Returns at once.
    pub fn start_playbook(
        self: &Arc<Self>,
        caller: &Identity,
        req: RunRequest,
    ) -> AppResult<AnsibleRun> {
        caller.require(Scope::Write)?;
        let rel = dom::playbook_path(&req.playbook).map_err(AppError::BadRequest)?;
        // A project's playbook runs in its user's sandbox, like their agents.
        let (base, inv_base, jail) = match req.project_id {
            Some(p) => {
                let ws = self.project_workspace(caller, p)?;
                (ws.path.clone(), ws.path, ws.jail)
            }
            None => {
                caller.require_admin()?;
                (self.playbook_dir(), self.inventory_dir(), None)
            }
        };
        let playbook = confine(&base, &rel).ok_or_else(|| {
            AppError::NotFound(format!(
                "Playbook {} not found (see aiops ansible playbooks); a playbook must be a file inside {}",
                rel.display(),
                if req.project_id.is_some() { "the project's checkout" } else { "the server's playbook directory" }
            ))
        })?;
        let inventory = match (
            req.inventory
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty()),
            req.hosts
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty()),
        ) {
            (Some(_), Some(_)) => {
                return Err(AppError::BadRequest(
                    "give either inventory or hosts, not both".into(),
                ));
            }
            (Some(i), None) => {
                let rel = Path::new(i);
                if rel.is_absolute()
                    || rel
                        .components()
                        .any(|c| !matches!(c, std::path::Component::Normal(_)))
                {
                    return Err(AppError::BadRequest(format!(
                        "'{i}' is not an inventory name (see aiops ansible inventories)"
                    )));
                }
                let p = confine(&inv_base, rel).ok_or_else(|| {
                    AppError::NotFound(format!(
                        "Inventory {i} not found (an inventory must be a file inside its directory)"
                    ))
                })?;
                Inventory::File(p)
            }
            (None, Some(h)) => Inventory::Hosts(dom::hosts(h).map_err(AppError::BadRequest)?),
            (None, None) => {
                return Err(AppError::BadRequest(
                    "choose an inventory or enter hosts (e.g. hosts: localhost)".into(),
                ));
            }
        };
        let vars = dom::extra_vars(&req.extra_vars).map_err(AppError::BadRequest)?;
        let args = dom::argv(&RunArgs {
            playbook: &playbook,
            inventory: &inventory,
            extra_vars: vars.as_ref(),
            check: req.check,
            limit: req.limit.as_deref(),
            tags: req.tags.as_deref(),
        });
        let now = crate::domain::model::now();
        let run = {
            let w = self.store.write()?;
            let id = w.new_ansible_run_id()?;
            let run = AnsibleRun {
                id,
                user_id: caller.id(),
                project_id: req.project_id,
                playbook: rel.display().to_string(),
                inventory: match &inventory {
                    Inventory::File(_) => req.inventory.clone().unwrap_or_default(),
                    Inventory::Hosts(h) => h.join(","),
                },
                extra_vars: vars,
                check: req.check,
                args: args.clone(),
                status: RunStatus::Queued,
                exit_code: None,
                output: String::new(),
                schedule_id: None,
                created_at: now,
                started_at: None,
                finished_at: None,
            };
            w.put_ansible_run(&run)?;
            w.commit()?;
            run
        };
        let live = Arc::new(Live {
            output: Mutex::new(String::new()),
            tx: tokio::sync::broadcast::channel(1024).0,
            pid: Mutex::new(None),
            cancel: tokio::sync::Notify::new(),
        });
        if let Ok(mut m) = self.state.live.lock() {
            m.insert(run.id, live.clone());
        }
        let app = self.clone();
        let id = run.id;
        let cwd = base.clone();
        tokio::spawn(async move {
            app.execute(id, args, cwd, live, jail).await;
        });
        tracing::info!(run = id.get(), user = caller.id().get(), playbook = %run.playbook, "ansible run queued");
        Ok(run)
    }

    fn append_output(&self, id: RunId, n: u64, text: &str) -> AppResult<()> {
        crate::store::run_blocking(|| {
            let w = self.store.write()?;
            w.append_ansible_output(id, n, text)?;
            w.commit()?;
            Ok(())
        })
    }

    /// Change a stored run (called from the run's task: the write leaves the async worker).
    fn update_run(&self, id: RunId, f: impl FnOnce(&mut AnsibleRun)) {
        let res = crate::store::run_blocking(|| -> AppResult<()> {
            let w = self.store.write()?;
            if let Some(mut r) = w.ansible_run(id)? {
                f(&mut r);
                w.put_ansible_run(&r)?;
            }
            w.commit()?;
            Ok(())
        });
        if let Err(e) = res {
            tracing::warn!(run = id.get(), error = %e, "cannot store the ansible run");
        }
    }

    async fn execute(
        self: Arc<Self>,
        id: RunId,
        args: Vec<String>,
        cwd: PathBuf,
        live: Arc<Live>,
        jail: Option<super::sandbox::Jail>,
    ) {
        let slots = self.state.slots.clone();
        let permit = tokio::select! {
            p = slots.acquire_owned() => p.ok(),
            _ = live.cancel.notified() => None,
        };
        // Appending and broadcasting under one lock: a follower that takes the output and
        // subscribes under the same lock sees every line exactly once.
        let push = |line: &str| {
            if let Ok(mut o) = live.output.lock() {
                if o.len() < OUTPUT_CAP {
                    o.push_str(line);
                    o.push('\n');
                    if o.len() >= OUTPUT_CAP {
                        o.push_str("[aiops] output capped at 5 MiB; the rest was not kept\n");
                    }
                }
                let _ = live.tx.send(line.to_string());
            }
        };
        // Output reaches the store as appended chunks (only what is new), never rewritten whole.
        let persisted = std::sync::atomic::AtomicUsize::new(0);
        let chunk_no = std::sync::atomic::AtomicU64::new(0);
        let flush = || {
            use std::sync::atomic::Ordering::SeqCst;
            let from = persisted.load(SeqCst);
            let new: Option<String> = live
                .output
                .lock()
                .ok()
                .and_then(|o| o.get(from..).filter(|t| !t.is_empty()).map(str::to_string));
            if let Some(text) = new {
                let n = chunk_no.fetch_add(1, SeqCst);
                if let Err(e) = self.append_output(id, n, &text) {
                    tracing::warn!(run = id.get(), error = %e, "cannot store ansible output");
                } else {
                    persisted.store(from + text.len(), SeqCst);
                }
            }
        };
        let began: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let finish = |status: RunStatus, code: Option<i32>| {
            flush();
            let ms = began.get().map(|t| t.elapsed().as_millis() as u64);
            let mut ended = None;
            self.update_run(id, |r| {
                r.status = status;
                r.exit_code = code;
                r.finished_at = Some(crate::domain::model::now());
                ended = Some((r.user_id, r.project_id, r.playbook.clone()));
            });
            if let Some((user_id, project_id, playbook)) = ended
                && matches!(status, RunStatus::Succeeded | RunStatus::Failed)
            {
                self.events.publish(super::events::Event::AnsibleRun {
                    user_id,
                    run_id: id,
                    project_id,
                    playbook,
                    succeeded: status == RunStatus::Succeeded,
                });
            }
            if let Ok(mut m) = self.state.live.lock() {
                m.remove(&id);
            }
            // "\0done:<status>:<exit code or -1>:<duration ms or -1>"
            let _ = live.tx.send(format!(
                "\u{0}done:{status}:{}:{}",
                code.unwrap_or(-1),
                ms.map_or(-1, |m| m as i64)
            ));
            tracing::info!(
                run = id.get(),
                status = status.as_str(),
                code,
                "ansible run finished"
            );
        };
        let Some(_permit) = permit else {
            push("[aiops] cancelled before it started");
            finish(RunStatus::Cancelled, None);
            return;
        };
        self.update_run(id, |r| {
            r.status = RunStatus::Running;
            r.started_at = Some(crate::domain::model::now());
        });
        let _ = began.set(std::time::Instant::now());
        // Followers switch their badge to running now, before the first line comes.
        let _ = live.tx.send("\u{0}state:running".to_string());
        let env: Vec<(String, String)> = [
            ("ANSIBLE_NOCOLOR", "1"),
            ("ANSIBLE_FORCE_COLOR", "0"),
            ("PYTHONUNBUFFERED", "1"),
            ("ANSIBLE_STDOUT_CALLBACK", "default"),
            ("ANSIBLE_RETRY_FILES_ENABLED", "0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (program, argv) = match &jail {
            Some(j) => {
                let mut c = vec!["ansible-playbook".to_string()];
                c.extend(args.iter().cloned());
                j.argv(&c, Some(&cwd), true, &env, &[])
            }
            None => ("ansible-playbook".to_string(), args.clone()),
        };
        let mut cmd = tokio::process::Command::new(&program);
        if jail.is_some() {
            cmd.env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default());
        } else {
            cmd.envs(env.iter().map(|(k, v)| (k, v)));
        }
        cmd.args(&argv)
            .current_dir(&cwd)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = match crate::services::sandbox::spawn_owned(cmd).await {
            Ok(c) => c,
            Err(e) => {
                push(&format!(
                    "[aiops] cannot run ansible-playbook ({e}): install it (apt-get install ansible)"
                ));
                finish(RunStatus::Failed, None);
                return;
            }
        };
        if let Ok(mut p) = live.pid.lock() {
            *p = child.id();
        }
        let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
            finish(RunStatus::Failed, None);
            return;
        };
        let mut out = tokio::io::BufReader::new(out).lines();
        let mut err = tokio::io::BufReader::new(err).lines();
        let (mut out_done, mut err_done) = (false, false);
        let mut persist = tokio::time::interval(Duration::from_secs(1));
        let status = loop {
            tokio::select! {
                l = out.next_line(), if !out_done => match l {
                    Ok(Some(l)) => push(&l),
                    _ => out_done = true,
                },
                l = err.next_line(), if !err_done => match l {
                    Ok(Some(l)) => push(&l),
                    _ => err_done = true,
                },
                _ = persist.tick() => flush(),
                st = child.wait(), if out_done && err_done => break st,
                _ = live.cancel.notified() => {
                    kill_group(child.id(), libc::SIGTERM);
                    if tokio::time::timeout(Duration::from_secs(5), child.wait()).await.is_err() {
                        kill_group(child.id(), libc::SIGKILL);
                    }
                    let _ = child.wait().await;
                    push("[aiops] cancelled");
                    finish(RunStatus::Cancelled, None);
                    return;
                }
            }
        };
        let code = status.ok().and_then(|s| s.code());
        finish(
            if code == Some(0) {
                RunStatus::Succeeded
            } else {
                RunStatus::Failed
            },
            code,
        );
    }

    pub fn cancel_run(&self, caller: &Identity, id: RunId) -> AppResult<AnsibleRun> {
        caller.require(Scope::Write)?;
        let run = self.get_run(caller, id)?;
        if run.user_id != caller.id() && !caller.user.is_admin {
            let r = self.store.read()?;
            match run.project_id {
                Some(p) => {
                    project_for(&r, caller, p, Action::Work)?;
                }
                None => caller.require_admin()?,
            }
        }
        let live = self
            .state
            .live
            .lock()
            .ok()
            .and_then(|m| m.get(&id).cloned());
        match live {
            Some(l) => {
                l.cancel.notify_one();
                Ok(run)
            }
            None => Err(AppError::Conflict(format!(
                "Run {id} is not running (it is {})",
                run.status
            ))),
        }
    }

    pub fn get_run(&self, caller: &Identity, id: RunId) -> AppResult<AnsibleRun> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let g = Grants::load(&r, caller)?;
        let mut run: AnsibleRun = r
            .ansible_run(id)?
            .filter(|x: &AnsibleRun| run_visible(&r, &g, caller, x))
            .ok_or_else(|| AppError::NotFound(format!("Run {id} not found")))?;
        if run.output.is_empty() {
            run.output = r.ansible_output(id)?;
        }
        // A live run's newest output is in memory.
        if let Some(l) = self
            .state
            .live
            .lock()
            .ok()
            .and_then(|m| m.get(&id).cloned())
            && let Ok(o) = l.output.lock()
        {
            run.output = o.clone();
        }
        Ok(run)
    }

    pub fn list_runs(&self, caller: &Identity, limit: usize) -> AppResult<Vec<AnsibleRun>> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let g = Grants::load(&r, caller)?;
        let mut all = r.ansible_runs()?;
        all.retain(|x| run_visible(&r, &g, caller, x));
        all.reverse();
        all.truncate(limit.clamp(1, 500));
        for x in &mut all {
            x.output.clear();
        }
        Ok(all)
    }

    /// Recent runs with who started them, newest first: of one project (`Some`), or all the
    /// caller may see (`None`: admins also see the server's own runs).
    pub fn list_run_views(
        &self,
        caller: &Identity,
        project_id: Option<ProjectId>,
        limit: usize,
    ) -> AppResult<Vec<RunView>> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let g = Grants::load(&r, caller)?;
        let mut all = r.ansible_runs()?;
        all.retain(|x| {
            project_id.is_none_or(|p| x.project_id == Some(p)) && run_visible(&r, &g, caller, x)
        });
        all.reverse();
        all.truncate(limit.clamp(1, 500));
        let mut emails: HashMap<UserId, Option<String>> = HashMap::new();
        let mut out = Vec::with_capacity(all.len());
        for mut run in all {
            run.output.clear();
            let actor = match emails.get(&run.user_id) {
                Some(e) => e.clone(),
                None => {
                    let e = r.get_user(run.user_id)?.map(|u| u.email);
                    emails.insert(run.user_id, e.clone());
                    e
                }
            };
            out.push(RunView { run, actor });
        }
        Ok(out)
    }

    /// One run with who started it.
    pub fn get_run_view(&self, caller: &Identity, id: RunId) -> AppResult<RunView> {
        let run = self.get_run(caller, id)?;
        let r = self.store.read()?;
        let actor = r.get_user(run.user_id)?.map(|u| u.email);
        Ok(RunView { run, actor })
    }

    /// The output so far and, while running, a receiver for what comes next.
    pub fn follow_run(
        &self,
        caller: &Identity,
        id: RunId,
    ) -> AppResult<(AnsibleRun, Option<tokio::sync::broadcast::Receiver<String>>)> {
        let mut run = self.get_run(caller, id)?;
        let live = self
            .state
            .live
            .lock()
            .ok()
            .and_then(|m| m.get(&id).cloned());
        let rx = match live {
            Some(l) => match l.output.lock() {
                Ok(o) => {
                    run.output = o.clone();
                    Some(l.tx.subscribe())
                }
                Err(_) => None,
            },
            None => {
                // It may have finished meanwhile: read the stored run again.
                run = self.get_run(caller, id)?;
                None
            }
        };
        Ok((run, rx))
    }

    // ---- schedules -------------------------------------------------------------------------

    pub fn list_schedules(&self, caller: &Identity) -> AppResult<Vec<AnsibleSchedule>> {
        caller.require_admin()?;
        self.store.read()?.ansible_schedules()
    }

    pub fn add_schedule(
        &self,
        caller: &Identity,
        cron: &str,
        req: RunRequest,
    ) -> AppResult<AnsibleSchedule> {
        caller.require_admin()?;
        crate::domain::issues::cron_expression(cron).map_err(AppError::BadRequest)?;
        dom::playbook_path(&req.playbook).map_err(AppError::BadRequest)?;
        if req.inventory.is_none() && req.hosts.is_none() {
            return Err(AppError::BadRequest(
                "choose an inventory or enter hosts".into(),
            ));
        }
        let vars = dom::extra_vars(&req.extra_vars).map_err(AppError::BadRequest)?;
        let w = self.store.write()?;
        let s = AnsibleSchedule {
            id: w.new_ansible_schedule_id()?,
            cron: cron.trim().to_string(),
            playbook: req.playbook,
            project_id: req.project_id,
            inventory: req.inventory,
            hosts: req.hosts,
            extra_vars: vars,
            check: req.check,
            enabled: true,
            created_by: caller.id(),
            last_run_id: None,
            created_at: crate::domain::model::now(),
        };
        w.put_ansible_schedule(&s)?;
        w.commit()?;
        Ok(s)
    }

    pub fn delete_schedule(&self, caller: &Identity, id: ScheduleId) -> AppResult<()> {
        caller.require_admin()?;
        let w = self.store.write()?;
        if !w.delete_ansible_schedule(id)? {
            return Err(AppError::NotFound(format!("Schedule {id} not found")));
        }
        w.commit()?;
        Ok(())
    }

    /// Enabled schedules, their expressions and playbooks, for the scheduler.
    pub(crate) fn ansible_schedules_due_source(
        &self,
    ) -> AppResult<Vec<(ScheduleId, String, String)>> {
        let r = self.store.read()?;
        let all = r.ansible_schedules()?;
        Ok(all
            .into_iter()
            .filter(|s| s.enabled)
            .filter_map(|s| {
                crate::domain::issues::cron_expression(&s.cron)
                    .ok()
                    .map(|e| (s.id, e, s.playbook.clone()))
            })
            .collect())
    }

    /// Why a schedule's turn is skipped: its previous run (`last_run_id`) is still queued or
    /// running. A schedule never queues a second run behind its own (an every-second schedule
    /// of a slow playbook would pile them up otherwise).
    pub(crate) fn ansible_schedule_busy(
        &self,
        schedule_id: ScheduleId,
    ) -> AppResult<Option<String>> {
        let r = self.store.read()?;
        let Some(s) = r.ansible_schedule(schedule_id)? else {
            return Ok(None);
        };
        let Some(last) = s.last_run_id else {
            return Ok(None);
        };
        Ok(r.ansible_run(last)?
            .filter(|run| run.status.is_live())
            .map(|run| {
                format!(
                    "skipped: previous run #{last} still {} (wait for it, or cancel it: aiops ansible cancel {last})",
                    run.status
                )
            }))
    }

    /// Start a schedule's run now, as the schedule's creator (administrators, or the system
    /// caller for the scheduler). Refused (409) while its previous run is queued or running.
    pub async fn run_ansible_schedule(
        self: &Arc<Self>,
        caller: &Identity,
        schedule_id: ScheduleId,
    ) -> AppResult<RunId> {
        caller.require_admin()?;
        if let Some(why) = self.ansible_schedule_busy(schedule_id)? {
            return Err(AppError::Conflict(format!("Schedule {schedule_id}: {why}")));
        }
        let (s, user): (AnsibleSchedule, User) = {
            let r = self.store.read()?;
            let s: AnsibleSchedule = r
                .ansible_schedule(schedule_id)?
                .ok_or_else(|| AppError::NotFound(format!("Schedule {schedule_id} not found")))?;
            let u: User = r.get_user(s.created_by)?.ok_or_else(|| {
                AppError::NotFound(format!(
                    "The user who made schedule {schedule_id} no longer exists"
                ))
            })?;
            (s, u)
        };
        if let Some(p) = s.project_id {
            let r = self.store.read()?;
            let _: Project = r
                .get_project(p)?
                .ok_or_else(|| AppError::NotFound(format!("Project {p} not found")))?;
        }
        let who = Identity::from_session(user, String::new());
        let run = self.start_playbook(
            &who,
            RunRequest {
                playbook: s.playbook.clone(),
                project_id: s.project_id,
                inventory: s.inventory.clone(),
                hosts: s.hosts.clone(),
                extra_vars: s.extra_vars.clone().unwrap_or(Value::Null),
                check: s.check,
                limit: None,
                tags: None,
            },
        )?;
        crate::store::run_blocking(|| -> AppResult<()> {
            let w = self.store.write()?;
            if let Some(mut r) = w.ansible_run(run.id)? {
                r.schedule_id = Some(schedule_id);
                w.put_ansible_run(&r)?;
            }
            if let Some(mut sc) = w.ansible_schedule(schedule_id)? {
                sc.last_run_id = Some(run.id);
                w.put_ansible_schedule(&sc)?;
            }
            w.commit()
        })?;
        Ok(run.id)
    }
}

/// `base/rel` when it is a file whose real path (symlinks resolved) stays inside `base`.
fn confine(base: &Path, rel: &Path) -> Option<PathBuf> {
    let root = base.canonicalize().ok()?;
    let real = root.join(rel).canonicalize().ok()?;
    (real.starts_with(&root) && real.is_file()).then_some(real)
}

/// A run is seen by its user, by admins and, for a project playbook, by the project's members;
/// a session key sees only runs of its project.
fn run_visible(r: &crate::store::ReadTxn, g: &Grants, caller: &Identity, run: &AnsibleRun) -> bool {
    let of_project = run.project_id.is_some_and(|p| {
        r.get_project(p)
            .ok()
            .flatten()
            .is_some_and(|p| g.project_role(&p).is_some())
    });
    match caller.project_limit() {
        Some(_) => of_project,
        None => run.user_id == caller.id() || caller.user.is_admin || of_project,
    }
}

/// Signal the playbook's whole process group (it was started as the group's leader).
fn kill_group(pid: Option<u32>, signal: libc::c_int) {
    if let Some(pid) = pid.and_then(|p| libc::pid_t::try_from(p).ok()) {
        // SAFETY: kill takes plain integers; a negative pid names the process group.
        unsafe { libc::kill(-pid, signal) };
    }
}
