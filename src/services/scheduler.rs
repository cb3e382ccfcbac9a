//! The one in-process scheduler: issue syncs (per integration), backups, and scheduled Ansible
//! playbooks, each on its cron expression (5-field crontab, or 6 fields with seconds).
//!
//! - One task ticks twice a second (`TICK`) and starts due jobs as their own tasks; a job still
//!   running when it is due again is skipped for that turn (never two copies of one job).
//! - Missed runs: each job's last start is stored. After downtime, a job whose next time after
//!   its last start has passed runs **once** soon after start, however many times were missed.
//!   A job never run before is not caught up.
//! - Shutdown: no new job starts; running jobs get up to 30 s to finish, then are stopped
//!   (a sync or backup cut short leaves no partial state, see `sync` and `backup`).
//! - Next and last runs are on the board (`App::jobs`) for `system status` and the UI; a job
//!   removed from the schedule while it runs stays there (`running`) until it ends.
//! - Time comes from the `Clock` the loop is given: the wall clock in production, tokio's
//!   (pausable) clock in tests, so the timing rules above are tested in virtual time. What is
//!   scheduled comes from a `JobSource`: the `App` in production, a fake in tests.

use super::App;
use crate::domain::issues::{DEFAULT_SYNC_CRON, cron_expression};
use crate::domain::{Id, ScheduleId, TenantIntegration};
use crate::error::AppResult;
use crate::services::ansible::Ansible;
use crate::services::audit::Audit;
use crate::services::backup::Backups;
use crate::services::integrations::Trackers;
use crate::store::Store;
use crate::store::integrations::IntegrationReads;
use chrono::{DateTime, DurationRound, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

const LAST_RUNS_SETTING: &str = "scheduler.last_runs";

/// How often the slow status checks run in the background.
pub const PROBE_EVERY: Duration = Duration::from_secs(60);

/// How often the loop looks for due jobs.
const TICK: Duration = Duration::from_millis(500);

/// Where the scheduler reads the time.
#[derive(Debug, Clone)]
pub enum Clock {
    /// The wall clock (`model::now`): production.
    System,
    /// `start` plus the time tokio's clock has moved since this clock was made. Under
    /// `tokio::time::pause()` that time moves only when the runtime advances it (virtual time),
    /// so hours of schedule take milliseconds and every turn is deterministic.
    Tokio {
        start: DateTime<Utc>,
        at: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock reading `start` now and moving with tokio's clock from here.
    pub fn tokio_from(start: DateTime<Utc>) -> Clock {
        Clock::Tokio {
            start,
            at: tokio::time::Instant::now(),
        }
    }
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => crate::domain::model::now(),
            Clock::Tokio { start, at } => {
                let gone =
                    chrono::Duration::from_std(at.elapsed()).unwrap_or(chrono::Duration::MAX);
                start
                    .checked_add_signed(gone)
                    .unwrap_or(*start)
                    .duration_trunc(chrono::Duration::microseconds(1))
                    .unwrap_or(*start)
            }
        }
    }
}

/// What the scheduler schedules and where it keeps its records: the `App` in production, a
/// fake in tests.
pub trait JobSource: Send + Sync + 'static {
    /// Every scheduled job now: its kind, its expression (scheduler form) and its name.
    fn current_jobs(&self) -> AppResult<Vec<(JobKind, String, String)>>;
    /// Each job's last start, as recorded by `save_last_run` (empty when unreadable).
    fn load_last_runs(&self) -> HashMap<String, DateTime<Utc>>;
    /// Record a job's start (failures are logged, not fatal).
    fn save_last_run(&self, key: &str, at: DateTime<Utc>);
    /// Run one job to its end: a short result, or what went wrong.
    fn run_job(&self, kind: &JobKind) -> impl Future<Output = Result<String, String>> + Send;
    /// The board the scheduler keeps its view of the jobs on.
    fn board(&self) -> &JobBoard;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobKind {
    Sync(Id),
    Backup,
    Ansible(ScheduleId),
    /// Hourly: the audit log's retention (days and row cap).
    AuditRetention,
}

impl JobKind {
    pub fn key(&self) -> String {
        match self {
            JobKind::Sync(i) => format!("sync:{i}"),
            JobKind::Backup => "backup".into(),
            JobKind::Ansible(i) => format!("ansible:{i}"),
            JobKind::AuditRetention => "audit-retention".into(),
        }
    }
    /// The job as people name it: "Issue sync of integration acme-gh", not `sync:1`.
    /// `subject` is the integration's name or the schedule's playbook, when known.
    pub fn display_name(&self, subject: Option<&str>) -> String {
        match (self, subject) {
            (JobKind::Sync(_), Some(n)) => format!("Issue sync of integration {n}"),
            (JobKind::Sync(i), None) => format!("Issue sync of integration #{i}"),
            (JobKind::Backup, _) => "Scheduled backup".into(),
            (JobKind::Ansible(i), Some(p)) => format!("Scheduled playbook {p} (schedule #{i})"),
            (JobKind::Ansible(i), None) => format!("Scheduled playbook (schedule #{i})"),
            (JobKind::AuditRetention, _) => "Audit log retention".into(),
        }
    }
    fn label(&self) -> &'static str {
        match self {
            JobKind::Sync(_) => "issue sync",
            JobKind::Backup => "backup",
            JobKind::Ansible(_) => "ansible playbook",
            JobKind::AuditRetention => "audit log retention",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct JobInfo {
    pub key: String,
    /// What people call it (see `JobKind::display_name`).
    pub name: String,
    pub kind: String,
    /// The expression as the scheduler reads it (6 fields, seconds first).
    pub cron: String,
    pub next_run: Option<DateTime<Utc>>,
    pub last_run: Option<DateTime<Utc>>,
    pub last_result: Option<String>,
    /// Failed runs in a row (0 after a success).
    pub failures: u32,
    pub running: bool,
}

#[derive(Default)]
pub struct JobBoard {
    jobs: std::sync::Mutex<BTreeMap<String, JobInfo>>,
    /// The last results of the slow status checks (see `App::refresh_probes`).
    pub probes: std::sync::Mutex<Option<Arc<crate::services::system::Probes>>>,
    /// Held while the checks run: concurrent refreshes wait for one run instead of each
    /// spawning their own.
    pub probing: tokio::sync::Mutex<()>,
}

impl JobBoard {
    pub fn snapshot(&self) -> Vec<JobInfo> {
        self.jobs
            .lock()
            .map(|j| j.values().cloned().collect())
            .unwrap_or_default()
    }
    fn update(&self, key: &str, f: impl FnOnce(&mut JobInfo)) {
        if let Ok(mut j) = self.jobs.lock()
            && let Some(info) = j.get_mut(key)
        {
            f(info);
        }
    }
}

/// What the scheduled jobs run: syncs, playbook schedules, backups, audit pruning.
pub struct Scheduler {
    pub(crate) store: Arc<Store>,
    pub(crate) jobs: Arc<JobBoard>,
    pub(crate) trackers: Arc<Trackers>,
    pub(crate) ansible: Arc<Ansible>,
    pub(crate) backups: Arc<Backups>,
    pub(crate) audit: Arc<Audit>,
}

impl Scheduler {
    /// The scheduler's jobs with their next and last runs (administrators).
    pub fn scheduled_jobs(&self, caller: &crate::auth::Identity) -> AppResult<Vec<JobInfo>> {
        caller.require_admin()?;
        Ok(self.jobs.snapshot())
    }
}

pub fn next_after(expr: &str, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron::Schedule::from_str(expr).ok()?.after(&t).next()
}

/// The missed-run rule: a job last started at `last` is owed one run when its next time after
/// `last` is already past.
pub fn missed(expr: &str, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last.and_then(|l| next_after(expr, l))
        .is_some_and(|n| n <= now)
}

impl JobSource for Scheduler {
    fn current_jobs(&self) -> AppResult<Vec<(JobKind, String, String)>> {
        let app = self;
        let mut out = Vec::new();
        {
            let r = app.store.read()?;
            let all: Vec<TenantIntegration> = r.integrations()?;
            for i in all.into_iter().filter(|i| i.enabled) {
                let expr = match i.sync_cron.as_deref().map(str::trim) {
                    Some("off") => continue,
                    Some(c) if !c.is_empty() => c.to_string(),
                    _ => DEFAULT_SYNC_CRON.to_string(),
                };
                if let Ok(e) = cron_expression(&expr) {
                    let kind = JobKind::Sync(i.id.get());
                    let name = kind.display_name(Some(&i.name));
                    out.push((kind, e, name));
                }
            }
        }
        if let Some(c) = app
            .backups
            .backup_schedule(&crate::auth::Identity::system())?
            .cron
            && let Ok(e) = cron_expression(&c)
        {
            out.push((JobKind::Backup, e, JobKind::Backup.display_name(None)));
        }
        for (id, expr, playbook) in app.ansible.ansible_schedules_due_source()? {
            let kind = JobKind::Ansible(id);
            let name = kind.display_name(Some(&playbook));
            out.push((kind, expr, name));
        }
        out.push((
            JobKind::AuditRetention,
            "0 17 * * * *".to_string(),
            JobKind::AuditRetention.display_name(None),
        ));
        Ok(out)
    }

    fn load_last_runs(&self) -> HashMap<String, DateTime<Utc>> {
        let app = self;
        (|| -> AppResult<HashMap<String, DateTime<Utc>>> {
            let r = app.store.read()?;
            Ok(r.setting(LAST_RUNS_SETTING)?.unwrap_or_default())
        })()
        .unwrap_or_default()
    }

    fn save_last_run(&self, key: &str, at: DateTime<Utc>) {
        let app = self;
        let res = (|| -> AppResult<()> {
            let w = app.store.write()?;
            let mut map: HashMap<String, DateTime<Utc>> =
                w.setting(LAST_RUNS_SETTING)?.unwrap_or_default();
            map.insert(key.to_string(), at);
            w.put_setting(LAST_RUNS_SETTING, &map)?;
            w.commit()?;
            Ok(())
        })();
        if let Err(e) = res {
            tracing::warn!(job = key, error = %e, "cannot record the job's run");
        }
    }

    async fn run_job(&self, kind: &JobKind) -> Result<String, String> {
        let app = self;
        match kind {
            JobKind::Sync(id) => {
                let req = crate::services::sync::SyncRequest {
                    integration_id: Some((*id).into()),
                    ..Default::default()
                };
                let results = app
                    .trackers
                    .sync_links(
                        &crate::auth::Identity::system(),
                        &req,
                        crate::domain::SyncTrigger::Scheduled,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                let failed = results.iter().filter(|o| o.error.is_some()).count();
                if failed > 0 {
                    Err(format!("{failed} of {} links failed", results.len()))
                } else {
                    Ok(format!("{} links synced", results.len()))
                }
            }
            JobKind::AuditRetention => {
                crate::store::run_blocking(|| app.audit.apply_audit_retention())
                    .map(|n| format!("{n} old audit entries removed"))
                    .map_err(|e| e.to_string())
            }
            JobKind::Backup => app
                .backups
                .run_scheduled_backup()
                .await
                .map(|b| format!("backup #{} ({} bytes)", b.id, b.size_bytes))
                .map_err(|e| e.to_string()),
            JobKind::Ansible(id) => {
                // A previous run still queued or running: this turn is skipped, nothing queued.
                if let Some(why) = app
                    .ansible
                    .ansible_schedule_busy(*id)
                    .map_err(|e| e.to_string())?
                {
                    tracing::info!(job = %kind.key(), "{why}");
                    return Ok(why);
                }
                app.ansible
                    .run_ansible_schedule(&crate::auth::Identity::system(), *id)
                    .await
                    .map(|run| format!("run #{run} started"))
                    .map_err(|e| e.to_string())
            }
        }
    }

    fn board(&self) -> &JobBoard {
        &self.jobs
    }
}

/// Start the scheduler; it stops when `stop` turns true (then waits for running jobs).
pub fn spawn(
    app: Arc<App>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    // The slow status checks (tool versions, the sandbox probe, the data dir's size): at
    // start and every PROBE_EVERY, so that `system status` answers from their last results.
    let probe_app = app.clone();
    let mut probe_stop = stop.clone();
    tokio::spawn(async move {
        loop {
            probe_app.system.refresh_probes().await;
            tokio::select! {
                _ = tokio::time::sleep(PROBE_EVERY) => {}
                _ = probe_stop.changed() => break,
            }
            if *probe_stop.borrow() {
                break;
            }
        }
    });
    spawn_with(app.scheduler.clone(), Clock::System, stop)
}

/// The scheduling loop alone, over any `JobSource`, reading time from `clock`; it stops when
/// `stop` turns true (then waits up to 30 s for running jobs).
pub fn spawn_with<S: JobSource>(
    app: Arc<S>,
    clock: Clock,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_runs = app.load_last_runs();
        // key -> (expression, next due time)
        let mut plan: HashMap<String, (String, DateTime<Utc>)> = HashMap::new();
        let mut running: tokio::task::JoinSet<(String, Result<String, String>)> =
            tokio::task::JoinSet::new();
        let mut busy: std::collections::HashSet<String> = Default::default();
        let mut tick = tokio::time::interval(TICK);
        let mut first = true;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
                Some(done) = running.join_next(), if !running.is_empty() => {
                    if let Ok((key, res)) = done {
                        busy.remove(&key);
                        match &res {
                            Ok(m) => tracing::info!(job = %key, result = %m, "scheduled job done"),
                            Err(e) => tracing::warn!(job = %key, error = %e, "scheduled job failed"),
                        }
                        // Taken off the schedule while it ran: it leaves the board now.
                        if !plan.contains_key(&key)
                            && let Ok(mut board) = app.board().jobs.lock()
                        {
                            board.remove(&key);
                        }
                        app.board().update(&key, |j| {
                            j.running = false;
                            j.failures = if res.is_ok() { 0 } else { j.failures.saturating_add(1) };
                            j.last_result = Some(match res {
                                Ok(m) => m,
                                Err(e) => format!("failed: {e}"),
                            });
                        });
                    }
                    continue;
                }
            }
            if *stop.borrow() {
                break;
            }
            let now = clock.now();
            let current = match app.current_jobs() {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "scheduler cannot read its jobs");
                    continue;
                }
            };
            let keys: std::collections::HashSet<String> =
                current.iter().map(|(k, _, _)| k.key()).collect();
            plan.retain(|k, _| keys.contains(k));
            if let Ok(mut board) = app.board().jobs.lock() {
                board.retain(|k, j| keys.contains(k) || j.running);
            }
            let mut due = Vec::new();
            for (kind, expr, name) in current {
                let key = kind.key();
                match plan.get(&key) {
                    Some((e, next)) if *e == expr => {
                        if *next <= now {
                            due.push((kind, expr));
                        }
                        // An integration renamed meanwhile.
                        app.board().update(&key, |j| {
                            if j.name != name {
                                j.name = name;
                            }
                        });
                    }
                    _ => {
                        let catch_up = first && missed(&expr, last_runs.get(&key).copied(), now);
                        if let Some(next) = next_after(&expr, now) {
                            plan.insert(key.clone(), (expr.clone(), next));
                        }
                        if catch_up {
                            tracing::info!(job = %key, "running a job missed while aiops was down");
                            due.push((kind.clone(), expr.clone()));
                        }
                        if let Ok(mut board) = app.board().jobs.lock() {
                            let e = board.entry(key.clone()).or_insert_with(|| JobInfo {
                                key: key.clone(),
                                name: name.clone(),
                                kind: kind.label().into(),
                                cron: expr.clone(),
                                next_run: None,
                                last_run: last_runs.get(&key).copied(),
                                last_result: None,
                                failures: 0,
                                running: false,
                            });
                            e.cron = expr.clone();
                            e.name = name.clone();
                            e.next_run = plan.get(&key).map(|(_, n)| *n);
                        }
                    }
                }
            }
            first = false;
            for (kind, expr) in due {
                let key = kind.key();
                if let Some(n) = next_after(&expr, clock.now()) {
                    plan.insert(key.clone(), (expr, n));
                }
                let next = plan.get(&key).map(|(_, n)| *n);
                if busy.contains(&key) {
                    tracing::warn!(job = %key, "still running: this turn is skipped");
                    app.board().update(&key, |j| j.next_run = next);
                    continue;
                }
                let at = clock.now();
                last_runs.insert(key.clone(), at);
                app.save_last_run(&key, at);
                app.board().update(&key, |j| {
                    j.running = true;
                    j.last_run = Some(at);
                    j.next_run = next;
                });
                busy.insert(key.clone());
                let app2 = app.clone();
                running.spawn(async move {
                    let res = app2.run_job(&kind).await;
                    (key, res)
                });
            }
        }
        if !running.is_empty() {
            tracing::info!(jobs = running.len(), "waiting for scheduled jobs to finish");
            let wait = async { while running.join_next().await.is_some() {} };
            if tokio::time::timeout(Duration::from_secs(30), wait)
                .await
                .is_err()
            {
                tracing::warn!("scheduled jobs still running after 30 s: stopped");
                running.abort_all();
            }
        }
        tracing::info!("scheduler stopped");
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, h, m, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn missed_runs_are_owed_once() {
        let hourly = cron_expression("0 * * * *").unwrap();
        // Last ran 10:00, now 10:30: nothing owed.
        assert!(!missed(&hourly, Some(t(10, 0)), t(10, 30)));
        // Last ran 10:00, down until 13:30: owed (one run, however many were missed).
        assert!(missed(&hourly, Some(t(10, 0)), t(13, 30)));
        // Never ran: nothing owed.
        assert!(!missed(&hourly, None, t(13, 30)));
    }

    /// A `JobSource` whose jobs take `takes` (virtual time) and record when they start.
    struct FakeJobs {
        jobs: std::sync::Mutex<Vec<(JobKind, String, String)>>,
        last: std::sync::Mutex<HashMap<String, DateTime<Utc>>>,
        starts: std::sync::Mutex<Vec<DateTime<Utc>>>,
        running: std::sync::atomic::AtomicUsize,
        most_at_once: std::sync::atomic::AtomicUsize,
        takes: Duration,
        clock: Clock,
        board: JobBoard,
    }

    impl JobSource for FakeJobs {
        fn current_jobs(&self) -> AppResult<Vec<(JobKind, String, String)>> {
            Ok(self.jobs.lock().unwrap().clone())
        }
        fn load_last_runs(&self) -> HashMap<String, DateTime<Utc>> {
            self.last.lock().unwrap().clone()
        }
        fn save_last_run(&self, key: &str, at: DateTime<Utc>) {
            self.last.lock().unwrap().insert(key.to_string(), at);
        }
        async fn run_job(&self, _kind: &JobKind) -> Result<String, String> {
            use std::sync::atomic::Ordering::SeqCst;
            self.starts.lock().unwrap().push(self.clock.now());
            let n = self.running.fetch_add(1, SeqCst) + 1;
            self.most_at_once.fetch_max(n, SeqCst);
            tokio::time::sleep(self.takes).await;
            self.running.fetch_sub(1, SeqCst);
            Ok("done".into())
        }
        fn board(&self) -> &JobBoard {
            &self.board
        }
    }

    fn at(h: u32, m: u32, sec: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, h, m, sec)
            .single()
            .unwrap_or_default()
    }

    /// The scheduler over one every-minute backup job, in virtual time from 10:00:30.
    fn every_minute(
        takes: Duration,
        last_run: Option<DateTime<Utc>>,
    ) -> (
        Arc<FakeJobs>,
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    ) {
        let clock = Clock::tokio_from(at(10, 0, 30));
        let expr = cron_expression("* * * * *").unwrap();
        let fake = Arc::new(FakeJobs {
            jobs: std::sync::Mutex::new(vec![(JobKind::Backup, expr, "Scheduled backup".into())]),
            last: std::sync::Mutex::new(
                last_run
                    .map(|t| (JobKind::Backup.key(), t))
                    .into_iter()
                    .collect(),
            ),
            starts: Default::default(),
            running: Default::default(),
            most_at_once: Default::default(),
            takes,
            clock: clock.clone(),
            board: Default::default(),
        });
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let handle = spawn_with(fake.clone(), clock, stop_rx);
        (fake, stop_tx, handle)
    }

    fn starts(f: &FakeJobs) -> Vec<DateTime<Utc>> {
        f.starts.lock().unwrap().clone()
    }

    async fn stop(tx: tokio::sync::watch::Sender<bool>, h: tokio::task::JoinHandle<()>) {
        tx.send(true).unwrap();
        h.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_due_every_minute_runs_once_a_minute_on_the_minute() {
        let (fake, tx, h) = every_minute(Duration::from_secs(1), None);
        tokio::time::sleep(Duration::from_secs(5 * 60 + 10)).await;
        assert_eq!(
            starts(&fake),
            (1..=5).map(|m| at(10, m, 0)).collect::<Vec<_>>()
        );
        let board = fake.board.snapshot();
        assert_eq!(board.len(), 1);
        assert_eq!(board[0].last_run, Some(at(10, 5, 0)));
        assert_eq!(board[0].next_run, Some(at(10, 6, 0)));
        assert_eq!(board[0].last_result.as_deref(), Some("done"));
        assert!(!board[0].running);
        stop(tx, h).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_still_running_when_due_again_is_skipped() {
        // Each run takes 90 s: the 10:02 and 10:04 turns find it running.
        let (fake, tx, h) = every_minute(Duration::from_secs(90), None);
        tokio::time::sleep(Duration::from_secs(4 * 60 + 10)).await;
        assert_eq!(starts(&fake), vec![at(10, 1, 0), at(10, 3, 0)]);
        assert_eq!(
            fake.most_at_once.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "never two copies of one job"
        );
        stop(tx, h).await;
    }

    #[tokio::test(start_paused = true)]
    async fn after_downtime_a_missed_job_runs_once_not_once_per_miss() {
        // Last started 09:00: sixty runs were missed while down.
        let (fake, tx, h) = every_minute(Duration::from_secs(1), Some(at(9, 0, 0)));
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(
            starts(&fake),
            vec![at(10, 0, 30)],
            "caught up once, at start"
        );
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(
            starts(&fake),
            vec![at(10, 0, 30), at(10, 1, 0)],
            "then on schedule"
        );
        assert_eq!(
            fake.last.lock().unwrap().get("backup"),
            Some(&at(10, 1, 0)),
            "each start is recorded"
        );
        stop(tx, h).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_never_run_before_is_not_caught_up() {
        let (fake, tx, h) = every_minute(Duration::from_secs(1), None);
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert!(starts(&fake).is_empty(), "{:?}", starts(&fake));
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(starts(&fake), vec![at(10, 1, 0)]);
        stop(tx, h).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_taken_off_the_schedule_while_running_stays_on_the_board_until_it_ends() {
        let (fake, tx, h) = every_minute(Duration::from_secs(90), None);
        tokio::time::sleep(Duration::from_secs(35)).await;
        assert_eq!(starts(&fake), vec![at(10, 1, 0)]);
        fake.jobs.lock().unwrap().clear();
        tokio::time::sleep(Duration::from_secs(10)).await;
        let board = fake.board.snapshot();
        assert_eq!(board.len(), 1, "still running: still listed");
        assert!(board[0].running);
        tokio::time::sleep(Duration::from_secs(90)).await;
        assert!(fake.board.snapshot().is_empty(), "ended: gone");
        assert_eq!(starts(&fake).len(), 1, "not started again");
        stop(tx, h).await;
    }

    #[test]
    fn job_keys() {
        assert_eq!(JobKind::Sync(3).key(), "sync:3");
        assert_eq!(JobKind::Backup.key(), "backup");
        assert_eq!(JobKind::Ansible(ScheduleId(2)).key(), "ansible:2");
    }

    #[test]
    fn jobs_have_names_people_read() {
        assert_eq!(
            JobKind::Sync(1).display_name(Some("GitHub acme")),
            "Issue sync of integration GitHub acme"
        );
        assert_eq!(
            JobKind::Sync(4).display_name(None),
            "Issue sync of integration #4"
        );
        assert_eq!(
            JobKind::Ansible(ScheduleId(2)).display_name(Some("site.yml")),
            "Scheduled playbook site.yml (schedule #2)"
        );
        assert_eq!(JobKind::Backup.display_name(None), "Scheduled backup");
        assert_eq!(
            JobKind::AuditRetention.display_name(None),
            "Audit log retention"
        );
    }
}
