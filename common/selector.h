/* selector.h - Kubernetes label selectors and field selectors.
 *
 * Label selectors in both forms: the string form of ?labelSelector= and
 * kubectl -l ("app=web,tier!=db,env in (a,b),x notin (c),k,!k", also "==")
 * and the object form of Deployments and Placements
 * ({"matchLabels":{...},"matchExpressions":[{"key","operator":In|NotIn|Exists|DoesNotExist,"values":[...]}]}).
 * An empty selector matches everything. Keys and values are validated as
 * Kubernetes does (qualified names, 63-char values), with the field named in err.
 *
 * Field selectors: "metadata.name=x,metadata.namespace!=y" (=, ==, !=) over
 * any dotted path of the object whose value is a string, number or bool.
 *
 * Limits: a selector string is at most 4096 bytes with at most 100
 * requirements (or terms), each with at most 100 values; past them parsing
 * fails with -E2BIG and a message.
 */
#ifndef NAVE_SELECTOR_H
#define NAVE_SELECTOR_H

#include <stdbool.h>

#include <jansson.h>

#include "errbuf.h"

struct label_selector;
struct field_selector;

/* Parse the string form; NULL or "" gives the match-all selector. *ret_sel is
 * freed with label_selector_free(). -EINVAL with a message on bad syntax. */
int label_selector_parse(const char *s, struct errbuf *err, struct label_selector **ret_sel);
/* Parse the object form (matchLabels/matchExpressions); NULL or {} matches all. */
int label_selector_from_json(const json_t *obj, struct errbuf *err, struct label_selector **ret_sel);
/* Whether labels (a JSON object of string values, or NULL for none) match. */
bool label_selector_matches(const struct label_selector *sel, const json_t *labels);
/* Whether the selector has no requirements. */
bool label_selector_empty(const struct label_selector *sel);
/* Destroy; accepts NULL; returns NULL. */
struct label_selector *label_selector_free(struct label_selector *sel);
/* The canonical string form ("a=b,c in (x,y),!d"), which label_selector_parse
 * reads back to an equivalent selector; "" for match-all. Caller frees with free(). */
char *label_selector_format(const struct label_selector *sel);

/* Validate a label key as a qualified name ("example.com/name", name <= 63
 * characters, prefix a DNS-1123 subdomain <= 253). -EINVAL; the message names the key. */
int label_key_validate(const char *key, struct errbuf *err);
/* Validate a label value (empty, or <= 63 of [-_.A-Za-z0-9] with alphanumeric
 * ends). -EINVAL; the message names the key and value. */
int label_value_validate(const char *key, const char *value, struct errbuf *err);
/* Validate a whole metadata.labels object (NULL or null is fine): string
 * values, valid keys and values. The caller prefixes the field ("metadata.labels"). */
int labels_validate(const json_t *labels, struct errbuf *err);

int field_selector_parse(const char *s, struct errbuf *err, struct field_selector **ret_sel);
/* Whether obj (a whole Kubernetes object) matches. */
bool field_selector_matches(const struct field_selector *sel, const json_t *obj);
/* If the selector requires path == value (e.g. "metadata.name"), return the
 * value (borrowed, valid while sel lives), else NULL: lets a store look up by key. */
const char *field_selector_exact(const struct field_selector *sel, const char *path);
struct field_selector *field_selector_free(struct field_selector *sel);

#endif
