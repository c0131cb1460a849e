#!/usr/bin/python3
"""test_app_rollout_e2e.py - an Application's cross-cluster rollout end to end (issue
#9): the real nave-hub, navectl, nave-klusterlets and nave-kubesim with six emulated
clusters (AppWorld of test_apps_e2e.py, World of tests/e2e/test_e2e.py), the wave
released by the hub in groups of two (a nave-rollout policy), checked on the spokes.

  test_wave_halts_in_group_two  v1 rolls out group by group with a soak; v2's image
                                fails on c3 (kubesim's failure pattern: a tag starting
                                with "fail" never becomes ready), so c3 passes its
                                progressDeadline in group two: the wave halts
                                (maxFailures 0), c5 and c6 keep v1 on their spokes,
                                `navectl rollout status` says why; `navectl rollout
                                rollback` rolls v1 out again as a new wave.

Run: test_app_rollout_e2e.py RolloutE2E.test_NAME (suite 'apps-e2e'). Environment as
test_e2e.py (NAVE_HUB, NAVECTL, NAVE_KLUSTERLET, NAVE_KUBESIM).
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_apps_e2e as apps  # noqa: E402

e2e = apps.e2e
CLUSTERS = ["c1", "c2", "c3", "c4", "c5", "c6"]


def app(image, fail_on=None):
    pols = [{"name": "everywhere", "type": "topology", "properties": {"clusterLabelSelector": {"fleet": "web"}}},
            {"name": "waves", "type": "nave-rollout",
             "properties": {"type": "ProgressivePerGroup",
                            "progressivePerGroup": {"minSuccessTime": "2s", "progressDeadline": "15s",
                                                    "maxFailures": 0},
                            "clustersPerDecisionGroup": 2}}]
    steps = ["everywhere", "waves"]
    if fail_on:
        pols.append({"name": "bad-image", "type": "override",
                     "properties": {"clusters": [fail_on],
                                    "components": [{"name": "web", "properties": {"image": "nginx:fail-2"}}]}})
        steps.append("bad-image")
    return apps.app_obj("web", {
        "components": [apps.webservice("web", image)],
        "policies": pols,
        "workflow": {"steps": [{"name": "rollout", "type": "deploy", "properties": {"policies": steps}}]}})


class RolloutE2E(e2e.WorldCase):
    # AppsE2E's helpers (not its tests: no subclassing)
    make = apps.AppsE2E.make
    wait_app = apps.AppsE2E.wait_app
    wait_running = apps.AppsE2E.wait_running
    wait_spoke = apps.AppsE2E.wait_spoke

    def image_on(self, w, c):
        d = w.deployment(c, "web")
        return d and apps.image(d)

    def rollout(self, w):
        return apps.dig(w.app("web"), "status", "rollout") or {}

    def states(self, w):
        return {c["name"]: c["state"] for c in self.rollout(w).get("clusters") or []}

    def test_wave_halts_in_group_two(self):
        w = self.make([(c, {"fleet": "web"}) for c in CLUSTERS])
        # v1, group by group: a group starts only after the previous one soaked
        w.apply(app("nginx:1.27"))
        e2e.wait_for(lambda: self.states(w).get("c1") == "Updating", 60, "group 1 released")
        self.assertEqual(self.states(w)["c3"], "Pending", self.rollout(w))
        self.assertIsNone(w.work_of("c3", "web"), "group 2 written before group 1 was done")
        seen = []

        def groups_in_order():
            st = self.states(w)
            cur = self.rollout(w).get("currentGroup")
            if cur is not None and (not seen or seen[-1] != cur):
                seen.append(cur)
            return all(st.get(c) == "Succeeded" for c in CLUSTERS)
        e2e.wait_for(groups_in_order, 120, "v1 on every cluster", step=0.2)
        self.assertEqual([g for g in seen if g >= 0], sorted(g for g in seen if g >= 0), seen)
        self.wait_running(w, "web")
        for c in CLUSTERS:
            self.assertEqual(self.image_on(w, c), "nginx:1.27", c)
        v1 = self.rollout(w)["revision"]

        # v2: c3's image fails (group two), the wave halts, c5 and c6 keep v1
        w.apply(app("nginx:1.28", fail_on="c3"))
        a = self.wait_app(w, "web", lambda a: apps.dig(a, "status", "rollout", "phase") == "Halted",
                          "the wave halts", timeout=120)
        ro = a["status"]["rollout"]
        st = {c["name"]: c for c in ro["clusters"]}
        self.assertEqual(st["c3"]["state"], "Failed", ro)
        self.assertIn(st["c3"]["reason"], ("Timeout", "Degraded"), ro)
        self.assertEqual(st["c1"]["state"], "Succeeded", ro)
        self.assertEqual(st["c5"]["state"], "Pending", ro)
        self.assertEqual(st["c6"]["state"], "Pending", ro)
        self.assertIn("maxFailures 0", ro["message"])
        step = [s for s in a["status"]["workflow"]["steps"] if s["name"] == "rollout"][0]
        self.assertEqual((step["phase"], step["reason"]), ("failed", "RolloutHalted"), step)
        for c in ("c1", "c2", "c4"):
            self.assertEqual(self.image_on(w, c), "nginx:1.28", c)
        self.assertEqual(self.image_on(w, "c3"), "nginx:fail-2")
        for c in ("c5", "c6"):
            self.assertEqual(self.image_on(w, c), "nginx:1.27", c)
            self.assertEqual(w.work_of(c, "web")["metadata"]["annotations"].get("app.oam.dev/app-revision"), v1,
                             "the work of %s was rewritten" % c)
        out = w.navectl("rollout", "status", "web").stdout
        self.assertIn("Halted", out)
        self.assertIn("c3", out)
        self.assertIn("progressDeadline", out)
        time.sleep(1)
        for c in ("c5", "c6"):
            self.assertEqual(self.image_on(w, c), "nginx:1.27", c)

        # rollback: v1 again, as a new wave, every cluster back on nginx:1.27
        w.navectl("rollout", "rollback", "web")
        e2e.wait_for(lambda: self.rollout(w).get("revision") == v1 and self.rollout(w).get("phase") == "Succeeded",
                     150, "the rollback wave succeeds", step=0.3)
        for c in CLUSTERS:
            self.wait_spoke(w, c, "deployment", "web", "default", lambda d: apps.image(d) == "nginx:1.27",
                            "back on nginx:1.27")


if __name__ == "__main__":
    unittest.main()
