/* navectl_app.c - Applications (issue #8): `navectl app` and `navectl workflow`.
 *
 * What the vela CLI shows of KubeVela applications, over the objects and
 * endpoints hub/app.h fixes:
 *   app ls            one row per component (vela ls), from the Applications'
 *                     spec and status.services
 *   app status        About, Workflow and Services (one entry per component
 *                     and cluster), or with --tree the clusters, namespaces
 *                     and resources (status.appliedResources, status.clusters)
 *   app revisions     the ApplicationRevisions labelled with the app's name,
 *                     sorted by spec.revision
 *   app diff          a unified diff of two revisions' snapshots as YAML
 *   app rollback      POST .../applications/NAME/rollback
 *   workflow VERB     POST .../applications/NAME/workflow/VERB
 * Everything reads plain objects through the kube API (so `app ls/status/
 * revisions/diff` work against any server that serves core.oam.dev, e.g.
 * nave-kubesim with the CRDs); only rollback and workflow need nave-hub.
 *
 * The diff is common/textdiff.h's (a longest-common-subsequence line diff,
 * diff -u's format, each side capped at NCTL_APP_DIFF_MAX_LINES lines) of
 * the texts common/apprev_text.h makes of the two revisions: the hub's web
 * view prints the same text.
 *
 * Box-drawing characters (the --tree connectors, the trait marks) are used
 * when the locale's character set is UTF-8 as LC_ALL, LC_CTYPE or LANG (the
 * first one set) names it, ASCII otherwise or with --ascii. navectl never
 * calls setlocale(), so the environment is read directly.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "alloc.h"
#include "app.h"
#include "apprev_text.h"
#include "buf.h"
#include "kobj.h"
#include "navectl.h"
#include "textdiff.h"
#include "timefmt.h"
#include "yaml.h"

#define NCTL_APP_DIFF_MAX_LINES TEXTDIFF_LINES_MAX /* lines of YAML on each side of app diff */
/* app diff exits as diff(1) does: 0 equal, 1 different, 2 trouble (no such
 * revision, too long, not served; usage errors are 2 already). A hub that
 * cannot be reached or refuses the credential stays NCTL_EXIT_UNREACHABLE
 * (3), as for every command: still neither 0 nor 1. */
#define NCTL_APP_DIFF_DIFFERENT NCTL_EXIT_FAILED
#define NCTL_APP_DIFF_TROUBLE 2
#define NCTL_APP_HASH_SHOWN 16          /* hex digits of a revision hash in `app revisions` */
#define NCTL_APP_REVISION_MAX 999999999 /* the largest N of "vN" taken */
#define NCTL_APP_PATH_MAX 1024          /* /nave/v1/namespaces/NS/applications/NAME/workflow/VERB */
#define NCTL_APP_REV_NAME 300           /* "<app>-v<N>": 253 + 11 */
#define NCTL_APP_CELL_MAX 1000          /* bytes of an `app ls` STATUS cell before "; ..." */
#define NCTL_APP_SETTLE_MS 5000         /* how long workflow/rollback wait to show the new phase */
#define NCTL_APP_SETTLE_POLL_MS 200

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static const char *dflt(const char *s, const char *d)
{
	return s && *s ? s : d;
}

/* ": message" when o has a non-empty message, else "" (borrowed). */
static const char *colon(const json_t *o)
{
	return str(o, "message") && *str(o, "message") ? ": " : "";
}

/* Whether to draw with box-drawing characters (see the top of the file). */
static bool utf8_locale(void)
{
	static const char *const vars[] = { "LC_ALL", "LC_CTYPE", "LANG" };

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);

		if (v && *v)
			return strcasestr(v, "utf-8") || strcasestr(v, "utf8");
	}
	return false;
}

/* An RFC 3339 timestamp as vela prints times, "2026-11-27 05:11:35 +0000 UTC",
 * into out[40]; the text as given when it does not parse, "" when NULL. */
static char *vela_time(const char *ts, char out[40])
{
	int64_t us;
	time_t t;
	struct tm tm;

	if (!ts) {
		out[0] = '\0';
		return out;
	}
	if (time_parse_rfc3339(ts, &us) < 0) {
		snprintf(out, 40, "%.39s", ts);
		return out;
	}
	t = (time_t)(us / 1000000);
	if (!gmtime_r(&t, &tm) || !strftime(out, 40, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm))
		snprintf(out, 40, "%.39s", ts);
	return out;
}

static struct kref apps_ref(const char *ns, const char *name)
{
	return (struct kref){ .group = APP_GROUP, .version = APP_VERSION, .resource = APP_RES_APPS,
			      .namespace = ns, .name = name };
}

static struct kref revisions_ref(const char *ns, const char *name)
{
	return (struct kref){ .group = APP_GROUP, .version = APP_VERSION, .resource = APP_RES_REVISIONS,
			      .namespace = ns, .name = name };
}

/* kapi's answer for a path it does not serve at all (no such resource type
 * or endpoint), as opposed to an object that does not exist. */
static bool not_served(const struct nctl_resp *resp)
{
	return resp->err.reason == KCLIENT_NOT_FOUND &&
	       strstr(resp->err.message, "could not find the requested resource");
}

/* Print a failed request about application ns/name. what: NULL for reads
 * of the Application itself, else the endpoint's action ("resume the
 * workflow of"), whose 404 and 409 carry the hub's own message. Returns the
 * exit code. */
static int report_app(struct nctl *n, const struct nctl_resp *resp, const char *ns, const char *name,
		      const char *what)
{
	if (not_served(resp)) {
		if (what)
			fprintf(stderr, "error: %s does not serve the application endpoints of /nave/v1 (%s)\n",
				nctl_config(n)->server, resp->err.message);
		else
			fprintf(stderr, "error: %s does not serve Applications (" APP_API_VERSION ") (%s)\n",
				nctl_config(n)->server, resp->err.message);
		fprintf(stderr, "hint: Applications need a nave-hub with the application subsystem; "
				"`navectl version` shows the server\n");
		return NCTL_EXIT_FAILED;
	}
	if (resp->err.reason == KCLIENT_NOT_FOUND && !what) {
		fprintf(stderr, "error: no application \"%s\" in namespace \"%s\"\n", name, ns);
		fprintf(stderr, "hint: `navectl app ls -n %s` lists its applications (-A: every namespace)\n", ns);
		return NCTL_EXIT_FAILED;
	}
	if (resp->err.reason == KCLIENT_NOT_FOUND) {
		fprintf(stderr, "error: cannot %s %s/%s: %s\n", what, ns, name, resp->err.message);
		if (!strcmp(what, "roll back"))
			fprintf(stderr, "hint: `navectl app revisions %s -n %s` lists the revisions kept, "
					"`navectl app ls -n %s` the applications\n", name, ns, ns);
		else
			fprintf(stderr, "hint: `navectl app ls -n %s` lists the applications\n", ns);
		return NCTL_EXIT_FAILED;
	}
	if (resp->err.reason == KCLIENT_CONFLICT || resp->err.reason == KCLIENT_ALREADY_EXISTS) {
		fprintf(stderr, "error: cannot %s %s/%s: %s\n", what ? what : "change", ns, name, resp->err.message);
		fprintf(stderr, "hint: `navectl app status %s -n %s` shows the workflow's state\n", name, ns);
		return NCTL_EXIT_FAILED;
	}
	return nctl_report(n, resp, NULL);
}

/* GET the Application ns/name into *ret (a 2xx response the caller clears).
 * Returns 0 or an exit code (printed). */
static int get_app(struct nctl *n, const char *ns, const char *name, struct nctl_resp *ret)
{
	struct kref ref = apps_ref(ns, name);
	int rc;

	if (nctl_get(n, &ref, ret) == 0)
		return 0;
	rc = report_app(n, ret, ns, name, NULL);
	nctl_resp_clear(ret);
	return rc;
}

/* LIST ref (with an optional label selector) into *ret. Returns 0 or an exit code (printed). */
static int list_objects(struct nctl *n, const struct kref *ref, const char *label_selector, struct nctl_resp *ret)
{
	struct kclient_list_opts lo = { .label_selector = label_selector };
	int rc;

	if (nctl_list(n, ref, &lo, ret) == 0)
		return 0;
	rc = not_served(ret) ? report_app(n, ret, "", "", NULL) : nctl_report(n, ret, NULL);
	nctl_resp_clear(ret);
	return rc;
}

/* The objects of a List as -o json|yaml show them. */
static void print_list(const json_t *list, const char *kind, enum nctl_output out)
{
	json_t *items = json_object_get(list, "items");
	json_t *l = json_pack("{s:s, s:s, s:o, s:{s:s}}", "apiVersion", "v1", "kind", "List", "items",
			      json_is_array(items) ? json_incref(items) : json_array(), "metadata",
			      "resourceVersion", "");
	json_t *it;
	size_t i;

	json_array_foreach(json_object_get(l, "items"), i, it) {
		if (!kobj_api_version(it))
			json_object_set_new(it, "apiVersion", json_string(APP_API_VERSION));
		if (!kobj_kind(it))
			json_object_set_new(it, "kind", json_string(kind));
	}
	nctl_print_object(stdout, l, out, false);
	json_decref(l);
}

/* Arguments ------------------------------------------------------------------ */

static int check_app_name(struct nctl *n, const char *name)
{
	if (!kobj_valid_subdomain(name))
		return nctl_usage_error(n, "\"%s\" is not an application name (a DNS-1123 subdomain: lowercase "
					   "letters, digits, '-' and '.', at most 253)", name);
	return 0;
}

/* A revision of app as the user wrote it ("v3", "3" or "app-v3") into
 * out ("app-v3"). Returns 0 or NCTL_EXIT_USAGE (printed). */
static int parse_revision(struct nctl *n, const char *app, const char *arg, char *out, size_t outlen)
{
	size_t alen = strlen(app);
	const char *num = arg;
	char *end;
	long v;

	if (!strncmp(arg, app, alen) && arg[alen] == '-' && arg[alen + 1] == 'v')
		num = arg + alen + 2;
	else if (arg[0] == 'v')
		num = arg + 1;
	errno = 0;
	v = (*num >= '0' && *num <= '9') ? strtol(num, &end, 10) : 0;
	if (errno || v < 1 || v > NCTL_APP_REVISION_MAX || *end)
		return nctl_usage_error(n, "\"%s\" is not a revision of application \"%s\" (give vN, N or %s-vN; "
					   "`navectl app revisions %s` lists them)", arg, app, app, app);
	snprintf(out, outlen, "%s-v%ld", app, v);
	return 0;
}

/* app ls ---------------------------------------------------------------------- */

/* HEALTHY and STATUS of component comp from status.services: "" when no
 * cluster reports it; the message once when every cluster says the same,
 * else "cluster: message" for each. Caller frees *ret_status. */
static const char *component_health(const json_t *services, const char *comp, char **ret_status)
{
	struct buf b;
	json_t *s, *first = NULL;
	size_t i, count = 0;
	bool healthy = true, same = true;

	buf_init(&b, NCTL_APP_CELL_MAX + 512);
	json_array_foreach(services, i, s) {
		if (!str(s, "name") || strcmp(str(s, "name"), comp))
			continue;
		if (!json_is_true(json_object_get(s, "healthy")))
			healthy = false;
		if (first && strcmp(dflt(str(s, "message"), ""), dflt(str(first, "message"), "")))
			same = false;
		if (!first)
			first = s;
		count++;
	}
	json_array_foreach(services, i, s) {
		if (same || !str(s, "name") || strcmp(str(s, "name"), comp))
			continue;
		if (b.len > NCTL_APP_CELL_MAX) {
			buf_puts(&b, "; ...");
			break;
		}
		buf_printf(&b, "%s%.63s: %.200s", b.len ? "; " : "", dflt(str(s, "cluster"), "?"),
			   dflt(str(s, "message"), "-"));
	}
	if (same && first)
		buf_printf(&b, "%.1000s", dflt(str(first, "message"), ""));
	*ret_status = buf_steal(&b, NULL);
	return !count ? "" : healthy ? "healthy" : "unhealthy";
}

/* ns NULL: every namespace. */
static int app_ls(struct nctl *n, const char *ns, enum nctl_output out, bool out_set)
{
	static const char *const header[] = { "NAMESPACE", "APP", "COMPONENT", "TYPE", "TRAITS", "PHASE",
					      "HEALTHY", "STATUS", "CREATED-TIME" };
	struct kref ref = apps_ref(ns, NULL);
	struct nctl_resp resp = { 0 };
	json_t *rows = json_array(), *app;
	size_t i;
	int rc;

	rc = list_objects(n, &ref, NULL, &resp);
	if (rc)
		goto out;
	if (out_set) {
		print_list(resp.body, "Application", out);
		goto out;
	}
	json_array_foreach(json_object_get(resp.body, "items"), i, app) {
		json_t *spec = json_object_get(app, "spec"), *status = json_object_get(app, "status");
		json_t *comps = json_object_get(spec, "components"), *c;
		const char *phase = dflt(str(status, "status"), "");
		char created[40];
		size_t j;

		vela_time(json_string_value(kobj_get_path(app, "metadata.creationTimestamp")), created);
		if (!json_array_size(comps))
			json_array_append_new(rows, json_pack("[sssssssss]", dflt(kobj_namespace(app), ""),
							      dflt(kobj_name(app), ""), "", "", "", phase, "", "",
							      created));
		json_array_foreach(comps, j, c) {
			json_t *t;
			struct buf traits;
			char *tr, *msg;
			const char *health;
			size_t k;

			buf_init(&traits, 4096);
			json_array_foreach(json_object_get(c, "traits"), k, t)
				buf_printf(&traits, "%s%s", k ? "," : "", dflt(str(t, "type"), "?"));
			tr = buf_steal(&traits, NULL);
			health = component_health(json_object_get(status, "services"), dflt(str(c, "name"), ""), &msg);
			json_array_append_new(rows, json_pack("[sssssssss]", dflt(kobj_namespace(app), ""),
							      dflt(kobj_name(app), ""), dflt(str(c, "name"), ""),
							      dflt(str(c, "type"), ""), tr, phase, health, msg, created));
			free(tr);
			free(msg);
		}
	}
	if (!json_array_size(rows)) {
		if (ns)
			fprintf(stderr, "No applications found in %s namespace.\n", ns);
		else
			fprintf(stderr, "No applications found\n");
		goto out;
	}
	if (ns) {
		/* drop the NAMESPACE column */
		json_t *r;

		json_array_foreach(rows, i, r)
			json_array_remove(r, 0);
		nctl_print_grid(stdout, "", header + 1, 8, rows);
	} else {
		nctl_print_grid(stdout, "", header, 9, rows);
	}
out:
	json_decref(rows);
	nctl_resp_clear(&resp);
	return rc;
}

/* app status ------------------------------------------------------------------ */

static void about(const json_t *app)
{
	json_t *status = json_object_get(app, "status");
	char created[40];

	printf("About:\n\n");
	printf("  Name:        %s\n", dflt(kobj_name(app), ""));
	printf("  Namespace:   %s\n", dflt(kobj_namespace(app), ""));
	printf("  Created at:  %s\n",
	       vela_time(json_string_value(kobj_get_path(app, "metadata.creationTimestamp")), created));
	printf("  Phase:       %s\n", dflt(str(status, "status"), "<none> (not yet processed by the hub)"));
	printf("  Revision:    %s\n", dflt(str(json_object_get(status, "latestRevision"), "name"), "<none>"));
	if (kobj_get_path(app, "metadata.deletionTimestamp"))
		printf("  Deleting:    since %s\n",
		       dflt(json_string_value(kobj_get_path(app, "metadata.deletionTimestamp")), "?"));
}

/* Conditions that are not True: what went wrong (a parse or render error
 * names the field there). */
static void problems(const json_t *status)
{
	static const char *const header[] = { "TYPE", "STATUS", "REASON", "MESSAGE" };
	json_t *rows = json_array(), *c;
	size_t i;

	json_array_foreach(json_object_get(status, "conditions"), i, c) {
		if (!strcmp(dflt(str(c, "status"), ""), "True"))
			continue;
		json_array_append_new(rows, json_pack("[ssss]", dflt(str(c, "type"), ""), dflt(str(c, "status"), ""),
						      dflt(str(c, "reason"), ""), dflt(str(c, "message"), "")));
	}
	if (json_array_size(rows)) {
		printf("\nConditions (not True):\n\n");
		nctl_print_grid(stdout, "  ", header, 4, rows);
	}
	json_decref(rows);
}

static const char *yes_no(const json_t *v)
{
	return json_is_true(v) ? "true" : "false";
}

static void workflow(const json_t *status)
{
	static const char *const header[] = { "STEP", "TYPE", "PHASE", "MESSAGE" };
	json_t *wf = json_object_get(status, "workflow"), *rows, *s;
	size_t i;

	printf("\nWorkflow:\n\n");
	if (!json_is_object(wf)) {
		printf("  <none> (the workflow has not started)\n");
		return;
	}
	printf("  Mode:        %s\n", dflt(str(wf, "mode"), "StepByStep"));
	printf("  Phase:       %s\n", dflt(str(wf, "phase"), "<none>"));
	printf("  Finished:    %s\n", yes_no(json_object_get(wf, "finished")));
	printf("  Suspended:   %s\n", yes_no(json_object_get(wf, "suspend")));
	printf("  Terminated:  %s\n", yes_no(json_object_get(wf, "terminated")));
	if (str(wf, "message") && *str(wf, "message"))
		printf("  Message:     %s\n", str(wf, "message"));
	rows = json_array();
	json_array_foreach(json_object_get(wf, "steps"), i, s) {
		const char *msg = dflt(str(s, "message"), "");
		const char *reason = dflt(str(s, "reason"), "");
		char *m = *reason && *msg ? xasprintf("%s: %s", reason, msg) : xstrdup(*msg ? msg : reason);

		json_array_append_new(rows, json_pack("[ssss]", dflt(str(s, "name"), ""), dflt(str(s, "type"), ""),
						      dflt(str(s, "phase"), ""), m));
		free(m);
	}
	if (json_array_size(rows)) {
		printf("  Steps:\n");
		nctl_print_grid(stdout, "    ", header, 4, rows);
	}
	json_decref(rows);
}

/* The component's type in the spec, for the Services entries. */
static const char *component_type(const json_t *app, const char *name)
{
	json_t *c;
	size_t i;

	json_array_foreach(kobj_get_path(app, "spec.components"), i, c)
		if (str(c, "name") && !strcmp(str(c, "name"), name))
			return str(c, "type");
	return NULL;
}

static void services(const json_t *app, bool utf8)
{
	json_t *svcs = kobj_get_path(app, "status.services"), *s, *t;
	size_t i, k;

	printf("\nServices:\n\n");
	if (!json_array_size(svcs))
		printf("  <none> (no cluster reports a component yet)\n");
	json_array_foreach(svcs, i, s) {
		const char *name = dflt(str(s, "name"), "?");
		json_t *wd = json_object_get(s, "workloadDefinition");
		json_t *ready = json_object_get(s, "readyReplicas"), *want = json_object_get(s, "replicas");
		char ratio[64];

		if (i)
			printf("\n");
		printf("  - Name: %s\n", name);
		printf("    Cluster: %s  Namespace: %s\n", dflt(str(s, "cluster"), "?"), dflt(str(s, "namespace"), "?"));
		printf("    Type: %s", dflt(component_type(app, name), "?"));
		if (str(wd, "kind"))
			printf(" (%s %s)", dflt(str(wd, "apiVersion"), ""), str(wd, "kind"));
		printf("\n");
		if (dflt(str(s, "revision"), NULL))
			printf("    Revision: %s\n", str(s, "revision"));
		/* "Healthy Ready:1/1" as vela; the message on its own line when it
		 * says more than the replica count */
		ratio[0] = '\0';
		if (json_is_integer(want))
			snprintf(ratio, sizeof(ratio), "Ready:%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
				 json_integer_value(ready), json_integer_value(want));
		printf("    %s%s%s\n", json_is_true(json_object_get(s, "healthy")) ? "Healthy" : "Unhealthy",
		       *ratio ? " " : "", ratio);
		if (str(s, "message") && *str(s, "message") && strcmp(str(s, "message"), ratio))
			printf("    Message: %s\n", str(s, "message"));
		if (!json_array_size(json_object_get(s, "traits")))
			continue;
		printf("    Traits:\n");
		json_array_foreach(json_object_get(s, "traits"), k, t) {
			bool ok = json_is_true(json_object_get(t, "healthy"));

			printf("      %s %s%s%s\n", ok ? (utf8 ? "\u2705" : "[ok]") : (utf8 ? "\u274c" : "[!!]"),
			       dflt(str(t, "type"), "?"), colon(t), dflt(str(t, "message"), ""));
		}
	}
}

/* --tree ----------------------------------------------------------------------- */

struct tree_row {
	const char *cluster;  /* borrowed from the Application */
	const char *ns;       /* borrowed; "-" for cluster-scoped objects */
	char *resource;       /* owned: "Kind/name" */
	char *status;         /* owned */
};

static int tree_row_cmp(const void *pa, const void *pb)
{
	const struct tree_row *a = pa, *b = pb;
	int c = strcmp(a->cluster, b->cluster);

	if (!c)
		c = strcmp(a->ns, b->ns);
	return c ? c : strcmp(a->resource, b->resource);
}

/* The status shown for resource r on its cluster: the component's health
 * for its workload, else the state of the cluster's ManifestWork. */
static char *resource_status(const json_t *status, const json_t *r, const json_t *cl)
{
	/* r NULL: a cluster without resources */
	const char *cluster = dflt(str(r, "cluster"), ""), *comp = str(r, "component");
	json_t *s;
	size_t i;

	json_array_foreach(json_object_get(status, "services"), i, s) {
		json_t *wd = json_object_get(s, "workloadDefinition");

		if (!r || !comp || strcmp(dflt(str(s, "name"), ""), comp) || strcmp(dflt(str(s, "cluster"), ""), cluster) ||
		    strcmp(dflt(str(wd, "kind"), ""), dflt(str(r, "kind"), "")) ||
		    strcmp(dflt(str(wd, "apiVersion"), ""), dflt(str(r, "apiVersion"), "")))
			continue;
		if (json_is_true(json_object_get(s, "healthy")))
			return xstrdup("healthy");
		return xasprintf("unhealthy%s%s", colon(s), dflt(str(s, "message"), ""));
	}
	if (!cl)
		return xstrdup("-");
	if (json_is_true(json_object_get(cl, "available")))
		return xstrdup("available");
	if (json_is_true(json_object_get(cl, "applied")))
		return xstrdup("applied");
	return xasprintf("pending%s%s", colon(cl), dflt(str(cl, "message"), ""));
}

static const json_t *cluster_entry(const json_t *status, const char *name)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(status, "clusters"), i, c)
		if (str(c, "name") && !strcmp(str(c, "name"), name))
			return c;
	return NULL;
}

/* The connector before a namespace (level 1) or a resource (level 2): k-th
 * of count siblings; first: this row starts the k-th sibling. */
static const char *connector(size_t k, size_t count, bool first, bool utf8)
{
	enum { ONLY, TOP, MID, LAST, PIPE, NONE };
	static const char *const box[] = { "\u2500\u2500\u2500", "\u2500\u252c\u2500", " \u251c\u2500",
					   " \u2514\u2500", " \u2502 ", "   " };
	static const char *const ascii[] = { "---", "-+-", " |-", " `-", " | ", "   " };
	int i;

	if (!first)
		i = (count == 1 || k + 1 == count) ? NONE : PIPE;
	else if (count == 1)
		i = ONLY;
	else if (k == 0)
		i = TOP;
	else
		i = k + 1 == count ? LAST : MID;
	return utf8 ? box[i] : ascii[i];
}

static size_t maxlen(size_t w, const char *s)
{
	size_t l = strlen(s);

	return l > w ? l : w;
}

/* How many rows from i on share field (0 cluster, 1 namespace too). */
static size_t run_length(const struct tree_row *rows, size_t nrows, size_t i, int field)
{
	size_t j = i;

	while (j < nrows && !strcmp(rows[j].cluster, rows[i].cluster) &&
	       (field == 0 || !strcmp(rows[j].ns, rows[i].ns)))
		j++;
	return j - i;
}

static void tree(const json_t *app, bool utf8)
{
	json_t *status = json_object_get(app, "status"), *r, *c;
	json_t *applied = json_object_get(status, "appliedResources");
	size_t nrows = 0, i, cap = json_array_size(applied) + json_array_size(json_object_get(status, "clusters"));
	struct tree_row *rows = xcalloc(cap ? cap : 1, sizeof(*rows));
	size_t w1 = strlen("CLUSTER"), w2 = strlen("NAMESPACE"), w3 = strlen("RESOURCE");

	json_array_foreach(applied, i, r) {
		struct tree_row *t = &rows[nrows++];

		t->cluster = dflt(str(r, "cluster"), "?");
		t->ns = dflt(str(r, "namespace"), "-");
		t->resource = xasprintf("%s/%s", dflt(str(r, "kind"), "?"), dflt(str(r, "name"), "?"));
		t->status = resource_status(status, r, cluster_entry(status, t->cluster));
	}
	/* clusters the app is placed on that have no resource yet */
	json_array_foreach(json_object_get(status, "clusters"), i, c) {
		const char *name = dflt(str(c, "name"), "?");
		bool seen = false;

		for (size_t k = 0; k < nrows && !seen; k++)
			seen = !strcmp(rows[k].cluster, name);
		if (seen)
			continue;
		rows[nrows].cluster = name;
		rows[nrows].ns = "-";
		rows[nrows].resource = xstrdup("-");
		rows[nrows].status = resource_status(status, NULL, c);
		nrows++;
	}
	if (!nrows) {
		printf("No resources: the application is on no cluster yet (`navectl app status %s -n %s` shows "
		       "its workflow)\n", dflt(kobj_name(app), "?"), dflt(kobj_namespace(app), "?"));
		free(rows);
		return;
	}
	qsort(rows, nrows, sizeof(*rows), tree_row_cmp);
	for (i = 0; i < nrows; i++) {
		w1 = maxlen(w1, rows[i].cluster);
		w2 = maxlen(w2, rows[i].ns);
		w3 = maxlen(w3, rows[i].resource);
	}
	printf("%-*s     %-*s     %-*s   %s\n", (int)w1, "CLUSTER", (int)w2, "NAMESPACE", (int)w3, "RESOURCE",
	       "STATUS");
	for (size_t ci = 0; ci < nrows;) {
		size_t clen = run_length(rows, nrows, ci, 0), nns = 0, k = 0;

		for (size_t j = ci; j < ci + clen; j += run_length(rows, nrows, j, 1))
			nns++;
		for (size_t ni = ci; ni < ci + clen; k++) {
			size_t nlen = run_length(rows, nrows, ni, 1);

			for (size_t ri = 0; ri < nlen; ri++) {
				const struct tree_row *t = &rows[ni + ri];

				printf("%-*s %s %-*s %s %-*s   %s\n", (int)w1, ni + ri == ci ? t->cluster : "",
				       connector(k, nns, ri == 0, utf8), (int)w2, ri == 0 ? t->ns : "",
				       connector(ri, nlen, true, utf8), (int)w3, t->resource, t->status);
			}
			ni += nlen;
		}
		ci += clen;
	}
	for (i = 0; i < nrows; i++) {
		free(rows[i].resource);
		free(rows[i].status);
	}
	free(rows);
}

static int app_status(struct nctl *n, const char *ns, const char *name, bool want_tree, bool utf8,
		      enum nctl_output out, bool out_set)
{
	struct nctl_resp resp = { 0 };
	int rc;

	rc = get_app(n, ns, name, &resp);
	if (rc)
		return rc;
	if (out_set) {
		nctl_print_object(stdout, resp.body, out, false);
	} else if (want_tree) {
		tree(resp.body, utf8);
	} else {
		about(resp.body);
		problems(json_object_get(resp.body, "status"));
		workflow(json_object_get(resp.body, "status"));
		services(resp.body, utf8);
	}
	nctl_resp_clear(&resp);
	return 0;
}

/* app revisions ---------------------------------------------------------------- */

/* N of a revision: spec.revision, else the "-vN" suffix of its name, else 0. */
static long revision_number(const json_t *rev)
{
	json_t *v = kobj_get_path(rev, "spec.revision");
	const char *name = dflt(kobj_name(rev), ""), *dash = strrchr(name, '-');

	if (json_is_integer(v))
		return (long)json_integer_value(v);
	if (dash && dash[1] == 'v')
		return strtol(dash + 2, NULL, 10);
	return 0;
}

static int revision_cmp(const void *pa, const void *pb)
{
	long a = revision_number(*(json_t *const *)pa), b = revision_number(*(json_t *const *)pb);

	return a < b ? -1 : a > b;
}

/* The size of obj as JSON (what the hub stores), "1.4 KiB", into out[24]. */
static char *object_size(const json_t *obj, char out[24])
{
	json_t *o = nctl_strip_managed(obj);
	char *s = json_dumps(o, JSON_COMPACT);
	size_t len = s ? strlen(s) : 0;

	if (len < 1024)
		snprintf(out, 24, "%zu B", len);
	else if (len < 1024 * 1024)
		snprintf(out, 24, "%.1f KiB", (double)len / 1024);
	else
		snprintf(out, 24, "%.1f MiB", (double)len / (1024 * 1024));
	free(s);
	json_decref(o);
	return out;
}

/* STATUS of a revision: its workflow's phase, capitalised as vela shows
 * it ("Succeeded", "Executing"), into out[32]. */
static char *revision_state(const json_t *rev, char out[32])
{
	const char *phase = str(json_object_get(rev, "status"), "workflowPhase");

	if (json_is_true(kobj_get_path(rev, "status.succeeded")))
		phase = "succeeded";
	else if (!phase || !*phase)
		phase = json_is_true(kobj_get_path(rev, "spec.revisionOnly")) ? "revisionOnly" : "pending";
	snprintf(out, 32, "%s", phase);
	if (out[0] >= 'a' && out[0] <= 'z')
		out[0] = (char)(out[0] - 'a' + 'A');
	return out;
}

static int app_revisions(struct nctl *n, const char *ns, const char *name, enum nctl_output out, bool out_set)
{
	static const char *const header[] = { "NAME", "PUBLISH_VERSION", "SUCCEEDED", "HASH", "BEGIN_TIME",
					      "STATUS", "SIZE" };
	struct kref ref = revisions_ref(ns, NULL);
	struct nctl_resp app = { 0 }, resp = { 0 };
	json_t *items, *rows = json_array(), **sorted = NULL;
	char *sel = xasprintf("%s=%s", APP_LABEL_NAME, name);
	size_t i, count;
	int rc;

	rc = get_app(n, ns, name, &app);
	if (rc)
		goto out;
	rc = list_objects(n, &ref, sel, &resp);
	if (rc)
		goto out;
	items = json_object_get(resp.body, "items");
	count = json_array_size(items);
	sorted = xcalloc(count ? count : 1, sizeof(*sorted));
	for (i = 0; i < count; i++)
		sorted[i] = json_array_get(items, i);
	qsort(sorted, count, sizeof(*sorted), revision_cmp);
	if (out_set) {
		json_t *l = json_pack("{s:[]}", "items");

		for (i = 0; i < count; i++)
			json_array_append(json_object_get(l, "items"), sorted[i]);
		print_list(l, "ApplicationRevision", out);
		json_decref(l);
		goto out;
	}
	if (!count) {
		fprintf(stderr, "No revisions of application \"%s\" in namespace \"%s\" yet (the hub writes the first "
				"when it has parsed and rendered the application).\n", name, ns);
		goto out;
	}
	for (i = 0; i < count; i++) {
		const json_t *rev = sorted[i];
		const char *hash = dflt(str(json_object_get(rev, "spec"), "revisionHash"),
					dflt(kobj_label(rev, APP_LABEL_REVISION_HASH), ""));
		char h[NCTL_APP_HASH_SHOWN + 1], begin[40], size[24], state[32];

		snprintf(h, sizeof(h), "%s", hash);
		json_array_append_new(rows, json_pack("[sssssss]", dflt(kobj_name(rev), ""),
						      dflt(str(json_object_get(rev, "spec"), "publishVersion"), ""),
						      yes_no(kobj_get_path(rev, "status.succeeded")), h,
						      vela_time(json_string_value(
								kobj_get_path(rev, "metadata.creationTimestamp")), begin),
						      revision_state(rev, state), object_size(rev, size)));
	}
	nctl_print_grid(stdout, "", header, 7, rows);
out:
	free(sorted);
	free(sel);
	json_decref(rows);
	nctl_resp_clear(&app);
	nctl_resp_clear(&resp);
	return rc;
}

/* app diff ------------------------------------------------------------------------ */

/* names: the two revisions' full names. Returns the exit code (see
 * NCTL_APP_DIFF_TROUBLE). */
static int app_diff(struct nctl *n, const char *ns, const char *name, char names[2][NCTL_APP_REV_NAME])
{
	struct nctl_resp resp[2] = { { 0 }, { 0 } };
	struct textdiff_lines la = { 0 }, lb = { 0 };
	struct buf out;
	int rc = 0;

	for (int i = 0; i < 2; i++) {
		struct kref ref = revisions_ref(ns, names[i]);

		if (nctl_get(n, &ref, &resp[i]) == 0)
			continue;
		if (resp[i].err.reason == KCLIENT_NOT_FOUND && !not_served(&resp[i])) {
			fprintf(stderr, "error: application %s/%s has no revision %s\n", ns, name, names[i]);
			fprintf(stderr, "hint: `navectl app revisions %s -n %s` lists the revisions kept (the oldest "
					"are pruned: %d are kept by default)\n", name, ns, APP_REVISIONS_KEEP);
			rc = NCTL_APP_DIFF_TROUBLE;
		} else {
			rc = report_app(n, &resp[i], ns, name, NULL);
			if (rc == NCTL_EXIT_FAILED)
				rc = NCTL_APP_DIFF_TROUBLE;
		}
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		struct textdiff_lines *l = i ? &lb : &la;
		char *text = apprev_text_side(resp[0].body, resp[1].body, i);
		int r = textdiff_split(text, NCTL_APP_DIFF_MAX_LINES, l);

		free(text);
		if (r < 0) {
			fprintf(stderr, "error: revision %s is more than %d lines of YAML, too long for app diff\n",
				names[i], NCTL_APP_DIFF_MAX_LINES);
			fprintf(stderr, "hint: compare `navectl get applicationrevision %s -n %s -o yaml` with an "
					"external diff\n", names[i], ns);
			rc = NCTL_APP_DIFF_TROUBLE;
			goto out;
		}
	}
	buf_init(&out, (size_t)-1);
	rc = textdiff_unified(&la, &lb, names[0], names[1], 0, &out) > 0 ? NCTL_APP_DIFF_DIFFERENT : NCTL_EXIT_OK;
	fwrite(out.data ? out.data : "", 1, out.len, stdout);
	buf_free(&out);
out:
	textdiff_lines_free(&la);
	textdiff_lines_free(&lb);
	nctl_resp_clear(&resp[0]);
	nctl_resp_clear(&resp[1]);
	return rc;
}

/* The /nave/v1 application endpoints ------------------------------------------ */

/* POST /nave/v1/namespaces/NS/applications/NAME/<action> with body (may be
 * NULL); *ret is the Application after the change on success. Returns 0 or
 * an exit code (printed; what says what was being done). */
static int post_action(struct nctl *n, const char *ns, const char *name, const char *action, const json_t *body,
		       const char *what, struct nctl_resp *ret)
{
	char path[NCTL_APP_PATH_MAX];
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int rc = 0;

	if (!kobj_valid_label_name(ns)) {
		free(text);
		return nctl_usage_error(n, "\"%s\" is not a namespace name (a DNS-1123 label)", ns);
	}
	snprintf(path, sizeof(path), "/nave/v1/namespaces/%s/applications/%s/%s", ns, name, action);
	if (nctl_request(n, &(struct kclient_request){ .method = KCLIENT_POST, .path = path, .body = text }, ret) < 0) {
		rc = report_app(n, ret, ns, name, what);
		nctl_resp_clear(ret);
	}
	free(text);
	return rc;
}

/* Whether the Application's status, once the controller has written it
 * after a request, shows the request done; arg is the command's (the
 * revision of a rollback). */
typedef bool (*settled_fn)(const json_t *app, const char *arg);

static bool wf_flag(const json_t *app, const char *flag)
{
	return json_is_true(json_object_get(kobj_get_path(app, "status.workflow"), flag));
}

static bool resumed(const json_t *app, const char *arg)
{
	(void)app;
	(void)arg;
	return true; /* it may have reached another suspend step already */
}

static bool suspended(const json_t *app, const char *arg)
{
	(void)arg;
	return wf_flag(app, "suspend") || wf_flag(app, "finished") || wf_flag(app, "terminated");
}

static bool terminated(const json_t *app, const char *arg)
{
	(void)arg;
	return wf_flag(app, "terminated");
}

static bool restarted(const json_t *app, const char *arg)
{
	(void)arg;
	return !wf_flag(app, "terminated") && !wf_flag(app, "finished");
}

static bool rolled_back(const json_t *app, const char *rev)
{
	const char *latest = json_string_value(kobj_get_path(app, "status.latestRevision.name"));

	return latest && !strcmp(latest, rev);
}

static void on_pause(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

/* Run the loop for ms milliseconds (the CLI's own loop: nothing else waits). */
static void pause_ms(struct nctl *n, uint64_t ms)
{
	uv_timer_t t;
	bool done = false;

	uv_timer_init(&n->loop, &t);
	t.data = &done;
	uv_timer_start(&t, on_pause, ms, 0);
	nctl_run_until(n, &done);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&n->loop, UV_RUN_NOWAIT); /* the close callback, before t goes */
}

/* The endpoints answer with the Application as the request left it; the
 * controller acts on it a moment later and writes the status. Read the
 * Application again (every NCTL_APP_SETTLE_POLL_MS, for at most
 * NCTL_APP_SETTLE_MS) until its status has changed and settled says so,
 * then print " (application phase P, workflow W)" of the last one read
 * (answer: the endpoint's). */
static void print_settled(struct nctl *n, const char *ns, const char *name, const json_t *answer,
			  settled_fn settled, const char *arg)
{
	int64_t deadline = time_mono_us() + NCTL_APP_SETTLE_MS * 1000;
	struct kref ref = apps_ref(ns, name);
	json_t *app = json_incref((json_t *)answer);
	bool ok = false;

	while (!ok && time_mono_us() < deadline) {
		struct nctl_resp resp = { 0 };

		pause_ms(n, NCTL_APP_SETTLE_POLL_MS);
		if (nctl_get(n, &ref, &resp) == 0) {
			json_t *now = json_object_get(resp.body, "status"), *then = json_object_get(answer, "status");

			ok = (now || then) && !json_equal(now, then) && settled(resp.body, arg);
			json_decref(app);
			app = json_incref(resp.body);
		}
		nctl_resp_clear(&resp);
	}
	printf(" (%sapplication phase: %s, workflow: %s)\n",
	       ok ? "" : "not yet acted on by the hub's controller: ",
	       dflt(str(json_object_get(app, "status"), "status"), "<none>"),
	       dflt(json_string_value(kobj_get_path(app, "status.workflow.phase")), "<none>"));
	json_decref(app);
}

/* rev: the revision's full name. */
static int app_rollback(struct nctl *n, const char *ns, const char *name, const char *rev)
{
	struct nctl_resp resp = { 0 };
	json_t *body;
	int rc;

	body = json_pack("{s:s}", "revision", rev);
	rc = post_action(n, ns, name, "rollback", body, "roll back", &resp);
	json_decref(body);
	if (rc)
		return rc;
	printf("application %s/%s rolled back to %s: its spec is that revision's again and the workflow runs",
	       ns, name, rev);
	print_settled(n, ns, name, resp.body, rolled_back, rev);
	nctl_resp_clear(&resp);
	return 0;
}

/* app: the command ------------------------------------------------------------ */

static const char app_help[] =
	"Usage: navectl app ls [-n NS | -A] [-o json|yaml]\n"
	"       navectl app status APP [-n NS] [--tree [--ascii]] [-o json|yaml]\n"
	"       navectl app revisions APP [-n NS] [-o json|yaml]\n"
	"       navectl app diff APP REV1 REV2 [-n NS]\n"
	"       navectl app rollback APP --to REV [-n NS]\n"
	"\n"
	"Applications (" APP_API_VERSION ", KubeVela's model) as the vela CLI shows them.\n"
	"\n"
	"  ls         one row per component: APP COMPONENT TYPE TRAITS PHASE HEALTHY STATUS\n"
	"             CREATED-TIME (HEALTHY: every cluster running it reports it healthy)\n"
	"  status     About (phase, latest revision), conditions that are not True,\n"
	"             Workflow (each step's phase and message) and Services: one entry\n"
	"             per component and cluster with its health, ready replicas, revision,\n"
	"             message and traits. --tree: CLUSTER - NAMESPACE - RESOURCE - STATUS\n"
	"             of every object the application put on a cluster.\n"
	"  revisions  its ApplicationRevisions, oldest first: NAME PUBLISH_VERSION\n"
	"             SUCCEEDED HASH BEGIN_TIME STATUS SIZE\n"
	"  diff       a unified diff of two revisions: the Application as submitted and\n"
	"             the definitions that differ, as YAML (each side at most 20000 lines).\n"
	"             Exit status 0 when they are equal, 1 when they differ, 2 on\n"
	"             trouble (no such revision, too long; as diff(1)).\n"
	"  rollback   make the Application's spec that of revision REV again; the hub\n"
	"             reuses the revision and runs the workflow\n"
	"\n"
	"REV is vN, N or APP-vN.\n"
	"\n"
	"Flags:\n"
	"  -n, --namespace NS   the application's namespace (default: the kubeconfig's,\n"
	"                       else \"default\")\n"
	"  -A, --all-namespaces (ls) every namespace (adds a NAMESPACE column)\n"
	"      --tree           (status) the resources per cluster and namespace\n"
	"      --ascii          (status) draw with ASCII, not box-drawing characters (the\n"
	"                       default unless LC_ALL, LC_CTYPE or LANG names UTF-8)\n"
	"  -o, --output FMT     (ls, status, revisions) json or yaml: the objects themselves\n"
	"      --to REV         (rollback) the revision to return to\n"
	"\n"
	"Exit status: 0 ok (diff: equal), 1 failed (e.g. no such application;\n"
	"diff: different), 2 usage error (diff: any trouble but 3), 3 hub unreachable\n"
	"or credential refused.\n";

enum {
	OPT_TREE = 1,
	OPT_ASCII,
	OPT_TO,
};

static const struct option app_opts[] = {
	{ "all-namespaces", no_argument, NULL, 'A' },
	{ "tree", no_argument, NULL, OPT_TREE },
	{ "ascii", no_argument, NULL, OPT_ASCII },
	{ "output", required_argument, NULL, 'o' },
	{ "to", required_argument, NULL, OPT_TO },
	{ NULL, 0, NULL, 0 },
};

struct app_args {
	struct nctl *n;
	bool all_ns;
	bool tree;
	bool ascii;
	bool out_set;
	enum nctl_output out;
	const char *to;
};

static int app_opt(void *ud, int val, const char *arg)
{
	struct app_args *a = ud;

	switch (val) {
	case 'A':
		a->all_ns = true;
		return 0;
	case OPT_TREE:
		a->tree = true;
		return 0;
	case OPT_ASCII:
		a->ascii = true;
		return 0;
	case 'o':
		if (nctl_output_parse(arg, &a->out) < 0 || (a->out != NCTL_OUT_JSON && a->out != NCTL_OUT_YAML))
			return nctl_usage_error(a->n, "-o/--output: \"%s\": app prints json or yaml (the tables "
						      "are the default)", arg);
		a->out_set = true;
		return 0;
	case OPT_TO:
		a->to = arg;
		return 0;
	default:
		return nctl_usage_error(a->n, "unexpected flag");
	}
}

/* The subcommands of app, in the order of nctl_cmd_app's table. */
enum { SUB_LS, SUB_STATUS, SUB_REVISIONS, SUB_DIFF, SUB_ROLLBACK };

/* A flag given to a subcommand that does not take it: a usage error naming
 * the flag and the subcommands it goes with. */
static int check_flags(struct nctl *n, const struct app_args *a, int sub, const char *sub_name)
{
	const struct {
		bool set;
		const char *flag;
		unsigned subs;      /* 1 << SUB_* */
		const char *where;
	} flags[] = {
		{ a->all_ns, "-A/--all-namespaces", 1u << SUB_LS, "app ls" },
		{ a->tree, "--tree", 1u << SUB_STATUS, "app status" },
		{ a->ascii, "--ascii", 1u << SUB_STATUS, "app status --tree" },
		{ a->out_set, "-o/--output", 1u << SUB_LS | 1u << SUB_STATUS | 1u << SUB_REVISIONS,
		  "app ls, status and revisions" },
		{ a->to != NULL, "--to", 1u << SUB_ROLLBACK, "app rollback" },
	};

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (flags[i].set && !(flags[i].subs & (1u << sub)))
			return nctl_usage_error(n, "%s does not go with `app %s` (only with %s)", flags[i].flag,
						sub_name, flags[i].where);
	if (a->all_ns && n->namespace)
		return nctl_usage_error(n, "give -n NS or -A, not both");
	if (a->tree && a->out_set)
		return nctl_usage_error(n, "--tree prints text and -o the Application: give one");
	if (a->ascii && !a->tree)
		return nctl_usage_error(n, "--ascii goes with --tree");
	return 0;
}

/* The number of arguments sub wants after its name (APP and the rest). */
static int want_args(struct nctl *n, const char *sub, int got, int want, const char *what)
{
	if (got == want)
		return 0;
	if (got < want)
		return nctl_usage_error(n, "app %s needs %s", sub, what);
	return nctl_usage_error(n, "app %s takes %s; unexpected extra arguments", sub, what);
}

/* `navectl app SUB ...` (argv[0] is "app"): validates every flag and
 * argument before connecting, then runs SUB. Returns an exit code. */
int nctl_cmd_app(struct nctl *n, int argc, char **argv)
{
	static const struct {
		const char *name;
		int nargs;
		const char *what;
	} subs[] = { /* in the order of enum SUB_* */
		{ "ls", 0, "no arguments (-n NS or -A)" },
		{ "status", 1, "an application name: `navectl app status APP`" },
		{ "revisions", 1, "an application name: `navectl app revisions APP`" },
		{ "diff", 3, "an application and two revisions: `navectl app diff APP v1 v2`" },
		{ "rollback", 1, "an application name and --to REV: `navectl app rollback APP --to v1`" },
	};
	struct app_args a = { .n = n };
	char **args = NULL, revs[2][NCTL_APP_REV_NAME];
	const char *sub, *ns;
	int nargs = 0, rc, k = -1;

	rc = nctl_getopt(n, argc, argv, "Ao:", app_opts, app_opt, &a, app_help, &args, &nargs);
	if (rc)
		return nctl_getopt_exit(rc);
	if (nargs < 1) {
		rc = nctl_usage_error(n, "which subcommand? ls, status, revisions, diff or rollback");
		goto out;
	}
	sub = args[0];
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(subs[i].name, sub))
			k = (int)i;
	if (!strcmp(sub, "list"))
		k = SUB_LS; /* vela's alias */
	if (k < 0) {
		rc = nctl_usage_error(n, "unknown subcommand \"%s\" (ls, status, revisions, diff or rollback)", sub);
		goto out;
	}
	sub = subs[k].name;
	rc = check_flags(n, &a, k, sub);
	if (!rc)
		rc = want_args(n, sub, nargs - 1, subs[k].nargs, subs[k].what);
	if (!rc && nargs > 1)
		rc = check_app_name(n, args[1]);
	if (!rc && k == SUB_ROLLBACK && !a.to)
		rc = nctl_usage_error(n, "rollback to which revision? give --to REV (`navectl app revisions %s`)",
				      args[1]);
	for (int i = 0; !rc && k == SUB_DIFF && i < 2; i++)
		rc = parse_revision(n, args[1], args[2 + i], revs[i], sizeof(revs[i]));
	if (!rc && k == SUB_ROLLBACK)
		rc = parse_revision(n, args[1], a.to, revs[0], sizeof(revs[0]));
	if (!rc)
		rc = nctl_connect(n);
	if (rc)
		goto out;
	ns = nctl_namespace(n);
	switch (k) {
	case SUB_LS:
		rc = app_ls(n, a.all_ns ? NULL : ns, a.out, a.out_set);
		break;
	case SUB_STATUS:
		rc = app_status(n, ns, args[1], a.tree, utf8_locale() && !a.ascii, a.out, a.out_set);
		break;
	case SUB_REVISIONS:
		rc = app_revisions(n, ns, args[1], a.out, a.out_set);
		break;
	case SUB_DIFF:
		rc = app_diff(n, ns, args[1], revs);
		break;
	default:
		rc = app_rollback(n, ns, args[1], revs[0]);
		break;
	}
out:
	free(args);
	return rc;
}

/* workflow ----------------------------------------------------------------------- */

static const char workflow_help[] =
	"Usage: navectl workflow resume|suspend|terminate|restart APP [-n NS]\n"
	"\n"
	"Drive an Application's workflow (the hub's /nave/v1 application endpoints):\n"
	"  resume     continue a workflow waiting at a suspend step or at a deploy step\n"
	"             with auto: false\n"
	"  suspend    stop at the next step boundary until resumed\n"
	"  terminate  stop for good; the phase becomes workflowTerminated\n"
	"  restart    run the workflow again from its first step\n"
	"Prints the application's phase after the change. A transition that is not\n"
	"possible (resuming a workflow that is not suspended, say) is refused with the\n"
	"hub's reason.\n"
	"\n"
	"Flags:\n"
	"  -n, --namespace NS   the application's namespace (default: the kubeconfig's,\n"
	"                       else \"default\")\n"
	"\n"
	"Exit status: 0 ok, 1 failed (no such application, or the transition is not\n"
	"possible), 2 usage error, 3 hub unreachable or credential refused.\n";

/* `navectl workflow VERB APP` (argv[0] is "workflow"). Returns an exit code. */
int nctl_cmd_workflow(struct nctl *n, int argc, char **argv)
{
	static const struct {
		const char *verb;
		const char *done;
		const char *what;
		settled_fn settled;
	} verbs[] = {
		{ "resume", "resumed", "resume the workflow of", resumed },
		{ "suspend", "suspended", "suspend the workflow of", suspended },
		{ "terminate", "terminated", "terminate the workflow of", terminated },
		{ "restart", "restarted", "restart the workflow of", restarted },
	};
	struct nctl_resp resp = { 0 };
	char **args = NULL, action[32];
	int nargs = 0, rc, k = -1;

	rc = nctl_getopt(n, argc, argv, NULL, NULL, NULL, NULL, workflow_help, &args, &nargs);
	if (rc)
		return nctl_getopt_exit(rc);
	if (nargs < 1) {
		rc = nctl_usage_error(n, "which subcommand? resume, suspend, terminate or restart");
		goto out;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(verbs[i].verb, args[0]))
			k = (int)i;
	if (k < 0) {
		rc = nctl_usage_error(n, "unknown subcommand \"%s\" (resume, suspend, terminate or restart)", args[0]);
		goto out;
	}
	if (nargs != 2) {
		rc = nctl_usage_error(n, nargs < 2 ? "%s which application? `navectl workflow %s APP`"
						   : "%s takes one application: `navectl workflow %s APP`",
				      args[0], args[0]);
		goto out;
	}
	rc = check_app_name(n, args[1]);
	if (rc)
		goto out;
	rc = nctl_connect(n);
	if (rc)
		goto out;
	snprintf(action, sizeof(action), "workflow/%s", verbs[k].verb);
	rc = post_action(n, nctl_namespace(n), args[1], action, NULL, verbs[k].what, &resp);
	if (rc)
		goto out;
	printf("workflow of %s/%s %s", nctl_namespace(n), args[1], verbs[k].done);
	print_settled(n, nctl_namespace(n), args[1], resp.body, verbs[k].settled, NULL);
out:
	nctl_resp_clear(&resp);
	free(args);
	return rc;
}
