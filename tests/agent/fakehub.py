"""fakehub.py - a scriptable stand-in for nave-hub's agent stream, for the
klusterlet's integration tests.

It speaks docs/protocol.md's transport exactly where the agent can tell
(mutual TLS against a test CA, the HTTP upgrade on /agent/v1/stream with
subprotocol cloudevents.json, one CloudEvent per text message, close codes)
and lets a test decide everything else: when to send hello (and with which
heartbeatSeconds), whether to heartbeat, whether to acknowledge status, when
to drop the connection. Every event the agent sends is recorded with the
time it arrived, per connection.

The websocket framing is written here (RFC 6455, server side) so that the
test depends on nothing but the standard library and python3-cryptography
(for the test CA and certificates).
"""
import base64
import datetime
import hashlib
import json
import os
import socket
import ssl
import struct
import threading
import time
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PATH = "/agent/v1/stream"
SUBPROTOCOL = "cloudevents.json"
MB = "io.open-cluster-management.works.v1alpha1.manifestbundles"


# --- certificates ---------------------------------------------------------

def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


def _pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class TestCA:
    """A P-256 CA that issues the fake hub's serving certificate and agents' client certificates."""

    def __init__(self, cn="fake-hub-ca"):
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.utcnow()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                                  key_encipherment=False, data_encipherment=False,
                                                  key_agreement=False, key_cert_sign=True, crl_sign=True,
                                                  encipher_only=False, decipher_only=False), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.pem = _pem_cert(self.cert)

    def issue(self, cn, org=None, server=False, lifetime_s=86400, key=None, not_before=None):
        """Returns (cert PEM, key PEM)."""
        key = key or ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.utcnow()
        attrs = []
        if org:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
        nb = not_before or (now - datetime.timedelta(seconds=60))
        b = (x509.CertificateBuilder().subject_name(x509.Name(attrs)).issuer_name(self.cert.subject)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(nb).not_valid_after(nb + datetime.timedelta(seconds=lifetime_s + 60))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
        if server:
            b = b.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]), critical=False)
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        else:
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        cert = b.sign(self.key, hashes.SHA256())
        return _pem_cert(cert), _pem_key(key)

    def sign_csr(self, csr_pem, lifetime_s=86400):
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        assert csr.is_signature_valid
        now = datetime.datetime.utcnow()
        nb = now - datetime.timedelta(seconds=5)
        cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(self.cert.subject)
                .public_key(csr.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(nb).not_valid_after(nb + datetime.timedelta(seconds=lifetime_s))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .sign(self.key, hashes.SHA256()))
        return _pem_cert(cert)


def write_credential(state_dir, hub_url, cluster, ca, agent="agent1", lifetime_s=86400):
    """Lay out a klusterlet state directory (store.h's layout) holding a credential issued by ca."""
    cert, key = ca.issue("system:open-cluster-management:%s:%s" % (cluster, agent),
                         "system:open-cluster-management:%s" % cluster, lifetime_s=lifetime_s)
    d = os.path.join(state_dir, "nave-hub-credentials")
    os.makedirs(d, mode=0o700, exist_ok=True)
    os.chmod(state_dir, 0o700)
    for name, value in (("hub-url", hub_url), ("cluster-name", cluster), ("agent-name", agent),
                        ("ca.crt", ca.pem), ("tls.crt", cert), ("tls.key", key)):
        p = os.path.join(d, name)
        with open(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(value)
    return cert, key


# --- events -----------------------------------------------------------------

def now_rfc3339():
    return datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(type_, cluster=None, data=None, **ext):
    ev = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "nave-hub", "type": type_,
          "time": now_rfc3339()}
    if cluster:
        ev["clustername"] = cluster
    for k, v in ext.items():
        ev[k] = v
    if data is not None:
        ev["datacontenttype"] = "application/json"
        ev["data"] = data
    return ev


def hello(cluster, heartbeat=10, version="1.0"):
    return event("io.nave.stream.v1.hello", cluster,
                 {"protocolVersion": version, "software": "fakehub", "heartbeatSeconds": heartbeat})


def heartbeat(cluster):
    return event("io.open-cluster-management.cloudevents.heartbeat", cluster)


def ack(cluster, rid, seq):
    return event("io.nave.works.v1.manifestbundles.status.ack", cluster, resourceid=rid,
                 sequenceid=str(seq))


def spec(cluster, rid, generation, manifests, kind="create_request", name=None):
    name = name or "work-" + rid[:8]
    meta = json.dumps({"name": name, "namespace": cluster, "uid": rid, "generation": generation})
    return event("%s.spec.%s" % (MB, kind), cluster, {"manifests": manifests}, resourceid=rid,
                 resourceversion=generation, metadata=meta)


def spec_delete(cluster, rid, generation):
    return event("%s.spec.delete_request" % MB, cluster, resourceid=rid, resourceversion=generation,
                 deletiontimestamp=now_rfc3339())


def status_resync_request(cluster, hashes=()):
    return event("%s.status.resync_request" % MB, cluster,
                 {"statusHashes": [{"resourceID": r, "statusHash": h} for r, h in hashes]})


# --- the server -----------------------------------------------------------------

class Conn:
    """One agent connection: events received, a sender, a closer."""

    def __init__(self, hub, sock, peer_cn):
        self.hub = hub
        self.sock = sock
        self.peer_cn = peer_cn
        self.events = []          # (monotonic time, event dict)
        self.closed = threading.Event()
        self.close_code = None    # the agent's close code, if it sent one
        self.lock = threading.Lock()
        self.opened = time.monotonic()
        self.hello_sent = False   # the hub's hello went out on this connection

    def send(self, ev):
        if ev.get("type") == "io.nave.stream.v1.hello":
            self.hello_sent = True
        self.send_text(json.dumps(ev))

    def send_text(self, text, opcode=1):
        data = text.encode() if isinstance(text, str) else text
        hdr = bytes([0x80 | opcode])
        n = len(data)
        if n < 126:
            hdr += bytes([n])
        elif n < 65536:
            hdr += bytes([126]) + struct.pack(">H", n)
        else:
            hdr += bytes([127]) + struct.pack(">Q", n)
        with self.lock:
            try:
                self.sock.sendall(hdr + data)
            except OSError:
                pass

    def close(self, code=1000, reason=""):
        self.send_text(struct.pack(">H", code) + reason.encode(), opcode=8)
        time.sleep(0.05)
        self.abort()

    def abort(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def of_type(self, suffix):
        return [e for _, e in list(self.events) if e.get("type", "").endswith(suffix)]

    def wait_for(self, suffix, count=1, timeout=20.0, pred=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            evs = [e for e in self.of_type(suffix) if pred is None or pred(e)]
            if len(evs) >= count:
                return evs
            time.sleep(0.02)
        raise AssertionError("timed out waiting for %d x %s (have %s)" %
                             (count, suffix, [e.get("type") for _, e in self.events]))


class FakeHub:
    """A TLS websocket server on a free loopback port.

    auto_hello: answer the agent's hello with a hello (heartbeat seconds hb).
    auto_heartbeat: send heartbeats every hb seconds.
    auto_ack: acknowledge every status update.
    """

    def __init__(self, ca=None, hb=10, auto_hello=True, auto_heartbeat=True, auto_ack=True, port=0):
        self.ca = ca or TestCA()
        self.hb = hb
        self.auto_hello = auto_hello
        self.auto_heartbeat = auto_heartbeat
        self.auto_ack = auto_ack
        self.conns = []
        self.on_event = None      # optional callback(conn, event)
        self.refuse_status = None # answer upgrades with this HTTP status instead of 101
        self.refused = 0          # handshakes refused
        cert, key = self.ca.issue("fake-hub", server=True)
        self.tmp = __import__("tempfile").mkdtemp(prefix="fakehub-")
        self.certfile = os.path.join(self.tmp, "srv.crt")
        self.keyfile = os.path.join(self.tmp, "srv.key")
        self.cafile = os.path.join(self.tmp, "ca.crt")
        for p, v in ((self.certfile, cert), (self.keyfile, key), (self.cafile, self.ca.pem)):
            with open(p, "w") as f:
                f.write(v)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(self.certfile, self.keyfile)
        self.ctx.load_verify_locations(self.cafile)
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.ctx.set_alpn_protocols(["http/1.1"])
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.url = "https://127.0.0.1:%d" % self.port
        self.stopping = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    # --- lifecycle ---
    def stop(self):
        """Close the listener and every connection (a hub going away)."""
        self.stopping = True
        try:
            # shutdown wakes the thread blocked in accept(); close alone does not.
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.lsock.close()
        except OSError:
            pass
        self.thread.join(5)
        for c in list(self.conns):
            c.abort()

    def wait_conn(self, n=1, timeout=20.0):
        """Wait until n connections have completed the upgrade; returns the n-th."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.conns) >= n:
                return self.conns[n - 1]
            time.sleep(0.02)
        raise AssertionError("timed out waiting for connection %d (have %d)" % (n, len(self.conns)))

    # --- server side ---
    def _accept_loop(self):
        while not self.stopping:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            if self.stopping:
                s.close()
                return
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, raw):
        try:
            raw.settimeout(10)
            s = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            self.refused += 1
            raw.close()
            return
        try:
            req = b""
            while b"\r\n\r\n" not in req:
                chunk = s.recv(4096)
                if not chunk:
                    return
                req += chunk
            head = req.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")
            line = head[0].split()
            hdrs = {}
            for h in head[1:]:
                k, _, v = h.partition(":")
                hdrs[k.strip().lower()] = v.strip()
            protos = [p.strip() for p in hdrs.get("sec-websocket-protocol", "").split(",")]
            if len(line) < 2 or line[1] != PATH or SUBPROTOCOL not in protos or \
                    hdrs.get("upgrade", "").lower() != "websocket":
                self.refused += 1
                s.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                s.close()
                return
            if self.refuse_status:
                self.refused += 1
                s.sendall(b"HTTP/1.1 %d Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" %
                          self.refuse_status)
                s.close()
                return
            accept = base64.b64encode(hashlib.sha1((hdrs["sec-websocket-key"] + WS_GUID).encode()).digest())
            s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Protocol: " +
                      SUBPROTOCOL.encode() + b"\r\n\r\n")
            peer = s.getpeercert()
            cn = None
            for rdn in peer.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        cn = v
            s.settimeout(None)
            conn = Conn(self, s, cn)
            self.conns.append(conn)
            threading.Thread(target=self._heartbeats, args=(conn,), daemon=True).start()
            self._read_loop(conn)
        except (OSError, ssl.SSLError, ValueError):
            pass

    def _heartbeats(self, conn):
        while not conn.closed.wait(self.hb):
            if conn.hello_sent and self.auto_heartbeat:
                conn.send(heartbeat(None))

    def _recv_exact(self, s, n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise OSError("eof")
            buf += chunk
        return buf

    def _read_loop(self, conn):
        s = conn.sock
        msg = b""
        try:
            while True:
                b0, b1 = self._recv_exact(s, 2)
                fin, opcode = b0 & 0x80, b0 & 0x0F
                masked, n = b1 & 0x80, b1 & 0x7F
                if n == 126:
                    n = struct.unpack(">H", self._recv_exact(s, 2))[0]
                elif n == 127:
                    n = struct.unpack(">Q", self._recv_exact(s, 8))[0]
                if not masked:
                    raise OSError("client frames must be masked")
                mask = self._recv_exact(s, 4)
                data = bytearray(self._recv_exact(s, n))
                for i in range(len(data)):
                    data[i] ^= mask[i % 4]
                if opcode == 8:
                    conn.close_code = struct.unpack(">H", bytes(data[:2]))[0] if len(data) >= 2 else 1005
                    conn.send_text(bytes(data[:2]), opcode=8)
                    break
                if opcode == 9:
                    conn.send_text(bytes(data), opcode=10)
                    continue
                if opcode == 10:
                    continue
                msg += bytes(data)
                if not fin:
                    continue
                ev = json.loads(msg.decode())
                msg = b""
                conn.events.append((time.monotonic(), ev))
                self._react(conn, ev)
        except (OSError, ValueError, ssl.SSLError):
            pass
        finally:
            conn.closed.set()
            conn.abort()

    def _react(self, conn, ev):
        t = ev.get("type", "")
        cluster = ev.get("clustername")
        if t == "io.nave.stream.v1.hello" and self.auto_hello:
            conn.send(hello(cluster, self.hb))
        elif t.endswith(".status.update_request") or t.endswith(".status.resync_response"):
            if self.auto_ack:
                conn.send(ack(cluster, ev["resourceid"], ev["sequenceid"]))
        if self.on_event:
            self.on_event(conn, ev)
