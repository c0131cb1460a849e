/* patch_int.h - internals shared by the patch module's files.
 *
 * The patch module is patch_merge.c (RFC 7386), patch_json.c (RFC 6902),
 * patch_strategic.c (strategic merge patch), patch_schema.c (the per-kind
 * table of list merge keys and strategies both strategic merge and
 * server-side apply read), patch_util.c (JSON helpers: depth, equality, Go's
 * JSON and %q/%v formatting), ssa_fieldset.c (FieldsV1 field sets) and ssa.c
 * (server-side apply and managedFields). Nothing here is for other modules:
 * they use patch.h.
 */
#ifndef NAVE_PATCH_INT_H
#define NAVE_PATCH_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "buf.h"
#include "errbuf.h"
#include "patch.h"

/* Limits (documented in patch.h). Copy is the one JSON patch operation that
 * can grow a document faster than the patch grows, hence its own budget. */
#define PATCH_MAX_DEPTH PATCH_LIMIT_DEPTH
#define PATCH_MAX_OBJECT_DEPTH PATCH_LIMIT_OBJECT_DEPTH
#define PATCH_MAX_OPS PATCH_LIMIT_OPS
#define PATCH_MAX_COPY_NODES PATCH_LIMIT_COPY_NODES

/* ---- patch_util.c ---- */

/* Nesting depth of v: 0 for a scalar, 1 for an empty object or array, ...
 * Stops looking past cap, returning cap + 1. */
int patch_depth(const json_t *v, int cap);
/* Fail with -E2BIG and "<what>: nested deeper than <cap> levels" when v is too deep. */
int patch_check_depth(const json_t *v, int cap, const char *what, struct errbuf *err);
/* The depth checks every patch operation makes on its inputs: patch (named
 * what in the message) within PATCH_MAX_DEPTH, then obj (may be NULL: no
 * check) within PATCH_MAX_OBJECT_DEPTH. Returns 0 or -E2BIG with err set. */
int patch_check_inputs(const json_t *obj, const json_t *patch, const char *what,
		       struct errbuf *err);
/* Number of JSON values in v (itself included), counting at most cap + 1. */
size_t patch_count_nodes(const json_t *v, size_t cap);
/* JSON equality as RFC 6902 "test" and Kubernetes' Go code see it: numbers
 * compare by value (1 == 1.0), objects ignore member order. NULL equals only NULL. */
bool patch_json_equal(const json_t *a, const json_t *b);
/* Whether v is a JSON number (integer or real). */
bool patch_is_number(const json_t *v);
/* Encode v as Go's encoding/json would marshal the same unstructured value:
 * compact, object keys sorted, <, >, & and U+2028/9 escaped, floats in Go's
 * shortest form. Returns 0 or -E2BIG when b's cap is reached. */
int patch_go_json(struct buf *b, const json_t *v);
/* Append the JSON string of s (n bytes) as encoding/json writes it. */
int patch_go_json_str(struct buf *b, const char *s, size_t n);
/* The same into a new string the caller frees with free(); NULL past max bytes. */
char *patch_go_json_string(const json_t *v, size_t max);
/* Append s quoted as Go's %q (strconv.Quote) does. */
int patch_go_quote(struct buf *b, const char *s);
/* Append a number as Go's %v prints a float64 (1e+06, 0.5, 80). */
int patch_go_float_v(struct buf *b, double d);

/* ---- patch_schema.c ---- */

/* How a value at some place in an object merges. */
enum patch_schema_type {
	PATCH_SCHEMA_ANY = 0,   /* not described: objects are structs of ANY, lists atomic */
	PATCH_SCHEMA_STRUCT,    /* object with named fields (fields[]; others are ANY) */
	PATCH_SCHEMA_MAP,       /* object whose keys are data (labels): values are elem */
	PATCH_SCHEMA_LIST,      /* list; see flags, merge_key and keys */
	PATCH_SCHEMA_ATOMIC,    /* replaced as a whole by apply (an atomic struct or list) */
	PATCH_SCHEMA_DEDUCED,   /* no schema at all (custom resources): objects are maps of
				 * DEDUCED, lists atomic, as structured-merge-diff deduces */
};

/* flags */
#define PATCH_SCHEMA_MERGE 0x1        /* strategic merge: patchStrategy "merge" (lists) */
#define PATCH_SCHEMA_RETAIN_KEYS 0x2  /* strategic merge: patchStrategy has "retainKeys" */
#define PATCH_SCHEMA_SMP_ATOMIC 0x4   /* ATOMIC for apply, but strategic merge merges it as a struct */

struct patch_schema;

struct patch_schema_field {
	const char *name;                    /* JSON field name; NULL ends the array */
	const struct patch_schema *schema;   /* static */
};

struct patch_schema {
	enum patch_schema_type type;
	unsigned flags;
	/* LIST: strategic merge patchMergeKey (NULL: a list of scalars when MERGE is set) */
	const char *merge_key;
	/* LIST: server-side apply listMapKeys, NULL-terminated; NULL: a set of
	 * scalars when MERGE is set without merge_key, else atomic */
	const char *const *keys;
	/* LIST: per key a default string used when an element omits it, or NULL */
	const char *const *key_defaults;
	const struct patch_schema *elem;            /* LIST, MAP: elements (NULL: ANY) */
	const struct patch_schema_field *fields;    /* STRUCT */
};

/* How server-side apply walks a value of schema s. */
enum patch_walk {
	PATCH_WALK_LEAF,        /* scalar or atomic: owned and replaced whole */
	PATCH_WALK_STRUCT,      /* object with named fields */
	PATCH_WALK_MAP,         /* object whose keys are not named fields */
	PATCH_WALK_LIST_MAP,    /* associative list keyed by s->keys ("k:") */
	PATCH_WALK_LIST_SET,    /* set of scalars ("v:") */
};

/* The schema of the top of an object of this apiVersion/kind, or NULL when
 * the kind is not a built-in one (custom resources). Static. */
const struct patch_schema *patch_schema_for(const char *api_version, const char *kind);
/* Schema of field name inside an object of schema s; sets *ret_named to
 * whether the key is a named (struct) field. Never NULL. */
const struct patch_schema *patch_schema_field(const struct patch_schema *s, const char *name,
					      bool *ret_named);
/* Schema of the elements of a list of schema s. Never NULL. */
const struct patch_schema *patch_schema_elem(const struct patch_schema *s);
/* How apply treats value v (may be NULL: absent) of schema s. */
enum patch_walk patch_schema_walk(const struct patch_schema *s, const json_t *v);
/* Whether strategic merge merges a list of schema s (else it replaces it). */
bool patch_schema_smp_merge_list(const struct patch_schema *s);

extern const struct patch_schema patch_schema_any;
extern const struct patch_schema patch_schema_deduced;

/* ---- ssa_fieldset.c ----
 *
 * A field set is a JSON object tree: each key is a serialized path element
 * ("f:name", "k:{\"name\":\"a\"}", "v:\"x\"", "i:3") naming a child; a node
 * is a member of the set when it has the key "." (whose value is {}). This is
 * FieldsV1 with "." made explicit on leaves; ssa_fs_encode and ssa_fs_decode
 * convert. Nodes are owned by the tree; functions returning nodes return
 * borrowed pointers into it. */

/* A new empty set; caller json_decref()s. */
json_t *ssa_fs_new(void);
/* The child node for path element pe, created when create is set (else NULL if absent). */
json_t *ssa_fs_child(json_t *node, const char *pe, bool create);
/* Make node a member. */
void ssa_fs_mark(json_t *node);
/* Whether node is a member / has children. */
bool ssa_fs_is_member(const json_t *node);
bool ssa_fs_has_children(const json_t *node);
/* Whether the set holds no member at all. */
bool ssa_fs_empty(const json_t *set);
/* dst := dst ∪ src */
void ssa_fs_union(json_t *dst, const json_t *src);
/* dst := dst \ src (members of src are no longer members of dst) */
void ssa_fs_subtract(json_t *dst, const json_t *src);
/* A new set a ∩ b; caller json_decref()s. */
json_t *ssa_fs_intersect(const json_t *a, const json_t *b);
/* Remove nodes with neither membership nor members below. */
void ssa_fs_prune(json_t *set);
/* FieldsV1 of the set (members without children as {}, "." first, path
 * elements in structured-merge-diff's order). New reference. */
json_t *ssa_fs_encode(const json_t *set);
/* Parse FieldsV1 into a set (key and value elements canonicalized). Returns
 * 0, or -EINVAL naming the offending key. *ret_set is a new reference. */
int ssa_fs_decode(const json_t *fields_v1, struct errbuf *err, json_t **ret_set);
/* Path element of a field name; of an associative list item (NULL with a
 * message when it has none of the keys); of a set item. Caller frees. */
char *ssa_fs_pe_field(const char *name);
char *ssa_fs_pe_key(const json_t *item, const char *const *keys, const char *const *key_defaults,
		    struct errbuf *err);
char *ssa_fs_pe_value(const json_t *item);
/* Order of two path elements as structured-merge-diff sorts them. */
int ssa_fs_pe_compare(const char *a, const char *b);
/* Append the printed form of a path element (".spec", "[name=\"a\"]", "[=\"x\"]"). */
void ssa_fs_pe_print(struct buf *b, const char *pe);
/* Call fn for each member path in structured-merge-diff's iteration order
 * (members of a node before its children's members). pes has depth entries. */
typedef void (*ssa_fs_path_fn)(const char *const *pes, size_t depth, void *ctx);
void ssa_fs_iterate(const json_t *set, ssa_fs_path_fn fn, void *ctx);

#endif
