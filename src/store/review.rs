//! Review notes in the store: line comments and approvals on an agent session's diff, by
//! session (`REVIEW_NOTES` with its by-session index).

use super::tables::*;
use super::{ReadTxn, Reader, WriteTxn, multi_add, next_id, put_row};
use crate::domain::SessionId;
use crate::domain::review::ReviewNote;
use crate::error::AppResult;

impl WriteTxn {
    /// Store a new note under the next id (set in `note`).
    pub fn add_review_note(&self, note: &mut ReviewNote) -> AppResult<()> {
        note.id = next_id(self, "review_notes")?;
        put_row(self, REVIEW_NOTES, note.id, note)?;
        multi_add(self, REVIEW_NOTES_BY_SESSION, note.session_id, note.id)
    }
}

impl ReadTxn {
    /// A session's review notes, oldest first.
    pub fn review_notes(&self, session: SessionId) -> AppResult<Vec<ReviewNote>> {
        let ids = self.ids(REVIEW_NOTES_BY_SESSION, session)?;
        self.rows(REVIEW_NOTES, ids)
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::review::ReviewNote;
    use crate::domain::{SessionId, UserId, now};

    #[test]
    fn notes_are_kept_per_session_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::Store::open(dir.path()).unwrap();
        let w = s.write().unwrap();
        for (sid, text) in [(1u64, "a"), (2, "other"), (1, "b")] {
            let mut n = ReviewNote {
                id: 0,
                session_id: SessionId::from(sid),
                user_id: UserId::from(5u64),
                author: "Ann".into(),
                kind: "comment".into(),
                path: Some("src/x.rs".into()),
                line: Some(3),
                text: text.into(),
                created_at: now(),
            };
            w.add_review_note(&mut n).unwrap();
        }
        w.commit().unwrap();
        let r = s.read().unwrap();
        let texts: Vec<String> = r
            .review_notes(SessionId::from(1u64))
            .unwrap()
            .into_iter()
            .map(|n| n.text)
            .collect();
        assert_eq!(texts, ["a", "b"]);
        assert_eq!(r.review_notes(SessionId::from(9u64)).unwrap(), vec![]);
    }
}
