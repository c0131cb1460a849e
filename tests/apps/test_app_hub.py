"""test_app_hub.py - the Application controller of a real nave-hub, alone.

No agents and no spokes: clusters are ManagedCluster objects made through the
admin API (labelled, accepted or not, marked Available by writing the condition
an agent's lease would), and the tests play the agent by writing each
ManifestWork's status through the status subresource (apptest.AppHub.ack).
What is checked is what the hub writes: ManifestWorks (which clusters, their
content and per-cluster overrides, when they are rewritten), revisions, the
workflow state machine and its endpoints, the status rollup, deletion, and a
hub restart in the middle of a workflow.

Run one test: test_app_hub.py NAME (meson runs each as its own test).
Environment: NAVE_HUB, NAVE_TEST_DATA; NAVE_KEEP_TEST_DIRS=1 keeps the hub's dir.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from apptest import (AppHub, WebhookServer, app_obj, closed_port, cond, deploy,  # noqa: E402
                     find, run_tests, topology, until, webservice)
from apptest import check, hubtest  # noqa: E402


def with_hub(fn, serve_args=None):
    return hubtest.with_hub(fn, lambda: AppHub(serve_args=serve_args) if serve_args else AppHub())


def image_of(work, name):
    d = find(work, "Deployment", name)
    return d and d["spec"]["template"]["spec"]["containers"][0]["image"]


def replicas_of(work, name):
    d = find(work, "Deployment", name)
    return d and d["spec"].get("replicas")


def fleet(h):
    h.add_cluster("c1", {"region": "hangzhou", "tier": "gold"})
    h.add_cluster("c2", {"region": "hangzhou", "tier": "silver"})
    h.add_cluster("c3", {"region": "beijing"})


def multi_cluster_app(name="mc"):
    """kubevela.md's topology+override example, with a Nave per-cluster override."""
    return app_obj(name, [webservice("nginx", image="nginx")], policies=[
        topology("topology-hangzhou", selector={"region": "hangzhou"}),
        topology("topology-local", clusters=["c3"], namespace="examples-alternative"),
        {"name": "override-image", "type": "override",
         "properties": {"components": [{"name": "nginx", "properties": {"image": "nginx:1.20"}}]}},
        {"name": "override-ha", "type": "override",
         "properties": {"components": [{"type": "webservice",
                                        "traits": [{"type": "scaler", "properties": {"replicas": 3}}]}]}},
        {"name": "override-gold", "type": "override",
         "properties": {"clusterLabelSelector": {"tier": "gold"},
                        "components": [{"name": "nginx",
                                        "traits": [{"type": "scaler", "properties": {"replicas": 5}}]}]}},
    ], workflow=[
        deploy("deploy-local", ["topology-local"]),
        deploy("deploy-hangzhou", ["topology-hangzhou", "override-image", "override-ha", "override-gold"]),
    ])


# --- placement and overrides ------------------------------------------------------

@with_hub
def topology_override(h):
    fleet(h)
    h.apply(multi_cluster_app())
    ws = h.wait_works("mc", ["c3"])
    d = find(ws["c3"], "Deployment", "nginx")
    check(d["metadata"]["namespace"] == "examples-alternative", "topology namespace: %s" % d["metadata"])
    check(image_of(ws["c3"], "nginx") == "nginx", "c3 has no override")
    check(find(ws["c3"], "Namespace", "examples-alternative"), "the namespace object is in the work")
    # the first step waits for c3 to be healthy before the second deploys
    time.sleep(0.3)
    check(sorted(h.works("mc")) == ["c3"], "deploy-hangzhou ran before deploy-local succeeded")
    h.ack("c3", "mc")
    ws = h.wait_works("mc", ["c1", "c2", "c3"])
    check(image_of(ws["c1"], "nginx") == "nginx:1.20" and image_of(ws["c2"], "nginx") == "nginx:1.20",
          "override-image on both hangzhou clusters")
    check(replicas_of(ws["c1"], "nginx") == 5, "gold cluster c1: %s" % replicas_of(ws["c1"], "nginx"))
    check(replicas_of(ws["c2"], "nginx") == 3, "silver cluster c2: %s" % replicas_of(ws["c2"], "nginx"))
    for c in ("c1", "c2"):
        m = ws[c]["spec"]["workload"]["manifests"]
        check(all(x["metadata"]["labels"].get("app.oam.dev/name") == "mc" for x in m), "labels on every object")
    h.ack("c1", "mc")
    h.ack("c2", "mc")
    a = h.wait_app("mc", lambda a: a["status"].get("status") == "running", what="running")
    svc = {(s["name"], s["cluster"]): s for s in a["status"]["services"]}
    check(sorted(svc) == [("nginx", "c1"), ("nginx", "c2"), ("nginx", "c3")], "services: %s" % sorted(svc))
    check(svc[("nginx", "c1")]["readyReplicas"] == 5 and svc[("nginx", "c1")]["healthy"], svc[("nginx", "c1")])
    check(svc[("nginx", "c2")]["message"] == "Ready:3/3", svc[("nginx", "c2")])
    check(svc[("nginx", "c3")]["namespace"] == "examples-alternative", svc[("nginx", "c3")])
    check(cond(a, "Healthy")["status"] == "True" and cond(a, "Ready")["status"] == "True", a["status"]["conditions"])
    check(sorted(c["name"] for c in a["status"]["clusters"]) == ["c1", "c2", "c3"], a["status"]["clusters"])
    check(a["status"]["workflow"]["phase"] == "succeeded", a["status"]["workflow"])


@with_hub
def placement_follows_fleet(h):
    h.add_cluster("c1", {"env": "prod"})
    h.add_cluster("c2", {"env": "dev"})
    h.apply(app_obj("pf", [webservice("web")], policies=[
        topology("prod", selector={"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]})]))
    h.wait_works("pf", ["c1"])
    h.ack("c1", "pf")
    h.wait_app("pf", lambda a: a["status"].get("status") == "running")
    # a cluster that gains the label gets the app
    h.set_labels("c2", {"env": "prod"})
    h.wait_works("pf", ["c1", "c2"])
    # a new cluster joins: not before it is accepted
    h.add_cluster("c4", {"env": "prod"}, accept=False)
    time.sleep(0.3)
    check(sorted(h.works("pf")) == ["c1", "c2"], "an unaccepted cluster got the app")
    h.accept("c4")
    h.wait_works("pf", ["c1", "c2", "c4"])
    # a cluster that stops matching loses its work (no agent: released at once)
    h.set_labels("c1", {"env": "dev"})
    h.wait_works("pf", ["c2", "c4"])
    until(lambda: "c1" not in h.works("pf"), what="c1's work gone")
    # a deleted cluster loses its works, also works the applications do not own
    h.ok("POST", "/apis/work.open-cluster-management.io/v1/namespaces/c4/manifestworks",
         {"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
          "metadata": {"name": "other", "namespace": "c4"}, "spec": {"workload": {"manifests": []}}})
    h.delete_cluster("c4")
    h.wait_works("pf", ["c2"])
    until(lambda: h.request("GET", "/apis/work.open-cluster-management.io/v1/namespaces/c4/manifestworks/other")[0]
          == 404, what="the deleted cluster's other work gone")
    a = h.get_app("pf")
    check(sorted(c["name"] for c in a["status"]["clusters"]) == ["c2"], a["status"]["clusters"])


@with_hub
def local_default_workflow(h):
    """No policies: the default workflow deploys to the cluster named local, and waits for it."""
    h.apply(app_obj("loc", [webservice("web")]))
    a = h.wait_app("loc", lambda a: "local" in (h.step(a, "deploy") or {}).get("message", "") or
                   any("local" in (s.get("message") or "") for s in a["status"].get("workflow", {}).get("steps", [])),
                   what="the step says it waits for local")
    check(a["status"]["status"] == "runningWorkflow", a["status"]["status"])
    check(not h.works("loc"), "no works without a local cluster")
    h.add_cluster("local")
    h.wait_works("loc", ["local"])


@with_hub
def empty_topology_reported(h):
    h.add_cluster("c1", {"region": "eu"})
    h.apply(app_obj("none", [webservice("web")], policies=[topology("t", selector={"region": "mars"})]))
    a = h.wait_app("none", lambda a: (cond(a, "Policy") or {}).get("status") == "False", what="Policy False")
    check("selects no cluster" in cond(a, "Policy")["message"], cond(a, "Policy"))
    check("t" in cond(a, "Policy")["message"], cond(a, "Policy"))
    # allowEmpty: the step succeeds with nothing deployed
    h.apply(app_obj("none2", [webservice("web")], policies=[topology("t", selector={"region": "mars"},
                                                                     allow_empty=True)]))
    h.wait_app("none2", lambda a: a["status"].get("status") == "running", what="empty topology allowed")


@with_hub
def parallelism(h):
    for i in range(1, 4):
        h.add_cluster("p%d" % i, {"all": "yes"})
    h.apply(app_obj("par", [webservice("web")], policies=[topology("t", selector={"all": "yes"})],
                    workflow=[deploy("d", ["t"], parallelism=1)]))
    h.wait_works("par", ["p1"])
    time.sleep(0.3)
    check(sorted(h.works("par")) == ["p1"], "parallelism 1 wrote more than one cluster")
    h.ack("p1", "par")
    h.wait_works("par", ["p1", "p2"])
    h.ack("p2", "par")
    h.wait_works("par", ["p1", "p2", "p3"])
    h.ack("p3", "par")
    h.wait_app("par", lambda a: a["status"].get("status") == "running")


@with_hub
def depends_on(h):
    h.add_cluster("c1")
    db = webservice("db", image="postgres:16")
    web = webservice("web")
    web["dependsOn"] = ["db"]
    h.apply(app_obj("dep", [web, db], policies=[topology("t", clusters=["c1"])]))
    w = h.wait_works("dep", ["c1"])["c1"]
    check(find(w, "Deployment", "db") and not find(w, "Deployment", "web"), "web before db is healthy")
    h.wait_app("dep", lambda a: any(s["name"] == "web" and "dependencies" in s["message"]
                                    for s in a["status"].get("services", [])))
    h.ack("c1", "dep", healthy=False)
    time.sleep(0.3)
    check(not find(h.work("c1", "dep"), "Deployment", "web"), "web released while db is unhealthy")
    h.ack("c1", "dep")
    until(lambda: find(h.work("c1", "dep"), "Deployment", "web"), what="web released after db is healthy")
    h.ack("c1", "dep")
    h.wait_app("dep", lambda a: a["status"].get("status") == "running")


# --- revisions --------------------------------------------------------------------

@with_hub
def revisions_and_rollback(h):
    fleet(h)
    app = app_obj("rv", [webservice("web", image="nginx:1"), webservice("api", image="api:1")], policies=[
        topology("t", selector={"region": "hangzhou"}),
        {"name": "o2", "type": "override", "properties": {"clusters": ["c2"], "components": [
            {"name": "api", "properties": {"image": "api:c2"}}]}}],
        workflow=[deploy("d", ["t", "o2"])])
    h.apply(app)
    ws = h.wait_works("rv", ["c1", "c2"])
    check(image_of(ws["c2"], "api") == "api:c2" and image_of(ws["c1"], "api") == "api:1", "per-cluster override")
    h.ack_all("rv")
    h.wait_app("rv", lambda a: a["status"].get("status") == "running")
    revs = h.revisions("rv")
    check([r["metadata"]["name"] for r in revs] == ["rv-v1"], [r["metadata"]["name"] for r in revs])
    check(revs[0]["status"]["succeeded"] is True, revs[0]["status"])
    check("webservice" in revs[0]["spec"]["componentDefinitions"], revs[0]["spec"].keys())
    check(len(revs[0]["metadata"]["labels"]["app.oam.dev/app-revision-hash"]) == 16, revs[0]["metadata"])
    # re-applying the same spec makes no revision and writes no work
    rv1 = {c: w["metadata"]["resourceVersion"] for c, w in h.works("rv").items()}
    h.apply(app)
    time.sleep(0.3)
    check(len(h.revisions("rv")) == 1, "same spec, new revision")
    # changing api's image on c2 only (the override) rewrites only c2's work
    app["spec"]["policies"][1]["properties"]["components"][0]["properties"]["image"] = "api:c2-v2"
    h.apply(app)
    until(lambda: image_of(h.work("c2", "rv"), "api") == "api:c2-v2", what="c2 updated")
    a = h.wait_app("rv", lambda a: a["status"]["latestRevision"]["name"] == "rv-v2")
    check(h.work("c1", "rv")["metadata"]["resourceVersion"] == rv1["c1"], "c1's work was rewritten")
    check(h.work("c1", "rv")["metadata"]["annotations"]["app.oam.dev/app-revision"] == "rv-v1", "c1 still v1")
    h.ack_all("rv")
    h.wait_app("rv", lambda a: a["status"].get("status") == "running")
    # publishVersion: a new revision with the same spec
    app["metadata"]["annotations"] = {"app.oam.dev/publishVersion": "alpha"}
    h.apply(app)
    h.wait_app("rv", lambda a: a["status"]["latestRevision"]["name"] == "rv-v3")
    check(h.revisions("rv")[-1]["spec"]["publishVersion"] == "alpha", h.revisions("rv")[-1]["spec"])
    h.ack_all("rv")
    h.wait_app("rv", lambda a: a["status"].get("status") == "running")
    # revision-only: recorded, not deployed
    app["metadata"]["annotations"] = {"app.oam.dev/publishVersion": "beta", "app.oam.dev/revision-only": "true"}
    app["spec"]["components"][0]["properties"]["image"] = "nginx:2"
    h.apply(app)
    a = h.wait_app("rv", lambda a: a["status"]["latestRevision"]["name"] == "rv-v4")
    check(a["status"]["workflow"]["appRevision"] == "rv-v3", a["status"]["workflow"]["appRevision"])
    time.sleep(0.3)
    check(image_of(h.work("c1", "rv"), "web") == "nginx:1", "revision-only deployed")
    check(h.revisions("rv")[-1]["spec"]["revisionOnly"] is True, "revisionOnly recorded")
    # rollback to v1: the spec of v1, v1 becomes the latest again, the works get v1's objects
    st, b = h.rollback("rv", "v1")
    check(st == 200, "rollback: %d %s" % (st, b))
    check(b["spec"]["components"][0]["properties"]["image"] == "nginx:1", b["spec"])
    check("app.oam.dev/publishVersion" not in (b["metadata"].get("annotations") or {}), b["metadata"])
    h.wait_app("rv", lambda a: a["status"]["latestRevision"]["name"] == "rv-v1" and
               a["status"]["workflow"]["appRevision"] == "rv-v1")
    until(lambda: image_of(h.work("c2", "rv"), "api") == "api:c2", what="c2 back to v1's api")
    check(len(h.revisions("rv")) == 4, "rollback made a revision")
    # rollback errors
    st, b = h.rollback("rv", "v99")
    check(st == 404 and "rv-v99" in b["message"], "%d %s" % (st, b))
    st, b = h.rollback("rv", {"x": 1})
    check(st == 422, "%d %s" % (st, b))
    st, b = h.rollback("nope", "v1")
    check(st == 404, "%d %s" % (st, b))
    # users cannot write revisions
    st, b = h.request("DELETE", h.app_path("rv-v1", res="applicationrevisions"))
    check(st == 405, "delete revision: %d %s" % (st, b))


# --- workflow ---------------------------------------------------------------------

@with_hub
def appdeployment_split(h):
    """docs/examples/appdeployment-split.yaml: v1 on cluster-1 with 3 replicas, v2 on cluster-2 with 4."""
    ex = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "examples")
    h.add_cluster("cluster-1")
    h.add_cluster("cluster-2")
    h.kubectl("apply", "-f", os.path.join(ex, "appdeployment-v1.yaml"))
    w1 = h.wait_works("testapp", ["cluster-1"])["cluster-1"]
    check(image_of(w1, "testsvc") == "oamdev/testapp:v1" and replicas_of(w1, "testsvc") == 3, w1["spec"])
    h.ack("cluster-1", "testapp")
    h.wait_app("testapp", lambda a: a["status"].get("status") == "running")
    rv = h.work("cluster-1", "testapp")["metadata"]["resourceVersion"]
    h.kubectl("apply", "-f", os.path.join(ex, "appdeployment-split.yaml"))
    ws = h.wait_works("testapp", ["cluster-1", "cluster-2"])
    check(image_of(ws["cluster-2"], "testsvc") == "oamdev/testapp:v2" and replicas_of(ws["cluster-2"], "testsvc") == 4,
          ws["cluster-2"]["spec"])
    check(image_of(ws["cluster-1"], "testsvc") == "oamdev/testapp:v1" and replicas_of(ws["cluster-1"], "testsvc") == 3,
          ws["cluster-1"]["spec"])
    check(ws["cluster-1"]["metadata"]["resourceVersion"] == rv, "cluster-1's work was rewritten")
    h.ack("cluster-2", "testapp")
    a = h.wait_app("testapp", lambda a: a["status"].get("status") == "running")
    check(a["status"]["latestRevision"]["name"] == "testapp-v2", a["status"]["latestRevision"])
    svc = {s["cluster"]: s for s in a["status"]["services"]}
    check(svc["cluster-1"]["readyReplicas"] == 3 and svc["cluster-2"]["readyReplicas"] == 4, svc)


def two_step_suspend(name, suspend_props=None):
    return app_obj(name, [webservice("web")], policies=[topology("t1", clusters=["c1"]),
                                                         topology("t2", clusters=["c2"])], workflow=[
        deploy("first", ["t1"]),
        {"name": "hold", "type": "suspend", "properties": suspend_props or {}},
        deploy("second", ["t2"]),
    ])


@with_hub
def suspend_resume(h):
    h.add_cluster("c1")
    h.add_cluster("c2")
    st, b = h.workflow("nope", "resume")
    check(st == 404, "%d %s" % (st, b))
    h.apply(two_step_suspend("sr"))
    h.wait_works("sr", ["c1"])
    st, b = h.workflow("sr", "resume")
    check(st == 409 and "not suspended" in b["message"], "%d %s" % (st, b))
    h.ack("c1", "sr")
    a = h.wait_app("sr", lambda a: a["status"].get("status") == "workflowSuspending")
    check(h.step_phase(a, "hold") == "suspending" and a["status"]["workflow"]["suspend"] is True, a["status"])
    time.sleep(0.3)
    check(sorted(h.works("sr")) == ["c1"], "deployed past the suspend step")
    st, b = h.workflow("sr", "resume")
    check(st == 200 and b["metadata"]["name"] == "sr", "%d %s" % (st, b))
    h.wait_works("sr", ["c1", "c2"])
    h.ack("c2", "sr")
    a = h.wait_app("sr", lambda a: a["status"].get("status") == "running")
    check(h.step_phase(a, "hold") == "succeeded", h.step(a, "hold"))
    st, b = h.workflow("sr", "bogus")
    check(st == 404, "%d %s" % (st, b))
    st, b = h.request("GET", "/nave/v1/namespaces/default/applications/sr/workflow/resume")
    check(st == 405, "GET: %d" % st)
    st, b = h.request("POST", "/nave/v1/namespaces/default/applications/sr/workflow/resume", token=None)
    check(st == 401, "anonymous: %d" % st)


@with_hub
def suspend_terminate_restart(h):
    h.add_cluster("c1")
    h.add_cluster("c2")
    h.apply(two_step_suspend("tr"))
    h.wait_works("tr", ["c1"])
    # manual suspend at the next step boundary
    st, b = h.workflow("tr", "suspend")
    check(st == 200 and b["status"]["workflow"]["suspend"] is True, "%d %s" % (st, b))
    st, b = h.workflow("tr", "suspend")
    check(st == 409, "suspend twice: %d" % st)
    h.ack("c1", "tr")
    a = h.wait_app("tr", lambda a: h.step_phase(a, "first") == "succeeded")
    check(h.step_phase(a, "hold") == "pending", "a step started while suspended: %s" % h.step(a, "hold"))
    check(a["status"]["status"] == "workflowSuspending", a["status"]["status"])
    st, b = h.workflow("tr", "resume")
    check(st == 200, "resume: %d %s" % (st, b))
    h.wait_app("tr", lambda a: h.step_phase(a, "hold") == "suspending")
    st, b = h.workflow("tr", "terminate")
    check(st == 200, "terminate: %d %s" % (st, b))
    a = h.wait_app("tr", lambda a: a["status"].get("status") == "workflowTerminated")
    check(cond(a, "Healthy")["status"] == "False", "healthy while terminated: %s" % cond(a, "Healthy"))
    st, b = h.workflow("tr", "terminate")
    check(st == 409, "terminate twice: %d" % st)
    st, b = h.workflow("tr", "resume")
    check(st == 409, "resume a terminated workflow: %d %s" % (st, b))
    check(sorted(h.works("tr")) == ["c1"], "terminated workflow deployed on")
    st, b = h.workflow("tr", "restart")
    check(st == 200, "restart: %d %s" % (st, b))
    a = h.wait_app("tr", lambda a: h.step_phase(a, "hold") == "suspending")
    check(a["status"]["workflow"]["terminated"] is False, a["status"]["workflow"])
    h.workflow("tr", "resume")
    h.wait_works("tr", ["c1", "c2"])


@with_hub
def approval(h):
    h.add_cluster("c1")
    h.apply(app_obj("ap", [webservice("web")], policies=[topology("t", clusters=["c1"])],
                    workflow=[deploy("gate", ["t"], auto=False)]))
    a = h.wait_app("ap", lambda a: h.step_phase(a, "gate") == "suspending")
    check("navectl workflow resume ap" in h.step(a, "gate")["message"], h.step(a, "gate"))
    check(a["status"]["status"] == "workflowSuspending", a["status"]["status"])
    time.sleep(0.3)
    check(not h.works("ap"), "deployed without approval")
    st, b = h.workflow("ap", "resume")
    check(st == 200, "%d %s" % (st, b))
    h.wait_works("ap", ["c1"])
    h.ack("c1", "ap")
    h.wait_app("ap", lambda a: a["status"].get("status") == "running")


@with_hub
def suspend_duration(h):
    h.add_cluster("c1")
    h.add_cluster("c2")
    h.apply(two_step_suspend("sd", {"duration": "2s"}))
    h.wait_works("sd", ["c1"])
    h.ack("c1", "sd")
    h.wait_app("sd", lambda a: h.step_phase(a, "hold") == "suspending")
    t0 = time.monotonic()
    h.wait_works("sd", ["c1", "c2"], timeout=10)
    took = time.monotonic() - t0
    check(1.0 <= took <= 6, "suspend of 2s took %.1fs" % took)


@with_hub
def step_timeout(h):
    h.add_cluster("c1")
    step = deploy("slow", ["t"])
    step["timeout"] = "2s"
    h.apply(app_obj("to", [webservice("web")], policies=[topology("t", clusters=["c1"])], workflow=[step]))
    h.wait_works("to", ["c1"])
    a = h.wait_app("to", lambda a: a["status"].get("status") == "workflowFailed", timeout=10)
    s = h.step(a, "slow")
    check(s["phase"] == "failed" and s["reason"] == "Timeout" and "2s" in s["message"], s)
    # never healthy while the workflow has failed, even when everything is
    h.ack("c1", "to")
    a = h.wait_app("to", lambda a: all(x["healthy"] for x in a["status"].get("services", [])))
    check(cond(a, "Healthy")["status"] == "False" and a["status"]["status"] == "workflowFailed",
          (cond(a, "Healthy"), a["status"]["status"]))
    check(h.work("c1", "to"), "a failed step's work stays")


@with_hub
def notification(h):
    hook = WebhookServer()
    try:
        h.add_cluster("c1")
        bad = "http://127.0.0.1:%d/hook" % closed_port()
        h.apply(app_obj("nt", [webservice("web")], policies=[topology("t", clusters=["c1"])], workflow=[
            deploy("d", ["t"]),
            {"name": "tell", "type": "notification",
             "properties": {"webhook": {"url": {"value": hook.url + "/hooks/secret-path"},
                                        "message": {"text": "deployed"}}}},
        ]))
        h.wait_works("nt", ["c1"])
        h.ack("c1", "nt")
        a = h.wait_app("nt", lambda a: a["status"].get("status") == "running")
        check(hook.paths == ["/hooks/secret-path"], hook.paths)
        check(json.dumps(hook.bodies[0]).find("deployed") >= 0, hook.bodies)
        # a closed port fails the step with the connection error, and the workflow
        h.apply(app_obj("nt2", [webservice("web")], workflow=[
            {"name": "tell", "type": "notification",
             "properties": {"webhook": {"url": {"value": bad}, "message": {"text": "x"}}}}]))
        a = h.wait_app("nt2", lambda a: a["status"].get("status") == "workflowFailed", timeout=15)
        s = h.step(a, "tell")
        check(s["phase"] == "failed" and "127.0.0.1" in s["message"] and "/hook" not in s["message"], s)
        # an HTTP error fails it with the code
        hook.code = 500
        h.apply(app_obj("nt3", [webservice("web")], workflow=[
            {"name": "tell", "type": "notification",
             "properties": {"webhook": {"url": {"value": hook.url + "/x"}, "message": {"text": "y"}}}}]))
        a = h.wait_app("nt3", lambda a: a["status"].get("status") == "workflowFailed", timeout=15)
        check("HTTP 500" in h.step(a, "tell")["message"], h.step(a, "tell"))
    finally:
        hook.close()


@with_hub
def if_and_failure(h):
    hook = WebhookServer()
    try:
        h.add_cluster("c1")
        bad = "http://127.0.0.1:%d/" % closed_port()
        h.apply(app_obj("iff", [webservice("web")], workflow=[
            {"name": "n1", "type": "notification", "properties": {"webhook": {"url": {"value": bad},
                                                                              "message": {"t": 1}}}},
            {"name": "after", "type": "notification", "properties": {"webhook": {"url": {"value": hook.url},
                                                                                 "message": {"t": 2}}}},
            {"name": "onfail", "type": "notification", "if": "status.n1.failed",
             "properties": {"webhook": {"url": {"value": hook.url + "/failed"}, "message": {"t": 3}}}},
        ]))
        a = h.wait_app("iff", lambda a: a["status"].get("status") == "workflowFailed", timeout=15)
        check(h.step_phase(a, "after") == "skipped", h.step(a, "after"))
        check(h.step_phase(a, "onfail") == "succeeded", h.step(a, "onfail"))
        check(hook.paths == ["/failed"], hook.paths)
    finally:
        hook.close()


# --- status, deletion, admission, restart --------------------------------------------

@with_hub
def status_rollup(h):
    h.add_cluster("c1")
    h.apply(app_obj("st", [webservice("web", replicas=2)], policies=[topology("t", clusters=["c1"])]))
    h.wait_works("st", ["c1"])
    h.ack("c1", "st", healthy=False, ready=1)
    a = h.wait_app("st", lambda a: any(s.get("readyReplicas") == 1 for s in a["status"].get("services", [])))
    s = a["status"]["services"][0]
    check(not s["healthy"] and s["message"] == "Ready:1/2" and s["replicas"] == 1, s)
    check(s["workloadDefinition"] == {"apiVersion": "apps/v1", "kind": "Deployment"}, s)
    check(a["status"]["status"] == "runningWorkflow", a["status"]["status"])
    h.ack("c1", "st")
    a = h.wait_app("st", lambda a: a["status"].get("status") == "running")
    s = a["status"]["services"][0]
    check(s["healthy"] and s["revision"] == "st-v1" and s["readyReplicas"] == 2, s)
    cl = a["status"]["clusters"][0]
    check(cl["applied"] and cl["work"] == "c1/default.st" and cl["observedGeneration"] == cl["workGeneration"], cl)
    check({"cluster": "c1", "namespace": "default", "apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
           "component": "web"} in a["status"]["appliedResources"], a["status"]["appliedResources"])
    # the workload degrades after success: unhealthy, not running
    h.ack("c1", "st", healthy=False)
    a = h.wait_app("st", lambda a: a["status"].get("status") == "unhealthy")
    check(cond(a, "Healthy")["status"] == "False", cond(a, "Healthy"))
    # kubectl get app prints KubeVela's columns
    out = h.kubectl("get", "app", "st").stdout
    check("PHASE" in out and "HEALTHY" in out and "unhealthy" in out, out)
    out = h.kubectl("get", "apprev").stdout
    check("st-v1" in out, out)


@with_hub
def deletion(h):
    h.add_cluster("up")
    h.add_cluster("down")
    h.set_available("up")
    h.apply(app_obj("del", [webservice("web")], policies=[topology("t", clusters=["up", "down"])]))
    h.wait_works("del", ["up", "down"])
    check(len(h.revisions("del")) == 1, "a revision")
    st, _ = h.delete_app("del")
    check(st == 200, "delete: %d" % st)
    # the unavailable cluster's work is released at once; the available one waits for its agent
    until(lambda: h.work("down", "del") is None, what="down's work gone")
    w = h.work("up", "del")
    check(w and w["metadata"].get("deletionTimestamp"), "up's work marked for deletion")
    h.wait_app("del", lambda a: a["status"].get("status") == "deleting")
    # the agent reports the deletion: the stream would drop the finalizer; do it
    w["metadata"]["finalizers"] = []
    h.ok("PUT", "/apis/work.open-cluster-management.io/v1/namespaces/up/manifestworks/default.del", w)
    until(lambda: h.get_app("del") is None, what="application gone")
    until(lambda: not h.revisions("del"), what="revisions gone")
    # an available cluster that goes away unblocks the deletion too
    h.apply(app_obj("del2", [webservice("web")], policies=[topology("t", clusters=["up"])]))
    h.wait_works("del2", ["up"])
    h.delete_app("del2")
    h.wait_app("del2", lambda a: a["status"].get("status") == "deleting")
    h.set_available("up", "Unknown")
    until(lambda: h.get_app("del2") is None, what="del2 gone once its cluster is unavailable")


@with_hub
def admission(h):
    bad = [
        (app_obj("b1", [{"name": "x", "type": "nosuchtype", "properties": {}}]), "nosuchtype"),
        (app_obj("b2", [{"name": "x", "type": "webservice", "properties": {}}]), "image"),
        (app_obj("b3", [{"name": "x", "type": "webservice", "properties": {"image": "i", "imagee": 1}}]), "imagee"),
        (app_obj("b4", [webservice("x")], workflow=[deploy("d", ["nope"])]), "nope"),
        (app_obj("b" + "x" * 70, [webservice("x")]), "metadata.name"),
    ]
    for obj, word in bad:
        st, b = h.create(obj)
        check(st == 422 and word in b.get("message", ""), "%s: %d %s" % (obj["metadata"]["name"], st, b))
    cue = {"apiVersion": "core.oam.dev/v1beta1", "kind": "ComponentDefinition",
           "metadata": {"name": "cuey", "namespace": "default"},
           "spec": {"workload": {"definition": {"apiVersion": "apps/v1", "kind": "Deployment"}},
                    "schematic": {"cue": {"template": "output: {}"}}}}
    st, b = h.create(cue, "componentdefinitions")
    check(st == 422 and "CUE" in b["message"], "%d %s" % (st, b))
    for res, kind in (("workflowstepdefinitions", "WorkflowStepDefinition"), ("policydefinitions", "PolicyDefinition")):
        obj = {"apiVersion": "core.oam.dev/v1beta1", "kind": kind, "metadata": {"name": "x", "namespace": "default"},
               "spec": {"schematic": {"cue": {"template": "x: 1"}}}}
        st, b = h.create(obj, res)
        check(st == 422 and "docs/" in b["message"], "%s: %d %s" % (res, st, b))
        del obj["spec"]["schematic"]
        st, b = h.create(obj, res)
        check(st == 201, "%s without CUE: %d %s" % (res, st, b))
    st, b = h.create({"apiVersion": "core.oam.dev/v1beta1", "kind": "ApplicationRevision",
                      "metadata": {"name": "r", "namespace": "default"}, "spec": {}}, "applicationrevisions")
    check(st == 405, "create revision: %d %s" % (st, b))
    # a user's definition is used, and changing it makes a new revision
    h.add_cluster("c1")
    cm = {"apiVersion": "core.oam.dev/v1beta1", "kind": "ComponentDefinition",
          "metadata": {"name": "configmap", "namespace": "default"},
          "spec": {"workload": {"definition": {"apiVersion": "v1", "kind": "ConfigMap"}},
                   "schematic": {"nave": {
                       "parameters": {"type": "object", "properties": {"value": {"type": "string", "required": True}}},
                       "output": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "${context.name}"},
                                  "data": {"v": "${parameter.value}"}}}}}}
    st, b = h.create(cm, "componentdefinitions")
    check(st == 201, "user definition: %d %s" % (st, b))
    h.apply(app_obj("u", [{"name": "cfg", "type": "configmap", "properties": {"value": "one"}}],
                    policies=[topology("t", clusters=["c1"])]))
    w = h.wait_works("u", ["c1"])["c1"]
    check(find(w, "ConfigMap", "cfg")["data"] == {"v": "one"}, find(w, "ConfigMap", "cfg"))
    st, b = h.create(app_obj("u2", [{"name": "cfg", "type": "configmap", "properties": {}}]))
    check(st == 422 and "value" in b["message"], "%d %s" % (st, b))
    cm["spec"]["schematic"]["nave"]["output"]["data"] = {"v": "${parameter.value}", "w": "two"}
    h.apply(cm, "componentdefinitions")
    h.wait_app("u", lambda a: a["status"]["latestRevision"]["name"] == "u-v2")
    until(lambda: find(h.work("c1", "u"), "ConfigMap", "cfg")["data"].get("w") == "two", what="re-rendered")


def restart_mid_suspend():
    h = AppHub()
    try:
        h.start()
        h.add_cluster("c1")
        h.add_cluster("c2")
        h.apply(two_step_suspend("rs", {"duration": "3s"}))
        h.apply(two_step_suspend("rs2"))
        h.wait_works("rs", ["c1"])
        h.wait_works("rs2", ["c1"])
        h.ack("c1", "rs")
        h.ack("c1", "rs2")
        h.wait_app("rs", lambda a: h.step_phase(a, "hold") == "suspending")
        h.wait_app("rs2", lambda a: h.step_phase(a, "hold") == "suspending")
        t0 = time.monotonic()
        rc = h.stop()
        check(rc == 0, "stop: %d" % rc)
        h.start()
        # the timed suspend ends on time after the restart; the other still waits
        h.wait_works("rs", ["c1", "c2"], timeout=15)
        check(time.monotonic() - t0 >= 2.0, "suspend ended early after a restart")
        time.sleep(0.3)
        check(sorted(h.works("rs2")) == ["c1"], "rs2 went on without resume")
        a = h.get_app("rs2")
        check(h.step_phase(a, "hold") == "suspending", h.step(a, "hold"))
        st, b = h.workflow("rs2", "resume")
        check(st == 200, "%d %s" % (st, b))
        h.wait_works("rs2", ["c1", "c2"])
        # works are not rewritten by a restart
        rv = {c: w["metadata"]["resourceVersion"] for c, w in h.works("rs").items()}
        h.ack("c2", "rs")
        h.wait_app("rs", lambda a: a["status"].get("status") == "running")
        rv = {c: w["metadata"]["resourceVersion"] for c, w in h.works("rs").items()}
        h.stop()
        h.start()
        h.wait_app("rs", lambda a: a["status"].get("status") == "running")
        time.sleep(0.5)
        rv2 = {c: w["metadata"]["resourceVersion"] for c, w in h.works("rs").items()}
        check(rv == rv2, "a restart rewrote works: %s -> %s" % (rv, rv2))
        check(h.stop() == 0, "final stop")
    except BaseException:
        sys.stderr.write(h.log_tail(60))
        raise
    finally:
        h.cleanup()


def revisions_kept_3():
    return with_hub(revisions_kept_body, ["--lease-timeout", "1h", "--app-revisions", "3"])()


def revisions_kept_body(h):
    h.add_cluster("c1")
    app = app_obj("k", [webservice("web", image="nginx:0")], policies=[topology("t", clusters=["c1"])])
    for i in range(6):
        app["spec"]["components"][0]["properties"]["image"] = "nginx:%d" % i
        h.apply(app)
        h.wait_app("k", lambda a, i=i: (a["status"].get("latestRevision") or {}).get("revision") == i + 1)
    until(lambda: len(h.revisions("k")) == 3, what="3 revisions kept")
    names = [r["metadata"]["name"] for r in h.revisions("k")]
    check(names[-1] == "k-v6" and len(names) == 3, names)


TESTS = {
    "topology_override": topology_override,
    "placement_follows_fleet": placement_follows_fleet,
    "local_default_workflow": local_default_workflow,
    "empty_topology_reported": empty_topology_reported,
    "parallelism": parallelism,
    "depends_on": depends_on,
    "revisions_and_rollback": revisions_and_rollback,
    "revisions_kept": revisions_kept_3,
    "appdeployment_split": appdeployment_split,
    "suspend_resume": suspend_resume,
    "suspend_terminate_restart": suspend_terminate_restart,
    "approval": approval,
    "suspend_duration": suspend_duration,
    "step_timeout": step_timeout,
    "notification": notification,
    "if_and_failure": if_and_failure,
    "status_rollup": status_rollup,
    "deletion": deletion,
    "admission": admission,
    "restart_mid_suspend": restart_mid_suspend,
}

if __name__ == "__main__":
    sys.exit(run_tests(TESTS, sys.argv))
