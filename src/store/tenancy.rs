//! Tenancy in the store: tenants (with the case-insensitive name index), projects (by tenant and
//! by owner) and memberships (by user, by tenant, by project).
//!
//! Every write of one of them goes through one method that keeps all of its indexes right
//! (`put_tenant`, `put_project`, `put_membership`); deleting a tenant or a project removes
//! everything that hangs off it in the caller's transaction (no orphans).

use super::accounts::Lookup;
use super::integrations::IntegrationReads;
use super::tables::*;
use super::{
    WriteTxn, delete_row, get_row_w, index_del, index_set, multi_add, multi_del, multi_ids_w,
    next_id, put_row, typed,
};
use crate::domain::MembershipId;
use crate::domain::SshKeyId;
use crate::domain::{Membership, Project, ProjectId, SessionId, SshKey, Tenant, TenantId, UserId};
use crate::error::AppResult;

/// Reads of tenants, projects and memberships (in a read or a write transaction).
pub trait TenancyReads: Lookup {
    fn get_tenant(&self, id: TenantId) -> AppResult<Option<Tenant>> {
        self.row(TENANTS, id)
    }

    /// Every tenant, in id order.
    fn tenants(&self) -> AppResult<Vec<Tenant>> {
        self.every_row(TENANTS)
    }

    fn tenant_count(&self) -> AppResult<u64> {
        self.row_count(TENANTS)
    }

    /// The tenant with this name, ignoring case.
    fn tenant_id_by_name(&self, name: &str) -> AppResult<Option<TenantId>> {
        Ok(self
            .key_id(TENANTS_BY_NAME, &name.to_lowercase())?
            .map(TenantId))
    }

    /// The tenants with these ids that exist, in the order given.
    fn tenants_by_ids(&self, ids: Vec<TenantId>) -> AppResult<Vec<Tenant>> {
        self.rows_at(TENANTS, ids)
    }

    fn get_project(&self, id: ProjectId) -> AppResult<Option<Project>> {
        self.row(PROJECTS, id)
    }

    /// Every project, in id order.
    fn projects(&self) -> AppResult<Vec<Project>> {
        self.every_row(PROJECTS)
    }

    fn project_count(&self) -> AppResult<u64> {
        self.row_count(PROJECTS)
    }

    /// The projects with these ids that exist, in the order given.
    fn projects_by_ids(&self, ids: impl IntoIterator<Item = ProjectId>) -> AppResult<Vec<Project>> {
        self.rows_at(PROJECTS, ids.into_iter().collect())
    }

    fn project_ids_in_tenant(&self, tenant_id: TenantId) -> AppResult<Vec<ProjectId>> {
        Ok(typed(self.ids(PROJECTS_BY_TENANT, tenant_id)?))
    }

    /// A tenant's projects, in id order.
    fn projects_in_tenant(&self, tenant_id: TenantId) -> AppResult<Vec<Project>> {
        self.rows_at(PROJECTS, self.project_ids_in_tenant(tenant_id)?)
    }

    fn project_count_in_tenant(&self, tenant_id: TenantId) -> AppResult<u64> {
        self.id_count(PROJECTS_BY_TENANT, tenant_id)
    }

    /// Ids of the projects a user owns.
    fn project_ids_of_owner(&self, user_id: UserId) -> AppResult<Vec<ProjectId>> {
        Ok(typed(self.ids(PROJECTS_BY_OWNER, user_id)?))
    }

    /// A user's memberships (tenant and project ones), in id order.
    fn memberships_of_user(&self, user_id: UserId) -> AppResult<Vec<Membership>> {
        self.rows_at(MEMBERSHIPS, self.ids(MEMBERSHIPS_BY_USER, user_id)?)
    }

    fn tenant_members(&self, tenant_id: TenantId) -> AppResult<Vec<Membership>> {
        self.rows_at(MEMBERSHIPS, self.ids(MEMBERSHIPS_BY_TENANT, tenant_id)?)
    }

    fn project_members(&self, project_id: ProjectId) -> AppResult<Vec<Membership>> {
        self.rows_at(MEMBERSHIPS, self.ids(MEMBERSHIPS_BY_PROJECT, project_id)?)
    }

    /// Which tenant an SSH key is for: None when there is no such key, `Some(None)` for a key
    /// of all tenants (a project's key is never another tenant's).
    fn ssh_key_tenant(&self, key_id: SshKeyId) -> AppResult<Option<Option<TenantId>>> {
        Ok(self.row::<SshKey>(SSH_KEYS, key_id)?.map(|k| k.tenant_id))
    }
}

impl<X: Lookup> TenancyReads for X {}

impl WriteTxn {
    /// A new tenant id (ids are never reused).
    pub fn new_tenant_id(&self) -> AppResult<TenantId> {
        next_id(self, "tenants").map(TenantId)
    }

    /// A new project id.
    pub fn new_project_id(&self) -> AppResult<ProjectId> {
        next_id(self, "projects").map(ProjectId)
    }

    /// A new membership id.
    pub fn new_membership_id(&self) -> AppResult<MembershipId> {
        next_id(self, "memberships").map(MembershipId)
    }

    /// Save a tenant with its name index (a rename moves the entry). Callers check that the
    /// name is free first.
    pub fn put_tenant(&self, t: &Tenant) -> AppResult<()> {
        let key = t.name.to_lowercase();
        if let Some(old) = get_row_w::<Tenant>(self, TENANTS, t.id)?
            && old.name.to_lowercase() != key
        {
            index_del(self, TENANTS_BY_NAME, &old.name.to_lowercase())?;
        }
        put_row(self, TENANTS, t.id, t)?;
        index_set(self, TENANTS_BY_NAME, &key, t.id)
    }

    /// Remove a tenant and everything under it: its projects (with theirs), integrations (with
    /// their links, issues and personal credentials), SSH keys and memberships.
    pub fn delete_tenant(&self, id: TenantId) -> AppResult<()> {
        let Some(t) = get_row_w::<Tenant>(self, TENANTS, id)? else {
            return Ok(());
        };
        for pid in multi_ids_w(self, PROJECTS_BY_TENANT, id)? {
            if let Some(p) = get_row_w::<Project>(self, PROJECTS, pid)? {
                self.delete_project(&p)?;
            }
        }
        for iid in multi_ids_w(self, INTEGRATIONS_BY_TENANT, id)? {
            self.delete_integration(iid.into())?;
        }
        self.open_multimap_table(INTEGRATIONS_BY_TENANT)?
            .remove_all(id.get())?;
        for kid in multi_ids_w(self, SSH_KEYS_BY_TENANT, id)? {
            self.delete_ssh_key(kid.into())?;
        }
        self.open_multimap_table(SSH_KEYS_BY_TENANT)?
            .remove_all(id.get())?;
        for m in self.tenant_members(id)? {
            self.delete_membership(&m)?;
        }
        self.open_multimap_table(MEMBERSHIPS_BY_TENANT)?
            .remove_all(id.get())?;
        index_del(self, TENANTS_BY_NAME, &t.name.to_lowercase())?;
        delete_row(self, TENANTS, id)
    }

    /// Save a project with its tenant and owner indexes (a move or a new owner moves the
    /// entries).
    pub fn put_project(&self, p: &Project) -> AppResult<()> {
        if let Some(old) = get_row_w::<Project>(self, PROJECTS, p.id)? {
            if old.tenant_id != p.tenant_id {
                multi_del(self, PROJECTS_BY_TENANT, old.tenant_id, p.id)?;
            }
            if old.owner_id != p.owner_id {
                multi_del(self, PROJECTS_BY_OWNER, old.owner_id, p.id)?;
            }
        }
        put_row(self, PROJECTS, p.id, p)?;
        multi_add(self, PROJECTS_BY_TENANT, p.tenant_id, p.id)?;
        multi_add(self, PROJECTS_BY_OWNER, p.owner_id, p.id)
    }

    /// Remove a project and everything that hangs off it: integration links (with their
    /// issues and pins), agent sessions, memberships and its agent instructions.
    pub fn delete_project(&self, p: &Project) -> AppResult<()> {
        for link in self.links_of_project(p.id)? {
            self.delete_link(&link)?;
        }
        self.open_multimap_table(PROJECT_INTEGRATIONS_BY_PROJECT)?
            .remove_all(p.id.get())?;
        self.open_multimap_table(ISSUES_BY_PROJECT)?
            .remove_all(p.id.get())?;
        for sid in multi_ids_w(self, AI_SESSIONS_BY_PROJECT, p.id)? {
            self.delete_ai_session(SessionId(sid))?;
        }
        self.open_multimap_table(AI_SESSIONS_BY_PROJECT)?
            .remove_all(p.id.get())?;
        for m in self.project_members(p.id)? {
            self.delete_membership(&m)?;
        }
        self.open_multimap_table(MEMBERSHIPS_BY_PROJECT)?
            .remove_all(p.id.get())?;
        self.delete_project_context(p.id)?;
        multi_del(self, PROJECTS_BY_TENANT, p.tenant_id, p.id)?;
        multi_del(self, PROJECTS_BY_OWNER, p.owner_id, p.id)?;
        delete_row(self, PROJECTS, p.id)
    }

    /// Save a membership with its user index and its tenant or project index.
    pub fn put_membership(&self, m: &Membership) -> AppResult<()> {
        if let Some(old) = get_row_w::<Membership>(self, MEMBERSHIPS, m.id)?
            && (old.user_id, old.tenant_id, old.project_id)
                != (m.user_id, m.tenant_id, m.project_id)
        {
            self.delete_membership(&old)?;
        }
        put_row(self, MEMBERSHIPS, m.id, m)?;
        multi_add(self, MEMBERSHIPS_BY_USER, m.user_id, m.id)?;
        if let Some(t) = m.tenant_id {
            multi_add(self, MEMBERSHIPS_BY_TENANT, t, m.id)?;
        }
        if let Some(p) = m.project_id {
            multi_add(self, MEMBERSHIPS_BY_PROJECT, p, m.id)?;
        }
        Ok(())
    }

    /// Remove a membership with every index entry of it.
    pub fn delete_membership(&self, m: &Membership) -> AppResult<()> {
        multi_del(self, MEMBERSHIPS_BY_USER, m.user_id, m.id)?;
        if let Some(t) = m.tenant_id {
            multi_del(self, MEMBERSHIPS_BY_TENANT, t, m.id)?;
        }
        if let Some(p) = m.project_id {
            multi_del(self, MEMBERSHIPS_BY_PROJECT, p, m.id)?;
        }
        delete_row(self, MEMBERSHIPS, m.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Id, Role};
    use crate::store::{Reader, Store};

    fn tenant(id: Id, name: &str) -> Tenant {
        let now = crate::domain::model::now();
        Tenant {
            id: TenantId(id),
            name: name.into(),
            description: None,
            color: "#2563eb".into(),
            created_at: now,
            updated_at: now,
        }
    }

    fn project(id: Id, tenant_id: TenantId, owner_id: UserId) -> Project {
        let now = crate::domain::model::now();
        Project {
            id: ProjectId(id),
            name: format!("p{id}"),
            repo_url: "https://example.com/r.git".into(),
            default_branch: "main".into(),
            local_path: String::new(),
            description: None,
            tenant_id,
            owner_id,
            ssh_key_id: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn membership(
        id: MembershipId,
        user_id: UserId,
        tenant_id: Option<TenantId>,
        project_id: Option<ProjectId>,
    ) -> Membership {
        let now = crate::domain::model::now();
        Membership {
            id,
            user_id,
            tenant_id,
            project_id,
            role: Role::Developer,
            created_at: now,
            updated_at: now,
        }
    }

    fn ids(ps: Vec<Project>) -> Vec<Id> {
        ps.into_iter().map(|p| p.id.get()).collect()
    }

    #[test]
    fn a_renamed_tenant_moves_its_name_entry() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let w = s.write().unwrap();
        let mut t = tenant(1, "Acme");
        w.put_tenant(&t).unwrap();
        assert_eq!(w.tenant_id_by_name("ACME").unwrap(), Some(TenantId(1)));
        t.name = "Globex".into();
        w.put_tenant(&t).unwrap();
        assert_eq!(w.tenant_id_by_name("acme").unwrap(), None);
        assert_eq!(w.tenant_id_by_name("globex").unwrap(), Some(TenantId(1)));
        // A change of case only keeps the entry.
        t.name = "GLOBEX".into();
        w.put_tenant(&t).unwrap();
        assert_eq!(w.tenant_id_by_name("Globex").unwrap(), Some(TenantId(1)));
        w.commit().unwrap();
    }

    #[test]
    fn put_move_and_delete_of_a_project_keep_the_tenant_and_owner_indexes_right() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let w = s.write().unwrap();
        w.put_tenant(&tenant(1, "a")).unwrap();
        w.put_tenant(&tenant(2, "b")).unwrap();
        let mut p = project(1, TenantId(1), UserId(10));
        w.put_project(&p).unwrap();
        w.put_project(&project(2, TenantId(1), UserId(10))).unwrap();
        assert_eq!(ids(w.projects_in_tenant(TenantId(1)).unwrap()), vec![1, 2]);
        // Saving again changes nothing.
        w.put_project(&p).unwrap();
        assert_eq!(w.project_count_in_tenant(TenantId(1)).unwrap(), 2);
        // Move to tenant 2 and hand over to user 11.
        p.tenant_id = TenantId(2);
        p.owner_id = UserId(11);
        w.put_project(&p).unwrap();
        assert_eq!(ids(w.projects_in_tenant(TenantId(1)).unwrap()), vec![2]);
        assert_eq!(ids(w.projects_in_tenant(TenantId(2)).unwrap()), vec![1]);
        assert_eq!(
            w.project_ids_of_owner(UserId(10)).unwrap(),
            vec![ProjectId(2)]
        );
        assert_eq!(
            w.project_ids_of_owner(UserId(11)).unwrap(),
            vec![ProjectId(1)]
        );
        w.commit().unwrap();

        let w = s.write().unwrap();
        w.put_membership(&membership(
            MembershipId(1),
            UserId(10),
            None,
            Some(ProjectId(1)),
        ))
        .unwrap();
        w.put_setting("agents.project_context.1", &"x").unwrap();
        w.delete_project(&p).unwrap();
        w.commit().unwrap();
        let r = s.read().unwrap();
        assert!(r.get_project(ProjectId(1)).unwrap().is_none());
        assert!(r.projects_in_tenant(TenantId(2)).unwrap().is_empty());
        assert!(r.project_ids_of_owner(UserId(11)).unwrap().is_empty());
        assert!(r.project_members(ProjectId(1)).unwrap().is_empty());
        assert!(r.memberships_of_user(UserId(10)).unwrap().is_empty());
        assert!(
            r.setting::<String>("agents.project_context.1")
                .unwrap()
                .is_none()
        );
        assert_eq!(ids(r.projects().unwrap()), vec![2]);
    }

    #[test]
    fn a_membership_delete_removes_both_index_entries() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let w = s.write().unwrap();
        let t = membership(
            w.new_membership_id().unwrap(),
            UserId(5),
            Some(TenantId(1)),
            None,
        );
        let p = membership(
            w.new_membership_id().unwrap(),
            UserId(5),
            None,
            Some(ProjectId(3)),
        );
        w.put_membership(&t).unwrap();
        w.put_membership(&p).unwrap();
        assert_eq!(w.memberships_of_user(UserId(5)).unwrap().len(), 2);
        assert_eq!(w.tenant_members(TenantId(1)).unwrap().len(), 1);
        w.delete_membership(&t).unwrap();
        assert_eq!(w.memberships_of_user(UserId(5)).unwrap(), vec![p.clone()]);
        assert!(w.tenant_members(TenantId(1)).unwrap().is_empty());
        // A role change keeps the entries; moving a row moves them.
        let mut moved = p.clone();
        moved.role = Role::Maintainer;
        moved.project_id = Some(ProjectId(4));
        w.put_membership(&moved).unwrap();
        assert!(w.project_members(ProjectId(3)).unwrap().is_empty());
        assert_eq!(
            w.project_members(ProjectId(4)).unwrap(),
            vec![moved.clone()]
        );
        assert_eq!(w.memberships_of_user(UserId(5)).unwrap(), vec![moved]);
        w.commit().unwrap();
    }

    #[test]
    fn a_tenant_delete_cascades_to_projects_integrations_and_members() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let w = s.write().unwrap();
        w.put_tenant(&tenant(1, "a")).unwrap();
        w.put_tenant(&tenant(2, "b")).unwrap();
        w.put_project(&project(1, TenantId(1), UserId(10))).unwrap();
        w.put_project(&project(2, TenantId(2), UserId(10))).unwrap();
        w.put_membership(&membership(
            MembershipId(1),
            UserId(10),
            Some(TenantId(1)),
            None,
        ))
        .unwrap();
        w.put_membership(&membership(
            MembershipId(2),
            UserId(10),
            None,
            Some(ProjectId(1)),
        ))
        .unwrap();
        w.put_membership(&membership(
            MembershipId(3),
            UserId(10),
            Some(TenantId(2)),
            None,
        ))
        .unwrap();
        let now = crate::domain::model::now();
        let key = |id: Id, tenant_id: Option<TenantId>| SshKey {
            id: id.into(),
            name: format!("k{id}"),
            public_key: String::new(),
            fingerprint: format!("SHA256:{id}"),
            private_key_enc: None,
            user_id: UserId(10),
            tenant_id,
            created_at: now,
            updated_at: now,
        };
        w.put_ssh_key(&key(1, Some(TenantId(1)))).unwrap();
        w.put_ssh_key(&key(2, None)).unwrap();
        w.delete_tenant(TenantId(1)).unwrap();
        w.commit().unwrap();
        let r = s.read().unwrap();
        assert!(r.get_tenant(TenantId(1)).unwrap().is_none());
        assert_eq!(r.tenant_id_by_name("a").unwrap(), None);
        assert_eq!(ids(r.projects().unwrap()), vec![2]);
        assert_eq!(
            r.project_ids_of_owner(UserId(10)).unwrap(),
            vec![ProjectId(2)]
        );
        let left: Vec<Id> = r
            .memberships_of_user(UserId(10))
            .unwrap()
            .into_iter()
            .map(|m| m.id.get())
            .collect();
        assert_eq!(left, vec![3]);
        // The tenant's SSH key went with its index entries (through `delete_ssh_key`); the key
        // for all tenants stays.
        let keys: Vec<SshKeyId> = r.ssh_keys().unwrap().into_iter().map(|k| k.id).collect();
        assert_eq!(keys, vec![SshKeyId(2)]);
        assert_eq!(r.ids(SSH_KEYS_BY_USER, 10u64).unwrap(), vec![2]);
        assert!(r.ssh_keys_of_tenant(TenantId(1)).unwrap().is_empty());
    }
}
