"""browser.py - drive headless Chromium from Python tests through tests/ui/driver.mjs.

Browser() starts `node driver.mjs` (playwright-core from tests/ui/node_modules, Debian's
/usr/bin/chromium), launches the browser with a fresh user data directory, and turns each
method call into one JSON line to the driver and one JSON answer back (see driver.mjs for
the commands). A failed command raises BrowserError with the driver's message; a driver
that does not answer within the command's timeout plus a margin is killed.

Nothing is skipped: when node, playwright-core or chromium is missing, Browser() raises
BrowserMissing (an AssertionError, so the test fails) saying what to install
(deploy/install-deps installs all three).

Environment: NAVE_UI_NODE (node binary, default "node" on PATH), NAVE_UI_CHROMIUM (default
/usr/bin/chromium), NAVE_UI_DIR (the directory holding driver.mjs and node_modules,
default this file's directory).
"""
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

UI_DIR = os.environ.get("NAVE_UI_DIR", os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = os.environ.get("NAVE_UI_CHROMIUM", "/usr/bin/chromium")
NODE = os.environ.get("NAVE_UI_NODE", "node")
NODE_MIN = 20  # playwright-core 1.65 refuses older Node.js
INSTALL_HINT = ("install them with deploy/install-deps (Debian packages chromium, nodejs, npm; then "
                "`npm ci --no-audit --no-fund` in tests/ui for playwright-core)")


class BrowserError(AssertionError):
    """A driver command failed (the message is the driver's)."""


class BrowserMissing(AssertionError):
    """node, playwright-core or chromium is not installed: the test fails, never skips."""


def check_prerequisites():
    """Raise BrowserMissing naming what is missing and how to install it."""
    missing = []
    node = shutil.which(NODE)
    if not node:
        missing.append("node (Debian package nodejs)")
    if not os.path.exists(os.path.join(UI_DIR, "node_modules", "playwright-core", "package.json")):
        missing.append("playwright-core in %s/node_modules (run `npm ci --no-audit --no-fund` there; "
                       "Debian package npm)" % UI_DIR)
    if not os.access(CHROMIUM, os.X_OK):
        missing.append("%s (Debian package chromium)" % CHROMIUM)
    if node:
        try:
            v = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
            if int(v.lstrip("v").split(".")[0]) < NODE_MIN:
                missing.append("Node.js %d or newer (playwright-core needs it; %s has %s)" % (NODE_MIN, node, v))
        except (OSError, ValueError, subprocess.TimeoutExpired) as e:
            missing.append("a working node (%s --version: %s)" % (node, e))
    if missing:
        raise BrowserMissing("the browser tests need %s: %s" % (", ".join(missing), INSTALL_HINT))
    return node


class Browser:
    """One headless Chromium with one page. Use as a context manager or call close()."""

    def __init__(self, width=1280, height=800, log_dir=None):
        node = check_prerequisites()
        self.profile = tempfile.mkdtemp(prefix="nave-ui-profile-")
        self.log_dir = log_dir or self.profile
        os.makedirs(self.log_dir, exist_ok=True)
        self.stderr_path = os.path.join(self.log_dir, "driver.stderr.log")
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([node, os.path.join(UI_DIR, "driver.mjs")], cwd=UI_DIR,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
        self._buf = b""
        self._id = 0
        try:
            r = self.cmd("launch", user_data_dir=self.profile, width=width, height=height, timeout=60000)
        except Exception:
            self.close()
            raise
        self.version = r.get("version")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- the protocol ----------------------------------------------------------------
    def cmd(self, command, **args):
        """Send one command; returns the answer (a dict) or raises BrowserError."""
        name = command
        if self.proc is None or self.proc.poll() is not None:
            raise BrowserError("the driver is not running (%s)" % self._stderr_tail())
        self._id += 1
        req = dict(args, id=self._id, cmd=name)
        self.proc.stdin.write((json.dumps(req) + "\n").encode())
        self.proc.stdin.flush()
        wait_s = (args.get("timeout") or 10000) / 1000.0 + 30
        ans = self._read_line(wait_s, name)
        if ans.get("id") != self._id:
            raise BrowserError("driver answered id %r to %s #%d" % (ans.get("id"), name, self._id))
        if not ans.get("ok"):
            raise BrowserError("%s %s: %s" % (name, _short(args), ans.get("error")))
        return ans

    def _read_line(self, wait_s, name):
        deadline = time.monotonic() + wait_s
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.proc.kill()
                raise BrowserError("driver gave no answer to %s within %.0fs (killed)" % (name, wait_s))
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise BrowserError("driver exited during %s: %s" % (name, self._stderr_tail()))
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            raise BrowserError("driver wrote a line that is not JSON: %r" % line[:500]) from None

    def _stderr_tail(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()[-3000:] or "no stderr"
        except OSError:
            return "no stderr"

    def close(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    self.proc.stdin.write(b'{"id": 0, "cmd": "close"}\n')
                    self.proc.stdin.flush()
                    self.proc.stdin.close()
                except OSError:
                    pass
                try:
                    self.proc.wait(20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            for f in (self.proc.stdout, self.proc.stdin):
                try:
                    f.close()
                except OSError:
                    pass
            self.proc = None
        if self._stderr:
            self._stderr.close()
            self._stderr = None
        shutil.rmtree(self.profile, ignore_errors=True)

    # --- commands ------------------------------------------------------------------------
    def goto(self, url, wait=None, timeout=15000, wait_until="load"):
        """Navigate; with wait (a dict of wait_for arguments) also wait for that. Returns the answer
        (ms: navigation plus the wait)."""
        return self.cmd("goto", url=url, wait=wait, timeout=timeout, wait_until=wait_until)

    def reload(self, timeout=15000):
        return self.cmd("reload", timeout=timeout)

    def url(self):
        return self.cmd("url")["url"]

    def fill(self, selector, value, timeout=10000):
        return self.cmd("fill", selector=selector, value=value, timeout=timeout)

    def click(self, selector, timeout=10000):
        return self.cmd("click", selector=selector, timeout=timeout)

    def select(self, selector, value, timeout=10000):
        return self.cmd("select", selector=selector, value=value, timeout=timeout)

    def press(self, key, selector=None, timeout=10000):
        return self.cmd("press", key=key, selector=selector, timeout=timeout)

    def wait_for(self, selector, text=None, regex=None, timeout=10000, state=None, changed_from=None,
                 min_count=None, flags=None):
        """Until selector is visible (or in state) with text/regex; returns its text."""
        args = {"selector": selector, "timeout": timeout}
        for k, v in (("text", text), ("regex", regex), ("state", state), ("changed_from", changed_from),
                     ("min_count", min_count), ("flags", flags)):
            if v is not None:
                args[k] = v
        return self.cmd("wait_for", **args).get("text")

    def text(self, selector, timeout=5000):
        return self.cmd("text", selector=selector, timeout=timeout)["text"]

    def texts(self, selector):
        return self.cmd("text", selector=selector, all=True)["text"]

    def attr(self, selector, name):
        return self.cmd("attr", selector=selector, name=name)["value"]

    def attrs(self, selector, name):
        return self.cmd("attr", selector=selector, name=name, all=True)["value"]

    def count(self, selector):
        return self.cmd("count", selector=selector)["count"]

    def visible(self, selector):
        return self.cmd("visible", selector=selector)["visible"]

    def box(self, selector):
        return self.cmd("box", selector=selector)["box"]

    def viewport(self, width, height):
        return self.cmd("viewport", width=width, height=height)

    def screenshot(self, path, full_page=False):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return self.cmd("screenshot", path=path, full_page=full_page, timeout=20000)["path"]

    def console_errors(self, clear=False):
        return self.cmd("console_errors", clear=clear)

    def mark(self, value):
        return self.cmd("mark", value=value)

    def mark_get(self):
        return self.cmd("mark_get")


def tid(hook, **attrs):
    """The CSS selector of a data-testid hook, with data-* attributes: tid("cluster-row", name="c4")."""
    s = '[data-testid="%s"]' % hook
    for k, v in attrs.items():
        s += '[data-%s="%s"]' % (k.replace("_", "-"), str(v).replace('"', '\\"'))
    return s


def _short(args, n=300):
    s = json.dumps({k: v for k, v in args.items() if k != "timeout"})
    return s if len(s) <= n else s[:n] + "..."
