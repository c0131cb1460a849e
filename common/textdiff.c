/* textdiff.c - a unified line diff of two texts; see textdiff.h.
 *
 * Lines are interned first (equal lines get equal 32-bit ids through an
 * open-addressing hash table keyed by the line's bytes), so the LCS compares
 * integers. The edit script is one byte per step (equal, delete, insert);
 * hunks are cut from it with TEXTDIFF_CONTEXT lines of context, changes
 * closer than twice that joined into one hunk, as diff -u does.
 */
#include "codec.h"
#include "textdiff.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

enum textdiff_op { TD_EQ, TD_DEL, TD_INS };

struct td_ops {
	unsigned char *v; /* owned; enum textdiff_op each */
	size_t n, cap;
};

static void ops_add(struct td_ops *o, enum textdiff_op op, size_t count)
{
	if (!count)
		return; /* o->v may still be NULL: memset(NULL, .., 0) is undefined */
	if (o->n + count > o->cap) {
		o->cap = (o->n + count) * 2 + 64;
		o->v = xrealloc(o->v, o->cap);
	}
	memset(o->v + o->n, op, count);
	o->n += count;
}

/* out[j] = LCS(a[0..n), b[0..j)) for j = 0..m, in one row. */
static void lcs_forward(const uint32_t *a, size_t n, const uint32_t *b, size_t m, uint32_t *out)
{
	memset(out, 0, (m + 1) * sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		uint32_t diag = 0;

		for (size_t j = 1; j <= m; j++) {
			uint32_t up = out[j];

			out[j] = a[i] == b[j - 1] ? diag + 1 : (up > out[j - 1] ? up : out[j - 1]);
			diag = up;
		}
	}
}

/* out[j] = LCS(a[0..n), b[j..m)) for j = 0..m. */
static void lcs_backward(const uint32_t *a, size_t n, const uint32_t *b, size_t m, uint32_t *out)
{
	memset(out, 0, (m + 1) * sizeof(*out));
	for (size_t i = n; i-- > 0;) {
		uint32_t diag = 0;

		for (size_t j = m; j-- > 0;) {
			uint32_t down = out[j];

			out[j] = a[i] == b[j] ? diag + 1 : (down > out[j + 1] ? down : out[j + 1]);
			diag = down;
		}
	}
}

/* Hirschberg: the edit script turning a into b along a longest common
 * subsequence; s1 and s2 hold m + 1 counters each (scratch). */
static void lcs_script(const uint32_t *a, size_t n, const uint32_t *b, size_t m, uint32_t *s1, uint32_t *s2,
		       struct td_ops *ops)
{
	size_t mid, k = 0, best = 0;

	if (!n || !m) {
		ops_add(ops, TD_DEL, n);
		ops_add(ops, TD_INS, m);
		return;
	}
	if (n == 1) {
		for (size_t j = 0; j < m; j++)
			if (b[j] == a[0]) {
				ops_add(ops, TD_INS, j);
				ops_add(ops, TD_EQ, 1);
				ops_add(ops, TD_INS, m - j - 1);
				return;
			}
		ops_add(ops, TD_DEL, 1);
		ops_add(ops, TD_INS, m);
		return;
	}
	mid = n / 2;
	lcs_forward(a, mid, b, m, s1);
	lcs_backward(a + mid, n - mid, b, m, s2);
	for (size_t j = 0; j <= m; j++)
		if (s1[j] + s2[j] > best || j == 0) {
			best = s1[j] + s2[j];
			k = j;
		}
	lcs_script(a, mid, b, k, s1, s2, ops);
	lcs_script(a + mid, n - mid, b + k, m - k, s1, s2, ops);
}

/* See textdiff.h. */
int textdiff_split(const char *text, size_t max_lines, struct textdiff_lines *ret)
{
	size_t n = 0, i = 0;
	char *copy;

	memset(ret, 0, sizeof(*ret));
	for (const char *p = text; *p; p++)
		if (*p == '\n' || !p[1])
			n++;
	if (n > max_lines)
		return -E2BIG;
	copy = xstrdup(text);
	ret->text = copy;
	ret->v = xcalloc(n ? n : 1, sizeof(*ret->v));
	for (char *p = copy, *nl; *p && i < n; p = nl + 1) {
		ret->v[i++] = p;
		nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = '\0';
	}
	ret->n = i;
	return 0;
}

/* See textdiff.h. */
void textdiff_lines_free(struct textdiff_lines *l)
{
	if (!l)
		return;
	free(l->text);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static uint64_t line_hash(const char *s)
{
	return fnv1a_str(FNV1A_INIT, s);
}

/* Give equal lines of a and b equal ids (ida, idb: n entries each). */
static void lines_intern(const struct textdiff_lines *a, const struct textdiff_lines *b, uint32_t *ida,
			 uint32_t *idb)
{
	const struct textdiff_lines *both[2] = { a, b };
	uint32_t *ids[2] = { ida, idb };
	size_t cap = 16, mask;
	const char **keys;
	uint32_t *vals, next = 0;

	while (cap < 2 * (a->n + b->n))
		cap *= 2;
	mask = cap - 1;
	keys = xcalloc(cap, sizeof(*keys));
	vals = xcalloc(cap, sizeof(*vals));
	for (int s = 0; s < 2; s++)
		for (size_t i = 0; i < both[s]->n; i++) {
			const char *line = both[s]->v[i];
			size_t k = (size_t)line_hash(line) & mask;

			while (keys[k] && strcmp(keys[k], line))
				k = (k + 1) & mask;
			if (!keys[k]) {
				keys[k] = line;
				vals[k] = next++;
			}
			ids[s][i] = vals[k];
		}
	free(keys);
	free(vals);
}

/* Append the lines of ops[from..to) (a at ai, b at bi) of a hunk, each run
 * of changes as its deletions then its insertions, as diff -u does. */
static int print_hunk(struct buf *out, const struct textdiff_lines *a, const struct textdiff_lines *b,
		      const unsigned char *ops, size_t from, size_t to, size_t ai, size_t bi)
{
	size_t na = 0, nb = 0;
	int r = 0;

	for (size_t k = from; k < to; k++) {
		na += ops[k] != TD_INS;
		nb += ops[k] != TD_DEL;
	}
	r |= buf_printf(out, "@@ -%zu", na ? ai + 1 : ai);
	if (na != 1)
		r |= buf_printf(out, ",%zu", na);
	r |= buf_printf(out, " +%zu", nb ? bi + 1 : bi);
	if (nb != 1)
		r |= buf_printf(out, ",%zu", nb);
	r |= buf_puts(out, " @@\n");
	for (size_t k = from; k < to && !r;) {
		size_t end = k, da = ai, db = bi;

		if (ops[k] == TD_EQ) {
			r |= buf_printf(out, " %s\n", a->v[ai]);
			ai++;
			bi++;
			k++;
			continue;
		}
		while (end < to && ops[end] != TD_EQ) {
			if (ops[end] == TD_DEL)
				ai++;
			else
				bi++;
			end++;
		}
		for (; da < ai; da++)
			r |= buf_printf(out, "-%s\n", a->v[da]);
		for (; db < bi; db++)
			r |= buf_printf(out, "+%s\n", b->v[db]);
		k = end;
	}
	return r ? -E2BIG : 0;
}

/* See textdiff.h. */
int textdiff_unified(const struct textdiff_lines *a, const struct textdiff_lines *b, const char *name_a,
		     const char *name_b, size_t max_cells, struct buf *out)
{
	struct td_ops ops = { 0 };
	size_t head = 0, tail = 0, n, m, i, ai = 0, bi = 0;
	uint32_t *ida, *idb, *s1 = NULL, *s2 = NULL;
	const size_t C = TEXTDIFF_CONTEXT;
	int r = 1;

	ida = xcalloc(a->n ? a->n : 1, sizeof(*ida));
	idb = xcalloc(b->n ? b->n : 1, sizeof(*idb));
	lines_intern(a, b, ida, idb);
	while (head < a->n && head < b->n && ida[head] == idb[head])
		head++;
	while (tail < a->n - head && tail < b->n - head && ida[a->n - 1 - tail] == idb[b->n - 1 - tail])
		tail++;
	if (head == a->n && head == b->n) {
		r = 0;
		goto out;
	}
	n = a->n - head - tail;
	m = b->n - head - tail;
	if (max_cells && n && m > max_cells / n) {
		r = -ERANGE;
		goto out;
	}
	s1 = xcalloc(m + 1, sizeof(*s1));
	s2 = xcalloc(m + 1, sizeof(*s2));
	ops_add(&ops, TD_EQ, head);
	lcs_script(ida + head, n, idb + head, m, s1, s2, &ops);
	ops_add(&ops, TD_EQ, tail);

	if (buf_printf(out, "--- %s\n+++ %s\n", name_a, name_b) < 0) {
		r = -E2BIG;
		goto out;
	}
	for (i = 0; i < ops.n;) {
		size_t start, last, j, end, sa, sb;

		if (ops.v[i] == TD_EQ) {
			i++;
			ai++;
			bi++;
			continue;
		}
		/* a hunk: C lines before the change, changes closer than 2C
		 * lines joined, C lines after the last */
		start = i > C ? i - C : 0;
		sa = ai - (i - start);
		sb = bi - (i - start);
		last = i;
		for (j = i; j < ops.n;) {
			size_t k = j;

			if (ops.v[j] != TD_EQ) {
				last = j++;
				continue;
			}
			while (k < ops.n && ops.v[k] == TD_EQ)
				k++;
			if (k == ops.n || k - j > 2 * C)
				break;
			j = k;
		}
		end = last + 1 + C < ops.n ? last + 1 + C : ops.n;
		if (print_hunk(out, a, b, ops.v, start, end, sa, sb) < 0) {
			r = -E2BIG;
			goto out;
		}
		for (; i < end; i++) {
			ai += ops.v[i] != TD_INS;
			bi += ops.v[i] != TD_DEL;
		}
	}
out:
	free(ops.v);
	free(s1);
	free(s2);
	free(ida);
	free(idb);
	return r;
}
