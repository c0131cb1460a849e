/* swarm: N simulated agents in one process against a real nave-hub.
 *
 * What it measures (issue #6, "a first measurement"):
 *   - N agents connected at once over mutual TLS websockets (hello, spec
 *     resync), and the hub's RSS per connected agent;
 *   - one ManifestWork of WORK_BYTES created through the API for each
 *     agent's cluster: per agent the time from sending the create to the
 *     hub's acknowledgement of the agent's status for that work (p50, p99,
 *     max), and the time until every agent had its acknowledgement;
 *   - the hub's CPU time (user + system) over that phase, per delivered
 *     work (it includes serving the N creates).
 *
 * How: `nave-hub init` and `serve` in a temporary directory on a free
 * loopback port; N ManagedClusters created accepted through the admin API;
 * client certificates minted here directly with the hub's CA key
 * (D/ca.key, common/x509.h: CN system:open-cluster-management:<c>:swarm);
 * the agents are non-blocking OpenSSL sockets on one epoll loop speaking
 * the protocol through proto/ (events built and checked by the same code as
 * the daemons). The creates run on a few threads with libcurl, each over a
 * kept-alive connection. Everything stays on 127.0.0.1 and ends by itself
 * (every wait has a deadline).
 *
 *   swarm [--agents N] [--work-bytes B] [--creators T] [--keep]
 *   (NAVE_HUB: the nave-hub binary; default "nave-hub" on PATH)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "alloc.h"
#include "buf.h"
#include "proto.h"
#include "x509.h"

#define SWARM_DEADLINE_S 300      /* each phase ends by then, whatever happens */
#define SWARM_CONNECT_BATCH 100   /* connections being set up at once */
#define SWARM_HEARTBEAT_S 5       /* agents' heartbeat period (the hub's default is 10) */
#define SWARM_RX_MAX (2u << 20)   /* one incoming message, at most */

enum agent_state { A_IDLE, A_TCP, A_TLS, A_UPGRADE, A_HELLO, A_READY, A_DEAD };

struct agent {
	int idx;
	char cluster[32];
	char *cert_pem;            /* owned */
	int fd;
	SSL *ssl;                  /* owned */
	enum agent_state state;
	struct buf in;             /* bytes read, not yet parsed */
	struct buf out;            /* bytes to write */
	size_t out_off;
	struct buf msg;            /* message being reassembled */
	bool want_write;
	uint64_t seq;
	char work_uid[PROTO_UUID_LEN + 1];
	double t_work;             /* the spec event arrived */
	double t_ack;              /* the ack of our status arrived */
};

static struct agent *agents;
static int n_agents = 1000;
static size_t work_bytes = 10240;
static int n_creators = 8;
static bool keep;
static char tmpdir[64] = "/tmp/nave-swarm-XXXXXX";
static char datadir[128];
static const char *hub_bin;
static pid_t hub_pid = -1;
static int hub_port;
static char admin_token[256];
static int epfd;
static SSL_CTX *sslctx;
static EVP_PKEY *agent_key;
static double *t_create;           /* per agent: when its work's create was sent */
static atomic_int creates_done, creates_failed;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "swarm: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	if (hub_pid > 0)
		kill(hub_pid, SIGKILL);
	exit(1);
}

/* The hub process -------------------------------------------------------------- */

static void run_init(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, 1);
		execl(hub_bin, hub_bin, "init", "--data-dir", datadir, "--listen", "127.0.0.1:0", (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		die("nave-hub init failed");
}

static void start_hub(void)
{
	char line[256], max[32];
	int p[2], n = 0;
	FILE *f;
	double t0 = now_s();

	if (pipe(p) < 0)
		die("pipe: %s", strerror(errno));
	snprintf(max, sizeof(max), "%d", n_agents + 100);
	hub_pid = fork();
	if (hub_pid == 0) {
		char log[200];
		int fd;

		snprintf(log, sizeof(log), "%s/serve.log", tmpdir);
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(p[1], 1);
		if (fd >= 0)
			dup2(fd, 2);
		close(p[0]);
		setenv("NAVE_HUB_STREAM_MAX_CONNECTIONS", max, 1);
		execl(hub_bin, hub_bin, "serve", "--data-dir", datadir, "--log-level", "warn", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "ready: https://127.0.0.1:%d", &n) == 1)
			break;
		if (now_s() - t0 > 30)
			break;
	}
	if (n <= 0)
		die("nave-hub serve did not say ready (see %s/serve.log)", tmpdir);
	hub_port = n;
	/* keep the pipe open (serve writes nothing more) */
}

static long hub_rss_kib(void)
{
	char path[64], line[256];
	long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)hub_pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* user + system CPU seconds of the hub */
static double hub_cpu_s(void)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)hub_pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void read_admin_token(void)
{
	char path[200], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/admin.kubeconfig", datadir);
	f = fopen(path, "r");
	if (!f)
		die("cannot read %s", path);
	while (fgets(line, sizeof(line), f)) {
		char *t = strstr(line, "token:");

		if (t) {
			t += 6;
			while (*t == ' ')
				t++;
			t[strcspn(t, "\r\n ")] = '\0';
			snprintf(admin_token, sizeof(admin_token), "%s", t);
		}
	}
	fclose(f);
	if (!admin_token[0])
		die("no token in %s", path);
}

/* The admin API (threads with libcurl) -------------------------------------------- */

static size_t discard(char *p, size_t s, size_t n, void *u)
{
	(void)p;
	(void)u;
	return s * n;
}

static CURL *api_handle(struct curl_slist **hdrs)
{
	CURL *c = curl_easy_init();
	char auth[300], ca[200];

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", admin_token);
	snprintf(ca, sizeof(ca), "%s/ca.crt", datadir);
	*hdrs = curl_slist_append(NULL, auth);
	*hdrs = curl_slist_append(*hdrs, "Content-Type: application/json");
	*hdrs = curl_slist_append(*hdrs, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	return c;
}

static long api_post(CURL *c, const char *path, const char *body)
{
	char url[300];
	long code = 0;

	snprintf(url, sizeof(url), "https://127.0.0.1:%d%s", hub_port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(c) != CURLE_OK)
		return -1;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

struct creator {
	int first, step;
	bool works;        /* works (else clusters) */
	char *work_body;   /* shared padding */
	pthread_t th;
};

static void *creator_main(void *arg)
{
	struct creator *cr = arg;
	struct curl_slist *hdrs = NULL;
	CURL *c = api_handle(&hdrs);
	struct buf b;

	buf_init(&b, work_bytes + 4096);
	for (int i = cr->first; i < n_agents; i += cr->step) {
		const char *cl = agents[i].cluster;
		char path[200];
		long code;

		buf_reset(&b);
		if (cr->works) {
			snprintf(path, sizeof(path), "/apis/work.open-cluster-management.io/v1/namespaces/%s/manifestworks",
				 cl);
			buf_printf(&b,
				   "{\"apiVersion\":\"work.open-cluster-management.io/v1\",\"kind\":\"ManifestWork\","
				   "\"metadata\":{\"name\":\"swarm\",\"namespace\":\"%s\"},\"spec\":{\"workload\":"
				   "{\"manifests\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":"
				   "{\"name\":\"swarm\",\"namespace\":\"default\"},\"data\":{\"pad\":\"%s\"}}]}}}",
				   cl, cr->work_body);
			t_create[i] = now_s();
		} else {
			snprintf(path, sizeof(path), "/apis/cluster.open-cluster-management.io/v1/managedclusters");
			buf_printf(&b,
				   "{\"apiVersion\":\"cluster.open-cluster-management.io/v1\",\"kind\":\"ManagedCluster\","
				   "\"metadata\":{\"name\":\"%s\"},\"spec\":{\"hubAcceptsClient\":true}}", cl);
		}
		code = api_post(c, path, b.data);
		if (code == 201)
			atomic_fetch_add(&creates_done, 1);
		else
			atomic_fetch_add(&creates_failed, 1);
	}
	buf_free(&b);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	return NULL;
}

static struct creator *creators; /* the running creates */
static char *work_pad;

/* Wait for the creator threads. */
static void create_join(void)
{
	for (int t = 0; t < n_creators; t++)
		pthread_join(creators[t].th, NULL);
	free(creators);
	creators = NULL;
	free(work_pad);
	work_pad = NULL;
}

/* Create the clusters (waits) or the works (returns at once: create_join). */
static void create_all(bool works)
{
	struct creator *cr = xcalloc((size_t)n_creators, sizeof(*cr));
	char *pad = NULL;

	if (works) {
		/* the manifest's JSON around the padding is about 200 bytes */
		size_t n = work_bytes > 256 ? work_bytes - 200 : 56;

		pad = xmalloc(n + 1);
		memset(pad, 'x', n);
		pad[n] = '\0';
	}
	atomic_store(&creates_done, 0);
	atomic_store(&creates_failed, 0);
	for (int t = 0; t < n_creators; t++) {
		cr[t].first = t;
		cr[t].step = n_creators;
		cr[t].works = works;
		cr[t].work_body = pad;
		pthread_create(&cr[t].th, NULL, creator_main, &cr[t]);
	}
	creators = cr;
	work_pad = pad;
	if (works)
		return;
	create_join();
	if (atomic_load(&creates_failed))
		die("%d cluster creates failed", atomic_load(&creates_failed));
}

/* Agents ------------------------------------------------------------------------ */

static void agent_fail(struct agent *a, const char *why)
{
	if (a->state == A_DEAD)
		return;
	fprintf(stderr, "swarm: agent %s: %s\n", a->cluster, why);
	a->state = A_DEAD;
	epoll_ctl(epfd, EPOLL_CTL_DEL, a->fd, NULL);
}

static void queue_bytes(struct agent *a, const void *p, size_t n)
{
	if (buf_append(&a->out, p, n) < 0)
		agent_fail(a, "output buffer full");
}

/* A masked client text frame. */
static void send_text(struct agent *a, const char *txt, size_t n)
{
	unsigned char hdr[14], mask[4];
	size_t h = 0, i;
	char *tmp;

	hdr[h++] = 0x81;
	if (n < 126) {
		hdr[h++] = (unsigned char)(0x80 | n);
	} else if (n < 65536) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(n >> 8);
		hdr[h++] = (unsigned char)n;
	} else {
		hdr[h++] = 0x80 | 127;
		for (int k = 7; k >= 0; k--)
			hdr[h++] = (unsigned char)((uint64_t)n >> (8 * k));
	}
	RAND_bytes(mask, 4);
	memcpy(hdr + h, mask, 4);
	h += 4;
	tmp = xmalloc(n);
	for (i = 0; i < n; i++)
		tmp[i] = (char)(txt[i] ^ mask[i & 3]);
	queue_bytes(a, hdr, h);
	queue_bytes(a, tmp, n);
	free(tmp);
	a->want_write = true;
}

static void send_event(struct agent *a, struct proto_event *ev)
{
	char *txt = NULL;
	size_t len = 0;
	int r = proto_event_encode(ev, NULL, &txt, &len);

	proto_event_free(ev);
	if (r < 0) {
		agent_fail(a, "cannot encode an event");
		return;
	}
	send_text(a, txt, len);
	free(txt);
}

static void agent_source(const struct agent *a, char *out, size_t n)
{
	snprintf(out, n, "nave-klusterlet/%s", a->cluster);
}

static void on_event(struct agent *a, const char *msg, size_t len)
{
	struct proto_event *ev = NULL;
	struct errbuf err = {""};
	char src[64];

	if (proto_event_decode(msg, len, NULL, &err, &ev) < 0) {
		fprintf(stderr, "swarm: agent %s: the hub sent an invalid event: %s\n", a->cluster, err.msg);
		return;
	}
	agent_source(a, src, sizeof(src));
	switch (ev->kind) {
	case PROTO_EV_HELLO:
		send_event(a, proto_event_new_spec_resync_request(src, a->cluster, NULL, 0));
		a->state = A_READY;
		break;
	case PROTO_EV_SPEC_CREATE:
	case PROTO_EV_SPEC_UPDATE:
	case PROTO_EV_SPEC_RESYNC_RESPONSE:
		if (ev->resourceid && ev->data && !a->work_uid[0]) {
			json_t *st = proto_bundle_status(json_pack("[{s:s, s:s, s:s, s:I}]", "type", "Applied", "status",
								   "True", "reason", "AppliedManifestWorkComplete",
								   "observedGeneration", (json_int_t)ev->resourceversion),
							 NULL);

			snprintf(a->work_uid, sizeof(a->work_uid), "%s", ev->resourceid);
			a->t_work = now_s();
			a->seq = (uint64_t)time(NULL) * 1000000u + (uint64_t)a->idx;
			send_event(a, proto_event_new_status(PROTO_EV_STATUS_UPDATE, src, a->cluster, ev->resourceid,
							     ev->resourceversion, a->seq, st));
			json_decref(st);
		}
		break;
	case PROTO_EV_STATUS_ACK:
		if (a->work_uid[0] && ev->resourceid && !strcmp(ev->resourceid, a->work_uid) && ev->sequenceid == a->seq &&
		    a->t_ack == 0)
			a->t_ack = now_s();
		break;
	case PROTO_EV_ERROR:
		fprintf(stderr, "swarm: agent %s: error from the hub: %s\n", a->cluster,
			json_string_value(json_object_get(ev->data, "message")));
		break;
	default:
		break;
	}
	proto_event_free(ev);
}

/* Parse frames out of a->in. */
static void parse_frames(struct agent *a)
{
	size_t off = 0;

	while (a->in.len - off >= 2) {
		const unsigned char *p = (const unsigned char *)a->in.data + off;
		size_t have = a->in.len - off, h = 2;
		uint64_t n = p[1] & 0x7f;
		int op = p[0] & 0x0f;
		bool fin = p[0] & 0x80;

		if (n == 126) {
			if (have < 4)
				break;
			n = ((uint64_t)p[2] << 8) | p[3];
			h = 4;
		} else if (n == 127) {
			if (have < 10)
				break;
			n = 0;
			for (int k = 0; k < 8; k++)
				n = (n << 8) | p[2 + k];
			h = 10;
		}
		if (n > SWARM_RX_MAX) {
			agent_fail(a, "frame too large");
			return;
		}
		if (have < h + n)
			break;
		if (op == 0x8) {
			agent_fail(a, "the hub closed the connection");
			return;
		}
		if (op == 0x1 || op == 0x0) {
			if (op == 0x1)
				buf_reset(&a->msg);
			if (buf_append(&a->msg, p + h, (size_t)n) < 0) {
				agent_fail(a, "message too large");
				return;
			}
			if (fin)
				on_event(a, a->msg.data, a->msg.len);
		}
		off += h + (size_t)n;
	}
	if (off) {
		memmove(a->in.data, a->in.data + off, a->in.len - off);
		a->in.len -= off;
	}
}

static void update_events(struct agent *a)
{
	struct epoll_event ev = {.events = EPOLLIN | (a->want_write || a->state == A_TCP ? EPOLLOUT : 0u),
				 .data.ptr = a};

	epoll_ctl(epfd, EPOLL_CTL_MOD, a->fd, &ev);
}

static void agent_start(struct agent *a)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)hub_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = a};
	BIO *bio;
	X509 *x;
	int one = 1;

	a->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (a->fd < 0)
		die("socket: %s (raise the file descriptor limit)", strerror(errno));
	setsockopt(a->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(a->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		die("connect: %s", strerror(errno));
	a->ssl = SSL_new(sslctx);
	bio = BIO_new_mem_buf(a->cert_pem, -1);
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!x || SSL_use_certificate(a->ssl, x) != 1 || SSL_use_PrivateKey(a->ssl, agent_key) != 1)
		die("cannot load the certificate of %s", a->cluster);
	X509_free(x);
	SSL_set_fd(a->ssl, a->fd);
	SSL_set_connect_state(a->ssl);
	a->state = A_TCP;
	epoll_ctl(epfd, EPOLL_CTL_ADD, a->fd, &ev);
}

static void agent_io(struct agent *a)
{
	char tmp[16384];
	int n;

	if (a->state == A_TCP)
		a->state = A_TLS;
	if (a->state == A_TLS) {
		n = SSL_do_handshake(a->ssl);
		if (n != 1) {
			int e = SSL_get_error(a->ssl, n);

			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
				a->want_write = e == SSL_ERROR_WANT_WRITE;
				update_events(a);
				return;
			}
			agent_fail(a, "TLS handshake failed");
			return;
		}
		buf_printf(&a->out,
			   "GET " PROTO_WS_PATH " HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
			   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: " PROTO_WS_SUBPROTOCOL "\r\n\r\n",
			   hub_port);
		a->want_write = true;
		a->state = A_UPGRADE;
	}
	/* write what is queued */
	while (a->out_off < a->out.len) {
		n = SSL_write(a->ssl, a->out.data + a->out_off, (int)(a->out.len - a->out_off));
		if (n <= 0) {
			int e = SSL_get_error(a->ssl, n);

			if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
				break;
			agent_fail(a, "write failed");
			return;
		}
		a->out_off += (size_t)n;
	}
	if (a->out_off == a->out.len) {
		buf_reset(&a->out);
		a->out_off = 0;
		a->want_write = false;
	}
	/* read what is there */
	for (;;) {
		n = SSL_read(a->ssl, tmp, sizeof(tmp));
		if (n <= 0) {
			int e = SSL_get_error(a->ssl, n);

			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				break;
			agent_fail(a, "connection closed");
			return;
		}
		if (buf_append(&a->in, tmp, (size_t)n) < 0) {
			agent_fail(a, "input buffer full");
			return;
		}
	}
	if (a->state == A_UPGRADE) {
		char *end = a->in.data ? strstr(a->in.data, "\r\n\r\n") : NULL;
		char src[64];

		if (end) {
			size_t hl = (size_t)(end + 4 - a->in.data);

			if (strncmp(a->in.data, "HTTP/1.1 101", 12)) {
				agent_fail(a, "upgrade refused");
				return;
			}
			memmove(a->in.data, a->in.data + hl, a->in.len - hl);
			a->in.len -= hl;
			a->in.data[a->in.len] = '\0';
			agent_source(a, src, sizeof(src));
			send_event(a, proto_event_new_hello(src, a->cluster, "swarm", 0));
			a->state = A_HELLO;
		}
	}
	if (a->state == A_HELLO || a->state == A_READY)
		parse_frames(a);
	if (a->state == A_DEAD)
		return;
	if (a->want_write && a->out_off < a->out.len) {
		n = SSL_write(a->ssl, a->out.data + a->out_off, (int)(a->out.len - a->out_off));
		if (n > 0)
			a->out_off += (size_t)n;
		if (a->out_off == a->out.len) {
			buf_reset(&a->out);
			a->out_off = 0;
			a->want_write = false;
		}
	}
	update_events(a);
}

/* Run the loop until done() or the deadline. Heartbeats every SWARM_HEARTBEAT_S. */
static bool run_until(bool (*done)(void), double deadline)
{
	struct epoll_event evs[256];
	static double last_beat;

	while (!done()) {
		int n = epoll_wait(epfd, evs, 256, 100);

		for (int i = 0; i < n; i++)
			agent_io(evs[i].data.ptr);
		if (now_s() - last_beat > SWARM_HEARTBEAT_S) {
			last_beat = now_s();
			for (int i = 0; i < n_agents; i++) {
				struct agent *a = &agents[i];
				char src[64];

				if (a->state != A_READY)
					continue;
				agent_source(a, src, sizeof(src));
				send_event(a, proto_event_new_heartbeat(src, a->cluster));
				agent_io(a);
			}
		}
		if (now_s() > deadline)
			return false;
	}
	return true;
}

static int next_to_start;

static bool all_ready(void)
{
	int ready = 0, pending = 0;

	for (int i = 0; i < next_to_start; i++) {
		if (agents[i].state == A_READY)
			ready++;
		else if (agents[i].state != A_DEAD)
			pending++;
	}
	while (next_to_start < n_agents && pending < SWARM_CONNECT_BATCH) {
		agent_start(&agents[next_to_start++]);
		pending++;
	}
	return ready == n_agents || (next_to_start == n_agents && pending == 0);
}

static bool all_acked(void)
{
	for (int i = 0; i < n_agents; i++)
		if (agents[i].state == A_READY && agents[i].t_ack == 0)
			return false;
	return true;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

/* Setup ------------------------------------------------------------------------ */

static void mint_certs(void)
{
	struct x509_ca *ca = NULL;
	struct x509_key *key = NULL;
	struct errbuf err = {""};
	char crt[200], keyp[200], *kpem = NULL;
	BIO *bio;

	snprintf(crt, sizeof(crt), "%s/ca.crt", datadir);
	snprintf(keyp, sizeof(keyp), "%s/ca.key", datadir);
	if (x509_ca_load(crt, keyp, &ca, &err) < 0 || x509_key_generate(&key, &err) < 0 ||
	    x509_key_pem(key, &kpem, &err) < 0)
		die("CA: %s", err.msg);
	for (int i = 0; i < n_agents; i++) {
		char cn[128], org[128];
		struct x509_cert_spec spec = {.cn = cn, .org = org, .usage = X509_USAGE_CLIENT, .lifetime = 86400};

		snprintf(cn, sizeof(cn), "system:open-cluster-management:%s:swarm", agents[i].cluster);
		snprintf(org, sizeof(org), "system:open-cluster-management:%s", agents[i].cluster);
		if (x509_ca_sign(ca, key, &spec, &agents[i].cert_pem, &err) < 0)
			die("sign: %s", err.msg);
	}
	bio = BIO_new_mem_buf(kpem, -1);
	agent_key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!agent_key)
		die("cannot read the agents' key back");
	free(kpem);
	x509_key_free(key);
	x509_ca_free(ca);
	sslctx = SSL_CTX_new(TLS_client_method());
	if (!sslctx || SSL_CTX_load_verify_locations(sslctx, crt, NULL) != 1)
		die("TLS client setup failed");
	SSL_CTX_set_verify(sslctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_alpn_protos(sslctx, (const unsigned char *)"\x08http/1.1", 9);
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < (rlim_t)n_agents + 64)
		die("the file descriptor limit (%llu) is too low for %d agents", (unsigned long long)rl.rlim_cur,
		    n_agents);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"agents", required_argument, NULL, 'n'}, {"work-bytes", required_argument, NULL, 'b'},
		{"creators", required_argument, NULL, 'c'}, {"keep", no_argument, NULL, 'k'},
		{NULL, 0, NULL, 0},
	};
	double t0, t_conn, t_first, t_last = 0, cpu0, cpu1, *lat;
	long rss_idle, rss_conn;
	int c, ok = 0, ready = 0;
	char cmd[300];

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n')
			n_agents = atoi(optarg);
		else if (c == 'b')
			work_bytes = (size_t)atol(optarg);
		else if (c == 'c')
			n_creators = atoi(optarg);
		else if (c == 'k')
			keep = true;
		else
			die("usage: swarm [--agents N] [--work-bytes B] [--creators T] [--keep]");
	}
	if (n_agents < 1 || n_agents > 20000 || work_bytes < 256 || work_bytes > 400000 || n_creators < 1 ||
	    n_creators > 64)
		die("--agents 1..20000, --work-bytes 256..400000, --creators 1..64");
	hub_bin = getenv("NAVE_HUB") ? getenv("NAVE_HUB") : "nave-hub";
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (!mkdtemp(tmpdir))
		die("mkdtemp: %s", strerror(errno));
	snprintf(datadir, sizeof(datadir), "%s/d", tmpdir);
	agents = xcalloc((size_t)n_agents, sizeof(*agents));
	t_create = xcalloc((size_t)n_agents, sizeof(*t_create));
	for (int i = 0; i < n_agents; i++) {
		agents[i].idx = i;
		agents[i].fd = -1;
		snprintf(agents[i].cluster, sizeof(agents[i].cluster), "swarm-%05d", i);
		buf_init(&agents[i].in, SWARM_RX_MAX + 64);
		buf_init(&agents[i].out, 4u << 20);
		buf_init(&agents[i].msg, SWARM_RX_MAX);
	}
	run_init();
	start_hub();
	read_admin_token();
	printf("swarm: hub on port %d, %d agents, %zu-byte works, data in %s\n", hub_port, n_agents, work_bytes,
	       tmpdir);
	t0 = now_s();
	create_all(false);
	printf("clusters created (accepted):   %d in %.2f s\n", n_agents, now_s() - t0);
	mint_certs();
	epfd = epoll_create1(EPOLL_CLOEXEC);
	rss_idle = hub_rss_kib();
	t0 = now_s();
	run_until(all_ready, t0 + SWARM_DEADLINE_S);
	t_conn = now_s() - t0;
	for (int i = 0; i < n_agents; i++)
		ready += agents[i].state == A_READY;
	if (ready < n_agents)
		die("only %d of %d agents connected", ready, n_agents);
	/* let the hub settle (lease writes, resync answers) before measuring */
	{
		double settle = now_s() + 2;

		while (now_s() < settle) {
			struct epoll_event evs[64];
			int n = epoll_wait(epfd, evs, 64, 100);

			for (int i = 0; i < n; i++)
				agent_io(evs[i].data.ptr);
		}
	}
	rss_conn = hub_rss_kib();
	printf("agents connected:              %d in %.2f s (mTLS, hello, resync)\n", ready, t_conn);
	printf("hub RSS:                       %ld KiB before, %ld KiB with %d agents: %.1f KiB per agent\n", rss_idle,
	       rss_conn, n_agents, (double)(rss_conn - rss_idle) / n_agents);
	cpu0 = hub_cpu_s();
	t_first = now_s();
	create_all(true);
	run_until(all_acked, t_first + SWARM_DEADLINE_S);
	cpu1 = hub_cpu_s();
	create_join();
	lat = xcalloc((size_t)n_agents, sizeof(*lat));
	for (int i = 0; i < n_agents; i++) {
		if (agents[i].t_ack == 0 || t_create[i] == 0)
			continue;
		lat[ok++] = agents[i].t_ack - t_create[i];
		if (agents[i].t_ack > t_last)
			t_last = agents[i].t_ack;
	}
	qsort(lat, (size_t)ok, sizeof(*lat), cmp_double);
	printf("works delivered and acked:     %d of %d (creates: %d ok, %d failed)\n", ok, n_agents,
	       atomic_load(&creates_done), atomic_load(&creates_failed));
	if (ok) {
		printf("create -> ack, per agent:      p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", lat[ok / 2] * 1e3,
		       lat[(size_t)((ok - 1) * 0.99)] * 1e3, lat[ok - 1] * 1e3);
		printf("all %d acked after:          %.2f s from the first create\n", ok, t_last - t_first);
		printf("hub CPU:                       %.2f s for the phase, %.3f ms per delivered work "
		       "(API create + push + status write + ack)\n",
		       cpu1 - cpu0, (cpu1 - cpu0) * 1e3 / ok);
		printf("hub RSS after:                 %ld KiB\n", hub_rss_kib());
	}
	kill(hub_pid, SIGTERM);
	if (waitpid(hub_pid, &c, 0) < 0 || !WIFEXITED(c) || WEXITSTATUS(c)) {
		fprintf(stderr, "swarm: nave-hub did not exit cleanly on SIGTERM (see %s/serve.log)\n", tmpdir);
		keep = true;
		ok = -1;
	}
	if (!keep) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "swarm: could not remove %s\n", tmpdir);
	}
	for (int i = 0; i < n_agents; i++) {
		SSL_free(agents[i].ssl);
		if (agents[i].fd >= 0)
			close(agents[i].fd);
		free(agents[i].cert_pem);
		buf_free(&agents[i].in);
		buf_free(&agents[i].out);
		buf_free(&agents[i].msg);
	}
	free(agents);
	free(t_create);
	free(lat);
	EVP_PKEY_free(agent_key);
	SSL_CTX_free(sslctx);
	close(epfd);
	curl_global_cleanup();
	return ok == n_agents ? 0 : 1;
}
