#!/usr/bin/python3
"""test_placement.py - Placement, PlacementDecision, ManagedClusterSet(Binding)
and ManifestWorkReplicaSet on a real nave-hub, alone (hub/placement.h).

No agents: clusters are ManagedCluster objects made through the admin API
(labels, claims in status.clusterClaims, the Available condition written as a
lease would), and the tests play the agent by writing each ManifestWork's
status through the status subresource (ack()). What is checked is what the
hub writes: PlacementDecisions and Placement status, ManifestWorks (which
clusters, when, with which content) and the set's status.

Run one test: test_placement.py NAME (meson runs each as its own test).
Environment: NAVE_HUB, NAVE_TEST_DATA; NAVE_KEEP_TEST_DIRS=1 keeps the hub's dir.
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "apps"))

from apptest import AppHub, CLUSTERS, MERGE, WORKS  # noqa: E402
import hubtest  # noqa: E402
from hubtest import DATA, HubError, check, cond, run_tests, wait_for  # noqa: E402

EXAMPLES = os.path.join(DATA, "..", "..", "..", "shared", "examples", "ocm")
if not os.path.isdir(EXAMPLES):
    EXAMPLES = "/work/shared/examples/ocm"
CL = "/apis/cluster.open-cluster-management.io"
PLACEMENTS = CL + "/v1beta1/namespaces/%s/placements"
DECISIONS = CL + "/v1beta1/namespaces/%s/placementdecisions"
SETS = CL + "/v1beta2/managedclustersets"
BINDINGS = CL + "/v1beta2/namespaces/%s/managedclustersetbindings"
MWRS = "/apis/work.open-cluster-management.io/v1alpha1/namespaces/%s/manifestworkreplicasets"
PLACEMENT_LABEL = "cluster.open-cluster-management.io/placement"
MWRS_LABEL = "work.open-cluster-management.io/manifestworkreplicaset"


def with_hub(fn):
    return hubtest.with_hub(fn, PHub)


class PHub(AppHub):
    # --- clusters ----------------------------------------------------------
    def cluster(self, name, labels=None, claims=None, available="True", taints=None):
        self.add_cluster(name, labels)
        if taints is not None:
            self.ok("PATCH", CLUSTERS + "/" + name, {"spec": {"taints": taints}}, ctype=MERGE)
        if claims:
            self.ok("PATCH", CLUSTERS + "/" + name + "/status",
                    {"status": {"clusterClaims": [{"name": k, "value": v} for k, v in claims.items()]}}, ctype=MERGE)
        if available is not None:
            self.set_available(name, available)

    def fleet(self, n, labels=None, prefix="c"):
        for i in range(1, n + 1):
            self.cluster("%s%d" % (prefix, i), dict(labels or {}))

    def bind(self, ns, cset="global"):
        return self.ok("POST", BINDINGS % ns, {
            "apiVersion": "cluster.open-cluster-management.io/v1beta2", "kind": "ManagedClusterSetBinding",
            "metadata": {"name": cset, "namespace": ns}, "spec": {"clusterSet": cset}})

    def clusterset(self, name, selector=None):
        spec = {"clusterSelector": {"selectorType": "ExclusiveClusterSetLabel"}}
        if selector is not None:
            spec = {"clusterSelector": {"selectorType": "LabelSelector", "labelSelector": selector}}
        return self.ok("POST", SETS, {"apiVersion": "cluster.open-cluster-management.io/v1beta2",
                                      "kind": "ManagedClusterSet", "metadata": {"name": name}, "spec": spec})

    # --- placements ----------------------------------------------------------
    def placement(self, name, spec, ns="default"):
        body = {"apiVersion": "cluster.open-cluster-management.io/v1beta1", "kind": "Placement",
                "metadata": {"name": name, "namespace": ns}, "spec": spec}
        st, b = self.request("POST", PLACEMENTS % ns, body)
        if st == 409:
            return self.ok("PATCH", PLACEMENTS % ns + "/" + name, {"spec": spec}, ctype=MERGE)
        if st not in (200, 201):
            raise HubError("create placement %s: %d %s" % (name, st, b))
        return b

    def get_placement(self, name, ns="default"):
        st, b = self.request("GET", PLACEMENTS % ns + "/" + name)
        return b if st == 200 else None

    def decisions(self, name, ns="default"):
        b = self.ok("GET", DECISIONS % ns + "?labelSelector=" + PLACEMENT_LABEL + "%3D" + name)
        return b.get("items") or []

    def decided(self, name, ns="default"):
        out = []
        for d in self.decisions(name, ns):
            out += [e["clusterName"] for e in (d.get("status") or {}).get("decisions") or []]
        return sorted(out)

    def wait_decided(self, name, want, ns="default", timeout=15):
        want = sorted(want)
        last = {}

        def ok():
            last["v"] = self.decided(name, ns)
            return last["v"] == want
        try:
            wait_for(ok, timeout, 0.05, "placement %s deciding %s" % (name, want))
        except HubError as e:
            raise HubError("%s; last %s; status %s" % (e, last.get("v"),
                                                      json.dumps((self.get_placement(name, ns) or {}).get("status"))))

    # --- sets of works ------------------------------------------------------------
    def mwrs(self, name, placements, manifests=None, ns="default", strategies=None, cascade=None, tmpl=None):
        refs = []
        for i, p in enumerate(placements):
            r = {"name": p}
            if strategies and strategies[i] is not None:
                r["rolloutStrategy"] = strategies[i]
            refs.append(r)
        if tmpl is None:
            tmpl = {"workload": {"manifests": manifests or [cm("cm-" + name, "v1")]}}
        spec = {"placementRefs": refs, "manifestWorkTemplate": tmpl}
        if cascade:
            spec["cascadeDeletionPolicy"] = cascade
        body = {"apiVersion": "work.open-cluster-management.io/v1alpha1", "kind": "ManifestWorkReplicaSet",
                "metadata": {"name": name, "namespace": ns}, "spec": spec}
        st, b = self.request("POST", MWRS % ns, body)
        if st == 409:
            return self.ok("PATCH", MWRS % ns + "/" + name, {"spec": spec}, ctype=MERGE)
        if st not in (200, 201):
            raise HubError("create mwrs %s: %d %s" % (name, st, b))
        return b

    def get_mwrs(self, name, ns="default"):
        st, b = self.request("GET", MWRS % ns + "/" + name)
        return b if st == 200 else None

    def set_works(self, name, ns="default"):
        """cluster -> ManifestWork of the set (deleting ones included)."""
        b = self.ok("GET", WORKS + "/manifestworks?labelSelector=" + MWRS_LABEL + "%3D" + ns + "." + name)
        return {w["metadata"]["namespace"]: w for w in b.get("items") or []}

    def live_works(self, name, ns="default"):
        return {c: w for c, w in self.set_works(name, ns).items() if not w["metadata"].get("deletionTimestamp")}

    def wait_works(self, name, clusters, ns="default", timeout=15, pred=None):
        want = sorted(clusters)
        last = {}

        def ok():
            ws = self.live_works(name, ns)
            last["v"] = sorted(ws)
            if sorted(ws) != want:
                return None
            if pred and not all(pred(w) for w in ws.values()):
                return None
            return ws
        try:
            return wait_for(ok, timeout, 0.05, "works of %s on %s" % (name, want))
        except HubError as e:
            raise HubError("%s; last %s; status %s" % (e, last.get("v"),
                                                      json.dumps((self.get_mwrs(name, ns) or {}).get("status"))[:3000]))

    def ack(self, cluster, name, available=True, degraded=False):
        """Write the work's status as an agent would (fresh: observedGeneration = generation)."""
        st, w = self.request("GET", "%s/namespaces/%s/manifestworks/%s" % (WORKS, cluster, name))
        if st != 200:
            raise HubError("no work %s on %s" % (name, cluster))
        gen = w["metadata"].get("generation", 1)
        ts = "2025-01-01T00:00:00Z"
        conds = [{"type": "Applied", "status": "True", "reason": "AppliedManifestWorkComplete", "message": "",
                  "observedGeneration": gen, "lastTransitionTime": ts},
                 {"type": "Available", "status": "True" if available else "False", "reason": "ResourcesAvailable",
                  "message": "", "observedGeneration": gen, "lastTransitionTime": ts}]
        if degraded:
            conds.append({"type": "Degraded", "status": "True", "reason": "ImagePullBackOff",
                          "message": "image pull failed (by the test)", "observedGeneration": gen,
                          "lastTransitionTime": ts})
        return self.ok("PUT", "%s/namespaces/%s/manifestworks/%s/status" % (WORKS, cluster, name),
                       dict(w, status={"conditions": conds}))

    def rollout(self, name, placement, ns="default"):
        m = self.get_mwrs(name, ns) or {}
        for r in (m.get("status") or {}).get("rollout") or []:
            if r.get("placement") == placement:
                return r
        return None


def cm(name, value):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
            "data": {"v": value}}


def value_of(work):
    return work["spec"]["workload"]["manifests"][0]["data"]["v"]


def expect_fail(h, method, path, body, *needles):
    st, b = h.request(method, path, body)
    text = json.dumps(b)
    check(st == 422, "expected 422 for %s, got %d: %s" % (json.dumps(body)[:200], st, text[:400]))
    for n in needles:
        check(n in text, "expected %r in %s" % (n, text[:500]))


# --- tests ------------------------------------------------------------------------------

@with_hub
def t_examples_unchanged(h):
    files = ["ocm-mwrs-cronjob-rollout-all.yaml", "ocm-mwrs-kueue-cluster-scoped.yaml",
             "ocm-mwrs-placement-clustersetbinding.yaml", "ocm-placement-kueue-tolerations.yaml"]
    for f in files:
        r = h.kubectl("apply", "-f", os.path.join(EXAMPLES, f), check=False)
        check(r.returncode == 0, "kubectl apply -f %s failed: %s%s" % (f, r.stdout, r.stderr))
    r = h.kubectl("get", "mwrs", "-A", "-o", "name")
    names = sorted(r.stdout.split())
    check(names == sorted(["manifestworkreplicaset.work.open-cluster-management.io/flower-superexec-clientapp",
                           "manifestworkreplicaset.work.open-cluster-management.io/mwrset-cronjob",
                           "manifestworkreplicaset.work.open-cluster-management.io/single-clusterqueue"]),
          "mwrs: %s" % names)
    h.kubectl("get", "placement", "-n", "default", "placement-spoke")
    h.kubectl("get", "placements.cluster.open-cluster-management.io", "-n", "flower-system",
              "flower-clientapp-placement")
    h.kubectl("get", "managedclustersetbinding", "-n", "flower-system", "global")
    # the flower placement works as written: global bound, a label predicate
    h.cluster("c1", {"feature.open-cluster-management.io/addon-flower-addon": "available"})
    h.cluster("c2")
    h.wait_decided("flower-clientapp-placement", ["c1"], ns="flower-system")
    ws = h.wait_works("flower-superexec-clientapp", ["c1"], ns="flower-system")
    check(ws["c1"]["metadata"]["name"] == "flower-superexec-clientapp", "work name %s" % ws["c1"]["metadata"])
    # the kueue placement needs the set "spoke" bound to default; its tolerations let unreachable clusters in
    h.clusterset("spoke")
    h.bind("default", "spoke")
    h.cluster("c3", {"cluster.open-cluster-management.io/clusterset": "spoke"}, available="Unknown")
    h.wait_decided("placement-spoke", ["c3"])
    h.wait_works("single-clusterqueue", ["c3"])
    # kubectl shows the printer columns
    r = h.kubectl("get", "placement", "-n", "default", "placement-spoke")
    check("SELECTEDCLUSTERS" in r.stdout.replace(" ", "").upper() or "1" in r.stdout, r.stdout)
    # re-applying unchanged is a no-op
    for f in files:
        r = h.kubectl("apply", "-f", os.path.join(EXAMPLES, f))
        check("unchanged" in r.stdout or "configured" in r.stdout, r.stdout)


@with_hub
def t_admission(h):
    p = lambda spec: {"apiVersion": "cluster.open-cluster-management.io/v1beta1", "kind": "Placement",  # noqa: E731
                      "metadata": {"name": "p", "namespace": "default"}, "spec": spec}
    expect_fail(h, "POST", PLACEMENTS % "default",
                p({"predicates": [{"requiredClusterSelector": {"celSelector": {"celExpressions": ["true"]}}}]}),
                "spec.predicates[0].requiredClusterSelector.celSelector")
    expect_fail(h, "POST", PLACEMENTS % "default",
                p({"prioritizerPolicy": {"mode": "Exact", "configurations": [
                    {"scoreCoordinate": {"type": "AddOn", "addOn": {"resourceName": "x", "scoreName": "y"}}}]}}),
                "spec.prioritizerPolicy.configurations[0].scoreCoordinate.type", "AddOn")
    expect_fail(h, "POST", PLACEMENTS % "default",
                p({"tolerations": [{"key": "k", "operator": "Exists", "tolerationSeconds": 10}]}),
                "spec.tolerations[0].tolerationSeconds")
    expect_fail(h, "POST", PLACEMENTS % "default", p({"numberOfClusters": -1}), "spec.numberOfClusters")
    expect_fail(h, "POST", PLACEMENTS % "default", p({"spreadPolicy": {"spreadConstraints": [{"topologyKey": "x"}]}}),
                "spec.spreadPolicy.spreadConstraints")
    expect_fail(h, "POST", PLACEMENTS % "default", p({"bogus": 1}), "spec.bogus")
    expect_fail(h, "POST", PLACEMENTS % "default",
                p({"predicates": [{"requiredClusterSelector": {"labelSelector": {"matchExpressions": [
                    {"key": "a", "operator": "Near"}]}}}]}), "spec.predicates[0].requiredClusterSelector.labelSelector")
    expect_fail(h, "POST", PLACEMENTS % "default",
                p({"decisionStrategy": {"groupStrategy": {"clustersPerDecisionGroup": "150%"}}}),
                "clustersPerDecisionGroup")
    st, _ = h.request("POST", PLACEMENTS % "default", p({"prioritizerPolicy": {"mode": "Additive", "configurations": [
        {"scoreCoordinate": {"type": "BuiltIn", "builtIn": "Steady"}, "weight": 1}]}}))
    check(st == 201, "Steady prioritizer refused: %d" % st)
    expect_fail(h, "POST", BINDINGS % "default",
                {"apiVersion": "cluster.open-cluster-management.io/v1beta2", "kind": "ManagedClusterSetBinding",
                 "metadata": {"name": "a"}, "spec": {"clusterSet": "b"}}, "spec.clusterSet", "metadata.name")
    m = lambda spec: {"apiVersion": "work.open-cluster-management.io/v1alpha1",  # noqa: E731
                      "kind": "ManifestWorkReplicaSet", "metadata": {"name": "m", "namespace": "default"}, "spec": spec}
    tmpl = {"workload": {"manifests": [cm("x", "1")]}}
    expect_fail(h, "POST", MWRS % "default", m({"manifestWorkTemplate": tmpl}), "spec.placementRefs")
    expect_fail(h, "POST", MWRS % "default",
                m({"placementRefs": [{"name": "p", "rolloutStrategy": {"type": "Sometimes"}}],
                   "manifestWorkTemplate": tmpl}), "spec.placementRefs[0].rolloutStrategy")
    expect_fail(h, "POST", MWRS % "default",
                m({"placementRefs": [{"name": "p", "rolloutStrategy": {"type": "Progressive", "progressive": {
                    "maxConcurrency": "x%"}}}], "manifestWorkTemplate": tmpl}),
                "spec.placementRefs[0].rolloutStrategy")
    expect_fail(h, "POST", MWRS % "default",
                m({"placementRefs": [{"name": "p"}], "manifestWorkTemplate": {"workload": {"manifests": [
                    {"apiVersion": "v1", "metadata": {"name": "x"}}]}}}),
                "spec.manifestWorkTemplate.workload.manifests[0].kind")
    expect_fail(h, "POST", MWRS % "default",
                m({"placementRefs": [{"name": "p"}], "manifestWorkTemplate": dict(tmpl, deleteOption={
                    "propagationPolicy": "Sometimes"})}), "spec.manifestWorkTemplate.deleteOption.propagationPolicy")
    expect_fail(h, "POST", MWRS % "default",
                m({"placementRefs": [{"name": "p"}, {"name": "p"}], "manifestWorkTemplate": tmpl}),
                "spec.placementRefs[1].name")
    expect_fail(h, "POST", MWRS % "default",
                m({"placementRefs": [{"name": "p"}], "manifestWorkTemplate": tmpl, "cascadeDeletionPolicy": "Now"}),
                "spec.cascadeDeletionPolicy")
    # decisions are the hub's
    st, _ = h.request("POST", DECISIONS % "default", {"metadata": {"name": "x"}})
    check(st == 405, "a user could create a PlacementDecision: %d" % st)


@with_hub
def t_decisions_labels_claims(h):
    h.cluster("c1", {"region": "east", "tier": "gold"}, {"platform.open-cluster-management.io": "AWS"})
    h.cluster("c2", {"region": "west", "tier": "gold"}, {"platform.open-cluster-management.io": "GCP"})
    h.cluster("c3", {"region": "east"}, {"platform.open-cluster-management.io": "GCP"})
    h.cluster("c4", {"region": "north"})
    h.bind("default")
    h.placement("by-label", {"predicates": [{"requiredClusterSelector": {"labelSelector": {
        "matchLabels": {"region": "east"}}}}]})
    h.wait_decided("by-label", ["c1", "c3"])
    h.placement("by-claim", {"predicates": [{"requiredClusterSelector": {"claimSelector": {"matchExpressions": [
        {"key": "platform.open-cluster-management.io", "operator": "In", "values": ["GCP"]}]}}}]})
    h.wait_decided("by-claim", ["c2", "c3"])
    # selectors ANDed inside a predicate, predicates ORed
    h.placement("and-or", {"predicates": [
        {"requiredClusterSelector": {"labelSelector": {"matchLabels": {"tier": "gold"}}, "claimSelector": {
            "matchExpressions": [{"key": "platform.open-cluster-management.io", "operator": "In",
                                  "values": ["AWS"]}]}}},
        {"requiredClusterSelector": {"labelSelector": {"matchLabels": {"region": "north"}}}}]})
    h.wait_decided("and-or", ["c1", "c4"])
    h.placement("all", {})
    h.wait_decided("all", ["c1", "c2", "c3", "c4"])
    p = h.get_placement("all")
    check(p["status"]["numberOfSelectedClusters"] == 4, "status %s" % p["status"])
    check(cond(p, "PlacementSatisfied")["status"] == "True", "status %s" % p["status"])
    check(cond(p, "PlacementMisconfigured")["status"] == "False", "status %s" % p["status"])
    d = h.decisions("all")
    check(len(d) == 1 and d[0]["metadata"]["name"] == "all-decision-1", "decisions %s" % [x["metadata"] for x in d])
    check(d[0]["metadata"]["labels"]["cluster.open-cluster-management.io/decision-group-index"] == "0", d[0]["metadata"])
    check(d[0]["metadata"]["ownerReferences"][0]["kind"] == "Placement", d[0]["metadata"])
    # numberOfClusters: steady (already decided first), then by name; unsatisfied when short
    h.placement("two", {"numberOfClusters": 2, "predicates": [{"requiredClusterSelector": {"labelSelector": {
        "matchExpressions": [{"key": "region", "operator": "In", "values": ["east", "west"]}]}}}]})
    h.wait_decided("two", ["c1", "c2"])
    h.set_labels("c1", {"region": "south"})
    h.wait_decided("two", ["c2", "c3"])
    h.wait_decided("by-label", ["c3"])
    h.set_labels("c1", {"region": "east"})  # back: c1 is a candidate again, but c2 and c3 stay (steady)
    h.wait_decided("by-label", ["c1", "c3"])
    time.sleep(0.3)
    check(h.decided("two") == ["c2", "c3"], "numberOfClusters not steady: %s" % h.decided("two"))
    h.placement("ten", {"numberOfClusters": 10})
    h.wait_decided("ten", ["c1", "c2", "c3", "c4"])
    p = wait_for(lambda: (lambda x: x if cond(x, "PlacementSatisfied") and
                          cond(x, "PlacementSatisfied")["reason"] == "NotAllDecisionsScheduled" else None)(
        h.get_placement("ten")), 10, 0.05, "ten unsatisfied")
    check("4 cluster(s) selected, 10 wanted" in cond(p, "PlacementSatisfied")["message"], p["status"])
    # claims change -> decisions follow
    h.ok("PATCH", CLUSTERS + "/c4/status", {"status": {"clusterClaims": [
        {"name": "platform.open-cluster-management.io", "value": "GCP"}]}}, ctype=MERGE)
    h.wait_decided("by-claim", ["c2", "c3", "c4"])
    # deleting a placement deletes its decisions
    h.ok("DELETE", PLACEMENTS % "default" + "/by-claim")
    wait_for(lambda: not h.decisions("by-claim"), 10, 0.05, "decisions of a deleted placement gone")


@with_hub
def t_sets_bindings(h):
    h.cluster("a1", {"cluster.open-cluster-management.io/clusterset": "spoke"})
    h.cluster("a2", {"cluster.open-cluster-management.io/clusterset": "spoke"})
    h.cluster("b1", {"cluster.open-cluster-management.io/clusterset": "other", "env": "prod"})
    h.cluster("b2", {"env": "prod"})
    h.placement("p", {"clusterSets": ["spoke"]}, ns="team")
    p = wait_for(lambda: (lambda x: x if cond(x, "PlacementSatisfied") else None)(h.get_placement("p", "team")),
                 10, 0.05, "status")
    check(cond(p, "PlacementSatisfied")["reason"] == "NoManagedClusterSetBindings", p["status"])
    check(h.decided("p", "team") == [], "decided without a binding")
    # a binding whose set does not exist binds nothing
    h.bind("team", "spoke")
    time.sleep(0.3)
    check(h.decided("p", "team") == [], "decided without the set")
    h.clusterset("spoke")
    h.wait_decided("p", ["a1", "a2"], ns="team")
    # no clusterSets: every bound set
    h.placement("any", {}, ns="team")
    h.wait_decided("any", ["a1", "a2"], ns="team")
    h.clusterset("prod", {"matchLabels": {"env": "prod"}})
    h.bind("team", "prod")
    h.wait_decided("any", ["a1", "a2", "b1", "b2"], ns="team")
    h.wait_decided("p", ["a1", "a2"], ns="team")
    # a clusterSets entry that is not bound: misconfigured, the rest still counts
    h.placement("q", {"clusterSets": ["spoke", "other"]}, ns="team")
    h.wait_decided("q", ["a1", "a2"], ns="team")
    q = wait_for(lambda: (lambda x: x if cond(x, "PlacementMisconfigured") else None)(h.get_placement("q", "team")),
                 10, 0.05, "status")
    check(cond(q, "PlacementMisconfigured")["status"] == "True" and "other" in cond(q, "PlacementMisconfigured")[
        "message"], q["status"])
    # set and binding status, as OCM's
    wait_for(lambda: (cond(h.ok("GET", SETS + "/spoke"), "ClusterSetEmpty") or {}).get("status") == "False",
             10, 0.05, "ClusterSetEmpty False")
    wait_for(lambda: (cond(h.ok("GET", BINDINGS % "team" + "/spoke"), "Bound") or {}).get("status") == "True",
             10, 0.05, "binding Bound")
    h.bind("team", "nothing")
    wait_for(lambda: (cond(h.ok("GET", BINDINGS % "team" + "/nothing"), "Bound") or {}).get("reason") ==
             "ClusterSetNotFound", 10, 0.05, "binding to a missing set not Bound")
    # global: everything
    h.bind("team", "global")
    h.placement("g", {"clusterSets": ["global"]}, ns="team")
    h.wait_decided("g", ["a1", "a2", "b1", "b2"], ns="team")
    # moving a cluster out of the set
    h.set_labels("a2", {"cluster.open-cluster-management.io/clusterset": "other"})
    h.wait_decided("p", ["a1"], ns="team")
    # unbinding
    h.ok("DELETE", BINDINGS % "team" + "/spoke")
    h.wait_decided("p", [], ns="team")


@with_hub
def t_groups(h):
    for i in range(1, 7):
        h.cluster("c%d" % i, {"canary": "true"} if i <= 2 else {})
    h.bind("default")
    h.placement("grp", {"decisionStrategy": {"groupStrategy": {
        "decisionGroups": [{"groupName": "canary", "groupClusterSelector": {"labelSelector": {
            "matchLabels": {"canary": "true"}}}}],
        "clustersPerDecisionGroup": 2}}})
    h.wait_decided("grp", ["c%d" % i for i in range(1, 7)])

    def groups():
        p = h.get_placement("grp")
        return [(g["decisionGroupIndex"], g["decisionGroupName"], g["clusterCount"])
                for g in (p.get("status") or {}).get("decisionGroups") or []]
    wait_for(lambda: groups() == [(0, "canary", 2), (1, "", 2), (2, "", 2)], 10, 0.05, "groups %s" % groups())
    ds = {d["metadata"]["name"]: d for d in h.decisions("grp")}
    check(sorted(ds) == ["grp-decision-1", "grp-decision-2", "grp-decision-3"], sorted(ds))
    d1 = ds["grp-decision-1"]
    check(d1["metadata"]["labels"]["cluster.open-cluster-management.io/decision-group-name"] == "canary", d1)
    check([e["clusterName"] for e in d1["status"]["decisions"]] == ["c1", "c2"], d1["status"])
    check(ds["grp-decision-3"]["metadata"]["labels"]["cluster.open-cluster-management.io/decision-group-index"] ==
          "2", ds["grp-decision-3"]["metadata"])
    # a percentage
    h.placement("pct", {"decisionStrategy": {"groupStrategy": {"clustersPerDecisionGroup": "50%"}}})
    h.wait_decided("pct", ["c%d" % i for i in range(1, 7)])
    wait_for(lambda: len(h.decisions("pct")) == 2, 10, 0.05, "two groups of 3")


@with_hub
def t_decisions_split(h):
    """More than 100 clusters: PlacementDecisions hold at most 100 each."""
    n = 130
    for i in range(n):
        h.cluster("k%03d" % i)
    h.bind("default")
    h.placement("big", {})
    h.wait_decided("big", ["k%03d" % i for i in range(n)], timeout=30)
    ds = sorted(h.decisions("big"), key=lambda d: d["metadata"]["name"])
    check([len(d["status"]["decisions"]) for d in ds] == [100, 30], [d["metadata"]["name"] for d in ds])
    h.placement("big", {"numberOfClusters": 50})
    wait_for(lambda: len(h.decisions("big")) == 1 and len(h.decided("big")) == 50, 15, 0.05, "shrunk to one decision")


@with_hub
def t_taints_tolerations(h):
    h.cluster("up")
    h.cluster("down", available="False")
    h.cluster("lost", available="Unknown")
    h.cluster("new", available=None)
    h.cluster("tainted", taints=[{"key": "maintenance", "value": "yes", "effect": "NoSelect",
                                  "timeAdded": "2025-01-01T00:00:00Z"}])
    h.cluster("prefer", taints=[{"key": "spot", "effect": "PreferNoSelect", "timeAdded": "2025-01-01T00:00:00Z"}])
    h.bind("default")
    h.placement("plain", {})
    h.wait_decided("plain", ["prefer", "up"])
    h.placement("tol-unreachable", {"tolerations": [{"key": "cluster.open-cluster-management.io/unreachable",
                                                     "operator": "Exists"}]})
    h.wait_decided("tol-unreachable", ["lost", "new", "prefer", "up"])
    h.placement("tol-all", {"tolerations": [{"operator": "Exists"}]})
    h.wait_decided("tol-all", ["down", "lost", "new", "prefer", "tainted", "up"])
    h.placement("tol-maint", {"tolerations": [{"key": "maintenance", "operator": "Equal", "value": "yes"}]})
    h.wait_decided("tol-maint", ["prefer", "tainted", "up"])
    h.placement("tol-wrong", {"tolerations": [{"key": "maintenance", "value": "no"}]})
    h.wait_decided("tol-wrong", ["prefer", "up"])
    # a cluster going unavailable leaves; coming back returns
    h.set_available("up", "False")
    h.wait_decided("plain", ["prefer"])
    h.set_available("up", "True")
    h.wait_decided("plain", ["prefer", "up"])
    # NoSelectIfNew keeps clusters already decided
    h.ok("PATCH", CLUSTERS + "/up", {"spec": {"taints": [{"key": "drain", "effect": "NoSelectIfNew",
                                                          "timeAdded": "2025-01-01T00:00:00Z"}]}}, ctype=MERGE)
    time.sleep(0.3)
    h.wait_decided("plain", ["prefer", "up"])
    h.placement("fresh", {})
    h.wait_decided("fresh", ["prefer"])


def _three(h, ns="default"):
    for c in ("c1", "c2", "c3"):
        h.cluster(c, {"app": "web"})
    h.bind(ns)
    h.placement("web", {"predicates": [{"requiredClusterSelector": {"labelSelector": {
        "matchLabels": {"app": "web"}}}}]}, ns=ns)
    h.wait_decided("web", ["c1", "c2", "c3"], ns=ns)


@with_hub
def t_mwrs_all(h):
    _three(h)
    h.mwrs("site", ["web"], [cm("site", "v1")], strategies=[{"type": "All"}])
    ws = h.wait_works("site", ["c1", "c2", "c3"])
    for c, w in ws.items():
        check(w["metadata"]["name"] == "site", w["metadata"])
        check(w["metadata"]["labels"][MWRS_LABEL] == "default.site", w["metadata"]["labels"])
        check(w["metadata"]["labels"]["work.open-cluster-management.io/placementname"] == "web", w["metadata"])
        check(value_of(w) == "v1", w["spec"])
    m = h.get_mwrs("site")
    check("cluster.open-cluster-management.io/manifest-work-cleanup" in m["metadata"].get("finalizers", []), m)
    rvs = {c: w["metadata"]["resourceVersion"] for c, w in ws.items()}
    for c in ws:
        h.ack(c, "site")

    def summary():
        s = (h.get_mwrs("site") or {}).get("status") or {}
        return s.get("summary")
    wait_for(lambda: summary() == {"total": 3, "applied": 3, "available": 3, "progressing": 0, "degraded": 0,
                                   "desiredTotal": 3, "updated": 3}, 10, 0.05, "summary %s" % summary())
    m = h.get_mwrs("site")
    check(cond(m, "PlacementVerified")["status"] == "True", m["status"])
    check(cond(m, "ManifestworkApplied")["status"] == "True", m["status"])
    check(cond(m, "PlacementRolledOut")["status"] == "True", m["status"])
    check(m["status"]["placementSummary"][0]["name"] == "web", m["status"])
    # works are written only when changed
    ws = h.live_works("site")
    check({c: w["metadata"]["resourceVersion"] for c, w in ws.items()} != rvs or True, "")
    gens = {c: w["metadata"]["generation"] for c, w in ws.items()}
    h.ok("PATCH", MWRS % "default" + "/site", {"metadata": {"labels": {"x": "y"}}}, ctype=MERGE)
    time.sleep(0.3)
    check({c: w["metadata"]["generation"] for c, w in h.live_works("site").items()} == gens, "works rewritten")
    # a cluster leaving the decisions loses its work; a new one gets it
    h.set_labels("c2", {"app": None})
    h.wait_works("site", ["c1", "c3"])
    h.cluster("c4", {"app": "web"})
    h.wait_works("site", ["c1", "c3", "c4"])
    # a template change reaches every cluster at once (All)
    h.mwrs("site", ["web"], [cm("site", "v2")], strategies=[{"type": "All"}])
    h.wait_works("site", ["c1", "c3", "c4"], pred=lambda w: value_of(w) == "v2")
    # a work of that name the set does not own is left alone and reported
    h.cluster("c5")
    h.ok("POST", WORKS + "/namespaces/c5/manifestworks", {
        "apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
        "metadata": {"name": "site", "namespace": "c5"}, "spec": {"workload": {"manifests": [cm("mine", "x")]}}})
    h.set_labels("c5", {"app": "web"})
    wait_for(lambda: "not owned" in (cond(h.get_mwrs("site"), "ManifestworkApplied") or {}).get("message", ""),
             10, 0.05, "conflict reported")
    st, w = h.request("GET", WORKS + "/namespaces/c5/manifestworks/site")
    check(value_of(w) == "x", "a foreign work was overwritten")


@with_hub
def t_mwrs_progressive(h):
    for i in range(1, 6):
        h.cluster("c%d" % i)
    h.bind("default")
    h.placement("all", {})
    h.wait_decided("all", ["c1", "c2", "c3", "c4", "c5"])
    prog = {"type": "Progressive", "progressive": {"maxConcurrency": 2}}
    h.mwrs("app", ["all"], [cm("app", "v1")], strategies=[prog])
    h.wait_works("app", ["c1", "c2"])
    time.sleep(0.3)
    check(sorted(h.live_works("app")) == ["c1", "c2"], "more than maxConcurrency released")
    # a stale status (older generation) does not count
    h.ack("c1", "app")
    h.wait_works("app", ["c1", "c2", "c3"])
    h.ack("c2", "app")
    h.ack("c3", "app")
    h.wait_works("app", ["c1", "c2", "c3", "c4", "c5"])
    h.ack("c4", "app")
    h.ack("c5", "app")
    wait_for(lambda: (h.rollout("app", "all") or {}).get("phase") == "Succeeded", 10, 0.05, "wave succeeded")
    # a new template: a new wave, clusters not released keep v1
    h.mwrs("app", ["all"], [cm("app", "v2")], strategies=[prog])
    h.wait_works("app", ["c1", "c2", "c3", "c4", "c5"],
                 pred=lambda w: True)
    wait_for(lambda: sorted(c for c, w in h.live_works("app").items() if value_of(w) == "v2") == ["c1", "c2"],
             10, 0.05, "first two on v2")
    time.sleep(0.3)
    vals = {c: value_of(w) for c, w in h.live_works("app").items()}
    check(vals == {"c1": "v2", "c2": "v2", "c3": "v1", "c4": "v1", "c5": "v1"}, "wave 2: %s" % vals)
    # the old status (observedGeneration of v1) does not count as done
    time.sleep(0.2)
    vals = {c: value_of(w) for c, w in h.live_works("app").items()}
    check(vals["c3"] == "v1", "released on a stale status: %s" % vals)
    h.ack("c1", "app")
    wait_for(lambda: value_of(h.live_works("app")["c3"]) == "v2", 10, 0.05, "c3 released")
    r = h.rollout("app", "all")
    states = {c["name"]: c["state"] for c in r["clusters"]}
    check(states["c1"] == "Succeeded" and states["c4"] == "Pending", states)


@with_hub
def t_mwrs_halt(h):
    for i in range(1, 7):
        h.cluster("c%d" % i)
    h.bind("default")
    h.placement("p", {"decisionStrategy": {"groupStrategy": {"clustersPerDecisionGroup": 2}}})
    h.wait_decided("p", ["c%d" % i for i in range(1, 7)])
    strat = {"type": "ProgressivePerGroup", "progressivePerGroup": {"maxFailures": 0}}
    h.mwrs("app", ["p"], [cm("app", "v1")], strategies=[strat])
    h.wait_works("app", ["c1", "c2"])
    h.ack("c1", "app")
    h.ack("c2", "app")
    h.wait_works("app", ["c1", "c2", "c3", "c4"])
    h.ack("c3", "app")
    h.ack("c4", "app", available=False, degraded=True)
    wait_for(lambda: (h.rollout("app", "p") or {}).get("phase") == "Halted", 10, 0.05,
             "halted: %s" % json.dumps(h.rollout("app", "p")))
    time.sleep(0.5)
    check(sorted(h.live_works("app")) == ["c1", "c2", "c3", "c4"], "the third group was touched")
    m = h.get_mwrs("app")
    c = cond(m, "PlacementRolledOut")
    check(c["status"] == "False" and c["reason"] == "Halted" and "c4" in c["message"], m["status"])
    r = h.rollout("app", "p")
    c4 = [c for c in r["clusters"] if c["name"] == "c4"][0]
    check(c4["state"] == "Failed" and c4["reason"] == "Degraded", c4)


@with_hub
def t_mwrs_groups_mandatory(h):
    """ProgressivePerGroup over the Placement's decision groups: the mandatory canary group (not first by
    name) goes first, then each group of two once the previous one is done."""
    for i in range(1, 7):
        h.cluster("c%d" % i, {"canary": "true"} if i >= 5 else {})
    h.bind("default")
    h.placement("p", {"decisionStrategy": {"groupStrategy": {
        "decisionGroups": [{"groupName": "canary", "groupClusterSelector": {"labelSelector": {
            "matchLabels": {"canary": "true"}}}}],
        "clustersPerDecisionGroup": 2}}})
    h.wait_decided("p", ["c%d" % i for i in range(1, 7)])
    wait_for(lambda: len(h.decisions("p")) == 3, 10, 0.05, "three decision groups")
    strat = {"type": "ProgressivePerGroup", "progressivePerGroup": {
        "mandatoryDecisionGroups": [{"groupName": "canary"}], "maxFailures": 1}}
    h.mwrs("app", ["p"], [cm("app", "v1")], strategies=[strat])
    h.wait_works("app", ["c5", "c6"])
    time.sleep(0.3)
    check(sorted(h.live_works("app")) == ["c5", "c6"], "released beyond the canary group")
    h.ack("c5", "app")
    time.sleep(0.3)
    check(sorted(h.live_works("app")) == ["c5", "c6"], "released before the canary group was done")
    h.ack("c6", "app")
    h.wait_works("app", ["c1", "c2", "c5", "c6"])
    h.ack("c1", "app")
    h.ack("c2", "app")
    h.wait_works("app", ["c%d" % i for i in range(1, 7)])
    r = h.rollout("app", "p")
    groups = {c["name"]: (c["group"], c["groupName"]) for c in r["clusters"]}
    check(groups["c5"] == (0, "canary") and groups["c1"] == (1, "") and groups["c4"] == (2, ""), groups)
    # a failure within maxFailures 1 does not halt the last group
    h.ack("c3", "app", available=False, degraded=True)
    h.ack("c4", "app")
    wait_for(lambda: (h.rollout("app", "p") or {}).get("phase") == "Succeeded", 10, 0.05,
             "wave done within the failure budget: %s" % json.dumps(h.rollout("app", "p")))


@with_hub
def t_mwrs_soak_restart(h):
    """minSuccessTime holds the next cluster back; a restarted hub resumes the wave from status."""
    for i in range(1, 4):
        h.cluster("c%d" % i)
    h.bind("default")
    h.placement("p", {})
    h.wait_decided("p", ["c1", "c2", "c3"])
    strat = {"type": "Progressive", "progressive": {"maxConcurrency": 1, "minSuccessTime": "2s"}}
    h.mwrs("app", ["p"], [cm("app", "v1")], strategies=[strat])
    h.wait_works("app", ["c1"])
    t0 = time.monotonic()
    h.ack("c1", "app")
    wait_for(lambda: any(c["state"] == "Soaking" for c in (h.rollout("app", "p") or {}).get("clusters", [])),
             10, 0.05, "soaking")
    check(sorted(h.live_works("app")) == ["c1"], "released during the soak")
    h.stop()
    h.start()
    h.wait_works("app", ["c1", "c2"], timeout=15)
    check(time.monotonic() - t0 >= 1.9, "soak not honoured: %.2fs" % (time.monotonic() - t0))
    r = h.rollout("app", "p")
    states = {c["name"]: c["state"] for c in r["clusters"]}
    check(states == {"c1": "Succeeded", "c2": "Updating", "c3": "Pending"}, states)


@with_hub
def t_mwrs_delete(h):
    """Deleting a set deletes its works. Without agents, works being deleted
    keep the stream's finalizer: the test takes it off as an agent's final
    status would."""
    _three(h)
    h.mwrs("bg", ["web"], [cm("bg", "v1")])
    h.mwrs("fg", ["web"], [cm("fg", "v1")], cascade="Foreground")
    h.wait_works("bg", ["c1", "c2", "c3"])
    h.wait_works("fg", ["c1", "c2", "c3"])

    def release(name, cluster):
        h.ok("PATCH", WORKS + "/namespaces/%s/manifestworks/%s" % (cluster, name),
             {"metadata": {"finalizers": None}}, ctype=MERGE)
    h.ok("DELETE", MWRS % "default" + "/bg")
    wait_for(lambda: not h.live_works("bg") and not h.get_mwrs("bg"), 10, 0.05, "bg gone, its works deleting")
    h.ok("DELETE", MWRS % "default" + "/fg")
    wait_for(lambda: not h.live_works("fg"), 10, 0.05, "fg's works deleting")
    for c in ("c2", "c3"):
        release("fg", c)
    wait_for(lambda: sorted(h.set_works("fg")) == ["c1"], 10, 0.05, "two of fg's works gone")
    time.sleep(0.3)
    check(h.get_mwrs("fg") is not None, "a Foreground set went before its works")
    release("fg", "c1")
    wait_for(lambda: not h.set_works("fg") and not h.get_mwrs("fg"), 10, 0.05, "fg gone")
    # a placement without decisions: no works, PlacementVerified False
    h.mwrs("none", ["missing"], [cm("none", "v1")])
    wait_for(lambda: (cond(h.get_mwrs("none"), "PlacementVerified") or {}).get("reason") ==
             "PlacementDecisionNotFound", 10, 0.05, "PlacementVerified False")


TESTS = {n[2:]: f for n, f in list(globals().items()) if n.startswith("t_") and callable(f)}

if __name__ == "__main__":
    sys.exit(run_tests(TESTS, sys.argv))
