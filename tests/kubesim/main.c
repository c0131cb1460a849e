/* main.c - nave-kubesim: several emulated Kubernetes clusters in one process.
 *
 * Parses the flags, starts every cluster (cluster.c) on one libuv loop,
 * prints "ready: N clusters" once all listen, and on SIGTERM or SIGINT stops
 * them and lets the loop drain before exiting 0. Bad flags exit 2 with a
 * message; a cluster that cannot start exits 1.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "kapi.h"
#include "kubesim.h"
#include "log.h"
#include "x509.h"

static const char usage[] =
	"Usage: nave-kubesim [OPTIONS]\n"
	"\n"
	"Emulates Kubernetes API servers (with simulated controllers) for tests and demos.\n"
	"Cluster i is served on BASE-PORT+i-1; its kubeconfig is DIR/<name>/kubeconfig.\n"
	"Everything is kept in memory; SIGTERM or SIGINT stops it cleanly.\n"
	"\n"
	"Options:\n"
	"  --clusters N            number of clusters, named cluster-1..cluster-N (default 1, max 64)\n"
	"  --names A,B,C           cluster names instead of cluster-i (DNS labels); sets the count\n"
	"  --base-port P           port of the first cluster, the others follow (default 0: free ports,\n"
	"                          read them from the kubeconfigs)\n"
	"  --dir D                 directory for DIR/<name>/{kubeconfig,ca.crt,token,tls.crt,tls.key}\n"
	"                          (required)\n"
	"  --listen ADDR           address to listen on (default 127.0.0.1)\n"
	"  --plain-http            serve plain HTTP instead of HTTPS (no CA, no certificates)\n"
	"  --ready-delay DURATION  replicas become ready this long after they are created or changed\n"
	"                          (default 1s; e.g. 300ms, 1.5s, 2m)\n"
	"  --fail-pattern PREFIX   an image whose tag starts with PREFIX never becomes ready, so its\n"
	"                          Deployment ends in ProgressDeadlineExceeded (default \"fail\",\n"
	"                          e.g. web:fail-2)\n"
	"  --nodes N               simulated nodes per cluster (default 1)\n"
	"  --in-cluster-dir D      also write D/<name>/serviceaccount/{token,ca.crt,namespace} for\n"
	"                          clients' in-cluster configuration\n"
	"  --token-file FILE       accept the bearer tokens of FILE (Kubernetes static token file:\n"
	"                          token,user,uid[,\"groups\"] per line); the first one goes into the\n"
	"                          kubeconfigs (default: a random token per cluster)\n"
	"  --bookmark-interval DURATION\n"
	"                          period of BOOKMARK events on watches that allow them (default 60s)\n"
	"  --watch-history N       changes kept per cluster for watch resume; older resourceVersions\n"
	"                          get 410 Expired (default 4096)\n"
	"  --log-level LEVEL       debug, info, warn or error (default info)\n"
	"  -h, --help              show this help\n"
	"\n"
	"Requests need \"Authorization: Bearer <token>\" (401 otherwise), except /healthz, /livez,\n"
	"/readyz and /version.\n";

enum {
	OPT_CLUSTERS = 256,
	OPT_NAMES,
	OPT_BASE_PORT,
	OPT_DIR,
	OPT_LISTEN,
	OPT_PLAIN,
	OPT_READY_DELAY,
	OPT_FAIL_PATTERN,
	OPT_NODES,
	OPT_IN_CLUSTER,
	OPT_TOKEN_FILE,
	OPT_BOOKMARK,
	OPT_HISTORY,
	OPT_LOG_LEVEL,
};

struct kubesim {
	uv_loop_t *loop;
	struct kubesim_opts opts;
	struct kubesim_cluster *clusters[KUBESIM_MAX_CLUSTERS];
	unsigned n;
	uv_signal_t sigterm, sigint;
	bool stopping;
};

/* See kubesim.h. */
int kubesim_parse_duration(const char *s, uint64_t *ret_ms)
{
	char *end;
	double v, mul;

	if (!s || !*s)
		return -EINVAL;
	if (!strcmp(s, "0")) {
		*ret_ms = 0;
		return 0;
	}
	v = strtod(s, &end);
	if (end == s || v < 0 || !isfinite(v))
		return -EINVAL;
	if (!strcmp(end, "ms"))
		mul = 1;
	else if (!strcmp(end, "s"))
		mul = 1000;
	else if (!strcmp(end, "m"))
		mul = 60000;
	else if (!strcmp(end, "h"))
		mul = 3600000;
	else
		return -EINVAL;
	v *= mul;
	if (v > 24.0 * 3600000)
		return -EINVAL;
	*ret_ms = (uint64_t)(v + 0.5);
	return 0;
}

static int bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "nave-kubesim: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'nave-kubesim --help'.\n");
	return 2;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static bool valid_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 63)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return s[0] != '-' && s[n - 1] != '-';
}

static void strv_free(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* Read a Kubernetes static token file: the first CSV field of each line. */
static int load_tokens(const char *path, char ***ret_tokens)
{
	struct errbuf eb = {{0}};
	char *data = NULL, *line, *save = NULL;
	size_t len = 0, n = 0;
	char **toks;
	int r;

	r = x509_file_read(path, KUBESIM_TOKEN_FILE_MAX, &data, &len, &eb);
	if (r < 0) {
		fprintf(stderr, "nave-kubesim: --token-file %s: %s\n", path, eb.msg[0] ? eb.msg : strerror(-r));
		return r;
	}
	toks = xcalloc(KUBESIM_MAX_TOKENS + 1, sizeof(*toks));
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *comma = strchr(line, ','), *t = line;
		size_t tl;

		if (comma)
			*comma = '\0';
		while (*t == ' ' || *t == '\t')
			t++;
		tl = strlen(t);
		while (tl && (t[tl - 1] == '\r' || t[tl - 1] == ' '))
			t[--tl] = '\0';
		if (!tl || t[0] == '#')
			continue;
		if (tl > KUBESIM_TOKEN_MAX || n == KUBESIM_MAX_TOKENS) {
			fprintf(stderr, "nave-kubesim: --token-file %s: too many or too long tokens (max %d of %d bytes)\n",
				path, KUBESIM_MAX_TOKENS, KUBESIM_TOKEN_MAX);
			strv_free(toks);
			free(data);
			return -E2BIG;
		}
		toks[n++] = xstrdup(t);
	}
	memset(data, 0, len);
	free(data);
	if (!n) {
		fprintf(stderr, "nave-kubesim: --token-file %s: no token in the file\n", path);
		strv_free(toks);
		return -EINVAL;
	}
	*ret_tokens = toks;
	return 0;
}

static int parse_args(int argc, char **argv, struct kubesim_opts *o, bool *ret_help)
{
	static const struct option longopts[] = {
		{"clusters", required_argument, NULL, OPT_CLUSTERS},
		{"names", required_argument, NULL, OPT_NAMES},
		{"base-port", required_argument, NULL, OPT_BASE_PORT},
		{"dir", required_argument, NULL, OPT_DIR},
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"plain-http", no_argument, NULL, OPT_PLAIN},
		{"ready-delay", required_argument, NULL, OPT_READY_DELAY},
		{"fail-pattern", required_argument, NULL, OPT_FAIL_PATTERN},
		{"nodes", required_argument, NULL, OPT_NODES},
		{"in-cluster-dir", required_argument, NULL, OPT_IN_CLUSTER},
		{"token-file", required_argument, NULL, OPT_TOKEN_FILE},
		{"bookmark-interval", required_argument, NULL, OPT_BOOKMARK},
		{"watch-history", required_argument, NULL, OPT_HISTORY},
		{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *names = NULL;
	unsigned long v;
	bool clusters_set = false;
	int c;
	unsigned i;

	o->clusters = 1;
	o->listen = "127.0.0.1";
	o->ready_delay_ms = 1000;
	o->fail_pattern = "fail";
	o->nodes = 1;
	o->bookmark_ms = 60000;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CLUSTERS:
			if (parse_uint(optarg, KUBESIM_MAX_CLUSTERS, &v) < 0 || v == 0)
				return bad("--clusters: expected a number from 1 to 64, got '%s'", optarg);
			o->clusters = (unsigned)v;
			clusters_set = true;
			break;
		case OPT_NAMES:
			names = optarg;
			break;
		case OPT_BASE_PORT:
			if (parse_uint(optarg, 65535, &v) < 0)
				return bad("--base-port: expected a port from 0 to 65535, got '%s'", optarg);
			o->base_port = (int)v;
			break;
		case OPT_DIR:
			o->dir = optarg;
			break;
		case OPT_LISTEN:
			if (!*optarg)
				return bad("--listen: expected an address, got '%s'", optarg);
			o->listen = optarg;
			break;
		case OPT_PLAIN:
			o->plain_http = true;
			break;
		case OPT_READY_DELAY:
			if (kubesim_parse_duration(optarg, &o->ready_delay_ms) < 0)
				return bad("--ready-delay: expected a duration such as 300ms, 1s or 2m (at most 24h), got '%s'",
					   optarg);
			break;
		case OPT_FAIL_PATTERN:
			if (!*optarg)
				return bad("--fail-pattern: expected a non-empty tag prefix%s", "");
			o->fail_pattern = optarg;
			break;
		case OPT_NODES:
			if (parse_uint(optarg, 1000, &v) < 0)
				return bad("--nodes: expected a number from 0 to 1000, got '%s'", optarg);
			o->nodes = (unsigned)v;
			break;
		case OPT_IN_CLUSTER:
			o->in_cluster_dir = optarg;
			break;
		case OPT_TOKEN_FILE:
			o->token_file = optarg;
			break;
		case OPT_BOOKMARK:
			if (kubesim_parse_duration(optarg, &o->bookmark_ms) < 0 || o->bookmark_ms == 0)
				return bad("--bookmark-interval: expected a positive duration such as 1s, got '%s'", optarg);
			break;
		case OPT_HISTORY:
			if (parse_uint(optarg, 10000000, &v) < 0 || v == 0)
				return bad("--watch-history: expected a number from 1 to 10000000, got '%s'", optarg);
			o->watch_history = v;
			break;
		case OPT_LOG_LEVEL: {
			enum log_level lvl;

			if (log_level_parse(optarg, &lvl) < 0)
				return bad("--log-level: expected debug, info, warn or error, got '%s'", optarg);
			log_setup(lvl, LOG_FORMAT_TEXT);
			break;
		}
		case 'h':
			*ret_help = true;
			return 0;
		case ':':
			return bad("option '%s' needs a value", argv[optind - 1]);
		default:
			return bad("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad("unexpected argument '%s'", argv[optind]);
	if (!o->dir || !*o->dir)
		return bad("--dir is required (where the kubeconfigs go)%s", "");
	if (names) {
		char *dup = xstrdup(names), *p, *save = NULL;
		unsigned n = 0;

		o->names = xcalloc(KUBESIM_MAX_CLUSTERS + 1, sizeof(char *));
		for (p = strtok_r(dup, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
			if (!valid_name(p) || n == KUBESIM_MAX_CLUSTERS) {
				int r = bad("--names: '%s' is not a valid cluster name (lowercase letters, digits and '-', at most 63; at most 64 names)",
					    p);

				free(dup);
				return r;
			}
			for (i = 0; i < n; i++) {
				if (!strcmp(o->names[i], p)) {
					int r = bad("--names: '%s' is given twice", p);

					free(dup);
					return r;
				}
			}
			o->names[n++] = xstrdup(p);
		}
		free(dup);
		if (!n)
			return bad("--names: expected at least one name%s", "");
		if (clusters_set && n != o->clusters)
			return bad("--clusters and --names disagree on the number of clusters%s", "");
		o->clusters = n;
	} else {
		o->names = xcalloc(o->clusters + 1, sizeof(char *));
		for (i = 0; i < o->clusters; i++)
			o->names[i] = xasprintf("cluster-%u", i + 1);
	}
	if (o->base_port && o->base_port + (int)o->clusters - 1 > 65535)
		return bad("--base-port: the ports of all clusters must fit below 65536%s", "");
	if (o->token_file && load_tokens(o->token_file, &o->tokens) < 0)
		return 2;
	return 0;
}

static void stop(struct kubesim *ks)
{
	unsigned i;

	if (ks->stopping)
		return;
	ks->stopping = true;
	log_info("kubesim: stopping");
	for (i = 0; i < ks->n; i++)
		ks->clusters[i] = kubesim_cluster_free(ks->clusters[i]);
	uv_signal_stop(&ks->sigterm);
	uv_signal_stop(&ks->sigint);
	uv_close((uv_handle_t *)&ks->sigterm, NULL);
	uv_close((uv_handle_t *)&ks->sigint, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	stop(h->data);
}

int main(int argc, char **argv)
{
	struct kubesim ks = {0};
	bool help = false;
	int r, rc = 0;
	unsigned i;

	log_setup(LOG_LVL_INFO, LOG_FORMAT_TEXT);
	r = parse_args(argc, argv, &ks.opts, &help);
	if (help) {
		fputs(usage, stdout);
		goto out;
	}
	if (r) {
		rc = r;
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	ks.loop = uv_default_loop();
	uv_signal_init(ks.loop, &ks.sigterm);
	uv_signal_init(ks.loop, &ks.sigint);
	ks.sigterm.data = ks.sigint.data = &ks;
	uv_signal_start(&ks.sigterm, on_signal, SIGTERM);
	uv_signal_start(&ks.sigint, on_signal, SIGINT);
	for (i = 0; i < ks.opts.clusters; i++) {
		int port = ks.opts.base_port ? ks.opts.base_port + (int)i : 0;

		r = kubesim_cluster_new(ks.loop, &ks.opts, ks.opts.names[i], port, &ks.clusters[i]);
		if (r < 0) {
			fprintf(stderr, "nave-kubesim: cluster %s failed to start: %s\n", ks.opts.names[i], strerror(-r));
			rc = 1;
			stop(&ks);
			break;
		}
		ks.n++;
		log_info("kubesim: %s listening on %s:%d", ks.opts.names[i], ks.opts.listen,
			 kubesim_cluster_port(ks.clusters[i]));
	}
	if (!rc) {
		printf("ready: %u clusters\n", ks.n);
		fflush(stdout);
	}
	uv_run(ks.loop, UV_RUN_DEFAULT);
	uv_loop_close(ks.loop);
out:
	strv_free(ks.opts.names);
	if (ks.opts.tokens) {
		for (i = 0; ks.opts.tokens[i]; i++)
			memset(ks.opts.tokens[i], 0, strlen(ks.opts.tokens[i]));
		strv_free(ks.opts.tokens);
	}
	return rc;
}
