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
 *
 * The exact rules, taken from the go-yaml v2 fork kubectl 1.32 vendors
 * (sigs.k8s.io/yaml/goyaml.v2, resolve.go) and checked against kubectl 1.32
 * (tests/data/yaml/kubectl-oracle.py records its answers as test fixtures):
 *
 *  - Plain scalars, whole-word and case-sensitive:
 *      true:  y Y yes Yes YES true True TRUE on On ON
 *      false: n N no No NO false False FALSE off Off OFF
 *      null:  (empty) ~ null Null NULL
 *    Mixed spellings ("yEs", "nULL", "tRue") are strings.
 *  - Integers, after every '_' is removed: [+-] decimal; 0x/0X hex, 0o/0O and
 *    leading-0 octal, 0b/0B binary (Go's ParseInt with base 0). "08" is not
 *    octal; go-yaml reads it as the float 8 (so 8 here, see below). Beyond int64: up to 2^64-1 (unsigned)
 *    and decimal digit strings of any size become JSON reals, as the API
 *    server holds them (float64); hex/octal/binary beyond 64 bits stay strings.
 *  - Floats: [+-](digits[.digits]|.digits)([eE][+-]digits), .inf/.Inf/.INF
 *    (also with + or -), .nan/.NaN/.NAN. Overflowing ones ("1e400") stay
 *    strings, as in go-yaml. Infinities and NaN cannot be JSON: a value that
 *    resolves to one is -EINVAL with its line and column.
 *  - Integral floats within int64 become JSON integers (3.0 and 1e3 are 3 and
 *    1000), because sigs.k8s.io/yaml converts through Go's encoding/json,
 *    which writes them so and the API server reads them back as integers.
 *  - Timestamps (2001-12-14, ...) stay strings, as go-yaml keeps them when
 *    decoding into interface{}. Base-60 numbers (1:20) are strings.
 *  - Explicit tags: !!str keeps the text; !!int, !!float, !!bool, !!null and
 *    !!timestamp require the text to resolve to that type (!!float also takes
 *    an integer), else -EINVAL ("cannot decode !!str `x` as a !!int"), and
 *    apply to quoted scalars too (!!int "12" is 12); !!binary is base64
 *    (padding required, line breaks ignored) decoded to a string, invalid
 *    UTF-8 bytes replaced by U+FFFD as Go's encoding/json does; any other or
 *    local tag (!foo, !) gives the text as a string; tags on mappings and
 *    sequences are ignored.
 *  - Mapping keys go through the same resolution and are then written as
 *    Kubernetes does: booleans "true"/"false", integers in decimal ("0x10"
 *    becomes "16"), floats in Go's shortest float32 %g form ("1e+06", ".inf");
 *    null keys, keys beyond int64, and mapping or sequence keys are -EINVAL.
 *    So "on: x" has the key "true", as in Kubernetes.
 *  - Duplicate keys (after that conversion, so "y" and "true" collide) are
 *    -EINVAL naming the key, its line and column and the path to the mapping,
 *    as Kubernetes' strict decoding refuses them.
 *  - Merge keys: a plain (or !!merge tagged) "<<" key takes a mapping, an
 *    alias to one, or a sequence of those. As in go-yaml v2, merged keys are
 *    written in document order over keys already present, explicit keys after
 *    the merge override it, and in a sequence the earlier maps win. A quoted
 *    "<<" is an ordinary key.
 *  - Anchors are per document; an alias is a deep copy (the result never
 *    shares nodes), an alias inside its own anchor is -EINVAL, and a
 *    redefined anchor name refers to the latest node.
 *  - Tabs are allowed inside block scalars, quoted scalars and as separators,
 *    never as indentation (libyaml's error, with the line and column and a
 *    hint, is returned).
 *
 * Errors name the line and column (1-based) and, for errors found while
 * building, the path in the document ("spec.template.metadata.labels").
 *
 * Writing (yaml_emit): block style as kubectl -o yaml, keys in the object's
 * order, two-space indentation with sequences not indented under their key,
 * no line folding. A string is written plain unless it would resolve to
 * anything else (numbers, booleans, null words, "", "<<", base-60 look-alikes
 * are double-quoted, "80" stays "80") or plain is impossible for its
 * characters (leading or trailing space, ": ", " #", indicators at the start:
 * libyaml single-quotes or double-quotes those). A string with line breaks is
 * a literal block '|' when every break is LF and libyaml allows the style,
 * else double-quoted. Reals are written in the shortest form that reads back
 * as the same double.
 *
 * Round trip: yaml_parse_one(yaml_emit(v)) equals v for every JSON value v,
 * with numbers compared by value: a real with an integral value (3.0) comes
 * back as the integer 3 (see above); everything else, including key order,
 * comes back identical.
 */
#ifndef NAVE_YAML_H
#define NAVE_YAML_H

#include <stddef.h>

#include <jansson.h>

#include "errbuf.h"

/* A field left 0 takes its default. Past a limit, parsing stops with -E2BIG. */
struct yaml_limits {
	size_t max_input;     /* bytes of input; default 8 MiB. Scalar text after
			       * alias expansion is capped at 4 times this. */
	size_t max_depth;     /* nesting of mappings/sequences; default 100; never more
			       * than 2000, whatever is asked (copies and frees recurse) */
	size_t max_nodes;     /* total nodes after alias expansion; default 1,000,000
			       * (scalars, mappings, sequences in one stream; an
			       * alias counts as the nodes it repeats) */
	size_t max_documents; /* documents in one stream, empty ones included;
			       * default 10,000 */
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
 * -EINVAL). Empty and null documents are skipped as above, except that a
 * stream whose only documents are empty or null ("null", "---") gives JSON
 * null; a stream without any document ("", only comments) is -EINVAL.
 * *ret_doc is a new reference the caller json_decref()s. */
int yaml_parse_one(const char *text, size_t len, const struct yaml_limits *limits,
		   struct errbuf *err, json_t **ret_doc);

/* Write v as block-style YAML, as kubectl -o yaml does (keys in the object's
 * order, strings quoted only where a plain scalar would read back as another
 * type or is not valid plain). Returns a NUL-terminated string the caller frees
 * with free(); never NULL. v NULL is written as null. Aborts only on OOM. */
char *yaml_emit(const json_t *v);

#endif
