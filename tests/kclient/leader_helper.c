/* leader_helper.c - one leader-election contender as a process, for the
 * multi-process test (kill the leader, see another take over).
 *
 *   kclient_leader_helper KUBECONFIG IDENTITY LEASE LEASE_MS RENEW_MS RETRY_MS
 *
 * Prints one line per event on stdout, flushed, with CLOCK_MONOTONIC
 * microseconds (comparable across processes on one machine):
 *   leading <us>     started leading
 *   stopped <us>     stopped leading
 *   leader <id> <us> observed a new leader
 *   exit <us>        after a clean stop (SIGTERM: the lease is released first)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "kclient.h"
#include "leader.h"
#include "log.h"
#include "timefmt.h"

static struct leader *le;
static struct kclient *kc;
static uv_signal_t sig;

static void say(const char *what, const char *arg)
{
	if (arg)
		printf("%s %s %lld\n", what, arg, (long long)time_mono_us());
	else
		printf("%s %lld\n", what, (long long)time_mono_us());
	fflush(stdout);
}

static void started(void *ud)
{
	say("leading", NULL);
}

static void stopped(void *ud)
{
	say("stopped", NULL);
}

static void new_leader(void *ud, const char *id)
{
	say("leader", id);
}

static void on_stopped(void *ud)
{
	say("exit", NULL);
	uv_close((uv_handle_t *)&sig, NULL);
	leader_free(le);
	kclient_free(kc);
}

static void on_signal(uv_signal_t *s, int signum)
{
	uv_signal_stop(s);
	leader_stop(le, on_stopped, NULL);
}

int main(int argc, char **argv)
{
	struct kubeconfig *cfg = NULL;
	struct errbuf err;
	uv_loop_t *loop = uv_default_loop();

	if (argc != 7) {
		fprintf(stderr, "usage: %s KUBECONFIG IDENTITY LEASE LEASE_MS RENEW_MS RETRY_MS\n", argv[0]);
		return 2;
	}
	log_setup(LOG_LVL_WARN, LOG_FORMAT_TEXT);
	if (kubeconfig_load_files(argv[1], NULL, &err, &cfg) < 0 ||
	    kclient_new(loop, cfg, NULL, &err, &kc) < 0 ||
	    leader_new(kc,
		       &(struct leader_options){ .namespace = "default", .name = argv[3], .identity = argv[2],
						 .lease_duration_ms = strtoull(argv[4], NULL, 10),
						 .renew_deadline_ms = strtoull(argv[5], NULL, 10),
						 .retry_period_ms = strtoull(argv[6], NULL, 10) },
		       &(struct leader_callbacks){ started, stopped, new_leader }, NULL, &err, &le) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	uv_signal_init(loop, &sig);
	uv_signal_start(&sig, on_signal, SIGTERM);
	leader_start(le);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	return 0;
}
