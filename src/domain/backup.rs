//! Backup archives: the manifest, the per-table record format, and the retention rule.
//!
//! An archive is a tar.gz holding `tables/<name>.bin` (one per store table, taken inside a
//! single read transaction) and then `manifest.json`. A table file is a sequence of records
//! `u32 LE key length, key, u32 LE value length, value` with keys and values as the store holds
//! them (integers as 8 little-endian bytes, text as UTF-8, rows as JSON).

use super::ids::BackupId;
use super::model::{Backup, BackupKind, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const FORMAT: &str = "aiops-backup";
pub const FORMAT_VERSION: u32 = 1;
pub const MANIFEST: &str = "manifest.json";
pub const TABLE_DIR: &str = "tables/";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableEntry {
    pub name: String,
    pub entries: u64,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub aiops_version: String,
    pub schema_version: u64,
    pub created_at: Timestamp,
    #[serde(default)]
    pub description: Option<String>,
    pub tables: Vec<TableEntry>,
    /// Rows per entity (users, tenants, projects, issues, …) for people reading the manifest.
    pub counts: std::collections::BTreeMap<String, u64>,
    /// SHA-256 over the tables' SHA-256s in order: one value that covers all the data.
    pub checksum: String,
    /// The first 16 hex characters of SHA-256(master key): secrets in the backup decrypt only
    /// under that key.
    pub master_key_id: String,
}

impl Manifest {
    pub fn compute_checksum(tables: &[TableEntry]) -> String {
        let mut h = Sha256::new();
        for t in tables {
            h.update(t.name.as_bytes());
            h.update([0]);
            h.update(t.sha256.as_bytes());
            h.update([0]);
        }
        hex::encode(h.finalize())
    }

    /// Check what can be checked without the data: format, schema, checksum of the listing.
    pub fn check(&self, current_schema: u64) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!(
                "not an aiops backup (format '{}', expected '{FORMAT}')",
                self.format
            ));
        }
        if self.format_version > FORMAT_VERSION {
            return Err(format!(
                "backup format version {} is newer than this aiops reads ({FORMAT_VERSION}); upgrade aiops first",
                self.format_version
            ));
        }
        if self.schema_version > current_schema {
            return Err(format!(
                "the backup has store schema version {}, newer than this aiops ({current_schema}, version {}); restore it with aiops {} or later",
                self.schema_version,
                env!("CARGO_PKG_VERSION"),
                self.aiops_version
            ));
        }
        if Self::compute_checksum(&self.tables) != self.checksum {
            return Err(
                "the manifest's checksum does not match its table list: the archive was altered"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Append one record to a table file.
pub fn put_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
}

/// Read the next record from a stream; `None` at a clean end, an error inside a record.
pub fn read_record(r: &mut impl std::io::Read) -> std::io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(len.get_mut(got..).unwrap_or_default())?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "truncated table record",
                ))
            };
        }
        got += n;
    }
    let mut key = vec![0u8; u32::from_le_bytes(len) as usize];
    r.read_exact(&mut key)?;
    r.read_exact(&mut len)?;
    let mut value = vec![0u8; u32::from_le_bytes(len) as usize];
    r.read_exact(&mut value)?;
    Ok(Some((key, value)))
}

/// `aiops_backup_20261125T101500Z_7.tar.gz`
pub fn file_name(at: Timestamp, id: BackupId) -> String {
    format!("aiops_backup_{}_{id}.tar.gz", at.format("%Y%m%dT%H%M%SZ"))
}

/// Which scheduled backups retention removes: beyond the newest `keep_last`, and (when
/// `keep_days` is set) older than that many days — but never the newest one. Only scheduled
/// backups are removed (manual, safety and uploaded ones never).
pub fn expired(
    backups: &[Backup],
    keep_last: Option<usize>,
    keep_days: Option<u32>,
    now: Timestamp,
) -> Vec<BackupId> {
    let mut scheduled: Vec<&Backup> = backups
        .iter()
        .filter(|b| b.kind == Some(BackupKind::Scheduled))
        .collect();
    scheduled.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let mut out = Vec::new();
    for (i, b) in scheduled.iter().enumerate() {
        if i == 0 {
            continue;
        }
        let too_many = keep_last.is_some_and(|n| i >= n.max(1));
        let too_old =
            keep_days.is_some_and(|d| now - b.created_at > chrono::Duration::days(i64::from(d)));
        if too_many || too_old {
            out.push(b.id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn b(id: u64, kind: BackupKind, days_ago: i64) -> Backup {
        Backup {
            id: BackupId(id),
            filename: format!("f{id}"),
            filepath: format!("/b/f{id}"),
            size_bytes: 1,
            description: None,
            created_by_user_id: None,
            created_at: crate::domain::model::now() - Duration::days(days_ago),
            kind: Some(kind),
            sha256: None,
            schema_version: None,
        }
    }

    #[test]
    fn records_round_trip_and_truncation_is_an_error() {
        let mut buf = Vec::new();
        put_record(&mut buf, b"k1", b"v1");
        put_record(&mut buf, &7u64.to_le_bytes(), b"");
        let cut = &buf[..buf.len() - 3];
        let mut stream = std::io::Cursor::new(buf.clone());
        assert_eq!(
            read_record(&mut stream).unwrap(),
            Some((b"k1".to_vec(), b"v1".to_vec()))
        );
        assert!(read_record(&mut stream).unwrap().is_some());
        assert!(read_record(&mut stream).unwrap().is_none());
        let mut short = std::io::Cursor::new(cut.to_vec());
        assert!(read_record(&mut short).unwrap().is_some());
        assert!(read_record(&mut short).is_err());
    }

    #[test]
    fn retention_keeps_newest_and_manual_backups() {
        let all = vec![
            b(1, BackupKind::Scheduled, 10),
            b(2, BackupKind::Manual, 9),
            b(3, BackupKind::Scheduled, 3),
            b(4, BackupKind::Scheduled, 2),
            b(5, BackupKind::Safety, 1),
            b(6, BackupKind::Scheduled, 0),
        ];
        let now = crate::domain::model::now();
        assert_eq!(
            expired(&all, Some(2), None, now),
            vec![BackupId(3), BackupId(1)]
        );
        assert_eq!(expired(&all, None, Some(5), now), vec![BackupId(1)]);
        assert_eq!(expired(&all, Some(10), None, now), Vec::<BackupId>::new());
        // Everything too old: the newest scheduled one stays.
        assert_eq!(expired(&all, None, Some(0), now).len(), 3);
        assert!(!expired(&all, None, Some(0), now).contains(&BackupId(6)));
    }

    #[test]
    fn manifest_checks() {
        let tables = vec![TableEntry {
            name: "users".into(),
            entries: 1,
            bytes: 10,
            sha256: "ab".into(),
        }];
        let mut m = Manifest {
            format: FORMAT.into(),
            format_version: 1,
            aiops_version: "0.1.0".into(),
            schema_version: 2,
            created_at: crate::domain::model::now(),
            description: None,
            checksum: Manifest::compute_checksum(&tables),
            tables,
            counts: Default::default(),
            master_key_id: "x".into(),
        };
        assert!(m.check(2).is_ok());
        assert!(m.check(1).unwrap_err().contains("newer than this aiops"));
        m.tables[0].sha256 = "cd".into();
        assert!(m.check(2).unwrap_err().contains("altered"));
        m.format = "zip".into();
        assert!(m.check(2).unwrap_err().contains("not an aiops backup"));
    }
}
