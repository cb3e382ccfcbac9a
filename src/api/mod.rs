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
mod notifications;
pub mod objects;
mod pulls;
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
    pulls::PullsApi,
    notifications::NotificationsApi,
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
            pulls::PullsApi,
            notifications::NotificationsApi,
        ),
        API_TITLE,
        env!("CARGO_PKG_VERSION"),
    )
    .server("/api/v1")
}

/// An endpoint made on its first request: the OpenAPI document (271 kB, written from every
/// operation's metadata) and the Swagger UI (1.5 MB of script) are built when someone asks for
/// them, not at every start (idle memory, start time).
struct OnFirstUse<F> {
    make: F,
    made: std::sync::OnceLock<poem::endpoint::BoxEndpoint<'static>>,
}

fn on_first_use<F>(make: F) -> OnFirstUse<F>
where
    F: Fn() -> poem::endpoint::BoxEndpoint<'static> + Send + Sync,
{
    OnFirstUse {
        make,
        made: std::sync::OnceLock::new(),
    }
}

impl<F> Endpoint for OnFirstUse<F>
where
    F: Fn() -> poem::endpoint::BoxEndpoint<'static> + Send + Sync,
{
    type Output = poem::Response;

    async fn call(&self, req: poem::Request) -> poem::Result<Self::Output> {
        self.made.get_or_init(|| (self.make)()).call(req).await
    }
}

/// Everything under `/api`: the v1 routes, the OpenAPI document and the Swagger UI (those two
/// built on first use).
pub fn routes(app: Arc<App>) -> impl Endpoint {
    let service = openapi_service();
    // One document for both paths (the legacy name is the Python server's).
    let spec = Arc::new(on_first_use(|| {
        openapi_service().spec_endpoint().map_to_response().boxed()
    }));
    let docs = on_first_use(|| {
        let service = openapi_service();
        docs::endpoint(service.swagger_ui_html(), service.swagger_ui())
            .map_to_response()
            .boxed()
    });
    Route::new()
        .at("/v1/openapi.json", spec.clone())
        .at("/v1/apispec.json", spec.clone())
        .at(
            "/v1/projects/:id/files/*path",
            poem::get(git::file_any_depth),
        )
        .nest("/v1", service)
        .nest("/docs", docs)
        .with(gate::ApiGate::new(app.clone()))
        .data(app)
}
