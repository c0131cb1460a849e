/* app_spec.c - an Application object into struct app_spec (see app.h).
 *
 * Pure: no loop, no I/O, no global state. Everything a user submits is
 * checked here except what needs definitions (component and trait types,
 * parameters: app_render.c through appdef.c) or the fleet (which clusters
 * exist: app_place.c). Every message names the field path, from the
 * Application's point of view, and says what to do, in the Kubernetes
 * vocabulary ("Required value", "Invalid value", "Unsupported value",
 * "Not found", "Duplicate value", "Too many", "Too long"); KubeVela features
 * Nave does not implement are "Unsupported: ..." naming the feature.
 *
 * The parse goes in three passes so references can be checked: components
 * (names, then dependsOn), policies (overrides refer to components), the
 * workflow (steps refer to policies, components and earlier steps).
 *
 * Caps (app.h): APP_*_MAX for list lengths and names; the strings without an
 * app.h cap are held to SPEC_STR_MAX (types, namespaces, revisions) or
 * SPEC_TEXT_MAX (messages); override entries of all policies together to
 * SPEC_OVERRIDE_ENTRIES_MAX.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "app.h"
#include "kobj.h"
#include "selector.h"
#include "tmpl.h"

#define SPEC_FIELD_MAX 256      /* a field path in a message */
#define SPEC_STR_MAX 253        /* type names, cluster and namespace names, revisions */
#define SPEC_TEXT_MAX 4096      /* suspend messages */
#define SPEC_DURATION_MAX 64    /* bytes of a duration string */
#define SPEC_PARALLELISM_MAX APP_CLUSTERS_MAX
/* Override entries of all policies together: every deploy step applies
 * each entry to each component for each cluster, so this bounds the work. */
#define SPEC_OVERRIDE_ENTRIES_MAX 256
#define SPEC_COMPAT "see docs/kubevela-compatibility.md"

/* ------------------------------------------------------------------------ */
/* small checkers                                                            */

/* Format a field path into out[SPEC_FIELD_MAX] (truncated, never overflowed). */
static void fld(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fld(char *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, SPEC_FIELD_MAX, fmt, ap);
	va_end(ap);
}

static bool present(const json_t *v)
{
	return v && !json_is_null(v);
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* A string member: absent/null gives *ret NULL (an error when required);
 * anything else must be a string of at most max bytes without NULs, not
 * empty when required. */
static int get_str(const json_t *parent, const char *key, const char *field, size_t max, bool required,
		   struct errbuf *err, const char **ret)
{
	json_t *v = json_object_get(parent, key);
	const char *s;

	if (!present(v)) {
		if (required)
			return errbuf_set(err, -EINVAL, "%s: Required value", field);
		*ret = NULL;
		return 0;
	}
	if (!json_is_string(v))
		return errbuf_set(err, -EINVAL, "%s: Invalid value: %s: must be a string", field, type_name(v));
	s = json_string_value(v);
	if (!*s && required)
		return errbuf_set(err, -EINVAL, "%s: Required value: must not be empty", field);
	if (json_string_length(v) > max)
		return errbuf_set(err, -EINVAL, "%s: Too long: must have at most %zu bytes", field, max);
	if (strlen(s) != json_string_length(v))
		return errbuf_set(err, -EINVAL, "%s: Invalid value: must not contain NUL bytes", field);
	*ret = s;
	return 0;
}

/* A list member of at most max items; absent/null gives *ret NULL. */
static int get_list(const json_t *parent, const char *key, const char *field, size_t max, struct errbuf *err,
		    const json_t **ret)
{
	json_t *v = json_object_get(parent, key);

	if (!present(v)) {
		*ret = NULL;
		return 0;
	}
	if (!json_is_array(v))
		return errbuf_set(err, -EINVAL, "%s: Invalid value: %s: must be a list", field, type_name(v));
	if (json_array_size(v) > max)
		return errbuf_set(err, -EINVAL, "%s: Too many: %zu: must have at most %zu items", field,
				  json_array_size(v), max);
	*ret = v;
	return 0;
}

/* An object member; absent/null gives *ret NULL. */
static int get_obj(const json_t *parent, const char *key, const char *field, struct errbuf *err, const json_t **ret)
{
	json_t *v = json_object_get(parent, key);

	if (!present(v)) {
		*ret = NULL;
		return 0;
	}
	if (!json_is_object(v))
		return errbuf_set(err, -EINVAL, "%s: Invalid value: %s: must be an object", field, type_name(v));
	*ret = v;
	return 0;
}

static int get_bool(const json_t *parent, const char *key, const char *field, bool dflt, struct errbuf *err,
		    bool *ret)
{
	json_t *v = json_object_get(parent, key);

	if (!present(v)) {
		*ret = dflt;
		return 0;
	}
	if (!json_is_boolean(v))
		return errbuf_set(err, -EINVAL, "%s: Invalid value: %s: must be true or false", field, type_name(v));
	*ret = json_is_true(v);
	return 0;
}

/* Every key of obj must be among known (NULL-terminated); what names the
 * object in the message ("a component"). */
static int check_keys(const json_t *obj, const char *field, const char *what, const char *const *known,
		      struct errbuf *err)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		const char *const *k;
		char list[256] = "";
		size_t n = 0;

		for (k = known; *k; k++)
			if (!strcmp(*k, key))
				break;
		if (*k)
			continue;
		for (k = known; *k && n < sizeof(list); k++)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", *k);
		return errbuf_set(err, -EINVAL, "%s.%.64s: Unsupported field: %s has no field \"%.64s\" (fields: %s)",
				  field, key, what, key, list);
	}
	return 0;
}

/* Names: DNS-1123 labels (they become label values and step ids). */
static int check_name(const char *name, const char *field, struct errbuf *err)
{
	if (!kobj_valid_label_name(name))
		return errbuf_set(err, -EINVAL,
				  "%s: Invalid value: \"%.64s\": must be a DNS-1123 label (at most %d characters of "
				  "a-z, 0-9 and '-', starting and ending with a letter or digit)", field, name,
				  APP_NAME_MAX);
	return 0;
}

static char **strv_new(size_t n)
{
	return xcalloc(n ? n : 1, sizeof(char *));
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* "a, b, c" of up to 8 names, for "did you mean" lists. */
static void name_list(char *out, size_t outlen, const char *const *names, size_t n)
{
	size_t used = 0, i;

	out[0] = 0;
	for (i = 0; i < n && i < 8 && used < outlen; i++)
		used += (size_t)snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", names[i]);
	if (i < n && used < outlen)
		snprintf(out + used, outlen - used, ", ...");
}

/* "<field>: Not found: "<name>": no <what> of that name (<whats>: a, b, ...)"
 * where names holds the first (up to 8) of the n names there are. */
static int not_found(const char *field, const char *name, const char *what, const char *whats,
		     const char *const *names, size_t n, struct errbuf *err)
{
	char list[200];

	name_list(list, sizeof(list), names, n);
	return errbuf_set(err, -EINVAL, "%s: Not found: \"%.64s\": no %s of that name (%s: %s)", field, name, what,
			  whats, n ? list : "none");
}

/* The first (up to 8) component names into names; returns how many there are. */
static size_t component_names(const struct app_spec *s, const char *names[8])
{
	for (size_t k = 0; k < s->ncomponents && k < 8; k++)
		names[k] = s->components[k].name;
	return s->ncomponents;
}

/* The name of a policy or step (o, at ofield) into *ret_name: its "name",
 * checked, or when absent or empty "<type>-<i>" written into gen (then
 * *ret_name == gen). field gets "<ofield>.name" for the caller's messages. */
static int get_name_or_generated(const json_t *o, const char *ofield, const char *type, size_t i, char *field,
				 char *gen, struct errbuf *err, const char **ret_name)
{
	const char *name;
	int r;

	fld(field, "%s.name", ofield);
	if ((r = get_str(o, "name", field, SPEC_STR_MAX, false, err, &name)) < 0)
		return r;
	if (name && *name) {
		if ((r = check_name(name, field, err)) < 0)
			return r;
	} else {
		fld(gen, "%s-%zu", type, i);
		name = gen;
	}
	*ret_name = name;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* durations and URLs (exported helpers, see app.h)                          */

/* See app.h. */
int app_duration_parse(const char *s, int64_t *ret_ms)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = {{"ms", 1}, {"h", 3600e3}, {"m", 60e3}, {"s", 1e3}};
	double total = 0;
	const char *p = s;

	if (!s || !*s || strlen(s) > SPEC_DURATION_MAX)
		return -EINVAL;
	while (*p) {
		double v = 0, scale = 1;
		bool digits = false;
		size_t u;

		while (*p >= '0' && *p <= '9') {
			v = v * 10 + (*p++ - '0');
			digits = true;
		}
		if (*p == '.') {
			p++;
			while (*p >= '0' && *p <= '9') {
				scale /= 10;
				v += (*p++ - '0') * scale;
				digits = true;
			}
		}
		if (!digits)
			return -EINVAL;
		for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
			size_t ul = strlen(units[u].unit);

			if (!strncmp(p, units[u].unit, ul)) {
				/* "m" must not be the start of "ms" */
				if (ul == 1 && p[0] == 'm' && p[1] == 's')
					continue;
				total += v * units[u].ms;
				p += ul;
				break;
			}
		}
		if (u == sizeof(units) / sizeof(units[0]))
			return -EINVAL;
		if (total > 1e15)
			return -ERANGE;
	}
	*ret_ms = (int64_t)(total + 0.5);
	return 0;
}

/* See app.h. */
bool app_url_valid(const char *url)
{
	const char *host;
	size_t n;

	if (!url || strlen(url) > APP_URL_MAX)
		return false;
	if (!strncmp(url, "https://", 8))
		host = url + 8;
	else if (!strncmp(url, "http://", 7))
		host = url + 7;
	else
		return false;
	n = strcspn(host, "/?#");
	if (!n)
		return false;
	for (const char *p = url; *p; p++) {
		unsigned char c = (unsigned char)*p;

		/* RFC 3986 characters only: no spaces, quotes, angle brackets or controls */
		if (c <= 0x20 || c >= 0x7f || strchr("\"<>\\^`{|}", c))
			return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = host[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-.:[]_@%", c)))
			return false;
	}
	return true;
}

static int get_duration(const json_t *parent, const char *key, const char *field, int64_t max_ms, struct errbuf *err,
			int64_t *ret_ms)
{
	const char *s;
	int64_t ms = 0;
	int r;

	if ((r = get_str(parent, key, field, SPEC_DURATION_MAX, false, err, &s)) < 0)
		return r;
	if (!s) {
		*ret_ms = 0;
		return 0;
	}
	if (app_duration_parse(s, &ms) < 0 || ms <= 0)
		return errbuf_set(err, -EINVAL,
				  "%s: Invalid value: \"%.64s\": must be a positive duration such as \"500ms\", \"30s\", "
				  "\"5m\" or \"1h30m\"", field, s);
	if (ms > max_ms)
		return errbuf_set(err, -EINVAL, "%s: Invalid value: \"%.64s\": must be at most %lld hours", field, s,
				  (long long)(max_ms / 3600000));
	*ret_ms = ms;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* freeing                                                                   */

static void topology_clear(struct app_topology *t)
{
	strv_free(t->clusters, t->nclusters);
	json_decref(t->selector);
	free(t->namespace_);
}

static void override_clear(struct app_override *o)
{
	for (size_t i = 0; i < o->nentries; i++) {
		struct app_override_entry *e = &o->entries[i];

		free(e->name);
		free(e->type);
		json_decref(e->properties);
		for (size_t j = 0; j < e->ntraits; j++) {
			free(e->traits[j].type);
			json_decref(e->traits[j].properties);
		}
		free(e->traits);
	}
	free(o->entries);
	strv_free(o->selector, o->nselector);
	strv_free(o->clusters, o->nclusters);
	json_decref(o->cluster_selector);
}

static void step_clear(struct app_step *st)
{
	free(st->name);
	free(st->type);
	free(st->if_expr);
	strv_free(st->depends_on, st->ndepends);
	free(st->policies);
	free(st->revision);
	free(st->message);
	free(st->component);
	free(st->cluster);
	free(st->namespace_);
	free(st->url);
	free(st->channel);
	json_decref(st->payload);
}

/* See app.h. */
struct app_spec *app_spec_free(struct app_spec *s)
{
	size_t i;

	if (!s)
		return NULL;
	free(s->name);
	free(s->namespace_);
	for (i = 0; i < s->ncomponents; i++)
		app_component_free_contents(&s->components[i]);
	free(s->components);
	for (i = 0; i < s->npolicies; i++) {
		free(s->policies[i].name);
		topology_clear(&s->policies[i].topology);
		override_clear(&s->policies[i].override);
		json_decref(s->policies[i].properties);
	}
	free(s->policies);
	for (i = 0; i < s->nsteps; i++)
		step_clear(&s->steps[i]);
	free(s->steps);
	free(s->publish_version);
	free(s);
	return NULL;
}

/* See app.h. */
const struct app_component *app_spec_component(const struct app_spec *s, const char *name)
{
	for (size_t i = 0; s && name && i < s->ncomponents; i++)
		if (!strcmp(s->components[i].name, name))
			return &s->components[i];
	return NULL;
}

/* See app.h. */
int app_spec_policy(const struct app_spec *s, const char *name)
{
	for (size_t i = 0; s && name && i < s->npolicies; i++)
		if (!strcmp(s->policies[i].name, name))
			return (int)i;
	return -1;
}

static int step_index(const struct app_spec *s, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (s->steps[i].name && !strcmp(s->steps[i].name, name))
			return (int)i;
	return -1;
}

static bool type_used(const struct app_spec *s, const char *type)
{
	for (size_t i = 0; i < s->ncomponents; i++)
		if (!strcmp(s->components[i].type, type))
			return true;
	return false;
}

/* ------------------------------------------------------------------------ */
/* metadata                                                                  */

static int parse_metadata(const json_t *app, struct app_spec *s, struct errbuf *err)
{
	const json_t *md, *ann;
	const char *name, *ns, *pv, *ro;
	int r;

	if ((r = get_obj(app, "metadata", "metadata", err, &md)) < 0)
		return r;
	if (!md)
		return errbuf_set(err, -EINVAL, "metadata.name: Required value");
	if ((r = get_str(md, "name", "metadata.name", SPEC_STR_MAX, true, err, &name)) < 0)
		return r;
	/* A label value (APP_LABEL_NAME) and half of the work's name. */
	if ((r = check_name(name, "metadata.name", err)) < 0)
		return r;
	if ((r = get_str(md, "namespace", "metadata.namespace", SPEC_STR_MAX, false, err, &ns)) < 0)
		return r;
	if (ns && !*ns)
		ns = NULL;
	if (ns && (r = check_name(ns, "metadata.namespace", err)) < 0)
		return r;
	if ((r = get_obj(md, "annotations", "metadata.annotations", err, &ann)) < 0)
		return r;
	if ((r = get_str(ann, APP_ANNOT_PUBLISH_VERSION, "metadata.annotations[" APP_ANNOT_PUBLISH_VERSION "]",
			 SPEC_STR_MAX, false, err, &pv)) < 0)
		return r;
	if ((r = get_str(ann, APP_ANNOT_REVISION_ONLY, "metadata.annotations[" APP_ANNOT_REVISION_ONLY "]",
			 SPEC_STR_MAX, false, err, &ro)) < 0)
		return r;
	if (ro && strcmp(ro, "true") && strcmp(ro, "false"))
		return errbuf_set(err, -EINVAL,
				  "metadata.annotations[" APP_ANNOT_REVISION_ONLY "]: Invalid value: \"%.64s\": must be "
				  "\"true\" or \"false\"", ro);
	s->name = xstrdup(name);
	s->namespace_ = xstrdup(ns ? ns : "default");
	s->publish_version = pv && *pv ? xstrdup(pv) : NULL;
	s->revision_only = ro && !strcmp(ro, "true");
	return 0;
}

/* ------------------------------------------------------------------------ */
/* components                                                                */

/* properties: an object, {} when absent or null. */
static int get_properties(const json_t *parent, const char *field, struct errbuf *err, json_t **ret)
{
	const json_t *p;
	int r;

	if ((r = get_obj(parent, "properties", field, err, &p)) < 0)
		return r;
	*ret = p ? json_deep_copy(p) : json_object();
	return 0;
}

/* KubeVela features refused wherever they appear: a non-empty value of key.
 * feature ends with its verb ("step inputs/outputs are"). */
static int refuse_feature(const json_t *obj, const char *key, const char *field, const char *feature,
			  struct errbuf *err)
{
	json_t *v = json_object_get(obj, key);

	if (!present(v) || (json_is_array(v) && !json_array_size(v)) || (json_is_object(v) && !json_object_size(v)))
		return 0;
	return errbuf_set(err, -EINVAL, "%s.%s: Unsupported: %s not supported by Nave; %s", field, key, feature,
			  SPEC_COMPAT);
}

static int parse_traits(const json_t *c, const char *cfield, struct app_component *comp, struct errbuf *err)
{
	char field[SPEC_FIELD_MAX], f2[SPEC_FIELD_MAX];
	static const char *const keys[] = {"type", "properties", NULL};
	const json_t *traits, *t;
	size_t i;
	int r;

	fld(field, "%s.traits", cfield);
	if ((r = get_list(c, "traits", field, APP_TRAITS_MAX, err, &traits)) < 0)
		return r;
	comp->traits = xcalloc(traits && json_array_size(traits) ? json_array_size(traits) : 1,
			       sizeof(*comp->traits));
	json_array_foreach(traits, i, t) {
		const char *type;

		fld(field, "%s.traits[%zu]", cfield, i);
		if (!json_is_object(t))
			return errbuf_set(err, -EINVAL, "%s: Invalid value: %s: must be an object {type, properties}",
					  field, type_name(t));
		if ((r = check_keys(t, field, "a trait", keys, err)) < 0)
			return r;
		fld(f2, "%s.type", field);
		if ((r = get_str(t, "type", f2, SPEC_STR_MAX, true, err, &type)) < 0)
			return r;
		for (size_t j = 0; j < comp->ntraits; j++)
			if (!strcmp(comp->traits[j].type, type))
				return errbuf_set(err, -EINVAL,
						  "%s: Duplicate value: \"%.64s\": a component takes each trait type "
						  "once (merge the properties into traits[%zu])", f2, type, j);
		fld(f2, "%s.properties", field);
		if ((r = get_properties(t, f2, err, &comp->traits[comp->ntraits].properties)) < 0)
			return r;
		comp->traits[comp->ntraits++].type = xstrdup(type);
	}
	return 0;
}

static int parse_component(const json_t *c, size_t i, struct app_spec *s, struct errbuf *err)
{
	static const char *const keys[] = {"name", "type", "properties", "traits", "dependsOn", "inputs", "outputs",
					   "scopes", "externalRevision", NULL};
	struct app_component *comp = &s->components[s->ncomponents];
	char cfield[SPEC_FIELD_MAX], field[SPEC_FIELD_MAX];
	const char *name, *type;
	int r;

	fld(cfield, "spec.components[%zu]", i);
	if (!json_is_object(c))
		return errbuf_set(err, -EINVAL, "%s: Invalid value: %s: must be an object {name, type, properties, traits}",
				  cfield, type_name(c));
	if ((r = refuse_feature(c, "inputs", cfield, "component inputs/outputs are", err)) < 0 ||
	    (r = refuse_feature(c, "outputs", cfield, "component inputs/outputs are", err)) < 0 ||
	    (r = refuse_feature(c, "scopes", cfield, "application scopes are", err)) < 0 ||
	    (r = refuse_feature(c, "externalRevision", cfield, "externalRevision is", err)) < 0)
		return r;
	if ((r = check_keys(c, cfield, "a component", keys, err)) < 0)
		return r;
	fld(field, "%s.name", cfield);
	if ((r = get_str(c, "name", field, SPEC_STR_MAX, true, err, &name)) < 0)
		return r;
	if ((r = check_name(name, field, err)) < 0)
		return r;
	if (app_spec_component(s, name))
		return errbuf_set(err, -EINVAL, "%s: Duplicate value: \"%s\": component names must be unique", field, name);
	fld(field, "%s.type", cfield);
	if ((r = get_str(c, "type", field, SPEC_STR_MAX, true, err, &type)) < 0)
		return r;
	/* Owned from here on: app_spec_free frees what is set. */
	comp->name = xstrdup(name);
	comp->type = xstrdup(type);
	s->ncomponents++;
	fld(field, "%s.properties", cfield);
	if ((r = get_properties(c, field, err, &comp->properties)) < 0)
		return r;
	return parse_traits(c, cfield, comp, err);
}

/* dependsOn after every component is known. */
static int parse_depends(const json_t *comps, struct app_spec *s, struct errbuf *err)
{
	char field[SPEC_FIELD_MAX];
	const json_t *deps, *d;
	size_t i, j;
	int r;

	for (i = 0; i < s->ncomponents; i++) {
		struct app_component *comp = &s->components[i];

		fld(field, "spec.components[%zu].dependsOn", i);
		if ((r = get_list(json_array_get(comps, i), "dependsOn", field, APP_DEPENDS_MAX, err, &deps)) < 0)
			return r;
		comp->depends_on = strv_new(json_array_size(deps));
		json_array_foreach(deps, j, d) {
			const char *dep = json_string_value(d);

			fld(field, "spec.components[%zu].dependsOn[%zu]", i, j);
			if (!dep)
				return errbuf_set(err, -EINVAL, "%s: Invalid value: %s: must be a component name", field,
						  type_name(d));
			if (!app_spec_component(s, dep)) {
				const char *names[8];
				size_t n = component_names(s, names);

				/* At most 8 names and, unlike component_not_found, no ", ...". */
				return not_found(field, dep, "component", "components", names, n < 8 ? n : 8, err);
			}
			if (!strcmp(dep, comp->name))
				return errbuf_set(err, -EINVAL, "%s: Invalid value: \"%s\": a component cannot depend on itself",
						  field, dep);
			comp->depends_on[comp->ndepends++] = xstrdup(dep);
		}
	}
	return 0;
}

/* Depth-first search for a cycle through dependsOn; state 0 new, 1 on the
 * path, 2 done. Depth is bounded by APP_COMPONENTS_MAX. */
static int dep_visit(const struct app_spec *s, size_t i, unsigned char *state, size_t *path, size_t depth,
		     struct errbuf *err)
{
	const struct app_component *c = &s->components[i];
	int r;

	state[i] = 1;
	path[depth] = i;
	for (size_t d = 0; d < c->ndepends; d++) {
		size_t j = (size_t)(app_spec_component(s, c->depends_on[d]) - s->components);

		if (state[j] == 1) {
			char cycle[300];
			size_t n = 0, k;

			for (k = 0; k < depth && path[k] != j; k++)
				;
			for (; k <= depth && n < sizeof(cycle); k++)
				n += (size_t)snprintf(cycle + n, sizeof(cycle) - n, "%s -> ", s->components[path[k]].name);
			if (n < sizeof(cycle))
				snprintf(cycle + n, sizeof(cycle) - n, "%s", s->components[j].name);
			return errbuf_set(err, -EINVAL,
					  "spec.components[%zu].dependsOn: Invalid value: dependency cycle %s: remove one "
					  "of these dependsOn entries", i, cycle);
		}
		if (state[j] == 0 && (r = dep_visit(s, j, state, path, depth + 1, err)) < 0)
			return r;
	}
	state[i] = 2;
	return 0;
}

static int check_cycles(const struct app_spec *s, struct errbuf *err)
{
	unsigned char *state = xcalloc(s->ncomponents, 1);
	size_t *path = xcalloc(s->ncomponents, sizeof(*path));
	int r = 0;

	for (size_t i = 0; i < s->ncomponents && r == 0; i++)
		if (!state[i])
			r = dep_visit(s, i, state, path, 0, err);
	free(state);
	free(path);
	return r;
}

static int parse_components(const json_t *spec, struct app_spec *s, struct errbuf *err)
{
	const json_t *comps, *c;
	size_t i;
	int r;

	if ((r = get_list(spec, "components", "spec.components", APP_COMPONENTS_MAX, err, &comps)) < 0)
		return r;
	if (!comps || !json_array_size(comps))
		return errbuf_set(err, -EINVAL,
				  "spec.components: Required value: an Application needs at least one component "
				  "({name, type, properties})");
	s->components = xcalloc(json_array_size(comps), sizeof(*s->components));
	json_array_foreach(comps, i, c) {
		if ((r = parse_component(c, i, s, err)) < 0)
			return r;
	}
	if ((r = parse_depends(comps, s, err)) < 0)
		return r;
	return check_cycles(s, err);
}

/* ------------------------------------------------------------------------ */
/* policies                                                                  */

/* clusterLabelSelector (or clusterSelector): KubeVela's plain map of labels,
 * or the object form {matchLabels, matchExpressions}. *ret: a new selector
 * object in the object form, validated. */
static int parse_selector(const json_t *v, const char *field, struct errbuf *err, json_t **ret)
{
	struct label_selector *sel = NULL;
	json_t *obj;
	const char *key;
	json_t *val;
	bool object_form = false;
	int r;

	if (!json_is_object(v))
		return errbuf_set(err, -EINVAL, "%s: Invalid value: %s: must be a map of labels or {matchLabels, "
				  "matchExpressions}", field, type_name(v));
	json_object_foreach((json_t *)v, key, val) {
		if (!strcmp(key, "matchLabels") || !strcmp(key, "matchExpressions"))
			object_form = true;
	}
	if (object_form) {
		static const char *const keys[] = {"matchLabels", "matchExpressions", NULL};

		if ((r = check_keys(v, field, "a label selector", keys, err)) < 0)
			return r;
		obj = json_deep_copy(v);
	} else {
		json_object_foreach((json_t *)v, key, val) {
			if (!json_is_string(val))
				return errbuf_set(err, -EINVAL, "%s[%.64s]: Invalid value: %s: label values are strings",
						  field, key, type_name(val));
		}
		obj = json_pack("{s:O}", "matchLabels", v);
	}
	r = label_selector_from_json(obj, err, &sel);
	label_selector_free(sel);
	if (r < 0) {
		json_decref(obj);
		errbuf_prefix(err, "%s", field);
		return r;
	}
	*ret = obj;
	return 0;
}

static int parse_cluster_names(const json_t *props, const char *pfield, char ***ret_v, size_t *ret_n,
			       struct errbuf *err)
{
	char field[SPEC_FIELD_MAX];
	const json_t *list, *v;
	size_t i;
	int r;

	fld(field, "%s.clusters", pfield);
	if ((r = get_list(props, "clusters", field, APP_CLUSTERS_MAX, err, &list)) < 0)
		return r;
	*ret_v = NULL;
	*ret_n = 0;
	if (!list)
		return 0;
	json_array_foreach(list, i, v) {
		fld(field, "%s.clusters[%zu]", pfield, i);
		if (!json_is_string(v))
			return errbuf_set(err, -EINVAL, "%s: Invalid value: %s: must be a cluster name", field,
					  type_name(v));
		if ((r = check_name(json_string_value(v), field, err)) < 0)
			return r;
	}
	*ret_v = strv_new(json_array_size(list));
	json_array_foreach(list, i, v)
		(*ret_v)[i] = xstrdup(json_string_value(v));
	*ret_n = json_array_size(list);
	return 0;
}

/* clusterLabelSelector or its older name clusterSelector; *ret NULL when neither. */
static int parse_cluster_selector(const json_t *props, const char *pfield, struct errbuf *err, json_t **ret)
{
	char field[SPEC_FIELD_MAX];
	json_t *a = json_object_get(props, "clusterLabelSelector"), *b = json_object_get(props, "clusterSelector");

	*ret = NULL;
	if (present(a) && present(b))
		return errbuf_set(err, -EINVAL,
				  "%s.clusterSelector: Invalid value: give clusterLabelSelector or clusterSelector (its "
				  "older name), not both", pfield);
	if (!present(a) && !present(b))
		return 0;
	fld(field, "%s.%s", pfield, present(a) ? "clusterLabelSelector" : "clusterSelector");
	return parse_selector(present(a) ? a : b, field, err, ret);
}

static int parse_topology(const json_t *props, const char *pfield, struct app_topology *t, struct errbuf *err)
{
	static const char *const keys[] = {"clusters", "clusterLabelSelector", "clusterSelector", "namespace",
					   "allowEmpty", NULL};
	char field[SPEC_FIELD_MAX];
	const char *ns;
	int r;

	if ((r = check_keys(props, pfield, "a topology policy", keys, err)) < 0)
		return r;
	if ((r = parse_cluster_names(props, pfield, &t->clusters, &t->nclusters, err)) < 0)
		return r;
	if ((r = parse_cluster_selector(props, pfield, err, &t->selector)) < 0)
		return r;
	if (!t->nclusters && !t->selector)
		return errbuf_set(err, -EINVAL,
				  "%s: Required value: a topology policy needs clusters (a list of cluster names) or "
				  "clusterLabelSelector (labels the clusters must have)", pfield);
	fld(field, "%s.namespace", pfield);
	if ((r = get_str(props, "namespace", field, SPEC_STR_MAX, false, err, &ns)) < 0)
		return r;
	if (ns && *ns) {
		if ((r = check_name(ns, field, err)) < 0)
			return r;
		t->namespace_ = xstrdup(ns);
	}
	fld(field, "%s.allowEmpty", pfield);
	return get_bool(props, "allowEmpty", field, false, err, &t->allow_empty);
}

static int parse_override_traits(const json_t *e, const char *efield, struct app_override_entry *oe,
				 struct errbuf *err)
{
	static const char *const keys[] = {"type", "properties", "disable", NULL};
	char field[SPEC_FIELD_MAX], f2[SPEC_FIELD_MAX];
	const json_t *traits, *t, *props;
	const char *type;
	size_t i;
	int r;

	fld(field, "%s.traits", efield);
	if ((r = get_list(e, "traits", field, APP_TRAITS_MAX, err, &traits)) < 0)
		return r;
	oe->traits = xcalloc(traits && json_array_size(traits) ? json_array_size(traits) : 1, sizeof(*oe->traits));
	json_array_foreach(traits, i, t) {
		struct app_override_trait *ot = &oe->traits[oe->ntraits];

		fld(field, "%s.traits[%zu]", efield, i);
		if (!json_is_object(t))
			return errbuf_set(err, -EINVAL, "%s: Invalid value: %s: must be an object {type, properties, "
					  "disable}", field, type_name(t));
		if ((r = check_keys(t, field, "an override's trait", keys, err)) < 0)
			return r;
		fld(f2, "%s.type", field);
		if ((r = get_str(t, "type", f2, SPEC_STR_MAX, true, err, &type)) < 0)
			return r;
		fld(f2, "%s.properties", field);
		if ((r = get_obj(t, "properties", f2, err, &props)) < 0)
			return r;
		fld(f2, "%s.disable", field);
		if ((r = get_bool(t, "disable", f2, false, err, &ot->disable)) < 0)
			return r;
		ot->type = xstrdup(type);
		ot->properties = props ? json_deep_copy(props) : NULL;
		oe->ntraits++;
	}
	return 0;
}

static int component_not_found(const struct app_spec *s, const char *field, const char *name, struct errbuf *err)
{
	const char *names[8];
	size_t n = component_names(s, names);

	return not_found(field, name, "component", "components", names, n, err);
}

static int parse_override(const json_t *props, const char *pfield, const struct app_spec *s,
			  struct app_override *o, struct errbuf *err)
{
	static const char *const keys[] = {"components", "selector", "clusters", "clusterLabelSelector",
					   "clusterSelector", NULL};
	static const char *const ekeys[] = {"name", "type", "properties", "traits", NULL};
	char field[SPEC_FIELD_MAX], efield[SPEC_FIELD_MAX];
	const json_t *entries, *e, *props_v, *sel, *v;
	const char *name, *type;
	size_t i;
	int r;

	if ((r = check_keys(props, pfield, "an override policy", keys, err)) < 0)
		return r;
	fld(field, "%s.components", pfield);
	if ((r = get_list(props, "components", field, APP_COMPONENTS_MAX, err, &entries)) < 0)
		return r;
	if (!entries || !json_array_size(entries))
		return errbuf_set(err, -EINVAL,
				  "%s: Required value: an override policy needs at least one entry {name?, type?, "
				  "properties?, traits?}", field);
	o->entries = xcalloc(json_array_size(entries), sizeof(*o->entries));
	json_array_foreach(entries, i, e) {
		struct app_override_entry *oe = &o->entries[o->nentries];

		fld(efield, "%s.components[%zu]", pfield, i);
		if (!json_is_object(e))
			return errbuf_set(err, -EINVAL, "%s: Invalid value: %s: must be an object {name?, type?, "
					  "properties?, traits?}", efield, type_name(e));
		if ((r = check_keys(e, efield, "an override entry", ekeys, err)) < 0)
			return r;
		o->nentries++;
		fld(field, "%s.name", efield);
		if ((r = get_str(e, "name", field, SPEC_STR_MAX, false, err, &name)) < 0)
			return r;
		if (name && *name) {
			if (!app_spec_component(s, name))
				return component_not_found(s, field, name, err);
			oe->name = xstrdup(name);
		}
		fld(field, "%s.type", efield);
		if ((r = get_str(e, "type", field, SPEC_STR_MAX, false, err, &type)) < 0)
			return r;
		if (type && *type) {
			if (!type_used(s, type))
				return errbuf_set(err, -EINVAL,
						  "%s: Not found: \"%.64s\": no component has this type, so the entry "
						  "would change nothing", field, type);
			if (oe->name && strcmp(app_spec_component(s, oe->name)->type, type))
				return errbuf_set(err, -EINVAL,
						  "%s: Invalid value: \"%.64s\": component \"%s\" has type \"%s\", so "
						  "the entry would change nothing", field, type, oe->name,
						  app_spec_component(s, oe->name)->type);
			oe->type = xstrdup(type);
		}
		fld(field, "%s.properties", efield);
		if ((r = get_obj(e, "properties", field, err, &props_v)) < 0)
			return r;
		oe->properties = props_v ? json_deep_copy(props_v) : NULL;
		if ((r = parse_override_traits(e, efield, oe, err)) < 0)
			return r;
	}
	fld(field, "%s.selector", pfield);
	if ((r = get_list(props, "selector", field, APP_COMPONENTS_MAX, err, &sel)) < 0)
		return r;
	if (sel) {
		o->selector = strv_new(json_array_size(sel));
		json_array_foreach(sel, i, v) {
			fld(field, "%s.selector[%zu]", pfield, i);
			if (!json_is_string(v))
				return errbuf_set(err, -EINVAL, "%s: Invalid value: %s: must be a component name", field,
						  type_name(v));
			if (!app_spec_component(s, json_string_value(v)))
				return component_not_found(s, field, json_string_value(v), err);
			o->selector[o->nselector++] = xstrdup(json_string_value(v));
		}
	}
	if ((r = parse_cluster_names(props, pfield, &o->clusters, &o->nclusters, err)) < 0)
		return r;
	return parse_cluster_selector(props, pfield, err, &o->cluster_selector);
}

static int parse_policies(const json_t *spec, struct app_spec *s, struct errbuf *err)
{
	static const char *const keys[] = {"name", "type", "properties", NULL};
	char field[SPEC_FIELD_MAX], pfield[SPEC_FIELD_MAX];
	const json_t *pols, *p;
	const char *name, *type;
	size_t i, nentries = 0;
	int r;

	if ((r = get_list(spec, "policies", "spec.policies", APP_POLICIES_MAX, err, &pols)) < 0)
		return r;
	s->policies = xcalloc(pols && json_array_size(pols) ? json_array_size(pols) : 1, sizeof(*s->policies));
	json_array_foreach(pols, i, p) {
		struct app_policy *pol = &s->policies[s->npolicies];
		char gen[SPEC_FIELD_MAX];

		fld(pfield, "spec.policies[%zu]", i);
		if (!json_is_object(p))
			return errbuf_set(err, -EINVAL, "%s: Invalid value: %s: must be an object {name, type, properties}",
					  pfield, type_name(p));
		if ((r = check_keys(p, pfield, "a policy", keys, err)) < 0)
			return r;
		fld(field, "%s.type", pfield);
		if ((r = get_str(p, "type", field, SPEC_STR_MAX, true, err, &type)) < 0)
			return r;
		if (!strcmp(type, "topology"))
			pol->kind = APP_POLICY_TOPOLOGY;
		else if (!strcmp(type, "override"))
			pol->kind = APP_POLICY_OVERRIDE;
		else if (!strcmp(type, "nave-rollout"))
			pol->kind = APP_POLICY_ROLLOUT;
		else
			return errbuf_set(err, -EINVAL,
					  "%s: Unsupported value: \"%.64s\": policy type \"%.64s\" is not supported by "
					  "Nave (supported: topology, override, nave-rollout); %s", field, type, type,
					  SPEC_COMPAT);
		if ((r = get_name_or_generated(p, pfield, type, i, field, gen, err, &name)) < 0)
			return r;
		if (app_spec_policy(s, name) >= 0)
			return errbuf_set(err, -EINVAL, "%s: Duplicate value: \"%s\": policy names must be unique%s", field,
					  name, name == gen ? " (an anonymous policy is named <type>-<index>)" : "");
		pol->name = xstrdup(name);
		s->npolicies++;
		fld(field, "%s.properties", pfield);
		if ((r = get_properties(p, field, err, &pol->properties)) < 0)
			return r;
		if (pol->kind == APP_POLICY_TOPOLOGY)
			r = parse_topology(pol->properties, field, &pol->topology, err);
		else if (pol->kind == APP_POLICY_OVERRIDE)
			r = parse_override(pol->properties, field, s, &pol->override, err);
		else if (pol->kind == APP_POLICY_ROLLOUT)
			r = app_rollout_check(pol->properties, field, err);
		if (r < 0)
			return r;
		nentries += pol->override.nentries;
		if (nentries > SPEC_OVERRIDE_ENTRIES_MAX)
			return errbuf_set(err, -EINVAL,
					  "%s.components: Too many: the override policies have %zu entries together: "
					  "must have at most %d", field, nentries, SPEC_OVERRIDE_ENTRIES_MAX);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* workflow                                                                  */

static int parse_deploy(const json_t *props, const char *pfield, struct app_spec *s, struct app_step *st,
			struct errbuf *err)
{
	static const char *const keys[] = {"policies", "auto", "parallelism", "revision", NULL};
	char field[SPEC_FIELD_MAX];
	const json_t *pols, *v;
	const char *rev;
	size_t i;
	int r;

	if ((r = refuse_feature(props, "ignoreTerraformComponent", pfield, "Terraform components are", err)) < 0)
		return r;
	if ((r = check_keys(props, pfield, "a deploy step", keys, err)) < 0)
		return r;
	fld(field, "%s.policies", pfield);
	if ((r = get_list(props, "policies", field, APP_POLICIES_MAX, err, &pols)) < 0)
		return r;
	st->policies = xcalloc(pols && json_array_size(pols) ? json_array_size(pols) : 1, sizeof(*st->policies));
	json_array_foreach(pols, i, v) {
		int idx;

		fld(field, "%s.policies[%zu]", pfield, i);
		if (!json_is_string(v))
			return errbuf_set(err, -EINVAL, "%s: Invalid value: %s: must be a policy name", field, type_name(v));
		idx = app_spec_policy(s, json_string_value(v));
		if (idx < 0) {
			const char *names[8];

			for (size_t k = 0; k < s->npolicies && k < 8; k++)
				names[k] = s->policies[k].name;
			return not_found(field, json_string_value(v), "policy", "policies", names, s->npolicies, err);
		}
		for (size_t k = 0; k < st->npolicies; k++)
			if (st->policies[k] == (size_t)idx)
				return errbuf_set(err, -EINVAL, "%s: Duplicate value: \"%s\"", field, json_string_value(v));
		st->policies[st->npolicies++] = (size_t)idx;
	}
	fld(field, "%s.auto", pfield);
	if ((r = get_bool(props, "auto", field, true, err, &st->auto_)) < 0)
		return r;
	st->parallelism = 5;
	v = json_object_get(props, "parallelism");
	if (present(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > SPEC_PARALLELISM_MAX)
			return errbuf_set(err, -EINVAL, "%s.parallelism: Invalid value: must be an integer of 1..%d", pfield,
					  SPEC_PARALLELISM_MAX);
		st->parallelism = (int)json_integer_value(v);
	}
	fld(field, "%s.revision", pfield);
	if ((r = get_str(props, "revision", field, SPEC_STR_MAX, false, err, &rev)) < 0)
		return r;
	if (rev) {
		const char *n = rev;
		size_t al = strlen(s->name);

		if (!strncmp(rev, s->name, al) && rev[al] == '-')
			n = rev + al + 1;
		if (n[0] != 'v' || !n[1] || strspn(n + 1, "0123456789") != strlen(n + 1) || strlen(n + 1) > 9)
			return errbuf_set(err, -EINVAL,
					  "%s: Invalid value: \"%.64s\": must name a revision of this application: "
					  "\"%s-vN\" or \"vN\"", field, rev, s->name);
		st->revision = xstrdup(rev);
	}
	return 0;
}

static int parse_suspend(const json_t *props, const char *pfield, struct app_step *st, struct errbuf *err)
{
	static const char *const keys[] = {"duration", "message", NULL};
	char field[SPEC_FIELD_MAX];
	const char *msg;
	int r;

	if ((r = check_keys(props, pfield, "a suspend step", keys, err)) < 0)
		return r;
	fld(field, "%s.duration", pfield);
	if ((r = get_duration(props, "duration", field, (int64_t)APP_STEP_TIMEOUT_MAX_S * 1000, err,
			      &st->duration_ms)) < 0)
		return r;
	fld(field, "%s.message", pfield);
	if ((r = get_str(props, "message", field, SPEC_TEXT_MAX, false, err, &msg)) < 0)
		return r;
	st->message = msg ? xstrdup(msg) : NULL;
	return 0;
}

static int parse_apply_component(const json_t *props, const char *pfield, const struct app_spec *s,
				 struct app_step *st, struct errbuf *err)
{
	static const char *const keys[] = {"component", "cluster", "namespace", NULL};
	char field[SPEC_FIELD_MAX];
	const char *comp, *cluster, *ns;
	int r;

	if ((r = check_keys(props, pfield, "an apply-component step", keys, err)) < 0)
		return r;
	fld(field, "%s.component", pfield);
	if ((r = get_str(props, "component", field, SPEC_STR_MAX, true, err, &comp)) < 0)
		return r;
	if (!app_spec_component(s, comp))
		return component_not_found(s, field, comp, err);
	fld(field, "%s.cluster", pfield);
	if ((r = get_str(props, "cluster", field, SPEC_STR_MAX, false, err, &cluster)) < 0)
		return r;
	if (cluster && *cluster && (r = check_name(cluster, field, err)) < 0)
		return r;
	fld(field, "%s.namespace", pfield);
	if ((r = get_str(props, "namespace", field, SPEC_STR_MAX, false, err, &ns)) < 0)
		return r;
	if (ns && *ns && (r = check_name(ns, field, err)) < 0)
		return r;
	st->component = xstrdup(comp);
	st->cluster = cluster && *cluster ? xstrdup(cluster) : NULL;
	st->namespace_ = ns && *ns ? xstrdup(ns) : NULL;
	return 0;
}

/* The body posted when the step gives no message. */
static json_t *default_payload(const char *channel, const struct app_spec *s, const char *step)
{
	char *text = xasprintf("Application %s/%s: workflow step %s", s->namespace_, s->name, step);
	json_t *p;

	if (!strcmp(channel, "dingding"))
		p = json_pack("{s:s, s:{s:s}}", "msgtype", "text", "text", "content", text);
	else if (!strcmp(channel, "lark"))
		p = json_pack("{s:s, s:{s:s}}", "msg_type", "text", "content", "text", text);
	else
		p = json_pack("{s:s}", "text", text);
	free(text);
	return p;
}

static int parse_notification(const json_t *props, const char *pfield, const struct app_spec *s,
			      struct app_step *st, struct errbuf *err)
{
	static const char *const channels[] = {"slack", "dingding", "lark", "webhook", NULL};
	static const char *const ckeys[] = {"url", "message", NULL};
	char field[SPEC_FIELD_MAX], cfield[SPEC_FIELD_MAX];
	const json_t *ch = NULL, *msg, *url;
	const char *chname = NULL, *u;
	int r;

	if ((r = refuse_feature(props, "email", pfield, "the email notification channel is", err)) < 0 ||
	    (r = refuse_feature(props, "msteams", pfield, "the msteams notification channel is", err)) < 0)
		return r;
	if ((r = check_keys(props, pfield, "a notification step", channels, err)) < 0)
		return r;
	for (const char *const *c = channels; *c; c++) {
		json_t *v = json_object_get(props, *c);

		if (!present(v))
			continue;
		if (chname)
			return errbuf_set(err, -EINVAL,
					  "%s.%s: Unsupported: a notification step posts to one channel (%s is given "
					  "too): use one step per channel", pfield, *c, chname);
		chname = *c;
		ch = v;
	}
	if (!ch)
		return errbuf_set(err, -EINVAL, "%s: Required value: one of slack, dingding, lark or webhook "
				  "({url: {value: \"https://...\"}, message})", pfield);
	fld(cfield, "%s.%s", pfield, chname);
	if (!json_is_object(ch))
		return errbuf_set(err, -EINVAL, "%s: Invalid value: %s: must be an object {url, message}", cfield,
				  type_name(ch));
	if ((r = check_keys(ch, cfield, "a notification channel", ckeys, err)) < 0)
		return r;
	url = json_object_get(ch, "url");
	fld(field, "%s.url", cfield);
	if (!present(url))
		return errbuf_set(err, -EINVAL, "%s: Required value: {value: \"https://...\"}", field);
	if (json_is_object(url)) {
		static const char *const ukeys[] = {"value", "secretRef", NULL};

		if ((r = refuse_feature(url, "secretRef", field, "secretRef URLs (a URL read from a Secret) are", err)) < 0)
			return r;
		if ((r = check_keys(url, field, "a notification URL", ukeys, err)) < 0)
			return r;
		fld(field, "%s.url.value", cfield);
		if ((r = get_str(url, "value", field, APP_URL_MAX, true, err, &u)) < 0)
			return r;
	} else if (json_is_string(url)) {
		u = json_string_value(url);
		if (json_string_length(url) > APP_URL_MAX)
			return errbuf_set(err, -EINVAL, "%s: Too long: must have at most %d bytes", field, APP_URL_MAX);
	} else {
		return errbuf_set(err, -EINVAL, "%s: Invalid value: %s: must be {value: \"https://...\"}", field,
				  type_name(url));
	}
	if (!app_url_valid(u))
		return errbuf_set(err, -EINVAL,
				  "%s: Invalid value: \"%.80s\": must be an http:// or https:// URL (replace the "
				  "placeholder with the webhook's address)", field, u);
	fld(field, "%s.message", cfield);
	if ((r = get_obj(ch, "message", field, err, &msg)) < 0)
		return r;
	st->url = xstrdup(u);
	st->channel = xstrdup(chname);
	st->payload = msg ? json_deep_copy(msg) : default_payload(chname, s, st->name);
	return 0;
}

static int parse_step(const json_t *j, size_t i, struct app_spec *s, struct errbuf *err)
{
	static const char *const keys[] = {"name", "type", "properties", "if", "timeout", "dependsOn", "meta", NULL};
	static const char *const types[] = {"deploy", "suspend", "apply-component", "notification", NULL};
	struct app_step *st = &s->steps[s->nsteps];
	char sfield[SPEC_FIELD_MAX], field[SPEC_FIELD_MAX], gen[SPEC_FIELD_MAX];
	const json_t *props, *deps, *d;
	const char *type, *name, *cond;
	json_t *empty = NULL;
	size_t k;
	int r;

	fld(sfield, "spec.workflow.steps[%zu]", i);
	if (!json_is_object(j))
		return errbuf_set(err, -EINVAL, "%s: Invalid value: %s: must be an object {name, type, properties}",
				  sfield, type_name(j));
	if ((r = refuse_feature(j, "inputs", sfield, "step inputs/outputs are", err)) < 0 ||
	    (r = refuse_feature(j, "outputs", sfield, "step inputs/outputs are", err)) < 0 ||
	    (r = refuse_feature(j, "subSteps", sfield, "step groups (subSteps) are", err)) < 0 ||
	    (r = refuse_feature(j, "mode", sfield, "step modes are", err)) < 0)
		return r;
	if ((r = check_keys(j, sfield, "a workflow step", keys, err)) < 0)
		return r;
	fld(field, "%s.type", sfield);
	if ((r = get_str(j, "type", field, SPEC_STR_MAX, true, err, &type)) < 0)
		return r;
	for (k = 0; types[k]; k++)
		if (!strcmp(type, types[k]))
			break;
	if (!types[k]) {
		if (!strcmp(type, "step-group"))
			return errbuf_set(err, -EINVAL, "%s: Unsupported: step groups (step-group, subSteps) are not "
					  "supported by Nave; %s", field, SPEC_COMPAT);
		return errbuf_set(err, -EINVAL,
				  "%s: Unsupported value: \"%.64s\": step type \"%.64s\" is not supported by Nave "
				  "(supported: deploy, suspend, apply-component, notification); %s", field, type, type,
				  SPEC_COMPAT);
	}
	st->kind = (enum app_step_kind)k;
	if ((r = get_name_or_generated(j, sfield, type, i, field, gen, err, &name)) < 0)
		return r;
	if (step_index(s, s->nsteps, name) >= 0)
		return errbuf_set(err, -EINVAL, "%s: Duplicate value: \"%s\": step names must be unique", field, name);
	st->name = xstrdup(name);
	st->type = xstrdup(type);
	st->auto_ = true;
	s->nsteps++;

	fld(field, "%s.timeout", sfield);
	if ((r = get_duration(j, "timeout", field, (int64_t)APP_STEP_TIMEOUT_MAX_S * 1000, err, &st->timeout_ms)) < 0)
		return r;
	fld(field, "%s.if", sfield);
	if ((r = get_str(j, "if", field, TMPL_EXPR_MAX, false, err, &cond)) < 0)
		return r;
	if (cond && *cond) {
		/* KubeVela's keyword: run whatever happened before. */
		if (!strcmp(cond, "always"))
			cond = "true";
		if ((r = tmpl_check_expr(cond, err)) < 0) {
			errbuf_prefix(err, "%s: Invalid value", field);
			return r;
		}
		st->if_expr = xstrdup(cond);
	}
	fld(field, "%s.dependsOn", sfield);
	if ((r = get_list(j, "dependsOn", field, APP_DEPENDS_MAX, err, &deps)) < 0)
		return r;
	st->depends_on = strv_new(json_array_size(deps));
	json_array_foreach(deps, k, d) {
		fld(field, "%s.dependsOn[%zu]", sfield, k);
		if (!json_is_string(d))
			return errbuf_set(err, -EINVAL, "%s: Invalid value: %s: must be a step name", field, type_name(d));
		if (step_index(s, s->nsteps - 1, json_string_value(d)) < 0)
			return errbuf_set(err, -EINVAL,
					  "%s: Not found: \"%.64s\": must name an earlier step (steps run in order)",
					  field, json_string_value(d));
		st->depends_on[st->ndepends++] = xstrdup(json_string_value(d));
	}

	fld(field, "%s.properties", sfield);
	if ((r = get_obj(j, "properties", field, err, &props)) < 0)
		return r;
	if (!props)
		props = empty = json_object();
	switch (st->kind) {
	case APP_STEP_DEPLOY:
		r = parse_deploy(props, field, s, st, err);
		break;
	case APP_STEP_SUSPEND:
		r = parse_suspend(props, field, st, err);
		break;
	case APP_STEP_APPLY_COMPONENT:
		r = parse_apply_component(props, field, s, st, err);
		break;
	case APP_STEP_NOTIFICATION:
		r = parse_notification(props, field, s, st, err);
		break;
	}
	json_decref(empty);
	return r;
}

/* A deploy step's overrides need a topology in the same step: KubeVela
 * silently deploys nothing there. */
static int check_deploy_topology(const struct app_spec *s, struct errbuf *err)
{
	for (size_t i = 0; i < s->nsteps; i++) {
		const struct app_step *st = &s->steps[i];
		const char *override = NULL, *rollout = NULL;
		bool topology = false;

		if (st->kind != APP_STEP_DEPLOY)
			continue;
		for (size_t k = 0; k < st->npolicies; k++) {
			const struct app_policy *p = &s->policies[st->policies[k]];

			if (p->kind == APP_POLICY_TOPOLOGY)
				topology = true;
			else if (p->kind == APP_POLICY_OVERRIDE && !override)
				override = p->name;
			else if (p->kind == APP_POLICY_ROLLOUT && rollout)
				/* one wave per step (hub/app_rollout.c) */
				return errbuf_set(err, -EINVAL,
						  "spec.workflow.steps[%zu].properties.policies: Invalid value: nave-rollout "
						  "policies \"%s\" and \"%s\" in one step: a deploy step rolls out in one "
						  "wave, with one strategy", i, rollout, p->name);
			else if (p->kind == APP_POLICY_ROLLOUT)
				rollout = p->name;
		}
		if (override && !topology)
			return errbuf_set(err, -EINVAL,
					  "spec.workflow.steps[%zu].properties.policies: Invalid value: override policy "
					  "\"%s\" is used without a topology policy in this step, so it would deploy "
					  "nothing (KubeVela silently skips it): add a topology policy to the step, "
					  "e.g. one with clusters: [\"local\"]", i, override);
	}
	return 0;
}

/* No workflow: one deploy step per topology with every override (and
 * rollout) policy; no topology: one deploy step to APP_LOCAL_CLUSTER. */
static int default_workflow(struct app_spec *s, struct errbuf *err)
{
	size_t ntopo = 0, nextra = 0, i, k;

	for (i = 0; i < s->npolicies; i++) {
		if (s->policies[i].kind == APP_POLICY_TOPOLOGY)
			ntopo++;
		else
			nextra++;
	}
	for (i = 0; i < s->npolicies && !ntopo; i++)
		if (s->policies[i].kind == APP_POLICY_OVERRIDE)
			return errbuf_set(err, -EINVAL,
					  "spec.policies[%zu]: Invalid value: override policy \"%s\" has no topology "
					  "policy to apply to and there is no workflow, so it would deploy nothing "
					  "(KubeVela silently skips it): add a topology policy (e.g. clusters: "
					  "[\"local\"])", i, s->policies[i].name);
	s->default_workflow = true;
	s->steps = xcalloc(ntopo ? ntopo : 1, sizeof(*s->steps));
	for (i = 0; i < s->npolicies || (!ntopo && i == 0); i++) {
		struct app_step *st;

		if (ntopo && s->policies[i].kind != APP_POLICY_TOPOLOGY)
			continue;
		st = &s->steps[s->nsteps++];
		st->kind = APP_STEP_DEPLOY;
		st->type = xstrdup("deploy");
		st->auto_ = true;
		st->parallelism = 5;
		st->depends_on = strv_new(0);
		st->policies = xcalloc(nextra + 1, sizeof(*st->policies));
		if (ntopo) {
			st->name = xasprintf("deploy-%s", s->policies[i].name);
			st->policies[st->npolicies++] = i;
		} else {
			st->name = xstrdup("deploy");
		}
		for (k = 0; k < s->npolicies; k++)
			if (s->policies[k].kind != APP_POLICY_TOPOLOGY)
				st->policies[st->npolicies++] = k;
		if (!ntopo)
			break;
	}
	return 0;
}

static int parse_workflow(const json_t *spec, struct app_spec *s, struct errbuf *err)
{
	static const char *const keys[] = {"steps", "mode", NULL};
	static const char *const mkeys[] = {"steps", "subSteps", NULL};
	const json_t *wf, *steps, *mode, *st;
	const char *m;
	size_t i;
	int r;

	if ((r = get_obj(spec, "workflow", "spec.workflow", err, &wf)) < 0)
		return r;
	if (wf) {
		if (present(json_object_get(wf, "ref")))
			return errbuf_set(err, -EINVAL, "spec.workflow.ref: Unsupported: Workflow objects referenced by "
					  "name are not supported by Nave: write the steps in spec.workflow.steps; %s",
					  SPEC_COMPAT);
		if ((r = check_keys(wf, "spec.workflow", "a workflow", keys, err)) < 0)
			return r;
		if ((r = get_obj(wf, "mode", "spec.workflow.mode", err, &mode)) < 0)
			return r;
		if (mode && (r = check_keys(mode, "spec.workflow.mode", "a workflow mode", mkeys, err)) < 0)
			return r;
		if ((r = get_str(mode, "steps", "spec.workflow.mode.steps", SPEC_STR_MAX, false, err, &m)) < 0)
			return r;
		if (m && strcmp(m, "StepByStep"))
			return errbuf_set(err, -EINVAL,
					  "spec.workflow.mode.steps: Unsupported value: \"%.64s\": Nave runs steps in "
					  "order (StepByStep); %s", m, SPEC_COMPAT);
		if ((r = get_str(mode, "subSteps", "spec.workflow.mode.subSteps", SPEC_STR_MAX, false, err, &m)) < 0)
			return r;
		if (m && strcmp(m, "StepByStep") && strcmp(m, "DAG"))
			return errbuf_set(err, -EINVAL, "spec.workflow.mode.subSteps: Unsupported value: \"%.64s\": "
					  "supported values: \"StepByStep\", \"DAG\"", m);
		if ((r = get_list(wf, "steps", "spec.workflow.steps", APP_STEPS_MAX, err, &steps)) < 0)
			return r;
		if (steps && json_array_size(steps)) {
			s->steps = xcalloc(json_array_size(steps), sizeof(*s->steps));
			json_array_foreach(steps, i, st) {
				if ((r = parse_step(st, i, s, err)) < 0)
					return r;
			}
			return check_deploy_topology(s, err);
		}
	}
	return default_workflow(s, err);
}

/* ------------------------------------------------------------------------ */

/* See app.h. */
int app_spec_parse(const json_t *app, struct errbuf *err, struct app_spec **ret_spec)
{
	static const char *const keys[] = {"components", "policies", "workflow", NULL};
	struct app_spec *s = xnew(struct app_spec);
	const json_t *spec;
	int r;

	if (!json_is_object(app)) {
		r = errbuf_set(err, -EINVAL, "Invalid value: an Application must be an object");
		goto out;
	}
	if ((r = parse_metadata(app, s, err)) < 0)
		goto out;
	if ((r = get_obj(app, "spec", "spec", err, &spec)) < 0)
		goto out;
	if (!spec) {
		r = errbuf_set(err, -EINVAL, "spec: Required value: an Application needs spec.components");
		goto out;
	}
	if ((r = refuse_feature(spec, "rolloutPlan", "spec", "rolloutPlan is", err)) < 0)
		goto out;
	if ((r = check_keys(spec, "spec", "an Application's spec", keys, err)) < 0)
		goto out;
	if ((r = parse_components(spec, s, err)) < 0)
		goto out;
	if ((r = parse_policies(spec, s, err)) < 0)
		goto out;
	if ((r = parse_workflow(spec, s, err)) < 0)
		goto out;
	*ret_spec = s;
	s = NULL;
	r = 0;
out:
	app_spec_free(s);
	return r;
}
