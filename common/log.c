/* log.c - the process-wide logger; see log.h. Runs on whatever thread calls it;
 * the daemons are single-threaded, so there is no locking. */
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include <jansson.h>

#include "alloc.h"

#define LOG_LINE_MAX 8192 /* longer messages are cut, with a marker */

static enum log_level log_min = LOG_LVL_INFO;
static enum log_format log_fmt = LOG_FORMAT_TEXT;
static FILE *log_out;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_setup(enum log_level min, enum log_format format)
{
	log_min = min;
	log_fmt = format;
}

void log_set_output(FILE *f)
{
	log_out = f;
}

int log_level_parse(const char *s, enum log_level *ret_level)
{
	static const struct { const char *name; enum log_level level; } map[] = {
		{ "debug", LOG_LVL_DEBUG }, { "info", LOG_LVL_INFO },
		{ "warn", LOG_LVL_WARN },   { "warning", LOG_LVL_WARN },
		{ "error", LOG_LVL_ERROR },
	};

	for (size_t i = 0; s && i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcasecmp(s, map[i].name) == 0) {
			*ret_level = map[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

int log_format_parse(const char *s, enum log_format *ret_format)
{
	if (s && strcasecmp(s, "text") == 0)
		*ret_format = LOG_FORMAT_TEXT;
	else if (s && strcasecmp(s, "json") == 0)
		*ret_format = LOG_FORMAT_JSON;
	else
		return -EINVAL;
	return 0;
}

bool log_enabled(enum log_level level)
{
	return level >= log_min;
}

static bool is_token_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.' ||
	       c == '+' || c == '/' || c == '=' || c == '~';
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Remove bytes [from, to) of s, writing mask in their place (mask no longer). */
static char *mask_range(char *s, char *from, char *to, const char *mask)
{
	size_t mlen = strlen(mask);

	if ((size_t)(to - from) < mlen)
		mlen = (size_t)(to - from);
	memcpy(from, mask, mlen);
	memmove(from + mlen, to, strlen(to) + 1);
	(void)s;
	return from + mlen;
}

/* "Bearer xyz" -> "Bearer ***" (case-insensitive). */
static void redact_bearer(char *s)
{
	char *p = s;

	while ((p = strcasestr(p, "bearer ")) != NULL) {
		char *v = p + 7, *e = v;

		while (is_token_char(*e))
			e++;
		p = e > v ? mask_range(s, v, e, "***") : v;
	}
}

/* Bootstrap tokens: [a-z0-9]{6}.[a-z0-9]{16} -> "<id>.***". */
static void redact_bootstrap_tokens(char *s)
{
	for (char *p = s; *p; p++) {
		int i;

		if (p > s && is_lower_alnum(p[-1]))
			continue;
		for (i = 0; i < 6 && is_lower_alnum(p[i]); i++)
			;
		if (i != 6 || p[6] != '.')
			continue;
		for (i = 0; i < 16 && is_lower_alnum(p[7 + i]); i++)
			;
		if (i != 16 || is_lower_alnum(p[23]))
			continue;
		p = mask_range(s, p + 7, p + 23, "***") - 1;
	}
}

/* PEM private keys: everything from BEGIN to END line is masked. */
static void redact_pem(char *s)
{
	char *p = s;

	while ((p = strstr(p, "-----BEGIN")) != NULL) {
		char *eol = strstr(p + 10, "-----");
		char *end;

		if (!eol || !memmem(p, (size_t)(eol - p), "PRIVATE KEY", 11)) {
			p += 10;
			continue;
		}
		end = strstr(eol + 5, "-----END");
		if (end) {
			char *tail = strstr(end + 8, "-----");

			end = tail ? tail + 5 : end + strlen(end);
		} else {
			end = p + strlen(p);
		}
		p = mask_range(s, p, end, "[private key]");
	}
}

/* key=value, key: value, "key":"value" for secret-sounding keys. */
static void redact_fields(char *s)
{
	static const char *const keys[] = { "token", "password", "secret", "private_key", "privatekey", "client-key-data" };

	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		size_t klen = strlen(keys[k]);
		char *p = s;

		while ((p = strcasestr(p, keys[k])) != NULL) {
			char *v = p + klen;

			if (*v == '"')
				v++;
			if (*v != '=' && *v != ':') {
				p = v;
				continue;
			}
			v++;
			while (*v == ' ')
				v++;
			if (*v == '"')
				v++;
			char *e = v;
			while (is_token_char(*e) && *e != '"')
				e++;
			if (e - v >= 4)
				p = mask_range(s, v, e, "***");
			else
				p = e;
		}
	}
}

char *log_redact(char *s)
{
	redact_pem(s);
	redact_bearer(s);
	redact_bootstrap_tokens(s);
	redact_fields(s);
	return s;
}

static void format_time(char *out, size_t n)
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000));
}

void log_vmsg(enum log_level level, const char *file, int line, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	char ts[96];
	FILE *out = log_out ? log_out : stderr;
	int n;

	if (!log_enabled(level))
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n >= (int)sizeof(msg))
		memcpy(msg + sizeof(msg) - 5, "...]", 5);
	log_redact(msg);
	format_time(ts, sizeof(ts));
	if (log_fmt == LOG_FORMAT_JSON) {
		char src[256];
		json_t *o;

		snprintf(src, sizeof(src), "%s:%d", file, line);
		o = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", level_names[level], "src", src,
			      "msg", msg);
		char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

		if (text)
			fprintf(out, "%s\n", text);
		free(text);
		json_decref(o);
	} else {
		fprintf(out, "%s %-5s %s:%d %s\n", ts, level_names[level], file, line, msg);
	}
	fflush(out);
}

void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, file, line, fmt, ap);
	va_end(ap);
}
