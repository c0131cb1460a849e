/* navectl_print.c - how navectl shows objects: tables, JSON, YAML, names.
 *
 * Tables are the server's (a meta.k8s.io/v1 Table, whose columns the server
 * chooses, as kubectl prints them); when a server answers with a plain List
 * or object instead, only NAME and AGE can be shown. JSON is indented by
 * four spaces and YAML is common/yaml.h's kubectl-like block style; both
 * drop metadata.managedFields unless asked, as kubectl 1.21+ does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "kapi_table.h"
#include "kobj.h"
#include "navectl.h"
#include "timefmt.h"
#include "yaml.h"

#define NCTL_COL_GAP 3       /* spaces between columns, as kubectl's tabwriter */
#define NCTL_MAX_COLS 64     /* columns printed at most */
#define NCTL_MAX_CELL 1024   /* bytes of one cell shown */

int nctl_output_parse(const char *s, enum nctl_output *ret_out)
{
	static const struct {
		const char *name;
		enum nctl_output out;
	} outs[] = {
		{ "wide", NCTL_OUT_WIDE }, { "json", NCTL_OUT_JSON }, { "yaml", NCTL_OUT_YAML },
		{ "name", NCTL_OUT_NAME },
	};

	for (size_t i = 0; i < sizeof(outs) / sizeof(outs[0]); i++)
		if (!strcmp(s, outs[i].name)) {
			*ret_out = outs[i].out;
			return 0;
		}
	return -EINVAL;
}

char *nctl_age(const char *ts, char *out)
{
	int64_t us;

	if (!ts || time_parse_rfc3339(ts, &us) < 0) {
		snprintf(out, 16, "<unknown>");
		return out;
	}
	return kapi_table_age((time_now_us() - us) / 1000000, out);
}

/* One cell as text; caller frees. */
static char *cell_text(const json_t *c)
{
	char *s;

	switch (json_typeof(c)) {
	case JSON_STRING:
		s = xstrndup(json_string_value(c), NCTL_MAX_CELL);
		break;
	case JSON_INTEGER:
		s = xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(c));
		break;
	case JSON_REAL:
		s = xasprintf("%g", json_real_value(c));
		break;
	case JSON_TRUE:
		s = xstrdup("true");
		break;
	case JSON_FALSE:
		s = xstrdup("false");
		break;
	case JSON_NULL:
		s = xstrdup("<none>");
		break;
	default: {
		char *j = json_dumps(c, JSON_COMPACT);

		s = xstrndup(j ? j : "", NCTL_MAX_CELL);
		free(j);
		break;
	}
	}
	/* one line per row */
	for (char *p = s; *p; p++)
		if (*p == '\n' || *p == '\t' || *p == '\r')
			*p = ' ';
	return s;
}

static char *labels_text(const json_t *meta)
{
	json_t *labels = json_object_get(meta, "labels");
	const char *k;
	json_t *v;
	char *s = NULL, *t;

	json_object_foreach(labels, k, v) {
		t = xasprintf("%s%s%s=%s", s ? s : "", s ? "," : "", k,
			      json_is_string(v) ? json_string_value(v) : "");
		free(s);
		s = t;
	}
	return s ? s : xstrdup("<none>");
}

static char *upper(const char *s)
{
	char *u = xstrdup(s);

	for (char *p = u; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
		else if (*p == ' ')
			*p = ' ';
	return u;
}

/* A grid of strings being built: rows of n_cols cells. */
struct grid {
	size_t n_cols;
	size_t n_rows;
	char **cells; /* owned: n_rows * n_cols owned strings */
};

static void grid_add(struct grid *g, char **row)
{
	g->cells = xrealloc(g->cells, (g->n_rows + 1) * g->n_cols * sizeof(char *));
	memcpy(g->cells + g->n_rows * g->n_cols, row, g->n_cols * sizeof(char *));
	g->n_rows++;
}

static void grid_free(struct grid *g)
{
	for (size_t i = 0; i < g->n_rows * g->n_cols; i++)
		free(g->cells[i]);
	free(g->cells);
}

/* Print g; row 0 is the header, printed unless skip_header. */
static void grid_print(FILE *out, const struct grid *g, bool skip_header, struct nctl_table_state *st)
{
	size_t w[NCTL_MAX_COLS] = { 0 };

	for (size_t r = 0; r < g->n_rows; r++)
		for (size_t c = 0; c < g->n_cols; c++) {
			size_t l = strlen(g->cells[r * g->n_cols + c]);

			if (l > w[c])
				w[c] = l;
		}
	if (st && st->n_cols == g->n_cols)
		for (size_t c = 0; c < g->n_cols; c++)
			if (st->widths[c] > w[c])
				w[c] = st->widths[c];
	for (size_t r = skip_header ? 1 : 0; r < g->n_rows; r++) {
		for (size_t c = 0; c < g->n_cols; c++) {
			const char *s = g->cells[r * g->n_cols + c];

			if (c + 1 == g->n_cols)
				fprintf(out, "%s\n", s);
			else
				fprintf(out, "%-*s", (int)(w[c] + NCTL_COL_GAP), s);
		}
	}
	if (st) {
		st->n_cols = g->n_cols;
		for (size_t c = 0; c < g->n_cols; c++)
			st->widths[c] = w[c];
		if (!skip_header)
			st->printed_header = true;
	}
}

static size_t print_server_table(FILE *out, const json_t *t, const struct nctl_table_opts *o,
				 struct nctl_table_state *st)
{
	json_t *defs = json_object_get(t, "columnDefinitions");
	json_t *rows = json_object_get(t, "rows");
	size_t idx[NCTL_MAX_COLS], n_idx = 0, i, j;
	struct grid g = { 0 };
	char *row[NCTL_MAX_COLS + 2];
	json_t *d, *rw;

	json_array_foreach(defs, i, d) {
		json_int_t prio = json_integer_value(json_object_get(d, "priority"));

		if ((prio == 0 || o->wide) && n_idx < NCTL_MAX_COLS)
			idx[n_idx++] = i;
	}
	g.n_cols = n_idx + (o->with_namespace ? 1 : 0) + (o->show_labels ? 1 : 0);
	if (!g.n_cols)
		return 0;
	/* header */
	j = 0;
	if (o->with_namespace)
		row[j++] = xstrdup("NAMESPACE");
	for (i = 0; i < n_idx; i++) {
		const char *name = json_string_value(json_object_get(json_array_get(defs, idx[i]), "name"));

		row[j++] = upper(name ? name : "");
	}
	if (o->show_labels)
		row[j++] = xstrdup("LABELS");
	grid_add(&g, row);
	json_array_foreach(rows, i, rw) {
		json_t *cells = json_object_get(rw, "cells");
		json_t *meta = json_object_get(json_object_get(rw, "object"), "metadata");

		j = 0;
		if (o->with_namespace) {
			const char *ns = json_string_value(json_object_get(meta, "namespace"));

			row[j++] = xstrdup(ns ? ns : "");
		}
		for (size_t k = 0; k < n_idx; k++) {
			json_t *c = json_array_get(cells, idx[k]);

			row[j++] = c ? cell_text(c) : xstrdup("");
		}
		if (o->show_labels)
			row[j++] = labels_text(meta);
		grid_add(&g, row);
	}
	grid_print(out, &g, o->no_headers || (st && st->printed_header), st);
	grid_free(&g);
	return json_array_size(rows);
}

/* NAME and AGE of a List's items (or of one object). */
static size_t print_fallback(FILE *out, const json_t *doc, const struct nctl_table_opts *o,
			     struct nctl_table_state *st)
{
	json_t *items = json_object_get(doc, "items");
	json_t *one = NULL, *it;
	struct grid g = { 0 };
	char *row[4], age[16];
	size_t i, j, n;

	if (!json_is_array(items)) {
		one = json_array();
		json_array_append(one, (json_t *)doc);
		items = one;
	}
	g.n_cols = 2 + (o->with_namespace ? 1 : 0) + (o->show_labels ? 1 : 0);
	j = 0;
	if (o->with_namespace)
		row[j++] = xstrdup("NAMESPACE");
	row[j++] = xstrdup("NAME");
	row[j++] = xstrdup("AGE");
	if (o->show_labels)
		row[j++] = xstrdup("LABELS");
	grid_add(&g, row);
	json_array_foreach(items, i, it) {
		json_t *meta = json_object_get(it, "metadata");
		const char *name = json_string_value(json_object_get(meta, "name"));
		const char *ns = json_string_value(json_object_get(meta, "namespace"));

		j = 0;
		if (o->with_namespace)
			row[j++] = xstrdup(ns ? ns : "");
		row[j++] = xstrdup(name ? name : "");
		row[j++] = xstrdup(nctl_age(json_string_value(json_object_get(meta, "creationTimestamp")), age));
		if (o->show_labels)
			row[j++] = labels_text(meta);
		grid_add(&g, row);
	}
	grid_print(out, &g, o->no_headers || (st && st->printed_header), st);
	grid_free(&g);
	n = json_array_size(items);
	json_decref(one);
	return n;
}

size_t nctl_print_table(FILE *out, const json_t *doc, const struct nctl_table_opts *o,
			struct nctl_table_state *st)
{
	const char *kind = kobj_kind(doc);

	if (kind && !strcmp(kind, "Table") && json_is_array(json_object_get(doc, "columnDefinitions")))
		return print_server_table(out, doc, o, st);
	return print_fallback(out, doc, o, st);
}

json_t *nctl_strip_managed(const json_t *obj)
{
	json_t *c = json_deep_copy(obj);
	json_t *items = json_object_get(c, "items"), *it;
	size_t i;

	json_object_del(json_object_get(c, "metadata"), "managedFields");
	json_array_foreach(items, i, it)
		json_object_del(json_object_get(it, "metadata"), "managedFields");
	return c;
}

void nctl_print_object(FILE *out, const json_t *obj, enum nctl_output fmt, bool show_managed)
{
	json_t *o = show_managed ? json_incref((json_t *)obj) : nctl_strip_managed(obj);
	char *s;

	if (fmt == NCTL_OUT_YAML) {
		s = yaml_emit(o);
		fputs(s, out);
	} else {
		s = json_dumps(o, JSON_INDENT(4));
		fprintf(out, "%s\n", s ? s : "null");
	}
	free(s);
	json_decref(o);
}

void nctl_print_name(FILE *out, const json_t *obj, const char *group)
{
	char kg[400], g[254] = "", v[254];
	const char *av = kobj_api_version(obj);

	if (!group && av && kobj_split_api_version(av, g, v) == 0)
		group = g;
	fprintf(out, "%s/%s\n", nctl_kind_group(kobj_kind(obj), group, kg), kobj_name(obj) ? kobj_name(obj) : "");
}

void nctl_print_grid(FILE *out, const char *indent, const char *const *header, size_t n_cols,
		     const json_t *rows)
{
	struct grid g = { .n_cols = n_cols };
	char *row[NCTL_MAX_COLS];
	json_t *rw;
	size_t i;

	if (!n_cols || n_cols > NCTL_MAX_COLS)
		return;
	for (size_t c = 0; c < n_cols; c++)
		row[c] = xstrdup(header[c]);
	grid_add(&g, row);
	json_array_foreach(rows, i, rw) {
		for (size_t c = 0; c < n_cols; c++) {
			json_t *v = json_array_get(rw, c);

			row[c] = v ? cell_text(v) : xstrdup("");
		}
		grid_add(&g, row);
	}
	/* grid_print without the indent knows nothing of it: print row by row */
	{
		size_t w[NCTL_MAX_COLS] = { 0 };

		for (size_t r = 0; r < g.n_rows; r++)
			for (size_t c = 0; c < n_cols; c++) {
				size_t l = strlen(g.cells[r * n_cols + c]);

				if (l > w[c])
					w[c] = l;
			}
		for (size_t r = 0; r < g.n_rows; r++) {
			fputs(indent, out);
			for (size_t c = 0; c < n_cols; c++) {
				const char *s = g.cells[r * n_cols + c];

				if (c + 1 == n_cols)
					fprintf(out, "%s\n", s);
				else
					fprintf(out, "%-*s", (int)(w[c] + NCTL_COL_GAP), s);
			}
		}
	}
	grid_free(&g);
}
