"""test_mwrs_e2e.py - ManifestWorkReplicaSet and Placement end to end: the real
nave-hub, nave-klusterlets and nave-kubesim (tests/e2e/test_e2e.py's World),
objects checked with /usr/bin/kubectl on the spokes.

Run one test: test_mwrs_e2e.py MwrsE2E.test_NAME (meson runs each as its own test).
Environment: as test_e2e.py, plus NAVE_TEST_DATA (the example files are read
from ../shared/examples/ocm next to the checkout, else /work/shared/examples/ocm).
"""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import test_e2e  # noqa: E402
from test_e2e import KUBECTL, conds, wait_for  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "..", "..", "shared", "examples", "ocm")
if not os.path.isdir(EXAMPLES):
    EXAMPLES = "/work/shared/examples/ocm"


def placement_all(name, ns):
    return {"apiVersion": "cluster.open-cluster-management.io/v1beta1", "kind": "Placement",
            "metadata": {"name": name, "namespace": ns}, "spec": {}}


def binding_global(ns):
    return {"apiVersion": "cluster.open-cluster-management.io/v1beta2", "kind": "ManagedClusterSetBinding",
            "metadata": {"name": "global", "namespace": ns}, "spec": {"clusterSet": "global"}}


class MwrsE2E(test_e2e.E2E):
    def hub_kubectl(self, *args, input=None, check=True):
        w = self.world
        env = dict(os.environ, HOME=w.home)
        env.pop("KUBECONFIG", None)
        r = subprocess.run([KUBECTL, "--kubeconfig", os.path.join(w.data, "admin.kubeconfig")] + list(args),
                           input=input, capture_output=True, text=True, timeout=60, env=env)
        if check and r.returncode != 0:
            raise AssertionError("kubectl %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return r

    def hub_apply(self, obj):
        return self.hub_kubectl("apply", "-f", "-", input=json.dumps(obj))

    def mwrs(self, name, ns):
        r = self.hub_kubectl("get", "mwrs", name, "-n", ns, "-o", "json", check=False)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def test_cronjob_example_three_clusters(self):
        """ocm-mwrs-cronjob-rollout-all.yaml, unchanged, with a Placement of every cluster: the
        CronJob lands on the three spokes at once (rolloutStrategy All)."""
        w = self.make(3)
        self.hub_kubectl("apply", "-f", os.path.join(EXAMPLES, "ocm-mwrs-cronjob-rollout-all.yaml"))
        self.hub_apply(binding_global("ocm-ns"))
        self.hub_apply(placement_all("placement-rollout-all", "ocm-ns"))
        for c in w.names:
            self.wait_work(w, c, "mwrset-cronjob", "Applied", timeout=90)
        for c in w.names:
            cj = wait_for(lambda: w.spoke_get(c, "cronjob", "sync-cronjob", "ocm-ns"), 60, "cronjob on " + c)
            self.assertEqual(cj["spec"]["schedule"], "* * * * *")
            self.assertIsNotNone(w.spoke_get(c, "namespace", "ocm-ns", None))
            r = w.kubectl(c, "get", "cronjobs", "-n", "ocm-ns", "-o", "name")
            self.assertIn("cronjob.batch/sync-cronjob", r.stdout)

        def summary():
            m = self.mwrs("mwrset-cronjob", "ocm-ns") or {}
            s = (m.get("status") or {}).get("summary") or {}
            return s if s.get("applied") == 3 and s.get("desiredTotal") == 3 else None
        wait_for(summary, 60, "summary of 3 applied works")
        m = self.mwrs("mwrset-cronjob", "ocm-ns")
        self.assertEqual(conds(m)["PlacementVerified"]["status"], "True")
        # kubectl's table for the set
        r = self.hub_kubectl("get", "mwrs", "-n", "ocm-ns")
        self.assertIn("mwrset-cronjob", r.stdout)
        # deleting the set removes the objects from the spokes (Foreground deletion of each work;
        # the orphaning rule names "Namespace", a kind, so it matches nothing, as in OCM)
        self.hub_kubectl("delete", "mwrs", "mwrset-cronjob", "-n", "ocm-ns")
        for c in w.names:
            wait_for(lambda: w.spoke_get(c, "cronjob", "sync-cronjob", "ocm-ns") is None, 60,
                     "cronjob gone from " + c)
            wait_for(lambda: w.hub_get("manifestwork", "mwrset-cronjob", c) is None, 60, "work gone on " + c)

    def test_progressive_one_at_a_time(self):
        """Progressive with maxConcurrency 1 over three real clusters: each cluster is released only
        after the previous one's work was Available with a fresh status."""
        w = self.make(3)
        ns = "default"
        self.hub_apply(binding_global(ns))
        self.hub_apply(placement_all("all", ns))
        self.hub_apply({
            "apiVersion": "work.open-cluster-management.io/v1alpha1", "kind": "ManifestWorkReplicaSet",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"placementRefs": [{"name": "all", "rolloutStrategy": {
                "type": "Progressive", "progressive": {"maxConcurrency": 1}}}],
                "manifestWorkTemplate": {"workload": {"manifests": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web", "namespace": "default"},
                     "data": {"v": "1"}}]}}}})

        def done():
            m = self.mwrs("web", ns) or {}
            ro = ((m.get("status") or {}).get("rollout") or [{}])[0]
            return ro if ro.get("phase") == "Succeeded" else None
        ro = wait_for(done, 120, "the wave succeeded")
        cl = sorted(ro["clusters"], key=lambda c: c["releasedAtMs"])
        for a, b in zip(cl, cl[1:]):
            self.assertGreaterEqual(b["releasedAtMs"], a["doneSinceMs"],
                                    "%s released before %s was done: %s" % (b["name"], a["name"], cl))
        for c in w.names:
            cm = w.spoke_get(c, "configmap", "web")
            self.assertEqual(cm["data"]["v"], "1")


# E2E's own tests are not this file's: only the fixtures (setUp, tearDown, make) are inherited.
for _n in dir(test_e2e.E2E):
    if _n.startswith("test_") and _n not in MwrsE2E.__dict__:
        setattr(MwrsE2E, _n, None)

if __name__ == "__main__":
    unittest.main()
