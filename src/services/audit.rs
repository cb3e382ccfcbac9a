//! The audit log: every identified write, through the API (`api::gate`) or the web UI
//! (`web::audit`), recorded with the same fields and the same redaction; and the admin's view of
//! it (names instead of ids, filters, paging newest first).

use crate::auth::Identity;
use crate::config::Config;
use crate::domain::rules::redact;
use crate::domain::{AuditEntry, AuditSource, Id, Timestamp, UserId};
use crate::error::{AppError, AppResult};
use crate::store::ReadTxn;
use crate::store::Store;
use crate::store::accounts::AccountReads;
use crate::store::decode;
use chrono::NaiveDate;
use serde::Deserialize;
use std::sync::Arc;

/// The audit log: recording and reading.
pub struct Audit {
    pub(crate) store: Arc<Store>,
    pub(crate) config: Arc<Config>,
}

impl Audit {
    /// Append one entry. Never fails the request: errors are logged.
    pub fn record_audit(&self, mut entry: AuditEntry) {
        let res = (|| -> AppResult<()> {
            let w = self.store.write()?;
            let len = w.append_audit(&mut entry)?;
            w.commit()?;
            // The row cap holds between the scheduler's hourly runs too (with 10% slack).
            let max = self.config.audit_max_rows;
            if len > max + max / 10 {
                self.apply_audit_retention()?;
            }
            Ok(())
        })();
        if let Err(e) = res {
            tracing::error!(error = %e, "could not write audit entry");
        }
    }

    /// Remove entries older than the retention and beyond the row cap (oldest first), at
    /// most 100,000 per call so one transaction stays small. Returns how many went.
    pub(crate) fn apply_audit_retention(&self) -> AppResult<u64> {
        let cutoff = crate::domain::model::now()
            - chrono::Duration::days(self.config.audit_retention_days as i64);
        let w = self.store.write()?;
        let removed = w.prune_audit(cutoff, self.config.audit_max_rows, 100_000)?;
        w.commit()?;
        if removed > 0 {
            tracing::info!(removed, "audit log retention applied");
        }
        Ok(removed)
    }

    /// Newest first. Admins only.
    pub fn list_audit(
        &self,
        caller: &Identity,
        limit: usize,
        offset: usize,
    ) -> AppResult<(Vec<AuditEntry>, u64)> {
        caller.require_admin()?;
        let r = self.store.read()?;
        let total = r.audit_len()?;
        Ok((r.audit_newest(offset, limit)?, total))
    }

    /// The admin's audit page: the entries matching `filter`, newest first, with names instead
    /// of ids (resolved in the same read transaction), and the users to filter by. Admins only.
    ///
    /// Without a filter only the page's rows are decoded. With one, rows are read newest first
    /// through a small view of each (no body), at most `AUDIT_SCAN_CAP` of them: beyond that
    /// the count is a lower bound (`complete` false) and the page says to narrow the dates.
    pub fn audit_view(
        &self,
        caller: &Identity,
        filter: &AuditFilter,
        limit: usize,
        offset: usize,
    ) -> AppResult<AuditPage> {
        caller.require_admin()?;
        let limit = limit.clamp(1, 500);
        let r = self.store.read()?;
        let mut entries: Vec<AuditEntry> = Vec::with_capacity(limit);
        let (total, complete) = if filter.is_empty() {
            entries = r.audit_newest(offset, limit)?;
            (r.audit_len()?, true)
        } else {
            let mut matched = 0u64;
            let mut complete = true;
            let mut scanned = 0usize;
            r.scan_audit_newest(|v| {
                if scanned >= AUDIT_SCAN_CAP {
                    complete = false;
                    return Ok(false);
                }
                scanned += 1;
                let Ok(lite) = serde_json::from_slice::<LiteEntry>(v) else {
                    return Ok(true);
                };
                if !filter.matches(&lite) {
                    return Ok(true);
                }
                if matched >= offset as u64 && entries.len() < limit {
                    entries.push(decode(v)?);
                }
                matched += 1;
                Ok(true)
            })?;
            (matched, complete)
        };
        let mut rows = Vec::with_capacity(entries.len());
        for e in entries {
            rows.push(view_row(&r, e)?);
        }
        let mut users: Vec<(UserId, String)> =
            r.users()?.into_iter().map(|u| (u.id, u.email)).collect();
        users.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(AuditPage {
            rows,
            total,
            complete,
            users,
        })
    }
}

/// How many rows a filtered audit view reads at most (newest first).
pub const AUDIT_SCAN_CAP: usize = 200_000;

/// One audit entry as the admin reads it.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub entry: AuditEntry,
    /// `tenant.create`, `project.update`, `key.revoke`, … (`describe`).
    pub action: String,
    /// The caller's email, "system", or "deleted user #N".
    pub user: String,
    /// The API key's name (or "deleted key #N") when a key made the call.
    pub key: Option<String>,
    /// What the change was about: "tenant Acme", "project deleted #12", "tenant Beta (new)".
    pub targets: Vec<String>,
    pub ok: bool,
}

pub struct AuditPage {
    pub rows: Vec<AuditRow>,
    /// Entries matching the filter (every entry without one).
    pub total: u64,
    /// False when the scan stopped at `AUDIT_SCAN_CAP`: `total` is then a lower bound.
    pub complete: bool,
    /// (id, email) of every user, for the filter.
    pub users: Vec<(UserId, String)>,
}

fn view_row(r: &ReadTxn, entry: AuditEntry) -> AppResult<AuditRow> {
    let body_action = (entry.source == AuditSource::Web)
        .then(|| {
            entry
                .request_body
                .as_ref()
                .and_then(|b| b.get("action"))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .flatten();
    let d = describe(&entry.method, &entry.path, body_action.as_deref());
    let user = match entry.user_id {
        None | Some(UserId(0)) => "system".to_string(),
        Some(id) => label(r, "user", id.get())?.unwrap_or_else(|| format!("deleted user #{id}")),
    };
    let key = match entry.api_key_id {
        None => None,
        Some(id) => {
            Some(label(r, "key", id.get())?.unwrap_or_else(|| format!("deleted key #{id}")))
        }
    };
    let mut targets = Vec::new();
    let mut seen: Vec<(&str, Id)> = Vec::new();
    let body = entry.request_body.as_ref();
    let refs = d
        .refs
        .iter()
        .copied()
        .chain(body.map(body_refs).unwrap_or_default());
    for (kind, id) in refs {
        if seen.contains(&(kind, id)) {
            continue;
        }
        seen.push((kind, id));
        targets.push(match label(r, kind, id)? {
            Some(name) => format!("{} {name}", kind_label(kind)),
            None if has_table(kind) => format!("{} deleted #{id}", kind_label(kind)),
            None => format!("{} #{id}", kind_label(kind)),
        });
    }
    if d.action.ends_with(".create")
        && let Some(name) = body.and_then(|b| body_label(b, d.kind()))
    {
        targets.push(format!("{} {name} (new)", kind_label(d.kind())));
    }
    Ok(AuditRow {
        ok: entry.status < 400,
        action: d.action,
        user,
        key,
        targets,
        entry,
    })
}

fn kind_label(kind: &str) -> String {
    match kind {
        "key" => "API key".into(),
        k => k.replace('_', " "),
    }
}

fn has_table(kind: &str) -> bool {
    crate::store::audit::target_fields(kind).is_some()
}

/// The display name of row `id` of `kind`, or None when it is gone (or the kind has no table).
fn label(r: &ReadTxn, kind: &str, id: Id) -> AppResult<Option<String>> {
    let Some(fields) = crate::store::audit::target_fields(kind) else {
        return Ok(None);
    };
    let Some(row) = r.audit_target_row(kind, id)? else {
        return Ok(None);
    };
    Ok(Some(
        row_label(&row, fields).unwrap_or_else(|| format!("#{id}")),
    ))
}

/// The first non-empty string of `fields` in a stored row.
pub fn row_label(row: &serde_json::Value, fields: &[&str]) -> Option<String> {
    fields.iter().find_map(|f| {
        row.get(*f)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(80).collect())
    })
}

/// Ids a request body points at (`tenant_id`, `project_id`, `owner_id`, …), as (kind, id).
/// Numbers or numeric strings (form fields are strings).
pub fn body_refs(body: &serde_json::Value) -> Vec<(&'static str, Id)> {
    const FIELDS: [(&str, &str); 7] = [
        ("tenant_id", "tenant"),
        ("current_tenant_id", "tenant"),
        ("project_id", "project"),
        ("owner_id", "owner"),
        ("user_id", "user"),
        ("integration_id", "integration"),
        ("ssh_key_id", "ssh_key"),
    ];
    let Some(o) = body.as_object() else {
        return Vec::new();
    };
    FIELDS
        .iter()
        .filter_map(|(field, kind)| {
            let v = o.get(*field)?;
            let id = v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))?;
            (id > 0).then_some((*kind, id))
        })
        .collect()
}

/// The name a create request gives the new thing of `kind` (a user's or member's email, else
/// `name`, `title`, `host`).
pub fn body_label(body: &serde_json::Value, kind: &str) -> Option<String> {
    let fields: &[&str] = match kind {
        "user" | "member" => &["email", "name"],
        _ => &["name", "title", "host", "email"],
    };
    row_label(body, fields).filter(|s| s != REDACTED)
}

// ---- naming actions ---------------------------------------------------------------------------

/// What a request did, named the same whichever channel it came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// `<kind>.<verb>`: `tenant.create`, `project.update`, `member.delete`, `git.push`, …
    pub action: String,
    /// The (kind, id) pairs in the path, outermost first.
    pub refs: Vec<(&'static str, Id)>,
}

impl Described {
    pub fn kind(&self) -> &str {
        self.action.split('.').next().unwrap_or("")
    }
}

/// Path segments that name a collection, and the kind of its items. `parent` is the kind seen
/// so far (`/integrations/:id/projects` are links, not projects).
fn collection(seg: &str, parent: Option<&str>) -> Option<&'static str> {
    Some(match seg {
        "tenants" => "tenant",
        "projects" if parent == Some("integration") => "link",
        "projects" => "project",
        "users" => "user",
        "keys" => "key",
        "integrations" => "integration",
        "project-integrations" | "links" => "link",
        "issues" => "issue",
        "members" => "member",
        "sessions" => "session",
        "runs" => "ansible_run",
        "schedules" => "ansible_schedule",
        "backups" => "backup",
        "backup-schedule" => "backup_schedule",
        "ssh-keys" | "ssh-key" => "ssh_key",
        "known-hosts" => "known_host",
        "comments" => "comment",
        "integration-credentials" | "credentials" => "credential",
        "branches" => "branch",
        _ => return None,
    })
}

/// The same verb for the same change: the web's `/edit`, "save" and "role" are the API's
/// update, "new" its create, "remove" its delete.
fn normalize_verb(v: &str) -> String {
    match v {
        "edit" | "save" | "role" => "update".into(),
        "new" => "create".into(),
        "remove" => "delete".into(),
        other => other.replace('-', "_"),
    }
}

fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-')
}

/// Name a write from its method and path (API paths with or without `/api/v1`, web paths as
/// routed). `form_action` is a web form's `action` field (members' "role"/"remove", backups'
/// "create"/"schedule"), used when the path itself names no verb.
pub fn describe(method: &str, path: &str, form_action: Option<&str>) -> Described {
    let method = method.to_ascii_uppercase();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let segs: &[&str] = match segs.as_slice() {
        ["api", "v1", rest @ ..] | ["api", rest @ ..] => rest,
        all => all,
    };
    let mut kind: Option<String> = None;
    let mut refs = Vec::new();
    let mut verb: Option<String> = None;
    let mut after: Option<&'static str> = None;
    let mut ends_in_collection = false;
    let n = segs.len();
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == n;
        if matches!(*seg, "admin" | "auth" | "ai") && !last {
            continue;
        }
        if let Some(k) = collection(seg, kind.as_deref()) {
            kind = Some(k.to_string());
            after = Some(k);
            ends_in_collection = last;
            continue;
        }
        if let Some(c) = after.take() {
            if let Ok(id) = seg.parse::<Id>() {
                refs.push((c, id));
                continue;
            }
            if !last {
                // A non-numeric key (a session key): an item, not a verb.
                continue;
            }
        }
        if last {
            verb = Some(seg.to_string());
        } else {
            kind = Some(seg.replace('-', "_"));
        }
    }
    let by_method = |ends_in_collection: bool| match method.as_str() {
        "POST" if ends_in_collection => "create".to_string(),
        "POST" | "PUT" | "PATCH" => "update".to_string(),
        "DELETE" => "delete".to_string(),
        m => m.to_ascii_lowercase(),
    };
    let verb = match (kind.is_some(), verb) {
        (false, Some(v)) => {
            // A lone word: `/account`, `/login`, `/auth/identity`.
            kind = Some(v.replace('-', "_"));
            by_method(false)
        }
        (true, Some(v)) if method == "DELETE" => match v.as_str() {
            "pin" => "unpin".into(),
            other => format!("{}_delete", normalize_verb(other)),
        },
        (true, Some(v)) => normalize_verb(&v),
        (_, None) => match form_action.filter(|a| is_word(a)) {
            Some(a) if method == "POST" => normalize_verb(a),
            _ => by_method(ends_in_collection),
        },
    };
    let kind = kind.unwrap_or_else(|| "request".into());
    let action = match (method.as_str(), kind.as_str(), verb.as_str()) {
        ("POST", "login", _) => "session.login".to_string(),
        ("POST", "logout", _) => "session.logout".to_string(),
        ("POST", "setup", _) => "setup.complete".to_string(),
        ("POST", "ansible", "update") => "ansible_run.create".to_string(),
        ("POST", "settings", "agents") | ("PUT", "agents", "global") => "agents.update".into(),
        ("DELETE", "agents", _) => "agents.reset".to_string(),
        ("ATTACH", "session", _) => "session.attach".to_string(),
        _ => format!("{kind}.{verb}"),
    };
    Described { action, refs }
}

// ---- what is kept of a body -------------------------------------------------------------------

/// What a redacted value reads as (the same text as `domain::rules::redact` writes).
pub const REDACTED: &str = "***REDACTED***";

/// What is kept of a request body in the audit log: the redacted JSON when small, else its
/// size and top-level field names.
pub const AUDIT_BODY_MAX: usize = 4096;

/// Redact a body for the audit log (the API's JSON and the web's forms alike): secret-named
/// fields (`domain::rules::redact`), any value that looks like an API key or a private key
/// whatever its field is called; capped at `AUDIT_BODY_MAX`.
pub fn audit_body(body: serde_json::Value) -> serde_json::Value {
    let mut b = body;
    redact(&mut b);
    redact_secret_values(&mut b);
    let size = b.to_string().len();
    if size <= AUDIT_BODY_MAX {
        return b;
    }
    let fields: Vec<String> = b
        .as_object()
        .map(|o| o.keys().take(50).cloned().collect())
        .unwrap_or_default();
    serde_json::json!({"_truncated": true, "_bytes": size, "_fields": fields})
}

fn looks_secret(s: &str) -> bool {
    let s = s.trim();
    let api_key = s.len() >= 20
        && s.strip_prefix("aiops_")
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_hexdigit()));
    api_key || s.contains("PRIVATE KEY")
}

fn redact_secret_values(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if looks_secret(s) => {
            *s = REDACTED.to_string();
        }
        serde_json::Value::Object(map) => map.values_mut().for_each(redact_secret_values),
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_secret_values),
        _ => {}
    }
}

/// Form fields that hold passwords under names the API never uses (the account page's
/// "current" / "new" / "confirm").
const FORM_SECRET_FIELDS: [&str; 3] = ["current", "new", "confirm"];

/// A web form body (`application/x-www-form-urlencoded`) as the JSON object the API would
/// have been sent (a repeated field becomes an array), then `audit_body`. The CSRF token is
/// left out and every password field redacted.
pub fn form_audit_body(bytes: &[u8]) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (k, v) in form_pairs(bytes) {
        // The CSRF token is how the form proved itself, not part of the change.
        if k == "csrf_token" {
            continue;
        }
        let v = if FORM_SECRET_FIELDS.contains(&k.as_str()) {
            serde_json::Value::String(REDACTED.into())
        } else {
            serde_json::Value::String(v)
        };
        match map.get_mut(k.as_str()) {
            Some(serde_json::Value::Array(items)) => items.push(v),
            Some(prev) => {
                let first = prev.take();
                *prev = serde_json::Value::Array(vec![first, v]);
            }
            None => {
                map.insert(k, v);
            }
        }
    }
    audit_body(serde_json::Value::Object(map))
}

/// The (name, value) pairs of an `application/x-www-form-urlencoded` body (`+` is a space,
/// `%XX` a byte; invalid UTF-8 is replaced).
pub fn form_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    fn decode(s: &[u8]) -> String {
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while let Some(&c) = s.get(i) {
            match c {
                b'+' => out.push(b' '),
                b'%' if i + 2 < s.len() => {
                    match s
                        .get(i + 1..i + 3)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                    {
                        Some(b) => {
                            out.push(b);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    bytes
        .split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut kv = p.splitn(2, |b| *b == b'=');
            match (kv.next(), kv.next()) {
                (Some(k), Some(v)) => (decode(k), decode(v)),
                _ => (decode(p), String::new()),
            }
        })
        .collect()
}

// ---- filters ----------------------------------------------------------------------------------

/// Whose entries to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserFilter {
    /// Entries with no user (the server itself).
    System,
    User(UserId),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub user: Option<UserFilter>,
    /// An action (`tenant.create`), a kind (`tenant`: every tenant action) or a verb (`delete`).
    pub action: Option<String>,
    pub source: Option<AuditSource>,
    /// Some(true): succeeded (status < 400); Some(false): failed.
    pub ok: Option<bool>,
    /// Inclusive UTC dates.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// The filter fields as a form sends them (empty = any).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditFilterInput {
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub outcome: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
}

impl AuditFilter {
    /// Parse the form's fields; a bad one is a 400 that names it and what it takes.
    pub fn parse(input: &AuditFilterInput) -> AppResult<AuditFilter> {
        let t = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let user = match t(&input.user).as_deref() {
            None => None,
            Some("system") => Some(UserFilter::System),
            Some(s) => Some(UserFilter::User(s.parse().map_err(|_| {
                AppError::BadRequest(format!(
                    "user: '{s}' is not a user id; pick a user from the list (or 'system')"
                ))
            })?)),
        };
        let action = t(&input.action).map(|a| a.to_ascii_lowercase());
        if let Some(a) = &action
            && !a
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        {
            return Err(AppError::BadRequest(format!(
                "action: '{a}' is not an action name; use e.g. tenant.create, tenant or delete"
            )));
        }
        let source = match t(&input.source).as_deref() {
            None => None,
            Some("api") => Some(AuditSource::Api),
            Some("web") => Some(AuditSource::Web),
            Some(s) => {
                return Err(AppError::BadRequest(format!(
                    "source: '{s}' is not a source; use api or web"
                )));
            }
        };
        let ok = match t(&input.outcome).as_deref() {
            None => None,
            Some("ok") => Some(true),
            Some("failed") => Some(false),
            Some(s) => {
                return Err(AppError::BadRequest(format!(
                    "outcome: '{s}' is not an outcome; use ok or failed"
                )));
            }
        };
        let date = |name: &str, v: &str| -> AppResult<Option<NaiveDate>> {
            t(v).map(|s| {
                NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|_| {
                    AppError::BadRequest(format!(
                        "{name}: '{s}' is not a date; use YYYY-MM-DD (e.g. 2026-12-01)"
                    ))
                })
            })
            .transpose()
        };
        let from = date("from", &input.from)?;
        let to = date("to", &input.to)?;
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(AppError::BadRequest(format!(
                "from ({f}) is after to ({t}); swap the dates"
            )));
        }
        Ok(AuditFilter {
            user,
            action,
            source,
            ok,
            from,
            to,
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == AuditFilter::default()
    }

    /// Whether `action` is what the filter asks for: the same name, its kind, or its verb.
    pub fn action_matches(want: &str, action: &str) -> bool {
        let (kind, verb) = action.split_once('.').unwrap_or((action, ""));
        want == action || want == kind || want == verb
    }

    fn matches(&self, e: &LiteEntry) -> bool {
        if let Some(u) = self.user {
            let ok = match (u, e.user_id) {
                (UserFilter::System, None | Some(UserId(0))) => true,
                (UserFilter::User(want), Some(got)) => want == got,
                _ => false,
            };
            if !ok {
                return false;
            }
        }
        if self.source.is_some_and(|s| s != e.source) {
            return false;
        }
        if self.ok.is_some_and(|ok| ok != (e.status < 400)) {
            return false;
        }
        let day = e.created_at.date_naive();
        if self.from.is_some_and(|f| day < f) || self.to.is_some_and(|t| day > t) {
            return false;
        }
        if let Some(want) = &self.action {
            let form_action = (e.source == AuditSource::Web)
                .then_some(e.request_body.0.as_deref())
                .flatten();
            let d = describe(&e.method, &e.path, form_action);
            if !Self::action_matches(want, &d.action) {
                return false;
            }
        }
        true
    }

    /// The filter as URL query pairs (for the pager's links).
    pub fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        match self.user {
            Some(UserFilter::System) => q.push(("user", "system".to_string())),
            Some(UserFilter::User(id)) => q.push(("user", id.to_string())),
            None => {}
        }
        if let Some(a) = &self.action {
            q.push(("action", a.clone()));
        }
        if let Some(s) = self.source {
            q.push(("source", s.as_str().to_string()));
        }
        if let Some(ok) = self.ok {
            q.push(("outcome", if ok { "ok" } else { "failed" }.to_string()));
        }
        if let Some(f) = self.from {
            q.push(("from", f.to_string()));
        }
        if let Some(t) = self.to {
            q.push(("to", t.to_string()));
        }
        q
    }
}

/// The fields a filter reads, decoded without the rest of the row (the body is skipped but
/// for a web form's `action` field).
#[derive(Deserialize)]
struct LiteEntry {
    #[serde(default)]
    user_id: Option<UserId>,
    method: String,
    path: String,
    status: u16,
    #[serde(default)]
    source: AuditSource,
    created_at: Timestamp,
    #[serde(default)]
    request_body: FormAction,
}

/// The `action` string of a JSON object body, everything else skipped unread.
#[derive(Default)]
struct FormAction(Option<String>);

impl<'de> Deserialize<'de> for FormAction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FormAction;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FormAction, A::Error> {
                let mut out = None;
                while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if k == "action" {
                        let v: serde_json::Value = map.next_value()?;
                        out = v.as_str().map(str::to_string);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(FormAction(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FormAction, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FormAction(None))
            }
            fn visit_unit<E>(self) -> Result<FormAction, E> {
                Ok(FormAction(None))
            }
            fn visit_none<E>(self) -> Result<FormAction, E> {
                Ok(FormAction(None))
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<FormAction, D::Error> {
                d.deserialize_any(V)
            }
            fn visit_bool<E>(self, _: bool) -> Result<FormAction, E> {
                Ok(FormAction(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<FormAction, E> {
                Ok(FormAction(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<FormAction, E> {
                Ok(FormAction(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<FormAction, E> {
                Ok(FormAction(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<FormAction, E> {
                Ok(FormAction(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_api_and_the_web_name_the_same_change_alike() {
        let cases: &[(&str, &str, Option<&str>, &str)] = &[
            ("POST", "/api/v1/tenants", None, "tenant.create"),
            ("POST", "/tenants", None, "tenant.create"),
            ("PATCH", "/api/v1/tenants/3", None, "tenant.update"),
            ("POST", "/tenants/3/edit", None, "tenant.update"),
            ("DELETE", "/api/v1/projects/4", None, "project.delete"),
            ("POST", "/projects/4/delete", None, "project.delete"),
            ("POST", "/api/v1/auth/keys", None, "key.create"),
            ("POST", "/keys", None, "key.create"),
            ("POST", "/keys/5/revoke", None, "key.revoke"),
            ("PATCH", "/api/v1/users/2", None, "user.update"),
            ("POST", "/users/2", None, "user.update"),
            ("POST", "/users/2/delete", None, "user.delete"),
            ("POST", "/api/v1/tenants/1/members", None, "member.create"),
            ("POST", "/tenants/1/members", None, "member.create"),
            (
                "DELETE",
                "/api/v1/tenants/1/members/7",
                None,
                "member.delete",
            ),
            (
                "POST",
                "/tenants/1/members/7",
                Some("remove"),
                "member.delete",
            ),
            (
                "PATCH",
                "/api/v1/projects/1/members/7",
                None,
                "member.update",
            ),
            (
                "POST",
                "/projects/1/members/7",
                Some("role"),
                "member.update",
            ),
            (
                "POST",
                "/api/v1/projects/1/workspace/init",
                None,
                "workspace.init",
            ),
            ("POST", "/projects/1/workspace/init", None, "workspace.init"),
            ("POST", "/api/v1/projects/1/git/push", None, "git.push"),
            (
                "POST",
                "/api/v1/projects/1/git/branches",
                None,
                "branch.create",
            ),
            (
                "POST",
                "/api/v1/integrations/2/projects",
                None,
                "link.create",
            ),
            ("POST", "/integrations/2/links/9/sync", None, "link.sync"),
            ("POST", "/api/v1/issues/sync", None, "issue.sync"),
            ("POST", "/issues/new", None, "issue.create"),
            ("DELETE", "/api/v1/issues/8/pin", None, "issue.unpin"),
            (
                "POST",
                "/api/v1/projects/1/ai/sessions",
                None,
                "session.create",
            ),
            ("POST", "/sessions/ab12cd/kill", None, "session.kill"),
            ("ATTACH", "/sessions/5/terminal", None, "session.attach"),
            ("POST", "/api/v1/admin/ssh-keys", None, "ssh_key.create"),
            ("POST", "/ssh-keys/3/delete", None, "ssh_key.delete"),
            ("PUT", "/api/v1/projects/1/ssh-key", None, "ssh_key.update"),
            ("POST", "/known-hosts/scan", None, "known_host.scan"),
            ("POST", "/api/v1/system/backups", None, "backup.create"),
            ("POST", "/admin/backups", Some("create"), "backup.create"),
            ("POST", "/admin/backups/4/restore", None, "backup.restore"),
            (
                "PUT",
                "/api/v1/system/backup-schedule",
                None,
                "backup_schedule.update",
            ),
            ("POST", "/api/v1/system/restart", None, "system.restart"),
            ("POST", "/api/v1/ansible/runs", None, "ansible_run.create"),
            ("POST", "/ansible", None, "ansible_run.create"),
            ("POST", "/ansible/runs/3/cancel", None, "ansible_run.cancel"),
            ("PUT", "/api/v1/auth/identity", None, "identity.update"),
            ("POST", "/account", None, "account.update"),
            ("POST", "/login", None, "session.login"),
            ("POST", "/logout", None, "session.logout"),
            ("POST", "/setup", None, "setup.complete"),
            ("PUT", "/api/v1/agents/global", None, "agents.update"),
            ("POST", "/settings/agents", Some("save"), "agents.update"),
            (
                "POST",
                "/account/trackers/credentials/3/delete",
                None,
                "credential.delete",
            ),
        ];
        for (m, p, a, want) in cases {
            assert_eq!(describe(m, p, *a).action, *want, "{m} {p} {a:?}");
        }
    }

    #[test]
    fn paths_name_their_targets() {
        let d = describe("POST", "/tenants/3/members/7", Some("remove"));
        assert_eq!(d.refs, vec![("tenant", 3), ("member", 7)]);
        assert_eq!(d.kind(), "member");
        assert_eq!(
            describe("PATCH", "/api/v1/issues/8/comments/2", None).refs,
            vec![("issue", 8), ("comment", 2)]
        );
        // A session key is an item, never a verb or a target id.
        assert_eq!(describe("POST", "/sessions/ab12/kill", None).refs, vec![]);
        assert_eq!(describe("POST", "/tenants", None).refs, vec![]);
    }

    #[test]
    fn bodies_point_at_targets_and_name_new_things() {
        let form = json!({"tenant_id": "2", "owner_id": 5, "project_id": "", "name": "Web"});
        assert_eq!(body_refs(&form), vec![("tenant", 2), ("owner", 5)]);
        assert_eq!(body_label(&form, "project").as_deref(), Some("Web"));
        let user = json!({"email": "a@b.c", "name": "A"});
        assert_eq!(body_label(&user, "user").as_deref(), Some("a@b.c"));
        assert_eq!(body_label(&user, "tenant").as_deref(), Some("A"));
        assert_eq!(body_label(&json!({"name": REDACTED}), "tenant"), None);
        assert_eq!(body_refs(&json!([1, 2])), vec![]);
        let row = json!({"name": "  ", "email": "x@y.z"});
        assert_eq!(
            row_label(&row, &["name", "email"]).as_deref(),
            Some("x@y.z")
        );
    }

    #[test]
    fn form_bodies_decode_and_lose_their_secrets() {
        assert_eq!(
            form_pairs(b"a=1+2&b=%C3%A9%2F&c&d=%zz&=e"),
            vec![
                ("a".into(), "1 2".into()),
                ("b".into(), "é/".into()),
                ("c".into(), String::new()),
                ("d".into(), "%zz".into()),
                (String::new(), "e".into()),
            ]
        );
        let b = form_audit_body(
            b"csrf_token=t0k&password=p4ss&current=c1&new=n1&confirm=n1&api_token=ghp_x\
              &private_key_content=k&scopes=read&scopes=write&name=ok",
        );
        for f in ["password", "current", "new", "confirm", "api_token"] {
            assert_eq!(b[f], REDACTED, "{f}");
        }
        assert!(b.get("csrf_token").is_none(), "{b}");
        assert_eq!(b["private_key_content"], REDACTED);
        assert_eq!(b["scopes"], json!(["read", "write"]));
        assert_eq!(b["name"], "ok");
    }

    #[test]
    fn secret_values_are_redacted_whatever_their_field() {
        let key = format!("aiops_{}", "ab".repeat(32));
        let b = audit_body(json!({
            "note": key,
            "deep": [{"x": "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA"}],
            "plain": "aiops_is_a_word",
        }));
        assert_eq!(b["note"], REDACTED);
        assert_eq!(b["deep"][0]["x"], REDACTED);
        assert_eq!(b["plain"], "aiops_is_a_word");
        let big = audit_body(json!({"text": "x".repeat(AUDIT_BODY_MAX)}));
        assert_eq!(big["_truncated"], true);
        assert_eq!(big["_fields"], json!(["text"]));
    }

    fn input(pairs: &[(&str, &str)]) -> AuditFilterInput {
        let mut i = AuditFilterInput::default();
        for (k, v) in pairs {
            let v = v.to_string();
            match *k {
                "user" => i.user = v,
                "action" => i.action = v,
                "source" => i.source = v,
                "outcome" => i.outcome = v,
                "from" => i.from = v,
                "to" => i.to = v,
                _ => unreachable!(),
            }
        }
        i
    }

    #[test]
    fn filters_parse_or_say_what_is_wrong() {
        assert!(AuditFilter::parse(&input(&[])).is_ok_and(|f| f.is_empty()));
        assert!(
            AuditFilter::parse(&input(&[("user", " "), ("to", "")])).is_ok_and(|f| f.is_empty())
        );
        let f = AuditFilter::parse(&input(&[
            ("user", "3"),
            ("action", "Tenant.Create"),
            ("source", "web"),
            ("outcome", "failed"),
            ("from", "2026-12-01"),
            ("to", "2026-12-02"),
        ]))
        .unwrap_or_default();
        assert_eq!(f.user, Some(UserFilter::User(UserId(3))));
        assert_eq!(f.action.as_deref(), Some("tenant.create"));
        assert_eq!(f.source, Some(AuditSource::Web));
        assert_eq!(f.ok, Some(false));
        assert_eq!(f.from, NaiveDate::from_ymd_opt(2026, 12, 1));
        assert_eq!(
            f.query_pairs(),
            vec![
                ("user", "3".to_string()),
                ("action", "tenant.create".to_string()),
                ("source", "web".to_string()),
                ("outcome", "failed".to_string()),
                ("from", "2026-12-01".to_string()),
                ("to", "2026-12-02".to_string()),
            ]
        );
        assert_eq!(
            AuditFilter::parse(&input(&[("user", "system")]))
                .ok()
                .and_then(|f| f.user),
            Some(UserFilter::System)
        );
        for (bad, says) in [
            (("user", "bob"), "user:"),
            (("source", "cli"), "api or web"),
            (("outcome", "maybe"), "ok or failed"),
            (("from", "1/12/2026"), "YYYY-MM-DD"),
            (("action", "a b"), "action:"),
        ] {
            let e = AuditFilter::parse(&input(&[bad]))
                .err()
                .map(|e| e.to_string());
            assert!(
                e.as_deref().is_some_and(|m| m.contains(says)),
                "{bad:?}: {e:?}"
            );
        }
        let e = AuditFilter::parse(&input(&[("from", "2026-12-02"), ("to", "2026-12-01")]));
        assert!(e.is_err());
    }

    #[test]
    fn an_action_filter_takes_a_name_a_kind_or_a_verb() {
        assert!(AuditFilter::action_matches(
            "tenant.create",
            "tenant.create"
        ));
        assert!(AuditFilter::action_matches("tenant", "tenant.create"));
        assert!(AuditFilter::action_matches("delete", "project.delete"));
        assert!(!AuditFilter::action_matches("tenant", "project.create"));
        assert!(!AuditFilter::action_matches("ten", "tenant.create"));
    }

    #[test]
    fn the_filter_reads_rows_without_their_bodies() {
        let row = json!({
            "id": 1, "user_id": 2, "method": "POST", "path": "/tenants/1/members/7",
            "status": 303, "duration_ms": 1.0, "created_at": "2026-12-01T10:00:00Z",
            "source": "web", "request_body": {"big": [1, {"a": null}], "action": "remove"}
        });
        let lite: LiteEntry = serde_json::from_value(row.clone()).expect("decodes");
        assert_eq!(lite.request_body.0.as_deref(), Some("remove"));
        let f = |pairs: &[(&str, &str)]| {
            AuditFilter::parse(&input(pairs))
                .unwrap_or_default()
                .matches(&lite)
        };
        assert!(f(&[
            ("action", "member.delete"),
            ("user", "2"),
            ("source", "web")
        ]));
        assert!(f(&[
            ("outcome", "ok"),
            ("from", "2026-12-01"),
            ("to", "2026-12-01")
        ]));
        assert!(!f(&[("user", "3")]));
        assert!(!f(&[("user", "system")]));
        assert!(!f(&[("source", "api")]));
        assert!(!f(&[("outcome", "failed")]));
        assert!(!f(&[("from", "2026-12-02")]));
        assert!(!f(&[("action", "tenant")]));
        // Rows from before web auditing: no source (api), no body, a string body.
        let old = json!({"id": 1, "method": "POST", "path": "/api/v1/tenants", "status": 201,
            "duration_ms": 1.0, "created_at": "2025-01-01T00:00:00Z", "request_body": "x"});
        let lite: LiteEntry = serde_json::from_value(old).expect("old rows decode");
        assert_eq!(lite.source, AuditSource::Api);
        assert!(
            AuditFilter::parse(&input(&[("user", "system"), ("action", "tenant.create")]))
                .unwrap_or_default()
                .matches(&lite)
        );
        let full: AuditEntry = serde_json::from_value(row).expect("full row");
        assert_eq!(full.source, AuditSource::Web);
    }

    fn test_app(dir: &std::path::Path) -> crate::services::App {
        let mut args = crate::config::ServeArgs::default();
        args.store.data_dir = Some(dir.to_path_buf());
        let config = crate::config::Config::resolve(&args).expect("config");
        crate::services::App::new(crate::store::Store::open(dir).expect("store"), config)
            .expect("app")
    }

    fn person(app: &crate::services::App, email: &str, admin: bool) -> Identity {
        let u = app
            .accounts
            .create_user(
                &Identity::system(),
                crate::services::accounts::NewUser {
                    email,
                    name: "P",
                    password: "password-1",
                    is_admin: admin,
                },
            )
            .expect("user");
        let scopes = if admin { "admin" } else { "write" };
        let (k, _) = app
            .accounts
            .create_key_offline(email, "k", &[scopes.into()], None)
            .expect("key");
        Identity::from_key(u, k)
    }

    #[test]
    fn the_view_names_users_keys_and_targets_and_filters_many_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = test_app(dir.path());
        let admin = person(&app, "root@example.com", true);
        let dev = person(&app, "dev@example.com", false);
        let kept = app
            .tenancy
            .create_tenant(
                &admin,
                crate::services::tenants::TenantInput {
                    name: Some("Kept".into()),
                    description: None,
                    color: None,
                },
            )
            .expect("tenant")
            .tenant
            .id;
        let entry = |i: u64, user: Option<UserId>, path: String, source: AuditSource| AuditEntry {
            id: 0,
            user_id: user,
            api_key_id: None,
            method: "POST".into(),
            path,
            query: None,
            request_body: Some(json!({"name": format!("t{i}"), "note": "x".repeat(200)})),
            status: if i.is_multiple_of(10) { 422 } else { 303 },
            duration_ms: 1.0,
            ip_address: None,
            user_agent: None,
            error_message: None,
            created_at: crate::domain::model::now(),
            source,
            request_id: None,
        };
        // 20,000 rows in one transaction: dev's web tenant edits, then a few named ones.
        {
            let w = app.store.write().expect("write");
            for i in 0..20_000u64 {
                let mut e = entry(
                    i,
                    Some(dev.id()),
                    format!("/tenants/{kept}/edit"),
                    AuditSource::Web,
                );
                w.append_audit(&mut e).expect("row");
            }
            w.commit().expect("commit");
        }
        app.audit.record_audit(entry(
            1,
            Some(admin.id()),
            "/api/v1/tenants/999".into(),
            AuditSource::Api,
        ));
        let mut keyed = entry(
            2,
            Some(admin.id()),
            "/api/v1/tenants".into(),
            AuditSource::Api,
        );
        keyed.api_key_id = admin.key.as_ref().map(|k| k.id);
        app.audit.record_audit(keyed);
        app.audit.record_audit(entry(
            3,
            None,
            "/api/v1/system/restart".into(),
            AuditSource::Api,
        ));

        let all = app
            .audit
            .audit_view(&admin, &AuditFilter::default(), 2, 0)
            .expect("view");
        assert_eq!(all.total, 20_003);
        assert!(all.complete);
        // Newest first, with names.
        assert_eq!(all.rows[0].user, "system");
        assert_eq!(all.rows[0].action, "system.restart");
        assert_eq!(all.rows[1].user, "root@example.com");
        assert_eq!(all.rows[1].key.as_deref(), Some("k"));
        assert_eq!(all.rows[1].targets, vec!["tenant t2 (new)".to_string()]);
        assert_eq!(all.users.len(), 2);
        let third = app
            .audit
            .audit_view(&admin, &AuditFilter::default(), 1, 2)
            .expect("view");
        assert_eq!(
            third.rows[0].targets,
            vec!["tenant deleted #999".to_string()]
        );

        let started = std::time::Instant::now();
        let f = AuditFilter {
            user: Some(UserFilter::User(dev.id())),
            action: Some("tenant.update".into()),
            ok: Some(false),
            ..Default::default()
        };
        let failed = app.audit.audit_view(&admin, &f, 50, 10).expect("filtered");
        eprintln!("filtered scan of 20,003 rows: {:?}", started.elapsed());
        assert_eq!(failed.total, 2_000);
        assert_eq!(failed.rows.len(), 50);
        assert!(
            failed
                .rows
                .iter()
                .all(|r| !r.ok && r.user == "dev@example.com")
        );
        assert_eq!(failed.rows[0].targets, vec!["tenant Kept".to_string()]);
        assert_eq!(failed.rows[0].action, "tenant.update");
        let api = AuditFilter {
            source: Some(AuditSource::Api),
            ..Default::default()
        };
        assert_eq!(
            app.audit
                .audit_view(&admin, &api, 50, 0)
                .expect("api")
                .total,
            3
        );
        let system = AuditFilter {
            user: Some(UserFilter::System),
            ..Default::default()
        };
        assert_eq!(
            app.audit
                .audit_view(&admin, &system, 50, 0)
                .expect("system")
                .total,
            1
        );

        // Only admins read it.
        let e = app
            .audit
            .audit_view(&dev, &AuditFilter::default(), 50, 0)
            .err();
        assert!(e.is_some_and(|e| e.status().as_u16() == 403));
    }
}
