"""rbac.py - check that an agent's requests are allowed by its RBAC.

nave-kubesim does not enforce RBAC, so the rules in deploy/klusterlet/10-rbac.yaml
would not be tested by running the agent against it. Instead:

  AuditProxy  a TLS proxy in front of nave-kubesim (with kubesim's own serving
              certificate, so the in-cluster CA still verifies it) that records
              the method and path of every request, and passes bytes through.
              The agents' KUBERNETES_SERVICE_PORT points at it.
  Authorizer  Kubernetes' RBAC rules evaluated over Roles, ClusterRoles and
              their bindings (as read back from the cluster), aggregated
              ClusterRoles filled as the aggregation controller does, plus the
              non-resource URLs every authenticated user may read
              (system:discovery, system:public-info-viewer).

Request attributes follow the API server's request info: resource paths
(/api/v1/..., /apis/G/V/...) give group, resource, subresource, namespace,
name and verb (get, list, watch, create, update, patch, delete,
deletecollection); anything else is a non-resource URL.
"""
import re
import socket
import ssl
import threading
import urllib.parse

PUBLIC_NON_RESOURCE = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/version",
                       "/version/", "/openapi", "/openapi/*"]
MAX_HEAD = 64 * 1024


class AuditProxy:
    def __init__(self, upstream_host, upstream_port, cert, key):
        self.upstream = (upstream_host, upstream_port)
        self.requests = []          # (method, path)
        self.lock = threading.Lock()
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.set_alpn_protocols(["http/1.1"])
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.closing = True
        self.sock.close()

    def seen(self):
        with self.lock:
            return list(self.requests)

    def _accept(self):
        while not self.closing:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, raw):
        try:
            client = self.ctx.wrap_socket(raw, server_side=True)
            up = ssl._create_unverified_context().wrap_socket(socket.create_connection(self.upstream),
                                                              server_hostname=self.upstream[0])
        except (OSError, ssl.SSLError):
            raw.close()
            return
        threading.Thread(target=self._pump, args=(up, client), daemon=True).start()
        self._requests(client, up)

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                dst.sendall(b)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass

    def _requests(self, client, up):
        """Relay client -> upstream, noting each request line; bodies are
        skipped by Content-Length or chunked framing."""
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    b = client.recv(65536)
                    if not b:
                        return
                    buf += b
                    if len(buf) > MAX_HEAD and b"\r\n\r\n" not in buf:
                        return
                head, rest = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, target = lines[0].split(" ")[:2]
                headers = {ln.split(":", 1)[0].strip().lower(): ln.split(":", 1)[1].strip()
                           for ln in lines[1:] if ":" in ln}
                with self.lock:
                    self.requests.append((method, target))
                up.sendall(head + b"\r\n\r\n")
                buf = rest
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    while True:
                        while b"\r\n" not in buf:
                            buf += self._more(client)
                        size_line, buf = buf.split(b"\r\n", 1)
                        size = int(size_line.split(b";")[0], 16)
                        need = size + 2
                        while len(buf) < need:
                            buf += self._more(client)
                        up.sendall(size_line + b"\r\n" + buf[:need])
                        buf = buf[need:]
                        if size == 0:
                            break
                else:
                    n = int(headers.get("content-length", "0"))
                    while len(buf) < n:
                        buf += self._more(client)
                    up.sendall(buf[:n])
                    buf = buf[n:]
        except (OSError, ValueError, IndexError):
            pass
        finally:
            for s in (client, up):
                try:
                    s.close()
                except OSError:
                    pass

    @staticmethod
    def _more(sock):
        b = sock.recv(65536)
        if not b:
            raise OSError("closed")
        return b


def request_info(method, target):
    """The API server's view of a request: a dict with verb, and either
    path (non-resource) or group, resource, subresource, namespace, name."""
    u = urllib.parse.urlsplit(target)
    q = urllib.parse.parse_qs(u.query)
    parts = [p for p in u.path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, rest = "", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, rest = parts[1], parts[3:]
    else:
        rest = None
    if not rest:
        return {"verb": method.lower(), "path": u.path}
    ns = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        ns, rest = rest[1], rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if resource == "namespaces" and name and ns is None:
        ns = name
    watch = q.get("watch", ["false"])[0].lower() in ("1", "true")
    verb = {"GET": "watch" if watch else ("get" if name else "list"), "POST": "create", "PUT": "update",
            "PATCH": "patch", "DELETE": "delete" if name else "deletecollection"}.get(method, method.lower())
    return {"verb": verb, "group": group, "resource": resource, "subresource": sub, "namespace": ns, "name": name}


def _labels_match(sel, labels):
    return all(labels.get(k) == v for k, v in sel.get("matchLabels", {}).items())


class Authorizer:
    def __init__(self, objects, sa_namespace, sa_name):
        self.user = ("ServiceAccount", sa_namespace, sa_name)
        roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects
                 if o.get("kind") in ("Role", "ClusterRole")}
        # The aggregation controller: rules of every selected ClusterRole.
        for key, o in roles.items():
            agg = o.get("aggregationRule")
            if key[0] == "ClusterRole" and agg:
                rules = []
                for other in roles.values():
                    if other is o or other["kind"] != "ClusterRole":
                        continue
                    if any(_labels_match(sel, other["metadata"].get("labels", {}))
                           for sel in agg.get("clusterRoleSelectors", [])):
                        rules += other.get("rules") or []
                o = dict(o, rules=rules)
                roles[key] = o
        self.grants = []   # (namespace or None for cluster-wide, rules)
        for b in objects:
            if b.get("kind") not in ("RoleBinding", "ClusterRoleBinding"):
                continue
            if not any(s.get("kind") == "ServiceAccount" and s.get("namespace") == sa_namespace and
                       s.get("name") == sa_name for s in b.get("subjects", [])):
                continue
            rr = b["roleRef"]
            bns = b["metadata"].get("namespace") if b["kind"] == "RoleBinding" else None
            role = roles.get((rr["kind"], bns if rr["kind"] == "Role" else None, rr["name"]))
            if role:
                self.grants.append((bns, role.get("rules") or []))

    @staticmethod
    def _rule_allows(rule, ri):
        verbs = rule.get("verbs", [])
        if "*" not in verbs and ri["verb"] not in verbs:
            return False
        if "path" in ri:
            for pat in rule.get("nonResourceURLs", []):
                if pat == ri["path"] or pat == "*" or (pat.endswith("*") and ri["path"].startswith(pat[:-1])):
                    return True
            return False
        groups = rule.get("apiGroups", [])
        if "*" not in groups and ri["group"] not in groups:
            return False
        res = ri["resource"] + ("/" + ri["subresource"] if ri["subresource"] else "")
        resources = rule.get("resources", [])
        if "*" not in resources and res not in resources and \
                not (ri["subresource"] and "*/" + ri["subresource"] in resources):
            return False
        names = rule.get("resourceNames")
        if names:
            return ri["name"] is not None and ri["name"] in names and ri["verb"] != "create"
        return True

    def allowed(self, method, target):
        ri = request_info(method, target)
        if "path" in ri:
            if ri["verb"] == "get" and any(p == ri["path"] or (p.endswith("*") and ri["path"].startswith(p[:-1]))
                                           for p in PUBLIC_NON_RESOURCE):
                return True
        for ns, rules in self.grants:
            if ns is not None and ("path" in ri or ri.get("namespace") != ns):
                continue
            if any(self._rule_allows(r, ri) for r in rules):
                return True
        return False

    def denied(self, requests):
        """The (method, path) pairs of requests RBAC would refuse, with their attributes."""
        out = []
        for m, t in requests:
            if not self.allowed(m, t):
                out.append("%s %s %s" % (m, t, request_info(m, t)))
        return out


def rbac_objects(sim):
    """Roles, ClusterRoles and their bindings as stored in the cluster."""
    import json
    out = []
    for plural, kind in (("roles", "Role"), ("rolebindings", "RoleBinding"), ("clusterroles", "ClusterRole"),
                         ("clusterrolebindings", "ClusterRoleBinding")):
        r = sim.kubectl("get", plural, "-A", "-o", "json")
        for o in json.loads(r.stdout)["items"]:
            o["kind"] = kind
            out.append(o)
    return out
