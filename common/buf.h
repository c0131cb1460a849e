/* buf.h - a growable byte buffer that always carries a size cap.
 *
 * Every buffer that holds bytes from outside (HTTP bodies, websocket messages,
 * files) is a struct buf with a maximum set at init; an append that would pass
 * the maximum fails with -E2BIG and leaves the buffer as it was, so a peer can
 * never make us grow without bound. The data is always NUL-terminated (the NUL
 * is not counted in len), so text can be handed to parsers directly.
 *
 *   struct buf b;
 *   buf_init(&b, 1 << 20);
 *   if (buf_append(&b, p, n) < 0) ... refuse: too large ...
 *   parse(b.data, b.len);
 *   buf_free(&b);
 */
#ifndef NAVE_BUF_H
#define NAVE_BUF_H

#include <stddef.h>

struct buf {
	char *data;   /* owned; NULL until the first append; NUL-terminated */
	size_t len;   /* bytes held, not counting the NUL */
	size_t alloc; /* bytes allocated */
	size_t max;   /* cap on len; appends past it fail with -E2BIG */
};

/* Make an empty buffer that will hold at most max bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t max);
/* Append n bytes. Returns 0, or -E2BIG (buffer unchanged) past the cap. */
int buf_append(struct buf *b, const void *p, size_t n);
/* Append a NUL-terminated string. Returns 0 or -E2BIG. */
int buf_puts(struct buf *b, const char *s);
/* Append printf output. Returns 0 or -E2BIG (buffer unchanged). */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Forget the content but keep the allocation and the cap. */
void buf_reset(struct buf *b);
/* Release the memory; the buffer is empty and reusable with the same cap. Accepts NULL. */
void buf_free(struct buf *b);
/* Take the content as a NUL-terminated string the caller frees with free();
 * the buffer is left empty. Never NULL. ret_len (may be NULL) gets the length. */
char *buf_steal(struct buf *b, size_t *ret_len);

#endif
