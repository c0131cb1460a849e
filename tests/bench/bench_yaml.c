/* bench_yaml.c - parse and emit throughput of common/yaml.
 *
 * Builds a ~1 MiB manifest stream from the example manifests in
 * $NAVE_TEST_DATA/yaml/examples (those Kubernetes accepts), joined with
 * '---' and repeated, then times yaml_parse_stream() on it and yaml_emit() of
 * every document, and prints MB/s (1 MB = 10^6 bytes of YAML). Exits non-zero
 * only if the inputs cannot be read or parsed.
 *
 * Usage: bench_yaml [DATA_DIR] (default $NAVE_TEST_DATA, else tests/data)
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "yaml.h"

#define BENCH_TARGET (1u << 20)
#define BENCH_MIN_SECONDS 1.0

static double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench_append_file(struct buf *b, const char *path)
{
	char chunk[65536];
	size_t n;
	FILE *f = fopen(path, "rb");

	if (!f)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(b, chunk, n);
	fclose(f);
	return 0;
}

/* One copy of every example that has an expected result (not refused). */
static int bench_examples(const char *dir, struct buf *one)
{
	char path[2048], exp[2048];
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		size_t nl = strlen(e->d_name);
		FILE *f;

		if (nl < 5 || strcmp(e->d_name + nl - 5, ".yaml") != 0)
			continue;
		snprintf(exp, sizeof(exp), "%s/%.*s.expected.json", dir, (int)(nl - 5), e->d_name);
		f = fopen(exp, "r");
		if (!f)
			continue;
		fclose(f);
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		buf_puts(one, "---\n");
		if (bench_append_file(one, path) < 0)
			continue;
		buf_puts(one, "\n");
		n++;
	}
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	const char *data = argc > 1 ? argv[1] : getenv("NAVE_TEST_DATA");
	struct yaml_limits lim = { .max_input = 64u << 20 };
	struct errbuf err = { "" };
	struct buf one, all;
	char dir[1024];
	json_t *docs = NULL;
	size_t ndocs = 0, emitted = 0;
	double t0, t, parse_s, emit_s;
	int files, iters;

	snprintf(dir, sizeof(dir), "%s/yaml/examples", data ? data : "tests/data");
	buf_init(&one, 1u << 20);
	buf_init(&all, 4u << 20);
	files = bench_examples(dir, &one);
	if (files <= 0) {
		fprintf(stderr, "bench_yaml: no examples in %s\n", dir);
		return 1;
	}
	while (all.len < BENCH_TARGET)
		buf_append(&all, one.data, one.len);

	/* parse */
	iters = 0;
	t0 = bench_now();
	do {
		json_decref(docs);
		docs = NULL;
		if (yaml_parse_stream(all.data, all.len, &lim, &err, &docs) < 0) {
			fprintf(stderr, "bench_yaml: %s\n", err.msg);
			return 1;
		}
		iters++;
		t = bench_now() - t0;
	} while (t < BENCH_MIN_SECONDS);
	parse_s = t / iters;
	ndocs = json_array_size(docs);

	/* emit */
	iters = 0;
	t0 = bench_now();
	do {
		emitted = 0;
		for (size_t i = 0; i < ndocs; i++) {
			char *y = yaml_emit(json_array_get(docs, i));

			emitted += strlen(y);
			free(y);
		}
		iters++;
		t = bench_now() - t0;
	} while (t < BENCH_MIN_SECONDS);
	emit_s = t / iters;

	printf("input: %zu bytes, %zu documents (%d example files repeated)\n", all.len, ndocs, files);
	printf("parse: %.2f ms per stream, %.1f MB/s\n", parse_s * 1e3, (double)all.len / parse_s / 1e6);
	printf("emit:  %.2f ms per stream, %.1f MB/s of YAML written\n", emit_s * 1e3,
	       (double)emitted / emit_s / 1e6);
	json_decref(docs);
	buf_free(&one);
	buf_free(&all);
	return 0;
}
