/* fuzz_appdef.c - libFuzzer harness for hub/appdef (definitions).
 *
 * The input is a YAML stream (at most 64 KiB):
 *   document 1  a ComponentDefinition or TraitDefinition, parsed by
 *               appdef_parse; when it parses it is rendered: a component
 *               with document 2 as its properties and document 3 as a list
 *               of built-in traits [{type, properties}]; a trait applied
 *               to the built-in webservice with document 2 as its
 *               properties. Then health over document 4 (feedback values).
 *   or, when document 1 is no definition: {type, properties, traits} of
 *               a component using the built-ins, rendered (the built-in
 *               templates and the schema checks against any properties).
 * Invariants (abort): a parsed definition's object is what it was given;
 * rendering twice gives the same objects; every rendered object has
 * apiVersion, kind and metadata.name; health always answers a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "hub/appdef.h"
#include "yaml.h"

#define FUZZ_MAX_INPUT (64 * 1024)
#define FUZZ_MAX_TRAITS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct appdef_registry *registry(void)
{
	static struct appdef_registry *reg;
	struct errbuf err = {{0}};

	if (!reg) {
		if (appdef_registry_new(&reg) < 0 || appdef_registry_load_builtins(reg, &err) < 0) {
			fprintf(stderr, "built-ins: %s\n", err.msg);
			abort();
		}
	}
	return reg;
}

static void check_object(const json_t *o)
{
	if (!json_is_string(json_object_get(o, "apiVersion")) || !json_is_string(json_object_get(o, "kind")) ||
	    !json_is_object(json_object_get(o, "metadata"))) {
		fprintf(stderr, "rendered object without apiVersion, kind or metadata\n");
		abort();
	}
}

static void render_twice(const struct appdef *cd, const json_t *props, const struct appdef_trait_use *tu, size_t nt,
			 const json_t *feedback)
{
	struct appdef_context ctx = {"comp", "default", "app", "default", "app-v1", "cluster-1"};
	struct appdef_rendered a = {0}, b = {0};
	struct errbuf err = {{0}};
	const json_t *e;
	size_t i;
	int r1, r2;

	r1 = appdef_render(cd, props, "spec.components[0]", tu, nt, &ctx, &err, &a);
	r2 = appdef_render(cd, props, "spec.components[0]", tu, nt, &ctx, &err, &b);
	if (r1 != r2 || (r1 == 0 && (!json_equal(a.workload, b.workload) || !json_equal(a.outputs, b.outputs)))) {
		fprintf(stderr, "two renders differ (%d, %d)\n", r1, r2);
		abort();
	}
	if (r1 == 0) {
		bool healthy;
		char *msg = NULL;

		check_object(a.workload);
		json_array_foreach(a.outputs, i, e)
			check_object(json_object_get(e, "object"));
		if (appdef_health(cd, a.params, &ctx, a.workload, json_is_array(feedback) ? feedback : NULL, &healthy,
				  &msg) < 0 || !msg) {
			fprintf(stderr, "health gave no message\n");
			abort();
		}
		free(msg);
		for (i = 0; i < nt; i++) {
			if (appdef_health(tu[i].def, NULL, &ctx, a.workload, NULL, &healthy, &msg) == 0)
				free(msg);
		}
	}
	appdef_rendered_clear(&a);
	appdef_rendered_clear(&b);
}

/* traits: [{type, properties}] of built-ins, into tu (at most FUZZ_MAX_TRAITS). */
static size_t builtin_traits(const json_t *traits, struct appdef_trait_use *tu)
{
	static const char *const fields[FUZZ_MAX_TRAITS] = {
		"spec.components[0].traits[0]", "spec.components[0].traits[1]", "spec.components[0].traits[2]",
		"spec.components[0].traits[3]", "spec.components[0].traits[4]", "spec.components[0].traits[5]",
		"spec.components[0].traits[6]", "spec.components[0].traits[7]",
	};
	const json_t *t;
	size_t i, n = 0;

	json_array_foreach(traits, i, t) {
		const struct appdef *d = appdef_registry_get(registry(), APPDEF_TRAIT, "default",
							     json_string_value(json_object_get(t, "type")));

		if (!d || n == FUZZ_MAX_TRAITS)
			continue;
		tu[n].def = d;
		tu[n].properties = json_object_get(t, "properties");
		tu[n].field = fields[n];
		n++;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct appdef_trait_use tu[FUZZ_MAX_TRAITS];
	struct errbuf err = {{0}};
	struct appdef *d = NULL;
	json_t *docs = NULL, *first, *copy;
	size_t nt;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	if (yaml_parse_stream((const char *)data, size, NULL, &err, &docs) < 0)
		return 0;
	first = json_array_get(docs, 0);
	copy = json_deep_copy(first);
	if (first && appdef_parse(first, &err, &d) == 0) {
		if (!json_equal(copy, first) || !json_equal(copy, (json_t *)appdef_object(d))) {
			fprintf(stderr, "appdef_parse changed its input\n");
			abort();
		}
		(void)appdef_name(d);
		(void)appdef_description(d);
		json_decref(appdef_feedback_rules(d));
		if (appdef_kind(d) == APPDEF_COMPONENT) {
			nt = builtin_traits(json_array_get(docs, 2), tu);
			render_twice(d, json_array_get(docs, 1), tu, nt, json_array_get(docs, 3));
		} else {
			json_t *props = json_pack("{s:s, s:[{s:i, s:b}]}", "image", "nginx", "ports", "port", 80,
						  "expose", 1);

			tu[0].def = d;
			tu[0].properties = json_array_get(docs, 1);
			tu[0].field = "spec.components[0].traits[0]";
			render_twice(appdef_registry_get(registry(), APPDEF_COMPONENT, "default", "webservice"), props, tu,
				     1, json_array_get(docs, 3));
			json_decref(props);
		}
		appdef_free(d);
	} else if (json_is_object(first)) {
		const struct appdef *cd = appdef_registry_get(registry(), APPDEF_COMPONENT, "default",
							      json_string_value(json_object_get(first, "type")));

		if (cd) {
			nt = builtin_traits(json_object_get(first, "traits"), tu);
			render_twice(cd, json_object_get(first, "properties"), tu, nt, json_array_get(docs, 1));
		}
	}
	json_decref(copy);
	json_decref(docs);
	return 0;
}
