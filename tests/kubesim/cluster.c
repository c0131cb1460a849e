/* cluster.c - one simulated cluster: kapi server, controllers, HTTPS, files.
 *
 * Per cluster: a CA (ECDSA P-256) and a serving certificate for 127.0.0.1,
 * ::1, localhost, kubernetes, kubernetes.default(.svc) and the listen address;
 * a random bearer token (or the --token-file tokens); the kubeconfig a client
 * needs; the service-account layout for the in-cluster path. Requests are
 * authenticated here through kapi's auth hook: a bearer token ("Bearer" in
 * any case) from the accepted set, else 401 Unauthorized, as a cluster with
 * --anonymous-auth=false answers. /healthz, /livez, /readyz and /version stay
 * readable without a token, as the default system:public-info-viewer role
 * allows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "alloc.h"
#include "codec.h"
#include "controllers.h"
#include "errbuf.h"
#include "httpd.h"
#include "kapi.h"
#include "kapi_store.h"
#include "kubesim.h"
#include "log.h"
#include "x509.h"

#define CA_LIFETIME (10LL * 365 * 86400)
#define CERT_LIFETIME (2LL * 365 * 86400)

struct kubesim_cluster {
	char *name;                  /* owned */
	char *dir;                   /* owned: <dir>/<name> */
	char *token;                 /* owned: the token written to the kubeconfig */
	char *const *extra_tokens;   /* borrowed from opts (lives as long as main) */
	struct kapi_server *kapi;    /* owned */
	struct httpd *httpd;         /* owned */
	struct sim_controllers *ctl; /* owned */
};

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	size_t len = strlen(path), i;

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] == '/' || buf[i] == '\0') {
			char save = buf[i];

			buf[i] = '\0';
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				return -errno;
			buf[i] = save;
		}
	}
	return 0;
}

static int write_file(const char *dir, const char *name, const char *data, mode_t mode)
{
	struct errbuf eb = {{0}};
	char *path = xasprintf("%s/%s", dir, name);
	int r = x509_file_write(path, data, strlen(data), mode, &eb);

	if (r < 0)
		log_error("kubesim: writing %s: %s", path, eb.msg);
	free(path);
	return r;
}

static bool token_eq(const char *given, size_t glen, const char *want)
{
	size_t wlen = strlen(want);

	return glen == wlen && memcmp_const(given, want, wlen) == 0;
}

/* kapi auth hook: see the header comment. */
static int auth(void *data, struct httpd_req *req, const struct kapi_request_attrs *a, struct errbuf *err)
{
	struct kubesim_cluster *c = data;
	const char *h, *tok;
	size_t len, i;

	if (!a->def && (!strcmp(a->path, "/healthz") || !strcmp(a->path, "/livez") || !strcmp(a->path, "/readyz") ||
			!strcmp(a->path, "/version")))
		return 0;
	h = httpd_req_header(req, "authorization");
	if (!h || strncasecmp(h, "bearer ", 7))
		return errbuf_set(err, -EACCES, "Unauthorized");
	tok = h + 7;
	while (*tok == ' ')
		tok++;
	len = strlen(tok);
	while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\r' || tok[len - 1] == '\n'))
		len--;
	if (len == 0 || len > KUBESIM_TOKEN_MAX)
		return errbuf_set(err, -EACCES, "Unauthorized");
	if (token_eq(tok, len, c->token))
		return 0;
	for (i = 0; c->extra_tokens && c->extra_tokens[i]; i++)
		if (token_eq(tok, len, c->extra_tokens[i]))
			return 0;
	return errbuf_set(err, -EACCES, "Unauthorized");
}

static void on_request(struct httpd_req *req, void *userdata)
{
	struct kubesim_cluster *c = userdata;

	kapi_server_handle(c->kapi, req);
}

/* "127.0.0.1" as a URL host ("[::1]" for IPv6; the wildcard becomes loopback). */
static void url_host(const char *listen, char *out, size_t outlen)
{
	if (!strcmp(listen, "0.0.0.0") || !*listen)
		snprintf(out, outlen, "127.0.0.1");
	else if (!strcmp(listen, "::"))
		snprintf(out, outlen, "[::1]");
	else if (strchr(listen, ':'))
		snprintf(out, outlen, "[%s]", listen);
	else
		snprintf(out, outlen, "%s", listen);
}

static bool is_ip(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!(s[i] == '.' || s[i] == ':' || (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return i > 0;
}

static int make_certs(struct kubesim_cluster *c, const struct kubesim_opts *o, char **ret_ca_pem)
{
	struct errbuf eb = {{0}};
	struct x509_ca *ca = NULL;
	struct x509_key *key = NULL;
	char *cert = NULL, *keypem = NULL, *cn = NULL;
	const char *dns[] = {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			     "kubernetes.default.svc.cluster.local", NULL};
	const char *ips[4] = {"127.0.0.1", "::1", NULL, NULL};
	size_t n_ips = 2, n_dns = 5;
	struct x509_cert_spec spec = {0};
	int r;

	if (is_ip(o->listen) && strcmp(o->listen, "127.0.0.1") && strcmp(o->listen, "::1") &&
	    strcmp(o->listen, "0.0.0.0") && strcmp(o->listen, "::"))
		ips[n_ips++] = o->listen;
	else if (!is_ip(o->listen) && strcmp(o->listen, "localhost"))
		dns[n_dns++] = o->listen;
	cn = xasprintf("nave-kubesim-%s-ca", c->name);
	r = x509_ca_create(cn, CA_LIFETIME, &ca, &eb);
	if (r < 0)
		goto out;
	r = x509_key_generate(&key, &eb);
	if (r < 0)
		goto out;
	spec.cn = "kube-apiserver";
	spec.dns = dns;
	spec.n_dns = n_dns;
	spec.ips = ips;
	spec.n_ips = n_ips;
	spec.usage = X509_USAGE_SERVER;
	spec.lifetime = CERT_LIFETIME;
	r = x509_ca_sign(ca, key, &spec, &cert, &eb);
	if (r < 0)
		goto out;
	r = x509_key_pem(key, &keypem, &eb);
	if (r < 0)
		goto out;
	r = write_file(c->dir, "ca.crt", x509_ca_cert_pem(ca), 0644);
	if (r >= 0)
		r = write_file(c->dir, "tls.crt", cert, 0644);
	if (r >= 0)
		r = write_file(c->dir, "tls.key", keypem, 0600);
	if (r < 0)
		goto out;
	*ret_ca_pem = xstrdup(x509_ca_cert_pem(ca));
out:
	if (r < 0 && eb.msg[0])
		log_error("kubesim: %s: certificates: %s", c->name, eb.msg);
	if (keypem) {
		memset(keypem, 0, strlen(keypem));
		free(keypem);
	}
	free(cert);
	free(cn);
	x509_key_free(key);
	x509_ca_free(ca);
	return r;
}

static int write_kubeconfig(struct kubesim_cluster *c, const struct kubesim_opts *o, const char *ca_pem, int port)
{
	char host[300], *server, *ca64 = NULL, *cfg;
	int r;

	url_host(o->listen, host, sizeof(host));
	server = xasprintf("%s://%s:%d", o->plain_http ? "http" : "https", host, port);
	if (ca_pem)
		ca64 = base64_encode(ca_pem, strlen(ca_pem));
	cfg = xasprintf("apiVersion: v1\n"
			"kind: Config\n"
			"clusters:\n"
			"- name: %s\n"
			"  cluster:\n"
			"    server: %s\n"
			"%s%s%s"
			"contexts:\n"
			"- name: %s\n"
			"  context:\n"
			"    cluster: %s\n"
			"    user: %s-admin\n"
			"    namespace: default\n"
			"current-context: %s\n"
			"users:\n"
			"- name: %s-admin\n"
			"  user:\n"
			"    token: %s\n"
			"preferences: {}\n",
			c->name, server, ca64 ? "    certificate-authority-data: " : "", ca64 ? ca64 : "",
			ca64 ? "\n" : "", c->name, c->name, c->name, c->name, c->name, c->token);
	r = write_file(c->dir, "kubeconfig", cfg, 0600);
	memset(cfg, 0, strlen(cfg));
	free(cfg);
	free(ca64);
	free(server);
	return r;
}

static int write_in_cluster(struct kubesim_cluster *c, const struct kubesim_opts *o, const char *ca_pem)
{
	char *dir = xasprintf("%s/%s/serviceaccount", o->in_cluster_dir, c->name);
	int r = mkdir_p(dir, 0755);

	if (r < 0) {
		log_error("kubesim: creating %s: %s", dir, strerror(-r));
		goto out;
	}
	r = write_file(dir, "token", c->token, 0600);
	if (r >= 0 && ca_pem)
		r = write_file(dir, "ca.crt", ca_pem, 0644);
	if (r >= 0)
		r = write_file(dir, "namespace", "default", 0644);
out:
	free(dir);
	return r;
}

/* See kubesim.h. */
int kubesim_cluster_new(uv_loop_t *loop, const struct kubesim_opts *o, const char *name, int port,
			struct kubesim_cluster **ret_cluster)
{
	struct kubesim_cluster *c = xnew(struct kubesim_cluster);
	struct kapi_store *store = NULL;
	struct kapi_store_mem_config mc = {.history = o->watch_history};
	struct kapi_server_config kc = {0};
	struct httpd_config hc = {0};
	struct sim_controllers_config sc = {0};
	char *ca_pem = NULL, *cert_path = NULL, *key_path = NULL, addr[320], host[300];
	uint8_t rnd[24];
	char hex[2 * sizeof(rnd) + 1];
	int r;

	c->name = xstrdup(name);
	c->dir = xasprintf("%s/%s", o->dir, name);
	c->extra_tokens = o->tokens;
	r = mkdir_p(c->dir, 0755);
	if (r < 0) {
		log_error("kubesim: creating %s: %s", c->dir, strerror(-r));
		goto fail;
	}
	if (o->tokens && o->tokens[0]) {
		c->token = xstrdup(o->tokens[0]);
	} else {
		r = random_bytes(rnd, sizeof(rnd));
		if (r < 0)
			goto fail;
		c->token = xstrdup(hex_encode(rnd, sizeof(rnd), hex));
	}
	r = write_file(c->dir, "token", c->token, 0600);
	if (r < 0)
		goto fail;
	if (!o->plain_http) {
		r = make_certs(c, o, &ca_pem);
		if (r < 0)
			goto fail;
		cert_path = xasprintf("%s/tls.crt", c->dir);
		key_path = xasprintf("%s/tls.key", c->dir);
	}
	hc.listen_addr = o->listen;
	hc.port = port;
	hc.cert_path = cert_path;
	hc.key_path = key_path;
	hc.handler = on_request;
	hc.userdata = c;
	r = httpd_new(loop, &hc, &c->httpd);
	if (r < 0) {
		log_error("kubesim: %s: cannot listen on %s port %d: %s", name, o->listen, port, strerror(-r));
		goto fail;
	}
	port = httpd_port(c->httpd);
	url_host(o->listen, host, sizeof(host));
	snprintf(addr, sizeof(addr), "%s:%d", host, port);
	r = kapi_store_mem_new(&mc, &store);
	if (r < 0)
		goto fail;
	kc.server_address = addr;
	kc.check_namespaces = true;
	kc.bookmark_interval_ms = (unsigned)o->bookmark_ms;
	kc.auth = auth;
	kc.auth_data = c;
	r = kapi_server_new(loop, store, &kc, &c->kapi);
	if (r < 0)
		goto fail;
	r = kapi_builtin_register(c->kapi);
	if (r >= 0)
		r = kapi_crd_enable(c->kapi);
	if (r < 0) {
		log_error("kubesim: %s: registering resources: %s", name, strerror(-r));
		goto fail;
	}
	sc.ready_delay_ms = o->ready_delay_ms;
	sc.fail_pattern = o->fail_pattern;
	sc.nodes = o->nodes;
	sc.cluster_name = name;
	r = sim_controllers_new(loop, c->kapi, &sc, &c->ctl);
	if (r < 0) {
		log_error("kubesim: %s: starting controllers: %s", name, strerror(-r));
		goto fail;
	}
	r = write_kubeconfig(c, o, ca_pem, port);
	if (r >= 0 && o->in_cluster_dir)
		r = write_in_cluster(c, o, ca_pem);
	if (r < 0)
		goto fail;
	free(ca_pem);
	free(cert_path);
	free(key_path);
	*ret_cluster = c;
	return 0;
fail:
	free(ca_pem);
	free(cert_path);
	free(key_path);
	kubesim_cluster_free(c);
	return r < 0 ? r : -EIO;
}

/* See kubesim.h. */
struct kubesim_cluster *kubesim_cluster_free(struct kubesim_cluster *c)
{
	if (!c)
		return NULL;
	c->ctl = sim_controllers_free(c->ctl);
	c->httpd = httpd_free(c->httpd);
	c->kapi = kapi_server_free(c->kapi);
	if (c->token) {
		memset(c->token, 0, strlen(c->token));
		free(c->token);
	}
	free(c->name);
	free(c->dir);
	free(c);
	return NULL;
}

/* See kubesim.h. */
int kubesim_cluster_port(const struct kubesim_cluster *c)
{
	return httpd_port(c->httpd);
}
