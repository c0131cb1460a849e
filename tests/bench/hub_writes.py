#!/usr/bin/python3
"""hub_writes.py - writes per second acknowledged by nave-hub's API, and its idle RSS.

Starts a fresh nave-hub (tests/hub/hubtest.py), measures its RSS idle, then
runs C client processes (not threads: Python's GIL would make the client the
bottleneck), each with one keep-alive HTTPS connection, creating
small ManifestWorks (one ConfigMap manifest, ~300 bytes) for D seconds; every
201 is a write the hub has committed (group commit) before answering. Then
the RSS again, with the works loaded, and the store's commit figures from
/metrics (writes per commit shows the batching).

  hub_writes.py [--clients C] [--seconds D] [--store-sync full|normal]

Note: the clients are Python; with few cores they compete with the hub for
CPU. The hub's own CPU time during the run is printed for that reason.
"""
import argparse
import http.client
import json
import multiprocessing
import os
import re
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hub"))
from hubtest import Hub  # noqa: E402


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker(t, port, token, ca, start, stop, q):
    """One client: from start to stop (wall clock) create works; put the count (or an error) on q."""
    try:
        q.put(create_works(t, port, token, ca, start, stop))
    except Exception as e:  # noqa: BLE001 - any failure is reported, never hangs the parent
        q.put("client %d: %s" % (t, e))


def create_works(t, port, token, ca, start, stop):
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ssl.create_default_context(cafile=ca), timeout=30)
    hdr = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    c.connect()
    n = 0
    while time.time() < start:
        time.sleep(0.001)
    while time.time() < stop:
        ns = "cluster%d" % (t % 10)
        body = {"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
                "metadata": {"name": "w-%d-%d" % (t, n), "namespace": ns},
                "spec": {"workload": {"manifests": [
                    {"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": "cm-%d-%d" % (t, n), "namespace": "default"},
                     "data": {"key": "value-%d" % n}}]}}}
        c.request("POST", "/apis/work.open-cluster-management.io/v1/namespaces/%s/manifestworks" % ns,
                  body=json.dumps(body), headers=hdr)
        r = c.getresponse()
        r.read()
        if r.status != 201:
            return "HTTP %d" % r.status
        n += 1
    c.close()
    return n


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
        start = time.time() + 1.0
        stop = start + a.seconds
        q = multiprocessing.Queue()
        procs = [multiprocessing.Process(target=worker, args=(t, h.port, h.token, h.path("ca.crt"), start, stop, q))
                 for t in range(a.clients)]
        for p in procs:
            p.start()
        while time.time() < start:
            time.sleep(0.001)
        cpu0 = cpu_seconds(h.proc.pid)
        t0 = time.monotonic()
        results = [q.get() for _ in procs]
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(h.proc.pid) - cpu0
        for p in procs:
            p.join()
        errors = [r for r in results if isinstance(r, str)]
        if errors:
            print("errors: %s" % errors[:3])
            return 1
        counts = results
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
