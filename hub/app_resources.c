/* app_resources.c - the core.oam.dev/v1beta1 resources and their admission.
 *
 * Six namespaced custom resources (app.h "RESOURCES"), with KubeVela's
 * short names, the "oam" category and printer columns like KubeVela's CRDs:
 *   - Application: admitted through app_check with the hub's live definition
 *     registry (built-ins plus users' definitions, kept by the controller),
 *     so an unknown type or trait, a missing or mistyped parameter, a trait
 *     that does not apply, an override naming nothing... is a 422 naming
 *     the field. Only requests from the REST API are checked, and only when
 *     the spec changed: the controller's own writes (finalizers, the
 *     rollback's spec, which is a past revision's) are not re-judged
 *     against definitions that may have changed since;
 *   - ComponentDefinition, TraitDefinition: appdef_parse (the Nave
 *     schematic; CUE refused naming docs/definitions.md);
 *   - ApplicationRevision: read-only for users (verbs get, list, watch); the
 *     controller writes them through the internal API, which checks no verbs;
 *   - WorkflowStepDefinition, PolicyDefinition: served so KubeVela's files
 *     apply, but Nave's steps and policies are built in: an object with a
 *     CUE schematic is refused, naming docs/kubevela-compatibility.md.
 * Status writes are never checked here (the controller makes them).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "app_int.h"
#include "kobj.h"

static bool status_write(const struct kapi_admit_req *rq)
{
	return rq->subresource && !strcmp(rq->subresource, "status");
}

static bool skip(const struct kapi_admit_req *rq)
{
	return rq->op == KAPI_OP_DELETE || status_write(rq) || !rq->new_obj || !rq->http;
}

static bool same(const json_t *a, const json_t *b, const char *path)
{
	json_t *x = a ? kobj_get_path(a, path) : NULL, *y = b ? kobj_get_path(b, path) : NULL;

	return (!x && !y) || (x && y && json_equal(x, y));
}

static int admit_app(void *data, const struct kapi_admit_req *rq, struct errbuf *err)
{
	struct hub *h = data;
	const char *name;

	if (skip(rq))
		return 0;
	if (rq->op == KAPI_OP_UPDATE && same(rq->old_obj, rq->new_obj, "spec"))
		return 0; /* metadata only */
	name = kobj_name(rq->new_obj);
	if (name && strlen(name) > APP_NAME_MAX)
		return errbuf_set(err, -EINVAL,
				  "metadata.name: Invalid value: \"%.40s...\": must be no more than %d characters (it is "
				  "the value of the label %s)", name, APP_NAME_MAX, APP_LABEL_NAME);
	return app_check(rq->new_obj, app_ctl_defs(h), err);
}

static int admit_def(void *data, const struct kapi_admit_req *rq, struct errbuf *err)
{
	struct appdef *d = NULL;
	int r;

	if (skip(rq))
		return 0;
	if (rq->op == KAPI_OP_UPDATE && same(rq->old_obj, rq->new_obj, "spec"))
		return 0;
	r = appdef_parse(rq->new_obj, err, &d);
	appdef_free(d);
	return r;
}

static int admit_builtin_def(void *data, const struct kapi_admit_req *rq, struct errbuf *err)
{
	const char *kind = data;

	if (skip(rq))
		return 0;
	if (kobj_get_path(rq->new_obj, "spec.schematic.cue"))
		return errbuf_set(err, -EINVAL,
				  "spec.schematic.cue: Unsupported value: CUE schematics are not supported by Nave: its "
				  "%s are built in (see docs/kubevela-compatibility.md)", kind);
	return 0;
}

static int reg(struct hub *h, struct kapi_resource_def *d, const char *cols)
{
	json_error_t je;
	json_t *pc = cols ? json_loads(cols, 0, &je) : NULL;
	int r;

	d->printer_columns = pc;
	r = kapi_server_register(h->kapi, d, NULL);
	json_decref(pc);
	return r;
}

#define DESCRIPTION_COL                                                                                      \
	"{\"name\":\"Description\",\"type\":\"string\","                                                     \
	"\"jsonPath\":\".metadata.annotations['definition.oam.dev/description']\"}"
#define AGE_COL "{\"name\":\"Age\",\"type\":\"date\",\"jsonPath\":\".metadata.creationTimestamp\"}"

/* See app.h. */
int app_resources_register(struct hub *h)
{
	static const char *const oam[] = {"oam", NULL};
	static const char *const app_short[] = {"app", NULL};
	static const char *const rev_short[] = {"apprev", NULL};
	static const char *const comp_short[] = {"comp", NULL};
	static const char *const trait_short[] = {"trait", NULL};
	static const char *const step_short[] = {"workflowstep", NULL};
	static const char *const pol_short[] = {"def-policy", NULL};
	struct kapi_resource_def apps = {
		.group = APP_GROUP, .version = APP_VERSION, .resource = APP_RES_APPS, .singular = "application",
		.kind = "Application", .short_names = app_short, .categories = oam, .namespaced = true,
		.verbs = KAPI_VERBS_ALL, .has_status = true, .generation = KAPI_GEN_NOT_METADATA, .custom = true,
		.admit = admit_app, .admit_data = h,
	};
	struct kapi_resource_def revs = {
		.group = APP_GROUP, .version = APP_VERSION, .resource = APP_RES_REVISIONS,
		.singular = "applicationrevision", .kind = "ApplicationRevision", .short_names = rev_short,
		.categories = oam, .namespaced = true, .verbs = KAPI_VERBS_READ, .has_status = true,
		.generation = KAPI_GEN_NOT_METADATA, .custom = true,
	};
	struct kapi_resource_def comps = {
		.group = APP_GROUP, .version = APP_VERSION, .resource = APP_RES_COMPDEFS,
		.singular = "componentdefinition", .kind = "ComponentDefinition", .short_names = comp_short,
		.categories = oam, .namespaced = true, .verbs = KAPI_VERBS_ALL, .has_status = true,
		.generation = KAPI_GEN_NOT_METADATA, .custom = true, .admit = admit_def, .admit_data = h,
	};
	struct kapi_resource_def traits = {
		.group = APP_GROUP, .version = APP_VERSION, .resource = APP_RES_TRAITDEFS,
		.singular = "traitdefinition", .kind = "TraitDefinition", .short_names = trait_short,
		.categories = oam, .namespaced = true, .verbs = KAPI_VERBS_ALL, .has_status = true,
		.generation = KAPI_GEN_NOT_METADATA, .custom = true, .admit = admit_def, .admit_data = h,
	};
	struct kapi_resource_def steps = {
		.group = APP_GROUP, .version = APP_VERSION, .resource = APP_RES_STEPDEFS,
		.singular = "workflowstepdefinition", .kind = "WorkflowStepDefinition", .short_names = step_short,
		.categories = oam, .namespaced = true, .verbs = KAPI_VERBS_ALL, .has_status = true,
		.generation = KAPI_GEN_NOT_METADATA, .custom = true, .admit = admit_builtin_def,
		.admit_data = (void *)"workflow steps",
	};
	struct kapi_resource_def pols = {
		.group = APP_GROUP, .version = APP_VERSION, .resource = APP_RES_POLICYDEFS,
		.singular = "policydefinition", .kind = "PolicyDefinition", .short_names = pol_short,
		.categories = oam, .namespaced = true, .verbs = KAPI_VERBS_ALL, .has_status = true,
		.generation = KAPI_GEN_NOT_METADATA, .custom = true, .admit = admit_builtin_def,
		.admit_data = (void *)"policies",
	};
	int r;

	if ((r = reg(h, &apps,
		     "[{\"name\":\"Component\",\"type\":\"string\",\"jsonPath\":\".spec.components[*].name\"},"
		     "{\"name\":\"Type\",\"type\":\"string\",\"jsonPath\":\".spec.components[*].type\"},"
		     "{\"name\":\"Phase\",\"type\":\"string\",\"jsonPath\":\".status.status\"},"
		     "{\"name\":\"Healthy\",\"type\":\"boolean\",\"jsonPath\":\".status.services[*].healthy\"},"
		     "{\"name\":\"Status\",\"type\":\"string\",\"jsonPath\":\".status.services[*].message\"},"
		     AGE_COL "]")) < 0 ||
	    (r = reg(h, &revs,
		     "[{\"name\":\"Revision\",\"type\":\"integer\",\"jsonPath\":\".spec.revision\"},"
		     "{\"name\":\"Publish-Version\",\"type\":\"string\",\"jsonPath\":\".spec.publishVersion\"},"
		     "{\"name\":\"Succeeded\",\"type\":\"boolean\",\"jsonPath\":\".status.succeeded\"},"
		     "{\"name\":\"Hash\",\"type\":\"string\","
		     "\"jsonPath\":\".metadata.labels['app.oam.dev/app-revision-hash']\"},"
		     AGE_COL "]")) < 0 ||
	    (r = reg(h, &comps,
		     "[{\"name\":\"Workload-Kind\",\"type\":\"string\",\"jsonPath\":\".spec.workload.definition.kind\"},"
		     DESCRIPTION_COL "," AGE_COL "]")) < 0 ||
	    (r = reg(h, &traits,
		     "[{\"name\":\"Applies-To\",\"type\":\"string\",\"jsonPath\":\".spec.appliesToWorkloads\"},"
		     DESCRIPTION_COL "," AGE_COL "]")) < 0 ||
	    (r = reg(h, &steps, "[" DESCRIPTION_COL "," AGE_COL "]")) < 0 ||
	    (r = reg(h, &pols, "[" DESCRIPTION_COL "," AGE_COL "]")) < 0)
		return r;
	return 0;
}
