//! Pins: a user's own list of issues, newest pin first (rows and indexes in `store::issues`).

use super::IssueView;
use crate::auth::Identity;
use crate::domain::IssueId;
use crate::domain::access::Action;
use crate::domain::{PinnedIssue, Scope};
use crate::error::{AppError, AppResult};
use crate::services::integrations::Trackers;

impl Trackers {
    /// Pin for the caller; `None` when it was already pinned.
    pub fn pin_issue(&self, caller: &Identity, id: IssueId) -> AppResult<Option<PinnedIssue>> {
        caller.require(Scope::Write)?;
        {
            let r = self.store.read()?;
            self.visible_issue(&r, caller, id, Action::View)?;
        }
        let w = self.store.write()?;
        if w.pin_of(caller.id(), id)?.is_some() {
            return Ok(None);
        }
        let pin = w.add_pin(caller.id(), id, crate::domain::model::now())?;
        w.commit()?;
        Ok(Some(pin))
    }

    pub fn unpin_issue(&self, caller: &Identity, id: IssueId) -> AppResult<()> {
        caller.require(Scope::Write)?;
        let w = self.store.write()?;
        let pin = w
            .pin_of(caller.id(), id)?
            .ok_or_else(|| AppError::NotFound("Issue is not pinned".into()))?;
        w.delete_pin(&pin)?;
        w.commit()?;
        Ok(())
    }

    /// The caller's pinned issues, newest pin first.
    pub fn pinned_issues(&self, caller: &Identity) -> AppResult<Vec<IssueView>> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        let mut pins = r.pins_of_user(caller.id())?;
        pins.sort_by_key(|p| std::cmp::Reverse(p.pinned_at));
        let mut names = r.issue_names()?;
        let mut out = Vec::new();
        for p in pins {
            if let Ok(issue) = self.visible_issue(&r, caller, p.issue_id, Action::View) {
                out.push(names.view(issue, Some(p.pinned_at))?);
            }
        }
        Ok(out)
    }

    pub fn is_pinned(&self, caller: &Identity, id: IssueId) -> AppResult<bool> {
        let r = self.store.read()?;
        Ok(r.pins_of_user(caller.id())?
            .iter()
            .any(|p: &PinnedIssue| p.issue_id == id))
    }
}
