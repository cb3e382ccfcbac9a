//! Accounts in the store: users (with the email index), API keys (digest and per-user indexes),
//! web sessions (keyed by the token's digest), global settings rows (`setting` is their one
//! reader) and the pending setup token (in `meta`); plus `Lookup`, the few
//! table reads a read and a write transaction answer alike, which the entity reads of
//! `accounts`, `tenancy` and `integrations` are built on.
//!
//! Writes of an entity go through one method that keeps all of its indexes right; deleting a
//! user removes everything that points at it (`WriteTxn::delete_user`).

use super::tables::*;
use super::tenancy::TenancyReads;
use super::{
    IndexTable, MultiIndex, ReadTxn, Reader, RowTable, WriteTxn, decode, delete_row, encode,
    get_row_w, index_del, index_set, meta_del, meta_get, meta_set, multi_add, multi_del,
    multi_ids_w, next_id, put_row,
};
use crate::domain::{ApiKey, ApiKeyId, Id, PinnedIssue, User, UserId, WebSession};
use crate::error::AppResult;
use redb::{
    ReadableMultimapTable, ReadableTable, ReadableTableMetadata, TableDefinition, TableError,
};
use serde::{Serialize, de::DeserializeOwned};

/// A table of rows keyed by a string (web sessions, settings).
pub type StrRowTable = TableDefinition<'static, &'static str, &'static [u8]>;

/// Table reads that work the same inside a read or a write transaction (store-internal: the
/// entity reads below and in `tenancy`/`integrations` use them; services call those).
pub trait Lookup: Reader {
    /// The id a string index maps `key` to.
    fn key_id(&self, def: IndexTable, key: &str) -> AppResult<Option<Id>>;
    /// The row a string-keyed table holds under `key`.
    fn keyed_row<T: DeserializeOwned>(&self, def: StrRowTable, key: &str) -> AppResult<Option<T>>;
    /// Every row of a table, in id order.
    fn every_row<T: DeserializeOwned>(&self, def: RowTable) -> AppResult<Vec<T>>;
    /// Every id of a table, in order.
    fn every_id(&self, def: RowTable) -> AppResult<Vec<Id>>;
    /// How many rows a table holds.
    fn row_count(&self, def: RowTable) -> AppResult<u64>;
    /// How many ids an index holds under `key`.
    fn id_count(&self, def: MultiIndex, key: impl Into<u64>) -> AppResult<u64>;
    /// The rows with these ids that exist, in the order given (the table is opened once).
    fn rows_at<T: DeserializeOwned, I: Into<u64>>(
        &self,
        def: RowTable,
        ids: Vec<I>,
    ) -> AppResult<Vec<T>>;
}

macro_rules! impl_lookup {
    ($t:ty) => {
        impl Lookup for $t {
            fn key_id(&self, def: IndexTable, key: &str) -> AppResult<Option<Id>> {
                let t = self.open_table(def)?;
                let v = t.get(key)?.map(|v| v.value());
                Ok(v)
            }
            fn keyed_row<T: DeserializeOwned>(
                &self,
                def: StrRowTable,
                key: &str,
            ) -> AppResult<Option<T>> {
                let t = self.open_table(def)?;
                let v = t.get(key)?;
                v.map(|v| decode(v.value())).transpose()
            }
            fn every_row<T: DeserializeOwned>(&self, def: RowTable) -> AppResult<Vec<T>> {
                let t = self.open_table(def)?;
                let mut out = Vec::with_capacity(t.len()? as usize);
                for item in t.iter()? {
                    out.push(decode(item?.1.value())?);
                }
                Ok(out)
            }
            fn every_id(&self, def: RowTable) -> AppResult<Vec<Id>> {
                let t = self.open_table(def)?;
                let mut out = Vec::new();
                for item in t.iter()? {
                    out.push(item?.0.value());
                }
                Ok(out)
            }
            fn row_count(&self, def: RowTable) -> AppResult<u64> {
                let t = self.open_table(def)?;
                let n = t.len()?;
                Ok(n)
            }
            fn id_count(&self, def: MultiIndex, key: impl Into<u64>) -> AppResult<u64> {
                let t = self.open_multimap_table(def)?;
                let n = t.get(key.into())?.len();
                Ok(n)
            }
            fn rows_at<T: DeserializeOwned, I: Into<u64>>(
                &self,
                def: RowTable,
                ids: Vec<I>,
            ) -> AppResult<Vec<T>> {
                let t = self.open_table(def)?;
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(v) = t.get(id.into())? {
                        out.push(decode(v.value())?);
                    }
                }
                Ok(out)
            }
        }
    };
}

impl_lookup!(ReadTxn);
impl_lookup!(WriteTxn);

/// Reads of users, API keys and web sessions (in a read or a write transaction; settings are
/// read by `setting`, below).
pub trait AccountReads: Lookup {
    fn get_user(&self, id: UserId) -> AppResult<Option<User>> {
        self.row(USERS, id)
    }

    /// The users with these ids that exist, in the order given.
    fn users_by_ids(&self, ids: Vec<UserId>) -> AppResult<Vec<User>> {
        self.rows_at(USERS, ids)
    }

    /// The user id registered for an email (as stored: normalised, lower case).
    fn user_id_by_email(&self, email: &str) -> AppResult<Option<UserId>> {
        Ok(self.key_id(USERS_BY_EMAIL, email)?.map(UserId))
    }

    fn user_by_email(&self, email: &str) -> AppResult<Option<User>> {
        match self.user_id_by_email(email)? {
            Some(id) => self.get_user(id),
            None => Ok(None),
        }
    }

    /// Every user, in id order.
    fn users(&self) -> AppResult<Vec<User>> {
        self.every_row(USERS)
    }

    fn user_count(&self) -> AppResult<u64> {
        self.row_count(USERS)
    }

    /// How many users are administrators.
    fn admin_count(&self) -> AppResult<usize> {
        Ok(self.users()?.iter().filter(|u| u.is_admin).count())
    }

    fn get_api_key(&self, id: ApiKeyId) -> AppResult<Option<ApiKey>> {
        self.row(API_KEYS, id)
    }

    /// The key stored under a SHA-256 digest (or a `legacy:` prefix entry).
    fn api_key_id_by_digest(&self, digest: &str) -> AppResult<Option<ApiKeyId>> {
        Ok(self.key_id(API_KEYS_BY_DIGEST, digest)?.map(ApiKeyId))
    }

    /// A user's keys, in id order.
    fn api_keys_of_user(&self, user_id: UserId) -> AppResult<Vec<ApiKey>> {
        self.rows_at(API_KEYS, self.ids(API_KEYS_BY_USER, user_id)?)
    }

    fn api_key_count(&self) -> AppResult<u64> {
        self.row_count(API_KEYS)
    }

    fn api_key_count_of_user(&self, user_id: UserId) -> AppResult<u64> {
        self.id_count(API_KEYS_BY_USER, user_id)
    }

    /// The web session whose token has this digest (expired or not).
    fn get_web_session(&self, digest: &str) -> AppResult<Option<WebSession>> {
        self.keyed_row(WEB_SESSIONS, digest)
    }
}

impl<X: Lookup> AccountReads for X {}

/// The one reader of global settings, for both kinds of transaction: a setting's value (JSON),
/// or None when it was never set (or the table is missing, as in a file from before settings
/// existed).
macro_rules! setting_reader {
    ($t:ty) => {
        impl $t {
            /// A global setting (`settings` table), decoded; None when never set.
            pub fn setting<T: DeserializeOwned>(&self, key: &str) -> AppResult<Option<T>> {
                match self.open_table(SETTINGS) {
                    Ok(t) => t.get(key)?.map(|v| decode(v.value())).transpose(),
                    Err(TableError::TableDoesNotExist(_)) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
        }
    };
}

setting_reader!(ReadTxn);
setting_reader!(WriteTxn);

/// The `meta` key of the pending one-time setup token's digest.
const SETUP_TOKEN_META: &str = "setup_token_digest";

impl ReadTxn {
    /// The digest of the pending one-time setup token, if one was issued and not used.
    pub fn setup_token_digest(&self) -> AppResult<Option<Vec<u8>>> {
        meta_get(self, SETUP_TOKEN_META)
    }

    /// Ids of the keys imported from the Python aiops whose digest entry starts with `prefix`
    /// (`legacy:<first 12 characters>:`).
    pub fn legacy_api_key_ids(&self, prefix: &str) -> AppResult<Vec<ApiKeyId>> {
        let t = self.open_table(API_KEYS_BY_DIGEST)?;
        let mut ids = Vec::new();
        for item in t.range(prefix..)? {
            let (k, v) = item?;
            if !k.value().starts_with(prefix) {
                break;
            }
            ids.push(ApiKeyId(v.value()));
        }
        Ok(ids)
    }
}

impl WriteTxn {
    /// A new user id (ids are never reused).
    pub fn new_user_id(&self) -> AppResult<UserId> {
        next_id(self, "users").map(UserId)
    }

    /// A new API key id.
    pub fn new_api_key_id(&self) -> AppResult<ApiKeyId> {
        next_id(self, "api_keys").map(ApiKeyId)
    }

    /// Record the digest of a new one-time setup token (replacing any earlier one).
    pub fn put_setup_token_digest(&self, digest: &str) -> AppResult<()> {
        meta_set(self, SETUP_TOKEN_META, digest.as_bytes())
    }

    /// Forget the setup token (it was used).
    pub fn delete_setup_token(&self) -> AppResult<()> {
        meta_del(self, SETUP_TOKEN_META)
    }

    /// Save a user with its email index (a changed email moves the entry). Callers check that
    /// the email is free first.
    pub fn put_user(&self, u: &User) -> AppResult<()> {
        if let Some(old) = get_row_w::<User>(self, USERS, u.id)?
            && old.email != u.email
        {
            index_del(self, USERS_BY_EMAIL, &old.email)?;
        }
        put_row(self, USERS, u.id, u)?;
        index_set(self, USERS_BY_EMAIL, &u.email, u.id)
    }

    /// Remove a user and everything of theirs: API keys, pins, personal credentials, the
    /// identity map, memberships and web sessions. Callers refuse first while the user owns
    /// projects.
    pub fn delete_user(&self, id: UserId) -> AppResult<()> {
        let Some(user) = get_row_w::<User>(self, USERS, id)? else {
            return Ok(());
        };
        for kid in multi_ids_w(self, API_KEYS_BY_USER, id)? {
            if let Some(k) = get_row_w::<ApiKey>(self, API_KEYS, kid)? {
                index_del(self, API_KEYS_BY_DIGEST, &k.key_digest)?;
            }
            delete_row(self, API_KEYS, kid)?;
        }
        self.open_multimap_table(API_KEYS_BY_USER)?
            .remove_all(id.get())?;
        for pid in multi_ids_w(self, PINS_BY_USER, id)? {
            match get_row_w::<PinnedIssue>(self, PINS, pid)? {
                Some(pin) => self.delete_pin(&pin)?,
                None => delete_row(self, PINS, pid)?,
            }
        }
        self.open_multimap_table(PINS_BY_USER)?
            .remove_all(id.get())?;
        for cid in multi_ids_w(self, USER_CREDENTIALS_BY_USER, id)? {
            delete_row(self, USER_CREDENTIALS, cid)?;
        }
        self.open_multimap_table(USER_CREDENTIALS_BY_USER)?
            .remove_all(id.get())?;
        delete_row(self, IDENTITY_MAP, id)?;
        for m in self.memberships_of_user(id)? {
            self.delete_membership(&m)?;
        }
        self.open_multimap_table(MEMBERSHIPS_BY_USER)?
            .remove_all(id.get())?;
        self.end_web_sessions_of(id)?;
        index_del(self, USERS_BY_EMAIL, &user.email)?;
        delete_row(self, USERS, id)
    }

    /// Save an API key with its digest and per-user indexes (a changed digest moves the entry).
    pub fn put_api_key(&self, k: &ApiKey) -> AppResult<()> {
        if let Some(old) = get_row_w::<ApiKey>(self, API_KEYS, k.id)? {
            if old.key_digest != k.key_digest {
                index_del(self, API_KEYS_BY_DIGEST, &old.key_digest)?;
            }
            if old.user_id != k.user_id {
                multi_del(self, API_KEYS_BY_USER, old.user_id, k.id)?;
            }
        }
        put_row(self, API_KEYS, k.id, k)?;
        index_set(self, API_KEYS_BY_DIGEST, &k.key_digest, k.id)?;
        multi_add(self, API_KEYS_BY_USER, k.user_id, k.id)
    }

    /// Remove an API key with its index entries (nothing when it is gone already).
    pub fn delete_api_key(&self, id: ApiKeyId) -> AppResult<()> {
        if let Some(k) = get_row_w::<ApiKey>(self, API_KEYS, id)? {
            index_del(self, API_KEYS_BY_DIGEST, &k.key_digest)?;
            multi_del(self, API_KEYS_BY_USER, k.user_id, id)?;
            delete_row(self, API_KEYS, id)?;
        }
        Ok(())
    }

    /// Save a web session under its token's digest.
    pub fn put_web_session(&self, digest: &str, s: &WebSession) -> AppResult<()> {
        let bytes = encode(s)?;
        self.open_table(WEB_SESSIONS)?
            .insert(digest, bytes.as_slice())?;
        Ok(())
    }

    pub fn delete_web_session(&self, digest: &str) -> AppResult<()> {
        self.open_table(WEB_SESSIONS)?.remove(digest)?;
        Ok(())
    }

    /// End every web session of a user (a password change, a deleted account). Rows that do
    /// not decode go too.
    pub fn end_web_sessions_of(&self, user_id: UserId) -> AppResult<()> {
        self.open_table(WEB_SESSIONS)?.retain(|_, v| {
            decode::<WebSession>(v)
                .map(|s| s.user_id != user_id)
                .unwrap_or(false)
        })?;
        Ok(())
    }

    /// Remove the sessions that expired at `now` (and rows that do not decode).
    pub fn sweep_web_sessions(&self, now: crate::domain::Timestamp) -> AppResult<()> {
        self.open_table(WEB_SESSIONS)?.retain(|_, v| {
            decode::<WebSession>(v)
                .map(|s| s.expires_at > now)
                .unwrap_or(false)
        })?;
        Ok(())
    }

    /// Save a global setting (`settings` table).
    pub fn put_setting<T: Serialize>(&self, key: &str, value: &T) -> AppResult<()> {
        let bytes = encode(value)?;
        self.open_table(SETTINGS)?.insert(key, bytes.as_slice())?;
        Ok(())
    }

    /// Remove a global setting; true when there was one.
    pub fn delete_setting(&self, key: &str) -> AppResult<bool> {
        let existed = self.open_table(SETTINGS)?.remove(key)?.is_some();
        Ok(existed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn user(id: UserId, email: &str, admin: bool) -> User {
        let now = crate::domain::model::now();
        User {
            id,
            email: email.into(),
            name: "U".into(),
            password_hash: String::new(),
            is_admin: admin,
            linux_username: None,
            aiops_cli_url: None,
            aiops_cli_api_key: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn key(id: Id, user_id: UserId, digest: &str) -> ApiKey {
        let now = crate::domain::model::now();
        ApiKey {
            id: id.into(),
            user_id,
            name: "k".into(),
            key_digest: digest.into(),
            key_prefix: "aiops_".into(),
            scopes: vec![crate::domain::Scope::Read],
            is_active: true,
            last_used_at: None,
            expires_at: None,
            created_at: now,
            updated_at: now,
            legacy_bcrypt: None,
            project_id: None,
        }
    }

    #[test]
    fn a_changed_email_moves_the_index_entry() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let w = s.write().unwrap();
        let mut u = user(UserId(1), "a@x.test", true);
        w.put_user(&u).unwrap();
        u.email = "b@x.test".into();
        w.put_user(&u).unwrap();
        w.commit().unwrap();
        let r = s.read().unwrap();
        assert_eq!(r.user_id_by_email("a@x.test").unwrap(), None);
        assert_eq!(r.user_by_email("b@x.test").unwrap().unwrap().id, UserId(1));
        assert_eq!(r.user_count().unwrap(), 1);
        assert_eq!(r.admin_count().unwrap(), 1);
    }

    #[test]
    fn keys_keep_their_indexes_and_a_user_delete_removes_everything_of_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let w = s.write().unwrap();
        w.put_user(&user(UserId(1), "a@x.test", false)).unwrap();
        w.put_user(&user(UserId(2), "b@x.test", false)).unwrap();
        let mut k = key(1, UserId(1), "d1");
        w.put_api_key(&k).unwrap();
        k.key_digest = "d2".into();
        w.put_api_key(&k).unwrap();
        w.put_api_key(&key(2, UserId(2), "d3")).unwrap();
        let now = crate::domain::model::now();
        let session = |user_id| WebSession {
            user_id,
            csrf_token: "c".into(),
            created_at: now,
            expires_at: now + chrono::Duration::hours(1),
        };
        w.put_web_session("s1", &session(UserId(1))).unwrap();
        w.put_web_session("s2", &session(UserId(2))).unwrap();
        w.commit().unwrap();
        let r = s.read().unwrap();
        assert_eq!(r.api_key_id_by_digest("d1").unwrap(), None);
        assert_eq!(r.api_key_id_by_digest("d2").unwrap(), Some(ApiKeyId(1)));
        assert_eq!(r.api_keys_of_user(UserId(1)).unwrap().len(), 1);
        drop(r);

        let w = s.write().unwrap();
        w.delete_user(UserId(1)).unwrap();
        w.commit().unwrap();
        let r = s.read().unwrap();
        assert!(r.get_user(UserId(1)).unwrap().is_none());
        assert_eq!(r.user_id_by_email("a@x.test").unwrap(), None);
        assert_eq!(r.api_key_id_by_digest("d2").unwrap(), None);
        assert_eq!(r.api_key_count_of_user(UserId(1)).unwrap(), 0);
        assert!(r.get_web_session("s1").unwrap().is_none());
        // The other user keeps theirs.
        assert_eq!(r.api_key_id_by_digest("d3").unwrap(), Some(ApiKeyId(2)));
        assert!(r.get_web_session("s2").unwrap().is_some());
        drop(r);

        let w = s.write().unwrap();
        w.delete_api_key(ApiKeyId(2)).unwrap();
        w.commit().unwrap();
        let r = s.read().unwrap();
        assert_eq!(r.api_key_id_by_digest("d3").unwrap(), None);
        assert!(r.api_keys_of_user(UserId(2)).unwrap().is_empty());
    }

    #[test]
    fn settings_round_trip_and_delete_says_whether_there_was_one() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let w = s.write().unwrap();
        w.put_setting("k", &42u64).unwrap();
        assert_eq!(w.setting::<u64>("k").unwrap(), Some(42));
        assert!(w.delete_setting("k").unwrap());
        assert!(!w.delete_setting("k").unwrap());
        w.commit().unwrap();
    }
}
