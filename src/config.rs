//! Server configuration: defaults < `aiops.toml` (`--config` / `AIOPS_CONFIG`) < `AIOPS_*`
//! environment variables < command-line flags.

use clap::Args;
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const DEFAULT_BIND: &str = "127.0.0.1:8060";
pub const DEFAULT_DATA_DIR: &str = "./instance";

/// Options shared by every command that opens the data directory.
#[derive(Args, Debug, Clone, Default)]
pub struct StoreArgs {
    /// Path of an aiops.toml file [env: AIOPS_CONFIG]. Keys are the long option names with `_`
    /// for `-` (bind, data_dir, admin_email, …).
    #[arg(long, env = "AIOPS_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Data directory holding aiops.redb [default: ./instance]
    #[arg(long, env = "AIOPS_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Master key for secrets at rest (tracker tokens, SSH keys): 64 hex characters. Without it,
    /// <data_dir>/secret.key is used, created with mode 0600 on first start. Keep a copy: the
    /// stored secrets cannot be read without it.
    #[arg(long, env = "AIOPS_SECRET_KEY", global = true, hide_env_values = true)]
    pub secret_key: Option<String>,
    /// A file holding the master key (e.g. a systemd credential: LoadCredential=, then
    /// %d/secret_key). Preferred over AIOPS_SECRET_KEY: a file never shows in any process's
    /// environment.
    #[arg(long, env = "AIOPS_SECRET_KEY_FILE", global = true)]
    pub secret_key_file: Option<PathBuf>,
}

/// The contents of a secret file, trimmed; a clear error when it cannot be read.
fn read_secret_file(what: &str, p: &Path) -> anyhow::Result<String> {
    let s = std::fs::read_to_string(p)
        .map_err(|e| anyhow::anyhow!("cannot read the {what} file {}: {e}", p.display()))?;
    Ok(s.trim().to_string())
}

impl StoreArgs {
    /// The master key: `--secret-key`/AIOPS_SECRET_KEY, else the file named by
    /// `--secret-key-file`/AIOPS_SECRET_KEY_FILE, else none (then `<data_dir>/secret.key`).
    pub fn master_key(&self) -> anyhow::Result<Option<String>> {
        if let Some(k) = self.secret_key.clone().filter(|s| !s.is_empty()) {
            return Ok(Some(k));
        }
        match &self.secret_key_file {
            Some(p) => Ok(Some(read_secret_file("master key", p)?).filter(|s| !s.is_empty())),
            None => Ok(None),
        }
    }
}

#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8060]
    #[arg(long, env = "AIOPS_BIND")]
    pub bind: Option<String>,
    /// Email of the admin created on first start when no user exists
    #[arg(long, env = "AIOPS_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// Password of that admin (8-255 characters). Without it, a one-time setup link is printed.
    #[arg(long, env = "AIOPS_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// A file holding that password (preferred: it never shows in a process's environment)
    #[arg(long, env = "AIOPS_ADMIN_PASSWORD_FILE")]
    pub admin_password_file: Option<PathBuf>,
    /// The agent sandbox (bubblewrap): `on` (default) or `off`. Off runs every agent, shell and
    /// project playbook with the server's own powers.
    #[arg(long, env = "AIOPS_SANDBOX")]
    pub sandbox: Option<String>,
    /// URL people use to reach this server, for printed links [default: http://<bind>]
    #[arg(long, env = "AIOPS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Mark the session cookie Secure (set when served over HTTPS) [default: false]
    #[arg(long, env = "AIOPS_COOKIE_SECURE")]
    pub cookie_secure: Option<bool>,
    /// Web session lifetime in hours [default: 168]
    #[arg(long, env = "AIOPS_SESSION_HOURS")]
    pub session_hours: Option<u64>,
    /// Failed logins (web) or failed API authentications allowed per client IP per minute [default: 10]
    #[arg(long, env = "AIOPS_LOGIN_ATTEMPTS_PER_MINUTE")]
    pub login_attempts_per_minute: Option<u32>,
    /// Largest accepted request body in bytes [default: 1048576]
    #[arg(long, env = "AIOPS_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Root of the managed project checkouts [default: <data_dir>/repos]
    #[arg(long, env = "AIOPS_REPO_STORAGE_PATH")]
    pub repo_storage_path: Option<PathBuf>,
    /// Root of the per-user workspaces: <root>/<user>/<tenant>/<project> [default: <data_dir>/workspaces]
    #[arg(long, env = "AIOPS_WORKSPACE_ROOT")]
    pub workspace_root: Option<PathBuf>,
    /// Put the workspaces of users with a Linux username under that account's home
    /// (~/workspace/<tenant>/<project>) and run their git as that user through `sudo -n`
    /// [default: false]
    #[arg(long, env = "AIOPS_LINUX_USER_WORKSPACES")]
    pub linux_user_workspaces: Option<bool>,
    /// Agent tools, `name=command;…`, added to (or replacing) claude, codex, gemini and shell
    #[arg(long, env = "AIOPS_TOOLS")]
    pub tools: Option<String>,
    /// Log filter, e.g. info or aiops=debug [default: info]
    #[arg(long, env = "AIOPS_LOG")]
    pub log: Option<String>,
    /// Seconds one tracker request (GitHub, GitLab, Jira) may take [default: 30]
    #[arg(long, env = "AIOPS_TRACKER_TIMEOUT_SECS")]
    pub tracker_timeout_secs: Option<u64>,
    /// A PEM file of extra CA certificates trusted for trackers (self-hosted GitLab or Jira
    /// behind a private CA), on top of the bundled and the system's roots
    #[arg(long, env = "AIOPS_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,
    /// Playbooks (`playbooks/`) and inventories (`inventories/`) of the server
    /// [default: <data_dir>/ansible, with an example playbook installed on first start]
    #[arg(long, env = "AIOPS_ANSIBLE_DIR")]
    pub ansible_dir: Option<PathBuf>,
    /// Playbook runs at the same time; more wait in a queue [default: 2]
    #[arg(long, env = "AIOPS_ANSIBLE_MAX_CONCURRENT")]
    pub ansible_max_concurrent: Option<usize>,
    /// Audit entries older than this many days are removed (hourly) [default: 90]
    #[arg(long, env = "AIOPS_AUDIT_RETENTION_DAYS")]
    pub audit_retention_days: Option<u64>,
    /// At most this many audit entries are kept (oldest removed first) [default: 1000000]
    #[arg(long, env = "AIOPS_AUDIT_MAX_ROWS")]
    pub audit_max_rows: Option<u64>,
    /// Addresses of reverse proxies (comma-separated IPs) whose X-Forwarded-For / Forwarded
    /// header names the real client, for rate limits and the audit log [default: none]
    #[arg(long, env = "AIOPS_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// Release channel for `POST /system/update` and `aiops update`: an http(s) URL or a file
    /// path of a JSON manifest {"version", "url", "sha256"} [default: none]
    #[arg(long, env = "AIOPS_UPDATE_URL")]
    pub update_url: Option<String>,
    /// Update commands for the agent tools, `tool.source=command;…` (source npm or brew), run
    /// without a shell, e.g. `claude.npm=npm install -g @anthropic-ai/claude-code`
    /// [default: npm install -g <package> / brew upgrade <formula>]
    #[arg(long, env = "AIOPS_AI_TOOL_UPDATE_COMMANDS")]
    pub ai_tool_update_commands: Option<String>,
    /// Seconds an agent tool update command may take [default: 900]
    #[arg(long, env = "AIOPS_AI_TOOL_UPDATE_TIMEOUT_SECS")]
    pub ai_tool_update_timeout_secs: Option<u64>,
}

/// The agent tools `POST /system/ai-tools/{tool}/update` knows, with their labels.
pub const AI_TOOLS: &[(&str, &str)] = &[
    ("codex", "Codex CLI"),
    ("gemini", "Gemini CLI"),
    ("claude", "Claude CLI"),
];

/// The sources an agent tool can be updated from.
pub const AI_TOOL_SOURCES: &[&str] = &["npm", "brew"];

/// The default update commands, keyed `tool.source` (no sudo: the service account must own the
/// global npm prefix or the brew installation).
pub fn default_ai_tool_update_commands() -> std::collections::BTreeMap<String, String> {
    [
        ("codex.npm", "npm install -g @openai/codex"),
        ("gemini.npm", "npm install -g @google/gemini-cli"),
        ("claude.npm", "npm install -g @anthropic-ai/claude-code"),
        ("codex.brew", "brew upgrade codex"),
        ("gemini.brew", "brew upgrade gemini-cli"),
        ("claude.brew", "brew upgrade claude-code"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Checks one `tool.source` = command entry.
fn ai_tool_update_entry(key: &str, command: &str) -> anyhow::Result<(String, String)> {
    let key = key.trim();
    let ok = key.split_once('.').is_some_and(|(t, s)| {
        AI_TOOLS.iter().any(|(n, _)| *n == t) && AI_TOOL_SOURCES.contains(&s)
    });
    if !ok {
        anyhow::bail!(
            "ai_tool_update_commands: '{key}' must be <tool>.<source> with tool codex, gemini or claude and source npm or brew"
        );
    }
    if command.split_whitespace().next().is_none() {
        anyhow::bail!("ai_tool_update_commands: the command for '{key}' is empty");
    }
    Ok((key.to_string(), command.trim().to_string()))
}

/// `tool.source=command;…` as given in AIOPS_AI_TOOL_UPDATE_COMMANDS.
pub fn parse_ai_tool_update_commands(spec: &str) -> anyhow::Result<Vec<(String, String)>> {
    spec.split(';')
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let (k, v) = e.split_once('=').ok_or_else(|| {
                anyhow::anyhow!(
                    "ai_tool_update_commands: '{e}' must be tool.source=command (e.g. claude.npm=npm install -g @anthropic-ai/claude-code)"
                )
            })?;
            ai_tool_update_entry(k, v)
        })
        .collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<String>,
    data_dir: Option<PathBuf>,
    admin_email: Option<String>,
    admin_password: Option<String>,
    public_url: Option<String>,
    cookie_secure: Option<bool>,
    session_hours: Option<u64>,
    login_attempts_per_minute: Option<u32>,
    max_body_bytes: Option<usize>,
    repo_storage_path: Option<PathBuf>,
    workspace_root: Option<PathBuf>,
    linux_user_workspaces: Option<bool>,
    /// `[tools]` table: name = "command".
    tools: Option<std::collections::BTreeMap<String, String>>,
    log: Option<String>,
    tracker_timeout_secs: Option<u64>,
    ca_bundle: Option<PathBuf>,
    ansible_dir: Option<PathBuf>,
    ansible_max_concurrent: Option<usize>,
    sandbox: Option<String>,
    audit_retention_days: Option<u64>,
    audit_max_rows: Option<u64>,
    trusted_proxies: Option<Vec<String>>,
    update_url: Option<String>,
    /// `[ai_tool_update_commands]` table: "tool.source" = "command".
    ai_tool_update_commands: Option<std::collections::BTreeMap<String, String>>,
    ai_tool_update_timeout_secs: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: String,
    pub data_dir: PathBuf,
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
    pub public_url: Option<String>,
    pub cookie_secure: bool,
    pub session_hours: u64,
    pub login_attempts_per_minute: u32,
    pub max_body_bytes: usize,
    pub repo_storage_path: PathBuf,
    pub workspace_root: PathBuf,
    pub linux_user_workspaces: bool,
    /// Agent tools by name (built-ins, then `[tools]`, then `AIOPS_TOOLS`).
    pub tools: std::collections::BTreeMap<String, String>,
    pub log: String,
    /// Whole-request timeout for tracker calls, in seconds.
    pub tracker_timeout_secs: u64,
    /// Extra CA certificates (PEM) for tracker TLS.
    pub ca_bundle: Option<PathBuf>,
    pub secret_key: Option<String>,
    pub ansible_dir: PathBuf,
    pub ansible_max_concurrent: usize,
    /// Agents, shells, git and project playbooks run in the bubblewrap sandbox.
    pub sandbox: bool,
    /// The aiops.toml read, if any (hidden from the sandbox with its directory).
    pub config_file: Option<PathBuf>,
    /// The service account's home at start (hidden from the sandbox).
    pub server_home: Option<PathBuf>,
    pub audit_retention_days: u64,
    pub audit_max_rows: u64,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The release channel's manifest (an http(s) URL or a file path), if any.
    pub update_url: Option<String>,
    /// Agent tool update commands keyed `tool.source` (defaults, then the file, then the env).
    pub ai_tool_update_commands: std::collections::BTreeMap<String, String>,
    pub ai_tool_update_timeout_secs: u64,
}

/// `p` made absolute against the current directory (unchanged when that fails).
fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}

/// `on`/`off` (also true/false, yes/no, 1/0), any case.
pub fn parse_switch(name: &str, v: &str) -> anyhow::Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        other => Err(anyhow::anyhow!("{name} must be on or off (got '{other}')")),
    }
}

fn read_file_config(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    let Some(path) = path else {
        // An aiops.toml in the working directory is picked up when present.
        let default = Path::new("aiops.toml");
        if default.exists() {
            return read_file_config(Some(default));
        }
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
    toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))
}

impl Config {
    pub fn resolve(args: &ServeArgs) -> anyhow::Result<Config> {
        let file = read_file_config(args.store.config.as_deref())?;
        let data_dir = args
            .store
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let repo_storage_path = args
            .repo_storage_path
            .clone()
            .or(file.repo_storage_path)
            .unwrap_or_else(|| data_dir.join("repos"));
        let workspace_root = args
            .workspace_root
            .clone()
            .or(file.workspace_root)
            .unwrap_or_else(|| data_dir.join("workspaces"));
        let mut tools = crate::domain::sessions::default_tools();
        for (k, v) in file.tools.clone().unwrap_or_default() {
            let spec = format!("{k}={v}");
            tools.extend(
                crate::domain::sessions::parse_tools(&spec)
                    .map_err(|e| anyhow::anyhow!("invalid [tools] entry: {e}"))?,
            );
        }
        if let Some(spec) = &args.tools {
            tools.extend(
                crate::domain::sessions::parse_tools(spec)
                    .map_err(|e| anyhow::anyhow!("invalid AIOPS_TOOLS: {e}"))?,
            );
        }
        let mut ai_tool_update_commands = default_ai_tool_update_commands();
        for (k, v) in file.ai_tool_update_commands.clone().unwrap_or_default() {
            let (k, v) = ai_tool_update_entry(&k, &v)?;
            ai_tool_update_commands.insert(k, v);
        }
        if let Some(spec) = &args.ai_tool_update_commands {
            ai_tool_update_commands.extend(parse_ai_tool_update_commands(spec)?);
        }
        let cfg = Config {
            tools,
            ai_tool_update_commands,
            ai_tool_update_timeout_secs: args
                .ai_tool_update_timeout_secs
                .or(file.ai_tool_update_timeout_secs)
                .unwrap_or(900)
                .clamp(1, 86_400),
            update_url: args
                .update_url
                .clone()
                .or(file.update_url.clone())
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty()),
            bind: args
                .bind
                .clone()
                .or(file.bind)
                .unwrap_or_else(|| DEFAULT_BIND.into()),
            admin_email: args
                .admin_email
                .clone()
                .or(file.admin_email)
                .filter(|s| !s.is_empty()),
            admin_password: match args.admin_password.clone().filter(|s| !s.is_empty()) {
                Some(p) => Some(p),
                None => match &args.admin_password_file {
                    Some(f) => Some(read_secret_file("admin password", f)?),
                    None => file.admin_password.clone(),
                },
            }
            .filter(|s| !s.is_empty()),
            public_url: args
                .public_url
                .clone()
                .or(file.public_url)
                .filter(|s| !s.is_empty()),
            cookie_secure: args.cookie_secure.or(file.cookie_secure).unwrap_or(false),
            linux_user_workspaces: args
                .linux_user_workspaces
                .or(file.linux_user_workspaces)
                .unwrap_or(false),
            session_hours: args
                .session_hours
                .or(file.session_hours)
                .unwrap_or(168)
                .max(1),
            login_attempts_per_minute: args
                .login_attempts_per_minute
                .or(file.login_attempts_per_minute)
                .unwrap_or(10)
                .max(1),
            max_body_bytes: args
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(1 << 20),
            tracker_timeout_secs: args
                .tracker_timeout_secs
                .or(file.tracker_timeout_secs)
                .unwrap_or(crate::services::trackers::DEFAULT_TIMEOUT_SECS)
                .clamp(1, 600),
            ca_bundle: args
                .ca_bundle
                .clone()
                .or(file.ca_bundle)
                .filter(|p| !p.as_os_str().is_empty()),
            log: args
                .log
                .clone()
                .or(file.log)
                .unwrap_or_else(|| "info".into()),
            secret_key: args.store.master_key()?,
            audit_retention_days: args
                .audit_retention_days
                .or(file.audit_retention_days)
                .unwrap_or(90)
                .max(1),
            audit_max_rows: args
                .audit_max_rows
                .or(file.audit_max_rows)
                .unwrap_or(1_000_000)
                .max(1),
            trusted_proxies: {
                let list: Vec<String> = match &args.trusted_proxies {
                    Some(s) => s.split(',').map(|x| x.trim().to_string()).collect(),
                    None => file.trusted_proxies.clone().unwrap_or_default(),
                };
                list.iter()
                    .filter(|x| !x.is_empty())
                    .map(|x| {
                        x.parse::<std::net::IpAddr>().map_err(|_| {
                            anyhow::anyhow!(
                                "trusted_proxies: '{x}' is not an IP address (give the proxies' addresses, comma-separated)"
                            )
                        })
                    })
                    .collect::<anyhow::Result<_>>()?
            },
            sandbox: parse_switch(
                "sandbox",
                args.sandbox
                    .as_deref()
                    .or(file.sandbox.as_deref())
                    .unwrap_or("on"),
            )?,
            config_file: args.store.config.clone().or_else(|| {
                let d = PathBuf::from("aiops.toml");
                d.exists().then_some(d)
            }),
            server_home: std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|h| h.is_absolute() && h != Path::new("/")),
            ansible_dir: args
                .ansible_dir
                .clone()
                .or(file.ansible_dir)
                .unwrap_or_else(|| data_dir.join("ansible")),
            ansible_max_concurrent: args
                .ansible_max_concurrent
                .or(file.ansible_max_concurrent)
                .unwrap_or(2)
                .clamp(1, 64),
            // Absolute from here on: the sandbox binds these paths, git and tmux run elsewhere,
            // and a relative default (./instance) must not change meaning with the directory.
            data_dir: absolute(data_dir),
            repo_storage_path: absolute(repo_storage_path),
            workspace_root: absolute(workspace_root),
        };
        let cfg = Config {
            ansible_dir: absolute(cfg.ansible_dir.clone()),
            ..cfg
        };
        Ok(cfg)
    }

    /// Data dir for the offline `admin` commands (same precedence, no server keys).
    pub fn data_dir_for(store: &StoreArgs) -> anyhow::Result<PathBuf> {
        let file = read_file_config(store.config.as_deref())?;
        Ok(store
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_defaults_then_file_then_env_or_flag() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("aiops.toml");
        std::fs::write(&file, "bind = \"127.0.0.1:9999\"\nsession_hours = 5\n").unwrap();
        let mut args = ServeArgs::default();
        args.store.config = Some(file.clone());
        let c = Config::resolve(&args).unwrap();
        assert_eq!(c.bind, "127.0.0.1:9999");
        assert_eq!(c.session_hours, 5);
        assert_eq!(c.max_body_bytes, 1 << 20);
        args.bind = Some("0.0.0.0:1".into());
        assert_eq!(Config::resolve(&args).unwrap().bind, "0.0.0.0:1");
    }

    #[test]
    fn a_relative_data_dir_becomes_absolute_with_everything_under_it() {
        let args = ServeArgs {
            store: StoreArgs {
                data_dir: Some(PathBuf::from("probe/d")),
                ..Default::default()
            },
            ..Default::default()
        };
        let c = Config::resolve(&args).unwrap();
        for p in [
            &c.data_dir,
            &c.workspace_root,
            &c.repo_storage_path,
            &c.ansible_dir,
        ] {
            assert!(p.is_absolute(), "{}", p.display());
        }
        assert!(c.data_dir.ends_with("probe/d"));
        assert!(c.workspace_root.starts_with(&c.data_dir));
    }

    #[test]
    fn update_url_and_tool_update_commands_follow_the_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("aiops.toml");
        std::fs::write(
            &file,
            "update_url = \"https://rel.example/aiops.json\"\n[ai_tool_update_commands]\n\"codex.npm\" = \"npm i -g codex-fork\"\n",
        )
        .unwrap();
        let mut args = ServeArgs::default();
        assert_eq!(Config::resolve(&args).unwrap().update_url, None);
        args.store.config = Some(file);
        let c = Config::resolve(&args).unwrap();
        assert_eq!(
            c.update_url.as_deref(),
            Some("https://rel.example/aiops.json")
        );
        assert_eq!(
            c.ai_tool_update_commands["codex.npm"],
            "npm i -g codex-fork"
        );
        assert_eq!(
            c.ai_tool_update_commands["claude.brew"],
            "brew upgrade claude-code"
        );
        args.update_url = Some("/srv/aiops/manifest.json".into());
        args.ai_tool_update_commands = Some("claude.npm=npm i -g x;".into());
        let c = Config::resolve(&args).unwrap();
        assert_eq!(c.update_url.as_deref(), Some("/srv/aiops/manifest.json"));
        assert_eq!(c.ai_tool_update_commands["claude.npm"], "npm i -g x");
        assert!(parse_ai_tool_update_commands("vim.npm=npm i -g vim").is_err());
        assert!(parse_ai_tool_update_commands("claude.pip=pip install x").is_err());
        assert!(parse_ai_tool_update_commands("claude.npm=  ").is_err());
    }

    #[test]
    fn unknown_file_keys_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("aiops.toml");
        std::fs::write(&file, "bnd = \"x\"\n").unwrap();
        let mut args = ServeArgs::default();
        args.store.config = Some(file);
        let err = Config::resolve(&args).unwrap_err().to_string();
        assert!(err.contains("bnd"), "{err}");
    }
}
