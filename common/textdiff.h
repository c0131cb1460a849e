/* textdiff.h - a unified line diff of two texts (diff -u's format).
 *
 * The diff is a longest-common-subsequence line diff (Hirschberg's
 * linear-space form: two rows of counters, O(N*M) time) after trimming the
 * common head and tail. Output is the unified format of diff -u with
 * TEXTDIFF_CONTEXT lines of context: "--- A\n+++ B\n" then hunks
 * "@@ -a,n +b,m @@" whose runs of changes show their deletions before their
 * insertions. Each side is capped at TEXTDIFF_LINES_MAX lines, so the time
 * stays within seconds; a caller that must not spend seconds (the hub's
 * loop) also passes a cap on the work (max_cells, the lines left on each
 * side after trimming, multiplied).
 *
 * `navectl app diff` and the hub's web view (GET /nave/v1/ui/applications/
 * NS/NAME/diff) print the same text through this module. Pure: no I/O, no
 * global state; safe on any thread.
 *
 *   struct textdiff_lines a, b;
 *   struct buf out;
 *   if (textdiff_split(text_a, TEXTDIFF_LINES_MAX, &a) < 0) ... too long ...
 *   ...
 *   buf_init(&out, (size_t)-1);
 *   r = textdiff_unified(&a, &b, "web-v1", "web-v2", 0, &out); 0 equal, 1 differ
 */
#ifndef NAVE_TEXTDIFF_H
#define NAVE_TEXTDIFF_H

#include <stddef.h>

#include "buf.h"

#define TEXTDIFF_LINES_MAX 20000   /* lines on each side (navectl app diff's cap) */
#define TEXTDIFF_CONTEXT 3         /* lines of context around a change */

/* A text split into lines. */
struct textdiff_lines {
	char *text;     /* owned: the copy the lines point into */
	char **v;       /* owned array of n lines (no '\n'), pointing into text */
	size_t n;
};

/* Split text (borrowed; copied) at '\n' into *ret: a last line without a
 * '\n' counts, a final '\n' does not start an empty line. Returns 0, or
 * -E2BIG when text has more than max_lines lines (*ret is then empty and
 * need not be freed, though freeing it is harmless). */
int textdiff_split(const char *text, size_t max_lines, struct textdiff_lines *ret);

/* Free what textdiff_split made; accepts NULL and an all-zero struct;
 * leaves *l all zero. */
void textdiff_lines_free(struct textdiff_lines *l);

/* Append to out the unified diff of a and b (borrowed) headed with the two
 * names. Returns 0 when they are equal (nothing appended), 1 when they
 * differ (the diff appended), -ERANGE when the lines left after trimming the
 * common head and tail, multiplied, exceed max_cells (0: no cap; nothing
 * appended), or -E2BIG when out's cap is reached (out then holds a partial
 * diff: reset or free it). */
int textdiff_unified(const struct textdiff_lines *a, const struct textdiff_lines *b, const char *name_a,
		     const char *name_b, size_t max_cells, struct buf *out);

#endif
