"""test_deploy.py - deploy/ (images, manifests, systemd units, navectl install)
tested the way each is used.

  schema          every manifest under deploy/ (but demo/) against the
                  Kubernetes field names and types (k8s_schema.py), references
                  between objects, and every flag the manifests and units pass
                  to a daemon against that daemon's --help
  apply           kubectl apply --server-side of every manifest directory to
                  nave-kubesim: all accepted, all readable back
  rootfs          deploy/container/assemble-rootfs: the tree's libraries
                  resolve inside it, the Containerfiles install every package
                  the binaries load, and (root) the daemons and the HEALTHCHECK
                  run from it
  hub_deployment  the hub's Deployment run as the kubelet would (init
                  container twice: init, then keep; serve; the three probes;
                  SIGTERM)
  daemonset       three klusterlets run exactly as the DaemonSet runs them,
                  from the image tree, on one emulated cluster, with a hub
                  from the tree: one leader, joined after `navectl cluster
                  accept`, a ManifestWork applied, failover when the leader
                  is killed
  navectl_install `navectl install klusterlet` (token made on the hub) piped
                  to `kubectl apply -f -`; an agent started from what that
                  applied (read back from the cluster) joins and works; usage
                  and unreachable-hub errors
  systemd         systemd-analyze verify and security of the units, and their
                  ExecStartPre/ExecStart run in the tree as systemd would

Run one: test_deploy.py NAME (meson runs each as its own test; exit 77 =
skipped, e.g. not root). Environment: see deploytest.py.
"""
import base64
import copy
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import k8s_schema  # noqa: E402
import rbac  # noqa: E402
from deploytest import (BUILD, DEPLOY, NAVECTL, SKIP, Hub, PodRunner, RootFS, Sim, Skip, TmpDir,  # noqa: E402
                        check, deploy_files, free_port, load_yaml_docs, need_root, pod_name, wait_for)

import yaml  # noqa: E402

HUB_BIN = os.path.join(BUILD, "hub", "nave-hub")
KLUSTERLET_BIN = os.path.join(BUILD, "klusterlet", "nave-klusterlet")
CLUSTER = "spoke-1"


def manifest_dirs():
    """Every manifest directory under deploy/ except demo/ (the lead's)."""
    out = []
    for root, dirs, files in os.walk(DEPLOY):
        dirs[:] = sorted(d for d in dirs if not (root == DEPLOY and d == "demo"))
        if any(f.endswith((".yaml", ".yml")) for f in files):
            out.append(root)
    return sorted(out)


def all_objects():
    objs = []
    for d in manifest_dirs():
        for f in deploy_files(os.path.relpath(d, DEPLOY)):
            for o in load_yaml_docs(f):
                objs.append((f, o))
    return objs


def find(objs, kind, name=None):
    for o in objs:
        if o.get("kind") == kind and (name is None or o["metadata"]["name"] == name):
            return o
    raise AssertionError("no %s %s in the manifests" % (kind, name or ""))


def help_flags(argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", r.stdout + r.stderr))


def flags_of(words):
    return {w.split("=", 1)[0] for w in words if re.match(r"--[a-z]", w)}


# --- schema ---------------------------------------------------------------------

def t_schema():
    objs = all_objects()
    check(len(objs) >= 15, "only %d objects found under deploy/" % len(objs))
    errors = []
    for f, o in objs:
        for e in k8s_schema.unknown_fields(o) + k8s_schema.required(o):
            errors.append("%s: %s" % (os.path.relpath(f, DEPLOY), e))
    # References resolve within each install (klusterlet with its CRD; hub).
    for sub in ("klusterlet", "hub"):
        group = [o for f, o in objs if ("/%s/" % sub) in f and "/extra/" not in f]
        errors += ["%s: %s" % (sub, e) for e in k8s_schema.cross_refs(group)]
    check(not errors, "manifest errors:\n  " + "\n  ".join(errors))

    # The klusterlet's CRD is deploy/crds' (one definition, linked).
    crd_link = os.path.join(DEPLOY, "klusterlet", "01-crd-appliedmanifestworks.yaml")
    check(os.path.realpath(crd_link) == os.path.realpath(os.path.join(DEPLOY, "crds",
                                                                      "appliedmanifestworks.yaml")),
          "deploy/klusterlet's CRD is not deploy/crds/appliedmanifestworks.yaml")

    # Every flag the manifests pass exists in the daemon's --help.
    k = [o for f, o in objs if o.get("kind") == "DaemonSet"][0]
    c = k["spec"]["template"]["spec"]["containers"][0]
    words = shlex.split(c["command"][2]) + c["args"]
    known = help_flags([KLUSTERLET_BIN, "--help"])
    missing = flags_of(words) - known
    check(not missing, "DaemonSet passes flags nave-klusterlet does not know: %s" % sorted(missing))
    check(c["args"][0] == "run", "the DaemonSet does not run `nave-klusterlet run`")
    d = [o for f, o in objs if o.get("kind") == "Deployment"][0]["spec"]["template"]["spec"]
    init_words = shlex.split(d["initContainers"][0]["command"][2].replace(";", " "))
    missing = flags_of(init_words) - help_flags([HUB_BIN, "init", "--help"])
    check(not missing, "the hub's init step passes unknown flags: %s" % sorted(missing))
    missing = flags_of(d["containers"][0]["args"]) - help_flags([HUB_BIN, "serve", "--help"])
    check(not missing, "the hub Deployment passes unknown serve flags: %s" % sorted(missing))
    for unit, binary in (("nave-hub.service", HUB_BIN), ("nave-klusterlet.service", KLUSTERLET_BIN)):
        text = open(os.path.join(DEPLOY, "systemd", unit)).read()
        for line in re.findall(r"^ExecStart(?:Pre)?=(.*)$", text, re.M):
            w = shlex.split(line)
            if w[0].endswith(("nave-hub", "nave-klusterlet")):
                sub = [binary, w[1], "--help"]
                missing = flags_of(w) - help_flags(sub) - help_flags([binary, "--help"])
                check(not missing, "%s passes unknown flags: %s" % (unit, sorted(missing)))

    # The field checker itself catches what it is for.
    bad = copy.deepcopy(k)
    bad["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    check(k8s_schema.unknown_fields(bad), "the checker missed a misspelt field")
    bad = copy.deepcopy(k)
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = "nope"
    check(k8s_schema.cross_refs([bad]), "the checker missed a probe on an undeclared port")


# --- apply ----------------------------------------------------------------------------

def t_apply():
    tmp = TmpDir()
    sim = None
    try:
        sim = Sim(tmp)
        applied = []
        order = sorted(manifest_dirs(), key=lambda d: (0 if d.endswith("crds") else 1, d))
        for d in order:
            r = sim.kubectl("apply", "--server-side", "--field-manager", "nave-deploy-test", "-f", d)
            applied.append((d, r.stdout))
            check("error" not in r.stderr.lower(), "kubectl apply -f %s: %s" % (d, r.stderr))
        # Applying again changes nothing and is accepted (idempotent).
        for d in order:
            sim.kubectl("apply", "--server-side", "--field-manager", "nave-deploy-test", "-f", d)
        # Every object reads back, with what was sent.
        for f, o in all_objects():
            kind, name, ns = o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")
            got = sim.get(kind.lower() if kind != "CustomResourceDefinition" else "crd", name, ns)
            check(got and got["kind"] == kind, "%s %s not found after apply" % (kind, name))
            if kind in ("DaemonSet", "Deployment"):
                want = o["spec"]["template"]["spec"]["containers"][0]
                have = got["spec"]["template"]["spec"]["containers"][0]
                check(have.get("args") == want.get("args") and have.get("command") == want.get("command"),
                      "%s %s: command/args changed on the way" % (kind, name))
        # The CRD is served: AppliedManifestWorks can be listed.
        wait_for(lambda: sim.kubectl("get", "appliedmanifestworks", check_rc=False).returncode == 0, 20,
                 "the AppliedManifestWork CRD to be served")
        print("applied: " + "; ".join("%s: %d objects" % (os.path.relpath(d, DEPLOY), out.count("\n"))
                                      for d, out in applied))
    finally:
        if sim:
            sim.stop()
        tmp.cleanup()


# --- rootfs ------------------------------------------------------------------------------

def containerfile_runtime_packages(path):
    """The packages the last stage's apt-get install names."""
    text = open(path).read()
    last = text[text.rindex("\nFROM "):]
    m = re.search(r"apt-get install[^\n]*\\\n((?:.*\\\n)*?)\s*&&\s*rm -rf", last)
    check(m, "%s: no apt-get install in the runtime stage" % path)
    words = re.findall(r"[a-z0-9][a-z0-9.+-]+", m.group(1).replace("\\", " "))
    return set(words)


def needed_packages(binaries):
    """Debian packages of the libraries the binaries (and lws' plugin) link directly."""
    pkgs = {}
    for b in binaries:
        out = subprocess.run(["ldd", b], capture_output=True, text=True, timeout=30).stdout
        for line in out.splitlines():
            m = re.search(r"=> (/\S+)", line)
            if not m:
                continue
            needed = subprocess.run(["readelf", "-d", b], capture_output=True, text=True).stdout
            name = os.path.basename(line.split("=>")[0].strip())
            if "[%s]" % name not in needed:
                continue  # indirect
            real = os.path.realpath(m.group(1))
            r = subprocess.run(["dpkg", "-S", real], capture_output=True, text=True)
            if r.returncode != 0:   # dpkg knows the /lib/... name on merged-/usr systems
                r = subprocess.run(["dpkg", "-S", m.group(1)], capture_output=True, text=True)
            check(r.returncode == 0, "no Debian package owns %s" % real)
            pkgs[r.stdout.split(":")[0]] = name
    return pkgs


SANITIZER_PKGS = {"libasan8", "libubsan1", "libgcc-s1", "libstdc++6"}   # ASan builds only
BASE_PKGS = {"libc6"}                                                    # in every Debian image


def t_rootfs():
    tmp = TmpDir()
    try:
        fs = RootFS(tmp)
        libdir = "/usr/lib/" + subprocess.run(["gcc", "-print-multiarch"], capture_output=True,
                                              text=True).stdout.strip()
        for f in ("/usr/bin/nave-hub", "/usr/bin/navectl", "/usr/bin/nave-klusterlet",
                  libdir + "/libwebsockets-evlib_uv.so", "/etc/ssl/certs/ca-certificates.crt", "/etc/passwd",
                  "/bin/sh", "/usr/bin/cat", "/usr/bin/curl"):
            check(os.path.exists(fs(f)), "the tree lacks %s" % f)
        check("nave:x:65532:65532:" in open(fs("/etc/passwd")).read(), "no user nave (65532) in the tree")

        # Every library each program loads resolves inside the tree, through
        # the tree's own loader with the host's cache and paths out of play.
        loader = fs("/lib64/ld-linux-x86-64.so.2")
        for prog in ("/usr/bin/nave-hub", "/usr/bin/navectl", "/usr/bin/nave-klusterlet", "/usr/bin/curl",
                     libdir + "/libwebsockets-evlib_uv.so"):
            r = subprocess.run([loader, "--inhibit-cache", "--library-path", fs(libdir), "--list", fs(prog)],
                               capture_output=True, text=True, timeout=30)
            check(r.returncode == 0, "%s: %s" % (prog, r.stderr))
            for line in r.stdout.splitlines():
                m = re.search(r"=> (\S+)", line)
                if m and m.group(1) != "not" and not m.group(1).startswith(fs.path):
                    raise AssertionError("%s loads %s from outside the tree" % (prog, m.group(1)))
                check("not found" not in line, "%s: %s" % (prog, line.strip()))

        # The Containerfiles install the package of every library linked.
        for cf, bins in (("Containerfile.hub", [HUB_BIN, NAVECTL]), ("Containerfile.klusterlet", [KLUSTERLET_BIN])):
            listed = containerfile_runtime_packages(os.path.join(DEPLOY, "container", cf))
            want = needed_packages(bins)
            want["libwebsockets-evlib-uv"] = "libwebsockets-evlib_uv.so (dlopen)"
            want["ca-certificates"] = "CA bundle"
            missing = {p: lib for p, lib in want.items() if p not in listed | BASE_PKGS | SANITIZER_PKGS}
            check(not missing, "%s does not install %s" % (cf, missing))
            if "sqlite" in " ".join(want.values()) or "libsqlite3-0" in listed:
                check(("libsqlite3-0" in listed) == ("libsqlite3-0" in want),
                      "%s: libsqlite3-0 listed=%s needed=%s" % (cf, "libsqlite3-0" in listed,
                                                                "libsqlite3-0" in want))

        need_root()
        # The daemons run from the tree as the image's user.
        for argv in (["/usr/bin/nave-hub", "--version"], ["/usr/bin/nave-klusterlet", "version"],
                     ["/usr/bin/navectl", "--version"]):
            p = fs.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out, _ = p.communicate(timeout=30)
            check(p.returncode == 0 and b"0." in out, "%s in the tree: %s" % (argv[0], out))
        hub = Hub(tmp, fs)
        try:
            log = hub.log_tail(200)
            check("evlib" not in log and "Unable to open random" not in log, "hub log: %s" % log)
            # The hub image's HEALTHCHECK, as written, from inside the tree.
            text = open(os.path.join(DEPLOY, "container", "Containerfile.hub")).read()
            hc = json.loads(re.search(r"HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])", text).group(1))
            hc = [a.replace(":9443/", ":%d/" % hub.port) for a in hc]
            p = fs.run(hc, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out, _ = p.communicate(timeout=30)
            check(p.returncode == 0, "HEALTHCHECK %s failed: %s" % (hc, out))
            # TLS from inside the tree against the system CA bundle works too
            # (the bundle and OpenSSL's paths are there): a hub CA is not in
            # it, so verification must fail cleanly, not for a missing file.
            p = fs.run(["/usr/bin/curl", "-sS", "https://127.0.0.1:%d/healthz" % hub.port],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out, _ = p.communicate(timeout=30)
            check(p.returncode == 60 and b"certificate" in out, "curl with the system CAs: %d %s" %
                  (p.returncode, out))
            check(hub.stop() == 0, "hub did not exit 0 on SIGTERM: %s" % hub.log_tail())
        finally:
            hub.stop()
    finally:
        tmp.cleanup()


# --- hub Deployment ----------------------------------------------------------------------

def t_hub_deployment():
    need_root()
    tmp = TmpDir()
    sim = None
    pods = []
    try:
        fs = RootFS(tmp)
        sim = Sim(tmp, nodes=1)
        port = free_port()
        # The settings a user edits: the ConfigMap, with this test's URL.
        for f in deploy_files("hub"):
            docs = load_yaml_docs(f)
            for o in docs:
                if o["kind"] == "ConfigMap":
                    o["data"]["hub-url"] = "https://127.0.0.1:%d" % port
                    o["data"]["san"] = "hub.test.invalid 127.0.0.2"
            sim.kubectl("apply", "--server-side", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                               "items": docs}))
        dep = sim.get("deployment", "nave-hub", "nave-system")
        spec = dep["spec"]["template"]["spec"]
        check(dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate",
              "the hub Deployment must be one replica, Recreate")
        pvc = tmp("pvc-nave-hub-data")
        os.makedirs(pvc)
        with open(os.path.join(pvc, "lost+found"), "w"):
            pass   # a fresh ext4 volume is not empty; init must not mind
        name = pod_name("nave-hub-5d8f7c9b4", 0)

        def init_container():
            # The pod's network namespace is the host's here: the init step's
            # --listen port is mapped like the container ports.
            s = copy.deepcopy(spec)
            c = s["initContainers"][0]
            c["command"][2] = c["command"][2].replace("0.0.0.0:9443", "127.0.0.1:%d" % port)
            return PodRunner(tmp, fs, sim, s, c["name"], "nave-system", name, "node-1",
                             pvc_dirs={"nave-hub-data": pvc}, container_list="initContainers")

        init = init_container().start()
        check(init.wait(60) == 0, "init container failed: %s" % init.log())
        check(os.path.exists(os.path.join(pvc, "hub", "hub.json")), "init made no hub in the volume")
        cert = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                               os.path.join(pvc, "hub", "serving.crt")], capture_output=True, text=True).stdout
        for san in ("nave-hub.nave-system.svc", "nave-hub.nave-system.svc.cluster.local", "hub.test.invalid",
                    "127.0.0.2"):
            check(san in cert, "serving certificate lacks %s: %s" % (san, cert))
        again = init_container().start()
        check(again.wait(60) == 0 and "keeping it" in again.log(), "second init: %s" % again.log())

        hub = PodRunner(tmp, fs, sim, spec, "hub", "nave-system", name, "node-1",
                        pvc_dirs={"nave-hub-data": pvc})
        # serve listens where init recorded (the mapped port); the container
        # port maps to the same one.
        hub.ports = {9443: port}
        hub.start()
        pods.append(hub)
        def probe_ok(which):
            check(hub.alive(), "the hub exited: %s" % hub.log())
            return hub.probe(which)[0] == 200
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            wait_for(lambda: probe_ok(probe), 30, "the hub's %s" % probe)
        check(hub.probe("readinessProbe")[1].strip() == "ok", "readyz body")
        # The admin kubeconfig in the volume works against the hub (navectl).
        kc = os.path.join(pvc, "hub", "admin.kubeconfig")
        r = subprocess.run([NAVECTL, "--kubeconfig", kc, "token", "create"], capture_output=True, text=True,
                           timeout=60)
        check(r.returncode == 0 and "--hub https://127.0.0.1:%d" % port in r.stdout,
              "token create against the Deployment's hub: %s %s" % (r.stdout, r.stderr))
        hub.kill(signal.SIGTERM)
        check(hub.proc.returncode == 0, "hub exit status %s on SIGTERM: %s" % (hub.proc.returncode, hub.log()))
        # A restarted pod keeps the same hub (init skipped, store reopened).
        again = init_container().start()
        check(again.wait(60) == 0 and "keeping it" in again.log(), "init after restart: %s" % again.log())
        hub2 = PodRunner(tmp, fs, sim, spec, "hub", "nave-system", name, "node-1",
                         pvc_dirs={"nave-hub-data": pvc})
        hub2.ports = {9443: port}
        hub2.start()
        pods.append(hub2)
        wait_for(lambda: hub2.probe("readinessProbe")[0] == 200, 30, "readiness after restart")
        r = subprocess.run([NAVECTL, "--kubeconfig", kc, "token", "list", "-o", "json"], capture_output=True,
                           text=True, timeout=60)
        check(r.returncode == 0 and len(json.loads(r.stdout)["items"]) == 1, "the token did not survive: %s" %
              r.stdout)
    finally:
        for p in pods:
            p.kill(signal.SIGKILL)
        if sim:
            sim.stop()
        tmp.cleanup()


# --- the klusterlet DaemonSet -------------------------------------------------------------

WORK = """
apiVersion: work.open-cluster-management.io/v1
kind: ManifestWork
metadata:
  name: deploy-test
  namespace: %(cluster)s
spec:
  workload:
    manifests:
    - apiVersion: v1
      kind: Namespace
      metadata: {name: deploy-test}
    - apiVersion: v1
      kind: ConfigMap
      metadata: {name: settings, namespace: deploy-test}
      data: {color: %(color)s}
    - apiVersion: apps/v1
      kind: Deployment
      metadata: {name: web, namespace: deploy-test}
      spec:
        replicas: 2
        selector: {matchLabels: {app: web}}
        template:
          metadata: {labels: {app: web}}
          spec:
            containers:
            - {name: web, image: "nginx:1.25"}
"""


def klusterlet_health(pod):
    st, body = pod.probe("readinessProbe")
    return st, json.loads(body)


def apply_klusterlet(sim, hub, tok):
    """deploy/klusterlet/ as a user applies it, the Secret filled in."""
    for d in ("klusterlet",):
        sim.kubectl("apply", "--server-side", "-f", os.path.join(DEPLOY, d))
    sec = load_yaml_docs(os.path.join(DEPLOY, "klusterlet", "20-bootstrap-secret.yaml"))[0]
    sec["stringData"] = {"hub-url": hub.url, "token": tok["token"], "ca-hash": tok["caHash"],
                         "cluster-name": CLUSTER}
    sim.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(sec))


def start_daemonset_pods(tmp, fs, sim, ds, count):
    """The DaemonSet's pods, one per simulated node, read back from the cluster."""
    nodes = [n["metadata"]["name"] for n in json.loads(sim.kubectl("get", "nodes", "-o", "json").stdout)["items"]]
    check(len(nodes) >= count, "kubesim has %d nodes" % len(nodes))
    ns = ds["metadata"]["namespace"]
    spec = ds["spec"]["template"]["spec"]
    pods = []
    for i in range(count):
        p = PodRunner(tmp, fs, sim, spec, spec["containers"][0]["name"], ns, pod_name(ds["metadata"]["name"], i),
                      nodes[i])
        pods.append(p.start())
    return pods


def leaders(pods):
    out = []
    for p in pods:
        if not p.alive():
            continue
        st, h = klusterlet_health(p)
        if h.get("leader"):
            out.append(p)
    return out


def wait_one_leader(pods, timeout):
    def one():
        for p in pods:
            check(p.alive() or p.killed, "pod %s died: %s" % (p.name, p.log()))
        ls = leaders(pods)
        return ls[0] if len(ls) == 1 else None
    leader = wait_for(one, timeout, "exactly one leader")
    # Stable: every live pod answers, one leader throughout.
    for _ in range(5):
        ls = leaders(pods)
        check(len(ls) == 1 and ls[0] is leader, "leadership not stable: %s" % [p.name for p in ls])
        time.sleep(0.3)
    return leader


def work_applied(sim, color):
    cm = sim.get("configmap", "settings", "deploy-test", check_rc=False)
    return cm and cm.get("data", {}).get("color") == color and sim.get("deployment", "web", "deploy-test",
                                                                        check_rc=False)


def check_rbac(sim, audit, ns="nave-agent"):
    """Every request the agents made is one the RBAC applied to the cluster allows."""
    seen = audit.seen()
    check(len(seen) > 20, "the audit proxy saw only %d requests" % len(seen))
    authz = rbac.Authorizer(rbac.rbac_objects(sim), ns, "nave-klusterlet")
    denied = authz.denied(seen)
    check(not denied, "requests the klusterlet's RBAC would refuse:\n  " + "\n  ".join(sorted(set(denied))))
    # The check can fail: what the agent must not do is refused.
    for m, t in (("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles"),
                 ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"),
                 ("DELETE", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x"),
                 ("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"),
                 ("PUT", "/apis/coordination.k8s.io/v1/namespaces/%s/leases/other" % ns)):
        check(not authz.allowed(m, t), "RBAC check allows %s %s" % (m, t))
    kinds = {}
    for m, t in seen:
        ri = rbac.request_info(m, t)
        k = "%s %s" % (ri["verb"], ri.get("resource") or ri.get("path"))
        kinds[k] = kinds.get(k, 0) + 1
    print("agent requests, all allowed by RBAC (%d): %s" % (len(seen), ", ".join(
        "%s x%d" % (k, n) for k, n in sorted(kinds.items()))))


def t_daemonset():
    need_root()
    tmp = TmpDir()
    sim = hub = None
    pods = []
    try:
        fs = RootFS(tmp)
        hub = Hub(tmp, fs)
        sim = Sim(tmp, nodes=3)
        audit = rbac.AuditProxy(sim.host, sim.port, sim.tls_crt, sim.tls_key)
        sim.service_port = audit.port
        tok = json.loads(hub.navectl("token", "create", "--ttl", "1h", "--cluster-name", CLUSTER,
                                     "-o", "json").stdout)
        apply_klusterlet(sim, hub, tok)
        ds = sim.get("daemonset", "nave-klusterlet", "nave-agent")
        pods = start_daemonset_pods(tmp, fs, sim, ds, 3)
        # How the agents were started, for the log (and the reader).
        print("pod command: %s" % " ".join(shlex.quote(a) for a in pods[0].argv_used[:3]) + " ...")
        print("pod args: %s" % pods[0].argv_used[3:])

        leader = wait_one_leader(pods, 60)
        lease = sim.get("lease", "nave-klusterlet", "nave-agent")
        check(lease["spec"]["holderIdentity"] == leader.name,
              "Lease holder %s, health says %s" % (lease["spec"]["holderIdentity"], leader.name))
        st, h = klusterlet_health(leader)
        check(h.get("identity") == leader.name, "identity %s is not the pod name (downward API)" % h)
        for p in pods:
            check(p.probe("livenessProbe")[0] == 200, "%s liveness" % p.name)
            if p is not leader:
                st, h = klusterlet_health(p)
                check(st == 200 and not h["leader"], "standby %s: %d %s" % (p.name, st, h))

        # Registered, not accepted yet: the leader waits, not ready (so a
        # rolling update stops there); accepted: joined, and it connects.
        wait_for(lambda: CLUSTER in hub.navectl("cluster", "list").stdout, 60, "the cluster to register")
        mc = hub.get_json("managedcluster", CLUSTER)
        check(not mc["spec"].get("hubAcceptsClient"), "accepted before `navectl cluster accept`")
        st, h = klusterlet_health(leader)
        check(st == 503 and not h.get("connected"), "leader before accept: %d %s" % (st, h))
        # The image's HEALTHCHECK, as written, inside the tree (port mapped).
        text = open(os.path.join(DEPLOY, "container", "Containerfile.klusterlet")).read()
        hc = json.loads(re.search(r"HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])", text).group(1))
        hc = [a.replace(":8081/", ":%d/" % leader.ports[8081]) for a in hc]
        p = fs.run(hc, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = p.communicate(timeout=30)
        check(p.returncode == 0, "klusterlet HEALTHCHECK %s: %s" % (hc, out))
        hub.navectl("cluster", "accept", CLUSTER)

        def joined():
            conds = {c["type"]: c["status"] for c in
                     hub.get_json("managedcluster", CLUSTER).get("status", {}).get("conditions", [])}
            return conds.get("ManagedClusterJoined") == "True" and \
                conds.get("ManagedClusterConditionAvailable") == "True"
        wait_for(joined, 60, "ManagedClusterJoined and Available")
        wait_for(lambda: klusterlet_health(leader)[1].get("connected") and klusterlet_health(leader)[0] == 200,
                 60, "the leader to connect and be ready")
        sec = sim.get("secret", "nave-hub-credentials", "nave-agent")
        check(sec and "tls.crt" in sec["data"], "no credential Secret in the agent's namespace")

        # A ManifestWork on the hub is applied on the spoke.
        hub.navectl("apply", "-f", "-", input=WORK % {"cluster": CLUSTER, "color": "blue"})
        wait_for(lambda: work_applied(sim, "blue"), 60, "the work's objects on the spoke")
        check(sim.kubectl("get", "appliedmanifestworks", "-o", "name").stdout.strip(), "no AppliedManifestWork")

        def work_status_applied():
            mw = hub.get_json("manifestwork", "deploy-test", "-n", CLUSTER)
            return any(c["type"] == "Applied" and c["status"] == "True"
                       for c in mw.get("status", {}).get("conditions", []))
        wait_for(work_status_applied, 60, "Applied=True in the work's status on the hub")

        # Failover: the leader dies; another pod takes over within the lease
        # duration and applies the next change.
        t0 = time.monotonic()
        leader.kill(signal.SIGKILL)
        survivors = [p for p in pods if p is not leader]
        new = wait_one_leader(survivors, 60)
        took = time.monotonic() - t0
        check(new is not leader, "no new leader")
        lease = sim.get("lease", "nave-klusterlet", "nave-agent")
        check(lease["spec"]["holderIdentity"] == new.name, "Lease holder after failover: %s" % lease["spec"])
        wait_for(lambda: klusterlet_health(new)[1].get("connected"), 60, "the new leader to connect")
        hub.navectl("apply", "-f", "-", input=WORK % {"cluster": CLUSTER, "color": "green"})
        wait_for(lambda: work_applied(sim, "green"), 60, "the updated work applied by the new leader")
        print("failover: %s -> %s in %.1f s (lease duration %s s)" %
              (leader.name, new.name, took, lease["spec"].get("leaseDurationSeconds")))

        # A clean stop hands over at once (SIGTERM releases the Lease).
        t0 = time.monotonic()
        new.kill(signal.SIGTERM)
        check(new.proc.returncode == 0, "SIGTERM exit status %s: %s" % (new.proc.returncode, new.log()))
        last = [p for p in survivors if p is not new]
        wait_one_leader(last, 30)
        print("handover after SIGTERM: %.1f s" % (time.monotonic() - t0))
        check_rbac(sim, audit)
    except AssertionError:
        for p in pods:
            sys.stderr.write("--- %s\n%s\n" % (p.name, p.log(30)))
        if hub:
            sys.stderr.write("--- hub\n%s\n" % hub.log_tail())
        raise
    finally:
        for p in pods:
            p.kill(signal.SIGKILL)
        if hub:
            hub.stop()
        if sim:
            sim.stop()
        tmp.cleanup()


# --- navectl install klusterlet ----------------------------------------------------------------

def t_navectl_install():
    tmp = TmpDir()
    sim = hub = None
    pods = []
    try:
        # Usage errors need no hub, and print nothing on stdout.
        for args, want in ((["install"], 2), (["install", "klusterlet"], 2),
                           (["install", "hub", "--cluster-name", "a"], 2),
                           (["install", "klusterlet", "--cluster-name", "Bad_Name"], 2),
                           (["install", "klusterlet", "--cluster-name", "a", "--token", "nope"], 2),
                           (["install", "klusterlet", "--cluster-name", "a", "--ca-hash", "md5:x"], 2),
                           (["install", "klusterlet", "--cluster-name", "a", "--hub", "http://x"], 2),
                           (["install", "klusterlet", "--cluster-name", "a", "--work-access", "some"], 2),
                           (["install", "klusterlet", "--cluster-name", "a", "--kubeconfig",
                             tmp("missing.kubeconfig")], 3)):
            r = subprocess.run([NAVECTL] + args, capture_output=True, text=True, timeout=30)
            check(r.returncode == want and r.stdout == "", "navectl %s: exit %d (want %d), stdout %r, %s" %
                  (" ".join(args), r.returncode, want, r.stdout[:200], r.stderr))
        r = subprocess.run([NAVECTL, "install", "--help"], capture_output=True, text=True, timeout=30)
        check(r.returncode == 0 and "--cluster-name" in r.stdout, "install --help")

        # Offline: everything given, no hub contacted; output names it all.
        pin = "sha256:" + "ab" * 32
        r = subprocess.run([NAVECTL, "install", "klusterlet", "--cluster-name", "edge-7", "--token",
                            "abcdef.0123456789abcdef", "--hub", "https://hub.test.invalid:9443", "--ca-hash", pin,
                            "-n", "edge-agent", "--image", "registry.test.invalid/nave-klusterlet:9",
                            "--work-access", "all", "--kubeconfig", tmp("missing.kubeconfig")],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, "offline install: %s" % r.stderr)
        docs = [d for d in yaml.safe_load_all(r.stdout) if d]
        kinds = [d["kind"] for d in docs]
        for k in ("Namespace", "CustomResourceDefinition", "ServiceAccount", "Role", "RoleBinding", "ClusterRole",
                  "ClusterRoleBinding", "Secret", "DaemonSet"):
            check(k in kinds, "install output lacks a %s: %s" % (k, kinds))
        check(any(d["metadata"]["name"] == "nave-klusterlet:work-cluster-admin" for d in docs),
              "--work-access all did not add the cluster-admin ClusterRole")
        check("nave-agent" not in r.stdout, "the template namespace is left in the output")
        sec = find(docs, "Secret")
        check(sec["stringData"] == {"hub-url": "https://hub.test.invalid:9443", "token": "abcdef.0123456789abcdef",
                                    "ca-hash": pin, "cluster-name": "edge-7"}, "secret %s" % sec)
        ds = find(docs, "DaemonSet")
        check(ds["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.test.invalid/nave-klusterlet:9",
              "image not replaced")
        # Same objects as deploy/klusterlet/ apart from what was filled in.
        tpl = find(load_yaml_docs(os.path.join(DEPLOY, "klusterlet", "30-daemonset.yaml")), "DaemonSet")
        a, b = copy.deepcopy(tpl["spec"]), copy.deepcopy(ds["spec"])
        a["template"]["spec"]["containers"][0].pop("image")
        b["template"]["spec"]["containers"][0].pop("image")
        check(a == b, "navectl's DaemonSet differs from deploy/klusterlet/30-daemonset.yaml")
        for f, o in ((None, d) for d in docs):
            errs = k8s_schema.unknown_fields(o)
            check(not errs, "install output: %s" % errs)
        check(not k8s_schema.cross_refs(docs), "install output references: %s" % k8s_schema.cross_refs(docs))

        # With a hub: the token is made there, the output goes to kubectl.
        need_root()
        fs = RootFS(tmp)
        hub = Hub(tmp, fs)
        sim = Sim(tmp, nodes=1)
        audit = rbac.AuditProxy(sim.host, sim.port, sim.tls_crt, sim.tls_key)
        sim.service_port = audit.port
        r = subprocess.run([NAVECTL, "--kubeconfig", hub.kubeconfig, "install", "klusterlet", "--cluster-name",
                            CLUSTER, "--ttl", "2h"], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, "navectl install klusterlet: %s" % r.stderr)
        check("navectl cluster accept %s" % CLUSTER in r.stderr, "no next step on stderr: %s" % r.stderr)
        ap = sim.kubectl("apply", "-f", "-", input=r.stdout)
        print("kubectl apply -f -:\n" + ap.stdout)
        toks = hub.get_json("bootstraptokens")["items"]
        check(len(toks) == 1 and CLUSTER in toks[0]["spec"].get("description", ""), "token on the hub: %s" % toks)
        # An agent started from what was applied (read back from the cluster).
        ds = sim.get("daemonset", "nave-klusterlet", "nave-agent")
        sec = sim.get("secret", "nave-bootstrap", "nave-agent")
        check(base64.b64decode(sec["data"]["hub-url"]).decode() == hub.url, "hub URL in the Secret: %s" % sec)
        pods = start_daemonset_pods(tmp, fs, sim, ds, 1)
        wait_for(lambda: CLUSTER in hub.navectl("cluster", "list").stdout, 60, "the cluster to register")
        hub.navectl("cluster", "accept", CLUSTER)
        wait_for(lambda: klusterlet_health(pods[0])[1].get("connected"), 60, "the agent to connect")
        hub.navectl("apply", "-f", "-", input=WORK % {"cluster": CLUSTER, "color": "red"})
        wait_for(lambda: work_applied(sim, "red"), 60, "the work applied")
        check_rbac(sim, audit)

        # A hub that cannot be reached: exit 3, nothing on stdout.
        hub.stop()
        r = subprocess.run([NAVECTL, "--kubeconfig", hub.kubeconfig, "--request-timeout", "5s", "install",
                            "klusterlet", "--cluster-name", "x"], capture_output=True, text=True, timeout=60)
        check(r.returncode == 3 and r.stdout == "", "unreachable hub: %d %r %s" % (r.returncode, r.stdout,
                                                                                   r.stderr))
    except AssertionError:
        for p in pods:
            sys.stderr.write("--- %s\n%s\n" % (p.name, p.log(30)))
        raise
    finally:
        for p in pods:
            p.kill(signal.SIGKILL)
        if hub:
            hub.stop()
        if sim:
            sim.stop()
        tmp.cleanup()


# --- systemd ------------------------------------------------------------------------------------

def unit_value(text, key):
    return [m for m in re.findall(r"^%s=(.*)$" % re.escape(key), text, re.M)]


def systemd_words(line, env):
    """systemd's command-line substitution: $VAR (split at whitespace), ${VAR}
    (one word), $$ -> $; then words as systemd splits them (shell-like quotes)."""
    out = []
    for w in shlex.split(line):
        m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", w)
        if m:
            out += env.get(m.group(1), "").split()
            continue
        w = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda mm: env.get(mm.group(1), ""), w)
        out.append(w.replace("$$", "$"))
    return out


def t_systemd():
    units = [os.path.join(DEPLOY, "systemd", u) for u in ("nave-hub.service", "nave-klusterlet.service")]
    for u in units:
        text = open(u).read()
        for key, want in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                          ("PrivateTmp", "yes"), ("CapabilityBoundingSet", "")):
            check(want in unit_value(text, key), "%s: %s=%s missing" % (os.path.basename(u), key, want))
        check(unit_value(text, "User") and unit_value(text, "User")[0] != "root", "%s: no dedicated user" % u)
        check(unit_value(text, "StateDirectory"), "%s: no StateDirectory" % u)
    sysusers = open(os.path.join(DEPLOY, "systemd", "nave-sysusers.conf")).read()
    for u in units:
        user = unit_value(open(u).read(), "User")[0]
        check(re.search(r"^u\s+%s\s" % re.escape(user), sysusers, re.M), "sysusers.d lacks user %s" % user)

    tmp = TmpDir()
    try:
        if not subprocess.run(["which", "systemd-analyze"], capture_output=True).returncode == 0:
            raise Skip("systemd-analyze is not installed")
        fs = RootFS(tmp)
        # verify checks that ExecStart's program exists: point it into the tree.
        vdir = tmp("units")
        os.makedirs(vdir)
        for u in units:
            with open(os.path.join(vdir, os.path.basename(u)), "w") as f:
                f.write(open(u).read().replace("/usr/bin/nave-", fs("/usr/bin/nave-")))
        for u in sorted(os.listdir(vdir)):
            r = subprocess.run(["systemd-analyze", "verify", os.path.join(vdir, u)], capture_output=True,
                               text=True, timeout=60)
            check(r.returncode == 0 and not r.stderr.strip() and not r.stdout.strip(),
                  "systemd-analyze verify %s: %s%s" % (u, r.stdout, r.stderr))
            r = subprocess.run(["systemd-analyze", "security", "--offline=yes", os.path.join(vdir, u)],
                               capture_output=True, text=True, timeout=60)
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
            check(m and float(m.group(1)) <= 2.0, "%s exposure: %s" % (u, r.stdout[-300:]))
            print("%s: exposure %s" % (u, m.group(1)))

        # The hub unit's commands, substituted as systemd does, run in the
        # tree as its user: the first start inits, later starts keep the hub.
        need_root()
        text = open(units[0]).read()
        env = {"NAVE_HUB_INIT_ARGS": "--listen 127.0.0.1:0 --hub-url https://127.0.0.1:9443 --san hub.test.invalid",
               "NAVE_HUB_SERVE_ARGS": "--log-format json"}
        pre = systemd_words(unit_value(text, "ExecStartPre")[0], env)
        start = systemd_words(unit_value(text, "ExecStart")[0], env)
        state = "/var/lib/" + unit_value(text, "StateDirectory")[0]
        os.makedirs(fs(state), exist_ok=True)
        os.chown(fs(state), 65532, 65532)
        os.chmod(fs(state), int(unit_value(text, "StateDirectoryMode")[0], 8))
        for round_ in (1, 2):
            p = fs.run(pre, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out, _ = p.communicate(timeout=60)
            check(p.returncode == 0, "ExecStartPre (start %d): %s" % (round_, out))
            check((b"Initialized" in out) == (round_ == 1), "ExecStartPre start %d said: %s" % (round_, out))
            p = fs.run(start, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            line = p.stdout.readline()
            check(line.startswith(b"ready: "), "ExecStart: %s %s" % (line, p.stderr.read(2000) if p.poll() else ""))
            p.send_signal(signal.SIGTERM)
            check(p.wait(30) == 0, "nave-hub serve exit status on SIGTERM")
            p.stdout.close()
            p.stderr.close()
        check(os.path.exists(fs(state, "admin.kubeconfig")), "no admin.kubeconfig in the StateDirectory")
    finally:
        tmp.cleanup()


TESTS = {
    "schema": t_schema,
    "apply": t_apply,
    "rootfs": t_rootfs,
    "hub_deployment": t_hub_deployment,
    "daemonset": t_daemonset,
    "navectl_install": t_navectl_install,
    "systemd": t_systemd,
}


def main(argv):
    names = argv[1:] or sorted(TESTS)
    failed = skipped = 0
    for name in names:
        fn = TESTS.get(name)
        if not fn:
            print("unknown test %s (have: %s)" % (name, ", ".join(sorted(TESTS))))
            return 2
        t0 = time.monotonic()
        try:
            fn()
            print("PASS %s (%.1fs)" % (name, time.monotonic() - t0))
        except Skip as e:
            skipped += 1
            print("SKIP %s: %s" % (name, e))
        except Exception as e:  # noqa: BLE001 - every failure reported alike
            failed += 1
            import traceback
            traceback.print_exc()
            print("FAIL %s: %s" % (name, e))
    if failed:
        return 1
    return SKIP if skipped and skipped == len(names) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
