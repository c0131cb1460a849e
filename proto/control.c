/* control.c - hello, heartbeat and error events: payload checks, the error
 * code table, constructors, and the reply to an event that failed to decode.
 * See control.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "control.h"
#include "proto_int.h"
#include "version.h"

struct code_map {
	const char *name;
	int err;  /* the errno the name reads back as */
};

static const struct code_map codes[] = {
	{ PROTO_ERR_MALFORMED, -EINVAL },
	{ PROTO_ERR_TOO_LARGE, -E2BIG },
	{ PROTO_ERR_UNSUPPORTED_VERSION, -EPROTONOSUPPORT },
	{ PROTO_ERR_UNKNOWN_TYPE, -ENOTSUP },
	{ PROTO_ERR_PROTOCOL, -EPROTO },
	{ PROTO_ERR_FORBIDDEN, -EPERM },
	{ PROTO_ERR_NOT_FOUND, -ENOENT },
	{ PROTO_ERR_OVERLOADED, -EAGAIN },
	{ PROTO_ERR_INTERNAL, -EIO },
};

const char *proto_error_code_name(int err)
{
	switch (err) {
	case -EINVAL:
	case -EBADMSG:
		return PROTO_ERR_MALFORMED;
	case -E2BIG:
	case -EMSGSIZE:
		return PROTO_ERR_TOO_LARGE;
	case -EPROTONOSUPPORT:
		return PROTO_ERR_UNSUPPORTED_VERSION;
	case -ENOTSUP:
		return PROTO_ERR_UNKNOWN_TYPE;
	case -EPROTO:
		return PROTO_ERR_PROTOCOL;
	case -EPERM:
	case -EACCES:
		return PROTO_ERR_FORBIDDEN;
	case -ENOENT:
		return PROTO_ERR_NOT_FOUND;
	case -EAGAIN:
	case -EBUSY:
	case -ENOBUFS:
		return PROTO_ERR_OVERLOADED;
	default:
		return PROTO_ERR_INTERNAL;
	}
}

int proto_error_code_errno(const char *code)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (code && strcmp(codes[i].name, code) == 0)
			return codes[i].err;
	return -EIO;
}

int proto_check_hello(struct pctx *c, const json_t *data)
{
	unsigned major, minor;
	const char *s;
	int r;

	if (!json_is_object(data))
		return pctx_fail(c, -EINVAL, NULL, "must be an object, not %s", p_json_type_name(data));
	r = p_string(c, data, "protocolVersion", true, false, 16, &s);
	if (r == -E2BIG || (r == 0 && proto_version_parse(s, &major, &minor) < 0))
		return pctx_fail(c, -EINVAL, "protocolVersion", "must be \"MAJOR.MINOR\"");
	if (r < 0)
		return r;
	r = p_string(c, data, "software", false, false, c->lim->max_source_bytes, &s);
	if (r < 0)
		return r;
	return p_int(c, data, "heartbeatSeconds", false, 1, PROTO_HEARTBEAT_SECONDS_MAX, NULL, NULL);
}

static bool valid_code(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PROTO_ERROR_CODE_MAX)
		return false;
	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

int proto_check_error(struct pctx *c, const json_t *data)
{
	const char *s;
	int r;

	if (!json_is_object(data))
		return pctx_fail(c, -EINVAL, NULL, "must be an object, not %s", p_json_type_name(data));
	r = p_string(c, data, "code", true, false, PROTO_ERROR_CODE_MAX, &s);
	if (r == 0 && !valid_code(s))
		return pctx_fail(c, -EINVAL, "code", "must be letters and digits, starting with a letter");
	if (r < 0)
		return r;
	r = p_string(c, data, "message", true, false, c->lim->max_message_bytes, &s);
	if (r < 0)
		return r;
	r = p_string(c, data, "eventID", false, false, c->lim->max_id_bytes, &s);
	if (r == 0 && s && !p_is_token(s))
		return pctx_fail(c, -EINVAL, "eventID", "must be printable ASCII without spaces");
	if (r < 0)
		return r;
	r = p_string(c, data, "eventType", false, false, c->lim->max_source_bytes, &s);
	if (r < 0)
		return r;
	return p_bool(c, data, "fatal", false, NULL, NULL);
}

struct proto_event *proto_event_new_hello(const char *source, const char *clustername,
					  const char *software, unsigned heartbeat_seconds)
{
	struct proto_event *ev = proto_event_new(PROTO_EV_HELLO, source);
	json_t *data = json_object();

	ev->clustername = xstrdup(clustername);
	json_object_set_new(data, "protocolVersion", json_string(proto_version_string()));
	if (software)
		json_object_set_new(data, "software", json_string(software));
	if (heartbeat_seconds)
		json_object_set_new(data, "heartbeatSeconds", json_integer(heartbeat_seconds));
	ev->data = data;
	return ev;
}

int proto_hello_version(const struct proto_event *ev, unsigned *ret_major, unsigned *ret_minor)
{
	const char *s;

	if (ev->kind != PROTO_EV_HELLO)
		return -EINVAL;
	s = json_string_value(json_object_get(ev->data, "protocolVersion"));
	return proto_version_parse(s, ret_major, ret_minor);
}

struct proto_event *proto_event_new_heartbeat(const char *source, const char *clustername)
{
	struct proto_event *ev = proto_event_new(PROTO_EV_HEARTBEAT, source);

	ev->clustername = xstrdup(clustername);
	return ev;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s)
{
	size_t n;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/* A copy of s of at most max bytes, invalid UTF-8 bytes replaced by '?',
 * never cutting a character. Caller frees. */
static char *utf8_clean(const char *s, size_t max)
{
	size_t len = strlen(s), o = 0;
	char *out = xmalloc(len + 1);

	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq((const unsigned char *)s + i);

		if (o + (n ? n : 1) > max)
			break;
		if (n == 0) {
			out[o++] = '?';
			i++;
		} else {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		}
	}
	out[o] = '\0';
	return out;
}

struct proto_event *proto_event_new_error(const char *source, const char *clustername, int err,
					  const char *message, const char *event_id,
					  const char *event_type, bool fatal)
{
	struct proto_event *ev = proto_event_new(PROTO_EV_ERROR, source);
	json_t *data = json_object();
	char *msg = utf8_clean(message && *message ? message : "error", proto_limits_default.max_message_bytes);

	ev->clustername = xstrdup(clustername);
	json_object_set_new(data, "code", json_string(proto_error_code_name(err)));
	json_object_set_new(data, "message", json_string(msg));
	if (event_id)
		json_object_set_new(data, "eventID", json_string(event_id));
	if (event_type)
		json_object_set_new(data, "eventType", json_string(event_type));
	if (fatal)
		json_object_set_new(data, "fatal", json_true());
	ev->data = data;
	free(msg);
	return ev;
}

struct proto_event *proto_error_reply(const char *buf, size_t len, const struct proto_limits *lim,
				      int err, const char *msg, const char *source,
				      const char *clustername)
{
	const struct proto_limits *l = proto_lim(lim);
	const char *id = NULL, *type = NULL;
	struct proto_event *ev;
	char *type_clean = NULL;
	json_t *root = NULL;

	if (buf && len <= l->max_event_bytes)
		root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(root)) {
		json_t *v = json_object_get(root, "id");

		if (json_is_string(v) && json_string_length(v) <= l->max_id_bytes &&
		    json_string_length(v) == strlen(json_string_value(v)) && p_is_token(json_string_value(v)))
			id = json_string_value(v);
		v = json_object_get(root, "type");
		if (json_is_string(v) && json_string_length(v) > 0 &&
		    json_string_length(v) == strlen(json_string_value(v))) {
			type_clean = utf8_clean(json_string_value(v), l->max_source_bytes);
			if (*type_clean)
				type = type_clean;
		}
	}
	ev = proto_event_new_error(source, clustername, err, msg, id, type, err == -EPROTONOSUPPORT);
	free(type_clean);
	json_decref(root);
	return ev;
}
