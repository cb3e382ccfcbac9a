//! The redb store: one file `<data_dir>/aiops.redb`, one typed table per entity (values are serde
//! JSON), per-table ids from the `seq` table, secondary indexes as their own tables written in the
//! same write transaction as the row, and a schema version with ordered migrations.
//!
//! Only `services` use this module. Handlers never see a transaction. Services call entity
//! methods on `ReadTxn`/`WriteTxn` (accounts.rs: users, keys, web sessions, settings, the setup
//! token; tenancy.rs; integrations.rs; issues.rs; ops.rs: Ansible, SSH keys, known hosts,
//! sessions, sync runs, backups; audit.rs: the audit log; backup.rs: other database files, table
//! loads and the import); each write of an indexed entity keeps its indexes itself, and ids come
//! from a per-entity `new_*_id` method. The table constants and the generic row/index helpers
//! below are private to `store`, so no service can name a table.

pub mod accounts;
pub mod integrations;
pub mod issues;
pub mod notify;
pub mod tables;
pub mod tenancy;

use crate::error::AppError;
use redb::{
    Database, MultimapTableDefinition, ReadOnlyMultimapTable, ReadOnlyTable, ReadableDatabase,
    ReadableMultimapTable, ReadableTable, ReadableTableMetadata, TableDefinition,
};
use serde::{Serialize, de::DeserializeOwned};
use std::path::{Path, PathBuf};
use tables::*;

pub const SCHEMA_VERSION: u64 = 8;

/// The open database. The handle can be swapped for another file while the server runs
/// (backup restore): transactions already begun finish on the old file.
pub struct Store {
    db: arc_swap::ArcSwap<Database>,
    path: PathBuf,
}

type Migration = fn(&WriteTxn) -> Result<(), AppError>;

/// Ordered migrations: `MIGRATIONS[n]` moves a store from version n to n+1.
/// Version 0 is an empty file; v1 creates every table; v2 adds `known_hosts`; v3 adds the
/// Ansible runs and schedules (creating tables is idempotent, so each runs the same step); v4
/// adds memberships and makes every project's owner a maintainer of it (nobody loses access);
/// v5 keeps Ansible run output in its own table of appended chunks; v6 adds `issue_summaries`
/// (each issue without its description, what lists read) and fills it from the stored issues;
/// v7 adds `issue_list_rows` (each issue's API list row, pre-rendered) and fills it; v8 adds
/// the notification tables (push subscriptions, preferences).
const MIGRATIONS: &[Migration] = &[
    migrate_create_all_tables,
    migrate_create_all_tables,
    migrate_create_all_tables,
    migrate_owner_memberships,
    migrate_create_all_tables,
    migrate_issue_summaries,
    migrate_issue_list_rows,
    migrate_create_all_tables,
];

fn migrate_issue_list_rows(w: &WriteTxn) -> Result<(), AppError> {
    migrate_create_all_tables(w)?;
    w.backfill_issue_list_rows()?;
    Ok(())
}

fn migrate_issue_summaries(w: &WriteTxn) -> Result<(), AppError> {
    migrate_create_all_tables(w)?;
    w.backfill_issue_summaries()?;
    Ok(())
}

fn migrate_owner_memberships(w: &WriteTxn) -> Result<(), AppError> {
    migrate_create_all_tables(w)?;
    backfill_owner_memberships(w)?;
    Ok(())
}

/// Give each project's owner a `maintainer` membership of that project unless they already
/// have one (used by the v4 migration and the SQLite import). Returns how many were added.
pub fn backfill_owner_memberships(w: &WriteTxn) -> Result<u64, AppError> {
    use crate::domain::{Membership, Role};
    use tenancy::TenancyReads;
    let mut added = 0;
    for p in w.projects()? {
        if w.project_members(p.id)?
            .iter()
            .any(|m| m.user_id == p.owner_id)
        {
            continue;
        }
        w.put_membership(&Membership {
            id: w.new_membership_id()?,
            user_id: p.owner_id,
            tenant_id: None,
            project_id: Some(p.id),
            role: Role::Maintainer,
            created_at: p.created_at,
            updated_at: p.created_at,
        })?;
        added += 1;
    }
    Ok(added)
}

fn migrate_create_all_tables(w: &WriteTxn) -> Result<(), AppError> {
    for t in ALL_TABLES {
        t.create(w)?;
    }
    Ok(())
}

impl Store {
    /// Open (or create) the store and run pending migrations.
    pub fn open(data_dir: &Path) -> Result<Store, AppError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            AppError::Internal(format!(
                "cannot create data dir {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join("aiops.redb");
        let db = open_db(&path)?;
        let store = Store {
            db: arc_swap::ArcSwap::from_pointee(db),
            path,
        };
        store.migrate()?;
        Ok(store)
    }

    /// Replace the live database with the (already migrated) file at `new`: it is renamed over
    /// the store's file and opened; requests from then on see the new data.
    pub fn swap_in(&self, new: &Path) -> Result<(), AppError> {
        std::fs::rename(new, &self.path).map_err(|e| {
            AppError::Internal(format!("cannot move {} into place: {e}", new.display()))
        })?;
        let db = open_db(&self.path)?;
        self.db.store(std::sync::Arc::new(db));
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn migrate(&self) -> Result<(), AppError> {
        migrate_db(&self.db.load(), &self.path)
    }

    /// A consistent snapshot of the store, for as long as the value lives.
    pub fn read(&self) -> Result<ReadTxn, AppError> {
        Ok(ReadTxn(self.db.load().begin_read()?))
    }

    /// The one write transaction (redb serialises writers); nothing is kept unless `commit`.
    pub fn write(&self) -> Result<WriteTxn, AppError> {
        Ok(WriteTxn(self.db.load().begin_write()?))
    }

    pub fn schema_version(&self) -> Result<u64, AppError> {
        self.read()?.schema_version()
    }
}

/// A read transaction of the store. Only `store` sees the redb transaction inside; services
/// use the entity methods of this module and its area files.
pub struct ReadTxn(redb::ReadTransaction);

/// A write transaction of the store: every row and its indexes change together at `commit`.
pub struct WriteTxn(redb::WriteTransaction);

impl ReadTxn {
    /// A read transaction on another database file than the live store (backup, import).
    fn begin(db: &impl ReadableDatabase) -> Result<ReadTxn, AppError> {
        Ok(ReadTxn(db.begin_read()?))
    }

    /// A table of this snapshot (store-internal: services call row and entity methods).
    fn open_table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> Result<ReadOnlyTable<K, V>, redb::TableError> {
        self.0.open_table(def)
    }

    fn open_multimap_table<K: redb::Key + 'static, V: redb::Key + 'static>(
        &self,
        def: MultimapTableDefinition<K, V>,
    ) -> Result<ReadOnlyMultimapTable<K, V>, redb::TableError> {
        self.0.open_multimap_table(def)
    }
}

impl WriteTxn {
    fn open_table<'t, K: redb::Key + 'static, V: redb::Value + 'static>(
        &'t self,
        def: TableDefinition<K, V>,
    ) -> Result<redb::Table<'t, K, V>, redb::TableError> {
        self.0.open_table(def)
    }

    fn open_multimap_table<'t, K: redb::Key + 'static, V: redb::Key + 'static>(
        &'t self,
        def: MultimapTableDefinition<K, V>,
    ) -> Result<redb::MultimapTable<'t, K, V>, redb::TableError> {
        self.0.open_multimap_table(def)
    }

    /// Drop a table with its rows (a forced import starts from empty tables).
    fn delete_table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> Result<bool, redb::TableError> {
        self.0.delete_table(def)
    }

    fn delete_multimap_table<K: redb::Key + 'static, V: redb::Key + 'static>(
        &self,
        def: MultimapTableDefinition<K, V>,
    ) -> Result<bool, redb::TableError> {
        self.0.delete_multimap_table(def)
    }

    /// A write transaction on another database file than the live store (restore, import).
    fn begin(db: &Database) -> Result<WriteTxn, AppError> {
        Ok(WriteTxn(db.begin_write()?))
    }

    /// Make every change of this transaction durable at once.
    pub fn commit(self) -> Result<(), AppError> {
        Ok(self.0.commit()?)
    }
}

/// Run blocking work (redb, files, a child's wait) from async code without stalling the
/// runtime's workers: on the multi-threaded runtime the worker hands its other tasks to another
/// thread for the duration; on a current-thread runtime (some tests) it simply runs. This is the
/// one place that decides how; nothing else calls `block_in_place`.
#[allow(clippy::disallowed_methods, reason = "this is the one place")]
pub fn run_blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// The page cache of the live store. redb's default (1 GiB) lets a big store grow the
/// process to that size; this bounds it (the OS page cache still holds the file).
pub const CACHE_BYTES: usize = 128 << 20;

pub fn open_db(path: &Path) -> Result<Database, AppError> {
    open_db_with_cache(path, CACHE_BYTES)
}

pub fn open_db_with_cache(path: &Path, cache: usize) -> Result<Database, AppError> {
    Database::builder()
        .set_cache_size(cache)
        .create(path)
        .map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => AppError::Unavailable(format!(
            "{} is in use by another aiops process (a running server?). Stop it first, or use the API.",
            path.display()
        )),
            other => AppError::Internal(format!("cannot open {}: {other}", path.display())),
        })
}

/// Bring a database to `SCHEMA_VERSION` (refusing a newer one).
pub fn migrate_db(db: &Database, path: &Path) -> Result<(), AppError> {
    {
        let w = WriteTxn(db.begin_write()?);
        let version = {
            let meta = w.open_table(META)?;
            meta.get("schema_version")?
                .map(|v| v.value().to_vec())
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                .unwrap_or(0)
        };
        if version > SCHEMA_VERSION {
            return Err(AppError::Internal(format!(
                "{} has schema version {version}, newer than this aiops understands ({SCHEMA_VERSION}); upgrade aiops",
                path.display()
            )));
        }
        for (n, m) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tracing::info!(from = n, to = n + 1, "migrating store");
            m(&w)?;
        }
        {
            let mut meta = w.open_table(META)?;
            meta.insert("schema_version", SCHEMA_VERSION.to_le_bytes().as_slice())?;
        }
        w.commit()?;
    }
    Ok(())
}

// ---- typed helpers (private to `store`: the entity methods are built on them) -------------------

pub(in crate::store) type RowTable = TableDefinition<'static, u64, &'static [u8]>;
pub(in crate::store) type IndexTable = TableDefinition<'static, &'static str, u64>;
pub(in crate::store) type MultiIndex = MultimapTableDefinition<'static, u64, u64>;

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(bytes).map_err(|e| AppError::Internal(format!("corrupt row: {e}")))
}

pub(in crate::store) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, AppError> {
    serde_json::to_vec(value).map_err(|e| AppError::Internal(format!("cannot encode row: {e}")))
}

/// Typed ids from an index's bare keys (the tables are keyed by `u64`; entity methods answer
/// `ProjectId`, …).
pub(in crate::store) fn typed<I: From<u64>>(ids: Vec<u64>) -> Vec<I> {
    ids.into_iter().map(I::from).collect()
}

/// Allocate the next id of a table (ids are never reused, even after deletes).
pub(in crate::store) fn next_id(w: &WriteTxn, table: &str) -> Result<u64, AppError> {
    let mut seq = w.open_table(SEQ)?;
    let next = seq.get(table)?.map(|v| v.value()).unwrap_or(0) + 1;
    seq.insert(table, next)?;
    Ok(next)
}

pub(in crate::store) fn get_row<T: DeserializeOwned>(
    r: &ReadTxn,
    def: RowTable,
    id: impl Into<u64>,
) -> Result<Option<T>, AppError> {
    let id: u64 = id.into();
    let t = r.open_table(def)?;
    let v = t.get(id)?;
    v.map(|v| decode(v.value())).transpose()
}

pub(in crate::store) fn get_row_w<T: DeserializeOwned>(
    w: &WriteTxn,
    def: RowTable,
    id: impl Into<u64>,
) -> Result<Option<T>, AppError> {
    let id: u64 = id.into();
    let t = w.open_table(def)?;
    let v = t.get(id)?;
    v.map(|v| decode(v.value())).transpose()
}

/// Reads that work the same inside a read or a write transaction (store-internal: the entity
/// reads are built on them; outside `store` no table can be named to pass them).
pub trait Reader {
    fn row<T: DeserializeOwned>(
        &self,
        def: RowTable,
        id: impl Into<u64>,
    ) -> Result<Option<T>, AppError>;
    fn ids(&self, def: MultiIndex, key: impl Into<u64>) -> Result<Vec<u64>, AppError>;
    fn rows<T: DeserializeOwned, I: Into<u64>>(
        &self,
        def: RowTable,
        ids: Vec<I>,
    ) -> Result<Vec<T>, AppError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(v) = self.row(def, id)? {
                out.push(v);
            }
        }
        Ok(out)
    }
}

impl Reader for ReadTxn {
    fn row<T: DeserializeOwned>(
        &self,
        def: RowTable,
        id: impl Into<u64>,
    ) -> Result<Option<T>, AppError> {
        get_row(self, def, id)
    }
    fn ids(&self, def: MultiIndex, key: impl Into<u64>) -> Result<Vec<u64>, AppError> {
        multi_ids(self, def, key)
    }
}

impl Reader for WriteTxn {
    fn row<T: DeserializeOwned>(
        &self,
        def: RowTable,
        id: impl Into<u64>,
    ) -> Result<Option<T>, AppError> {
        get_row_w(self, def, id)
    }
    fn ids(&self, def: MultiIndex, key: impl Into<u64>) -> Result<Vec<u64>, AppError> {
        multi_ids_w(self, def, key)
    }
}

pub(in crate::store) fn put_row<T: Serialize>(
    w: &WriteTxn,
    def: RowTable,
    id: impl Into<u64>,
    value: &T,
) -> Result<(), AppError> {
    let id: u64 = id.into();
    let bytes = encode(value)?;
    let mut t = w.open_table(def)?;
    t.insert(id, bytes.as_slice())?;
    Ok(())
}

pub(in crate::store) fn delete_row(
    w: &WriteTxn,
    def: RowTable,
    id: impl Into<u64>,
) -> Result<(), AppError> {
    let id: u64 = id.into();
    let mut t = w.open_table(def)?;
    t.remove(id)?;
    Ok(())
}

pub(in crate::store) fn index_set(
    w: &WriteTxn,
    def: IndexTable,
    key: &str,
    id: impl Into<u64>,
) -> Result<(), AppError> {
    let id: u64 = id.into();
    let mut t = w.open_table(def)?;
    t.insert(key, id)?;
    Ok(())
}

pub(in crate::store) fn index_del(
    w: &WriteTxn,
    def: IndexTable,
    key: &str,
) -> Result<(), AppError> {
    let mut t = w.open_table(def)?;
    t.remove(key)?;
    Ok(())
}

pub(in crate::store) fn multi_ids(
    r: &ReadTxn,
    def: MultiIndex,
    key: impl Into<u64>,
) -> Result<Vec<u64>, AppError> {
    let key: u64 = key.into();
    let t = r.open_multimap_table(def)?;
    let mut out = Vec::new();
    for v in t.get(key)? {
        out.push(v?.value());
    }
    Ok(out)
}

pub(in crate::store) fn multi_ids_w(
    w: &WriteTxn,
    def: MultiIndex,
    key: impl Into<u64>,
) -> Result<Vec<u64>, AppError> {
    let key: u64 = key.into();
    let t = w.open_multimap_table(def)?;
    let mut out = Vec::new();
    for v in t.get(key)? {
        out.push(v?.value());
    }
    Ok(out)
}

pub(in crate::store) fn multi_add(
    w: &WriteTxn,
    def: MultiIndex,
    key: impl Into<u64>,
    id: impl Into<u64>,
) -> Result<(), AppError> {
    let key: u64 = key.into();
    let id: u64 = id.into();
    let mut t = w.open_multimap_table(def)?;
    t.insert(key, id)?;
    Ok(())
}

pub(in crate::store) fn multi_del(
    w: &WriteTxn,
    def: MultiIndex,
    key: impl Into<u64>,
    id: impl Into<u64>,
) -> Result<(), AppError> {
    let key: u64 = key.into();
    let id: u64 = id.into();
    let mut t = w.open_multimap_table(def)?;
    t.remove(key, id)?;
    Ok(())
}

pub(in crate::store) fn meta_get(r: &ReadTxn, key: &str) -> Result<Option<Vec<u8>>, AppError> {
    let t = r.open_table(META)?;
    Ok(t.get(key)?.map(|v| v.value().to_vec()))
}

pub(in crate::store) fn meta_set(w: &WriteTxn, key: &str, value: &[u8]) -> Result<(), AppError> {
    let mut t = w.open_table(META)?;
    t.insert(key, value)?;
    Ok(())
}

pub(in crate::store) fn meta_del(w: &WriteTxn, key: &str) -> Result<(), AppError> {
    let mut t = w.open_table(META)?;
    t.remove(key)?;
    Ok(())
}

pub(in crate::store) fn table_len(r: &ReadTxn, def: RowTable) -> Result<u64, AppError> {
    Ok(r.open_table(def)?.len()?)
}

impl ReadTxn {
    /// How many rows each row table (keyed by id) holds, by table name, in registry order.
    pub fn row_counts(&self) -> Result<Vec<(&'static str, u64)>, AppError> {
        let mut out = Vec::new();
        for t in ALL_TABLES {
            if let AnyTable::RowU64(d) = t {
                out.push((t.name(), table_len(self, *d)?));
            }
        }
        Ok(out)
    }

    /// How many entries the table named `name` holds (a multimap counts each value), for
    /// tests that check a cascade left nothing behind.
    #[cfg(test)]
    pub fn entries_of(&self, name: &str) -> Result<u64, AppError> {
        match ALL_TABLES.iter().find(|t| t.name() == name) {
            Some(t) => t.entries(self),
            None => Err(AppError::Internal(format!("no table named {name}"))),
        }
    }
}

// Entity methods of the transactions, by capability (each file adds `impl ReadTxn`/`WriteTxn`).
pub mod audit;
pub mod backup;
pub mod ops;
pub mod review;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ProjectId, TenantId, UserId};

    #[test]
    fn open_creates_every_table_and_records_the_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let r = s.read().unwrap();
        for t in ALL_TABLES {
            t.check_exists(&r).unwrap();
        }
        drop(r);
        drop(s);
        // Re-opening is idempotent.
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn ids_are_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let w = s.write().unwrap();
        assert_eq!(next_id(&w, "tenants").unwrap(), 1);
        assert_eq!(next_id(&w, "tenants").unwrap(), 2);
        assert_eq!(next_id(&w, "projects").unwrap(), 1);
        w.commit().unwrap();
    }

    #[test]
    fn the_owner_backfill_adds_one_maintainer_membership_per_project_once() {
        use crate::domain::{Project, Role};
        use tenancy::TenancyReads;
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let now = crate::domain::model::now();
        let w = s.write().unwrap();
        for id in [1, 2] {
            w.put_project(&Project {
                id: ProjectId(id),
                name: format!("p{id}"),
                repo_url: String::new(),
                default_branch: "main".into(),
                local_path: String::new(),
                description: None,
                tenant_id: TenantId(1),
                owner_id: UserId(7),
                ssh_key_id: None,
                created_at: now,
                updated_at: now,
            })
            .unwrap();
        }
        assert_eq!(backfill_owner_memberships(&w).unwrap(), 2);
        assert_eq!(backfill_owner_memberships(&w).unwrap(), 0);
        let mine = w.memberships_of_user(UserId(7)).unwrap();
        assert_eq!(mine.len(), 2);
        assert!(mine.iter().all(|m| m.role == Role::Maintainer));
        assert_eq!(w.project_members(ProjectId(2)).unwrap().len(), 1);
        w.commit().unwrap();
        let r = s.read().unwrap();
        let counts = r.row_counts().unwrap();
        assert!(counts.contains(&("projects", 2)));
        assert!(counts.contains(&("memberships", 2)));
        assert_eq!(r.entries_of("memberships_by_project").unwrap(), 2);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            let w = s.write().unwrap();
            meta_set(&w, "schema_version", &99u64.to_le_bytes()).unwrap();
            w.commit().unwrap();
        }
        let err = Store::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("newer"), "{err}");
    }

    #[test]
    fn a_second_open_reports_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let _s = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("in use"), "{err}");
    }
}
