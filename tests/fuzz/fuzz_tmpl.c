/* fuzz_tmpl.c - libFuzzer harness for common/tmpl (expressions and templates).
 *
 * Input: the first line is an expression, the rest a JSON document. The
 * expression is checked (tmpl_check_expr), evaluated (tmpl_eval) and rendered
 * as a message string (tmpl_render_string) against a fixed scope that also
 * holds the document as "in". The document, when it parses, is checked
 * (tmpl_check) and rendered (tmpl_render) as a template against that scope.
 *
 * Invariants (abort on violation): results only with return 0; errors are
 * -EINVAL or -E2BIG with a message; tmpl_check_expr and tmpl_eval agree on
 * syntax; messages are valid UTF-8; a rendered template serializes; nothing modifies the scope or the
 * template; an output can be modified without touching the scope.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "tmpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_code(const char *what, int r, const struct errbuf *err)
{
	if (r == 0)
		return;
	if ((r != -EINVAL && r != -E2BIG) || err->msg[0] == '\0') {
		fprintf(stderr, "%s: returned %d with message \"%s\"\n", what, r, err->msg);
		abort();
	}
	/* Messages go into JSON (API Status): they must be valid UTF-8. */
	{
		json_t *m = json_string(err->msg);

		if (!m) {
			fprintf(stderr, "%s: the message is not valid UTF-8\n", what);
			abort();
		}
		json_decref(m);
	}
}

static char *dump(const json_t *v)
{
	char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

	if (!s) {
		fprintf(stderr, "a value does not serialize\n");
		abort();
	}
	return s;
}

/* Modify every container reachable from v: a key more in each object, an
 * item more in each list. */
static void scribble(json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, k, x)
			scribble(x);
		json_object_set_new(v, "scribbled", json_true());
	} else if (json_is_array(v)) {
		for (i = 0; i < json_array_size(v); i++)
			scribble(json_array_get(v, i));
		json_array_append_new(v, json_null());
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t elen = nl ? (size_t)(nl - data) : size;
	char *expr = xstrndup((const char *)data, elen);
	json_t *doc = NULL, *scope, *v = (json_t *)1, *out = NULL;
	struct errbuf err = { "" }, err2 = { "" };
	char *before, *tbefore = NULL, *after, *s = NULL;
	int r, rc;

	if (nl)
		doc = json_loadb((const char *)nl + 1, size - elen - 1, JSON_DECODE_ANY, NULL);
	scope = json_pack("{s:{s:s, s:i, s:f, s:[{s:i, s:s}, {s:i, s:b}], s:{s:s, s:s}, s:n, s:[]}, "
			  "s:{s:s, s:s, s:s}, s:O?}",
			  "parameter", "image", "nginx", "port", 80, "ratio", 1.5, "ports", "port", 80, "name", "http",
			  "port", 443, "expose", 1, "labels", "app", "web", "tier", "front", "nil", "env", "context",
			  "name", "web", "namespace", "default", "app-name", "shop", "in", doc);
	before = dump(scope);

	/* The expression. */
	r = tmpl_eval(expr, scope, &err, &v);
	check_code("tmpl_eval", r, &err);
	if (r == 0) {
		if (v) {
			free(dump(v));
			(void)tmpl_truthy(v);
			json_decref(v);
		}
	} else if (v != (json_t *)1) {
		fprintf(stderr, "tmpl_eval set its result on error\n");
		abort();
	}
	rc = tmpl_check_expr(expr, &err2);
	check_code("tmpl_check_expr", rc, &err2);
	/* What fails to parse fails to evaluate, with the same message. */
	if ((r == 0 && rc != 0) || (rc != 0 && (r != rc || strcmp(err.msg, err2.msg) != 0))) {
		fprintf(stderr, "tmpl_check_expr (%d: %s) disagrees with tmpl_eval (%d: %s)\n", rc, err2.msg, r,
			err.msg);
		abort();
	}
	r = tmpl_render_string(expr, scope, &err, &s);
	check_code("tmpl_render_string", r, &err);
	if (r == 0 && (!s || strlen(s) > TMPL_STRING_MAX))
		abort();
	free(s);

	/* The document as a template. */
	if (doc) {
		tbefore = dump(doc);
		r = tmpl_check(doc, "t", &err);
		check_code("tmpl_check", r, &err);
		rc = tmpl_render(doc, scope, "t", &err2, &out);
		check_code("tmpl_render", rc, &err2);
		if (rc == 0 && out) {
			free(dump(out));
			scribble(out);
		}
		if (rc != 0 && out)
			abort();
		json_decref(out);
		after = dump(doc);
		if (strcmp(tbefore, after) != 0) {
			fprintf(stderr, "the template changed\n");
			abort();
		}
		free(after);
	}
	after = dump(scope);
	if (strcmp(before, after) != 0) {
		fprintf(stderr, "the scope changed\n");
		abort();
	}
	free(after);
	free(before);
	free(tbefore);
	json_decref(scope);
	json_decref(doc);
	free(expr);
	return 0;
}
