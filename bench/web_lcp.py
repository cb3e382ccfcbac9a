#!/usr/bin/env python3
"""Largest Contentful Paint and transferred bytes of aiops pages in headless Chromium.

Drives chromedriver over its W3C HTTP API (stdlib only), like tests/e2e/webdriver.rs.
  web_lcp.py BASE EMAIL PASSWORD WIDTH PATH...
Prints one Markdown row per page and state: cold (HTTP cache and service worker cleared)
and warm (the same page loaded again).
"""
import json, socket, subprocess, sys, time, urllib.request

LCP_JS = """
const done = arguments[arguments.length - 1];
let last = 0;
new PerformanceObserver(l => { for (const e of l.getEntries()) last = e.startTime; })
  .observe({type: 'largest-contentful-paint', buffered: true});
setTimeout(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  const bytes = nav.transferSize + res.reduce((a, r) => a + r.transferSize, 0);
  done({lcp: last, bytes: bytes, html: nav.transferSize, requests: 1 + res.length,
        load: nav.loadEventEnd});
}, 400);
"""


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


class Driver:
    def __init__(self, width):
        self.port = free_port()
        self.proc = subprocess.Popen(["chromedriver", f"--port={self.port}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(200):
            try:
                urllib.request.urlopen(self.base + "/status"); break
            except OSError:
                time.sleep(0.05)
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--hide-scrollbars"]
        opts = {"binary": "/usr/bin/chromium", "args": args}
        if width < 1024:
            opts["mobileEmulation"] = {"deviceMetrics": {"width": width, "height": 844, "pixelRatio": 2.0}}
        else:
            args.append(f"--window-size={width},900")
        v = self.call("POST", "/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": opts,
            "timeouts": {"script": 30000, "pageLoad": 60000}}}}, session=False)
        self.sid = v["sessionId"]

    def call(self, method, path, body=None, session=True):
        url = self.base + (f"/session/{self.sid}" if session else "") + path
        req = urllib.request.Request(url, method=method, data=json.dumps(body or {}).encode(),
                                     headers={"Content-Type": "application/json"})
        return json.load(urllib.request.urlopen(req, timeout=120))["value"]

    def cdp(self, cmd, params=None):
        return self.call("POST", "/goog/cdp/execute", {"cmd": cmd, "params": params or {}})

    def script(self, js, asynchronous=False):
        return self.call("POST", "/execute/async" if asynchronous else "/execute/sync",
                         {"script": js, "args": []})

    def goto(self, url):
        self.call("POST", "/url", {"url": url})

    def quit(self):
        try:
            self.call("DELETE", "")
        finally:
            self.proc.kill()


def main():
    base, email, password, width, *paths = sys.argv[1:]
    d = Driver(int(width))
    try:
        d.goto(base + "/login")
        d.script("document.querySelector('input[name=email]').value = %s;"
                 "document.querySelector('input[name=password]').value = %s;"
                 "document.querySelector('#login-submit').click(); return 1"
                 % (json.dumps(email), json.dumps(password)))
        time.sleep(1.0)
        for path in paths:
            for state in ("cold", "warm"):
                if state == "cold":
                    d.cdp("Network.clearBrowserCache")
                    d.cdp("Storage.clearDataForOrigin", {"origin": base, "storageTypes": "service_workers,cache_storage"})
                d.goto(base + path)
                m = d.script(LCP_JS, asynchronous=True)
                print(f"| LCP {path} at {width} px, {state} | {m['lcp']:.0f} ms, "
                      f"{m['bytes'] / 1024:.1f} KiB transferred ({m['requests']} requests, "
                      f"HTML {m['html'] / 1024:.1f} KiB) |", flush=True)
    finally:
        d.quit()


if __name__ == "__main__":
    main()
