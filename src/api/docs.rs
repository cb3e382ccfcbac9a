//! Swagger UI at `/api/docs`, served from poem-openapi's embedded bundle but split into files:
//! a small page (viewport tag, a link back to the app, no inline script), the bundle's JS and
//! CSS under content-hashed URLs cached for a year, and a start script that loads the spec.

use poem::http::header;
use poem::{Endpoint, Response, Route, endpoint::make_sync};
use sha2::Digest;
use std::sync::Arc;

const START_JS: &str = r##"// Starts Swagger UI on the OpenAPI document (aiops).
window.addEventListener("load", function () {
  var here = window.location.href.split("?")[0].split("#")[0];
  if (!here.endsWith("/")) here += "/";
  SwaggerUIBundle({
    dom_id: "#ui",
    url: "/api/v1/openapi.json",
    filter: false,
    deepLinking: true,
    oauth2RedirectUrl: here + "oauth-receiver.html",
  });
});
"##;

const PAGE_CSS: &str = "body{margin:0}.aiops-back{display:block;padding:.6rem 1rem;\
font:600 15px/1.4 system-ui,sans-serif;color:#fff;background:#0172ad;text-decoration:none}\
.aiops-back:hover,.aiops-back:focus{text-decoration:underline}";

fn between<'a>(s: &'a str, open: &str, close: &str) -> &'a str {
    let start = s.find(open).map(|i| i + open.len()).unwrap_or(0);
    let end = s[start..].find(close).map(|i| start + i).unwrap_or(start);
    &s[start..end]
}

fn short_hash(s: &str) -> String {
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn file(body: Arc<String>, content_type: &'static str, cache: &'static str) -> impl Endpoint {
    make_sync(move |_| {
        Response::builder()
            .content_type(content_type)
            .header(header::CACHE_CONTROL, cache)
            .body(body.as_str().to_string())
    })
}

/// `html` is poem-openapi's one-file page (`swagger_ui_html`); its style and bundle are taken
/// out of it once, at start-up.
pub fn endpoint(html: String, original: impl Endpoint + 'static) -> impl Endpoint {
    let html = html.as_str();
    let css = Arc::new(between(html, "<style charset=\"UTF-8\">", "</style>").to_string());
    let js = Arc::new(between(html, "<script charset=\"UTF-8\">", "</script>").to_string());
    let (css_v, js_v, start_v) = (short_hash(&css), short_hash(&js), short_hash(START_JS));
    let page = Arc::new(format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="theme-color" content="{theme}">
<title>API · aiops</title>
<link rel="icon" href="{icon}" type="image/svg+xml">
<link rel="stylesheet" href="/api/docs/swagger-ui.css?v={css_v}">
<link rel="stylesheet" href="/api/docs/page.css">
<script src="/api/docs/swagger-ui-bundle.js?v={js_v}" defer></script>
<script src="/api/docs/start.js?v={start_v}" defer></script>
</head>
<body>
<a class="aiops-back" href="/">← aiops</a>
<div id="ui"></div>
</body>
</html>
"#,
        theme = crate::web::pwa::THEME_COLOR,
        icon = crate::web::pwa::ICON_SVG,
    ));
    let year = "public, max-age=31536000, immutable";
    Route::new()
        .at("/", file(page, "text/html; charset=utf-8", "no-cache"))
        .at(
            "/swagger-ui.css",
            file(css, "text/css; charset=utf-8", year),
        )
        .at(
            "/swagger-ui-bundle.js",
            file(js, "text/javascript; charset=utf-8", year),
        )
        .at(
            "/start.js",
            file(
                Arc::new(START_JS.to_string()),
                "text/javascript; charset=utf-8",
                year,
            ),
        )
        .at(
            "/page.css",
            file(
                Arc::new(PAGE_CSS.to_string()),
                "text/css; charset=utf-8",
                "public, max-age=3600",
            ),
        )
        // The OAuth receiver page stays poem-openapi's own.
        .at("/oauth-receiver.html", original)
}
