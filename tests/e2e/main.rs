//! Black-box tests: the real `aiops` binary, a real redb data dir, HTTP over loopback.

mod harness;

mod ansible;
mod api_auth;
mod api_errors;
mod authz;
mod browser;
mod cli;
mod compat;
mod dropin;
mod fakes;
mod git;
mod hardening;
mod import;
mod issues_list;
mod openapi;
mod packaging;
mod persistence;
mod robustness;
mod sandbox;
mod sessions;
mod ssh;
mod system;
mod tenancy;
mod terminal;
mod trackers;
mod web;
mod web_agents;
mod web_feedback;
mod web_members;
mod webdriver;
mod workflow;
