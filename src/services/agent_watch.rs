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
use std::time::{Duration, Instant};

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
    /// Sessions whose pane a control (stop, restart) changed since the watcher's last look, and
    /// when: readers look at the pane themselves until the watcher has looked again.
    stale: Mutex<HashMap<SessionId, Instant>>,
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
            stale: Mutex::default(),
            patterns,
        })
    }

    /// What the watcher last saw of a session, unless a control changed the pane since.
    pub fn get(&self, id: SessionId) -> Option<Seen> {
        if self.stale.lock().ok()?.contains_key(&id) {
            return None;
        }
        self.seen.lock().ok()?.get(&id).copied()
    }

    /// A control just changed the session's pane (stopped or restarted its agent): until the
    /// watcher looks again, pages and the API look at the pane themselves.
    pub fn mark_stale(&self, id: SessionId) {
        if let Ok(mut m) = self.stale.lock() {
            m.insert(id, Instant::now());
        }
    }

    /// The watcher's look that began at `began` is newer than any control before it; true
    /// when there was such a control (what the look saw, the user just did).
    fn fresh_since(&self, id: SessionId, began: Instant) -> bool {
        if let Ok(mut m) = self.stale.lock()
            && m.get(&id).is_some_and(|at| *at <= began)
        {
            m.remove(&id);
            return true;
        }
        false
    }

    /// The watcher's own memory (stale or not).
    fn last(&self, id: SessionId) -> Option<Seen> {
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
        if let Ok(mut m) = self.stale.lock() {
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
    /// Panes seen dead before tmux had their exit status, and since when.
    dead_since: Mutex<HashMap<SessionId, Instant>>,
}

/// How long a dead pane may show no exit status before it counts as exited anyway (tmux marks
/// a pane dead when its output closes, and has the status once it has reaped the process).
const STATUS_GRACE: Duration = Duration::from_secs(3);

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
        AgentWatch {
            sessions,
            events,
            dead_since: Mutex::default(),
        }
    }

    /// One pass over every active session: look, detect, remember, announce transitions.
    /// Returns how many panes were looked at.
    pub async fn tick(&self) -> usize {
        let store = self.sessions.store.clone();
        let rows = crate::store::run_blocking(|| -> AppResult<Vec<AiSession>> {
            Ok(store
                .read()?
                .active_ai_sessions()?
                .into_iter()
                .filter(|s| s.tmux_target.is_some())
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
        let ids: std::collections::HashSet<SessionId> = rows.iter().map(|s| s.id).collect();
        states.keep_only(&ids);
        if let Ok(mut m) = self.dead_since.lock() {
            m.retain(|id, _| ids.contains(id));
        }
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
        let began = Instant::now();
        let Some(look) = tm.look(target).await else {
            // tmux no longer has it: nothing to show (the session list marks it gone).
            states.remember(s.id, None);
            return;
        };
        if look.dead && look.status.trim().is_empty() {
            let waited = self
                .dead_since
                .lock()
                .map(|mut m| m.entry(s.id).or_insert_with(Instant::now).elapsed())
                .unwrap_or(STATUS_GRACE);
            if waited < STATUS_GRACE {
                return; // look again next tick, when tmux may have the status
            }
        }
        // The grace is waited once per death: a later look at the same dead pane (after a
        // control made the state stale, say) answers at once. A live pane (restarted) forgets it.
        if !look.dead
            && let Ok(mut m) = self.dead_since.lock()
        {
            m.remove(&s.id);
        }
        let prev = states.last(s.id);
        let fresh = (now - s.started_at).num_seconds() < FRESH_SECS;
        let hash = capture_hash(&look.pane, look.bell);
        let (changed, quiet) = agent_state::changing(prev.as_ref(), hash, fresh);
        let state = look.state(&s, &states.patterns, changed);
        let (seen, announce) = agent_state::next(prev.as_ref(), (hash, quiet), state, now, fresh);
        states.remember(s.id, Some(seen));
        // A stop or restart the user just made is no news to them.
        let controlled = states.fresh_since(s.id, began);
        if announce && !controlled {
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

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "test setup drives tmux directly, outside the watcher under test"
)]
mod tests {
    //! The watcher against real tmux panes running scripted agents, on a real store and the
    //! real bus.

    use super::*;
    use crate::config::ServeArgs;
    use crate::domain::{ProjectId, UserId};
    use crate::services::events::Event;
    use std::path::Path;

    fn app(dir: &Path) -> App {
        let mut args = ServeArgs::default();
        args.store.data_dir = Some(dir.to_path_buf());
        let config = Config::resolve(&args).unwrap();
        App::new(crate::store::Store::open(dir).unwrap(), config).unwrap()
    }

    fn tmux(sock: &Path, args: &[&str]) {
        let st = std::process::Command::new("tmux")
            .arg("-S")
            .arg(sock)
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "tmux {args:?}");
    }

    /// A tmux session `aiops-<id>` running `script`, and its active row.
    fn agent(app: &App, sock: &Path, id: u64, tool: &str, script: &Path) -> AiSession {
        let name = format!("aiops-{id}");
        let cmd = format!("sh {}", script.display());
        tmux(
            sock,
            &[
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                "100",
                "-y",
                "30",
                &cmd,
                ";",
                "set-option",
                "-t",
                &name,
                "remain-on-exit",
                "on",
            ],
        );
        let s = AiSession {
            id: id.into(),
            project_id: ProjectId(1),
            user_id: UserId(1),
            issue_id: None,
            tool: tool.into(),
            session_id: format!("{id:032x}"),
            command: None,
            description: None,
            tmux_target: Some(format!("{name}:0")),
            started_at: crate::domain::model::now(),
            ended_at: None,
            is_active: true,
            api_key_id: None,
            tmux_socket: Some(sock.display().to_string()),
            workspace_path: None,
            run_as: None,
            end_reason: None,
            tool_session_id: None,
            branch: None,
            base: None,
            pull_request: None,
        };
        let w = app.store.write().unwrap();
        w.put_ai_session(&s).unwrap();
        w.commit().unwrap();
        s
    }

    /// Tick (every 100 ms, the injectable tick) until `done` says so, gathering the events;
    /// at most 20 s.
    async fn run_until(
        watch: &AgentWatch,
        rx: &mut tokio::sync::broadcast::Receiver<Event>,
        got: &mut Vec<(String, AgentState, String)>,
        done: impl Fn(&[(String, AgentState, String)]) -> bool,
    ) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        while !done(got) {
            assert!(
                Instant::now() < deadline,
                "timed out; events so far: {got:?}"
            );
            tick.tick().await;
            watch.tick().await;
            while let Ok(e) = rx.try_recv() {
                if let Event::AgentState {
                    session,
                    state,
                    summary,
                    ..
                } = e
                {
                    got.push((session, state, summary));
                }
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_scripted_agent_reaching_its_permission_prompt_is_one_event() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path());
        let sock = dir.path().join("tmux.sock");
        let go = dir.path().join("go");
        let script = dir.path().join("agent.sh");
        // Works (prints) until told to go on, then asks like Claude Code and waits; answered,
        // it ends with status 0.
        std::fs::write(
            &script,
            format!(
                "n=0\nwhile [ ! -e {go} ]; do n=$((n+1)); echo \"step $n\"; sleep 0.1; done\n\
                 printf ' Bash command\\n\\n   cargo test\\n   Run the tests\\n\\n Do you want to proceed?\\n \
                 \\342\\235\\257 1. Yes\\n   2. Yes, and don'\"'\"'t ask again\\n   3. No, and tell Claude what to do differently (esc)\\n'\n\
                 read answer\necho \"ran cargo test ($answer)\"\nexit 0\n",
                go = go.display()
            ),
        )
        .unwrap();
        let s = agent(&app, &sock, 1, "claude", &script);
        let watch = AgentWatch::new(app.sessions.clone(), app.events.clone());
        let mut rx = app.events.subscribe();
        let mut got = Vec::new();
        // Printing: working (a fresh session's first state, not announced).
        let states = app.sessions.agent_states.clone();
        run_until(&watch, &mut rx, &mut got, |_| {
            states
                .get(s.id)
                .is_some_and(|x| x.state == AgentState::Working)
        })
        .await;
        std::fs::write(&go, "").unwrap();
        let approval = |g: &[(String, AgentState, String)]| {
            g.iter()
                .filter(|e| e.1 == AgentState::WaitingForApproval)
                .count()
        };
        run_until(&watch, &mut rx, &mut got, |g| approval(g) >= 1).await;
        // Ten more looks at the same prompt: no second event.
        for _ in 0..10 {
            watch.tick().await;
        }
        while let Ok(Event::AgentState {
            session,
            state,
            summary,
            ..
        }) = rx.try_recv()
        {
            got.push((session, state, summary));
        }
        assert_eq!(approval(&got), 1, "{got:?}");
        let (key, _, summary) = got
            .iter()
            .find(|e| e.1 == AgentState::WaitingForApproval)
            .unwrap();
        assert_eq!(key, "1");
        assert_eq!(summary, "Do you want to proceed?");
        assert!(
            got.windows(2).all(|w| w[0].1 != w[1].1),
            "never the same state twice in a row: {got:?}"
        );
        // The web and API read it from here.
        assert_eq!(
            app.sessions.agent_states.get(s.id).map(|x| x.state),
            Some(AgentState::WaitingForApproval)
        );
        // Answered, the agent ends with status 0: exited.
        tmux(&sock, &["send-keys", "-t", "aiops-1:0", "1", "Enter"]);
        run_until(&watch, &mut rx, &mut got, |g| {
            g.last().is_some_and(|e| e.1 == AgentState::Exited)
        })
        .await;
        // (without the status when tmux never reports it: see the bell test)
        assert!(
            ["exited (status 0)", "exited"].contains(&got.last().unwrap().2.as_str()),
            "{got:?}"
        );
        tmux(&sock, &["kill-server"]);
    }

    /// The watcher reads only the active rows: an ended session (whose tmux pane may even
    /// still be there) is not looked at and not remembered; the control, an active one, is.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_active_sessions_are_read_and_looked_at() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path());
        let sock = dir.path().join("tmux.sock");
        let script = dir.path().join("quiet.sh");
        std::fs::write(&script, "echo 'all 48 tests pass'\nread x\n").unwrap();
        let live = agent(&app, &sock, 1, "mytool", &script);
        let mut ended = agent(&app, &sock, 2, "mytool", &script);
        ended.is_active = false;
        {
            let w = app.store.write().unwrap();
            w.put_ai_session(&ended).unwrap();
            w.commit().unwrap();
        }
        let active: Vec<SessionId> = app
            .store
            .read()
            .unwrap()
            .active_ai_sessions()
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(active, vec![live.id]);
        let watch = AgentWatch::new(app.sessions.clone(), app.events.clone());
        assert_eq!(watch.tick().await, 1, "one pane looked at");
        let states = &app.sessions.agent_states;
        assert!(states.last(live.id).is_some());
        assert!(states.last(ended.id).is_none());
        assert_eq!(states.len(), 1);
        tmux(&sock, &["kill-server"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bell_asks_for_input_and_a_bad_exit_is_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path());
        let sock = dir.path().join("tmux.sock");
        let bell = dir.path().join("bell.sh");
        std::fs::write(
            &bell,
            "echo 'all 48 tests pass'\nprintf '\\a'\nread x\nexit 3\n",
        )
        .unwrap();
        let quiet = dir.path().join("quiet.sh");
        std::fs::write(&quiet, "echo 'all 48 tests pass'\nread x\n").unwrap();
        let a = agent(&app, &sock, 1, "mytool", &bell);
        let b = agent(&app, &sock, 2, "mytool", &quiet);
        let watch = AgentWatch::new(app.sessions.clone(), app.events.clone());
        let mut rx = app.events.subscribe();
        let mut got = Vec::new();
        let states = app.sessions.agent_states.clone();
        let state = |id: SessionId| states.get(id).map(|x| x.state);
        run_until(&watch, &mut rx, &mut got, |_| {
            state(a.id) == Some(AgentState::WaitingForInput)
                && state(b.id) == Some(AgentState::Idle)
        })
        .await;
        // The control (no bell, same output) is idle; the bell one was announced.
        assert!(
            got.iter()
                .any(|e| e.0 == "1" && e.1 == AgentState::WaitingForInput),
            "{got:?}"
        );
        tmux(&sock, &["send-keys", "-t", "aiops-1:0", "x", "Enter"]);
        run_until(&watch, &mut rx, &mut got, |_| {
            state(a.id).is_some_and(|s| s.is_final())
        })
        .await;
        // tmux sometimes never reports a dead pane's status (seen under load); then the agent
        // can only be called exited. With the status, exit 3 is a failure.
        let end = got.last().unwrap();
        assert!(
            (end.1 == AgentState::Failed && end.2 == "failed (status 3)")
                || (end.1 == AgentState::Exited && end.2 == "exited"),
            "{end:?}"
        );
        let end_state = end.1;
        // After a control (stop, restart), readers look for themselves until the watcher has
        // looked again, and that look announces nothing: the user did it.
        let before = got.len();
        states.mark_stale(a.id);
        assert_eq!(state(a.id), None);
        watch.tick().await;
        assert_eq!(state(a.id), Some(end_state));
        if let Ok(e) = rx.try_recv() {
            panic!("no event after a control: {e:?}");
        }
        assert_eq!(got.len(), before);
        // A session tmux no longer has is forgotten.
        tmux(&sock, &["kill-session", "-t", "aiops-2"]);
        watch.tick().await;
        assert_eq!(state(b.id), None);
        tmux(&sock, &["kill-server"]);
    }
}
