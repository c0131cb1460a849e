#!/usr/bin/python3
"""Integration tests of the agent stream (hub/stream.c, common/httpd_ws.c):
the real nave-hub on a free loopback port, agents played by wsclient.py over
mutual TLS websockets with certificates obtained by token registration.

Run one test: test_stream.py NAME (meson runs each as its own test, suite
'stream').
"""
import json
import os
import socket
import ssl
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "hub"))
sys.path.insert(0, HERE)
from hubtest import Hub, HubError, run_tests, wait_for  # noqa: E402
import wsclient as W  # noqa: E402
from wsclient import Agent, Closed, Refused  # noqa: E402

WORKS = "/apis/work.open-cluster-management.io/v1"
CLUSTERS = "/apis/cluster.open-cluster-management.io/v1/managedclusters"


def check(cond, msg):
    if not cond:
        raise HubError(msg)


def work(ns, name, manifests=None, size=0):
    if manifests is None:
        data = {"k": "v"}
        if size:
            data["pad"] = "x" * size
        manifests = [{"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "cm-" + name, "namespace": "default"}, "data": data}]
    return {"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
            "metadata": {"name": name, "namespace": ns}, "spec": {"workload": {"manifests": manifests}}}


def create_work(h, ns, name, **kw):
    st, body = h.request("POST", "%s/namespaces/%s/manifestworks" % (WORKS, ns), work(ns, name, **kw))
    check(st == 201, "create work %s/%s: %d %s" % (ns, name, st, body))
    return body


def get_work(h, ns, name):
    return h.request("GET", "%s/namespaces/%s/manifestworks/%s" % (WORKS, ns, name))


def update_work(h, ns, name, data):
    st, body = h.request("PATCH", "%s/namespaces/%s/manifestworks/%s" % (WORKS, ns, name),
                         {"spec": {"workload": {"manifests": [
                             {"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": "cm-" + name, "namespace": "default"}, "data": data}]}}},
                         ctype="application/merge-patch+json")
    check(st == 200, "patch work: %d %s" % (st, body))
    return body


def delete_work(h, ns, name):
    st, body = h.request("DELETE", "%s/namespaces/%s/manifestworks/%s" % (WORKS, ns, name))
    check(st in (200, 202), "delete work: %d %s" % (st, body))
    return body


def condition(obj, ctype):
    for c in obj.get("status", {}).get("conditions", []):
        if c["type"] == ctype:
            return c
    return None


def applied(gen):
    return {"conditions": [{"type": "Applied", "status": "True", "reason": "AppliedManifestWorkComplete",
                            "observedGeneration": gen}],
            "resourceStatus": {"manifests": [{
                "resourceMeta": {"ordinal": 0, "group": "", "version": "v1", "kind": "ConfigMap",
                                 "resource": "configmaps", "name": "cm", "namespace": "default"},
                "statusFeedback": {"values": [{"name": "ReadyReplicas",
                                               "fieldValue": {"type": "Integer", "integer": gen}}]},
                "conditions": [{"type": "Applied", "status": "True", "reason": "AppliedManifestComplete"}]}]}}


def with_hub(fn, env=None):
    saved = {}
    for k, v in (env or {}).items():
        saved[k] = os.environ.get(k)
        os.environ[k] = v
    h = Hub()
    try:
        h.start()
        fn(h)
        check(h.stop() == 0, "nave-hub serve did not exit 0 on SIGTERM:\n" + h.log_tail())
    except Exception:
        sys.stderr.write("--- serve.log ---\n%s\n" % h.log_tail(80))
        raise
    finally:
        h.cleanup()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def connect(h, cluster, cert, key, **kw):
    a = Agent(h, cluster, cert, key, **kw)
    a.hello()
    return a


def expect_closed(a, code, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            a.ws.recv(max(0.1, deadline - time.monotonic()))
        except Closed as e:
            check(code is None or e.code == code, "expected close %s, got %s %s" % (code, e.code, e.reason))
            return e
        except socket.timeout:
            raise HubError("the hub did not close the connection (expected %s)" % code)
        if time.monotonic() > deadline:
            raise HubError("the hub did not close the connection (expected %s)" % code)


def healthy(h):
    st, _ = h.request("GET", "/healthz", token=None)
    check(st == 200, "the hub is not healthy")


# ---------------------------------------------------------------------------------------------

def test_upgrade_refusals():
    """No certificate, a foreign path, no subprotocol: refused before any websocket."""
    def run(h):
        cert, key, _ = h.join("c1")
        try:
            W.WS(h.port, h.path("ca.crt"))
            raise HubError("an upgrade without a client certificate was accepted")
        except Refused as e:
            check(e.status == 401 and "client certificate" in e.body, "no cert: %s %s" % (e.status, e.body))
        try:
            W.WS(h.port, h.path("ca.crt"), cert, key, path="/agent/v2/other")
            raise HubError("an upgrade on another path was accepted")
        except Refused as e:
            check(e.status == 404, "wrong path: %s %s" % (e.status, e.body))
        for sub in (None, "chat.example"):
            try:
                W.WS(h.port, h.path("ca.crt"), cert, key, subprotocol=sub)
                raise HubError("an upgrade with subprotocol %r was accepted" % sub)
            except Refused:
                pass
        # an upgrade on a connection that already served a plain request: 400
        ctx = ssl.create_default_context(cafile=h.path("ca.crt"))
        ctx.load_cert_chain(cert, key)
        raw = socket.create_connection(("127.0.0.1", h.port), timeout=10)
        sk = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        sk.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while b"\r\n\r\nok" not in got:
            got += sk.recv(4096)
        sk.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                    "Sec-WebSocket-Protocol: cloudevents.json\r\n\r\n" % W.WS_PATH).encode())
        got = b""
        try:
            while True:
                d = sk.recv(4096)
                if not d:
                    break
                got += d
        except (OSError, ssl.SSLError):
            pass
        sk.close()
        check(got.startswith(b"HTTP/1.1 400"), "upgrade after a request: %r" % got[:200])
        a = connect(h, "c1", cert, key)
        a.close()
        healthy(h)
    with_hub(run)


def test_hello_version():
    def run(h):
        cert, key, _ = h.join("c1")
        # an event before the hello: ProtocolViolation, close 1002
        a = Agent(h, "c1", cert, key)
        a.send(a.event(W.T_HEARTBEAT))
        err = a.expect_type(W.T_ERROR)
        check(err["data"]["code"] == "ProtocolViolation" and err["data"].get("fatal") is True, str(err))
        expect_closed(a, 1002)
        # another major: UnsupportedVersion, close 1002
        a = Agent(h, "c1", cert, key)
        a.send(a.event(W.T_HELLO, {"protocolVersion": "2.0"}))
        err = a.expect_type(W.T_ERROR)
        check(err["data"]["code"] == "UnsupportedVersion" and err["data"].get("fatal") is True, str(err))
        expect_closed(a, 1002)
        # a higher minor is fine: both speak 1.0
        a = Agent(h, "c1", cert, key)
        hello, sr = a.hello("1.7")
        check(hello["data"]["protocolVersion"] == "1.0", str(hello))
        check(hello["data"]["heartbeatSeconds"] == 10, str(hello))
        check(sr["data"] == {"statusHashes": []}, str(sr))
        # the first connection made the cluster Joined and Available
        st, mc = h.request("GET", CLUSTERS + "/c1")
        check(condition(mc, "ManagedClusterJoined")["status"] == "True", json.dumps(mc))
        check(condition(mc, "ManagedClusterConditionAvailable")["status"] == "True", json.dumps(mc))
        a.close()
    with_hub(run)


def test_resync_only_changed():
    def run(h):
        cert, key, _ = h.join("c1")
        w1 = create_work(h, "c1", "w1")
        w2 = create_work(h, "c1", "w2")
        w2 = update_work(h, "c1", "w2", {"k": "v2"})
        w3 = create_work(h, "c1", "w3")
        check(w2["metadata"]["generation"] == 2, str(w2))
        unknown = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
        a = connect(h, "c1", cert, key)
        a.resync([(w1["metadata"]["uid"], 1), (w2["metadata"]["uid"], 1), (unknown, 7)])
        got = {}
        for _ in range(3):
            ev = a.expect_type(W.T_SPEC_RESYNC_RESP)
            got[ev["resourceid"]] = ev
        check(w1["metadata"]["uid"] not in got, "w1 was current but was sent again")
        e2, e3, eu = got[w2["metadata"]["uid"]], got[w3["metadata"]["uid"]], got[unknown]
        check(e2["resourceversion"] == 2 and e2["data"]["manifests"][0]["data"]["k"] == "v2", json.dumps(e2))
        check(e3["resourceversion"] == 1 and "deletiontimestamp" not in e3, json.dumps(e3))
        check("data" not in eu and "deletiontimestamp" in eu and eu["resourceversion"] == 7, json.dumps(eu))
        a.quiet(1.0)
        # a reconnect holding everything gets nothing; an empty list gets everything
        a.close()
        a = connect(h, "c1", cert, key)
        a.resync([(w1["metadata"]["uid"], 1), (w2["metadata"]["uid"], 2), (w3["metadata"]["uid"], 1)])
        a.quiet(1.0)
        a.close()
        a = connect(h, "c1", cert, key)
        a.resync([])
        uids = {a.expect_type(W.T_SPEC_RESYNC_RESP)["resourceid"] for _ in range(3)}
        check(len(uids) == 3, str(uids))
        a.close()
    with_hub(run)


def test_push_and_delete():
    """A work created, updated and deleted through the API reaches the agent;
    the delete completes once the agent reports it."""
    def run(h):
        cert, key, _ = h.join("c1")
        a = connect(h, "c1", cert, key)
        a.resync([])
        t0 = time.monotonic()
        w = create_work(h, "c1", "web")
        uid = w["metadata"]["uid"]
        ev = a.expect_type(W.T_SPEC_CREATE, resourceid=uid)
        check(time.monotonic() - t0 < 2, "the create took %.2fs to arrive" % (time.monotonic() - t0))
        check(ev["resourceversion"] == 1 and ev["clustername"] == "c1", json.dumps(ev))
        check(ev["data"]["manifests"][0]["kind"] == "ConfigMap", json.dumps(ev))
        md = json.loads(ev["metadata"])
        check(md["name"] == "web" and md["uid"] == uid, ev["metadata"])
        st, obj = get_work(h, "c1", "web")
        check("cluster.open-cluster-management.io/manifest-work-cleanup" in obj["metadata"].get("finalizers", []),
              "no finalizer: %s" % json.dumps(obj["metadata"]))
        update_work(h, "c1", "web", {"k": "v2"})
        ev = a.expect_type(W.T_SPEC_UPDATE, resourceid=uid)
        check(ev["resourceversion"] == 2 and ev["data"]["manifests"][0]["data"]["k"] == "v2", json.dumps(ev))
        # a status-only change pushes nothing
        a.status(uid, 2, applied(2))
        a.expect_type(W.T_ACK, resourceid=uid)
        a.quiet(0.5)
        delete_work(h, "c1", "web")
        ev = a.expect_type(W.T_SPEC_DELETE, resourceid=uid)
        check("deletiontimestamp" in ev, json.dumps(ev))
        st, obj = get_work(h, "c1", "web")
        check(st == 200 and obj["metadata"].get("deletionTimestamp"), "the work went before the agent said so")
        a.status(uid, ev["resourceversion"], {"conditions": [
            {"type": "Deleted", "status": "True", "reason": "ManifestWorkDeleted"}]},
            deletiontimestamp=W.now_rfc3339())
        a.expect_type(W.T_ACK, resourceid=uid)
        wait_for(lambda: get_work(h, "c1", "web")[0] == 404, 5, what="the work to go")
        a.quiet(0.5)
        a.close()
    with_hub(run)


def test_status_ack():
    def run(h):
        cert, key, _ = h.join("c1")
        w = create_work(h, "c1", "w1")
        uid = w["metadata"]["uid"]
        a = connect(h, "c1", cert, key)
        a.resync([(uid, 1)])
        s1 = applied(1)
        seq = a.status(uid, 1, s1)
        ack = a.expect_type(W.T_ACK, resourceid=uid)
        check(ack["sequenceid"] == str(seq), json.dumps(ack))
        st, obj = get_work(h, "c1", "w1")
        check(condition(obj, "Applied")["status"] == "True", json.dumps(obj))
        fb = obj["status"]["resourceStatus"]["manifests"][0]["statusFeedback"]["values"][0]
        check(fb == {"name": "ReadyReplicas", "fieldValue": {"type": "Integer", "integer": 1}}, json.dumps(fb))
        sync = obj["status"]["statusSync"]
        check(sync["sequenceID"] == str(seq) and sync["statusHash"] == W.status_hash(s1), json.dumps(sync))
        rv = obj["metadata"]["resourceVersion"]
        # the same sequence id again: acknowledged, nothing written
        a.status(uid, 1, s1, seq=seq)
        a.expect_type(W.T_ACK, resourceid=uid, sequenceid=str(seq))
        # an older one: acknowledged, not stored
        a.status(uid, 1, applied(5), seq=seq - 10)
        a.expect_type(W.T_ACK, resourceid=uid, sequenceid=str(seq - 10))
        st, obj = get_work(h, "c1", "w1")
        check(obj["metadata"]["resourceVersion"] == rv, "a duplicate or older status was written")
        # a status of a work the hub does not have: acknowledged
        a.status("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", 1, s1)
        a.expect_type(W.T_ACK, resourceid="0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
        # the status resync request of the next connection carries the stored hash
        a.close()
        a = Agent(h, "c1", cert, key)
        _, sr = a.hello()
        check(sr["data"]["statusHashes"] == [{"resourceID": uid, "statusHash": W.status_hash(s1)}], json.dumps(sr))
        # a status resync response is stored like an update
        s2 = applied(2)
        seq2 = a.status(uid, 1, s2, etype=W.T_STATUS_RESYNC_RESP)
        a.expect_type(W.T_ACK, resourceid=uid, sequenceid=str(seq2))
        check(get_work(h, "c1", "w1")[1]["status"]["statusSync"]["statusHash"] == W.status_hash(s2), "resync")
        a.close()
    with_hub(run)


def test_malformed_oversized():
    def run(h):
        cert, key, _ = h.join("c1")
        a = connect(h, "c1", cert, key)
        a.ws.send_text("this is not json")
        err = a.expect_type(W.T_ERROR)
        check(err["data"]["code"] == "MalformedEvent" and not err["data"].get("fatal"), json.dumps(err))
        ev = a.event(W.T_STATUS_UPDATE, {"conditions": "nope"}, resourceid="0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                     resourceversion=1, sequenceid="5", statushash="0" * 64)
        a.send(ev)
        err = a.expect_type(W.T_ERROR)
        check(err["data"]["code"] == "MalformedEvent" and err["data"].get("eventID") == ev["id"], json.dumps(err))
        a.send(a.event("io.example.widgets.created", {}))
        err = a.expect_type(W.T_ERROR)
        check(err["data"]["code"] == "UnknownEventType", json.dumps(err))
        # an event only the hub may send: Forbidden
        a.send(a.event(W.T_ACK, resourceid="0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", sequenceid="1"))
        err = a.expect_type(W.T_ERROR)
        check(err["data"]["code"] == "Forbidden", json.dumps(err))
        # fragmented messages are reassembled
        a.send(a.event(W.T_LEASE, {"leaseDurationSeconds": 60}), fragments=7)
        a.quiet(0.5, lambda e: e.get("type") == W.T_ERROR)
        # oversized: TooLarge, the connection stays; the third in a row closes with 1009
        big = json.dumps(a.event(W.T_LEASE, {"leaseDurationSeconds": 60, "pad": "x" * (1 << 20)}))
        a.ws.send_text(big, fragments=40)
        err = a.expect_type(W.T_ERROR, timeout=20)
        check(err["data"]["code"] == "TooLarge", json.dumps(err))
        a.send(a.event(W.T_HEARTBEAT))
        a.quiet(0.5, lambda e: e.get("type") == W.T_ERROR)
        healthy(h)
        for _ in range(3):
            a.ws.send_text(big, fragments=40)
        expect_closed(a, 1009, timeout=20)
        # binary: 1003
        a = connect(h, "c1", cert, key)
        a.ws.send_binary(b"\x00\x01")
        expect_closed(a, 1003)
        healthy(h)
    with_hub(run)


def test_cross_cluster():
    """Cluster A's certificate can neither receive nor write cluster B's works."""
    def run(h):
        ca, ka, _ = h.join("ca")
        cb, kb, _ = h.join("cb")
        wb = create_work(h, "cb", "secret-work")
        ub = wb["metadata"]["uid"]
        a = connect(h, "ca", ca, ka)
        a.resync([(ub, 0)])
        ev = a.expect_type(W.T_SPEC_RESYNC_RESP, resourceid=ub)
        check("data" not in ev and "deletiontimestamp" in ev, "A got B's work: %s" % json.dumps(ev)[:300])
        # a status for B's work by uid: acknowledged, never stored
        a.status(ub, 1, applied(1))
        a.expect_type(W.T_ACK, resourceid=ub)
        st, obj = get_work(h, "cb", "secret-work")
        check("conditions" not in obj.get("status", {}), "A wrote B's status: %s" % json.dumps(obj.get("status")))
        # events naming cluster B: Forbidden
        ev = a.event(W.T_STATUS_UPDATE, applied(1), resourceid=ub, resourceversion=1, sequenceid="99",
                     statushash=W.status_hash(applied(1)))
        ev["clustername"] = "cb"
        a.send(ev)
        err = a.expect_type(W.T_ERROR)
        check(err["data"]["code"] == "Forbidden" and err["data"]["eventID"] == ev["id"], json.dumps(err))
        a.send(dict(a.event(W.T_LEASE, {"leaseDurationSeconds": 60}), clustername="cb"))
        check(a.expect_type(W.T_ERROR)["data"]["code"] == "Forbidden", "lease for B")
        # B's new works go to B only
        b = connect(h, "cb", cb, kb)
        b.resync([(ub, 1)])
        w2 = create_work(h, "cb", "second")
        b.expect_type(W.T_SPEC_CREATE, resourceid=w2["metadata"]["uid"])
        a.quiet(1.0)
        a.close()
        b.close()
    with_hub(run)


def test_deny():
    """A denied cluster is disconnected (1008) and cannot reconnect (401)."""
    def run(h):
        cert, key, _ = h.join("c1")
        a = connect(h, "c1", cert, key)
        st, body = h.request("POST", "/nave/v1/clusters/c1/deny")
        check(st == 200, "deny: %d %s" % (st, body))
        e = expect_closed(a, 1008)
        check("denied" in e.reason or "revoked" in e.reason, e.reason)
        try:
            Agent(h, "c1", cert, key)
            raise HubError("a denied cluster reconnected")
        except Refused as e:
            check(e.status == 401, "expected 401, got %s %s" % (e.status, e.body))
        healthy(h)
    with_hub(run)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def sanitized(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def metric(h, name):
    st, text = h.request("GET", "/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise HubError("metric %s not found" % name)


def test_stuck_agent():
    """An agent that never reads does not delay another one; the hub's memory
    stays bounded by the per-connection queue cap."""
    cap = 2 << 20

    def run(h):
        cs, ks, _ = h.join("stuck")
        cf, kf, _ = h.join("fast")
        s = Agent(h, "stuck", cs, ks, rcvbuf=4096)
        s.hello()
        s.resync([])
        f = connect(h, "fast", cf, kf)
        f.resync([])
        rss0 = rss_kib(h.proc.pid)
        # 40 works of 200 KiB for the stuck agent: 8 MB, four times its cap
        for i in range(40):
            create_work(h, "stuck", "big-%d" % i, size=200 * 1024)
        t0 = time.monotonic()
        w = create_work(h, "fast", "quick")
        f.expect_type(W.T_SPEC_CREATE, resourceid=w["metadata"]["uid"], timeout=5)
        took = time.monotonic() - t0
        check(took < 2.0, "the other agent waited %.2fs" % took)
        for i in range(40):
            update_work(h, "stuck", "big-%d" % i, {"k": "v2", "pad": "y" * (200 * 1024)})
        held = metric(h, "nave_hub_stream_held_back_total")
        check(held > 0, "nothing was held back for the stuck agent")
        queued = metric(h, "nave_hub_stream_queued_bytes")
        check(queued <= cap + (1 << 20), "queued %d bytes, over the cap" % queued)
        grown = rss_kib(h.proc.pid) - rss0
        # 16 MB of works are stored meanwhile (and kept by the store and the
        # watch history); what the stuck agent may cost is its 2 MiB queue.
        # AddressSanitizer's quarantine keeps freed memory: no RSS figure then.
        if not sanitized(h.proc.pid):
            check(grown < 48 * 1024, "hub RSS grew by %d KiB" % grown)
        # the fast agent still gets its updates at once
        t0 = time.monotonic()
        update_work(h, "fast", "quick", {"k": "v3"})
        f.expect_type(W.T_SPEC_UPDATE, resourceid=w["metadata"]["uid"], timeout=5)
        check(time.monotonic() - t0 < 2.0, "slow update for the fast agent")
        # when the stuck agent reads again it gets the newest generation of every work
        latest = {}
        deadline = time.monotonic() + 30
        while len([v for v in latest.values() if v >= 2]) < 40 and time.monotonic() < deadline:
            ev = s.expect(lambda e: e.get("type", "").startswith(W.MB + ".spec"), timeout=30)
            latest[ev["resourceid"]] = max(latest.get(ev["resourceid"], 0), ev["resourceversion"])
        check(len([v for v in latest.values() if v >= 2]) == 40,
              "after draining, %d of 40 works at generation 2" % len([v for v in latest.values() if v >= 2]))
        s.close()
        f.close()
    with_hub(run, env={"NAVE_HUB_STREAM_QUEUE_BYTES": str(cap)})


def test_dead_peer_and_heartbeat():
    def run(h):
        cert, key, _ = h.join("c1")
        t0 = time.monotonic()
        a = connect(h, "c1", cert, key)
        hb = a.expect_type(W.T_HEARTBEAT, timeout=3)
        check(hb["source"] == "nave-hub", json.dumps(hb))
        # silence for 3 heartbeats (after the hello): closed with 1001 at the next tick
        e = expect_closed(a, 1001, timeout=8)
        check(2.9 < time.monotonic() - t0 < 6, "closed %.1fs after the hello" % (time.monotonic() - t0))
        check("no event" in e.reason, e.reason)
        # a peer sending heartbeats stays
        a = connect(h, "c1", cert, key)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            a.send(a.event(W.T_HEARTBEAT))
            a.quiet(0.7, lambda ev: ev.get("type") == W.T_ERROR)
        a.send(a.event(W.T_LEASE, {"leaseDurationSeconds": 60}))
        a.quiet(0.5, lambda ev: ev.get("type") == W.T_ERROR)
        a.close()
    with_hub(run, env={"NAVE_HUB_STREAM_HEARTBEAT_SECONDS": "1"})


def test_connection_cap():
    def run(h):
        cert, key, _ = h.join("c1")
        a = connect(h, "c1", cert, key)
        b = connect(h, "c1", cert, key)
        try:
            Agent(h, "c1", cert, key)
            raise HubError("a third connection was accepted over a cap of 2")
        except Refused as e:
            check(e.status == 503 and e.headers.get("retry-after"), "expected 503: %s %s" % (e.status, e.headers))
        a.close()
        wait_for(lambda: metric(h, "nave_hub_stream_connections") == 1, 5, what="the close to be seen")
        c = connect(h, "c1", cert, key)
        c.close()
        b.close()
    with_hub(run, env={"NAVE_HUB_STREAM_MAX_CONNECTIONS": "2"})


def test_kill9_converges():
    """kill -9 of the hub mid-stream, restart: the agent reconnects, what was
    acknowledged is kept, what was not is retransmitted, and it converges."""
    def run(h):
        cert, key, _ = h.join("c1")
        w = create_work(h, "c1", "w1")
        uid = w["metadata"]["uid"]
        a = connect(h, "c1", cert, key)
        a.resync([])
        a.expect_type(W.T_SPEC_RESYNC_RESP, resourceid=uid)
        s1 = applied(1)
        seq1 = a.status(uid, 1, s1)
        a.expect_type(W.T_ACK, sequenceid=str(seq1))
        # a status in flight when the hub dies
        s2 = applied(7)
        seq2 = a.status(uid, 1, s2)
        h.kill9()
        try:
            a.ws.recv(2)
        except (Closed, OSError, socket.timeout):
            pass
        h.start()
        update_work(h, "c1", "w1", {"k": "after-restart"})
        a = Agent(h, "c1", cert, key)
        _, sr = a.hello()
        hashes = {e["resourceID"]: e["statusHash"] for e in sr["data"]["statusHashes"]}
        check(hashes.get(uid) in (W.status_hash(s1), W.status_hash(s2)), "acknowledged status lost: %s" % hashes)
        a.resync([(uid, 1)])
        ev = a.expect_type(W.T_SPEC_RESYNC_RESP, resourceid=uid)
        check(ev["resourceversion"] == 2, json.dumps(ev)[:300])
        # retransmission of the unacknowledged one, same sequence id
        a.status(uid, 1, s2, seq=seq2)
        a.expect_type(W.T_ACK, sequenceid=str(seq2))
        st, obj = get_work(h, "c1", "w1")
        check(obj["status"]["statusSync"]["sequenceID"] == str(seq2), json.dumps(obj["status"]))
        a.close()
    with_hub(run)


def test_renewal_and_metrics():
    def run(h):
        import subprocess
        cert, key, _ = h.join("c1")
        a = connect(h, "c1", cert, key)
        newkey = os.path.join(h.dir, "renew.key")
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", newkey],
                       check=True, capture_output=True)
        csr = subprocess.run(["openssl", "req", "-new", "-key", newkey, "-sha256", "-subj",
                              "/O=system:open-cluster-management:c1/CN=system:open-cluster-management:c1:agent1"],
                             check=True, capture_output=True, text=True).stdout
        req = a.send(a.event(W.T_RENEW_REQ, {"request": csr}))
        resp = a.expect_type(W.T_RENEW_RESP, timeout=10)
        check(resp["data"]["requestID"] == req["id"], json.dumps(resp)[:300])
        check(resp["data"]["certificate"].count("BEGIN CERTIFICATE") == 2, "no chain")
        newcert = os.path.join(h.dir, "renew.crt")
        with open(newcert, "w") as f:
            f.write(resp["data"]["certificate"])
        b = connect(h, "c1", newcert, newkey)
        b.close()
        # a CSR for another cluster: Forbidden
        csr2 = subprocess.run(["openssl", "req", "-new", "-key", newkey, "-sha256", "-subj",
                               "/O=system:open-cluster-management:c2/CN=system:open-cluster-management:c2:agent1"],
                              check=True, capture_output=True, text=True).stdout
        a.send(a.event(W.T_RENEW_REQ, {"request": csr2}))
        err = a.expect_type(W.T_ERROR)
        check(err["data"]["code"] == "Overloaded", "a second renewal within 10 s: %s" % json.dumps(err))
        c = connect(h, "c1", cert, key)
        c.send(c.event(W.T_RENEW_REQ, {"request": csr2}))
        check(c.expect_type(W.T_ERROR)["data"]["code"] == "Forbidden", "foreign CSR")
        c.close()
        wait_for(lambda: metric(h, "nave_hub_stream_connections") == 1, 5, what="the close to be seen")
        check(metric(h, "nave_hub_stream_connections") == 1, "connections gauge")
        check(metric(h, "nave_hub_stream_renewals_total") == 1, "renewals counter")
        # left open: the hub stops with an agent connected (closes it with 1001)
        a.send(a.event(W.T_HEARTBEAT))
    with_hub(run)


TESTS = {name[5:]: fn for name, fn in globals().items() if name.startswith("test_") and callable(fn)}

if __name__ == "__main__":
    sys.exit(run_tests(TESTS, sys.argv))
