//! Benchmark (not a test) for issue 18, the whole notification chain with real parts:
//!
//! 1. Prompt → push: a scripted agent in a real tmux pane (`cat` of a fifo the benchmark
//!    writes) alternates "working" output and a Claude-style permission prompt; the real
//!    watcher (`agent_watch::spawn`, its 1 Hz tick) sees the prompt, the notifier pushes to a
//!    fake push service on loopback. Measured: from the prompt's bytes written to the pane's
//!    program to the push request arriving, median and p99. The prompt is written after a
//!    random pause (0–1 s) so that it lands anywhere in the watcher's tick.
//! 2. Watcher cost: one watcher pass (`AgentWatch::tick`: store read, one tmux look per
//!    session, hash, detection) over 20 live sessions, wall time and CPU time (this process,
//!    its tmux children and the tmux server) per session per pass, i.e. per second.
//!
//! Run: `cargo bench --bench agent_chain`. Needs tmux. In-process, loopback only.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test and benchmark code: a panic is a failed run, and setup may block"
)]

use aiops::auth::Identity;
use aiops::config::{Config, ServeArgs};
use aiops::domain::agent_state::AgentState;
use aiops::domain::{AiSession, ProjectId, UserId};
use aiops::services::App;
use aiops::services::agent_watch::{self, AgentWatch};
use aiops::services::events::Event;
use aiops::services::notify::SubscriptionInput;
use aiops::store::Store;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::Rng;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};
use web_push_native::p256;
use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint;

/// Prompts measured (after the session's first, unmeasured).
const ROUNDS: usize = 40;
/// Live sessions for the watcher-cost part.
const SESSIONS: u64 = 20;
/// Watcher passes timed over them.
const PASSES: usize = 30;

const CLEAR: &str = "\x1b[2J\x1b[H";

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

fn tmux(sock: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("tmux")
        .arg("-S")
        .arg(sock)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "tmux {args:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A detached tmux session `name` running `cmd`, and its active row.
fn agent(app: &App, sock: &Path, id: u64, user: UserId, name: &str, cmd: &str) -> AiSession {
    tmux(
        sock,
        &[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "100",
            "-y",
            "30",
            cmd,
        ],
    );
    let s = AiSession {
        id: id.into(),
        project_id: ProjectId(1),
        user_id: user,
        issue_id: None,
        tool: "claude".into(),
        session_id: format!("{id:032x}"),
        command: None,
        description: None,
        tmux_target: Some(format!("{name}:0")),
        started_at: aiops::domain::model::now(),
        ended_at: None,
        is_active: true,
        api_key_id: None,
        tmux_socket: Some(sock.display().to_string()),
        workspace_path: None,
        run_as: None,
        end_reason: None,
        tool_session_id: None,
        branch: None,
        base: None,
        pull_request: None,
    };
    let w = app.store.write().unwrap();
    w.put_ai_session(&s).unwrap();
    w.commit().unwrap();
    s
}

fn prompt(i: usize) -> String {
    format!(
        "{CLEAR} Edit file src/x{i}.rs\n\n Do you want to make this edit to x{i}.rs?\n \u{276f} 1. Yes\n   \
         2. Yes, allow all edits during this session (shift+tab)\n   \
         3. No, and tell Claude what to do differently (esc)\n"
    )
}

/// Microseconds of CPU: this process, its reaped children (the tmux clients), and the tmux
/// server (`server_pid`, from /proc).
fn cpu_us(server_pid: &str) -> u128 {
    let ru = |who| {
        let mut r: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `r` is a valid, writable rusage.
        unsafe { libc::getrusage(who, &mut r) };
        let tv = |t: libc::timeval| t.tv_sec as u128 * 1_000_000 + t.tv_usec as u128;
        tv(r.ru_utime) + tv(r.ru_stime)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u128;
    let server = std::fs::read_to_string(format!("/proc/{}/stat", server_pid.trim()))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            // after the command: state is field 3, utime 14, stime 15 (1-based in proc(5))
            Some(f.get(11)?.parse::<u128>().ok()? + f.get(12)?.parse::<u128>().ok()?)
        })
        .unwrap_or(0)
        * 1_000_000
        / hz;
    ru(libc::RUSAGE_SELF) + ru(libc::RUSAGE_CHILDREN) + server
}

fn ms(us: u128) -> f64 {
    us as f64 / 1000.0
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = ServeArgs::default();
    args.store.data_dir = Some(dir.path().to_path_buf());
    // The fake push service is on loopback.
    args.notify_private_targets = Some(true);
    let config = Config::resolve(&args).unwrap();
    let app = App::new(Store::open(dir.path()).unwrap(), config)
        .unwrap()
        .shared();
    app.notify.start();

    // The fake push service: note when each request arrived.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let ep = poem::endpoint::make(move |req: poem::Request| {
        let tx = tx.clone();
        async move {
            let at = Instant::now();
            let _ = req.into_body().into_vec().await;
            let _ = tx.send(at);
            poem::http::StatusCode::CREATED
        }
    });
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(ep));

    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let who = Identity::system();
    let p256dh = B64.encode(secret.public_key().to_encoded_point(false).as_bytes());
    app.notify
        .subscribe(
            &who,
            SubscriptionInput {
                endpoint: format!("{base}/push/bench"),
                p256dh,
                auth: B64.encode([9u8; 16]),
                user_agent: "bench".into(),
            },
        )
        .unwrap();

    // Part 1: the scripted agent, whose pane shows what the benchmark writes to its fifo.
    let sock = dir.path().join("tmux.sock");
    let fifo = dir.path().join("agent.fifo");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success(), "mkfifo");
    let s = agent(
        &app,
        &sock,
        1,
        who.user.id,
        "aiops-chain",
        &format!("exec cat {}", fifo.display()),
    );
    let mut pane = {
        let fifo = fifo.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::OpenOptions::new().write(true).open(fifo).unwrap()
        })
        .await
        .unwrap()
    };
    let mut bus = app.events.subscribe();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let watcher = agent_watch::spawn(app.clone(), stop_rx);
    // Whether the watcher announced the session working since the last call.
    let mut working = move || {
        use tokio::sync::broadcast::error::TryRecvError;
        let mut seen = false;
        loop {
            match bus.try_recv() {
                Ok(Event::AgentState { session, state, .. }) => {
                    if session == "1" {
                        seen = state == AgentState::Working;
                    }
                }
                Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty) => return seen,
                Err(TryRecvError::Closed) => panic!("bus closed"),
            }
        }
    };

    // Warm-up (unmeasured): the fresh session's first prompt.
    pane.write_all(prompt(0).as_bytes()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the first prompt is pushed within 10 s")
        .unwrap();
    let mut us: Vec<u128> = Vec::with_capacity(ROUNDS);
    let mut stray = 0usize;
    for i in 1..=ROUNDS {
        // Working: fresh output every 100 ms until the watcher calls it working.
        pane.write_all(CLEAR.as_bytes()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut k = 0;
        while !working() {
            assert!(Instant::now() < deadline, "round {i}: never seen working");
            k += 1;
            pane.write_all(format!("Reading src/file{i}_{k}.rs\n").as_bytes())
                .unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Anywhere in the watcher's second.
        let pause = rand::thread_rng().gen_range(0..1000);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        while rx.try_recv().is_ok() {
            stray += 1;
        }
        pane.write_all(prompt(i).as_bytes()).unwrap();
        pane.flush().unwrap();
        let t0 = Instant::now();
        let at = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("round {i}: no push within 10 s of the prompt"))
            .unwrap();
        us.push(at.saturating_duration_since(t0).as_micros());
    }
    stop_tx.send(true).unwrap();
    watcher.await.unwrap();
    us.sort_unstable();
    let median = us[us.len() / 2];
    let p99 = us[((us.len() * 99).div_ceil(100)).saturating_sub(1)];
    println!(
        "agent_chain: prompt written in the pane -> push request at the push service (1 Hz watcher), \
         {} prompts: median {:.1} ms, p99 {:.1} ms, min {:.1} ms, max {:.1} ms{}",
        us.len(),
        ms(median),
        ms(p99),
        ms(us[0]),
        ms(us[us.len() - 1]),
        if stray > 0 {
            format!(" ({stray} pushes outside the prompts)")
        } else {
            String::new()
        }
    );
    // (Before the fifo closes: then `cat` ends and the server with it.)
    tmux(&sock, &["kill-server"]);
    drop(pane);
    {
        // The chain's session ended.
        let w = app.store.write().unwrap();
        let mut ended = s.clone();
        ended.is_active = false;
        w.put_ai_session(&ended).unwrap();
        w.commit().unwrap();
    }

    // Part 2: what one watcher pass costs per live session.
    let sock2 = dir.path().join("tmux2.sock");
    let script = dir.path().join("busy.sh");
    std::fs::write(
        &script,
        "printf 'Reading src/lib.rs\\nRunning cargo test\\n'\n\
         printf '%s\\n' ' Do you want to proceed?' ' \u{276f} 1. Yes' '   2. No'\nread x\n",
    )
    .unwrap();
    for n in 0..SESSIONS {
        agent(
            &app,
            &sock2,
            100 + n,
            UserId(7),
            &format!("aiops-{}", 100 + n),
            &format!("sh {}", script.display()),
        );
    }
    let server_pid = tmux(&sock2, &["display-message", "-p", "#{pid}"]);
    let watch = AgentWatch::new(app.sessions.clone(), app.events.clone());
    // Warm up: first looks, patterns, the store's pages.
    for _ in 0..3 {
        watch.tick().await;
    }
    let cpu0 = cpu_us(&server_pid);
    let t0 = Instant::now();
    let mut looked = 0;
    for _ in 0..PASSES {
        looked += watch.tick().await;
    }
    let wall = t0.elapsed().as_micros();
    let cpu = cpu_us(&server_pid).saturating_sub(cpu0);
    assert_eq!(
        looked,
        PASSES * SESSIONS as usize,
        "every live pane looked at"
    );
    let per = |x: u128| x as f64 / looked as f64 / 1000.0;
    println!(
        "agent_chain: watcher pass over {SESSIONS} live sessions ({PASSES} passes): \
         {:.2} ms wall per pass, {:.3} ms wall and {:.3} ms CPU (process + tmux clients + tmux server) \
         per session per pass (= per second at 1 Hz)",
        wall as f64 / PASSES as f64 / 1000.0,
        per(wall),
        per(cpu)
    );
    tmux(&sock2, &["kill-server"]);
}
