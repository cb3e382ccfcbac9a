//! Reviewing an agent session's branch: the stored review note (a line comment or an
//! approval), the unified-diff parser (files, hunks, old/new line numbers), a small keyword /
//! string / comment highlighter for common languages, and the message a line comment types
//! into the agent's session.

use super::{SessionId, Timestamp, UserId};
use serde::{Deserialize, Serialize};

/// A review note on a session: a line comment (`path` and `line` set) or an approval.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReviewNote {
    pub id: u64,
    pub session_id: SessionId,
    pub user_id: UserId,
    /// The author's name when the note was made (shown on the page).
    pub author: String,
    /// "comment" or "approval".
    pub kind: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub line: Option<u32>,
    pub text: String,
    pub created_at: Timestamp,
}

/// The longest line comment accepted (it is typed into a terminal).
pub const MAX_COMMENT_CHARS: usize = 2000;

/// The line typed into the agent's session for a comment: `Reviewer on src/x.rs:42: text`, on
/// one line (newlines and control characters of the text become spaces, so the message is one
/// prompt line and cannot press keys of its own).
pub fn comment_message(path: &str, line: u32, text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.split_whitespace().collect::<Vec<_>>().join(" ");
    let path: String = path.chars().filter(|c| !c.is_control()).collect();
    format!("Reviewer on {path}:{line}: {flat}")
}

/// Check a comment's text: non-empty, not too long. Answers it trimmed.
pub fn valid_comment(text: &str) -> Result<&str, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("Write a comment first.".into());
    }
    if t.chars().count() > MAX_COMMENT_CHARS {
        return Err(format!(
            "The comment is longer than {MAX_COMMENT_CHARS} characters; shorten it."
        ));
    }
    Ok(t)
}

// ---- diff -------------------------------------------------------------------------------------

/// What a diff line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Context,
    Added,
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub kind: LineKind,
    /// Its number in the old file (None for an added line).
    pub old: Option<u32>,
    /// Its number in the new file (None for a removed line).
    pub new: Option<u32>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// The `@@ -a,b +c,d @@ …` line.
    pub header: String,
    pub lines: Vec<DiffLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileDiff {
    /// The new path (the old one for a deleted file).
    pub path: String,
    /// The old path when the file was renamed.
    pub renamed_from: Option<String>,
    /// "added", "deleted", "renamed" or "modified".
    pub status: &'static str,
    pub binary: bool,
    pub hunks: Vec<Hunk>,
}

impl FileDiff {
    pub fn added_removed(&self) -> (usize, usize) {
        let lines = self.hunks.iter().flat_map(|h| &h.lines);
        let (mut a, mut r) = (0, 0);
        for l in lines {
            match l.kind {
                LineKind::Added => a += 1,
                LineKind::Removed => r += 1,
                LineKind::Context => {}
            }
        }
        (a, r)
    }
}

/// `a/src/x.rs` -> `src/x.rs` (git's quoting of odd names is kept as given).
fn strip_side(p: &str) -> Option<String> {
    let p = p.trim_end();
    if p == "/dev/null" {
        return None;
    }
    Some(
        p.strip_prefix("a/")
            .or_else(|| p.strip_prefix("b/"))
            .unwrap_or(p)
            .to_string(),
    )
}

/// `@@ -12,5 +14,7 @@` -> (12, 14).
fn hunk_starts(h: &str) -> Option<(u32, u32)> {
    let rest = h.strip_prefix("@@ -")?;
    let (old, rest) = rest.split_once(" +")?;
    let new = rest.split(' ').next()?;
    let start = |s: &str| s.split(',').next()?.parse::<u32>().ok();
    Some((start(old)?, start(new)?))
}

/// Parse `git diff` output (unified, no colour) into files and hunks with line numbers.
pub fn parse_diff(text: &str) -> Vec<FileDiff> {
    let mut files: Vec<FileDiff> = Vec::new();
    let (mut old_no, mut new_no) = (0u32, 0u32);
    let mut in_hunk = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("diff --git ") {
            // Best guess from the header; `---`/`+++`/rename lines correct it.
            let path = rest
                .rsplit_once(" b/")
                .map(|(_, b)| b.to_string())
                .unwrap_or_else(|| rest.to_string());
            files.push(FileDiff {
                path,
                status: "modified",
                ..Default::default()
            });
            in_hunk = false;
            continue;
        }
        let Some(f) = files.last_mut() else {
            continue;
        };
        if line.starts_with("@@ ") {
            if let Some((o, n)) = hunk_starts(line) {
                old_no = o;
                new_no = n;
                in_hunk = true;
                f.hunks.push(Hunk {
                    header: line.to_string(),
                    lines: Vec::new(),
                });
            }
            continue;
        }
        if in_hunk && let Some(h) = f.hunks.last_mut() {
            {
                let (kind, body) = match line.chars().next() {
                    Some('+') => (LineKind::Added, &line[1..]),
                    Some('-') => (LineKind::Removed, &line[1..]),
                    Some(' ') => (LineKind::Context, &line[1..]),
                    Some('\\') => continue, // "\ No newline at end of file"
                    None => (LineKind::Context, ""),
                    _ => {
                        in_hunk = false;
                        continue;
                    }
                };
                let (old, new) = match kind {
                    LineKind::Added => (None, Some(new_no)),
                    LineKind::Removed => (Some(old_no), None),
                    LineKind::Context => (Some(old_no), Some(new_no)),
                };
                if kind != LineKind::Added {
                    old_no += 1;
                }
                if kind != LineKind::Removed {
                    new_no += 1;
                }
                h.lines.push(DiffLine {
                    kind,
                    old,
                    new,
                    text: body.to_string(),
                });
                continue;
            }
        }
        if line.starts_with("new file mode") {
            f.status = "added";
        } else if line.starts_with("deleted file mode") {
            f.status = "deleted";
        } else if let Some(from) = line.strip_prefix("rename from ") {
            f.renamed_from = Some(from.to_string());
            f.status = "renamed";
        } else if let Some(to) = line.strip_prefix("rename to ") {
            f.path = to.to_string();
        } else if line.starts_with("Binary files ") || line == "GIT binary patch" {
            f.binary = true;
        } else if let Some(p) = line.strip_prefix("+++ ").and_then(strip_side) {
            f.path = p;
        } else if let Some(p) = line
            .strip_prefix("--- ")
            .filter(|_| f.status == "deleted")
            .and_then(strip_side)
        {
            f.path = p;
        }
    }
    files
}

// ---- highlighting -----------------------------------------------------------------------------

/// A piece of a highlighted line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    Plain,
    Keyword,
    Str,
    Comment,
    Number,
}

impl Tok {
    /// The CSS class the review page gives it (None: plain text).
    pub fn class(self) -> Option<&'static str> {
        match self {
            Tok::Plain => None,
            Tok::Keyword => Some("hl-k"),
            Tok::Str => Some("hl-s"),
            Tok::Comment => Some("hl-c"),
            Tok::Number => Some("hl-n"),
        }
    }
}

/// How a language writes comments and which words are keywords.
pub struct Lang {
    line_comments: &'static [&'static str],
    /// `'` quotes only a character (`'a'`, `'\n'`); otherwise it is a lifetime or label.
    char_quote: bool,
    keywords: &'static [&'static str],
}

const RUST: Lang = Lang {
    char_quote: true,
    line_comments: &["//"],
    keywords: &[
        "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
        "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
        "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true",
        "type", "unsafe", "use", "where", "while",
    ],
};
const PYTHON: Lang = Lang {
    char_quote: false,
    line_comments: &["#"],
    keywords: &[
        "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
        "elif", "else", "except", "False", "finally", "for", "from", "if", "import", "in", "is",
        "lambda", "None", "not", "or", "pass", "raise", "return", "True", "try", "while", "with",
        "yield",
    ],
};
const C_LIKE: Lang = Lang {
    char_quote: false,
    line_comments: &["//"],
    keywords: &[
        "break",
        "case",
        "catch",
        "class",
        "const",
        "continue",
        "default",
        "do",
        "else",
        "enum",
        "export",
        "extends",
        "false",
        "final",
        "for",
        "func",
        "function",
        "go",
        "if",
        "import",
        "interface",
        "let",
        "new",
        "null",
        "package",
        "private",
        "public",
        "return",
        "static",
        "struct",
        "switch",
        "this",
        "throw",
        "true",
        "try",
        "type",
        "var",
        "void",
        "while",
    ],
};
const SHELL: Lang = Lang {
    char_quote: false,
    line_comments: &["#"],
    keywords: &[
        "case", "do", "done", "elif", "else", "esac", "export", "fi", "for", "function", "if",
        "in", "local", "return", "then", "while",
    ],
};
const CONFIG: Lang = Lang {
    char_quote: false,
    line_comments: &["#"],
    keywords: &["true", "false", "null", "yes", "no"],
};

/// The language of a path, by its extension (None: shown without highlighting).
pub fn lang_of(path: &str) -> Option<&'static Lang> {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name == "Dockerfile" || name == "Makefile" {
        return Some(&SHELL);
    }
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "rs" => &RUST,
        "py" => &PYTHON,
        "js" | "mjs" | "ts" | "tsx" | "jsx" | "go" | "c" | "h" | "cc" | "cpp" | "hpp" | "java"
        | "kt" | "swift" | "cs" | "css" | "scss" => &C_LIKE,
        "sh" | "bash" | "zsh" => &SHELL,
        "toml" | "yml" | "yaml" | "ini" | "cfg" | "conf" => &CONFIG,
        _ => return None,
    })
}

/// Split one line of code into highlighted pieces. Line-based (a string or block comment
/// that spans lines is not followed across them): good enough for a diff on a phone.
pub fn highlight<'a>(lang: Option<&Lang>, line: &'a str) -> Vec<(Tok, &'a str)> {
    let Some(lang) = lang else {
        return vec![(Tok::Plain, line)];
    };
    let mut out: Vec<(Tok, &'a str)> = Vec::new();
    let push = |out: &mut Vec<(Tok, &'a str)>, t: Tok, s: &'a str| {
        if s.is_empty() {
            return;
        }
        match out.last_mut() {
            Some((lt, ls)) if *lt == t && t == Tok::Plain => {
                // Adjacent plain pieces are contiguous slices of `line`: merge them.
                let start = ls.as_ptr() as usize - line.as_ptr() as usize;
                *ls = &line[start..start + ls.len() + s.len()];
            }
            _ => out.push((t, s)),
        }
    };
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let rest = &line[i..];
        if lang.line_comments.iter().any(|c| rest.starts_with(c)) {
            push(&mut out, Tok::Comment, rest);
            break;
        }
        let at = |k: usize| b.get(k).copied().unwrap_or(0);
        let c = at(i);
        let lifetime = c == b'\''
            && lang.char_quote
            && !(b.get(i + 2) == Some(&b'\'') || b.get(i + 1) == Some(&b'\\'));
        if (c == b'"' || c == b'\'' || c == b'`') && !lifetime {
            let mut j = i + 1;
            while j < b.len() && at(j) != c {
                if at(j) == b'\\' {
                    j += 1;
                }
                j += 1;
            }
            let end = (j + 1).min(b.len());
            push(&mut out, Tok::Str, &line[i..end]);
            i = end;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let mut j = i;
            while j < b.len() && (at(j).is_ascii_alphanumeric() || at(j) == b'_') {
                j += 1;
            }
            let word = &line[i..j];
            let t = if lang.keywords.contains(&word) {
                Tok::Keyword
            } else {
                Tok::Plain
            };
            push(&mut out, t, word);
            i = j;
            continue;
        }
        if c.is_ascii_digit() {
            let mut j = i;
            while j < b.len() && (at(j).is_ascii_alphanumeric() || at(j) == b'.' || at(j) == b'_') {
                j += 1;
            }
            push(&mut out, Tok::Number, &line[i..j]);
            i = j;
            continue;
        }
        // One character (whole, for non-ASCII).
        let len = rest.chars().next().map_or(1, char::len_utf8);
        push(&mut out, Tok::Plain, &line[i..i + len]);
        i += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIFF: &str = "diff --git a/src/x.rs b/src/x.rs
index 1111111..2222222 100644
--- a/src/x.rs
+++ b/src/x.rs
@@ -1,3 +1,4 @@ fn main
 fn a() {}
-fn b() {}
+fn b() { 1 }
+fn c() {}
 fn d() {}
\\ No newline at end of file
diff --git a/new.txt b/new.txt
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/new.txt
@@ -0,0 +1 @@
+hello
diff --git a/gone.py b/gone.py
deleted file mode 100644
--- a/gone.py
+++ /dev/null
@@ -1 +0,0 @@
-x = 1
diff --git a/old.rs b/new.rs
similarity index 100%
rename from old.rs
rename to new.rs
diff --git a/img.png b/img.png
Binary files a/img.png and b/img.png differ
";

    #[test]
    fn files_hunks_and_line_numbers() {
        let f = parse_diff(DIFF);
        assert_eq!(f.len(), 5);
        assert_eq!(f[0].path, "src/x.rs");
        assert_eq!(f[0].status, "modified");
        let h = &f[0].hunks[0];
        assert_eq!(h.header, "@@ -1,3 +1,4 @@ fn main");
        let nums: Vec<_> = h.lines.iter().map(|l| (l.kind, l.old, l.new)).collect();
        assert_eq!(
            nums,
            vec![
                (LineKind::Context, Some(1), Some(1)),
                (LineKind::Removed, Some(2), None),
                (LineKind::Added, None, Some(2)),
                (LineKind::Added, None, Some(3)),
                (LineKind::Context, Some(3), Some(4)),
            ]
        );
        assert_eq!(h.lines[2].text, "fn b() { 1 }");
        assert_eq!(f[0].added_removed(), (2, 1));
        assert_eq!((f[1].path.as_str(), f[1].status), ("new.txt", "added"));
        assert_eq!(f[1].hunks[0].lines[0].new, Some(1));
        assert_eq!((f[2].path.as_str(), f[2].status), ("gone.py", "deleted"));
        assert_eq!(f[2].hunks[0].lines[0].old, Some(1));
        assert_eq!((f[3].path.as_str(), f[3].status), ("new.rs", "renamed"));
        assert_eq!(f[3].renamed_from.as_deref(), Some("old.rs"));
        assert!(f[4].binary && f[4].hunks.is_empty());
        assert!(parse_diff("").is_empty());
        assert!(parse_diff("garbage\n@@ -1 +1 @@\n+x\n").is_empty());
    }

    #[test]
    fn highlighting_keywords_strings_comments_numbers() {
        let l = lang_of("src/main.rs");
        let t = highlight(l, r#"let s = "a \" b"; // note 42"#);
        assert_eq!(
            t,
            vec![
                (Tok::Keyword, "let"),
                (Tok::Plain, " s = "),
                (Tok::Str, r#""a \" b""#),
                (Tok::Plain, "; "),
                (Tok::Comment, "// note 42"),
            ]
        );
        let t = highlight(lang_of("a.py"), "x = 10 # if");
        assert_eq!(
            t,
            vec![
                (Tok::Plain, "x = "),
                (Tok::Number, "10"),
                (Tok::Plain, " "),
                (Tok::Comment, "# if"),
            ]
        );
        // Words containing keywords are not keywords; unknown files are plain; non-ASCII is kept.
        assert_eq!(highlight(l, "letter"), vec![(Tok::Plain, "letter")]);
        assert_eq!(
            highlight(lang_of("README"), "fn x"),
            vec![(Tok::Plain, "fn x")]
        );
        let t = highlight(l, "é fn 'ü");
        let joined: String = t.iter().map(|(_, s)| *s).collect();
        assert_eq!(joined, "é fn 'ü");
        assert!(t.contains(&(Tok::Keyword, "fn")));
        // Rust: a lifetime is not a string; a character is.
        let t = highlight(l, "&'static str = 'x';");
        assert!(t.contains(&(Tok::Str, "'x'")), "{t:?}");
        assert!(
            !t.iter()
                .any(|(k, s)| *k == Tok::Str && s.contains("static")),
            "{t:?}"
        );
    }

    #[test]
    fn a_comment_becomes_one_line_without_control_characters() {
        assert_eq!(
            comment_message("src/x.rs", 42, "use a\nmatch\there\x1b[2J"),
            "Reviewer on src/x.rs:42: use a match here [2J"
        );
        assert!(valid_comment("  ").is_err());
        assert!(valid_comment(&"x".repeat(MAX_COMMENT_CHARS + 1)).is_err());
        assert_eq!(valid_comment(" ok ").unwrap(), "ok");
    }
}
