/* navectl_hub.c - the hub's own commands: token, cluster, version.
 *
 * Bootstrap tokens are made and revoked through /nave/v1/tokens and listed as
 * BootstrapToken objects; clusters are ManagedClusters, accepted and denied
 * through /nave/v1/clusters/<name>/{accept,deny} and labelled with a merge
 * patch guarded by the resourceVersion just read (docs/api.md).
 *
 * The CA pin printed by `token create` is computed here from the CA this
 * kubeconfig trusts (x509_cert_pin over its certificate-authority), or, when
 * the kubeconfig names none, from the hub's /nave/v1/ca.crt fetched over the
 * verified connection; a hub that reports another pin gets a warning, since
 * an agent given that pin would trust a CA we do not.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "kobj.h"
#include "kubeconfig.h"
#include "navectl.h"
#include "nave_config.h"
#include "version.h"
#include "x509.h"
#include "yaml.h"

#define NCTL_TOKEN_ID_LEN 6
#define NCTL_MAX_DESCRIPTION 256
#define NCTL_MAX_LABEL_ARGS 64

static bool valid_token_id(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return i == NCTL_TOKEN_ID_LEN;
}

/* POST or DELETE a /nave/v1 path with an optional JSON body. */
static int nave_call(struct nctl *n, enum kclient_method method, const char *path, const json_t *body,
		     struct nctl_resp *ret)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int r;

	r = nctl_request(n, &(struct kclient_request){ .method = method, .path = path, .body = text },
			 ret);
	free(text);
	return r;
}

/* The pin of the CA agents should trust: from the kubeconfig's CA, or fetched
 * from the hub when the kubeconfig has none (or skips verification, with a
 * warning). flag names the command's way around a failure ("--ca-hash") or
 * is NULL. Returns 0 or an exit code (printed). */
int nctl_ca_pin(struct nctl *n, const char *flag, char pin[X509_PIN_LEN + 1])
{
	struct kubeconfig *cfg = nctl_config(n);
	struct errbuf err = { "" };
	struct nctl_resp resp = { 0 };
	int rc = 0;

	if (cfg->ca_pem && !cfg->insecure) {
		if (x509_cert_pin((const char *)cfg->ca_pem, cfg->ca_pem_len, pin, &err) == 0)
			return 0;
		fprintf(stderr, "error: the certificate-authority of %s is not a usable certificate: %s\n",
			n->config_path, err.msg);
		fprintf(stderr, "hint: use the admin.kubeconfig that `nave-hub init` wrote%s%s\n",
			flag ? ", or pass " : "", flag ? flag : "");
		return NCTL_EXIT_FAILED;
	}
	if (nctl_request(n, &(struct kclient_request){ .method = KCLIENT_GET, .path = "/nave/v1/ca.crt",
						       .flags = KCLIENT_REQ_RAW },
			 &resp) < 0) {
		rc = nctl_report(n, &resp, "fetching the hub's CA (/nave/v1/ca.crt)");
		goto out;
	}
	if (!resp.raw || x509_cert_pin(resp.raw, resp.raw_len, pin, &err) < 0) {
		fprintf(stderr, "error: the hub's /nave/v1/ca.crt is not a certificate: %s\n", err.msg);
		fprintf(stderr, "hint: is %s a Nave hub? check the server: line of %s\n", cfg->server,
			n->config_path);
		rc = NCTL_EXIT_FAILED;
		goto out;
	}
	if (cfg->insecure)
		fprintf(stderr, "warning: %s skips TLS verification, so the CA hash comes from an unverified "
				"connection; check it on the hub host: `openssl x509 -pubkey -noout -in D/ca.crt | "
				"openssl pkey -pubin -outform der | sha256sum`%s%s\n", n->config_path,
			flag ? ", or pass " : "", flag ? flag : "");
out:
	nctl_resp_clear(&resp);
	return rc;
}

/* token ---------------------------------------------------------------------- */

static const char token_help[] =
	"Usage: navectl token create [--ttl DUR] [--uses N] [--description TEXT]\n"
	"                            [--cluster-name NAME] [-o json|yaml]\n"
	"       navectl token list [-o wide|yaml|json|name]\n"
	"       navectl token revoke ID...\n"
	"\n"
	"Bootstrap tokens let a cluster ask to join (`nave-klusterlet join`); the hub\n"
	"keeps only their hash. `create` prints the complete join command for the\n"
	"cluster (the token, the hub's URL and the sha256 pin of the hub's CA) on\n"
	"standard output, and the token's expiry on standard error; the secret is shown\n"
	"this once. A joined cluster still waits for `navectl cluster accept`.\n"
	"\n"
	"Flags of create:\n"
	"  --ttl DUR            lifetime: 90s, 30m, 1h, 7d (default 24h; 1m..365d)\n"
	"  --uses N             registrations it may make, 0 = unlimited (default 0)\n"
	"  --description TEXT   a note shown by `token list`\n"
	"  --cluster-name NAME  put NAME in the printed command instead of <name>\n"
	"  -o json|yaml         the hub's answer (with the token) for scripts\n"
	"\n"
	"`revoke` takes token IDs (the part before the dot; `token list` shows them);\n"
	"registrations already made stay (deny the cluster for that).\n"
	"\n"
	"Exit status: 0 ok, 1 failed (e.g. unknown token ID), 2 usage error, 3 hub\n"
	"unreachable or credential refused.\n";

enum {
	OPT_TTL = 1,
	OPT_USES,
	OPT_DESCRIPTION,
	OPT_CLUSTER_NAME,
	OPT_NO_HEADERS,
	OPT_SHOW_LABELS,
	OPT_OVERWRITE,
	OPT_CLIENT,
	OPT_WATCH,
};

static const struct option token_opts[] = {
	{ "ttl", required_argument, NULL, OPT_TTL },
	{ "uses", required_argument, NULL, OPT_USES },
	{ "description", required_argument, NULL, OPT_DESCRIPTION },
	{ "cluster-name", required_argument, NULL, OPT_CLUSTER_NAME },
	{ "output", required_argument, NULL, 'o' },
	{ "no-headers", no_argument, NULL, OPT_NO_HEADERS },
	{ NULL, 0, NULL, 0 },
};

struct token_args {
	struct nctl *n;
	int64_t ttl_s;       /* 0: the hub's default */
	long long uses;
	bool uses_set;
	const char *description;
	const char *cluster_name;
	enum nctl_output out;
	bool out_set;
	bool no_headers;
	bool ttl_set;
};

static int token_opt(void *ud, int val, const char *arg)
{
	struct token_args *a = ud;
	char *end;

	switch (val) {
	case OPT_TTL:
		if (nctl_parse_duration(arg, &a->ttl_s) < 0 || a->ttl_s < 60 || a->ttl_s > 365 * 86400)
			return nctl_usage_error(a->n, "--ttl: \"%s\" is not a duration of 1m..365d "
						      "(examples: 30m, 1h, 7d)", arg);
		a->ttl_set = true;
		return 0;
	case OPT_USES:
		errno = 0;
		a->uses = strtoll(arg, &end, 10);
		if (errno || *end || end == arg || a->uses < 0 || a->uses > 1000000)
			return nctl_usage_error(a->n, "--uses: \"%s\" is not a number of 0..1000000 "
						      "(0 = unlimited)", arg);
		a->uses_set = true;
		return 0;
	case OPT_DESCRIPTION:
		if (strlen(arg) > NCTL_MAX_DESCRIPTION)
			return nctl_usage_error(a->n, "--description: longer than %d bytes", NCTL_MAX_DESCRIPTION);
		a->description = arg;
		return 0;
	case OPT_CLUSTER_NAME:
		if (!kobj_valid_label_name(arg))
			return nctl_usage_error(a->n, "--cluster-name: \"%s\" is not a DNS-1123 label "
						      "(lowercase letters, digits, '-', at most 63)", arg);
		a->cluster_name = arg;
		return 0;
	case 'o':
		if (nctl_output_parse(arg, &a->out) < 0)
			return nctl_usage_error(a->n, "-o/--output: unknown format \"%s\"", arg);
		a->out_set = true;
		return 0;
	case OPT_NO_HEADERS:
		a->no_headers = true;
		return 0;
	default:
		return nctl_usage_error(a->n, "unexpected flag");
	}
}

static int token_create(struct nctl *n, struct token_args *a)
{
	char pin[X509_PIN_LEN + 1], *cmd = NULL;
	struct nctl_resp resp = { 0 };
	json_t *req = json_object();
	const char *token, *url, *server_pin, *exp;
	json_int_t limit;
	int rc;

	if (a->out_set && a->out != NCTL_OUT_JSON && a->out != NCTL_OUT_YAML) {
		rc = nctl_usage_error(n, "token create prints json or yaml with -o");
		goto out;
	}
	rc = nctl_connect(n);
	if (rc)
		goto out;
	rc = nctl_ca_pin(n, NULL, pin);
	if (rc)
		goto out;
	if (a->ttl_set)
		json_object_set_new(req, "ttlSeconds", json_integer(a->ttl_s));
	if (a->uses_set)
		json_object_set_new(req, "usageLimit", json_integer(a->uses));
	if (a->description)
		json_object_set_new(req, "description", json_string(a->description));
	if (nave_call(n, KCLIENT_POST, "/nave/v1/tokens", req, &resp) < 0) {
		rc = nctl_report(n, &resp, "creating a token");
		goto out;
	}
	token = json_string_value(json_object_get(resp.body, "token"));
	url = json_string_value(json_object_get(resp.body, "hubURL"));
	server_pin = json_string_value(json_object_get(resp.body, "caHash"));
	exp = json_string_value(json_object_get(resp.body, "expiration"));
	limit = json_integer_value(json_object_get(resp.body, "usageLimit"));
	if (!token) {
		fprintf(stderr, "error: the hub's answer has no token: is %s a Nave hub?\n", nctl_config(n)->server);
		fprintf(stderr, "hint: check the server: line of %s\n", n->config_path);
		rc = NCTL_EXIT_FAILED;
		goto out;
	}
	if (!url || !*url)
		url = nctl_config(n)->server;
	if (server_pin && strcmp(server_pin, pin))
		fprintf(stderr, "warning: the hub reports CA hash %s, but the CA %s trusts hashes to %s; "
				"printing the latter\n", server_pin, n->config_path, pin);
	cmd = xasprintf("nave-klusterlet join --hub %s --token %s --ca-hash %s --cluster-name %s", url, token,
			pin, a->cluster_name ? a->cluster_name : "<name>");
	if (a->out_set) {
		json_t *o = json_deep_copy(resp.body);

		json_object_set_new(o, "caHash", json_string(pin));
		json_object_set_new(o, "hubURL", json_string(url));
		json_object_set_new(o, "joinCommand", json_string(cmd));
		nctl_print_object(stdout, o, a->out, true);
		json_decref(o);
		goto out;
	}
	if (limit > 0)
		fprintf(stderr, "token %s created: expires %s, good for %" JSON_INTEGER_FORMAT
				" registration%s. Run on the cluster to join:\n",
			json_string_value(json_object_get(resp.body, "id")), exp ? exp : "?", limit,
			limit == 1 ? "" : "s");
	else
		fprintf(stderr, "token %s created: expires %s, unlimited registrations. Run on the cluster "
				"to join:\n", json_string_value(json_object_get(resp.body, "id")), exp ? exp : "?");
	printf("%s\n", cmd);
	if (!a->cluster_name)
		fprintf(stderr, "(replace <name> with the cluster's name; then `navectl cluster accept <name>`)\n");
out:
	free(cmd);
	json_decref(req);
	nctl_resp_clear(&resp);
	return rc;
}

static int token_revoke(struct nctl *n, char **ids, int nids)
{
	struct nctl_resp resp;
	int rc = 0, ec;

	for (int i = 0; i < nids; i++) {
		char id[NCTL_TOKEN_ID_LEN + 8];

		/* a whole token "id.secret" works too: the id is the part before the dot */
		snprintf(id, sizeof(id), "%.*s", (int)strcspn(ids[i], "."), ids[i]);
		if (!valid_token_id(id))
			return nctl_usage_error(n, "\"%s\" is not a token ID (6 characters of [a-z0-9]; "
						   "`navectl token list` shows them)", ids[i]);
	}
	rc = nctl_connect(n);
	if (rc)
		return rc;
	for (int i = 0; i < nids; i++) {
		char id[NCTL_TOKEN_ID_LEN + 8], *path;

		snprintf(id, sizeof(id), "%.*s", (int)strcspn(ids[i], "."), ids[i]);
		path = xasprintf("/nave/v1/tokens/%s", id);
		if (nave_call(n, KCLIENT_DELETE, path, NULL, &resp) < 0) {
			if (resp.err.reason == KCLIENT_NOT_FOUND) {
				fprintf(stderr, "error: no bootstrap token \"%s\" (%s)\n", id, resp.err.message);
				fprintf(stderr, "hint: `navectl token list` shows the tokens' IDs\n");
				ec = NCTL_EXIT_FAILED;
			} else {
				ec = nctl_report(n, &resp, NULL);
			}
			if (ec > rc)
				rc = ec;
		} else {
			printf("token \"%s\" revoked\n", id);
		}
		nctl_resp_clear(&resp);
		free(path);
		if (rc == NCTL_EXIT_UNREACHABLE)
			break;
	}
	return rc;
}

/* Print objects of the resource word (a hub kind) as `get` does. */
static int list_kind(struct nctl *n, const char *word, char *const *names, size_t n_names,
		     const struct nctl_get_opts *o)
{
	const struct nctl_resource *res;
	int rc;

	rc = nctl_connect(n);
	if (rc)
		return rc;
	if (nctl_resource_find(n, word, &res, &rc) < 0) {
		if (rc == NCTL_EXIT_FAILED)
			fprintf(stderr, "hint: is %s a Nave hub? (`navectl version` shows the server)\n",
				nctl_config(n)->server);
		return rc;
	}
	return nctl_get_print(n, res, names, n_names, o);
}

int nctl_cmd_token(struct nctl *n, int argc, char **argv)
{
	struct token_args a = { .n = n };
	char **args = NULL;
	int nargs = 0, rc;

	rc = nctl_getopt(n, argc, argv, "o:", token_opts, token_opt, &a, token_help, &args, &nargs);
	if (rc)
		return nctl_getopt_exit(rc);
	if (nargs < 1) {
		rc = nctl_usage_error(n, "which subcommand? create, list or revoke");
		goto out;
	}
	if (!strcmp(args[0], "create")) {
		if (nargs > 1) {
			rc = nctl_usage_error(n, "create takes no arguments, got \"%s\"", args[1]);
			goto out;
		}
		rc = token_create(n, &a);
	} else if (!strcmp(args[0], "list")) {
		struct nctl_get_opts o = { .out = a.out, .no_headers = a.no_headers };

		if (nargs > 1 || a.ttl_set || a.uses_set || a.description || a.cluster_name) {
			rc = nctl_usage_error(n, "list takes no arguments and only -o/--no-headers");
			goto out;
		}
		rc = list_kind(n, "bootstraptokens.nave.dev", NULL, 0, &o);
	} else if (!strcmp(args[0], "revoke")) {
		if (nargs < 2) {
			rc = nctl_usage_error(n, "revoke which token? give its ID (`navectl token list`)");
			goto out;
		}
		rc = token_revoke(n, args + 1, nargs - 1);
	} else {
		rc = nctl_usage_error(n, "unknown subcommand \"%s\" (create, list or revoke)", args[0]);
	}
out:
	free(args);
	return rc;
}

/* cluster -------------------------------------------------------------------- */

static const char cluster_help[] =
	"Usage: navectl cluster list [-l SELECTOR] [-o wide|yaml|json|name] [-w]\n"
	"       navectl cluster get NAME... [-o wide|yaml|json|name]\n"
	"       navectl cluster accept NAME...\n"
	"       navectl cluster deny NAME...\n"
	"       navectl cluster label NAME KEY=VALUE... KEY-... [--overwrite]\n"
	"\n"
	"Registered clusters (ManagedClusters). A cluster that joined with a token waits\n"
	"(HUB ACCEPTED false) until `accept`, which signs its certificate. `deny` sets it\n"
	"back to not accepted, revokes every certificate issued to it and closes its\n"
	"connections; to let it back in, it joins again with a token and is accepted.\n"
	"`label` sets (KEY=VALUE) or removes (KEY-) labels; changing a label's value\n"
	"needs --overwrite.\n"
	"\n"
	"Flags:\n"
	"  -l, --selector SEL   (list) label selector, e.g. region=eu\n"
	"  -o, --output FMT     (list, get) wide, yaml, json or name\n"
	"  -w, --watch          (list, get) follow changes until Ctrl-C\n"
	"      --no-headers     (list, get) table without its header\n"
	"      --show-labels    (list, get) a LABELS column\n"
	"      --overwrite      (label) allow changing an existing label's value\n"
	"\n"
	"Exit status: 0 ok, 1 failed (e.g. no such cluster), 2 usage error, 3 hub\n"
	"unreachable or credential refused.\n";

static const struct option cluster_opts[] = {
	{ "selector", required_argument, NULL, 'l' },
	{ "output", required_argument, NULL, 'o' },
	{ "watch", no_argument, NULL, 'w' },
	{ "no-headers", no_argument, NULL, OPT_NO_HEADERS },
	{ "show-labels", no_argument, NULL, OPT_SHOW_LABELS },
	{ "overwrite", no_argument, NULL, OPT_OVERWRITE },
	{ NULL, 0, NULL, 0 },
};

struct cluster_args {
	struct nctl *n;
	struct nctl_get_opts o;
	bool overwrite;
};

static int cluster_opt(void *ud, int val, const char *arg)
{
	struct cluster_args *a = ud;

	switch (val) {
	case 'l':
		a->o.label_selector = arg;
		return 0;
	case 'o':
		if (nctl_output_parse(arg, &a->o.out) < 0)
			return nctl_usage_error(a->n, "-o/--output: unknown format \"%s\" "
						      "(one of wide, yaml, json, name)", arg);
		return 0;
	case 'w':
		a->o.watch = true;
		return 0;
	case OPT_NO_HEADERS:
		a->o.no_headers = true;
		return 0;
	case OPT_SHOW_LABELS:
		a->o.show_labels = true;
		return 0;
	case OPT_OVERWRITE:
		a->overwrite = true;
		return 0;
	default:
		return nctl_usage_error(a->n, "unexpected flag");
	}
}

static int check_cluster_names(struct nctl *n, char **names, int count)
{
	for (int i = 0; i < count; i++)
		if (!kobj_valid_label_name(names[i]))
			return nctl_usage_error(n, "\"%s\" is not a cluster name (a DNS-1123 label: lowercase "
						   "letters, digits and '-', at most 63)", names[i]);
	return 0;
}

static int cluster_action(struct nctl *n, const char *action, char **names, int count)
{
	struct nctl_resp resp;
	int rc, ec;

	rc = check_cluster_names(n, names, count);
	if (rc)
		return rc;
	rc = nctl_connect(n);
	if (rc)
		return rc;
	for (int i = 0; i < count; i++) {
		char *path = xasprintf("/nave/v1/clusters/%s/%s", names[i], action);

		if (nave_call(n, KCLIENT_POST, path, NULL, &resp) < 0) {
			if (resp.err.reason == KCLIENT_NOT_FOUND) {
				fprintf(stderr, "error: no cluster \"%s\" (%s)\n", names[i], resp.err.message);
				fprintf(stderr, "hint: `navectl cluster list` shows the registered clusters; a "
						"cluster appears once its agent ran `nave-klusterlet join`\n");
				ec = NCTL_EXIT_FAILED;
			} else {
				ec = nctl_report(n, &resp, NULL);
			}
			if (ec > rc)
				rc = ec;
		} else if (!strcmp(action, "accept")) {
			printf("managedcluster \"%s\" accepted\n", names[i]);
		} else {
			printf("managedcluster \"%s\" denied (its certificates are revoked)\n", names[i]);
		}
		nctl_resp_clear(&resp);
		free(path);
		if (rc == NCTL_EXIT_UNREACHABLE)
			break;
	}
	return rc;
}

/* A label key: [prefix/]name, prefix a DNS subdomain, name 1..63 of
 * [A-Za-z0-9._-] starting and ending alphanumeric. Values: 0..63 of the same. */
static bool label_part_ok(const char *s, size_t len, bool empty_ok)
{
	if (!len)
		return empty_ok;
	if (len > 63)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && ((i == 0 || i + 1 == len) || (c != '-' && c != '_' && c != '.')))
			return false;
	}
	return true;
}

static bool label_key_ok(const char *k)
{
	const char *slash = strchr(k, '/');

	if (slash) {
		char prefix[254];

		if ((size_t)(slash - k) >= sizeof(prefix))
			return false;
		snprintf(prefix, sizeof(prefix), "%.*s", (int)(slash - k), k);
		if (!kobj_valid_subdomain(prefix))
			return false;
		k = slash + 1;
	}
	return label_part_ok(k, strlen(k), false);
}

static int cluster_label(struct nctl *n, struct cluster_args *a, char **args, int nargs)
{
	struct kref ref = { .group = "cluster.open-cluster-management.io", .version = "v1",
			    .resource = "managedclusters", .name = args[0] };
	json_t *set = json_object(), *patch = NULL, *labels;
	struct nctl_resp resp = { 0 };
	bool changed = false;
	int rc;

	rc = check_cluster_names(n, args, 1);
	if (rc)
		goto out;
	if (nargs < 2) {
		rc = nctl_usage_error(n, "label %s with what? give KEY=VALUE to set or KEY- to remove", args[0]);
		goto out;
	}
	if (nargs - 1 > NCTL_MAX_LABEL_ARGS) {
		rc = nctl_usage_error(n, "at most %d labels at once", NCTL_MAX_LABEL_ARGS);
		goto out;
	}
	for (int i = 1; i < nargs; i++) {
		const char *arg = args[i], *eq = strchr(arg, '=');
		size_t len = strlen(arg);
		char *key;

		if (eq) {
			key = xstrndup(arg, (size_t)(eq - arg));
			if (!label_key_ok(key) || !label_part_ok(eq + 1, strlen(eq + 1), true)) {
				free(key);
				rc = nctl_usage_error(n, "\"%s\" is not a valid label: keys are [prefix/]name, names "
							 "and values at most 63 of [A-Za-z0-9._-] beginning and "
							 "ending alphanumeric", arg);
				goto out;
			}
			json_object_set_new(set, key, json_string(eq + 1));
		} else if (len > 1 && arg[len - 1] == '-') {
			key = xstrndup(arg, len - 1);
			if (!label_key_ok(key)) {
				free(key);
				rc = nctl_usage_error(n, "\"%s\": not a label key to remove", arg);
				goto out;
			}
			json_object_set_new(set, key, json_null());
		} else {
			rc = nctl_usage_error(n, "\"%s\": give KEY=VALUE to set or KEY- to remove", arg);
			goto out;
		}
		free(key);
	}
	rc = nctl_connect(n);
	if (rc)
		goto out;
	if (nctl_get(n, &ref, &resp) < 0) {
		if (resp.err.reason == KCLIENT_NOT_FOUND) {
			fprintf(stderr, "error: no cluster \"%s\" (%s)\n", args[0], resp.err.message);
			fprintf(stderr, "hint: `navectl cluster list` shows the registered clusters\n");
			rc = NCTL_EXIT_FAILED;
		} else {
			rc = nctl_report(n, &resp, NULL);
		}
		goto out;
	}
	labels = kobj_labels(resp.body);
	{
		const char *k;
		json_t *v;

		json_object_foreach(set, k, v) {
			json_t *cur = json_object_get(labels, k);

			if (json_is_null(v)) {
				if (cur)
					changed = true;
				continue;
			}
			if (!cur) {
				changed = true;
			} else if (!json_equal(cur, v)) {
				if (!a->overwrite) {
					fprintf(stderr, "error: cluster \"%s\" already has label %s=%s\n", args[0], k,
						json_string_value(cur) ? json_string_value(cur) : "");
					fprintf(stderr, "hint: pass --overwrite to change it\n");
					rc = NCTL_EXIT_FAILED;
					goto out;
				}
				changed = true;
			}
		}
	}
	if (!changed) {
		printf("managedcluster \"%s\" not labeled (nothing to change)\n", args[0]);
		goto out;
	}
	patch = json_pack("{s:{s:O, s:s}}", "metadata", "labels", set, "resourceVersion",
			  kobj_resource_version(resp.body) ? kobj_resource_version(resp.body) : "");
	nctl_resp_clear(&resp);
	if (nctl_patch(n, &ref, KCLIENT_PATCH_MERGE, patch, &resp) < 0) {
		rc = nctl_report(n, &resp, NULL);
		goto out;
	}
	printf("managedcluster \"%s\" labeled\n", args[0]);
out:
	nctl_resp_clear(&resp);
	json_decref(patch);
	json_decref(set);
	return rc;
}

int nctl_cmd_cluster(struct nctl *n, int argc, char **argv)
{
	struct cluster_args a = { .n = n };
	char **args = NULL;
	const char *sub;
	int nargs = 0, rc;

	rc = nctl_getopt(n, argc, argv, "l:o:w", cluster_opts, cluster_opt, &a, cluster_help, &args, &nargs);
	if (rc)
		return nctl_getopt_exit(rc);
	if (nargs < 1) {
		rc = nctl_usage_error(n, "which subcommand? list, get, accept, deny or label");
		goto out;
	}
	sub = args[0];
	if (!strcmp(sub, "list")) {
		if (nargs > 1) {
			rc = nctl_usage_error(n, "list takes no names (use `cluster get NAME`)");
			goto out;
		}
		rc = list_kind(n, "managedclusters.cluster.open-cluster-management.io", NULL, 0, &a.o);
	} else if (!strcmp(sub, "get")) {
		if (nargs < 2) {
			rc = nctl_usage_error(n, "get which cluster? (`navectl cluster list` lists them)");
			goto out;
		}
		if (a.o.watch && nargs > 2) {
			rc = nctl_usage_error(n, "-w watches at most one cluster");
			goto out;
		}
		rc = check_cluster_names(n, args + 1, nargs - 1);
		if (!rc)
			rc = list_kind(n, "managedclusters.cluster.open-cluster-management.io", args + 1,
				       (size_t)(nargs - 1), &a.o);
	} else if (!strcmp(sub, "accept") || !strcmp(sub, "deny")) {
		if (nargs < 2) {
			rc = nctl_usage_error(n, "%s which cluster? (`navectl cluster list` lists them)", sub);
			goto out;
		}
		rc = cluster_action(n, sub, args + 1, nargs - 1);
	} else if (!strcmp(sub, "label")) {
		if (nargs < 2) {
			rc = nctl_usage_error(n, "label which cluster? `navectl cluster label NAME KEY=VALUE`");
			goto out;
		}
		rc = cluster_label(n, &a, args + 1, nargs - 1);
	} else {
		rc = nctl_usage_error(n, "unknown subcommand \"%s\" (list, get, accept, deny or label)", sub);
	}
out:
	free(args);
	return rc;
}

/* version -------------------------------------------------------------------- */

static const char version_help[] =
	"Usage: navectl version [--client] [-o json|yaml]\n"
	"\n"
	"The version of navectl and of the server in the kubeconfig (its /version).\n"
	"\n"
	"Flags:\n"
	"  --client       only the client's version (no connection)\n"
	"  -o json|yaml   for scripts\n"
	"\n"
	"Exit status: 0 ok, 2 usage error, 3 hub unreachable or credential refused (the\n"
	"client's version is printed first).\n";

static const struct option version_opts[] = {
	{ "client", no_argument, NULL, OPT_CLIENT },
	{ "output", required_argument, NULL, 'o' },
	{ NULL, 0, NULL, 0 },
};

struct version_args {
	struct nctl *n;
	bool client;
	bool out_set;
	enum nctl_output out;
};

static int version_opt(void *ud, int val, const char *arg)
{
	struct version_args *a = ud;

	if (val == OPT_CLIENT) {
		a->client = true;
		return 0;
	}
	if (val == 'o') {
		if (nctl_output_parse(arg, &a->out) < 0 || (a->out != NCTL_OUT_JSON && a->out != NCTL_OUT_YAML))
			return nctl_usage_error(a->n, "-o/--output: \"%s\": version prints json or yaml", arg);
		a->out_set = true;
		return 0;
	}
	return nctl_usage_error(a->n, "unexpected flag");
}

int nctl_cmd_version(struct nctl *n, int argc, char **argv)
{
	struct version_args a = { .n = n };
	struct nctl_resp resp = { 0 };
	json_t *doc = NULL;
	char **args = NULL;
	int nargs = 0, rc;

	rc = nctl_getopt(n, argc, argv, "o:", version_opts, version_opt, &a, version_help, &args, &nargs);
	if (rc)
		return nctl_getopt_exit(rc);
	if (nargs) {
		rc = nctl_usage_error(n, "unexpected argument \"%s\"", args[0]);
		goto out;
	}
	doc = json_pack("{s:{s:s, s:s}}", "clientVersion", "naveVersion", NAVE_VERSION, "protocol",
			proto_version_string());
	if (!a.out_set)
		printf("Client Version: navectl %s (protocol %s)\n", NAVE_VERSION, proto_version_string());
	if (a.client)
		goto print;
	rc = nctl_connect(n);
	if (rc)
		goto print;
	if (nctl_request(n, &(struct kclient_request){ .method = KCLIENT_GET, .path = "/version" }, &resp) < 0) {
		rc = nctl_report(n, &resp, "asking the server's version");
		goto print;
	}
	json_object_set(doc, "serverVersion", resp.body);
	if (!a.out_set)
		printf("Server Version: %s (%s)\n",
		       json_string_value(json_object_get(resp.body, "gitVersion"))
			       ? json_string_value(json_object_get(resp.body, "gitVersion"))
			       : "unknown",
		       nctl_config(n)->server);
print:
	if (a.out_set)
		nctl_print_object(stdout, doc, a.out, true);
out:
	nctl_resp_clear(&resp);
	json_decref(doc);
	free(args);
	return rc;
}
