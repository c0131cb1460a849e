/* bench_kclient.c - server-side applies per second of a Deployment through
 * common/kclient against nave-kubesim (HTTPS, bearer token, one process).
 *
 *   bench_kclient [-n APPLIES] [-c CONCURRENCY]...
 *
 * Sequential: one apply at a time to one Deployment (each apply changes an
 * annotation, so every one is a real write). Concurrent: CONCURRENCY applies
 * in flight over as many Deployments (HTTP/1.1: one connection each),
 * refilled as they finish. The client's rate limiter is off. The simulator is
 * $NAVE_KUBESIM. Prints one line per run:
 *   bench kclient apply mode=sequential n=500 seconds=0.91 applies_per_s=549 mean_ms=1.82
 */
#include <errno.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "../kclient/ktest.h"
#include "../kclient/simproc.h"
#include "kclient_ops.h"
#include "log.h"

struct run {
	struct kclient *kc;
	unsigned n;          /* applies to do */
	unsigned started;
	unsigned finished;
	unsigned failed;
	unsigned concurrency;
	double latency_sum_s;
	bool done;
};

struct one {
	struct run *run;
	unsigned slot;
	int64_t t0;
};

static void start_one(struct run *run, unsigned slot);

static json_t *deployment(unsigned slot, unsigned serial)
{
	char name[32], serial_s[32];

	snprintf(name, sizeof(name), "bench-%u", slot);
	snprintf(serial_s, sizeof(serial_s), "%u", serial);
	return json_pack("{ss ss s{ss ss s{ss}} s{si s{s{ss}} s{s{s{ss}} s{s[{ss ss s[{si}]}]}}}}",
			 "apiVersion", "apps/v1", "kind", "Deployment",
			 "metadata", "name", name, "namespace", "bench", "annotations", "bench/serial", serial_s,
			 "spec", "replicas", 2, "selector", "matchLabels", "app", name,
			 "template", "metadata", "labels", "app", name,
			 "spec", "containers", "name", "web", "image", "nginx:1.25", "ports", "containerPort", 80);
}

static void on_applied(void *ud, const struct kclient_result *res)
{
	struct one *o = ud;
	struct run *run = o->run;

	run->finished++;
	run->latency_sum_s += (double)(time_mono_us() - o->t0) / 1e6;
	if (res->r != 0) {
		if (run->failed++ < 3)
			fprintf(stderr, "apply failed: %s\n", res->err->message);
	}
	if (run->started < run->n)
		start_one(run, o->slot);
	if (run->finished == run->n)
		run->done = true;
	free(o);
}

static void start_one(struct run *run, unsigned slot)
{
	struct kref ref = { .group = "apps", .version = "v1", .resource = "deployments", .namespace = "bench" };
	struct one *o = xnew(struct one);
	json_t *obj = deployment(slot, run->started);

	o->run = run;
	o->slot = slot;
	o->t0 = time_mono_us();
	run->started++;
	if (kclient_apply(run->kc, &ref, obj, &(struct kclient_patch_opts){ .field_manager = "bench", .force = true },
			  on_applied, o, NULL) < 0) {
		fprintf(stderr, "cannot start an apply\n");
		exit(1);
	}
	json_decref(obj);
}

/* CPU seconds used by this process (the client; the simulator is a child). */
static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	       ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static int bench(uv_loop_t *loop, struct kclient *kc, unsigned n, unsigned conc)
{
	struct run run = { .kc = kc, .n = n, .concurrency = conc };
	int64_t t0 = time_mono_us();
	struct kclient_stats st;
	uint64_t connects0;
	double secs, cpu0;

	kclient_get_stats(kc, &st);
	connects0 = st.connects;
	cpu0 = cpu_s();

	for (unsigned i = 0; i < conc && i < n; i++)
		start_one(&run, i);
	if (!ktest_run_until(loop, &run.done, 600000)) {
		fprintf(stderr, "bench did not finish\n");
		return 1;
	}
	secs = (double)(time_mono_us() - t0) / 1e6;
	kclient_get_stats(kc, &st);
	printf("bench kclient apply mode=%s concurrency=%u n=%u seconds=%.3f applies_per_s=%.0f mean_ms=%.2f "
	       "client_cpu_us_per_apply=%.0f connections=%llu failed=%u\n",
	       conc == 1 ? "sequential" : "concurrent", conc, n, secs, n / secs, run.latency_sum_s / n * 1000,
	       (cpu_s() - cpu0) / n * 1e6, (unsigned long long)(st.connects - connects0), run.failed);
	fflush(stdout);
	return run.failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	unsigned n = 1000, concs[8] = { 1, 8, 32 }, nconc = 3, user_conc = 0;
	struct kubeconfig *cfg = NULL;
	struct kclient *kc = NULL;
	struct simproc sim;
	struct errbuf err;
	uv_loop_t loop;
	int opt, rc = 0;

	while ((opt = getopt(argc, argv, "n:c:")) != -1) {
		if (opt == 'n') {
			n = (unsigned)strtoul(optarg, NULL, 10);
		} else if (opt == 'c' && user_conc < 8) {
			concs[user_conc++] = (unsigned)strtoul(optarg, NULL, 10);
		} else {
			fprintf(stderr, "usage: %s [-n APPLIES] [-c CONCURRENCY]...\n", argv[0]);
			return 2;
		}
	}
	if (user_conc)
		nconc = user_conc;
	log_setup(LOG_LVL_WARN, LOG_FORMAT_TEXT);
	if (simproc_start(&sim, false, NULL) < 0) {
		fprintf(stderr, "nave-kubesim not available ($NAVE_KUBESIM): skipping\n");
		return 77;
	}
	uv_loop_init(&loop);
	if (kubeconfig_load_files(sim.kubeconfig, NULL, &err, &cfg) < 0 ||
	    kclient_new(&loop, cfg, &(struct kclient_options){ .qps = -1 }, &err, &kc) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		simproc_stop(&sim);
		return 1;
	}
	{
		struct ktest_res r = { 0 };
		json_t *ns = json_pack("{ss ss s{ss}}", "apiVersion", "v1", "kind", "Namespace", "metadata", "name",
				       "bench");

		kclient_create(kc, &(struct kref){ .version = "v1", .resource = "namespaces" }, ns, NULL, ktest_done, &r,
			       NULL);
		ktest_run_until(&loop, &r.done, 10000);
		json_decref(ns);
		ktest_res_reset(&r);
	}
	for (unsigned i = 0; i < nconc && rc == 0; i++)
		rc = bench(&loop, kc, n, concs[i]);
	kclient_free(kc);
	ktest_drain(&loop);
	uv_loop_close(&loop);
	simproc_stop(&sim);
	return rc;
}
