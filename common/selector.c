/* selector.c - Kubernetes label and field selectors; see selector.h.
 *
 * The string form of label selectors follows the grammar and lexer of
 * k8s.io/apimachinery's labels.Parse (facts re-derived, no code taken):
 * identifiers are runs of bytes that are neither whitespace (space, tab, CR,
 * LF) nor one of = ! ( ) , < >; "in" and "notin" are keywords only where an
 * operator is expected; "k=" means k equals the empty value and "k in ()"
 * means k in {""}; "!k" and a bare "k" test absence and presence. Gt/Lt
 * ("k>5", "k<5", integer values) are accepted in the string form as
 * labels.Parse does. Keys are qualified names (optional DNS-1123 subdomain
 * prefix and '/', then a name of at most 63 characters) and values are empty
 * or at most 63 characters of [-_.A-Za-z0-9] with alphanumeric ends.
 *
 * Field selectors follow apimachinery's fields.ParseSelector: terms split on
 * unescaped ','; each is split at the first "!=", "==" or "="; the value is
 * unescaped (\\, \, and \= only; a bare ',' or '=' in a value is an error).
 * A missing field reads as "", as fields.Set does, so "spec.nodeName=" selects
 * unscheduled pods.
 *
 * Limits (documented in selector.h's callers' terms): a selector string is at
 * most SELECTOR_MAX_LEN bytes, holds at most SELECTOR_MAX_REQS requirements,
 * each with at most SELECTOR_MAX_VALUES values. Selectors are immutable once
 * built and may be shared between threads for matching.
 */
#include "selector.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "kobj.h"

#define SELECTOR_MAX_LEN 4096
#define SELECTOR_MAX_REQS 100
#define SELECTOR_MAX_VALUES 100
#define LABEL_NAME_MAX 63
#define LABEL_PREFIX_MAX 253
#define LABEL_VALUE_MAX 63

enum label_op {
	LABEL_OP_EQ,       /* "=" */
	LABEL_OP_DEQ,      /* "==" (same meaning, kept to print it back) */
	LABEL_OP_NEQ,      /* "!=" */
	LABEL_OP_IN,
	LABEL_OP_NOTIN,
	LABEL_OP_EXISTS,
	LABEL_OP_NOT_EXISTS,
	LABEL_OP_GT,
	LABEL_OP_LT,
};

struct label_req {
	char *key;      /* owned */
	enum label_op op;
	char **values;  /* owned array of owned strings, sorted, no duplicates */
	size_t nvalues;
};

struct label_selector {
	struct label_req *reqs; /* owned array */
	size_t nreqs;
};

struct field_term {
	char *path;  /* owned; dotted path, e.g. "metadata.name" */
	char *value; /* owned; unescaped */
	bool neq;
};

struct field_selector {
	struct field_term *terms; /* owned array */
	size_t nterms;
};

/* ---- validation of keys and values ---- */

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] over n bytes (n >= 1). */
static bool name_chars_ok(const char *s, size_t n)
{
	if (!is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

/* Why key is not a qualified name, or NULL when it is. */
static const char *qualified_name_error(const char *key, size_t n)
{
	const char *slash = memchr(key, '/', n);
	const char *name = key;
	size_t nlen = n;

	if (slash) {
		size_t plen = (size_t)(slash - key);
		char prefix[LABEL_PREFIX_MAX + 1];

		name = slash + 1;
		nlen = n - plen - 1;
		if (memchr(name, '/', nlen))
			return "a qualified name must consist of alphanumeric characters, '-', '_' or '.', "
			       "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
		if (plen == 0)
			return "prefix part must be non-empty";
		if (plen > LABEL_PREFIX_MAX)
			return "prefix part must be no more than 253 characters";
		memcpy(prefix, key, plen);
		prefix[plen] = '\0';
		if (!kobj_valid_subdomain(prefix))
			return "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
			       "characters, '-' or '.', and must start and end with an alphanumeric character";
	}
	if (nlen == 0)
		return "name part must be non-empty";
	if (nlen > LABEL_NAME_MAX)
		return "name part must be no more than 63 characters";
	if (!name_chars_ok(name, nlen))
		return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
		       "and end with an alphanumeric character";
	return NULL;
}

static const char *label_value_error(const char *v)
{
	size_t n = strlen(v);

	if (n == 0)
		return NULL;
	if (n > LABEL_VALUE_MAX)
		return "must be no more than 63 characters";
	if (!name_chars_ok(v, n))
		return "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
		       "or '.', and must start and end with an alphanumeric character";
	return NULL;
}

int label_key_validate(const char *key, struct errbuf *err)
{
	const char *why;

	if (!key)
		return errbuf_set(err, -EINVAL, "key: required");
	why = qualified_name_error(key, strlen(key));
	if (why)
		return errbuf_set(err, -EINVAL, "key \"%.80s\": %s", key, why);
	return 0;
}

int label_value_validate(const char *key, const char *value, struct errbuf *err)
{
	const char *why;

	if (!value)
		return errbuf_set(err, -EINVAL, "key \"%.80s\": value required", key ? key : "");
	why = label_value_error(value);
	if (why)
		return errbuf_set(err, -EINVAL, "key \"%.80s\": value \"%.80s\": %s", key ? key : "", value, why);
	return 0;
}

int labels_validate(const json_t *labels, struct errbuf *err)
{
	const char *key;
	json_t *v;
	int r;

	if (!labels || json_is_null(labels))
		return 0;
	if (!json_is_object(labels))
		return errbuf_set(err, -EINVAL, "must be an object");
	json_object_foreach((json_t *)labels, key, v) {
		r = label_key_validate(key, err);
		if (r < 0)
			return r;
		if (!json_is_string(v))
			return errbuf_set(err, -EINVAL, "key \"%.80s\": value must be a string", key);
		r = label_value_validate(key, json_string_value(v), err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- label requirements ---- */

static void req_clear(struct label_req *req)
{
	free(req->key);
	for (size_t i = 0; i < req->nvalues; i++)
		free(req->values[i]);
	free(req->values);
	memset(req, 0, sizeof(*req));
}

struct label_selector *label_selector_free(struct label_selector *sel)
{
	if (!sel)
		return NULL;
	for (size_t i = 0; i < sel->nreqs; i++)
		req_clear(&sel->reqs[i]);
	free(sel->reqs);
	free(sel);
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add value to req unless present; the cap is checked by the caller. */
static void req_add_value(struct label_req *req, const char *v, size_t n)
{
	for (size_t i = 0; i < req->nvalues; i++)
		if (strlen(req->values[i]) == n && memcmp(req->values[i], v, n) == 0)
			return;
	req->values = xrealloc(req->values, (req->nvalues + 1) * sizeof(*req->values));
	req->values[req->nvalues++] = xstrndup(v, n);
}

static const char *op_name(enum label_op op)
{
	switch (op) {
	case LABEL_OP_EQ:
		return "=";
	case LABEL_OP_DEQ:
		return "==";
	case LABEL_OP_NEQ:
		return "!=";
	case LABEL_OP_IN:
		return "in";
	case LABEL_OP_NOTIN:
		return "notin";
	case LABEL_OP_EXISTS:
		return "exists";
	case LABEL_OP_NOT_EXISTS:
		return "!";
	case LABEL_OP_GT:
		return ">";
	case LABEL_OP_LT:
		return "<";
	}
	return "?";
}

/* Strict base-10 int64, as strconv.ParseInt(s, 10, 64). */
static bool parse_int64(const char *s, int64_t *ret)
{
	char *end;
	long long v;

	if (!*s || (*s != '-' && *s != '+' && (*s < '0' || *s > '9')))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*ret = v;
	return true;
}

/* The checks of NewRequirement once the requirement is assembled; the key was
 * validated when read. field names where the values sit ("values" or
 * "matchExpressions[3].values"). */
static int req_validate(struct label_req *req, const char *field, struct errbuf *err)
{
	int64_t dummy;

	switch (req->op) {
	case LABEL_OP_IN:
	case LABEL_OP_NOTIN:
		if (req->nvalues == 0)
			return errbuf_set(err, -EINVAL, "%s: key \"%.80s\": must be specified when `operator` is 'In' or 'NotIn'",
					  field, req->key);
		break;
	case LABEL_OP_EQ:
	case LABEL_OP_DEQ:
	case LABEL_OP_NEQ:
		if (req->nvalues != 1)
			return errbuf_set(err, -EINVAL, "%s: key \"%.80s\": exact-match compatibility requires one single value",
					  field, req->key);
		break;
	case LABEL_OP_EXISTS:
	case LABEL_OP_NOT_EXISTS:
		if (req->nvalues != 0)
			return errbuf_set(err, -EINVAL,
					  "%s: key \"%.80s\": may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
					  field, req->key);
		break;
	case LABEL_OP_GT:
	case LABEL_OP_LT:
		if (req->nvalues != 1)
			return errbuf_set(err, -EINVAL, "%s: key \"%.80s\": for 'Gt', 'Lt' operators, exactly one value is required",
					  field, req->key);
		if (!parse_int64(req->values[0], &dummy))
			return errbuf_set(err, -EINVAL,
					  "%s: key \"%.80s\": for 'Gt', 'Lt' operators, the value must be an integer", field,
					  req->key);
		break;
	}
	for (size_t i = 0; i < req->nvalues; i++) {
		const char *why = label_value_error(req->values[i]);

		if (why)
			return errbuf_set(err, -EINVAL, "%s: key \"%.80s\": value \"%.80s\": %s", field, req->key,
					  req->values[i], why);
	}
	if (req->nvalues > 1)
		qsort(req->values, req->nvalues, sizeof(*req->values), cmp_str);
	return 0;
}

/* ---- string form: lexer ---- */

enum tok {
	TOK_END,
	TOK_IDENT,
	TOK_NOT,    /* "!" (does-not-exist) */
	TOK_EQ,     /* "=" */
	TOK_DEQ,    /* "==" */
	TOK_NEQ,    /* "!=" */
	TOK_IN,     /* keyword "in" */
	TOK_NOTIN,  /* keyword "notin" */
	TOK_LPAREN,
	TOK_RPAREN,
	TOK_COMMA,
	TOK_GT,
	TOK_LT,
};

struct lexer {
	const char *s;
	size_t pos;
};

struct token {
	enum tok tok;
	size_t pos; /* byte offset of the token in the selector */
	const char *text;
	size_t len;
};

static bool lex_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool lex_special(char c)
{
	return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

/* Scan the next token from *pos. values: where a value is expected, "in" and
 * "notin" are plain identifiers. */
static struct token lex_at(const char *s, size_t *pos, bool values)
{
	struct token t = { TOK_END, 0, "", 0 };
	size_t p = *pos;

	while (lex_space(s[p]))
		p++;
	t.pos = p;
	t.text = s + p;
	if (s[p] == '\0') {
		*pos = p;
		return t;
	}
	if (lex_special(s[p])) {
		t.len = 1;
		switch (s[p]) {
		case '=':
			t.tok = TOK_EQ;
			if (s[p + 1] == '=') {
				t.tok = TOK_DEQ;
				t.len = 2;
			}
			break;
		case '!':
			t.tok = TOK_NOT;
			if (s[p + 1] == '=') {
				t.tok = TOK_NEQ;
				t.len = 2;
			}
			break;
		case '(':
			t.tok = TOK_LPAREN;
			break;
		case ')':
			t.tok = TOK_RPAREN;
			break;
		case ',':
			t.tok = TOK_COMMA;
			break;
		case '>':
			t.tok = TOK_GT;
			break;
		default:
			t.tok = TOK_LT;
			break;
		}
		*pos = p + t.len;
		return t;
	}
	while (s[p] && !lex_space(s[p]) && !lex_special(s[p]))
		p++;
	t.len = p - t.pos;
	t.tok = TOK_IDENT;
	if (!values && t.len == 2 && memcmp(t.text, "in", 2) == 0)
		t.tok = TOK_IN;
	else if (!values && t.len == 5 && memcmp(t.text, "notin", 5) == 0)
		t.tok = TOK_NOTIN;
	*pos = p;
	return t;
}

static struct token lex_next(struct lexer *lx, bool values)
{
	return lex_at(lx->s, &lx->pos, values);
}

static struct token lex_peek(const struct lexer *lx, bool values)
{
	size_t p = lx->pos;

	return lex_at(lx->s, &p, values);
}

/* Report "found X, expected: what" at the token. */
static int lex_error(struct errbuf *err, struct token t, const char *what)
{
	if (t.tok == TOK_END)
		return errbuf_set(err, -EINVAL, "label selector: at position %zu: found end of string, expected: %s",
				  t.pos, what);
	return errbuf_set(err, -EINVAL, "label selector: at position %zu: found '%.*s', expected: %s", t.pos,
			  (int)(t.len > 80 ? 80 : t.len), t.text, what);
}

/* ---- string form: parser ---- */

static int parse_values_list(struct lexer *lx, struct label_req *req, struct errbuf *err)
{
	struct token t = lex_next(lx, true), la;
	size_t raw = 0;

	if (t.tok != TOK_LPAREN)
		return lex_error(err, t, "'('");
	la = lex_peek(lx, true);
	if (la.tok == TOK_RPAREN) {
		lex_next(lx, true);
		req_add_value(req, "", 0); /* "()" is the set {""} */
		return 0;
	}
	if (la.tok != TOK_IDENT && la.tok != TOK_COMMA)
		return lex_error(err, la, "',', ')' or identifier");
	/* As labels.Parse: empty entries ("(,a)", "(a,)", "(a,,b)") are "". */
	for (;;) {
		t = lex_next(lx, true);
		if (t.tok == TOK_IDENT) {
			if (++raw > SELECTOR_MAX_VALUES)
				return errbuf_set(err, -E2BIG, "label selector: key \"%.80s\": more than %d values",
						  req->key, SELECTOR_MAX_VALUES);
			req_add_value(req, t.text, t.len);
			la = lex_peek(lx, true);
			if (la.tok == TOK_COMMA)
				continue;
			if (la.tok == TOK_RPAREN)
				break;
			return lex_error(err, la, "',' or ')'");
		}
		if (t.tok != TOK_COMMA)
			return lex_error(err, t, "',', or identifier");
		if (req->nvalues == 0)
			req_add_value(req, "", 0);
		la = lex_peek(lx, true);
		if (la.tok == TOK_RPAREN) {
			req_add_value(req, "", 0);
			break;
		}
		if (la.tok == TOK_COMMA) {
			lex_next(lx, true);
			req_add_value(req, "", 0);
		}
	}
	t = lex_next(lx, true);
	if (t.tok != TOK_RPAREN)
		return lex_error(err, t, "')'");
	return 0;
}

static int parse_requirement(struct lexer *lx, struct label_req *req, struct errbuf *err)
{
	struct token t = lex_next(lx, true), la;
	bool not = false;
	const char *why;

	if (t.tok == TOK_NOT) {
		not = true;
		t = lex_next(lx, true);
	}
	if (t.tok != TOK_IDENT)
		return lex_error(err, t, "identifier");
	req->key = xstrndup(t.text, t.len);
	why = qualified_name_error(t.text, t.len);
	if (why)
		return errbuf_set(err, -EINVAL, "label selector: key \"%.80s\": %s", req->key, why);
	la = lex_peek(lx, true);
	if (not) {
		/* "!k" stands alone; whatever follows is the caller's to reject. */
		req->op = LABEL_OP_NOT_EXISTS;
		return 0;
	}
	if (la.tok == TOK_END || la.tok == TOK_COMMA) {
		req->op = LABEL_OP_EXISTS;
		return 0;
	}
	t = lex_next(lx, false);
	switch (t.tok) {
	case TOK_IN:
		req->op = LABEL_OP_IN;
		return parse_values_list(lx, req, err);
	case TOK_NOTIN:
		req->op = LABEL_OP_NOTIN;
		return parse_values_list(lx, req, err);
	case TOK_EQ:
		req->op = LABEL_OP_EQ;
		break;
	case TOK_DEQ:
		req->op = LABEL_OP_DEQ;
		break;
	case TOK_NEQ:
		req->op = LABEL_OP_NEQ;
		break;
	case TOK_GT:
		req->op = LABEL_OP_GT;
		break;
	case TOK_LT:
		req->op = LABEL_OP_LT;
		break;
	default:
		return lex_error(err, t, "=, ==, !=, in, notin, >, <");
	}
	/* One exact value; nothing before ',' or the end means "". */
	la = lex_peek(lx, true);
	if (la.tok == TOK_END || la.tok == TOK_COMMA) {
		req_add_value(req, "", 0);
		return 0;
	}
	t = lex_next(lx, true);
	if (t.tok != TOK_IDENT)
		return lex_error(err, t, "identifier");
	req_add_value(req, t.text, t.len);
	return 0;
}

int label_selector_parse(const char *s, struct errbuf *err, struct label_selector **ret_sel)
{
	struct label_selector *sel = xnew(struct label_selector);
	struct lexer lx = { s ? s : "", 0 };
	int r = 0;

	if (s && strnlen(s, SELECTOR_MAX_LEN + 1) > SELECTOR_MAX_LEN) {
		r = errbuf_set(err, -E2BIG, "label selector: longer than %d characters", SELECTOR_MAX_LEN);
		goto out;
	}
	for (;;) {
		struct token t = lex_peek(&lx, true);
		struct label_req *req;

		if (t.tok == TOK_END)
			break;
		if (t.tok != TOK_IDENT && t.tok != TOK_NOT) {
			r = lex_error(err, t, "!, identifier, or end of string");
			goto out;
		}
		if (sel->nreqs >= SELECTOR_MAX_REQS) {
			r = errbuf_set(err, -E2BIG, "label selector: more than %d requirements", SELECTOR_MAX_REQS);
			goto out;
		}
		sel->reqs = xrealloc(sel->reqs, (sel->nreqs + 1) * sizeof(*sel->reqs));
		req = &sel->reqs[sel->nreqs++];
		memset(req, 0, sizeof(*req));
		r = parse_requirement(&lx, req, err);
		if (r < 0)
			goto out;
		r = req_validate(req, "label selector", err);
		if (r < 0)
			goto out;
		t = lex_next(&lx, true);
		if (t.tok == TOK_END)
			break;
		if (t.tok != TOK_COMMA) {
			r = lex_error(err, t, "',' or end of string");
			goto out;
		}
		t = lex_peek(&lx, true);
		if (t.tok != TOK_IDENT && t.tok != TOK_NOT) {
			r = lex_error(err, t, "identifier after ','");
			goto out;
		}
	}
	*ret_sel = sel;
	sel = NULL;
out:
	label_selector_free(sel);
	return r;
}

/* ---- object form ---- */

static const char *const expr_ops[] = { "In", "NotIn", "Exists", "DoesNotExist" };
static const enum label_op expr_op_codes[] = { LABEL_OP_IN, LABEL_OP_NOTIN, LABEL_OP_EXISTS, LABEL_OP_NOT_EXISTS };

static struct label_req *sel_add(struct label_selector *sel)
{
	struct label_req *req;

	sel->reqs = xrealloc(sel->reqs, (sel->nreqs + 1) * sizeof(*sel->reqs));
	req = &sel->reqs[sel->nreqs++];
	memset(req, 0, sizeof(*req));
	return req;
}

static int parse_expression(struct label_selector *sel, size_t i, json_t *e, struct errbuf *err)
{
	json_t *key = json_object_get(e, "key"), *op = json_object_get(e, "operator");
	json_t *values = json_object_get(e, "values"), *v;
	struct label_req *req;
	char field[64];
	const char *why;
	size_t j, k;

	if (!json_is_object(e))
		return errbuf_set(err, -EINVAL, "matchExpressions[%zu]: must be an object", i);
	if (!json_is_string(key))
		return errbuf_set(err, -EINVAL, "matchExpressions[%zu].key: %s", i, key ? "must be a string" : "required");
	why = qualified_name_error(json_string_value(key), strlen(json_string_value(key)));
	if (why)
		return errbuf_set(err, -EINVAL, "matchExpressions[%zu].key: invalid value \"%.80s\": %s", i,
				  json_string_value(key), why);
	if (!json_is_string(op))
		return errbuf_set(err, -EINVAL, "matchExpressions[%zu].operator: %s", i, op ? "must be a string" : "required");
	for (k = 0; k < sizeof(expr_ops) / sizeof(expr_ops[0]); k++)
		if (strcmp(json_string_value(op), expr_ops[k]) == 0)
			break;
	if (k == sizeof(expr_ops) / sizeof(expr_ops[0]))
		return errbuf_set(err, -EINVAL,
				  "matchExpressions[%zu].operator: unsupported value \"%.40s\": supported values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\"",
				  i, json_string_value(op));
	if (values && !json_is_null(values) && !json_is_array(values))
		return errbuf_set(err, -EINVAL, "matchExpressions[%zu].values: must be an array of strings", i);
	if (json_array_size(values) > SELECTOR_MAX_VALUES)
		return errbuf_set(err, -E2BIG, "matchExpressions[%zu].values: more than %d values", i, SELECTOR_MAX_VALUES);
	req = sel_add(sel);
	req->key = xstrdup(json_string_value(key));
	req->op = expr_op_codes[k];
	json_array_foreach(values, j, v) {
		if (!json_is_string(v))
			return errbuf_set(err, -EINVAL, "matchExpressions[%zu].values[%zu]: must be a string", i, j);
		req_add_value(req, json_string_value(v), strlen(json_string_value(v)));
	}
	snprintf(field, sizeof(field), "matchExpressions[%zu].values", i);
	return req_validate(req, field, err);
}

int label_selector_from_json(const json_t *obj, struct errbuf *err, struct label_selector **ret_sel)
{
	struct label_selector *sel = xnew(struct label_selector);
	json_t *ml, *me, *v;
	const char *key;
	size_t i;
	int r = 0;

	if (!obj || json_is_null(obj))
		goto done;
	if (!json_is_object(obj)) {
		r = errbuf_set(err, -EINVAL, "selector: must be an object");
		goto out;
	}
	ml = json_object_get(obj, "matchLabels");
	me = json_object_get(obj, "matchExpressions");
	if (ml && !json_is_null(ml) && !json_is_object(ml)) {
		r = errbuf_set(err, -EINVAL, "matchLabels: must be an object");
		goto out;
	}
	if (me && !json_is_null(me) && !json_is_array(me)) {
		r = errbuf_set(err, -EINVAL, "matchExpressions: must be an array");
		goto out;
	}
	if (json_object_size(ml) + json_array_size(me) > SELECTOR_MAX_REQS) {
		r = errbuf_set(err, -E2BIG, "selector: more than %d requirements", SELECTOR_MAX_REQS);
		goto out;
	}
	json_object_foreach(ml, key, v) {
		struct label_req *req;
		const char *why = qualified_name_error(key, strlen(key));

		if (why) {
			r = errbuf_set(err, -EINVAL, "matchLabels: invalid key \"%.80s\": %s", key, why);
			goto out;
		}
		if (!json_is_string(v)) {
			r = errbuf_set(err, -EINVAL, "matchLabels.%.80s: must be a string", key);
			goto out;
		}
		req = sel_add(sel);
		req->key = xstrdup(key);
		req->op = LABEL_OP_EQ;
		req_add_value(req, json_string_value(v), strlen(json_string_value(v)));
		r = req_validate(req, "matchLabels", err);
		if (r < 0)
			goto out;
	}
	json_array_foreach(me, i, v) {
		r = parse_expression(sel, i, v, err);
		if (r < 0)
			goto out;
	}
done:
	*ret_sel = sel;
	sel = NULL;
out:
	label_selector_free(sel);
	return r;
}

/* ---- matching and printing ---- */

static bool req_has_value(const struct label_req *req, const char *v)
{
	return bsearch(&v, req->values, req->nvalues, sizeof(*req->values), cmp_str) != NULL;
}

static bool req_matches(const struct label_req *req, const json_t *labels)
{
	json_t *jv = json_object_get(labels, req->key);
	const char *v = json_is_string(jv) ? json_string_value(jv) : NULL;
	int64_t have, want;

	/* A label that is not a string is treated as absent. */
	switch (req->op) {
	case LABEL_OP_EQ:
	case LABEL_OP_DEQ:
	case LABEL_OP_IN:
		return v && req_has_value(req, v);
	case LABEL_OP_NEQ:
	case LABEL_OP_NOTIN:
		return !v || !req_has_value(req, v);
	case LABEL_OP_EXISTS:
		return v != NULL;
	case LABEL_OP_NOT_EXISTS:
		return v == NULL;
	case LABEL_OP_GT:
	case LABEL_OP_LT:
		if (!v || !parse_int64(v, &have) || !parse_int64(req->values[0], &want))
			return false;
		return req->op == LABEL_OP_GT ? have > want : have < want;
	}
	return false;
}

bool label_selector_matches(const struct label_selector *sel, const json_t *labels)
{
	if (!sel)
		return true;
	if (labels && !json_is_object(labels))
		labels = NULL;
	for (size_t i = 0; i < sel->nreqs; i++)
		if (!req_matches(&sel->reqs[i], labels))
			return false;
	return true;
}

bool label_selector_empty(const struct label_selector *sel)
{
	return !sel || sel->nreqs == 0;
}

char *label_selector_format(const struct label_selector *sel)
{
	struct buf b;
	char *out;

	/* Bounded by the parse limits: 100 requirements of 100 values of 63
	 * bytes plus a key; the cap only guards against misuse. */
	buf_init(&b, 4u << 20);
	for (size_t i = 0; sel && i < sel->nreqs; i++) {
		const struct label_req *req = &sel->reqs[i];

		if (i)
			buf_puts(&b, ",");
		switch (req->op) {
		case LABEL_OP_EXISTS:
			buf_puts(&b, req->key);
			break;
		case LABEL_OP_NOT_EXISTS:
			buf_printf(&b, "!%s", req->key);
			break;
		case LABEL_OP_IN:
		case LABEL_OP_NOTIN:
			buf_printf(&b, "%s %s (", req->key, op_name(req->op));
			for (size_t j = 0; j < req->nvalues; j++)
				buf_printf(&b, "%s%s", j ? "," : "", req->values[j]);
			buf_puts(&b, ")");
			break;
		default:
			buf_printf(&b, "%s%s%s", req->key, op_name(req->op), req->values[0]);
			break;
		}
	}
	out = xstrdup(b.data ? b.data : "");
	buf_free(&b);
	return out;
}

/* ---- field selectors ---- */

struct field_selector *field_selector_free(struct field_selector *sel)
{
	if (!sel)
		return NULL;
	for (size_t i = 0; i < sel->nterms; i++) {
		free(sel->terms[i].path);
		free(sel->terms[i].value);
	}
	free(sel->terms);
	free(sel);
	return NULL;
}

static bool field_path_ok(const char *p, size_t n)
{
	bool seg_empty = true;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '.') {
			if (seg_empty)
				return false;
			seg_empty = true;
		} else if (is_alnum(p[i]) || p[i] == '_' || p[i] == '-') {
			seg_empty = false;
		} else {
			return false;
		}
	}
	return !seg_empty;
}

/* Unescape value [v, v+n) into a new string; -EINVAL names the problem. */
static int field_unescape(const char *path, const char *v, size_t n, struct errbuf *err, char **ret)
{
	char *out = xmalloc(n + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		if (v[i] == '\\') {
			if (i + 1 >= n || (v[i + 1] != '\\' && v[i + 1] != ',' && v[i + 1] != '=')) {
				free(out);
				if (i + 1 >= n)
					return errbuf_set(err, -EINVAL, "field selector: %.80s: value ends in a lone '\\'", path);
				return errbuf_set(err, -EINVAL, "field selector: %.80s: invalid escape sequence '\\%c' in value",
						  path, v[i + 1]);
			}
			*o++ = v[++i];
		} else if (v[i] == ',' || v[i] == '=') {
			free(out);
			return errbuf_set(err, -EINVAL, "field selector: %.80s: unescaped '%c' in value (write '\\%c')",
					  path, v[i], v[i]);
		} else {
			*o++ = v[i];
		}
	}
	*o = '\0';
	*ret = out;
	return 0;
}

/* Parse one term [t, t+n) (non-empty) into sel. */
static int field_term_parse(struct field_selector *sel, const char *t, size_t n, struct errbuf *err)
{
	struct field_term *term;
	size_t i, oplen = 0;
	bool neq = false;
	char *path, *value = NULL;
	int r;

	for (i = 0; i < n; i++) {
		if (t[i] == '!' && i + 1 < n && t[i + 1] == '=') {
			neq = true;
			oplen = 2;
		} else if (t[i] == '=') {
			oplen = i + 1 < n && t[i + 1] == '=' ? 2 : 1;
		}
		if (oplen)
			break;
	}
	if (!oplen)
		return errbuf_set(err, -EINVAL,
				  "field selector: can't understand \"%.*s\": expected field=value, field==value or field!=value",
				  (int)(n > 80 ? 80 : n), t);
	path = xstrndup(t, i);
	if (!field_path_ok(t, i)) {
		r = errbuf_set(err, -EINVAL,
			       "field selector: field \"%.80s\": must be a dotted path of names of [A-Za-z0-9_-] (e.g. metadata.name)",
			       path);
		free(path);
		return r;
	}
	r = field_unescape(path, t + i + oplen, n - i - oplen, err, &value);
	if (r < 0) {
		free(path);
		return r;
	}
	sel->terms = xrealloc(sel->terms, (sel->nterms + 1) * sizeof(*sel->terms));
	term = &sel->terms[sel->nterms++];
	term->path = path;
	term->value = value;
	term->neq = neq;
	return 0;
}

int field_selector_parse(const char *s, struct errbuf *err, struct field_selector **ret_sel)
{
	struct field_selector *sel = xnew(struct field_selector);
	size_t start = 0, i;
	bool esc = false;
	int r = 0;

	if (!s)
		s = "";
	if (strnlen(s, SELECTOR_MAX_LEN + 1) > SELECTOR_MAX_LEN) {
		r = errbuf_set(err, -E2BIG, "field selector: longer than %d characters", SELECTOR_MAX_LEN);
		goto out;
	}
	for (i = 0;; i++) {
		if (esc) {
			esc = false;
			if (s[i] != '\0')
				continue;
		}
		if (s[i] == '\\') {
			esc = true;
			continue;
		}
		if (s[i] != ',' && s[i] != '\0')
			continue;
		if (i > start) {
			if (sel->nterms >= SELECTOR_MAX_REQS) {
				r = errbuf_set(err, -E2BIG, "field selector: more than %d terms", SELECTOR_MAX_REQS);
				goto out;
			}
			r = field_term_parse(sel, s + start, i - start, err);
			if (r < 0)
				goto out;
		}
		if (s[i] == '\0')
			break;
		start = i + 1;
	}
	*ret_sel = sel;
	sel = NULL;
out:
	field_selector_free(sel);
	return r;
}

/* The field's value as a string, as fields.Set holds it: absent or null is
 * "". Returns false for objects and arrays, which equal nothing. */
static bool field_value(const json_t *obj, const char *path, char *tmp, size_t tmpsz, const char **ret)
{
	json_t *v = kobj_get_path(obj, path);

	if (!v) {
		*ret = "";
		return true;
	}
	switch (json_typeof(v)) {
	case JSON_STRING:
		*ret = json_string_value(v);
		return true;
	case JSON_INTEGER:
		snprintf(tmp, tmpsz, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		*ret = tmp;
		return true;
	case JSON_REAL:
		snprintf(tmp, tmpsz, "%.17g", json_real_value(v));
		*ret = tmp;
		return true;
	case JSON_TRUE:
		*ret = "true";
		return true;
	case JSON_FALSE:
		*ret = "false";
		return true;
	case JSON_OBJECT:
	case JSON_ARRAY:
		return false;
	case JSON_NULL:
		break;
	}
	*ret = "";
	return true;
}

bool field_selector_matches(const struct field_selector *sel, const json_t *obj)
{
	for (size_t i = 0; sel && i < sel->nterms; i++) {
		const struct field_term *t = &sel->terms[i];
		char tmp[64];
		const char *v;
		bool eq = false;

		if (field_value(obj, t->path, tmp, sizeof(tmp), &v))
			eq = strcmp(v, t->value) == 0;
		if (eq == t->neq)
			return false;
	}
	return true;
}

const char *field_selector_exact(const struct field_selector *sel, const char *path)
{
	for (size_t i = 0; sel && path && i < sel->nterms; i++)
		if (!sel->terms[i].neq && strcmp(sel->terms[i].path, path) == 0)
			return sel->terms[i].value;
	return NULL;
}
