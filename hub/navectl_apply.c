/* navectl_apply.c - apply -f and delete -f.
 *
 * Every input is read and checked before anything is sent (a typo in the
 * third document must not leave the first two applied and the rest not).
 * Then, object by object: apiVersion and kind are mapped to a resource with
 * kdiscovery, the current object is read (to tell "created" from
 * "configured"), and the object is applied with server-side apply, field
 * manager "navectl". The server keeps the resourceVersion of an apply that
 * changes nothing, so an equal resourceVersion afterwards means "unchanged".
 * A failed object is reported with its file and line and the others go on;
 * the exit status is the worst one seen, and nothing more is tried once the
 * hub is unreachable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "kobj.h"
#include "navectl.h"

static void where_of(const struct nctl_doc *d, char *out, size_t len)
{
	if (d->line)
		snprintf(out, len, "%s:%d", d->file, d->line);
	else
		snprintf(out, len, "%s: document %d", d->file, d->index);
}

/* Names that cannot be put in a URL are refused here, with the field, before
 * anything is sent; documentation placeholders ("<target managed cluster>",
 * "${CLUSTER_NAME}") are the usual cause. */
static int check_names(const json_t *obj, const struct kmapping *m, const char *where)
{
	const char *ns = kobj_namespace(obj), *name = kobj_name(obj);
	struct kref ref;
	struct errbuf err = { "" };
	struct buf b;
	int r;

	if (m->namespaced && ns && !kobj_valid_label_name(ns)) {
		fprintf(stderr, "error: %s: metadata.namespace \"%s\" is not a valid namespace (a DNS-1123 "
				"label: lowercase letters, digits, '-', at most 63)\n", where, ns);
		if (strpbrk(ns, "<>${}"))
			fprintf(stderr, "hint: it looks like a placeholder: replace it%s\n",
				strcmp(m->kind, "ManifestWork") ? "" : " with the cluster's name");
		else
			fprintf(stderr, "hint: fix metadata.namespace%s\n",
				strcmp(m->kind, "ManifestWork") ? "" : " (a ManifestWork's namespace is its cluster's name)");
		return -EINVAL;
	}
	kmapping_ref(m, ns, name, &ref);
	buf_init(&b, 8192);
	r = kref_path(&ref, &b, &err);
	buf_free(&b);
	if (r < 0) {
		fprintf(stderr, "error: %s: %s\n", where, err.msg);
		fprintf(stderr, "hint: fix metadata.name (and metadata.namespace)%s\n",
			strpbrk(name, "<>${}") ? ": it looks like a placeholder" : "");
		return r;
	}
	return 0;
}

/* The resource of d and the object to send (a copy with the namespace
 * settled). Returns 0, or an exit code (printed). */
static int prepare(struct nctl *n, const struct nctl_doc *d, struct kmapping *ret_m, json_t **ret_obj)
{
	const char *av = kobj_api_version(d->obj), *kind = kobj_kind(d->obj);
	const char *doc_ns = kobj_namespace(d->obj);
	struct nctl_resp resp = { 0 };
	char where[4200];
	json_t *obj;
	int r;

	where_of(d, where, sizeof(where));
	r = nctl_resolve_gvk(n, av, kind, ret_m, &resp.err);
	if (r < 0) {
		/* A group version whose discovery fails (404) is one the server
		 * does not serve, whatever kdiscovery makes of it. */
		if (resp.err.reason == KCLIENT_NOT_FOUND || r == -ENOENT ||
		    (r == -EAGAIN && !nctl_serves_group_version(n, av))) {
			fprintf(stderr, "error: %s: the server has no kind \"%s\" in \"%s\" (%s)\n", where, kind, av,
				resp.err.message);
			fprintf(stderr, "hint: check apiVersion and kind against what the server serves (a Nave "
					"hub: cluster.open-cluster-management.io/v1 ManagedCluster, "
					"work.open-cluster-management.io/v1 ManifestWork)\n");
			return NCTL_EXIT_FAILED;
		}
		resp.r = r;
		return nctl_report(n, &resp, where);
	}
	obj = json_deep_copy(d->obj);
	if (ret_m->namespaced) {
		if (doc_ns && n->namespace && strcmp(doc_ns, n->namespace)) {
			fprintf(stderr, "error: %s: the object's namespace \"%s\" does not match -n %s\n", where,
				doc_ns, n->namespace);
			fprintf(stderr, "hint: drop -n, or pass -n %s, or change metadata.namespace\n", doc_ns);
			json_decref(obj);
			return NCTL_EXIT_FAILED;
		}
		if (!doc_ns)
			json_object_set_new(kobj_metadata(obj, true), "namespace", json_string(nctl_namespace(n)));
	} else {
		json_object_del(kobj_metadata(obj, true), "namespace");
	}
	if (check_names(obj, ret_m, where) < 0) {
		json_decref(obj);
		return NCTL_EXIT_FAILED;
	}
	*ret_obj = obj;
	return 0;
}

static int apply_one(struct nctl *n, const struct nctl_doc *d, bool force)
{
	struct nctl_resp resp;
	struct kmapping m;
	struct kref ref;
	char where[4200], kg[400];
	char *rv_before = NULL;
	json_t *obj = NULL;
	bool existed = false;
	int rc;

	rc = prepare(n, d, &m, &obj);
	if (rc)
		return rc;
	where_of(d, where, sizeof(where));
	kmapping_ref(&m, kobj_namespace(obj), kobj_name(obj), &ref);
	if (nctl_get(n, &ref, &resp) == 0) {
		existed = true;
		rv_before = xstrdup(kobj_resource_version(resp.body) ? kobj_resource_version(resp.body) : "");
	} else if (resp.err.reason != KCLIENT_NOT_FOUND) {
		rc = nctl_report(n, &resp, where);
		nctl_resp_clear(&resp);
		goto out;
	}
	nctl_resp_clear(&resp);
	if (nctl_apply(n, &ref, obj, force, &resp) < 0) {
		rc = nctl_report(n, &resp, where);
		nctl_resp_clear(&resp);
		goto out;
	}
	nctl_kind_group(m.kind, m.group, kg);
	if (!existed)
		printf("%s/%s created\n", kg, kobj_name(obj));
	else if (kobj_resource_version(resp.body) && !strcmp(kobj_resource_version(resp.body), rv_before))
		printf("%s/%s unchanged\n", kg, kobj_name(obj));
	else
		printf("%s/%s configured\n", kg, kobj_name(obj));
	fflush(stdout);
	nctl_resp_clear(&resp);
out:
	free(rv_before);
	json_decref(obj);
	return rc;
}

static int delete_one(struct nctl *n, const struct nctl_doc *d, bool ignore_not_found)
{
	struct nctl_resp resp;
	struct kmapping m;
	struct kref ref;
	char where[4200], kg[400];
	json_t *obj = NULL;
	int rc;

	rc = prepare(n, d, &m, &obj);
	if (rc)
		return rc;
	where_of(d, where, sizeof(where));
	kmapping_ref(&m, kobj_namespace(obj), kobj_name(obj), &ref);
	nctl_kind_group(m.kind, m.group, kg);
	if (nctl_delete(n, &ref, &resp) < 0) {
		if (!(resp.err.reason == KCLIENT_NOT_FOUND && ignore_not_found))
			rc = nctl_report(n, &resp, where);
	} else {
		printf("%s \"%s\" deleted\n", kg, kobj_name(obj));
		fflush(stdout);
	}
	nctl_resp_clear(&resp);
	json_decref(obj);
	return rc;
}

/* Read the inputs, connect, and run fn on each document. */
static int for_each_doc(struct nctl *n, char *const *files, size_t n_files, bool recursive, const char *verb,
			int (*fn)(struct nctl *n, const struct nctl_doc *d, bool flag), bool flag)
{
	struct nctl_docs docs = { 0 };
	int rc = 0, ec;

	if (nctl_read_inputs(files, n_files, recursive, false, &docs) < 0) {
		rc = NCTL_EXIT_FAILED;
		goto out;
	}
	if (!docs.n) {
		fprintf(stderr, "error: no objects passed to %s\n", verb);
		fprintf(stderr, "hint: -f needs YAML or JSON with at least one object (apiVersion, kind, "
				"metadata.name)\n");
		rc = NCTL_EXIT_FAILED;
		goto out;
	}
	rc = nctl_connect(n);
	if (rc)
		goto out;
	for (size_t i = 0; i < docs.n; i++) {
		ec = fn(n, &docs.v[i], flag);
		if (ec > rc)
			rc = ec;
		if (ec == NCTL_EXIT_UNREACHABLE)
			break;
	}
out:
	nctl_docs_free(&docs);
	return rc;
}

int nctl_delete_files(struct nctl *n, char *const *files, size_t n_files, bool recursive,
		      bool ignore_not_found)
{
	return for_each_doc(n, files, n_files, recursive, "delete", delete_one, ignore_not_found);
}

static const char apply_help[] =
	"Usage: navectl apply -f FILE|DIR|- [-f ...] [FLAGS]\n"
	"\n"
	"Create or update the objects described in YAML (any number of documents\n"
	"separated by ---) or JSON files, with server-side apply (field manager\n"
	"\"navectl\"). Prints each object as created, configured or unchanged. Every\n"
	"file is read and checked first: a malformed one stops the run before anything\n"
	"is sent, with its file and line. The namespace of a namespaced object is its\n"
	"metadata.namespace, else -n, else the kubeconfig's (ManifestWorks: the cluster).\n"
	"\n"
	"Flags:\n"
	"  -f, --filename F     a file, a directory of .yaml/.yml/.json files, or - (stdin);\n"
	"                       repeatable\n"
	"  -R, --recursive      with a directory, its subdirectories too\n"
	"      --force-conflicts  take over fields another manager owns (instead of\n"
	"                       failing with a Conflict)\n"
	"  -n, --namespace NS   namespace for objects that name none\n"
	"\n"
	"Exit status: 0 ok, 1 an object failed (the others are still applied) or the input\n"
	"is malformed, 2 usage error, 3 hub unreachable or credential refused.\n";

enum {
	OPT_FORCE_CONFLICTS = 1,
};

static const struct option apply_opts[] = {
	{ "filename", required_argument, NULL, 'f' },
	{ "recursive", no_argument, NULL, 'R' },
	{ "force-conflicts", no_argument, NULL, OPT_FORCE_CONFLICTS },
	{ NULL, 0, NULL, 0 },
};

struct apply_args {
	struct nctl *n;
	struct nctl_inputs in;
	bool force;
};

static int apply_opt(void *ud, int val, const char *arg)
{
	struct apply_args *a = ud;

	int r = nctl_inputs_opt(a->n, &a->in, val, arg);

	if (r != -ENOENT)
		return r;
	switch (val) {
	case OPT_FORCE_CONFLICTS:
		a->force = true;
		return 0;
	default:
		return nctl_usage_error(a->n, "unexpected flag");
	}
}

int nctl_cmd_apply(struct nctl *n, int argc, char **argv)
{
	struct apply_args a = { .n = n };
	char **args = NULL;
	int nargs = 0, rc;

	rc = nctl_getopt(n, argc, argv, "f:R", apply_opts, apply_opt, &a, apply_help, &args, &nargs);
	if (rc) {
		rc = nctl_getopt_exit(rc);
		goto out;
	}
	if (nargs) {
		rc = nctl_usage_error(n, "unexpected argument \"%s\"; apply reads objects from -f FILE", args[0]);
		goto out;
	}
	if (!a.in.n_files) {
		rc = nctl_usage_error(n, "-f FILE is required (a file, a directory, or - for stdin)");
		goto out;
	}
	rc = for_each_doc(n, a.in.files, a.in.n_files, a.in.recursive, "apply", apply_one, a.force);
out:
	free(a.in.files);
	free(args);
	return rc;
}
