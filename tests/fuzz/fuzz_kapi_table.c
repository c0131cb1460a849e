/* fuzz_kapi_table.c - libFuzzer harness for common/kapi_table.
 *
 * Input: the first line is an Accept header (kapi_table_wanted); the rest a
 * JSON document: {"items": [...], "printerColumns": [...]} or the items
 * themselves (an array, or one object). A Table is built for every kind with
 * its own columns, for an unknown built-in kind and for a custom resource
 * with the printer columns. Every row must have one cell per column, every
 * column its five fields, and the Table must serialise.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alloc.h"
#include "kapi_table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const kinds[][2] = {
	{ "apps", "Deployment" }, { "apps", "ReplicaSet" }, { "apps", "StatefulSet" }, { "apps", "DaemonSet" },
	{ "", "Pod" }, { "", "Service" }, { "", "Namespace" }, { "", "ConfigMap" }, { "", "Secret" },
	{ "", "ServiceAccount" }, { "", "Node" }, { "", "Event" }, { "", "PersistentVolumeClaim" },
	{ "batch", "Job" }, { "batch", "CronJob" }, { "coordination.k8s.io", "Lease" },
	{ "networking.k8s.io", "Ingress" }, { "rbac.authorization.k8s.io", "RoleBinding" },
	{ "rbac.authorization.k8s.io", "Role" }, { "example.com", "Widget" },
};

static void check(json_t *t)
{
	json_t *defs = json_object_get(t, "columnDefinitions"), *rows = json_object_get(t, "rows"), *v;
	size_t i, ncols = json_array_size(defs);
	char *s;

	if (!json_is_array(defs) || !json_is_array(rows) || ncols == 0)
		abort();
	json_array_foreach(defs, i, v) {
		if (!json_is_string(json_object_get(v, "name")) || !json_is_string(json_object_get(v, "type")) ||
		    !json_is_string(json_object_get(v, "format")) || !json_is_string(json_object_get(v, "description")) ||
		    !json_is_integer(json_object_get(v, "priority")))
			abort();
	}
	json_array_foreach(rows, i, v) {
		if (json_array_size(json_object_get(v, "cells")) != ncols)
			abort();
	}
	s = json_dumps(t, JSON_COMPACT);
	if (!s)
		abort();
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t alen = nl ? (size_t)(nl - data) : size;
	char *accept = xstrndup((const char *)data, alen);
	json_t *doc = NULL, *items, *cols = NULL;
	int w;

	w = kapi_table_wanted(accept);
	if (w != 0 && w != 1)
		abort();
	if (nl)
		doc = json_loadb((const char *)nl + 1, size - alen - 1, JSON_DECODE_ANY, NULL);
	if (json_is_object(doc) && json_is_array(json_object_get(doc, "items"))) {
		items = json_incref(json_object_get(doc, "items"));
		cols = json_object_get(doc, "printerColumns");
	} else if (json_is_array(doc)) {
		items = json_incref(doc);
	} else {
		items = json_array();
		if (doc)
			json_array_append(items, doc);
	}
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		json_t *t = kapi_table_build(kinds[k][0], kinds[k][1], items, cols, "1", "c",
					     (enum kapi_table_include)(k % 3), INT64_C(1798761600000000));

		check(t);
		json_decref(t);
	}
	json_decref(items);
	json_decref(doc);
	free(accept);
	return 0;
}
