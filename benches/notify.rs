//! Benchmark (not a test): time from an agent-state event being published on the bus to its
//! Web Push request reaching a fake push service on loopback (dispatcher decision, preferences
//! read, RFC 8291 encryption, VAPID signing, the HTTP POST), median and p99 over 500 events.
//! Run: `cargo bench --bench notify`. In-process, loopback only.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test and benchmark code: a panic is a failed run, and setup may block"
)]

use aiops::auth::Identity;
use aiops::config::{Config, ServeArgs};
use aiops::domain::ProjectId;
use aiops::domain::agent_state::AgentState;
use aiops::services::App;
use aiops::services::events::Event;
use aiops::services::notify::SubscriptionInput;
use aiops::store::Store;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use std::time::{Duration, Instant};
use web_push_native::p256;
use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint;

const EVENTS: usize = 500;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
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

    let event = |i: usize| Event::AgentState {
        user_id: who.user.id,
        session: format!("bench-{i}"),
        project_id: ProjectId(1),
        issue_id: None,
        tool: "claude".into(),
        state: AgentState::WaitingForInput,
        summary: "Do you want to proceed?".into(),
    };
    // Warm up (connection pool, code paths).
    for i in 0..20 {
        app.events.publish(event(1_000_000 + i));
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
    }
    let mut us: Vec<u128> = Vec::with_capacity(EVENTS);
    for i in 0..EVENTS {
        let t0 = Instant::now();
        app.events.publish(event(i));
        let at = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        us.push(at.duration_since(t0).as_micros());
    }
    us.sort_unstable();
    let median = us[us.len() / 2];
    let p99 = us[(us.len() * 99) / 100 - 1];
    println!(
        "notify: event published -> push request at the push service, {EVENTS} events: median {:.2} ms, p99 {:.2} ms",
        median as f64 / 1000.0,
        p99 as f64 / 1000.0
    );
}
