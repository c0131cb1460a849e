#!/usr/bin/python3
"""hub_writes.py - writes per second acknowledged by nave-hub's API, and its idle RSS.

Starts a fresh nave-hub (tests/hub/hubtest.py), measures its RSS idle, then
runs C client threads, each with one keep-alive HTTPS connection, creating
small ManifestWorks (one ConfigMap manifest, ~300 bytes) for D seconds; every
201 is a write the hub has committed (group commit) before answering. Then
the RSS again, with the works loaded, and the store's commit figures from
/metrics (writes per commit shows the batching).

  hub_writes.py [--clients C] [--seconds D] [--store-sync full|normal]

Note: the client is Python; with few cores the client, not the hub, can be
the limit. The hub's own CPU time during the run is printed for that reason.
"""
import argparse
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hub"))
from hubtest import Hub  # noqa: E402


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--store-sync", default="full")
    a = ap.parse_args()
    h = Hub(serve_args=["--store-sync", a.store_sync])
    try:
        h.start()
        time.sleep(1.0)  # let start-up allocations settle before reading RSS
        idle = h.rss_kib()
        counts = [0] * a.clients
        errors = []
        stop = time.monotonic() + a.seconds

        def worker(t):
            c = h.conn()
            i = 0
            while time.monotonic() < stop:
                ns = "cluster%d" % (t % 10)
                body = {"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
                        "metadata": {"name": "w-%d-%d" % (t, i), "namespace": ns},
                        "spec": {"workload": {"manifests": [
                            {"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "cm-%d-%d" % (t, i), "namespace": "default"},
                             "data": {"key": "value-%d" % i}}]}}}
                st, ans = h.request("POST", "/apis/work.open-cluster-management.io/v1/namespaces/%s/manifestworks"
                                    % ns, body, conn=c)
                if st != 201:
                    errors.append((st, ans))
                    return
                counts[t] += 1
                i += 1
            c.close()
        cpu0 = cpu_seconds(h.proc.pid)
        t0 = time.monotonic()
        threads = [threading.Thread(target=worker, args=(t,)) for t in range(a.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(h.proc.pid) - cpu0
        if errors:
            print("errors: %s" % errors[:3])
            return 1
        total = sum(counts)
        loaded = h.rss_kib()
        m = h.request("GET", "/metrics")[1]
        commits = int(re.search(r"^nave_hub_store_commits_total (\d+)", m, re.M).group(1))
        writes = int(re.search(r"^nave_hub_store_writes_total (\d+)", m, re.M).group(1))
        csum = float(re.search(r"^nave_hub_store_commit_duration_seconds_sum (\S+)", m, re.M).group(1))
        result = {
            "clients": a.clients, "seconds": round(elapsed, 2), "store_sync": a.store_sync,
            "writes_acknowledged": total, "writes_per_second": round(total / elapsed, 1),
            "hub_cpu_seconds": round(cpu, 2), "store_commits": commits,
            "writes_per_commit": round(writes / commits, 2) if commits else 0,
            "mean_commit_ms": round(1000 * csum / commits, 3) if commits else 0,
            "idle_rss_kib": idle, "rss_kib_after": loaded, "works_stored": total,
        }
        print(json.dumps(result, indent=2))
        h.stop()
        return 0
    finally:
        h.cleanup()


if __name__ == "__main__":
    sys.exit(main())
