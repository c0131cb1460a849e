/* fuzz_app_spec.c - Applications from outside: hub/app_spec.c, app_place.c
 * and app_render.c.
 *
 * The input is an Application in YAML or JSON (one document, small YAML
 * limits). It goes through app_check with the built-in definitions (parse,
 * overrides, rendering, the ManifestWork), and when it parses, through the
 * placement of every topology against a fixed fleet, the overrides of every
 * deploy step for each cluster of the fleet, and the revision hash of its
 * spec. Invariants (abort on violation): a refusal carries a non-empty
 * message; app_check accepts only what app_spec_parse accepts; selected
 * clusters are sorted, unique and eligible; a rendered work is named
 * "<ns>.<name>" in the cluster's namespace.
 * Registered from tests/fuzz/meson.build's hub_fuzzers table (it links the
 * hub's core).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "app.h"
#include "kobj.h"
#include "yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fleet_json[] =
	"[{\"metadata\":{\"name\":\"local\"},\"spec\":{\"hubAcceptsClient\":true}},"
	"{\"metadata\":{\"name\":\"cluster-1\",\"labels\":{\"region\":\"eu\",\"tier\":\"gold\"}},"
	"\"spec\":{\"hubAcceptsClient\":true}},"
	"{\"metadata\":{\"name\":\"cluster-2\",\"labels\":{\"region\":\"us\"}},\"spec\":{\"hubAcceptsClient\":true}},"
	"{\"metadata\":{\"name\":\"pending\",\"labels\":{\"region\":\"eu\"}},\"spec\":{\"hubAcceptsClient\":false}}]";

static void check_placement(const struct app_spec *s, const json_t *fleet)
{
	struct errbuf err = {""};
	json_t *names, *missing, *mc;
	size_t i, k, n;

	for (i = 0; i < s->npolicies; i++) {
		const struct app_topology *t = &s->policies[i].topology;

		if (s->policies[i].kind != APP_POLICY_TOPOLOGY)
			continue;
		if (app_topology_select(t, fleet, &err, &names) < 0) {
			/* app_spec_parse validated the selector: it must parse here */
			fprintf(stderr, "topology %s: %s\n", s->policies[i].name, err.msg);
			abort();
		}
		for (k = 0; k < json_array_size(names); k++) {
			const char *nm = json_string_value(json_array_get(names, k));

			if (!strcmp(nm, "pending") ||
			    (k && strcmp(json_string_value(json_array_get(names, k - 1)), nm) >= 0)) {
				fprintf(stderr, "selection not sorted/unique/eligible at %s\n", nm);
				abort();
			}
		}
		json_decref(names);
		missing = app_topology_missing(t, fleet);
		json_decref(missing);
	}
	for (i = 0; i < s->nsteps; i++) {
		const struct app_step *st = &s->steps[i];
		const struct app_policy *ovs[APP_POLICIES_MAX];
		size_t novs = 0;

		if (st->kind != APP_STEP_DEPLOY)
			continue;
		for (k = 0; k < st->npolicies; k++)
			if (s->policies[st->policies[k]].kind == APP_POLICY_OVERRIDE)
				ovs[novs++] = &s->policies[st->policies[k]];
		json_array_foreach(fleet, k, mc) {
			struct app_component *cs = NULL;

			if (app_override_apply(s->components, s->ncomponents, ovs, novs, kobj_name(mc), kobj_labels(mc),
					       &err, &cs, &n) < 0)
				continue;
			for (size_t c = 0; c < n; c++)
				app_component_free_contents(&cs[c]);
			free(cs);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct yaml_limits limits = {
		.max_input = 64 * 1024, .max_depth = 40, .max_nodes = 20000, .max_documents = 4,
	};
	struct errbuf err = {""};
	struct app_spec *s = NULL;
	json_t *app = NULL, *fleet;
	char hash[65];
	int r, rp;

	if (size > 64 * 1024)
		return 0;
	app = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!app && yaml_parse_one((const char *)data, size, &limits, &err, &app) < 0)
		return 0;
	rp = app_spec_parse(app, &err, &s);
	if (rp < 0 && !err.msg[0]) {
		fprintf(stderr, "app_spec_parse refused without a message\n");
		abort();
	}
	err.msg[0] = 0;
	r = app_check(app, NULL, &err);
	if (r < 0 && !err.msg[0]) {
		fprintf(stderr, "app_check refused without a message\n");
		abort();
	}
	if (r == 0 && rp < 0) {
		fprintf(stderr, "app_check accepted what app_spec_parse refused\n");
		abort();
	}
	if (s) {
		fleet = json_loads(fleet_json, 0, NULL);
		check_placement(s, fleet);
		json_decref(fleet);
		app_revision_hash(json_object_get(app, "spec"), NULL, hash);
		if (strlen(hash) != 64)
			abort();
		app_spec_free(s);
	}
	json_decref(app);
	return 0;
}
