"""wsclient.py - a small websocket client (RFC 6455) over mutual TLS, and a
simulated agent speaking docs/protocol.md, for the stream tests.

Written on the standard library alone (socket, ssl), so the tests need no
extra package and can also misbehave on purpose: send raw or oversized
frames, binary messages, events before the hello, or stop reading.
"""
import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import time
import uuid

WS_PATH = "/agent/v1/stream"
SUBPROTOCOL = "cloudevents.json"
MB = "io.open-cluster-management.works.v1alpha1.manifestbundles"
T_SPEC_CREATE = MB + ".spec.create_request"
T_SPEC_UPDATE = MB + ".spec.update_request"
T_SPEC_DELETE = MB + ".spec.delete_request"
T_SPEC_RESYNC_REQ = MB + ".spec.resync_request"
T_SPEC_RESYNC_RESP = MB + ".spec.resync_response"
T_STATUS_UPDATE = MB + ".status.update_request"
T_STATUS_RESYNC_REQ = MB + ".status.resync_request"
T_STATUS_RESYNC_RESP = MB + ".status.resync_response"
T_ACK = "io.nave.works.v1.manifestbundles.status.ack"
T_HEARTBEAT = "io.open-cluster-management.cloudevents.heartbeat"
T_HELLO = "io.nave.stream.v1.hello"
T_ERROR = "io.nave.stream.v1.error"
T_LEASE = "io.nave.clusters.v1.leases.update_request"
T_RENEW_REQ = "io.nave.clusters.v1.certificates.renew_request"
T_RENEW_RESP = "io.nave.clusters.v1.certificates.renew_response"

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Refused(Exception):
    """The server answered the upgrade with an HTTP status other than 101."""

    def __init__(self, status, headers, body):
        Exception.__init__(self, "upgrade refused: HTTP %d %s" % (status, body[:200]))
        self.status = status
        self.headers = headers
        self.body = body


class Closed(Exception):
    """The server closed the websocket (code, reason) or the connection."""

    def __init__(self, code, reason):
        Exception.__init__(self, "closed: %s %s" % (code, reason))
        self.code = code
        self.reason = reason


class WS:
    def __init__(self, port, cafile, cert=None, key=None, path=WS_PATH, subprotocol=SUBPROTOCOL,
                 host="127.0.0.1", timeout=10.0, rcvbuf=None):
        ctx = ssl.create_default_context(cafile=cafile)
        if cert:
            ctx.load_cert_chain(cert, key)
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(timeout)
        raw.connect((host, port))
        self.sock = ctx.wrap_socket(raw, server_hostname=host)
        self.buf = b""
        key64 = base64.b64encode(os.urandom(16)).decode()
        req = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (host, port), "Upgrade: websocket",
               "Connection: Upgrade", "Sec-WebSocket-Key: " + key64, "Sec-WebSocket-Version: 13"]
        if subprotocol:
            req.append("Sec-WebSocket-Protocol: " + subprotocol)
        self.sock.sendall(("\r\n".join(req) + "\r\n\r\n").encode())
        head = self._read_until(b"\r\n\r\n", timeout)
        lines = head.decode(errors="replace").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if status != 101:
            n = int(headers.get("content-length", "0"))
            body = self._read_exact(n, timeout) if n else b""
            self.sock.close()
            raise Refused(status, headers, body.decode(errors="replace"))
        want = base64.b64encode(hashlib.sha1((key64 + GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != want:
            raise AssertionError("bad Sec-WebSocket-Accept")
        if subprotocol and headers.get("sec-websocket-protocol") != subprotocol:
            raise AssertionError("subprotocol not confirmed: %r" % headers.get("sec-websocket-protocol"))
        self.frag = None

    # --- raw I/O --------------------------------------------------------------
    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        self.sock.settimeout(left)
        d = self.sock.recv(65536)
        if not d:
            raise Closed(None, "connection closed without a close frame")
        self.buf += d

    def _read_until(self, marker, timeout):
        deadline = time.monotonic() + timeout
        while marker not in self.buf:
            try:
                self._fill(deadline)
            except Closed:
                raise Refused(0, {}, "connection dropped during the upgrade")
            except (ConnectionResetError, ssl.SSLError) as e:
                raise Refused(0, {}, "connection dropped during the upgrade: %s" % e)
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_exact(self, n, timeout, deadline=None):
        deadline = deadline or time.monotonic() + timeout
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send_frame(self, opcode, payload, fin=True):
        if isinstance(payload, str):
            payload = payload.encode()
        hdr = bytes([(0x80 if fin else 0) | opcode])
        n = len(payload)
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 4096 else _mask_fast(payload, mask)
        self.sock.sendall(hdr + mask + body)

    def send_text(self, text, fragments=1):
        data = text.encode() if isinstance(text, str) else text
        if fragments <= 1:
            self.send_frame(0x1, data)
            return
        step = max(1, (len(data) + fragments - 1) // fragments)
        parts = [data[i:i + step] for i in range(0, len(data), step)] or [b""]
        for i, p in enumerate(parts):
            self.send_frame(0x1 if i == 0 else 0x0, p, fin=(i == len(parts) - 1))

    def send_binary(self, data):
        self.send_frame(0x2, data)

    def close(self, code=1000, reason=""):
        try:
            self.send_frame(0x8, struct.pack("!H", code) + reason.encode())
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def recv(self, timeout=10.0):
        """The next whole text message (str). Raises Closed or socket.timeout."""
        deadline = time.monotonic() + timeout
        msg = None
        while True:
            hdr = self._read_exact(2, timeout, deadline)
            fin, op, n = hdr[0] & 0x80, hdr[0] & 0x0f, hdr[1] & 0x7f
            if hdr[1] & 0x80:
                raise AssertionError("the server masked a frame")
            if n == 126:
                n = struct.unpack("!H", self._read_exact(2, timeout, deadline))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read_exact(8, timeout, deadline))[0]
            payload = self._read_exact(n, timeout, deadline)
            if op == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise Closed(code, payload[2:].decode(errors="replace"))
            if op == 0x9:
                self.send_frame(0xA, payload)
                continue
            if op == 0xA:
                continue
            if op == 0x2:
                raise AssertionError("the server sent a binary message")
            if op == 0x1:
                msg = payload
            elif op == 0x0:
                if msg is None:
                    raise AssertionError("continuation without a start")
                msg += payload
            if fin:
                return msg.decode()


def _mask_fast(payload, mask):
    n = len(payload)
    m = (mask * ((n + 3) // 4))[:n]
    a = int.from_bytes(payload, "big")
    b = int.from_bytes(m, "big")
    return (a ^ b).to_bytes(n, "big")


def now_rfc3339():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


def status_hash(status):
    txt = json.dumps(status, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(txt.encode()).hexdigest()


class Agent:
    """One simulated agent: events as dicts, a queue of events read but not
    yet claimed by a test."""

    def __init__(self, hub, cluster, cert, key, **kw):
        self.cluster = cluster
        self.ws = WS(hub.port, hub.path("ca.crt"), cert, key, **kw)
        self.pending = []
        self.seq = int(time.time() * 1e6)

    def event(self, etype, data=None, **ext):
        ev = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "nave-klusterlet/" + self.cluster,
              "type": etype, "time": now_rfc3339(), "clustername": self.cluster}
        ev.update(ext)
        if data is not None:
            ev["datacontenttype"] = "application/json"
            ev["data"] = data
        return ev

    def send(self, ev, **kw):
        self.ws.send_text(json.dumps(ev), **kw)
        return ev

    def recv_event(self, timeout=10.0):
        if self.pending:
            return self.pending.pop(0)
        return json.loads(self.ws.recv(timeout))

    def expect(self, pred, timeout=10.0, what="an event"):
        """The first event (read or pending) matching pred; others stay pending.
        Heartbeats are dropped."""
        for i, ev in enumerate(self.pending):
            if pred(ev):
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out waiting for %s; pending: %s" %
                                     (what, [e.get("type") for e in self.pending]))
            try:
                ev = json.loads(self.ws.recv(left))
            except socket.timeout:
                continue
            if pred(ev):
                return ev
            if ev.get("type") != T_HEARTBEAT:
                self.pending.append(ev)

    def expect_type(self, etype, timeout=10.0, **match):
        def pred(ev):
            return ev.get("type") == etype and all(ev.get(k) == v for k, v in match.items())
        return self.expect(pred, timeout, "%s %s" % (etype, match))

    def quiet(self, seconds, pred=lambda ev: ev.get("type") != T_HEARTBEAT):
        """Assert that no event matching pred arrives for seconds."""
        try:
            ev = self.expect(pred, seconds, "silence")
        except AssertionError:
            return
        raise AssertionError("unexpected event: %s" % json.dumps(ev)[:400])

    def hello(self, version="1.0"):
        self.send(self.event(T_HELLO, {"protocolVersion": version, "software": "stream-test"}))
        h = self.expect_type(T_HELLO)
        sr = self.expect_type(T_STATUS_RESYNC_REQ)
        return h, sr

    def resync(self, versions):
        self.send(self.event(T_SPEC_RESYNC_REQ, {"resourceVersions": [
            {"resourceID": uid, "resourceVersion": gen} for uid, gen in versions]}))

    def next_seq(self):
        self.seq = max(self.seq + 1, int(time.time() * 1e6))
        return self.seq

    def status(self, uid, gen, status, seq=None, etype=T_STATUS_UPDATE, **ext):
        seq = seq or self.next_seq()
        self.send(self.event(etype, status, resourceid=uid, resourceversion=gen, sequenceid=str(seq),
                             statushash=status_hash(status), **ext))
        return seq

    def close(self):
        self.ws.close()
