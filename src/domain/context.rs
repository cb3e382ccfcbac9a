//! The agent context file, `AGENTS.override.md`: what an agent working on an issue reads first.
//!
//! The file is `[base, hand-written notes, issue block]` joined by a `---` separator:
//! - the base is the global agent instructions (or the project's own `AGENTS.md`), followed by
//!   an invisible `<!-- aiops:base-end -->` marker so that a later regeneration can tell the old
//!   base from the user's notes even when the base has changed meanwhile;
//! - notes a person wrote between the base and the block are kept;
//! - the issue block sits between `<!-- issue-context:start -->` / `<!-- issue-context:end -->`
//!   and is replaced on every regeneration.
//!
//! Fixed against the original: no template indentation leaking into the output, no `---`
//! separators piling up on each regeneration, no stale base kept as "notes" after the base
//! changed, and fenced code always has its opening fence (see `adf`).

use super::model::{Comment, Timestamp};

pub const FILE_NAME: &str = "AGENTS.override.md";
pub const BASE_FILE: &str = "AGENTS.md";
pub const START: &str = "<!-- issue-context:start -->";
pub const END: &str = "<!-- issue-context:end -->";
pub const BASE_END: &str = "<!-- aiops:base-end -->";
pub const TITLE: &str = "## Current Issue Context";
pub const NOTE: &str = "NOTE: Generated issue context. Update before publishing if needed.";
pub const PLACEHOLDER: &str = "_No issue context populated yet. Start a session for an issue (or use `aiops issues start <id>`) to generate it._";
pub const NO_DESCRIPTION: &str = "No additional details provided by the issue tracker.";
pub const SEPARATOR: &str = "\n\n---\n\n";

/// One issue as the context file shows it.
#[derive(Debug, Clone, Default)]
pub struct IssueView {
    pub id: u64,
    pub provider: String,
    pub external_id: String,
    pub title: String,
    pub status: Option<String>,
    pub assignee: Option<String>,
    pub labels: Vec<String>,
    pub url: Option<String>,
    /// External updated time, else the local updated/created time.
    pub updated: Option<Timestamp>,
    pub description: Option<String>,
    /// Newest first, as stored.
    pub comments: Vec<Comment>,
}

#[derive(Debug, Clone, Default)]
pub struct ProjectView {
    pub id: u64,
    pub name: String,
    pub repo_url: String,
    /// The user's workspace (where the agent runs), not the project's shared path.
    pub workspace: String,
}

#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub name: Option<String>,
    pub email: Option<String>,
}

fn when(t: Option<Timestamp>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn or<'a>(v: Option<&'a str>, default: &'a str) -> &'a str {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(default)
}

/// POSIX shell quoting that leaves safe words bare.
pub fn shell_word(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\"'\"'"))
    }
}

/// `[github] 12: Title; status=open; assignee=ann; labels=a, b; updated=…; url=…`
pub fn summary_line(i: &IssueView) -> String {
    let mut s = format!(
        "[{}] {}: {}; status={}",
        i.provider,
        i.external_id,
        i.title.trim(),
        or(i.status.as_deref(), "unspecified")
    );
    if let Some(a) = i.assignee.as_deref().filter(|a| !a.trim().is_empty()) {
        s.push_str(&format!("; assignee={}", a.trim()));
    }
    if !i.labels.is_empty() {
        s.push_str(&format!("; labels={}", i.labels.join(", ")));
    }
    s.push_str(&format!("; updated={}", when(i.updated)));
    if let Some(u) = i.url.as_deref().filter(|u| !u.is_empty()) {
        s.push_str(&format!("; url={u}"));
    }
    s
}

fn comment_block(c: &Comment) -> String {
    let mut head = format!("**{}**", or(Some(c.author.as_str()), "Unknown"));
    if let Some(at) = c.created_at.as_deref().filter(|a| !a.is_empty()) {
        head.push_str(&format!(" on {at}"));
    }
    if let Some(u) = c.url.as_deref().filter(|u| !u.is_empty()) {
        head.push_str(&format!(" ([link]({u}))"));
    }
    format!("{head}\n\n{}", c.body.trim())
}

/// The Markdown body of the issue block (ends with one newline).
pub fn render_issue_context(
    project: &ProjectView,
    issue: &IssueView,
    others: &[IssueView],
    identity: Option<&Identity>,
    now: Timestamp,
) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.push(format!(
        "# {} - {}\n\n_Updated: {}_",
        issue.external_id,
        issue.title.trim(),
        now.format("%Y-%m-%d %H:%M:%SZ")
    ));
    parts.push(format!(
        "## Issue Snapshot\n\n- Provider: {}\n- Status: {}\n- Assignee: {}\n- Labels: {}\n- Source: {}\n- Last Updated: {}",
        issue.provider,
        or(issue.status.as_deref(), "unspecified"),
        or(issue.assignee.as_deref(), "unassigned"),
        if issue.labels.is_empty() {
            "none".to_string()
        } else {
            issue.labels.join(", ")
        },
        or(issue.url.as_deref(), "N/A"),
        when(issue.updated),
    ));
    parts.push(format!(
        "## Issue Description\n\n{}",
        or(issue.description.as_deref(), NO_DESCRIPTION)
    ));
    let comments: Vec<&Comment> = issue
        .comments
        .iter()
        .filter(|c| !c.body.trim().is_empty())
        .collect();
    if !comments.is_empty() {
        let blocks: Vec<String> = comments.iter().map(|c| comment_block(c)).collect();
        parts.push(format!(
            "## Issue Comments ({})\n\n{}",
            comments.len(),
            blocks.join("\n\n")
        ));
    }
    parts.push(format!(
        "## Project Context\n\n- Project: {} (id {})\n- Repository: {}\n- Workspace: {}",
        project.name, project.id, project.repo_url, project.workspace
    ));
    let other: Vec<String> = others
        .iter()
        .filter(|o| o.id != issue.id)
        .map(|o| format!("- {}", summary_line(o)))
        .collect();
    parts.push(format!(
        "## Other Known Issues\n\n{}",
        if other.is_empty() {
            "None listed.".to_string()
        } else {
            other.join("\n")
        }
    ));
    parts.push(format!(
        "## Workflow Reminders\n\n\
         1. Confirm the acceptance criteria in the tracker (`aiops issues get {id}`) and claim the issue (`aiops workflow claim {id}`).\n\
         2. Explore the relevant code and its history before changing anything.\n\
         3. Draft a short plan and share progress (`aiops workflow progress {id} \"in progress\" --comment \"…\"`).\n\
         4. Implement the change with tests, then commit and push it (`aiops workflow submit {id} --project {pid} --message \"…\"`).\n\
         5. Summarise the changes and how to verify them, then close the issue (`aiops workflow complete {id} --summary \"…\"`).",
        id = issue.id,
        pid = project.id
    ));
    if let Some(idn) = identity {
        let name = idn.name.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let email = idn
            .email
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        if name.is_some() || email.is_some() {
            let mut s =
                String::from("## Git Identity\n\nUse this identity for commits on this issue:\n");
            let mut config = Vec::new();
            let mut env = Vec::new();
            if let Some(n) = name {
                s.push_str(&format!("\n- Name: {n}"));
                config.push(format!("git config user.name {}", shell_word(n)));
                env.push(format!("export GIT_AUTHOR_NAME={}", shell_word(n)));
                env.push(format!("export GIT_COMMITTER_NAME={}", shell_word(n)));
            }
            if let Some(e) = email {
                s.push_str(&format!("\n- Email: {e}"));
                config.push(format!("git config user.email {}", shell_word(e)));
                env.push(format!("export GIT_AUTHOR_EMAIL={}", shell_word(e)));
                env.push(format!("export GIT_COMMITTER_EMAIL={}", shell_word(e)));
            }
            s.push_str(&format!(
                "\n\n```bash\n{}\n\n{}\n```",
                config.join("\n"),
                env.join("\n")
            ));
            parts.push(s);
        }
    }
    let mut out = parts.join("\n\n");
    out.push('\n');
    out
}

/// The block written into the file around an issue body (or the placeholder).
pub fn block(body: Option<&str>) -> String {
    match body {
        Some(b) => format!("{TITLE}\n\n{START}\n\n{NOTE}\n\n{}\n{END}", b.trim_end()),
        None => format!("{TITLE}\n\n{START}\n\n{PLACEHOLDER}\n{END}"),
    }
}

/// Remove any issue block (and the section title in front of it) from `text`.
pub fn strip_block(text: &str) -> String {
    let mut text = text.to_string();
    // Loop: a file damaged by hand may carry more than one block.
    while let Some(s) = text.find(START) {
        let Some(e) = text[s..].find(END).map(|e| s + e + END.len()) else {
            // An unterminated block: everything after the start marker is generated.
            text.truncate(s);
            break;
        };
        let mut cut_from = s;
        if let Some(t) = text[..s].rfind(TITLE) {
            cut_from = t;
        }
        text = format!(
            "{}\n\n{}",
            text[..cut_from].trim_end(),
            text[e..].trim_start()
        );
    }
    // A lone title left without its block (the block was removed by hand) goes too.
    if let Some(t) = text.rfind(TITLE)
        && text[t + TITLE.len()..].trim().is_empty()
    {
        text.truncate(t);
    }
    text.trim().to_string()
}

/// Whether a line is only a Markdown rule/separator.
fn is_rule(line: &str) -> bool {
    let l = line.trim();
    l.len() >= 3 && l.chars().all(|c| c == '-')
}

/// Trim blank lines and `---` separators from both ends.
fn trim_separators(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let keep = |l: &&str| !(l.trim().is_empty() || is_rule(l));
    let Some(first) = lines.iter().position(keep) else {
        return String::new();
    };
    let last = lines.iter().rposition(keep).unwrap_or(first);
    lines.get(first..=last).unwrap_or_default().join("\n")
}

/// Remove the base from the start of the existing file's text, leaving the user's notes.
fn strip_base(text: &str, base: &str) -> String {
    if let Some(i) = text.find(BASE_END) {
        return text[i + BASE_END.len()..].to_string();
    }
    // Files written by the original (no marker): the base is a prefix when it has not changed.
    let t = text.trim();
    let b = base.trim();
    if !b.is_empty()
        && let Some(rest) = t.strip_prefix(b)
    {
        return rest.to_string();
    }
    t.to_string()
}

/// Clean a base text: no issue block and no base marker in it.
pub fn clean_base(base: &str) -> String {
    trim_separators(&strip_block(&base.replace(BASE_END, "")))
}

/// The new file content: the base, the notes kept from `existing`, and the new block.
/// Idempotent: merging the result again with the same base and block gives the same text.
pub fn merge(existing: &str, base: &str, block: &str) -> String {
    let base = clean_base(base);
    let leftover = trim_separators(&strip_base(&strip_block(existing), &base));
    let mut sections: Vec<String> = Vec::new();
    if !base.is_empty() {
        sections.push(format!("{base}\n\n{BASE_END}"));
    }
    if !leftover.is_empty() {
        sections.push(leftover);
    }
    sections.push(block.trim().to_string());
    let mut out = sections.join(SEPARATOR);
    out.push('\n');
    out
}

/// A session without an issue: the file is overwritten with `[base, placeholder block]`.
pub fn global_only(base: &str) -> String {
    merge("", base, &block(None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 25, 10, 30, 0)
            .single()
            .unwrap_or_default()
    }

    fn project() -> ProjectView {
        ProjectView {
            id: 3,
            name: "shop".into(),
            repo_url: "git@example.com:acme/shop.git".into(),
            workspace: "/srv/ws/acme/shop".into(),
        }
    }

    fn issue() -> IssueView {
        IssueView {
            id: 7,
            provider: "github".into(),
            external_id: "42".into(),
            title: "Checkout fails".into(),
            status: Some("open".into()),
            assignee: Some("ann".into()),
            labels: vec!["bug".into(), "p1".into()],
            url: Some("https://github.com/acme/shop/issues/42".into()),
            updated: Some(now()),
            description: Some(
                "Steps:\n\n1. add to cart\n2. pay\n\n```\nTraceback: boom\n```".into(),
            ),
            comments: vec![
                Comment {
                    id: Some("2".into()),
                    author: "bob".into(),
                    body: "Seen on staging too.\nTwice.".into(),
                    created_at: Some("2026-11-24T09:00:00Z".into()),
                    url: Some("https://github.com/acme/shop/issues/42#c2".into()),
                },
                Comment {
                    id: Some("1".into()),
                    author: "".into(),
                    body: "   ".into(),
                    created_at: None,
                    url: None,
                },
            ],
        }
    }

    fn other() -> IssueView {
        IssueView {
            id: 8,
            provider: "github".into(),
            external_id: "43".into(),
            title: "Slow search".into(),
            status: None,
            updated: Some(now()),
            ..Default::default()
        }
    }

    const GOLDEN: &str = r#"# 42 - Checkout fails

_Updated: 2026-11-25 10:30:00Z_

## Issue Snapshot

- Provider: github
- Status: open
- Assignee: ann
- Labels: bug, p1
- Source: https://github.com/acme/shop/issues/42
- Last Updated: 2026-11-25 10:30 UTC

## Issue Description

Steps:

1. add to cart
2. pay

```
Traceback: boom
```

## Issue Comments (1)

**bob** on 2026-11-24T09:00:00Z ([link](https://github.com/acme/shop/issues/42#c2))

Seen on staging too.
Twice.

## Project Context

- Project: shop (id 3)
- Repository: git@example.com:acme/shop.git
- Workspace: /srv/ws/acme/shop

## Other Known Issues

- [github] 43: Slow search; status=unspecified; updated=2026-11-25 10:30 UTC

## Workflow Reminders

1. Confirm the acceptance criteria in the tracker (`aiops issues get 7`) and claim the issue (`aiops workflow claim 7`).
2. Explore the relevant code and its history before changing anything.
3. Draft a short plan and share progress (`aiops workflow progress 7 "in progress" --comment "…"`).
4. Implement the change with tests, then commit and push it (`aiops workflow submit 7 --project 3 --message "…"`).
5. Summarise the changes and how to verify them, then close the issue (`aiops workflow complete 7 --summary "…"`).

## Git Identity

Use this identity for commits on this issue:

- Name: Ann O'Neil
- Email: ann@example.com

```bash
git config user.name 'Ann O'"'"'Neil'
git config user.email ann@example.com

export GIT_AUTHOR_NAME='Ann O'"'"'Neil'
export GIT_COMMITTER_NAME='Ann O'"'"'Neil'
export GIT_AUTHOR_EMAIL=ann@example.com
export GIT_COMMITTER_EMAIL=ann@example.com
```
"#;

    fn ann() -> Identity {
        Identity {
            name: Some("Ann O'Neil".into()),
            email: Some("ann@example.com".into()),
        }
    }

    #[test]
    fn golden_body_has_every_section_unindented() {
        let body = render_issue_context(
            &project(),
            &issue(),
            &[issue(), other()],
            Some(&ann()),
            now(),
        );
        assert_eq!(body, GOLDEN);
        // The original's dedent bug indented every template line by 8 spaces.
        assert!(body.lines().all(|l| !l.starts_with("        ")));
    }

    #[test]
    fn optional_sections_and_defaults() {
        let bare = IssueView {
            id: 1,
            provider: "jira".into(),
            external_id: "OPS-1".into(),
            title: "t".into(),
            ..Default::default()
        };
        let body =
            render_issue_context(&project(), &bare, std::slice::from_ref(&bare), None, now());
        assert!(body.contains(NO_DESCRIPTION));
        assert!(body.contains("- Status: unspecified"));
        assert!(body.contains("- Assignee: unassigned"));
        assert!(body.contains("- Labels: none"));
        assert!(body.contains("- Source: N/A"));
        assert!(body.contains("- Last Updated: unknown"));
        assert!(body.contains("None listed."));
        assert!(!body.contains("## Issue Comments"));
        assert!(!body.contains("## Git Identity"));
        // An identity with neither name nor email adds nothing.
        let empty = Identity {
            name: Some(" ".into()),
            email: None,
        };
        let b2 = render_issue_context(&project(), &bare, &[], Some(&empty), now());
        assert!(!b2.contains("## Git Identity"));
        assert!(body.ends_with("`).\n"));
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("ann@example.com"), "ann@example.com");
        assert_eq!(shell_word("Ann Lee"), "'Ann Lee'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("a'b"), "'a'\"'\"'b'");
    }

    #[test]
    fn merge_keeps_notes_and_replaces_block() {
        let b1 = block(Some("# 1 - first\n"));
        let first = merge("", "Base guidance\n", &b1);
        assert_eq!(
            first,
            format!("Base guidance\n\n{BASE_END}{SEPARATOR}{}\n", b1.trim())
        );
        // Someone writes notes between the base and the block.
        let edited = first.replacen(
            &format!("{BASE_END}{SEPARATOR}"),
            &format!("{BASE_END}{SEPARATOR}My notes: use pnpm.{SEPARATOR}"),
            1,
        );
        let b2 = block(Some("# 2 - second\n"));
        let second = merge(&edited, "Base guidance", &b2);
        assert!(second.contains("My notes: use pnpm."));
        assert!(second.contains("# 2 - second"));
        assert!(!second.contains("# 1 - first"));
        assert_eq!(second.matches(START).count(), 1);
        assert_eq!(second.matches("Base guidance").count(), 1);
    }

    #[test]
    fn regeneration_is_idempotent_and_separators_do_not_pile_up() {
        let b = block(Some(GOLDEN));
        let mut text = merge("", "Base", &b);
        let once = text.clone();
        for _ in 0..10 {
            text = merge(&text, "Base", &b);
        }
        assert_eq!(text, once);
        // Two separators: base | block (the golden body's own fences and rules aside).
        assert_eq!(text.matches(SEPARATOR).count(), 1);
        assert!(text.ends_with(&format!("{END}\n")));
        assert!(!text.ends_with("\n\n"));
    }

    #[test]
    fn a_changed_base_replaces_the_old_one() {
        let b = block(Some("# 1 - x"));
        let v1 = merge("", "Instructions version 0.1.7", &b);
        let v2 = merge(&v1, "Instructions version 0.2.0", &b);
        assert!(!v2.contains("0.1.7"), "{v2}");
        assert!(v2.starts_with("Instructions version 0.2.0"));
        // A base that is removed entirely leaves no marker behind.
        let v3 = merge(&v2, "", &b);
        assert!(!v3.contains(BASE_END));
        assert!(v3.starts_with(TITLE));
    }

    #[test]
    fn files_from_the_original_are_cleaned() {
        // The original's accumulated separators and old block, no base marker.
        let old = format!(
            "Base{SEPARATOR}---\n\n---\n\n---{SEPARATOR}{TITLE}\n\n{START}\n\nold\n{END}\n"
        );
        let new = merge(&old, "Base", &block(Some("new")));
        assert_eq!(
            new,
            format!("Base\n\n{BASE_END}{SEPARATOR}{TITLE}\n\n{START}\n\n{NOTE}\n\nnew\n{END}\n")
        );
        // A base carrying a block of its own (copied by hand) is cleaned before use.
        let dirty_base = format!("Base{SEPARATOR}{TITLE}\n\n{START}\nx\n{END}");
        assert_eq!(clean_base(&dirty_base), "Base");
    }

    #[test]
    fn unterminated_block_and_placeholder() {
        let broken = format!("Base{SEPARATOR}{TITLE}\n\n{START}\n\nhalf a block");
        let out = merge(&broken, "Base", &block(Some("fresh")));
        assert!(!out.contains("half a block"));
        assert_eq!(out.matches(START).count(), 1);
        let g = global_only("Base");
        assert!(g.contains(PLACEHOLDER));
        assert!(!g.contains(NOTE));
        assert!(g.starts_with("Base"));
    }
}
