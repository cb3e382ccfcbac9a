//! Access decisions for every service, and the tenant/project members that feed them.
//!
//! `Grants` is what one caller may reach, read from the store inside the caller's transaction:
//! their tenant and project roles, capped by their key. Every service asks it before it reads
//! or writes anything of a project or tenant; the rules themselves are `domain::access`.

use super::tenants::Tenancy;
use crate::auth::Identity;
use crate::domain::access::{
    Action, Decision, SESSION_KEY_CAP, decide, effective_role, may_change_member, scope_cap,
};
use crate::domain::{Membership, Project, ProjectId, Role, Scope, Tenant, TenantId, UserId};
use crate::error::{AppError, AppResult};
use crate::store::WriteTxn;
use crate::store::accounts::AccountReads;
use crate::store::tenancy::TenancyReads;
use std::collections::{BTreeSet, HashMap};

/// What one caller may reach.
#[derive(Debug, Clone)]
pub struct Grants {
    admin: bool,
    cap: Option<Role>,
    /// A session key: only this (project, tenant).
    limit: Option<(ProjectId, TenantId)>,
    tenants: HashMap<TenantId, Role>,
    /// project id -> (its tenant, the caller's project role)
    projects: HashMap<ProjectId, (TenantId, Role)>,
}

impl Grants {
    /// The caller's memberships, read in `tx` (a read or a write transaction).
    pub fn load(tx: &impl TenancyReads, caller: &Identity) -> AppResult<Grants> {
        let limit_project = caller.project_limit();
        let mut cap = scope_cap(&caller.scopes);
        if limit_project.is_some() {
            cap = cap.min(Some(SESSION_KEY_CAP));
        }
        let mut g = Grants {
            admin: caller.user.is_admin,
            cap,
            limit: None,
            tenants: HashMap::new(),
            projects: HashMap::new(),
        };
        if let Some(pid) = limit_project {
            // A session key whose project is gone reaches nothing.
            let p = tx.get_project(pid)?;
            g.limit = Some((pid, p.map(|p| p.tenant_id).unwrap_or_default()));
        }
        if caller.user.id == UserId(0) {
            return Ok(g); // the system caller has no rows
        }
        for m in tx.memberships_of_user(caller.user.id)? {
            match (m.tenant_id, m.project_id) {
                (Some(t), _) => {
                    g.tenants.insert(t, m.role);
                }
                (None, Some(p)) => {
                    if let Some(project) = tx.get_project(p)? {
                        g.projects.insert(p, (project.tenant_id, m.role));
                    }
                }
                (None, None) => {}
            }
        }
        Ok(g)
    }

    /// True for a global admin without a project limit (sees everything, capped by the key).
    pub fn sees_everything(&self) -> bool {
        self.admin && self.limit.is_none()
    }

    /// The caller's effective role on a project (None: not a member, treat as absent).
    pub fn project_role(&self, p: &Project) -> Option<Role> {
        if let Some((lp, _)) = self.limit
            && lp != p.id
        {
            return None;
        }
        effective_role(
            self.admin,
            self.tenants.get(&p.tenant_id).copied(),
            self.projects.get(&p.id).map(|(_, r)| *r),
            self.cap,
        )
    }

    /// The caller's role on a tenant itself (tenant membership, or admin).
    pub fn tenant_role(&self, tenant_id: TenantId) -> Option<Role> {
        if self.limit.is_some() {
            return None;
        }
        effective_role(
            self.admin,
            self.tenants.get(&tenant_id).copied(),
            None,
            self.cap,
        )
    }

    /// Whether the caller may see a tenant at all: a member of it or of one of its projects.
    pub fn sees_tenant(&self, tenant_id: TenantId) -> bool {
        if let Some((_, lt)) = self.limit {
            return lt == tenant_id && self.cap.is_some();
        }
        self.tenant_role(tenant_id).is_some()
            || (self.cap.is_some() && self.projects.values().any(|(t, _)| *t == tenant_id))
    }

    /// Whether the caller maintains at least one tenant (admins: always).
    pub fn maintains_a_tenant(&self) -> bool {
        if self.limit.is_some() || self.cap < Some(Role::Maintainer) {
            return false;
        }
        self.admin || self.tenants.values().any(|r| *r == Role::Maintainer)
    }

    /// Ids of every project the caller can see, or None for "all of them".
    pub fn visible_project_ids(
        &self,
        r: &impl TenancyReads,
    ) -> AppResult<Option<BTreeSet<ProjectId>>> {
        if self.cap.is_none() {
            return Ok(Some(BTreeSet::new()));
        }
        if let Some((lp, _)) = self.limit {
            let mut s = BTreeSet::new();
            if let Some(p) = r.get_project(lp)?
                && self.project_role(&p).is_some()
            {
                s.insert(lp);
            }
            return Ok(Some(s));
        }
        if self.admin {
            return Ok(None);
        }
        let mut s: BTreeSet<ProjectId> = self.projects.keys().copied().collect();
        for t in self.tenants.keys() {
            s.extend(r.project_ids_in_tenant(*t)?);
        }
        Ok(Some(s))
    }

    /// Ok when the caller may do `action` on the project; 404 for non-members, 403 (saying
    /// what is needed) for members whose role or key is too low.
    pub fn check_project(&self, p: &Project, action: Action) -> AppResult<()> {
        match decide(self.project_role(p), action) {
            Decision::Allow => Ok(()),
            Decision::Hidden => Err(project_not_found(p.id)),
            Decision::Forbidden { have, needs } => Err(AppError::Forbidden(format!(
                "You act as {} on project '{}'; {} needs {}. Ask a maintainer of the project or its tenant (or use a key with the write scope).",
                have.as_str(),
                p.name,
                action.describe(),
                needs.as_str()
            ))),
        }
    }

    /// Ok when the caller may do `action` on the tenant itself (View: any member of it or of a
    /// project in it; Work/Manage: the tenant role).
    pub fn check_tenant(&self, t: &Tenant, action: Action) -> AppResult<()> {
        if !self.sees_tenant(t.id) {
            return Err(tenant_not_found(t.id));
        }
        if action == Action::View {
            return Ok(());
        }
        match decide(self.tenant_role(t.id), action) {
            Decision::Allow => Ok(()),
            Decision::Hidden => Err(AppError::Forbidden(format!(
                "{} tenant '{}' needs its {} role; you are a member of single projects only. Ask an administrator.",
                capitalise(action.describe()),
                t.name,
                action.needs().as_str()
            ))),
            Decision::Forbidden { have, needs } => Err(AppError::Forbidden(format!(
                "You act as {} in tenant '{}'; {} needs {}. Ask an administrator (or use a key with the write scope).",
                have.as_str(),
                t.name,
                action.describe(),
                needs.as_str()
            ))),
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

pub fn project_not_found(id: ProjectId) -> AppError {
    AppError::NotFound(format!("Project {id} not found"))
}

pub fn tenant_not_found(id: TenantId) -> AppError {
    AppError::NotFound(format!("Tenant {id} not found"))
}

/// A project the caller may `action` (404 when missing or not theirs to see).
pub fn project_for(
    tx: &impl TenancyReads,
    caller: &Identity,
    id: ProjectId,
    action: Action,
) -> AppResult<Project> {
    let p = tx.get_project(id)?.ok_or_else(|| project_not_found(id))?;
    Grants::load(tx, caller)?.check_project(&p, action)?;
    Ok(p)
}

/// A tenant the caller may `action` (404 when missing or not theirs to see).
pub fn tenant_for(
    tx: &impl TenancyReads,
    caller: &Identity,
    id: TenantId,
    action: Action,
) -> AppResult<Tenant> {
    let t = tx.get_tenant(id)?.ok_or_else(|| tenant_not_found(id))?;
    Grants::load(tx, caller)?.check_tenant(&t, action)?;
    Ok(t)
}

// ---- members ------------------------------------------------------------------------------

/// Where a membership applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberOf {
    Tenant(TenantId),
    Project(ProjectId),
}

/// A member as listed: the row and the user's name and email.
#[derive(Debug, Clone)]
pub struct MemberView {
    pub membership: Membership,
    pub email: String,
    pub name: String,
}

/// One of the caller's memberships, for `GET /auth/me`.
#[derive(Debug, Clone)]
pub struct MyMembership {
    pub membership: Membership,
    /// The tenant's or project's name.
    pub name: String,
}

/// The member rows of a tenant or project.
fn members_of(tx: &impl TenancyReads, target: MemberOf) -> AppResult<Vec<Membership>> {
    match target {
        MemberOf::Tenant(t) => tx.tenant_members(t),
        MemberOf::Project(p) => tx.project_members(p),
    }
}

/// Add or change a membership inside the caller's transaction (no access check: callers have
/// made it). Returns the row.
pub(crate) fn put_member(
    w: &WriteTxn,
    target: MemberOf,
    user_id: UserId,
    role: Role,
) -> AppResult<Membership> {
    let now = crate::domain::model::now();
    if let Some(mut m) = members_of(w, target)?
        .into_iter()
        .find(|m| m.user_id == user_id)
    {
        m.role = role;
        m.updated_at = now;
        w.put_membership(&m)?;
        return Ok(m);
    }
    let m = Membership {
        id: w.new_membership_id()?,
        user_id,
        tenant_id: match target {
            MemberOf::Tenant(t) => Some(t),
            MemberOf::Project(_) => None,
        },
        project_id: match target {
            MemberOf::Project(p) => Some(p),
            MemberOf::Tenant(_) => None,
        },
        role,
        created_at: now,
        updated_at: now,
    };
    w.put_membership(&m)?;
    Ok(m)
}

fn member_view(tx: &impl AccountReads, m: Membership) -> AppResult<MemberView> {
    let u = tx.get_user(m.user_id)?;
    Ok(MemberView {
        email: u.as_ref().map(|u| u.email.clone()).unwrap_or_default(),
        name: u.map(|u| u.name).unwrap_or_default(),
        membership: m,
    })
}

/// What a member change wants.
pub enum MemberChange {
    /// Add a new member (409 if already one).
    Add(Role),
    /// Change an existing member's role (404 if not one).
    Set(Role),
    Remove,
}

impl Tenancy {
    /// The caller's role on the target (checked for `action`), for member operations.
    fn member_target_role(
        &self,
        tx: &impl TenancyReads,
        caller: &Identity,
        target: MemberOf,
        action: Action,
    ) -> AppResult<Option<Role>> {
        let g = Grants::load(tx, caller)?;
        match target {
            MemberOf::Tenant(id) => {
                let t = tx.get_tenant(id)?.ok_or_else(|| tenant_not_found(id))?;
                g.check_tenant(&t, Action::View)?;
                if action != Action::View {
                    g.check_tenant(&t, action)?;
                }
                Ok(g.tenant_role(id))
            }
            MemberOf::Project(id) => {
                let p = tx.get_project(id)?.ok_or_else(|| project_not_found(id))?;
                g.check_project(&p, action)?;
                Ok(g.project_role(&p))
            }
        }
    }

    /// Members of a tenant or project, by email (visible to everyone who sees it).
    pub fn list_members(&self, caller: &Identity, target: MemberOf) -> AppResult<Vec<MemberView>> {
        caller.require(Scope::Read)?;
        let r = self.store.read()?;
        self.member_target_role(&r, caller, target, Action::View)?;
        let mut out = members_of(&r, target)?
            .into_iter()
            .map(|m| member_view(&r, m))
            .collect::<AppResult<Vec<_>>>()?;
        out.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(out)
    }

    /// Add, change or remove one member, all checks first, then one transaction. Maintainers
    /// manage viewers and developers; admins anyone.
    pub fn change_member(
        &self,
        caller: &Identity,
        target: MemberOf,
        user_id: UserId,
        change: MemberChange,
    ) -> AppResult<Option<MemberView>> {
        caller.require(Scope::Write)?;
        let w = self.store.write()?;
        let actor = self.member_target_role(&w, caller, target, Action::Manage)?;
        if w.get_user(user_id)?.is_none() {
            return Err(AppError::NotFound(format!(
                "User {user_id} not found: use the id from the users list (admins) or /auth/me"
            )));
        }
        let current = members_of(&w, target)?
            .into_iter()
            .find(|m| m.user_id == user_id);
        let from = current.as_ref().map(|m| m.role);
        let to = match change {
            MemberChange::Add(r) => {
                if current.is_some() {
                    return Err(AppError::Conflict(format!(
                        "User {user_id} is already a member; change the role with PATCH …/members/{user_id}"
                    )));
                }
                Some(r)
            }
            MemberChange::Set(r) => {
                if current.is_none() {
                    return Err(AppError::NotFound(format!(
                        "User {user_id} is not a member; add them with POST …/members"
                    )));
                }
                Some(r)
            }
            MemberChange::Remove => {
                if current.is_none() {
                    return Err(AppError::NotFound(format!(
                        "User {user_id} is not a member"
                    )));
                }
                None
            }
        };
        let acting_admin = caller.user.is_admin && caller.has(Scope::Admin);
        may_change_member(acting_admin, actor, from, to).map_err(AppError::Forbidden)?;
        let out = match (to, current) {
            (Some(role), _) => Some(member_view(&w, put_member(&w, target, user_id, role)?)?),
            (None, Some(m)) => {
                w.delete_membership(&m)?;
                None
            }
            (None, None) => None,
        };
        w.commit()?;
        Ok(out)
    }

    /// The id of the user with `email`, for adding them to `target`: only callers who may
    /// manage its members learn whether an account exists.
    pub fn member_user_by_email(
        &self,
        caller: &Identity,
        target: MemberOf,
        email: &str,
    ) -> AppResult<UserId> {
        caller.require(Scope::Write)?;
        let r = self.store.read()?;
        self.member_target_role(&r, caller, target, Action::Manage)?;
        let key = email.trim().to_lowercase();
        let id = r.user_id_by_email(&key)?;
        id.ok_or_else(|| {
            AppError::NotFound(format!(
                "No user with email {}: an administrator creates accounts (Users page or POST /api/v1/users)",
                email.trim()
            ))
        })
    }

    /// The caller's own memberships with the names of their tenants and projects.
    pub fn my_memberships(&self, caller: &Identity) -> AppResult<Vec<MyMembership>> {
        let r = self.store.read()?;
        let rows = r.memberships_of_user(caller.id())?;
        let mut out = Vec::with_capacity(rows.len());
        for m in rows {
            let name = match (m.tenant_id, m.project_id) {
                (Some(t), _) => r.get_tenant(t)?.map(|t| t.name),
                (None, Some(p)) => r.get_project(p)?.map(|p| p.name),
                _ => None,
            };
            out.push(MyMembership {
                membership: m,
                name: name.unwrap_or_default(),
            });
        }
        Ok(out)
    }
}
