#!/usr/bin/python3
"""fleet.py - populate a running nave-hub with a simulated fleet: ManagedClusters
without agents and Applications placed on them by label, at the scale of issue
#10 (1,000 clusters x 200 applications) in seconds.

Interface (stable: fleet_scale.py and the web view's tests import it; add, never change):

  populate(hub_url, ca, token, clusters=1000, apps=200, clusters_per_app=(20, 50),
           namespace="default", pending=0, ack=True, unhealthy=0, seed=1,
           workers=16, timeout=600.0, prefix="cluster-", app_prefix="app-",
           parallelism=APP_ALL) -> Fleet
      Creates the clusters, writes their status, creates the applications
      and, with ack=True, acts as every cluster's agent: writes the status of
      each work as it appears (Applied, Available, status feedback) until
      every application has its ManifestWorks on exactly the clusters its
      topology selects and is running. With ack=False it waits until every
      application's first deploy wave is written (all its works when
      parallelism covers its clusters). Returns the Fleet (open: call
      .close()). Raises FleetError on any unexpected answer or on timeout.
        hub_url   "https://127.0.0.1:PORT"; None: the kubeconfig's server
        ca        a CA PEM file, or the hub's admin.kubeconfig (its
                  certificate-authority-data is used)
        token     the admin bearer token; None: the kubeconfig's token
        clusters  how many ManagedClusters: cluster-0001 ... (names from 1)
        pending   how many of them (the last ones) are left unaccepted
                  (spec.hubAcceptsClient false, no status: "pending")
        apps      how many Applications app-0001 ... in namespace
        clusters_per_app  (lo, hi): each application's topology selects
                  between about lo and hi clusters (an int n means (n, n))
        ack       write work status (Applied, Available, status feedback)
        unhealthy how many applications (the last ones) get an unhealthy
                  status (Available False, 0 ready replicas) instead
        seed      the random seed: the same arguments give the same fleet
        workers   concurrent keep-alive connections
        parallelism  the deploy step's parallelism (clusters written at once);
                  APP_ALL (1024): every selected cluster at once; None: no
                  workflow in the spec (the default deploy, 5 at a time, each
                  wave waiting for the last to be healthy)
  Fleet(hub_url, ca, token, workers=16)
      A pool of keep-alive HTTPS connections to the hub, and what was created:
        .clusters        [name], all created clusters in order
        .accepted        [name], those accepted
        .pending         [name], those left unaccepted
        .labels          {cluster: labels dict}
        .apps            [name]
        .placement       {app: sorted [cluster]} the clusters each app selects
        .timings         {phase: seconds} of what populate() did: clusters,
                         cluster_status, apps (creating them), works (from the
                         first application created to all works placed),
                         running (likewise, to all running; with ack only)
      .request(method, path, body=None, ctype=None) -> (status, parsed JSON or text)
      .ok(method, path, body=None, ctype=None, want=(200, 201)) -> parsed; raises FleetError
      .map(fn, items) -> [fn(item)] run on the pool's threads, in order
      .create_clusters(n, pending=0, prefix="cluster-"); .write_cluster_status(names)
      .create_apps(n, clusters_per_app=(20, 50), namespace="default", seed=1)
      .wait_works(apps=None, timeout=600, first_wave=False) -> seconds until every app's
                         works are placed (first_wave: its first deploy wave)
      .ack_works(apps=None, healthy=None) -> number of works acknowledged
      .wait_running(apps=None, timeout=600) -> seconds until every app is "running"
      .settle(apps=None, timeout=600) -> (seconds to all works placed, seconds to all
                         running): agents for every cluster, acknowledging works as they come
      .set_available(name, status="True")  one cluster's Available condition,
                         as an agent's lease (True) or the health timer (Unknown) leaves it
      .set_labels(name, labels)  merge labels (None removes one)
      .selected(labels) -> [app] whose topology selects a cluster with these labels
      .close()
  cluster_labels(i, n, clusters_per_app) -> dict: the labels cluster number i (1-based) of n gets
  cluster_status(i, available="True") -> dict: its status (conditions, clusterClaims)
  work_status(work, healthy=True) -> dict: the status an agent reports for a ManifestWork
  read_kubeconfig(path) -> (server, ca PEM, token)

The cluster shapes are those hub/health.c writes from an agent's lease:
conditions HubAcceptedManagedCluster, ManagedClusterJoined and
ManagedClusterConditionAvailable True, and clusterClaims kubeversion,
platform, product and nodes (klusterlet/claims.c). Labels: region (4),
zone (region-a...), env (prod/staging/dev), and fleet.nave.dev/cell, a group
of about ten clusters; applications select by cell (matchExpressions In) or,
every fifth, by zone (matchLabels). Work status follows tests/apps/apptest.py
(its feedback rules are reused).

Environment: none; runs with /usr/bin/python3 (standard library only).
"""
import base64
import concurrent.futures
import http.client
import json
import os
import random
import ssl
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "apps"))
from apptest import AppHub, app_obj, deploy, topology, webservice  # noqa: E402

CLUSTERS = "/apis/cluster.open-cluster-management.io/v1/managedclusters"
WORKS = "/apis/work.open-cluster-management.io/v1"
OAM = "/apis/core.oam.dev/v1beta1"
MERGE = "application/merge-patch+json"
REGIONS = ["us-east", "us-west", "eu-west", "ap-south"]
ENVS = ["prod", "staging", "dev"]
CELL_LABEL = "fleet.nave.dev/cell"
CELL_SIZE = 10
T0 = "2026-01-01T00:00:00Z"
APP_ALL = 1024  # hub/app.h APP_CLUSTERS_MAX: the largest deploy parallelism


class FleetError(AssertionError):
    pass


def read_kubeconfig(path):
    """(server, CA PEM, token) of a kubeconfig as nave-hub init writes it."""
    server = ca = token = None
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().partition(":")
            v = v.strip()
            if k == "server":
                server = v
            elif k == "certificate-authority-data":
                ca = base64.b64decode(v).decode()
            elif k == "certificate-authority" and not ca:
                with open(v) as g:
                    ca = g.read()
            elif k == "token":
                token = v
    return server, ca, token


def _zones(n, clusters_per_app):
    lo, hi = clusters_per_app
    return max(1, round(n / max(1, (lo + hi) // 2)))


def cluster_labels(i, n, clusters_per_app=(20, 50)):
    """The labels of cluster number i (1-based) in a fleet of n."""
    if isinstance(clusters_per_app, int):
        clusters_per_app = (clusters_per_app, clusters_per_app)
    nz = _zones(n, clusters_per_app)
    z = (i - 1) % nz
    region = REGIONS[z % len(REGIONS)]
    return {"region": region, "zone": "%s-%c" % (region, ord("a") + z // len(REGIONS) % 26),
            "env": ENVS[(i - 1) % len(ENVS)], CELL_LABEL: "c%03d" % ((i - 1) // CELL_SIZE)}


def cluster_status(i, available="True"):
    """The status an agent's lease leaves on cluster number i."""
    reasons = {"True": ("ManagedClusterAvailable", "Managed cluster is available"),
               "Unknown": ("ManagedClusterLeaseUpdateStopped", "Registration agent stopped updating its lease."),
               "False": ("ManagedClusterKubeAPIServerUnavailable", "the spoke's API server did not answer")}
    reason, msg = reasons[available]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    minor = 28 + i % 4
    platform = ["AWS", "GCP", "Azure", "Kind"][i % 4]
    claims = [{"name": "kubeversion.open-cluster-management.io", "value": "v1.%d.%d" % (minor, i % 9)},
              {"name": "platform.open-cluster-management.io", "value": platform},
              {"name": "nodes.nave.io", "value": str(3 + i % 10)}]
    product = {"AWS": "EKS", "GCP": "GKE", "Azure": "AKS"}.get(platform)
    if product:
        claims.insert(2, {"name": "product.open-cluster-management.io", "value": product})
    return {"conditions": [
        {"type": "HubAcceptedManagedCluster", "status": "True", "reason": "HubClusterAdminAccepted",
         "message": "Accepted by hub cluster admin", "lastTransitionTime": now},
        {"type": "ManagedClusterJoined", "status": "True", "reason": "ManagedClusterJoined",
         "message": "Managed cluster joined", "lastTransitionTime": now},
        {"type": "ManagedClusterConditionAvailable", "status": available, "reason": reason, "message": msg,
         "lastTransitionTime": now}], "clusterClaims": claims}


def work_status(work, healthy=True):
    """A ManifestWork's status as an agent reports it (apptest.AppHub.ack's shape, without requests)."""
    gen = work["metadata"].get("generation", 1)
    res = []
    for i, m in enumerate(((work.get("spec") or {}).get("workload") or {}).get("manifests") or []):
        group, _, version = m["apiVersion"].rpartition("/")
        entry = {"resourceMeta": {"ordinal": i, "group": group, "version": version, "kind": m["kind"],
                                  "resource": m["kind"].lower() + "s", "name": m["metadata"]["name"],
                                  "namespace": m["metadata"].get("namespace", "")},
                 "conditions": [{"type": "Applied", "status": "True", "reason": "AppliedManifestComplete",
                                 "message": "Apply manifest complete", "lastTransitionTime": T0}]}
        values = AppHub._feedback(work, m, healthy, None)
        if values:
            entry["statusFeedback"] = {"values": values}
        res.append(entry)
    return {"conditions": [
        {"type": "Applied", "status": "True", "reason": "AppliedManifestWorkComplete",
         "message": "Apply manifest work complete", "observedGeneration": gen, "lastTransitionTime": T0},
        {"type": "Available", "status": "True" if healthy else "False", "reason": "ResourcesAvailable",
         "message": "", "observedGeneration": gen, "lastTransitionTime": T0}],
        "resourceStatus": {"manifests": res}}


def _matches(sel, labels):
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        if e["operator"] == "In" and labels.get(e["key"]) not in e["values"]:
            return False
    return True


class Fleet:
    def __init__(self, hub_url, ca, token, workers=16):
        server = kc_token = None
        with open(ca) as f:
            text = f.read()
        if "-----BEGIN CERTIFICATE-----" in text:
            ca_pem = text
        else:
            server, ca_pem, kc_token = read_kubeconfig(ca)
        u = urllib.parse.urlparse(hub_url or server)
        self.host, self.port = u.hostname, u.port or 443
        self.token = token or kc_token
        self.ctx = ssl.create_default_context(cadata=ca_pem)
        self.workers = workers
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
        self.local = threading.local()
        self.conns = []
        self.lock = threading.Lock()
        self.clusters, self.accepted, self.pending, self.apps = [], [], [], []
        self.labels, self.placement, self.selectors, self.timings = {}, {}, {}, {}
        self.namespace = "default"
        self.healthy, self.parallelism = {}, {}

    # --- HTTP ------------------------------------------------------------
    def _conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=120)
            self.local.conn = c
            with self.lock:
                self.conns.append(c)
        return c

    def request(self, method, path, body=None, ctype=None):
        """One request on this thread's keep-alive connection; (status, parsed JSON or text)."""
        h = {"Authorization": "Bearer " + self.token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = ctype or "application/json"
        for attempt in (0, 1):
            c = self._conn()
            try:
                c.request(method, path, body=data, headers=h)
                resp = c.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, ConnectionError, ssl.SSLError):
                c.close()
                self.local.conn = None
                if attempt:
                    raise
        text = raw.decode(errors="replace")
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text

    def ok(self, method, path, body=None, ctype=None, want=(200, 201)):
        st, b = self.request(method, path, body, ctype)
        if st not in want:
            raise FleetError("%s %s: %d %s" % (method, path, st, str(b)[:500]))
        return b

    def map(self, fn, items):
        return list(self.pool.map(fn, items))

    def close(self):
        self.pool.shutdown(wait=True)
        for c in self.conns:
            c.close()
        self.conns = []

    # --- clusters ------------------------------------------------------------
    def create_clusters(self, n, pending=0, prefix="cluster-", clusters_per_app=(20, 50)):
        """Create n clusters (the last `pending` unaccepted); 409 (exists) is fine."""
        names = ["%s%04d" % (prefix, i) for i in range(1, n + 1)]

        def create(i):
            name = names[i - 1]
            lab = dict(cluster_labels(i, n, clusters_per_app))
            lab["open-cluster-management.io/cluster-name"] = name
            self.labels[name] = lab
            body = {"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
                    "metadata": {"name": name, "labels": lab}, "spec": {"hubAcceptsClient": i <= n - pending}}
            self.ok("POST", CLUSTERS, body, want=(201, 409))
        self.map(create, range(1, n + 1))
        self.clusters += names
        self.accepted += names[:n - pending]
        self.pending += names[n - pending:]
        return names

    def write_cluster_status(self, names, available="True"):
        """Write each cluster's status as its agent's first lease would."""
        def write(name):
            i = int(name.rsplit("-", 1)[1]) if name.rsplit("-", 1)[-1].isdigit() else 1
            self.ok("PATCH", CLUSTERS + "/" + name + "/status", {"status": cluster_status(i, available)},
                    ctype=MERGE)
        self.map(write, names)

    def set_available(self, name, status="True"):
        """Set one cluster's Available condition (True as a lease leaves it, Unknown as the health timer)."""
        mc = self.ok("GET", CLUSTERS + "/" + name)
        conds = [c for c in (mc.get("status") or {}).get("conditions") or []
                 if c.get("type") != "ManagedClusterConditionAvailable"]
        i = int(name.rsplit("-", 1)[1]) if name.rsplit("-", 1)[-1].isdigit() else 1
        conds += [c for c in cluster_status(i, status)["conditions"]
                  if c["type"] == "ManagedClusterConditionAvailable"]
        return self.ok("PATCH", CLUSTERS + "/" + name + "/status", {"status": {"conditions": conds}}, ctype=MERGE)

    def set_labels(self, name, labels):
        """Merge labels into one cluster's (a value None removes the label)."""
        mc = self.ok("PATCH", CLUSTERS + "/" + name, {"metadata": {"labels": labels}}, ctype=MERGE)
        self.labels[name] = dict(mc["metadata"].get("labels") or {})
        self._replace()
        return mc

    # --- applications -----------------------------------------------------------
    def _replace(self):
        acc = set(self.accepted)
        for a, sel in self.selectors.items():
            self.placement[a] = sorted(c for c in self.accepted if c in acc and _matches(sel, self.labels[c]))

    def selected(self, labels):
        """The applications whose topology selects a cluster with these labels."""
        return sorted(a for a, sel in self.selectors.items() if _matches(sel, labels))

    def create_apps(self, n, clusters_per_app=(20, 50), namespace="default", seed=1, prefix="app-",
                    unhealthy=0, parallelism=APP_ALL):
        """Create n Applications; each selects about clusters_per_app clusters by label."""
        if isinstance(clusters_per_app, int):
            clusters_per_app = (clusters_per_app, clusters_per_app)
        rnd = random.Random(seed)
        total = len(self.clusters)
        ncells = max(1, (total + CELL_SIZE - 1) // CELL_SIZE)
        zones = sorted({lab["zone"] for lab in self.labels.values()})
        names = ["%s%04d" % (prefix, i) for i in range(1, n + 1)]
        objs = []
        self.namespace = namespace
        for i, name in enumerate(names, 1):
            if i % 5 == 0 and zones:
                sel = {"matchLabels": {"zone": zones[rnd.randrange(len(zones))]}}
            else:
                want = rnd.randint(clusters_per_app[0], clusters_per_app[1])
                k = max(1, min(ncells, round(want / CELL_SIZE)))
                cells = sorted(rnd.sample(range(ncells), k))
                sel = {"matchExpressions": [{"key": CELL_LABEL, "operator": "In",
                                             "values": ["c%03d" % c for c in cells]}]}
            comps = [webservice("web", image="nginx:1.%d" % (20 + i % 8), replicas=1 + i % 3, port=80)]
            if i % 3 == 0:
                comps.append(webservice("api", image="ghcr.io/example/api:v%d" % (1 + i % 4), replicas=2))
            wf = None if parallelism is None else [deploy("deploy", ["fleet"], parallelism=parallelism)]
            objs.append(app_obj(name, comps, policies=[topology("fleet", selector=sel, allow_empty=True)],
                                workflow=wf, ns=namespace, annotations={"fleet.nave.dev/populated": "true"}))
            self.selectors[name] = sel
            self.healthy[name] = i <= n - unhealthy
            self.parallelism[name] = parallelism or 5
        self._replace()

        def create(o):
            self.ok("POST", "%s/namespaces/%s/applications" % (OAM, namespace), o, want=(201, 409))
        self.map(create, objs)
        self.apps += names
        return names

    def app_works(self, app):
        """cluster -> ManifestWork of app (not being deleted)."""
        b = self.ok("GET", WORKS + "/manifestworks?labelSelector=app.oam.dev/name%3D" + app +
                    ",app.oam.dev/namespace%3D" + self.namespace)
        return {w["metadata"]["namespace"]: w for w in b.get("items") or []
                if not w["metadata"].get("deletionTimestamp")}

    def _wait(self, apps, pred, timeout, what):
        t0 = time.monotonic()
        left = list(apps)
        while left:
            done = self.map(pred, left)
            left = [a for a, d in zip(left, done) if not d]
            if not left:
                break
            if time.monotonic() - t0 > timeout:
                raise FleetError("timed out after %.0fs waiting for %s of %d applications (e.g. %s)" %
                                 (timeout, what, len(left), left[:3]))
            time.sleep(0.1)
        return time.monotonic() - t0

    def wait_works(self, apps=None, timeout=600.0, first_wave=False):
        """Wait until every app's works are on exactly the clusters it selects (first_wave: on as many
        as its first deploy wave writes); returns seconds."""
        def placed(a):
            have = sorted(self.app_works(a))
            if first_wave:
                return len(have) == min(len(self.placement[a]), self.parallelism.get(a, 5))
            return have == self.placement[a]
        return self._wait(apps or self.apps, placed, timeout, "works")

    def _ack(self, w, healthy):
        self.ok("PUT", "%s/namespaces/%s/manifestworks/%s/status" %
                (WORKS, w["metadata"]["namespace"], w["metadata"]["name"]), dict(w, status=work_status(w, healthy)))

    @staticmethod
    def _acked(w):
        gen = w["metadata"].get("generation", 1)
        return any(c.get("type") == "Applied" and c.get("observedGeneration") == gen
                   for c in (w.get("status") or {}).get("conditions") or [])

    def settle(self, apps=None, timeout=600.0):
        """Be every cluster's agent until every app has all its works and is running: acknowledge each
        work (at its generation) as it appears. Returns (seconds to works placed, seconds to running).
        Each round reads the applications' status.clusters (the hub's view of their works) and fetches
        only the works not acknowledged yet: polling costs the hub little."""
        t0 = time.monotonic()
        t_works = None
        apps = list(apps or self.apps)
        left = list(apps)
        placed = set()

        def step(a):
            st, b = self.request("GET", "%s/namespaces/%s/applications/%s" % (OAM, self.namespace, a))
            if st != 200:
                return 0
            status = b.get("status") or {}
            have = []
            for c in status.get("clusters") or []:
                if c.get("message") == "being deleted":
                    continue
                have.append(c["name"])
                if c.get("applied") and c.get("observedGeneration") == c.get("workGeneration"):
                    continue
                ns, _, wname = c["work"].partition("/")
                st, w = self.request("GET", "%s/namespaces/%s/manifestworks/%s" % (WORKS, ns, wname))
                if st == 200 and not w["metadata"].get("deletionTimestamp") and not self._acked(w):
                    self._ack(w, self.healthy.get(a, True))
            have.sort()
            if not self.healthy.get(a, True):  # its workflow stops at its first wave
                return 2 if len(have) >= min(len(self.placement[a]), self.parallelism.get(a, 5)) else 0
            if have != self.placement[a]:
                return 0
            if not self.placement[a]:
                return 2
            return 2 if status.get("status") == "running" else 1
        while left:
            res = self.map(step, left)
            placed |= {a for a, r in zip(left, res) if r}
            if t_works is None and len(placed) == len(apps):
                t_works = time.monotonic() - t0
            left = [a for a, r in zip(left, res) if r != 2]
            if not left:
                break
            if time.monotonic() - t0 > timeout:
                raise FleetError("timed out after %.0fs settling %d applications (e.g. %s)" %
                                 (timeout, len(left), left[:3]))
            time.sleep(0.05)
        return (t_works if t_works is not None else time.monotonic() - t0), time.monotonic() - t0

    def ack_works(self, apps=None, healthy=None):
        """Write every work's status of the apps as an agent would; healthy None: as populate chose."""
        jobs = []
        for a, ws in zip(apps or self.apps, self.map(self.app_works, apps or self.apps)):
            h = self.healthy.get(a, True) if healthy is None else healthy
            jobs += [(w, h) for w in ws.values()]

        self.map(lambda job: self._ack(*job), jobs)
        return len(jobs)

    def wait_running(self, apps=None, timeout=600.0):
        """Wait until every (healthy) app's status.status is "running"; returns seconds."""
        apps = [a for a in (apps or self.apps) if self.healthy.get(a, True) and self.placement.get(a)]

        def running(a):
            st, b = self.request("GET", "%s/namespaces/%s/applications/%s" % (OAM, self.namespace, a))
            return st == 200 and (b.get("status") or {}).get("status") == "running"
        return self._wait(apps, running, timeout, "running")


def populate(hub_url, ca, token, clusters=1000, apps=200, clusters_per_app=(20, 50), namespace="default",
             pending=0, ack=True, unhealthy=0, seed=1, workers=16, timeout=600.0, prefix="cluster-",
             app_prefix="app-", parallelism=APP_ALL):
    """See the top of this file."""
    if isinstance(clusters_per_app, int):
        clusters_per_app = (clusters_per_app, clusters_per_app)
    f = Fleet(hub_url, ca, token, workers)
    try:
        t = time.monotonic()
        f.create_clusters(clusters, pending, prefix, clusters_per_app)
        f.timings["clusters"] = time.monotonic() - t
        t = time.monotonic()
        f.write_cluster_status(f.accepted)
        f.timings["cluster_status"] = time.monotonic() - t
        t = time.monotonic()
        f.create_apps(apps, clusters_per_app, namespace, seed, app_prefix, unhealthy, parallelism)
        f.timings["apps"] = time.monotonic() - t
        if ack:
            w, r = f.settle(timeout=timeout)
            f.timings["works"] = f.timings["apps"] + w
            f.timings["running"] = f.timings["apps"] + r
        else:
            f.timings["works"] = f.timings["apps"] + f.wait_works(timeout=timeout, first_wave=True)
    except BaseException:
        f.close()
        raise
    return f


if __name__ == "__main__":
    # fleet.py KUBECONFIG [clusters] [apps]: populate the hub the kubeconfig names.
    kc = sys.argv[1]
    f = populate(None, kc, None, clusters=int(sys.argv[2]) if len(sys.argv) > 2 else 1000,
                 apps=int(sys.argv[3]) if len(sys.argv) > 3 else 200)
    print(json.dumps({k: round(v, 2) for k, v in f.timings.items()}))
    f.close()
