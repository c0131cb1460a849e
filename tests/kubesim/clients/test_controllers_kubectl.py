#!/usr/bin/python3
"""nave-kubesim's simulated controllers as kubectl sees them.

StatefulSet partitioned rolling updates, DaemonSets on every node, Jobs that
complete or fail, cascading deletion (background, foreground, orphan) and
namespace termination, all through /usr/bin/kubectl against the binary.
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SimTestCase, wait_for  # noqa: E402


def sts_yaml(ns, image, partition=None, replicas=3):
    part = ("  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate:\n      partition: %d\n" % partition
            if partition is not None else "")
    return ("apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n  namespace: %s\nspec:\n"
            "  replicas: %d\n  serviceName: db\n%s  selector:\n    matchLabels:\n      app: db\n"
            "  template:\n    metadata:\n      labels:\n        app: db\n    spec:\n      containers:\n"
            "      - name: db\n        image: %s\n") % (ns, replicas, part, image)


class ControllersTest(SimTestCase):
    sim_args = {"extra": ["--nodes", "3"]}

    def test_nodes(self):
        nodes = self.sim.kubectl_json("get", "nodes")["items"]
        self.assertEqual(len(nodes), 3)
        out = self.sim.kubectl("get", "nodes").stdout
        self.assertEqual(out.count(" Ready "), 3, out)

    def test_statefulset_partitioned_rollout(self):
        ns = self.new_namespace("sts")
        self.sim.kubectl("apply", "-f", self.write("sts.yaml", sts_yaml(ns, "pg:15")))
        p = self.sim.kubectl("rollout", "status", "statefulset/db", "-n", ns, "--timeout=60s")
        # The server defaults rollingUpdate.partition to 0, so kubectl takes its partitioned path.
        self.assertIn("roll out complete: 3 new pods have been updated", p.stdout)
        out = self.sim.kubectl("get", "statefulset", "db", "-n", ns).stdout
        self.assertEqual(out.splitlines()[0].split(), ["NAME", "READY", "AGE"])
        self.assertEqual(out.splitlines()[1].split()[1], "3/3")
        pods = sorted(i["metadata"]["name"] for i in self.sim.kubectl_json("get", "pods", "-n", ns)["items"])
        self.assertEqual(pods, ["db-0", "db-1", "db-2"])

        self.sim.kubectl("apply", "-f", self.write("sts.yaml", sts_yaml(ns, "pg:16", partition=2)))
        p = self.sim.kubectl("rollout", "status", "statefulset/db", "-n", ns, "--timeout=60s")
        self.assertIn("partitioned roll out complete: 1 new pods have been updated", p.stdout)
        images = {i["metadata"]["name"]: i["spec"]["containers"][0]["image"]
                  for i in self.sim.kubectl_json("get", "pods", "-n", ns)["items"]}
        self.assertEqual(images, {"db-0": "pg:15", "db-1": "pg:15", "db-2": "pg:16"})
        st = self.sim.kubectl_json("get", "sts", "db", "-n", ns)["status"]
        self.assertNotEqual(st["currentRevision"], st["updateRevision"])
        self.assertEqual(st["updatedReplicas"], 1)

        self.sim.kubectl("patch", "sts", "db", "-n", ns, "-p",
                         '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}')
        p = self.sim.kubectl("rollout", "status", "statefulset/db", "-n", ns, "--timeout=60s")
        self.assertIn("3 new pods have been updated", p.stdout)
        wait_for(lambda: (lambda s: s["currentRevision"] == s["updateRevision"])(
            self.sim.kubectl_json("get", "sts", "db", "-n", ns)["status"]), what="currentRevision caught up")
        images = {i["spec"]["containers"][0]["image"] for i in self.sim.kubectl_json("get", "pods", "-n", ns)["items"]}
        self.assertEqual(images, {"pg:16"})

    def test_daemonset_on_every_node(self):
        ns = self.new_namespace("ds")
        self.sim.kubectl("apply", "-f", self.write("ds.yaml", (
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\n  namespace: %s\nspec:\n"
            "  selector:\n    matchLabels:\n      app: agent\n  template:\n    metadata:\n      labels:\n"
            "        app: agent\n    spec:\n      containers:\n      - name: a\n        image: agent:1\n") % ns))
        p = self.sim.kubectl("rollout", "status", "daemonset/agent", "-n", ns, "--timeout=60s")
        self.assertIn("successfully rolled out", p.stdout)
        pods = self.sim.kubectl_json("get", "pods", "-n", ns)["items"]
        self.assertEqual(len({p["spec"]["nodeName"] for p in pods}), 3)
        out = self.sim.kubectl("get", "ds", "agent", "-n", ns).stdout
        self.assertEqual(out.splitlines()[0].split()[:6], ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE",
                                                           "AVAILABLE"])
        self.assertEqual(out.splitlines()[1].split()[1:6], ["3", "3", "3", "3", "3"])
        self.sim.kubectl("set", "image", "ds/agent", "-n", ns, "a=agent:2")
        self.sim.kubectl("rollout", "status", "daemonset/agent", "-n", ns, "--timeout=60s")
        images = {p["spec"]["containers"][0]["image"] for p in self.sim.kubectl_json("get", "pods", "-n", ns)["items"]}
        self.assertEqual(images, {"agent:2"})

    def test_jobs_complete_and_fail(self):
        ns = self.new_namespace("job")
        self.sim.kubectl("create", "job", "ok", "-n", ns, "--image=busybox:1", "--", "true")
        self.sim.kubectl("wait", "--for=condition=complete", "job/ok", "-n", ns, "--timeout=60s")
        out = self.sim.kubectl("get", "job", "ok", "-n", ns).stdout
        self.assertIn("1/1", out)
        self.assertIn("Complete", out)
        out = self.sim.kubectl("get", "pods", "-n", ns, "-l", "job-name=ok").stdout
        self.assertIn("Completed", out)
        self.sim.kubectl("apply", "-f", self.write("badjob.yaml", (
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: bad\n  namespace: %s\nspec:\n  backoffLimit: 1\n"
            "  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: c\n"
            "        image: busybox:fail-now\n") % ns))
        self.sim.kubectl("wait", "--for=condition=failed", "job/bad", "-n", ns, "--timeout=60s")
        job = self.sim.kubectl_json("get", "job", "bad", "-n", ns)
        self.assertEqual(job["status"]["failed"], 2)
        self.assertNotIn("succeeded", job["status"])

    def test_cascading_deletion(self):
        ns = self.new_namespace("gc")
        for name in ("bg", "fg", "or"):
            self.sim.kubectl("create", "deployment", name, "-n", ns, "--image=nginx:1", "--replicas=2")
        for name in ("bg", "fg", "or"):
            self.sim.kubectl("rollout", "status", "deployment/" + name, "-n", ns, "--timeout=60s")

        def count(kind, app):
            return len(self.sim.kubectl_json("get", kind, "-n", ns, "-l", "app=" + app)["items"])

        self.sim.kubectl("delete", "deployment", "bg", "-n", ns, "--cascade=background", "--wait=true")
        wait_for(lambda: count("rs", "bg") == 0 and count("pods", "bg") == 0, what="background cascade")

        self.sim.kubectl("delete", "deployment", "fg", "-n", ns, "--cascade=foreground", "--wait=true",
                         "--timeout=60s")
        # Foreground: by the time the owner is gone, so are its dependents.
        self.assertEqual(count("rs", "fg"), 0)
        self.assertEqual(count("pods", "fg"), 0)

        self.sim.kubectl("delete", "deployment", "or", "-n", ns, "--cascade=orphan", "--wait=true", "--timeout=60s")
        rs = self.sim.kubectl_json("get", "rs", "-n", ns, "-l", "app=or")["items"]
        self.assertEqual(len(rs), 1)
        self.assertNotIn("ownerReferences", rs[0]["metadata"])
        self.assertEqual(count("pods", "or"), 2)

    def test_namespace_termination(self):
        ns = self.new_namespace("term")
        self.sim.kubectl("create", "deployment", "web", "-n", ns, "--image=nginx:1")
        self.sim.kubectl("create", "configmap", "cm", "-n", ns)
        self.sim.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
        p = self.sim.kubectl("delete", "namespace", ns, "--wait=false")
        self.assertIn("deleted", p.stdout)
        phase = json.loads(self.sim.kubectl("get", "namespace", ns, "-o", "json", check=False).stdout or
                           '{"status":{"phase":"Terminating"}}')["status"]["phase"]
        self.assertEqual(phase, "Terminating")
        wait_for(lambda: self.sim.kubectl("get", "namespace", ns, check=False).returncode != 0,
                 what="namespace gone")


if __name__ == "__main__":
    unittest.main(verbosity=2)
