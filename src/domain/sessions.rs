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

/// What an agent in a pane is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    Running,
    /// The agent shows a question or a prompt and waits for a person.
    Waiting,
    Exited,
}

impl AgentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Running => "running",
            AgentState::Waiting => "waiting",
            AgentState::Exited => "exited",
        }
    }
}

/// Read the state from the visible pane text and tmux's `pane_dead` flag: the last non-empty
/// line ending like a question or a prompt means the agent waits for input.
pub fn agent_state(pane: &str, pane_dead: bool) -> AgentState {
    if pane_dead {
        return AgentState::Exited;
    }
    let last = pane
        .lines()
        .rev()
        .map(str::trim_end)
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let t = last.trim();
    let lower = t.to_ascii_lowercase();
    let waiting = t.ends_with('?')
        || t.ends_with("? ")
        || t.ends_with('>')
        || t.ends_with('$')
        || t.ends_with('#')
        || t.ends_with(':')
        || t.ends_with('❯')
        || lower.ends_with("(y/n)")
        || lower.ends_with("[y/n]")
        || lower.ends_with("(yes/no)")
        || lower.contains("press enter")
        || lower.contains("do you want to");
    if waiting {
        AgentState::Waiting
    } else {
        AgentState::Running
    }
}

/// A tmux session name for a session row.
pub fn tmux_name(id: u64) -> String {
    format!("aiops-{id}")
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
    fn states() {
        assert_eq!(
            agent_state("working...\nstep 2\n", false),
            AgentState::Running
        );
        assert_eq!(
            agent_state("done\nProceed? \n\n", false),
            AgentState::Waiting
        );
        assert_eq!(agent_state("Apply patch (y/n)", false), AgentState::Waiting);
        assert_eq!(agent_state("root@host:~# ", false), AgentState::Waiting);
        assert_eq!(agent_state("> ", false), AgentState::Waiting);
        assert_eq!(agent_state("anything", true), AgentState::Exited);
        assert_eq!(agent_state("", false), AgentState::Running);
        assert_eq!(AgentState::Waiting.as_str(), "waiting");
        assert_eq!(tmux_name(7), "aiops-7");
    }
}
