/* Unit tests for common/log: levels, formats and redaction of secrets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"

static char *capture(enum log_level min, enum log_format fmt, enum log_level level, const char *msg)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	log_setup(min, fmt);
	log_set_output(f);
	log_msg(level, "x.c", 7, "%s", msg);
	log_set_output(NULL);
	fclose(f);
	return out;
}

static void test_levels(void **state)
{
	char *s = capture(LOG_LVL_WARN, LOG_FORMAT_TEXT, LOG_LVL_INFO, "quiet");
	assert_string_equal(s, "");
	free(s);
	s = capture(LOG_LVL_WARN, LOG_FORMAT_TEXT, LOG_LVL_ERROR, "loud");
	assert_non_null(strstr(s, "error x.c:7 loud"));
	free(s);

	enum log_level l;
	assert_int_equal(log_level_parse("WARNING", &l), 0);
	assert_int_equal(l, LOG_LVL_WARN);
	assert_int_equal(log_level_parse("verbose", &l), -EINVAL);
	enum log_format f;
	assert_int_equal(log_format_parse("json", &f), 0);
	assert_int_equal(log_format_parse("xml", &f), -EINVAL);
}

static void test_json_lines(void **state)
{
	char *s = capture(LOG_LVL_DEBUG, LOG_FORMAT_JSON, LOG_LVL_INFO, "quote \" and\nnewline");
	json_error_t err;
	json_t *o = json_loads(s, 0, &err);

	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "level")), "info");
	assert_string_equal(json_string_value(json_object_get(o, "src")), "x.c:7");
	assert_string_equal(json_string_value(json_object_get(o, "msg")), "quote \" and\nnewline");
	json_decref(o);
	free(s);
}

static void check_redact(const char *in, const char *want)
{
	char *s = strdup(in);

	assert_string_equal(log_redact(s), want);
	free(s);
}

static void test_redaction(void **state)
{
	check_redact("Authorization: Bearer abc.def-123", "Authorization: Bearer ***");
	check_redact("join with token abcdef.0123456789abcdef now", "join with token abcdef.*** now");
	check_redact("id abcdef.0123456789abcdefg too long", "id abcdef.0123456789abcdefg too long");
	check_redact("token=s3cr3tvalue&x=1", "token=***&x=1");
	check_redact("{\"token\":\"s3cr3tvalue\"}", "{\"token\":\"***\"}");
	check_redact("password: hunter22", "password: ***");
	check_redact("k -----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY----- done",
		     "k [private key] done");
	check_redact("-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----",
		     "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----");
	check_redact("tokens are fine", "tokens are fine");

	/* and the logger applies it */
	char *out = capture(LOG_LVL_DEBUG, LOG_FORMAT_TEXT, LOG_LVL_INFO, "got Bearer topsecret");
	assert_null(strstr(out, "topsecret"));
	free(out);
}

static void test_long_message_cut(void **state)
{
	char *big = malloc(20000);
	memset(big, 'a', 19999);
	big[19999] = '\0';
	char *s = capture(LOG_LVL_DEBUG, LOG_FORMAT_TEXT, LOG_LVL_INFO, big);
	assert_true(strlen(s) < 8300);
	assert_non_null(strstr(s, "...]"));
	free(s);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_json_lines),
		cmocka_unit_test(test_redaction),
		cmocka_unit_test(test_long_message_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
