//! Every table of the store, and the registry of them (used by migrations and backups). The
//! table constants are private to `store`; `ALL_TABLES` is public for the backup's dump.

use super::WriteTxn;
use crate::error::AppError;
use crate::store::ReadTxn;
use redb::{MultimapTableDefinition as M, TableDefinition as T};

pub(in crate::store) const META: T<&str, &[u8]> = T::new("meta");
pub(in crate::store) const SEQ: T<&str, u64> = T::new("seq");

pub(in crate::store) const USERS: T<u64, &[u8]> = T::new("users");
pub(in crate::store) const USERS_BY_EMAIL: T<&str, u64> = T::new("users_by_email");

pub(in crate::store) const TENANTS: T<u64, &[u8]> = T::new("tenants");
/// lower-cased name -> id (names are unique case-insensitively)
pub(in crate::store) const TENANTS_BY_NAME: T<&str, u64> = T::new("tenants_by_name");

pub(in crate::store) const PROJECTS: T<u64, &[u8]> = T::new("projects");
pub(in crate::store) const PROJECTS_BY_TENANT: M<u64, u64> = M::new("projects_by_tenant");
pub(in crate::store) const PROJECTS_BY_OWNER: M<u64, u64> = M::new("projects_by_owner");

pub(in crate::store) const API_KEYS: T<u64, &[u8]> = T::new("api_keys");
/// sha256 hex of the key -> id
pub(in crate::store) const API_KEYS_BY_DIGEST: T<&str, u64> = T::new("api_keys_by_digest");
pub(in crate::store) const API_KEYS_BY_USER: M<u64, u64> = M::new("api_keys_by_user");

/// sha256 hex of the session token -> WebSession
/// Tenant and project memberships (`Membership` rows) and their indexes.
pub(in crate::store) const MEMBERSHIPS: T<u64, &[u8]> = T::new("memberships");
pub(in crate::store) const MEMBERSHIPS_BY_USER: M<u64, u64> = M::new("memberships_by_user");
pub(in crate::store) const MEMBERSHIPS_BY_TENANT: M<u64, u64> = M::new("memberships_by_tenant");
pub(in crate::store) const MEMBERSHIPS_BY_PROJECT: M<u64, u64> = M::new("memberships_by_project");

pub(in crate::store) const WEB_SESSIONS: T<&str, &[u8]> = T::new("web_sessions");

pub(in crate::store) const AUDIT_LOG: T<u64, &[u8]> = T::new("audit_log");

pub(in crate::store) const INTEGRATIONS: T<u64, &[u8]> = T::new("integrations");
pub(in crate::store) const INTEGRATIONS_BY_TENANT: M<u64, u64> = M::new("integrations_by_tenant");
pub(in crate::store) const PROJECT_INTEGRATIONS: T<u64, &[u8]> = T::new("project_integrations");
pub(in crate::store) const PROJECT_INTEGRATIONS_BY_PROJECT: M<u64, u64> =
    M::new("project_integrations_by_project");
pub(in crate::store) const PROJECT_INTEGRATIONS_BY_INTEGRATION: M<u64, u64> =
    M::new("project_integrations_by_integration");

pub(in crate::store) const ISSUES: T<u64, &[u8]> = T::new("issues");
pub(in crate::store) const ISSUES_BY_PROJECT_INTEGRATION: M<u64, u64> =
    M::new("issues_by_project_integration");
pub(in crate::store) const ISSUES_BY_PROJECT: M<u64, u64> = M::new("issues_by_project");
pub(in crate::store) const ISSUES_BY_TENANT: M<u64, u64> = M::new("issues_by_tenant");
/// "<status_key>" -> issue ids
pub(in crate::store) const ISSUES_BY_STATUS: M<&str, u64> = M::new("issues_by_status");
/// "<project_integration_id>:<external_id>" -> issue id
pub(in crate::store) const ISSUES_BY_EXTERNAL: T<&str, u64> = T::new("issues_by_external");
/// issue id -> the issue without its description (what lists show and filter on)
pub(in crate::store) const ISSUE_SUMMARIES: T<u64, &[u8]> = T::new("issue_summaries");
/// issue id -> its API list row, pre-rendered without the names it shows (`domain::list_row`)
pub(in crate::store) const ISSUE_LIST_ROWS: T<u64, &[u8]> = T::new("issue_list_rows");

pub(in crate::store) const PINS: T<u64, &[u8]> = T::new("pins");
pub(in crate::store) const PINS_BY_USER: M<u64, u64> = M::new("pins_by_user");
pub(in crate::store) const PINS_BY_ISSUE: M<u64, u64> = M::new("pins_by_issue");

pub(in crate::store) const USER_CREDENTIALS: T<u64, &[u8]> = T::new("user_credentials");
pub(in crate::store) const USER_CREDENTIALS_BY_USER: M<u64, u64> =
    M::new("user_credentials_by_user");
/// user id -> IdentityMap
pub(in crate::store) const IDENTITY_MAP: T<u64, &[u8]> = T::new("identity_map");

pub(in crate::store) const SSH_KEYS: T<u64, &[u8]> = T::new("ssh_keys");
pub(in crate::store) const SSH_KEYS_BY_TENANT: M<u64, u64> = M::new("ssh_keys_by_tenant");
pub(in crate::store) const SSH_KEYS_BY_USER: M<u64, u64> = M::new("ssh_keys_by_user");
pub(in crate::store) const KNOWN_HOSTS: T<u64, &[u8]> = T::new("known_hosts");

pub(in crate::store) const AI_SESSIONS: T<u64, &[u8]> = T::new("ai_sessions");
pub(in crate::store) const AI_SESSIONS_BY_USER: M<u64, u64> = M::new("ai_sessions_by_user");
pub(in crate::store) const AI_SESSIONS_BY_PROJECT: M<u64, u64> = M::new("ai_sessions_by_project");

pub(in crate::store) const SYNC_RUNS: T<u64, &[u8]> = T::new("sync_runs");
pub(in crate::store) const BACKUPS: T<u64, &[u8]> = T::new("backups");
/// Global key/value settings (linux user mapping, global agent context, …).
pub(in crate::store) const SETTINGS: T<&str, &[u8]> = T::new("settings");
pub(in crate::store) const ANSIBLE_RUNS: T<u64, &[u8]> = T::new("ansible_runs");
pub(in crate::store) const ANSIBLE_SCHEDULES: T<u64, &[u8]> = T::new("ansible_schedules");
/// A run's output in appended chunks: "<run id, 20 digits>:<chunk no, 8 digits>" -> UTF-8 text.
pub(in crate::store) const ANSIBLE_OUTPUT: T<&str, &[u8]> = T::new("ansible_output");
/// Review notes on an agent session's diff (line comments and approvals, `store::review`).
pub(in crate::store) const REVIEW_NOTES: T<u64, &[u8]> = T::new("review_notes");
pub(in crate::store) const REVIEW_NOTES_BY_SESSION: M<u64, u64> = M::new("review_notes_by_session");
/// Web Push subscriptions (`domain::notify::PushSubscription`) and their by-user index.
pub(in crate::store) const PUSH_SUBSCRIPTIONS: T<u64, &[u8]> = T::new("push_subscriptions");
pub(in crate::store) const PUSH_SUBSCRIPTIONS_BY_USER: M<u64, u64> =
    M::new("push_subscriptions_by_user");
/// endpoint -> subscription id (a browser has one subscription; its endpoint is unique)
pub(in crate::store) const PUSH_SUBSCRIPTIONS_BY_ENDPOINT: T<&str, u64> =
    T::new("push_subscriptions_by_endpoint");
/// user id -> NotifyPrefs
pub(in crate::store) const NOTIFY_PREFS: T<u64, &[u8]> = T::new("notify_prefs");

/// Receives each (key, value) of a table dump.
pub type EntrySink<'a> = dyn FnMut(&[u8], &[u8]) -> Result<(), AppError> + 'a;

/// A table of the registry, type-erased enough to create, check and (later) copy it.
pub enum AnyTable {
    RowU64(T<'static, u64, &'static [u8]>),
    RowStr(T<'static, &'static str, &'static [u8]>),
    IdxStr(T<'static, &'static str, u64>),
    MultiU64(M<'static, u64, u64>),
    MultiStr(M<'static, &'static str, u64>),
}

impl AnyTable {
    pub fn create(&self, w: &WriteTxn) -> Result<(), AppError> {
        match self {
            AnyTable::RowU64(d) => drop(w.open_table(*d)?),
            AnyTable::RowStr(d) => drop(w.open_table(*d)?),
            AnyTable::IdxStr(d) => drop(w.open_table(*d)?),
            AnyTable::MultiU64(d) => drop(w.open_multimap_table(*d)?),
            AnyTable::MultiStr(d) => drop(w.open_multimap_table(*d)?),
        }
        Ok(())
    }

    pub fn name(&self) -> &str {
        use redb::{MultimapTableHandle, TableHandle};
        match self {
            AnyTable::RowU64(d) => d.name(),
            AnyTable::RowStr(d) => d.name(),
            AnyTable::IdxStr(d) => d.name(),
            AnyTable::MultiU64(d) => d.name(),
            AnyTable::MultiStr(d) => d.name(),
        }
    }

    /// Every entry as (key bytes, value bytes): u64 as 8 little-endian bytes, strings as UTF-8.
    /// A table missing from an older file is empty.
    pub fn dump(&self, r: &ReadTxn, out: &mut EntrySink<'_>) -> Result<u64, AppError> {
        use redb::{ReadableMultimapTable, ReadableTable, TableError};
        let missing = |e: &TableError| matches!(e, TableError::TableDoesNotExist(_));
        let mut n = 0;
        match self {
            AnyTable::RowU64(d) => match r.open_table(*d) {
                Err(e) if missing(&e) => {}
                t => {
                    for item in t?.iter()? {
                        let (k, v) = item?;
                        out(&k.value().to_le_bytes(), v.value())?;
                        n += 1;
                    }
                }
            },
            AnyTable::RowStr(d) => match r.open_table(*d) {
                Err(e) if missing(&e) => {}
                t => {
                    for item in t?.iter()? {
                        let (k, v) = item?;
                        out(k.value().as_bytes(), v.value())?;
                        n += 1;
                    }
                }
            },
            AnyTable::IdxStr(d) => match r.open_table(*d) {
                Err(e) if missing(&e) => {}
                t => {
                    for item in t?.iter()? {
                        let (k, v) = item?;
                        out(k.value().as_bytes(), &v.value().to_le_bytes())?;
                        n += 1;
                    }
                }
            },
            AnyTable::MultiU64(d) => match r.open_multimap_table(*d) {
                Err(e) if missing(&e) => {}
                t => {
                    for item in t?.iter()? {
                        let (k, vals) = item?;
                        let key = k.value().to_le_bytes();
                        for v in vals {
                            out(&key, &v?.value().to_le_bytes())?;
                            n += 1;
                        }
                    }
                }
            },
            AnyTable::MultiStr(d) => match r.open_multimap_table(*d) {
                Err(e) if missing(&e) => {}
                t => {
                    for item in t?.iter()? {
                        let (k, vals) = item?;
                        let key = k.value().to_string();
                        for v in vals {
                            out(key.as_bytes(), &v?.value().to_le_bytes())?;
                            n += 1;
                        }
                    }
                }
            },
        }
        Ok(n)
    }

    /// Insert entries written by `dump`.
    pub fn load(
        &self,
        w: &WriteTxn,
        entries: &mut dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>), AppError>>,
    ) -> Result<u64, AppError> {
        fn u64_of(b: &[u8]) -> Result<u64, AppError> {
            b.try_into()
                .map(u64::from_le_bytes)
                .map_err(|_| AppError::BadRequest("corrupt backup entry (bad integer)".into()))
        }
        fn str_of(b: &[u8]) -> Result<&str, AppError> {
            std::str::from_utf8(b)
                .map_err(|_| AppError::BadRequest("corrupt backup entry (bad text)".into()))
        }
        let mut n = 0;
        match self {
            AnyTable::RowU64(d) => {
                let mut t = w.open_table(*d)?;
                for e in entries {
                    let (k, v) = e?;
                    t.insert(u64_of(&k)?, v.as_slice())?;
                    n += 1;
                }
            }
            AnyTable::RowStr(d) => {
                let mut t = w.open_table(*d)?;
                for e in entries {
                    let (k, v) = e?;
                    t.insert(str_of(&k)?, v.as_slice())?;
                    n += 1;
                }
            }
            AnyTable::IdxStr(d) => {
                let mut t = w.open_table(*d)?;
                for e in entries {
                    let (k, v) = e?;
                    t.insert(str_of(&k)?, u64_of(&v)?)?;
                    n += 1;
                }
            }
            AnyTable::MultiU64(d) => {
                let mut t = w.open_multimap_table(*d)?;
                for e in entries {
                    let (k, v) = e?;
                    t.insert(u64_of(&k)?, u64_of(&v)?)?;
                    n += 1;
                }
            }
            AnyTable::MultiStr(d) => {
                let mut t = w.open_multimap_table(*d)?;
                for e in entries {
                    let (k, v) = e?;
                    t.insert(str_of(&k)?, u64_of(&v)?)?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// How many entries the table holds (a multimap counts each value); a table missing
    /// from an older file holds none.
    pub fn entries(&self, r: &ReadTxn) -> Result<u64, AppError> {
        self.dump(r, &mut |_, _| Ok(()))
    }

    #[cfg(test)]
    pub fn check_exists(&self, r: &ReadTxn) -> Result<(), AppError> {
        match self {
            AnyTable::RowU64(d) => drop(r.open_table(*d)?),
            AnyTable::RowStr(d) => drop(r.open_table(*d)?),
            AnyTable::IdxStr(d) => drop(r.open_table(*d)?),
            AnyTable::MultiU64(d) => drop(r.open_multimap_table(*d)?),
            AnyTable::MultiStr(d) => drop(r.open_multimap_table(*d)?),
        }
        Ok(())
    }
}

pub const ALL_TABLES: &[AnyTable] = &[
    AnyTable::RowStr(META),
    AnyTable::IdxStr(SEQ),
    AnyTable::RowU64(USERS),
    AnyTable::IdxStr(USERS_BY_EMAIL),
    AnyTable::RowU64(TENANTS),
    AnyTable::IdxStr(TENANTS_BY_NAME),
    AnyTable::RowU64(PROJECTS),
    AnyTable::MultiU64(PROJECTS_BY_TENANT),
    AnyTable::MultiU64(PROJECTS_BY_OWNER),
    AnyTable::RowU64(API_KEYS),
    AnyTable::IdxStr(API_KEYS_BY_DIGEST),
    AnyTable::MultiU64(API_KEYS_BY_USER),
    AnyTable::RowU64(MEMBERSHIPS),
    AnyTable::MultiU64(MEMBERSHIPS_BY_USER),
    AnyTable::MultiU64(MEMBERSHIPS_BY_TENANT),
    AnyTable::MultiU64(MEMBERSHIPS_BY_PROJECT),
    AnyTable::RowStr(WEB_SESSIONS),
    AnyTable::RowU64(AUDIT_LOG),
    AnyTable::RowU64(INTEGRATIONS),
    AnyTable::MultiU64(INTEGRATIONS_BY_TENANT),
    AnyTable::RowU64(PROJECT_INTEGRATIONS),
    AnyTable::MultiU64(PROJECT_INTEGRATIONS_BY_PROJECT),
    AnyTable::MultiU64(PROJECT_INTEGRATIONS_BY_INTEGRATION),
    AnyTable::RowU64(ISSUES),
    AnyTable::MultiU64(ISSUES_BY_PROJECT_INTEGRATION),
    AnyTable::MultiU64(ISSUES_BY_PROJECT),
    AnyTable::MultiU64(ISSUES_BY_TENANT),
    AnyTable::MultiStr(ISSUES_BY_STATUS),
    AnyTable::IdxStr(ISSUES_BY_EXTERNAL),
    AnyTable::RowU64(ISSUE_SUMMARIES),
    AnyTable::RowU64(ISSUE_LIST_ROWS),
    AnyTable::RowU64(PINS),
    AnyTable::MultiU64(PINS_BY_USER),
    AnyTable::MultiU64(PINS_BY_ISSUE),
    AnyTable::RowU64(USER_CREDENTIALS),
    AnyTable::MultiU64(USER_CREDENTIALS_BY_USER),
    AnyTable::RowU64(IDENTITY_MAP),
    AnyTable::RowU64(SSH_KEYS),
    AnyTable::MultiU64(SSH_KEYS_BY_TENANT),
    AnyTable::MultiU64(SSH_KEYS_BY_USER),
    AnyTable::RowU64(KNOWN_HOSTS),
    AnyTable::RowU64(ANSIBLE_RUNS),
    AnyTable::RowU64(ANSIBLE_SCHEDULES),
    AnyTable::RowStr(ANSIBLE_OUTPUT),
    AnyTable::RowU64(AI_SESSIONS),
    AnyTable::MultiU64(AI_SESSIONS_BY_USER),
    AnyTable::MultiU64(AI_SESSIONS_BY_PROJECT),
    AnyTable::RowU64(SYNC_RUNS),
    AnyTable::RowU64(BACKUPS),
    AnyTable::RowStr(SETTINGS),
    AnyTable::RowU64(REVIEW_NOTES),
    AnyTable::MultiU64(REVIEW_NOTES_BY_SESSION),
    AnyTable::RowU64(PUSH_SUBSCRIPTIONS),
    AnyTable::MultiU64(PUSH_SUBSCRIPTIONS_BY_USER),
    AnyTable::IdxStr(PUSH_SUBSCRIPTIONS_BY_ENDPOINT),
    AnyTable::RowU64(NOTIFY_PREFS),
];
