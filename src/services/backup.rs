//! Backups of the whole store and their restore, while the server keeps serving.
//!
//! A backup copies every table inside one read transaction (a consistent snapshot; writers
//! are not blocked) into a tar.gz with a manifest (versions, counts, per-table SHA-256 and an
//! overall checksum). Restore verifies the archive completely before touching anything, takes
//! a safety backup, builds a new store file from the archive, migrates it if it comes from an
//! older schema, and swaps it in: the server goes on with the restored data.
//!
//! Kept across a restore: the backup catalogue (so later backups stay listed), the audit log
//! and web logins.

use crate::auth::Identity;
use crate::config::Config;
use crate::domain::backup::{self as dom, Manifest, TableEntry};
use crate::domain::{Backup, BackupId, User, UserId};
use crate::error::{AppError, AppResult};
use crate::services::secrets::Secrets;
use crate::services::sessions::Sessions;
use crate::store::Store;
use crate::store::accounts::AccountReads;
use crate::store::backup::NewFile;
use crate::store::tables::{ALL_TABLES, AnyTable};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::domain::BackupKind;

const SCHEDULE_SETTING: &str = "backup.schedule";

/// Tables whose live content survives a restore.

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BackupSchedule {
    /// Cron expression (5 fields, or 6 with seconds); None: no scheduled backups.
    pub cron: Option<String>,
    /// Keep the newest N scheduled backups.
    pub keep_last: Option<usize>,
    /// Remove scheduled backups older than N days.
    pub keep_days: Option<u32>,
}

pub struct BackupView {
    pub backup: Backup,
    pub created_by: Option<User>,
}

pub struct Restored {
    pub backup: Backup,
    pub safety_backup: Backup,
    pub from_schema: u64,
    pub counts: BTreeMap<String, u64>,
}

fn corrupt(e: impl std::fmt::Display) -> AppError {
    AppError::BadRequest(format!(
        "the backup archive is corrupted or truncated ({e}); nothing was changed"
    ))
}

fn io_err(what: &str, p: &Path, e: std::io::Error) -> AppError {
    AppError::Internal(format!("cannot {what} {}: {e}", p.display()))
}

/// SHA-256 of a file, read in blocks.
pub(crate) fn sha256_file(p: &Path) -> AppResult<String> {
    use sha2::Digest;
    let mut f = std::fs::File::open(p).map_err(|e| io_err("read", p, e))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| io_err("read", p, e))?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or(&buf));
    }
    Ok(hex::encode(h.finalize()))
}

/// Everything read from an archive in the verification pass.
struct Verified {
    manifest: Manifest,
}

/// Read the whole archive, checking every table against the manifest. Nothing is kept in
/// memory but one table at a time.
fn verify_archive(path: &Path, schema: u64, key_id: &str) -> AppResult<Verified> {
    use sha2::Digest;
    let f = std::fs::File::open(path).map_err(|e| io_err("open", path, e))?;
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(f)));
    let mut seen: HashMap<String, (String, u64)> = HashMap::new();
    let mut manifest: Option<Manifest> = None;
    for entry in ar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let name = entry
            .path()
            .map_err(corrupt)?
            .to_string_lossy()
            .into_owned();
        if name == dom::MANIFEST {
            let mut text = String::new();
            entry.read_to_string(&mut text).map_err(corrupt)?;
            manifest = Some(serde_json::from_str(&text).map_err(|e| {
                AppError::BadRequest(format!("the backup's manifest is unreadable: {e}"))
            })?);
        } else if let Some(table) = name.strip_prefix(dom::TABLE_DIR) {
            let table = table.trim_end_matches(".bin").to_string();
            let mut h = sha2::Sha256::new();
            let mut buf = vec![0u8; 1 << 16];
            let mut total = 0u64;
            loop {
                let n = entry.read(&mut buf).map_err(corrupt)?;
                if n == 0 {
                    break;
                }
                total += n as u64;
                h.update(buf.get(..n).unwrap_or(&buf));
            }
            seen.insert(table, (hex::encode(h.finalize()), total));
        } else {
            return Err(AppError::BadRequest(format!(
                "unexpected member '{name}' in the backup archive: not an aiops backup"
            )));
        }
    }
    let manifest = manifest.ok_or_else(|| {
        AppError::BadRequest(
            "the backup archive has no manifest (truncated, or not an aiops backup)".into(),
        )
    })?;
    manifest.check(schema).map_err(AppError::BadRequest)?;
    for t in &manifest.tables {
        match seen.remove(&t.name) {
            Some((sum, bytes)) if sum == t.sha256 && bytes == t.bytes => {}
            Some(_) => {
                return Err(AppError::BadRequest(format!(
                    "table '{}' in the backup does not match its checksum: the archive is corrupted; nothing was changed",
                    t.name
                )));
            }
            None => {
                return Err(AppError::BadRequest(format!(
                    "table '{}' is missing from the backup archive; nothing was changed",
                    t.name
                )));
            }
        }
    }
    if let Some(extra) = seen.keys().next() {
        return Err(AppError::BadRequest(format!(
            "table '{extra}' is in the archive but not in its manifest; nothing was changed"
        )));
    }
    if manifest.master_key_id != key_id {
        return Err(AppError::Conflict(format!(
            "this backup was made under another master key (id {}; this server's is {key_id}): its tracker tokens and SSH keys could not be read. Start aiops with that key (AIOPS_SECRET_KEY or secret.key) to restore it.",
            manifest.master_key_id
        )));
    }
    Ok(Verified { manifest })
}

/// The largest archive an upload may be.
pub const UPLOAD_MAX_BYTES: u64 = 8 << 30;

/// An uploaded, verified archive waiting for the admin's confirmation.
pub struct StagedUpload {
    /// Names the upload in `restore_uploaded_backup`.
    pub token: String,
    pub file_name: String,
    pub size_bytes: u64,
    pub manifest: Manifest,
}

/// A file name as it may be shown and stored: its last component, printable, at most 120
/// characters.
fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let n: String = base.chars().filter(|c| !c.is_control()).take(120).collect();
    if n.trim().is_empty() {
        "(unnamed)".into()
    } else {
        n
    }
}

/// Uploads left unconfirmed for more than an hour are removed.
fn remove_stale_uploads(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(3600));
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// What is wrong with an uploaded file, in words, before the full verification: empty, not
/// gzip at all.
pub fn upload_problem(head: &[u8], file_name: &str) -> Option<String> {
    let name = clean_name(file_name);
    if head.is_empty() {
        return Some(format!(
            "'{name}' is empty: choose the .tar.gz file that Backups → Download saved; nothing was changed"
        ));
    }
    if !head.starts_with(&[0x1f, 0x8b]) {
        return Some(format!(
            "'{name}' is not a backup archive (an aiops backup is the .tar.gz file that Backups → Download saves); nothing was changed"
        ));
    }
    None
}

/// The upload's first bytes, then the full verification.
fn check_upload(path: &Path, file_name: &str, schema: u64, key_id: &str) -> AppResult<Manifest> {
    let mut head = [0u8; 2];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| io_err("read", path, e))?;
    if let Some(why) = upload_problem(head.get(..n).unwrap_or(&head), file_name) {
        return Err(AppError::BadRequest(why));
    }
    verify_archive(path, schema, key_id).map(|v| v.manifest)
}

/// Backups, restore and the one-time import.
pub struct Backups {
    pub(crate) store: Arc<Store>,
    pub(crate) config: Arc<Config>,
    pub(crate) secrets: Arc<Secrets>,
    /// One backup or restore at a time.
    pub(crate) backup_lock: tokio::sync::Mutex<()>,
    /// A restore closes the agents' sessions first.
    pub(crate) sessions: Arc<Sessions>,
}

impl Backups {
    pub fn backups_dir(&self) -> PathBuf {
        self.config.data_dir.join("backups")
    }

    /// Take a backup now (admins).
    pub async fn create_backup(
        &self,
        caller: &Identity,
        description: Option<&str>,
    ) -> AppResult<Backup> {
        caller.require_admin()?;
        let _g = self.backup_lock.lock().await;
        crate::store::run_blocking(|| {
            self.write_backup(Some(caller.id()), description, BackupKind::Manual)
        })
    }

    /// The archive itself. Runs under `backup_lock` (callers hold it).
    fn write_backup(
        &self,
        user: Option<UserId>,
        description: Option<&str>,
        kind: BackupKind,
    ) -> AppResult<Backup> {
        let started = std::time::Instant::now();
        let dir = self.backups_dir();
        std::fs::create_dir_all(&dir).map_err(|e| io_err("create", &dir, e))?;
        let id = {
            let w = self.store.write()?;
            let id = w.new_backup_id()?;
            w.commit()?;
            id
        };
        let now = crate::domain::model::now();
        let filename = dom::file_name(now, id);
        let path = dir.join(&filename);
        let part = dir.join(format!("{filename}.part"));
        let res = (|| -> AppResult<Manifest> {
            // One read transaction: every table as of the same instant.
            let r = self.store.read()?;
            let f = std::fs::File::create(&part).map_err(|e| io_err("create", &part, e))?;
            let gz = flate2::write::GzEncoder::new(
                std::io::BufWriter::new(f),
                flate2::Compression::fast(),
            );
            let mut tar = tar::Builder::new(gz);
            let mut tables = Vec::new();
            let mut counts = BTreeMap::new();
            for t in ALL_TABLES {
                // Each table goes through a scratch file: memory stays flat however big it is.
                let scratch = dir.join(format!(".{filename}.{}.tmp", t.name()));
                let res = (|| -> AppResult<TableEntry> {
                    use sha2::Digest;
                    let f = std::fs::File::create(&scratch)
                        .map_err(|e| io_err("create", &scratch, e))?;
                    let mut w = std::io::BufWriter::new(f);
                    let mut h = sha2::Sha256::new();
                    let mut bytes = 0u64;
                    let mut rec = Vec::new();
                    let entries = t.dump(&r, &mut |k, v| {
                        rec.clear();
                        dom::put_record(&mut rec, k, v);
                        h.update(&rec);
                        bytes += rec.len() as u64;
                        w.write_all(&rec).map_err(|e| io_err("write", &scratch, e))
                    })?;
                    w.flush().map_err(|e| io_err("write", &scratch, e))?;
                    drop(w);
                    let mut hd = tar::Header::new_gnu();
                    hd.set_size(bytes);
                    hd.set_mode(0o600);
                    hd.set_mtime(now.timestamp().max(0) as u64);
                    hd.set_cksum();
                    let f =
                        std::fs::File::open(&scratch).map_err(|e| io_err("read", &scratch, e))?;
                    tar.append_data(
                        &mut hd,
                        format!("{}{}.bin", dom::TABLE_DIR, t.name()),
                        std::io::BufReader::new(f),
                    )
                    .map_err(|e| io_err("write", &part, e))?;
                    Ok(TableEntry {
                        name: t.name().to_string(),
                        entries,
                        bytes,
                        sha256: hex::encode(h.finalize()),
                    })
                })();
                let _ = std::fs::remove_file(&scratch);
                let entry = res?;
                if matches!(t, AnyTable::RowU64(_)) {
                    counts.insert(t.name().to_string(), entry.entries);
                }
                tables.push(entry);
            }
            let schema_version = r.schema_version()?;
            drop(r);
            let manifest = Manifest {
                format: dom::FORMAT.into(),
                format_version: dom::FORMAT_VERSION,
                aiops_version: env!("CARGO_PKG_VERSION").into(),
                schema_version,
                created_at: now,
                description: description.map(str::to_string),
                checksum: Manifest::compute_checksum(&tables),
                tables,
                counts,
                master_key_id: self.secrets.key_id().to_string(),
            };
            let json = serde_json::to_vec_pretty(&manifest)
                .map_err(|e| AppError::Internal(format!("cannot encode the manifest: {e}")))?;
            let mut h = tar::Header::new_gnu();
            h.set_size(json.len() as u64);
            h.set_mode(0o600);
            h.set_mtime(now.timestamp().max(0) as u64);
            h.set_cksum();
            tar.append_data(&mut h, dom::MANIFEST, json.as_slice())
                .map_err(|e| io_err("write", &part, e))?;
            let gz = tar.into_inner().map_err(|e| io_err("write", &part, e))?;
            let mut out = gz.finish().map_err(|e| io_err("write", &part, e))?;
            out.flush().map_err(|e| io_err("write", &part, e))?;
            let f = out
                .into_inner()
                .map_err(|e| io_err("write", &part, e.into_error()))?;
            f.sync_all().map_err(|e| io_err("sync", &part, e))?;
            std::fs::rename(&part, &path).map_err(|e| io_err("rename", &part, e))?;
            Ok(manifest)
        })();
        let manifest = match res {
            Ok(m) => m,
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                return Err(AppError::Internal(format!("Failed to create backup: {e}")));
            }
        };
        let size_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let b = Backup {
            id,
            filename,
            filepath: path.display().to_string(),
            size_bytes,
            description: description
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            created_by_user_id: user,
            created_at: now,
            kind: Some(kind),
            sha256: Some(sha256_file(&path)?),
            schema_version: Some(manifest.schema_version),
        };
        let w = self.store.write()?;
        w.put_backup(&b)?;
        w.commit()?;
        tracing::info!(
            backup = id.get(),
            kind = kind.as_str(),
            bytes = size_bytes,
            ms = started.elapsed().as_millis() as u64,
            "backup written"
        );
        Ok(b)
    }

    /// Backups whose file exists, newest first (admins).
    pub fn list_backups(&self, caller: &Identity) -> AppResult<Vec<BackupView>> {
        caller.require_admin()?;
        let r = self.store.read()?;
        let mut all = r.backups()?;
        all.retain(|b| Path::new(&b.filepath).is_file());
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        all.into_iter()
            .map(|b| {
                let created_by = match b.created_by_user_id {
                    Some(u) => r.get_user(u)?,
                    None => None,
                };
                Ok(BackupView {
                    backup: b,
                    created_by,
                })
            })
            .collect()
    }

    pub fn get_backup(&self, caller: &Identity, id: BackupId) -> AppResult<BackupView> {
        caller.require_admin()?;
        let r = self.store.read()?;
        let b: Backup = r.backup(id)?.ok_or_else(|| {
            AppError::NotFound(format!("Backup with ID '{id}' not found in database."))
        })?;
        if !Path::new(&b.filepath).is_file() {
            return Err(AppError::NotFound(format!(
                "Backup file '{}' not found at '{}'.",
                b.filename, b.filepath
            )));
        }
        let created_by = match b.created_by_user_id {
            Some(u) => r.get_user(u)?,
            None => None,
        };
        Ok(BackupView {
            backup: b,
            created_by,
        })
    }

    pub fn delete_backup(&self, caller: &Identity, id: BackupId) -> AppResult<()> {
        caller.require_admin()?;
        let w = self.store.write()?;
        let b: Backup = w.delete_backup(id)?.ok_or_else(|| {
            AppError::NotFound(format!("Backup with ID '{id}' not found in database."))
        })?;
        w.commit()?;
        match std::fs::remove_file(&b.filepath) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("delete", Path::new(&b.filepath), e)),
        }
    }

    /// Replace all data with the backup's (admins). See the module comment for the steps.
    pub async fn restore_backup(&self, caller: &Identity, id: BackupId) -> AppResult<Restored> {
        caller.require_admin()?;
        let view = self.get_backup(caller, id)?;
        let _g = self.backup_lock.lock().await;
        let restored = crate::store::run_blocking(|| self.restore_locked(caller, view.backup))?;
        match self.sessions.rediscover_sessions().await {
            Ok((kept, ended)) => tracing::info!(kept, ended, "sessions checked after restore"),
            Err(e) => tracing::warn!(error = %e, "sessions not checked after restore"),
        }
        Ok(restored)
    }

    fn restore_locked(&self, caller: &Identity, backup: Backup) -> AppResult<Restored> {
        let path = PathBuf::from(&backup.filepath);
        let schema = crate::store::SCHEMA_VERSION;
        // 1. The whole archive is checked before anything changes.
        let Verified { manifest } = verify_archive(&path, schema, self.secrets.key_id())?;
        // 2. A safety copy of the data as it is now.
        let safety = self.write_backup(
            Some(caller.id()),
            Some(&format!(
                "Safety copy taken before restoring backup #{}",
                backup.id
            )),
            BackupKind::Safety,
        )?;
        // 3. A new store file from the archive, migrated to the current schema.
        let tmp = self.config.data_dir.join("aiops.redb.restoring");
        let _ = std::fs::remove_file(&tmp);
        let built = (|| -> AppResult<()> {
            let file = NewFile::create(&tmp, 64 << 20)?;
            let w = file.write()?;
            let f = std::fs::File::open(&path).map_err(|e| io_err("open", &path, e))?;
            let mut ar =
                tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(f)));
            for entry in ar.entries().map_err(corrupt)? {
                let mut entry = entry.map_err(corrupt)?;
                let name = entry
                    .path()
                    .map_err(corrupt)?
                    .to_string_lossy()
                    .into_owned();
                let Some(table) = name
                    .strip_prefix(dom::TABLE_DIR)
                    .map(|t| t.trim_end_matches(".bin").to_string())
                else {
                    continue;
                };
                let mut reader = std::io::BufReader::new(&mut entry);
                let mut it = std::iter::from_fn(|| {
                    dom::read_record(&mut reader).map_err(corrupt).transpose()
                });
                w.load_table_named(&table, &mut it)?;
            }
            // The catalogue of backups and the audit log stay as they are now.
            w.keep_live_tables(&self.store.read()?)?;
            w.commit()?;
            // Migrated, and checked that it opens and reads, before it replaces anything.
            file.finish()
        })();
        if let Err(e) = built {
            let _ = std::fs::remove_file(&tmp);
            return Err(match e {
                AppError::BadRequest(m) => AppError::BadRequest(m),
                other => AppError::Internal(format!(
                    "Failed to restore backup '{}': {other}; the current data is unchanged",
                    backup.id
                )),
            });
        }
        // 4. Swap: requests from now on use the restored data.
        self.store.swap_in(&tmp)?;
        tracing::warn!(
            backup = backup.id.get(),
            by = caller.id().get(),
            from_schema = manifest.schema_version,
            "store restored from backup"
        );
        Ok(Restored {
            backup,
            safety_backup: safety,
            from_schema: manifest.schema_version,
            counts: manifest.counts,
        })
    }

    // ---- restore from an uploaded archive ---------------------------------------------------

    fn uploads_dir(&self) -> PathBuf {
        self.backups_dir().join(".uploads")
    }

    /// Receive an uploaded archive (admins) into the data dir, at most `UPLOAD_MAX_BYTES`,
    /// and verify it completely (format, version, checksums, master key) as a restore does.
    /// Nothing is changed: the archive waits for `restore_uploaded_backup` with its token
    /// (an hour at most). A bad file is refused with what is wrong with it.
    pub async fn stage_backup_upload<R>(
        &self,
        caller: &Identity,
        file_name: &str,
        mut body: R,
    ) -> AppResult<StagedUpload>
    where
        R: tokio::io::AsyncRead + Unpin,
    {
        use rand::RngCore;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        caller.require_admin()?;
        let dir = self.uploads_dir();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io_err("create", &dir, e))?;
        remove_stale_uploads(&dir);
        let mut raw = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let token = hex::encode(raw);
        let part = dir.join(format!("{token}.part"));
        let written = async {
            let mut f = tokio::fs::File::create(&part)
                .await
                .map_err(|e| io_err("create", &part, e))?;
            let mut buf = vec![0u8; 1 << 16];
            let mut total = 0u64;
            loop {
                let n = body.read(&mut buf).await.map_err(|e| {
                    AppError::BadRequest(format!(
                        "the upload broke off ({e}); nothing was changed: upload the file again"
                    ))
                })?;
                if n == 0 {
                    break;
                }
                total += n as u64;
                if total > UPLOAD_MAX_BYTES {
                    return Err(AppError::BadRequest(format!(
                        "the file is larger than {} GiB, more than any backup this server takes; nothing was changed",
                        UPLOAD_MAX_BYTES >> 30
                    )));
                }
                f.write_all(buf.get(..n).unwrap_or(&buf))
                    .await
                    .map_err(|e| io_err("write", &part, e))?;
            }
            f.sync_all().await.map_err(|e| io_err("sync", &part, e))?;
            Ok(total)
        }
        .await;
        let checked = written.and_then(|size| {
            crate::store::run_blocking(|| {
                check_upload(
                    &part,
                    file_name,
                    crate::store::SCHEMA_VERSION,
                    self.secrets.key_id(),
                )
            })
            .map(|m| (size, m))
        });
        let (size_bytes, manifest) = match checked {
            Ok(x) => x,
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                return Err(e);
            }
        };
        let path = dir.join(format!("{token}.tar.gz"));
        std::fs::rename(&part, &path).map_err(|e| io_err("rename", &part, e))?;
        tracing::info!(
            by = caller.id().get(),
            bytes = size_bytes,
            "backup archive uploaded and verified"
        );
        Ok(StagedUpload {
            token,
            file_name: clean_name(file_name),
            size_bytes,
            manifest,
        })
    }

    /// Replace all data with an uploaded archive (admins): it becomes a listed backup (kind
    /// `uploaded`), then is restored like any backup (verified again, safety copy, swap).
    pub async fn restore_uploaded_backup(
        &self,
        caller: &Identity,
        token: &str,
        file_name: &str,
    ) -> AppResult<Restored> {
        caller.require_admin()?;
        if token.len() != 32 || !token.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(AppError::BadRequest(
                "that is not an upload token: upload the archive again".into(),
            ));
        }
        let staged = self.uploads_dir().join(format!("{token}.tar.gz"));
        if !staged.is_file() {
            return Err(AppError::NotFound(
                "the uploaded archive is gone (uploads are kept for an hour, and restored once): upload it again".into(),
            ));
        }
        let _g = self.backup_lock.lock().await;
        let restored = crate::store::run_blocking(|| -> AppResult<Restored> {
            let dir = self.backups_dir();
            let id = {
                let w = self.store.write()?;
                let id = w.new_backup_id()?;
                w.commit()?;
                id
            };
            let now = crate::domain::model::now();
            let filename = dom::file_name(now, id);
            let path = dir.join(&filename);
            std::fs::rename(&staged, &path).map_err(|e| io_err("move", &staged, e))?;
            let size_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let b = Backup {
                id,
                filename,
                filepath: path.display().to_string(),
                size_bytes,
                description: Some(format!("Uploaded archive {}", clean_name(file_name))),
                created_by_user_id: Some(caller.id()),
                created_at: now,
                kind: Some(BackupKind::Uploaded),
                sha256: Some(sha256_file(&path)?),
                schema_version: None,
            };
            let w = self.store.write()?;
            w.put_backup(&b)?;
            w.commit()?;
            self.restore_locked(caller, b)
        })?;
        match self.sessions.rediscover_sessions().await {
            Ok((kept, ended)) => tracing::info!(kept, ended, "sessions checked after restore"),
            Err(e) => tracing::warn!(error = %e, "sessions not checked after restore"),
        }
        Ok(restored)
    }

    /// Upload and restore in one step (the API): `stage_backup_upload`, then
    /// `restore_uploaded_backup`.
    pub async fn restore_from_upload<R>(
        &self,
        caller: &Identity,
        file_name: &str,
        body: R,
    ) -> AppResult<Restored>
    where
        R: tokio::io::AsyncRead + Unpin,
    {
        let staged = self.stage_backup_upload(caller, file_name, body).await?;
        self.restore_uploaded_backup(caller, &staged.token, &staged.file_name)
            .await
    }

    // ---- schedule and retention ------------------------------------------------------------

    /// The backup schedule (administrators, or the system caller for the scheduler).
    pub fn backup_schedule(&self, caller: &Identity) -> AppResult<BackupSchedule> {
        caller.require_admin()?;
        let r = self.store.read()?;
        Ok(r.setting(SCHEDULE_SETTING)?.unwrap_or_default())
    }

    pub fn set_backup_schedule(
        &self,
        caller: &Identity,
        s: BackupSchedule,
    ) -> AppResult<BackupSchedule> {
        caller.require_admin()?;
        let cron = s
            .cron
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty() && *c != "off")
            .map(|c| crate::domain::issues::cron_expression(c).map(|_| c.to_string()))
            .transpose()
            .map_err(AppError::BadRequest)?;
        if s.keep_last == Some(0) {
            return Err(AppError::BadRequest(
                "keep_last must be at least 1 (or absent to keep every backup)".into(),
            ));
        }
        let s = BackupSchedule {
            cron,
            keep_last: s.keep_last,
            keep_days: s.keep_days,
        };
        let w = self.store.write()?;
        w.put_setting(SCHEDULE_SETTING, &s)?;
        w.commit()?;
        Ok(s)
    }

    /// A scheduled backup, then retention.
    pub(crate) async fn run_scheduled_backup(&self) -> AppResult<Backup> {
        let _g = self.backup_lock.lock().await;
        let b = crate::store::run_blocking(|| {
            self.write_backup(None, Some("Scheduled backup"), BackupKind::Scheduled)
        })?;
        let removed = self.apply_retention()?;
        if !removed.is_empty() {
            tracing::info!(removed = ?removed, "old scheduled backups removed");
        }
        Ok(b)
    }

    /// Remove scheduled backups beyond the retention settings; returns their ids.
    pub(crate) fn apply_retention(&self) -> AppResult<Vec<BackupId>> {
        let s = self.backup_schedule(&Identity::system())?;
        let all: Vec<Backup> = {
            let r = self.store.read()?;
            r.backups()?
        };
        let gone = dom::expired(&all, s.keep_last, s.keep_days, crate::domain::model::now());
        for id in &gone {
            if let Some(b) = all.iter().find(|b| b.id == *id) {
                let _ = std::fs::remove_file(&b.filepath);
            }
            let w = self.store.write()?;
            w.delete_backup(*id)?;
            w.commit()?;
        }
        Ok(gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_upload_is_named_and_explained() {
        let e = upload_problem(b"", "/home/me/empty.tar.gz").unwrap_or_default();
        assert!(e.starts_with("'empty.tar.gz' is empty"), "{e}");
        let e = upload_problem(b"PK", "photos.zip").unwrap_or_default();
        assert!(e.contains("'photos.zip' is not a backup archive"), "{e}");
        assert!(e.contains("nothing was changed"), "{e}");
        assert_eq!(upload_problem(&[0x1f, 0x8b], "a.tar.gz"), None);
        assert_eq!(clean_name("C:\\x\\b.tar.gz"), "b.tar.gz");
        assert_eq!(clean_name("  "), "(unnamed)");
        assert_eq!(clean_name(&"a".repeat(500)).len(), 120);
    }
}
