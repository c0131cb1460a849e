/* bench_kubesim.c - server-side applies per second of a Deployment, on one core.
 *
 * Drives the kapi server exactly as nave-kubesim serves a request (routing,
 * YAML body parsing, server-side apply with managedFields, validation and
 * defaulting, the store, the JSON answer), in process through the fake httpd
 * of the unit tests, so the figure is the server's cost alone: no TLS, no
 * sockets, no client. Three runs of about two seconds each:
 *   - changing applies: every apply changes spec.replicas and the image
 *     (new resourceVersion, generation bump, a watch event);
 *   - the same with one watcher open (serialising every event);
 *   - no-op applies: the same configuration again (nothing is written).
 * Prints one line per run; exits non-zero if an apply fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "../unit/kapi_fake_httpd.h"
#include "kapi.h"
#include "kapi_store.h"
#include "timefmt.h"

#define RUN_US (2 * 1000000LL)

static const char *const yaml_fmt =
	"apiVersion: apps/v1\n"
	"kind: Deployment\n"
	"metadata:\n"
	"  name: web\n"
	"  namespace: default\n"
	"  labels:\n"
	"    app: web\n"
	"    tier: frontend\n"
	"spec:\n"
	"  replicas: %d\n"
	"  selector:\n"
	"    matchLabels:\n"
	"      app: web\n"
	"  template:\n"
	"    metadata:\n"
	"      labels:\n"
	"        app: web\n"
	"    spec:\n"
	"      containers:\n"
	"      - name: web\n"
	"        image: nginx:1.%d\n"
	"        ports:\n"
	"        - containerPort: 80\n"
	"        env:\n"
	"        - name: MODE\n"
	"          value: production\n"
	"        resources:\n"
	"          limits:\n"
	"            cpu: 500m\n"
	"            memory: 128Mi\n"
	"      - name: sidecar\n"
	"        image: busybox:1.36\n"
	"        args: [\"sleep\", \"infinity\"]\n";

static int apply(struct kapi_server *s, const char *body)
{
	struct httpd_req *r = fake_req_new("PATCH", "/apis/apps/v1/namespaces/default/deployments/web?fieldManager=bench",
					   "application/apply-patch+yaml", body);
	int st;

	fake_req_header(r, "user-agent", "bench/1.0");
	kapi_server_handle(s, r);
	st = fake_req_resp(r)->status;
	fake_req_free(r);
	return st;
}

static int run(struct kapi_server *s, const char *what, char *const *bodies, int nbodies)
{
	int64_t start = time_mono_us(), now;
	long n = 0;

	do {
		int st = apply(s, bodies[n % nbodies]);

		if (st != 200 && st != 201) {
			fprintf(stderr, "bench_kubesim: apply answered %d\n", st);
			return -1;
		}
		n++;
		now = time_mono_us();
	} while (now - start < RUN_US);
	printf("%-34s %8.0f applies/s (%ld in %.2f s)\n", what, (double)n * 1e6 / (double)(now - start), n,
	       (double)(now - start) / 1e6);
	return 0;
}

int main(void)
{
	uv_loop_t loop;
	struct kapi_store *st;
	struct kapi_server *s;
	struct kapi_server_config cfg = {.check_namespaces = true};
	char *bodies[16];
	struct httpd_req *watch;
	int i, rc = 0;

	fake_httpd_set_parse(false);
	uv_loop_init(&loop);
	kapi_store_mem_new(NULL, &st);
	kapi_server_new(&loop, st, &cfg, &s);
	kapi_builtin_register(s);
	for (i = 0; i < 16; i++) {
		size_t len = strlen(yaml_fmt) + 32;

		bodies[i] = malloc(len);
		snprintf(bodies[i], len, yaml_fmt, 2 + i % 3, i);
	}
	if (run(s, "apply, changing (no watcher)", bodies, 16) < 0)
		rc = 1;
	watch = fake_req_new("GET", "/apis/apps/v1/namespaces/default/deployments?watch=true", NULL, NULL);
	fake_req_set_discard(watch, true);
	kapi_server_handle(s, watch);
	if (!rc && run(s, "apply, changing (1 watcher)", bodies, 16) < 0)
		rc = 1;
	fake_req_free(watch);
	if (!rc && run(s, "apply, unchanged (no-op)", bodies, 1) < 0)
		rc = 1;
	for (i = 0; i < 16; i++)
		free(bodies[i]);
	kapi_server_free(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return rc;
}
