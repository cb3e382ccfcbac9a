//! `aiops admin …`: offline administration straight against the data directory, for
//! bootstrapping and recovery. The server must be stopped (redb allows one process at a time).

use crate::config::{Config, ServeArgs, StoreArgs};
use crate::services::App;
use crate::services::accounts::NewUser;
use crate::store::Store;
use clap::Subcommand;
use std::io::{BufRead, IsTerminal, Write};

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create a user (prompts for the password unless --password or AIOPS_NEW_PASSWORD is given)
    CreateUser {
        email: String,
        /// Display name [default: the part of the email before @]
        #[arg(long)]
        name: Option<String>,
        /// Make the user an administrator
        #[arg(long)]
        admin: bool,
        #[arg(long, env = "AIOPS_NEW_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Set a new password for a user (ends their web sessions)
    ResetPassword {
        email: String,
        #[arg(long, env = "AIOPS_NEW_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Create an API key for a user and print it once
    CreateKey {
        email: String,
        /// Comma-separated scopes: read, write, admin (admin only for administrators)
        #[arg(long, default_value = "read,write", value_delimiter = ',')]
        scopes: Vec<String>,
        /// Key name
        #[arg(long, default_value = "admin-cli")]
        name: String,
        /// Days until the key expires
        #[arg(long)]
        expires_days: Option<i64>,
    },
    /// Fill a fresh data dir with demo data (tenants, projects, tracker issues) for trying the UI
    /// and for the benchmark
    SeedDemo {
        /// Owner of the demo projects
        email: String,
        #[arg(long, default_value_t = 20)]
        tenants: u64,
        #[arg(long, default_value_t = 5)]
        projects_per_tenant: u64,
        #[arg(long, default_value_t = 10_000)]
        issues: u64,
    },
}

fn read_password(given: Option<String>) -> anyhow::Result<String> {
    if let Some(p) = given {
        return Ok(p);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password (input is shown; prefer --password via AIOPS_NEW_PASSWORD): ");
        std::io::stderr().flush().ok();
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let p = line.trim_end_matches(['\r', '\n']).to_string();
    if p.is_empty() {
        anyhow::bail!(
            "no password given: pass --password, set AIOPS_NEW_PASSWORD, or type it on stdin"
        );
    }
    Ok(p)
}

/// `aiops import-sqlite` in a build without the `import-sqlite` feature: says so.
#[cfg(not(feature = "import-sqlite"))]
pub fn import_sqlite(
    _store_args: StoreArgs,
    _path: &std::path::Path,
    _keys_dir: Option<&std::path::Path>,
    _dry_run: bool,
    _force: bool,
) -> anyhow::Result<()> {
    anyhow::bail!("this build has no SQLite import; build with --features import-sqlite")
}

/// `aiops import-sqlite`: offline, against the data dir. A dry run writes nothing at all (not
/// the store, not the master key, not the data dir itself).
#[cfg(feature = "import-sqlite")]
pub fn import_sqlite(
    store_args: StoreArgs,
    path: &std::path::Path,
    keys_dir: Option<&std::path::Path>,
    dry_run: bool,
    force: bool,
) -> anyhow::Result<()> {
    let data_dir = Config::data_dir_for(&store_args)?;
    let mut serve = ServeArgs {
        store: store_args,
        ..Default::default()
    };
    serve.store.data_dir = Some(data_dir);
    let config = Config::resolve(&serve)?;
    let data_dir = config.data_dir.clone();
    let report = if dry_run {
        crate::services::import::preview_sqlite(&data_dir, path, keys_dir, force)?
    } else {
        let store = Store::open(&config.data_dir)?;
        let app = App::new(store, config)?;
        app.backups.import_sqlite(path, keys_dir, false, force)?
    };
    if report.already_imported {
        println!(
            "{} was already imported into {}: nothing to do (use --force to import it again).",
            path.display(),
            data_dir.display()
        );
        return Ok(());
    }
    println!(
        "{} {} into {}:",
        if dry_run { "Would import" } else { "Imported" },
        path.display(),
        data_dir.display()
    );
    for (what, n) in &report.counts {
        println!("  {what:<22} {n}");
    }
    for (what, n) in &report.skipped {
        println!("  left out: {what} ({n})");
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if !report.integrations.is_empty() {
        println!(
            "{} tracker integrations with their sync schedule off (the original synced only when asked):",
            if dry_run {
                "Would bring in"
            } else {
                "Brought in"
            }
        );
        for (id, name, provider) in &report.integrations {
            println!("  integration {id}: {name} ({provider})");
        }
        println!(
            "  Sync one now: aiops issues sync --integration <id>. To sync it on a schedule, as an admin or tenant maintainer:"
        );
        println!(
            "  PATCH /api/v1/integrations/<id> with {{\"sync_cron\": \"*/15 * * * *\"}} (a cron expression; \"off\" turns it off again)."
        );
    }
    if dry_run {
        println!("Dry run: nothing was written.");
    } else {
        println!(
            "Passwords and API keys keep working (they are upgraded at first use). Tracker tokens and SSH keys are encrypted with the master key in {}: keep a copy of it.",
            data_dir.join("secret.key").display()
        );
    }
    Ok(())
}

pub fn run(store_args: StoreArgs, cmd: AdminCommand) -> anyhow::Result<()> {
    let data_dir = Config::data_dir_for(&store_args)?;
    let mut serve = ServeArgs {
        store: store_args,
        ..Default::default()
    };
    serve.store.data_dir = Some(data_dir);
    let config = Config::resolve(&serve)?;
    let store = Store::open(&config.data_dir)?;
    let app = App::new(store, config)?;
    match cmd {
        AdminCommand::CreateUser {
            email,
            name,
            admin,
            password,
        } => {
            let password = read_password(password)?;
            let name =
                name.unwrap_or_else(|| email.split('@').next().unwrap_or("user").to_string());
            let u = app.accounts.create_user(
                &crate::auth::Identity::system(),
                NewUser {
                    email: &email,
                    name: &name,
                    password: &password,
                    is_admin: admin,
                },
            )?;
            println!(
                "Created {} {} (id {})",
                if u.is_admin { "administrator" } else { "user" },
                u.email,
                u.id
            );
        }
        AdminCommand::ResetPassword { email, password } => {
            let user = app
                .accounts
                .find_user_by_email(&email)?
                .ok_or_else(|| anyhow::anyhow!("no user with email {}", email.trim()))?;
            let password = read_password(password)?;
            app.accounts
                .set_password(&crate::auth::Identity::system(), user.id, &password)?;
            println!("Password reset for {}", user.email);
        }
        AdminCommand::CreateKey {
            email,
            scopes,
            name,
            expires_days,
        } => {
            let (key, raw) =
                app.accounts
                    .create_key_offline(&email, &name, &scopes, expires_days)?;
            eprintln!(
                "Created API key {} ({}) with scopes {}. It is shown only once:",
                key.id,
                key.name,
                key.scopes
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            );
            println!("{raw}");
        }
        AdminCommand::SeedDemo {
            email,
            tenants,
            projects_per_tenant,
            issues,
        } => {
            let s = app
                .accounts
                .seed_demo(&email, tenants, projects_per_tenant, issues)?;
            println!(
                "Seeded {} tenants, {} projects, {} issues",
                s.tenants, s.projects, s.issues
            );
        }
    }
    Ok(())
}
