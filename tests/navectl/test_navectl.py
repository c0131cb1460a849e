"""Integration tests of navectl, driven as a user drives it.

Each class is one meson test (they run in parallel):
  Offline   no server: --help, usage errors naming the flag, no kubeconfig,
            an unreachable hub, malformed input files (file and line);
  Hub       a real `nave-hub init` + `nave-hub serve` on a free port: tokens,
            a registration made with an openssl CSR, cluster list/accept/deny/
            label, apply -f of OCM examples, get in every output format, -w,
            describe, delete, exit codes for NotFound and a bad credential;
  Kubesim   nave-kubesim, a Kubernetes-style API: get/apply/delete/-o yaml
            work against any such server.

Every process gets a fresh HOME and no KUBECONFIG unless a test sets one, so
nothing of the machine's configuration leaks in. Servers pick their own free
loopback ports and are stopped (SIGTERM, then SIGKILL) in tearDownClass.

Environment: NAVECTL, NAVE_HUB, NAVE_KUBESIM (binaries), NAVE_TEST_DATA
(tests/data). Run one class: /usr/bin/python3 test_navectl.py Hub
"""
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import ssl
import yaml

NAVECTL = os.environ.get("NAVECTL", "navectl")
HUB = os.environ.get("NAVE_HUB", "nave-hub")
KUBESIM = os.environ.get("NAVE_KUBESIM", "nave-kubesim")
DATA = os.path.join(os.environ.get("NAVE_TEST_DATA",
                                   os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")),
                    "navectl")
START_TIMEOUT = 30.0

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


def wait_for(pred, timeout=15.0, step=0.05, what="condition"):
    """Poll pred() until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(step)


def free_port():
    """A loopback port nobody listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def data(name):
    return os.path.join(DATA, name)


def openssl(*args, input=None):
    r = subprocess.run(["openssl"] + list(args), input=input, capture_output=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), r.stderr.decode(errors="replace")))
    return r.stdout


def ca_pin(ca_path):
    """sha256 of the CA's SubjectPublicKeyInfo, computed by openssl."""
    pub = openssl("x509", "-pubkey", "-noout", "-in", ca_path)
    der = openssl("pkey", "-pubin", "-outform", "der", input=pub)
    import hashlib
    return "sha256:" + hashlib.sha256(der).hexdigest()


class Env:
    """A scratch directory with an empty HOME for navectl runs."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="navectl-test-")
        self.home = os.path.join(self.dir, "home")
        os.makedirs(self.home)

    def env(self, kubeconfig=None, extra=None):
        e = dict(os.environ, HOME=self.home)
        e.pop("KUBECONFIG", None)
        if kubeconfig:
            e["KUBECONFIG"] = kubeconfig
        e.update(extra or {})
        return e

    def run(self, *args, kubeconfig=None, input=None, extra_env=None, timeout=60):
        return subprocess.run([NAVECTL] + list(args), input=input, capture_output=True, text=True,
                              env=self.env(kubeconfig, extra_env), timeout=timeout)

    def popen(self, *args, kubeconfig=None):
        return subprocess.Popen([NAVECTL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=self.env(kubeconfig))

    def write(self, name, text):
        p = os.path.join(self.dir, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def cleanup(self):
        if os.environ.get("NAVE_KEEP_TEST_DIRS"):
            sys.stderr.write("kept %s\n" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


class Server:
    """A child process that prints a line starting with "ready" when it serves."""

    def __init__(self, argv, log):
        self.log = log
        with open(log, "ab") as f:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=f)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %d:\n%s" % (argv[0], self.proc.returncode, self.tail()))
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                line = self.proc.stdout.readline().decode(errors="replace")
                if line.startswith("ready"):
                    self.ready_line = line.strip()
                    return
        self.stop()
        raise AssertionError("%s did not say ready within %.0fs:\n%s" % (argv[0], START_TIMEOUT, self.tail()))

    def tail(self, n=30):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


def table(text):
    """Parse kubectl-style table output into a list of dicts keyed by header."""
    lines = [l for l in text.splitlines() if l.strip()]
    if not lines:
        return []
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"(?:(?<=\s{3})|^)\S", header)]
    names = [header[s:e].strip() for s, e in zip(starts, starts[1:] + [None])]
    rows = []
    for l in lines[1:]:
        cells = [l[s:e].strip() if s < len(l) else "" for s, e in zip(starts, starts[1:] + [None])]
        rows.append(dict(zip(names, cells)))
    return rows


class Base(unittest.TestCase):
    def ok(self, r, what=""):
        self.assertEqual(r.returncode, 0, "%s: exit %d\nstdout:\n%s\nstderr:\n%s" %
                         (what, r.returncode, r.stdout, r.stderr))
        return r

    def fails(self, r, code, *needles):
        self.assertEqual(r.returncode, code, "expected exit %d, got %d\nstdout:\n%s\nstderr:\n%s" %
                         (code, r.returncode, r.stdout, r.stderr))
        for n in needles:
            self.assertIn(n, r.stderr, "stderr lacks %r:\n%s" % (n, r.stderr))
        return r


# --------------------------------------------------------------------------------------------
class Offline(Base):
    """No server at all."""

    @classmethod
    def setUpClass(cls):
        cls.e = Env()

    @classmethod
    def tearDownClass(cls):
        cls.e.cleanup()

    def test_help(self):
        r = self.ok(self.e.run("--help"))
        for needle in ("token", "cluster", "apply", "describe", "Exit status", "cannot reach or authenticate",
                       "~/.nave/admin.kubeconfig", "/var/lib/nave/admin.kubeconfig"):
            self.assertIn(needle, r.stdout)
        for cmd in ("get", "apply", "delete", "describe", "token", "cluster", "version"):
            r = self.ok(self.e.run(cmd, "--help"), cmd)
            self.assertIn("Usage: navectl %s" % cmd, r.stdout)
            self.assertIn("Exit status", r.stdout)
            self.assertEqual(self.ok(self.e.run("help", cmd)).stdout, r.stdout)
        self.assertIn("navectl", self.ok(self.e.run("--version")).stdout)
        self.assertIn("Client Version", self.ok(self.e.run("version", "--client")).stdout)

    def test_usage_errors(self):
        self.fails(self.e.run(), EXIT_USAGE)
        self.fails(self.e.run("frobnicate"), EXIT_USAGE, "unknown command \"frobnicate\"")
        cases = [
            (["get", "mcl", "--bogus"], "--bogus"),
            (["get", "mcl", "-x"], "-x"),
            (["get", "mcl", "-o"], "-o needs a value"),
            (["get", "mcl", "-o", "tablez"], "tablez"),
            (["get"], "which kind"),
            (["apply"], "-f FILE is required"),
            (["apply", "-f", data("hello-cluster1.yaml"), "extra"], "unexpected argument"),
            (["apply", "--force"], "unknown flag --force"),
            (["get", "mw", "--ignore"], "unknown flag --ignore"),
            (["get", "mw", "--output=json", "--watch-onl"], "unknown flag --watch-onl"),
            (["delete", "mw"], "which mw"),
            (["delete", "-f", "x.yaml", "mw", "a"], "either -f FILE or KIND NAME"),
            (["token"], "create, list or revoke"),
            (["token", "create", "--ttl", "forever"], "--ttl"),
            (["token", "create", "--ttl", "10s"], "--ttl"),
            (["token", "create", "--uses", "-1"], "--uses"),
            (["token", "create", "--uses", "many"], "--uses"),
            (["token", "create", "--cluster-name", "Not_A_Label"], "--cluster-name"),
            (["token", "revoke"], "revoke which token"),
            (["token", "revoke", "BAD!"], "not a token ID"),
            (["token", "frob"], "unknown subcommand"),
            (["cluster"], "list, get, accept, deny or label"),
            (["cluster", "accept"], "accept which cluster"),
            (["cluster", "accept", "Bad_Name"], "not a cluster name"),
            (["cluster", "label", "c1"], "KEY=VALUE"),
            (["cluster", "label", "c1", "bad key=x"], "not a valid label"),
            (["cluster", "label", "c1", "k=" + "v" * 64], "not a valid label"),
            (["cluster", "label", "c1", "novalue"], "KEY=VALUE"),
            (["version", "-o", "wide"], "json or yaml"),
            (["--request-timeout", "soon", "get", "mcl"], "--request-timeout"),
        ]
        for args, needle in cases:
            r = self.e.run(*args)
            self.fails(r, EXIT_USAGE, needle)
            self.assertIn("--help", r.stderr, args)

    def test_no_kubeconfig(self):
        r = self.fails(self.e.run("get", "mcl"), EXIT_UNREACHABLE, "no kubeconfig found", "nave-hub init",
                       "--kubeconfig")
        self.assertEqual(r.stdout, "")
        self.fails(self.e.run("--kubeconfig", os.path.join(self.e.dir, "nope"), "token", "list"),
                   EXIT_UNREACHABLE, "nope", "--kubeconfig")
        broken = self.e.write("broken.kubeconfig", "apiVersion: v1\nkind: Config\nclusters: [\n")
        self.fails(self.e.run("get", "mcl", kubeconfig=broken), EXIT_UNREACHABLE, "broken.kubeconfig")

    def test_unreachable_hub(self):
        kc = self.e.write("closed.kubeconfig",
                          "apiVersion: v1\nkind: Config\n"
                          "clusters: [{name: h, cluster: {server: 'https://127.0.0.1:%d', "
                          "insecure-skip-tls-verify: true}}]\n"
                          "users: [{name: u, user: {token: abc}}]\n"
                          "contexts: [{name: c, context: {cluster: h, user: u}}]\n"
                          "current-context: c\n" % free_port())
        for args in (["get", "mcl"], ["token", "list"], ["cluster", "accept", "c1"],
                     ["apply", "-f", data("hello-cluster1.yaml")], ["delete", "mw", "x", "-n", "c1"],
                     ["describe", "mcl", "c1"], ["token", "create"]):
            t0 = time.monotonic()
            r = self.fails(self.e.run(*args, kubeconfig=kc), EXIT_UNREACHABLE, "cannot reach", "nave-hub serve")
            self.assertLess(time.monotonic() - t0, 20, args)
            self.assertNotIn("Traceback", r.stderr)
        r = self.fails(self.e.run("version", kubeconfig=kc), EXIT_UNREACHABLE, "cannot reach")
        self.assertIn("Client Version", r.stdout)

    def test_malformed_inputs(self):
        """Every malformed input names its file and line, and nothing is sent (no kubeconfig needed)."""
        cases = [
            ("bad-nokind.yaml", ["bad-nokind.yaml:7:", "document 2", "kind is missing"]),
            ("bad-indent.yaml", ["bad-indent.yaml:5:", "mapping values are not allowed"]),
            ("bad-tab.yaml", ["bad-tab.yaml:4:", "tabs"]),
            ("bad.json", ["bad.json:4:", "invalid JSON"]),
            ("bad-scalar.yaml", ["bad-scalar.yaml:5:", "document 2", "expected an object"]),
            ("bad-duplicate-key.yaml", ["bad-duplicate-key.yaml:5:", "duplicate", "name"]),
            ("ocm-feedback-wellknown-jsonpaths.yaml", ["ocm-feedback-wellknown-jsonpaths.yaml:1:",
                                                       "metadata.name is missing"]),
            ("empty.yaml", ["no objects passed to"]),
            ("does-not-exist.yaml", ["does-not-exist.yaml", "does not exist"]),
        ]
        for name, needles in cases:
            for verb in ("apply", "delete"):
                r = self.fails(self.e.run(verb, "-f", data(name)), EXIT_FAILED, *needles)
                self.assertIn("hint:", r.stderr)
                self.assertEqual(r.stdout, "")
        # the same through stdin
        with open(data("bad-nokind.yaml")) as f:
            self.fails(self.e.run("apply", "-f", "-", input=f.read()), EXIT_FAILED, "<stdin>:7:", "kind is missing")
        # a directory: its .yaml/.yml/.json files only (works/notes.txt is not YAML and is skipped),
        # and a malformed file in it is named
        d = os.path.join(self.e.dir, "dir")
        os.makedirs(d)
        shutil.copy(data("works/10-web.yaml"), d)
        shutil.copy(data("bad-indent.yaml"), os.path.join(d, "sub.yml"))
        self.fails(self.e.run("apply", "-f", d), EXIT_FAILED, "sub.yml:5:")


# --------------------------------------------------------------------------------------------
class Hub(Base):
    """A real hub."""

    @classmethod
    def setUpClass(cls):
        cls.e = Env()
        cls.data = os.path.join(cls.e.dir, "hub")
        r = subprocess.run([HUB, "init", "--data-dir", cls.data, "--listen", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError("nave-hub init failed (%d): %s%s" % (r.returncode, r.stdout, r.stderr))
        cls.hub = Server([HUB, "serve", "--data-dir", cls.data], os.path.join(cls.e.dir, "serve.log"))
        cls.url = cls.hub.ready_line.split(" ", 1)[1]
        cls.port = int(cls.url.rsplit(":", 1)[1])
        cls.kc = os.path.join(cls.data, "admin.kubeconfig")
        cls.ca = os.path.join(cls.data, "ca.crt")
        cls.ssl = ssl.create_default_context(cafile=cls.ca)

    @classmethod
    def tearDownClass(cls):
        cls.hub.stop()
        cls.e.cleanup()

    def nctl(self, *args, **kw):
        kw.setdefault("kubeconfig", self.kc)
        return self.e.run(*args, **kw)

    def json_of(self, *args):
        return json.loads(self.ok(self.nctl(*args)).stdout)

    def http(self, method, path, body=None, token=None):
        req = urllib.request.Request("https://127.0.0.1:%d%s" % (self.port, path), method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, context=self.ssl, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def new_token(self, *extra):
        r = self.ok(self.nctl("token", "create", *extra))
        m = re.search(r"--token ([a-z0-9]{6}\.[a-z0-9]{16}) ", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        return m.group(1)

    def register(self, token, cluster, labels=None):
        key = os.path.join(self.e.dir, cluster + ".key")
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
        csr = openssl("req", "-new", "-key", key, "-sha256", "-subj",
                      "/O=system:open-cluster-management:%s/CN=system:open-cluster-management:%s:agent1"
                      % (cluster, cluster)).decode()
        return self.http("POST", "/nave/v1/registrations",
                         {"clusterName": cluster, "csr": csr, "labels": labels or {},
                          "claims": [{"name": "kubeversion.open-cluster-management.io", "value": "v1.32.0"}]},
                         token=token)

    # --- tests ----------------------------------------------------------------------------
    def test_version(self):
        r = self.ok(self.nctl("version"))
        self.assertIn("Client Version: navectl", r.stdout)
        self.assertIn("Server Version:", r.stdout)
        v = self.json_of("version", "-o", "json")
        self.assertIn("naveVersion", v["clientVersion"])
        self.assertIn("gitVersion", v["serverVersion"])

    def test_kubeconfig_sources(self):
        # --kubeconfig, KUBECONFIG and ~/.nave/admin.kubeconfig all find the hub
        self.ok(self.e.run("--kubeconfig", self.kc, "get", "mcl"))
        self.ok(self.e.run("get", "mcl", kubeconfig=self.kc))
        home = os.path.join(self.e.dir, "home2")
        os.makedirs(os.path.join(home, ".nave"))
        shutil.copy(self.kc, os.path.join(home, ".nave", "admin.kubeconfig"))
        self.ok(self.e.run("token", "list", extra_env={"HOME": home}))

    def test_tokens(self):
        pin = ca_pin(self.ca)
        r = self.ok(self.nctl("token", "create", "--ttl", "1h", "--uses", "2", "--description", "lab clusters"))
        line = r.stdout.strip()
        m = re.fullmatch(r"nave-klusterlet join --hub (\S+) --token ([a-z0-9]{6})\.([a-z0-9]{16}) "
                         r"--ca-hash (sha256:[0-9a-f]{64}) --cluster-name <name>", line)
        self.assertIsNotNone(m, line)
        self.assertEqual(m.group(1), self.url)
        self.assertEqual(m.group(4), pin)
        self.assertIn("expires", r.stderr)
        tid = m.group(2)

        j = self.json_of("token", "create", "-o", "json", "--cluster-name", "edge-7")
        self.assertEqual(j["caHash"], pin)
        self.assertTrue(j["joinCommand"].endswith("--cluster-name edge-7"), j)
        self.assertIn(j["token"], j["joinCommand"])
        y = yaml.safe_load(self.ok(self.nctl("token", "create", "-o", "yaml")).stdout)
        self.assertEqual(y["caHash"], pin)

        rows = table(self.ok(self.nctl("token", "list")).stdout)
        byname = {row["NAME"]: row for row in rows}
        self.assertIn(tid, byname)
        self.assertEqual(byname[tid]["LIMIT"], "2")
        self.assertEqual(byname[tid]["DESCRIPTION"], "lab clusters")
        items = {i["metadata"]["name"]: i for i in self.json_of("token", "list", "-o", "json")["items"]}
        self.assertEqual(items[tid]["spec"]["usageLimit"], 2)
        self.assertNotIn("secret", json.dumps(items[tid]).replace("secretHash", ""))
        self.assertIn("bootstraptoken.nave.dev/" + tid, self.ok(self.nctl("token", "list", "-o", "name")).stdout)
        self.ok(self.nctl("get", "bt", tid))

        r = self.ok(self.nctl("token", "revoke", tid))
        self.assertIn('token "%s" revoked' % tid, r.stdout)
        items = {i["metadata"]["name"]: i for i in self.json_of("token", "list", "-o", "json")["items"]}
        self.assertTrue(items[tid]["spec"]["revoked"])
        # the revoked token no longer registers
        code, body = self.register(m.group(2) + "." + m.group(3), "revoked-token-cluster")
        self.assertEqual(code, 401, body)
        self.fails(self.nctl("token", "revoke", "zzzzzz"), EXIT_FAILED, "zzzzzz", "token list")
        # a whole token works as the ID
        other = self.new_token()
        self.ok(self.nctl("token", "revoke", other))

    def test_registration_accept_deny_label(self):
        tok = self.new_token()
        code, reg = self.register(tok, "edge1", labels={"region": "eu"})
        self.assertEqual(code, 201, reg)
        self.assertEqual(reg["phase"], "Pending")

        rows = {r["NAME"]: r for r in table(self.ok(self.nctl("cluster", "list")).stdout)}
        self.assertIn("edge1", rows)
        self.assertEqual(rows["edge1"]["HUB ACCEPTED"], "false")
        mc = self.json_of("cluster", "get", "edge1", "-o", "json")
        self.assertFalse(mc["spec"]["hubAcceptsClient"])
        self.assertEqual(mc["metadata"]["labels"]["region"], "eu")

        r = self.ok(self.nctl("cluster", "accept", "edge1"))
        self.assertIn('managedcluster "edge1" accepted', r.stdout)
        mc = self.json_of("get", "managedcluster", "edge1", "-o", "json")
        self.assertTrue(mc["spec"]["hubAcceptsClient"])
        conds = {c["type"]: c for c in mc["status"]["conditions"]}
        self.assertEqual(conds["HubAcceptedManagedCluster"]["status"], "True")
        rows = {r["NAME"]: r for r in table(self.ok(self.nctl("cluster", "list")).stdout)}
        self.assertEqual(rows["edge1"]["HUB ACCEPTED"], "true")
        code, reg2 = self.http("GET", "/nave/v1/registrations/" + reg["id"], token=tok)
        self.assertEqual((code, reg2["phase"]), (200, "Approved"), reg2)
        cert = self.e.write("edge1.crt", reg2["certificate"])
        openssl("verify", "-CAfile", self.ca, cert)
        d = self.ok(self.nctl("describe", "csr", reg["id"])).stdout
        for needle in ("Subject:", "CN=system:open-cluster-management:edge1:agent1",
                       "O=system:open-cluster-management:edge1", "Certificate:          serial ",
                       "Approved", "HubClusterAdminAccepted"):
            self.assertIn(needle, d)

        # describe: metadata, labels, conditions with reasons and messages, claims
        d = self.ok(self.nctl("describe", "mcl", "edge1")).stdout
        for needle in ("Name:", "edge1", "Labels:", "region=eu", "HubAcceptedManagedCluster",
                       "HubClusterAdminAccepted", "Hub Accepts Client:", "kubeversion.open-cluster-management.io"):
            self.assertIn(needle, d)

        # labels
        self.assertIn("labeled", self.ok(self.nctl("cluster", "label", "edge1", "env=prod", "tier=edge")).stdout)
        labels = self.json_of("cluster", "get", "edge1", "-o", "json")["metadata"]["labels"]
        self.assertEqual((labels["env"], labels["tier"], labels["region"]), ("prod", "edge", "eu"))
        self.fails(self.nctl("cluster", "label", "edge1", "env=dev"), EXIT_FAILED, "--overwrite")
        self.ok(self.nctl("cluster", "label", "edge1", "env=dev", "--overwrite"))
        self.ok(self.nctl("cluster", "label", "edge1", "tier-"))
        labels = self.json_of("cluster", "get", "edge1", "-o", "json")["metadata"]["labels"]
        self.assertEqual(labels["env"], "dev")
        self.assertNotIn("tier", labels)
        self.assertIn("not labeled", self.ok(self.nctl("cluster", "label", "edge1", "env=dev")).stdout)
        self.assertEqual(self.ok(self.nctl("get", "mcl", "-l", "env=dev", "-o", "name")).stdout,
                         "managedcluster.cluster.open-cluster-management.io/edge1\n")
        r = self.ok(self.nctl("cluster", "list", "--show-labels"))
        self.assertIn("env=dev", table(r.stdout)[0]["LABELS"] if table(r.stdout) else "")

        # deny
        r = self.ok(self.nctl("cluster", "deny", "edge1"))
        self.assertIn('managedcluster "edge1" denied', r.stdout)
        mc = self.json_of("cluster", "get", "edge1", "-o", "json")
        self.assertFalse(mc["spec"]["hubAcceptsClient"])
        conds = {c["type"]: c for c in mc["status"]["conditions"]}
        self.assertEqual(conds["HubDeniedManagedCluster"]["status"], "True")
        self.assertIn("HubClusterAdminDenied", self.ok(self.nctl("describe", "mcl", "edge1")).stdout)

        for verb in ("accept", "deny"):
            self.fails(self.nctl("cluster", verb, "no-such-cluster"), EXIT_FAILED, "no-such-cluster",
                       "cluster list")
        self.fails(self.nctl("cluster", "label", "no-such-cluster", "a=b"), EXIT_FAILED, "no-such-cluster")
        self.fails(self.nctl("cluster", "get", "no-such-cluster"), EXIT_FAILED, "NotFound")

    def test_apply_get_describe_delete(self):
        f = data("ocm-multiple-manifests-sa-deployment.yaml")
        kg = "manifestwork.work.open-cluster-management.io"
        self.assertEqual(self.ok(self.nctl("apply", "-f", f)).stdout, kg + "/my-first-work created\n")
        self.assertEqual(self.ok(self.nctl("apply", "-f", f)).stdout, kg + "/my-first-work unchanged\n")
        with open(f) as src:
            changed = self.e.write("changed.yaml", src.read().replace("nginx:1.14.2", "nginx:1.25.0"))
        self.assertNotEqual(open(changed).read(), open(f).read())
        self.assertEqual(self.ok(self.nctl("apply", "-f", changed)).stdout, kg + "/my-first-work configured\n")
        with open(changed) as src:
            self.assertEqual(self.ok(self.nctl("apply", "-f", "-", input=src.read())).stdout,
                             kg + "/my-first-work unchanged\n")
        self.assertEqual(self.ok(self.nctl("apply", "-f", data("ocm-delete-orphan.yaml"))).stdout,
                         kg + "/work created\n")

        # a directory: 10-web.yaml (two documents around an empty one) and 20-cache.json
        r = self.ok(self.nctl("apply", "-f", data("works")))
        self.assertEqual(r.stdout, "%s/web created\n%s/db created\n%s/cache created\n" % (kg, kg, kg))

        # get, in every output format and with every name of the kind
        for word in ("manifestworks", "manifestwork", "mw", "ManifestWork",
                     "manifestworks.work.open-cluster-management.io"):
            rows = table(self.ok(self.nctl("get", word, "-n", "cluster1")).stdout)
            self.assertEqual(sorted(r["NAME"] for r in rows), ["my-first-work", "work"], word)
            self.assertIn("AGE", rows[0])
        self.assertIn("my-first-work", self.ok(self.nctl("get", "mw", "-n", "cluster1", "-o", "wide")).stdout)
        rows = table(self.ok(self.nctl("get", "mw", "-A")).stdout)
        self.assertEqual({(r["NAMESPACE"], r["NAME"]) for r in rows} >=
                         {("cluster1", "my-first-work"), ("cluster2", "web"), ("cluster2", "cache")}, True, rows)
        lst = self.json_of("get", "mw", "-n", "cluster2", "-o", "json")
        self.assertEqual(lst["kind"], "List")
        self.assertEqual(sorted(i["metadata"]["name"] for i in lst["items"]), ["cache", "db", "web"])
        self.assertTrue(all(i["kind"] == "ManifestWork" for i in lst["items"]))
        self.assertTrue(all("managedFields" not in i["metadata"] for i in lst["items"]))
        one = self.json_of("get", "mw", "my-first-work", "-n", "cluster1", "-o", "json")
        self.assertEqual(one["kind"], "ManifestWork")
        self.assertEqual(len(one["spec"]["workload"]["manifests"]), 2)
        y = yaml.safe_load(self.ok(self.nctl("get", "mw", "web", "-n", "cluster2", "-o", "yaml")).stdout)
        self.assertEqual(y["metadata"]["labels"], {"app": "web", "tier": "front"})
        ys = yaml.safe_load(self.ok(self.nctl("get", "mw", "-n", "cluster2", "-o", "yaml")).stdout)
        self.assertEqual(len(ys["items"]), 3)
        self.assertEqual(self.ok(self.nctl("get", "mw", "-n", "cluster2", "-l", "app in (web,db)", "-o", "name")).stdout,
                         "%s/db\n%s/web\n" % (kg, kg))
        self.assertEqual(self.ok(self.nctl("get", "mw/web", "mw/db", "-n", "cluster2", "-o", "name")).stdout,
                         "%s/web\n%s/db\n" % (kg, kg))
        r = self.ok(self.nctl("get", "mw", "web", "db", "-n", "cluster2", "--no-headers"))
        self.assertEqual([l.split()[0] for l in r.stdout.splitlines()], ["web", "db"])
        self.assertIn("managedFields", self.ok(self.nctl("get", "mw", "web", "-n", "cluster2", "-o", "json",
                                                         "--show-managed-fields")).stdout)
        r = self.ok(self.nctl("get", "mw", "-n", "empty-ns"))
        self.assertEqual(r.stdout, "")
        self.assertIn("No resources found in empty-ns namespace.", r.stderr)

        # describe: manifests, configs, conditions
        d = self.ok(self.nctl("describe", "mw", "my-first-work", "-n", "cluster1")).stdout
        for needle in ("Name:", "my-first-work", "Namespace:", "cluster1", "Manifests:", "ServiceAccount",
                       "default/my-sa", "Deployment", "Conditions:", "Resource Status:"):
            self.assertIn(needle, d)
        d = self.ok(self.nctl("describe", "mw", "work", "-n", "cluster1")).stdout
        self.assertIn("Delete Option:        Orphan", d)
        self.ok(self.nctl("apply", "-f", data("ocm-condition-rules-job.yaml")))
        d = self.ok(self.nctl("describe", "mw", "example-job", "-n", "cluster1")).stdout
        for needle in ("jobs.batch default/pi-calculation", "condition rule: WellKnownConditions Complete",
                       "batch/v1 Job default/pi-calculation"):
            self.assertIn(needle, d)
        self.ok(self.nctl("delete", "-f", data("ocm-condition-rules-job.yaml")))

        # NotFound and unknown kinds: exit 1, with what to do
        self.fails(self.nctl("get", "mw", "nope", "-n", "cluster1"), EXIT_FAILED, "NotFound", "hint:")
        self.fails(self.nctl("get", "mw", "nope", "-n", "cluster1", "-o", "json"), EXIT_FAILED, "NotFound")
        self.ok(self.nctl("get", "mw", "nope", "-n", "cluster1", "--ignore-not-found"))
        self.fails(self.nctl("describe", "mw", "nope", "-n", "cluster1"), EXIT_FAILED, "NotFound")
        self.fails(self.nctl("get", "widgets"), EXIT_FAILED, 'doesn\'t have a resource type "widgets"',
                   "managedclusters")

        # delete by name, by KIND/NAME and by file
        r = self.ok(self.nctl("delete", "mw", "my-first-work", "-n", "cluster1"))
        self.assertEqual(r.stdout, '%s "my-first-work" deleted\n' % kg)
        self.fails(self.nctl("delete", "mw", "my-first-work", "-n", "cluster1"), EXIT_FAILED, "NotFound")
        self.ok(self.nctl("delete", "mw", "my-first-work", "-n", "cluster1", "--ignore-not-found"))
        self.ok(self.nctl("delete", "mw/work", "-n", "cluster1"))
        r = self.ok(self.nctl("delete", "-f", data("works")))
        self.assertEqual(r.stdout.count("deleted"), 3)
        self.fails(self.nctl("delete", "-f", data("works")), EXIT_FAILED, "10-web.yaml:2", "NotFound")
        self.ok(self.nctl("delete", "-f", data("works"), "--ignore-not-found"))
        self.assertEqual(self.json_of("get", "mw", "-A", "-o", "json")["items"], [])

    def test_apply_refused(self):
        """Inputs the hub cannot take: clear errors with file and line, exit 1, the rest applied."""
        self.fails(self.nctl("apply", "-f", data("ocm-hello-deployment.yaml")), EXIT_FAILED,
                   "ocm-hello-deployment.yaml:1:", "metadata.namespace", "<target managed cluster>", "placeholder")
        self.fails(self.nctl("apply", "-f", data("invalid-work.yaml")), EXIT_FAILED,
                   "invalid-work.yaml:2:", "Invalid", "spec.workload.manifests[1].kind", "hint:")
        # An OCM kind the hub does not serve (ManifestWorkReplicaSet is served since issue #9).
        self.fails(self.nctl("apply", "-f", "-", input="apiVersion: addon.open-cluster-management.io/v1alpha1\n"
                             "kind: ManagedClusterAddOn\nmetadata: {name: a, namespace: cluster1}\n"),
                   EXIT_FAILED, "<stdin>:1:", "ManagedClusterAddOn")
        self.fails(self.nctl("apply", "-f", "-", input="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"),
                   EXIT_FAILED, "<stdin>:1:", 'no kind "ConfigMap" in "v1"')
        self.fails(self.nctl("apply", "-f", data("hello-cluster1.yaml"), "-n", "cluster9"), EXIT_FAILED,
                   "does not match -n cluster9")
        # one bad object among good ones: the others are applied, the status is 1
        both = self.e.write("mixed.yaml", open(data("invalid-work.yaml")).read() + "\n---\n" +
                            open(data("hello-cluster1.yaml")).read())
        r = self.fails(self.nctl("apply", "-f", both), EXIT_FAILED, "mixed.yaml:2:")
        self.assertIn("hello-work-demo created", r.stdout)
        self.ok(self.nctl("delete", "-f", data("hello-cluster1.yaml")))
        # SSA conflict with another manager, then --force-conflicts
        self.ok(self.nctl("apply", "-f", data("hello-cluster1.yaml")))
        code, body = self.http_patch_other_manager()
        self.assertIn(code, (200, 201), body)
        self.fails(self.nctl("apply", "-f", data("hello-cluster1.yaml")), EXIT_FAILED, "Conflict",
                   "--force-conflicts")
        self.assertIn("configured", self.ok(self.nctl("apply", "-f", data("hello-cluster1.yaml"),
                                                      "--force-conflicts")).stdout)
        self.ok(self.nctl("delete", "-f", data("hello-cluster1.yaml")))

    def http_patch_other_manager(self):
        """Apply the work with another field manager, changing a field navectl owns."""
        with open(data("hello-cluster1.yaml")) as f:
            obj = yaml.safe_load(f)
        obj["spec"]["workload"]["manifests"][0]["spec"]["template"]["spec"]["containers"][0]["image"] = "other:1"
        with open(self.kc) as f:
            token = [l.split(":", 1)[1].strip() for l in f if l.strip().startswith("token:")][0]
        req = urllib.request.Request(
            "https://127.0.0.1:%d/apis/work.open-cluster-management.io/v1/namespaces/cluster1/manifestworks/"
            "hello-work-demo?fieldManager=someone-else&force=true" % self.port, method="PATCH", data=json.dumps(obj).encode())
        req.add_header("Content-Type", "application/apply-patch+yaml")
        req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, context=self.ssl, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def read_until(self, proc, pred, timeout=15.0):
        """Lines of proc's stdout until pred(line) holds (select with a deadline)."""
        deadline = time.monotonic() + timeout
        seen = []
        buf = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([proc.stdout], [], [], 0.2)
            if not r:
                if proc.poll() is not None:
                    break
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                seen.append(line.decode())
                if pred(line.decode()):
                    return seen
        raise AssertionError("watch output never matched; saw %r (stderr %r)" %
                             (seen, proc.stderr.read1(65536) if proc.poll() is not None else ""))

    def test_watch(self):
        w = self.e.popen("get", "mw", "-n", "watched", "-w", kubeconfig=self.kc)
        wn = self.e.popen("get", "mw", "-n", "watched", "-w", "-o", "name", kubeconfig=self.kc)
        try:
            # the watches are up once a change made now is seen: apply until the first line arrives
            work = self.e.write("watched.yaml", open(data("hello-cluster1.yaml")).read()
                                .replace("namespace: cluster1", "namespace: watched"))
            self.ok(self.nctl("apply", "-f", work))
            lines = self.read_until(w, lambda l: l.startswith("hello-work-demo"))
            self.read_until(wn, lambda l: l.endswith("/hello-work-demo"))
            self.ok(self.nctl("delete", "-f", work))
            lines = self.read_until(w, lambda l: l.startswith("hello-work-demo"))
            self.assertTrue(lines)
            self.read_until(wn, lambda l: l.endswith("/hello-work-demo"))
            for p in (w, wn):
                p.send_signal(signal.SIGTERM)
                self.assertEqual(p.wait(15), 0)
        finally:
            for p in (w, wn):
                if p.poll() is None:
                    p.kill()
                    p.wait()
                p.stdout.close()
                p.stderr.close()

    def test_bad_credential(self):
        with open(self.kc) as f:
            text = f.read()
        bad = self.e.write("bad-token.kubeconfig", re.sub(r"token: \S+", "token: not-the-admin-token", text))
        for args in (["get", "mcl"], ["token", "create"], ["token", "list"], ["cluster", "accept", "x"],
                     ["apply", "-f", data("hello-cluster1.yaml")], ["version"]):
            self.fails(self.e.run(*args, kubeconfig=bad), EXIT_UNREACHABLE, "refused the credential",
                       "admin.kubeconfig")
        # a kubeconfig trusting another CA: the TLS check fails, exit 3
        other_ca = os.path.join(self.e.dir, "other-ca")
        os.makedirs(other_ca)
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", os.path.join(other_ca, "k"), "-out", os.path.join(other_ca, "c"), "-days", "1",
                "-subj", "/CN=other")
        import base64
        with open(os.path.join(other_ca, "c"), "rb") as f:
            b64 = base64.b64encode(f.read()).decode()
        wrong_ca = self.e.write("wrong-ca.kubeconfig",
                                re.sub(r"certificate-authority-data: \S+", "certificate-authority-data: " + b64, text))
        self.fails(self.e.run("get", "mcl", kubeconfig=wrong_ca), EXIT_UNREACHABLE, "certificate")


# --------------------------------------------------------------------------------------------
class Kubesim(Base):
    """navectl against nave-kubesim, a Kubernetes-style API server."""

    @classmethod
    def setUpClass(cls):
        cls.e = Env()
        d = os.path.join(cls.e.dir, "sim")
        cls.sim = Server([KUBESIM, "--dir", d, "--ready-delay", "200ms"], os.path.join(cls.e.dir, "sim.log"))
        cls.kc = os.path.join(d, "cluster-1", "kubeconfig")

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()
        cls.e.cleanup()

    def nctl(self, *args, **kw):
        return self.e.run(*args, kubeconfig=self.kc, **kw)

    def test_get_apply_delete(self):
        self.ok(self.nctl("version"))
        ns = {r["NAME"] for r in table(self.ok(self.nctl("get", "namespaces")).stdout)}
        self.assertIn("default", ns)
        r = self.ok(self.nctl("get", "deployments"))
        self.assertIn("No resources found in default namespace.", r.stderr)
        r = self.ok(self.nctl("apply", "-f", data("kubesim-app.yaml")))
        self.assertEqual(r.stdout, "deployment.apps/web created\nconfigmap/web-config created\n")
        self.assertIn("unchanged", self.ok(self.nctl("apply", "-f", data("kubesim-app.yaml"))).stdout)
        # the server's columns, as kubectl shows them
        wait_for(lambda: table(self.ok(self.nctl("get", "deploy")).stdout)[0].get("READY") == "2/2",
                 what="web 2/2 ready")
        row = table(self.ok(self.nctl("get", "deploy", "web", "-o", "wide")).stdout)[0]
        self.assertEqual((row["NAME"], row["IMAGES"]), ("web", "nginx:1.25"))
        y = yaml.safe_load(self.ok(self.nctl("get", "deployment", "web", "-o", "yaml")).stdout)
        self.assertEqual((y["kind"], y["spec"]["replicas"]), ("Deployment", 2))
        self.assertEqual(self.ok(self.nctl("get", "cm", "web-config", "-o", "name")).stdout, "configmap/web-config\n")
        pods = table(self.ok(self.nctl("get", "pods", "-l", "app=web")).stdout)
        self.assertEqual(len(pods), 2)
        d = self.ok(self.nctl("describe", "deploy", "web")).stdout
        for needle in ("Name:", "web", "Namespace:", "default", "Labels:", "app=web", "replicas: 2"):
            self.assertIn(needle, d)
        r = self.ok(self.nctl("delete", "-f", data("kubesim-app.yaml")))
        self.assertEqual(r.stdout, 'deployment.apps "web" deleted\nconfigmap "web-config" deleted\n')
        self.fails(self.nctl("get", "deploy", "web"), EXIT_FAILED, "NotFound")


if __name__ == "__main__":
    unittest.main(verbosity=2)
