#!/usr/bin/python3
"""The machine's /usr/bin/kubectl against nave-kubesim.

What kubectl users do every day, checked on the live objects afterwards, not
only on kubectl's exit code: api-resources, client-side and server-side apply
(with conflicts), tables, patches of every type, scale, rollout status to
success and to ProgressDeadlineExceeded, delete --wait, get -w, CRDs and their
custom resources, -A and label selectors, and the server's errors for bad input.
"""

import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LineReader, SimTestCase, check_no_crash, wait_for  # noqa: E402


def deployment_yaml(name, ns, image="nginx:1", replicas=2, extra_container=True, tier=True,
                    progress_deadline=None):
    labels = "    app: %s\n" % name
    if tier:
        labels += "    tier: frontend\n"
    containers = ("      - name: web\n"
                  "        image: %s\n"
                  "        ports:\n"
                  "        - containerPort: 80\n" % image)
    if extra_container:
        containers += ("      - name: sidecar\n"
                       "        image: busybox:1\n"
                       "        env:\n"
                       "        - name: MODE\n"
                       "          value: side\n")
    pds = "  progressDeadlineSeconds: %d\n" % progress_deadline if progress_deadline else ""
    return ("apiVersion: apps/v1\n"
            "kind: Deployment\n"
            "metadata:\n"
            "  name: %s\n"
            "  namespace: %s\n"
            "  labels:\n%s"
            "spec:\n"
            "  replicas: %d\n%s"
            "  selector:\n"
            "    matchLabels:\n"
            "      app: %s\n"
            "  template:\n"
            "    metadata:\n"
            "      labels:\n"
            "        app: %s\n"
            "    spec:\n"
            "      containers:\n%s") % (name, ns, labels, replicas, pds, name, name, containers)


def header(table_text):
    return table_text.splitlines()[0].split()


class KubectlTest(SimTestCase):

    # --- discovery ------------------------------------------------------------------

    def test_api_resources(self):
        out = self.sim.kubectl("api-resources").stdout
        rows = {}
        for line in out.splitlines()[1:]:
            cols = line.split()
            rows[cols[0]] = cols
        for res in ("namespaces", "configmaps", "secrets", "services", "serviceaccounts", "pods", "events",
                    "deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "leases", "ingresses",
                    "persistentvolumeclaims", "roles", "rolebindings", "clusterroles", "clusterrolebindings",
                    "customresourcedefinitions", "nodes"):
            self.assertIn(res, rows, "api-resources lacks %s:\n%s" % (res, out))
        self.assertIn("deploy", rows["deployments"])
        self.assertIn("apps/v1", rows["deployments"])
        self.assertIn("Deployment", rows["deployments"])
        self.assertEqual(rows["deployments"][-2], "true")  # NAMESPACED
        self.assertEqual(rows["namespaces"][-2], "false")
        cluster_scoped = self.sim.kubectl("api-resources", "--namespaced=false", "-o", "name").stdout.split()
        self.assertIn("nodes", cluster_scoped)
        self.assertIn("clusterroles.rbac.authorization.k8s.io", cluster_scoped)
        self.assertNotIn("pods", cluster_scoped)
        # kubectl version talks to /version
        v = json.loads(self.sim.kubectl("version", "-o", "json").stdout)
        self.assertIn("serverVersion", v)
        self.assertTrue(v["serverVersion"]["gitVersion"].startswith("v1."))

    # --- client-side apply -------------------------------------------------------

    def test_apply_client_side_create_change_remove(self):
        ns = self.new_namespace("csa")
        f = self.write("csa.yaml", deployment_yaml("web", ns))
        out = self.sim.kubectl("apply", "-f", f).stdout
        self.assertIn("deployment.apps/web created", out)
        d = self.sim.kubectl_json("get", "deployment", "web", "-n", ns)
        self.assertEqual([c["name"] for c in d["spec"]["template"]["spec"]["containers"]], ["web", "sidecar"])
        self.assertEqual(d["metadata"]["labels"]["tier"], "frontend")
        self.assertIn("kubectl.kubernetes.io/last-applied-configuration", d["metadata"]["annotations"])
        self.assertGreaterEqual(d["metadata"]["generation"], 1)
        self.sim.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
        gen1 = self.sim.kubectl_json("get", "deployment", "web", "-n", ns)["metadata"]["generation"]
        uid = d["metadata"]["uid"]

        # Change the image, drop the sidecar container and the tier label.
        f = self.write("csa.yaml", deployment_yaml("web", ns, image="nginx:2", extra_container=False, tier=False))
        out = self.sim.kubectl("apply", "-f", f).stdout
        self.assertIn("deployment.apps/web configured", out)
        d = self.sim.kubectl_json("get", "deployment", "web", "-n", ns)
        self.assertEqual(d["metadata"]["uid"], uid)
        containers = d["spec"]["template"]["spec"]["containers"]
        self.assertEqual([c["name"] for c in containers], ["web"], "the removed container is still there")
        self.assertEqual(containers[0]["image"], "nginx:2")
        self.assertEqual([pt["containerPort"] for pt in containers[0]["ports"]], [80])
        self.assertNotIn("tier", d["metadata"].get("labels", {}), "the removed label is still there")
        self.assertEqual(d["metadata"]["labels"]["app"], "web")
        self.assertGreater(d["metadata"]["generation"], gen1)
        last = json.loads(d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
        self.assertEqual(len(last["spec"]["template"]["spec"]["containers"]), 1)

        self.sim.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
        gen2 = self.sim.kubectl_json("get", "deployment", "web", "-n", ns)["metadata"]["generation"]
        out = self.sim.kubectl("apply", "-f", f).stdout
        self.assertIn("deployment.apps/web unchanged", out)
        d2 = self.sim.kubectl_json("get", "deployment", "web", "-n", ns)
        self.assertEqual(d2["metadata"]["generation"], gen2)

    def test_apply_configmap_and_multi_document(self):
        ns = self.new_namespace("multi")
        f = self.write("multi.yaml",
                       "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: %s\ndata:\n  k: v\n"
                       "---\n"
                       "apiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n  namespace: %s\nstringData:\n  pw: x\n"
                       "---\n"
                       "apiVersion: v1\nkind: Service\nmetadata:\n  name: c\n  namespace: %s\nspec:\n"
                       "  selector:\n    app: c\n  ports:\n  - port: 80\n    targetPort: 8080\n" % (ns, ns, ns))
        out = self.sim.kubectl("apply", "-f", f).stdout
        self.assertIn("configmap/a created", out)
        self.assertIn("secret/b created", out)
        self.assertIn("service/c created", out)
        s = self.sim.kubectl_json("get", "secret", "b", "-n", ns)
        self.assertEqual(s["data"], {"pw": "eA=="}, "stringData must be folded into data")
        svc = self.sim.kubectl_json("get", "service", "c", "-n", ns)
        self.assertEqual(svc["spec"]["ports"][0]["port"], 80)

    # --- server-side apply -------------------------------------------------------

    def test_server_side_apply_conflicts(self):
        ns = self.new_namespace("ssa")
        f = self.write("ssa.yaml", deployment_yaml("api", ns, replicas=2))
        out = self.sim.kubectl("apply", "--server-side", "-f", f).stdout
        self.assertIn("serverside-applied", out)
        d = self.sim.kubectl_json("get", "deployment", "api", "-n", ns, "--show-managed-fields")
        managers = {m["manager"]: m for m in d["metadata"]["managedFields"]}
        self.assertIn("kubectl", managers)
        self.assertEqual(managers["kubectl"]["operation"], "Apply")
        self.assertEqual(managers["kubectl"]["fieldsType"], "FieldsV1")

        # kubectl scale takes .spec.replicas; re-applying 2 conflicts with it.
        self.sim.kubectl("scale", "deployment/api", "-n", ns, "--replicas=4")
        p = self.sim.kubectl("apply", "--server-side", "-f", f, check=False)
        self.assertNotEqual(p.returncode, 0, "apply should conflict:\n" + p.stdout)
        self.assertIn("conflict", p.stderr.lower())
        self.assertIn(".spec.replicas", p.stderr)
        check_no_crash(self, p)
        self.assertEqual(self.sim.kubectl_json("get", "deployment", "api", "-n", ns)["spec"]["replicas"], 4)

        p = self.sim.kubectl("apply", "--server-side", "--force-conflicts", "-f", f)
        self.assertIn("serverside-applied", p.stdout)
        d = self.sim.kubectl_json("get", "deployment", "api", "-n", ns)
        self.assertEqual(d["spec"]["replicas"], 2)

        # A field dropped from the next apply is removed from the object.
        f2 = self.write("ssa2.yaml", deployment_yaml("api", ns, replicas=2, extra_container=False, tier=False))
        self.sim.kubectl("apply", "--server-side", "-f", f2)
        d = self.sim.kubectl_json("get", "deployment", "api", "-n", ns)
        self.assertEqual([c["name"] for c in d["spec"]["template"]["spec"]["containers"]], ["web"])
        self.assertNotIn("tier", d["metadata"]["labels"])

    def test_server_side_apply_after_client_side_apply(self):
        """kubectl 1.32 migrates client-side apply ownership to its server-side manager
        (no conflict); another manager's apply then conflicts with the fields
        client-side apply owns, naming kubectl-client-side-apply."""
        ns = self.new_namespace("ssacsa")
        f = self.write("mix.yaml", deployment_yaml("mix", ns, replicas=1))
        self.sim.kubectl("apply", "-f", f)
        other = self.write("other.yaml", deployment_yaml("other", ns, replicas=1))
        self.sim.kubectl("apply", "-f", other)

        # Another manager (no kubectl migration in between): 409 naming the CSA manager.
        from kubernetes import dynamic
        dyn = dynamic.DynamicClient(self.sim.api_client())
        deploys = dyn.resources.get(api_version="apps/v1", kind="Deployment")
        body = json.dumps({"apiVersion": "apps/v1", "kind": "Deployment",
                           "metadata": {"name": "other", "namespace": ns}, "spec": {"replicas": 3}})
        with self.assertRaises(Exception) as ctx:
            deploys.server_side_apply(body=body, name="other", namespace=ns, field_manager="someone-else")
        self.assertEqual(getattr(ctx.exception, "status", None), 409)
        status = json.loads(ctx.exception.body)
        self.assertEqual(status["reason"], "Conflict")
        self.assertIn('conflict with "kubectl-client-side-apply"', status["message"])
        self.assertEqual([c["field"] for c in status["details"]["causes"]], [".spec.replicas"])
        self.assertEqual(status["details"]["causes"][0]["reason"], "FieldManagerConflict")
        deploys.server_side_apply(body=body, name="other", namespace=ns, field_manager="someone-else",
                                  force_conflicts=True)
        self.assertEqual(self.sim.kubectl_json("get", "deploy", "other", "-n", ns)["spec"]["replicas"], 3)

        # kubectl --server-side on a client-side applied object: ownership migrated, no conflict.
        f2 = self.write("mix2.yaml", deployment_yaml("mix", ns, replicas=3))
        p = self.sim.kubectl("apply", "--server-side", "-f", f2)
        self.assertIn("serverside-applied", p.stdout)
        d = self.sim.kubectl_json("get", "deploy", "mix", "-n", ns, "--show-managed-fields")
        self.assertEqual(d["spec"]["replicas"], 3)
        owners = {m["manager"]: m for m in d["metadata"]["managedFields"]}
        self.assertIn("f:replicas", json.dumps(owners["kubectl"]["fieldsV1"]))

    # --- get: tables and JSON ----------------------------------------------------

    def test_get_tables(self):
        ns = self.new_namespace("tables")
        self.sim.kubectl("apply", "-f", self.write("tab.yaml", deployment_yaml("tab", ns, replicas=2)))
        self.sim.kubectl("create", "configmap", "cm1", "-n", ns, "--from-literal=a=1", "--from-literal=b=2")
        self.sim.kubectl("create", "service", "clusterip", "svc1", "-n", ns, "--tcp=80:8080")

        out = self.sim.kubectl("get", "deployments", "-n", ns).stdout
        self.assertEqual(header(out), ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], out)
        row = out.splitlines()[1].split()
        self.assertEqual(row[0], "tab")
        self.assertRegex(row[1], r"^\d+/2$")

        wide = self.sim.kubectl("get", "deployment", "tab", "-n", ns, "-o", "wide").stdout
        self.assertEqual(header(wide), ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES",
                                        "SELECTOR"], wide)
        self.assertIn("web,sidecar", wide)
        self.assertIn("nginx:1,busybox:1", wide)
        self.assertIn("app=tab", wide)

        out = self.sim.kubectl("get", "configmaps", "cm1", "-n", ns).stdout
        self.assertEqual(header(out), ["NAME", "DATA", "AGE"])
        self.assertEqual(out.splitlines()[1].split()[:2], ["cm1", "2"])

        out = self.sim.kubectl("get", "services", "-n", ns).stdout
        self.assertEqual(header(out), ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"])
        self.assertIn("80/TCP", out)

        out = self.sim.kubectl("get", "namespaces", ns).stdout
        self.assertEqual(header(out), ["NAME", "STATUS", "AGE"])
        self.assertEqual(out.splitlines()[1].split()[:2], [ns, "Active"])

        out = self.sim.kubectl("get", "nodes").stdout
        self.assertEqual(header(out), ["NAME", "STATUS", "ROLES", "AGE", "VERSION"])
        self.assertIn("Ready", out)

        self.sim.kubectl("create", "clusterrole", "reader-%s" % ns, "--verb=get", "--resource=pods")
        out = self.sim.kubectl("get", "clusterroles").stdout
        self.assertEqual(header(out), ["NAME", "CREATED", "AT"])

        # -o json: a List with items; a single object is the object itself.
        lst = self.sim.kubectl_json("get", "deployments", "-n", ns)
        self.assertEqual(lst["kind"], "List")
        self.assertEqual([i["metadata"]["name"] for i in lst["items"]], ["tab"])
        self.assertEqual(lst["items"][0]["kind"], "Deployment")
        one = self.sim.kubectl_json("get", "deployment", "tab", "-n", ns)
        self.assertEqual(one["kind"], "Deployment")
        self.assertEqual(one["apiVersion"], "apps/v1")
        for f in ("uid", "resourceVersion", "creationTimestamp", "generation"):
            self.assertIn(f, one["metadata"])
        # -o jsonpath and -o name go through the same objects.
        self.assertEqual(self.sim.kubectl("get", "deploy", "tab", "-n", ns, "-o",
                                          "jsonpath={.spec.replicas}").stdout, "2")
        self.assertEqual(self.sim.kubectl("get", "deploy", "-n", ns, "-o", "name").stdout.strip(),
                         "deployment.apps/tab")
        # Unknown object: NotFound from the server.
        p = self.sim.kubectl("get", "deployment", "nope", "-n", ns, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('deployments.apps "nope" not found', p.stderr)
        # Empty namespace listing.
        empty = self.new_namespace("empty")
        p = self.sim.kubectl("get", "deployments", "-n", empty)
        self.assertIn("No resources found", p.stderr + p.stdout)

    def test_get_pods_of_deployment(self):
        ns = self.new_namespace("pods")
        self.sim.kubectl("apply", "-f", self.write("pods.yaml", deployment_yaml("pp", ns, replicas=2,
                                                                                extra_container=False)))
        self.sim.kubectl("rollout", "status", "deployment/pp", "-n", ns, "--timeout=60s")
        out = self.sim.kubectl("get", "pods", "-n", ns, "-l", "app=pp").stdout
        self.assertEqual(header(out), ["NAME", "READY", "STATUS", "RESTARTS", "AGE"])
        rows = [l.split() for l in out.splitlines()[1:]]
        self.assertEqual(len(rows), 2, out)
        for r in rows:
            self.assertTrue(r[0].startswith("pp-"), r)
            self.assertEqual(r[1:3], ["1/1", "Running"], out)
        rs = self.sim.kubectl_json("get", "replicasets", "-n", ns)["items"]
        self.assertEqual(len(rs), 1)
        self.assertIn("pod-template-hash", rs[0]["metadata"]["labels"])
        self.assertEqual(rs[0]["metadata"]["ownerReferences"][0]["kind"], "Deployment")
        out = self.sim.kubectl("get", "rs", "-n", ns).stdout
        self.assertEqual(header(out), ["NAME", "DESIRED", "CURRENT", "READY", "AGE"])

    # --- patch ----------------------------------------------------------------------

    def test_patch_types(self):
        ns = self.new_namespace("patch")
        self.sim.kubectl("apply", "-f", self.write("p.yaml", deployment_yaml("pt", ns, replicas=1)))

        # strategic: containers merge by name (web kept, sidecar changed, extra added)
        self.sim.kubectl("patch", "deployment", "pt", "-n", ns, "--type", "strategic", "-p", json.dumps(
            {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox:2"},
                                                           {"name": "extra", "image": "redis:7"}]}}}}))
        d = self.sim.kubectl_json("get", "deploy", "pt", "-n", ns)
        cs = {c["name"]: c for c in d["spec"]["template"]["spec"]["containers"]}
        self.assertEqual(set(cs), {"web", "sidecar", "extra"})
        self.assertEqual(cs["sidecar"]["image"], "busybox:2")
        self.assertEqual(cs["sidecar"]["env"], [{"name": "MODE", "value": "side"}], "env must survive the merge")
        self.assertEqual(cs["web"]["image"], "nginx:1")

        # strategic $patch: delete directive
        self.sim.kubectl("patch", "deployment", "pt", "-n", ns, "-p", json.dumps(
            {"spec": {"template": {"spec": {"containers": [{"name": "extra", "$patch": "delete"}]}}}}))
        d = self.sim.kubectl_json("get", "deploy", "pt", "-n", ns)
        self.assertEqual(sorted(c["name"] for c in d["spec"]["template"]["spec"]["containers"]), ["sidecar", "web"])
        self.assertNotIn("$patch", json.dumps(d))

        # merge: lists replace, null deletes
        self.sim.kubectl("patch", "deployment", "pt", "-n", ns, "--type", "merge", "-p", json.dumps(
            {"metadata": {"labels": {"patched": "yes", "tier": None}}}))
        d = self.sim.kubectl_json("get", "deploy", "pt", "-n", ns)
        self.assertEqual(d["metadata"]["labels"].get("patched"), "yes")
        self.assertNotIn("tier", d["metadata"]["labels"])

        # json patch
        self.sim.kubectl("patch", "deployment", "pt", "-n", ns, "--type", "json", "-p", json.dumps(
            [{"op": "replace", "path": "/spec/replicas", "value": 3},
             {"op": "add", "path": "/metadata/annotations/note", "value": "x"},
             {"op": "test", "path": "/metadata/name", "value": "pt"}]))
        d = self.sim.kubectl_json("get", "deploy", "pt", "-n", ns)
        self.assertEqual(d["spec"]["replicas"], 3)
        self.assertEqual(d["metadata"]["annotations"]["note"], "x")

        # a failing json patch test op is refused and changes nothing
        p = self.sim.kubectl("patch", "deployment", "pt", "-n", ns, "--type", "json", "-p", json.dumps(
            [{"op": "test", "path": "/spec/replicas", "value": 99}, {"op": "replace", "path": "/spec/replicas",
                                                                    "value": 7}]), check=False)
        self.assertNotEqual(p.returncode, 0)
        check_no_crash(self, p)
        self.assertEqual(self.sim.kubectl_json("get", "deploy", "pt", "-n", ns)["spec"]["replicas"], 3)

        # merge patch of a ConfigMap's data
        self.sim.kubectl("create", "configmap", "pc", "-n", ns, "--from-literal=a=1")
        self.sim.kubectl("patch", "configmap", "pc", "-n", ns, "--type", "merge", "-p",
                         '{"data":{"a":null,"b":"2"}}')
        self.assertEqual(self.sim.kubectl_json("get", "cm", "pc", "-n", ns)["data"], {"b": "2"})

        # status subresource patch does not bump generation
        gen = self.sim.kubectl_json("get", "deploy", "pt", "-n", ns)["metadata"]["generation"]
        self.sim.kubectl("patch", "deployment", "pt", "-n", ns, "--subresource", "status", "--type", "merge", "-p",
                         '{"status":{"observedGeneration":%d}}' % gen)
        self.assertEqual(self.sim.kubectl_json("get", "deploy", "pt", "-n", ns)["metadata"]["generation"], gen)

    # --- scale and rollout --------------------------------------------------------

    def test_scale(self):
        ns = self.new_namespace("scale")
        self.sim.kubectl("apply", "-f", self.write("s.yaml", deployment_yaml("sc", ns, replicas=1,
                                                                             extra_container=False)))
        out = self.sim.kubectl("scale", "deployment", "sc", "-n", ns, "--replicas=3").stdout
        self.assertIn("deployment.apps/sc scaled", out)
        self.assertEqual(self.sim.kubectl_json("get", "deploy", "sc", "-n", ns)["spec"]["replicas"], 3)
        wait_for(lambda: self.sim.kubectl_json("get", "deploy", "sc", "-n", ns)["status"].get("readyReplicas") == 3,
                 what="3 ready replicas")
        # --current-replicas precondition that does not hold is refused.
        p = self.sim.kubectl("scale", "deployment", "sc", "-n", ns, "--current-replicas=7", "--replicas=1",
                             check=False)
        self.assertNotEqual(p.returncode, 0)
        self.sim.kubectl("scale", "deployment", "sc", "-n", ns, "--replicas=0")
        wait_for(lambda: len(self.sim.kubectl_json("get", "pods", "-n", ns, "-l", "app=sc")["items"]) == 0,
                 what="pods gone after scale to 0")

    def test_rollout_status_success(self):
        ns = self.new_namespace("roll")
        self.sim.kubectl("apply", "-f", self.write("r.yaml", deployment_yaml("ro", ns, replicas=2)))
        p = self.sim.kubectl("rollout", "status", "deployment/ro", "-n", ns, "--timeout=60s")
        self.assertIn('deployment "ro" successfully rolled out', p.stdout)
        d = self.sim.kubectl_json("get", "deploy", "ro", "-n", ns)
        st = d["status"]
        self.assertEqual(st["observedGeneration"], d["metadata"]["generation"])
        self.assertEqual((st["replicas"], st["updatedReplicas"], st["readyReplicas"], st["availableReplicas"]),
                         (2, 2, 2, 2))
        conds = {c["type"]: c for c in st["conditions"]}
        self.assertEqual(conds["Available"]["status"], "True")
        self.assertEqual(conds["Available"]["reason"], "MinimumReplicasAvailable")
        self.assertEqual(conds["Progressing"]["status"], "True")
        self.assertEqual(conds["Progressing"]["reason"], "NewReplicaSetAvailable")

        # A new image: a new ReplicaSet, rolled out again.
        self.sim.kubectl("set", "image", "deployment/ro", "-n", ns, "web=nginx:2")
        p = self.sim.kubectl("rollout", "status", "deployment/ro", "-n", ns, "--timeout=60s")
        self.assertIn("successfully rolled out", p.stdout)
        rss = self.sim.kubectl_json("get", "rs", "-n", ns)["items"]
        self.assertEqual(len(rss), 2)
        by_image = {r["spec"]["template"]["spec"]["containers"][0]["image"]: r for r in rss}
        self.assertEqual(by_image["nginx:2"]["spec"]["replicas"], 2)
        self.assertEqual(by_image["nginx:1"]["spec"]["replicas"], 0)
        self.assertIn("ro-", by_image["nginx:2"]["metadata"]["name"])
        self.assertNotEqual(by_image["nginx:1"]["metadata"]["labels"]["pod-template-hash"],
                            by_image["nginx:2"]["metadata"]["labels"]["pod-template-hash"])

        # History and undo: the old replica set comes back as revision 3.
        hist = self.sim.kubectl("rollout", "history", "deployment/ro", "-n", ns).stdout
        self.assertEqual([l.split()[0] for l in hist.splitlines()[2:] if l.strip()], ["1", "2"])
        self.sim.kubectl("rollout", "undo", "deployment/ro", "-n", ns)
        self.sim.kubectl("rollout", "status", "deployment/ro", "-n", ns, "--timeout=60s")
        d = self.sim.kubectl_json("get", "deploy", "ro", "-n", ns)
        self.assertEqual(d["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1")
        hist = self.sim.kubectl("rollout", "history", "deployment/ro", "-n", ns).stdout
        self.assertEqual([l.split()[0] for l in hist.splitlines()[2:] if l.strip()], ["2", "3"])

    def test_rollout_status_progress_deadline_exceeded(self):
        ns = self.new_namespace("fail")
        self.sim.kubectl("apply", "-f", self.write("f.yaml", deployment_yaml("bad", ns, image="web:fail-2",
                                                                             replicas=1, extra_container=False,
                                                                             progress_deadline=2)))
        t0 = time.monotonic()
        p = self.sim.kubectl("rollout", "status", "deployment/bad", "-n", ns, "--timeout=60s", check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("exceeded its progress deadline", p.stderr)
        self.assertLess(time.monotonic() - t0, 30)
        st = self.sim.kubectl_json("get", "deploy", "bad", "-n", ns)["status"]
        conds = {c["type"]: c for c in st["conditions"]}
        self.assertEqual(conds["Progressing"]["status"], "False")
        self.assertEqual(conds["Progressing"]["reason"], "ProgressDeadlineExceeded")
        self.assertEqual(st.get("readyReplicas", 0), 0)
        out = self.sim.kubectl("get", "pods", "-n", ns).stdout
        self.assertNotIn("Running", out)

    # --- delete -----------------------------------------------------------------------

    def test_delete_wait(self):
        ns = self.new_namespace("del")
        self.sim.kubectl("apply", "-f", self.write("d.yaml", deployment_yaml("gone", ns, replicas=1)))
        p = self.sim.kubectl("delete", "deployment", "gone", "-n", ns, "--wait=true", "--timeout=30s")
        self.assertIn('deployment.apps "gone" deleted', p.stdout)
        p = self.sim.kubectl("get", "deployment", "gone", "-n", ns, check=False)
        self.assertIn("not found", p.stderr)

        # A finalizer holds the object: delete --wait returns only once it is removed.
        self.sim.kubectl("apply", "-f", self.write("fin.yaml",
                                                   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n"
                                                   "  namespace: %s\n  finalizers:\n  - example.com/hold\n" % ns))
        w = self.sim.kubectl_popen("delete", "configmap", "held", "-n", ns, "--wait=true", "--timeout=60s")
        wait_for(lambda: "deletionTimestamp" in self.sim.kubectl_json("get", "cm", "held", "-n", ns)["metadata"],
                 what="deletionTimestamp set")
        self.assertIsNone(w.poll(), "delete --wait returned while the finalizer still holds the object")
        self.sim.kubectl("patch", "configmap", "held", "-n", ns, "--type", "merge", "-p",
                         '{"metadata":{"finalizers":null}}')
        out, err = w.communicate(timeout=30)
        self.assertEqual(w.returncode, 0, err)
        self.assertIn('configmap "held" deleted', out.decode())
        p = self.sim.kubectl("get", "configmap", "held", "-n", ns, check=False)
        self.assertNotEqual(p.returncode, 0)

        # Deleting a namespace deletes what it holds.
        self.sim.kubectl("create", "configmap", "inside", "-n", ns)
        self.sim.kubectl("delete", "namespace", ns, "--wait=true", "--timeout=60s")
        p = self.sim.kubectl("get", "namespace", ns, check=False)
        self.assertIn("not found", p.stderr)
        # The protected namespaces stay.
        p = self.sim.kubectl("delete", "namespace", "default", check=False)
        self.assertNotEqual(p.returncode, 0)
        check_no_crash(self, p)

    # --- watch --------------------------------------------------------------------------

    def test_get_watch_events(self):
        ns = self.new_namespace("watch")
        self.sim.kubectl("create", "configmap", "w0", "-n", ns)
        w = self.sim.kubectl_popen("get", "configmaps", "-n", ns, "--watch", "--output-watch-events")
        try:
            out = LineReader(w.stdout)
            out.wait_line(lambda l: l.split()[:2] == ["ADDED", "w0"], what="ADDED w0 (initial state)")
            self.sim.kubectl("create", "configmap", "w1", "-n", ns, "--from-literal=a=1")
            out.wait_line(lambda l: l.split()[:2] == ["ADDED", "w1"], what="ADDED w1")
            self.sim.kubectl("patch", "configmap", "w1", "-n", ns, "--type", "merge", "-p", '{"data":{"b":"2"}}')
            line = out.wait_line(lambda l: l.split()[:2] == ["MODIFIED", "w1"], what="MODIFIED w1")
            self.assertEqual(line.split()[2], "2")  # DATA column of the watch Table
            self.sim.kubectl("delete", "configmap", "w1", "-n", ns)
            out.wait_line(lambda l: l.split()[:2] == ["DELETED", "w1"], what="DELETED w1")
        finally:
            w.kill()
            w.wait()
            w.stdout.close()
            w.stderr.close()

    def test_watch_json(self):
        ns = self.new_namespace("wjson")
        self.sim.kubectl("create", "configmap", "j1", "-n", ns)
        w = self.sim.kubectl_popen("get", "configmaps", "-n", ns, "--watch", "-o", "json")
        try:
            out = LineReader(w.stdout)
            out.wait_line(lambda l: '"name": "j1"' in l, what="j1 in the JSON output (initial list)")
            # Whatever the timing, j2 comes after the list: a watch event.
            self.sim.kubectl("create", "configmap", "j2", "-n", ns, "--from-literal=k=v")
            out.wait_line(lambda l: '"name": "j2"' in l, what="j2 in the JSON watch output")
        finally:
            w.kill()
            w.wait()
            w.stdout.close()
            w.stderr.close()

    # --- custom resources ----------------------------------------------------------------

    def test_crd_then_custom_resource(self):
        ns = self.new_namespace("crd")
        crd = self.write("crd.yaml", """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
    additionalPrinterColumns:
    - name: Size
      type: integer
      jsonPath: .spec.size
    - name: Color
      type: string
      jsonPath: .spec.color
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
""")
        self.sim.kubectl("apply", "-f", crd)
        self.sim.kubectl("wait", "--for", "condition=established", "crd/widgets.example.com", "--timeout=30s")
        w = self.write("w.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n"
                                 "  namespace: %s\nspec:\n  size: 3\n  color: blue\n" % ns)
        out = self.sim.kubectl("apply", "-f", w).stdout
        self.assertIn("widget.example.com/w1 created", out)
        out = self.sim.kubectl("get", "widgets", "-n", ns).stdout
        self.assertEqual(header(out), ["NAME", "SIZE", "COLOR", "AGE"], out)
        self.assertEqual(out.splitlines()[1].split()[:3], ["w1", "3", "blue"])
        self.assertIn("w1", self.sim.kubectl("get", "wd", "-n", ns).stdout)
        # client-side apply of a custom resource uses a merge patch
        w = self.write("w.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n"
                                 "  namespace: %s\nspec:\n  size: 5\n" % ns)
        self.assertIn("configured", self.sim.kubectl("apply", "-f", w).stdout)
        obj = self.sim.kubectl_json("get", "widget", "w1", "-n", ns)
        self.assertEqual(obj["spec"], {"size": 5})
        self.assertEqual(obj["kind"], "Widget")
        self.assertIn("widgets", self.sim.kubectl("api-resources", "--api-group=example.com").stdout)
        # -A lists across namespaces with the NAMESPACE column first
        out = self.sim.kubectl("get", "widgets", "-A").stdout
        self.assertEqual(header(out)[:2], ["NAMESPACE", "NAME"])
        # Deleting the CRD removes the resource and its objects.
        self.sim.kubectl("delete", "crd", "widgets.example.com", "--wait=true", "--timeout=30s")
        p = wait_for(lambda: (lambda r: r if r.returncode != 0 else None)(
            self.sim.kubectl("get", "widgets", "-n", ns, check=False)), what="widgets gone")
        check_no_crash(self, p)

    # --- -A and label selectors ------------------------------------------------------------

    def test_all_namespaces_and_label_selectors(self):
        a = self.new_namespace("sela")
        b = self.new_namespace("selb")
        self.sim.kubectl("create", "configmap", "x1", "-n", a)
        self.sim.kubectl("label", "configmap", "x1", "-n", a, "team=red", "tier=web")
        self.sim.kubectl("create", "configmap", "x2", "-n", b)
        self.sim.kubectl("label", "configmap", "x2", "-n", b, "team=blue")
        self.sim.kubectl("create", "configmap", "x3", "-n", b)

        def names(*args):
            return sorted((i["metadata"]["namespace"], i["metadata"]["name"])
                          for i in self.sim.kubectl_json("get", "configmaps", *args)["items"]
                          if i["metadata"]["namespace"] in (a, b))

        self.assertEqual(names("-A"), sorted([(a, "x1"), (b, "x2"), (b, "x3")]))
        self.assertEqual(names("-A", "-l", "team=red"), [(a, "x1")])
        self.assertEqual(names("-A", "-l", "team in (red,blue)"), sorted([(a, "x1"), (b, "x2")]))
        self.assertEqual(names("-A", "-l", "team,team!=blue"), [(a, "x1")])
        self.assertEqual(names("-n", b, "-l", "!team"), [(b, "x3")])
        self.assertEqual(names("-A", "-l", "team=red,tier=web"), [(a, "x1")])
        self.assertEqual(names("-A", "--field-selector", "metadata.name=x2"), [(b, "x2")])
        out = self.sim.kubectl("get", "configmaps", "-A", "-l", "team").stdout
        self.assertEqual(header(out)[:2], ["NAMESPACE", "NAME"])
        p = self.sim.kubectl("get", "configmaps", "-A", "-l", "team in (", check=False)
        self.assertNotEqual(p.returncode, 0)
        check_no_crash(self, p)

    # --- bad input -------------------------------------------------------------------------

    def test_raw_malformed_bodies(self):
        """kubectl create --raw sends its body chunked (no Content-Length), as
        clients may: the server must read it and answer with its own 400."""
        ns = self.new_namespace("raw")
        f = self.write("malformed.json", '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ')
        p = self.sim.kubectl("create", "--raw", "/api/v1/namespaces/%s/configmaps" % ns, "-f", f, check=False)
        self.assertNotEqual(p.returncode, 0)
        check_no_crash(self, p)
        self.assertIn("Error from server (BadRequest)", p.stderr)

        # The wrong kind for the URL.
        f = self.write("wrongkind.json", json.dumps({"apiVersion": "v1", "kind": "Secret",
                                                     "metadata": {"name": "wk"}}))
        p = self.sim.kubectl("create", "--raw", "/api/v1/namespaces/%s/configmaps" % ns, "-f", f, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("Error from server (BadRequest)", p.stderr)

        # A good body the same way is created.
        f = self.write("good.json", json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                                "metadata": {"name": "raw-ok"}}))
        self.sim.kubectl("create", "--raw", "/api/v1/namespaces/%s/configmaps" % ns, "-f", f)
        self.sim.kubectl("get", "configmap", "raw-ok", "-n", ns)

    def test_bad_input_shows_server_errors(self):
        ns = self.new_namespace("bad")
        # An invalid name: the server's 422, as kubectl shows it.
        f = self.write("badname.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n"
                                       "  namespace: %s\n" % ns)
        p = self.sim.kubectl("apply", "-f", f, check=False)
        self.assertEqual(p.returncode, 1)
        check_no_crash(self, p)
        self.assertIn("Bad_Name", p.stderr)
        self.assertIn("invalid", p.stderr.lower())

        # A namespace that does not exist.
        f = self.write("nons.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
                                    "  namespace: no-such-ns\n")
        p = self.sim.kubectl("apply", "-f", f, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('namespaces "no-such-ns" not found', p.stderr)

        # Malformed YAML: kubectl's own parse error, no request, no crash.
        f = self.write("broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n")
        p = self.sim.kubectl("apply", "-f", f, check=False)
        self.assertNotEqual(p.returncode, 0)
        check_no_crash(self, p)

        # An unknown resource type.
        p = self.sim.kubectl("get", "frobnicators", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("the server doesn't have a resource type", p.stderr)

        # The simulator is still fine.
        self.sim.kubectl("get", "namespaces")


class KubectlMultiClusterTest(SimTestCase):
    sim_args = {"clusters": 3}

    def test_three_independent_clusters(self):
        for i in (1, 2, 3):
            self.assertTrue(os.path.exists(self.sim.kubeconfig(i)), self.sim.kubeconfig(i))
        self.sim.kubectl("create", "namespace", "only-in-2", cluster=2)
        for i in (1, 3):
            p = self.sim.kubectl("get", "namespace", "only-in-2", check=False, cluster=i)
            self.assertNotEqual(p.returncode, 0, "cluster-%d sees cluster-2's namespace" % i)
        self.sim.kubectl("get", "namespace", "only-in-2", cluster=2)
        servers = set()
        for i in (1, 2, 3):
            cfg = self.sim.kubectl("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}",
                                   cluster=i).stdout
            self.assertTrue(cfg.startswith("https://"), cfg)
            servers.add(cfg)
        self.assertEqual(len(servers), 3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
