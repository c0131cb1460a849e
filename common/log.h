/* log.h - leveled logging to stderr, as plain text or JSON lines.
 *
 * One process-wide logger, configured once at start (log_setup) from the
 * daemon's flags. Every message passes through log_redact() before it is
 * written, so a secret that slips into a message (a bearer token, a bootstrap
 * token's secret half, a private key block, a "token" field) is masked: the
 * rule is still never to log secrets, and this is the net under it.
 *
 *   log_setup(LOG_LVL_INFO, LOG_FORMAT_JSON);
 *   log_info("cluster %s joined", name);
 */
#ifndef NAVE_LOG_H
#define NAVE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum log_level {
	LOG_LVL_DEBUG,
	LOG_LVL_INFO,
	LOG_LVL_WARN,
	LOG_LVL_ERROR,
};

enum log_format {
	LOG_FORMAT_TEXT, /* "2026-11-27T05:11:35.123Z info  hub/main.c:42 message" */
	LOG_FORMAT_JSON, /* {"ts":"...","level":"info","src":"hub/main.c:42","msg":"message"} */
};

/* Set the minimum level and the format. Safe to call again. */
void log_setup(enum log_level min, enum log_format format);
/* Send output to f instead of stderr (tests). f is borrowed; NULL restores stderr. */
void log_set_output(FILE *f);
/* Parse "debug", "info", "warn"/"warning", "error". Returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *ret_level);
/* Parse "text" or "json". Returns 0 or -EINVAL. */
int log_format_parse(const char *s, enum log_format *ret_format);
/* Whether a message at this level would be written. */
bool log_enabled(enum log_level level);

/* Write one message. Use the macros below, which fill in the source position. */
void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void log_vmsg(enum log_level level, const char *file, int line, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

/* Mask secrets in s, in place (the result is never longer). Returns s.
 * Masks: "Bearer <tok>", bootstrap tokens "<6>.<16>" (keeps the id),
 * PEM "PRIVATE KEY" blocks, and values of token/password/secret/key fields
 * written as key=value, key: value or "key":"value". */
char *log_redact(char *s);

#define log_debug(...) do { if (log_enabled(LOG_LVL_DEBUG)) log_msg(LOG_LVL_DEBUG, __FILE__, __LINE__, __VA_ARGS__); } while (0)
#define log_info(...)  log_msg(LOG_LVL_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __FILE__, __LINE__, __VA_ARGS__)

#endif
