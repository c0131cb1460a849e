#!/usr/bin/python3
"""app_apply.py - time from `navectl apply` of a 3-component Application to all of its
works Available on three emulated clusters (issue #8's figure).

Starts the world of tests/e2e/test_e2e.py (nave-hub, nave-kubesim with three clusters,
three nave-klusterlets, joined and accepted), then RUNS times:
  - writes a new Application (its own name each run) with three components (two
    webservices, one worker) and a topology of the three clusters, with `navectl apply`;
  - polls the hub over HTTPS (the admin token, a keep-alive connection, every 10 ms) until
    the ManifestWork of the app exists on every cluster with condition Available=True
    for its current generation ("works"), and until the Application's status is
    "running" (workflow succeeded, every component healthy from status feedback: "app");
  - deletes it and waits until the works are gone, so runs do not overlap.
Prints each run and the median, min and max of both figures. kubesim makes replicas
ready after --ready-delay (default 100ms here), which is part of the figure.

  app_apply.py [--runs N] [--ready-delay DUR]

Environment as test_e2e.py (NAVE_HUB, NAVECTL, NAVE_KLUSTERLET, NAVE_KUBESIM).
"""
import argparse
import http.client
import json
import os
import shutil
import ssl
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import test_e2e as e2e  # noqa: E402

CLUSTERS = ["cluster-1", "cluster-2", "cluster-3"]


def application(name):
    comps = [{"name": "frontend", "type": "webservice",
              "properties": {"image": "nginx:1.25", "ports": [{"port": 80, "expose": True}]},
              "traits": [{"type": "scaler", "properties": {"replicas": 2}}]},
             {"name": "backend", "type": "webservice", "properties": {"image": "redis:7"}},
             {"name": "jobs", "type": "worker", "properties": {"image": "busybox:1.36", "cmd": ["sleep", "1d"]}}]
    return {"apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"components": comps,
                     "policies": [{"name": "all", "type": "topology", "properties": {"clusters": CLUSTERS}}]}}


class Client:
    """GET against the hub with the admin token (one keep-alive connection)."""

    def __init__(self, w):
        with open(os.path.join(w.data, "admin.kubeconfig")) as f:
            self.token = [ln.split(":", 1)[1].strip() for ln in f if ln.strip().startswith("token:")][0]
        self.ctx = ssl.create_default_context(cafile=os.path.join(w.data, "ca.crt"))
        self.port = w.hub_port
        self.conn = None

    def get(self, path):
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
                self.conn.request("GET", path, headers={"Authorization": "Bearer " + self.token})
                r = self.conn.getresponse()
                body = r.read()
                return r.status, (json.loads(body) if body else None)
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt:
                    raise
        return None, None


def work_available(obj):
    if not obj:
        return False
    gen = obj["metadata"].get("generation")
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Available":
            return c.get("status") == "True" and c.get("observedGeneration", gen) == gen
    return False


def one_run(w, cli, name, timeout=120):
    t0 = time.monotonic()
    w.navectl("apply", "-f", "-", input=json.dumps(application(name)))
    t_applied = time.monotonic() - t0
    t_works = t_app = None
    deadline = t0 + timeout
    while time.monotonic() < deadline and (t_works is None or t_app is None):
        if t_works is None:
            ok = True
            for c in CLUSTERS:
                st, o = cli.get("%s/namespaces/%s/manifestworks/default.%s" % (e2e.WORK_API, c, name))
                if st != 200 or not work_available(o):
                    ok = False
                    break
            if ok:
                t_works = time.monotonic() - t0
        if t_app is None:
            st, a = cli.get("/apis/core.oam.dev/v1beta1/namespaces/default/applications/" + name)
            if st == 200 and ((a or {}).get("status") or {}).get("status") == "running":
                t_app = time.monotonic() - t0
        time.sleep(0.01)
    if t_works is None or t_app is None:
        st, a = cli.get("/apis/core.oam.dev/v1beta1/namespaces/default/applications/" + name)
        raise AssertionError("run %s: not done after %ds (works %s, app %s); app status:\n%s\nhub log:\n%s" %
                             (name, timeout, t_works, t_app, json.dumps((a or {}).get("status"), indent=1),
                              w.hub.log(30)))
    # Clean up before the next run.
    w.navectl("delete", "application", name)
    e2e.wait_for(lambda: all(cli.get("%s/namespaces/%s/manifestworks/default.%s" % (e2e.WORK_API, c, name))[0] == 404
                             for c in CLUSTERS), 60, "the works of %s deleted" % name)
    return t_applied, t_works, t_app


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--ready-delay", default="100ms")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nave-bench-app-")
    w = e2e.World(tmp, names=CLUSTERS, ready_delay=args.ready_delay)
    rc = 0
    try:
        w.start()
        w.join_all()
        cli = Client(w)
        works, apps = [], []
        # One warm-up run (definitions loaded, connections up), not counted.
        one_run(w, cli, "warmup")
        for i in range(args.runs):
            t_applied, t_works, t_app = one_run(w, cli, "bench-%d" % i)
            works.append(t_works)
            apps.append(t_app)
            print("run %d: apply returned %.0f ms, works Available %.0f ms, app running %.0f ms" %
                  (i + 1, t_applied * 1000, t_works * 1000, t_app * 1000))
        print("3 components x 3 clusters, kubesim --ready-delay %s, %d runs:" % (args.ready_delay, args.runs))
        for what, v in (("all works Available", works), ("Application running", apps)):
            print("  %-22s median %.0f ms  min %.0f ms  max %.0f ms" %
                  (what, statistics.median(v) * 1000, min(v) * 1000, max(v) * 1000))
    except AssertionError as e:
        print("app_apply: %s" % e, file=sys.stderr)
        rc = 1
    finally:
        bad = w.stop_all()
        if bad:
            print("app_apply: %s" % bad, file=sys.stderr)
            rc = 1
        if os.environ.get("NAVE_KEEP_TEST_DIRS"):
            print("kept %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
