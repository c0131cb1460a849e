/* Leader election (common/leader) against nave-kubesim.
 *
 * In one process, three electors each with their own client, each through
 * its own TCP proxy (so one can be partitioned): exactly one leader at any
 * time; the Lease as client-go writes it (MicroTime, transitions); a
 * partitioned leader steps down BEFORE another takes over; a clean stop
 * releases the Lease so another takes over at once.
 * In three processes (kclient_leader_helper): SIGKILL the leader and a new
 * one leads within the lease duration (+ one retry period of polling), and a
 * SIGTERM'd leader hands over at once. Skips (77) without $NAVE_KUBESIM. */
#include <errno.h>
#include <regex.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kclient_ops.h"
#include "ktest.h"
#include "leader.h"
#include "simproc.h"
#include "tcpproxy.h"

#define LD_MS 3000
#define RD_MS 2000
#define RP_MS 500
#define N 3

struct contender {
	int id;
	char name[16];
	struct tcpproxy *proxy;
	struct kclient *kc;
	struct leader *le;
	int starts, stops;
	int64_t started_us, stopped_us;
	bool stop_done;
};

static uv_loop_t loop;
static struct simproc sim;
static struct kclient *admin;
static struct contender C[N];
static int leaders_now, violations;

static void started(void *ud)
{
	struct contender *c = ud;

	if (leaders_now != 0) {
		violations++;
		fprintf(stderr, "VIOLATION: %s started leading while %d other(s) lead\n", c->name, leaders_now);
	}
	leaders_now++;
	c->starts++;
	c->started_us = time_mono_us();
}

static void stopped(void *ud)
{
	struct contender *c = ud;

	leaders_now--;
	c->stops++;
	c->stopped_us = time_mono_us();
}

static struct kclient *client_via(int port)
{
	struct kubeconfig *cfg = NULL;
	struct kclient *kc = NULL;
	struct errbuf err;

	if (kubeconfig_load_files(sim.kubeconfig, NULL, &err, &cfg) < 0)
		fail_msg("%s", err.msg);
	if (port) {
		free(cfg->server);
		cfg->server = xasprintf("https://127.0.0.1:%d", port);
	}
	if (kclient_new(&loop, cfg, &(struct kclient_options){ .timeout_ms = 5000 }, &err, &kc) < 0)
		fail_msg("%s", err.msg);
	return kc;
}

static int group_setup(void **state)
{
	uv_loop_init(&loop);
	if (simproc_start(&sim, false, NULL) < 0)
		return -1;
	admin = client_via(0);
	return 0;
}

static int group_teardown(void **state)
{
	kclient_free(admin);
	ktest_drain(&loop);
	uv_loop_close(&loop);
	simproc_stop(&sim);
	return 0;
}

static void start_contenders(const char *lease)
{
	struct errbuf err;

	leaders_now = 0;
	violations = 0;
	for (int i = 0; i < N; i++) {
		struct contender *c = &C[i];
		int port;

		memset(c, 0, sizeof(*c));
		c->id = i;
		snprintf(c->name, sizeof(c->name), "c%d", i);
		c->proxy = tcpproxy_new(&loop, sim.port, &port);
		c->kc = client_via(port);
		if (leader_new(c->kc,
			       &(struct leader_options){ .namespace = "default", .name = lease, .identity = c->name,
							 .lease_duration_ms = LD_MS, .renew_deadline_ms = RD_MS,
							 .retry_period_ms = RP_MS },
			       &(struct leader_callbacks){ .started_leading = started, .stopped_leading = stopped },
			       c, &err, &c->le) < 0)
			fail_msg("%s", err.msg);
		leader_start(c->le);
	}
}

static void free_contenders(void)
{
	for (int i = 0; i < N; i++) {
		leader_free(C[i].le);
		kclient_free(C[i].kc);
		tcpproxy_free(C[i].proxy);
	}
	ktest_drain(&loop);
}

static struct contender *current_leader(void)
{
	struct contender *found = NULL;

	for (int i = 0; i < N; i++)
		if (leader_is_leader(C[i].le)) {
			assert_null(found);
			found = &C[i];
		}
	return found;
}

/* Run until someone other than `not` leads; returns it or NULL. */
static struct contender *wait_leader(struct contender *not, int ms)
{
	int64_t deadline = time_mono_us() + (int64_t)ms * 1000;

	while (time_mono_us() < deadline) {
		struct contender *l = current_leader();

		if (l && l != not)
			return l;
		ktest_run_for(&loop, 10);
	}
	return NULL;
}

static json_t *get_lease(const char *name)
{
	struct ktest_res r = { 0 };
	json_t *body;

	assert_int_equal(kclient_get(admin, &(struct kref){ .group = "coordination.k8s.io", .version = "v1",
							    .resource = "leases", .namespace = "default", .name = name },
				     ktest_done, &r, NULL),
			 0);
	assert_true(ktest_run_until(&loop, &r.done, 10000));
	assert_int_equal(r.r, 0);
	body = json_incref(r.body);
	ktest_res_reset(&r);
	return body;
}

static void assert_microtime(const char *s)
{
	regex_t re;

	assert_non_null(s);
	assert_int_equal(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$",
				 REG_EXTENDED | REG_NOSUB), 0);
	if (regexec(&re, s, 0, NULL, 0) != 0)
		fail_msg("not a MicroTime: %s", s);
	regfree(&re);
}

static void test_one_leader_and_lease_shape(void **state)
{
	struct contender *l;
	json_t *lease, *spec;

	start_contenders("kc-one");
	l = wait_leader(NULL, 10000);
	assert_non_null(l);
	/* several renewals; nobody else ever leads */
	ktest_run_for(&loop, 4 * RP_MS + 200);
	assert_ptr_equal(current_leader(), l);
	assert_int_equal(violations, 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(C[i].starts, &C[i] == l ? 1 : 0);

	lease = get_lease("kc-one");
	spec = json_object_get(lease, "spec");
	assert_string_equal(json_string_value(json_object_get(spec, "holderIdentity")), l->name);
	assert_int_equal(json_integer_value(json_object_get(spec, "leaseDurationSeconds")), LD_MS / 1000);
	assert_microtime(json_string_value(json_object_get(spec, "renewTime")));
	assert_microtime(json_string_value(json_object_get(spec, "acquireTime")));
	/* renewals keep acquireTime and move renewTime */
	assert_string_not_equal(json_string_value(json_object_get(spec, "renewTime")),
				json_string_value(json_object_get(spec, "acquireTime")));
	assert_int_equal(json_integer_value(json_object_get(spec, "leaseTransitions")), 0);
	assert_string_equal(leader_holder(C[(l->id + 1) % N].le), l->name);
	json_decref(lease);
	free_contenders();
}

static void test_partitioned_leader_steps_down_first(void **state)
{
	struct contender *old, *nw;
	int64_t t_freeze;

	start_contenders("kc-part");
	old = wait_leader(NULL, 10000);
	assert_non_null(old);
	ktest_run_for(&loop, 2 * RP_MS);

	/* the leader can no longer reach the server */
	tcpproxy_set_frozen(old->proxy, true);
	t_freeze = time_mono_us();
	nw = wait_leader(old, LD_MS + RD_MS + 5000);
	assert_non_null(nw);
	assert_int_equal(violations, 0);
	/* it stepped down (renew deadline) before the other started */
	assert_int_equal(old->stops, 1);
	assert_true(old->stopped_us < nw->started_us);
	assert_true(old->stopped_us - t_freeze <= (RD_MS + RP_MS + 1000) * 1000);
	fprintf(stderr, "partition: old leader stepped down %.3f s after the freeze, new leader after %.3f s "
			"(lease %d ms, renew deadline %d ms, retry %d ms)\n",
		(double)(old->stopped_us - t_freeze) / 1e6, (double)(nw->started_us - t_freeze) / 1e6, LD_MS,
		RD_MS, RP_MS);
	assert_true(nw->started_us - t_freeze <= (int64_t)(LD_MS + RP_MS * 12 / 10 + 2000) * 1000);

	/* healed: the old one follows, no second leader */
	tcpproxy_set_frozen(old->proxy, false);
	ktest_run_for(&loop, LD_MS);
	assert_int_equal(violations, 0);
	assert_ptr_equal(current_leader(), nw);
	assert_string_equal(leader_holder(old->le), nw->name);
	free_contenders();
}

static void on_stop_done(void *ud)
{
	((struct contender *)ud)->stop_done = true;
}

static void test_release_on_stop(void **state)
{
	struct contender *old, *nw;
	int64_t t_stop;
	json_t *lease;

	start_contenders("kc-release");
	old = wait_leader(NULL, 10000);
	assert_non_null(old);
	t_stop = time_mono_us();
	leader_stop(old->le, on_stop_done, old);
	assert_true(ktest_run_until(&loop, &old->stop_done, 5000));
	assert_int_equal(old->stops, 1);
	nw = wait_leader(old, LD_MS);
	assert_non_null(nw);
	assert_int_equal(violations, 0);
	fprintf(stderr, "release: new leader %.3f s after the old one stopped (lease duration %d ms)\n",
		(double)(nw->started_us - t_stop) / 1e6, LD_MS);
	/* released: no need to wait out the lease */
	assert_true(nw->started_us - t_stop < (int64_t)(RP_MS * 12 / 10 + 1000) * 1000);
	lease = get_lease("kc-release");
	assert_string_equal(json_string_value(json_object_get(json_object_get(lease, "spec"), "holderIdentity")),
			    nw->name);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(lease, "spec"), "leaseTransitions")), 1);
	json_decref(lease);
	free_contenders();
}

/* --- three processes -------------------------------------------------------- */

struct proc {
	uv_process_t p;
	uv_pipe_t out;
	char name[16];
	char buf[4096];
	size_t len;
	bool exited;
	int64_t leading_us, stopped_us;
	int leads, stops;
	bool clean_exit;
};

static struct proc P[N];
static int proc_leaders, proc_violations;

static void proc_line(struct proc *p, char *line)
{
	long long us;
	char id[64];

	if (sscanf(line, "leading %lld", &us) == 1) {
		if (proc_leaders != 0) {
			proc_violations++;
			fprintf(stderr, "VIOLATION: %s leads while another does\n", p->name);
		}
		proc_leaders++;
		p->leads++;
		p->leading_us = us;
	} else if (sscanf(line, "stopped %lld", &us) == 1) {
		proc_leaders--;
		p->stops++;
		p->stopped_us = us;
	} else if (sscanf(line, "exit %lld", &us) == 1) {
		p->clean_exit = true;
	} else if (sscanf(line, "leader %63s %lld", id, &us) != 2) {
		fprintf(stderr, "%s: unexpected output: %s\n", p->name, line);
	}
}

static void proc_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
	struct proc *p = h->data;

	b->base = p->buf + p->len;
	b->len = sizeof(p->buf) - p->len - 1;
}

static void proc_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct proc *p = st->data;
	char *nl;

	if (n < 0) {
		uv_close((uv_handle_t *)st, NULL);
		return;
	}
	p->len += (size_t)n;
	p->buf[p->len] = '\0';
	while ((nl = strchr(p->buf, '\n'))) {
		*nl = '\0';
		proc_line(p, p->buf);
		memmove(p->buf, nl + 1, p->len - (size_t)(nl + 1 - p->buf) + 1);
		p->len -= (size_t)(nl + 1 - p->buf);
	}
}

static void proc_exit(uv_process_t *h, int64_t status, int sig)
{
	struct proc *p = h->data;

	p->exited = true;
	uv_close((uv_handle_t *)h, NULL);
}

static void spawn(struct proc *p, const char *helper, int i)
{
	char ld[16], rd[16], rp[16];
	char *args[] = { (char *)helper, sim.kubeconfig, p->name, "kc-proc", ld, rd, rp, NULL };
	uv_stdio_container_t io[3];
	uv_process_options_t o = { 0 };

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "p%d", i);
	args[2] = p->name;
	snprintf(ld, sizeof(ld), "%d", LD_MS);
	snprintf(rd, sizeof(rd), "%d", RD_MS);
	snprintf(rp, sizeof(rp), "%d", RP_MS);
	uv_pipe_init(&loop, &p->out, 0);
	p->out.data = p;
	p->p.data = p;
	io[0].flags = UV_IGNORE;
	io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	io[1].data.stream = (uv_stream_t *)&p->out;
	io[2].flags = UV_INHERIT_FD;
	io[2].data.fd = 2;
	o.file = helper;
	o.args = args;
	o.stdio = io;
	o.stdio_count = 3;
	o.exit_cb = proc_exit;
	if (uv_spawn(&loop, &p->p, &o) < 0)
		fail_msg("cannot start %s", helper);
	uv_read_start((uv_stream_t *)&p->out, proc_alloc, proc_read);
}

static struct proc *proc_leader(struct proc *not, int ms)
{
	int64_t deadline = time_mono_us() + (int64_t)ms * 1000;

	while (time_mono_us() < deadline) {
		for (int i = 0; i < N; i++)
			if (&P[i] != not && !P[i].exited && P[i].leads > P[i].stops)
				return &P[i];
		ktest_run_for(&loop, 10);
	}
	return NULL;
}

static void test_three_processes_kill_leader(void **state)
{
	const char *helper = getenv("NAVE_LEADER_HELPER");
	struct proc *first, *second, *third;
	int64_t t_kill, t_term;
	double takeover;

	if (!helper || access(helper, X_OK) != 0)
		skip();
	proc_leaders = proc_violations = 0;
	for (int i = 0; i < N; i++)
		spawn(&P[i], helper, i);
	first = proc_leader(NULL, 15000);
	assert_non_null(first);
	ktest_run_for(&loop, 3 * RP_MS);

	/* SIGKILL: no release, the others wait out the lease */
	t_kill = time_mono_us();
	uv_process_kill(&first->p, SIGKILL);
	proc_leaders--; /* it will never say "stopped" */
	second = proc_leader(first, LD_MS + RP_MS * 3 + 5000);
	assert_non_null(second);
	takeover = (double)(second->leading_us - t_kill) / 1e6;
	fprintf(stderr, "kill: new leader %.3f s after SIGKILL of the leader (lease %d ms, retry %d ms)\n",
		takeover, LD_MS, RP_MS);
	assert_true(second->leading_us > t_kill);
	/* within the lease duration plus one (jittered) retry period: candidates
	 * count the lease from when THEY saw the last renewal (client-go), which
	 * is up to one poll after it was written; slack for a loaded machine */
	assert_true(second->leading_us - t_kill <= (int64_t)(LD_MS + RP_MS * 12 / 10 + 1000) * 1000);

	/* SIGTERM: released, the third takes over at once */
	ktest_run_for(&loop, RP_MS);
	t_term = time_mono_us();
	uv_process_kill(&second->p, SIGTERM);
	third = proc_leader(second, LD_MS);
	assert_non_null(third);
	assert_true(ktest_run_until(&loop, &second->exited, 5000));
	assert_true(second->clean_exit);
	assert_int_equal(second->stops, 1);
	assert_true(second->stopped_us <= third->leading_us);
	fprintf(stderr, "term: new leader %.3f s after SIGTERM of the leader\n",
		(double)(third->leading_us - t_term) / 1e6);
	assert_true(third->leading_us - t_term < (int64_t)(RP_MS * 12 / 10 + 1000) * 1000);
	assert_int_equal(proc_violations, 0);

	uv_process_kill(&third->p, SIGTERM);
	assert_true(ktest_run_until(&loop, &third->exited, 5000));
	assert_true(ktest_run_until(&loop, &first->exited, 5000));
	ktest_drain(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_leader_and_lease_shape),
		cmocka_unit_test(test_partitioned_leader_steps_down_first),
		cmocka_unit_test(test_release_on_stop),
		cmocka_unit_test(test_three_processes_kill_leader),
	};
	const char *bin = getenv("NAVE_KUBESIM");

	if (!bin || access(bin, X_OK) != 0) {
		fprintf(stderr, "NAVE_KUBESIM not set or not executable: skipping\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
