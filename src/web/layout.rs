//! The page shell: head, navigation (collapses on phones), theme toggle, flash/error boxes,
//! the toast area and the flash cookie (see assets/app.js).

use crate::auth::Identity;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::pwa::{ICON_192, ICON_SVG, THEME_COLOR, asset_url};

/// Paths under /assets; pages link them through `asset_url` (versioned, long-cached).
pub const HTMX_PATH: &str = "vendor/htmx-2.0.11/htmx.min.js";
pub const HTMX_SSE_PATH: &str = "vendor/htmx-ext-sse-2.2.4/sse.min.js";
pub const PICO_PATH: &str = "vendor/pico-2.1.1/pico.min.css";

pub fn page(title: &str, who: Option<&Identity>, body: Markup) -> Markup {
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
            body hx-headers=[csrf_headers] {
                header.container {
                    nav #topnav {
                        ul { li { a.brand href="/" { strong { "aiops" } } } }
                        @if let Some(who) = who {
                            button #nav-toggle.nav-toggle.outline type="button" aria-controls="nav-links" aria-expanded="false" aria-label="Menu" { "☰" }
                            ul #nav-links.nav-links {
                                li { a href="/" { "Dashboard" } }
                                li { a href="/tenants" { "Tenants" } }
                                li { a href="/projects" { "Projects" } }
                                li { a href="/issues" { "Issues" } }
                                li { a href="/keys" { "API keys" } }
                                li { a href="/settings/agents" { "Agent instructions" } }
                                li { a href="/ansible" { "Ansible" } }
                                @if who.user.is_admin {
                                    li { a href="/integrations" { "Integrations" } }
                                    li { a href="/ssh-keys" { "SSH keys" } }
                                    li { a href="/users" { "Users" } }
                                    li { a href="/audit" { "Audit" } }
                                    li { a href="/admin/system" { "System" } }
                                }
                                li { a href="/account" { "Account" } }
                                li { a href="/api/docs" { "API" } }
                                li {
                                    form.inline method="post" action="/logout" {
                                        input type="hidden" name="csrf_token" value=[who.csrf_token.as_deref()];
                                        button.secondary.outline type="submit" { "Log out" }
                                    }
                                }
                                li { button #theme-toggle.outline.secondary type="button" aria-label="Toggle dark mode" { "◐" } }
                            }
                        } @else {
                            ul { li { button #theme-toggle.outline.secondary type="button" aria-label="Toggle dark mode" { "◐" } } }
                        }
                    }
                }
                main.container #main { (body) }
                // Toasts (successes after a redirect, failures whose control is gone) land here.
                div #toasts.toasts aria-live="polite" role="status" {}
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
