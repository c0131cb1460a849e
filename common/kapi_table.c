/* kapi_table.c - meta.k8s.io/v1 Table responses; see kapi_table.h.
 *
 * One descriptor per known kind: its column definitions (name, type, format,
 * priority, description, in the order and with the types a real API server
 * of about v1.30-1.32 sends) and a row function that computes the cells from
 * the object the way the server's printers do (Deployment READY is
 * "ready/desired", Pod STATUS follows container states, Service PORT(S) is
 * "80/TCP", ...). Columns with priority 1 are what `kubectl get -o wide` adds.
 *
 * Kinds without a descriptor fall back the way a real server does:
 *   - a kind of a built-in group (core, apps, rbac, apiextensions, ...) gets the
 *     API server's default convertor: NAME, CREATED AT (an RFC 3339 cell);
 *   - anything else is a custom resource: NAME followed by the CRD version's
 *     additionalPrinterColumns evaluated with JSONPath, or NAME, AGE when the
 *     CRD declares none.
 *
 * Each row carries the object as includeObject asks: a PartialObjectMetadata
 * (deep copy of metadata), the whole object (deep copy), or nothing.
 *
 * Pure functions on jansson values; no I/O, no global state; callable from any
 * thread. Inputs are objects already accepted by the server, so there are no
 * size caps here beyond KAPI_TABLE_MAX_PRINTER_COLUMNS and the bounded joins
 * of long lists (ports, hosts: at most LIST_JOIN_MAX bytes per cell).
 */
#include "kapi_table.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "buf.h"
#include "jsonpath.h"
#include "timefmt.h"

/* CRD printer columns beyond this are ignored (a real CRD has a handful). */
#define KAPI_TABLE_MAX_PRINTER_COLUMNS 64
/* Cap on a cell joined from a list (container names, images, ports, ...). */
#define LIST_JOIN_MAX 4096
#define US_PER_SEC INT64_C(1000000)

/* Descriptions of the columns every kind shares. */
#define DESC_NAME "Name must be unique within a namespace. It is required when creating resources."
#define DESC_AGE "CreationTimestamp is a timestamp representing the server time when this object was created."
#define DESC_CONTAINERS "Names of each container in the template."
#define DESC_IMAGES "Images referenced by each container in the template."

struct table_col {
	const char *name;
	const char *type;   /* string, integer, number, boolean, date */
	const char *format; /* "name" for the name column, else "" */
	int priority;       /* 0: always shown; 1: -o wide */
	const char *description;
};

#define COL_NAME { "Name", "string", "name", 0, DESC_NAME }
#define COL_AGE { "Age", "string", "", 0, DESC_AGE }
#define COL_S(n, d) { n, "string", "", 0, d }
#define COL_I(n, d) { n, "integer", "", 0, d }
#define COL_S1(n, d) { n, "string", "", 1, d }

/* Everything a row function needs besides the object. */
struct row_ctx {
	int64_t now_us;
};

typedef void (*row_fn)(const json_t *o, const struct row_ctx *ctx, json_t *cells, json_t *row);

struct table_kind {
	const char *group;
	const char *kind;
	const struct table_col *cols;
	size_t ncols;
	row_fn row;
};

/* --- small accessors ------------------------------------------------------ */

/* Value at a dotted path ("status.readyReplicas"); borrowed or NULL. */
static json_t *jget(const json_t *o, const char *dotted)
{
	char key[128];
	const char *p = dotted;
	json_t *cur = (json_t *)o;

	while (cur && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (n >= sizeof(key) || !json_is_object(cur))
			return NULL;
		memcpy(key, p, n);
		key[n] = '\0';
		cur = json_object_get(cur, key);
		p = dot ? dot + 1 : p + n;
	}
	return cur;
}

static const char *jstr(const json_t *o, const char *dotted)
{
	json_t *v = jget(o, dotted);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *jstr_or(const json_t *o, const char *dotted, const char *dflt)
{
	const char *s = jstr(o, dotted);

	return s ? s : dflt;
}

static int64_t jint(const json_t *o, const char *dotted)
{
	json_t *v = jget(o, dotted);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	return 0;
}

static bool jhas(const json_t *o, const char *dotted)
{
	json_t *v = jget(o, dotted);

	return v && !json_is_null(v);
}

static size_t jsize(const json_t *o, const char *dotted)
{
	json_t *v = jget(o, dotted);

	if (json_is_object(v))
		return json_object_size(v);
	if (json_is_array(v))
		return json_array_size(v);
	return 0;
}

static void cell_str(json_t *cells, const char *s)
{
	json_t *v = json_string(s ? s : "");

	json_array_append_new(cells, v ? v : json_string(""));
}

static void cell_int(json_t *cells, int64_t i)
{
	json_array_append_new(cells, json_integer(i));
}

/* Append the buffer as a string cell and reset it. */
static void cell_buf(json_t *cells, struct buf *b)
{
	cell_str(cells, b->data ? b->data : "");
	buf_reset(b);
}

/* --- durations and ages ------------------------------------------------- */

char *kapi_table_age(int64_t seconds, char *out)
{
	int64_t minutes, hours;

	if (seconds < -1) {
		snprintf(out, 16, "<invalid>");
		return out;
	}
	if (seconds < 0)
		seconds = 0;
	if (seconds < 60 * 2) {
		snprintf(out, 16, "%" PRId64 "s", seconds);
		return out;
	}
	minutes = seconds / 60;
	if (minutes < 10) {
		if (seconds % 60 == 0)
			snprintf(out, 16, "%" PRId64 "m", minutes);
		else
			snprintf(out, 16, "%" PRId64 "m%" PRId64 "s", minutes, seconds % 60);
		return out;
	}
	if (minutes < 60 * 3) {
		snprintf(out, 16, "%" PRId64 "m", minutes);
		return out;
	}
	hours = seconds / 3600;
	if (hours < 8) {
		if (minutes % 60 == 0)
			snprintf(out, 16, "%" PRId64 "h", hours);
		else
			snprintf(out, 16, "%" PRId64 "h%" PRId64 "m", hours, minutes % 60);
	} else if (hours < 48) {
		snprintf(out, 16, "%" PRId64 "h", hours);
	} else if (hours < 24 * 8) {
		if (hours % 24 == 0)
			snprintf(out, 16, "%" PRId64 "d", hours / 24);
		else
			snprintf(out, 16, "%" PRId64 "d%" PRId64 "h", hours / 24, hours % 24);
	} else if (hours < 24 * 365 * 2) {
		snprintf(out, 16, "%" PRId64 "d", hours / 24);
	} else if (hours < 24 * 365 * 8) {
		int64_t dy = hours / 24 % 365;

		if (dy == 0)
			snprintf(out, 16, "%" PRId64 "y", hours / 24 / 365);
		else
			snprintf(out, 16, "%" PRId64 "y%" PRId64 "d", hours / 24 / 365, dy);
	} else {
		snprintf(out, 16, "%" PRId64 "y", hours / 24 / 365);
	}
	return out;
}

/* Human age of the timestamp string ts relative to now, "<unknown>" when
 * absent, "<invalid>" when unparsable. */
static char *age_of(const char *ts, int64_t now_us, char *out)
{
	int64_t us;

	if (!ts || !*ts) {
		snprintf(out, 16, "<unknown>");
		return out;
	}
	if (time_parse_rfc3339(ts, &us) < 0) {
		snprintf(out, 16, "<invalid>");
		return out;
	}
	return kapi_table_age((now_us - us) / US_PER_SEC, out);
}

static void cell_age(json_t *cells, const json_t *o, const char *dotted, const struct row_ctx *ctx)
{
	char age[16];

	cell_str(cells, age_of(jstr(o, dotted), ctx->now_us, age));
}

/* --- shared formatting ------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted keys of a JSON object; caller frees the array (not the strings,
 * which are borrowed from obj). */
static const char **sorted_keys(const json_t *obj, size_t *ret_n)
{
	size_t n = json_object_size(obj), i = 0;
	const char **keys = xcalloc(n ? n : 1, sizeof(*keys));
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)obj, k, v)
		keys[i++] = k;
	qsort(keys, n, sizeof(*keys), cmp_str);
	*ret_n = n;
	return keys;
}

/* labels.FormatLabels: "a=1,b=2" sorted by key, "<none>" when empty. */
static void format_labels(struct buf *b, const json_t *map)
{
	size_t n = 0;
	const char **keys;

	if (!json_is_object(map) || json_object_size(map) == 0) {
		buf_puts(b, "<none>");
		return;
	}
	keys = sorted_keys(map, &n);
	for (size_t i = 0; i < n; i++) {
		const char *v = json_string_value(json_object_get(map, keys[i]));

		buf_printf(b, "%s%s=%s", i ? "," : "", keys[i], v ? v : "");
	}
	free(keys);
}

struct requirement {
	const char *key;
	char *text; /* owned */
};

static int cmp_req(const void *a, const void *b)
{
	const struct requirement *x = a, *y = b;

	return strcmp(x->key, y->key);
}

/* A matchExpressions requirement as labels.Requirement.String() writes it. */
static char *requirement_text(const char *key, const char *op, const json_t *values)
{
	struct buf b;
	size_t n = json_is_array(values) ? json_array_size(values) : 0;
	const char **vals = xcalloc(n ? n : 1, sizeof(*vals));
	size_t nv = 0;

	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(values, i));

		if (s)
			vals[nv++] = s;
	}
	qsort(vals, nv, sizeof(*vals), cmp_str);
	buf_init(&b, LIST_JOIN_MAX);
	if (!strcmp(op, "Exists")) {
		buf_puts(&b, key);
	} else if (!strcmp(op, "DoesNotExist")) {
		buf_printf(&b, "!%s", key);
	} else {
		buf_printf(&b, "%s %s (", key, !strcmp(op, "NotIn") ? "notin" : "in");
		for (size_t i = 0; i < nv; i++)
			buf_printf(&b, "%s%s", i ? "," : "", vals[i]);
		buf_puts(&b, ")");
	}
	free(vals);
	return buf_steal(&b, NULL);
}

/* metav1.LabelSelectorAsSelector(sel).String(): requirements sorted by key.
 * Returns false for an invalid selector (unknown operator). Empty selectors
 * write nothing. */
static bool format_selector(struct buf *b, const json_t *sel)
{
	json_t *ml = json_object_get(sel, "matchLabels");
	json_t *me = json_object_get(sel, "matchExpressions");
	size_t nml = json_is_object(ml) ? json_object_size(ml) : 0;
	size_t nme = json_is_array(me) ? json_array_size(me) : 0;
	struct requirement *reqs;
	size_t n = 0;
	bool ok = true;
	const char *k;
	json_t *v;

	if (!json_is_object(sel))
		return true;
	reqs = xcalloc(nml + nme + 1, sizeof(*reqs));
	json_object_foreach(ml, k, v) {
		reqs[n].key = k;
		reqs[n++].text = xasprintf("%s=%s", k, json_is_string(v) ? json_string_value(v) : "");
	}
	for (size_t i = 0; i < nme; i++) {
		json_t *e = json_array_get(me, i);
		const char *key = json_string_value(json_object_get(e, "key"));
		const char *op = json_string_value(json_object_get(e, "operator"));

		if (!key || !op || (strcmp(op, "In") && strcmp(op, "NotIn") && strcmp(op, "Exists") &&
				    strcmp(op, "DoesNotExist"))) {
			ok = false;
			continue;
		}
		reqs[n].key = key;
		reqs[n++].text = requirement_text(key, op, json_object_get(e, "values"));
	}
	qsort(reqs, n, sizeof(*reqs), cmp_req);
	for (size_t i = 0; ok && i < n; i++)
		buf_printf(b, "%s%s", i ? "," : "", reqs[i].text);
	for (size_t i = 0; i < n; i++)
		free(reqs[i].text);
	free(reqs);
	return ok;
}

/* metav1.FormatLabelSelector: "<none>" when empty, "<error>" when invalid. */
static void cell_label_selector(json_t *cells, const json_t *sel)
{
	struct buf b;

	buf_init(&b, LIST_JOIN_MAX);
	if (!format_selector(&b, sel)) {
		buf_reset(&b);
		buf_puts(&b, "<error>");
	} else if (b.len == 0) {
		buf_puts(&b, "<none>");
	}
	cell_buf(cells, &b);
	buf_free(&b);
}

/* CONTAINERS and IMAGES cells of a pod template's containers. */
static void cells_containers(json_t *cells, const json_t *containers)
{
	struct buf names, images;
	size_t n = json_is_array(containers) ? json_array_size(containers) : 0;

	buf_init(&names, LIST_JOIN_MAX);
	buf_init(&images, LIST_JOIN_MAX);
	for (size_t i = 0; i < n; i++) {
		json_t *c = json_array_get(containers, i);

		buf_printf(&names, "%s%s", i ? "," : "", jstr_or(c, "name", ""));
		buf_printf(&images, "%s%s", i ? "," : "", jstr_or(c, "image", ""));
	}
	cell_buf(cells, &names);
	cell_buf(cells, &images);
	buf_free(&names);
	buf_free(&images);
}

/* --- per-kind rows ------------------------------------------------------------ */

static const struct table_col deployment_cols[] = {
	COL_NAME,
	COL_S("Ready", "Number of the pod with ready state"),
	COL_I("Up-to-date", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
	COL_I("Available", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
	COL_AGE,
	COL_S1("Containers", DESC_CONTAINERS),
	COL_S1("Images", DESC_IMAGES),
	COL_S1("Selector", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment."),
};

static void row_deployment(const json_t *o, const struct row_ctx *ctx, json_t *cells, json_t *row)
{
	char ready[48];
	struct buf b;

	snprintf(ready, sizeof(ready), "%" PRId64 "/%" PRId64, jint(o, "status.readyReplicas"),
		 jint(o, "spec.replicas"));
	cell_str(cells, ready);
	cell_int(cells, jint(o, "status.updatedReplicas"));
	cell_int(cells, jint(o, "status.availableReplicas"));
	cell_age(cells, o, "metadata.creationTimestamp", ctx);
	cells_containers(cells, jget(o, "spec.template.spec.containers"));
	buf_init(&b, LIST_JOIN_MAX);
	if (!format_selector(&b, jget(o, "spec.selector"))) {
		buf_reset(&b);
		buf_puts(&b, "<invalid>");
	}
	cell_buf(cells, &b);
	buf_free(&b);
}

static const struct table_col replicaset_cols[] = {
	COL_NAME,
	COL_I("Desired", "Replicas is the number of desired replicas."),
	COL_I("Current", "Replicas is the most recently observed number of replicas."),
	COL_I("Ready", "The number of ready replicas for this replica set."),
	COL_AGE,
	COL_S1("Containers", DESC_CONTAINERS),
	COL_S1("Images", DESC_IMAGES),
	COL_S1("Selector", "Selector is a label query over pods that should match the replica count."),
};

static void row_replicaset(const json_t *o, const struct row_ctx *ctx, json_t *cells, json_t *row)
{
	cell_int(cells, jint(o, "spec.replicas"));
	cell_int(cells, jint(o, "status.replicas"));
	cell_int(cells, jint(o, "status.readyReplicas"));
	cell_age(cells, o, "metadata.creationTimestamp", ctx);
	cells_containers(cells, jget(o, "spec.template.spec.containers"));
	cell_label_selector(cells, jget(o, "spec.selector"));
}

static const struct table_col statefulset_cols[] = {
	COL_NAME,
	COL_S("Ready", "Number of the pod with ready state"),
	COL_AGE,
	COL_S1("Containers", DESC_CONTAINERS),
	COL_S1("Images", DESC_IMAGES),
};

static void row_statefulset(const json_t *o, const struct row_ctx *ctx, json_t *cells, json_t *row)
{
	char ready[48];

	snprintf(ready, sizeof(ready), "%" PRId64 "/%" PRId64, jint(o, "status.readyReplicas"),
		 jint(o, "spec.replicas"));
	cell_str(cells, ready);
	cell_age(cells, o, "metadata.creationTimestamp", ctx);
	cells_containers(cells, jget(o, "spec.template.spec.containers"));
}

static const struct table_col daemonset_cols[] = {
	COL_NAME,
	COL_I("Desired", "The total number of nodes that should be running the daemon pod."),
	COL_I("Current", "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod."),
	COL_I("Ready", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready."),
	COL_I("Up-to-date", "The total number of nodes that are running updated daemon pod."),
	COL_I("Available", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available."),
	COL_S("Node Selector", "NodeSelector is a selector which must be true for the pod to fit on a node."),
	COL_AGE,
	COL_S1("Containers", DESC_CONTAINERS),
	COL_S1("Images", DESC_IMAGES),
	COL_S1("Selector", "A label query over pods that are managed by the daemon set."),
};

static void row_daemonset(const json_t *o, const struct row_ctx *ctx, json_t *cells, json_t *row)
{
	struct buf b;

	cell_int(cells, jint(o, "status.desiredNumberScheduled"));
	cell_int(cells, jint(o, "status.currentNumberScheduled"));
	cell_int(cells, jint(o, "status.numberReady"));
	cell_int(cells, jint(o, "status.updatedNumberScheduled"));
	cell_int(cells, jint(o, "status.numberAvailable"));
	buf_init(&b, LIST_JOIN_MAX);
	format_labels(&b, jget(o, "spec.template.spec.nodeSelector"));
	cell_buf(cells, &b);
	buf_free(&b);
	cell_age(cells, o, "metadata.creationTimestamp", ctx);
	cells_containers(cells, jget(o, "spec.template.spec.containers"));
	cell_label_selector(cells, jget(o, "spec.selector"));
}

static const struct table_col pod_cols[] = {
	COL_NAME,
	COL_S("Ready", "The aggregate readiness state of this pod for accepting traffic."),
	COL_S("Status", "The aggregate status of the containers in this pod."),
	COL_S("Restarts", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
	COL_AGE,
	COL_S1("IP", "IP address allocated to the pod. Routable at least within the cluster."),
	COL_S1("Node", "NodeName is a request to schedule this pod onto a specific node."),
	COL_S1("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods on the node."),
	COL_S1("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness."),
};

/* Later of two RFC 3339 strings (either may be NULL). */
static const char *later_ts(const char *a, const char *b)
{
	int64_t ua, ub;

	if (!a || time_parse_rfc3339(a, &ua) < 0)
		return b;
	if (!b || time_parse_rfc3339(b, &ub) < 0)
		return a;
	return ub > ua ? b : a;
}

static bool pod_condition_true(const json_t *o, const char *type)
{
	json_t *conds = jget(o, "status.conditions");
	size_t i;
	json_t *c;

	json_array_foreach(conds, i, c) {
		const char *t = json_string_value(json_object_get(c, "type"));

		if (t && !strcmp(t, type))
			return !strcmp(jstr_or(c, "status", ""), "True");
	}
	return false;
}

static void row_pod(const json_t *o, const struct row_ctx *ctx, json_t *cells, json_t *row)
{
	const char *phase = jstr_or(o, "status.phase", "");
	const char *last_restart = NULL;
	char reason[160], readybuf[48], age[16];
	json_t *init_statuses = jget(o, "status.initContainerStatuses");
	json_t *statuses = jget(o, "status.containerStatuses");
	size_t ninit_spec = jsize(o, "spec.initContainers");
	int64_t restarts = 0, ready = 0, total = (int64_t)jsize(o, "spec.containers");
	bool initializing = false;
	size_t i;
	json_t *c;

	snprintf(reason, sizeof(reason), "%s", jstr_or(o, "status.reason", phase));
	if (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")) {
		json_t *cond = json_pack("{s:s, s:s, s:s, s:s}", "type", "Completed", "status", "True", "reason",
					 phase, "message",
					 !strcmp(phase, "Succeeded") ? "The pod has completed successfully." : "The pod failed.");

		json_object_set_new(row, "conditions", json_pack("[o]", cond));
	}

	json_array_foreach(init_statuses, i, c) {
		json_t *term = jget(c, "state.terminated");
		json_t *wait = jget(c, "state.waiting");

		restarts += jint(c, "restartCount");
		last_restart = later_ts(last_restart, jstr(c, "lastState.terminated.finishedAt"));
		if (term && jint(term, "exitCode") == 0)
			continue;
		if (term) {
			const char *r = jstr(term, "reason");

			if (r && *r)
				snprintf(reason, sizeof(reason), "Init:%s", r);
			else if (jint(term, "signal"))
				snprintf(reason, sizeof(reason), "Init:Signal:%" PRId64, jint(term, "signal"));
			else
				snprintf(reason, sizeof(reason), "Init:ExitCode:%" PRId64, jint(term, "exitCode"));
		} else if (wait && jstr(wait, "reason") && *jstr(wait, "reason") &&
			   strcmp(jstr(wait, "reason"), "PodInitializing")) {
			snprintf(reason, sizeof(reason), "Init:%s", jstr(wait, "reason"));
		} else {
			snprintf(reason, sizeof(reason), "Init:%zu/%zu", i, ninit_spec);
		}
		initializing = true;
		break;
	}

	if (!initializing || pod_condition_true(o, "Initialized")) {
		bool has_running = false;
		size_t n = json_is_array(statuses) ? json_array_size(statuses) : 0;

		restarts = 0;
		last_restart = NULL;
		for (size_t k = n; k-- > 0;) {
			json_t *cs = json_array_get(statuses, k);
			json_t *term = jget(cs, "state.terminated");
			const char *wr = jstr(cs, "state.waiting.reason");
			const char *tr = term ? jstr(term, "reason") : NULL;

			restarts += jint(cs, "restartCount");
			last_restart = later_ts(last_restart, jstr(cs, "lastState.terminated.finishedAt"));
			if (wr && *wr) {
				snprintf(reason, sizeof(reason), "%s", wr);
			} else if (tr && *tr) {
				snprintf(reason, sizeof(reason), "%s", tr);
			} else if (term) {
				if (jint(term, "signal"))
					snprintf(reason, sizeof(reason), "Signal:%" PRId64, jint(term, "signal"));
				else
					snprintf(reason, sizeof(reason), "ExitCode:%" PRId64, jint(term, "exitCode"));
			} else if (json_is_true(json_object_get(cs, "ready")) && jget(cs, "state.running")) {
				has_running = true;
				ready++;
			}
		}
		if (!strcmp(reason, "Completed") && has_running)
			snprintf(reason, sizeof(reason), "%s", pod_condition_true(o, "Ready") ? "Running" : "NotReady");
	}

	if (jhas(o, "metadata.deletionTimestamp")) {
		if (!strcmp(jstr_or(o, "status.reason", ""), "NodeLost"))
			snprintf(reason, sizeof(reason), "Unknown");
		else if (strcmp(phase, "Succeeded") && strcmp(phase, "Failed"))
			snprintf(reason, sizeof(reason), "Terminating");
	}

	snprintf(readybuf, sizeof(readybuf), "%" PRId64 "/%" PRId64, ready, total);
	cell_str(cells, readybuf);
	cell_str(cells, reason);
	if (restarts && last_restart) {
		char rs[48];

		snprintf(rs, sizeof(rs), "%" PRId64 " (%s ago)", restarts, age_of(last_restart, ctx->now_us, age));
		cell_str(cells, rs);
	} else {
		char rs[24];

		snprintf(rs, sizeof(rs), "%" PRId64, restarts);
		cell_str(cells, rs);
	}
	cell_age(cells, o, "metadata.creationTimestamp", ctx);

	{
		const char *ip = jstr(json_array_get(jget(o, "status.podIPs"), 0), "ip");
		json_t *gates = jget(o, "spec.readinessGates");

		if (!ip || !*ip)
			ip = jstr(o, "status.podIP");
		cell_str(cells, ip && *ip ? ip : "<none>");
		cell_str(cells, jstr(o, "spec.nodeName") && *jstr(o, "spec.nodeName") ? jstr(o, "spec.nodeName")
										       : "<none>");
		cell_str(cells, jstr(o, "status.nominatedNodeName") && *jstr(o, "status.nominatedNodeName")
					? jstr(o, "status.nominatedNodeName")
					: "<none>");
		if (json_is_array(gates) && json_array_size(gates) > 0) {
			char g[48];
			int64_t ok = 0;
			json_t *gate;

			json_array_foreach(gates, i, gate) {
				const char *t = jstr(gate, "conditionType");

				if (t && pod_condition_true(o, t))
					ok++;
			}
			snprintf(g, sizeof(g), "%" PRId64 "/%zu", ok, json_array_size(gates));
			cell_str(cells, g);
		} else {
			cell_str(cells, "<none>");
		}
	}
}

static const struct table_col service_cols[] = {
	COL_NAME,
	COL_S("Type", "type determines how the Service is exposed."),
	COL_S("Cluster-IP", "clusterIP is the IP address of the service and is usually assigned randomly."),
	COL_S("External-IP", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
	COL_S("Port(s)", "The list of ports that are exposed by this service."),
	COL_AGE,
	COL_S1("Selector", "Route service traffic to pods with label keys and values matching this selector."),
};

/* Join of the IPs/hostnames of status.loadBalancer.ingress, duplicates dropped. */
static void lb_ingress(struct buf *b, const json_t *ingress)
{
	size_t i, j;
	json_t *e;

	json_array_foreach(ingress, i, e) {
		const char *s = jstr(e, "ip");
		bool dup = false;

		if (!s || !*s)
			s = jstr(e, "hostname");
		if (!s || !*s)
			continue;
		for (j = 0; j < i && !dup; j++) {
			json_t *p = json_array_get(ingress, j);
			const char *ps = jstr(p, "ip");

			if (!ps || !*ps)
				ps = jstr(p, "hostname");
			dup = ps && !strcmp(ps, s);
		}
		if (!dup)
			buf_printf(b, "%s%s", b->len ? "," : "", s);
	}
}

static void join_strings(struct buf *b, const json_t *arr, const char *sep)
{
	size_t i, n = 0;
	json_t *v;

	json_array_foreach(arr, i, v) {
		if (json_is_string(v))
			buf_printf(b, "%s%s", n++ ? sep : "", json_string_value(v));
	}
}

static void row_service(const json_t *o, const struct row_ctx *ctx, json_t *cells, json_t *row)
{
	const char *type = jstr_or(o, "spec.type", "ClusterIP");
	const char *cip = json_string_value(json_array_get(jget(o, "spec.clusterIPs"), 0));
	json_t *ext = jget(o, "spec.externalIPs");
	bool has_ext = json_is_array(ext) && json_array_size(ext) > 0;
	struct buf b;
	size_t i;
	json_t *p;

	buf_init(&b, LIST_JOIN_MAX);
	cell_str(cells, type);
	if (!cip || !*cip)
		cip = jstr(o, "spec.clusterIP");
	cell_str(cells, cip && *cip ? cip : "<none>");

	if (!strcmp(type, "ClusterIP") || !strcmp(type, "NodePort")) {
		if (has_ext)
			join_strings(&b, ext, ",");
		else
			buf_puts(&b, "<none>");
	} else if (!strcmp(type, "LoadBalancer")) {
		lb_ingress(&b, jget(o, "status.loadBalancer.ingress"));
		if (has_ext) {
			if (b.len)
				buf_puts(&b, ",");
			join_strings(&b, ext, ",");
		} else if (b.len == 0) {
			buf_puts(&b, "<pending>");
		}
	} else if (!strcmp(type, "ExternalName")) {
		buf_puts(&b, jstr_or(o, "spec.externalName", ""));
	} else {
		buf_puts(&b, "<unknown>");
	}
	cell_buf(cells, &b);

	json_array_foreach(jget(o, "spec.ports"), i, p) {
		const char *proto = jstr_or(p, "protocol", "TCP");

		if (jint(p, "nodePort") > 0)
			buf_printf(&b, "%s%" PRId64 ":%" PRId64 "/%s", i ? "," : "", jint(p, "port"),
				   jint(p, "nodePort"), proto);
		else
			buf_printf(&b, "%s%" PRId64 "/%s", i ? "," : "", jint(p, "port"), proto);
	}
	if (b.len == 0)
		buf_puts(&b, "<none>");
	cell_buf(cells, &b);
	cell_age(cells, o, "metadata.creationTimestamp", ctx);
	format_labels(&b, jget(o, "spec.selector"));
	cell_buf(cells, &b);
	buf_free(&b);
}

static const struct table_col job_cols[] = {
	COL_NAME,
	COL_S("Status", "Status of the job."),
	COL_S("Completions", "The number of pods which reached phase Succeeded."),
	COL_S("Duration", "Time required to complete the job."),
	COL_AGE,
	COL_S1("Containers", DESC_CONTAINERS),
	COL_S1("Images", DESC_IMAGES),
	COL_S1("Selector", "A label query over pods that should match the pod count."),
};

static void row_job(const json_t *o, const struct row_ctx *ctx, json_t *cells, json_t *row)
{
	char comp[64], dur[16];
	const char *status;
	const char *start = jstr(o, "status.startTime");
	const char *end = jstr(o, "status.completionTime");
	int64_t succeeded = jint(o, "status.succeeded");
	int64_t start_us, end_us;

	if (pod_condition_true(o, "Complete"))
		status = "Complete";
	else if (pod_condition_true(o, "Failed"))
		status = "Failed";
	else if (jhas(o, "metadata.deletionTimestamp"))
		status = "Terminating";
	else if (pod_condition_true(o, "Suspended"))
		status = "Suspended";
	else if (pod_condition_true(o, "FailureTarget"))
		status = "FailureTarget";
	else
		status = "Running";
	cell_str(cells, status);

	if (jhas(o, "spec.completions"))
		snprintf(comp, sizeof(comp), "%" PRId64 "/%" PRId64, succeeded, jint(o, "spec.completions"));
	else if (jint(o, "spec.parallelism") > 1)
		snprintf(comp, sizeof(comp), "%" PRId64 "/1 of %" PRId64, succeeded, jint(o, "spec.parallelism"));
	else
		snprintf(comp, sizeof(comp), "%" PRId64 "/1", succeeded);
	cell_str(cells, comp);

	dur[0] = '\0';
	if (start && time_parse_rfc3339(start, &start_us) == 0) {
		if (!end || time_parse_rfc3339(end, &end_us) < 0)
			end_us = ctx->now_us;
		kapi_table_age((end_us - start_us) / US_PER_SEC, dur);
	}
	cell_str(cells, dur);
	cell_age(cells, o, "metadata.creationTimestamp", ctx);
	cells_containers(cells, jget(o, "spec.template.spec.containers"));
	cell_label_selector(cells, jget(o, "spec.selector"));
}

static const struct table_col cronjob_cols[] = {
	COL_NAME,
	COL_S("Schedule", "The schedule in Cron format."),
	COL_S("Timezone", "The time zone name for the given schedule."),
	{ "Suspend", "boolean", "", 0, "This flag tells the controller to suspend subsequent executions." },
	COL_I("Active", "A list of pointers to currently running jobs."),
	COL_S("Last Schedule", "Information when was the last time the job was successfully scheduled."),
	COL_AGE,
	COL_S1("Containers", DESC_CONTAINERS),
	COL_S1("Images", DESC_IMAGES),
	COL_S1("Selector", "A label query over pods that should match the pod count."),
};

static void row_cronjob(const json_t *o, const struct row_ctx *ctx, json_t *cells, json_t *row)
{
	json_t *suspend = jget(o, "spec.suspend");
	char age[16];

	cell_str(cells, jstr_or(o, "spec.schedule", ""));
	cell_str(cells, jstr_or(o, "spec.timeZone", "<none>"));
	if (json_is_boolean(suspend))
		json_array_append_new(cells, json_boolean(json_is_true(suspend)));
	else
		cell_str(cells, "<unset>");
	cell_int(cells, (int64_t)jsize(o, "status.active"));
	cell_str(cells, jstr(o, "status.lastScheduleTime")
				? age_of(jstr(o, "status.lastScheduleTime"), ctx->now_us, age)
				: "<none>");
	cell_age(cells, o, "metadata.creationTimestamp", ctx);
	cells_containers(cells, jget(o, "spec.jobTemplate.spec.template.spec.containers"));
	cell_label_selector(cells, jget(o, "spec.jobTemplate.spec.selector"));
}

static const struct table_col namespace_cols[] = {
	COL_NAME,
	COL_S("Status", "The status of the namespace"),
	COL_AGE,
};

static void row_namespace(const json_t *o, const struct row_ctx *ctx, json_t *cells, json_t *row)
{
	const char *phase = jstr(o, "status.phase");

	/* The server always sets status.phase; a missing one reads as what it would be. */
	if (!phase)
		phase = jhas(o, "metadata.deletionTimestamp") ? "Terminating" : "Active";
	cell_str(cells, phase);
	cell_age(cells, o, "metadata.creationTimestamp", ctx);
}

static const struct table_col configmap_cols[] = {
	COL_NAME,
	COL_S("Data", "Data contains the configuration data."),
	COL_AGE,
};

static void row_configmap(const json_t *o, const struct row_ctx *ctx, json_t *cells, json_t *row)
{
	cell_int(cells, (int64_t)(jsize(o, "data") + jsize(o, "binaryData")));
	cell_age(cells, o, "metadata.creationTimestamp", ctx);
}

static const struct table_col secret_cols[] = {
	COL_NAME,
	COL_S("Type", "Used to facilitate programmatic handling of secret data."),
	COL_S("Data", "Data contains the secret data."),
	COL_AGE,
};

static void row_secret(const json_t *o, const struct row_ctx *ctx, json_t *cells, json_t *row)
{
	cell_str(cells, jstr_or(o, "type", "Opaque"));
	cell_int(cells, (int64_t)jsize(o, "data"));
	cell_age(cells, o, "metadata.creationTimestamp", ctx);
}

static const struct table_col serviceaccount_cols[] = {
	COL_NAME,
	COL_S("Secrets", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."),
	COL_AGE,
};

static void row_serviceaccount(const json_t *o, const struct row_ctx *ctx, json_t *cells, json_t *row)
{
	cell_int(cells, (int64_t)jsize(o, "secrets"));
	cell_age(cells, o, "metadata.creationTimestamp", ctx);
}

static const struct table_col node_cols[] = {
	COL_NAME,
	COL_S("Status", "The status of the node"),
	COL_S("Roles", "The roles of the node"),
	COL_AGE,
	COL_S("Version", "Kubelet Version reported by the node."),
	COL_S1("Internal-IP", "List of addresses reachable to the node."),
	COL_S1("External-IP", "List of addresses reachable to the node."),
	COL_S1("OS-Image", "OS Image reported by the node from /etc/os-release."),
	COL_S1("Kernel-Version", "Kernel Version reported by the node from 'uname -r'."),
	COL_S1("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API."),
};

static const char *node_address(const json_t *o, const char *type)
{
	size_t i;
	json_t *a;

	json_array_foreach(jget(o, "status.addresses"), i, a) {
		if (!strcmp(jstr_or(a, "type", ""), type))
			return jstr_or(a, "address", "<none>");
	}
	return "<none>";
}

static void row_node(const json_t *o, const struct row_ctx *ctx, json_t *cells, json_t *row)
{
	struct buf b;
	json_t *labels = jget(o, "metadata.labels");
	const char *ready = NULL;
	size_t i, n = 0;
	json_t *c;

	buf_init(&b, LIST_JOIN_MAX);
	json_array_foreach(jget(o, "status.conditions"), i, c) {
		if (!strcmp(jstr_or(c, "type", ""), "Ready"))
			ready = jstr_or(c, "status", "");
	}
	buf_puts(&b, !ready ? "Unknown" : !strcmp(ready, "True") ? "Ready" : "NotReady");
	if (json_is_true(jget(o, "spec.unschedulable")))
		buf_puts(&b, ",SchedulingDisabled");
	cell_buf(cells, &b);

	/* Roles from node-role.kubernetes.io/<role> and kubernetes.io/role=<role>, sorted. */
	if (json_is_object(labels)) {
		const char **keys = sorted_keys(labels, &n);
		size_t nroles = 0;

		for (i = 0; i < n; i++) {
			const char *role = NULL;
			const char *v = json_string_value(json_object_get(labels, keys[i]));

			if (!strncmp(keys[i], "node-role.kubernetes.io/", 24) && keys[i][24])
				role = keys[i] + 24;
			else if (!strcmp(keys[i], "kubernetes.io/role") && v && *v)
				role = v;
			if (role)
				buf_printf(&b, "%s%s", nroles++ ? "," : "", role);
		}
		free(keys);
	}
	if (b.len == 0)
		buf_puts(&b, "<none>");
	cell_buf(cells, &b);
	cell_age(cells, o, "metadata.creationTimestamp", ctx);
	cell_str(cells, jstr_or(o, "status.nodeInfo.kubeletVersion", ""));
	cell_str(cells, node_address(o, "InternalIP"));
	cell_str(cells, node_address(o, "ExternalIP"));
	cell_str(cells, jstr(o, "status.nodeInfo.osImage") && *jstr(o, "status.nodeInfo.osImage")
				? jstr(o, "status.nodeInfo.osImage") : "<unknown>");
	cell_str(cells, jstr(o, "status.nodeInfo.kernelVersion") && *jstr(o, "status.nodeInfo.kernelVersion")
				? jstr(o, "status.nodeInfo.kernelVersion") : "<unknown>");
	cell_str(cells, jstr(o, "status.nodeInfo.containerRuntimeVersion") &&
					*jstr(o, "status.nodeInfo.containerRuntimeVersion")
				? jstr(o, "status.nodeInfo.containerRuntimeVersion") : "<unknown>");
	buf_free(&b);
}

static const struct table_col lease_cols[] = {
	COL_NAME,
	COL_S("Holder", "holderIdentity contains the identity of the holder of a current lease."),
	COL_AGE,
};

static void row_lease(const json_t *o, const struct row_ctx *ctx, json_t *cells, json_t *row)
{
	cell_str(cells, jstr_or(o, "spec.holderIdentity", ""));
	cell_age(cells, o, "metadata.creationTimestamp", ctx);
}

/* The Event table has no name column first; its Name is the last, wide-only column. */
static const struct table_col event_cols[] = {
	COL_S("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
	COL_S("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
	COL_S("Reason", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
	COL_S("Object", "The object that this event is about."),
	COL_S1("Subobject", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement."),
	COL_S1("Source", "The component reporting this event."),
	COL_S("Message", "A human-readable description of the status of this operation."),
	COL_S1("First Seen", "The time at which the event was first recorded."),
	COL_S1("Count", "The number of times this event has occurred."),
	{ "Name", "string", "name", 1, DESC_NAME },
};

static void row_event(const json_t *o, const struct row_ctx *ctx, json_t *cells, json_t *row)
{
	char first[16], last[16];
	const char *kind = jstr_or(o, "involvedObject.kind", "");
	const char *name = jstr_or(o, "involvedObject.name", "");
	const char *comp = jstr(o, "source.component"), *host = jstr(o, "source.host");
	int64_t count = jint(o, "count");
	const char *msg = jstr_or(o, "message", "");
	size_t mlen;
	struct buf b;

	if (jstr(o, "firstTimestamp"))
		age_of(jstr(o, "firstTimestamp"), ctx->now_us, first);
	else
		age_of(jstr(o, "eventTime"), ctx->now_us, first);
	if (jstr(o, "lastTimestamp"))
		age_of(jstr(o, "lastTimestamp"), ctx->now_us, last);
	else
		snprintf(last, sizeof(last), "%s", first);
	if (jhas(o, "series")) {
		age_of(jstr(o, "series.lastObservedTime"), ctx->now_us, last);
		count = jint(o, "series.count");
	} else if (count == 0) {
		count = 1;
	}

	buf_init(&b, LIST_JOIN_MAX);
	cell_str(cells, last);
	cell_str(cells, jstr_or(o, "type", ""));
	cell_str(cells, jstr_or(o, "reason", ""));
	for (const char *p = kind; *p; p++) {
		char ch = (char)tolower((unsigned char)*p);

		buf_append(&b, &ch, 1);
	}
	if (*name)
		buf_printf(&b, "/%s", name);
	cell_buf(cells, &b);
	cell_str(cells, jstr_or(o, "involvedObject.fieldPath", ""));
	if (!comp || !*comp)
		comp = jstr_or(o, "reportingController", "");
	if (!host || !*host)
		host = jstr_or(o, "reportingInstance", "");
	if (*host)
		buf_printf(&b, "%s, %s", comp, host);
	else
		buf_puts(&b, comp);
	cell_buf(cells, &b);
	while (isspace((unsigned char)*msg))
		msg++;
	mlen = strlen(msg);
	while (mlen && isspace((unsigned char)msg[mlen - 1]))
		mlen--;
	buf_append(&b, msg, mlen);
	cell_buf(cells, &b);
	cell_str(cells, first);
	cell_int(cells, count);
	cell_str(cells, jstr_or(o, "metadata.name", ""));
	buf_free(&b);
}

static const struct table_col pvc_cols[] = {
	COL_NAME,
	COL_S("Status", "phase represents the current phase of PersistentVolumeClaim."),
	COL_S("Volume", "volumeName is the binding reference to the PersistentVolume backing this claim."),
	COL_S("Capacity", "capacity represents the actual resources of the underlying volume."),
	COL_S("Access Modes", "accessModes contains the actual access modes the volume backing the PVC has."),
	COL_S("StorageClass", "StorageClass of the pvc"),
	COL_S("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
	COL_AGE,
	COL_S1("VolumeMode", "volumeMode defines what type of volume is required by the claim."),
};

static void access_modes(struct buf *b, const json_t *modes)
{
	static const char *const names[][2] = {
		{ "ReadWriteOnce", "RWO" },
		{ "ReadOnlyMany", "ROX" },
		{ "ReadWriteMany", "RWX" },
		{ "ReadWriteOncePod", "RWOP" },
	};
	size_t n = 0;

	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		size_t i;
		json_t *m;

		json_array_foreach(modes, i, m) {
			if (json_is_string(m) && !strcmp(json_string_value(m), names[k][0])) {
				buf_printf(b, "%s%s", n++ ? "," : "", names[k][1]);
				break;
			}
		}
	}
}

static void row_pvc(const json_t *o, const struct row_ctx *ctx, json_t *cells, json_t *row)
{
	const char *volume = jstr_or(o, "spec.volumeName", "");
	const char *sc = jstr(o, "spec.storageClassName"), *beta;
	struct buf b;
	json_t *cap;

	buf_init(&b, LIST_JOIN_MAX);
	cell_str(cells, jhas(o, "metadata.deletionTimestamp") ? "Terminating" : jstr_or(o, "status.phase", ""));
	cell_str(cells, volume);
	if (*volume) {
		cap = jget(o, "status.capacity.storage");
		if (json_is_string(cap))
			buf_puts(&b, json_string_value(cap));
		else if (json_is_integer(cap))
			buf_printf(&b, "%" JSON_INTEGER_FORMAT, json_integer_value(cap));
	}
	cell_buf(cells, &b);
	if (*volume)
		access_modes(&b, jget(o, "status.accessModes"));
	cell_buf(cells, &b);
	/* The beta annotation wins over spec.storageClassName, as in the server. */
	beta = json_string_value(json_object_get(jget(o, "metadata.annotations"),
						 "volume.beta.kubernetes.io/storage-class"));
	if (beta)
		sc = beta;
	else if (!sc)
		sc = "";
	cell_str(cells, sc);
	cell_str(cells, jstr_or(o, "spec.volumeAttributesClassName", "<unset>"));
	cell_age(cells, o, "metadata.creationTimestamp", ctx);
	cell_str(cells, jstr_or(o, "spec.volumeMode", "<unset>"));
	buf_free(&b);
}

static const struct table_col ingress_cols[] = {
	COL_NAME,
	COL_S("Class", "The name of the IngressClass resource that should be used for additional configuration"),
	COL_S("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
	COL_S("Address", "Address is a list containing ingress points for the load-balancer"),
	COL_S("Ports", "Ports of TLS configurations that open"),
	COL_AGE,
};

static void row_ingress(const json_t *o, const struct row_ctx *ctx, json_t *cells, json_t *row)
{
	json_t *rules = jget(o, "spec.rules");
	size_t nrules = json_is_array(rules) ? json_array_size(rules) : 0;
	size_t nhosts = 0, i;
	bool more = false;
	struct buf b;
	json_t *r;

	buf_init(&b, LIST_JOIN_MAX);
	cell_str(cells, jstr_or(o, "spec.ingressClassName", "<none>"));
	json_array_foreach(rules, i, r) {
		const char *h = jstr(r, "host");

		if (nhosts == 3)
			more = true;
		if (!more && h && *h)
			buf_printf(&b, "%s%s", nhosts++ ? "," : "", h);
	}
	if (nhosts == 0)
		buf_puts(&b, "*");
	else if (more)
		buf_printf(&b, " + %zu more...", nrules - 3);
	cell_buf(cells, &b);
	lb_ingress(&b, jget(o, "status.loadBalancer.ingress"));
	cell_buf(cells, &b);
	cell_str(cells, jsize(o, "spec.tls") ? "80, 443" : "80");
	cell_age(cells, o, "metadata.creationTimestamp", ctx);
	buf_free(&b);
}

static const struct table_col binding_cols[] = {
	COL_NAME,
	COL_S("Role", "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace."),
	COL_AGE,
	COL_S1("Users", "Users in the binding"),
	COL_S1("Groups", "Groups in the binding"),
	COL_S1("ServiceAccounts", "ServiceAccounts in the binding"),
};

static void row_binding(const json_t *o, const struct row_ctx *ctx, json_t *cells, json_t *row)
{
	static const char *const kinds[] = { "User", "Group", "ServiceAccount" };
	struct buf b;

	buf_init(&b, LIST_JOIN_MAX);
	buf_printf(&b, "%s/%s", jstr_or(o, "roleRef.kind", ""), jstr_or(o, "roleRef.name", ""));
	cell_buf(cells, &b);
	cell_age(cells, o, "metadata.creationTimestamp", ctx);
	for (size_t k = 0; k < 3; k++) {
		size_t i, n = 0;
		json_t *s;

		json_array_foreach(jget(o, "subjects"), i, s) {
			if (strcmp(jstr_or(s, "kind", ""), kinds[k]))
				continue;
			if (k == 2)
				buf_printf(&b, "%s%s/%s", n++ ? ", " : "", jstr_or(s, "namespace", ""),
					   jstr_or(s, "name", ""));
			else
				buf_printf(&b, "%s%s", n++ ? ", " : "", jstr_or(s, "name", ""));
		}
		cell_buf(cells, &b);
	}
	buf_free(&b);
}

/* The API server's default convertor: NAME, CREATED AT. */
static const struct table_col default_cols[] = {
	COL_NAME,
	{ "Created At", "date", "", 0, DESC_AGE },
};

static void row_default(const json_t *o, const struct row_ctx *ctx, json_t *cells, json_t *row)
{
	char ts[TIMEFMT_MAX];
	const char *c = jstr(o, "metadata.creationTimestamp");
	int64_t us;

	if (c && time_parse_rfc3339(c, &us) == 0)
		cell_str(cells, time_format_rfc3339(us, ts));
	else
		cell_str(cells, "0001-01-01T00:00:00Z");
}

#define KIND(g, k, cols, fn) { g, k, cols, sizeof(cols) / sizeof(cols[0]), fn }

static const struct table_kind table_kinds[] = {
	KIND("apps", "Deployment", deployment_cols, row_deployment),
	KIND("apps", "ReplicaSet", replicaset_cols, row_replicaset),
	KIND("apps", "StatefulSet", statefulset_cols, row_statefulset),
	KIND("apps", "DaemonSet", daemonset_cols, row_daemonset),
	KIND("", "Pod", pod_cols, row_pod),
	KIND("", "Service", service_cols, row_service),
	KIND("", "Namespace", namespace_cols, row_namespace),
	KIND("", "ConfigMap", configmap_cols, row_configmap),
	KIND("", "Secret", secret_cols, row_secret),
	KIND("", "ServiceAccount", serviceaccount_cols, row_serviceaccount),
	KIND("", "Node", node_cols, row_node),
	KIND("", "Event", event_cols, row_event),
	KIND("", "PersistentVolumeClaim", pvc_cols, row_pvc),
	KIND("batch", "Job", job_cols, row_job),
	KIND("batch", "CronJob", cronjob_cols, row_cronjob),
	KIND("coordination.k8s.io", "Lease", lease_cols, row_lease),
	KIND("networking.k8s.io", "Ingress", ingress_cols, row_ingress),
	KIND("rbac.authorization.k8s.io", "RoleBinding", binding_cols, row_binding),
	KIND("rbac.authorization.k8s.io", "ClusterRoleBinding", binding_cols, row_binding),
};

/* Groups served by the API server itself (not by CRDs): unknown kinds in them
 * get the default convertor. */
static bool builtin_group(const char *group)
{
	static const char *const groups[] = {
		"", "apps", "batch", "autoscaling", "policy", "coordination.k8s.io", "networking.k8s.io",
		"rbac.authorization.k8s.io", "apiextensions.k8s.io", "storage.k8s.io", "events.k8s.io",
		"discovery.k8s.io", "scheduling.k8s.io", "node.k8s.io", "certificates.k8s.io",
		"admissionregistration.k8s.io", "apiregistration.k8s.io", "authentication.k8s.io",
		"authorization.k8s.io", "flowcontrol.apiserver.k8s.io", "resource.k8s.io",
	};

	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		if (!strcmp(group, groups[i]))
			return true;
	}
	return false;
}

static const struct table_kind *find_kind(const char *group, const char *kind)
{
	for (size_t i = 0; i < sizeof(table_kinds) / sizeof(table_kinds[0]); i++) {
		if (!strcmp(table_kinds[i].group, group) && !strcmp(table_kinds[i].kind, kind))
			return &table_kinds[i];
	}
	return NULL;
}

static json_t *column_json(const char *name, const char *type, const char *format, const char *description,
			   json_int_t priority)
{
	json_t *c = json_object();

	json_object_set_new(c, "name", json_string(name));
	json_object_set_new(c, "type", json_string(type));
	json_object_set_new(c, "format", json_string(format));
	json_object_set_new(c, "description", json_string(description));
	json_object_set_new(c, "priority", json_integer(priority));
	return c;
}

/* --- custom resources ------------------------------------------------------- */

struct cr_col {
	const char *type;      /* borrowed from printer_columns */
	struct jsonpath *path; /* owned; NULL when the path did not compile */
};

/* A printed JSON value for a "string" column: strings as they are, other
 * scalars as text, objects and arrays as compact JSON. */
static json_t *string_cell(const json_t *v)
{
	char num[64];

	if (json_is_string(v))
		return json_copy((json_t *)v);
	if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return json_string(num);
	}
	if (json_is_real(v)) {
		snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		return json_string(num);
	}
	if (json_is_boolean(v))
		return json_string(json_is_true(v) ? "true" : "false");
	if (json_is_null(v))
		return json_string("<nil>");
	{
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		json_t *r = json_string(s ? s : "");

		free(s);
		return r;
	}
}

/* A cell of a typed (non-string) printer column, or JSON null. */
static json_t *typed_cell(const char *type, const json_t *v, int64_t now_us)
{
	char age[16];

	if (!strcmp(type, "integer")) {
		if (json_is_integer(v))
			return json_integer(json_integer_value(v));
		if (json_is_real(v))
			return json_integer((json_int_t)json_real_value(v));
	} else if (!strcmp(type, "number")) {
		if (json_is_number(v))
			return json_real(json_number_value(v));
	} else if (!strcmp(type, "boolean")) {
		if (json_is_boolean(v))
			return json_boolean(json_is_true(v));
	} else if (!strcmp(type, "date")) {
		if (json_is_string(v))
			return json_string(age_of(json_string_value(v), now_us, age));
	}
	return json_null();
}

static void row_custom(const json_t *o, const struct cr_col *cols, size_t ncols, int64_t now_us, json_t *cells)
{
	for (size_t i = 0; i < ncols; i++) {
		json_t *vals = NULL, *cell = NULL;

		if (cols[i].path && jsonpath_eval(cols[i].path, o, &vals) == 0 && json_array_size(vals) > 0) {
			json_t *v = json_array_get(vals, 0);

			cell = !strcmp(cols[i].type, "string") ? string_cell(v) : typed_cell(cols[i].type, v, now_us);
		}
		json_array_append_new(cells, cell ? cell : json_null());
		json_decref(vals);
	}
}

/* --- the table ----------------------------------------------------------------- */

static json_t *row_object(const json_t *item, enum kapi_table_include include)
{
	json_t *meta;

	switch (include) {
	case KAPI_TABLE_INCLUDE_NONE:
		return NULL;
	case KAPI_TABLE_INCLUDE_OBJECT:
		return json_deep_copy(item);
	case KAPI_TABLE_INCLUDE_METADATA:
	default:
		meta = json_object_get(item, "metadata");
		return json_pack("{s:s, s:s, s:o}", "kind", "PartialObjectMetadata", "apiVersion", "meta.k8s.io/v1",
				 "metadata", json_is_object(meta) ? json_deep_copy(meta) : json_object());
	}
}

json_t *kapi_table_build(const char *group, const char *kind, const json_t *items,
			 const json_t *printer_columns, const char *resource_version,
			 const char *continue_token, enum kapi_table_include include,
			 int64_t now_us)
{
	const struct table_kind *tk = find_kind(group ? group : "", kind ? kind : "");
	struct row_ctx ctx = { .now_us = now_us };
	json_t *table = json_object(), *meta = json_object(), *defs = json_array(), *rows = json_array();
	struct cr_col *cr = NULL;
	size_t ncr = 0, i;
	bool custom = false;
	json_t *item;

	if (!tk && !builtin_group(group ? group : "")) {
		custom = true;
	} else if (!tk) {
		static const struct table_kind dflt = KIND("", "", default_cols, row_default);

		tk = &dflt;
	}

	if (resource_version)
		json_object_set_new(meta, "resourceVersion", json_string(resource_version));
	if (continue_token && *continue_token)
		json_object_set_new(meta, "continue", json_string(continue_token));
	json_object_set_new(table, "kind", json_string("Table"));
	json_object_set_new(table, "apiVersion", json_string("meta.k8s.io/v1"));
	json_object_set_new(table, "metadata", meta);

	if (custom) {
		size_t n = json_is_array(printer_columns) ? json_array_size(printer_columns) : 0;

		if (n > KAPI_TABLE_MAX_PRINTER_COLUMNS)
			n = KAPI_TABLE_MAX_PRINTER_COLUMNS;
		cr = xcalloc(n + 1, sizeof(*cr));
		json_array_append_new(defs, column_json("Name", "string", "name", DESC_NAME, 0));
		if (n == 0) {
			/* What the CRD handler uses when a version declares no columns. */
			struct errbuf err;

			json_array_append_new(defs, column_json("Age", "date", "", DESC_AGE, 0));
			cr[0].type = "date";
			if (jsonpath_compile(".metadata.creationTimestamp", &err, &cr[0].path) < 0)
				cr[0].path = NULL;
			ncr = 1;
		}
		for (i = 0; i < n; i++) {
			json_t *pc = json_array_get(printer_columns, i);
			const char *name = jstr_or(pc, "name", "");
			const char *type = jstr_or(pc, "type", "string");
			const char *path = jstr(pc, "jsonPath");
			const char *desc = jstr(pc, "description");
			char *dflt_desc = NULL;
			struct errbuf err;

			if (!path)
				path = jstr(pc, "JSONPath");
			if (!path)
				path = "";
			if (!desc || !*desc)
				desc = dflt_desc = xasprintf("Custom resource definition column (in JSONPath format): %s", path);
			json_array_append_new(defs, column_json(name, type, jstr_or(pc, "format", ""), desc,
								jint(pc, "priority")));
			free(dflt_desc);
			cr[ncr].type = type;
			if (jsonpath_compile(path, &err, &cr[ncr].path) < 0)
				cr[ncr].path = NULL;
			ncr++;
		}
	} else {
		for (i = 0; i < tk->ncols; i++) {
			const struct table_col *c = &tk->cols[i];

			json_array_append_new(defs, column_json(c->name, c->type, c->format, c->description, c->priority));
		}
	}
	json_object_set_new(table, "columnDefinitions", defs);

	json_array_foreach(items, i, item) {
		json_t *row, *cells, *obj;

		if (!json_is_object(item))
			continue;
		row = json_object();
		cells = json_array();
		if (custom) {
			cell_str(cells, jstr_or(item, "metadata.name", ""));
			row_custom(item, cr, ncr, now_us, cells);
		} else {
			/* Every kind but Event starts with its name. */
			if (tk->cols[0].format[0])
				cell_str(cells, jstr_or(item, "metadata.name", ""));
			tk->row(item, &ctx, cells, row);
		}
		json_object_set_new(row, "cells", cells);
		obj = row_object(item, include);
		if (obj)
			json_object_set_new(row, "object", obj);
		json_array_append_new(rows, row);
	}
	json_object_set_new(table, "rows", rows);

	for (i = 0; i < ncr; i++)
		jsonpath_free(cr[i].path);
	free(cr);
	return table;
}

/* --- content negotiation -------------------------------------------------- */

static void trim(const char **s, const char **e)
{
	while (*s < *e && isspace((unsigned char)**s))
		(*s)++;
	while (*e > *s && isspace((unsigned char)(*e)[-1]))
		(*e)--;
}

/* Whether [s,e) equals lit (case-sensitively unless icase). */
static bool span_eq(const char *s, const char *e, const char *lit, bool icase)
{
	size_t n = strlen(lit);

	if ((size_t)(e - s) != n)
		return false;
	return icase ? strncasecmp(s, lit, n) == 0 : strncmp(s, lit, n) == 0;
}

/* Classify one media range: 1 a v1 Table in JSON, 0 something we serve as
 * plain JSON, -1 something we cannot serve (skip it). */
static int media_range(const char *s, const char *e)
{
	const char *semi = memchr(s, ';', (size_t)(e - s));
	const char *te = semi ? semi : e, *ts = s;
	bool as_table = false, as_other = false, g_meta = false, v1 = false;

	trim(&ts, &te);
	if (!span_eq(ts, te, "application/json", true) && !span_eq(ts, te, "application/*", true) &&
	    !span_eq(ts, te, "*/*", true))
		return -1;
	while (semi) {
		const char *ps = semi + 1, *pe, *eq;

		semi = memchr(ps, ';', (size_t)(e - ps));
		pe = semi ? semi : e;
		eq = memchr(ps, '=', (size_t)(pe - ps));
		if (!eq)
			continue;
		{
			const char *ks = ps, *ke = eq, *vs = eq + 1, *ve = pe;

			trim(&ks, &ke);
			trim(&vs, &ve);
			if (span_eq(ks, ke, "as", false)) {
				if (span_eq(vs, ve, "Table", false))
					as_table = true;
				else
					as_other = true;
			} else if (span_eq(ks, ke, "g", false)) {
				g_meta = span_eq(vs, ve, "meta.k8s.io", false);
			} else if (span_eq(ks, ke, "v", false)) {
				v1 = span_eq(vs, ve, "v1", false);
			}
		}
	}
	if (as_table)
		return g_meta && v1 ? 1 : -1;
	if (as_other)
		return -1;
	return 0;
}

int kapi_table_wanted(const char *accept)
{
	const char *p = accept;

	if (!accept)
		return 0;
	/* The first media range we can serve decides, as the server's negotiation does. */
	while (*p) {
		const char *comma = strchr(p, ',');
		const char *e = comma ? comma : p + strlen(p);
		int r = media_range(p, e);

		if (r >= 0)
			return r;
		p = comma ? comma + 1 : e;
	}
	return 0;
}
