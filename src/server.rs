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

/// The TCP acceptor with Nagle's algorithm off: small writes (terminal echo, SSE events, short
/// API answers) leave at once instead of waiting up to 40 ms for an ACK.
struct NoDelay(poem::listener::TcpAcceptor);

impl Acceptor for NoDelay {
    type Io = tokio::net::TcpStream;

    fn local_addr(&self) -> Vec<poem::web::LocalAddr> {
        self.0.local_addr()
    }

    async fn accept(
        &mut self,
    ) -> std::io::Result<(
        Self::Io,
        poem::web::LocalAddr,
        poem::web::RemoteAddr,
        poem::http::uri::Scheme,
    )> {
        let (io, local, remote, scheme) = self.0.accept().await?;
        let _ = io.set_nodelay(true);
        Ok((io, local, remote, scheme))
    }
}

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

/// Logs go to stdout (human-readable) and, as JSON lines, to `<data_dir>/logs/aiops.<date>.log`
/// (daily files, the last 14 kept) for the admin log viewer.
fn init_logging(config: &Config) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let filter = || EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let console = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stdout)
        .with_filter(filter());
    let dir = config.data_dir.join("logs");
    let file = std::fs::create_dir_all(&dir).ok().and_then(|_| {
        tracing_appender::rolling::RollingFileAppender::builder()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix(crate::services::system::LOG_FILE_PREFIX)
            .filename_suffix("log")
            .max_log_files(14)
            .build(&dir)
            .ok()
    });
    match file {
        Some(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let json = tracing_subscriber::fmt::layer()
                .json()
                .with_writer(writer)
                .with_filter(filter());
            let _ = tracing_subscriber::registry()
                .with(console)
                .with(json)
                .try_init();
            Some(guard)
        }
        None => {
            let _ = tracing_subscriber::registry().with(console).try_init();
            None
        }
    }
}

/// Replace this process with a fresh run of the binary on disk (which `system update` may
/// have replaced), with the same arguments and environment, on the same address.
fn reexec(bound: std::net::SocketAddr, secret_key: Option<&str>) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()?;
    // After an update the old inode is gone from the path: /proc shows " (deleted)".
    let exe = std::path::PathBuf::from(exe.to_string_lossy().trim_end_matches(" (deleted)"));
    // `--bind` is replaced by the address actually bound (port 0 would pick a new port).
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    let mut skip = false;
    for a in std::env::args_os().skip(1) {
        if skip {
            skip = false;
            continue;
        }
        match a.to_str() {
            Some("--bind") => skip = true,
            Some(s) if s.starts_with("--bind=") => {}
            _ => args.push(a),
        }
    }
    println!("aiops restarting");
    let mut cmd = std::process::Command::new(&exe);
    cmd.args(args).env("AIOPS_BIND", bound.to_string());
    // The master key was taken out of the environment at start: hand it to the new process.
    if let Some(k) = secret_key {
        cmd.env("AIOPS_SECRET_KEY", k);
    }
    let err = cmd.exec();
    Err(anyhow::anyhow!("cannot restart {}: {err}", exe.display()))
}

/// Files and directories the server creates are private whatever umask it was started with
/// (Docker, a shell with 022): everything it makes from here on is 0600/0700.
fn private_umask() {
    // SAFETY: umask only sets the process's file mode creation mask.
    unsafe { libc::umask(0o077) };
}

/// Tighten what an older version (or a looser umask) left readable by others: the data
/// directory and its subdirectories to 0700, the files in it and in `backups/` and `logs/` to
/// 0600. Returns what was changed, for the log.
pub fn tighten_data_dir(dir: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut changed = Vec::new();
    let mut fix = |p: &std::path::Path, is_dir: bool| {
        let Ok(meta) = std::fs::symlink_metadata(p) else {
            return;
        };
        if meta.file_type().is_symlink() {
            return;
        }
        let mode = meta.permissions().mode() & 0o777;
        let want = if is_dir { mode & 0o700 } else { mode & 0o600 };
        if mode != want
            && std::fs::set_permissions(p, std::fs::Permissions::from_mode(want)).is_ok()
        {
            changed.push(format!("{} {:o} -> {:o}", p.display(), mode, want));
        }
    };
    fix(dir, true);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return changed;
    };
    for e in entries.flatten() {
        let p = e.path();
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        fix(&p, is_dir);
        let name = e.file_name();
        if is_dir && (name == "backups" || name == "logs") {
            for f in std::fs::read_dir(&p).into_iter().flatten().flatten() {
                if f.file_type().map(|t| t.is_file()).unwrap_or(false) {
                    fix(&f.path(), false);
                }
            }
        }
    }
    changed
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    private_umask();
    let config = Config::resolve(&args)?;
    let tightened = tighten_data_dir(&config.data_dir);
    let _log_guard = init_logging(&config);
    for c in &tightened {
        tracing::warn!(change = %c, "tightened a permission that let other accounts read server data");
    }
    if config.sandbox {
        crate::services::sandbox::check_bwrap()
            .map_err(|e| anyhow::anyhow!("refusing to start: {e}"))?;
    } else {
        tracing::warn!(
            "the agent sandbox is OFF (sandbox = \"off\"): every agent, shell and project playbook runs with this server's own powers and can read its data"
        );
    }
    let store = Store::open(&config.data_dir)?;
    let app = App::new(store, config.clone())?.shared();
    if let Err(e) = app.ansible_startup() {
        tracing::warn!(error = %e, "ansible directory not prepared");
    }
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
    let mut restart_rx = app.restart.subscribe();
    let restart_app = app.clone();
    let shutdown = async move {
        tokio::select! {
            _ = shutdown => {},
            _ = restart_rx.wait_for(|r| *r) => {
                // Let the answer to the restart request leave first.
                tokio::time::sleep(Duration::from_millis(300)).await;
                tracing::warn!("restarting");
            },
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let scheduler = crate::services::scheduler::spawn(app.clone(), stop_rx);
    Server::new_with_acceptor(NoDelay(acceptor))
        .run_with_graceful_shutdown(build_routes(app), shutdown, Some(Duration::from_secs(10)))
        .await?;
    let _ = stop_tx.send(true);
    let _ = scheduler.await;
    if *restart_app.restart.borrow() {
        drop(restart_app);
        return reexec(local, config.secret_key.as_deref());
    }
    println!("aiops stopped");
    Ok(())
}
