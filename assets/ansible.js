// A run's page: follow its output live (server-sent events) while it runs, and keep the
// state badge true: running as soon as it starts (or output comes), then the final state with
// the exit code and duration. The table is src/web/ansible.rs run_badge's.
(function () {
  var out = document.getElementById("run-output");
  if (!out || !out.dataset.stream || !window.EventSource) return;
  var BADGES = {
    queued: "◷", running: "↻", succeeded: "✓", failed: "✗", cancelled: "⊘"
  };
  var status = document.getElementById("run-status");
  function setState(s) {
    if (!status || !s) return;
    status.dataset.status = s;
    status.className = "run-badge run-" + (BADGES[s] ? s : "unknown");
    var icon = status.querySelector(".run-icon");
    var word = status.querySelector(".run-word");
    if (icon) icon.dataset.icon = BADGES[s] || "?";
    if (word) word.textContent = s;
  }
  function set(id, v) {
    var el = document.getElementById(id);
    if (el) el.textContent = v;
  }
  out.textContent = "";
  var es = new EventSource(out.dataset.stream);
  es.addEventListener("state", function (e) { setState(e.data); });
  es.addEventListener("output", function (e) {
    if (status && status.dataset.status === "queued") setState("running");
    var atEnd = window.innerHeight + window.scrollY >= document.body.offsetHeight - 40;
    out.textContent += e.data + "\n";
    if (atEnd) window.scrollTo(0, document.body.scrollHeight);
  });
  es.addEventListener("done", function (e) {
    es.close();
    var d = {};
    try { d = JSON.parse(e.data); } catch (x) {}
    setState(d.status || "failed");
    set("run-exit", d.exit_code === null || d.exit_code === undefined ? "—" : String(d.exit_code));
    if (d.duration) set("run-duration", d.duration);
    var c = document.getElementById("cancel-form");
    if (c) c.remove();
  });
})();
