/* tmpl_int.h - what tmpl.c (the template walker) and tmpl_expr.c (the
 * expression lexer, parser and evaluator) share. Not for other modules: their
 * contract is tmpl.h.
 *
 * A struct tmpl_ctx carries the budget of one public call (tmpl_eval,
 * tmpl_render, tmpl_render_string): every evaluated expression node and
 * every unit of per-item work inside functions and operators (comparing,
 * copying, joining, concatenating) is a step; every JSON value created,
 * including copies placed in the output, is a node. Exceeding either cap is
 * -E2BIG, so an adversarial definition costs at most a bounded amount of CPU
 * and memory whatever its parameters.
 *
 * Values are never modified once created: paths return references into the
 * scope, and results placed into a rendered template are deep copies, so the
 * caller may modify the output without touching the scope.
 */
#ifndef NAVE_TMPL_INT_H
#define NAVE_TMPL_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "buf.h"
#include "errbuf.h"
#include "tmpl.h"

struct tmpl_ctx {
	size_t steps; /* expression nodes evaluated and per-item work so far */
	size_t nodes; /* JSON values created so far */
};

/* A name bound by $each ($as), searched before the scope. */
struct tmpl_binding {
	const char *name;                 /* borrowed */
	const json_t *value;              /* borrowed */
	const struct tmpl_binding *next;  /* borrowed; outer bindings */
};

struct tmpl_expr; /* a parsed expression; immutable */

/* Charge n steps / n nodes to ctx. Returns 0, or -E2BIG with a message past the cap. */
int tmpl_ctx_steps(struct tmpl_ctx *ctx, size_t n, struct errbuf *err);
int tmpl_ctx_nodes(struct tmpl_ctx *ctx, size_t n, struct errbuf *err);

/* Parse len bytes of src (need not be NUL-terminated) as one expression.
 * Parsing charges one step per syntax node. Errors: -EINVAL "syntax error at
 * column N: ..." (column 1-based within src), -E2BIG for the length and
 * depth caps. *ret_expr: free with tmpl_expr_free. */
int tmpl_expr_parse(const char *src, size_t len, struct tmpl_ctx *ctx, struct errbuf *err,
		    struct tmpl_expr **ret_expr);
/* Free a parsed expression. Accepts NULL; returns NULL. */
struct tmpl_expr *tmpl_expr_free(struct tmpl_expr *e);
/* The source text of e (borrowed, NUL-terminated, valid while e lives). */
const char *tmpl_expr_source(const struct tmpl_expr *e);

/* Evaluate e. *ret_value: a new reference, or NULL for undefined. The value
 * may share structure with the scope: never modify it (copy with
 * tmpl_value_copy). Errors: -EINVAL (types, undefined operands) or -E2BIG,
 * with a message that does not repeat the expression. */
int tmpl_expr_eval(const struct tmpl_expr *e, const json_t *scope, const struct tmpl_binding *bind,
		   struct tmpl_ctx *ctx, struct errbuf *err, json_t **ret_value);

/* Why e (which evaluated to undefined) is undefined, for messages:
 * "parameter has no field \"imag\" (fields: image, port)". Writes "" when it
 * has nothing to add. out: at least 1 byte. */
void tmpl_expr_explain(const struct tmpl_expr *e, const json_t *scope, const struct tmpl_binding *bind,
		       char *out, size_t size);

/* Append str(v) to out (strings as they are, the rest as compact JSON).
 * v must not be NULL. Returns 0 or -E2BIG (string or depth cap) with a message. */
int tmpl_value_str(const json_t *v, struct tmpl_ctx *ctx, struct buf *out, struct errbuf *err);

/* A deep copy of v, charged as nodes. *ret_copy: new reference. Returns 0 or -E2BIG. */
int tmpl_value_copy(const json_t *v, struct tmpl_ctx *ctx, struct errbuf *err, json_t **ret_copy);

/* "string", "number", "list", ... for messages; "undefined" for NULL. Static string. */
const char *tmpl_type_name(const json_t *v);

/* Whether s (NUL-terminated) is an identifier: [A-Za-z_][A-Za-z0-9_-]*. */
bool tmpl_ident_valid(const char *s);

/* Replace every byte of s that is not part of valid UTF-8 with '?', so a
 * message cut anywhere can still go into JSON. */
void tmpl_utf8_sanitize(char *s);

/* Write the text to show for an expression in a message: at most about 80
 * bytes of src (elided in the middle past that), NUL-terminated. */
void tmpl_expr_display(const char *src, size_t len, char *out, size_t size);

#endif
