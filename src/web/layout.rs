//! The page shell: head, the grouped navigation (a side bar from 1024 px, a drawer behind ☰
//! below), the current page marked, theme toggle, flash/error boxes, the toast area and the
//! flash cookie (see assets/app.js). htmx requests get only the main content (`RequestView`).

use crate::auth::Identity;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::pwa::{ICON_192, ICON_SVG, THEME_COLOR, asset_url};

/// Paths under /assets; pages link them through `asset_url` (versioned, long-cached).
pub const HTMX_PATH: &str = "vendor/htmx-2.0.11/htmx.min.js";
pub const HTMX_SSE_PATH: &str = "vendor/htmx-ext-sse-2.2.4/sse.min.js";
pub const PICO_PATH: &str = "vendor/pico-2.1.1/pico.min.css";

/// What the shell needs to know about the request being answered: its path (to mark the
/// current page) and whether htmx asked for a fragment. Set for every web request by the
/// middleware in `web::routes` (`with_view`); `page()` reads it, so its callers need not.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RequestView {
    pub path: String,
    pub fragment: bool,
}

tokio::task_local! {
    static VIEW: RequestView;
}

impl RequestView {
    /// From the request line and headers: a fragment is an htmx request (`HX-Request: true`)
    /// that is not a boosted navigation nor a history restore (those want the whole page).
    pub fn of(path: &str, header: impl Fn(&str) -> Option<String>) -> RequestView {
        let yes = |name: &str| header(name).is_some_and(|v| v.trim() == "true");
        RequestView {
            path: path.to_string(),
            fragment: yes("hx-request") && !yes("hx-boosted") && !yes("hx-history-restore-request"),
        }
    }
}

/// Run `fut` (a handler) with `view` as the request's view.
pub async fn with_view<F: std::future::Future>(view: RequestView, fut: F) -> F::Output {
    VIEW.scope(view, fut).await
}

fn current_view() -> RequestView {
    VIEW.try_with(|v| v.clone()).unwrap_or_default()
}

/// One entry of the navigation: label, link, and the path prefixes it stands for.
struct NavItem {
    label: &'static str,
    href: &'static str,
    also: &'static [&'static str],
}

const fn item(label: &'static str, href: &'static str, also: &'static [&'static str]) -> NavItem {
    NavItem { label, href, also }
}

/// The navigation groups for a user: (group, entries). Ansible and the admin pages only for
/// administrators (non-admins reach project playbooks from their project).
fn nav_groups(is_admin: bool) -> Vec<(&'static str, Vec<NavItem>)> {
    let mut groups = vec![(
        "Work",
        vec![
            item("Dashboard", "/", &[]),
            item("Issues", "/issues", &[]),
            item("Projects", "/projects", &[]),
            item("Agents", "/agents/history", &["/agents", "/sessions"]),
        ],
    )];
    let mut admin = vec![item("Tenants", "/tenants", &[])];
    if is_admin {
        groups.push(("Automation", vec![item("Ansible", "/ansible", &[])]));
        admin.extend([
            item("Users", "/users", &[]),
            item("Integrations", "/integrations", &[]),
            item("Tracker identities", "/admin/identities", &[]),
            item("SSH keys", "/ssh-keys", &["/known-hosts"]),
            item("Audit", "/audit", &[]),
            item("System", "/admin/system", &["/admin"]),
        ]);
    }
    groups.push(("Admin", admin));
    groups.push((
        "You",
        vec![
            item("API keys", "/keys", &[]),
            item("Agent instructions", "/settings/agents", &["/settings"]),
            item("Account", "/account", &[]),
            item("API docs", "/api/docs", &[]),
        ],
    ));
    groups
}

/// Whether `path` is `prefix` or below it (`/projects` covers `/projects/5/edit`).
fn under(path: &str, prefix: &str) -> bool {
    if prefix == "/" {
        return path == "/";
    }
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The one entry of `groups` that `path` belongs to: the longest matching link or prefix.
fn current_href(groups: &[(&str, Vec<NavItem>)], path: &str) -> Option<&'static str> {
    let mut best: Option<(&'static str, usize)> = None;
    for (_, items) in groups {
        for it in items {
            for p in std::iter::once(&it.href).chain(it.also.iter()) {
                if under(path, p) && best.is_none_or(|(_, len)| p.len() > len) {
                    best = Some((it.href, p.len()));
                }
            }
        }
    }
    best.map(|(h, _)| h)
}

pub fn page(title: &str, who: Option<&Identity>, body: Markup) -> Markup {
    let view = current_view();
    if view.fragment {
        // htmx asked for part of the page: the main content only (hx-select picks from it).
        return html! { title { (title) " · aiops" } (body) };
    }
    let csrf_headers = who
        .and_then(|i| i.csrf_token.as_deref())
        .map(|t| format!("{{\"X-CSRF-Token\": \"{t}\"}}"));
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                meta name="theme-color" content=(THEME_COLOR);
                title { (title) " · aiops" }
                link rel="icon" href=(ICON_SVG) type="image/svg+xml";
                link rel="icon" href=(ICON_192) type="image/png" sizes="192x192";
                link rel="apple-touch-icon" href=(ICON_192);
                link rel="manifest" href="/manifest.webmanifest";
                link rel="stylesheet" href=(asset_url(PICO_PATH));
                link rel="stylesheet" href=(asset_url("app.css"));
                script src=(asset_url(HTMX_PATH)) defer {}
                script src=(asset_url(HTMX_SSE_PATH)) defer {}
                script src=(asset_url("app.js")) defer {}
            }
            body.with-nav[who.is_some()] hx-headers=[csrf_headers] {
                @if let Some(who) = who {
                    (app_nav(who, &view.path))
                } @else {
                    header.container.appbar.bare {
                        a.brand href="/" { strong { "aiops" } }
                        button #theme-toggle.outline.secondary type="button" aria-label="Toggle dark mode" { "◐" }
                    }
                }
                main.container #main { (body) }
                // Toasts (successes after a redirect, failures whose control is gone) land here.
                div #toasts.toasts aria-live="polite" role="status" {}
            }
        }
    }
}

/// The top bar (phones and tablets: brand and ☰) and the navigation: a fixed side bar from
/// 1024 px, a drawer below (assets/app.js opens and closes it).
fn app_nav(who: &Identity, path: &str) -> Markup {
    let groups = nav_groups(who.user.is_admin);
    let current = current_href(&groups, path);
    html! {
        header.appbar {
            button #nav-toggle.nav-toggle.outline.secondary type="button" aria-controls="nav-links" aria-expanded="false" aria-label="Menu" { "☰" }
            a.brand href="/" { strong { "aiops" } }
        }
        div.nav-backdrop #nav-backdrop hidden {}
        nav #nav-links.sidenav aria-label="Main" {
            a.brand.nav-brand href="/" { strong { "aiops" } }
            @for (group, items) in &groups {
                section.nav-group {
                    h2 { (group) }
                    ul {
                        @for it in items {
                            li { a href=(it.href) aria-current=[(current == Some(it.href)).then_some("page")] { (it.label) } }
                        }
                    }
                }
            }
            div.nav-foot {
                small.nav-who title=(who.user.email) { (who.user.email) }
                div.nav-buttons {
                    form.inline method="post" action="/logout" {
                        input type="hidden" name="csrf_token" value=[who.csrf_token.as_deref()];
                        button.secondary.outline type="submit" { "Log out" }
                    }
                    button #theme-toggle.outline.secondary type="button" aria-label="Toggle dark mode" { "◐" }
                }
            }
        }
    }
}

pub fn error_box(msg: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = msg {
            p.error role="alert" { (m) }
        }
    }
}

pub fn notice_box(msg: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = msg {
            p.notice role="status" { (m) }
        }
    }
}

/// The cookie that carries a success message across a redirect; assets/app.js shows it as a
/// toast and deletes it. Readable by scripts on purpose (it holds only the message).
pub const FLASH_COOKIE: &str = "aiops_flash";

pub fn flash_cookie(msg: &str) -> String {
    let mut v = String::with_capacity(msg.len() * 3);
    for b in msg.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            v.push(b as char);
        } else {
            v.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{FLASH_COOKIE}={v}; Path=/; Max-Age=60; SameSite=Lax")
}

pub fn csrf_field(who: &Identity) -> Markup {
    html! { input type="hidden" name="csrf_token" value=[who.csrf_token.as_deref()]; }
}

pub fn swatch(color: &str) -> Markup {
    html! { span.swatch style=(PreEscaped(format!("background:{}", sanitize_css_color(color)))) {} }
}

/// Colours come from the palette, but never trust stored text inside a style attribute.
fn sanitize_css_color(c: &str) -> String {
    if c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|x| x.is_ascii_hexdigit()) {
        c.to_string()
    } else {
        "#888".into()
    }
}

pub fn fmt_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_page_is_the_longest_matching_entry() {
        let g = nav_groups(true);
        let cur = |p: &str| current_href(&g, p);
        assert_eq!(cur("/"), Some("/"));
        assert_eq!(cur("/issues"), Some("/issues"));
        assert_eq!(cur("/issues/42"), Some("/issues"));
        assert_eq!(cur("/projects/5/edit"), Some("/projects"));
        assert_eq!(cur("/sessions/7/terminal"), Some("/agents/history"));
        assert_eq!(cur("/admin/backups"), Some("/admin/system"));
        assert_eq!(cur("/known-hosts/scan"), Some("/ssh-keys"));
        assert_eq!(cur("/account/trackers"), Some("/account"));
        // A prefix only counts at a segment boundary.
        assert_eq!(cur("/issuesx"), None);
        assert_eq!(cur("/nowhere"), None);
    }

    #[test]
    fn non_admins_see_no_admin_pages_and_no_ansible() {
        let hrefs = |admin: bool| -> Vec<&str> {
            nav_groups(admin)
                .into_iter()
                .flat_map(|(_, items)| items.into_iter().map(|i| i.href))
                .collect()
        };
        let dev = hrefs(false);
        assert!(
            dev.contains(&"/tenants") && dev.contains(&"/keys"),
            "{dev:?}"
        );
        for admin_only in [
            "/ansible",
            "/users",
            "/integrations",
            "/ssh-keys",
            "/audit",
            "/admin/system",
        ] {
            assert!(!dev.contains(&admin_only), "{admin_only} in {dev:?}");
            assert!(
                hrefs(true).contains(&admin_only),
                "{admin_only} missing for admins"
            );
        }
    }

    #[test]
    fn htmx_requests_are_fragments_unless_boosted_or_restoring_history() {
        let view = |hs: &'static [(&'static str, &'static str)]| {
            RequestView::of("/x", |n| {
                hs.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())
            })
            .fragment
        };
        assert!(!view(&[]));
        assert!(view(&[("hx-request", "true")]));
        assert!(!view(&[("hx-request", "true"), ("hx-boosted", "true")]));
        assert!(!view(&[
            ("hx-request", "true"),
            ("hx-history-restore-request", "true")
        ]));
        assert!(!view(&[("hx-request", "false")]));
    }

    #[tokio::test]
    async fn a_fragment_is_the_main_content_only_and_a_page_marks_where_it_is() {
        let body = || html! { section #part { "hello" } };
        let frag = with_view(
            RequestView {
                path: "/issues".into(),
                fragment: true,
            },
            async { page("Issues", None, body()).into_string() },
        )
        .await;
        assert!(frag.contains("id=\"part\""), "{frag}");
        assert!(!frag.contains("<html") && !frag.contains("<nav"), "{frag}");
        let full = with_view(
            RequestView {
                path: "/".into(),
                fragment: false,
            },
            async { page("Home", None, body()).into_string() },
        )
        .await;
        assert!(
            full.contains("<html") && full.contains("id=\"part\""),
            "{full}"
        );
        let who = Identity::system();
        let marked = with_view(
            RequestView {
                path: "/issues/42".into(),
                fragment: false,
            },
            async { page("Issue", Some(&who), body()).into_string() },
        )
        .await;
        assert!(
            marked.contains(r#"href="/issues" aria-current="page""#),
            "{marked}"
        );
        assert_eq!(marked.matches("aria-current").count(), 1, "{marked}");
        // Outside any request (no view set): the whole page.
        assert!(page("X", None, body()).into_string().contains("<html"));
    }
}
