// The offline page (served by the service worker, see /sw.js): reload once the network is back.
(function () {
  function retry() { window.location.reload(); }
  window.addEventListener("online", retry);
  setInterval(function () { if (navigator.onLine) retry(); }, 15000);
})();
