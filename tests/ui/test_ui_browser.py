#!/usr/bin/python3
"""test_ui_browser.py - nave-hub's web view (issue #10) driven in headless Chromium.

Each test builds a real world (tests/e2e/test_e2e.py's World, extended by
tests/apps/test_apps_e2e.py's AppWorld for labelled clusters and late joins: nave-hub,
nave-kubesim, one nave-klusterlet per cluster, all on free loopback ports), logs in
through the page's form with the admin token of the hub's admin.kubeconfig, and drives
the page through its data-testid hooks (hub/ui.h) with tests/ui/browser.py (Debian's
/usr/bin/chromium under playwright-core). Every wait polls with a deadline.

  test_login_fleet_accept   a wrong token shows login-error; the right one logs in; three
                            clusters Available in the fleet table; a fourth agent registers
                            (auto-accept is off) and shows Pending (live-status "live", no
                            reload); the state and name filters narrow the table server-side;
                            accepted from the page, it becomes Available
  test_app_matrix           an Application on three clusters: its row is healthy; its page
                            shows the component-by-cluster matrix (revision, ready/desired,
                            health in every cell), the resource tree, the revisions (with a
                            diff) and the workflow steps
  test_rollout_live_pause_resume  a new image applied with navectl rolls out (rollout trait:
                            batches inside each cluster; nave-rollout policy: one cluster per
                            group): the rollout panel changes by itself (no navigation: a
                            marker in window survives), shows the batches; Pause on the page
                            -> rollout-phase says paused and `navectl rollout status` agrees;
                            Resume -> the wave goes on to Succeeded
  test_rollout_failed       an image matching kubesim's --fail-pattern: the cluster's local
                            rollout fails, the wave halts; the page marks it (phase, failed
                            badge, the cluster's state) and explains it (the message); Roll
                            back on the page (its dialog: Cancel, then OK) starts a wave of the
                            last good revision
  test_page_hygiene         no Content-Security-Policy violation nor uncaught error on any
                            view; Tab reaches the navigation and '/' focuses the filter; a
                            420 px window still shows the content; Log out ends the session

Screenshots of each state go to $NAVE_UI_ARTIFACTS (meson: <build>/artifacts/ui/), named
<test>-<state>.png; each path is printed. On a failure the page is saved too (-FAILED.png)
with its console errors.

Run: test_ui_browser.py UI.test_NAME (meson: `meson test -C <build> --suite ui`).
Environment as test_e2e.py (NAVE_HUB, NAVECTL, NAVE_KLUSTERLET, NAVE_KUBESIM), plus
NAVE_UI_ARTIFACTS and browser.py's NAVE_UI_*. The tests fail (never skip) when chromium,
node or playwright-core is missing, saying what to install.
"""
import json
import os
import re
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
sys.path.insert(0, os.path.join(HERE, "..", "apps"))
import browser  # noqa: E402
import test_apps_e2e as apps  # noqa: E402
import test_e2e as e2e  # noqa: E402
from browser import Browser, tid  # noqa: E402

ARTIFACTS = os.environ.get("NAVE_UI_ARTIFACTS") or os.path.join(
    os.environ.get("MESON_BUILD_ROOT") or os.environ.get("NAVE_BUILD_DIR") or "/tmp", "artifacts", "ui")
FLEET = {"fleet": "web"}
# The page re-renders within a second or two of a change (issue #10); generous for slow CI.
LIVE_S = 15


def admin_token(world):
    with open(os.path.join(world.data, "admin.kubeconfig")) as f:
        for line in f:
            if line.strip().startswith("token:"):
                return line.split(":", 1)[1].strip().strip('"')
    raise AssertionError("no token in %s/admin.kubeconfig" % world.data)


def rollout_app(image, fail_deadline=None, minsucc="1s", per_group=1, pause_between="1s"):
    """web (3 replicas in 3 batches, rollout trait) on every fleet=web cluster, released one
    group of per_group clusters at a time (nave-rollout policy)."""
    plan = {"targetSize": 3, "rolloutBatches": [{"replicas": 1}, {"replicas": 1}, {"replicas": 1}],
            "pauseBetweenBatches": pause_between}
    if fail_deadline:
        plan["progressDeadlineSeconds"] = fail_deadline
    comp = apps.webservice("web", image)
    comp["traits"] = [{"type": "rollout", "properties": plan}]
    return apps.app_obj("web", {
        "components": [comp],
        "policies": [
            {"name": "everywhere", "type": "topology", "properties": {"clusterLabelSelector": FLEET}},
            {"name": "waves", "type": "nave-rollout",
             "properties": {"type": "ProgressivePerGroup",
                            "progressivePerGroup": {"minSuccessTime": minsucc, "progressDeadline": "90s",
                                                    "maxFailures": 0},
                            "clustersPerDecisionGroup": per_group}}],
        "workflow": {"steps": [{"name": "rollout", "type": "deploy",
                                "properties": {"policies": ["everywhere", "waves"]}}]}})


class UI(e2e.WorldCase):
    tmp_prefix = "nave-ui-"
    # AppsE2E's helpers (not its tests: no subclassing)
    wait_app = apps.AppsE2E.wait_app
    wait_running = apps.AppsE2E.wait_running

    def setUp(self):
        # Fail at once (not skip) without a browser, before building a world.
        browser.check_prerequisites()
        super().setUp()
        self.b = None
        self.shots = []

    def tearDown(self):
        try:
            if self.b is not None:
                if self._failed():
                    try:
                        self.shot("FAILED", full_page=True)
                        sys.stderr.write("console: %s\n" % json.dumps(self.b.console_errors(), indent=1)[:6000])
                    except Exception as e:  # noqa: BLE001 - best effort on a failure path
                        sys.stderr.write("(no failure screenshot: %s)\n" % e)
                self.b.close()
        finally:
            super().tearDown()

    # --- the world and the browser ----------------------------------------------------
    def make(self, clusters, late=(), ready_delay="300ms", **kw):
        self.world = apps.AppWorld(self.tmp, clusters, late=late, ready_delay=ready_delay, **kw)
        self.world.start()
        self.world.join_all()
        return self.world

    def open_browser(self, **kw):
        self.b = Browser(log_dir=os.path.join(self.tmp, "logs"), **kw)
        return self.b

    def base(self):
        return self.world.hub_url + "/ui/"

    def shot(self, state, full_page=False):
        name = "%s-%s.png" % (self._testMethodName.replace("test_", ""), state)
        path = self.b.screenshot(os.path.join(ARTIFACTS, name), full_page=full_page)
        self.shots.append(path)
        print("screenshot: %s" % path, flush=True)
        return path

    def login(self, token=None):
        b = self.b
        b.goto(self.base(), wait={"selector": tid("login-form")}, timeout=20000)
        b.fill(tid("login-token"), token or admin_token(self.world))
        b.click(tid("login-submit"))
        b.wait_for(tid("nav-fleet"), timeout=10000)
        self.assertEqual(b.count(tid("login-error") + ":visible"), 0, "login-error shown after a good login")

    def go(self, nav, ready):
        """Click a navigation hook and wait for the view's hook."""
        self.b.click(tid(nav))
        return self.b.wait_for(ready, timeout=10000)

    def cell_sel(self, component, cluster):
        return tid("matrix-cell", component=component, cluster=cluster)

    def wait_state(self, cluster, state, timeout=LIVE_S * 1000):
        row = tid("cluster-row", name=cluster)
        return self.b.wait_for(row + " " + tid("cluster-state"), regex="^\\s*%s\\s*$" % state, timeout=timeout)

    def set_mark(self):
        """A marker in window (and the count of page loads so far): gone after a reload."""
        self.b.mark("mark-%d" % time.monotonic_ns())
        return self.b.mark_get()

    def assert_not_reloaded(self, mark):
        m = self.b.mark_get()
        self.assertEqual(m["value"], mark["value"], "the page was reloaded (the marker set in window is gone)")
        self.assertEqual(m["loads"], mark["loads"], "the page loaded again")

    def navectl_status(self):
        return self.world.navectl("rollout", "status", "web").stdout

    # --- the tests ----------------------------------------------------------------------------
    def test_login_fleet_accept(self):
        w = self.make([(c, FLEET) for c in ("c1", "c2", "c3", "c4")], late=["c4"])
        b = self.open_browser()
        b.goto(self.base(), wait={"selector": tid("login-form")}, timeout=20000)
        self.assertEqual(b.count(tid("cluster-table")), 0, "the fleet is shown before a login")
        b.fill(tid("login-token"), "not-the-token")
        b.click(tid("login-submit"))
        err = b.wait_for(tid("login-error"), regex=r"\S")
        self.assertIn("token", err.lower(), "login-error does not say what was wrong: %r" % err)
        self.shot("login-error")
        self.assertEqual(b.count(tid("nav-fleet") + ":visible"), 0, "navigation shown after a wrong token")

        b.fill(tid("login-token"), admin_token(w))
        b.click(tid("login-submit"))
        b.wait_for(tid("nav-fleet"), timeout=10000)
        mark = self.set_mark()
        self.go("nav-fleet", tid("cluster-table"))
        b.wait_for(tid("live-status"), regex=r"^\s*live\s*$", timeout=LIVE_S * 1000)
        for c in ("c1", "c2", "c3"):
            self.wait_state(c, "Available")
        # what the hub knows of c1 is on its row: its label and its Kubernetes version claim
        mc = w.hub_get("managedcluster", "c1")
        kv = apps.dig(mc, "status", "version", "kubernetes") or next(
            (c["value"] for c in apps.dig(mc, "status", "clusterClaims") or [] if c["name"].startswith("kubeversion")),
            None)
        row1 = b.text(tid("cluster-row", name="c1"))
        self.assertIn("fleet=web", row1)
        if kv:
            self.assertIn(kv, row1, "c1's Kubernetes version is not on its row")
        self.assertEqual(b.count(tid("cluster-row")), 3, "rows: %s" % b.texts(tid("cluster-row")))
        self.shot("fleet-three")

        # A fourth agent registers; auto-accept is off: the hub holds it Pending.
        w.start_agent("c4")
        e2e.wait_for(lambda: w._agent_alive("c4") and w.hub_get("managedcluster", "c4"), 60, "c4 registered")
        self.assertFalse((w.hub_get("managedcluster", "c4").get("spec") or {}).get("hubAcceptsClient"),
                         "c4 accepted without an admin")
        self.wait_state("c4", "Pending")
        row4 = tid("cluster-row", name="c4")
        b.wait_for(row4 + " " + tid("cluster-accept"))
        self.shot("fleet-pending")
        # server-side filters: the state filter keeps c4 alone, the name filter c2 alone
        b.select(tid("cluster-state-filter"), "pending")
        b.wait_for(tid("cluster-count"), regex=r"\bof 1\b")
        self.assertEqual(b.attrs(tid("cluster-row"), "data-name"), ["c4"])
        b.select(tid("cluster-state-filter"), "all")
        b.wait_for(tid("cluster-count"), regex=r"\bof 4\b")
        b.fill(tid("cluster-filter"), "c2")
        b.wait_for(tid("cluster-count"), regex=r"\bof 1\b")
        self.assertEqual(b.attrs(tid("cluster-row"), "data-name"), ["c2"])
        b.fill(tid("cluster-filter"), "")
        b.wait_for(tid("cluster-count"), regex=r"\bof 4\b")
        b.click(row4 + " " + tid("cluster-accept"))
        self.wait_state("c4", "Available", timeout=60000)
        self.assertTrue(w.hub_get("managedcluster", "c4")["spec"].get("hubAcceptsClient"),
                        "the hub does not have c4 accepted")
        self.assertTrue(w.cluster_available("c4"), "the hub does not have c4 Available")
        self.assertEqual(b.count(row4 + " " + tid("cluster-accept") + ":visible"), 0,
                         "the accept button is still shown for an accepted cluster")
        self.shot("fleet-accepted")
        self.assert_not_reloaded(mark)

    def test_app_matrix(self):
        w = self.make([(c, FLEET) for c in ("c1", "c2", "c3")])
        w.apply(apps.app_obj("web", {
            "components": [dict(apps.webservice("web", "nginx:1.27"),
                                traits=[{"type": "scaler", "properties": {"replicas": 2}}]),
                           apps.webservice("api", "nginx:1.27")],
            "policies": [apps.topology("everywhere", selector=FLEET)],
            "workflow": {"steps": [apps.deploy("deploy", "everywhere")]}}))
        self.wait_running(w, "web")
        b = self.open_browser()
        self.login()
        self.go("nav-apps", tid("app-table"))
        row = tid("app-row", name="default/web")
        b.wait_for(row + " " + tid("app-health"), regex=r"healthy", timeout=LIVE_S * 1000)
        self.assertEqual(b.count(row + " .badge.badge-healthy"), 1, "the app's health badge class")
        self.shot("apps")
        b.click(row)
        b.wait_for(tid("app-detail", name="default/web"))
        b.click(tid("tab-matrix"))
        b.wait_for(tid("matrix"))
        want = {"web": "2/2", "api": "1/1"}
        for comp, rd in want.items():
            for c in ("c1", "c2", "c3"):
                text = b.wait_for(self.cell_sel(comp, c), regex=r"web-v1\s+%s\s+healthy" % rd,
                                  timeout=LIVE_S * 1000)
                self.assertRegex(text, r"web-v1")
                self.assertEqual(b.count(self.cell_sel(comp, c) + " .badge.badge-healthy"), 1,
                                 "cell %s/%s has no badge-healthy: %r" % (comp, c, text))
        self.assertEqual(b.count(tid("matrix-cell")), 6, "matrix cells: 2 components x 3 clusters")
        self.shot("matrix")

        # The resource tree: every cluster, with the Deployments.
        b.click(tid("tab-tree"))
        tree = b.wait_for(tid("tree"), regex=r"c3")
        for s in ("c1", "c2", "Deployment", "web", "api"):
            self.assertIn(s, tree, "the tree lacks %s" % s)
        self.shot("tree")

        # A second revision, then the revisions tab with a diff.
        w.apply(apps.app_obj("web", {
            "components": [dict(apps.webservice("web", "nginx:1.28"),
                                traits=[{"type": "scaler", "properties": {"replicas": 2}}]),
                           apps.webservice("api", "nginx:1.27")],
            "policies": [apps.topology("everywhere", selector=FLEET)],
            "workflow": {"steps": [apps.deploy("deploy", "everywhere")]}}))
        b.click(tid("tab-matrix"))
        b.wait_for(self.cell_sel("web", "c1"), regex=r"web-v2", timeout=LIVE_S * 1000)
        b.click(tid("tab-revisions"))
        b.wait_for(tid("revision-row", name="web-v2"), timeout=LIVE_S * 1000)
        b.wait_for(tid("revision-row", name="web-v1"))
        b.click(tid("revision-row", name="web-v1"))
        diff = b.wait_for(tid("diff-view"), regex=r"nginx:1\.28")
        self.assertIn("nginx:1.27", diff)
        self.shot("revisions-diff")
        b.click(tid("tab-workflow"))
        b.wait_for(tid("workflow-step", name="deploy"), regex=r"\S")
        self.shot("workflow")

    def rollout_page(self, ready_delay, app):
        """Three clusters, app rolled out (v1) everywhere, the browser on its Rollout tab; (world,
        browser, the reload marker)."""
        w = self.make([(c, FLEET) for c in ("c1", "c2", "c3")], ready_delay=ready_delay)
        w.apply(app)
        self.wait_app(w, "web", lambda a: apps.dig(a, "status", "rollout", "phase") == "Succeeded" and
                      apps.dig(a, "status", "status") == "running", "v1 rolled out", timeout=120)
        b = self.open_browser()
        self.login()
        b.goto(self.base() + "#/apps/default/web", wait={"selector": tid("app-detail", name="default/web")})
        b.click(tid("tab-rollout"))
        b.wait_for(tid("rollout-phase"), regex="Succeeded")
        return w, b, self.set_mark()

    def test_rollout_live_pause_resume(self):
        w, b, mark = self.rollout_page("1s", rollout_app("nginx:1.27"))
        before = b.text(tid("rollout-panel"))
        self.shot("rollout-v1")

        w.apply(rollout_app("nginx:1.28"))
        b.wait_for(tid("rollout-panel"), changed_from=before, timeout=LIVE_S * 1000)
        b.wait_for(tid("rollout-phase"), regex="Progressing", timeout=LIVE_S * 1000)
        c1 = tid("rollout-cluster", cluster="c1")
        seen = [b.wait_for(c1 + " " + tid("rollout-batch"), regex=r"batch [123] of 3", timeout=LIVE_S * 1000)]
        self.shot("rollout-batches")
        # The batches move on the page by themselves: a later batch than the first seen.
        first = int(re.search(r"batch (\d)", seen[0]).group(1))
        if first < 3:
            seen.append(b.wait_for(c1 + " " + tid("rollout-batch"), regex=r"batch [%d-3] of 3" % (first + 1),
                                   timeout=LIVE_S * 1000))
        print("batches seen on c1: %s" % seen)
        self.assert_not_reloaded(mark)

        # Pause from the page, while the wave is still progressing (c3 not reached yet).
        self.assertIn("Pending", b.text(tid("rollout-cluster", cluster="c3") + " " + tid("rollout-state")),
                      "c3 already released: the wave is too fast to pause")
        b.click(tid("rollout-pause"))
        b.wait_for(tid("rollout-phase"), regex="paused", flags="i", timeout=LIVE_S * 1000)
        e2e.wait_for(lambda: re.search(r"Phase:.*[Pp]aused", self.navectl_status()), 15,
                     "navectl rollout status saying paused")
        self.shot("rollout-paused")
        ro = apps.dig(w.app("web"), "status", "rollout")
        self.assertTrue(ro.get("paused"), ro)

        b.click(tid("rollout-resume"))
        b.wait_for(tid("rollout-phase"), regex=r"^(?![\s\S]*[Pp]aused)", timeout=LIVE_S * 1000)
        e2e.wait_for(lambda: not re.search(r"Phase:.*[Pp]aused", self.navectl_status()), 15,
                     "navectl rollout status no longer paused")
        b.wait_for(tid("rollout-phase"), regex="Succeeded", timeout=90000)
        for c in ("c1", "c2", "c3"):
            b.wait_for(tid("rollout-cluster", cluster=c) + " " + tid("rollout-state"), regex="Succeeded",
                       timeout=LIVE_S * 1000)
        out = self.navectl_status()
        self.assertIn("Succeeded", out)
        self.shot("rollout-succeeded")
        self.assert_not_reloaded(mark)
        self.assertEqual(b.console_errors()["page_errors"], [], "uncaught errors in the page")

    def test_rollout_failed(self):
        w, b, mark = self.rollout_page("500ms", rollout_app("nginx:1.27", fail_deadline=5, minsucc="0",
                                                            pause_between="0s"))

        # kubesim's default --fail-pattern is "fail": this tag never becomes ready.
        w.apply(rollout_app("nginx:fail-1", fail_deadline=5, minsucc="0", pause_between="0s"))
        b.wait_for(tid("rollout-phase"), regex="Halted", timeout=90000)
        c1 = tid("rollout-cluster", cluster="c1")
        b.wait_for(c1 + " " + tid("rollout-state"), regex="Failed", timeout=LIVE_S * 1000)
        msg = b.wait_for(tid("rollout-message"), regex=r"\S", timeout=LIVE_S * 1000)
        ro = apps.dig(w.app("web"), "status", "rollout")
        self.assertEqual(ro.get("phase"), "Halted", ro)
        self.assertIn(ro.get("message"), msg, "the page's rollout-message is not the hub's message")
        self.assertIn("c1", msg, "the message does not name the failed cluster: %r" % msg)
        reason = {c["name"]: c for c in ro["clusters"]}["c1"].get("reason")
        self.assertTrue(reason, ro)
        cluster_text = b.wait_for(c1, regex=re.escape(reason), timeout=LIVE_S * 1000)
        print("the page explains c1: %r; the message: %r" % (cluster_text, msg))
        for c in ("c2", "c3"):
            b.wait_for(tid("rollout-cluster", cluster=c) + " " + tid("rollout-state"), regex="Pending")
        b.wait_for(tid("app-phase"), regex="failed", flags="i", timeout=LIVE_S * 1000)
        self.assertGreaterEqual(b.count(tid("app-detail") + " .badge.badge-failed"), 1,
                                "no failed badge on the application's page")
        self.shot("rollout-failed", full_page=True)
        self.assert_not_reloaded(mark)

        # Roll back from the page: the dialog first (Cancel does nothing), then OK: the last
        # good revision goes out as a new wave (as `navectl rollout rollback` does), and
        # succeeds on every cluster, c1 included (its failed local rollout was rolled back:
        # the old workload runs again, so it is not the deleted failed one that is drained).
        self.assertEqual(ro.get("revision"), "web-v2", ro)
        v1 = "web-v1"
        b.click(tid("rollout-rollback"))
        b.click(tid("confirm-cancel"))
        b.wait_for(tid("confirm-ok"), state="hidden")
        self.assertEqual(apps.dig(w.app("web"), "status", "rollout", "phase"), "Halted", "Cancel rolled back")
        b.click(tid("rollout-rollback"))
        b.click(tid("confirm-ok"))
        b.wait_for(tid("toast"), regex="rollback", timeout=LIVE_S * 1000)
        self.wait_app(w, "web", lambda a: apps.dig(a, "status", "rollout", "revision") == v1,
                      "a rollback wave for %s" % v1, timeout=30)
        b.wait_for(tid("rollout-panel"), regex=r"%s(?!\d)" % v1, timeout=LIVE_S * 1000)
        self.wait_app(w, "web", lambda a: apps.dig(a, "status", "rollout", "phase") == "Succeeded",
                      "the rollback wave to succeed", timeout=90)
        b.wait_for(tid("rollout-phase"), regex="Succeeded", timeout=LIVE_S * 1000)
        self.shot("rollback")
        self.assert_not_reloaded(mark)

    def test_hub_restart(self):
        """The hub killed under an open page: the page says it is reconnecting, then (sessions live
        in the hub's memory) asks for a login by itself, and after it is live again where it was."""
        w = self.make([(c, FLEET) for c in ("c1", "c2")])
        w.apply(apps.app_obj("web", {"components": [apps.webservice("web", "nginx:1.27")],
                                     "policies": [apps.topology("everywhere", selector=FLEET)],
                                     "workflow": {"steps": [apps.deploy("deploy", "everywhere")]}}))
        self.wait_running(w, "web")
        b = self.open_browser()
        self.login()
        b.goto(self.base() + "#/apps/default/web", wait={"selector": tid("app-detail", name="default/web")})
        b.click(tid("tab-matrix"))
        b.wait_for(self.cell_sel("web", "c1"), regex=r"web-v1", timeout=LIVE_S * 1000)
        b.wait_for(tid("live-status"), regex="^live$", timeout=LIVE_S * 1000)
        mark = self.set_mark()

        w.hub.kill9()
        b.wait_for(tid("live-status"), regex="reconnecting", timeout=LIVE_S * 1000)
        w.start_hub()
        b.wait_for(tid("login-form"), timeout=30000)
        self.shot("login-after-restart")
        self.assert_not_reloaded(mark)
        b.fill(tid("login-token"), admin_token(w))
        b.click(tid("login-submit"))
        b.wait_for(tid("app-detail", name="default/web"), timeout=LIVE_S * 1000)
        b.wait_for(tid("live-status"), regex="^live$", timeout=LIVE_S * 1000)
        # live again: a change made now reaches the matrix without a reload
        w.apply(apps.app_obj("web", {"components": [apps.webservice("web", "nginx:1.28")],
                                     "policies": [apps.topology("everywhere", selector=FLEET)],
                                     "workflow": {"steps": [apps.deploy("deploy", "everywhere")]}}))
        b.click(tid("tab-matrix"))
        b.wait_for(self.cell_sel("web", "c1"), regex=r"web-v2", timeout=60000)
        self.shot("live-after-restart")
        self.assert_not_reloaded(mark)

    def test_page_hygiene(self):
        w = self.make([(c, FLEET) for c in ("c1", "c2", "c3")])
        w.apply(apps.app_obj("web", {"components": [apps.webservice("web", "nginx:1.27")],
                                     "policies": [apps.topology("everywhere", selector=FLEET)],
                                     "workflow": {"steps": [apps.deploy("deploy", "everywhere")]}}))
        b = self.open_browser()
        self.login()
        # Every view once, then the console: no CSP violation, no uncaught error.
        self.go("nav-fleet", tid("cluster-row", name="c1"))
        self.go("nav-apps", tid("app-row", name="default/web"))
        self.go("nav-rollouts", tid("rollout-panel") + ", main")
        b.goto(self.base() + "#/apps/default/web", wait={"selector": tid("app-detail", name="default/web")})
        for tab, hook in (("tab-matrix", "matrix"), ("tab-tree", "tree"), ("tab-revisions", "revision-row"),
                          ("tab-workflow", "workflow-step"), ("tab-rollout", None)):
            b.click(tid(tab))
            if hook:
                b.wait_for(tid(hook), timeout=LIVE_S * 1000)
        con = b.console_errors()
        self.assertEqual(con["csp"], [], "Content-Security-Policy violations in the console")
        self.assertEqual(con["page_errors"], [], "uncaught errors in the page")

        # Keyboard: Tab reaches the navigation; '/' focuses the view's filter.
        b.goto(self.base() + "#/fleet", wait={"selector": tid("cluster-row", name="c1")})
        b.reload()
        b.wait_for(tid("cluster-row", name="c1"))
        reached = []
        for _ in range(30):
            b.press("Tab")
            t = b.attr(":focus", "data-testid")
            reached.append(t)
            if t and t.startswith("nav-"):
                break
        self.assertTrue(any(t and t.startswith("nav-") for t in reached),
                        "Tab never reached the navigation (focus went %s)" % reached)
        b.press("/")
        self.assertEqual(b.attr(":focus", "data-testid"), "cluster-filter", "'/' did not focus the cluster filter")
        b.press("Escape")
        b.click(tid("nav-apps"))
        b.wait_for(tid("app-table"))
        b.press("/")
        self.assertEqual(b.attr(":focus", "data-testid"), "app-filter", "'/' did not focus the app filter")
        self.shot("keyboard-filter")

        # A narrow window (420 px): the content is still there, inside the window.
        b.viewport(420, 800)
        b.goto(self.base() + "#/fleet", wait={"selector": tid("cluster-row", name="c1")})
        for sel in (tid("cluster-row", name="c1"), tid("cluster-row", name="c1") + " " + tid("cluster-state")):
            box = b.box(sel)
            self.assertTrue(box and box["width"] > 0 and box["height"] > 0, "%s not shown: %s" % (sel, box))
            self.assertTrue(-1 <= box["x"] < 420, "%s outside the 420 px window: %s" % (sel, box))
        self.assertTrue(b.visible(tid("cluster-row", name="c1") + " " + tid("cluster-state")))
        for sel in (tid("cluster-filter"), tid("nav-fleet"), tid("nav-apps")):
            box = b.box(sel)
            self.assertTrue(box and box["x"] >= -1 and box["x"] + box["width"] <= 421,
                            "%s does not fit the 420 px window: %s" % (sel, box))
        self.shot("narrow-fleet", full_page=True)
        b.goto(self.base() + "#/apps/default/web", wait={"selector": tid("app-detail", name="default/web")})
        b.click(tid("tab-matrix"))
        b.wait_for(self.cell_sel("web", "c1"), timeout=LIVE_S * 1000)
        box = b.box(tid("app-phase"))
        self.assertTrue(box and -1 <= box["x"] < 420, "app-phase outside the 420 px window: %s" % box)
        self.shot("narrow-app", full_page=True)
        con = b.console_errors()
        self.assertEqual(con["csp"], [], "Content-Security-Policy violations in the console")

        # Log out: the form comes back, and the views need a new login.
        b.viewport(1280, 800)
        b.click(tid("logout"))
        b.wait_for(tid("login-form"))
        b.goto(self.base() + "#/fleet", wait={"selector": tid("login-form")})
        self.assertEqual(b.count(tid("cluster-row")), 0, "clusters shown after logout")


if __name__ == "__main__":
    unittest.main()
