//! The issue list's answer: the envelope it documents, a page built at once, or every matching
//! issue streamed from one blocking thread.

use super::common::R;
use super::issues::IssueObj;
use crate::auth::Identity;
use crate::error::AppError;
use crate::services::App;
use crate::services::issues::IssueFilter;
#[cfg(test)]
use crate::services::issues::IssueView;
use poem::IntoResponse;
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::{ApiResponse, Object};
use std::sync::Arc;

/// The answer of `GET /issues`: `{"issues": […], "count", "total", "offset", "limit", "next"}`.
/// Streamed when unlimited (the keys after `issues` come at the end of the stream).
#[derive(Object)]
pub struct IssuesEnvelope {
    pub issues: Vec<IssueObj>,
    /// Issues in this answer.
    pub count: usize,
    /// Every issue matching the filters (all pages).
    pub total: usize,
    pub offset: usize,
    /// The page size asked for; null when every matching issue is listed.
    #[oai(nullable)]
    pub limit: Option<usize>,
    /// The next page's relative URL (as in the `Link` header); null on the last page and
    /// without `limit`.
    #[oai(nullable)]
    pub next: Option<String>,
}

/// The issue list's body, documented as `IssuesEnvelope`: written as a stream for unlimited
/// lists, or at once for a page.
pub struct IssuesBody(poem::Body);

impl Payload for IssuesBody {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn schema_ref() -> MetaSchemaRef {
        <IssuesEnvelope as poem_openapi::types::Type>::schema_ref()
    }

    fn register(registry: &mut Registry) {
        <IssuesEnvelope as poem_openapi::types::Type>::register(registry);
    }
}

impl IntoResponse for IssuesBody {
    fn into_response(self) -> poem::Response {
        poem::Response::builder()
            .content_type(Self::CONTENT_TYPE)
            .body(self.0)
    }
}

#[derive(ApiResponse)]
pub enum IssuesListResponse {
    /// The matching issues. With `limit`, when more follow: `Link: </api/v1/issues?…&offset=N&limit=L>; rel="next"`.
    #[oai(status = 200)]
    Ok(
        IssuesBody,
        /// The next page (`rel="next"`), when `limit` is given and more issues follow.
        #[oai(header = "Link")]
        Option<String>,
    ),
}

/// An issue as lists show it (no description).
#[cfg(test)]
fn list_item(v: IssueView) -> IssueObj {
    IssueObj {
        description: None,
        ..v.into()
    }
}

/// Append one listed issue's JSON to `buf` (`domain::list_row`; the answers copy the
/// pre-rendered rows, which the tests hold equal to this).
#[cfg(test)]
fn write_item(buf: &mut Vec<u8>, v: &IssueView) -> Result<(), AppError> {
    crate::domain::list_row::write_list_item(buf, v)
        .map_err(|e| AppError::Internal(format!("cannot encode an issue: {e}")))
}

/// Issues per chunk of a streamed list, and the chunk size that sends a batch early.
const STREAM_BATCH: usize = 200;
const STREAM_CHUNK_BYTES: usize = 256 * 1024;

/// An unlimited issue list as a stream: one blocking thread plans the list (errors come back
/// as a normal error answer, before any body) and then walks it in one read transaction,
/// writing the JSON in batches into a small channel; the body is read from that channel, so a
/// slow client holds back the walk instead of growing memory, and a client that goes away ends
/// it. A failure mid-walk aborts the body (the client sees a broken answer, never a short one
/// that parses).
pub async fn stream_issues(app: Arc<App>, who: Identity, f: IssueFilter) -> R<IssuesBody> {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), AppError>>();
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    let offset = f.offset;
    tokio::task::spawn_blocking(move || {
        let listing = match app.trackers.plan_issues(&who, &f) {
            Ok(l) => l,
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return;
            }
        };
        if ready_tx.send(Ok(())).is_err() {
            return; // the request was dropped meanwhile
        }
        let mut buf: Vec<u8> = Vec::with_capacity(STREAM_CHUNK_BYTES + 16 * 1024);
        buf.extend_from_slice(b"{\"issues\":[");
        let (mut in_batch, mut first) = (0usize, true);
        let walked = listing.for_each_row(|row| {
            if !first {
                buf.push(b',');
            }
            first = false;
            buf.extend_from_slice(row);
            in_batch += 1;
            if in_batch >= STREAM_BATCH || buf.len() >= STREAM_CHUNK_BYTES {
                in_batch = 0;
                let chunk =
                    std::mem::replace(&mut buf, Vec::with_capacity(STREAM_CHUNK_BYTES + 16 * 1024));
                // An error here means the client went away: stop reading.
                return Ok(tx.blocking_send(Ok(chunk.into())).is_ok());
            }
            Ok(true)
        });
        match walked {
            Ok(Some(c)) => {
                buf.extend_from_slice(
                    format!(
                        "],\"count\":{},\"total\":{},\"offset\":{offset},\"limit\":null,\"next\":null}}",
                        c.count, c.total
                    )
                    .as_bytes(),
                );
                let _ = tx.blocking_send(Ok(buf.into()));
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!("issue list stream failed: {e}");
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        }
    });
    match ready_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => {
            return Err(AppError::Internal(
                "the issue list stopped before it started; see the server log".into(),
            )
            .into());
        }
    }
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok(IssuesBody(poem::Body::from_bytes_stream(stream)))
}

/// One page (`f.limit` is set): the client chose its size, and the `Link` header needs the
/// total first. `query` is the request's query string, kept in the next page's link.
pub async fn page_issues(
    app: Arc<App>,
    who: Identity,
    f: IssueFilter,
    query: &str,
) -> R<IssuesListResponse> {
    use crate::domain::issues::{link_header, next_page_link};
    let (offset, limit) = (f.offset, f.limit);
    let listing = app.trackers.plan_issues(&who, &f)?;
    // Each issue's pre-rendered row (`IssuesEnvelope`'s JSON, keys sorted, is put together
    // below). A page the index answers reads at most offset + limit index entries and limit
    // rows: it runs here. One the residual filters decide reads every candidate: it leaves the
    // async worker.
    let mut items: Vec<u8> = Vec::with_capacity(256 + 700 * limit.unwrap_or(50).min(500));
    let mut count = 0usize;
    let bounded = listing.is_bounded();
    let walk = || {
        listing.for_each_row(|row| {
            if count > 0 {
                items.push(b',');
            }
            items.extend_from_slice(row);
            count += 1;
            Ok(true)
        })
    };
    let counts = if bounded {
        walk()?
    } else {
        crate::store::run_blocking(walk)?
    };
    let total = counts.map_or(count, |c| c.total);
    let next = next_page_link("/api/v1/issues", query, offset, limit, total);
    let mut body: Vec<u8> = Vec::with_capacity(items.len() + 256);
    body.extend_from_slice(format!("{{\"count\":{count},\"issues\":[").as_bytes());
    body.extend_from_slice(&items);
    let limit_json = limit.map_or_else(|| "null".to_string(), |l| l.to_string());
    body.extend_from_slice(format!("],\"limit\":{limit_json},\"next\":").as_bytes());
    serde_json::to_writer(&mut body, &next)
        .map_err(|e| AppError::Internal(format!("cannot encode the issue list: {e}")))?;
    body.extend_from_slice(format!(",\"offset\":{offset},\"total\":{total}}}").as_bytes());
    Ok(IssuesListResponse::Ok(
        IssuesBody(poem::Body::from_vec(body)),
        next.as_deref().map(link_header),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Comment, ExternalIssue};
    use poem_openapi::types::ToJSON;

    fn view(n: u64) -> IssueView {
        let t: crate::domain::Timestamp = "2026-01-02T03:04:05.123456Z".parse().unwrap();
        let comment = |id: Option<&str>| Comment {
            id: id.map(Into::into),
            author: "Zoë \"z\" <z@x>".into(),
            body: "line 1\nline 2\t\u{1F600} \\ /".into(),
            created_at: id.map(|_| "2026-01-01T00:00:00Z".into()),
            url: None,
        };
        IssueView {
            project_name: format!("proj \"{n}\""),
            tenant_name: "t\u{e9}nant".into(),
            status_key: "in_progress".into(),
            status_label: "In Progress".into(),
            provider: if n.is_multiple_of(2) { "GitHub" } else { "" }.into(),
            integration_id: (n * 3).into(),
            integration_name: "gh </script>".into(),
            pinned_at: n.is_multiple_of(3).then_some(t),
            issue: ExternalIssue {
                id: n.into(),
                project_integration_id: 9.into(),
                project_id: (10 + n).into(),
                tenant_id: 20.into(),
                external_id: format!("PROJ-{n}"),
                title: "A \"quoted\" title\u{0}\u{1f}".into(),
                status: n.is_multiple_of(2).then(|| "In Progress".into()),
                assignee: (!n.is_multiple_of(2)).then(|| "Ali".into()),
                assignee_key: None,
                url: n
                    .is_multiple_of(2)
                    .then(|| "https://example.com/i?a=1&b=2".into()),
                labels: if n.is_multiple_of(2) {
                    vec!["bug".into(), "ü".into()]
                } else {
                    Vec::new()
                },
                comments: if n.is_multiple_of(2) {
                    vec![comment(Some("c1")), comment(None)]
                } else {
                    Vec::new()
                },
                body: Some("never listed".into()),
                external_updated_at: n
                    .is_multiple_of(2)
                    .then(|| "2026-03-04T05:06:07Z".parse().unwrap()),
                last_seen_at: None,
                missing_upstream: !n.is_multiple_of(2),
                created_at: t,
                updated_at: "2026-02-03T04:05:06.7Z".parse().unwrap(),
            },
        }
    }

    #[test]
    fn list_rows_are_the_issue_objects_json() {
        for n in 0..6 {
            let v = view(n);
            let mut ours = Vec::new();
            write_item(&mut ours, &v).unwrap();
            let theirs = serde_json::to_vec(&list_item(v).to_json()).unwrap();
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(theirs).unwrap()
            );
        }
    }
}
