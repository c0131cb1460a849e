/* version.h - the protocol version hub and agent negotiate. */
#ifndef NAVE_PROTO_VERSION_H
#define NAVE_PROTO_VERSION_H

/* Protocol major version: bumped only on incompatible changes. Hub and agent
 * interoperate when majors match; minors add optional fields and event types. */
#define PROTO_VERSION_MAJOR 1
#define PROTO_VERSION_MINOR 0

/* "1.0" */
const char *proto_version_string(void);

#endif
