//! Whole-database work in the store: other database files (a restore's new file, built from an
//! archive's table dumps and migrated before it replaces anything; an existing store read for an
//! import's checks), loading dumped tables by name, keeping the live backup catalogue and audit
//! log across a restore, the forced import's reset of every table, its sequence counters and
//! the one row it copies that no entity method writes with a given id (pins).

use super::tables::*;
use super::{ReadTxn, RowTable, WriteTxn, migrate_db, multi_add, open_db_with_cache, put_row};
use crate::domain::PinnedIssue;
use crate::error::{AppError, AppResult};
use redb::{Database, ReadOnlyDatabase, ReadableTable, ReadableTableMetadata, TableError};
use std::path::{Path, PathBuf};

/// Tables a restore takes from the live store rather than the archive (with their `seq`
/// counters): the backup catalogue and the audit log stay as they are now.
const KEEP_LIVE: &[(RowTable, &str)] = &[(BACKUPS, "backups"), (AUDIT_LOG, "audit_log")];

/// A database file being built beside the live one (a restore), not yet in use.
pub struct NewFile {
    db: Database,
    path: PathBuf,
}

impl NewFile {
    /// Create (or open) the file at `path` with a page cache of `cache` bytes.
    pub fn create(path: &Path, cache: usize) -> AppResult<NewFile> {
        Ok(NewFile {
            db: open_db_with_cache(path, cache)?,
            path: path.to_path_buf(),
        })
    }

    pub fn write(&self) -> AppResult<WriteTxn> {
        WriteTxn::begin(&self.db)
    }

    /// Migrate the file to the current schema and check it opens and reads; then it may be
    /// swapped in (`Store::swap_in`).
    pub fn finish(self) -> AppResult<()> {
        migrate_db(&self.db, &self.path)?;
        let r = ReadTxn::begin(&self.db)?;
        drop(r.open_table(USERS)?);
        Ok(())
    }
}

/// Another store file opened read-only (it may be in use by nobody else's writer).
pub struct OtherFile(ReadOnlyDatabase);

impl OtherFile {
    /// Open `path` read-only; the error says in redb's words why it cannot be.
    pub fn open(path: &Path) -> Result<OtherFile, String> {
        ReadOnlyDatabase::open(path)
            .map(OtherFile)
            .map_err(|e| e.to_string())
    }

    pub fn read(&self) -> AppResult<ReadTxn> {
        ReadTxn::begin(&self.0)
    }
}

impl ReadTxn {
    /// The schema version recorded in this snapshot (0 for a file that never had one).
    pub fn schema_version(&self) -> AppResult<u64> {
        let meta = self.open_table(META)?;
        Ok(meta
            .get("schema_version")?
            .and_then(|v| v.value().try_into().ok().map(u64::from_le_bytes))
            .unwrap_or(0))
    }

    /// Whether the store holds users, tenants, projects or issues (tables a file from an
    /// older version lacks count as empty).
    pub fn holds_data(&self) -> AppResult<bool> {
        for t in [USERS, TENANTS, PROJECTS, ISSUES] {
            match self.open_table(t) {
                Ok(t) if t.len()? > 0 => return Ok(true),
                Ok(_) | Err(TableError::TableDoesNotExist(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(false)
    }
}

impl WriteTxn {
    /// Insert the entries of the table named `name`, as `AnyTable::dump` wrote them. A name
    /// this version does not know is refused (400) with that name.
    pub fn load_table_named(
        &self,
        name: &str,
        entries: &mut dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>), AppError>>,
    ) -> AppResult<u64> {
        let Some(def) = ALL_TABLES.iter().find(|t| t.name() == name) else {
            return Err(AppError::BadRequest(format!(
                "the backup holds table '{name}', which this aiops does not know"
            )));
        };
        def.load(self, entries)
    }

    /// Replace the backup catalogue and the audit log (rows and `seq` counters) with those of
    /// `live`, so a restore keeps both as they are now.
    pub fn keep_live_tables(&self, live: &ReadTxn) -> AppResult<()> {
        for (def, seq_name) in KEEP_LIVE {
            self.delete_table(*def)?;
            let mut t = self.open_table(*def)?;
            for item in live.open_table(*def)?.iter()? {
                let (k, v) = item?;
                t.insert(k.value(), v.value())?;
            }
            let live_seq = live.open_table(SEQ)?.get(*seq_name)?.map(|v| v.value());
            let mut seq = self.open_table(SEQ)?;
            match live_seq {
                Some(n) => {
                    seq.insert(*seq_name, n)?;
                }
                None => {
                    seq.remove(*seq_name)?;
                }
            }
        }
        Ok(())
    }

    /// Empty every table but `meta` (a forced import replaces everything), leaving each one
    /// created.
    pub fn reset_all_tables(&self) -> AppResult<()> {
        for t in ALL_TABLES {
            if t.name() == "meta" {
                continue;
            }
            match t {
                AnyTable::RowU64(d) => drop(self.delete_table(*d)?),
                AnyTable::RowStr(d) => drop(self.delete_table(*d)?),
                AnyTable::IdxStr(d) => drop(self.delete_table(*d)?),
                AnyTable::MultiU64(d) => drop(self.delete_multimap_table(*d)?),
                AnyTable::MultiStr(d) => drop(self.delete_multimap_table(*d)?),
            }
            t.create(self)?;
        }
        Ok(())
    }

    /// Store a pin with the id it already has (the import copies rows with their ids;
    /// `add_pin`, in `issues`, allocates a new one), with its by-user and by-issue indexes.
    /// It belongs with the other pin writes in `issues.rs`, which another change owns now.
    pub fn import_pin(&self, pin: &PinnedIssue) -> AppResult<()> {
        put_row(self, PINS, pin.id, pin)?;
        multi_add(self, PINS_BY_USER, pin.user_id, pin.id)?;
        multi_add(self, PINS_BY_ISSUE, pin.issue_id, pin.id)
    }

    /// Set the last id handed out for `table` (rows written with their own ids: imports).
    pub fn set_seq(&self, table: &str, last: u64) -> AppResult<()> {
        self.open_table(SEQ)?.insert(table, last)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Store, get_row, next_id, put_row};
    use super::*;
    use crate::domain::Backup;

    fn backup(id: u64) -> Backup {
        serde_json::from_value(serde_json::json!({
            "id": id, "filename": format!("b{id}"), "filepath": "/nowhere", "size_bytes": 1,
            "created_at": crate::domain::model::now(),
        }))
        .unwrap()
    }

    #[test]
    fn a_new_file_keeps_the_live_catalogue_and_a_reset_empties_everything() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let w = s.write().unwrap();
        for _ in 0..3 {
            let id = next_id(&w, "backups").unwrap();
            w.put_backup(&backup(id)).unwrap();
        }
        w.commit().unwrap();

        // A new file with an older catalogue (one backup) takes the live one (three).
        let path = dir.path().join("new.redb");
        let f = NewFile::create(&path, 1 << 20).unwrap();
        let w = f.write().unwrap();
        for t in ALL_TABLES {
            t.create(&w).unwrap();
        }
        put_row(&w, BACKUPS, 9u64, &backup(9)).unwrap();
        let mut none = std::iter::empty();
        assert!(w.load_table_named("no_such_table", &mut none).is_err());
        w.keep_live_tables(&s.read().unwrap()).unwrap();
        assert_eq!(next_id(&w, "backups").unwrap(), 4);
        w.commit().unwrap();
        f.finish().unwrap();
        let other = OtherFile::open(&path).unwrap();
        let r = other.read().unwrap();
        assert_eq!(r.backups().unwrap().len(), 3);
        assert!(get_row::<Backup>(&r, BACKUPS, 9u64).unwrap().is_none());
        assert_eq!(r.schema_version().unwrap(), super::super::SCHEMA_VERSION);
        assert!(!r.holds_data().unwrap());
        drop(r);

        let w = s.write().unwrap();
        w.reset_all_tables().unwrap();
        assert_eq!(next_id(&w, "backups").unwrap(), 1);
        w.set_seq("backups", 41).unwrap();
        assert_eq!(next_id(&w, "backups").unwrap(), 42);
        w.commit().unwrap();
        let r = s.read().unwrap();
        assert!(r.backups().unwrap().is_empty());
        assert_eq!(r.schema_version().unwrap(), super::super::SCHEMA_VERSION);
    }
}
