/* init.c - `nave-hub init`: make a new hub's data directory.
 *
 * Creates, in this order, the CA (ECDSA P-256, 10 years), the serving
 * certificate, the SQLite store, the admin token and its kubeconfig, and last
 * hub.json, whose presence marks a finished hub: init refuses a directory
 * holding hub.json or store.db. Keys and secrets are written 0600 into a 0700
 * directory, each file atomically (x509_file_write). A half-finished init
 * (a crash in the middle) leaves no hub.json; remove the directory and rerun.
 *
 * The serving certificate is valid for a year; serve re-issues it from the CA
 * (same names, recorded in hub.json) when less than 30 days are left.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "codec.h"
#include "hub_int.h"
#include "log.h"
#include "store_sqlite.h"
#include "x509.h"

#define HUB_CA_LIFETIME (10LL * 365 * 86400)
#define HUB_SERVING_LIFETIME (365LL * 86400)
#define HUB_ADMIN_TOKEN_BYTES 32

static void init_usage(FILE *out)
{
	fprintf(out,
		"Usage: nave-hub init --data-dir D [--listen ADDR] [--hub-url URL] [--san NAME]...\n"
		"\n"
		"Create a new hub in D: its CA, serving certificate, store and admin credential\n"
		"(D/admin.kubeconfig, usable by navectl and kubectl). Refuses to overwrite a hub.\n"
		"\n"
		"  --data-dir D     directory to create (or an empty one); made mode 0700\n"
		"  --listen ADDR    where serve listens: HOST:PORT, :PORT or PORT (default 0.0.0.0:9443;\n"
		"                   port 0 makes serve pick a free port and rewrite admin.kubeconfig)\n"
		"  --hub-url URL    the URL agents and clients use (default https://<this host>:<port>)\n"
		"  --san NAME       another DNS name or IP address for the serving certificate (repeatable)\n"
		"  -h, --help       this help\n");
}

static bool is_ip(const char *s)
{
	unsigned char b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

static void add_unique(const char **list, size_t *n, size_t cap, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(list[i], s))
			return;
	if (*n < cap)
		list[(*n)++] = s;
}

/* See hub_int.h. */
int hub_issue_serving_cert(const struct hub_config *cfg, const struct x509_ca *ca, struct errbuf *err)
{
	const char *dns[X509_SAN_MAX], *ips[X509_SAN_MAX];
	size_t n_dns = 0, n_ips = 0;
	char host[256], *cert = NULL, *keypem = NULL, *p;
	struct x509_key *key = NULL;
	int r;

	add_unique(dns, &n_dns, X509_SAN_MAX / 2, "localhost");
	add_unique(ips, &n_ips, X509_SAN_MAX / 2, "127.0.0.1");
	add_unique(ips, &n_ips, X509_SAN_MAX / 2, "::1");
	if (hub_url_host(cfg->hub_url, host, sizeof(host)) == 0)
		add_unique(is_ip(host) ? ips : dns, is_ip(host) ? &n_ips : &n_dns, X509_SAN_MAX / 2, host);
	if (cfg->listen_host && *cfg->listen_host && strcmp(cfg->listen_host, "0.0.0.0") &&
	    strcmp(cfg->listen_host, "::"))
		add_unique(is_ip(cfg->listen_host) ? ips : dns, is_ip(cfg->listen_host) ? &n_ips : &n_dns,
			   X509_SAN_MAX / 2, cfg->listen_host);
	for (size_t i = 0; cfg->sans && cfg->sans[i]; i++)
		add_unique(is_ip(cfg->sans[i]) ? ips : dns, is_ip(cfg->sans[i]) ? &n_ips : &n_dns,
			   X509_SAN_MAX / 2, cfg->sans[i]);
	if ((r = x509_key_generate(&key, err)) < 0)
		goto out;
	{
		struct x509_cert_spec spec = {
			.cn = "nave-hub", .dns = dns, .n_dns = n_dns, .ips = ips, .n_ips = n_ips,
			.usage = X509_USAGE_SERVER, .lifetime = HUB_SERVING_LIFETIME,
		};

		if ((r = x509_ca_sign(ca, key, &spec, &cert, err)) < 0)
			goto out;
	}
	if ((r = x509_key_pem(key, &keypem, err)) < 0)
		goto out;
	p = xasprintf("%s/serving.key", cfg->data_dir);
	r = x509_file_write(p, keypem, strlen(keypem), 0600, err);
	free(p);
	if (r < 0)
		goto out;
	p = xasprintf("%s/serving.crt", cfg->data_dir);
	r = x509_file_write(p, cert, strlen(cert), 0644, err);
	free(p);
out:
	if (keypem) {
		memset(keypem, 0, strlen(keypem));
		free(keypem);
	}
	free(cert);
	x509_key_free(key);
	return r;
}

/* See hub_int.h. */
int hub_write_kubeconfig(const char *path, const char *server, const char *ca_pem, const char *token,
			 struct errbuf *err)
{
	char *ca64 = base64_encode(ca_pem, strlen(ca_pem));
	char *text = xasprintf("apiVersion: v1\n"
			       "kind: Config\n"
			       "clusters:\n"
			       "- name: nave-hub\n"
			       "  cluster:\n"
			       "    server: %s\n"
			       "    certificate-authority-data: %s\n"
			       "users:\n"
			       "- name: nave-admin\n"
			       "  user:\n"
			       "    token: %s\n"
			       "contexts:\n"
			       "- name: nave-hub\n"
			       "  context:\n"
			       "    cluster: nave-hub\n"
			       "    user: nave-admin\n"
			       "current-context: nave-hub\n",
			       server, ca64, token);
	int r = x509_file_write(path, text, strlen(text), 0600, err);

	memset(text, 0, strlen(text));
	free(text);
	free(ca64);
	return r;
}

/* mkdir -p with 0700 for the last component; refuses an existing hub. */
static int make_data_dir(const char *dir, struct errbuf *err)
{
	char *p = xstrdup(dir), *s;
	struct stat st;
	int r = 0;

	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			r = errbuf_set(err, -errno, "cannot create %s: %s", p, strerror(errno));
			goto out;
		}
		*s = '/';
	}
	if (mkdir(dir, 0700) < 0) {
		if (errno != EEXIST) {
			r = errbuf_set(err, -errno, "cannot create %s: %s", dir, strerror(errno));
			goto out;
		}
		if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
			r = errbuf_set(err, -ENOTDIR, "%s exists and is not a directory", dir);
			goto out;
		}
		if (chmod(dir, 0700) < 0) {
			r = errbuf_set(err, -errno, "cannot make %s private (chmod 0700): %s", dir, strerror(errno));
			goto out;
		}
	}
out:
	free(p);
	return r;
}

static int refuse_existing(const char *dir, struct errbuf *err)
{
	static const char *const marks[] = {"hub.json", "store.db", "ca.key"};

	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		char *p = xasprintf("%s/%s", dir, marks[i]);
		bool exists = access(p, F_OK) == 0;

		free(p);
		if (exists)
			return errbuf_set(err, -EEXIST,
					  "%s already holds a hub (%s exists); refusing to overwrite it: "
					  "use another --data-dir, or remove %s to start over",
					  dir, marks[i], dir);
	}
	return 0;
}

/* See hub_int.h. */
int hub_init_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"data-dir", required_argument, NULL, 'd'},
		{"listen", required_argument, NULL, 'l'},
		{"hub-url", required_argument, NULL, 'u'},
		{"san", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct hub_config cfg = {0};
	struct errbuf err = {""};
	struct x509_ca *ca = NULL;
	struct kapi_store *store = NULL;
	const char *listen = "0.0.0.0:9443", *url = NULL;
	char *keypem = NULL, *p, tokhex[2 * HUB_ADMIN_TOKEN_BYTES + 1], pin[X509_PIN_LEN + 1];
	uint8_t tok[HUB_ADMIN_TOKEN_BYTES];
	size_t n_sans = 0;
	int c, r = -EINVAL;

	cfg.sans = xcalloc(X509_SAN_MAX + 1, sizeof(char *));
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			free(cfg.data_dir);
			cfg.data_dir = xstrdup(optarg);
			break;
		case 'l':
			listen = optarg;
			break;
		case 'u':
			url = optarg;
			break;
		case 's':
			if (n_sans == X509_SAN_MAX / 2 - 4 || !*optarg || strlen(optarg) > X509_DNS_NAME_MAX) {
				fprintf(stderr, "nave-hub init: --san %s: at most %d names of 1..%d characters\n",
					optarg, X509_SAN_MAX / 2 - 4, X509_DNS_NAME_MAX);
				goto out;
			}
			cfg.sans[n_sans++] = xstrdup(optarg);
			break;
		case 'h':
			init_usage(stdout);
			r = 0;
			goto out;
		default:
			init_usage(stderr);
			goto out;
		}
	}
	if (!cfg.data_dir || optind < argc) {
		fprintf(stderr, "nave-hub init: %s\n", cfg.data_dir ? "unexpected argument" : "--data-dir is required");
		init_usage(stderr);
		goto out;
	}
	while (strlen(cfg.data_dir) > 1 && cfg.data_dir[strlen(cfg.data_dir) - 1] == '/')
		cfg.data_dir[strlen(cfg.data_dir) - 1] = '\0';
	if ((r = hub_parse_listen(listen, &cfg.listen_host, &cfg.port, &err)) < 0)
		goto fail;
	if (url) {
		char host[256];

		if (strncmp(url, "https://", 8) || hub_url_host(url, host, sizeof(host)) < 0) {
			r = errbuf_set(&err, -EINVAL, "--hub-url %s: expected https://HOST[:PORT]", url);
			goto fail;
		}
		cfg.hub_url = xstrdup(url);
	} else {
		char host[256] = "";
		const char *h = cfg.listen_host;

		if (!*h || !strcmp(h, "0.0.0.0") || !strcmp(h, "::")) {
			if (gethostname(host, sizeof(host) - 1) < 0 || !*host)
				snprintf(host, sizeof(host), "localhost");
			h = host;
		}
		cfg.hub_url = strchr(h, ':') ? xasprintf("https://[%s]:%d", h, cfg.port)
					     : xasprintf("https://%s:%d", h, cfg.port);
	}
	if ((r = refuse_existing(cfg.data_dir, &err)) < 0 || (r = make_data_dir(cfg.data_dir, &err)) < 0 ||
	    (r = refuse_existing(cfg.data_dir, &err)) < 0)
		goto fail;

	/* The CA. */
	if ((r = x509_ca_create("nave-hub-ca", HUB_CA_LIFETIME, &ca, &err)) < 0 ||
	    (r = x509_key_pem(x509_ca_key(ca), &keypem, &err)) < 0)
		goto fail;
	p = xasprintf("%s/ca.key", cfg.data_dir);
	r = x509_file_write(p, keypem, strlen(keypem), 0600, &err);
	free(p);
	if (r < 0)
		goto fail;
	p = xasprintf("%s/ca.crt", cfg.data_dir);
	r = x509_file_write(p, x509_ca_cert_pem(ca), strlen(x509_ca_cert_pem(ca)), 0644, &err);
	free(p);
	if (r < 0 || (r = hub_issue_serving_cert(&cfg, ca, &err)) < 0)
		goto fail;

	/* The store. */
	{
		struct store_sqlite_config sc = {0};

		p = xasprintf("%s/store.db", cfg.data_dir);
		sc.path = p;
		sc.create = true;
		r = store_sqlite_open(&sc, &store, &err);
		free(p);
		if (r < 0)
			goto fail;
		store->ops->free(store);
	}

	/* The admin credential: only its hash is kept by the hub. */
	if ((r = random_bytes(tok, sizeof(tok))) < 0) {
		errbuf_set(&err, r, "cannot read random bytes: %s", strerror(-r));
		goto fail;
	}
	hex_encode(tok, sizeof(tok), tokhex);
	sha256(tokhex, strlen(tokhex), cfg.admin_hash);
	p = xasprintf("%s/admin.kubeconfig", cfg.data_dir);
	r = hub_write_kubeconfig(p, cfg.hub_url, x509_ca_cert_pem(ca), tokhex, &err);
	free(p);
	memset(tokhex, 0, sizeof(tokhex));
	memset(tok, 0, sizeof(tok));
	if (r < 0 || (r = hub_config_save(&cfg, &err)) < 0)
		goto fail;

	x509_ca_pin(ca, pin);
	printf("Initialized a new hub in %s\n"
	       "  hub URL:           %s\n"
	       "  CA pin:            %s\n"
	       "  admin kubeconfig:  %s/admin.kubeconfig (keep it secret)\n"
	       "Start it with:       nave-hub serve --data-dir %s\n",
	       cfg.data_dir, cfg.hub_url, pin, cfg.data_dir, cfg.data_dir);
	r = 0;
	goto out;
fail:
	fprintf(stderr, "nave-hub init: %s\n", err.msg[0] ? err.msg : strerror(-r));
out:
	if (keypem) {
		memset(keypem, 0, strlen(keypem));
		free(keypem);
	}
	x509_ca_free(ca);
	hub_config_free(&cfg);
	return r < 0 ? 1 : 0;
}
