/* bench_httpd: requests per second of common/httpd for small GETs over
 * keep-alive connections, TLS (ECDSA P-256 from common/x509) and plain.
 *
 * The server runs on a libuv loop in the main thread, as in the daemons;
 * each client connection is a libcurl easy handle in its own thread doing
 * sequential requests on one kept-alive connection. On a 2-core machine the
 * clients and the server share the cores, so the figures are a floor.
 *
 *   bench_httpd [requests per connection, default 20000]
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <uv.h>

#include "alloc.h"
#include "httpd.h"
#include "x509.h"

#define DEADLINE_S 120

static char tmpdir[64];
static char *ca_path, *cert_path, *key_path;

static void handler(struct httpd_req *req, void *userdata)
{
	static const char body[] = "{\"kind\":\"Status\",\"status\":\"Success\"}";

	(void)userdata;
	httpd_respond(req, 200, "application/json", body, sizeof(body) - 1);
}

struct client {
	int port;
	bool tls;
	long requests;
	long failures;
	long connects;
	double *lat;     /* owned; seconds per request */
	pthread_t thread;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	char url[128];
	CURL *h = curl_easy_init();

	snprintf(url, sizeof(url), "%s://127.0.0.1:%d/api/v1/namespaces/default/pods/x",
		 c->tls ? "https" : "http", c->port);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CAINFO, ca_path);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	for (long i = 0; i < c->requests; i++) {
		long status = 0, connects = 0;
		double t = now_s();

		if (curl_easy_perform(h) != CURLE_OK)
			c->failures++;
		c->lat[i] = now_s() - t;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
		if (status != 200)
			c->failures++;
		c->connects += connects;
	}
	curl_easy_cleanup(h);
	return NULL;
}

static atomic_int clients_done;
static uv_async_t wake;

static void *client_thread(void *arg)
{
	client_main(arg);
	atomic_fetch_add(&clients_done, 1);
	uv_async_send(&wake);
	return NULL;
}

static void wake_cb(uv_async_t *a)
{
	(void)a;
}

static int run(uv_loop_t *loop, bool tls, int nconn, long per_conn)
{
	struct httpd_config cfg = {
		.listen_addr = "127.0.0.1",
		.cert_path = tls ? cert_path : NULL,
		.key_path = tls ? key_path : NULL,
		.handler = handler,
	};
	struct client clients[8];
	struct httpd *h = NULL;
	long failures = 0, connects = 0, n = 0;
	double t0, t1, *all = xcalloc((size_t)(nconn * per_conn), sizeof(double));

	if (httpd_new(loop, &cfg, &h) < 0)
		return -1;
	atomic_store(&clients_done, 0);
	uv_async_init(loop, &wake, wake_cb);
	t0 = now_s();
	for (int i = 0; i < nconn; i++) {
		clients[i] = (struct client){ .port = httpd_port(h), .tls = tls, .requests = per_conn,
					      .lat = all + i * per_conn };
		pthread_create(&clients[i].thread, NULL, client_thread, &clients[i]);
	}
	while (atomic_load(&clients_done) < nconn && now_s() - t0 < DEADLINE_S)
		uv_run(loop, UV_RUN_ONCE);
	t1 = now_s();
	for (int i = 0; i < nconn; i++) {
		pthread_join(clients[i].thread, NULL);
		failures += clients[i].failures;
		connects += clients[i].connects;
	}
	n = nconn * per_conn;
	qsort(all, (size_t)n, sizeof(double), cmp_double);
	printf("httpd %-5s keep-alive, %d connection%s: %ld requests in %.2f s = %.0f req/s; "
	       "latency p50 %.0f us, p99 %.0f us, max %.1f ms; %ld connects, %ld failures\n",
	       tls ? "TLS" : "plain", nconn, nconn > 1 ? "s" : " ", n, t1 - t0,
	       (double)n / (t1 - t0), all[n / 2] * 1e6, all[n * 99 / 100] * 1e6,
	       all[n - 1] * 1e3, connects, failures);
	free(all);
	fflush(stdout);
	httpd_free(h);
	uv_close((uv_handle_t *)&wake, NULL);
	while (uv_loop_alive(loop))
		uv_run(loop, UV_RUN_ONCE);
	return failures || connects != nconn ? -1 : 0;
}

static int make_tls(void)
{
	static const char *const ips[] = { "127.0.0.1" };
	struct x509_cert_spec spec = { .cn = "bench", .ips = ips, .n_ips = 1,
				       .usage = X509_USAGE_SERVER, .lifetime = 3600 };
	struct x509_ca *ca = NULL;
	struct x509_key *key = NULL;
	char *pem = NULL, *kpem = NULL;
	int r;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/nave-bench-httpd-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -errno;
	ca_path = xasprintf("%s/ca.pem", tmpdir);
	cert_path = xasprintf("%s/srv.pem", tmpdir);
	key_path = xasprintf("%s/srv.key", tmpdir);
	r = x509_ca_create("bench-ca", 3600, &ca, NULL);
	if (r == 0)
		r = x509_key_generate(&key, NULL);
	if (r == 0)
		r = x509_ca_sign(ca, key, &spec, &pem, NULL);
	if (r == 0)
		r = x509_key_pem(key, &kpem, NULL);
	if (r == 0)
		r = x509_file_write(ca_path, x509_ca_cert_pem(ca), strlen(x509_ca_cert_pem(ca)),
				    0644, NULL);
	if (r == 0)
		r = x509_file_write(cert_path, pem, strlen(pem), 0644, NULL);
	if (r == 0)
		r = x509_file_write(key_path, kpem, strlen(kpem), 0600, NULL);
	free(pem);
	free(kpem);
	x509_key_free(key);
	x509_ca_free(ca);
	return r;
}

int main(int argc, char **argv)
{
	long per_conn = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
	uv_loop_t loop;
	int r = 0;

	if (per_conn <= 0 || make_tls() < 0) {
		fprintf(stderr, "usage: bench_httpd [requests per connection]\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	uv_loop_init(&loop);
	r |= run(&loop, true, 1, per_conn);
	r |= run(&loop, true, 4, per_conn / 4);
	r |= run(&loop, false, 1, per_conn);
	r |= run(&loop, false, 4, per_conn / 4);
	if (uv_loop_close(&loop) != 0)
		r = -1;
	curl_global_cleanup();
	unlink(ca_path);
	unlink(cert_path);
	unlink(key_path);
	rmdir(tmpdir);
	free(ca_path);
	free(cert_path);
	free(key_path);
	return r ? 1 : 0;
}
