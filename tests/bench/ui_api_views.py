#!/usr/bin/python3
"""ui_api_views.py - how long each JSON view of the web view (hub/ui_api.c)
takes at issue #10's scale: 1,000 clusters and 200 Applications on tens of
clusters each (tests/bench/fleet.py's populate(), every work's status written
as an agent's).

A real `nave-hub serve` (tests/apps/apptest.py's AppHub: fresh init, free
port, --lease-timeout 1h). Each view is requested RUNS times over one
keep-alive HTTPS connection with the admin token; the figures are the
median, 90th percentile and maximum of the round trip (the hub's work, which
runs on its loop, plus TLS and the transfer on loopback) and the answer's
size. A view's time is also the time the hub's loop is busy with it.

  ui_api_views.py [--clusters N] [--apps N] [--runs N] [--pending N] [--json FILE]

Environment: NAVE_HUB (nave-hub).
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "apps"))
sys.path.insert(0, HERE)

from apptest import AppHub  # noqa: E402
import fleet  # noqa: E402


def timed(f, path, runs):
    times, size = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        st, b = f.request("GET", path)
        times.append((time.perf_counter() - t) * 1000)
        if st != 200:
            raise fleet.FleetError("GET %s: %d %s" % (path, st, str(b)[:300]))
        size = len(json.dumps(b))
    times.sort()
    return {"median_ms": round(statistics.median(times), 2), "p90_ms": round(times[int(len(times) * 0.9) - 1], 2),
            "max_ms": round(times[-1], 2), "bytes": size}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--apps", type=int, default=200)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--pending", type=int, default=10)
    ap.add_argument("--json")
    a = ap.parse_args()
    hub = AppHub(serve_args=("--lease-timeout", "1h"))
    try:
        hub.start()
        url = "https://127.0.0.1:%d" % hub.port
        t = time.monotonic()
        f = fleet.populate(url, hub.path("ca.crt"), hub.token, clusters=a.clusters, apps=a.apps,
                           pending=a.pending)
        populate_s = time.monotonic() - t
        try:
            # the application on the most clusters, and a second revision of it for the diff
            biggest = max(f.apps, key=lambda n: len(f.placement[n]))
            app_path = "/apis/core.oam.dev/v1beta1/namespaces/default/applications/" + biggest
            app = f.ok("GET", app_path)
            comps = app["spec"]["components"]
            comps[0].setdefault("properties", {})["image"] = "nginx:1.99"
            f.ok("PATCH", app_path, {"spec": {"components": comps}}, ctype="application/merge-patch+json")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                revs = f.ok("GET", "/apis/core.oam.dev/v1beta1/namespaces/default/applicationrevisions"
                            "?labelSelector=app.oam.dev/name%3D" + biggest)
                if len(revs.get("items") or []) >= 2:
                    break
                time.sleep(0.1)
            works = sum(len(v) for v in f.placement.values())
            views = [
                ("overview", "/nave/v1/ui/overview"),
                ("clusters", "/nave/v1/ui/clusters"),
                ("clusters limit=500", "/nave/v1/ui/clusters?limit=500"),
                ("clusters sort=heartbeat", "/nave/v1/ui/clusters?sort=heartbeat"),
                ("clusters q=label", "/nave/v1/ui/clusters?q=env%3Dprod"),
                ("clusters state=pending", "/nave/v1/ui/clusters?state=pending"),
                ("clusters offset=900", "/nave/v1/ui/clusters?offset=900"),
                ("applications", "/nave/v1/ui/applications"),
                ("applications health=healthy", "/nave/v1/ui/applications?health=healthy"),
                ("applications q=app-01", "/nave/v1/ui/applications?q=app-01"),
                ("application (%d clusters)" % len(f.placement[biggest]),
                 "/nave/v1/ui/applications/default/" + biggest),
                ("application clusterLimit=500", "/nave/v1/ui/applications/default/%s?clusterLimit=500" % biggest),
                ("diff v1 v2", "/nave/v1/ui/applications/default/%s/diff?from=1&to=2" % biggest),
            ]
            out = {"clusters": a.clusters, "apps": a.apps, "works": works, "populate_s": round(populate_s, 1),
                   "runs": a.runs, "views": {}}
            for name, path in views:
                out["views"][name] = timed(f, path, a.runs)
                v = out["views"][name]
                print("%-34s median %7.2f ms  p90 %7.2f ms  max %7.2f ms  %8d bytes" %
                      (name, v["median_ms"], v["p90_ms"], v["max_ms"], v["bytes"]))
            print("fleet: %d clusters (%d pending), %d applications, %d works; populated in %.1f s" %
                  (a.clusters, a.pending, a.apps, works, populate_s))
            if a.json:
                with open(a.json, "w") as fh:
                    json.dump(out, fh, indent=1)
        finally:
            f.close()
        rc = hub.stop()
        if rc != 0:
            print("nave-hub exited with %d\n%s" % (rc, hub.log_tail()))
            return 1
    finally:
        hub.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
