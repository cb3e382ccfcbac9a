//! An issue's row in `GET /api/v1/issues`: its JSON written straight from the view
//! (`write_list_item`), and the same row pre-rendered when the issue is stored
//! (`render_list_row`), with the names it shows (integration, project, tenant: looked up when
//! read, so a rename shows at once) left out and spliced in per answer (`splice_list_row`). A
//! listed page is then memory copies, not a decode and an encode per issue.
//!
//! A stored row is a header (link, project and tenant ids, three part ends) followed by the
//! four name-free parts of the JSON: `{…"integration_id":` · `,"labels":…,"project_name":` ·
//! `,"status":…,"tenant_name":` · `,"title":…}`. The parts are cut from the JSON of the issue
//! written with empty names at its keys: a raw `,"key":` cannot occur inside a JSON string
//! (its quote would be escaped), and none of the cut keys is a comment's key.

use super::ids::{IntegrationId, LinkId, ProjectId, TenantId};
use super::issues::{IssueView, normalize_status};
use super::model::ExternalIssue;

/// An issue as lists show it: the bytes of the API's `IssueObj` JSON without a description
/// (poem-openapi writes an object's keys sorted, timestamps in RFC 3339, `null` for an absent
/// nullable field). The test `list_rows_are_the_issue_objects_json` (api::issue_list) holds
/// the two together.
#[derive(serde::Serialize)]
struct ListItem<'a> {
    assignee: &'a Option<String>,
    comments: Vec<CommentItem<'a>>,
    created_at: String,
    external_id: &'a str,
    id: u64,
    integration_id: u64,
    integration_name: &'a str,
    labels: &'a [String],
    missing_upstream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pinned_at: Option<String>,
    project_id: u64,
    project_name: &'a str,
    provider: &'a str,
    provider_key: String,
    status: &'a Option<String>,
    status_key: &'a str,
    status_label: &'a str,
    tenant_id: u64,
    tenant_name: &'a str,
    title: &'a str,
    updated_at: String,
    url: &'a Option<String>,
}

/// A comment as `CommentObj` writes it.
#[derive(serde::Serialize)]
struct CommentItem<'a> {
    author: &'a str,
    body: &'a str,
    created_at: &'a Option<String>,
    id: &'a Option<String>,
    url: &'a Option<String>,
}

impl<'a> ListItem<'a> {
    fn of(v: &'a IssueView) -> Self {
        let i = &v.issue;
        ListItem {
            assignee: &i.assignee,
            comments: i
                .comments
                .iter()
                .map(|c| CommentItem {
                    author: &c.author,
                    body: &c.body,
                    created_at: &c.created_at,
                    id: &c.id,
                    url: &c.url,
                })
                .collect(),
            created_at: i.created_at.to_rfc3339(),
            external_id: &i.external_id,
            id: i.id.get(),
            integration_id: v.integration_id.get(),
            integration_name: &v.integration_name,
            labels: &i.labels,
            missing_upstream: i.missing_upstream,
            pinned_at: v.pinned_at.map(|t| t.to_rfc3339()),
            project_id: i.project_id.get(),
            project_name: &v.project_name,
            provider: &v.provider,
            provider_key: v.provider.to_lowercase(),
            status: &i.status,
            status_key: &v.status_key,
            status_label: &v.status_label,
            tenant_id: i.tenant_id.get(),
            tenant_name: &v.tenant_name,
            title: &i.title,
            updated_at: i.external_updated_at.unwrap_or(i.updated_at).to_rfc3339(),
            url: &i.url,
        }
    }
}

/// Append one listed issue's JSON to `buf`.
pub fn write_list_item(buf: &mut Vec<u8>, v: &IssueView) -> serde_json::Result<()> {
    serde_json::to_writer(buf, &ListItem::of(v))
}

/// The header: link, project, tenant (u64 each), then the ends of the first three parts (u32).
const HEADER: usize = 3 * 8 + 3 * 4;

/// Where the name-dependent values sit in a row written with empty names: each is cut from
/// just after the first key to the second.
const CUTS: [(&[u8], &[u8]); 4] = [
    (b",\"integration_id\":", b",\"labels\":"),
    (b",\"project_name\":", b",\"provider\":"),
    (b",\"provider\":", b",\"status\":"),
    (b",\"tenant_name\":", b",\"title\":"),
];

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The stored list row of an issue: its name-free JSON parts behind the header.
pub fn render_list_row(issue: &ExternalIssue) -> serde_json::Result<Vec<u8>> {
    let (status_key, status_label) = normalize_status(issue.status.as_deref());
    let view = IssueView {
        issue: issue.clone(),
        status_key,
        status_label,
        provider: String::new(),
        integration_id: IntegrationId(0),
        integration_name: String::new(),
        project_name: String::new(),
        tenant_name: String::new(),
        pinned_at: None,
    };
    let mut json = Vec::with_capacity(512);
    write_list_item(&mut json, &view)?;
    // The kept spans: [0, after integration_id) [labels, after project_name)
    // [status, after tenant_name) [title, end). The provider cut joins the project cut.
    let cut = |(a, b): (&[u8], &[u8]), from: usize| -> serde_json::Result<(usize, usize)> {
        let start = find(&json, a, from).map(|p| p + a.len());
        let end = start.and_then(|s| find(&json, b, s));
        match (start, end) {
            (Some(s), Some(e)) => Ok((s, e)),
            _ => Err(serde::ser::Error::custom(
                "an issue's list row lacks a key it must have",
            )),
        }
    };
    let (s1, e1) = cut(CUTS[0], 0)?;
    let (s2, _) = cut(CUTS[1], e1)?;
    let (_, e3) = cut(CUTS[2], s2)?;
    let (s4, e4) = cut(CUTS[3], e3)?;
    let parts: [&[u8]; 4] = [
        json.get(..s1).unwrap_or_default(),
        json.get(e1..s2).unwrap_or_default(),
        json.get(e3..s4).unwrap_or_default(),
        json.get(e4..).unwrap_or_default(),
    ];
    let mut out = Vec::with_capacity(HEADER + json.len());
    out.extend_from_slice(&issue.project_integration_id.get().to_le_bytes());
    out.extend_from_slice(&issue.project_id.get().to_le_bytes());
    out.extend_from_slice(&issue.tenant_id.get().to_le_bytes());
    let mut end = 0u32;
    for p in parts.iter().take(3) {
        end += p.len() as u32;
        out.extend_from_slice(&end.to_le_bytes());
    }
    for p in parts {
        out.extend_from_slice(p);
    }
    Ok(out)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<usize> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize)
}

/// The link, project and tenant of a stored row (whose names it shows); `None` if the bytes
/// are not a row.
pub fn list_row_keys(row: &[u8]) -> Option<(LinkId, ProjectId, TenantId)> {
    Some((
        LinkId(u64_at(row, 0)?),
        ProjectId(u64_at(row, 8)?),
        TenantId(u64_at(row, 16)?),
    ))
}

/// The names a row shows, as JSON fragments (escaped once per answer, not per issue).
#[derive(Debug, Clone, Default)]
pub struct RowNames {
    /// `<integration id>,"integration_name":"<name>"`
    integration: Vec<u8>,
    /// `"<project name>",` then `"provider":"<provider>","provider_key":"<lower case>"`
    project_provider: Vec<u8>,
    /// `"<tenant name>"`
    tenant: Vec<u8>,
}

/// The fragments of a link's integration (`None` when the link or integration is gone: id 0
/// and empty names, as `IssueView` shows it).
pub fn integration_fragment(
    integration: Option<(&str, IntegrationId, &str)>,
) -> serde_json::Result<(Vec<u8>, Vec<u8>)> {
    let (provider, id, name) = integration.unwrap_or(("", IntegrationId(0), ""));
    let mut a = id.get().to_string().into_bytes();
    a.extend_from_slice(b",\"integration_name\":");
    serde_json::to_writer(&mut a, name)?;
    let mut p = b",\"provider\":".to_vec();
    serde_json::to_writer(&mut p, provider)?;
    p.extend_from_slice(b",\"provider_key\":");
    serde_json::to_writer(&mut p, &provider.to_lowercase())?;
    Ok((a, p))
}

impl RowNames {
    /// The names from their fragments: the integration's (`integration_fragment`) and the
    /// project's and tenant's names.
    pub fn new(
        integration: &(Vec<u8>, Vec<u8>),
        project_name: &str,
        tenant_name: &str,
    ) -> serde_json::Result<Self> {
        let mut project_provider = serde_json::to_vec(project_name)?;
        project_provider.extend_from_slice(&integration.1);
        Ok(RowNames {
            integration: integration.0.clone(),
            project_provider,
            tenant: serde_json::to_vec(tenant_name)?,
        })
    }
}

/// Append a stored row with its names to `out` (the bytes `write_list_item` writes for the
/// same issue and names). `false` when the bytes are not a row (nothing appended).
pub fn splice_list_row(row: &[u8], names: &RowNames, out: &mut Vec<u8>) -> bool {
    let (Some(e1), Some(e2), Some(e3)) = (u32_at(row, 24), u32_at(row, 28), u32_at(row, 32)) else {
        return false;
    };
    let Some(body) = row.get(HEADER..) else {
        return false;
    };
    let (Some(a), Some(b), Some(c), Some(d)) = (
        body.get(..e1),
        body.get(e1..e2),
        body.get(e2..e3),
        body.get(e3..),
    ) else {
        return false;
    };
    out.reserve(body.len() + 128);
    out.extend_from_slice(a);
    out.extend_from_slice(&names.integration);
    out.extend_from_slice(b);
    out.extend_from_slice(&names.project_provider);
    out.extend_from_slice(c);
    out.extend_from_slice(&names.tenant);
    out.extend_from_slice(d);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Comment;

    fn issue(n: u64) -> ExternalIssue {
        let t: crate::domain::Timestamp = "2026-01-02T03:04:05.123456Z".parse().unwrap();
        ExternalIssue {
            id: n.into(),
            project_integration_id: 9.into(),
            project_id: (10 + n).into(),
            tenant_id: 20.into(),
            external_id: format!("PROJ-{n}"),
            // Text that looks like the keys the row is cut at, inside strings.
            title: "a ,\"labels\": b ,\\\"title\\\": \u{0}".into(),
            status: n.is_multiple_of(2).then(|| "In Progress".into()),
            assignee: Some(",\"status\":".into()),
            assignee_key: None,
            url: None,
            labels: vec![",\"project_name\":".into(), "ü".into()],
            comments: vec![Comment {
                id: Some(",\"tenant_name\":".into()),
                author: "z".into(),
                body: ",\"provider\":\n".into(),
                created_at: None,
                url: None,
            }],
            body: Some("never listed".into()),
            external_updated_at: None,
            last_seen_at: None,
            missing_upstream: n.is_multiple_of(3),
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn a_spliced_row_is_the_item_written_with_its_names() {
        for n in 0..4 {
            let i = issue(n);
            let (status_key, status_label) = normalize_status(i.status.as_deref());
            let named = (n % 2 == 0).then_some(("GitHub", IntegrationId(7), "gh \"main\" </x>"));
            let view = IssueView {
                issue: i.clone(),
                status_key,
                status_label,
                provider: named.map_or("", |x| x.0).into(),
                integration_id: named.map_or(IntegrationId(0), |x| x.1),
                integration_name: named.map_or("", |x| x.2).into(),
                project_name: format!("proj \"{n}\" ,\"tenant_name\":"),
                tenant_name: "t\u{e9}nant".into(),
                pinned_at: None,
            };
            let mut want = Vec::new();
            write_list_item(&mut want, &view).unwrap();

            let row = render_list_row(&i).unwrap();
            assert_eq!(
                list_row_keys(&row),
                Some((i.project_integration_id, i.project_id, i.tenant_id))
            );
            let names = RowNames::new(
                &integration_fragment(named).unwrap(),
                &view.project_name,
                &view.tenant_name,
            )
            .unwrap();
            let mut got = b"x".to_vec();
            assert!(splice_list_row(&row, &names, &mut got));
            assert_eq!(
                String::from_utf8(got[1..].to_vec()).unwrap(),
                String::from_utf8(want).unwrap()
            );
        }
    }

    #[test]
    fn bytes_that_are_not_a_row_splice_nothing() {
        let names = RowNames::default();
        let mut out = Vec::new();
        assert!(!splice_list_row(b"{\"id\":1}", &names, &mut out));
        assert!(!splice_list_row(&[0u8; HEADER - 1], &names, &mut out));
        let mut bad = vec![0u8; HEADER];
        bad[24] = 200; // a part end past the end
        assert!(!splice_list_row(&bad, &names, &mut out));
        assert!(out.is_empty());
        assert_eq!(list_row_keys(b"short"), None);
    }
}
