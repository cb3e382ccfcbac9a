//! The REST API under `/api/v1` (poem-openapi). Handlers are thin: parse, call a service, shape
//! the JSON. `gate` authenticates, limits bodies, audits writes and turns every error into JSON.

mod ansible;
mod common;
mod credentials;
mod docs;
pub mod gate;
mod git;
mod integrations;
mod issue_list;
mod issues;
mod members;
pub mod objects;
mod resources;
mod sessions;
mod ssh;
pub mod strict;
mod sync;
mod system;
mod workflow;

use crate::services::App;
use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::OpenApiService;
use std::sync::Arc;

pub const API_TITLE: &str = "aiops REST API";

pub type AllApis = (
    resources::Apis,
    issues::IssuesApi,
    sync::SyncApi,
    integrations::IntegrationsApi,
    credentials::CredentialsApi,
    git::GitApi,
    ssh::SshApi,
    sessions::SessionsApi,
    workflow::WorkflowApi,
    system::SystemApi,
    ansible::AnsibleApi,
    members::MembersApi,
);

pub fn openapi_service() -> OpenApiService<AllApis, ()> {
    OpenApiService::new(
        (
            resources::apis(),
            issues::IssuesApi,
            sync::SyncApi,
            integrations::IntegrationsApi,
            credentials::CredentialsApi,
            git::GitApi,
            ssh::SshApi,
            sessions::SessionsApi,
            workflow::WorkflowApi,
            system::SystemApi,
            ansible::AnsibleApi,
            members::MembersApi,
        ),
        API_TITLE,
        env!("CARGO_PKG_VERSION"),
    )
    .server("/api/v1")
}

/// Everything under `/api`: the v1 routes, the OpenAPI document and the Swagger UI.
pub fn routes(app: Arc<App>) -> impl Endpoint {
    let service = openapi_service();
    let spec = service.spec_endpoint();
    let spec_legacy = service.spec_endpoint();
    let ui = service.swagger_ui();
    let docs = docs::endpoint(service.swagger_ui_html(), ui);
    Route::new()
        .at("/v1/openapi.json", spec)
        .at("/v1/apispec.json", spec_legacy)
        .at(
            "/v1/projects/:id/files/*path",
            poem::get(git::file_any_depth),
        )
        .nest("/v1", service)
        .nest("/docs", docs)
        .with(gate::ApiGate::new(app.clone()))
        .data(app)
}
