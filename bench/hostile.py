#!/usr/bin/env python3
"""RSS of a running aiops server under hostile load (loopback only, bounded):
  hostile.py logins BASE PID N   -- N concurrent failing logins; prints the peak RSS in MiB
  hostile.py slow BASE PID N     -- N idle connections dribbling header bytes for 12 s;
                                    prints the peak RSS in MiB and how many normal requests
                                    (of 5) were answered meanwhile
"""
import socket, sys, threading, time, urllib.parse, urllib.request, re

def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

def login_once(base):
    try:
        with urllib.request.urlopen(base + "/login", timeout=30) as r:
            html = r.read().decode()
            cookie = r.headers.get("Set-Cookie", "").split(";")[0]
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        data = urllib.parse.urlencode({"email": "bench@example.com", "password": "wrong", "csrf_token": csrf}).encode()
        req = urllib.request.Request(base + "/login", data=data, headers={"Cookie": cookie})
        urllib.request.urlopen(req, timeout=30)
    except Exception:
        pass

def main():
    mode, base, pid, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    peak = rss(pid)
    stop = threading.Event()
    def sample():
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss(pid))
            time.sleep(0.05)
    t = threading.Thread(target=sample); t.start()
    if mode == "logins":
        ths = [threading.Thread(target=login_once, args=(base,)) for _ in range(n)]
        for th in ths: th.start()
        for th in ths: th.join()
        stop.set(); t.join()
        print(f"{peak:.1f}")
    else:
        host, port = base.split("//")[1].split(":")
        socks = []
        for _ in range(n):
            try:
                s = socket.create_connection((host, int(port)), timeout=5)
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
                socks.append(s)
            except OSError:
                break
        served = 0
        for i in range(12):
            for s in socks:
                try: s.sendall(b"X: y\r\n")
                except OSError: pass
            if i % 2 == 0 and served < 5:
                try:
                    urllib.request.urlopen(base + "/api/v1/health", timeout=5).read()
                    served += 1
                except Exception:
                    pass
            time.sleep(1)
        for s in socks: s.close()
        stop.set(); t.join()
        print(f"{peak:.1f} {served}")

main()
