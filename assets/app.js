// aiops: theme toggle, phone navigation, copy buttons, htmx error swapping. No external code.
(function () {
  var root = document.documentElement;
  var saved = null;
  try { saved = localStorage.getItem("aiops-theme"); } catch (e) {}
  if (saved === "light" || saved === "dark") root.setAttribute("data-theme", saved);

  document.addEventListener("click", function (ev) {
    var t = ev.target.closest ? ev.target.closest("button") : null;
    if (!t) return;
    if (t.id === "theme-toggle") {
      var cur = root.getAttribute("data-theme") ||
        (window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
      var next = cur === "dark" ? "light" : "dark";
      root.setAttribute("data-theme", next);
      try { localStorage.setItem("aiops-theme", next); } catch (e) {}
    } else if (t.id === "nav-toggle") {
      var nav = document.getElementById("topnav");
      var open = nav.classList.toggle("open");
      t.setAttribute("aria-expanded", open ? "true" : "false");
    } else if (t.dataset && t.dataset.copy) {
      var el = document.querySelector(t.dataset.copy);
      if (el && navigator.clipboard) {
        navigator.clipboard.writeText(el.textContent.trim()).then(function () { t.textContent = "Copied"; });
      }
    }
  });

  // A refused action (403, 404, 409) whose answer re-renders the page with the reason is
  // marked by the server (X-Aiops-Swap): swap it in too, so the message shows by the form.
  document.addEventListener("htmx:beforeSwap", function (ev) {
    var x = ev.detail.xhr;
    if (x && x.getResponseHeader("X-Aiops-Swap") === "1") {
      ev.detail.shouldSwap = true;
      ev.detail.isError = false;
    }
  });

  // Validation errors come back as 422 with the form re-rendered: let htmx swap them in.
  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) {
      htmx.config.responseHandling = [
        { code: "204", swap: false },
        { code: "[23]..", swap: true },
        { code: "422", swap: true },
        { code: "[45]..", swap: false, error: true }
      ];
    }
  });
})();
