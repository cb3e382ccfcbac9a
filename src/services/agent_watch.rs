//! The agent state watcher: one background task that looks at every live session's pane about
//! once a second (one tmux call each: the visible text, the bell flag, whether the pane is
//! dead and its exit status), hashes the capture to tell whether the output changed, runs the
//! per-tool detection (`domain::agent_state::detect`), remembers the result (hash, quiet
//! looks, state, since: a few bytes per session) and publishes `Event::AgentState` on the bus
//! once per transition. Pages and the API read the latest state from here instead of asking
//! tmux on every view.

use crate::config::Config;
use crate::domain::SessionId;
use crate::domain::agent_state::{self, AgentState, Patterns, Seen};
use crate::domain::{AiSession, Timestamp};
use crate::error::{AppError, AppResult};
use crate::services::App;
use crate::services::events::{Event, Events};
use crate::services::sessions::{Sessions, Tmux};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often every live pane is looked at.
pub const TICK: Duration = Duration::from_secs(1);
/// A session this young is news: its first prompt is announced (see `agent_state::next`).
const FRESH_SECS: i64 = 30;
/// Panes looked at at once (each look is one short tmux process).
const PARALLEL: usize = 8;

/// The watcher's memory, shared with `Sessions` (which reads it for pages and the API), and
/// the compiled prompt patterns (built-in ones plus the `agent_patterns` option).
pub struct States {
    seen: Mutex<HashMap<SessionId, Seen>>,
    pub patterns: Patterns,
}

impl States {
    /// Empty memory, with the configured patterns compiled (the config checked them already;
    /// an error here names the bad one).
    pub fn new(config: &Config) -> AppResult<States> {
        let patterns = Patterns::from_config(&config.agent_patterns)
            .map_err(|e| AppError::BadRequest(format!("invalid agent_patterns: {e}")))?;
        Ok(States {
            seen: Mutex::default(),
            patterns,
        })
    }

    /// What the watcher last saw of a session.
    pub fn get(&self, id: SessionId) -> Option<Seen> {
        self.seen.lock().ok()?.get(&id).copied()
    }

    fn remember(&self, id: SessionId, seen: Option<Seen>) {
        if let Ok(mut m) = self.seen.lock() {
            match seen {
                Some(s) => m.insert(id, s),
                None => m.remove(&id),
            };
        }
    }

    /// Forget sessions that are no longer active.
    fn keep_only(&self, live: &std::collections::HashSet<SessionId>) {
        if let Ok(mut m) = self.seen.lock() {
            m.retain(|id, _| live.contains(id));
        }
    }

    /// How many sessions are remembered.
    pub fn len(&self) -> usize {
        self.seen.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The watcher: what it looks through (the sessions service: its store, tmux and memory) and
/// where it tells (the event bus).
pub struct AgentWatch {
    sessions: Arc<Sessions>,
    events: Arc<Events>,
}

fn capture_hash(pane: &str, bell: bool) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    pane.hash(&mut h);
    bell.hash(&mut h);
    h.finish()
}

/// The event's one line for a process that ended, else the prompt's question.
fn summary_of(state: AgentState, pane: &str, status: &str) -> String {
    match state {
        AgentState::Exited | AgentState::Failed if !status.is_empty() => {
            format!("{} (status {status})", state.label())
        }
        _ => agent_state::summary(state, pane),
    }
}

impl AgentWatch {
    pub fn new(sessions: Arc<Sessions>, events: Arc<Events>) -> AgentWatch {
        AgentWatch { sessions, events }
    }

    /// One pass over every active session: look, detect, remember, announce transitions.
    /// Returns how many panes were looked at.
    pub async fn tick(&self) -> usize {
        let store = self.sessions.store.clone();
        let rows = crate::store::run_blocking(|| -> AppResult<Vec<AiSession>> {
            Ok(store
                .read()?
                .ai_sessions()?
                .into_iter()
                .filter(|s| s.is_active && s.tmux_target.is_some())
                .collect())
        });
        let rows = match rows {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "agent watcher cannot read the sessions");
                return 0;
            }
        };
        let states = &self.sessions.agent_states;
        states.keep_only(&rows.iter().map(|s| s.id).collect());
        let n = rows.len();
        let now = crate::domain::model::now();
        futures_util::stream::iter(rows)
            .for_each_concurrent(PARALLEL, |s| self.look_at(s, now))
            .await;
        n
    }

    async fn look_at(&self, s: AiSession, now: Timestamp) {
        let states = &self.sessions.agent_states;
        let Some((tm, target)) = Tmux::of(&s) else {
            return;
        };
        let Some(look) = tm.look(target).await else {
            // tmux no longer has it: nothing to show (the session list marks it gone).
            states.remember(s.id, None);
            return;
        };
        let prev = states.get(s.id);
        let fresh = (now - s.started_at).num_seconds() < FRESH_SECS;
        let hash = capture_hash(&look.pane, look.bell);
        let (changed, quiet) = agent_state::changing(prev.as_ref(), hash, fresh);
        let state = look.state(&s, &states.patterns, changed);
        let (seen, announce) = agent_state::next(prev.as_ref(), (hash, quiet), state, now, fresh);
        states.remember(s.id, Some(seen));
        if announce {
            tracing::debug!(
                session = s.id.get(),
                state = state.as_str(),
                "agent state changed"
            );
            self.events.publish(Event::AgentState {
                user_id: s.user_id,
                session: s.id.get().to_string(),
                project_id: s.project_id,
                issue_id: s.issue_id,
                tool: s.tool.clone(),
                state,
                summary: summary_of(state, &look.pane, &look.status),
            });
        }
    }
}

/// Start the watcher on the server's sessions and bus, ticking every [`TICK`]; it stops when
/// `stop` turns true.
pub fn spawn(
    app: Arc<App>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    spawn_with(
        AgentWatch::new(app.sessions.clone(), app.events.clone()),
        tick,
        stop,
    )
}

/// The watcher loop on any tick source (a test's interval under a paused clock, say).
pub fn spawn_with(
    watch: AgentWatch,
    mut tick: tokio::time::Interval,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tick.tick() => { watch.tick().await; }
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                break;
            }
        }
    })
}
