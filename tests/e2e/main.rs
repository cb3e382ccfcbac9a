//! Black-box tests: the real `aiops` binary, a real redb data dir, HTTP over loopback.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test and benchmark code: a panic is a failed run, and setup may block"
)]

mod harness;

mod agent_state;
mod ansible;
mod api_auth;
mod api_errors;
mod authz;
mod browser;
mod cli;
#[cfg(feature = "import-sqlite")] // builds its store with `aiops import-sqlite`
mod compat;
mod config;
mod container;
mod dropin;
mod fakes;
mod git;
mod hardening;
#[cfg(feature = "import-sqlite")] // builds its store with `aiops import-sqlite`
mod import;
#[cfg(feature = "import-sqlite")] // builds its store with `aiops import-sqlite`
mod issues_list;
mod notify_page;
mod openapi;
mod packaging;
mod persistence;
mod pulls;
mod resume;
mod review;
mod robustness;
mod sandbox;
mod sessions;
mod ssh;
mod system;
mod tenancy;
mod terminal;
mod tools;
mod trackers;
mod web;
mod web_admin_pages;
mod web_agents;
mod web_audit;
mod web_backup;
mod web_dashboard;
mod web_feedback;
#[cfg(feature = "import-sqlite")] // builds its store with `aiops import-sqlite`
mod web_layout;
mod web_members;
mod web_workspace;
mod webdriver;
mod workflow;
mod worktree_page;
mod worktrees;
