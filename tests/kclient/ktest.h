/* ktest.h - helpers shared by the kclient tests: run the loop until
 * something happened (with a deadline, never a sleep), capture results,
 * make clients. Header-only; every function is static. */
#ifndef NAVE_TESTS_KTEST_H
#define NAVE_TESTS_KTEST_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "alloc.h"
#include "kclient.h"
#include "kdiscovery.h"
#include "kubeconfig.h"
#include "timefmt.h"

static inline void ktest_tick(uv_timer_t *t)
{
	(void)t;
}

/* Run the loop until *flag is true or timeout_ms passes. Returns *flag. */
static inline bool ktest_run_until(uv_loop_t *loop, const bool *flag, int timeout_ms)
{
	int64_t deadline = time_mono_us() + (int64_t)timeout_ms * 1000;
	uv_timer_t tick;

	uv_timer_init(loop, &tick);
	uv_timer_start(&tick, ktest_tick, 10, 10);
	while (!*flag && time_mono_us() < deadline)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return *flag;
}

/* Run the loop for ms milliseconds (to let timers fire; not to wait for events). */
static inline void ktest_run_for(uv_loop_t *loop, int ms)
{
	bool never = false;

	ktest_run_until(loop, &never, ms);
}

/* Drain the loop after freeing clients (close callbacks). */
static inline void ktest_drain(uv_loop_t *loop)
{
	for (int i = 0; i < 100 && uv_run(loop, UV_RUN_NOWAIT); i++)
		;
}

struct ktest_res {
	bool done;
	int r;
	long status;
	enum kclient_reason reason;
	char message[KCLIENT_MSG_MAX];
	char status_reason[64];
	unsigned retry_after_s;
	json_t *body;    /* owned (incref'd) */
	json_t *causes;  /* owned */
	int64_t at_us;   /* when done was called */
};

static inline void ktest_res_reset(struct ktest_res *r)
{
	json_decref(r->body);
	json_decref(r->causes);
	memset(r, 0, sizeof(*r));
}

static inline void ktest_done(void *ud, const struct kclient_result *res)
{
	struct ktest_res *r = ud;

	json_decref(r->body);
	json_decref(r->causes);
	memset(r, 0, sizeof(*r));
	r->done = true;
	r->r = res->r;
	r->status = res->status;
	r->body = json_incref(res->body);
	r->at_us = time_mono_us();
	if (res->err) {
		r->reason = res->err->reason;
		snprintf(r->message, sizeof(r->message), "%s", res->err->message);
		snprintf(r->status_reason, sizeof(r->status_reason), "%s", res->err->status_reason);
		r->retry_after_s = res->err->retry_after_s;
		r->causes = json_incref(res->err->causes);
	}
}

/* The outcome of one kdiscovery_resolve, filled by ktest_on_resolved. */
struct ktest_resolved {
	bool done;
	int r;
	struct kmapping m;         /* valid when r == 0 */
	char msg[KCLIENT_MSG_MAX]; /* the error's message, or "" */
};

/* A kdiscovery resolve callback; ud is a struct ktest_resolved. */
static inline void ktest_on_resolved(void *ud, int r, const struct kmapping *m,
				     const struct kclient_error *err)
{
	struct ktest_resolved *x = ud;

	x->done = true;
	x->r = r;
	if (m)
		x->m = *m;
	if (err)
		snprintf(x->msg, sizeof(x->msg), "%s", err->message);
}

/* A kubeconfig for server with an optional token (static) or token file. */
static inline struct kubeconfig *ktest_config(const char *server, const char *token, const char *token_file)
{
	struct kubeconfig *cfg = xnew(struct kubeconfig);

	cfg->source = xstrdup("test");
	cfg->server = xstrdup(server);
	cfg->namespace = xstrdup("default");
	cfg->token = token ? xstrdup(token) : NULL;
	if (token_file) {
		cfg->token_file = xstrdup(token_file);
		if (kubeconfig_token_reload(cfg, NULL) < 0) {
			fprintf(stderr, "cannot read %s\n", token_file);
			abort();
		}
	}
	return cfg;
}

#define KTEST_CHECK(cond)                                                            \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			exit(1);                                                     \
		}                                                                    \
	} while (0)

#endif
