//! Plain types and rules with no I/O. Everything here is unit-tested in place.

pub mod access;
pub mod adf;
pub mod agent_state;
pub mod ansible;
pub mod backup;
pub mod context;
pub mod git;
pub mod gitrules;
pub mod ids;
pub mod issues;
pub mod keys;
pub mod list_row;
pub mod model;
pub mod notify;
pub mod release;
pub mod review;
pub mod rules;
pub mod sandbox;
pub mod sessions;
pub mod ssh;

pub use access::Role;
pub use ids::*;
pub use model::*;
