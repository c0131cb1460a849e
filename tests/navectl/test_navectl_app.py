"""Integration tests of `navectl app` and `navectl workflow` (issue #8).

Each class is one meson test (they run in parallel):
  AppOffline  no server: --help, every wrong flag or argument a usage error
              (exit 2) naming it;
  AppKubesim  nave-kubesim serving the Application and ApplicationRevision
              CRDs, objects from tests/data/navectl/app/ with the status the
              hub's controller writes (put through the status subresource):
              golden output of app ls, status, status --tree (UTF-8 and
              ASCII), revisions and diff; diff's exit codes, its line cap and
              a property test of its LCS against a patch applier; errors for
              missing applications and revisions, and for the workflow and
              rollback endpoints a plain API server does not have;
  AppHub      a real nave-hub with one emulated cluster named "local" joined
              by a real klusterlet (tests/e2e's World): an application whose
              workflow waits at a suspend step until `workflow resume`, 409s
              for impossible transitions, revisions after an image change,
              diff of two real revisions, rollback restoring the old image
              on the cluster.

Golden files: tests/data/navectl/app/golden/*.txt; creation times are written
as YYYY-MM-DD hh:mm:ss (same width). NAVE_UPDATE_GOLDEN=1 rewrites them.

Environment: NAVECTL, NAVE_HUB, NAVE_KUBESIM, NAVE_KLUSTERLET, NAVE_TEST_DATA.
Run one class: /usr/bin/python3 test_navectl_app.py AppKubesim
"""
import json
import os
import random
import re
import ssl
import sys
import tempfile
import time
import unittest
import urllib.request

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_navectl import (EXIT_FAILED, EXIT_OK, EXIT_USAGE, KUBESIM, Base, Env,  # noqa: E402
                          Server, table, wait_for)

APP_DATA = os.path.join(os.environ.get("NAVE_TEST_DATA",
                                       os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")),
                        "navectl", "app")
GOLDEN = os.path.join(APP_DATA, "golden")
TIME_RE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC")
PLURAL = {"Application": "applications", "ApplicationRevision": "applicationrevisions"}
UTF8 = {"LANG": "C.UTF-8", "LC_ALL": "", "LC_CTYPE": ""}
ASCII = {"LANG": "C", "LC_ALL": "", "LC_CTYPE": ""}


def app_data(name):
    return os.path.join(APP_DATA, name)


def normalise(text):
    return TIME_RE.sub("YYYY-MM-DD hh:mm:ss +0000 UTC", text)


def kubeconfig_access(path):
    """(server URL, bearer token, CA file or None) of a kubeconfig written by nave-kubesim or nave-hub."""
    with open(path) as f:
        kc = yaml.safe_load(f)
    cluster = kc["clusters"][0]["cluster"]
    token = kc["users"][0]["user"]["token"]
    ctx = ssl.create_default_context()
    if cluster.get("certificate-authority-data"):
        import base64
        ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    return cluster["server"], token, ctx


def http(kc, method, path, body=None, content_type="application/json"):
    server, token, ctx = kubeconfig_access(kc)
    req = urllib.request.Request(server + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", content_type)
    req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def put_status(kc, obj):
    """Write obj's status through the status subresource, as the hub's controller does."""
    md = obj["metadata"]
    code, body = http(kc, "PATCH", "/apis/core.oam.dev/v1beta1/namespaces/%s/%s/%s/status"
                      % (md["namespace"], PLURAL[obj["kind"]], md["name"]),
                      {"status": obj["status"]}, "application/merge-patch+json")
    assert code == 200, (code, body)


def lcs_len(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def apply_unified(a_lines, diff_text):
    """Apply a unified diff to a_lines, checking every context and removed line; returns the result."""
    out, pos = [], 0
    lines = diff_text.splitlines()
    assert lines[0].startswith("--- ") and lines[1].startswith("+++ "), lines[:2]
    i = 2
    while i < len(lines):
        m = re.fullmatch(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", lines[i])
        assert m, "not a hunk header: %r" % lines[i]
        a_start, a_len = int(m.group(1)), int(m.group(2) or 1)
        b_start, b_len = int(m.group(3)), int(m.group(4) or 1)
        first = a_start - 1 if a_len else a_start
        assert first >= pos, "hunks overlap or go backwards"
        out.extend(a_lines[pos:first])
        assert len(out) == (b_start - 1 if b_len else b_start), "the +start of %r" % lines[i]
        pos = first
        i += 1
        seen_a = seen_b = 0
        while i < len(lines) and not lines[i].startswith("@@"):
            tag, text = lines[i][:1], lines[i][1:]
            if tag in " -":
                assert a_lines[pos] == text, "line %d: %r != %r" % (pos + 1, a_lines[pos], text)
                pos += 1
                seen_a += 1
            if tag in " +":
                out.append(text)
                seen_b += 1
            assert tag in " -+", lines[i]
            i += 1
        assert (seen_a, seen_b) == (a_len, b_len), "hunk sizes of %r" % (m.group(0),)
    out.extend(a_lines[pos:])
    return out


class Scratch(Base):
    """A scratch Env and, unless SERVER is None, a nave-kubesim with the fixture files of FIXTURES
    applied (statuses written through the status subresource)."""
    SERVER = None
    FIXTURES = ()

    @classmethod
    def setUpClass(cls):
        cls.e = Env()
        cls.sim = cls.kc = None
        if cls.SERVER == "kubesim":
            d = os.path.join(cls.e.dir, "sim")
            cls.sim = Server([KUBESIM, "--dir", d], os.path.join(cls.e.dir, "sim.log"))
            cls.kc = os.path.join(d, "cluster-1", "kubeconfig")
        for f in cls.FIXTURES:
            r = cls.e.run("apply", "-f", app_data(f), kubeconfig=cls.kc)
            assert r.returncode == 0, r.stderr
            with open(app_data(f)) as src:
                for doc in yaml.safe_load_all(src):
                    if doc and "status" in doc and doc["kind"] in PLURAL:
                        put_status(cls.kc, doc)

    @classmethod
    def tearDownClass(cls):
        if cls.sim:
            cls.sim.stop()
        cls.e.cleanup()


# `app diff` exits as diff(1): 0 equal, 1 different (EXIT_FAILED), 2 trouble.
EXIT_DIFF_DIFFERENT = EXIT_FAILED
EXIT_DIFF_TROUBLE = 2


# --------------------------------------------------------------------------------------------
class AppOffline(Scratch):
    """No server: help and usage errors."""

    def test_help(self):
        r = self.ok(self.e.run("--help"))
        self.assertIn("app ls|status|revisions|diff|rollback", r.stdout)
        self.assertIn("workflow resume|suspend|terminate|restart", r.stdout)
        for cmd, needles in (("app", ["navectl app ls", "app status APP", "--tree", "app revisions APP",
                                      "app diff APP REV1 REV2", "app rollback APP --to REV", "Exit status"]),
                             ("workflow", ["resume|suspend|terminate|restart APP", "Exit status"])):
            r = self.ok(self.e.run(cmd, "--help"))
            for n in needles:
                self.assertIn(n, r.stdout)
            self.assertEqual(self.ok(self.e.run("help", cmd)).stdout, r.stdout)
            self.assertEqual(self.ok(self.e.run(cmd, "status", "x", "-h")).stdout, r.stdout)

    def test_usage_errors(self):
        cases = [
            (["app"], "which subcommand? ls, status"),
            (["app", "frob"], 'unknown subcommand "frob"'),
            (["app", "ls", "extra"], "app ls takes no arguments"),
            (["app", "ls", "--tree"], "--tree does not go with `app ls`"),
            (["app", "ls", "--to", "v1"], "--to does not go with `app ls`"),
            (["app", "ls", "-n", "a", "-A"], "-n NS or -A"),
            (["app", "ls", "-o", "wide"], "json or yaml"),
            (["app", "ls", "-o", "name"], "json or yaml"),
            (["app", "ls", "--bogus"], "unknown flag --bogus"),
            (["app", "ls", "--tre"], "unknown flag --tre"),
            (["app", "status"], "app status needs an application name"),
            (["app", "status", "a", "b"], "unexpected extra arguments"),
            (["app", "status", "Bad_Name"], "not an application name"),
            (["app", "status", "a", "-A"], "-A/--all-namespaces does not go with `app status`"),
            (["app", "status", "a", "--tree", "-o", "json"], "give one"),
            (["app", "status", "a", "--ascii"], "--ascii goes with --tree"),
            (["app", "status", "a", "-o"], "-o needs a value"),
            (["app", "revisions"], "needs an application name"),
            (["app", "revisions", "a", "--tree"], "--tree does not go with `app revisions`"),
            (["app", "diff", "a", "v1"], "app diff needs an application and two revisions"),
            (["app", "diff", "a", "v1", "v2", "v3"], "unexpected extra arguments"),
            (["app", "diff", "a", "v1", "vx"], '"vx" is not a revision of application "a"'),
            (["app", "diff", "a", "v0", "v1"], '"v0" is not a revision'),
            (["app", "diff", "a", "b-v1", "v2"], '"b-v1" is not a revision'),
            (["app", "diff", "a", "v1", "v99999999999"], "is not a revision"),
            (["app", "diff", "a", "v1", "v2", "-o", "json"], "-o/--output does not go with `app diff`"),
            (["app", "rollback", "a"], "give --to REV"),
            (["app", "rollback", "a", "--to"], "--to needs a value"),
            (["app", "rollback", "a", "--to", "latest"], '"latest" is not a revision'),
            (["app", "rollback", "--to", "v1"], "app rollback needs an application name"),
            (["app", "status", "a", "--to", "v1"], "--to does not go with `app status`"),
            (["workflow"], "resume, suspend, terminate or restart"),
            (["workflow", "pause", "a"], 'unknown subcommand "pause"'),
            (["workflow", "resume"], "resume which application"),
            (["workflow", "resume", "a", "b"], "resume takes one application"),
            (["workflow", "resume", "UPPER"], "not an application name"),
            (["workflow", "resume", "a", "--tree"], "unknown flag --tree"),
            (["workflow", "resume", "a", "-o", "json"], "unknown flag -o"),
        ]
        for args, needle in cases:
            r = self.e.run(*args)
            self.fails(r, EXIT_USAGE, needle)
            self.assertIn("--help", r.stderr, args)
            self.assertEqual(r.stdout, "", args)

    def test_no_kubeconfig(self):
        for args in (["app", "ls"], ["app", "status", "a"], ["app", "diff", "a", "v1", "v2"],
                     ["app", "rollback", "a", "--to", "v1"], ["workflow", "resume", "a"]):
            self.fails(self.e.run(*args), 3, "no kubeconfig found")


# --------------------------------------------------------------------------------------------
class AppKubesim(Scratch):
    """The formatting, against nave-kubesim serving the KubeVela kinds as CRDs."""
    SERVER = "kubesim"
    FIXTURES = ("crds.yaml", "apps.yaml", "revisions.yaml")

    def nctl(self, *args, env=None, **kw):
        return self.e.run(*args, kubeconfig=self.kc, extra_env=env or ASCII, **kw)

    def golden(self, name, text):
        path = os.path.join(GOLDEN, name)
        text = normalise(text)
        if os.environ.get("NAVE_UPDATE_GOLDEN"):
            os.makedirs(GOLDEN, exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        with open(path) as f:
            self.assertEqual(text, f.read(), "output differs from %s" % path)

    def test_ls(self):
        self.golden("ls-examples.txt", self.ok(self.nctl("app", "ls", "-n", "examples")).stdout)
        self.golden("ls-all.txt", self.ok(self.nctl("app", "list", "-A")).stdout)
        rows = table(self.ok(self.nctl("app", "ls", "-n", "examples")).stdout)
        self.assertEqual([(r["APP"], r["COMPONENT"]) for r in rows],
                         [("shop", "frontend"), ("shop", "backend"), ("waiting", "api")])
        self.assertEqual(rows[0]["HEALTHY"], "unhealthy")  # one cluster of two is not ready
        self.assertEqual(rows[0]["STATUS"], "cluster-1: Ready:3/3; cluster-2: Ready:1/3")
        self.assertEqual(rows[1]["STATUS"], "Ready:1/1")  # the same everywhere: once
        # the kubeconfig's namespace is the default
        self.assertEqual([r["APP"] for r in table(self.ok(self.nctl("app", "ls")).stdout)], ["fresh"])
        r = self.ok(self.nctl("app", "ls", "-n", "nothing-here"))
        self.assertEqual(r.stdout, "")
        self.assertIn("No applications found in nothing-here namespace.", r.stderr)
        lst = json.loads(self.ok(self.nctl("app", "ls", "-n", "examples", "-o", "json")).stdout)
        self.assertEqual([i["metadata"]["name"] for i in lst["items"]], ["shop", "waiting"])
        self.assertEqual(lst["items"][0]["kind"], "Application")
        self.assertNotIn("managedFields", lst["items"][0]["metadata"])
        y = yaml.safe_load(self.ok(self.nctl("app", "ls", "-A", "-o", "yaml")).stdout)
        self.assertEqual(len(y["items"]), 3)

    def test_status(self):
        self.golden("status-shop-utf8.txt", self.ok(self.nctl("app", "status", "shop", "-n", "examples",
                                                              env=UTF8)).stdout)
        self.golden("status-shop-ascii.txt", self.ok(self.nctl("app", "status", "shop", "-n", "examples")).stdout)
        self.golden("status-waiting.txt", self.ok(self.nctl("app", "status", "waiting", "-n", "examples")).stdout)
        self.golden("status-fresh.txt", self.ok(self.nctl("app", "status", "fresh")).stdout)
        # LC_ALL wins over LANG, as in C's locale rules
        r = self.ok(self.nctl("app", "status", "shop", "-n", "examples",
                              env={"LANG": "C.UTF-8", "LC_ALL": "C", "LC_CTYPE": ""}))
        self.assertIn("[!!] scaler: waiting for 2 replicas", r.stdout)
        j = json.loads(self.ok(self.nctl("app", "status", "shop", "-n", "examples", "-o", "json")).stdout)
        self.assertEqual((j["kind"], j["status"]["status"]), ("Application", "unhealthy"))
        self.assertNotIn("managedFields", j["metadata"])
        self.assertEqual(yaml.safe_load(self.ok(self.nctl("app", "status", "shop", "-n", "examples", "-o",
                                                          "yaml")).stdout), j)
        self.fails(self.nctl("app", "status", "nope", "-n", "examples"), EXIT_FAILED,
                   'no application "nope" in namespace "examples"', "app ls -n examples")

    def test_tree(self):
        self.golden("tree-shop-utf8.txt", self.ok(self.nctl("app", "status", "shop", "-n", "examples", "--tree",
                                                            env=UTF8)).stdout)
        ascii_tree = self.ok(self.nctl("app", "status", "shop", "-n", "examples", "--tree")).stdout
        self.golden("tree-shop-ascii.txt", ascii_tree)
        self.assertEqual(self.ok(self.nctl("app", "status", "shop", "-n", "examples", "--tree", "--ascii",
                                           env=UTF8)).stdout, ascii_tree)
        r = self.ok(self.nctl("app", "status", "waiting", "-n", "examples", "--tree"))
        self.assertIn("No resources", r.stdout)

    def test_revisions(self):
        out = self.ok(self.nctl("app", "revisions", "shop", "-n", "examples")).stdout
        rows = table(out)
        self.assertEqual(list(rows[0]), ["NAME", "PUBLISH_VERSION", "SUCCEEDED", "HASH", "BEGIN_TIME", "STATUS",
                                         "SIZE"])
        # sorted by spec.revision (v10 after v2), other applications' revisions left out
        self.assertEqual([r["NAME"] for r in rows], ["shop-v1", "shop-v2", "shop-v10"])
        self.assertEqual([r["PUBLISH_VERSION"] for r in rows], ["", "alpha-2", ""])
        self.assertEqual([r["SUCCEEDED"] for r in rows], ["true", "false", "false"])
        self.assertEqual([r["HASH"] for r in rows], ["5e5e5e5e5e5e5e5e", "0f1e2d3c4b5a6978", "5e5e5e5e5e5e5e5e"])
        self.assertEqual([r["STATUS"] for r in rows], ["Succeeded", "Executing", "RevisionOnly"])
        for r in rows:
            self.assertRegex(r["BEGIN_TIME"], TIME_RE)
            self.assertRegex(r["SIZE"], r"^\d+\.\d KiB$")
        lst = json.loads(self.ok(self.nctl("app", "revisions", "shop", "-n", "examples", "-o", "json")).stdout)
        self.assertEqual([i["metadata"]["name"] for i in lst["items"]], ["shop-v1", "shop-v2", "shop-v10"])
        self.assertTrue(all(i["kind"] == "ApplicationRevision" for i in lst["items"]))
        r = self.ok(self.nctl("app", "revisions", "waiting", "-n", "examples"))
        self.assertEqual(r.stdout, "")
        self.assertIn('No revisions of application "waiting"', r.stderr)
        self.fails(self.nctl("app", "revisions", "nope", "-n", "examples"), EXIT_FAILED, 'no application "nope"')

    def test_diff(self):
        r = self.fails(self.nctl("app", "diff", "shop", "v1", "v2", "-n", "examples"), EXIT_DIFF_DIFFERENT)
        self.assertEqual(r.stderr, "")
        self.golden("diff-shop-v1-v2.txt", r.stdout)
        # all spellings of a revision; equal snapshots: no output, exit 0 (the definitions'
        # resourceVersion differs between v1 and v10 and is not compared)
        for a, b in (("v1", "v10"), ("1", "10"), ("shop-v1", "shop-v10"), ("v2", "shop-v2")):
            r = self.ok(self.nctl("app", "diff", "shop", a, b, "-n", "examples"))
            self.assertEqual(r.stdout, "", (a, b))
        r = self.fails(self.nctl("app", "diff", "shop", "v2", "v1", "-n", "examples"), EXIT_DIFF_DIFFERENT)
        self.assertTrue(r.stdout.startswith("--- shop-v2\n+++ shop-v1\n"), r.stdout)
        self.assertIn("-  version: \"2\"\n+  version: \"1\"\n", r.stdout)
        self.fails(self.nctl("app", "diff", "shop", "v1", "v7", "-n", "examples"), EXIT_DIFF_TROUBLE,
                   "application examples/shop has no revision shop-v7", "app revisions shop -n examples")

    def test_diff_lcs(self):
        """Random revisions whose YAML is known line by line: the diff applies, and it is minimal."""
        rng = random.Random(8)
        cases = [([], []), (["a"], []), ([], ["a"]), (["a"], ["a", "a"])]
        for _ in range(40):
            n, m = rng.randint(0, 120), rng.randint(0, 120)
            alphabet = "abcde"[:rng.randint(1, 5)]
            cases.append(([rng.choice(alphabet) for _ in range(n)], [rng.choice(alphabet) for _ in range(m)]))
        a_base = [rng.choice("abcdefgh") for _ in range(300)]
        b_base = list(a_base)
        for k in (10, 150, 290):  # far apart: several hunks
            b_base[k] = "changed"
        cases.append((a_base, b_base))
        docs = []
        for i, (a, b) in enumerate(cases):
            for side, words in ((1, a), (2, b)):
                docs.append({"apiVersion": "core.oam.dev/v1beta1", "kind": "ApplicationRevision",
                             "metadata": {"name": "lcs%d-v%d" % (i, side), "namespace": "default",
                                          "labels": {"app.oam.dev/name": "lcs%d" % i}},
                             "spec": {"revision": side, "application": {"words": words}}})
        f = self.e.write("lcs.yaml", yaml.safe_dump_all(docs))
        self.ok(self.nctl("apply", "-f", f))
        for i, (a, b) in enumerate(cases):
            text = lambda w: ["words:"] + ["- %s" % x for x in w] if w else ["words: []"]
            ta, tb = text(a), text(b)
            r = self.nctl("app", "diff", "lcs%d" % i, "v1", "v2")
            if ta == tb:
                self.assertEqual((r.returncode, r.stdout), (EXIT_OK, ""), i)
                continue
            self.assertEqual(r.returncode, EXIT_FAILED, r.stderr)
            # A sanitizer stopping navectl also exits 1, with stdout lost: show stderr then.
            self.assertTrue(r.stdout.startswith("--- "), "case %d: no diff on stdout; stderr:\n%s" % (i, r.stderr))
            self.assertEqual(apply_unified(ta, r.stdout), tb, "case %d:\n%s" % (i, r.stdout))
            changed = [l for l in r.stdout.splitlines()[2:] if l[:1] in "-+"]
            self.assertEqual(len(changed), len(ta) + len(tb) - 2 * lcs_len(ta, tb), "not minimal: case %d" % i)
        self.assertEqual(self.nctl("app", "diff", "lcs%d" % (len(cases) - 1), "v1", "v2").stdout.count("@@ -"), 3)

    def test_diff_cap(self):
        """20000 lines a side are compared (in seconds); one more is a clear error."""
        big = [("w%d" % (i % 97)) for i in range(19999)]          # "words:" + 19999 = 20000 lines
        other = [("w%d" % (i % 89)) for i in range(19999)]
        docs = [{"apiVersion": "core.oam.dev/v1beta1", "kind": "ApplicationRevision",
                 "metadata": {"name": name, "namespace": "default", "labels": {"app.oam.dev/name": "big"}},
                 "spec": {"revision": int(name[-1]), "application": {"words": words}}}
                for name, words in (("big-v1", big), ("big-v2", other), ("big-v3", big + ["one-more"]))]
        f = self.e.write("big.yaml", yaml.safe_dump_all(docs))
        self.ok(self.nctl("apply", "-f", f))
        t0 = time.monotonic()
        r = self.fails(self.nctl("app", "diff", "big", "v1", "v2", timeout=300), EXIT_DIFF_DIFFERENT)
        took = time.monotonic() - t0
        ta = ["words:"] + ["- " + w for w in big]
        self.assertEqual(apply_unified(ta, r.stdout), ["words:"] + ["- " + w for w in other])
        sys.stderr.write("app diff of 20000 x 20000 lines: %.2f s\n" % took)
        self.fails(self.nctl("app", "diff", "big", "v1", "v3"), EXIT_DIFF_TROUBLE,
                   "revision big-v3 is more than 20000 lines of YAML", "get applicationrevision big-v3")

    def test_endpoints_need_the_hub(self):
        """kubesim has no /nave/v1: a clear error, not a crash or a bare 404."""
        for args in (["workflow", "resume", "shop"], ["app", "rollback", "shop", "--to", "v1"]):
            self.fails(self.nctl(*args, "-n", "examples"), EXIT_FAILED,
                       "does not serve the application endpoints of /nave/v1")


# --------------------------------------------------------------------------------------------
class AppNoApps(Scratch):
    """A server without the KubeVela kinds (nave-kubesim without the CRDs)."""
    SERVER = "kubesim"

    def test_not_served(self):
        for args in (["app", "ls"], ["app", "ls", "-A"], ["app", "status", "x"], ["app", "revisions", "x"],
                     ["app", "diff", "x", "v1", "v2"]):
            code = EXIT_DIFF_TROUBLE if args[1] == "diff" else EXIT_FAILED
            r = self.fails(self.e.run(*args, kubeconfig=self.kc), code, "does not serve Applications")
            self.assertIn("hint:", r.stderr)


# --------------------------------------------------------------------------------------------
def shop(image, replicas=2):
    """An Application that waits for approval before it deploys to the cluster "local"."""
    return {"apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
            "metadata": {"name": "shop", "namespace": "default"},
            "spec": {"components": [{"name": "frontend", "type": "webservice",
                                     "properties": {"image": image},
                                     "traits": [{"type": "scaler", "properties": {"replicas": replicas}}]}],
                     "policies": [{"name": "here", "type": "topology", "properties": {"clusters": ["local"]}}],
                     "workflow": {"steps": [{"name": "approve", "type": "suspend"},
                                            {"name": "deploy-here", "type": "deploy",
                                             "properties": {"policies": ["here"]}}]}}}


class AppHub(Base):
    """A real hub with one cluster, "local", joined by a real klusterlet (tests/e2e's World)."""

    @classmethod
    def setUpClass(cls):
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
        import test_e2e
        cls.tmp = tempfile.mkdtemp(prefix="navectl-app-hub-")
        cls.w = test_e2e.World(cls.tmp, names=["local"])
        try:
            cls.w.start()
            cls.w.join_all()
        except BaseException:
            cls.w.stop_all()
            raise

    @classmethod
    def tearDownClass(cls):
        bad = cls.w.stop_all()
        if os.environ.get("NAVE_KEEP_TEST_DIRS"):
            sys.stderr.write("kept %s\n" % cls.tmp)
        else:
            import shutil
            shutil.rmtree(cls.tmp, ignore_errors=True)
        assert not bad, bad

    def nctl(self, *args, **kw):
        return self.w.navectl(*args, check=False, **kw)

    def app(self):
        return json.loads(self.ok(self.nctl("app", "status", "shop", "-o", "json")).stdout)

    def wait_app(self, pred, what, timeout=60):
        last = {}

        def check():
            last["a"] = self.app()
            return pred(last["a"])
        try:
            return wait_for(check, timeout=timeout, step=0.2, what=what)
        except AssertionError:
            raise AssertionError("%s; status:\n%s\nhub log:\n%s" % (
                what, json.dumps(last.get("a", {}).get("status"), indent=1), self.w.hub.log(40))) from None

    def suspended(self, a):
        wf = (a.get("status") or {}).get("workflow") or {}
        return wf.get("suspend") and wf.get("phase") == "suspending"

    def resume_and_run(self, revision):
        self.wait_app(lambda a: self.suspended(a) and a["status"]["workflow"].get("appRevision") == revision,
                      "%s waiting at its suspend step" % revision)
        r = self.ok(self.nctl("workflow", "resume", "shop"))
        self.assertRegex(r.stdout, r"^workflow of default/shop resumed \(application phase: \S+, workflow: \S+\)$")
        return self.wait_app(lambda a: a["status"].get("status") == "running" and
                             a["status"]["workflow"].get("appRevision") == revision, "%s running" % revision)

    def spoke_image(self):
        d = self.w.spoke_get("local", "deployment", "frontend")
        return d and d["spec"]["template"]["spec"]["containers"][0]["image"]

    def test_workflow_revisions_diff_rollback(self):
        self.ok(self.nctl("apply", "-f", "-", input=json.dumps(shop("nginx:1.25"))))
        self.wait_app(self.suspended, "the workflow waiting at its suspend step")
        st = self.ok(self.nctl("app", "status", "shop")).stdout
        self.assertIn("Suspended:   true", st)
        self.assertRegex(st, r"approve\s+suspend\s+suspending")
        self.assertIsNone(self.spoke_image(), "deployed before the approval")
        # the approval, then the app runs; a second resume is refused with the hub's reason
        self.resume_and_run("shop-v1")
        wait_for(lambda: self.spoke_image() == "nginx:1.25", timeout=60, what="nginx:1.25 on local")
        r = self.fails(self.nctl("workflow", "resume", "shop"), EXIT_FAILED,
                       "cannot resume the workflow of default/shop:", "app status shop -n default")
        self.assertEqual(r.stdout, "")
        self.wait_app(lambda a: any(s.get("healthy") for s in a["status"].get("services") or []),
                          "frontend healthy on local", timeout=90)
        rows = table(self.ok(self.nctl("app", "ls")).stdout)
        self.assertEqual([(r["APP"], r["COMPONENT"], r["TYPE"], r["TRAITS"], r["PHASE"], r["HEALTHY"])
                          for r in rows], [("shop", "frontend", "webservice", "scaler", "running", "healthy")])
        st = self.ok(self.nctl("app", "status", "shop")).stdout
        for needle in ("Phase:       running", "Revision:    shop-v1", "- Name: frontend",
                       "Cluster: local  Namespace: default", "Healthy Ready:2/2"):
            self.assertIn(needle, st)
        tree = self.ok(self.nctl("app", "status", "shop", "--tree", "--ascii")).stdout
        self.assertRegex(tree, r"local\s+-\S- default\s+-\S- Deployment/frontend\s+healthy")

        # an image change: a new revision, which waits for approval again
        self.ok(self.nctl("apply", "-f", "-", input=json.dumps(shop("nginx:1.26"))))
        self.resume_and_run("shop-v2")
        wait_for(lambda: self.spoke_image() == "nginx:1.26", timeout=60, what="nginx:1.26 on local")
        rows = table(self.ok(self.nctl("app", "revisions", "shop")).stdout)
        self.assertEqual([r["NAME"] for r in rows], ["shop-v1", "shop-v2"])
        self.assertEqual([r["SUCCEEDED"] for r in rows], ["true", "true"])
        self.assertTrue(all(re.fullmatch(r"[0-9a-f]{16}", r["HASH"]) for r in rows), rows)
        self.assertNotEqual(rows[0]["HASH"], rows[1]["HASH"])
        r = self.fails(self.nctl("app", "diff", "shop", "v1", "v2"), EXIT_DIFF_DIFFERENT)
        self.assertTrue(r.stdout.startswith("--- shop-v1\n+++ shop-v2\n@@ "), r.stdout)
        self.assertIn("\n-      image: nginx:1.25\n+      image: nginx:1.26\n", r.stdout)
        self.assertEqual([l[0] for l in r.stdout.splitlines()[2:] if l[:1] in "-+"], ["-", "+"], r.stdout)
        self.ok(self.nctl("app", "diff", "shop", "shop-v2", "2"))

        # rollback: v1's spec again, v1 reused, the old image back on the cluster
        r = self.ok(self.nctl("app", "rollback", "shop", "--to", "v1"))
        self.assertEqual(r.stdout, "application default/shop rolled back to shop-v1: its spec is that revision's "
                         "again and the workflow runs (application phase: workflowSuspending, workflow: "
                         "suspending)\n")  # the phase once the hub has acted: waiting at "approve" again
        self.resume_and_run("shop-v1")
        wait_for(lambda: self.spoke_image() == "nginx:1.25", timeout=60, what="nginx:1.25 back on local")
        self.assertEqual([r["NAME"] for r in table(self.ok(self.nctl("app", "revisions", "shop")).stdout)],
                         ["shop-v1", "shop-v2"])
        self.assertEqual(self.app()["spec"]["components"][0]["properties"]["image"], "nginx:1.25")
        self.fails(self.nctl("app", "rollback", "shop", "--to", "v9"), EXIT_FAILED, "shop-v9")

        # terminate, a refused resume, restart
        self.ok(self.nctl("workflow", "restart", "shop"))
        self.wait_app(self.suspended, "restarted: waiting at its suspend step again")
        r = self.ok(self.nctl("workflow", "terminate", "shop"))
        self.assertEqual(r.stdout, "workflow of default/shop terminated (application phase: workflowTerminated, "
                         "workflow: terminated)\n")
        self.wait_app(lambda a: a["status"].get("status") == "workflowTerminated", "terminated")
        self.fails(self.nctl("workflow", "resume", "shop"), EXIT_FAILED, "cannot resume the workflow of default/shop")
        self.ok(self.nctl("workflow", "restart", "shop"))
        self.resume_and_run("shop-v1")

        # applications that do not exist
        for args in (["workflow", "resume", "nope"], ["app", "rollback", "nope", "--to", "v1"]):
            self.fails(self.nctl(*args), EXIT_FAILED, "default/nope")
        self.fails(self.nctl("app", "status", "nope"), EXIT_FAILED, 'no application "nope" in namespace "default"')
        self.fails(self.nctl("app", "diff", "shop", "v1", "v3"), EXIT_DIFF_TROUBLE, "has no revision shop-v3")


if __name__ == "__main__":
    unittest.main(verbosity=2)
