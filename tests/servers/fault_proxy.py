"""A reverse proxy on 127.0.0.1 in front of the test S3 server that injects faults: added latency,
error bursts (503 SlowDown, 500 InternalError, any status), connections cut mid-body or reset
before any reply, and Range replies cut short. Standard library only (runs with any python3).

    python3 tests/servers/fault_proxy.py --upstream http://127.0.0.1:PORT [--log FILE]

prints {"endpoint": "http://127.0.0.1:PORT"} on stdout once listening and serves until stdin
closes or SIGTERM. Requests keep their Host header, so a signature made for the proxy's address
still checks at the server behind it.

Faults are set (replacing the previous ones) with a POST to /__fault__ of a JSON object:
  {"latency_ms": 20,                       # added before every forwarded request
   "rules": [{"action": "slowdown",        # 503 SlowDown (no forwarding)
              "method": "GET",             # optional: only these requests
              "path": "regex",             # optional: re.search on the path (with its query)
              "count": 3}]}                # how many matching requests get it (default 1)
Actions: "slowdown" (503 SlowDown), "internal" (500 InternalError), "status:NNN" (that status
with an S3 error body), "reset" (close without a reply), "cut" (the real reply, its body cut
in half, then close), "truncate_range" (a Range reply with its real Content-Range but only half
the bytes, consistently framed), "delay:MS" (that much more latency).
GET /__fault__ returns {"remaining": [...], "applied": N}. Every request is logged (--log), one
JSON line: {"method", "path", "host", "headers": [names], "fault"}.
"""
import argparse
import http.client
import http.server
import json
import re
import signal
import sys
import threading
import time
import urllib.parse

STATE = {"latency_ms": 0, "rules": [], "applied": 0}
LOCK = threading.Lock()
ARGS = None
LOG_LOCK = threading.Lock()

S3_ERROR = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            '<Message>{msg}</Message><RequestId>fault-proxy</RequestId></Error>')


def take_fault(method, path):
    with LOCK:
        for rule in STATE["rules"]:
            if rule.get("count", 1) <= 0:
                continue
            if rule.get("method") and rule["method"] != method:
                continue
            if rule.get("path") and not re.search(rule["path"], path):
                continue
            rule["count"] = rule.get("count", 1) - 1
            STATE["applied"] += 1
            return rule["action"]
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def log_request_line(self, fault):
        if not ARGS.log:
            return
        rec = {"method": self.command, "path": self.path, "host": self.headers.get("Host"),
               "headers": sorted(k.lower() for k in self.headers.keys()), "fault": fault}
        with LOG_LOCK, open(ARGS.log, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def send_error_xml(self, status, code, msg):
        body = S3_ERROR.format(code=code, msg=msg).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def control(self, body):
        if self.command == "POST":
            cfg = json.loads(body or b"{}")
            with LOCK:
                STATE["latency_ms"] = cfg.get("latency_ms", 0)
                STATE["rules"] = cfg.get("rules", [])
                STATE["applied"] = 0
        with LOCK:
            out = json.dumps({"remaining": STATE["rules"], "applied": STATE["applied"]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path.startswith("/__fault__"):
            return self.control(body)
        fault = take_fault(self.command, self.path)
        self.log_request_line(fault)
        with LOCK:
            latency = STATE["latency_ms"]
        if fault and fault.startswith("delay:"):
            latency += int(fault.split(":")[1])
        if latency:
            time.sleep(latency / 1000.0)
        if fault == "reset":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault == "slowdown":
            return self.send_error_xml(503, "SlowDown", "Please reduce your request rate.")
        if fault == "internal":
            return self.send_error_xml(500, "InternalError", "We encountered an internal error.")
        if fault and fault.startswith("status:"):
            st = int(fault.split(":")[1])
            return self.send_error_xml(st, f"Injected{st}", "injected by the fault proxy")
        up = urllib.parse.urlsplit(ARGS.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        cut = fault == "cut" and len(data) > 1
        trunc = fault == "truncate_range" and resp.status == 206 and len(data) > 1
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() in ("content-length", "connection", "transfer-encoding", "date", "server"):
                continue
            self.send_header(k, v)
        send = data
        if trunc:
            send = data[: len(data) // 2]
        # A HEAD reply has no body: its Content-Length is the object's size, as upstream said.
        length = resp.getheader("Content-Length", "0") if self.command == "HEAD" else \
            str(len(send) if trunc else len(data))
        self.send_header("Content-Length", length)
        if cut:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        if cut:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(send)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--log")
    ARGS = ap.parse_args()
    # A backlog for many clients connecting at once (socketserver's default of 5 drops SYNs,
    # which clients see as one-second stalls).
    http.server.ThreadingHTTPServer.request_queue_size = 256
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"endpoint": f"http://127.0.0.1:{server.server_address[1]}"}), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    server.shutdown()


if __name__ == "__main__":
    main()
