//! The chat-side targets of a notice: a webhook (POST of the notice as JSON) and ntfy (POST of
//! the body as text to `<server>/<topic>` with `Title`, `Click` and `Tags` headers, as ntfy's
//! publish API takes them). URLs were checked when the user saved them
//! (`domain::notify::outbound_url`) and are checked again here.

use super::Notice;
use crate::domain::notify::outbound_url;

/// POST `notice` as JSON to `url`; `Ok` on any 2xx.
pub async fn webhook(client: &reqwest::Client, url: &str, notice: &Notice) -> Result<(), String> {
    let url = outbound_url(url)?;
    let res = client
        .post(url)
        .json(notice)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    answer("webhook", res)
}

/// Publish `notice` to ntfy topic `topic` on `server`.
pub async fn ntfy(
    client: &reqwest::Client,
    server: &str,
    topic: &str,
    notice: &Notice,
) -> Result<(), String> {
    let mut url = outbound_url(server)?;
    url.path_segments_mut()
        .map_err(|_| "the ntfy URL cannot take a topic".to_string())?
        .pop_if_empty()
        .push(topic);
    let body = if notice.body.is_empty() {
        notice.title.clone()
    } else {
        notice.body.clone()
    };
    let mut rb = client
        .post(url)
        .header("Content-Type", "text/plain; charset=utf-8")
        .header("Title", header_text(&notice.title))
        .header("Tags", notice.kind);
    if notice.url.starts_with("http://") || notice.url.starts_with("https://") {
        rb = rb.header("Click", notice.url.as_str());
    }
    let res = rb
        .body(body)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    answer("ntfy", res)
}

/// Header values are ASCII here: anything else becomes '?' (ntfy reads UTF-8 titles only
/// RFC 2047-encoded; a plain title is enough).
fn header_text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

fn answer(what: &str, res: reqwest::Response) -> Result<(), String> {
    if res.status().is_success() {
        Ok(())
    } else {
        Err(format!("{what} answered {}", res.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_keeps_ascii_only() {
        assert_eq!(header_text("claude is waiting…\n"), "claude is waiting??");
    }
}
