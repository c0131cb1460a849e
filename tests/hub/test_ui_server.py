#!/usr/bin/python3
"""test_ui_server.py - the web view's server side on a real nave-hub over TLS
(hub/ui.h: ui_static.c, ui_session.c, ui_events.c).

Static files and their headers, login and its failures, the session cookie
reaching kapi and the /nave/v1 endpoints, the cross-site request rule,
logout, and the live events (Server-Sent Events) with their coalescing and
their end at logout. Every test also checks that no token or session id
reaches the hub's log.

Run one test: test_ui_server.py NAME (meson runs each as its own test).
Environment: NAVE_HUB, NAVE_TEST_DATA; NAVE_KEEP_TEST_DIRS=1 keeps the hub's dir.
"""
import datetime
import json
import os
import socket
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "apps"))

from apptest import AppHub, CLUSTERS, MERGE, app_obj, webservice  # noqa: E402
import hubtest  # noqa: E402
from hubtest import HubError, check, run_tests, wait_for  # noqa: E402

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
COOKIE = "nave_session"
UI = "/nave/v1/ui"
SECRETS = []  # values that must never appear in the hub's log


class UIHub(AppHub):
    """A hub at log level debug, so that the secrets check covers every log line."""

    def __init__(self, serve_args=("--lease-timeout", "1h", "--log-level", "debug"), **kw):
        super().__init__(serve_args=serve_args, **kw)

    def raw(self, method, path, body=None, headers=None):
        """(status, headers dict with lowercase names, body bytes), no Authorization."""
        c = self.conn()
        try:
            data = body.encode() if isinstance(body, str) else body
            if data is None and method in ("POST", "PUT", "PATCH"):
                data = b""
            c.request(method, path, body=data, headers=dict(headers or {}))
            r = c.getresponse()
            b = r.read()
            hs = {}
            for k, v in r.getheaders():
                hs.setdefault(k.lower(), v)
            return r.status, hs, b
        finally:
            c.close()

    def login(self, token=None):
        """Log in; returns the cookie pair "nave_session=<hex>"."""
        st, hs, b = self.raw("POST", UI + "/login", json.dumps({"token": token or self.token}),
                             {"Content-Type": "application/json"})
        check(st == 200, "login: %d %s" % (st, b))
        sc = hs.get("set-cookie", "")
        pair = sc.split(";")[0]
        check(pair.startswith(COOKIE + "="), "login: Set-Cookie %r" % sc)
        SECRETS.append(pair.split("=", 1)[1])
        return pair

    def creq(self, method, path, cookie, body=None, ui_header=True, ctype=None, extra=None):
        """A request authenticated by the session cookie alone (JSON parsed)."""
        h = {"Cookie": cookie}
        if ui_header:
            h["X-Nave-UI"] = "1"
        h.update(extra or {})
        return self.request(method, path, body, token=None, headers=h, ctype=ctype)


def with_hub(fn, serve_args=None):
    def factory():
        return UIHub(serve_args=serve_args) if serve_args else UIHub()

    def body(h):
        SECRETS[:] = [h.token]
        fn(h)
        # no token, no cookie value in the log
        with open(h.logpath, errors="replace") as f:
            log = f.read()
        for s in SECRETS:
            check(s and s not in log, "a secret (%s...) reached the hub's log" % s[:6])
    body.__name__ = fn.__name__
    return hubtest.with_hub(body, factory)


def expect(got, code, word=None):
    st, b = got
    check(st == code, "expected %d, got %d %s" % (code, st, b))
    if word:
        msg = b.get("message", "") if isinstance(b, dict) else str(b)
        check(word in msg, "expected %r in %r" % (word, msg))
    return b


# --- static files -------------------------------------------------------------------

def t_static():
    def body(h):
        def sec_headers(hs, what):
            check(hs.get("content-security-policy") == CSP, "%s: CSP %r" % (what, hs.get("content-security-policy")))
            check(hs.get("x-content-type-options") == "nosniff", "%s: nosniff" % what)
            check(hs.get("referrer-policy") == "no-referrer", "%s: Referrer-Policy" % what)
            check(hs.get("x-frame-options") == "DENY", "%s: X-Frame-Options" % what)
            check(hs.get("cache-control") == "no-cache", "%s: Cache-Control %r" % (what, hs.get("cache-control")))

        for p in ("/", "/ui"):
            st, hs, _ = h.raw("GET", p)
            check(st == 302 and hs.get("location") == "/ui/", "%s: %d %s" % (p, st, hs))
            sec_headers(hs, p)
        with open(os.path.join(HERE, "..", "..", "hub", "ui", "index.html"), "rb") as f:
            index = f.read()
        st, hs, b = h.raw("GET", "/ui/")
        check(st == 200 and b == index, "/ui/: %d, %d bytes" % (st, len(b)))
        check(hs.get("content-type", "").startswith("text/html"), "/ui/: %s" % hs.get("content-type"))
        sec_headers(hs, "/ui/")
        types = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css",
                 "favicon.svg": "image/svg+xml"}
        for name, t in types.items():
            st, hs, b = h.raw("GET", "/ui/" + name)
            check(st == 200 and len(b) > 0, "/ui/%s: %d" % (name, st))
            check(hs.get("content-type", "").startswith(t), "/ui/%s: %s" % (name, hs.get("content-type")))
            sec_headers(hs, name)
            etag = hs.get("etag")
            check(etag and etag.startswith('"'), "/ui/%s: ETag %r" % (name, etag))
            st, hs2, b2 = h.raw("GET", "/ui/" + name, headers={"If-None-Match": etag})
            check(st == 304 and b2 == b"", "/ui/%s If-None-Match: %d" % (name, st))
            check(hs2.get("etag") == etag, "304 keeps the ETag")
            sec_headers(hs2, name + " 304")
            st, _, _ = h.raw("GET", "/ui/" + name, headers={"If-None-Match": '"other", W/' + etag})
            check(st == 304, "a list with a weak match: %d" % st)
            st, _, _ = h.raw("GET", "/ui/" + name, headers={"If-None-Match": '"0000"'})
            check(st == 200, "another ETag: %d" % st)
        st, hs, b = h.raw("HEAD", "/ui/app.js")
        check(st == 200 and b == b"", "HEAD: %d %d bytes" % (st, len(b)))
        with open(os.path.join(HERE, "..", "..", "hub", "ui", "app.js"), "rb") as f:
            check(hs.get("content-length") == str(len(f.read())), "HEAD: Content-Length %s" % hs.get("content-length"))
        for p in ("/ui/nope.js", "/ui/../hub.json", "/ui/%2e%2e/hub.json", "/ui/..%2fhub.json", "/ui/.hidden",
                  "/ui/a/b", "/ui/index.html/", "/ui/" + "a" * 300, "/ui/..",
                  "/ui/%2e%2e%2f%2e%2e%2fetc%2fpasswd"):
            st, hs, b = h.raw("GET", p)
            # ".." may be resolved by the server before routing: then it is no /ui/ path at all
            check(st == 404 or (st == 302 and hs.get("location") == "/ui/") or st == 400 or
                  (st == 401 and (".." in p or "%2e" in p)), "%s: %d %s" % (p, st, b[:80]))
            check(b"BEGIN" not in b and b"hub_url" not in b and b"root:" not in b, "%s leaked a file" % p)
            if st == 404 and p.startswith("/ui/"):
                sec_headers(hs, p)
        st, hs, _ = h.raw("POST", "/ui/", b"x")
        check(st == 405 and "GET" in hs.get("allow", ""), "POST /ui/: %d" % st)
        # no credential needed, and a bad cookie does not matter to the static files
        st, _, _ = h.raw("GET", "/ui/", headers={"Cookie": COOKIE + "=zz"})
        check(st == 200, "a bad cookie on /ui/: %d" % st)
    with_hub(body)()


# --- login ------------------------------------------------------------------------------

def t_login():
    def body(h):
        st, hs, b = h.raw("POST", UI + "/login", json.dumps({"token": h.token}), {"Content-Type": "application/json"})
        check(st == 200, "login: %d %s" % (st, b))
        j = json.loads(b)
        check(j.get("user") == "nave:admin" and j.get("expires", "").endswith("Z"), "login answer %s" % j)
        sc = hs.get("set-cookie", "")
        parts = [p.strip() for p in sc.split(";")]
        name, value = parts[0].split("=", 1)
        SECRETS.append(value)
        check(name == COOKIE and len(value) == 64 and all(c in "0123456789abcdef" for c in value),
              "cookie value %r" % parts[0][:20])
        attrs = {p.split("=")[0].lower(): p for p in parts[1:]}
        for a in ("httponly", "secure"):
            check(a in attrs, "cookie flag %s missing: %s" % (a, parts[1:]))
        check(attrs.get("samesite", "").lower() == "samesite=strict", "SameSite: %s" % parts[1:])
        check(attrs.get("path") == "Path=/", "Path: %s" % parts[1:])
        check(attrs.get("max-age") == "Max-Age=43200", "Max-Age: %s" % parts[1:])
        cookie = parts[0]
        # the cookie among others, with blanks and quotes
        for hdr in (cookie, "a=1; " + cookie + "; b=2", "a=1;%s=\"%s\"" % (COOKIE, value), "  " + cookie + " ;"):
            s = expect(h.request("GET", UI + "/session", token=None, headers={"Cookie": hdr}), 200)
            check(s.get("user") == "nave:admin" and s.get("expires") == j["expires"], "session %s" % s)
        # two logins are two sessions
        other = h.login()
        check(other != cookie, "a second login got the same session id")
        # failures
        expect(h.request("POST", UI + "/login", {"token": "wrong-token"}, token=None), 401, "token")
        expect(h.request("POST", UI + "/login", {"token": "abcdef.0123456789abcdef"}, token=None), 401, "token")
        for bad, word in (("nope", "body"), ("[]", "body"), ("{}", "token"), ('{"token": 5}', "token"),
                          ('{"token": ""}', "token"), ('{"token": "a", "token": "b"}', "body"), ("", "body"),
                          (json.dumps({"token": "x" * 600}), "token"), ('{"token": "a\\u0000b"}', "body")):
            expect(h.request("POST", UI + "/login", bad, token=None, ctype="application/json"), 400, word)
        expect(h.request("POST", UI + "/login", "x" * 5000, token=None, ctype="application/json"), 413)
        expect(h.request("GET", UI + "/login", token=None), 405)
        # still fine after those (2 failures are far from the limit)
        h.login()
    with_hub(body)()


def t_login_rate_limit():
    def body(h):
        for i in range(10):
            expect(h.request("POST", UI + "/login", {"token": "wrong%d" % i}, token=None), 401, "token")
        st, hs, b = h.raw("POST", UI + "/login", json.dumps({"token": h.token}), {"Content-Type": "application/json"})
        check(st == 429, "the 11th attempt: %d %s" % (st, b))
        ra = int(hs.get("retry-after", "0"))
        check(1 <= ra <= 60, "Retry-After %r" % hs.get("retry-after"))
        check("set-cookie" not in hs, "a refused login set a cookie")
        st, _, _ = h.raw("POST", UI + "/login", json.dumps({"token": "wrong"}), {"Content-Type": "application/json"})
        check(st == 429, "still limited: %d" % st)
        # the bearer token is not limited
        expect(h.request("GET", CLUSTERS), 200)
    with_hub(body)()


# --- sessions: kapi, /nave/v1, CSRF, logout ------------------------------------------------

def t_session_cookie():
    def body(h):
        cookie = h.login()
        expect(h.creq("GET", UI + "/session", cookie), 200)
        # kapi
        lst = expect(h.creq("GET", CLUSTERS, cookie, ui_header=False), 200)
        check(lst.get("kind") == "ManagedClusterList", lst)
        mc = {"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
              "metadata": {"name": "ui1"}, "spec": {"hubAcceptsClient": False}}
        expect(h.creq("POST", CLUSTERS, cookie, mc, ui_header=False), 403, "X-Nave-UI")
        expect(h.creq("POST", CLUSTERS, cookie, mc), 201)
        expect(h.creq("PATCH", CLUSTERS + "/ui1", cookie, {"metadata": {"labels": {"a": "b"}}}, ui_header=False,
                      ctype=MERGE), 403, "X-Nave-UI")
        expect(h.creq("PATCH", CLUSTERS + "/ui1", cookie, {"metadata": {"labels": {"a": "b"}}}, ctype=MERGE), 200)
        expect(h.creq("DELETE", CLUSTERS + "/ui1", cookie, ui_header=False), 403, "X-Nave-UI")
        expect(h.creq("GET", CLUSTERS + "/ui1", cookie, ui_header=False, extra={"X-Nave-UI": "0"}), 200)
        expect(h.creq("POST", CLUSTERS, cookie, dict(mc, metadata={"name": "ui2"}), ui_header=False,
                      extra={"X-Nave-UI": "yes"}), 403, "X-Nave-UI")
        # /nave/v1: a registration waiting for accept, accepted from the page
        tok = h.create_token(ttlSeconds=600)["token"]
        SECRETS.append(tok.split(".")[1])
        key, csr = hubtest.make_csr(h.dir, "uic")
        st, reg = h.register(tok, "uic", csr)
        check(st == 201, "register: %d %s" % (st, reg))
        expect(h.creq("POST", "/nave/v1/clusters/uic/accept", cookie, ui_header=False), 403, "X-Nave-UI")
        expect(h.creq("POST", "/nave/v1/clusters/uic/accept", cookie), 200)
        st, reg = h.request("GET", "/nave/v1/registrations/" + reg["id"], token=tok)
        check(st == 200 and reg.get("phase") == "Approved", "after accept from a session: %s" % reg)
        # the bearer token needs no X-Nave-UI
        expect(h.request("DELETE", CLUSTERS + "/ui1"), 200)
        # logout: needs the header too, then the session is gone everywhere
        expect(h.creq("POST", UI + "/logout", cookie, ui_header=False), 403, "X-Nave-UI")
        st, hs, b = h.raw("POST", UI + "/logout", b"", {"Cookie": cookie, "X-Nave-UI": "1"})
        check(st == 200, "logout: %d %s" % (st, b))
        sc = hs.get("set-cookie", "")
        check(sc.startswith(COOKIE + "=;") and "Max-Age=0" in sc, "logout clears the cookie: %r" % sc)
        expect(h.creq("GET", UI + "/session", cookie), 401, "log in again")
        expect(h.creq("GET", CLUSTERS, cookie), 401, "log in again")
        expect(h.creq("POST", "/nave/v1/clusters/uic/deny", cookie), 401)
        # logging out twice is fine
        expect(h.creq("POST", UI + "/logout", cookie), 200)
    with_hub(body)()


def t_bad_cookies():
    def body(h):
        cookie = h.login()
        value = cookie.split("=", 1)[1]
        unknown = COOKIE + "=" + "0" * 64
        expect(h.request("GET", UI + "/session", token=None, headers={"Cookie": unknown}), 401, "unknown")
        expect(h.request("GET", CLUSTERS, token=None, headers={"Cookie": unknown}), 401)
        for bad in (COOKIE + "=zz", COOKIE + "=" + value.upper(), COOKIE + "=" + value[:-1],
                    COOKIE + "=" + value + "0", "%s; %s" % (cookie, cookie), "%s; %s" % (cookie, unknown),
                    cookie + "; x=" + "y" * 9000):
            expect(h.request("GET", UI + "/session", token=None, headers={"Cookie": bad}), 401)
        # the 401 says why, once ("Unauthorized: Cookie: ...; log in again")
        for bad, why in (("%s; %s" % (cookie, cookie), "Cookie: %s is sent twice" % COOKIE),
                         (COOKIE + "=zz", "Cookie: %s is not a session id of this hub" % COOKIE),
                         (cookie + "; x=" + "y" * 9000, "Cookie: ")):
            b = expect(h.request("GET", UI + "/session", token=None, headers={"Cookie": bad}), 401)
            msg = b.get("message", "")
            check(msg.startswith("Unauthorized: " + why) and msg.count("Unauthorized") == 1 and
                  msg.endswith("log in again (POST /nave/v1/ui/login)"), "401 message %r" % msg)
        # no cookie at all: not logged in
        expect(h.request("GET", UI + "/session", token=None), 401, "log in")
        expect(h.request("GET", UI + "/overview", token=None), 401, "log in")
        expect(h.request("GET", UI + "/events", token=None), 401, "log in")
        # other cookies only: as no cookie
        expect(h.request("GET", UI + "/session", token=None, headers={"Cookie": "a=b; c=d"}), 401, "log in")
        # a cookie that is a prefix or suffix of ours does not count
        expect(h.request("GET", UI + "/session", token=None, headers={"Cookie": "x" + cookie}), 401, "log in")
        # the bearer token works without a session (no expiry)
        s = expect(h.request("GET", UI + "/session"), 200)
        check(s.get("user") == "nave:admin" and s.get("expires") is None, s)
        # the good one still works
        expect(h.creq("GET", UI + "/session", cookie), 200)
        # unknown /nave/v1/ui paths go to the views (404 there), methods
        expect(h.creq("GET", UI + "/session", cookie, extra={}), 200)
        expect(h.creq("POST", UI + "/session", cookie), 405)
        expect(h.creq("POST", UI + "/events", cookie), 405)
        expect(h.creq("GET", "/nave/v1/ui", cookie), 404)
    with_hub(body)()


def t_session_cap():
    """At most 256 sessions: a new login drops the oldest, and ends its event streams."""
    def body(h):
        first = h.login()
        ev = SSE(h, cookie=first)
        check(ev.next(2)[0] == "hello", "hello")
        cookies = [h.login() for _ in range(255)]
        expect(h.creq("GET", UI + "/session", first), 200)
        cookies.append(h.login())  # the 257th login: the first session goes
        expect(h.creq("GET", UI + "/session", first), 401)
        wait_eof(ev, 3, "the evicted session")
        ev.close()
        for c in (cookies[0], cookies[-1]):
            expect(h.creq("GET", UI + "/session", c), 200)
    with_hub(body)()


def login_full(h):
    """Log in; returns (cookie pair, Max-Age of the cookie, seconds from now to "expires")."""
    st, hs, b = h.raw("POST", UI + "/login", json.dumps({"token": h.token}), {"Content-Type": "application/json"})
    check(st == 200, "login: %d %s" % (st, b))
    parts = [p.strip() for p in hs.get("set-cookie", "").split(";")]
    SECRETS.append(parts[0].split("=", 1)[1])
    ages = [int(p.split("=", 1)[1]) for p in parts if p.lower().startswith("max-age=")]
    check(len(ages) == 1, "Max-Age: %s" % parts[1:])
    exp = datetime.datetime.strptime(json.loads(b)["expires"], "%Y-%m-%dT%H:%M:%SZ")
    left = (exp.replace(tzinfo=datetime.timezone.utc) - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    return parts[0], ages[0], left


def wait_eof(ev, seconds, what):
    """ev (an SSE) ends within seconds; returns when it did."""
    deadline = time.monotonic() + seconds
    while True:
        e = ev.next(max(0.0, deadline - time.monotonic()))
        if e == "EOF":
            return time.monotonic()
        check(e is not None, "%s: the event stream did not end within %.0f s" % (what, seconds))


def t_session_idle_flag():
    """--ui-session-idle 2s: a session unused for ~3 s is 401 and its event
    stream ends; one used every 0.5 s lives on; the TTL stays the default."""
    def body(h):
        idle, ttl_max_age, left = login_full(h)
        check(ttl_max_age == 43200 and 43190 < left <= 43200, "default TTL: Max-Age %d, expires in %.0f s" %
              (ttl_max_age, left))
        busy = h.login()
        ev = SSE(h, cookie=idle)
        check(ev.status == 200 and ev.next(2)[0] == "hello", "idle session's stream")
        t0 = time.monotonic()
        # the busy session is used every 0.5 s for 3.5 s: it never idles out
        while time.monotonic() - t0 < 3.5:
            expect(h.creq("GET", UI + "/session", busy), 200)
            time.sleep(0.5)
        t_end = wait_eof(ev, 2.0, "idle session")
        check(t_end - t0 >= 1.9, "the idle session ended after %.2f s, before its idle time" % (t_end - t0))
        ev.close()
        expect(h.creq("GET", UI + "/session", idle), 401, "log in again")
        expect(h.creq("GET", CLUSTERS, idle), 401)
        expect(h.creq("GET", UI + "/session", busy), 200)
    with_hub(body, serve_args=("--ui-session-idle", "2s", "--log-level", "debug"))()


def t_session_ttl_flag():
    """--ui-session-ttl 3s: Max-Age and expires say 3 s; a session used every
    0.5 s still ends after ~3 s, with its event stream."""
    def body(h):
        cookie, max_age, left = login_full(h)
        t0 = time.monotonic()
        check(max_age == 3 and 1 < left <= 3, "Max-Age %d, expires in %.1f s" % (max_age, left))
        ev = SSE(h, cookie=cookie)
        check(ev.status == 200 and ev.next(2)[0] == "hello", "stream")
        last_ok = None
        while time.monotonic() - t0 < 6:
            st, b = h.creq("GET", UI + "/session", cookie)
            if st != 200:
                check(st == 401 and "log in again" in b.get("message", ""), "after the TTL: %d %s" % (st, b))
                break
            last_ok = time.monotonic() - t0
            time.sleep(0.5)
        else:
            check(False, "the session outlived its 3 s TTL")
        check(last_ok is not None and last_ok >= 1.5, "the session ended early (last 200 at %s s)" % last_ok)
        wait_eof(ev, 2.5, "TTL")
        ev.close()
        # a new login works and gets the same lifetime
        _, max_age, _ = login_full(h)
        check(max_age == 3, "second login Max-Age %d" % max_age)
    with_hub(body, serve_args=("--ui-session-ttl", "3s", "--log-level", "debug"))()


def t_session_flags_refused():
    """Bad --ui-session-ttl/--ui-session-idle values stop serve at start with a message naming the flag."""
    h = UIHub()
    try:
        cases = [(["--ui-session-ttl", "0s"], "--ui-session-ttl"), (["--ui-session-ttl", "31d"], "--ui-session-ttl"),
                 (["--ui-session-ttl", "12x"], "--ui-session-ttl"), (["--ui-session-ttl", ""], "--ui-session-ttl"),
                 (["--ui-session-idle", "-5"], "--ui-session-idle"), (["--ui-session-idle", "0"], "--ui-session-idle"),
                 (["--ui-session-idle", "99999999999999999999"], "--ui-session-idle"),
                 (["--ui-session-idle", "13h"], "--ui-session-idle"),  # over the default TTL
                 (["--ui-session-ttl", "1h", "--ui-session-idle", "2h"], "--ui-session-idle")]
        for args, flag in cases:
            r = subprocess.run([hubtest.HUB, "serve", "--data-dir", h.data] + args, capture_output=True, text=True,
                               timeout=30)
            check(r.returncode != 0, "serve %s started" % args)
            check(flag in r.stderr, "serve %s: the message does not name %s: %r" % (args, flag, r.stderr))
        r = subprocess.run([hubtest.HUB, "serve", "--help"], capture_output=True, text=True, timeout=30)
        check("--ui-session-ttl" in r.stdout and "--ui-session-idle" in r.stdout, "serve --help: %s" % r.stdout)
        # good values start (idle defaults to the TTL when the TTL is shorter than 2h)
        h.serve_args = ["--ui-session-ttl", "1h", "--ui-session-idle", "1h"]
        h.start()
        check(h.stop() == 0, "serve with good values")
    finally:
        h.cleanup()


# --- live events ---------------------------------------------------------------------------

class SSE:
    """An EventSource-like reader over a raw TLS socket (no buffering surprises)."""

    def __init__(self, h, cookie=None, token=None, path=UI + "/events"):
        ctx = ssl.create_default_context(cafile=h.path("ca.crt"))
        raw = socket.create_connection(("127.0.0.1", h.port), timeout=10)
        self.s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        hdr = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n" % path
        if cookie:
            hdr += "Cookie: %s\r\n" % cookie
        if token:
            hdr += "Authorization: Bearer %s\r\n" % token
        self.s.sendall((hdr + "\r\n").encode())
        self.buf = b""
        self.body = b""
        self.closed = False
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise HubError("events: connection closed before the headers")
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {ln.split(":", 1)[0].lower(): ln.split(":", 1)[1].strip() for ln in lines[1:] if ":" in ln}
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"

    def _decode(self):
        """Move complete chunks from buf to body."""
        if not self.chunked:
            self.body += self.buf
            self.buf = b""
            return
        while b"\r\n" in self.buf:
            size_line, rest = self.buf.split(b"\r\n", 1)
            n = int(size_line.split(b";")[0], 16)
            if n == 0:
                self.closed = True
                self.buf = b""
                return
            if len(rest) < n + 2:
                return
            self.body += rest[:n]
            self.buf = rest[n + 2:]

    def next(self, timeout):
        """The next event as (name, data dict or text) or comment ("", text); None on timeout; "EOF" at the end."""
        deadline = time.monotonic() + timeout
        while True:
            self._decode()
            if b"\n\n" in self.body:
                block, self.body = self.body.split(b"\n\n", 1)
                name, data = "", []
                for ln in block.decode().split("\n"):
                    if ln.startswith("event: "):
                        name = ln[7:]
                    elif ln.startswith("data: "):
                        data.append(ln[6:])
                    elif ln.startswith(":"):
                        return ("", ln)
                d = "\n".join(data)
                try:
                    return (name, json.loads(d))
                except ValueError:
                    return (name, d)
            if self.closed:
                return "EOF"
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except (socket.timeout, TimeoutError):
                return None
            except (ssl.SSLError, ConnectionError):
                d = b""
            if not d:
                self.closed = True
                self._decode()
                if b"\n\n" not in self.body:
                    return "EOF"
            self.buf += d

    def next_change(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            ev = self.next(max(0.0, deadline - time.monotonic()))
            if ev is None or ev == "EOF" or ev[0] == "change":
                return ev

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def t_events():
    def body(h):
        cookie = h.login()
        ev = SSE(h, cookie=cookie)
        check(ev.status == 200, "events: %d" % ev.status)
        check(ev.headers.get("content-type", "").startswith("text/event-stream"), ev.headers)
        hello = ev.next(2)
        check(hello and hello[0] == "hello" and isinstance(hello[1].get("generation"), int), "hello: %r" % (hello,))
        gen = hello[1]["generation"]
        # a ManagedCluster: "clusters" within a second
        t0 = time.monotonic()
        h.add_cluster("ev1", {"env": "prod"})
        ch = ev.next_change(1.5)
        dt = time.monotonic() - t0
        check(ch and ch != "EOF", "no change event within 1.5 s of creating a cluster")
        check(dt < 1.0, "the change event took %.2f s" % dt)
        check("clusters" in ch[1]["topics"] and ch[1]["generation"] > gen, "change: %s" % ch[1])
        check(ch[1].get("apps") == [], "apps of a cluster change: %s" % ch[1])
        gen = ch[1]["generation"]
        # a burst is coalesced: 20 label changes give at most a few events
        t0 = time.monotonic()
        for i in range(20):
            h.set_labels("ev1", {"n": str(i)})
        n = 0
        while True:
            ch = ev.next_change(0.8)
            if ch is None:
                break
            check(ch != "EOF", "stream ended")
            check(ch[1]["generation"] > gen, "generation did not grow: %s" % ch[1])
            gen = ch[1]["generation"]
            n += 1
        elapsed = time.monotonic() - t0
        check(1 <= n <= max(2, int(elapsed / 0.25) + 1), "20 writes in %.2f s gave %d events" % (elapsed, n))
        # a write that changes nothing meaningful is not an event
        h.set_labels("ev1", {"n": "19"})
        check(ev.next_change(0.7) is None, "a no-op label write made an event")
        # an Application: "applications" with its name
        h.add_cluster("ev2")
        h.set_available("ev2")
        ev.next_change(1.0)
        t0 = time.monotonic()
        h.create(app_obj("web", [webservice("web")]))
        seen_app = False
        while time.monotonic() - t0 < 3 and not seen_app:
            ch = ev.next_change(1.5)
            check(ch and ch != "EOF", "no event after creating an Application")
            if "applications" in ch[1]["topics"]:
                check("default/web" in ch[1].get("apps", []), "apps: %s" % ch[1])
                check(time.monotonic() - t0 < 1.0, "the Application's event took %.2f s" % (time.monotonic() - t0))
                seen_app = True
        check(seen_app, "no applications event")
        # a second stream of the same session, and one of the bearer token
        ev2 = SSE(h, cookie=cookie)
        check(ev2.next(2)[0] == "hello", "second stream hello")
        evb = SSE(h, token=h.token)
        check(evb.next(2)[0] == "hello", "bearer stream hello")
        # logout ends the session's streams, not the bearer one
        expect(h.creq("POST", UI + "/logout", cookie), 200)
        for s in (ev, ev2):
            wait_eof(s, 3, "logout")
        h.add_cluster("ev3")
        ch = evb.next_change(1.5)
        check(ch and ch != "EOF" and "clusters" in ch[1]["topics"], "bearer stream after logout: %r" % (ch,))
        for s in (ev, ev2, evb):
            s.close()
        # a logged-out cookie cannot open a stream
        ev4 = SSE(h, cookie=cookie)
        check(ev4.status == 401, "events after logout: %d" % ev4.status)
        ev4.close()
    with_hub(body)()


def t_events_lease():
    """Lease renewals that change nothing are not events; one that changes
    something (a claim) is."""
    def body(h):
        cert, key, _ = h.join("lz1")
        lease = {"leaseDurationSeconds": 10}
        expect(h.request("PUT", "/nave/v1/clusters/lz1/lease", lease, token=None, cert=cert, key=key), 200)
        cookie = h.login()
        ev = SSE(h, cookie=cookie)
        check(ev.next(2)[0] == "hello", "hello")
        while ev.next_change(0.5) is not None:
            pass
        for _ in range(5):
            expect(h.request("PUT", "/nave/v1/clusters/lz1/lease", lease, token=None, cert=cert, key=key), 200)
        check(ev.next_change(0.8) is None, "an unchanged lease renewal made an event")
        claims = dict(lease, clusterClaims=[{"name": "kubeversion.open-cluster-management.io", "value": "v1.30.0"}])
        expect(h.request("PUT", "/nave/v1/clusters/lz1/lease", claims, token=None, cert=cert, key=key), 200)
        ch = ev.next_change(1.5)
        check(ch and ch != "EOF" and "clusters" in ch[1]["topics"], "a lease with a new claim: %r" % (ch,))
        ev.close()
    with_hub(body)()


def t_events_pings_and_cap():
    """Pings keep an idle stream alive; streams beyond the cap are refused."""
    def body(h):
        cookie = h.login()
        streams = []
        try:
            for i in range(256):
                s = SSE(h, cookie=cookie)
                check(s.status == 200, "stream %d: %d" % (i, s.status))
                streams.append(s)
            s = SSE(h, cookie=cookie)
            check(s.status == 503, "stream 257: %d" % s.status)
            s.close()
            streams.pop().close()
            # once one closes, another may open
            s = wait_for(lambda: (lambda x: x if x.status == 200 else x.close())(SSE(h, cookie=cookie)), 5, 0.1,
                         "a free stream slot")
            streams.append(s)
            check(streams[0].next(2)[0] == "hello", "hello")
            e = streams[0].next(17)
            check(e and e != "EOF" and e[0] == "" and e[1].startswith(": ping"), "no ping within 17 s: %r" % (e,))
        finally:
            for s in streams:
                s.close()
    with_hub(body)()


def t_watch_ends_at_logout():
    """A kapi watch opened with the session cookie delivers nothing once the session has ended."""
    def body(h):
        cookie = h.login()
        w = SSE(h, cookie=cookie, path=CLUSTERS + "?watch=true")
        try:
            check(w.status == 200, "watch: %d" % w.status)
            h.add_cluster("seen-before")
            deadline = time.monotonic() + 10
            while b"seen-before" not in w.body and time.monotonic() < deadline:
                w.next(0.5)
                w._decode()
            check(b"seen-before" in w.body, "the watch did not deliver a cluster created while logged in")
            expect(h.creq("POST", UI + "/logout", cookie), 200)
            h.add_cluster("after-logout")
            deadline = time.monotonic() + 10
            while not w.closed and time.monotonic() < deadline:
                w.next(0.5)
            check(w.closed, "the watch stayed open after logout")
            check(b"after-logout" not in w.body, "the watch delivered an event after logout")
        finally:
            w.close()
    with_hub(body)()


TESTS = {n[2:]: f for n, f in list(globals().items()) if n.startswith("t_") and callable(f)}

if __name__ == "__main__":
    sys.exit(run_tests(TESTS, sys.argv))
