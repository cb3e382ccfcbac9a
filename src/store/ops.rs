//! Store entities of operations: Ansible runs, schedules and output chunks, SSH keys (with
//! their by-user and by-tenant indexes), known hosts, sync runs, agent sessions (by user and by
//! project) and the backup catalogue, with a new-id method per entity. Each write of an indexed
//! entity goes through one method here that keeps all its indexes in step.

use super::tables::*;
use super::{
    ReadTxn, Reader, WriteTxn, decode, delete_row, multi_add, multi_del, next_id, put_row,
};
use crate::domain::BackupId;
use crate::domain::KnownHostId;
use crate::domain::ProjectId;
use crate::domain::RunId;
use crate::domain::ScheduleId;
use crate::domain::SessionId;
use crate::domain::SshKeyId;
use crate::domain::SyncRunId;
use crate::domain::TenantId;
use crate::domain::UserId;
use crate::domain::{
    AiSession, AnsibleRun, AnsibleSchedule, Backup, Id, KnownHost, Project, SshKey, SyncRun,
};
use crate::error::AppResult;
use redb::ReadableTable;

/// The chunk number of the note added when a run was cut short by a stop (sorts last).
pub const ANSIBLE_LAST_CHUNK: u64 = 9_999_999_999;

/// The key of chunk `n` of run `run`'s output: ordered by run, then chunk.
fn output_key(run: Id, n: u64) -> String {
    format!("{run:020}:{n:010}")
}

/// Every row of a table, in id order, in either kind of transaction.
macro_rules! every_row {
    ($txn:expr, $def:expr) => {{
        let t = $txn.open_table($def)?;
        let mut v = Vec::new();
        for item in t.iter()? {
            v.push(decode(item?.1.value())?);
        }
        v
    }};
}

/// Reads that both kinds of transaction offer (the same code, once per type).
macro_rules! op_reads {
    ($t:ty) => {
        impl $t {
            pub fn ansible_run(&self, id: RunId) -> AppResult<Option<AnsibleRun>> {
                self.row(ANSIBLE_RUNS, id)
            }

            /// Every Ansible run, oldest first.
            pub fn ansible_runs(&self) -> AppResult<Vec<AnsibleRun>> {
                Ok(every_row!(self, ANSIBLE_RUNS))
            }

            pub fn ansible_schedule(&self, id: ScheduleId) -> AppResult<Option<AnsibleSchedule>> {
                self.row(ANSIBLE_SCHEDULES, id)
            }

            /// Every Ansible schedule, oldest first.
            pub fn ansible_schedules(&self) -> AppResult<Vec<AnsibleSchedule>> {
                Ok(every_row!(self, ANSIBLE_SCHEDULES))
            }

            pub fn ssh_key(&self, id: SshKeyId) -> AppResult<Option<SshKey>> {
                self.row(SSH_KEYS, id)
            }

            /// Every SSH key, oldest first.
            pub fn ssh_keys(&self) -> AppResult<Vec<SshKey>> {
                Ok(every_row!(self, SSH_KEYS))
            }

            /// The keys of one tenant (not the global ones), in index order.
            pub fn ssh_keys_of_tenant(&self, tenant: TenantId) -> AppResult<Vec<SshKey>> {
                let ids = self.ids(SSH_KEYS_BY_TENANT, tenant)?;
                self.rows(SSH_KEYS, ids)
            }

            /// Every known host, oldest first.
            pub fn known_hosts(&self) -> AppResult<Vec<KnownHost>> {
                Ok(every_row!(self, KNOWN_HOSTS))
            }

            pub fn ai_session(&self, id: SessionId) -> AppResult<Option<AiSession>> {
                self.row(AI_SESSIONS, id)
            }

            /// Every agent session, oldest first.
            pub fn ai_sessions(&self) -> AppResult<Vec<AiSession>> {
                Ok(every_row!(self, AI_SESSIONS))
            }

            /// The agent sessions still active (`is_active`), oldest first: what the agent
            /// watcher looks at every second. A scan of the table (there is no index of
            /// active sessions), without handing back the ended ones.
            pub fn active_ai_sessions(&self) -> AppResult<Vec<AiSession>> {
                let t = self.open_table(AI_SESSIONS)?;
                let mut v = Vec::new();
                for item in t.iter()? {
                    let s: AiSession = decode(item?.1.value())?;
                    if s.is_active {
                        v.push(s);
                    }
                }
                Ok(v)
            }

            /// One user's agent sessions, oldest first.
            pub fn ai_sessions_of_user(&self, user: UserId) -> AppResult<Vec<AiSession>> {
                let ids = self.ids(AI_SESSIONS_BY_USER, user)?;
                self.rows(AI_SESSIONS, ids)
            }

            /// One project's agent sessions, oldest first.
            pub fn ai_sessions_of_project(&self, project: ProjectId) -> AppResult<Vec<AiSession>> {
                let ids = self.ids(AI_SESSIONS_BY_PROJECT, project)?;
                self.rows(AI_SESSIONS, ids)
            }

            pub fn sync_run(&self, id: SyncRunId) -> AppResult<Option<SyncRun>> {
                self.row(SYNC_RUNS, id)
            }

            /// Every sync run, oldest first.
            pub fn sync_runs(&self) -> AppResult<Vec<SyncRun>> {
                Ok(every_row!(self, SYNC_RUNS))
            }

            pub fn backup(&self, id: BackupId) -> AppResult<Option<Backup>> {
                self.row(BACKUPS, id)
            }

            /// Every catalogued backup, in id order.
            pub fn backups(&self) -> AppResult<Vec<Backup>> {
                Ok(every_row!(self, BACKUPS))
            }
        }
    };
}

op_reads!(ReadTxn);
op_reads!(WriteTxn);

impl ReadTxn {
    /// A run's stored output: its chunks, in order.
    pub fn ansible_output(&self, run: RunId) -> AppResult<String> {
        let t = self.open_table(ANSIBLE_OUTPUT)?;
        let (from, to) = (output_key(run.get(), 0), output_key(run.get() + 1, 0));
        let mut out = String::new();
        for item in t.range(from.as_str()..to.as_str())? {
            let (_, v) = item?;
            out.push_str(&String::from_utf8_lossy(v.value()));
        }
        Ok(out)
    }

    /// Sync runs newest first, handed to `f` until it returns false.
    pub fn sync_runs_newest(&self, mut f: impl FnMut(SyncRun) -> bool) -> AppResult<()> {
        let t = self.open_table(SYNC_RUNS)?;
        for item in t.iter()?.rev() {
            if !f(decode(item?.1.value())?) {
                break;
            }
        }
        Ok(())
    }
}

impl WriteTxn {
    // ---- ids (never reused) ----

    pub fn new_ansible_run_id(&self) -> AppResult<RunId> {
        next_id(self, "ansible_runs").map(RunId)
    }

    pub fn new_ansible_schedule_id(&self) -> AppResult<ScheduleId> {
        next_id(self, "ansible_schedules").map(ScheduleId)
    }

    pub fn new_ssh_key_id(&self) -> AppResult<SshKeyId> {
        next_id(self, "ssh_keys").map(SshKeyId)
    }

    pub fn new_known_host_id(&self) -> AppResult<KnownHostId> {
        next_id(self, "known_hosts").map(KnownHostId)
    }

    pub fn new_ai_session_id(&self) -> AppResult<SessionId> {
        next_id(self, "ai_sessions").map(SessionId)
    }

    pub fn new_sync_run_id(&self) -> AppResult<SyncRunId> {
        next_id(self, "sync_runs").map(SyncRunId)
    }

    pub fn new_backup_id(&self) -> AppResult<BackupId> {
        next_id(self, "backups").map(BackupId)
    }

    // ---- Ansible ----

    /// Store a run (runs carry no index).
    pub fn put_ansible_run(&self, run: &AnsibleRun) -> AppResult<()> {
        put_row(self, ANSIBLE_RUNS, run.id, run)
    }

    /// Add chunk `n` of a run's output (`ANSIBLE_LAST_CHUNK` sorts after every other).
    pub fn append_ansible_output(&self, run: RunId, n: u64, text: &str) -> AppResult<()> {
        let mut t = self.open_table(ANSIBLE_OUTPUT)?;
        t.insert(output_key(run.get(), n).as_str(), text.as_bytes())?;
        Ok(())
    }

    pub fn put_ansible_schedule(&self, s: &AnsibleSchedule) -> AppResult<()> {
        put_row(self, ANSIBLE_SCHEDULES, s.id, s)
    }

    /// Remove a schedule; false when there was none.
    pub fn delete_ansible_schedule(&self, id: ScheduleId) -> AppResult<bool> {
        Ok(self
            .open_table(ANSIBLE_SCHEDULES)?
            .remove(id.get())?
            .is_some())
    }

    // ---- SSH keys and known hosts ----

    /// Store a key and keep its by-user and by-tenant indexes in step (also when an update
    /// moves it to another user or tenant).
    pub fn put_ssh_key(&self, key: &SshKey) -> AppResult<()> {
        if let Some(old) = self.ssh_key(key.id)? {
            if old.user_id != key.user_id {
                multi_del(self, SSH_KEYS_BY_USER, old.user_id, key.id)?;
            }
            if let Some(t) = old.tenant_id
                && old.tenant_id != key.tenant_id
            {
                multi_del(self, SSH_KEYS_BY_TENANT, t, key.id)?;
            }
        }
        put_row(self, SSH_KEYS, key.id, key)?;
        multi_add(self, SSH_KEYS_BY_USER, key.user_id, key.id)?;
        if let Some(t) = key.tenant_id {
            multi_add(self, SSH_KEYS_BY_TENANT, t, key.id)?;
        }
        Ok(())
    }

    /// Remove a key with its index entries; projects that used it fall back to their
    /// tenant's keys (`ssh_key_id` cleared). None when there was no such key.
    pub fn delete_ssh_key(&self, id: SshKeyId) -> AppResult<Option<SshKey>> {
        let Some(key) = self.ssh_key(id)? else {
            return Ok(None);
        };
        let users: Vec<Project> = {
            let t = self.open_table(PROJECTS)?;
            let mut v = Vec::new();
            for item in t.iter()? {
                let p: Project = decode(item?.1.value())?;
                if p.ssh_key_id == Some(id) {
                    v.push(p);
                }
            }
            v
        };
        // Only `ssh_key_id` changes, which no project index holds.
        for mut p in users {
            p.ssh_key_id = None;
            put_row(self, PROJECTS, p.id, &p)?;
        }
        multi_del(self, SSH_KEYS_BY_USER, key.user_id, id)?;
        if let Some(t) = key.tenant_id {
            multi_del(self, SSH_KEYS_BY_TENANT, t, id)?;
        }
        self.open_table(SSH_KEYS)?.remove(id.get())?;
        Ok(Some(key))
    }

    pub fn put_known_host(&self, h: &KnownHost) -> AppResult<()> {
        put_row(self, KNOWN_HOSTS, h.id, h)
    }

    /// Remove a known host; false when there was none.
    pub fn delete_known_host(&self, id: KnownHostId) -> AppResult<bool> {
        Ok(self.open_table(KNOWN_HOSTS)?.remove(id.get())?.is_some())
    }

    // ---- agent sessions ----

    /// Store a session and keep its by-user and by-project indexes in step.
    pub fn put_ai_session(&self, s: &AiSession) -> AppResult<()> {
        if let Some(old) = self.ai_session(s.id)? {
            if old.user_id != s.user_id {
                multi_del(self, AI_SESSIONS_BY_USER, old.user_id, s.id)?;
            }
            if old.project_id != s.project_id {
                multi_del(self, AI_SESSIONS_BY_PROJECT, old.project_id, s.id)?;
            }
        }
        put_row(self, AI_SESSIONS, s.id, s)?;
        multi_add(self, AI_SESSIONS_BY_USER, s.user_id, s.id)?;
        multi_add(self, AI_SESSIONS_BY_PROJECT, s.project_id, s.id)?;
        Ok(())
    }

    /// Remove a session with its by-user and by-project index entries (nothing when it is
    /// gone already).
    pub fn delete_ai_session(&self, id: SessionId) -> AppResult<()> {
        if let Some(s) = self.ai_session(id)? {
            multi_del(self, AI_SESSIONS_BY_USER, s.user_id, id)?;
            multi_del(self, AI_SESSIONS_BY_PROJECT, s.project_id, id)?;
        }
        delete_row(self, AI_SESSIONS, id)
    }

    // ---- sync runs, backups ----

    pub fn put_sync_run(&self, run: &SyncRun) -> AppResult<()> {
        put_row(self, SYNC_RUNS, run.id, run)
    }

    pub fn put_backup(&self, b: &Backup) -> AppResult<()> {
        put_row(self, BACKUPS, b.id, b)
    }

    /// Remove a backup from the catalogue (not its file); None when there was none.
    pub fn delete_backup(&self, id: BackupId) -> AppResult<Option<Backup>> {
        let Some(b) = self.backup(id)? else {
            return Ok(None);
        };
        self.open_table(BACKUPS)?.remove(id.get())?;
        Ok(Some(b))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Store, multi_ids};
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        (dir, s)
    }

    fn key(id: Id, user: UserId, tenant: Option<Id>) -> SshKey {
        let now = crate::domain::model::now();
        SshKey {
            id: id.into(),
            name: format!("k{id}"),
            public_key: String::new(),
            fingerprint: format!("SHA256:{id}"),
            private_key_enc: None,
            user_id: user,
            tenant_id: tenant.map(Into::into),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn ssh_key_indexes_follow_every_write() {
        let (_d, s) = store();
        let w = s.write().unwrap();
        w.put_ssh_key(&key(1, UserId(7), Some(3))).unwrap();
        w.put_ssh_key(&key(2, UserId(7), None)).unwrap();
        w.commit().unwrap();
        let r = s.read().unwrap();
        assert_eq!(multi_ids(&r, SSH_KEYS_BY_USER, 7u64).unwrap(), vec![1, 2]);
        assert_eq!(r.ssh_keys_of_tenant(TenantId(3)).unwrap().len(), 1);
        drop(r);

        // Moving a key to another user and tenant moves its index entries.
        let w = s.write().unwrap();
        w.put_ssh_key(&key(1, UserId(8), Some(4))).unwrap();
        w.commit().unwrap();
        let r = s.read().unwrap();
        assert_eq!(multi_ids(&r, SSH_KEYS_BY_USER, 7u64).unwrap(), vec![2]);
        assert_eq!(multi_ids(&r, SSH_KEYS_BY_USER, 8u64).unwrap(), vec![1]);
        assert!(r.ssh_keys_of_tenant(TenantId(3)).unwrap().is_empty());
        assert_eq!(
            r.ssh_keys_of_tenant(TenantId(4)).unwrap()[0].id,
            SshKeyId(1)
        );
        drop(r);

        // Deleting removes the row and every index entry; a second delete finds nothing.
        let w = s.write().unwrap();
        assert_eq!(
            w.delete_ssh_key(SshKeyId(1)).unwrap().map(|k| k.id),
            Some(SshKeyId(1))
        );
        assert!(w.delete_ssh_key(SshKeyId(1)).unwrap().is_none());
        w.commit().unwrap();
        let r = s.read().unwrap();
        assert!(multi_ids(&r, SSH_KEYS_BY_USER, 8u64).unwrap().is_empty());
        assert!(r.ssh_keys_of_tenant(TenantId(4)).unwrap().is_empty());
        assert_eq!(r.ssh_keys().unwrap().len(), 1);
    }

    #[test]
    fn deleting_a_key_unassigns_its_projects() {
        let (_d, s) = store();
        let now = crate::domain::model::now();
        let w = s.write().unwrap();
        w.put_ssh_key(&key(1, UserId(7), Some(3))).unwrap();
        let p: Project = serde_json::from_value(serde_json::json!({
            "id": 5, "tenant_id": 3, "owner_id": 7, "name": "p", "repo_url": "",
            "default_branch": "main", "local_path": "", "ssh_key_id": 1,
            "created_at": now, "updated_at": now,
        }))
        .unwrap();
        put_row(&w, PROJECTS, p.id, &p).unwrap();
        w.delete_ssh_key(SshKeyId(1)).unwrap();
        let p: Project = w.row(PROJECTS, 5u64).unwrap().unwrap();
        assert_eq!(p.ssh_key_id, None);
    }

    #[test]
    fn session_indexes_follow_every_write() {
        let (_d, s) = store();
        let now = crate::domain::model::now();
        let session = |user: Id, project: Id| -> AiSession {
            serde_json::from_value(serde_json::json!({
                "id": 1, "user_id": user, "project_id": project, "tool": "codex",
                "session_id": "s", "is_active": true, "started_at": now,
            }))
            .unwrap()
        };
        let w = s.write().unwrap();
        w.put_ai_session(&session(7, 3)).unwrap();
        // Writing the same row again adds nothing.
        w.put_ai_session(&session(7, 3)).unwrap();
        assert_eq!(w.ids(AI_SESSIONS_BY_USER, 7u64).unwrap(), vec![1]);
        w.put_ai_session(&session(8, 4)).unwrap();
        assert!(w.ids(AI_SESSIONS_BY_USER, 7u64).unwrap().is_empty());
        assert!(w.ids(AI_SESSIONS_BY_PROJECT, 3u64).unwrap().is_empty());
        assert_eq!(w.ids(AI_SESSIONS_BY_PROJECT, 4u64).unwrap(), vec![1]);
        w.commit().unwrap();
        let r = s.read().unwrap();
        assert_eq!(r.ai_sessions_of_user(UserId(8)).unwrap().len(), 1);
        assert_eq!(r.ai_sessions().unwrap().len(), 1);
        drop(r);

        // Deleting removes the row and both index entries; a second delete is a no-op.
        let w = s.write().unwrap();
        w.delete_ai_session(SessionId(1)).unwrap();
        w.delete_ai_session(SessionId(1)).unwrap();
        assert!(w.ids(AI_SESSIONS_BY_USER, 8u64).unwrap().is_empty());
        assert!(w.ids(AI_SESSIONS_BY_PROJECT, 4u64).unwrap().is_empty());
        assert!(w.ai_sessions().unwrap().is_empty());
    }

    #[test]
    fn output_chunks_read_back_in_order_and_settings_round_trip() {
        let (_d, s) = store();
        let w = s.write().unwrap();
        w.append_ansible_output(RunId(2), ANSIBLE_LAST_CHUNK, "end\n")
            .unwrap();
        w.append_ansible_output(RunId(2), 1, "b").unwrap();
        w.append_ansible_output(RunId(2), 0, "a").unwrap();
        w.append_ansible_output(RunId(3), 0, "other run").unwrap();
        assert_eq!(w.setting::<bool>("x").unwrap(), None);
        w.put_setting("x", &false).unwrap();
        assert_eq!(w.new_ansible_run_id().unwrap(), RunId(1));
        w.commit().unwrap();
        let r = s.read().unwrap();
        assert_eq!(r.ansible_output(RunId(2)).unwrap(), "abend\n");
        assert_eq!(r.setting::<bool>("x").unwrap(), Some(false));
    }
}
