/* navectl_get.c - get (with -w), delete by name, describe.
 *
 * Kinds are named as the user likes (nctl_resource_find: plural, singular,
 * short name, Kind, resource.group). Human output asks the server for a
 * Table (nctl_get_table) and prints its columns; -o json|yaml|name read the
 * objects through kclient (lists through every page). `get -w` prints the
 * current state, then follows a kwatch from the listed resourceVersion
 * (resumed and relisted by kwatch as needed) until SIGINT or SIGTERM; in
 * table form each changed object's row is fetched as a one-row Table, and a
 * deleted object's last row is printed from a cache.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "codec.h"
#include "kobj.h"
#include "kwatch.h"
#include "navectl.h"
#include "timefmt.h"
#include "x509.h"
#include "yaml.h"

#define NCTL_MAX_PATH 8192

static const char *dflt(const char *s, const char *d)
{
	return s ? s : d;
}

/* Path of res (collection when name is NULL), with an optional query. */
static char *res_path(const struct nctl_resource *res, const char *ns, const char *name,
		      const char *label_sel, const char *field_sel)
{
	struct kref ref = { .group = res->group, .version = res->version, .resource = res->resource,
			    .namespace = res->namespaced ? ns : NULL, .name = name };
	struct errbuf err;
	struct buf b;
	char sep = '?';

	buf_init(&b, NCTL_MAX_PATH);
	if (kref_path(&ref, &b, &err) < 0) {
		fprintf(stderr, "error: %s\n", err.msg);
		fprintf(stderr, "hint: names and namespaces are DNS-1123 names (lowercase letters, digits, '-', '.')\n");
		buf_free(&b);
		return NULL;
	}
	if (label_sel && *label_sel) {
		buf_printf(&b, "%clabelSelector=", sep);
		kclient_query_escape(&b, label_sel);
		sep = '&';
	}
	if (field_sel && *field_sel) {
		buf_printf(&b, "%cfieldSelector=", sep);
		kclient_query_escape(&b, field_sel);
	}
	return buf_steal(&b, NULL);
}

static void fill_type(json_t *obj, const struct nctl_resource *res)
{
	if (!kobj_api_version(obj)) {
		char *av = *res->group ? xasprintf("%s/%s", res->group, res->version) : xstrdup(res->version);

		json_object_set_new(obj, "apiVersion", json_string(av));
		free(av);
	}
	if (!kobj_kind(obj))
		json_object_set_new(obj, "kind", json_string(res->kind));
}

static json_t *new_list(void)
{
	return json_pack("{s:s, s:s, s:[], s:{s:s}}", "apiVersion", "v1", "kind", "List", "items", "metadata",
			 "resourceVersion", "");
}

static void no_resources(const struct nctl_resource *res, const struct nctl_get_opts *o)
{
	if (res->namespaced && !o->all_namespaces && o->namespace)
		fprintf(stderr, "No resources found in %s namespace.\n", o->namespace);
	else
		fprintf(stderr, "No resources found\n");
}

/* Watching ----------------------------------------------------------------- */

struct watch_ctx {
	struct nctl *n;
	const struct nctl_resource *res;
	const struct nctl_get_opts *o;
	struct nctl_table_opts topts;
	struct nctl_table_state st;
	json_t *rows;      /* owned: key -> last one-row Table, for DELETED */
	bool skip_initial; /* ignore events until the first sync (no resourceVersion to start from) */
	bool stop;
	int rc;
	bool warned;
	uv_signal_t sigint, sigterm;
};

static void watch_print_table(struct watch_ctx *c, enum kwatch_event type, json_t *obj)
{
	const char *name = kobj_name(obj), *ns = kobj_namespace(obj);
	char *key = xasprintf("%s/%s", ns ? ns : "", name ? name : "");
	json_t *t = NULL;

	if (type != KWATCH_DELETED) {
		struct nctl_resp resp;
		char *path = res_path(c->res, ns, name, NULL, NULL);

		if (path && nctl_get_table(c->n, path, &resp) == 0 && resp.body) {
			t = json_incref(resp.body);
			json_object_set(c->rows, key, t);
		}
		nctl_resp_clear(&resp);
		free(path);
	}
	if (!t)
		t = json_incref(json_object_get(c->rows, key));
	if (!t) /* no row from the server: NAME and AGE from the object */
		t = json_incref(obj);
	nctl_print_table(stdout, t, &c->topts, &c->st);
	if (type == KWATCH_DELETED)
		json_object_del(c->rows, key);
	json_decref(t);
	free(key);
}

static void on_event(void *ud, struct kwatch *w, enum kwatch_event type, json_t *obj)
{
	struct watch_ctx *c = ud;

	if (c->skip_initial && !kwatch_synced(w))
		return;
	switch (c->o->out) {
	case NCTL_OUT_TABLE:
	case NCTL_OUT_WIDE:
		watch_print_table(c, type, obj);
		break;
	case NCTL_OUT_NAME:
		nctl_print_name(stdout, obj, c->res->group);
		break;
	default: {
		json_t *copy = json_deep_copy(obj);

		fill_type(copy, c->res);
		if (c->o->out == NCTL_OUT_YAML)
			fputs("---\n", stdout);
		nctl_print_object(stdout, copy, c->o->out, c->o->show_managed);
		json_decref(copy);
		break;
	}
	}
	fflush(stdout);
}

static void on_synced(void *ud, struct kwatch *w, bool relist)
{
	(void)ud;
	(void)w;
	(void)relist;
}

static void on_watch_error(void *ud, struct kwatch *w, const struct kclient_error *err)
{
	struct watch_ctx *c = ud;
	struct nctl_resp resp = { .r = -EIO, .err = *err, .status = err->code };

	(void)w;
	switch (err->reason) {
	case KCLIENT_UNAUTHORIZED:
	case KCLIENT_FORBIDDEN:
	case KCLIENT_NOT_FOUND:
	case KCLIENT_METHOD_NOT_ALLOWED:
	case KCLIENT_BAD_REQUEST:
	case KCLIENT_INVALID:
		c->rc = nctl_report(c->n, &resp, "watching");
		c->stop = true;
		return;
	default:
		if (!c->warned)
			fprintf(stderr, "warning: the watch was interrupted (%s: %s); retrying until "
					"interrupted with Ctrl-C\n", kclient_reason_name(err->reason), err->message);
		c->warned = true;
	}
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct watch_ctx *c = h->data;

	(void)signum;
	c->stop = true;
}

static int watch(struct nctl *n, const struct nctl_resource *res, const char *name, const char *rv,
		 const struct nctl_get_opts *o, struct nctl_table_state *st)
{
	struct kref ref = { .group = res->group, .version = res->version, .resource = res->resource,
			    .namespace = res->namespaced && !o->all_namespaces ? o->namespace : NULL };
	struct kwatch_handlers h = { .event = on_event, .synced = on_synced, .error = on_watch_error };
	struct kwatch_options wo = { .label_selector = o->label_selector, .resource_version = rv };
	struct watch_ctx c = { .n = n, .res = res, .o = o };
	struct kwatch *w = NULL;
	char *fsel = NULL;
	int r;

	c.topts = (struct nctl_table_opts){ .wide = o->out == NCTL_OUT_WIDE, .no_headers = o->no_headers,
					    .with_namespace = res->namespaced && o->all_namespaces,
					    .show_labels = o->show_labels };
	if (st)
		c.st = *st;
	c.rows = json_object();
	c.skip_initial = !rv || !*rv;
	if (c.skip_initial)
		wo.resource_version = NULL;
	if (name)
		fsel = o->field_selector && *o->field_selector
			       ? xasprintf("metadata.name=%s,%s", name, o->field_selector)
			       : xasprintf("metadata.name=%s", name);
	else if (o->field_selector)
		fsel = xstrdup(o->field_selector);
	wo.field_selector = fsel;
	uv_signal_init(&n->loop, &c.sigint);
	uv_signal_init(&n->loop, &c.sigterm);
	c.sigint.data = c.sigterm.data = &c;
	uv_signal_start(&c.sigint, on_signal, SIGINT);
	uv_signal_start(&c.sigterm, on_signal, SIGTERM);
	r = kwatch_start(n->kc, &ref, &wo, &h, &c, &w);
	if (r < 0) {
		fprintf(stderr, "error: cannot watch %s: %s\n", res->resource, strerror(-r));
		fprintf(stderr, "hint: check -l and --field-selector\n");
		c.rc = NCTL_EXIT_FAILED;
	} else {
		nctl_run_until(n, &c.stop);
	}
	kwatch_free(w);
	uv_close((uv_handle_t *)&c.sigint, NULL);
	uv_close((uv_handle_t *)&c.sigterm, NULL);
	uv_run(&n->loop, UV_RUN_NOWAIT);
	json_decref(c.rows);
	free(fsel);
	return c.rc;
}

/* get ---------------------------------------------------------------------- */

/* Add the rows of t to *acc (the first Table becomes acc). */
static void table_merge(json_t **acc, json_t *t)
{
	json_t *row;
	size_t i;

	if (!*acc) {
		*acc = json_incref(t);
		return;
	}
	json_array_foreach(json_object_get(t, "rows"), i, row)
		json_array_append(json_object_get(*acc, "rows"), row);
}

static int get_tables(struct nctl *n, const struct nctl_resource *res, char *const *names, size_t n_names,
		      const struct nctl_get_opts *o, char **ret_rv, struct nctl_table_state *st)
{
	struct nctl_table_opts topts = { .wide = o->out == NCTL_OUT_WIDE, .no_headers = o->no_headers,
					 .with_namespace = res->namespaced && o->all_namespaces,
					 .show_labels = o->show_labels };
	const char *ns = o->all_namespaces ? NULL : o->namespace;
	json_t *tables = NULL, *objects = json_array();
	struct nctl_resp resp;
	size_t shown = 0;
	int rc = 0;

	for (size_t i = 0; i < (n_names ? n_names : 1); i++) {
		char *path = n_names ? res_path(res, ns, names[i], NULL, NULL)
				     : res_path(res, ns, NULL, o->label_selector, o->field_selector);
		const char *kind;

		if (!path) {
			rc = NCTL_EXIT_USAGE;
			continue;
		}
		if (nctl_get_table(n, path, &resp) < 0) {
			free(path);
			if (resp.err.reason == KCLIENT_NOT_FOUND && n_names && o->ignore_not_found) {
				nctl_resp_clear(&resp);
				continue;
			}
			rc = nctl_report(n, &resp, NULL);
			nctl_resp_clear(&resp);
			if (rc == NCTL_EXIT_UNREACHABLE)
				break;
			continue;
		}
		free(path);
		kind = kobj_kind(resp.body);
		if (kind && !strcmp(kind, "Table")) {
			table_merge(&tables, resp.body);
		} else if (json_is_array(json_object_get(resp.body, "items"))) {
			json_array_extend(objects, json_object_get(resp.body, "items"));
			if (ret_rv && !*ret_rv)
				*ret_rv = xstrdup(kobj_resource_version(resp.body) ? kobj_resource_version(resp.body) : "");
		} else if (resp.body) {
			json_array_append(objects, resp.body);
		}
		if (!n_names && ret_rv && tables) {
			const char *rv = json_string_value(
				json_object_get(json_object_get(tables, "metadata"), "resourceVersion"));

			free(*ret_rv);
			*ret_rv = rv ? xstrdup(rv) : NULL;
		}
		nctl_resp_clear(&resp);
	}
	if (!o->watch_only) {
		if (tables && json_array_size(json_object_get(tables, "rows")))
			shown += nctl_print_table(stdout, tables, &topts, st);
		if (json_array_size(objects)) {
			json_t *l = json_pack("{s:O}", "items", objects);

			shown += nctl_print_table(stdout, l, &topts, st);
			json_decref(l);
		}
		if (!shown && !n_names && rc == 0)
			no_resources(res, o);
	} else if (st) {
		/* remember the widths for the watch rows without printing */
		FILE *null = fopen("/dev/null", "w");

		if (null) {
			if (tables)
				nctl_print_table(null, tables, &topts, st);
			st->printed_header = false;
			fclose(null);
		}
	}
	fflush(stdout);
	json_decref(tables);
	json_decref(objects);
	return rc;
}

static int get_objects(struct nctl *n, const struct nctl_resource *res, char *const *names, size_t n_names,
		       const struct nctl_get_opts *o, char **ret_rv)
{
	struct kref ref = { .group = res->group, .version = res->version, .resource = res->resource,
			    .namespace = res->namespaced && !o->all_namespaces ? o->namespace : NULL };
	struct kclient_list_opts lo = { .label_selector = o->label_selector,
					.field_selector = o->field_selector };
	json_t *items = json_array(), *it;
	struct nctl_resp resp;
	size_t i;
	int rc = 0;

	if (n_names) {
		for (i = 0; i < n_names; i++) {
			ref.name = names[i];
			if (nctl_get(n, &ref, &resp) < 0) {
				if (!(resp.err.reason == KCLIENT_NOT_FOUND && o->ignore_not_found)) {
					rc = nctl_report(n, &resp, NULL);
					if (rc == NCTL_EXIT_UNREACHABLE) {
						nctl_resp_clear(&resp);
						break;
					}
				}
			} else {
				json_array_append(items, resp.body);
				if (ret_rv && !*ret_rv && kobj_resource_version(resp.body))
					*ret_rv = xstrdup(kobj_resource_version(resp.body));
			}
			nctl_resp_clear(&resp);
		}
	} else {
		if (nctl_list(n, &ref, &lo, &resp) < 0) {
			rc = nctl_report(n, &resp, NULL);
			nctl_resp_clear(&resp);
			json_decref(items);
			return rc;
		}
		json_array_extend(items, json_object_get(resp.body, "items"));
		if (ret_rv) {
			const char *rv = kobj_resource_version(resp.body);

			*ret_rv = rv ? xstrdup(rv) : NULL;
		}
		nctl_resp_clear(&resp);
	}
	json_array_foreach(items, i, it)
		fill_type(it, res);
	if (o->watch_only)
		goto out;
	if (o->out == NCTL_OUT_NAME) {
		json_array_foreach(items, i, it)
			nctl_print_name(stdout, it, res->group);
	} else if (n_names == 1 && json_array_size(items) == 1) {
		nctl_print_object(stdout, json_array_get(items, 0), o->out, o->show_managed);
	} else if (n_names && !json_array_size(items)) {
		/* nothing found: the errors said so */
	} else {
		json_t *l = new_list();

		json_object_set(l, "items", items);
		nctl_print_object(stdout, l, o->out, o->show_managed);
		json_decref(l);
	}
	if (!n_names && !json_array_size(items) && o->out == NCTL_OUT_NAME)
		no_resources(res, o);
out:
	fflush(stdout);
	json_decref(items);
	return rc;
}

int nctl_get_print(struct nctl *n, const struct nctl_resource *res, char *const *names, size_t n_names,
		   const struct nctl_get_opts *o)
{
	struct nctl_table_state st = { 0 };
	char *rv = NULL;
	int rc;

	if (o->out == NCTL_OUT_TABLE || o->out == NCTL_OUT_WIDE)
		rc = get_tables(n, res, names, n_names, o, o->watch ? &rv : NULL, &st);
	else
		rc = get_objects(n, res, names, n_names, o, o->watch ? &rv : NULL);
	if (o->watch && rc != NCTL_EXIT_UNREACHABLE) {
		int wrc = watch(n, res, n_names ? names[0] : NULL, rv, o, &st);

		rc = wrc ? wrc : rc;
	}
	free(rv);
	return rc;
}

static const char get_help[] =
	"Usage: navectl get KIND [NAME...] [FLAGS]\n"
	"       navectl get KIND/NAME... [FLAGS]\n"
	"\n"
	"List objects of a kind, or show the named ones. KIND is a resource's plural,\n"
	"singular, short name or Kind, as the server's discovery lists them, e.g.\n"
	"managedclusters (mcl), manifestworks (mw), bootstraptokens (bt), csr; add\n"
	"the group when names clash (manifestworks.work.open-cluster-management.io).\n"
	"\n"
	"Flags:\n"
	"  -n, --namespace NS       namespace (default: the kubeconfig's, else \"default\")\n"
	"  -A, --all-namespaces     every namespace (adds a NAMESPACE column)\n"
	"  -l, --selector SEL       label selector (env=prod,tier in (web))\n"
	"      --field-selector SEL field selector (metadata.name=x)\n"
	"  -o, --output FMT         wide, yaml, json or name (default: the server's table)\n"
	"  -w, --watch              after printing, follow changes until Ctrl-C\n"
	"      --watch-only         follow changes without printing the current state\n"
	"      --no-headers         table without its header line\n"
	"      --show-labels        a LABELS column\n"
	"      --show-managed-fields  keep metadata.managedFields in json/yaml\n"
	"      --ignore-not-found   a missing NAME is not an error\n"
	"\n"
	"Exit status: 0 ok, 1 failed (e.g. NotFound), 2 usage error, 3 hub unreachable or\n"
	"credential refused.\n";

enum {
	OPT_FIELD_SELECTOR = 1,
	OPT_WATCH_ONLY,
	OPT_NO_HEADERS,
	OPT_SHOW_LABELS,
	OPT_SHOW_MANAGED,
	OPT_IGNORE_NOT_FOUND,
	OPT_RECURSIVE,
	OPT_FILENAME,
};

static const struct option get_opts[] = {
	{ "all-namespaces", no_argument, NULL, 'A' },
	{ "selector", required_argument, NULL, 'l' },
	{ "field-selector", required_argument, NULL, OPT_FIELD_SELECTOR },
	{ "output", required_argument, NULL, 'o' },
	{ "watch", no_argument, NULL, 'w' },
	{ "watch-only", no_argument, NULL, OPT_WATCH_ONLY },
	{ "no-headers", no_argument, NULL, OPT_NO_HEADERS },
	{ "show-labels", no_argument, NULL, OPT_SHOW_LABELS },
	{ "show-managed-fields", no_argument, NULL, OPT_SHOW_MANAGED },
	{ "ignore-not-found", no_argument, NULL, OPT_IGNORE_NOT_FOUND },
	{ NULL, 0, NULL, 0 },
};

struct get_args {
	struct nctl *n;
	struct nctl_get_opts o;
};

static int get_opt(void *ud, int val, const char *arg)
{
	struct get_args *a = ud;

	switch (val) {
	case 'A':
		a->o.all_namespaces = true;
		return 0;
	case 'l':
		a->o.label_selector = arg;
		return 0;
	case OPT_FIELD_SELECTOR:
		a->o.field_selector = arg;
		return 0;
	case 'o':
		if (nctl_output_parse(arg, &a->o.out) < 0)
			return nctl_usage_error(a->n, "-o/--output: unknown format \"%s\" "
						      "(one of wide, yaml, json, name)", arg);
		return 0;
	case 'w':
		a->o.watch = true;
		return 0;
	case OPT_WATCH_ONLY:
		a->o.watch = a->o.watch_only = true;
		return 0;
	case OPT_NO_HEADERS:
		a->o.no_headers = true;
		return 0;
	case OPT_SHOW_LABELS:
		a->o.show_labels = true;
		return 0;
	case OPT_SHOW_MANAGED:
		a->o.show_managed = true;
		return 0;
	case OPT_IGNORE_NOT_FOUND:
		a->o.ignore_not_found = true;
		return 0;
	default:
		return nctl_usage_error(a->n, "unexpected flag");
	}
}

/* The positional arguments as KIND NAME... or KIND/NAME...: calls fn once
 * per kind with its names. Returns an exit code. */
static int for_each_kind(struct nctl *n, char **args, int nargs,
			 int (*fn)(struct nctl *n, const struct nctl_resource *res, char *const *names,
				   size_t n_names, void *ud),
			 void *ud)
{
	const struct nctl_resource *res;
	int rc = 0, ec;

	if (strchr(args[0], '/')) {
		for (int i = 0; i < nargs; i++) {
			char *slash = strchr(args[i], '/');
			char *kind, *name;

			if (!slash || slash == args[i] || !slash[1]) {
				return nctl_usage_error(n, "\"%s\": mix of KIND/NAME and other arguments; "
							   "write each as KIND/NAME", args[i]);
			}
			kind = xstrndup(args[i], (size_t)(slash - args[i]));
			name = slash + 1;
			if (nctl_resource_find(n, kind, &res, &ec) < 0) {
				free(kind);
				rc = ec;
				if (rc == NCTL_EXIT_UNREACHABLE)
					return rc;
				continue;
			}
			free(kind);
			ec = fn(n, res, &name, 1, ud);
			if (ec)
				rc = ec;
			if (rc == NCTL_EXIT_UNREACHABLE)
				return rc;
		}
		return rc;
	}
	if (nctl_resource_find(n, args[0], &res, &ec) < 0)
		return ec;
	for (int i = 1; i < nargs; i++)
		if (strchr(args[i], '/'))
			return nctl_usage_error(n, "\"%s\": give names without a kind after KIND", args[i]);
	return fn(n, res, args + 1, (size_t)(nargs - 1), ud);
}

static int get_one_kind(struct nctl *n, const struct nctl_resource *res, char *const *names, size_t n_names,
			void *ud)
{
	return nctl_get_print(n, res, names, n_names, ud);
}

int nctl_cmd_get(struct nctl *n, int argc, char **argv)
{
	struct get_args a = { .n = n };
	char **args = NULL;
	int nargs = 0, rc;

	rc = nctl_getopt(n, argc, argv, "Al:o:w", get_opts, get_opt, &a, get_help, &args, &nargs);
	if (rc)
		return nctl_getopt_exit(rc);
	if (nargs < 1) {
		rc = nctl_usage_error(n, "which kind? e.g. `navectl get managedclusters` or `navectl get mw -n cluster1`");
		goto out;
	}
	if (a.o.watch && (nargs > 2 || strchr(args[0], '/'))) {
		rc = nctl_usage_error(n, "-w watches one kind, with at most one NAME");
		goto out;
	}
	rc = nctl_connect(n);
	if (rc)
		goto out;
	a.o.namespace = nctl_namespace(n);
	rc = for_each_kind(n, args, nargs, get_one_kind, &a.o);
out:
	free(args);
	return rc;
}

/* delete ------------------------------------------------------------------- */

static const char delete_help[] =
	"Usage: navectl delete KIND NAME... [-n NS]\n"
	"       navectl delete KIND/NAME...\n"
	"       navectl delete -f FILE|DIR|- [-R]\n"
	"\n"
	"Delete objects by name, or those described in files (multi-document YAML or\n"
	"JSON). Deleting a ManagedCluster also revokes its certificates; deleting a\n"
	"ManifestWork removes its resources from the cluster.\n"
	"\n"
	"Flags:\n"
	"  -n, --namespace NS    namespace of namespaced kinds\n"
	"  -f, --filename F      a file, a directory of .yaml/.yml/.json files, or - (stdin);\n"
	"                        repeatable\n"
	"  -R, --recursive       with a directory, its subdirectories too\n"
	"      --ignore-not-found  a missing object is not an error\n"
	"\n"
	"Exit status: 0 ok, 1 failed (e.g. NotFound), 2 usage error, 3 hub unreachable or\n"
	"credential refused.\n";

static const struct option delete_opts[] = {
	{ "filename", required_argument, NULL, 'f' },
	{ "recursive", no_argument, NULL, 'R' },
	{ "ignore-not-found", no_argument, NULL, OPT_IGNORE_NOT_FOUND },
	{ NULL, 0, NULL, 0 },
};

struct delete_args {
	struct nctl *n;
	struct nctl_inputs in;
	bool ignore_not_found;
};

static int delete_opt(void *ud, int val, const char *arg)
{
	struct delete_args *a = ud;

	int r = nctl_inputs_opt(a->n, &a->in, val, arg);

	if (r != -ENOENT)
		return r;
	switch (val) {
	case OPT_IGNORE_NOT_FOUND:
		a->ignore_not_found = true;
		return 0;
	default:
		return nctl_usage_error(a->n, "unexpected flag");
	}
}

static int delete_one_kind(struct nctl *n, const struct nctl_resource *res, char *const *names,
			   size_t n_names, void *ud)
{
	struct delete_args *a = ud;
	struct kref ref = { .group = res->group, .version = res->version, .resource = res->resource,
			    .namespace = res->namespaced ? nctl_namespace(n) : NULL };
	struct nctl_resp resp;
	char kg[400];
	int rc = 0, ec;

	if (!n_names)
		return nctl_usage_error(n, "which %s? give one or more names (`navectl get %s` lists them)",
					res->resource, res->resource);
	nctl_kind_group(res->kind, res->group, kg);
	for (size_t i = 0; i < n_names; i++) {
		ref.name = names[i];
		if (nctl_delete(n, &ref, &resp) < 0) {
			if (resp.err.reason == KCLIENT_NOT_FOUND && a->ignore_not_found) {
				nctl_resp_clear(&resp);
				continue;
			}
			ec = nctl_report(n, &resp, NULL);
			nctl_resp_clear(&resp);
			rc = ec;
			if (rc == NCTL_EXIT_UNREACHABLE)
				break;
			continue;
		}
		printf("%s \"%s\" deleted\n", kg, names[i]);
		nctl_resp_clear(&resp);
	}
	return rc;
}

int nctl_cmd_delete(struct nctl *n, int argc, char **argv)
{
	struct delete_args a = { .n = n };
	char **args = NULL;
	int nargs = 0, rc;

	rc = nctl_getopt(n, argc, argv, "f:R", delete_opts, delete_opt, &a, delete_help, &args, &nargs);
	if (rc) {
		rc = nctl_getopt_exit(rc);
		goto out;
	}
	if (a.in.n_files && nargs) {
		rc = nctl_usage_error(n, "give either -f FILE or KIND NAME, not both");
		goto out;
	}
	if (!a.in.n_files && nargs < 1) {
		rc = nctl_usage_error(n, "what to delete? `navectl delete KIND NAME` or `navectl delete -f FILE`");
		goto out;
	}
	if (!a.in.n_files && nargs < 2 && !strchr(args[0], '/')) {
		rc = nctl_usage_error(n, "which %s? give one or more names", args[0]);
		goto out;
	}
	if (a.in.n_files) {
		rc = nctl_delete_files(n, a.in.files, a.in.n_files, a.in.recursive, a.ignore_not_found);
		goto out;
	}
	rc = nctl_connect(n);
	if (rc)
		goto out;
	rc = for_each_kind(n, args, nargs, delete_one_kind, &a);
out:
	free(a.in.files);
	free(args);
	return rc;
}

/* describe ----------------------------------------------------------------- */

#define LABEL_W 22 /* width of the "Name:" column */

static void field(const char *label, const char *value)
{
	char l[64];

	snprintf(l, sizeof(l), "%s:", label);
	printf("%-*s%s\n", LABEL_W, l, value && *value ? value : "<none>");
}

static void map_field(const char *label, const json_t *map)
{
	const char *k;
	json_t *v;
	bool first = true;
	char l[64];

	snprintf(l, sizeof(l), "%s:", label);
	if (!json_object_size(map)) {
		printf("%-*s<none>\n", LABEL_W, l);
		return;
	}
	json_object_foreach((json_t *)map, k, v) {
		char *val = json_is_string(v) ? xstrdup(json_string_value(v)) : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		printf("%-*s%s=%s\n", LABEL_W, first ? l : "", k, val ? val : "");
		free(val);
		first = false;
	}
}

static void print_conditions(const char *indent, const json_t *conds)
{
	static const char *const header[] = { "TYPE", "STATUS", "REASON", "AGE", "MESSAGE" };
	json_t *rows = json_array(), *cnd;
	size_t i;

	json_array_foreach(conds, i, cnd) {
		char age[16];
		const char *t = json_string_value(json_object_get(cnd, "lastTransitionTime"));

		json_array_append_new(rows, json_pack("[sssss]",
			dflt(json_string_value(json_object_get(cnd, "type")), ""),
			dflt(json_string_value(json_object_get(cnd, "status")), ""),
			dflt(json_string_value(json_object_get(cnd, "reason")), ""),
			t ? nctl_age(t, age) : "",
			dflt(json_string_value(json_object_get(cnd, "message")), "")));
	}
	if (json_array_size(rows))
		nctl_print_grid(stdout, indent, header, 5, rows);
	else
		printf("%s<none>\n", indent);
	json_decref(rows);
}

/* An indented YAML dump of v under "label:". */
static void yaml_block(const char *label, const json_t *v, int indent)
{
	char *y, *line, *save = NULL;

	printf("%*s%s:\n", indent, "", label);
	y = yaml_emit(v);
	for (line = strtok_r(y, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		printf("%*s%s\n", indent + 2, "", line);
	free(y);
}

static void describe_cluster(const json_t *o)
{
	json_t *spec = json_object_get(o, "spec"), *status = json_object_get(o, "status"), *c;
	size_t i;

	printf("Spec:\n");
	printf("  %-*s%s\n", LABEL_W - 2, "Hub Accepts Client:",
	       json_is_true(json_object_get(spec, "hubAcceptsClient")) ? "true" : "false");
	if (json_object_get(spec, "leaseDurationSeconds"))
		printf("  %-*s%" JSON_INTEGER_FORMAT "\n", LABEL_W - 2, "Lease Duration:",
		       json_integer_value(json_object_get(spec, "leaseDurationSeconds")));
	printf("Cluster Claims:\n");
	if (!json_array_size(json_object_get(status, "clusterClaims")))
		printf("  <none>\n");
	json_array_foreach(json_object_get(status, "clusterClaims"), i, c)
		printf("  %s=%s\n", dflt(json_string_value(json_object_get(c, "name")), ""),
		       dflt(json_string_value(json_object_get(c, "value")), ""));
	if (json_object_get(status, "version"))
		printf("Version:              %s\n",
		       dflt(json_string_value(json_object_get(json_object_get(status, "version"), "kubernetes")), ""));
	printf("Conditions:\n");
	print_conditions("  ", json_object_get(status, "conditions"));
}

static char *manifest_id(const json_t *m)
{
	const char *av = json_string_value(json_object_get(m, "apiVersion"));
	const char *kind = json_string_value(json_object_get(m, "kind"));
	const char *name = json_string_value(json_object_get(json_object_get(m, "metadata"), "name"));
	const char *ns = json_string_value(json_object_get(json_object_get(m, "metadata"), "namespace"));

	return xasprintf("%s %s %s%s%s", dflt(av, "?"), dflt(kind, "?"), dflt(ns, ""), ns ? "/" : "", dflt(name, "?"));
}

static char *feedback_value(const json_t *fv)
{
	const char *type = json_string_value(json_object_get(fv, "type"));
	json_t *v;

	if (!type)
		return xstrdup("?");
	if (!strcmp(type, "Integer") && (v = json_object_get(fv, "integer")))
		return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	if (!strcmp(type, "String") && (v = json_object_get(fv, "string")))
		return xstrdup(dflt(json_string_value(v), ""));
	if (!strcmp(type, "Boolean") && (v = json_object_get(fv, "boolean")))
		return xstrdup(json_is_true(v) ? "true" : "false");
	if (!strcmp(type, "JsonRaw") && (v = json_object_get(fv, "jsonRaw")))
		return xstrdup(dflt(json_string_value(v), ""));
	return xasprintf("(%s)", type);
}

static void describe_work(const json_t *o)
{
	json_t *spec = json_object_get(o, "spec"), *status = json_object_get(o, "status");
	json_t *manifests = json_object_get(json_object_get(spec, "workload"), "manifests");
	json_t *rs = json_object_get(json_object_get(status, "resourceStatus"), "manifests");
	json_t *m, *cfg;
	size_t i, j;

	printf("Manifests:            %zu\n", json_array_size(manifests));
	json_array_foreach(manifests, i, m) {
		char *id = manifest_id(m);

		printf("  [%zu] %s\n", i, id);
		free(id);
	}
	if (json_object_get(spec, "deleteOption"))
		printf("Delete Option:        %s\n",
		       dflt(json_string_value(json_object_get(json_object_get(spec, "deleteOption"),
							      "propagationPolicy")), "Foreground"));
	if (json_array_size(json_object_get(spec, "manifestConfigs"))) {
		printf("Manifest Configs:\n");
		json_array_foreach(json_object_get(spec, "manifestConfigs"), i, cfg) {
			json_t *rid = json_object_get(cfg, "resourceIdentifier"), *rule;
			const char *grp = json_string_value(json_object_get(rid, "group"));
			const char *ns = json_string_value(json_object_get(rid, "namespace"));
			const char *strategy =
				json_string_value(json_object_get(json_object_get(cfg, "updateStrategy"), "type"));

			printf("  %s%s%s %s%s%s", dflt(json_string_value(json_object_get(rid, "resource")), "?"),
			       grp && *grp ? "." : "", dflt(grp, ""), dflt(ns, ""), ns ? "/" : "",
			       dflt(json_string_value(json_object_get(rid, "name")), "?"));
			if (strategy)
				printf(": update strategy %s", strategy);
			printf("\n");
			json_array_foreach(json_object_get(cfg, "feedbackRules"), j, rule) {
				json_t *p;
				size_t k;

				printf("    feedback: %s", dflt(json_string_value(json_object_get(rule, "type")), "?"));
				json_array_foreach(json_object_get(rule, "jsonPaths"), k, p)
					printf(" %s=%s", dflt(json_string_value(json_object_get(p, "name")), "?"),
					       dflt(json_string_value(json_object_get(p, "path")), "?"));
				printf("\n");
			}
			json_array_foreach(json_object_get(cfg, "conditionRules"), j, rule) {
				const char *cond = json_string_value(json_object_get(rule, "condition"));

				printf("    condition rule: %s%s%s\n",
				       dflt(json_string_value(json_object_get(rule, "type")), "?"), cond ? " " : "",
				       dflt(cond, ""));
			}
		}
	}
	printf("Conditions:\n");
	print_conditions("  ", json_object_get(status, "conditions"));
	printf("Resource Status:\n");
	if (!json_array_size(rs))
		printf("  <none> (the cluster's agent has not reported yet)\n");
	json_array_foreach(rs, i, m) {
		json_t *meta = json_object_get(m, "resourceMeta"), *v;
		const char *grp = json_string_value(json_object_get(meta, "group"));
		const char *ns = json_string_value(json_object_get(meta, "namespace"));
		json_t *values = json_object_get(json_object_get(m, "statusFeedback"), "values");

		printf("  [%" JSON_INTEGER_FORMAT "] %s%s%s %s %s%s%s\n",
		       json_integer_value(json_object_get(meta, "ordinal")), grp && *grp ? grp : "",
		       grp && *grp ? "/" : "", dflt(json_string_value(json_object_get(meta, "version")), ""),
		       dflt(json_string_value(json_object_get(meta, "kind")), "?"), ns && *ns ? ns : "",
		       ns && *ns ? "/" : "", dflt(json_string_value(json_object_get(meta, "name")), "?"));
		print_conditions("      ", json_object_get(m, "conditions"));
		if (json_array_size(values)) {
			printf("      Feedback:\n");
			json_array_foreach(values, j, v) {
				char *val = feedback_value(json_object_get(v, "fieldValue"));

				printf("        %s: %s\n", dflt(json_string_value(json_object_get(v, "name")), "?"), val);
				free(val);
			}
		}
	}
}

/* A CSR's subject and its certificate's, decoded rather than shown as base64. */
static void describe_csr(const json_t *o)
{
	json_t *spec = json_object_get(o, "spec"), *status = json_object_get(o, "status"), *u;
	const char *req = json_string_value(json_object_get(spec, "request"));
	const char *crt = json_string_value(json_object_get(status, "certificate"));
	struct x509_cert_info info;
	struct x509_csr *csr = NULL;
	char line[512] = "";
	uint8_t *pem = NULL;
	size_t len, i;

	field("Requesting User", json_string_value(json_object_get(spec, "username")));
	field("Signer", json_string_value(json_object_get(spec, "signerName")));
	json_array_foreach(json_object_get(spec, "usages"), i, u)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), "%s%s", i ? ", " : "",
			 dflt(json_string_value(u), "?"));
	field("Usages", line);
	if (req && base64_decode(req, strlen(req), &pem, &len) == 0 &&
	    x509_csr_parse((const char *)pem, len, &csr, NULL) == 0) {
		snprintf(line, sizeof(line), "CN=%s%s%s", x509_csr_cn(csr), x509_csr_org(csr) ? ", O=" : "",
			 dflt(x509_csr_org(csr), ""));
		field("Subject", line);
	} else if (req) {
		field("Subject", "(the request does not parse)");
	}
	x509_csr_free(csr);
	free(pem);
	pem = NULL;
	if (crt && base64_decode(crt, strlen(crt), &pem, &len) == 0 &&
	    x509_cert_info((const char *)pem, len, &info, NULL) == 0) {
		char nb[TIMEFMT_MAX], na[TIMEFMT_MAX];

		snprintf(line, sizeof(line), "serial %s, valid %s to %s", info.serial,
			 time_format_rfc3339(info.not_before * 1000000, nb),
			 time_format_rfc3339(info.not_after * 1000000, na));
		field("Certificate", line);
	} else {
		field("Certificate", crt ? "(does not parse)" : NULL);
	}
	free(pem);
	printf("Conditions:\n");
	print_conditions("  ", json_object_get(status, "conditions"));
}

static void describe_generic(const json_t *o)
{
	json_t *spec = json_object_get(o, "spec");
	json_t *status = json_object_get(o, "status");
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)o, k, v) {
		if (!strcmp(k, "apiVersion") || !strcmp(k, "kind") || !strcmp(k, "metadata") ||
		    !strcmp(k, "spec") || !strcmp(k, "status"))
			continue;
		yaml_block(k, v, 0);
	}
	if (spec)
		yaml_block("Spec", spec, 0);
	if (status) {
		json_t *s = json_deep_copy(status);

		json_object_del(s, "conditions");
		if (json_object_size(s))
			yaml_block("Status", s, 0);
		json_decref(s);
		if (json_object_get(status, "conditions")) {
			printf("Conditions:\n");
			print_conditions("  ", json_object_get(status, "conditions"));
		}
	}
}

static void describe_object(const json_t *o)
{
	json_t *meta = json_object_get(o, "metadata");
	const char *kind = dflt(kobj_kind(o), "");
	const char *ts = json_string_value(json_object_get(meta, "creationTimestamp"));
	char age[16], buf[128];

	field("Name", kobj_name(o));
	if (kobj_namespace(o))
		field("Namespace", kobj_namespace(o));
	map_field("Labels", json_object_get(meta, "labels"));
	{
		json_t *ann = json_deep_copy(json_object_get(meta, "annotations"));

		/* the last-applied copy is noise here, as in kubectl describe */
		json_object_del(ann, "kubectl.kubernetes.io/last-applied-configuration");
		map_field("Annotations", ann);
		json_decref(ann);
	}
	field("API Version", kobj_api_version(o));
	field("Kind", kind);
	snprintf(buf, sizeof(buf), "%s (%s ago)", dflt(ts, "?"), nctl_age(ts, age));
	field("Created", ts ? buf : NULL);
	if (json_object_get(meta, "generation")) {
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(meta, "generation")));
		field("Generation", buf);
	}
	field("Resource Version", kobj_resource_version(o));
	if (json_object_get(meta, "deletionTimestamp"))
		field("Deleting Since", json_string_value(json_object_get(meta, "deletionTimestamp")));
	if (json_array_size(json_object_get(meta, "finalizers"))) {
		char *f = json_dumps(json_object_get(meta, "finalizers"), JSON_COMPACT);

		field("Finalizers", f);
		free(f);
	}
	if (!strcmp(kind, "ManagedCluster"))
		describe_cluster(o);
	else if (!strcmp(kind, "ManifestWork"))
		describe_work(o);
	else if (!strcmp(kind, "CertificateSigningRequest"))
		describe_csr(o);
	else
		describe_generic(o);
}

static const char describe_help[] =
	"Usage: navectl describe KIND [NAME...] [-n NS]\n"
	"\n"
	"A readable summary of objects: metadata, labels, annotations, conditions with\n"
	"their reasons and messages; for a ManagedCluster its acceptance and claims, for\n"
	"a ManifestWork its manifests, configs and the per-manifest status and feedback\n"
	"the cluster reported. Without NAME, every object of the kind.\n"
	"\n"
	"Flags:\n"
	"  -n, --namespace NS    namespace of namespaced kinds\n"
	"  -A, --all-namespaces  with no NAME: every namespace\n"
	"\n"
	"Exit status: 0 ok, 1 failed (e.g. NotFound), 2 usage error, 3 hub unreachable or\n"
	"credential refused.\n";

static const struct option describe_opts[] = {
	{ "all-namespaces", no_argument, NULL, 'A' },
	{ NULL, 0, NULL, 0 },
};

static int describe_opt(void *ud, int val, const char *arg)
{
	bool *all = ud;

	(void)arg;
	if (val == 'A') {
		*all = true;
		return 0;
	}
	return NCTL_EXIT_USAGE;
}

struct describe_args {
	bool all;
};

static int describe_one_kind(struct nctl *n, const struct nctl_resource *res, char *const *names,
			     size_t n_names, void *ud)
{
	struct describe_args *a = ud;
	struct kref ref = { .group = res->group, .version = res->version, .resource = res->resource,
			    .namespace = res->namespaced && !a->all ? nctl_namespace(n) : NULL };
	struct nctl_resp resp;
	json_t *objs = json_array(), *o;
	size_t i;
	int rc = 0;

	if (!n_names) {
		if (nctl_list(n, &ref, NULL, &resp) < 0) {
			rc = nctl_report(n, &resp, NULL);
			nctl_resp_clear(&resp);
			json_decref(objs);
			return rc;
		}
		json_array_extend(objs, json_object_get(resp.body, "items"));
		nctl_resp_clear(&resp);
		if (!json_array_size(objs))
			fprintf(stderr, "No resources found\n");
	}
	for (i = 0; i < n_names; i++) {
		ref.name = names[i];
		if (nctl_get(n, &ref, &resp) < 0) {
			rc = nctl_report(n, &resp, NULL);
			nctl_resp_clear(&resp);
			if (rc == NCTL_EXIT_UNREACHABLE)
				break;
			continue;
		}
		json_array_append(objs, resp.body);
		nctl_resp_clear(&resp);
	}
	json_array_foreach(objs, i, o) {
		fill_type(o, res);
		if (i)
			printf("\n\n");
		describe_object(o);
	}
	json_decref(objs);
	return rc;
}

int nctl_cmd_describe(struct nctl *n, int argc, char **argv)
{
	struct describe_args a = { 0 };
	char **args = NULL;
	int nargs = 0, rc;

	rc = nctl_getopt(n, argc, argv, "A", describe_opts, describe_opt, &a.all, describe_help, &args, &nargs);
	if (rc)
		return nctl_getopt_exit(rc);
	if (nargs < 1) {
		rc = nctl_usage_error(n, "which kind? e.g. `navectl describe managedcluster cluster1`");
		goto out;
	}
	rc = nctl_connect(n);
	if (rc)
		goto out;
	rc = for_each_kind(n, args, nargs, describe_one_kind, &a);
out:
	free(args);
	return rc;
}
