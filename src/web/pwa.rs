//! Installable web app: the icons, `/favicon.ico`, `/manifest.webmanifest`, the service worker
//! (`/sw.js`, at the root so that its scope is `/`) and the versioned asset URLs.
//!
//! Asset URLs carry `?v=<hash of the embedded file>`, so a changed file gets a new URL and the
//! versioned responses can be cached for a year (see `super::assets`).

use super::Assets;
use poem::http::{StatusCode, header};
use poem::{Response, handler};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

pub const THEME_COLOR: &str = "#0172ad";
pub const ICON_SVG: &str = "/assets/icons/icon.svg";
pub const ICON_192: &str = "/assets/icons/icon-192.png";
pub const ICON_512: &str = "/assets/icons/icon-512.png";
pub const OFFLINE_PAGE: &str = "offline.html";

/// `/assets/<path>?v=<first 16 hex digits of the file's SHA-256>`; the bare path when the file
/// is not embedded (the browser then gets the 404 it would get anyway).
pub fn asset_url(path: &str) -> String {
    static CACHE: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(u) = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(path)
    {
        return u.clone();
    }
    let url = match Assets::get(path) {
        Some(f) => {
            let hash: String = f
                .metadata
                .sha256_hash()
                .iter()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("/assets/{path}?v={hash}")
        }
        None => format!("/assets/{path}"),
    };
    cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(path.to_string(), url.clone());
    url
}

/// What the service worker stores on install: the shared CSS/JS and the offline page.
fn precache() -> Vec<String> {
    [
        super::layout::PICO_PATH,
        "app.css",
        super::layout::HTMX_PATH,
        super::layout::HTMX_SSE_PATH,
        "app.js",
        "offline.js",
        OFFLINE_PAGE,
        "icons/icon.svg",
    ]
    .iter()
    .map(|p| asset_url(p))
    // The offline page links Pico and its script without a version; store those too.
    .chain([
        format!("/assets/{}", super::layout::PICO_PATH),
        "/assets/offline.js".to_string(),
        ICON_SVG.to_string(),
    ])
    .collect::<std::collections::BTreeSet<_>>()
    .into_iter()
    .collect()
}

fn icon(path: &str, content_type: &'static str) -> Response {
    match Assets::get(path) {
        Some(f) => Response::builder()
            .content_type(content_type)
            .header(header::CACHE_CONTROL, "public, max-age=86400")
            .body(f.data.into_owned()),
        None => StatusCode::NOT_FOUND.into(),
    }
}

#[handler]
pub fn favicon() -> Response {
    icon("icons/icon-192.png", "image/png")
}

#[handler]
pub fn manifest() -> Response {
    let body = serde_json::json!({
        "name": "aiops",
        "short_name": "aiops",
        "description": "Projects, agents, issues and operations in one place",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOR,
        "background_color": "#ffffff",
        "icons": [
            { "src": ICON_192, "sizes": "192x192", "type": "image/png", "purpose": "any" },
            { "src": ICON_512, "sizes": "512x512", "type": "image/png", "purpose": "any maskable" },
            { "src": ICON_SVG, "sizes": "any", "type": "image/svg+xml" },
        ],
    });
    Response::builder()
        .content_type("application/manifest+json")
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .body(body.to_string())
}

const SW_TEMPLATE: &str = r#"// aiops service worker: precached assets, network-first pages with an offline fallback,
// and Web Push notices (a tap opens or focuses the page they name).
// Never touches API calls, streams or anything but GET.
"use strict";
const CACHE = "aiops-{:version}";
const OFFLINE = "{:offline}";
const PRECACHE = {:precache};

self.addEventListener("install", function (ev) {
  ev.waitUntil(caches.open(CACHE).then(function (c) { return c.addAll(PRECACHE); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (ev) {
  ev.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf("aiops-") === 0 && k !== CACHE; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (ev) {
  var req = ev.request;
  if (req.method !== "GET") return;
  var url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  var p = url.pathname;
  if (p.indexOf("/api/") === 0 || p.indexOf("/streams/") === 0 || p === "/sw.js") return;
  if (p.indexOf("/assets/") === 0) {
    // Cache-first for what install stored; everything else goes to the network, uncached.
    ev.respondWith(caches.open(CACHE).then(function (c) {
      return c.match(req).then(function (hit) { return hit || fetch(req); });
    }));
    return;
  }
  if (req.mode === "navigate") {
    ev.respondWith(fetch(req).catch(function () {
      return caches.open(CACHE).then(function (c) { return c.match(OFFLINE); })
        .then(function (hit) {
          return hit || new Response("You are offline — aiops will reload when the connection is back.",
            { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
        });
    }));
  }
});

self.addEventListener("push", function (ev) {
  var n = {};
  try { n = ev.data ? ev.data.json() : {}; } catch (e) { n = { title: "aiops", body: ev.data ? ev.data.text() : "" }; }
  ev.waitUntil(self.registration.showNotification(n.title || "aiops", {
    body: n.body || "",
    tag: n.tag || undefined,
    renotify: !!n.tag,
    icon: "{:icon}",
    badge: "{:icon}",
    data: { url: n.url || "/" }
  }));
});

self.addEventListener("notificationclick", function (ev) {
  ev.notification.close();
  var target = new URL((ev.notification.data && ev.notification.data.url) || "/", self.location.origin);
  // Only our own pages: a notice never opens another site.
  if (target.origin !== self.location.origin) target = new URL("/", self.location.origin);
  ev.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (list) {
    for (var i = 0; i < list.length; i++) {
      var c = list[i];
      if (new URL(c.url).pathname === target.pathname && "focus" in c) return c.focus();
    }
    for (var j = 0; j < list.length; j++) {
      if ("navigate" in list[j]) return list[j].focus().then(function (c) { return c.navigate(target.href); });
    }
    return self.clients.openWindow(target.href);
  }));
});
"#;

/// The worker's text: fixed per build (the cache name is a hash of the precached URLs, so a
/// changed asset installs a new worker that drops the old cache).
fn sw_body() -> &'static str {
    static BODY: OnceLock<String> = OnceLock::new();
    BODY.get_or_init(|| {
        use sha2::Digest;
        let list = precache();
        let version: String = sha2::Sha256::digest(list.join("\n").as_bytes())
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        SW_TEMPLATE
            .replace("{:version}", &version)
            .replace("{:offline}", &asset_url(OFFLINE_PAGE))
            .replace("{:icon}", ICON_192)
            .replace(
                "{:precache}",
                &serde_json::to_string(&list).unwrap_or_else(|_| "[]".into()),
            )
    })
}

#[handler]
pub fn service_worker() -> Response {
    Response::builder()
        .content_type("text/javascript; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .header("service-worker-allowed", "/")
        .body(sw_body())
}
