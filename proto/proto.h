/* proto.h - the whole wire contract in one include, for the daemons.
 *
 * event.h    the envelope, decode/encode, the kinds
 * limits.h   the caps
 * version.h  the protocol version and its negotiation
 * spec.h     work events (ManifestBundle)
 * status.h   status events, the status hash, acknowledgements
 * resync.h   spec and status resync requests
 * cluster.h  lease renewal, certificate renewal
 * control.h  hello, heartbeat, error events and codes
 */
#ifndef NAVE_PROTO_H
#define NAVE_PROTO_H

#include "cluster.h"
#include "control.h"
#include "event.h"
#include "proto_limits.h"
#include "resync.h"
#include "spec.h"
#include "status.h"
#include "version.h"

#endif
