"""test_e2e.py - Nave end to end: the real nave-hub, navectl, nave-klusterlet and
nave-kubesim on free loopback ports, checked with /usr/bin/kubectl on the spokes.

Each test builds its own world in a temporary directory (a hub from `nave-hub
init` + `serve`, one nave-kubesim with N clusters, a bootstrap token from
`navectl token create`, one `nave-klusterlet run` per cluster joined with it
and accepted with `navectl cluster accept`) and tears every process down in
tearDown (SIGTERM, then SIGKILL after a deadline; a process that needed
SIGKILL fails the test). No sleeps stand in for events: every wait polls a
condition with a deadline.

Run one test: test_e2e.py E2E.test_NAME (meson runs each as its own test).
Environment: NAVE_HUB, NAVECTL, NAVE_KLUSTERLET, NAVE_KUBESIM, NAVE_DEMO
(deploy/demo/run), NAVE_BUILD_DIR; NAVE_KEEP_TEST_DIRS=1 keeps the directory.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

HUB = os.environ.get("NAVE_HUB", "nave-hub")
NAVECTL = os.environ.get("NAVECTL", "navectl")
KLUSTERLET = os.environ.get("NAVE_KLUSTERLET", "nave-klusterlet")
KUBESIM = os.environ.get("NAVE_KUBESIM", "nave-kubesim")
DEMO = os.environ.get("NAVE_DEMO", os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "demo", "run"))
KUBECTL = "/usr/bin/kubectl"
WORK_API = "/apis/work.open-cluster-management.io/v1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, what, step=0.2):
    """Poll pred() until it returns a true value; AssertionError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ds waiting for %s" % (timeout, what))
        time.sleep(step)


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no log %s)" % path


def conds(obj):
    return {c.get("type"): c for c in ((obj or {}).get("status") or {}).get("conditions") or []}


def work(cluster, name, manifests, delete_option=None):
    w = {"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
         "metadata": {"name": name, "namespace": cluster},
         "spec": {"workload": {"manifests": manifests}}}
    if delete_option:
        w["spec"]["deleteOption"] = {"propagationPolicy": delete_option}
    return w


def configmap(name, value="v1"):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
            "data": {"key": value}}


def deployment(name, replicas=1, image="nginx:1.27"):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


def service(name):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 80}]}}


def app(name, replicas=1, value="v1"):
    return [configmap(name + "-config", value), deployment(name, replicas), service(name)]


class Proc:
    """A daemon started by a test; output to a log file."""

    def __init__(self, name, argv, log):
        self.name, self.argv, self.logpath = name, argv, log
        self.proc = None

    def start(self):
        with open(self.logpath, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout=20):
        """SIGTERM; None when it stopped cleanly (or had already been stopped by the test),
        else what went wrong: no exit within timeout, a non-zero exit status (under ASan:
        a leak), or a sanitizer report in its log."""
        if not self.alive():
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "%s: still running %ds after SIGTERM" % (self.name, timeout)
        if rc != 0:
            return "%s: exit status %d after SIGTERM:\n%s" % (self.name, rc, self.log(40))
        return None

    def log(self, n=30):
        return tail(self.logpath, n)


class World:
    """A hub, N emulated clusters and (after join_all) one klusterlet per cluster."""

    def __init__(self, tmp, n=3, names=None, ready_delay="300ms"):
        self.tmp = tmp
        self.ready_delay = ready_delay
        self.names = names or ["c%d" % (i + 1) for i in range(n)]
        self.procs = []
        self.home = os.path.join(tmp, "home")
        os.makedirs(self.home)
        os.makedirs(os.path.join(tmp, "logs"))
        self.data = os.path.join(tmp, "hub")
        self.hub = None
        self.hub_port = None
        self.agents = {}
        self.health = {}

    def start(self):
        """init + serve the hub, start kubesim (every process is in self.procs at once)."""
        tmp = self.tmp
        r = subprocess.run([HUB, "init", "--data-dir", self.data, "--listen", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, "nave-hub init: %s" % r.stderr
        self.start_hub()
        simlog = self.logpath("kubesim")
        self.sim = Proc("nave-kubesim", [KUBESIM, "--names", ",".join(self.names), "--dir",
                                          os.path.join(tmp, "clusters"), "--ready-delay", self.ready_delay], simlog)
        self.procs.append(self.sim.start())
        wait_for(lambda: self._ready(self.sim, "ready"), 30, "nave-kubesim ready")

    def logpath(self, name):
        return os.path.join(self.tmp, "logs", name + ".log")

    def _ready(self, p, prefix):
        if not p.alive():
            raise AssertionError("%s exited:\n%s" % (p.name, p.log()))
        with open(p.logpath, errors="replace") as f:
            for line in f:
                if line.startswith(prefix):
                    return line.strip()
        return None

    # --- hub ---------------------------------------------------------------
    def start_hub(self):
        argv = [HUB, "serve", "--data-dir", self.data, "--lease-timeout", "15s"]
        if self.hub_port:
            argv += ["--listen", "127.0.0.1:%d" % self.hub_port]
        log = self.logpath("hub")
        if os.path.exists(log):
            os.rename(log, log + ".%d" % time.monotonic_ns())
        self.hub = Proc("nave-hub", argv, log).start()
        self.procs.append(self.hub)
        line = wait_for(lambda: self._ready(self.hub, "ready: "), 30, "nave-hub ready")
        self.hub_url = line.split()[1]
        self.hub_port = int(self.hub_url.rsplit(":", 1)[1])

    def navectl(self, *args, check=True, input=None):
        env = dict(os.environ, HOME=self.home)
        env.pop("KUBECONFIG", None)
        r = subprocess.run([NAVECTL, "--kubeconfig", os.path.join(self.data, "admin.kubeconfig")] + list(args),
                           capture_output=True, text=True, timeout=60, env=env, input=input)
        if check and r.returncode != 0:
            raise AssertionError("navectl %s: %d\n%s%s\nhub log:\n%s" %
                                 (" ".join(args), r.returncode, r.stdout, r.stderr, self.hub.log()))
        return r

    def hub_get(self, kind, name, ns=None):
        """The object as JSON, or None when the hub says it does not exist (or cannot be reached)."""
        args = ["get", kind, name, "-o", "json"] + (["-n", ns] if ns else [])
        r = self.navectl(*args, check=False)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def apply_work(self, w):
        self.navectl("apply", "-f", "-", input=json.dumps(w))

    # --- spokes --------------------------------------------------------------
    def kubeconfig(self, c):
        return os.path.join(self.tmp, "clusters", c, "kubeconfig")

    def kubectl(self, c, *args, check=True):
        r = subprocess.run([KUBECTL, "--kubeconfig", self.kubeconfig(c)] + list(args), capture_output=True,
                           text=True, timeout=60, env=dict(os.environ, HOME=self.home))
        if check and r.returncode != 0:
            raise AssertionError("kubectl %s on %s: %s" % (" ".join(args), c, r.stderr))
        return r

    def spoke_get(self, c, kind, name, ns="default"):
        args = ["get", kind, name, "-o", "json"] + (["-n", ns] if ns else [])
        r = self.kubectl(c, *args, check=False)
        return json.loads(r.stdout) if r.returncode == 0 else None

    # --- agents -----------------------------------------------------------------
    def token(self):
        out = self.navectl("token", "create", "--ttl", "1h").stdout.split()
        return out[out.index("--token") + 1], out[out.index("--ca-hash") + 1]

    def start_agent(self, c, token=None, cahash=None):
        if token is None:
            token, cahash = self.bootstrap
        hp = self.health.get(c) or free_port()
        self.health[c] = hp
        state = os.path.join(self.tmp, "agents", c)
        os.makedirs(state, mode=0o700, exist_ok=True)
        a = Proc("nave-klusterlet " + c,
                 [KLUSTERLET, "run", "--hub", self.hub_url, "--token", token, "--ca-hash", cahash,
                  "--cluster-name", c, "--kubeconfig", self.kubeconfig(c), "--state-dir", state,
                  "--no-leader-elect", "--health-listen", "127.0.0.1:%d" % hp,
                  "--reconnect-backoff-base", "200ms", "--reconnect-backoff-max", "2s",
                  "--status-retransmit", "3s"],
                 self.logpath("klusterlet-" + c)).start()
        self.procs.append(a)
        self.agents[c] = a
        return a

    def readyz(self, c):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % self.health[c], timeout=5) as r:
                return json.loads(r.read())
        except Exception as e:  # noqa: BLE001 - any failure means "not ready"
            if hasattr(e, "read"):
                try:
                    return json.loads(e.read())
                except Exception:  # noqa: BLE001
                    return {}
            return {}

    def connected(self, c):
        return bool(self.readyz(c).get("connected"))

    def join_all(self):
        self.bootstrap = self.token()
        for c in self.names:
            self.start_agent(c)
        for c in self.names:
            wait_for(lambda: self._agent_alive(c) and self.hub_get("managedcluster", c), 60,
                     "%s registered" % c)
            self.navectl("cluster", "accept", c)
        for c in self.names:
            wait_for(lambda: self.cluster_available(c), 60, "%s Available on the hub" % c)

    def _agent_alive(self, c):
        if not self.agents[c].alive():
            raise AssertionError("klusterlet %s exited:\n%s" % (c, self.agents[c].log()))
        return True

    def cluster_available(self, c):
        mc = self.hub_get("managedcluster", c)
        return mc and conds(mc).get("ManagedClusterConditionAvailable", {}).get("status") == "True"

    def work_cond(self, c, name, cond, generation=None):
        """The work has condition cond=True (for generation, when given)."""
        self._agent_alive(c)
        w = self.hub_get("manifestwork", name, c)
        if not w:
            return False
        k = conds(w).get(cond)
        if not k or k.get("status") != "True":
            return False
        if generation is not None and k.get("observedGeneration") != generation:
            return False
        return w

    def stop_all(self):
        """Stop every process, newest first. Returns what went wrong (see Proc.stop), and
        sanitizer reports found in any log."""
        bad = []
        for p in reversed(self.procs):
            e = p.stop()
            if e:
                bad.append(e)
        for p in self.procs:
            text = tail(p.logpath, 100000)
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
                if marker in text:
                    bad.append("%s: %s in %s" % (p.name, marker, p.logpath))
        return bad

    def logs(self):
        out = []
        for p in self.procs:
            out.append("==== %s (%s)\n%s" % (p.name, p.logpath, p.log(20)))
        return "\n".join(out)


class WorldCase(unittest.TestCase):
    """A test case owning one World in its own temporary directory: tearDown stops every process (one that
    needs SIGKILL fails the test), prints the logs when the test failed and removes the directory (kept with
    NAVE_KEEP_TEST_DIRS=1). Subclasses set tmp_prefix and default_clusters."""
    tmp_prefix = "nave-e2e-"
    default_clusters = 3

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix=self.tmp_prefix)
        self.world = None

    def tearDown(self):
        bad = []
        if self.world:
            bad = self.world.stop_all()
            if self._failed():
                sys.stderr.write(self.world.logs() + "\n")
        if os.environ.get("NAVE_KEEP_TEST_DIRS"):
            sys.stderr.write("kept %s\n" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertEqual(bad, [], "processes that did not stop cleanly on SIGTERM")

    def _failed(self):
        res = getattr(self, "_outcome", None)
        if res is None:
            return True
        errs = getattr(res, "errors", None)
        if errs is None:
            r = getattr(res, "result", None)
            errs = (r.errors + r.failures) if r else []
        return any(e for _, e in errs)

    def make(self, n=None, **kw):
        self.world = World(self.tmp, n=self.default_clusters if n is None else n, **kw)
        self.world.start()
        self.world.join_all()
        return self.world


class E2E(WorldCase):

    def wait_work(self, w, c, name, cond="Available", generation=None, timeout=60):
        return wait_for(lambda: w.work_cond(c, name, cond, generation), timeout,
                        "work %s/%s %s (generation %s)" % (c, name, cond, generation))

    # (a) ---------------------------------------------------------------------
    def test_demo_once(self):
        env = dict(os.environ, NAVE_DEMO_SKIP_INSTALL="1", NAVE_DEMO_SKIP_BUILD="1",
                   NAVE_DEMO_DIR=self.tmp, NAVE_DEMO_TIMEOUT="60", HOME=self.tmp)
        r = subprocess.run([DEMO, "--once"], capture_output=True, text=True, timeout=300, env=env)
        self.assertEqual(r.returncode, 0, "deploy/demo/run --once:\n%s\n%s" % (r.stdout, r.stderr))
        for s in ("cluster-1", "cluster-2", "cluster-3", "deployment.apps/hello", "configmap/hello-config",
                  "service/hello", "--once given"):
            self.assertIn(s, r.stdout)
        # Its directory is gone and no process of it is left (cleanup is strict).
        self.assertEqual([d for d in os.listdir(self.tmp) if d.startswith("nave-demo.")], [])

    # (b) -----------------------------------------------------------------------
    def test_three_clusters_apply_available(self):
        w = self.make(3)
        for c in w.names:
            w.apply_work(work(c, "web", app("web-" + c, replicas=2)))
        for c in w.names:
            self.wait_work(w, c, "web", "Available")
            self.wait_work(w, c, "web", "Applied")
            self.assertIsNotNone(w.spoke_get(c, "configmap", "web-%s-config" % c))
            self.assertIsNotNone(w.spoke_get(c, "service", "web-" + c))
            d = w.spoke_get(c, "deployment", "web-" + c)
            self.assertEqual(d["spec"]["replicas"], 2)
            # Only this cluster's work landed here.
            for o in w.names:
                if o != c:
                    self.assertIsNone(w.spoke_get(c, "deployment", "web-" + o))
            amw = json.loads(w.kubectl(c, "get", "appliedmanifestworks", "-o", "json").stdout)["items"]
            self.assertEqual(len(amw), 1, "one AppliedManifestWork on %s" % c)

    def test_update_reaches_spoke_with_generation(self):
        w = self.make(1)
        c = w.names[0]
        w.apply_work(work(c, "web", app("web", replicas=1, value="one")))
        w1 = self.wait_work(w, c, "web", "Applied")
        gen1 = w1["metadata"]["generation"]
        w.apply_work(work(c, "web", app("web", replicas=3, value="two")))
        gen2 = wait_for(lambda: (w.hub_get("manifestwork", "web", c) or {}).get("metadata", {}).get(
            "generation", gen1) > gen1 and w.hub_get("manifestwork", "web", c)["metadata"]["generation"],
            30, "the new generation on the hub")
        wait_for(lambda: (w.spoke_get(c, "configmap", "web-config") or {}).get("data", {}).get("key") == "two",
                 60, "the updated ConfigMap on the spoke")
        wait_for(lambda: (w.spoke_get(c, "deployment", "web") or {}).get("spec", {}).get("replicas") == 3,
                 60, "the updated Deployment on the spoke")
        self.wait_work(w, c, "web", "Applied", generation=gen2)

    def test_manifest_removed_is_deleted(self):
        w = self.make(1)
        c = w.names[0]
        w.apply_work(work(c, "web", app("web")))
        self.wait_work(w, c, "web", "Applied")
        self.assertIsNotNone(w.spoke_get(c, "service", "web"))
        w.apply_work(work(c, "web", app("web")[:2]))
        wait_for(lambda: w.spoke_get(c, "service", "web") is None, 60, "the removed Service deleted")
        self.assertIsNotNone(w.spoke_get(c, "configmap", "web-config"))
        self.assertIsNotNone(w.spoke_get(c, "deployment", "web"))

    def test_delete_foreground_and_orphan(self):
        w = self.make(1)
        c = w.names[0]
        w.apply_work(work(c, "fg", app("fg")))
        w.apply_work(work(c, "orph", app("orph"), delete_option="Orphan"))
        self.wait_work(w, c, "fg", "Applied")
        self.wait_work(w, c, "orph", "Applied")
        w.navectl("delete", "manifestwork", "fg", "-n", c)
        w.navectl("delete", "manifestwork", "orph", "-n", c)
        for kind, name in (("configmap", "fg-config"), ("deployment", "fg"), ("service", "fg")):
            wait_for(lambda: w.spoke_get(c, kind, name) is None, 60, "%s %s deleted (Foreground)" % (kind, name))
        wait_for(lambda: w.hub_get("manifestwork", "fg", c) is None and w.hub_get("manifestwork", "orph", c)
                 is None, 60, "both works gone from the hub")
        for kind, name in (("configmap", "orph-config"), ("deployment", "orph"), ("service", "orph")):
            self.assertIsNotNone(w.spoke_get(c, kind, name), "%s %s kept (Orphan)" % (kind, name))

    def test_drift_deleted_object_comes_back(self):
        w = self.make(1)
        c = w.names[0]
        w.apply_work(work(c, "web", app("web")))
        self.wait_work(w, c, "web", "Applied")
        uid = w.spoke_get(c, "configmap", "web-config")["metadata"]["uid"]
        w.kubectl(c, "delete", "configmap", "web-config", "-n", "default")
        back = wait_for(lambda: w.spoke_get(c, "configmap", "web-config"), 120, "the ConfigMap back")
        self.assertNotEqual(back["metadata"]["uid"], uid)

    def test_hub_kill9_agents_converge(self):
        w = self.make(3)
        for c in w.names:
            w.apply_work(work(c, "web", app("web", value="before")))
        for c in w.names:
            self.wait_work(w, c, "web", "Applied")
        # Changes in flight when the hub dies.
        for c in w.names:
            w.apply_work(work(c, "web", app("web", value="after")))
        w.hub.kill9()
        wait_for(lambda: not any(w.connected(c) for c in w.names), 60, "agents noticing the hub is gone")
        w.start_hub()
        for c in w.names:
            wait_for(lambda: w.connected(c), 60, "%s reconnected" % c)
        for c in w.names:
            gen = w.hub_get("manifestwork", "web", c)["metadata"]["generation"]
            wait_for(lambda: (w.spoke_get(c, "configmap", "web-config") or {}).get("data", {}).get("key") ==
                     "after", 60, "the last change on %s" % c)
            self.wait_work(w, c, "web", "Applied", generation=gen)
            self.wait_work(w, c, "web", "Available")
            deps = json.loads(w.kubectl(c, "get", "deployments", "-n", "default", "-o", "json").stdout)
            self.assertEqual([d["metadata"]["name"] for d in deps["items"]], ["web"])

    def test_klusterlet_kill9_restart(self):
        w = self.make(1)
        c = w.names[0]
        w.apply_work(work(c, "web", app("web")))
        self.wait_work(w, c, "web", "Available")
        dep_uid = w.spoke_get(c, "deployment", "web")["metadata"]["uid"]
        amw = json.loads(w.kubectl(c, "get", "appliedmanifestworks", "-o", "json").stdout)["items"]
        self.assertEqual(len(amw), 1, "one AppliedManifestWork")
        w.agents[c].kill9()
        w.apply_work(work(c, "web", app("web", replicas=2)))
        gen = w.hub_get("manifestwork", "web", c)["metadata"]["generation"]
        w.start_agent(c)
        wait_for(lambda: (w.spoke_get(c, "deployment", "web") or {}).get("spec", {}).get("replicas") == 2,
                 60, "the change applied after the restart")
        self.wait_work(w, c, "web", "Applied", generation=gen)
        self.assertEqual(w.spoke_get(c, "deployment", "web")["metadata"]["uid"], dep_uid, "not recreated")
        deps = json.loads(w.kubectl(c, "get", "deployments", "-n", "default", "-o", "json").stdout)["items"]
        self.assertEqual(len(deps), 1, "no duplicate Deployment")
        amw2 = json.loads(w.kubectl(c, "get", "appliedmanifestworks", "-o", "json").stdout)["items"]
        self.assertEqual([a["metadata"]["uid"] for a in amw2], [a["metadata"]["uid"] for a in amw],
                         "AppliedManifestWork intact")

    def test_klusterlet_kill9_pending_status(self):
        """Status made while the hub is down and the agent then dies (kill -9) reaches the hub
        after both restart: the Deployment's readyReplicas feedback."""
        w = self.make(1, ready_delay="12s")
        c = w.names[0]
        mw = work(c, "web", [deployment("web", replicas=1)])
        mw["spec"]["manifestConfigs"] = [{
            "resourceIdentifier": {"group": "apps", "resource": "deployments", "name": "web",
                                   "namespace": "default"},
            "feedbackRules": [{"type": "WellKnownStatus"}]}]
        w.apply_work(mw)
        self.wait_work(w, c, "web", "Applied")
        w.hub.kill9()
        wait_for(lambda: not w.connected(c), 60, "the agent noticing the hub is gone")
        # The scenario needs the Deployment to become ready only now (kubesim --ready-delay 12s).
        self.assertNotEqual((w.spoke_get(c, "deployment", "web") or {}).get("status", {}).get("readyReplicas"), 1,
                            "the Deployment was ready before the hub was killed (machine too slow?)")
        wait_for(lambda: (w.spoke_get(c, "deployment", "web") or {}).get("status", {}).get("readyReplicas") == 1,
                 60, "the Deployment ready on the spoke")
        # The agent queues the new status (the hub is down) and saves it at once, then dies. Not
        # "pendingStatus grew": the hub acknowledges a status only once it is durable, so the kill -9
        # may leave the Applied status unacknowledged, and the outbox keeps the newest status per
        # work, so the ready status replaces it (the count stays 1). Look for the ready status itself.
        outbox = os.path.join(w.tmp, "agents", c, "nave-klusterlet-outbox", "outbox.json")

        def has_ready(o):
            if isinstance(o, dict):
                if o.get("name") == "ReadyReplicas" and (o.get("fieldValue") or {}).get("integer") == 1:
                    return True
                return any(has_ready(v) for v in o.values())
            if isinstance(o, list):
                return any(has_ready(v) for v in o)
            return False

        def persisted():
            try:
                with open(outbox) as f:
                    events = json.load(f).get("events") or []
                return any(has_ready(json.loads(ev)) for ev in events)
            except (OSError, ValueError):
                return False
        wait_for(lambda: (w.readyz(c).get("pendingStatus") or 0) > 0 and persisted(), 60,
                 "the ready status pending in the agent (readyz pendingStatus > 0) and saved in %s" % outbox)
        w.agents[c].kill9()
        w.start_hub()
        w.start_agent(c)

        def ready_feedback():
            mwh = w.hub_get("manifestwork", "web", c) or {}
            for m in ((mwh.get("status") or {}).get("resourceStatus") or {}).get("manifests") or []:
                for v in (m.get("statusFeedback") or {}).get("values") or []:
                    if v.get("name") == "ReadyReplicas" and v.get("fieldValue", {}).get("integer") == 1:
                        return True
            return False
        wait_for(ready_feedback, 60, "ReadyReplicas=1 feedback on the hub")
        restored = [ln for ln in tail(w.agents[c].logpath, 100000).splitlines() if "status update(s) restored" in ln]
        self.assertTrue(restored and " 0 unacknowledged" not in restored[-1],
                        "the restarted agent restored its pending status: %s" % restored)
        deps = json.loads(w.kubectl(c, "get", "deployments", "-n", "default", "-o", "json").stdout)["items"]
        self.assertEqual(len(deps), 1, "no duplicate Deployment")

    def test_denied_cluster_disconnected(self):
        w = self.make(2)
        bad, good = w.names
        w.navectl("cluster", "deny", bad)
        wait_for(lambda: not w.connected(bad), 30, "the denied cluster disconnected")
        # It keeps trying (backoff 200ms..2s) and is refused every time.
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            self.assertFalse(w.connected(bad), "the denied cluster reconnected")
            time.sleep(0.2)
        w.apply_work(work(bad, "web", app("web")))
        w.apply_work(work(good, "web", app("web")))
        self.wait_work(w, good, "web", "Applied")
        self.assertIsNone(w.spoke_get(bad, "configmap", "web-config"), "a denied cluster got a work")
        self.assertTrue(w.connected(good))


if __name__ == "__main__":
    unittest.main()
