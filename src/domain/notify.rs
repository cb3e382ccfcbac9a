//! Notification rules: a user's preferences and push subscriptions (the stored rows), which
//! event kinds exist, whether a kind is wanted now (toggles, muted projects, quiet hours that
//! may wrap midnight), when a failing sync is worth telling, and the outbound URL check.

use crate::domain::agent_state::AgentState;
use crate::domain::{ProjectId, Timestamp, UserId};
use serde::{Deserialize, Serialize};

/// One browser's Web Push subscription (the `PushSubscription` it gave us).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushSubscription {
    pub id: u64,
    pub user_id: UserId,
    /// The push service URL (a capability: whoever knows it can push to the browser).
    pub endpoint: String,
    /// The browser's P-256 public key, base64url (RFC 8291 `ua_public`).
    pub p256dh: String,
    /// The browser's 16-byte auth secret, base64url.
    pub auth: String,
    /// Which device this is, as the browser says (shortened user agent).
    pub user_agent: String,
    pub created_at: Timestamp,
}

/// A user's notification settings. Every toggle is on unless turned off; no quiet hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifyPrefs {
    pub agent_waiting: bool,
    pub agent_finished: bool,
    pub agent_failed: bool,
    pub ansible_finished: bool,
    pub ansible_failed: bool,
    pub sync_failing: bool,
    /// Projects the user hears nothing about.
    pub muted_projects: Vec<ProjectId>,
    /// Quiet hours in the user's local minutes of the day (0..1440); both set or none.
    pub quiet_start: Option<u16>,
    pub quiet_end: Option<u16>,
    /// The user's offset from UTC in minutes (UTC+2 is 120).
    pub tz_offset_minutes: i16,
    /// POST JSON here on each notice.
    pub webhook_url: Option<String>,
    /// An ntfy server (`https://ntfy.sh`) and topic.
    pub ntfy_url: Option<String>,
    pub ntfy_topic: Option<String>,
}

impl Default for NotifyPrefs {
    fn default() -> Self {
        NotifyPrefs {
            agent_waiting: true,
            agent_finished: true,
            agent_failed: true,
            ansible_finished: true,
            ansible_failed: true,
            sync_failing: true,
            muted_projects: Vec::new(),
            quiet_start: None,
            quiet_end: None,
            tz_offset_minutes: 0,
            webhook_url: None,
            ntfy_url: None,
            ntfy_topic: None,
        }
    }
}

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    AgentWaiting,
    AgentFinished,
    AgentFailed,
    AnsibleFinished,
    AnsibleFailed,
    SyncFailing,
}

impl NoticeKind {
    /// The wire name (webhook `event`, ntfy tag).
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::AgentWaiting => "agent_waiting",
            NoticeKind::AgentFinished => "agent_finished",
            NoticeKind::AgentFailed => "agent_failed",
            NoticeKind::AnsibleFinished => "ansible_finished",
            NoticeKind::AnsibleFailed => "ansible_failed",
            NoticeKind::SyncFailing => "sync_failing",
        }
    }

    /// The notice an agent's new state is worth, if any (working and idle are not).
    pub fn of_agent(state: AgentState) -> Option<NoticeKind> {
        match state {
            s if s.needs_user() => Some(NoticeKind::AgentWaiting),
            AgentState::Exited => Some(NoticeKind::AgentFinished),
            AgentState::Failed => Some(NoticeKind::AgentFailed),
            _ => None,
        }
    }
}

impl NotifyPrefs {
    /// Whether the user turned this kind on.
    pub fn wants(&self, kind: NoticeKind) -> bool {
        match kind {
            NoticeKind::AgentWaiting => self.agent_waiting,
            NoticeKind::AgentFinished => self.agent_finished,
            NoticeKind::AgentFailed => self.agent_failed,
            NoticeKind::AnsibleFinished => self.ansible_finished,
            NoticeKind::AnsibleFailed => self.ansible_failed,
            NoticeKind::SyncFailing => self.sync_failing,
        }
    }

    /// Whether a notice of `kind` about `project` should go out at `now`.
    pub fn allows(&self, kind: NoticeKind, project: Option<ProjectId>, now: Timestamp) -> bool {
        if !self.wants(kind) {
            return false;
        }
        if project.is_some_and(|p| self.muted_projects.contains(&p)) {
            return false;
        }
        match (self.quiet_start, self.quiet_end) {
            (Some(s), Some(e)) => !in_quiet_hours(now, s, e, self.tz_offset_minutes),
            _ => true,
        }
    }

    /// Check the values a user sent: minutes in range, offsets real, URLs http(s).
    pub fn validate(&self) -> Result<(), String> {
        for m in [self.quiet_start, self.quiet_end].into_iter().flatten() {
            if m >= 1440 {
                return Err(format!(
                    "quiet hours are minutes of the day (0 to 1439), not {m}"
                ));
            }
        }
        if self.quiet_start.is_some() != self.quiet_end.is_some() {
            return Err("give both quiet_start and quiet_end, or neither".into());
        }
        if !(-14 * 60..=14 * 60).contains(&self.tz_offset_minutes) {
            return Err(format!(
                "tz_offset_minutes must be between -840 and 840, not {}",
                self.tz_offset_minutes
            ));
        }
        if let Some(u) = &self.webhook_url {
            outbound_url(u).map_err(|e| format!("webhook_url: {e}"))?;
        }
        if let Some(u) = &self.ntfy_url {
            outbound_url(u).map_err(|e| format!("ntfy_url: {e}"))?;
        }
        if self.ntfy_url.is_some() != self.ntfy_topic.is_some() {
            return Err("ntfy needs both ntfy_url and ntfy_topic".into());
        }
        if let Some(t) = &self.ntfy_topic
            && (t.is_empty()
                || t.len() > 64
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(
                "ntfy_topic: use 1 to 64 letters, digits, '-' or '_' (as ntfy does)".into(),
            );
        }
        Ok(())
    }
}

/// Whether `now` falls in the quiet window `[start, end)` of local minutes (the user's clock is
/// UTC + `tz_offset_minutes`). A window whose end is before its start wraps midnight
/// (22:00–07:00); start == end is no window.
pub fn in_quiet_hours(now: Timestamp, start: u16, end: u16, tz_offset_minutes: i16) -> bool {
    use chrono::Timelike;
    let utc = i32::try_from(now.hour() * 60 + now.minute()).unwrap_or(0);
    let local = (utc + i32::from(tz_offset_minutes)).rem_euclid(1440);
    let (s, e) = (i32::from(start), i32::from(end));
    if s == e {
        false
    } else if s < e {
        (s..e).contains(&local)
    } else {
        local >= s || local < e
    }
}

/// Whether the `failures`-th failure in a row of a sync is worth a notice: the third, then
/// every tenth (a sync failing every 15 minutes tells the user a few times a day, not 96).
pub fn sync_failure_worth_telling(failures: u32) -> bool {
    failures == 3 || (failures > 3 && failures.is_multiple_of(10))
}

/// A URL the server may send to on a user's behalf: http or https with a host, no user info.
pub fn outbound_url(raw: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(raw.trim())
        .map_err(|e| format!("'{raw}' is not a URL ({e}); give e.g. https://ntfy.sh"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "the server sends only over http or https, not '{}'",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL needs a host name".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("put no user name or password in the URL".into());
    }
    Ok(url)
}

/// Whether an address is inside a network rather than on the internet: loopback, private
/// (RFC 1918, IPv6 unique-local), link-local (with the cloud metadata address 169.254.169.254),
/// shared (100.64.0.0/10), unspecified, broadcast, multicast, documentation, and IPv4 mapped
/// into IPv6 of those. A user's notification target there would make the server an internal
/// proxy for them.
pub fn internal_ip(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal_ip(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || v6.segments()[0] == 0x2001 && v6.segments()[1] == 0xdb8
        }
    }
}

/// The refusal of a target inside the network, with what an administrator can do.
pub fn internal_target_refusal(what: &str) -> String {
    format!(
        "{what} is on an internal network (loopback, private or link-local address); the server \
         sends notices only to internet addresses unless an administrator sets \
         notify_private_targets = true (AIOPS_NOTIFY_PRIVATE_TARGETS)"
    )
}

/// A target URL's host, checked before any lookup: an IP literal inside the network, or
/// `localhost` (and `*.localhost`), is refused unless `allow_internal`. Names are checked
/// again on every send, after they resolve.
pub fn check_target_host(url: &reqwest::Url, allow_internal: bool) -> Result<(), String> {
    if allow_internal {
        return Ok(());
    }
    // The URL parser has already normalised IPv4 forms (`0x7f000001`, `2130706433`).
    let host = url.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let internal = match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => internal_ip(ip),
        Err(_) => {
            let d = bare.trim_end_matches('.').to_ascii_lowercase();
            d.is_empty() || d == "localhost" || d.ends_with(".localhost")
        }
    };
    if internal {
        Err(internal_target_refusal(
            url.host_str().unwrap_or("the URL's host"),
        ))
    } else {
        Ok(())
    }
}

/// An URL's origin (`scheme://host[:port]`), what a VAPID token's `aud` names (RFC 8292 §2).
pub fn origin_of(url: &reqwest::Url) -> String {
    url.origin().ascii_serialization()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 1, 1, h, m, 0)
            .single()
            .unwrap()
    }

    #[test]
    fn quiet_hours_plain_and_wrapping_midnight() {
        // 09:00–17:00 UTC
        assert!(in_quiet_hours(at(9, 0), 540, 1020, 0));
        assert!(in_quiet_hours(at(16, 59), 540, 1020, 0));
        assert!(!in_quiet_hours(at(17, 0), 540, 1020, 0));
        assert!(!in_quiet_hours(at(8, 59), 540, 1020, 0));
        // 22:00–07:00 wraps
        assert!(in_quiet_hours(at(23, 30), 1320, 420, 0));
        assert!(in_quiet_hours(at(0, 0), 1320, 420, 0));
        assert!(in_quiet_hours(at(6, 59), 1320, 420, 0));
        assert!(!in_quiet_hours(at(7, 0), 1320, 420, 0));
        assert!(!in_quiet_hours(at(21, 59), 1320, 420, 0));
        // empty window
        assert!(!in_quiet_hours(at(12, 0), 600, 600, 0));
    }

    #[test]
    fn quiet_hours_use_the_users_offset() {
        // 21:30 UTC is 23:30 at UTC+2: inside 22:00–07:00 local.
        assert!(in_quiet_hours(at(21, 30), 1320, 420, 120));
        assert!(!in_quiet_hours(at(21, 30), 1320, 420, 0));
        // 03:00 UTC is 22:00 the day before at UTC-5.
        assert!(in_quiet_hours(at(3, 0), 1320, 420, -300));
        assert!(!in_quiet_hours(at(12, 0), 1320, 420, -300));
    }

    #[test]
    fn prefs_toggle_mute_and_quiet() {
        let mut p = NotifyPrefs::default();
        let now = at(12, 0);
        assert!(p.allows(NoticeKind::AgentWaiting, Some(ProjectId(1)), now));
        p.agent_waiting = false;
        assert!(!p.allows(NoticeKind::AgentWaiting, Some(ProjectId(1)), now));
        assert!(p.allows(NoticeKind::AgentFailed, Some(ProjectId(1)), now));
        p.muted_projects = vec![ProjectId(1)];
        assert!(!p.allows(NoticeKind::AgentFailed, Some(ProjectId(1)), now));
        assert!(p.allows(NoticeKind::AgentFailed, Some(ProjectId(2)), now));
        assert!(p.allows(NoticeKind::SyncFailing, None, now));
        p.quiet_start = Some(11 * 60);
        p.quiet_end = Some(13 * 60);
        assert!(!p.allows(NoticeKind::AgentFailed, Some(ProjectId(2)), now));
    }

    #[test]
    fn agent_states_map_to_notices() {
        use AgentState::*;
        assert_eq!(
            NoticeKind::of_agent(WaitingForInput),
            Some(NoticeKind::AgentWaiting)
        );
        assert_eq!(
            NoticeKind::of_agent(WaitingForApproval),
            Some(NoticeKind::AgentWaiting)
        );
        assert_eq!(
            NoticeKind::of_agent(RateLimited),
            Some(NoticeKind::AgentWaiting)
        );
        assert_eq!(
            NoticeKind::of_agent(Exited),
            Some(NoticeKind::AgentFinished)
        );
        assert_eq!(NoticeKind::of_agent(Failed), Some(NoticeKind::AgentFailed));
        assert_eq!(NoticeKind::of_agent(Working), None);
        assert_eq!(NoticeKind::of_agent(Idle), None);
    }

    #[test]
    fn validation_says_what_is_wrong() {
        let ok = NotifyPrefs::default();
        assert!(ok.validate().is_ok());
        let bad = |f: fn(&mut NotifyPrefs)| {
            let mut p = NotifyPrefs::default();
            f(&mut p);
            p.validate().unwrap_err()
        };
        assert!(bad(|p| p.quiet_start = Some(1440)).contains("0 to 1439"));
        assert!(bad(|p| p.quiet_start = Some(10)).contains("both"));
        assert!(bad(|p| p.webhook_url = Some("file:///etc/passwd".into())).contains("http"));
        assert!(bad(|p| p.webhook_url = Some("https://u:p@h/".into())).contains("password"));
        assert!(bad(|p| p.ntfy_url = Some("https://ntfy.sh".into())).contains("ntfy_topic"));
        assert!(
            bad(|p| {
                p.ntfy_url = Some("https://ntfy.sh".into());
                p.ntfy_topic = Some("a/b".into());
            })
            .contains("letters")
        );
        assert!(bad(|p| p.tz_offset_minutes = 2000).contains("840"));
    }

    #[test]
    fn sync_failures_are_told_at_three_then_every_tenth() {
        let told: Vec<u32> = (1..=31)
            .filter(|n| sync_failure_worth_telling(*n))
            .collect();
        assert_eq!(told, vec![3, 10, 20, 30]);
    }

    #[test]
    fn origin_keeps_a_non_default_port() {
        let u = reqwest::Url::parse("http://127.0.0.1:8123/push/abc").unwrap();
        assert_eq!(origin_of(&u), "http://127.0.0.1:8123");
        let u = reqwest::Url::parse("https://fcm.googleapis.com:443/fcm/send/x").unwrap();
        assert_eq!(origin_of(&u), "https://fcm.googleapis.com");
    }

    #[test]
    fn internal_addresses_are_told_from_internet_ones() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "0.1.2.3",
        ] {
            assert!(internal_ip(ip.parse().unwrap()), "{ip} is internal");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
        ] {
            assert!(!internal_ip(ip.parse().unwrap()), "{ip} is on the internet");
        }
    }

    #[test]
    fn target_hosts_inside_the_network_are_refused_unless_allowed() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        for bad in [
            "http://127.0.0.1:8080/hook",
            "http://[::1]/x",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost:9/",
            "http://api.LOCALHOST./",
            "http://0x7f000001/",
            "http://2130706433/",
        ] {
            let e = check_target_host(&u(bad), false).unwrap_err();
            assert!(e.contains("AIOPS_NOTIFY_PRIVATE_TARGETS"), "{bad}: {e}");
            assert!(check_target_host(&u(bad), true).is_ok(), "{bad} allowed");
        }
        assert!(check_target_host(&u("https://ntfy.sh/topic"), false).is_ok());
        assert!(check_target_host(&u("https://8.8.8.8/"), false).is_ok());
    }
}
