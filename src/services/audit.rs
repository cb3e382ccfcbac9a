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
            w.commit()?;
            Ok(())
        })();
        if let Err(e) = res {
            tracing::error!(error = %e, "could not write audit entry");
        }
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
