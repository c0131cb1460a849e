"""test_app_rollout_hub.py - cross-cluster rollouts of Applications (issue #9,
the hub's half: hub/wave.c, hub/app_rollout.c) on a real nave-hub, alone.

Clusters are ManagedCluster objects (marked Available as an agent's lease
would); the tests play the agents by writing each ManifestWork's status
(apptest.AppHub.ack, or a Degraded status). Checked: which works the hub
writes and when (group after group, only after the soak), the wave's state
in status.rollout, a failure halting the wave with the third group
untouched, stale status and unreachable clusters never counting as done,
and pause/resume/abort/rollback through navectl.

Run one test: test_app_rollout_hub.py NAME (meson runs each as its own test).
Environment: NAVE_HUB, NAVECTL, NAVE_TEST_DATA.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from apptest import (AppHub, WORKS, app_obj, deploy, find, run_tests, topology, until,  # noqa: E402
                     webservice)
from apptest import check, hubtest  # noqa: E402

CLUSTERS = ["c1", "c2", "c3", "c4", "c5", "c6"]


def with_hub(fn):
    return hubtest.with_hub(fn, AppHub)


def fleet(h):
    for c in CLUSTERS:
        h.add_cluster(c, {"fleet": "web"})
        h.set_available(c)


def rollout_app(image="nginx:1.27", soak="0", max_failures=0, deadline=None):
    per = {"minSuccessTime": soak, "maxFailures": max_failures}
    if deadline:
        per["progressDeadline"] = deadline
    pols = [topology("everywhere", clusters=CLUSTERS),
            {"name": "waves", "type": "nave-rollout",
             "properties": {"type": "ProgressivePerGroup", "progressivePerGroup": per,
                            "clustersPerDecisionGroup": 2}}]
    return app_obj("web", [webservice("web", image=image)], pols,
                   [deploy("rollout", ["everywhere", "waves"])])


def image_of(work):
    d = find(work, "Deployment", "web") if work else None
    return d and d["spec"]["template"]["spec"]["containers"][0]["image"]


def images(h):
    ws = h.works("web")
    return {c: image_of(ws.get(c)) for c in CLUSTERS}


def rollout(h):
    a = h.get_app("web")
    return ((a or {}).get("status") or {}).get("rollout") or {}


def states(h):
    return {c["name"]: c["state"] for c in rollout(h).get("clusters") or []}


def wait_images(h, want, timeout=20):
    """want: cluster -> image (None: no work)."""
    return until(lambda: images(h) == want, timeout, "images %s (have %s)" % (want, images(h)))


def stays(pred, seconds, what):
    end = time.time() + seconds
    while time.time() < end:
        check(pred(), "no longer true: " + what)
        time.sleep(0.1)


def degrade(h, cluster, msg="image pull back-off"):
    """Report the work Degraded at its generation, as an agent would."""
    w = h.work(cluster, "web")
    gen = w["metadata"]["generation"]
    st = {"conditions": [
        {"type": "Applied", "status": "True", "reason": "AppliedManifestWorkComplete", "message": "",
         "observedGeneration": gen, "lastTransitionTime": "2025-01-01T00:00:00Z"},
        {"type": "Available", "status": "False", "reason": "ResourcesNotAvailable", "message": "",
         "observedGeneration": gen, "lastTransitionTime": "2025-01-01T00:00:00Z"},
        {"type": "Degraded", "status": "True", "reason": "WorkloadFailed", "message": msg,
         "observedGeneration": gen, "lastTransitionTime": "2025-01-01T00:00:00Z"}]}
    h.ok("PUT", "%s/namespaces/%s/manifestworks/%s/status" % (WORKS, cluster, w["metadata"]["name"]),
         dict(w, status=st))


def navectl(h, *args, ok=True):
    exe = os.environ.get("NAVECTL")
    check(exe, "NAVECTL is not set")
    r = subprocess.run([exe, "--kubeconfig", h.path("admin.kubeconfig")] + list(args), capture_output=True,
                       text=True, timeout=60)
    if ok and r.returncode != 0:
        raise AssertionError("navectl %s: %d\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


def full_rollout(h, image):
    """Roll image out group by group, acking each released cluster."""
    for g in range(3):
        grp = CLUSTERS[2 * g:2 * g + 2]
        until(lambda: all(image_of(h.work(c, "web")) == image for c in grp), 20,
              "group %d released with %s" % (g, image))
        for c in grp:
            h.ack(c, "web")
    h.wait_app("web", lambda a: h.step_phase(a, "rollout") == "succeeded", what="rollout step succeeded")


# ------------------------------------------------------------------------------

@with_hub
def progressive_soak(h):
    """Six clusters in groups of two with a 2 s soak: each group only after
    the previous one is done and soaked."""
    fleet(h)
    h.apply(rollout_app(soak="2s"))
    wait_images(h, {"c1": "nginx:1.27", "c2": "nginx:1.27", "c3": None, "c4": None, "c5": None, "c6": None})
    ro = rollout(h)
    check(ro.get("type") == "ProgressivePerGroup" and ro.get("phase") == "Progressing", ro)
    check(ro.get("currentGroup") == 0, ro)
    check(states(h) == {"c1": "Updating", "c2": "Updating", "c3": "Pending", "c4": "Pending",
                        "c5": "Pending", "c6": "Pending"}, states(h))
    h.ack("c1", "web")
    h.ack("c2", "web")
    t0 = time.time()
    until(lambda: states(h).get("c1") == "Soaking" and states(h).get("c2") == "Soaking", 10, "soaking")
    # the soak holds the next group back
    stays(lambda: h.work("c3", "web") is None, 1.2, "group 2 waits for the soak")
    until(lambda: h.work("c3", "web") and h.work("c4", "web"), 10, "group 2 released")
    check(time.time() - t0 >= 1.9, "group 2 released before the soak ended (%.2fs)" % (time.time() - t0))
    check(h.work("c5", "web") is None, "group 3 released early")
    check(rollout(h).get("currentGroup") == 1, rollout(h))
    h.ack("c3", "web")
    h.ack("c4", "web")
    until(lambda: h.work("c5", "web") and h.work("c6", "web"), 10, "group 3 released")
    h.ack("c5", "web")
    h.ack("c6", "web")
    a = h.wait_app("web", lambda a: h.step_phase(a, "rollout") == "succeeded", what="rollout step succeeded")
    ro = a["status"]["rollout"]
    check(ro["phase"] == "Succeeded", ro)
    check(all(c["state"] == "Succeeded" and c["revision"] == ro["revision"] for c in ro["clusters"]), ro)
    check(a["status"]["workflow"]["phase"] == "succeeded", a["status"]["workflow"])
    # navectl rollout status shows it
    out = navectl(h, "rollout", "status", "web").stdout
    check("Succeeded" in out and "c6" in out and ro["revision"] in out, out)


@with_hub
def failure_halts(h):
    """v1 everywhere; v2 fails in the second group with maxFailures 0: the
    wave halts, the step fails, the third group keeps v1."""
    fleet(h)
    h.apply(rollout_app())
    full_rollout(h, "nginx:1.27")
    h.apply(rollout_app(image="nginx:1.28"))
    wait_images(h, {"c1": "nginx:1.28", "c2": "nginx:1.28", "c3": "nginx:1.27", "c4": "nginx:1.27",
                    "c5": "nginx:1.27", "c6": "nginx:1.27"})
    h.ack("c1", "web")
    h.ack("c2", "web")
    until(lambda: image_of(h.work("c3", "web")) == "nginx:1.28" and image_of(h.work("c4", "web")) == "nginx:1.28",
          10, "group 2 released")
    h.ack("c3", "web")
    degrade(h, "c4")
    a = h.wait_app("web", lambda a: h.step_phase(a, "rollout") == "failed", what="rollout step failed")
    step = h.step(a, "rollout")
    check(step["reason"] == "RolloutHalted", step)
    ro = a["status"]["rollout"]
    check(ro["phase"] == "Halted" and "maxFailures 0" in ro["message"] and "c4" in ro["message"], ro)
    c4 = [c for c in ro["clusters"] if c["name"] == "c4"][0]
    check(c4["state"] == "Failed" and c4["reason"] == "Degraded" and "image pull" in c4["message"], c4)
    check(states(h)["c5"] == "Pending" and states(h)["c6"] == "Pending", states(h))
    # the third group stays untouched
    gen5 = h.work("c5", "web")["metadata"]["generation"]
    stays(lambda: image_of(h.work("c5", "web")) == "nginx:1.27" and image_of(h.work("c6", "web")) == "nginx:1.27"
          and h.work("c5", "web")["metadata"]["generation"] == gen5, 1.0, "group 3 untouched")
    out = navectl(h, "rollout", "status", "web").stdout
    check("Halted" in out and "Degraded" in out and "image pull" in out, out)


@with_hub
def stale_never_counts(h):
    """After a change, the old status (Available at the old generation)
    never counts: the next group waits for a status of the new one."""
    fleet(h)
    h.apply(rollout_app())
    full_rollout(h, "nginx:1.27")
    h.apply(rollout_app(image="nginx:1.28"))
    wait_images(h, {"c1": "nginx:1.28", "c2": "nginx:1.28", "c3": "nginx:1.27", "c4": "nginx:1.27",
                    "c5": "nginx:1.27", "c6": "nginx:1.27"})
    w = h.work("c1", "web")
    conds = w["status"]["conditions"]
    check(all(c["observedGeneration"] < w["metadata"]["generation"] for c in conds), conds)
    stays(lambda: image_of(h.work("c3", "web")) == "nginx:1.27", 1.5, "stale status does not release group 2")
    check(states(h)["c1"] == "Updating", states(h))
    h.ack("c1", "web")
    h.ack("c2", "web")
    until(lambda: image_of(h.work("c3", "web")) == "nginx:1.28", 10, "group 2 released after fresh status")


@with_hub
def unreachable_blocks(h):
    """A cluster that is not Available is not done, whatever its work says."""
    fleet(h)
    h.apply(rollout_app())
    until(lambda: h.work("c1", "web") and h.work("c2", "web"), 10, "group 1")
    h.set_available("c2", "False")
    h.ack("c1", "web")
    h.ack("c2", "web")
    stays(lambda: h.work("c3", "web") is None, 1.5, "unreachable c2 holds group 2")
    check(states(h)["c2"] == "Updating", states(h))
    out = navectl(h, "rollout", "status", "web").stdout
    check("unreachable" in out, out)
    h.set_available("c2", "True")
    until(lambda: h.work("c3", "web") is not None, 10, "group 2 after c2 is back")


@with_hub
def pause_resume_abort_rollback(h):
    """navectl rollout pause/resume/abort/rollback."""
    fleet(h)
    h.apply(rollout_app())
    full_rollout(h, "nginx:1.27")
    h.apply(rollout_app(image="nginx:1.28"))
    until(lambda: image_of(h.work("c1", "web")) == "nginx:1.28", 10, "v2 group 1")
    navectl(h, "rollout", "pause", "web")
    until(lambda: rollout(h).get("phase") == "Paused", 10, "paused")
    r = navectl(h, "rollout", "pause", "web", ok=False)
    check(r.returncode == 1 and "already paused" in r.stderr, r.stderr)
    h.ack("c1", "web")
    h.ack("c2", "web")
    stays(lambda: image_of(h.work("c3", "web")) == "nginx:1.27", 1.2, "paused: group 2 waits")
    navectl(h, "rollout", "resume", "web")
    until(lambda: image_of(h.work("c3", "web")) == "nginx:1.28", 10, "resumed: group 2 released")
    navectl(h, "rollout", "abort", "web")
    a = h.wait_app("web", lambda a: h.step_phase(a, "rollout") == "failed", what="aborted")
    check(h.step(a, "rollout")["reason"] == "RolloutAborted", h.step(a, "rollout"))
    check(a["status"]["rollout"]["phase"] == "Aborted", a["status"]["rollout"])
    h.ack("c3", "web")
    h.ack("c4", "web")
    stays(lambda: image_of(h.work("c5", "web")) == "nginx:1.27", 1.0, "aborted: group 3 untouched")
    # rollback: the last succeeded revision (v1) rolls out as a new wave
    v2 = rollout(h)["revision"]
    navectl(h, "rollout", "rollback", "web")
    until(lambda: rollout(h).get("revision") not in (None, v2), 10, "a new wave")
    wait_images(h, {"c1": "nginx:1.27", "c2": "nginx:1.27", "c3": "nginx:1.28", "c4": "nginx:1.28",
                    "c5": "nginx:1.27", "c6": "nginx:1.27"})
    h.ack("c1", "web")
    h.ack("c2", "web")
    until(lambda: image_of(h.work("c3", "web")) == "nginx:1.27", 10, "rollback group 2")
    h.ack("c3", "web")
    h.ack("c4", "web")
    # the third group never left v1: its works are already up to date with a
    # fresh status, so it is done as soon as it is released
    a = h.wait_app("web", lambda a: h.step_phase(a, "rollout") == "succeeded", what="rollback wave succeeded")
    check(all(c["state"] == "Succeeded" for c in a["status"]["rollout"]["clusters"]), a["status"]["rollout"])
    r = navectl(h, "rollout", "bogus", "web", ok=False)
    check(r.returncode == 2, r)


@with_hub
def restart_resumes(h):
    """The wave's state is in status: a restarted hub continues it."""
    fleet(h)
    h.apply(rollout_app(soak="1s"))
    until(lambda: h.work("c1", "web") and h.work("c2", "web"), 10, "group 1")
    h.ack("c1", "web")
    h.ack("c2", "web")
    until(lambda: h.work("c3", "web") is not None, 10, "group 2")
    check(h.stop() == 0, "hub stop")
    h.start()
    check(states(h)["c1"] == "Succeeded" and states(h)["c3"] == "Updating", states(h))
    check(h.work("c5", "web") is None, "group 3 released by the restart")
    h.ack("c3", "web")
    h.ack("c4", "web")
    until(lambda: h.work("c5", "web") is not None, 10, "group 3 after the restart")


@with_hub
def decision_groups_mandatory(h):
    """decisionGroups by label selector, a mandatory canary group first, then
    Progressive with maxConcurrency 2 over the rest."""
    fleet(h)
    h.set_labels("c5", {"canary": "true"})
    o = rollout_app()
    o["spec"]["policies"][1]["properties"] = {
        "type": "Progressive",
        "progressive": {"maxConcurrency": 2, "mandatoryDecisionGroups": [{"groupName": "canary"}]},
        "decisionGroups": [{"groupName": "canary", "groupClusterSelector": {"matchLabels": {"canary": "true"}}}],
        "clustersPerDecisionGroup": 2}
    h.apply(o)
    wait_images(h, {"c1": None, "c2": None, "c3": None, "c4": None, "c5": "nginx:1.27", "c6": None})
    ro = rollout(h)
    groups = {c["name"]: (c["group"], c.get("groupName")) for c in ro["clusters"]}
    check(groups == {"c5": (0, "canary"), "c1": (1, None), "c2": (1, None), "c3": (2, None), "c4": (2, None),
                     "c6": (3, None)}, groups)
    check(ro["currentGroup"] == 0 and "mandatory group 0" in ro["message"], ro)
    check([c["name"] for c in ro["clusters"]] == ["c5", "c1", "c2", "c3", "c4", "c6"], ro["clusters"])
    h.ack("c5", "web")
    wait_images(h, {"c1": "nginx:1.27", "c2": "nginx:1.27", "c3": None, "c4": None, "c5": "nginx:1.27",
                    "c6": None})
    h.ack("c1", "web")
    until(lambda: h.work("c3", "web") is not None, 10, "c3 once c1 is done (maxConcurrency 2)")
    check(h.work("c4", "web") is None, "c4 released while two are in flight")
    for c in ["c2", "c3"]:
        h.ack(c, "web")
    until(lambda: h.work("c4", "web") and h.work("c6", "web"), 10, "the rest")
    for c in ["c4", "c6"]:
        h.ack(c, "web")
    h.wait_app("web", lambda a: h.step_phase(a, "rollout") == "succeeded", what="succeeded")


@with_hub
def local_rollout_shown(h):
    """A work's Rollout feedback (the klusterlet's batches) reaches
    status.rollout and navectl rollout status: batch i of n."""
    fleet(h)
    h.apply(rollout_app())
    until(lambda: h.work("c1", "web"), 10, "group 1")
    w = h.work("c1", "web")
    gen = w["metadata"]["generation"]
    vals = [{"name": "rollingState", "fieldValue": {"type": "String", "string": "rollingInBatches"}},
            {"name": "currentBatch", "fieldValue": {"type": "Integer", "integer": 1}},
            {"name": "numBatches", "fieldValue": {"type": "Integer", "integer": 3}},
            {"name": "message", "fieldValue": {"type": "String", "string": "batch 2 of 3: 1 of 4 replicas ready"}}]
    st = {"conditions": [{"type": "Applied", "status": "True", "reason": "AppliedManifestWorkComplete",
                          "message": "", "observedGeneration": gen, "lastTransitionTime": "2025-01-01T00:00:00Z"},
                         {"type": "Progressing", "status": "True", "reason": "RollingOut", "message": "",
                          "observedGeneration": gen, "lastTransitionTime": "2025-01-01T00:00:00Z"}],
          "resourceStatus": {"manifests": [{"resourceMeta": {"group": "standard.oam.dev", "version": "v1alpha1",
                                                             "kind": "Rollout", "resource": "rollouts",
                                                             "name": "web", "namespace": "default"},
                                            "statusFeedback": {"values": vals}, "conditions": []}]}}
    h.ok("PUT", "%s/namespaces/c1/manifestworks/%s/status" % (WORKS, w["metadata"]["name"]), dict(w, status=st))
    until(lambda: [c for c in rollout(h)["clusters"] if c["name"] == "c1" and c.get("localRollout")], 10,
          "localRollout in status")
    c1 = [c for c in rollout(h)["clusters"] if c["name"] == "c1"][0]
    check(c1["localRollout"]["state"] == "rollingInBatches" and c1["localRollout"]["numBatches"] == 3, c1)
    check(c1["state"] == "Updating", c1)
    out = navectl(h, "rollout", "status", "web").stdout
    check("batch 2/3 rollingInBatches" in out, out)


@with_hub
def admission(h):
    """Bad nave-rollout properties are refused naming the field."""
    fleet(h)
    bad = [({"type": "Sometimes"}, "properties.type"),
           ({"type": "Progressive", "progressive": {"maxConcurrency": "120%"}}, "maxConcurrency"),
           ({"maxFailures": 1}, "belongs under"),
           ({"type": "All", "all": {"minSuccessTime": "soon"}}, "minSuccessTime"),
           ({"decisionGroups": [{"groupName": "a"}]}, "groupClusterSelector"),
           ({"clustersPerDecisionGroup": 0}, "clustersPerDecisionGroup")]
    for props, want in bad:
        o = rollout_app()
        o["spec"]["policies"][1]["properties"] = props
        st, b = h.create(o)
        check(st == 422 and want in b.get("message", ""), "%s: %d %s" % (props, st, b))
    # one wave per step: two nave-rollout policies in one deploy step are refused
    o = rollout_app()
    o["spec"]["policies"].append({"name": "waves2", "type": "nave-rollout", "properties": {}})
    o["spec"]["workflow"]["steps"][0]["properties"]["policies"].append("waves2")
    st, b = h.create(o)
    check(st == 422 and "in one step" in b.get("message", ""), "%d %s" % (st, b))


if __name__ == "__main__":
    run_tests({f.__name__: f for f in [progressive_soak, failure_halts, stale_never_counts, unreachable_blocks,
                                       pause_resume_abort_rollback, restart_resumes, decision_groups_mandatory, local_rollout_shown,
                                       admission]}, sys.argv)
