/* app_revision.c - ApplicationRevisions: made, reused, pruned, loaded.
 *
 * A revision is a snapshot of the Application (metadata and spec as
 * submitted) and of every definition it uses (component types, the traits
 * of its components and of its override policies), named "<app>-v<N>".
 * The hash (app_revision_hash) covers the spec and those definitions. A
 * reconcile asks for the revision of the application as it is now: the
 * latest revision is reused when its hash and publish version match (a
 * cheap get), else any older revision that matches (a rollback makes the
 * spec equal to an old revision's), else a new one is created with the
 * next number. Numbers only grow: the next is one more than the highest
 * seen in status.latestRevision, in memory and among the stored ones.
 *
 * A workflow runs ONE revision (status.workflow.appRevision) and renders
 * from the revision's own spec and definitions (struct app_run), never from
 * the live objects: a revision-only change, a definition edited since, or
 * a hub restart cannot change what a running workflow deploys.
 *
 * The label app.oam.dev/app-revision-hash holds the first 16 hex digits of
 * the hash (a label value is at most 63 characters; KubeVela's hash is 16
 * digits too); spec.revisionHash holds all 64.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "app_int.h"
#include "kobj.h"
#include "log.h"
#include "timefmt.h"

#define REV_LABEL_HASH_LEN 16
#define REV_CREATE_TRIES 8

static const struct kapi_write_opts rev_opts = {.field_manager = APP_FIELD_MANAGER};

/* See app_int.h. */
int app_revision_name(const char *app, const char *in, char *out, size_t outlen)
{
	size_t al = strlen(app);
	const char *num = NULL;

	if (!in || !*in)
		return -EINVAL;
	if (!strncmp(in, app, al) && in[al] == '-' && in[al + 1] == 'v')
		num = in + al + 2;
	else if (in[0] == 'v')
		num = in + 1;
	else if (in[0] >= '0' && in[0] <= '9')
		num = in;
	if (!num || !*num || strlen(num) > 18)
		return -EINVAL;
	for (const char *p = num; *p; p++)
		if (*p < '0' || *p > '9')
			return -EINVAL;
	if ((size_t)snprintf(out, outlen, "%s-v%lld", app, strtoll(num, NULL, 10)) >= outlen)
		return -EINVAL;
	return 0;
}

/* The number N of "<app>-vN", or 0. */
static int64_t rev_number(const json_t *rev)
{
	json_t *n = kobj_get_path(rev, "spec.revision");

	return json_is_integer(n) ? json_integer_value(n) : 0;
}

/* A definition as recorded: apiVersion, kind, metadata (name, namespace,
 * labels, annotations) and spec. New reference. */
static json_t *def_snapshot(const json_t *obj)
{
	json_t *md = json_object_get(obj, "metadata"), *nmd = json_object(), *out;
	static const char *const keep[] = {"name", "namespace", "labels", "annotations", NULL};

	for (const char *const *k = keep; *k; k++) {
		json_t *v = json_object_get(md, *k);

		if (v)
			json_object_set(nmd, *k, v);
	}
	if (json_object_get(nmd, "annotations")) {
		json_t *a = json_copy(json_object_get(nmd, "annotations"));

		json_object_del(a, "kubectl.kubernetes.io/last-applied-configuration");
		json_object_set_new(nmd, "annotations", a);
	}
	out = json_pack("{s:O?, s:O?, s:o, s:O?}", "apiVersion", json_object_get(obj, "apiVersion"), "kind",
			json_object_get(obj, "kind"), "metadata", nmd, "spec", json_object_get(obj, "spec"));
	return out;
}

/* Collect the definitions spec uses from the live registry: compdefs and
 * traitdefs (name -> snapshot), used (for the hash). -EINVAL naming the
 * field of the first unknown type. */
static int defs_used(struct app_ctl *ctl, const struct app_spec *spec, struct errbuf *err, json_t *compdefs,
		     json_t *traitdefs, json_t *used)
{
	const char *ns = spec->namespace_;
	char key[300];

	for (size_t i = 0; i < spec->ncomponents; i++) {
		const struct app_component *c = &spec->components[i];
		const struct appdef *d = appdef_registry_get(ctl->defs, APPDEF_COMPONENT, ns, c->type);

		if (!d)
			return errbuf_set(err, -EINVAL,
					  "spec.components[%zu].type: Unsupported value: \"%s\": no ComponentDefinition of "
					  "that name in %s, %s or the built-ins", i, c->type, ns, APP_SYSTEM_NAMESPACE);
		if (!json_object_get(compdefs, c->type)) {
			json_t *snap = def_snapshot(appdef_object(d));

			snprintf(key, sizeof(key), "component/%s", c->type);
			json_object_set(used, key, json_object_get(snap, "spec"));
			json_object_set_new(compdefs, c->type, snap);
		}
		for (size_t j = 0; j < c->ntraits; j++) {
			const char *t = c->traits[j].type;

			if (json_object_get(traitdefs, t))
				continue;
			d = appdef_registry_get(ctl->defs, APPDEF_TRAIT, ns, t);
			if (!d)
				return errbuf_set(err, -EINVAL,
						  "spec.components[%zu].traits[%zu].type: Unsupported value: \"%s\": no "
						  "TraitDefinition of that name in %s, %s or the built-ins", i, j, t, ns,
						  APP_SYSTEM_NAMESPACE);
			snprintf(key, sizeof(key), "trait/%s", t);
			json_object_set_new(traitdefs, t, def_snapshot(appdef_object(d)));
			json_object_set(used, key, kobj_get_path(json_object_get(traitdefs, t), "spec"));
		}
	}
	for (size_t i = 0; i < spec->npolicies; i++) {
		const struct app_policy *p = &spec->policies[i];

		if (p->kind != APP_POLICY_OVERRIDE)
			continue;
		for (size_t e = 0; e < p->override.nentries; e++) {
			const struct app_override_entry *oe = &p->override.entries[e];

			for (size_t j = 0; j < oe->ntraits; j++) {
				const char *t = oe->traits[j].type;
				const struct appdef *d;

				if (json_object_get(traitdefs, t))
					continue;
				d = appdef_registry_get(ctl->defs, APPDEF_TRAIT, ns, t);
				if (!d) {
					if (oe->traits[j].disable)
						continue;
					return errbuf_set(err, -EINVAL,
							  "spec.policies[%zu].properties.components[%zu].traits[%zu].type: "
							  "Unsupported value: \"%s\": no TraitDefinition of that name", i,
							  e, j, t);
				}
				snprintf(key, sizeof(key), "trait/%s", t);
				json_object_set_new(traitdefs, t, def_snapshot(appdef_object(d)));
				json_object_set(used, key, kobj_get_path(json_object_get(traitdefs, t), "spec"));
			}
		}
	}
	return 0;
}

static bool rev_matches(const json_t *rev, const char *app, const char *hash, const char *pv)
{
	const char *h = json_string_value(kobj_get_path(rev, "spec.revisionHash"));
	const char *p = json_string_value(kobj_get_path(rev, "spec.publishVersion"));
	const char *owner = kobj_label(rev, APP_LABEL_NAME);

	if (!h || strcmp(h, hash) || !owner || strcmp(owner, app))
		return false;
	return (!p && !pv) || (p && pv && !strcmp(p, pv));
}

/* A copy of the Application's metadata worth recording. */
static json_t *app_meta(const json_t *app)
{
	json_t *md = json_object(), *a = kobj_annotations(app), *l = kobj_labels(app);

	json_object_set_new(md, "name", json_string(kobj_name(app)));
	json_object_set_new(md, "namespace", json_string(kobj_namespace(app)));
	if (l)
		json_object_set(md, "labels", l);
	if (a) {
		json_t *c = json_copy(a);

		json_object_del(c, "kubectl.kubernetes.io/last-applied-configuration");
		json_object_set_new(md, "annotations", c);
	}
	return md;
}

static int rev_create(struct app_ctl *ctl, const json_t *app, const struct app_spec *spec, const char *hash,
		      int64_t n, json_t *compdefs, json_t *traitdefs, struct errbuf *err)
{
	char name[300], hl[REV_LABEL_HASH_LEN + 1];
	json_t *obj;
	int r;

	snprintf(name, sizeof(name), "%s-v%lld", kobj_name(app), (long long)n);
	snprintf(hl, sizeof(hl), "%.*s", REV_LABEL_HASH_LEN, hash);
	obj = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}}, s:{s:I, s:{s:o, s:O}, s:O, s:O, s:s, s:b}, "
			"s:{s:b, s:s}}",
			"apiVersion", APP_API_VERSION, "kind", "ApplicationRevision",
			"metadata", "name", name, "namespace", kobj_namespace(app), "labels", APP_LABEL_NAME,
			kobj_name(app), APP_LABEL_REVISION_HASH, hl,
			"spec", "revision", (json_int_t)n, "application", "metadata", app_meta(app), "spec",
			json_object_get(app, "spec"), "componentDefinitions", compdefs, "traitDefinitions", traitdefs,
			"revisionHash", hash, "revisionOnly", spec->revision_only,
			"status", "succeeded", 0, "workflowPhase", "");
	if (spec->publish_version)
		json_object_set_new(json_object_get(obj, "spec"), "publishVersion", json_string(spec->publish_version));
	if (kobj_uid(app))
		kobj_add_owner_ref(obj, APP_API_VERSION, "Application", kobj_name(app), kobj_uid(app), true);
	r = kapi_create(ctl->kapi, APP_GROUP, APP_RES_REVISIONS, kobj_namespace(app), obj, &rev_opts, err, NULL);
	json_decref(obj);
	return r;
}

/* See app_int.h. */
int app_revision_sync(struct app_ctl *ctl, struct app_state *st, const json_t *app, const struct app_spec *spec,
		      struct errbuf *err, char **ret_name, int64_t *ret_rev, char *ret_hash)
{
	json_t *compdefs = json_object(), *traitdefs = json_object(), *used = json_object();
	json_t *latest = NULL, *items = NULL, *x, *best = NULL;
	const char *latest_name = json_string_value(kobj_get_path(app, "status.latestRevision.name"));
	json_t *lrev = kobj_get_path(app, "status.latestRevision.revision");
	char hash[65], sel[400];
	int64_t n = 0;
	size_t i;
	int r;

	if ((r = defs_used(ctl, spec, err, compdefs, traitdefs, used)) < 0)
		goto out;
	app_revision_hash(json_object_get(app, "spec"), used, hash);
	if (json_is_integer(lrev) && json_integer_value(lrev) > st->max_rev)
		st->max_rev = json_integer_value(lrev);
	/* the fast path: the latest revision still describes the app */
	if (latest_name && kapi_get(ctl->kapi, APP_GROUP, APP_RES_REVISIONS, st->ns, latest_name, NULL, &latest) == 0 &&
	    rev_matches(latest, st->name, hash, spec->publish_version)) {
		best = latest;
		goto found;
	}
	snprintf(sel, sizeof(sel), "%s=%s", APP_LABEL_NAME, st->name);
	if ((r = kapi_list(ctl->kapi, APP_GROUP, APP_RES_REVISIONS, st->ns, sel, NULL, err, &items)) < 0)
		goto out;
	json_array_foreach(items, i, x) {
		if (rev_number(x) > st->max_rev)
			st->max_rev = rev_number(x);
		if (rev_matches(x, st->name, hash, spec->publish_version) && (!best || rev_number(x) > rev_number(best)))
			best = x;
	}
	if (best)
		goto found;
	for (int tries = 0; tries < REV_CREATE_TRIES; tries++) {
		n = ++st->max_rev;
		r = rev_create(ctl, app, spec, hash, n, compdefs, traitdefs, err);
		if (r != -EEXIST)
			break;
	}
	if (r < 0)
		goto out;
	log_info("application %s/%s: revision %s-v%lld (hash %.16s)", st->ns, st->name, st->name, (long long)n, hash);
	*ret_name = xasprintf("%s-v%lld", st->name, (long long)n);
	*ret_rev = n;
	memcpy(ret_hash, hash, 65);
	app_revisions_prune(ctl, st->ns, st->name, *ret_name,
			    json_string_value(kobj_get_path(app, "status.workflow.appRevision")));
	goto out;
found:
	*ret_name = xstrdup(kobj_name(best));
	*ret_rev = rev_number(best);
	memcpy(ret_hash, hash, 65);
	r = 0;
out:
	json_decref(latest);
	json_decref(items);
	json_decref(compdefs);
	json_decref(traitdefs);
	json_decref(used);
	return r;
}

static int cmp_rev_desc(const void *a, const void *b)
{
	int64_t x = rev_number(*(json_t *const *)a), y = rev_number(*(json_t *const *)b);

	return x < y ? 1 : x > y ? -1 : 0;
}

/* See app_int.h. */
void app_revisions_prune(struct app_ctl *ctl, const char *ns, const char *name, const char *keep_a,
			 const char *keep_b)
{
	json_t *items = NULL, **v = NULL;
	char sel[400];
	size_t n, i, kept = 0;

	snprintf(sel, sizeof(sel), "%s=%s", APP_LABEL_NAME, name);
	if (kapi_list(ctl->kapi, APP_GROUP, APP_RES_REVISIONS, ns, sel, NULL, NULL, &items) < 0)
		return;
	n = json_array_size(items);
	if (n <= (size_t)ctl->keep)
		goto out;
	v = xcalloc(n, sizeof(*v));
	for (i = 0; i < n; i++)
		v[i] = json_array_get(items, i);
	qsort(v, n, sizeof(*v), cmp_rev_desc);
	for (i = 0; i < n; i++) {
		const char *rn = kobj_name(v[i]);
		bool pinned = (keep_a && !strcmp(rn, keep_a)) || (keep_b && !strcmp(rn, keep_b));

		if (pinned || kept < (size_t)ctl->keep) {
			kept++;
			continue;
		}
		if (kapi_delete(ctl->kapi, APP_GROUP, APP_RES_REVISIONS, ns, rn, NULL, NULL, NULL) == 0)
			log_debug("application %s/%s: revision %s pruned", ns, name, rn);
	}
out:
	free(v);
	json_decref(items);
}

/* See app_int.h. */
void app_revisions_delete(struct app_ctl *ctl, const char *ns, const char *name)
{
	json_t *items = NULL, *x;
	char sel[400];
	size_t i;

	snprintf(sel, sizeof(sel), "%s=%s", APP_LABEL_NAME, name);
	if (kapi_list(ctl->kapi, APP_GROUP, APP_RES_REVISIONS, ns, sel, NULL, NULL, &items) < 0)
		return;
	json_array_foreach(items, i, x)
		kapi_delete(ctl->kapi, APP_GROUP, APP_RES_REVISIONS, ns, kobj_name(x), NULL, NULL, NULL);
	json_decref(items);
}

/* See app_int.h. */
void app_revision_set_outcome(struct app_ctl *ctl, const char *ns, const char *rev_name, const char *phase,
			      bool succeeded)
{
	json_t *rev = NULL, *st;
	char now[TIMEFMT_MAX];
	struct errbuf err;

	if (kapi_get(ctl->kapi, APP_GROUP, APP_RES_REVISIONS, ns, rev_name, NULL, &rev) < 0)
		return;
	st = json_object_get(rev, "status");
	if (!json_is_object(st)) {
		st = json_object();
		json_object_set_new(rev, "status", st);
	}
	if (json_is_boolean(json_object_get(st, "succeeded")) &&
	    json_is_true(json_object_get(st, "succeeded")) == succeeded &&
	    json_is_string(json_object_get(st, "workflowPhase")) &&
	    !strcmp(json_string_value(json_object_get(st, "workflowPhase")), phase))
		goto out;
	json_object_set_new(st, "succeeded", json_boolean(succeeded));
	json_object_set_new(st, "workflowPhase", json_string(phase));
	if (succeeded)
		json_object_set_new(st, "deployedTime", json_string(time_format_rfc3339(time_now_us(), now)));
	if (kapi_update_status(ctl->kapi, APP_GROUP, APP_RES_REVISIONS, rev, &rev_opts, &err, NULL) < 0)
		log_warn("revision %s/%s: cannot record the workflow's outcome: %s", ns, rev_name, err.msg);
out:
	json_decref(rev);
}

/* See app_int.h. */
struct app_run *app_run_free(struct app_run *run)
{
	struct app_run *n;

	for (; run; run = n) {
		n = run->next;
		free(run->rev_name);
		json_decref(run->app_obj);
		app_spec_free(run->spec);
		appdef_registry_free(run->defs);
		free(run);
	}
	return NULL;
}

static int load_defs(struct appdef_registry *reg, const char *ns, const json_t *defs, const char *field,
		     struct errbuf *err)
{
	const char *name;
	json_t *obj;

	json_object_foreach((json_t *)defs, name, obj) {
		struct appdef *d = NULL;
		int r;

		if ((r = appdef_parse(obj, err, &d)) < 0) {
			errbuf_prefix(err, "%s.%s", field, name);
			return r;
		}
		if ((r = appdef_registry_put(reg, ns, d)) < 0)
			return errbuf_set(err, r, "%s.%s: cannot load the definition", field, name);
	}
	return 0;
}

/* See app_int.h. */
int app_run_load(struct app_ctl *ctl, const char *ns, const char *rev_name, struct errbuf *err,
		 struct app_run **ret_run)
{
	struct app_run *run = xnew(struct app_run);
	json_t *rev = NULL, *md;
	int r;

	if ((r = kapi_get(ctl->kapi, APP_GROUP, APP_RES_REVISIONS, ns, rev_name, err, &rev)) < 0) {
		errbuf_set(err, r, "revision %s: %s", rev_name, r == -ENOENT ? "not found" : "cannot be read");
		goto fail;
	}
	md = json_deep_copy(kobj_get_path(rev, "spec.application.metadata"));
	if (!json_is_object(md)) {
		json_decref(md);
		md = json_object();
	}
	json_object_set_new(md, "namespace", json_string(ns));
	run->app_obj = json_pack("{s:s, s:s, s:o, s:O?}", "apiVersion", APP_API_VERSION, "kind", "Application",
				 "metadata", md, "spec", kobj_get_path(rev, "spec.application.spec"));
	if (!json_object_get(md, "name")) {
		r = errbuf_set(err, -EINVAL, "revision %s: spec.application.metadata.name: Required value", rev_name);
		goto fail;
	}
	if ((r = app_spec_parse(run->app_obj, err, &run->spec)) < 0) {
		errbuf_prefix(err, "revision %s", rev_name);
		goto fail;
	}
	if ((r = appdef_registry_new(&run->defs)) < 0 ||
	    (r = load_defs(run->defs, ns, kobj_get_path(rev, "spec.componentDefinitions"),
			   "spec.componentDefinitions", err)) < 0 ||
	    (r = load_defs(run->defs, ns, kobj_get_path(rev, "spec.traitDefinitions"), "spec.traitDefinitions",
			   err)) < 0) {
		errbuf_prefix(err, "revision %s", rev_name);
		goto fail;
	}
	run->rev_name = xstrdup(rev_name);
	run->rev = rev_number(rev);
	json_decref(rev);
	*ret_run = run;
	return 0;
fail:
	json_decref(rev);
	app_run_free(run);
	return r;
}

/* See app_int.h. */
const struct app_run *app_run_other(struct app_ctl *ctl, struct app_run *run, const char *rev, struct errbuf *err)
{
	char name[300];
	struct app_run *o;

	if (app_revision_name(run->spec->name, rev, name, sizeof(name)) < 0) {
		errbuf_set(err, -EINVAL, "revision \"%s\": expected <app>-vN or vN", rev);
		return NULL;
	}
	if (!strcmp(name, run->rev_name))
		return run;
	for (o = run->next; o; o = o->next)
		if (!strcmp(o->rev_name, name))
			return o;
	if (app_run_load(ctl, run->spec->namespace_, name, err, &o) < 0)
		return NULL;
	o->next = run->next;
	run->next = o;
	return o;
}
