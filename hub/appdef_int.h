/* appdef_int.h - what the files of the definitions module share
 * (appdef.c: parsing and accessors; appdef_schema.c: parameter schemas;
 * appdef_render.c: rendering, trait patches, health; appdef_registry.c: the
 * registry and the built-ins). Not for other modules: their contract is
 * appdef.h.
 */
#ifndef NAVE_APPDEF_INT_H
#define NAVE_APPDEF_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "appdef.h"
#include "errbuf.h"

/* Internal caps on a definition's schematic (each refused at parse time
 * with -E2BIG naming the field). */
#define APPDEF_LET_MAX 64          /* let[] entries */
#define APPDEF_CHECKS_MAX 64       /* checks[] entries */
#define APPDEF_OUTPUTS_MAX 64      /* named outputs / patchOutputs of one definition */
#define APPDEF_NAME_MAX 253        /* definition, output and let names */
#define APPDEF_LIST_MAX 128        /* appliesToWorkloads[], conflictsWith[] */
/* Caps on what one render produces. */
#define APPDEF_RENDER_OBJECTS_MAX 1024  /* extra objects of one component with its traits */
#define APPDEF_FEEDBACK_VALUES_MAX 64   /* feedback values read by appdef_health */

/* The workload type a component without workload.definition declares:
 * its main object is whatever output renders (k8s-objects). */
#define APPDEF_AUTODETECT "autodetects.core.oam.dev"

enum appdef_patch_type {
	APPDEF_PATCH_STRATEGIC,
	APPDEF_PATCH_MERGE,
	APPDEF_PATCH_JSON,
};

struct appdef_patch {
	enum appdef_patch_type type;
	const json_t *tmpl;           /* borrowed from the definition's object */
};

struct appdef_named_patch {
	const char *name;             /* borrowed: the output name it patches */
	struct appdef_patch patch;
};

struct appdef {
	enum appdef_kind kind;
	json_t *obj;                  /* owned: a deep copy of the object parsed; every
					 borrowed pointer below points into it */
	const char *name;             /* metadata.name */
	const char *description;      /* the definition.oam.dev/description annotation, or "" */
	/* components */
	const char *wl_api_version;   /* "" when autodetect */
	const char *wl_kind;          /* "" when autodetect */
	char *wl_type;                /* owned: "deployments.apps" */
	bool autodetect;
	/* the schematic */
	const json_t *schema;         /* parameters, or NULL: anything goes */
	const json_t *lets;           /* array of {name, value}, or NULL */
	const json_t *checks;         /* array of {that, message}, or NULL */
	const json_t *output;         /* components: the main object's template */
	const json_t *outputs;        /* object name -> template, or NULL */
	const json_t *feedback;       /* array of {name, jsonPath}, or NULL */
	const char *healthy;          /* expression, or NULL: healthy */
	const char *message;          /* string template, or NULL: "" */
	/* traits */
	const json_t *applies;        /* array of strings, or NULL: every workload */
	const json_t *conflicts;      /* array of strings, or NULL */
	bool pod_disruptive;
	bool has_patch;
	struct appdef_patch patch;
	struct appdef_named_patch *patch_outputs; /* owned array (names borrowed) */
	size_t npatch_outputs;
};

/* appdef_schema.c */

/* Check that schema (borrowed) is a well-formed parameter schema: known
 * keys with the right types, depth at most APPDEF_SCHEMA_DEPTH, enum and
 * default values valid against the schema. path names it in messages
 * ("spec.schematic.nave.parameters"). Returns 0 or -EINVAL/-E2BIG. */
int appdef_schema_check(const json_t *schema, const char *path, struct errbuf *err);

/* Validate value (borrowed; NULL = absent) against schema and apply
 * defaults. defname names the definition in messages, field the value's
 * path. *ret_value: a new reference (NULL when value was absent and no
 * default applies). Returns 0 or -EINVAL with a message naming the field. */
int appdef_schema_apply(const json_t *schema, const json_t *value, const char *defname, const char *field,
			struct errbuf *err, json_t **ret_value);

/* Write a short display of v (compact JSON, elided past about 60 bytes)
 * into out. */
void appdef_value_display(const json_t *v, char *out, size_t size);

#endif
