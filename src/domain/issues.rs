//! Tracker rules with no I/O: status normalisation, timestamps, base URLs, identifiers,
//! Jira transition choice, credential precedence and @mention rewriting; the issue list's
//! filter, order and paging, and the shape of a listed issue (`IssueView`).

use super::ids::{IntegrationId, ProjectId, TenantId};
use super::model::{ExternalIssue, Timestamp};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

pub const PROVIDERS: [&str; 3] = ["github", "gitlab", "jira"];
/// Comments kept per issue (newest first).
pub const MAX_COMMENTS_PER_ISSUE: usize = 20;
pub const MAX_STATUS_LEN: usize = 128;

const OPEN_PHRASES: &[&str] = &[
    "to do",
    "in progress",
    "in review",
    "under review",
    "ready for work",
    "ready for review",
    "needs review",
    "awaiting review",
];
const OPEN_TOKENS: &[&str] = &[
    "open", "opened", "offen", "todo", "doing", "backlog", "triage", "ready", "progress", "review",
    "active", "blocked", "pending",
];
const CLOSED_PHRASES: &[&str] = &[
    "ready for release",
    "ready for deploy",
    "ready for deployment",
    "won't fix",
    "wont fix",
    "won't do",
    "won't merge",
    "no longer needed",
];
const CLOSED_TOKENS: &[&str] = &[
    "closed",
    "done",
    "resolved",
    "fixed",
    "complete",
    "completed",
    "finished",
    "merged",
    "shipped",
    "deployed",
    "released",
    "cancelled",
    "canceled",
    "rejected",
    "declined",
];

/// `(status_key, status_label)` for a raw upstream status.
///
/// Same token and phrase sets as the original, with one deliberate fix: the closed *phrases*
/// ("ready for release", "won't fix", …) are checked before the open tokens, so
/// "Ready for release" is closed (the original let the token `ready` win, making those phrases
/// unreachable).
pub fn normalize_status(raw: Option<&str>) -> (String, String) {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return ("__none__".into(), "Unspecified".into());
    };
    let spaced = raw.replace(['_', '-'], " ");
    let phrase = spaced
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let tokens: Vec<&str> = phrase
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|t| !t.is_empty())
        .collect();
    if CLOSED_PHRASES.contains(&phrase.as_str()) {
        return ("closed".into(), "Closed".into());
    }
    if OPEN_PHRASES.contains(&phrase.as_str()) || tokens.iter().any(|t| OPEN_TOKENS.contains(t)) {
        return ("open".into(), "Open".into());
    }
    if tokens.iter().any(|t| CLOSED_TOKENS.contains(t)) {
        return ("closed".into(), "Closed".into());
    }
    let key = tokens.join("_");
    let label = spaced
        .split_whitespace()
        .map(|w| {
            if w.chars().any(char::is_lowercase) || !w.chars().any(char::is_alphabetic) {
                let mut c = w.chars();
                match c.next() {
                    Some(f) => f
                        .to_uppercase()
                        .chain(c.flat_map(char::to_lowercase))
                        .collect(),
                    None => String::new(),
                }
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    (key, label)
}

/// Lenient timestamp parsing for upstream values: RFC 3339, `Z`, Jira's `+0000`, naive = UTC.
pub fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    None
}

/// ISO-8601 UTC with `+00:00`, the stored comment form.
pub fn iso(t: &Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

pub fn default_base_url(provider: &str) -> Option<&'static str> {
    match provider {
        "github" => Some("https://api.github.com"),
        "gitlab" => Some("https://gitlab.com"),
        _ => None,
    }
}

/// Normalise a tracker base URL: default per provider, `https://` when no scheme, a host is
/// required, query/fragment dropped, trailing `/` removed, any path kept (GitHub Enterprise).
pub fn ensure_base_url(provider: &str, base: Option<&str>) -> Result<String, String> {
    let given = base.map(str::trim).filter(|s| !s.is_empty());
    let raw = match (given, default_base_url(provider)) {
        (Some(b), _) => b.to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) => return Err("Jira integration requires a base URL.".into()),
    };
    let with_scheme = if raw.contains("://") {
        raw
    } else {
        format!("https://{raw}")
    };
    let mut url = reqwest::Url::parse(&with_scheme)
        .map_err(|e| format!("Invalid base URL '{with_scheme}': {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "Base URL must use http or https, not '{}'",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("Base URL must include a hostname.".into());
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Where a project's repository lives on a code host: its host name (lower case, no port) and
/// its path without `.git` (`org/repo`, `group/sub/repo`). Reads `https://host[:port]/path`,
/// `ssh://[user@]host[:port]/path` and scp-like `user@host:path`; None for local paths and
/// `file:` URLs (no host to open a pull request on).
pub fn repo_location(repo_url: &str) -> Option<(String, String)> {
    let raw = repo_url.trim();
    let (host, path) = if raw.contains("://") {
        let u = reqwest::Url::parse(raw).ok()?;
        if !matches!(u.scheme(), "http" | "https" | "ssh" | "git") {
            return None;
        }
        (u.host_str()?.to_string(), u.path().to_string())
    } else {
        // scp-like: `[user@]host:path` (a `/` before the `:` makes it a local path)
        let (left, path) = raw.split_once(':')?;
        if left.contains('/') || left.is_empty() {
            return None;
        }
        let host = left.rsplit_once('@').map_or(left, |(_, h)| h);
        (host.to_string(), path.to_string())
    };
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path).trim_matches('/');
    if host.is_empty() || path.is_empty() {
        return None;
    }
    Some((host.to_ascii_lowercase(), path.to_string()))
}

/// For a GitHub or GitLab integration whose API is at `base_url` (None: the provider's default),
/// the tracker identifier of a repository at `host`/`path`, when the repository lives on that
/// host (`github.com` for `api.github.com`; ports are ignored): `owner/repo` (GitHub's last two
/// path parts) or GitLab's whole `group/sub/repo`. None: another host.
pub fn code_host_identifier(
    provider: &str,
    base_url: Option<&str>,
    host: &str,
    path: &str,
) -> Option<String> {
    let base = ensure_base_url(provider, base_url).ok()?;
    let api_host = reqwest::Url::parse(&base)
        .ok()?
        .host_str()?
        .to_ascii_lowercase();
    let same = api_host == host || (api_host == "api.github.com" && host == "github.com");
    if !same {
        return None;
    }
    match provider {
        "github" => {
            let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
            match parts.as_slice() {
                [.., owner, repo] => Some(format!("{owner}/{repo}")),
                _ => None,
            }
        }
        "gitlab" => Some(path.to_string()),
        _ => None,
    }
}

pub fn validate_provider(p: &str) -> Result<String, String> {
    let p = p.trim().to_lowercase();
    if PROVIDERS.contains(&p.as_str()) {
        Ok(p)
    } else {
        Err(format!(
            "Unsupported issue provider '{p}'. Use one of: github, gitlab, jira."
        ))
    }
}

/// GitHub issue numbers: trim, strip a leading `#`, must be a positive integer.
pub fn github_number(external_id: &str) -> Result<u64, String> {
    external_id
        .trim()
        .trim_start_matches('#')
        .parse::<u64>()
        .map_err(|_| "GitHub issue identifier must be a number.".to_string())
}

/// `owner/repo`, both parts non-empty and without spaces.
pub fn github_repo(identifier: &str) -> Result<(String, String), String> {
    let id = identifier.trim().trim_matches('/');
    match id.split_once('/') {
        Some((o, r)) if !o.is_empty() && !r.is_empty() && !r.contains('/') && !id.contains(' ') => {
            Ok((o.to_string(), r.to_string()))
        }
        _ => Err("GitHub project integration requires an owner/repo identifier.".into()),
    }
}

/// The transition to close (or reopen) a Jira issue: the configured name first (a real priority,
/// unlike the original), then the usual names, compared trimmed and lower-cased.
pub fn pick_transition<'a>(
    transitions: &'a [(String, String)],
    preferred: Option<&str>,
    closing: bool,
) -> Option<&'a str> {
    let defaults: &[&str] = if closing {
        &[
            "done",
            "closed",
            "close issue",
            "resolve issue",
            "resolved",
            "complete",
        ]
    } else {
        &[
            "reopen",
            "reopen issue",
            "re-open",
            "to do",
            "open",
            "in progress",
            "backlog",
        ]
    };
    let mut candidates: Vec<String> = Vec::new();
    if let Some(p) = preferred
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
    {
        candidates.push(p);
    }
    candidates.extend(defaults.iter().map(|s| s.to_string()));
    candidates.iter().find_map(|c| {
        transitions
            .iter()
            .find(|(_, name)| name.trim().to_lowercase() == *c)
            .map(|(id, _)| id.as_str())
    })
}

/// The local manual status edit: trimmed, blank = none, at most 128 characters.
pub fn validate_status_update(s: &str) -> Result<Option<String>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > MAX_STATUS_LEN {
        return Err("Status must be 128 characters or fewer.".into());
    }
    Ok(Some(s.to_string()))
}

/// Comma-separated labels: trimmed, blanks dropped, duplicates removed (order kept).
pub fn parse_labels(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in s.split(',').map(str::trim).filter(|l| !l.is_empty()) {
        if !out.iter().any(|o| o == l) {
            out.push(l.to_string());
        }
    }
    out
}

/// Effective tracker credentials after applying overrides (user > project > tenant).
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub token: String,
    pub base_url: Option<String>,
    pub settings: Value,
    /// Where the token came from: "user", "project" or "tenant".
    pub token_source: &'static str,
}

/// Shallow-merge `over` into `base` (objects only; anything else is ignored).
fn merge(base: &mut Value, over: Option<&Value>) {
    if let (Some(b), Some(Value::Object(o))) = (base.as_object_mut(), over) {
        for (k, v) in o {
            b.insert(k.clone(), v.clone());
        }
    }
}

pub struct Layer<'a> {
    pub token: Option<&'a str>,
    pub base_url: Option<&'a str>,
    pub settings: Option<&'a Value>,
}

/// Tenant values, then project overrides (token, base URL, settings), then the user's personal
/// credential (token and settings; a user can never change the base URL).
pub fn effective_credentials(
    tenant: Layer<'_>,
    project: Option<Layer<'_>>,
    user: Option<Layer<'_>>,
) -> Effective {
    let mut e = Effective {
        token: tenant.token.unwrap_or_default().to_string(),
        base_url: tenant
            .base_url
            .filter(|s| !s.trim().is_empty())
            .map(String::from),
        settings: match tenant.settings {
            Some(Value::Object(o)) => Value::Object(o.clone()),
            _ => Value::Object(Default::default()),
        },
        token_source: "tenant",
    };
    if let Some(p) = project {
        if let Some(t) = p.token.filter(|t| !t.trim().is_empty()) {
            e.token = t.to_string();
            e.token_source = "project";
        }
        if let Some(b) = p.base_url.filter(|b| !b.trim().is_empty()) {
            e.base_url = Some(b.to_string());
        }
        merge(&mut e.settings, p.settings);
    }
    if let Some(u) = user {
        if let Some(t) = u.token.filter(|t| !t.trim().is_empty()) {
            e.token = t.to_string();
            e.token_source = "user";
        }
        merge(&mut e.settings, u.settings);
    }
    e
}

/// Rewrite `@"Full Name"`, `@name`, `@first.last` and `@first_last` into Jira's
/// `[~accountid:ID]` using `lookup` (given a lower-cased name). Unknown names and e-mail
/// addresses are left alone. Returns the new body and the `(mention, account id)` pairs used.
pub fn resolve_mentions(
    body: &str,
    mut lookup: impl FnMut(&str) -> Option<String>,
) -> (String, Vec<(String, String)>) {
    let mut out = String::with_capacity(body.len());
    let mut used = Vec::new();
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let prev_is_word = i
            .checked_sub(1)
            .and_then(|p| chars.get(p))
            .is_some_and(|&p| p.is_alphanumeric() || p == '.');
        if c == '@' && !prev_is_word {
            // @"Quoted Name"
            if chars.get(i + 1) == Some(&'"') {
                let quoted = chars.get(i + 2..).unwrap_or_default();
                if let Some(end) = quoted.iter().position(|&c| c == '"') {
                    let name: String = quoted.iter().take(end).collect();
                    if let Some(id) = lookup(&name.to_lowercase()) {
                        out.push_str(&format!("[~accountid:{id}]"));
                        used.push((name, id));
                        i += end + 3;
                        continue;
                    }
                }
            } else {
                let mut j = i + 1;
                while chars
                    .get(j)
                    .is_some_and(|&c| c.is_alphanumeric() || c == '.' || c == '_')
                {
                    j += 1;
                }
                let mut token: String = chars.get(i + 1..j).unwrap_or_default().iter().collect();
                // A sentence-ending dot is not part of the name.
                while token.ends_with('.') {
                    token.pop();
                    j -= 1;
                }
                if !token.is_empty() {
                    let lower = token.to_lowercase();
                    let found = lookup(&lower).or_else(|| {
                        let spaced = lower.replace(['.', '_'], " ");
                        (spaced != lower).then(|| lookup(&spaced)).flatten()
                    });
                    if let Some(id) = found {
                        out.push_str(&format!("[~accountid:{id}]"));
                        used.push((token, id));
                        i = j;
                        continue;
                    }
                }
            }
        }
        out.push(c);
        i += 1;
    }
    (out, used)
}

/// The example every cron message shows.
const CRON_HINT: &str = "use 5 fields (minute hour day month weekday), e.g. '*/15 * * * *'";

/// A crontab line (5 fields, or 6 with seconds first) in the scheduler's form: 6 fields, seconds
/// first, the weekday field spelled out as the `cron` crate's day names.
///
/// Crontab numbers weekdays 0-7 (0 and 7 = Sunday, 1 = Monday); the `cron` crate numbers them
/// 1-7 from Sunday, so the weekday field is never passed through: `*`/`?` stay, anything else
/// (numbers, names in any case, lists, ranges, steps) becomes an explicit list like `Mon,Wed,Fri`.
/// Times are UTC.
pub fn cron_expression(s: &str) -> Result<String, String> {
    let s = s.trim();
    let fields: Vec<&str> = s.split_whitespace().collect();
    let (seconds, rest) = match fields.as_slice() {
        [m, h, dom, mon, dow] => ("0", [*m, *h, *dom, *mon, *dow]),
        [sec, m, h, dom, mon, dow] => (*sec, [*m, *h, *dom, *mon, *dow]),
        [_, _, _, _, _, _, _] => {
            return Err(format!(
                "'{s}' has 7 fields, but a year field is not supported: {CRON_HINT}, or 6 with seconds first"
            ));
        }
        _ => return Err(format!("'{s}' is not a cron expression: {CRON_HINT}")),
    };
    let [minute, hour, day_of_month, month, weekday] = rest;
    let weekdays = crontab_weekdays(weekday)
        .map_err(|e| format!("'{s}' is not a valid cron expression: {e}"))?;
    let expr = format!("{seconds} {minute} {hour} {day_of_month} {month} {weekdays}");
    expr.parse::<cron::Schedule>()
        .map_err(|e| format!("'{s}' is not a valid cron expression: {e}"))?;
    Ok(expr)
}

/// The `cron` crate's day names, Sunday first (crontab's 0).
const DAY_NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// One crontab weekday: 0-7 (0 and 7 are Sunday) or a name (`mon`, `monday`, any case; `sun`
/// is 0).
fn crontab_day(v: &str) -> Result<u8, String> {
    Ok(match v.to_ascii_lowercase().as_str() {
        "sun" | "sunday" => 0,
        "mon" | "monday" => 1,
        "tue" | "tues" | "tuesday" => 2,
        "wed" | "wednesday" => 3,
        "thu" | "thur" | "thurs" | "thursday" => 4,
        "fri" | "friday" => 5,
        "sat" | "saturday" => 6,
        n => match n.parse::<u8>() {
            Ok(n) if n <= 7 => n,
            _ => {
                return Err(format!(
                    "'{v}' is not a weekday (use 0-7, where 0 and 7 are Sunday, or sun, mon, … sat)"
                ));
            }
        },
    })
}

/// The weekday field as the `cron` crate reads it: `*` for every day, else day names.
fn crontab_weekdays(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok("*".into());
    }
    let mut days = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, st)) => match st.parse::<u8>() {
                Ok(n) if n >= 1 => (r, n),
                _ => {
                    return Err(format!(
                        "weekday step '{item}' needs a number of days of 1 or more after '/'"
                    ));
                }
            },
            None => (item, 1),
        };
        let (first, last) = match range {
            "*" | "?" => (0, 6),
            "" => return Err(format!("weekday list '{field}' has an empty item")),
            r => match r.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (crontab_day(a)?, crontab_day(b)?);
                    // A range ending on Sunday runs to the end of the week: `fri-sun` = 5-7.
                    (a, if b == 0 && a > 0 { 7 } else { b })
                }
                // `a/n` runs from `a` to the end of the week; a single day is just itself.
                None => {
                    let a = crontab_day(r)?;
                    (a, if item.contains('/') { a.max(6) } else { a })
                }
            },
        };
        if first > last {
            return Err(format!(
                "weekday range '{range}' runs backwards (write it as e.g. mon-fri or 1-5)"
            ));
        }
        for d in (first..=last).step_by(usize::from(step)) {
            if let Some(day) = days.get_mut(usize::from(d % 7)) {
                *day = true;
            }
        }
    }
    if days.iter().all(|d| *d) {
        return Ok("*".into());
    }
    Ok(DAY_NAMES
        .iter()
        .zip(days)
        .filter(|(_, on)| *on)
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(","))
}

// ---- issue lists: filters, order and paging -----------------------------------------------

/// The status filter's index key (`issues_by_status` is keyed by `normalize_status(..).0`):
/// the value is normalised the same way, so `OPEN`, `Open`, `opened` and `To Do` all select the
/// `open` key, and `Waiting on Customer` selects `waiting_on_customer` (as does the key itself).
/// `None` for no filter: blank or `all` (any case). `__none__` (any case) is the blank-status key.
pub fn status_filter_key(raw: &str) -> Option<String> {
    let s = raw.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("all") {
        return None;
    }
    if s.eq_ignore_ascii_case("__none__") {
        return Some("__none__".into());
    }
    Some(normalize_status(Some(s)).0)
}

/// The provider filter: lower case, `None` for blank or `all` (any case).
pub fn provider_filter(raw: &str) -> Option<String> {
    let p = raw.trim().to_lowercase();
    (!p.is_empty() && p != "all").then_some(p)
}

/// A stored issue with the names a list or page shows beside it (looked up when read, so a
/// renamed project or integration shows its new name).
#[derive(Debug, Clone)]
pub struct IssueView {
    pub issue: ExternalIssue,
    pub status_key: String,
    pub status_label: String,
    /// The integration's provider as stored (`github`, `gitlab`, `jira`); empty when the
    /// issue's link or integration is gone.
    pub provider: String,
    pub integration_id: IntegrationId,
    pub integration_name: String,
    pub project_name: String,
    pub tenant_name: String,
    pub pinned_at: Option<Timestamp>,
}

/// What an issue list asks for (as the API and the web UI give it; checked and resolved by
/// the planner, `store::ReadTxn::plan_issues`).
#[derive(Debug, Default, Clone)]
pub struct IssueFilter {
    pub status: Option<String>,
    pub provider: Option<String>,
    pub project_id: Option<ProjectId>,
    pub tenant_id: Option<TenantId>,
    pub integration_id: Option<IntegrationId>,
    pub assignee: Option<String>,
    pub labels: Vec<String>,
    /// Case-insensitive substring of title or external id (web UI search).
    pub q: Option<String>,
    /// Page size; `None` = every matching issue.
    pub limit: Option<usize>,
    pub offset: usize,
    pub sort: IssueSort,
}

/// The order of an issue list, by aiops id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IssueSort {
    /// Oldest first (ascending id): the original's order and the API's default.
    #[default]
    IdAsc,
    /// Newest first (descending id), as the web UI shows them.
    IdDesc,
}

/// The values `sort` accepts.
pub const SORT_VALUES: [&str; 2] = ["id", "-id"];

/// The `sort` parameter: absent or blank = `id` (ascending); `id` or `-id` (newest first).
pub fn parse_sort(raw: Option<&str>) -> Result<IssueSort, String> {
    match raw.map(str::trim) {
        None | Some("") | Some("id") => Ok(IssueSort::IdAsc),
        Some("-id") => Ok(IssueSort::IdDesc),
        Some(other) => Err(format!(
            "sort '{other}' is not supported: use one of {} (id = oldest first, the default; -id = newest first)",
            SORT_VALUES.join(", ")
        )),
    }
}

/// The `limit` parameter: absent = no limit (every matching issue); otherwise a positive count,
/// with no maximum.
pub fn validate_limit(raw: Option<i64>) -> Result<Option<usize>, String> {
    match raw {
        None => Ok(None),
        Some(n) if n >= 1 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        Some(n) => Err(format!(
            "limit must be a positive number of issues (got {n}); leave it out to get every issue"
        )),
    }
}

/// The `offset` parameter: absent = 0; otherwise 0 or more.
pub fn validate_offset(raw: Option<i64>) -> Result<usize, String> {
    match raw {
        None => Ok(0),
        Some(n) if n >= 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        Some(n) => Err(format!(
            "offset must be 0 or more (got {n}): it is the number of matching issues to skip"
        )),
    }
}

/// The relative URL of the page after this one, or `None` when there is none (no limit, or
/// this page reaches the end). Every query parameter except `offset` and `limit` is kept, in
/// order and re-encoded; `offset` and `limit` come last.
pub fn next_page_link(
    path: &str,
    query: &str,
    offset: usize,
    limit: Option<usize>,
    total: usize,
) -> Option<String> {
    let limit = limit?;
    let next = offset.saturating_add(limit);
    if next >= total {
        return None;
    }
    // `url`'s form encoding (through reqwest's re-export); the base is only a carrier.
    let mut u = reqwest::Url::parse("http://aiops.invalid/").ok()?;
    u.set_query(Some(query));
    let kept: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| k != "offset" && k != "limit")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    u.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("offset", &next.to_string())
        .append_pair("limit", &limit.to_string());
    Some(format!("{path}?{}", u.query().unwrap_or_default()))
}

/// The `Link` header value for a next-page URL.
pub fn link_header(next: &str) -> String {
    format!("<{next}>; rel=\"next\"")
}

pub const DEFAULT_SYNC_CRON: &str = "*/15 * * * *";

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn status_normalisation_table() {
        let cases: &[(Option<&str>, &str, &str)] = &[
            (None, "__none__", "Unspecified"),
            (Some("   "), "__none__", "Unspecified"),
            (Some("opened"), "open", "Open"),
            (Some("Offen"), "open", "Open"),
            (Some("To Do"), "open", "Open"),
            (Some("In Progress"), "open", "Open"),
            (Some("Done"), "closed", "Closed"),
            (Some("merged"), "closed", "Closed"),
            (Some("Won't Fix"), "closed", "Closed"),
            (Some("won_t_fix"), "won_t_fix", "Won T Fix"),
            (Some("QA"), "qa", "QA"),
            (Some("IN_QA"), "in_qa", "IN QA"),
            (Some("Unresolved"), "unresolved", "Unresolved"),
            (
                Some("Waiting for customer"),
                "waiting_for_customer",
                "Waiting For Customer",
            ),
            (Some("closed"), "closed", "Closed"),
            (Some("Blocked"), "open", "Open"),
            (Some("Cancelled"), "closed", "Closed"),
        ];
        for (raw, key, label) in cases {
            assert_eq!(
                normalize_status(*raw),
                (key.to_string(), label.to_string()),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn ready_for_release_is_closed_deliberately() {
        // The original answered "open" because the token `ready` won; the closed phrase now wins.
        assert_eq!(normalize_status(Some("Ready for release")).0, "closed");
        assert_eq!(normalize_status(Some("Ready for review")).0, "open");
        assert_eq!(normalize_status(Some("ready")).0, "open");
    }

    #[test]
    fn timestamps_in_upstream_forms() {
        let want = Utc.with_ymd_and_hms(2024, 10, 1, 12, 34, 0).unwrap();
        assert_eq!(parse_timestamp("2024-10-01T12:34:00Z"), Some(want));
        assert_eq!(parse_timestamp("2024-10-01T12:34:00.000+0000"), Some(want));
        assert_eq!(parse_timestamp("2024-10-01T14:34:00+02:00"), Some(want));
        assert_eq!(parse_timestamp("2024-10-01T12:34:00"), Some(want));
        assert_eq!(parse_timestamp("not a date"), None);
        assert_eq!(parse_timestamp(""), None);
        assert_eq!(
            iso(&Utc.with_ymd_and_hms(2024, 1, 1, 10, 0, 0).unwrap()),
            "2024-01-01T10:00:00+00:00"
        );
    }

    #[test]
    fn base_urls() {
        assert_eq!(
            ensure_base_url("github", None).unwrap(),
            "https://api.github.com"
        );
        assert_eq!(
            ensure_base_url("gitlab", Some(" ")).unwrap(),
            "https://gitlab.com"
        );
        assert_eq!(
            ensure_base_url("github", Some("ghe.example/api/v3/?x=1#f")).unwrap(),
            "https://ghe.example/api/v3"
        );
        assert_eq!(
            ensure_base_url("jira", Some("http://127.0.0.1:9000/")).unwrap(),
            "http://127.0.0.1:9000"
        );
        assert!(
            ensure_base_url("jira", None)
                .unwrap_err()
                .contains("base URL")
        );
        assert!(ensure_base_url("jira", Some("ftp://x")).is_err());
    }

    #[test]
    fn providers_and_identifiers() {
        assert_eq!(validate_provider(" GitHub ").unwrap(), "github");
        assert!(
            validate_provider("bitbucket")
                .unwrap_err()
                .contains("Unsupported issue provider")
        );
        assert_eq!(github_number(" #42 ").unwrap(), 42);
        assert_eq!(
            github_number("PROJ-1").unwrap_err(),
            "GitHub issue identifier must be a number."
        );
        assert_eq!(
            github_repo("octo/hello").unwrap(),
            ("octo".into(), "hello".into())
        );
        assert!(github_repo("octo").is_err());
        assert!(github_repo("a/b/c").is_err());
    }

    #[test]
    fn jira_transition_choice() {
        let t = vec![
            ("20".to_string(), "In Progress".to_string()),
            ("30".to_string(), "Done".to_string()),
            ("40".to_string(), "Closed".to_string()),
        ];
        assert_eq!(pick_transition(&t, None, true), Some("30"));
        // The configured name really wins now.
        assert_eq!(pick_transition(&t, Some("closed"), true), Some("40"));
        let review = vec![("5".to_string(), "Review".to_string())];
        assert_eq!(pick_transition(&review, None, true), None);
        assert_eq!(pick_transition(&t, None, false), Some("20"));
    }

    #[test]
    fn status_update_validation() {
        assert_eq!(
            validate_status_update("  In Progress  ")
                .unwrap()
                .as_deref(),
            Some("In Progress")
        );
        assert_eq!(validate_status_update("   ").unwrap(), None);
        assert_eq!(
            validate_status_update(&"x".repeat(129)).unwrap_err(),
            "Status must be 128 characters or fewer."
        );
        assert!(validate_status_update(&"x".repeat(128)).is_ok());
    }

    #[test]
    fn labels_are_trimmed_and_deduplicated() {
        assert_eq!(parse_labels(" bug, ,ui,bug "), vec!["bug", "ui"]);
        assert!(parse_labels("").is_empty());
    }

    #[test]
    fn credential_precedence_user_over_project_over_tenant() {
        let ts = serde_json::json!({"username": "tenant@x", "timeout": 5});
        let ps = serde_json::json!({"username": "project@x"});
        let us = serde_json::json!({"username": "me@x"});
        let tenant = || Layer {
            token: Some("t-tenant"),
            base_url: Some("https://jira.example"),
            settings: Some(&ts),
        };
        let e = effective_credentials(tenant(), None, None);
        assert_eq!((e.token.as_str(), e.token_source), ("t-tenant", "tenant"));
        let e = effective_credentials(
            tenant(),
            Some(Layer {
                token: Some("t-project"),
                base_url: Some("https://other"),
                settings: Some(&ps),
            }),
            None,
        );
        assert_eq!(e.token, "t-project");
        assert_eq!(e.base_url.as_deref(), Some("https://other"));
        assert_eq!(e.settings["username"], "project@x");
        assert_eq!(e.settings["timeout"], 5);
        let e = effective_credentials(
            tenant(),
            Some(Layer {
                token: Some(""),
                base_url: None,
                settings: None,
            }),
            Some(Layer {
                token: Some("t-user"),
                base_url: Some("https://evil"),
                settings: Some(&us),
            }),
        );
        assert_eq!((e.token.as_str(), e.token_source), ("t-user", "user"));
        assert_eq!(
            e.base_url.as_deref(),
            Some("https://jira.example"),
            "users cannot move the base URL"
        );
        assert_eq!(e.settings["username"], "me@x");
    }

    #[test]
    fn mentions_are_rewritten_when_known() {
        let people = |n: &str| match n {
            "alice" | "alice smith" => Some("5b10a2844c20165700ede21g".to_string()),
            "bob jones" => Some("bob-1".to_string()),
            _ => None,
        };
        let (out, used) = resolve_mentions(
            "Hi @alice, @bob.jones and @\"Alice Smith\"; mail me@example.com, ask @nobody.",
            people,
        );
        assert_eq!(
            out,
            "Hi [~accountid:5b10a2844c20165700ede21g], [~accountid:bob-1] and [~accountid:5b10a2844c20165700ede21g]; mail me@example.com, ask @nobody."
        );
        assert_eq!(used.len(), 3);
        let (same, none) = resolve_mentions("no mentions here", people);
        assert_eq!(same, "no mentions here");
        assert!(none.is_empty());
    }

    #[test]
    fn cron_expressions() {
        assert_eq!(cron_expression("*/15 * * * *").unwrap(), "0 */15 * * * *");
        assert_eq!(cron_expression("*/2 * * * * *").unwrap(), "*/2 * * * * *");
        assert_eq!(
            cron_expression(" 0 3 * * 1-5 ").unwrap(),
            "0 0 3 * * Mon,Tue,Wed,Thu,Fri"
        );
        assert!(cron_expression("every hour").is_err());
        assert!(cron_expression("99 * * * *").is_err());
    }

    /// The next `n` runs of a crontab line after `from`, as "Mon 05 03:00:00" (UTC).
    fn runs(crontab: &str, from: DateTime<Utc>, n: usize) -> Vec<String> {
        let expr = cron_expression(crontab).unwrap_or_else(|e| panic!("{crontab}: {e}"));
        let schedule: cron::Schedule = expr.parse().unwrap();
        schedule
            .after(&from)
            .take(n)
            .map(|t| t.format("%a %d %H:%M:%S").to_string())
            .collect()
    }

    /// Saturday 2026-01-03 12:00 UTC.
    fn saturday() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 3, 12, 0, 0).unwrap()
    }

    fn days(crontab: &str, n: usize) -> Vec<String> {
        runs(crontab, saturday(), n)
            .into_iter()
            .map(|r| r[..3].to_string())
            .collect()
    }

    #[test]
    fn crontab_weekdays_mean_what_crontab_says() {
        // Monday-Friday from a Saturday: the following Monday 03:00 first.
        assert_eq!(
            runs("0 3 * * 1-5", saturday(), 6),
            [
                "Mon 05 03:00:00",
                "Tue 06 03:00:00",
                "Wed 07 03:00:00",
                "Thu 08 03:00:00",
                "Fri 09 03:00:00",
                "Mon 12 03:00:00"
            ]
        );
        // 0 and 7 are both Sunday.
        assert_eq!(
            runs("0 3 * * 0", saturday(), 2),
            ["Sun 04 03:00:00", "Sun 11 03:00:00"]
        );
        assert_eq!(
            runs("* * * * 7", saturday(), 2),
            ["Sun 04 00:00:00", "Sun 04 00:01:00"]
        );
        assert_eq!(days("0 3 * * 7", 2), ["Sun", "Sun"]);
        // Names in any case, alone and in ranges.
        for mon in ["mon", "MON", "Mon", "monday", "1"] {
            assert_eq!(
                runs(&format!("0 3 * * {mon}"), saturday(), 1),
                ["Mon 05 03:00:00"],
                "{mon}"
            );
        }
        assert_eq!(days("0 3 * * sun", 1), ["Sun"]);
        assert_eq!(
            days("0 3 * * MON-FRI", 6),
            ["Mon", "Tue", "Wed", "Thu", "Fri", "Mon"]
        );
        assert_eq!(
            days("0 3 * * mon-fri", 5),
            days("0 3 * * 1-5", 5),
            "names and numbers agree"
        );
        // Lists, ranges ending at 7 (or Sunday), steps.
        assert_eq!(days("0 3 * * 1,3,5", 4), ["Mon", "Wed", "Fri", "Mon"]);
        assert_eq!(days("0 3 * * 5-7", 4), ["Sun", "Fri", "Sat", "Sun"]);
        assert_eq!(days("0 3 * * fri-sun", 4), ["Sun", "Fri", "Sat", "Sun"]);
        assert_eq!(days("0 3 * * 6,0", 3), ["Sun", "Sat", "Sun"]);
        assert_eq!(
            days("0 3 * * */2", 5),
            ["Sun", "Tue", "Thu", "Sat", "Sun"],
            "*/2 = Sun, Tue, Thu, Sat"
        );
        assert_eq!(days("0 3 * * 1-5/2", 4), ["Mon", "Wed", "Fri", "Mon"]);
        assert_eq!(days("0 3 * * 3/2", 3), ["Wed", "Fri", "Wed"]);
        assert_eq!(days("0 3 * * 1-2,sat", 3), ["Mon", "Tue", "Sat"]);
        assert_eq!(days("0 3 * * 0-0", 2), ["Sun", "Sun"]);
        assert_eq!(days("0 3 * * 7-7", 2), ["Sun", "Sun"]);
        // Every day: `*`, `?`, and ranges covering the week.
        for every in ["*", "?", "0-6", "1-7", "0-7", "*/1", "sun-sat"] {
            assert_eq!(
                cron_expression(&format!("0 3 * * {every}")).unwrap(),
                "0 0 3 * * *",
                "{every}"
            );
        }
        assert_eq!(
            days("0 3 * * *", 3),
            ["Sun", "Mon", "Tue"],
            "from Saturday noon"
        );
        // Six fields: seconds first, the weekday translated the same way.
        assert_eq!(runs("30 0 3 * * 1", saturday(), 1), ["Mon 05 03:00:30"]);
        assert_eq!(
            cron_expression("*/5 * * * * MON-WED").unwrap(),
            "*/5 * * * * Mon,Tue,Wed"
        );
        // The scheduler reads the same form.
        let next = crate::services::scheduler::next_after(
            &cron_expression("0 3 * * 1-5").unwrap(),
            saturday(),
        );
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 1, 5, 3, 0, 0).single());
    }

    #[test]
    fn bad_weekdays_and_seven_fields_are_refused_clearly() {
        let err = |s: &str| cron_expression(s).unwrap_err();
        assert!(
            err("0 3 * * 8").contains("'8' is not a weekday"),
            "{}",
            err("0 3 * * 8")
        );
        assert!(err("0 3 * * funday").contains("not a weekday"));
        assert!(err("0 3 * * fri-mon").contains("runs backwards"));
        assert!(err("0 3 * * 5-1").contains("runs backwards"));
        assert!(err("0 3 * * */0").contains("step"));
        assert!(err("0 3 * * 1,,2").contains("empty item"));
        assert!(err("0 3 * * 1-").contains("not a weekday"));
        assert!(err("0 3 * * 1-5/x").contains("step"));
        assert!(err("0 3 * * 8").starts_with("'0 3 * * 8' is not a valid cron expression: "));
        let seven = err("0 0 3 * * 1 2026");
        assert!(
            seven.starts_with("'0 0 3 * * 1 2026' has 7 fields")
                && seven
                    .contains("use 5 fields (minute hour day month weekday), e.g. '*/15 * * * *'"),
            "{seven}"
        );
        assert!(err("* * * *").contains("is not a cron expression: use 5 fields"));
    }

    #[test]
    fn status_filter_matches_the_index_keys_in_any_case() {
        for raw in ["open", "OPEN", "Open", " opened ", "To Do", "In Progress"] {
            assert_eq!(status_filter_key(raw).as_deref(), Some("open"), "{raw}");
        }
        for raw in ["closed", "Closed", "CLOSED", "Done"] {
            assert_eq!(status_filter_key(raw).as_deref(), Some("closed"), "{raw}");
        }
        // A custom status and its own key select the same key, the one stored for it.
        let stored = normalize_status(Some("Waiting on Customer")).0;
        assert_eq!(stored, "waiting_on_customer");
        for raw in [
            "Waiting on Customer",
            "waiting_on_customer",
            "WAITING-ON-CUSTOMER",
        ] {
            assert_eq!(status_filter_key(raw), Some(stored.clone()), "{raw}");
        }
        assert_eq!(
            status_filter_key("won_t_fix"),
            Some(normalize_status(Some("won_t_fix")).0)
        );
        assert_eq!(status_filter_key("__NONE__").as_deref(), Some("__none__"));
        assert_eq!(status_filter_key("all"), None);
        assert_eq!(status_filter_key("ALL"), None);
        assert_eq!(status_filter_key("  "), None);
        assert_eq!(provider_filter(" GitHub ").as_deref(), Some("github"));
        assert_eq!(provider_filter("All"), None);
        assert_eq!(provider_filter(""), None);
    }

    #[test]
    fn sort_parsing() {
        assert_eq!(parse_sort(None), Ok(IssueSort::IdAsc));
        assert_eq!(parse_sort(Some("")), Ok(IssueSort::IdAsc));
        assert_eq!(parse_sort(Some("id")), Ok(IssueSort::IdAsc));
        assert_eq!(parse_sort(Some(" -id ")), Ok(IssueSort::IdDesc));
        assert_eq!(IssueSort::default(), IssueSort::IdAsc);
        for v in SORT_VALUES {
            assert!(parse_sort(Some(v)).is_ok(), "{v}");
        }
        for bad in ["bogus", "ID", "-created_at", "+id"] {
            let e = parse_sort(Some(bad)).unwrap_err();
            assert!(
                e.contains(&format!("'{bad}'")) && e.contains("id, -id"),
                "{e}"
            );
        }
    }

    #[test]
    fn limit_and_offset_validation() {
        assert_eq!(validate_limit(None), Ok(None));
        assert_eq!(validate_limit(Some(1)), Ok(Some(1)));
        assert_eq!(validate_limit(Some(100_000)), Ok(Some(100_000)));
        assert_eq!(
            validate_limit(Some(i64::MAX)),
            Ok(Some(usize::try_from(i64::MAX).unwrap_or(usize::MAX)))
        );
        for bad in [0, -1, i64::MIN] {
            let e = validate_limit(Some(bad)).unwrap_err();
            assert!(
                e.contains("positive") && e.contains(&bad.to_string()),
                "{e}"
            );
        }
        assert_eq!(validate_offset(None), Ok(0));
        assert_eq!(validate_offset(Some(0)), Ok(0));
        assert_eq!(validate_offset(Some(7)), Ok(7));
        assert!(validate_offset(Some(-1)).unwrap_err().contains("0 or more"));
    }

    #[test]
    fn next_page_links() {
        let p = "/api/v1/issues";
        // No limit, or the last page: no link.
        assert_eq!(next_page_link(p, "status=open", 0, None, 1000), None);
        assert_eq!(next_page_link(p, "limit=10", 90, Some(10), 100), None);
        assert_eq!(next_page_link(p, "", 0, Some(10), 5), None);
        assert_eq!(next_page_link(p, "", 0, Some(10), 0), None);
        // Every other parameter kept, in order; offset and limit replaced, last.
        assert_eq!(
            next_page_link(p, "status=open&limit=10&sort=-id&offset=0", 0, Some(10), 11).as_deref(),
            Some("/api/v1/issues?status=open&sort=-id&offset=10&limit=10")
        );
        assert_eq!(
            next_page_link(p, "", 20, Some(10), 31).as_deref(),
            Some("/api/v1/issues?offset=30&limit=10")
        );
        // Values are re-encoded: nothing can close the <…> of the Link header or add a line.
        let n = next_page_link(p, "q=a%3E%0D%0Ab+c&labels=x,y", 0, Some(1), 2).unwrap();
        assert_eq!(
            n,
            "/api/v1/issues?q=a%3E%0D%0Ab+c&labels=x%2Cy&offset=1&limit=1"
        );
        assert_eq!(link_header(&n), format!("<{n}>; rel=\"next\""));
        // No overflow at the end of the range.
        assert_eq!(next_page_link(p, "", usize::MAX, Some(5), usize::MAX), None);
    }

    #[test]
    fn a_repository_url_names_its_code_host_and_path() {
        let cases = [
            (
                "git@github.com:octo/repo.git",
                Some(("github.com", "octo/repo")),
            ),
            (
                "https://GitHub.com/octo/repo",
                Some(("github.com", "octo/repo")),
            ),
            (
                "ssh://git@gitlab.example.com:2222/group/sub/repo.git/",
                Some(("gitlab.example.com", "group/sub/repo")),
            ),
            (
                "gitlab.example.com:group/repo.git",
                Some(("gitlab.example.com", "group/repo")),
            ),
            ("/srv/git/repo.git", None),
            ("./repo:x", None),
            ("file:///srv/git/repo.git", None),
            ("https://github.com/", None),
        ];
        for (url, want) in cases {
            let got = repo_location(url);
            let want = want.map(|(h, p)| (h.to_string(), p.to_string()));
            assert_eq!(got, want, "{url}");
        }
    }

    #[test]
    fn a_code_host_integration_matches_its_own_host_only() {
        assert_eq!(
            code_host_identifier("github", None, "github.com", "octo/repo").as_deref(),
            Some("octo/repo")
        );
        assert_eq!(
            code_host_identifier(
                "github",
                Some("https://ghe.corp:8443/api/v3"),
                "ghe.corp",
                "srv/git/octo/repo"
            )
            .as_deref(),
            Some("octo/repo")
        );
        assert_eq!(
            code_host_identifier("gitlab", None, "gitlab.com", "g/sub/repo").as_deref(),
            Some("g/sub/repo")
        );
        assert_eq!(
            code_host_identifier("github", None, "gitlab.com", "a/b"),
            None
        );
        assert_eq!(
            code_host_identifier("gitlab", None, "github.com", "a/b"),
            None
        );
        assert_eq!(
            code_host_identifier("jira", Some("https://j.example"), "j.example", "a/b"),
            None
        );
        assert_eq!(
            code_host_identifier("github", None, "github.com", "lonely"),
            None
        );
    }
}
