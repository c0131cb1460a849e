/* yaml.h - YAML to JSON (libyaml into jansson) and JSON to YAML, the way
 * Kubernetes reads and writes YAML.
 *
 * Kubernetes conventions kept: quoted scalars stay strings ("80" is a string,
 * 80 an integer); plain scalars resolve as sigs.k8s.io/yaml (go-yaml v2, YAML
 * 1.1) does: null/~/empty, true/false/yes/no/on/off (any case variant go-yaml
 * accepts), integers (decimal, 0x, 0o/leading 0 octal, with _), floats, .inf,
 * .nan; anchors and aliases are expanded with a cap (alias bombs refused);
 * multi-document streams split on '---'; empty documents skipped; mapping keys
 * must be scalars and duplicate keys are an error.
 */
#ifndef NAVE_YAML_H
#define NAVE_YAML_H

#include <stddef.h>

#include <jansson.h>

#include "errbuf.h"

struct yaml_limits {
	size_t max_input;     /* bytes of input; default 8 MiB */
	size_t max_depth;     /* nesting of mappings/sequences; default 100 */
	size_t max_nodes;     /* total nodes after alias expansion; default 1,000,000 */
	size_t max_documents; /* documents in one stream; default 10,000 */
};

/* Defaults used when a function is given NULL limits. */
extern const struct yaml_limits yaml_default_limits;

/* Parse a YAML (or JSON, which is YAML) stream of len bytes into a JSON array
 * with one element per non-empty document. On error returns -EINVAL (syntax,
 * type) or -E2BIG (a limit), with a message giving line and column in err.
 * On success *ret_docs is a new reference the caller json_decref()s.
 * text need not be NUL-terminated. limits may be NULL. */
int yaml_parse_stream(const char *text, size_t len, const struct yaml_limits *limits,
		      struct errbuf *err, json_t **ret_docs);

/* Parse exactly one document (an empty stream or several documents is
 * -EINVAL). *ret_doc is a new reference. */
int yaml_parse_one(const char *text, size_t len, const struct yaml_limits *limits,
		   struct errbuf *err, json_t **ret_doc);

/* Write v as block-style YAML, as kubectl -o yaml does (keys in the object's
 * order, strings quoted only where a plain scalar would read back as another
 * type or is not valid plain). Returns a NUL-terminated string the caller frees
 * with free(); never NULL. */
char *yaml_emit(const json_t *v);

#endif
