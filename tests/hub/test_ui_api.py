#!/usr/bin/python3
"""test_ui_api.py - the web view's JSON views (hub/ui.h "JSON VIEWS",
hub/ui_api.c) on a real nave-hub over TLS, as the admin (bearer token).

Clusters are ManagedCluster objects (tests/apps/apptest.py's AppHub), a
registration made with a bootstrap token, and a cluster joined with a real
client certificate renewing its lease (hubtest.Hub.join); work status is
written as an agent would (AppHub.ack), and a local rollout's status
feedback by hand as the klusterlet reports it (docs/rollouts.md).

Usage: test_ui_api.py [TEST...]   (one meson test per name, run in parallel)
Environment: NAVE_HUB, NAVECTL (navectl, for the diff), NAVE_TEST_DATA.
"""
import datetime
import os
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "apps"))

import apptest  # noqa: E402
from apptest import AppHub, WORKS, app_obj, check, topology, until, webservice, with_hub  # noqa: E402
from hubtest import make_csr  # noqa: E402

UI = "/nave/v1/ui"


def hub_test(fn):
    return with_hub(fn, AppHub)


def get(h, path, **params):
    q = urllib.parse.urlencode(params)
    return h.request("GET", UI + path + ("?" + q if q else ""))


def ok(h, path, **params):
    st, b = get(h, path, **params)
    check(st == 200, "GET %s %s: %d %s" % (path, params, st, b))
    return b


def bad(h, path, param, code=400, **params):
    """The view answers code with a message naming param."""
    st, b = get(h, path, **params)
    check(st == code, "GET %s %s: want %d, got %d %s" % (path, params, code, st, b))
    check(isinstance(b, dict) and param in b.get("message", ""), "message does not name %s: %s" % (param, b))
    return b


def rfc3339(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def names(b):
    return [i["name"] for i in b["items"]]


# --------------------------------------------------------------------------------------------------

@hub_test
def clusters(h):
    """Every cluster's fields, filtering by name, label and state, sorting, paging, counts."""
    for c, region in (("c1", "eu"), ("c2", "eu"), ("c3", "us")):
        h.add_cluster(c, {"region": region})
        h.set_available(c)
    h.set_available("c3", "False")
    # a pending registration (bootstrap token), a denied cluster
    tok = h.create_token(ttlSeconds=600)["token"]
    _, csr = make_csr(h.dir, "p1")
    st, reg = h.register(tok, "p1", csr, labels={"region": "ap"})
    check(st == 201, reg)
    h.add_cluster("d1")
    st, b = h.request("POST", "/nave/v1/clusters/d1/deny")
    check(st == 200, b)
    # a cluster joined with a real certificate, renewing its lease with claims
    cert, key, _ = h.join("j1")
    lease = {"leaseDurationSeconds": 10, "clusterClaims": [
        {"name": "kubeversion.open-cluster-management.io", "value": "v1.30.2"},
        {"name": "nodes.nave.io", "value": "7"}]}
    st, b = h.request("PUT", "/nave/v1/clusters/j1/lease", lease, token=None, cert=cert, key=key)
    check(st == 200, b)
    # works: an application on c1 and c2
    h.apply(app_obj("web", [webservice("web")], [topology("t", clusters=["c1", "c2"])]))
    h.wait_works("web", ["c1", "c2"])

    b = ok(h, "/clusters")
    check(names(b) == ["c1", "c2", "c3", "d1", "j1", "p1"], b)
    check(b["total"] == 6 and b["offset"] == 0 and b["limit"] == 100, b)
    check(b["counts"] == {"all": 6, "available": 3, "unavailable": 1, "pending": 1, "denied": 1}, b["counts"])
    it = {i["name"]: i for i in b["items"]}
    keys = {"name", "state", "accepted", "joined", "available", "labels", "claims", "kubernetesVersion", "nodes",
            "lastHeartbeat", "certificateExpiry", "works", "pendingRegistration", "message"}
    for i in b["items"]:
        check(keys <= set(i), "missing fields in %s" % i)
    c1 = it["c1"]
    check(c1["state"] == "Available" and c1["accepted"] is True and c1["available"] == "True", c1)
    check(c1["labels"]["region"] == "eu" and c1["works"] == 1 and c1["nodes"] is None, c1)
    check(c1["lastHeartbeat"] is None and c1["certificateExpiry"] is None and c1["pendingRegistration"] is False, c1)
    check(it["c3"]["state"] == "Unavailable" and it["c3"]["works"] == 0, it["c3"])
    p1 = it["p1"]
    check(p1["state"] == "Pending" and p1["accepted"] is False and p1["pendingRegistration"] is True, p1)
    check("registration" in p1["message"], p1)
    check(it["d1"]["state"] == "Denied" and it["d1"]["accepted"] is False, it["d1"])
    j1 = it["j1"]
    check(j1["state"] == "Available" and j1["joined"] is True, j1)
    check(j1["kubernetesVersion"] == "v1.30.2" and j1["nodes"] == 7, j1)
    check(j1["claims"]["nodes.nave.io"] == "7", j1)
    hb = rfc3339(j1["lastHeartbeat"])
    check(abs((now() - hb).total_seconds()) < 30, "lastHeartbeat %s is not now" % j1["lastHeartbeat"])
    exp = rfc3339(j1["certificateExpiry"])
    check(exp > now() + datetime.timedelta(hours=1), "certificateExpiry %s" % j1["certificateExpiry"])

    # q: a substring of the name, or a label key=value
    check(names(ok(h, "/clusters", q="1")) == ["c1", "d1", "j1", "p1"], "q=1")
    check(names(ok(h, "/clusters", q="C2")) == ["c2"], "q is case-insensitive")
    b = ok(h, "/clusters", q="region=eu")
    check(names(b) == ["c1", "c2"] and b["counts"]["all"] == 2, b)
    check(names(ok(h, "/clusters", q="region=ap")) == ["p1"], "label of a registration")
    check(ok(h, "/clusters", q="nothing")["total"] == 0, "q=nothing")
    # state
    check(names(ok(h, "/clusters", state="available")) == ["c1", "c2", "j1"], "state=available")
    check(names(ok(h, "/clusters", state="unavailable")) == ["c3"], "state=unavailable")
    check(names(ok(h, "/clusters", state="pending")) == ["p1"], "state=pending")
    b = ok(h, "/clusters", state="denied")
    check(names(b) == ["d1"] and b["total"] == 1 and b["counts"]["all"] == 6, b)
    check(names(ok(h, "/clusters", state="available", q="region=eu")) == ["c1", "c2"], "state and q")
    # sort
    check(names(ok(h, "/clusters", sort="state")) == ["p1", "c3", "c1", "c2", "j1", "d1"], "sort=state")
    check(names(ok(h, "/clusters", sort="heartbeat"))[0] == "j1", "sort=heartbeat: most recent first")
    # paging
    b = ok(h, "/clusters", offset=2, limit=2)
    check(names(b) == ["c3", "d1"] and b["total"] == 6 and b["offset"] == 2 and b["limit"] == 2, b)
    b = ok(h, "/clusters", offset=6)
    check(b["items"] == [] and b["total"] == 6, b)
    b = ok(h, "/clusters", offset=5, limit=500)
    check(names(b) == ["p1"], b)


@hub_test
def bad_parameters(h):
    """Every bad query parameter is a 400 naming it; unknown views 404; other methods 405."""
    for params, name in (({"offset": "-1"}, "offset"), ({"offset": "x"}, "offset"), ({"offset": "1e3"}, "offset"),
                         ({"offset": "99999999999"}, "offset"), ({"limit": "0"}, "limit"),
                         ({"limit": "501"}, "limit"), ({"limit": ""}, "limit"), ({"state": "up"}, "state"),
                         ({"sort": "age"}, "sort"), ({"q": "x" * 257}, "q")):
        bad(h, "/clusters", name, **params)
    check(ok(h, "/clusters", q="x" * 256)["total"] == 0, "q of 256 bytes")
    for params, name in (({"health": "fine"}, "health"), ({"namespace": "Bad_NS"}, "namespace"),
                         ({"namespace": "x" * 64}, "namespace"), ({"limit": "-5"}, "limit"),
                         ({"q": "q" * 300}, "q")):
        bad(h, "/applications", name, **params)
    h.apply(app_obj("web", [webservice("web")], [topology("t", clusters=["c1"])]))
    for params, name in (({"clusterLimit": "501"}, "clusterLimit"), ({"clusterOffset": "-1"}, "clusterOffset"),
                         ({"clusterQ": "z" * 257}, "clusterQ")):
        bad(h, "/applications/default/web", name, **params)
    bad(h, "/applications/default/web/diff", "from", to="v1")
    bad(h, "/applications/default/web/diff", "to", **{"from": "v1"})
    bad(h, "/applications/default/web/diff", "from", **{"from": "v0", "to": "v1"})
    bad(h, "/applications/default/web/diff", "to", **{"from": "v1", "to": "other-v1"})
    bad(h, "/applications/default/web/diff", "from", **{"from": "x" * 400, "to": "v1"})
    # 404s name what is missing
    bad(h, "/applications/default/nope", "nope", 404)
    bad(h, "/applications/other/web", "web", 404)
    bad(h, "/applications/default/nope/diff", "nope", 404, **{"from": "v1", "to": "v1"})
    bad(h, "/applications/default/web/diff", "web-v9", 404, **{"from": "v1", "to": "v9"})
    for path in ("/nope", "/clusters/c1", "/applications/default", "/applications/default/web/tree",
                 "/overview/x"):
        st, b = get(h, path)
        check(st == 404, "%s: %d %s" % (path, st, b))
    st, b = h.request("POST", UI + "/clusters")
    check(st == 405, "POST: %d %s" % (st, b))
    st, b = h.request("DELETE", UI + "/applications/default/web")
    check(st == 405, "DELETE: %d %s" % (st, b))
    st, b = h.request("GET", UI + "/overview", token=None)
    check(st == 401, "no credential: %d %s" % (st, b))


@hub_test
def applications(h):
    """The application rows, filters and counts; one application's matrix and tree on 3 clusters."""
    for c in ("c1", "c2", "c3"):
        h.add_cluster(c, {"tier": "gold" if c != "c3" else "silver"})
        h.set_available(c)
    comps = [webservice("web", replicas=3), webservice("api", replicas=2)]
    app = app_obj("shop", comps, [topology("t", clusters=["c1", "c2", "c3"])])
    app["metadata"]["labels"] = {"team": "red"}
    h.apply(app)
    h.apply(app_obj("blog", [webservice("blog")], [topology("t", clusters=["c1"])]))
    h.apply(app_obj("wiki", [webservice("wiki")], [topology("t", clusters=["c2"])], ns="docs"))
    h.wait_works("shop", ["c1", "c2", "c3"])
    h.wait_works("blog", ["c1"])
    h.wait_works("wiki", ["c2"], ns="docs")
    h.ack("c1", "shop")
    h.ack("c2", "shop", healthy=False, ready=1)
    h.ack("c3", "shop", applied=False)
    h.ack("c1", "blog")
    # the deploy step waits for health: shop stays runningWorkflow (progressing)
    h.wait_app("shop", lambda a: len(a["status"].get("services") or []) == 6 and
               [s for s in a["status"]["services"] if s["cluster"] == "c2" and s.get("readyReplicas") == 1] and
               [s for s in a["status"]["services"] if s["cluster"] == "c3" and "not applied" in s["message"]])
    h.wait_app("blog", lambda a: a["status"].get("status") == "running")

    b = ok(h, "/applications")
    check([(i["namespace"], i["name"]) for i in b["items"]] ==
          [("default", "blog"), ("default", "shop"), ("docs", "wiki")], b)
    check(b["total"] == 3 and b["counts"] == {"all": 3, "healthy": 1, "progressing": 2, "failed": 0,
                                              "unknown": 0}, b["counts"])
    row = [i for i in b["items"] if i["name"] == "shop"][0]
    for k in ("namespace", "name", "revision", "phase", "health", "message", "components", "clusters",
              "healthyServices", "services", "rollout", "created", "updated"):
        check(k in row, "app row has no %s: %s" % (k, row))
    check(row["revision"] == "shop-v1" and row["phase"] == "runningWorkflow" and row["health"] == "progressing", row)
    check("c3 (web: not applied" in row["message"], row)
    check(row["components"] == 2 and row["clusters"] == 3 and row["services"] == 6 and
          row["healthyServices"] == 2 and row["rollout"] is None, row)
    check(rfc3339(row["updated"]) >= rfc3339(row["created"]), row)
    # filters
    check(names(ok(h, "/applications", health="healthy")) == ["blog"], "health=healthy")
    check(names(ok(h, "/applications", health="progressing")) == ["shop", "wiki"], "health=progressing")
    check(ok(h, "/applications", health="failed")["items"] == [], "health=failed")
    check(names(ok(h, "/applications", namespace="docs")) == ["wiki"], "namespace=docs")
    check(names(ok(h, "/applications", q="SH")) == ["shop"], "q=SH")
    check(names(ok(h, "/applications", q="docs/")) == ["wiki"], "q=docs/")
    check(names(ok(h, "/applications", q="team=red")) == ["shop"], "q=team=red")
    b = ok(h, "/applications", offset=1, limit=1)
    check(names(b) == ["shop"] and b["total"] == 3 and b["limit"] == 1, b)
    # the overview
    o = ok(h, "/overview")
    check(isinstance(o["generation"], int), o)
    check(o["clusters"] == {"total": 3, "available": 3, "unavailable": 0, "pending": 0, "denied": 0}, o)
    check(o["applications"] == {"total": 3, "healthy": 1, "progressing": 2, "failed": 0, "unknown": 0}, o)
    check(o["rollouts"] == [], o)

    # one application: the matrix
    d = ok(h, "/applications/default/shop")
    check(d["app"]["name"] == "shop" and d["app"]["health"] == "progressing", d["app"])
    check([c["type"] for c in d["conditions"]][:2] == ["Parsed", "Revision"], d["conditions"])
    check(d["components"] == [{"name": "web", "type": "webservice", "traits": ["scaler"]},
                              {"name": "api", "type": "webservice", "traits": ["scaler"]}], d["components"])
    m = d["matrix"]
    check(m["components"] == ["web", "api"] and m["totalClusters"] == 3 and m["clusterOffset"] == 0 and
          m["clusterLimit"] == 100, m)
    check([c["name"] for c in m["clusters"]] == ["c1", "c2", "c3"], m)
    cl = {c["name"]: c for c in m["clusters"]}
    check(cl["c1"]["available"] == "True" and cl["c1"]["revision"] == "shop-v1", cl["c1"])
    check(cl["c1"]["cells"]["web"] == {"revision": "shop-v1", "ready": 3, "desired": 3, "health": "healthy",
                                       "message": cl["c1"]["cells"]["web"]["message"]}, cl["c1"])
    check(cl["c1"]["cells"]["api"]["ready"] == 2 and cl["c1"]["cells"]["api"]["desired"] == 2, cl["c1"])
    w2 = cl["c2"]["cells"]["web"]
    check(w2["ready"] == 1 and w2["desired"] == 3 and w2["health"] == "progressing", w2)
    w3 = cl["c3"]["cells"]["web"]
    check(w3["health"] == "failed" and "not applied" in w3["message"], w3)
    # the tree: the same page of clusters
    t = {e["cluster"]: e["resources"] for e in d["tree"]}
    check(sorted(t) == ["c1", "c2", "c3"], d["tree"])
    dep = [r for r in t["c1"] if r["kind"] == "Deployment" and r["name"] == "web"][0]
    check(dep == {"namespace": "default", "apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                  "component": "web", "health": "healthy", "message": dep["message"]}, dep)
    check([r for r in t["c2"] if r["kind"] == "Deployment" and r["name"] == "web"][0]["health"] == "progressing",
          t["c2"])
    check(all(r["health"] == "failed" for r in t["c3"] if r["kind"] == "Deployment"), t["c3"])
    check(d["workflow"]["phase"] == "executing" and d["rollout"] is None and d["localRollouts"] == [], d)
    # the clusters' page and filter
    d = ok(h, "/applications/default/shop", clusterOffset=1, clusterLimit=1)
    check([c["name"] for c in d["matrix"]["clusters"]] == ["c2"] and d["matrix"]["totalClusters"] == 3 and
          [e["cluster"] for e in d["tree"]] == ["c2"], d["matrix"])
    d = ok(h, "/applications/default/shop", clusterQ="tier=silver")
    check([c["name"] for c in d["matrix"]["clusters"]] == ["c3"] and d["matrix"]["totalClusters"] == 1, d["matrix"])
    d = ok(h, "/applications/default/shop", clusterQ="2")
    check([c["name"] for c in d["matrix"]["clusters"]] == ["c2"], d["matrix"])
    # an application in another namespace
    check(ok(h, "/applications/docs/wiki")["app"]["namespace"] == "docs", "docs/wiki")


def navectl(h, *args):
    exe = os.environ.get("NAVECTL")
    check(exe, "NAVECTL is not set")
    return subprocess.run([exe, "--kubeconfig", h.path("admin.kubeconfig")] + list(args), capture_output=True,
                          text=True, timeout=60)


@hub_test
def revisions_diff(h):
    """Revisions newest first with inUse; the diff text is navectl app diff's."""
    for c in ("c1", "c2"):
        h.add_cluster(c)
        h.set_available(c)
    for i, image in enumerate(("nginx:1.25", "nginx:1.26", "nginx:1.27")):
        comps = [webservice("web", image=image, replicas=2)]
        if i == 2:
            comps.append(webservice("extra"))
        h.apply(app_obj("web", comps, [topology("t", clusters=["c1", "c2"])]))
        until(lambda: len(h.revisions("web")) == i + 1, 20, "revision %d" % (i + 1))
        h.wait_works("web", ["c1", "c2"])
        until(lambda: all(w["metadata"].get("annotations", {}).get("app.oam.dev/app-revision") == "web-v%d" % (i + 1)
                          for w in h.works("web").values()), 20, "works of web-v%d" % (i + 1))
        h.ack_all("web")
        h.wait_app("web", lambda a: a["status"].get("latestRevision", {}).get("name") == "web-v%d" % (i + 1) and
                   a["status"].get("status") == "running")
    d = ok(h, "/applications/default/web")
    revs = d["revisions"]
    check([r["name"] for r in revs] == ["web-v3", "web-v2", "web-v1"], revs)
    check([r["revision"] for r in revs] == [3, 2, 1], revs)
    check([r["inUse"] for r in revs] == [True, False, False], revs)
    for r in revs:
        check(len(r["hash"]) == 64 and r["created"] and r["succeeded"] is True and r["workflowPhase"] == "succeeded" and
              r["publishVersion"] == "", r)
    for a, b in (("v1", "v2"), ("web-v1", "3"), ("v3", "v1"), ("v2", "v2")):
        st, v = get(h, "/applications/default/web/diff", **{"from": a, "to": b})
        check(st == 200, "diff %s %s: %d %s" % (a, b, st, v))
        r = navectl(h, "app", "diff", "web", a, b)
        check(r.returncode in (0, 1), "navectl app diff: %d %s" % (r.returncode, r.stderr))
        check(v["diff"] == r.stdout, "diff %s %s differs from navectl's:\n%s\n---- navectl:\n%s" %
              (a, b, v["diff"], r.stdout))
        check(v["equal"] == (r.returncode == 0), v)
        check(v["from"].startswith("web-v") and v["to"].startswith("web-v"), v)
    st, v = get(h, "/applications/default/web/diff", **{"from": "v1", "to": "v2"})
    check("\n-      image: nginx:1.25\n+      image: nginx:1.26\n" in v["diff"], v["diff"])
    check(v["diff"].startswith("--- web-v1\n+++ web-v2\n@@ -"), v["diff"])
    st, v = get(h, "/applications/default/web/diff", **{"from": "v2", "to": "v2"})
    check(v["equal"] is True and v["diff"] == "", v)


@hub_test
def local_rollout(h):
    """A local rollout's batch, from the work's Rollout status feedback, in localRollouts, the app row
    (kind local) and the overview's rollouts."""
    for c in ("c1", "c2", "c3"):
        h.add_cluster(c)
        h.set_available(c)
    comp = webservice("web", replicas=4)
    comp["traits"] = [{"type": "rollout", "properties": {"numBatches": 3}}]
    h.apply(app_obj("web", [comp], [topology("t", clusters=["c1", "c2", "c3"])]))
    h.wait_works("web", ["c1", "c2", "c3"])
    h.ack_all("web")
    # the klusterlet's feedback: c1 rolling batch 2 of 3, c2 done, c3 nothing yet
    fb = {"c1": [("rollingState", "String", "rollingInBatches"), ("batchRollingState", "String", "batchVerifying"),
                 ("currentBatch", "Integer", 1), ("numBatches", "Integer", 3), ("targetSize", "Integer", 4),
                 ("upgradedReplicas", "Integer", 3), ("upgradedReadyReplicas", "Integer", 1),
                 ("message", "String", "batch 2 of 3: 1 of 3 replicas ready (3 needed)")],
          "c2": [("rollingState", "String", "rolloutSucceed"), ("currentBatch", "Integer", 2),
                 ("numBatches", "Integer", 3), ("targetSize", "Integer", 4), ("upgradedReplicas", "Integer", 4),
                 ("upgradedReadyReplicas", "Integer", 4), ("message", "String", "rollout succeeded")]}
    for c, vals in fb.items():
        w = h.work(c, "web")
        st = w["status"]
        ro = [m for m in st["resourceStatus"]["manifests"] if m["resourceMeta"]["kind"] == "Rollout"]
        check(len(ro) == 1, "the work holds one Rollout: %s" % st["resourceStatus"])
        ro[0]["statusFeedback"] = {"values": [
            {"name": n, "fieldValue": {"type": t, t.lower(): v}} for n, t, v in vals]}
        h.ok("PUT", "%s/namespaces/%s/manifestworks/%s/status" % (WORKS, c, w["metadata"]["name"]), w)
    d = ok(h, "/applications/default/web")
    lr = {e["cluster"]: e for e in d["localRollouts"]}
    check(sorted(lr) == ["c1", "c2", "c3"] and d["localRolloutsTotal"] == 3, d["localRollouts"])
    c1 = lr["c1"]
    check(c1["name"] == "web" and c1["state"] == "rollingInBatches" and c1["currentBatch"] == 1 and
          c1["numBatches"] == 3 and c1["upgradedReplicas"] == 3 and c1["upgradedReadyReplicas"] == 1 and
          c1["targetSize"] == 4 and c1["reason"] == "" and c1["message"].startswith("batch 2 of 3"), c1)
    check(lr["c2"]["state"] == "rolloutSucceed" and lr["c2"]["currentBatch"] == 2, lr["c2"])
    check(lr["c3"]["state"] == "" and lr["c3"]["currentBatch"] is None, lr["c3"])
    row = d["app"]["rollout"]
    check(row["kind"] == "local" and row["phase"] == "Progressing" and row["paused"] is False, row)
    check(row["summary"] == {"total": 3, "succeeded": 1, "failed": 0, "updating": 1, "pending": 1}, row)
    check(row["message"].startswith("c1: batch 2 of 3"), row)
    # the Rollout in the tree
    t = {e["cluster"]: e["resources"] for e in d["tree"]}
    rr = [r for r in t["c1"] if r["kind"] == "Rollout"]
    check(len(rr) == 1 and rr[0]["health"] == "progressing", t["c1"])
    check([r for r in t["c2"] if r["kind"] == "Rollout"][0]["health"] == "healthy", t["c2"])
    # the list and the overview
    rows = ok(h, "/applications")["items"]
    check(rows[0]["rollout"]["kind"] == "local", rows)
    o = ok(h, "/overview")
    check(len(o["rollouts"]) == 1 and o["rollouts"][0]["name"] == "web" and o["rollouts"][0]["kind"] == "local",
          o["rollouts"])
    for k in ("namespace", "name", "kind", "phase", "paused", "revision", "message", "summary"):
        check(k in o["rollouts"][0], "rollout row has no %s" % k)


@hub_test
def wave_matrix(h):
    """A cross-cluster wave, one cluster per group: the cluster being updated shows the new revision's cells
    ("web-v2 1/3 progressing"); the clusters not released yet (Pending) show what their works still carry
    ("web-v1 3/3 healthy") instead of no cells at all."""
    cls = ["c1", "c2", "c3"]
    for c in cls:
        h.add_cluster(c)
        h.set_available(c)

    def wave_app(image):
        pols = [topology("everywhere", clusters=cls),
                {"name": "waves", "type": "nave-rollout",
                 "properties": {"type": "ProgressivePerGroup", "clustersPerDecisionGroup": 1,
                                "progressivePerGroup": {"minSuccessTime": "0", "maxFailures": 0}}}]
        return app_obj("web", [webservice("web", image=image, replicas=3)], pols,
                       [apptest.deploy("rollout", ["everywhere", "waves"])])

    def image(c):
        d = apptest.find(h.work(c, "web"), "Deployment", "web") if h.work(c, "web") else None
        return d and d["spec"]["template"]["spec"]["containers"][0]["image"]

    h.apply(wave_app("nginx:1.27"))
    for c in cls:
        until(lambda: image(c) == "nginx:1.27", 20, "v1 released on %s" % c)
        h.ack(c, "web")
    h.wait_app("web", lambda a: h.step_phase(a, "rollout") == "succeeded", what="v1 rolled out")
    h.apply(wave_app("nginx:1.28"))
    until(lambda: image("c1") == "nginx:1.28", 20, "v2 released on c1")
    h.ack("c1", "web", healthy=False, ready=1)

    def pending():
        a = h.get_app("web")
        ro = (a.get("status") or {}).get("rollout") or {}
        st = {c["name"]: c["state"] for c in ro.get("clusters") or []}
        svcs = {s["cluster"] for s in a["status"].get("services") or []}
        return st.get("c2") == "Pending" and st.get("c3") == "Pending" and \
            [s for s in a["status"]["services"] if s["cluster"] == "c1" and s.get("readyReplicas") == 1] and \
            (st, svcs)
    st, svcs = until(pending, 20, "c1 updating with 1 ready, c2 and c3 Pending")
    check(image("c2") == "nginx:1.27" and image("c3") == "nginx:1.27", "the wave touched a Pending cluster")
    d = ok(h, "/applications/default/web")
    m = d["matrix"]
    check([c["name"] for c in m["clusters"]] == cls, m)
    cl = {c["name"]: c for c in m["clusters"]}

    def text(c):
        cell = cl[c]["cells"].get("web")
        check(cell is not None, "%s has no matrix cell (services on %s): %s" % (c, sorted(svcs), cl[c]))
        return "%s %s/%s %s" % (cell["revision"], cell["ready"], cell["desired"], cell["health"])
    check(text("c1") == "web-v2 1/3 progressing", "c1 (being updated): %s" % text("c1"))
    for c in ("c2", "c3"):
        check(text(c) == "web-v1 3/3 healthy", "%s (Pending): %s" % (c, text(c)))
        check(cl[c]["revision"] == "web-v1" and cl[c]["cells"]["web"]["message"], cl[c])
    # a Pending cluster that goes unavailable is unknown, not healthy
    h.set_available("c3", "Unknown")
    until(lambda: ok(h, "/applications/default/web")["matrix"]["clusters"][2]["cells"]["web"]["health"] ==
          "unknown", 10, "c3's held cell unknown")
    # the tree still lists the Pending clusters' resources
    t = {e["cluster"]: e["resources"] for e in ok(h, "/applications/default/web")["tree"]}
    check([r for r in t["c2"] if r["kind"] == "Deployment"], t)


TESTS = {
    "clusters": clusters,
    "bad_parameters": bad_parameters,
    "applications": applications,
    "revisions_diff": revisions_diff,
    "local_rollout": local_rollout,
    "wave_matrix": wave_matrix,
}

if __name__ == "__main__":
    sys.exit(apptest.run_tests(TESTS, sys.argv))
