#!/usr/bin/python3
"""Integration tests of nave-hub: the real binary on a free loopback port.

Run one test: test_hub.py NAME (meson runs each as its own test, suite 'hub').
"""
import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hubtest import DATA, HUB, HubError, Hub, make_csr, openssl, run_tests, wait_for  # noqa: E402

WORKS = "/apis/work.open-cluster-management.io/v1"
CLUSTERS = "/apis/cluster.open-cluster-management.io/v1/managedclusters"


def check(cond, msg):
    if not cond:
        raise HubError(msg)


def expect(st_body, code, *needles):
    st, body = st_body
    text = body if isinstance(body, str) else json.dumps(body)
    check(st == code, "expected %d, got %d: %s" % (code, st, text[:600]))
    for n in needles:
        check(n in text, "expected %r in the answer: %s" % (n, text[:600]))
    return body


def work(ns, name, manifests=None):
    if manifests is None:
        manifests = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-" + name, "namespace": "default"},
                      "data": {"k": "v"}}]
    return {"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
            "metadata": {"name": name, "namespace": ns}, "spec": {"workload": {"manifests": manifests}}}


def condition(mc, ctype):
    for c in mc.get("status", {}).get("conditions", []):
        if c["type"] == ctype:
            return c
    return None


def with_hub(fn, init_args=(), serve_args=()):
    h = Hub(init_args=init_args, serve_args=serve_args)
    try:
        h.start()
        fn(h)
        check(h.stop() == 0, "nave-hub serve did not exit 0 on SIGTERM:\n" + h.log_tail())
    except Exception:
        sys.stderr.write("--- serve.log ---\n%s\n" % h.log_tail())
        raise
    finally:
        h.cleanup()


# --- init and serve -------------------------------------------------------------

def t_init_serve():
    def body(h):
        d = os.stat(h.data)
        check(stat.S_IMODE(d.st_mode) == 0o700, "data dir mode %o" % stat.S_IMODE(d.st_mode))
        for f in ("ca.key", "serving.key", "admin.kubeconfig", "hub.json", "store.db"):
            m = stat.S_IMODE(os.stat(h.path(f)).st_mode)
            check(m == 0o600, "%s has mode %o, want 0600" % (f, m))
        with open(h.path("hub.json")) as f:
            cfg = json.load(f)
        check(h.token not in json.dumps(cfg), "hub.json holds the admin token in clear")
        check(cfg["adminTokenHash"].startswith("sha256:"), "hub.json has no token hash")
        expect(h.request("GET", "/healthz", token=None), 200, "ok")
        expect(h.request("GET", "/readyz", token=None), 200, "ok")
        expect(h.request("GET", "/metrics", token=None), 401, "admin token")
        m = expect(h.request("GET", "/metrics"), 200, "nave_hub_http_requests_total", "nave_hub_managed_clusters",
                   "nave_hub_store_commit_duration_seconds_bucket", "nave_hub_manifestworks")
        check("nave_hub_http_request_duration_seconds_bucket" in m, "no latency histogram")
        ca = expect(h.request("GET", "/nave/v1/ca.crt", token=None), 200, "BEGIN CERTIFICATE")
        check(ca == open(h.path("ca.crt")).read(), "ca.crt endpoint differs from D/ca.crt")
        # serving certificate names and the pin printed by init
        openssl("verify", "-CAfile", h.path("ca.crt"), h.path("serving.crt"))
        sans = openssl("x509", "-in", h.path("serving.crt"), "-noout", "-ext", "subjectAltName")
        check("127.0.0.1" in sans and "localhost" in sans, "serving cert SANs: " + sans)
        # unauthenticated and wrong-token requests
        expect(h.request("GET", CLUSTERS, token=None), 401, "Unauthorized")
        expect(h.request("GET", CLUSTERS, token="not-the-token"), 401, "not valid for this hub")
        # kubectl with the admin kubeconfig
        r = h.kubectl("get", "managedclusters")
        check("No resources found" in r.stdout + r.stderr, "kubectl get: " + r.stdout + r.stderr)
        r = h.kubectl("api-resources", check=False)
        for res in ("managedclusters", "manifestworks", "bootstraptokens"):
            check(res in r.stdout, "api-resources lacks %s: %s" % (res, r.stdout))
        r = h.kubectl("get", "--raw", "/version")
        check("gitVersion" in r.stdout, r.stdout)
    with_hub(body)


def t_init_refuses():
    h = Hub()
    try:
        before = open(h.path("admin.kubeconfig")).read()
        r = h.init()
        check(r.returncode == 1, "second init exit %d" % r.returncode)
        check("refusing to overwrite" in r.stderr and "already holds a hub" in r.stderr, r.stderr)
        check(open(h.path("admin.kubeconfig")).read() == before, "admin.kubeconfig changed")
        h2 = Hub(do_init=False)
        try:
            r = subprocess.run([os.environ.get("NAVE_HUB", "nave-hub"), "serve", "--data-dir", h2.data],
                               capture_output=True, text=True, timeout=30)
            check(r.returncode == 1 and "nave-hub init" in r.stderr, "serve without init: %d %s" % (r.returncode, r.stderr))
        finally:
            h2.cleanup()
        # two hubs on one data directory
        h.start()
        r = subprocess.run([os.environ.get("NAVE_HUB", "nave-hub"), "serve", "--data-dir", h.data],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 1 and "another nave-hub" in r.stderr, "second serve: %d %s" % (r.returncode, r.stderr))
        check(h.stop() == 0, "stop")
    finally:
        h.cleanup()


# --- registration -------------------------------------------------------------------

def t_registration():
    def body(h):
        tok = h.create_token(ttlSeconds=600, description="test")
        check(tok["token"].startswith(tok["id"] + ".") and len(tok["token"]) == 23, tok)
        check(tok["caHash"].startswith("sha256:") and tok["joinCommand"].startswith("nave-klusterlet join"), tok)
        pin = "sha256:" + subprocess.run(
            "openssl x509 -in %s -pubkey -noout | openssl pkey -pubin -outform der | sha256sum" % h.path("ca.crt"),
            shell=True, capture_output=True, text=True).stdout.split()[0]
        check(tok["caHash"] == pin, "caHash %s, openssl says %s" % (tok["caHash"], pin))
        # the secret is not stored
        bt = h.kubectl("get", "bootstraptokens", tok["id"], "-o", "json").stdout
        check(tok["token"].split(".")[1] not in bt, "the token secret is visible through the API")
        with open(h.path("store.db"), "rb") as f:
            check(tok["token"].split(".")[1].encode() not in f.read(), "the token secret is in store.db")

        key, csr = make_csr(h.dir, "cluster1")
        reg = expect(h.register(tok["token"], "cluster1", csr, labels={"region": "eu"},
                                claims=[{"name": "kubeversion.open-cluster-management.io", "value": "v1.32.0"}]),
                     201, "Pending")
        mc = expect(h.request("GET", CLUSTERS + "/cluster1"), 200)
        check(mc["spec"]["hubAcceptsClient"] is False, mc)
        check(mc["metadata"]["labels"].get("region") == "eu", mc)
        check(mc["status"]["clusterClaims"][0]["value"] == "v1.32.0", mc)
        r = h.kubectl("get", "managedclusters")
        check("cluster1" in r.stdout and "false" in r.stdout, r.stdout)
        # polling before accept
        expect(h.request("GET", "/nave/v1/registrations/" + reg["id"], token=tok["token"]), 200, "Pending")
        expect(h.request("GET", "/nave/v1/registrations/" + reg["id"], token=None), 401)
        # accept
        mc = expect(h.request("POST", "/nave/v1/clusters/cluster1/accept"), 200)
        check(mc["spec"]["hubAcceptsClient"] is True, mc)
        c = condition(mc, "HubAcceptedManagedCluster")
        check(c and c["status"] == "True" and c["reason"] == "HubClusterAdminAccepted", mc)
        reg = expect(h.request("GET", "/nave/v1/registrations/" + reg["id"], token=tok["token"]), 200, "Approved")
        cert = os.path.join(h.dir, "c1.crt")
        with open(cert, "w") as f:
            f.write(reg["certificate"])
        out = openssl("verify", "-CAfile", h.path("ca.crt"), cert)
        check("OK" in out, out)
        subj = openssl("x509", "-in", cert, "-noout", "-subject", "-nameopt", "RFC2253")
        check("CN=system:open-cluster-management:cluster1:agent1" in subj and
              "O=system:open-cluster-management:cluster1" in subj, subj)
        eku = openssl("x509", "-in", cert, "-noout", "-ext", "extendedKeyUsage")
        check("Client Authentication" in eku, eku)
        # the certificate holds the CSR's key
        pub_csr = openssl("req", "-pubkey", "-noout", input=csr)
        pub_crt = openssl("x509", "-in", cert, "-pubkey", "-noout")
        check(pub_csr == pub_crt, "certificate key differs from the CSR's")
        # the cluster's identity: its own objects only
        expect(h.request("POST", WORKS + "/namespaces/cluster1/manifestworks", work("cluster1", "w1")), 201)
        expect(h.request("POST", WORKS + "/namespaces/cluster2/manifestworks", work("cluster2", "w2")), 201)
        expect(h.request("GET", WORKS + "/namespaces/cluster1/manifestworks", token=None, cert=cert, key=key), 200, "w1")
        expect(h.request("GET", WORKS + "/namespaces/cluster2/manifestworks", token=None, cert=cert, key=key), 403,
               "forbidden", "cluster2")
        expect(h.request("GET", WORKS + "/namespaces/cluster2/manifestworks/w2", token=None, cert=cert, key=key), 403)
        expect(h.request("GET", WORKS + "/manifestworks", token=None, cert=cert, key=key), 403)
        expect(h.request("DELETE", WORKS + "/namespaces/cluster1/manifestworks/w1", token=None, cert=cert, key=key), 403)
        expect(h.request("POST", WORKS + "/namespaces/cluster1/manifestworks", work("cluster1", "w3"), token=None,
                         cert=cert, key=key), 403)
        expect(h.request("PATCH", WORKS + "/namespaces/cluster1/manifestworks/w1/status",
                         {"status": {"conditions": [{"type": "Applied", "status": "True", "reason": "AppliedManifestWorkComplete",
                                                     "message": "ok", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}},
                         ctype="application/merge-patch+json", token=None, cert=cert, key=key), 200, "Applied")
        expect(h.request("GET", CLUSTERS + "/cluster1", token=None, cert=cert, key=key), 200)
        expect(h.request("GET", CLUSTERS, token=None, cert=cert, key=key), 403)
        expect(h.request("GET", CLUSTERS + "?fieldSelector=metadata.name%3Dcluster1", token=None, cert=cert, key=key),
               200, "cluster1")
        expect(h.request("PATCH", CLUSTERS + "/cluster1", {"spec": {"hubAcceptsClient": True}},
                         ctype="application/merge-patch+json", token=None, cert=cert, key=key), 403)
        expect(h.request("GET", "/nave/v1/tokens", token=None, cert=cert, key=key), 405)
        expect(h.request("POST", "/nave/v1/tokens", {}, token=None, cert=cert, key=key), 403)
        expect(h.request("GET", "/apis/nave.dev/v1alpha1/bootstraptokens", token=None, cert=cert, key=key), 403)
        # lease: Joined and Available
        expect(h.request("PUT", "/nave/v1/clusters/cluster1/lease", {"leaseDurationSeconds": 10}, token=None,
                         cert=cert, key=key), 200, "leaseDurationSeconds")
        expect(h.request("PUT", "/nave/v1/clusters/cluster2/lease", {"leaseDurationSeconds": 10}, token=None,
                         cert=cert, key=key), 403)
        mc = expect(h.request("GET", CLUSTERS + "/cluster1"), 200)
        check(condition(mc, "ManagedClusterJoined")["status"] == "True", mc)
        check(condition(mc, "ManagedClusterConditionAvailable")["reason"] == "ManagedClusterAvailable", mc)
        r = h.kubectl("get", "managedclusters", "cluster1")
        check(r.stdout.split("\n")[1].split()[1:4] == ["true", "True", "True"], r.stdout)
        # renewal keeps the subject, issues a new serial
        key2, csr2 = make_csr(h.dir, "cluster1")
        ren = expect(h.request("POST", "/nave/v1/renewals", {"csr": csr2}, token=None, cert=cert, key=key), 201,
                     "BEGIN CERTIFICATE")
        cert2 = os.path.join(h.dir, "c1-renewed.crt")
        with open(cert2, "w") as f:
            f.write(ren["certificate"])
        openssl("verify", "-CAfile", h.path("ca.crt"), cert2)
        _, csr_other = make_csr(h.dir, "cluster2")
        expect(h.request("POST", "/nave/v1/renewals", {"csr": csr_other}, token=None, cert=cert, key=key), 403,
               "subject must stay")
        expect(h.request("GET", CLUSTERS + "/cluster1", token=None, cert=cert2, key=key2), 200)
        # a watch the cluster holds open is cut by the deny, before it delivers more
        wc = h.conn(cert=cert, key=key, timeout=10)
        wc.request("GET", WORKS + "/namespaces/cluster1/manifestworks?watch=true")
        wresp = wc.getresponse()
        check(wresp.status == 200, "cluster watch: %d" % wresp.status)
        got = b""
        while b"w1" not in got:
            got += wresp.read1(65536)
        # deny: both certificates refused, conditions set, revocation list
        mc = expect(h.request("POST", "/nave/v1/clusters/cluster1/deny"), 200)
        expect(h.request("POST", WORKS + "/namespaces/cluster1/manifestworks", work("cluster1", "after-deny")), 201)
        rest = b""
        while True:
            chunk = wresp.read1(65536)
            if not chunk:
                break
            rest += chunk
        check(b"after-deny" not in rest, "a denied cluster's watch delivered a new work")
        wc.close()
        check(mc["spec"]["hubAcceptsClient"] is False, mc)
        check(condition(mc, "HubAcceptedManagedCluster")["status"] == "False", mc)
        check(condition(mc, "HubDeniedManagedCluster")["status"] == "True", mc)
        for c, k in ((cert, key), (cert2, key2)):
            expect(h.request("GET", WORKS + "/namespaces/cluster1/manifestworks", token=None, cert=c, key=k), 401,
                   "revoked")
            expect(h.request("PUT", "/nave/v1/clusters/cluster1/lease", {"leaseDurationSeconds": 10}, token=None,
                             cert=c, key=k), 401)
        r = h.kubectl("get", "revokedcertificates", "-o", "json")
        revoked = json.loads(r.stdout)["items"]
        check(len(revoked) == 2, r.stdout)
        # re-accepting does not bring revoked serials back
        expect(h.request("POST", "/nave/v1/clusters/cluster1/accept"), 200)
        expect(h.request("GET", CLUSTERS + "/cluster1", token=None, cert=cert, key=key), 401, "revoked")
        # deny survives a restart (revocation list is persisted)
        h.stop()
        h.start()
        expect(h.request("GET", CLUSTERS + "/cluster1", token=None, cert=cert2, key=key2), 401, "revoked")
        # a new registration for an accepted cluster waits for an admin again
        tok2 = h.create_token()
        _, csr3 = make_csr(h.dir, "cluster1", "agent2")
        reg3 = expect(h.register(tok2["token"], "cluster1", csr3), 201, "Pending")
        expect(h.request("GET", "/nave/v1/registrations/" + reg3["id"], token=tok2["token"]), 200, "Pending")
        # and another token cannot queue beside it
        _, csr4 = make_csr(h.dir, "cluster1", "agent3")
        expect(h.register(tok["token"], "cluster1", csr4), 409, "pending registration")
        expect(h.request("GET", "/nave/v1/registrations/" + reg3["id"], token=tok["token"]), 403)
        m = expect(h.request("GET", "/metrics"), 200)
        check('nave_hub_managed_clusters{accepted="true",available="True"}' in m, m)
    with_hub(body)


def t_auto_accept():
    def body(h):
        tok = h.create_token()
        key, csr = make_csr(h.dir, "auto1")
        reg = expect(h.register(tok["token"], "auto1", csr), 201, "Approved", "BEGIN CERTIFICATE")
        cert = os.path.join(h.dir, "auto1.crt")
        with open(cert, "w") as f:
            f.write(reg["certificate"])
        expect(h.request("GET", CLUSTERS + "/auto1", token=None, cert=cert, key=key), 200)
        # only the first join is automatic
        _, csr2 = make_csr(h.dir, "auto1", "agent2")
        expect(h.register(tok["token"], "auto1", csr2), 201, "Pending")
    with_hub(body, serve_args=["--auto-accept"])


def set_token_expiration(h, tid, when):
    db = sqlite3.connect(h.path("store.db"))
    n = db.execute("UPDATE objects SET data = json_set(data, '$.spec.expiration', ?) "
                   "WHERE rkey = 'nave.dev/bootstraptokens' AND name = ?", (when, tid)).rowcount
    db.commit()
    db.close()
    check(n == 1, "token %s not found in store.db" % tid)


def t_token_errors():
    def body(h):
        _, csr = make_csr(h.dir, "c1")
        expect(h.register(None, "c1", csr), 401, "needs a bootstrap token")
        expect(h.register("abc", "c1", csr), 401, "bootstrap token is malformed")
        expect(h.register("ABCDEF.0123456789abcdef", "c1", csr), 401, "malformed")
        expect(h.register(h.token, "c1", csr), 401, "malformed")
        expect(h.register("zzzzzz.0123456789abcdef", "c1", csr), 401, 'bootstrap token \\"zzzzzz\\" not found')
        tok = h.create_token()
        wrong = tok["id"] + "." + ("a" * 16 if not tok["token"].endswith("a" * 16) else "b" * 16)
        expect(h.register(wrong, "c1", csr), 401, "wrong secret")
        # used up
        one = h.create_token(usageLimit=1)
        expect(h.register(one["token"], "c1", csr), 201)
        _, csr2 = make_csr(h.dir, "c2")
        expect(h.register(one["token"], "c2", csr2), 401, "usage limit (1)")
        # revoked
        rv = h.create_token()
        b = expect(h.request("DELETE", "/nave/v1/tokens/" + rv["id"]), 200)
        check(b["spec"]["revoked"] is True, b)
        expect(h.register(rv["token"], "c2", csr2), 401, "has been revoked")
        expect(h.request("DELETE", "/nave/v1/tokens/nosuch"), 404, "not found")
        # expired: the expiry is moved into the past in the store, as time would
        ex = h.create_token()
        _, csr3 = make_csr(h.dir, "c3")
        reg = expect(h.register(ex["token"], "c3", csr3), 201)
        h.stop()
        set_token_expiration(h, ex["id"], "2020-01-01T00:00:00Z")
        h.start()
        _, csr4 = make_csr(h.dir, "c4")
        expect(h.register(ex["token"], "c4", csr4), 401, "expired at 2020-01-01T00:00:00Z")
        # an expired token still polls the registration it made
        expect(h.request("GET", "/nave/v1/registrations/" + reg["id"], token=ex["token"]), 200, "Pending")
        # bootstrap tokens do nothing else
        expect(h.request("GET", CLUSTERS, token=tok["token"]), 401, "only be used to register")
        expect(h.request("POST", "/nave/v1/tokens", {}, token=tok["token"]), 401, "only be used to register")
        # bad token parameters
        expect(h.request("POST", "/nave/v1/tokens", {"ttlSeconds": 5}), 422, "ttlSeconds")
        expect(h.request("POST", "/nave/v1/tokens", {"usageLimit": -1}), 422, "usageLimit")
        expect(h.request("POST", "/nave/v1/tokens", {}, token=None), 401)
        r = h.kubectl("get", "bootstraptokens")
        check(rv["id"] in r.stdout and "true" in r.stdout, r.stdout)
    with_hub(body)


def t_csr_bad_signature():
    def body(h):
        tok = h.create_token()
        key, csr = make_csr(h.dir, "sig1")
        # flip one byte inside the signature (the last bytes of the DER)
        p = subprocess.run(["openssl", "req", "-outform", "DER"], input=csr.encode(), capture_output=True)
        der = bytearray(p.stdout)
        der[-5] ^= 0x01
        import base64
        b64 = base64.encodebytes(bytes(der)).decode()
        bad = "-----BEGIN CERTIFICATE REQUEST-----\n" + b64 + "-----END CERTIFICATE REQUEST-----\n"
        r = subprocess.run(["openssl", "req", "-noout"], input=bad.encode(), capture_output=True)
        check(r.returncode == 0, "openssl cannot parse the tampered CSR (the test must tamper the signature only)")
        expect(h.register(tok["token"], "sig1", bad), 400, "signature does not verify")
        expect(h.request("GET", CLUSTERS + "/sig1"), 404)
        expect(h.register(tok["token"], "sig1", csr), 201)
    with_hub(body)


def t_foreign_ca():
    def body(h):
        cert, key, _ = h.join("good1")
        expect(h.request("GET", CLUSTERS + "/good1", token=None, cert=cert, key=key), 200)
        okey = os.path.join(h.dir, "other.key")
        ocrt = os.path.join(h.dir, "other.crt")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                okey, "-out", ocrt, "-days", "1", "-subj", "/O=system:open-cluster-management:good1/CN=system:open-cluster-management:good1:agent1")
        import ssl
        try:
            h.request("GET", CLUSTERS + "/good1", token=None, cert=ocrt, key=okey)
            raise HubError("a certificate from another CA was accepted")
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            pass  # TLS 1.3 reports the server's "unknown ca" alert as an alert or an EOF
        r = subprocess.run(["curl", "-sS", "--cacert", h.path("ca.crt"), "--cert", ocrt, "--key", okey,
                            "https://127.0.0.1:%d/healthz" % h.port], capture_output=True, text=True, timeout=30)
        check(r.returncode != 0 and "HTTP/" not in r.stdout, "curl: %d %s" % (r.returncode, r.stderr))
        check("refusing client certificate" in h.log_tail(), "the hub did not log the refusal")
        # still fine without a certificate
        expect(h.request("GET", "/healthz", token=None), 200)
    with_hub(body)


def t_lease_unknown():
    def body(h):
        cert, key, _ = h.join("lz1")
        expect(h.request("PUT", "/nave/v1/clusters/lz1/lease", {"leaseDurationSeconds": 1}, token=None,
                         cert=cert, key=key), 200)

        def unknown():
            mc = h.request("GET", CLUSTERS + "/lz1")[1]
            c = condition(mc, "ManagedClusterConditionAvailable")
            return c and c["status"] == "Unknown" and c
        t0 = time.monotonic()
        c = wait_for(unknown, timeout=15, what="Available=Unknown")
        check(c["reason"] == "ManagedClusterLeaseUpdateStopped", c)
        check(time.monotonic() - t0 >= 1.0, "went Unknown too early")
        expect(h.request("PUT", "/nave/v1/clusters/lz1/lease",
                         {"leaseDurationSeconds": 1, "clusterClaims": [{"name": "platform.open-cluster-management.io",
                                                                       "value": "kubesim"}]},
                         token=None, cert=cert, key=key), 200)
        mc = h.request("GET", CLUSTERS + "/lz1")[1]
        check(condition(mc, "ManagedClusterConditionAvailable")["status"] == "True", mc)
        check(mc["status"]["clusterClaims"][0]["value"] == "kubesim", mc)
        expect(h.request("PUT", "/nave/v1/clusters/lz1/lease", {"leaseDurationSeconds": 0}, token=None, cert=cert,
                         key=key), 422, "leaseDurationSeconds")
    with_hub(body, serve_args=["--lease-timeout", "2s"])


# --- kubectl ---------------------------------------------------------------------------

def t_kubectl():
    def body(h):
        wdir = os.path.join(DATA, "hub")
        r = h.kubectl("apply", "-f", os.path.join(wdir, "ocm-multiple-manifests-sa-deployment.yaml"))
        check("created" in r.stdout, r.stdout)
        r = h.kubectl("apply", "-f", os.path.join(wdir, "ocm-multiple-manifests-sa-deployment.yaml"))
        check("unchanged" in r.stdout, r.stdout)
        for f in ("ocm-delete-orphan.yaml", "ocm-rbac-clusterrole-binding.yaml", "ocm-executor-serviceaccount.yaml",
                  "ocm-ssa-job-immutable-fields.yaml", "ocm-condition-rules-job.yaml"):
            h.kubectl("apply", "-n", "cluster1", "-f", os.path.join(wdir, f))
        r = h.kubectl("apply", "-f", os.path.join(wdir, "ocm-hello-deployment.yaml"), check=False)
        check(r.returncode != 0 and "metadata.namespace" in r.stderr, r.stderr)
        r = h.kubectl("apply", "-f", os.path.join(wdir, "ocm-ttl-job-incomplete-manifest.yaml"), check=False)
        check(r.returncode != 0 and "spec.workload.manifests[0].metadata.name: Required value" in r.stderr, r.stderr)
        r = h.kubectl("get", "manifestworks", "-n", "cluster1")
        check("my-first-work" in r.stdout and "permission-set" in r.stdout, r.stdout)
        r = h.kubectl("get", "mw", "-A", "-o", "json")
        check(len(json.loads(r.stdout)["items"]) >= 5, r.stdout[:300])
        y = h.kubectl("get", "manifestwork", "my-first-work", "-n", "cluster1", "-o", "yaml").stdout
        check("nginx-deployment" in y and "generation: 1" in y, y)
        # watch sees ADDED, MODIFIED, DELETED
        w = h.kubectl_popen("get", "manifestworks", "-n", "cluster1", "-w", "--output-watch-events")
        try:
            time.sleep(0.5)  # kubectl's initial list; events below are awaited, not slept on
            h.kubectl("apply", "-f", "-", input=json.dumps(work("cluster1", "watched")))
            h.kubectl("label", "manifestwork", "watched", "-n", "cluster1", "x=y")
            h.kubectl("delete", "manifestwork", "watched", "-n", "cluster1")
            seen = []
            buf = b""
            deadline = time.monotonic() + 20
            import select
            fd = w.stdout.fileno()
            while time.monotonic() < deadline and "DELETED watched" not in seen:
                r_, _, _ = select.select([fd], [], [], 0.5)
                if r_:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        break
                    buf += chunk
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        seen.append(" ".join(line.decode().split()[:2]))
            for ev in ("ADDED", "MODIFIED", "DELETED"):
                check("%s watched" % ev in seen, "watch saw %s" % seen)
        finally:
            w.kill()
            w.wait()
            w.stdout.close()
            w.stderr.close()
        h.kubectl("delete", "-f", os.path.join(wdir, "ocm-multiple-manifests-sa-deployment.yaml"))
        r = h.kubectl("get", "manifestwork", "my-first-work", "-n", "cluster1", check=False)
        check(r.returncode != 0 and "NotFound" in r.stderr, r.stderr)
        # admin creates and patches a ManagedCluster; accept through kubectl patch
        h.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "cluster.open-cluster-management.io/v1",
                                                         "kind": "ManagedCluster", "metadata": {"name": "pre1"},
                                                         "spec": {}}))
        mc = json.loads(h.kubectl("get", "managedcluster", "pre1", "-o", "json").stdout)
        check(mc["spec"]["hubAcceptsClient"] is False and mc["spec"]["leaseDurationSeconds"] == 10, mc)
        h.kubectl("patch", "managedcluster", "pre1", "--type", "merge", "-p", '{"spec":{"hubAcceptsClient":true}}')
        mc = json.loads(h.kubectl("get", "managedcluster", "pre1", "-o", "json").stdout)
        check(condition(mc, "HubAcceptedManagedCluster")["status"] == "True", mc)
        h.kubectl("delete", "managedcluster", "pre1")
    with_hub(body)


# --- durability ----------------------------------------------------------------------------

def t_kill9():
    h = Hub()
    try:
        h.start()
        acked = []
        lock = threading.Lock()
        stop = threading.Event()
        errors = []

        def writer(t):
            i = 0
            try:
                c = h.conn(timeout=10)
                while not stop.is_set():
                    name = "w-%d-%d" % (t, i)
                    st, body = h.request("POST", WORKS + "/namespaces/cluster%d/manifestworks" % (t % 3),
                                         work("cluster%d" % (t % 3), name), conn=c)
                    if st != 201:
                        errors.append((st, body))
                        return
                    with lock:
                        acked.append(("cluster%d" % (t % 3), name, int(body["metadata"]["resourceVersion"])))
                    i += 1
            except Exception:  # the hub died under us: expected
                return
        threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        wait_for(lambda: len(acked) >= 300, timeout=60, what="300 acknowledged writes")
        h.kill9()
        stop.set()
        for t in threads:
            t.join(30)
        check(not errors, "writes failed before the kill: %s" % errors[:3])
        n = len(acked)
        h.start()
        items = h.request("GET", WORKS + "/manifestworks")[1]["items"]
        have = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in items}
        lost = [a for a in acked if (a[0], a[1]) not in have]
        check(not lost, "%d of %d acknowledged writes lost after kill -9, e.g. %s" % (len(lost), n, lost[:5]))
        top = max(a[2] for a in acked)
        st, body = h.request("POST", WORKS + "/namespaces/cluster0/manifestworks", work("cluster0", "after-restart"))
        check(st == 201 and int(body["metadata"]["resourceVersion"]) > top,
              "resourceVersion went back after restart: %s <= %d" % (body["metadata"]["resourceVersion"], top))
        print("acknowledged %d writes before kill -9; all present after restart" % n)
        check(h.stop() == 0, "stop")
    except Exception:
        sys.stderr.write("--- serve.log ---\n%s\n" % h.log_tail())
        raise
    finally:
        h.cleanup()


def t_watch_history():
    """--watch-history N: a watch can resume from the last N changes; older resourceVersions get 410
    Expired (relist), newer ones stream; a bad value is refused naming the flag."""
    mcs = "/apis/cluster.open-cluster-management.io/v1/managedclusters"

    def mc(name):
        return {"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
                "metadata": {"name": name}, "spec": {"hubAcceptsClient": True}}

    def body(h):
        st, first = h.request("POST", mcs, mc("wh-0"))
        check(st == 201, "create: %d %s" % (st, first))
        old_rv = first["metadata"]["resourceVersion"]
        for i in range(1, 40):
            st, b = h.request("POST", mcs, mc("wh-%d" % i))
            check(st == 201, "create %d: %d" % (i, st))
        new_rv = b["metadata"]["resourceVersion"]
        def flat(t):
            return (json.dumps(t) if isinstance(t, (dict, list)) else str(t)).replace(" ", "")

        st, text = h.request("GET", mcs + "?watch=true&timeoutSeconds=1&resourceVersion=" + old_rv)
        expired = st == 410 or (st == 200 and '"code":410' in flat(text))
        check(expired, "a watch from a resourceVersion 40 changes back with --watch-history 16: %d %s"
              % (st, str(text)[:300]))
        st, text = h.request("GET", mcs + "?watch=true&timeoutSeconds=1&resourceVersion=" + new_rv)
        check(st == 200 and '"code":410' not in flat(text),
              "a watch from the last change: %d %s" % (st, str(text)[:300]))
    with_hub(body, serve_args=["--watch-history", "16"])
    for bad in ("8", "abc", "2000000"):
        h = Hub()
        try:
            r = subprocess.run([HUB, "serve", "--data-dir", h.data, "--watch-history", bad],
                               capture_output=True, text=True, timeout=30)
            check(r.returncode != 0 and "--watch-history" in r.stderr,
                  "--watch-history %s: exit %d, %s" % (bad, r.returncode, r.stderr))
        finally:
            h.cleanup()


# --- bad inputs -------------------------------------------------------------------------------

def t_bad_inputs():
    def body(h):
        tok = h.create_token()["token"]
        big = "x" * 600000
        _, good_csr = make_csr(h.dir, "bad1")
        _, csr_wrong_o = make_csr(h.dir, "bad1", org="system:open-cluster-management:other")
        _, csr_no_o = make_csr(h.dir, "bad1", org="")
        _, csr_wrong_cn = make_csr(h.dir, "bad1", cn="admin")
        _, csr_rsa = make_csr(h.dir, "bad1", rsa=True)
        _, csr_curve = make_csr(h.dir, "bad1", curve="secp256k1")
        wpath = WORKS + "/namespaces/c1/manifestworks"
        reg = "/nave/v1/registrations"
        cases = [
            # (what, method, path, body, content type, token, code, needle)
            ("invalid JSON", "POST", wpath, '{"apiVersion": ', "application/json", "admin", 400, ""),
            ("invalid YAML", "POST", wpath, "apiVersion: [\n  : -", "application/yaml", "admin", 400, ""),
            ("body is not an object", "POST", wpath, "[1,2]", "application/json", "admin", 400, ""),
            ("wrong kind for the URL", "POST", wpath, json.dumps(dict(work("c1", "k"), kind="Deployment")),
             "application/json", "admin", 400, "Deployment"),
            ("wrong apiVersion for the URL", "POST", wpath,
             json.dumps(dict(work("c1", "k"), apiVersion="apps/v1")), "application/json", "admin", 400, "apps/v1"),
            ("uppercase name", "POST", wpath, json.dumps(work("c1", "Bad_Name")), "application/json", "admin", 422,
             "metadata.name"),
            ("namespace in the body differs from the URL", "POST", wpath, json.dumps(work("c2", "x")),
             "application/json", "admin", 400, "namespace"),
            ("manifest without metadata.name", "POST", wpath,
             json.dumps(work("c1", "m1", [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}])),
             "application/json", "admin", 422, "spec.workload.manifests[0].metadata.name: Required value"),
            ("manifest without kind", "POST", wpath,
             json.dumps(work("c1", "m2", [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
                                          {"apiVersion": "v1", "metadata": {"name": "b"}}])),
             "application/json", "admin", 422, "spec.workload.manifests[1].kind: Required value"),
            ("manifest without apiVersion", "POST", wpath,
             json.dumps(work("c1", "m3", [{"kind": "ConfigMap", "metadata": {"name": "a"}}])),
             "application/json", "admin", 422, "spec.workload.manifests[0].apiVersion: Required value"),
            ("manifests not a list", "POST", wpath,
             json.dumps({"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
                         "metadata": {"name": "m4"}, "spec": {"workload": {"manifests": {"a": 1}}}}),
             "application/json", "admin", 422, "spec.workload.manifests"),
            ("oversized work", "POST", wpath,
             json.dumps(work("c1", "big", [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"},
                                            "data": {"k": big}}])),
             "application/json", "admin", 413, "spec.workload.manifests: Too long"),
            ("unknown propagation policy", "POST", wpath,
             json.dumps(dict(work("c1", "p1"), spec=dict(work("c1", "p1")["spec"],
                                                         deleteOption={"propagationPolicy": "Sometimes"}))),
             "application/json", "admin", 422, "spec.deleteOption.propagationPolicy: Unsupported value"),
            ("unknown update strategy", "POST", wpath,
             json.dumps(dict(work("c1", "p2"), spec=dict(work("c1", "p2")["spec"], manifestConfigs=[
                 {"resourceIdentifier": {"resource": "configmaps", "name": "a", "namespace": "default"},
                  "updateStrategy": {"type": "Replace"}}]))),
             "application/json", "admin", 422, "spec.manifestConfigs[0].updateStrategy.type"),
            ("namespace that is not a cluster name", "POST", WORKS + "/namespaces/Not_A_Cluster/manifestworks",
             json.dumps(work("Not_A_Cluster", "n1")), "application/json", "admin", 422, "namespace"),
            ("ManagedCluster hubAcceptsClient not a boolean", "POST", CLUSTERS,
             json.dumps({"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
                         "metadata": {"name": "mc1"}, "spec": {"hubAcceptsClient": "yes"}}),
             "application/json", "admin", 422, "spec.hubAcceptsClient"),
            ("ManagedCluster name not a DNS label", "POST", CLUSTERS,
             json.dumps({"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
                         "metadata": {"name": "a.b"}, "spec": {}}), "application/json", "admin", 422, "name"),
            ("unsupported patch type", "PATCH", CLUSTERS + "/x", "{}", "text/plain", "admin", 415, ""),
            ("create of a read-only resource", "POST", "/apis/nave.dev/v1alpha1/bootstraptokens",
             json.dumps({"apiVersion": "nave.dev/v1alpha1", "kind": "BootstrapToken", "metadata": {"name": "abcdef"}}),
             "application/json", "admin", 405, ""),
            ("registration: invalid JSON", "POST", reg, "{", "application/json", tok, 400, "body: invalid JSON"),
            ("registration: no clusterName", "POST", reg, json.dumps({"csr": good_csr}), "application/json", tok, 422,
             "clusterName: Required value"),
            ("registration: bad clusterName", "POST", reg, json.dumps({"clusterName": "Bad.Name", "csr": good_csr}),
             "application/json", tok, 422, "clusterName: Invalid value"),
            ("registration: no csr", "POST", reg, json.dumps({"clusterName": "bad1"}), "application/json", tok, 422,
             "csr: Required value"),
            ("registration: csr not PEM", "POST", reg, json.dumps({"clusterName": "bad1", "csr": "hello"}),
             "application/json", tok, 422, "csr"),
            ("registration: csr of another cluster (O)", "POST", reg,
             json.dumps({"clusterName": "bad1", "csr": csr_wrong_o}), "application/json", tok, 422, "subject O"),
            ("registration: csr without O", "POST", reg, json.dumps({"clusterName": "bad1", "csr": csr_no_o}),
             "application/json", tok, 422, "subject O"),
            ("registration: csr CN not the cluster's", "POST", reg,
             json.dumps({"clusterName": "bad1", "csr": csr_wrong_cn}), "application/json", tok, 422, "subject CN"),
            ("registration: RSA key", "POST", reg, json.dumps({"clusterName": "bad1", "csr": csr_rsa}),
             "application/json", tok, 422, "P-256"),
            ("registration: secp256k1 key", "POST", reg, json.dumps({"clusterName": "bad1", "csr": csr_curve}),
             "application/json", tok, 422, "P-256"),
            ("registration: bad label", "POST", reg,
             json.dumps({"clusterName": "bad1", "csr": good_csr, "labels": {"bad key!": "v"}}),
             "application/json", tok, 422, "labels"),
            ("registration: too many claims", "POST", reg,
             json.dumps({"clusterName": "bad1", "csr": good_csr,
                         "claims": [{"name": "c%d.x" % i, "value": "v"} for i in range(21)]}),
             "application/json", tok, 422, "claims"),
            ("token: ttl too short", "POST", "/nave/v1/tokens", json.dumps({"ttlSeconds": 1}), "application/json",
             "admin", 422, "ttlSeconds"),
            ("lease: not JSON", "PUT", "/nave/v1/clusters/x/lease", "nope", "application/json", "admin", 400, "body"),
            ("accept of an unknown cluster", "POST", "/nave/v1/clusters/nosuch/accept", "", None, "admin", 404,
             "nosuch"),
            ("unknown /nave path", "GET", "/nave/v1/nothing", None, None, "admin", 404, ""),
        ]
        check(len(cases) >= 15, "the table needs at least 15 cases")
        failures = []
        for what, method, path, b, ctype, token, code, needle in cases:
            st, ans = h.request(method, path, b, token=token, ctype=ctype)
            text = ans if isinstance(ans, str) else json.dumps(ans)
            if st != code or needle not in text or (isinstance(ans, dict) and ans.get("kind") != "Status"):
                failures.append("%s: want %d with %r, got %d %s" % (what, code, needle, st, text[:300]))
        check(not failures, "%d of %d bad inputs answered wrongly:\n  %s" % (len(failures), len(cases),
                                                                                "\n  ".join(failures)))
        # nothing half-made
        expect(h.request("GET", CLUSTERS + "/bad1"), 404)
        print("%d bad inputs refused with 4xx naming the problem" % len(cases))
    with_hub(body)


TESTS = {
    "init_serve": t_init_serve,
    "init_refuses": t_init_refuses,
    "registration": t_registration,
    "auto_accept": t_auto_accept,
    "token_errors": t_token_errors,
    "csr_bad_signature": t_csr_bad_signature,
    "foreign_ca": t_foreign_ca,
    "lease_unknown": t_lease_unknown,
    "kubectl": t_kubectl,
    "kill9": t_kill9,
    "bad_inputs": t_bad_inputs,
    "watch_history": t_watch_history,
}

if __name__ == "__main__":
    sys.exit(run_tests(TESTS, sys.argv))
