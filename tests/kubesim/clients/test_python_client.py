#!/usr/bin/python3
"""Debian's python3-kubernetes (22.6) against nave-kubesim.

The typed API, the dynamic client (CRDs, server-side apply), watches, the
errors it parses, a leader election between three clients on one Lease
following client-go's algorithm, and the in-cluster configuration over TLS.
"""

import datetime
import glob
import json
import os
import re
import sys
import threading
import time
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SimTestCase, wait_for  # noqa: E402

from kubernetes import client, config, dynamic, watch  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402
from kubernetes.config import incluster_config  # noqa: E402


def status_body(exc):
    """The Status a failed call carried (client-go style: kind Status)."""
    try:
        return json.loads(exc.body)
    except (TypeError, ValueError):
        return {}


def deployment(name, image="nginx:1", replicas=2):
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": name}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image=image)]))))


class PythonClientTest(SimTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = cls.sim.api_client()
        cls.core = client.CoreV1Api(cls.api)
        cls.apps = client.AppsV1Api(cls.api)
        cls.coord = client.CoordinationV1Api(cls.api)

    def ns(self, prefix):
        type(self)._ns_counter += 1
        name = "%s-%d" % (prefix, type(self)._ns_counter)
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        return name

    # --- discovery --------------------------------------------------------------------

    def test_discovery(self):
        v = client.CoreApi(self.api).get_api_versions()
        self.assertEqual(v.versions, ["v1"])
        self.assertTrue(v.server_address_by_client_cid_rs)
        groups = {g.name: g for g in client.ApisApi(self.api).get_api_versions().groups}
        for g in ("apps", "batch", "coordination.k8s.io", "rbac.authorization.k8s.io", "apiextensions.k8s.io",
                  "networking.k8s.io"):
            self.assertIn(g, groups)
        self.assertEqual(groups["apps"].preferred_version.group_version, "apps/v1")
        res = {r.name: r for r in client.AppsV1Api(self.api).get_api_resources().resources}
        self.assertEqual(res["deployments"].kind, "Deployment")
        self.assertTrue(res["deployments"].namespaced)
        self.assertIn("deployments/status", res)
        code = client.VersionApi(self.api).get_code()
        self.assertEqual(code.major, "1")
        dyn = dynamic.DynamicClient(self.api)
        r = dyn.resources.get(api_version="apps/v1", kind="Deployment")
        self.assertEqual(r.name, "deployments")

    # --- typed CRUD and errors ---------------------------------------------------------

    def test_crud_and_errors(self):
        ns = self.ns("crud")
        cm = self.core.create_namespaced_config_map(ns, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="c1", labels={"a": "b"}), data={"k": "v"}))
        self.assertTrue(cm.metadata.uid)
        self.assertTrue(cm.metadata.resource_version)
        self.assertIsNotNone(cm.metadata.creation_timestamp)
        stale = cm.metadata.resource_version

        cm.data["k"] = "v2"
        cm2 = self.core.replace_namespaced_config_map("c1", ns, cm)
        self.assertNotEqual(cm2.metadata.resource_version, stale)
        self.assertEqual(cm2.data, {"k": "v2"})

        # PUT with the old resourceVersion: 409 Conflict
        cm.metadata.resource_version = stale
        with self.assertRaises(ApiException) as ctx:
            self.core.replace_namespaced_config_map("c1", ns, cm)
        self.assertEqual(ctx.exception.status, 409)
        body = status_body(ctx.exception)
        self.assertEqual(body.get("reason"), "Conflict")
        self.assertIn("the object has been modified", body.get("message", ""))

        # POST of an existing name: 409 AlreadyExists
        with self.assertRaises(ApiException) as ctx:
            self.core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c1")))
        self.assertEqual(ctx.exception.status, 409)
        self.assertEqual(status_body(ctx.exception).get("reason"), "AlreadyExists")

        # GET of a missing name: 404 with details
        with self.assertRaises(ApiException) as ctx:
            self.core.read_namespaced_config_map("nope", ns)
        self.assertEqual(ctx.exception.status, 404)
        body = status_body(ctx.exception)
        self.assertEqual(body.get("reason"), "NotFound")
        self.assertEqual(body.get("details", {}).get("name"), "nope")
        self.assertEqual(body.get("message"), 'configmaps "nope" not found')

        # patches: a dict goes as strategic merge, a list as JSON patch
        p = self.core.patch_namespaced_config_map("c1", ns, {"data": {"x": "1"}})
        self.assertEqual(p.data, {"k": "v2", "x": "1"})
        p = self.core.patch_namespaced_config_map("c1", ns, [{"op": "remove", "path": "/data/k"}])
        self.assertEqual(p.data, {"x": "1"})

        # label selector and field selector on list
        self.core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c2")))
        self.assertEqual([i.metadata.name for i in self.core.list_namespaced_config_map(ns, label_selector="a=b").items],
                         ["c1"])
        self.assertEqual([i.metadata.name for i in self.core.list_namespaced_config_map(
            ns, field_selector="metadata.name=c2").items], ["c2"])
        lst = self.core.list_namespaced_config_map(ns)
        self.assertTrue(lst.metadata.resource_version)

        # generateName
        g = self.core.create_namespaced_config_map(ns, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(generate_name="gen-")))
        self.assertTrue(g.metadata.name.startswith("gen-") and len(g.metadata.name) > 4)

        # delete returns a Status or the object; then it is gone
        self.core.delete_namespaced_config_map("c2", ns)
        with self.assertRaises(ApiException) as ctx:
            self.core.read_namespaced_config_map("c2", ns)
        self.assertEqual(ctx.exception.status, 404)

        # delete precondition on a wrong uid: 409
        with self.assertRaises(ApiException) as ctx:
            self.core.delete_namespaced_config_map("c1", ns, body=client.V1DeleteOptions(
                preconditions=client.V1Preconditions(uid="00000000-0000-0000-0000-000000000000")))
        self.assertEqual(ctx.exception.status, 409)

    def test_bad_requests(self):
        ns = self.ns("badreq")
        # A body that is JSON but not an object.
        with self.assertRaises(ApiException) as ctx:
            self.api.call_api("/api/v1/namespaces/%s/configmaps" % ns, "POST", body="not an object",
                              header_params={"Content-Type": "application/json", "Accept": "application/json"},
                              auth_settings=["BearerToken"], _preload_content=False)
        self.assertEqual(ctx.exception.status, 400)
        self.assertEqual(status_body(ctx.exception).get("kind"), "Status")
        # Malformed JSON with a Content-Length: 400 with a Status body.
        url = self.api.configuration.host + "/api/v1/namespaces/%s/configmaps" % ns
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        self.api.update_params_for_auth(headers, [], ["BearerToken"])
        r = self.api.rest_client.pool_manager.request("POST", url, body=b'{"apiVersion": "v1", "kind": ',
                                                      headers=headers)
        self.assertEqual(r.status, 400)
        body = json.loads(r.data)
        self.assertEqual((body.get("kind"), body.get("reason"), body.get("code")), ("Status", "BadRequest", 400))
        # An oversized body: 413.
        big = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="big"), data={"k": "x" * (4 << 20)})
        with self.assertRaises(ApiException) as ctx:
            self.core.create_namespaced_config_map(ns, big)
        self.assertEqual(ctx.exception.status, 413)
        # An invalid name: 422 Invalid naming the field.
        with self.assertRaises(ApiException) as ctx:
            self.core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="UP")))
        self.assertEqual(ctx.exception.status, 422)
        body = status_body(ctx.exception)
        self.assertEqual(body.get("reason"), "Invalid")
        self.assertIn("metadata.name", json.dumps(body.get("details", {})))
        # Missing namespace: 404 namespaces "x" not found.
        with self.assertRaises(ApiException) as ctx:
            self.core.create_namespaced_config_map("no-such-ns", client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name="x")))
        self.assertEqual(ctx.exception.status, 404)
        self.assertIn('namespaces "no-such-ns" not found', status_body(ctx.exception).get("message", ""))
        # Still serving.
        self.core.list_namespace()

    # --- deployments through the typed API -------------------------------------------

    def test_deployment_becomes_ready(self):
        ns = self.ns("deploy")
        self.apps.create_namespaced_deployment(ns, deployment("web", replicas=3))

        def ready():
            d = self.apps.read_namespaced_deployment_status("web", ns)
            st = d.status
            return (st.observed_generation == d.metadata.generation and st.ready_replicas == 3
                    and st.available_replicas == 3 and st.updated_replicas == 3) and d

        d = wait_for(ready, timeout=30, what="deployment web ready")
        conds = {c.type: c for c in d.status.conditions}
        self.assertEqual(conds["Available"].status, "True")
        self.assertIsNotNone(conds["Available"].last_transition_time)
        pods = self.core.list_namespaced_pod(ns, label_selector="app=web").items
        self.assertEqual(len(pods), 3)
        for p in pods:
            self.assertEqual(p.status.phase, "Running")
            owner = p.metadata.owner_references[0]
            self.assertEqual(owner.kind, "ReplicaSet")
            rs = self.apps.read_namespaced_replica_set(owner.name, ns)
            self.assertEqual(rs.metadata.owner_references[0].kind, "Deployment")
            self.assertEqual(rs.metadata.owner_references[0].uid, d.metadata.uid)
        # scale subresource
        scale = self.apps.read_namespaced_deployment_scale("web", ns)
        self.assertEqual(scale.spec.replicas, 3)
        self.apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 1}})
        wait_for(lambda: len(self.core.list_namespaced_pod(ns, label_selector="app=web").items) == 1,
                 what="one pod after scaling to 1")

    # --- watch ---------------------------------------------------------------------------

    def test_watch_from_resource_version(self):
        ns = self.ns("watch")
        rv = self.core.list_namespaced_config_map(ns).metadata.resource_version
        self.core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w")))
        self.core.patch_namespaced_config_map("w", ns, {"data": {"a": "1"}})
        self.core.delete_namespaced_config_map("w", ns)
        seen = []
        w = watch.Watch()
        for ev in w.stream(self.core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=10):
            seen.append((ev["type"], ev["object"].metadata.name))
            if ev["type"] == "DELETED":
                w.stop()
        self.assertEqual(seen, [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")])

    def test_watch_timeout_ends_stream(self):
        ns = self.ns("wto")
        t0 = time.monotonic()
        events = list(watch.Watch().stream(self.core.list_namespaced_config_map, ns, timeout_seconds=1))
        self.assertEqual(events, [])
        self.assertLess(time.monotonic() - t0, 10, "the server must end the watch after timeoutSeconds")

    # --- CRDs with the dynamic client, server-side apply ------------------------------------

    def test_dynamic_crd_and_server_side_apply(self):
        ns = self.ns("dyn")
        dyn = dynamic.DynamicClient(self.api)
        crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
        crds.create(body={
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "gizmos.example.org"},
            "spec": {"group": "example.org", "scope": "Namespaced",
                     "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"},
                     "versions": [{"name": "v1alpha1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]}})

        def established():
            c = crds.get(name="gizmos.example.org")
            conds = {x["type"]: x["status"] for x in (c.status.conditions or [])}
            return conds.get("Established") == "True"

        wait_for(established, what="CRD Established")
        dyn = dynamic.DynamicClient(self.api)  # fresh discovery
        gizmos = dyn.resources.get(api_version="example.org/v1alpha1", kind="Gizmo")
        obj = {"apiVersion": "example.org/v1alpha1", "kind": "Gizmo", "metadata": {"name": "g1", "namespace": ns},
               "spec": {"size": 1, "color": "red"}}
        # python-kubernetes 22.6 cannot send a dict with application/apply-patch+yaml
        # (its REST layer only serialises bodies of JSON content types): send JSON text.
        r = gizmos.server_side_apply(body=json.dumps(obj), name="g1", namespace=ns, field_manager="alice")
        self.assertEqual(r.spec.size, 1)
        self.assertEqual([m["manager"] for m in r.metadata.managedFields], ["alice"])
        # Another manager changing alice's field: 409 with the conflict named.
        obj2 = {"apiVersion": "example.org/v1alpha1", "kind": "Gizmo", "metadata": {"name": "g1", "namespace": ns},
                "spec": {"size": 2}}
        with self.assertRaises(Exception) as ctx:
            gizmos.server_side_apply(body=json.dumps(obj2), name="g1", namespace=ns, field_manager="bob")
        self.assertEqual(getattr(ctx.exception, "status", None), 409)
        self.assertIn(".spec.size", str(getattr(ctx.exception, "body", "")))
        r = gizmos.server_side_apply(body=json.dumps(obj2), name="g1", namespace=ns, field_manager="bob",
                                     force_conflicts=True)
        self.assertEqual(r.spec.size, 2)
        self.assertEqual(r.spec.color, "red")
        # alice stops applying color: it is removed (she was its only owner)
        r = gizmos.server_side_apply(body=json.dumps({"apiVersion": "example.org/v1alpha1", "kind": "Gizmo",
                                                      "metadata": {"name": "g1", "namespace": ns}, "spec": {}}),
                                     name="g1", namespace=ns, field_manager="alice")
        self.assertEqual(r.spec.size, 2)
        self.assertIsNone(r.spec.get("color"))
        # merge patch through the dynamic client (custom resources refuse strategic merge)
        r = gizmos.patch(name="g1", namespace=ns, body={"spec": {"extra": True}},
                         content_type="application/merge-patch+json")
        self.assertTrue(r.spec.extra)
        self.assertEqual([i.metadata.name for i in gizmos.get(namespace=ns).items], ["g1"])
        crds.delete(name="gizmos.example.org")
        wait_for(lambda: not self._group_exists("example.org"), what="example.org gone from discovery")
        with self.assertRaises(ApiException) as ctx:
            self.api.call_api("/apis/example.org/v1alpha1/namespaces/%s/gizmos" % ns, "GET",
                              auth_settings=["BearerToken"], _preload_content=False)
        self.assertEqual(ctx.exception.status, 404)

    def _group_exists(self, group):
        return group in [g.name for g in client.ApisApi(self.api).get_api_versions().groups]

    # --- leases --------------------------------------------------------------------------

    def test_lease_microtime(self):
        ns = self.ns("lease")
        t = datetime.datetime(2026, 1, 2, 3, 4, 5, 0, tzinfo=datetime.timezone.utc)  # Python sends "+00:00"
        self.coord.create_namespaced_lease(ns, client.V1Lease(
            metadata=client.V1ObjectMeta(name="l"),
            spec=client.V1LeaseSpec(holder_identity="a", lease_duration_seconds=10, acquire_time=t, renew_time=t)))
        raw = self.coord.read_namespaced_lease("l", ns, _preload_content=False).data.decode()
        self.assertRegex(json.loads(raw)["spec"]["renewTime"], r"^2026-01-02T03:04:05\.\d{6}Z$")
        lease = self.coord.read_namespaced_lease("l", ns)
        self.assertEqual(lease.spec.renew_time, t)
        # Leases require resourceVersion on update.
        lease.metadata.resource_version = None
        with self.assertRaises(ApiException) as ctx:
            self.coord.replace_namespaced_lease("l", ns, lease)
        self.assertEqual(ctx.exception.status, 422)

    def test_leader_election_three_clients(self):
        ns = self.ns("le")
        cands = [Candidate(self.sim, "cand-%d" % i, ns, "the-lock") for i in range(3)]
        violations = []
        leaders_seen = []
        stop = threading.Event()

        def observe():
            while not stop.is_set():
                now = [c.identity for c in cands if c.is_leader()]
                if len(now) > 1:
                    violations.append((time.monotonic(), now))
                if now and (not leaders_seen or leaders_seen[-1] != now[0]):
                    leaders_seen.append(now[0])
                stop.wait(0.01)

        obs = threading.Thread(target=observe, daemon=True)
        for c in cands:
            c.start()
        obs.start()
        try:
            first = wait_for(lambda: [c for c in cands if c.is_leader()], timeout=15, what="a leader")[0]
            # Stable for a few lease durations: the same leader renews.
            lease0 = self.coord.read_namespaced_lease("the-lock", ns)
            deadline = time.monotonic() + 3 * Candidate.LEASE_DURATION
            while time.monotonic() < deadline:
                self.assertTrue(first.is_leader() or first.renew_failures, "leader lost the lease without reason")
                time.sleep(0.1)
            lease1 = self.coord.read_namespaced_lease("the-lock", ns)
            self.assertEqual(lease1.spec.holder_identity, first.identity)
            self.assertGreater(lease1.spec.renew_time, lease0.spec.renew_time)
            self.assertEqual(lease1.spec.acquire_time, lease0.spec.acquire_time)
            transitions = lease1.spec.lease_transitions or 0

            # Kill the leader (no release): another takes over within the lease duration
            # (counted from the last renewal it saw) plus a retry period and request time.
            t_kill = time.monotonic()
            first.kill()
            second = wait_for(lambda: [c for c in cands if c.is_leader()], timeout=15,
                              what="a new leader")[0]
            took = time.monotonic() - t_kill
            self.assertNotEqual(second.identity, first.identity)
            self.assertLess(took, Candidate.LEASE_DURATION + 4 * Candidate.RETRY_PERIOD + 1.0,
                            "takeover took %.2fs" % took)
            lease2 = self.coord.read_namespaced_lease("the-lock", ns)
            self.assertEqual(lease2.spec.holder_identity, second.identity)
            self.assertEqual(lease2.spec.lease_transitions, transitions + 1)
            self.assertGreater(lease2.spec.acquire_time, lease1.spec.acquire_time)
            # Stable again.
            time.sleep(2 * Candidate.LEASE_DURATION)
            self.assertTrue(second.is_leader())
        finally:
            stop.set()
            for c in cands:
                c.kill()
            obs.join(5)
        self.assertEqual(violations, [], "two leaders at once")
        self.assertEqual(leaders_seen[:2], [first.identity, second.identity])


class Candidate(threading.Thread):
    """client-go's leader election (leaderelection.go) with a python client.

    tryAcquireOrRenew: GET the Lease; 404 -> POST it (409: someone else won);
    held by another whose record we have not seen change for leaseDuration
    (measured on our clock from when we observed it) -> wait; otherwise PUT
    the whole lease with the resourceVersion of the GET (409: lost the race).
    Renewing keeps acquireTime; a new holder bumps leaseTransitions. A leader
    considers itself leader until renewDeadline after the start of its last
    successful renewal (shorter than leaseDuration, so two are never leaders).
    """
    LEASE_DURATION = 2.0
    RENEW_DEADLINE = 1.4
    RETRY_PERIOD = 0.2

    def __init__(self, sim, ident, ns, name):
        super().__init__(daemon=True)
        self.api = client.CoordinationV1Api(sim.api_client())
        self.identity, self.ns, self.name = ident, ns, name
        self.valid_until = 0.0
        self.observed = None
        self.observed_time = 0.0
        self.dead = threading.Event()
        self.renew_failures = 0

    def is_leader(self):
        return not self.dead.is_set() and time.monotonic() < self.valid_until

    def kill(self):
        self.dead.set()
        self.join(10)

    def run(self):
        while not self.dead.is_set():
            try:
                self.try_acquire_or_renew()
            except Exception:  # noqa: BLE001 - a failed round is just a failed round
                self.renew_failures += 1
            self.dead.wait(self.RETRY_PERIOD)

    def try_acquire_or_renew(self):
        start = time.monotonic()
        now = datetime.datetime.now(datetime.timezone.utc)
        try:
            lease = self.api.read_namespaced_lease(self.name, self.ns)
        except ApiException as e:
            if e.status != 404:
                raise
            body = client.V1Lease(metadata=client.V1ObjectMeta(name=self.name), spec=client.V1LeaseSpec(
                holder_identity=self.identity, lease_duration_seconds=int(self.LEASE_DURATION), acquire_time=now,
                renew_time=now, lease_transitions=0))
            try:
                self.api.create_namespaced_lease(self.ns, body)
            except ApiException as e2:
                if e2.status == 409:
                    return
                raise
            if not self.dead.is_set():
                self.valid_until = start + self.RENEW_DEADLINE
            return
        spec = lease.spec
        record = (spec.holder_identity, spec.renew_time, spec.acquire_time, spec.lease_transitions,
                  spec.lease_duration_seconds)
        if record != self.observed:
            self.observed = record
            self.observed_time = start
        holder = spec.holder_identity or ""
        if holder and holder != self.identity and \
                self.observed_time + (spec.lease_duration_seconds or self.LEASE_DURATION) > start:
            return
        if self.dead.is_set():
            return
        if holder == self.identity:
            acquire, transitions = spec.acquire_time, spec.lease_transitions or 0
        else:
            acquire, transitions = now, (spec.lease_transitions or 0) + 1
        lease.spec = client.V1LeaseSpec(holder_identity=self.identity, lease_duration_seconds=int(self.LEASE_DURATION),
                                        acquire_time=acquire, renew_time=now, lease_transitions=transitions)
        try:
            self.api.replace_namespaced_lease(self.name, self.ns, lease)
        except ApiException as e:
            if e.status == 409:
                return
            raise
        if not self.dead.is_set():
            self.valid_until = start + self.RENEW_DEADLINE


class InClusterTest(SimTestCase):
    sim_args = {"in_cluster": True}

    def files(self):
        """token, ca.crt and namespace as --in-cluster-dir laid them out."""
        found = glob.glob(os.path.join(self.sim.in_cluster_dir, "**", "token"), recursive=True)
        self.assertTrue(found, "no token under %s" % self.sim.in_cluster_dir)
        d = os.path.dirname(sorted(found)[0])
        for f in ("token", "ca.crt", "namespace"):
            self.assertTrue(os.path.isfile(os.path.join(d, f)), f)
        return os.path.join(d, "token"), os.path.join(d, "ca.crt"), os.path.join(d, "namespace")

    def load(self, token, ca, host="127.0.0.1"):
        env = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": str(self.sim.port())}
        cfg = client.Configuration()
        with mock.patch.dict(os.environ, env), \
                mock.patch.object(incluster_config, "SERVICE_TOKEN_FILENAME", token), \
                mock.patch.object(incluster_config, "SERVICE_CERT_FILENAME", ca):
            config.load_incluster_config(client_configuration=cfg)
        return cfg

    def test_in_cluster_over_tls(self):
        token, ca, nsfile = self.files()
        with open(nsfile) as f:
            namespace = f.read().strip() or "default"
        cfg = self.load(token, ca)
        self.assertTrue(cfg.host.startswith("https://"))
        self.assertTrue(cfg.verify_ssl)
        core = client.CoreV1Api(client.ApiClient(cfg))
        # The loader sends "bearer <token>" in lower case: accepted.
        core.create_namespaced_config_map(namespace, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="from-pod"), data={"x": "y"}))
        self.assertEqual(core.read_namespaced_config_map("from-pod", namespace).data, {"x": "y"})
        # The serving certificate is valid for localhost too.
        cfg2 = self.load(token, ca, host="localhost")
        client.CoreV1Api(client.ApiClient(cfg2)).list_namespace()
        # The same through InClusterConfigLoader with explicit paths.
        cfg3 = client.Configuration()
        with mock.patch.dict(os.environ, {"KUBERNETES_SERVICE_HOST": "127.0.0.1",
                                          "KUBERNETES_SERVICE_PORT": str(self.sim.port())}):
            incluster_config.InClusterConfigLoader(token_filename=token, cert_filename=ca).load_and_set(cfg3)
        self.assertEqual(client.VersionApi(client.ApiClient(cfg3)).get_code().major, "1")

    def test_in_cluster_rejects_bad_token_and_wrong_ca(self):
        token, ca, _ = self.files()
        bad = os.path.join(self.sim.tmp, "bad-token")
        with open(bad, "w") as f:
            f.write("not-the-token")
        core = client.CoreV1Api(client.ApiClient(self.load(bad, ca)))
        with self.assertRaises(ApiException) as ctx:
            core.list_namespace()
        self.assertEqual(ctx.exception.status, 401)
        self.assertEqual(status_body(ctx.exception).get("reason"), "Unauthorized")
        # A CA that did not sign the serving certificate: TLS verification fails.
        other_ca = "/etc/ssl/certs/ca-certificates.crt"
        if not os.path.exists(other_ca):
            self.skipTest("no system CA bundle")
        cfg = self.load(token, other_ca)
        cfg.retries = False
        with self.assertRaises(Exception) as ctx:
            client.CoreV1Api(client.ApiClient(cfg)).list_namespace()
        self.assertRegex(str(ctx.exception) + repr(getattr(ctx.exception, "reason", "")),
                         re.compile("SSL|certificate", re.I))


if __name__ == "__main__":
    unittest.main(verbosity=2)
