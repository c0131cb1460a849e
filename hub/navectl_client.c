/* navectl_client.c - navectl's connection to the hub.
 *
 * Finds and loads the kubeconfig, makes one kclient on a private libuv loop
 * and turns its asynchronous calls into synchronous ones by running the loop
 * until the callback has fired (a CLI does one thing at a time). Also:
 *  - Tables: kclient sends "Accept: application/json" and has no way to ask
 *    for anything else, so the GETs that want a meta.k8s.io Table go through
 *    libcurl's easy interface here, with the kubeconfig's TLS and token;
 *  - names of kinds as a user types them (plural, singular, short name,
 *    Kind, resource.group): kdiscovery maps apiVersion+kind only and keeps
 *    no short names, so this file reads /api and /apis itself (through
 *    kclient) into a table of struct nctl_resource;
 *  - errors: every failure is printed with what to do next, and mapped to
 *    the exit codes of navectl.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "alloc.h"
#include "buf.h"
#include "kubeconfig.h"
#include "navectl.h"
#include "nave_config.h"

#define NCTL_TABLE_ACCEPT "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
#define NCTL_MAX_TABLE_BODY (64u << 20)  /* a Table answer */
#define NCTL_MAX_GROUP_VERSIONS 1000     /* discovery: group versions read */
#define NCTL_MAX_RESOURCES 20000         /* discovery: resources kept */

/* Where to look for the kubeconfig when neither --kubeconfig nor
 * $KUBECONFIG says: the user's copy, then the system hub's. */
#define NCTL_USER_KUBECONFIG ".nave/admin.kubeconfig"
#define NCTL_SYSTEM_KUBECONFIG "/var/lib/nave/admin.kubeconfig"

/* Connecting ---------------------------------------------------------- */

/* The kubeconfig path(s) to load, or NULL (printed) when there is none.
 * Caller frees the result. */
static char *find_kubeconfig(struct nctl *n)
{
	const char *env = getenv("KUBECONFIG");
	const char *home = getenv("HOME");
	char *p;

	if (n->kubeconfig)
		return xstrdup(n->kubeconfig);
	if (env && *env)
		return xstrdup(env);
	if (home && *home) {
		p = xasprintf("%s/%s", home, NCTL_USER_KUBECONFIG);
		if (access(p, F_OK) == 0)
			return p;
		free(p);
	}
	if (access(NCTL_SYSTEM_KUBECONFIG, F_OK) == 0)
		return xstrdup(NCTL_SYSTEM_KUBECONFIG);
	fprintf(stderr,
		"error: no kubeconfig found (looked at --kubeconfig, $KUBECONFIG, ~/%s and %s)\n"
		"hint: pass --kubeconfig D/admin.kubeconfig for a hub made by `nave-hub init --data-dir D`, "
		"or run `nave-hub init` to make a hub\n",
		NCTL_USER_KUBECONFIG, NCTL_SYSTEM_KUBECONFIG);
	return NULL;
}

int nctl_connect(struct nctl *n)
{
	struct kclient_options opts = {
		.qps = -1, /* one user, one command: no client-side rate limit */
		.timeout_ms = n->timeout_ms,
		.connect_timeout_ms = n->timeout_ms < 10000 ? n->timeout_ms : 10000,
		.max_retries = 2,
		.backoff_base_ms = 200,
		.backoff_max_ms = 1000,
		.max_retry_after_ms = 5000,
		.user_agent = "navectl/" NAVE_VERSION,
	};
	struct kubeconfig *cfg = NULL;
	struct errbuf err = { "" };
	char *paths;
	int r;

	if (n->kc)
		return 0;
	paths = find_kubeconfig(n);
	if (!paths)
		return NCTL_EXIT_UNREACHABLE;
	r = kubeconfig_load_files(paths, n->context, &err, &cfg);
	if (r < 0) {
		fprintf(stderr, "error: cannot use the kubeconfig %s: %s\n", paths, err.msg);
		if (r == -ENOENT && n->context)
			fprintf(stderr, "hint: check --context %s against the contexts of the file\n", n->context);
		else if (r == -ENOENT || r == -EACCES)
			fprintf(stderr, "hint: pass --kubeconfig with the admin.kubeconfig that `nave-hub init` "
					"wrote (D/admin.kubeconfig), readable by this user\n");
		else
			fprintf(stderr, "hint: fix the field named above, or use the admin.kubeconfig that "
					"`nave-hub init` wrote\n");
		free(paths);
		return NCTL_EXIT_UNREACHABLE;
	}
	if (uv_loop_init(&n->loop) < 0) {
		fprintf(stderr, "error: cannot make an event loop\n");
		fprintf(stderr, "hint: the system is short of file descriptors or memory; try again\n");
		kubeconfig_free(cfg);
		free(paths);
		return NCTL_EXIT_FAILED;
	}
	n->loop_ready = true;
	r = kclient_new(&n->loop, cfg, &opts, &err, &n->kc);
	if (r < 0) {
		fprintf(stderr, "error: cannot make a client for %s: %s\n", paths, err.msg);
		fprintf(stderr, "hint: check the server URL and the TLS data of the kubeconfig\n");
		kubeconfig_free(cfg);
		free(paths);
		return NCTL_EXIT_FAILED;
	}
	n->config_path = paths;
	return 0;
}

void nctl_close(struct nctl *n)
{
	n->kd = kdiscovery_free(n->kd);
	n->kc = kclient_free(n->kc);
	if (n->loop_ready) {
		/* close callbacks release the handles' memory */
		for (int i = 0; i < 1000 && uv_run(&n->loop, UV_RUN_NOWAIT); i++)
			;
		uv_loop_close(&n->loop);
		n->loop_ready = false;
	}
	for (size_t i = 0; i < n->n_res; i++) {
		struct nctl_resource *e = &n->res[i];

		free(e->group);
		free(e->version);
		free(e->resource);
		free(e->singular);
		free(e->kind);
		json_decref(e->short_names);
	}
	free(n->res);
	n->res = NULL;
	n->n_res = 0;
	n->res_loaded = false;
	free(n->config_path);
	n->config_path = NULL;
}

struct kubeconfig *nctl_config(struct nctl *n)
{
	return n->kc ? kclient_config(n->kc) : NULL;
}

const char *nctl_namespace(struct nctl *n)
{
	struct kubeconfig *cfg = nctl_config(n);

	if (n->namespace)
		return n->namespace;
	return cfg && cfg->namespace ? cfg->namespace : "default";
}

/* Synchronous calls ------------------------------------------------------ */

void nctl_run_until(struct nctl *n, const bool *done)
{
	while (!*done)
		uv_run(&n->loop, UV_RUN_ONCE);
}

struct waiter {
	bool done;
	struct nctl_resp *resp;
};

static void resp_from_result(struct nctl_resp *resp, const struct kclient_result *res)
{
	resp->r = res->r;
	resp->status = res->status;
	resp->body = json_incref(res->body);
	if (res->r == 0 && !res->body && res->raw && res->raw_len) {
		resp->raw = xstrndup(res->raw, res->raw_len);
		resp->raw_len = res->raw_len;
	}
	if (res->err)
		resp->err = *res->err; /* details/causes point into body, which we hold */
	else
		memset(&resp->err, 0, sizeof(resp->err));
}

static void on_done(void *ud, const struct kclient_result *res)
{
	struct waiter *w = ud;

	resp_from_result(w->resp, res);
	w->done = true;
}

/* Wait for a call started with result r (the kclient function's return). */
static int finish(struct nctl *n, int r, struct waiter *w, struct nctl_resp *ret)
{
	if (r < 0) {
		ret->r = r;
		ret->err.reason = KCLIENT_UNKNOWN;
		snprintf(ret->err.message, sizeof(ret->err.message), "the request could not be made: %s",
			 strerror(-r));
		return r;
	}
	nctl_run_until(n, &w->done);
	return ret->r;
}

static void begin(struct waiter *w, struct nctl_resp *ret)
{
	memset(ret, 0, sizeof(*ret));
	w->done = false;
	w->resp = ret;
}

int nctl_request(struct nctl *n, const struct kclient_request *req, struct nctl_resp *ret)
{
	struct waiter w;

	begin(&w, ret);
	return finish(n, kclient_request(n->kc, req, NULL, on_done, &w, NULL), &w, ret);
}

int nctl_get(struct nctl *n, const struct kref *ref, struct nctl_resp *ret)
{
	struct waiter w;

	begin(&w, ret);
	return finish(n, kclient_get(n->kc, ref, on_done, &w, NULL), &w, ret);
}

int nctl_list(struct nctl *n, const struct kref *ref, const struct kclient_list_opts *opts,
	      struct nctl_resp *ret)
{
	struct waiter w;

	begin(&w, ret);
	return finish(n, kclient_list_all(n->kc, ref, opts, on_done, &w, NULL), &w, ret);
}

int nctl_apply(struct nctl *n, const struct kref *ref, const json_t *obj, bool force,
	       struct nctl_resp *ret)
{
	struct kclient_patch_opts po = { .field_manager = NCTL_FIELD_MANAGER, .force = force };
	struct waiter w;

	begin(&w, ret);
	return finish(n, kclient_apply(n->kc, ref, obj, &po, on_done, &w, NULL), &w, ret);
}

int nctl_patch(struct nctl *n, const struct kref *ref, enum kclient_patch_type type,
	       const json_t *patch, struct nctl_resp *ret)
{
	struct kclient_patch_opts po = { .field_manager = NCTL_FIELD_MANAGER };
	struct waiter w;

	begin(&w, ret);
	return finish(n, kclient_patch(n->kc, ref, type, patch, &po, on_done, &w, NULL), &w, ret);
}

int nctl_delete(struct nctl *n, const struct kref *ref, struct nctl_resp *ret)
{
	struct waiter w;

	begin(&w, ret);
	return finish(n, kclient_delete(n->kc, ref, NULL, on_done, &w, NULL), &w, ret);
}

void nctl_resp_clear(struct nctl_resp *ret)
{
	if (!ret)
		return;
	json_decref(ret->body);
	free(ret->raw);
	memset(ret, 0, sizeof(*ret));
}

/* Tables ------------------------------------------------------------------- */

int nctl_get_table(struct nctl *n, const char *path, struct nctl_resp *ret)
{
	struct kclient_request req = {
		.method = KCLIENT_GET,
		.path = path,
		.accept = NCTL_TABLE_ACCEPT,
		.max_body = NCTL_MAX_TABLE_BODY,
	};

	return nctl_request(n, &req, ret);
}

/* Errors ------------------------------------------------------------------- */

int nctl_exit_code(const struct nctl_resp *resp)
{
	if (resp->r == 0)
		return NCTL_EXIT_OK;
	switch (resp->err.reason) {
	case KCLIENT_TRANSPORT:
	case KCLIENT_TIMEOUT:
	case KCLIENT_UNAUTHORIZED:
	case KCLIENT_SERVICE_UNAVAILABLE:
	case KCLIENT_SERVER_TIMEOUT:
		return NCTL_EXIT_UNREACHABLE;
	default:
		return NCTL_EXIT_FAILED;
	}
}

static bool has(const char *s, const char *what)
{
	return strcasestr(s, what) != NULL;
}

int nctl_report(struct nctl *n, const struct nctl_resp *resp, const char *what)
{
	const struct kclient_error *e = &resp->err;
	struct kubeconfig *cfg = nctl_config(n);
	const char *server = cfg ? cfg->server : "the hub";
	const char *src = n->config_path ? n->config_path : "the kubeconfig";
	const char *pre = what ? what : "";
	const char *sep = what ? ": " : "";

	switch (e->reason) {
	case KCLIENT_TRANSPORT:
		fprintf(stderr, "error: %s%scannot reach %s: %s\n", pre, sep, server, e->message);
		if (has(e->message, "certificate") || has(e->message, "SSL") || has(e->message, "TLS"))
			fprintf(stderr, "hint: the server's certificate does not verify against the "
					"certificate-authority of %s: use this hub's admin.kubeconfig "
					"(`nave-hub init` wrote it to D/admin.kubeconfig)\n", src);
		else
			fprintf(stderr, "hint: is `nave-hub serve` running and listening at %s? "
					"(the address is the server: line of %s)\n", server, src);
		break;
	case KCLIENT_TIMEOUT:
		fprintf(stderr, "error: %s%sno answer from %s within %llu s: %s\n", pre, sep, server,
			(unsigned long long)(n->timeout_ms / 1000), e->message);
		fprintf(stderr, "hint: check that the hub is up and reachable, or raise --request-timeout\n");
		break;
	case KCLIENT_UNAUTHORIZED:
		fprintf(stderr, "error: %s%sthe hub at %s refused the credential of %s: %s%s\n", pre, sep,
			server, src, strncmp(e->message, "Unauthorized", 12) ? "Unauthorized: " : "", e->message);
		fprintf(stderr, "hint: use the admin.kubeconfig that `nave-hub init` wrote for this hub "
				"(D/admin.kubeconfig)\n");
		break;
	case KCLIENT_TOO_LARGE:
		fprintf(stderr, "error: %s%sthe answer from %s is too large: %s\n", pre, sep, server, e->message);
		fprintf(stderr, "hint: narrow the request (-n, -l)\n");
		break;
	case KCLIENT_DECODE:
		fprintf(stderr, "error: %s%sthe answer from %s is not JSON: %s\n", pre, sep, server, e->message);
		fprintf(stderr, "hint: check that the server: line of %s points at a Nave hub\n", src);
		break;
	case KCLIENT_CANCELED:
	case KCLIENT_UNKNOWN:
		if (!resp->status) {
			fprintf(stderr, "error: %s%s%s\n", pre, sep, e->message);
			fprintf(stderr, "hint: run again with -v to see the requests\n");
			break;
		}
		/* fall through */
	default:
		fprintf(stderr, "%s%sError from server (%s): %s\n", pre, sep,
			*e->status_reason ? e->status_reason : kclient_reason_name(e->reason), e->message);
		switch (e->reason) {
		case KCLIENT_NOT_FOUND:
			fprintf(stderr, "hint: check the name and, for namespaced kinds, the namespace "
					"(-n NS; -A lists every namespace)\n");
			break;
		case KCLIENT_ALREADY_EXISTS:
			fprintf(stderr, "hint: it exists already; `navectl apply -f` updates it\n");
			break;
		case KCLIENT_CONFLICT:
			if (has(e->message, "apply failed") || has(e->message, "conflict with"))
				fprintf(stderr, "hint: another manager owns these fields; apply again with "
						"--force-conflicts to take them over\n");
			else
				fprintf(stderr, "hint: the object changed meanwhile; run the command again\n");
			break;
		case KCLIENT_INVALID:
		case KCLIENT_BAD_REQUEST:
			fprintf(stderr, "hint: fix the field named above and try again\n");
			break;
		case KCLIENT_FORBIDDEN:
			fprintf(stderr, "hint: the identity in %s may not do this; use the hub's admin "
					"kubeconfig\n", src);
			break;
		case KCLIENT_REQUEST_TOO_LARGE:
			fprintf(stderr, "hint: the object is over the server's size limit; split it "
					"(e.g. several ManifestWorks)\n");
			break;
		case KCLIENT_METHOD_NOT_ALLOWED:
			fprintf(stderr, "hint: the server does not allow this operation on this kind\n");
			break;
		case KCLIENT_SERVICE_UNAVAILABLE:
		case KCLIENT_SERVER_TIMEOUT:
			fprintf(stderr, "hint: the hub is starting, stopping or overloaded; try again shortly\n");
			break;
		case KCLIENT_EXPIRED:
		case KCLIENT_GONE:
		case KCLIENT_TOO_MANY_REQUESTS:
			fprintf(stderr, "hint: run the command again\n");
			break;
		case KCLIENT_INTERNAL_ERROR:
			fprintf(stderr, "hint: the server failed; its log says more; try again\n");
			break;
		default:
			break;
		}
		break;
	}
	return nctl_exit_code(resp);
}

/* Names of kinds ------------------------------------------------------------ */

char *nctl_kind_group(const char *kind, const char *group, char *out)
{
	size_t i;

	for (i = 0; kind && kind[i] && i < 200; i++)
		out[i] = (char)((kind[i] >= 'A' && kind[i] <= 'Z') ? kind[i] - 'A' + 'a' : kind[i]);
	out[i] = '\0';
	if (group && *group)
		snprintf(out + i, 400 - i, ".%.190s", group);
	return out;
}

struct disco {
	struct nctl *n;
	unsigned pending;
	bool failed;
	struct nctl_resp fail; /* the first failure of /apis (owned) */
	json_t *lists;         /* array of [groupVersion, preferred, APIResourceList] */
};

struct disco_gv {
	struct disco *d;
	char *gv;
	bool preferred;
};

static void on_gv(void *ud, const struct kclient_result *res)
{
	struct disco_gv *g = ud;

	/* A group version that fails is left out (the hub serves no /api/v1,
	 * for one); the others still resolve. */
	if (res->r == 0 && json_is_object(res->body))
		json_array_append_new(g->d->lists, json_pack("[sbO]", g->gv, g->preferred, res->body));
	g->d->pending--;
	free(g->gv);
	free(g);
}

static void start_gv(struct disco *d, const char *gv, bool preferred)
{
	struct disco_gv *g;
	char *path;
	int r;

	if (d->pending + json_array_size(d->lists) >= NCTL_MAX_GROUP_VERSIONS)
		return;
	g = xnew(struct disco_gv);
	g->d = d;
	g->gv = xstrdup(gv);
	g->preferred = preferred;
	path = strchr(gv, '/') ? xasprintf("/apis/%s", gv) : xasprintf("/api/%s", gv);
	r = kclient_request(d->n->kc, &(struct kclient_request){ .method = KCLIENT_GET, .path = path },
			    NULL, on_gv, g, NULL);
	free(path);
	if (r < 0) {
		free(g->gv);
		free(g);
		return;
	}
	d->pending++;
}

static void add_resources(struct nctl *n, const char *gv, bool preferred, const json_t *list)
{
	char group[254] = "", version[64];
	const char *slash = strchr(gv, '/');
	json_t *item;
	size_t i;

	if (slash) {
		snprintf(group, sizeof(group), "%.*s", (int)(slash - gv), gv);
		snprintf(version, sizeof(version), "%s", slash + 1);
	} else {
		snprintf(version, sizeof(version), "%s", gv);
	}
	json_array_foreach(json_object_get(list, "resources"), i, item) {
		const char *name = json_string_value(json_object_get(item, "name"));
		const char *kind = json_string_value(json_object_get(item, "kind"));
		const char *singular = json_string_value(json_object_get(item, "singularName"));
		json_t *sn = json_object_get(item, "shortNames");
		struct nctl_resource *e;

		if (!name || !kind || strchr(name, '/') || n->n_res >= NCTL_MAX_RESOURCES)
			continue;
		n->res = xrealloc(n->res, (n->n_res + 1) * sizeof(*n->res));
		e = &n->res[n->n_res++];
		memset(e, 0, sizeof(*e));
		e->group = xstrdup(group);
		e->version = xstrdup(version);
		e->resource = xstrdup(name);
		e->kind = xstrdup(kind);
		if (singular && *singular) {
			e->singular = xstrdup(singular);
		} else {
			char low[400];

			e->singular = xstrdup(nctl_kind_group(kind, NULL, low));
		}
		e->short_names = json_is_array(sn) ? json_deep_copy(sn) : json_array();
		e->namespaced = json_is_true(json_object_get(item, "namespaced"));
		e->preferred = preferred;
	}
}

static void on_root(void *ud, const struct kclient_result *res)
{
	struct disco *d = ud;
	json_t *groups, *g, *v;
	size_t i, j;

	d->pending--;
	if (res->r < 0) {
		if (res->err && res->err->reason == KCLIENT_NOT_FOUND)
			return; /* no core group (/api), say */
		if (!d->failed) {
			d->failed = true;
			resp_from_result(&d->fail, res);
		}
		return;
	}
	if (json_is_array(json_object_get(res->body, "versions"))) { /* /api */
		json_array_foreach(json_object_get(res->body, "versions"), i, v)
			if (json_is_string(v))
				start_gv(d, json_string_value(v), i == 0);
		return;
	}
	groups = json_object_get(res->body, "groups");
	json_array_foreach(groups, i, g) {
		const char *pref = json_string_value(
			json_object_get(json_object_get(g, "preferredVersion"), "groupVersion"));

		json_array_foreach(json_object_get(g, "versions"), j, v) {
			const char *gv = json_string_value(json_object_get(v, "groupVersion"));

			if (gv)
				start_gv(d, gv, pref ? !strcmp(pref, gv) : j == 0);
		}
	}
}

/* Read discovery into n->res (once). Returns 0 or an exit code (printed). */
static int load_resources(struct nctl *n)
{
	struct disco d = { .n = n };
	static const char *const roots[] = { "/api", "/apis" };
	size_t i;
	int rc = 0;

	if (n->res_loaded)
		return 0;
	d.lists = json_array();
	for (i = 0; i < 2; i++) {
		if (kclient_request(n->kc, &(struct kclient_request){ .method = KCLIENT_GET, .path = roots[i] },
				    NULL, on_root, &d, NULL) == 0)
			d.pending++;
	}
	while (d.pending)
		uv_run(&n->loop, UV_RUN_ONCE);
	if (d.failed) {
		rc = nctl_report(n, &d.fail, "reading the server's API discovery");
		goto out;
	}
	/* Keep /api before /apis and the server's group order, as kubectl resolves. */
	for (int pass = 0; pass < 2; pass++) {
		json_t *l;

		json_array_foreach(d.lists, i, l) {
			const char *gv = json_string_value(json_array_get(l, 0));
			bool core = !strchr(gv, '/');

			if ((pass == 0) == core)
				add_resources(n, gv, json_is_true(json_array_get(l, 1)), json_array_get(l, 2));
		}
	}
	n->res_loaded = true;
out:
	nctl_resp_clear(&d.fail);
	json_decref(d.lists);
	return rc;
}

static bool word_matches(const struct nctl_resource *e, const char *w, bool by_kind)
{
	json_t *s;
	size_t i;

	if (by_kind)
		return !strcasecmp(w, e->kind);
	if (!strcasecmp(w, e->resource) || !strcasecmp(w, e->singular))
		return true;
	json_array_foreach(e->short_names, i, s)
		if (json_is_string(s) && !strcasecmp(w, json_string_value(s)))
			return true;
	return false;
}

int nctl_resource_find(struct nctl *n, const char *word, const struct nctl_resource **ret_res,
		       int *ret_exit)
{
	char res[254] = "", rest[400] = "";
	const char *dot = strchr(word, '.');
	int rc;

	rc = load_resources(n);
	if (rc) {
		*ret_exit = rc;
		return -EIO;
	}
	if (dot) {
		snprintf(res, sizeof(res), "%.*s", (int)(dot - word), word);
		snprintf(rest, sizeof(rest), "%s", dot + 1);
	}
	/* Plural, singular and short names first, then Kind; preferred versions
	 * before the others; "resource.group" and "resource.version.group" when
	 * the word has dots. */
	for (int by_kind = 0; by_kind < 2; by_kind++)
		for (int pref = 1; pref >= 0; pref--)
			for (size_t i = 0; i < n->n_res; i++) {
				const struct nctl_resource *e = &n->res[i];

				if (e->preferred != (bool)pref)
					continue;
				if (word_matches(e, word, by_kind)) {
					*ret_res = e;
					return 0;
				}
				if (dot && word_matches(e, res, by_kind)) {
					char gv[400];

					snprintf(gv, sizeof(gv), "%s.%s", e->version, e->group);
					if (!strcasecmp(rest, e->group) || !strcasecmp(rest, gv)) {
						*ret_res = e;
						return 0;
					}
				}
			}
	fprintf(stderr, "error: the server doesn't have a resource type \"%s\"\n", word);
	fprintf(stderr, "hint: the kinds it serves:");
	for (size_t i = 0, k = 0; i < n->n_res && k < 30; i++) {
		const struct nctl_resource *e = &n->res[i];

		if (!e->preferred)
			continue;
		fprintf(stderr, "%s%s", k++ ? ", " : " ", e->resource);
		if (json_array_size(e->short_names))
			fprintf(stderr, " (%s)", json_string_value(json_array_get(e->short_names, 0)));
	}
	fprintf(stderr, "\n");
	*ret_exit = NCTL_EXIT_FAILED;
	return -ENOENT;
}

bool nctl_serves_group_version(struct nctl *n, const char *api_version)
{
	if (load_resources(n) != 0)
		return true; /* unknown: say nothing */
	for (size_t i = 0; i < n->n_res; i++) {
		const struct nctl_resource *e = &n->res[i];
		char gv[400];

		if (*e->group)
			snprintf(gv, sizeof(gv), "%s/%s", e->group, e->version);
		else
			snprintf(gv, sizeof(gv), "%s", e->version);
		if (!strcmp(gv, api_version))
			return true;
	}
	return false;
}

struct kdiscovery *nctl_discovery(struct nctl *n)
{
	if (!n->kd && kdiscovery_new(n->kc, NULL, &n->kd) < 0)
		n->kd = NULL;
	return n->kd;
}

struct gvk_wait {
	bool done;
	int r;
	struct kmapping m;
	struct kclient_error err;
};

static void on_gvk(void *ud, int r, const struct kmapping *m, const struct kclient_error *err)
{
	struct gvk_wait *w = ud;

	w->r = r;
	if (m)
		w->m = *m;
	if (err) {
		w->err = *err;
		w->err.details = NULL; /* borrowed for the call only */
		w->err.causes = NULL;
	}
	w->done = true;
}

int nctl_resolve_gvk(struct nctl *n, const char *api_version, const char *kind,
		     struct kmapping *ret_m, struct kclient_error *ret_err)
{
	struct kdiscovery *kd = nctl_discovery(n);
	struct gvk_wait w = { 0 };
	int r;

	memset(ret_err, 0, sizeof(*ret_err));
	if (!kd) {
		ret_err->reason = KCLIENT_UNKNOWN;
		snprintf(ret_err->message, sizeof(ret_err->message), "cannot start API discovery");
		return -ENOMEM;
	}
	r = kdiscovery_resolve(kd, api_version, kind, on_gvk, &w, NULL);
	if (r < 0) {
		ret_err->reason = KCLIENT_BAD_REQUEST;
		snprintf(ret_err->message, sizeof(ret_err->message),
			 "apiVersion \"%s\" and kind \"%s\" are not valid", api_version, kind);
		return r;
	}
	nctl_run_until(n, &w.done);
	if (w.r < 0) {
		*ret_err = w.err;
		return w.r;
	}
	*ret_m = w.m;
	return 0;
}
