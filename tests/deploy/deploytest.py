"""deploytest.py - run Nave's deploy/ artefacts the way their platforms would.

No container engine, kubelet or systemd runs on these machines, so this module
plays their part, as closely as a test can:

  RootFS     deploy/container/assemble-rootfs into a temporary directory: the
             file tree of the images (binaries, libraries, lws plugin, users,
             CA bundle, /bin/sh, cat, curl).
  Sim        nave-kubesim (one cluster, --in-cluster-dir) and kubectl against it.
  Hub        nave-hub run from the tree (chroot, as the image's user 65532).
  PodRunner  a container of a pod spec read from the cluster (kubectl get -o
             json), started as the kubelet would: command and args with $(VAR)
             expansion, env (value, fieldRef, secretKeyRef, configMapKeyRef),
             the service account files and KUBERNETES_SERVICE_HOST/PORT,
             secret/configMap/emptyDir/PVC volumes at their mountPath (bind
             mounts in a private mount namespace, modes and fsGroup applied),
             runAsUser/runAsGroup/fsGroup, /dev and /proc as a runtime gives
             them, chroot into the tree.
             The one deviation: pods share the host's network namespace here,
             so each containerPort is mapped to a free port, in the args and
             for the probes alike.

Running from the tree needs root (mount namespaces, chroot); tests that need
it exit 77 (skipped) otherwise, and say so.

Environment: NAVE_BUILD_DIR (the meson build directory), NAVE_KUBESIM,
NAVE_SOURCE_DIR (the top of the source tree).
"""
import base64
import copy
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

SRC = os.environ.get("NAVE_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD = os.environ.get("NAVE_BUILD_DIR", os.path.join(SRC, "build"))
KUBESIM = os.environ.get("NAVE_KUBESIM", os.path.join(BUILD, "tests", "kubesim", "nave-kubesim"))
NAVECTL = os.path.join(BUILD, "hub", "navectl")
KUBECTL = "/usr/bin/kubectl"
DEPLOY = os.path.join(SRC, "deploy")
ASSEMBLE = os.path.join(DEPLOY, "container", "assemble-rootfs")
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
SKIP = 77


class Skip(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def wait_for(pred, timeout, what, step=0.1):
    """Poll pred() until it returns a true value; raise after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = pred()
        except (OSError, ValueError, AssertionError, subprocess.SubprocessError) as e:  # not ready yet
            v, last = None, e
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s%s" %
                                 (timeout, what, " (last error: %s)" % last if last else ""))
        time.sleep(step)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def need_root():
    if os.geteuid() != 0:
        raise Skip("running from the assembled tree needs root (chroot, mount namespaces)")
    for tool in ("unshare", "chroot", "mount"):
        if not shutil.which(tool):
            raise Skip("%s is not installed" % tool)


def load_yaml_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def deploy_files(subdir, recursive=False):
    """The .yaml files of deploy/<subdir>, in name order (kubectl's order)."""
    top = os.path.join(DEPLOY, subdir)
    out = []
    for name in sorted(os.listdir(top)):
        p = os.path.join(top, name)
        if os.path.isdir(p):
            if recursive:
                out += deploy_files(os.path.join(subdir, name), True)
        elif name.endswith((".yaml", ".yml", ".json")):
            out.append(p)
    return out


class TmpDir:
    def __init__(self, prefix="nave-deploy-test-"):
        self.path = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.path, 0o755)

    def __call__(self, *parts):
        return os.path.join(self.path, *parts)

    def cleanup(self):
        if os.environ.get("NAVE_KEEP_TEST_DIRS"):
            sys.stderr.write("kept %s\n" % self.path)
        else:
            shutil.rmtree(self.path, ignore_errors=True)


# --- the image tree ---------------------------------------------------------

class RootFS:
    def __init__(self, tmp, component="all"):
        self.path = tmp("rootfs")
        r = subprocess.run([ASSEMBLE, "--build-dir", BUILD, "--out", self.path, "--component", component,
                            "--print-manifest"], capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, "assemble-rootfs failed (%d): %s" % (r.returncode, r.stderr))
        self.files = r.stdout.split()

    def __call__(self, *parts):
        return os.path.join(self.path, *[p.lstrip("/") for p in parts])

    def run(self, argv, uid=65532, gid=65532, groups=(), mounts=(), env=None, stdout=None, stderr=None,
            **kw):
        """Popen argv inside the tree: a private mount namespace with /dev and
        /proc, the given (host dir, path in tree, read-only) bind mounts, then
        chroot as uid:gid. The returned process's pid is the program's own
        (unshare, sh and chroot exec into it)."""
        script = ['set -e', 'mount --rbind /dev "$T/dev"', 'mount -t proc proc "$T/proc"']
        for i, (src, dst, ro) in enumerate(mounts):
            os.makedirs(self(dst), exist_ok=True)
            script.append('mount --bind "$M%d" "$T%s"' % (i, dst))
            if ro:
                script.append('mount -o remount,bind,ro "$T%s"' % dst)
        spec = "--userspec=%d:%d" % (uid, gid)
        grp = ["--groups=" + ",".join(str(g) for g in groups)] if groups else []
        script.append('exec chroot %s %s "$T" "$@"' % (spec, " ".join(grp)))
        e = dict(env or {})
        e.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        e["T"] = self.path
        for i, (src, _, _) in enumerate(mounts):
            e["M%d" % i] = src
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ and k not in e:
                e[k] = os.environ[k]
        return subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                                 "\n".join(script), "sh"] + list(argv),
                                env=e, stdout=stdout, stderr=stderr, **kw)


# --- nave-kubesim -------------------------------------------------------------

class Sim:
    def __init__(self, tmp, nodes=3, name="sim"):
        self.dir = tmp(name)
        self.ic = tmp(name + "-incluster")
        self.home = tmp(name + "-home")
        os.makedirs(self.home)
        self.log = open(tmp(name + ".log"), "w")
        self.proc = subprocess.Popen([KUBESIM, "--dir", self.dir, "--in-cluster-dir", self.ic, "--nodes",
                                      str(nodes), "--ready-delay", "200ms"],
                                     stdout=subprocess.PIPE, stderr=self.log)
        deadline = time.monotonic() + 30
        while True:
            check(time.monotonic() < deadline, "nave-kubesim did not say ready")
            r, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if r:
                line = self.proc.stdout.readline()
                if line.startswith(b"ready"):
                    break
                check(line, "nave-kubesim exited: %s" % open(tmp(name + ".log")).read()[-2000:])
        self.cluster = sorted(os.listdir(self.dir))[0]
        self.kubeconfig = os.path.join(self.dir, self.cluster, "kubeconfig")
        with open(self.kubeconfig) as f:
            server = re.search(r"server:\s*(\S+)", f.read()).group(1)
        m = re.match(r"https://([^:/]+):(\d+)", server)
        self.host, self.port = m.group(1), int(m.group(2))
        self.sa_dir = os.path.join(self.ic, self.cluster, "serviceaccount")
        self.tls_crt = os.path.join(self.dir, self.cluster, "tls.crt")
        self.tls_key = os.path.join(self.dir, self.cluster, "tls.key")
        # What pods get as KUBERNETES_SERVICE_PORT (a test may put a proxy there).
        self.service_port = self.port

    def kubectl(self, *args, input=None, check_rc=True, timeout=60):
        r = subprocess.run([KUBECTL, "--kubeconfig", self.kubeconfig] + list(args), input=input,
                           capture_output=True, text=True, timeout=timeout,
                           env=dict(os.environ, HOME=self.home))
        if check_rc and r.returncode != 0:
            raise AssertionError("kubectl %s (%d): %s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def get(self, kind, name, ns=None, check_rc=True):
        args = ["get", kind, name, "-o", "json"] + (["-n", ns] if ns else [])
        r = self.kubectl(*args, check_rc=check_rc)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


# --- nave-hub from the tree -----------------------------------------------------

class Hub:
    """nave-hub init + serve inside the tree (data in /var/lib/nave/hub)."""

    def __init__(self, tmp, rootfs, serve_args=()):
        self.rootfs = rootfs
        self.data = "/var/lib/nave/hub"
        self.logpath = tmp("hub.log")
        p = rootfs.run(["/usr/bin/nave-hub", "init", "--data-dir", self.data, "--listen", "127.0.0.1:0"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = p.communicate(timeout=60)
        check(p.returncode == 0, "nave-hub init in the tree failed: %s" % out.decode(errors="replace"))
        self.start(serve_args)

    def start(self, serve_args=()):
        log = open(self.logpath, "ab")
        self.proc = self.rootfs.run(["/usr/bin/nave-hub", "serve", "--data-dir", self.data] + list(serve_args),
                                    stdout=subprocess.PIPE, stderr=log)
        log.close()
        deadline = time.monotonic() + 30
        while True:
            check(self.proc.poll() is None, "nave-hub serve exited: %s" % self.log_tail())
            check(time.monotonic() < deadline, "nave-hub serve not ready: %s" % self.log_tail())
            r, _, _ = select.select([self.proc.stdout], [], [], 0.3)
            if r:
                line = self.proc.stdout.readline()
                if line.startswith(b"ready: "):
                    self.url = line.decode().split()[1]
                    self.port = int(self.url.rsplit(":", 1)[1])
                    break
        self.kubeconfig = self.rootfs(self.data, "admin.kubeconfig")
        self.ca = self.rootfs(self.data, "ca.crt")

    def log_tail(self, n=30):
        try:
            with open(self.logpath, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def navectl(self, *args, input=None, check_rc=True, timeout=60):
        r = subprocess.run([NAVECTL, "--kubeconfig", self.kubeconfig] + list(args), input=input,
                           capture_output=True, text=True, timeout=timeout)
        if check_rc and r.returncode != 0:
            raise AssertionError("navectl %s (%d): %s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def get_json(self, *args):
        return json.loads(self.navectl("get", *args, "-o", "json").stdout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("nave-hub did not stop within 20 s of SIGTERM")
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        rc = self.proc.returncode if self.proc else 0
        self.proc = None
        return rc


# --- a kubelet of sorts -----------------------------------------------------------

VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(s, env):
    """Kubernetes' $(VAR) expansion: known variables replaced, $$ -> $, the
    rest left as written."""
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)
    return VAR_REF.sub(sub, s)


class PodRunner:
    """One container of a pod, started as a kubelet would (see the top)."""

    def __init__(self, tmp, rootfs, sim, pod_spec, container_name, namespace, pod_name, node_name,
                 pvc_dirs=None, container_list="containers"):
        self.tmp = tmp
        self.rootfs = rootfs
        self.sim = sim
        self.spec = pod_spec
        self.ns = namespace
        self.name = pod_name
        self.node = node_name
        self.pvc_dirs = pvc_dirs or {}
        self.c = next(c for c in pod_spec[container_list] if c["name"] == container_name)
        self.dir = tmp("pods", pod_name, container_name)
        os.makedirs(self.dir, exist_ok=True)
        self.logpath = os.path.join(self.dir, "log")
        self.proc = None
        self.killed = False   # stopped on purpose by the test
        # containerPort -> free host port (the shared network namespace).
        self.ports = {}
        self.port_names = {}
        for p in self.c.get("ports", []):
            self.ports[p["containerPort"]] = free_port()
            if p.get("name"):
                self.port_names[p["name"]] = p["containerPort"]

    # env ---------------------------------------------------------------------
    def _field(self, path):
        return {"metadata.name": self.name, "metadata.namespace": self.ns, "spec.nodeName": self.node,
                "spec.serviceAccountName": self.spec.get("serviceAccountName", "default"),
                "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1"}[path]

    def _ref(self, kind, ref):
        obj = self.sim.get(kind, ref["name"], self.ns)
        data = obj.get("data", {})
        v = data[ref["key"]]
        return base64.b64decode(v).decode() if kind == "secret" else v

    def env(self):
        e = {"HOSTNAME": self.name,
             "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        if self.spec.get("automountServiceAccountToken", True):
            e["KUBERNETES_SERVICE_HOST"] = self.sim.host
            e["KUBERNETES_SERVICE_PORT"] = str(self.sim.service_port)
        for item in self.c.get("env", []):
            if "value" in item:
                e[item["name"]] = expand(item["value"], e)
            else:
                vf = item["valueFrom"]
                if "fieldRef" in vf:
                    e[item["name"]] = self._field(vf["fieldRef"]["fieldPath"])
                elif "secretKeyRef" in vf:
                    e[item["name"]] = self._ref("secret", vf["secretKeyRef"])
                elif "configMapKeyRef" in vf:
                    e[item["name"]] = self._ref("configmap", vf["configMapKeyRef"])
                else:
                    raise AssertionError("env %s: unsupported valueFrom %s" % (item["name"], vf))
        return e

    # volumes -------------------------------------------------------------------
    def _fs_group(self):
        return self.spec.get("securityContext", {}).get("fsGroup")

    def _write_files(self, d, files, mode):
        os.makedirs(d, exist_ok=True)
        fsg = self._fs_group()
        for k, v in files.items():
            p = os.path.join(d, k)
            with open(p, "wb") as f:
                f.write(v)
            os.chmod(p, mode)
            if fsg is not None:
                os.chown(p, 0, fsg)
        os.chmod(d, 0o755)

    def volume_dir(self, vol):
        d = os.path.join(self.dir, "volumes", vol["name"])
        if "secret" in vol:
            obj = self.sim.get("secret", vol["secret"]["secretName"], self.ns)
            files = {k: base64.b64decode(v) for k, v in obj.get("data", {}).items()}
            self._write_files(d, files, vol["secret"].get("defaultMode", 0o644))
        elif "configMap" in vol:
            obj = self.sim.get("configmap", vol["configMap"]["name"], self.ns)
            files = {k: v.encode() for k, v in obj.get("data", {}).items()}
            self._write_files(d, files, vol["configMap"].get("defaultMode", 0o644))
        elif "emptyDir" in vol:
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o777)
        elif "persistentVolumeClaim" in vol:
            d = self.pvc_dirs[vol["persistentVolumeClaim"]["claimName"]]
            fsg = self._fs_group()
            if fsg is not None:   # the kubelet's fsGroup ownership: group-owned, setgid
                os.chown(d, 0, fsg)
                os.chmod(d, 0o2775)
        else:
            raise AssertionError("volume %s: unsupported type" % vol["name"])
        return d

    def mounts(self):
        vols = {v["name"]: v for v in self.spec.get("volumes", [])}
        out = []
        for m in self.c.get("volumeMounts", []):
            out.append((self.volume_dir(vols[m["name"]]), m["mountPath"], bool(m.get("readOnly"))))
        if self.spec.get("automountServiceAccountToken", True):
            d = os.path.join(self.dir, "serviceaccount")
            files = {}
            for k in ("token", "ca.crt"):
                with open(os.path.join(self.sim.sa_dir, k), "rb") as f:
                    files[k] = f.read()
            files["namespace"] = self.ns.encode()
            self._write_files(d, files, 0o644)
            out.append((d, SA_DIR, True))
        return out

    # the process -----------------------------------------------------------------
    def argv(self, env):
        cmd = [expand(a, env) for a in self.c.get("command", [])]
        args = [expand(a, env) for a in self.c.get("args", [])]
        check(cmd, "container %s has no command: the image's ENTRYPOINT would be used; "
                   "the manifests name it explicitly" % self.c["name"])
        out = []
        for a in cmd + args:
            for cport, hport in self.ports.items():
                a = re.sub(r"(?<=:)%d\b" % cport, str(hport), a)
            out.append(a)
        return out

    def start(self):
        sc = dict(self.spec.get("securityContext", {}))
        sc.update(self.c.get("securityContext", {}))
        uid, gid = sc.get("runAsUser", 0), sc.get("runAsGroup", sc.get("runAsUser", 0))
        check(not sc.get("runAsNonRoot") or uid != 0, "runAsNonRoot without a non-zero runAsUser")
        groups = [self._fs_group()] if self._fs_group() is not None else []
        env = self.env()
        self.argv_used = self.argv(env)
        self.env_used = env
        log = open(self.logpath, "ab")
        self.proc = self.rootfs.run(self.argv_used, uid=uid, gid=gid, groups=groups, mounts=self.mounts(),
                                    env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self

    def wait(self, timeout):
        return self.proc.wait(timeout)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        self.killed = True
        if self.alive():
            self.proc.send_signal(sig)
            self.proc.wait(30)

    def log(self, n=40):
        try:
            with open(self.logpath, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    # probes ------------------------------------------------------------------------
    def probe(self, which, timeout=3):
        """GET the container's probe (httpGet) on its mapped port: (status, body)."""
        p = self.c[which]["httpGet"]
        port = p["port"]
        if isinstance(port, str):
            port = self.port_names[port]
        url = "%s://127.0.0.1:%d%s" % (p.get("scheme", "HTTP").lower(), self.ports[port], p.get("path", "/"))
        ctx = ssl._create_unverified_context()  # the kubelet does not verify probe certificates
        try:
            with urllib.request.urlopen(url, timeout=timeout, context=ctx) as r:
                return r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")


def pod_name(base, i):
    return "%s-%s" % (base, "".join("bcdfghjklmnpqrstvwxz2456789"[(i * 7 + k * 3) % 27] for k in range(5)))
