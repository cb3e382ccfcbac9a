//! Who may do what: membership roles, what each action needs, how key scopes cap a role, and who
//! may grant which role. Plain functions; the services apply them to every call.
//!
//! The model (GitLab/Gitea-like): a user is a member of a tenant and/or of single projects with
//! a role. The effective role on a project is the higher of the two. Global admins act as
//! maintainers everywhere. A key's scopes cap the role (`read` = viewer at most), and a key made
//! for an agent session reaches only its own project, as a developer at most. Callers with no
//! role on an object are told it does not exist (404), so ids never leak across tenants.

use super::model::Scope;
use serde::{Deserialize, Serialize};

/// A member's role, ordered: `Viewer < Developer < Maintainer`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read the projects, their issues, links and runs.
    #[default]
    Viewer,
    /// Also work: workspaces, git, agents, issue writes, syncs, project playbooks.
    Developer,
    /// Also manage: create/edit/delete projects in the tenant, integrations and links, the SSH
    /// key choice, and members below maintainer.
    Maintainer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Developer, Role::Maintainer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Developer => "developer",
            Role::Maintainer => "maintainer",
        }
    }

    /// Parse a role name (any case, surrounding spaces ignored), with a message that lists them.
    pub fn parse(s: &str) -> Result<Role, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "developer" => Ok(Role::Developer),
            "maintainer" => Ok(Role::Maintainer),
            other => Err(format!(
                "Invalid role '{other}'. Valid roles: viewer, developer, maintainer"
            )),
        }
    }
}

/// What a call wants to do with a project or a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See the project (or tenant) and what hangs off it: issues, links, runs, members.
    View,
    /// Workspaces, git, agents, issue writes, syncs, project playbooks.
    Work,
    /// Edit or delete the project, create projects in a tenant, integrations and links, the SSH
    /// key choice, members below maintainer, token hints.
    Manage,
}

impl Action {
    pub fn needs(self) -> Role {
        match self {
            Action::View => Role::Viewer,
            Action::Work => Role::Developer,
            Action::Manage => Role::Maintainer,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Action::View => "viewing it",
            Action::Work => "working on it (workspaces, git, agents, issue changes)",
            Action::Manage => "managing it (settings, integrations, members)",
        }
    }
}

/// The most a set of key scopes allows: `read` acts as a viewer, `write` (or `admin`) up to the
/// user's role. No scope at all allows nothing.
pub fn scope_cap(scopes: &[Scope]) -> Option<Role> {
    if scopes.contains(&Scope::Write) || scopes.contains(&Scope::Admin) {
        Some(Role::Maintainer)
    } else if scopes.contains(&Scope::Read) {
        Some(Role::Viewer)
    } else {
        None
    }
}

/// A key made for an agent session works on its project, never manages it.
pub const SESSION_KEY_CAP: Role = Role::Developer;

/// The caller's effective role on a project: the higher of the tenant and project memberships
/// (global admins: maintainer), capped by the key's scopes.
pub fn effective_role(
    admin: bool,
    tenant: Option<Role>,
    project: Option<Role>,
    cap: Option<Role>,
) -> Option<Role> {
    let base = if admin {
        Some(Role::Maintainer)
    } else {
        tenant.max(project)
    };
    match (base, cap) {
        (Some(b), Some(c)) => Some(b.min(c)),
        _ => None,
    }
}

/// The answer to "may this caller do this here?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A member whose role (or key) is too low: 403, saying what is needed.
    Forbidden {
        have: Role,
        needs: Role,
    },
    /// Not a member: 404, as if it did not exist.
    Hidden,
}

pub fn decide(role: Option<Role>, action: Action) -> Decision {
    match role {
        None => Decision::Hidden,
        Some(r) if r >= action.needs() => Decision::Allow,
        Some(r) => Decision::Forbidden {
            have: r,
            needs: action.needs(),
        },
    }
}

/// May a caller whose role on the tenant/project is `actor` (already capped; `acting_admin` for
/// a global admin holding the admin scope) change a member from `from` to `to` (None = not a
/// member)? Admins may do anything; maintainers manage members below maintainer only.
pub fn may_change_member(
    acting_admin: bool,
    actor: Option<Role>,
    from: Option<Role>,
    to: Option<Role>,
) -> Result<(), String> {
    if acting_admin {
        return Ok(());
    }
    if actor < Some(Role::Maintainer) {
        return Err("Only maintainers and administrators can manage members".into());
    }
    if from == Some(Role::Maintainer) || to == Some(Role::Maintainer) {
        return Err(
            "Only administrators can add, change or remove maintainers; maintainers manage viewers and developers"
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::*;

    #[test]
    fn roles_are_ordered_and_parse_any_case() {
        assert!(Viewer < Developer && Developer < Maintainer);
        assert_eq!(Role::parse(" Maintainer ").unwrap(), Maintainer);
        assert_eq!(Role::parse("viewer").unwrap(), Viewer);
        assert!(
            Role::parse("owner")
                .unwrap_err()
                .contains("viewer, developer")
        );
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()).unwrap(), r);
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
    }

    #[test]
    fn the_higher_of_tenant_and_project_role_counts() {
        let cap = Some(Maintainer);
        assert_eq!(effective_role(false, None, None, cap), None);
        assert_eq!(
            effective_role(false, Some(Viewer), Some(Developer), cap),
            Some(Developer)
        );
        assert_eq!(
            effective_role(false, Some(Maintainer), Some(Viewer), cap),
            Some(Maintainer)
        );
        assert_eq!(effective_role(false, None, Some(Viewer), cap), Some(Viewer));
        assert_eq!(effective_role(true, None, None, cap), Some(Maintainer));
    }

    #[test]
    fn key_scopes_cap_the_role() {
        assert_eq!(scope_cap(&[Scope::Read]), Some(Viewer));
        assert_eq!(scope_cap(&[Scope::Read, Scope::Write]), Some(Maintainer));
        assert_eq!(scope_cap(&[Scope::Admin]), Some(Maintainer));
        assert_eq!(scope_cap(&[]), None);
        // a read key of a maintainer, and even of an admin, acts as a viewer
        let read = scope_cap(&[Scope::Read]);
        assert_eq!(
            effective_role(false, Some(Maintainer), None, read),
            Some(Viewer)
        );
        assert_eq!(effective_role(true, None, None, read), Some(Viewer));
        // a session key works but never manages
        assert_eq!(
            effective_role(false, Some(Maintainer), None, Some(SESSION_KEY_CAP)),
            Some(Developer)
        );
    }

    /// Every role (and no role) against every action.
    #[test]
    fn every_role_against_every_action() {
        let table = [
            (None, Action::View, Decision::Hidden),
            (None, Action::Work, Decision::Hidden),
            (None, Action::Manage, Decision::Hidden),
            (Some(Viewer), Action::View, Decision::Allow),
            (
                Some(Viewer),
                Action::Work,
                Decision::Forbidden {
                    have: Viewer,
                    needs: Developer,
                },
            ),
            (
                Some(Viewer),
                Action::Manage,
                Decision::Forbidden {
                    have: Viewer,
                    needs: Maintainer,
                },
            ),
            (Some(Developer), Action::View, Decision::Allow),
            (Some(Developer), Action::Work, Decision::Allow),
            (
                Some(Developer),
                Action::Manage,
                Decision::Forbidden {
                    have: Developer,
                    needs: Maintainer,
                },
            ),
            (Some(Maintainer), Action::View, Decision::Allow),
            (Some(Maintainer), Action::Work, Decision::Allow),
            (Some(Maintainer), Action::Manage, Decision::Allow),
        ];
        for (role, action, want) in table {
            assert_eq!(decide(role, action), want, "{role:?} {action:?}");
        }
    }

    #[test]
    fn maintainers_manage_members_below_maintainer_only() {
        let m = Some(Maintainer);
        assert!(may_change_member(false, m, None, Some(Developer)).is_ok());
        assert!(may_change_member(false, m, Some(Viewer), Some(Developer)).is_ok());
        assert!(may_change_member(false, m, Some(Developer), None).is_ok());
        assert!(may_change_member(false, m, None, Some(Maintainer)).is_err());
        assert!(may_change_member(false, m, Some(Maintainer), Some(Viewer)).is_err());
        assert!(may_change_member(false, m, Some(Maintainer), None).is_err());
        for low in [None, Some(Viewer), Some(Developer)] {
            assert!(may_change_member(false, low, None, Some(Viewer)).is_err());
        }
        assert!(may_change_member(true, None, Some(Maintainer), None).is_ok());
        assert!(may_change_member(true, None, None, Some(Maintainer)).is_ok());
    }
}
