//! What an agent in a tmux pane is doing, as far as its pane shows: the states a user is
//! notified about and sees beside every agent. Pure data; the detection from a pane capture
//! lives here too (plain functions over text, tested against recorded captures).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An agent's state, detected from its pane (prompt strings per tool, the terminal bell) and
/// from its process (exited, failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum AgentState {
    /// Output is changing: the agent is at work.
    Working,
    /// The agent asks the user something (its input prompt is showing after work).
    WaitingForInput,
    /// The agent asks permission to run a tool or change a file.
    WaitingForApproval,
    /// The tool says its provider limits it (rate limit, quota).
    RateLimited,
    /// Nothing changes and nothing is asked.
    Idle,
    /// The agent's process ended with status 0.
    Exited,
    /// The agent's process ended otherwise, or could not start.
    Failed,
}

impl AgentState {
    pub const ALL: [AgentState; 7] = [
        AgentState::Working,
        AgentState::WaitingForInput,
        AgentState::WaitingForApproval,
        AgentState::RateLimited,
        AgentState::Idle,
        AgentState::Exited,
        AgentState::Failed,
    ];

    /// The wire name (`waiting_for_input`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Working => "working",
            AgentState::WaitingForInput => "waiting_for_input",
            AgentState::WaitingForApproval => "waiting_for_approval",
            AgentState::RateLimited => "rate_limited",
            AgentState::Idle => "idle",
            AgentState::Exited => "exited",
            AgentState::Failed => "failed",
        }
    }

    /// What a person reads ("waiting for approval").
    pub fn label(self) -> &'static str {
        match self {
            AgentState::Working => "working",
            AgentState::WaitingForInput => "waiting for input",
            AgentState::WaitingForApproval => "waiting for approval",
            AgentState::RateLimited => "rate-limited",
            AgentState::Idle => "idle",
            AgentState::Exited => "exited",
            AgentState::Failed => "failed",
        }
    }

    /// Whether the user is needed (a notification's reason to exist).
    pub fn needs_user(self) -> bool {
        matches!(
            self,
            AgentState::WaitingForInput | AgentState::WaitingForApproval | AgentState::RateLimited
        )
    }

    /// Whether the agent is done (exited, failed).
    pub fn is_final(self) -> bool {
        matches!(self, AgentState::Exited | AgentState::Failed)
    }
}

/// The coarse word the session API's `state` field has always carried (`running`, `waiting`,
/// `exited`); `agent_state` carries the full state.
pub fn coarse(state: AgentState) -> &'static str {
    match state {
        AgentState::Working | AgentState::Idle => "running",
        AgentState::WaitingForInput | AgentState::WaitingForApproval | AgentState::RateLimited => {
            "waiting"
        }
        AgentState::Exited | AgentState::Failed => "exited",
    }
}

/// Extra patterns for one tool, as the `agent_patterns` option gives them: each is text found
/// in a line of the pane's bottom (any case), or `re:<regex>` matched against each line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PatternConfig {
    pub approval: Vec<String>,
    pub input: Vec<String>,
    pub rate_limited: Vec<String>,
}

/// One compiled pattern.
#[derive(Debug, Clone)]
enum Matcher {
    /// Lower-cased text, found in the lower-cased line.
    Text(String),
    Regex(regex::Regex),
}

impl Matcher {
    fn parse(p: &str) -> Result<Matcher, String> {
        match p.strip_prefix("re:") {
            Some(re) => regex::Regex::new(re)
                .map(Matcher::Regex)
                .map_err(|e| format!("'{p}' is not a valid regex: {e}")),
            None if p.trim().is_empty() => Err("a pattern must not be empty".into()),
            None => Ok(Matcher::Text(p.to_lowercase())),
        }
    }

    fn hit(&self, line: &Line) -> bool {
        match self {
            Matcher::Text(t) => line.lower.contains(t.as_str()),
            Matcher::Regex(r) => r.is_match(line.text),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Compiled {
    approval: Vec<Matcher>,
    input: Vec<Matcher>,
    rate_limited: Vec<Matcher>,
}

/// The configured extra patterns, compiled, by tool name (`*` applies to every tool). The
/// built-in patterns are not here: they are code below, always on.
#[derive(Debug, Clone, Default)]
pub struct Patterns {
    by_tool: BTreeMap<String, Compiled>,
}

impl Patterns {
    /// Compile the `agent_patterns` option; an error names the tool and the bad pattern.
    pub fn from_config(cfg: &BTreeMap<String, PatternConfig>) -> Result<Patterns, String> {
        let list = |tool: &str, what: &str, v: &[String]| -> Result<Vec<Matcher>, String> {
            v.iter()
                .map(|p| Matcher::parse(p).map_err(|e| format!("{tool}.{what}: {e}")))
                .collect()
        };
        let mut by_tool = BTreeMap::new();
        for (tool, c) in cfg {
            by_tool.insert(
                tool.clone(),
                Compiled {
                    approval: list(tool, "approval", &c.approval)?,
                    input: list(tool, "input", &c.input)?,
                    rate_limited: list(tool, "rate_limited", &c.rate_limited)?,
                },
            );
        }
        Ok(Patterns { by_tool })
    }

    fn for_tool<'a>(&'a self, tool: &str) -> impl Iterator<Item = &'a Compiled> + 'a {
        let own = self.by_tool.get(tool);
        let all = self.by_tool.get("*");
        own.into_iter().chain(all)
    }
}

/// Which built-in rules a session's tool gets: its name, else its command's program
/// (`claude`, `codex`, `gemini`), else the generic rules only.
pub fn tool_kind(tool: &str, command: Option<&str>) -> &'static str {
    let program = command
        .and_then(|c| c.split_whitespace().next())
        .map(|p| p.rsplit('/').next().unwrap_or(p))
        .unwrap_or("");
    for name in [tool, program] {
        let n = name.to_ascii_lowercase();
        for k in ["claude", "codex", "gemini"] {
            if n.starts_with(k) {
                return k;
            }
        }
    }
    "generic"
}

/// How many non-empty lines from the bottom of the pane the prompt rules look at: a tool's
/// dialog sits at the bottom; older output above it says nothing about now.
const BOTTOM_LINES: usize = 24;
/// Rate-limit notices are looked for only this close to the bottom (agents print the words
/// "rate limit" in their work often enough).
const RATE_LINES: usize = 8;

/// A pane line, trimmed of the box drawing the tools frame their prompts with.
struct Line<'a> {
    text: &'a str,
    lower: String,
}

fn bottom(pane: &str) -> Vec<Line<'_>> {
    let mut v: Vec<Line> = pane
        .lines()
        .rev()
        .map(|l| l.trim_matches(|c: char| c.is_whitespace() || "│┃║╭╮╰╯".contains(c)))
        .filter(|l| !l.is_empty() && !l.chars().all(|c| "─━═╌┄-".contains(c)))
        .take(BOTTOM_LINES)
        .map(|text| Line {
            text,
            lower: text.to_lowercase(),
        })
        .collect();
    v.reverse();
    v
}

/// The last `n` lines (all when fewer).
fn tail<'a, 'b>(lines: &'a [Line<'b>], n: usize) -> &'a [Line<'b>] {
    lines.get(lines.len().saturating_sub(n)..).unwrap_or(lines)
}

fn any(lines: &[Line], f: impl Fn(&Line) -> bool) -> bool {
    lines.iter().any(f)
}

fn has(lines: &[Line], needle: &str) -> bool {
    any(lines, |l| l.lower.contains(needle))
}

/// A numbered "Yes" option, selected (`❯ 1. Yes`, `› 1. Yes, proceed`, `● 1. Yes, allow once`)
/// or not (`1. Yes`).
fn yes_option(l: &Line) -> bool {
    let t = l.lower.trim_start_matches(|c: char| "❯›>▶●○ ".contains(c));
    t.starts_with("1. yes") || t.starts_with("1) yes") || t.starts_with("[1] yes")
}

/// Built-in approval prompts.
fn builtin_approval(kind: &str, b: &[Line]) -> bool {
    match kind {
        "claude" => {
            has(b, "no, and tell claude what to do differently")
                || (any(b, yes_option) && (has(b, "do you want to") || has(b, "would you like to")))
        }
        "codex" => {
            has(b, "allow command?")
                || has(b, "would you like to run the following command?")
                || has(b, "would you like to make the following edits?")
                || has(b, "no, and tell codex what to do differently")
                || (has(b, "yes, proceed") && any(b, yes_option))
        }
        "gemini" => {
            has(b, "yes, allow once")
                || has(b, "allow execution")
                || has(b, "waiting for user confirmation")
                || ((has(b, "apply this change?") || has(b, "do you want to proceed?"))
                    && any(b, yes_option))
        }
        _ => false,
    }
}

/// Built-in rate-limit notices (looked for near the bottom only).
fn builtin_rate_limited(kind: &str, b: &[Line]) -> bool {
    let common = has(b, "rate limit") || has(b, "usage limit") || has(b, "rate_limit_error");
    match kind {
        "claude" => common || has(b, "limit reached"),
        "codex" => common || has(b, "429 too many requests"),
        "gemini" => {
            common
                || has(b, "quota exceeded")
                || has(b, "exhausted your")
                || has(b, "resource_exhausted")
                || has(b, "quota limit")
                || any(b, |l| l.lower.contains("429") && l.lower.contains("error"))
        }
        _ => false,
    }
}

/// A tool saying it is at work ("esc to interrupt" under Claude's and Codex's spinner, "esc to
/// cancel" under Gemini's): working, whatever else shows.
fn builtin_busy(kind: &str, b: &[Line]) -> bool {
    match kind {
        "claude" | "codex" => has(b, "esc to interrupt"),
        "gemini" => has(b, "esc to cancel"),
        _ => false,
    }
}

/// Built-in input prompts (the tool's message box).
fn builtin_input(kind: &str, b: &[Line]) -> bool {
    let starts = |p: &str| any(b, |l| l.text == p.trim_end() || l.text.starts_with(p));
    match kind {
        "claude" => starts("> ") || (starts(">") && has(b, "? for shortcuts")),
        "codex" => {
            (starts("▌") && (has(b, "⏎ send") || has(b, "context left")))
                || (starts("›") && has(b, "context left"))
        }
        "gemini" => has(b, "type your message") || (starts("> ") && has(b, "context left")),
        _ => false,
    }
}

/// The old generic rules, on the last non-empty line: a yes/no question asks for approval; a
/// question or a prompt ending (`?`, `>`, `$`, `#`, `:`, `❯`, "press enter") asks for input.
fn generic(pane: &str) -> Option<AgentState> {
    let last = pane
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let lower = last.to_lowercase();
    if lower.ends_with("(y/n)")
        || lower.ends_with("[y/n]")
        || lower.ends_with("(yes/no)")
        || lower.ends_with("[y/n]:")
        || lower.ends_with("(y/n):")
        || lower.contains("do you want to")
    {
        return Some(AgentState::WaitingForApproval);
    }
    let input = last.ends_with('?')
        || last.ends_with('>')
        || last.ends_with('$')
        || last.ends_with('#')
        || last.ends_with(':')
        || last.ends_with('❯')
        || lower.contains("press enter");
    input.then_some(AgentState::WaitingForInput)
}

/// What the agent in a live pane is doing, from the visible `pane`, tmux's bell flag for its
/// window, and whether the pane `changed` since the previous look. The tool's approval prompt
/// wins, then a rate-limit notice, then the tool's "at work" line, then its input box (and
/// any configured patterns at each step), then the generic prompt rules; a bell with nothing
/// changing asks for input; otherwise working when the output changes, idle when it does not.
/// `tool` names both the built-in rules (by [`tool_kind`]) and the configured patterns.
pub fn detect(
    tool: &str,
    pane: &str,
    bell: bool,
    changed: bool,
    patterns: &Patterns,
) -> AgentState {
    detect_as(tool_kind(tool, None), tool, pane, bell, changed, patterns)
}

/// [`detect`] with the built-in rules of `kind` (from [`tool_kind`]) and the configured
/// patterns of `tool`.
pub fn detect_as(
    kind: &str,
    tool: &str,
    pane: &str,
    bell: bool,
    changed: bool,
    patterns: &Patterns,
) -> AgentState {
    let b = bottom(pane);
    let near = tail(&b, RATE_LINES);
    let extra = |pick: fn(&Compiled) -> &Vec<Matcher>, lines: &[Line]| {
        patterns
            .for_tool(tool)
            .any(|c| pick(c).iter().any(|m| lines.iter().any(|l| m.hit(l))))
    };
    if builtin_approval(kind, &b) || extra(|c| &c.approval, &b) {
        return AgentState::WaitingForApproval;
    }
    if builtin_rate_limited(kind, near) || extra(|c| &c.rate_limited, near) {
        return AgentState::RateLimited;
    }
    if builtin_busy(kind, &b) {
        return AgentState::Working;
    }
    if builtin_input(kind, &b) || extra(|c| &c.input, &b) {
        return AgentState::WaitingForInput;
    }
    if let Some(s) = generic(pane) {
        return s;
    }
    if bell && !changed {
        return AgentState::WaitingForInput;
    }
    if changed {
        AgentState::Working
    } else {
        AgentState::Idle
    }
}

/// The longest summary, in characters.
pub const SUMMARY_CHARS: usize = 100;

/// One line about a state for a notification: the prompt's question when one shows ("Do you
/// want to proceed?", "Allow execution of: 'npm'?"), else the state's label. Never more of the
/// pane than that line, at most [`SUMMARY_CHARS`] characters.
pub fn summary(state: AgentState, pane: &str) -> String {
    let b = bottom(pane);
    let question = match state {
        AgentState::WaitingForApproval | AgentState::WaitingForInput => b
            .iter()
            .rev()
            .map(|l| {
                l.text
                    .trim_start_matches(|c: char| "?✦●■⚠✕▌ ".contains(c))
                    .trim()
            })
            .find(|t| t.ends_with('?') || t.to_lowercase().ends_with("(y/n)")),
        AgentState::RateLimited => {
            let near = tail(&b, RATE_LINES);
            let strong = ["reached", "exceeded", "hit your", "exhausted", "429"];
            let weak = ["limit", "quota"];
            near.iter()
                .find(|l| strong.iter().any(|w| l.lower.contains(w)))
                .or_else(|| {
                    near.iter()
                        .find(|l| weak.iter().any(|w| l.lower.contains(w)))
                })
                .map(|l| {
                    l.text
                        .trim_start_matches(|c: char| "⎿✕■⚠[ ".contains(c))
                        .trim()
                })
        }
        _ => None,
    };
    let line = question.unwrap_or_else(|| state.label());
    let mut out: String = line.chars().take(SUMMARY_CHARS).collect();
    if line.chars().count() > SUMMARY_CHARS {
        out.pop();
        out.push('…');
    }
    out
}

/// The agent's process state from tmux: `pane_dead` and `pane_dead_status` (its exit status;
/// empty when tmux does not know it). None while it runs.
pub fn process_end(pane_dead: bool, dead_status: &str) -> Option<AgentState> {
    if !pane_dead {
        return None;
    }
    Some(match dead_status.trim() {
        "0" => AgentState::Exited,
        "" => AgentState::Exited,
        _ => AgentState::Failed,
    })
}

/// What the watcher remembers of a session's last look (a few bytes per session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Hash of the last capture (with its bell flag).
    pub hash: u64,
    /// Looks in a row without a change (saturating).
    pub quiet: u8,
    pub state: AgentState,
    pub since: crate::domain::Timestamp,
}

/// Unchanged looks in a row after which output that stopped counts as stopped: a pause
/// between bursts of output is not idleness.
pub const IDLE_AFTER: u8 = 3;

/// Whether the pane counts as changing at this look (capture hash `hash`), and the new count
/// of quiet looks. A first look at a session that just started counts as changing (it is
/// starting up); at an older one as settled (what it shows has been there a while).
pub fn changing(prev: Option<&Seen>, hash: u64, fresh: bool) -> (bool, u8) {
    match prev {
        None if fresh => (true, 0),
        None => (false, IDLE_AFTER),
        Some(p) if p.hash != hash => (true, 0),
        Some(p) => {
            let q = p.quiet.saturating_add(1);
            (q < IDLE_AFTER, q)
        }
    }
}

/// The transition rule: given what was seen before (None: never) and this look, the new
/// memory and whether it is a transition to announce. A state seen again is no event; the
/// first look at a session is its baseline, announced only when `fresh` (the session started
/// just now, so a first prompt is news) and not merely working.
pub fn next(
    prev: Option<&Seen>,
    (hash, quiet): (u64, u8),
    state: AgentState,
    now: crate::domain::Timestamp,
    fresh: bool,
) -> (Seen, bool) {
    let seen = |since| Seen {
        hash,
        quiet,
        state,
        since,
    };
    match prev {
        Some(p) if p.state == state => (seen(p.since), false),
        Some(_) => (seen(now), true),
        None => (seen(now), fresh && state != AgentState::Working),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_the_serde_names() {
        for s in AgentState::ALL {
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::String(s.as_str().into())
            );
        }
    }

    fn fixture_state(tool: &str, pane: &str) -> AgentState {
        detect(tool, pane, false, false, &Patterns::default())
    }

    #[test]
    fn recorded_captures_read_as_their_state_with_their_question() {
        use AgentState::*;
        let cases: &[(&str, &str, AgentState, &str)] = &[
            (
                "claude",
                include_str!("../../tests/fixtures/panes/claude_permission.txt"),
                WaitingForApproval,
                "Do you want to proceed?",
            ),
            (
                "claude",
                include_str!("../../tests/fixtures/panes/claude_edit_permission.txt"),
                WaitingForApproval,
                "Do you want to make this edit to cart.rs?",
            ),
            (
                "claude",
                include_str!("../../tests/fixtures/panes/claude_input.txt"),
                WaitingForInput,
                "waiting for input",
            ),
            (
                "claude",
                include_str!("../../tests/fixtures/panes/claude_working.txt"),
                Working,
                "working",
            ),
            (
                "claude",
                include_str!("../../tests/fixtures/panes/claude_rate_limited.txt"),
                RateLimited,
                "Claude usage limit reached. Your limit will reset at 3pm (Europe/Berlin).",
            ),
            (
                "codex",
                include_str!("../../tests/fixtures/panes/codex_approval.txt"),
                WaitingForApproval,
                "Would you like to run the following command?",
            ),
            (
                "codex",
                include_str!("../../tests/fixtures/panes/codex_allow_command.txt"),
                WaitingForApproval,
                "Allow command?",
            ),
            (
                "codex",
                include_str!("../../tests/fixtures/panes/codex_input.txt"),
                WaitingForInput,
                "waiting for input",
            ),
            (
                "codex",
                include_str!("../../tests/fixtures/panes/codex_input_legacy.txt"),
                WaitingForInput,
                "waiting for input",
            ),
            (
                "codex",
                include_str!("../../tests/fixtures/panes/codex_working.txt"),
                Working,
                "working",
            ),
            (
                "codex",
                include_str!("../../tests/fixtures/panes/codex_rate_limited.txt"),
                RateLimited,
                "You've hit your usage limit. Upgrade to Pro (https://openai.com/chatgpt/pricing)",
            ),
            (
                "gemini",
                include_str!("../../tests/fixtures/panes/gemini_allow_once.txt"),
                WaitingForApproval,
                "Allow execution of: 'cargo'?",
            ),
            (
                "gemini",
                include_str!("../../tests/fixtures/panes/gemini_input.txt"),
                WaitingForInput,
                "waiting for input",
            ),
            (
                "gemini",
                include_str!("../../tests/fixtures/panes/gemini_working.txt"),
                Working,
                "working",
            ),
            (
                "gemini",
                include_str!("../../tests/fixtures/panes/gemini_rate_limited.txt"),
                RateLimited,
                "API Error: Quota exceeded for quota metric 'Gemini 2.5 Pro Requests' and limit",
            ),
            (
                "shell",
                include_str!("../../tests/fixtures/panes/generic_question.txt"),
                WaitingForApproval,
                "Apply them now (y/n)",
            ),
            (
                "shell",
                include_str!("../../tests/fixtures/panes/generic_working.txt"),
                Idle,
                "idle",
            ),
        ];
        for (tool, pane, want, line) in cases {
            let got = fixture_state(tool, pane);
            assert_eq!(got, *want, "{tool}: {pane}");
            assert_eq!(summary(got, pane), *line, "{tool}: {pane}");
        }
    }

    #[test]
    fn working_and_idle_follow_whether_the_output_changed() {
        let p = Patterns::default();
        let pane = include_str!("../../tests/fixtures/panes/generic_working.txt");
        assert_eq!(detect("shell", pane, false, true, &p), AgentState::Working);
        assert_eq!(detect("shell", pane, false, false, &p), AgentState::Idle);
        // A prompt wins over changing output (the user typing into it changes it).
        let claude = include_str!("../../tests/fixtures/panes/claude_input.txt");
        assert_eq!(
            detect("claude", claude, false, true, &p),
            AgentState::WaitingForInput
        );
    }

    #[test]
    fn a_bell_with_nothing_changing_asks_for_input() {
        let p = Patterns::default();
        let pane = "compiling…\nall 48 tests passed\n";
        assert_eq!(
            detect("shell", pane, true, false, &p),
            AgentState::WaitingForInput
        );
        // Still printing: the bell is old news, the agent works.
        assert_eq!(detect("shell", pane, true, true, &p), AgentState::Working);
        // Control: no bell, nothing changing, no prompt: idle.
        assert_eq!(detect("shell", pane, false, false, &p), AgentState::Idle);
        // An approval prompt is more than a bell.
        let ask = include_str!("../../tests/fixtures/panes/claude_permission.txt");
        assert_eq!(
            detect("claude", ask, true, false, &p),
            AgentState::WaitingForApproval
        );
    }

    #[test]
    fn the_generic_rules_are_the_old_ones() {
        let p = Patterns::default();
        let d = |pane: &str| detect("shell", pane, false, true, &p);
        assert_eq!(d("working...\nstep 2\n"), AgentState::Working);
        assert_eq!(d("done\nProceed? \n\n"), AgentState::WaitingForInput);
        assert_eq!(d("Apply patch (y/n)"), AgentState::WaitingForApproval);
        assert_eq!(d("root@host:~# "), AgentState::WaitingForInput);
        assert_eq!(d("> "), AgentState::WaitingForInput);
        assert_eq!(d(""), AgentState::Working);
        // Older output above the bottom of the screen says nothing about now.
        let old = format!("Do you want to proceed?\n❯ 1. Yes\n{}", "line\n".repeat(40));
        assert_eq!(detect("claude", &old, false, true, &p), AgentState::Working);
    }

    #[test]
    fn gemini_asks_for_approval_in_its_other_words() {
        let p = Patterns::default();
        let d = |pane: &str| detect("gemini", pane, false, false, &p);
        let proceed = "╭──────────────╮\n│ Shell rm -rf build │\n│ Do you want to proceed? │\n│ ● 1. Yes │\n│ ○ 2. No │\n╰──────────────╯\n";
        assert_eq!(d(proceed), AgentState::WaitingForApproval);
        assert_eq!(
            d("⠏ Waiting for user confirmation...\n"),
            AgentState::WaitingForApproval
        );
        // Control: the same box once answered (the options gone) is no prompt.
        assert_ne!(
            d(
                "│ Shell rm -rf build │\n✓ Shell rm -rf build\n╭────╮\n│ > Type your message │\n╰────╯\n"
            ),
            AgentState::WaitingForApproval
        );
    }

    #[test]
    fn rate_limit_words_in_the_work_above_are_not_a_rate_limit() {
        let p = Patterns::default();
        let pane = format!(
            "● I added a rate limit to the login route\n{}✻ Editing… (esc to interrupt)\n",
            "  + let limiter = RateLimiter::new(10);\n".repeat(10)
        );
        assert_eq!(
            detect("claude", &pane, false, true, &p),
            AgentState::Working
        );
    }

    #[test]
    fn configured_patterns_add_to_the_built_in_ones() {
        let mut cfg = BTreeMap::new();
        cfg.insert(
            "aider".to_string(),
            PatternConfig {
                approval: vec!["re:^\\(Y\\)es/\\(N\\)o".into()],
                input: vec!["aider>".into()],
                rate_limited: vec!["litellm.RateLimitError".into()],
            },
        );
        cfg.insert(
            "*".to_string(),
            PatternConfig {
                input: vec!["READY FOR ORDERS".into()],
                ..Default::default()
            },
        );
        let p = Patterns::from_config(&cfg).unwrap();
        let d = |tool: &str, pane: &str| detect(tool, pane, false, true, &p);
        assert_eq!(
            d(
                "aider",
                "Add src/x.rs to the chat?\n(Y)es/(N)o/(D)on't ask again [Yes]: "
            ),
            AgentState::WaitingForApproval
        );
        assert_eq!(
            d("aider", "diff applied\naider> \nmodel: sonnet"),
            AgentState::WaitingForInput
        );
        assert_eq!(
            d("aider", "retrying\nlitellm.RateLimitError: 429"),
            AgentState::RateLimited
        );
        assert_eq!(
            d("mybot", "ready for orders\n(tokens: 12)"),
            AgentState::WaitingForInput
        );
        // Control: another tool does not get aider's patterns.
        assert_eq!(
            d("mybot", "diff applied\naider> \nmodel: sonnet"),
            AgentState::Working
        );
        // A bad regex is refused with the tool and the pattern named.
        let mut bad = BTreeMap::new();
        bad.insert(
            "x".to_string(),
            PatternConfig {
                input: vec!["re:(".into()],
                ..Default::default()
            },
        );
        let e = Patterns::from_config(&bad).unwrap_err();
        assert!(e.contains("x.input") && e.contains("re:("), "{e}");
    }

    #[test]
    fn tools_are_known_by_name_or_by_program() {
        assert_eq!(tool_kind("claude", None), "claude");
        assert_eq!(
            tool_kind("my-agent", Some("/usr/local/bin/codex --full-auto")),
            "codex"
        );
        assert_eq!(tool_kind("gemini-pro", None), "gemini");
        assert_eq!(tool_kind("shell", Some("bash")), "generic");
    }

    #[test]
    fn summaries_are_one_short_line() {
        let long = format!("{}?", "why ".repeat(60));
        let s = summary(AgentState::WaitingForInput, &long);
        assert_eq!(s.chars().count(), SUMMARY_CHARS);
        assert!(s.ends_with('…') && !s.contains('\n'));
        assert_eq!(summary(AgentState::Exited, "secret output"), "exited");
    }

    #[test]
    fn a_process_that_ended_is_exited_or_failed_by_its_status() {
        assert_eq!(process_end(false, ""), None);
        assert_eq!(process_end(true, "0"), Some(AgentState::Exited));
        assert_eq!(process_end(true, "3"), Some(AgentState::Failed));
        assert_eq!(process_end(true, ""), Some(AgentState::Exited));
    }

    #[test]
    fn one_event_per_transition() {
        let t0 = crate::domain::model::now();
        let t1 = t0 + chrono::Duration::seconds(5);
        // A first look is the baseline: no event for a session found running…
        let (a, ev) = next(None, (1, 3), AgentState::Idle, t0, false);
        assert!(!ev);
        // …but a fresh session's first prompt is news.
        assert!(next(None, (1, 0), AgentState::WaitingForApproval, t0, true).1);
        assert!(!next(None, (1, 0), AgentState::Working, t0, true).1);
        // The same state again (output changing or not): no event, since kept.
        let (b, ev) = next(Some(&a), (2, 0), AgentState::Idle, t1, false);
        assert!(!ev);
        assert_eq!((b.since, b.hash), (t0, 2));
        // A change: one event, since restarts; then the same state: none.
        let (c, ev) = next(Some(&b), (3, 0), AgentState::WaitingForApproval, t1, false);
        assert!(ev);
        assert_eq!(c.since, t1);
        assert!(!next(Some(&c), (3, 1), AgentState::WaitingForApproval, t1, false).1);
    }

    #[test]
    fn output_counts_as_stopped_after_a_few_quiet_looks() {
        let t0 = crate::domain::model::now();
        assert_eq!(changing(None, 1, true), (true, 0));
        assert_eq!(changing(None, 1, false), (false, IDLE_AFTER));
        let mut seen = next(None, (1, 0), AgentState::Working, t0, true).0;
        let mut looks = Vec::new();
        for _ in 0..4 {
            let (ch, q) = changing(Some(&seen), 1, false);
            looks.push(ch);
            seen.quiet = q;
        }
        assert_eq!(looks, [true, true, false, false]);
        assert_eq!(changing(Some(&seen), 2, false), (true, 0));
    }

    #[test]
    fn the_coarse_word_keeps_the_old_api_values() {
        assert_eq!(coarse(AgentState::Working), "running");
        assert_eq!(coarse(AgentState::Idle), "running");
        assert_eq!(coarse(AgentState::WaitingForApproval), "waiting");
        assert_eq!(coarse(AgentState::RateLimited), "waiting");
        assert_eq!(coarse(AgentState::Failed), "exited");
    }
}
