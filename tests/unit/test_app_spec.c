/* Unit tests for the pure parts of the application subsystem (hub/app.h):
 * app_spec.c (parse and validate), app_place.c (topology, overrides) and
 * app_render.c (manifests, works, revision hash, app_check).
 *
 * Data-driven first: every KubeVela example (tests/data/app/examples/,
 * copies of /work/shared/examples/kubevela) against the table
 * tests/data/app/examples.tsv ("ok" or the message it must give), and every
 * bad Application in tests/data/app/bad/ (first line "# expect: <substring
 * of the message>"), all through app_check with the built-in definitions.
 * Then the parsed structure, placement, overrides and rendering in detail.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "apptest_util.h"
#include "app.h"
#include "appdef.h"
#include "kobj.h"
#include "yaml.h"

/* ------------------------------------------------------------------------ */
/* helpers                                                                   */

/* One YAML document from text (the test's own fixtures: must parse). */
static json_t *yaml(const char *text)
{
	struct errbuf err = {""};
	json_t *doc = NULL;

	if (yaml_parse_one(text, strlen(text), NULL, &err, &doc) < 0)
		fail_msg("fixture does not parse: %s\n%s", err.msg, text);
	return doc;
}

static struct app_spec *parse_ok(const char *text)
{
	struct errbuf err = {""};
	struct app_spec *s = NULL;
	json_t *app = yaml(text);

	if (app_spec_parse(app, &err, &s) < 0)
		fail_msg("parse failed: %s", err.msg);
	json_decref(app);
	return s;
}

static void parse_fails(const char *text, const char *want)
{
	struct errbuf err = {""};
	struct app_spec *s = (struct app_spec *)0x1;
	json_t *app = yaml(text);

	assert_int_equal(app_spec_parse(app, &err, &s), -EINVAL);
	assert_ptr_equal(s, (struct app_spec *)0x1);
	if (!strstr(err.msg, want))
		fail_msg("message [%s] lacks [%s]", err.msg, want);
	json_decref(app);
}

static struct appdef_registry *builtin_defs(void)
{
	struct appdef_registry *reg = NULL;
	struct errbuf err = {""};

	assert_int_equal(appdef_registry_new(&reg), 0);
	if (appdef_registry_load_builtins(reg, &err) < 0)
		fail_msg("built-in definitions: %s", err.msg);
	return reg;
}

/* Check a YAML file through app_check: want NULL = accepted, else a
 * substring of the message. Parse errors of the YAML count as messages. */
static void check_file(const char *path, const char *want)
{
	struct errbuf err = {""};
	json_t *doc = NULL;
	size_t len;
	char *text = apptest_read_file(path, &len);
	int r;

	r = yaml_parse_one(text, len, NULL, &err, &doc);
	if (r == 0)
		r = app_check(doc, NULL, &err);
	if (!want && r < 0)
		fail_msg("%s: refused: %s", path, err.msg);
	if (want && r == 0)
		fail_msg("%s: accepted, want an error with [%s]", path, want);
	if (want && !strstr(err.msg, want))
		fail_msg("%s: message [%s] lacks [%s]", path, err.msg, want);
	json_decref(doc);
	free(text);
}

#define APP_HDR "apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: shop\n  namespace: team-a\n"

/* ------------------------------------------------------------------------ */
/* data-driven                                                               */

static void test_examples(void **state)
{
	char path[1024], line[1024];
	size_t n = 0, ok = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/app/examples.tsv", apptest_data_dir());
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *tab = strchr(line, '\t'), *nl;
		char file[2200];

		if (line[0] == '#' || line[0] == '\n')
			continue;
		assert_non_null(tab);
		*tab++ = 0;
		if ((nl = strchr(tab, '\n')))
			*nl = 0;
		snprintf(file, sizeof(file), "%s/app/examples/%s", apptest_data_dir(), line);
		check_file(file, strcmp(tab, "ok") ? tab : NULL);
		ok += !strcmp(tab, "ok");
		n++;
	}
	fclose(f);
	/* every Application of /work/shared/examples/kubevela is in the table */
	assert_int_equal(n, 24);
	assert_true(ok >= 15);
}

static void test_bad(void **state)
{
	char dirpath[1024];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(dirpath, sizeof(dirpath), "%s/app/bad", apptest_data_dir());
	d = opendir(dirpath);
	assert_non_null(d);
	while ((de = readdir(d))) {
		char path[1400], want[512];
		size_t len = strlen(de->d_name), wl;
		char *text;

		if (len < 5 || strcmp(de->d_name + len - 5, ".yaml"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dirpath, de->d_name);
		text = apptest_read_file(path, &wl);
		if (strncmp(text, "# expect: ", 10))
			fail_msg("%s: the first line must be \"# expect: <message substring>\"", path);
		wl = strcspn(text + 10, "\n");
		assert_true(wl > 0 && wl < sizeof(want));
		memcpy(want, text + 10, wl);
		want[wl] = 0;
		free(text);
		check_file(path, want);
		n++;
	}
	closedir(d);
	assert_true(n >= 40);
}

/* ------------------------------------------------------------------------ */
/* the parsed structure                                                      */

static void test_parse_fields(void **state)
{
	struct app_spec *s = parse_ok(
		"apiVersion: core.oam.dev/v1beta1\nkind: Application\n"
		"metadata:\n  name: shop\n  namespace: team-a\n"
		"  annotations:\n    app.oam.dev/publishVersion: alpha\n    app.oam.dev/revision-only: \"true\"\n"
		"spec:\n"
		"  components:\n"
		"    - name: db\n      type: worker\n      properties: {image: postgres}\n"
		"    - name: web\n      type: webservice\n      dependsOn: [db]\n"
		"      properties: {image: nginx, port: 80}\n"
		"      traits:\n        - type: scaler\n          properties: {replicas: 2}\n        - type: labels\n"
		"  policies:\n"
		"    - name: eu\n      type: topology\n"
		"      properties: {clusterLabelSelector: {region: eu}, namespace: shop-eu, allowEmpty: true}\n"
		"    - type: topology\n      properties:\n        clusters: [c1, c2]\n"
		"        clusterSelector: {matchExpressions: [{key: tier, operator: In, values: [gold]}]}\n"
		"    - name: ha\n      type: override\n"
		"      properties:\n        selector: [web]\n        clusters: [c1]\n"
		"        components:\n          - type: webservice\n            properties: {image: \"nginx:2\"}\n"
		"            traits: [{type: scaler, properties: {replicas: 3}}, {type: labels, disable: true}]\n"
		"    - name: canary\n      type: nave-rollout\n      properties: {batches: [{replicas: 1}]}\n"
		"  workflow:\n    steps:\n"
		"      - name: deploy-eu\n        type: deploy\n        timeout: 1h30m\n"
		"        properties: {policies: [eu, ha, canary], auto: false, parallelism: 2, revision: shop-v3}\n"
		"      - name: wait\n        type: suspend\n        if: always\n"
		"        properties: {duration: 500ms, message: check the dashboards}\n"
		"      - name: one\n        type: apply-component\n        dependsOn: [wait]\n"
		"        if: status.wait.succeeded && !status[\"deploy-eu\"].failed\n"
		"        properties: {component: db, cluster: c2, namespace: data}\n"
		"      - name: tell\n        type: notification\n"
		"        properties: {slack: {url: {value: \"https://hooks.slack.com/services/T0/B0/x\"}}}\n"
		"      - name: hook\n        type: notification\n"
		"        properties: {webhook: {url: \"http://10.0.0.1:8080/hook\", message: {app: shop}}}\n");
	const struct app_policy *p;
	const struct app_step *st;

	assert_string_equal(s->name, "shop");
	assert_string_equal(s->namespace_, "team-a");
	assert_string_equal(s->publish_version, "alpha");
	assert_true(s->revision_only);
	assert_false(s->default_workflow);

	assert_int_equal(s->ncomponents, 2);
	assert_string_equal(s->components[1].name, "web");
	assert_string_equal(s->components[1].type, "webservice");
	assert_int_equal(json_integer_value(json_object_get(s->components[1].properties, "port")), 80);
	assert_int_equal(s->components[1].ntraits, 2);
	assert_string_equal(s->components[1].traits[0].type, "scaler");
	assert_true(json_is_object(s->components[1].traits[1].properties)); /* {} when absent */
	assert_int_equal(json_object_size(s->components[1].traits[1].properties), 0);
	assert_int_equal(s->components[1].ndepends, 1);
	assert_string_equal(s->components[1].depends_on[0], "db");
	assert_ptr_equal(app_spec_component(s, "db"), &s->components[0]);
	assert_null(app_spec_component(s, "nope"));

	assert_int_equal(s->npolicies, 4);
	p = &s->policies[0];
	assert_int_equal(p->kind, APP_POLICY_TOPOLOGY);
	assert_string_equal(p->topology.namespace_, "shop-eu");
	assert_true(p->topology.allow_empty);
	assert_int_equal(p->topology.nclusters, 0);
	/* KubeVela's plain map becomes matchLabels */
	assert_string_equal(json_string_value(kobj_get_path(p->topology.selector, "matchLabels.region")), "eu");
	p = &s->policies[1];
	assert_string_equal(p->name, "topology-1"); /* anonymous: <type>-<index> */
	assert_int_equal(p->topology.nclusters, 2);
	assert_string_equal(p->topology.clusters[1], "c2");
	assert_true(json_is_array(json_object_get(p->topology.selector, "matchExpressions")));
	assert_null(p->topology.namespace_);
	p = &s->policies[2];
	assert_int_equal(p->kind, APP_POLICY_OVERRIDE);
	assert_int_equal(p->override.nentries, 1);
	assert_null(p->override.entries[0].name);
	assert_string_equal(p->override.entries[0].type, "webservice");
	assert_int_equal(p->override.entries[0].ntraits, 2);
	assert_true(p->override.entries[0].traits[1].disable);
	assert_null(p->override.entries[0].traits[1].properties);
	assert_int_equal(p->override.nselector, 1);
	assert_int_equal(p->override.nclusters, 1);
	assert_null(p->override.cluster_selector);
	p = &s->policies[3];
	assert_int_equal(p->kind, APP_POLICY_ROLLOUT);
	assert_true(json_is_array(json_object_get(p->properties, "batches")));
	assert_int_equal(app_spec_policy(s, "canary"), 3);
	assert_int_equal(app_spec_policy(s, "nope"), -1);

	assert_int_equal(s->nsteps, 5);
	st = &s->steps[0];
	assert_int_equal(st->kind, APP_STEP_DEPLOY);
	assert_int_equal(st->timeout_ms, 5400000);
	assert_int_equal(st->npolicies, 3);
	assert_int_equal(st->policies[0], 0);
	assert_int_equal(st->policies[1], 2);
	assert_int_equal(st->policies[2], 3);
	assert_false(st->auto_);
	assert_int_equal(st->parallelism, 2);
	assert_string_equal(st->revision, "shop-v3");
	assert_null(st->if_expr);
	st = &s->steps[1];
	assert_int_equal(st->kind, APP_STEP_SUSPEND);
	assert_int_equal(st->duration_ms, 500);
	assert_string_equal(st->message, "check the dashboards");
	assert_string_equal(st->if_expr, "true"); /* KubeVela's "always" */
	st = &s->steps[2];
	assert_int_equal(st->kind, APP_STEP_APPLY_COMPONENT);
	assert_string_equal(st->component, "db");
	assert_string_equal(st->cluster, "c2");
	assert_string_equal(st->namespace_, "data");
	assert_int_equal(st->ndepends, 1);
	assert_string_equal(st->if_expr, "status.wait.succeeded && !status[\"deploy-eu\"].failed");
	st = &s->steps[3];
	assert_int_equal(st->kind, APP_STEP_NOTIFICATION);
	assert_string_equal(st->channel, "slack");
	assert_string_equal(st->url, "https://hooks.slack.com/services/T0/B0/x");
	assert_non_null(strstr(json_string_value(json_object_get(st->payload, "text")), "team-a/shop"));
	assert_int_equal(st->timeout_ms, 0);
	st = &s->steps[4];
	assert_string_equal(st->channel, "webhook");
	assert_string_equal(st->url, "http://10.0.0.1:8080/hook");
	assert_string_equal(json_string_value(json_object_get(st->payload, "app")), "shop");
	app_spec_free(s);
	assert_null(app_spec_free(NULL));
}

static void test_defaults(void **state)
{
	struct app_spec *s;

	/* no namespace, no policies, no workflow: one deploy step, to local */
	s = parse_ok("metadata: {name: a}\nspec:\n  components: [{name: c, type: worker, traits: null}]\n");
	assert_string_equal(s->namespace_, "default");
	assert_null(s->publish_version);
	assert_false(s->revision_only);
	assert_true(s->default_workflow);
	assert_int_equal(s->nsteps, 1);
	assert_string_equal(s->steps[0].name, "deploy");
	assert_int_equal(s->steps[0].kind, APP_STEP_DEPLOY);
	assert_int_equal(s->steps[0].npolicies, 0);
	assert_true(s->steps[0].auto_);
	assert_int_equal(s->steps[0].parallelism, 5);
	assert_true(json_is_object(s->components[0].properties));
	assert_int_equal(s->components[0].ntraits, 0);
	app_spec_free(s);

	/* one deploy step per topology, each with every override */
	s = parse_ok("metadata: {name: a}\nspec:\n  components: [{name: c, type: worker}]\n"
		     "  policies:\n"
		     "    - {type: topology, properties: {clusters: [x]}}\n"
		     "    - {name: o, type: override, properties: {components: [{properties: {image: y}}]}}\n"
		     "    - {name: t2, type: topology, properties: {clusterLabelSelector: {}}}\n"
		     "  workflow: {steps: []}\n");
	assert_true(s->default_workflow);
	assert_int_equal(s->nsteps, 2);
	assert_string_equal(s->steps[0].name, "deploy-topology-0");
	assert_int_equal(s->steps[0].npolicies, 2);
	assert_int_equal(s->steps[0].policies[0], 0);
	assert_int_equal(s->steps[0].policies[1], 1);
	assert_string_equal(s->steps[1].name, "deploy-t2");
	assert_int_equal(s->steps[1].policies[0], 2);
	assert_int_equal(s->steps[1].policies[1], 1);
	/* an empty clusterLabelSelector selects every cluster */
	assert_int_equal(json_object_size(json_object_get(s->policies[2].topology.selector, "matchLabels")), 0);
	app_spec_free(s);

	/* anonymous steps are named <type>-<index> */
	s = parse_ok("metadata: {name: a}\nspec:\n  components: [{name: c, type: worker}]\n"
		     "  workflow: {steps: [{type: suspend}, {type: apply-component, properties: {component: c}}]}\n");
	assert_string_equal(s->steps[0].name, "suspend-0");
	assert_int_equal(s->steps[0].duration_ms, 0);
	assert_string_equal(s->steps[1].name, "apply-component-1");
	assert_null(s->steps[1].cluster);
	assert_null(s->steps[1].namespace_);
	app_spec_free(s);
}

static void test_parse_errors(void **state)
{
	parse_fails("[1, 2]", "an Application must be an object");
	parse_fails("metadata: {}\nspec: {components: [{name: c, type: w}]}", "metadata.name: Required value");
	parse_fails("metadata: {name: a}", "spec: Required value");
	parse_fails("metadata: {name: a}\nspec: {components: [{name: c, type: w}], rolloutPlan: {targetSize: 2}}",
		    "spec.rolloutPlan: Unsupported: rolloutPlan is not supported by Nave");
	parse_fails("metadata: {name: a}\nspec: {components: [{name: c, type: w}], extra: 1}",
		    "spec.extra: Unsupported field");
	parse_fails("metadata: {name: a, namespace: Team}\nspec: {components: [{name: c, type: w}]}",
		    "metadata.namespace: Invalid value: \"Team\"");
	parse_fails("metadata: {name: a, annotations: {app.oam.dev/revision-only: \"yes\"}}\n"
		    "spec: {components: [{name: c, type: w}]}",
		    "metadata.annotations[app.oam.dev/revision-only]: Invalid value: \"yes\"");
	parse_fails("metadata: {name: a}\nspec: {components: [{name: c, type: w, traits: [{properties: {}}]}]}",
		    "spec.components[0].traits[0].type: Required value");
	parse_fails("metadata: {name: a}\nspec: {components: [{name: c, type: w, traits: {type: x}}]}",
		    "spec.components[0].traits: Invalid value: an object: must be a list");
	parse_fails("metadata: {name: a}\nspec: {components: [{name: c, type: 3}]}",
		    "spec.components[0].type: Invalid value: a number: must be a string");
	parse_fails("metadata: {name: a}\nspec: {components: [{name: c, type: w, inputs: [{from: x}]}]}",
		    "spec.components[0].inputs: Unsupported: component inputs/outputs are not supported");
	parse_fails("metadata: {name: a}\nspec: {components: [{name: c, type: w, externalRevision: c-v1}]}",
		    "spec.components[0].externalRevision: Unsupported: externalRevision is not supported");
	parse_fails("metadata: {name: a}\nspec: {components: [{name: c, type: w, inputs: []}, {name: c, type: w}]}",
		    "spec.components[1].name: Duplicate value");
	parse_fails("metadata: {name: a}\nspec:\n  components: [{name: c, type: w}]\n"
		    "  policies: [{type: topology, properties: {clusters: [a], clusterLabelSelector: {x: y}, "
		    "clusterSelector: {x: y}}}]",
		    "give clusterLabelSelector or clusterSelector");
	parse_fails("metadata: {name: a}\nspec:\n  components: [{name: c, type: w}]\n"
		    "  policies: [{type: topology, properties: {clusters: [\"Cluster 1\"]}}]",
		    "spec.policies[0].properties.clusters[0]: Invalid value: \"Cluster 1\"");
	parse_fails("metadata: {name: a}\nspec:\n  components: [{name: c, type: w}]\n"
		    "  policies: [{type: override, properties: {components: []}}]",
		    "spec.policies[0].properties.components: Required value");
	parse_fails("metadata: {name: a}\nspec:\n  components: [{name: c, type: w}]\n"
		    "  policies: [{name: o, type: override, properties: {components: [{name: c, type: v}]}}]",
		    "spec.policies[0].properties.components[0].type: Not found: \"v\"");
	parse_fails("metadata: {name: a}\nspec:\n  components: [{name: c, type: w}, {name: d, type: v}]\n"
		    "  policies: [{name: o, type: override, properties: {components: [{name: c, type: v}]}}]",
		    "component \"c\" has type \"w\"");
	parse_fails("metadata: {name: a}\nspec:\n  components: [{name: c, type: w}]\n"
		    "  policies: [{name: o, type: override, properties: {selector: [d], components: [{}]}}]",
		    "spec.policies[0].properties.selector[0]: Not found: \"d\"");
	parse_fails("metadata: {name: a}\nspec:\n  components: [{name: c, type: w}]\n"
		    "  policies: [{name: o, type: override, properties: {components: [{traits: [{type: s, "
		    "disable: \"yes\"}]}]}}]",
		    "spec.policies[0].properties.components[0].traits[0].disable: Invalid value: a string: must be true "
		    "or false");
	parse_fails("metadata: {name: a}\nspec:\n  components: [{name: c, type: w}]\n"
		    "  policies: [{name: topology-1, type: topology, properties: {clusters: [a]}}, "
		    "{type: topology, properties: {clusters: [b]}}]",
		    "spec.policies[1].name: Duplicate value: \"topology-1\": policy names must be unique (an anonymous");
	parse_fails("metadata: {name: a}\nspec:\n  components: [{name: c, type: w}]\n"
		    "  workflow: {steps: [{type: deploy, properties: {revision: other-v1}}]}",
		    "spec.workflow.steps[0].properties.revision: Invalid value: \"other-v1\"");
	parse_fails("metadata: {name: a}\nspec:\n  components: [{name: c, type: w}]\n"
		    "  workflow: {steps: [{type: deploy, properties: {policies: [], foo: 1}}]}",
		    "spec.workflow.steps[0].properties.foo: Unsupported field: a deploy step has no field \"foo\"");
	parse_fails("metadata: {name: a}\nspec:\n  components: [{name: c, type: w}]\n"
		    "  workflow: {steps: [{type: suspend, properties: {duration: 0s}}]}",
		    "spec.workflow.steps[0].properties.duration: Invalid value: \"0s\"");
	parse_fails("metadata: {name: a}\nspec:\n  components: [{name: c, type: w}]\n"
		    "  workflow: {steps: [{type: notification, properties: {}}]}",
		    "spec.workflow.steps[0].properties: Required value: one of slack, dingding, lark or webhook");
	parse_fails("metadata: {name: a}\nspec:\n  components: [{name: c, type: w}]\n"
		    "  workflow: {steps: [{type: notification, properties: {dingding: {url: {value: "
		    "\"https://x.example.com/a b\"}}}}]}",
		    "spec.workflow.steps[0].properties.dingding.url.value: Invalid value");
	parse_fails("metadata: {name: a}\nspec:\n  components: [{name: c, type: w}]\n"
		    "  workflow: {steps: [{type: notification, properties: {slack: {url: {value: "
		    "\"https://x.example.com\"}, message: hello}}}]}",
		    "spec.workflow.steps[0].properties.slack.message: Invalid value: a string: must be an object");
	parse_fails("metadata: {name: a}\nspec:\n  components: [{name: c, type: w}]\n"
		    "  workflow: {steps: [{name: s, type: suspend}, {name: s, type: suspend}]}",
		    "spec.workflow.steps[1].name: Duplicate value: \"s\"");
	parse_fails("metadata: {name: a}\nspec:\n  components: [{name: c, type: w}]\n"
		    "  workflow: {steps: [{type: suspend, if: 42}]}",
		    "spec.workflow.steps[0].if: Invalid value: a number: must be a string");
}

/* The override entries of all policies together are capped. */
static void test_override_entries_cap(void **state)
{
	char *text = xstrdup("metadata: {name: a}\nspec:\n  components: [{name: c, type: w}]\n  policies:\n"), *t;

	for (int p = 0; p < 3; p++) {
		t = xasprintf("%s    - {type: override, properties: {components: [", text);
		free(text);
		text = t;
		for (int e = 0; e < 100; e++) {
			t = xasprintf("%s%s{type: w}", text, e ? ", " : "");
			free(text);
			text = t;
		}
		t = xasprintf("%s]}}\n", text);
		free(text);
		text = t;
	}
	parse_fails(text, "spec.policies[2].properties.components: Too many: the override policies have 300 entries "
		    "together: must have at most 256");
	free(text);
}

static void test_durations(void **state)
{
	static const struct {
		const char *s;
		int64_t ms;
	} good[] = {
		{"30s", 30000}, {"5m", 300000}, {"1h30m", 5400000}, {"500ms", 500}, {"1.5h", 5400000},
		{"2h3m4s5ms", 7384005}, {"0s", 0}, {"1m1ms", 60001}, {".5s", 500},
	};
	static const char *const bad[] = {"", "5", "s", "5 m", "5min", "-1s", "1d", "1h-", "1.s.", "10us", "ms",
					  "1e3s", "99999999999999999999h"};
	int64_t ms;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ms = -1;
		if (app_duration_parse(good[i].s, &ms) < 0 || ms != good[i].ms)
			fail_msg("%s: got %lld", good[i].s, (long long)ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = -7;
		if (app_duration_parse(bad[i], &ms) == 0)
			fail_msg("%s: accepted as %lld", bad[i], (long long)ms);
		assert_int_equal(ms, -7);
	}
	assert_true(app_duration_parse(NULL, &ms) < 0);
}

static void test_urls(void **state)
{
	static const char *const good[] = {"https://hooks.slack.com/services/T/B/x", "http://10.0.0.1:8080/hook",
					   "https://oapi.dingtalk.com/robot/send?access_token=abc",
					   "http://[::1]:9000/x", "https://kubevela.io"};
	static const char *const bad[] = {"<your-slack-url>", "ftp://x.example.com", "https://", "https:///path",
					  "http://exa mple.com", "https://x.example.com/<token>", "hooks.slack.com/x",
					  "mailto:a@b.c", "", "https://x.example.com/\n"};
	char *longurl;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!app_url_valid(good[i]))
			fail_msg("%s: refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (app_url_valid(bad[i]))
			fail_msg("%s: accepted", bad[i]);
	assert_false(app_url_valid(NULL));
	longurl = xmalloc(APP_URL_MAX + 2);
	memcpy(longurl, "https://x.io/", 13);
	memset(longurl + 13, 'a', APP_URL_MAX + 1 - 13);
	longurl[APP_URL_MAX + 1] = 0;
	assert_false(app_url_valid(longurl));
	longurl[APP_URL_MAX] = 0;
	assert_true(app_url_valid(longurl));
	free(longurl);
}

/* ------------------------------------------------------------------------ */
/* placement                                                                 */

static json_t *fleet(void)
{
	return yaml("- metadata: {name: c1, labels: {region: eu, tier: gold}}\n  spec: {hubAcceptsClient: true}\n"
		    "- metadata: {name: c2, labels: {region: us, tier: gold}}\n  spec: {hubAcceptsClient: true}\n"
		    "- metadata: {name: c3, labels: {region: eu}}\n  spec: {hubAcceptsClient: true}\n"
		    "- metadata: {name: pending, labels: {region: eu}}\n  spec: {hubAcceptsClient: false}\n"
		    "- metadata: {name: leaving, labels: {region: eu}, deletionTimestamp: \"2026-01-01T00:00:00Z\"}\n"
		    "  spec: {hubAcceptsClient: true}\n"
		    "- metadata: {name: local}\n  spec: {hubAcceptsClient: true}\n");
}

static void expect_names(const json_t *names, const char *want)
{
	char got[512] = "";
	const json_t *v;
	size_t i, n = 0;

	json_array_foreach(names, i, v)
		n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%s", i ? "," : "", json_string_value(v));
	assert_string_equal(got, want);
}

static void select_case(const char *policy_yaml, const char *want, const char *want_missing)
{
	char *text = xasprintf("metadata: {name: a}\nspec:\n  components: [{name: c, type: w}]\n"
			       "  policies: [%s]\n", policy_yaml);
	struct app_spec *s = parse_ok(text);
	struct errbuf err = {""};
	json_t *clusters = fleet(), *names = NULL, *missing;

	assert_int_equal(app_topology_select(&s->policies[0].topology, clusters, &err, &names), 0);
	expect_names(names, want);
	missing = app_topology_missing(&s->policies[0].topology, clusters);
	expect_names(missing, want_missing);
	json_decref(missing);
	json_decref(names);
	json_decref(clusters);
	app_spec_free(s);
	free(text);
}

static void test_topology_select(void **state)
{
	/* names: only accepted clusters that exist and are not leaving; sorted, unique */
	select_case("{type: topology, properties: {clusters: [local, c2, ghost, c1, pending, c2, leaving]}}",
		    "c1,c2,local", "ghost");
	/* KubeVela's plain map */
	select_case("{type: topology, properties: {clusterLabelSelector: {region: eu}}}", "c1,c3", "");
	/* the object form with matchExpressions */
	select_case("{type: topology, properties: {clusterLabelSelector: {matchLabels: {tier: gold}, "
		    "matchExpressions: [{key: region, operator: NotIn, values: [us]}]}}}", "c1", "");
	select_case("{type: topology, properties: {clusterSelector: {matchExpressions: [{key: tier, "
		    "operator: DoesNotExist}]}}}", "c3,local", "");
	/* both: the union */
	select_case("{type: topology, properties: {clusters: [c2, nowhere], clusterLabelSelector: {tier: gold}}}",
		    "c1,c2", "nowhere");
	/* empty selector: every eligible cluster */
	select_case("{type: topology, properties: {clusterLabelSelector: {}}}", "c1,c2,c3,local", "");
	select_case("{type: topology, properties: {clusterLabelSelector: {region: mars}, allowEmpty: true}}", "", "");
}

static void test_topology_select_bad_selector(void **state)
{
	struct app_topology t = {0};
	struct errbuf err = {""};
	json_t *clusters = fleet(), *names = (json_t *)0x1;

	/* a struct not made by app_spec_parse: the selector is checked again */
	t.selector = yaml("{matchExpressions: [{key: region, operator: Near}]}");
	assert_int_equal(app_topology_select(&t, clusters, &err, &names), -EINVAL);
	assert_ptr_equal(names, (json_t *)0x1);
	assert_non_null(strstr(err.msg, "clusterLabelSelector"));
	json_decref(t.selector);
	json_decref(clusters);
}

/* Overrides of steps[step] for cluster, as "name:type:properties-json:traits" lines. */
static struct app_component *overridden(const struct app_spec *s, size_t step, const char *cluster,
					const json_t *labels, size_t *ret_n)
{
	const struct app_step *st = &s->steps[step];
	const struct app_policy *ovs[16];
	struct app_component *cs = NULL;
	struct errbuf err = {""};
	size_t n = 0;

	for (size_t i = 0; i < st->npolicies; i++)
		if (s->policies[st->policies[i]].kind == APP_POLICY_OVERRIDE)
			ovs[n++] = &s->policies[st->policies[i]];
	if (app_override_apply(s->components, s->ncomponents, ovs, n, cluster, labels, &err, &cs, ret_n) < 0)
		fail_msg("override: %s", err.msg);
	return cs;
}

static void free_components(struct app_component *cs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		app_component_free_contents(&cs[i]);
	free(cs);
}

static const struct app_trait *trait_of(const struct app_component *c, const char *type)
{
	for (size_t i = 0; i < c->ntraits; i++)
		if (!strcmp(c->traits[i].type, type))
			return &c->traits[i];
	return NULL;
}

static void test_override_apply(void **state)
{
	struct app_spec *s = parse_ok(
		"metadata: {name: a}\nspec:\n  components:\n"
		"    - {name: web, type: webservice, properties: {image: nginx, cpu: \"1\", env: [{name: A}]},\n"
		"       traits: [{type: scaler, properties: {replicas: 1}}, {type: labels, properties: {a: b}}]}\n"
		"    - {name: api, type: webservice, dependsOn: [db], properties: {image: api}}\n"
		"    - {name: db, type: worker, properties: {image: pg}}\n"
		"  policies:\n"
		"    - {name: topo, type: topology, properties: {clusters: [c1, c2]}}\n"
		"    - name: by-name\n      type: override\n"
		"      properties: {components: [{name: web, properties: {image: \"nginx:1.20\", cpu: null}}]}\n"
		"    - name: by-type\n      type: override\n"
		"      properties: {components: [{type: webservice, traits: [{type: scaler, properties: {replicas: 3}},\n"
		"                   {type: labels, disable: true}, {type: expose, properties: {port: [80]}}]}]}\n"
		"    - name: all\n      type: override\n"
		"      properties: {components: [{properties: {env: [{name: B}]}}]}\n"
		"    - name: only-api\n      type: override\n"
		"      properties: {selector: [api], components: [{name: api, properties: {image: api2}}]}\n"
		"  workflow:\n    steps:\n"
		"      - {name: s0, type: deploy, properties: {policies: [topo, by-name, by-type, all]}}\n"
		"      - {name: s1, type: deploy, properties: {policies: [topo, only-api]}}\n"
		"      - {name: s2, type: deploy, properties: {policies: [topo]}}\n");
	json_t *before = json_deep_copy(s->components[0].properties);
	struct app_component *cs;
	const struct app_component *web, *api, *db;
	size_t n;

	cs = overridden(s, 0, "c1", NULL, &n);
	assert_int_equal(n, 3);
	web = &cs[0];
	api = &cs[1];
	db = &cs[2];
	/* merge patch: value replaced, null deletes, lists replace */
	assert_string_equal(json_string_value(json_object_get(web->properties, "image")), "nginx:1.20");
	assert_null(json_object_get(web->properties, "cpu"));
	assert_string_equal(json_string_value(kobj_get_path(web->properties, "env.0.name")), "B");
	/* traits: patched by type, disabled, added */
	assert_int_equal(json_integer_value(json_object_get(trait_of(web, "scaler")->properties, "replicas")), 3);
	assert_null(trait_of(web, "labels"));
	assert_non_null(trait_of(web, "expose"));
	assert_int_equal(web->ntraits, 2);
	assert_string_equal(json_string_value(json_object_get(api->properties, "image")), "api");
	assert_int_equal(json_integer_value(json_object_get(trait_of(api, "scaler")->properties, "replicas")), 3);
	/* the worker is not a webservice: only "all" applies */
	assert_int_equal(db->ntraits, 0);
	assert_string_equal(json_string_value(kobj_get_path(db->properties, "env.0.name")), "B");
	assert_int_equal(api->ndepends, 1);
	free_components(cs, n);
	/* inputs untouched */
	assert_true(json_equal(before, s->components[0].properties));
	assert_int_equal(s->components[0].ntraits, 2);

	/* selector keeps only the named components; dependsOn on dropped ones goes */
	cs = overridden(s, 1, "c1", NULL, &n);
	assert_int_equal(n, 1);
	assert_string_equal(cs[0].name, "api");
	assert_string_equal(json_string_value(json_object_get(cs[0].properties, "image")), "api2");
	assert_int_equal(cs[0].ndepends, 0);
	free_components(cs, n);

	/* no overrides: copies */
	cs = overridden(s, 2, "c1", NULL, &n);
	assert_int_equal(n, 3);
	assert_true(json_equal(cs[0].properties, s->components[0].properties));
	assert_ptr_not_equal(cs[0].properties, s->components[0].properties);
	assert_int_equal(cs[1].ndepends, 1);
	free_components(cs, n);
	json_decref(before);
	app_spec_free(s);
}

/* Nave's extension: different overrides for different clusters of one topology. */
static void test_override_per_cluster(void **state)
{
	struct app_spec *s = parse_ok(
		"metadata: {name: a}\nspec:\n  components: [{name: web, type: webservice, properties: {image: v1}}]\n"
		"  policies:\n"
		"    - {name: topo, type: topology, properties: {clusters: [c1, c2, c3]}}\n"
		"    - {name: on-c1, type: override, properties: {clusters: [c1], components: [{properties: {image: v2}}]}}\n"
		"    - name: gold\n      type: override\n"
		"      properties: {clusterLabelSelector: {tier: gold}, components: [{traits: [{type: scaler, "
		"properties: {replicas: 4}}]}]}\n"
		"    - name: eu-or-c3\n      type: override\n"
		"      properties: {clusters: [c3], clusterLabelSelector: {matchExpressions: [{key: region, operator: In, "
		"values: [eu]}]},\n"
		"                   components: [{properties: {cmd: [x]}}]}\n"
		"  workflow: {steps: [{name: d, type: deploy, properties: {policies: [topo, on-c1, gold, eu-or-c3]}}]}\n");
	json_t *gold_eu = yaml("{tier: gold, region: eu}"), *us = yaml("{region: us}");
	struct app_component *cs;
	size_t n;

	cs = overridden(s, 0, "c1", us, &n);
	assert_string_equal(json_string_value(json_object_get(cs[0].properties, "image")), "v2");
	assert_int_equal(cs[0].ntraits, 0);
	assert_null(json_object_get(cs[0].properties, "cmd"));
	free_components(cs, n);

	cs = overridden(s, 0, "c2", gold_eu, &n);
	assert_string_equal(json_string_value(json_object_get(cs[0].properties, "image")), "v1");
	assert_int_equal(cs[0].ntraits, 1);
	assert_non_null(json_object_get(cs[0].properties, "cmd"));
	free_components(cs, n);

	cs = overridden(s, 0, "c3", NULL, &n);
	assert_string_equal(json_string_value(json_object_get(cs[0].properties, "image")), "v1");
	assert_int_equal(cs[0].ntraits, 0);
	assert_non_null(json_object_get(cs[0].properties, "cmd"));
	free_components(cs, n);
	json_decref(gold_eu);
	json_decref(us);
	app_spec_free(s);
}

static void test_override_not_object(void **state)
{
	struct app_component base = {.name = "web", .type = "worker"};
	struct app_override_entry e = {0};
	struct app_policy p = {.name = "broken", .kind = APP_POLICY_OVERRIDE};
	const struct app_policy *pp = &p;
	struct app_component *cs = (struct app_component *)0x1;
	struct errbuf err = {""};
	size_t n = 77;

	base.properties = json_object();
	e.properties = json_string("not an object");
	p.override.entries = &e;
	p.override.nentries = 1;
	assert_int_equal(app_override_apply(&base, 1, &pp, 1, "c1", NULL, &err, &cs, &n), -EINVAL);
	assert_ptr_equal(cs, (struct app_component *)0x1);
	assert_int_equal(n, 77);
	assert_non_null(strstr(err.msg, "policy \"broken\""));
	json_decref(e.properties);
	json_decref(base.properties);
	app_component_free_contents(NULL);
}

/* ------------------------------------------------------------------------ */
/* rendering                                                                 */

struct rendered {
	struct app_spec *spec;
	json_t *manifests;
	json_t *work;
};

static void render(struct rendered *out, const struct appdef_registry *defs, const char *app_yaml, size_t step,
		   const char *cluster)
{
	struct app_component *cs;
	struct errbuf err = {""};
	const struct app_step *st;
	const char *ns = NULL;
	size_t n;

	out->spec = parse_ok(app_yaml);
	st = &out->spec->steps[step];
	for (size_t i = 0; i < st->npolicies; i++)
		if (out->spec->policies[st->policies[i]].kind == APP_POLICY_TOPOLOGY)
			ns = out->spec->policies[st->policies[i]].topology.namespace_;
	cs = overridden(out->spec, step, cluster, NULL, &n);
	struct app_render_in in = {
		.spec = out->spec, .components = cs, .ncomponents = n, .cluster = cluster, .namespace_ = ns,
		.revision = "shop-v1", .defs = defs,
	};
	if (app_render_cluster(&in, &err, &out->manifests) < 0)
		fail_msg("render: %s", err.msg);
	if (app_render_work(out->spec, cluster, out->manifests, defs, &err, &out->work) < 0)
		fail_msg("work: %s", err.msg);
	free_components(cs, n);
}

static void rendered_clear(struct rendered *r)
{
	app_spec_free(r->spec);
	json_decref(r->manifests);
	json_decref(r->work);
}

static const json_t *work_object(const json_t *work, const char *kind, const char *name)
{
	const json_t *m;
	size_t i;

	json_array_foreach(kobj_get_path(work, "spec.workload.manifests"), i, m)
		if (!strcmp(kobj_kind(m), kind) && !strcmp(kobj_name(m), name))
			return m;
	return NULL;
}

static const json_t *config_for(const json_t *work, const char *resource, const char *name)
{
	const json_t *c;
	size_t i;

	json_array_foreach(kobj_get_path(work, "spec.manifestConfigs"), i, c)
		if (!strcmp(json_string_value(kobj_get_path(c, "resourceIdentifier.resource")), resource) &&
		    !strcmp(json_string_value(kobj_get_path(c, "resourceIdentifier.name")), name))
			return c;
	return NULL;
}

static const char *const shop_app =
	APP_HDR
	"spec:\n  components:\n"
	"    - name: web\n      type: webservice\n"
	"      properties: {image: nginx, ports: [{port: 80, expose: true}]}\n"
	"      traits: [{type: scaler, properties: {replicas: 2}}]\n"
	"    - name: objs\n      type: k8s-objects\n"
	"      properties:\n        objects:\n"
	"          - {apiVersion: v1, kind: ConfigMap, metadata: {name: cfg, namespace: elsewhere}, data: {a: b}}\n"
	"          - {apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: reader, "
	"namespace: ignored}, rules: []}\n"
	"          - {apiVersion: v1, kind: Secret, metadata: {name: s, namespace: kube-system}}\n"
	"  policies:\n"
	"    - {name: plain, type: topology, properties: {clusters: [c1]}}\n"
	"    - {name: prod, type: topology, properties: {clusters: [c1], namespace: prod}}\n"
	"    - {name: ha, type: override, properties: {components: [{name: web, traits: [{type: scaler, "
	"properties: {replicas: 5}}]}]}}\n"
	"  workflow:\n    steps:\n"
	"      - {name: d0, type: deploy, properties: {policies: [plain]}}\n"
	"      - {name: d1, type: deploy, properties: {policies: [prod, ha]}}\n";

static void test_render_labels_namespaces(void **state)
{
	struct appdef_registry *defs = builtin_defs();
	struct rendered r = {0};
	const json_t *m, *o;
	size_t i;

	render(&r, defs, shop_app, 0, "c1");
	/* every object labelled; the roles and components say where it came from */
	json_array_foreach(r.manifests, i, m) {
		o = json_object_get(m, "object");
		assert_string_equal(kobj_label(o, APP_LABEL_NAME), "shop");
		assert_string_equal(kobj_label(o, APP_LABEL_NAMESPACE), "team-a");
		assert_string_equal(kobj_label(o, APP_LABEL_COMPONENT),
				    json_string_value(json_object_get(m, "component")));
	}
	m = json_array_get(r.manifests, 0);
	assert_string_equal(json_string_value(json_object_get(m, "role")), "workload");
	assert_string_equal(json_string_value(json_object_get(m, "component")), "web");
	o = json_object_get(m, "object");
	assert_string_equal(kobj_kind(o), "Deployment");
	/* no topology namespace: objects without one get the app's */
	assert_string_equal(kobj_namespace(o), "team-a");
	assert_int_equal(json_integer_value(kobj_get_path(o, "spec.replicas")), 2);
	/* objects with their own namespace keep it; cluster-scoped ones lose it */
	assert_string_equal(kobj_namespace(work_object(r.work, "ConfigMap", "cfg")), "elsewhere");
	assert_null(kobj_namespace(work_object(r.work, "ClusterRole", "reader")));
	assert_string_equal(kobj_namespace(work_object(r.work, "Secret", "s")), "kube-system");
	rendered_clear(&r);

	/* a topology namespace replaces every namespaced object's own */
	render(&r, defs, shop_app, 1, "c1");
	json_array_foreach(r.manifests, i, m) {
		o = json_object_get(m, "object");
		if (!strcmp(kobj_kind(o), "ClusterRole"))
			assert_null(kobj_namespace(o));
		else
			assert_string_equal(kobj_namespace(o), "prod");
	}
	/* the override reached the workload */
	assert_int_equal(json_integer_value(kobj_get_path(json_object_get(json_array_get(r.manifests, 0), "object"),
							  "spec.replicas")), 5);
	rendered_clear(&r);
	appdef_registry_free(defs);
}

static void test_render_work(void **state)
{
	struct appdef_registry *defs = builtin_defs();
	struct rendered r = {0};
	const json_t *ns, *c, *rules, *fb, *m;
	size_t i, nns = 0;
	bool wellknown = false, jsonpaths = false;

	render(&r, defs, shop_app, 0, "c1");
	assert_string_equal(kobj_api_version(r.work), "work.open-cluster-management.io/v1");
	assert_string_equal(kobj_kind(r.work), "ManifestWork");
	assert_string_equal(kobj_name(r.work), "team-a.shop");
	assert_string_equal(kobj_namespace(r.work), "c1");
	assert_string_equal(kobj_label(r.work, APP_LABEL_NAME), "shop");
	assert_string_equal(kobj_label(r.work, APP_LABEL_NAMESPACE), "team-a");
	/* Namespace objects for team-a and elsewhere (not default/kube-system), first */
	json_array_foreach(kobj_get_path(r.work, "spec.workload.manifests"), i, m)
		if (!strcmp(kobj_kind(m), "Namespace")) {
			assert_true(i < 2);
			nns++;
		}
	assert_int_equal(nns, 2);
	ns = work_object(r.work, "Namespace", "team-a");
	assert_non_null(ns);
	assert_string_equal(kobj_label(ns, APP_LABEL_NAME), "shop");
	assert_non_null(work_object(r.work, "Namespace", "elsewhere"));
	assert_null(work_object(r.work, "Namespace", "kube-system"));
	c = config_for(r.work, "namespaces", "team-a");
	assert_non_null(c);
	assert_string_equal(json_string_value(kobj_get_path(c, "updateStrategy.type")), "CreateOnly");
	assert_string_equal(json_string_value(kobj_get_path(c, "resourceIdentifier.group")), "");
	/* deleting the work never deletes a namespace */
	assert_string_equal(json_string_value(kobj_get_path(r.work, "spec.deleteOption.propagationPolicy")),
			    "SelectivelyOrphan");
	rules = kobj_get_path(r.work, "spec.deleteOption.selectivelyOrphans.orphaningRules");
	assert_int_equal(json_array_size(rules), 2);
	assert_string_equal(json_string_value(kobj_get_path(rules, "0.resource")), "namespaces");
	assert_string_equal(json_string_value(kobj_get_path(rules, "0.name")), "team-a");
	/* the workload's feedback rules */
	c = config_for(r.work, "deployments", "web");
	assert_non_null(c);
	assert_string_equal(json_string_value(kobj_get_path(c, "resourceIdentifier.group")), "apps");
	assert_string_equal(json_string_value(kobj_get_path(c, "resourceIdentifier.namespace")), "team-a");
	json_array_foreach(json_object_get(c, "feedbackRules"), i, fb) {
		const char *t = json_string_value(json_object_get(fb, "type"));

		wellknown = wellknown || !strcmp(t, "WellKnownStatus");
		jsonpaths = jsonpaths || (!strcmp(t, "JSONPaths") && json_array_size(json_object_get(fb, "jsonPaths")));
	}
	assert_true(wellknown);
	assert_true(jsonpaths);
	/* only the workloads of components get feedback rules: k8s-objects' main
	 * object is its first, the other objects are outputs */
	c = config_for(r.work, "configmaps", "cfg");
	assert_non_null(c);
	assert_string_equal(json_string_value(kobj_get_path(c, "resourceIdentifier.group")), "");
	assert_string_equal(json_string_value(kobj_get_path(c, "resourceIdentifier.namespace")), "elsewhere");
	assert_null(config_for(r.work, "clusterroles", "reader"));
	assert_null(config_for(r.work, "secrets", "s"));
	/* only objects in the manifests: no role/component wrappers */
	json_array_foreach(kobj_get_path(r.work, "spec.workload.manifests"), i, m)
		assert_non_null(kobj_kind(m));
	rendered_clear(&r);

	/* with a topology namespace, only that namespace is added */
	render(&r, defs, shop_app, 1, "c1");
	assert_non_null(work_object(r.work, "Namespace", "prod"));
	assert_null(work_object(r.work, "Namespace", "team-a"));
	assert_null(work_object(r.work, "Namespace", "elsewhere"));
	rendered_clear(&r);
	appdef_registry_free(defs);
}

static void test_render_work_default_namespace(void **state)
{
	struct appdef_registry *defs = builtin_defs();
	struct rendered r = {0};

	render(&r, defs,
	       "metadata: {name: w}\nspec:\n  components: [{name: w, type: worker, properties: {image: busybox}}]\n",
	       0, "local");
	/* everything in "default": no Namespace object, no deleteOption */
	assert_null(work_object(r.work, "Namespace", "default"));
	assert_null(kobj_get_path(r.work, "spec.deleteOption"));
	assert_string_equal(kobj_name(r.work), "default.w");
	assert_string_equal(kobj_namespace(r.work), "local");
	rendered_clear(&r);
	appdef_registry_free(defs);
}

static void test_render_work_dedupe(void **state)
{
	struct app_spec *s = parse_ok(APP_HDR "spec: {components: [{name: a, type: worker}]}\n");
	json_t *manifests = yaml(
		"- {component: a, role: output, object: {apiVersion: v1, kind: ConfigMap, metadata: {name: x, "
		"namespace: team-a}, data: {v: \"1\"}}}\n"
		"- {component: a, role: output, object: {apiVersion: v1, kind: ConfigMap, metadata: {name: cm2, "
		"namespace: team-a}}}\n"
		"- {component: a, role: output, object: {apiVersion: v1, kind: ConfigMap, metadata: {name: x, "
		"namespace: team-a}, data: {v: \"2\"}}}\n"
		"- {component: a, role: output, object: {apiVersion: v1, kind: ConfigMap, metadata: {name: x, "
		"namespace: other}}}\n"
		"- {component: a, role: output, object: {apiVersion: v1, kind: Namespace, metadata: {name: team-a, "
		"labels: {mine: \"yes\"}}}}\n");
	json_t *work = NULL, *list;
	struct errbuf err = {""};

	if (app_render_work(s, "c1", manifests, NULL, &err, &work) < 0)
		fail_msg("work: %s", err.msg);
	list = kobj_get_path(work, "spec.workload.manifests");
	/* the user's Namespace team-a is kept as given (no CreateOnly twin); other is added */
	assert_int_equal(json_array_size(list), 5);
	assert_string_equal(kobj_name(json_array_get(list, 0)), "other");
	assert_string_equal(json_string_value(kobj_get_path(json_array_get(list, 1), "data.v")), "2");
	assert_string_equal(kobj_name(json_array_get(list, 2)), "cm2");
	assert_string_equal(kobj_label(work_object(work, "Namespace", "team-a"), "mine"), "yes");
	assert_null(config_for(work, "namespaces", "team-a"));
	assert_non_null(config_for(work, "namespaces", "other"));
	/* both orphaned */
	assert_int_equal(json_array_size(kobj_get_path(work, "spec.deleteOption.selectivelyOrphans.orphaningRules")),
			 2);
	json_decref(work);
	json_decref(manifests);

	manifests = yaml("- {component: a, role: output, object: {kind: ConfigMap}}\n");
	work = (json_t *)0x1;
	assert_int_equal(app_render_work(s, "c1", manifests, NULL, &err, &work), -EINVAL);
	assert_ptr_equal(work, (json_t *)0x1);
	json_decref(manifests);
	app_spec_free(s);
}

static void test_render_errors(void **state)
{
	struct appdef_registry *defs = builtin_defs();
	struct app_spec *s = parse_ok(APP_HDR "spec: {components: [{name: a, type: nosuch}]}\n");
	struct app_render_in in = {.spec = s, .components = s->components, .ncomponents = 1, .cluster = "c1",
				   .revision = "shop-v1", .defs = defs};
	struct errbuf err = {""};
	json_t *m = (json_t *)0x1;

	assert_int_equal(app_render_cluster(&in, &err, &m), -EINVAL);
	assert_ptr_equal(m, (json_t *)0x1);
	assert_non_null(strstr(err.msg, "spec.components[0].type: Unsupported value: \"nosuch\""));
	assert_non_null(strstr(err.msg, "webservice")); /* the known types are listed */
	app_spec_free(s);
	appdef_registry_free(defs);
}

static void test_work_name_and_kinds(void **state)
{
	static const struct {
		const char *kind, *resource;
	} plurals[] = {
		{"Deployment", "deployments"}, {"Ingress", "ingresses"}, {"NetworkPolicy", "networkpolicies"},
		{"StorageClass", "storageclasses"}, {"Endpoints", "endpoints"}, {"Gateway", "gateways"},
		{"ConfigMap", "configmaps"}, {"Job", "jobs"}, {"CronJob", "cronjobs"}, {"Service", "services"},
	};
	char out[300];

	app_work_name("team-a", "shop", out, sizeof(out));
	assert_string_equal(out, "team-a.shop");
	for (size_t i = 0; i < sizeof(plurals) / sizeof(plurals[0]); i++) {
		app_kind_resource(plurals[i].kind, out, sizeof(out));
		assert_string_equal(out, plurals[i].resource);
	}
	assert_true(app_kind_cluster_scoped("Namespace"));
	assert_true(app_kind_cluster_scoped("ClusterRoleBinding"));
	assert_true(app_kind_cluster_scoped("CustomResourceDefinition"));
	assert_true(app_kind_cluster_scoped("ValidatingWebhookConfiguration"));
	assert_false(app_kind_cluster_scoped("Deployment"));
	assert_false(app_kind_cluster_scoped("Role"));
	assert_false(app_kind_cluster_scoped(NULL));
}

static void test_revision_hash(void **state)
{
	json_t *a = yaml("{components: [{name: web, type: webservice, properties: {image: nginx, port: 80}}]}");
	json_t *b = yaml("{components: [{type: webservice, properties: {port: 80, image: nginx}, name: web}]}");
	json_t *c = yaml("{components: [{name: web, type: webservice, properties: {image: \"nginx:2\", port: 80}}]}");
	json_t *defs1 = yaml("{webservice: {spec: {workload: {definition: {kind: Deployment}}}}}");
	json_t *defs2 = yaml("{webservice: {spec: {workload: {definition: {kind: StatefulSet}}}}}");
	char h1[65], h2[65], h3[65], h4[65], h5[65];

	app_revision_hash(a, defs1, h1);
	app_revision_hash(b, defs1, h2);
	app_revision_hash(c, defs1, h3);
	app_revision_hash(a, defs2, h4);
	app_revision_hash(a, NULL, h5);
	assert_int_equal(strlen(h1), 64);
	assert_int_equal(strspn(h1, "0123456789abcdef"), 64);
	/* key order does not matter; content and definitions do */
	assert_string_equal(h1, h2);
	assert_string_not_equal(h1, h3);
	assert_string_not_equal(h1, h4);
	assert_string_not_equal(h1, h5);
	/* stable across calls (and releases: this is the value of the canonical JSON's sha256) */
	app_revision_hash(a, defs1, h2);
	assert_string_equal(h1, h2);
	json_decref(a);
	json_decref(b);
	json_decref(c);
	json_decref(defs1);
	json_decref(defs2);
}

/* A new revision changes only the works whose manifests changed. */
static void test_work_changes_only_where_rendered(void **state)
{
	struct appdef_registry *defs = builtin_defs();
	struct rendered v1 = {0}, v2a = {0}, v2b = {0};
	const char *app =
		APP_HDR "spec:\n  components: [{name: web, type: webservice, properties: {image: nginx}}]\n"
		"  policies:\n"
		"    - {name: t, type: topology, properties: {clusters: [c1, c2]}}\n"
		"    - {name: o, type: override, properties: {clusters: [c2], components: [{properties: {image: "
		"\"nginx:2\"}}]}}\n"
		"  workflow: {steps: [{name: d, type: deploy, properties: {policies: [t, o]}}]}\n";

	render(&v1, defs, app, 0, "c1");
	render(&v2a, defs, app, 0, "c1");
	render(&v2b, defs, app, 0, "c2");
	assert_true(json_equal(v1.work, v2a.work));
	assert_false(json_equal(json_object_get(v1.work, "spec"), json_object_get(v2b.work, "spec")));
	rendered_clear(&v1);
	rendered_clear(&v2a);
	rendered_clear(&v2b);
	appdef_registry_free(defs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_override_entries_cap),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_topology_select),
		cmocka_unit_test(test_topology_select_bad_selector),
		cmocka_unit_test(test_override_apply),
		cmocka_unit_test(test_override_per_cluster),
		cmocka_unit_test(test_override_not_object),
		cmocka_unit_test(test_work_name_and_kinds),
		cmocka_unit_test(test_revision_hash),
		cmocka_unit_test(test_render_work_dedupe),
		cmocka_unit_test(test_render_errors),
		cmocka_unit_test(test_render_labels_namespaces),
		cmocka_unit_test(test_render_work),
		cmocka_unit_test(test_render_work_default_namespace),
		cmocka_unit_test(test_work_changes_only_where_rendered),
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
