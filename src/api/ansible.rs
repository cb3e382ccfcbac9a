//! Ansible: playbooks, inventories, runs (queued at once, followed live over
//! `/streams/ansible/runs/{id}`), cancel, and schedules.

use super::common::{Accepted, AppRef, Created, R};
use super::gate::Auth;
use super::strict::{Str, opt};
use crate::domain::{AnsibleRun, AnsibleSchedule, Timestamp};
use crate::services::ansible::RunRequest;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};
use serde_json::Value;

#[derive(Tags)]
enum Tag {
    /// Ansible playbooks run by the server, with live output
    Ansible,
}

#[derive(Object)]
pub struct PlaybookObj {
    /// system (the server's playbook directory) or project (the project's repository)
    pub source: String,
    #[oai(nullable)]
    pub project_id: Option<u64>,
    pub name: String,
}

#[derive(Object)]
pub struct PlaybooksEnvelope {
    pub playbooks: Vec<PlaybookObj>,
    pub count: usize,
}

#[derive(Object)]
pub struct InventoriesEnvelope {
    pub inventories: Vec<String>,
    pub count: usize,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct RunBody {
    #[oai(validator(max_length = 512))]
    pub playbook: Str,
    /// A project's playbook, run in your workspace checkout; absent: the server's playbooks.
    pub project_id: Option<u64>,
    /// An inventory name from GET /ansible/inventories.
    #[oai(validator(max_length = 512))]
    pub inventory: Option<Str>,
    /// Hosts instead of an inventory: `web1,web2` (localhost runs with a local connection).
    #[oai(validator(max_length = 4096))]
    pub hosts: Option<Str>,
    /// An object, JSON text, or `key=value` words.
    pub extra_vars: Option<Value>,
    /// Check mode (`--check`): report what would change.
    pub check: Option<bool>,
    #[oai(validator(max_length = 512))]
    pub limit: Option<Str>,
    #[oai(validator(max_length = 512))]
    pub tags: Option<Str>,
}

#[derive(Object)]
pub struct RunObj {
    pub id: u64,
    pub user_id: u64,
    #[oai(nullable)]
    pub project_id: Option<u64>,
    pub playbook: String,
    pub inventory: String,
    #[oai(nullable)]
    pub extra_vars: Option<Value>,
    pub check: bool,
    /// The arguments given to ansible-playbook.
    pub args: Vec<String>,
    /// queued, running, succeeded, failed, cancelled
    pub status: String,
    #[oai(nullable)]
    pub exit_code: Option<i32>,
    #[oai(nullable)]
    pub schedule_id: Option<u64>,
    pub created_at: Timestamp,
    #[oai(nullable)]
    pub started_at: Option<Timestamp>,
    #[oai(nullable)]
    pub finished_at: Option<Timestamp>,
    /// The output (single-run answers only).
    #[oai(skip_serializing_if_is_none)]
    pub output: Option<String>,
}

fn run_obj(r: AnsibleRun, with_output: bool) -> RunObj {
    RunObj {
        id: r.id.get(),
        user_id: r.user_id.get(),
        project_id: r.project_id.map(u64::from),
        playbook: r.playbook,
        inventory: r.inventory,
        extra_vars: r.extra_vars,
        check: r.check,
        args: r.args,
        status: r.status.as_str().to_string(),
        exit_code: r.exit_code,
        schedule_id: r.schedule_id.map(u64::from),
        created_at: r.created_at,
        started_at: r.started_at,
        finished_at: r.finished_at,
        output: with_output.then_some(r.output),
    }
}

#[derive(Object)]
pub struct RunEnvelope {
    pub run: RunObj,
    /// Where to follow the output live (server-sent events).
    pub stream: String,
}

#[derive(Object)]
pub struct RunsEnvelope {
    pub runs: Vec<RunObj>,
    pub count: usize,
}

#[derive(Object)]
pub struct RunOutput {
    pub id: u64,
    pub status: String,
    #[oai(nullable)]
    pub exit_code: Option<i32>,
    /// Output from `offset` on.
    pub output: String,
    /// Pass this as `offset` next time.
    pub next_offset: usize,
    pub done: bool,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ScheduleBody {
    /// Cron expression (5 fields, or 6 with seconds first).
    #[oai(validator(max_length = 200))]
    pub cron: Str,
    #[oai(validator(max_length = 512))]
    pub playbook: Str,
    pub project_id: Option<u64>,
    #[oai(validator(max_length = 512))]
    pub inventory: Option<Str>,
    #[oai(validator(max_length = 4096))]
    pub hosts: Option<Str>,
    pub extra_vars: Option<Value>,
    pub check: Option<bool>,
}

#[derive(Object)]
pub struct AnsibleScheduleObj {
    pub id: u64,
    pub cron: String,
    pub playbook: String,
    #[oai(nullable)]
    pub project_id: Option<u64>,
    #[oai(nullable)]
    pub inventory: Option<String>,
    #[oai(nullable)]
    pub hosts: Option<String>,
    #[oai(nullable)]
    pub extra_vars: Option<Value>,
    pub check: bool,
    pub enabled: bool,
    pub created_by: u64,
    #[oai(nullable)]
    pub last_run_id: Option<u64>,
    pub created_at: Timestamp,
}

fn ansible_schedule_obj(s: AnsibleSchedule) -> AnsibleScheduleObj {
    AnsibleScheduleObj {
        id: s.id.get(),
        cron: s.cron,
        playbook: s.playbook,
        project_id: s.project_id.map(u64::from),
        inventory: s.inventory,
        hosts: s.hosts,
        extra_vars: s.extra_vars,
        check: s.check,
        enabled: s.enabled,
        created_by: s.created_by.get(),
        last_run_id: s.last_run_id.map(u64::from),
        created_at: s.created_at,
    }
}

#[derive(Object)]
pub struct SchedulesEnvelope {
    pub schedules: Vec<AnsibleScheduleObj>,
    pub count: usize,
}

#[derive(Object)]
pub struct AnsibleMessage {
    pub message: String,
}

pub struct AnsibleApi;

#[OpenApi(tag = "Tag::Ansible")]
impl AnsibleApi {
    /// Playbooks you may run: the server's (admins), or a project's (`project_id`, its owner).
    #[oai(path = "/ansible/playbooks", method = "get")]
    async fn playbooks(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        project_id: Query<Option<u64>>,
    ) -> R<Json<PlaybooksEnvelope>> {
        let list: Vec<PlaybookObj> = app
            .ansible
            .list_playbooks(auth.identity(), project_id.0.map(Into::into))?
            .into_iter()
            .map(|p| PlaybookObj {
                source: p.source,
                project_id: p.project_id.map(u64::from),
                name: p.name,
            })
            .collect();
        Ok(Json(PlaybooksEnvelope {
            count: list.len(),
            playbooks: list,
        }))
    }

    /// Inventory files (the server's, or a project's).
    #[oai(path = "/ansible/inventories", method = "get")]
    async fn inventories(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        project_id: Query<Option<u64>>,
    ) -> R<Json<InventoriesEnvelope>> {
        let list = app
            .ansible
            .list_inventories(auth.identity(), project_id.0.map(Into::into))?;
        Ok(Json(InventoriesEnvelope {
            count: list.len(),
            inventories: list,
        }))
    }

    /// Start a run: answered at once (202) with the queued run; follow its output live at
    /// `/streams/ansible/runs/{id}` or poll `/ansible/runs/{id}/output`.
    #[oai(path = "/ansible/runs", method = "post")]
    async fn run(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<RunBody>,
    ) -> R<Accepted<RunEnvelope>> {
        let b = body.0;
        let run = app.ansible.start_playbook(
            auth.identity(),
            RunRequest {
                playbook: b.playbook.0,
                project_id: b.project_id.map(Into::into),
                inventory: opt(b.inventory),
                hosts: opt(b.hosts),
                extra_vars: b.extra_vars.unwrap_or(Value::Null),
                check: b.check.unwrap_or(false),
                limit: opt(b.limit),
                tags: opt(b.tags),
            },
        )?;
        Ok(Accepted::Accepted(Json(RunEnvelope {
            stream: format!("/streams/ansible/runs/{}", run.id),
            run: run_obj(run, false),
        })))
    }

    /// Your runs, newest first (admins: everyone's).
    #[oai(path = "/ansible/runs", method = "get")]
    async fn runs(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        limit: Query<Option<usize>>,
    ) -> R<Json<RunsEnvelope>> {
        let runs: Vec<RunObj> = app
            .ansible
            .list_runs(auth.identity(), limit.0.unwrap_or(50))?
            .into_iter()
            .map(|r| run_obj(r, false))
            .collect();
        Ok(Json(RunsEnvelope {
            count: runs.len(),
            runs,
        }))
    }

    /// One run with its full output.
    #[oai(path = "/ansible/runs/:id", method = "get")]
    async fn run_get(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<RunEnvelope>> {
        let r = app.ansible.get_run(auth.identity(), id.0.into())?;
        Ok(Json(RunEnvelope {
            stream: format!("/streams/ansible/runs/{}", r.id),
            run: run_obj(r, true),
        }))
    }

    /// The output from `offset` (bytes) on, for polling clients.
    #[oai(path = "/ansible/runs/:id/output", method = "get")]
    async fn run_output(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        offset: Query<Option<usize>>,
    ) -> R<Json<RunOutput>> {
        let r = app.ansible.get_run(auth.identity(), id.0.into())?;
        let from = offset.0.unwrap_or(0).min(r.output.len());
        let from = (0..=from)
            .rev()
            .find(|i| r.output.is_char_boundary(*i))
            .unwrap_or(0);
        Ok(Json(RunOutput {
            id: r.id.get(),
            done: r.status.is_terminal(),
            status: r.status.as_str().to_string(),
            exit_code: r.exit_code,
            next_offset: r.output.len(),
            output: r.output[from..].to_string(),
        }))
    }

    /// Stop a queued or running run (the whole ansible-playbook process group).
    #[oai(path = "/ansible/runs/:id/cancel", method = "post")]
    async fn cancel(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Json<AnsibleMessage>> {
        app.ansible.cancel_run(auth.identity(), id.0.into())?;
        Ok(Json(AnsibleMessage {
            message: format!("Run {} is being cancelled", id.0),
        }))
    }

    /// Scheduled playbook runs (admins).
    #[oai(path = "/ansible/schedules", method = "get")]
    async fn schedules(&self, app: AppRef<'_>, auth: Auth) -> R<Json<SchedulesEnvelope>> {
        let list: Vec<AnsibleScheduleObj> = app
            .ansible
            .list_schedules(auth.identity())?
            .into_iter()
            .map(ansible_schedule_obj)
            .collect();
        Ok(Json(SchedulesEnvelope {
            count: list.len(),
            schedules: list,
        }))
    }

    #[oai(path = "/ansible/schedules", method = "post")]
    async fn schedule_add(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<ScheduleBody>,
    ) -> R<Created<AnsibleScheduleObj>> {
        let b = body.0;
        let s = app.ansible.add_schedule(
            auth.identity(),
            &b.cron.0,
            RunRequest {
                playbook: b.playbook.0,
                project_id: b.project_id.map(Into::into),
                inventory: opt(b.inventory),
                hosts: opt(b.hosts),
                extra_vars: b.extra_vars.unwrap_or(Value::Null),
                check: b.check.unwrap_or(false),
                limit: None,
                tags: None,
            },
        )?;
        Ok(Created::Created(Json(ansible_schedule_obj(s))))
    }

    #[oai(path = "/ansible/schedules/:id", method = "delete")]
    async fn schedule_delete(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
    ) -> R<Json<AnsibleMessage>> {
        app.ansible.delete_schedule(auth.identity(), id.0.into())?;
        Ok(Json(AnsibleMessage {
            message: format!("Schedule {} deleted", id.0),
        }))
    }

    /// Run a schedule now (as its creator).
    #[oai(path = "/ansible/schedules/:id/run", method = "post")]
    async fn schedule_run(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
    ) -> R<Accepted<RunEnvelope>> {
        let run_id = app
            .ansible
            .run_ansible_schedule(auth.identity(), id.0.into())
            .await?;
        let r = app.ansible.get_run(auth.identity(), run_id)?;
        Ok(Accepted::Accepted(Json(RunEnvelope {
            stream: format!("/streams/ansible/runs/{run_id}"),
            run: run_obj(r, false),
        })))
    }
}
