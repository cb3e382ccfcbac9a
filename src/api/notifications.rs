//! Notifications: the server's VAPID public key, the caller's Web Push subscriptions (each
//! user sees and removes only their own) and the caller's notification preferences.

use super::common::{AppRef, Created, Deleted, R};
use super::gate::Auth;
use super::strict::Str;
use crate::domain::notify::{NotifyPrefs, PushSubscription};
use crate::domain::{ProjectId, Timestamp};
use crate::services::notify::{SubscriptionInput, SubscriptionRef};
use crate::store::run_blocking;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// Web Push subscriptions, webhook and ntfy targets, and what to be told about
    Notifications,
}

#[derive(Object)]
pub struct VapidKeyObj {
    /// The server's VAPID public key (uncompressed P-256 point, base64url): pass it as
    /// `applicationServerKey` to `pushManager.subscribe`.
    pub public_key: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct SubscriptionKeys {
    #[oai(validator(max_length = 200))]
    pub p256dh: Str,
    #[oai(validator(max_length = 100))]
    pub auth: Str,
}

/// The browser's `PushSubscription.toJSON()`.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct SubscriptionRequest {
    #[oai(validator(max_length = 2048))]
    pub endpoint: Str,
    /// Ignored (push services report expiry with 404/410).
    #[oai(rename = "expirationTime")]
    pub expiration_time: Option<f64>,
    pub keys: SubscriptionKeys,
    /// A name for this device; the request's User-Agent when omitted.
    #[oai(validator(max_length = 200))]
    pub user_agent: Option<Str>,
}

#[derive(Object)]
pub struct SubscriptionObj {
    pub id: u64,
    pub endpoint: String,
    pub user_agent: String,
    pub created_at: Timestamp,
}

impl From<PushSubscription> for SubscriptionObj {
    fn from(s: PushSubscription) -> Self {
        SubscriptionObj {
            id: s.id,
            endpoint: s.endpoint,
            user_agent: s.user_agent,
            created_at: s.created_at,
        }
    }
}

#[derive(Object)]
pub struct SubscriptionEnvelope {
    pub subscription: SubscriptionObj,
}

#[derive(Object)]
pub struct SubscriptionsEnvelope {
    pub subscriptions: Vec<SubscriptionObj>,
}

/// What to be told about, and where besides the enrolled browsers. A PUT replaces all of it:
/// a field left out takes its default (toggles on, no quiet hours, no webhook, no ntfy).
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct PreferencesObj {
    /// An agent waits for input or approval, or is rate-limited.
    #[oai(default = "yes")]
    pub agent_waiting: bool,
    /// An agent's process exited.
    #[oai(default = "yes")]
    pub agent_finished: bool,
    /// An agent's process failed.
    #[oai(default = "yes")]
    pub agent_failed: bool,
    /// A playbook run of yours succeeded.
    #[oai(default = "yes")]
    pub ansible_finished: bool,
    /// A playbook run of yours failed.
    #[oai(default = "yes")]
    pub ansible_failed: bool,
    /// A tracker sync of a project you own failed three times in a row (then every tenth).
    #[oai(default = "yes")]
    pub sync_failing: bool,
    /// Project ids you hear nothing about.
    #[oai(default)]
    pub muted_projects: Vec<u64>,
    /// Quiet hours start, in your local minutes of the day (0–1439; 1320 is 22:00).
    #[oai(nullable)]
    pub quiet_start: Option<u16>,
    /// Quiet hours end (exclusive); before the start means the window wraps midnight.
    #[oai(nullable)]
    pub quiet_end: Option<u16>,
    /// Your offset from UTC in minutes (UTC+2 is 120).
    #[oai(default)]
    pub tz_offset_minutes: i16,
    /// POST each notice as JSON here (`{kind, title, body, url, tag}`).
    #[oai(nullable, validator(max_length = 2048))]
    pub webhook_url: Option<String>,
    /// An ntfy server, e.g. `https://ntfy.sh`.
    #[oai(nullable, validator(max_length = 2048))]
    pub ntfy_url: Option<String>,
    /// The ntfy topic (letters, digits, `-`, `_`).
    #[oai(nullable, validator(max_length = 64))]
    pub ntfy_topic: Option<String>,
}

fn yes() -> bool {
    true
}

impl From<NotifyPrefs> for PreferencesObj {
    fn from(p: NotifyPrefs) -> Self {
        PreferencesObj {
            agent_waiting: p.agent_waiting,
            agent_finished: p.agent_finished,
            agent_failed: p.agent_failed,
            ansible_finished: p.ansible_finished,
            ansible_failed: p.ansible_failed,
            sync_failing: p.sync_failing,
            muted_projects: p.muted_projects.into_iter().map(u64::from).collect(),
            quiet_start: p.quiet_start,
            quiet_end: p.quiet_end,
            tz_offset_minutes: p.tz_offset_minutes,
            webhook_url: p.webhook_url,
            ntfy_url: p.ntfy_url,
            ntfy_topic: p.ntfy_topic,
        }
    }
}

impl From<PreferencesObj> for NotifyPrefs {
    fn from(p: PreferencesObj) -> Self {
        NotifyPrefs {
            agent_waiting: p.agent_waiting,
            agent_finished: p.agent_finished,
            agent_failed: p.agent_failed,
            ansible_finished: p.ansible_finished,
            ansible_failed: p.ansible_failed,
            sync_failing: p.sync_failing,
            muted_projects: p.muted_projects.into_iter().map(ProjectId).collect(),
            quiet_start: p.quiet_start,
            quiet_end: p.quiet_end,
            tz_offset_minutes: p.tz_offset_minutes,
            webhook_url: p.webhook_url,
            ntfy_url: p.ntfy_url,
            ntfy_topic: p.ntfy_topic,
        }
    }
}

#[derive(Object)]
pub struct PreferencesEnvelope {
    pub preferences: PreferencesObj,
}

pub struct NotificationsApi;

#[OpenApi(tag = "Tag::Notifications")]
impl NotificationsApi {
    /// The VAPID public key browsers subscribe with.
    #[oai(path = "/notifications/vapid-public-key", method = "get")]
    async fn vapid_public_key(&self, app: AppRef<'_>, auth: Auth) -> R<Json<VapidKeyObj>> {
        let public_key = app.notify.vapid_public_key(auth.identity())?;
        Ok(Json(VapidKeyObj { public_key }))
    }

    /// Enrol this browser (its `PushSubscription`) for your notifications. Enrolling the same
    /// endpoint again updates it.
    #[oai(path = "/notifications/subscriptions", method = "post")]
    async fn subscribe(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        #[oai(name = "User-Agent")] ua: Header<Option<String>>,
        body: Json<SubscriptionRequest>,
    ) -> R<Created<SubscriptionEnvelope>> {
        let b = body.0;
        let input = SubscriptionInput {
            endpoint: b.endpoint.0,
            p256dh: b.keys.p256dh.0,
            auth: b.keys.auth.0,
            user_agent: b.user_agent.map(|s| s.0).or(ua.0).unwrap_or_default(),
        };
        let sub = run_blocking(|| app.notify.subscribe(auth.identity(), input))?;
        Ok(Created::Created(Json(SubscriptionEnvelope {
            subscription: sub.into(),
        })))
    }

    /// Your enrolled browsers.
    #[oai(path = "/notifications/subscriptions", method = "get")]
    async fn subscriptions(&self, app: AppRef<'_>, auth: Auth) -> R<Json<SubscriptionsEnvelope>> {
        let subs = run_blocking(|| app.notify.subscriptions(auth.identity()))?;
        Ok(Json(SubscriptionsEnvelope {
            subscriptions: subs.into_iter().map(Into::into).collect(),
        }))
    }

    /// Remove one of your subscriptions, by `id` or by `endpoint`.
    #[oai(path = "/notifications/subscriptions", method = "delete")]
    async fn unsubscribe(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Query<Option<u64>>,
        endpoint: Query<Option<String>>,
    ) -> R<Deleted> {
        let which = match (id.0, endpoint.0.as_deref()) {
            (Some(id), None) => SubscriptionRef::Id(id),
            (None, Some(e)) => SubscriptionRef::Endpoint(e),
            _ => {
                return Err(crate::error::AppError::BadRequest(
                    "give either ?id=<subscription id> or ?endpoint=<push endpoint URL>".into(),
                )
                .into());
            }
        };
        run_blocking(|| app.notify.unsubscribe(auth.identity(), which))?;
        Ok(Deleted::NoContent)
    }

    /// Remove one of your subscriptions by id.
    #[oai(path = "/notifications/subscriptions/:id", method = "delete")]
    async fn unsubscribe_id(&self, app: AppRef<'_>, auth: Auth, id: Path<u64>) -> R<Deleted> {
        run_blocking(|| {
            app.notify
                .unsubscribe(auth.identity(), SubscriptionRef::Id(id.0))
        })?;
        Ok(Deleted::NoContent)
    }

    /// Your notification preferences (the defaults until you save some).
    #[oai(path = "/notifications/preferences", method = "get")]
    async fn preferences(&self, app: AppRef<'_>, auth: Auth) -> R<Json<PreferencesEnvelope>> {
        let p = run_blocking(|| app.notify.preferences(auth.identity()))?;
        Ok(Json(PreferencesEnvelope {
            preferences: p.into(),
        }))
    }

    /// Replace your notification preferences.
    #[oai(path = "/notifications/preferences", method = "put")]
    async fn set_preferences(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        body: Json<PreferencesObj>,
    ) -> R<Json<PreferencesEnvelope>> {
        let prefs: NotifyPrefs = body.0.into();
        let p = run_blocking(|| app.notify.set_preferences(auth.identity(), prefs))?;
        Ok(Json(PreferencesEnvelope {
            preferences: p.into(),
        }))
    }
}
