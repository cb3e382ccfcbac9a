//! Tracker integrations in the store: tenant integrations (by tenant), project links (by project
//! and by integration), personal credentials (by user), the identity map (one row per user), and
//! the agent instructions rows (global and per project, kept in `settings`; their row types are
//! `services::context`'s).
//!
//! Writes go through one method per entity that keeps all of its indexes right; deleting an
//! integration or a link removes everything that hangs off it (links, issues, pins, credentials).

use super::accounts::Lookup;
use super::tables::*;
use super::{
    WriteTxn, delete_row, encode, get_row_w, multi_add, multi_del, multi_ids_w, next_id, put_row,
};
use crate::domain::{CredentialId, IntegrationId, LinkId, ProjectId, TenantId, UserId};
use crate::domain::{
    ExternalIssue, Id, IdentityMap, ProjectIntegration, TenantIntegration, UserCredential,
};
use crate::error::AppResult;
use serde::{Serialize, de::DeserializeOwned};

/// The global agent instructions (`settings` key).
const GLOBAL_CONTEXT: &str = "agents.global_context";
/// The id of the current global instructions.
const GLOBAL_CONTEXT_ID: &str = "agents.global_context.id";
/// A project's instructions: `settings["agents.project_context.<project id>"]`.
const PROJECT_CONTEXT_PREFIX: &str = "agents.project_context.";

fn project_context_key(project_id: ProjectId) -> String {
    format!("{PROJECT_CONTEXT_PREFIX}{project_id}")
}

/// Reads of integrations, links, credentials, identity maps and agent instructions (in a read
/// or a write transaction).
pub trait IntegrationReads: Lookup {
    fn get_integration(&self, id: IntegrationId) -> AppResult<Option<TenantIntegration>> {
        self.row(INTEGRATIONS, id)
    }

    /// Every integration, in id order.
    fn integrations(&self) -> AppResult<Vec<TenantIntegration>> {
        self.every_row(INTEGRATIONS)
    }

    /// A tenant's integrations, in id order.
    fn integrations_in_tenant(&self, tenant_id: TenantId) -> AppResult<Vec<TenantIntegration>> {
        self.rows_at(INTEGRATIONS, self.ids(INTEGRATIONS_BY_TENANT, tenant_id)?)
    }

    fn integration_count_in_tenant(&self, tenant_id: TenantId) -> AppResult<u64> {
        self.id_count(INTEGRATIONS_BY_TENANT, tenant_id)
    }

    fn get_link(&self, id: LinkId) -> AppResult<Option<ProjectIntegration>> {
        self.row(PROJECT_INTEGRATIONS, id)
    }

    /// Every project link, in id order.
    fn links(&self) -> AppResult<Vec<ProjectIntegration>> {
        self.every_row(PROJECT_INTEGRATIONS)
    }

    /// A project's links, in id order.
    fn links_of_project(&self, project_id: ProjectId) -> AppResult<Vec<ProjectIntegration>> {
        self.rows_at(
            PROJECT_INTEGRATIONS,
            self.ids(PROJECT_INTEGRATIONS_BY_PROJECT, project_id)?,
        )
    }

    fn link_count_of_project(&self, project_id: ProjectId) -> AppResult<u64> {
        self.id_count(PROJECT_INTEGRATIONS_BY_PROJECT, project_id)
    }

    /// An integration's links, in id order.
    fn links_of_integration(
        &self,
        integration_id: IntegrationId,
    ) -> AppResult<Vec<ProjectIntegration>> {
        self.rows_at(
            PROJECT_INTEGRATIONS,
            self.ids(PROJECT_INTEGRATIONS_BY_INTEGRATION, integration_id)?,
        )
    }

    fn link_count_of_integration(&self, integration_id: IntegrationId) -> AppResult<u64> {
        self.id_count(PROJECT_INTEGRATIONS_BY_INTEGRATION, integration_id)
    }

    /// How many stored issues came through a link.
    fn issue_count_of_link(&self, link_id: LinkId) -> AppResult<u64> {
        self.id_count(ISSUES_BY_PROJECT_INTEGRATION, link_id)
    }

    fn get_credential(&self, id: CredentialId) -> AppResult<Option<UserCredential>> {
        self.row(USER_CREDENTIALS, id)
    }

    /// A user's personal credentials, in id order.
    fn credentials_of_user(&self, user_id: UserId) -> AppResult<Vec<UserCredential>> {
        self.rows_at(
            USER_CREDENTIALS,
            self.ids(USER_CREDENTIALS_BY_USER, user_id)?,
        )
    }

    /// A user's tracker identities (None: never set).
    fn get_identity_map(&self, user_id: UserId) -> AppResult<Option<IdentityMap>> {
        self.row(IDENTITY_MAP, user_id)
    }

    /// Every identity map, in user id order.
    fn identity_maps(&self) -> AppResult<Vec<IdentityMap>> {
        self.every_row(IDENTITY_MAP)
    }

    /// The global agent instructions row.
    fn global_context<T: DeserializeOwned>(&self) -> AppResult<Option<T>> {
        self.keyed_row(SETTINGS, GLOBAL_CONTEXT)
    }

    /// The id stored with the global instructions (None: set before ids existed, or never).
    fn global_context_id(&self) -> AppResult<Option<Id>> {
        self.keyed_row(SETTINGS, GLOBAL_CONTEXT_ID)
    }

    /// A project's agent instructions row.
    fn project_context<T: DeserializeOwned>(&self, project_id: ProjectId) -> AppResult<Option<T>> {
        self.keyed_row(SETTINGS, &project_context_key(project_id))
    }
}

impl<X: Lookup> IntegrationReads for X {}

impl WriteTxn {
    /// A new integration id (ids are never reused).
    pub fn new_integration_id(&self) -> AppResult<IntegrationId> {
        next_id(self, "integrations").map(IntegrationId)
    }

    /// A new project link id.
    pub fn new_link_id(&self) -> AppResult<LinkId> {
        next_id(self, "project_integrations").map(LinkId)
    }

    /// A new personal credential id.
    pub fn new_credential_id(&self) -> AppResult<CredentialId> {
        next_id(self, "user_credentials").map(CredentialId)
    }

    /// A new id for the global agent instructions (its own sequence, `agent_contexts`).
    pub fn new_global_context_id(&self) -> AppResult<Id> {
        next_id(self, "agent_contexts")
    }

    /// Save an integration with its tenant index.
    pub fn put_integration(&self, i: &TenantIntegration) -> AppResult<()> {
        if let Some(old) = get_row_w::<TenantIntegration>(self, INTEGRATIONS, i.id)?
            && old.tenant_id != i.tenant_id
        {
            multi_del(self, INTEGRATIONS_BY_TENANT, old.tenant_id, i.id)?;
        }
        put_row(self, INTEGRATIONS, i.id, i)?;
        multi_add(self, INTEGRATIONS_BY_TENANT, i.tenant_id, i.id)
    }

    /// Remove an integration with its links, their issues and pins, and the personal
    /// credentials for it (nothing when it is gone already).
    pub fn delete_integration(&self, id: IntegrationId) -> AppResult<()> {
        let Some(integ) = get_row_w::<TenantIntegration>(self, INTEGRATIONS, id)? else {
            return Ok(());
        };
        for link in self.links_of_integration(id)? {
            self.delete_link(&link)?;
        }
        self.open_multimap_table(PROJECT_INTEGRATIONS_BY_INTEGRATION)?
            .remove_all(id.get())?;
        let mut gone = Vec::new();
        self.open_table(USER_CREDENTIALS)?.retain(|cid, v| {
            match super::decode::<UserCredential>(v) {
                Ok(c) if c.integration_id == id => {
                    gone.push((c.user_id, cid));
                    false
                }
                _ => true,
            }
        })?;
        for (uid, cid) in gone {
            multi_del(self, USER_CREDENTIALS_BY_USER, uid, cid)?;
        }
        multi_del(self, INTEGRATIONS_BY_TENANT, integ.tenant_id, id)?;
        delete_row(self, INTEGRATIONS, id)
    }

    /// Save a project link with its project and integration indexes.
    pub fn put_link(&self, l: &ProjectIntegration) -> AppResult<()> {
        if let Some(old) = get_row_w::<ProjectIntegration>(self, PROJECT_INTEGRATIONS, l.id)? {
            if old.project_id != l.project_id {
                multi_del(self, PROJECT_INTEGRATIONS_BY_PROJECT, old.project_id, l.id)?;
            }
            if old.integration_id != l.integration_id {
                multi_del(
                    self,
                    PROJECT_INTEGRATIONS_BY_INTEGRATION,
                    old.integration_id,
                    l.id,
                )?;
            }
        }
        put_row(self, PROJECT_INTEGRATIONS, l.id, l)?;
        multi_add(self, PROJECT_INTEGRATIONS_BY_PROJECT, l.project_id, l.id)?;
        multi_add(
            self,
            PROJECT_INTEGRATIONS_BY_INTEGRATION,
            l.integration_id,
            l.id,
        )
    }

    /// Remove a project link with the issues that came through it (and their pins).
    pub fn delete_link(&self, link: &ProjectIntegration) -> AppResult<()> {
        for id in multi_ids_w(self, ISSUES_BY_PROJECT_INTEGRATION, link.id)? {
            if let Some(issue) = get_row_w::<ExternalIssue>(self, ISSUES, id)? {
                delete_issue_rows(self, &issue)?;
            }
        }
        self.open_multimap_table(ISSUES_BY_PROJECT_INTEGRATION)?
            .remove_all(link.id.get())?;
        multi_del(
            self,
            PROJECT_INTEGRATIONS_BY_PROJECT,
            link.project_id,
            link.id,
        )?;
        multi_del(
            self,
            PROJECT_INTEGRATIONS_BY_INTEGRATION,
            link.integration_id,
            link.id,
        )?;
        delete_row(self, PROJECT_INTEGRATIONS, link.id)
    }

    /// Save a personal credential with its user index.
    pub fn put_credential(&self, c: &UserCredential) -> AppResult<()> {
        if let Some(old) = get_row_w::<UserCredential>(self, USER_CREDENTIALS, c.id)?
            && old.user_id != c.user_id
        {
            multi_del(self, USER_CREDENTIALS_BY_USER, old.user_id, c.id)?;
        }
        put_row(self, USER_CREDENTIALS, c.id, c)?;
        multi_add(self, USER_CREDENTIALS_BY_USER, c.user_id, c.id)
    }

    /// Remove a personal credential with its index entry.
    pub fn delete_credential(&self, c: &UserCredential) -> AppResult<()> {
        multi_del(self, USER_CREDENTIALS_BY_USER, c.user_id, c.id)?;
        delete_row(self, USER_CREDENTIALS, c.id)
    }

    /// Save a user's tracker identities (keyed by the user id).
    pub fn put_identity_map(&self, m: &IdentityMap) -> AppResult<()> {
        put_row(self, IDENTITY_MAP, m.user_id, m)
    }

    /// Save the global agent instructions and their id.
    pub fn put_global_context<T: Serialize>(&self, row: &T, id: Id) -> AppResult<()> {
        let (row, id) = (encode(row)?, encode(&id)?);
        let mut t = self.open_table(SETTINGS)?;
        t.insert(GLOBAL_CONTEXT, row.as_slice())?;
        t.insert(GLOBAL_CONTEXT_ID, id.as_slice())?;
        Ok(())
    }

    /// Remove the global agent instructions and their id; true when there were any.
    pub fn delete_global_context(&self) -> AppResult<bool> {
        let mut t = self.open_table(SETTINGS)?;
        t.remove(GLOBAL_CONTEXT_ID)?;
        let existed = t.remove(GLOBAL_CONTEXT)?.is_some();
        Ok(existed)
    }

    /// Save a project's agent instructions row.
    pub fn put_project_context<T: Serialize>(
        &self,
        project_id: ProjectId,
        row: &T,
    ) -> AppResult<()> {
        let bytes = encode(row)?;
        self.open_table(SETTINGS)?
            .insert(project_context_key(project_id).as_str(), bytes.as_slice())?;
        Ok(())
    }

    /// Remove a project's agent instructions (none is fine).
    pub fn delete_project_context(&self, project_id: ProjectId) -> AppResult<()> {
        self.open_table(SETTINGS)?
            .remove(project_context_key(project_id).as_str())?;
        Ok(())
    }

    /// Store a new issue with every index entry of it (demo and benchmark data).
    pub fn seed_issue(&self, issue: &ExternalIssue) -> AppResult<()> {
        self.put_issue(None, issue)
    }
}

/// Remove one stored issue with its index entries and pins (for the link cascade).
fn delete_issue_rows(w: &WriteTxn, issue: &ExternalIssue) -> AppResult<()> {
    w.delete_issue(issue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn integration(id: Id, tenant_id: TenantId) -> TenantIntegration {
        let now = crate::domain::model::now();
        TenantIntegration {
            id: id.into(),
            tenant_id,
            provider: "github".into(),
            name: format!("i{id}"),
            base_url: None,
            api_token_enc: String::new(),
            settings: serde_json::json!({}),
            enabled: true,
            sync_cron: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn link(id: Id, project_id: ProjectId, integration_id: IntegrationId) -> ProjectIntegration {
        let now = crate::domain::model::now();
        ProjectIntegration {
            id: id.into(),
            project_id,
            integration_id,
            external_identifier: "o/r".into(),
            config: serde_json::json!({}),
            last_synced_at: None,
            override_api_token_enc: None,
            override_base_url: None,
            override_settings: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn issue(id: Id, link_id: LinkId, project_id: ProjectId, tenant_id: TenantId) -> ExternalIssue {
        let now = crate::domain::model::now();
        ExternalIssue {
            id: id.into(),
            project_integration_id: link_id,
            project_id,
            tenant_id,
            external_id: id.to_string(),
            title: "t".into(),
            status: Some("open".into()),
            assignee: None,
            assignee_key: None,
            url: None,
            labels: vec![],
            comments: vec![],
            body: None,
            external_updated_at: None,
            last_seen_at: None,
            missing_upstream: false,
            created_at: now,
            updated_at: now,
        }
    }

    fn credential(id: Id, user_id: UserId, integration_id: IntegrationId) -> UserCredential {
        let now = crate::domain::model::now();
        UserCredential {
            id: id.into(),
            user_id,
            integration_id,
            api_token_enc: String::new(),
            settings: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn links_are_indexed_by_project_and_integration_and_deleting_one_takes_its_issues() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let w = s.write().unwrap();
        w.put_integration(&integration(1, TenantId(1))).unwrap();
        let l = link(1, ProjectId(7), IntegrationId(1));
        w.put_link(&l).unwrap();
        w.put_link(&link(2, ProjectId(8), IntegrationId(1)))
            .unwrap();
        w.seed_issue(&issue(1, LinkId(1), ProjectId(7), TenantId(1)))
            .unwrap();
        w.seed_issue(&issue(2, LinkId(1), ProjectId(7), TenantId(1)))
            .unwrap();
        assert_eq!(w.links_of_project(ProjectId(7)).unwrap(), vec![l.clone()]);
        assert_eq!(w.link_count_of_integration(IntegrationId(1)).unwrap(), 2);
        assert_eq!(w.issue_count_of_link(LinkId(1)).unwrap(), 2);
        w.delete_link(&l).unwrap();
        w.commit().unwrap();
        let r = s.read().unwrap();
        assert!(r.get_link(LinkId(1)).unwrap().is_none());
        assert!(r.links_of_project(ProjectId(7)).unwrap().is_empty());
        assert_eq!(r.link_count_of_integration(IntegrationId(1)).unwrap(), 1);
        assert_eq!(r.issue_count_of_link(LinkId(1)).unwrap(), 0);
        assert_eq!(crate::store::table_len(&r, ISSUES).unwrap(), 0);
        assert!(
            crate::store::multi_ids(&r, ISSUES_BY_PROJECT, 7u64)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn an_integration_delete_takes_its_links_and_credentials_and_leaves_others() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let w = s.write().unwrap();
        w.put_integration(&integration(1, TenantId(1))).unwrap();
        w.put_integration(&integration(2, TenantId(1))).unwrap();
        w.put_link(&link(1, ProjectId(7), IntegrationId(1)))
            .unwrap();
        w.put_link(&link(2, ProjectId(7), IntegrationId(2)))
            .unwrap();
        w.put_credential(&credential(1, UserId(5), IntegrationId(1)))
            .unwrap();
        w.put_credential(&credential(2, UserId(5), IntegrationId(2)))
            .unwrap();
        w.delete_integration(IntegrationId(1)).unwrap();
        w.commit().unwrap();
        let r = s.read().unwrap();
        let ids = |v: Vec<TenantIntegration>| v.into_iter().map(|i| i.id.get()).collect::<Vec<_>>();
        assert_eq!(ids(r.integrations_in_tenant(TenantId(1)).unwrap()), vec![2]);
        assert_eq!(r.integration_count_in_tenant(TenantId(1)).unwrap(), 1);
        let links: Vec<Id> = r.links().unwrap().into_iter().map(|l| l.id.get()).collect();
        assert_eq!(links, vec![2]);
        let creds: Vec<Id> = r
            .credentials_of_user(UserId(5))
            .unwrap()
            .into_iter()
            .map(|c| c.id.get())
            .collect();
        assert_eq!(creds, vec![2]);
    }

    #[test]
    fn an_integration_moved_between_tenants_moves_its_index_entry() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let w = s.write().unwrap();
        let mut i = integration(1, TenantId(1));
        w.put_integration(&i).unwrap();
        i.tenant_id = TenantId(2);
        w.put_integration(&i).unwrap();
        assert!(w.integrations_in_tenant(TenantId(1)).unwrap().is_empty());
        assert_eq!(w.integrations_in_tenant(TenantId(2)).unwrap(), vec![i]);
        let c = credential(1, UserId(5), IntegrationId(1));
        w.put_credential(&c).unwrap();
        w.delete_credential(&c).unwrap();
        assert!(w.credentials_of_user(UserId(5)).unwrap().is_empty());
        w.commit().unwrap();
    }

    #[test]
    fn context_rows_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let w = s.write().unwrap();
        assert_eq!(w.global_context::<String>().unwrap(), None);
        w.put_global_context(&"g".to_string(), 3).unwrap();
        assert_eq!(w.global_context::<String>().unwrap().as_deref(), Some("g"));
        assert_eq!(w.global_context_id().unwrap(), Some(3));
        assert!(w.delete_global_context().unwrap());
        assert!(!w.delete_global_context().unwrap());
        assert_eq!(w.global_context_id().unwrap(), None);
        w.put_project_context(ProjectId(9), &"p".to_string())
            .unwrap();
        assert_eq!(
            w.project_context::<String>(ProjectId(9))
                .unwrap()
                .as_deref(),
            Some("p")
        );
        w.delete_project_context(ProjectId(9)).unwrap();
        assert_eq!(w.project_context::<String>(ProjectId(9)).unwrap(), None);
        w.commit().unwrap();
    }
}
