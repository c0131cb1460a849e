#!/usr/bin/python3
"""test_apps_e2e.py - Applications end to end (issue #8): the real nave-hub, navectl,
nave-klusterlet and nave-kubesim, several emulated clusters named and labelled as each
test needs, every result checked on the spokes with /usr/bin/kubectl.

The world is tests/e2e/test_e2e.py's World (imported, not copied), extended by
AppWorld below with cluster labels given at join (`nave-klusterlet run --labels`) and
clusters that join later. Each test builds its own world in a temporary directory and
tears it down (test_e2e.WorldCase: a process that does not stop on SIGTERM, or a
sanitizer report in any log, fails the test; logs are printed on failure).

What is checked (issue #8, "Done when"):
  test_topology_override        the multi-cluster topology+override example of
                                reference/kubevela.md on clusters local, hangzhou-1,
                                hangzhou-2 (region=hangzhou) and beijing-1 (region=beijing)
  test_image_change_new_revision  one component's image changes: a new
                                ApplicationRevision, only the work of its cluster rewritten
  test_rollback                 `navectl app rollback APP --to v1` restores the spokes
  test_fourth_cluster_joins     placement follows the fleet: a cluster that joins or gains
                                a label gets the app; one that stops matching loses it
  test_appdeployment_split      docs/examples/appdeployment-split.yaml: revision v1 on
                                cluster-1 with 3 replicas, v2 on cluster-2 with 4
  test_suspend_resume           notification -> suspend -> deploy; `navectl workflow resume`
  test_terminate_restart        `navectl workflow terminate|restart`
  test_depends_on_waits         a component waits until what it dependsOn is healthy
  test_failed_workflow_never_healthy  a failed step (webhook 500, step timeout) keeps the
                                Application from being Healthy although its workloads are
  test_user_definitions         a user's ComponentDefinition and TraitDefinitions (Nave
                                schematic: merge, json and strategic patches, outputs,
                                health) and a user's definition overriding a built-in
  test_bad_applications         a table of bad Applications, each refused (navectl and
                                kubectl) with a message naming the field, plus problems
                                that can only be reported in the status
  test_delete_removes_objects   deleting an Application removes its objects on the spokes
  test_delete_with_agent_stopped  ... and completes while one cluster's agent is stopped
  test_kubevela_<file>          every Application of /work/shared/examples/kubevela/, applied
                                unchanged, deployed or refused as the table KV_TABLE says
                                (docs/kubevela-compatibility.md reports the outcomes);
                                test_kubevela_table_complete: every file has an entry

Run one test: test_apps_e2e.py AppsE2E.test_NAME (meson runs each as its own test,
suite 'apps-e2e'). Environment as test_e2e.py (NAVE_HUB, NAVECTL, NAVE_KLUSTERLET,
NAVE_KUBESIM); NAVE_KUBEVELA_EXAMPLES overrides the examples directory;
NAVE_KEEP_TEST_DIRS=1 keeps the directory.
"""
import datetime
import http.server
import json
import os
import sys
import threading
import time
import unittest

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import test_e2e as e2e  # noqa: E402

SRC = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EXAMPLES = os.path.join(SRC, "docs", "examples")
KUBEVELA = os.environ.get("NAVE_KUBEVELA_EXAMPLES", "/work/shared/examples/kubevela")

LBL_NAME = "app.oam.dev/name"
LBL_NS = "app.oam.dev/namespace"
LBL_COMP = "app.oam.dev/component"


# --- small helpers ---------------------------------------------------------------------------
def dig(o, *path):
    """o[path[0]][path[1]]...; None when any step is missing."""
    for p in path:
        if isinstance(o, dict):
            o = o.get(p)
        elif isinstance(o, list) and isinstance(p, int) and -len(o) <= p < len(o):
            o = o[p]
        else:
            return None
    return o


def containers(d):
    return dig(d, "spec", "template", "spec", "containers") or []


def container(d, name=None):
    cs = containers(d)
    if name is None:
        return cs[0] if cs else None
    for c in cs:
        if c.get("name") == name:
            return c
    return None


def image(d):
    return (container(d) or {}).get("image")


def env_names(c):
    return [e.get("name") for e in (c or {}).get("env") or []]


def replicas(d):
    """spec.replicas, with Kubernetes' default of 1 when absent."""
    r = dig(d, "spec", "replicas")
    return 1 if r is None else r


def load_yaml(text):
    return yaml.safe_load(text)


def dump(o, n=4000):
    s = json.dumps(o, indent=1, sort_keys=True)
    return s if len(s) <= n else s[:n] + "\n...(%d more bytes)" % (len(s) - n)


def app_obj(name, spec, ns="default", annotations=None):
    a = {"apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
         "metadata": {"name": name, "namespace": ns}, "spec": spec}
    if annotations:
        a["metadata"]["annotations"] = annotations
    return a


def webservice(name, img, **props):
    p = {"image": img}
    p.update(props)
    return {"name": name, "type": "webservice", "properties": p}


def topology(name, clusters=None, selector=None, namespace=None):
    p = {}
    if clusters is not None:
        p["clusters"] = clusters
    if selector is not None:
        p["clusterLabelSelector"] = selector
    if namespace:
        p["namespace"] = namespace
    return {"name": name, "type": "topology", "properties": p}


def deploy(name, *policies, **props):
    p = {"policies": list(policies)}
    p.update(props)
    return {"name": name, "type": "deploy", "properties": p}


def scaler_override(name, n, component=None, ctype=None, **extra):
    entry = {"traits": [{"type": "scaler", "properties": {"replicas": n}}]}
    if component:
        entry["name"] = component
    if ctype:
        entry["type"] = ctype
    p = {"components": [entry]}
    p.update(extra)
    return {"name": name, "type": "override", "properties": p}


class Webhook:
    """A local HTTP server recording the bodies POSTed to it (the notification step's target);
    paths starting with /fail answer 500."""

    def __init__(self):
        bodies = self.bodies = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                n = int(self.headers.get("Content-Length") or 0)
                bodies.append({"path": self.path, "body": self.rfile.read(n).decode(errors="replace"),
                               "type": self.headers.get("Content-Type")})
                fail = self.path.startswith("/fail")
                self.send_response(500 if fail else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no" if fail else b"ok")

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/hook"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


# --- the world -------------------------------------------------------------------------------
class AppWorld(e2e.World):
    """World with labelled clusters, some of which may join later.

    clusters: [(name, {label: value}), ...]; late: names kubesim serves but join_all skips
    (join them with join())."""

    def __init__(self, tmp, clusters, late=(), agent_args=(), **kw):
        self.labels = {c: dict(lb or {}) for c, lb in clusters}
        self.late = list(late)
        self.agent_args = list(agent_args)
        super().__init__(tmp, names=[c for c, _ in clusters], **kw)

    def start_agent(self, c, token=None, cahash=None):
        """World.start_agent, with --labels when the cluster has labels (they go into its
        registration: the ManagedCluster is created with them) and agent_args."""
        labels = self.labels.get(c)
        extra = list(self.agent_args)
        if labels:
            extra += ["--labels", ",".join("%s=%s" % kv for kv in sorted(labels.items()))]
        if not extra:
            return super().start_agent(c, token, cahash)
        base = e2e.Proc

        class LabelledProc(base):
            def __init__(self, name, argv, log):
                super().__init__(name, list(argv) + extra, log)

        e2e.Proc = LabelledProc
        try:
            return super().start_agent(c, token, cahash)
        finally:
            e2e.Proc = base

    def join_all(self):
        everyone = self.names
        self.names = [c for c in everyone if c not in self.late]
        try:
            super().join_all()
        finally:
            self.names = everyone

    def join(self, c):
        """Join one more cluster (one of `late`) with the bootstrap token of join_all."""
        self.start_agent(c)
        e2e.wait_for(lambda: self._agent_alive(c) and self.hub_get("managedcluster", c), 60,
                     "%s registered" % c)
        self.navectl("cluster", "accept", c)
        e2e.wait_for(lambda: self.cluster_available(c), 60, "%s Available on the hub" % c)

    # --- the hub -------------------------------------------------------------------------
    def kubectl_hub(self, *args, input=None, check=True):
        env = dict(os.environ, HOME=self.home)
        env.pop("KUBECONFIG", None)
        r = e2e.subprocess.run([e2e.KUBECTL, "--kubeconfig", os.path.join(self.data, "admin.kubeconfig")] +
                               list(args), capture_output=True, text=True, timeout=60, env=env, input=input)
        if check and r.returncode != 0:
            raise AssertionError("kubectl %s (hub): %d\n%s%s\nhub log:\n%s" %
                                 (" ".join(args), r.returncode, r.stdout, r.stderr, self.hub.log()))
        return r

    def apply(self, obj_or_text, check=True, via="navectl"):
        text = obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text)
        if via == "kubectl":
            return self.kubectl_hub("apply", "-f", "-", input=text, check=check)
        return self.navectl("apply", "-f", "-", input=text, check=check)

    def app(self, name, ns="default"):
        return self.hub_get("application", name, ns)

    def work_of(self, c, name, ns="default"):
        return self.hub_get("manifestwork", "%s.%s" % (ns, name), c)

    def revisions(self, name, ns="default"):
        r = self.navectl("get", "applicationrevisions", "-n", ns, "-l", "%s=%s" % (LBL_NAME, name), "-o", "json")
        items = json.loads(r.stdout).get("items") or []
        return sorted(items, key=lambda o: dig(o, "spec", "revision") or 0)

    def deployment(self, c, name, ns="default"):
        return self.spoke_get(c, "deployment", name, ns)


# --- the test case ---------------------------------------------------------------------------
class AppsE2E(e2e.WorldCase):

    def make(self, clusters, late=(), **kw):
        self.world = AppWorld(self.tmp, clusters, late=late, **kw)
        self.world.start()
        self.world.join_all()
        return self.world

    # --- waiting on an Application --------------------------------------------------------
    def wait_app(self, w, name, pred, what, ns="default", timeout=90):
        """Poll the Application until pred(app) is true; on timeout the message shows its
        status and the hub's log."""
        last = {}

        def check():
            a = w.app(name, ns)
            last["app"] = a
            return a if (a and pred(a)) else None
        try:
            return e2e.wait_for(check, timeout, "application %s/%s: %s" % (ns, name, what), step=0.3)
        except AssertionError as e:
            raise AssertionError("%s\nlast status:\n%s\nhub log:\n%s" %
                                 (e, dump(dig(last.get("app"), "status")), w.hub.log(40))) from None

    def wait_phase(self, w, name, phases, ns="default", timeout=90):
        """Until status.workflow.phase is one of phases (a failed workflow fails at once)."""
        phases = (phases,) if isinstance(phases, str) else tuple(phases)

        def pred(a):
            ph = dig(a, "status", "workflow", "phase")
            if ph in ("failed", "terminated") and ph not in phases:
                raise AssertionError("workflow of %s/%s is %s:\n%s\nhub log:\n%s" %
                                     (ns, name, ph, dump(a.get("status")), w.hub.log(40)))
            return ph in phases
        return self.wait_app(w, name, pred, "workflow phase in %s" % (phases,), ns, timeout)

    def wait_running(self, w, name, ns="default", timeout=90, revision=None):
        """Until the workflow succeeded and everything is healthy (status.status "running"),
        for revision ("<app>-vN") when given."""
        def pred(a):
            st = a.get("status") or {}
            ph = dig(st, "workflow", "phase")
            if ph in ("failed", "terminated"):
                raise AssertionError("workflow of %s/%s is %s:\n%s\nhub log:\n%s" %
                                     (ns, name, ph, dump(st), w.hub.log(40)))
            if revision and dig(st, "latestRevision", "name") != revision:
                return False
            if revision and dig(st, "workflow", "appRevision") not in (None, revision):
                return False
            return st.get("status") == "running" and ph == "succeeded"
        return self.wait_app(w, name, pred, "running (workflow succeeded, healthy)%s" %
                             (" at " + revision if revision else ""), ns, timeout)

    def wait_spoke(self, w, c, kind, name, ns, pred=lambda o: True, what="", timeout=60):
        """Until the object exists on spoke c and pred(obj); returns it."""
        last = {}

        def check():
            o = w.spoke_get(c, kind, name, ns)
            last["o"] = o
            return o if (o and pred(o)) else None
        try:
            return e2e.wait_for(check, timeout, "%s %s/%s on %s %s" % (kind, ns, name, c, what), step=0.3)
        except AssertionError as e:
            raise AssertionError("%s\nlast seen:\n%s\nhub log:\n%s" % (e, dump(last.get("o"), 2000),
                                                                       w.hub.log(30))) from None

    def wait_gone(self, w, c, kind, name, ns, timeout=60):
        e2e.wait_for(lambda: w.spoke_get(c, kind, name, ns) is None, timeout,
                     "%s %s/%s deleted on %s" % (kind, ns, name, c))

    def assert_app_labels(self, o, app, comp, ns="default"):
        lb = dig(o, "metadata", "labels") or {}
        self.assertEqual(lb.get(LBL_NAME), app, "label %s on %s" % (LBL_NAME, dump(o["metadata"])))
        self.assertEqual(lb.get(LBL_NS), ns, "label %s" % LBL_NS)
        self.assertEqual(lb.get(LBL_COMP), comp, "label %s" % LBL_COMP)

    def resume(self, w, name, ns="default"):
        return w.navectl("workflow", "resume", name, "-n", ns)

    # =========================================================================================
    # 1. The multi-cluster topology + override example (reference/kubevela.md)
    REF_EXAMPLE = """
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: deploy-with-override, namespace: examples}
spec:
  components:
    - name: nginx-with-override
      type: webservice
      properties: {image: nginx}
  policies:
    - name: topology-hangzhou-clusters
      type: topology
      properties: {clusterLabelSelector: {region: hangzhou}}
    - name: topology-local
      type: topology
      properties: {clusters: ["local"], namespace: examples-alternative}
    - name: override-nginx-legacy-image
      type: override
      properties:
        components: [{name: nginx-with-override, properties: {image: "nginx:1.20"}}]
    - name: override-high-availability
      type: override
      properties:
        components: [{type: webservice, traits: [{type: scaler, properties: {replicas: 3}}]}]
  workflow:
    steps:
      - {type: deploy, name: deploy-local, properties: {policies: ["topology-local"]}}
      - type: deploy
        name: deploy-hangzhou
        properties:
          policies: ["topology-hangzhou-clusters", "override-nginx-legacy-image", "override-high-availability"]
"""

    def test_topology_override(self):
        w = self.make([("local", {}), ("hangzhou-1", {"region": "hangzhou"}),
                       ("hangzhou-2", {"region": "hangzhou"}), ("beijing-1", {"region": "beijing"})])
        app, ns, comp = "deploy-with-override", "examples", "nginx-with-override"
        w.apply(self.REF_EXAMPLE, via="kubectl")
        a = self.wait_running(w, app, ns)
        # local: the topology's namespace, no override.
        d = self.wait_spoke(w, "local", "deployment", comp, "examples-alternative")
        self.assertEqual(image(d), "nginx")
        self.assertEqual(replicas(d), 1)
        self.assert_app_labels(d, app, comp, ns)
        self.assertIsNone(w.deployment("local", comp, "examples"), "local got the hangzhou copy")
        self.assertIsNotNone(w.spoke_get("local", "namespace", "examples-alternative", None))
        # hangzhou: the Application's namespace, both overrides.
        for c in ("hangzhou-1", "hangzhou-2"):
            d = self.wait_spoke(w, c, "deployment", comp, ns)
            self.assertEqual(image(d), "nginx:1.20", "override-nginx-legacy-image on %s" % c)
            self.assertEqual(replicas(d), 3, "override-high-availability on %s" % c)
            self.assertEqual(dig(d, "status", "readyReplicas"), 3)
            self.assert_app_labels(d, app, comp, ns)
            self.assertIsNone(w.deployment(c, comp, "examples-alternative"))
        # beijing-1 is selected by nothing.
        self.assertIsNone(w.work_of("beijing-1", app, ns), "a work for beijing-1")
        self.assertIsNone(w.deployment("beijing-1", comp, ns))
        # The works: one per (application, cluster), named <ns>.<name>, as app.h says.
        for c in ("local", "hangzhou-1", "hangzhou-2"):
            mw = w.work_of(c, app, ns)
            self.assertIsNotNone(mw, "work %s.%s in %s" % (ns, app, c))
            self.assertEqual(dig(mw, "metadata", "labels", LBL_NAME), app)
            self.assertEqual(dig(mw, "metadata", "labels", LBL_NS), ns)
            kinds = [(m.get("kind"), dig(m, "metadata", "name")) for m in dig(mw, "spec", "workload", "manifests")]
            self.assertIn(("Deployment", comp), kinds)
            self.assertIn(("Namespace", "examples-alternative" if c == "local" else "examples"), kinds,
                          "the namespace in the work on %s" % c)
            self.assertEqual(dig(mw, "spec", "deleteOption", "propagationPolicy"), "SelectivelyOrphan")
            ids = [dig(m, "resourceIdentifier", "name") for m in dig(mw, "spec", "manifestConfigs") or []]
            self.assertIn(comp, ids, "a manifestConfigs entry (feedback) for the workload on %s" % c)
        # Status: one service per (component, cluster), healthy; both steps succeeded.
        st = a["status"]
        svc = sorted((s.get("cluster"), s.get("namespace"), s.get("healthy")) for s in st.get("services") or [])
        self.assertEqual(svc, [("hangzhou-1", ns, True), ("hangzhou-2", ns, True),
                               ("local", "examples-alternative", True)], dump(st))
        steps = {s.get("name"): s.get("phase") for s in dig(st, "workflow", "steps") or []}
        self.assertEqual(steps, {"deploy-local": "succeeded", "deploy-hangzhou": "succeeded"})
        self.assertEqual(sorted(c.get("name") for c in st.get("clusters") or []), ["hangzhou-1", "hangzhou-2", "local"])
        self.assertEqual(e2e.conds(a).get("Healthy", {}).get("status"), "True")
        # navectl app ls / status show it.
        out = w.navectl("app", "ls", "-n", ns).stdout
        self.assertIn(app, out)
        self.assertIn("running", out)
        out = w.navectl("app", "status", app, "-n", ns).stdout
        for c in ("local", "hangzhou-1", "hangzhou-2"):
            self.assertIn(c, out, "navectl app status lists %s:\n%s" % (c, out))
        self.assertIn(comp, out)
        out = w.navectl("app", "status", app, "-n", ns, "--tree").stdout
        for s in ("local", "hangzhou-1", "examples-alternative", "Deployment"):
            self.assertIn(s, out, "navectl app status --tree:\n%s" % out)

    def test_override_per_cluster(self):
        """Different overrides for different clusters of one topology (Nave's override
        `clusters` and `clusterLabelSelector`)."""
        w = self.make([("hangzhou-1", {"region": "hangzhou", "tier": "small"}),
                       ("hangzhou-2", {"region": "hangzhou", "tier": "big"}),
                       ("hangzhou-3", {"region": "hangzhou", "tier": "small"})])
        spec = {"components": [webservice("web", "nginx:1.25")],
                "policies": [topology("hz", selector={"region": "hangzhou"}),
                             scaler_override("two-on-hz1", 2, component="web", clusters=["hangzhou-1"]),
                             scaler_override("five-on-big", 5, component="web",
                                             clusterLabelSelector={"tier": "big"})],
                "workflow": {"steps": [deploy("everywhere", "hz", "two-on-hz1", "five-on-big")]}}
        w.apply(app_obj("per-cluster", spec))
        self.wait_running(w, "per-cluster")
        for c, n in (("hangzhou-1", 2), ("hangzhou-2", 5), ("hangzhou-3", 1)):
            d = self.wait_spoke(w, c, "deployment", "web", "default")
            self.assertEqual(replicas(d), n, "replicas on %s" % c)

    # =========================================================================================
    # 2 and 3. Revisions: a change of one component, rollback
    def shop(self, front_image):
        """Three components: frontend on cluster-1, backend and worker on cluster-2 and -3."""
        return app_obj("shop", {
            "components": [webservice("frontend", front_image),
                           webservice("backend", "redis:7"),
                           {"name": "worker", "type": "worker",
                            "properties": {"image": "busybox:1.36", "cmd": ["sleep", "100000"]}}],
            "policies": [topology("front", clusters=["cluster-1"]),
                         topology("back", clusters=["cluster-2", "cluster-3"]),
                         scaler_override("only-frontend", 2, component="frontend", selector=["frontend"]),
                         scaler_override("only-backend", 1, component="backend", selector=["backend", "worker"])],
            "workflow": {"steps": [deploy("deploy-front", "front", "only-frontend"),
                                   deploy("deploy-back", "back", "only-backend")]}})

    def shop_v1_v2(self, w):
        """Deploy shop v1 then change the frontend's image (v2); check what changed and what
        did not. Returns the works' versions before the change."""
        w.apply(self.shop("nginx:1.25"))
        a = self.wait_running(w, "shop", revision="shop-v1")
        d = self.wait_spoke(w, "cluster-1", "deployment", "frontend", "default")
        self.assertEqual(image(d), "nginx:1.25")
        self.assertEqual(replicas(d), 2)
        self.assertIsNone(w.deployment("cluster-1", "backend"), "the override selector keeps only frontend")
        for c in ("cluster-2", "cluster-3"):
            self.wait_spoke(w, c, "deployment", "backend", "default")
            self.wait_spoke(w, c, "deployment", "worker", "default")
            self.assertIsNone(w.deployment(c, "frontend"))
        self.assertEqual(dig(a, "status", "latestRevision", "revision"), 1)
        # Applying the same spec again makes no revision.
        w.apply(self.shop("nginx:1.25"))
        before = {}
        for c in ("cluster-1", "cluster-2", "cluster-3"):
            mw = w.work_of(c, "shop")
            before[c] = {"generation": dig(mw, "metadata", "generation"),
                         "resourceVersion": dig(mw, "metadata", "resourceVersion"),
                         "spokes": {n: dig(w.deployment(c, n), "metadata", "resourceVersion")
                                    for n in ("frontend", "backend", "worker")}}
        self.assertEqual([r["metadata"]["name"] for r in w.revisions("shop")], ["shop-v1"],
                         "re-applying an unchanged spec made a revision")
        # v2: the frontend's image.
        w.apply(self.shop("nginx:1.26"))
        self.wait_spoke(w, "cluster-1", "deployment", "frontend", "default",
                        lambda d: image(d) == "nginx:1.26", "with image nginx:1.26")
        a = self.wait_running(w, "shop", revision="shop-v2")
        revs = w.revisions("shop")
        self.assertEqual([r["metadata"]["name"] for r in revs], ["shop-v1", "shop-v2"])
        for r in revs:
            self.assertEqual(dig(r, "metadata", "labels", LBL_NAME), "shop")
            # The label holds a prefix of the hash: a label value has at most 63 characters.
            full = dig(r, "spec", "revisionHash") or ""
            self.assertEqual(len(full), 64, "spec.revisionHash")
            label = dig(r, "metadata", "labels", "app.oam.dev/app-revision-hash") or ""
            self.assertTrue(label and full.startswith(label), "label %r, hash %r" % (label, full))
        self.assertNotEqual(dig(revs[0], "spec", "revisionHash"), dig(revs[1], "spec", "revisionHash"))
        self.assertEqual(dig(revs[1], "spec", "application", "spec", "components", 0, "properties", "image"),
                         "nginx:1.26")
        self.assertTrue(dig(revs[0], "status", "succeeded"), "v1 succeeded: %s" % dump(revs[0].get("status")))
        # Only cluster-1's work was rewritten; the others are untouched, on the hub and on the spokes.
        mw1 = w.work_of("cluster-1", "shop")
        self.assertGreater(dig(mw1, "metadata", "generation"), before["cluster-1"]["generation"])
        for c in ("cluster-2", "cluster-3"):
            mw = w.work_of(c, "shop")
            self.assertEqual(dig(mw, "metadata", "generation"), before[c]["generation"],
                             "work on %s rewritten for a change of frontend only" % c)
            self.assertEqual(dig(mw, "metadata", "resourceVersion"), before[c]["resourceVersion"],
                             "work on %s written (resourceVersion changed)" % c)
            for n in ("backend", "worker"):
                self.assertEqual(dig(w.deployment(c, n), "metadata", "resourceVersion"), before[c]["spokes"][n],
                                 "%s on %s rewritten" % (n, c))
        svc = {(s.get("name"), s.get("cluster")): s for s in dig(a, "status", "services") or []}
        self.assertEqual(sorted(svc), [("backend", "cluster-2"), ("backend", "cluster-3"), ("frontend", "cluster-1"),
                                       ("worker", "cluster-2"), ("worker", "cluster-3")])
        self.assertEqual(svc[("frontend", "cluster-1")].get("revision"), "shop-v2")
        # The CLI's view.
        out = w.navectl("app", "revisions", "shop").stdout
        self.assertIn("shop-v1", out)
        self.assertIn("shop-v2", out)
        r = w.navectl("app", "diff", "shop", "v1", "v2", check=False)
        self.assertEqual(r.returncode, 1, "navectl app diff exits 1 when the revisions differ: %s" % r.stderr)
        out = r.stdout
        self.assertIn("nginx:1.26", out, "navectl app diff shop v1 v2:\n%s" % out)
        self.assertIn("nginx:1.25", out, "navectl app diff shop v1 v2:\n%s" % out)
        return before

    def test_image_change_new_revision(self):
        w = self.make([("cluster-1", {}), ("cluster-2", {}), ("cluster-3", {})])
        self.shop_v1_v2(w)

    def test_rollback(self):
        w = self.make([("cluster-1", {}), ("cluster-2", {}), ("cluster-3", {})])
        self.shop_v1_v2(w)
        uid = dig(w.deployment("cluster-1", "frontend"), "metadata", "uid")
        w.navectl("app", "rollback", "shop", "--to", "v1")
        self.wait_spoke(w, "cluster-1", "deployment", "frontend", "default",
                        lambda d: image(d) == "nginx:1.25", "back to nginx:1.25")
        a = self.wait_running(w, "shop", revision="shop-v1")
        self.assertEqual(dig(a, "spec", "components", 0, "properties", "image"), "nginx:1.25",
                         "the Application's spec is v1's again")
        self.assertEqual([r["metadata"]["name"] for r in w.revisions("shop")], ["shop-v1", "shop-v2"],
                         "a rollback to v1 reuses v1 (same hash), no v3")
        d = w.deployment("cluster-1", "frontend")
        self.assertEqual(replicas(d), 2)
        self.assertEqual(dig(d, "metadata", "uid"), uid, "rolled back in place, not recreated")
        for c in ("cluster-2", "cluster-3"):
            self.assertIsNotNone(w.deployment(c, "backend"))
            self.assertIsNone(w.deployment(c, "frontend"))
        # A revision that does not exist: refused, saying which.
        r = w.navectl("app", "rollback", "shop", "--to", "v9", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("v9", r.stdout + r.stderr)

    # =========================================================================================
    # 4. Placement follows the fleet
    def test_fourth_cluster_joins(self):
        w = self.make([("hangzhou-1", {"region": "hangzhou"}), ("hangzhou-2", {"region": "hangzhou"}),
                       ("beijing-1", {"region": "beijing"}), ("hangzhou-3", {"region": "hangzhou"})],
                      late=["hangzhou-3"])
        spec = {"components": [webservice("web", "nginx:1.25")],
                "policies": [topology("hz", selector={"region": "hangzhou"})]}
        w.apply(app_obj("follow", spec))
        # matchExpressions (KubeVela #5172): not in hangzhou.
        spec2 = {"components": [webservice("api", "nginx:1.25")],
                 "policies": [topology("not-hz", selector={"matchExpressions": [
                     {"key": "region", "operator": "NotIn", "values": ["hangzhou"]}]})]}
        w.apply(app_obj("elsewhere", spec2))
        self.wait_running(w, "follow")
        self.wait_running(w, "elsewhere")
        for c in ("hangzhou-1", "hangzhou-2"):
            self.wait_spoke(w, c, "deployment", "web", "default")
            self.assertIsNone(w.deployment(c, "api"))
        self.wait_spoke(w, "beijing-1", "deployment", "api", "default")
        self.assertIsNone(w.work_of("beijing-1", "follow"))
        # The fourth cluster joins with region=hangzhou: it gets "follow".
        w.join("hangzhou-3")
        self.wait_spoke(w, "hangzhou-3", "deployment", "web", "default", timeout=90)
        self.wait_app(w, "follow", lambda a: sorted(s.get("cluster") for s in dig(a, "status", "services") or [])
                      == ["hangzhou-1", "hangzhou-2", "hangzhou-3"] and a["status"].get("status") == "running",
                      "services on the three hangzhou clusters")
        self.assertIsNone(w.deployment("hangzhou-3", "api"))
        # beijing-1 moves to hangzhou: it gets "follow" and loses "elsewhere".
        w.navectl("cluster", "label", "beijing-1", "region=hangzhou", "--overwrite")
        self.wait_spoke(w, "beijing-1", "deployment", "web", "default", timeout=90)
        self.wait_gone(w, "beijing-1", "deployment", "api", "default", timeout=90)
        # hangzhou-1 leaves hangzhou: its work is deleted, the object with it.
        w.navectl("cluster", "label", "hangzhou-1", "region=shanghai", "--overwrite")
        self.wait_gone(w, "hangzhou-1", "deployment", "web", "default", timeout=90)
        e2e.wait_for(lambda: w.work_of("hangzhou-1", "follow") is None, 60, "the work on hangzhou-1 deleted")
        self.wait_spoke(w, "hangzhou-1", "deployment", "api", "default", timeout=90)
        for c in ("hangzhou-2", "hangzhou-3", "beijing-1"):
            self.assertIsNotNone(w.deployment(c, "web"), "web kept on %s" % c)

    # =========================================================================================
    # 5. The AppDeployment split
    def test_appdeployment_split(self):
        w = self.make([("cluster-1", {}), ("cluster-2", {}), ("cluster-3", {})])
        with open(os.path.join(EXAMPLES, "appdeployment-v1.yaml")) as f:
            v1 = f.read()
        with open(os.path.join(EXAMPLES, "appdeployment-split.yaml")) as f:
            split = f.read()
        w.apply(v1)
        self.wait_running(w, "testapp", revision="testapp-v1")
        d = self.wait_spoke(w, "cluster-1", "deployment", "testsvc", "default")
        self.assertEqual((image(d), replicas(d)), ("oamdev/testapp:v1", 3))
        gen1 = dig(w.work_of("cluster-1", "testapp"), "metadata", "generation")
        w.apply(split)
        self.wait_running(w, "testapp", revision="testapp-v2")
        d2 = self.wait_spoke(w, "cluster-2", "deployment", "testsvc", "default")
        self.assertEqual((image(d2), replicas(d2)), ("oamdev/testapp:v2", 4), "v2 on cluster-2 with 4 replicas")
        d1 = w.deployment("cluster-1", "testsvc")
        self.assertEqual((image(d1), replicas(d1)), ("oamdev/testapp:v1", 3), "v1 stays on cluster-1 with 3")
        self.assertEqual(dig(w.work_of("cluster-1", "testapp"), "metadata", "generation"), gen1,
                         "cluster-1's work rewritten although its objects did not change")
        self.assertIsNone(w.work_of("cluster-3", "testapp"))
        self.assertIsNone(w.deployment("cluster-3", "testsvc"))
        for c, n in (("cluster-1", 3), ("cluster-2", 4)):
            self.wait_spoke(w, c, "deployment", "testsvc", "default",
                            lambda d, n=n: dig(d, "status", "readyReplicas") == n, "%d ready" % n)

    # =========================================================================================
    # 6. Workflow: suspend until resumed; terminate and restart
    def test_suspend_resume(self):
        w = self.make([("cluster-1", {}), ("cluster-2", {}), ("cluster-3", {})])
        hook = Webhook()
        self.addCleanup(hook.close)
        spec = {"components": [webservice("web", "nginx:1.25")],
                "policies": [topology("first", clusters=["cluster-1"]),
                             topology("rest", clusters=["cluster-2", "cluster-3"])],
                "workflow": {"steps": [
                    deploy("deploy-first", "first"),
                    {"name": "tell", "type": "notification",
                     "properties": {"slack": {"url": {"value": hook.url("/slack")},
                                              "message": {"text": "approve shop please"}}}},
                    {"name": "hold", "type": "suspend", "properties": {"message": "waiting for approval"}},
                    deploy("deploy-rest", "rest")]}}
        w.apply(app_obj("gated", spec))
        a = self.wait_phase(w, "gated", "suspending")
        self.assertEqual(dig(a, "status", "status"), "workflowSuspending")
        self.assertTrue(dig(a, "status", "workflow", "suspend"))
        steps = {s.get("name"): s.get("phase") for s in dig(a, "status", "workflow", "steps") or []}
        self.assertEqual(steps.get("deploy-first"), "succeeded", dump(a["status"]))
        self.assertEqual(steps.get("tell"), "succeeded", dump(a["status"]))
        self.assertEqual(steps.get("hold"), "suspending", dump(a["status"]))
        self.assertIn(steps.get("deploy-rest"), (None, "pending"), dump(a["status"]))
        self.wait_spoke(w, "cluster-1", "deployment", "web", "default")
        self.assertEqual(len(hook.bodies), 1, "one webhook POST: %s" % hook.bodies)
        self.assertEqual(hook.bodies[0]["path"], "/slack")
        self.assertEqual(json.loads(hook.bodies[0]["body"]).get("text"), "approve shop please")
        # Suspended, it stays so: watched for 3 s (a negative cannot be awaited), with the
        # first cluster's workload ready meanwhile (status keeps flowing).
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            a2 = w.app("gated")
            self.assertEqual(dig(a2, "status", "workflow", "phase"), "suspending", dump(a2.get("status")))
            for c in ("cluster-2", "cluster-3"):
                self.assertIsNone(w.work_of(c, "gated"), "deploy-rest ran before the resume (%s)" % c)
            time.sleep(0.3)
        for c in ("cluster-2", "cluster-3"):
            self.assertIsNone(w.deployment(c, "web"))
        self.resume(w, "gated")
        for c in ("cluster-2", "cluster-3"):
            self.wait_spoke(w, c, "deployment", "web", "default")
        a = self.wait_running(w, "gated")
        steps = {s.get("name"): s.get("phase") for s in dig(a, "status", "workflow", "steps") or []}
        self.assertEqual(steps, {"deploy-first": "succeeded", "tell": "succeeded", "hold": "succeeded",
                                 "deploy-rest": "succeeded"})
        self.assertEqual(len(hook.bodies), 1, "the notification ran again: %s" % hook.bodies)
        # Nothing to resume now: 409, saying why.
        r = self.resume_fails(w, "gated")
        self.assertTrue(r, "resume of a running workflow")

    def resume_fails(self, w, name):
        r = w.navectl("workflow", "resume", name, check=False)
        if r.returncode == 0:
            return None
        self.assertTrue((r.stderr + r.stdout).strip(), "an error message")
        return r.stderr + r.stdout

    def test_terminate_restart(self):
        w = self.make([("cluster-1", {}), ("cluster-2", {}), ("cluster-3", {})])
        spec = {"components": [webservice("web", "nginx:1.25")],
                "policies": [topology("all", clusters=["cluster-1", "cluster-2", "cluster-3"])],
                "workflow": {"steps": [{"name": "approve", "type": "suspend"}, deploy("go", "all")]}}
        w.apply(app_obj("stoppable", spec))
        self.wait_phase(w, "stoppable", "suspending")
        w.navectl("workflow", "terminate", "stoppable")
        a = self.wait_phase(w, "stoppable", "terminated")
        self.assertEqual(dig(a, "status", "status"), "workflowTerminated")
        self.assertNotEqual(e2e.conds(a).get("Healthy", {}).get("status"), "True", "healthy while terminated")
        r = self.resume_fails(w, "stoppable")
        self.assertTrue(r, "resume of a terminated workflow must be refused")
        for c in ("cluster-1", "cluster-2", "cluster-3"):
            self.assertIsNone(w.work_of(c, "stoppable"))
        w.navectl("workflow", "restart", "stoppable")
        self.wait_phase(w, "stoppable", "suspending")
        self.resume(w, "stoppable")
        self.wait_running(w, "stoppable")
        for c in ("cluster-1", "cluster-2", "cluster-3"):
            self.wait_spoke(w, c, "deployment", "web", "default")
        # suspend on a finished workflow: refused or a no-op, never a failure of the app.
        w.navectl("workflow", "suspend", "stoppable", check=False)
        self.assertNotIn(dig(w.app("stoppable"), "status", "workflow", "phase"), ("failed", "terminated"))

    def test_failed_workflow_never_healthy(self):
        """KubeVela #4293/#5966: HEALTHY=true while the workflow failed. Here the workloads are
        healthy but a later step fails (a webhook answering 500; a step timeout)."""
        w = self.make([("cluster-1", {}), ("cluster-2", {})])
        hook = Webhook()
        self.addCleanup(hook.close)
        spec = {"components": [webservice("web", "nginx:1.25")],
                "policies": [topology("one", clusters=["cluster-1"])],
                "workflow": {"steps": [
                    deploy("deploy", "one"),
                    {"name": "tell", "type": "notification",
                     "properties": {"webhook": {"url": {"value": hook.url("/fail")}, "message": {"text": "hi"}}}}]}}
        w.apply(app_obj("noisy", spec))
        # kubesim's --fail-pattern: an image tagged fail... never becomes ready.
        spec2 = {"components": [webservice("web", "nginx:fail-1")],
                 "policies": [topology("two", clusters=["cluster-2"])],
                 "workflow": {"steps": [dict(deploy("deploy", "two"), timeout="5s")]}}
        w.apply(app_obj("slow", spec2))
        for name, step in (("noisy", "tell"), ("slow", "deploy")):
            a = self.wait_phase(w, name, "failed", timeout=60)
            st = a["status"]
            self.assertEqual(st.get("status"), "workflowFailed", dump(st))
            self.assertNotEqual(e2e.conds(a).get("Healthy", {}).get("status"), "True", dump(st))
            steps = {s.get("name"): s for s in dig(st, "workflow", "steps") or []}
            self.assertEqual(steps[step].get("phase"), "failed", dump(st))
            self.assertTrue(steps[step].get("message"), "the failed step says why: %s" % dump(steps[step]))
            sys.stderr.write("FAILED-STEP %s: %s\n" % (name, steps[step].get("message")))
        self.assertTrue(any(b["path"] == "/fail" for b in hook.bodies), hook.bodies)
        # The healthy workload of "noisy" is there all the same.
        self.wait_spoke(w, "cluster-1", "deployment", "web", "default",
                        lambda d: dig(d, "status", "readyReplicas") == 1, "ready")
        svc = dig(w.app("noisy"), "status", "services") or []
        self.assertTrue(svc and all(s.get("healthy") for s in svc), dump(svc))
        self.assertNotEqual(e2e.conds(w.app("noisy")).get("Healthy", {}).get("status"), "True")

    def test_depends_on_waits(self):
        """dependsOn: a component is applied on a cluster only once what it depends on is
        healthy there (db's image never becomes ready until it is fixed)."""
        w = self.make([("cluster-1", {}), ("cluster-2", {})])

        def spec(db_image):
            return {"components": [webservice("db", db_image), dict(webservice("api", "nginx:1.25"),
                                                                    dependsOn=["db"])],
                    "policies": [topology("both", clusters=["cluster-1", "cluster-2"])]}
        w.apply(app_obj("layered", spec("postgres:fail-16")))
        for c in ("cluster-1", "cluster-2"):
            self.wait_spoke(w, c, "deployment", "db", "default")
        a = self.wait_app(w, "layered", lambda a: any(s.get("name") == "db" and s.get("healthy") is False
                                                      for s in dig(a, "status", "services") or []),
                          "db reported unhealthy")
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            for c in ("cluster-1", "cluster-2"):
                self.assertIsNone(w.deployment(c, "api"), "api applied before db is healthy on %s" % c)
            time.sleep(0.3)
        self.assertNotEqual(dig(w.app("layered"), "status", "status"), "running")
        w.apply(app_obj("layered", spec("postgres:16")))
        for c in ("cluster-1", "cluster-2"):
            self.wait_spoke(w, c, "deployment", "api", "default")
        self.wait_running(w, "layered", revision="layered-v2")

    # =========================================================================================
    # 7. User-defined ComponentDefinition and TraitDefinitions (Nave schematic)
    GREETER = """
apiVersion: core.oam.dev/v1beta1
kind: ComponentDefinition
metadata:
  name: greeter
  namespace: vela-system
  annotations: {definition.oam.dev/description: "a Deployment that greets, plus its ConfigMap"}
spec:
  workload:
    definition: {apiVersion: apps/v1, kind: Deployment}
    type: deployments.apps
  schematic:
    nave:
      parameters:
        type: object
        properties:
          image: {type: string, required: true}
          greeting: {type: string, default: hello}
          replicas: {type: integer, default: 1, minimum: 0, maximum: 10}
          mood: {type: string, enum: [happy, grumpy], default: happy}
      let:
        - name: labels
          value: {app: "${context.name}", mood: "${parameter.mood}"}
      output:
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: "${context.name}"
          labels: "${let.labels}"
        spec:
          replicas: "${parameter.replicas}"
          selector: {matchLabels: {app: "${context.name}"}}
          template:
            metadata: {labels: "${let.labels}"}
            spec:
              containers:
                - name: main
                  image: "${parameter.image}"
                  env:
                    - {name: GREETING, value: "${parameter.greeting}, ${context.cluster}"}
                    - {name: APP, value: "${context.appName}"}
      outputs:
        config:
          apiVersion: v1
          kind: ConfigMap
          metadata: {name: "${context.name}-greeting"}
          data: {greeting: "${parameter.greeting}", cluster: "${context.cluster}", namespace: "${context.namespace}"}
      status:
        feedback:
          - {name: readyReplicas, jsonPath: ".status.readyReplicas"}
          - {name: replicas, jsonPath: ".status.replicas"}
        healthy: "(status.readyReplicas ?? 0) == parameter.replicas"
        message: "greeters ready: ${status.readyReplicas ?? 0} of ${parameter.replicas}"
"""
    TRAITS = """
apiVersion: core.oam.dev/v1beta1
kind: TraitDefinition
metadata: {name: team, namespace: team-a}
spec:
  appliesToWorkloads: ["deployments.apps"]
  schematic:
    nave:
      parameters:
        type: object
        properties:
          name: {type: string, required: true}
          tier: {type: string, enum: [frontend, backend], default: backend}
      patch:
        type: merge
        template:
          metadata: {labels: {team: "${parameter.name}"}}
          spec: {template: {metadata: {labels: {team: "${parameter.name}", tier: "${parameter.tier}"}}}}
      outputs:
        svc:
          apiVersion: v1
          kind: Service
          metadata: {name: "${context.name}-${parameter.name}"}
          spec:
            selector: {app: "${context.name}"}
            ports: [{port: 80, targetPort: 8080}]
---
apiVersion: core.oam.dev/v1beta1
kind: TraitDefinition
metadata: {name: add-env, namespace: team-a}
spec:
  appliesToWorkloads: ["Deployment"]
  schematic:
    nave:
      parameters:
        type: object
        properties:
          key: {type: string, required: true}
          value: {type: string, default: "on"}
      patch:
        type: json
        template:
          - {op: add, path: /spec/template/spec/containers/0/env/-, value: {name: "${parameter.key}", value: "${parameter.value}"}}
---
apiVersion: core.oam.dev/v1beta1
kind: TraitDefinition
metadata: {name: logger, namespace: team-a}
spec:
  appliesToWorkloads: ["*"]
  schematic:
    nave:
      parameters:
        type: object
        properties:
          image: {type: string, default: "fluent/fluent-bit:3"}
      patch:
        type: strategic
        template:
          spec:
            template:
              spec:
                containers:
                  - {name: logger, image: "${parameter.image}"}
---
apiVersion: core.oam.dev/v1beta1
kind: TraitDefinition
metadata: {name: scaler, namespace: team-a}
spec:
  appliesToWorkloads: ["deployments.apps"]
  schematic:
    nave:
      parameters:
        type: object
        properties:
          replicas: {type: integer, default: 1}
      patch:
        type: merge
        template:
          spec: {replicas: "${parameter.replicas * 2}"}
---
apiVersion: core.oam.dev/v1beta1
kind: TraitDefinition
metadata: {name: jobs-only, namespace: team-a}
spec:
  appliesToWorkloads: ["jobs.batch"]
  schematic:
    nave:
      patch:
        type: merge
        template: {metadata: {labels: {job: "yes"}}}
"""

    def test_user_definitions(self):
        names = ["cluster-1", "cluster-2", "cluster-3"]
        w = self.make([(c, {}) for c in names])
        w.apply(self.GREETER, via="kubectl")
        w.apply(self.TRAITS)
        ns = "team-a"
        spec = {"components": [
            {"name": "hello", "type": "greeter",
             "properties": {"image": "busybox:1.36", "greeting": "hi", "replicas": 2},
             "traits": [{"type": "team", "properties": {"name": "blue", "tier": "frontend"}},
                        {"type": "add-env", "properties": {"key": "FEATURE_X"}},
                        {"type": "logger"}]},
            {"name": "scaled", "type": "webservice", "properties": {"image": "nginx:1.25"},
             "traits": [{"type": "scaler", "properties": {"replicas": 2}}]}],
            "policies": [topology("all", clusters=names)]}
        w.apply(app_obj("greetings", spec, ns=ns), via="kubectl")
        a = self.wait_running(w, "greetings", ns)
        for c in names:
            d = self.wait_spoke(w, c, "deployment", "hello", ns)
            self.assertEqual(replicas(d), 2)
            self.assertEqual(dig(d, "metadata", "labels", "team"), "blue", "merge patch (team)")
            self.assertEqual(dig(d, "metadata", "labels", "mood"), "happy", "the let value and the default")
            self.assertEqual(dig(d, "spec", "template", "metadata", "labels", "tier"), "frontend")
            main = container(d, "main")
            self.assertEqual(main.get("image"), "busybox:1.36")
            env = {e["name"]: e.get("value") for e in main.get("env") or []}
            self.assertEqual(env, {"GREETING": "hi, " + c, "APP": "greetings", "FEATURE_X": "on"},
                             "context.cluster, context.appName and the json patch")
            self.assertEqual((container(d, "logger") or {}).get("image"), "fluent/fluent-bit:3",
                             "strategic merge added the logger container: %s" % containers(d))
            self.assert_app_labels(d, "greetings", "hello", ns)
            cm = self.wait_spoke(w, c, "configmap", "hello-greeting", ns)
            self.assertEqual(cm.get("data"), {"greeting": "hi", "cluster": c, "namespace": ns})
            self.assert_app_labels(cm, "greetings", "hello", ns)
            svc = self.wait_spoke(w, c, "service", "hello-blue", ns)
            self.assertEqual(dig(svc, "spec", "selector"), {"app": "hello"})
            # The user's scaler (team-a) wins over the built-in: replicas doubled.
            self.assertEqual(replicas(self.wait_spoke(w, c, "deployment", "scaled", ns)), 4,
                             "the user's scaler did not override the built-in")
        hello = [s for s in dig(a, "status", "services") or [] if s.get("name") == "hello"]
        self.assertEqual(len(hello), 3, dump(a["status"]))
        for s in hello:
            self.assertTrue(s.get("healthy"), dump(s))
            self.assertEqual(s.get("message"), "greeters ready: 2 of 2", dump(s))
            self.assertEqual(dig(s, "workloadDefinition", "kind"), "Deployment")
        rev = w.revisions("greetings", ns)[-1]
        self.assertIn("greeter", dig(rev, "spec", "componentDefinitions") or {})
        self.assertIn("team", dig(rev, "spec", "traitDefinitions") or {})
        # Parameter errors against the user's schema name the field.
        bad = json.loads(json.dumps(spec))
        bad["components"][0]["properties"]["mood"] = "sleepy"
        r = w.apply(app_obj("greetings-bad", bad, ns=ns), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("spec.components[0].properties.mood", r.stderr + r.stdout)
        bad = json.loads(json.dumps(spec))
        bad["components"][0]["traits"][0]["properties"] = {"tier": "frontend"}
        r = w.apply(app_obj("greetings-bad", bad, ns=ns), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("spec.components[0].traits[0].properties.name", r.stderr + r.stdout)
        bad = json.loads(json.dumps(spec))
        bad["components"][0]["traits"].append({"type": "jobs-only"})
        r = w.apply(app_obj("greetings-bad", bad, ns=ns), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("spec.components[0].traits[3]", r.stderr + r.stdout)
        self.assertIn("jobs-only", r.stderr + r.stdout)
        # A change of the definition is a new revision and reaches the spokes.
        w.apply(self.GREETER.replace("default: happy", "default: grumpy"), via="kubectl")
        for c in names:
            self.wait_spoke(w, c, "deployment", "hello", ns,
                            lambda d: dig(d, "metadata", "labels", "mood") == "grumpy", "mood grumpy", timeout=90)
        self.wait_running(w, "greetings", ns, revision="greetings-v2")

    # =========================================================================================
    # 8. Bad Applications: each refused with a message naming the field
    BASE = {"components": [{"name": "web", "type": "webservice", "properties": {"image": "nginx"}}]}

    @staticmethod
    def _bad_cases():
        def comp(**kw):
            c = {"name": "web", "type": "webservice", "properties": {"image": "nginx"}}
            c.update(kw)
            return c
        topo = topology("here", clusters=["local"])
        BASE_COMPONENTS = {"components": [comp()]}  # noqa: N806
        many = [{"name": "c%d" % i, "type": "webservice", "properties": {"image": "nginx"}} for i in range(129)]
        # (case, spec, substrings the message must hold)
        return [
            ("unknown component type", {"components": [comp(type="webservise")]},
             ["spec.components[0].type", "webservise"]),
            ("missing component type", {"components": [{"name": "web", "properties": {"image": "x"}}]},
             ["spec.components[0].type"]),
            ("unknown trait type", {"components": [comp(traits=[{"type": "scalerr"}])]},
             ["spec.components[0].traits[0].type", "scalerr"]),
            ("missing required parameter", {"components": [comp(properties={"cmd": ["sleep"]})]},
             ["spec.components[0].properties.image"]),
            ("unknown parameter", {"components": [comp(properties={"image": "nginx", "imagee": "x"})]},
             ["spec.components[0].properties.imagee"]),
            ("mistyped trait parameter",
             {"components": [comp(traits=[{"type": "scaler", "properties": {"replicas": "three"}}])]},
             ["spec.components[0].traits[0].properties.replicas"]),
            ("mistyped nested parameter",
             {"components": [comp(properties={"image": "nginx", "ports": [{"port": "eighty"}]})]},
             ["spec.components[0].properties.ports[0].port"]),
            ("value not in enum",
             {"components": [comp(properties={"image": "nginx", "imagePullPolicy": "Sometimes"})]},
             ["spec.components[0].properties.imagePullPolicy", "Sometimes"]),
            ("trait that does not apply to the workload",
             {"components": [{"name": "job", "type": "task", "properties": {"image": "perl"},
                              "traits": [{"type": "scaler", "properties": {"replicas": 2}}]}]},
             ["spec.components[0].traits[0]", "scaler"]),
            ("duplicate component name", {"components": [comp(), comp()]},
             ["spec.components[1].name", "web"]),
            ("component name not a DNS label", {"components": [comp(name="Web_1")]},
             ["spec.components[0].name", "Web_1"]),
            ("dependsOn an unknown component", {"components": [comp(dependsOn=["db"])]},
             ["spec.components[0].dependsOn[0]", "db"]),
            ("dependsOn cycle", {"components": [comp(name="a", dependsOn=["b"]), comp(name="b", dependsOn=["a"])]},
             ["dependsOn", "cycle"]),
            ("components not a list", {"components": "web"}, ["spec.components"]),
            ("too many components", {"components": many}, ["spec.components", "128"]),
            ("unknown policy type", dict(BASE_COMPONENTS, policies=[{"name": "p", "type": "topologee"}]),
             ["spec.policies[0].type", "topologee"]),
            ("deploy step naming an unknown policy",
             dict(BASE_COMPONENTS, policies=[topo], workflow={"steps": [deploy("d", "nope")]}),
             ["spec.workflow.steps[0].properties.policies[0]", "nope"]),
            ("override naming no component",
             dict(BASE_COMPONENTS, policies=[topo, {"name": "o", "type": "override", "properties": {
                 "components": [{"name": "nope", "properties": {"image": "x"}}]}}]),
             ["spec.policies[1].properties.components[0].name", "nope"]),
            ("override used without a topology",
             dict(BASE_COMPONENTS, policies=[scaler_override("ha", 3)],
                  workflow={"steps": [deploy("d", "ha")]}),
             ["spec.workflow.steps[0]", "topology"]),
            ("unknown step type", dict(BASE_COMPONENTS, workflow={"steps": [{"name": "s", "type": "deploy2"}]}),
             ["spec.workflow.steps[0].type", "deploy2"]),
            ("duplicate step name",
             dict(BASE_COMPONENTS, policies=[topo], workflow={"steps": [deploy("d", "here"), deploy("d", "here")]}),
             ["spec.workflow.steps[1].name"]),
            ("bad suspend duration",
             dict(BASE_COMPONENTS, workflow={"steps": [{"name": "s", "type": "suspend",
                                                         "properties": {"duration": "soon"}}]}),
             ["spec.workflow.steps[0].properties.duration", "soon"]),
            ("bad step timeout",
             dict(BASE_COMPONENTS, policies=[topo],
                  workflow={"steps": [dict(deploy("d", "here"), timeout="forever")]}),
             ["spec.workflow.steps[0].timeout", "forever"]),
            ("notification URL not http(s)",
             dict(BASE_COMPONENTS, workflow={"steps": [{"name": "n", "type": "notification", "properties": {
                 "webhook": {"url": {"value": "ftp://example.com/x"}, "message": {"text": "x"}}}}]}),
             ["spec.workflow.steps[0].properties.webhook.url", "ftp://example.com/x"]),
            ("apply-component naming an unknown component",
             dict(BASE_COMPONENTS, workflow={"steps": [{"name": "a", "type": "apply-component",
                                                         "properties": {"component": "nope"}}]}),
             ["spec.workflow.steps[0].properties.component", "nope"]),
            ("step inputs (unsupported)",
             dict(BASE_COMPONENTS, workflow={"steps": [{"name": "a", "type": "apply-component",
                                                         "inputs": [{"from": "x", "parameterKey": "y"}],
                                                         "properties": {"component": "web"}}]}),
             ["spec.workflow.steps[0].inputs", "nsupported"]),
            ("properties not an object", {"components": [comp(properties=["image", "nginx"])]},
             ["spec.components[0].properties"]),
        ]

    def test_bad_applications(self):
        w = self.make([("local", {})])
        # The base is fine (so the refusals below are about what each case changes).
        w.apply(app_obj("good", self.BASE))
        self.wait_running(w, "good")
        cases = self._bad_cases()
        self.assertGreaterEqual(len(cases), 15)
        failures = []
        for i, (case, spec, needles) in enumerate(cases):
            name = "bad-%d" % i
            for via in ("navectl", "kubectl"):
                r = w.apply(app_obj(name, spec), check=False, via=via)
                out = r.stdout + r.stderr
                if r.returncode == 0:
                    failures.append("%s (%s): accepted:\n%s" % (case, via, out))
                    w.navectl("delete", "application", name, check=False)
                    continue
                missing = [n for n in needles if n not in out]
                if missing:
                    failures.append("%s (%s): the message lacks %s:\n%s" % (case, via, missing, out.strip()))
                if w.app(name) is not None:
                    failures.append("%s (%s): the Application exists although refused" % (case, via))
            sys.stderr.write("BADAPP %-45s %s\n" % (case, out.strip().replace("\n", " | ")[:300]))
        # A CUE definition: refused, pointing at the Nave schematic.
        r = w.apply({"apiVersion": "core.oam.dev/v1beta1", "kind": "ComponentDefinition",
                     "metadata": {"name": "cue-one", "namespace": "default"},
                     "spec": {"workload": {"definition": {"apiVersion": "apps/v1", "kind": "Deployment"}},
                              "schematic": {"cue": {"template": "output: {}"}}}}, check=False)
        out = r.stdout + r.stderr
        if r.returncode == 0 or "spec.schematic.cue" not in out:
            failures.append("a CUE ComponentDefinition: rc %d:\n%s" % (r.returncode, out))
        # Problems only the placement can see: accepted, then reported in the status.
        reported = [
            ("topology selecting nothing", "nowhere",
             {"policies": [topology("nowhere", selector={"region": "mars"})]}),
            ("topology naming a missing cluster", "ghost",
             {"policies": [topology("gone", clusters=["ghost"])]}),
        ]
        for i, (case, needle, extra) in enumerate(reported):
            name = "reported-%d" % i
            w.apply(app_obj(name, dict(self.BASE, **extra)))
            try:
                a = self.wait_app(w, name, lambda a: needle in json.dumps(dig(a, "status", "workflow") or {}) or
                                  needle in json.dumps(dig(a, "status", "conditions") or []),
                                  "a status message naming %r" % needle, timeout=45)
            except AssertionError as e:
                failures.append("%s: %s" % (case, str(e)[:1500]))
                continue
            # Not running, not Ready (Healthy may be True: nothing is deployed, nothing is unhealthy).
            if dig(a, "status", "status") == "running" or e2e.conds(a).get("Ready", {}).get("status") == "True" \
                    or dig(a, "status", "workflow", "phase") == "succeeded":
                failures.append("%s: reported running/ready:\n%s" % (case, dump(a["status"])))
            sys.stderr.write("REPORTED %s: %s, Healthy=%s: %s\n" % (
                case, dig(a, "status", "status"), e2e.conds(a).get("Healthy", {}).get("status"),
                dig(a, "status", "workflow", "message")))
        self.assertEqual(failures, [], "\n\n".join(failures))

    # =========================================================================================
    # 10. Deleting an Application
    def test_delete_removes_objects(self):
        names = ["cluster-1", "cluster-2", "cluster-3"]
        w = self.make([(c, {}) for c in names])
        spec = {"components": [webservice("web", "nginx:1.25", ports=[{"port": 80, "expose": True}]),
                               {"name": "cfg", "type": "k8s-objects", "properties": {"objects": [
                                   {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
                                    "data": {"k": "v"}}]}}],
                "policies": [topology("all", clusters=names)]}
        w.apply(app_obj("doomed", spec, ns="team-x"))
        self.wait_running(w, "doomed", "team-x")
        for c in names:
            self.wait_spoke(w, c, "deployment", "web", "team-x")
            self.wait_spoke(w, c, "service", "web", "team-x")
            self.wait_spoke(w, c, "configmap", "cfg", "team-x")
        self.assertTrue(w.revisions("doomed", "team-x"))
        w.navectl("delete", "application", "doomed", "-n", "team-x")
        for c in names:
            for kind, n in (("deployment", "web"), ("service", "web"), ("configmap", "cfg")):
                self.wait_gone(w, c, kind, n, "team-x")
        e2e.wait_for(lambda: w.app("doomed", "team-x") is None, 60, "the Application gone from the hub")
        for c in names:
            e2e.wait_for(lambda: w.work_of(c, "doomed", "team-x") is None, 60, "the work on %s gone" % c)
            self.assertIsNotNone(w.spoke_get(c, "namespace", "team-x", None),
                                 "deleting an application deleted the namespace on %s" % c)
        e2e.wait_for(lambda: not w.revisions("doomed", "team-x"), 60, "its ApplicationRevisions gone")

    def test_delete_with_agent_stopped(self):
        names = ["cluster-1", "cluster-2", "cluster-3"]
        # The agent evicts works the hub no longer has after --eviction-grace (60m by default).
        # --lease-seconds 5: the hub marks a silent cluster unavailable after max(--lease-timeout
        # 15s, 2 x the last lease period announced); without it an agent stopped early has
        # announced only the default 60s period (it learns the ManagedCluster's 10s later), so
        # the hub would wait 120s.
        w = self.make([(c, {}) for c in names], agent_args=["--eviction-grace", "3s", "--lease-seconds", "5"])
        spec = {"components": [webservice("web", "nginx:1.25")], "policies": [topology("all", clusters=names)]}
        w.apply(app_obj("orphaned", spec))
        self.wait_running(w, "orphaned")
        for c in names:
            self.wait_spoke(w, c, "deployment", "web", "default")
        err = w.agents["cluster-3"].stop()
        self.assertIsNone(err)
        t0 = time.monotonic()
        w.navectl("delete", "application", "orphaned")
        for c in ("cluster-1", "cluster-2"):
            self.wait_gone(w, c, "deployment", "web", "default", timeout=90)
        try:
            e2e.wait_for(lambda: w.app("orphaned") is None, 100,
                         "the Application deleted although cluster-3's agent is stopped")
        except AssertionError as e:
            raise AssertionError("%s\nApplication:\n%s\nwork on cluster-3:\n%s\ncluster-3:\n%s" % (
                e, dump(w.app("orphaned")), dump(w.work_of("cluster-3", "orphaned")),
                dump(dig(w.hub_get("managedcluster", "cluster-3"), "status")))) from None
        sys.stderr.write("deleted in %.1fs with cluster-3 down\n" % (time.monotonic() - t0))
        # The agent comes back: the work it missed is gone from the hub in the end.
        w.start_agent("cluster-3")
        e2e.wait_for(lambda: w.connected("cluster-3"), 60, "cluster-3 reconnected")
        e2e.wait_for(lambda: w.work_of("cluster-3", "orphaned") is None, 60, "cluster-3's work gone from the hub")
        self.wait_gone(w, "cluster-3", "deployment", "web", "default", timeout=60)


# =============================================================================================
# 9. Every Application of /work/shared/examples/kubevela/, applied unchanged.
#
# For each file: the clusters it expects (names and labels), and what should happen:
#   deploy   accepted; `resumes` suspend/approval steps resumed with `navectl workflow
#            resume`; check(tc, w) then verifies the objects on the spokes
#   reject   refused at apply; every string of `needles` is in the message (the unsupported
#            feature or the invalid field)
#   either   deploy or reject are both acceptable (a feature Nave may or may not support);
#            whichever happens is checked as above
# `healthy`: also wait for status.status "running" (default True).
def _chk_annotations(tc, w):
    d = tc.wait_spoke(w, "local", "deployment", "busybox", "default")
    an = dig(d, "metadata", "annotations") or {}
    tc.assertEqual(an.get("annotation-key"), "modified-annotation-value")
    tc.assertEqual(an.get("added-annotation-key"), "added-annotation-value")
    tc.assertNotIn("to-delete-annotation-key", an)
    tan = dig(d, "spec", "template", "metadata", "annotations") or {}
    tc.assertEqual(tan.get("added-annotation-key"), "added-annotation-value", dump(d["spec"]["template"]))
    tc.assertNotIn("to-delete-annotation-key", tan)
    tc.assertEqual(container(d).get("command"), ["sleep", "86400"])


def _chk_labels(tc, w):
    d = tc.wait_spoke(w, "local", "deployment", "busybox", "default")
    lb = dig(d, "metadata", "labels") or {}
    tc.assertEqual(lb.get("label-key"), "modified-label-value")
    tc.assertEqual(lb.get("added-label-key"), "added-label-value")
    tc.assertNotIn("to-delete-label-key", lb)
    tlb = dig(d, "spec", "template", "metadata", "labels") or {}
    tc.assertEqual(tlb.get("added-label-key"), "added-label-value", dump(d["spec"]["template"]))
    tc.assertNotIn("to-delete-label-key", tlb)


def _chk_anonymous(tc, w):
    d = tc.wait_spoke(w, "cluster-worker", "deployment", "test", "default")
    tc.assertEqual(dig(d, "spec", "replicas"), 0)
    tc.assertIsNone(w.deployment("local", "test"))


def _chk_apply_component_cluster(tc, w):
    d = tc.wait_spoke(w, "cluster-worker", "deployment", "component-cluster", "default")
    tc.assertEqual(container(d).get("command"), ["sleep", "1000000"])
    tc.assertIsNone(w.deployment("local", "component-cluster"))


def _chk_depends(tc, w):
    for n in ("database", "cache", "backend"):
        d = tc.wait_spoke(w, "local", "deployment", n, "default")
        tc.assertEqual(image(d), "nginx:1.20")
        tc.assertIsNone(w.spoke_get("local", "service", n, "default"), "expose: false made a Service")
    ports = [p.get("containerPort") for p in container(w.deployment("local", "backend")).get("ports") or []]
    tc.assertEqual(ports, [8080])


def _chk_manual_approval_before(tc, w):
    tc.wait_spoke(w, "local", "deployment", "nginx-deploy-workflowstep", "examples-alternative")
    for c in ("hangzhou-1", "hangzhou-2"):
        tc.assertIsNone(w.work_of(c, "deploy-workflowstep", "examples"), "deploy-hangzhou ran before approval")


def _chk_manual_approval(tc, w):
    for c in ("hangzhou-1", "hangzhou-2"):
        d = tc.wait_spoke(w, c, "deployment", "nginx-deploy-workflowstep", "examples")
        tc.assertEqual(image(d), "nginx")


def _chk_env_multi(tc, w):
    d = tc.wait_spoke(w, "local", "deployment", "busybox", "default")
    tc.assertEqual(sorted(env_names(container(d, "busybox"))), ["key_for_busybox_first", "key_for_busybox_second"])
    side = container(d, "sidecar-nginx")
    tc.assertEqual((side or {}).get("image"), "nginx")
    tc.assertEqual(sorted(env_names(side)), ["key_for_nginx_first", "key_for_nginx_second"])


def _chk_expose_two(tc, w):
    tc.wait_spoke(w, "local", "deployment", "express-server", "default")
    for n, port in (("myservice1", 8080), ("myservice2", 8081)):
        s = tc.wait_spoke(w, "local", "service", n, "default")
        tc.assertIn(port, [p.get("port") for p in dig(s, "spec", "ports") or []])


def _chk_first_app_before(tc, w):
    d = tc.wait_spoke(w, "local", "deployment", "express-server", "default")
    tc.assertEqual(replicas(d), 1)
    s = tc.wait_spoke(w, "local", "service", "express-server", "default")
    tc.assertIn(8000, [p.get("port") for p in dig(s, "spec", "ports") or []])
    tc.assertIsNone(w.deployment("local", "express-server", "prod"))


def _chk_first_app(tc, w):
    d = tc.wait_spoke(w, "local", "deployment", "express-server", "prod")
    tc.assertEqual(replicas(d), 2, "deploy-ha in prod")
    tc.assertEqual(replicas(w.deployment("local", "express-server", "default")), 1, "default keeps 1")
    tc.wait_spoke(w, "local", "service", "express-server", "prod")


def _chk_k8s_objects_before(tc, w):
    d = tc.wait_spoke(w, "local", "deployment", "nginx", "default")
    tc.assertEqual(replicas(d), 2)
    s = tc.wait_spoke(w, "local", "service", "nginx", "default")
    tc.assertEqual(dig(s, "spec", "type"), "LoadBalancer")
    tc.assertIsNone(w.deployment("local", "nginx", "production"))


def _chk_k8s_objects(tc, w):
    tc.wait_spoke(w, "local", "deployment", "nginx", "production")
    s = tc.wait_spoke(w, "local", "service", "nginx", "production")
    tc.assertEqual(dig(s, "metadata", "annotations", "service.beta.kubernetes.io/aws-load-balancer-type"), "nlb")


def _chk_labels_storage(tc, w):
    d = tc.wait_spoke(w, "local", "deployment", "test", "default")
    tc.assertEqual(dig(d, "metadata", "labels", "key"), "val")
    c = container(d)
    tc.assertEqual(c.get("imagePullPolicy"), "IfNotPresent")
    tc.assertEqual(c.get("command"), ["sleep", "-c", "86400"])
    tc.assertIn("testKey", env_names(c))
    tc.assertIn("/data", [m.get("mountPath") for m in c.get("volumeMounts") or []])
    claims = [dig(v, "persistentVolumeClaim", "claimName") for v in dig(d, "spec", "template", "spec", "volumes") or []]
    tc.assertIn("lvhyca", claims)
    pvc = tc.wait_spoke(w, "local", "persistentvolumeclaim", "lvhyca", "default")
    tc.assertEqual(dig(pvc, "spec", "storageClassName"), "default")
    tc.assertEqual(dig(pvc, "spec", "resources", "requests", "storage"), "4096Mi")
    tc.assertEqual(dig(pvc, "spec", "accessModes"), ["ReadWriteOnce"])


def _chk_multicluster(tc, w):
    for c, n in (("beijing-1", 3), ("beijing-2", 3), ("aws-1", 5)):
        d = tc.wait_spoke(w, c, "deployment", "hello-world-server", "default")
        tc.assertEqual(replicas(d), n, "replicas on %s" % c)
        ing = json.loads(w.kubectl(c, "get", "ingresses", "-n", "default", "-o", "json").stdout)["items"]
        hosts = [r.get("host") for i in ing for r in dig(i, "spec", "rules") or []]
        tc.assertIn("testsvc-mc.example.com", hosts, "the gateway's Ingress on %s" % c)
    tc.assertIsNone(w.deployment("local", "hello-world-server"))


def _chk_override_by_name_type(tc, w):
    d = tc.wait_spoke(w, "local", "deployment", "nginx-with-override", "examples-alternative")
    tc.assertEqual((image(d), replicas(d)), ("nginx", 1))
    for c in ("hangzhou-1", "hangzhou-2"):
        d = tc.wait_spoke(w, c, "deployment", "nginx-with-override", "examples")
        tc.assertEqual((image(d), replicas(d)), ("nginx:1.20", 3))


def _chk_publish_version(tc, w):
    d = tc.wait_spoke(w, "local", "deployment", "canary-demo", "default")
    tc.assertEqual(replicas(d), 5)
    ing = json.loads(w.kubectl("local", "get", "ingresses", "-n", "default", "-o", "json").stdout)["items"]
    paths = [(r.get("host"), p.get("path"), dig(p, "backend", "service", "port", "number"))
             for i in ing for r in dig(i, "spec", "rules") or [] for p in dig(r, "http", "paths") or []]
    tc.assertIn(("canary-demo.com", "/version", 8090), paths)
    revs = w.revisions("canary-demo")
    tc.assertEqual(dig(revs[-1], "spec", "publishVersion"), "v1")


def _chk_storage_all(tc, w):
    d = tc.wait_spoke(w, "local", "deployment", "express-server", "default")
    vols = dig(d, "spec", "template", "spec", "volumes") or []
    vnames = [v.get("name") for v in vols]
    tc.assertEqual(len(vnames), len(set(vnames)), "duplicate volume names: %s" % vnames)
    mounts = {m.get("mountPath"): m for m in container(d).get("volumeMounts") or []}
    for p in ("/test/mount/pvc", "/test/mount2/pvc", "/test/mount/cm", "/test/mount2/cm", "/test/mount/secret",
              "/test/mount2/secret", "/test/mount/emptydir", "/test/mount2/emptydir"):
        tc.assertIn(p, mounts, "volumeMounts: %s" % sorted(mounts))
    tc.assertEqual(mounts["/test/mount2/pvc"].get("subPath"), "sub")
    for n in ("TEST_ENV", "TEST_CM_ENV", "TEST_SECRET", "TEST_SECRET_ENV_2", "TEST_SECRET_ENV_3"):
        tc.assertIn(n, env_names(container(d)))
    tc.wait_spoke(w, "local", "persistentvolumeclaim", "test1", "default")
    for n in ("test1", "test2"):
        cm = tc.wait_spoke(w, "local", "configmap", n, "default")
        tc.assertEqual(cm.get("data"), {"key1": "value1", "key2": "value2"})
        tc.wait_spoke(w, "local", "secret", n, "default")


def _chk_suspend_duration_before(tc, w):
    tc.assertIsNone(w.work_of("local", "wait-suspend-test"), "applied during the suspend")


def _chk_suspend_duration(tc, w):
    tc.wait_spoke(w, "local", "deployment", "wait-suspend-comp", "default")
    steps = {s.get("name"): s for s in dig(w.app("wait-suspend-test"), "status", "workflow", "steps") or []}

    def t(s):
        return datetime.datetime.fromisoformat(s.rstrip("Z")).timestamp()
    waited = t(steps["apply-wait-suspend-comp"]["firstExecuteTime"]) - t(steps["suspend-test"]["firstExecuteTime"])
    tc.assertGreaterEqual(waited, 29.5, "apply-component ran %.1fs after the 30s suspend began" % waited)


def _chk_task_storage(tc, w):
    j = tc.wait_spoke(w, "local", "job", "cp-color-model", "default")
    claims = [dig(v, "persistentVolumeClaim", "claimName") for v in dig(j, "spec", "template", "spec", "volumes") or []]
    tc.assertIn("color-model", claims)
    c = (dig(j, "spec", "template", "spec", "containers") or [{}])[0]
    tc.assertEqual(c.get("image"), "fogdong/color-model")
    tc.assertIn("/mnt", [m.get("mountPath") for m in c.get("volumeMounts") or []])
    tc.wait_spoke(w, "local", "persistentvolumeclaim", "color-model", "default")


def _chk_website(tc, w):
    d = tc.wait_spoke(w, "local", "deployment", "frontend", "default")
    tc.assertEqual(replicas(d), 2)
    tc.assertEqual((container(d, "sidecar-test") or {}).get("image"), "fluentd")
    tc.assertEqual(image(d), "nginx")
    b = tc.wait_spoke(w, "local", "deployment", "backend", "default")
    tc.assertEqual(container(b).get("command"), ["sleep", "1000"])

RT_NS = "rollout-trait-test"
RT_NAME = "rollout-trait-test"


def _rollout_feedback(mw):
    """The status feedback values of the work's Rollout manifest: {name: value}."""
    for m in dig(mw, "status", "resourceStatus", "manifests") or []:
        if dig(m, "resourceMeta", "kind") != "Rollout":
            continue
        out = {}
        for v in dig(m, "statusFeedback", "values") or []:
            fv = v.get("fieldValue") or {}
            out[v["name"]] = fv.get({"Integer": "integer", "String": "string", "Boolean": "boolean",
                                     "JsonRaw": "jsonRaw"}.get(fv.get("type"), "string"))
        return out
    return {}


def _work_manifest(mw, kind):
    return [m for m in dig(mw, "spec", "workload", "manifests") or [] if m.get("kind") == kind]


def _rollout_watch(tc, w, pred, what, timeout=120):
    """Poll the work's Rollout feedback on the hub until pred(values); returns every distinct
    value set seen, in order."""
    seen = []

    def probe():
        v = _rollout_feedback(w.work_of("local", RT_NAME, RT_NS))
        if v and (not seen or seen[-1] != v):
            seen.append(v)
        return bool(v) and pred(v)
    try:
        e2e.wait_for(probe, timeout, what, step=0.1)
    except AssertionError as e:
        raise AssertionError("%s\nseen: %s\nhub log:\n%s" % (e, dump(seen), w.hub.log(30))) from None
    return seen


def _rollout_target(tc, w):
    """The Rollout and Deployment manifests of the work (one each): the Deployment is named
    express-server-<hash of its pod template>, the Rollout's target."""
    mw = w.work_of("local", RT_NAME, RT_NS)
    ros, deps = _work_manifest(mw, "Rollout"), _work_manifest(mw, "Deployment")
    tc.assertEqual(len(ros), 1, dump(mw))
    tc.assertEqual(len(deps), 1, dump(mw))
    name = dig(deps[0], "metadata", "name")
    tc.assertRegex(name, r"^express-server-[0-9a-f]{10}$")
    tc.assertEqual(dig(ros[0], "spec", "targetRevisionName"), name)
    tc.assertEqual(dig(ros[0], "spec", "componentName"), "express-server")
    tc.assertEqual(dig(ros[0], "spec", "rolloutPlan", "rolloutBatches"), [{"replicas": 2}, {"replicas": 3}])
    tc.assertEqual(dig(ros[0], "spec", "rolloutPlan", "targetSize"), 5)
    return ros[0], deps[0]


def _chk_batches(tc, seen, target, source=None):
    """The hub saw batch 0 (2 replicas) before the end (5), and rolloutSucceed to target."""
    ups = [v.get("upgradedReplicas") for v in seen if v.get("targetRevision") == target]
    tc.assertIn(2, ups, "batch 0 (2 replicas) never seen from the hub: %s" % dump(seen))
    tc.assertIn(5, ups, dump(seen))
    tc.assertLess(ups.index(2), ups.index(5), "2 replicas after 5: %s" % dump(seen))
    first = [v for v in seen if v.get("upgradedReplicas") == 2 and v.get("targetRevision") == target][0]
    tc.assertEqual(first.get("currentBatch"), 0, dump(first))
    tc.assertEqual(first.get("numBatches"), 2, dump(first))
    if source:
        tc.assertEqual(first.get("sourceRevision"), source, dump(first))
        srcs = [v["sourceReplicas"] for v in seen if v.get("targetRevision") == target and "sourceReplicas" in v]
        tc.assertEqual(srcs[0], 5, dump(seen))
        tc.assertIn(3, srcs, "the source drains batch by batch (5, 3, 0): %s" % dump(seen))
    last = seen[-1]
    tc.assertEqual(last.get("rollingState"), "rolloutSucceed", dump(last))
    tc.assertEqual(last.get("targetRevision"), target, dump(last))


def _rollout_during(tc, w):
    """Right after the apply: watch the first rollout (from zero) from the hub."""
    tc.rollout_seen = _rollout_watch(tc, w, lambda v: v.get("rollingState") == "rolloutSucceed",
                                     "the first rollout succeeded")


def _chk_rollout_trait(tc, w):
    ro, dep = _rollout_target(tc, w)
    v1 = dep["metadata"]["name"]
    tc.assertNotIn("sourceRevisionName", ro["spec"], "the first rollout is from zero: %s" % dump(ro))
    _chk_batches(tc, tc.rollout_seen, v1)
    tc.wait_spoke(w, "local", "deployment", v1, RT_NS, lambda d: dig(d, "status", "readyReplicas") == 5 and
                  replicas(d) == 5, "5 ready replicas")
    # A new image: a new Deployment rolls out in batches while the old one drains, then goes.
    with open(os.path.join(KUBEVELA, "vela-rollout-trait-batches.yaml")) as f:
        doc = load_yaml(f.read())
    doc["spec"]["components"][0]["properties"]["image"] = "stefanprodan/podinfo:4.0.6"
    w.apply(doc)
    e2e.wait_for(lambda: dig(_rollout_target(tc, w)[1], "metadata", "name") != v1, 60, "the work's new target")
    ro, dep = _rollout_target(tc, w)
    v2 = dep["metadata"]["name"]
    tc.assertEqual(dig(ro, "spec", "sourceRevisionName"), v1, "the hub fills in the source: %s" % dump(ro))
    tc.assertEqual(image(dep), "stefanprodan/podinfo:4.0.6")
    seen = _rollout_watch(tc, w, lambda v: v.get("rollingState") == "rolloutSucceed" and
                          v.get("targetRevision") == v2, "the second rollout succeeded")
    _chk_batches(tc, seen, v2, v1)
    tc.wait_spoke(w, "local", "deployment", v2, RT_NS, lambda d: dig(d, "status", "readyReplicas") == 5 and
                  replicas(d) == 5, "5 ready replicas")
    tc.wait_gone(w, "local", "deployment", v1, RT_NS)
    tc.wait_running(w, RT_NAME, RT_NS, timeout=60)
    # Finished: the work stays as it is (the same source), not rewritten.
    ro2, _ = _rollout_target(tc, w)
    tc.assertEqual(ro2, ro)
    # Without the trait: a plain Deployment express-server; with it again, the rollout drains that one.
    plain = json.loads(json.dumps(doc))
    del plain["spec"]["components"][0]["traits"]
    w.apply(plain)
    tc.wait_spoke(w, "local", "deployment", "express-server", RT_NS, lambda d: dig(d, "status", "readyReplicas") == 1,
                  "the plain Deployment ready")
    tc.wait_gone(w, "local", "deployment", v2, RT_NS)
    tc.wait_running(w, RT_NAME, RT_NS, timeout=60)
    w.apply(doc)
    e2e.wait_for(lambda: _work_manifest(w.work_of("local", RT_NAME, RT_NS), "Rollout"), 60, "the Rollout again")
    ro, dep = _rollout_target(tc, w)
    tc.assertEqual(dep["metadata"]["name"], v2, "the same template, the same name")
    tc.assertEqual(dig(ro, "spec", "sourceRevisionName"), "express-server", dump(ro))
    seen = _rollout_watch(tc, w, lambda v: v.get("rollingState") == "rolloutSucceed" and
                          v.get("sourceRevision") == "express-server", "the third rollout succeeded")
    tc.assertEqual(seen[-1].get("targetRevision"), v2, dump(seen))
    tc.wait_spoke(w, "local", "deployment", v2, RT_NS, lambda d: dig(d, "status", "readyReplicas") == 5 and
                  replicas(d) == 5, "5 ready replicas")
    tc.wait_gone(w, "local", "deployment", "express-server", RT_NS)


HZ = [("hangzhou-1", {"region": "hangzhou"}), ("hangzhou-2", {"region": "hangzhou"})]
KV_TABLE = {
    "vela-annotations-null-delete.yaml": dict(expect="deploy", via="kubectl", check=_chk_annotations),
    "vela-anonymous-policies.yaml": dict(expect="deploy", clusters=[("local", {}), ("cluster-worker", {})],
                                         check=_chk_anonymous, healthy=False),
    "vela-apply-component-to-cluster.yaml": dict(expect="deploy", clusters=[("local", {}), ("cluster-worker", {})],
                                                 check=_chk_apply_component_cluster),
    "vela-depends-on-multiple.yaml": dict(expect="deploy", via="kubectl", check=_chk_depends),
    "vela-deploy-manual-approval.yaml": dict(expect="deploy", clusters=[("local", {})] + HZ, resumes=1,
                                             before=_chk_manual_approval_before, check=_chk_manual_approval),
    "vela-env-sidecar-multi-container.yaml": dict(expect="either", check=_chk_env_multi,
                                                  needles=["spec.components[0].traits[1].properties.containers"]),
    "vela-expose-two-services.yaml": dict(expect="either", check=_chk_expose_two,
                                          needles=["spec.components[0].traits[0].properties.http"]),
    "vela-first-app-topology-override-suspend.yaml": dict(expect="deploy", via="kubectl", resumes=1, before=_chk_first_app_before,
                                                          check=_chk_first_app),
    "vela-gateway-http-list.yaml": dict(expect="reject", needles=["spec.components[0].traits[0].properties.http"]),
    "vela-k8s-objects-deploy-suspend.yaml": dict(expect="deploy", resumes=1, before=_chk_k8s_objects_before,
                                                 check=_chk_k8s_objects),
    "vela-labels-null-delete.yaml": dict(expect="deploy", check=_chk_labels),
    "vela-labels-storage-pvc-options.yaml": dict(expect="deploy", check=_chk_labels_storage),
    "vela-multicluster-label-selector-override.yaml": dict(
        expect="deploy", via="kubectl",
        clusters=[("local", {}), ("beijing-1", {}), ("beijing-2", {}), ("aws-1", {"provider": "AWS"})],
        check=_chk_multicluster),
    "vela-notification-if-inputs-outputs.yaml": dict(expect="reject", needles=["spec.workflow.steps[0].outputs",
                                                                               "nsupported"]),
    "vela-notification-suspend-apply-component.yaml": dict(
        expect="reject", needles=["spec.workflow.steps[0].properties.slack.url", "<your-slack-url>"]),
    "vela-override-by-name-and-type.yaml": dict(expect="deploy", clusters=[("local", {})] + HZ,
                                                check=_chk_override_by_name_type),
    "vela-publish-version-gateway.yaml": dict(expect="deploy", check=_chk_publish_version),
    "vela-region-label-selector-k8s-objects.yaml": dict(
        expect="reject", clusters=[("local", {}), ("hz-1", {"region": "hz-CLUSTER"})], needles_any=[
            "metadata.namespace", "metadata.name", "spec.components[0].name"]),
    # kubesim's pods get ready 2 s after they start: each batch lasts long enough to be seen from the hub.
    "vela-rollout-trait-batches.yaml": dict(expect="deploy", world=dict(ready_delay="2s"), during=_rollout_during,
                                            check=_chk_rollout_trait),
    "vela-storage-all-kinds.yaml": dict(expect="deploy", via="kubectl", check=_chk_storage_all),
    "vela-suspend-duration-apply-component.yaml": dict(expect="deploy", before=_chk_suspend_duration_before,
                                                       check=_chk_suspend_duration, min_seconds=29),
    "vela-task-storage-pvc.yaml": dict(expect="deploy", check=_chk_task_storage),
    "vela-task-tab-indented.yaml": dict(expect="reject", needles=["tab", ":11:"]),
    "vela-webservice-worker-scaler-sidecar.yaml": dict(expect="deploy", check=_chk_website),
}


def _kubevela_test(fname, ex):
    def test(self):
        path = os.path.join(KUBEVELA, fname)
        with open(path, "rb") as f:
            raw = f.read()
        w = self.make(ex.get("clusters") or [("local", {})], **(ex.get("world") or {}))
        try:
            doc = load_yaml(raw)
        except yaml.YAMLError:
            doc = None
        name = dig(doc, "metadata", "name")
        ns = dig(doc, "metadata", "namespace") or "default"
        t0 = time.monotonic()
        via = ex.get("via", "navectl")
        if via == "kubectl":
            r = w.kubectl_hub("apply", "-f", path, check=False)
        else:
            r = w.navectl("apply", "-f", "-", input=raw.decode(), check=False)
        out = (r.stdout + r.stderr).strip()
        outcome = "deploy" if r.returncode == 0 else "reject"
        sys.stderr.write("COMPAT %s %s (%s) %s\n" % (fname, outcome, via, out.replace("\n", " | ")[:400]))
        if ex["expect"] != "either":
            self.assertEqual(outcome, ex["expect"], "%s: expected %s, got rc %d:\n%s\nhub log:\n%s" %
                             (fname, ex["expect"], r.returncode, out, w.hub.log(20)))
        if outcome == "reject":
            for n in ex.get("needles") or []:
                self.assertIn(n, out, "%s: the refusal does not name %r" % (fname, n))
            if ex.get("needles_any"):
                self.assertTrue(any(n in out for n in ex["needles_any"]),
                                "%s: the refusal names none of %s:\n%s" % (fname, ex["needles_any"], out))
            # The hub refuses it too (not only navectl's own checks): kubectl sends it as it is.
            if doc is not None:
                rk = w.kubectl_hub("apply", "-f", path, check=False)
                outk = (rk.stdout + rk.stderr).strip()
                sys.stderr.write("COMPAT-KUBECTL %s rc %d %s\n" % (fname, rk.returncode, outk.replace("\n", " | ")[:400]))
                self.assertNotEqual(rk.returncode, 0, "%s: kubectl apply accepted it:\n%s" % (fname, outk))
                for n in ex.get("needles") or []:
                    self.assertIn(n, outk, "%s: the hub's refusal (kubectl) does not name %r" % (fname, n))
                if ex.get("needles_any"):
                    self.assertTrue(any(n in outk for n in ex["needles_any"]),
                                    "%s: the hub's refusal names none of %s:\n%s" % (fname, ex["needles_any"], outk))
            if name:
                self.assertIsNone(w.app(name, ns), "refused, yet the Application exists")
            return
        if ex.get("during"):
            ex["during"](self, w)
        if not ex.get("resumes") and ex.get("before"):
            self.wait_phase(w, name, "suspending", ns, timeout=60)
            ex["before"](self, w)
        for i in range(ex.get("resumes", 0)):
            a = self.wait_phase(w, name, "suspending", ns, timeout=90)
            if i == 0 and ex.get("before"):
                ex["before"](self, w)
            self.resume(w, name, ns)
            self.wait_app(w, name, lambda a: dig(a, "status", "workflow", "phase") != "suspending" or
                          not dig(a, "status", "workflow", "suspend"), "resumed", ns)
        if ex.get("healthy", True):
            a = self.wait_running(w, name, ns, timeout=120)
        else:
            a = self.wait_phase(w, name, "succeeded", ns, timeout=120)
        if ex.get("min_seconds"):
            self.assertGreaterEqual(time.monotonic() - t0, ex["min_seconds"], "the suspend's duration was not kept")
        ex["check"](self, w)
        sys.stderr.write("COMPAT-STATUS %s %s services=%s\n" % (
            fname, dig(a, "status", "status"),
            sorted((s.get("name"), s.get("cluster"), s.get("healthy")) for s in dig(a, "status", "services") or [])))
    return test


def _test_table_complete(self):
    """Every Application file of the examples directory has an entry in KV_TABLE (and so a
    test); a new file without one fails here."""
    files = sorted(f for f in os.listdir(KUBEVELA) if f.endswith(".yaml"))
    self.assertEqual(files, sorted(KV_TABLE), "examples without an entry in KV_TABLE, or entries without a file")


AppsE2E.test_kubevela_table_complete = _test_table_complete


def _test_name(fname):
    return "test_kubevela_" + fname[:-len(".yaml")].replace("vela-", "", 1).replace("-", "_")


for _f, _ex in KV_TABLE.items():
    setattr(AppsE2E, _test_name(_f), _kubevela_test(_f, _ex))

# For tests/apps/meson.build: `test_apps_e2e.py --list` prints the test names.
if __name__ == "__main__":
    if sys.argv[1:] == ["--list"]:
        print("\n".join(sorted(n for n in dir(AppsE2E) if n.startswith("test_"))))
        sys.exit(0)
    unittest.main()
