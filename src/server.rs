//! `aiops serve`: open the store, bootstrap the first admin, mount API + web UI, serve until
//! SIGTERM/SIGINT.

use crate::config::{Config, ServeArgs};
use crate::services::App;
use crate::services::accounts::Bootstrap;
use crate::store::Store;
use crate::{api, web};
use poem::middleware::Compression;
use poem::{EndpointExt, Route};
use std::sync::Arc;
use std::time::Duration;

/// How long a client has to send a whole request head (slow-header clients are cut off).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection with no traffic at all for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// The most connections served at once: a share of the open-files limit, so that the store,
/// logs, git and tmux always have descriptors left. Beyond it new connections are closed at once.
fn max_connections() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur as usize
    } else {
        1024
    };
    (soft.saturating_sub(128) * 3 / 4).clamp(16, 50_000)
}

/// Serve `ep` on `listener` until `shutdown`, then let open requests finish for up to `grace`.
/// Like poem's own server, plus what it lacks: a header-read timeout and an idle timeout per
/// connection, and a connection cap.
async fn serve_http<E>(
    listener: tokio::net::TcpListener,
    ep: E,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()>
where
    E: poem::Endpoint + 'static,
{
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let ep = Arc::new(ep);
    let local = listener.local_addr()?;
    let open = Arc::new(AtomicUsize::new(0));
    let cap = max_connections();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut refused_logged = std::time::Instant::now() - Duration::from_secs(60);
    tokio::pin!(shutdown);
    loop {
        let (sock, peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if open.load(Ordering::Acquire) >= cap {
            if refused_logged.elapsed() > Duration::from_secs(10) {
                tracing::warn!(cap, "connection limit reached; closing new connections");
                refused_logged = std::time::Instant::now();
            }
            drop(sock);
            continue;
        }
        let _ = sock.set_nodelay(true);
        open.fetch_add(1, Ordering::AcqRel);
        let (ep, open, mut stop_rx) = (ep.clone(), open.clone(), stop_rx.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let ep = ep.clone();
                async move {
                    let req = poem::Request::from((
                        req,
                        poem::web::LocalAddr(poem::Addr::SocketAddr(local)),
                        poem::web::RemoteAddr(poem::Addr::SocketAddr(peer)),
                        poem::http::uri::Scheme::HTTP,
                    ));
                    let resp = ep.get_response(req).await;
                    Ok::<_, std::convert::Infallible>(hyper::Response::<
                        http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>,
                    >::from(resp))
                }
            });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(true);
            let io = TokioIo::new(IdleClose::new(sock, IDLE_TIMEOUT));
            let conn = builder.serve_connection_with_upgrades(io, service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = async {
                    loop {
                        if *stop_rx.borrow_and_update() {
                            break;
                        }
                        if stop_rx.changed().await.is_err() {
                            break;
                        }
                    }
                } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            open.fetch_sub(1, Ordering::AcqRel);
        });
    }
    let _ = stop_tx.send(true);
    let deadline = tokio::time::Instant::now() + grace;
    while open.load(std::sync::atomic::Ordering::Acquire) > 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// A socket that fails with `TimedOut` after `idle` without any read or write.
struct IdleClose {
    inner: tokio::net::TcpStream,
    idle: Duration,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl IdleClose {
    fn new(inner: tokio::net::TcpStream, idle: Duration) -> IdleClose {
        IdleClose {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }
    fn touch(&mut self) {
        let next = tokio::time::Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }
    fn expired(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn idle_error() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "connection idle too long")
}

impl tokio::io::AsyncRead for IdleClose {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let before = buf.filled().len();
        match std::pin::Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.touch();
                }
                Poll::Ready(r)
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl tokio::io::AsyncWrite for IdleClose {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::task::Poll;
        match std::pin::Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                self.touch();
                Poll::Ready(Ok(n))
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serve `app`'s routes (API, web UI, streams) on a listener the caller has bound, until
/// `shutdown`; open requests then get a second to finish. Nothing of the process is touched: no
/// store bootstrap, scheduler, signals, logging or re-exec (that is `serve`). In-process tests
/// bind `127.0.0.1:0` first, so the address answers (queued in the backlog) before this starts.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let _ = app.sessions.self_url.set(format!("http://{local}"));
    serve_http(
        listener,
        build_routes(app),
        shutdown,
        Duration::from_secs(1),
    )
    .await
}

pub fn build_routes(app: Arc<App>) -> impl poem::Endpoint {
    let compressed = Route::new()
        .nest("/api", api::routes(app.clone()))
        .nest("/assets", web::assets())
        .at("/favicon.ico", web::pwa_routes())
        .at("/manifest.webmanifest", web::pwa_routes())
        .at("/sw.js", web::pwa_routes())
        .nest("/", web::routes(app.clone()))
        .with(crate::api::gate::BodyLimit {
            max: app.config.max_body_bytes,
        })
        .with(Compression::new());
    let mut root = Route::new()
        .nest("/streams", web::stream_routes(app))
        .nest("/", compressed);
    // Debug builds can be told to mount a route that panics, to test the panic answer.
    if cfg!(debug_assertions) && std::env::var_os("AIOPS_TEST_PANIC_ROUTE").is_some() {
        root = root.at(
            "/__test/panic",
            poem::get(poem::endpoint::make_sync(|_| -> &'static str {
                panic!("test panic")
            })),
        );
    }
    root.with(RequestLog)
}

/// Per-request context: the request id, and the caller's user id once the API gate knows it.
#[derive(Clone, Default)]
pub struct RequestCtx {
    pub id: String,
    pub user: Arc<std::sync::OnceLock<u64>>,
}

/// Every request gets an id (`X-Request-Id`, echoed when the client sent a sane one), is logged
/// at info with method, path, status, duration and user, and a panic anywhere below answers
/// JSON 500 with that id instead of plain text.
struct RequestLog;

impl<E: poem::Endpoint> poem::Middleware<E> for RequestLog {
    type Output = RequestLogEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        RequestLogEndpoint(ep)
    }
}

struct RequestLogEndpoint<E>(E);

fn request_id(req: &poem::Request) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_string)
        .unwrap_or_else(|| hex::encode(rand::random::<[u8; 8]>()))
}

impl<E: poem::Endpoint> poem::Endpoint for RequestLogEndpoint<E> {
    type Output = poem::Response;

    async fn call(&self, mut req: poem::Request) -> poem::Result<poem::Response> {
        use futures_util::FutureExt;
        use poem::IntoResponse;
        let started = std::time::Instant::now();
        let ctx = RequestCtx {
            id: request_id(&req),
            ..Default::default()
        };
        req.extensions_mut().insert(ctx.clone());
        let method = req.method().to_string();
        let path = req.uri().path().to_string();
        let outcome = std::panic::AssertUnwindSafe(self.0.call(req))
            .catch_unwind()
            .await;
        let mut resp = match outcome {
            Ok(Ok(r)) => r.into_response(),
            Ok(Err(e)) => e.into_response(),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(request_id = %ctx.id, %method, %path, panic = %what, "request panicked");
                poem::Response::builder()
                    .status(poem::http::StatusCode::INTERNAL_SERVER_ERROR)
                    .content_type("application/json")
                    .body(
                        serde_json::json!({
                            "error": "Internal server error; see the server log",
                            "request_id": ctx.id,
                        })
                        .to_string(),
                    )
            }
        };
        if let Ok(v) = poem::http::HeaderValue::from_str(&ctx.id) {
            resp.headers_mut().insert("x-request-id", v);
        }
        tracing::info!(
            request_id = %ctx.id,
            %method,
            %path,
            status = resp.status().as_u16(),
            ms = started.elapsed().as_secs_f64() * 1000.0,
            user = ctx.user.get().copied(),
            "request"
        );
        Ok(resp)
    }
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
#[allow(
    clippy::disallowed_methods,
    reason = "the process replaces itself (exec): nothing is left to block"
)]
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
    // The master key was taken out of the environment at start: hand it to the new process
    // through a pipe it inherits (never through an environment, which /proc shows).
    let mut _keep = None;
    if let Some(k) = secret_key {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let (r, mut w) = std::io::pipe()?;
        w.write_all(k.as_bytes())?;
        drop(w);
        let fd = r.as_raw_fd();
        // SAFETY: clears close-on-exec on a descriptor this process owns.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } != 0 {
            return Err(anyhow::anyhow!(
                "cannot hand the master key to the restarted server"
            ));
        }
        cmd.env_remove("AIOPS_SECRET_KEY")
            .env("AIOPS_SECRET_KEY_FILE", format!("/proc/self/fd/{fd}"));
        _keep = Some(r);
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
    if !config.sandbox {
        tracing::warn!(
            "the agent sandbox is OFF (sandbox = \"off\"): every agent, shell and project playbook runs with this server's own powers and can read its data"
        );
    }
    let store = Store::open(&config.data_dir)?;
    let app = App::new(store, config.clone())?.shared();
    let sandbox_broken = app.sandbox.check_sandbox();
    if let Some(why) = &sandbox_broken {
        tracing::error!(error = %why, "the agent sandbox cannot be built: agents, git and project playbooks will refuse to run");
    }
    if let Err(e) = app.ansible.ansible_startup() {
        tracing::warn!(error = %e, "ansible directory not prepared");
    }
    let bootstrap = app.accounts.bootstrap()?;
    let interrupted = app.trackers.mark_interrupted_syncs()?;
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "issue syncs were cut short by the last stop; they will run again"
        );
    }

    let listener = tokio::net::TcpListener::bind(config.bind.as_str())
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.bind))?;
    let local = listener
        .local_addr()
        .map_err(|e| anyhow::anyhow!("listener has no local address: {e}"))?;
    let loopback = if local.ip().is_unspecified() {
        std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), local.port())
    } else {
        local
    };
    let _ = app.sessions.self_url.set(format!("http://{loopback}"));
    match app.sessions.rediscover_sessions().await {
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
    if let Some(why) = &sandbox_broken {
        println!(
            "WARNING: agents, git and project playbooks are disabled until the sandbox works: {why}"
        );
    }

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
    let mut restart_rx = app.system.restart.subscribe();
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
    let agent_watch = crate::services::agent_watch::spawn(app.clone(), stop_rx.clone());
    let scheduler = crate::services::scheduler::spawn(app.clone(), stop_rx);
    app.notify.start();
    // Nagle's algorithm is off on every connection: small writes (terminal echo, SSE events,
    // short API answers) leave at once instead of waiting up to 40 ms for an ACK.
    serve_http(
        listener,
        build_routes(app),
        shutdown,
        Duration::from_secs(10),
    )
    .await?;
    let _ = stop_tx.send(true);
    let _ = scheduler.await;
    let _ = agent_watch.await;
    if *restart_app.system.restart.borrow() {
        drop(restart_app);
        return reexec(local, config.secret_key.as_deref());
    }
    println!("aiops stopped");
    Ok(())
}
