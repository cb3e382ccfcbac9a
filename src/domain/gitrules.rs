//! Rules for the workspace view, with no I/O: branch and ref names (git check-ref-format),
//! push targets, the path of a one-file diff, the changed files of `git status --porcelain=v2`
//! with their badge (M/A/D/R/??/U), and the kind of each line of a unified diff.

/// A branch name as `git check-ref-format --branch` accepts it, plus what keeps it from being
/// read as an option or as something else by git: not empty, at most 200 bytes, no leading
/// `-`, no component that starts with `.` or ends with `.lock`, no `..`, no ASCII control
/// character, space, `~ ^ : ? * [ \`, no leading, trailing or doubled `/`, no trailing `.`, no
/// `@{`, not `@` and not `HEAD`. Returns the trimmed name.
pub fn check_ref_name(raw: &str) -> Result<String, String> {
    let v = raw.trim();
    let why = if v.is_empty() {
        Some("it is empty")
    } else if v.len() > 200 {
        Some("it is longer than 200 characters")
    } else if v.starts_with('-') {
        Some("it starts with '-'")
    } else if v == "@" || v == "HEAD" {
        Some("it is reserved by git")
    } else if v.starts_with('/') || v.ends_with('/') || v.contains("//") {
        Some("it starts or ends with '/' or has '//'")
    } else if v.ends_with('.') {
        Some("it ends with '.'")
    } else if v.contains("..") {
        Some("it contains '..'")
    } else if v.contains("@{") {
        Some("it contains '@{'")
    } else if v
        .chars()
        .any(|c| c.is_control() || c == ' ' || "~^:?*[\\".contains(c) || c == '\u{7f}')
    {
        Some("it contains a space, a control character or one of ~ ^ : ? * [ \\")
    } else if v
        .split('/')
        .any(|c| c.starts_with('.') || c.ends_with(".lock"))
    {
        Some("a part of it starts with '.' or ends with '.lock'")
    } else {
        None
    };
    match why {
        Some(w) => Err(format!("'{v}' is not a valid branch name: {w}")),
        None => Ok(v.to_string()),
    }
}

/// A branch as the picker names it: a local branch (`main`) or a remote-tracking one
/// (`remotes/origin/main`, or `origin/main`) split into remote and branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchPick {
    Local(String),
    Remote { remote: String, branch: String },
}

impl BranchPick {
    /// What git calls it on the command line (`main`, `origin/main`).
    pub fn rev(&self) -> String {
        match self {
            BranchPick::Local(b) => b.clone(),
            BranchPick::Remote { remote, branch } => format!("{remote}/{branch}"),
        }
    }
}

/// Parse a picker value: `remotes/<remote>/<branch>` is remote-tracking, anything else a
/// local branch name; both checked with `check_ref_name`. The symbolic `remotes/origin/HEAD ->
/// origin/main` is refused (pick the branch it points at).
pub fn parse_pick(raw: &str) -> Result<BranchPick, String> {
    let v = raw.trim();
    if v.contains("->") {
        return Err(format!(
            "'{v}' is a remote's symbolic HEAD, not a branch: pick the branch it points at"
        ));
    }
    match v.strip_prefix("remotes/") {
        Some(rest) => {
            let rest = check_ref_name(rest)?;
            match rest.split_once('/') {
                Some((remote, branch)) if !remote.is_empty() && !branch.is_empty() => {
                    Ok(BranchPick::Remote {
                        remote: remote.to_string(),
                        branch: branch.to_string(),
                    })
                }
                _ => Err(format!(
                    "'{v}' is not a remote branch: expected remotes/<remote>/<branch>"
                )),
            }
        }
        None => check_ref_name(v).map(BranchPick::Local),
    }
}

/// The refspec that pushes the checked-out commit to branch `target` on the remote:
/// `HEAD:refs/heads/<target>`. `target` may be given as `refs/heads/<name>` too.
pub fn push_refspec(target: &str) -> Result<String, String> {
    let t = target.trim();
    let name = t.strip_prefix("refs/heads/").unwrap_or(t);
    if name.starts_with("refs/") {
        return Err(format!(
            "'{t}' is not a branch: push targets are branches (refs/heads/…)"
        ));
    }
    let name = check_ref_name(name)?;
    Ok(format!("HEAD:refs/heads/{name}"))
}

/// The path of a one-file diff from a request: inside the workspace (no `..`, no absolute
/// path, no NUL, not in `.git`; see `git::relative_path`), not empty, and no part of it
/// starting with `-` (it could be read as an option). Returns the normalised relative path.
pub fn diff_path(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    if t.starts_with('/') || t.starts_with('\\') {
        return Err(format!(
            "Invalid path '{t}': absolute paths are not allowed; give a path relative to the workspace"
        ));
    }
    let rel = super::git::relative_path(t)?;
    if rel.as_os_str().is_empty() {
        return Err("Invalid path: give the file to compare".into());
    }
    let s = rel.to_string_lossy().into_owned();
    if s.split('/').any(|c| c.starts_with('-')) {
        return Err(format!(
            "Invalid path '{s}': a part that starts with '-' could be read as an option"
        ));
    }
    Ok(s)
}

/// What happened to a changed file, as its badge shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Modified,
    Added,
    Deleted,
    Renamed,
    Untracked,
    Conflicted,
}

impl Change {
    /// The badge: M, A, D, R, ?? or U.
    pub fn code(self) -> &'static str {
        match self {
            Change::Modified => "M",
            Change::Added => "A",
            Change::Deleted => "D",
            Change::Renamed => "R",
            Change::Untracked => "??",
            Change::Conflicted => "U",
        }
    }

    /// The badge in words (its title and aria-label).
    pub fn word(self) -> &'static str {
        match self {
            Change::Modified => "Modified",
            Change::Added => "Added",
            Change::Deleted => "Deleted",
            Change::Renamed => "Renamed",
            Change::Untracked => "Untracked (new, not added)",
            Change::Conflicted => "Conflicted (unmerged)",
        }
    }

    /// A CSS class name for the badge colour.
    pub fn class(self) -> &'static str {
        match self {
            Change::Modified => "chg-m",
            Change::Added => "chg-a",
            Change::Deleted => "chg-d",
            Change::Renamed => "chg-r",
            Change::Untracked => "chg-u",
            Change::Conflicted => "chg-c",
        }
    }
}

/// One changed file of the working tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedFile {
    pub path: String,
    /// The path before a rename.
    pub orig_path: Option<String>,
    /// git's two-letter code (`M.`, `.M`, `A.`, `??`, `UU`, …).
    pub xy: String,
    pub change: Change,
    /// The index differs from HEAD.
    pub staged: bool,
    /// The working tree differs from the index.
    pub unstaged: bool,
}

/// The badge for a porcelain v2 XY code of an ordinary (`1`) or renamed (`2`) entry: a rename
/// or copy in the index shows as R, a new file as A, a deletion on either side as D, anything
/// else as M.
pub fn change_of(x: char, y: char) -> Change {
    if x == 'R' || x == 'C' {
        Change::Renamed
    } else if x == 'A' {
        Change::Added
    } else if x == 'D' || y == 'D' {
        Change::Deleted
    } else {
        Change::Modified
    }
}

/// Every changed file in `git status --porcelain=v2 [--branch] -z` output, in git's order
/// (ignored files, `!`, are left out).
pub fn parse_changes(out: &[u8]) -> Vec<ChangedFile> {
    let text = String::from_utf8_lossy(out);
    let mut fields = text.split('\0');
    let mut files = Vec::new();
    while let Some(rec) = fields.next() {
        let mut kind = rec.chars();
        match kind.next() {
            Some(k @ ('1' | '2')) => {
                let parts: Vec<&str> = rec.splitn(if k == '1' { 9 } else { 10 }, ' ').collect();
                let (Some(xy), Some(path)) = (parts.get(1), parts.last()) else {
                    continue;
                };
                if parts.len() < if k == '1' { 9 } else { 10 } {
                    continue;
                }
                let orig = if k == '2' {
                    fields.next().map(str::to_string)
                } else {
                    None
                };
                let mut c = xy.chars();
                let (x, y) = (c.next().unwrap_or('.'), c.next().unwrap_or('.'));
                files.push(ChangedFile {
                    path: path.to_string(),
                    orig_path: orig,
                    xy: xy.to_string(),
                    change: change_of(x, y),
                    staged: x != '.',
                    unstaged: y != '.',
                });
            }
            Some('u') => {
                let parts: Vec<&str> = rec.splitn(11, ' ').collect();
                let (Some(xy), Some(path)) = (parts.get(1), parts.get(10)) else {
                    continue;
                };
                files.push(ChangedFile {
                    path: path.to_string(),
                    orig_path: None,
                    xy: xy.to_string(),
                    change: Change::Conflicted,
                    staged: true,
                    unstaged: true,
                });
            }
            Some('?') if rec.len() > 2 => files.push(ChangedFile {
                path: rec[2..].to_string(),
                orig_path: None,
                xy: "??".into(),
                change: Change::Untracked,
                staged: false,
                unstaged: true,
            }),
            _ => {}
        }
    }
    files
}

/// The kind of a line of a unified (or combined) diff, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffLine {
    /// `diff --git`, `index`, `---`/`+++`, mode and rename lines.
    Meta,
    /// `@@ -1,2 +1,3 @@` (or `@@@` in a combined diff).
    Hunk,
    Add,
    Del,
    Context,
    /// `\ No newline at end of file`, `Binary files … differ`.
    Note,
}

impl DiffLine {
    pub fn class(self) -> &'static str {
        match self {
            DiffLine::Meta => "meta",
            DiffLine::Hunk => "hunk",
            DiffLine::Add => "add",
            DiffLine::Del => "del",
            DiffLine::Context => "ctx",
            DiffLine::Note => "note",
        }
    }
}

/// Classify each line of a diff. Inside a hunk `+`/`-` lines are additions and removals
/// (`+++`/`---` too: a removed line may start with `--`); outside one they are headers. In a
/// combined diff (`diff --cc`, a conflict) the first two columns are read.
pub fn classify_diff(text: &str) -> Vec<(DiffLine, &str)> {
    let mut in_hunk = false;
    let mut combined = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let kind = if line.starts_with("diff ") {
            in_hunk = false;
            combined = line.starts_with("diff --cc") || line.starts_with("diff --combined");
            DiffLine::Meta
        } else if line.starts_with("@@") {
            in_hunk = true;
            DiffLine::Hunk
        } else if line.starts_with('\\') || line.starts_with("Binary files ") {
            DiffLine::Note
        } else if !in_hunk {
            DiffLine::Meta
        } else if combined {
            // One column per parent: `+` in any of them is an addition.
            let cols: String = line.chars().take(2).collect();
            if cols.contains('+') {
                DiffLine::Add
            } else if cols.contains('-') {
                DiffLine::Del
            } else {
                DiffLine::Context
            }
        } else if line.starts_with('+') {
            DiffLine::Add
        } else if line.starts_with('-') {
            DiffLine::Del
        } else {
            DiffLine::Context
        };
        out.push((kind, line));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_follow_check_ref_format() {
        for good in ["main", "feature/x-1", "release/2026.12", "a@b", "ü"] {
            assert_eq!(check_ref_name(good).as_deref(), Ok(good), "{good}");
        }
        assert_eq!(check_ref_name("  main ").unwrap(), "main");
        for bad in [
            "",
            "-x",
            "--output=/tmp/x",
            "a..b",
            "a b",
            "a\tb",
            "x.lock",
            "x/y.lock/z",
            ".hidden",
            "a/.b",
            "a~b",
            "a^b",
            "a:b",
            "a?b",
            "a*b",
            "a[b",
            "a\\b",
            "x/",
            "/x",
            "a//b",
            "x.",
            "a@{1}",
            "@",
            "HEAD",
            "a\u{7f}b",
            &"x".repeat(201),
        ] {
            assert!(check_ref_name(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(
            check_ref_name("-f")
                .unwrap_err()
                .contains("starts with '-'")
        );
    }

    #[test]
    fn picks_name_local_and_remote_branches() {
        assert_eq!(parse_pick("main"), Ok(BranchPick::Local("main".into())));
        let r = parse_pick("remotes/origin/feature/x").unwrap();
        assert_eq!(
            r,
            BranchPick::Remote {
                remote: "origin".into(),
                branch: "feature/x".into()
            }
        );
        assert_eq!(r.rev(), "origin/feature/x");
        assert!(parse_pick("remotes/origin/HEAD -> origin/main").is_err());
        assert!(parse_pick("remotes/origin").is_err());
        assert!(parse_pick("remotes/-x/y").is_err());
        assert!(parse_pick("-D").is_err());
    }

    #[test]
    fn push_targets_are_branches() {
        assert_eq!(push_refspec("release").unwrap(), "HEAD:refs/heads/release");
        assert_eq!(
            push_refspec("refs/heads/a/b").unwrap(),
            "HEAD:refs/heads/a/b"
        );
        for bad in ["", "-f", "refs/tags/v1", "a..b", "x:y", "refs/heads/-f"] {
            assert!(push_refspec(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn diff_paths_stay_inside_and_are_never_options() {
        assert_eq!(diff_path("src/main.rs").unwrap(), "src/main.rs");
        assert_eq!(diff_path("./a b.txt").unwrap(), "a b.txt");
        for bad in [
            "../../etc/passwd",
            "a/../../b",
            "/etc/passwd",
            "//etc/passwd",
            "\\etc",
            "--output=/tmp/x",
            "src/-rf",
            "",
            ".git/config",
            "a\0b",
        ] {
            assert!(diff_path(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(diff_path("/etc/passwd").unwrap_err().contains("absolute"));
        assert!(diff_path("--output=/tmp/x").unwrap_err().contains("option"));
        assert!(diff_path("../../etc/passwd").unwrap_err().contains(".."));
    }

    #[test]
    fn changes_get_badges_and_sides() {
        let out = b"# branch.oid abc\0# branch.head main\0\
1 .M N... 100644 100644 100644 aaa bbb README.md\0\
1 M. N... 100644 100644 100644 aaa bbb staged file.txt\0\
1 A. N... 000000 100644 100644 000 bbb new.rs\0\
1 AM N... 000000 100644 100644 000 bbb new2.rs\0\
1 .D N... 100644 100644 000000 aaa aaa gone.txt\0\
1 D. N... 100644 000000 000000 aaa 000 removed.txt\0\
2 R. N... 100644 100644 100644 aaa bbb R100 to.txt\0from.txt\0\
u UU N... 100644 100644 100644 100644 a b c both.txt\0\
? notes.md\0\
! target/\0";
        let f = parse_changes(out);
        let got: Vec<(&str, &str, bool, bool)> = f
            .iter()
            .map(|c| (c.path.as_str(), c.change.code(), c.staged, c.unstaged))
            .collect();
        assert_eq!(
            got,
            vec![
                ("README.md", "M", false, true),
                ("staged file.txt", "M", true, false),
                ("new.rs", "A", true, false),
                ("new2.rs", "A", true, true),
                ("gone.txt", "D", false, true),
                ("removed.txt", "D", true, false),
                ("to.txt", "R", true, false),
                ("both.txt", "U", true, true),
                ("notes.md", "??", false, true),
            ]
        );
        assert_eq!(f[6].orig_path.as_deref(), Some("from.txt"));
        assert_eq!(f[7].xy, "UU");
        assert!(parse_changes(b"").is_empty());
        assert!(parse_changes(b"1 M. short\0").is_empty(), "malformed");
        assert_eq!(Change::Untracked.word(), "Untracked (new, not added)");
    }

    #[test]
    fn diff_lines_are_classified() {
        let d = "diff --git a/x b/x\nindex 1..2 100644\n--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@ fn\n ctx\n-old\n+new\n--- removed dashes\n+++ added pluses\n\\ No newline at end of file\ndiff --git a/y b/y\nBinary files a/y and b/y differ\n";
        let kinds: Vec<&str> = classify_diff(d).iter().map(|(k, _)| k.class()).collect();
        assert_eq!(
            kinds,
            vec![
                "meta", "meta", "meta", "meta", "hunk", "ctx", "del", "add", "del", "add", "note",
                "meta", "note"
            ]
        );
        let cc = "diff --cc f\n@@@ -1,1 -1,1 +1,5 @@@\n++<<<<<<< HEAD\n +ours\n- theirs\n";
        let kinds: Vec<&str> = classify_diff(cc).iter().map(|(k, _)| k.class()).collect();
        assert_eq!(kinds, vec!["meta", "hunk", "add", "add", "del"]);
    }
}
