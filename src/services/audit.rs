//! The audit log of API writes.

use super::App;
use crate::auth::Identity;
use crate::domain::AuditEntry;
use crate::error::AppResult;
use crate::store::tables::*;
use crate::store::*;
use redb::{ReadableTable, ReadableTableMetadata};

impl App {
    /// Append one entry. Never fails the request: errors are logged.
    pub fn record_audit(&self, mut entry: AuditEntry) {
        let res = (|| -> AppResult<()> {
            let w = self.store.write()?;
            entry.id = next_id(&w, "audit_log")?;
            put_row(&w, AUDIT_LOG, entry.id, &entry)?;
            let len = w.open_table(AUDIT_LOG)?.len()?;
            w.commit()?;
            // The row cap holds between the scheduler's hourly runs too (with 10% slack).
            let max = self.config.audit_max_rows;
            if len > max + max / 10 {
                self.apply_audit_retention()?;
            }
            Ok(())
        })();
        if let Err(e) = res {
            tracing::error!(error = %e, "could not write audit entry");
        }
    }

    /// Remove entries older than the retention and beyond the row cap (oldest first), at
    /// most 100,000 per call so one transaction stays small. Returns how many went.
    pub(crate) fn apply_audit_retention(&self) -> AppResult<u64> {
        let cutoff = crate::domain::model::now()
            - chrono::Duration::days(self.config.audit_retention_days as i64);
        let w = self.store.write()?;
        let removed = {
            let mut t = w.open_table(AUDIT_LOG)?;
            let len = t.len()?;
            let over = len.saturating_sub(self.config.audit_max_rows);
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
                if doomed.len() >= 100_000 {
                    break;
                }
            }
            for k in &doomed {
                t.remove(*k)?;
            }
            doomed.len() as u64
        };
        w.commit()?;
        if removed > 0 {
            tracing::info!(removed, "audit log retention applied");
        }
        Ok(removed)
    }

    /// Newest first. Admins only.
    pub fn list_audit(
        &self,
        caller: &Identity,
        limit: usize,
        offset: usize,
    ) -> AppResult<(Vec<AuditEntry>, u64)> {
        caller.require_admin()?;
        let r = self.store.read()?;
        let t = r.open_table(AUDIT_LOG)?;
        let total = t.len()?;
        let mut out = Vec::with_capacity(limit.min(500));
        for item in t.iter()?.rev().skip(offset).take(limit) {
            let (_, v) = item?;
            out.push(decode(v.value())?);
        }
        Ok((out, total))
    }
}
