/* config.c - D/hub.json (what init decided) and the small parsers of flags.
 *
 * hub.json (mode 0600, written atomically):
 *   {"version": 1,                         format of this file
 *    "listen": "0.0.0.0:9443",             default listen address for serve
 *    "hubURL": "https://hub.example:9443", what agents are told to connect to
 *    "sans": ["hub.example"],              extra serving-certificate names (for re-issuing it)
 *    "adminTokenHash": "sha256:<64 hex>"}  SHA-256 of the admin bearer token
 * Unknown members are ignored (a newer init may add some); a version above
 * HUB_CONFIG_VERSION is refused.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "hub_int.h"
#include "ui.h"
#include "x509.h"

#define HUB_CONFIG_VERSION 1
#define HUB_CONFIG_MAX (64 * 1024)
#define HUB_SANS_MAX X509_SAN_MAX

/* See hub_int.h. */
int hub_parse_duration(const char *s, int64_t *ret_seconds)
{
	char *end;
	long long v;
	int64_t mul = 1;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || v < 0)
		return -EINVAL;
	if (*end) {
		if (end[1])
			return -EINVAL;
		switch (*end) {
		case 's':
			mul = 1;
			break;
		case 'm':
			mul = 60;
			break;
		case 'h':
			mul = 3600;
			break;
		case 'd':
			mul = 86400;
			break;
		default:
			return -EINVAL;
		}
	}
	if (v > (long long)(INT64_MAX / mul / 1000))
		return -EINVAL;
	*ret_seconds = (int64_t)v * mul;
	return 0;
}

/* One of the session flags: a duration within the bounds, or -EINVAL with
 * the flag named. */
static int ui_session_flag(const char *flag, const char *s, int64_t *ret_seconds, struct errbuf *err)
{
	int64_t v;

	if (hub_parse_duration(s, &v) < 0 || v < HUB_UI_SESSION_MIN_S || v > HUB_UI_SESSION_MAX_S)
		return errbuf_set(err, -EINVAL, "%s %s: expected a duration of 1s..30d (like 90s, 30m, 12h)",
				  flag, s);
	*ret_seconds = v;
	return 0;
}

/* See hub_int.h. */
int hub_parse_ui_sessions(const char *ttl, const char *idle, int64_t *ret_ttl_s, int64_t *ret_idle_s,
			  struct errbuf *err)
{
	int64_t t = UI_SESSION_TTL_S, i = UI_SESSION_IDLE_S;
	int r;

	if (ttl && (r = ui_session_flag("--ui-session-ttl", ttl, &t, err)) < 0)
		return r;
	if (idle && (r = ui_session_flag("--ui-session-idle", idle, &i, err)) < 0)
		return r;
	if (!idle && i > t)
		i = t;
	if (i > t)
		return errbuf_set(err, -EINVAL,
				  "--ui-session-idle %s: longer than the session's lifetime (--ui-session-ttl, %llds)",
				  idle, (long long)t);
	*ret_ttl_s = t;
	*ret_idle_s = i;
	return 0;
}

/* See hub_int.h. */
int hub_parse_listen(const char *s, char **ret_host, int *ret_port, struct errbuf *err)
{
	const char *colon, *host = "", *port_s;
	size_t hlen = 0;
	char *end;
	long port;

	if (!s || !*s || strlen(s) > 300)
		return errbuf_set(err, -EINVAL, "--listen: expected HOST:PORT, :PORT or PORT");
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return errbuf_set(err, -EINVAL, "--listen %s: expected [IPV6]:PORT", s);
		host = s + 1;
		hlen = (size_t)(rb - s - 1);
		port_s = rb + 2;
	} else if ((colon = strrchr(s, ':'))) {
		host = s;
		hlen = (size_t)(colon - s);
		port_s = colon + 1;
	} else {
		port_s = s;
	}
	errno = 0;
	port = strtol(port_s, &end, 10);
	if (!*port_s || *end || errno || port < 0 || port > 65535)
		return errbuf_set(err, -EINVAL, "--listen %s: the port must be 0..65535", s);
	*ret_host = xstrndup(host, hlen);
	*ret_port = (int)port;
	return 0;
}

/* See hub_int.h. */
int hub_url_host(const char *url, char *out, size_t outlen)
{
	const char *p = strstr(url, "://"), *end;
	size_t n;

	p = p ? p + 3 : url;
	if (*p == '[') {
		p++;
		end = strchr(p, ']');
		if (!end)
			return -EINVAL;
	} else {
		end = p + strcspn(p, ":/");
	}
	n = (size_t)(end - p);
	if (n == 0 || n >= outlen)
		return -EINVAL;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* See hub_int.h. */
char *hub_url_with_port(const char *url, int port)
{
	const char *p = strstr(url, "://"), *hend, *rest;

	p = p ? p + 3 : url;
	if (*p == '[') {
		hend = strchr(p, ']');
		hend = hend ? hend + 1 : p + strlen(p);
	} else {
		hend = p + strcspn(p, ":/");
	}
	rest = hend;
	if (*rest == ':')
		rest += strcspn(rest, "/");
	return xasprintf("%.*s:%d%s", (int)(hend - url), url, port, rest);
}

/* See hub_int.h. */
void hub_config_free(struct hub_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->data_dir);
	free(cfg->listen_host);
	free(cfg->hub_url);
	if (cfg->sans)
		for (size_t i = 0; cfg->sans[i]; i++)
			free(cfg->sans[i]);
	free(cfg->sans);
	memset(cfg, 0, sizeof(*cfg));
}

/* See hub_int.h. */
int hub_config_load(struct hub_config *cfg, struct errbuf *err)
{
	char *path = xasprintf("%s/hub.json", cfg->data_dir), *text = NULL;
	const char *listen, *url, *hash;
	json_t *j = NULL, *sans;
	json_error_t je;
	size_t len, i;
	int r;

	r = x509_file_read(path, HUB_CONFIG_MAX, &text, &len, err);
	if (r == -ENOENT) {
		r = errbuf_set(err, -ENOENT, "%s does not exist: run nave-hub init --data-dir %s first", path,
			       cfg->data_dir);
		goto out;
	}
	if (r < 0)
		goto out;
	j = json_loadb(text, len, 0, &je);
	if (!j || !json_is_object(j)) {
		r = errbuf_set(err, -EINVAL, "%s: not a JSON object (%s)", path, j ? "" : je.text);
		goto out;
	}
	if (json_integer_value(json_object_get(j, "version")) > HUB_CONFIG_VERSION) {
		r = errbuf_set(err, -EPROTO, "%s: version %lld is newer than this nave-hub understands", path,
			       (long long)json_integer_value(json_object_get(j, "version")));
		goto out;
	}
	listen = json_string_value(json_object_get(j, "listen"));
	url = json_string_value(json_object_get(j, "hubURL"));
	hash = json_string_value(json_object_get(j, "adminTokenHash"));
	if (!listen || !url || !hash || strncmp(hash, "sha256:", 7) || strlen(hash) != 7 + SHA256_HEX_LEN ||
	    hex_decode(hash + 7, cfg->admin_hash, SHA256_LEN) < 0) {
		r = errbuf_set(err, -EINVAL, "%s: listen, hubURL and adminTokenHash (sha256:<64 hex>) are required",
			       path);
		goto out;
	}
	free(cfg->listen_host);
	cfg->listen_host = NULL;
	if ((r = hub_parse_listen(listen, &cfg->listen_host, &cfg->port, err)) < 0)
		goto out;
	free(cfg->hub_url);
	cfg->hub_url = xstrdup(url);
	sans = json_object_get(j, "sans");
	if (cfg->sans)
		for (i = 0; cfg->sans[i]; i++)
			free(cfg->sans[i]);
	free(cfg->sans);
	cfg->sans = xcalloc(HUB_SANS_MAX + 1, sizeof(char *));
	for (i = 0; i < json_array_size(sans) && i < HUB_SANS_MAX; i++)
		if (json_is_string(json_array_get(sans, i)))
			cfg->sans[i] = xstrdup(json_string_value(json_array_get(sans, i)));
	r = 0;
out:
	json_decref(j);
	free(text);
	free(path);
	return r;
}

/* See hub_int.h. */
int hub_config_save(const struct hub_config *cfg, struct errbuf *err)
{
	char *path = xasprintf("%s/hub.json", cfg->data_dir), *listen, *text;
	char hex[SHA256_HEX_LEN + 1], hash[8 + SHA256_HEX_LEN];
	json_t *j, *sans = json_array();
	int r;

	if (strchr(cfg->listen_host, ':'))
		listen = xasprintf("[%s]:%d", cfg->listen_host, cfg->port);
	else
		listen = xasprintf("%s:%d", cfg->listen_host, cfg->port);
	hex_encode(cfg->admin_hash, SHA256_LEN, hex);
	snprintf(hash, sizeof(hash), "sha256:%s", hex);
	for (size_t i = 0; cfg->sans && cfg->sans[i]; i++)
		json_array_append_new(sans, json_string(cfg->sans[i]));
	j = json_pack("{s:i, s:s, s:s, s:o, s:s}", "version", HUB_CONFIG_VERSION, "listen", listen, "hubURL",
		      cfg->hub_url, "sans", sans, "adminTokenHash", hash);
	text = json_dumps(j, JSON_INDENT(2));
	r = x509_file_write(path, text, strlen(text), 0600, err);
	free(text);
	json_decref(j);
	free(listen);
	free(path);
	return r;
}
