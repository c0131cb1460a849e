/* tmpl.h - Nave's expressions and JSON templates: how definitions say
 * "render this object from these parameters" without CUE.
 *
 * Pure functions over jansson values; no I/O, no loop, no global state.
 * Used by the hub's definitions (hub/appdef.c: component outputs, trait
 * patches, health rules, status messages) and by workflow steps (`if`).
 * docs/definitions.md is the user's manual of this language; keep it true.
 *
 * EXPRESSIONS (tmpl_eval)
 *   literals   'text' or "text" (escapes \\ \' \" \n \t \r \/), 42, -1.5, true,
 *              false, null, [a, b, ...], {'key': value, ...}
 *   paths      a root name from the scope, then .field, ["field"] or [index]:
 *              parameter.ports[0].port, context.name, inputs["comp-output"].
 *              A path that does not exist is UNDEFINED (not null); indexing
 *              into undefined stays undefined (no error).
 *   operators  by precedence, lowest first:
 *                c ? a : b      ternary
 *                a ?? b         a unless a is undefined or null, else b
 *                a || b, a && b boolean, short-circuit, result true/false
 *                a == b, a != b deep JSON equality (1 == 1.0; undefined == null is false)
 *                < <= > >=      numbers, or strings (bytewise)
 *                + -            numbers; + also joins two strings or two lists
 *                * / %          numbers (integer when both are; / by 0 is an error)
 *                !a, -a         unary
 *   functions  has(x)            x is defined and not null
 *              len(x)            string bytes, list items, object keys; 0 for undefined/null
 *              str(x)            strings as they are, numbers/bools as JSON, objects/lists as compact JSON
 *              int(x)            integer from a number or a decimal string (error otherwise)
 *              lower(s), upper(s), trim(s)
 *              join(list, sep)   list items as str() joined
 *              split(s, sep)
 *              replace(s, old, new)
 *              hasPrefix(s, p), hasSuffix(s, p)
 *              contains(x, v)    list holds v / object has key v / string has substring v
 *              keys(obj)         the keys, in the object's order
 *              values(obj)
 *              select(list, 'f') the items (objects) whose field f is truthy
 *              slice(list, start[, end])  end exclusive; negative counts from the end; clamped
 *              merge(a, b)       shallow object merge, b wins; undefined/null act as {}
 *              default(x, y)     same as x ?? y
 *              hash(x)           the first 10 lowercase hex digits of the SHA-256 of
 *                                x's canonical JSON (keys sorted, compact); error on undefined
 *   Truthiness: undefined, null, false, 0, "", [] and {} are false.
 *   Identifiers are [A-Za-z_][A-Za-z0-9_-]* ("-" so context.app-name reads as
 *   a name; write a - b with spaces to subtract).
 *
 * TEMPLATES (tmpl_render): any JSON value, copied with these rules:
 *   - a string that is exactly "${expr}" becomes the value of expr (any
 *     type); when it is undefined the key holding it (or the list item) is
 *     left out;
 *   - other strings interpolate every ${expr} as str(value); undefined there
 *     is an error naming the expression; "$${" writes a literal "${";
 *   - object keys interpolate the same way ("${parameter.name}": ...);
 *   - an object with "$if": "expr" is kept only when expr is truthy (the key
 *     "$if" itself is dropped); a falsy $if leaves the object out like an
 *     undefined value;
 *   - an object {"$each": "expr", "$as": "name", "$do": template} (optional
 *     "$if", evaluated per item with the binding in scope, filters items)
 *     iterates a list (binding = the item) or an object (binding =
 *     {"key": k, "value": v}); "$as" defaults to "item"; each rendered $do
 *     that is not left out becomes one value. Inside a list the values are
 *     spliced in place; anywhere else the result is a list. $each over
 *     undefined or null yields nothing;
 *   - an object {"$value": "expr"} is the value of expr (like "${expr}"),
 *     useful as a list item or with "$if";
 *   - any other key starting with '$' is an error, except the strategic
 *     merge directives Kubernetes defines ($patch, $retainKeys,
 *     $setElementOrder/..., $deleteFromPrimitiveList/...), copied as they are.
 *   Null values are kept (a merge patch with null deletes the key).
 *
 * LIMITS (-E2BIG, message names the template path): an expression at most
 * TMPL_EXPR_MAX bytes and TMPL_DEPTH_MAX levels of nesting; templates at most
 * TMPL_DEPTH_MAX levels deep; one render creates at most TMPL_NODES_MAX JSON
 * values and evaluates at most TMPL_STEPS_MAX expression nodes; strings it
 * builds are at most TMPL_STRING_MAX bytes; a value from the scope that is
 * copied into the output, turned into a string (str(), interpolation, join)
 * or compared (==, !=, contains()) is at most TMPL_VALUE_DEPTH_MAX levels
 * deep (paths into a deeper value are fine).
 *
 * ERRORS: -EINVAL with a message naming the template path and the
 * expression: "spec.template.spec.containers[0].image: ${parameter.imag}:
 * undefined" or "metadata.name: ${context.name +}: syntax error at column 15:
 * expected an operand".
 */
#ifndef NAVE_TMPL_H
#define NAVE_TMPL_H

#include <stdbool.h>

#include <jansson.h>

#include "errbuf.h"

#define TMPL_EXPR_MAX 4096
#define TMPL_DEPTH_MAX 64
#define TMPL_NODES_MAX 200000
#define TMPL_STEPS_MAX 1000000
#define TMPL_STRING_MAX (1024 * 1024)
#define TMPL_VALUE_DEPTH_MAX 256

/* Evaluate expr (bare, or as "${expr}") against scope (an object: root name
 * -> value; borrowed). Returns 0 with *ret_value a new reference, or NULL
 * when the result is undefined; -EINVAL (syntax, type or
 * undefined-in-operator error) or -E2BIG with a message in err. */
int tmpl_eval(const char *expr, const json_t *scope, struct errbuf *err, json_t **ret_value);

/* Whether a value is truthy (NULL = undefined is false). */
bool tmpl_truthy(const json_t *v);

/* Render template against scope. path names the template in messages ("output",
 * "outputs.service"; may be NULL). Returns 0 with *ret_value a new reference,
 * or NULL when the whole template is left out (undefined or a falsy $if);
 * -EINVAL/-E2BIG with a message. Inputs are borrowed and untouched. */
int tmpl_render(const json_t *tmpl, const json_t *scope, const char *path, struct errbuf *err,
		json_t **ret_value);

/* Check a template's syntax without evaluating: every ${...} and every $if,
 * $each, $value expression parses, directive objects are well-formed, limits
 * hold. For definition admission. Returns 0 or -EINVAL/-E2BIG naming the path. */
int tmpl_check(const json_t *tmpl, const char *path, struct errbuf *err);

/* Check one expression's syntax (bare, or as "${expr}") without evaluating.
 * Returns 0, or -EINVAL/-E2BIG with the message tmpl_eval would give. */
int tmpl_check_expr(const char *expr, struct errbuf *err);

/* Render a string that may hold ${expr} parts as a string (a message
 * template); scope as for tmpl_eval. Undefined parts are an error. Returns 0
 * with *ret_str (caller frees with free()), or -EINVAL/-E2BIG with a message. */
int tmpl_render_string(const char *s, const json_t *scope, struct errbuf *err, char **ret_str);

#endif
