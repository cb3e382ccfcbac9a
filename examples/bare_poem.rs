//! A bare poem server for bench/run.sh: answers `GET /` with the bytes of one file as JSON,
//! nothing else (no store, no auth, no middleware), so the bench can show how close an aiops
//! endpoint gets to serving the same bytes from memory, and how much memory aiops idles at
//! beyond it. Same allocator as `aiops` (mimalloc, src/main.rs), so the RSS ratio is aiops's own
//! memory, not the allocator's.
//!
//!   cargo run --release --example bare_poem -- <file> <127.0.0.1:port>

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test and benchmark code: a panic is a failed run, and setup may block"
)]

use poem::{
    EndpointExt, IntoResponse, Route, Server, get, handler, listener::TcpListener, web::Data,
};
use std::sync::Arc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[handler]
fn serve_bytes(body: Data<&Arc<::bytes::Bytes>>) -> impl IntoResponse {
    poem::Response::builder()
        .content_type("application/json; charset=utf-8")
        .body(body.0.as_ref().clone())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(file), Some(bind)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_poem <file> <address:port>");
        std::process::exit(2);
    };
    let body = Arc::new(::bytes::Bytes::from(std::fs::read(&file)?));
    let app = Route::new().at("/", get(serve_bytes)).data(body);
    Server::new(TcpListener::bind(bind)).run(app).await
}
