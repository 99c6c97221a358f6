"""Headless Chromium driven over the DevTools protocol (--remote-debugging-pipe: JSON messages
ending in NUL on file descriptors 3 and 4), with the standard library only. A page is loaded from
disk and everything it does is recorded: console messages, uncaught exceptions, log entries
(failed loads) and every network request, so that a test can require a page to be quiet and
self-contained. It can also take the DOM as the browser built it and a full-page screenshot."""
import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    def __init__(self, timeout=60):
        assert CHROMIUM, "chromium is not installed (scripts/deps.sh test installs it)"
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="mlic-chromium-")
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def fds():
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        args = [CHROMIUM, "--headless", "--remote-debugging-pipe", "--user-data-dir=" + self.profile,
                "--no-first-run", "--no-default-browser-check", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--hide-scrollbars", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        self.proc = subprocess.Popen(args, pass_fds=(3, 4), preexec_fn=fds,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf = b""
        self.next_id = 0
        self.events = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target,
                                                           "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(domain + ".enable", session=True)

    def close(self):
        try:
            self.call("Browser.close")
        except (OSError, EOFError, TimeoutError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.to_chrome)
        os.close(self.from_chrome)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _recv(self, deadline):
        while b"\0" not in self.buf:
            ready, _, _ = select.select([self.from_chrome], [], [], max(0, deadline - time.time()))
            if not ready:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self.from_chrome, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed the pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=False):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + self.timeout
        while True:
            m = self._recv(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m["result"]
            self.events.append(m)

    def load(self, path, javascript=True, width=1366, height=900):
        """Open a local file and wait for its load event (and a moment for late requests)."""
        self.events = []
        self.call("Emulation.setScriptExecutionDisabled", {"value": not javascript}, session=True)
        self.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                         "deviceScaleFactor": 1, "mobile": False},
                  session=True)
        self.call("Page.navigate", {"url": "file://" + os.path.abspath(path)}, session=True)
        deadline = time.time() + self.timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._recv(deadline))
        self.evaluate("0")  # lets events queued behind the load arrive

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                      session=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def dom(self):
        """The document as the browser holds it (what --dump-dom prints)."""
        r = self.call("DOM.getDocument", {"depth": -1}, session=True)
        return self.call("DOM.getOuterHTML", {"nodeId": r["root"]["nodeId"]},
                         session=True)["outerHTML"]

    def screenshot(self, out):
        """The whole page, as PNG, to out."""
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                         session=True)["data"]
        with open(out, "wb") as f:
            f.write(base64.b64decode(data))

    def problems(self, page_url=None):
        """What a self-contained, error-free page must not do: console errors and warnings,
        uncaught exceptions, error log entries, and requests for anything but the page itself
        and data: URIs."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p["type"] in ("error", "warning", "assert"):
                out.append(f"console.{p['type']}: " +
                           " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif m == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p["exceptionDetails"])[:300])
            elif m == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                out.append(f"log {p['entry']['level']}: {p['entry']['text']}")
            elif m == "Network.requestWillBeSent":
                url = p["request"]["url"]
                if not url.startswith("data:") and url != page_url:
                    out.append("request: " + url)
        return out
