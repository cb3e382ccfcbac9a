//! `aiops import-sqlite`: move a Python aiops 0.3.x installation (`instance/app.db`, and the
//! private keys in `instance/keys/`) into the redb store.
//!
//! - Ids are kept, so links, bookmarks and scripts that name ids go on working.
//! - Passwords keep working: Werkzeug pbkdf2 hashes are verified at login and replaced by
//!   argon2id. API keys keep working: their bcrypt hash is checked at first use, then the key is
//!   stored like a new one.
//! - Secrets (tracker tokens, SSH private keys) are encrypted with the master key on the way in;
//!   the plaintext `aiops_cli_api_key` column is not imported.
//! - Not imported: AI sessions (their tmux sessions belong to the old server), old backups
//!   (SQLite archives), automation tasks (unused by the original).
//! - Idempotent: the source's SHA-256 is recorded; importing the same file again changes
//!   nothing. A store holding anything else is refused unless `force`, which replaces it.

use super::backup::Backups;
use super::context::GlobalContext;
use crate::domain::adf;
use crate::domain::*;
use crate::error::{AppError, AppResult};
use crate::store::backfill_owner_memberships;
use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::types::Value as Sql;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

const SOURCE_SETTING: &str = "import.sqlite_source";

#[derive(Debug, Default)]
pub struct ImportReport {
    /// Entity -> rows imported (or that would be, in a dry run).
    pub counts: BTreeMap<String, usize>,
    /// Entity -> rows left out on purpose.
    pub skipped: BTreeMap<String, usize>,
    pub warnings: Vec<String>,
    pub already_imported: bool,
    /// The imported integrations (id, name, provider): their sync schedule is off.
    pub integrations: Vec<(u64, String, String)>,
}

type Row = HashMap<String, Sql>;

fn read_table(db: &rusqlite::Connection, table: &str) -> AppResult<Vec<Row>> {
    let exists: bool = db
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?1",
            [table],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)
        .map_err(|e| AppError::BadRequest(format!("cannot read the SQLite file: {e}")))?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut stmt = db
        .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY id"))
        .map_err(|e| AppError::BadRequest(format!("cannot read table {table}: {e}")))?;
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let rows = stmt
        .query_map([], |r| {
            let mut m = Row::new();
            for (i, n) in names.iter().enumerate() {
                m.insert(n.clone(), r.get::<_, Sql>(i)?);
            }
            Ok(m)
        })
        .map_err(|e| AppError::BadRequest(format!("cannot read table {table}: {e}")))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(|e| AppError::BadRequest(format!("cannot read table {table}: {e}")))
}

fn text(r: &Row, k: &str) -> Option<String> {
    match r.get(k)? {
        Sql::Text(s) => Some(s.clone()),
        Sql::Integer(i) => Some(i.to_string()),
        Sql::Real(f) => Some(f.to_string()),
        Sql::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Sql::Null => None,
    }
}

fn opt_text(r: &Row, k: &str) -> Option<String> {
    text(r, k).filter(|s| !s.trim().is_empty())
}

fn int(r: &Row, k: &str) -> Option<u64> {
    match r.get(k)? {
        Sql::Integer(i) if *i >= 0 => Some(*i as u64),
        Sql::Text(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn boolean(r: &Row, k: &str, default: bool) -> bool {
    match r.get(k) {
        Some(Sql::Integer(i)) => *i != 0,
        Some(Sql::Text(s)) => matches!(s.trim(), "1" | "true" | "True"),
        _ => default,
    }
}

/// SQLAlchemy stores naive UTC as `YYYY-MM-DD HH:MM:SS[.ffffff]`.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn time(r: &Row, k: &str) -> Option<DateTime<Utc>> {
    text(r, k).and_then(|s| parse_time(&s))
}

fn json(r: &Row, k: &str) -> Value {
    text(r, k)
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null)
}

/// The description from a stored tracker payload (GitHub body, GitLab description, Jira
/// description as text or ADF, else the rendered HTML).
pub fn description_of(provider: &str, raw: &Value) -> Option<String> {
    let s = |v: &Value| {
        v.as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    match provider {
        "github" => s(&raw["body"]),
        "gitlab" => s(&raw["description"]),
        "jira" => {
            let d = raw.pointer("/fields/description").unwrap_or(&Value::Null);
            if adf::is_doc(d) {
                Some(adf::to_markdown(d)).filter(|t| !t.is_empty())
            } else {
                s(d).or_else(|| raw.pointer("/renderedFields/description").and_then(s))
            }
        }
        _ => ["description", "body", "content", "details"]
            .iter()
            .find_map(|k| s(&raw[*k])),
    }
}

fn comments(v: &Value) -> Vec<Comment> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let body = c["body"].as_str()?.to_string();
            Some(Comment {
                id: c["id"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| c["id"].as_i64().map(|i| i.to_string())),
                author: c["author"].as_str().unwrap_or("Unknown").to_string(),
                body,
                created_at: c["created_at"].as_str().map(str::to_string),
                url: c["url"].as_str().map(str::to_string),
            })
        })
        .take(crate::domain::issues::MAX_COMMENTS_PER_ISSUE)
        .collect()
}

/// Everything built from the source, before anything is written.
#[derive(Default)]
struct Plan {
    users: Vec<User>,
    tenants: Vec<Tenant>,
    ssh_keys: Vec<SshKey>,
    projects: Vec<Project>,
    integrations: Vec<TenantIntegration>,
    links: Vec<ProjectIntegration>,
    issues: Vec<ExternalIssue>,
    pins: Vec<PinnedIssue>,
    credentials: Vec<UserCredential>,
    identities: Vec<IdentityMap>,
    keys: Vec<ApiKey>,
    audit: Vec<AuditEntry>,
    global: Option<GlobalContext>,
}

fn build_plan(
    secrets: &super::secrets::Secrets,
    db: &rusqlite::Connection,
    keys_dir: Option<&Path>,
    report: &mut ImportReport,
) -> AppResult<Plan> {
    let now = crate::domain::model::now();
    let mut plan = Plan::default();
    let created = |r: &Row| time(r, "created_at").unwrap_or(now);
    let updated = |r: &Row| {
        time(r, "updated_at")
            .or(time(r, "created_at"))
            .unwrap_or(now)
    };
    let mapping: HashMap<String, String> = read_table(db, "system_config")?
        .iter()
        .find(|r| text(r, "key").as_deref() == Some("linux_user_mapping"))
        .and_then(|r| serde_json::from_value(json(r, "value")).ok())
        .unwrap_or_default();
    let mut emails = std::collections::HashSet::new();
    for r in read_table(db, "users")? {
        let (Some(id), Some(email)) = (int(&r, "id"), opt_text(&r, "email")) else {
            continue;
        };
        let email = email.trim().to_lowercase();
        if !emails.insert(email.clone()) {
            report.warnings.push(format!(
                "user {id}: {email} is already used by another user (emails are compared without case); skipped"
            ));
            *report.skipped.entry("users".into()).or_default() += 1;
            continue;
        }
        plan.users.push(User {
            id: id.into(),
            name: opt_text(&r, "name").unwrap_or_else(|| email.clone()),
            linux_username: opt_text(&r, "linux_username").or_else(|| mapping.get(&email).cloned()),
            email,
            password_hash: text(&r, "password_hash").unwrap_or_default(),
            is_admin: boolean(&r, "is_admin", false),
            aiops_cli_url: opt_text(&r, "aiops_cli_url"),
            aiops_cli_api_key: None,
            created_at: created(&r),
            updated_at: updated(&r),
        });
    }
    let user_ids: std::collections::HashSet<u64> = plan.users.iter().map(|u| u.id.get()).collect();
    for r in read_table(db, "tenants")? {
        let (Some(id), Some(name)) = (int(&r, "id"), opt_text(&r, "name")) else {
            continue;
        };
        plan.tenants.push(Tenant {
            id: id.into(),
            name,
            description: opt_text(&r, "description"),
            color: crate::domain::rules::sanitize_color(&text(&r, "color").unwrap_or_default())
                .unwrap_or_else(|_| "#2563eb".into()),
            created_at: created(&r),
            updated_at: updated(&r),
        });
    }
    for r in read_table(db, "ssh_keys")? {
        let (Some(id), Some(public)) = (int(&r, "id"), opt_text(&r, "public_key")) else {
            continue;
        };
        let private = opt_text(&r, "private_key_path").and_then(|p| {
            let name = Path::new(&p).file_name().map(PathBuf::from)?;
            let file = keys_dir?.join(name);
            match std::fs::read_to_string(&file) {
                Ok(t) => Some(t),
                Err(e) => {
                    report.warnings.push(format!(
                        "SSH key {id}: cannot read {} ({e}); imported without its private half (upload it again)",
                        file.display()
                    ));
                    None
                }
            }
        });
        match super::ssh::import_key_material(secrets, &public, private.as_deref()) {
            Ok((line, fp, enc, warn)) => {
                if let Some(w) = warn {
                    report.warnings.push(format!(
                        "SSH key {id}: private key not usable ({w}); imported without it"
                    ));
                }
                plan.ssh_keys.push(SshKey {
                    id: id.into(),
                    name: opt_text(&r, "name").unwrap_or_else(|| format!("key-{id}")),
                    public_key: line,
                    fingerprint: fp,
                    private_key_enc: enc,
                    user_id: int(&r, "user_id").unwrap_or(0).into(),
                    tenant_id: (int(&r, "tenant_id")).map(Into::into),
                    created_at: created(&r),
                    updated_at: updated(&r),
                });
            }
            Err(e) => {
                report.warnings.push(format!("SSH key {id}: skipped ({e})"));
                *report.skipped.entry("ssh_keys".into()).or_default() += 1;
            }
        }
    }
    let key_ids: std::collections::HashSet<u64> =
        plan.ssh_keys.iter().map(|k| k.id.get()).collect();
    for r in read_table(db, "projects")? {
        let (Some(id), Some(name), Some(tenant_id)) =
            (int(&r, "id"), opt_text(&r, "name"), int(&r, "tenant_id"))
        else {
            continue;
        };
        plan.projects.push(Project {
            id: id.into(),
            name,
            repo_url: text(&r, "repo_url").unwrap_or_default(),
            default_branch: opt_text(&r, "default_branch").unwrap_or_else(|| "main".into()),
            local_path: text(&r, "local_path").unwrap_or_default(),
            description: opt_text(&r, "description"),
            tenant_id: tenant_id.into(),
            owner_id: int(&r, "owner_id").unwrap_or(0).into(),
            ssh_key_id: int(&r, "ssh_key_id")
                .filter(|k| key_ids.contains(k))
                .map(Into::into),
            created_at: created(&r),
            updated_at: updated(&r),
        });
    }
    let project_tenant: HashMap<u64, u64> = plan
        .projects
        .iter()
        .map(|p| (p.id.get(), p.tenant_id.get()))
        .collect();
    let mut providers: HashMap<u64, String> = HashMap::new();
    for r in read_table(db, "tenant_integrations")? {
        let (Some(id), Some(tenant_id)) = (int(&r, "id"), int(&r, "tenant_id")) else {
            continue;
        };
        let provider = text(&r, "provider")
            .unwrap_or_default()
            .trim()
            .to_lowercase();
        if crate::domain::issues::validate_provider(&provider).is_err() {
            report.warnings.push(format!(
                "integration {id}: unknown provider '{provider}'; skipped"
            ));
            *report.skipped.entry("integrations".into()).or_default() += 1;
            continue;
        }
        providers.insert(id, provider.clone());
        let settings = match json(&r, "settings") {
            Value::Null => Value::Object(Default::default()),
            v => v,
        };
        plan.integrations.push(TenantIntegration {
            id: id.into(),
            tenant_id: tenant_id.into(),
            provider,
            name: opt_text(&r, "name").unwrap_or_else(|| format!("integration-{id}")),
            base_url: opt_text(&r, "base_url"),
            api_token_enc: secrets.encrypt(&text(&r, "api_token").unwrap_or_default())?,
            settings,
            enabled: boolean(&r, "enabled", true),
            // The original synced only when asked: keep it so until an admin turns a schedule
            // on (the imported tokens are not used behind anyone's back).
            sync_cron: Some("off".into()),
            created_at: created(&r),
            updated_at: updated(&r),
        });
    }
    let mut link_info: HashMap<u64, (u64, String)> = HashMap::new();
    for r in read_table(db, "project_integrations")? {
        let (Some(id), Some(project_id), Some(integration_id)) = (
            int(&r, "id"),
            int(&r, "project_id"),
            int(&r, "integration_id"),
        ) else {
            continue;
        };
        let Some(provider) = providers.get(&integration_id) else {
            *report
                .skipped
                .entry("project_integrations".into())
                .or_default() += 1;
            continue;
        };
        link_info.insert(id, (project_id, provider.clone()));
        plan.links.push(ProjectIntegration {
            id: id.into(),
            project_id: project_id.into(),
            integration_id: integration_id.into(),
            external_identifier: text(&r, "external_identifier").unwrap_or_default(),
            config: match json(&r, "config") {
                Value::Null => Value::Object(Default::default()),
                v => v,
            },
            last_synced_at: time(&r, "last_synced_at"),
            override_api_token_enc: opt_text(&r, "override_api_token")
                .map(|t| secrets.encrypt(&t))
                .transpose()?,
            override_base_url: opt_text(&r, "override_base_url"),
            override_settings: Some(json(&r, "override_settings")).filter(|v| !v.is_null()),
            created_at: created(&r),
            updated_at: updated(&r),
        });
    }
    for r in read_table(db, "external_issues")? {
        let (Some(id), Some(link)) = (int(&r, "id"), int(&r, "project_integration_id")) else {
            continue;
        };
        let Some((project_id, provider)) = link_info.get(&link) else {
            *report.skipped.entry("issues".into()).or_default() += 1;
            continue;
        };
        let raw = json(&r, "raw_payload");
        let labels: Vec<String> = json(&r, "labels")
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l.as_str().map(str::to_string))
            .collect();
        plan.issues.push(ExternalIssue {
            id: id.into(),
            project_integration_id: link.into(),
            project_id: (*project_id).into(),
            tenant_id: (project_tenant.get(project_id).copied().unwrap_or(0)).into(),
            external_id: text(&r, "external_id").unwrap_or_default(),
            title: text(&r, "title").unwrap_or_default(),
            status: opt_text(&r, "status"),
            assignee: opt_text(&r, "assignee"),
            assignee_key: None,
            url: opt_text(&r, "url"),
            labels,
            comments: comments(&json(&r, "comments")),
            body: description_of(provider, &raw),
            external_updated_at: time(&r, "external_updated_at"),
            last_seen_at: time(&r, "last_seen_at"),
            missing_upstream: false,
            created_at: created(&r),
            updated_at: updated(&r),
        });
    }
    let issue_ids: std::collections::HashSet<u64> =
        plan.issues.iter().map(|i| i.id.get()).collect();
    for r in read_table(db, "pinned_issues")? {
        let (Some(id), Some(user_id), Some(issue_id)) =
            (int(&r, "id"), int(&r, "user_id"), int(&r, "issue_id"))
        else {
            continue;
        };
        if !issue_ids.contains(&issue_id) || !user_ids.contains(&user_id) {
            *report.skipped.entry("pins".into()).or_default() += 1;
            continue;
        }
        plan.pins.push(PinnedIssue {
            id,
            user_id: user_id.into(),
            issue_id: issue_id.into(),
            pinned_at: time(&r, "pinned_at").unwrap_or(now),
        });
    }
    for r in read_table(db, "user_integration_credentials")? {
        let (Some(id), Some(user_id), Some(integration_id)) =
            (int(&r, "id"), int(&r, "user_id"), int(&r, "integration_id"))
        else {
            continue;
        };
        plan.credentials.push(UserCredential {
            id: id.into(),
            user_id: user_id.into(),
            integration_id: integration_id.into(),
            api_token_enc: secrets.encrypt(&text(&r, "api_token").unwrap_or_default())?,
            settings: Some(json(&r, "settings")).filter(|v| !v.is_null()),
            created_at: created(&r),
            updated_at: updated(&r),
        });
    }
    let mut seen_identity = std::collections::HashSet::new();
    for r in read_table(db, "user_identity_map")? {
        let Some(user_id) = int(&r, "user_id") else {
            continue;
        };
        // The original takes the first row per user.
        if !seen_identity.insert(user_id) {
            *report.skipped.entry("identity_maps".into()).or_default() += 1;
            continue;
        }
        plan.identities.push(IdentityMap {
            user_id: user_id.into(),
            github_username: opt_text(&r, "github_username"),
            gitlab_username: opt_text(&r, "gitlab_username"),
            jira_account_id: opt_text(&r, "jira_account_id"),
        });
    }
    for r in read_table(db, "api_keys")? {
        let (Some(id), Some(user_id), Some(hash)) =
            (int(&r, "id"), int(&r, "user_id"), opt_text(&r, "key_hash"))
        else {
            continue;
        };
        let prefix = text(&r, "key_prefix").unwrap_or_default();
        let scopes: Vec<Scope> = json(&r, "scopes")
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().and_then(Scope::parse))
            .collect();
        plan.keys.push(ApiKey {
            id: id.into(),
            user_id: user_id.into(),
            name: opt_text(&r, "name").unwrap_or_else(|| format!("key-{id}")),
            key_digest: format!("legacy:{}:{id}", prefix.get(..12).unwrap_or(&prefix)),
            key_prefix: prefix,
            scopes,
            is_active: boolean(&r, "is_active", true),
            last_used_at: time(&r, "last_used_at"),
            expires_at: time(&r, "expires_at"),
            created_at: created(&r),
            updated_at: updated(&r),
            legacy_bcrypt: Some(hash),
            project_id: None,
        });
    }
    for r in read_table(db, "api_audit_logs")? {
        let Some(id) = int(&r, "id") else { continue };
        let q = json(&r, "query_params");
        plan.audit.push(AuditEntry {
            id,
            user_id: int(&r, "user_id").map(Into::into),
            api_key_id: int(&r, "api_key_id").map(Into::into),
            method: text(&r, "method").unwrap_or_default(),
            path: text(&r, "path").unwrap_or_default(),
            query: q.as_object().map(|o| {
                o.iter()
                    .map(|(k, v)| {
                        format!(
                            "{k}={}",
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string())
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("&")
            }),
            request_body: Some(json(&r, "request_body")).filter(|v| !v.is_null()),
            status: int(&r, "response_status").unwrap_or(0) as u16,
            duration_ms: match r.get("response_time_ms") {
                Some(Sql::Real(f)) => *f,
                Some(Sql::Integer(i)) => *i as f64,
                _ => 0.0,
            },
            ip_address: opt_text(&r, "ip_address"),
            user_agent: opt_text(&r, "user_agent"),
            error_message: opt_text(&r, "error_message"),
            created_at: created(&r),
            source: crate::domain::AuditSource::Api,
            request_id: None,
        });
    }
    plan.global = read_table(db, "global_agent_context")?
        .into_iter()
        .max_by_key(|r| time(r, "updated_at"))
        .and_then(|r| {
            let content = opt_text(&r, "content")?;
            Some(GlobalContext {
                content: content.trim().to_string(),
                created_at: created(&r),
                updated_at: updated(&r),
                updated_by: int(&r, "updated_by_user_id")
                    .filter(|u| user_ids.contains(u))
                    .map(Into::into),
            })
        });
    for (table, what) in [
        ("ai_sessions", "ai_sessions"),
        ("backups", "backups"),
        ("automation_tasks", "automation_tasks"),
    ] {
        let n = read_table(db, table)?.len();
        if n > 0 {
            report.skipped.insert(what.into(), n);
        }
    }
    Ok(plan)
}

/// What the source holds, before anything is written: the checks every import makes first.
fn check_target(
    r: &crate::store::ReadTxn,
    source: &str,
    data_dir: &Path,
    dry_run: bool,
    force: bool,
    report: &mut ImportReport,
) -> AppResult<()> {
    let previous: Option<String> = r.setting(SOURCE_SETTING)?;
    if previous.as_deref() == Some(source) && !force {
        report.already_imported = true;
        return Ok(());
    }
    let non_empty = r.holds_data()?;
    if non_empty && !force {
        let msg = format!(
            "the store in {} already holds data; import into a new data directory, or pass --force to replace everything in it",
            data_dir.display()
        );
        if !dry_run {
            return Err(AppError::Conflict(msg));
        }
        report
            .warnings
            .push(format!("the real import would be refused: {msg}"));
    } else if non_empty && dry_run {
        report.warnings.push(format!(
            "--force: everything in the store in {} would be replaced",
            data_dir.display()
        ));
    }
    Ok(())
}

fn open_source(db_path: &Path) -> AppResult<(String, rusqlite::Connection)> {
    if !db_path.is_file() {
        return Err(AppError::BadRequest(format!(
            "{} is not a file: give the Python aiops database (instance/app.db)",
            db_path.display()
        )));
    }
    let source = super::backup::sha256_file(db_path)?;
    let db = rusqlite::Connection::open_with_flags(
        db_path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| {
        AppError::BadRequest(format!(
            "{} is not a SQLite database: {e}",
            db_path.display()
        ))
    })?;
    Ok((source, db))
}

fn fill_counts(plan: &Plan, report: &mut ImportReport) {
    let counts = [
        ("users", plan.users.len()),
        ("tenants", plan.tenants.len()),
        ("ssh_keys", plan.ssh_keys.len()),
        ("projects", plan.projects.len()),
        ("integrations", plan.integrations.len()),
        ("project_integrations", plan.links.len()),
        ("issues", plan.issues.len()),
        ("pins", plan.pins.len()),
        ("user_credentials", plan.credentials.len()),
        ("identity_maps", plan.identities.len()),
        ("api_keys", plan.keys.len()),
        ("audit_log", plan.audit.len()),
        ("global_agent_context", usize::from(plan.global.is_some())),
    ];
    for (k, n) in counts {
        report.counts.insert(k.into(), n);
    }
    report.integrations = plan
        .integrations
        .iter()
        .map(|i| (i.id.get(), i.name.clone(), i.provider.clone()))
        .collect();
}

fn default_keys_dir(db_path: &Path, keys_dir: Option<&Path>) -> Option<PathBuf> {
    keys_dir
        .map(Path::to_path_buf)
        .or_else(|| db_path.parent().map(|p| p.join("keys")))
}

/// `import-sqlite --dry-run`: the full report of what would be imported into `data_dir`, without
/// writing anything anywhere. No `App` is made (that would create the store and the master key):
/// an existing store is opened read-only for the checks, and secrets are encrypted, for the
/// report's sake only, under a throwaway key.
pub fn preview_sqlite(
    data_dir: &Path,
    db_path: &Path,
    keys_dir: Option<&Path>,
    force: bool,
) -> AppResult<ImportReport> {
    let (source, db) = open_source(db_path)?;
    let mut report = ImportReport::default();
    let store_file = data_dir.join("aiops.redb");
    if store_file.is_file() {
        match crate::store::backup::OtherFile::open(&store_file) {
            Ok(existing) => {
                let r = existing.read()?;
                check_target(&r, &source, data_dir, true, force, &mut report)?;
                if report.already_imported {
                    return Ok(report);
                }
            }
            Err(e) => report.warnings.push(format!(
                "cannot read the existing store {} ({e}); whether it already holds data was not checked",
                store_file.display()
            )),
        }
    }
    let secrets = super::secrets::Secrets::from_key(rand::random());
    let keys_dir = default_keys_dir(db_path, keys_dir);
    let plan = build_plan(&secrets, &db, keys_dir.as_deref(), &mut report)?;
    fill_counts(&plan, &mut report);
    Ok(report)
}

impl Backups {
    /// Import `db_path` into this app's store. `dry_run` builds the whole plan and writes
    /// nothing to the store (but the `App` itself has its store and key: for a dry run that
    /// must not touch the data dir, use `preview_sqlite`).
    pub fn import_sqlite(
        &self,
        db_path: &Path,
        keys_dir: Option<&Path>,
        dry_run: bool,
        force: bool,
    ) -> AppResult<ImportReport> {
        let (source, db) = open_source(db_path)?;
        let mut report = ImportReport::default();
        check_target(
            &self.store.read()?,
            &source,
            &self.config.data_dir,
            dry_run,
            force,
            &mut report,
        )?;
        if report.already_imported {
            return Ok(report);
        }
        let keys_dir = default_keys_dir(db_path, keys_dir);
        let plan = build_plan(&self.secrets, &db, keys_dir.as_deref(), &mut report)?;
        fill_counts(&plan, &mut report);
        if dry_run {
            return Ok(report);
        }
        self.write_plan(plan, &source)?;
        Ok(report)
    }
    fn write_plan(&self, plan: Plan, source: &str) -> AppResult<()> {
        let w = self.store.write()?;
        // Start from empty tables (a forced import replaces everything).
        w.reset_all_tables()?;
        let mut seq: BTreeMap<&str, u64> = BTreeMap::new();
        let mut bump = |name: &'static str, id: u64| {
            let e = seq.entry(name).or_default();
            *e = (*e).max(id);
        };
        // Every row goes through its entity's own write (which keeps its indexes); the tables
        // are empty, so each write finds no earlier row and the result is a plain copy.
        for u in &plan.users {
            w.put_user(u)?;
            bump("users", u.id.get());
        }
        for t in &plan.tenants {
            w.put_tenant(t)?;
            bump("tenants", t.id.get());
        }
        for k in &plan.ssh_keys {
            w.put_ssh_key(k)?;
            bump("ssh_keys", k.id.get());
        }
        for p in &plan.projects {
            w.put_project(p)?;
            bump("projects", p.id.get());
        }
        for i in &plan.integrations {
            w.put_integration(i)?;
            bump("integrations", i.id.get());
        }
        for l in &plan.links {
            w.put_link(l)?;
            bump("project_integrations", l.id.get());
        }
        for i in &plan.issues {
            w.put_issue(None, i)?;
            bump("issues", i.id.get());
        }
        for p in &plan.pins {
            // Pins keep their ids: `import_pin`, not `add_pin` (which would allocate new ones).
            w.import_pin(p)?;
            bump("pins", p.id);
        }
        for c in &plan.credentials {
            w.put_credential(c)?;
            bump("user_credentials", c.id.get());
        }
        for m in &plan.identities {
            w.put_identity_map(m)?;
        }
        for k in &plan.keys {
            w.put_api_key(k)?;
            bump("api_keys", k.id.get());
        }
        for a in &plan.audit {
            w.insert_audit(a)?;
            bump("audit_log", a.id);
        }
        for (name, n) in seq {
            w.set_seq(name, n)?;
        }
        // The original had owners only: each owner becomes a maintainer of their project, so
        // everyone keeps exactly the access they had.
        backfill_owner_memberships(&w)?;
        if let Some(g) = &plan.global {
            w.put_setting("agents.global_context", g)?;
        }
        w.put_setting(SOURCE_SETTING, &source.to_string())?;
        w.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sqlalchemy_times_and_descriptions() {
        assert_eq!(
            parse_time("2024-03-01 12:30:45.123456").map(|t| t.to_rfc3339()),
            Some("2024-03-01T12:30:45.123456+00:00".into())
        );
        assert!(parse_time("2024-03-01 12:30:45").is_some());
        assert!(parse_time("yesterday").is_none());
        assert_eq!(
            description_of("github", &json!({"body": " Fix it \n"})),
            Some("Fix it".into())
        );
        assert_eq!(
            description_of("gitlab", &json!({"description": "GL"})),
            Some("GL".into())
        );
        let adf = json!({"fields": {"description": {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "From Jira"}]}]}}});
        assert_eq!(description_of("jira", &adf), Some("From Jira".into()));
        assert_eq!(description_of("github", &json!({})), None);
    }
}
