//! What every API module shares: the handler result alias, the `App` extractor, the default page
//! size and the answers wrapped around a body (201 Created, 201-or-200, 202 Accepted) or without
//! one (204 No Content).
//!
//! A 204 answer's documented description is part of its type, so there is one type per wording:
//! [`NoContent`] (none), [`Deleted`] ("Deleted.") and [`Removed`] ("Removed.").

use crate::services::App;
use poem::web::Data;
use poem_openapi::ApiResponse;
use poem_openapi::payload::Json;
use poem_openapi::types::ToJSON;
use std::sync::Arc;

/// A handler's result: any error becomes the JSON `{"error": …}` answer in `gate`.
pub type R<T> = poem::Result<T>;

/// The shared application, as handlers receive it.
pub type AppRef<'a> = Data<&'a Arc<App>>;

/// The default `limit` of the audit log and the sync history.
pub fn default_limit() -> usize {
    50
}

/// 201 with the created thing.
#[derive(ApiResponse)]
pub enum Created<T: ToJSON> {
    #[oai(status = 201)]
    Created(Json<T>),
}

/// 201 when something new was made, 200 when an existing one was replaced.
#[derive(ApiResponse)]
pub enum CreatedOrOk<T: ToJSON> {
    #[oai(status = 201)]
    Created(Json<T>),
    #[oai(status = 200)]
    Ok(Json<T>),
}

/// 202: queued; the body says what to follow.
#[derive(ApiResponse)]
pub enum Accepted<T: ToJSON> {
    #[oai(status = 202)]
    Accepted(Json<T>),
}

/// 204, documented without a description.
#[derive(ApiResponse)]
pub enum NoContent {
    #[oai(status = 204)]
    NoContent,
}

/// 204, documented as "Deleted.".
#[derive(ApiResponse)]
pub enum Deleted {
    /// Deleted.
    #[oai(status = 204)]
    NoContent,
}

/// 204, documented as "Removed.".
#[derive(ApiResponse)]
pub enum Removed {
    /// Removed.
    #[oai(status = 204)]
    NoContent,
}
