"""test_agent.py - nave-klusterlet's join, connection and leader election,
with the real binaries.

Join tests run against a real nave-hub (init + serve on a free port). The
stream tests run the klusterlet against nave-kubesim (the spoke, applied to
by the real work engine) and fakehub.py, a scriptable stand-in for the
hub's websocket endpoint that lets a test withhold hellos, heartbeats and
acks, drop connections and check what the agent sends, event by event.

Run one test: test_agent.py NAME (meson runs each as its own test).
Environment: NAVE_KLUSTERLET, NAVE_HUB, NAVE_KUBESIM, NAVE_TEST_DATA.
"""
import json
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "hub"))

import fakehub  # noqa: E402
import hubtest  # noqa: E402
from hubtest import run_tests, wait_for  # noqa: E402

KLUSTERLET = os.environ.get("NAVE_KLUSTERLET", "nave-klusterlet")
KUBESIM = os.environ.get("NAVE_KUBESIM", "nave-kubesim")
KUBECTL = "/usr/bin/kubectl"
RID1 = "5f0c2e1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
RID2 = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


class TmpDir:
    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="nave-agent-test-")

    def __call__(self, *parts):
        return os.path.join(self.path, *parts)

    def cleanup(self):
        if os.environ.get("NAVE_KEEP_TEST_DIRS"):
            sys.stderr.write("kept %s\n" % self.path)
        else:
            shutil.rmtree(self.path, ignore_errors=True)


class Kubesim:
    def __init__(self, tmp, nodes=2):
        self.dir = tmp("kubesim")
        self.log = open(tmp("kubesim.log"), "w")
        self.proc = subprocess.Popen([KUBESIM, "--dir", self.dir, "--nodes", str(nodes)],
                                     stdout=subprocess.PIPE, stderr=self.log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith(b"ready"):
                break
            if not line and self.proc.poll() is not None:
                raise AssertionError("nave-kubesim exited")
        self.kubeconfig = os.path.join(self.dir, "cluster-1", "kubeconfig")

    def kubectl(self, *args, check_rc=True):
        r = subprocess.run([KUBECTL, "--kubeconfig", self.kubeconfig] + list(args), capture_output=True,
                           text=True, timeout=60, env=dict(os.environ, HOME=os.path.dirname(self.dir)))
        if check_rc and r.returncode != 0:
            raise AssertionError("kubectl %s: %s" % (" ".join(args), r.stderr))
        return r

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
        self.proc.stdout.close()
        self.log.close()


class Agent:
    """One nave-klusterlet process; stderr to a log file."""
    n = 0

    def __init__(self, tmp, args, cmd="run"):
        Agent.n += 1
        self.logpath = tmp("agent%d.log" % Agent.n)
        self.log = open(self.logpath, "w")
        self.proc = subprocess.Popen([KLUSTERLET, cmd] + list(args), stdout=subprocess.PIPE,
                                     stderr=self.log, text=True)

    def wait(self, timeout=60):
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
            raise AssertionError("nave-klusterlet did not finish in %ds:\n%s" % (timeout, self.tail()))
        return self.proc.returncode, out

    def term(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("nave-klusterlet did not stop within %ds of SIGTERM:\n%s" %
                                     (timeout, self.tail()))
        return self.proc.returncode

    def kill9(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def tail(self, n=40):
        self.log.flush()
        with open(self.logpath, errors="replace") as f:
            return "".join(f.readlines()[-n:])

    def log_text(self):
        self.log.flush()
        with open(self.logpath, errors="replace") as f:
            return f.read()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def health(port, path="/healthz"):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
    except (OSError, ValueError):
        return None, None


def configmap(name, data=None):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
            "data": data or {"k": "v"}}


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def check_state_dir(d):
    check(mode(d) == 0o700, "state dir mode %o" % mode(d))
    cd = os.path.join(d, "nave-hub-credentials")
    check(mode(cd) == 0o700, "credential dir mode %o" % mode(cd))
    names = sorted(os.listdir(cd))
    check(names == ["agent-name", "ca.crt", "cluster-name", "hub-url", "tls.crt", "tls.key"],
          "credential files: %s" % names)
    for n in names:
        check(mode(os.path.join(cd, n)) == 0o600, "%s mode %o" % (n, mode(os.path.join(cd, n))))
    return cd


# --- join against the real hub ----------------------------------------------

def with_hub(fn, serve_args=()):
    h = hubtest.Hub(serve_args=serve_args)
    tmp = TmpDir()
    try:
        h.start()
        fn(h, tmp)
    finally:
        h.cleanup()
        tmp.cleanup()


def join_args(h, tok, cluster, state, pin=None):
    return ["--hub", "https://127.0.0.1:%d" % h.port, "--token", tok["token"],
            "--ca-hash", pin or tok["caHash"], "--cluster-name", cluster, "--state-dir", state]


def t_join_accept():
    def body(h, tmp):
        tok = h.create_token(ttlSeconds=600)
        state = tmp("state")
        a = Agent(tmp, join_args(h, tok, "c1", state) + ["--labels", "region=eu,tier=gold"], cmd="join")
        # It says it waits, and waits, until the administrator accepts.
        line = a.proc.stdout.readline()
        check("waiting for an administrator to accept cluster c1: run `navectl cluster accept c1` on the hub"
              in line, "waiting message: %r" % line)
        time.sleep(1.5)
        check(a.proc.poll() is None, "join exited before the accept:\n%s" % a.tail())
        st, mc = h.request("GET", "/apis/cluster.open-cluster-management.io/v1/managedclusters/c1")
        check(st == 200 and mc["metadata"]["labels"].get("region") == "eu", "ManagedCluster: %s" % mc)
        st, _ = h.request("POST", "/nave/v1/clusters/c1/accept")
        check(st == 200, "accept: %d" % st)
        rc, out = a.wait(60)
        check(rc == 0, "join exit %d:\n%s%s" % (rc, out, a.tail()))
        check("cluster c1 joined hub" in out, out)
        cd = check_state_dir(state)
        with open(os.path.join(cd, "hub-url")) as f:
            check(f.read() == "https://127.0.0.1:%d" % h.port, "hub-url")
        subj = hubtest.openssl("x509", "-in", os.path.join(cd, "tls.crt"), "-noout", "-subject")
        check("O = system:open-cluster-management:c1" in subj and
              "CN = system:open-cluster-management:c1:agent-" in subj, subj)
        hubtest.openssl("verify", "-CAfile", h.path("ca.crt"), os.path.join(cd, "tls.crt"))
        # The key is the certificate's and the CA is the hub's.
        pub1 = hubtest.openssl("x509", "-in", os.path.join(cd, "tls.crt"), "-noout", "-pubkey")
        pub2 = hubtest.openssl("pkey", "-in", os.path.join(cd, "tls.key"), "-pubout")
        check(pub1 == pub2, "key does not match the certificate")
        with open(os.path.join(cd, "ca.crt")) as f1, open(h.path("ca.crt")) as f2:
            check(f1.read().strip() == f2.read().strip(), "ca.crt is not the hub CA")
        # A second join finds the valid credential and keeps it.
        a2 = Agent(tmp, join_args(h, tok, "c1", state), cmd="join")
        rc, out = a2.wait(30)
        check(rc == 0 and "credential in" in out, "second join: %d %s\n%s" % (rc, out, a2.tail()))
        check("found in" in a2.log_text(), "second join did not reuse the credential")
    with_hub(body)


def t_join_wrong_pin():
    def body(h, tmp):
        tok = h.create_token(ttlSeconds=600)
        state = tmp("state")
        bad = "sha256:" + "ab" * 32
        a = Agent(tmp, join_args(h, tok, "c1", state, pin=bad), cmd="join")
        rc, out = a.wait(30)
        err = a.log_text()
        check(rc == 1, "exit %d" % rc)
        check("refusing to join" in err and tok["caHash"] in err and bad in err,
              "message should name both pins:\n%s" % err)
        check(not os.path.exists(os.path.join(state, "nave-hub-credentials")), "credential written")
        st, body_ = h.request("GET", "/apis/certificates.k8s.io/v1/certificatesigningrequests")
        check(st == 200 and not body_["items"], "a registration was made: %s" % body_)
        # A malformed pin and no pin are usage errors.
        a = Agent(tmp, join_args(h, tok, "c1", state, pin="sha256:xyz"), cmd="join")
        rc, _ = a.wait(30)
        check(rc == 2 and "--ca-hash" in a.log_text(), "malformed pin: %d %s" % (rc, a.tail()))
        args = [x for x in join_args(h, tok, "c1", state) if x not in ("--ca-hash", tok["caHash"])]
        a = Agent(tmp, args, cmd="join")
        rc, _ = a.wait(30)
        check(rc == 2 and "refusing to join without --ca-hash" in a.log_text(), "no pin: %d %s" %
              (rc, a.tail()))
    with_hub(body)


def t_join_bad_token():
    def body(h, tmp):
        tok = h.create_token(ttlSeconds=600)
        state = tmp("state")
        bad = dict(tok, token="zzzzzz.0123456789abcdef")
        a = Agent(tmp, join_args(h, bad, "c1", state), cmd="join")
        rc, _ = a.wait(30)
        err = a.log_text()
        check(rc == 1, "exit %d" % rc)
        check("refused the bootstrap token" in err and 'bootstrap token "zzzzzz" not found' in err,
              "message: %s" % err)
        wrong = dict(tok, token=tok["token"][:7] + "x" * 16)
        a = Agent(tmp, join_args(h, wrong, "c1", state), cmd="join")
        rc, _ = a.wait(30)
        check(rc == 1 and "wrong secret" in a.log_text(), "wrong secret: %s" % a.tail())
        check(not os.path.exists(os.path.join(state, "nave-hub-credentials")), "credential written")
    with_hub(body)


def t_join_denied():
    def body(h, tmp):
        tok = h.create_token(ttlSeconds=600)
        a = Agent(tmp, join_args(h, tok, "c2", tmp("state")), cmd="join")
        line = a.proc.stdout.readline()
        check("waiting for an administrator" in line, line)
        st, _ = h.request("POST", "/nave/v1/clusters/c2/deny")
        check(st == 200, "deny %d" % st)
        rc, _ = a.wait(60)
        check(rc == 1 and "denied" in a.log_text(), "denied join: %d %s" % (rc, a.tail()))
    with_hub(body)


def t_join_insecure_auto_accept():
    def body(h, tmp):
        tok = h.create_token(ttlSeconds=600)
        args = [x for x in join_args(h, tok, "c3", tmp("state")) if x not in ("--ca-hash", tok["caHash"])]
        a = Agent(tmp, args + ["--insecure-skip-ca-verification"], cmd="join")
        rc, out = a.wait(60)
        check(rc == 0, "exit %d %s" % (rc, a.tail()))
        check("--insecure-skip-ca-verification" in a.log_text(), "no warning about the skipped pin")
        check_state_dir(tmp("state"))
    with_hub(body, serve_args=["--auto-accept"])


def t_join_secret():
    """In-cluster style: the credential goes to a Secret of the spoke."""
    def body(h, tmp):
        ks = Kubesim(tmp)
        try:
            tok = h.create_token(ttlSeconds=600)
            args = ["--hub", "https://127.0.0.1:%d" % h.port, "--token", tok["token"], "--ca-hash",
                    tok["caHash"], "--cluster-name", "c4", "--kubeconfig", ks.kubeconfig, "--store", "secret",
                    "--namespace", "default"]
            a = Agent(tmp, args, cmd="join")
            rc, out = a.wait(60)
            check(rc == 0, "exit %d %s" % (rc, a.tail()))
            sec = json.loads(ks.kubectl("get", "secret", "nave-hub-credentials", "-n", "default",
                                        "-o", "json").stdout)
            check(sorted(sec["data"]) == ["agent-name", "ca.crt", "cluster-name", "hub-url", "tls.crt",
                                          "tls.key"], "secret keys %s" % sorted(sec["data"]))
            # The hub saw the spoke's claims at registration.
            st, mc = h.request("GET", "/apis/cluster.open-cluster-management.io/v1/managedclusters/c4")
            claims = {c["name"]: c["value"] for c in mc.get("status", {}).get("clusterClaims", [])}
            check(claims.get("kubeversion.open-cluster-management.io") == "v1.30.0", "claims %s" % claims)
        finally:
            ks.stop()
    with_hub(body, serve_args=["--auto-accept"])


def stream_served(h):
    """Whether the hub answers a websocket upgrade on the agent path (it may not exist yet)."""
    ctx = ssl.create_default_context(cafile=h.path("ca.crt"))
    try:
        with socket.create_connection(("127.0.0.1", h.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"GET /agent/v1/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: cloudevents.json\r\n\r\n")
                resp = s.recv(200)
        return not resp.startswith(b"HTTP/1.1 404")
    except OSError:
        return False


def t_run_real_hub():
    """run with bootstrap options against the real hub: joins, stores, connects (when the hub has
    the stream endpoint), reports its lease and claims."""
    def body(h, tmp):
        ks = Kubesim(tmp)
        try:
            tok = h.create_token(ttlSeconds=600)
            hp = free_port()
            a = Agent(tmp, join_args(h, tok, "c5", tmp("state")) +
                      ["--kubeconfig", ks.kubeconfig, "--no-leader-elect", "--health-listen",
                       "127.0.0.1:%d" % hp])
            wait_for(lambda: "credential stored in" in a.log_text(), 60,
                     what="the credential after auto-accept")
            check_state_dir(tmp("state"))
            wait_for(lambda: (health(hp, "/readyz")[1] or {}).get("applying"), 30, what="engine applying")
            if not stream_served(h):
                print("SKIP part: the hub has no agent stream endpoint yet; joined and applying")
                check(a.term() == 0, "exit status")
                return
            wait_for(lambda: (health(hp)[1] or {}).get("connected"), 60, what="connected to the hub")

            def available():
                st, mc = h.request("GET", "/apis/cluster.open-cluster-management.io/v1/managedclusters/c5")
                conds = {c["type"]: c["status"] for c in mc.get("status", {}).get("conditions", [])}
                return conds.get("ManagedClusterConditionAvailable") == "True" and mc
            mc = wait_for(available, 60, what="Available on the hub")
            claims = {c["name"]: c["value"] for c in mc["status"].get("clusterClaims", [])}
            check(claims.get("kubeversion.open-cluster-management.io") == "v1.30.0", "claims %s" % claims)
            # A ManifestWork travels to the spoke and its status comes back.
            work = {"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
                    "metadata": {"name": "w1", "namespace": "c5"},
                    "spec": {"workload": {"manifests": [configmap("from-hub")]}}}
            st, _ = h.request("POST", "/apis/work.open-cluster-management.io/v1/namespaces/c5/manifestworks",
                              work)
            check(st == 201, "create work: %d" % st)
            wait_for(lambda: ks.kubectl("get", "configmap", "from-hub", "-n", "default",
                                        check_rc=False).returncode == 0, 30, what="the work on the spoke")

            def applied():
                st, w = h.request("GET", "/apis/work.open-cluster-management.io/v1/namespaces/c5/manifestworks/w1")
                conds = {c["type"]: c["status"] for c in (w.get("status") or {}).get("conditions", [])}
                return conds.get("Applied") == "True"
            wait_for(applied, 30, what="Applied on the hub")
            # kill -9 of the hub, restart: the agent reconnects by itself.
            port = h.port
            h.kill9()
            time.sleep(1)
            h.start(extra=["--listen", "127.0.0.1:%d" % port])
            wait_for(lambda: (health(hp)[1] or {}).get("connected"), 90, what="reconnected to the restarted hub")
            check(a.term() == 0, "exit status")
        finally:
            ks.stop()
    with_hub(body, serve_args=["--auto-accept"])


def t_real_hub_deny_accept():
    """Denied on the real hub: the connection closes (1008) and the certificate stops working; the
    agent keeps applying, registers again with its bootstrap token, and is back once accepted."""
    def body(h, tmp):
        ks = Kubesim(tmp)
        try:
            if not stream_served(h):
                print("SKIP: the hub has no agent stream endpoint")
                return
            tok = h.create_token(ttlSeconds=600)
            hp = free_port()
            a = Agent(tmp, join_args(h, tok, "c6", tmp("state")) +
                      ["--kubeconfig", ks.kubeconfig, "--no-leader-elect", "--health-listen",
                       "127.0.0.1:%d" % hp, "--reconnect-backoff-base", "200ms"])
            wait_for(lambda: (health(hp)[1] or {}).get("connected"), 60, what="connected to the hub")
            old = open(tmp("state", "nave-hub-credentials", "tls.crt")).read()
            st, _ = h.request("POST", "/nave/v1/clusters/c6/deny")
            check(st == 200, "deny %d" % st)
            wait_for(lambda: not (health(hp)[1] or {}).get("connected", True), 20, what="disconnected")
            wait_for(lambda: "registering again" in a.log_text(), 60, what="a new registration")
            wait_for(lambda: "waiting for an administrator to accept cluster c6" in
                     a.log_text().split("registering again", 1)[1], 30, what="waiting for acceptance")
            doc = health(hp)[1]
            check(doc["applying"] and not doc["connected"], "while denied: %s" % doc)
            st, _ = h.request("POST", "/nave/v1/clusters/c6/accept")
            check(st == 200, "accept %d" % st)
            wait_for(lambda: (health(hp)[1] or {}).get("connected"), 60, what="connected again")
            new = open(tmp("state", "nave-hub-credentials", "tls.crt")).read()
            check(new != old, "the credential was not replaced")
            check(a.term() == 0, "exit status")
        finally:
            ks.stop()
    with_hub(body, serve_args=["--auto-accept"])


def t_real_hub_renewal():
    """The certificate is renewed over the real hub's stream and used for the next connection."""
    def body(h, tmp):
        ks = Kubesim(tmp)
        try:
            if not stream_served(h):
                print("SKIP: the hub has no agent stream endpoint")
                return
            tok = h.create_token(ttlSeconds=600)
            hp = free_port()
            # The hub backdates certificates by 5 minutes and signs them for 1 h: 0.08 of the
            # 3900 s lifetime is about 12 s after issue.
            a = Agent(tmp, join_args(h, tok, "c7", tmp("state")) +
                      ["--kubeconfig", ks.kubeconfig, "--no-leader-elect", "--health-listen",
                       "127.0.0.1:%d" % hp, "--cert-renew-fraction", "0.08"])
            wait_for(lambda: (health(hp)[1] or {}).get("connected"), 60, what="connected to the hub")
            path = tmp("state", "nave-hub-credentials", "tls.crt")
            old = open(path).read()
            wait_for(lambda: open(path).read() != old, 40, what="a renewed certificate")
            wait_for(lambda: "new certificate stored" in a.log_text(), 10, what="renewal logged")
            wait_for(lambda: a.log_text().count("hub connection: up to") >= 2 and
                     (health(hp)[1] or {}).get("connected"), 20, what="reconnected with the new certificate")
            hubtest.openssl("verify", "-CAfile", h.path("ca.crt"), path)
            check(hubtest.cert_serial(path) != "", "serial")
            check(a.term() == 0, "exit status")
        finally:
            ks.stop()
    with_hub(body, serve_args=["--auto-accept", "--client-cert-lifetime", "1h"])


# --- the stream, against fakehub ---------------------------------------------

class Stream:
    """kubesim + fakehub + a credential for cluster c1 in a state directory."""

    def __init__(self, tmp, hb=10, lifetime_s=86400, **hubkw):
        self.tmp = tmp
        self.ks = Kubesim(tmp)
        self.hub = fakehub.FakeHub(hb=hb, **hubkw)
        self.state = tmp("state")
        os.makedirs(self.state, mode=0o700, exist_ok=True)
        fakehub.write_credential(self.state, self.hub.url, "c1", self.hub.ca, lifetime_s=lifetime_s)
        self.agents = []

    def agent(self, *extra, leader=False):
        args = ["--kubeconfig", self.ks.kubeconfig, "--state-dir", self.state,
                "--reconnect-backoff-base", "200ms", "--reconnect-backoff-max", "2s", "--lease-seconds", "5"]
        if not leader:
            args.append("--no-leader-elect")
        a = Agent(self.tmp, args + list(extra))
        self.agents.append(a)
        return a

    def restart_hub(self, **kw):
        """A new fake hub on the same port and CA (the hub process restarted)."""
        port = self.hub.port
        self.hub.stop()
        deadline = time.monotonic() + 10
        while True:
            try:
                self.hub = fakehub.FakeHub(ca=self.hub.ca, port=port, hb=self.hub.hb, **kw)
                return self.hub
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def close(self):
        for a in self.agents:
            try:
                a.term()
            except AssertionError:
                pass
        self.hub.stop()
        self.ks.stop()


def with_stream(fn, **kw):
    tmp = TmpDir()
    s = None
    try:
        s = Stream(tmp, **kw)
        fn(s)
    except Exception:
        if s:
            for a in s.agents:
                sys.stderr.write("--- %s ---\n%s" % (a.logpath, a.tail(60)))
        raise
    finally:
        if s:
            s.close()
        tmp.cleanup()


def t_stream_basics():
    def body(s):
        s.hub.auto_hello = False
        s.hub.hb = 1
        hp = free_port()
        a = s.agent("--health-listen", "127.0.0.1:%d" % hp)
        c = s.hub.wait_conn(1)
        check(c.peer_cn == "system:open-cluster-management:c1:agent1", "client certificate CN %s" % c.peer_cn)
        c.wait_for("stream.v1.hello")
        time.sleep(1.5)
        types = [e["type"] for _, e in c.events]
        check(types == ["io.nave.stream.v1.hello"], "the agent sent more than hello before the hub's: %s" %
              types)
        h = c.of_type("stream.v1.hello")[0]
        check(h["clustername"] == "c1" and h["source"] == "nave-klusterlet/c1" and
              h["data"]["protocolVersion"] == "1.0", "hello %s" % h)
        c.send(fakehub.hello("c1", heartbeat=1))
        rs = c.wait_for("spec.resync_request")[0]
        check(rs["data"] == {"resourceVersions": []}, "resync %s" % rs["data"])
        lease = c.wait_for("leases.update_request")[0]
        check(lease["data"]["leaseDurationSeconds"] == 5, "lease %s" % lease["data"])
        lease = c.wait_for("leases.update_request", timeout=15,
                           pred=lambda e: e["data"].get("clusterClaims"))[-1]
        claims = {x["name"]: x["value"] for x in lease["data"]["clusterClaims"]}
        check(claims == {"kubeversion.open-cluster-management.io": "v1.30.0",
                         "platform.open-cluster-management.io": "Other", "nodes.nave.io": "2"},
              "claims %s" % claims)
        conds = {x["type"]: x["status"] for x in lease["data"]["conditions"]}
        check(conds == {"ManagedClusterConditionAvailable": "True"}, "conditions %s" % conds)
        # Heartbeats every heartbeatSeconds (1 s here), whatever else goes on.
        hb = c.wait_for("cloudevents.heartbeat", count=3, timeout=10)
        times = [t for t, e in c.events if e["type"].endswith("heartbeat")]
        gaps = [b - a_ for a_, b in zip(times, times[1:])]
        check(all(0.5 < g < 3.0 for g in gaps), "heartbeat gaps %s" % gaps)
        check(all(e["clustername"] == "c1" for e in hb), "heartbeat clustername")
        st, doc = health(hp)
        check(st == 200 and doc["leader"] and doc["connected"] and doc["applying"] and doc["lastHeartbeat"],
              "health %s %s" % (st, doc))
        st, doc = health(hp, "/readyz")
        check(st == 200, "readyz %s" % st)
        # A work: applied to the spoke, status reported with a sequence id.
        c.send(fakehub.spec("c1", RID1, 1, [configmap("cm1")]))
        up = c.wait_for("status.update_request")[0]
        check(up["resourceid"] == RID1 and up["resourceversion"] == 1 and int(up["sequenceid"]) > 0 and
              len(up["statushash"]) == 64, "status %s" % up)
        conds = {x["type"]: x["status"] for x in up["data"]["conditions"]}
        check(conds.get("Applied") == "True", "conditions %s" % conds)
        cm = json.loads(s.ks.kubectl("get", "configmap", "cm1", "-n", "default", "-o", "json").stdout)
        check(cm["data"] == {"k": "v"}, "configmap %s" % cm)
        # Deleted on the hub: removed from the spoke, a final status with deletiontimestamp.
        c.send(fakehub.spec_delete("c1", RID1, 2))
        fin = c.wait_for("status.update_request", pred=lambda e: e.get("deletiontimestamp"))[0]
        conds = {x["type"]: x["status"] for x in fin["data"]["conditions"]}
        check(conds.get("Deleted") == "True" and int(fin["sequenceid"]) > int(up["sequenceid"]),
              "final status %s" % fin)
        wait_for(lambda: s.ks.kubectl("get", "configmap", "cm1", "-n", "default", check_rc=False).returncode != 0,
                 20, what="the configmap deleted")
        check(a.term() == 0, "exit status after SIGTERM")
        check(c.close_code == 1000, "close code %s" % c.close_code)
    with_stream(body)


def t_hello_timeout():
    def body(s):
        s.hub.auto_hello = False
        s.agent()
        c = s.hub.wait_conn(1)
        c.wait_for("stream.v1.hello")
        c.closed.wait(20)
        dt = time.monotonic() - c.opened
        check(c.closed.is_set() and 9 < dt < 16, "closed after %.1fs (want about 10 s)" % dt)
        s.hub.auto_hello = True
        c2 = s.hub.wait_conn(2, timeout=10)
        c2.wait_for("spec.resync_request")
    with_stream(body)


def t_dead_peer():
    def body(s):
        s.hub.auto_heartbeat = False
        s.hub.hb = 1
        s.agent()
        c = s.hub.wait_conn(1)
        c.wait_for("spec.resync_request")
        t0 = max(t for t, e in c.events if e["type"] == "io.nave.stream.v1.hello")
        check(c.closed.wait(10), "the agent did not notice the silent hub")
        dt = time.monotonic() - t0
        check(2.5 < dt < 8, "dead peer detected after %.1fs (want 3 x 1 s)" % dt)
        check(c.close_code == 1001, "close code %s (want 1001)" % c.close_code)
        s.hub.auto_heartbeat = True
        c2 = s.hub.wait_conn(2, timeout=10)
        c2.wait_for("spec.resync_request")
    with_stream(body)


def t_acks_retransmit():
    def body(s):
        s.hub.auto_ack = False
        s.agent("--status-retransmit", "2s")
        c = s.hub.wait_conn(1)
        c.wait_for("spec.resync_request")
        c.send(fakehub.spec("c1", RID1, 1, [configmap("cm1")]))
        first = c.wait_for("status.update_request")[0]
        # Not acknowledged: sent again with the same sequence id after about 2 s.
        again = c.wait_for("status.update_request", count=2, timeout=6)[1]
        check(again["sequenceid"] == first["sequenceid"] and again["statushash"] == first["statushash"],
              "retransmission differs: %s vs %s" % (first["sequenceid"], again["sequenceid"]))
        c.send(fakehub.ack("c1", RID1, first["sequenceid"]))
        n = len(c.of_type("status.update_request"))
        time.sleep(3.5)
        check(len(c.of_type("status.update_request")) == n, "retransmitted after the ack")
        # A second work, not acknowledged; the connection drops; the reconnect
        # sends it first (after hello), with its sequence id.
        c.send(fakehub.spec("c1", RID2, 1, [configmap("cm2")]))
        pending = c.wait_for("status.update_request", pred=lambda e: e["resourceid"] == RID2)[0]
        check(int(pending["sequenceid"]) > int(first["sequenceid"]), "sequence ids must grow")
        c.abort()
        c2 = s.hub.wait_conn(2, timeout=10)
        c2.wait_for("status.update_request")
        types = [e["type"].rsplit(".", 1)[-1] for _, e in c2.events]
        check(types[:2] == ["hello", "update_request"], "after a reconnect: %s" % types)
        re = c2.of_type("status.update_request")[0]
        check(re["resourceid"] == RID2 and re["sequenceid"] == pending["sequenceid"], "retransmitted %s" % re)
        check(not [e for e in c2.of_type("status.update_request") if e["resourceid"] == RID1],
              "an acknowledged status was sent again")
        rs = c2.wait_for("spec.resync_request")[0]
        held = sorted((x["resourceID"], x["resourceVersion"]) for x in rs["data"]["resourceVersions"])
        check(held == sorted([(RID1, 1), (RID2, 1)]), "resync after reconnect %s" % held)
    with_stream(body)


def t_outbox_persisted():
    """kill -9 of the klusterlet: the unacknowledged status survives and goes out first."""
    def body(s):
        s.hub.auto_ack = False
        a = s.agent()
        c = s.hub.wait_conn(1)
        c.wait_for("spec.resync_request")
        c.send(fakehub.spec("c1", RID1, 1, [configmap("cm1")]))
        st = c.wait_for("status.update_request")[0]
        ob = os.path.join(s.state, "nave-klusterlet-outbox", "outbox.json")
        wait_for(lambda: os.path.exists(ob) and st["sequenceid"] in open(ob).read(), 10,
                 what="the outbox on disk")
        check(mode(ob) == 0o600, "outbox mode %o" % mode(ob))
        a.kill9()
        c.closed.wait(5)
        s.agent()
        c2 = s.hub.wait_conn(2, timeout=20)
        re = c2.wait_for("status.update_request")[0]
        check(re["sequenceid"] == st["sequenceid"] and re["id"] == st["id"], "after restart: %s vs %s" %
              (re["sequenceid"], st["sequenceid"]))
        types = [e["type"].rsplit(".", 1)[-1] for _, e in c2.events]
        check(types[:2] == ["hello", "update_request"], "order after restart: %s" % types)
        # The restarted engine finds its AppliedManifestWork (generation 0: not seen since).
        rs = c2.wait_for("spec.resync_request")[0]
        check([x["resourceID"] for x in rs["data"]["resourceVersions"]] == [RID1], "resync %s" % rs["data"])
        c2.send(fakehub.ack("c1", RID1, st["sequenceid"]))
        wait_for(lambda: json.loads(open(ob).read())["events"] == [], 10, what="the ack persisted")
        # New status gets a larger sequence id than anything before the restart.
        c2.send(fakehub.spec("c1", RID1, 2, [configmap("cm1", {"k": "v2"})], kind="update_request"))
        nst = c2.wait_for("status.update_request", pred=lambda e: e["resourceversion"] == 2)[0]
        check(int(nst["sequenceid"]) > int(st["sequenceid"]), "sequence id did not grow across restart")
    with_stream(body)


def t_hub_restart():
    def body(s):
        s.agent()
        c = s.hub.wait_conn(1)
        c.wait_for("spec.resync_request")
        c.send(fakehub.spec("c1", RID1, 3, [configmap("cm1")]))
        c.wait_for("status.update_request")
        t0 = time.monotonic()
        s.hub.stop()
        time.sleep(1)
        hub = s.restart_hub()
        c2 = hub.wait_conn(1, timeout=15)
        rs = c2.wait_for("spec.resync_request")[0]
        check([(x["resourceID"], x["resourceVersion"]) for x in rs["data"]["resourceVersions"]] == [(RID1, 3)],
              "resync after hub restart %s" % rs["data"])
        print("reconnected %.1fs after the hub went away" % (time.monotonic() - t0))
        # The engine kept the work applied all along.
        s.ks.kubectl("get", "configmap", "cm1", "-n", "default")
        # The hub asks for status by hash: a wrong hash gets a resync response.
        c2.send(fakehub.status_resync_request("c1", [(RID1, "0" * 64)]))
        r = c2.wait_for("status.resync_response")[0]
        check(r["resourceid"] == RID1 and r["resourceversion"] == 3, "status resync %s" % r)
    with_stream(body)


def t_reconnect_backoff():
    """With the hub down the agent retries forever with growing, jittered delays."""
    def body(s):
        a = s.agent("--reconnect-backoff-base", "100ms", "--reconnect-backoff-max", "800ms")
        c = s.hub.wait_conn(1)
        c.wait_for("spec.resync_request")
        s.hub.stop()
        time.sleep(6)
        delays = [int(x.split("next attempt in ")[1].split()[0]) for x in a.log_text().splitlines()
                  if "next attempt in" in x]
        check(len(delays) >= 6, "retries: %s" % delays)
        check(max(delays) <= 800 and len(set(delays)) > 2, "delays not jittered below the cap: %s" % delays)
        hub = s.restart_hub()
        hub.wait_conn(1, timeout=10).wait_for("spec.resync_request")
    with_stream(body)


def t_protocol_errors():
    def body(s):
        s.agent()
        c = s.hub.wait_conn(1)
        c.wait_for("spec.resync_request")
        # Not JSON: answered with an error, the connection stays.
        c.send_text("{not json")
        err = c.wait_for("stream.v1.error")[0]
        check(err["data"]["code"] == "MalformedEvent", "error %s" % err["data"])
        # An unknown type: UnknownEventType, not fatal.
        c.send(fakehub.event("io.example.widgets.created", "c1"))
        err = c.wait_for("stream.v1.error", count=2)[1]
        check(err["data"]["code"] == "UnknownEventType" and err["data"].get("eventType") ==
              "io.example.widgets.created", "error %s" % err["data"])
        # Wrong direction: a status update from the hub is Forbidden.
        bad = fakehub.event(fakehub.MB + ".status.update_request", "c1",
                            {"conditions": []}, resourceid=RID1, resourceversion=1, sequenceid="1",
                            statushash="0" * 64)
        c.send(bad)
        err = c.wait_for("stream.v1.error", count=3)[2]
        check(err["data"]["code"] == "Forbidden" and err["data"]["eventID"] == bad["id"], "error %s" % err)
        # Another cluster's event: Forbidden.
        c.send(fakehub.spec("c9", RID1, 1, [configmap("x")]))
        err = c.wait_for("stream.v1.error", count=4)[3]
        check(err["data"]["code"] == "Forbidden", "error %s" % err["data"])
        # Too large: TooLarge, still connected.
        c.send_text('{"x":"' + "a" * (1024 * 1024 + 10) + '"}')
        err = c.wait_for("stream.v1.error", count=5)[4]
        check(err["data"]["code"] == "TooLarge", "error %s" % err["data"])
        check(not c.closed.is_set(), "closed after non-fatal errors")
        # A binary message closes with 1003.
        c.send_text(b"\x00\x01", opcode=2)
        check(c.closed.wait(5) and c.close_code == 1003, "binary: close %s" % c.close_code)
        c2 = s.hub.wait_conn(2, timeout=10)
        c2.wait_for("spec.resync_request")
        # A major version mismatch: fatal error, close 1002.
        s.hub.auto_hello = False
        c2.abort()
        c3 = s.hub.wait_conn(3, timeout=10)
        c3.wait_for("stream.v1.hello")
        c3.send(fakehub.hello("c1", version="2.0"))
        err = c3.wait_for("stream.v1.error")[0]
        check(err["data"]["code"] == "UnsupportedVersion" and err["data"].get("fatal") is True, "%s" % err)
        check(c3.closed.wait(5) and c3.close_code == 1002, "version close %s" % c3.close_code)
    with_stream(body)


def t_denied():
    """A hub that closes with 1008 (cluster denied) or refuses the upgrade with 403: the agent says
    why, keeps the engine running and keeps retrying (with the longer cap)."""
    def body(s):
        hp = free_port()
        a = s.agent("--health-listen", "127.0.0.1:%d" % hp)
        c = s.hub.wait_conn(1)
        c.wait_for("spec.resync_request")
        s.hub.refuse_status = 403
        c.close(1008, "cluster c1 is denied")
        wait_for(lambda: "closed by the hub (1008: cluster c1 is denied)" in a.log_text(), 10, what="1008 logged")
        wait_for(lambda: "refused the upgrade with HTTP 403" in a.log_text(), 15, what="403 logged")
        st, doc = health(hp)
        check(doc["applying"] and not doc["connected"], "health while denied: %s" % doc)
        s.hub.refuse_status = None
        # Accepted again: the agent comes back by itself (its cap is 5 minutes after a 1008; the
        # test's base delay of 200 ms keeps the first retries short).
        s.hub.wait_conn(2, timeout=30).wait_for("spec.resync_request")
    with_stream(body)


def t_cert_renewal():
    """A certificate near its end is renewed over the stream; the agent stores it and reconnects."""
    def body(s):
        def on_event(conn, ev):
            if ev["type"].endswith("certificates.renew_request"):
                cert = s.hub.ca.sign_csr(ev["data"]["request"], lifetime_s=3600)
                s.issued = cert
                conn.send(fakehub.event("io.nave.clusters.v1.certificates.renew_response", "c1",
                                        {"requestID": ev["id"], "certificate": cert + s.hub.ca.pem}))
        s.issued = None
        s.hub.on_event = on_event
        old = open(os.path.join(s.state, "nave-hub-credentials", "tls.crt")).read()
        s.agent("--cert-renew-fraction", "0.05")
        c = s.hub.wait_conn(1)
        req = c.wait_for("certificates.renew_request", timeout=20)[0]
        check("BEGIN CERTIFICATE REQUEST" in req["data"]["request"], "renew request %s" % req)
        c2 = s.hub.wait_conn(2, timeout=20)
        c2.wait_for("spec.resync_request")
        check(c.close_code == 1000, "old connection closed with %s" % c.close_code)
        cd = check_state_dir(s.state)
        new = open(os.path.join(cd, "tls.crt")).read()
        check(new != old and new.startswith(s.issued.strip()), "stored certificate is not the renewed one")
        pub1 = hubtest.openssl("x509", "-in", os.path.join(cd, "tls.crt"), "-noout", "-pubkey")
        pub2 = hubtest.openssl("pkey", "-in", os.path.join(cd, "tls.key"), "-pubout")
        check(pub1 == pub2, "stored key does not match the renewed certificate")
        check(c2.peer_cn == "system:open-cluster-management:c1:agent1", "CN %s" % c2.peer_cn)
        time.sleep(2)
        check(len(c2.of_type("renew_request")) == 0, "renewed again at once")
    with_stream(body, lifetime_s=40)


def secret_from_state(s):
    """Move the credential of the state directory into a Secret of the spoke (DaemonSet mode)."""
    cd = os.path.join(s.state, "nave-hub-credentials")
    args = ["create", "secret", "generic", "nave-hub-credentials", "-n", "default"]
    for n in sorted(os.listdir(cd)):
        args.append("--from-file=%s=%s" % (n, os.path.join(cd, n)))
    s.ks.kubectl(*args)
    shutil.rmtree(s.state)


def outbox_secret(s):
    r = s.ks.kubectl("get", "secret", "nave-klusterlet-outbox", "-n", "default", "-o", "json", check_rc=False)
    if r.returncode != 0:
        return None
    import base64
    return json.loads(base64.b64decode(json.loads(r.stdout)["data"]["outbox.json"]))


def t_leader_election():
    """DaemonSet mode: three replicas share the credential and the pending status through Secrets of
    the spoke; one leader connects and applies; kill -9 it and another takes over within the lease
    duration and delivers the status the first one had not got acknowledged; SIGTERM releases the
    Lease at once."""
    def body(s):
        secret_from_state(s)
        s.hub.auto_ack = False
        ports = [free_port() for _ in range(3)]
        agents = []
        for i in range(3):
            args = ["--identity", "replica-%d" % i, "--health-listen", "127.0.0.1:%d" % ports[i],
                    "--namespace", "default", "--store", "secret", "--leader-lease-duration", "4s",
                    "--leader-renew-deadline", "3s", "--leader-retry-period", "500ms"]
            a = Agent(s.tmp, ["--kubeconfig", s.ks.kubeconfig, "--reconnect-backoff-base", "200ms",
                              "--reconnect-backoff-max", "2s", "--lease-seconds", "5"] + args)
            s.agents.append(a)
            agents.append(a)
        c = s.hub.wait_conn(1, timeout=20)
        c.wait_for("spec.resync_request")

        def leaders():
            docs = [health(p)[1] or {} for p in ports]
            return [i for i, d in enumerate(docs) if d.get("leader")]
        wait_for(lambda: len(leaders()) == 1, 10, what="one leader")
        time.sleep(2)
        check(len(s.hub.conns) == 1, "%d connections: more than the leader connected" % len(s.hub.conns))
        ld = leaders()
        check(len(ld) == 1, "leaders %s" % ld)
        first = ld[0]
        for i in range(3):
            st, doc = health(ports[i], "/readyz")
            check(st == 200, "replica %d readyz %s %s" % (i, st, doc))
            check(doc["leader"] == (i == first) and doc["connected"] == (i == first), "replica %d: %s" % (i, doc))
        lease = json.loads(s.ks.kubectl("get", "lease", "nave-klusterlet", "-n", "default", "-o", "json").stdout)
        check(lease["spec"]["holderIdentity"] == "replica-%d" % first, "lease holder %s" % lease["spec"])
        # A status the hub does not acknowledge lands in the outbox Secret.
        c.send(fakehub.spec("c1", RID1, 1, [configmap("cm1")]))
        pending = c.wait_for("status.update_request")[0]
        wait_for(lambda: (outbox_secret(s) or {}).get("events"), 10, what="the outbox Secret")
        t0 = time.monotonic()
        agents[first].kill9()
        c2 = s.hub.wait_conn(2, timeout=15)
        dt = time.monotonic() - t0
        print("failover after kill -9: %.1fs (lease duration 4 s)" % dt)
        check(dt < 4 + 6, "takeover took %.1fs" % dt)
        re = c2.wait_for("status.update_request")[0]
        check(re["sequenceid"] == pending["sequenceid"], "the new leader did not deliver the pending status")
        alive = [i for i in range(3) if i != first]
        wait_for(lambda: [i for i in leaders() if i in alive] and len(leaders()) == 1, 10, what="new leader")
        second = leaders()[0]
        rs = c2.wait_for("spec.resync_request")[0]
        check([x["resourceID"] for x in rs["data"]["resourceVersions"]] == [RID1],
              "the new leader does not hold the work: %s" % rs["data"])
        c2.send(fakehub.ack("c1", RID1, pending["sequenceid"]))
        # A clean stop releases the Lease: the third replica takes over quickly.
        t0 = time.monotonic()
        check(agents[second].term() == 0, "exit status")
        c3 = s.hub.wait_conn(3, timeout=10)
        dt = time.monotonic() - t0
        check(dt < 5, "takeover after a release took %.1fs" % dt)
        check(c2.close_code == 1000, "the stepping-down leader closed with %s" % c2.close_code)
        c3.wait_for("spec.resync_request")
        third = [i for i in alive if i != second][0]
        wait_for(lambda: json.loads(s.ks.kubectl("get", "lease", "nave-klusterlet", "-n", "default", "-o",
                                                 "json").stdout)["spec"]["holderIdentity"] == "replica-%d" % third,
                 10, what="the third replica holding the lease")
        check(not c3.of_type("status.update_request") or
              all(e["sequenceid"] != pending["sequenceid"] for e in c3.of_type("status.update_request")),
              "an acknowledged status was delivered again")
    with_stream(body)


TESTS = {
    "join_accept": t_join_accept,
    "join_wrong_pin": t_join_wrong_pin,
    "join_bad_token": t_join_bad_token,
    "join_denied": t_join_denied,
    "join_insecure_auto_accept": t_join_insecure_auto_accept,
    "join_secret": t_join_secret,
    "run_real_hub": t_run_real_hub,
    "real_hub_deny_accept": t_real_hub_deny_accept,
    "real_hub_renewal": t_real_hub_renewal,
    "stream_basics": t_stream_basics,
    "hello_timeout": t_hello_timeout,
    "dead_peer": t_dead_peer,
    "acks_retransmit": t_acks_retransmit,
    "outbox_persisted": t_outbox_persisted,
    "hub_restart": t_hub_restart,
    "reconnect_backoff": t_reconnect_backoff,
    "protocol_errors": t_protocol_errors,
    "denied": t_denied,
    "cert_renewal": t_cert_renewal,
    "leader_election": t_leader_election,
}

if __name__ == "__main__":
    sys.exit(run_tests(TESTS, sys.argv))
