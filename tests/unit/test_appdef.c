/* Unit tests for hub/appdef (definitions in the Nave schematic).
 *
 * Data-driven, one file per case:
 *   tests/data/appdef/render/NAME.yaml   a component with traits rendered through
 *       the built-ins (and the case's own definitions), compared with the
 *       objects expected, or with the exact error expected; optional health
 *       checks over feedback values.
 *   tests/data/appdef/definitions/NAME.yaml   a definition parsed: ok, or the
 *       exact error expected.
 * Case format (render):
 *   description: text
 *   definitions: [ComponentDefinition | TraitDefinition ...]   (optional; put
 *       in their metadata.namespace, default "default")
 *   namespace: where the application is (default "default")
 *   component: {name, type, properties, traits: [{type, properties}]}
 *   expect: {workload, outputs}  |  error: "the exact message"
 *   health: [{feedback: {name: value}, healthy: bool, message: text}]
 * NAVE_APPDEF_REGEN=1 rewrites expect/error/health answers from what the code
 * does (review the diff before keeping it).
 * Then the registry, limits, feedback rules and type names.
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

#include "alloc.h"
#include "apptest_util.h"
#include "hub/appdef.h"
#include "yaml.h"

static bool regen;

static json_t *load_yaml(const char *path)
{
	struct errbuf err = {{0}};
	json_t *doc = NULL;
	size_t len;
	char *text = apptest_read_file(path, &len);

	if (yaml_parse_one(text, len, NULL, &err, &doc) < 0)
		fail_msg("%s: %s", path, err.msg);
	free(text);
	return doc;
}

static void write_yaml(const char *path, const json_t *doc)
{
	char *text = yaml_emit(doc);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(text);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .yaml files of dir (sorted), as full paths; *ret_n of them. */
static char **list_cases(const char *sub, size_t *ret_n)
{
	char dir[1024], **v = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/appdef/%s", apptest_data_dir(), sub);
	d = opendir(dir);
	if (!d)
		fail_msg("cannot open %s", dir);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (l < 6 || strcmp(de->d_name + l - 5, ".yaml"))
			continue;
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = xasprintf("%s/%s", dir, de->d_name);
	}
	closedir(d);
	qsort(v, n, sizeof(*v), str_cmp);
	*ret_n = n;
	return v;
}

static void free_list(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static struct appdef_registry *builtins(void)
{
	struct appdef_registry *reg = NULL;
	struct errbuf err = {{0}};

	assert_int_equal(appdef_registry_new(&reg), 0);
	if (appdef_registry_load_builtins(reg, &err) < 0)
		fail_msg("built-ins: %s", err.msg);
	return reg;
}

static struct appdef *parse_ok(const json_t *obj)
{
	struct errbuf err = {{0}};
	struct appdef *d = NULL;

	if (appdef_parse(obj, &err, &d) < 0)
		fail_msg("definition does not parse: %s", err.msg);
	return d;
}

static bool expect_equal(const char *path, const char *what, const json_t *want, const json_t *got)
{
	char *w, *g;

	if (json_equal((json_t *)want, (json_t *)got))
		return true;
	w = want ? json_dumps(want, JSON_INDENT(1) | JSON_ENCODE_ANY) : xstrdup("(none)");
	g = got ? json_dumps(got, JSON_INDENT(1) | JSON_ENCODE_ANY) : xstrdup("(none)");
	print_error("%s: %s differs\n--- want\n%s\n--- got\n%s\n", path, what, w, g);
	free(w);
	free(g);
	return false;
}

/* {name: value} into a statusFeedback.values array as the agent reports it. */
static json_t *feedback_values(const json_t *m)
{
	json_t *values = json_array(), *v;
	const char *k;

	json_object_foreach((json_t *)m, k, v) {
		json_t *fv;

		if (json_is_integer(v)) {
			fv = json_pack("{s:s, s:O}", "type", "Integer", "integer", v);
		} else if (json_is_string(v)) {
			fv = json_pack("{s:s, s:O}", "type", "String", "string", v);
		} else if (json_is_boolean(v)) {
			fv = json_pack("{s:s, s:O}", "type", "Boolean", "boolean", v);
		} else {
			char *raw = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

			fv = json_pack("{s:s, s:s}", "type", "JsonRaw", "jsonRaw", raw);
			free(raw);
		}
		json_array_append_new(values, json_pack("{s:s, s:o}", "name", k, "fieldValue", fv));
	}
	return values;
}

/* ------------------------------------------------------------------------ */
/* render cases                                                              */

static bool run_render_case(const char *path)
{
	json_t *c = load_yaml(path), *comp, *defs, *t, *e;
	struct appdef_registry *reg = builtins();
	struct appdef_trait_use tu[64];
	char fields[64][64];
	struct appdef_rendered out = {0};
	struct errbuf err = {{0}};
	const char *ns = json_string_value(json_object_get(c, "namespace"));
	const struct appdef *cd;
	struct appdef_context ctx;
	size_t i, nt = 0;
	bool ok = true, changed = false;
	int r;

	if (!ns)
		ns = "default";
	defs = json_object_get(c, "definitions");
	json_array_foreach(defs, i, e) {
		const char *dns = json_string_value(json_object_get(json_object_get(e, "metadata"), "namespace"));

		assert_int_equal(appdef_registry_put(reg, dns ? dns : "default", parse_ok(e)), 0);
	}
	comp = json_object_get(c, "component");
	cd = appdef_registry_get(reg, APPDEF_COMPONENT, ns, json_string_value(json_object_get(comp, "type")));
	if (!cd)
		fail_msg("%s: unknown component type", path);
	json_array_foreach(json_object_get(comp, "traits"), i, t) {
		assert_true(nt < 64);
		tu[nt].def = appdef_registry_get(reg, APPDEF_TRAIT, ns, json_string_value(json_object_get(t, "type")));
		if (!tu[nt].def)
			fail_msg("%s: unknown trait %s", path, json_string_value(json_object_get(t, "type")));
		tu[nt].properties = json_object_get(t, "properties");
		snprintf(fields[nt], sizeof(fields[nt]), "spec.components[0].traits[%zu]", i);
		tu[nt].field = fields[nt];
		nt++;
	}
	ctx.name = json_string_value(json_object_get(comp, "name"));
	ctx.namespace_ = ns;
	ctx.app_name = "app";
	ctx.app_namespace = ns;
	ctx.revision = "app-v1";
	ctx.cluster = "cluster-1";
	r = appdef_render(cd, json_object_get(comp, "properties"), "spec.components[0]", tu, nt, &ctx, &err, &out);
	if (json_object_get(c, "error")) {
		if (r == 0) {
			print_error("%s: rendered, but the case expects: %s\n", path, json_string_value(json_object_get(c, "error")));
			ok = false;
		} else if (strcmp(err.msg, json_string_value(json_object_get(c, "error")))) {
			if (regen) {
				json_object_set_new(c, "error", json_string(err.msg));
				changed = true;
			} else {
				print_error("%s: error differs\n  want: %s\n  got:  %s\n", path,
					    json_string_value(json_object_get(c, "error")), err.msg);
				ok = false;
			}
		}
		goto out;
	}
	if (r < 0) {
		print_error("%s: render failed: %s\n", path, err.msg);
		ok = false;
		goto out;
	}
	{
		json_t *got = json_pack("{s:O, s:O}", "workload", out.workload, "outputs", out.outputs);

		if (regen && !json_equal(got, json_object_get(c, "expect"))) {
			json_object_set(c, "expect", got);
			changed = true;
		} else if (!expect_equal(path, "render", json_object_get(c, "expect"), got)) {
			ok = false;
		}
		json_decref(got);
	}
	json_array_foreach(json_object_get(c, "health"), i, e) {
		json_t *fb = json_object_get(e, "feedback") ? feedback_values(json_object_get(e, "feedback")) : NULL;
		bool healthy = false;
		char *msg = NULL;

		assert_int_equal(appdef_health(cd, out.params, &ctx, out.workload, fb, &healthy, &msg), 0);
		if (regen) {
			if (!json_equal(json_object_get(e, "healthy"), healthy ? json_true() : json_false()) ||
			    strcmp(json_string_value(json_object_get(e, "message")) ? json_string_value(json_object_get(e, "message")) : "", msg)) {
				json_object_set_new(e, "healthy", json_boolean(healthy));
				json_object_set_new(e, "message", json_string(msg));
				changed = true;
			}
		} else if (json_is_true(json_object_get(e, "healthy")) != healthy ||
			   strcmp(json_string_value(json_object_get(e, "message")) ? json_string_value(json_object_get(e, "message")) : "(none)", msg)) {
			print_error("%s: health[%zu]: want %s \"%s\", got %s \"%s\"\n", path, i,
				    json_is_true(json_object_get(e, "healthy")) ? "healthy" : "unhealthy",
				    json_string_value(json_object_get(e, "message")), healthy ? "healthy" : "unhealthy", msg);
			ok = false;
		}
		free(msg);
		json_decref(fb);
	}
out:
	if (changed) {
		write_yaml(path, c);
		print_message("rewrote %s\n", path);
	}
	appdef_rendered_clear(&out);
	appdef_registry_free(reg);
	json_decref(c);
	return ok;
}

static void test_render_cases(void **state)
{
	size_t n, i, failed = 0;
	char **cases = list_cases("render", &n);

	(void)state;
	assert_true(n >= 40);
	for (i = 0; i < n; i++)
		if (!run_render_case(cases[i]))
			failed++;
	free_list(cases, n);
	if (failed)
		fail_msg("%zu of %zu render cases failed", failed, n);
}

/* Every built-in renders from the example properties of every case that
 * uses it: each built-in is used by at least one case. */
static void test_builtins_covered(void **state)
{
	static const char *const comps[] = {"webservice", "worker", "task", "k8s-objects"};
	static const char *const traits[] = {"scaler", "env", "labels", "annotations", "expose", "gateway", "sidecar",
					     "storage", "rollout"};
	size_t n, i, k;
	char **cases = list_cases("render", &n);
	json_t *used = json_object(), *t;

	(void)state;
	for (i = 0; i < n; i++) {
		json_t *c = load_yaml(cases[i]), *comp = json_object_get(c, "component");
		size_t j;

		if (!json_object_get(c, "error")) {
			json_object_set_new(used, json_string_value(json_object_get(comp, "type")), json_true());
			json_array_foreach(json_object_get(comp, "traits"), j, t)
				json_object_set_new(used, json_string_value(json_object_get(t, "type")), json_true());
		}
		json_decref(c);
	}
	for (k = 0; k < 4; k++)
		if (!json_object_get(used, comps[k]))
			fail_msg("no render case uses %s", comps[k]);
	for (k = 0; k < sizeof(traits) / sizeof(traits[0]); k++)
		if (!json_object_get(used, traits[k]))
			fail_msg("no render case uses %s", traits[k]);
	json_decref(used);
	free_list(cases, n);
}

/* ------------------------------------------------------------------------ */
/* definition cases                                                          */

static void test_definition_cases(void **state)
{
	size_t n, i, failed = 0;
	char **cases = list_cases("definitions", &n);

	(void)state;
	assert_true(n >= 15);
	for (i = 0; i < n; i++) {
		json_t *c = load_yaml(cases[i]);
		const char *want = json_string_value(json_object_get(c, "error"));
		struct errbuf err = {{0}};
		struct appdef *d = NULL;
		int r = appdef_parse(json_object_get(c, "definition"), &err, &d);

		if (!want && r < 0) {
			print_error("%s: does not parse: %s\n", cases[i], err.msg);
			failed++;
		} else if (want && r == 0) {
			print_error("%s: parses, but the case expects: %s\n", cases[i], want);
			failed++;
		} else if (want && strcmp(want, err.msg)) {
			if (regen) {
				json_object_set_new(c, "error", json_string(err.msg));
				write_yaml(cases[i], c);
			} else {
				print_error("%s: error differs\n  want: %s\n  got:  %s\n", cases[i], want, err.msg);
				failed++;
			}
		}
		appdef_free(d);
		json_decref(c);
	}
	free_list(cases, n);
	if (failed)
		fail_msg("%zu of %zu definition cases failed", failed, n);
}

/* ------------------------------------------------------------------------ */
/* built-ins and the registry                                                */

static void test_builtins(void **state)
{
	static const char *const comps[] = {"k8s-objects", "task", "webservice", "worker"};
	static const char *const traits[] = {"annotations", "env", "expose", "gateway", "labels", "rollout", "scaler",
					     "sidecar", "storage"};
	struct appdef_registry *reg = builtins();
	json_t *names;
	size_t i;

	(void)state;
	assert_int_equal(appdef_builtin_count(), 13);
	names = appdef_registry_names(reg, APPDEF_COMPONENT, "default");
	assert_int_equal(json_array_size(names), 4);
	for (i = 0; i < 4; i++) {
		const struct appdef *d = appdef_registry_get(reg, APPDEF_COMPONENT, "default", comps[i]);

		assert_string_equal(json_string_value(json_array_get(names, i)), comps[i]);
		assert_non_null(d);
		assert_ptr_equal(d, appdef_registry_get_builtin(reg, APPDEF_COMPONENT, comps[i]));
		assert_int_equal(appdef_kind(d), APPDEF_COMPONENT);
		assert_true(strlen(appdef_description(d)) > 10);
		assert_string_equal(json_string_value(json_object_get(json_object_get(appdef_object(d), "metadata"),
								      "namespace")), "vela-system");
		assert_non_null(appdef_parameters(d));
	}
	json_decref(names);
	names = appdef_registry_names(reg, APPDEF_TRAIT, NULL);
	assert_int_equal(json_array_size(names), 9);
	for (i = 0; i < 9; i++) {
		const struct appdef *d = appdef_registry_get(reg, APPDEF_TRAIT, "default", traits[i]);

		assert_string_equal(json_string_value(json_array_get(names, i)), traits[i]);
		assert_non_null(d);
		assert_int_equal(appdef_kind(d), APPDEF_TRAIT);
		assert_true(strlen(appdef_description(d)) > 10);
		assert_null(appdef_feedback_rules(d));
	}
	json_decref(names);
	/* kinds are separate */
	assert_null(appdef_registry_get(reg, APPDEF_TRAIT, "default", "webservice"));
	assert_null(appdef_registry_get(reg, APPDEF_COMPONENT, "default", "scaler"));
	/* workloads */
	assert_string_equal(appdef_workload_api_version(appdef_registry_get(reg, APPDEF_COMPONENT, "x", "webservice")),
			    "apps/v1");
	assert_string_equal(appdef_workload_kind(appdef_registry_get(reg, APPDEF_COMPONENT, "x", "task")), "Job");
	assert_string_equal(appdef_workload_type(appdef_registry_get(reg, APPDEF_COMPONENT, "x", "task")), "jobs.batch");
	assert_true(appdef_workload_autodetect(appdef_registry_get(reg, APPDEF_COMPONENT, "x", "k8s-objects")));
	assert_string_equal(appdef_workload_kind(appdef_registry_get(reg, APPDEF_COMPONENT, "x", "k8s-objects")), "");
	assert_false(appdef_workload_autodetect(appdef_registry_get(reg, APPDEF_COMPONENT, "x", "worker")));
	/* loading twice replaces, it does not duplicate */
	assert_int_equal(appdef_registry_load_builtins(reg, NULL), 0);
	names = appdef_registry_names(reg, APPDEF_TRAIT, "default");
	assert_int_equal(json_array_size(names), 9);
	json_decref(names);
	appdef_registry_free(reg);
}

static void test_feedback_rules(void **state)
{
	struct appdef_registry *reg = builtins();
	json_t *rules = appdef_feedback_rules(appdef_registry_get(reg, APPDEF_COMPONENT, "default", "webservice"));
	json_t *want = json_loads("[{\"type\":\"JSONPaths\",\"jsonPaths\":["
				  "{\"name\":\"readyReplicas\",\"path\":\".status.readyReplicas\"},"
				  "{\"name\":\"updatedReplicas\",\"path\":\".status.updatedReplicas\"},"
				  "{\"name\":\"replicas\",\"path\":\".status.replicas\"},"
				  "{\"name\":\"observedGeneration\",\"path\":\".status.observedGeneration\"},"
				  "{\"name\":\"generation\",\"path\":\".metadata.generation\"},"
				  "{\"name\":\"desiredReplicas\",\"path\":\".spec.replicas\"}]}]", 0, NULL);

	(void)state;
	assert_true(expect_equal("webservice", "feedback rules", want, rules));
	json_decref(rules);
	json_decref(want);
	assert_null(appdef_feedback_rules(appdef_registry_get(reg, APPDEF_COMPONENT, "default", "k8s-objects")));
	rules = appdef_feedback_rules(appdef_registry_get(reg, APPDEF_COMPONENT, "default", "task"));
	assert_int_equal(json_array_size(json_object_get(json_array_get(rules, 0), "jsonPaths")), 3);
	json_decref(rules);
	appdef_registry_free(reg);
}

static json_t *small_def(const char *kind, const char *name, const char *ns, const char *desc)
{
	json_t *d;

	if (!strcmp(kind, "ComponentDefinition"))
		d = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:{s:{s:s, s:s}}, s:{s:{s:{s:s, s:s, s:{s:s}}}}}}",
			      "apiVersion", "core.oam.dev/v1beta1", "kind", kind, "metadata", "name", name, "namespace", ns,
			      "annotations", "definition.oam.dev/description", desc, "spec", "workload", "definition",
			      "apiVersion", "v1", "kind", "ConfigMap", "schematic", "nave", "output", "apiVersion", "v1",
			      "kind", "ConfigMap", "data", "from", desc);
	else
		d = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:{s:{s:{s:s, s:{s:{s:s}}}}}}}", "apiVersion",
			      "core.oam.dev/v1beta1", "kind", kind, "metadata", "name", name, "namespace", ns, "annotations",
			      "definition.oam.dev/description", desc, "spec", "schematic", "nave", "patch", "type", "merge",
			      "template", "metadata", "labels", "from", desc);
	return d;
}

static void test_registry_override(void **state)
{
	struct appdef_registry *reg = builtins();
	json_t *o, *names;
	const struct appdef *d;

	(void)state;
	/* a user's webservice in vela-system wins over the built-in everywhere */
	o = small_def("ComponentDefinition", "webservice", "vela-system", "system-override");
	assert_int_equal(appdef_registry_put(reg, "vela-system", parse_ok(o)), 0);
	json_decref(o);
	d = appdef_registry_get(reg, APPDEF_COMPONENT, "team-a", "webservice");
	assert_string_equal(appdef_description(d), "system-override");
	assert_string_equal(appdef_workload_kind(d), "ConfigMap");
	/* one in team-a wins there only */
	o = small_def("ComponentDefinition", "webservice", "team-a", "team-override");
	assert_int_equal(appdef_registry_put(reg, "team-a", parse_ok(o)), 0);
	json_decref(o);
	assert_string_equal(appdef_description(appdef_registry_get(reg, APPDEF_COMPONENT, "team-a", "webservice")),
			    "team-override");
	assert_string_equal(appdef_description(appdef_registry_get(reg, APPDEF_COMPONENT, "team-b", "webservice")),
			    "system-override");
	/* replacing keeps one entry */
	o = small_def("ComponentDefinition", "webservice", "team-a", "team-override-2");
	assert_int_equal(appdef_registry_put(reg, "team-a", parse_ok(o)), 0);
	json_decref(o);
	assert_string_equal(appdef_description(appdef_registry_get(reg, APPDEF_COMPONENT, "team-a", "webservice")),
			    "team-override-2");
	/* a trait of the same name as a component is separate */
	o = small_def("TraitDefinition", "webservice", "team-a", "a trait");
	assert_int_equal(appdef_registry_put(reg, "team-a", parse_ok(o)), 0);
	json_decref(o);
	assert_string_equal(appdef_description(appdef_registry_get(reg, APPDEF_TRAIT, "team-a", "webservice")),
			    "a trait");
	/* names: the union, sorted, once each */
	o = small_def("ComponentDefinition", "my-comp", "team-a", "mine");
	assert_int_equal(appdef_registry_put(reg, "team-a", parse_ok(o)), 0);
	json_decref(o);
	names = appdef_registry_names(reg, APPDEF_COMPONENT, "team-a");
	o = json_pack("[s,s,s,s,s]", "k8s-objects", "my-comp", "task", "webservice", "worker");
	assert_true(expect_equal("names", "team-a", o, names));
	json_decref(o);
	json_decref(names);
	names = appdef_registry_names(reg, APPDEF_COMPONENT, "team-b");
	assert_int_equal(json_array_size(names), 4);
	json_decref(names);
	/* remove falls back */
	assert_int_equal(appdef_registry_remove(reg, APPDEF_COMPONENT, "team-a", "webservice"), 0);
	assert_int_equal(appdef_registry_remove(reg, APPDEF_COMPONENT, "team-a", "webservice"), -ENOENT);
	assert_string_equal(appdef_description(appdef_registry_get(reg, APPDEF_COMPONENT, "team-a", "webservice")),
			    "system-override");
	assert_int_equal(appdef_registry_remove(reg, APPDEF_COMPONENT, "vela-system", "webservice"), 0);
	d = appdef_registry_get(reg, APPDEF_COMPONENT, "team-a", "webservice");
	assert_ptr_equal(d, appdef_registry_get_builtin(reg, APPDEF_COMPONENT, "webservice"));
	assert_string_equal(appdef_workload_kind(d), "Deployment");
	/* built-ins cannot be removed or put through the user API */
	assert_int_equal(appdef_registry_remove(reg, APPDEF_COMPONENT, "", "webservice"), -ENOENT);
	o = small_def("ComponentDefinition", "x", "default", "x");
	assert_int_equal(appdef_registry_put(reg, "", parse_ok(o)), -EINVAL);
	assert_int_equal(appdef_registry_put(reg, NULL, parse_ok(o)), -EINVAL);
	json_decref(o);
	assert_null(appdef_registry_get(reg, APPDEF_COMPONENT, "team-a", "nope"));
	assert_null(appdef_registry_get(reg, APPDEF_COMPONENT, "team-a", NULL));
	appdef_registry_free(reg);
	assert_null(appdef_registry_free(NULL));
}

static void test_registry_limit(void **state)
{
	struct appdef_registry *reg = NULL;
	json_t *o = small_def("TraitDefinition", "t", "default", "x");
	struct appdef *proto = parse_ok(o);
	char name[32];
	size_t i;

	(void)state;
	assert_int_equal(appdef_registry_new(&reg), 0);
	for (i = 0; i < APPDEF_REGISTRY_MAX; i++) {
		struct appdef *d = NULL;

		snprintf(name, sizeof(name), "t-%zu", i);
		json_object_set_new(json_object_get(o, "metadata"), "name", json_string(name));
		assert_int_equal(appdef_parse(o, NULL, &d), 0);
		assert_int_equal(appdef_registry_put(reg, i % 2 ? "a" : "b", d), 0);
	}
	json_object_set_new(json_object_get(o, "metadata"), "name", json_string("one-more"));
	{
		struct appdef *d = NULL;

		assert_int_equal(appdef_parse(o, NULL, &d), 0);
		assert_int_equal(appdef_registry_put(reg, "a", d), -E2BIG);
	}
	/* replacing an existing one is not growth */
	json_object_set_new(json_object_get(o, "metadata"), "name", json_string("t-1"));
	{
		struct appdef *d = NULL;

		assert_int_equal(appdef_parse(o, NULL, &d), 0);
		assert_int_equal(appdef_registry_put(reg, "a", d), 0);
	}
	assert_non_null(appdef_registry_get(reg, APPDEF_TRAIT, "a", "t-9999"));
	assert_null(appdef_registry_get(reg, APPDEF_TRAIT, "b", "t-9999"));
	appdef_free(proto);
	json_decref(o);
	appdef_registry_free(reg);
}

/* ------------------------------------------------------------------------ */
/* limits and helpers                                                        */

static void test_limits(void **state)
{
	struct appdef_registry *reg = builtins();
	json_t *o = small_def("ComponentDefinition", "big", "default", "x"), *schema, *cur, *lets, *fb;
	struct errbuf err = {{0}};
	struct appdef *d = NULL;
	size_t i;

	(void)state;
	/* a definition over APPDEF_MAX_BYTES */
	{
		char *pad = xmalloc(APPDEF_MAX_BYTES + 1);

		memset(pad, 'a', APPDEF_MAX_BYTES);
		pad[APPDEF_MAX_BYTES] = '\0';
		json_object_set_new(json_object_get(o, "metadata"), "labels", json_pack("{s:s}", "pad", pad));
		free(pad);
		assert_int_equal(appdef_parse(o, &err, &d), -E2BIG);
		assert_non_null(strstr(err.msg, "more than 262144"));
		json_object_del(json_object_get(o, "metadata"), "labels");
	}
	/* a schema deeper than APPDEF_SCHEMA_DEPTH */
	schema = json_object();
	cur = schema;
	for (i = 0; i < APPDEF_SCHEMA_DEPTH + 1; i++) {
		json_t *next = json_object();

		json_object_set_new(cur, "properties", json_pack("{s:o}", "x", next));
		cur = next;
	}
	json_object_set_new(json_object_get(json_object_get(json_object_get(o, "spec"), "schematic"), "nave"),
			    "parameters", schema);
	assert_int_equal(appdef_parse(o, &err, &d), -E2BIG);
	assert_non_null(strstr(err.msg, "nests more than 32 levels"));
	json_object_del(json_object_get(json_object_get(json_object_get(o, "spec"), "schematic"), "nave"), "parameters");
	/* too many lets, too many feedback rules */
	lets = json_array();
	for (i = 0; i < 65; i++) {
		char name[16];

		snprintf(name, sizeof(name), "l%zu", i);
		json_array_append_new(lets, json_pack("{s:s, s:i}", "name", name, "value", 1));
	}
	json_object_set_new(json_object_get(json_object_get(json_object_get(o, "spec"), "schematic"), "nave"), "let",
			    lets);
	assert_int_equal(appdef_parse(o, &err, &d), -E2BIG);
	assert_string_equal(err.msg, "spec.schematic.nave.let: Too many: 65: must have at most 64 items");
	json_object_del(json_object_get(json_object_get(json_object_get(o, "spec"), "schematic"), "nave"), "let");
	fb = json_array();
	for (i = 0; i < APPDEF_FEEDBACK_MAX + 1; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%zu", i);
		json_array_append_new(fb, json_pack("{s:s, s:s}", "name", name, "jsonPath", ".status.x"));
	}
	json_object_set_new(json_object_get(json_object_get(json_object_get(o, "spec"), "schematic"), "nave"), "status",
			    json_pack("{s:o}", "feedback", fb));
	assert_int_equal(appdef_parse(o, &err, &d), -E2BIG);
	assert_string_equal(err.msg, "spec.schematic.nave.status.feedback: Too many: 17: must have at most 16 items");
	assert_null(d);
	json_decref(o);
	/* a render past tmpl's caps fails cleanly */
	{
		const struct appdef *k8s = appdef_registry_get(reg, APPDEF_COMPONENT, "default", "k8s-objects");
		json_t *objs = json_array(), *props;
		struct appdef_rendered out = {0};
		struct appdef_context ctx = {"c", "default", "app", "default", "app-v1", "local"};

		for (i = 0; i < 1100; i++)
			json_array_append_new(objs, json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
							      "metadata", "name", "x"));
		props = json_pack("{s:o}", "objects", objs);
		assert_int_equal(appdef_render(k8s, props, "spec.components[0]", NULL, 0, &ctx, &err, &out), -E2BIG);
		assert_non_null(strstr(err.msg, "at most 1024 extra objects"));
		json_decref(props);
	}
	appdef_registry_free(reg);
}

static void test_workload_type_for(void **state)
{
	static const char *const cases[][3] = {
		{"apps/v1", "Deployment", "deployments.apps"},
		{"batch/v1", "Job", "jobs.batch"},
		{"v1", "Pod", "pods"},
		{"v1", "Service", "services"},
		{"networking.k8s.io/v1", "Ingress", "ingresses.networking.k8s.io"},
		{"networking.k8s.io/v1", "NetworkPolicy", "networkpolicies.networking.k8s.io"},
		{"apps/v1", "DaemonSet", "daemonsets.apps"},
		{"example.com/v1", "Gateway", "gateways.example.com"},
		{"v1", "Endpoints", "endpointses"}, /* kubectl's guess too; the real one is "endpoints" */
	};
	char out[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(appdef_workload_type_for(cases[i][0], cases[i][1], out, sizeof(out)), 0);
		assert_string_equal(out, cases[i][2]);
	}
	assert_int_equal(appdef_workload_type_for("a/b/c", "X", out, sizeof(out)), -EINVAL);
	assert_int_equal(appdef_workload_type_for("v1", "", out, sizeof(out)), -EINVAL);
	assert_int_equal(appdef_workload_type_for("apps/v1", "Deployment", out, 5), -EINVAL);
}

/* Health rules over feedback: a rule that cannot be evaluated is unhealthy
 * with the error as message; a message that cannot be rendered says so. */
static void test_health_rules(void **state)
{
	json_t *o = small_def("ComponentDefinition", "h", "default", "x"), *nave;
	struct appdef_context ctx = {"c", "default", "app", "default", "app-v1", "local"};
	struct appdef *d;
	bool healthy = true;
	char *msg = NULL;
	json_t *fb;

	(void)state;
	nave = json_object_get(json_object_get(json_object_get(o, "spec"), "schematic"), "nave");
	json_object_set_new(nave, "status",
			    json_pack("{s:s, s:s}", "healthy", "status.ready > 1", "message", "ready ${status.ready}"));
	d = parse_ok(o);
	/* no feedback yet: undefined in an operator */
	assert_int_equal(appdef_health(d, NULL, &ctx, NULL, NULL, &healthy, &msg), 0);
	assert_false(healthy);
	assert_non_null(strstr(msg, "health rule: "));
	free(msg);
	fb = json_loads("[{\"name\":\"ready\",\"fieldValue\":{\"type\":\"Integer\",\"integer\":2}},"
			"{\"name\":\"bad\",\"fieldValue\":{\"type\":\"Integer\",\"integer\":\"x\"}},"
			"{\"fieldValue\":{\"type\":\"Integer\",\"integer\":1}},"
			"{\"name\":\"raw\",\"fieldValue\":{\"type\":\"JsonRaw\",\"jsonRaw\":\"not json\"}}]", 0, NULL);
	assert_int_equal(appdef_health(d, NULL, &ctx, NULL, fb, &healthy, &msg), 0);
	assert_true(healthy);
	assert_string_equal(msg, "ready 2");
	free(msg);
	json_decref(fb);
	appdef_free(d);
	/* a message that cannot render: healthy as the rule says, message explains */
	json_object_set_new(nave, "status", json_pack("{s:s, s:s}", "healthy", "true", "message", "x ${status.nope}"));
	d = parse_ok(o);
	assert_int_equal(appdef_health(d, NULL, &ctx, NULL, NULL, &healthy, &msg), 0);
	assert_true(healthy);
	assert_non_null(strstr(msg, "status message: "));
	free(msg);
	appdef_free(d);
	/* no rule: healthy, "" */
	json_object_del(nave, "status");
	d = parse_ok(o);
	assert_int_equal(appdef_health(d, NULL, NULL, NULL, NULL, &healthy, &msg), 0);
	assert_true(healthy);
	assert_string_equal(msg, "");
	free(msg);
	assert_int_equal(appdef_health(NULL, NULL, NULL, NULL, NULL, &healthy, &msg), -EINVAL);
	appdef_free(d);
	json_decref(o);
}

/* appdef_params on its own: defaults, nothing given, no schema. */
static void test_params(void **state)
{
	struct appdef_registry *reg = builtins();
	struct errbuf err = {{0}};
	json_t *p = NULL, *props;
	const struct appdef *d = appdef_registry_get(reg, APPDEF_TRAIT, "default", "scaler");

	(void)state;
	assert_int_equal(appdef_params(d, NULL, "spec.components[0].traits[0].properties", &err, &p), 0);
	assert_int_equal(json_integer_value(json_object_get(p, "replicas")), 1);
	json_decref(p);
	props = json_pack("{s:f}", "replicas", 3.0);
	assert_int_equal(appdef_params(d, props, "x", &err, &p), 0);
	assert_true(json_is_integer(json_object_get(p, "replicas")));
	json_decref(p);
	json_decref(props);
	props = json_pack("{s:f}", "replicas", 3.5);
	assert_int_equal(appdef_params(d, props, "x", &err, &p), -EINVAL);
	assert_string_equal(err.msg, "x.replicas: Invalid value: 3.5: must be an integer");
	json_decref(props);
	props = json_pack("{s:i}", "replica", 3);
	assert_int_equal(appdef_params(d, props, "x", &err, &p), -EINVAL);
	assert_string_equal(err.msg, "x.replica: Unsupported field: scaler has no parameter \"replica\"; did you mean "
			    "\"replicas\"? (parameters: replicas)");
	json_decref(props);
	appdef_registry_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtins),
		cmocka_unit_test(test_feedback_rules),
		cmocka_unit_test(test_render_cases),
		cmocka_unit_test(test_builtins_covered),
		cmocka_unit_test(test_definition_cases),
		cmocka_unit_test(test_registry_override),
		cmocka_unit_test(test_registry_limit),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_workload_type_for),
		cmocka_unit_test(test_health_rules),
		cmocka_unit_test(test_params),
	};

	regen = getenv("NAVE_APPDEF_REGEN") && !strcmp(getenv("NAVE_APPDEF_REGEN"), "1");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
