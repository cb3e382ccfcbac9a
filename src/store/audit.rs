//! The audit log in the store: appending entries, retention, newest-first pages and scans, and
//! the stored row a target kind (`tenant`, `ssh_key`, …) names, for the admin's view.

use super::tables::*;
use super::{ReadTxn, RowTable, WriteTxn, decode, get_row, next_id, put_row};
use crate::domain::{AuditEntry, Id, Timestamp};
use crate::error::AppResult;
use redb::{ReadableTable, ReadableTableMetadata};

/// The table a target kind lives in, and the fields that name a row, best first.
fn table_of(kind: &str) -> Option<(RowTable, &'static [&'static str])> {
    Some(match kind {
        "tenant" => (TENANTS, &["name"]),
        "project" => (PROJECTS, &["name"]),
        "user" | "member" | "owner" => (USERS, &["email", "name"]),
        "key" => (API_KEYS, &["name", "key_prefix"]),
        "integration" => (INTEGRATIONS, &["name"]),
        "issue" => (ISSUES, &["title", "external_id"]),
        "ssh_key" => (SSH_KEYS, &["name", "fingerprint"]),
        "known_host" => (KNOWN_HOSTS, &["host"]),
        "backup" => (BACKUPS, &["filename"]),
        "ansible_run" => (ANSIBLE_RUNS, &["playbook"]),
        "ansible_schedule" => (ANSIBLE_SCHEDULES, &["name", "playbook"]),
        "session" => (AI_SESSIONS, &["description", "tool"]),
        _ => return None,
    })
}

/// The fields that name a row of target kind `kind`, best first; None when the kind has no
/// table of its own.
pub fn target_fields(kind: &str) -> Option<&'static [&'static str]> {
    table_of(kind).map(|(_, f)| f)
}

impl WriteTxn {
    /// Append an entry under the next audit id (set in `entry`); returns how many rows the
    /// log holds now.
    pub fn append_audit(&self, entry: &mut AuditEntry) -> AppResult<u64> {
        entry.id = next_id(self, "audit_log")?;
        put_row(self, AUDIT_LOG, entry.id, entry)?;
        Ok(self.open_table(AUDIT_LOG)?.len()?)
    }

    /// Store an entry under its own id (imports; the caller keeps `seq` in step).
    pub fn insert_audit(&self, entry: &AuditEntry) -> AppResult<()> {
        put_row(self, AUDIT_LOG, entry.id, entry)
    }

    /// Remove, oldest first, the entries beyond `max_rows` and those older than `cutoff`
    /// (an unreadable row counts as old), at most `batch` of them. Returns how many went.
    pub fn prune_audit(&self, cutoff: Timestamp, max_rows: u64, batch: usize) -> AppResult<u64> {
        let mut t = self.open_table(AUDIT_LOG)?;
        let over = t.len()?.saturating_sub(max_rows);
        let mut doomed = Vec::new();
        for item in t.iter()? {
            let (k, v) = item?;
            let old = decode::<AuditEntry>(v.value())
                .map(|e| e.created_at < cutoff)
                .unwrap_or(true);
            if (doomed.len() as u64) < over || old {
                doomed.push(k.value());
            } else {
                break;
            }
            if doomed.len() >= batch {
                break;
            }
        }
        for k in &doomed {
            t.remove(*k)?;
        }
        Ok(doomed.len() as u64)
    }
}

impl ReadTxn {
    /// How many entries the log holds.
    pub fn audit_len(&self) -> AppResult<u64> {
        Ok(self.open_table(AUDIT_LOG)?.len()?)
    }

    /// Entries newest first: `limit` of them after skipping `offset`.
    pub fn audit_newest(&self, offset: usize, limit: usize) -> AppResult<Vec<AuditEntry>> {
        let t = self.open_table(AUDIT_LOG)?;
        let mut out = Vec::with_capacity(limit.min(500));
        for item in t.iter()?.rev().skip(offset).take(limit) {
            out.push(decode(item?.1.value())?);
        }
        Ok(out)
    }

    /// Each stored entry's JSON, newest first, handed to `f` until it returns false (a filter
    /// can decode just the fields it needs).
    pub fn scan_audit_newest(&self, mut f: impl FnMut(&[u8]) -> AppResult<bool>) -> AppResult<()> {
        let t = self.open_table(AUDIT_LOG)?;
        for item in t.iter()?.rev() {
            if !f(item?.1.value())? {
                break;
            }
        }
        Ok(())
    }

    /// The stored row `id` of target kind `kind` as JSON; None when it is gone or the kind
    /// has no table.
    pub fn audit_target_row(&self, kind: &str, id: Id) -> AppResult<Option<serde_json::Value>> {
        match table_of(kind) {
            Some((table, _)) => get_row(self, table, id),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Store;
    use super::*;
    use crate::domain::AuditSource;

    fn entry(at: Timestamp) -> AuditEntry {
        AuditEntry {
            id: 0,
            user_id: None,
            api_key_id: None,
            method: "POST".into(),
            path: "/api/v1/tenants".into(),
            query: None,
            request_body: None,
            status: 200,
            duration_ms: 1.0,
            ip_address: None,
            user_agent: None,
            error_message: None,
            created_at: at,
            source: AuditSource::Api,
            request_id: None,
        }
    }

    #[test]
    fn entries_append_page_newest_first_and_prune_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let now = crate::domain::model::now();
        let w = s.write().unwrap();
        for days in [40, 30, 1, 0] {
            let mut e = entry(now - chrono::Duration::days(days));
            w.append_audit(&mut e).unwrap();
        }
        let mut e = entry(now);
        assert_eq!(w.append_audit(&mut e).unwrap(), 5);
        assert_eq!(e.id, 5);
        w.commit().unwrap();
        let r = s.read().unwrap();
        let ids: Vec<Id> = r.audit_newest(1, 2).unwrap().iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![4, 3]);
        let mut seen = Vec::new();
        r.scan_audit_newest(|b| {
            seen.push(super::super::decode::<AuditEntry>(b)?.id);
            Ok(seen.len() < 3)
        })
        .unwrap();
        assert_eq!(seen, vec![5, 4, 3]);
        drop(r);

        // Older than 35 days, or beyond a cap of 3 rows: the two oldest go.
        let w = s.write().unwrap();
        let cutoff = now - chrono::Duration::days(35);
        assert_eq!(w.prune_audit(cutoff, 3, 100).unwrap(), 2);
        assert_eq!(w.prune_audit(cutoff, 3, 100).unwrap(), 0);
        w.commit().unwrap();
        let r = s.read().unwrap();
        assert_eq!(r.audit_len().unwrap(), 3);
        assert_eq!(r.audit_newest(0, 10).unwrap().last().map(|e| e.id), Some(3));
        assert!(r.audit_target_row("tenant", 1).unwrap().is_none());
        assert!(r.audit_target_row("nothing", 1).unwrap().is_none());
        assert_eq!(target_fields("ssh_key"), Some(&["name", "fingerprint"][..]));
    }
}
