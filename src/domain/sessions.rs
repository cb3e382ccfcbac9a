//! AI session rules with no I/O: agent tools from configuration, what an agent is doing (from
//! its pane), and tmux names.

use std::collections::BTreeMap;

/// Built-in agent tools (name → command). Configuration may override or add to them.
pub fn default_tools() -> BTreeMap<String, String> {
    [
        ("claude", "claude"),
        ("codex", "codex"),
        ("gemini", "gemini"),
        ("shell", "/bin/bash"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Parse `AIOPS_TOOLS`-style overrides: `name=command;name2=command2`.
pub fn parse_tools(spec: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, cmd) = part
            .split_once('=')
            .ok_or_else(|| format!("tool '{part}' must be written name=command"))?;
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "tool name '{name}' must be letters, digits, - or _"
            ));
        }
        if cmd.trim().is_empty() {
            return Err(format!("tool '{name}' has an empty command"));
        }
        out.insert(name.to_string(), cmd.trim().to_string());
    }
    Ok(out)
}

/// The program a command starts (its first word).
pub fn program_of(command: &str) -> Option<&str> {
    command.split_whitespace().next()
}

/// A tmux session name for a session row.
pub fn tmux_name(id: u64) -> String {
    format!("aiops-{id}")
}

/// Phrases after which Claude Code and Codex print the id of the conversation they can resume
/// ("To continue this session, run codex resume <uuid>", "Resume with: claude --resume <uuid>",
/// "session ID: <uuid>").
const RESUME_MARKERS: [&str; 4] = [
    "to continue this session, run",
    "resume with:",
    "session id",
    "--resume",
];

/// The tool's own conversation id in its pane output (the last one printed), if it printed
/// one after a resume marker. Only a UUID is accepted, so the id is safe in a command line.
pub fn find_tool_session_id(output: &str) -> Option<String> {
    let lower = output.to_ascii_lowercase();
    let mut found = None;
    for marker in RESUME_MARKERS {
        let mut from = 0;
        while let Some(at) = lower[from..].find(marker) {
            let start = from + at + marker.len();
            // The id follows within the rest of the line (after "codex resume", ":", spaces).
            let rest = &output[start..];
            let line = rest.split('\n').next().unwrap_or("");
            if let Some((pos, id)) = first_uuid(line) {
                let abs = start + pos;
                if found.as_ref().is_none_or(|(p, _)| abs > *p) {
                    found = Some((abs, id));
                }
            }
            from = start;
        }
    }
    found.map(|(_, id)| id)
}

/// The first 8-4-4-4-12 hex UUID in `s`, with its byte offset.
fn first_uuid(s: &str) -> Option<(usize, String)> {
    let b = s.as_bytes();
    let groups = [8usize, 4, 4, 4, 12];
    let total = 36;
    if b.len() < total {
        return None;
    }
    'outer: for i in 0..=b.len() - total {
        if i > 0 && b.get(i - 1).is_some_and(u8::is_ascii_hexdigit) {
            continue;
        }
        let mut j = i;
        for (n, g) in groups.iter().enumerate() {
            for _ in 0..*g {
                if !b.get(j).is_some_and(u8::is_ascii_hexdigit) {
                    continue 'outer;
                }
                j += 1;
            }
            if n < 4 {
                if b.get(j) != Some(&b'-') {
                    continue 'outer;
                }
                j += 1;
            }
        }
        if b.get(j)
            .is_some_and(|c| c.is_ascii_hexdigit() || *c == b'-')
        {
            continue;
        }
        return Some((i, s[i..j].to_ascii_lowercase()));
    }
    None
}

/// A command without the resume part an earlier resume added (so resuming a resumed session
/// does not stack `--resume` twice).
fn strip_resume(command: &str) -> &str {
    for suffix in [" --continue", " resume --last"] {
        if let Some(b) = command.strip_suffix(suffix) {
            return b.trim_end();
        }
    }
    for marker in [" --resume ", " resume "] {
        if let Some(at) = command.rfind(marker) {
            let tail = &command[at + marker.len()..];
            if first_uuid(tail).is_some_and(|(p, u)| p == 0 && u.len() == tail.len()) {
                return command[..at].trim_end();
            }
        }
    }
    command
}

/// Whether sessions of this tool can be resumed from the command line.
pub fn can_resume(tool: &str) -> bool {
    matches!(tool, "claude" | "codex")
}

/// The command that resumes a tool's conversation: with the id it printed (`claude --resume
/// <id>`, `codex <flags> resume <id>`), else its most recent conversation in the workspace
/// (`claude --continue`, `codex resume --last`). `None`: the tool cannot resume (gemini keeps
/// its chats behind `/chat resume` inside a running session; shells have nothing to resume).
/// `command` is the tool's configured command, flags included.
pub fn resume_command(tool: &str, command: &str, tool_session_id: Option<&str>) -> Option<String> {
    let id = tool_session_id
        .filter(|id| first_uuid(id).is_some_and(|(p, u)| p == 0 && u.len() == id.len()));
    let base = strip_resume(command.trim());
    match (tool, id) {
        ("claude", Some(id)) => Some(format!("{base} --resume {id}")),
        ("claude", None) => Some(format!("{base} --continue")),
        ("codex", Some(id)) => Some(format!("{base} resume {id}")),
        ("codex", None) => Some(format!("{base} resume --last")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools() {
        let t = parse_tools("fake=/tmp/agent.sh --x; claude = claude --model opus").unwrap();
        assert_eq!(t["fake"], "/tmp/agent.sh --x");
        assert_eq!(t["claude"], "claude --model opus");
        assert!(parse_tools("nocommand").is_err());
        assert!(parse_tools("bad name=x").is_err());
        assert!(parse_tools("x=").is_err());
        assert!(parse_tools("").unwrap().is_empty());
        assert_eq!(default_tools()["shell"], "/bin/bash");
        assert_eq!(program_of("  claude --x"), Some("claude"));
    }

    #[test]
    fn tmux_names() {
        assert_eq!(tmux_name(7), "aiops-7");
    }

    #[test]
    fn tool_session_ids_are_found_after_their_markers_and_must_be_uuids() {
        let codex = "bye\nTo continue this session, run codex resume 0199a1b2-3c4d-7e8f-9a0b-1c2d3e4f5a6b\n$ ";
        assert_eq!(
            find_tool_session_id(codex).as_deref(),
            Some("0199a1b2-3c4d-7e8f-9a0b-1c2d3e4f5a6b")
        );
        let claude = "Resume with: claude --resume 11111111-2222-3333-4444-555555555555";
        assert_eq!(
            find_tool_session_id(claude).as_deref(),
            Some("11111111-2222-3333-4444-555555555555")
        );
        // The last one printed wins.
        let two = "Session ID: aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa\n...\nSession ID: bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb";
        assert_eq!(
            find_tool_session_id(two).as_deref(),
            Some("bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb")
        );
        // No marker, or no UUID after it, or a UUID with something glued on: nothing.
        assert_eq!(
            find_tool_session_id("id 11111111-2222-3333-4444-555555555555"),
            None
        );
        assert_eq!(
            find_tool_session_id("Resume with: claude --resume $(rm -rf /)"),
            None
        );
        assert_eq!(
            find_tool_session_id("session id: 11111111-2222-3333-4444-5555555555556"),
            None
        );
    }

    #[test]
    fn resume_commands_per_tool() {
        let id = "11111111-2222-3333-4444-555555555555";
        assert_eq!(
            resume_command("claude", "claude", Some(id)).as_deref(),
            Some("claude --resume 11111111-2222-3333-4444-555555555555")
        );
        assert_eq!(
            resume_command("claude", "claude", None).as_deref(),
            Some("claude --continue")
        );
        assert_eq!(
            resume_command("codex", "codex --full-auto", Some(id)).as_deref(),
            Some("codex --full-auto resume 11111111-2222-3333-4444-555555555555")
        );
        assert_eq!(
            resume_command("codex", "codex", None).as_deref(),
            Some("codex resume --last")
        );
        // A stored id that is not a UUID is never pasted into a command.
        assert_eq!(
            resume_command("codex", "codex", Some("x; rm -rf /")).as_deref(),
            Some("codex resume --last")
        );
        // Resuming a resumed session does not stack the resume part.
        assert_eq!(
            resume_command(
                "claude",
                "claude --resume 11111111-2222-3333-4444-555555555555",
                None
            )
            .as_deref(),
            Some("claude --continue")
        );
        assert_eq!(
            resume_command("codex", "codex -m o3 resume --last", Some(id)).as_deref(),
            Some("codex -m o3 resume 11111111-2222-3333-4444-555555555555")
        );
        assert_eq!(resume_command("gemini", "gemini", Some(id)), None);
        assert_eq!(resume_command("shell", "/bin/bash", None), None);
        assert!(can_resume("claude") && can_resume("codex") && !can_resume("gemini"));
    }
}
