/* appdef.h - component and trait definitions without CUE (issue #8).
 *
 * A definition is a ComponentDefinition or TraitDefinition object
 * (core.oam.dev/v1beta1) whose spec.schematic holds "nave" (Nave's
 * declarative schematic, below). spec.schematic.cue is refused with a
 * message saying CUE is not supported and pointing at docs/definitions.md.
 * The built-in types and traits are definition files in hub/definitions/,
 * embedded in nave-hub and parsed by appdef_parse like anyone's.
 *
 * THE NAVE SCHEMATIC (docs/definitions.md is the manual; keep it true)
 *
 * ComponentDefinition.spec:
 *   workload.definition {apiVersion, kind}  the main output's kind (required)
 *   workload.type        "deployments.apps" (plural.group): the resource, for
 *                        appliesToWorkloads and feedback rules; default: the
 *                        kind lowercased + "s" and the group
 *   schematic.nave:
 *     parameters         a schema (below) of the component's properties
 *     let[]              {name, value}: templates rendered in order into
 *                        scope.let.<name> (helpers shared by the outputs)
 *     output             the main object's template (required)
 *     outputs            {name: template}: extra objects; a template that
 *                        renders a list gives several objects; left-out
 *                        templates give none
 *     status.feedback[]  {name, jsonPath}: status fields the agent reports
 *                        for the main object (JSONPaths feedback rule, at
 *                        most APPDEF_FEEDBACK_MAX)
 *     status.healthy     an expression; true when absent
 *     status.message     a message template (string with ${...}); "" when absent
 * TraitDefinition.spec:
 *   appliesToWorkloads[] "deployments.apps", "*", or a kind "Deployment";
 *                        absent or empty: every workload
 *   conflictsWith[]      trait types that cannot be used together with it
 *   podDisruptive        bool, informational
 *   schematic.nave:
 *     parameters, let    as above
 *     patch              {type: "strategic" | "merge" | "json", template}:
 *                        rendered then applied to the main object (strategic
 *                        merge uses the object's apiVersion/kind schema; json
 *                        renders a list of RFC 6902 operations)
 *     patchOutputs       {outputName: {type, template}}: patches of the
 *                        component's extra outputs by name (optional)
 *     outputs            extra objects, as for components
 *     status.healthy / status.message  over the trait's view (optional)
 *
 * Template scope (tmpl.h):
 *   parameter   the properties after defaults (the whole value, any type,
 *               when the schema's type is not object)
 *   context     {name (component), namespace, appName, appNamespace,
 *               revision ("<app>-vN"), appRevision (same), cluster,
 *               output (traits only: the main object so far), outputs
 *               (traits only: name -> extra object so far)}
 *   let         the let values rendered so far
 * Health scope: {parameter, context, output (the rendered main object),
 *   status (the feedback values by name: integers, strings, booleans or the
 *   JSON of jsonRaw; absent when not reported)}.
 *
 * PARAMETER SCHEMA (a JSON-Schema-like subset):
 *   type        "string" | "integer" | "number" | "boolean" | "object" |
 *               "array" | "any", or a list of them (["integer", "string"])
 *   description text (docs only)
 *   default     used when the value is absent (copied; for objects, the
 *               defaults of nested properties apply inside)
 *   required    true: the value must be present (a property of its object)
 *   nullable    true: null is accepted (labels: {key: null} deletes)
 *   enum[]      allowed values
 *   minimum, maximum         numbers
 *   minLength, maxLength     strings (no regex patterns)
 *   minItems, maxItems       lists
 *   properties  {name: schema} for objects
 *   additionalProperties  false (default when properties is given): unknown
 *               keys are an error naming them and the known ones; true or
 *               absent without properties: anything; a schema: every other
 *               key's value follows it (maps)
 *   items       the schema of array items
 * A validation error names the field from the Application's point of view:
 *   "spec.components[0].properties.ports[1].port: Invalid value: \"80\":
 *    must be an integer"
 *   "spec.components[0].properties.imagee: Unsupported field: webservice has
 *    no parameter \"imagee\" (parameters: image, ports, cmd, ...)"
 *   "spec.components[0].properties.image: Required value: webservice needs
 *    \"image\""
 * The caller passes the prefix ("spec.components[0].properties").
 *
 * LIMITS: a definition object at most APPDEF_MAX_BYTES of JSON; schemas at
 * most APPDEF_SCHEMA_DEPTH deep; the registry at most APPDEF_REGISTRY_MAX
 * definitions; everything tmpl.h caps.
 */
#ifndef NAVE_APPDEF_H
#define NAVE_APPDEF_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "errbuf.h"

#define APPDEF_MAX_BYTES (256 * 1024)
#define APPDEF_SCHEMA_DEPTH 32
#define APPDEF_FEEDBACK_MAX 16
#define APPDEF_REGISTRY_MAX 10000

enum appdef_kind {
	APPDEF_COMPONENT,
	APPDEF_TRAIT,
};

struct appdef;          /* one parsed definition; immutable once parsed */
struct appdef_registry; /* definitions by (kind, namespace, name), plus the built-ins */

/* Parse and check a ComponentDefinition or TraitDefinition object
 * (borrowed): schematic shape, schema well-formed, every template and
 * expression parses (tmpl_check), defaults valid against their schemas.
 * Returns 0 or -EINVAL naming the field ("spec.schematic.nave.output:
 * ${parameter.image: syntax error ..."); *ret_def: free with appdef_free. */
int appdef_parse(const json_t *obj, struct errbuf *err, struct appdef **ret_def);
struct appdef *appdef_free(struct appdef *d);

enum appdef_kind appdef_kind(const struct appdef *d);
const char *appdef_name(const struct appdef *d);
/* The definition object as parsed (borrowed; for ApplicationRevisions). */
const json_t *appdef_object(const struct appdef *d);
/* Components: the main workload's apiVersion and kind (borrowed). */
const char *appdef_workload_api_version(const struct appdef *d);
const char *appdef_workload_kind(const struct appdef *d);
/* Components: "deployments.apps" (borrowed). */
const char *appdef_workload_type(const struct appdef *d);
/* Components: the feedback rules as a ManifestWork feedbackRules array
 * ([{"type":"JSONPaths","jsonPaths":[{"name","path"}]}], new reference), or
 * NULL when it lists none. */
json_t *appdef_feedback_rules(const struct appdef *d);

/* Validate properties (borrowed) against d's parameter schema and apply
 * defaults. field prefixes messages ("spec.components[0].properties").
 * *ret_params: a new reference (the properties with defaults). -EINVAL. */
int appdef_params(const struct appdef *d, const json_t *properties, const char *field, struct errbuf *err,
		  json_t **ret_params);

/* The context of a render (all borrowed). */
struct appdef_context {
	const char *name;          /* component */
	const char *namespace_;    /* where its objects go */
	const char *app_name;
	const char *app_namespace;
	const char *revision;      /* "<app>-vN" */
	const char *cluster;
};

/* One component rendered with its traits. All JSON owned by the struct. */
struct appdef_rendered {
	json_t *workload;          /* the main object */
	json_t *outputs;           /* array of {"name": output name, "trait": type or absent, "object"} */
	json_t *params;            /* the component's parameters after defaults */
};
void appdef_rendered_clear(struct appdef_rendered *r);

/* A trait to apply: its definition and the user's properties (borrowed). */
struct appdef_trait_use {
	const struct appdef *def;
	const json_t *properties;
	const char *field;         /* "spec.components[0].traits[1]" for messages */
};

/* Render component definition cd with properties through traits in order:
 * parameters checked (prefix field + ".properties"), output and outputs
 * rendered, each trait's appliesToWorkloads and conflictsWith checked, its
 * parameters checked, its patch applied to the main object (and
 * patchOutputs to the outputs), its outputs added. Returns 0 and fills
 * *ret (clear it with appdef_rendered_clear); -EINVAL naming the field. */
int appdef_render(const struct appdef *cd, const json_t *properties, const char *field,
		  const struct appdef_trait_use *traits, size_t ntraits, const struct appdef_context *ctx,
		  struct errbuf *err, struct appdef_rendered *ret);

/* Evaluate cd's health rule and message over a rendered main object and
 * the feedback values reported (the work status' statusFeedback.values
 * array, borrowed; NULL when none yet). *ret_healthy; *ret_message: caller
 * frees (never NULL on success). A rule that cannot be evaluated (undefined
 * in an operator...) is unhealthy with the error as message. */
int appdef_health(const struct appdef *cd, const json_t *params, const struct appdef_context *ctx,
		  const json_t *workload, const json_t *feedback_values, bool *ret_healthy, char **ret_message);

/* The registry. Lookup order: (kind, namespace, name), then (kind,
 * "vela-system", name), then the built-in. */
int appdef_registry_new(struct appdef_registry **ret_reg);
struct appdef_registry *appdef_registry_free(struct appdef_registry *reg);
/* Parse and load the built-in definitions (the embedded hub/definitions/
 * files). -EINVAL naming the file if one does not parse (a build bug). */
int appdef_registry_load_builtins(struct appdef_registry *reg, struct errbuf *err);
/* Add or replace a user's definition (takes ownership of d). -E2BIG past
 * APPDEF_REGISTRY_MAX. */
int appdef_registry_put(struct appdef_registry *reg, const char *namespace_, struct appdef *d);
/* Remove a user's definition; 0, or -ENOENT. */
int appdef_registry_remove(struct appdef_registry *reg, enum appdef_kind kind, const char *namespace_,
			   const char *name);
/* Look one up (borrowed; valid until the registry changes), or NULL. */
const struct appdef *appdef_registry_get(const struct appdef_registry *reg, enum appdef_kind kind,
					 const char *namespace_, const char *name);
/* The names of every definition of kind visible from namespace_ (a new
 * array of strings, sorted): for "unknown type" messages. */
json_t *appdef_registry_names(const struct appdef_registry *reg, enum appdef_kind kind, const char *namespace_);

/* --- added by the definitions module (appdef*.c) --- */

/* Schematic additions (docs/definitions.md):
 *   schematic.nave.checks[]  {that: expression, message: string template}:
 *                        evaluated after let[] (components and traits);
 *                        when `that` is falsy the render fails with
 *                        "<field>: <message>" (a trait's "container \"x\"
 *                        not found"). At most 64.
 *   spec.workload.type "autodetects.core.oam.dev" without
 *                        workload.definition: the main object is whatever
 *                        output renders (k8s-objects). Then
 *                        appdef_workload_api_version/kind return "" and
 *                        appliesToWorkloads is matched against the rendered
 *                        object's kind and appdef_workload_type_for of it.
 * Rendering details: a rendered object without metadata.name gets the
 * component's name (context.name); a component's output must render the
 * apiVersion/kind of spec.workload.definition; context strings the caller
 * leaves NULL are "". appdef_registry_put frees d when it fails, too.
 * appdef_health also takes a TraitDefinition (its status rules over the
 * component's feedback). */

/* Components declaring spec.workload.type autodetects.core.oam.dev. */
bool appdef_workload_autodetect(const struct appdef *d);
/* The definition.oam.dev/description annotation, or "" (borrowed). */
const char *appdef_description(const struct appdef *d);
/* The parameter schema (borrowed), or NULL when the definition has none. */
const json_t *appdef_parameters(const struct appdef *d);
/* The workload type of a kind as KubeVela names it: "<plural>.<group>"
 * ("deployments.apps", "jobs.batch", "services" for the core group), the
 * plural guessed as kubectl does (policy -> policies, ingress -> ingresses).
 * For manifestConfigs' resourceIdentifier of an autodetected workload, too.
 * Returns 0 or -EINVAL (malformed apiVersion, out too small). */
int appdef_workload_type_for(const char *api_version, const char *kind, char *out, size_t outlen);
/* The plural of kind as kubectl guesses it (and the apiserver for CRDs
 * without one): lowercased, "policy" -> "policies", "ingress" ->
 * "ingresses", "patch" -> "patches", else + "s"; into out (truncated to
 * outlen; APPDEF_KIND_PLURAL_MAX bytes always hold it). Only the first 255
 * bytes of kind count; NULL is "". The one guess behind
 * appdef_workload_type_for and app_kind_resource. */
#define APPDEF_KIND_PLURAL_MAX 259
void appdef_kind_plural(const char *kind, char *out, size_t outlen);
/* The built-in of that name, ignoring users' definitions (borrowed), or NULL. */
const struct appdef *appdef_registry_get_builtin(const struct appdef_registry *reg, enum appdef_kind kind,
						 const char *name);
/* The embedded hub/definitions/ files: how many, and file i (borrowed
 * static text, NUL-terminated at len). -ENOENT past the end. */
size_t appdef_builtin_count(void);
int appdef_builtin_file(size_t i, const char **ret_name, const char **ret_text, size_t *ret_len);

#endif
