/* test_engine.c - the klusterlet's work engine against nave-kubesim.
 *
 * The engine is driven in-process with hand-made spec events (encoded and
 * decoded through proto/ first, as the wire would) and its effects are checked
 * with a kclient on the same emulated cluster: objects, owner references, the
 * AppliedManifestWork, status reports. One kubesim for the whole suite; every
 * test uses its own hub hash and agent id (so engines of different tests never
 * see each other's records) and its own namespaces. Skips (exit 77) when
 * $NAVE_KUBESIM is not set.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "engine.h"
#include "engine_int.h"
#include "kclient_ops.h"
#include "kobj.h"
#include "ktest.h"
#include "log.h"
#include "proto.h"
#include "simproc.h"
#include "yaml.h"

#define WAIT_MS 20000

struct group {
	uv_loop_t loop;
	struct simproc sim;
	struct kclient *kc;
	struct ktest_res res;
	unsigned seq;
};

static struct group *G;

/* One engine under test and what it reported. */
struct fx {
	struct work_engine *e;
	char hub_hash[65];
	char agent_id[64];
	json_t *last;     /* resourceid -> {gen, status, deleted, resync} of the newest report */
	size_t nreports;
	size_t nresync;
	bool ready;
};

/* ---------------------------------------------------------------------- */
/* helpers                                                                 */
/* ---------------------------------------------------------------------- */

static json_t *JT(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);

	if (!v)
		fail_msg("bad JSON in test (%s): %s", e.text, text);
	return v;
}

/* JSON text with ' for " (readability). */
static json_t *JQ(const char *fmt, ...)
{
	char buf[16384], *p;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (p = buf; *p; p++)
		if (*p == '\'')
			*p = '"';
	return JT(buf);
}

static struct ktest_res *wait_res(int start_r)
{
	assert_int_equal(start_r, 0);
	if (!ktest_run_until(&G->loop, &G->res.done, 15000)) {
		simproc_dump_log(&G->sim);
		fail_msg("no answer within 15 s");
	}
	return &G->res;
}

#define RES (ktest_res_reset(&G->res), &G->res)

static void make_uuid(char *out)
{
	unsigned n = ++G->seq;

	snprintf(out, 37, "%08x-0000-4000-8000-%012x", n, n * 7919u);
}

static void on_status(void *ud, const struct work_status_report *rep)
{
	struct fx *f = ud;
	json_t *v = json_pack("{s:I, s:O, s:b, s:b, s:s}", "gen", (json_int_t)rep->generation, "status",
			      rep->status, "deleted", rep->deleted, "resync", rep->resync, "hash", rep->statushash);
	struct errbuf err;
	char hash[65];

	/* every report must be valid on the wire and carry its real hash */
	if (proto_status_check(rep->status, NULL, &err) < 0)
		fail_msg("invalid status for %s: %s", rep->resourceid, err.msg);
	proto_status_hash(rep->status, hash);
	assert_string_equal(hash, rep->statushash);
	json_object_set_new(f->last, rep->resourceid, v);
	f->nreports++;
	if (rep->resync)
		f->nresync++;
}

static void on_ready(void *ud, int r)
{
	struct fx *f = ud;

	assert_int_equal(r, 0);
	f->ready = true;
}

/* A new engine; hub/agent from the test's name unless given (restart). */
static void fx_start(struct fx *f, const char *label, const char *hub_hash, uint64_t grace_ms)
{
	struct work_engine_config cfg = {
		.cluster_name = "cluster-1",
		.recheck_ms = 300,
		.status_debounce_ms = 30,
		.eviction_grace_ms = grace_ms ? grace_ms : 3600000,
	};
	struct errbuf err;

	memset(f, 0, sizeof(*f));
	if (hub_hash)
		snprintf(f->hub_hash, sizeof(f->hub_hash), "%s", hub_hash);
	else
		sha256_hex(label, strlen(label), f->hub_hash);
	snprintf(f->agent_id, sizeof(f->agent_id), "agent-%s", label);
	cfg.hub_hash = f->hub_hash;
	cfg.agent_id = f->agent_id;
	f->last = json_object();
	if (work_engine_new(G->kc, &cfg, on_status, f, &err, &f->e) < 0)
		fail_msg("work_engine_new: %s", err.msg);
	assert_int_equal(work_engine_start(f->e, on_ready, f), 0);
	assert_int_equal(work_engine_start(f->e, on_ready, f), -EALREADY);
	if (!ktest_run_until(&G->loop, &f->ready, WAIT_MS)) {
		simproc_dump_log(&G->sim);
		fail_msg("engine not ready");
	}
	assert_true(work_engine_ready(f->e));
}

static void fx_stop(struct fx *f)
{
	f->e = work_engine_free(f->e);
	ktest_drain(&G->loop);
	json_decref(f->last);
	f->last = NULL;
}

/* Run the loop until pred(ctx) or the deadline. */
static bool run_until(bool (*pred)(void *ctx), void *ctx, int ms)
{
	int64_t deadline = time_mono_us() + (int64_t)ms * 1000;

	while (time_mono_us() < deadline) {
		if (pred(ctx))
			return true;
		ktest_run_for(&G->loop, 20);
	}
	return pred(ctx);
}

/* A spec event as it arrives from the wire (encoded and decoded). */
static struct proto_event *spec_event(enum proto_event_kind kind, const char *id, int64_t gen, const char *name,
				      json_t *bundle)
{
	struct proto_event *ev = proto_event_new_spec(kind, "nave-hub", "cluster-1", id, gen, bundle), *dec = NULL;
	struct errbuf err;
	char *text = NULL;
	size_t len;

	ev->metadata = json_pack("{s:s, s:s, s:s, s:I}", "name", name, "namespace", "cluster-1", "uid", id,
				 "generation", (json_int_t)gen);
	if (proto_event_encode(ev, &err, &text, &len) < 0)
		fail_msg("encode: %s", err.msg);
	if (proto_event_decode(text, len, NULL, &err, &dec) < 0)
		fail_msg("decode: %s", err.msg);
	free(text);
	proto_event_free(ev);
	return dec;
}

/* Hand a spec event to the engine; bundle is stolen. */
static int send_spec(struct fx *f, enum proto_event_kind kind, const char *id, int64_t gen, const char *name,
		     json_t *bundle)
{
	struct proto_event *ev = spec_event(kind, id, gen, name, bundle);
	struct errbuf err = {{0}};
	int r = work_engine_handle_spec(f->e, ev, &err);

	proto_event_free(ev);
	json_decref(bundle);
	return r;
}

static void apply_work(struct fx *f, const char *id, int64_t gen, const char *name, json_t *bundle)
{
	assert_int_equal(send_spec(f, gen == 1 ? PROTO_EV_SPEC_CREATE : PROTO_EV_SPEC_UPDATE, id, gen, name,
				   bundle), 0);
}

static void delete_work(struct fx *f, const char *id, int64_t gen)
{
	struct proto_event *ev = proto_event_new_spec_delete(PROTO_EV_SPEC_DELETE, "nave-hub", "cluster-1", id, gen,
							     time_now_us());
	struct errbuf err;

	assert_int_equal(work_engine_handle_spec(f->e, ev, &err), 0);
	proto_event_free(ev);
}

static json_t *bundle_of(json_t *manifests, const char *extra_json)
{
	json_t *b = extra_json ? JQ("%s", extra_json) : json_object();

	json_object_set_new(b, "manifests", manifests);
	return b;
}

static const json_t *cond_of(const json_t *conds, const char *type)
{
	json_t *c;
	size_t i;

	json_array_foreach(conds, i, c) {
		if (!strcmp(json_string_value(json_object_get(c, "type")), type))
			return c;
	}
	return NULL;
}

static const char *cond_status(const json_t *conds, const char *type)
{
	const json_t *c = cond_of(conds, type);

	return c ? json_string_value(json_object_get(c, "status")) : NULL;
}

static json_t *last_report(struct fx *f, const char *id)
{
	return json_object_get(f->last, id);
}

static json_t *last_status(struct fx *f, const char *id)
{
	return json_object_get(last_report(f, id), "status");
}

static json_t *manifest_status(struct fx *f, const char *id, size_t ordinal)
{
	json_t *ms = json_object_get(json_object_get(last_status(f, id), "resourceStatus"), "manifests"), *m;
	size_t i;

	json_array_foreach(ms, i, m) {
		if ((size_t)json_integer_value(json_object_get(json_object_get(m, "resourceMeta"), "ordinal")) ==
		    ordinal)
			return m;
	}
	return NULL;
}

struct applied_ctx {
	struct fx *f;
	const char *id;
	int64_t gen;
	const char *want; /* "True" or "False" for the work's Applied */
};

static bool applied_pred(void *p)
{
	struct applied_ctx *c = p;
	json_t *rep = last_report(c->f, c->id);
	json_t *conds = json_object_get(json_object_get(rep, "status"), "conditions");
	const json_t *a = cond_of(conds, "Applied");

	return rep && json_integer_value(json_object_get(rep, "gen")) == c->gen && a &&
	       !strcmp(json_string_value(json_object_get(a, "status")), c->want);
}

/* Wait for a report of generation gen with Applied = want. */
static json_t *wait_applied(struct fx *f, const char *id, int64_t gen, const char *want)
{
	struct applied_ctx c = { f, id, gen, want };

	if (!run_until(applied_pred, &c, WAIT_MS)) {
		char *s = json_dumps(last_report(f, id), JSON_INDENT(1));

		simproc_dump_log(&G->sim);
		fail_msg("work %s: no report of generation %lld with Applied=%s; last: %s", id, (long long)gen, want,
			 s ? s : "none");
	}
	return last_status(f, id);
}

static bool deleted_pred(void *p)
{
	struct applied_ctx *c = p;

	return json_is_true(json_object_get(last_report(c->f, c->id), "deleted"));
}

static void wait_deleted(struct fx *f, const char *id)
{
	struct applied_ctx c = { f, id, 0, NULL };

	if (!run_until(deleted_pred, &c, WAIT_MS)) {
		char *s = json_dumps(last_report(f, id), JSON_INDENT(1));

		fail_msg("work %s: no deleted report; last: %s", id, s ? s : "none");
	}
}

/* GET; returns the body (new reference) or NULL when not found. */
static json_t *kget(const char *group, const char *version, const char *resource, const char *ns, const char *name)
{
	struct kref ref = { .group = group, .version = version, .resource = resource, .namespace = ns, .name = name };
	struct ktest_res *r = wait_res(kclient_get(G->kc, &ref, ktest_done, RES, NULL));

	if (r->r == 0)
		return json_incref(r->body);
	if (r->reason != KCLIENT_NOT_FOUND)
		fail_msg("GET %s/%s %s/%s: %s", group, resource, ns ? ns : "", name, r->message);
	return NULL;
}

static json_t *get_cm(const char *ns, const char *name)
{
	return kget("", "v1", "configmaps", ns, name);
}

static json_t *get_amw(const char *name)
{
	return kget(WORK_AMW_GROUP, "v1", WORK_AMW_RESOURCE, NULL, name);
}

struct obj_ctx {
	const char *group, *version, *resource, *ns, *name;
	bool want_present;
	const char *field, *value; /* optional: a dotted field that must have this string value */
};

static bool obj_pred(void *p)
{
	struct obj_ctx *c = p;
	json_t *o = kget(c->group, c->version, c->resource, c->ns, c->name);
	bool ok;

	if (!c->want_present) {
		ok = !o;
	} else if (!o) {
		ok = false;
	} else if (c->field) {
		json_t *v = kobj_get_path(o, c->field);

		ok = v && json_is_string(v) && !strcmp(json_string_value(v), c->value);
	} else {
		ok = true;
	}
	json_decref(o);
	return ok;
}

static void wait_obj(const char *group, const char *version, const char *resource, const char *ns,
		     const char *name, bool present, const char *field, const char *value)
{
	struct obj_ctx c = { group, version, resource, ns, name, present, field, value };

	if (!run_until(obj_pred, &c, WAIT_MS))
		fail_msg("%s %s/%s: wanted %s%s%s%s", resource, ns ? ns : "", name, present ? "present" : "absent",
			 field ? " with " : "", field ? field : "", value ? value : "");
}

static void ensure_namespace(const char *name)
{
	json_t *ns = JQ("{'apiVersion':'v1','kind':'Namespace','metadata':{'name':'%s'}}", name);
	struct ktest_res *r;

	r = wait_res(kclient_create(G->kc, &(struct kref){ .version = "v1", .resource = "namespaces" }, ns, NULL,
				    ktest_done, RES, NULL));
	if (r->r != 0 && r->reason != KCLIENT_ALREADY_EXISTS)
		fail_msg("namespace %s: %s", name, r->message);
	json_decref(ns);
}

static json_t *cm(const char *ns, const char *name, const char *value)
{
	return JQ("{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'%s','namespace':'%s'},"
		  "'data':{'k':'%s'}}", name, ns, value);
}

static json_t *deployment(const char *ns, const char *name, int replicas)
{
	return JQ("{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'%s','namespace':'%s'},"
		  "'spec':{'replicas':%d,'selector':{'matchLabels':{'app':'%s'}},"
		  "'template':{'metadata':{'labels':{'app':'%s'}},"
		  "'spec':{'containers':[{'name':'c','image':'nginx:1.25'}]}}}}",
		  name, ns, replicas, name, name);
}

static char *amw_name_of(struct fx *f, const char *work)
{
	char buf[254];

	return xstrdup(work_engine_amw_name(f->hub_hash, work, NULL, buf));
}

static bool owned_by(const json_t *o, const char *uid)
{
	return kobj_has_owner_ref(o, uid);
}

static void kupdate_cm(json_t *o)
{
	struct kref ref = { .version = "v1", .resource = "configmaps", .namespace = kobj_namespace(o),
			    .name = kobj_name(o) };
	struct ktest_res *r = wait_res(kclient_update(G->kc, &ref, o, NULL, ktest_done, RES, NULL));

	assert_int_equal(r->r, 0);
}

static void kdelete(const char *group, const char *version, const char *resource, const char *ns, const char *name)
{
	struct kref ref = { .group = group, .version = version, .resource = resource, .namespace = ns, .name = name };
	struct ktest_res *r = wait_res(kclient_delete(G->kc, &ref, NULL, ktest_done, RES, NULL));

	assert_int_equal(r->r, 0);
}

static void kcreate(const char *group, const char *version, const char *resource, const char *ns, json_t *o)
{
	struct kref ref = { .group = group, .version = version, .resource = resource, .namespace = ns };
	struct ktest_res *r = wait_res(kclient_create(G->kc, &ref, o, NULL, ktest_done, RES, NULL));

	if (r->r != 0)
		fail_msg("create: %s", r->message);
}

static long long rv_num(const json_t *o)
{
	return atoll(kobj_resource_version(o) ? kobj_resource_version(o) : "0");
}

/* ---------------------------------------------------------------------- */
/* suite                                                                   */
/* ---------------------------------------------------------------------- */

static int group_setup(void **state)
{
	const char *extra[] = { "--ready-delay", "200ms", NULL };
	struct kubeconfig *cfg = NULL;
	struct errbuf err;

	if (getenv("ENGINE_TEST_DEBUG"))
		log_setup(LOG_LVL_DEBUG, LOG_FORMAT_TEXT);
	else
		log_setup(LOG_LVL_ERROR, LOG_FORMAT_TEXT);
	G = xnew(struct group);
	uv_loop_init(&G->loop);
	if (simproc_start(&G->sim, false, extra) < 0)
		return -1;
	if (kubeconfig_load_files(G->sim.kubeconfig, NULL, &err, &cfg) < 0)
		fail_msg("%s", err.msg);
	if (kclient_new(&G->loop, cfg, &(struct kclient_options){ .qps = -1 }, &err, &G->kc) < 0)
		fail_msg("%s", err.msg);
	*state = G;
	return 0;
}

static int group_teardown(void **state)
{
	kclient_free(G->kc);
	ktest_drain(&G->loop);
	ktest_res_reset(&G->res);
	uv_loop_close(&G->loop);
	if (simproc_stop(&G->sim) != 0)
		fprintf(stderr, "nave-kubesim did not exit cleanly\n");
	free(G);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* tests without a cluster                                                 */
/* ---------------------------------------------------------------------- */

static void test_units(void **state)
{
	struct work_engine *e = NULL;
	struct errbuf err;
	char name[254], longname[300];
	json_t *a, *b;

	/* configuration checks name the field */
	assert_int_equal(work_engine_new(G->kc, &(struct work_engine_config){ .cluster_name = "c1", .hub_hash = "xyz",
									      .agent_id = "a" },
					 on_status, NULL, &err, &e), -EINVAL);
	assert_non_null(strstr(err.msg, "hub_hash"));
	assert_int_equal(work_engine_new(G->kc, &(struct work_engine_config){ .cluster_name = "Bad_Name",
									      .hub_hash = "x", .agent_id = "a" },
					 on_status, NULL, &err, &e), -EINVAL);
	assert_non_null(strstr(err.msg, "cluster_name"));
	assert_null(e);

	/* record names */
	assert_string_equal(work_engine_amw_name("ab", "w1", "id", name), "ab-w1");
	memset(longname, 'x', 260);
	longname[260] = '\0';
	assert_string_equal(work_engine_amw_name("ab", longname, "id", name), "ab-id");

	/* kind order */
	assert_int_equal(apply_kind_rank("", "Namespace"), 0);
	assert_int_equal(apply_kind_rank("apiextensions.k8s.io", "CustomResourceDefinition"), 0);
	assert_int_equal(apply_kind_rank("rbac.authorization.k8s.io", "ClusterRole"), 1);
	assert_int_equal(apply_kind_rank("", "ServiceAccount"), 2);
	assert_int_equal(apply_kind_rank("", "ConfigMap"), 3);
	assert_int_equal(apply_kind_rank("", "Service"), 4);
	assert_int_equal(apply_kind_rank("apps", "Deployment"), 5);
	assert_int_equal(apply_kind_rank("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"), 6);
	assert_int_equal(apply_kind_rank("example.com", "Service"), 7);
	assert_int_equal(apply_kind_rank("example.com", "Widget"), 7);

	/* "unchanged" comparison: defaults on the server side never count */
	a = JQ("{'spec':{'containers':[{'name':'c','image':'x'}]},'n':1}");
	b = JQ("{'spec':{'containers':[{'name':'c','image':'x','imagePullPolicy':'Always'}]},'n':1.0,'extra':2}");
	assert_true(apply_json_subset(a, b));
	assert_false(apply_json_subset(b, a));
	json_object_set_new(json_array_get(json_object_get(json_object_get(b, "spec"), "containers"), 0), "image",
			    json_string("y"));
	assert_false(apply_json_subset(a, b));
	json_decref(a);
	json_decref(b);
}

/* deploy/crds/appliedmanifestworks.yaml is the CRD the engine creates. */
static void test_crd_file(void **state)
{
	const char *src = getenv("NAVE_SOURCE_ROOT");
	char *path, *text;
	json_t *doc = NULL, *crd;
	struct errbuf err;
	FILE *fp;
	long n;

	if (!src)
		skip();
	path = xasprintf("%s/deploy/crds/appliedmanifestworks.yaml", src);
	fp = fopen(path, "rb");
	if (!fp)
		fail_msg("cannot open %s", path);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	text = xmalloc((size_t)n + 1);
	assert_int_equal(fread(text, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	if (yaml_parse_one(text, (size_t)n, NULL, &err, &doc) < 0)
		fail_msg("%s: %s", path, err.msg);
	crd = amw_crd();
	if (!json_equal(doc, crd)) {
		char *a = json_dumps(doc, JSON_SORT_KEYS | JSON_INDENT(1)), *b = json_dumps(crd, JSON_SORT_KEYS | JSON_INDENT(1));

		fail_msg("%s differs from the engine's CRD:\n%s\n---\n%s", path, a, b);
	}
	json_decref(crd);
	json_decref(doc);
	free(text);
	free(path);
}

/* ---------------------------------------------------------------------- */
/* apply                                                                   */
/* ---------------------------------------------------------------------- */

static void test_apply_order_owners_record(void **state)
{
	struct fx f;
	char id[37], *amw;
	json_t *manifests, *st, *ns, *sa, *cmo, *dep, *rec, *applied;
	const char *uid;

	fx_start(&f, "apply", NULL, 0);
	make_uuid(id);
	/* listed workloads first: the engine must reorder */
	manifests = json_array();
	json_array_append_new(manifests, deployment("eng-apply", "web", 1));
	json_array_append_new(manifests, cm("eng-apply", "web-config", "v1"));
	json_array_append_new(manifests, JQ("{'apiVersion':'v1','kind':'ServiceAccount',"
					    "'metadata':{'name':'web-sa','namespace':'eng-apply'}}"));
	json_array_append_new(manifests, JQ("{'apiVersion':'v1','kind':'Namespace','metadata':{'name':'eng-apply'}}"));
	apply_work(&f, id, 1, "web-work", bundle_of(json_incref(manifests), NULL));
	st = wait_applied(&f, id, 1, "True");

	/* work conditions */
	assert_string_equal(cond_status(json_object_get(st, "conditions"), "Applied"), "True");
	assert_int_equal(json_array_size(json_object_get(json_object_get(st, "resourceStatus"), "manifests")), 4);
	assert_string_equal(cond_status(json_object_get(manifest_status(&f, id, 1), "conditions"), "Applied"), "True");
	assert_string_equal(cond_status(json_object_get(manifest_status(&f, id, 1), "conditions"), "Available"),
			    "True");
	assert_string_equal(json_string_value(json_object_get(json_object_get(manifest_status(&f, id, 0),
									      "resourceMeta"), "resource")),
			    "deployments");

	/* the record */
	amw = amw_name_of(&f, "web-work");
	rec = get_amw(amw);
	assert_non_null(rec);
	uid = kobj_uid(rec);
	assert_string_equal(json_string_value(kobj_get_path(rec, "spec.hubHash")), f.hub_hash);
	assert_string_equal(json_string_value(kobj_get_path(rec, "spec.agentID")), f.agent_id);
	assert_string_equal(json_string_value(kobj_get_path(rec, "spec.manifestWorkName")), "web-work");
	assert_string_equal(kobj_annotation(rec, WORK_AMW_ANN_RESOURCE_ID), id);
	applied = kobj_get_path(rec, "status.appliedResources");
	assert_int_equal(json_array_size(applied), 4);

	/* objects, owners, order */
	ns = kget("", "v1", "namespaces", NULL, "eng-apply");
	sa = kget("", "v1", "serviceaccounts", "eng-apply", "web-sa");
	cmo = get_cm("eng-apply", "web-config");
	dep = kget("apps", "v1", "deployments", "eng-apply", "web");
	assert_non_null(ns);
	assert_non_null(sa);
	assert_non_null(cmo);
	assert_non_null(dep);
	assert_true(owned_by(ns, uid) && owned_by(sa, uid) && owned_by(cmo, uid) && owned_by(dep, uid));
	assert_non_null(kobj_annotation(dep, WORK_ANN_OBJECT_HASH));
	assert_true(rv_num(ns) < rv_num(sa));
	assert_true(rv_num(sa) < rv_num(cmo));
	assert_true(rv_num(cmo) < rv_num(dep));

	/* the same generation again changes nothing on the spoke */
	{
		struct work_engine_stats before, after;
		json_t *dep2;

		work_engine_get_stats(f.e, &before);
		apply_work(&f, id, 1, "web-work", bundle_of(json_deep_copy(manifests), NULL));
		ktest_run_for(&G->loop, 500);
		work_engine_get_stats(f.e, &after);
		assert_int_equal(after.applies, before.applies);
		dep2 = kget("apps", "v1", "deployments", "eng-apply", "web");
		assert_string_equal(kobj_uid(dep2), kobj_uid(dep));
		json_decref(dep2);
	}

	json_decref(ns);
	json_decref(sa);
	json_decref(cmo);
	json_decref(dep);
	json_decref(rec);
	json_decref(manifests);
	free(amw);
	fx_stop(&f);
}

static void test_update_remove_stale(void **state)
{
	struct fx f;
	char id[37];
	json_t *m1, *m2, *o, *rec;
	char *amw;

	ensure_namespace("eng-upd");
	fx_start(&f, "update", NULL, 0);
	make_uuid(id);
	m1 = json_array();
	json_array_append_new(m1, cm("eng-upd", "a", "one"));
	json_array_append_new(m1, cm("eng-upd", "b", "one"));
	apply_work(&f, id, 1, "upd", bundle_of(m1, NULL));
	wait_applied(&f, id, 1, "True");
	o = get_cm("eng-upd", "b");
	assert_non_null(o);
	json_decref(o);

	/* generation 2: a changes, b is removed */
	m2 = json_array();
	json_array_append_new(m2, cm("eng-upd", "a", "two"));
	apply_work(&f, id, 2, "upd", bundle_of(m2, NULL));
	wait_applied(&f, id, 2, "True");
	wait_obj("", "v1", "configmaps", "eng-upd", "b", false, NULL, NULL);
	o = get_cm("eng-upd", "a");
	assert_string_equal(json_string_value(kobj_get_path(o, "data.k")), "two");
	json_decref(o);
	amw = amw_name_of(&f, "upd");
	rec = get_amw(amw);
	assert_int_equal(json_array_size(kobj_get_path(rec, "status.appliedResources")), 1);
	json_decref(rec);
	free(amw);

	/* a stale generation is dropped */
	assert_int_equal(send_spec(&f, PROTO_EV_SPEC_UPDATE, id, 1, "upd", bundle_of(json_array(), NULL)), -ESTALE);

	/* resync lists what is held */
	{
		struct proto_resource_version *v = NULL;
		size_t n = 0;

		assert_int_equal(work_engine_resync_versions(f.e, &v, &n), 0);
		assert_int_equal(n, 1);
		assert_string_equal(v[0].resourceid, id);
		assert_int_equal(v[0].version, 2);
		free(v);
	}
	fx_stop(&f);
}

static void test_delete_foreground(void **state)
{
	struct fx f;
	char id[37], *amw;
	json_t *m, *rec;

	ensure_namespace("eng-fg");
	fx_start(&f, "foreground", NULL, 0);
	make_uuid(id);
	m = json_array();
	json_array_append_new(m, cm("eng-fg", "c1", "x"));
	json_array_append_new(m, deployment("eng-fg", "d1", 2));
	apply_work(&f, id, 1, "fg", bundle_of(m, NULL));
	wait_applied(&f, id, 1, "True");
	amw = amw_name_of(&f, "fg");
	rec = get_amw(amw);
	assert_non_null(rec);
	json_decref(rec);

	delete_work(&f, id, 2);
	wait_deleted(&f, id);
	/* reported only once everything is gone */
	rec = get_cm("eng-fg", "c1");
	assert_null(rec);
	rec = kget("apps", "v1", "deployments", "eng-fg", "d1");
	assert_null(rec);
	rec = get_amw(amw);
	assert_null(rec);
	assert_string_equal(cond_status(json_object_get(last_status(&f, id), "conditions"), "Deleted"), "True");
	{
		struct work_engine_stats st;

		work_engine_get_stats(f.e, &st);
		assert_int_equal(st.works, 0);
	}
	/* a delete for a work the engine never had is answered too */
	{
		char id2[37];

		make_uuid(id2);
		delete_work(&f, id2, 5);
		wait_deleted(&f, id2);
	}
	free(amw);
	fx_stop(&f);
}

static void test_delete_orphan(void **state)
{
	struct fx f;
	char id[37], *amw;
	json_t *m, *o, *rec;
	char uid[64];

	ensure_namespace("eng-orphan");
	fx_start(&f, "orphan", NULL, 0);
	make_uuid(id);
	m = json_array();
	json_array_append_new(m, cm("eng-orphan", "keep", "x"));
	apply_work(&f, id, 1, "orph", bundle_of(m, "{'deleteOption':{'propagationPolicy':'Orphan'}}"));
	wait_applied(&f, id, 1, "True");
	amw = amw_name_of(&f, "orph");
	rec = get_amw(amw);
	snprintf(uid, sizeof(uid), "%s", kobj_uid(rec));
	json_decref(rec);
	/* the record knows the delete option (for an eviction after a restart) */
	rec = get_amw(amw);
	assert_non_null(strstr(kobj_annotation(rec, WORK_AMW_ANN_DELETE_OPTION), "Orphan"));
	json_decref(rec);

	delete_work(&f, id, 2);
	wait_deleted(&f, id);
	o = get_cm("eng-orphan", "keep");
	assert_non_null(o);
	assert_false(owned_by(o, uid));
	json_decref(o);
	assert_null(get_amw(amw));
	/* the kubesim garbage collector must not take it later either */
	ktest_run_for(&G->loop, 500);
	o = get_cm("eng-orphan", "keep");
	assert_non_null(o);
	json_decref(o);
	free(amw);
	fx_stop(&f);
}

static void test_delete_selectively_orphan(void **state)
{
	struct fx f;
	char id[37];
	json_t *m, *o;

	ensure_namespace("eng-sel");
	fx_start(&f, "selective", NULL, 0);
	make_uuid(id);
	m = json_array();
	json_array_append_new(m, cm("eng-sel", "keep", "x"));
	json_array_append_new(m, cm("eng-sel", "drop", "x"));
	apply_work(&f, id, 1, "sel",
		   bundle_of(m, "{'deleteOption':{'propagationPolicy':'SelectivelyOrphan','selectivelyOrphans':"
				"{'orphaningRules':[{'group':'','resource':'configmaps','namespace':'eng-sel',"
				"'name':'keep'}]}}}"));
	wait_applied(&f, id, 1, "True");
	delete_work(&f, id, 2);
	wait_deleted(&f, id);
	o = get_cm("eng-sel", "keep");
	assert_non_null(o);
	json_decref(o);
	assert_null(get_cm("eng-sel", "drop"));
	fx_stop(&f);
}

/* An object two works hold: removing it from one only drops that owner. */
static void test_shared_object(void **state)
{
	struct fx f;
	char a[37], b[37], *amw_a, *amw_b;
	json_t *ra, *rb, *o;
	char uid_a[64], uid_b[64];

	ensure_namespace("eng-shared");
	fx_start(&f, "shared", NULL, 0);
	make_uuid(a);
	make_uuid(b);
	ra = json_array();
	json_array_append_new(ra, cm("eng-shared", "both", "x"));
	rb = json_array();
	json_array_append_new(rb, cm("eng-shared", "both", "x"));
	apply_work(&f, a, 1, "wa", bundle_of(ra, NULL));
	wait_applied(&f, a, 1, "True");
	apply_work(&f, b, 1, "wb", bundle_of(rb, NULL));
	wait_applied(&f, b, 1, "True");
	amw_a = amw_name_of(&f, "wa");
	amw_b = amw_name_of(&f, "wb");
	o = get_amw(amw_a);
	snprintf(uid_a, sizeof(uid_a), "%s", kobj_uid(o));
	json_decref(o);
	o = get_amw(amw_b);
	snprintf(uid_b, sizeof(uid_b), "%s", kobj_uid(o));
	json_decref(o);
	o = get_cm("eng-shared", "both");
	assert_true(owned_by(o, uid_a) && owned_by(o, uid_b));
	json_decref(o);

	apply_work(&f, a, 2, "wa", bundle_of(json_array(), NULL));
	wait_applied(&f, a, 2, "True");
	o = get_cm("eng-shared", "both");
	assert_non_null(o);
	assert_false(owned_by(o, uid_a));
	assert_true(owned_by(o, uid_b));
	json_decref(o);
	free(amw_a);
	free(amw_b);
	fx_stop(&f);
}

/* ---------------------------------------------------------------------- */
/* strategies                                                              */
/* ---------------------------------------------------------------------- */

static void test_strategies(void **state)
{
	struct fx f;
	char id[37];
	json_t *m, *o, *st, *values, *mf;
	size_t i;
	bool found;

	ensure_namespace("eng-strat");
	/* pre-existing objects for CreateOnly and ReadOnly */
	o = cm("eng-strat", "created-before", "spoke");
	kcreate("", "v1", "configmaps", "eng-strat", o);
	json_decref(o);
	o = cm("eng-strat", "read-me", "spoke-value");
	kcreate("", "v1", "configmaps", "eng-strat", o);
	json_decref(o);

	fx_start(&f, "strategies", NULL, 0);
	make_uuid(id);
	m = json_array();
	json_array_append_new(m, cm("eng-strat", "created-before", "hub"));   /* 0 CreateOnly, exists */
	json_array_append_new(m, cm("eng-strat", "create-only", "hub"));      /* 1 CreateOnly, new */
	json_array_append_new(m, cm("eng-strat", "read-me", "hub"));          /* 2 ReadOnly */
	json_array_append_new(m, cm("eng-strat", "ssa", "hub"));              /* 3 SSA, force, manager */
	json_array_append_new(m, cm("eng-strat", "ssa-ignore", "hub"));       /* 4 SSA ignoreFields */
	json_array_append_new(m, cm("eng-strat", "read-missing", "hub"));     /* 5 ReadOnly, missing */
	apply_work(&f, id, 1, "strat",
		   bundle_of(m, "{'manifestConfigs':["
			     "{'resourceIdentifier':{'resource':'configmaps','namespace':'eng-strat','name':'created-before'},"
			     " 'updateStrategy':{'type':'CreateOnly'}},"
			     "{'resourceIdentifier':{'resource':'configmaps','namespace':'eng-strat','name':'create-only'},"
			     " 'updateStrategy':{'type':'CreateOnly'}},"
			     "{'resourceIdentifier':{'resource':'configmaps','namespace':'eng-strat','name':'read-*'},"
			     " 'updateStrategy':{'type':'ReadOnly'},"
			     " 'feedbackRules':[{'type':'JSONPaths','jsonPaths':[{'name':'k','path':'.data.k'}]}]},"
			     "{'resourceIdentifier':{'resource':'configmaps','namespace':'eng-strat','name':'ssa'},"
			     " 'updateStrategy':{'type':'ServerSideApply','serverSideApply':{'force':true,"
			     "  'fieldManager':'my-manager'}}},"
			     "{'resourceIdentifier':{'resource':'configmaps','namespace':'eng-strat','name':'ssa-ignore'},"
			     " 'updateStrategy':{'type':'ServerSideApply','serverSideApply':{'force':true,"
			     "  'ignoreFields':[{'condition':'OnSpokePresent','jsonPaths':['.data']}]}}}]}"));
	st = wait_applied(&f, id, 1, "False");
	/* only the missing ReadOnly object fails */
	assert_string_equal(cond_status(json_object_get(manifest_status(&f, id, 5), "conditions"), "Applied"), "False");
	for (i = 0; i < 5; i++)
		assert_string_equal(cond_status(json_object_get(manifest_status(&f, id, i), "conditions"), "Applied"),
				    "True");
	assert_non_null(strstr(json_string_value(json_object_get(cond_of(json_object_get(st, "conditions"), "Applied"),
								   "message")), "read-missing"));

	/* CreateOnly: the existing object is left as it was */
	o = get_cm("eng-strat", "created-before");
	assert_string_equal(json_string_value(kobj_get_path(o, "data.k")), "spoke");
	json_decref(o);
	o = get_cm("eng-strat", "create-only");
	assert_string_equal(json_string_value(kobj_get_path(o, "data.k")), "hub");
	json_decref(o);

	/* ReadOnly: not written, not owned, its value fed back */
	o = get_cm("eng-strat", "read-me");
	assert_string_equal(json_string_value(kobj_get_path(o, "data.k")), "spoke-value");
	assert_null(kobj_get_path(o, "metadata.ownerReferences"));
	json_decref(o);
	values = json_object_get(json_object_get(manifest_status(&f, id, 2), "statusFeedback"), "values");
	assert_int_equal(json_array_size(values), 1);
	assert_string_equal(json_string_value(kobj_get_path(json_array_get(values, 0), "fieldValue.string")),
			    "spoke-value");

	/* SSA with its field manager */
	o = get_cm("eng-strat", "ssa");
	found = false;
	json_array_foreach(kobj_get_path(o, "metadata.managedFields"), i, mf) {
		if (!strcmp(json_string_value(json_object_get(mf, "manager")), "my-manager") &&
		    !strcmp(json_string_value(json_object_get(mf, "operation")), "Apply"))
			found = true;
	}
	assert_true(found);
	json_decref(o);

	/* ignoreFields OnSpokePresent: a change of .data on the spoke stays */
	o = get_cm("eng-strat", "ssa-ignore");
	json_object_set_new(json_object_get(o, "data"), "k", json_string("edited-on-spoke"));
	kupdate_cm(o);
	json_decref(o);
	ktest_run_for(&G->loop, 1200); /* several recheck periods */
	o = get_cm("eng-strat", "ssa-ignore");
	assert_string_equal(json_string_value(kobj_get_path(o, "data.k")), "edited-on-spoke");
	json_decref(o);

	/* CreateOnly: deleted by hand, created again */
	kdelete("", "v1", "configmaps", "eng-strat", "create-only");
	wait_obj("", "v1", "configmaps", "eng-strat", "create-only", true, "data.k", "hub");
	fx_stop(&f);
}

/* ---------------------------------------------------------------------- */
/* drift, feedback, CRDs                                                   */
/* ---------------------------------------------------------------------- */

static void test_drift(void **state)
{
	struct fx f;
	char id[37];
	json_t *m, *o;
	struct work_engine_stats st;

	ensure_namespace("eng-drift");
	fx_start(&f, "drift", NULL, 0);
	make_uuid(id);
	m = json_array();
	json_array_append_new(m, cm("eng-drift", "d", "hub"));
	json_array_append_new(m, JQ("{'apiVersion':'v1','kind':'Service','metadata':{'name':'svc','namespace':'eng-drift'},"
				    "'spec':{'selector':{'app':'x'},'ports':[{'port':80,'targetPort':8080}]}}"));
	apply_work(&f, id, 1, "drift", bundle_of(m, NULL));
	wait_applied(&f, id, 1, "True");

	/* a Service edited on the spoke (the server filled clusterIP): put back */
	o = kget("", "v1", "services", "eng-drift", "svc");
	json_object_set_new(json_array_get(kobj_get_path(o, "spec.ports"), 0), "port", json_integer(81));
	kobj_set_label(o, "added-on-spoke", "yes");
	{
		struct kref ref = { .version = "v1", .resource = "services", .namespace = "eng-drift", .name = "svc" };
		struct ktest_res *r = wait_res(kclient_update(G->kc, &ref, o, NULL, ktest_done, RES, NULL));

		assert_int_equal(r->r, 0);
	}
	json_decref(o);
	{
		int64_t deadline = time_mono_us() + WAIT_MS * 1000LL;
		bool back = false;

		while (!back && time_mono_us() < deadline) {
			ktest_run_for(&G->loop, 100);
			o = kget("", "v1", "services", "eng-drift", "svc");
			back = json_integer_value(kobj_get_path(json_array_get(kobj_get_path(o, "spec.ports"), 0), "port")) == 80;
			if (back) /* labels added on the spoke are kept (merged) */
				assert_string_equal(kobj_label(o, "added-on-spoke"), "yes");
			json_decref(o);
		}
		assert_true(back);
	}

	/* edited on the spoke: put back */
	o = get_cm("eng-drift", "d");
	json_object_set_new(json_object_get(o, "data"), "k", json_string("edited"));
	kupdate_cm(o);
	json_decref(o);
	wait_obj("", "v1", "configmaps", "eng-drift", "d", true, "data.k", "hub");

	/* deleted on the spoke: comes back */
	kdelete("", "v1", "configmaps", "eng-drift", "d");
	wait_obj("", "v1", "configmaps", "eng-drift", "d", true, "data.k", "hub");
	work_engine_get_stats(f.e, &st);
	assert_true(st.drift_repairs >= 2);

	/* the record follows the new uid */
	ktest_run_for(&G->loop, 700);
	{
		char *amw = amw_name_of(&f, "drift");
		json_t *rec = get_amw(amw);

		o = get_cm("eng-drift", "d");
		assert_string_equal(json_string_value(json_object_get(json_array_get(kobj_get_path(rec,
									"status.appliedResources"), 0), "uid")),
				    kobj_uid(o));
		json_decref(o);
		json_decref(rec);
		free(amw);
	}
	fx_stop(&f);
}

struct fb_ctx {
	struct fx *f;
	const char *id;
};

static bool feedback_ready(void *p)
{
	struct fb_ctx *c = p;
	json_t *ms = manifest_status(c->f, c->id, 0);
	json_t *values = json_object_get(json_object_get(ms, "statusFeedback"), "values"), *v;
	size_t i;
	int ready = -1, replicas = -1;
	bool avail = false;

	json_array_foreach(values, i, v) {
		const char *n = json_string_value(json_object_get(v, "name"));

		if (!strcmp(n, "ReadyReplicas"))
			ready = (int)json_integer_value(kobj_get_path(v, "fieldValue.integer"));
		if (!strcmp(n, "Replicas"))
			replicas = (int)json_integer_value(kobj_get_path(v, "fieldValue.integer"));
		if (!strcmp(n, "isAvailable") && !strcmp(json_string_value(kobj_get_path(v, "fieldValue.string")) ?
							 json_string_value(kobj_get_path(v, "fieldValue.string")) : "",
							 "True"))
			avail = true;
	}
	return ready == 2 && replicas == 2 && avail &&
	       !strcmp(cond_status(json_object_get(last_status(c->f, c->id), "conditions"), "Progressing") ?
			       cond_status(json_object_get(last_status(c->f, c->id), "conditions"), "Progressing") : "",
		       "False");
}

static void test_feedback_deployment(void **state)
{
	struct fx f;
	char id[37];
	json_t *m, *ms, *values, *v;
	struct fb_ctx c = { &f, id };
	size_t i;
	bool has_selector = false;

	ensure_namespace("eng-fb");
	fx_start(&f, "feedback", NULL, 0);
	make_uuid(id);
	m = json_array();
	json_array_append_new(m, deployment("eng-fb", "hello", 2));
	apply_work(&f, id, 1, "fb",
		   bundle_of(m, "{'manifestConfigs':[{'resourceIdentifier':{'group':'apps','resource':'deployments',"
				"'namespace':'eng-fb','name':'hello'},'feedbackRules':[{'type':'WellKnownStatus'},"
				"{'type':'JSONPaths','jsonPaths':[{'name':'isAvailable',"
				"'path':'.status.conditions[?(@.type==\\'Available\\')].status'},"
				"{'name':'selector','path':'.spec.selector'},"
				"{'name':'wrongVersion','path':'.spec.replicas','version':'v2'}]}]}]}"));
	wait_applied(&f, id, 1, "True");
	if (!run_until(feedback_ready, &c, WAIT_MS)) {
		char *s = json_dumps(last_status(&f, id), JSON_INDENT(1));

		fail_msg("no ready feedback: %s", s);
	}
	ms = manifest_status(&f, id, 0);
	values = json_object_get(json_object_get(ms, "statusFeedback"), "values");
	json_array_foreach(values, i, v) {
		if (!strcmp(json_string_value(json_object_get(v, "name")), "selector")) {
			assert_string_equal(json_string_value(kobj_get_path(v, "fieldValue.type")), "JsonRaw");
			assert_non_null(strstr(json_string_value(kobj_get_path(v, "fieldValue.jsonRaw")), "matchLabels"));
			has_selector = true;
		}
	}
	assert_true(has_selector);
	/* the wrong version is named in StatusFeedbackSynced */
	assert_string_equal(cond_status(json_object_get(ms, "conditions"), "StatusFeedbackSynced"), "False");
	assert_non_null(strstr(json_string_value(json_object_get(cond_of(json_object_get(ms, "conditions"),
									 "StatusFeedbackSynced"), "message")),
			       "wrongVersion"));
	assert_string_equal(cond_status(json_object_get(last_status(&f, id), "conditions"), "Available"), "True");
	fx_stop(&f);
}

/* The value named name of manifest ordinal, as text ("" when absent). */
static void feedback_value(struct fx *f, const char *id, size_t ordinal, const char *name, char *out, size_t outsz)
{
	json_t *values = json_object_get(json_object_get(manifest_status(f, id, ordinal), "statusFeedback"), "values");
	json_t *v, *fv;
	size_t i;

	out[0] = '\0';
	json_array_foreach(values, i, v) {
		if (strcmp(json_string_value(json_object_get(v, "name")), name))
			continue;
		fv = json_object_get(v, "fieldValue");
		if (json_object_get(fv, "integer"))
			snprintf(out, outsz, "%lld", (long long)json_integer_value(json_object_get(fv, "integer")));
		else if (json_object_get(fv, "string"))
			snprintf(out, outsz, "%s", json_string_value(json_object_get(fv, "string")));
	}
}

struct wl_ctx {
	struct fx *f;
	const char *id;
};

static bool workloads_ready(void *p)
{
	struct wl_ctx *c = p;
	char a[64], b[64], d[64], e[64], g[64];

	feedback_value(c->f, c->id, 0, "ReadyReplicas", a, sizeof(a));
	feedback_value(c->f, c->id, 1, "NumberReady", b, sizeof(b));
	feedback_value(c->f, c->id, 1, "DesiredNumberScheduled", d, sizeof(d));
	feedback_value(c->f, c->id, 2, "JobSucceeded", e, sizeof(e));
	feedback_value(c->f, c->id, 2, "JobComplete", g, sizeof(g));
	return !strcmp(a, "2") && *d && !strcmp(b, d) && !strcmp(e, "1") && !strcmp(g, "True");
}

/* WellKnownStatus of StatefulSets, DaemonSets and Jobs. */
static void test_feedback_workloads(void **state)
{
	struct fx f;
	char id[37];
	json_t *m;
	struct wl_ctx c = { &f, id };

	ensure_namespace("eng-wl");
	fx_start(&f, "workloads", NULL, 0);
	make_uuid(id);
	m = json_array();
	json_array_append_new(m, JQ("{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'db','namespace':'eng-wl'},"
				    "'spec':{'replicas':2,'serviceName':'db','selector':{'matchLabels':{'app':'db'}},"
				    "'template':{'metadata':{'labels':{'app':'db'}},'spec':{'containers':[{'name':'db','image':'pg:16'}]}}}}"));
	json_array_append_new(m, JQ("{'apiVersion':'apps/v1','kind':'DaemonSet','metadata':{'name':'agent','namespace':'eng-wl'},"
				    "'spec':{'selector':{'matchLabels':{'app':'agent'}},"
				    "'template':{'metadata':{'labels':{'app':'agent'}},'spec':{'containers':[{'name':'a','image':'agent:1'}]}}}}"));
	json_array_append_new(m, JQ("{'apiVersion':'batch/v1','kind':'Job','metadata':{'name':'once','namespace':'eng-wl'},"
				    "'spec':{'template':{'spec':{'restartPolicy':'Never','containers':[{'name':'j','image':'busybox:1'}]}}}}"));
	apply_work(&f, id, 1, "wl",
		   bundle_of(m, "{'manifestConfigs':["
			     "{'resourceIdentifier':{'group':'apps','resource':'statefulsets','namespace':'eng-wl','name':'db'},"
			     " 'feedbackRules':[{'type':'WellKnownStatus'}]},"
			     "{'resourceIdentifier':{'group':'apps','resource':'daemonsets','namespace':'eng-wl','name':'agent'},"
			     " 'feedbackRules':[{'type':'WellKnownStatus'}]},"
			     "{'resourceIdentifier':{'group':'batch','resource':'jobs','namespace':'eng-wl','name':'once'},"
			     " 'feedbackRules':[{'type':'WellKnownStatus'}],"
			     " 'conditionRules':[{'type':'WellKnownConditions','condition':'Complete'}]}]}"));
	wait_applied(&f, id, 1, "True");
	if (!run_until(workloads_ready, &c, WAIT_MS)) {
		char *txt = json_dumps(last_status(&f, id), JSON_INDENT(1));

		fail_msg("workload feedback incomplete: %s", txt);
	}
	/* the Job's Complete rule is met: the work says Complete */
	assert_string_equal(cond_status(json_object_get(manifest_status(&f, id, 2), "conditions"), "Complete"), "True");
	assert_string_equal(cond_status(json_object_get(last_status(&f, id), "conditions"), "Complete"), "True");
	delete_work(&f, id, 2);
	wait_deleted(&f, id);
	fx_stop(&f);
}

static void test_crd_in_same_work(void **state)
{
	struct fx f;
	char id[37];
	json_t *m, *o;

	fx_start(&f, "crd", NULL, 0);
	make_uuid(id);
	m = json_array();
	/* the custom resource first: the CRD must go before it */
	json_array_append_new(m, JQ("{'apiVersion':'example.nave.io/v1','kind':'Gadget',"
				    "'metadata':{'name':'g1','namespace':'default'},'spec':{'size':3}}"));
	json_array_append_new(m, JQ("{'apiVersion':'apiextensions.k8s.io/v1','kind':'CustomResourceDefinition',"
				    "'metadata':{'name':'gadgets.example.nave.io'},"
				    "'spec':{'group':'example.nave.io','scope':'Namespaced',"
				    "'names':{'kind':'Gadget','plural':'gadgets','singular':'gadget','listKind':'GadgetList'},"
				    "'versions':[{'name':'v1','served':true,'storage':true,"
				    "'schema':{'openAPIV3Schema':{'type':'object','x-kubernetes-preserve-unknown-fields':true}}}]}}"));
	apply_work(&f, id, 1, "crd", bundle_of(m, NULL));
	wait_applied(&f, id, 1, "True");
	o = kget("example.nave.io", "v1", "gadgets", "default", "g1");
	assert_non_null(o);
	assert_int_equal(json_integer_value(kobj_get_path(o, "spec.size")), 3);
	json_decref(o);
	/* delete: the custom resource and the CRD go */
	delete_work(&f, id, 2);
	wait_deleted(&f, id);
	assert_null(kget("apiextensions.k8s.io", "v1", "customresourcedefinitions", NULL, "gadgets.example.nave.io"));
	fx_stop(&f);
}

static void test_unknown_kind_and_namespace(void **state)
{
	struct fx f;
	char id[37];
	json_t *m, *st;
	const json_t *mc;

	fx_start(&f, "unknownkind", NULL, 0);
	make_uuid(id);
	m = json_array();
	json_array_append_new(m, JQ("{'apiVersion':'nope.example.com/v1','kind':'Thing','metadata':{'name':'t','namespace':'default'}}"));
	json_array_append_new(m, JQ("{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'nons'}}"));
	apply_work(&f, id, 1, "unk", bundle_of(m, NULL));
	st = wait_applied(&f, id, 1, "False");
	mc = cond_of(json_object_get(manifest_status(&f, id, 0), "conditions"), "Applied");
	assert_string_equal(json_string_value(json_object_get(mc, "reason")), "NoMatchingKind");
	assert_non_null(strstr(json_string_value(json_object_get(mc, "message")), "Thing"));
	mc = cond_of(json_object_get(manifest_status(&f, id, 1), "conditions"), "Applied");
	assert_non_null(strstr(json_string_value(json_object_get(mc, "message")), "metadata.namespace"));
	assert_string_equal(cond_status(json_object_get(st, "conditions"), "Degraded"), "True");
	fx_stop(&f);
}

static void test_executor_refused(void **state)
{
	struct fx f;
	char id[37];
	json_t *m, *st;

	fx_start(&f, "executor", NULL, 0);
	make_uuid(id);
	m = json_array();
	json_array_append_new(m, cm("default", "exec-cm", "x"));
	apply_work(&f, id, 1, "exec",
		   bundle_of(m, "{'executor':{'subject':{'type':'ServiceAccount','serviceAccount':"
				"{'namespace':'default','name':'executor1'}}}}"));
	st = wait_applied(&f, id, 1, "False");
	assert_non_null(strstr(json_string_value(json_object_get(cond_of(json_object_get(st, "conditions"), "Applied"),
								 "message")), "spec.executor"));
	assert_null(get_cm("default", "exec-cm"));
	fx_stop(&f);
}

/* ---------------------------------------------------------------------- */
/* restart, eviction, status resync                                        */
/* ---------------------------------------------------------------------- */

static void test_restart(void **state)
{
	struct fx f, g;
	char id[37], *amw, hub[65], amw_uid[64], cm_uid[64];
	json_t *m, *o, *rec;
	struct proto_resource_version *v = NULL;
	struct work_engine_stats st;
	size_t n = 0;

	ensure_namespace("eng-restart");
	fx_start(&f, "restart", NULL, 0);
	snprintf(hub, sizeof(hub), "%s", f.hub_hash);
	make_uuid(id);
	m = json_array();
	json_array_append_new(m, cm("eng-restart", "r1", "v"));
	json_array_append_new(m, deployment("eng-restart", "r2", 1));
	apply_work(&f, id, 3, "rs", bundle_of(m, NULL));
	wait_applied(&f, id, 3, "True");
	amw = amw_name_of(&f, "rs");
	rec = get_amw(amw);
	snprintf(amw_uid, sizeof(amw_uid), "%s", kobj_uid(rec));
	json_decref(rec);
	o = get_cm("eng-restart", "r1");
	snprintf(cm_uid, sizeof(cm_uid), "%s", kobj_uid(o));
	json_decref(o);
	fx_stop(&f);

	/* a new engine (a restarted klusterlet) finds its record */
	fx_start(&g, "restart", hub, 0);
	assert_int_equal(work_engine_resync_versions(g.e, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].resourceid, id);
	assert_int_equal(v[0].version, 0); /* "send it again": the spec is not kept on the spoke */
	free(v);

	/* the hub resends it: nothing is created twice */
	m = json_array();
	json_array_append_new(m, cm("eng-restart", "r1", "v"));
	json_array_append_new(m, deployment("eng-restart", "r2", 1));
	assert_int_equal(send_spec(&g, PROTO_EV_SPEC_RESYNC_RESPONSE, id, 3, "rs", bundle_of(m, NULL)), 0);
	wait_applied(&g, id, 3, "True");
	work_engine_get_stats(g.e, &st);
	assert_int_equal(st.applies, 0);
	assert_true(st.skips >= 2);
	rec = get_amw(amw);
	assert_string_equal(kobj_uid(rec), amw_uid);
	json_decref(rec);
	o = get_cm("eng-restart", "r1");
	assert_string_equal(kobj_uid(o), cm_uid);
	json_decref(o);

	/* status resync: a matching hash gets nothing, a different one a report */
	{
		struct proto_status_hash h;
		size_t before;
		const char *hash = json_string_value(json_object_get(last_report(&g, id), "hash"));

		snprintf(h.resourceid, sizeof(h.resourceid), "%s", id);
		snprintf(h.hash, sizeof(h.hash), "%s", hash);
		before = g.nresync;
		assert_int_equal(work_engine_status_resync(g.e, &h, 1), 0);
		ktest_run_for(&G->loop, 200);
		assert_int_equal(g.nresync, before);
		memset(h.hash, 'a', 64);
		assert_int_equal(work_engine_status_resync(g.e, &h, 1), 0);
		ktest_run_for(&G->loop, 200);
		assert_int_equal(g.nresync, before + 1);
		assert_int_equal(work_engine_status_resync(g.e, NULL, 0), 0);
		ktest_run_for(&G->loop, 200);
		assert_int_equal(g.nresync, before + 2);
	}

	/* stop quiesces; start again reloads */
	work_engine_stop(g.e);
	assert_false(work_engine_ready(g.e));
	assert_int_equal(send_spec(&g, PROTO_EV_SPEC_UPDATE, id, 4, "rs", bundle_of(json_array(), NULL)), -ESHUTDOWN);
	g.ready = false;
	assert_int_equal(work_engine_start(g.e, on_ready, &g), 0);
	assert_true(ktest_run_until(&G->loop, &g.ready, WAIT_MS));
	assert_int_equal(work_engine_resync_versions(g.e, &v, &n), 0);
	assert_int_equal(n, 1);
	free(v);
	/* clean up through a delete */
	delete_work(&g, id, 4);
	wait_deleted(&g, id);
	assert_null(get_cm("eng-restart", "r1"));
	free(amw);
	fx_stop(&g);
}

static void test_eviction(void **state)
{
	struct fx f;
	char id[37], id2[37], *amw;
	json_t *m, *rec;
	struct proto_event *ev;
	struct errbuf err;

	ensure_namespace("eng-evict");
	fx_start(&f, "evict", NULL, 1500);
	make_uuid(id);
	make_uuid(id2);
	m = json_array();
	json_array_append_new(m, cm("eng-evict", "e1", "v"));
	apply_work(&f, id, 1, "ev1", bundle_of(m, NULL));
	m = json_array();
	json_array_append_new(m, cm("eng-evict", "e2", "v"));
	apply_work(&f, id2, 1, "ev2", bundle_of(m, NULL));
	wait_applied(&f, id, 1, "True");
	wait_applied(&f, id2, 1, "True");

	/* the hub does not know either */
	ev = proto_event_new_spec_delete(PROTO_EV_SPEC_RESYNC_RESPONSE, "nave-hub", "cluster-1", id, 1, time_now_us());
	assert_int_equal(work_engine_handle_spec(f.e, ev, &err), 0);
	proto_event_free(ev);
	assert_int_equal(work_engine_hub_forgot(f.e, id2), 0);
	amw = amw_name_of(&f, "ev1");
	wait_obj(WORK_AMW_GROUP, "v1", WORK_AMW_RESOURCE, NULL, amw, true, NULL, NULL);
	ktest_run_for(&G->loop, 500);
	rec = get_amw(amw);
	assert_non_null(kobj_get_path(rec, "status.evictionStartTime"));
	json_decref(rec);
	/* still applied during the grace period */
	rec = get_cm("eng-evict", "e1");
	assert_non_null(rec);
	json_decref(rec);

	/* ev2 comes back: its eviction is cancelled */
	m = json_array();
	json_array_append_new(m, cm("eng-evict", "e2", "v"));
	apply_work(&f, id2, 2, "ev2", bundle_of(m, NULL));
	wait_applied(&f, id2, 2, "True");

	/* after the grace period ev1 is deleted, ev2 stays */
	wait_obj("", "v1", "configmaps", "eng-evict", "e1", false, NULL, NULL);
	wait_obj(WORK_AMW_GROUP, "v1", WORK_AMW_RESOURCE, NULL, amw, false, NULL, NULL);
	rec = get_cm("eng-evict", "e2");
	assert_non_null(rec);
	json_decref(rec);
	free(amw);
	amw = amw_name_of(&f, "ev2");
	rec = get_amw(amw);
	assert_null(kobj_get_path(rec, "status.evictionStartTime"));
	json_decref(rec);
	free(amw);
	assert_int_equal(work_engine_hub_forgot(f.e, "00000000-0000-4000-8000-000000000000"), -ENOENT);
	fx_stop(&f);
}

/* Records of this agent written for another hub are evicted. */
static void test_foreign_hub_evicted(void **state)
{
	struct fx f, g;
	char id[37], *amw;
	json_t *m;

	ensure_namespace("eng-foreign");
	fx_start(&f, "foreign", NULL, 0);
	make_uuid(id);
	m = json_array();
	json_array_append_new(m, cm("eng-foreign", "f1", "v"));
	apply_work(&f, id, 1, "fw", bundle_of(m, NULL));
	wait_applied(&f, id, 1, "True");
	amw = amw_name_of(&f, "fw");
	fx_stop(&f);

	/* same agent, a new hub */
	fx_start(&g, "foreign", "0000000000000000000000000000000000000000000000000000000000000001", 800);
	{
		struct proto_resource_version *v = NULL;
		size_t n = 5;

		assert_int_equal(work_engine_resync_versions(g.e, &v, &n), 0);
		assert_int_equal(n, 0);
	}
	wait_obj("", "v1", "configmaps", "eng-foreign", "f1", false, NULL, NULL);
	wait_obj(WORK_AMW_GROUP, "v1", WORK_AMW_RESOURCE, NULL, amw, false, NULL, NULL);
	assert_int_equal(g.nreports, 0); /* nothing to tell this hub */
	free(amw);
	fx_stop(&g);
}

/* ---------------------------------------------------------------------- */
/* the OCM examples                                                        */
/* ---------------------------------------------------------------------- */

/* What each example does; see docs/ocm-compatibility.md. */
struct example {
	const char *file;
	const char *work_check;   /* NULL: the ManifestWork itself is valid; else the field named */
	const char *bundle_check; /* NULL: the bundle passes the wire checks; else the field named */
	const char *outcome;      /* "True": applied; else a substring of the Applied False message;
				   * "True|text": either */
};

static const struct example examples[] = {
	{"ocm-condition-rules-job.yaml", NULL, NULL, "True"},
	{"ocm-delete-orphan.yaml", NULL, NULL, "True"},
	{"ocm-delete-selectively-orphan.yaml", "metadata.namespace, spec.workload", NULL, NULL},
	{"ocm-envsubst-deployment-nodeport.yaml", "metadata.namespace", NULL, "dynamic-scoring"},
	{"ocm-executor-serviceaccount.yaml", NULL, NULL, "spec.executor"},
	{"ocm-feedback-scrape-watch.yaml", "metadata, spec.workload", NULL, NULL},
	{"ocm-feedback-wellknown-jsonpaths.yaml", "metadata, spec.workload", NULL, NULL},
	{"ocm-hello-deployment.yaml", "metadata.namespace", NULL, "True"},
	{"ocm-multiple-manifests-sa-deployment.yaml", NULL, NULL, "True"},
	{"ocm-mwrs-cronjob-rollout-all.yaml", NULL, NULL, "True"},
	{"ocm-mwrs-kueue-cluster-scoped.yaml", NULL, NULL, "ResourceFlavor"},
	{"ocm-mwrs-placement-clustersetbinding.yaml", NULL, NULL, "flower-addon"},
	{"ocm-placement-kueue-tolerations.yaml", "kind", NULL, NULL},
	/* Kubernetes accepts ':' in RBAC names; nave-kubesim (so far) refuses them
	 * as it does other names, naming metadata.name: either outcome passes. */
	{"ocm-rbac-aggregate-clusterrole.yaml", NULL, NULL, "True|metadata.name"},
	{"ocm-rbac-clusterrole-binding.yaml", NULL, NULL, "True|metadata.name"},
	{"ocm-ssa-force-field-manager.yaml", "metadata.namespace", NULL, "spec"},
	{"ocm-ssa-ignore-fields.yaml", "metadata.namespace, spec.workload", NULL, NULL},
	{"ocm-ssa-job-immutable-fields.yaml", NULL, NULL, "True"},
	{"ocm-ttl-job-incomplete-manifest.yaml", NULL, "metadata", NULL},
	{"ocm-ttl-seconds-after-finished.yaml", NULL, NULL, "True"},
};

/* The checks the hub makes on a ManifestWork before it reaches any agent
 * (mirrored here to state what happens to each example as a whole): the
 * fields at fault, comma-separated, into out; "" when it is valid. */
static const char *work_check(const json_t *doc, const char **ret_kind, char *out, size_t outsz)
{
	const char *kind = kobj_kind(doc);
	json_t *md = json_object_get(doc, "metadata");
	json_t *spec = json_object_get(doc, "spec");
	const char *ns;

	*ret_kind = kind;
	out[0] = '\0';
	if (!kind || (strcmp(kind, "ManifestWork") && strcmp(kind, "ManifestWorkReplicaSet"))) {
		snprintf(out, outsz, "kind");
		return out;
	}
	if (!json_is_object(md)) {
		snprintf(out, outsz, "metadata");
	} else {
		ns = json_string_value(json_object_get(md, "namespace"));
		if (!strcmp(kind, "ManifestWork") && (!ns || !kobj_valid_label_name(ns)))
			snprintf(out, outsz, "metadata.namespace");
	}
	if (!strcmp(kind, "ManifestWorkReplicaSet"))
		spec = json_object_get(spec, "manifestWorkTemplate");
	if (!json_is_object(json_object_get(spec, "workload")))
		snprintf(out + strlen(out), outsz - strlen(out), "%sspec.workload", out[0] ? ", " : "");
	return out;
}

static void test_ocm_examples(void **state)
{
	const char *data = getenv("NAVE_TEST_DATA");
	struct fx f;
	size_t i, k;

	if (!data)
		skip();
	ensure_namespace("ocm-example-ns");
	fx_start(&f, "examples", NULL, 0);
	for (i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		const struct example *x = &examples[i];
		char *path = xasprintf("%s/klusterlet/ocm/%s", data, x->file), *text;
		json_t *docs = NULL, *doc, *spec, *bundle, *st;
		const char *checked = NULL, *kind = NULL;
		char fields[128];
		struct errbuf err;
		char id[37];
		FILE *fp = fopen(path, "rb");
		long n;

		if (!fp)
			fail_msg("cannot open %s", path);
		fseek(fp, 0, SEEK_END);
		n = ftell(fp);
		rewind(fp);
		text = xmalloc((size_t)n + 1);
		assert_int_equal(fread(text, 1, (size_t)n, fp), (size_t)n);
		fclose(fp);
		if (yaml_parse_stream(text, (size_t)n, NULL, &err, &docs) < 0)
			fail_msg("%s: %s", x->file, err.msg);
		doc = json_array_get(docs, 0);
		checked = work_check(doc, &kind, fields, sizeof(fields));
		if (strcmp(checked, x->work_check ? x->work_check : ""))
			fail_msg("%s: work check: want %s, got %s", x->file, x->work_check ? x->work_check : "ok",
				 *checked ? checked : "ok");
		/* the other documents of a stream are hub objects (Placement, ...) */
		for (k = 1; k < json_array_size(docs); k++) {
			const char *kk = NULL;
			char ff[128];

			assert_string_equal(work_check(json_array_get(docs, k), &kk, ff, sizeof(ff)), "kind");
		}
		spec = json_object_get(doc, "spec");
		if (kind && !strcmp(kind, "ManifestWorkReplicaSet"))
			spec = json_object_get(spec, "manifestWorkTemplate");
		if (!x->outcome) {
			/* nothing to apply: the spec itself is unusable, or not a work */
			free(text);
			free(path);
			json_decref(docs);
			continue;
		}
		bundle = proto_bundle_from_work_spec(spec);
		if (proto_bundle_check(bundle, NULL, &err) < 0) {
			if (!x->bundle_check || !strstr(err.msg, x->bundle_check))
				fail_msg("%s: bundle check: %s", x->file, err.msg);
			json_decref(bundle);
			free(text);
			free(path);
			json_decref(docs);
			continue;
		}
		assert_null(x->bundle_check);
		make_uuid(id);
		apply_work(&f, id, 1, kobj_name(doc), bundle);
		if (!strcmp(x->outcome, "True")) {
			wait_applied(&f, id, 1, "True");
			printf("  %-45s applied\n", x->file);
		} else {
			const char *want = strncmp(x->outcome, "True|", 5) ? x->outcome : x->outcome + 5;
			struct applied_ctx c1 = { &f, id, 1, "True" }, c2 = { &f, id, 1, "False" };
			const char *msg;

			if (!run_until(applied_pred, &c2, WAIT_MS) && !(want != x->outcome && applied_pred(&c1)))
				fail_msg("%s: no Applied=False report", x->file);
			if (applied_pred(&c1)) {
				assert_true(want != x->outcome);
				printf("  %-45s applied\n", x->file);
			} else {
				st = last_status(&f, id);
				msg = json_string_value(json_object_get(cond_of(json_object_get(st, "conditions"), "Applied"),
									"message"));
				if (!strstr(msg, want))
					fail_msg("%s: Applied message does not name %s: %s", x->file, want, msg);
				printf("  %-45s Applied=False: %s\n", x->file, msg);
			}
		}
		/* leave the spoke clean for the next example */
		delete_work(&f, id, 2);
		wait_deleted(&f, id);
		free(text);
		free(path);
		json_decref(docs);
	}
	/* the incomplete-manifest example is refused on the wire with the field */
	{
		json_t *b = JQ("{'manifests':[{'apiVersion':'batch/v1','kind':'Job'}]}");
		struct errbuf err;

		assert_int_equal(proto_bundle_check(b, NULL, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "manifests[0].metadata"));
		json_decref(b);
	}
	fx_stop(&f);
}

/* Every example file is in the table (and the table has no strays). */
static void test_examples_listed(void **state)
{
	const char *data = getenv("NAVE_TEST_DATA");
	char *dir;
	DIR *d;
	struct dirent *de;
	size_t files = 0, i;

	if (!data)
		skip();
	dir = xasprintf("%s/klusterlet/ocm", data);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d))) {
		bool found = false;

		if (!strstr(de->d_name, ".yaml"))
			continue;
		files++;
		for (i = 0; i < sizeof(examples) / sizeof(examples[0]); i++)
			if (!strcmp(examples[i].file, de->d_name))
				found = true;
		if (!found)
			fail_msg("%s is not in the examples table", de->d_name);
	}
	closedir(d);
	assert_int_equal(files, sizeof(examples) / sizeof(examples[0]));
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_crd_file),
		cmocka_unit_test(test_apply_order_owners_record),
		cmocka_unit_test(test_update_remove_stale),
		cmocka_unit_test(test_delete_foreground),
		cmocka_unit_test(test_delete_orphan),
		cmocka_unit_test(test_delete_selectively_orphan),
		cmocka_unit_test(test_shared_object),
		cmocka_unit_test(test_strategies),
		cmocka_unit_test(test_drift),
		cmocka_unit_test(test_feedback_deployment),
		cmocka_unit_test(test_feedback_workloads),
		cmocka_unit_test(test_crd_in_same_work),
		cmocka_unit_test(test_unknown_kind_and_namespace),
		cmocka_unit_test(test_executor_refused),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_foreign_hub_evicted),
		cmocka_unit_test(test_examples_listed),
		cmocka_unit_test(test_ocm_examples),
	};
	const char *bin = getenv("NAVE_KUBESIM");

	if (!bin || !*bin) {
		fprintf(stderr, "NAVE_KUBESIM not set; skipping\n");
		return 77;
	}
	return cmocka_run_group_tests_name("klusterlet_engine", tests, group_setup, group_teardown);
}
