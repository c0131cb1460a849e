/* proto_int.h - internals shared by the files of proto/ (not for other modules).
 *
 * Validation walks a JSON payload with a struct pctx that carries the limits,
 * the caller's errbuf and the path of the field being looked at
 * ("data.resourceStatus.manifests[2].conditions[0]"), so every error message
 * names its field without each validator formatting paths by hand. The p_*
 * getters read one member of an object, check presence, JSON type and caps,
 * and fail with the path in the message; the per-type payload validators of
 * spec.c, status.c, resync.c, cluster.c and control.c are built from them and
 * listed in the kind table of event.c.
 */
#ifndef NAVE_PROTO_INT_H
#define NAVE_PROTO_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "errbuf.h"
#include "proto_limits.h"

#define PCTX_PATH_MAX 384

struct pctx {
	const struct proto_limits *lim; /* borrowed; never NULL */
	struct errbuf *err;             /* borrowed; may be NULL */
	char path[PCTX_PATH_MAX];       /* NUL-terminated; "" at the top */
	size_t plen;
};

void pctx_init(struct pctx *c, const struct proto_limits *lim, struct errbuf *err);
/* Append a path component: ".name" (or "name" at the top) for a key, "[i]"
 * for an index. Returns the previous length, for pctx_pop(). A path that would
 * not fit ends in "..." (messages stay readable, never overflow). */
size_t pctx_key(struct pctx *c, const char *key);
size_t pctx_index(struct pctx *c, size_t i);
void pctx_pop(struct pctx *c, size_t mark);
/* Fail at the current path plus field (field may be NULL: the path itself):
 * sets "<path>.<field>: <message>" and returns code. */
int pctx_fail(struct pctx *c, int code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The JSON type name for messages ("string", "array", ...). */
const char *p_json_type_name(const json_t *v);

/* obj[key], treating JSON null as absent. Borrowed or NULL. */
json_t *p_get(const json_t *obj, const char *key);

/* String member: required or optional (then *ret is NULL when absent);
 * 1..maxlen bytes (0 allowed when allow_empty); no NUL bytes. Borrowed. */
int p_string(struct pctx *c, const json_t *obj, const char *key, bool required, bool allow_empty,
	     size_t maxlen, const char **ret);
/* Integer member in [min, max]; *ret_present says whether it was there. */
int p_int(struct pctx *c, const json_t *obj, const char *key, bool required, int64_t min, int64_t max,
	  bool *ret_present, int64_t *ret);
/* Boolean member. */
int p_bool(struct pctx *c, const json_t *obj, const char *key, bool required, bool *ret_present,
	   bool *ret);
/* Object member (borrowed, NULL when absent and optional). */
int p_object(struct pctx *c, const json_t *obj, const char *key, bool required, json_t **ret);
/* Array member of at most max entries (borrowed, NULL when absent and optional). */
int p_array(struct pctx *c, const json_t *obj, const char *key, bool required, size_t max,
	    json_t **ret);
/* String member that must be one of values (a NULL-terminated list). */
int p_enum(struct pctx *c, const json_t *obj, const char *key, bool required,
	   const char *const *values, const char **ret);
/* An RFC 3339 time string member between 1970 and 9999 (microseconds). */
int p_time(struct pctx *c, const json_t *obj, const char *key, bool required, bool *ret_present,
	   int64_t *ret_us);
/* A list of metav1.Condition at obj[key] (optional), at most max_conditions. */
int p_conditions(struct pctx *c, const json_t *obj, const char *key);

/* Checks one JSON value (an array entry, a payload) at the current path. */
typedef int (*p_check_fn)(struct pctx *c, const json_t *v);

/* Run check over every entry of the array list (already type- and
 * size-checked, borrowed), with the path set to key[i]; an entry that is not
 * an object fails ("must be an object") before check sees it. Stops at the
 * first failure and returns it; 0 when all pass. */
int p_each(struct pctx *c, const char *key, const json_t *list, p_check_fn check);
/* The optional array obj[key] of at most max entries, each an object passed
 * to check (p_array, then p_each). 0 when absent. */
int p_list(struct pctx *c, const json_t *obj, const char *key, size_t max, p_check_fn check);
/* Enter obj[key] for a nested check: it must be an object if present (and be
 * present when required); check sees it with the path extended by key. 0 when
 * absent and optional. */
int p_nested(struct pctx *c, const json_t *obj, const char *key, bool required, p_check_fn check);

/* Validate a whole payload from outside: a fresh context with paths starting
 * at "data", p_check_tree, then check. Returns 0 or check's negative code with
 * err set. */
int p_check_payload(const json_t *data, const struct proto_limits *lim, struct errbuf *err,
		    p_check_fn check);

/* Check a whole JSON value: nesting within max_json_depth, no NUL byte in any
 * string or key (the parser refuses them, so encode must too). */
int p_check_tree(struct pctx *c, const json_t *v);

/* Format checks shared by the envelope and the payloads. */
bool p_is_uuid(const char *s);
bool p_is_hex64(const char *s);
/* Printable ASCII without spaces (0x21..0x7e): ids and sources. */
bool p_is_token(const char *s);
/* A time the protocol accepts: 1970-01-01 .. 9999-12-30. */
bool p_time_in_range(int64_t us);
/* Parse a decimal uint64 without sign or leading zeros ("0" itself is
 * allowed). Returns false on anything else. */
bool p_parse_u64(const char *s, uint64_t *ret);

/* Payload validators, one per payload shape; data is never NULL. */
int proto_check_bundle(struct pctx *c, const json_t *data);        /* spec.c */
int proto_check_status(struct pctx *c, const json_t *data);        /* status.c */
int proto_check_resync_versions(struct pctx *c, const json_t *data); /* resync.c */
int proto_check_resync_hashes(struct pctx *c, const json_t *data); /* resync.c */
int proto_check_lease(struct pctx *c, const json_t *data);         /* cluster.c */
int proto_check_cert_request(struct pctx *c, const json_t *data);  /* cluster.c */
int proto_check_cert_response(struct pctx *c, const json_t *data); /* cluster.c */
int proto_check_hello(struct pctx *c, const json_t *data);         /* control.c */
int proto_check_error(struct pctx *c, const json_t *data);         /* control.c */

/* Limits to use: lim or the defaults. */
static inline const struct proto_limits *proto_lim(const struct proto_limits *lim)
{
	return lim ? lim : &proto_limits_default;
}

#endif
