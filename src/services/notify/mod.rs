//! Notifications: each user's Web Push subscriptions and preferences (only their own), the
//! server's VAPID key pair (made on first start, sealed in the store), and the dispatcher task
//! that turns bus events into notices (push: `push.rs`; webhook and ntfy: `targets.rs`).
//!
//! Per event the dispatcher decides in order, in its own loop: the kind (agent waiting /
//! finished / failed, playbook finished / failed, sync failing), de-duplication (one notice per
//! agent state transition), and nothing for a terminal its user is watching. Delivery then runs
//! on its own task: the user's toggles, muted projects and quiet hours (`domain::notify`), and
//! every target at once. A push service's 404/410 removes that subscription.

pub mod outbound;
pub mod push;
pub mod targets;

use super::events::{Event, Events};
use super::secrets::Secrets;
use crate::auth::Identity;
use crate::domain::agent_state::AgentState;
use crate::domain::notify::{
    NoticeKind, NotifyPrefs, PushSubscription, check_target_host, outbound_url,
    sync_failure_worth_telling,
};
use crate::domain::{ProjectId, Scope, UserId};
use crate::error::{AppError, AppResult};
use crate::store::Store;
use crate::store::run_blocking;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The setting that holds the sealed VAPID private key (base64url of its 32 bytes).
const VAPID_SETTING: &str = "notify.vapid_key";
/// The longest one-line body a notice carries.
const BODY_MAX: usize = 160;

/// What one notice says (the push payload, the webhook's JSON, the ntfy message).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    /// `agent_waiting`, `agent_finished`, … (`NoticeKind::as_str`).
    pub kind: &'static str,
    pub title: String,
    /// One line; never terminal content beyond the event's summary.
    pub body: String,
    /// Where a tap leads (absolute when the server knows its URL).
    pub url: String,
    /// Notices with one tag replace each other on a device (one per session).
    pub tag: String,
}

/// A browser's subscription as it sends it (`PushSubscription.toJSON()`), plus a device label.
#[derive(Debug, Clone)]
pub struct SubscriptionInput {
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub user_agent: String,
}

/// Which subscription to remove.
pub enum SubscriptionRef<'a> {
    Id(u64),
    Endpoint(&'a str),
}

/// What one delivery did (for tests and the benchmark).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub pushed: usize,
    pub removed: usize,
    pub failed: usize,
    pub webhook: bool,
    pub ntfy: bool,
}

/// The notifications service (`app.notify`).
pub struct Notifier {
    pub store: Arc<Store>,
    pub config: Arc<crate::config::Config>,
    pub events: Arc<Events>,
    /// The client for users' targets (`outbound`): internet addresses only unless allowed.
    outbound: reqwest::Client,
    /// For the server's own URL once it listens (`sessions.self_url`), for absolute links.
    pub sessions: Arc<super::sessions::Sessions>,
    /// Made at the server's first start (`start`) and kept sealed; later starts unseal it.
    vapid: std::sync::OnceLock<push::Vapid>,
    secrets: Arc<Secrets>,
    started: AtomicBool,
    /// The last agent state seen per (user, session): one notice per transition. An ended
    /// session's entry goes on its Exited/Failed event (and the whole map past 10 000 entries).
    last_state: Mutex<HashMap<(UserId, String), AgentState>>,
    /// Events fully handled (delivered or suppressed), an observable count for tests.
    handled: AtomicU64,
}

impl Notifier {
    /// Build the service; the VAPID key pair is made or unsealed when first needed.
    pub fn new(
        store: Arc<Store>,
        config: Arc<crate::config::Config>,
        secrets: Arc<Secrets>,
        events: Arc<Events>,
        sessions: Arc<super::sessions::Sessions>,
    ) -> AppResult<Notifier> {
        let outbound =
            outbound::client(config.notify_private_targets, config.ca_bundle.as_deref())?;
        Ok(Notifier {
            outbound,
            store,
            config,
            events,
            sessions,
            vapid: std::sync::OnceLock::new(),
            secrets,
            started: AtomicBool::new(false),
            last_state: Mutex::default(),
            handled: AtomicU64::new(0),
        })
    }

    /// The VAPID public key (uncompressed P-256 point, base64url), the browser's
    /// `applicationServerKey`.
    pub fn vapid_public_key(&self, caller: &Identity) -> AppResult<String> {
        caller.require(Scope::Read)?;
        Ok(self.vapid()?.public_b64())
    }

    /// The VAPID key pair: made on first use and sealed in the store, else unsealed.
    fn vapid(&self) -> AppResult<&push::Vapid> {
        if let Some(v) = self.vapid.get() {
            return Ok(v);
        }
        let v = run_blocking(|| load_or_make_vapid(&self.store, &self.secrets))?;
        Ok(self.vapid.get_or_init(|| v))
    }

    /// Enrol (or re-enrol) a browser for the caller. A browser has one subscription: its
    /// endpoint moves to whoever enrols it last, so a shared device never tells the previous
    /// user's notices to the next one.
    pub fn subscribe(
        &self,
        caller: &Identity,
        input: SubscriptionInput,
    ) -> AppResult<PushSubscription> {
        caller.require(Scope::Write)?;
        caller.require_unlimited()?;
        let endpoint = input.endpoint.trim().to_string();
        let url =
            outbound_url(&endpoint).map_err(|e| AppError::BadRequest(format!("endpoint: {e}")))?;
        check_target_host(&url, self.config.notify_private_targets)
            .map_err(|e| AppError::BadRequest(format!("endpoint: {e}")))?;
        if endpoint.len() > 2048 {
            return Err(AppError::BadRequest(
                "endpoint: longer than 2048 characters; is it a push service URL?".into(),
            ));
        }
        push::check_keys(&input.p256dh, &input.auth).map_err(AppError::BadRequest)?;
        let label: String = input.user_agent.chars().take(120).collect();
        let w = self.store.write()?;
        let id = match w.push_subscription_by_endpoint(&endpoint)? {
            Some(old) => old.id,
            None => w.new_push_subscription_id()?,
        };
        let sub = PushSubscription {
            id,
            user_id: caller.user.id,
            endpoint,
            p256dh: input.p256dh.trim().to_string(),
            auth: input.auth.trim().to_string(),
            user_agent: label,
            created_at: crate::domain::model::now(),
        };
        w.put_push_subscription(&sub)?;
        w.commit()?;
        Ok(sub)
    }

    /// The caller's own subscriptions.
    pub fn subscriptions(&self, caller: &Identity) -> AppResult<Vec<PushSubscription>> {
        caller.require(Scope::Read)?;
        self.store.read()?.push_subscriptions_of(caller.user.id)
    }

    /// Remove one of the caller's subscriptions. Someone else's is "not found", as if it did
    /// not exist.
    pub fn unsubscribe(&self, caller: &Identity, which: SubscriptionRef<'_>) -> AppResult<()> {
        caller.require(Scope::Write)?;
        caller.require_unlimited()?;
        let w = self.store.write()?;
        let found = match which {
            SubscriptionRef::Id(id) => w.push_subscription(id)?,
            SubscriptionRef::Endpoint(e) => w.push_subscription_by_endpoint(e.trim())?,
        };
        let Some(sub) = found.filter(|s| s.user_id == caller.user.id) else {
            return Err(AppError::NotFound(
                "No such push subscription of yours; list them with GET /api/v1/notifications/subscriptions".into(),
            ));
        };
        w.delete_push_subscription(sub.id)?;
        w.commit()?;
        Ok(())
    }

    /// The caller's preferences (the defaults until saved).
    pub fn preferences(&self, caller: &Identity) -> AppResult<NotifyPrefs> {
        caller.require(Scope::Read)?;
        Ok(self
            .store
            .read()?
            .notify_prefs(caller.user.id)?
            .unwrap_or_default())
    }

    /// Replace the caller's preferences (blank URLs and topics mean none).
    pub fn set_preferences(&self, caller: &Identity, mut p: NotifyPrefs) -> AppResult<NotifyPrefs> {
        caller.require(Scope::Write)?;
        caller.require_unlimited()?;
        let blank = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        p.webhook_url = blank(p.webhook_url);
        p.ntfy_url = blank(p.ntfy_url);
        p.ntfy_topic = blank(p.ntfy_topic);
        p.muted_projects.sort();
        p.muted_projects.dedup();
        p.validate().map_err(AppError::BadRequest)?;
        for (what, u) in [("webhook_url", &p.webhook_url), ("ntfy_url", &p.ntfy_url)] {
            if let Some(u) = u {
                let url = outbound_url(u).map_err(AppError::BadRequest)?;
                check_target_host(&url, self.config.notify_private_targets)
                    .map_err(|e| AppError::BadRequest(format!("{what}: {e}")))?;
            }
        }
        let w = self.store.write()?;
        w.put_notify_prefs(caller.user.id, &p)?;
        w.commit()?;
        Ok(p)
    }

    /// How many events the dispatcher has finished with (delivered or decided against).
    pub fn handled(&self) -> u64 {
        self.handled.load(Ordering::SeqCst)
    }

    /// Start the dispatcher (once; later calls do nothing). It runs until the bus closes.
    pub fn start(self: &Arc<Self>) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let mut rx = self.events.subscribe();
        let me = self.clone();
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            // The server's first start makes the VAPID key pair (later starts unseal it); an
            // admin command never does. A key that cannot be unsealed is said now, not at the
            // first notice, and the server still serves.
            if let Err(e) = me.vapid() {
                tracing::warn!(error = %e, "Web Push is off until the VAPID key can be used");
            }
            loop {
                match rx.recv().await {
                    Ok(e) => me.on_event(e),
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "notifier fell behind; events skipped");
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        });
    }

    /// Decide in order (de-duplication, watching), then deliver on a task of its own.
    fn on_event(self: &Arc<Self>, e: Event) {
        match self.decide(&e) {
            Some((user, project, kind, notice)) => {
                let me = self.clone();
                tokio::spawn(async move {
                    me.deliver(user, project, kind, &notice).await;
                    me.handled.fetch_add(1, Ordering::SeqCst);
                });
            }
            None => {
                self.handled.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// What notice an event is worth, before the user's preferences.
    fn decide(&self, e: &Event) -> Option<(UserId, Option<ProjectId>, NoticeKind, Notice)> {
        match e {
            Event::AgentState {
                user_id,
                session,
                project_id,
                tool,
                state,
                summary,
                ..
            } => {
                let key = (*user_id, session.clone());
                let previous = {
                    let mut last = self.last_state.lock().ok()?;
                    if last.len() > 10_000 {
                        last.clear();
                    }
                    // A session that ended leaves no entry behind (its end is the last
                    // transition it has); any other state is remembered for de-duplication.
                    if state.is_final() {
                        last.remove(&key)
                    } else {
                        last.insert(key, *state)
                    }
                };
                if previous == Some(*state) {
                    return None;
                }
                let kind = NoticeKind::of_agent(*state)?;
                if self.events.is_watching(*user_id, session) {
                    return None;
                }
                let title = match kind {
                    NoticeKind::AgentFinished => format!("{tool} finished"),
                    NoticeKind::AgentFailed => format!("{tool} failed"),
                    _ => format!("{tool} is {}", state.label()),
                };
                let notice = Notice {
                    kind: kind.as_str(),
                    title,
                    body: one_line(summary),
                    url: self.link(&format!("/sessions/{session}/terminal")),
                    tag: format!("session-{session}"),
                };
                Some((*user_id, Some(*project_id), kind, notice))
            }
            Event::AnsibleRun {
                user_id,
                run_id,
                project_id,
                playbook,
                succeeded,
            } => {
                let kind = if *succeeded {
                    NoticeKind::AnsibleFinished
                } else {
                    NoticeKind::AnsibleFailed
                };
                let verb = if *succeeded { "succeeded" } else { "failed" };
                let notice = Notice {
                    kind: kind.as_str(),
                    title: format!("Playbook {verb}"),
                    body: one_line(&format!("{playbook} (run {run_id}) {verb}")),
                    url: self.link(&format!("/ansible/runs/{run_id}")),
                    tag: format!("ansible-{run_id}"),
                };
                Some((*user_id, *project_id, kind, notice))
            }
            Event::SyncFailing {
                user_id,
                integration_id,
                name,
                failures,
                error,
            } => {
                if !sync_failure_worth_telling(*failures) {
                    return None;
                }
                let notice = Notice {
                    kind: NoticeKind::SyncFailing.as_str(),
                    title: format!("Sync of {name} keeps failing"),
                    body: one_line(&format!("{failures} failures in a row: {error}")),
                    url: self.link(&format!("/integrations/{integration_id}")),
                    tag: format!("sync-{integration_id}"),
                };
                Some((*user_id, None, NoticeKind::SyncFailing, notice))
            }
        }
    }

    /// Send `notice` to every target of `user` that wants it now.
    pub async fn deliver(
        &self,
        user: UserId,
        project: Option<ProjectId>,
        kind: NoticeKind,
        notice: &Notice,
    ) -> Delivered {
        let mut out = Delivered::default();
        let loaded = run_blocking(|| -> AppResult<_> {
            let r = self.store.read()?;
            Ok((
                r.notify_prefs(user)?.unwrap_or_default(),
                r.push_subscriptions_of(user)?,
            ))
        });
        let (prefs, subs) = match loaded {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(user = user.get(), error = %e, "cannot read notification settings");
                return out;
            }
        };
        if !prefs.allows(kind, project, crate::domain::model::now()) {
            return out;
        }
        let payload = match serde_json::to_vec(notice) {
            Ok(p) => p,
            Err(_) => return out,
        };
        let urgency = if kind == NoticeKind::AgentWaiting {
            "high"
        } else {
            "normal"
        };
        let client = &self.outbound;
        let allow = self.config.notify_private_targets;
        // Checked again at each send: a target saved before the policy changed, or a stored
        // row edited by hand, does not get through.
        let host_ok = |u: &str| outbound_url(u).and_then(|url| check_target_host(&url, allow));
        let vapid = match (subs.is_empty(), self.vapid()) {
            (true, _) => None,
            (false, Ok(v)) => Some(v),
            (false, Err(e)) => {
                tracing::warn!(user = user.get(), error = %e, "no VAPID key: Web Push skipped");
                None
            }
        };
        let subs: &[_] = if vapid.is_some() { &subs } else { &[] };
        let payload = &payload;
        let pushes = subs
            .iter()
            .filter_map(|s| vapid.map(|v| (s, v)))
            .map(|(s, v)| async move {
                let res = match host_ok(&s.endpoint) {
                    Ok(()) => push::send(client, v, &self.subject(), s, payload, urgency).await,
                    Err(e) => push::Outcome::Failed(e),
                };
                (s.id, res)
            });
        let webhook = async {
            match &prefs.webhook_url {
                Some(u) => Some(match host_ok(u) {
                    Ok(()) => targets::webhook(client, u, notice).await,
                    Err(e) => Err(e),
                }),
                None => None,
            }
        };
        let ntfy = async {
            match (&prefs.ntfy_url, &prefs.ntfy_topic) {
                (Some(u), Some(t)) => Some(match host_ok(u) {
                    Ok(()) => targets::ntfy(client, u, t, notice).await,
                    Err(e) => Err(e),
                }),
                _ => None,
            }
        };
        let (pushed, webhook, ntfy) =
            tokio::join!(futures_util::future::join_all(pushes), webhook, ntfy);
        let mut gone = Vec::new();
        for (id, res) in pushed {
            match res {
                push::Outcome::Sent => out.pushed += 1,
                push::Outcome::Gone => gone.push(id),
                push::Outcome::Failed(why) => {
                    out.failed += 1;
                    tracing::warn!(subscription = id, error = %why, "web push failed");
                }
            }
        }
        if !gone.is_empty() {
            let removed = run_blocking(|| -> AppResult<usize> {
                let w = self.store.write()?;
                let mut n = 0;
                for id in &gone {
                    if w.delete_push_subscription(*id)?.is_some() {
                        n += 1;
                    }
                }
                w.commit()?;
                Ok(n)
            });
            match removed {
                Ok(n) => out.removed = n,
                Err(e) => tracing::warn!(error = %e, "cannot remove expired push subscriptions"),
            }
        }
        for (what, res, flag) in [
            ("webhook", webhook, &mut out.webhook),
            ("ntfy", ntfy, &mut out.ntfy),
        ] {
            match res {
                Some(Ok(())) => *flag = true,
                Some(Err(why)) => {
                    out.failed += 1;
                    tracing::warn!(user = user.get(), target = what, error = %why, "notification target failed");
                }
                None => {}
            }
        }
        out
    }

    /// An absolute link to `path` when the server knows its URL (`public_url`, else the address
    /// it listens on), else the path.
    fn link(&self, path: &str) -> String {
        let base = self
            .config
            .public_url
            .clone()
            .or_else(|| self.sessions.self_url.get().cloned());
        match base {
            Some(b) => format!("{}{path}", b.trim_end_matches('/')),
            None => path.to_string(),
        }
    }

    /// The VAPID `sub` claim: the server's https URL, else a mailto the push service can show.
    fn subject(&self) -> String {
        match &self.config.public_url {
            Some(u) if u.starts_with("https://") => u.trim_end_matches('/').to_string(),
            _ => "mailto:aiops@localhost".to_string(),
        }
    }
}

/// The first line of `s`, trimmed and cut to `BODY_MAX` characters.
fn one_line(s: &str) -> String {
    let line = s
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut out: String = line.chars().take(BODY_MAX).collect();
    if line.chars().count() > BODY_MAX {
        out.push('…');
    }
    out
}

fn load_or_make_vapid(store: &Store, secrets: &Secrets) -> AppResult<push::Vapid> {
    if let Some(sealed) = store.read()?.setting::<String>(VAPID_SETTING)? {
        return push::Vapid::from_b64(&secrets.decrypt(&sealed)?);
    }
    let w = store.write()?;
    // Another start may have raced us between the read and this write: keep the first key.
    if let Some(sealed) = w.setting::<String>(VAPID_SETTING)? {
        return push::Vapid::from_b64(&secrets.decrypt(&sealed)?);
    }
    let v = push::Vapid::generate();
    w.put_setting(VAPID_SETTING, &secrets.encrypt(&v.secret_b64())?)?;
    w.commit()?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_takes_the_first_line_and_cuts_it() {
        assert_eq!(
            one_line("\n  Allow edit of x.rs?  \nmore"),
            "Allow edit of x.rs?"
        );
        let long = "a".repeat(300);
        assert_eq!(one_line(&long).chars().count(), BODY_MAX + 1);
        assert_eq!(one_line(""), "");
    }

    fn agent_event(session: &str, state: AgentState) -> Event {
        Event::AgentState {
            user_id: UserId(3),
            session: session.into(),
            project_id: ProjectId(1),
            issue_id: None,
            tool: "claude".into(),
            state,
            summary: "Do you want to proceed?".into(),
        }
    }

    fn remembered(n: &Notifier) -> usize {
        n.last_state.lock().unwrap().len()
    }

    /// One notice per transition, and a session that ended leaves nothing in the notifier's
    /// memory; the control, a session still running, stays remembered.
    #[tokio::test]
    async fn an_ended_session_is_forgotten_and_a_running_one_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = crate::config::ServeArgs::default();
        args.store.data_dir = Some(dir.path().to_path_buf());
        let config = crate::config::Config::resolve(&args).unwrap();
        let app = crate::services::App::new(Store::open(dir.path()).unwrap(), config).unwrap();
        let n = &app.notify;
        use AgentState::*;
        assert!(n.decide(&agent_event("1", Working)).is_none());
        let (_, _, kind, _) = n.decide(&agent_event("1", WaitingForApproval)).unwrap();
        assert_eq!(kind, NoticeKind::AgentWaiting);
        assert!(
            n.decide(&agent_event("1", WaitingForApproval)).is_none(),
            "the same state again is no notice"
        );
        assert!(n.decide(&agent_event("2", Working)).is_none());
        assert_eq!(remembered(n), 2);
        let (_, _, kind, _) = n.decide(&agent_event("1", Exited)).unwrap();
        assert_eq!(kind, NoticeKind::AgentFinished);
        assert_eq!(remembered(n), 1, "session 1 ended: forgotten");
        let (_, _, kind, _) = n.decide(&agent_event("2", Failed)).unwrap();
        assert_eq!(kind, NoticeKind::AgentFailed);
        assert_eq!(remembered(n), 0, "both ended: the map is empty");
    }

    #[test]
    fn the_vapid_key_is_made_once_and_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let secrets = Secrets::from_key([7; 32]);
        let a = load_or_make_vapid(&store, &secrets).unwrap();
        let b = load_or_make_vapid(&store, &secrets).unwrap();
        assert_eq!(a.public_b64(), b.public_b64());
        let sealed: String = store
            .read()
            .unwrap()
            .setting(VAPID_SETTING)
            .unwrap()
            .unwrap();
        assert!(
            !sealed.contains(&a.secret_b64()),
            "stored sealed, not plain"
        );
        let other = Secrets::from_key([8; 32]);
        assert!(load_or_make_vapid(&store, &other).is_err());
    }
}
