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
use std::collections::BTreeMap;

const SECTION: &str = "#notify-prefs";

/// The form's own layout: a long label wraps beside its switch or box, not under it.
const STYLE: &str = "#notify-form fieldset:not(.grid) label{display:flex;align-items:flex-start;gap:.1rem}\
#notify-form fieldset:not(.grid) label>input[type=checkbox]{flex:0 0 auto;margin-top:.2em}\
#muted-projects legend{margin-bottom:.4rem}#muted-projects label .muted{margin-left:.35em}";

fn hhmm(m: Option<u16>) -> String {
    m.map(|m| format!("{:02}:{:02}", m / 60, m % 60))
        .unwrap_or_default()
}

/// A project the user may mute: its id and name (the projects the user can see).
struct Mutable {
    id: ProjectId,
    name: String,
}

fn mutable_projects(app: &crate::services::App, who: &Identity) -> Vec<Mutable> {
    let mut list: Vec<Mutable> = app
        .tenancy
        .list_projects(who, None)
        .unwrap_or_default()
        .into_iter()
        .map(|v| Mutable {
            id: v.project.id,
            name: v.project.name,
        })
        .collect();
    list.sort_by_key(|a| a.name.to_lowercase());
    list
}

fn notify_page(
    who: &Identity,
    prefs: &NotifyPrefs,
    subs: &[PushSubscription],
    projects: &[Mutable],
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
    // Muted projects the user no longer sees stay muted (sent back unseen).
    let unseen: Vec<String> = prefs
        .muted_projects
        .iter()
        .filter(|m| !projects.iter().any(|p| p.id == **m))
        .map(|p| p.to_string())
        .collect();
    page(
        "Notifications",
        Some(who),
        html! {
            style { (maud::PreEscaped(STYLE)) }
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
                    fieldset #muted-projects {
                        legend { "Mute these projects (nothing about them reaches me)" }
                        @if projects.is_empty() {
                            p.muted { "You are not a member of any project yet." }
                        }
                        @for p in projects {
                            label.mute-project {
                                input type="checkbox" name={ "mute_" (p.id) } value="on" checked[prefs.muted_projects.contains(&p.id)];
                                " " span { (p.name) } " " span.muted { "#" (p.id) }
                            }
                        }
                        input type="hidden" name="muted_projects" value=(unseen.join(", "));
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
    /// The project checkboxes (`mute_<id>=on`) and any field this form does not know.
    #[serde(flatten)]
    rest: BTreeMap<String, String>,
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
    /// The muted project ids: the checked `mute_<id>` boxes and the ids of the older
    /// comma-separated `muted_projects` field (still accepted), each once, in order.
    fn muted(&self) -> Result<Vec<ProjectId>, String> {
        let bad = |part: &str| {
            format!(
                "Muted projects: '{part}' is not a project id (the number in the project's URL)"
            )
        };
        let mut muted = Vec::new();
        for part in self
            .muted_projects
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            muted.push(ProjectId(part.parse().map_err(|_| bad(part))?));
        }
        for (name, value) in &self.rest {
            let Some(part) = name.strip_prefix("mute_") else {
                continue;
            };
            if value.is_empty() {
                continue;
            }
            muted.push(ProjectId(part.parse().map_err(|_| bad(part))?));
        }
        muted.sort();
        muted.dedup();
        Ok(muted)
    }

    fn into_prefs(self) -> Result<NotifyPrefs, String> {
        let muted = self.muted()?;
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

    /// What was typed, as far as it reads, to show again when the form is refused: a field
    /// that does not read is blank (a time, the offset) or left out (a project id); the
    /// text fields are kept as typed so they can be corrected.
    fn as_typed(&self) -> NotifyPrefs {
        let some = |s: &str| Some(s.to_string()).filter(|s| !s.trim().is_empty());
        let ids = self
            .muted_projects
            .split(',')
            .map(str::trim)
            .map(str::to_string)
            .chain(
                self.rest
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .filter_map(|(k, _)| k.strip_prefix("mute_").map(str::to_string)),
            )
            .filter_map(|p| p.parse().ok().map(ProjectId))
            .collect();
        NotifyPrefs {
            agent_waiting: self.agent_waiting.is_some(),
            agent_finished: self.agent_finished.is_some(),
            agent_failed: self.agent_failed.is_some(),
            ansible_finished: self.ansible_finished.is_some(),
            ansible_failed: self.ansible_failed.is_some(),
            sync_failing: self.sync_failing.is_some(),
            muted_projects: ids,
            quiet_start: minutes(&self.quiet_start, "").ok().flatten(),
            quiet_end: minutes(&self.quiet_end, "").ok().flatten(),
            tz_offset_minutes: self.tz_offset_minutes.trim().parse().unwrap_or(0),
            webhook_url: some(&self.webhook_url),
            ntfy_url: some(&self.ntfy_url),
            ntfy_topic: some(&self.ntfy_topic),
        }
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
    match crate::store::run_blocking(|| loaded(app, &who).map(|l| (l, mutable_projects(app, &who))))
    {
        Ok(((p, s), projects)) => notify_page(&who, &p, &s, &projects, None, None).into_response(),
        Err(e) => shown_error(
            error_status(&e),
            notify_page(
                &who,
                &NotifyPrefs::default(),
                &[],
                &[],
                Some(&e.to_string()),
                None,
            ),
        ),
    }
}

/// Saves the form; when it is refused, the page shows why above the form as it was typed.
#[handler]
pub fn notify_post(Data(app): AppData<'_>, CsrfForm(who, f): CsrfForm<PrefsForm>) -> Response {
    let (subs, projects) = crate::store::run_blocking(|| {
        (
            app.notify.subscriptions(&who).unwrap_or_default(),
            mutable_projects(app, &who),
        )
    });
    let typed = f.as_typed();
    let refused = |status, e: &str| {
        shown_error(
            status,
            notify_page(&who, &typed, &subs, &projects, Some(e), None),
        )
    };
    let prefs = match f.into_prefs() {
        Ok(p) => p,
        Err(e) => return refused(poem::http::StatusCode::UNPROCESSABLE_ENTITY, &e),
    };
    match crate::store::run_blocking(|| app.notify.set_preferences(&who, prefs)) {
        Ok(saved) => notify_page(
            &who,
            &saved,
            &subs,
            &projects,
            None,
            Some("Notification settings saved."),
        )
        .into_response(),
        Err(e) => refused(error_status(&e), &e.to_string()),
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

    /// The form as the page posts it (urlencoded, read like every web form).
    async fn posted(body: &str) -> PrefsForm {
        use poem::{Body, FromRequest, Request, RequestBody, web::Form};
        let req = Request::builder()
            .method(poem::http::Method::POST)
            .content_type("application/x-www-form-urlencoded")
            .finish();
        let Form(f) = Form::<PrefsForm>::from_request(
            &req,
            &mut RequestBody::new(Body::from(body.to_string())),
        )
        .await
        .expect("the form reads");
        f
    }

    #[tokio::test]
    async fn checked_projects_and_the_old_id_field_are_muted_once_each() {
        let f = posted(
            "csrf_token=t&agent_failed=on&mute_7=on&mute_12=on&mute_3=&muted_projects=12%2C+40\
             &quiet_start=22%3A00&quiet_end=07%3A00&webhook_url=https%3A%2F%2Fh.example%2Fx",
        )
        .await;
        let p = f.into_prefs().unwrap();
        assert_eq!(
            p.muted_projects,
            vec![ProjectId(7), ProjectId(12), ProjectId(40)],
            "a box sent blank is not muted; 12 once"
        );
        assert!(p.agent_failed && !p.agent_waiting);
        assert_eq!(p.webhook_url.as_deref(), Some("https://h.example/x"));
        // Nothing muted: no box checked, the old field blank.
        let p = posted("muted_projects=").await.into_prefs().unwrap();
        assert!(p.muted_projects.is_empty());
    }

    #[tokio::test]
    async fn a_refused_form_is_shown_again_as_typed() {
        let f = posted("mute_abc=on&mute_5=on&agent_waiting=on&quiet_start=23%3A15&quiet_end=99%3A00&webhook_url=file%3A%2F%2F%2Fetc%2Fpasswd&ntfy_topic=t1").await;
        let typed = f.as_typed();
        let e = f.into_prefs().unwrap_err();
        assert!(e.contains("'abc' is not a project id"), "{e}");
        assert_eq!(typed.muted_projects, vec![ProjectId(5)]);
        assert!(typed.agent_waiting && !typed.agent_finished);
        assert_eq!((typed.quiet_start, typed.quiet_end), (Some(1395), None));
        assert_eq!(typed.webhook_url.as_deref(), Some("file:///etc/passwd"));
        assert_eq!(typed.ntfy_topic.as_deref(), Some("t1"));
        assert_eq!(typed.ntfy_url, None);
    }
}
