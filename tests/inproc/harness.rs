//! One aiops server inside the test process: a temp on-disk store, the App and its routes
//! built from a `Config`, served on a `127.0.0.1:0` listener that is bound first, and a client
//! holding an admin key. Users, keys and memberships are made through the services directly
//! (no web login), so a whole world of tenants and callers is ready in milliseconds. The calls
//! are the shared `tests/common/http.rs`, the same as the end-to-end suite's.

#[path = "../common/http.rs"]
mod http;
pub use http::Http;

use aiops::auth::Identity;
use aiops::config::{Config, ServeArgs};
use aiops::services::App;
use aiops::services::accounts::NewUser;
use aiops::store::Store;
use std::sync::Arc;

pub const ADMIN_EMAIL: &str = "admin@example.com";

pub struct Inproc {
    pub app: Arc<App>,
    pub base: String,
    pub admin_key: String,
    pub client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Inproc {
    /// A fresh store with one administrator (and an admin-scope key), served on a free port.
    pub async fn start() -> Inproc {
        Inproc::start_with(|_| {}).await
    }

    /// `start` with the server's arguments changed by `edit` first.
    pub async fn start_with(edit: impl FnOnce(&mut ServeArgs)) -> Inproc {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut args = ServeArgs::default();
        args.store.data_dir = Some(dir.path().to_path_buf());
        edit(&mut args);
        let config = Config::resolve(&args).expect("config");
        let store = Store::open(dir.path()).expect("open the store");
        let app = App::new(store, config).expect("app").shared();
        // Bound first: the port accepts (into the backlog) before the server task runs.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(aiops::server::serve_on(listener, app.clone(), async move {
            let _ = stopped.await;
        }));
        let mut s = Inproc {
            app,
            base,
            admin_key: String::new(),
            client: reqwest::Client::new(),
            _stop: stop,
            _dir: dir,
        };
        let (_, key) = s.user(ADMIN_EMAIL, true, &["read", "write", "admin"]);
        s.admin_key = key;
        s
    }

    /// A user made through the service (as an admin would) with a key of `scopes`: (id, key).
    pub fn user(&self, email: &str, is_admin: bool, scopes: &[&str]) -> (u64, String) {
        let u = self
            .app
            .accounts
            .create_user(
                &Identity::system(),
                NewUser {
                    email,
                    name: email.split('@').next().unwrap_or(email),
                    password: "password-for-tests-1",
                    is_admin,
                },
            )
            .expect("create user");
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let (_, key) = self
            .app
            .accounts
            .create_key_offline(email, "test", &scopes, None)
            .expect("create key");
        (u.id.get(), key)
    }
}

impl Http for Inproc {
    fn base(&self) -> &str {
        &self.base
    }
    fn client(&self) -> &reqwest::Client {
        &self.client
    }
    fn admin_key(&self) -> &str {
        &self.admin_key
    }
}
