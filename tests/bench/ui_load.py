#!/usr/bin/python3
"""ui_load.py - how fast nave-hub's web view (issue #10) is with 1,000 clusters and 200
Applications, measured in headless Chromium (tests/ui/browser.py, Debian's /usr/bin/chromium
under playwright-core).

The fleet is simulated by tests/bench/fleet.py (engineer scale): a real
`nave-hub serve` (fresh `nave-hub init`, free port, --lease-timeout 1h so statuses written
once stay valid) holding 1,000 ManagedClusters created as the admin (labels, claims,
status as an agent's lease leaves it; the last --pending of them not accepted), 200
Applications each placed by a label topology on about 20-50 clusters, and every work's
status written as an agent would, until every application is running (fleet.populate()).
No agents, no kubesim.

Then, logged in through the page's form first, RUNS times each (the median is the
figure; min and max are printed too):
  fleet_load     navigation (a full page load from about:blank) to the fleet table showing
                 its first page of rows (the 100th row visible)
  apps_load      the same for the applications table (the first page of rows)
  app_load       the same for one application's page with its matrix (every cell of the
                 first page of clusters)
  fleet_switch   in-page: a click on nav-fleet (from the applications view) to the rows
  apps_switch    in-page: a click on nav-apps to the rows
  filter         typing a cluster name into cluster-filter until the table shows only that
                 row (includes the page's input debounce, FILTER_DEBOUNCE_MS in app.js)
  json:<view>    the JSON views over one keep-alive HTTPS connection with the admin token
                 (server time + TLS on loopback), median of RUNS*4 requests

  ui_load.py [--clusters N] [--apps N] [--runs N] [--pending N] [--json FILE]

Environment: NAVE_HUB (nave-hub), and browser.py's NAVE_UI_* variables. Fails when chromium,
node or playwright-core is missing (browser.py says what to install).
"""
import argparse
import http.client
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "ui"))
sys.path.insert(0, os.path.join(HERE, "..", "apps"))
sys.path.insert(0, os.path.join(HERE, "..", "hub"))
import browser  # noqa: E402
import fleet  # noqa: E402
from apptest import AppHub  # noqa: E402
from browser import Browser, tid  # noqa: E402

PAGE = 100  # the page's default page size (app.js: limit=100)
MATRIX_MAX = 50  # at most this many clusters in the measured application's matrix


def ms_stats(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


class Json:
    """GETs of the JSON views with the admin token on one keep-alive connection."""

    def __init__(self, hub):
        self.hub = hub
        self.conn = None

    def get(self, path):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection("127.0.0.1", self.hub.port, context=self.hub.context(),
                                                        timeout=60)
            t0 = time.perf_counter()
            try:
                self.conn.request("GET", path, headers={"Authorization": "Bearer " + self.hub.token})
                r = self.conn.getresponse()
                body = r.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                continue
            dt = (time.perf_counter() - t0) * 1000
            if r.status != 200:
                raise AssertionError("GET %s: %d %s" % (path, r.status, body[:300]))
            return dt, json.loads(body)
        raise AssertionError("unreachable")

    def close(self):
        if self.conn:
            self.conn.close()


def login(b, base, token):
    b.goto(base, wait={"selector": tid("login-form")}, timeout=30000)
    b.fill(tid("login-token"), token)
    b.click(tid("login-submit"))
    b.wait_for(tid("nav-fleet"), timeout=30000)


def full_load(b, url, wait, timeout=60000):
    """ms from a navigation (from about:blank: a full page load) to wait."""
    b.goto("about:blank")
    return b.goto(url, wait=wait, timeout=timeout)["ms"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--apps", type=int, default=200)
    ap.add_argument("--pending", type=int, default=10)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    browser.check_prerequisites()

    hub = AppHub(serve_args=("--lease-timeout", "1h"))
    b = None
    f = None
    j = None
    try:
        hub.start()
        url = "https://127.0.0.1:%d" % hub.port
        t0 = time.monotonic()
        f = fleet.populate(url, hub.path("admin.kubeconfig"), hub.token, clusters=args.clusters, apps=args.apps,
                           pending=args.pending, timeout=900.0)
        populate_s = time.monotonic() - t0
        print("populated %d clusters (%d pending), %d applications in %.1f s: %s" %
              (args.clusters, args.pending, args.apps, populate_s,
               {k: round(v, 1) for k, v in f.timings.items()}), flush=True)
        works = sum(len(v) for v in f.placement.values())
        j = Json(hub)
        # the application measured: the first with two components on at most MATRIX_MAX clusters
        # (one page of the matrix whatever the page's page size), else the first one
        app1 = next((a for i, a in enumerate(f.apps, 1) if i % 3 == 0 and 0 < len(f.placement[a]) <= MATRIX_MAX),
                    f.apps[0])
        _, detail = j.get("/nave/v1/ui/applications/default/%s?clusterLimit=%d" % (app1, MATRIX_MAX))
        ncomp = len(detail["matrix"]["components"])
        ncl = len(detail["matrix"]["clusters"])
        cells = ncomp * ncl
        _, apps_view = j.get("/nave/v1/ui/applications?limit=%d" % PAGE)
        _, cl_view = j.get("/nave/v1/ui/clusters?limit=%d" % PAGE)
        fleet_rows = len(cl_view["items"])
        app_rows = len(apps_view["items"])

        b = Browser(width=1400, height=900)
        base = url + "/ui/"
        login(b, base, hub.token)
        res = {}
        fleet_wait = {"selector": tid("cluster-row"), "min_count": fleet_rows}
        apps_wait = {"selector": tid("app-row"), "min_count": app_rows}
        app_wait = {"selector": tid("matrix-cell"), "min_count": cells}
        # one warm-up of each (the first load compiles app.js; it is reported apart)
        res["first_fleet_load"] = full_load(b, base + "#/fleet", fleet_wait)
        full_load(b, base + "#/apps", apps_wait)
        full_load(b, base + "#/apps/default/%s/matrix" % app1, app_wait)
        runs = {k: [] for k in ("fleet_load", "apps_load", "app_load", "fleet_switch", "apps_switch", "filter")}
        for i in range(args.runs):
            runs["fleet_load"].append(full_load(b, base + "#/fleet", fleet_wait))
            runs["apps_load"].append(full_load(b, base + "#/apps", apps_wait))
            runs["app_load"].append(full_load(b, base + "#/apps/default/%s/matrix" % app1, app_wait))
            # in-page switches: no page load, the view fetches and renders
            t = time.perf_counter()
            b.click(tid("nav-fleet"))
            b.wait_for(tid("cluster-row"), min_count=fleet_rows, timeout=60000)
            runs["fleet_switch"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            b.click(tid("nav-apps"))
            b.wait_for(tid("app-row"), min_count=app_rows, timeout=60000)
            runs["apps_switch"].append((time.perf_counter() - t) * 1000)
            # filter round trip: a name past the first page, so its row shows only with the answer
            b.click(tid("nav-fleet"))
            b.wait_for(tid("cluster-row"), min_count=fleet_rows, timeout=60000)
            name = f.accepted[min(len(f.accepted) - 1, PAGE + 77 + 97 * i)]
            t = time.perf_counter()
            b.fill(tid("cluster-filter"), name)
            b.wait_for(tid("cluster-row", name=name), timeout=30000)
            dt = (time.perf_counter() - t) * 1000
            n = b.count(tid("cluster-row"))
            if n != 1:
                b.wait_for(tid("cluster-row"), min_count=1)
                e = time.monotonic() + 10
                while b.count(tid("cluster-row")) != 1 and time.monotonic() < e:
                    time.sleep(0.02)
                dt = (time.perf_counter() - t) * 1000
            runs["filter"].append(dt)
            b.fill(tid("cluster-filter"), "")
        con = b.console_errors()
        for k, v in runs.items():
            res[k] = ms_stats(v)

        views = [("overview", "/nave/v1/ui/overview"),
                 ("clusters", "/nave/v1/ui/clusters?limit=%d" % PAGE),
                 ("clusters?q=label", "/nave/v1/ui/clusters?q=region%%3Deu-west&limit=%d" % PAGE),
                 ("clusters?q=name", "/nave/v1/ui/clusters?q=cluster-0777&limit=%d" % PAGE),
                 ("clusters?state=pending", "/nave/v1/ui/clusters?state=pending&limit=%d" % PAGE),
                 ("clusters?offset=900", "/nave/v1/ui/clusters?offset=900&limit=%d" % PAGE),
                 ("applications", "/nave/v1/ui/applications?limit=%d" % PAGE),
                 ("applications?q", "/nave/v1/ui/applications?q=app-01&limit=%d" % PAGE),
                 ("application", "/nave/v1/ui/applications/default/%s" % app1),
                 ("application(biggest)", "/nave/v1/ui/applications/default/%s" %
                  max(f.apps, key=lambda a: len(f.placement[a])))]
        for name, path in views:
            xs = [j.get(path)[0] for _ in range(args.runs * 4)]
            res["json:" + name] = ms_stats(xs)

        print("\nnave-hub web view, %d clusters (%d pending), %d applications, %d works; "
              "fleet page %d rows, apps page %d rows, %s's matrix %d components x %d clusters = %d cells; "
              "Chromium %s; %d runs" % (args.clusters, args.pending, args.apps, works, fleet_rows, app_rows, app1,
                                        ncomp, ncl, cells, b.version, args.runs))
        print("  %-26s %.0f ms" % ("first_fleet_load (cold)", res["first_fleet_load"]))
        for k, v in res.items():
            if isinstance(v, dict):
                print("  %-26s median %7.1f ms   min %7.1f   max %7.1f" % (k, v["median"], v["min"], v["max"]))
        if con["csp"] or con["page_errors"]:
            print("console: CSP violations %s, page errors %s" % (con["csp"], con["page_errors"]))
        if args.json:
            with open(args.json, "w") as out:
                json.dump({"clusters": args.clusters, "apps": args.apps, "works": works, "populate_s": populate_s,
                           "figures_ms": res}, out, indent=1)
    finally:
        if b:
            b.close()
        if j:
            j.close()
        if f:
            f.close()
        rc = hub.stop() if hub.proc else 0
        if rc:
            print("nave-hub exited with %d:\n%s" % (rc, hub.log_tail()), file=sys.stderr)
        hub.cleanup()
    if rc:
        sys.exit(1)


if __name__ == "__main__":
    main()
