"""apptest.py - drive Applications on a real nave-hub from tests.

AppHub is tests/hub/hubtest.py's Hub (a fresh `nave-hub init`, then `serve` on
a free port) with helpers for the application subsystem (hub/app.h):

  - clusters without agents: add_cluster() creates a ManagedCluster through
    the admin API (accepted or not, with labels), set_labels(),
    set_available() writes the Available condition an agent's lease would,
    delete_cluster();
  - Applications: apply() (create, or replace the spec), get_app(),
    delete_app(), wait_app(pred), step(), revisions(), workflow() and
    rollback() (the /nave/v1 endpoints);
  - the ManifestWorks the hub writes: works(), work(), and ack(), which
    writes a work's status through the status subresource the way an agent
    reports it (Applied/Available at the work's generation, and for every
    manifestConfigs entry the statusFeedback values a Deployment or Job
    would give: healthy or not);
  - a local webhook receiver (WebhookServer) for notification steps.

Environment: NAVE_HUB (the nave-hub binary), NAVE_TEST_DATA. Import from
another test directory with sys.path.insert(0, <this directory>).
"""
import http.server
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hub"))

import hubtest  # noqa: E402
from hubtest import HubError, check, cond, run_tests, wait_for, with_hub  # noqa: E402,F401

OAM = "/apis/core.oam.dev/v1beta1"
WORKS = "/apis/work.open-cluster-management.io/v1"
CLUSTERS = "/apis/cluster.open-cluster-management.io/v1/managedclusters"
MERGE = "application/merge-patch+json"


def app_obj(name, components, policies=None, workflow=None, ns="default", annotations=None):
    """An Application object."""
    o = {"apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
         "metadata": {"name": name, "namespace": ns}, "spec": {"components": components}}
    if policies is not None:
        o["spec"]["policies"] = policies
    if workflow is not None:
        o["spec"]["workflow"] = {"steps": workflow}
    if annotations:
        o["metadata"]["annotations"] = annotations
    return o


def webservice(name, image="nginx:1.27", replicas=None, **props):
    c = {"name": name, "type": "webservice", "properties": dict(props, image=image)}
    if replicas is not None:
        c["traits"] = [{"type": "scaler", "properties": {"replicas": replicas}}]
    return c


def topology(name, clusters=None, selector=None, namespace=None, allow_empty=None):
    p = {}
    if clusters is not None:
        p["clusters"] = clusters
    if selector is not None:
        p["clusterLabelSelector"] = selector
    if namespace:
        p["namespace"] = namespace
    if allow_empty is not None:
        p["allowEmpty"] = allow_empty
    return {"name": name, "type": "topology", "properties": p}


def deploy(name, policies, **props):
    return {"name": name, "type": "deploy", "properties": dict(props, policies=policies)}


def manifests(work):
    return ((work or {}).get("spec") or {}).get("workload", {}).get("manifests") or []


def find(work, kind, name=None):
    """The manifest of kind (and name) in a work, or None."""
    for m in manifests(work):
        if m.get("kind") == kind and (name is None or m["metadata"]["name"] == name):
            return m
    return None


class AppHub(hubtest.Hub):
    """A hub for application tests. serve_args default to a long lease
    timeout, so clusters marked Available by set_available() stay so."""

    def __init__(self, serve_args=("--lease-timeout", "1h"), **kw):
        super().__init__(serve_args=serve_args, **kw)

    # --- REST ------------------------------------------------------------
    def ok(self, method, path, body=None, want=(200, 201), ctype=None):
        st, b = self.request(method, path, body, ctype=ctype)
        if st not in want:
            raise HubError("%s %s: %d %s" % (method, path, st, b))
        return b

    # --- clusters ------------------------------------------------------------
    def add_cluster(self, name, labels=None, accept=True):
        lab = dict(labels or {})
        lab.setdefault("open-cluster-management.io/cluster-name", name)
        return self.ok("POST", CLUSTERS, {
            "apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
            "metadata": {"name": name, "labels": lab}, "spec": {"hubAcceptsClient": accept}})

    def accept(self, name, accept=True):
        return self.ok("PATCH", CLUSTERS + "/" + name, {"spec": {"hubAcceptsClient": accept}}, ctype=MERGE)

    def set_labels(self, name, labels):
        """Merge labels (a value None removes the label)."""
        return self.ok("PATCH", CLUSTERS + "/" + name, {"metadata": {"labels": labels}}, ctype=MERGE)

    def set_available(self, name, status="True"):
        mc = self.ok("GET", CLUSTERS + "/" + name)
        conds = [c for c in (mc.get("status") or {}).get("conditions") or []
                 if c.get("type") != "ManagedClusterConditionAvailable"]
        conds.append({"type": "ManagedClusterConditionAvailable", "status": status,
                      "reason": "ManagedClusterAvailable" if status == "True" else "ManagedClusterLeaseUpdateStopped",
                      "message": "set by the test", "lastTransitionTime": "2025-01-01T00:00:00Z"})
        return self.ok("PATCH", CLUSTERS + "/" + name + "/status", {"status": {"conditions": conds}}, ctype=MERGE)

    def delete_cluster(self, name):
        return self.ok("DELETE", CLUSTERS + "/" + name)

    # --- applications ------------------------------------------------------------
    def app_path(self, name, ns="default", res="applications"):
        return "%s/namespaces/%s/%s%s" % (OAM, ns, res, "/" + name if name else "")

    def create(self, obj, res="applications"):
        """POST obj; returns (status, body) without raising."""
        ns = obj["metadata"].get("namespace", "default")
        return self.request("POST", self.app_path(None, ns, res), obj)

    def apply(self, obj, res="applications"):
        """Create obj, or replace its spec (and annotations) when it exists."""
        ns = obj["metadata"].get("namespace", "default")
        st, b = self.create(obj, res)
        if st == 409:
            patch = {"spec": obj["spec"], "metadata": {"annotations": obj["metadata"].get("annotations")}}
            return self.ok("PATCH", self.app_path(obj["metadata"]["name"], ns, res), patch, ctype=MERGE)
        if st not in (200, 201):
            raise HubError("create %s: %d %s" % (obj["metadata"]["name"], st, b))
        return b

    def get_app(self, name, ns="default"):
        st, b = self.request("GET", self.app_path(name, ns))
        return b if st == 200 else None

    def delete_app(self, name, ns="default"):
        return self.request("DELETE", self.app_path(name, ns))

    def wait_app(self, name, pred, timeout=20, what=None, ns="default"):
        """Poll the Application until pred(app) is true; returns the app."""
        last = {}

        def check():
            a = self.get_app(name, ns)
            last["app"] = a
            return a if a and pred(a) else None
        try:
            return wait_for(check, timeout, 0.05, what or "application %s" % name)
        except HubError as e:
            raise HubError("%s; last status: %s" % (e, json.dumps((last.get("app") or {}).get("status"),
                                                                  indent=1)[:3000]))

    def phase(self, name, ns="default"):
        a = self.get_app(name, ns)
        return ((a or {}).get("status") or {}).get("status")

    @staticmethod
    def step(app, name):
        for s in (((app or {}).get("status") or {}).get("workflow") or {}).get("steps") or []:
            if s.get("name") == name:
                return s
        return None

    @staticmethod
    def step_phase(app, name):
        s = AppHub.step(app, name)
        return s and s.get("phase")

    def revisions(self, name, ns="default"):
        b = self.ok("GET", self.app_path(None, ns, "applicationrevisions") +
                    "?labelSelector=app.oam.dev/name%3D" + name)
        return sorted(b.get("items") or [], key=lambda r: r["spec"]["revision"])

    def workflow(self, name, action, ns="default"):
        return self.request("POST", "/nave/v1/namespaces/%s/applications/%s/workflow/%s" % (ns, name, action))

    def rollback(self, name, revision=None, ns="default"):
        body = {} if revision is None else {"revision": revision}
        return self.request("POST", "/nave/v1/namespaces/%s/applications/%s/rollback" % (ns, name), body)

    # --- works ------------------------------------------------------------------------
    def works(self, app, ns="default"):
        """cluster -> ManifestWork of the application."""
        b = self.ok("GET", WORKS + "/manifestworks?labelSelector=app.oam.dev/name%3D" + app +
                    ",app.oam.dev/namespace%3D" + ns)
        return {w["metadata"]["namespace"]: w for w in b.get("items") or []}

    def work(self, cluster, app, ns="default"):
        st, b = self.request("GET", "%s/namespaces/%s/manifestworks/%s.%s" % (WORKS, cluster, ns, app))
        return b if st == 200 else None

    def wait_works(self, app, clusters, ns="default", timeout=20):
        """Wait until the application's works are exactly on clusters (deleting ones do not count)."""
        want = sorted(clusters)

        def check():
            ws = self.works(app, ns)
            have = sorted(c for c, w in ws.items() if not w["metadata"].get("deletionTimestamp"))
            return ws if have == want else None
        return wait_for(check, timeout, 0.05, "works of %s on %s" % (app, want))

    def ack(self, cluster, app, ns="default", healthy=True, ready=None, applied=True):
        """Write the work's status as an agent would report it."""
        w = self.work(cluster, app, ns)
        if not w:
            raise HubError("no work for %s on %s" % (app, cluster))
        gen = w["metadata"].get("generation", 1)
        objs = manifests(w)
        res = []
        for i, m in enumerate(objs):
            group, _, version = m["apiVersion"].rpartition("/")
            meta = {"ordinal": i, "group": group, "version": version, "kind": m["kind"],
                    "resource": m["kind"].lower() + "s", "name": m["metadata"]["name"],
                    "namespace": m["metadata"].get("namespace", "")}
            entry = {"resourceMeta": meta, "conditions": [
                {"type": "Applied", "status": "True" if applied else "False", "reason": "AppliedManifestComplete",
                 "message": "Apply manifest complete", "lastTransitionTime": "2025-01-01T00:00:00Z"}]}
            values = self._feedback(w, m, healthy, ready)
            if values:
                entry["statusFeedback"] = {"values": values}
            res.append(entry)
        status = {"conditions": [
            {"type": "Applied", "status": "True" if applied else "False",
             "reason": "AppliedManifestWorkComplete" if applied else "AppliedManifestWorkFailed",
             "message": "Apply manifest work complete" if applied else "Failed to apply: by the test",
             "observedGeneration": gen, "lastTransitionTime": "2025-01-01T00:00:00Z"},
            {"type": "Available", "status": "True" if healthy else "False", "reason": "ResourcesAvailable",
             "message": "", "observedGeneration": gen, "lastTransitionTime": "2025-01-01T00:00:00Z"}],
            "resourceStatus": {"manifests": res}}
        return self.ok("PUT", "%s/namespaces/%s/manifestworks/%s/status" % (WORKS, cluster, w["metadata"]["name"]),
                       dict(w, status=status))

    @staticmethod
    def _feedback(work, m, healthy, ready):
        """statusFeedback values for manifest m from the work's manifestConfigs JSONPaths."""
        paths = []
        for c in (work.get("spec") or {}).get("manifestConfigs") or []:
            rid = c.get("resourceIdentifier") or {}
            if rid.get("name") != m["metadata"]["name"] or \
                    rid.get("namespace", "") != m["metadata"].get("namespace", ""):
                continue
            for rule in c.get("feedbackRules") or []:
                paths += rule.get("jsonPaths") or []
        want = (m.get("spec") or {}).get("replicas", 1)
        par = (m.get("spec") or {}).get("parallelism", 1)
        n = want if ready is None else ready
        if not healthy and ready is None:
            n = 0
        vals = []
        for p in paths:
            name, path = p["name"], p.get("path", "")
            if path.endswith("spec.replicas"):
                v = want
            elif "eplicas" in path:
                v = n
            elif path.endswith("observedGeneration") or path.endswith("metadata.generation"):
                v = 1
            elif path.endswith("succeeded"):
                v = par if healthy else 0
            elif path.endswith("active") or path.endswith("failed"):
                v = 0
            else:
                continue
            vals.append({"name": name, "fieldValue": {"type": "Integer", "integer": v}})
        return vals

    def ack_all(self, app, ns="default", **kw):
        for c in self.works(app, ns):
            self.ack(c, app, ns, **kw)


class WebhookServer:
    """An HTTP server on a free loopback port recording POSTed JSON bodies;
    answers `code` (settable)."""

    def __init__(self, code=200):
        self.code = code
        self.bodies = []
        self.paths = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(n)
                try:
                    outer.bodies.append(json.loads(data or b"null"))
                except ValueError:
                    outer.bodies.append(data)
                outer.paths.append(self.path)
                body = b"ok" if outer.code < 400 else b"no such hook"
                self.send_response(outer.code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port():
    """A loopback port nothing listens on (bound then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def until(pred, timeout=20, what="condition"):
    return wait_for(pred, timeout, 0.05, what)


def sleep_until(t):
    """Only for tests of wall-clock durations: wait until monotonic time t."""
    d = t - time.monotonic()
    if d > 0:
        time.sleep(d)
