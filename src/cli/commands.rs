//! The client commands: `config`, `auth`, `tenants`, `projects`.

use super::client::Client;
use super::config_file::{self, ConfigMap};
use super::output::{Format, render};
use clap::Subcommand;
use serde_json::{Value, json};

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Show the configuration file (the API key masked)
    Show,
    /// Set a key (url, api_key, output_format, …)
    Set { key: String, value: String },
    /// Print the effective value of a key (AIOPS_<KEY> wins over the file)
    Get { key: String },
}

#[derive(Subcommand, Debug)]
pub enum AuthCommand {
    /// Who am I (user, auth method, scopes)
    Whoami,
    /// Manage your API keys
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// List your API keys
    List,
    /// Create a key; the full key is printed once
    Create {
        #[arg(long)]
        name: String,
        /// Comma-separated: read,write,admin
        #[arg(long)]
        scopes: String,
        #[arg(long)]
        expires_days: Option<i64>,
    },
    /// Revoke (delete) a key
    #[command(alias = "delete")]
    Revoke { key_id: u64 },
}

#[derive(Subcommand, Debug)]
pub enum TenantsCommand {
    /// List tenants
    List,
    /// Show a tenant (id, name or slug) with its projects
    Get { tenant: String },
    /// Create a tenant (admin)
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// Palette colour, e.g. #10b981
        #[arg(long)]
        color: Option<String>,
    },
    /// The tenant's members and their roles (viewer, developer, maintainer)
    Members {
        #[command(subcommand)]
        command: MembersCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum MembersCommand {
    /// List the members
    List {
        /// Tenant (or project) id, name or slug
        of: String,
    },
    /// Add a member: maintainers add viewers and developers, admins anyone
    Add {
        of: String,
        /// User id or email
        user: String,
        /// viewer, developer or maintainer
        #[arg(long, default_value = "developer")]
        role: String,
    },
    /// Change a member's role
    Set {
        of: String,
        /// User id or email
        user: String,
        #[arg(long)]
        role: String,
    },
    /// Remove a member
    #[command(alias = "delete")]
    Remove {
        of: String,
        /// User id or email
        user: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProjectsCommand {
    /// List projects (yours; admins see all)
    List {
        /// Tenant id, name or slug
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Show a project (id or name)
    Get { project: String },
    /// Create a project owned by you
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        repo_url: String,
        /// Tenant id, name or slug
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, default_value = "main")]
        branch: String,
    },
    /// Git status of your workspace of the project
    Status { project: String },
    /// The project's own members and their roles (tenant members are on the tenant)
    Members {
        #[command(subcommand)]
        command: MembersCommand,
    },
}

/// A handled failure printed as it is, without the `Error: ` prefix (`Aborted!`,
/// `Download failed: …`), with its exit code.
#[derive(Debug)]
pub struct Plain {
    pub message: String,
    pub code: i32,
}

impl std::fmt::Display for Plain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Plain {}

/// `Aborted!`, exit 1 (a declined confirmation).
pub fn aborted() -> anyhow::Error {
    Plain {
        message: "Aborted!".into(),
        code: 1,
    }
    .into()
}

/// Print a command's error on stderr and give its exit code.
pub fn report(e: &anyhow::Error) -> i32 {
    match e.downcast_ref::<Plain>() {
        Some(p) => {
            eprintln!("{}", p.message);
            p.code
        }
        None => {
            eprintln!("Error: {e:#}");
            1
        }
    }
}

/// `QUESTION [y/N]: ` on stderr, an answer line from stdin; anything but yes is `Aborted!`.
pub fn confirm(question: &str) -> anyhow::Result<()> {
    use std::io::Write;
    eprint!("{question} [y/N]: ");
    std::io::stderr().flush().ok();
    let mut a = String::new();
    std::io::stdin().read_line(&mut a)?;
    if matches!(a.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        // As click: a line break, then `Aborted!` on its own line.
        eprintln!();
        Err(aborted())
    }
}

/// A clap value parser for an existing file (not a directory), as click's `Path(exists=True)`.
pub fn existing_file(s: &str) -> Result<std::path::PathBuf, String> {
    let p = std::path::PathBuf::from(s);
    match std::fs::metadata(&p) {
        Ok(m) if m.is_dir() => Err(format!("File '{s}' is a directory.")),
        Ok(_) => Ok(p),
        Err(_) => Err(format!("File '{s}' does not exist.")),
    }
}

/// A status line: on stdout for tables, on stderr otherwise so JSON/YAML stay parseable.
pub fn note(f: Format, msg: &str) {
    if f == Format::Table {
        println!("{msg}");
    } else {
        eprintln!("{msg}");
    }
}

/// `aiops health`: GET <url>/api/v1/health within 5 s.
pub async fn health(url: Option<String>) -> anyhow::Result<()> {
    let url = match url {
        Some(u) => u,
        None => load_config()
            .ok()
            .and_then(|cfg| config_file::effective(&cfg, "url", env_var))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "http://127.0.0.1:8060".into()),
    };
    let target = format!("{}/api/v1/health", url.trim_end_matches('/'));
    let resp = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?
        .get(&target)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{target} did not answer: {e}"))?;
    if !resp.status().is_success() {
        anyhow::bail!("{target} answered {}", resp.status());
    }
    println!("ok");
    Ok(())
}

pub struct Ctx {
    pub client: Client,
    pub format: Format,
}

fn env_var(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

pub fn load_config() -> anyhow::Result<ConfigMap> {
    config_file::load(&config_file::home_dir()?)
}

/// The output format: `-o`, else `output_format` from env/file, else table.
pub fn format_from(flag: Option<Format>, cfg: &ConfigMap) -> Format {
    flag.or_else(|| {
        config_file::effective(cfg, "output_format", env_var).and_then(|s| Format::parse(&s))
    })
    .unwrap_or(Format::Table)
}

pub fn connect(flag: Option<Format>) -> anyhow::Result<Ctx> {
    let cfg = load_config()?;
    let url = config_file::effective(&cfg, "url", env_var).filter(|s| !s.is_empty());
    let Some(url) = url else {
        anyhow::bail!("API URL not configured. Run: aiops config set url <url>");
    };
    let key = config_file::effective(&cfg, "api_key", env_var).filter(|s| !s.is_empty());
    let Some(key) = key else {
        anyhow::bail!("API key not configured. Run: aiops config set api_key <key>");
    };
    Ok(Ctx {
        client: Client::new(&url, &key)?,
        format: format_from(flag, &cfg),
    })
}

fn print(ctx_format: Format, data: &Value, title: Option<&str>) {
    println!("{}", render(data, ctx_format, title));
}

pub(super) fn unwrap_key(mut v: Value, key: &str) -> Value {
    v.get_mut(key).map(Value::take).unwrap_or(Value::Null)
}

pub fn config(cmd: ConfigCommand, flag: Option<Format>) -> anyhow::Result<()> {
    let home = config_file::home_dir()?;
    let mut cfg = config_file::load(&home)?;
    match cmd {
        ConfigCommand::Show => {
            let format = format_from(flag, &cfg);
            let shown: serde_json::Map<String, Value> = cfg
                .iter()
                .map(|(k, v)| {
                    let v = if k == "api_key" {
                        config_file::mask_key(v)
                    } else {
                        v.clone()
                    };
                    (k.clone(), Value::String(v))
                })
                .collect();
            if format == Format::Table {
                let rows: Vec<Value> = shown
                    .iter()
                    .map(|(k, v)| json!({"key": k, "value": v}))
                    .collect();
                print(format, &Value::Array(rows), Some("Configuration"));
            } else {
                print(format, &Value::Object(shown), None);
            }
        }
        ConfigCommand::Set { key, value } => {
            cfg.insert(key.clone(), value);
            config_file::save(&home, &cfg)?;
            println!("Configuration '{key}' set successfully!");
        }
        ConfigCommand::Get { key } => match config_file::effective(&cfg, &key, env_var) {
            Some(v) => println!("{v}"),
            None => println!("Configuration '{key}' not set"),
        },
    }
    Ok(())
}

/// Project id from an id or a (case-insensitive) name.
pub(super) async fn resolve_project(ctx: &Ctx, value: &str) -> anyhow::Result<u64> {
    if let Ok(id) = value.parse::<u64>() {
        return Ok(id);
    }
    let list = unwrap_key(ctx.client.get("projects").await?, "projects");
    pick(&list, value, &["name"], "Project", "projects named")
}

/// Tenant id from an id, a name or a slug.
pub(super) async fn resolve_tenant(ctx: &Ctx, value: &str) -> anyhow::Result<u64> {
    if let Ok(id) = value.parse::<u64>() {
        return Ok(id);
    }
    let list = unwrap_key(ctx.client.get("tenants").await?, "tenants");
    pick(
        &list,
        value,
        &["name", "slug"],
        "Tenant",
        "tenants matching",
    )
}

pub fn pick(
    list: &Value,
    value: &str,
    fields: &[&str],
    what: &str,
    many: &str,
) -> anyhow::Result<u64> {
    let wanted = value.trim().to_lowercase();
    let matches: Vec<&Value> = list
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|i| {
                    fields
                        .iter()
                        .any(|f| i[*f].as_str().is_some_and(|s| s.to_lowercase() == wanted))
                })
                .collect()
        })
        .unwrap_or_default();
    match matches.as_slice() {
        [] => anyhow::bail!("{what} '{value}' not found"),
        [one, ..] => {
            if matches.len() > 1 {
                eprintln!("Warning: Multiple {many} '{value}' found, using first match");
            }
            one["id"]
                .as_u64()
                .ok_or_else(|| anyhow::anyhow!("{what} '{value}' has no id"))
        }
    }
}

pub async fn auth(ctx: Ctx, cmd: AuthCommand) -> anyhow::Result<()> {
    match cmd {
        AuthCommand::Whoami => {
            let me = ctx.client.get("auth/me").await?;
            let shown = if ctx.format == Format::Table {
                unwrap_key(me, "user")
            } else {
                me
            };
            print(ctx.format, &shown, None);
        }
        AuthCommand::Keys { command } => match command {
            KeysCommand::List => {
                let keys = unwrap_key(ctx.client.get("auth/keys").await?, "keys");
                print(ctx.format, &keys, Some("API Keys"));
            }
            KeysCommand::Create {
                name,
                scopes,
                expires_days,
            } => {
                let scopes: Vec<String> = scopes
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                let mut body = json!({"name": name, "scopes": scopes});
                if let Some(d) = expires_days.filter(|d| *d != 0) {
                    body["expires_days"] = json!(d);
                }
                // The whole response, as the original: `{"key": {…, "key": "aiops_…"},
                // "message": …}` (so `jq .key.key` works). Tables get the key on its own line.
                let created = ctx.client.post("auth/keys", &body).await?;
                if ctx.format == Format::Table {
                    println!("API key created successfully!\n");
                    println!(
                        "API Key: {}",
                        created["key"]["key"].as_str().unwrap_or_default()
                    );
                    println!("Save this key - it won't be shown again!\n");
                } else {
                    eprintln!("API key created successfully!");
                    eprintln!("Save this key - it won't be shown again!");
                }
                print(ctx.format, &created, None);
            }
            KeysCommand::Revoke { key_id } => {
                ctx.client.delete(&format!("auth/keys/{key_id}")).await?;
                println!("API key {key_id} deleted successfully!");
            }
        },
    }
    Ok(())
}

pub async fn tenants(ctx: Ctx, cmd: TenantsCommand) -> anyhow::Result<()> {
    match cmd {
        TenantsCommand::List => {
            let list = unwrap_key(ctx.client.get("tenants").await?, "tenants");
            print(ctx.format, &list, Some("Tenants"));
        }
        TenantsCommand::Get { tenant } => {
            let id = resolve_tenant(&ctx, &tenant).await?;
            let t = unwrap_key(ctx.client.get(&format!("tenants/{id}")).await?, "tenant");
            print(ctx.format, &t, None);
        }
        TenantsCommand::Create {
            name,
            description,
            color,
        } => {
            let mut body = json!({"name": name});
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            if let Some(c) = color {
                body["color"] = json!(c);
            }
            let t = ctx.client.post("tenants", &body).await?;
            note(ctx.format, "Tenant created successfully!");
            print(ctx.format, &t, None);
        }
        TenantsCommand::Members { command } => {
            let of = match &command {
                MembersCommand::List { of }
                | MembersCommand::Add { of, .. }
                | MembersCommand::Set { of, .. }
                | MembersCommand::Remove { of, .. } => resolve_tenant(&ctx, of).await?,
            };
            members(&ctx, &format!("tenants/{of}/members"), command).await?;
        }
    }
    Ok(())
}

/// A user given as an id, or as an email (looked up through the member list for set/remove).
async fn member_user(ctx: &Ctx, base: &str, user: &str) -> anyhow::Result<u64> {
    if let Ok(id) = user.trim().parse::<u64>() {
        return Ok(id);
    }
    let list = unwrap_key(ctx.client.get(base).await?, "members");
    list.as_array()
        .into_iter()
        .flatten()
        .find(|m| {
            m.get("email")
                .and_then(Value::as_str)
                .is_some_and(|e| e.eq_ignore_ascii_case(user.trim()))
        })
        .and_then(|m| m.get("user_id").and_then(Value::as_u64))
        .ok_or_else(|| {
            anyhow::anyhow!("'{user}' is not a member (give a user id or a member's email)")
        })
}

/// `tenants members …` and `projects members …` against `base` (…/members).
async fn members(ctx: &Ctx, base: &str, cmd: MembersCommand) -> anyhow::Result<()> {
    match cmd {
        MembersCommand::List { .. } => {
            let list = unwrap_key(ctx.client.get(base).await?, "members");
            print(ctx.format, &list, Some("Members"));
        }
        MembersCommand::Add { user, role, .. } => {
            let body = match user.trim().parse::<u64>() {
                Ok(id) => json!({"user_id": id, "role": role}),
                Err(_) => json!({"email": user.trim(), "role": role}),
            };
            let m = unwrap_key(ctx.client.post(base, &body).await?, "member");
            println!("Member added.");
            print(ctx.format, &m, None);
        }
        MembersCommand::Set { user, role, .. } => {
            let id = member_user(ctx, base, &user).await?;
            let m = unwrap_key(
                ctx.client
                    .patch(&format!("{base}/{id}"), &json!({"role": role}))
                    .await?,
                "member",
            );
            println!("Role changed.");
            print(ctx.format, &m, None);
        }
        MembersCommand::Remove { user, .. } => {
            let id = member_user(ctx, base, &user).await?;
            ctx.client.delete(&format!("{base}/{id}")).await?;
            println!("Member {id} removed.");
        }
    }
    Ok(())
}

pub async fn projects(ctx: Ctx, cmd: ProjectsCommand) -> anyhow::Result<()> {
    match cmd {
        ProjectsCommand::List { tenant } => {
            let path = match tenant {
                Some(t) => format!("projects?tenant_id={}", resolve_tenant(&ctx, &t).await?),
                None => "projects".into(),
            };
            let list = unwrap_key(ctx.client.get(&path).await?, "projects");
            print(ctx.format, &list, Some("Projects"));
        }
        ProjectsCommand::Get { project } => {
            let id = resolve_project(&ctx, &project).await?;
            let p = unwrap_key(ctx.client.get(&format!("projects/{id}")).await?, "project");
            print(ctx.format, &p, None);
        }
        ProjectsCommand::Create {
            name,
            repo_url,
            tenant,
            description,
            branch,
        } => {
            let tenant_id = resolve_tenant(&ctx, &tenant).await?;
            let mut body = json!({"name": name, "repo_url": repo_url, "tenant_id": tenant_id, "default_branch": branch});
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            let p = ctx.client.post("projects", &body).await?;
            note(ctx.format, "Project created successfully!");
            print(ctx.format, &p, None);
        }
        ProjectsCommand::Status { project } => {
            let id = resolve_project(&ctx, &project).await?;
            let s = unwrap_key(
                ctx.client.get(&format!("projects/{id}/git/status")).await?,
                "status",
            );
            print(ctx.format, &s, None);
        }
        ProjectsCommand::Members { command } => {
            let of = match &command {
                MembersCommand::List { of }
                | MembersCommand::Add { of, .. }
                | MembersCommand::Set { of, .. }
                | MembersCommand::Remove { of, .. } => resolve_project(&ctx, of).await?,
            };
            members(&ctx, &format!("projects/{of}/members"), command).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_name_or_slug_case_insensitively() {
        let list = json!([
            {"id": 1, "name": "Acme Corp", "slug": "acme-corp"},
            {"id": 2, "name": "Beta", "slug": "beta"},
            {"id": 3, "name": "beta", "slug": "beta-2"}
        ]);
        assert_eq!(
            pick(&list, "acme-corp", &["name", "slug"], "Tenant", "t").unwrap(),
            1
        );
        assert_eq!(
            pick(&list, "ACME CORP", &["name", "slug"], "Tenant", "t").unwrap(),
            1
        );
        assert_eq!(pick(&list, "beta", &["name"], "Tenant", "t").unwrap(), 2);
        let err = pick(&list, "nope", &["name"], "Project", "p")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "Project 'nope' not found");
    }
}
