/* appdef.c - parsing ComponentDefinitions and TraitDefinitions written in
 * the Nave schematic (appdef.h has the format; docs/definitions.md is the
 * manual), and the accessors of a parsed definition.
 *
 * A parsed definition keeps a deep copy of its object and points into it;
 * it never changes afterwards, so renders may share it freely. Parsing
 * checks everything that can be checked without parameters: the shape of
 * the schematic, the parameter schema (appdef_schema.c), the syntax of
 * every template and expression (tmpl_check), the feedback JSONPaths, and
 * the caps of appdef.h and appdef_int.h. Messages name the field in the
 * definition ("spec.schematic.nave.output.spec.replicas: ${...}: ...").
 *
 * Pure functions; run on the hub's loop.
 */
#include "appdef_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "jsonpath.h"
#include "kobj.h"
#include "tmpl.h"

#define NAVE_PATH "spec.schematic.nave"
#define DESCRIPTION_ANNOTATION "definition.oam.dev/description"

static const char *const component_keys[] = {"parameters", "let", "checks", "output", "outputs", "status", NULL};
static const char *const trait_keys[] = {"parameters", "let", "checks", "patch", "patchOutputs", "outputs", "status",
					 NULL};

/* Whether s is a name a template can use after "let.": [A-Za-z_][A-Za-z0-9_-]*. */
static bool ident_valid(const char *s)
{
	const char *p;

	if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
		return false;
	for (p = s + 1; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-'))
			return false;
	return p - s <= APPDEF_NAME_MAX;
}

static bool in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return true;
	return false;
}

static void list_phrase(const char *const *list, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (; *list && n < size; list++)
		n += (size_t)snprintf(out + n, size - n, "%s%s", n ? ", " : "", *list);
}

/* See appdef.h. */
void appdef_kind_plural(const char *kind, char *out, size_t outlen)
{
	char low[APPDEF_KIND_PLURAL_MAX - 3];
	size_t n;

	for (n = 0; kind && kind[n] && n < sizeof(low) - 1; n++)
		low[n] = (char)tolower((unsigned char)kind[n]);
	low[n] = '\0';
	/* kubectl's guess (and the apiserver's for CRDs without a plural):
	 * "policy" -> "policies", "ingress" -> "ingresses", else + "s". */
	if (n > 1 && low[n - 1] == 'y' && !strchr("aeiou", low[n - 2]))
		snprintf(out, outlen, "%.*sies", (int)(n - 1), low);
	else if ((n && (low[n - 1] == 's' || low[n - 1] == 'x')) ||
		 (n > 1 && low[n - 1] == 'h' && (low[n - 2] == 'c' || low[n - 2] == 's')))
		snprintf(out, outlen, "%ses", low);
	else
		snprintf(out, outlen, "%ss", low);
}

/* See appdef.h. */
int appdef_workload_type_for(const char *api_version, const char *kind, char *out, size_t outlen)
{
	char group[254], version[254], plural[APPDEF_KIND_PLURAL_MAX];

	if (!api_version || !kind || !*kind || strlen(kind) > 200 || !out ||
	    kobj_split_api_version(api_version, group, version) < 0)
		return -EINVAL;
	appdef_kind_plural(kind, plural, sizeof(plural));
	if ((size_t)snprintf(out, outlen, "%s%s%s", plural, *group ? "." : "", group) >= outlen)
		return -EINVAL;
	return 0;
}

/* Check a string field that must hold a template string ("a ${x} b"). */
static int check_string_template(const json_t *v, const char *path, struct errbuf *err)
{
	if (!json_is_string(v))
		return errbuf_set(err, -EINVAL, "%s: Invalid value: must be a string", path);
	return tmpl_check(v, path, err);
}

static int check_expr_field(const json_t *v, const char *path, struct errbuf *err)
{
	int r;

	if (!json_is_string(v))
		return errbuf_set(err, -EINVAL, "%s: Invalid value: must be a string holding an expression", path);
	r = tmpl_check_expr(json_string_value(v), err);
	if (r < 0)
		errbuf_prefix(err, "%s", path);
	return r;
}

static int check_string_list(const json_t *v, const char *path, struct errbuf *err)
{
	const json_t *e;
	size_t i;

	if (!json_is_array(v))
		return errbuf_set(err, -EINVAL, "%s: Invalid value: must be a list of strings", path);
	if (json_array_size(v) > APPDEF_LIST_MAX)
		return errbuf_set(err, -E2BIG, "%s: Too many: %zu: must have at most %d items", path, json_array_size(v),
				  APPDEF_LIST_MAX);
	json_array_foreach(v, i, e) {
		if (!json_is_string(e) || !json_string_length(e) || json_string_length(e) > APPDEF_NAME_MAX)
			return errbuf_set(err, -EINVAL, "%s[%zu]: Invalid value: must be a non-empty string of at most %d bytes",
					  path, i, APPDEF_NAME_MAX);
	}
	return 0;
}

static int parse_lets(struct appdef *d, const json_t *lets, struct errbuf *err)
{
	const json_t *e, *f;
	size_t i, j;
	char path[128];
	int r;

	if (!json_is_array(lets))
		return errbuf_set(err, -EINVAL, NAVE_PATH ".let: Invalid value: must be a list of {name, value}");
	if (json_array_size(lets) > APPDEF_LET_MAX)
		return errbuf_set(err, -E2BIG, NAVE_PATH ".let: Too many: %zu: must have at most %d items",
				  json_array_size(lets), APPDEF_LET_MAX);
	json_array_foreach(lets, i, e) {
		const char *k;

		if (!json_is_object(e))
			return errbuf_set(err, -EINVAL, NAVE_PATH ".let[%zu]: Invalid value: must be an object {name, value}", i);
		json_object_foreach((json_t *)e, k, f) {
			if (strcmp(k, "name") && strcmp(k, "value"))
				return errbuf_set(err, -EINVAL, NAVE_PATH ".let[%zu].%s: Unsupported field (fields: name, value)",
						  i, k);
		}
		f = json_object_get(e, "name");
		if (!f)
			return errbuf_set(err, -EINVAL, NAVE_PATH ".let[%zu].name: Required value", i);
		if (!ident_valid(json_string_value(f)))
			return errbuf_set(err, -EINVAL,
					  NAVE_PATH ".let[%zu].name: Invalid value: must be a name ([A-Za-z_][A-Za-z0-9_-]*)", i);
		for (j = 0; j < i; j++)
			if (json_equal(f, json_object_get(json_array_get(lets, j), "name")))
				return errbuf_set(err, -EINVAL, NAVE_PATH ".let[%zu].name: Duplicate value: \"%s\"", i,
						  json_string_value(f));
		if (!json_object_get(e, "value"))
			return errbuf_set(err, -EINVAL, NAVE_PATH ".let[%zu].value: Required value", i);
		snprintf(path, sizeof(path), NAVE_PATH ".let[%zu].value", i);
		r = tmpl_check(json_object_get(e, "value"), path, err);
		if (r < 0)
			return r;
	}
	d->lets = lets;
	return 0;
}

static int parse_checks(struct appdef *d, const json_t *checks, struct errbuf *err)
{
	const json_t *e, *f;
	size_t i;
	char path[128];
	int r;

	if (!json_is_array(checks))
		return errbuf_set(err, -EINVAL, NAVE_PATH ".checks: Invalid value: must be a list of {that, message}");
	if (json_array_size(checks) > APPDEF_CHECKS_MAX)
		return errbuf_set(err, -E2BIG, NAVE_PATH ".checks: Too many: %zu: must have at most %d items",
				  json_array_size(checks), APPDEF_CHECKS_MAX);
	json_array_foreach(checks, i, e) {
		const char *k;

		if (!json_is_object(e))
			return errbuf_set(err, -EINVAL, NAVE_PATH ".checks[%zu]: Invalid value: must be an object {that, message}",
					  i);
		json_object_foreach((json_t *)e, k, f) {
			if (strcmp(k, "that") && strcmp(k, "message"))
				return errbuf_set(err, -EINVAL,
						  NAVE_PATH ".checks[%zu].%s: Unsupported field (fields: that, message)", i, k);
		}
		snprintf(path, sizeof(path), NAVE_PATH ".checks[%zu].that", i);
		if (!json_object_get(e, "that"))
			return errbuf_set(err, -EINVAL, "%s: Required value", path);
		r = check_expr_field(json_object_get(e, "that"), path, err);
		if (r < 0)
			return r;
		snprintf(path, sizeof(path), NAVE_PATH ".checks[%zu].message", i);
		if (!json_object_get(e, "message"))
			return errbuf_set(err, -EINVAL, "%s: Required value", path);
		r = check_string_template(json_object_get(e, "message"), path, err);
		if (r < 0)
			return r;
	}
	d->checks = checks;
	return 0;
}

static int parse_outputs(struct appdef *d, const json_t *outputs, struct errbuf *err)
{
	const char *k;
	json_t *t;
	char path[APPDEF_NAME_MAX + 64];
	int r;

	if (!json_is_object(outputs))
		return errbuf_set(err, -EINVAL, NAVE_PATH ".outputs: Invalid value: must be an object {name: template}");
	if (json_object_size(outputs) > APPDEF_OUTPUTS_MAX)
		return errbuf_set(err, -E2BIG, NAVE_PATH ".outputs: Too many: %zu: must have at most %d outputs",
				  json_object_size(outputs), APPDEF_OUTPUTS_MAX);
	json_object_foreach((json_t *)outputs, k, t) {
		if (!*k || strlen(k) > APPDEF_NAME_MAX)
			return errbuf_set(err, -EINVAL, NAVE_PATH ".outputs: Invalid value: output names must be 1 to %d bytes",
					  APPDEF_NAME_MAX);
		snprintf(path, sizeof(path), NAVE_PATH ".outputs.%s", k);
		r = tmpl_check(t, path, err);
		if (r < 0)
			return r;
	}
	d->outputs = outputs;
	return 0;
}

static int parse_status(struct appdef *d, const json_t *st, struct errbuf *err)
{
	const json_t *fb, *e, *f;
	const char *k;
	size_t i, j;
	int r;

	if (!json_is_object(st))
		return errbuf_set(err, -EINVAL, NAVE_PATH ".status: Invalid value: must be an object {feedback, healthy, message}");
	json_object_foreach((json_t *)st, k, f) {
		if (strcmp(k, "feedback") && strcmp(k, "healthy") && strcmp(k, "message"))
			return errbuf_set(err, -EINVAL,
					  NAVE_PATH ".status.%s: Unsupported field (fields: feedback, healthy, message)", k);
	}
	fb = json_object_get(st, "feedback");
	if (fb) {
		if (!json_is_array(fb))
			return errbuf_set(err, -EINVAL,
					  NAVE_PATH ".status.feedback: Invalid value: must be a list of {name, jsonPath}");
		if (json_array_size(fb) > APPDEF_FEEDBACK_MAX)
			return errbuf_set(err, -E2BIG, NAVE_PATH ".status.feedback: Too many: %zu: must have at most %d items",
					  json_array_size(fb), APPDEF_FEEDBACK_MAX);
		if (d->kind == APPDEF_TRAIT && json_array_size(fb))
			return errbuf_set(err, -EINVAL,
					  NAVE_PATH ".status.feedback: Forbidden: only a ComponentDefinition lists feedback; "
					  "a trait's health reads its component's");
		json_array_foreach(fb, i, e) {
			struct jsonpath *jp = NULL;

			if (!json_is_object(e))
				return errbuf_set(err, -EINVAL, NAVE_PATH ".status.feedback[%zu]: Invalid value: must be an object", i);
			json_object_foreach((json_t *)e, k, f) {
				if (strcmp(k, "name") && strcmp(k, "jsonPath"))
					return errbuf_set(err, -EINVAL,
							  NAVE_PATH ".status.feedback[%zu].%s: Unsupported field (fields: name, jsonPath)",
							  i, k);
			}
			f = json_object_get(e, "name");
			if (!ident_valid(json_string_value(f)) || json_string_length(f) > 63)
				return errbuf_set(err, -EINVAL,
						  NAVE_PATH ".status.feedback[%zu].name: Invalid value: must be a name "
						  "([A-Za-z_][A-Za-z0-9_-]*, at most 63 bytes)", i);
			for (j = 0; j < i; j++)
				if (json_equal((json_t *)f, json_object_get(json_array_get(fb, j), "name")))
					return errbuf_set(err, -EINVAL, NAVE_PATH ".status.feedback[%zu].name: Duplicate value: \"%s\"",
							  i, json_string_value(f));
			f = json_object_get(e, "jsonPath");
			if (!json_is_string(f))
				return errbuf_set(err, -EINVAL, NAVE_PATH ".status.feedback[%zu].jsonPath: Required value", i);
			r = jsonpath_compile(json_string_value(f), err, &jp);
			jsonpath_free(jp);
			if (r < 0) {
				errbuf_prefix(err, NAVE_PATH ".status.feedback[%zu].jsonPath: Invalid value", i);
				return -EINVAL;
			}
		}
		d->feedback = fb;
	}
	f = json_object_get(st, "healthy");
	if (f) {
		r = check_expr_field(f, NAVE_PATH ".status.healthy", err);
		if (r < 0)
			return r;
		d->healthy = json_string_value(f);
	}
	f = json_object_get(st, "message");
	if (f) {
		r = check_string_template(f, NAVE_PATH ".status.message", err);
		if (r < 0)
			return r;
		d->message = json_string_value(f);
	}
	return 0;
}

static int parse_one_patch(const json_t *p, const char *path, struct appdef_patch *ret, struct errbuf *err)
{
	const json_t *t, *f;
	const char *k, *type;
	char tpath[APPDEF_NAME_MAX + 96];
	int r;

	if (!json_is_object(p))
		return errbuf_set(err, -EINVAL, "%s: Invalid value: must be an object {type, template}", path);
	json_object_foreach((json_t *)p, k, f) {
		if (strcmp(k, "type") && strcmp(k, "template"))
			return errbuf_set(err, -EINVAL, "%s.%s: Unsupported field (fields: type, template)", path, k);
	}
	type = json_string_value(json_object_get(p, "type"));
	if (!type)
		return errbuf_set(err, -EINVAL, "%s.type: Required value: one of strategic, merge, json", path);
	if (!strcmp(type, "strategic"))
		ret->type = APPDEF_PATCH_STRATEGIC;
	else if (!strcmp(type, "merge"))
		ret->type = APPDEF_PATCH_MERGE;
	else if (!strcmp(type, "json"))
		ret->type = APPDEF_PATCH_JSON;
	else
		return errbuf_set(err, -EINVAL,
				  "%s.type: Unsupported value: \"%s\": supported values: \"strategic\", \"merge\", \"json\"", path,
				  type);
	t = json_object_get(p, "template");
	if (!t)
		return errbuf_set(err, -EINVAL, "%s.template: Required value", path);
	if (ret->type == APPDEF_PATCH_JSON && !json_is_array(t) && !json_is_string(t))
		return errbuf_set(err, -EINVAL, "%s.template: Invalid value: a json patch is a list of operations", path);
	if (ret->type != APPDEF_PATCH_JSON && !json_is_object(t) && !json_is_string(t))
		return errbuf_set(err, -EINVAL, "%s.template: Invalid value: a %s patch is an object", path, type);
	snprintf(tpath, sizeof(tpath), "%s.template", path);
	r = tmpl_check(t, tpath, err);
	if (r < 0)
		return r;
	ret->tmpl = t;
	return 0;
}

static int parse_patch_outputs(struct appdef *d, const json_t *po, struct errbuf *err)
{
	const char *k;
	json_t *p;
	char path[APPDEF_NAME_MAX + 64];
	size_t n = 0;
	int r;

	if (!json_is_object(po))
		return errbuf_set(err, -EINVAL,
				  NAVE_PATH ".patchOutputs: Invalid value: must be an object {outputName: {type, template}}");
	if (json_object_size(po) > APPDEF_OUTPUTS_MAX)
		return errbuf_set(err, -E2BIG, NAVE_PATH ".patchOutputs: Too many: %zu: must have at most %d items",
				  json_object_size(po), APPDEF_OUTPUTS_MAX);
	d->patch_outputs = xcalloc(json_object_size(po) + 1, sizeof(*d->patch_outputs));
	json_object_foreach((json_t *)po, k, p) {
		if (!*k || strlen(k) > APPDEF_NAME_MAX)
			return errbuf_set(err, -EINVAL,
					  NAVE_PATH ".patchOutputs: Invalid value: output names must be 1 to %d bytes",
					  APPDEF_NAME_MAX);
		snprintf(path, sizeof(path), NAVE_PATH ".patchOutputs.%s", k);
		r = parse_one_patch(p, path, &d->patch_outputs[n].patch, err);
		if (r < 0)
			return r;
		d->patch_outputs[n].name = k;
		n++;
		d->npatch_outputs = n;
	}
	return 0;
}

static int parse_workload(struct appdef *d, const json_t *spec, struct errbuf *err)
{
	const json_t *wl = json_object_get(spec, "workload"), *def, *type;
	char buf[512];

	if (!wl)
		return errbuf_set(err, -EINVAL,
				  "spec.workload: Required value: a ComponentDefinition names its main object's kind in "
				  "spec.workload.definition {apiVersion, kind}");
	if (!json_is_object(wl))
		return errbuf_set(err, -EINVAL, "spec.workload: Invalid value: must be an object {definition, type}");
	def = json_object_get(wl, "definition");
	type = json_object_get(wl, "type");
	if (type && (!json_is_string(type) || !json_string_length(type) || json_string_length(type) > APPDEF_NAME_MAX))
		return errbuf_set(err, -EINVAL, "spec.workload.type: Invalid value: must be \"<plural>.<group>\" "
				  "(deployments.apps)");
	if (type) {
		const char *p;

		for (p = json_string_value(type); *p; p++)
			if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '.' || *p == '-'))
				return errbuf_set(err, -EINVAL,
						  "spec.workload.type: Invalid value: \"%s\": must be \"<plural>.<group>\" in "
						  "lower case (deployments.apps)", json_string_value(type));
	}
	if (!def && type && !strcmp(json_string_value(type), APPDEF_AUTODETECT)) {
		d->autodetect = true;
		d->wl_api_version = "";
		d->wl_kind = "";
		d->wl_type = xstrdup(APPDEF_AUTODETECT);
		return 0;
	}
	if (!json_is_object(def))
		return errbuf_set(err, -EINVAL,
				  "spec.workload.definition: Required value: {apiVersion, kind} of the main object (or "
				  "spec.workload.type: %s for a component whose main object is whatever it renders)",
				  APPDEF_AUTODETECT);
	d->wl_api_version = json_string_value(json_object_get(def, "apiVersion"));
	d->wl_kind = json_string_value(json_object_get(def, "kind"));
	if (!d->wl_api_version || !*d->wl_api_version)
		return errbuf_set(err, -EINVAL, "spec.workload.definition.apiVersion: Required value");
	if (!d->wl_kind || !*d->wl_kind)
		return errbuf_set(err, -EINVAL, "spec.workload.definition.kind: Required value");
	if (appdef_workload_type_for(d->wl_api_version, d->wl_kind, buf, sizeof(buf)) < 0)
		return errbuf_set(err, -EINVAL, "spec.workload.definition: Invalid value: \"%s\" \"%s\" is not an "
				  "apiVersion and kind", d->wl_api_version, d->wl_kind);
	d->wl_type = xstrdup(type ? json_string_value(type) : buf);
	return 0;
}

static int parse_trait_spec(struct appdef *d, const json_t *spec, struct errbuf *err)
{
	const json_t *f;
	int r;

	f = json_object_get(spec, "appliesToWorkloads");
	if (f) {
		r = check_string_list(f, "spec.appliesToWorkloads", err);
		if (r < 0)
			return r;
		d->applies = f;
	}
	f = json_object_get(spec, "conflictsWith");
	if (f) {
		r = check_string_list(f, "spec.conflictsWith", err);
		if (r < 0)
			return r;
		d->conflicts = f;
	}
	f = json_object_get(spec, "podDisruptive");
	if (f && !json_is_boolean(f))
		return errbuf_set(err, -EINVAL, "spec.podDisruptive: Invalid value: must be a boolean");
	d->pod_disruptive = json_is_true(f);
	return 0;
}

/* The schematic: refuse what Nave does not run, then read spec.schematic.nave. */
static int parse_schematic(struct appdef *d, const json_t *spec, struct errbuf *err)
{
	const json_t *sch = json_object_get(spec, "schematic"), *nave, *f;
	const char *const *keys = d->kind == APPDEF_COMPONENT ? component_keys : trait_keys;
	const char *k;
	char known[256];
	int r;

	if (!sch)
		return errbuf_set(err, -EINVAL, "spec.schematic.nave: Required value: the definition's schematic "
				  "(see docs/definitions.md)");
	if (!json_is_object(sch))
		return errbuf_set(err, -EINVAL, "spec.schematic: Invalid value: must be an object");
	json_object_foreach((json_t *)sch, k, f) {
		if (!strcmp(k, "nave"))
			continue;
		if (!strcmp(k, "cue"))
			return errbuf_set(err, -EINVAL,
					  "spec.schematic.cue: Unsupported value: CUE templates are not supported by Nave; "
					  "write the definition in the Nave schematic (spec.schematic.nave, see "
					  "docs/definitions.md)");
		if (!strcmp(k, "kube") || !strcmp(k, "helm") || !strcmp(k, "terraform"))
			return errbuf_set(err, -EINVAL,
					  "spec.schematic.%s: Unsupported value: %s schematics are not supported by Nave; "
					  "write the definition in the Nave schematic (spec.schematic.nave, see "
					  "docs/definitions.md)", k, k);
		return errbuf_set(err, -EINVAL, "spec.schematic.%s: Unsupported field (Nave reads spec.schematic.nave)", k);
	}
	nave = json_object_get(sch, "nave");
	if (!nave)
		return errbuf_set(err, -EINVAL, "spec.schematic.nave: Required value (see docs/definitions.md)");
	if (!json_is_object(nave))
		return errbuf_set(err, -EINVAL, "spec.schematic.nave: Invalid value: must be an object");
	list_phrase(keys, known, sizeof(known));
	json_object_foreach((json_t *)nave, k, f) {
		if (!in_list(keys, k)) {
			if (d->kind == APPDEF_TRAIT && !strcmp(k, "output"))
				return errbuf_set(err, -EINVAL,
						  NAVE_PATH ".output: Unsupported field: a trait changes its component's main "
						  "object with patch and adds objects with outputs");
			if (d->kind == APPDEF_COMPONENT && (!strcmp(k, "patch") || !strcmp(k, "patchOutputs")))
				return errbuf_set(err, -EINVAL,
						  NAVE_PATH ".%s: Unsupported field: only a TraitDefinition patches", k);
			return errbuf_set(err, -EINVAL, NAVE_PATH ".%s: Unsupported field (fields: %s)", k, known);
		}
	}
	f = json_object_get(nave, "parameters");
	if (f) {
		r = appdef_schema_check(f, NAVE_PATH ".parameters", err);
		if (r < 0)
			return r;
		d->schema = f;
	}
	f = json_object_get(nave, "let");
	if (f) {
		r = parse_lets(d, f, err);
		if (r < 0)
			return r;
	}
	f = json_object_get(nave, "checks");
	if (f) {
		r = parse_checks(d, f, err);
		if (r < 0)
			return r;
	}
	if (d->kind == APPDEF_COMPONENT) {
		f = json_object_get(nave, "output");
		if (!f)
			return errbuf_set(err, -EINVAL, NAVE_PATH ".output: Required value: the main object's template");
		if (!json_is_object(f) && !json_is_string(f))
			return errbuf_set(err, -EINVAL,
					  NAVE_PATH ".output: Invalid value: must be an object template (or \"${expr}\")");
		r = tmpl_check(f, NAVE_PATH ".output", err);
		if (r < 0)
			return r;
		d->output = f;
	}
	f = json_object_get(nave, "outputs");
	if (f) {
		r = parse_outputs(d, f, err);
		if (r < 0)
			return r;
	}
	f = json_object_get(nave, "patch");
	if (f) {
		r = parse_one_patch(f, NAVE_PATH ".patch", &d->patch, err);
		if (r < 0)
			return r;
		d->has_patch = true;
	}
	f = json_object_get(nave, "patchOutputs");
	if (f) {
		r = parse_patch_outputs(d, f, err);
		if (r < 0)
			return r;
	}
	f = json_object_get(nave, "status");
	if (f) {
		r = parse_status(d, f, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int appdef_parse(const json_t *obj, struct errbuf *err, struct appdef **ret_def)
{
	struct appdef *d = NULL;
	const json_t *spec, *st;
	const char *api, *kind;
	size_t size;
	int r;

	if (!json_is_object(obj))
		return errbuf_set(err, -EINVAL, "Invalid value: a definition must be an object");
	size = json_dumpb(obj, NULL, 0, JSON_COMPACT);
	if (size > APPDEF_MAX_BYTES)
		return errbuf_set(err, -E2BIG, "the definition is %zu bytes of JSON, more than %d", size, APPDEF_MAX_BYTES);
	api = json_string_value(json_object_get(obj, "apiVersion"));
	kind = json_string_value(json_object_get(obj, "kind"));
	if (!api)
		return errbuf_set(err, -EINVAL, "apiVersion: Required value");
	if (strcmp(api, "core.oam.dev/v1beta1"))
		return errbuf_set(err, -EINVAL, "apiVersion: Unsupported value: \"%s\": supported values: "
				  "\"core.oam.dev/v1beta1\"", api);
	if (!kind)
		return errbuf_set(err, -EINVAL, "kind: Required value");
	d = xnew(struct appdef);
	if (!strcmp(kind, "ComponentDefinition")) {
		d->kind = APPDEF_COMPONENT;
	} else if (!strcmp(kind, "TraitDefinition")) {
		d->kind = APPDEF_TRAIT;
	} else {
		r = errbuf_set(err, -EINVAL, "kind: Unsupported value: \"%s\": supported values: \"ComponentDefinition\", "
			       "\"TraitDefinition\"", kind);
		goto out;
	}
	d->obj = json_deep_copy(obj);
	d->name = json_string_value(json_object_get(json_object_get(d->obj, "metadata"), "name"));
	if (!d->name) {
		r = errbuf_set(err, -EINVAL, "metadata.name: Required value");
		goto out;
	}
	if (!kobj_valid_subdomain(d->name)) {
		r = errbuf_set(err, -EINVAL, "metadata.name: Invalid value: \"%s\": must be a DNS-1123 subdomain", d->name);
		goto out;
	}
	d->description = kobj_annotation(d->obj, DESCRIPTION_ANNOTATION);
	if (!d->description)
		d->description = "";
	spec = json_object_get(d->obj, "spec");
	if (!json_is_object(spec)) {
		r = errbuf_set(err, -EINVAL, "spec: Required value: an object");
		goto out;
	}
	st = json_object_get(spec, "status");
	if (st && (json_object_get(st, "healthPolicy") || json_object_get(st, "customStatus"))) {
		r = errbuf_set(err, -EINVAL,
			       "spec.status.%s: Unsupported value: CUE health and status rules are not supported by Nave; "
			       "write spec.schematic.nave.status.healthy and .message (see docs/definitions.md)",
			       json_object_get(st, "healthPolicy") ? "healthPolicy" : "customStatus");
		goto out;
	}
	if (d->kind == APPDEF_COMPONENT)
		r = parse_workload(d, spec, err);
	else
		r = parse_trait_spec(d, spec, err);
	if (r < 0)
		goto out;
	r = parse_schematic(d, spec, err);
	if (r < 0)
		goto out;
	*ret_def = d;
	d = NULL;
	r = 0;
out:
	appdef_free(d);
	return r;
}

struct appdef *appdef_free(struct appdef *d)
{
	if (!d)
		return NULL;
	free(d->patch_outputs);
	free(d->wl_type);
	json_decref(d->obj);
	free(d);
	return NULL;
}

enum appdef_kind appdef_kind(const struct appdef *d)
{
	return d->kind;
}

const char *appdef_name(const struct appdef *d)
{
	return d->name;
}

const json_t *appdef_object(const struct appdef *d)
{
	return d->obj;
}

const char *appdef_description(const struct appdef *d)
{
	return d->description;
}

const json_t *appdef_parameters(const struct appdef *d)
{
	return d->schema;
}

const char *appdef_workload_api_version(const struct appdef *d)
{
	return d->kind == APPDEF_COMPONENT ? d->wl_api_version : "";
}

const char *appdef_workload_kind(const struct appdef *d)
{
	return d->kind == APPDEF_COMPONENT ? d->wl_kind : "";
}

const char *appdef_workload_type(const struct appdef *d)
{
	return d->kind == APPDEF_COMPONENT ? d->wl_type : "";
}

bool appdef_workload_autodetect(const struct appdef *d)
{
	return d->kind == APPDEF_COMPONENT && d->autodetect;
}

json_t *appdef_feedback_rules(const struct appdef *d)
{
	json_t *paths, *e;
	size_t i;

	if (d->kind != APPDEF_COMPONENT || !json_array_size(d->feedback))
		return NULL;
	paths = json_array();
	json_array_foreach(d->feedback, i, e) {
		json_array_append_new(paths, json_pack("{s:O, s:O}", "name", json_object_get(e, "name"), "path",
						       json_object_get(e, "jsonPath")));
	}
	return json_pack("[{s:s, s:o}]", "type", "JSONPaths", "jsonPaths", paths);
}
