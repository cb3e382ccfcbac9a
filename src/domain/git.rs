//! Git rules with no I/O: request paths confined to a workspace, workspace directory names,
//! and parsers for git's machine-readable output.

use super::ids::UserId;
use std::path::{Component, Path, PathBuf};

/// A path from a request, relative to the workspace: no absolute paths, no `..`, no NUL, no
/// `.git` internals. Leading/trailing slashes are trimmed (like the original). Returns the
/// normalised relative path ("" for the workspace root).
pub fn relative_path(raw: &str) -> Result<PathBuf, String> {
    if raw.contains('\0') {
        return Err("Invalid path: it contains a NUL byte".into());
    }
    let trimmed = raw.trim().trim_matches('/');
    if raw.trim().starts_with('/') && trimmed.is_empty() {
        return Ok(PathBuf::new());
    }
    if raw.trim().starts_with("//") || raw.trim().starts_with('\\') {
        return Err("Invalid path: absolute paths are not allowed".into());
    }
    let mut out = PathBuf::new();
    for c in Path::new(trimmed).components() {
        match c {
            Component::Normal(p) => {
                if p == ".git" {
                    return Err("Invalid path: the .git directory is not accessible".into());
                }
                out.push(p)
            }
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(
                    "Invalid path: '..' is not allowed; paths are relative to the workspace".into(),
                );
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err("Invalid path: absolute paths are not allowed".into());
            }
        }
    }
    Ok(out)
}

/// A Linux account name safe to use as a directory and as `sudo -u` argument: letters,
/// digits, `-`, `_`, `.`; not starting with `.` or `-`; at most 32 characters.
pub fn valid_linux_username(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 32
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !u.starts_with('.')
        && !u.starts_with('-')
}

/// A remote-tracking branch as `git branch -a` names it: `origin/main` is
/// `remotes/origin/main`; a symbolic ref (`origin/HEAD` pointing at `origin/main`) is
/// `remotes/origin/HEAD -> origin/main`.
pub fn branch_a_name(short: &str, symbolic_target: Option<&str>) -> String {
    match symbolic_target {
        Some(t) => format!("remotes/{short} -> {t}"),
        None => format!("remotes/{short}"),
    }
}

/// Directory name for a user's workspaces: the Linux user when mapped, else a slug of the
/// e-mail's local part plus the id (unique even when two local parts slug alike).
/// One commit of the log, as `git log` gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitInfo {
    pub hash: String,
    pub author: String,
    pub email: String,
    /// The author date, RFC 3339 in the commit's own offset (`Z` for UTC), to the second.
    pub date: String,
    pub subject: String,
}

/// Parse `git log --format=%H%x00%an%x00%ae%x00%aI%x00%s` (one commit a line). The date is
/// normalised to RFC 3339 with `Z` for UTC whatever git's version prints (`+00:00` before 2.44).
pub fn parse_log(out: &str) -> Vec<CommitInfo> {
    out.split('\n')
        .filter_map(|line| {
            let mut f = line.splitn(5, '\0');
            let (hash, author, email, date, subject) =
                (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
            let date = chrono::DateTime::parse_from_rfc3339(date)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_else(|_| date.to_string());
            Some(CommitInfo {
                hash: hash.to_string(),
                author: author.to_string(),
                email: email.to_string(),
                date,
                subject: subject.to_string(),
            })
        })
        .collect()
}

/// A full ref name shortened the way git and `git branch` show it (`refs/heads/x` is `x`,
/// `refs/remotes/origin/x` is `origin/x`).
pub fn short_ref(full: &str) -> &str {
    ["refs/heads/", "refs/remotes/", "refs/tags/", "refs/"]
        .iter()
        .find_map(|p| full.strip_prefix(p))
        .unwrap_or(full)
}

/// The branch a `HEAD` file names (`ref: refs/heads/main`), or None when HEAD is detached
/// (a commit id).
pub fn head_branch(head_file: &str) -> Option<String> {
    head_file
        .trim()
        .strip_prefix("ref:")
        .map(|r| short_ref(r.trim()).to_string())
}

/// The git directory a `.git` file points at (`gitdir: <path>`).
pub fn gitdir_of(dot_git_file: &str) -> Option<&str> {
    dot_git_file
        .trim()
        .strip_prefix("gitdir:")
        .map(str::trim)
        .filter(|p| !p.is_empty())
}

/// Parse `git for-each-ref --format=%(refname)%00%(symref) refs/heads refs/remotes` into the
/// branches as `git branch -a` names them, each with whether it is `current`: locals first,
/// in name order (for-each-ref's order), then remote-tracking ones (`branch_a_name`).
pub fn parse_branch_refs(out: &str, current: Option<&str>) -> Vec<(String, bool)> {
    out.lines()
        .filter_map(|line| {
            let (name, symref) = line.split_once('\0').unwrap_or((line, ""));
            if let Some(b) = name.strip_prefix("refs/heads/") {
                return Some((b.to_string(), current == Some(b)));
            }
            let r = name.strip_prefix("refs/remotes/")?;
            let target = Some(symref).filter(|t| !t.is_empty()).map(short_ref);
            Some((branch_a_name(r, target), false))
        })
        .collect()
}

pub fn user_dir(linux_username: Option<&str>, email: &str, id: UserId) -> String {
    if let Some(u) = linux_username.filter(|u| valid_linux_username(u)) {
        return u.to_string();
    }
    let local = email.split('@').next().unwrap_or("user");
    format!("{}-{id}", super::rules::project_path_slug(local))
}

/// The most characters of an issue title kept in its branch's slug.
pub const BRANCH_SLUG_MAX: usize = 40;

/// The slug of an issue title for its branch: lowercase ASCII letters and digits, every other
/// run of characters one `-`, no leading or trailing `-`, at most `BRANCH_SLUG_MAX` characters
/// (cut at a dash when there is one near the end); `issue` when nothing is left. Always a valid
/// part of a git ref (`gitrules::check_ref_name`).
pub fn branch_slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    if out.len() > BRANCH_SLUG_MAX {
        out.truncate(BRANCH_SLUG_MAX);
        if let Some(i) = out.rfind('-').filter(|i| *i >= BRANCH_SLUG_MAX / 2) {
            out.truncate(i);
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() { "issue".into() } else { out }
}

/// The worktree name and branch of an issue session: `<issue-id>-<slug>` and
/// `aiops/<issue-id>-<slug>`.
pub fn issue_branch(issue_id: u64, title: &str) -> (String, String) {
    let name = format!("{issue_id}-{}", branch_slug(title));
    let branch = format!("aiops/{name}");
    (name, branch)
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct PorcelainStatus {
    pub branch: Option<String>,
    pub detached: bool,
    pub upstream: Option<String>,
    pub ahead: u64,
    pub behind: u64,
    pub staged: Vec<String>,
    pub unstaged: Vec<String>,
    pub untracked: Vec<String>,
    pub conflicted: Vec<String>,
}

/// Parse `git status --porcelain=v2 --branch -z`.
pub fn parse_status_v2(out: &[u8]) -> PorcelainStatus {
    let mut s = PorcelainStatus::default();
    let text = String::from_utf8_lossy(out);
    let mut fields = text.split('\0').peekable();
    while let Some(rec) = fields.next() {
        if rec.is_empty() {
            continue;
        }
        if let Some(h) = rec.strip_prefix("# ") {
            if let Some(b) = h.strip_prefix("branch.head ") {
                if b == "(detached)" {
                    s.detached = true;
                } else {
                    s.branch = Some(b.to_string());
                }
            } else if let Some(u) = h.strip_prefix("branch.upstream ") {
                s.upstream = Some(u.to_string());
            } else if let Some(ab) = h.strip_prefix("branch.ab ") {
                for part in ab.split_whitespace() {
                    if let Some(a) = part.strip_prefix('+') {
                        s.ahead = a.parse().unwrap_or(0);
                    } else if let Some(b) = part.strip_prefix('-') {
                        s.behind = b.parse().unwrap_or(0);
                    }
                }
            }
            continue;
        }
        let kind = rec.chars().next().unwrap_or(' ');
        match kind {
            '1' | '2' => {
                // 1 XY sub mH mI mW hH hI path ; 2 … path \0 origPath
                let parts: Vec<&str> = rec.splitn(if kind == '1' { 9 } else { 10 }, ' ').collect();
                let xy = parts.get(1).copied().unwrap_or("..");
                let path = parts.last().copied().unwrap_or_default().to_string();
                if kind == '2' {
                    fields.next(); // the original path of a rename
                }
                let mut c = xy.chars();
                let (x, y) = (c.next().unwrap_or('.'), c.next().unwrap_or('.'));
                if x != '.' {
                    s.staged.push(path.clone());
                }
                if y != '.' {
                    s.unstaged.push(path);
                }
            }
            'u' => {
                let path = rec.splitn(11, ' ').last().unwrap_or_default().to_string();
                s.conflicted.push(path);
            }
            '?' => s.untracked.push(rec[2..].to_string()),
            _ => {}
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_slugs_are_lowercase_ascii_dashes_bounded_and_ref_safe() {
        assert_eq!(branch_slug("Fix the Login page!"), "fix-the-login-page");
        assert_eq!(
            branch_slug("  --Ünïcode: ~^:?*[\\ @{x} ..lock  "),
            "n-code-x-lock"
        );
        assert_eq!(branch_slug("???"), "issue");
        assert_eq!(branch_slug(""), "issue");
        let long = branch_slug(&"word ".repeat(40));
        assert!(
            long.len() <= BRANCH_SLUG_MAX && !long.ends_with('-'),
            "{long}"
        );
        let one = branch_slug(&"a".repeat(100));
        assert_eq!(one.len(), BRANCH_SLUG_MAX);
        for t in [
            "HEAD",
            "a.lock",
            "x/../y",
            "-rf",
            "@",
            "foo.",
            "émoji 🎉 title",
            "tab\there",
        ] {
            let (name, branch) = issue_branch(7, t);
            assert!(name.starts_with("7-"), "{name}");
            assert_eq!(
                crate::domain::gitrules::check_ref_name(&branch).as_deref(),
                Ok(branch.as_str()),
                "{t:?} gave {branch}"
            );
        }
        assert_eq!(
            issue_branch(12, "Add dark mode"),
            ("12-add-dark-mode".into(), "aiops/12-add-dark-mode".into())
        );
    }

    #[test]
    fn cli_reads_parse_like_git_shows_them() {
        assert_eq!(
            head_branch("ref: refs/heads/feature/x\n"),
            Some("feature/x".into())
        );
        assert_eq!(head_branch("ref: refs/heads/main"), Some("main".into()));
        assert_eq!(
            head_branch("cf8594b7e6e7a6f9c9bc7832960fa71899710215\n"),
            None
        );
        assert_eq!(
            gitdir_of("gitdir: ../.git/worktrees/a\n"),
            Some("../.git/worktrees/a")
        );
        assert_eq!(gitdir_of("nonsense"), None);
        let refs = "refs/heads/feature/x\0\nrefs/heads/main\0\n\
                    refs/remotes/origin/HEAD\0refs/remotes/origin/main\n\
                    refs/remotes/origin/main\0\n";
        assert_eq!(
            parse_branch_refs(refs, Some("main")),
            vec![
                ("feature/x".to_string(), false),
                ("main".to_string(), true),
                ("remotes/origin/HEAD -> origin/main".to_string(), false),
                ("remotes/origin/main".to_string(), false),
            ]
        );
        assert!(parse_branch_refs("", None).is_empty());
        let log = "abc\0Dev One\0dev@example.com\x002023-11-16T08:33:20+01:00\0Fix: a|b\n\
                   def\0Seed\0seed@example.com\x002026-12-01T20:17:03+00:00\0initial\n";
        let got = parse_log(log);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].author, "Dev One");
        assert_eq!(got[0].date, "2023-11-16T08:33:20+01:00");
        assert_eq!(got[0].subject, "Fix: a|b");
        assert_eq!(
            got[1].date, "2026-12-01T20:17:03Z",
            "UTC is Z on every git version"
        );
        assert!(parse_log("").is_empty());
    }

    #[test]
    fn remote_branches_are_named_like_git_branch_a() {
        assert_eq!(branch_a_name("origin/main", None), "remotes/origin/main");
        assert_eq!(
            branch_a_name("origin/HEAD", Some("origin/main")),
            "remotes/origin/HEAD -> origin/main"
        );
    }

    #[test]
    fn request_paths_stay_inside_the_workspace() {
        assert_eq!(
            relative_path("/src/main.rs/").unwrap(),
            PathBuf::from("src/main.rs")
        );
        assert_eq!(relative_path("").unwrap(), PathBuf::new());
        assert_eq!(relative_path("/").unwrap(), PathBuf::new());
        assert_eq!(relative_path("./a/./b").unwrap(), PathBuf::from("a/b"));
        for bad in [
            "../etc/passwd",
            "a/../../b",
            "a/..",
            "//etc/passwd",
            "a\0b",
            ".git/config",
            "x/.git",
        ] {
            assert!(relative_path(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn linux_usernames() {
        assert!(valid_linux_username("alice"));
        assert!(valid_linux_username("svc_git-1.x"));
        for bad in [
            "",
            "-rf",
            ".hidden",
            "a b",
            "a/b",
            "root;id",
            &"x".repeat(33),
        ] {
            assert!(!valid_linux_username(bad), "{bad}");
        }
    }

    #[test]
    fn user_dirs() {
        assert_eq!(user_dir(Some("alice"), "a@x", UserId(3)), "alice");
        assert_eq!(
            user_dir(None, "Alice.Smith@example.com", UserId(7)),
            "alice-smith-7"
        );
        assert_eq!(user_dir(Some("../root"), "bob@x", UserId(2)), "bob-2");
    }

    #[test]
    fn porcelain_v2() {
        let out = b"# branch.oid abc\0# branch.head main\0# branch.upstream origin/main\0# branch.ab +2 -1\0\
1 M. N... 100644 100644 100644 aaa bbb staged.txt\0\
1 .M N... 100644 100644 100644 aaa bbb changed file.txt\0\
2 R. N... 100644 100644 100644 aaa bbb R100 new.txt\0old.txt\0\
u UU N... 100644 100644 100644 100644 a b c both.txt\0\
? new dir/x.txt\0";
        let s = parse_status_v2(out);
        assert_eq!(s.branch.as_deref(), Some("main"));
        assert_eq!((s.ahead, s.behind), (2, 1));
        assert_eq!(s.staged, vec!["staged.txt", "new.txt"]);
        assert_eq!(s.unstaged, vec!["changed file.txt"]);
        assert_eq!(s.conflicted, vec!["both.txt"]);
        assert_eq!(s.untracked, vec!["new dir/x.txt"]);
        let d = parse_status_v2(b"# branch.oid abc\0# branch.head (detached)\0");
        assert!(d.detached && d.branch.is_none());
    }
}
