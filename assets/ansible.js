// A run's page: follow its output live (server-sent events) while it runs.
(function () {
  var out = document.getElementById("run-output");
  if (!out || !out.dataset.stream || !window.EventSource) return;
  var status = document.getElementById("run-status");
  out.textContent = "";
  var es = new EventSource(out.dataset.stream);
  es.addEventListener("output", function (e) {
    var atEnd = window.innerHeight + window.scrollY >= document.body.offsetHeight - 40;
    out.textContent += e.data + "\n";
    if (atEnd) window.scrollTo(0, document.body.scrollHeight);
  });
  es.addEventListener("done", function (e) {
    es.close();
    var d = {};
    try { d = JSON.parse(e.data); } catch (x) {}
    if (status) { status.textContent = d.status || "finished"; status.className = "run-" + (d.status || ""); }
    var c = document.getElementById("cancel-form");
    if (c) c.remove();
  });
})();
