//! What an agent in a tmux pane is doing, as far as its pane shows: the states a user is
//! notified about and sees beside every agent. Pure data; the detection from a pane capture
//! lives here too (plain functions over text, tested against recorded captures).

use serde::{Deserialize, Serialize};

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
}
