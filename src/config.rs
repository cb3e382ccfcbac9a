//! Server configuration: one [`Config`] struct, layered with figment: defaults
//! (`Config::default()`) < `aiops.toml` (`--config` / `AIOPS_CONFIG`) < `AIOPS_*` environment
//! variables < command-line flags (clap parses only the command line).
//!
//! Adding an option is one field in [`Config`] (its default in `impl Default for Config`), plus
//! a flag in [`ServeArgs`] of the same name if it should have one. The file key is the field's
//! name, the environment variable `AIOPS_` + the name in capitals. Every environment value is
//! text, never guessed at: numbers and switches (`true`/`false`, `on`/`off`, `yes`/`no`,
//! `1`/`0`) are read from it when the option asks for one, so a numeric-looking password stays
//! a string. There and in a flag's text, a list is written comma-separated (it replaces the
//! list below) and a table (an option whose default is a table, such as `tools`) as
//! `key=value;…` (its entries are added to those of the layers below).

use clap::Args;
use figment::value::{Dict, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub const DEFAULT_BIND: &str = "127.0.0.1:8060";
pub const DEFAULT_DATA_DIR: &str = "./instance";

/// Options shared by every command that opens the data directory.
#[derive(Args, Debug, Clone, Default, Serialize)]
pub struct StoreArgs {
    /// Path of an aiops.toml file. Keys are the long option names with `_` for `-` (bind,
    /// data_dir, admin_email, …).
    #[arg(long, env = "AIOPS_CONFIG", global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Data directory holding aiops.redb [default: ./instance] [env: AIOPS_DATA_DIR]
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Master key for secrets at rest (tracker tokens, SSH keys): 64 hex characters. Without it,
    /// <data_dir>/secret.key is used, created with mode 0600 on first start. Keep a copy: the
    /// stored secrets cannot be read without it [env: AIOPS_SECRET_KEY]
    #[arg(long, global = true)]
    pub secret_key: Option<String>,
    /// A file holding the master key (e.g. a systemd credential: LoadCredential=, then
    /// %d/secret_key). Preferred over AIOPS_SECRET_KEY: a file never shows in any process's
    /// environment [env: AIOPS_SECRET_KEY_FILE]
    #[arg(long, global = true)]
    pub secret_key_file: Option<PathBuf>,
    /// The `AIOPS_*` variables of the options, taken when the command line is parsed (before
    /// the server removes its secrets from its environment). `StoreArgs::default()` has none,
    /// so tests that build their arguments see no ambient environment.
    #[arg(skip = EnvVars::capture())]
    #[serde(skip)]
    pub env: EnvVars,
}

/// The `AIOPS_<OPTION>` environment variables of the [`Config`] options, keyed by option name.
/// `Debug` shows the names only (values may be secrets).
#[derive(Clone, Default)]
pub struct EnvVars(BTreeMap<String, OsString>);

impl std::fmt::Debug for EnvVars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.keys().map(|k| env_name(k)))
            .finish()
    }
}

impl EnvVars {
    /// The process environment's `AIOPS_<OPTION>` variables now.
    pub fn capture() -> EnvVars {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// Variables given as (name, value) pairs, e.g. `("AIOPS_BIND", "127.0.0.1:0")` (tests);
    /// names that are no option's are ignored, as in the process environment.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> EnvVars {
        Self::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        })
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> EnvVars {
        EnvVars(
            option_names()
                .into_iter()
                .filter_map(|k| lookup(&env_name(&k)).map(|v| (k, v)))
                .collect(),
        )
    }
}

/// `AIOPS_` + the option name in capitals.
fn env_name(option: &str) -> String {
    format!("AIOPS_{}", option.to_ascii_uppercase())
}

/// The name of every option (the fields of [`Config`] that are read, unset ones included).
fn option_names() -> Vec<String> {
    match Value::serialize(Config::default()) {
        Ok(Value::Dict(_, d)) => d.into_keys().collect(),
        _ => Vec::new(),
    }
}

/// The contents of a secret file, trimmed; a clear error when it cannot be read.
fn read_secret_file(what: &str, p: &Path) -> anyhow::Result<String> {
    let s = std::fs::read_to_string(p)
        .map_err(|e| anyhow::anyhow!("cannot read the {what} file {}: {e}", p.display()))?;
    Ok(s.trim().to_string())
}

/// The flags of `aiops serve`, one per [`Config`] option of the same name. clap reads only the
/// command line; the help names each flag's environment variable, which [`Config::resolve`]
/// reads (from [`StoreArgs::env`]).
#[derive(Args, Debug, Clone, Default, Serialize)]
pub struct ServeArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub store: StoreArgs,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8060] [env: AIOPS_BIND]
    #[arg(long)]
    pub bind: Option<String>,
    /// Email of the admin created on first start when no user exists [env: AIOPS_ADMIN_EMAIL]
    #[arg(long)]
    pub admin_email: Option<String>,
    /// Password of that admin (8-255 characters). Without it, a one-time setup link is printed
    /// [env: AIOPS_ADMIN_PASSWORD]
    #[arg(long)]
    pub admin_password: Option<String>,
    /// A file holding that password (preferred: it never shows in a process's environment)
    /// [env: AIOPS_ADMIN_PASSWORD_FILE]
    #[arg(long)]
    pub admin_password_file: Option<PathBuf>,
    /// The agent sandbox (bubblewrap): `on` (default) or `off`. Off runs every agent, shell and
    /// project playbook with the server's own powers [env: AIOPS_SANDBOX]
    #[arg(long)]
    pub sandbox: Option<String>,
    /// URL people use to reach this server, for printed links [default: http://<bind>]
    /// [env: AIOPS_PUBLIC_URL]
    #[arg(long)]
    pub public_url: Option<String>,
    /// Mark the session cookie Secure (set when served over HTTPS) [default: false]
    /// [env: AIOPS_COOKIE_SECURE]
    #[arg(long)]
    pub cookie_secure: Option<bool>,
    /// Web session lifetime in hours [default: 168] [env: AIOPS_SESSION_HOURS]
    #[arg(long)]
    pub session_hours: Option<u64>,
    /// Failed logins (web) or failed API authentications allowed per client IP per minute [default:
    /// 10] [env: AIOPS_LOGIN_ATTEMPTS_PER_MINUTE]
    #[arg(long)]
    pub login_attempts_per_minute: Option<u32>,
    /// Largest accepted request body in bytes [default: 1048576] [env: AIOPS_MAX_BODY_BYTES]
    #[arg(long)]
    pub max_body_bytes: Option<usize>,
    /// Root of the managed project checkouts [default: <data_dir>/repos]
    /// [env: AIOPS_REPO_STORAGE_PATH]
    #[arg(long)]
    pub repo_storage_path: Option<PathBuf>,
    /// Root of the per-user workspaces: <root>/<user>/<tenant>/<project> [default:
    /// <data_dir>/workspaces] [env: AIOPS_WORKSPACE_ROOT]
    #[arg(long)]
    pub workspace_root: Option<PathBuf>,
    /// Put the workspaces of users with a Linux username under that account's home
    /// (~/workspace/<tenant>/<project>) and run their git as that user through `sudo -n`
    /// [default: false] [env: AIOPS_LINUX_USER_WORKSPACES]
    #[arg(long)]
    pub linux_user_workspaces: Option<bool>,
    /// Agent tools, `name=command;…`, added to (or replacing) claude, codex, gemini and shell
    /// [env: AIOPS_TOOLS]
    #[arg(long)]
    pub tools: Option<String>,
    /// Log filter, e.g. info or aiops=debug [default: info] [env: AIOPS_LOG]
    #[arg(long)]
    pub log: Option<String>,
    /// Seconds one tracker request (GitHub, GitLab, Jira) may take [default: 30]
    /// [env: AIOPS_TRACKER_TIMEOUT_SECS]
    #[arg(long)]
    pub tracker_timeout_secs: Option<u64>,
    /// A PEM file of extra CA certificates trusted for trackers (self-hosted GitLab or Jira
    /// behind a private CA), on top of the bundled and the system's roots [env: AIOPS_CA_BUNDLE]
    #[arg(long)]
    pub ca_bundle: Option<PathBuf>,
    /// Playbooks (`playbooks/`) and inventories (`inventories/`) of the server [default:
    /// <data_dir>/ansible, with an example playbook installed on first start]
    /// [env: AIOPS_ANSIBLE_DIR]
    #[arg(long)]
    pub ansible_dir: Option<PathBuf>,
    /// Playbook runs at the same time; more wait in a queue [default: 2]
    /// [env: AIOPS_ANSIBLE_MAX_CONCURRENT]
    #[arg(long)]
    pub ansible_max_concurrent: Option<usize>,
    /// Audit entries older than this many days are removed (hourly) [default: 90]
    /// [env: AIOPS_AUDIT_RETENTION_DAYS]
    #[arg(long)]
    pub audit_retention_days: Option<u64>,
    /// At most this many audit entries are kept (oldest removed first) [default: 1000000]
    /// [env: AIOPS_AUDIT_MAX_ROWS]
    #[arg(long)]
    pub audit_max_rows: Option<u64>,
    /// Addresses of reverse proxies (comma-separated IPs) whose X-Forwarded-For / Forwarded header
    /// names the real client, for rate limits and the audit log [default: none]
    /// [env: AIOPS_TRUSTED_PROXIES]
    #[arg(long)]
    pub trusted_proxies: Option<String>,
    /// Release channel for `POST /system/update` and `aiops update`: an http(s) URL or a file
    /// path of a JSON manifest {"version", "url", "sha256"} [default: none] [env: AIOPS_UPDATE_URL]
    #[arg(long)]
    pub update_url: Option<String>,
    /// Update commands for the agent tools, `tool.source=command;…` (source npm or brew), or
    /// `tool=command` (any configured tool's own update command, used when no source is
    /// given), run without a shell, e.g. `claude.npm=npm install -g @anthropic-ai/claude-code`
    /// [default: npm
    /// install -g <package> / brew upgrade <formula>] [env: AIOPS_AI_TOOL_UPDATE_COMMANDS]
    #[arg(long)]
    pub ai_tool_update_commands: Option<String>,
    /// Seconds an agent tool update command may take [default: 900]
    /// [env: AIOPS_AI_TOOL_UPDATE_TIMEOUT_SECS]
    #[arg(long)]
    pub ai_tool_update_timeout_secs: Option<u64>,
    /// Let users' notification targets (webhook, ntfy, push endpoints) be on internal
    /// networks: loopback, private and link-local addresses [default: false]
    /// [env: AIOPS_NOTIFY_PRIVATE_TARGETS]
    #[arg(long)]
    pub notify_private_targets: Option<bool>,
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
pub fn default_ai_tool_update_commands() -> BTreeMap<String, String> {
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
    // `<tool>` alone: that configured tool's own update command (any tool name).
    let plain = !key.is_empty()
        && !key.contains('.')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let ok = plain
        || key.split_once('.').is_some_and(|(t, s)| {
            AI_TOOLS.iter().any(|(n, _)| *n == t) && AI_TOOL_SOURCES.contains(&s)
        });
    if !ok {
        anyhow::bail!(
            "ai_tool_update_commands: '{key}' must be <tool>.<source> with tool codex, gemini or claude and source npm or brew, or a bare <tool> (that tool's own update command)"
        );
    }
    if command.split_whitespace().next().is_none() {
        anyhow::bail!("ai_tool_update_commands: the command for '{key}' is empty");
    }
    Ok((key.to_string(), command.trim().to_string()))
}

/// The server's configuration: every option, one field each. Deserialized from the merged
/// layers (unknown keys are refused), then [`Config::resolve`] derives what depends on other
/// options (paths under `data_dir`, secrets read from files, bounds).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub bind: String,
    /// Holds aiops.redb (absolute once resolved).
    pub data_dir: PathBuf,
    /// The admin created on first start when no user exists.
    pub admin_email: Option<String>,
    /// That admin's password. Once resolved, read from `admin_password_file` instead when that
    /// is named and no non-empty value comes from the same or a higher layer.
    pub admin_password: Option<String>,
    /// A file holding that password.
    pub admin_password_file: Option<PathBuf>,
    /// The master key (64 hex characters); None: `<data_dir>/secret.key`. Once resolved, read
    /// from `secret_key_file` under the same rule as `admin_password`.
    pub secret_key: Option<String>,
    /// A file holding the master key.
    pub secret_key_file: Option<PathBuf>,
    pub public_url: Option<String>,
    pub cookie_secure: bool,
    pub session_hours: u64,
    pub login_attempts_per_minute: u32,
    pub max_body_bytes: usize,
    /// Empty in `Config::default()`: `<data_dir>/repos`.
    pub repo_storage_path: PathBuf,
    /// Empty in `Config::default()`: `<data_dir>/workspaces`.
    pub workspace_root: PathBuf,
    pub linux_user_workspaces: bool,
    /// Agent tools by name (built-ins, then `[tools]`, then `AIOPS_TOOLS`, then `--tools`).
    pub tools: BTreeMap<String, String>,
    pub log: String,
    /// Whole-request timeout for tracker calls, in seconds.
    pub tracker_timeout_secs: u64,
    /// Extra CA certificates (PEM) for tracker TLS.
    pub ca_bundle: Option<PathBuf>,
    /// Empty in `Config::default()`: `<data_dir>/ansible`.
    pub ansible_dir: PathBuf,
    pub ansible_max_concurrent: usize,
    /// Agents, shells, git and project playbooks run in the bubblewrap sandbox (`on`/`off`).
    #[serde(deserialize_with = "de_switch")]
    pub sandbox: bool,
    pub audit_retention_days: u64,
    pub audit_max_rows: u64,
    /// Proxies whose forwarding headers are believed.
    #[serde(deserialize_with = "de_ip_list")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The release channel's manifest (an http(s) URL or a file path), if any.
    pub update_url: Option<String>,
    /// Agent tool update commands keyed `tool.source` (defaults, then the file, then the env,
    /// then the flag).
    pub ai_tool_update_commands: BTreeMap<String, String>,
    pub ai_tool_update_timeout_secs: u64,
    /// Users' notification targets may be on internal networks (off: internet addresses only,
    /// checked when saved and again after every lookup).
    pub notify_private_targets: bool,
    /// Extra prompt patterns per agent tool (`[agent_patterns.<tool>]` with `approval`,
    /// `input` and `rate_limited` lists; `*` for every tool), added to the built-in ones.
    /// Each is text found in a line (any case) or `re:<regex>`. File only.
    pub agent_patterns: BTreeMap<String, crate::domain::agent_state::PatternConfig>,
    /// The aiops.toml read, if any (hidden from the sandbox with its directory).
    #[serde(skip)]
    pub config_file: Option<PathBuf>,
    /// The service account's home at start (hidden from the sandbox).
    #[serde(skip)]
    pub server_home: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            bind: DEFAULT_BIND.into(),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            admin_email: None,
            admin_password: None,
            admin_password_file: None,
            secret_key: None,
            secret_key_file: None,
            public_url: None,
            cookie_secure: false,
            session_hours: 168,
            login_attempts_per_minute: 10,
            max_body_bytes: 1 << 20,
            repo_storage_path: PathBuf::new(),
            workspace_root: PathBuf::new(),
            linux_user_workspaces: false,
            tools: crate::domain::sessions::default_tools(),
            log: "info".into(),
            tracker_timeout_secs: crate::services::trackers::DEFAULT_TIMEOUT_SECS,
            ca_bundle: None,
            ansible_dir: PathBuf::new(),
            ansible_max_concurrent: 2,
            sandbox: true,
            audit_retention_days: 90,
            audit_max_rows: 1_000_000,
            trusted_proxies: Vec::new(),
            update_url: None,
            ai_tool_update_commands: default_ai_tool_update_commands(),
            ai_tool_update_timeout_secs: 900,
            notify_private_targets: false,
            agent_patterns: BTreeMap::new(),
            config_file: None,
            server_home: None,
        }
    }
}

/// `on`/`off` (also true/false, yes/no, 1/0), any case.
pub fn parse_switch(name: &str, v: &str) -> anyhow::Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        other => Err(anyhow::anyhow!("{name} must be on or off (got '{other}')")),
    }
}

/// A switch given as a boolean or as text (`on`/`off`, …).
fn de_switch<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Switch {
        Bool(bool),
        Text(String),
    }
    match Switch::deserialize(d)? {
        Switch::Bool(b) => Ok(b),
        Switch::Text(t) => parse_switch("sandbox", &t).map_err(serde::de::Error::custom),
    }
}

/// A list of IP addresses; empty entries are skipped.
fn de_ip_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<std::net::IpAddr>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|x| x.trim())
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.parse().map_err(|_| {
                serde::de::Error::custom(format!(
                    "trusted_proxies: '{x}' is not an IP address (give the proxies' addresses, comma-separated)"
                ))
            })
        })
        .collect()
}

/// `p` made absolute against the current directory (unchanged when that fails).
fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}

/// Where a layer's values come from, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    Defaults,
    File,
    Env,
    Flags,
}

/// One layer: its values and where they come from.
#[derive(Clone)]
struct Source {
    layer: Layer,
    /// The config file's path (the file layer).
    path: Option<PathBuf>,
    dict: Dict,
}

impl Source {
    /// The provider's name, which figment puts in its errors.
    fn name(&self) -> String {
        match (self.layer, &self.path) {
            (Layer::Defaults, _) => "the defaults".into(),
            (Layer::File, Some(p)) => format!("config file {}", p.display()),
            (Layer::File, None) => "the config file".into(),
            (Layer::Env, _) => "the environment".into(),
            (Layer::Flags, _) => "the command line".into(),
        }
    }

    /// How a person names `key` (a top-level option) in this layer.
    fn describe(&self, key: &str) -> String {
        match self.layer {
            Layer::Defaults => format!("the default {key}"),
            Layer::File => format!("{key} in {}", self.name()),
            Layer::Env => env_name(key),
            Layer::Flags => format!("--{}", key.replace('_', "-")),
        }
    }
}

impl Provider for Source {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name())
    }

    fn data(&self) -> Result<figment::value::Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// The defaults as a figment dictionary.
fn defaults_dict() -> anyhow::Result<Dict> {
    to_dict(&Config::default(), "defaults")
}

/// A serializable value as a figment dictionary, without its unset (`None`) entries.
fn to_dict<T: Serialize>(v: &T, what: &str) -> anyhow::Result<Dict> {
    let Value::Dict(_, mut d) =
        Value::serialize(v).map_err(|e| anyhow::anyhow!("invalid {what}: {e}"))?
    else {
        anyhow::bail!("invalid {what}: not a table of options");
    };
    d.retain(|_, v| !matches!(v, Value::Empty(..)));
    Ok(d)
}

/// A text value from the environment or the command line, shaped like the option's default:
/// a table from `key=value;…`, a list from `a,b,…`, else the text (numbers and switches are
/// read from it when the option is extracted).
fn from_text(default: Option<&Value>, text: &str, source: &str) -> anyhow::Result<Value> {
    match default {
        Some(Value::Dict(..)) => {
            let mut d = Dict::new();
            for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                let (k, v) = part.split_once('=').ok_or_else(|| {
                    anyhow::anyhow!(
                        "invalid {source}: '{part}' must be written key=value (entries separated by ;)"
                    )
                })?;
                d.insert(k.trim().to_string(), Value::from(v.trim().to_string()));
            }
            Ok(Value::from(d))
        }
        Some(Value::Array(..)) => Ok(Value::from(
            text.split(',')
                .map(|x| Value::from(x.trim().to_string()))
                .collect::<Vec<_>>(),
        )),
        _ => Ok(Value::from(text.to_string())),
    }
}

/// Text values (environment, flags) shaped like their defaults.
fn shape(defaults: &Dict, dict: Dict, describe: impl Fn(&str) -> String) -> anyhow::Result<Dict> {
    dict.into_iter()
        .map(|(k, v)| {
            let v = match &v {
                Value::String(_, text) => from_text(defaults.get(&k), text, &describe(&k))?,
                _ => v,
            };
            Ok((k, v))
        })
        .collect()
}

/// The file `--config`/`AIOPS_CONFIG` names, else `./aiops.toml` when present.
fn config_path(store: &StoreArgs) -> Option<PathBuf> {
    store.config.clone().or_else(|| {
        let d = PathBuf::from("aiops.toml");
        d.exists().then_some(d)
    })
}

/// The config file's keys, read with the `toml` crate.
fn read_file(path: &Path) -> anyhow::Result<Dict> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))?;
    to_dict(&table, &format!("config file {}", path.display()))
}

/// The four layers, lowest first. `flags` holds the command line's values.
fn layers(store: &StoreArgs, flags: Dict) -> anyhow::Result<Vec<Source>> {
    let defaults = defaults_dict()?;
    let path = config_path(store);
    let file = match &path {
        Some(p) => read_file(p)?,
        None => Dict::new(),
    };
    let env = store
        .env
        .0
        .iter()
        .map(|(k, v)| {
            let text = v.clone().into_string().map_err(|_| {
                anyhow::anyhow!("{} is not valid UTF-8: give the value as text", env_name(k))
            })?;
            Ok((k.clone(), Value::from(text)))
        })
        .collect::<anyhow::Result<Dict>>()?;
    let env = shape(&defaults, env, env_name)?;
    let flags = shape(&defaults, flags, |k| format!("--{}", k.replace('_', "-")))?;
    Ok(vec![
        Source {
            layer: Layer::Defaults,
            path: None,
            dict: defaults,
        },
        Source {
            layer: Layer::File,
            path,
            dict: file,
        },
        Source {
            layer: Layer::Env,
            path: None,
            dict: env,
        },
        Source {
            layer: Layer::Flags,
            path: None,
            dict: flags,
        },
    ])
}

/// The layers merged into one [`Config`] (nothing derived yet). A bad value's error names the
/// option and the layer it came from.
fn extract(sources: &[Source]) -> anyhow::Result<Config> {
    let figment = sources
        .iter()
        .fold(Figment::new(), |f, s| f.merge(s.clone()));
    figment.extract_lossy::<Config>().map_err(|e| {
        let source = e
            .metadata
            .as_ref()
            .and_then(|m| sources.iter().find(|s| s.name() == m.name));
        let key = e.path.first().cloned();
        let what = match (source, &key) {
            (Some(s), Some(k)) => s.describe(k),
            (Some(s), None) => s.name(),
            (None, Some(k)) => k.clone(),
            (None, None) => "the configuration".into(),
        };
        match &e.kind {
            figment::error::Kind::UnknownField(k, known) => anyhow::anyhow!(
                "unknown key `{k}` in {} (the keys are {})",
                source
                    .map(Source::name)
                    .unwrap_or_else(|| "the configuration".into()),
                known.join(", ")
            ),
            kind => anyhow::anyhow!("invalid {what}: {kind}"),
        }
    })
}

/// The highest layer that gives `key` a non-empty value.
fn top_layer(sources: &[Source], key: &str) -> Option<Layer> {
    sources
        .iter()
        .rev()
        .find(|s| match s.dict.get(key) {
            Some(Value::String(_, t)) => !t.is_empty(),
            Some(Value::Empty(..)) | None => false,
            Some(_) => true,
        })
        .map(|s| s.layer)
}

/// A secret given as a value or as a file: the one from the higher layer, the value when both
/// are in the same layer; an empty value counts as none.
fn secret(
    sources: &[Source],
    (key, value): (&str, Option<String>),
    (file_key, file): (&str, Option<&Path>),
    what: &str,
) -> anyhow::Result<Option<String>> {
    let value = value.filter(|v| !v.is_empty());
    let file_wins = top_layer(sources, file_key) > top_layer(sources, key);
    match (value, file) {
        (Some(v), Some(_)) if !file_wins => Ok(Some(v)),
        (_, Some(f)) => Ok(Some(read_secret_file(what, f)?).filter(|s| !s.is_empty())),
        (v, None) => Ok(v),
    }
}

/// Which layer gave the entry `entry` of the table option `key`, for an error.
fn entry_source(sources: &[Source], key: &str, entry: &str) -> String {
    sources
        .iter()
        .rev()
        .find(|s| matches!(s.dict.get(key), Some(Value::Dict(_, d)) if d.contains_key(entry)))
        .map(|s| s.describe(key))
        .unwrap_or_else(|| key.to_string())
}

impl Config {
    /// The configuration `aiops serve` runs with: defaults < config file < `args.store.env` <
    /// the flags in `args`, then what depends on other options derived.
    pub fn resolve(args: &ServeArgs) -> anyhow::Result<Config> {
        let flags = to_dict(args, "command line")?;
        let sources = layers(&args.store, flags)?;
        extract(&sources)?.derive(&sources, config_path(&args.store))
    }

    /// Data dir for the offline `admin` commands (same layers; nothing else derived).
    pub fn data_dir_for(store: &StoreArgs) -> anyhow::Result<PathBuf> {
        let flags = to_dict(store, "command line")?;
        Ok(extract(&layers(store, flags)?)?.data_dir)
    }

    /// Paths under `data_dir` (made absolute), secrets read from their files, tables checked,
    /// numbers kept in their bounds.
    fn derive(self, sources: &[Source], config_file: Option<PathBuf>) -> anyhow::Result<Config> {
        let data_dir = self.data_dir.clone();
        let under = |p: PathBuf, sub: &str| {
            absolute(if p.as_os_str().is_empty() {
                data_dir.join(sub)
            } else {
                p
            })
        };
        let mut tools = BTreeMap::new();
        for (k, v) in &self.tools {
            tools.extend(
                crate::domain::sessions::parse_tools(&format!("{k}={v}")).map_err(|e| {
                    anyhow::anyhow!("invalid {}: {e}", entry_source(sources, "tools", k))
                })?,
            );
        }
        let mut ai_tool_update_commands = BTreeMap::new();
        for (k, v) in &self.ai_tool_update_commands {
            let (k2, v) = ai_tool_update_entry(k, v).map_err(|e| {
                anyhow::anyhow!(
                    "invalid {}: {e}",
                    entry_source(sources, "ai_tool_update_commands", k)
                )
            })?;
            ai_tool_update_commands.insert(k2, v);
        }
        for (tool, set) in &self.agent_patterns {
            crate::domain::agent_state::Patterns::from_config(&BTreeMap::from([(
                tool.clone(),
                set.clone(),
            )]))
            .map_err(|e| {
                anyhow::anyhow!(
                    "invalid {}: {e}",
                    entry_source(sources, "agent_patterns", tool)
                )
            })?;
        }
        let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
        Ok(Config {
            admin_password: secret(
                sources,
                ("admin_password", self.admin_password.clone()),
                ("admin_password_file", self.admin_password_file.as_deref()),
                "admin password",
            )?,
            secret_key: secret(
                sources,
                ("secret_key", self.secret_key.clone()),
                ("secret_key_file", self.secret_key_file.as_deref()),
                "master key",
            )?,
            repo_storage_path: under(self.repo_storage_path, "repos"),
            workspace_root: under(self.workspace_root, "workspaces"),
            ansible_dir: under(self.ansible_dir, "ansible"),
            // Absolute from here on: the sandbox binds these paths, git and tmux run elsewhere,
            // and a relative default (./instance) must not change meaning with the directory.
            data_dir: absolute(self.data_dir),
            tools,
            ai_tool_update_commands,
            ai_tool_update_timeout_secs: self.ai_tool_update_timeout_secs.clamp(1, 86_400),
            update_url: non_empty(self.update_url.map(|u| u.trim().to_string())),
            admin_email: non_empty(self.admin_email),
            public_url: non_empty(self.public_url),
            session_hours: self.session_hours.max(1),
            login_attempts_per_minute: self.login_attempts_per_minute.max(1),
            tracker_timeout_secs: self.tracker_timeout_secs.clamp(1, 600),
            ca_bundle: self.ca_bundle.filter(|p| !p.as_os_str().is_empty()),
            audit_retention_days: self.audit_retention_days.max(1),
            audit_max_rows: self.audit_max_rows.max(1),
            ansible_max_concurrent: self.ansible_max_concurrent.clamp(1, 64),
            config_file,
            server_home: std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|h| h.is_absolute() && h != Path::new("/")),
            ..self
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Arguments with a config file holding `toml` (when given) and the environment `env`.
    fn args(dir: &Path, toml: Option<&str>, env: &[(&str, &str)]) -> ServeArgs {
        let mut a = ServeArgs::default();
        if let Some(t) = toml {
            let file = dir.join("aiops.toml");
            std::fs::write(&file, t).unwrap();
            a.store.config = Some(file);
        }
        a.store.env = EnvVars::from_pairs(env);
        a
    }

    #[test]
    fn precedence_is_defaults_then_file_then_env_then_flag() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::resolve(&args(dir.path(), None, &[])).unwrap();
        assert_eq!(c.bind, DEFAULT_BIND);
        assert_eq!(c.session_hours, 168);
        let toml = "bind = \"127.0.0.1:9999\"\nsession_hours = 5\nlog = \"debug\"\n";
        let c = Config::resolve(&args(dir.path(), Some(toml), &[])).unwrap();
        assert_eq!(c.bind, "127.0.0.1:9999");
        assert_eq!(c.session_hours, 5);
        assert_eq!(c.max_body_bytes, 1 << 20);
        let env = [
            ("AIOPS_BIND", "127.0.0.1:7777"),
            ("AIOPS_SESSION_HOURS", "6"),
        ];
        let mut a = args(dir.path(), Some(toml), &env);
        let c = Config::resolve(&a).unwrap();
        assert_eq!((c.bind.as_str(), c.session_hours), ("127.0.0.1:7777", 6));
        assert_eq!(
            c.log, "debug",
            "the file still counts where env says nothing"
        );
        a.bind = Some("0.0.0.0:1".into());
        a.session_hours = Some(7);
        let c = Config::resolve(&a).unwrap();
        assert_eq!((c.bind.as_str(), c.session_hours), ("0.0.0.0:1", 7));
        // Switches and numbers as text in the environment; bounds still apply.
        let env = [
            ("AIOPS_COOKIE_SECURE", "true"),
            ("AIOPS_SANDBOX", "OFF"),
            ("AIOPS_TRACKER_TIMEOUT_SECS", "9999"),
            ("AIOPS_LINUX_USER_WORKSPACES", "yes"),
        ];
        let c = Config::resolve(&args(dir.path(), Some("sandbox = \"on\"\n"), &env)).unwrap();
        assert!(c.cookie_secure && c.linux_user_workspaces && !c.sandbox);
        assert_eq!(c.tracker_timeout_secs, 600);
    }

    #[test]
    fn a_numeric_looking_password_stays_a_string() {
        let dir = tempfile::tempdir().unwrap();
        let env = [
            ("AIOPS_ADMIN_PASSWORD", "12345"),
            ("AIOPS_ADMIN_EMAIL", "a@example.com"),
            ("AIOPS_SECRET_KEY", "0123456789"),
            ("AIOPS_LOG", "1"),
        ];
        let c = Config::resolve(&args(dir.path(), None, &env)).unwrap();
        assert_eq!(c.admin_password.as_deref(), Some("12345"));
        assert_eq!(c.secret_key.as_deref(), Some("0123456789"));
        assert_eq!(c.log, "1");
        let c =
            Config::resolve(&args(dir.path(), Some("admin_password = \"007\"\n"), &[])).unwrap();
        assert_eq!(c.admin_password.as_deref(), Some("007"));
        let mut a = args(dir.path(), None, &[]);
        a.admin_password = Some("00012".into());
        assert_eq!(
            Config::resolve(&a).unwrap().admin_password.as_deref(),
            Some("00012")
        );
    }

    #[test]
    fn secrets_from_files_follow_the_layers() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "from-the-file\n").unwrap();
        let pw_s = pw.to_str().unwrap();
        let toml = "admin_password = \"from-toml\"\n";
        // A file named in a higher layer beats a value in a lower one.
        let env = [("AIOPS_ADMIN_PASSWORD_FILE", pw_s)];
        let c = Config::resolve(&args(dir.path(), Some(toml), &env)).unwrap();
        assert_eq!(c.admin_password.as_deref(), Some("from-the-file"));
        // In the same layer the value wins; an empty value counts as none.
        let env = [
            ("AIOPS_ADMIN_PASSWORD_FILE", pw_s),
            ("AIOPS_ADMIN_PASSWORD", "v"),
        ];
        let c = Config::resolve(&args(dir.path(), Some(toml), &env)).unwrap();
        assert_eq!(c.admin_password.as_deref(), Some("v"));
        let env = [
            ("AIOPS_ADMIN_PASSWORD_FILE", pw_s),
            ("AIOPS_ADMIN_PASSWORD", ""),
        ];
        let c = Config::resolve(&args(dir.path(), None, &env)).unwrap();
        assert_eq!(c.admin_password.as_deref(), Some("from-the-file"));
        // The master key likewise, and a missing file says which one.
        let mut a = args(dir.path(), None, &[("AIOPS_SECRET_KEY", "k-env")]);
        a.store.secret_key_file = Some(pw.clone());
        assert_eq!(
            Config::resolve(&a).unwrap().secret_key.as_deref(),
            Some("from-the-file")
        );
        let env = [("AIOPS_SECRET_KEY_FILE", "/no/such/key")];
        let err = Config::resolve(&args(dir.path(), None, &env))
            .unwrap_err()
            .to_string();
        assert!(err.contains("master key file /no/such/key"), "{err}");
    }

    #[test]
    fn lists_and_tables_in_the_file_env_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let toml = "trusted_proxies = [\"10.0.0.1\", \"::1\"]\n\
                    [tools]\naider = \"aider --yes\"\n\
                    [ai_tool_update_commands]\n\"codex.npm\" = \"npm i -g codex-fork\"\n";
        let c = Config::resolve(&args(dir.path(), Some(toml), &[])).unwrap();
        assert_eq!(c.trusted_proxies.len(), 2);
        assert_eq!(c.tools["aider"], "aider --yes");
        assert_eq!(c.tools["shell"], "/bin/bash", "built-ins stay");
        assert_eq!(
            c.ai_tool_update_commands["codex.npm"],
            "npm i -g codex-fork"
        );
        assert_eq!(
            c.ai_tool_update_commands["claude.brew"],
            "brew upgrade claude-code"
        );
        // The environment's text forms: a list replaces, a table adds to the file's.
        let env = [
            ("AIOPS_TRUSTED_PROXIES", "192.0.2.7, ,198.51.100.1"),
            ("AIOPS_TOOLS", "vim=vim;aider=aider --no-git"),
            ("AIOPS_AI_TOOL_UPDATE_COMMANDS", "claude.npm=npm i -g x;"),
        ];
        let mut a = args(dir.path(), Some(toml), &env);
        let c = Config::resolve(&a).unwrap();
        let want: Vec<std::net::IpAddr> = vec![
            "192.0.2.7".parse().unwrap(),
            "198.51.100.1".parse().unwrap(),
        ];
        assert_eq!(c.trusted_proxies, want);
        assert_eq!(c.tools["aider"], "aider --no-git");
        assert_eq!(c.tools["vim"], "vim");
        assert_eq!(c.ai_tool_update_commands["claude.npm"], "npm i -g x");
        assert_eq!(
            c.ai_tool_update_commands["codex.npm"],
            "npm i -g codex-fork"
        );
        // Flags use the same text forms.
        a.tools = Some("emacs=emacs -nw".into());
        a.trusted_proxies = Some("203.0.113.9".into());
        let c = Config::resolve(&a).unwrap();
        assert_eq!(c.tools["emacs"], "emacs -nw");
        assert_eq!(c.tools["vim"], "vim");
        assert_eq!(
            c.trusted_proxies,
            vec!["203.0.113.9".parse::<std::net::IpAddr>().unwrap()]
        );
    }

    #[test]
    fn a_bad_value_names_the_option_and_where_it_came_from() {
        let dir = tempfile::tempdir().unwrap();
        let err = |toml: Option<&str>, env: &[(&str, &str)]| {
            Config::resolve(&args(dir.path(), toml, env))
                .unwrap_err()
                .to_string()
        };
        let e = err(Some("session_hours = \"many\"\n"), &[]);
        assert!(
            e.contains("session_hours in config file") && e.contains("aiops.toml"),
            "{e}"
        );
        let e = err(None, &[("AIOPS_SESSION_HOURS", "many")]);
        assert!(e.contains("invalid AIOPS_SESSION_HOURS"), "{e}");
        let e = err(None, &[("AIOPS_SANDBOX", "maybe")]);
        assert!(
            e.contains("AIOPS_SANDBOX") && e.contains("sandbox must be on or off (got 'maybe')"),
            "{e}"
        );
        let e = err(Some("trusted_proxies = [\"proxy\"]\n"), &[]);
        assert!(
            e.contains("trusted_proxies in config file")
                && e.contains("'proxy' is not an IP address"),
            "{e}"
        );
        let e = err(None, &[("AIOPS_TRUSTED_PROXIES", "1.2.3.4,nope")]);
        assert!(
            e.contains("AIOPS_TRUSTED_PROXIES") && e.contains("'nope' is not an IP address"),
            "{e}"
        );
        let e = err(Some("[tools]\n\"bad name\" = \"x\"\n"), &[]);
        assert!(
            e.contains("tools in config file") && e.contains("must be letters"),
            "{e}"
        );
        let e = err(None, &[("AIOPS_TOOLS", "vim")]);
        assert!(
            e.contains("invalid AIOPS_TOOLS") && e.contains("'vim' must be written key=value"),
            "{e}"
        );
        let e = err(
            None,
            &[("AIOPS_AI_TOOL_UPDATE_COMMANDS", "vim.npm=npm i -g vim")],
        );
        assert!(
            e.contains("AIOPS_AI_TOOL_UPDATE_COMMANDS") && e.contains("must be <tool>.<source>"),
            "{e}"
        );
        let e = err(
            None,
            &[("AIOPS_AI_TOOL_UPDATE_COMMANDS", "claude.pip=pip install x")],
        );
        assert!(e.contains("must be <tool>.<source>"), "{e}");
        let e = err(None, &[("AIOPS_AI_TOOL_UPDATE_COMMANDS", "claude.npm=  ")]);
        assert!(e.contains("the command for 'claude.npm' is empty"), "{e}");
        let e = err(Some("bind = \n"), &[]);
        assert!(e.starts_with("invalid config file"), "{e}");
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
        assert_eq!(
            Config::data_dir_for(&args.store).unwrap(),
            PathBuf::from("probe/d")
        );
        // A data dir from the file moves the paths under it; a path given stays.
        let dir = tempfile::tempdir().unwrap();
        let toml = "data_dir = \"/srv/aiops\"\nworkspace_root = \"/w\"\n";
        let c = Config::resolve(&self::tests::args(dir.path(), Some(toml), &[])).unwrap();
        assert_eq!(c.repo_storage_path, PathBuf::from("/srv/aiops/repos"));
        assert_eq!(c.ansible_dir, PathBuf::from("/srv/aiops/ansible"));
        assert_eq!(c.workspace_root, PathBuf::from("/w"));
    }

    #[test]
    fn update_url_is_trimmed_and_empty_means_none() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::resolve(&args(dir.path(), None, &[])).unwrap();
        assert_eq!(c.update_url, None);
        let toml = "update_url = \" https://rel.example/aiops.json \"\n";
        let c = Config::resolve(&args(dir.path(), Some(toml), &[])).unwrap();
        assert_eq!(
            c.update_url.as_deref(),
            Some("https://rel.example/aiops.json")
        );
        let env = [("AIOPS_UPDATE_URL", "/srv/aiops/manifest.json")];
        let c = Config::resolve(&args(dir.path(), Some(toml), &env)).unwrap();
        assert_eq!(c.update_url.as_deref(), Some("/srv/aiops/manifest.json"));
        let c =
            Config::resolve(&args(dir.path(), Some(toml), &[("AIOPS_UPDATE_URL", " ")])).unwrap();
        assert_eq!(c.update_url, None);
    }

    #[test]
    fn unknown_file_keys_are_reported_and_unknown_env_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let err = Config::resolve(&args(dir.path(), Some("bnd = \"x\"\n"), &[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bnd") && err.contains("config file"), "{err}");
        let err = Config::resolve(&args(dir.path(), Some("config_file = \"x\"\n"), &[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("config_file"), "{err}");
        let env = [
            ("AIOPS_URL", "http://x"),
            ("AIOPS_BND", "x"),
            ("AIOPS_CONFIG_FILE", "x"),
        ];
        assert!(Config::resolve(&args(dir.path(), None, &env)).is_ok());
    }

    #[test]
    fn agent_patterns_come_from_the_file_and_bad_regexes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let toml = "[agent_patterns.aider]\napproval = [\"(Y)es/(N)o\"]\n\
                    rate_limited = [\"re:RateLimitError\"]\n\
                    [agent_patterns.\"*\"]\ninput = [\"READY>\"]\n";
        let c = Config::resolve(&args(dir.path(), Some(toml), &[])).unwrap();
        assert_eq!(c.agent_patterns["aider"].approval, ["(Y)es/(N)o"]);
        assert_eq!(
            c.agent_patterns["aider"].rate_limited,
            ["re:RateLimitError"]
        );
        assert!(c.agent_patterns["aider"].input.is_empty());
        assert_eq!(c.agent_patterns["*"].input, ["READY>"]);
        assert!(Config::default().agent_patterns.is_empty());
        let bad = "[agent_patterns.codex]\ninput = [\"re:([\"]\n";
        let err = Config::resolve(&args(dir.path(), Some(bad), &[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("agent_patterns") && err.contains("codex.input") && err.contains("re:(["),
            "{err}"
        );
        let unknown = "[agent_patterns.codex]\nprompt = [\"x\"]\n";
        assert!(Config::resolve(&args(dir.path(), Some(unknown), &[])).is_err());
    }

    #[test]
    fn every_flag_is_an_option_and_its_help_names_the_variable() {
        use clap::Args as _;
        let cmd = ServeArgs::augment_args(clap::Command::new("serve"));
        let options = option_names();
        let mut flags = 0;
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "config" {
                // The file's path cannot come from the file: clap reads AIOPS_CONFIG itself
                // (and its help says so).
                assert_eq!(arg.get_env(), Some(std::ffi::OsStr::new("AIOPS_CONFIG")));
                continue;
            }
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(
                help.contains(&format!("[env: {}]", env_name(id))),
                "--{id}: {help}"
            );
            assert!(
                arg.get_env().is_none(),
                "--{id}: the env is read by Config::resolve"
            );
            assert!(
                options.iter().any(|o| o == id),
                "--{id} is no Config option"
            );
            flags += 1;
        }
        assert!(flags >= 28, "{flags}");
    }
}
