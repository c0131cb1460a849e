/* ui_static.c - the page's static files: "/", "/ui/" and "/ui/<asset>" (ui.h).
 *
 * The files of hub/ui/ are built into nave-hub (tools/embed writes
 * ui_assets.h: bytes, media type from the extension, and a strong ETag, the
 * SHA-256 of the bytes, computed at build time), so the hub needs no data
 * directory and serves exactly what it was built with. They hold no data, so
 * serve.c answers them before any authentication. Every answer (also 302,
 * 304, 404 and 405) carries the strict Content-Security-Policy UI_CSP and
 * the headers below; assets are revalidated on every load (Cache-Control:
 * no-cache) and a matching If-None-Match gets 304 without a body.
 *
 * Names are looked up in the embedded table only: a name is one path
 * segment of [A-Za-z0-9._-] not starting with '.', so "..", "%2e%2e" (httpd
 * decodes the path), "a/b" and every unknown name are 404.
 */
#include <stdio.h>
#include <string.h>

#include "httpd.h"
#include "hub_int.h"
#include "ui.h"

struct ui_asset_file {
	const char *name;
	const char *text;
	size_t len;
	const char *type;
	const char *etag;
};

#include "ui_assets.h"

#define UI_ASSET_NAME_MAX 128
#define UI_INM_MAX 1024 /* If-None-Match values longer than this are ignored */

/* See ui.h. */
bool ui_static_path(const char *path)
{
	return !strcmp(path, "/") || !strcmp(path, "/ui") || !strncmp(path, "/ui/", 4);
}

static void common_headers(struct httpd_req *req)
{
	httpd_add_header(req, "Content-Security-Policy", UI_CSP);
	httpd_add_header(req, "X-Content-Type-Options", "nosniff");
	httpd_add_header(req, "Referrer-Policy", "no-referrer");
	httpd_add_header(req, "X-Frame-Options", "DENY");
	httpd_add_header(req, "Cache-Control", "no-cache");
}

static const struct ui_asset_file *asset_find(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > UI_ASSET_NAME_MAX || name[0] == '.')
		return NULL;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '-' || *p == '_'))
			return NULL;
	for (size_t i = 0; i < sizeof(ui_asset_files) / sizeof(ui_asset_files[0]); i++)
		if (!strcmp(ui_asset_files[i].name, name))
			return &ui_asset_files[i];
	return NULL;
}

/* Whether an If-None-Match value (a list of entity tags, or "*") matches
 * etag, by the weak comparison RFC 9110 asks for this header. */
static bool etag_matches(const char *inm, const char *etag)
{
	size_t el = strlen(etag);
	const char *p = inm;

	if (strlen(inm) > UI_INM_MAX)
		return false;
	while (*p) {
		const char *end, *e;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		if (*p == '*')
			return true;
		if (!strncmp(p, "W/", 2))
			p += 2;
		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		e = end;
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - p) == el && !memcmp(p, etag, el))
			return true;
		p = end;
	}
	return false;
}

static void not_found(struct httpd_req *req)
{
	static const char msg[] = "404 page not found\n";

	httpd_respond(req, 404, "text/plain; charset=utf-8", msg, sizeof(msg) - 1);
}

/* See ui.h. */
void ui_static_http(struct hub *h, struct httpd_req *req)
{
	const char *path = httpd_req_path(req), *m = httpd_req_method(req), *inm;
	const struct ui_asset_file *a;
	bool head = !strcmp(m, "HEAD");

	(void)h;
	common_headers(req);
	if (strcmp(m, "GET") && !head) {
		static const char msg[] = "405 method not allowed: GET or HEAD\n";

		httpd_add_header(req, "Allow", "GET, HEAD");
		httpd_respond(req, 405, "text/plain; charset=utf-8", msg, sizeof(msg) - 1);
		return;
	}
	if (!strcmp(path, "/") || !strcmp(path, "/ui")) {
		httpd_add_header(req, "Location", "/ui/");
		httpd_respond(req, 302, "text/plain; charset=utf-8", "", 0);
		return;
	}
	a = asset_find(!strcmp(path, "/ui/") ? "index.html" : path + 4);
	if (!a) {
		not_found(req);
		return;
	}
	httpd_add_header(req, "ETag", a->etag);
	inm = httpd_req_header(req, "if-none-match");
	if (inm && etag_matches(inm, a->etag)) {
		httpd_respond(req, 304, NULL, "", 0);
		return;
	}
	/* httpd writes no body for HEAD, with the Content-Length of this one */
	httpd_respond(req, 200, a->type, a->text, a->len);
}
