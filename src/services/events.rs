//! The server's event bus: what happened that someone may want to hear about (an agent's state
//! changed, a playbook run ended, a tracker sync keeps failing). Producers publish and forget;
//! the notifier (and the live web views) subscribe. Also knows who is watching which terminal
//! right now, so nobody is notified about the screen in front of them.

use crate::domain::agent_state::AgentState;
use crate::domain::{IntegrationId, IssueId, ProjectId, RunId, UserId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// One thing that happened. Every variant names the user it concerns.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An agent's detected state changed (one event per transition).
    AgentState {
        user_id: UserId,
        /// The session's key (its tmux session id), what the terminal URL carries.
        session: String,
        project_id: ProjectId,
        issue_id: Option<IssueId>,
        tool: String,
        state: AgentState,
        /// One line about it (the prompt's question, the exit status), never pane content
        /// beyond that line.
        summary: String,
    },
    /// A playbook run ended.
    AnsibleRun {
        user_id: UserId,
        run_id: RunId,
        project_id: Option<ProjectId>,
        playbook: String,
        succeeded: bool,
    },
    /// A tracker sync failed again (`failures` in a row).
    SyncFailing {
        user_id: UserId,
        integration_id: IntegrationId,
        name: String,
        failures: u32,
        error: String,
    },
}

impl Event {
    pub fn user_id(&self) -> UserId {
        match self {
            Event::AgentState { user_id, .. }
            | Event::AnsibleRun { user_id, .. }
            | Event::SyncFailing { user_id, .. } => *user_id,
        }
    }
}

/// The bus. Cheap to clone the sender; slow subscribers lose the oldest events (a lagging
/// notifier skips, it never blocks a producer).
pub struct Events {
    tx: broadcast::Sender<Event>,
    watching: Mutex<HashMap<(UserId, String), usize>>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::Sender::new(256),
            watching: Mutex::default(),
        }
    }
}

impl Events {
    /// Tell every subscriber; nobody listening is fine.
    pub fn publish(&self, e: Event) {
        let _ = self.tx.send(e);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Mark `user` as watching `session`'s terminal until the guard is dropped (a terminal
    /// socket holds one while it is open).
    pub fn watch(self: &Arc<Self>, user: UserId, session: &str) -> Watching {
        let key = (user, session.to_string());
        if let Ok(mut w) = self.watching.lock() {
            *w.entry(key.clone()).or_default() += 1;
        }
        Watching {
            events: self.clone(),
            key,
        }
    }

    /// Whether `user` has `session`'s terminal open right now.
    pub fn is_watching(&self, user: UserId, session: &str) -> bool {
        self.watching
            .lock()
            .map(|w| w.contains_key(&(user, session.to_string())))
            .unwrap_or(false)
    }
}

/// See [`Events::watch`].
pub struct Watching {
    events: Arc<Events>,
    key: (UserId, String),
}

impl Drop for Watching {
    fn drop(&mut self) {
        if let Ok(mut w) = self.events.watching.lock()
            && let Some(n) = w.get_mut(&self.key)
        {
            *n -= 1;
            if *n == 0 {
                w.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watching_lasts_while_any_guard_lives() {
        let ev = Arc::new(Events::default());
        let u = UserId(7);
        assert!(!ev.is_watching(u, "s1"));
        let a = ev.watch(u, "s1");
        let b = ev.watch(u, "s1");
        assert!(ev.is_watching(u, "s1"));
        assert!(
            !ev.is_watching(UserId(8), "s1"),
            "another user is not watching"
        );
        drop(a);
        assert!(ev.is_watching(u, "s1"));
        drop(b);
        assert!(!ev.is_watching(u, "s1"));
    }

    #[test]
    fn subscribers_get_what_is_published() {
        let ev = Events::default();
        let mut rx = ev.subscribe();
        let e = Event::SyncFailing {
            user_id: UserId(1),
            integration_id: IntegrationId(2),
            name: "gh".into(),
            failures: 3,
            error: "401".into(),
        };
        ev.publish(e.clone());
        assert_eq!(rx.try_recv().unwrap(), e);
    }
}
