/* control.h - connection control events: hello, heartbeat, error.
 *
 * Hello, both ways, the first event each side sends on a connection, data:
 * FIELD             TYPE     LIMIT              DESCRIPTION
 * protocolVersion   string   "MAJOR.MINOR"      required; see version.h for the negotiation
 * software          string   1..max_source_bytes  optional; "nave-klusterlet 0.1.0"
 * heartbeatSeconds  integer  1..300             optional; the hub's value is the interval both use
 *
 * Heartbeat, both ways: no data.
 *
 * Error, both ways, data:
 * code              string   [A-Za-z][A-Za-z0-9]{0,63}  required; one of the PROTO_ERR_* names
 *                                                        (an unknown code reads as "Internal")
 * message           string   1..max_message_bytes       required; names the field at fault
 * eventID           string   1..max_id_bytes            optional; the id of the event refused
 * eventType         string   1..max_source_bytes        optional; its type, as received
 * fatal             boolean                             optional (false); the sender closes the
 *                                                        connection after sending it
 */
#ifndef NAVE_PROTO_CONTROL_H
#define NAVE_PROTO_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errbuf.h"
#include "event.h"
#include "proto_limits.h"

#define PROTO_HEARTBEAT_SECONDS_DEFAULT 10
#define PROTO_HEARTBEAT_SECONDS_MAX 300
#define PROTO_ERROR_CODE_MAX 64

/* Wire error codes and the negative errno each stands for (decode's codes
 * map onto them; see proto_error_code_name()). */
#define PROTO_ERR_MALFORMED "MalformedEvent"          /* -EINVAL, -EBADMSG */
#define PROTO_ERR_TOO_LARGE "TooLarge"                /* -E2BIG, -EMSGSIZE */
#define PROTO_ERR_UNSUPPORTED_VERSION "UnsupportedVersion" /* -EPROTONOSUPPORT */
#define PROTO_ERR_UNKNOWN_TYPE "UnknownEventType"     /* -ENOTSUP */
#define PROTO_ERR_PROTOCOL "ProtocolViolation"        /* -EPROTO: out of order, e.g. no hello first */
#define PROTO_ERR_FORBIDDEN "Forbidden"               /* -EPERM, -EACCES: wrong sender or cluster */
#define PROTO_ERR_NOT_FOUND "NotFound"                /* -ENOENT */
#define PROTO_ERR_OVERLOADED "Overloaded"             /* -EAGAIN, -EBUSY, -ENOBUFS: retry later */
#define PROTO_ERR_INTERNAL "Internal"                 /* anything else (-EIO) */

/* The wire code of a negative errno (static storage). */
const char *proto_error_code_name(int err);
/* The negative errno of a wire code; -EIO for codes this release does not know. */
int proto_error_code_errno(const char *code);

/* A hello announcing this build's protocol version. clustername may be NULL
 * (the hub may leave it out; the agent sets it); software may be NULL;
 * heartbeat_seconds 0 leaves it out. Never NULL; caller frees with
 * proto_event_free(). */
struct proto_event *proto_event_new_hello(const char *source, const char *clustername,
					  const char *software, unsigned heartbeat_seconds);

/* The peer's version from a decoded hello. Returns 0 or -EINVAL. */
int proto_hello_version(const struct proto_event *ev, unsigned *ret_major, unsigned *ret_minor);

/* A heartbeat (clustername may be NULL). Never NULL; caller frees. */
struct proto_event *proto_event_new_heartbeat(const char *source, const char *clustername);

/* An error event: err a negative errno (mapped by proto_error_code_name()),
 * message the human text (invalid UTF-8 replaced by '?', cut to fit),
 * event_id and event_type the refused event's (each may be NULL), fatal
 * whether the sender will close the connection. Never NULL; caller frees. */
struct proto_event *proto_event_new_error(const char *source, const char *clustername, int err,
					  const char *message, const char *event_id,
					  const char *event_type, bool fatal);

/* The error event answering an event that failed to decode with code err and
 * message msg: the id and type are read back from buf[0..len) when it is JSON
 * of acceptable size and they are well-formed, and left out otherwise. fatal
 * is true only for -EPROTONOSUPPORT (everything else, including unknown
 * types, leaves the connection up). Never NULL; caller frees. */
struct proto_event *proto_error_reply(const char *buf, size_t len, const struct proto_limits *lim,
				      int err, const char *msg, const char *source,
				      const char *clustername);

#endif
