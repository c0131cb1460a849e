#!/usr/bin/python3
"""fleet_scale.py - nave-hub's controllers with 1,000 clusters x 200 Applications.

Starts a fresh nave-hub (tests/hub/hubtest.py, --lease-timeout 1h), populates
it with tests/bench/fleet.py (clusters without agents, Applications placed by
label, every work acknowledged as an agent would) and prints, as JSON:

  populate      seconds to create the clusters, their status, the apps; from
                the first app to all works written; to all apps running
  settle        the hub's CPU seconds and RSS once idle
  latency       ms of a list of every ManagedCluster and of a get of one
                Application, on an idle hub (median and max of N)
  availability  one cluster going Unknown and back: seconds until the hub is
                idle again and its CPU seconds (idle: the hub's CPU time moves
                less than IDLE_CPU in IDLE_S)
  labels        one cluster moving to another cell: seconds until the works
                of the apps it leaves and joins are placed, and until idle
  unknown       the hub restarted with a 3 s lease timeout and no agents: the
                restart's seconds (to "ready"), then seconds from the restart
                until every cluster is Available=Unknown and the hub is idle,
                and its CPU seconds since ready (the applications' first
                reconcile after a start included)
  stall_ms      per phase, the longest a trivial GET /healthz (sent every
                20 ms from its own connection) waited: the hub's longest
                loop turn, as seen from outside

  fleet_scale.py [--clusters N] [--apps N] [--lo N] [--hi N]

Environment: NAVE_HUB (the nave-hub binary), NAVE_TEST_DATA.
"""
import argparse
import http.client
import json
import os
import ssl
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hub"))
import fleet  # noqa: E402
from hubtest import Hub  # noqa: E402

IDLE_S = 1.0        # the hub is idle when its CPU time moves less than IDLE_CPU in this window
IDLE_CPU = 0.03
PROBE_MS = 20


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Prober(threading.Thread):
    """GET /healthz every PROBE_MS on a keep-alive connection; the longest wait per phase."""

    def __init__(self, h):
        super().__init__(daemon=True)
        self.h = h
        self.stop_ev = threading.Event()
        self.worst = 0.0
        self.lock = threading.Lock()

    def run(self):
        c = None
        while not self.stop_ev.is_set():
            try:
                if c is None:
                    c = http.client.HTTPSConnection("127.0.0.1", self.h.port,
                                                    context=ssl.create_default_context(cafile=self.h.path("ca.crt")),
                                                    timeout=120)
                t = time.monotonic()
                c.request("GET", "/healthz")
                c.getresponse().read()
                d = time.monotonic() - t
                with self.lock:
                    self.worst = max(self.worst, d)
            except (OSError, http.client.HTTPException):
                c = None
            time.sleep(PROBE_MS / 1000)

    def take(self):
        """The longest wait since the last take, in ms."""
        with self.lock:
            w, self.worst = self.worst, 0.0
        return round(w * 1000, 1)


def wait_idle(h, timeout=600):
    """Seconds until the hub's CPU time stops moving (the idle window itself excluded)."""
    t0 = time.monotonic()
    last = cpu_seconds(h.proc.pid)
    while True:
        time.sleep(IDLE_S)
        now = cpu_seconds(h.proc.pid)
        if now - last < IDLE_CPU:
            return max(0.0, time.monotonic() - t0 - IDLE_S)
        last = now
        if time.monotonic() - t0 > timeout:
            raise fleet.FleetError("the hub did not become idle in %ds" % timeout)


def timed(fn, n):
    ts = []
    for _ in range(n):
        t = time.monotonic()
        fn()
        ts.append((time.monotonic() - t) * 1000)
    return {"median_ms": round(statistics.median(ts), 1), "max_ms": round(max(ts), 1)}


def change(h, probe, fn, done=None):
    """Run fn(); seconds until done() (if given) and until idle, and the hub's CPU seconds."""
    probe.take()
    cpu0 = cpu_seconds(h.proc.pid)
    t0 = time.monotonic()
    fn()
    out = {}
    if done:
        fleet_wait(done)
        out["placed_s"] = round(time.monotonic() - t0, 2)
    wait_idle(h)
    out["idle_s"] = round(max(0.0, time.monotonic() - IDLE_S - t0), 2)
    out["cpu_s"] = round(cpu_seconds(h.proc.pid) - cpu0, 2)
    out["stall_ms"] = probe.take()
    return out


def fleet_wait(pred, timeout=600):
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise fleet.FleetError("timed out")
        time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--apps", type=int, default=200)
    ap.add_argument("--lo", type=int, default=20)
    ap.add_argument("--hi", type=int, default=50)
    a = ap.parse_args()
    res = {"clusters": a.clusters, "apps": a.apps}
    h = Hub(serve_args=["--lease-timeout", "1h"])
    f = None
    try:
        h.start()
        probe = Prober(h)
        probe.start()
        url = "https://127.0.0.1:%d" % h.port
        cpu0 = cpu_seconds(h.proc.pid)
        f = fleet.populate(url, h.path("ca.crt"), h.token, clusters=a.clusters, apps=a.apps,
                           clusters_per_app=(a.lo, a.hi))
        res["works"] = sum(len(v) for v in f.placement.values())
        res["populate_s"] = {k: round(v, 2) for k, v in f.timings.items()}
        res["populate_cpu_s"] = round(cpu_seconds(h.proc.pid) - cpu0, 2)
        res["populate_stall_ms"] = probe.take()
        wait_idle(h)
        res["settled"] = {"cpu_s": round(cpu_seconds(h.proc.pid) - cpu0, 2), "rss_mib": round(h.rss_kib() / 1024, 1)}
        res["latency"] = {
            "list_clusters": timed(lambda: f.ok("GET", fleet.CLUSTERS), 5),
            "get_app": timed(lambda: f.ok("GET", "%s/namespaces/default/applications/%s" %
                                           (fleet.OAM, f.apps[len(f.apps) // 2])), 20),
        }
        res["latency"]["stall_ms"] = probe.take()
        # one cluster's availability: Unknown (its lease lapsed) and back
        c1 = f.accepted[0]
        res["availability_unknown"] = change(h, probe, lambda: f.set_available(c1, "Unknown"))
        res["availability_back"] = change(h, probe, lambda: f.set_available(c1, "True"))
        # one cluster's labels: it moves to the cell of another cluster
        cell = fleet.CELL_LABEL
        src = f.accepted[len(f.accepted) // 2]
        dst_cell = f.labels[f.accepted[0]][cell]
        before = set(f.selected(f.labels[src]))
        after = set(f.selected(dict(f.labels[src], **{cell: dst_cell})))
        moved = sorted(before ^ after)

        def placed():
            return all(sorted(f.app_works(x)) == f.placement[x] for x in moved)
        res["labels"] = change(h, probe, lambda: f.set_labels(src, {cell: dst_cell}), placed)
        res["labels"]["apps_affected"] = len(moved)
        # acknowledge the works the move wrote, as the agent would
        f.settle(moved)
        wait_idle(h)
        probe.take()
        # every cluster Unknown at once: restart with a short lease timeout and no agents
        f.close()
        f = None
        h.stop()
        h.serve_args = ["--lease-timeout", "3s"]
        t0 = time.monotonic()
        h.start()
        res["restart_s"] = round(time.monotonic() - t0, 2)
        cpu0 = cpu_seconds(h.proc.pid)
        probe.h = h
        probe.take()  # waits while the hub was loading its store do not count as loop turns
        f = fleet.Fleet("https://127.0.0.1:%d" % h.port, h.path("ca.crt"), h.token)

        def all_unknown():
            items = f.ok("GET", fleet.CLUSTERS)["items"]
            return sum(1 for mc in items if any(c["type"] == "ManagedClusterConditionAvailable" and
                                                c["status"] == "Unknown"
                                                for c in (mc.get("status") or {}).get("conditions") or [])) \
                == a.clusters
        fleet_wait(all_unknown)
        res["unknown"] = {"all_unknown_s": round(time.monotonic() - t0, 2)}
        wait_idle(h)
        res["unknown"]["idle_s"] = round(time.monotonic() - IDLE_S - t0, 2)
        res["unknown"]["cpu_s_since_ready"] = round(cpu_seconds(h.proc.pid) - cpu0, 2)
        res["unknown"]["stall_ms"] = probe.take()
        res["unknown"]["rss_mib"] = round(h.rss_kib() / 1024, 1)
        probe.stop_ev.set()
        print(json.dumps(res, indent=1))
        f.close()
        f = None
        rc = h.stop()
        if rc != 0:
            print("nave-hub exited with %d" % rc)
            return 1
        return 0
    finally:
        if f:
            f.close()
        h.cleanup()


if __name__ == "__main__":
    sys.exit(main())
