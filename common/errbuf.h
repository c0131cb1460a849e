/* errbuf.h - a human-readable error message beside the errno-style code.
 *
 * Functions that validate outside input return a negative errno and, when the
 * caller passes a struct errbuf, say what was wrong and where, naming the
 * field: "spec.workload.manifests[2].metadata.name: required". The message is
 * for people (API Status messages, CLI errors, logs); callers branch on the
 * return code, never on the text. err may always be NULL.
 */
#ifndef NAVE_ERRBUF_H
#define NAVE_ERRBUF_H

#include <stdarg.h>

#define ERRBUF_MAX 512

struct errbuf {
	char msg[ERRBUF_MAX]; /* NUL-terminated; "" when nothing was set */
};

/* Set the message (printf-style); a no-op when e is NULL. Returns -code
 * negated as given, so validators can write: return errbuf_set(err, -EINVAL, "...");
 * (code is returned unchanged). */
int errbuf_set(struct errbuf *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefix the existing message with "prefix: " (for nesting field paths); no-op on NULL. */
void errbuf_prefix(struct errbuf *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Clear the message. Accepts NULL. */
void errbuf_clear(struct errbuf *e);

#endif
