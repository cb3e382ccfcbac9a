// The Notifications page: enrol this browser for Web Push (permission, pushManager.subscribe
// with the server's VAPID key, POST the subscription) or withdraw it (unsubscribe, DELETE), and
// fill the time-zone offset of the preferences form. Every outcome is shown in #push-status.
"use strict";
(function () {
  var root = document.getElementById("push-device");
  if (!root) return;
  var status = document.getElementById("push-status");
  var button = document.getElementById("push-toggle");
  var csrf = root.getAttribute("data-csrf") || "";
  function say(msg, bad) {
    status.textContent = msg;
    status.className = bad ? "error" : "notice";
  }
  function api(method, path, body) {
    var init = { method: method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf } };
    if (body) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch("/api/v1/notifications/" + path, init).then(function (r) {
      if (r.ok) return r.status === 204 ? null : r.json();
      return r.json().catch(function () { return {}; }).then(function (j) {
        throw new Error(j.error || ("the server answered " + r.status));
      });
    });
  }
  function b64(s) {
    var pad = "=".repeat((4 - s.length % 4) % 4);
    var raw = atob((s + pad).replace(/-/g, "+").replace(/_/g, "/"));
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  var tz = document.getElementById("tz_offset_minutes");
  if (tz && !tz.value) tz.value = String(-new Date().getTimezoneOffset());
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    button.disabled = true;
    say("This browser cannot receive Web Push here. On iPhone and iPad, add aiops to the Home Screen (Share → Add to Home Screen) and open it from there.", true);
    return;
  }
  function registration() { return navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function () { return navigator.serviceWorker.ready; }); }
  function show(sub) {
    button.setAttribute("aria-pressed", sub ? "true" : "false");
    button.textContent = sub ? "🔔 Notifications on for this device — turn off" : "🔕 Turn on notifications for this device";
  }
  registration().then(function (reg) { return reg.pushManager.getSubscription(); }).then(show)
    .catch(function (e) { say("Cannot reach the service worker: " + e.message, true); });
  button.addEventListener("click", function () {
    button.disabled = true;
    registration().then(function (reg) {
      return reg.pushManager.getSubscription().then(function (sub) {
        if (sub) {
          var endpoint = sub.endpoint;
          return sub.unsubscribe().then(function () {
            return api("DELETE", "subscriptions?endpoint=" + encodeURIComponent(endpoint));
          }).then(function () { show(null); say("Notifications are off for this device."); });
        }
        return Notification.requestPermission().then(function (p) {
          if (p !== "granted") throw new Error("the browser's permission was not given (" + p + ")");
          return api("GET", "vapid-public-key");
        }).then(function (k) {
          return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64(k.public_key) });
        }).then(function (s) {
          var j = s.toJSON();
          j.user_agent = navigator.userAgent;
          return api("POST", "subscriptions", j).then(function () { show(s); say("Notifications are on for this device."); });
        });
      });
    }).catch(function (e) { say("Could not change notifications: " + e.message, true); })
      .then(function () { button.disabled = false; });
  });
})();
