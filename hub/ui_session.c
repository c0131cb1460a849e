/* ui_session.c - the web view's sessions: login, logout, the session cookie,
 * the cross-site request rule, and the routing of /nave/v1/ui/... (ui.h).
 *
 * A session is made by POST /nave/v1/ui/login with the admin token. Its id
 * is 32 bytes from the kernel's random source, sent to the browser as 64
 * hex digits in the UI_COOKIE cookie (HttpOnly, Secure, SameSite=Strict);
 * the hub keeps only SHA-256 of that text, in a fixed table of
 * UI_SESSIONS_MAX slots (full: the oldest session is dropped), in memory (a
 * restart logs everyone out). A request is matched by hashing its cookie and
 * comparing with every live slot in constant time. Sessions end at logout,
 * a TTL after login, or an idle time after their last request (operator
 * flags --ui-session-ttl and --ui-session-idle, defaults UI_SESSION_TTL_S
 * and UI_SESSION_IDLE_S; the cookie's Max-Age is the TTL); ui_sessions_sweep (every UI_SESSION_SWEEP_MS, ui_events.c's
 * timer) drops expired ones, and each end closes the session's event streams.
 *
 * The admin token is one secret for every client, so login failures are
 * limited for all clients together: after UI_LOGIN_FAILURES_MAX failures in
 * the last minute, logins are refused with 429 and Retry-After (the seconds
 * until the oldest failure is a minute old) without looking at the token.
 *
 * Nothing here logs a token, a cookie or a session id (nor their hashes).
 * Everything runs on the hub's loop; login costs one SHA-256 and one
 * random read (getrandom, which does not block once the pool is ready).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "httpd.h"
#include "hub_int.h"
#include "log.h"
#include "timefmt.h"
#include "ui_server_int.h"

#define UI_FAIL_WINDOW_MS 60000
#define UI_COOKIE_ATTRS "Path=/; HttpOnly; Secure; SameSite=Strict"

/* Parsers --------------------------------------------------------------------- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* See ui.h. */
int ui_cookie_parse(const char *header, char ret_value[UI_SESSION_ID_HEX + 1], struct errbuf *err)
{
	const size_t namelen = strlen(UI_COOKIE);
	const char *p = header, *found = NULL;
	size_t found_len = 0, len = strlen(header);

	if (len > UI_COOKIE_HEADER_MAX)
		return errbuf_set(err, -E2BIG, "Cookie: %zu bytes is over the %d-byte limit", len,
				  UI_COOKIE_HEADER_MAX);
	while (*p) {
		const char *end = strchr(p, ';'), *eq, *ns, *ne, *vs, *ve;

		if (!end)
			end = p + strlen(p);
		ns = p;
		while (ns < end && is_blank(*ns))
			ns++;
		eq = memchr(ns, '=', (size_t)(end - ns));
		if (eq) {
			ne = eq;
			while (ne > ns && is_blank(ne[-1]))
				ne--;
			if ((size_t)(ne - ns) == namelen && !memcmp(ns, UI_COOKIE, namelen)) {
				if (found)
					return errbuf_set(err, -EINVAL, "Cookie: %s is sent twice", UI_COOKIE);
				vs = eq + 1;
				ve = end;
				while (vs < ve && is_blank(*vs))
					vs++;
				while (ve > vs && is_blank(ve[-1]))
					ve--;
				if (ve - vs >= 2 && *vs == '"' && ve[-1] == '"') {
					vs++;
					ve--;
				}
				found = vs;
				found_len = (size_t)(ve - vs);
			}
		}
		p = *end ? end + 1 : end;
	}
	if (!found)
		return 0;
	if (found_len != UI_SESSION_ID_HEX)
		return errbuf_set(err, -EINVAL, "Cookie: %s is not a session id of this hub", UI_COOKIE);
	for (size_t i = 0; i < found_len; i++)
		if (!((found[i] >= '0' && found[i] <= '9') || (found[i] >= 'a' && found[i] <= 'f')))
			return errbuf_set(err, -EINVAL, "Cookie: %s is not a session id of this hub", UI_COOKIE);
	memcpy(ret_value, found, UI_SESSION_ID_HEX);
	ret_value[UI_SESSION_ID_HEX] = '\0';
	return 1;
}

/* See ui.h. */
int ui_login_parse(const char *body, size_t len, char *ret_token, size_t token_size, struct errbuf *err)
{
	json_error_t je;
	json_t *j = NULL, *t;
	size_t tl;
	int r = 0;

	if (len > UI_LOGIN_BODY_MAX)
		return errbuf_set(err, -E2BIG, "body: %zu bytes is over the login's %d-byte limit", len,
				  UI_LOGIN_BODY_MAX);
	if (!body || len == 0)
		return errbuf_set(err, -EBADMSG, "body: expected {\"token\": \"<admin token>\"}");
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return errbuf_set(err, -EBADMSG, "body: invalid JSON at line %d column %d", je.line, je.column);
	if (!json_is_object(j)) {
		r = errbuf_set(err, -EBADMSG, "body: expected a JSON object {\"token\": \"<admin token>\"}");
		goto out;
	}
	t = json_object_get(j, "token");
	if (!json_is_string(t)) {
		r = errbuf_set(err, -EBADMSG, "token: required, a string (the admin token)");
		goto out;
	}
	tl = json_string_length(t);
	if (tl == 0 || tl > UI_LOGIN_TOKEN_MAX || tl >= token_size ||
	    memchr(json_string_value(t), '\0', tl)) {
		r = errbuf_set(err, -EBADMSG, "token: expected 1..%d bytes without NUL", UI_LOGIN_TOKEN_MAX);
		goto out;
	}
	memcpy(ret_token, json_string_value(t), tl);
	ret_token[tl] = '\0';
out:
	if (json_is_object(j) && json_is_string(json_object_get(j, "token"))) {
		/* jansson keeps its own copy: wipe it before it is freed */
		t = json_object_get(j, "token");
		memset((char *)json_string_value(t), 0, json_string_length(t));
	}
	json_decref(j);
	return r;
}

/* The session table ------------------------------------------------------------ */

static void session_end(struct ui_ctl *ui, struct ui_session *s, const char *why)
{
	uint64_t serial = s->serial;

	memset(s, 0, sizeof(*s));
	ui->nsessions--;
	log_info("web view: a session ended (%s); %zu left", why, ui->nsessions);
	ui_events_end_session(ui, serial);
}

static bool session_expired(const struct ui_ctl *ui, const struct ui_session *s, int64_t now_us,
			    uint64_t now_ms)
{
	return now_us >= s->expires_us || now_ms - s->last_ms >= (uint64_t)ui->idle_s * 1000;
}

/* See ui_server_int.h. */
void ui_sessions_sweep(struct ui_ctl *ui)
{
	int64_t now_us = time_now_us();
	uint64_t now_ms = uv_now(hub_loop(ui->h));

	for (size_t i = 0; i < UI_SESSIONS_MAX; i++)
		if (ui->sessions[i].used && session_expired(ui, &ui->sessions[i], now_us, now_ms))
			session_end(ui, &ui->sessions[i], "expired");
}

/* The live slot whose hash is hash, or NULL. Compares every used slot in
 * constant time, so the time taken says nothing about the hash. */
static struct ui_session *session_find(struct ui_ctl *ui, const uint8_t hash[SHA256_LEN])
{
	struct ui_session *found = NULL;

	for (size_t i = 0; i < UI_SESSIONS_MAX; i++)
		if (ui->sessions[i].used && !memcmp_const(ui->sessions[i].hash, hash, SHA256_LEN))
			found = &ui->sessions[i];
	return found;
}

/* The session of req's cookie: 1 and *ret_s for a live one, 0 for no
 * cookie, -EACCES with the 401 message for a malformed, unknown or expired
 * one (an expired one is dropped). */
static int session_of(struct ui_ctl *ui, struct httpd_req *req, struct ui_session **ret_s, struct errbuf *err)
{
	const char *hdr = httpd_req_header(req, "cookie");
	char value[UI_SESSION_ID_HEX + 1];
	uint8_t hash[SHA256_LEN];
	struct ui_session *s;
	int r;

	if (!hdr)
		return 0;
	r = ui_cookie_parse(hdr, value, err);
	if (r == 0)
		return 0;
	if (r < 0) {
		char why[ERRBUF_MAX];

		/* not err->msg itself as an argument: vsnprintf's source and target may not overlap */
		snprintf(why, sizeof(why), "%s", err->msg);
		return errbuf_set(err, -EACCES, "Unauthorized: %s; log in again (POST /nave/v1/ui/login)", why);
	}
	sha256(value, UI_SESSION_ID_HEX, hash);
	memset(value, 0, sizeof(value));
	s = session_find(ui, hash);
	if (!s)
		return errbuf_set(err, -EACCES,
				  "Unauthorized: the session is unknown to this hub (logged out, or the hub restarted); "
				  "log in again (POST /nave/v1/ui/login)");
	if (session_expired(ui, s, time_now_us(), uv_now(hub_loop(ui->h)))) {
		session_end(ui, s, "expired");
		return errbuf_set(err, -EACCES, "Unauthorized: the session has expired; log in again "
				  "(POST /nave/v1/ui/login)");
	}
	*ret_s = s;
	return 1;
}

/* See ui.h. */
int ui_session_identity(struct hub *h, struct httpd_req *req, struct hub_identity *ret_id, struct errbuf *err)
{
	struct hub_identity id = {.kind = HUB_IDENT_ADMIN};
	struct ui_session *s = NULL;
	int r;

	if (!h->ui)
		return 0;
	r = session_of(h->ui, req, &s, err);
	if (r <= 0)
		return r;
	s->last_ms = uv_now(h->loop);
	h->ui->cur_serial = s->serial;
	snprintf(id.user, sizeof(id.user), "%s", HUB_ADMIN_USER);
	*ret_id = id;
	return 1;
}

/* See ui.h. */
uint64_t ui_session_current(struct hub *h)
{
	return h->ui && h->cur_id_session ? h->ui->cur_serial : 0;
}

/* See ui.h. */
bool ui_session_live(struct hub *h, uint64_t serial)
{
	size_t i;

	if (!h->ui || !serial)
		return false;
	for (i = 0; i < UI_SESSIONS_MAX; i++)
		if (h->ui->sessions[i].used && h->ui->sessions[i].serial == serial)
			return true;
	return false;
}

/* See ui.h. */
int ui_session_csrf_check(struct httpd_req *req, struct errbuf *err)
{
	const char *m = httpd_req_method(req), *v;

	if (!strcmp(m, "GET") || !strcmp(m, "HEAD"))
		return 0;
	v = httpd_req_header(req, "x-nave-ui");
	if (v && !strcmp(v, "1"))
		return 0;
	return errbuf_set(err, -EPERM,
			  "forbidden: a %s authenticated by the session cookie must carry the header "
			  "\"X-Nave-UI: 1\" (cross-site request protection)", m);
}

/* Login failures ------------------------------------------------------------------ */

/* Seconds until another login may be tried, or 0 when one may be now. */
static int login_retry_after(struct ui_ctl *ui, uint64_t now_ms)
{
	uint64_t oldest;

	while (ui->fail_n > 0) {
		oldest = ui->fail_ms[(ui->fail_head + UI_LOGIN_FAILURES_MAX - ui->fail_n) % UI_LOGIN_FAILURES_MAX];
		if (now_ms - oldest < UI_FAIL_WINDOW_MS)
			break;
		ui->fail_n--;
	}
	if (ui->fail_n < UI_LOGIN_FAILURES_MAX)
		return 0;
	oldest = ui->fail_ms[(ui->fail_head + UI_LOGIN_FAILURES_MAX - ui->fail_n) % UI_LOGIN_FAILURES_MAX];
	return (int)((oldest + UI_FAIL_WINDOW_MS - now_ms + 999) / 1000);
}

static void login_failed(struct ui_ctl *ui, uint64_t now_ms)
{
	ui->fail_ms[ui->fail_head] = now_ms;
	ui->fail_head = (ui->fail_head + 1) % UI_LOGIN_FAILURES_MAX;
	if (ui->fail_n < UI_LOGIN_FAILURES_MAX)
		ui->fail_n++;
}

/* Endpoints ------------------------------------------------------------------------ */

static void respond_session(struct hub *h, struct httpd_req *req, const struct ui_session *s)
{
	char exp[TIMEFMT_MAX];

	if (s)
		time_format_rfc3339(s->expires_us, exp);
	hub_respond_json(h, req, 200, json_pack("{s:s, s:o}", "user", HUB_ADMIN_USER, "expires",
						s ? json_string(exp) : json_null()));
}

static void login_http(struct hub *h, struct httpd_req *req)
{
	struct ui_ctl *ui = h->ui;
	char token[UI_LOGIN_TOKEN_MAX + 1], hex[UI_SESSION_ID_HEX + 1], hdr[256], ra[16];
	uint8_t id[UI_SESSION_ID_HEX / 2], hash[SHA256_LEN];
	uint64_t now_ms = uv_now(h->loop);
	struct ui_session *s = NULL;
	struct errbuf err;
	const char *body;
	size_t len = 0, i;
	int retry, r;

	if (strcmp(httpd_req_method(req), "POST")) {
		hub_respond_error(h, req, -EOPNOTSUPP, "the server does not allow this method on the requested resource");
		return;
	}
	retry = login_retry_after(ui, now_ms);
	if (retry > 0) {
		snprintf(ra, sizeof(ra), "%d", retry);
		httpd_add_header(req, "Retry-After", ra);
		hub_respond_json(h, req, 429, json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i, s:{s:i}}", "kind",
							"Status", "apiVersion", "v1", "metadata", "status",
							"Failure", "reason", "TooManyRequests", "message",
							"too many failed logins in the last minute; try again "
							"later (Retry-After)", "code", 429, "details",
							"retryAfterSeconds", retry));
		return;
	}
	body = httpd_req_body(req, &len);
	r = ui_login_parse(body, len, token, sizeof(token), &err);
	if (r < 0) {
		hub_respond_error(h, req, r, err.msg);
		return;
	}
	sha256(token, strlen(token), hash);
	memset(token, 0, sizeof(token));
	if (memcmp_const(hash, h->cfg.admin_hash, SHA256_LEN)) {
		login_failed(ui, now_ms);
		log_warn("web view: failed login from %s (%zu in the last minute)", httpd_req_peer_addr(req),
			 ui->fail_n);
		hub_respond_error(h, req, -EACCES,
				  "Unauthorized: token: not valid for this hub (use the token of the hub's "
				  "admin.kubeconfig, users[0].user.token)");
		return;
	}
	if ((r = random_bytes(id, sizeof(id))) < 0) {
		log_error("web view: cannot read random bytes for a session id: %s", strerror(-r));
		hub_respond_error(h, req, -EIO, "cannot make a session id");
		return;
	}
	hex_encode(id, sizeof(id), hex);
	memset(id, 0, sizeof(id));
	for (i = 0; i < UI_SESSIONS_MAX; i++)
		if (!ui->sessions[i].used)
			break;
	if (i == UI_SESSIONS_MAX) {
		/* full: drop the oldest */
		size_t oldest = 0;

		for (i = 1; i < UI_SESSIONS_MAX; i++)
			if (ui->sessions[i].serial < ui->sessions[oldest].serial) /* serials grow: no clock jumps */
				oldest = i;
		session_end(ui, &ui->sessions[oldest], "the oldest of the full table, dropped for a new one");
		i = oldest;
	}
	s = &ui->sessions[i];
	s->used = true;
	sha256(hex, UI_SESSION_ID_HEX, s->hash);
	s->serial = ++ui->next_serial;
	s->created_us = time_now_us();
	s->expires_us = s->created_us + ui->ttl_s * 1000000;
	s->last_ms = now_ms;
	ui->nsessions++;
	snprintf(hdr, sizeof(hdr), "%s=%s; %s; Max-Age=%lld", UI_COOKIE, hex, UI_COOKIE_ATTRS, (long long)ui->ttl_s);
	memset(hex, 0, sizeof(hex));
	httpd_add_header(req, "Set-Cookie", hdr);
	httpd_add_header(req, "Cache-Control", "no-store");
	memset(hdr, 0, sizeof(hdr));
	log_info("web view: login from %s; %zu sessions", httpd_req_peer_addr(req), ui->nsessions);
	respond_session(h, req, s);
}

static void logout_http(struct hub *h, struct httpd_req *req)
{
	struct ui_session *s = NULL;
	struct errbuf err;

	if (strcmp(httpd_req_method(req), "POST")) {
		hub_respond_error(h, req, -EOPNOTSUPP, "the server does not allow this method on the requested resource");
		return;
	}
	/* idempotent: without a live session it only clears the cookie */
	if (session_of(h->ui, req, &s, &err) > 0)
		session_end(h->ui, s, "logout");
	httpd_add_header(req, "Set-Cookie", UI_COOKIE "=; " UI_COOKIE_ATTRS "; Max-Age=0");
	httpd_add_header(req, "Cache-Control", "no-store");
	hub_respond_json(h, req, 200, json_object());
}

/* Whether the request is the admin's (a session or the bearer token);
 * answers 401/403 otherwise. */
static bool require_admin(struct hub *h, struct httpd_req *req)
{
	char msg[ERRBUF_MAX + 64];

	if (h->cur_id_rc < 0) {
		hub_respond_error(h, req, -EACCES, h->cur_id_err.msg);
		return false;
	}
	if (h->cur_id.kind == HUB_IDENT_ADMIN)
		return true;
	if (h->cur_id.kind == HUB_IDENT_ANONYMOUS || h->cur_id.kind == HUB_IDENT_BOOTSTRAP) {
		hub_respond_error(h, req, -EACCES,
				  "Unauthorized: log in (POST /nave/v1/ui/login) or send the admin token "
				  "(Authorization: Bearer <token of admin.kubeconfig>)");
		return false;
	}
	snprintf(msg, sizeof(msg), "forbidden: User \"%s\" cannot use the web view", h->cur_id.user);
	hub_respond_error(h, req, -EPERM, msg);
	return false;
}

static void session_http(struct hub *h, struct httpd_req *req)
{
	const char *m = httpd_req_method(req);

	if (strcmp(m, "GET") && strcmp(m, "HEAD")) {
		hub_respond_error(h, req, -EOPNOTSUPP, "the server does not allow this method on the requested resource");
		return;
	}
	if (!require_admin(h, req))
		return;
	if (!h->cur_id_session) {
		/* the bearer token: no session, no expiry */
		respond_session(h, req, NULL);
		return;
	}
	for (size_t i = 0; i < UI_SESSIONS_MAX; i++)
		if (h->ui->sessions[i].used && h->ui->sessions[i].serial == h->ui->cur_serial) {
			respond_session(h, req, &h->ui->sessions[i]);
			return;
		}
	hub_respond_error(h, req, -EACCES, "Unauthorized: the session has ended; log in again");
}

/* See ui.h. */
void ui_http(struct hub *h, struct httpd_req *req, char **segs, int n)
{
	if (!h->ui) {
		hub_respond_error(h, req, -EIO, "the web view is not started");
		return;
	}
	if (n == 1 && !strcmp(segs[0], "login")) {
		login_http(h, req);
		return;
	}
	if (n == 1 && !strcmp(segs[0], "logout")) {
		logout_http(h, req);
		return;
	}
	if (n == 1 && !strcmp(segs[0], "session")) {
		session_http(h, req);
		return;
	}
	if (n == 1 && !strcmp(segs[0], "events")) {
		if (strcmp(httpd_req_method(req), "GET")) {
			hub_respond_error(h, req, -EOPNOTSUPP,
					  "the server does not allow this method on the requested resource");
			return;
		}
		if (require_admin(h, req))
			ui_events_http(h, req, h->cur_id_session ? h->ui->cur_serial : 0);
		return;
	}
	if (require_admin(h, req))
		ui_api_http(h, req, segs, n);
}
