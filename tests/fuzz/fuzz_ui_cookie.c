/* fuzz_ui_cookie.c - what a browser sends the web view: hub/ui_session.c's
 * ui_cookie_parse (the Cookie header) and ui_login_parse (the login body).
 *
 * The first byte picks the parser ('c', or any other even byte but 'l': the
 * Cookie header; 'l' or an odd byte: the login body); the rest is its input (the header is made a C
 * string: httpd hands headers as strings). Invariants (abort on violation):
 *   - ui_cookie_parse returns 1, 0, -E2BIG or -EINVAL; on 1 the value is
 *     UI_SESSION_ID_HEX lowercase hex digits and occurs in the header; on an
 *     error err holds a message; a header over UI_COOKIE_HEADER_MAX is
 *     refused, and the answer does not change when unrelated cookies are
 *     appended after it (";x=y"), unless the header grows past the cap;
 *   - ui_login_parse returns 0, -E2BIG or -EBADMSG; on 0 the token is
 *     1..UI_LOGIN_TOKEN_MAX bytes without NUL; on an error err names "body"
 *     or "token".
 * Registered from tests/fuzz/meson.build's hub_fuzzers table.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "ui.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_cookie(const char *hdr, size_t len)
{
	char value[UI_SESSION_ID_HEX + 1], value2[UI_SESSION_ID_HEX + 1];
	struct errbuf err = {""}, err2 = {""};
	char *more;
	int r, r2;

	r = ui_cookie_parse(hdr, value, &err);
	if (r != 1 && r != 0 && r != -E2BIG && r != -EINVAL)
		abort();
	if (r < 0 && !err.msg[0])
		abort();
	if (len > UI_COOKIE_HEADER_MAX && r != -E2BIG)
		abort();
	if (r == 1) {
		if (strlen(value) != UI_SESSION_ID_HEX || !strstr(hdr, value))
			abort();
		for (size_t i = 0; i < UI_SESSION_ID_HEX; i++)
			if (!((value[i] >= '0' && value[i] <= '9') || (value[i] >= 'a' && value[i] <= 'f')))
				abort();
	}
	more = malloc(len + 5);
	if (!more)
		abort();
	memcpy(more, hdr, len);
	memcpy(more + len, ";x=y", 5);
	r2 = ui_cookie_parse(more, value2, &err2);
	if (len + 4 <= UI_COOKIE_HEADER_MAX && r2 != r)
		abort();
	if (r == 1 && r2 == 1 && strcmp(value, value2))
		abort();
	free(more);
}

static void fuzz_login(const char *body, size_t len)
{
	char token[UI_LOGIN_TOKEN_MAX + 1];
	struct errbuf err = {""};
	int r = ui_login_parse(body, len, token, sizeof(token), &err);

	if (r == 0) {
		size_t n = strnlen(token, sizeof(token));

		if (n == 0 || n > UI_LOGIN_TOKEN_MAX)
			abort();
		return;
	}
	if (r != -E2BIG && r != -EBADMSG)
		abort();
	if (!strstr(err.msg, "body") && !strstr(err.msg, "token"))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1 || size > (64u << 10))
		return 0;
	s = malloc(size);
	if (!s)
		abort();
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (data[0] != 'l' && (data[0] == 'c' || data[0] % 2 == 0))
		fuzz_cookie(s, strlen(s));
	else
		fuzz_login(s, size - 1);
	free(s);
	return 0;
}
