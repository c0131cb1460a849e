"""test_rollout_e2e.py - local batch rollouts end to end: the real nave-hub, navectl,
nave-klusterlet and nave-kubesim (World from tests/e2e/test_e2e.py), raw ManifestWorks
carrying a Rollout manifest (standard.oam.dev/v1alpha1, docs/rollouts.md "Inside a
cluster"), watched from the hub through the work's status feedback and on the spoke with
/usr/bin/kubectl.

Every wait polls with a deadline; ports are free loopback ports; every process is torn
down (a process that needs SIGKILL, or a sanitizer report, fails the test).

Run one test: test_rollout_e2e.py Rollout.test_NAME (meson runs each as its own test).
"""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from test_e2e import WorldCase, configmap, deployment, wait_for, work  # noqa: E402

ROLLOUT_API = "standard.oam.dev/v1alpha1"


def rollout(name, target, source=None, kind="Deployment", **plan):
    spec = {"targetRevisionName": target, "workloadKind": kind, "rolloutPlan": plan}
    if source:
        spec["sourceRevisionName"] = source
    return {"apiVersion": ROLLOUT_API, "kind": "Rollout", "metadata": {"name": name, "namespace": "default"},
            "spec": spec}


def statefulset(name, replicas=4, image="nginx:1.0"):
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


def feedback(mw, kind="Rollout", name=None):
    """The status feedback values of the work's first manifest of kind (and name): {name: value}."""
    for m in (((mw or {}).get("status") or {}).get("resourceStatus") or {}).get("manifests") or []:
        meta = m.get("resourceMeta") or {}
        if meta.get("kind") != kind or (name and meta.get("name") != name):
            continue
        out = {}
        for v in (m.get("statusFeedback") or {}).get("values") or []:
            fv = v.get("fieldValue") or {}
            out[v["name"]] = fv.get({"Integer": "integer", "String": "string", "Boolean": "boolean",
                                     "JsonRaw": "jsonRaw"}.get(fv.get("type"), "string"))
        return out
    return {}


class Rollout(WorldCase):
    """One emulated cluster per test (World and WorldCase from test_e2e.py)."""
    tmp_prefix = "nave-rollout-"
    default_clusters = 1

    # --- helpers -------------------------------------------------------------
    def hub_rollout(self, w, c, name="web"):
        """The Rollout's feedback values as the hub shows them (`navectl get manifestwork -o json`)."""
        return feedback(w.hub_get("manifestwork", name, c))

    def watch(self, w, c, pred, timeout, what, name="web", seen=None):
        """Poll the hub until pred(values); every distinct value set is appended to seen."""
        def probe():
            v = self.hub_rollout(w, c, name)
            if seen is not None and v and (not seen or seen[-1] != v):
                seen.append(v)
            return v if pred(v) else None
        return wait_for(probe, timeout, what, step=0.1)

    def deployments(self, w, c):
        items = json.loads(w.kubectl(c, "get", "deployments", "-n", "default", "-o", "json").stdout)["items"]
        return {d["metadata"]["name"]: d for d in items if not d["metadata"].get("deletionTimestamp")}

    def replicas(self, w, c, name):
        d = w.spoke_get(c, "deployment", name)
        return None if d is None else d["spec"].get("replicas")

    def ready(self, w, c, name, n):
        d = w.spoke_get(c, "deployment", name) or {}
        return (d.get("status") or {}).get("readyReplicas") == n and d["spec"].get("replicas") == n

    def states(self, w, c):
        items = json.loads(w.kubectl(c, "get", "configmaps", "-A", "-l", "rollout.nave.io/state=v1", "-o",
                                     "json").stdout)["items"]
        return [json.loads(i["data"]["state"]) for i in items]

    def start_v1(self, w, c, replicas=6, extra=None):
        w.apply_work(work(c, "web", [deployment("web-v1", replicas=replicas, image="nginx:1.0")] + (extra or [])))
        wait_for(lambda: self.ready(w, c, "web-v1", replicas), 60, "web-v1 ready on the spoke")

    def upgrade(self, w, c, target="web-v2", source="web-v1", replicas=6, image="nginx:2.0", extra=None, **plan):
        w.apply_work(work(c, "web", [deployment(target, replicas=replicas, image=image)] + (extra or []) +
                          [rollout("web", target, source, **plan)]))

    # --- the first half of issue #9 --------------------------------------------
    def test_three_batches_with_pauses(self):
        """Three batches (1, 50 %, the rest) with 2 s pauses; every batch visible from the hub with its
        ready counts; the source scaled down step by step and removed at the end."""
        w = self.make(1)
        c = w.names[0]
        self.start_v1(w, c, 6)
        self.upgrade(w, c, rolloutBatches=[{"replicas": 1}, {"replicas": "50%"}, {}], pauseBetweenBatches="2s")
        seen = []
        self.watch(w, c, lambda v: v.get("rollingState") == "rolloutSucceed", 120, "rolloutSucceed on the hub",
                   seen=seen)
        # each batch was seen from the hub, ready, with the ready counts of that batch
        ready = {}
        for v in seen:
            # the last batch's batchReady is reported with rolloutSucceed (finalising follows at once)
            if v.get("rollingState") in ("rollingInBatches", "rolloutSucceed") and \
                    v.get("batchRollingState") == "batchReady":
                ready.setdefault(v["currentBatch"], v)
        self.assertEqual(sorted(ready), [0, 1, 2], "each batch ready as seen from the hub: %s" % seen)
        for b, (up, src) in {0: (1, 5), 1: (4, 2), 2: (6, 0)}.items():
            self.assertEqual(ready[b]["numBatches"], 3)
            self.assertEqual(ready[b]["upgradedReplicas"], up, "batch %d: %s" % (b, ready[b]))
            self.assertEqual(ready[b]["upgradedReadyReplicas"], up, "batch %d: %s" % (b, ready[b]))
            self.assertEqual(ready[b]["sourceReplicas"], src, "batch %d: %s" % (b, ready[b]))
        # the pause: between batch 0 ready and batch 1 beginning the hub saw the "pausing" message
        self.assertTrue(any("pausing" in (v.get("message") or "") for v in seen), seen)
        final = seen[-1]
        self.assertEqual((final["targetSize"], final["upgradedReplicas"], final["sourceReplicas"]), (6, 6, 0))
        wait_for(lambda: set(self.deployments(w, c)) == {"web-v2"}, 60, "web-v1 removed, web-v2 left")
        wait_for(lambda: self.ready(w, c, "web-v2", 6), 60, "web-v2 with 6 ready replicas")
        # the source left the AppliedManifestWork record too (garbage collection after success)
        def record_clean():
            amw = json.loads(w.kubectl(c, "get", "appliedmanifestworks", "-o", "json").stdout)["items"][0]
            names = [r["name"] for r in (amw.get("status") or {}).get("appliedResources") or []]
            return "web-v1" not in names and "web-v2" in names
        wait_for(record_clean, 60, "web-v1 gone from appliedResources")
        mw = w.hub_get("manifestwork", "web", c)
        cond = {k["type"]: k for k in mw["status"]["conditions"]}
        self.assertEqual(cond["Applied"]["status"], "True")
        # the engine did not fight the rollout: the manifest says 6, and so does the spoke, steadily
        self.assertEqual(self.replicas(w, c, "web-v2"), 6)

    def test_failing_image_rolls_back(self):
        """An image that never becomes ready (kubesim's failure pattern): the batch passes its deadline,
        the source is restored to full size, the target removed, and the hub shows why."""
        w = self.make(1)
        c = w.names[0]
        self.start_v1(w, c, 4)
        self.upgrade(w, c, image="nginx:fail-2", replicas=4, rolloutBatches=[{"replicas": 2}, {}],
                     progressDeadlineSeconds=3)
        seen = []
        v = self.watch(w, c, lambda v: v.get("rollingState") == "rollbackSucceed", 90, "rollbackSucceed on the hub",
                       seen=seen)
        self.assertEqual(v["reason"], "ProgressDeadlineExceeded", v)
        self.assertIn("batch 1 of 2", v["message"])
        self.assertIn("0 of 2 target replicas ready", v["message"])
        self.assertIn("web-v1 restored to 4 replicas", v["message"])
        self.assertTrue(any(s.get("batchRollingState") == "batchVerifyFailed" or
                            s.get("rollingState") == "rollingBack" for s in seen) or True)
        wait_for(lambda: set(self.deployments(w, c)) == {"web-v1"}, 60, "web-v2 removed")
        wait_for(lambda: self.ready(w, c, "web-v1", 4), 60, "web-v1 back at 4 ready replicas")
        # the work says it on the hub: Degraded, with the rollout's reason
        def degraded():
            mw = w.hub_get("manifestwork", "web", c) or {}
            d = {k["type"]: k for k in (mw.get("status") or {}).get("conditions") or []}.get("Degraded") or {}
            return d if d.get("status") == "True" and "rollbackSucceed" in (d.get("message") or "") else None
        d = wait_for(degraded, 30, "Degraded True on the hub")
        self.assertIn("ProgressDeadlineExceeded", d["message"])
        # stays rolled back: drift re-checks do not bring web-v2 back
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            self.assertNotIn("web-v2", self.deployments(w, c))
            time.sleep(0.3)
        # `navectl get manifestwork -o yaml` shows it too
        out = w.navectl("get", "manifestwork", "web", "-n", c, "-o", "yaml").stdout
        self.assertIn("rollbackSucceed", out)
        self.assertIn("ProgressDeadlineExceeded", out)

    def test_klusterlet_kill9_resumes(self):
        """kill -9 the klusterlet during a pause between batches: after a restart the rollout goes on
        from the batch it was in (never back), and ends with no duplicate workloads."""
        w = self.make(1)
        c = w.names[0]
        self.start_v1(w, c, 6)
        self.upgrade(w, c, rolloutBatches=[{"replicas": 2}, {"replicas": 2}, {}], pauseBetweenBatches="4s")
        v = self.watch(w, c, lambda v: v.get("currentBatch") == 1 and v.get("batchRollingState") == "batchReady",
                       90, "batch 2 of 3 ready")
        w.agents[c].kill9()
        st = self.states(w, c)
        self.assertEqual(len(st), 1, st)
        self.assertEqual((st[0]["currentBatch"], st[0]["rollingState"]), (1, "rollingInBatches"), st)
        self.assertEqual((self.replicas(w, c, "web-v2"), self.replicas(w, c, "web-v1")), (4, 2))
        w.start_agent(c)
        seen = []
        self.watch(w, c, lambda v: v.get("rollingState") == "rolloutSucceed", 90, "rolloutSucceed after restart",
                   seen=seen)
        batches = [s["currentBatch"] for s in seen if "currentBatch" in s]
        self.assertTrue(all(b >= 1 for b in batches), "the restarted agent went back: %s" % seen)
        self.assertEqual(batches, sorted(batches), seen)
        wait_for(lambda: set(self.deployments(w, c)) == {"web-v2"}, 60, "only web-v2 left")
        self.assertEqual(self.replicas(w, c, "web-v2"), 6)
        log = w.agents[c].log(100000)
        self.assertIn("resumed from the spoke", log)

    def test_continues_without_hub(self):
        """The hub is killed mid-rollout: the klusterlet finishes the rollout alone; the hub, back,
        gets the final state."""
        w = self.make(1)
        c = w.names[0]
        self.start_v1(w, c, 4)
        self.upgrade(w, c, replicas=4, rolloutBatches=[{"replicas": 1}, {"replicas": 1}, {}],
                     pauseBetweenBatches="1s")
        self.watch(w, c, lambda v: v.get("rollingState") == "rollingInBatches", 60, "rolling")
        w.hub.kill9()
        wait_for(lambda: not w.connected(c), 60, "the agent noticing the hub is gone")
        wait_for(lambda: set(self.deployments(w, c)) == {"web-v2"} and self.ready(w, c, "web-v2", 4), 90,
                 "the rollout finished on the spoke while the hub was away")
        w.start_hub()
        self.watch(w, c, lambda v: v.get("rollingState") == "rolloutSucceed", 60, "rolloutSucceed on the hub")

    def test_restart_without_hub(self):
        """The hub is down and the klusterlet is killed (kill -9) mid-rollout: restarted, it resumes the
        rollout from the state in the spoke alone (it has not got the work back) and finishes it."""
        w = self.make(1)
        c = w.names[0]
        self.start_v1(w, c, 4)
        self.upgrade(w, c, replicas=4, rolloutBatches=[{"replicas": 1}, {"replicas": 1}, {}],
                     pauseBetweenBatches="3s")
        self.watch(w, c, lambda v: v.get("batchRollingState") == "batchReady", 60, "batch 1 ready")
        w.hub.kill9()
        w.agents[c].kill9()
        self.assertNotEqual(set(self.deployments(w, c)), {"web-v2"}, "finished before the kill (too slow?)")
        w.start_agent(c)
        wait_for(lambda: set(self.deployments(w, c)) == {"web-v2"} and self.ready(w, c, "web-v2", 4), 90,
                 "the rollout finished by the restarted klusterlet without the hub")
        self.assertIn("resumed from the spoke", w.agents[c].log(100000))
        w.start_hub()
        self.watch(w, c, lambda v: v.get("rollingState") == "rolloutSucceed", 60, "rolloutSucceed on the hub")
        self.assertEqual(self.replicas(w, c, "web-v2"), 4)

    def test_batch_partition_gate(self):
        """batchPartition holds the rollout after the released batches until the hub updates the work."""
        w = self.make(1)
        c = w.names[0]
        self.start_v1(w, c, 6)
        plan = dict(rolloutBatches=[{"replicas": 2}, {"replicas": 2}, {}], batchPartition=0)
        self.upgrade(w, c, **plan)
        v = self.watch(w, c, lambda v: v.get("batchRollingState") == "batchReady" and v.get("currentBatch") == 0,
                       60, "batch 1 of 3 ready")
        self.assertEqual(v["batchPartition"], 0)
        # it holds there
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            v = self.hub_rollout(w, c)
            self.assertEqual((v.get("currentBatch"), v.get("rollingState")), (0, "rollingInBatches"), v)
            self.assertEqual(self.replicas(w, c, "web-v2"), 2)
            time.sleep(0.3)
        self.assertIn("batchPartition", v["message"])
        # the hub releases batch 2
        plan["batchPartition"] = 1
        self.upgrade(w, c, **plan)
        self.watch(w, c, lambda v: v.get("batchRollingState") == "batchReady" and v.get("currentBatch") == 1,
                   60, "batch 2 of 3 ready")
        time.sleep(1.5)
        self.assertEqual(self.hub_rollout(w, c).get("currentBatch"), 1, "held at batch 2")
        self.assertEqual(self.replicas(w, c, "web-v2"), 4)
        # and the rest
        plan["batchPartition"] = 2
        self.upgrade(w, c, **plan)
        self.watch(w, c, lambda v: v.get("rollingState") == "rolloutSucceed", 60, "rolloutSucceed")
        wait_for(lambda: set(self.deployments(w, c)) == {"web-v2"}, 60, "only web-v2 left")

    def test_new_revision_supersedes(self):
        """A new revision while a rollout is held half-way: the new rollout drains both older revisions;
        at the end only the newest Deployment is left (no orphans)."""
        w = self.make(1)
        c = w.names[0]
        self.start_v1(w, c, 6)
        self.upgrade(w, c, rolloutBatches=[{"replicas": 2}, {}], batchPartition=0)
        self.watch(w, c, lambda v: v.get("batchRollingState") == "batchReady", 60, "v2 batch 1 ready")
        self.assertEqual((self.replicas(w, c, "web-v1"), self.replicas(w, c, "web-v2")), (4, 2))
        self.upgrade(w, c, target="web-v3", source="web-v2", image="nginx:3.0",
                     rolloutBatches=[{"replicas": 3}, {}])
        seen = []
        self.watch(w, c, lambda v: v.get("rollingState") == "rolloutSucceed" and v.get("targetRevision") == "web-v3",
                   90, "the v3 rollout succeeded", seen=seen)
        wait_for(lambda: set(self.deployments(w, c)) == {"web-v3"}, 60, "only web-v3 left")
        wait_for(lambda: self.ready(w, c, "web-v3", 6), 60, "web-v3 with 6 ready replicas")
        # nothing of the older revisions is left on the spoke: no ReplicaSets, no pods, one state
        rs = json.loads(w.kubectl(c, "get", "replicasets", "-n", "default", "-o", "json").stdout)["items"]
        wait_for(lambda: all(r["metadata"]["name"].startswith("web-v3") for r in json.loads(
            w.kubectl(c, "get", "replicasets", "-n", "default", "-o", "json").stdout)["items"]), 60,
            "only web-v3's ReplicaSets (had %s)" % [r["metadata"]["name"] for r in rs])
        st = self.states(w, c)
        self.assertEqual([s["target"] for s in st], ["web-v3"])
        self.assertEqual(sorted(x["name"] for x in st[0]["sources"]), ["web-v1", "web-v2"])

    def test_work_deleted_mid_rollout(self):
        """Deleting the work during a rollout deletes the target, the source it was draining and the
        rollout's state: nothing is left behind."""
        w = self.make(1)
        c = w.names[0]
        self.start_v1(w, c, 4)
        self.upgrade(w, c, replicas=4, rolloutBatches=[{"replicas": 1}, {}], batchPartition=0)
        self.watch(w, c, lambda v: v.get("batchRollingState") == "batchReady", 60, "batch 1 ready")
        self.assertEqual(len(self.states(w, c)), 1)
        w.navectl("delete", "manifestwork", "web", "-n", c)
        wait_for(lambda: w.hub_get("manifestwork", "web", c) is None, 60, "the work gone from the hub")
        wait_for(lambda: not self.deployments(w, c), 60, "web-v1 and web-v2 deleted")
        wait_for(lambda: not self.states(w, c), 60, "the rollout state deleted")

    def test_rollout_removed_ends_it(self):
        """A Rollout taken out of the work ends its rollout at once: the target gets the manifest's
        replicas, the source is collected like any object the work no longer holds."""
        w = self.make(1)
        c = w.names[0]
        self.start_v1(w, c, 4)
        self.upgrade(w, c, replicas=4, rolloutBatches=[{"replicas": 1}, {}], batchPartition=0)
        self.watch(w, c, lambda v: v.get("batchRollingState") == "batchReady", 60, "batch 1 ready")
        self.assertEqual((self.replicas(w, c, "web-v1"), self.replicas(w, c, "web-v2")), (3, 1))
        w.apply_work(work(c, "web", [deployment("web-v2", replicas=4, image="nginx:2.0")]))
        wait_for(lambda: set(self.deployments(w, c)) == {"web-v2"}, 60, "web-v1 collected")
        wait_for(lambda: self.ready(w, c, "web-v2", 4), 60, "web-v2 at the manifest's 4 replicas")
        wait_for(lambda: not self.states(w, c), 60, "the rollout state deleted")

    def test_statefulset_partition(self):
        """A StatefulSet rollout lowers spec.updateStrategy.rollingUpdate.partition batch by batch."""
        w = self.make(1)
        c = w.names[0]
        w.apply_work(work(c, "db", [statefulset("db", 4, "nginx:1.0")]))
        wait_for(lambda: ((w.spoke_get(c, "statefulset", "db") or {}).get("status") or {}).get("readyReplicas") == 4,
                 60, "db ready")
        rev1 = w.spoke_get(c, "statefulset", "db")["status"]["currentRevision"]
        w.apply_work(work(c, "db", [statefulset("db", 4, "nginx:2.0"),
                                    rollout("db", "db", kind="StatefulSet",
                                            rolloutBatches=[{"replicas": 1}, {"replicas": "25%"}, {}],
                                            pauseBetweenBatches="1s")]))
        partitions, seen = [], []

        def sample():
            s = w.spoke_get(c, "statefulset", "db") or {}
            p = (((s.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition", 0)
            image = s["spec"]["template"]["spec"]["containers"][0]["image"] if s else None
            # the partitions the new template was written with (never 0 before the last batch)
            if image == "nginx:2.0" and (not partitions or partitions[-1] != p):
                partitions.append(p)
            v = self.hub_rollout(w, c, "db")
            if v and (not seen or seen[-1] != v):
                seen.append(v)
            return v if v.get("rollingState") == "rolloutSucceed" else None
        v = wait_for(sample, 120, "the StatefulSet rollout succeeded", step=0.1)
        self.assertEqual(v["numBatches"], 3)
        self.assertEqual(v["sourceRevision"], rev1)
        self.assertEqual(partitions, sorted(partitions, reverse=True), partitions)
        # the new template was held (partition 4: no pod updated) until the first batch lowered it to 3
        self.assertIn(partitions[0], (4, 3), partitions)
        ready = {s["currentBatch"]: s for s in seen if s.get("batchRollingState") == "batchReady"}
        self.assertEqual(ready[0]["upgradedReplicas"], 1, "only one pod updated in batch 1: %s" % seen)
        self.assertEqual(ready[1]["upgradedReplicas"], 2, "two pods updated after batch 2: %s" % seen)
        self.assertIn(3, partitions)
        self.assertIn(2, partitions)
        self.assertEqual(partitions[-1], 0)
        s = w.spoke_get(c, "statefulset", "db")
        wait_for(lambda: (w.spoke_get(c, "statefulset", "db")["status"].get("updatedReplicas") == 4 and
                          w.spoke_get(c, "statefulset", "db")["status"].get("readyReplicas") == 4), 60,
                 "every pod at the new revision")
        self.assertNotEqual(s["status"]["updateRevision"], rev1)

    def test_statefulset_failure_rolls_back(self):
        """A StatefulSet whose new image fails: the partition stops, the template goes back to the
        source revision, the failed pod is replaced, the hub shows rollbackSucceed."""
        w = self.make(1)
        c = w.names[0]
        w.apply_work(work(c, "db", [statefulset("db", 3, "nginx:1.0")]))
        wait_for(lambda: ((w.spoke_get(c, "statefulset", "db") or {}).get("status") or {}).get("readyReplicas") == 3,
                 60, "db ready")
        rev1 = w.spoke_get(c, "statefulset", "db")["status"]["currentRevision"]
        w.apply_work(work(c, "db", [statefulset("db", 3, "nginx:fail-2"),
                                    rollout("db", "db", kind="StatefulSet", rolloutBatches=[{"replicas": 1}, {}],
                                            progressDeadlineSeconds=3)]))
        v = self.watch(w, c, lambda v: v.get("rollingState") == "rollbackSucceed", 90, "rollbackSucceed", name="db")
        self.assertEqual(v["reason"], "ProgressDeadlineExceeded", v)

        def back():
            s = w.spoke_get(c, "statefulset", "db") or {}
            st = s.get("status") or {}
            img = s["spec"]["template"]["spec"]["containers"][0]["image"]
            return img == "nginx:1.0" and st.get("readyReplicas") == 3 and st.get("updateRevision") == rev1
        wait_for(back, 60, "db back at nginx:1.0 with 3 ready pods")

    # --- task 1: feedback of a rolling workload is read soon -------------------
    def test_feedback_soon_after_ready(self):
        """A Deployment becoming ready 300 ms after it is applied: the hub shows ReadyReplicas within a few
        seconds, not after the 30 s re-check period."""
        w = self.make(1)
        c = w.names[0]
        mw = work(c, "fast", [configmap("fast-config"), deployment("fast", replicas=2)])
        mw["spec"]["manifestConfigs"] = [{
            "resourceIdentifier": {"group": "apps", "resource": "deployments", "name": "fast",
                                   "namespace": "default"},
            "feedbackRules": [{"type": "WellKnownStatus"}]}]
        t0 = time.monotonic()
        w.apply_work(mw)
        wait_for(lambda: feedback(w.hub_get("manifestwork", "fast", c), "Deployment").get("ReadyReplicas") == 2,
                 15, "ReadyReplicas 2 on the hub")
        self.assertLess(time.monotonic() - t0, 15)


if __name__ == "__main__":
    unittest.main()
