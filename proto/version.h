/* version.h - the protocol version hub and agent negotiate.
 *
 * Each side's first event on a connection is a hello (control.h) carrying
 * "protocolVersion": "MAJOR.MINOR". Hub and agent interoperate when the
 * majors match; they then both speak the lower of the two minors: a sender
 * never sends an event kind or payload field introduced after the negotiated
 * minor, and a receiver ignores payload members and extensions it does not
 * know. A major mismatch is answered with an error event (code
 * "UnsupportedVersion", fatal) and the connection is closed.
 *
 * History:
 *   1.0  the first release: every event of docs/protocol.md.
 */
#ifndef NAVE_PROTO_VERSION_H
#define NAVE_PROTO_VERSION_H

/* Protocol major version: bumped only on incompatible changes. Hub and agent
 * interoperate when majors match; minors add optional fields and event types. */
#define PROTO_VERSION_MAJOR 1
#define PROTO_VERSION_MINOR 0

/* The largest major or minor number accepted in a version string. */
#define PROTO_VERSION_PART_MAX 65535u

/* "1.0" */
const char *proto_version_string(void);

/* Parse "MAJOR.MINOR" (decimal, no sign, no leading zeros, each at most
 * PROTO_VERSION_PART_MAX). Returns 0 or -EINVAL; outputs set only on success. */
int proto_version_parse(const char *s, unsigned *ret_major, unsigned *ret_minor);

/* Negotiate with a peer speaking peer_major.peer_minor: -EPROTONOSUPPORT when
 * the majors differ, else 0 with *ret_minor the minor both sides speak
 * (the lower of the two). */
int proto_version_negotiate(unsigned peer_major, unsigned peer_minor, unsigned *ret_minor);

#endif
