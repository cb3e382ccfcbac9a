// The agents panel's "for 3 min" labels tick here, so the server re-sends the panel only when an
// agent's state changes (a card is never replaced under a finger for a clock's sake). Same words
// as web/agents.rs `for_how_long`.
(function () {
  "use strict";
  function words(secs) {
    if (secs < 60) return "for less than a minute";
    if (secs < 3600) return "for " + Math.floor(secs / 60) + " min";
    if (secs < 86400) return "for " + Math.floor(secs / 3600) + " h " + Math.floor((secs % 3600) / 60) + " min";
    return "for " + Math.floor(secs / 86400) + " days";
  }
  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll(".agent-since[data-since]").forEach(function (e) {
      var since = Number(e.getAttribute("data-since"));
      if (!since) return;
      var w = words(Math.max(0, Math.floor(now - since)));
      if (e.textContent !== w) e.textContent = w;
    });
  }
  if (!window.aiopsAgentsTick) {
    window.aiopsAgentsTick = setInterval(tick, 20000);
  }
})();
