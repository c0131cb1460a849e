/* errbuf.c - error messages beside error codes; see errbuf.h. */
#include "errbuf.h"

#include <stdio.h>
#include <string.h>

int errbuf_set(struct errbuf *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

void errbuf_prefix(struct errbuf *e, const char *fmt, ...)
{
	char prefix[ERRBUF_MAX];
	char old[ERRBUF_MAX];
	va_list ap;

	if (!e)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	/* Truncation is accepted: the message is for people and stays terminated. */
	if (snprintf(e->msg, sizeof(e->msg), "%s%s%s", prefix, old[0] ? ": " : "", old) < 0)
		e->msg[0] = '\0';
}

void errbuf_clear(struct errbuf *e)
{
	if (e)
		e->msg[0] = '\0';
}
