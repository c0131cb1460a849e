/* fuzz_kapi.c - the kapi server's request path: routing, query parameters,
 * content types, JSON/YAML bodies, the write engine and watch start, on a
 * fresh in-memory server per input (through the fake httpd of the unit tests).
 *
 * Input: one or more requests separated by a line "%%". Each request is
 *   METHOD PATH[?QUERY]\n
 *   CONTENT-TYPE\n          (may be empty)
 *   BODY                    (the rest; may be empty)
 * e.g. "POST /api/v1/namespaces/default/configmaps\napplication/json\n{...}".
 * Every request must get exactly one answer (or start a stream) with a
 * status from 200 to 504; the fake httpd aborts on a double answer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "../unit/kapi_fake_httpd.h"
#include "kapi.h"
#include "kapi_store.h"
#include "log.h"

#define FUZZ_MAX_INPUT (256 * 1024)
#define FUZZ_MAX_REQUESTS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one_request(struct kapi_server *s, char *text, struct httpd_req **streams, int *nstreams)
{
	char *nl1 = strchr(text, '\n'), *nl2, *sp, *ctype = NULL, *body = NULL;
	struct httpd_req *r;
	int st;

	if (nl1) {
		*nl1 = '\0';
		nl2 = strchr(nl1 + 1, '\n');
		ctype = nl1 + 1;
		if (nl2) {
			*nl2 = '\0';
			body = nl2 + 1;
		}
	}
	sp = strchr(text, ' ');
	if (!sp)
		return;
	*sp = '\0';
	r = fake_req_new(text, sp + 1, ctype && *ctype ? ctype : NULL, body);
	fake_req_header(r, "accept", "application/json");
	fake_req_header(r, "user-agent", "fuzz/1.0");
	kapi_server_handle(s, r);
	st = fake_req_resp(r)->status;
	if (st < 200 || st > 504)
		abort();
	if (fake_req_streaming(r) && !fake_req_stream_ended(r) && *nstreams < FUZZ_MAX_REQUESTS)
		streams[(*nstreams)++] = r; /* keep it open: later requests feed it */
	else
		fake_req_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	uv_loop_t loop;
	struct kapi_store *st;
	struct kapi_server *s;
	struct kapi_server_config cfg = {.check_namespaces = true, .max_body = 64 * 1024};
	struct httpd_req *streams[FUZZ_MAX_REQUESTS];
	int nstreams = 0, nreq = 0, i;
	char *text, *p;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	if (!quiet) {
		log_setup(LOG_LVL_ERROR, LOG_FORMAT_TEXT);
		fake_httpd_set_parse(false);
		quiet = true;
	}
	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	uv_loop_init(&loop);
	kapi_store_mem_new(NULL, &st);
	kapi_server_new(&loop, st, &cfg, &s);
	kapi_builtin_register(s);
	kapi_crd_enable(s);
	for (p = text; p && nreq < FUZZ_MAX_REQUESTS; nreq++) {
		char *sep = strstr(p, "\n%%\n");

		if (sep)
			*sep = '\0';
		one_request(s, p, streams, &nstreams);
		p = sep ? sep + 4 : NULL;
	}
	for (i = 0; i < nstreams; i++)
		fake_req_free(streams[i]);
	kapi_server_free(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	free(text);
	return 0;
}
