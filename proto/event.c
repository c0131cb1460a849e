/* event.c - the CloudEvents envelope: the kind table, decode, encode, equality.
 *
 * One table says, for every event kind, its wire type, who sends it, which
 * extensions it requires or allows, whether it carries data and which
 * validator checks that data. Decoding and encoding both run the same check
 * (event_check) over the JSON object, so an encoded event is by construction
 * one the decoder accepts: encode builds the object, checks it exactly as
 * decode would and serialises it with jansson, whose output parses back to an
 * equal object (the tree check refuses the only things it could not: NUL in
 * strings and excessive nesting).
 *
 * Pure functions; no global state except the table. Called on the daemons'
 * event loops: decode costs one parse and one walk of the event.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "event.h"
#include "kobj.h"
#include "proto_int.h"
#include "timefmt.h"
#include "version.h"

enum ext_id {
	EXT_CLUSTERNAME,
	EXT_RESOURCEID,
	EXT_RESOURCEVERSION,
	EXT_SEQUENCEID,
	EXT_STATUSHASH,
	EXT_DELETIONTIMESTAMP,
	EXT_ORIGINALSOURCE,
	EXT_METADATA,
	EXT__COUNT
};

static const char *const ext_names[EXT__COUNT] = {
	[EXT_CLUSTERNAME] = "clustername",
	[EXT_RESOURCEID] = "resourceid",
	[EXT_RESOURCEVERSION] = "resourceversion",
	[EXT_SEQUENCEID] = "sequenceid",
	[EXT_STATUSHASH] = "statushash",
	[EXT_DELETIONTIMESTAMP] = "deletiontimestamp",
	[EXT_ORIGINALSOURCE] = "originalsource",
	[EXT_METADATA] = "metadata",
};

/* How a kind uses an extension. Ignored ones are skipped by decode (a newer
 * peer may send them) and refused by encode (a programming error here). */
enum ext_use { U_IGNORED = 0, U_OPTIONAL, U_REQUIRED };

/* How a kind uses data. D_NONE: ignored on decode, refused by encode. */
enum data_rule { D_NONE = 0, D_OPTIONAL, D_REQUIRED, D_UNLESS_DELETING };

struct kind_info {
	const char *type;
	unsigned senders;      /* enum proto_peer mask */
	unsigned since_minor;  /* protocol minor that introduced the kind */
	unsigned char ext[EXT__COUNT];
	enum data_rule data;
	int (*check)(struct pctx *c, const json_t *data);
};

#define R U_REQUIRED
#define O U_OPTIONAL
/* The extensions of work (spec) events. */
#define SPEC_EXT(deletion) { [EXT_CLUSTERNAME] = R, [EXT_RESOURCEID] = R, [EXT_RESOURCEVERSION] = R, \
	[EXT_DELETIONTIMESTAMP] = (deletion), [EXT_ORIGINALSOURCE] = O, [EXT_METADATA] = O }
/* The extensions of status updates. */
#define STATUS_EXT { [EXT_CLUSTERNAME] = R, [EXT_RESOURCEID] = R, [EXT_RESOURCEVERSION] = R, \
	[EXT_SEQUENCEID] = R, [EXT_STATUSHASH] = R, [EXT_DELETIONTIMESTAMP] = O, \
	[EXT_ORIGINALSOURCE] = O, [EXT_METADATA] = O }

static const struct kind_info kinds[PROTO_EV__COUNT] = {
	[PROTO_EV_SPEC_CREATE] = { PROTO_TYPE_SPEC_CREATE, PROTO_PEER_HUB, 0, SPEC_EXT(U_IGNORED),
				   D_REQUIRED, proto_check_bundle },
	[PROTO_EV_SPEC_UPDATE] = { PROTO_TYPE_SPEC_UPDATE, PROTO_PEER_HUB, 0, SPEC_EXT(O), D_REQUIRED,
				   proto_check_bundle },
	[PROTO_EV_SPEC_DELETE] = { PROTO_TYPE_SPEC_DELETE, PROTO_PEER_HUB, 0, SPEC_EXT(R), D_OPTIONAL,
				   proto_check_bundle },
	[PROTO_EV_SPEC_RESYNC_REQUEST] = { PROTO_TYPE_SPEC_RESYNC_REQUEST, PROTO_PEER_AGENT, 0,
					   { [EXT_CLUSTERNAME] = R }, D_REQUIRED,
					   proto_check_resync_versions },
	[PROTO_EV_SPEC_RESYNC_RESPONSE] = { PROTO_TYPE_SPEC_RESYNC_RESPONSE, PROTO_PEER_HUB, 0,
					    SPEC_EXT(O), D_UNLESS_DELETING, proto_check_bundle },
	[PROTO_EV_STATUS_UPDATE] = { PROTO_TYPE_STATUS_UPDATE, PROTO_PEER_AGENT, 0, STATUS_EXT,
				     D_REQUIRED, proto_check_status },
	[PROTO_EV_STATUS_RESYNC_REQUEST] = { PROTO_TYPE_STATUS_RESYNC_REQUEST, PROTO_PEER_HUB, 0,
					     { [EXT_CLUSTERNAME] = R }, D_REQUIRED,
					     proto_check_resync_hashes },
	[PROTO_EV_STATUS_RESYNC_RESPONSE] = { PROTO_TYPE_STATUS_RESYNC_RESPONSE, PROTO_PEER_AGENT, 0,
					      STATUS_EXT, D_REQUIRED, proto_check_status },
	[PROTO_EV_STATUS_ACK] = { PROTO_TYPE_STATUS_ACK, PROTO_PEER_HUB, 0,
				  { [EXT_CLUSTERNAME] = R, [EXT_RESOURCEID] = R, [EXT_SEQUENCEID] = R },
				  D_NONE, NULL },
	[PROTO_EV_HEARTBEAT] = { PROTO_TYPE_HEARTBEAT, PROTO_PEER_HUB | PROTO_PEER_AGENT, 0,
				 { [EXT_CLUSTERNAME] = O }, D_NONE, NULL },
	[PROTO_EV_HELLO] = { PROTO_TYPE_HELLO, PROTO_PEER_HUB | PROTO_PEER_AGENT, 0,
			     { [EXT_CLUSTERNAME] = O }, D_REQUIRED, proto_check_hello },
	[PROTO_EV_ERROR] = { PROTO_TYPE_ERROR, PROTO_PEER_HUB | PROTO_PEER_AGENT, 0,
			     { [EXT_CLUSTERNAME] = O }, D_REQUIRED, proto_check_error },
	[PROTO_EV_LEASE_UPDATE] = { PROTO_TYPE_LEASE_UPDATE, PROTO_PEER_AGENT, 0,
				    { [EXT_CLUSTERNAME] = R }, D_REQUIRED, proto_check_lease },
	[PROTO_EV_CERT_RENEW_REQUEST] = { PROTO_TYPE_CERT_RENEW_REQUEST, PROTO_PEER_AGENT, 0,
					  { [EXT_CLUSTERNAME] = R }, D_REQUIRED,
					  proto_check_cert_request },
	[PROTO_EV_CERT_RENEW_RESPONSE] = { PROTO_TYPE_CERT_RENEW_RESPONSE, PROTO_PEER_HUB, 0,
					   { [EXT_CLUSTERNAME] = R }, D_REQUIRED,
					   proto_check_cert_response },
};

#undef R
#undef O

static const struct kind_info *kind_info(enum proto_event_kind kind)
{
	if (kind <= PROTO_EV_INVALID || kind >= PROTO_EV__COUNT)
		return NULL;
	return &kinds[kind];
}

const char *proto_event_kind_type(enum proto_event_kind kind)
{
	const struct kind_info *k = kind_info(kind);

	return k ? k->type : "";
}

enum proto_event_kind proto_event_kind_from_type(const char *type)
{
	if (!type)
		return PROTO_EV_INVALID;
	for (int i = PROTO_EV_INVALID + 1; i < PROTO_EV__COUNT; i++)
		if (strcmp(kinds[i].type, type) == 0)
			return (enum proto_event_kind)i;
	return PROTO_EV_INVALID;
}

unsigned proto_event_kind_senders(enum proto_event_kind kind)
{
	const struct kind_info *k = kind_info(kind);

	return k ? k->senders : 0;
}

unsigned proto_event_kind_since_minor(enum proto_event_kind kind)
{
	const struct kind_info *k = kind_info(kind);

	return k ? k->since_minor : 0;
}

/* A random (version 4) UUID; falls back to time and a counter should the
 * kernel refuse randomness, since ids need to be unique, not secret. */
static void new_uuid(char out[PROTO_UUID_LEN + 1])
{
	static uint64_t counter;
	uint8_t b[16];
	char hex[33];

	if (random_bytes(b, sizeof(b)) < 0) {
		uint64_t t = (uint64_t)time_now_us(), n = ++counter;

		memcpy(b, &t, 8);
		memcpy(b + 8, &n, 8);
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	hex_encode(b, sizeof(b), hex);
	snprintf(out, PROTO_UUID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
		 hex + 20);
}

struct proto_event *proto_event_new(enum proto_event_kind kind, const char *source)
{
	struct proto_event *ev = xnew(struct proto_event);
	char id[PROTO_UUID_LEN + 1];

	new_uuid(id);
	ev->kind = kind;
	ev->type = xstrdup(proto_event_kind_type(kind));
	ev->id = xstrdup(id);
	ev->source = xstrdup(source);
	ev->has_time = true;
	ev->time_us = time_now_us();
	return ev;
}

struct proto_event *proto_event_free(struct proto_event *ev)
{
	if (!ev)
		return NULL;
	free(ev->type);
	free(ev->id);
	free(ev->source);
	free(ev->clustername);
	free(ev->resourceid);
	free(ev->statushash);
	free(ev->originalsource);
	json_decref(ev->metadata);
	json_decref(ev->data);
	free(ev);
	return NULL;
}

void proto_event_set_data(struct proto_event *ev, json_t *data)
{
	json_t *old = ev->data;

	ev->data = json_incref(data);
	json_decref(old);
}

/* A printable-token attribute: required or not, 1..max bytes. */
static int check_token(struct pctx *c, const json_t *root, const char *key, bool required,
		       size_t max, const char **ret)
{
	int r = p_string(c, root, key, required, false, max, ret);

	if (r < 0)
		return r;
	if (*ret && !p_is_token(*ret))
		return pctx_fail(c, -EINVAL, key, "must be printable ASCII without spaces");
	return 0;
}

/* labels or annotations of the metadata extension: an object of strings. */
static int check_string_map(struct pctx *c, const json_t *meta, const char *key)
{
	const char *k;
	json_t *map, *v;
	size_t mark;
	int r;

	r = p_object(c, meta, key, false, &map);
	if (r < 0 || !map)
		return r;
	json_object_foreach(map, k, v) {
		if (json_is_string(v))
			continue;
		mark = pctx_key(c, key);
		r = pctx_fail(c, -EINVAL, k, "must be a string, not %s", p_json_type_name(v));
		pctx_pop(c, mark);
		return r;
	}
	return 0;
}

/* The metadata extension: a string holding a JSON object (the work's
 * ObjectMeta). On success *ret (when ret is not NULL) is the parsed object. */
static int check_metadata(struct pctx *c, const char *text, json_t **ret)
{
	static const char *const names[] = { "name", "namespace", "uid", "resourceVersion", NULL };
	json_error_t jerr;
	json_t *meta;
	const char *s;
	size_t mark;
	int r;

	meta = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!meta)
		return pctx_fail(c, -EINVAL, "metadata", "invalid JSON: %s", jerr.text);
	mark = pctx_key(c, "metadata");
	if (!json_is_object(meta)) {
		r = pctx_fail(c, -EINVAL, NULL, "must be a JSON object, not %s", p_json_type_name(meta));
		goto out;
	}
	r = p_check_tree(c, meta);
	for (const char *const *n = names; r == 0 && *n; n++)
		r = p_string(c, meta, *n, false, true, c->lim->max_name_bytes, &s);
	if (r == 0)
		r = p_int(c, meta, "generation", false, 0, INT64_MAX, NULL, NULL);
	if (r == 0)
		r = check_string_map(c, meta, "labels");
	if (r == 0)
		r = check_string_map(c, meta, "annotations");
out:
	pctx_pop(c, mark);
	if (r < 0 || !ret)
		json_decref(meta);
	else
		*ret = meta;
	return r;
}

/* Read one extension into ev (when ev is not NULL). Absent: *ret_present false. */
static int check_ext(struct pctx *c, const json_t *root, enum ext_id id, struct proto_event *ev,
		     bool *ret_present)
{
	const char *name = ext_names[id];
	json_t *v = p_get(root, name);
	const char *s = NULL;
	int64_t i64 = 0;
	uint64_t u64 = 0;
	json_t *meta = NULL;
	int r;

	*ret_present = v != NULL;
	if (!v)
		return 0;
	switch (id) {
	case EXT_CLUSTERNAME:
		r = p_string(c, root, name, true, false, 63, &s);
		if (r < 0)
			return r;
		if (!kobj_valid_label_name(s))
			return pctx_fail(c, -EINVAL, name, "\"%s\" is not a DNS-1123 label", s);
		if (ev)
			ev->clustername = xstrdup(s);
		return 0;
	case EXT_RESOURCEID:
		r = p_string(c, root, name, true, false, PROTO_UUID_LEN, &s);
		if (r < 0)
			return r == -E2BIG ? pctx_fail(c, -EINVAL, name, "must be a lowercase UUID") : r;
		if (!p_is_uuid(s))
			return pctx_fail(c, -EINVAL, name, "must be a lowercase UUID");
		if (ev)
			ev->resourceid = xstrdup(s);
		return 0;
	case EXT_RESOURCEVERSION:
		if (json_is_integer(v)) {
			i64 = json_integer_value(v);
			if (i64 < 0)
				return pctx_fail(c, -EINVAL, name, "must not be negative");
		} else if (json_is_string(v)) {
			if (json_string_length(v) > 20 || !p_parse_u64(json_string_value(v), &u64) ||
			    u64 > INT64_MAX)
				return pctx_fail(c, -EINVAL, name, "must be a decimal integer in [0, 2^63-1]");
			i64 = (int64_t)u64;
		} else {
			return pctx_fail(c, -EINVAL, name, "must be an integer, not %s", p_json_type_name(v));
		}
		if (ev) {
			ev->has_resourceversion = true;
			ev->resourceversion = i64;
		}
		return 0;
	case EXT_SEQUENCEID:
		if (json_is_integer(v)) {
			if (json_integer_value(v) < 1)
				return pctx_fail(c, -EINVAL, name, "must be at least 1");
			u64 = (uint64_t)json_integer_value(v);
		} else if (json_is_string(v)) {
			if (json_string_length(v) > 20 || !p_parse_u64(json_string_value(v), &u64) || u64 == 0)
				return pctx_fail(c, -EINVAL, name, "must be a decimal integer in [1, 2^64-1]");
		} else {
			return pctx_fail(c, -EINVAL, name, "must be a decimal string, not %s", p_json_type_name(v));
		}
		if (ev)
			ev->sequenceid = u64;
		return 0;
	case EXT_STATUSHASH:
		r = p_string(c, root, name, true, false, PROTO_STATUSHASH_LEN, &s);
		if (r < 0)
			return r == -E2BIG ? pctx_fail(c, -EINVAL, name, "must be 64 lowercase hex digits") : r;
		if (!p_is_hex64(s))
			return pctx_fail(c, -EINVAL, name, "must be 64 lowercase hex digits");
		if (ev)
			ev->statushash = xstrdup(s);
		return 0;
	case EXT_DELETIONTIMESTAMP:
		r = p_time(c, root, name, true, NULL, &i64);
		if (r < 0)
			return r;
		if (ev) {
			ev->has_deletiontimestamp = true;
			ev->deletiontimestamp_us = i64;
		}
		return 0;
	case EXT_ORIGINALSOURCE:
		r = check_token(c, root, name, true, c->lim->max_source_bytes, &s);
		if (r < 0)
			return r;
		if (ev)
			ev->originalsource = xstrdup(s);
		return 0;
	case EXT_METADATA:
		r = p_string(c, root, name, true, false, c->lim->max_metadata_bytes, &s);
		if (r < 0)
			return r;
		r = check_metadata(c, s, ev ? &meta : NULL);
		if (r < 0)
			return r;
		if (ev)
			ev->metadata = meta;
		return 0;
	case EXT__COUNT:
		break;
	}
	return -EINVAL;
}

/* Check root as an event; fill ev (if not NULL) with what it holds. */
static int event_check(struct pctx *c, const json_t *root, struct proto_event *ev)
{
	const struct kind_info *k;
	enum proto_event_kind kind;
	const char *s, *type;
	bool deleting = false;
	json_t *data;
	int r;

	if (!json_is_object(root))
		return pctx_fail(c, -EINVAL, NULL, "must be a JSON object, not %s", p_json_type_name(root));
	r = p_check_tree(c, root);
	if (r < 0)
		return r;
	r = p_string(c, root, "specversion", true, false, 16, &s);
	if (r < 0)
		return r;
	if (strcmp(s, PROTO_SPECVERSION) != 0)
		return pctx_fail(c, -EPROTONOSUPPORT, "specversion", "unsupported \"%s\" (want \"%s\")", s,
				 PROTO_SPECVERSION);
	r = check_token(c, root, "id", true, c->lim->max_id_bytes, &s);
	if (r < 0)
		return r;
	if (ev)
		ev->id = xstrdup(s);
	r = check_token(c, root, "source", true, c->lim->max_source_bytes, &s);
	if (r < 0)
		return r;
	if (ev)
		ev->source = xstrdup(s);
	r = p_string(c, root, "type", true, false, c->lim->max_source_bytes, &type);
	if (r < 0)
		return r;
	kind = proto_event_kind_from_type(type);
	k = kind_info(kind);
	if (!k)
		return pctx_fail(c, -ENOTSUP, "type", "unknown event type \"%s\"", type);
	if (ev) {
		ev->kind = kind;
		ev->type = xstrdup(type);
	}
	r = p_string(c, root, "datacontenttype", false, false, 256, &s);
	if (r < 0)
		return r;
	if (s && strcmp(s, PROTO_DATACONTENTTYPE) != 0)
		return pctx_fail(c, -EINVAL, "datacontenttype", "must be \"%s\", not \"%s\"",
				 PROTO_DATACONTENTTYPE, s);
	if (p_get(root, "data_base64"))
		return pctx_fail(c, -EINVAL, "data_base64", "not supported: data must be JSON");
	r = p_time(c, root, "time", false, ev ? &ev->has_time : NULL, ev ? &ev->time_us : NULL);
	if (r < 0)
		return r;
	for (int i = 0; i < EXT__COUNT; i++) {
		bool present;

		if (k->ext[i] == U_IGNORED)
			continue;
		r = check_ext(c, root, (enum ext_id)i, ev, &present);
		if (r < 0)
			return r;
		if (!present && k->ext[i] == U_REQUIRED)
			return pctx_fail(c, -EINVAL, ext_names[i], "required by %s", type);
		if (i == EXT_DELETIONTIMESTAMP)
			deleting = present;
	}
	data = p_get(root, "data");
	if (k->data == D_NONE)
		return 0;
	if (!data) {
		if (k->data == D_REQUIRED || (k->data == D_UNLESS_DELETING && !deleting))
			return pctx_fail(c, -EINVAL, "data", "required by %s", type);
		return 0;
	}
	{
		size_t mark = pctx_key(c, "data");

		r = k->check(c, data);
		pctx_pop(c, mark);
	}
	if (r < 0)
		return r;
	if (ev)
		ev->data = json_incref(data);
	return 0;
}

int proto_event_from_json(const json_t *root, const struct proto_limits *lim, struct errbuf *err,
			  struct proto_event **ret_ev)
{
	struct proto_event *ev = xnew(struct proto_event);
	struct pctx c;
	int r;

	pctx_init(&c, lim, err);
	r = event_check(&c, root, ev);
	if (r < 0) {
		proto_event_free(ev);
		return r;
	}
	*ret_ev = ev;
	return 0;
}

int proto_event_decode(const char *buf, size_t len, const struct proto_limits *lim, struct errbuf *err,
		       struct proto_event **ret_ev)
{
	const struct proto_limits *l = proto_lim(lim);
	json_error_t jerr;
	json_t *root;
	int r;

	if (len > l->max_event_bytes)
		return errbuf_set(err, -EMSGSIZE, "event: %zu bytes exceeds the limit of %zu", len,
				  l->max_event_bytes);
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return errbuf_set(err, -EBADMSG, "event: invalid JSON at line %d column %d: %s", jerr.line,
				  jerr.column, jerr.text);
	r = proto_event_from_json(root, l, err, ret_ev);
	json_decref(root);
	return r;
}

static void set_time(json_t *o, const char *key, int64_t us)
{
	char buf[TIMEFMT_MAX];

	json_object_set_new(o, key, json_string(time_format_micro(us, buf)));
}

static void set_string(json_t *o, const char *key, const char *s)
{
	if (s)
		json_object_set_new(o, key, json_string(s));
}

json_t *proto_event_to_json(const struct proto_event *ev)
{
	json_t *o = json_object();
	char num[24];

	json_object_set_new(o, "specversion", json_string(PROTO_SPECVERSION));
	set_string(o, "id", ev->id);
	set_string(o, "source", ev->source);
	set_string(o, "type", ev->type ? ev->type : proto_event_kind_type(ev->kind));
	if (ev->has_time)
		set_time(o, "time", ev->time_us);
	set_string(o, "clustername", ev->clustername);
	set_string(o, "resourceid", ev->resourceid);
	if (ev->has_resourceversion)
		json_object_set_new(o, "resourceversion", json_integer(ev->resourceversion));
	if (ev->sequenceid) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)ev->sequenceid);
		json_object_set_new(o, "sequenceid", json_string(num));
	}
	set_string(o, "statushash", ev->statushash);
	if (ev->has_deletiontimestamp)
		set_time(o, "deletiontimestamp", ev->deletiontimestamp_us);
	set_string(o, "originalsource", ev->originalsource);
	if (ev->metadata) {
		char *text = json_dumps(ev->metadata, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

		/* An unserialisable metadata becomes a non-object, which the check refuses. */
		json_object_set_new(o, "metadata", json_string(text ? text : ""));
		free(text);
	}
	if (ev->data) {
		json_object_set_new(o, "datacontenttype", json_string(PROTO_DATACONTENTTYPE));
		json_object_set(o, "data", ev->data);
	}
	return o;
}

/* Refuse fields the kind does not use: they would be dropped by the peer. */
static int check_unused(struct pctx *c, const struct proto_event *ev, const struct kind_info *k)
{
	const bool set[EXT__COUNT] = {
		[EXT_CLUSTERNAME] = ev->clustername != NULL,
		[EXT_RESOURCEID] = ev->resourceid != NULL,
		[EXT_RESOURCEVERSION] = ev->has_resourceversion,
		[EXT_SEQUENCEID] = ev->sequenceid != 0,
		[EXT_STATUSHASH] = ev->statushash != NULL,
		[EXT_DELETIONTIMESTAMP] = ev->has_deletiontimestamp,
		[EXT_ORIGINALSOURCE] = ev->originalsource != NULL,
		[EXT_METADATA] = ev->metadata != NULL,
	};

	for (int i = 0; i < EXT__COUNT; i++)
		if (set[i] && k->ext[i] == U_IGNORED)
			return pctx_fail(c, -EINVAL, ext_names[i], "not used by %s", k->type);
	if (ev->data && k->data == D_NONE)
		return pctx_fail(c, -EINVAL, "data", "not used by %s", k->type);
	return 0;
}

int proto_event_encode_limits(const struct proto_event *ev, const struct proto_limits *lim,
			      struct errbuf *err, char **ret_json, size_t *ret_len)
{
	const struct kind_info *k = kind_info(ev->kind);
	struct pctx c;
	json_t *root = NULL;
	char *text = NULL;
	size_t len;
	int r;

	pctx_init(&c, lim, err);
	if (!k)
		return pctx_fail(&c, -EINVAL, "type", "unknown event kind %d", (int)ev->kind);
	if (ev->type && strcmp(ev->type, k->type) != 0)
		return pctx_fail(&c, -EINVAL, "type", "\"%s\" does not match the event kind (%s)", ev->type,
				 k->type);
	r = check_unused(&c, ev, k);
	if (r < 0)
		return r;
	root = proto_event_to_json(ev);
	r = event_check(&c, root, NULL);
	if (r < 0)
		goto out;
	text = json_dumps(root, JSON_COMPACT);
	if (!text) {
		r = pctx_fail(&c, -EINVAL, NULL, "cannot be serialised (invalid UTF-8 in a string?)");
		goto out;
	}
	len = strlen(text);
	if (len > c.lim->max_event_bytes) {
		r = errbuf_set(err, -EMSGSIZE, "event: %zu bytes exceeds the limit of %zu", len,
			       c.lim->max_event_bytes);
		goto out;
	}
	*ret_json = text;
	*ret_len = len;
	text = NULL;
	r = 0;
out:
	free(text);
	json_decref(root);
	return r;
}

int proto_event_encode(const struct proto_event *ev, struct errbuf *err, char **ret_json,
		       size_t *ret_len)
{
	return proto_event_encode_limits(ev, NULL, err, ret_json, ret_len);
}

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool json_eq(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return a == b;
	return json_equal(a, b);
}

bool proto_event_equal(const struct proto_event *a, const struct proto_event *b)
{
	return a->kind == b->kind && str_eq(a->type, b->type) && str_eq(a->id, b->id) &&
	       str_eq(a->source, b->source) && a->has_time == b->has_time &&
	       (!a->has_time || a->time_us == b->time_us) && str_eq(a->clustername, b->clustername) &&
	       str_eq(a->resourceid, b->resourceid) &&
	       a->has_resourceversion == b->has_resourceversion &&
	       (!a->has_resourceversion || a->resourceversion == b->resourceversion) &&
	       a->sequenceid == b->sequenceid && str_eq(a->statushash, b->statushash) &&
	       a->has_deletiontimestamp == b->has_deletiontimestamp &&
	       (!a->has_deletiontimestamp || a->deletiontimestamp_us == b->deletiontimestamp_us) &&
	       str_eq(a->originalsource, b->originalsource) && json_eq(a->metadata, b->metadata) &&
	       json_eq(a->data, b->data);
}
