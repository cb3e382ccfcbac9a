// aiops: theme toggle, phone navigation, copy buttons, and the outcome of every htmx request
// (progress, success, inline errors). No external code, no inline scripts (CSP-friendly).
(function () {
  var root = document.documentElement;
  var saved = null;
  try { saved = localStorage.getItem("aiops-theme"); } catch (e) {}
  if (saved === "light" || saved === "dark") root.setAttribute("data-theme", saved);

  // ---- navigation drawer (below 1024 px; a side bar above) -------------------------------
  // ☰ opens it; Escape, a tap outside (the backdrop) or following a link closes it.
  function setNav(open) {
    var toggle = document.getElementById("nav-toggle");
    var backdrop = document.getElementById("nav-backdrop");
    if (!toggle) return;
    document.body.classList.toggle("nav-open", open);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (backdrop) backdrop.hidden = !open;
    if (open) {
      var first = document.querySelector("#nav-links a[aria-current=page]") ||
        document.querySelector("#nav-links .nav-group a");
      if (first) first.focus();
    }
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && document.body.classList.contains("nav-open")) {
      setNav(false);
      var toggle = document.getElementById("nav-toggle");
      if (toggle) toggle.focus();
    }
  });
  document.addEventListener("click", function (ev) {
    if (!document.body.classList.contains("nav-open") || !ev.target.closest) return;
    if (ev.target.id === "nav-backdrop" || ev.target.closest("#nav-links a")) setNav(false);
  });
  // Back to a wide window: the side bar shows anyway; drop the drawer state.
  if (window.matchMedia) {
    var wide = window.matchMedia("(min-width: 1024px)");
    var onWide = function () { if (wide.matches) setNav(false); };
    if (wide.addEventListener) wide.addEventListener("change", onWide);
  }

  // ---- tables as cards on phones: every cell labelled with its column's heading ----------
  function labelCells(scope) {
    var tables = (scope && scope.querySelectorAll) ? scope.querySelectorAll("table") : [];
    if (scope && scope.tagName === "TABLE") tables = [scope];
    Array.prototype.forEach.call(tables, function (table) {
      var heads = table.querySelectorAll("thead th");
      if (!heads.length) return;
      var names = Array.prototype.map.call(heads, function (th) { return th.textContent.trim(); });
      Array.prototype.forEach.call(table.querySelectorAll("tbody tr"), function (tr) {
        var col = 0;
        Array.prototype.forEach.call(tr.children, function (cell) {
          if (!cell.hasAttribute("data-label") && !cell.hasAttribute("colspan")) {
            cell.setAttribute("data-label", names[col] || "");
          }
          col += parseInt(cell.getAttribute("colspan") || "1", 10) || 1;
        });
      });
    });
  }
  // A plain form (no hx-post) with hx-confirm asks too: htmx only asks for its own requests.
  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    if (!f || !f.getAttribute || f.hasAttribute("hx-post")) return;
    var q = f.getAttribute("hx-confirm");
    if (q && !window.confirm(q)) ev.preventDefault();
  }, true);

  // On phones a table row is a card: its first control stays in view (the primary action),
  // the others go into a "More" menu under it (a <details>, so it works without scripts too).
  var phone = window.matchMedia ? window.matchMedia("(max-width: 767px)") : null;
  function menuActions(scope) {
    if (!phone || !phone.matches || !scope || !scope.querySelectorAll) return;
    Array.prototype.forEach.call(scope.querySelectorAll("table.striped tbody td"), function (td) {
      if (td.querySelector(":scope > details.more-actions")) return;
      var controls = Array.prototype.filter.call(td.children, function (c) {
        return c.matches("form, button, a[role=button]");
      });
      if (controls.length < 3) return;
      var more = document.createElement("details");
      more.className = "more-actions";
      var summary = document.createElement("summary");
      summary.textContent = "More";
      summary.setAttribute("aria-label", "More actions");
      more.appendChild(summary);
      var box = document.createElement("div");
      box.className = "more-actions-list";
      controls.slice(1).forEach(function (c) { box.appendChild(c); });
      more.appendChild(box);
      td.appendChild(more);
    });
  }
  document.addEventListener("htmx:afterSettle", function (ev) {
    var t = ev.target && ev.target.isConnected ? ev.target : document;
    labelCells(t.closest ? (t.closest("table") || t) : t);
    menuActions(t.closest ? (t.closest("table") || t) : t);
  });

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
      setNav(!document.body.classList.contains("nav-open"));
    } else if (t.dataset && t.dataset.copy) {
      var el = document.querySelector(t.dataset.copy);
      if (el && navigator.clipboard) {
        navigator.clipboard.writeText(el.textContent.trim()).then(function () { t.textContent = "Copied"; });
      }
    } else if (t.classList.contains("toast-close")) {
      var toast = t.closest(".toast");
      if (toast) toast.remove();
    }
  });

  // ---- outcome of htmx requests ---------------------------------------------------------
  // Success: the swapped fragment (its notice is scrolled into view) or a toast (a flash
  // cookie set by a redirect, or a 204). Failure of any kind (4xx, 5xx, no connection,
  // timeout): an inline error next to the control that sent the request (role=alert).
  // Progress: after 300 ms a spinner and words; the control's buttons are disabled meanwhile.

  var SLOW_MS = 300;
  var STATUS_WORDS = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict", 413: "Payload Too Large",
    422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"
  };

  function toasts() {
    var box = document.getElementById("toasts");
    if (!box) {
      box = document.createElement("div");
      box.id = "toasts";
      box.className = "toasts";
      box.setAttribute("aria-live", "polite");
      box.setAttribute("role", "status");
      document.body.appendChild(box);
    }
    return box;
  }

  function toast(text, kind) {
    var t = document.createElement("div");
    t.className = "toast " + (kind || "ok");
    var p = document.createElement("span");
    p.textContent = text;
    var x = document.createElement("button");
    x.type = "button";
    x.className = "toast-close outline secondary";
    x.setAttribute("aria-label", "Dismiss");
    x.textContent = "×";
    t.appendChild(p);
    t.appendChild(x);
    toasts().appendChild(t);
    setTimeout(function () { t.remove(); }, 8000);
  }

  // Bring `el` into view unless it already is (keeping clear of the toasts at the bottom).
  function reveal(el) {
    if (!el || !el.getBoundingClientRect) return;
    var r = el.getBoundingClientRect();
    if (r.top >= 0 && r.bottom <= window.innerHeight - 96) return;
    if (el.scrollIntoView) el.scrollIntoView({ block: "center" });
  }

  // A redirect after a success sets a short-lived cookie with what happened.
  function showFlash() {
    var m = document.cookie.match(/(?:^|;\s*)aiops_flash=([^;]*)/);
    if (!m) return;
    document.cookie = "aiops_flash=; Path=/; Max-Age=0; SameSite=Lax";
    var text = "";
    try { text = decodeURIComponent(m[1].replace(/\+/g, " ")); } catch (e) { text = ""; }
    if (text) toast(text, "ok");
  }

  // Where the outcome of a request from `elt` is shown: after its form (or the control).
  function anchorOf(elt) {
    if (!elt || !elt.closest) return null;
    return elt.closest("form") || elt;
  }

  function clearOutcome(elt) {
    var a = anchorOf(elt);
    if (!a) return;
    var next = a.nextElementSibling;
    while (next && next.classList.contains("hx-outcome")) {
      var gone = next;
      next = next.nextElementSibling;
      gone.remove();
    }
  }

  function showError(elt, text) {
    var a = anchorOf(elt);
    if (!a || !a.isConnected) { toast(text, "bad"); return; }
    clearOutcome(elt);
    var p = document.createElement("p");
    p.className = "hx-outcome error";
    p.setAttribute("role", "alert");
    p.textContent = text;
    a.insertAdjacentElement("afterend", p);
    reveal(p);
  }

  // The server's own words: JSON {error|message}, plain text, or the message in an HTML page.
  function serverMessage(xhr) {
    var body = (xhr.responseText || "").trim();
    if (!body) return "";
    var type = (xhr.getResponseHeader("Content-Type") || "").toLowerCase();
    if (type.indexOf("json") >= 0) {
      try {
        var v = JSON.parse(body);
        return String(v.error || v.message || v.detail || "");
      } catch (e) { return ""; }
    }
    if (type.indexOf("html") >= 0) {
      var doc = new DOMParser().parseFromString(body, "text/html");
      // A whole page has the message in main; an htmx fragment is all main content.
      var el = doc.querySelector("main .error, main [role=alert]") ||
        doc.querySelector("body .error, body [role=alert]") || doc.querySelector("main p, body p");
      return el ? el.textContent.trim() : "";
    }
    return body.length > 400 ? body.slice(0, 400) + "…" : body;
  }

  function statusText(xhr) {
    var words = xhr.statusText || STATUS_WORDS[xhr.status] || "";
    return "The server answered " + xhr.status + (words ? " " + words : "");
  }

  var busy = new WeakMap();

  document.addEventListener("htmx:beforeRequest", function (ev) {
    var elt = ev.detail.elt;
    var a = anchorOf(elt);
    if (!a || busy.has(elt)) return;
    clearOutcome(elt);
    // The previous answer shown inside the form is stale now.
    if (a.querySelectorAll) {
      Array.prototype.forEach.call(a.querySelectorAll("[data-scroll]"), function (x) { x.remove(); });
    }
    // Background requests (polling, loads) get no spinner and leave the toasts alone.
    if (!elt.matches || !elt.matches("form, button, a, input, select, textarea")) return;
    // Old news would only cover the answer to this request.
    toasts().textContent = "";
    var buttons = [];
    var scope = a.tagName === "FORM" ? a.querySelectorAll("button, input[type=submit]") : [a];
    Array.prototype.forEach.call(scope, function (b) {
      if (b.tagName === "BUTTON" || b.tagName === "INPUT") {
        if (!b.disabled) { b.disabled = true; buttons.push(b); }
      }
    });
    a.setAttribute("aria-busy", "true");
    var own = a.querySelector ? a.querySelector(".htmx-indicator") : null;
    var spin = null;
    if (!own) {
      spin = document.createElement("span");
      spin.className = "hx-progress";
      spin.hidden = true;
      spin.textContent = a.getAttribute("data-working") || "Working…";
      a.insertAdjacentElement(a.tagName === "FORM" ? "beforeend" : "afterend", spin);
    }
    var timer = setTimeout(function () {
      if (spin) spin.hidden = false;
      a.classList.add("hx-slow");
    }, SLOW_MS);
    busy.set(elt, { anchor: a, buttons: buttons, spin: spin, timer: timer });
  });

  document.addEventListener("htmx:afterRequest", function (ev) {
    var elt = ev.detail.elt;
    var b = busy.get(elt);
    if (b) {
      busy.delete(elt);
      clearTimeout(b.timer);
      b.buttons.forEach(function (x) { x.disabled = false; });
      if (b.spin) b.spin.remove();
      b.anchor.classList.remove("hx-slow");
      b.anchor.removeAttribute("aria-busy");
    }
    var xhr = ev.detail.xhr;
    if (ev.detail.successful && xhr && xhr.status === 204) toast("Done.", "ok");
  });

  document.addEventListener("htmx:beforeSwap", function (ev) {
    var x = ev.detail.xhr;
    // A refused action whose answer re-renders the page with the reason is marked by the
    // server (X-Aiops-Swap): swap it in like a success, so the message shows by the form.
    if (x && x.getResponseHeader("X-Aiops-Swap") === "1") {
      ev.detail.shouldSwap = true;
      ev.detail.isError = false;
    }
  });

  // Any error status htmx does not swap: the server's message next to the control.
  document.addEventListener("htmx:responseError", function (ev) {
    var xhr = ev.detail.xhr;
    if (xhr && xhr.getResponseHeader("X-Aiops-Swap") === "1") return;
    var msg = serverMessage(xhr);
    var head = statusText(xhr);
    showError(ev.detail.elt, msg ? msg + " (" + head.replace("The server answered", "HTTP") + ")"
      : head + ". Try again; if it keeps failing, check System → Logs.");
  });

  document.addEventListener("htmx:sendError", function (ev) {
    showError(ev.detail.elt, "No connection to the server — check your network and try again.");
  });

  document.addEventListener("htmx:timeout", function (ev) {
    showError(ev.detail.elt, "The server did not answer within " +
      Math.round(htmx.config.timeout / 1000) + " s — try again; if it keeps happening, check System → Status.");
  });

  // After a swap: a fresh result (notice or error) is brought into view; a flash is toasted.
  document.addEventListener("htmx:afterSettle", function (ev) {
    showFlash();
    // The event fires on the new content (after an outerHTML swap, detail.target is gone).
    var target = ev.target && ev.target.isConnected ? ev.target : ev.detail.target;
    if (!target || !target.querySelector || !target.isConnected) return;
    var shown = target.querySelector("[data-scroll]") ||
      target.querySelector(".error[role=alert], .notice[role=status]");
    reveal(shown);
  });

  document.addEventListener("DOMContentLoaded", function () {
    labelCells(document);
    menuActions(document);
    showFlash();
    if (window.htmx) {
      htmx.config.timeout = 30000;
      // Validation errors come back as 422 with the form re-rendered: let htmx swap them in.
      htmx.config.responseHandling = [
        { code: "204", swap: false },
        { code: "[23]..", swap: true },
        { code: "422", swap: true },
        { code: "[45]..", swap: false, error: true }
      ];
    }
  });
})();

// The service worker (/sw.js): cached assets and an offline page when the network is gone.
if ("serviceWorker" in navigator) {
  window.addEventListener("load", function () {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
  });
}
