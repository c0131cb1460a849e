"""Shared harness of the kubesim client suites: start nave-kubesim, drive clients.

Each test class starts its own simulator (free loopback ports, a temporary
--dir, a fresh HOME and kubectl --cache-dir), waits for the "ready:" line and
stops it with SIGTERM at the end, checking it exits cleanly. Nothing here
sleeps for a fixed time: every wait polls a condition with a deadline.

Run with Debian's interpreter, /usr/bin/python3, which has python3-kubernetes.
The binary is $NAVE_KUBESIM (meson sets it), else the first
build-*/tests/kubesim/nave-kubesim found from the source root.
"""

import glob
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import warnings

# python-kubernetes leaves pooled TLS sockets to the garbage collector.
warnings.simplefilter("ignore", ResourceWarning)

KUBECTL = os.environ.get("KUBECTL", "/usr/bin/kubectl")
SRC_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
READY_TIMEOUT = 30.0


def find_binary():
    path = os.environ.get("NAVE_KUBESIM")
    if path:
        return path
    found = glob.glob(os.path.join(SRC_ROOT, "build-*", "tests", "kubesim", "nave-kubesim"))
    if not found:
        raise unittest.SkipTest("nave-kubesim not built (set NAVE_KUBESIM)")
    return max(found, key=os.path.getmtime)  # the most recently built


def free_ports(n):
    """A base port such that base..base+n-1 are free on 127.0.0.1 right now."""
    for _ in range(200):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1]
        s.close()
        if base + n > 65535:
            continue
        ok = True
        for p in range(base, base + n):
            t = socket.socket()
            try:
                t.bind(("127.0.0.1", p))
            except OSError:
                ok = False
            finally:
                t.close()
            if not ok:
                break
        if ok:
            return base
    raise RuntimeError("no free consecutive ports")


def wait_for(pred, timeout=20.0, interval=0.05, what="condition"):
    """Poll pred() until it returns a truthy value; return it, or fail after timeout."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - keep polling, report the last error
            last_exc = e
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last error: %r)" % (timeout, what, last_exc))
        time.sleep(interval)


class LineReader:
    """Reads a pipe on a thread into a queue so waits can have deadlines."""

    def __init__(self, pipe, sink=None):
        self.q = queue.Queue()
        self.lines = []
        self.sink = sink
        self.t = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self.t.start()

    def _run(self, pipe):
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if self.sink:
                self.sink.write(line + "\n")
                self.sink.flush()
            self.q.put(line)
        self.q.put(None)

    def next(self, timeout):
        """The next line, or None at EOF; raises queue.Empty after timeout."""
        line = self.q.get(timeout=timeout)
        if line is not None:
            self.lines.append(line)
        return line

    def wait_line(self, pred, timeout=20.0, what="line"):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out waiting for %s; saw %r" % (what, self.lines[-20:]))
            try:
                line = self.next(left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("stream ended waiting for %s; saw %r" % (what, self.lines[-20:]))
            if pred(line):
                return line


class Sim:
    """One nave-kubesim process with one or more clusters."""

    def __init__(self, clusters=1, ready_delay_ms=300, fail_pattern=None, in_cluster=False, extra=()):
        self.clusters = clusters
        self.ready_delay_ms = ready_delay_ms
        self.fail_pattern = fail_pattern
        self.in_cluster = in_cluster
        self.extra = list(extra)
        self.proc = None
        self.tmp = None

    # --- lifecycle -----------------------------------------------------------

    def start(self):
        binary = find_binary()
        self.tmp = tempfile.mkdtemp(prefix="kubesim-clients-")
        self.dir = os.path.join(self.tmp, "clusters")
        self.home = os.path.join(self.tmp, "home")
        self.cache = os.path.join(self.tmp, "kube-cache")
        os.makedirs(self.home)
        last_err = None
        for _attempt in range(3):
            self.base_port = free_ports(self.clusters)
            args = [binary, "--clusters", str(self.clusters), "--base-port", str(self.base_port),
                    "--dir", self.dir, "--ready-delay", "%dms" % self.ready_delay_ms]
            if self.fail_pattern:
                args += ["--fail-pattern", self.fail_pattern]
            if self.in_cluster:
                self.in_cluster_dir = os.path.join(self.tmp, "incluster")
                args += ["--in-cluster-dir", self.in_cluster_dir]
            args += self.extra
            self.log_path = os.path.join(self.tmp, "kubesim.log")
            self.log = open(self.log_path, "a")
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL)
            self.out = LineReader(self.proc.stdout, sink=self.log)
            try:
                self.ready_line = self.out.wait_line(lambda l: l.startswith("ready"), timeout=READY_TIMEOUT,
                                                     what="the ready: line")
                return self
            except AssertionError as e:
                last_err = e
                self._kill()
                # A port taken between our probe and the bind: try other ports.
        raise AssertionError("nave-kubesim did not start: %s\n%s" % (last_err, self.log_tail()))

    def log_tail(self, n=40):
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, check=True):
        """SIGTERM, then wait; the simulator must exit 0 within 10 s."""
        rc = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self._kill()
                if check:
                    raise AssertionError("nave-kubesim did not exit within 10s of SIGTERM")
        elif self.proc:
            rc = self.proc.returncode
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        if getattr(self, "log", None):
            self.log.close()
        if check and rc not in (0, None):
            raise AssertionError("nave-kubesim exited with %r on SIGTERM\n%s" % (rc, self.log_tail()))
        if os.environ.get("KEEP_KUBESIM_TMP"):
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- access ---------------------------------------------------------------

    def name(self, i=1):
        return "cluster-%d" % i

    def kubeconfig(self, i=1):
        return os.path.join(self.dir, self.name(i), "kubeconfig")

    def port(self, i=1):
        return self.base_port + i - 1

    def env(self, i=1):
        env = dict(os.environ)
        env["HOME"] = self.home
        env["KUBECONFIG"] = self.kubeconfig(i)
        return env

    def kubectl(self, *args, check=True, input=None, timeout=60, cluster=1):
        """Run kubectl; returns CompletedProcess with text stdout/stderr."""
        cmd = [KUBECTL, "--cache-dir", self.cache] + list(args)
        p = subprocess.run(cmd, env=self.env(cluster), input=input, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("kubectl %s failed (%d):\nstdout: %s\nstderr: %s\nsimulator log:\n%s"
                                 % (" ".join(args), p.returncode, p.stdout, p.stderr, self.log_tail(15)))
        return p

    def kubectl_json(self, *args, cluster=1):
        return json.loads(self.kubectl(*(list(args) + ["-o", "json"]), cluster=cluster).stdout)

    def kubectl_popen(self, *args, cluster=1):
        cmd = [KUBECTL, "--cache-dir", self.cache] + list(args)
        p = subprocess.Popen(cmd, env=self.env(cluster), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
        return p

    def api_client(self, i=1):
        """A python-kubernetes ApiClient for cluster i from its kubeconfig."""
        from kubernetes import client, config
        cfg = client.Configuration()
        config.load_kube_config(config_file=self.kubeconfig(i), client_configuration=cfg)
        return client.ApiClient(cfg)


def check_no_crash(testcase, proc_result):
    """kubectl must have failed cleanly: no Go panic, a message on stderr."""
    testcase.assertNotIn("panic", proc_result.stderr)
    testcase.assertNotIn("goroutine", proc_result.stderr)
    testcase.assertTrue(proc_result.stderr.strip(), "expected an error message on stderr")


class SimTestCase(unittest.TestCase):
    """A TestCase with one simulator for the whole class (cls.sim)."""

    sim_args = {}

    @classmethod
    def setUpClass(cls):
        warnings.simplefilter("ignore", ResourceWarning)  # unittest resets the filters per run
        cls.sim = Sim(**cls.sim_args).start()
        cls._ns_counter = 0

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "sim", None):
            cls.sim.stop()

    def setUp(self):
        # The simulator must still be alive when each test starts.
        self.assertIsNone(self.sim.proc.poll(), "nave-kubesim died:\n" + self.sim.log_tail())

    def tearDown(self):
        self.assertIsNone(self.sim.proc.poll(), "nave-kubesim died during the test:\n" + self.sim.log_tail())

    def new_namespace(self, prefix="t"):
        type(self)._ns_counter += 1
        ns = "%s-%d-%d" % (prefix, os.getpid() % 10000, type(self)._ns_counter)
        self.sim.kubectl("create", "namespace", ns)
        return ns

    def write(self, name, text):
        path = os.path.join(self.sim.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path
