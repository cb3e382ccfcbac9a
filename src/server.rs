//! `aiops serve`: open the store, bootstrap the first admin, mount API + web UI, serve until
//! SIGTERM/SIGINT.

use crate::config::{Config, ServeArgs};
use crate::services::App;
use crate::services::accounts::Bootstrap;
use crate::store::Store;
use crate::{api, web};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::middleware::{CatchPanic, Compression};
use poem::{EndpointExt, Route, Server};
use std::sync::Arc;
use std::time::Duration;

pub fn build_routes(app: Arc<App>) -> impl poem::Endpoint {
    let compressed = Route::new()
        .nest("/api", api::routes(app.clone()))
        .nest("/assets", web::assets())
        .nest("/", web::routes(app.clone()))
        .with(Compression::new());
    Route::new()
        .nest("/streams", web::stream_routes(app))
        .nest("/", compressed)
        .with(CatchPanic::new())
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::resolve(&args)?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let store = Store::open(&config.data_dir)?;
    let app = Arc::new(App::new(store, config.clone())?);
    let bootstrap = app.bootstrap()?;
    let interrupted = app.mark_interrupted_syncs()?;
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "issue syncs were cut short by the last stop; they will run again"
        );
    }

    let acceptor = TcpListener::bind(config.bind.as_str())
        .into_acceptor()
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.bind))?;
    let local = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .ok_or_else(|| anyhow::anyhow!("listener has no local address"))?;
    let loopback = if local.ip().is_unspecified() {
        std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), local.port())
    } else {
        local
    };
    let _ = app.self_url.set(format!("http://{loopback}"));
    match app.rediscover_sessions().await {
        Ok((kept, ended)) if kept + ended > 0 => {
            tracing::info!(kept, ended, "ai sessions checked against tmux")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not check ai sessions against tmux"),
    }
    let base = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let base = base.trim_end_matches('/');
    println!(
        "aiops {} listening on http://{local}",
        env!("CARGO_PKG_VERSION")
    );
    println!("data: {}", app.store.path().display());
    match bootstrap {
        Bootstrap::Ready => println!("Log in at {base}/login"),
        Bootstrap::AdminCreated(email) => {
            println!("Created administrator {email} from AIOPS_ADMIN_EMAIL/AIOPS_ADMIN_PASSWORD.");
            println!("Log in at {base}/login");
        }
        Bootstrap::SetupToken(token) => {
            println!("No users yet. Create the first administrator (one-time link):");
            println!("  {base}/setup?token={token}");
        }
    }
    println!("API docs at {base}/api/docs");

    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
    };
    let scheduler = crate::services::scheduler::spawn(app.clone());
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(build_routes(app), shutdown, Some(Duration::from_secs(10)))
        .await?;
    scheduler.abort();
    println!("aiops stopped");
    Ok(())
}
