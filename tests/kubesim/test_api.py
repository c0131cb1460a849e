"""Integration tests of nave-kubesim's API machinery over real HTTPS.

Starts the real binary (clients/harness.py: free loopback ports, a temporary
--dir) and speaks raw HTTP/1.1 to it with the CA and token it wrote, checking
the answers a real kube-apiserver gives (../../shared/reference/kube-api.md):
discovery, create/get/list/update/delete semantics, resourceVersion conflicts,
generation, finalizers, watch (events, resume, 410 Expired, bookmarks,
timeouts), selectors, pagination, the four patch types, server-side apply
conflicts and force, the CRD lifecycle, authentication, and bad requests each
answered with the right Status. kubectl and python-kubernetes have their own
suites under clients/.

Run: /usr/bin/python3 -m unittest tests/kubesim/test_api.py (meson: suite kubesim).
"""

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients"))
import harness  # noqa: E402


class Api:
    """Raw HTTPS access to one cluster of a Sim."""

    def __init__(self, sim, i=1, token=None):
        d = os.path.join(sim.dir, sim.name(i))
        self.port = sim.port(i)
        with open(os.path.join(d, "token")) as f:
            self.token = token if token is not None else f.read().strip()
        self.ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.crt"))

    def conn(self, timeout=10):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=timeout)

    def req(self, method, path, body=None, ctype="application/json", headers=None, raw=False):
        h = {"Accept": "application/json"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        if body is not None:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode()
            h["Content-Type"] = ctype
        h.update(headers or {})
        c = self.conn()
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            if raw:
                return r.status, r.getheader("Content-Type"), data
            try:
                doc = json.loads(data) if data else None
            except ValueError:
                doc = data.decode("utf-8", "replace")
            return r.status, doc
        finally:
            c.close()

    def get(self, path):
        return self.req("GET", path)

    def post(self, path, body, ctype="application/json"):
        return self.req("POST", path, body, ctype)

    def put(self, path, body):
        return self.req("PUT", path, body)

    def patch(self, path, body, ctype):
        return self.req("PATCH", path, body, ctype)

    def delete(self, path, body=None):
        return self.req("DELETE", path, body)

    def watch(self, path):
        return Watch(self, path)


class Watch:
    """A watch stream; events() reads the JSON lines as they come."""

    def __init__(self, api, path):
        self.c = api.conn(timeout=15)
        self.c.request("GET", path, headers={"Authorization": "Bearer " + api.token, "Accept": "application/json"})
        self.r = self.c.getresponse()
        self.status = self.r.status
        self.buf = b""

    def next(self, timeout=10.0):
        """The next event, or None when the server ended the stream."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no watch event within %.1fs" % timeout)
            self.c.sock.settimeout(left)
            try:
                chunk = self.r.read1(65536)
            except socket.timeout:
                continue
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def until(self, pred, timeout=10.0, what="event"):
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            ev = self.next(max(0.1, deadline - time.monotonic()))
            if ev is None:
                raise AssertionError("stream ended waiting for %s; saw %r" % (what, seen))
            seen.append((ev["type"], ev["object"].get("metadata", {}).get("name")))
            if pred(ev):
                return ev
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for %s; saw %r" % (what, seen))

    def close(self):
        self.c.close()


def cm(name, ns="default", labels=None, data=None, finalizers=None):
    md = {"name": name, "namespace": ns}
    if labels:
        md["labels"] = labels
    if finalizers:
        md["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": data or {"k": "v"}}


def deployment(name, ns="default", replicas=1, image="nginx:1"):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.test.nave.io"},
    "spec": {"group": "test.nave.io", "scope": "Namespaced",
             "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "shortNames": ["gd"]},
             "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields": True}},
                           "additionalPrinterColumns": [{"name": "Size", "type": "integer",
                                                         "jsonPath": ".spec.size"}]}]},
}


class ApiTest(harness.SimTestCase):
    sim_args = {"extra": ("--watch-history", "64", "--bookmark-interval", "200ms")}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = Api(cls.sim)

    def ns(self, prefix):
        name = self.new_namespace(prefix)
        return name

    def assertStatus(self, got, code, reason):
        status, doc = got
        self.assertEqual(status, code, doc)
        self.assertIsInstance(doc, dict, doc)
        self.assertEqual(doc.get("kind"), "Status", doc)
        self.assertEqual(doc.get("status"), "Failure", doc)
        self.assertEqual(doc.get("reason"), reason, doc)
        self.assertEqual(doc.get("code"), code, doc)
        return doc

    # --- discovery --------------------------------------------------------------

    def test_discovery(self):
        s, doc = self.api.get("/api")
        self.assertEqual(s, 200)
        self.assertEqual(doc["versions"], ["v1"])
        self.assertEqual(doc["serverAddressByClientCIDRs"][0]["serverAddress"], "127.0.0.1:%d" % self.sim.port())
        s, doc = self.api.get("/apis/")
        groups = {g["name"]: g for g in doc["groups"]}
        for g in ("apps", "batch", "coordination.k8s.io", "networking.k8s.io", "rbac.authorization.k8s.io",
                  "apiextensions.k8s.io", "events.k8s.io"):
            self.assertIn(g, groups)
            self.assertEqual(groups[g]["preferredVersion"]["version"], "v1")
        self.assertNotIn("", groups)
        s, doc = self.api.get("/api/v1/")
        names = {r["name"]: r for r in doc["resources"]}
        for r in ("namespaces", "configmaps", "secrets", "services", "serviceaccounts", "pods", "events", "nodes",
                  "persistentvolumeclaims", "pods/status", "namespaces/finalize"):
            self.assertIn(r, names)
        for r in doc["resources"]:
            for field in ("name", "singularName", "namespaced", "kind", "verbs"):
                self.assertIn(field, r)
                self.assertIsNotNone(r[field])
        self.assertEqual(names["pods"]["shortNames"], ["po"])
        self.assertEqual(names["pods"]["categories"], ["all"])
        s, doc = self.api.get("/apis/apps/v1")
        names = {r["name"]: r for r in doc["resources"]}
        self.assertEqual(names["deployments"]["verbs"],
                         ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"])
        self.assertEqual(names["deployments/scale"]["group"], "autoscaling")
        s, doc = self.api.get("/version")
        self.assertEqual(doc["major"], "1")
        st, ct, body = self.api.req("GET", "/openapi/v2", raw=True)
        self.assertEqual((st, ct, body), (200, "application/octet-stream", b""))
        self.assertEqual(self.api.get("/openapi/v3")[0], 404)
        self.assertStatus(self.api.get("/apis/apps/v1/namespaces/default/gizmos"), 404, "NotFound")
        self.assertStatus(self.api.get("/apis/nope.io/v1/things"), 404, "NotFound")

    # --- objects ----------------------------------------------------------------

    def test_create_get_update_delete(self):
        ns = self.ns("crud")
        base = "/api/v1/namespaces/%s/configmaps" % ns
        s, a = self.api.post(base, cm("a", ns))
        self.assertEqual(s, 201, a)
        for f in ("uid", "creationTimestamp", "resourceVersion"):
            self.assertIn(f, a["metadata"])
        self.assertNotIn("generation", a["metadata"])
        doc = self.assertStatus(self.api.post(base, cm("a", ns)), 409, "AlreadyExists")
        self.assertEqual(doc["message"], 'configmaps "a" already exists')
        a["data"] = {"k": "v2"}
        s, a2 = self.api.put(base + "/a", a)
        self.assertEqual(s, 200)
        self.assertGreater(int(a2["metadata"]["resourceVersion"]), int(a["metadata"]["resourceVersion"]))
        doc = self.assertStatus(self.api.put(base + "/a", a), 409, "Conflict")
        self.assertIn("the object has been modified", doc["message"])
        self.assertStatus(self.api.put(base + "/b", a2), 400, "BadRequest")
        self.assertStatus(self.api.post("/api/v1/namespaces/default/configmaps", cm("x", ns)), 400, "BadRequest")
        doc = self.assertStatus(self.api.post("/api/v1/namespaces/nope-ns/configmaps", cm("x", "nope-ns")), 404,
                                "NotFound")
        self.assertEqual(doc["message"], 'namespaces "nope-ns" not found')
        s, lst = self.api.get(base)
        self.assertEqual(lst["kind"], "ConfigMapList")
        self.assertEqual([i["metadata"]["name"] for i in lst["items"]], ["a"])
        self.assertIn("resourceVersion", lst["metadata"])
        s, st = self.api.delete(base + "/a")
        self.assertEqual((s, st["status"], st["details"]["name"], st["details"]["kind"]), (200, "Success", "a",
                                                                                          "configmaps"))
        doc = self.assertStatus(self.api.get(base + "/a"), 404, "NotFound")
        self.assertEqual(doc["details"], {"name": "a", "kind": "configmaps"})
        s, g = self.api.post(base, {"metadata": {"generateName": "gen-"}})
        self.assertEqual(s, 201)
        self.assertTrue(g["metadata"]["name"].startswith("gen-") and len(g["metadata"]["name"]) == 9)
        self.assertStatus(self.api.delete("/api/v1/namespaces/kube-system"), 403, "Forbidden")

    def test_generation_and_status(self):
        ns = self.ns("gen")
        base = "/apis/apps/v1/namespaces/%s/deployments" % ns
        s, d = self.api.post(base, deployment("g", ns, image="nginx:%s" % "1"))
        self.assertEqual(s, 201, d)
        self.assertEqual(d["metadata"]["generation"], 1)
        # unconditional updates (no resourceVersion): the controllers write status (and the
        # revision annotation, through /status: no generation bump) meanwhile
        d = harness.wait_for(lambda: (lambda x: x if x["metadata"].get("annotations") else None)(
            self.api.get(base + "/g")[1]), what="the revision annotation")
        self.assertEqual(d["metadata"]["generation"], 1)
        d["metadata"]["labels"] = {"only": "labels"}
        d.pop("status", None)
        d["metadata"].pop("resourceVersion")
        s, d = self.api.put(base + "/g", d)
        self.assertEqual(s, 200, d)
        self.assertEqual(d["metadata"]["generation"], 1)
        d["spec"]["replicas"] = 3
        d["metadata"].pop("resourceVersion")
        s, d = self.api.put(base + "/g", d)
        self.assertEqual(d["metadata"]["generation"], 2)
        s, d = self.api.patch(base + "/g", {"metadata": {"annotations": {"a": "b"}}}, "application/merge-patch+json")
        self.assertEqual(d["metadata"]["generation"], 3)
        # the controllers write status through /status without bumping generation
        d = harness.wait_for(lambda: (lambda x: x if x.get("status", {}).get("observedGeneration") == 3 else None)(
            self.api.get(base + "/g")[1]), what="observedGeneration 3")
        self.assertEqual(d["metadata"]["generation"], 3)
        # status in a main-resource write is ignored
        d["status"]["replicas"] = 99
        d["metadata"].pop("resourceVersion")
        s, d2 = self.api.put(base + "/g", d)
        self.assertNotEqual(d2["status"].get("replicas"), 99)
        # scale subresource
        s, sc = self.api.get(base + "/g/scale")
        self.assertEqual((sc["kind"], sc["apiVersion"], sc["spec"]["replicas"], sc["status"]["selector"]),
                         ("Scale", "autoscaling/v1", 3, "app=g"))
        s, sc = self.api.patch(base + "/g/scale", {"spec": {"replicas": 1}}, "application/merge-patch+json")
        self.assertEqual((s, sc["spec"]["replicas"]), (200, 1))
        self.assertEqual(self.api.get(base + "/g")[1]["spec"]["replicas"], 1)

    def test_finalizers_and_propagation(self):
        ns = self.ns("fin")
        base = "/api/v1/namespaces/%s/configmaps" % ns
        self.assertEqual(self.api.post(base, cm("f", ns, finalizers=["test.nave.io/hold"]))[0], 201)
        s, f = self.api.delete(base + "/f")
        self.assertEqual(s, 200)
        self.assertIn("deletionTimestamp", f["metadata"])
        self.assertEqual(f["metadata"]["deletionGracePeriodSeconds"], 0)
        f["metadata"]["finalizers"].append("test.nave.io/more")
        doc = self.assertStatus(self.api.put(base + "/f", f), 422, "Invalid")
        self.assertEqual(doc["details"]["causes"][0]["field"], "metadata.finalizers")
        s, f = self.api.get(base + "/f")
        f["metadata"]["finalizers"] = []
        self.assertEqual(self.api.put(base + "/f", f)[0], 200)
        self.assertEqual(self.api.get(base + "/f")[0], 404)
        self.assertEqual(self.api.post(base, cm("p", ns))[0], 201)
        self.assertStatus(self.api.delete(base + "/p", {"preconditions": {"uid": "not-it"}}), 409, "Conflict")
        dbase = "/apis/apps/v1/namespaces/%s/deployments" % ns
        self.assertEqual(self.api.post(dbase, deployment("fg", ns))[0], 201)
        s, d = self.api.delete(dbase + "/fg", {"kind": "DeleteOptions", "apiVersion": "v1",
                                               "propagationPolicy": "Foreground"})
        self.assertEqual(s, 200)
        self.assertIn("foregroundDeletion", d["metadata"]["finalizers"])
        # the garbage collector removes dependents, then the finalizer: the object goes
        harness.wait_for(lambda: self.api.get(dbase + "/fg")[0] == 404, what="foreground deletion to finish")

    def test_namespace_lifecycle(self):
        ns = self.ns("life")
        self.assertEqual(self.api.post("/api/v1/namespaces/%s/configmaps" % ns, cm("c", ns))[0], 201)
        s, n = self.api.delete("/api/v1/namespaces/" + ns)
        self.assertEqual((s, n["status"]["phase"]), (200, "Terminating"))
        harness.wait_for(lambda: self.api.get("/api/v1/namespaces/" + ns)[0] == 404, what="namespace gone")

    def test_terminating_namespace_forbids_creates(self):
        ns = self.ns("term")
        # hold the namespace in Terminating with a finalizer of our own
        s, n = self.api.get("/api/v1/namespaces/" + ns)
        n["metadata"]["finalizers"] = ["test.nave.io/hold"]
        self.assertEqual(self.api.put("/api/v1/namespaces/" + ns, n)[0], 200)
        self.api.delete("/api/v1/namespaces/" + ns)
        doc = self.assertStatus(self.api.post("/api/v1/namespaces/%s/configmaps" % ns, cm("late", ns)), 403,
                                "Forbidden")
        self.assertIn("being terminated", doc["message"])
        s, n = self.api.get("/api/v1/namespaces/" + ns)
        n["metadata"]["finalizers"] = []
        self.assertEqual(self.api.put("/api/v1/namespaces/" + ns, n)[0], 200)
        harness.wait_for(lambda: self.api.get("/api/v1/namespaces/" + ns)[0] == 404, what="namespace gone")

    def test_leases(self):
        ns = self.ns("lease")
        base = "/apis/coordination.k8s.io/v1/namespaces/%s/leases" % ns
        body = {"metadata": {"name": "l"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 10,
                                                    "renewTime": "2024-05-01T10:00:00+00:00"}}
        s, l = self.api.post(base, body)
        self.assertEqual(s, 201, l)
        self.assertEqual(l["spec"]["renewTime"], "2024-05-01T10:00:00.000000Z")
        self.assertStatus(self.api.put(base + "/l", body), 422, "Invalid")
        l["spec"]["holderIdentity"] = "b"
        self.assertEqual(self.api.put(base + "/l", l)[0], 200)
        self.assertStatus(self.api.put(base + "/l", l), 409, "Conflict")
        self.assertStatus(self.api.post(base, body), 409, "AlreadyExists")

    # --- selectors and pagination --------------------------------------------------

    def test_selectors_and_pagination(self):
        ns = self.ns("sel")
        base = "/api/v1/namespaces/%s/configmaps" % ns
        for i in range(7):
            self.api.post(base, cm("c%d" % i, ns, labels={"tier": "odd" if i % 2 else "even", "i": str(i)}))
        names = lambda doc: [x["metadata"]["name"] for x in doc["items"]]  # noqa: E731
        self.assertEqual(names(self.api.get(base + "?labelSelector=tier%3Dodd")[1]), ["c1", "c3", "c5"])
        self.assertEqual(names(self.api.get(base + "?labelSelector=tier%21%3Dodd,i%20in%20(0,2)")[1]), ["c0", "c2"])
        self.assertEqual(names(self.api.get("/api/v1/configmaps?fieldSelector=metadata.name%3Dc4")[1]), ["c4"])
        self.assertEqual(names(self.api.get(base + "?fieldSelector=metadata.namespace%3D" + ns)[1])[:2],
                         ["c0", "c1"])
        self.assertStatus(self.api.get(base + "?labelSelector=a%20in%20("), 400, "BadRequest")
        got, cont = [], ""
        for _ in range(10):
            s, doc = self.api.get(base + "?limit=3" + ("&continue=" + cont if cont else ""))
            self.assertLessEqual(len(doc["items"]), 3)
            got += names(doc)
            cont = doc["metadata"].get("continue")
            if not cont:
                break
        self.assertEqual(got, ["c%d" % i for i in range(7)])
        self.assertStatus(self.api.get(base + "?limit=3&continue=garbage"), 400, "BadRequest")
        s, doc = self.api.delete(base + "?labelSelector=tier%3Deven")
        self.assertEqual((s, len(doc["items"])), (200, 4))
        self.assertEqual(names(self.api.get(base)[1]), ["c1", "c3", "c5"])

    # --- patches and apply ---------------------------------------------------------

    def test_patch_types(self):
        ns = self.ns("patch")
        base = "/apis/apps/v1/namespaces/%s/deployments" % ns
        self.api.post(base, deployment("p", ns))
        s, d = self.api.patch(base + "/p", {"spec": {"replicas": 2}}, "application/merge-patch+json")
        self.assertEqual((s, d["spec"]["replicas"]), (200, 2))
        s, d = self.api.patch(base + "/p", [{"op": "add", "path": "/metadata/labels", "value": {"x": "y"}}],
                              "application/json-patch+json")
        self.assertEqual((s, d["metadata"]["labels"]), (200, {"x": "y"}))
        self.assertStatus(self.api.patch(base + "/p", [{"op": "test", "path": "/spec/replicas", "value": 9}],
                                         "application/json-patch+json"), 422, "Invalid")
        smp = {"metadata": {"labels": {"x": None}}, "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "c"}, {"name": "side"}],
            "containers": [{"name": "c", "image": "nginx:2"}, {"name": "side", "image": "busybox"}]}}}}
        s, d = self.api.patch(base + "/p", smp, "application/strategic-merge-patch+json")
        self.assertEqual(s, 200, d)
        self.assertEqual([(c["name"], c["image"]) for c in d["spec"]["template"]["spec"]["containers"]],
                         [("c", "nginx:2"), ("side", "busybox")])
        self.assertNotIn("x", d["metadata"].get("labels", {}))
        s, d = self.api.patch(base + "/p", {"spec": {"template": {"spec": {"containers": [
            {"$patch": "delete", "name": "side"}]}}}}, "application/strategic-merge-patch+json")
        self.assertEqual([c["name"] for c in d["spec"]["template"]["spec"]["containers"]], ["c"])
        self.assertStatus(self.api.patch(base + "/p", {}, "application/xml"), 415, "UnsupportedMediaType")
        self.assertStatus(self.api.patch(base + "/nope", {}, "application/merge-patch+json"), 404, "NotFound")

    def test_server_side_apply(self):
        ns = self.ns("ssa")
        base = "/apis/apps/v1/namespaces/%s/deployments" % ns
        y = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: s\n  labels: {keep: me}\nspec:\n"
             "  replicas: %d\n  selector: {matchLabels: {app: s}}\n  template:\n    metadata: {labels: {app: s}}\n"
             "    spec:\n      containers:\n      - {name: c, image: nginx:1}\n")
        s, d = self.api.patch(base + "/s?fieldManager=alice", y % 2, "application/apply-patch+yaml")
        self.assertEqual(s, 201, d)
        self.assertEqual(d["metadata"]["managedFields"][0]["manager"], "alice")
        self.assertEqual(d["metadata"]["managedFields"][0]["operation"], "Apply")
        self.assertEqual(d["metadata"]["managedFields"][0]["fieldsType"], "FieldsV1")
        s, d = self.api.patch(base + "/s?fieldManager=bob", {"spec": {"replicas": 5}}, "application/merge-patch+json")
        self.assertEqual(s, 200)
        doc = self.assertStatus(self.api.patch(base + "/s?fieldManager=alice", y % 3, "application/apply-patch+yaml"),
                                409, "Conflict")
        self.assertEqual(doc["message"], 'Apply failed with 1 conflict: conflict with "bob" using apps/v1: .spec.replicas')
        self.assertEqual(doc["details"]["causes"], [{"reason": "FieldManagerConflict", "message":
                                                     'conflict with "bob" using apps/v1', "field": ".spec.replicas"}])
        s, d = self.api.patch(base + "/s?fieldManager=alice&force=True", y % 3, "application/apply-patch+yaml")
        self.assertEqual((s, d["spec"]["replicas"]), (200, 3))
        # a field alice stops applying goes
        y2 = y.replace("  labels: {keep: me}\n", "")
        s, d = self.api.patch(base + "/s?fieldManager=alice", y2 % 3, "application/apply-patch+yaml")
        self.assertNotIn("keep", d["metadata"].get("labels", {}))
        # JSON bodies are YAML too; another manager setting the same value shares the field
        s, d = self.api.patch(base + "/s?fieldManager=carol", {"apiVersion": "apps/v1", "kind": "Deployment",
                                                               "metadata": {"name": "s"},
                                                               "spec": {"replicas": 3}},
                              "application/apply-patch+yaml")
        self.assertEqual(s, 200, d)
        self.assertStatus(self.api.patch(base + "/s", y % 3, "application/apply-patch+yaml"), 422, "Invalid")
        self.assertStatus(self.api.patch(base + "/s?fieldManager=a", y.replace("apps/v1", "v1") % 3,
                                         "application/apply-patch+yaml"), 400, "BadRequest")
        self.assertStatus(self.api.patch(base + "/s?fieldManager=a&force=true", {}, "application/merge-patch+json"),
                          422, "Invalid")
        self.assertStatus(self.api.patch(base + "/s?fieldManager=a", "a: [1,\n", "application/apply-patch+yaml"),
                          400, "BadRequest")

    # --- watch ----------------------------------------------------------------------

    def test_watch_events_resume_and_expiry(self):
        ns = self.ns("watch")
        base = "/api/v1/namespaces/%s/configmaps" % ns
        s, first = self.api.post(base, cm("w0", ns))
        rv0 = first["metadata"]["resourceVersion"]
        w = self.api.watch(base + "?watch=1&allowWatchBookmarks=true")
        try:
            self.assertEqual(w.status, 200)
            ev = w.until(lambda e: e["type"] == "ADDED", what="synthetic ADDED")
            self.assertEqual(ev["object"]["metadata"]["name"], "w0")
            self.api.post(base, cm("w1", ns))
            w.until(lambda e: e["type"] == "ADDED" and e["object"]["metadata"]["name"] == "w1", what="ADDED w1")
            self.api.patch(base + "/w1", {"data": {"k": "v2"}}, "application/merge-patch+json")
            ev = w.until(lambda e: e["type"] == "MODIFIED", what="MODIFIED w1")
            self.assertEqual(ev["object"]["data"]["k"], "v2")
            self.api.delete(base + "/w1")
            ev = w.until(lambda e: e["type"] == "DELETED", what="DELETED w1")
            self.assertEqual(ev["object"]["metadata"]["name"], "w1")
            ev = w.until(lambda e: e["type"] == "BOOKMARK", what="BOOKMARK")
            self.assertEqual(set(ev["object"]["metadata"]) - {"creationTimestamp"}, {"resourceVersion"})
        finally:
            w.close()
        # resume after rv0: exactly the changes after it
        w = self.api.watch(base + "?watch=true&resourceVersion=" + rv0)
        try:
            types = [w.next()["type"] for _ in range(3)]
            self.assertEqual(types, ["ADDED", "MODIFIED", "DELETED"])
        finally:
            w.close()
        # push rv0 out of the 64-change window: 410 Expired as an ERROR event, then the end
        for i in range(70):
            self.api.patch(base + "/w0", {"data": {"n": str(i)}}, "application/merge-patch+json")
        w = self.api.watch(base + "?watch=true&resourceVersion=" + rv0)
        try:
            ev = w.next()
            self.assertEqual(ev["type"], "ERROR")
            self.assertEqual((ev["object"]["code"], ev["object"]["reason"]), (410, "Expired"))
            self.assertTrue(ev["object"]["message"].startswith("too old resource version: %s (" % rv0))
            self.assertIsNone(w.next())
        finally:
            w.close()

    def test_watch_selectors_and_timeout(self):
        ns = self.ns("wsel")
        base = "/api/v1/namespaces/%s/configmaps" % ns
        self.api.post(base, cm("x", ns))
        w = self.api.watch(base + "?watch=true&labelSelector=sel%3Dyes&timeoutSeconds=2")
        try:
            self.api.post(base, cm("y", ns, labels={"sel": "yes"}))
            self.assertEqual(w.next()["object"]["metadata"]["name"], "y")
            self.api.patch(base + "/x", {"metadata": {"labels": {"sel": "yes"}}}, "application/merge-patch+json")
            ev = w.next()
            self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("ADDED", "x"))
            self.api.patch(base + "/x", {"metadata": {"labels": {"sel": "no"}}}, "application/merge-patch+json")
            ev = w.next()
            self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("DELETED", "x"))
            # timeoutSeconds ends the stream
            self.assertIsNone(w.next(timeout=5))
        finally:
            w.close()
        w = self.api.watch(base + "?watch=true&fieldSelector=metadata.name%3Dy")
        try:
            self.assertEqual(w.next()["object"]["metadata"]["name"], "y")
        finally:
            w.close()

    # --- custom resources -------------------------------------------------------------

    def test_crd_lifecycle(self):
        ns = self.ns("crd")
        s, crd = self.api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)
        self.assertEqual(s, 201, crd)
        conds = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        self.assertEqual(conds, {"NamesAccepted": "True", "Established": "True"})
        s, doc = self.api.get("/apis/test.nave.io/v1")
        self.assertEqual(s, 200)
        self.assertEqual(doc["resources"][0]["shortNames"], ["gd"])
        self.assertIn("test.nave.io", [g["name"] for g in self.api.get("/apis")[1]["groups"]])
        base = "/apis/test.nave.io/v1/namespaces/%s/gadgets" % ns
        s, g = self.api.post(base, {"apiVersion": "test.nave.io/v1", "kind": "Gadget", "metadata": {"name": "g1"},
                                    "spec": {"size": 3}})
        self.assertEqual((s, g["metadata"]["generation"]), (201, 1))
        self.assertStatus(self.api.patch(base + "/g1", {}, "application/strategic-merge-patch+json"), 415,
                          "UnsupportedMediaType")
        g["status"] = {"ok": True}
        s, g2 = self.api.put(base + "/g1/status", g)
        self.assertEqual((s, g2["status"], g2["metadata"]["generation"]), (200, {"ok": True}, 1))
        s, tbl = self.api.req("GET", base, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
        self.assertEqual(tbl["kind"], "Table")
        self.assertIn("Size", [c["name"] for c in tbl["columnDefinitions"]])
        w = self.api.watch(base + "?watch=true")
        try:
            self.assertEqual(w.next()["type"], "ADDED")
            s, _ = self.api.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.test.nave.io")
            self.assertEqual(s, 200)
            self.assertEqual(w.next()["type"], "DELETED")
            self.assertIsNone(w.next())
        finally:
            w.close()
        self.assertEqual(self.api.get("/apis/test.nave.io/v1")[0], 404)
        self.assertEqual(self.api.get(base + "/g1")[0], 404)

    # --- bad requests and authentication ------------------------------------------------

    def test_bad_requests(self):
        ns = self.ns("bad")
        base = "/api/v1/namespaces/%s/configmaps" % ns
        self.assertStatus(self.api.post(base, "{\"metadata\": {"), 400, "BadRequest")
        self.assertStatus(self.api.post(base, "[]"), 400, "BadRequest")
        self.assertStatus(self.api.post(base, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "k"}}), 400,
                          "BadRequest")
        self.assertStatus(self.api.post(base, {"apiVersion": "apps/v1", "kind": "ConfigMap",
                                               "metadata": {"name": "k"}}), 400, "BadRequest")
        doc = self.assertStatus(self.api.post(base, {"metadata": {"name": "Bad_Name"}}), 422, "Invalid")
        self.assertEqual(doc["details"]["kind"], "ConfigMap")
        self.assertEqual(doc["details"]["causes"][0]["field"], "metadata.name")
        self.assertStatus(self.api.post(base, {"metadata": {"name": "x" * 300}}), 422, "Invalid")
        self.assertStatus(self.api.post(base, {"metadata": {"name": "l", "labels": {"a": "b c"}}}), 422, "Invalid")
        self.assertStatus(self.api.post(base, "metadata: {name: [", "application/yaml"), 400, "BadRequest")
        self.assertEqual(self.api.post(base, "metadata: {name: from-yaml}\ndata: {a: b}\n", "application/yaml")[0],
                         201)
        self.assertStatus(self.api.post(base, b"\x08\x01", "application/vnd.kubernetes.protobuf"), 415,
                          "UnsupportedMediaType")
        big = {"metadata": {"name": "big"}, "data": {"k": "x" * (4 << 20)}}
        st, doc = self.api.post(base, big)
        self.assertEqual(st, 413, doc)
        self.assertStatus(self.api.get("/apis/apps/v1/namespaces/%s/widgets" % ns), 404, "NotFound")
        self.assertStatus(self.api.req("POST", base + "/x", {}), 405, "MethodNotAllowed")
        self.assertStatus(self.api.post("/apis/apps/v1/namespaces/%s/deployments" % ns,
                                        {"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
                                                                             "template": {"metadata": {"labels": {"a": "c"}},
                                                                                          "spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
                          422, "Invalid")
        # the server is still fine
        self.assertEqual(self.api.get("/api/v1/namespaces/" + ns)[0], 200)

    def test_authentication(self):
        anon = Api(self.sim, token="")
        self.assertEqual(anon.get("/version")[0], 200)
        self.assertEqual(anon.req("GET", "/healthz", raw=True)[0], 200)
        self.assertStatus(anon.get("/api"), 401, "Unauthorized")
        wrong = Api(self.sim, token="wrong")
        self.assertStatus(wrong.get("/api/v1/namespaces"), 401, "Unauthorized")
        lower = Api(self.sim)
        s, _ = lower.req("GET", "/api/v1/namespaces", headers={"Authorization": "bearer " + lower.token})
        self.assertEqual(s, 200)


class MultiClusterTest(harness.SimTestCase):
    sim_args = {"clusters": 2}

    def test_independent_clusters(self):
        a, b = Api(self.sim, 1), Api(self.sim, 2)
        self.assertNotEqual(a.token, b.token)
        self.assertEqual(a.post("/api/v1/namespaces/default/configmaps", cm("only-a"))[0], 201)
        self.assertEqual(b.get("/api/v1/namespaces/default/configmaps/only-a")[0], 404)
        # cluster 1's token is not valid on cluster 2
        self.assertEqual(Api(self.sim, 2, token=a.token).get("/api")[0], 401)
        with open(self.sim.kubeconfig(2)) as f:
            kc = f.read()
        self.assertIn("https://127.0.0.1:%d" % self.sim.port(2), kc)
        self.assertIn("certificate-authority-data:", kc)
        self.assertIn("current-context: cluster-2", kc)


class FlagsTest(unittest.TestCase):
    def test_help_and_bad_flags(self):
        binary = harness.find_binary()
        p = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 0)
        for flag in ("--clusters", "--names", "--base-port", "--dir", "--listen", "--plain-http", "--ready-delay",
                     "--fail-pattern", "--nodes", "--in-cluster-dir", "--token-file", "(default 1s",
                     "(default \"fail\""):
            self.assertIn(flag, p.stdout)
        for args in (["--bogus"], ["--clusters", "0", "--dir", "x"], ["--ready-delay", "5", "--dir", "x"],
                     ["--clusters"], [], ["--names", "A_b", "--dir", "x"], ["--base-port", "70000", "--dir", "x"]):
            p = subprocess.run([binary] + args, capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertIn("nave-kubesim:", p.stderr)

    def test_names_token_file_plain_http_and_sigterm(self):
        binary = harness.find_binary()
        tmp = tempfile.mkdtemp(prefix="kubesim-flags-")
        tokens = os.path.join(tmp, "tokens.csv")
        with open(tokens, "w") as f:
            f.write("# static tokens\nsecret-one,admin,1,\"system:masters\"\nsecret-two,other,2\n")
        port = harness.free_ports(2)
        p = subprocess.Popen([binary, "--names", "east,west", "--base-port", str(port), "--dir", tmp,
                              "--plain-http", "--token-file", tokens], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        try:
            out = harness.LineReader(p.stdout)
            self.assertEqual(out.wait_line(lambda l: l.startswith("ready"), what="ready"), "ready: 2 clusters")
            for i, name in enumerate(("east", "west")):
                with open(os.path.join(tmp, name, "kubeconfig")) as f:
                    kc = f.read()
                self.assertIn("http://127.0.0.1:%d" % (port + i), kc)
                self.assertIn("token: secret-one", kc)
                for tok, code in (("secret-two", 200), ("secret-three", 401)):
                    c = http.client.HTTPConnection("127.0.0.1", port + i, timeout=10)
                    c.request("GET", "/api", headers={"Authorization": "Bearer " + tok})
                    self.assertEqual(c.getresponse().status, code)
                    c.close()
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(15), 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
