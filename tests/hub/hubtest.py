"""hubtest.py - drive a real nave-hub from integration tests and benchmarks.

A Hub is a fresh data directory (nave-hub init --listen 127.0.0.1:0) and, once
started, a `nave-hub serve` on a free port (the hub picks it and prints
"ready: https://127.0.0.1:PORT"; it rewrites admin.kubeconfig with that port).
Requests go over HTTPS with the hub CA, as the admin (bearer token), with a
bootstrap token, or with a client certificate. kubectl runs with a fresh HOME
so its discovery cache never leaks between tests. CSRs and keys are made with
the openssl command line, independently of the hub's own x509 code.

Environment: NAVE_HUB (the nave-hub binary), NAVE_TEST_DATA (tests/data).
"""
import http.client
import json
import os
import select
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time

HUB = os.environ.get("NAVE_HUB", "nave-hub")
DATA = os.environ.get("NAVE_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
KUBECTL = "/usr/bin/kubectl"
START_TIMEOUT = 20.0


class HubError(AssertionError):
    pass


def wait_for(pred, timeout=10.0, step=0.05, what="condition"):
    """Poll pred() until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise HubError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(step)


class Hub:
    def __init__(self, init_args=(), serve_args=(), do_init=True):
        self.dir = tempfile.mkdtemp(prefix="nave-hub-test-")
        self.data = os.path.join(self.dir, "d")
        self.home = os.path.join(self.dir, "home")
        os.makedirs(self.home)
        self.serve_args = list(serve_args)
        self.proc = None
        self.port = None
        self.logpath = os.path.join(self.dir, "serve.log")
        if do_init:
            r = self.init(*init_args)
            if r.returncode != 0:
                raise HubError("init failed: %s" % r.stderr)

    # --- process -------------------------------------------------------
    def init(self, *args):
        return subprocess.run([HUB, "init", "--data-dir", self.data, "--listen", "127.0.0.1:0"] + list(args),
                              capture_output=True, text=True, timeout=60)

    def start(self, extra=()):
        log = open(self.logpath, "ab")
        self.proc = subprocess.Popen([HUB, "serve", "--data-dir", self.data] + self.serve_args + list(extra),
                                     stdout=subprocess.PIPE, stderr=log)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        line = b""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HubError("nave-hub serve exited with %d:\n%s" % (self.proc.returncode, self.log_tail()))
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                line = self.proc.stdout.readline()
                if line.startswith(b"ready: "):
                    self.port = int(line.strip().rsplit(b":", 1)[1])
                    self.token = self.admin_token()
                    return self
        raise HubError("nave-hub serve did not say ready in %.0fs:\n%s" % (START_TIMEOUT, self.log_tail()))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise HubError("nave-hub did not stop within 15 s of SIGTERM")
        rc = self.proc.returncode if self.proc else 0
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None
        return rc

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc.stdout.close()
        self.proc = None

    def cleanup(self):
        try:
            if self.proc:
                self.stop()
        finally:
            if os.environ.get("NAVE_KEEP_TEST_DIRS"):
                sys.stderr.write("kept %s\n" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, n=40):
        try:
            with open(self.logpath, "r", errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    # --- files -----------------------------------------------------------
    def path(self, name):
        return os.path.join(self.data, name)

    def admin_token(self):
        with open(self.path("admin.kubeconfig")) as f:
            for line in f:
                if line.strip().startswith("token:"):
                    return line.split(":", 1)[1].strip()
        raise HubError("no token in admin.kubeconfig")

    # --- HTTP -------------------------------------------------------------
    def context(self, cert=None, key=None):
        ctx = ssl.create_default_context(cafile=self.path("ca.crt"))
        if cert:
            ctx.load_cert_chain(cert, key)
        return ctx

    def conn(self, cert=None, key=None, timeout=30):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context(cert, key),
                                           timeout=timeout)

    def request(self, method, path, body=None, token="admin", cert=None, key=None, ctype=None,
                headers=None, conn=None):
        """Returns (status, parsed JSON or text). token: "admin", None, or a string."""
        h = dict(headers or {})
        if token == "admin":
            h["Authorization"] = "Bearer " + self.token
        elif token:
            h["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            if isinstance(body, (dict, list)):
                data = json.dumps(body).encode()
                h.setdefault("Content-Type", ctype or "application/json")
            else:
                data = body.encode() if isinstance(body, str) else body
                if ctype:
                    h["Content-Type"] = ctype
        elif method in ("POST", "PUT", "PATCH"):
            data = b""
        own = conn is None
        c = conn or self.conn(cert, key)
        try:
            c.request(method, path, body=data, headers=h)
            resp = c.getresponse()
            raw = resp.read()
        finally:
            if own:
                c.close()
        text = raw.decode(errors="replace")
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text

    # --- kubectl ------------------------------------------------------------
    def kubectl(self, *args, input=None, check=True, timeout=60):
        env = dict(os.environ, HOME=self.home)
        env.pop("KUBECONFIG", None)
        r = subprocess.run([KUBECTL, "--kubeconfig", self.path("admin.kubeconfig")] + list(args), input=input,
                           capture_output=True, text=True, env=env, timeout=timeout)
        if check and r.returncode != 0:
            raise HubError("kubectl %s failed (%d):\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def kubectl_popen(self, *args):
        env = dict(os.environ, HOME=self.home)
        env.pop("KUBECONFIG", None)
        return subprocess.Popen([KUBECTL, "--kubeconfig", self.path("admin.kubeconfig")] + list(args),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)

    # --- registration helpers -------------------------------------------------
    def create_token(self, **kw):
        st, body = self.request("POST", "/nave/v1/tokens", kw)
        if st != 201:
            raise HubError("token create: %d %s" % (st, body))
        return body

    def register(self, token, cluster, csr_pem, labels=None, claims=None):
        body = {"clusterName": cluster, "csr": csr_pem}
        if labels is not None:
            body["labels"] = labels
        if claims is not None:
            body["claims"] = claims
        return self.request("POST", "/nave/v1/registrations", body, token=token)

    def join(self, cluster, agent="agent1"):
        """Token, registration, accept, poll: returns (cert path, key path, serial)."""
        tok = self.create_token(ttlSeconds=600)["token"]
        key, csr = make_csr(self.dir, cluster, agent)
        st, reg = self.register(tok, cluster, csr)
        if st != 201:
            raise HubError("register %s: %d %s" % (cluster, st, reg))
        st, mc = self.request("POST", "/nave/v1/clusters/%s/accept" % cluster)
        if st != 200:
            raise HubError("accept %s: %d %s" % (cluster, st, mc))
        st, reg = self.request("GET", "/nave/v1/registrations/" + reg["id"], token=tok)
        if st != 200 or reg.get("phase") != "Approved":
            raise HubError("poll %s: %d %s" % (cluster, st, reg))
        cert = os.path.join(self.dir, "%s-%s.crt" % (cluster, agent))
        with open(cert, "w") as f:
            f.write(reg["certificate"])
        return cert, key, cert_serial(cert)


def openssl(*args, input=None):
    r = subprocess.run(["openssl"] + list(args), input=input, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise HubError("openssl %s: %s" % (" ".join(args), r.stderr))
    return r.stdout


_n = [0]


def make_csr(dirpath, cluster, agent="agent1", cn=None, org=None, rsa=False, curve="prime256v1"):
    """A key and a CSR made by openssl; returns (key path, CSR PEM)."""
    _n[0] += 1
    key = os.path.join(dirpath, "k%d-%s.key" % (_n[0], cluster))
    if rsa:
        openssl("genrsa", "-out", key, "2048")
    else:
        openssl("ecparam", "-name", curve, "-genkey", "-noout", "-out", key)
    if cn is None:
        cn = "system:open-cluster-management:%s:%s" % (cluster, agent)
    if org is None:
        org = "system:open-cluster-management:%s" % cluster
    subj = ("/O=%s" % org if org else "") + "/CN=%s" % cn
    csr = openssl("req", "-new", "-key", key, "-subj", subj, "-sha256")
    return key, csr


def cert_serial(path):
    out = openssl("x509", "-in", path, "-noout", "-serial")
    return out.strip().split("=", 1)[1].lower().lstrip("0")


def check(c, msg):
    if not c:
        raise AssertionError(msg)


def cond(obj, ctype):
    """The condition of type ctype in obj's status.conditions, or None."""
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return None


def with_hub(fn, factory=None):
    """A test running fn(hub) on a started hub (factory() makes it; default Hub()); the hub must stop with 0;
    its log is printed when anything fails; its directory is removed."""
    def run():
        h = factory() if factory else Hub()
        try:
            h.start()
            fn(h)
            if h.proc:
                rc = h.stop()
                check(rc == 0, "nave-hub exited with %d:\n%s" % (rc, h.log_tail()))
        except BaseException:
            sys.stderr.write(h.log_tail(60))
            raise
        finally:
            h.cleanup()
    run.__name__ = fn.__name__
    return run


def run_tests(tests, argv):
    """Run the test named argv[1] (or all) from the dict tests; exit 0 or 1."""
    names = argv[1:] or sorted(tests)
    failed = 0
    for name in names:
        fn = tests.get(name)
        if not fn:
            print("unknown test %s (have: %s)" % (name, ", ".join(sorted(tests))))
            return 2
        t0 = time.monotonic()
        try:
            fn()
            print("PASS %s (%.1fs)" % (name, time.monotonic() - t0))
        except Exception as e:  # noqa: BLE001 - report every failure the same way
            failed += 1
            import traceback
            traceback.print_exc()
            print("FAIL %s: %s" % (name, e))
    return 1 if failed else 0
