/* navectl_install.c - `navectl install klusterlet`: the manifests that install
 * nave-klusterlet in one spoke cluster, printed for `kubectl apply -f -`.
 *
 * Like `clusteradm join` printing its manifests, but nothing is applied: the
 * output is the YAML of deploy/klusterlet/ (Namespace, AppliedManifestWork
 * CRD, ServiceAccount and RBAC, bootstrap Secret, DaemonSet; with
 * --work-access all also extra/work-cluster-admin.yaml), embedded into
 * navectl at build time (tools/embed writes navectl_manifests.h),
 * parsed with common/yaml, changed object by object and written back:
 *
 *   - every namespaced object's metadata.namespace, the Namespace's name and
 *     the RBAC subjects' namespace "nave-agent" -> --namespace;
 *   - the bootstrap Secret's hub-url, token, ca-hash and cluster-name;
 *   - the DaemonSet's container images -> --image (when given).
 *
 * The token: --token as given, or a new one made through the hub as `token
 * create` does (POST /nave/v1/tokens with --ttl), which also gives the hub's
 * URL. The CA pin: --ca-hash, or computed from the CA the kubeconfig trusts
 * (from /nave/v1/ca.crt when it names none), as `token create` prints it.
 * With --token, --hub and --ca-hash all given, no hub is contacted.
 *
 * Output is written only once everything succeeded, so a failure never
 * leaves half a manifest on stdout. Runs on navectl's loop through the
 * synchronous helpers of navectl_client.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "kobj.h"
#include "kubeconfig.h"
#include "navectl.h"
#include "navectl_install.h"
#include "nave_config.h"
#include "x509.h"
#include "yaml.h"

/* One embedded file (navectl_manifests.h fills the table). */
struct nctl_manifest_file {
	const char *name;  /* base name in deploy/klusterlet/ */
	const char *text;  /* NUL-terminated YAML */
	size_t len;
};

#include "navectl_manifests.h"

#define INSTALL_TEMPLATE_NS "nave-agent"
#define INSTALL_SECRET_NAME "nave-bootstrap"
#define INSTALL_EXTRA_FILE "work-cluster-admin.yaml"
#define INSTALL_MAX_URL 2048      /* --hub, and the hub's answer */
#define INSTALL_MAX_IMAGE 512     /* --image */
#define INSTALL_TOKEN_ID_LEN 6
#define INSTALL_TOKEN_SECRET_LEN 16
#define INSTALL_DEFAULT_TTL_S (24 * 3600)

static const char install_help[] =
	"Usage: navectl install klusterlet --cluster-name NAME [--token T] [--hub URL]\n"
	"                                  [--ca-hash sha256:H] [--image IMG] [-n NS]\n"
	"                                  [--ttl DUR] [--work-access default|all]\n"
	"\n"
	"Print the manifests that install nave-klusterlet in one spoke cluster: the\n"
	"namespace, the AppliedManifestWork CRD, the service account and its RBAC, the\n"
	"bootstrap Secret (hub URL, token, CA hash, cluster name) and the DaemonSet.\n"
	"Nothing is applied; pipe the output to the spoke cluster:\n"
	"\n"
	"  navectl install klusterlet --cluster-name edge-1 | kubectl --context edge-1 apply -f -\n"
	"  navectl cluster accept edge-1        # once it has registered\n"
	"\n"
	"Without --token a bootstrap token is made on the hub (as `navectl token create`),\n"
	"which needs the hub's admin kubeconfig; the hub's URL and the pin of its CA come\n"
	"from the hub too. With --token, --hub and --ca-hash no hub is contacted.\n"
	"\n"
	"Flags:\n"
	"  --cluster-name NAME     the cluster's name on the hub (DNS label; required)\n"
	"  --token ID.SECRET       an existing bootstrap token instead of a new one\n"
	"  --hub URL               the hub's URL as the spoke's pods reach it (default:\n"
	"                          the hub's own, or the kubeconfig's server with --token)\n"
	"  --ca-hash sha256:HEX    the pin of the hub's CA (default: computed from the CA\n"
	"                          the kubeconfig trusts)\n"
	"  --image IMG             the klusterlet image (default: the manifests')\n"
	"  -n, --namespace NS      the agent's namespace (default nave-agent)\n"
	"  --ttl DUR               lifetime of a new token: 30m, 1h, 7d (default 24h)\n"
	"  --work-access default|all\n"
	"                          default: the RBAC of deploy/klusterlet/10-rbac.yaml\n"
	"                          (usual application kinds); all: also every right on\n"
	"                          every resource, so works may carry CRDs and RBAC\n"
	"\n"
	"The output holds a bootstrap token: treat it as a secret.\n"
	"\n"
	"Exit status: 0 printed, 1 the hub refused (e.g. the token), 2 usage error, 3 hub\n"
	"unreachable or credential refused.\n";

enum {
	OPT_CLUSTER = 1,
	OPT_TOKEN,
	OPT_HUB,
	OPT_CA_HASH,
	OPT_IMAGE,
	OPT_TTL,
	OPT_WORK_ACCESS,
};

static const struct option install_opts[] = {
	{ "cluster-name", required_argument, NULL, OPT_CLUSTER },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ "hub", required_argument, NULL, OPT_HUB },
	{ "ca-hash", required_argument, NULL, OPT_CA_HASH },
	{ "image", required_argument, NULL, OPT_IMAGE },
	{ "ttl", required_argument, NULL, OPT_TTL },
	{ "work-access", required_argument, NULL, OPT_WORK_ACCESS },
	{ NULL, 0, NULL, 0 },
};

struct install_args {
	struct nctl *n;
	const char *cluster;   /* borrowed from argv */
	const char *token;     /* borrowed from argv, or NULL */
	const char *hub;       /* borrowed from argv, or NULL */
	const char *ca_hash;   /* borrowed from argv, or NULL */
	const char *image;     /* borrowed from argv, or NULL */
	int64_t ttl_s;
	bool ttl_set;
	bool work_all;
};

static bool lower_alnum(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

/* "<6 [a-z0-9]>.<16 [a-z0-9]>", as kubeadm and the hub (docs/api.md). */
static bool valid_token(const char *s)
{
	return strlen(s) == INSTALL_TOKEN_ID_LEN + 1 + INSTALL_TOKEN_SECRET_LEN &&
	       s[INSTALL_TOKEN_ID_LEN] == '.' && lower_alnum(s, INSTALL_TOKEN_ID_LEN) &&
	       lower_alnum(s + INSTALL_TOKEN_ID_LEN + 1, INSTALL_TOKEN_SECRET_LEN);
}

/* "sha256:" and 64 lowercase hex digits. */
static bool valid_pin(const char *s)
{
	if (strlen(s) != X509_PIN_LEN || strncmp(s, "sha256:", 7))
		return false;
	for (const char *p = s + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/* Printable ASCII without spaces, 1..max bytes. */
static bool valid_word(const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len == 0 || len > max)
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '"' || *p == '\\')
			return false;
	return true;
}

static bool valid_hub_url(const char *s)
{
	return valid_word(s, INSTALL_MAX_URL) && !strncmp(s, "https://", 8) && s[8] != '\0';
}

static int install_opt(void *ud, int val, const char *arg)
{
	struct install_args *a = ud;

	switch (val) {
	case OPT_CLUSTER:
		if (!kobj_valid_label_name(arg))
			return nctl_usage_error(a->n, "--cluster-name: \"%s\" is not a DNS-1123 label "
						      "(lowercase letters, digits, '-', at most 63)", arg);
		a->cluster = arg;
		return 0;
	case OPT_TOKEN:
		if (!valid_token(arg))
			return nctl_usage_error(a->n, "--token: not a bootstrap token: expected <6 chars "
						      "[a-z0-9]>.<16 chars [a-z0-9]> (`navectl token create`)");
		a->token = arg;
		return 0;
	case OPT_HUB:
		if (!valid_hub_url(arg))
			return nctl_usage_error(a->n, "--hub: \"%.100s\" is not an https:// URL of at most %d "
						      "characters without spaces", arg, INSTALL_MAX_URL);
		a->hub = arg;
		return 0;
	case OPT_CA_HASH:
		if (!valid_pin(arg))
			return nctl_usage_error(a->n, "--ca-hash: \"%.100s\" is not sha256: and 64 lowercase "
						      "hex digits", arg);
		a->ca_hash = arg;
		return 0;
	case OPT_IMAGE:
		if (!valid_word(arg, INSTALL_MAX_IMAGE))
			return nctl_usage_error(a->n, "--image: \"%.100s\" is not an image reference (1..%d "
						      "characters, no spaces or quotes)", arg, INSTALL_MAX_IMAGE);
		a->image = arg;
		return 0;
	case OPT_TTL:
		if (nctl_parse_duration(arg, &a->ttl_s) < 0 || a->ttl_s < 60 || a->ttl_s > 365 * 86400)
			return nctl_usage_error(a->n, "--ttl: \"%s\" is not a duration of 1m..365d "
						      "(examples: 30m, 1h, 7d)", arg);
		a->ttl_set = true;
		return 0;
	case OPT_WORK_ACCESS:
		if (!strcmp(arg, "all"))
			a->work_all = true;
		else if (strcmp(arg, "default"))
			return nctl_usage_error(a->n, "--work-access: \"%s\": expected default or all", arg);
		return 0;
	default:
		return nctl_usage_error(a->n, "unexpected flag");
	}
}

/* Make a bootstrap token on the hub. On success *ret_token and *ret_url are
 * new strings the caller frees (ret_url may get the kubeconfig's server when
 * the hub does not say). Returns 0 or an exit code (printed). */
static int create_token(struct nctl *n, const struct install_args *a, char **ret_token, char **ret_url)
{
	struct nctl_resp resp = { 0 };
	json_t *req;
	char *body = NULL, *desc;
	const char *token, *url, *exp;
	int rc = 0;

	desc = xasprintf("navectl install klusterlet %s", a->cluster);
	req = json_pack("{s:I, s:s}", "ttlSeconds", (json_int_t)(a->ttl_set ? a->ttl_s : INSTALL_DEFAULT_TTL_S),
			"description", desc);
	body = json_dumps(req, JSON_COMPACT);
	if (nctl_request(n, &(struct kclient_request){ .method = KCLIENT_POST, .path = "/nave/v1/tokens",
						       .body = body },
			 &resp) < 0) {
		rc = nctl_report(n, &resp, "creating a bootstrap token");
		goto out;
	}
	token = json_string_value(json_object_get(resp.body, "token"));
	url = json_string_value(json_object_get(resp.body, "hubURL"));
	exp = json_string_value(json_object_get(resp.body, "expiration"));
	if (!token || !valid_token(token)) {
		fprintf(stderr, "error: the hub's answer has no valid token: is %s a Nave hub?\n",
			nctl_config(n)->server);
		fprintf(stderr, "hint: check the server: line of %s\n", n->config_path);
		rc = NCTL_EXIT_FAILED;
		goto out;
	}
	if (!url || !valid_hub_url(url))
		url = nctl_config(n)->server;
	fprintf(stderr, "token %s created for cluster %s: expires %s\n",
		json_string_value(json_object_get(resp.body, "id")) ? json_string_value(json_object_get(resp.body, "id"))
								      : "?",
		a->cluster, exp ? exp : "?");
	*ret_token = xstrdup(token);
	*ret_url = xstrdup(url);
out:
	nctl_resp_clear(&resp);
	json_decref(req);
	free(body);
	free(desc);
	return rc;
}

/* Replace the string at key of obj when it equals from. */
static void swap_string(json_t *obj, const char *key, const char *from, const char *to)
{
	const char *v = json_string_value(json_object_get(obj, key));

	if (v && !strcmp(v, from))
		json_object_set_new(obj, key, json_string(to));
}

struct render_values {
	const char *ns;
	const char *hub;
	const char *token;
	const char *pin;
	const char *cluster;
	const char *image;    /* NULL: keep */
	bool saw_secret;
	bool saw_daemonset;
};

/* Fill one object in (see the top of the file). Returns 0, or -EINVAL with
 * err set when a template no longer has what this code expects. */
static int render_object(json_t *o, struct render_values *v, struct errbuf *err)
{
	const char *kind = kobj_kind(o), *name = kobj_name(o);
	json_t *meta = json_object_get(o, "metadata");
	json_t *subjects, *containers, *sd, *s;
	size_t i;

	if (!kind || !json_is_object(meta))
		return errbuf_set(err, -EINVAL, "an embedded manifest has no kind or metadata");
	swap_string(meta, "namespace", INSTALL_TEMPLATE_NS, v->ns);
	if (!strcmp(kind, "Namespace"))
		swap_string(meta, "name", INSTALL_TEMPLATE_NS, v->ns);
	subjects = json_object_get(o, "subjects");
	json_array_foreach(subjects, i, s)
		swap_string(s, "namespace", INSTALL_TEMPLATE_NS, v->ns);
	if (!strcmp(kind, "Secret") && name && !strcmp(name, INSTALL_SECRET_NAME)) {
		static const char *const keys[] = { "hub-url", "token", "ca-hash", "cluster-name" };
		const char *vals[] = { v->hub, v->token, v->pin, v->cluster };

		sd = json_object_get(o, "stringData");
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (!json_is_string(json_object_get(sd, keys[i])))
				return errbuf_set(err, -EINVAL, "the embedded bootstrap Secret has no stringData.%s",
						  keys[i]);
			json_object_set_new(sd, keys[i], json_string(vals[i]));
		}
		v->saw_secret = true;
	}
	if (!strcmp(kind, "DaemonSet")) {
		containers = json_object_get(json_object_get(json_object_get(json_object_get(o, "spec"),
									     "template"),
							     "spec"),
					     "containers");
		if (!json_array_size(containers))
			return errbuf_set(err, -EINVAL, "the embedded DaemonSet has no containers");
		json_array_foreach(containers, i, s)
			if (v->image)
				json_object_set_new(s, "image", json_string(v->image));
		v->saw_daemonset = true;
	}
	return 0;
}

/* The whole output, "---"-separated, into *ret_text (caller frees). */
static int render(const struct install_args *a, struct render_values *v, char **ret_text)
{
	struct errbuf err = { "" };
	char *text = NULL;
	size_t text_len = 0;
	FILE *f;
	json_t *docs = NULL, *d;
	size_t i, k;
	int r = 0;

	f = open_memstream(&text, &text_len);
	if (!f)
		abort(); /* out of memory */
	fprintf(f, "# nave-klusterlet for cluster %s (namespace %s), hub %s.\n", v->cluster, v->ns, v->hub);
	fprintf(f, "# Printed by navectl %s install klusterlet from deploy/klusterlet/.\n", NAVE_VERSION);
	fprintf(f, "# Apply to that cluster: kubectl apply -f -   (holds a bootstrap token: keep it secret)\n");
	for (k = 0; k < sizeof(nctl_manifest_files) / sizeof(nctl_manifest_files[0]); k++) {
		const struct nctl_manifest_file *m = &nctl_manifest_files[k];

		if (!strcmp(m->name, INSTALL_EXTRA_FILE) && !a->work_all)
			continue;
		r = yaml_parse_stream(m->text, m->len, NULL, &err, &docs);
		if (r < 0) {
			fprintf(stderr, "error: embedded %s: %s\n", m->name, err.msg);
			goto out;
		}
		json_array_foreach(docs, i, d) {
			char *y;

			r = render_object(d, v, &err);
			if (r < 0) {
				fprintf(stderr, "error: embedded %s: %s\n", m->name, err.msg);
				goto out;
			}
			y = yaml_emit(d);
			fprintf(f, "---\n%s", y);
			free(y);
		}
		json_decref(docs);
		docs = NULL;
	}
	if (!v->saw_secret || !v->saw_daemonset) {
		fprintf(stderr, "error: the embedded manifests lack the %s\n",
			!v->saw_secret ? "bootstrap Secret " INSTALL_SECRET_NAME : "DaemonSet");
		r = -EINVAL;
	}
out:
	fclose(f);
	json_decref(docs);
	if (r < 0) {
		fprintf(stderr, "hint: navectl was built from a broken deploy/klusterlet/; rebuild it\n");
		free(text);
		return r;
	}
	*ret_text = text;
	return 0;
}

static int install_klusterlet(struct nctl *n, struct install_args *a)
{
	char pin[X509_PIN_LEN + 1] = "";
	char *token = NULL, *url = NULL, *text = NULL;
	struct render_values v = { 0 };
	const char *ns = n->namespace ? n->namespace : INSTALL_TEMPLATE_NS;
	int rc = 0;

	if (!a->cluster) {
		rc = nctl_usage_error(n, "--cluster-name is required (the cluster's name on the hub)");
		goto out;
	}
	if (!kobj_valid_label_name(ns)) {
		rc = nctl_usage_error(n, "-n/--namespace: \"%s\" is not a DNS-1123 label", ns);
		goto out;
	}
	if (!a->token || !a->hub || !a->ca_hash) {
		rc = nctl_connect(n);
		if (rc)
			goto out;
	}
	if (!a->ca_hash) {
		rc = nctl_ca_pin(n, "--ca-hash", pin);
		if (rc)
			goto out;
	}
	if (a->token) {
		token = xstrdup(a->token);
		if (!a->hub) {
			url = xstrdup(nctl_config(n)->server);
			fprintf(stderr, "note: the hub URL is the kubeconfig's server, %s; pass --hub if the "
					"spoke's pods reach the hub at another address\n", url);
		}
	} else {
		rc = create_token(n, a, &token, &url);
		if (rc)
			goto out;
	}
	if (a->hub) {
		free(url);
		url = xstrdup(a->hub);
	}
	if (!valid_hub_url(url)) {
		fprintf(stderr, "error: the hub URL \"%.200s\" is not an https:// URL\n", url);
		fprintf(stderr, "hint: pass --hub https://HOST:PORT\n");
		rc = NCTL_EXIT_FAILED;
		goto out;
	}
	if (a->ca_hash && pin[0] && strcmp(pin, a->ca_hash))
		fprintf(stderr, "warning: --ca-hash %s differs from the CA %s trusts (%s); using --ca-hash\n",
			a->ca_hash, n->config_path, pin);
	v = (struct render_values){ .ns = ns, .hub = url, .token = token, .pin = a->ca_hash ? a->ca_hash : pin,
				    .cluster = a->cluster, .image = a->image };
	if (render(a, &v, &text) < 0) {
		rc = NCTL_EXIT_FAILED;
		goto out;
	}
	fputs(text, stdout);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "error: writing the manifests: %s\n", strerror(errno));
		rc = NCTL_EXIT_FAILED;
		goto out;
	}
	fprintf(stderr, "next: apply this on cluster %s (kubectl apply -f -), then on the hub: "
			"navectl cluster accept %s\n", a->cluster, a->cluster);
out:
	free(text);
	free(token);
	free(url);
	return rc;
}

int nctl_cmd_install(struct nctl *n, int argc, char **argv)
{
	struct install_args a = { .n = n };
	char **args = NULL;
	int nargs = 0, rc;

	rc = nctl_getopt(n, argc, argv, "", install_opts, install_opt, &a, install_help, &args, &nargs);
	if (rc)
		return nctl_getopt_exit(rc);
	if (nargs < 1) {
		rc = nctl_usage_error(n, "install what? klusterlet");
		goto out;
	}
	if (strcmp(args[0], "klusterlet")) {
		rc = nctl_usage_error(n, "unknown component \"%s\" (klusterlet)", args[0]);
		goto out;
	}
	if (nargs > 1) {
		rc = nctl_usage_error(n, "unexpected argument \"%s\"", args[1]);
		goto out;
	}
	rc = install_klusterlet(n, &a);
out:
	free(args);
	return rc;
}
