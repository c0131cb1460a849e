/* patch_schema.c - how the lists and structs of the built-in kinds merge.
 *
 * Kubernetes keeps this knowledge in Go struct tags (patchStrategy,
 * patchMergeKey: strategic merge patch) and in OpenAPI extensions derived
 * from +listType/+listMapKey/+structType markers (server-side apply). Both
 * readers need the same tree, so it is one static table: per kind, the fields
 * whose merging is not the default. Everything not listed is "ANY": objects
 * merge field by field, lists are replaced whole (atomic), which is what both
 * algorithms do for an undecorated field. Facts from k8s.io/api v0.32 types.
 *
 * Kinds outside the built-in groups (custom resources) have no entry: callers
 * treat them as JSON merge patch (strategic) or with a deduced schema (apply).
 */
#include <string.h>

#include "patch_int.h"

#define KEYS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* A list merged by key: strategic patchMergeKey mk; apply keys as given. */
#define LIST_MAP(mk, keyarr, defarr, elemp)                                            \
	{ .type = PATCH_SCHEMA_LIST, .flags = PATCH_SCHEMA_MERGE, .merge_key = (mk),       \
	  .keys = (keyarr), .key_defaults = (defarr), .elem = (elemp) }

const struct patch_schema patch_schema_any = { .type = PATCH_SCHEMA_ANY };
const struct patch_schema patch_schema_deduced = { .type = PATCH_SCHEMA_DEDUCED };

static const struct patch_schema atomic = { .type = PATCH_SCHEMA_ATOMIC };
/* An atomic struct (+structType=atomic) still merges field by field in strategic merge. */
static const struct patch_schema atomic_struct = { .type = PATCH_SCHEMA_ATOMIC,
						   .flags = PATCH_SCHEMA_SMP_ATOMIC };
static const struct patch_schema string_map = { .type = PATCH_SCHEMA_MAP };

/* Lists keyed as most of the API does. */
static const struct patch_schema by_name = LIST_MAP("name", KEYS("name"), NULL, NULL);
static const struct patch_schema by_type = LIST_MAP("type", KEYS("type"), NULL, NULL);
static const struct patch_schema by_ip = LIST_MAP("ip", KEYS("ip"), NULL, NULL);
/* patchStrategy merge but +listType=atomic: strategic merge by key, apply atomic. */
static const struct patch_schema smp_by_type_atomic = { .type = PATCH_SCHEMA_LIST,
							.flags = PATCH_SCHEMA_MERGE,
							.merge_key = "type" };
static const struct patch_schema smp_by_ip_atomic = { .type = PATCH_SCHEMA_LIST,
						      .flags = PATCH_SCHEMA_MERGE,
						      .merge_key = "ip" };
/* A set of scalars (finalizers): strategic merge unions, apply owns each value. */
static const struct patch_schema scalar_set = { .type = PATCH_SCHEMA_LIST,
						.flags = PATCH_SCHEMA_MERGE };

/* ---- metadata ---- */

static const struct patch_schema owner_refs = LIST_MAP("uid", KEYS("uid"), NULL, NULL);

static const struct patch_schema_field object_meta_fields[] = {
	{ "labels", &string_map },
	{ "annotations", &string_map },
	{ "finalizers", &scalar_set },
	{ "ownerReferences", &owner_refs },
	{ "managedFields", &atomic },
	{ NULL, NULL },
};
static const struct patch_schema object_meta = { .type = PATCH_SCHEMA_STRUCT,
						 .fields = object_meta_fields };

/* ---- containers ---- */

static const struct patch_schema container_ports =
	LIST_MAP("containerPort", KEYS("containerPort", "protocol"), KEYS(NULL, "TCP"), NULL);

static const struct patch_schema_field env_source_fields[] = {
	{ "configMapKeyRef", &atomic_struct },
	{ "secretKeyRef", &atomic_struct },
	{ "fieldRef", &atomic_struct },
	{ "resourceFieldRef", &atomic_struct },
	{ NULL, NULL },
};
static const struct patch_schema env_source = { .type = PATCH_SCHEMA_STRUCT,
						.fields = env_source_fields };
static const struct patch_schema_field env_var_fields[] = {
	{ "valueFrom", &env_source },
	{ NULL, NULL },
};
static const struct patch_schema env_var = { .type = PATCH_SCHEMA_STRUCT,
					     .fields = env_var_fields };
static const struct patch_schema container_env = LIST_MAP("name", KEYS("name"), NULL, &env_var);

static const struct patch_schema resource_claims = { .type = PATCH_SCHEMA_LIST,
						     .keys = KEYS("name") };
static const struct patch_schema_field resources_fields[] = {
	{ "limits", &string_map },
	{ "requests", &string_map },
	{ "claims", &resource_claims },
	{ NULL, NULL },
};
static const struct patch_schema resources = { .type = PATCH_SCHEMA_STRUCT,
					       .fields = resources_fields };

static const struct patch_schema_field container_fields[] = {
	{ "ports", &container_ports },
	{ "env", &container_env },
	{ "volumeMounts", &(const struct patch_schema)LIST_MAP("mountPath", KEYS("mountPath"), NULL,
								NULL) },
	{ "volumeDevices", &(const struct patch_schema)LIST_MAP("devicePath", KEYS("devicePath"),
								 NULL, NULL) },
	{ "resources", &resources },
	{ NULL, NULL },
};
static const struct patch_schema container = { .type = PATCH_SCHEMA_STRUCT,
					       .fields = container_fields };
static const struct patch_schema containers = LIST_MAP("name", KEYS("name"), NULL, &container);

/* ---- pods ---- */

static const struct patch_schema_field node_affinity_fields[] = {
	{ "requiredDuringSchedulingIgnoredDuringExecution", &atomic_struct },
	{ NULL, NULL },
};
static const struct patch_schema_field affinity_fields[] = {
	{ "nodeAffinity", &(const struct patch_schema){ .type = PATCH_SCHEMA_STRUCT,
							 .fields = node_affinity_fields } },
	{ NULL, NULL },
};
static const struct patch_schema_field spread_fields[] = {
	{ "labelSelector", &atomic_struct },
	{ NULL, NULL },
};
static const struct patch_schema spread_constraint = { .type = PATCH_SCHEMA_STRUCT,
						       .fields = spread_fields };

static const struct patch_schema_field pod_spec_fields[] = {
	{ "volumes", &(const struct patch_schema){ .type = PATCH_SCHEMA_LIST,
						    .flags = PATCH_SCHEMA_MERGE |
							     PATCH_SCHEMA_RETAIN_KEYS,
						    .merge_key = "name",
						    .keys = KEYS("name") } },
	{ "initContainers", &containers },
	{ "containers", &containers },
	{ "ephemeralContainers", &containers },
	{ "imagePullSecrets", &by_name },
	{ "hostAliases", &by_ip },
	{ "topologySpreadConstraints",
	  &(const struct patch_schema)LIST_MAP("topologyKey",
					       KEYS("topologyKey", "whenUnsatisfiable"), NULL,
					       &spread_constraint) },
	{ "resourceClaims", &(const struct patch_schema){ .type = PATCH_SCHEMA_LIST,
							   .flags = PATCH_SCHEMA_MERGE |
								    PATCH_SCHEMA_RETAIN_KEYS,
							   .merge_key = "name",
							   .keys = KEYS("name") } },
	{ "schedulingGates", &by_name },
	{ "nodeSelector", &string_map },
	{ "overhead", &string_map },
	{ "affinity", &(const struct patch_schema){ .type = PATCH_SCHEMA_STRUCT,
						     .fields = affinity_fields } },
	{ NULL, NULL },
};
static const struct patch_schema pod_spec = { .type = PATCH_SCHEMA_STRUCT,
					      .fields = pod_spec_fields };

static const struct patch_schema_field pod_template_fields[] = {
	{ "metadata", &object_meta },
	{ "spec", &pod_spec },
	{ NULL, NULL },
};
static const struct patch_schema pod_template = { .type = PATCH_SCHEMA_STRUCT,
						  .fields = pod_template_fields };

static const struct patch_schema_field pod_status_fields[] = {
	{ "conditions", &by_type },
	{ "podIPs", &by_ip },
	{ "hostIPs", &smp_by_ip_atomic },
	{ "resourceClaimStatuses", &by_name },
	{ NULL, NULL },
};

/* ---- the common status: conditions by type ---- */

static const struct patch_schema_field conditions_status_fields[] = {
	{ "conditions", &by_type },
	{ NULL, NULL },
};
static const struct patch_schema conditions_status = { .type = PATCH_SCHEMA_STRUCT,
						       .fields = conditions_status_fields };

/* ---- workloads ---- */

static const struct patch_schema_field deployment_spec_fields[] = {
	{ "selector", &atomic_struct },
	{ "template", &pod_template },
	{ "strategy", &(const struct patch_schema){ .type = PATCH_SCHEMA_STRUCT,
						     .flags = PATCH_SCHEMA_RETAIN_KEYS } },
	{ NULL, NULL },
};

static const struct patch_schema_field workload_spec_fields[] = {
	{ "selector", &atomic_struct },
	{ "template", &pod_template },
	{ NULL, NULL },
};
static const struct patch_schema workload_spec = { .type = PATCH_SCHEMA_STRUCT,
						   .fields = workload_spec_fields };

static const struct patch_schema_field job_status_fields[] = {
	{ "conditions", &smp_by_type_atomic },
	{ NULL, NULL },
};
static const struct patch_schema job_status = { .type = PATCH_SCHEMA_STRUCT,
						.fields = job_status_fields };

static const struct patch_schema_field job_template_fields[] = {
	{ "metadata", &object_meta },
	{ "spec", &workload_spec },
	{ NULL, NULL },
};
static const struct patch_schema_field cronjob_spec_fields[] = {
	{ "jobTemplate", &(const struct patch_schema){ .type = PATCH_SCHEMA_STRUCT,
							.fields = job_template_fields } },
	{ NULL, NULL },
};

/* ---- core ---- */

static const struct patch_schema_field service_spec_fields[] = {
	{ "ports", &(const struct patch_schema)LIST_MAP("port", KEYS("port", "protocol"),
							 KEYS(NULL, "TCP"), NULL) },
	{ "selector", &string_map },
	{ NULL, NULL },
};

static const struct patch_schema_field pvc_spec_fields[] = {
	{ "selector", &atomic_struct },
	{ "resources", &resources },
	{ NULL, NULL },
};
static const struct patch_schema_field pvc_status_fields[] = {
	{ "conditions", &by_type },
	{ "capacity", &string_map },
	{ "allocatedResources", &string_map },
	{ NULL, NULL },
};

static const struct patch_schema_field node_spec_fields[] = {
	{ "podCIDRs", &scalar_set },
	{ NULL, NULL },
};
static const struct patch_schema_field node_status_fields[] = {
	{ "conditions", &by_type },
	{ "addresses", &smp_by_type_atomic },
	{ "capacity", &string_map },
	{ "allocatable", &string_map },
	{ NULL, NULL },
};

/* ---- kinds ---- */

#define STRUCT(arr) (&(const struct patch_schema){ .type = PATCH_SCHEMA_STRUCT, .fields = (arr) })

/* A kind: metadata is ObjectMeta, then the listed top-level fields, then END. */
#define KIND(...)                                                                       \
	STRUCT(((const struct patch_schema_field[]){ { "metadata", &object_meta }, __VA_ARGS__ }))
#define END { NULL, NULL }

struct kind_entry {
	const char *group;                 /* "" for the core group */
	const char *kind;                  /* NULL: any kind of this group */
	const struct patch_schema *schema;
};

static const struct kind_entry kinds[] = {
	{ "apps", "Deployment",
	  KIND({ "spec", STRUCT(deployment_spec_fields) }, { "status", &conditions_status }, END) },
	{ "apps", "ReplicaSet", KIND({ "spec", &workload_spec }, { "status", &conditions_status }, END) },
	{ "apps", "StatefulSet", KIND({ "spec", &workload_spec }, { "status", &conditions_status }, END) },
	{ "apps", "DaemonSet", KIND({ "spec", &workload_spec }, { "status", &conditions_status }, END) },
	{ "batch", "Job", KIND({ "spec", &workload_spec }, { "status", &job_status }, END) },
	{ "batch", "CronJob", KIND({ "spec", STRUCT(cronjob_spec_fields) }, END) },
	{ "", "Pod", KIND({ "spec", &pod_spec }, { "status", STRUCT(pod_status_fields) }, END) },
	{ "", "PodTemplate", KIND({ "template", &pod_template }, END) },
	{ "", "ReplicationController",
	  KIND({ "spec", STRUCT(((const struct patch_schema_field[]){
				  { "selector", &string_map },
				  { "template", &pod_template },
				  { NULL, NULL } })) },
	       { "status", &conditions_status }, END) },
	{ "", "Service", KIND({ "spec", STRUCT(service_spec_fields) }, { "status", &conditions_status }, END) },
	{ "", "ConfigMap", KIND({ "data", &string_map }, { "binaryData", &string_map }, END) },
	{ "", "Secret", KIND({ "data", &string_map }, { "stringData", &string_map }, END) },
	{ "", "ServiceAccount", KIND({ "secrets", &by_name }, END) },
	{ "", "Namespace", KIND({ "status", &conditions_status }, END) },
	{ "", "PersistentVolumeClaim",
	  KIND({ "spec", STRUCT(pvc_spec_fields) }, { "status", STRUCT(pvc_status_fields) }, END) },
	{ "", "Node", KIND({ "spec", STRUCT(node_spec_fields) }, { "status", STRUCT(node_status_fields) }, END) },
	{ "apiextensions.k8s.io", "CustomResourceDefinition", KIND({ "status", &conditions_status }, END) },
	/* the rest of each built-in group: ObjectMeta typed, other fields ANY */
	{ "", NULL, KIND(END) },
	{ "apps", NULL, KIND(END) },
	{ "batch", NULL, KIND(END) },
	{ "autoscaling", NULL, KIND(END) },
	{ "policy", NULL, KIND(END) },
	{ "networking.k8s.io", NULL, KIND(END) },
	{ "rbac.authorization.k8s.io", NULL, KIND(END) },
	{ "coordination.k8s.io", NULL, KIND(END) },
	{ "apiextensions.k8s.io", NULL, KIND(END) },
	{ "events.k8s.io", NULL, KIND(END) },
	{ "storage.k8s.io", NULL, KIND(END) },
	{ "scheduling.k8s.io", NULL, KIND(END) },
	{ "discovery.k8s.io", NULL, KIND(END) },
	{ "node.k8s.io", NULL, KIND(END) },
	{ "certificates.k8s.io", NULL, KIND(END) },
	{ "admissionregistration.k8s.io", NULL, KIND(END) },
	{ "apiregistration.k8s.io", NULL, KIND(END) },
	{ "flowcontrol.apiserver.k8s.io", NULL, KIND(END) },
};

const struct patch_schema *patch_schema_for(const char *api_version, const char *kind)
{
	const char *slash;
	size_t glen;

	if (!api_version || !kind)
		return NULL;
	slash = strchr(api_version, '/');
	glen = slash ? (size_t)(slash - api_version) : 0;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const struct kind_entry *k = &kinds[i];

		if (strlen(k->group) != glen || strncmp(k->group, api_version, glen) != 0)
			continue;
		if (!k->kind || strcmp(k->kind, kind) == 0)
			return k->schema;
	}
	return NULL;
}

const struct patch_schema *patch_schema_field(const struct patch_schema *s, const char *name,
					      bool *ret_named)
{
	bool named = true;
	const struct patch_schema *r = &patch_schema_any;

	switch (s ? s->type : PATCH_SCHEMA_ANY) {
	case PATCH_SCHEMA_STRUCT:
		for (const struct patch_schema_field *f = s->fields; f && f->name; f++)
			if (strcmp(f->name, name) == 0) {
				r = f->schema;
				break;
			}
		break;
	case PATCH_SCHEMA_MAP:
		named = false;
		r = s->elem ? s->elem : &patch_schema_any;
		break;
	case PATCH_SCHEMA_DEDUCED:
		named = false;
		r = &patch_schema_deduced;
		break;
	case PATCH_SCHEMA_ATOMIC:
		/* only strategic merge walks into atomic structs */
		break;
	case PATCH_SCHEMA_ANY:
	case PATCH_SCHEMA_LIST:
		break;
	}
	if (ret_named)
		*ret_named = named;
	return r;
}

const struct patch_schema *patch_schema_elem(const struct patch_schema *s)
{
	if (s && s->type == PATCH_SCHEMA_DEDUCED)
		return &patch_schema_deduced;
	if (s && s->type == PATCH_SCHEMA_LIST && s->elem)
		return s->elem;
	return &patch_schema_any;
}

enum patch_walk patch_schema_walk(const struct patch_schema *s, const json_t *v)
{
	if (json_is_object(v)) {
		switch (s->type) {
		case PATCH_SCHEMA_STRUCT:
		case PATCH_SCHEMA_ANY:
			return PATCH_WALK_STRUCT;
		case PATCH_SCHEMA_MAP:
		case PATCH_SCHEMA_DEDUCED:
			return PATCH_WALK_MAP;
		default:
			return PATCH_WALK_LEAF;
		}
	}
	if (json_is_array(v) && s->type == PATCH_SCHEMA_LIST) {
		if (s->keys)
			return PATCH_WALK_LIST_MAP;
		if ((s->flags & PATCH_SCHEMA_MERGE) && !s->merge_key)
			return PATCH_WALK_LIST_SET;
	}
	return PATCH_WALK_LEAF;
}

bool patch_schema_smp_merge_list(const struct patch_schema *s)
{
	return s && s->type == PATCH_SCHEMA_LIST && (s->flags & PATCH_SCHEMA_MERGE);
}
