//! Every command line of the original CLI (spec/cli.md §2, and the §9 commands we have) parses,
//! into the command it should; usage errors are clap errors (exit 2).

use super::commands::{AuthCommand, ConfigCommand, KeysCommand, ProjectsCommand, TenantsCommand};
use super::git::GitCommand;
use super::issues::{CredentialsCommand, IntegrationsCommand, IssuesCommand};
use super::output::Format;
use super::sessions::SessionsCommand;
use super::system::{BackupCommand, SystemCommand};
use super::workflow::{AgentsCommand, GlobalCommand, WorkflowCommand};
use super::{Cli, Command};
use clap::Parser;
use std::path::PathBuf;

fn parse(line: &str) -> Result<Cli, clap::Error> {
    let args = std::iter::once("aiops").chain(line.split_whitespace());
    Cli::try_parse_from(args)
}

fn ok(line: &str) -> Cli {
    parse(line).unwrap_or_else(|e| panic!("`aiops {line}` does not parse:\n{e}"))
}

/// Each row: the command line, and whether what it parsed to is right.
macro_rules! rows {
    ($($line:expr => $pat:pat $(if $guard:expr)?),* $(,)?) => {{
        let mut n = 0;
        $(
            let cli = ok($line);
            assert!(
                matches!(cli.command, $pat $(if $guard)?),
                "`aiops {}` parsed to {:?}",
                $line,
                cli.command
            );
            n += 1;
        )*
        n
    }};
}

#[test]
fn config_and_auth() {
    let n = rows! {
        "config show" => Command::Config { command: ConfigCommand::Show },
        "config set url http://x" => Command::Config { command: ConfigCommand::Set { .. } },
        "config get url" => Command::Config { command: ConfigCommand::Get { .. } },
        "auth whoami" => Command::Auth { command: AuthCommand::Whoami },
        "auth whoami -o json" => Command::Auth { command: AuthCommand::Whoami },
        "auth keys list -o yaml" => Command::Auth { command: AuthCommand::Keys { command: KeysCommand::List } },
        "auth keys create --name agent --scopes read,write --expires-days 7 -o json" =>
            Command::Auth { command: AuthCommand::Keys { command: KeysCommand::Create { expires_days: Some(7), .. } } },
        "auth keys create --name a --scopes read" =>
            Command::Auth { command: AuthCommand::Keys { command: KeysCommand::Create { expires_days: None, .. } } },
        "auth keys delete 5" => Command::Auth { command: AuthCommand::Keys { command: KeysCommand::Revoke { key_id: 5 } } },
        "auth keys revoke 5" => Command::Auth { command: AuthCommand::Keys { command: KeysCommand::Revoke { key_id: 5 } } },
    };
    assert_eq!(n, 10);
}

#[test]
fn issues() {
    rows! {
        "issues pin 3" => Command::Issues { command: IssuesCommand::Pin { id: 3 } },
        "issues unpin 3" => Command::Issues { command: IssuesCommand::Unpin { id: 3 } },
        "issues pinned -o json" => Command::Issues { command: IssuesCommand::Pinned },
        "issues list" => Command::Issues { command: IssuesCommand::List { limit: None, status: None, .. } },
        "issues list --status open --provider github --project web --limit 5 -o json" =>
            Command::Issues { command: IssuesCommand::List { limit: Some(5), .. } },
        "issues list --status Closed" =>
            Command::Issues { command: IssuesCommand::List { status: Some(ref s), .. } } if s == "Closed",
        "issues list --tenant acme --assignee bob" => Command::Issues { command: IssuesCommand::List { .. } },
        "issues get 7 -o yaml" => Command::Issues { command: IssuesCommand::Get { id: 7 } },
        "issues create --project web --integration 2 --title T --description D --labels a,b -o json" =>
            Command::Issues { command: IssuesCommand::Create { integration: 2, .. } },
        "issues update 7 --title T --description D --labels a,b -o json" =>
            Command::Issues { command: IssuesCommand::Update { id: 7, .. } },
        "issues update 7" => Command::Issues { command: IssuesCommand::Update { id: 7, .. } },
        "issues close 7" => Command::Issues { command: IssuesCommand::Close { id: 7 } },
        "issues comment 7 hello" =>
            Command::Issues { command: IssuesCommand::Comment { id: 7, body: Some(_), file: None, .. } },
        "issues comment 7 @bob --no-mention-resolve" =>
            Command::Issues { command: IssuesCommand::Comment { no_mention_resolve: true, .. } },
        "issues comment 7 -f Cargo.toml" =>
            Command::Issues { command: IssuesCommand::Comment { body: None, file: Some(_), .. } },
        "issues comment 7 --file Cargo.toml" =>
            Command::Issues { command: IssuesCommand::Comment { file: Some(_), .. } },
        "issues modify-comment 7 abc-1 text --no-mention-resolve" =>
            Command::Issues { command: IssuesCommand::ModifyComment { id: 7, .. } },
        "issues assign 7" => Command::Issues { command: IssuesCommand::Assign { user: None, .. } },
        "issues assign 7 --user 3" => Command::Issues { command: IssuesCommand::Assign { user: Some(3), .. } },
        "issues sync" => Command::Issues { command: IssuesCommand::Sync { force_full: false, .. } },
        "issues sync --tenant acme --project web --integration 2 --force-full -o json" =>
            Command::Issues { command: IssuesCommand::Sync { force_full: true, integration: Some(2), .. } },
        "issues sessions" => Command::Issues { command: IssuesCommand::Sessions { attach: None, all_users: false, .. } },
        "issues sessions --project web --attach abc... --all-users" =>
            Command::Issues { command: IssuesCommand::Sessions { attach: Some(_), all_users: true, .. } },
        "issues start --project web" =>
            Command::Issues { command: IssuesCommand::Start { project: Some(_), id: None, no_attach: false, .. } },
        "issues start --project web --issue 7 --tool codex --prompt go --user a@b.c --attach" =>
            Command::Issues { command: IssuesCommand::Start { issue: Some(7), attach: true, .. } },
        "issues start --project 3 --tool shell --no-attach" =>
            Command::Issues { command: IssuesCommand::Start { no_attach: true, .. } },
        "issues start --project 3 --tool claude" => Command::Issues { command: IssuesCommand::Start { .. } },
        "issues start --project 3 --tool gemini --user 4" => Command::Issues { command: IssuesCommand::Start { .. } },
        // Ours: the issue's own project; any configured tool.
        "issues start 7 --tool fake --attach" =>
            Command::Issues { command: IssuesCommand::Start { id: Some(7), project: None, .. } },
        "issues work 7" => Command::Issues { command: IssuesCommand::Work { id: 7, attach: false, .. } },
        "issues work 7 --tool codex --prompt go --attach" =>
            Command::Issues { command: IssuesCommand::Work { attach: true, .. } },
        "issue list" => Command::Issues { command: IssuesCommand::List { .. } },
    };
}

#[test]
fn projects_git_workflow() {
    rows! {
        "projects list --tenant acme -o json" => Command::Projects { command: ProjectsCommand::List { tenant: Some(_) } },
        "projects get web -o yaml" => Command::Projects { command: ProjectsCommand::Get { .. } },
        "projects create --name web --repo-url git@x:a/b.git --tenant acme --description d --branch dev -o json" =>
            Command::Projects { command: ProjectsCommand::Create { ref branch, .. } } if branch == "dev",
        "projects create --name web --repo-url u --tenant 1" =>
            Command::Projects { command: ProjectsCommand::Create { ref branch, .. } } if branch == "main",
        "projects status web -o json" => Command::Projects { command: ProjectsCommand::Status { .. } },
        "project list" => Command::Projects { command: ProjectsCommand::List { .. } },
        "git status web -o json" => Command::Git { command: GitCommand::Status { .. } },
        "git pull web" => Command::Git { command: GitCommand::Pull { r#ref: None, .. } },
        "git pull web --ref main" => Command::Git { command: GitCommand::Pull { r#ref: Some(_), .. } },
        "git push web --ref topic" => Command::Git { command: GitCommand::Push { r#ref: Some(_), .. } },
        "git branches web -o json" => Command::Git { command: GitCommand::Branches { .. } },
        "git branch web topic --from main" => Command::Git { command: GitCommand::Branch { from: Some(_), .. } },
        "git checkout web main" => Command::Git { command: GitCommand::Checkout { .. } },
        "git commit web msg --files a.py,b.py" => Command::Git { command: GitCommand::Commit { files: Some(_), .. } },
        "git files web" => Command::Git { command: GitCommand::Files { ref path, .. } } if path.is_empty(),
        "git files web --path app/ -o json" => Command::Git { command: GitCommand::Files { .. } },
        "git cat web src/lib.rs" => Command::Git { command: GitCommand::Cat { .. } },
        "workflow claim 7 -o json" => Command::Workflow { command: WorkflowCommand::Claim { issue_id: 7 } },
        "workflow progress 7 in_progress --comment c" => Command::Workflow { command: WorkflowCommand::Progress { .. } },
        "workflow submit 7 --project 3 --message m --files a,b --comment c" =>
            Command::Workflow { command: WorkflowCommand::Submit { project: 3, .. } },
        "workflow submit 7 --project 3 -m m --pr" =>
            Command::Workflow { command: WorkflowCommand::Submit { pr: true, no_push: false, .. } },
        "git pr-create web --title t --source-branch aiops/7-x --target-branch main --description d" =>
            Command::Git { command: GitCommand::PrCreate { target_branch: Some(_), .. } },
        "git pr-list web --state merged -o json" => Command::Git { command: GitCommand::PrList { .. } },
        "git pr-merge web 12" => Command::Git { command: GitCommand::PrMerge { number: 12, .. } },
        "sessions stop 5 --worktree remove --force" =>
            Command::Sessions { command: SessionsCommand::Stop { worktree: Some(_), force: true, .. } },
        "workflow approve 7 --message m" => Command::Workflow { command: WorkflowCommand::Approve { message: Some(_), .. } },
        "workflow complete 7 --summary s" => Command::Workflow { command: WorkflowCommand::Complete { summary: Some(_), .. } },
    };
}

#[test]
fn sessions_tenants_integrations_credentials() {
    rows! {
        "sessions start --project web" =>
            Command::Sessions { command: SessionsCommand::Start { project_opt: Some(_), no_attach: false, .. } },
        "sessions start --project web --tool codex --prompt p --user a@b.c --attach" =>
            Command::Sessions { command: SessionsCommand::Start { attach: true, .. } },
        "sessions start --project web --no-attach" =>
            Command::Sessions { command: SessionsCommand::Start { no_attach: true, .. } },
        "sessions start web --tool fake" =>
            Command::Sessions { command: SessionsCommand::Start { project: Some(_), project_opt: None, .. } },
        "sessions list" => Command::Sessions { command: SessionsCommand::List { .. } },
        "sessions list --project web --all-users" =>
            Command::Sessions { command: SessionsCommand::List { all_users: true, .. } },
        "sessions attach aiops-3:0 --project web" =>
            Command::Sessions { command: SessionsCommand::Attach { project: Some(_), .. } },
        "sessions respawn abc --project web" =>
            Command::Sessions { command: SessionsCommand::Respawn { project: Some(_), .. } },
        "session list" => Command::Sessions { command: SessionsCommand::List { .. } },
        "tenants list -o json" => Command::Tenants { command: TenantsCommand::List },
        "tenants get acme -o yaml" => Command::Tenants { command: TenantsCommand::Get { .. } },
        "tenants create --name Acme --description d --color #10b981 -o json" =>
            Command::Tenants { command: TenantsCommand::Create { color: Some(_), .. } },
        "tenant list" => Command::Tenants { command: TenantsCommand::List },
        "integrations list" => Command::Integrations { command: IntegrationsCommand::List { provider: None, .. } },
        "integrations list --tenant acme --provider gitlab -o json" =>
            Command::Integrations { command: IntegrationsCommand::List { provider: Some(_), tenant: Some(_) } },
        "integration list --provider jira" => Command::Integrations { command: IntegrationsCommand::List { .. } },
        "credentials list -o json" => Command::Credentials { command: CredentialsCommand::List },
        "credentials set --integration-id 3 --token t" =>
            Command::Credentials { command: CredentialsCommand::Set { integration_id: 3, token: Some(_) } },
        "credentials set -i 3 -t t" =>
            Command::Credentials { command: CredentialsCommand::Set { integration_id: 3, token: Some(_) } },
        "credentials set -i 3" =>
            Command::Credentials { command: CredentialsCommand::Set { token: None, .. } },
        "credentials delete 4" => Command::Credentials { command: CredentialsCommand::Delete { credential_id: 4 } },
        "credential list" => Command::Credentials { command: CredentialsCommand::List },
    };
}

#[test]
fn system_agents_update() {
    rows! {
        "system status -o json" => Command::System { command: SystemCommand::Status },
        "system update" =>
            Command::System { command: SystemCommand::Update { skip_migrations: false, source: None, source_opt: None, .. } },
        "system update --skip-migrations -o json" =>
            Command::System { command: SystemCommand::Update { skip_migrations: true, .. } },
        "system update --source /tmp/aiops --sha256 ab" =>
            Command::System { command: SystemCommand::Update { source_opt: Some(_), sha256: Some(_), .. } },
        "system update-binary https://x/aiops --sha256 ab --restart" =>
            Command::System { command: SystemCommand::UpdateBinary { restart: true, .. } },
        "system restart" => Command::System { command: SystemCommand::Restart { yes: false } },
        "system restart -y" => Command::System { command: SystemCommand::Restart { yes: true } },
        "system restart --yes" => Command::System { command: SystemCommand::Restart { yes: true } },
        "system update-and-restart" =>
            Command::System { command: SystemCommand::UpdateAndRestart { skip_migrations: false, yes: false } },
        "system update-and-restart --skip-migrations -y" =>
            Command::System { command: SystemCommand::UpdateAndRestart { skip_migrations: true, yes: true } },
        "system update-ai-tool codex --source npm" => Command::System { command: SystemCommand::UpdateAiTool { .. } },
        "system update-ai-tool gemini --source brew" => Command::System { command: SystemCommand::UpdateAiTool { .. } },
        "system update-ai-tool claude --source npm" => Command::System { command: SystemCommand::UpdateAiTool { .. } },
        "system update-ai-tool fake" => Command::System { command: SystemCommand::UpdateAiTool { source: None, .. } },
        "system backup create" => Command::System { command: SystemCommand::Backup { command: BackupCommand::Create { description: None } } },
        "system backup create -d nightly -o json" =>
            Command::System { command: SystemCommand::Backup { command: BackupCommand::Create { description: Some(_) } } },
        "system backup create --description nightly" =>
            Command::System { command: SystemCommand::Backup { command: BackupCommand::Create { description: Some(_) } } },
        "system backup list -o json" => Command::System { command: SystemCommand::Backup { command: BackupCommand::List } },
        "system backup download 3" =>
            Command::System { command: SystemCommand::Backup { command: BackupCommand::Download { id: 3, file: None } } },
        "system backup restore 3" =>
            Command::System { command: SystemCommand::Backup { command: BackupCommand::Restore { id: 3, yes: false } } },
        "system backup restore 3 -y" =>
            Command::System { command: SystemCommand::Backup { command: BackupCommand::Restore { yes: true, .. } } },
        "system backup delete 3 -y" =>
            Command::System { command: SystemCommand::Backup { command: BackupCommand::Delete { id: 3, .. } } },
        "agents global get -o json" =>
            Command::Agents { command: AgentsCommand::Global { command: GlobalCommand::Get } },
        "agents global set -f Cargo.toml" =>
            Command::Agents { command: AgentsCommand::Global { command: GlobalCommand::Set { file: Some(_) } } },
        "agents global set" =>
            Command::Agents { command: AgentsCommand::Global { command: GlobalCommand::Set { file: None } } },
        "agents global clear --yes" =>
            Command::Agents { command: AgentsCommand::Global { command: GlobalCommand::Clear { yes: true } } },
        "agent global get" => Command::Agents { .. },
        "update" => Command::Update { check_only: false },
        "update --check-only" => Command::Update { check_only: true },
    };
}

#[test]
fn backup_download_output_is_a_path_and_elsewhere_a_format() {
    let file = |cli: Cli| match cli.command {
        Command::System {
            command:
                SystemCommand::Backup {
                    command: BackupCommand::Download { file, .. },
                },
        } => (file, cli.output),
        other => panic!("{other:?}"),
    };
    for line in [
        "system backup download 3 -o /tmp/b.tar.gz",
        "system backup download 3 --output /tmp/b.tar.gz",
        "system backup download 3 -f /tmp/b.tar.gz",
        "system backup download 3 --file /tmp/b.tar.gz",
        "-o /tmp/b.tar.gz system backup download 3",
    ] {
        assert_eq!(
            file(ok(line)),
            (Some(PathBuf::from("/tmp/b.tar.gz")), None),
            "{line}"
        );
    }
    // A format name is still a format, with -f for the file.
    assert_eq!(
        file(ok("system backup download 3 -o json -f b.tgz")),
        (Some(PathBuf::from("b.tgz")), Some(Format::Json))
    );
    assert_eq!(ok("issues list -o json").output, Some(Format::Json));
    assert_eq!(ok("-o yaml issues list").output, Some(Format::Yaml));
    assert_eq!(ok("issues list -o TABLE").output, Some(Format::Table));
    assert_eq!(ok("issues list").output, None);
}

#[test]
fn usage_errors() {
    use clap::error::ErrorKind;
    for (line, kind) in [
        ("issues get abc", ErrorKind::ValueValidation),
        ("issues pin x1", ErrorKind::ValueValidation),
        ("auth keys delete abc", ErrorKind::ValueValidation),
        (
            "workflow submit 7 --project web --message m",
            ErrorKind::ValueValidation,
        ),
        ("nonsense", ErrorKind::InvalidSubcommand),
        (
            "workflow submit 7 --project 3 -m m --pr --no-push",
            ErrorKind::ArgumentConflict,
        ),
        ("sessions stop 5 --worktree maybe", ErrorKind::InvalidValue),
        (
            "git pr-create web --title t",
            ErrorKind::MissingRequiredArgument,
        ),
        ("issues view 5", ErrorKind::InvalidSubcommand),
        ("tenants create", ErrorKind::MissingRequiredArgument),
        (
            "auth keys create --name a",
            ErrorKind::MissingRequiredArgument,
        ),
        (
            "issues create --project p --title t",
            ErrorKind::MissingRequiredArgument,
        ),
        (
            "credentials set --token t",
            ErrorKind::MissingRequiredArgument,
        ),
        ("issues start", ErrorKind::MissingRequiredArgument),
        ("sessions start", ErrorKind::MissingRequiredArgument),
        ("issues comment 7", ErrorKind::MissingRequiredArgument),
        (
            "issues start --project web --tool foo",
            ErrorKind::InvalidValue,
        ),
        (
            "sessions start --project web --tool foo",
            ErrorKind::InvalidValue,
        ),
        (
            "system update-ai-tool codex --source apt",
            ErrorKind::InvalidValue,
        ),
        (
            "integrations list --provider bitbucket",
            ErrorKind::InvalidValue,
        ),
        ("-o xml tenants list", ErrorKind::InvalidValue),
        ("tenants list -o xml", ErrorKind::InvalidValue),
        ("system backup list -o /tmp/x", ErrorKind::InvalidValue),
        (
            "auth keys create --name a --scopes read write",
            ErrorKind::UnknownArgument,
        ),
        ("git files web app/", ErrorKind::UnknownArgument),
        (
            "issues comment 7 text -f Cargo.toml",
            ErrorKind::ArgumentConflict,
        ),
        ("issues start 7 --project web", ErrorKind::ArgumentConflict),
        (
            "sessions start web --project web",
            ErrorKind::ArgumentConflict,
        ),
        (
            "system backup download 3 -o /tmp/a -f /tmp/b",
            ErrorKind::ArgumentConflict,
        ),
        (
            "issues comment 7 -f /no/such/file",
            ErrorKind::ValueValidation,
        ),
    ] {
        match parse(line) {
            Ok(cli) => panic!("`aiops {line}` parsed: {:?}", cli.command),
            Err(e) => {
                assert_eq!(e.kind(), kind, "`aiops {line}`: {e}");
                assert_eq!(e.exit_code(), 2, "`aiops {line}`");
            }
        }
    }
    // The invalid format names the option and the choices, as clap does.
    let e = parse("tenants list -o xml")
        .unwrap_err()
        .render()
        .to_string();
    assert!(
        e.contains("invalid value 'xml' for '--output <FORMAT>'")
            && e.contains("[possible values: table, json, yaml]"),
        "{e}"
    );
}
