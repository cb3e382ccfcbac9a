// The browser terminal: xterm.js over a WebSocket to `tmux attach` in a PTY on the server.
// Keystrokes go up as binary frames; {"type":"resize","cols":C,"rows":R} text frames follow
// the window size; output comes down as binary frames, and the pane's state as text frames
// {"type":"state","state":"exited"|"running"} (the badge then says "Agent exited — Restart /
// Close" next to those controls, or "connected" again). A dropped connection is retried with
// backoff (tmux keeps the session, so nothing is lost).
(function () {
  var el = document.getElementById("terminal");
  if (!el || !window.Terminal) return;
  var status = document.getElementById("term-status");
  var head = document.getElementById("term-head");
  var exited = false;
  var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + el.dataset.ws;
  var term = new window.Terminal({
    cursorBlink: true,
    scrollback: 5000,
    fontSize: window.innerWidth < 600 ? 12 : 14,
    convertEol: false,
    allowProposedApi: false
  });
  var fit = new window.FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(el);
  var ws = null, delay = 500, closedByUs = false;
  var enc = new TextEncoder();
  function setStatus(s, cls) { if (status) { status.textContent = s; status.className = cls || ""; } }
  function setState(st) { if (head) head.dataset.state = st; }
  function showConnected() {
    if (exited) { setStatus("Agent exited — Restart / Close", "bad"); setState("exited"); }
    else { setStatus("connected", "ok"); setState("running"); }
  }
  function send(data) {
    if (ws && ws.readyState === 1) ws.send(typeof data === "string" ? enc.encode(data) : data);
  }
  function sendSize() {
    try { fit.fit(); } catch (e) {}
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows }));
  }
  function connect() {
    setStatus("connecting…", "pending");
    ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    ws.onopen = function () { delay = 500; showConnected(); sendSize(); term.focus(); };
    ws.onmessage = function (ev) {
      if (typeof ev.data === "string") {
        var m = null;
        try { m = JSON.parse(ev.data); } catch (e) { m = null; }
        if (m && m.type === "state") { exited = m.state === "exited"; showConnected(); return; }
        term.write(ev.data);
      } else term.write(new Uint8Array(ev.data));
    };
    ws.onclose = function (ev) {
      if (closedByUs) return;
      if (ev.code === 4404 || ev.code === 4410) {
        setStatus("Session closed — the agent is no longer running", "bad");
        setState("closed");
        return;
      }
      setStatus("reconnecting…", "pending");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  term.onData(function (d) { send(d); });
  window.addEventListener("resize", sendSize);
  var keys = { esc: "\x1b", tab: "\t", "ctrl-c": "\x03", "ctrl-d": "\x04", up: "\x1b[A", down: "\x1b[B", right: "\x1b[C", left: "\x1b[D", enter: "\r" };
  document.querySelectorAll("[data-key]").forEach(function (b) {
    b.addEventListener("click", function (e) { e.preventDefault(); send(keys[b.dataset.key] || ""); term.focus(); });
  });
  var paste = document.getElementById("term-paste");
  if (paste) paste.addEventListener("click", function (e) {
    e.preventDefault();
    if (navigator.clipboard && navigator.clipboard.readText) {
      navigator.clipboard.readText().then(function (t) { send(t); term.focus(); }, function () { setStatus("paste not allowed by the browser: use Ctrl/Cmd-V in the terminal", "bad"); });
    }
  });
  var copy = document.getElementById("term-copy");
  if (copy) copy.addEventListener("click", function (e) {
    e.preventDefault();
    var s = term.getSelection();
    if (s && navigator.clipboard) navigator.clipboard.writeText(s);
  });
  window.addEventListener("beforeunload", function () { closedByUs = true; if (ws) ws.close(); });
  window.aiopsTerminal = term;
  connect();
})();
