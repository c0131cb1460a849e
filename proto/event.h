/* event.h - one hub<->klusterlet event: the CloudEvents 1.0 envelope.
 *
 * Every message on the agent websocket (subprotocol "cloudevents.json") is one
 * CloudEvents 1.0 event in the structured JSON format, one event per websocket
 * text message. The envelope carries the CloudEvents attributes, OCM's
 * extensions and a JSON payload in "data". docs/protocol.md is the normative
 * description; this header is its C form.
 *
 * ATTRIBUTE          JSON TYPE        LIMIT             DESCRIPTION
 * specversion        string           "1.0"             other values: -EPROTONOSUPPORT
 * id                 string           1..128 printable  unique per sender; errors and CSR answers cite it
 * source             string           1..256 printable  "nave-hub", "nave-klusterlet/<cluster>"
 * type               string           known types       see enum proto_event_kind; unknown: -ENOTSUP
 * datacontenttype    string           application/json  optional; written when data is present
 * time               string           RFC 3339          optional on decode; constructors set it
 * data               JSON value       per type          the payload; data_base64 is refused
 * clustername        string           DNS-1123 label    the spoke cluster's name
 * resourceid         string           UUID, lowercase   the ManifestWork's metadata.uid
 * resourceversion    integer|string   0..2^63-1         the ManifestWork's metadata.generation
 * sequenceid         string|integer   1..2^64-1         orders one agent's status updates; written as string
 * statushash         string           64 lowercase hex  SHA-256 of the canonical status JSON (status.h)
 * deletiontimestamp  string           RFC 3339          the work is being deleted (spec) / is gone (status)
 * originalsource     string           1..256 printable  the original producer, when relayed
 * metadata           string           JSON object text  the work's ObjectMeta, <= 64 KiB
 *
 * Which extensions an event type requires, allows or ignores is a table in
 * event.c and in docs/protocol.md. JSON null is treated as absent, as the
 * CloudEvents JSON format says. Unknown attributes are ignored. Extensions not
 * used by an event type are ignored on decode and refused by encode.
 *
 * Error codes (decode and encode; callers branch on these, never on text):
 *   -EMSGSIZE         the event is larger than max_event_bytes
 *   -EBADMSG          not JSON, or a duplicated key
 *   -EPROTONOSUPPORT  specversion is not "1.0"
 *   -ENOTSUP          the type is not one this release knows (answer with an
 *                     error event, proto_error_reply(); keep the connection)
 *   -EINVAL           a required attribute or field is missing, has the wrong
 *                     JSON type, a bad format or an unknown enum value
 *   -E2BIG            a limit of struct proto_limits is exceeded
 * The errbuf message always starts with the field path: "data.manifests[3].kind: required".
 */
#ifndef NAVE_PROTO_EVENT_H
#define NAVE_PROTO_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "errbuf.h"
#include "proto_limits.h"

/* OCM's names: the CloudEvents data type prefix of ManifestWork events. */
#define PROTO_MANIFESTBUNDLES "io.open-cluster-management.works.v1alpha1.manifestbundles"
#define PROTO_TYPE_SPEC_CREATE PROTO_MANIFESTBUNDLES ".spec.create_request"
#define PROTO_TYPE_SPEC_UPDATE PROTO_MANIFESTBUNDLES ".spec.update_request"
#define PROTO_TYPE_SPEC_DELETE PROTO_MANIFESTBUNDLES ".spec.delete_request"
#define PROTO_TYPE_SPEC_RESYNC_REQUEST PROTO_MANIFESTBUNDLES ".spec.resync_request"
#define PROTO_TYPE_SPEC_RESYNC_RESPONSE PROTO_MANIFESTBUNDLES ".spec.resync_response"
#define PROTO_TYPE_STATUS_UPDATE PROTO_MANIFESTBUNDLES ".status.update_request"
#define PROTO_TYPE_STATUS_RESYNC_REQUEST PROTO_MANIFESTBUNDLES ".status.resync_request"
#define PROTO_TYPE_STATUS_RESYNC_RESPONSE PROTO_MANIFESTBUNDLES ".status.resync_response"
#define PROTO_TYPE_HEARTBEAT "io.open-cluster-management.cloudevents.heartbeat"
/* Nave's own types all start with "io.nave.". */
#define PROTO_TYPE_STATUS_ACK "io.nave.works.v1.manifestbundles.status.ack"
#define PROTO_TYPE_HELLO "io.nave.stream.v1.hello"
#define PROTO_TYPE_ERROR "io.nave.stream.v1.error"
#define PROTO_TYPE_LEASE_UPDATE "io.nave.clusters.v1.leases.update_request"
#define PROTO_TYPE_CERT_RENEW_REQUEST "io.nave.clusters.v1.certificates.renew_request"
#define PROTO_TYPE_CERT_RENEW_RESPONSE "io.nave.clusters.v1.certificates.renew_response"

/* The hub's websocket endpoint for agents (wss://HUB:PORT/agent/v1/stream). */
#define PROTO_WS_PATH "/agent/v1/stream"
/* The websocket subprotocol of the CloudEvents WebSocket binding (JSON format). */
#define PROTO_WS_SUBPROTOCOL "cloudevents.json"
#define PROTO_SPECVERSION "1.0"
#define PROTO_DATACONTENTTYPE "application/json"

#define PROTO_UUID_LEN 36
#define PROTO_STATUSHASH_LEN 64

enum proto_event_kind {
	PROTO_EV_INVALID = 0,         /* never the kind of a decoded event */
	PROTO_EV_SPEC_CREATE,         /* hub -> agent: a new work (ManifestBundle) */
	PROTO_EV_SPEC_UPDATE,         /* hub -> agent: a new generation of a work */
	PROTO_EV_SPEC_DELETE,         /* hub -> agent: the work is deleted (deletiontimestamp) */
	PROTO_EV_SPEC_RESYNC_REQUEST, /* agent -> hub: {"resourceVersions":[...]} */
	PROTO_EV_SPEC_RESYNC_RESPONSE,/* hub -> agent: one work (or a delete) answering a resync */
	PROTO_EV_STATUS_UPDATE,       /* agent -> hub: ManifestBundleStatus with sequenceid */
	PROTO_EV_STATUS_RESYNC_REQUEST,/* hub -> agent: {"statusHashes":[...]} */
	PROTO_EV_STATUS_RESYNC_RESPONSE,/* agent -> hub: a status that differed, as an update */
	PROTO_EV_STATUS_ACK,          /* hub -> agent: status sequenceid persisted */
	PROTO_EV_HEARTBEAT,           /* both ways, every heartbeat interval */
	PROTO_EV_HELLO,               /* both ways, first event: protocol version */
	PROTO_EV_ERROR,               /* both ways: an event was refused */
	PROTO_EV_LEASE_UPDATE,        /* agent -> hub: cluster lease renewal, claims */
	PROTO_EV_CERT_RENEW_REQUEST,  /* agent -> hub: CSR PEM */
	PROTO_EV_CERT_RENEW_RESPONSE, /* hub -> agent: certificate PEM chain */
	PROTO_EV__COUNT
};

/* Who may send an event kind (a bit set). */
enum proto_peer {
	PROTO_PEER_HUB = 1,
	PROTO_PEER_AGENT = 2,
};

/* One event. The struct is public: constructors fill it, callers may set
 * fields before encoding. Every pointer field is owned by the event and
 * released by proto_event_free(); NULL (or has_* false, or 0 for sequenceid)
 * means absent. Strings are NUL-terminated UTF-8. */
struct proto_event {
	enum proto_event_kind kind;
	char *type;             /* owned; the wire type string, consistent with kind */
	char *id;               /* owned */
	char *source;           /* owned */
	bool has_time;
	int64_t time_us;        /* microseconds since the epoch */
	char *clustername;      /* owned or NULL */
	char *resourceid;       /* owned or NULL; lowercase UUID */
	bool has_resourceversion;
	int64_t resourceversion;/* the work's generation, >= 0 */
	uint64_t sequenceid;    /* 0 = absent; else >= 1 */
	char *statushash;       /* owned or NULL; 64 lowercase hex digits */
	bool has_deletiontimestamp;
	int64_t deletiontimestamp_us;
	char *originalsource;   /* owned or NULL */
	json_t *metadata;       /* owned reference or NULL; a JSON object */
	json_t *data;           /* owned reference or NULL; the payload */
};

/* The wire type string of a kind ("" for PROTO_EV_INVALID). Static storage. */
const char *proto_event_kind_type(enum proto_event_kind kind);
/* The kind of a wire type string; PROTO_EV_INVALID when unknown. */
enum proto_event_kind proto_event_kind_from_type(const char *type);
/* Which peers may send kind: a mask of enum proto_peer. A receiver answers an
 * event from the wrong side with an error event (code "Forbidden"). */
unsigned proto_event_kind_senders(enum proto_event_kind kind);
/* The protocol minor version (of major PROTO_VERSION_MAJOR) that introduced
 * kind. A sender must not send a kind newer than the negotiated minor. */
unsigned proto_event_kind_since_minor(enum proto_event_kind kind);

/* A new event of kind from source, with a fresh random id (a UUID) and the
 * current time; type set from kind; everything else absent. Never NULL.
 * Caller frees with proto_event_free(). The constructors of spec.h, status.h,
 * resync.h, cluster.h and control.h build each kind with its fields. */
struct proto_event *proto_event_new(enum proto_event_kind kind, const char *source);

/* Free ev and everything it owns. Accepts NULL; returns NULL. */
struct proto_event *proto_event_free(struct proto_event *ev);

/* Set the payload: takes a new reference to data (data may be shared by many
 * events without copying, e.g. one work sent to many connections). Any previous
 * payload is released. data may be NULL. */
void proto_event_set_data(struct proto_event *ev, json_t *data);

/* Decode one event from buf[0..len) (not necessarily NUL-terminated) and
 * validate every attribute, extension and payload field for its type against
 * lim (NULL: proto_limits_default). On success *ret_ev is a new event the
 * caller frees with proto_event_free(). Returns 0 or a negative code of the
 * table above, with err (may be NULL) naming the field. */
int proto_event_decode(const char *buf, size_t len, const struct proto_limits *lim,
		       struct errbuf *err, struct proto_event **ret_ev);

/* Validate a parsed JSON event (as decode does after parsing); the same checks
 * and codes, without the size check on the wire. On success *ret_ev is a new
 * event (caller frees); it holds new references into root's payload. */
int proto_event_from_json(const json_t *root, const struct proto_limits *lim,
			  struct errbuf *err, struct proto_event **ret_ev);

/* Encode ev as compact JSON text. ev is checked with exactly the rules of
 * proto_event_decode() with the default limits (same codes and messages), and
 * the text against max_event_bytes, so the output is always something decode
 * accepts. On success *ret_json is a NUL-terminated string the caller frees
 * with free(), *ret_len its length (not counting the NUL). Returns 0 or a
 * negative code; nothing is set on failure. */
int proto_event_encode(const struct proto_event *ev, struct errbuf *err, char **ret_json,
		       size_t *ret_len);
/* The same with the limits lim (NULL: the defaults): a peer decoding with
 * smaller limits may refuse the result. */
int proto_event_encode_limits(const struct proto_event *ev, const struct proto_limits *lim,
			      struct errbuf *err, char **ret_json, size_t *ret_len);

/* The JSON object ev encodes to, without validation. Caller json_decref()s. */
json_t *proto_event_to_json(const struct proto_event *ev);

/* Whether a and b carry the same event: every attribute and extension equal,
 * metadata and data equal as JSON. */
bool proto_event_equal(const struct proto_event *a, const struct proto_event *b);

#endif
