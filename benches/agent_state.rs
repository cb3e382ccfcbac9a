//! Benchmark (not a test): the cost of agent state detection. `detect` over each recorded pane
//! capture (tests/fixtures/panes), median and p99 per call; then the whole per-session look
//! the watcher makes once a second (one tmux call for the capture and flags, the hash, the
//! detection) against a real tmux pane, and what that costs per session per second at 1 Hz.
//! Run: `cargo bench --bench agent_state` (needs tmux for the second part).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test and benchmark code: a panic is a failed run, and setup may block"
)]

use aiops::domain::agent_state::{Patterns, detect, summary};
use aiops::services::sessions::Tmux;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

const PANES: &[(&str, &str)] = &[
    (
        "claude",
        include_str!("../tests/fixtures/panes/claude_permission.txt"),
    ),
    (
        "claude",
        include_str!("../tests/fixtures/panes/claude_input.txt"),
    ),
    (
        "claude",
        include_str!("../tests/fixtures/panes/claude_working.txt"),
    ),
    (
        "claude",
        include_str!("../tests/fixtures/panes/claude_rate_limited.txt"),
    ),
    (
        "codex",
        include_str!("../tests/fixtures/panes/codex_approval.txt"),
    ),
    (
        "codex",
        include_str!("../tests/fixtures/panes/codex_input.txt"),
    ),
    (
        "codex",
        include_str!("../tests/fixtures/panes/codex_working.txt"),
    ),
    (
        "gemini",
        include_str!("../tests/fixtures/panes/gemini_allow_once.txt"),
    ),
    (
        "gemini",
        include_str!("../tests/fixtures/panes/gemini_input.txt"),
    ),
    (
        "gemini",
        include_str!("../tests/fixtures/panes/gemini_working.txt"),
    ),
    (
        "shell",
        include_str!("../tests/fixtures/panes/generic_working.txt"),
    ),
];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let patterns = Patterns::default();
    println!("detect per capture (built-in patterns), 20,000 calls each:");
    let mut all = Vec::new();
    for (tool, pane) in PANES {
        let mut t = Vec::with_capacity(20_000);
        for _ in 0..20_000 {
            let start = Instant::now();
            let s = detect(tool, pane, false, false, &patterns);
            std::hint::black_box(s);
            t.push(start.elapsed());
        }
        t.sort();
        let state = detect(tool, pane, false, false, &patterns);
        println!(
            "  {tool:7} {:>4} B  {:22} median {:>6.2} µs  p99 {:>6.2} µs  ({})",
            pane.len(),
            state.as_str(),
            percentile(&t, 0.5).as_secs_f64() * 1e6,
            percentile(&t, 0.99).as_secs_f64() * 1e6,
            summary(state, pane)
        );
        all.extend(t);
    }
    all.sort();
    let med = percentile(&all, 0.5);
    println!(
        "  all     median {:.2} µs, p99 {:.2} µs: {:.4} % of one core per session at 1 Hz",
        med.as_secs_f64() * 1e6,
        percentile(&all, 0.99).as_secs_f64() * 1e6,
        med.as_secs_f64() * 100.0
    );

    // The whole look against a real pane (the part that dominates: one tmux process).
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("tmux.sock");
    let cap = dir.path().join("pane.txt");
    std::fs::write(&cap, PANES[0].1).unwrap();
    let ok = std::process::Command::new("tmux")
        .arg("-S")
        .arg(&sock)
        .args([
            "new-session",
            "-d",
            "-s",
            "aiops-1",
            "-x",
            "100",
            "-y",
            "30",
        ])
        .arg(format!("cat {}; read x", cap.display()))
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        println!("tmux not available: the per-look part is skipped");
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tm = Tmux {
        sock: sock.clone(),
        run_as: None,
    };
    let mut t = Vec::new();
    let mut cpu = Duration::ZERO;
    rt.block_on(async {
        // Until the pane shows the prompt.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !tm
            .look("aiops-1:0")
            .await
            .is_some_and(|l| l.pane.contains("Do you want to proceed?"))
        {
            assert!(
                Instant::now() < deadline,
                "the pane never showed the capture"
            );
        }
        for _ in 0..300 {
            let start = Instant::now();
            let look = tm.look("aiops-1:0").await.expect("a look");
            let c = Instant::now();
            let mut h = std::collections::hash_map::DefaultHasher::new();
            look.pane.hash(&mut h);
            std::hint::black_box(h.finish());
            std::hint::black_box(detect("claude", &look.pane, look.bell, false, &patterns));
            cpu += c.elapsed();
            t.push(start.elapsed());
        }
    });
    t.sort();
    let med = percentile(&t, 0.5);
    println!(
        "one look (tmux display-message + capture-pane in one call, hash, detect), 300 looks:\n  \
         median {:.2} ms, p99 {:.2} ms wall; hash+detect {:.2} µs of it; at 1 Hz that is {:.2} % of one \
         second per session (wall, mostly the tmux process)",
        med.as_secs_f64() * 1e3,
        percentile(&t, 0.99).as_secs_f64() * 1e3,
        cpu.as_secs_f64() * 1e6 / t.len() as f64,
        med.as_secs_f64() * 100.0
    );
    let _ = std::process::Command::new("tmux")
        .arg("-S")
        .arg(&sock)
        .arg("kill-server")
        .status();
}
