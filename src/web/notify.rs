//! The Notifications page (`/account/notifications`): this device's bell (Web Push enrolment,
//! `assets/notify.js`), the enrolled devices, and the preferences form (toggles, muted
//! projects, quiet hours, webhook, ntfy) saved with htmx, its outcome shown above it.

use super::prelude::*;
use super::pwa::asset_url;
use crate::auth::Identity;
use crate::domain::ProjectId;
use crate::domain::notify::{NotifyPrefs, PushSubscription};
use maud::{Markup, html};
use poem::web::Data;
use poem::{IntoResponse, Response, handler};
use serde::Deserialize;

const SECTION: &str = "#notify-prefs";

fn hhmm(m: Option<u16>) -> String {
    m.map(|m| format!("{:02}:{:02}", m / 60, m % 60))
        .unwrap_or_default()
}

fn notify_page(
    who: &Identity,
    prefs: &NotifyPrefs,
    subs: &[PushSubscription],
    error: Option<&str>,
    notice: Option<&str>,
) -> Markup {
    let toggles: [(&str, &str, bool); 6] = [
        (
            "agent_waiting",
            "An agent waits for input or approval",
            prefs.agent_waiting,
        ),
        ("agent_finished", "An agent finished", prefs.agent_finished),
        ("agent_failed", "An agent failed", prefs.agent_failed),
        (
            "ansible_finished",
            "A playbook run of mine succeeded",
            prefs.ansible_finished,
        ),
        (
            "ansible_failed",
            "A playbook run of mine failed",
            prefs.ansible_failed,
        ),
        (
            "sync_failing",
            "A tracker sync of my projects keeps failing",
            prefs.sync_failing,
        ),
    ];
    let muted: Vec<String> = prefs.muted_projects.iter().map(|p| p.to_string()).collect();
    page(
        "Notifications",
        Some(who),
        html! {
            h1 { "Notifications" }
            p { a href="/account" { "← Account" } }
            section #push-device data-csrf=(who.csrf_token.as_deref().unwrap_or("")) {
                h2 { "This device" }
                p.muted {
                    "Notices tell you when an agent needs you or is done; a tap opens its terminal. "
                    "None arrive for a terminal you have open. "
                    strong { "On iPhone and iPad" } ", Web Push works only in the installed app: "
                    "Share → Add to Home Screen, then open aiops from the Home Screen and turn it on there."
                }
                button #push-toggle type="button" aria-pressed="false" { "🔕 Turn on notifications for this device" }
                p #push-status role="status" aria-live="polite" {}
            }
            h2 { "Enrolled devices" }
            @if subs.is_empty() {
                p #push-devices.muted { "No device is enrolled yet." }
            } @else {
                ul #push-devices {
                    @for s in subs {
                        li { (if s.user_agent.is_empty() { "A browser" } else { s.user_agent.as_str() }) " · since " (fmt_time(&s.created_at)) }
                    }
                }
            }
            section #notify-prefs {
                h2 { "What to tell me" }
                (error_box(error))
                (notice_box(notice))
                form #notify-form method="post" action="/account/notifications"
                    hx-post="/account/notifications" hx-target=(SECTION) hx-select=(SECTION) hx-swap="outerHTML"
                    hx-disabled-elt="find button" {
                    (csrf_field(who))
                    fieldset {
                        @for (name, label, on) in toggles {
                            label { input type="checkbox" role="switch" name=(name) value="on" checked[on]; " " (label) }
                        }
                    }
                    label { "Muted projects (ids, comma-separated)"
                        input type="text" name="muted_projects" inputmode="numeric" value=(muted.join(", ")) placeholder="e.g. 3, 12";
                    }
                    fieldset.grid {
                        label { "Quiet from" input type="time" name="quiet_start" value=(hhmm(prefs.quiet_start)); }
                        label { "until" input type="time" name="quiet_end" value=(hhmm(prefs.quiet_end)); }
                    }
                    input #tz_offset_minutes type="hidden" name="tz_offset_minutes" value=(prefs.tz_offset_minutes);
                    small.muted { "Quiet hours are in this browser's time zone; a window like 22:00–07:00 spans midnight." }
                    label { "Webhook URL (POST of the notice as JSON)"
                        input type="url" name="webhook_url" value=(prefs.webhook_url.as_deref().unwrap_or("")) placeholder="https://chat.example.com/hooks/…";
                    }
                    fieldset.grid {
                        label { "ntfy server" input type="url" name="ntfy_url" value=(prefs.ntfy_url.as_deref().unwrap_or("")) placeholder="https://ntfy.sh"; }
                        label { "ntfy topic" input type="text" name="ntfy_topic" value=(prefs.ntfy_topic.as_deref().unwrap_or("")) placeholder="my-aiops-topic"; }
                    }
                    button #notify-save type="submit" { "Save notification settings" }
                }
            }
            script src=(asset_url("notify.js")) defer {}
        },
    )
}

/// The preferences form. A checkbox not sent is off; blank fields mean none.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PrefsForm {
    agent_waiting: Option<String>,
    agent_finished: Option<String>,
    agent_failed: Option<String>,
    ansible_finished: Option<String>,
    ansible_failed: Option<String>,
    sync_failing: Option<String>,
    muted_projects: String,
    quiet_start: String,
    quiet_end: String,
    tz_offset_minutes: String,
    webhook_url: String,
    ntfy_url: String,
    ntfy_topic: String,
}

fn minutes(s: &str, what: &str) -> Result<Option<u16>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || format!("{what}: give a time as HH:MM, not '{s}'");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(Some(h * 60 + m))
}

impl PrefsForm {
    fn into_prefs(self) -> Result<NotifyPrefs, String> {
        let mut muted = Vec::new();
        for part in self
            .muted_projects
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let id: u64 = part.parse().map_err(|_| {
                format!(
                    "Muted projects: '{part}' is not a project id (the number in the project's URL)"
                )
            })?;
            muted.push(ProjectId(id));
        }
        let tz = self.tz_offset_minutes.trim();
        let tz_offset_minutes = if tz.is_empty() {
            0
        } else {
            tz.parse()
                .map_err(|_| format!("time-zone offset '{tz}' is not a number of minutes"))?
        };
        let some = |s: String| Some(s).filter(|s| !s.trim().is_empty());
        Ok(NotifyPrefs {
            agent_waiting: self.agent_waiting.is_some(),
            agent_finished: self.agent_finished.is_some(),
            agent_failed: self.agent_failed.is_some(),
            ansible_finished: self.ansible_finished.is_some(),
            ansible_failed: self.ansible_failed.is_some(),
            sync_failing: self.sync_failing.is_some(),
            muted_projects: muted,
            quiet_start: minutes(&self.quiet_start, "Quiet from")?,
            quiet_end: minutes(&self.quiet_end, "Quiet until")?,
            tz_offset_minutes,
            webhook_url: some(self.webhook_url),
            ntfy_url: some(self.ntfy_url),
            ntfy_topic: some(self.ntfy_topic),
        })
    }
}

fn loaded(
    app: &crate::services::App,
    who: &Identity,
) -> crate::error::AppResult<(NotifyPrefs, Vec<PushSubscription>)> {
    Ok((app.notify.preferences(who)?, app.notify.subscriptions(who)?))
}

#[handler]
pub fn notify_get(Data(app): AppData<'_>, WebUser(who): WebUser) -> Response {
    match crate::store::run_blocking(|| loaded(app, &who)) {
        Ok((p, s)) => notify_page(&who, &p, &s, None, None).into_response(),
        Err(e) => shown_error(
            error_status(&e),
            notify_page(
                &who,
                &NotifyPrefs::default(),
                &[],
                Some(&e.to_string()),
                None,
            ),
        ),
    }
}

#[handler]
pub fn notify_post(Data(app): AppData<'_>, CsrfForm(who, f): CsrfForm<PrefsForm>) -> Response {
    let subs = crate::store::run_blocking(|| app.notify.subscriptions(&who)).unwrap_or_default();
    let prefs = match f.into_prefs() {
        Ok(p) => p,
        Err(e) => {
            return shown_error(
                poem::http::StatusCode::UNPROCESSABLE_ENTITY,
                notify_page(&who, &NotifyPrefs::default(), &subs, Some(&e), None),
            );
        }
    };
    match crate::store::run_blocking(|| app.notify.set_preferences(&who, prefs.clone())) {
        Ok(saved) => notify_page(
            &who,
            &saved,
            &subs,
            None,
            Some("Notification settings saved."),
        )
        .into_response(),
        Err(e) => shown_error(
            error_status(&e),
            notify_page(&who, &prefs, &subs, Some(&e.to_string()), None),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_reads_times_ids_and_blank_fields() {
        let f = PrefsForm {
            agent_waiting: Some("on".into()),
            muted_projects: "3, 12".into(),
            quiet_start: "22:00".into(),
            quiet_end: "07:30".into(),
            tz_offset_minutes: "-300".into(),
            ntfy_url: " ".into(),
            ..Default::default()
        };
        let p = f.into_prefs().unwrap();
        assert!(p.agent_waiting && !p.agent_failed);
        assert_eq!(p.muted_projects, vec![ProjectId(3), ProjectId(12)]);
        assert_eq!((p.quiet_start, p.quiet_end), (Some(1320), Some(450)));
        assert_eq!(p.tz_offset_minutes, -300);
        assert_eq!(p.ntfy_url, None);
        let bad = PrefsForm {
            quiet_start: "25:00".into(),
            ..Default::default()
        };
        assert!(bad.into_prefs().unwrap_err().contains("HH:MM"));
        assert_eq!(hhmm(Some(450)), "07:30");
    }
}
