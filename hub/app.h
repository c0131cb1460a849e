/* app.h - Applications on the hub: the KubeVela/OAM model (issue #8).
 *
 * THE CONTRACT between the parts of the application subsystem. Change it only
 * by adding. The parts:
 *   app_spec.c       parse and validate an Application into struct app_spec
 *                    (pure; names the field in every message)
 *   app_place.c      topology (which clusters) and override (what changes per
 *                    cluster) over a parsed spec (pure)
 *   appdef.c         definitions: the Nave schematic, parameters, rendering,
 *                    trait patches, health (appdef.h; pure)
 *   app_render.c     a deploy step's result for one cluster: the manifests and
 *                    the ManifestWork (pure; uses the three above)
 *   app_resources.c  the resources (below) and their admission
 *   app_controller.c the reconciler: workflow, works, revisions, placement
 *                    that follows the fleet, status rollup, timers
 *   app_http.c       the /nave/v1 application endpoints (workflow, rollback)
 *   app_notify.c     the notification step's webhook POST (libcurl on the loop)
 * docs/applications.md is the user's manual; docs/api.md lists the
 * resources and endpoints; docs/kubevela-compatibility.md says which
 * KubeVela features are supported.
 *
 * RESOURCES (group core.oam.dev, version v1beta1, all namespaced, custom
 * resources: generation on anything but metadata and status):
 *   applications (Application, short "app")          spec as KubeVela's; status below
 *   applicationrevisions (ApplicationRevision, "apprev")  written by the hub only
 *   componentdefinitions (ComponentDefinition, "comp")
 *   traitdefinitions (TraitDefinition, "trait")
 *   workflowstepdefinitions (WorkflowStepDefinition, "workflowstep")
 *   policydefinitions (PolicyDefinition, "def-policy")
 * Definitions are looked up in the Application's namespace, then in
 * APP_SYSTEM_NAMESPACE ("vela-system"), then among the built-ins shipped in
 * hub/definitions/ (embedded; loaded with the same parser). A user's
 * definition of the same name wins over a built-in.
 *
 * WHERE THINGS GO
 *   - One ManifestWork per (application, cluster): namespace = the cluster
 *     name, name = "<app namespace>.<app name>" (namespaces have no dots, so
 *     it is unique), labels APP_LABEL_NAME and APP_LABEL_NAMESPACE. Its
 *     content depends only on the manifests rendered for that cluster, so a
 *     new revision rewrites only the works whose manifests changed.
 *   - Every rendered object carries labels APP_LABEL_NAME, APP_LABEL_NAMESPACE
 *     and APP_LABEL_COMPONENT; namespaced objects without a namespace get
 *     the topology's namespace, else the Application's namespace; a
 *     topology namespace replaces the object's own. Each namespace other
 *     than default/kube-system used in a work is added to it as a Namespace
 *     with updateStrategy CreateOnly and orphaned on deletion
 *     (SelectivelyOrphan), so deleting an application never deletes a
 *     namespace.
 *   - The main workload of each component gets a manifestConfigs entry with
 *     the JSONPaths feedback rule its definition's status.feedback lists
 *     (and WellKnownStatus), so health is evaluated from status feedback.
 *   - An Application without a topology policy and without deploy steps
 *     naming one deploys to the cluster named APP_LOCAL_CLUSTER ("local"),
 *     KubeVela's name for its own cluster; when no cluster has that name the
 *     deploy step waits and says so.
 *
 * APPLICATION STATUS (written by the controller through the status
 * subresource; the shape follows KubeVela's so its tools read it):
 *   status.observedGeneration
 *   status.status            the phase: "rendering" | "runningWorkflow" |
 *                            "workflowSuspending" | "workflowTerminated" |
 *                            "workflowFailed" | "running" (workflow succeeded,
 *                            all healthy) | "unhealthy" (succeeded, not all
 *                            healthy) | "deleting"
 *   status.conditions[]      {type, status "True"|"False", reason, message,
 *                            lastTransitionTime}; types "Parsed", "Revision",
 *                            "Render", "Policy", "WorkflowFinished", "Healthy",
 *                            "Ready". Healthy is never True while the
 *                            workflow has failed or is terminated.
 *   status.latestRevision    {name: "<app>-v<N>", revision: N, revisionHash}
 *   status.services[]        one per (component, cluster): {name (component),
 *                            namespace, cluster, healthy (bool), message,
 *                            revision (the app revision the cluster's work
 *                            was last written for), readyReplicas,
 *                            replicas (when the workload reports them),
 *                            workloadDefinition {apiVersion, kind},
 *                            traits[] {type, healthy, message}}
 *   status.workflow          {appRevision, mode "StepByStep", phase
 *                            ("initializing"|"executing"|"suspending"|
 *                            "succeeded"|"failed"|"terminated"), suspend
 *                            (bool), terminated (bool), finished (bool),
 *                            message, startTime, endTime, steps[] {id, name,
 *                            type, phase ("pending"|"running"|"succeeded"|
 *                            "failed"|"skipped"|"suspending"), reason,
 *                            message, firstExecuteTime, lastExecuteTime}}
 *   status.clusters[]        Nave's placement view, one per cluster the app
 *                            is on: {name, work (ns/name), revision,
 *                            workGeneration, observedGeneration, applied,
 *                            available (bools), message}
 *   status.appliedResources[] {cluster, namespace, apiVersion, kind, name,
 *                            component}
 *
 * APPLICATIONREVISION (name "<app>-v<N>", labels APP_LABEL_NAME,
 * APP_LABEL_REVISION_HASH; ownerReference to the Application):
 *   spec.revision            N (integer)
 *   spec.application         {metadata {name, namespace, labels, annotations},
 *                            spec} as submitted
 *   spec.componentDefinitions / spec.traitDefinitions  name -> the
 *                            definition object used (built-ins included)
 *   spec.revisionHash        the hash (64 hex digits)
 *   (label APP_LABEL_REVISION_HASH: the hash's first 16 hex digits, as
 *                            label values are at most 63 characters)
 *   spec.publishVersion      from APP_ANNOT_PUBLISH_VERSION, when set
 *   spec.revisionOnly        APP_ANNOT_REVISION_ONLY was "true"
 *   status.succeeded         the workflow of this revision succeeded
 *   status.workflowPhase, status.deployedTime
 * A new revision is made when the hash (sha256 over the canonical JSON of the
 * Application spec and the definitions it uses) or the publish version
 * changes; otherwise the latest revision is reused. APP_REVISIONS_KEEP (or
 * the hub's --app-revisions) newest are kept, never the one in use.
 *
 * ENDPOINTS (admin credential; 404 unknown app, 409 when the transition is
 * not possible, with a message saying why):
 *   POST /nave/v1/namespaces/NS/applications/NAME/workflow/resume     resume a
 *        suspended workflow (a suspend step or a deploy step with auto: false)
 *   POST .../workflow/suspend      suspend at the next step boundary
 *   POST .../workflow/terminate    stop; the phase becomes workflowTerminated
 *   POST .../workflow/restart      run the workflow again from its first step
 *   POST .../rollback  body {"revision": "NAME-vN" | "vN" | N}: the
 *        Application's spec becomes that revision's spec (written by the hub,
 *        field manager "nave-rollback"); its hash equals the old revision's, so
 *        that revision becomes the latest again and the workflow runs.
 *   Each answers 200 with the Application as it is after the change.
 */
#ifndef NAVE_APP_H
#define NAVE_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "errbuf.h"

struct hub;
struct httpd_req;

#define APP_GROUP "core.oam.dev"
#define APP_VERSION "v1beta1"
#define APP_API_VERSION "core.oam.dev/v1beta1"
#define APP_RES_APPS "applications"
#define APP_RES_REVISIONS "applicationrevisions"
#define APP_RES_COMPDEFS "componentdefinitions"
#define APP_RES_TRAITDEFS "traitdefinitions"
#define APP_RES_STEPDEFS "workflowstepdefinitions"
#define APP_RES_POLICYDEFS "policydefinitions"
#define APP_SYSTEM_NAMESPACE "vela-system"
#define APP_LOCAL_CLUSTER "local"

#define APP_LABEL_NAME "app.oam.dev/name"
#define APP_LABEL_NAMESPACE "app.oam.dev/namespace"
#define APP_LABEL_COMPONENT "app.oam.dev/component"
#define APP_LABEL_REVISION_HASH "app.oam.dev/app-revision-hash" /* the hash's first 16 hex digits */
#define APP_ANNOT_PUBLISH_VERSION "app.oam.dev/publishVersion"
#define APP_ANNOT_REVISION_ONLY "app.oam.dev/revision-only"
#define APP_FINALIZER "app.nave.dev/resources"
#define APP_ROLLBACK_MANAGER "nave-rollback"

/* Limits on what a user submits (checked by app_spec_parse, -EINVAL naming
 * the field, "Too many: 129: must have at most 128 items"). */
#define APP_COMPONENTS_MAX 128
#define APP_TRAITS_MAX 32          /* per component */
#define APP_POLICIES_MAX 64
#define APP_STEPS_MAX 128
#define APP_CLUSTERS_MAX 1024      /* listed in one topology */
#define APP_DEPENDS_MAX 64         /* dependsOn entries of one component or step */
#define APP_NAME_MAX 63            /* component, policy, step names: DNS-1123 labels */
#define APP_REVISIONS_KEEP 10
#define APP_STEP_TIMEOUT_MAX_S (7 * 86400)
#define APP_URL_MAX 2048

/* ------------------------------------------------------------------------ */
/* The parsed Application (app_spec.c). All strings and JSON owned by the    */
/* struct and freed by app_spec_free().                                      */

struct app_trait {
	char *type;
	json_t *properties;     /* an object ({} when absent) */
};

struct app_component {
	char *name;
	char *type;
	json_t *properties;     /* an object ({} when absent) */
	struct app_trait *traits;
	size_t ntraits;
	char **depends_on;      /* component names, checked to exist, no cycles */
	size_t ndepends;
};

struct app_topology {
	char **clusters;        /* names as given (may be empty) */
	size_t nclusters;
	json_t *selector;       /* NULL, or a label selector object {matchLabels, matchExpressions}:
				   clusterLabelSelector in KubeVela's map form becomes matchLabels;
				   clusterSelector (the older name) is read the same way */
	char *namespace_;       /* NULL: objects keep their namespace */
	bool allow_empty;
};

struct app_override_trait {
	char *type;
	json_t *properties;     /* NULL when absent */
	bool disable;
};

struct app_override_entry {
	char *name;             /* NULL: every component (of type, if set) */
	char *type;             /* NULL: any type */
	json_t *properties;     /* NULL, or an object merged (JSON merge patch) into the component's */
	struct app_override_trait *traits;
	size_t ntraits;
};

struct app_override {
	struct app_override_entry *entries;
	size_t nentries;
	char **selector;        /* component names kept by the steps using this policy (KubeVela's
				   `selector`); NULL when absent = all */
	size_t nselector;
	/* Nave's extension: restrict this override to some clusters of the
	 * topology it is used with (both NULL: every cluster). */
	char **clusters;
	size_t nclusters;
	json_t *cluster_selector; /* NULL or a label selector object as in app_topology */
};

enum app_policy_kind {
	APP_POLICY_TOPOLOGY,
	APP_POLICY_OVERRIDE,
	APP_POLICY_ROLLOUT,     /* the cross-cluster rollout strategy (issue #9): properties kept as given */
};

struct app_policy {
	char *name;             /* given, or generated "<type>-<index>" for anonymous policies */
	enum app_policy_kind kind;
	struct app_topology topology;  /* kind TOPOLOGY */
	struct app_override override;  /* kind OVERRIDE */
	json_t *properties;     /* always: the properties as given ({} when absent) */
};

enum app_step_kind {
	APP_STEP_DEPLOY,
	APP_STEP_SUSPEND,
	APP_STEP_APPLY_COMPONENT,
	APP_STEP_NOTIFICATION,
};

struct app_step {
	char *name;             /* given, or "<type>-<index>" */
	enum app_step_kind kind;
	char *type;             /* as written */
	int64_t timeout_ms;     /* "timeout": "30s", "5m"...; 0: none */
	char *if_expr;          /* "if": a tmpl expression over {status: {<step>: {phase, succeeded,
				   failed, skipped}}}; NULL: always (after the previous step succeeded) */
	char **depends_on;      /* step names */
	size_t ndepends;
	/* deploy */
	size_t *policies;       /* indexes into app_spec.policies, in the order written */
	size_t npolicies;
	bool auto_;             /* default true; false: wait for `navectl workflow resume` */
	int parallelism;        /* default 5: clusters written at once */
	char *revision;         /* Nave's extension: deploy the components of this ApplicationRevision
				   ("<app>-vN" or "vN") instead of the current spec; NULL: current */
	/* suspend */
	int64_t duration_ms;    /* 0: until resumed */
	char *message;          /* NULL when absent */
	/* apply-component */
	char *component;        /* a component name */
	char *cluster;          /* NULL: APP_LOCAL_CLUSTER */
	char *namespace_;       /* NULL: the component's own */
	/* notification */
	char *url;              /* http(s) URL: slack.url.value, dingding.url.value, lark.url.value or
				   webhook.url.value */
	char *channel;          /* "slack", "dingding", "lark", "webhook" */
	json_t *payload;        /* the JSON body to POST (the channel's message object) */
};

struct app_spec {
	char *name;             /* metadata.name */
	char *namespace_;       /* metadata.namespace ("default" when absent) */
	struct app_component *components;
	size_t ncomponents;
	struct app_policy *policies;
	size_t npolicies;
	struct app_step *steps; /* the workflow as written, or generated (default_workflow) */
	size_t nsteps;
	bool default_workflow;  /* no spec.workflow: one deploy step per topology policy, each with every
				   override policy; with no topology, one deploy step to APP_LOCAL_CLUSTER */
	char *publish_version;  /* APP_ANNOT_PUBLISH_VERSION or NULL */
	bool revision_only;     /* APP_ANNOT_REVISION_ONLY == "true" */
};

/* Parse and validate app (an Application object; borrowed). Checks the
 * shape and every reference that does not need definitions or clusters:
 * unique DNS-label names, dependsOn targets and cycles, policy names used by
 * steps, override entries naming an existing component or type used by
 * one, deploy steps whose overrides have no topology (an error: KubeVela
 * silently deploys nothing), durations, notification URLs (http/https),
 * caps. Unsupported KubeVela features are rejected naming them
 * ("spec.workflow.steps[1].inputs: Unsupported: step inputs/outputs are not
 * supported by Nave; see docs/kubevela-compatibility.md"). Messages name the
 * field path ("spec.components[1].traits[0].type: Required value").
 * Returns 0 or -EINVAL; *ret_spec: free with app_spec_free(). */
int app_spec_parse(const json_t *app, struct errbuf *err, struct app_spec **ret_spec);
struct app_spec *app_spec_free(struct app_spec *s);

/* The component named name, or NULL. */
const struct app_component *app_spec_component(const struct app_spec *s, const char *name);
/* The index of the policy named name, or -1. */
int app_spec_policy(const struct app_spec *s, const char *name);

/* ------------------------------------------------------------------------ */
/* Placement (app_place.c)                                                   */

/* The clusters a topology selects among clusters (a JSON array of
 * ManagedCluster objects, borrowed): listed names that exist and are
 * accepted, plus accepted clusters whose labels match the selector. A
 * listed name that does not exist is not an error here (the step waits and
 * says so; see app_topology_missing). *ret_names: a new array of strings,
 * sorted, unique. -EINVAL for a selector that does not parse. */
int app_topology_select(const struct app_topology *t, const json_t *clusters, struct errbuf *err,
			json_t **ret_names);
/* The names t lists that are not among clusters (new array of strings). */
json_t *app_topology_missing(const struct app_topology *t, const json_t *clusters);

/* The components a deploy step renders for one cluster: spec's components
 * (or those of the revision's spec when the step names one: pass that spec
 * as base), with every override policy of the step applied in order
 * (properties merged as JSON merge patch; traits patched by type, added when
 * absent, removed with disable: true), skipping overrides whose Nave cluster
 * restriction excludes cluster (cluster_labels: the cluster's labels object,
 * borrowed) and keeping only components an override's selector names.
 * ovs: the step's override policies. Returns 0 and *ret_components (a new
 * array of n components, free each with app_component_free_contents then
 * free()) with *ret_n; -EINVAL naming the policy when an override
 * cannot apply (a properties value that is not an object). */
int app_override_apply(const struct app_component *base, size_t nbase, const struct app_policy *const *ovs,
		       size_t novs, const char *cluster, const json_t *cluster_labels, struct errbuf *err,
		       struct app_component **ret_components, size_t *ret_n);
void app_component_free_contents(struct app_component *c);

/* ------------------------------------------------------------------------ */
/* Rendering (app_render.c)                                                  */

struct appdef_registry;

/* What a deploy step puts on one cluster. */
struct app_render_in {
	const struct app_spec *spec;        /* the application (names, namespace) */
	const struct app_component *components; /* after overrides, for this cluster */
	size_t ncomponents;
	const char *cluster;
	const char *namespace_;             /* the topology's namespace, or NULL */
	const char *revision;               /* "<app>-vN": context.revision */
	const struct appdef_registry *defs;
};

/* Render the components for one cluster. *ret_manifests: a new JSON array
 * of {"component": name, "role": "workload"|"output"|"trait", "trait": type
 * (role trait only), "object": the Kubernetes object}, in component order,
 * labels and namespaces set as described above. -EINVAL naming the
 * component and the field when a type or trait is unknown, a parameter is
 * missing or mistyped, or a trait does not apply to the workload
 * ("spec.components[0].traits[1]: trait \"scaler\" does not apply to
 * workload batch/v1 Job (appliesToWorkloads: deployments.apps)"). */
int app_render_cluster(const struct app_render_in *in, struct errbuf *err, json_t **ret_manifests);

/* Build the ManifestWork for (app, cluster) from manifests (one or several
 * app_render_cluster results concatenated; later objects with the same
 * apiVersion/kind/namespace/name replace earlier ones), with the Namespace
 * objects, manifestConfigs (feedback rules of each workload, from defs) and
 * deleteOption described above. *ret_work: a new object. */
int app_render_work(const struct app_spec *spec, const char *cluster, const json_t *manifests,
		    const struct appdef_registry *defs, struct errbuf *err, json_t **ret_work);

/* The ManifestWork's name for an application: "<ns>.<name>" into out. */
void app_work_name(const char *app_ns, const char *app_name, char *out, size_t outlen);

/* The revision hash (64 hex characters into out[65]) over the canonical
 * JSON of the Application's spec and the definitions it uses (a JSON object
 * name -> definition spec, borrowed). */
void app_revision_hash(const json_t *app_spec_obj, const json_t *defs_used, char out[65]);

/* ------------------------------------------------------------------------ */
/* The subsystem in nave-hub (app_resources.c, app_controller.c, app_http.c) */

/* Register the resources above with their admission (called by
 * hub_resources_register). */
int app_resources_register(struct hub *h);
/* Start the controller: load definitions and applications, subscribe, resume
 * workflows where they were (state is in the Applications' status). */
int app_controller_start(struct hub *h);
/* Stop timers and free the controller's memory (the loop then runs to close
 * handles). Accepts a hub without a controller. */
void app_controller_stop(struct hub *h);
/* Serve /nave/v1/namespaces/NS/applications/NAME/<action...>: segs are the
 * path segments after "applications/NAME" (e.g. {"workflow","resume"}). The
 * caller has checked the admin credential. */
void app_http(struct hub *h, struct httpd_req *req, const char *ns, const char *name, char **segs, int nsegs);

/* Validation without side effects for admission, tests and the fuzzer:
 * parse app and render it for a notional cluster with the definitions the
 * hub has (defs NULL: the built-ins only). Returns 0 or the API's answer. */
int app_check(const json_t *app, const struct appdef_registry *defs, struct errbuf *err);

/* ------------------------------------------------------------------------ */
/* Added by app_spec.c / app_place.c / app_render.c                          */

/* app_render_cluster (in->defs) and app_render_work (defs) also accept NULL
 * definitions: the built-ins, as app_check. app_render_cluster's entries
 * also carry "type" (workload entries: the component's type, which
 * app_render_work uses to find the feedback rules) and "name" (output and
 * trait entries: the output's name in the definition). */

/* A Go-style duration ("500ms", "30s", "5m", "1h30m", "1.5h"; units h, m,
 * s, ms; at most 64 bytes) into milliseconds. 0 or -EINVAL (-ERANGE past
 * about 30000 years); *ret_ms set only on success. */
int app_duration_parse(const char *s, int64_t *ret_ms);
/* Whether url is an http:// or https:// URL with a host, at most
 * APP_URL_MAX bytes, of RFC 3986 characters (placeholders such as
 * "<your-slack-url>" are not). */
bool app_url_valid(const char *url);

/* Whether kind (of the core or a well-known API group) is cluster-scoped:
 * Namespace, Node, PersistentVolume, StorageClass, ClusterRole(Binding),
 * CustomResourceDefinition, PriorityClass, IngressClass, the webhook
 * configurations, APIService, CSIDriver, RuntimeClass... Rendering strips
 * metadata.namespace from these and namespaces every other kind. */
bool app_kind_cluster_scoped(const char *kind);

/* The plural resource name of kind as Kubernetes spells it for the
 * built-in kinds ("Deployment" -> "deployments", "Ingress" -> "ingresses",
 * "NetworkPolicy" -> "networkpolicies"), into out. For manifestConfigs
 * resourceIdentifiers. */
void app_kind_resource(const char *kind, char *out, size_t outlen);

/* ------------------------------------------------------------------------ */
/* Added by app_rollout.c (the nave-rollout policy, issue #9)                */

#define APP_ROLLOUT_GROUPS_MAX 100   /* properties.decisionGroups */
/* Validate a nave-rollout policy's properties (borrowed): the
 * rolloutStrategy (wave_strategy_parse, hub/wave.h), decisionGroups[]
 * {groupName, groupClusterSelector} and clustersPerDecisionGroup (int or
 * "N%"). 0 or -EINVAL naming the field under field. */
int app_rollout_check(const json_t *props, const char *field, struct errbuf *err);

#endif
