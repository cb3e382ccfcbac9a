//! Store entities of notifications: Web Push subscriptions (by user) and each user's
//! notification preferences. The VAPID key pair is a sealed setting (`accounts.rs` settings).

use super::tables::*;
use super::{
    ReadTxn, Reader, WriteTxn, delete_row, index_del, index_set, multi_add, multi_del, next_id,
    put_row,
};
use crate::domain::UserId;
use crate::domain::notify::{NotifyPrefs, PushSubscription};
use crate::error::AppResult;
use redb::ReadableTable;

/// Reads that both kinds of transaction offer.
macro_rules! notify_reads {
    ($t:ty) => {
        impl $t {
            pub fn push_subscription(&self, id: u64) -> AppResult<Option<PushSubscription>> {
                self.row(PUSH_SUBSCRIPTIONS, id)
            }

            /// A user's subscriptions, oldest first.
            pub fn push_subscriptions_of(&self, user: UserId) -> AppResult<Vec<PushSubscription>> {
                let ids = self.ids(PUSH_SUBSCRIPTIONS_BY_USER, user)?;
                self.rows(PUSH_SUBSCRIPTIONS, ids)
            }

            /// The subscription of this push endpoint, whoever holds it.
            pub fn push_subscription_by_endpoint(
                &self,
                endpoint: &str,
            ) -> AppResult<Option<PushSubscription>> {
                let id = {
                    let t = self.open_table(PUSH_SUBSCRIPTIONS_BY_ENDPOINT)?;
                    t.get(endpoint)?.map(|v| v.value())
                };
                match id {
                    Some(id) => self.push_subscription(id),
                    None => Ok(None),
                }
            }

            /// A user's preferences; `None` until they saved some (the defaults apply).
            pub fn notify_prefs(&self, user: UserId) -> AppResult<Option<NotifyPrefs>> {
                self.row(NOTIFY_PREFS, user)
            }
        }
    };
}

notify_reads!(ReadTxn);
notify_reads!(WriteTxn);

impl WriteTxn {
    pub fn new_push_subscription_id(&self) -> AppResult<u64> {
        next_id(self, "push_subscriptions")
    }

    /// Store a subscription and its by-user and by-endpoint index entries (the caller removes
    /// another row holding the same endpoint first).
    pub fn put_push_subscription(&self, s: &PushSubscription) -> AppResult<()> {
        if let Some(old) = self.push_subscription(s.id)? {
            if old.user_id != s.user_id {
                multi_del(self, PUSH_SUBSCRIPTIONS_BY_USER, old.user_id, s.id)?;
            }
            if old.endpoint != s.endpoint {
                index_del(self, PUSH_SUBSCRIPTIONS_BY_ENDPOINT, &old.endpoint)?;
            }
        }
        put_row(self, PUSH_SUBSCRIPTIONS, s.id, s)?;
        index_set(self, PUSH_SUBSCRIPTIONS_BY_ENDPOINT, &s.endpoint, s.id)?;
        multi_add(self, PUSH_SUBSCRIPTIONS_BY_USER, s.user_id, s.id)
    }

    /// Remove a subscription with its index entry; the removed row, or `None`.
    pub fn delete_push_subscription(&self, id: u64) -> AppResult<Option<PushSubscription>> {
        let Some(s) = self.push_subscription(id)? else {
            return Ok(None);
        };
        multi_del(self, PUSH_SUBSCRIPTIONS_BY_USER, s.user_id, id)?;
        index_del(self, PUSH_SUBSCRIPTIONS_BY_ENDPOINT, &s.endpoint)?;
        delete_row(self, PUSH_SUBSCRIPTIONS, id)?;
        Ok(Some(s))
    }

    pub fn put_notify_prefs(&self, user: UserId, p: &NotifyPrefs) -> AppResult<()> {
        put_row(self, NOTIFY_PREFS, user, p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn sub(id: u64, user: u64, endpoint: &str) -> PushSubscription {
        PushSubscription {
            id,
            user_id: UserId(user),
            endpoint: endpoint.into(),
            p256dh: "k".into(),
            auth: "a".into(),
            user_agent: "test".into(),
            created_at: crate::domain::model::now(),
        }
    }

    #[test]
    fn subscriptions_by_user_and_prefs_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let w = store.write().unwrap();
        let a = w.new_push_subscription_id().unwrap();
        let b = w.new_push_subscription_id().unwrap();
        assert_ne!(a, b);
        w.put_push_subscription(&sub(a, 1, "https://p/1")).unwrap();
        w.put_push_subscription(&sub(b, 2, "https://p/2")).unwrap();
        let p = NotifyPrefs {
            agent_failed: false,
            ..Default::default()
        };
        w.put_notify_prefs(UserId(1), &p).unwrap();
        w.commit().unwrap();

        let r = store.read().unwrap();
        assert_eq!(r.push_subscriptions_of(UserId(1)).unwrap().len(), 1);
        assert_eq!(
            r.push_subscriptions_of(UserId(2)).unwrap()[0].endpoint,
            "https://p/2"
        );
        assert_eq!(r.notify_prefs(UserId(1)).unwrap(), Some(p));
        assert_eq!(r.notify_prefs(UserId(2)).unwrap(), None);
        assert_eq!(
            r.push_subscription_by_endpoint("https://p/2")
                .unwrap()
                .map(|s| s.id),
            Some(b)
        );
        drop(r);

        let w = store.write().unwrap();
        assert!(w.delete_push_subscription(a).unwrap().is_some());
        assert!(w.delete_push_subscription(a).unwrap().is_none());
        w.commit().unwrap();
        let r = store.read().unwrap();
        assert!(r.push_subscriptions_of(UserId(1)).unwrap().is_empty());
        assert_eq!(r.entries_of("push_subscriptions_by_user").unwrap(), 1);
        assert_eq!(r.entries_of("push_subscriptions_by_endpoint").unwrap(), 1);
    }
}
