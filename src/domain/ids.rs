//! Typed ids: one newtype over `u64` per entity, so a project id passed where a tenant id is
//! expected does not compile. Serialised transparently (stored rows and API JSON carry the bare
//! number, byte for byte as before) and displayed as the number, so every message is unchanged.
//! The store keys its tables by the bare `u64` and converts at its entity methods; the API keeps
//! `u64` in its path parameters and objects (the OpenAPI document is the contract) and converts
//! in the handlers. Users, keys, memberships, tenants, projects, trackers, sessions, runs,
//! backups and known hosts have one; `model::Id` is left as the bare key type and the id of
//! pins, audit entries and the global context row.
//!
//! ```
//! use aiops::domain::{ProjectId, TenantId};
//! fn tenant(_: TenantId) {}
//! tenant(TenantId::from(1));
//! assert_eq!(ProjectId::from(7).to_string(), "7");
//! ```
//!
//! ```compile_fail,E0308
//! use aiops::domain::{ProjectId, TenantId};
//! fn tenant(_: TenantId) {}
//! tenant(ProjectId::from(1)); // a project id is not a tenant id
//! ```
//!
//! ```compile_fail,E0308
//! use aiops::domain::ProjectId;
//! fn project(_: ProjectId) {}
//! project(7u64); // nor is a bare number
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The bare number (store keys, API objects, paths).
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl From<u64> for $name {
            fn from(id: u64) -> Self {
                $name(id)
            }
        }

        impl From<$name> for u64 {
            fn from(id: $name) -> u64 {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    )*};
}

id_type! {
    /// A tenant (`tenants` table).
    TenantId;
    /// A project (`projects` table).
    ProjectId;
    /// A tenant's tracker integration (`tenant_integrations`).
    IntegrationId;
    /// A project's link to an integration (`project_integrations`).
    LinkId;
    /// A tracker issue as stored (`external_issues`; not the tracker's own number).
    IssueId;
    /// An AI agent session (`ai_sessions`; its tmux name is the `session_id` string).
    SessionId;
    /// A user (`users`).
    UserId;
    /// An API key (`api_keys`).
    ApiKeyId;
    /// An SSH key (`ssh_keys`).
    SshKeyId;
    /// A tenant or project membership (`memberships`).
    MembershipId;
    /// A user's personal tracker credential (`user_credentials`).
    CredentialId;
    /// An `ansible-playbook` run (`ansible_runs`).
    RunId;
    /// A playbook schedule (`ansible_schedules`).
    ScheduleId;
    /// One sync of one project link (`sync_runs`).
    SyncRunId;
    /// A backup archive's record (`backups`).
    BackupId;
    /// A trusted SSH host key (`known_hosts`).
    KnownHostId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_serialise_and_print_as_the_bare_number() {
        let id = ProjectId::from(42);
        assert_eq!(serde_json::to_string(&id).unwrap(), "42");
        assert_eq!(serde_json::from_str::<ProjectId>("42").unwrap(), id);
        assert_eq!(id.to_string(), "42");
        assert_eq!(format!("project {id}"), "project 42");
        assert_eq!(u64::from(id), 42);
        assert_eq!(id.get(), 42);
        assert_eq!("42".parse::<ProjectId>().unwrap(), id);
        assert_eq!(
            serde_json::to_string(&Some(id)).unwrap(),
            serde_json::to_string(&Some(42u64)).unwrap()
        );
    }
}
