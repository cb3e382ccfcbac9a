//! The htmx web UI (maud templates, Pico CSS) and the embedded assets.

use crate::services::App;
use poem::endpoint::EmbeddedFilesEndpoint;
use poem::{Endpoint, Route};
use rust_embed::RustEmbed;
use std::sync::Arc;

#[derive(RustEmbed)]
#[folder = "assets/"]
pub struct Assets;

pub fn assets() -> impl Endpoint {
    EmbeddedFilesEndpoint::<Assets>::new()
}

pub fn routes(_app: Arc<App>) -> impl Endpoint {
    Route::new()
}
